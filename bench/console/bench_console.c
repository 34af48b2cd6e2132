/*
 * bench_console.c - what bench/console/run.sh needs around the console:
 *
 *   bench_console seed HOME N   a store under HOME with N finished jobs
 *                               (a quarter succeeded, a quarter failed,
 *                               half cancelled), in commits of 1 000
 *   bench_console call HOME N   N job.page calls of 200 jobs (what the
 *                               console asks at start) against the
 *                               daemon on HOME, and N pings; then the
 *                               first sorted page (which builds the
 *                               daemon's job index) once, and N each
 *                               of a sorted, a state-filtered and a
 *                               text-filtered page; prints the medians
 *                               in ms
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/client.h"
#include "audit/audit.h"
#include "base/err.h"
#include "base/util.h"
#include "sched/sched.h"

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_console: %s: %s\n", what, al_strerror(rc));
	exit(1);
}

/* One job, ended as i says. */
static int seed_one(struct sched *s, struct store_txn *txn, unsigned i)
{
	char url[64], id[SCHED_ID_LEN + 1];
	struct sched_request rq = {.repo = url, .priority = 100};
	struct sched_lease l;
	int rc;

	snprintf(url, sizeof(url), "http://127.0.0.1:9/bench-%u.git", i);
	if ((rc = sched_enqueue(s, txn, &rq, id, NULL)))
		return rc;
	if (i % 4 >= 2)
		return sched_cancel(s, txn, id, "uid:0");
	if ((rc = sched_lease(s, txn, "bench", &l)))
		return rc;
	json_decref(l.record);
	return sched_complete(s, txn, l.id, l.attempt,
			      i % 4 ? SCHED_OUT_FAILED : SCHED_OUT_SUCCEEDED,
			      i % 4 ? "bench: failed on purpose" : NULL, NULL);
}

static void seed(const char *home, unsigned n)
{
	struct store *st = NULL;
	struct audit_log *log = NULL;
	struct sched *s = NULL;
	struct store_txn *txn = NULL;
	int rc;

	if ((rc = store_open(home, &st)) ||
	    (rc = audit_log_open(st, home, NULL, &log)) ||
	    (rc = sched_open(log, NULL, &s)))
		die("open", rc);
	for (unsigned i = 0; i < n; i++) {
		if (!txn && (rc = sched_begin(s, &txn)))
			die("begin", rc);
		if ((rc = seed_one(s, txn, i)))
			die("seed", rc);
		if ((i + 1) % 1000 == 0 || i + 1 == n) {
			if ((rc = sched_commit(s, txn)))
				die("commit", rc);
			txn = NULL;
		}
	}
	sched_close(s);
	audit_log_close(log);
	store_close(st);
}

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median_call(struct api_client *c, const char *method,
			  const char *params, unsigned n)
{
	double *t = calloc(n, sizeof(*t)), m;
	struct api_err err;
	json_t *res;
	int rc;

	if (!t)
		die("calloc", -ENOMEM);
	for (unsigned i = 0; i < n; i++) {
		json_t *p = params ? json_loads(params, 0, NULL) : NULL;
		double t0 = now_ms();
		if ((rc = api_client_call(c, method, p, 30000, &res, &err)))
			die(method, rc);
		t[i] = now_ms() - t0;
		json_decref(res);
	}
	qsort(t, n, sizeof(*t), cmp_d);
	m = t[n / 2];
	free(t);
	return m;
}

static void call(const char *home, unsigned n)
{
	char path[128];
	struct api_client *c = NULL;
	int rc;

	if ((rc = api_socket_path(home, path, sizeof(path))) ||
	    (rc = api_client_connect(path, &c)))
		die("connect", rc);
	printf("page_ms %.3f\n", median_call(c, "job.page",
					     "{\"limit\": 200}", n));
	printf("ping_ms %.3f\n", median_call(c, "ping", NULL, n));
	/* The first sorted page waits for the index to be built. */
	printf("index_build_ms %.3f\n", median_call(c, "job.page",
		"{\"limit\": 200, \"sort\": \"id\"}", 1));
	printf("sorted_ms %.3f\n", median_call(c, "job.page",
		"{\"limit\": 200, \"sort\": \"repo\"}", n));
	printf("state_ms %.3f\n", median_call(c, "job.page",
		"{\"limit\": 200, \"sort\": \"score\", \"desc\": true, "
		"\"state\": \"failed\"}", n));
	printf("match_ms %.3f\n", median_call(c, "job.page",
		"{\"limit\": 200, \"sort\": \"changed\", \"desc\": true, "
		"\"match\": \"bench-9999\"}", n));
	api_client_close(c);
}

int main(int argc, char **argv)
{
	uint64_t n;

	if (argc != 4 || al_parse_u64(argv[3], 10000000, &n) || n == 0) {
		fprintf(stderr, "usage: bench_console seed|call HOME N\n");
		return 2;
	}
	if (!strcmp(argv[1], "seed"))
		seed(argv[2], (unsigned)n);
	else if (!strcmp(argv[1], "call"))
		call(argv[2], (unsigned)n);
	else
		return 2;
	return 0;
}
