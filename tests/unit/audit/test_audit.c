/*
 * The audit chain: canonical form (golden vector), appends, and forged
 * logs that verification must locate: a flipped byte in a stored value,
 * a re-sealed entry with a wrong link, gaps, reordering, truncation, a
 * rolled-back head; the event-sink adapter under threads.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "audit/audit.h"
#include "audit/internal.h"
#include "base/err.h"
#include "base/fs.h"

#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"

struct fix {
	char home[64];
	struct store *st;
	struct audit_log *log;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->home, sizeof(f->home), "/tmp/al-audit-XXXXXX");
	if (!mkdtemp(f->home) || store_open(f->home, &f->st) != 0 ||
	    audit_log_open(f->st, f->home, NULL, &f->log) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	audit_log_close(f->log);
	store_close(f->st);
	al_rm_tree(f->home);
	free(f);
	return 0;
}

static void append_n(struct fix *f, int n)
{
	for (int i = 1; i <= n; i++) {
		uint64_t seq = 0;
		char obj[32];

		snprintf(obj, sizeof(obj), "job-%03d", i);
		assert_int_equal(audit_append_now(f->log, "uid:1000",
						  "job.create", obj,
						  json_pack("{s:i}", "i", i),
						  &seq), 0);
		assert_int_equal(seq, (uint64_t)i);
	}
}

static int verify(struct fix *f, uint64_t *count, uint64_t *bad)
{
	return audit_verify(f->st, count, bad);
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

/* Write an entry back, sealed correctly, as a key holder could. */
static void put_entry(struct fix *f, uint64_t seq, json_t *e, bool rehash)
{
	struct store_txn *txn;
	char hash[AUDIT_HASH_HEX_LEN + 1];
	uint8_t key[8];

	if (rehash) {
		assert_int_equal(audit_entry_hash(e, hash), 0);
		json_object_set_new(e, "hash", json_string(hash));
	}
	audit_key(seq, key);
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(store_put_json(txn, STORE_DB_AUDIT, key, 8, e, 0), 0);
	assert_int_equal(store_txn_commit(txn), 0);
}

static void del_entry(struct fix *f, uint64_t seq)
{
	struct store_txn *txn;
	uint8_t key[8];

	audit_key(seq, key);
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(store_del(txn, STORE_DB_AUDIT, key, 8), 0);
	assert_int_equal(store_txn_commit(txn), 0);
}

/*
 * Edit the stored value of seq with LMDB alone, bypassing the seal:
 * flip one byte at offset, or (src != 0) copy the value stored at src.
 */
static void raw_edit(struct fix *f, uint64_t seq, size_t offset, uint64_t src)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v;
	uint8_t key[8], skey[8];
	char path[128], buf[4096];

	audit_log_close(f->log);
	store_close(f->st);
	f->st = NULL;
	f->log = NULL;
	snprintf(path, sizeof(path), "%s/db", f->home);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "audit", 0, &dbi), 0);

	audit_key(seq, key);
	audit_key(src ? src : seq, skey);
	k = (MDB_val){ 8, skey };
	assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
	assert_true(v.mv_size <= sizeof(buf) && offset < v.mv_size);
	memcpy(buf, v.mv_data, v.mv_size);
	if (!src)
		buf[offset] ^= 0x01;
	k = (MDB_val){ 8, key };
	v.mv_data = buf;
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	assert_int_equal(store_open(f->home, &f->st), 0);
	assert_int_equal(audit_log_open(f->st, f->home, NULL, &f->log), 0);
}

static void expect_broken(struct fix *f, uint64_t at)
{
	uint64_t count = 0, bad = 0;

	assert_int_equal(verify(f, &count, &bad), AL_E_CHAIN);
	assert_int_equal(bad, at);
	assert_int_equal(count, at - 1);
}

static void test_golden_canonical(void **state)
{
	struct al_buf canon = { 0 };
	char hash[AUDIT_HASH_HEX_LEN + 1];
	/* The expected SHA-256 was computed with Python's hashlib over the
	 * expected bytes below, written out by hand from schema/lmdb.md. */
	static const char want[] =
		"{\"action\":\"job.create\",\"actor\":\"system\",\"details\":"
		"{\"a\":\"\xc3\xa9\\n\\\"x\\\"/\\u001F\",\"n\":-7,\"z\":[1,true,"
		"null]},\"object\":\"acme/widgets\",\"prev\":\"" ZEROS "\","
		"\"seq\":1,\"time\":\"2026-01-02T03:04:05.678Z\"}";
	json_t *e = json_pack(
		"{s:I, s:s, s:s, s:s, s:s, s:{s:[i,b,n], s:s, s:i}, s:s, s:s}",
		"seq", (json_int_t)1, "time", "2026-01-02T03:04:05.678Z",
		"actor", "system", "action", "job.create", "object",
		"acme/widgets", "details", "z", 1, 1, "a",
		"\xc3\xa9\n\"x\"/\x1f", "n", -7, "prev", ZEROS, "hash",
		"ignored by the canonical form");

	assert_non_null(e);
	assert_int_equal(audit_canonical(e, &canon), 0);
	assert_string_equal(canon.p, want);
	assert_int_equal(audit_entry_hash(e, hash), 0);
	assert_string_equal(hash, "d6711928f1f95321bba6d4408fabafa6"
				  "966491a684b39ac0b664b46524aac59e");

	/* No single spelling for reals: refused. */
	json_object_set_new(json_object_get(e, "details"), "r",
			    json_real(0.1));
	assert_int_equal(audit_entry_hash(e, hash), AL_E_PARSE);
	json_decref(e);
	al_buf_free(&canon);
}

/* Details of every kind, spelled by the writer's own encoder: the bytes
 * must be jansson's compact sorted dump of the same value. */
static json_t *hostile_details(void)
{
	json_t *d = json_pack(
		"{s:s, s:I, s:I, s:I, s:[], s:{}, s:[b,b,n,{s:[i]}], s:s}",
		"\xc3\xa9t\xc3\xa9", "ctl \x01\x1f\x7f \"q\" \\ / \b\f\n\r\t",
		"min", (json_int_t)INT64_MIN, "max", (json_int_t)INT64_MAX,
		"zero", (json_int_t)0, "ea", "eo", "mix", 1, 0, "k", -1, "B",
		"\xf0\x9f\x98\x80 \xe2\x80\xa8");

	/* More members than the encoder sorts on its stack, and names
	 * whose first bytes are high (unsigned order). */
	for (int i = 40; i > 0; i--) {
		char name[16];
		snprintf(name, sizeof(name), "%c%02d", i % 2 ? 'a' : 0xc3, i);
		if (i % 2 == 0)
			name[1] = (char)0xa0;
		json_object_set_new(d, name, json_integer(i * 1000003));
	}
	return d;
}

static void test_encoder_matches_jansson(void **state)
{
	struct fix *f = *state;
	struct al_buf b = { 0 };
	char hash[AUDIT_HASH_HEX_LEN + 1];
	json_t *d = hostile_details(), *e;
	char *want = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
	uint64_t count = 0, bad = 0;

	assert_non_null(want);
	assert_int_equal(audit_json_value(&b, d, 1), 0);
	assert_string_equal(b.p, want);
	assert_int_equal(b.len, strlen(want));

	/* Stored through the writer, the entry hashes as the canonical
	 * form (computed by jansson here) says, and verifies. */
	assert_int_equal(audit_append_now(f->log, "system", "t.enc", "o",
					  json_incref(d), NULL), 0);
	e = get_entry(f, 1);
	assert_int_equal(audit_entry_hash(e, hash), 0);
	assert_string_equal(json_string_value(json_object_get(e, "hash")),
			    hash);
	assert_int_equal(verify(f, &count, &bad), 0);
	assert_int_equal(count, 1);
	json_decref(e);

	/* What has no canonical spelling is refused. */
	b.len = 0;
	json_object_set_new(d, "r", json_real(0.5));
	assert_int_equal(audit_json_value(&b, d, 1), AL_E_PARSE);
	json_object_del(d, "r");
	json_object_set_new(d, "bad", json_stringn_nocheck("\xff", 1));
	b.len = 0;
	assert_int_equal(audit_json_value(&b, d, 1), AL_E_PARSE);
	json_object_del(d, "bad");
	json_object_setn_new(d, "n\0ul", 4, json_true());
	b.len = 0;
	assert_int_equal(audit_json_value(&b, d, 1), AL_E_PARSE);
	json_object_deln(d, "n\0ul", 4);
	/* A NUL in a value would make the entry unreadable by every
	 * JSON reader that refuses \u0000 (jansson by default, so the next
	 * append could not read its head): refused too. */
	json_object_set_new(d, "nul", json_stringn("a\0b", 3));
	b.len = 0;
	assert_int_equal(audit_json_value(&b, d, 1), AL_E_PARSE);
	assert_int_equal(audit_append_now(f->log, "system", "t.enc", "o",
					  json_incref(d), NULL), AL_E_PARSE);
	free(want);
	json_decref(d);
	al_buf_free(&b);
}

/* The line checker takes hashes in lower-case hex only, and finds a
 * hash that does not match. */
static void test_line_hex(void **state)
{
	struct fix *f = *state;
	struct store_txn *txn = NULL;
	struct store_cursor *cur = NULL;
	struct al_buf plain = { 0 };
	struct audit_hasher h;
	struct audit_line e;
	const void *key;
	size_t keylen;
	char *line, *hp, *pp;

	append_n(f, 2);
	assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
	assert_int_equal(store_cursor_open(txn, STORE_DB_AUDIT, &cur), 0);
	assert_int_equal(store_cursor_next_plain(cur, &key, &keylen, &plain),
			 0);
	assert_int_equal(store_cursor_next_plain(cur, &key, &keylen, &plain),
			 0);
	line = strndup(plain.p, plain.len);
	store_cursor_close(cur);
	store_txn_abort(txn);
	assert_int_equal(audit_hasher_init(&h), 0);
	assert_null(audit_line_check(line, strlen(line), &e, &h));
	assert_true(e.hash_ok);
	assert_int_equal(e.seq, 2);

	hp = strstr(line, "\"hash\":\"") + 8;
	pp = strstr(line, "\"prev\":\"") + 8;
	for (int i = 0; i < 64; i++) {
		char keep = hp[i], up = keep >= 'a' ? keep - 32 : 'g';
		hp[i] = up;
		assert_non_null(audit_line_check(line, strlen(line), &e, &h));
		hp[i] = keep == '0' ? '1' : '0';
		assert_null(audit_line_check(line, strlen(line), &e, &h));
		assert_false(e.hash_ok);
		hp[i] = keep;
		keep = pp[i];
		pp[i] = keep >= 'a' ? keep - 32 : '/';
		assert_non_null(audit_line_check(line, strlen(line), &e, &h));
		pp[i] = keep;
	}
	assert_null(audit_line_check(line, strlen(line), &e, &h));
	assert_true(e.hash_ok);
	audit_hasher_free(&h);
	free(line);
	al_buf_free(&plain);
}

static void test_append_and_verify(void **state)
{
	struct fix *f = *state;
	uint64_t count = 99, bad = 99;

	assert_int_equal(verify(f, &count, &bad), 0);
	assert_int_equal(count, 0);

	append_n(f, 100);
	assert_int_equal(verify(f, &count, &bad), 0);
	assert_int_equal(count, 100);

	json_t *e1 = get_entry(f, 1), *e2 = get_entry(f, 2);
	char hash[AUDIT_HASH_HEX_LEN + 1];
	const char *t = json_string_value(json_object_get(e1, "time"));
	assert_string_equal(json_string_value(json_object_get(e1, "prev")),
			    ZEROS);
	assert_int_equal(audit_entry_hash(e1, hash), 0);
	assert_string_equal(json_string_value(json_object_get(e1, "hash")),
			    hash);
	assert_string_equal(json_string_value(json_object_get(e2, "prev")),
			    hash);
	assert_string_equal(json_string_value(json_object_get(e2, "object")),
			    "job-002");
	assert_int_equal(strlen(t), 24);
	assert_int_equal(t[23], 'Z');
	json_decref(e1);
	json_decref(e2);
}

static void test_flipped_byte(void **state)
{
	struct fix *f = *state;

	append_n(f, 100);
	raw_edit(f, 37, 40, 0);
	expect_broken(f, 37);
}

static void test_flipped_header_byte(void **state)
{
	struct fix *f = *state;

	append_n(f, 50);
	raw_edit(f, 1, 0, 0);
	expect_broken(f, 1);
}

static void test_reordered(void **state)
{
	struct fix *f = *state;

	/* Entry 40's sealed value replayed into slot 41. */
	append_n(f, 60);
	raw_edit(f, 41, 0, 40);
	expect_broken(f, 41);
}

static void test_forged_prev(void **state)
{
	struct fix *f = *state;
	json_t *e;

	append_n(f, 100);
	e = get_entry(f, 37);
	json_object_set_new(e, "prev", json_string(ZEROS));
	put_entry(f, 37, e, true);
	json_decref(e);
	expect_broken(f, 37);
}

static void test_forged_details(void **state)
{
	struct fix *f = *state;
	json_t *e;

	/* Rewritten with its own hash recomputed: the next link breaks. */
	append_n(f, 100);
	e = get_entry(f, 37);
	json_object_set_new(json_object_get(e, "details"), "i",
			    json_integer(9999));
	put_entry(f, 37, e, true);
	json_decref(e);
	expect_broken(f, 38);

	/* Without recomputing, the entry itself is caught. */
	e = get_entry(f, 37);
	json_object_set_new(e, "actor", json_string("uid:0"));
	put_entry(f, 37, e, false);
	json_decref(e);
	expect_broken(f, 37);
}

static void test_forged_shape(void **state)
{
	struct fix *f = *state;
	json_t *e;

	append_n(f, 10);
	e = get_entry(f, 5);
	json_object_set_new(e, "extra", json_true());
	put_entry(f, 5, e, true);
	json_decref(e);
	expect_broken(f, 5);

	e = get_entry(f, 5);
	json_object_del(e, "extra");
	json_object_set_new(e, "seq", json_integer(6));
	put_entry(f, 5, e, true);
	json_decref(e);
	expect_broken(f, 5);
}

static void test_gap(void **state)
{
	struct fix *f = *state;
	json_t *e;

	append_n(f, 100);
	del_entry(f, 50);
	expect_broken(f, 50);

	/* Fill the hole with a renumbered copy of 49: still caught. */
	e = get_entry(f, 49);
	json_object_set_new(e, "seq", json_integer(50));
	put_entry(f, 50, e, true);
	json_decref(e);
	expect_broken(f, 50);
}

static void test_truncated(void **state)
{
	struct fix *f = *state;

	append_n(f, 100);
	del_entry(f, 100);
	expect_broken(f, 100);

	/* Appending to a truncated log is refused. */
	assert_int_equal(audit_append_now(f->log, "system", "x.y", "o", NULL,
					  NULL), AL_E_CHAIN);
	expect_broken(f, 100);
}

static void test_head_rolled_back(void **state)
{
	struct fix *f = *state;
	struct store_txn *txn;
	json_t *head;

	append_n(f, 100);
	json_t *e = get_entry(f, 98);
	head = json_pack("{s:i, s:O}", "seq", 98, "hash",
			 json_object_get(e, "hash"));
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(store_put_json(txn, STORE_DB_META, AUDIT_META_HEAD,
					strlen(AUDIT_META_HEAD), head, 0), 0);
	assert_int_equal(store_txn_commit(txn), 0);
	json_decref(head);
	json_decref(e);

	uint64_t count, bad;
	assert_int_equal(verify(f, &count, &bad), AL_E_CHAIN);
	assert_int_equal(bad, 99);

	/* And a head that is gone entirely. */
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(store_del(txn, STORE_DB_META, AUDIT_META_HEAD,
				   strlen(AUDIT_META_HEAD)), 0);
	assert_int_equal(store_txn_commit(txn), 0);
	assert_int_equal(verify(f, &count, &bad), AL_E_CHAIN);
	assert_int_equal(bad, 1);
	assert_int_equal(audit_append_now(f->log, "system", "x.y", "o", NULL,
					  NULL), AL_E_CHAIN);
}

static void test_in_caller_txn(void **state)
{
	struct fix *f = *state;
	struct store_txn *txn;
	uint64_t seq, count, bad;

	append_n(f, 3);
	/* An aborted operation leaves neither its record nor its entry. */
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(store_put_raw(txn, STORE_DB_QUEUE, "q", 1, "", 0), 0);
	assert_int_equal(audit_append(f->log, txn, "system", "job.enqueue", "q", NULL,
				      &seq), 0);
	assert_int_equal(seq, 4);
	store_txn_abort(txn);
	assert_int_equal(verify(f, &count, &bad), 0);
	assert_int_equal(count, 3);

	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(audit_append(f->log, txn, "system", "job.enqueue", "q", NULL,
				      &seq), 0);
	assert_int_equal(store_txn_commit(txn), 0);
	assert_int_equal(seq, 4);
	assert_int_equal(verify(f, &count, &bad), 0);
	assert_int_equal(count, 4);
}

static void test_bad_input(void **state)
{
	struct fix *f = *state;
	char big[AUDIT_OBJECT_MAX + 2];
	uint64_t count, bad;
	json_t *deep = json_object();

	memset(big, 'o', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (int i = 0; i < AUDIT_DEPTH_MAX + 2; i++)
		deep = json_pack("{s:o}", "d", deep);

	assert_int_equal(audit_append_now(f->log, "", "a.b", "o", NULL, NULL),
			 AL_E_USAGE);
	assert_int_equal(audit_append_now(f->log, "system", "a.b", NULL,
					  json_object(), NULL), AL_E_USAGE);
	assert_int_equal(audit_append_now(f->log, "system", "a.b", "o",
					  json_array(), NULL), AL_E_USAGE);
	assert_int_equal(audit_append_now(f->log, "system", "a.b", big, NULL,
					  NULL), AL_E_LIMIT);
	assert_int_equal(audit_append_now(f->log, "sys\xff", "a.b", "o",
					  json_object(), NULL), AL_E_PARSE);
	assert_int_equal(audit_append_now(f->log, "system", "a.b", "o",
					  json_pack("{s:f}", "x", 1.5), NULL),
			 AL_E_PARSE);
	assert_int_equal(audit_append_now(f->log, "system", "a.b", "o", deep,
					  NULL), AL_E_LIMIT);
	/* None of it reached the log. */
	assert_int_equal(verify(f, &count, &bad), 0);
	assert_int_equal(count, 0);
}

struct emitter {
	struct al_event_sink sink;
	int rc;
};

static void *emit_thread(void *arg)
{
	struct emitter *em = arg;

	for (int i = 0; i < 25 && em->rc == 0; i++)
		em->rc = al_event(&em->sink, "proxy.deny", "203.0.113.9:443",
				  json_pack("{s:i}", "n", i));
	return NULL;
}

static void test_sink_threads(void **state)
{
	struct fix *f = *state;
	struct audit_sink sink;
	struct emitter em[4];
	pthread_t th[4];
	uint64_t count, bad;

	assert_int_equal(audit_sink_init(&sink, f->log, NULL, "job-42"), 0);
	for (int i = 0; i < 4; i++) {
		em[i] = (struct emitter){ audit_event_sink(&sink), 0 };
		assert_int_equal(pthread_create(&th[i], NULL, emit_thread,
						&em[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(em[i].rc, 0);
	}
	audit_sink_set_job(&sink, NULL);
	struct al_event_sink s = audit_event_sink(&sink);
	assert_int_equal(al_event(&s, "daemon.stop", "airlockd", NULL), 0);
	audit_sink_destroy(&sink);

	assert_int_equal(verify(f, &count, &bad), 0);
	assert_int_equal(count, 101);
	json_t *e = get_entry(f, 57);
	assert_string_equal(json_string_value(json_object_get(e, "actor")),
			    "system");
	assert_string_equal(json_string_value(json_object_get(e, "action")),
			    "proxy.deny");
	json_t *d = json_object_get(e, "details");
	assert_string_equal(json_string_value(json_object_get(d, "job")),
			    "job-42");
	assert_true(json_is_integer(json_object_get(d, "n")));
	json_decref(e);
	e = get_entry(f, 101);
	assert_int_equal(json_object_size(json_object_get(e, "details")), 0);
	json_decref(e);
}

/*
 * Several processes appending to one home: LMDB's lock serialises them
 * and the chain stays whole. Each child opens its own store, as the
 * header requires, and leaves the parent's alone.
 */
static void test_processes(void **state)
{
	struct fix *f = *state;
	pid_t pids[3];
	uint64_t count, bad;

	append_n(f, 1);
	for (int i = 0; i < 3; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct store *st;
			struct audit_log *log = NULL;
			int rc = store_open(f->home, &st);
			if (rc == 0)
				rc = audit_log_open(st, f->home, NULL, &log);
			for (int k = 0; rc == 0 && k < 30; k++)
				rc = audit_append_now(log, "system", "p.append",
						      "child", NULL, NULL);
			audit_log_close(log);
			store_close(st);
			_exit(rc == 0 ? 0 : 1);
		}
	}
	for (int i = 0; i < 3; i++) {
		int status;
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(verify(f, &count, &bad), 0);
	assert_int_equal(count, 91);
	assert_int_equal(audit_append_now(f->log, "system", "x.y", "o", NULL,
					  &count), 0);
	assert_int_equal(count, 92);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_canonical),
		T(test_append_and_verify),
		T(test_line_hex),
		T(test_encoder_matches_jansson),
		T(test_flipped_byte),
		T(test_flipped_header_byte),
		T(test_reordered),
		T(test_forged_prev),
		T(test_forged_details),
		T(test_forged_shape),
		T(test_gap),
		T(test_truncated),
		T(test_head_rolled_back),
		T(test_in_caller_txn),
		T(test_bad_input),
		T(test_sink_threads),
		T(test_processes),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
