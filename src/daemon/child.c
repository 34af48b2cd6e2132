/*
 * child.c - the worker process: `airlockd --worker`, one leased job
 * from its first stage to the end of its lease.
 *
 * The daemon leased the job and started this process with the control
 * socket on descriptor 3. The worker opens the store itself, runs the
 * job with src/job under that lease (every record it stores goes
 * through sched_save_record, which refuses it once the lease is not
 * ours), and ends the lease in the same transaction as the job's last
 * record: the job is finished exactly when its record says so.
 *
 * Stopping: the daemon sends {"stop": "cancel"|"shutdown"|"timeout"}
 * and the job stops at once (sandboxes killed, workspace removed);
 * SIGTERM or SIGINT, or the daemon's end of the socket closing, count
 * as "shutdown". A cancelled job ends cancelled, a shutdown puts it
 * back in the queue without counting the attempt, a timeout fails it.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "audit/checkpoint.h"
#include "base/err.h"
#include "base/log.h"
#include "base/util.h"
#include "daemon/daemon.h"
#include "job/job.h"
#include "npm/plan.h"

#define CHILD_SOCK 3

static atomic_int child_stop = DMN_STOP_NONE;
static atomic_bool child_done;

struct child {
	const char *home;
	const char *id;
	unsigned attempt;
	unsigned job_timeout;
	struct store *st;
	struct audit_log *log;
	struct sched *s;
	struct sched_end end; /* how child_save ended the lease */
	bool ended;
	const struct sbx_packed *image; /* the daemon's, mounted; or NULL */
};

/* The first reason to stop wins: a cancel is not turned into a
 * shutdown by the SIGTERM that may follow it. */
static void child_request_stop(enum dmn_stop why)
{
	int none = DMN_STOP_NONE;

	if (atomic_compare_exchange_strong(&child_stop, &none, (int)why) &&
	    why == DMN_STOP_TIMEOUT)
		job_timeout_from_signal();
	else
		job_cancel_from_signal();
}

static void child_on_signal(int sig)
{
	(void)sig;
	child_request_stop(DMN_STOP_SHUTDOWN);
}

/* Reads the daemon's requests until the socket closes. */
static void *child_reader(void *arg)
{
	char buf[DMN_MSG_MAX];

	(void)arg;
	for (;;) {
		ssize_t n = recv(CHILD_SOCK, buf, sizeof(buf) - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (atomic_load(&child_done))
			return NULL;
		if (n <= 0) {
			/* The daemon is gone: nobody will take the result
			 * but the store; stop as for a shutdown. */
			child_request_stop(DMN_STOP_SHUTDOWN);
			return NULL;
		}
		json_t *m = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES,
				       NULL);
		int why = dmn_stop_parse(
			json_string_value(json_object_get(m, "stop")));
		if (why > DMN_STOP_NONE)
			child_request_stop((enum dmn_stop)why);
		json_decref(m);
	}
}

/* One message to the daemon; m is taken. */
static void child_send(json_t *m)
{
	char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
	size_t n = text ? strlen(text) : 0;

	/* A line too long for one message is cut by the job already
	 * (512 bytes); this only guards the bound. */
	if (n && n < DMN_MSG_MAX)
		send(CHILD_SOCK, text, n, MSG_NOSIGNAL);
	free(text);
	json_decref(m);
}

/* {"stage": name, "step": N, "steps": N}, steps left out until the
 * plan is known. */
static void child_stage(void *ctx, const char *name, unsigned step,
			unsigned steps)
{
	json_t *m = json_pack("{s:s,s:I}", "stage", name, "step",
			      (json_int_t)step);

	(void)ctx;
	if (m && steps)
		json_object_set_new(m, "steps", json_integer(steps));
	child_send(m);
}

static void child_progress(void *ctx, const char *line)
{
	(void)ctx;
	child_send(json_pack("{s:s}", "line", line ? line : ""));
}

/* "stage install failed: ..." from the record's failure report. */
static void child_failure_reason(const json_t *rec, char *out, size_t outsz)
{
	json_t *f = json_array_get(
		json_object_get(json_object_get(rec, "report"), "failures"), 0);
	const char *stage = json_string_value(json_object_get(f, "stage"));
	const char *why = json_string_value(json_object_get(f, "reason"));

	if (stage && why)
		snprintf(out, outsz, "stage %s failed: %s", stage, why);
	else if (stage)
		snprintf(out, outsz, "stage %s failed", stage);
	else
		snprintf(out, outsz, "the job failed (its record says how)");
}

/*
 * How the lease ends, from the job's last record: the one place where a
 * job's failure becomes final or a retry. A failure the job marked
 * "transient" (the git server or the registry unreachable or failing)
 * is retried with backoff while attempts remain; every other failure
 * (refused credentials, no such repository, a bad package.json, tests
 * that fail) is final at once. docs/scheduler.md, "Retries".
 */
static enum sched_outcome child_outcome(const struct child *c,
					const json_t *rec, char *why,
					size_t whysz)
{
	const char *state = json_string_value(json_object_get(rec, "state"));
	enum dmn_stop stop = (enum dmn_stop)atomic_load(&child_stop);
	json_t *f = json_array_get(
		json_object_get(json_object_get(rec, "report"), "failures"), 0);

	*why = '\0';
	if (state && !strcmp(state, "succeeded"))
		return SCHED_OUT_SUCCEEDED;
	if (stop == DMN_STOP_TIMEOUT) {
		snprintf(why, whysz, "the job ran longer than job_timeout "
			 "(%u s) and was stopped", c->job_timeout);
		return SCHED_OUT_FAILED;
	}
	if (state && !strcmp(state, "failed")) {
		child_failure_reason(rec, why, whysz);
		return json_is_true(json_object_get(f, "transient"))
			       ? SCHED_OUT_RETRY
			       : SCHED_OUT_FAILED;
	}
	switch (stop) {
	case DMN_STOP_CANCEL:
		snprintf(why, whysz, "cancelled on request");
		return SCHED_OUT_CANCELLED;
	default:
		snprintf(why, whysz, "the daemon stopped while the job ran");
		return SCHED_OUT_REQUEUE;
	}
}

/*
 * The job's record hook. The last record (job.end) and the end of the
 * lease share the job's transaction: committed together or not at all.
 */
static int child_save(void *ctx, struct store_txn *txn, const json_t *rec,
		      const char *action)
{
	struct child *c = ctx;
	char why[SCHED_REASON_MAX];
	int rc = sched_save_record(c->s, txn, c->id, c->attempt, rec, action);

	if (rc == 0 && !strcmp(action, "job.end")) {
		enum sched_outcome out = child_outcome(c, rec, why, sizeof(why));
		rc = sched_complete_end(c->s, txn, c->id, c->attempt, out, why,
					&c->end);
		c->ended = rc == 0;
	}
	if (rc == AL_E_STALE)
		al_error("worker", c->id, "lease %u is no longer ours; the job "
			 "stops", c->attempt);
	return rc;
}

/* The job's transaction committed: the lease's end is stored now. */
static void child_saved(void *ctx, const char *action)
{
	struct child *c = ctx;

	if (c->ended && !strcmp(action, "job.end"))
		sched_log_end(c->id, &c->end);
	c->ended = false;
}

static int child_open(struct child *c, json_t **rec)
{
	struct audit_policy pol;
	struct sched_opts so = {.backoff_ms = dmn_test_backoff_ms(false)};
	char err[512] = "";
	int rc = audit_policy_load(c->home, &pol, err, sizeof(err));

	if (rc) {
		al_error("worker", c->id, "%s", err);
		return rc;
	}
	if ((rc = store_open_existing(c->home, &c->st)) ||
	    (rc = audit_log_open(c->st, c->home, &pol, &c->log)) ||
	    (rc = sched_open(c->log, &so, &c->s)))
		return rc;
	if ((rc = sched_show(c->s, c->id, rec)))
		return rc;
	/* The lease must still be the one we were started for. */
	return sched_heartbeat(c->s, NULL, c->id, c->attempt, NULL, NULL,
			       NULL);
}

/* A job that could not start ends its lease with the reason. */
static void child_fail(struct child *c, const char *why)
{
	int rc;

	if (!c->s)
		return;
	rc = sched_complete(c->s, NULL, c->id, c->attempt, SCHED_OUT_FAILED,
			    why, NULL);
	if (rc && rc != AL_E_STALE)
		al_error("worker", c->id, "cannot end the lease: %s",
			 al_strerror(rc));
}

static void child_signals(void)
{
	struct sigaction sa = {.sa_handler = child_on_signal};
	struct timeval tv = {.tv_sec = 2};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	/* A daemon that stops reading does not hold the job: a progress
	 * line it cannot take within 2 s is dropped. */
	setsockopt(CHILD_SOCK, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int child_run(struct child *c, const json_t *leased)
{
	const char *policy = json_string_value(json_object_get(leased,
							       "policy"));
	struct job_worker w = {.id = c->id, .actor = DMN_ACTOR,
			       .store = c->st, .alog = c->log,
			       .save = child_save, .saved = child_saved,
			       .stage = child_stage,
			       .progress = child_progress,
			       .ctx = c};
	struct job_opts o = {
		.home = c->home,
		.repo = json_string_value(json_object_get(leased, "repo")),
		.branch = json_string_value(json_object_get(leased, "branch")),
		.test_cmd = json_string_value(json_object_get(leased,
							      "test_cmd")),
		.policy = NPM_POLICY_MAJOR,
		.worker = &w,
		.image = c->image,
	};
	json_t *rec = NULL;
	char err[1024] = "";
	int rc;

	if (policy && npm_policy_parse(policy, &o.policy)) {
		snprintf(err, sizeof(err), "unknown policy '%s'", policy);
		child_fail(c, err);
		return AL_E_USAGE;
	}
	rc = job_run(&o, &rec, err, sizeof(err));
	if (rc) {
		al_utf8_repair(err, strlen(err));
		al_error("worker", c->id, "the job could not start: %s", err);
		child_fail(c, err);
	} else if (sched_heartbeat(c->s, NULL, c->id, c->attempt, NULL, NULL,
				   NULL) == 0) {
		/* Still leased: the last record did not commit. */
		child_fail(c, "the job's last record could not be stored");
	}
	json_decref(rec);
	return rc;
}

int dmn_worker_main(const char *home, const char *id, unsigned attempt,
		    const struct sbx_packed *image)
{
	struct child c = {.home = home, .id = id, .attempt = attempt,
			  .image = image};
	struct job_config cfg;
	pthread_t reader;
	bool reading = false;
	json_t *leased = NULL;
	char err[512];
	int rc;

	child_signals();
	al_log_set_job(id);
	if (job_config_load(home, &cfg, err, sizeof(err)) == 0)
		c.job_timeout = cfg.job_timeout;
	job_config_free(&cfg);
	reading = pthread_create(&reader, NULL, child_reader, NULL) == 0;
	rc = child_open(&c, &leased);
	if (rc) {
		al_error("worker", id, "cannot take up lease %u: %s", attempt,
			 al_strerror(rc));
		if (rc != AL_E_STALE && rc != AL_E_NOTFOUND)
			child_fail(&c, "the worker could not open the store");
	} else {
		al_info("worker", id, "job started attempt=%u pid=%ld",
			attempt, (long)getpid());
		rc = child_run(&c, leased);
	}

	atomic_store(&child_done, true);
	if (reading) {
		shutdown(CHILD_SOCK, SHUT_RDWR);
		pthread_join(reader, NULL);
	}
	json_decref(leased);
	sched_close(c.s);
	audit_log_close(c.log);
	store_close(c.st);
	return rc ? 1 : 0;
}
