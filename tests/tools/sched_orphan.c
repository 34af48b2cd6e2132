/*
 * sched_orphan.c - for tests only: leave a job "running" with no worker.
 *
 *   sched_orphan HOME REPO LEASE_MS
 *
 * Queues a job for REPO and leases it, in one transaction, to a worker
 * named "test-orphan" that does not exist, with a lease of LEASE_MS ms;
 * prints the job's id and exits without heartbeating or ending the
 * lease. This is what a worker whose last write failed (a full disk)
 * leaves behind; a running airlockd on HOME must end the lease once it
 * expires (tests/integration/test_daemon_orphan.sh). It goes through
 * the scheduler library on the same store as the daemon, as a worker
 * process does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/checkpoint.h"
#include "base/err.h"
#include "sched/sched.h"

static int orphan(const char *home, const char *repo, int64_t lease_ms,
		  char *id)
{
	struct audit_policy pol;
	struct store *st = NULL;
	struct audit_log *log = NULL;
	struct sched *s = NULL;
	struct store_txn *txn = NULL;
	struct sched_opts so = {.lease_ms = lease_ms};
	struct sched_request rq = {.repo = repo, .priority = 255,
				   .actor = "test-orphan"};
	struct sched_lease l = {0};
	char err[512] = "";
	int rc;

	if ((rc = audit_policy_load(home, &pol, err, sizeof(err))) ||
	    (rc = store_open_existing(home, &st)) ||
	    (rc = audit_log_open(st, home, &pol, &log)) ||
	    (rc = sched_open(log, &so, &s)) || (rc = sched_begin(s, &txn)))
		goto out;
	if ((rc = sched_enqueue(s, txn, &rq, id, NULL)) ||
	    (rc = sched_lease(s, txn, "test-orphan", &l))) {
		store_txn_abort(txn);
		goto out;
	}
	/* The highest priority: ours is the job leased, unless the
	 * repository had one queued already (then it is that one). */
	if (strcmp(l.id, id)) {
		store_txn_abort(txn);
		rc = AL_E_EXISTS;
		goto out;
	}
	rc = sched_commit(s, txn);
out:
	if (*err)
		fprintf(stderr, "sched_orphan: %s\n", err);
	json_decref(l.record);
	sched_close(s);
	audit_log_close(log);
	if (st)
		store_close(st);
	return rc;
}

int main(int argc, char **argv)
{
	char id[SCHED_ID_LEN + 1] = "";
	char *end = NULL;
	long long ms = argc == 4 ? strtoll(argv[3], &end, 10) : 0;
	int rc;

	if (argc != 4 || !end || *end || ms <= 0) {
		fprintf(stderr, "usage: sched_orphan HOME REPO LEASE_MS\n");
		return 2;
	}
	rc = orphan(argv[1], argv[2], ms, id);
	if (rc) {
		fprintf(stderr, "sched_orphan: %s\n", al_strerror(rc));
		return 1;
	}
	printf("%s\n", id);
	return 0;
}
