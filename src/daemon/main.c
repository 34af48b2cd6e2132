/*
 * main.c - the airlockd program: the daemon (daemon.c), or, started by
 * it with --worker, one job's worker process (child.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"
#include "daemon/daemon.h"
#include "sched/sched.h"

#define DMN_DEFAULT_HOME "/var/lib/airlock"

static const char dmn_help[] =
	"usage: airlockd [--home DIR] [--foreground]\n"
	"\n"
	"The airlock daemon: runs queued update jobs in worker processes,\n"
	"fires the schedules of airlock.conf, and serves the control API on\n"
	"HOME/airlockd.sock (airlock job ..., airlock status, the console).\n"
	"It always runs in the foreground, logging to stderr one line per\n"
	"event; under systemd use Type=notify (appliance/systemd/\n"
	"airlockd.service).\n"
	"\n"
	"  --home DIR     state directory (default: $AIRLOCK_HOME, else "
	DMN_DEFAULT_HOME ")\n"
	"  --foreground   accepted for DESIGN.md's command line; the only mode\n"
	"  --version      print the version\n"
	"\n"
	"Signals: TERM or INT stop (running jobs are stopped and queued again;\n"
	"a second one kills their workers), HUP reloads airlock.conf (a file\n"
	"that does not load is refused, naming the line, and the running\n"
	"configuration stays).\n"
	"Exit status: 0 stopped cleanly, 1 could not start or failed,\n"
	"2 bad usage (an unknown option or argument, a relative --home).\n"
	"Environment: AIRLOCK_LOG=debug|info|warn|error, AIRLOCK_GIT_USER,\n"
	"AIRLOCK_GIT_TOKEN (the git credentials jobs clone and push with),\n"
	"AIRLOCK_RESEAL_PAUSE_MS (ms between the batches of a key rotation's\n"
	"re-seal; docs/daemon.md).\n";

struct dmn_args {
	const char *home;
	bool worker;
	const char *job;
	unsigned attempt;
	/* The daemon's packed image, mounted: the worker's job uses it. */
	const char *img_file, *img_digest, *img_root;
};

static int dmn_parse(int argc, char **argv, struct dmn_args *a)
{
	static const struct option opts[] = {
		{"home", required_argument, NULL, 'H'},
		{"foreground", no_argument, NULL, 'f'},
		{"version", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		/* Internal: how the daemon starts a worker (child.c). */
		{"worker", no_argument, NULL, 'w'},
		{"job", required_argument, NULL, 'j'},
		{"attempt", required_argument, NULL, 'a'},
		{"image-file", required_argument, NULL, 'I'},
		{"image-digest", required_argument, NULL, 'D'},
		{"image-root", required_argument, NULL, 'R'},
		{NULL, 0, NULL, 0},
	};
	uint64_t n;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'H': a->home = optarg; break;
		case 'f': break;
		case 'w': a->worker = true; break;
		case 'j': a->job = optarg; break;
		case 'I': a->img_file = optarg; break;
		case 'D': a->img_digest = optarg; break;
		case 'R': a->img_root = optarg; break;
		case 'v': printf("airlockd %s\n", AL_VERSION); return -1;
		case 'h': fputs(dmn_help, stdout); return -1;
		case 'a':
			if (al_parse_u64(optarg, 1u << 30, &n) || n == 0)
				return 2;
			a->attempt = (unsigned)n;
			break;
		default: fputs(dmn_help, stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "airlockd: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	if (!a->home || !*a->home) {
		fprintf(stderr, "airlockd: --home needs a directory\n");
		return 2;
	}
	if (a->home[0] != '/') {
		/* Workers and the socket path must not depend on the
		 * directory the daemon was started in. */
		fprintf(stderr, "airlockd: --home must be an absolute path, "
			"not '%s'\n", a->home);
		return 2;
	}
	if (a->worker && (!a->job || strlen(a->job) != SCHED_ID_LEN ||
			  !a->attempt)) {
		fprintf(stderr, "airlockd: --worker is started by airlockd "
			"itself, with --job and --attempt\n");
		return 2;
	}
	if ((a->img_file || a->img_digest || a->img_root) &&
	    (!a->worker || !a->img_file || !a->img_digest || !a->img_root)) {
		fprintf(stderr, "airlockd: --image-* are given by airlockd to "
			"its workers, all three together\n");
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct dmn_args a = {.home = getenv("AIRLOCK_HOME")};
	int rc;

	if (!a.home || !*a.home)
		a.home = DMN_DEFAULT_HOME;
	rc = dmn_parse(argc, argv, &a);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (a.worker && a.img_file) {
		struct sbx_packed img = {.fd = -1};
		if (al_strlcpy(img.file, a.img_file, sizeof(img.file)) >=
			    sizeof(img.file) ||
		    al_strlcpy(img.digest, a.img_digest, sizeof(img.digest)) >=
			    sizeof(img.digest) ||
		    al_strlcpy(img.root, a.img_root, sizeof(img.root)) >=
			    sizeof(img.root))
			return 2;
		return dmn_worker_main(a.home, a.job, a.attempt, &img);
	}
	if (a.worker)
		return dmn_worker_main(a.home, a.job, a.attempt, NULL);
	rc = dmn_run(a.home);
	return rc ? 1 : 0;
}
