/*
 * bench_sched - durable queue throughput: enqueue -> lease -> complete.
 *
 *   bench_sched DIR [JOBS] [BATCH]
 *
 * DIR must not exist; it becomes a scratch directory (removed at the
 * end) holding an airlock home and a bare LMDB environment side by side
 * on the same disk. Every commit is durable: LMDB's default commit,
 * which fsyncs before it returns (neither environment is opened with
 * MDB_NOSYNC or MDB_NOMETASYNC).
 *
 * Measures, one "name value unit" line each:
 *   raw_put_commit       one put (8-byte key, 64-byte value) and one
 *                        commit per operation, bare LMDB
 *   raw_put_batch_B      B puts per commit, bare LMDB
 *   sched_cycle_single   one job through enqueue, lease and complete,
 *                        each in its own transaction (3 commits a job)
 *   sched_cycle_batch_B  JOBS jobs, B at a time: B enqueues in one
 *                        transaction, B leases in one, B completes in
 *                        one (group commit: 3 commits per B jobs)
 * A cycle is three state changes, each with its sealed job record,
 * repository record, queue index entries and audit entry.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "sched/sched.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_sched: %s: %s\n", what,
		rc < 0 && rc > -4096 ? strerror(-rc) : al_strerror(rc));
	exit(1);
}

static void mdb_die(const char *what, int rc)
{
	fprintf(stderr, "bench_sched: %s: %s\n", what, mdb_strerror(rc));
	exit(1);
}

/* n puts, batch per commit, into a fresh environment at dir. */
static double raw_rate(const char *dir, size_t n, size_t batch)
{
	MDB_env *env;
	MDB_dbi dbi;
	MDB_txn *txn;
	char val[64];
	double t0;
	int rc;

	memset(val, 'v', sizeof(val));
	if (mkdir(dir, 0700))
		die(dir, -errno);
	if ((rc = mdb_env_create(&env)) ||
	    (rc = mdb_env_set_mapsize(env, (size_t)1 << 30)) ||
	    (rc = mdb_env_open(env, dir, 0, 0600)))
		mdb_die(dir, rc);
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) ||
	    (rc = mdb_dbi_open(txn, NULL, 0, &dbi)) ||
	    (rc = mdb_txn_commit(txn)))
		mdb_die("open", rc);

	t0 = now_s();
	for (size_t done = 0; done < n; done += batch) {
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)))
			mdb_die("begin", rc);
		for (size_t i = done; i < done + batch && i < n; i++) {
			uint64_t k = __builtin_bswap64(i);
			MDB_val key = {sizeof(k), &k}, v = {sizeof(val), val};
			if ((rc = mdb_put(txn, dbi, &key, &v, 0)))
				mdb_die("put", rc);
		}
		if ((rc = mdb_txn_commit(txn)))
			mdb_die("commit", rc);
	}
	t0 = now_s() - t0;
	mdb_env_close(env);
	return (double)n / t0;
}

static void request(struct sched_request *rq, char *repo, size_t n,
		    size_t i)
{
	snprintf(repo, n, "https://git.bench/acme/repo-%zu.git", i);
	*rq = (struct sched_request){.repo = repo, .priority = 100};
}

static double cycles_single(struct sched *s, size_t n)
{
	struct sched_request rq;
	struct sched_lease l;
	char repo[96], id[SCHED_ID_LEN + 1];
	double t0 = now_s();
	int rc;

	for (size_t i = 0; i < n; i++) {
		request(&rq, repo, sizeof(repo), i);
		if ((rc = sched_enqueue(s, NULL, &rq, id, NULL)) ||
		    (rc = sched_lease(s, NULL, "w1", &l)))
			die("single", rc);
		rc = sched_complete(s, NULL, l.id, l.attempt,
				    SCHED_OUT_SUCCEEDED, NULL, NULL);
		json_decref(l.record);
		if (rc)
			die("complete", rc);
	}
	return (double)n / (now_s() - t0);
}

static double cycles_batch(struct sched *s, size_t n, size_t batch,
			   size_t base)
{
	struct sched_lease *ls = calloc(batch, sizeof(*ls));
	struct sched_request rq;
	struct store_txn *txn;
	char repo[96], id[SCHED_ID_LEN + 1];
	double t0 = now_s();
	int rc;

	for (size_t done = 0; done < n; done += batch) {
		size_t m = n - done < batch ? n - done : batch;

		if ((rc = sched_begin(s, &txn)))
			die("begin", rc);
		for (size_t i = 0; i < m; i++) {
			request(&rq, repo, sizeof(repo), base + done + i);
			if ((rc = sched_enqueue(s, txn, &rq, id, NULL)))
				die("enqueue", rc);
		}
		if ((rc = sched_commit(s, txn)) || (rc = sched_begin(s, &txn)))
			die("commit", rc);
		for (size_t i = 0; i < m; i++)
			if ((rc = sched_lease(s, txn, "w1", &ls[i])))
				die("lease", rc);
		if ((rc = sched_commit(s, txn)) || (rc = sched_begin(s, &txn)))
			die("commit", rc);
		for (size_t i = 0; i < m; i++) {
			rc = sched_complete(s, txn, ls[i].id, ls[i].attempt,
					    SCHED_OUT_SUCCEEDED, NULL, NULL);
			json_decref(ls[i].record);
			if (rc)
				die("complete", rc);
		}
		if ((rc = sched_commit(s, txn)))
			die("commit", rc);
	}
	free(ls);
	return (double)n / (now_s() - t0);
}

int main(int argc, char **argv)
{
	size_t jobs = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000;
	size_t batch = argc > 3 ? strtoul(argv[3], NULL, 10) : 100;
	size_t single = 300;
	char path[4200];
	struct store *st;
	struct audit_log *log;
	struct sched *s;
	double raw1, rawb, s1, sb;
	int rc;

	if (argc < 2 || jobs == 0 || batch == 0) {
		fprintf(stderr, "usage: bench_sched DIR [JOBS] [BATCH]\n");
		return 2;
	}
	if (mkdir(argv[1], 0700))
		die(argv[1], -errno);
	al_log_set_level(AL_LOG_WARN);

	snprintf(path, sizeof(path), "%s/raw1", argv[1]);
	raw1 = raw_rate(path, 2000, 1);
	printf("raw_put_commit %.0f ops/s (2000 commits)\n", raw1);
	snprintf(path, sizeof(path), "%s/rawb", argv[1]);
	rawb = raw_rate(path, jobs, batch);
	printf("raw_put_batch_%zu %.0f ops/s (%zu puts)\n", batch, rawb, jobs);

	snprintf(path, sizeof(path), "%s/home", argv[1]);
	if ((rc = store_open(path, &st)) ||
	    (rc = audit_log_open(st, path, NULL, &log)) ||
	    (rc = sched_open(log, NULL, &s)))
		die(path, rc);
	s1 = cycles_single(s, single);
	printf("sched_cycle_single %.0f cycles/s (%zu jobs, 3 commits each)\n",
	       s1, single);
	sb = cycles_batch(s, jobs, batch, single);
	printf("sched_cycle_batch_%zu %.0f cycles/s (%zu jobs)\n", batch, sb,
	       jobs);
	printf("ratio sched_cycle_batch_%zu / raw_put_commit = %.2f\n", batch,
	       sb / raw1);
	printf("ratio sched_cycle_batch_%zu / raw_put_batch_%zu = %.3f\n",
	       batch, batch, sb / rawb);
	printf("ratio sched_cycle_single / raw_put_commit = %.2f\n",
	       s1 / raw1);
	printf("store_map_bytes %zu\n", store_map_size(st));

	sched_close(s);
	audit_log_close(log);
	store_close(st);
	al_rm_tree(argv[1]);
	return 0;
}
