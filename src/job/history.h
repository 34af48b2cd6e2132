/*
 * history.h - this appliance's own record of how each update fared.
 *
 * Renovate's Merge Confidence and Dependabot's compatibility score
 * learn from other people's projects on a hosted service; a self-hosted
 * appliance has its own repositories instead. For every update a job
 * tried (package name and new version) the "update_history" database
 * (schema/lmdb.md) keeps the last JOB_HISTORY_RUNS outcomes, each with
 * the job, a blinded repository id and the result, so that the score of
 * a later job can say "this failed here before" or "this passed on
 * another repository here".
 *
 * Records are sealed and keyed by a blinded key of "name@version": the
 * store's keys are not encrypted, and the set of packages a customer
 * uses is theirs.
 */
#ifndef AL_JOB_HISTORY_H
#define AL_JOB_HISTORY_H

#include "store/store.h"

#define JOB_HISTORY_RUNS 64

/* What earlier jobs saw of one name@version. */
struct job_history_seen {
	unsigned passed, failed;
	unsigned other_repos; /* distinct repositories other than this one
			       * on which it passed */
};

/*
 * Read what is known of name@version; repo is the current job's
 * repository URL (without credentials). A missing record is all zeros
 * and 0. Errors of the store are returned (the caller goes on without
 * history).
 */
int job_history_get(struct store_txn *txn, const char *name,
		    const char *version, const char *repo,
		    struct job_history_seen *out);

/*
 * Add one outcome ("passed" or "failed") of name@version, tried from
 * version from, by job on repo, at ms; the oldest run goes when there
 * are JOB_HISTORY_RUNS. Needs a write transaction.
 */
int job_history_add(struct store_txn *txn, const char *name,
		    const char *from, const char *version, const char *repo,
		    const char *job, const char *result, int64_t ms);

#endif
