/*
 * sched.h - the job queue: states, leases, retries, schedules.
 *
 * A job moves queued -> running (leased to a worker) -> succeeded |
 * failed | cancelled; while running, the worker reports its stage. Every
 * change is one LMDB write transaction that also carries its audit entry
 * (audit_append), so nothing lives only in memory and no change happens
 * without the log saying so: a daemon that dies at any point finds on
 * restart exactly the state of the last commit, and sched_recover puts
 * the jobs it was running back in the queue.
 *
 * Where it lives (schema/lmdb.md, "Scheduler"):
 *   jobs    the sealed job record; the scheduler owns its members
 *           "state", "finished_ms" and "sched" (priority, due time,
 *           attempt, lease holder, stage, cancel request, reason)
 *   queue   a raw index: 'Q' entries in lease order (priority, due
 *           time, job id) and 'L' entries (job id -> lease expiry)
 *   repos   per repository (blinded URL key), member "sched": the job
 *           queued for it, the job running for it, the last schedule
 *           tick that fired
 *
 * Rules it keeps:
 *   - Lease order: higher priority first, then earlier due time, then
 *     job id (creation time). A job whose due time is in the future (a
 *     retry backing off, a request for later) is not leased before it.
 *   - One active job per repository: a request for a repository that
 *     already has a queued job joins it (same id, priority raised to the
 *     higher of the two, due time the earlier); a queued job is not
 *     leased while another job of its repository runs.
 *   - A lease expires unless the worker heartbeats. An expired lease (a
 *     dead worker), and every lease at start-up (a dead daemon), puts the
 *     job back in the queue with its attempt count raised and a due time
 *     backed off exponentially with jitter, or fails it with the reason
 *     once max_attempts leases were used.
 *   - Schedules fire once when due; slots missed while the appliance
 *     was down fire once, at the first tick, not once per slot.
 *
 * Transactions: every operation takes txn, the caller's write
 * transaction, or NULL to run in one of its own that it commits (with
 * audit_commit) before returning. Passing one transaction to many
 * operations is group commit: they share one durable commit. On an
 * error with a caller's txn, the caller must abort it (the operation
 * may have written part of its change), except after AL_E_NOTFOUND,
 * AL_E_STALE and AL_E_USAGE, which are found before anything is
 * written. The usual store rules apply: a
 * thread holding a write transaction must not call an operation with
 * NULL. struct sched holds no mutable state; any thread may use it.
 */
#ifndef AL_SCHED_SCHED_H
#define AL_SCHED_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "audit/audit.h"
#include "store/store.h"

/* X(enum, name): job states, as records and the control API spell them. */
#define SCHED_STATE_TABLE(X)                                               \
	X(SCHED_QUEUED, "queued")                                              \
	X(SCHED_RUNNING, "running")                                            \
	X(SCHED_SUCCEEDED, "succeeded")                                        \
	X(SCHED_FAILED, "failed")                                              \
	X(SCHED_CANCELLED, "cancelled")

enum sched_state {
#define SCHED_X_ENUM(e, name) e,
	SCHED_STATE_TABLE(SCHED_X_ENUM)
#undef SCHED_X_ENUM
	SCHED_STATE__COUNT
};

/* The state's name; NULL out of range. */
const char *sched_state_name(enum sched_state st);
/* The state named name, or -1. */
int sched_state_parse(const char *name);

/* 12 hex digits of the creation time in ms, 8 random hex digits. */
#define SCHED_ID_LEN 20
#define SCHED_REPO_MAX 2047   /* bytes of a repository URL */
#define SCHED_BRANCH_MAX 255  /* bytes of a branch name */
#define SCHED_TEST_CMD_MAX 4096 /* bytes of a test command */
#define SCHED_WORKER_MAX 64   /* bytes of a worker name */
#define SCHED_REASON_MAX 1024 /* bytes of a failure reason kept */

/* Priorities: 0..255, higher leases first. */
#define SCHED_PRIO_NORMAL 100    /* a request through the control API */
#define SCHED_PRIO_SCHEDULED 50  /* a schedule firing */

/* Defaults of struct sched_opts. */
#define SCHED_DEFAULT_ATTEMPTS 3
#define SCHED_DEFAULT_LEASE_MS 60000
#define SCHED_DEFAULT_BACKOFF_MS 30000
#define SCHED_DEFAULT_BACKOFF_MAX_MS 3600000

/*
 * Where time and chance come from. now_ms is the wall clock in ms since
 * the epoch; random gives jitter. Tests inject both; NULL members mean
 * al_wall_ms and the kernel's CSPRNG.
 */
struct sched_clock {
	int64_t (*now_ms)(void *ctx);
	uint64_t (*random)(void *ctx);
	void *ctx;
};

/* One schedule line of airlock.conf: a repository, a spec, a zone. */
struct sched_schedule {
	const char *repo;
	const char *spec; /* cron.h */
	const char *tz;   /* "Europe/Berlin"; NULL = "UTC" */
};

struct sched_opts {
	const struct sched_clock *clock; /* NULL: real clock */
	const char *tzdir;      /* NULL: $TZDIR, else /usr/share/zoneinfo */
	unsigned max_attempts;  /* leases a job may use; 0 = default */
	int64_t lease_ms;       /* a lease lasts this long past a heartbeat */
	int64_t backoff_ms;     /* first retry delay (before jitter) */
	int64_t backoff_max_ms; /* cap on the delay */
	const struct sched_schedule *schedules;
	size_t nschedules;
};

struct sched;

/*
 * A scheduler over the store of log (audit_log_store). Copies o; parses
 * every schedule and loads its zone. Returns 0, AL_E_PARSE with a
 * message logged (naming the repository and the column) for a bad spec,
 * AL_E_NOTFOUND or AL_E_USAGE for a bad zone, AL_E_USAGE for a bad
 * option, or -ENOMEM.
 */
int sched_open(struct audit_log *log, const struct sched_opts *o,
	       struct sched **out);
void sched_close(struct sched *s);

/* The clock's now, in ms since the epoch. */
int64_t sched_now(const struct sched *s);

/* Begin a write transaction for group commit; end it with sched_commit
 * (or store_txn_abort). */
int sched_begin(struct sched *s, struct store_txn **txn);
int sched_commit(struct sched *s, struct store_txn *txn);

/* What to run: a repository and how. */
struct sched_request {
	const char *repo;     /* URL or path without credentials */
	const char *branch;   /* NULL: the remote's HEAD */
	const char *policy;   /* "patch", "minor", "major"; NULL: the
			       * worker applies airlock.conf's default */
	const char *test_cmd; /* NULL = "npm test" */
	unsigned priority;    /* 0..255 */
	int64_t due_ms;       /* not before; 0 = now */
	const char *trigger;  /* "api", "schedule", "retry"; NULL = "api" */
	const char *actor;    /* audit actor; NULL = "system" */
};

/*
 * Whether rq may be queued; the one check of every way in (the control
 * API, schedule lines, `airlock update`). repo: an http, https or file
 * URL (scheme in any case) or an absolute path, without spaces, control
 * characters, query string or fragment (a token there would be logged),
 * or credentials (AL_E_UNSAFE); branch: a valid git branch name
 * (sched_branch_ok); policy patch, minor or major; test_cmd UTF-8 of 1
 * to SCHED_TEST_CMD_MAX bytes; priority 0..255; a known trigger.
 * flags SCHED_CHECK_LOCAL (`airlock update`, which splits credentials
 * off in its own process and resolves paths in its own directory):
 * user:token@ and relative paths pass. Returns 0, AL_E_USAGE or
 * AL_E_UNSAFE, with why (may be NULL) saying which rule, never quoting
 * the value.
 */
#define SCHED_CHECK_LOCAL 1u
int sched_request_check(const struct sched_request *rq, unsigned flags,
			char *why, size_t whysz);

/* Whether repo (checked by sched_request_check) names the local disk:
 * an absolute path or a file:// URL. */
bool sched_repo_is_local(const char *repo);

/* Whether name is a valid git branch name (git check-ref-format's rules
 * for refs/heads/NAME, not "HEAD", not starting with '-'). */
bool sched_branch_ok(const char *name);

/*
 * A repository URL in normal form, into out (at least strlen(url) + 1
 * bytes, else AL_E_LIMIT): scheme and host lower-cased, a default port
 * (http 80, https 443) and trailing slashes dropped; a local path with
 * repeated slashes collapsed. With key, the repository's identity, the
 * same for every spelling of one repository: also without a trailing
 * ".git" on http(s) (git servers serve x and x.git as one), and
 * file:///p as the path /p. The job record keeps the form without key
 * (what the worker clones); the repository record is found by the key
 * (docs/scheduler.md, "Repository identity").
 */
int sched_repo_norm(const char *url, bool key, char *out, size_t outsz);

/*
 * Queue a job for rq->repo, or join a job queued for the repository
 * (sched_repo_norm's key) with the same settings (branch, policy,
 * test_cmd); a request with other settings makes a job of its own,
 * which waits its turn. The record holds the URL in normal form. id
 * receives the job's id (SCHED_ID_LEN + 1 bytes); *joined (may be NULL)
 * says which happened. Audit: job.enqueue or job.join.
 * Errors: sched_request_check's with flags 0 (AL_E_USAGE, AL_E_UNSAFE),
 * store and audit errors.
 */
int sched_enqueue(struct sched *s, struct store_txn *txn,
		  const struct sched_request *rq, char *id, bool *joined);

/* A job handed to a worker. record is a new reference (caller frees). */
struct sched_lease {
	char id[SCHED_ID_LEN + 1];
	unsigned attempt; /* 1 on the first lease; the lease's token */
	int64_t expires_ms;
	json_t *record;
};

/*
 * Lease the next job that may run now to worker (a name for records
 * and the log, e.g. "worker-3" or a pid). Returns 0, or AL_E_NOTFOUND
 * when nothing is due. Audit: job.lease.
 */
int sched_lease(struct sched *s, struct store_txn *txn, const char *worker,
		struct sched_lease *out);

/*
 * The stage a worker's job began: its name, and its step among the
 * stages the job will run (src/job/steps.h), 0 when not known: the
 * step of a job that has not said, the total before its plan.
 */
struct sched_stage {
	const char *name;
	unsigned step;
	unsigned steps;
};

/*
 * The worker holding lease attempt of job id is alive: push the expiry
 * to now + lease_ms, and record stage if it is not NULL and differs
 * from the recorded one in name, step or steps (audit job.stage; a
 * plain heartbeat writes only the raw lease entry and no audit entry).
 * The record's "sched" member keeps "stage", "step" and "steps" (null
 * when 0). *cancel (may be NULL) is set
 * when a cancel was requested: the worker should stop and complete
 * with SCHED_OUT_CANCELLED. Returns 0, AL_E_NOTFOUND (no such job),
 * AL_E_STALE (the job is not running under this attempt: the lease
 * expired and was requeued or given to another worker).
 */
int sched_heartbeat(struct sched *s, struct store_txn *txn, const char *id,
		    unsigned attempt, const struct sched_stage *stage,
		    int64_t *expires_ms, bool *cancel);

/* How a worker's run ended. */
enum sched_outcome {
	SCHED_OUT_SUCCEEDED,
	SCHED_OUT_FAILED,    /* final: the job ran and failed */
	SCHED_OUT_CANCELLED,
	SCHED_OUT_RETRY,     /* transient: requeue with backoff if allowed */
	SCHED_OUT_REQUEUE,   /* not the job's doing (the daemon stopped):
			      * queued again at once, the attempt not
			      * counted against max_attempts */
};

/*
 * End the lease attempt of job id with outcome; reason (may be NULL)
 * is kept, cut to SCHED_REASON_MAX bytes. *state_out (may be NULL) is
 * the state the job ended in (SCHED_RETRY gives queued, or failed once
 * attempts are used up; SCHED_OUT_REQUEUE always gives queued, due now,
 * and raises the record's "requeues" so the attempt is not counted).
 * Audit: job.finish or job.requeue. Errors: AL_E_NOTFOUND, AL_E_STALE
 * (as sched_heartbeat), AL_E_USAGE.
 */
int sched_complete(struct sched *s, struct store_txn *txn, const char *id,
		   unsigned attempt, enum sched_outcome outcome,
		   const char *reason, enum sched_state *state_out);

/*
 * How a lease ended. sched_complete logs it ("job failed attempt=1
 * reason=...") once its own transaction committed; with the caller's
 * txn it logs nothing, as that may yet fail: the caller gets the end
 * from sched_complete_end and logs it with sched_log_end after its
 * commit. (sched_requeue_expired likewise logs only in a transaction
 * of its own.)
 */
struct sched_end {
	enum sched_state state;
	unsigned attempt;
	char reason[SCHED_REASON_MAX + 1];
};
int sched_complete_end(struct sched *s, struct store_txn *txn,
		       const char *id, unsigned attempt,
		       enum sched_outcome outcome, const char *reason,
		       struct sched_end *end);
void sched_log_end(const char *id, const struct sched_end *end);

/*
 * Cancel job id on behalf of actor. A queued job is cancelled at once;
 * a running one is marked, its worker learns it at its next heartbeat
 * (and if the worker is gone, the expired lease ends as cancelled).
 * Audit: job.cancel. Errors: AL_E_NOTFOUND, AL_E_USAGE (already
 * finished).
 */
int sched_cancel(struct sched *s, struct store_txn *txn, const char *id,
		 const char *actor);

/*
 * Queue a failed or cancelled job again as a new job (same repository,
 * branch, policy and test command; "retry_of" names the old one), or
 * join the job queued for its repository with those settings. new_id
 * receives the id. Errors: AL_E_NOTFOUND, AL_E_USAGE (not failed or
 * cancelled), AL_E_PARSE (its settings fail sched_request_check: a job
 * queued before the check was made).
 */
int sched_retry(struct sched *s, struct store_txn *txn, const char *id,
		const char *actor, char *new_id);

/*
 * Recovery. With all false, end every lease that expired by now (dead
 * workers; call periodically); with all true, every lease (at daemon
 * start-up, when no worker of the previous daemon can still be alive).
 * Each such job is requeued (attempt raised, backed off) or failed once
 * its attempts are used up, or cancelled if a cancel was requested.
 * *count (may be NULL) is how many leases were ended. Audit:
 * job.requeue or job.finish, with the reason; the log lines only with
 * txn NULL, after the commit.
 */
int sched_requeue_expired(struct sched *s, struct store_txn *txn, bool all,
			  unsigned *count);

/*
 * Schedules: for every configured schedule whose next slot after its
 * last tick is at or before now, enqueue a job (trigger "schedule",
 * priority SCHED_PRIO_SCHEDULED) and record now as its last tick, so
 * that however many slots were missed, one job runs. A schedule seen
 * for the first time only records now (it fires at its next slot).
 * *fired (may be NULL; new reference) is an array of
 * {"repo","id","joined","slot_ms"}. Audit: schedule.start on first
 * sight, schedule.fire and job.enqueue or job.join when due.
 */
int sched_tick(struct sched *s, struct store_txn *txn, json_t **fired);

/*
 * When the daemon should look again: the earliest of the next schedule
 * slot, the due time of the first queued job that is not yet due, and
 * the earliest lease expiry. INT64_MAX when there is none. Read-only.
 */
int sched_next_wakeup(struct sched *s, int64_t *at_ms);

/*
 * Jobs as summaries {"id","repo","state","priority","due_ms","attempt",
 * "stage","step","steps","created_ms","finished_ms","reason",
 * "lease_expires_ms","score","level","updates"} (step, steps and the
 * last three once the job has them) into
 * *out (new array). state < 0: every job, oldest first, the last limit
 * of them; SCHED_QUEUED: in lease order; SCHED_RUNNING: running jobs;
 * other states: those jobs, oldest first, the last limit. limit 0
 * means no limit.
 */
int sched_list(struct sched *s, int state, size_t limit, json_t **out);

/*
 * What comes next, for a view of the queue: *out (new reference) is
 * {"queued": the first limit queued jobs as summaries (sched_list), in
 * lease order, "queued_total": how many are queued (counted from the
 * index, without reading them), "schedules": [{"repo","spec","tz",
 * "last_ms" (the last tick, null before the first),"next_ms" (the next
 * slot, null if the spec has none)}] in configuration order}. Reads
 * limit records at most, however long the queue.
 */
int sched_upcoming(struct sched *s, size_t limit, json_t **out);

/*
 * One page of jobs, newest first, for views that show a window of a
 * large store (the console): only the records on the page, or examined
 * for a filter, are read and unsealed. Job ids begin with their creation
 * time, so the jobs database's key order is creation order.
 */
#define SCHED_PAGE_MAX 1000   /* jobs on one page */
#define SCHED_PAGE_SCAN 5000  /* records a filtered page examines */
struct sched_page_query {
	const char *before; /* ids below this one; NULL: from the newest */
	const char *after;  /* ids above this one only; NULL: no bound */
	int state;          /* -1: any */
	const char *level;  /* score level; NULL: any */
	const char *match;  /* in the id, the repository, a planned update's
			     * name or a failing test's, any case; NULL */
	size_t limit;       /* 1..SCHED_PAGE_MAX */
	size_t scan;        /* records examined at most; 0: SCHED_PAGE_SCAN */
};

/*
 * *out (new reference): {"jobs": [summaries as sched_list, newest
 * first], "next": the id to pass as before for the following page, or
 * null when the walk reached its end (the first job, or after),
 * "newest": the newest job's id in the store (null: none), "total":
 * jobs in the store, "scanned": records examined}. A page stops at limit
 * jobs or scan records, whichever comes first, so a filter that matches
 * little costs a bounded time per call and "next" says where to go on.
 * Records that fail to unseal are skipped (the store logs them).
 * AL_E_USAGE for a limit out of range.
 */
int sched_page(struct sched *s, const struct sched_page_query *q,
	       json_t **out);

/*
 * The record of job id (new reference), with "lease_expires_ms" added
 * while it runs. AL_E_NOTFOUND, or the store's unseal errors.
 */
int sched_show(struct sched *s, const char *id, json_t **out);

/*
 * Store a worker's version of the record of job id, which it holds
 * under lease attempt: every member the scheduler owns ("state",
 * "finished_ms", "sched", "id", "repo", "created_ms") is kept from the
 * stored record,
 * the rest is the worker's. AL_E_STALE if the lease is no longer the
 * worker's. Audit: action (e.g. "job.save") with the job id.
 */
int sched_save_record(struct sched *s, struct store_txn *txn, const char *id,
		      unsigned attempt, const json_t *record,
		      const char *action);

/*
 * Retention (docs/scheduler.md, "Retention"). A finished job
 * (succeeded, failed or cancelled) is deleted when it ended before
 * before_ms, or when keep or more finished jobs are newer than it (by
 * id, that is by creation). Queued and running jobs are never deleted,
 * nor a job busy() names (a worker the daemon has not reaped yet may
 * still send lines for it), nor a record that fails to unseal. Deleting
 * a job deletes its record, its progress lines (job_log), the queue
 * entries that name it and its mention in its repository's record; the
 * update history and the audit log keep theirs.
 *
 * A run is a series of calls of sched_prune_step on one struct, zeroed
 * but for the rule before the first; each call does a bounded piece of
 * the run and sets done after the last:
 *   - with keep, once: walking back from the newest job, at most scan
 *     records a call, to the keep-th newest finished job (read only;
 *     skipped when the store holds keep jobs or fewer);
 *   - then from the oldest job on, at most scan records a call: one
 *     write transaction deletes the jobs due among them, at most batch
 *     jobs, and no further job once `keys` records and lines are
 *     deleted (a job's lines go with it, so one transaction deletes at
 *     most keys plus one job's lines, 2 001 in the daemon), and
 *     appends one "jobs.prune" entry (count, lines, oldest and newest
 *     job, the rule). Fail closed: if the entry cannot be written,
 *     nothing is deleted. The walk stops at the first job created
 *     after before_ms and after the keep-th newest finished one.
 * txn: as every operation here (NULL: a transaction of its own,
 * committed); a call that deletes nothing appends no entry. On an error
 * the struct is as before the call, so a later call tries again.
 */
#define SCHED_PRUNE_BATCH 500  /* jobs one transaction deletes at most */
#define SCHED_PRUNE_SCAN 2000  /* records one call examines at most */
#define SCHED_PRUNE_KEYS 10000 /* keys one transaction deletes, about */
struct sched_prune {
	/* The rule: 0 for none. */
	int64_t before_ms;
	uint64_t keep;
	unsigned batch, scan, keys; /* 0: the defaults above */
	bool (*busy)(void *ctx, const char *id); /* NULL: none */
	void *busy_ctx;
	/* The walk, sched_prune_step's own. */
	int phase;
	char pos[SCHED_ID_LEN + 1];
	char cap[SCHED_ID_LEN + 1];
	uint64_t counted;
	/* What the last call deleted, and the run so far. */
	unsigned step_jobs;
	uint64_t jobs, lines;
	bool done;
};
int sched_prune_step(struct sched *s, struct store_txn *txn,
		     struct sched_prune *p);

/*
 * The backoff before attempt number attempt + 1, after attempt leases
 * failed: d = min(backoff_ms * 2^(attempt - 1), backoff_max_ms), then
 * "equal jitter": d/2 plus a random part in [0, d/2].
 */
int64_t sched_backoff_ms(const struct sched *s, unsigned attempt);

/*
 * How many workers fit a machine: the CPUs (ncpu, each 1000 milli-CPUs)
 * and the memory (mem_bytes, less SCHED_RESERVE_BYTES for the daemon
 * and the system) divided by one sandbox's limits, the smaller of the
 * two, at least 1 and at most SCHED_WORKERS_MAX. sched_host_workers
 * asks sysconf for ncpu and the physical memory.
 */
#define SCHED_WORKERS_MAX 256
#define SCHED_RESERVE_BYTES ((uint64_t)512 << 20)
unsigned sched_default_workers(unsigned ncpu, uint64_t mem_bytes,
			       unsigned cpus_milli, uint64_t memory);
unsigned sched_host_workers(unsigned cpus_milli, uint64_t memory);

#endif
