/*
 * bench_api - control API throughput and latency.
 *
 *   bench_api DIR [CLIENTS] [CALLS]
 *
 * DIR must not exist; it becomes a scratch home (removed at the end)
 * holding the socket and a real audit log. CLIENTS threads (50) each
 * connect with the client library and make CALLS (2000) sequential
 * calls of a method that reads its parameters and answers, as status
 * or job.show would. Two runs: calls audited into the real log (every
 * loop round one durable group commit, as the daemon does), and calls
 * not audited, which shows the loop alone. Prints one "name value unit"
 * line per measure.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "api/api.h"
#include "api/client.h"
#include "audit/audit.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"

struct worker {
	const char *path;
	size_t calls;
	int64_t *lat_us;
	int rc;
	pthread_t thr;
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static json_t *m_show(void *ctx, const struct api_call *call,
		      json_t *params, struct api_err *err)
{
	return json_pack("{s:O, s:s, s:i}", "job",
			 json_object_get(params, "job"), "state", "test",
			 "score", 87);
}

static const struct api_method methods[] = { { "job.show", m_show } };

static void *work(void *arg)
{
	struct worker *w = arg;
	struct api_client *c;
	struct api_err err;

	w->rc = api_client_connect(w->path, &c);
	for (size_t i = 0; w->rc == 0 && i < w->calls; i++) {
		int64_t t0 = now_us();
		json_t *res = NULL;

		w->rc = api_client_call(c, "job.show", json_pack("{s:s}", "job",
					"019b2f7a1c3e4d5f6a7b"), 10000, &res,
					&err);
		w->lat_us[i] = now_us() - t0;
		json_decref(res);
	}
	api_client_close(c);
	return NULL;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void *serve(void *srv)
{
	api_server_run(srv);
	return NULL;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_api: %s: %s\n", what, al_strerror(rc));
	exit(1);
}

static void run(const char *name, const char *path, struct audit_log *log,
		size_t nclients, size_t calls)
{
	struct api_server_opts o = {
		.path = path, .gid = (gid_t)-1, .methods = methods,
		.nmethods = 1, .audit = log ? api_audit_to_log : NULL,
		.audit_ctx = log, .max_conns = (unsigned)nclients + 8,
	};
	struct worker *w = calloc(nclients, sizeof(*w));
	int64_t *all = calloc(nclients * calls, sizeof(*all));
	struct api_server *srv;
	pthread_t thr;
	int64_t t0, t1;
	size_t n = nclients * calls;
	int rc = api_server_new(&o, &srv);

	if (rc)
		die("server", rc);
	pthread_create(&thr, NULL, serve, srv);
	t0 = now_us();
	for (size_t i = 0; i < nclients; i++) {
		w[i] = (struct worker){ path, calls, all + i * calls, 0, 0 };
		pthread_create(&w[i].thr, NULL, work, &w[i]);
	}
	for (size_t i = 0; i < nclients; i++) {
		pthread_join(w[i].thr, NULL);
		if (w[i].rc)
			die("call", w[i].rc);
	}
	t1 = now_us();
	api_server_stop(srv);
	pthread_join(thr, NULL);
	api_server_free(srv);

	qsort(all, n, sizeof(*all), cmp64);
	printf("%s_clients %zu\n", name, nclients);
	printf("%s_req_per_s %.0f req/s\n", name,
	       (double)n * 1e6 / (double)(t1 - t0));
	printf("%s_p50 %.3f ms\n", name, (double)all[n / 2] / 1000.0);
	printf("%s_p99 %.3f ms\n", name, (double)all[n * 99 / 100] / 1000.0);
	printf("%s_max %.3f ms\n", name, (double)all[n - 1] / 1000.0);
	free(all);
	free(w);
}

int main(int argc, char **argv)
{
	size_t nclients = argc > 2 ? strtoul(argv[2], NULL, 10) : 50;
	size_t calls = argc > 3 ? strtoul(argv[3], NULL, 10) : 2000;
	struct audit_log *log;
	struct store *st;
	char path[256];
	uint64_t count = 0, bad = 0;
	int rc;

	if (argc < 2 || !nclients || !calls) {
		fprintf(stderr, "usage: bench_api DIR [CLIENTS] [CALLS]\n");
		return 2;
	}
	al_log_set_level(AL_LOG_WARN);
	if (mkdir(argv[1], 0700) != 0) {
		perror(argv[1]);
		return 1;
	}
	rc = api_socket_path(argv[1], path, sizeof(path));
	if (rc == 0)
		rc = store_open(argv[1], &st);
	if (rc == 0)
		rc = audit_log_open(st, argv[1], NULL, &log);
	if (rc)
		die(argv[1], rc);

	run("audited", path, log, nclients, calls);
	run("unaudited", path, NULL, nclients, calls);
	rc = audit_verify(st, &count, &bad);
	printf("audit_entries %llu (verify %s)\n", (unsigned long long)count,
	       rc ? al_strerror(rc) : "ok");

	audit_log_close(log);
	store_close(st);
	al_rm_tree(argv[1]);
	return rc ? 1 : 0;
}
