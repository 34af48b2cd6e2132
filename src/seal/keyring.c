/*
 * keyring.c - the data key ring: create, rotate, wrap under the master.
 */
#include "seal/keyring.h"

#include <errno.h>
#include <string.h>

#include "base/err.h"

#define RING_MAGIC "ALKR"
#define RING_FORMAT 0x01
#define RING_HEAD (4 + 1 + 8 + SEAL_KEY_LEN + 1)
#define RING_ENTRY (SEAL_KEY_ID_LEN + SEAL_KEY_LEN + 8 + 1)
#define RING_DB "meta"
#define RING_RKEY "keyring"

static void ring_put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t ring_get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

void seal_ring_wipe(struct seal_ring *r)
{
	if (r)
		explicit_bzero(r, sizeof(*r));
}

int seal_ring_init(struct seal_ring *r, const struct seal_key *first,
		   uint64_t now_ms)
{
	int rc;

	memset(r, 0, sizeof(*r));
	r->gen = 1;
	r->n = 1;
	r->current = 0;
	r->keys[0].created_ms = now_ms;
	r->keys[0].state = SEAL_RING_CURRENT;
	if (first)
		r->keys[0].k = *first;
	rc = first ? 0 : seal_key_generate(SEAL_KEY_DATA, &r->keys[0].k);
	if (rc == 0)
		rc = al_random(r->index_key, sizeof(r->index_key));
	if (rc)
		seal_ring_wipe(r);
	return rc;
}

int seal_ring_add(struct seal_ring *r, uint64_t now_ms)
{
	struct seal_ring_key *nk;
	int rc;

	if (r->n >= SEAL_RING_MAX)
		return AL_E_LIMIT;
	nk = &r->keys[r->n];
	rc = seal_key_generate(SEAL_KEY_DATA, &nk->k);
	if (rc)
		return rc;
	/* A fresh random key colliding with an old id is 2^-64; refuse it. */
	if (seal_ring_find(r, nk->k.id)) {
		seal_key_wipe(&nk->k);
		return AL_E_CRYPTO;
	}
	nk->created_ms = now_ms;
	nk->state = SEAL_RING_CURRENT;
	r->keys[r->current].state = SEAL_RING_OLD;
	r->current = r->n++;
	r->gen++;
	return 0;
}

const struct seal_key *seal_ring_current(const struct seal_ring *r)
{
	return &r->keys[r->current].k;
}

const struct seal_ring_key *seal_ring_find(const struct seal_ring *r,
					   const uint8_t id[SEAL_KEY_ID_LEN])
{
	for (size_t i = 0; i < r->n; i++)
		if (memcmp(r->keys[i].k.id, id, SEAL_KEY_ID_LEN) == 0)
			return &r->keys[i];
	return NULL;
}

int seal_ring_wrap(const struct seal_ring *r, const struct seal_key *master,
		   struct al_buf *out)
{
	uint8_t buf[RING_HEAD + SEAL_RING_MAX * RING_ENTRY];
	uint8_t *p = buf;
	int rc;

	memcpy(p, RING_MAGIC, 4);
	p[4] = RING_FORMAT;
	ring_put64(p + 5, r->gen);
	memcpy(p + 13, r->index_key, SEAL_KEY_LEN);
	p[13 + SEAL_KEY_LEN] = (uint8_t)r->n;
	p += RING_HEAD;
	for (size_t i = 0; i < r->n; i++, p += RING_ENTRY) {
		memcpy(p, r->keys[i].k.id, SEAL_KEY_ID_LEN);
		memcpy(p + 8, r->keys[i].k.key, SEAL_KEY_LEN);
		ring_put64(p + 8 + SEAL_KEY_LEN, r->keys[i].created_ms);
		p[16 + SEAL_KEY_LEN] = r->keys[i].state;
	}
	rc = seal_value(master, RING_DB, RING_RKEY, strlen(RING_RKEY), r->gen,
			buf, (size_t)(p - buf), out);
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

/* Check and take the plaintext of a ring. */
static int ring_parse(const uint8_t *p, size_t len, uint64_t sealed_gen,
		      struct seal_ring *r)
{
	size_t ncur = 0;
	struct seal_key check;

	if (len < RING_HEAD || memcmp(p, RING_MAGIC, 4) != 0 ||
	    p[4] != RING_FORMAT)
		return AL_E_PARSE;
	r->gen = ring_get64(p + 5);
	memcpy(r->index_key, p + 13, SEAL_KEY_LEN);
	r->n = p[13 + SEAL_KEY_LEN];
	if (r->gen != sealed_gen || r->n == 0 || r->n > SEAL_RING_MAX ||
	    len != RING_HEAD + r->n * RING_ENTRY)
		return AL_E_PARSE;
	p += RING_HEAD;
	for (size_t i = 0; i < r->n; i++, p += RING_ENTRY) {
		struct seal_ring_key *k = &r->keys[i];
		int rc = seal_key_from_bytes(SEAL_KEY_DATA, p + 8, &check);
		if (rc)
			return rc;
		k->k = check;
		seal_key_wipe(&check);
		if (memcmp(k->k.id, p, SEAL_KEY_ID_LEN) != 0)
			return AL_E_PARSE;
		k->created_ms = ring_get64(p + 8 + SEAL_KEY_LEN);
		k->state = p[16 + SEAL_KEY_LEN];
		if (k->state == SEAL_RING_CURRENT) {
			r->current = i;
			ncur++;
		} else if (k->state != SEAL_RING_OLD) {
			return AL_E_PARSE;
		}
	}
	return ncur == 1 ? 0 : AL_E_PARSE;
}

int seal_ring_unwrap(const struct seal_key *master, const void *sealed,
		     size_t len, struct seal_ring *r, int *wrong_master)
{
	struct al_buf plain = { 0 };
	struct seal_header h;
	uint64_t gen = 0;
	int rc = seal_peek(sealed, len, &h);

	memset(r, 0, sizeof(*r));
	*wrong_master = 0;
	if (rc == 0 && h.format != SEAL_VERSION)
		rc = AL_E_PARSE;
	if (rc)
		goto out;
	if (memcmp(h.id, master->id, SEAL_KEY_ID_LEN) != 0) {
		*wrong_master = 1;
		rc = AL_E_AUTH;
		goto out;
	}
	rc = seal_open(master, RING_DB, RING_RKEY, strlen(RING_RKEY), sealed,
		       len, &plain, &gen);
	if (rc == 0)
		rc = ring_parse((const uint8_t *)plain.p, plain.len, gen, r);
out:
	if (plain.p)
		explicit_bzero(plain.p, plain.cap);
	al_buf_free(&plain);
	if (rc)
		seal_ring_wipe(r);
	return rc;
}
