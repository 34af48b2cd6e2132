/*
 * The store: sealed records round trip and never reach the disk in
 * plaintext, moved or altered records are refused, the layout is
 * checked on open, and threads can share one store.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/fs.h"
#include "seal/seal.h"
#include "store/store.h"

#define MARKER "PLAINTEXT-MARKER-7f3a9c"
#define RAW_MARKER "RAW-CONTROL-MARKER-51be"

struct fix {
	char home[64];
	char path[160];
	struct store *st;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->home, sizeof(f->home), "/tmp/al-store-XXXXXX");
	if (!mkdtemp(f->home))
		return -1;
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

static const char *fpath(struct fix *f, const char *rel)
{
	snprintf(f->path, sizeof(f->path), "%s/%s", f->home, rel);
	return f->path;
}

static void put_obj(struct store *st, enum store_db db, const char *key,
		    const char *field, const char *val)
{
	struct store_txn *txn;
	json_t *v = json_pack("{s:s, s:i}", field, val, "n", 42);

	assert_non_null(v);
	assert_int_equal(store_txn_begin(st, true, &txn), 0);
	assert_int_equal(store_put_json(txn, db, key, strlen(key), v, 0), 0);
	assert_int_equal(store_txn_commit(txn), 0);
	json_decref(v);
}

static int get_obj(struct store *st, enum store_db db, const char *key,
		   json_t **out)
{
	struct store_txn *txn;
	int rc;

	assert_int_equal(store_txn_begin(st, false, &txn), 0);
	rc = store_get_json(txn, db, key, strlen(key), out);
	store_txn_abort(txn);
	return rc;
}

static void test_layout_and_round_trip(void **state)
{
	struct fix *f = *state;
	struct stat st;
	json_t *v;

	/* The home itself may not exist yet. */
	char sub[128];
	snprintf(sub, sizeof(sub), "%s/h", f->home);
	assert_int_equal(store_open(sub, &f->st), 0);
	assert_int_equal(stat(fpath(f, "h/db"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(stat(fpath(f, "h/keys"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(stat(fpath(f, "h/keys/master.key"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(fpath(f, "h/keys/data.key"), &st), -1);
	assert_int_equal(stat(fpath(f, "h/db/data.mdb"), &st), 0);
	assert_int_equal(st.st_mode & 077, 0);

	put_obj(f->st, STORE_DB_JOBS, "job-1", "repo", "acme/widgets");
	assert_int_equal(get_obj(f->st, STORE_DB_JOBS, "job-1", &v), 0);
	assert_string_equal(json_string_value(json_object_get(v, "repo")),
			    "acme/widgets");
	assert_int_equal(json_integer_value(json_object_get(v, "n")), 42);
	json_decref(v);

	assert_int_equal(get_obj(f->st, STORE_DB_JOBS, "job-2", &v),
			 AL_E_NOTFOUND);
	assert_null(v);
	assert_int_equal(get_obj(f->st, STORE_DB_REPOS, "job-1", &v),
			 AL_E_NOTFOUND);

	/* Reopening finds the record with the same key. */
	store_close(f->st);
	assert_int_equal(store_open(sub, &f->st), 0);
	assert_int_equal(get_obj(f->st, STORE_DB_JOBS, "job-1", &v), 0);
	json_decref(v);
}

static void test_no_plaintext_on_disk(void **state)
{
	struct fix *f = *state;
	struct store_txn *txn;
	struct al_buf data = { 0 };

	assert_int_equal(store_open(f->home, &f->st), 0);
	put_obj(f->st, STORE_DB_JOBS, "job-1", "secret", MARKER);
	put_obj(f->st, STORE_DB_REPOS, "acme", "token-note", MARKER);
	/* Control: an unsealed value is visible, so the scan works. */
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(store_put_raw(txn, STORE_DB_QUEUE, "q", 1,
				       RAW_MARKER, strlen(RAW_MARKER)), 0);
	assert_int_equal(store_txn_commit(txn), 0);
	store_close(f->st);
	f->st = NULL;

	assert_int_equal(al_read_file(fpath(f, "db/data.mdb"), 64 << 20,
				      &data), 0);
	assert_non_null(memmem(data.p, data.len, RAW_MARKER,
			       strlen(RAW_MARKER)));
	assert_null(memmem(data.p, data.len, MARKER, strlen(MARKER)));
	al_buf_free(&data);
}

static void test_moved_and_altered(void **state)
{
	struct fix *f = *state;
	struct store_txn *txn;
	struct al_buf raw = { 0 };
	json_t *v;

	assert_int_equal(store_open(f->home, &f->st), 0);
	put_obj(f->st, STORE_DB_JOBS, "job-a", "state", "done");

	/* Copy the sealed bytes to another key and another database. */
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(store_get_raw(txn, STORE_DB_JOBS, "job-a", 5, &raw),
			 0);
	assert_int_equal(raw.len > SEAL_OVERHEAD, 1);
	assert_int_equal(store_put_raw(txn, STORE_DB_JOBS, "job-b", 5, raw.p,
				       raw.len), 0);
	assert_int_equal(store_put_raw(txn, STORE_DB_REPOS, "job-a", 5, raw.p,
				       raw.len), 0);
	raw.p[raw.len / 2] ^= 0x20;
	assert_int_equal(store_put_raw(txn, STORE_DB_JOBS, "job-c", 5, raw.p,
				       raw.len), 0);
	assert_int_equal(store_txn_commit(txn), 0);

	assert_int_equal(get_obj(f->st, STORE_DB_JOBS, "job-b", &v),
			 AL_E_AUTH);
	assert_null(v);
	assert_int_equal(get_obj(f->st, STORE_DB_REPOS, "job-a", &v),
			 AL_E_AUTH);
	assert_int_equal(get_obj(f->st, STORE_DB_JOBS, "job-c", &v),
			 AL_E_AUTH);
	assert_int_equal(get_obj(f->st, STORE_DB_JOBS, "job-a", &v), 0);
	json_decref(v);
	al_buf_free(&raw);
}

static void test_put_rules(void **state)
{
	struct fix *f = *state;
	struct store_txn *txn;
	char big[STORE_KEY_MAX + 1];
	json_t *v = json_object();

	memset(big, 'k', sizeof(big));
	assert_int_equal(store_open(f->home, &f->st), 0);
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(store_put_json(txn, STORE_DB_AUDIT, "a", 1, v,
					STORE_NOOVERWRITE), 0);
	assert_int_equal(store_put_json(txn, STORE_DB_AUDIT, "a", 1, v,
					STORE_NOOVERWRITE), AL_E_EXISTS);
	assert_int_equal(store_put_json(txn, STORE_DB_AUDIT, "a", 1, v, 0), 0);
	assert_int_equal(store_put_json(txn, STORE_DB_AUDIT, "", 0, v, 0),
			 AL_E_LIMIT);
	assert_int_equal(store_put_json(txn, STORE_DB_AUDIT, big, sizeof(big),
					v, 0), AL_E_LIMIT);
	assert_int_equal(store_put_json(txn, STORE_DB__COUNT, "a", 1, v, 0),
			 AL_E_USAGE);
	assert_int_equal(store_del(txn, STORE_DB_AUDIT, "a", 1), 0);
	assert_int_equal(store_del(txn, STORE_DB_AUDIT, "a", 1),
			 AL_E_NOTFOUND);
	assert_int_equal(store_txn_commit(txn), 0);
	json_decref(v);
	assert_string_equal(store_db_name(STORE_DB_CHECKPOINTS),
			    "checkpoints");
	assert_null(store_db_name(STORE_DB__COUNT));
}

struct walk {
	int n;
	char keys[8][8];
};

static int walk_cb(void *ctx, const void *key, size_t keylen, json_t *value)
{
	struct walk *w = ctx;

	assert_true(keylen < sizeof(w->keys[0]));
	memcpy(w->keys[w->n], key, keylen);
	w->keys[w->n][keylen] = '\0';
	assert_string_equal(json_string_value(json_object_get(value, "k")),
			    w->keys[w->n]);
	w->n++;
	return w->n == 2 ? 99 : 0;
}

static void test_cursor(void **state)
{
	struct fix *f = *state;
	static const char *const keys[] = { "c", "a", "b", "d" };
	struct store_txn *txn;
	struct store_cursor *cur;
	const void *k;
	size_t kl;
	json_t *v;
	struct walk w = { 0 };

	assert_int_equal(store_open(f->home, &f->st), 0);
	for (size_t i = 0; i < 4; i++)
		put_obj(f->st, STORE_DB_JOBS, keys[i], "k", keys[i]);

	/* Break "b" in place: the cursor reports it and goes on. */
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(store_put_raw(txn, STORE_DB_JOBS, "b", 1, "junk", 4),
			 0);
	assert_int_equal(store_txn_commit(txn), 0);

	assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
	assert_int_equal(store_cursor_open(txn, STORE_DB_JOBS, &cur), 0);
	assert_int_equal(store_cursor_next(cur, &k, &kl, &v), 0);
	assert_memory_equal(k, "a", 1);
	assert_string_equal(json_string_value(json_object_get(v, "k")), "a");
	assert_int_equal(store_cursor_next(cur, &k, &kl, &v), AL_E_PARSE);
	assert_memory_equal(k, "b", 1);
	assert_null(v);
	assert_int_equal(store_cursor_next(cur, &k, &kl, &v), 0);
	assert_memory_equal(k, "c", 1);
	assert_int_equal(store_cursor_next(cur, &k, &kl, NULL), 0);
	assert_memory_equal(k, "d", 1);
	assert_int_equal(store_cursor_next(cur, &k, &kl, &v), AL_E_NOTFOUND);
	store_cursor_close(cur);

	assert_int_equal(store_cursor_open(txn, STORE_DB_JOBS, &cur), 0);
	assert_int_equal(store_cursor_last(cur), 0);
	assert_int_equal(store_cursor_next(cur, &k, &kl, &v), 0);
	assert_memory_equal(k, "d", 1);
	assert_int_equal(store_cursor_next(cur, &k, &kl, &v), AL_E_NOTFOUND);
	store_cursor_close(cur);

	/* foreach stops at the callback's non-zero, or at the bad record. */
	assert_int_equal(store_foreach(txn, STORE_DB_JOBS, walk_cb, &w),
			 AL_E_PARSE);
	assert_int_equal(w.n, 1);
	store_txn_abort(txn);

	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(store_del(txn, STORE_DB_JOBS, "b", 1), 0);
	assert_int_equal(store_txn_commit(txn), 0);
	w.n = 0;
	assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
	assert_int_equal(store_foreach(txn, STORE_DB_JOBS, walk_cb, &w), 99);
	assert_string_equal(w.keys[1], "c");
	store_txn_abort(txn);
}

/*
 * A bounded walk stops before the bound and keeps that record for after
 * it (verify.c's blocks); peek names the next record without taking
 * it; two read transactions share a snapshot number until a commit.
 */
static void test_cursor_bound_peek(void **state)
{
	struct fix *f = *state;
	static const char *const keys[] = { "a", "b", "bb", "c" };
	struct store_txn *txn, *two;
	struct store_cursor *cur;
	const void *k;
	size_t kl;
	json_t *v;

	assert_int_equal(store_open(f->home, &f->st), 0);
	for (size_t i = 0; i < 4; i++)
		put_obj(f->st, STORE_DB_JOBS, keys[i], "k", keys[i]);
	assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
	assert_int_equal(store_cursor_open(txn, STORE_DB_JOBS, &cur), 0);
	assert_int_equal(store_cursor_peek(cur, &k, &kl), 0);
	assert_memory_equal(k, "a", 1);
	assert_int_equal(store_cursor_bound(cur, "bb", 2), 0);
	assert_int_equal(store_cursor_next(cur, &k, &kl, &v), 0);
	assert_memory_equal(k, "a", 1);
	assert_int_equal(store_cursor_next(cur, &k, &kl, &v), 0);
	assert_memory_equal(k, "b", 1);
	assert_int_equal(store_cursor_next(cur, &k, &kl, &v), AL_E_NOTFOUND);
	assert_int_equal(store_cursor_peek(cur, &k, &kl), 0);
	assert_int_equal(kl, 2);
	assert_memory_equal(k, "bb", 2);
	assert_int_equal(store_cursor_bound(cur, NULL, 0), 0);
	assert_int_equal(store_cursor_next(cur, &k, &kl, &v), 0);
	assert_memory_equal(k, "bb", 2);
	assert_string_equal(json_string_value(json_object_get(v, "k")), "bb");
	/* A seek keeps the bound; a shorter key sorts first. */
	assert_int_equal(store_cursor_bound(cur, "c", 1), 0);
	assert_int_equal(store_cursor_seek(cur, "b", 1), 0);
	assert_int_equal(store_cursor_next(cur, &k, &kl, &v), 0);
	assert_memory_equal(k, "b", 1);
	assert_int_equal(store_cursor_next(cur, &k, &kl, &v), 0);
	assert_memory_equal(k, "bb", 2);
	assert_int_equal(store_cursor_next(cur, &k, &kl, &v), AL_E_NOTFOUND);
	assert_int_equal(store_cursor_bound(cur, NULL, 0), 0);
	assert_int_equal(store_cursor_next(cur, &k, &kl, NULL), 0);
	assert_memory_equal(k, "c", 1);
	assert_int_equal(store_cursor_peek(cur, &k, &kl), AL_E_NOTFOUND);
	assert_int_equal(store_cursor_next(cur, &k, &kl, &v), AL_E_NOTFOUND);
	store_cursor_close(cur);

	assert_int_equal(store_txn_begin(f->st, false, &two), 0);
	assert_true(store_txn_snapshot(txn) == store_txn_snapshot(two));
	store_txn_abort(two);
	put_obj(f->st, STORE_DB_JOBS, "d", "k", "d");
	assert_int_equal(store_txn_begin(f->st, false, &two), 0);
	assert_true(store_txn_snapshot(txn) != store_txn_snapshot(two));
	store_txn_abort(two);
	store_txn_abort(txn);

	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(store_cursor_open(txn, STORE_DB_JOBS, &cur), 0);
	assert_int_equal(store_cursor_bound(cur, "b", 1), AL_E_USAGE);
	store_cursor_close(cur);
	store_txn_abort(txn);
}

static void test_open_refusals(void **state)
{
	struct fix *f = *state;
	struct store *st = NULL;
	struct store_txn *txn;
	char home2[128];
	struct stat sb;

	/* A read-only tool on an empty home creates nothing. */
	assert_int_equal(store_open_existing(f->home, &st), AL_E_NOTFOUND);
	assert_null(st);
	assert_int_equal(stat(fpath(f, "db/data.mdb"), &sb), -1);

	/* A schema version newer than this code knows is refused. */
	assert_int_equal(store_open(f->home, &f->st), 0);
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(store_put_raw(txn, STORE_DB_META, STORE_META_SCHEMA,
				       strlen(STORE_META_SCHEMA), "3", 1), 0);
	assert_int_equal(store_txn_commit(txn), 0);
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(store_open_existing(f->home, &st), AL_E_STORE);
	assert_null(st);

	assert_int_equal(store_open(f->home, &st), AL_E_STORE);
	assert_null(st);

	/* A different master key than the store was created with. */
	snprintf(home2, sizeof(home2), "%s/other", f->home);
	assert_int_equal(store_open(home2, &st), 0);
	store_close(st);
	assert_int_equal(unlink(fpath(f, "other/keys/master.key")), 0);
	struct seal_key k;
	assert_int_equal(seal_key_create(fpath(f, "other/keys/master.key"),
					 SEAL_KEY_MASTER, &k), 0);
	seal_key_wipe(&k);
	assert_int_equal(store_open(home2, &st), AL_E_AUTH);
	assert_null(st);
}

/*
 * Halves of a store that vanish, and a truncated file: each refused with
 * an error (never a crash, never a silent new store or key).
 */
static void test_lost_halves(void **state)
{
	struct fix *f = *state;
	struct store *st = NULL;
	struct stat sb;
	char data[160], key[160];

	assert_int_equal(store_open(f->home, &f->st), 0);
	put_obj(f->st, STORE_DB_JOBS, "j1", "a", "1");
	store_close(f->st);
	f->st = NULL;
	snprintf(data, sizeof(data), "%s", fpath(f, "db/data.mdb"));
	snprintf(key, sizeof(key), "%s", fpath(f, "keys/master.key"));

	/* Truncated below what its pages need: refused, no SIGBUS. */
	assert_int_equal(truncate(data, 8192), 0);
	assert_int_equal(store_open(f->home, &st), AL_E_STORE);
	assert_int_equal(store_open_existing(f->home, &st), AL_E_STORE);
	assert_null(st);

	/* Emptied or removed while the key stays: no new audit chain. */
	assert_int_equal(truncate(data, 0), 0);
	assert_int_equal(store_open(f->home, &st), AL_E_STORE);
	assert_int_equal(unlink(data), 0);
	assert_int_equal(store_open(f->home, &st), AL_E_STORE);
	assert_int_equal(stat(data, &sb), -1);

	/* A key lost beside existing data: refused, and no new key. */
	assert_int_equal(unlink(key), 0);
	assert_int_equal(store_open(f->home, &f->st), 0); /* fresh again */
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(unlink(key), 0);
	assert_int_equal(store_open(f->home, &st), AL_E_AUTH);
	assert_null(st);
	assert_int_equal(stat(key, &sb), -1);
}

static void test_symlinked_dirs(void **state)
{
	struct fix *f = *state;
	struct store *st = NULL;
	char target[128], home[128];

	snprintf(target, sizeof(target), "%s/elsewhere", f->home);
	snprintf(home, sizeof(home), "%s/h", f->home);
	assert_int_equal(mkdir(target, 0700), 0);
	assert_int_equal(mkdir(home, 0700), 0);
	assert_int_equal(symlink(target, fpath(f, "h/db")), 0);
	assert_int_equal(store_open(home, &st), AL_E_UNSAFE);
	assert_null(st);

	assert_int_equal(unlink(fpath(f, "h/db")), 0);
	assert_int_equal(symlink(target, fpath(f, "h/keys")), 0);
	assert_int_equal(store_open(home, &st), AL_E_UNSAFE);
	assert_int_equal(access(fpath(f, "elsewhere/master.key"), F_OK), -1);
}

struct worker {
	struct store *st;
	int id;
	int rc;
};

static void *writer(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < 25 && w->rc == 0; i++) {
		struct store_txn *txn;
		char key[32];
		json_t *v = json_pack("{s:i, s:i}", "w", w->id, "i", i);

		snprintf(key, sizeof(key), "w%d-%02d", w->id, i);
		w->rc = store_txn_begin(w->st, true, &txn);
		if (w->rc == 0) {
			w->rc = store_put_json(txn, STORE_DB_JOBS, key,
					       strlen(key), v, 0);
			if (w->rc == 0)
				w->rc = store_txn_commit(txn);
			else
				store_txn_abort(txn);
		}
		json_decref(v);
	}
	return NULL;
}

static int count_cb(void *ctx, const void *key, size_t keylen, json_t *v)
{
	(*(int *)ctx)++;
	return 0;
}

static void test_threads(void **state)
{
	struct fix *f = *state;
	struct worker w[4];
	pthread_t th[4];
	struct store_txn *txn;
	int n = 0;

	assert_int_equal(store_open(f->home, &f->st), 0);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ f->st, i, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, writer, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].rc, 0);
	}
	assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
	assert_int_equal(store_foreach(txn, STORE_DB_JOBS, count_cb, &n), 0);
	store_txn_abort(txn);
	assert_int_equal(n, 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_layout_and_round_trip,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_plaintext_on_disk,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_moved_and_altered, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_put_rules, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cursor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cursor_bound_peek, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_open_refusals, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lost_halves, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_symlinked_dirs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
