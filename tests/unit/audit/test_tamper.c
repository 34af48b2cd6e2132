/*
 * The tamper suite: each attack on the store or on a directory of
 * exports must be detected and reported by position (seq, file, line),
 * without crashing the verifier and without losing the intact entries.
 * Also the checkpoint policy, export continuity, the refusal to write
 * on a rolled-back store, and the line checker against jansson.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "audit/checkpoint.h"
#include "audit/export.h"
#include "audit/internal.h"
#include "base/err.h"
#include "base/fs.h"
#include "seal/seal.h"

struct fix {
	char home[64];
	char exp[96];
	struct store *st;
	struct audit_log *log;
	struct audit_pubkey *pk;
	struct audit_policy pol;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct audit_signer *s;

	if (!f)
		return -1;
	snprintf(f->home, sizeof(f->home), "/tmp/al-tamper-XXXXXX");
	if (!mkdtemp(f->home))
		return -1;
	snprintf(f->exp, sizeof(f->exp), "%s/export", f->home);
	f->pol = (struct audit_policy){ 10, 0 };
	if (store_open(f->home, &f->st) ||
	    audit_log_open(f->st, f->home, &f->pol, &f->log) ||
	    audit_signer_load(f->home, false, &s))
		return -1;
	audit_signer_pubkey(s, &f->pk);
	audit_signer_free(s);
	*state = f;
	return 0;
}

static void close_all(struct fix *f)
{
	audit_log_close(f->log);
	store_close(f->st);
	f->log = NULL;
	f->st = NULL;
}

static int reopen(struct fix *f)
{
	int rc = store_open(f->home, &f->st);

	return rc ? rc : audit_log_open(f->st, f->home, &f->pol, &f->log);
}

static int teardown(void **state)
{
	struct fix *f = *state;

	/* A failed test may leave its hooks set. */
	audit_txn_begin = store_txn_begin;
	audit_par_mode = AUDIT_PAR_AUTO;
	close_all(f);
	audit_pubkey_free(f->pk);
	al_rm_tree(f->home);
	free(f);
	return 0;
}

static void append_n(struct fix *f, int n)
{
	for (int i = 0; i < n; i++)
		assert_int_equal(audit_append_now(f->log, "uid:0", "job.start",
						  "job-x", json_pack("{s:i}",
								     "i", i),
						  NULL), 0);
}

static bool has_problem(const struct audit_report *r, uint64_t seq,
			const char *file, uint64_t line, const char *what)
{
	for (size_t i = 0; i < r->nkept; i++) {
		const struct audit_problem *p = &r->problems[i];
		if ((seq == 0 || p->seq == seq) &&
		    (!file || !strcmp(p->file, file)) &&
		    (!line || p->line == line) &&
		    (!what || strstr(p->what, what)))
			return true;
	}
	return false;
}

static void dump(const struct audit_report *r)
{
	audit_report_print(stderr, r);
}

/* Starts of verifier threads, counted so a test sees the second
 * thread was used and did not silently fall back to one. */
static int thread_starts;

static int counting_start(pthread_t *th, void *(*fn)(void *), void *arg)
{
	thread_starts++;
	return -pthread_create(th, NULL, fn, arg);
}

static int failing_start(pthread_t *th, void *(*fn)(void *), void *arg)
{
	(void)th;
	(void)fn;
	(void)arg;
	thread_starts++;
	return -EAGAIN;
}

/* The same report, problem by problem, in the same order. */
static void assert_same_report(const struct audit_report *a,
			       const struct audit_report *b)
{
	assert_int_equal(a->entries, b->entries);
	assert_int_equal(a->intact, b->intact);
	assert_int_equal(a->last_seq, b->last_seq);
	assert_int_equal(a->checkpoints, b->checkpoints);
	assert_int_equal(a->exports, b->exports);
	assert_int_equal(a->nproblems, b->nproblems);
	assert_int_equal(a->nkept, b->nkept);
	for (size_t i = 0; i < a->nkept; i++) {
		assert_int_equal(a->problems[i].seq, b->problems[i].seq);
		assert_int_equal(a->problems[i].line, b->problems[i].line);
		assert_string_equal(a->problems[i].file, b->problems[i].file);
		assert_string_equal(a->problems[i].what, b->problems[i].what);
	}
}

/*
 * Run a verifier on one thread and on two (internal.h), check that
 * both give the same answer and report, and hand back the second. The
 * store's two-thread run must really have started its thread when the
 * log has entries to share out (an export's starts one only for a file
 * with a digest to check).
 */
static int verify_both(struct fix *f, const json_t *held,
		       struct audit_report *r,
		       int (*run)(struct fix *, const json_t *,
				  struct audit_report *),
		       bool must_start)
{
	struct audit_report one;
	int rc1, rc2, starts;

	audit_par_mode = AUDIT_PAR_OFF;
	rc1 = run(f, held, &one);
	audit_par_mode = AUDIT_PAR_ON;
	audit_thread_start = counting_start;
	starts = thread_starts;
	rc2 = run(f, held, r);
	audit_par_mode = AUDIT_PAR_AUTO;
	assert_int_equal(rc1, rc2);
	assert_same_report(&one, r);
	audit_report_free(&one);
	if (must_start && r->entries > 0)
		assert_true(thread_starts > starts);
	return rc2;
}

static int verify_store_run(struct fix *f, const json_t *held,
			    struct audit_report *r)
{
	struct audit_verify_opts o = { .home = f->home, .pubkey = f->pk };

	(void)held;
	return audit_verify_store(f->st, &o, r);
}

static int verify_store(struct fix *f, struct audit_report *r)
{
	return verify_both(f, NULL, r, verify_store_run, true);
}

/* Raw LMDB access beside the store: what someone holding the files
 * (and, with reseal, the data key) can do. */
static MDB_env *raw_begin(struct fix *f, MDB_txn **txn, MDB_dbi *dbi)
{
	MDB_env *env;
	char path[128];

	close_all(f);
	snprintf(path, sizeof(path), "%s/db", f->home);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, txn), 0);
	assert_int_equal(mdb_dbi_open(*txn, "audit", 0, dbi), 0);
	return env;
}

static void raw_end(struct fix *f, MDB_env *env, MDB_txn *txn)
{
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	assert_int_equal(reopen(f), 0);
}

static void raw_swap(struct fix *f, uint64_t a, uint64_t b)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_env *env = raw_begin(f, &txn, &dbi);
	MDB_val ka, kb, va, vb;
	uint8_t keya[8], keyb[8];
	char bufa[4096], bufb[4096];

	audit_key(a, keya);
	audit_key(b, keyb);
	ka = (MDB_val){ 8, keya };
	kb = (MDB_val){ 8, keyb };
	assert_int_equal(mdb_get(txn, dbi, &ka, &va), 0);
	assert_int_equal(mdb_get(txn, dbi, &kb, &vb), 0);
	memcpy(bufa, va.mv_data, va.mv_size);
	memcpy(bufb, vb.mv_data, vb.mv_size);
	MDB_val na = { vb.mv_size, bufb }, nb = { va.mv_size, bufa };
	assert_int_equal(mdb_put(txn, dbi, &ka, &na, 0), 0);
	assert_int_equal(mdb_put(txn, dbi, &kb, &nb, 0), 0);
	raw_end(f, env, txn);
}

/* Flip one bit of the ciphertext of entry seq; a second flip undoes it. */
static void raw_flip(struct fix *f, uint64_t seq)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_env *env = raw_begin(f, &txn, &dbi);
	uint8_t key[8];
	MDB_val k = { 8, key }, v;
	struct al_buf b = { 0 };

	audit_key(seq, key);
	assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
	assert_true(v.mv_size > SEAL_OVERHEAD + 8);
	assert_int_equal(al_buf_append(&b, v.mv_data, v.mv_size), 0);
	b.p[SEAL_HEADER_LEN + 5] ^= 0x01;
	v = (MDB_val){ b.len, b.p };
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	al_buf_free(&b);
	/* The log refuses to open over an entry its anchor pins that no
	 * longer reads back (log.c); the verifiers need only the store. */
	assert_int_equal(store_open(f->home, &f->st), 0);
	if (audit_log_open(f->st, f->home, &f->pol, &f->log) != 0)
		f->log = NULL;
}

static json_t *get_entry(struct fix *f, uint64_t seq)
{
	struct store_txn *txn;
	uint8_t key[8];
	json_t *e = NULL;

	audit_key(seq, key);
	assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
	assert_int_equal(store_get_json(txn, STORE_DB_AUDIT, key, 8, &e), 0);
	store_txn_abort(txn);
	return e;
}

/* Write an entry sealed correctly, as a data-key holder could. */
static void put_entry(struct store_txn *txn, uint64_t seq, json_t *e)
{
	char hash[AUDIT_HASH_HEX_LEN + 1];
	uint8_t key[8];

	assert_int_equal(audit_entry_hash(e, hash), 0);
	json_object_set_new(e, "hash", json_string(hash));
	audit_key(seq, key);
	assert_int_equal(store_put_json(txn, STORE_DB_AUDIT, key, 8, e, 0), 0);
}

static void put_head(struct store_txn *txn, uint64_t seq, const char *hash)
{
	json_t *h = json_pack("{s:I, s:s}", "seq", (json_int_t)seq, "hash",
			      hash);
	assert_int_equal(store_put_json(txn, STORE_DB_META, AUDIT_META_HEAD,
					strlen(AUDIT_META_HEAD), h, 0), 0);
	json_decref(h);
}

/*
 * Rewrite entries from..to as a forger without the signing key would:
 * the first one's actor changed, every one re-chained to its new
 * predecessor, the head moved to the new last hash.
 */
static void rechain_suffix(struct fix *f, uint64_t from, uint64_t to)
{
	char prev[AUDIT_HASH_HEX_LEN + 1];
	struct store_txn *txn;
	json_t *e = get_entry(f, from - 1);

	al_strlcpy(prev, json_string_value(json_object_get(e, "hash")),
		   sizeof(prev));
	json_decref(e);
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	for (uint64_t s = from; s <= to; s++) {
		e = get_entry(f, s);
		if (s == from)
			json_object_set_new(e, "actor", json_string("uid:666"));
		json_object_set_new(e, "prev", json_string(prev));
		put_entry(txn, s, e);
		al_strlcpy(prev, json_string_value(json_object_get(e, "hash")),
			   sizeof(prev));
		json_decref(e);
	}
	put_head(txn, to, prev);
	assert_int_equal(store_txn_commit(txn), 0);
}

/* --- the store --- */

static void test_store_intact(void **state)
{
	struct fix *f = *state;
	struct audit_report r;

	append_n(f, 35);
	assert_int_equal(verify_store(f, &r), 0);
	assert_int_equal(r.intact, 35);
	/* One at open (seq 0), then at 10, 20, 30. */
	assert_int_equal(r.checkpoints, 4);
	audit_report_free(&r);
}

static void test_store_swapped(void **state)
{
	struct fix *f = *state;
	struct audit_report r;

	append_n(f, 30);
	raw_swap(f, 12, 13);
	assert_int_equal(verify_store(f, &r), AL_E_CHAIN);
	if (!has_problem(&r, 12, NULL, 0, "unseal") ||
	    !has_problem(&r, 13, NULL, 0, "unseal"))
		dump(&r);
	assert_true(has_problem(&r, 12, NULL, 0, "unseal"));
	assert_true(has_problem(&r, 13, NULL, 0, "unseal"));
	/* Nothing else lost: 28 entries still check out. */
	assert_int_equal(r.intact, 28);
	audit_report_free(&r);
}

static void test_store_replaced(void **state)
{
	struct fix *f = *state;
	struct store_txn *txn;
	struct audit_report r;
	json_t *e;

	/* Entry 16 rewritten with the data key and its own hash redone:
	 * the link from 17 breaks (16 or 17 was altered). */
	append_n(f, 30);
	e = get_entry(f, 16);
	json_object_set_new(e, "action", json_string("job.cancel"));
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	put_entry(txn, 16, e);
	assert_int_equal(store_txn_commit(txn), 0);
	json_decref(e);
	assert_int_equal(verify_store(f, &r), AL_E_CHAIN);
	assert_true(has_problem(&r, 17, NULL, 0, "prev does not match"));
	assert_int_equal(r.nproblems, 1);
	assert_int_equal(r.intact, 29);
	audit_report_free(&r);
}

static void test_store_inserted(void **state)
{
	struct fix *f = *state;
	struct store_txn *txn;
	struct audit_report r;
	json_t *e;

	/* A forged entry inserted at 16, 16..30 moved up by one and
	 * sealed again for their new slots, the head moved to 31. */
	append_n(f, 30);
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	for (uint64_t s = 30; s >= 16; s--) {
		uint8_t key[8];
		e = get_entry(f, s);
		audit_key(s + 1, key);
		assert_int_equal(store_put_json(txn, STORE_DB_AUDIT, key, 8, e,
						0), 0);
		if (s == 30)
			put_head(txn, 31, json_string_value(
					 json_object_get(e, "hash")));
		if (s == 16) {
			json_object_set_new(e, "actor", json_string("uid:666"));
			put_entry(txn, 16, e);
		}
		json_decref(e);
	}
	assert_int_equal(store_txn_commit(txn), 0);
	assert_int_equal(verify_store(f, &r), AL_E_CHAIN);
	if (!has_problem(&r, 17, NULL, 0, "differs from its record key"))
		dump(&r);
	assert_true(has_problem(&r, 17, NULL, 0, "differs from its record key"));
	assert_true(has_problem(&r, 11, NULL, 0, "entries 11 to 20 were "
				"rewritten"));
	audit_report_free(&r);
}

/*
 * A suffix rewritten from seq 23 on and re-chained to the end with a
 * consistent head: the chain looks whole, only the signed checkpoints
 * (at 30) catch it, and say where the rewrite can have begun.
 */
static void test_store_rechained_suffix(void **state)
{
	struct fix *f = *state;
	struct audit_report r;

	append_n(f, 30);
	rechain_suffix(f, 23, 30);

	assert_int_equal(verify_store(f, &r), AL_E_CHAIN);
	if (r.nproblems != 2)
		dump(&r);
	assert_true(has_problem(&r, 21, NULL, 0,
				"entries 21 to 30 were rewritten"));
	assert_true(has_problem(&r, 30, NULL, 0, "anchor"));
	assert_int_equal(r.nproblems, 2);
	audit_report_free(&r);
}

/* The newest entries removed and the head rewritten to match. */
static void truncate_to(struct fix *f, uint64_t keep, uint64_t last)
{
	struct store_txn *txn;
	uint8_t key[8];
	json_t *e = get_entry(f, keep);

	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	for (uint64_t s = keep + 1; s <= last; s++) {
		audit_key(s, key);
		assert_int_equal(store_del(txn, STORE_DB_AUDIT, key, 8), 0);
	}
	put_head(txn, keep, json_string_value(json_object_get(e, "hash")));
	assert_int_equal(store_txn_commit(txn), 0);
	json_decref(e);
}

static void test_store_truncated(void **state)
{
	struct fix *f = *state;
	struct audit_report r;

	append_n(f, 30);
	truncate_to(f, 25, 30);
	assert_int_equal(verify_store(f, &r), AL_E_CHAIN);
	assert_true(has_problem(&r, 26, NULL, 0, "pins seq 30 but the log "
				"ends at 25"));
	assert_int_equal(r.intact, 25);
	audit_report_free(&r);
}

/* Truncated and the checkpoints past the cut deleted too: the anchor
 * file outside the store still holds the newest checkpoint. */
static void test_store_truncated_with_checkpoints(void **state)
{
	struct fix *f = *state;
	struct store_txn *txn;
	struct audit_report r;
	uint8_t key[8];

	append_n(f, 30);
	close_all(f); /* the anchor now holds checkpoint 4 (seq 30) */
	assert_int_equal(reopen(f), 0);
	truncate_to(f, 25, 30);
	audit_key(4, key);
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(store_del(txn, STORE_DB_CHECKPOINTS, key, 8), 0);
	assert_int_equal(store_txn_commit(txn), 0);

	assert_int_equal(verify_store(f, &r), AL_E_CHAIN);
	if (!has_problem(&r, 26, NULL, 0, "rolled back"))
		dump(&r);
	assert_true(has_problem(&r, 26, NULL, 0, "rolled back or truncated"));
	audit_report_free(&r);

	/* And the writer refuses to go on from there. */
	close_all(f);
	assert_int_equal(reopen(f), AL_E_ROLLBACK);
}

static int copy_file(const char *from, const char *to)
{
	struct al_buf b = { 0 };
	int rc = al_read_file(from, 1u << 30, &b);
	FILE *o = rc ? NULL : fopen(to, "w");

	if (o) {
		rc = fwrite(b.p, 1, b.len, o) == b.len ? 0 : -EIO;
		fclose(o);
	}
	al_buf_free(&b);
	return o ? rc : -EIO;
}

/* The whole database replaced by an older copy of itself. */
static void test_store_rolled_back(void **state)
{
	struct fix *f = *state;
	char db[128], old[128];
	struct audit_export_info info;
	struct audit_report r;

	snprintf(db, sizeof(db), "%s/db/data.mdb", f->home);
	snprintf(old, sizeof(old), "%s/old.mdb", f->home);
	append_n(f, 12);
	close_all(f);
	assert_int_equal(copy_file(db, old), 0);
	assert_int_equal(reopen(f), 0);
	append_n(f, 12);
	assert_int_equal(audit_export(f->log, NULL, "uid:0", &info), 0);
	close_all(f);

	assert_int_equal(copy_file(old, db), 0);
	assert_int_equal(store_open(f->home, &f->st), 0);
	assert_int_equal(verify_store(f, &r), AL_E_CHAIN);
	assert_true(has_problem(&r, 0, NULL, 0, "anchor"));
	assert_true(has_problem(&r, 0, NULL, 0, "the last export"));
	assert_int_equal(r.intact, 12);
	audit_report_free(&r);
	assert_int_equal(audit_log_open(f->st, f->home, &f->pol, &f->log),
			 AL_E_ROLLBACK);

	/* The anchor alone is enough; so is the export alone. */
	char anchor[128];
	snprintf(anchor, sizeof(anchor), "%s/" AUDIT_ANCHOR_FILE, f->home);
	assert_int_equal(unlink(anchor), 0);
	assert_int_equal(audit_log_open(f->st, f->home, &f->pol, &f->log),
			 AL_E_ROLLBACK);
}

static void test_store_wrong_key(void **state)
{
	struct fix *f = *state;
	char key[128];

	/* A replaced signing key would let its holder re-sign the log. */
	append_n(f, 3);
	close_all(f);
	snprintf(key, sizeof(key), "%s/" AUDIT_KEY_FILE, f->home);
	assert_int_equal(unlink(key), 0);
	assert_int_equal(store_open(f->home, &f->st), 0);
	assert_int_equal(audit_log_open(f->st, f->home, &f->pol, &f->log),
			 AL_E_AUTH);
}

static void test_store_replaced_key(void **state)
{
	struct fix *f = *state;
	unsigned char seed[32];
	char key[128];
	FILE *o;

	append_n(f, 3);
	close_all(f);
	snprintf(key, sizeof(key), "%s/" AUDIT_KEY_FILE, f->home);
	memset(seed, 0x5a, sizeof(seed));
	o = fopen(key, "w");
	assert_non_null(o);
	assert_int_equal(fwrite(seed, 1, sizeof(seed), o), sizeof(seed));
	fclose(o);
	/* The anchor, signed by the old key, would also refuse: remove it
	 * so that the key id check stands alone. */
	snprintf(key, sizeof(key), "%s/" AUDIT_ANCHOR_FILE, f->home);
	assert_int_equal(unlink(key), 0);
	assert_int_equal(store_open(f->home, &f->st), 0);
	assert_int_equal(audit_log_open(f->st, f->home, &f->pol, &f->log),
			 AL_E_AUTH);
}

/* A checkpoint altered in the store without the signing key. */
static void test_store_forged_checkpoint(void **state)
{
	struct fix *f = *state;
	struct store_txn *txn;
	struct audit_report r;
	struct al_buf v = { 0 };
	uint8_t key[8];
	json_t *cp;

	append_n(f, 30);
	audit_key(3, key);
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(store_get_raw(txn, STORE_DB_CHECKPOINTS, key, 8, &v),
			 0);
	cp = json_loadb(v.p, v.len, 0, NULL);
	json_object_set_new(cp, "seq", json_integer(19));
	char *text = json_dumps(cp, JSON_COMPACT | JSON_SORT_KEYS);
	assert_int_equal(store_put_raw(txn, STORE_DB_CHECKPOINTS, key, 8, text,
				       strlen(text)), 0);
	assert_int_equal(store_txn_commit(txn), 0);
	free(text);
	json_decref(cp);
	al_buf_free(&v);

	assert_int_equal(verify_store(f, &r), AL_E_CHAIN);
	assert_true(has_problem(&r, 0, NULL, 0, "checkpoint 3: signature "
				"does not verify"));
	assert_int_equal(r.intact, 30);
	audit_report_free(&r);
}

/* Replace checkpoint n's stored text (NULL: delete it). */
static void put_cp_text(struct fix *f, uint64_t n, const char *text)
{
	struct store_txn *txn;
	uint8_t key[8];

	audit_key(n, key);
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	if (text)
		assert_int_equal(store_put_raw(txn, STORE_DB_CHECKPOINTS, key,
					       8, text, strlen(text)), 0);
	else
		assert_int_equal(store_del(txn, STORE_DB_CHECKPOINTS, key, 8),
				 0);
	assert_int_equal(store_txn_commit(txn), 0);
}

/*
 * The checkpoints are checked in chunks of 32, the odd ones of each by
 * the second thread (verify.c). 32 of them fill one chunk exactly (the
 * next is empty); 111, four chunks: a forged one checked by each
 * thread, one missing, one that is not JSON, in different chunks;
 * verify_store checks the two-thread report against the one-thread
 * report, problem for problem.
 */
static void test_store_par_checkpoints(void **state)
{
	struct fix *f = *state;
	struct audit_report r;
	struct store_txn *txn;
	struct al_buf v = { 0 };
	uint8_t key[8];

	append_n(f, 310);
	assert_int_equal(verify_store(f, &r), 0);
	assert_int_equal(r.checkpoints, 32);
	audit_report_free(&r);
	append_n(f, 790);
	assert_int_equal(verify_store(f, &r), 0);
	assert_int_equal(r.checkpoints, 111);
	audit_report_free(&r);
	for (uint64_t n = 33; n <= 34; n++) {
		json_t *cp;
		char *text;

		audit_key(n, key);
		assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
		assert_int_equal(store_get_raw(txn, STORE_DB_CHECKPOINTS, key,
					       8, &v), 0);
		store_txn_abort(txn);
		cp = json_loadb(v.p, v.len, 0, NULL);
		json_object_set_new(cp, "time", json_string(
					    "2020-01-01T00:00:00.000Z"));
		text = json_dumps(cp, JSON_COMPACT | JSON_SORT_KEYS);
		put_cp_text(f, n, text);
		free(text);
		json_decref(cp);
	}
	al_buf_free(&v);
	put_cp_text(f, 70, NULL);
	put_cp_text(f, 101, "{not json");
	assert_int_equal(verify_store(f, &r), AL_E_CHAIN);
	assert_true(has_problem(&r, 0, NULL, 0, "checkpoint 33: signature"));
	assert_true(has_problem(&r, 0, NULL, 0, "checkpoint 34: signature"));
	assert_true(has_problem(&r, 0, NULL, 0, "checkpoints 70 to 70 are "
				"missing"));
	assert_true(has_problem(&r, 0, NULL, 0, "checkpoint 101: not JSON"));
	assert_int_equal(r.checkpoints, 107);
	assert_int_equal(r.intact, 1100);
	audit_report_free(&r);
}

/* --- checkpoint policy --- */

/* n entries in batches of 100 (one sync each), details padded to pad. */
static void append_batches(struct fix *f, int n, size_t pad)
{
	struct audit_rec recs[100];
	char *fill = malloc(pad + 1);

	assert_non_null(fill);
	memset(fill, 'p', pad);
	fill[pad] = '\0';
	for (int done = 0; done < n; done += 100) {
		int k = n - done < 100 ? n - done : 100;
		for (int i = 0; i < k; i++)
			recs[i] = (struct audit_rec){
				"uid:0", "proxy.allow", "registry.test:443",
				json_pack("{s:i, s:s}", "i", done + i, "pad",
					  fill)
			};
		assert_int_equal(audit_append_batch(f->log, recs, (size_t)k,
						    NULL), 0);
	}
	free(fill);
}

/* The first seq a report blames (what the CLI prints as broken_at). */
static uint64_t first_bad(const struct audit_report *r)
{
	uint64_t first = 0;

	for (size_t i = 0; i < r->nkept; i++)
		if (r->problems[i].seq &&
		    (!first || r->problems[i].seq < first))
			first = r->problems[i].seq;
	return first;
}

/* audit_verify (the daemon's check) on one thread and on two. */
static void assert_daemon_verify(struct fix *f, uint64_t bad)
{
	uint64_t count[2], seq[2];
	int rc[2];

	for (int i = 0; i < 2; i++) {
		audit_par_mode = i ? AUDIT_PAR_ON : AUDIT_PAR_OFF;
		rc[i] = audit_verify(f->st, &count[i], &seq[i]);
	}
	audit_par_mode = AUDIT_PAR_AUTO;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(rc[i], bad ? AL_E_CHAIN : 0);
		assert_int_equal(seq[i], bad);
		if (bad)
			assert_int_equal(count[i], bad - 1);
	}
}

/*
 * The walk on two threads hands entries over in blocks of up to 256
 * through a ring of 4 (verify.c): a log of 1 100 entries fills the
 * ring more than once, and an entry that fails to unseal is reported
 * at its own seq whether it is the first, either side of a block's
 * edge, in the middle or the last; verify_store checks that one thread
 * reports exactly the same.
 */
static void test_store_par_positions(void **state)
{
	static const uint64_t at[] = { 1, 256, 257, 700, 1024, 1025, 1100 };
	struct fix *f = *state;
	struct audit_report r;

	append_batches(f, 1100, 16);
	assert_int_equal(verify_store(f, &r), 0);
	assert_int_equal(r.intact, 1100);
	audit_report_free(&r);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		raw_flip(f, at[i]);
		assert_int_equal(verify_store(f, &r), AL_E_CHAIN);
		if (first_bad(&r) != at[i])
			dump(&r);
		assert_int_equal(first_bad(&r), at[i]);
		assert_true(has_problem(&r, at[i], NULL, 0, "unseal"));
		assert_int_equal(r.entries, 1100);
		assert_int_equal(r.intact, 1099);
		audit_report_free(&r);
		assert_daemon_verify(f, at[i]);
		raw_flip(f, at[i]);
	}
	assert_daemon_verify(f, 0);
}

/*
 * Entries of 20 KiB close a block by its bytes (128 KiB) before its
 * count, and grow slot buffers past what a slot keeps between blocks:
 * the same report either way, the bad entry at its seq.
 */
static void test_store_par_big_entries(void **state)
{
	struct fix *f = *state;
	struct audit_report r;

	append_batches(f, 40, 20 * 1024);
	assert_int_equal(verify_store(f, &r), 0);
	assert_int_equal(r.intact, 40);
	audit_report_free(&r);
	raw_flip(f, 23);
	assert_int_equal(verify_store(f, &r), AL_E_CHAIN);
	assert_int_equal(first_bad(&r), 23);
	assert_int_equal(r.intact, 39);
	audit_report_free(&r);
}

/* Put a raw record (not sealed: it fails to unseal) under any key. */
static void raw_put(struct fix *f, const void *key, size_t keylen)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_env *env = raw_begin(f, &txn, &dbi);
	char junk[64];
	MDB_val k = { keylen, (void *)key }, v = { sizeof(junk), junk };

	memset(junk, 'j', sizeof(junk));
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	raw_end(f, env, txn);
}

static void raw_del(struct fix *f, uint64_t from, uint64_t to)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_env *env = raw_begin(f, &txn, &dbi);
	uint8_t key[8];

	for (uint64_t s = from; s <= to; s++) {
		MDB_val k = { 8, key };
		audit_key(s, key);
		assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
	}
	raw_end(f, env, txn);
}

/*
 * On two threads the log is cut into blocks of 256 seqs by key, the even
 * ones opened by the first thread and the odd ones by the second
 * (verify.c). Records deleted across a block's edge, keys that are not
 * 8 bytes at the ends of blocks, a block without records, the next one
 * beginning at its last seq or with a short key, keys far past the end
 * (up to the last possible): each time verify_store checks that two
 * threads give the one-thread report, problem for problem, and the
 * first problem is where it should be.
 */
static void test_store_par_lanes(void **state)
{
	static const uint8_t k7[7] = { 0, 0, 0, 0, 0, 0, 1 };
	static const uint8_t k7b[7] = { 0, 0, 0, 0, 0, 0, 4 };
	struct fix *f = *state;
	struct audit_report r;
	uint8_t k9[9] = { 0 }, k8[8];

	append_batches(f, 1100, 16);
	raw_del(f, 250, 255);
	raw_del(f, 258, 262);
	assert_int_equal(verify_store(f, &r), AL_E_CHAIN);
	assert_true(has_problem(&r, 250, NULL, 0, "250 to 255 are missing"));
	assert_true(has_problem(&r, 258, NULL, 0, "258 to 262 are missing"));
	assert_int_equal(r.entries, 1089);
	audit_report_free(&r);

	raw_put(f, k7, sizeof(k7)); /* just before seq 256 */
	audit_key(256, k9);
	k9[8] = 1;                  /* after 256: the last of block 0 */
	raw_put(f, k9, sizeof(k9));
	audit_key(512, k9);         /* after 512: the last of block 1 */
	raw_put(f, k9, sizeof(k9));
	assert_int_equal(verify_store(f, &r), AL_E_CHAIN);
	assert_true(has_problem(&r, 0, NULL, 0, "record key is not a seq"));
	assert_int_equal(first_bad(&r), 250);
	assert_int_equal(r.entries, 1092);
	audit_report_free(&r);

	/*
	 * Block 2 (the first thread's) empty, block 3 beginning at its last
	 * seq: the second thread finds it after block 1, the first must
	 * not look for it in block 4. Then a short key before it.
	 */
	raw_del(f, 513, 1023);
	assert_int_equal(verify_store(f, &r), AL_E_CHAIN);
	assert_true(has_problem(&r, 514, NULL, 0, "514 to 1023 are missing"));
	assert_int_equal(r.entries, 1092 - 511);
	audit_report_free(&r);
	raw_put(f, k7b, sizeof(k7b)); /* between seq 1023 and 1024 */
	assert_int_equal(verify_store(f, &r), AL_E_CHAIN);
	assert_true(has_problem(&r, 514, NULL, 0, "record key is not a seq"));
	assert_true(has_problem(&r, 515, NULL, 0, "515 to 1023 are missing"));
	assert_int_equal(first_bad(&r), 250);
	assert_int_equal(r.entries, 1092 - 511 + 1);
	audit_report_free(&r);

	audit_key((uint64_t)1 << 40, k8);
	raw_put(f, k8, sizeof(k8));
	audit_key(UINT64_MAX, k8);
	raw_put(f, k8, sizeof(k8));
	assert_int_equal(verify_store(f, &r), AL_E_CHAIN);
	assert_true(has_problem(&r, (uint64_t)1 << 40, NULL, 0, "unseal"));
	assert_true(has_problem(&r, UINT64_MAX, NULL, 0, "unseal"));
	assert_int_equal(r.entries, 1092 - 511 + 3);
	audit_report_free(&r);
}

/*
 * A suffix re-chained from seq 600 (block 2) to 1100 (block 4): the
 * checkpoints' positions cross from one thread's blocks to the other's.
 */
static void test_store_par_rechained(void **state)
{
	struct fix *f = *state;
	struct audit_report r;

	append_batches(f, 1100, 16);
	rechain_suffix(f, 600, 1100);
	/* Checkpoints at every batch of 100: 500 (block 1) is the last
	 * that holds, 600 (block 2) the first that does not. */
	assert_int_equal(verify_store(f, &r), AL_E_CHAIN);
	assert_true(has_problem(&r, 501, NULL, 0,
				"entries 501 to 600 were rewritten"));
	assert_true(has_problem(&r, 501, NULL, 0,
				"entries 501 to 1100 were rewritten"));
	assert_int_equal(first_bad(&r), 501);
	audit_report_free(&r);
}

/*
 * The two threads read through two transactions, which must see one
 * snapshot. A writer that commits between their begins (here, the
 * test's own append) would give the second thread an entry the first
 * and the head check do not see; the verifier begins both again. If
 * that never stops, it verifies on one thread.
 */
static struct fix *race_fix;
static int race_calls, race_every, race_appends;

static int racing_begin(struct store *st, bool write, struct store_txn **out)
{
	if (++race_calls % 2 == 0 && (race_every || race_calls == 2)) {
		append_n(race_fix, 1);
		race_appends++;
	}
	return store_txn_begin(st, write, out);
}

static void test_store_par_snapshot(void **state)
{
	struct fix *f = *state;
	struct audit_report r;
	int starts = thread_starts;

	append_batches(f, 300, 16);
	race_fix = f;
	race_calls = 0;
	race_every = 0;
	audit_txn_begin = racing_begin;
	audit_par_mode = AUDIT_PAR_ON;
	audit_thread_start = counting_start;
	if (verify_store_run(f, NULL, &r) != 0)
		dump(&r);
	/* The checkpoints' helper and the second lane. */
	assert_int_equal(race_calls, 4);
	assert_int_equal(thread_starts, starts + 2);
	assert_int_equal(r.nproblems, 0);
	assert_int_equal(r.intact, 301);
	audit_report_free(&r);

	race_calls = race_appends = 0;
	race_every = 1;
	assert_int_equal(verify_store_run(f, NULL, &r), 0);
	/* The checkpoints' helper only. */
	assert_int_equal(thread_starts, starts + 3);
	assert_true(race_appends > 1);
	assert_int_equal(r.intact, 301 + race_appends);
	audit_report_free(&r);
	audit_txn_begin = store_txn_begin;
	audit_par_mode = AUDIT_PAR_AUTO;
}

static void test_policy(void **state)
{
	struct audit_policy p = { 100, 60000 };
	struct audit_cp last = { .n = 3, .seq = 500, .time_ms = 1000000 };
	char err[256];

	(void)state;
	assert_true(audit_cp_due(&p, NULL, 0, 0));
	assert_false(audit_cp_due(&p, &last, 599, 1059999));
	assert_true(audit_cp_due(&p, &last, 600, 1000000));
	/* Nothing happened, but time passed: due all the same. */
	assert_true(audit_cp_due(&p, &last, 500, 1060000));
	p = (struct audit_policy){ 0, 0 };
	assert_false(audit_cp_due(&p, &last, 1u << 30, INT64_MAX / 2));

	assert_int_equal(audit_policy_set(&p, "audit_checkpoint_entries",
					  "250"), 0);
	assert_int_equal(p.every_n, 250);
	assert_int_equal(audit_policy_set(&p, "audit_checkpoint_minutes",
					  "5"), 0);
	assert_int_equal(p.every_ms, 300000);
	assert_int_not_equal(audit_policy_set(&p, "audit_checkpoint_minutes",
					      "-1"), 0);
	assert_int_equal(audit_policy_set(&p, "audit_bogus", "1"),
			 AL_E_NOTFOUND);
	assert_int_equal(audit_policy_load("/nonexistent", &p, err,
					   sizeof(err)), 0);
	assert_int_equal(p.every_n, AUDIT_DEFAULT_EVERY_N);
}

static void test_checkpoint_by_time(void **state)
{
	struct fix *f = *state;
	bool taken = true;
	struct audit_report r;

	/* Nothing appended: not due by count, and time is off. */
	assert_int_equal(audit_checkpoint(f->log, false, &taken, NULL), 0);
	assert_false(taken);
	close_all(f);
	f->pol.every_ms = 1;
	usleep(5000);
	/* Opening ticks the policy: due by time with nothing new. */
	assert_int_equal(reopen(f), 0);
	assert_int_equal(verify_store(f, &r), 0);
	assert_int_equal(r.checkpoints, 2);
	audit_report_free(&r);
}

/* --- exports --- */

static void export_three(struct fix *f)
{
	struct audit_export_info info;

	append_n(f, 7);
	assert_int_equal(audit_export(f->log, NULL, "uid:0", &info), 0);
	assert_int_equal(info.n, 1);
	assert_int_equal(info.first, 1);
	assert_int_equal(info.last, 8); /* 7 and the export's own entry */
	append_n(f, 5);
	assert_int_equal(audit_export(f->log, NULL, "uid:0", &info), 0);
	assert_int_equal(info.first, 9);
	assert_int_equal(info.last, 14);
	assert_int_equal(audit_export(f->log, NULL, "uid:0", &info), 0);
	assert_int_equal(info.n, 3);
	assert_int_equal(info.first, 15);
	assert_int_equal(info.last, 15);
}

static int verify_exp_run(struct fix *f, const json_t *held,
			  struct audit_report *r)
{
	return audit_verify_exports(f->exp, f->pk, held, r);
}

static int verify_exp(struct fix *f, const json_t *held,
		      struct audit_report *r)
{
	return verify_both(f, held, r, verify_exp_run, false);
}

static void path_of(struct fix *f, const char *name, char *out, size_t sz)
{
	snprintf(out, sz, "%s/%s", f->exp, name);
}

/* Rewrite one line of an export file through fn. */
static void edit_file(struct fix *f, const char *name,
		      void (*fn)(struct al_buf *b, void *ctx), void *ctx)
{
	char path[256];
	struct al_buf b = { 0 };
	FILE *o;

	path_of(f, name, path, sizeof(path));
	assert_int_equal(al_read_file(path, 1 << 20, &b), 0);
	fn(&b, ctx);
	o = fopen(path, "w");
	assert_non_null(o);
	assert_int_equal(fwrite(b.p, 1, b.len, o), b.len);
	fclose(o);
	al_buf_free(&b);
}

/* Offsets of the lines of b (at most 64). */
static size_t lines_of(struct al_buf *b, size_t *off)
{
	size_t n = 0;

	off[n++] = 0;
	for (size_t i = 0; i + 1 < b->len && n < 64; i++)
		if (b->p[i] == '\n')
			off[n++] = i + 1;
	return n;
}

static void flip_line3(struct al_buf *b, void *ctx)
{
	size_t off[64];

	lines_of(b, off);
	b->p[off[2] + 30] ^= 0x04;
}

static void swap_lines_2_3(struct al_buf *b, void *ctx)
{
	size_t off[64], n = lines_of(b, off);
	struct al_buf o = { 0 };

	assert_true(n >= 4);
	al_buf_append(&o, b->p, off[1]);
	al_buf_append(&o, b->p + off[2], off[3] - off[2]);
	al_buf_append(&o, b->p + off[1], off[2] - off[1]);
	al_buf_append(&o, b->p + off[3], b->len - off[3]);
	b->len = 0;
	al_buf_append(b, o.p, o.len);
	al_buf_free(&o);
}

static void delete_line_4(struct al_buf *b, void *ctx)
{
	size_t off[64];

	lines_of(b, off);
	memmove(b->p + off[3], b->p + off[4], b->len - off[4]);
	b->len -= off[4] - off[3];
}

static void dup_line_2(struct al_buf *b, void *ctx)
{
	size_t off[64];
	struct al_buf o = { 0 };

	lines_of(b, off);
	al_buf_append(&o, b->p, off[2]);
	al_buf_append(&o, b->p + off[1], b->len - off[1]);
	b->len = 0;
	al_buf_append(b, o.p, o.len);
	al_buf_free(&o);
}

/*
 * When the second thread cannot start, both verifiers go on with one
 * and give the same answers (the starts were tried: thread_starts; the
 * store's verifier tries one for the checkpoints, one for the entries).
 */
static void test_par_thread_fails(void **state)
{
	int (*saved)(pthread_t *, void *(*)(void *), void *) =
		audit_thread_start;
	struct fix *f = *state;
	struct audit_verify_opts o = { .home = f->home, .pubkey = f->pk };
	struct audit_export_info info;
	struct audit_report r;
	int starts;

	append_batches(f, 300, 16);
	assert_int_equal(audit_export(f->log, NULL, "uid:0", &info), 0);
	audit_thread_start = failing_start;
	audit_par_mode = AUDIT_PAR_ON;
	starts = thread_starts;
	assert_int_equal(audit_verify_store(f->st, &o, &r), 0);
	assert_int_equal(r.intact, 301);
	audit_report_free(&r);
	assert_int_equal(audit_verify_exports(f->exp, f->pk, NULL, &r), 0);
	assert_int_equal(r.intact, 301);
	audit_report_free(&r);
	assert_int_equal(thread_starts, starts + 3);

	edit_file(f, "00000001.jsonl", flip_line3, NULL);
	raw_flip(f, 150);
	assert_int_equal(audit_verify_store(f->st, &o, &r), AL_E_CHAIN);
	assert_int_equal(first_bad(&r), 150);
	assert_int_equal(r.intact, 300);
	audit_report_free(&r);
	assert_int_equal(audit_verify_exports(f->exp, f->pk, NULL, &r),
			 AL_E_CHAIN);
	assert_true(has_problem(&r, 0, "00000001.jsonl", 0, "SHA-256"));
	assert_true(has_problem(&r, 0, "00000001.jsonl", 3, NULL));
	audit_report_free(&r);
	audit_par_mode = AUDIT_PAR_AUTO;
	audit_thread_start = saved;
}

static void test_export_continuity(void **state)
{
	struct fix *f = *state;
	struct audit_report r;

	export_three(f);
	assert_int_equal(verify_exp(f, NULL, &r), 0);
	assert_int_equal(r.exports, 3);
	assert_int_equal(r.intact, 15);
	audit_report_free(&r);
	/* The exporter checked the store: it matches too. */
	assert_int_equal(verify_store(f, &r), 0);
	audit_report_free(&r);
}

/* An export of several times the verifier's 64 KiB hashing step: the
 * file hash computed alongside the lines matches the signed one, and a
 * byte changed far into the file still shows in it. */
static void flip_last_line(struct al_buf *b, void *ctx)
{
	char *last = b->p + b->len - 2;

	(void)ctx;
	while (last > b->p && last[-1] != '\n')
		last--;
	last[40] ^= 0x01;
}

static void test_export_large(void **state)
{
	struct fix *f = *state;
	struct audit_export_info info;
	struct audit_report r;
	struct audit_rec recs[100];

	for (int k = 0; k < 12; k++) {
		for (int i = 0; i < 100; i++)
			recs[i] = (struct audit_rec){
				"uid:0", "proxy.allow", "registry.test:443",
				json_pack("{s:i, s:s}", "i", k * 100 + i, "pad",
					  "0123456789abcdef0123456789abcdef"
					  "0123456789abcdef0123456789abcdef")
			};
		assert_int_equal(audit_append_batch(f->log, recs, 100, NULL),
				 0);
	}
	assert_int_equal(audit_export(f->log, NULL, "uid:0", &info), 0);
	assert_int_equal(info.last, 1201);
	assert_int_equal(verify_exp(f, NULL, &r), 0);
	assert_int_equal(r.intact, 1201);
	audit_report_free(&r);

	edit_file(f, "00000001.jsonl", flip_last_line, NULL);
	assert_int_equal(verify_exp(f, NULL, &r), AL_E_CHAIN);
	assert_true(has_problem(&r, 0, "00000001.jsonl", 0, "SHA-256"));
	assert_true(has_problem(&r, 0, "00000001.jsonl", 1201, NULL));
	audit_report_free(&r);
}

static void test_export_flipped_byte(void **state)
{
	struct fix *f = *state;
	struct audit_report r;

	export_three(f);
	edit_file(f, "00000002.jsonl", flip_line3, NULL);
	assert_int_equal(verify_exp(f, NULL, &r), AL_E_CHAIN);
	if (!has_problem(&r, 11, "00000002.jsonl", 3, NULL))
		dump(&r);
	assert_true(has_problem(&r, 11, "00000002.jsonl", 3, NULL));
	assert_true(has_problem(&r, 0, "00000002.jsonl", 0, "SHA-256"));
	assert_true(r.intact >= 13);
	audit_report_free(&r);
}

static void test_export_swapped_deleted_inserted(void **state)
{
	struct fix *f = *state;
	struct audit_report r;

	export_three(f);
	edit_file(f, "00000001.jsonl", swap_lines_2_3, NULL);
	edit_file(f, "00000002.jsonl", delete_line_4, NULL);
	assert_int_equal(verify_exp(f, NULL, &r), AL_E_CHAIN);
	if (!has_problem(&r, 2, "00000001.jsonl", 2, "missing"))
		dump(&r);
	assert_true(has_problem(&r, 2, "00000001.jsonl", 2, "missing"));
	assert_true(has_problem(&r, 2, "00000001.jsonl", 3, "again"));
	assert_true(has_problem(&r, 12, "00000002.jsonl", 4, "missing"));
	audit_report_free(&r);
}

static void test_export_inserted(void **state)
{
	struct fix *f = *state;
	struct audit_report r;

	export_three(f);
	edit_file(f, "00000001.jsonl", dup_line_2, NULL);
	assert_int_equal(verify_exp(f, NULL, &r), AL_E_CHAIN);
	assert_true(has_problem(&r, 2, "00000001.jsonl", 3, "again"));
	assert_true(has_problem(&r, 0, "00000001.jsonl", 0, "SHA-256"));
	assert_int_equal(r.intact, 15);
	audit_report_free(&r);
}

static void test_export_replaced_by_older(void **state)
{
	struct fix *f = *state;
	char a[256], b[256];
	struct audit_report r;

	export_three(f);
	path_of(f, "00000002.jsonl", a, sizeof(a));
	path_of(f, "00000003.jsonl", b, sizeof(b));
	assert_int_equal(copy_file(a, b), 0);
	path_of(f, "00000002.digest.json", a, sizeof(a));
	path_of(f, "00000003.digest.json", b, sizeof(b));
	assert_int_equal(copy_file(a, b), 0);
	assert_int_equal(verify_exp(f, NULL, &r), AL_E_CHAIN);
	assert_true(has_problem(&r, 0, "00000003.digest.json", 0,
				"says it is export 2"));
	assert_true(has_problem(&r, 9, "00000003.jsonl", 1, "again"));
	audit_report_free(&r);
}

/* The newest export removed: only the auditor's checkpoint says so. */
static void test_export_truncated(void **state)
{
	struct fix *f = *state;
	char a[256];
	struct audit_report r;
	json_t *held = NULL;

	export_three(f);
	path_of(f, "00000003.digest.json", a, sizeof(a));
	held = json_load_file(a, 0, NULL);
	assert_non_null(held);
	assert_int_equal(unlink(a), 0);
	path_of(f, "00000003.jsonl", a, sizeof(a));
	assert_int_equal(unlink(a), 0);

	assert_int_equal(verify_exp(f, NULL, &r), 0);
	audit_report_free(&r);
	assert_int_equal(verify_exp(f, held, &r), AL_E_CHAIN);
	assert_true(has_problem(&r, 15, NULL, 0, "exports end at seq 14"));
	assert_int_equal(r.intact, 14);
	audit_report_free(&r);
	json_decref(held);
}

/* A digest re-signed with another Ed25519 key. */
static void test_export_resigned(void **state)
{
	struct fix *f = *state;
	char a[256], otherhome[128], sig[AUDIT_SIG_HEX + 1];
	struct audit_signer *other;
	struct audit_report r;
	struct al_buf body = { 0 };
	json_t *d;

	export_three(f);
	snprintf(otherhome, sizeof(otherhome), "%s/other", f->home);
	assert_int_equal(al_mkdir_p(otherhome, 0700), 0);
	snprintf(a, sizeof(a), "%s/keys", otherhome);
	assert_int_equal(al_mkdir_p(a, 0700), 0);
	assert_int_equal(audit_signer_load(otherhome, true, &other), 0);

	path_of(f, "00000002.digest.json", a, sizeof(a));
	d = json_load_file(a, 0, NULL);
	json_object_set_new(d, "count", json_integer(5));
	json_object_set_new(d, "key",
			    json_string(audit_signer_key_id(other)));
	assert_int_equal(audit_signed_body(d, &body, NULL), 0);
	assert_int_equal(audit_sign(other, body.p, body.len, sig), 0);
	json_object_set_new(d, "sig", json_string(sig));
	assert_int_equal(json_dump_file(d, a, JSON_COMPACT), 0);

	assert_int_equal(verify_exp(f, NULL, &r), AL_E_CHAIN);
	assert_true(has_problem(&r, 0, "00000002.digest.json", 0,
				"not by the given key"));
	/* The entries themselves still check out and are counted. */
	assert_int_equal(r.intact, 15);
	audit_report_free(&r);

	/* Claiming the right key id does not help either. */
	json_object_set_new(d, "key", json_string(audit_pubkey_key_id(f->pk)));
	assert_int_equal(json_dump_file(d, a, JSON_COMPACT), 0);
	assert_int_equal(verify_exp(f, NULL, &r), AL_E_CHAIN);
	assert_true(has_problem(&r, 0, "00000002.digest.json", 0,
				"signature does not verify"));
	audit_report_free(&r);
	al_buf_free(&body);
	json_decref(d);
	audit_signer_free(other);
}

/* Export refuses a store behind its last export, and a broken chain. */
static void test_export_refusals(void **state)
{
	struct fix *f = *state;
	struct audit_export_info info;
	struct store_txn *txn;
	json_t *e;

	export_three(f);
	append_n(f, 3);
	e = get_entry(f, 17);
	json_object_set_new(e, "object", json_string("forged"));
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	put_entry(txn, 17, e);
	assert_int_equal(store_txn_commit(txn), 0);
	json_decref(e);
	assert_int_equal(audit_export(f->log, NULL, "uid:0", &info),
			 AL_E_CHAIN);
}

/* --- the line checker agrees with jansson --- */

static void test_line_checker(void **state)
{
	struct fix *f = *state;
	struct audit_hasher h;
	struct audit_line e;
	const char *strs[] = { "plain", "é\n\"x\"/\x1f\x7f", "\t\b\f\r\\",
			       "日本", "\xf0\x9f\x98\x80", "" };
	struct store_txn *txn;
	struct store_cursor *cur;
	struct al_buf plain = { 0 };
	const void *key;
	size_t keylen;
	char hash[AUDIT_HASH_HEX_LEN + 1];

	for (size_t i = 0; i < AL_ARRAY_LEN(strs); i++)
		assert_int_equal(audit_append_now(f->log, strs[0], "a.b",
				strs[i][0] ? strs[i] : "x",
				json_pack("{s:s, s:[i,i,b,n], s:{s:s}, s:I}",
					  strs[i], strs[(i + 1) %
						AL_ARRAY_LEN(strs)],
					  "arr", -1, 0, 0, "o", "b\\", strs[i],
					  "big", (json_int_t)INT64_MIN),
				NULL), 0);
	assert_int_equal(audit_hasher_init(&h), 0);
	assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
	assert_int_equal(store_cursor_open(txn, STORE_DB_AUDIT, &cur), 0);
	while (store_cursor_next_plain(cur, &key, &keylen, &plain) == 0) {
		json_t *j = json_loadb(plain.p, plain.len, 0, NULL);
		assert_null(audit_line_check(plain.p, plain.len, &e, &h));
		assert_true(e.hash_ok);
		assert_int_equal(audit_entry_hash(j, hash), 0);
		assert_memory_equal(hash, e.hash, 64);
		/* Every single-byte change is refused or changes the hash;
		 * none crashes. */
		for (size_t k = 0; k < plain.len; k++) {
			for (int bit = 0; bit < 8; bit += 3) {
				plain.p[k] ^= (char)(1 << bit);
				const char *why = audit_line_check(
					plain.p, plain.len, &e, &h);
				assert_true(why || !e.hash_ok ||
					    memcmp(e.hash, hash, 64) != 0);
				plain.p[k] ^= (char)(1 << bit);
			}
		}
		assert_non_null(audit_line_check(plain.p, plain.len - 1, &e,
						 &h));
		json_decref(j);
	}
	store_cursor_close(cur);
	store_txn_abort(txn);
	audit_hasher_free(&h);
	al_buf_free(&plain);

	/* Not canonical, though jansson would read them. */
	static const char *const bad[] = {
		"{\"action\": \"a\"}", "{\"actor\":\"a\",\"action\":\"b\"}",
		"{\"action\":\"a\",\"actor\":\"b\",\"details\":{\"b\":1,\"a\":2}",
		"{\"action\":\"a\\u001f\"}", "{\"action\":\"\\/\"}",
		"{\"action\":\"a\",\"actor\":\"b\",\"details\":{\"x\":01}}",
		"{\"action\":\"a\",\"actor\":\"b\",\"details\":{\"x\":1.5}}",
		"{\"action\":\"a\",\"actor\":\"b\",\"details\":{\"x\":-0}}",
		"{\"action\":\"\xc0\xaf\"}",
	};
	assert_int_equal(audit_hasher_init(&h), 0);
	for (size_t i = 0; i < AL_ARRAY_LEN(bad); i++)
		assert_non_null(audit_line_check(bad[i], strlen(bad[i]), &e,
						 &h));
	audit_hasher_free(&h);
}

/* Put the right "hash" member back into a line after changing it, so
 * that only the canonical-form checks can refuse the change. */
static void rehash(struct audit_hasher *h, char *line, size_t len)
{
	char hex[AUDIT_HASH_HEX_LEN + 1];
	char *cut = strstr(line, ",\"hash\":\"");
	size_t at;

	assert_non_null(cut);
	at = (size_t)(cut - line);
	assert_int_equal(audit_hasher_hex(h, line, at, line + at + 74,
					  len - at - 74, hex), 0);
	memcpy(cut + 9, hex, AUDIT_HASH_HEX_LEN);
}

/* line with one byte at p replaced by c and the hash made right again:
 * refused, or (ok) accepted with its hash. */
static void expect_form(struct audit_hasher *h, const char *line,
			size_t len, const char *p, char c, bool ok)
{
	char *copy = malloc(len + 1);
	struct audit_line e;
	const char *why;

	assert_non_null(copy);
	memcpy(copy, line, len + 1);
	copy[p - line] = c;
	rehash(h, copy, len);
	why = audit_line_check(copy, len, &e, h);
	if (ok && (why || !e.hash_ok))
		fail_msg("byte %zu as 0x%02x refused: %s in %s",
			 (size_t)(p - line), (unsigned char)c, why, copy);
	if (!ok && !why)
		fail_msg("byte %zu as 0x%02x accepted in %s",
			 (size_t)(p - line), (unsigned char)c, copy);
	free(copy);
}

/*
 * The checker reads strings, hex and the time a word at a time: a bad
 * byte at every position of a long string, of prev and of the time is
 * refused although the entry's hash matches it, and a good one is not.
 */
static void test_line_checker_form(void **state)
{
	struct fix *f = *state;
	/* No letter of the string makes an escape with a backslash. */
	static const char bad_in_string[] = { 0x01, 0x1f, '\x80', '\xc0',
					      '\xff', '\\' };
	static const char bad_in_hex[] = { 'A', 'F', 'g', '/', ':', '`',
					   '\xb0' };
	struct audit_hasher h;
	struct al_buf line = { 0 };
	struct store_txn *txn;
	struct store_cursor *cur;
	struct audit_line e;
	const void *key;
	size_t keylen;
	const char *v, *prev, *time;

	assert_int_equal(audit_append_now(f->log, "uid:0", "a.b", "x",
				json_pack("{s:s}", "k", "0123456789ACDEGHIJK"
					  "LMOPQSVWXYZacdeghijk"), NULL), 0);
	assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
	assert_int_equal(store_cursor_open(txn, STORE_DB_AUDIT, &cur), 0);
	assert_int_equal(store_cursor_last(cur), 0);
	assert_int_equal(store_cursor_next_plain(cur, &key, &keylen, &line),
			 0);
	store_cursor_close(cur);
	store_txn_abort(txn);
	assert_int_equal(audit_hasher_init(&h), 0);
	assert_null(audit_line_check(line.p, line.len, &e, &h));
	v = strstr(line.p, "\"0123");
	prev = strstr(line.p, "\"prev\":\"");
	time = strstr(line.p, "\"time\":\"");
	assert_true(v && prev && time);
	v += 1;
	prev += 8;
	time += 8;

	for (size_t i = 0; i < 36; i++) {
		expect_form(&h, line.p, line.len, v + i, '~', true);
		expect_form(&h, line.p, line.len, v + i, '"', false);
		for (size_t b = 0; b < sizeof(bad_in_string); b++)
			expect_form(&h, line.p, line.len, v + i,
				    bad_in_string[b], false);
	}
	for (size_t i = 0; i < AUDIT_HASH_HEX_LEN; i++) {
		expect_form(&h, line.p, line.len, prev + i, 'f', true);
		for (size_t b = 0; b < sizeof(bad_in_hex); b++)
			expect_form(&h, line.p, line.len, prev + i,
				    bad_in_hex[b], false);
	}
	for (size_t i = 0; i < 24; i++) {
		bool digit = time[i] >= '0' && time[i] <= '9';
		expect_form(&h, line.p, line.len, time + i, digit ? '7' : '-',
			    digit || time[i] == '-');
		expect_form(&h, line.p, line.len, time + i, digit ? '/' : '5',
			    false);
		expect_form(&h, line.p, line.len, time + i, '\xba', false);
	}
	audit_hasher_free(&h);
	explicit_bzero(line.p, line.cap);
	al_buf_free(&line);
}

/* --- the cheap look (audit_head_report) --- */

static json_t *head_report(struct fix *f, uint64_t max)
{
	json_t *h = NULL;

	assert_int_equal(audit_head_report(f->log, max, &h), 0);
	assert_non_null(h);
	return h;
}

static json_int_t jget(json_t *o, const char *a, const char *b)
{
	return json_integer_value(json_object_get(json_object_get(o, a), b));
}

/* Intact: the entries after the last checkpoint checked and linked to
 * it; the bound; and an export shows. */
static void test_head_intact(void **state)
{
	struct fix *f = *state;
	struct audit_export_info info;
	json_t *h;

	append_n(f, 35);
	h = head_report(f, 0);
	assert_true(json_is_true(json_object_get(h, "ok")));
	assert_int_equal(jget(h, "head", "seq"), 35);
	assert_int_equal(jget(h, "checkpoint", "seq"), 30);
	assert_int_equal(jget(h, "checked", "entries"), 5);
	assert_true(json_is_true(json_object_get(json_object_get(h, "checked"),
						 "linked")));
	assert_true(json_is_null(json_object_get(h, "export")));
	json_decref(h);
	h = head_report(f, 2);
	assert_true(json_is_true(json_object_get(h, "ok")));
	assert_int_equal(jget(h, "checked", "from"), 34);
	assert_false(json_is_true(json_object_get(json_object_get(h, "checked"),
						  "linked")));
	json_decref(h);
	assert_int_equal(audit_export(f->log, NULL, "uid:0", &info), 0);
	h = head_report(f, 0);
	assert_true(json_is_true(json_object_get(h, "ok")));
	assert_int_equal(jget(h, "export", "n"), 1);
	assert_int_equal(jget(h, "export", "last"), (json_int_t)info.last);
	json_decref(h);
}

/* An entry after the checkpoint rewritten with its hash redone: the
 * next one's link breaks. */
static void test_head_replaced(void **state)
{
	struct fix *f = *state;
	struct store_txn *txn;
	json_t *e, *h;

	append_n(f, 35);
	e = get_entry(f, 33);
	json_object_set_new(e, "actor", json_string("uid:666"));
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	put_entry(txn, 33, e);
	assert_int_equal(store_txn_commit(txn), 0);
	json_decref(e);
	h = head_report(f, 0);
	assert_false(json_is_true(json_object_get(h, "ok")));
	assert_non_null(strstr(json_string_value(json_object_get(
		json_array_get(json_object_get(h, "problems"), 0), "what")),
		"prev"));
	json_decref(h);
}

/* Re-chained from before the checkpoint to the head: every link holds,
 * but the entry the checkpoint signed is not the one there now. */
static void test_head_rechained(void **state)
{
	struct fix *f = *state;
	char prev[AUDIT_HASH_HEX_LEN + 1];
	struct store_txn *txn;
	json_t *e, *h;

	append_n(f, 35);
	e = get_entry(f, 27);
	al_strlcpy(prev, json_string_value(json_object_get(e, "hash")),
		   sizeof(prev));
	json_decref(e);
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	for (uint64_t s = 28; s <= 35; s++) {
		e = get_entry(f, s);
		if (s == 28)
			json_object_set_new(e, "actor", json_string("uid:666"));
		json_object_set_new(e, "prev", json_string(prev));
		put_entry(txn, s, e);
		al_strlcpy(prev, json_string_value(json_object_get(e, "hash")),
			   sizeof(prev));
		json_decref(e);
	}
	put_head(txn, 35, prev);
	assert_int_equal(store_txn_commit(txn), 0);
	h = head_report(f, 0);
	assert_false(json_is_true(json_object_get(h, "ok")));
	json_decref(h);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy),
		T(test_store_intact),
		T(test_line_checker_form),
		T(test_store_swapped),
		T(test_store_replaced),
		T(test_store_inserted),
		T(test_store_rechained_suffix),
		T(test_store_truncated),
		T(test_store_truncated_with_checkpoints),
		T(test_store_rolled_back),
		T(test_store_wrong_key),
		T(test_store_replaced_key),
		T(test_store_forged_checkpoint),
		T(test_store_par_positions),
		T(test_store_par_big_entries),
		T(test_store_par_checkpoints),
		T(test_store_par_lanes),
		T(test_store_par_rechained),
		T(test_store_par_snapshot),
		T(test_par_thread_fails),
		T(test_checkpoint_by_time),
		T(test_export_continuity),
		T(test_export_large),
		T(test_export_flipped_byte),
		T(test_export_swapped_deleted_inserted),
		T(test_export_inserted),
		T(test_export_replaced_by_older),
		T(test_export_truncated),
		T(test_export_resigned),
		T(test_export_refusals),
		T(test_line_checker),
		T(test_head_intact),
		T(test_head_replaced),
		T(test_head_rechained),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
