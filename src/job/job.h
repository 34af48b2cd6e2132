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

struct job_opts {
	const char *home;
	const char *repo;      /* URL or path; userinfo is split off */
	const char *branch;    /* base branch; NULL = the remote's HEAD */
	enum npm_policy policy;
	const char *test_cmd;  /* run by /bin/sh -c; NULL = "npm test" */
	bool progress;         /* one line per stage on stderr */
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
 * Signal-safe part of cancelling: sets the flag and kills running
 * sandboxes. Call from SIGINT/SIGTERM handlers.
 */
void job_cancel_from_signal(void);

#endif
