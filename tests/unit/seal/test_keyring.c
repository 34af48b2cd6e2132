/*
 * The key ring: rotation keeps old keys, wrapping under the master key
 * round-trips, and a wrong master key, an altered ring or a malformed
 * ring are each refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "seal/keyring.h"

static void test_init_add_find(void **state)
{
	struct seal_ring r;
	struct seal_key first;
	uint8_t id0[SEAL_KEY_ID_LEN];

	assert_int_equal(seal_key_generate(SEAL_KEY_DATA, &first), 0);
	assert_int_equal(seal_ring_init(&r, &first, 1000), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.gen, 1);
	assert_memory_equal(seal_ring_current(&r)->key, first.key,
			    SEAL_KEY_LEN);
	memcpy(id0, first.id, sizeof(id0));

	assert_int_equal(seal_ring_add(&r, 2000), 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.gen, 2);
	assert_memory_not_equal(seal_ring_current(&r)->id, id0,
				SEAL_KEY_ID_LEN);
	/* The old key is still there to open old values. */
	const struct seal_ring_key *old = seal_ring_find(&r, id0);
	assert_non_null(old);
	assert_int_equal(old->state, SEAL_RING_OLD);
	assert_memory_equal(old->k.key, first.key, SEAL_KEY_LEN);
	assert_int_equal(r.keys[r.current].state, SEAL_RING_CURRENT);

	while (r.n < SEAL_RING_MAX)
		assert_int_equal(seal_ring_add(&r, 3000), 0);
	assert_int_equal(seal_ring_add(&r, 3000), AL_E_LIMIT);
	seal_ring_wipe(&r);
	seal_key_wipe(&first);
}

static void test_wrap_unwrap(void **state)
{
	struct seal_ring r, back;
	struct seal_key master, other;
	struct al_buf w = { 0 };
	int wrong = 0;

	assert_int_equal(seal_key_generate(SEAL_KEY_MASTER, &master), 0);
	assert_int_equal(seal_key_generate(SEAL_KEY_MASTER, &other), 0);
	assert_int_equal(seal_ring_init(&r, NULL, 5), 0);
	assert_int_equal(seal_ring_add(&r, 6), 0);
	assert_int_equal(seal_ring_wrap(&r, &master, &w), 0);
	/* No key byte of the ring appears in the wrapped form. */
	assert_null(memmem(w.p, w.len, r.keys[0].k.key, 8));
	assert_null(memmem(w.p, w.len, r.index_key, 8));

	assert_int_equal(seal_ring_unwrap(&master, w.p, w.len, &back, &wrong),
			 0);
	assert_int_equal(wrong, 0);
	assert_int_equal(back.n, 2);
	assert_int_equal(back.gen, r.gen);
	assert_int_equal(back.current, 1);
	assert_memory_equal(back.index_key, r.index_key, SEAL_KEY_LEN);
	assert_memory_equal(back.keys[0].k.key, r.keys[0].k.key, SEAL_KEY_LEN);
	assert_int_equal(back.keys[1].created_ms, 6);

	/* The wrong master key is told apart from an altered ring. */
	assert_int_equal(seal_ring_unwrap(&other, w.p, w.len, &back, &wrong),
			 AL_E_AUTH);
	assert_int_equal(wrong, 1);
	assert_int_equal(back.n, 0);
	w.p[w.len / 2] ^= 1;
	assert_int_equal(seal_ring_unwrap(&master, w.p, w.len, &back, &wrong),
			 AL_E_AUTH);
	assert_int_equal(wrong, 0);

	/* Same id, other key bytes (a forged master file): the tag fails. */
	w.p[w.len / 2] ^= 1;
	other = master;
	other.key[0] ^= 1;
	assert_int_equal(seal_ring_unwrap(&other, w.p, w.len, &back, &wrong),
			 AL_E_AUTH);
	assert_int_equal(wrong, 0);

	seal_ring_wipe(&r);
	seal_key_wipe(&master);
	seal_key_wipe(&other);
	al_buf_free(&w);
}

/* A ring sealed properly but with a key whose id does not match. */
static void test_malformed_ring(void **state)
{
	struct seal_ring r, back;
	struct seal_key master;
	struct al_buf w = { 0 };
	int wrong;

	assert_int_equal(seal_key_generate(SEAL_KEY_MASTER, &master), 0);
	assert_int_equal(seal_ring_init(&r, NULL, 5), 0);
	r.keys[0].k.id[0] ^= 1;
	assert_int_equal(seal_ring_wrap(&r, &master, &w), 0);
	assert_int_equal(seal_ring_unwrap(&master, w.p, w.len, &back, &wrong),
			 AL_E_PARSE);

	/* Two current keys. */
	r.keys[0].k.id[0] ^= 1;
	assert_int_equal(seal_ring_add(&r, 6), 0);
	r.keys[0].state = SEAL_RING_CURRENT;
	assert_int_equal(seal_ring_wrap(&r, &master, &w), 0);
	assert_int_equal(seal_ring_unwrap(&master, w.p, w.len, &back, &wrong),
			 AL_E_PARSE);
	seal_ring_wipe(&r);
	seal_key_wipe(&master);
	al_buf_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_add_find),
		cmocka_unit_test(test_wrap_unwrap),
		cmocka_unit_test(test_malformed_ring),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
