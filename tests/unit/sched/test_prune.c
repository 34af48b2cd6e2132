/*
 * Retention (sched_prune_step) over a real store and audit log, with an
 * injected clock: finished jobs are deleted by age and by count, queued
 * and running ones never; each step is bounded (jobs, records examined,
 * keys); a step's deletions and its jobs.prune entry commit together,
 * and nothing is deleted when the entry cannot be written; a deleted
 * job's progress lines, queue entries and mention in its repository's
 * record go with it, while every other job's record and lines still
 * open and the store's version digest still checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "audit/audit.h"
#include "base/err.h"
#include "base/fs.h"
#include "sched/internal.h"
#include "store/keys.h"

#define DAY ((int64_t)86400000)
#define T0 ((int64_t)1780000000000) /* 2026-05-28 */

struct fix {
	char home[64];
	struct store *st;
	struct audit_log *log;
	struct sched *s;
	int64_t now;
	uint64_t rnd;
	struct sched_clock clock;
};

static int64_t fake_now(void *ctx)
{
	return ((struct fix *)ctx)->now;
}

static uint64_t fake_rand(void *ctx)
{
	return ((struct fix *)ctx)->rnd++;
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct sched_opts o = {.max_attempts = 3, .lease_ms = 1000};

	if (!f)
		return -1;
	snprintf(f->home, sizeof(f->home), "/tmp/al-prune-XXXXXX");
	f->now = T0;
	f->clock = (struct sched_clock){fake_now, fake_rand, f};
	o.clock = &f->clock;
	if (!mkdtemp(f->home) || store_open(f->home, &f->st) ||
	    audit_log_open(f->st, f->home, NULL, &f->log) ||
	    sched_open(f->log, &o, &f->s))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	sched_close(f->s);
	audit_log_close(f->log);
	store_close(f->st);
	al_rm_tree(f->home);
	free(f);
	return 0;
}

static void enqueue(struct fix *f, const char *repo, char *id)
{
	struct sched_request rq = {.repo = repo, .priority = 100};

	assert_int_equal(sched_enqueue(f->s, NULL, &rq, id, NULL), 0);
}

/* Lease the job id (the only one due) and leave it running. */
static void run(struct fix *f, const char *id)
{
	struct sched_lease l;

	assert_int_equal(sched_lease(f->s, NULL, "w1", &l), 0);
	assert_string_equal(l.id, id);
	json_decref(l.record);
}

/* Progress lines 1..n of job id, as the daemon keys them (schema/
 * lmdb.md, job_log: id || line number, u32 BE). */
static void put_lines(struct fix *f, const char *id, unsigned n)
{
	struct store_txn *txn;

	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	for (unsigned i = 1; i <= n; i++) {
		uint8_t k[SCHED_ID_LEN + 4];
		json_t *v = json_pack("{s:I,s:s}", "time", (json_int_t)f->now,
				      "line", "clone ...");
		memcpy(k, id, SCHED_ID_LEN);
		k[20] = (uint8_t)(i >> 24);
		k[21] = (uint8_t)(i >> 16);
		k[22] = (uint8_t)(i >> 8);
		k[23] = (uint8_t)i;
		assert_int_equal(store_put_json(txn, STORE_DB_JOBLOG, k,
						sizeof(k), v, 0), 0);
		json_decref(v);
	}
	assert_int_equal(store_txn_commit(txn), 0);
}

/* A job of repo, created now, that ends (outcome) after ms, with lines. */
static void finished(struct fix *f, const char *repo, enum sched_outcome out,
		     int64_t ms, unsigned lines, char *id)
{
	enqueue(f, repo, id);
	run(f, id);
	put_lines(f, id, lines);
	f->now += ms;
	assert_int_equal(sched_complete(f->s, NULL, id, 1, out, "done", NULL),
			 0);
}

/* How many lines of job id are kept, and that each one opens. */
static unsigned lines_of(struct fix *f, const char *id)
{
	struct store_txn *txn;
	struct store_cursor *cur;
	const void *k;
	size_t klen;
	json_t *v;
	unsigned n = 0;

	assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
	assert_int_equal(store_cursor_open(txn, STORE_DB_JOBLOG, &cur), 0);
	while (store_cursor_next(cur, &k, &klen, &v) == 0) {
		assert_non_null(v);
		if (!memcmp(k, id, SCHED_ID_LEN))
			n++;
	}
	store_cursor_close(cur);
	store_txn_abort(txn);
	return n;
}

static bool exists(struct fix *f, const char *id)
{
	json_t *rec = NULL;
	int rc = sched_show(f->s, id, &rec);

	json_decref(rec);
	assert_true(rc == 0 || rc == AL_E_NOTFOUND);
	return rc == 0;
}

static size_t jobs(struct fix *f)
{
	json_t *list = NULL;
	size_t n;

	assert_int_equal(sched_list(f->s, -1, 0, &list), 0);
	n = json_array_size(list);
	json_decref(list);
	return n;
}

static uint64_t audit_count(struct fix *f)
{
	uint64_t n = 0, bad = 0;

	assert_int_equal(audit_verify(f->st, &n, &bad), 0);
	assert_int_equal(bad, 0);
	return n;
}

/* Audit entry seq (new reference). */
static json_t *entry(struct fix *f, uint64_t seq)
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

static const char *detail_str(json_t *e, const char *a, const char *b)
{
	json_t *d = json_object_get(e, "details");

	return json_string_value(json_object_get(json_object_get(d, a), b));
}

static int64_t detail_int(json_t *e, const char *a)
{
	return json_integer_value(
		json_object_get(json_object_get(e, "details"), a));
}

/* The versions entries and their digest still agree (store/keys.h). */
static void digest_ok(struct fix *f)
{
	struct store_keys_status *ks = calloc(1, sizeof(*ks));

	assert_non_null(ks);
	assert_int_equal(store_keys_status(f->st, ks), 0);
	assert_int_equal(ks->problems, 0);
	free(ks);
}

/* Run a whole prune; the number of steps it took. */
static unsigned prune_all(struct fix *f, struct sched_prune *p)
{
	unsigned steps = 0;

	while (!p->done) {
		assert_int_equal(sched_prune_step(f->s, NULL, p), 0);
		assert_true(++steps < 1000);
	}
	return steps;
}

static void test_by_age(void **state)
{
	struct fix *f = *state;
	char a[21], b[21], c[21], d[21], e[21], q[21];
	uint64_t n0;

	finished(f, "/srv/a", SCHED_OUT_SUCCEEDED, 1000, 3, a);
	f->now = T0 + DAY;
	finished(f, "/srv/b", SCHED_OUT_FAILED, 1000, 2, b);
	f->now = T0 + 2 * DAY;
	enqueue(f, "/srv/c", c);
	run(f, c);
	assert_int_equal(sched_cancel(f->s, NULL, c, NULL), 0);
	/* Running, and queued behind it: both older than the limit. */
	enqueue(f, "/srv/d", d);
	run(f, d);
	put_lines(f, d, 2);
	enqueue(f, "/srv/d", q);
	/* Ends late: kept, though created before the limit. */
	f->now = T0 + 3 * DAY;
	finished(f, "/srv/e", SCHED_OUT_SUCCEEDED, 9 * DAY, 1, e);

	f->now = T0 + 30 * DAY;
	n0 = audit_count(f);
	struct sched_prune p = {.before_ms = f->now - 20 * DAY};
	prune_all(f, &p);
	assert_int_equal(p.jobs, 2);
	assert_int_equal(p.lines, 5);
	assert_false(exists(f, a));
	assert_false(exists(f, b));
	assert_int_equal(lines_of(f, a), 0);
	assert_int_equal(lines_of(f, b), 0);
	/* The running job has a cancel pending: still running, kept. */
	assert_true(exists(f, c) && exists(f, d) && exists(f, q) &&
		    exists(f, e));
	assert_int_equal(lines_of(f, d), 2);
	assert_int_equal(lines_of(f, e), 1);
	assert_int_equal(jobs(f), 4);

	/* One entry, naming the oldest and newest job deleted and the rule. */
	assert_int_equal(audit_count(f), n0 + 1);
	json_t *en = entry(f, n0 + 1);
	assert_string_equal(json_string_value(json_object_get(en, "action")),
			    "jobs.prune");
	assert_int_equal(detail_int(en, "count"), 2);
	assert_int_equal(detail_int(en, "lines"), 5);
	assert_string_equal(detail_str(en, "oldest", "id"), a);
	assert_string_equal(detail_str(en, "newest", "id"), b);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(json_object_get(en, "details"),
						 "newest"),
				 "ended_ms")),
			 T0 + DAY + 1000);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(json_object_get(en, "details"),
						 "rule"),
				 "ended_before_ms")),
			 f->now - 20 * DAY);
	json_decref(en);
	digest_ok(f);

	/* Nothing more is due: a second run deletes and records nothing. */
	memset(&p, 0, sizeof(p));
	p.before_ms = f->now - 20 * DAY;
	prune_all(f, &p);
	assert_int_equal(p.jobs, 0);
	assert_int_equal(audit_count(f), n0 + 1);
	/* The cancelled job, once it ended, goes by age too. */
	assert_int_equal(sched_complete(f->s, NULL, c, 1, SCHED_OUT_CANCELLED,
					NULL, NULL), 0);
	f->now += 21 * DAY;
	memset(&p, 0, sizeof(p));
	p.before_ms = f->now - 20 * DAY;
	prune_all(f, &p);
	assert_int_equal(p.jobs, 2); /* c and e */
	assert_true(exists(f, d) && exists(f, q));
	assert_false(exists(f, c) || exists(f, e));
}

static void test_by_count(void **state)
{
	struct fix *f = *state;
	char id[6][21], q[21], r[21];

	/* The oldest job is queued (behind a running one): never deleted. */
	enqueue(f, "/srv/r", r);
	run(f, r);
	enqueue(f, "/srv/r", q);
	for (int i = 0; i < 6; i++) {
		f->now += 1000;
		finished(f, "/srv/x", SCHED_OUT_FAILED, 10, 1, id[i]);
	}
	/* keep 2, counted back two records a call. */
	struct sched_prune p = {.keep = 2, .scan = 2};
	unsigned steps = prune_all(f, &p);
	assert_true(steps >= 3);
	assert_int_equal(p.jobs, 4);
	for (int i = 0; i < 4; i++)
		assert_false(exists(f, id[i]));
	assert_true(exists(f, id[4]) && exists(f, id[5]));
	assert_true(exists(f, q) && exists(f, r));
	digest_ok(f);

	/* At or under the cap: nothing. */
	memset(&p, 0, sizeof(p));
	p.keep = 2;
	prune_all(f, &p);
	assert_int_equal(p.jobs, 0);
	memset(&p, 0, sizeof(p));
	p.keep = 10;
	prune_all(f, &p);
	assert_int_equal(p.jobs, 0);
	assert_int_equal(jobs(f), 4);
}

/* A busy job (a worker not reaped yet) is kept. */
static bool busy_is(void *ctx, const char *id)
{
	return !strcmp(ctx, id);
}

static void test_batches(void **state)
{
	struct fix *f = *state;
	char id[7][21];
	uint64_t n0;

	for (int i = 0; i < 7; i++)
		finished(f, "/srv/x", SCHED_OUT_SUCCEEDED, 10, 4, id[i]);
	f->now += DAY;
	n0 = audit_count(f);
	struct sched_prune p = {.before_ms = f->now, .batch = 3,
				.busy = busy_is, .busy_ctx = id[6]};
	assert_int_equal(sched_prune_step(f->s, NULL, &p), 0);
	assert_int_equal(p.step_jobs, 3);
	assert_false(p.done);
	assert_false(exists(f, id[2]));
	assert_true(exists(f, id[3]));
	assert_int_equal(sched_prune_step(f->s, NULL, &p), 0);
	assert_int_equal(p.step_jobs, 3);
	prune_all(f, &p);
	assert_int_equal(p.jobs, 6);
	assert_true(exists(f, id[6]));
	assert_int_equal(lines_of(f, id[6]), 4);
	/* One entry per step that deleted, each counting its own jobs. */
	assert_int_equal(audit_count(f), n0 + 2);
	json_t *e = entry(f, n0 + 2);
	assert_int_equal(detail_int(e, "count"), 3);
	assert_string_equal(detail_str(e, "oldest", "id"), id[3]);
	assert_string_equal(detail_str(e, "newest", "id"), id[5]);
	json_decref(e);

	/* Few records examined a call: the walk goes on where it stopped. */
	char more[4][21];
	for (int i = 0; i < 4; i++)
		finished(f, "/srv/y", SCHED_OUT_SUCCEEDED, 10, 0, more[i]);
	f->now += DAY;
	memset(&p, 0, sizeof(p));
	p.before_ms = f->now;
	p.scan = 1;
	assert_true(prune_all(f, &p) >= 5);
	assert_int_equal(p.jobs, 5);

	/* Keys: a job's lines count, and the step ends after the job that
	 * spent the budget (its lines are never split from it). */
	char big[3][21];
	for (int i = 0; i < 3; i++)
		finished(f, "/srv/z", SCHED_OUT_SUCCEEDED, 10, 8, big[i]);
	f->now += DAY;
	memset(&p, 0, sizeof(p));
	p.before_ms = f->now;
	p.keys = 10;
	assert_int_equal(sched_prune_step(f->s, NULL, &p), 0);
	assert_int_equal(p.step_jobs, 2);
	assert_false(exists(f, big[1]));
	assert_true(exists(f, big[2]));
	assert_int_equal(lines_of(f, big[2]), 8);
	prune_all(f, &p);
	assert_false(exists(f, big[2]));
	assert_int_equal(jobs(f), 0);
	digest_ok(f);
}

/*
 * Fail closed: with the audit log refusing to append (its last entry
 * removed, so the head names an entry that is gone), a step deletes
 * nothing and leaves its walk where it was.
 */
static void test_audit_fails(void **state)
{
	struct fix *f = *state;
	char a[21], b[21];
	struct store_txn *txn;
	uint8_t key[8];

	finished(f, "/srv/a", SCHED_OUT_SUCCEEDED, 10, 3, a);
	finished(f, "/srv/b", SCHED_OUT_FAILED, 10, 2, b);
	f->now += DAY;
	audit_key(audit_count(f), key);
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(store_del(txn, STORE_DB_AUDIT, key, 8), 0);
	assert_int_equal(store_txn_commit(txn), 0);

	struct sched_prune p = {.before_ms = f->now};
	assert_int_not_equal(sched_prune_step(f->s, NULL, &p), 0);
	assert_false(p.done);
	assert_int_equal(p.jobs, 0);
	assert_int_equal(p.pos[0], '\0');
	assert_true(exists(f, a) && exists(f, b));
	assert_int_equal(lines_of(f, a), 3);
	assert_int_equal(lines_of(f, b), 2);
	assert_int_equal(jobs(f), 2);

	/* With the caller's transaction, the same: the caller aborts. */
	assert_int_equal(sched_begin(f->s, &txn), 0);
	assert_int_not_equal(sched_prune_step(f->s, txn, &p), 0);
	store_txn_abort(txn);
	assert_true(exists(f, a) && exists(f, b));
	assert_int_equal(lines_of(f, a), 3);
}

/*
 * A deleted job takes every key that names it: queue entries left
 * behind (a store written by an older version may hold them) and its
 * mention in its repository's record. The repository's other jobs stay.
 */
static void test_keys_gone(void **state)
{
	struct fix *f = *state;
	char a[21], q[21], r[21];
	uint8_t qk[SCHED_QKEY_LEN], lk[SCHED_LKEY_LEN], rkey[32];
	struct store_txn *txn;
	struct al_buf v = {0};
	json_t *repo = NULL;

	finished(f, "/srv/a", SCHED_OUT_FAILED, 10, 1, a);
	enqueue(f, "/srv/a", r);
	run(f, r);
	enqueue(f, "/srv/a", q);
	sched_qkey(qk, 100, T0, a);
	sched_lkey(lk, a);
	assert_int_equal(sched_begin(f->s, &txn), 0);
	assert_int_equal(store_put_raw(txn, STORE_DB_QUEUE, qk, sizeof(qk),
				       "", 0), 0);
	assert_int_equal(store_put_raw(txn, STORE_DB_QUEUE, lk, sizeof(lk),
				       "\0\0\0\0\0\0\0\1", 8), 0);
	assert_int_equal(sched_repo_get(f->s, txn, "/srv/a", rkey, &repo), 0);
	assert_int_equal(sched_repo_enqueue_id(sched_member(repo), a), 0);
	assert_int_equal(sched_repo_put(txn, rkey, repo), 0);
	json_decref(repo);
	assert_int_equal(store_txn_commit(txn), 0);

	f->now += DAY;
	struct sched_prune p = {.before_ms = f->now};
	prune_all(f, &p);
	assert_int_equal(p.jobs, 1);
	assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
	assert_int_equal(store_get_raw(txn, STORE_DB_QUEUE, qk, sizeof(qk),
				       &v), AL_E_NOTFOUND);
	assert_int_equal(store_get_raw(txn, STORE_DB_QUEUE, lk, sizeof(lk),
				       &v), AL_E_NOTFOUND);
	assert_int_equal(sched_repo_get(f->s, txn, "/srv/a", rkey, &repo), 0);
	store_txn_abort(txn);
	json_t *rm = sched_member(repo), *queued = sched_repo_queued(rm);
	assert_int_equal(json_array_size(queued), 1);
	assert_string_equal(json_string_value(json_array_get(queued, 0)), q);
	assert_string_equal(sched_jstr(rm, "running"), r);
	json_decref(queued);
	json_decref(repo);
	al_buf_free(&v);

	/* The queue still works around it: r ends, q runs. */
	assert_int_equal(sched_complete(f->s, NULL, r, 1, SCHED_OUT_SUCCEEDED,
					NULL, NULL), 0);
	run(f, q);
	digest_ok(f);
}

/* No rule: nothing to do, at once. */
static void test_no_rule(void **state)
{
	struct fix *f = *state;
	char a[21];
	struct sched_prune p = {0};

	finished(f, "/srv/a", SCHED_OUT_SUCCEEDED, 10, 1, a);
	f->now += 1000 * DAY;
	assert_int_equal(sched_prune_step(f->s, NULL, &p), 0);
	assert_true(p.done);
	assert_true(exists(f, a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_by_age, setup, teardown),
		cmocka_unit_test_setup_teardown(test_by_count, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_fails, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_keys_gone, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_rule, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
