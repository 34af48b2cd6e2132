/*
 * job.h - one update job, start to finish, in the calling process.
 *
 * clone -> plan -> baseline install/test -> update install/test -> score
 * -> propose -> destroy (DESIGN.md, "The job, stage by stage"). Every
 * stage is an audit entry; the job record is sealed in the store under
 * the job id. Whatever happens, the workspace is removed before
 * job_run returns.
 */
#ifndef AL_JOB_JOB_H
#define AL_JOB_JOB_H

#include <signal.h>
#include <stdbool.h>

#include <jansson.h>

#include "npm/plan.h"

struct store;
struct store_txn;
struct audit_log;
struct sbx_packed;

/*
 * How a daemon's worker runs a job that the scheduler leased to it
 * (src/daemon/worker.c). The worker has opened the store and the audit
 * log and holds the lease; the job uses them, takes the leased job's id
 * and leaves the record's scheduler members to the scheduler.
 */
struct job_worker {
	const char *id;          /* the leased job's id (SCHED_ID_LEN) */
	const char *actor;       /* audit actor of the job's own entries */
	struct store *store;     /* borrowed, not closed by the job */
	struct audit_log *alog;  /* borrowed */
	/*
	 * Store record with its audit entry action inside txn, the job's
	 * write transaction (sched_save_record under the lease). 0, or
	 * an error that the job treats like a failed audit write: it
	 * stops (AL_E_STALE: the lease is no longer this worker's).
	 */
	int (*save)(void *ctx, struct store_txn *txn, const json_t *record,
		    const char *action);
	/* May be NULL: the transaction of a save with action committed. */
	void (*saved)(void *ctx, const char *action);
	/* Stage name begins, the job's step of steps (job/steps.h: step
	 * from 1; steps 0 until the plan is known). May be NULL. */
	void (*stage)(void *ctx, const char *name, unsigned step,
		      unsigned steps);
	/* A progress line is ready; called from any of the job's threads,
	 * line already terminal-safe. May be NULL. */
	void (*progress)(void *ctx, const char *line);
	void *ctx;
};

struct job_opts {
	const char *home;
	const char *repo;      /* URL or path; userinfo is split off */
	const char *branch;    /* base branch; NULL = the remote's HEAD */
	enum npm_policy policy;
	const char *test_cmd;  /* run by /bin/sh -c; NULL = "npm test" */
	bool progress;         /* one line per stage on stderr */
	const struct job_worker *worker; /* NULL: a job of its own */
	/*
	 * A packed image the caller verified and mounted (the daemon's),
	 * used when airlock.conf's image names the same file and its pin,
	 * if any, matches; borrowed. NULL, or another file: the job
	 * verifies and mounts the configured file itself for its run.
	 */
	const struct sbx_packed *image;
};

/* Set from a signal handler to stop the running job (Ctrl-C). */
extern volatile sig_atomic_t job_cancel_requested;

/*
 * Run one job. On return *record (owned by the caller) holds the job
 * record, also stored sealed, whenever the job got as far as having an id.
 * Returns 0 when the job ran to its end (look at record "state":
 * "succeeded", "failed" or "cancelled"), or a negative error when it
 * could not start (bad home, bad config); err then says why.
 */
int job_run(const struct job_opts *o, json_t **record, char *err,
	    size_t errsz);

/*
 * Remove what jobs killed outright (SIGKILL, power loss) left under
 * HOME/work: every workspace whose lock no live job holds, with its
 * volume, and the cgroups of sandboxes whose creator died. Safe while
 * other jobs run (their locks are held). Returns how many workspaces
 * were removed.
 */
int job_sweep_home(const char *home);

/*
 * Signal-safe part of cancelling: sets the flag and kills running
 * sandboxes. Call from SIGINT/SIGTERM handlers.
 */
void job_cancel_from_signal(void);

/*
 * The same for a job stopped at its time limit (job_timeout): it ends
 * "failed", its report leading with the reason, not "cancelled".
 */
void job_timeout_from_signal(void);

#endif
