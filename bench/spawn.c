/*
 * spawn.c - how long one sandbox takes to start and tear down.
 *
 * Four ways of running /bin/true, interleaved round-robin so that load
 * from the rest of the machine falls on all of them alike:
 *
 *   lib    sbx_run() in this process, every control on: what the daemon
 *          pays per stage
 *   cli    `airlock sandbox run -- /bin/true`: the same plus starting the
 *          airlock program (exec, option parsing) and its exit
 *   bwrap  bubblewrap with every namespace, a fresh /proc, /dev, /tmp and
 *          a read-only view of /
 *   plain  fork and exec, no sandbox
 *   base   with --base PATH: `PATH sandbox run -- /bin/true`, another
 *          airlock program (the one before a change) run in the same
 *          rounds, so that old and new meet the same load
 *
 * Prints the median, 90th percentile, mean and minimum of each, and the
 * ratios of the medians. Times are wall-clock from before the spawn to
 * after the reap (and, for lib, after every cgroup is removed).
 *
 * --pause MS sleeps (untimed) before each run. Back-to-back runs share
 * kernel state that a daemon starting one stage every few seconds does
 * not see warm, such as an RCU grace period that a cgroup migration
 * already waited for; a pause of 100 ms or more shows the cold cost.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "sandbox/sandbox.h"

extern char **environ;

enum { V_LIB, V_CLI, V_BWRAP, V_PLAIN, V_BASE, V_N };

static const char *const vname[V_N] = { "lib", "cli", "bwrap", "plain",
					 "base" };

struct opts {
	int n, warmup, pause_ms;
	bool on[V_N];
	const char *airlock, *bwrap, *base;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* posix_spawn with stdout and stderr on /dev/null; the exit status. */
static int run_prog(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st = 0, rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -rc;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run_lib(void)
{
	static const char *const argv[] = { "/bin/true", NULL };
	static const char *const env[] = { "PATH=/usr/bin:/bin", NULL };
	struct sbx_spec s = { .argv = argv, .env = env, .stream_fd = -1,
			      .host_uid = SBX_DEFAULT_UID,
			      .host_gid = SBX_DEFAULT_GID };
	struct sbx_result r;
	int rc = sbx_run(&s, &r);

	if (rc != 0)
		return rc;
	rc = r.exit_code;
	sbx_result_free(&r);
	return rc;
}

static int run_one(const struct opts *o, int v)
{
	char *cli[] = { (char *)o->airlock, "sandbox", "run", "--",
			"/bin/true", NULL };
	char *bw[] = { (char *)o->bwrap, "--unshare-all", "--die-with-parent",
		       "--new-session", "--proc", "/proc", "--dev", "/dev",
		       "--tmpfs", "/tmp", "--ro-bind", "/", "/", "true",
		       NULL };
	char *plain[] = { "/bin/true", NULL };
	char *base[] = { (char *)o->base, "sandbox", "run", "--", "/bin/true",
			 NULL };

	switch (v) {
	case V_LIB:
		return run_lib();
	case V_CLI:
		return run_prog(cli);
	case V_BWRAP:
		return run_prog(bw);
	case V_BASE:
		return run_prog(base);
	default:
		return run_prog(plain);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted sample. */
static double pct(const double *s, int n, int p)
{
	int k = (p * n + 99) / 100;

	return s[k < 1 ? 0 : k - 1];
}

static void usage(FILE *f)
{
	fprintf(f, "usage: spawn [-n RUNS] [-w WARMUP] [--pause MS]\n"
		"             [--only lib,cli,bwrap,plain] [--airlock PATH]\n"
		"             [--bwrap PATH] [--base PATH]\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "only", required_argument, NULL, 'o' },
		{ "pause", required_argument, NULL, 'p' },
		{ "airlock", required_argument, NULL, 'a' },
		{ "bwrap", required_argument, NULL, 'b' },
		{ "base", required_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "n:w:h", lo, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->n = (int)strtol(optarg, NULL, 10);
			break;
		case 'w':
			o->warmup = (int)strtol(optarg, NULL, 10);
			break;
		case 'p':
			o->pause_ms = (int)strtol(optarg, NULL, 10);
			break;
		case 'o':
			for (int v = 0; v < V_BASE; v++)
				o->on[v] = strstr(optarg, vname[v]) != NULL;
			break;
		case 'a':
			o->airlock = optarg;
			break;
		case 'b':
			o->bwrap = optarg;
			break;
		case 'B':
			o->base = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (o->n < 1 || o->warmup < 0 || o->pause_ms < 0) {
		usage(stderr);
		return -1;
	}
	if (o->on[V_BWRAP] && access(o->bwrap, X_OK) != 0) {
		fprintf(stderr, "spawn: no bwrap at %s (bench/run installs "
			"bubblewrap)\n", o->bwrap);
		return -1;
	}
	o->on[V_BASE] = o->base != NULL;
	if (o->on[V_BASE] && access(o->base, X_OK) != 0) {
		fprintf(stderr, "spawn: no airlock at %s\n", o->base);
		return -1;
	}
	if (o->on[V_CLI] && access(o->airlock, X_OK) != 0) {
		fprintf(stderr, "spawn: no airlock at %s\n", o->airlock);
		return -1;
	}
	return 0;
}

static void report(const struct opts *o, double *t[V_N])
{
	double med[V_N] = { 0 };

	printf("%-6s %9s %9s %9s %9s   (ms, %d runs each, pause %d ms)\n",
	       "", "median", "p90", "mean", "min", o->n, o->pause_ms);
	for (int v = 0; v < V_N; v++) {
		double sum = 0;
		if (!o->on[v])
			continue;
		qsort(t[v], (size_t)o->n, sizeof(double), cmp_double);
		for (int i = 0; i < o->n; i++)
			sum += t[v][i];
		med[v] = pct(t[v], o->n, 50);
		printf("%-6s %9.2f %9.2f %9.2f %9.2f\n", vname[v], med[v],
		       pct(t[v], o->n, 90), sum / o->n, t[v][0]);
	}
	printf("ratios of medians:\n");
	for (int v = V_LIB; v <= V_CLI; v++) {
		if (!o->on[v])
			continue;
		if (o->on[V_BWRAP])
			printf("  %s / bwrap = %.2f\n", vname[v],
			       med[v] / med[V_BWRAP]);
		if (o->on[V_PLAIN])
			printf("  %s / plain = %.2f\n", vname[v],
			       med[v] / med[V_PLAIN]);
	}
	if (o->on[V_BWRAP] && o->on[V_PLAIN])
		printf("  bwrap / plain = %.2f\n", med[V_BWRAP] / med[V_PLAIN]);
	if (o->on[V_BASE] && o->on[V_BWRAP])
		printf("  base / bwrap = %.2f\n", med[V_BASE] / med[V_BWRAP]);
	if (o->on[V_BASE] && o->on[V_CLI])
		printf("  cli / base = %.2f\n", med[V_CLI] / med[V_BASE]);
}

int main(int argc, char **argv)
{
	struct opts o = { .n = 50, .warmup = 3,
			  .on = { true, true, true, true },
			  .airlock = AL_BENCH_AIRLOCK,
			  .bwrap = "/usr/bin/bwrap" };
	double *t[V_N] = { NULL };
	int rc = 1;

	if (parse(argc, argv, &o) != 0)
		return 2;
	if (geteuid() != 0) {
		fprintf(stderr, "spawn: sandboxes need root\n");
		return 2;
	}
	/* One line per sandbox at info level would be timed too. */
	al_log_set_level(AL_LOG_WARN);
	setenv("AIRLOCK_LOG", "warn", 1);
	for (int v = 0; v < V_N; v++)
		if (!(t[v] = calloc((size_t)o.n, sizeof(double))))
			goto out;

	for (int i = -o.warmup; i < o.n; i++) {
		for (int k = 0; k < V_N; k++) {
			int v = (i + o.warmup + k) % V_N;
			if (!o.on[v])
				continue;
			if (o.pause_ms)
				usleep((useconds_t)o.pause_ms * 1000);
			double t0 = now_ms();
			int st = run_one(&o, v);
			double dt = now_ms() - t0;
			if (st != 0) {
				fprintf(stderr, "spawn: %s run failed (%d)\n",
					vname[v], st);
				goto out;
			}
			if (i >= 0)
				t[v][i] = dt;
		}
	}
	report(&o, t);
	rc = 0;
out:
	for (int v = 0; v < V_N; v++)
		free(t[v]);
	return rc;
}
