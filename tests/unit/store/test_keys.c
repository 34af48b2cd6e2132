/*
 * Keys and record versions: the tamper suite (a value moved to another
 * record, an older value written back, the wrong or a missing master
 * key), migration of a schema 1 store, rotation (also killed mid-way and
 * resumed), seal limits, another process rotating, map growth, stale
 * readers, and no plaintext in any file or log line.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "base/err.h"
#include "base/fs.h"
#include "seal/keyring.h"
#include "store/keys.h"
#include "store/store.h"

#define MARKER "KEYS-MARKER-3d91e0"

struct fix {
	char home[64];
	char path[192];
	char logf[96];
	int saved_err;
	struct store *st;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->home, sizeof(f->home), "/tmp/al-keys-XXXXXX");
	if (!mkdtemp(f->home))
		return -1;
	f->saved_err = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	/* A test that failed with the log redirected: show what it said. */
	if (f->saved_err >= 0) {
		struct al_buf b = { 0 };
		fflush(stderr);
		dup2(f->saved_err, STDERR_FILENO);
		close(f->saved_err);
		if (al_read_file(f->logf, 1 << 20, &b) == 0 && b.len)
			fprintf(stderr, "log of the failed test:\n%.*s",
				(int)b.len, b.p);
		al_buf_free(&b);
	}
	store_close(f->st);
	al_rm_tree(f->home);
	if (f->logf[0])
		unlink(f->logf);
	free(f);
	return 0;
}

static const char *fpath(struct fix *f, const char *rel)
{
	snprintf(f->path, sizeof(f->path), "%s/%s", f->home, rel);
	return f->path;
}

/* Send stderr (the log) to a file until log_end; log_has searches it. */
static void log_begin(struct fix *f)
{
	int fd;

	snprintf(f->logf, sizeof(f->logf), "/tmp/al-keys-log-XXXXXX");
	fd = mkstemp(f->logf);
	assert_true(fd >= 0);
	fflush(stderr);
	f->saved_err = dup(STDERR_FILENO);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
}

static void log_end(struct fix *f)
{
	fflush(stderr);
	dup2(f->saved_err, STDERR_FILENO);
	close(f->saved_err);
	f->saved_err = -1;
}

static bool log_has(struct fix *f, const char *s)
{
	struct al_buf b = { 0 };
	bool found;

	assert_int_equal(al_read_file(f->logf, 1 << 20, &b), 0);
	found = b.len && memmem(b.p, b.len, s, strlen(s)) != NULL;
	al_buf_free(&b);
	return found;
}

static void put_job(struct store *st, const char *key, const char *val)
{
	struct store_txn *txn;
	json_t *v = json_pack("{s:s, s:s}", "state", val, "note", MARKER);

	assert_int_equal(store_txn_begin(st, true, &txn), 0);
	assert_int_equal(store_put_json(txn, STORE_DB_JOBS, key, strlen(key),
					v, 0), 0);
	assert_int_equal(store_txn_commit(txn), 0);
	json_decref(v);
}

/* The "state" member of jobs/key, or the error. */
static int get_job(struct store *st, const char *key, char *out, size_t n)
{
	struct store_txn *txn;
	json_t *v = NULL;
	int rc;

	assert_int_equal(store_txn_begin(st, false, &txn), 0);
	rc = store_get_json(txn, STORE_DB_JOBS, key, strlen(key), &v);
	store_txn_abort(txn);
	if (rc == 0)
		snprintf(out, n, "%s",
			 json_string_value(json_object_get(v, "state")));
	json_decref(v);
	return rc;
}

static void get_raw(struct store *st, enum store_db db, const void *key,
		    size_t keylen, struct al_buf *out)
{
	struct store_txn *txn;

	assert_int_equal(store_txn_begin(st, false, &txn), 0);
	assert_int_equal(store_get_raw(txn, db, key, keylen, out), 0);
	store_txn_abort(txn);
}

static void put_raw(struct store *st, enum store_db db, const void *key,
		    size_t keylen, const struct al_buf *v)
{
	struct store_txn *txn;

	assert_int_equal(store_txn_begin(st, true, &txn), 0);
	assert_int_equal(store_put_raw(txn, db, key, keylen, v->p, v->len),
			 0);
	assert_int_equal(store_txn_commit(txn), 0);
}

/* The version entry's key of (db, key), as the store lays it out. */
static size_t vkey(enum store_db db, const char *key, uint8_t *out)
{
	out[0] = (uint8_t)db;
	memcpy(out + 1, key, strlen(key));
	return strlen(key) + 1;
}

static void file_hash(const char *path, struct al_buf *out)
{
	out->len = 0;
	assert_int_equal(al_read_file(path, 64 << 20, out), 0);
}

static void status(struct store *st, struct store_keys_status *s)
{
	assert_int_equal(store_keys_status(st, s), 0);
}

/* Tamper: a sealed value moved to another record. */
static void test_moved(void **state)
{
	struct fix *f = *state;
	struct al_buf a = { 0 }, ver = { 0 };
	uint8_t vk[64];
	char out[32];

	assert_int_equal(store_open(f->home, &f->st), 0);
	put_job(f->st, "job-a", "done");
	put_job(f->st, "job-b", "running");
	get_raw(f->st, STORE_DB_JOBS, "job-a", 5, &a);
	put_raw(f->st, STORE_DB_JOBS, "job-b", 5, &a);

	log_begin(f);
	assert_int_equal(get_job(f->st, "job-b", out, sizeof(out)), AL_E_AUTH);
	log_end(f);
	assert_true(log_has(f, "jobs/job-b"));
	assert_true(log_has(f, "moved here from another record"));
	assert_false(log_has(f, MARKER));

	/* Moving its version entry along does not help: the slot is in AD. */
	get_raw(f->st, STORE_DB_VERSIONS, vk, vkey(STORE_DB_JOBS, "job-a", vk),
		&ver);
	put_raw(f->st, STORE_DB_VERSIONS, vk, vkey(STORE_DB_JOBS, "job-b", vk),
		&ver);
	assert_int_equal(get_job(f->st, "job-b", out, sizeof(out)), AL_E_AUTH);
	/* Into another database too. */
	put_raw(f->st, STORE_DB_REPOS, "job-a", 5, &a);
	put_raw(f->st, STORE_DB_VERSIONS, vk, vkey(STORE_DB_REPOS, "job-a", vk),
		&ver);
	struct store_txn *txn;
	json_t *v = NULL;
	assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
	assert_int_equal(store_get_json(txn, STORE_DB_REPOS, "job-a", 5, &v),
			 AL_E_AUTH);
	store_txn_abort(txn);

	/* The intact record still reads. */
	assert_int_equal(get_job(f->st, "job-a", out, sizeof(out)), 0);
	assert_string_equal(out, "done");
	al_buf_free(&a);
	al_buf_free(&ver);
}

/* Tamper: an older value of the same record written back (replay). */
static void test_replay(void **state)
{
	struct fix *f = *state;
	struct store_keys_status s;
	struct al_buf old = { 0 }, oldver = { 0 };
	uint8_t vk[64];
	size_t vl = vkey(STORE_DB_JOBS, "job-1", vk);
	char out[32];

	assert_int_equal(store_open(f->home, &f->st), 0);
	put_job(f->st, "job-1", "running");
	put_job(f->st, "job-2", "done");
	status(f->st, &s);
	assert_int_equal(s.problems, 0);
	assert_int_equal(s.records, 2);
	get_raw(f->st, STORE_DB_JOBS, "job-1", 5, &old);
	get_raw(f->st, STORE_DB_VERSIONS, vk, vl, &oldver);
	put_job(f->st, "job-1", "failed");

	put_raw(f->st, STORE_DB_JOBS, "job-1", 5, &old);
	log_begin(f);
	assert_int_equal(get_job(f->st, "job-1", out, sizeof(out)),
			 AL_E_STALE);
	log_end(f);
	assert_true(log_has(f, "jobs/job-1"));
	assert_true(log_has(f, "replay"));
	assert_int_equal(get_job(f->st, "job-2", out, sizeof(out)), 0);
	assert_string_equal(out, "done");

	/*
	 * Rolling the version entry back with the value passes the read
	 * (documented), but the digest in meta state shows it.
	 */
	put_raw(f->st, STORE_DB_VERSIONS, vk, vl, &oldver);
	assert_int_equal(get_job(f->st, "job-1", out, sizeof(out)), 0);
	assert_string_equal(out, "running");
	status(f->st, &s);
	assert_int_not_equal(s.problems, 0);
	assert_non_null(strstr(s.problem, "digest"));

	/* Removing the version entry is no way round the check either. */
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(store_del(txn, STORE_DB_JOBS, "job-2", 5), 0);
	assert_int_equal(store_txn_commit(txn), 0);
	status(f->st, &s);
	assert_int_not_equal(s.problems, 0);
	al_buf_free(&old);
	al_buf_free(&oldver);
}

/* Fill a store, close it, and remember data.mdb's bytes. */
static void closed_store(struct fix *f, struct al_buf *data)
{
	assert_int_equal(store_open(f->home, &f->st), 0);
	put_job(f->st, "job-1", "done");
	store_close(f->st);
	f->st = NULL;
	file_hash(fpath(f, "db/data.mdb"), data);
}

/* Tamper: the wrong master key stops the open and changes nothing. */
static void test_wrong_master(void **state)
{
	struct fix *f = *state;
	struct al_buf before = { 0 }, after = { 0 }, right = { 0 };
	struct store *st = NULL;
	struct seal_key k;
	char out[32], mk[192];

	closed_store(f, &before);
	snprintf(mk, sizeof(mk), "%s", fpath(f, "keys/master.key"));
	file_hash(mk, &right);
	assert_int_equal(unlink(mk), 0);
	assert_int_equal(seal_key_create(mk, SEAL_KEY_MASTER, &k), 0);
	seal_key_wipe(&k);

	log_begin(f);
	assert_int_equal(store_open(f->home, &st), AL_E_AUTH);
	assert_int_equal(store_open_existing(f->home, &st), AL_E_AUTH);
	log_end(f);
	assert_null(st);
	assert_true(log_has(f, "wrong master key"));
	assert_true(log_has(f, "keys/master.key"));
	file_hash(fpath(f, "db/data.mdb"), &after);
	assert_int_equal(after.len, before.len);
	assert_memory_equal(after.p, before.p, before.len);

	/* The right key opens it again, records intact. */
	int fd = open(mk, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, right.p, right.len), (ssize_t)right.len);
	close(fd);
	assert_int_equal(store_open(f->home, &f->st), 0);
	assert_int_equal(get_job(f->st, "job-1", out, sizeof(out)), 0);
	al_buf_free(&before);
	al_buf_free(&after);
	al_buf_free(&right);
}

/* Tamper: a missing master key stops the open; no new key is made. */
static void test_missing_master(void **state)
{
	struct fix *f = *state;
	struct al_buf before = { 0 }, after = { 0 };
	struct store *st = NULL;
	struct stat sb;

	closed_store(f, &before);
	char bak[192];
	snprintf(bak, sizeof(bak), "%s/master.bak", f->home);
	assert_int_equal(rename(fpath(f, "keys/master.key"), bak), 0);
	log_begin(f);
	assert_int_equal(store_open(f->home, &st), AL_E_AUTH);
	assert_int_equal(store_open_existing(f->home, &st), AL_E_AUTH);
	log_end(f);
	assert_null(st);
	assert_true(log_has(f, "master key is missing"));
	assert_int_equal(stat(fpath(f, "keys/master.key"), &sb), -1);
	file_hash(fpath(f, "db/data.mdb"), &after);
	assert_memory_equal(after.p, before.p, before.len);
	al_buf_free(&before);
	al_buf_free(&after);
}

/* A newer schema is refused before anything is touched. */
static void test_newer_schema(void **state)
{
	struct fix *f = *state;
	struct al_buf before = { 0 }, after = { 0 };
	struct store_txn *txn;
	struct store *st = NULL;

	assert_int_equal(store_open(f->home, &f->st), 0);
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(store_put_raw(txn, STORE_DB_META, STORE_META_SCHEMA,
				       strlen(STORE_META_SCHEMA), "9", 1), 0);
	assert_int_equal(store_txn_commit(txn), 0);
	store_close(f->st);
	f->st = NULL;
	file_hash(fpath(f, "db/data.mdb"), &before);
	log_begin(f);
	assert_int_equal(store_open(f->home, &st), AL_E_STORE);
	log_end(f);
	assert_true(log_has(f, "schema version 9 is newer"));
	file_hash(fpath(f, "db/data.mdb"), &after);
	assert_memory_equal(after.p, before.p, before.len);
	al_buf_free(&before);
	al_buf_free(&after);
}

static void copy_file(const char *from, const char *to)
{
	struct al_buf b = { 0 };
	int fd;

	assert_int_equal(al_read_file(from, 64 << 20, &b), 0);
	fd = open(to, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(al_write_all(fd, b.p, b.len), 0);
	close(fd);
	al_buf_free(&b);
}

/* A home holding the schema 1 store made by the code of schema 1. */
static void v1_home(struct fix *f)
{
	char src[256];
	const char *fx = getenv("AL_FIXTURES_DIR");

	assert_non_null(fx);
	assert_int_equal(mkdir(fpath(f, "db"), 0700), 0);
	assert_int_equal(mkdir(fpath(f, "keys"), 0700), 0);
	snprintf(src, sizeof(src), "%s/store-v1/data.mdb", fx);
	copy_file(src, fpath(f, "db/data.mdb"));
	snprintf(src, sizeof(src), "%s/store-v1/data.key", fx);
	copy_file(src, fpath(f, "keys/data.key"));
}

static bool file_has(const char *path, const char *s)
{
	struct al_buf b = { 0 };
	bool found;

	if (al_read_file(path, 64 << 20, &b) != 0)
		return false;
	found = b.len && memmem(b.p, b.len, s, strlen(s)) != NULL;
	al_buf_free(&b);
	return found;
}

static void test_migrate_v1(void **state)
{
	struct fix *f = *state;
	struct store_keys_status s;
	struct al_buf once = { 0 }, twice = { 0 };
	struct store_txn *txn;
	struct stat sb;
	json_t *v = NULL;
	char key[32];

	v1_home(f);
	log_begin(f);
	assert_int_equal(store_open(f->home, &f->st), 0);
	log_end(f);
	assert_true(log_has(f, "migrated schema 1 to 2"));
	assert_int_equal(stat(fpath(f, "keys/data.key"), &sb), -1);
	assert_int_equal(stat(fpath(f, "keys/master.key"), &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);

	/* Every record reads, with its content, under the old key's id. */
	assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof(key), "0000000000%02d00000000", i);
		assert_int_equal(store_get_json(txn, STORE_DB_JOBS, key,
						strlen(key), &v), 0);
		assert_int_equal(json_integer_value(json_object_get(v, "n")),
				 i);
		json_decref(v);
	}
	assert_int_equal(store_get_json(txn, STORE_DB_REPOS, "repo-1", 6, &v),
			 0);
	assert_string_equal(json_string_value(json_object_get(v, "note")),
			    "V1-FIXTURE-MARKER");
	json_decref(v);
	assert_int_equal(store_get_json(txn, STORE_DB_META, "audit.head", 10,
					&v), 0);
	assert_int_equal(json_integer_value(json_object_get(v, "seq")), 21);
	json_decref(v);
	store_txn_abort(txn);
	status(f->st, &s);
	assert_int_equal(s.problems, 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.records, 20 + 1 + 21 + 1);
	assert_int_equal(s.keys[0].values, s.records);

	/* Once only: opening again changes no byte. */
	store_close(f->st);
	f->st = NULL;
	file_hash(fpath(f, "db/data.mdb"), &once);
	assert_int_equal(store_open(f->home, &f->st), 0);
	store_close(f->st);
	f->st = NULL;
	file_hash(fpath(f, "db/data.mdb"), &twice);
	assert_int_equal(once.len, twice.len);
	assert_memory_equal(once.p, twice.p, once.len);
	assert_false(file_has(fpath(f, "db/data.mdb"), "V1-FIXTURE-MARKER"));
	al_buf_free(&once);
	al_buf_free(&twice);
}

/* A schema 1 store with a foreign data key: refused, nothing changed. */
static void test_migrate_wrong_key(void **state)
{
	struct fix *f = *state;
	struct al_buf before = { 0 }, after = { 0 };
	struct store *st = NULL;
	struct seal_key k;
	struct stat sb;

	v1_home(f);
	file_hash(fpath(f, "db/data.mdb"), &before);
	assert_int_equal(unlink(fpath(f, "keys/data.key")), 0);
	assert_int_equal(seal_key_create(fpath(f, "keys/data.key"),
					 SEAL_KEY_DATA, &k), 0);
	seal_key_wipe(&k);
	assert_int_equal(store_open(f->home, &st), AL_E_AUTH);
	assert_int_equal(stat(fpath(f, "keys/master.key"), &sb), -1);
	file_hash(fpath(f, "db/data.mdb"), &after);
	assert_memory_equal(after.p, before.p, before.len);
	al_buf_free(&before);
	al_buf_free(&after);
}

static void put_n(struct store *st, int from, int n)
{
	char key[32];

	for (int i = from; i < from + n; i++) {
		snprintf(key, sizeof(key), "job-%04d", i);
		put_job(st, key, key);
	}
}

static void check_n(struct store *st, int n)
{
	char key[32], out[32];

	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "job-%04d", i);
		assert_int_equal(get_job(st, key, out, sizeof(out)), 0);
		assert_string_equal(out, key);
	}
}

static const struct store_key_info *key_by_id(
	const struct store_keys_status *s, const char *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->keys[i].id, id))
			return &s->keys[i];
	fail_msg("no key %s", id);
	return NULL;
}

static void test_rotate(void **state)
{
	struct fix *f = *state;
	struct store_keys_status s;
	char oldid[SEAL_KEY_ID_HEX], newid[SEAL_KEY_ID_HEX];
	uint64_t failed = 99;

	assert_int_equal(store_open(f->home, &f->st), 0);
	put_n(f->st, 0, 40);
	store_key_id_hex(f->st, oldid);
	assert_int_equal(store_keys_rotate_begin(f->st, newid), 0);
	assert_string_not_equal(oldid, newid);

	/* Old keys keep opening old values; new writes use the new key. */
	check_n(f->st, 40);
	put_n(f->st, 40, 2);
	status(f->st, &s);
	assert_int_equal(s.n, 2);
	assert_true(s.rotating);
	assert_string_equal(s.rotating_to, newid);
	assert_int_equal(key_by_id(&s, oldid)->values, 40);
	assert_int_equal(key_by_id(&s, newid)->values, 2);
	assert_true(key_by_id(&s, newid)->current);

	assert_int_equal(store_keys_rotate_run(f->st, 7, NULL, NULL, &failed),
			 0);
	assert_int_equal(failed, 0);
	status(f->st, &s);
	assert_false(s.rotating);
	assert_int_equal(s.problems, 0);
	assert_int_equal(key_by_id(&s, oldid)->values, 0);
	assert_int_equal(key_by_id(&s, newid)->values, 42);
	assert_true(key_by_id(&s, oldid)->seals >= 40);
	check_n(f->st, 42);
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(store_open(f->home, &f->st), 0);
	check_n(f->st, 42);
}

/* Batch callback that dies by SIGKILL, once mid-transaction. */
static int die_cb(void *ctx, uint64_t done, uint64_t total)
{
	struct store *st = ctx;
	struct store_txn *txn;
	json_t *v = json_object();

	if (done < 15)
		return 0;
	/* Hold the writer lock with an uncommitted write, then die. */
	if (store_txn_begin(st, true, &txn) == 0 &&
	    store_put_json(txn, STORE_DB_JOBS, "ghost", 5, v, 0) == 0)
		raise(SIGKILL);
	_exit(3);
}

static void test_rotate_killed(void **state)
{
	struct fix *f = *state;
	struct store_keys_status s;
	struct store_opts o = { .create = false, .resume = false };
	char oldid[SEAL_KEY_ID_HEX], newid[SEAL_KEY_ID_HEX], out[32];
	int wst;
	pid_t pid;

	assert_int_equal(store_open(f->home, &f->st), 0);
	put_n(f->st, 0, 50);
	store_key_id_hex(f->st, oldid);
	store_close(f->st);
	f->st = NULL;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *st;
		if (store_open_opts(f->home, &o, &st) ||
		    store_keys_rotate_begin(st, NULL))
			_exit(2);
		store_keys_rotate_run(st, 5, die_cb, st, NULL);
		_exit(4);
	}
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	assert_true(WIFSIGNALED(wst));
	assert_int_equal(WTERMSIG(wst), SIGKILL);

	/* Part done: three batches committed, the fourth write lost. */
	assert_int_equal(store_open_opts(f->home, &o, &f->st), 0);
	status(f->st, &s);
	assert_true(s.rotating);
	assert_int_equal(s.rotate_done, 15);
	assert_int_equal(s.problems, 0);
	store_key_id_hex(f->st, newid);
	assert_int_equal(key_by_id(&s, oldid)->values, 50 - 15);
	assert_int_equal(key_by_id(&s, newid)->values, 15);
	check_n(f->st, 50);
	assert_int_equal(get_job(f->st, "ghost", out, sizeof(out)),
			 AL_E_NOTFOUND);
	store_close(f->st);
	f->st = NULL;

	/* The next writer's open finishes it. */
	assert_int_equal(store_open(f->home, &f->st), 0);
	status(f->st, &s);
	assert_false(s.rotating);
	assert_int_equal(s.problems, 0);
	assert_int_equal(key_by_id(&s, oldid)->values, 0);
	assert_int_equal(key_by_id(&s, newid)->values, 50);
	check_n(f->st, 50);
}

/*
 * The daemon's way: the key changes in the caller's transaction (which
 * an abort undoes), a second begin leaves a running rotation alone, and
 * steps of one batch each walk to the end with the progress readable
 * between them.
 */
static void test_rotate_steps(void **state)
{
	struct fix *f = *state;
	struct store_keys_status s;
	struct store_rotate_step p;
	struct store_txn *txn = NULL;
	char oldid[SEAL_KEY_ID_HEX], newid[SEAL_KEY_ID_HEX];
	char id2[SEAL_KEY_ID_HEX], cur[SEAL_KEY_ID_HEX];
	bool running = true;
	unsigned steps = 0;

	assert_int_equal(store_open(f->home, &f->st), 0);
	put_n(f->st, 0, 20);
	store_key_id_hex(f->st, oldid);

	/* Aborted: the ring and the state are as they were. */
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(store_keys_rotate_begin_txn(txn, &running, newid), 0);
	assert_false(running);
	store_key_id_hex(f->st, cur);
	assert_string_equal(cur, newid);
	store_txn_abort(txn);
	store_key_id_hex(f->st, cur);
	assert_string_equal(cur, oldid);
	assert_int_equal(store_keys_progress(f->st, &s), 0);
	assert_false(s.rotating);
	assert_int_equal(s.n, 1);

	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(store_keys_rotate_begin_txn(txn, &running, newid), 0);
	assert_int_equal(store_txn_commit(txn), 0);
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(store_keys_rotate_begin_txn(txn, &running, id2), 0);
	assert_true(running);
	assert_string_equal(id2, newid);
	store_txn_abort(txn);

	do {
		assert_int_equal(store_keys_rotate_step(f->st, 3, &p), 0);
		steps++;
		assert_int_equal(store_keys_progress(f->st, &s), 0);
		assert_int_equal(s.rotating, !p.finished);
		assert_false(s.checked);
		if (!p.finished) {
			assert_int_equal(p.visited, 3);
			assert_int_equal(s.rotate_done, 3 * steps);
			assert_int_equal(p.done, 3 * steps);
			assert_int_equal(s.records, p.total);
		}
	} while (!p.finished && steps < 100);
	assert_int_equal(steps, 7); /* 20 values, 3 a batch */
	status(f->st, &s);
	assert_true(s.checked);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.left, 0);
	assert_int_equal(s.problems, 0);
	assert_int_equal(key_by_id(&s, oldid)->values, 0);
	assert_int_equal(key_by_id(&s, newid)->values, 20);
	check_n(f->st, 20);

	/* No rotation under way: a step is a no-op that says so. */
	assert_int_equal(store_keys_rotate_step(f->st, 3, &p), 0);
	assert_true(p.finished);
	assert_int_equal(p.visited, 0);
}

/* No key seals more than the limit; retired keys keep opening. */
static void test_seal_limit(void **state)
{
	struct fix *f = *state;
	struct store_keys_status s;
	struct store_opts o = { .create = true, .resume = true,
				.seal_limit = 10 };

	assert_int_equal(store_open_opts(f->home, &o, &f->st), 0);
	put_n(f->st, 0, 30);
	check_n(f->st, 30);
	status(f->st, &s);
	assert_int_equal(s.seal_limit, 10);
	assert_true(s.n >= 4);
	for (size_t i = 0; i < s.n; i++)
		assert_true(s.keys[i].seals <= 10);
	store_close(f->st);
	f->st = NULL;

	/* Reopening runs the rotation the retirements started. */
	assert_int_equal(store_open_opts(f->home, &o, &f->st), 0);
	status(f->st, &s);
	assert_false(s.rotating);
	assert_int_equal(s.problems, 0);
	for (size_t i = 0; i < s.n; i++)
		assert_true(s.keys[i].seals <= 10);
	check_n(f->st, 30);
}

/* Another process rotates: this one follows the new ring. */
static void test_other_process_rotates(void **state)
{
	struct fix *f = *state;
	struct store_keys_status s;
	struct al_buf raw = { 0 };
	struct seal_header h;
	char newid[SEAL_KEY_ID_HEX], hex[SEAL_KEY_ID_HEX], out[32];
	int wst;
	pid_t pid;

	assert_int_equal(store_open(f->home, &f->st), 0);
	put_n(f->st, 0, 3);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *st;
		struct store_opts o = { .create = false, .resume = false };
		if (store_open_opts(f->home, &o, &st) ||
		    store_keys_rotate_begin(st, NULL))
			_exit(2);
		put_job(st, "from-child", "child");
		store_close(st);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	assert_true(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);

	assert_int_equal(get_job(f->st, "from-child", out, sizeof(out)), 0);
	assert_string_equal(out, "child");
	put_job(f->st, "after", "x");
	status(f->st, &s);
	for (size_t i = 0; i < s.n; i++)
		if (s.keys[i].current)
			snprintf(newid, sizeof(newid), "%s", s.keys[i].id);
	get_raw(f->st, STORE_DB_JOBS, "after", 5, &raw);
	assert_int_equal(seal_peek(raw.p, raw.len, &h), 0);
	al_hex(hex, h.id, SEAL_KEY_ID_LEN);
	assert_string_equal(hex, newid);
	assert_int_equal(s.problems, 0);
	al_buf_free(&raw);
}

/* An older key ring put back is refused, naming the mismatch. */
static void test_ring_rollback(void **state)
{
	struct fix *f = *state;
	struct al_buf ring = { 0 };
	struct store *st = NULL;

	assert_int_equal(store_open(f->home, &f->st), 0);
	put_n(f->st, 0, 2);
	get_raw(f->st, STORE_DB_META, "keyring", 7, &ring);
	assert_int_equal(store_keys_rotate_begin(f->st, NULL), 0);
	put_n(f->st, 2, 2);
	store_close(f->st);
	f->st = NULL;

	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 7, "keyring" }, v = { ring.len, ring.p };
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_open(env, fpath(f, "db"), 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	log_begin(f);
	assert_int_not_equal(store_open(f->home, &st), 0);
	log_end(f);
	assert_null(st);
	assert_true(log_has(f, "do not belong together") ||
		    log_has(f, "not in the key ring"));
	al_buf_free(&ring);
}

/* The reserved meta records cannot be written through the API. */
static void test_reserved(void **state)
{
	struct fix *f = *state;
	struct store_txn *txn;
	json_t *v = json_object();

	assert_int_equal(store_open(f->home, &f->st), 0);
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(store_put_raw(txn, STORE_DB_META, "keyring", 7, "x",
				       1), AL_E_USAGE);
	assert_int_equal(store_put_json(txn, STORE_DB_META, "state", 5, v, 0),
			 AL_E_USAGE);
	assert_int_equal(store_del(txn, STORE_DB_META, "state", 5),
			 AL_E_USAGE);
	assert_int_equal(store_put_json(txn, STORE_DB_VERSIONS, "x", 1, v, 0),
			 AL_E_USAGE);
	store_txn_abort(txn);
	json_decref(v);
}

static void test_blind_key(void **state)
{
	struct fix *f = *state;
	uint8_t a[32], b[32], c[32];
	const char *url = "https://git.example/acme/" MARKER;

	assert_int_equal(store_open(f->home, &f->st), 0);
	assert_int_equal(store_blind_key(f->st, STORE_DB_REPOS, url,
					 strlen(url), a), 0);
	assert_int_equal(store_blind_key(f->st, STORE_DB_JOBS, url,
					 strlen(url), c), 0);
	assert_memory_not_equal(a, c, 32);
	assert_int_equal(store_keys_rotate_begin(f->st, NULL), 0);
	assert_int_equal(store_blind_key(f->st, STORE_DB_REPOS, url,
					 strlen(url), b), 0);
	assert_memory_equal(a, b, 32);
}

/* A small map filled past its size grows instead of failing. */
static void test_map_growth(void **state)
{
	struct fix *f = *state;
	struct store_opts o = { .create = true, .resume = true,
				.map_size = 256 << 10 };
	char big[64 << 10], key[32];
	json_t *v;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	v = json_pack("{s:s}", "blob", big);
	assert_int_equal(store_open_opts(f->home, &o, &f->st), 0);
	for (int i = 0; i < 64; i++) {
		struct store_txn *txn;
		snprintf(key, sizeof(key), "big-%02d", i);
		assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
		assert_int_equal(store_put_json(txn, STORE_DB_JOBS, key,
						strlen(key), v, 0), 0);
		assert_int_equal(store_txn_commit(txn), 0);
	}
	json_decref(v);
	assert_true(store_map_size(f->st) > (4u << 20));
	struct stat sb;
	assert_int_equal(stat(fpath(f, "db/data.mdb"), &sb), 0);
	assert_true(sb.st_size > (256 << 10) * 8);

	/* Opening again with the small size keeps at least what is used. */
	store_close(f->st);
	f->st = NULL;
	struct store_txn *txn;
	assert_int_equal(store_open_opts(f->home, &o, &f->st), 0);
	assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
	assert_int_equal(store_get_json(txn, STORE_DB_JOBS, "big-63", 6, &v),
			 0);
	assert_int_equal(strlen(json_string_value(json_object_get(v, "blob"))),
			 sizeof(big) - 1);
	store_txn_abort(txn);
	json_decref(v);
}

/* Stale reader slots cleared by a new opener; its exit status. */
static int opener_count(struct fix *f)
{
	int wst;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *st;
		if (store_open(f->home, &st))
			_exit(100);
		_exit(store_stale_readers(st));
	}
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	assert_true(WIFEXITED(wst));
	return WEXITSTATUS(wst);
}

/*
 * A reader killed inside its transaction leaves its slot taken while the
 * environment stays open elsewhere (here: in this process, as a daemon
 * would hold it). The next opener frees it.
 */
static void test_stale_readers(void **state)
{
	struct fix *f = *state;
	int wst;
	pid_t pid;

	assert_int_equal(store_open(f->home, &f->st), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *st;
		struct store_txn *txn;
		if (store_open(f->home, &st) ||
		    store_txn_begin(st, false, &txn))
			_exit(2);
		raise(SIGKILL);
		_exit(3);
	}
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	assert_true(WIFSIGNALED(wst));
	assert_int_equal(opener_count(f), 1);
	assert_int_equal(opener_count(f), 0);
}

/* Markers written through every path are found in no file and no log. */
static void test_no_plaintext_anywhere(void **state)
{
	struct fix *f = *state;
	static const char *const files[] = {
		"db/data.mdb", "db/lock.mdb", "keys/master.key",
	};

	log_begin(f);
	assert_int_equal(store_open(f->home, &f->st), 0);
	put_n(f->st, 0, 10);
	assert_int_equal(store_keys_rotate_begin(f->st, NULL), 0);
	assert_int_equal(store_keys_rotate_run(f->st, 3, NULL, NULL, NULL), 0);
	put_job(f->st, "job-0001", "changed");
	struct store_txn *txn;
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(store_put_raw(txn, STORE_DB_QUEUE, "q", 1,
				       "RAW-KEYS-CONTROL", 16), 0);
	assert_int_equal(store_txn_commit(txn), 0);
	struct store_keys_status s;
	status(f->st, &s);
	store_close(f->st);
	f->st = NULL;
	log_end(f);

	/* Control: the scan finds a marker stored unsealed. */
	assert_true(file_has(fpath(f, "db/data.mdb"), "RAW-KEYS-CONTROL"));
	for (size_t i = 0; i < AL_ARRAY_LEN(files); i++)
		assert_false(file_has(fpath(f, files[i]), MARKER));
	assert_false(log_has(f, MARKER));
	assert_true(log_has(f, "key rotation finished"));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_moved),
		T(test_replay),
		T(test_wrong_master),
		T(test_missing_master),
		T(test_newer_schema),
		T(test_migrate_v1),
		T(test_migrate_wrong_key),
		T(test_rotate),
		T(test_rotate_killed),
		T(test_rotate_steps),
		T(test_seal_limit),
		T(test_other_process_rotates),
		T(test_ring_rollback),
		T(test_reserved),
		T(test_blind_key),
		T(test_map_growth),
		T(test_stale_readers),
		T(test_no_plaintext_anywhere),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
