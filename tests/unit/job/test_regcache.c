/*
 * The registry cache in LMDB: entries round trip sealed (the document
 * never reaches the disk in plaintext), oversized documents are not
 * kept, the cache is emptied when full, and with Verdaccio
 * ($AL_TEST_REGISTRY, started by tests/run) a second fetch revalidates
 * with If-None-Match and is served from the cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/fs.h"
#include "base/util.h"
#include "job/regcache.h"
#include "store/store.h"

#define MARKER "REGCACHE-PLAINTEXT-5d21e0"

struct fix {
	char home[64];
	struct store *st;
	struct npm_registry_cache c;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->home, sizeof(f->home), "/tmp/al-regcache-XXXXXX");
	if (!mkdtemp(f->home) || store_open(f->home, &f->st))
		return -1;
	job_regcache(f->st, &f->c);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	store_close(f->st);
	al_rm_tree(f->home);
	free(f);
	return 0;
}

static int cache_get(struct fix *f, const char *key, char **etag,
		     struct al_buf *body)
{
	*etag = NULL;
	body->len = 0;
	return f->c.get(f->c.ctx, key, etag, body);
}

static size_t cache_count(struct fix *f)
{
	struct store_txn *txn;
	struct store_cursor *cur;
	const void *k;
	size_t kl, n = 0;

	assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
	assert_int_equal(store_cursor_open(txn, STORE_DB_REGCACHE, &cur), 0);
	while (store_cursor_next(cur, &k, &kl, NULL) == 0)
		n++;
	store_cursor_close(cur);
	store_txn_abort(txn);
	return n;
}

static void test_round_trip_sealed(void **state)
{
	struct fix *f = *state;
	const char *doc = "{\"name\":\"x\",\"readme\":\"" MARKER "\"}";
	struct al_buf body = { 0 }, disk = { 0 };
	char path[128], *etag;

	assert_int_equal(cache_get(f, "abbreviated http://r/x", &etag, &body),
			 AL_E_NOTFOUND);
	assert_int_equal(f->c.put(f->c.ctx, "abbreviated http://r/x", "\"e1\"",
				  doc, strlen(doc)), 0);
	assert_int_equal(cache_get(f, "abbreviated http://r/x", &etag, &body),
			 0);
	assert_string_equal(etag, "\"e1\"");
	assert_int_equal(body.len, strlen(doc));
	assert_memory_equal(body.p, doc, body.len);
	free(etag);
	/* Another kind of document is another entry. */
	assert_int_equal(cache_get(f, "full http://r/x", &etag, &body),
			 AL_E_NOTFOUND);

	snprintf(path, sizeof(path), "%s/db/data.mdb", f->home);
	assert_int_equal(al_read_file(path, 64u << 20, &disk), 0);
	assert_null(memmem(disk.p, disk.len, MARKER, strlen(MARKER)));
	al_buf_free(&disk);
	al_buf_free(&body);
}

static void test_bounds(void **state)
{
	struct fix *f = *state;
	size_t big = JOB_REGCACHE_MAX_BODY + 1;
	char *doc = malloc(big + 1), key[64], *etag;
	struct al_buf body = { 0 };

	assert_non_null(doc);
	memset(doc, 'a', big);
	doc[big] = '\0';
	/* Too big to keep: not an error, not kept. */
	assert_int_equal(f->c.put(f->c.ctx, "k", "\"e\"", doc, big), 0);
	assert_int_equal(cache_get(f, "k", &etag, &body), AL_E_NOTFOUND);
	free(doc);

	for (int i = 0; i < JOB_REGCACHE_MAX_ENTRIES; i++) {
		snprintf(key, sizeof(key), "abbreviated http://r/p%d", i);
		assert_int_equal(f->c.put(f->c.ctx, key, "\"e\"", "{}", 2), 0);
	}
	assert_int_equal(cache_count(f), JOB_REGCACHE_MAX_ENTRIES);
	/* Full: the next entry empties it first. */
	assert_int_equal(f->c.put(f->c.ctx, "last", "\"e\"", "{}", 2), 0);
	assert_int_equal(cache_count(f), 1);
	assert_int_equal(cache_get(f, "last", &etag, &body), 0);
	free(etag);
	al_buf_free(&body);
}

static void test_verdaccio_304(void **state)
{
	struct fix *f = *state;
	const char *reg = getenv("AL_TEST_REGISTRY");
	const char *names[] = { "minimist", "chalk" };
	struct npm_packument pk[2];
	struct npm_registry_opts o = { .url = reg, .cache = &f->c };

	if (!reg || !*reg)
		fail_msg("AL_TEST_REGISTRY is not set: tests/run starts "
			 "Verdaccio and sets it");
	for (int round = 0; round < 2; round++) {
		assert_int_equal(npm_registry_fetch(&o, names, 2, pk), 0);
		for (int i = 0; i < 2; i++) {
			if (pk[i].err)
				fail_msg("%s: %s", names[i], pk[i].errmsg);
			assert_true(pk[i].nversions > 5);
			assert_int_equal(pk[i].from_cache, round == 1);
			assert_int_equal(pk[i].http_status,
					 round ? 304 : 200);
		}
		npm_packuments_free(pk, 2);
	}
	assert_int_equal(cache_count(f), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_sealed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verdaccio_304, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
