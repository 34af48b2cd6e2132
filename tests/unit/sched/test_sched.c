/*
 * The scheduler over a real store and audit log, with an injected clock
 * and jitter: lease order, joining requests, one active job per
 * repository, heartbeats and lease expiry, backoff, recovery after a
 * daemon that died (a child process that leases and exits), cancel and
 * retry, every change carrying its audit entry in the same transaction,
 * credentials refused, and schedules across Europe/Berlin's clock
 * changes and a down-time.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit/audit.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "sched/sched.h"

struct fake {
	int64_t now;
	uint64_t rnd;
};

static int64_t fake_now(void *ctx)
{
	return ((struct fake *)ctx)->now;
}

static uint64_t fake_rand(void *ctx)
{
	return ((struct fake *)ctx)->rnd++;
}

struct fix {
	char home[64];
	struct store *st;
	struct audit_log *log;
	struct sched *s;
	struct fake clk;
	struct sched_clock clock;
	struct sched_opts o;
};

static int64_t utc(const char *s)
{
	struct tm tm = {0};

	if (!strptime(s, "%Y-%m-%dT%H:%M", &tm))
		abort();
	return (int64_t)timegm(&tm) * 1000;
}

static void open_sched(struct fix *f)
{
	assert_int_equal(sched_open(f->log, &f->o, &f->s), 0);
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->home, sizeof(f->home), "/tmp/al-sched-XXXXXX");
	if (!mkdtemp(f->home) || store_open(f->home, &f->st) ||
	    audit_log_open(f->st, f->home, NULL, &f->log))
		return -1;
	f->clk.now = utc("2026-06-01T12:00");
	f->clock = (struct sched_clock){fake_now, fake_rand, &f->clk};
	f->o = (struct sched_opts){.clock = &f->clock, .max_attempts = 3,
				   .lease_ms = 1000, .backoff_ms = 1000,
				   .backoff_max_ms = 8000};
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

static void enqueue(struct fix *f, const char *repo, unsigned prio,
		    int64_t due, char *id, bool *joined)
{
	struct sched_request rq = {.repo = repo, .priority = prio,
				   .due_ms = due};
	assert_int_equal(sched_enqueue(f->s, NULL, &rq, id, joined), 0);
}

static void lease(struct fix *f, struct sched_lease *l)
{
	assert_int_equal(sched_lease(f->s, NULL, "w1", l), 0);
	json_decref(l->record);
	l->record = NULL;
}

static void no_lease(struct fix *f)
{
	struct sched_lease l;
	assert_int_equal(sched_lease(f->s, NULL, "w1", &l), AL_E_NOTFOUND);
}

static json_t *show(struct fix *f, const char *id)
{
	json_t *rec = NULL;
	assert_int_equal(sched_show(f->s, id, &rec), 0);
	return rec;
}

static void assert_state(struct fix *f, const char *id, const char *want)
{
	json_t *rec = show(f, id);
	assert_string_equal(json_string_value(json_object_get(rec, "state")),
			    want);
	json_decref(rec);
}

static int64_t sched_int(struct fix *f, const char *id, const char *key)
{
	json_t *rec = show(f, id);
	int64_t v = json_integer_value(
		json_object_get(json_object_get(rec, "sched"), key));
	json_decref(rec);
	return v;
}

/* Whether the scheduler's member key is null (or absent). */
static bool sched_null(struct fix *f, const char *id, const char *key)
{
	json_t *rec = show(f, id);
	json_t *v = json_object_get(json_object_get(rec, "sched"), key);
	bool null = !v || json_is_null(v);

	json_decref(rec);
	return null;
}

static uint64_t audit_count(struct fix *f)
{
	uint64_t n = 0, bad = 0;
	assert_int_equal(audit_verify(f->st, &n, &bad), 0);
	return n;
}

/* The action of the last audit entry. */
static char *last_action(struct fix *f)
{
	struct store_txn *txn;
	uint8_t key[8];
	json_t *e;
	static char buf[64];

	audit_key(audit_count(f), key);
	assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
	assert_int_equal(store_get_json(txn, STORE_DB_AUDIT, key, 8, &e), 0);
	snprintf(buf, sizeof(buf), "%s",
		 json_string_value(json_object_get(e, "action")));
	json_decref(e);
	store_txn_abort(txn);
	return buf;
}

static void test_order(void **state)
{
	struct fix *f = *state;
	char a[21], b[21], c[21], d[21], e[21];
	struct sched_lease l;
	int64_t t0 = f->clk.now;

	open_sched(f);
	enqueue(f, "/srv/repo-a", 100, 0, a, NULL);
	enqueue(f, "/srv/repo-b", 200, 0, b, NULL);
	enqueue(f, "/srv/repo-c", 100, t0 - 5000, c, NULL); /* due earlier */
	enqueue(f, "/srv/repo-d", 250, t0 + 60000, d, NULL); /* not yet due */
	f->clk.now += 1;
	/* The same due time as a, a later id. */
	enqueue(f, "/srv/repo-e", 100, t0, e, NULL);

	lease(f, &l);
	assert_string_equal(l.id, b);
	assert_int_equal(l.attempt, 1);
	assert_int_equal(l.expires_ms, f->clk.now + 1000);
	lease(f, &l);
	assert_string_equal(l.id, c);
	lease(f, &l);
	assert_string_equal(l.id, a);
	lease(f, &l);
	assert_string_equal(l.id, e);
	no_lease(f);

	int64_t wake;
	assert_int_equal(sched_next_wakeup(f->s, &wake), 0);
	assert_int_equal(wake, f->clk.now + 1000); /* the leases end */
	f->clk.now = t0 + 60000;
	lease(f, &l);
	assert_string_equal(l.id, d);

	json_t *list = NULL;
	assert_int_equal(sched_list(f->s, SCHED_RUNNING, 0, &list), 0);
	assert_int_equal(json_array_size(list), 5);
	json_decref(list);
}

static void test_join_and_one_per_repo(void **state)
{
	struct fix *f = *state;
	char a[21], a2[21], a3[21], b[21];
	bool joined = true;
	struct sched_lease l;

	open_sched(f);
	enqueue(f, "https://git.test/acme/a.git", 10, 0, a, &joined);
	assert_false(joined);
	enqueue(f, "https://git.test/acme/b.git", 50, 0, b, NULL);
	/* A second request joins, raising the priority above b's. */
	enqueue(f, "https://git.test/acme/a.git", 90, 0, a2, &joined);
	assert_true(joined);
	assert_string_equal(a, a2);
	assert_string_equal(last_action(f), "job.join");
	assert_int_equal(sched_int(f, a, "priority"), 90);
	assert_int_equal(sched_int(f, a, "requests"), 2);

	json_t *list = NULL;
	assert_int_equal(sched_list(f->s, SCHED_QUEUED, 0, &list), 0);
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(list, 0), "id")), a);
	json_decref(list);

	lease(f, &l);
	assert_string_equal(l.id, a);
	/* Running: a new request makes a new queued job, which waits. */
	enqueue(f, "https://git.test/acme/a.git", 255, 0, a3, &joined);
	assert_false(joined);
	assert_string_not_equal(a3, a);
	lease(f, &l);
	assert_string_equal(l.id, b);
	no_lease(f);
	assert_int_equal(sched_complete(f->s, NULL, a, 1, SCHED_OUT_SUCCEEDED,
					NULL, NULL), 0);
	assert_string_equal(last_action(f), "job.finish");
	assert_state(f, a, "succeeded");
	lease(f, &l);
	assert_string_equal(l.id, a3);
}

static void test_expiry_backoff(void **state)
{
	struct fix *f = *state;
	char a[21];
	struct sched_lease l;
	unsigned n = 9;
	bool cancel = true;
	int64_t exp;
	const struct sched_stage clone = {.name = "clone", .step = 1};
	const struct sched_stage install1 = {"install", 5, 14};
	const struct sched_stage install2 = {"install", 10, 14};

	f->clk.rnd = 0; /* jitter: the fixed half only */
	open_sched(f);
	enqueue(f, "/srv/repo-x", 100, 0, a, NULL);
	lease(f, &l);

	/* Heartbeats keep the lease. */
	f->clk.now += 800;
	assert_int_equal(sched_heartbeat(f->s, NULL, a, 1, &clone, &exp,
					 &cancel), 0);
	assert_false(cancel);
	assert_int_equal(exp, f->clk.now + 1000);
	assert_string_equal(last_action(f), "job.stage");
	assert_int_equal(sched_int(f, a, "step"), 1);
	assert_true(sched_null(f, a, "steps")); /* the plan is not known */
	uint64_t before = audit_count(f);
	f->clk.now += 800;
	assert_int_equal(sched_heartbeat(f->s, NULL, a, 1, &clone, NULL,
					 NULL), 0);
	assert_int_equal(audit_count(f), before); /* no stage change */
	/* A stage of the same name in the next group is a change. */
	f->clk.now += 800;
	assert_int_equal(sched_heartbeat(f->s, NULL, a, 1, &install1, NULL,
					 NULL), 0);
	assert_int_equal(sched_heartbeat(f->s, NULL, a, 1, &install2, NULL,
					 NULL), 0);
	assert_int_equal(audit_count(f), before + 2);
	assert_int_equal(sched_int(f, a, "step"), 10);
	assert_int_equal(sched_int(f, a, "steps"), 14);
	f->clk.now += 800;
	assert_int_equal(sched_requeue_expired(f->s, NULL, false, &n), 0);
	assert_int_equal(n, 0);

	/* The worker stops: expired, requeued, backed off 1000/2. */
	f->clk.now += 1001;
	f->clk.rnd = 0;
	assert_int_equal(sched_requeue_expired(f->s, NULL, false, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(last_action(f), "job.requeue");
	assert_state(f, a, "queued");
	assert_int_equal(sched_int(f, a, "due_ms"), f->clk.now + 500);
	/* The old worker's lease is gone. */
	assert_int_equal(sched_heartbeat(f->s, NULL, a, 1, NULL, NULL, NULL),
			 AL_E_STALE);
	assert_int_equal(sched_complete(f->s, NULL, a, 1, SCHED_OUT_SUCCEEDED,
					NULL, NULL), AL_E_STALE);
	no_lease(f);
	f->clk.now += 500;
	lease(f, &l);
	assert_int_equal(l.attempt, 2);
	/* The new lease starts with no stage and no place. */
	assert_true(sched_null(f, a, "stage"));
	assert_true(sched_null(f, a, "step"));
	assert_true(sched_null(f, a, "steps"));

	/* A transient failure retries with twice the delay. */
	f->clk.rnd = 0;
	enum sched_state st;
	assert_int_equal(sched_complete(f->s, NULL, a, 2, SCHED_OUT_RETRY,
					"registry unreachable", &st), 0);
	assert_int_equal(st, SCHED_QUEUED);
	assert_int_equal(sched_int(f, a, "due_ms"), f->clk.now + 1000);
	f->clk.now += 1000;
	lease(f, &l);
	assert_int_equal(l.attempt, 3);

	/* The third lease expires: attempts are used up. */
	f->clk.now += 1001;
	assert_int_equal(sched_requeue_expired(f->s, NULL, false, &n), 0);
	assert_state(f, a, "failed");
	json_t *rec = show(f, a);
	const char *why = json_string_value(
		json_object_get(json_object_get(rec, "sched"), "reason"));
	assert_non_null(strstr(why, "lease expired"));
	assert_non_null(strstr(why, "3 of 3 attempts used"));
	assert_non_null(json_object_get(rec, "finished_ms"));
	json_decref(rec);
	no_lease(f);
}

/*
 * A daemon that stops hands its running job back (SCHED_OUT_REQUEUE):
 * queued again at once, and that lease does not count against the
 * attempts, so an appliance restarted during long jobs never fails them
 * for it. A cancel requested meanwhile still wins.
 */
static void test_requeue_not_counted(void **state)
{
	struct fix *f = *state;
	char a[21], b[21];
	struct sched_lease l;
	enum sched_state st;

	open_sched(f);
	enqueue(f, "/srv/repo-r", 100, 0, a, NULL);
	for (unsigned i = 1; i <= 5; i++) {
		lease(f, &l);
		assert_int_equal(l.attempt, i);
		assert_int_equal(sched_complete(f->s, NULL, a, i,
						SCHED_OUT_REQUEUE,
						"daemon stopping", &st), 0);
		assert_int_equal(st, SCHED_QUEUED);
		assert_int_equal(sched_int(f, a, "due_ms"), f->clk.now);
		assert_string_equal(last_action(f), "job.requeue");
	}
	assert_int_equal(sched_int(f, a, "requeues"), 5);
	/* Three real attempts remain: two retries, then failed. */
	for (unsigned i = 6; i <= 8; i++) {
		lease(f, &l);
		assert_int_equal(sched_complete(f->s, NULL, a, i,
						SCHED_OUT_RETRY, "flaky", &st),
				 0);
		f->clk.now += 10000;
	}
	assert_int_equal(st, SCHED_FAILED);
	json_t *rec = show(f, a);
	assert_non_null(strstr(json_string_value(json_object_get(
				       json_object_get(rec, "sched"), "reason")),
			       "3 of 3 attempts used"));
	json_decref(rec);

	enqueue(f, "/srv/repo-s", 100, 0, b, NULL);
	lease(f, &l);
	assert_int_equal(sched_cancel(f->s, NULL, b, "uid:0"), 0);
	assert_int_equal(sched_complete(f->s, NULL, b, 1, SCHED_OUT_REQUEUE,
					"daemon stopping", &st), 0);
	assert_int_equal(st, SCHED_CANCELLED);
	assert_int_equal(sched_complete(f->s, NULL, b, 1, SCHED_OUT_REQUEUE + 1,
					NULL, NULL), AL_E_USAGE);
}

static void test_backoff_jitter(void **state)
{
	struct fix *f = *state;

	open_sched(f);
	f->clk.rnd = 0;
	assert_int_equal(sched_backoff_ms(f->s, 1), 500);
	f->clk.rnd = 500; /* r % 501 = 500: the top of the range */
	assert_int_equal(sched_backoff_ms(f->s, 1), 1000);
	f->clk.rnd = 1001; /* attempt 2: d = 2000, 1001 % 1001 = 0 */
	assert_int_equal(sched_backoff_ms(f->s, 2), 1000);
	f->clk.rnd = 0;
	assert_int_equal(sched_backoff_ms(f->s, 4), 4000);
	/* Capped at backoff_max_ms (8000) from attempt 4 on. */
	f->clk.rnd = 4000;
	assert_int_equal(sched_backoff_ms(f->s, 5), 8000);
	f->clk.rnd = 4000;
	assert_int_equal(sched_backoff_ms(f->s, 60), 8000);
	/* Jitter spreads: two draws differ. */
	f->clk.rnd = 7;
	int64_t x = sched_backoff_ms(f->s, 3);
	int64_t y = sched_backoff_ms(f->s, 3);
	assert_true(x != y && x >= 2000 && x <= 4000 && y >= 2000);
}

/*
 * A daemon that dies holding leases: a child opens the home, leases two
 * jobs and exits without a word. The parent's recovery at start-up
 * requeues both before their leases would have expired.
 */
static void test_daemon_death(void **state)
{
	struct fix *f = *state;
	char a[21], b[21];
	unsigned n = 0;

	open_sched(f);
	enqueue(f, "/srv/repo-1", 100, 0, a, NULL);
	enqueue(f, "/srv/repo-2", 100, 0, b, NULL);
	sched_close(f->s);
	f->s = NULL;

	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *st;
		struct audit_log *log;
		struct sched *s;
		struct sched_lease l;
		int bad = store_open(f->home, &st) ||
			  audit_log_open(st, f->home, NULL, &log) ||
			  sched_open(log, &f->o, &s) ||
			  sched_lease(s, NULL, "w1", &l) ||
			  sched_lease(s, NULL, "w2", &l);
		_exit(bad ? 1 : 0); /* no close, no complete: a crash */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	open_sched(f);
	assert_state(f, a, "running");
	assert_int_equal(sched_requeue_expired(f->s, NULL, false, &n), 0);
	assert_int_equal(n, 0); /* not expired yet by the clock */
	assert_int_equal(sched_requeue_expired(f->s, NULL, true, &n), 0);
	assert_int_equal(n, 2);
	assert_state(f, a, "queued");
	assert_state(f, b, "queued");
	assert_int_equal(sched_int(f, a, "attempt"), 1);
	json_t *rec = show(f, b);
	json_t *why = json_object_get(json_object_get(rec, "sched"), "reason");
	assert_non_null(strstr(json_string_value(why), "daemon died while the job ran"));
	json_decref(rec);
	f->clk.now += 10000;
	struct sched_lease l;
	lease(f, &l);
	assert_int_equal(l.attempt, 2);
}

static void test_cancel_retry(void **state)
{
	struct fix *f = *state;
	char a[21], b[21], r[21], r2[21];
	struct sched_lease l;
	bool cancel = false;

	open_sched(f);
	enqueue(f, "/srv/repo-a", 100, 0, a, NULL);
	enqueue(f, "/srv/repo-b", 90, 0, b, NULL);
	assert_int_equal(sched_cancel(f->s, NULL, b, "uid:1000"), 0);
	assert_state(f, b, "cancelled");
	assert_int_equal(sched_cancel(f->s, NULL, b, "uid:1000"), AL_E_USAGE);

	lease(f, &l);
	assert_string_equal(l.id, a);
	no_lease(f); /* b is gone from the queue */
	assert_int_equal(sched_cancel(f->s, NULL, a, "uid:1000"), 0);
	assert_state(f, a, "running");
	assert_int_equal(sched_heartbeat(f->s, NULL, a, 1, NULL, NULL,
					 &cancel), 0);
	assert_true(cancel);
	assert_int_equal(sched_complete(f->s, NULL, a, 1, SCHED_OUT_RETRY,
					"stopped", NULL), 0);
	assert_state(f, a, "cancelled"); /* a cancel is never retried */

	assert_int_equal(sched_retry(f->s, NULL, a, "uid:1000", r), 0);
	assert_string_not_equal(r, a);
	json_t *rec = show(f, r);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(rec, "sched"), "retry_of")),
			    a);
	json_decref(rec);
	/* A retry of b joins the job r? No: another repository. A second
	 * retry of a joins r. */
	assert_int_equal(sched_retry(f->s, NULL, a, "uid:1000", r2), 0);
	assert_string_equal(r2, r);
	assert_int_equal(sched_retry(f->s, NULL, r, "uid:1000", r2),
			 AL_E_USAGE);
	assert_int_equal(sched_cancel(f->s, NULL, "00000000000000000000",
				      NULL), AL_E_NOTFOUND);
	assert_int_equal(sched_cancel(f->s, NULL, "../x", NULL),
			 AL_E_NOTFOUND);
}

/* The ids of a page's jobs, in order, into ids; the count. */
static size_t page_ids(json_t *page, char ids[][21], size_t max)
{
	json_t *j;
	size_t i, n = 0;

	json_array_foreach(json_object_get(page, "jobs"), i, j) {
		assert_true(n < max);
		snprintf(ids[n++], 21, "%s",
			 json_string_value(json_object_get(j, "id")));
	}
	return n;
}

/*
 * Paging: newest first, each job once across the pages, "next" the
 * cursor and null at the end; a filter examines at most scan records
 * per call and goes on from "next"; "after" bounds the walk.
 */
static void test_page(void **state)
{
	struct fix *f = *state;
	struct sched_page_query q = {.state = -1, .limit = 7};
	char made[40][21], got[64][21], next[21] = "", repo[32];
	size_t n = 0, found = 0;
	json_t *page = NULL;

	open_sched(f);
	for (int i = 0; i < 40; i++) {
		snprintf(repo, sizeof(repo), "/srv/repo-%02d", i);
		f->clk.now += 1000; /* ids in creation order */
		enqueue(f, repo, 100, 0, made[i], NULL);
		if (i % 4 == 0)
			assert_int_equal(sched_cancel(f->s, NULL, made[i],
						      "uid:1"), 0);
	}
	do {
		q.before = next[0] ? next : NULL;
		assert_int_equal(sched_page(f->s, &q, &page), 0);
		assert_int_equal(json_integer_value(json_object_get(page,
								    "total")),
				 40);
		assert_string_equal(json_string_value(json_object_get(
					    page, "newest")), made[39]);
		n += page_ids(page, got + n, 64 - n);
		json_t *nx = json_object_get(page, "next");
		snprintf(next, sizeof(next), "%s",
			 json_is_string(nx) ? json_string_value(nx) : "");
		json_decref(page);
	} while (next[0]);
	assert_int_equal(n, 40);
	for (size_t i = 0; i < 40; i++)
		assert_string_equal(got[i], made[39 - i]);

	/* Cancelled ones, 3 records examined per call at most. */
	q.state = sched_state_parse("cancelled");
	q.scan = 3;
	next[0] = '\0';
	do {
		q.before = next[0] ? next : NULL;
		assert_int_equal(sched_page(f->s, &q, &page), 0);
		assert_true(json_integer_value(json_object_get(page, "scanned"))
			    <= 3);
		size_t k = page_ids(page, got, 64);
		for (size_t i = 0; i < k; i++)
			assert_string_equal(got[i], made[36 - 4 * found++]);
		json_t *nx = json_object_get(page, "next");
		snprintf(next, sizeof(next), "%s",
			 json_is_string(nx) ? json_string_value(nx) : "");
		json_decref(page);
	} while (next[0]);
	assert_int_equal(found, 10);

	/* Text, and only the jobs newer than made[30]. */
	q = (struct sched_page_query){.state = -1, .limit = 100,
				      .match = "REPO-1", .after = made[5]};
	assert_int_equal(sched_page(f->s, &q, &page), 0);
	assert_int_equal(page_ids(page, got, 64), 10); /* repo-10..19 */
	assert_true(json_is_null(json_object_get(page, "next")));
	json_decref(page);
	q = (struct sched_page_query){.state = -1, .limit = 100,
				      .after = made[30]};
	assert_int_equal(sched_page(f->s, &q, &page), 0);
	assert_int_equal(page_ids(page, got, 64), 9);
	assert_string_equal(got[8], made[31]);
	json_decref(page);
	q.limit = 0;
	assert_int_equal(sched_page(f->s, &q, &page), AL_E_USAGE);
}

/*
 * No state change without its audit entry: an entry the log refuses
 * (an actor over AUDIT_NAME_MAX) must leave the job as it was.
 */
static void test_audit_atomic(void **state)
{
	struct fix *f = *state;
	char a[21], actor[400];
	uint64_t n0;

	open_sched(f);
	n0 = audit_count(f);
	enqueue(f, "/srv/repo-a", 100, 0, a, NULL);
	assert_int_equal(audit_count(f), n0 + 1);
	assert_string_equal(last_action(f), "job.enqueue");

	memset(actor, 'x', sizeof(actor) - 1);
	actor[sizeof(actor) - 1] = '\0';
	assert_int_equal(sched_cancel(f->s, NULL, a, actor), AL_E_LIMIT);
	assert_state(f, a, "queued");
	assert_int_equal(audit_count(f), n0 + 1);
	struct sched_request rq = {.repo = "/srv/repo-z", .actor = actor};
	char z[21];
	assert_int_equal(sched_enqueue(f->s, NULL, &rq, z, NULL), AL_E_LIMIT);
	json_t *list = NULL;
	assert_int_equal(sched_list(f->s, -1, 0, &list), 0);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);

	/* Group commit: three changes, one transaction, three entries. */
	struct store_txn *txn;
	struct sched_lease l;
	assert_int_equal(sched_begin(f->s, &txn), 0);
	assert_int_equal(sched_lease(f->s, txn, "w1", &l), 0);
	json_decref(l.record);
	assert_int_equal(sched_complete(f->s, txn, a, 1, SCHED_OUT_FAILED,
					"tests failed", NULL), 0);
	rq = (struct sched_request){.repo = "/srv/repo-b"};
	assert_int_equal(sched_enqueue(f->s, txn, &rq, z, NULL), 0);
	assert_int_equal(sched_commit(f->s, txn), 0);
	assert_int_equal(audit_count(f), n0 + 4);
	assert_state(f, a, "failed");
}

/* Run fn with stderr (the log) going to a file; what was logged. */
static char *logged(struct fix *f, void (*fn)(struct fix *, void *),
		    void *arg)
{
	char path[96];
	static char buf[4096];
	int saved = dup(STDERR_FILENO), fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/log.txt", f->home);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	al_log_set_level(AL_LOG_INFO);
	fn(f, arg);
	al_log_set_level(AL_LOG_WARN);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* End the lease of job arg in the caller's transaction, then abort it. */
static void end_aborted(struct fix *f, void *arg)
{
	struct store_txn *txn;
	struct sched_end end;

	assert_int_equal(sched_begin(f->s, &txn), 0);
	assert_int_equal(sched_complete_end(f->s, txn, arg, 1,
					    SCHED_OUT_FAILED, "tests failed",
					    &end), 0);
	assert_int_equal(end.state, SCHED_FAILED);
	store_txn_abort(txn);
}

/* The same, committed, and logged by the caller after the commit. */
static void end_committed(struct fix *f, void *arg)
{
	struct store_txn *txn;
	struct sched_end end;

	assert_int_equal(sched_begin(f->s, &txn), 0);
	assert_int_equal(sched_complete_end(f->s, txn, arg, 1,
					    SCHED_OUT_RETRY, "registry down",
					    &end), 0);
	assert_int_equal(sched_commit(f->s, txn), 0);
	sched_log_end(arg, &end);
}

/* An expired lease ended in a transaction of the scheduler's own. */
static void end_expired(struct fix *f, void *arg)
{
	unsigned n = 0;

	(void)arg;
	f->clk.now += 5000;
	assert_int_equal(sched_requeue_expired(f->s, NULL, false, &n), 0);
	assert_int_equal(n, 1);
}

/*
 * "job requeued/failed" is logged once the end is stored, never for an
 * end whose transaction was aborted (a full disk would otherwise leave
 * a line about something that did not happen).
 */
static void test_end_logged_after_commit(void **state)
{
	struct fix *f = *state;
	struct sched_lease l;
	char a[21];
	char *out;

	open_sched(f);
	enqueue(f, "/srv/repo-a", 100, 0, a, NULL);
	lease(f, &l);
	out = logged(f, end_aborted, a);
	assert_null(strstr(out, "job failed"));
	assert_state(f, a, "running");

	out = logged(f, end_committed, a);
	assert_non_null(strstr(out, "job requeued attempt=1 reason=registry "
				    "down"));
	assert_state(f, a, "queued");

	f->clk.now += 60000;
	lease(f, &l);
	out = logged(f, end_expired, NULL);
	assert_non_null(strstr(out, "job requeued attempt=2 reason=lease "
				    "expired"));
}

/* A request with its settings; NULL members are the defaults. */
static void enqueue_rq(struct fix *f, const char *repo, const char *branch,
		       const char *policy, const char *cmd, char *id,
		       bool *joined)
{
	struct sched_request rq = {.repo = repo, .branch = branch,
				   .policy = policy, .test_cmd = cmd,
				   .priority = 100};
	assert_int_equal(sched_enqueue(f->s, NULL, &rq, id, joined), 0);
}

static const char *rec_str(struct fix *f, const char *id, const char *key)
{
	static char buf[256];
	json_t *rec = show(f, id);
	const char *v = json_string_value(json_object_get(rec, key));

	snprintf(buf, sizeof(buf), "%s", v ? v : "(null)");
	json_decref(rec);
	return buf;
}

/*
 * A request joins a queued job only with the same branch, policy and
 * test command; otherwise it becomes a job of its own, which still
 * waits while another job of its repository runs.
 */
static void test_join_needs_same_settings(void **state)
{
	struct fix *f = *state;
	const char *r = "https://git.test/acme/a.git";
	char a[21], b[21], c[21], x[21];
	bool joined = true;
	struct sched_lease l;

	open_sched(f);
	enqueue_rq(f, r, NULL, NULL, NULL, a, &joined);
	assert_false(joined);
	/* "npm test" is what no test command means: the same run. */
	enqueue_rq(f, r, NULL, NULL, "npm test", x, &joined);
	assert_true(joined);
	assert_string_equal(x, a);
	enqueue_rq(f, r, "release", NULL, NULL, b, &joined);
	assert_false(joined);
	assert_string_not_equal(b, a);
	assert_string_equal(last_action(f), "job.enqueue");
	enqueue_rq(f, r, NULL, "patch", NULL, c, &joined);
	assert_false(joined);
	enqueue_rq(f, r, NULL, NULL, "make check", x, &joined);
	assert_false(joined);
	/* A request like b's joins b, not a. */
	enqueue_rq(f, r, "release", NULL, NULL, x, &joined);
	assert_true(joined);
	assert_string_equal(x, b);
	assert_int_equal(sched_int(f, b, "requests"), 2);
	assert_string_equal(rec_str(f, b, "branch"), "release");
	assert_string_equal(rec_str(f, a, "branch"), "(null)");

	/* One at a time: a runs, b waits until a ends. */
	lease(f, &l);
	assert_string_equal(l.id, a);
	no_lease(f);
	/* Running: a request like a's makes a new job, or joins one. */
	enqueue_rq(f, r, NULL, NULL, NULL, x, &joined);
	assert_false(joined);
	assert_string_not_equal(x, a);
	assert_int_equal(sched_complete(f->s, NULL, a, 1, SCHED_OUT_SUCCEEDED,
					NULL, NULL), 0);
	lease(f, &l);
	assert_string_equal(l.id, b);
	no_lease(f);
}

/* Every spelling of one repository is one repository. */
static void test_repo_identity(void **state)
{
	static const char *const same[][2] = {
		{"HTTPS://Git.Test:443/acme/a.git/", "https://git.test/acme/a"},
		{"https://git.test/acme/a.git", "https://git.test/acme/a"},
		{"https://git.test/acme/a//", "https://git.test/acme/a"},
		{"Http://GIT.test:80/acme/a", "http://git.test/acme/a"},
		{"http://git.test:/acme/a", "http://git.test/acme/a"},
		{"http://[::1]:80/a.git", "http://[::1]/a"},
		{"file:///srv/x.git/", "/srv/x.git"},
		{"FILE:///srv//x", "/srv/x"},
		{"/srv//x.git//", "/srv/x.git"},
		{"/", "/"},
	};
	static const char *const other[][2] = {
		{"https://git.test:8443/acme/a", "https://git.test/acme/a"},
		{"http://git.test/acme/a", "https://git.test/acme/a"},
		{"https://git.test/acme/A", "https://git.test/acme/a"},
		{"https://git.test/acme/a/.git", "https://git.test/acme/a"},
		{"/srv/x.git", "/srv/x"}, /* two directories */
		{"http://[::1]:8080/a", "http://[::1]/a"},
	};
	struct fix *f = *state;
	char k1[256], k2[256], a[21], x[21];
	bool joined = false;
	struct sched_lease l;

	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		assert_int_equal(sched_repo_norm(same[i][0], true, k1,
						 sizeof(k1)), 0);
		assert_string_equal(k1, same[i][1]);
	}
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		assert_int_equal(sched_repo_norm(other[i][0], true, k1,
						 sizeof(k1)), 0);
		assert_int_equal(sched_repo_norm(other[i][1], true, k2,
						 sizeof(k2)), 0);
		assert_string_not_equal(k1, k2);
	}
	/* What is stored keeps ".git": the worker clones that URL. */
	assert_int_equal(sched_repo_norm("HTTPS://Git.Test:443/a.git/", false,
					 k1, sizeof(k1)), 0);
	assert_string_equal(k1, "https://git.test/a.git");
	assert_int_equal(sched_repo_norm("https://h/a", false, k1, 5),
			 AL_E_LIMIT);

	open_sched(f);
	enqueue_rq(f, "HTTPS://Git.Test:443/acme/a.git/", NULL, NULL, NULL, a,
		   &joined);
	assert_string_equal(rec_str(f, a, "repo"),
			    "https://git.test/acme/a.git");
	enqueue_rq(f, "https://git.test/acme/a", NULL, NULL, NULL, x, &joined);
	assert_true(joined);
	assert_string_equal(x, a);
	/* Another spelling with other settings waits for a. */
	enqueue_rq(f, "https://GIT.TEST/acme/a.git/", "dev", NULL, NULL, x,
		   &joined);
	assert_false(joined);
	lease(f, &l);
	assert_string_equal(l.id, a);
	no_lease(f);
	assert_int_equal(sched_complete(f->s, NULL, a, 1, SCHED_OUT_FAILED,
					"tests failed", NULL), 0);
	lease(f, &l);
	assert_string_equal(l.id, x);
}

/*
 * A repository record written under a spelling that is not in normal
 * form (by a daemon before the key was normalised) is not read: its
 * stale "running" does not block the repository.
 */
static void test_repo_old_key(void **state)
{
	struct fix *f = *state;
	const char *old = "HTTPS://git.test/acme/a.git/";
	struct store_txn *txn;
	uint8_t key[32];
	char a[21];
	struct sched_lease l;
	json_t *rec = json_pack("{s:s,s:{s:s,s:s}}", "url", old, "sched",
				"running", "0000000000000000dead", "queued",
				"0000000000000000beef");

	assert_int_equal(store_blind_key(f->st, STORE_DB_REPOS, old,
					 strlen(old), key), 0);
	assert_int_equal(store_txn_begin(f->st, true, &txn), 0);
	assert_int_equal(store_put_json(txn, STORE_DB_REPOS, key, 32, rec, 0),
			 0);
	assert_int_equal(store_txn_commit(txn), 0);
	json_decref(rec);
	open_sched(f);
	enqueue_rq(f, old, NULL, NULL, NULL, a, NULL);
	lease(f, &l);
	assert_string_equal(l.id, a);
}

static void test_request_check(void **state)
{
	static const char *const bad_repo[] = {
		"ext::sh -c touch% /tmp/pwned",
		"ext::sh://x",
		"ssh://-oProxyCommand=touch%20/tmp/x/a.git",
		"ssh://git@git.test/a.git",
		"git://git.test/a.git",
		"git.test:acme/a.git",
		"relative/path",
		"https://git.test/a.git?token=s3cret",
		"https://git.test/a.git#frag",
		"file:///srv/x?y",
		"https:///a.git",
		"file://",
		"/srv/with space",
		"/srv/bell\a",
		"/srv/bad\xff",
		"https://git.test/csi\xc2\x9b" "31m.git",
		"https://git.test/\xe2\x80\xaegit.exe",
		"",
	};
	static const char *const bad_branch[] = {
		"-n", "--upload-pack=x", "a..b", "a@{1}", "@", "HEAD", "a.lock",
		"a/b.lock/c", ".hidden", "a/.b", "a/", "/a", "a//b", "a.",
		"a b", "a\tb", "a\nb", "a~1", "a^", "a:b", "a?", "a*", "a[",
		"a\\b", "a\x7f", "\xc3", "",
	};
	static const char *const good_branch[] = {
		"main", "release/1.x", "feature/a-b_c", "v1.2.3", "a@b",
		"dependabot/npm_and_yarn/x-1.0", "caf\xc3\xa9", "a.lock.b",
	};
	struct sched_request rq = {.repo = "https://git.test/a.git"};
	char why[512], id[21];
	struct fix *f = *state;

	open_sched(f);
	assert_int_equal(sched_request_check(&rq, 0, why, sizeof(why)), 0);
	for (size_t i = 0; i < sizeof(bad_repo) / sizeof(*bad_repo); i++) {
		rq.repo = bad_repo[i];
		why[0] = '\0';
		assert_int_equal(sched_request_check(&rq, 0, why, sizeof(why)),
				 AL_E_USAGE);
		assert_true(why[0] != '\0');
		/* The refused value is never quoted back. */
		assert_null(strstr(why, "s3cret"));
		assert_int_equal(sched_enqueue(f->s, NULL, &rq, id, NULL),
				 AL_E_USAGE);
	}
	rq.repo = "https://git.test/a.git?token=s3cret";
	assert_int_equal(sched_request_check(&rq, 0, why, sizeof(why)),
			 AL_E_USAGE);
	assert_non_null(strstr(why, "query"));
	rq.repo = "https://bot:s3cret@git.test/a.git";
	assert_int_equal(sched_request_check(&rq, 0, NULL, 0), AL_E_UNSAFE);
	/* airlock update splits credentials off and resolves paths. */
	assert_int_equal(sched_request_check(&rq, SCHED_CHECK_LOCAL, NULL, 0),
			 0);
	rq.repo = "relative/path";
	assert_int_equal(sched_request_check(&rq, SCHED_CHECK_LOCAL, NULL, 0),
			 0);
	rq.repo = "ssh://-oProxyCommand=x/a";
	assert_int_equal(sched_request_check(&rq, SCHED_CHECK_LOCAL, NULL, 0),
			 AL_E_USAGE);
	rq.repo = "https://git.test/a.git?token=s3cret";
	assert_int_equal(sched_request_check(&rq, SCHED_CHECK_LOCAL, NULL, 0),
			 AL_E_USAGE);
	for (size_t i = 0; i < 3; i++) {
		const char *ok[] = {"HTTPS://git.test/a", "file:///srv/x.git",
				    "/srv/x.git"};
		rq.repo = ok[i];
		assert_int_equal(sched_request_check(&rq, 0, NULL, 0), 0);
	}

	rq.repo = "https://git.test/a.git";
	for (size_t i = 0; i < sizeof(bad_branch) / sizeof(*bad_branch); i++) {
		rq.branch = bad_branch[i];
		assert_false(sched_branch_ok(rq.branch));
		assert_int_equal(sched_request_check(&rq, 0, why, sizeof(why)),
				 AL_E_USAGE);
		assert_non_null(strstr(why, "branch"));
		assert_int_equal(sched_enqueue(f->s, NULL, &rq, id, NULL),
				 AL_E_USAGE);
	}
	for (size_t i = 0; i < sizeof(good_branch) / sizeof(*good_branch);
	     i++) {
		rq.branch = good_branch[i];
		assert_true(sched_branch_ok(rq.branch));
	}
	rq.branch = NULL;
	rq.policy = "huge";
	assert_int_equal(sched_request_check(&rq, 0, NULL, 0), AL_E_USAGE);
	rq.policy = NULL;
	rq.test_cmd = "";
	assert_int_equal(sched_request_check(&rq, 0, NULL, 0), AL_E_USAGE);
	/* Nothing that drives a terminal: C0, C1, bidi overrides. */
	static const char *const bad_cmd[] = {
		"npm test\x1b]0;x\x07", "npm test\n", "npm \xc2\x9b" "2J",
		"npm test \xe2\x81\xa6x",
	};
	for (size_t i = 0; i < sizeof(bad_cmd) / sizeof(*bad_cmd); i++) {
		rq.test_cmd = bad_cmd[i];
		assert_int_equal(sched_request_check(&rq, 0, why, sizeof(why)),
				 AL_E_USAGE);
		assert_non_null(strstr(why, "test_cmd"));
	}
	rq.test_cmd = "npm run\ttests-only -- --grep 'caf\xc3\xa9'";
	assert_int_equal(sched_request_check(&rq, 0, NULL, 0), 0);
	rq.test_cmd = NULL;

	json_t *list = NULL;
	assert_int_equal(sched_list(f->s, -1, 0, &list), 0);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
}

/*
 * Crashes pile up queued jobs: a job requeued after its lease expired
 * meets the job queued for its repository meanwhile with the same
 * settings. The newer folds into the older: one run, one proposal.
 */
static void test_fold_requeued(void **state)
{
	struct fix *f = *state;
	const char *r = "https://git.test/acme/f.git";
	char a[21], b[21], c[21];
	struct sched_lease l;
	unsigned n = 0;

	open_sched(f);
	enqueue_rq(f, r, NULL, NULL, NULL, a, NULL);
	lease(f, &l);
	f->clk.now += 10;
	enqueue_rq(f, r, NULL, NULL, NULL, b, NULL); /* waits for a */
	enqueue_rq(f, r, "dev", NULL, NULL, c, NULL); /* other settings */
	assert_string_not_equal(a, b);
	assert_int_equal(sched_requeue_expired(f->s, NULL, true, &n), 0);
	assert_int_equal(n, 1);
	assert_state(f, a, "queued");
	assert_state(f, b, "cancelled");
	assert_string_equal(last_action(f), "job.join");
	json_t *rec = show(f, b);
	json_t *m = json_object_get(rec, "sched");
	assert_string_equal(json_string_value(json_object_get(m,
							      "joined_into")),
			    a);
	assert_non_null(strstr(json_string_value(json_object_get(m, "reason")),
			       a));
	json_decref(rec);
	assert_int_equal(sched_int(f, a, "requests"), 2);
	assert_state(f, c, "queued");

	/* a now runs first (b's earlier due time), then c; b never. */
	lease(f, &l);
	assert_string_equal(l.id, a);
	assert_int_equal(l.attempt, 2);
	assert_int_equal(sched_complete(f->s, NULL, a, 2, SCHED_OUT_SUCCEEDED,
					NULL, NULL), 0);
	lease(f, &l);
	assert_string_equal(l.id, c);
	assert_int_equal(sched_complete(f->s, NULL, c, 1, SCHED_OUT_SUCCEEDED,
					NULL, NULL), 0);
	no_lease(f);
}

static void test_credentials_refused(void **state)
{
	struct fix *f = *state;
	struct sched_request rq = {
		.repo = "https://bot:ghp_secret@git.test/acme/a.git"};
	char id[21];
	json_t *list = NULL;

	open_sched(f);
	assert_int_equal(sched_enqueue(f->s, NULL, &rq, id, NULL),
			 AL_E_UNSAFE);
	rq.repo = "/srv/repo\nwith-newline";
	assert_int_equal(sched_enqueue(f->s, NULL, &rq, id, NULL), AL_E_USAGE);
	rq.repo = "";
	assert_int_equal(sched_enqueue(f->s, NULL, &rq, id, NULL), AL_E_USAGE);
	rq.repo = "/srv/repo-a";
	rq.priority = 256;
	assert_int_equal(sched_enqueue(f->s, NULL, &rq, id, NULL), AL_E_USAGE);
	assert_int_equal(sched_list(f->s, -1, 0, &list), 0);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	/* An @ in the path is no userinfo. */
	rq.repo = "https://git.test/acme/a@b.git";
	rq.priority = 1;
	assert_int_equal(sched_enqueue(f->s, NULL, &rq, id, NULL), 0);
}

static void test_save_record(void **state)
{
	struct fix *f = *state;
	char a[21];
	struct sched_lease l;

	open_sched(f);
	enqueue(f, "/srv/repo-a", 100, 0, a, NULL);
	assert_int_equal(sched_lease(f->s, NULL, "w1", &l), 0);
	json_object_set_new(l.record, "state", json_string("succeeded"));
	json_object_set_new(l.record, "repo", json_string("elsewhere"));
	json_object_set_new(l.record, "plan", json_pack("{s:[]}", "updates"));
	assert_int_equal(sched_save_record(f->s, NULL, a, 1, l.record,
					   "job.save"), 0);
	json_t *rec = show(f, a);
	assert_string_equal(json_string_value(json_object_get(rec, "state")),
			    "running");
	assert_string_equal(json_string_value(json_object_get(rec, "repo")),
			    "/srv/repo-a");
	assert_non_null(json_object_get(rec, "plan"));
	assert_non_null(json_object_get(rec, "lease_expires_ms"));
	json_decref(rec);
	assert_int_equal(sched_save_record(f->s, NULL, a, 2, l.record,
					   "job.save"), AL_E_STALE);
	json_decref(l.record);
}

static unsigned fired(struct fix *f)
{
	json_t *arr = NULL;
	assert_int_equal(sched_tick(f->s, NULL, &arr), 0);
	unsigned n = (unsigned)json_array_size(arr);
	json_decref(arr);
	return n;
}

static void finish_all(struct fix *f)
{
	struct sched_lease l;

	while (sched_lease(f->s, NULL, "w", &l) == 0) {
		assert_int_equal(sched_complete(f->s, NULL, l.id, l.attempt,
						SCHED_OUT_SUCCEEDED, NULL,
						NULL), 0);
		json_decref(l.record);
	}
}

/*
 * "0 2 * * *" in Europe/Berlin around the spring-forward night, then a
 * week of down-time: the missed slots fire once.
 */
static void test_schedule_dst_downtime(void **state)
{
	struct fix *f = *state;
	struct sched_schedule sch[] = {
		{"https://git.test/acme/nightly.git", "0 2 * * *",
		 "Europe/Berlin"},
		{"https://git.test/acme/weekly.git", "weekly sun 02:30",
		 "Europe/Berlin"},
	};
	int64_t wake;

	f->o.schedules = sch;
	f->o.nschedules = 2;
	f->clk.now = utc("2026-03-28T12:00");
	open_sched(f);
	assert_int_equal(fired(f), 0); /* first sight records now only */
	assert_string_equal(last_action(f), "schedule.start");
	assert_int_equal(sched_next_wakeup(f->s, &wake), 0);
	assert_int_equal(wake, utc("2026-03-29T01:00"));

	f->clk.now = utc("2026-03-29T00:59");
	assert_int_equal(fired(f), 0);
	/* 02:00 and 02:30 do not exist this night: both run at the
	 * change, 03:00 CEST. */
	f->clk.now = utc("2026-03-29T01:00");
	assert_int_equal(fired(f), 2);
	assert_int_equal(fired(f), 0);
	finish_all(f);
	f->clk.now = utc("2026-03-30T00:00"); /* 02:00 CEST */
	assert_int_equal(fired(f), 1);
	finish_all(f);

	/* Down for a week and a half: seven nightly and one weekly slot
	 * missed, one job each. The state survives a restart. */
	sched_close(f->s);
	f->clk.now = utc("2026-04-08T09:00");
	open_sched(f);
	json_t *arr = NULL;
	assert_int_equal(sched_tick(f->s, NULL, &arr), 0);
	assert_int_equal(json_array_size(arr), 2);
	int64_t slot = json_integer_value(
		json_object_get(json_array_get(arr, 0), "slot_ms"));
	assert_int_equal(slot, utc("2026-03-31T00:00"));
	json_decref(arr);
	assert_int_equal(fired(f), 0);
	json_t *list = NULL;
	assert_int_equal(sched_list(f->s, SCHED_QUEUED, 0, &list), 0);
	assert_int_equal(json_array_size(list), 2);
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(list, 0), "priority")),
			 SCHED_PRIO_SCHEDULED);
	json_decref(list);

	/* Due again while the last one still waits: it joins. */
	f->clk.now = utc("2026-04-09T00:00");
	assert_int_equal(sched_tick(f->s, NULL, &arr), 0);
	assert_int_equal(json_array_size(arr), 1);
	assert_true(json_is_true(json_object_get(json_array_get(arr, 0),
						 "joined")));
	json_decref(arr);
}

/* "weekly sun 02:30" when clocks go back: once, at the first 02:30. */
static void test_schedule_fall_back(void **state)
{
	struct fix *f = *state;
	struct sched_schedule sch[] = {
		{"/srv/repo-w", "weekly sun 02:30", "Europe/Berlin"},
	};

	f->o.schedules = sch;
	f->o.nschedules = 1;
	f->clk.now = utc("2026-10-24T12:00");
	open_sched(f);
	assert_int_equal(fired(f), 0);
	f->clk.now = utc("2026-10-25T00:29");
	assert_int_equal(fired(f), 0);
	f->clk.now = utc("2026-10-25T00:30"); /* 02:30 CEST */
	assert_int_equal(fired(f), 1);
	finish_all(f);
	f->clk.now = utc("2026-10-25T01:30"); /* 02:30 CET, again */
	assert_int_equal(fired(f), 0);
	f->clk.now = utc("2026-11-01T01:29");
	assert_int_equal(fired(f), 0);
	f->clk.now = utc("2026-11-01T01:30");
	assert_int_equal(fired(f), 1);
}

static void test_open_refuses(void **state)
{
	struct fix *f = *state;
	struct sched_schedule bad_spec[] = {{"/srv/repo", "0 0 * * mnn", NULL}};
	struct sched_schedule bad_tz[] = {{"/srv/repo", "@daily", "../../etc"}};
	struct sched_schedule no_tz[] = {
		{"/srv/repo", "@daily", "Mars/Olympus"}};
	struct sched_schedule cred[] = {{"http://u:p@h/r", "@daily", NULL}};
	struct sched *s = NULL;

	f->o.nschedules = 1;
	f->o.schedules = bad_spec;
	assert_int_equal(sched_open(f->log, &f->o, &s), AL_E_PARSE);
	f->o.schedules = bad_tz;
	assert_int_equal(sched_open(f->log, &f->o, &s), AL_E_USAGE);
	f->o.schedules = no_tz;
	assert_int_equal(sched_open(f->log, &f->o, &s), AL_E_NOTFOUND);
	f->o.schedules = cred;
	assert_int_equal(sched_open(f->log, &f->o, &s), AL_E_UNSAFE);
	assert_null(s);
}

static void test_default_workers(void **state)
{
	const uint64_t M = 1 << 20, G = 1 << 30;

	assert_int_equal(sched_default_workers(2, 4 * G, 1000, 512 * M), 2);
	assert_int_equal(sched_default_workers(16, 2 * G, 1000, 512 * M), 3);
	assert_int_equal(sched_default_workers(2, 4 * G, 500, 512 * M), 4);
	assert_int_equal(sched_default_workers(1, 256 * M, 1000, 512 * M), 1);
	assert_int_equal(sched_default_workers(1024, 4096 * G, 1000, 64 * M),
			 SCHED_WORKERS_MAX);
	assert_true(sched_host_workers(1000, 512 * M) >= 1);
}

/* The text filter finds a job by a planned update's name and by a
 * failing test's name, in any case; not by other members. */
static void test_page_names(void **state)
{
	struct fix *f = *state;
	struct sched_page_query q = {.state = -1, .limit = 10};
	char a[21], b[21], got[4][21];
	struct sched_lease l;
	json_t *page = NULL;

	open_sched(f);
	enqueue(f, "/srv/repo-a", 100, 0, a, NULL);
	f->clk.now += 1000;
	enqueue(f, "/srv/repo-b", 100, 0, b, NULL);
	assert_int_equal(sched_lease(f->s, NULL, "w1", &l), 0);
	assert_string_equal(l.id, a);
	json_object_set_new(l.record, "plan", json_pack(
		"{s:[{s:s,s:s}],s:s}", "updates", "name", "left-pad", "to",
		"1.3.0", "note", "lodash"));
	json_object_set_new(l.record, "report", json_pack(
		"{s:[{s:s,s:{s:[s]}}]}", "failures", "stage", "test", "tests",
		"failing", "Cart totals the VAT"));
	assert_int_equal(sched_save_record(f->s, NULL, a, 1, l.record,
					   "job.save"), 0);
	json_decref(l.record);

	const char *hit[] = {"LEFT-pad", "cart totals", "repo-"};
	const size_t want[] = {1, 1, 2};
	for (size_t i = 0; i < 3; i++) {
		q.match = hit[i];
		assert_int_equal(sched_page(f->s, &q, &page), 0);
		assert_int_equal(page_ids(page, got, 4), want[i]);
		assert_string_equal(got[want[i] - 1], a);
		json_decref(page);
	}
	/* A member that is neither a name nor a test: no match. */
	const char *miss[] = {"lodash", "1.3.0", "VATx"};
	for (size_t i = 0; i < 3; i++) {
		q.match = miss[i];
		assert_int_equal(sched_page(f->s, &q, &page), 0);
		assert_int_equal(page_ids(page, got, 4), 0);
		json_decref(page);
	}
}

/* What comes next: the first queued jobs in lease order with the count
 * of all, and each schedule's next slot. */
static void test_upcoming(void **state)
{
	struct fix *f = *state;
	struct sched_schedule sch[] = {
		{"https://git.test/acme/nightly.git", "0 2 * * *",
		 "Europe/Berlin"},
	};
	char ids[5][21];
	json_t *up = NULL, *q, *s0;

	f->o.schedules = sch;
	f->o.nschedules = 1;
	f->clk.now = utc("2026-06-01T12:00");
	open_sched(f);
	assert_int_equal(fired(f), 0);
	for (int i = 0; i < 5; i++) {
		char repo[16];
		snprintf(repo, sizeof(repo), "/srv/repo-%d", i);
		enqueue(f, repo, i == 3 ? 200 : 100, 0, ids[i], NULL);
	}
	assert_int_equal(sched_upcoming(f->s, 2, &up), 0);
	q = json_object_get(up, "queued");
	assert_int_equal(json_integer_value(json_object_get(up,
							    "queued_total")), 5);
	assert_int_equal(json_array_size(q), 2);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(q, 0), "id")), ids[3]);
	s0 = json_array_get(json_object_get(up, "schedules"), 0);
	assert_string_equal(json_string_value(json_object_get(s0, "tz")),
			    "Europe/Berlin");
	/* 02:00 CEST on 2 June is 00:00 UTC. */
	assert_int_equal(json_integer_value(json_object_get(s0, "next_ms")),
			 utc("2026-06-02T00:00"));
	assert_int_equal(json_integer_value(json_object_get(s0, "last_ms")),
			 utc("2026-06-01T12:00"));
	json_decref(up);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_join_and_one_per_repo,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_backoff, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_requeue_not_counted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_backoff_jitter, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_daemon_death, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cancel_retry, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_page_names, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_upcoming, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_audit_atomic, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_credentials_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_end_logged_after_commit,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_join_needs_same_settings,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_repo_identity, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_old_key, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_request_check, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fold_requeued, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_save_record, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_schedule_dst_downtime,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_schedule_fall_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_open_refuses, setup,
						teardown),
		cmocka_unit_test(test_default_workers),
	};
	al_log_set_level(AL_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
