/*
 * cmd_update.c - `airlock update`: one job in this process, then a
 * summary for people or the job record as JSON.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "cli/cli.h"
#include "job/job.h"
#include "sched/sched.h"

static const char cli_update_help[] =
	"usage: airlock update REPO [--branch B] [--policy patch|minor|major]\n"
	"                      [--test-cmd CMD] [--json] [--home DIR]\n"
	"\n"
	"Clone REPO (a URL or path), raise the ranges of dependencies,\n"
	"devDependencies and optionalDependencies whose latest release is\n"
	"newer, install and test the baseline and the update in sandboxes,\n"
	"score the update, and push it on branch airlock/<date>-<id>.\n"
	"\n"
	"  --branch B       base branch (default: the remote's HEAD)\n"
	"  --policy P       largest bump allowed: patch, minor or major\n"
	"                   (default major)\n"
	"  --test-cmd CMD   test command, run by /bin/sh with no network\n"
	"                   (default \"npm test\")\n"
	"  --json           print the job record as JSON instead of a summary\n"
	"\n"
	"When the updates fail together and the baseline passed, they are\n"
	"tried apart (isolate_budget in airlock.conf, default 1800 s): the\n"
	"report names the culprits and the others are proposed without them.\n"
	"The confidence score and its factors are explained in docs/score.md.\n"
	"\n"
	"Credentials: AIRLOCK_GIT_TOKEN (and AIRLOCK_GIT_USER, default\n"
	"x-access-token), or user:token@ in the URL. They stay in this\n"
	"process and never enter a sandbox or the job record.\n"
	"Exit status: 0 the update passed, 1 the job or the update failed,\n"
	"2 bad usage.\n";

static void cli_on_signal(int sig)
{
	(void)sig;
	job_cancel_from_signal();
}

static void cli_install_signals(void)
{
	struct sigaction sa = {.sa_handler = cli_on_signal};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/*
	 * A reader that went away (`airlock update ... 2>&1 | head`, a TLS
	 * peer that closed) is an error to handle, not a reason to die half
	 * way through a job and leave its workspace for the next sweep. The
	 * sandboxes reset this for their payloads.
	 */
	signal(SIGPIPE, SIG_IGN);
}

static int cli_update_args(int argc, char **argv, struct job_opts *o,
			   bool *json)
{
	static const struct option opts[] = {
		{"branch", required_argument, NULL, 'b'},
		{"policy", required_argument, NULL, 'p'},
		{"test-cmd", required_argument, NULL, 't'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	/* 0 makes glibc start afresh; options may follow REPO. */
	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b': o->branch = optarg; break;
		case 't': o->test_cmd = optarg; break;
		case 'j': *json = true; break;
		case 'h': fputs(cli_update_help, stdout); return -1;
		case 'p':
			if (npm_policy_parse(optarg, &o->policy) == 0)
				break;
			fprintf(stderr, "airlock update: --policy must be "
					"patch, minor or major, not '%s'\n",
				optarg);
			return CLI_USAGE;
		default:
			fputs(cli_update_help, stderr);
			return CLI_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "airlock update: %s\n",
			optind >= argc ? "missing REPO"
				       : "exactly one REPO expected");
		return CLI_USAGE;
	}
	o->repo = argv[optind];
	if (o->test_cmd && !*o->test_cmd) {
		fprintf(stderr, "airlock update: --test-cmd is empty\n");
		return CLI_USAGE;
	}
	/* The daemon's check of a job request (sched.h), but the URL's
	 * credentials stay in this process and a path may be relative. */
	struct sched_request rq = {.repo = o->repo, .branch = o->branch,
				   .test_cmd = o->test_cmd};
	char why[512];
	if (sched_request_check(&rq, SCHED_CHECK_LOCAL, why, sizeof(why))) {
		fprintf(stderr, "airlock update: %s\n", why);
		return CLI_USAGE;
	}
	return 0;
}

int cli_update(int argc, char **argv, const char *home)
{
	struct job_opts o = {.home = home, .policy = NPM_POLICY_MAJOR};
	bool json = false;
	json_t *rec = NULL;
	char err[1024] = "";

	int rc = cli_update_args(argc, argv, &o, &json);
	if (rc)
		return rc < 0 ? CLI_OK : rc;
	o.progress = true;
	cli_install_signals();

	rc = job_run(&o, &rec, err, sizeof(err));
	if (rc) {
		/* The message may quote the repository argument. */
		al_utf8_repair(err, strlen(err));
		al_sanitize_text(err);
		fprintf(stderr, "airlock update: %s\n", err);
		if (json) {
			json_t *doc = json_pack("{s:s,s:s}", "state", "error",
						"error", err);
			json_dumpf(doc, stdout, JSON_INDENT(2) |
							JSON_ENSURE_ASCII);
			printf("\n");
			json_decref(doc);
		}
		return CLI_USAGE;
	}
	if (json)
		json_dumpf(rec, stdout, JSON_INDENT(2) | JSON_SORT_KEYS |
						JSON_ENSURE_ASCII);
	else
		cli_print_summary(rec);
	printf("\n");
	fflush(stdout);
	rc = strcmp(cli_str(rec, "state"), "succeeded") ? CLI_FAILED : CLI_OK;
	json_decref(rec);
	return rc;
}
