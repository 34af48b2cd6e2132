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

/* Print a string from the record: it came from a job, so make it inert. */
static void cli_put(const char *s, int width)
{
	char buf[1024];

	al_strlcpy(buf, s ? s : "", sizeof(buf));
	al_sanitize_text(buf);
	printf("%-*s", width, buf);
}

static const char *cli_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static void cli_print_updates(json_t *plan)
{
	json_t *ups = json_object_get(plan, "updates");
	json_t *skips = json_object_get(plan, "skipped");
	size_t i;
	json_t *u;

	printf("\nUpdates (%zu)\n", json_array_size(ups));
	json_array_foreach(ups, i, u) {
		bool lock = !strcmp(cli_str(u, "kind"), "lockfile-only");

		printf("  ");
		cli_put(cli_str(u, "name"), 28);
		printf(" ");
		/* A lockfile-only update moves the locked version, not the
		 * range: show the versions. */
		cli_put(lock ? cli_str(u, "locked") : cli_str(u, "from"), 12);
		printf(" \xe2\x86\x92 ");
		cli_put(lock ? cli_str(u, "version") : cli_str(u, "to"), 12);
		printf(" %-6s %-13s ", cli_str(u, "bump"), cli_str(u, "kind"));
		cli_put(cli_str(u, "section"), 0);
		if (strcmp(cli_str(u, "file"), "package.json")) {
			printf(" in ");
			cli_put(cli_str(u, "file"), 0);
		}
		printf("\n");
		if (json_object_get(u, "note")) {
			printf("    note: ");
			cli_put(cli_str(u, "note"), 0);
			printf("\n");
		}
	}
	json_array_foreach(json_object_get(plan, "notes"), i, u) {
		printf("  note: ");
		cli_put(json_string_value(u), 0);
		printf("\n");
	}
	if (json_array_size(skips) == 0)
		return;
	printf("\nSkipped (%zu)\n", json_array_size(skips));
	json_array_foreach(skips, i, u) {
		printf("  ");
		cli_put(cli_str(u, json_object_get(u, "path") ? "path"
							       : "name"), 28);
		printf(" ");
		cli_put(cli_str(u, "spec"), 20);
		printf(" ");
		cli_put(cli_str(u, "reason"), 0);
		printf("\n");
	}
}

static void cli_print_stages(json_t *rec)
{
	size_t i;
	json_t *st;

	printf("\nStages\n");
	json_array_foreach(json_object_get(rec, "stages"), i, st) {
		json_t *t = json_object_get(st, "tests");
		printf("  %-18s %-8s %7.1f s", cli_str(st, "name"),
		       cli_str(st, "result"),
		       json_integer_value(json_object_get(st, "duration_ms")) /
			       1000.0);
		if (json_is_object(t))
			printf("  tests: %lld ran, %lld failed",
			       json_integer_value(json_object_get(t, "ran")),
			       json_integer_value(json_object_get(t, "failed")));
		printf("\n");
	}
}

/* Culprits named by trying the updates apart, and what is left. */
static void cli_print_isolation(json_t *iso)
{
	size_t i, k;
	json_t *c, *name;

	if (!json_is_object(iso))
		return;
	json_array_foreach(json_object_get(iso, "culprits"), i, c) {
		printf("  culprit: ");
		cli_put(cli_str(c, "name"), 0);
		printf(" ");
		cli_put(cli_str(c, "to"), 0);
		printf(" (%s)\n", cli_str(c, "reason"));
		json_t *tests = json_object_get(json_object_get(c, "trial"),
						"tests");
		json_array_foreach(json_object_get(tests, "failing"), k, name) {
			printf("    failing test: ");
			cli_put(json_string_value(name), 0);
			printf("\n");
		}
	}
	json_array_foreach(json_object_get(iso, "unresolved"), i, name) {
		printf("  not told apart: ");
		cli_put(json_string_value(name), 0);
		printf("\n");
	}
	if (json_array_size(json_object_get(iso, "proposed"))) {
		printf("  still proposed (passed without the culprits):");
		json_array_foreach(json_object_get(iso, "proposed"), i, name) {
			printf(" ");
			cli_put(json_string_value(name), 0);
		}
		printf("\n");
	}
}

static void cli_print_report(json_t *report)
{
	size_t i, k;
	json_t *f, *name;

	if (!json_is_object(report)) {
		printf("\nFailure report: none\n");
		return;
	}
	printf("\nFailure report\n");
	cli_print_isolation(json_object_get(report, "isolation"));
	json_array_foreach(json_object_get(report, "failures"), i, f) {
		printf("  stage %s failed: ", cli_str(f, "stage"));
		cli_put(cli_str(f, "reason"), 0);
		printf("\n");
		json_array_foreach(json_object_get(f, "net_attempts"), k,
				   name) {
			printf("    the %s stage tried to reach ",
			       cli_str(f, "stage"));
			cli_put(json_string_value(name), 0);
			printf("\n");
		}
		json_t *tests = json_object_get(f, "tests");
		json_array_foreach(json_object_get(tests, "failing"), k, name) {
			printf("    failing test: ");
			cli_put(json_string_value(name), 0);
			printf("\n");
		}
		const char *log = cli_str(f, "log_excerpt");
		if (*log) {
			/* Already made terminal-safe when it was recorded. */
			printf("    log (last lines):\n");
			for (const char *p = log; *p;) {
				const char *nl = strchrnul(p, '\n');
				printf("      | %.*s\n", (int)(nl - p), p);
				p = *nl ? nl + 1 : nl;
			}
		}
	}
}

static void cli_print_summary(json_t *rec)
{
	json_t *score = json_object_get(rec, "score");
	json_t *timing = json_object_get(rec, "timing");
	json_t *prop = json_object_get(rec, "proposal");
	size_t i;
	json_t *f;

	printf("airlock job %s: %s\nrepository: ", cli_str(rec, "id"),
	       cli_str(rec, "state"));
	cli_put(cli_str(rec, "repo"), 0);
	printf("\n");
	if (json_is_object(json_object_get(rec, "plan")))
		cli_print_updates(json_object_get(rec, "plan"));
	cli_print_stages(rec);
	printf("\nTime: total %.1f s, in sandboxes (npm) %.1f s, "
	       "airlock overhead %.2f s\n",
	       json_integer_value(json_object_get(timing, "total_ms")) / 1e3,
	       json_integer_value(json_object_get(timing, "sandbox_ms")) / 1e3,
	       json_integer_value(json_object_get(timing, "overhead_ms")) /
		       1e3);
	if (json_is_object(score)) {
		printf("\nConfidence: %lld (%s)\n",
		       json_integer_value(json_object_get(score, "value")),
		       cli_str(score, "level"));
		json_array_foreach(json_object_get(score, "factors"), i, f) {
			printf("  %+4lld  %-22s ",
			       json_integer_value(json_object_get(f, "effect")),
			       cli_str(f, "name"));
			/* Built from registry data: made inert again. */
			cli_put(cli_str(f, "detail"), 0);
			printf("\n");
		}
	}
	cli_print_report(json_object_get(rec, "report"));
	if (json_is_object(prop))
		printf("\nProposal: branch %s %s (commit %.12s)\n",
		       cli_str(prop, "branch"),
		       json_is_true(json_object_get(prop, "pushed"))
			       ? "pushed"
			       : "NOT pushed",
		       cli_str(prop, "commit"));
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
			json_dumpf(doc, stdout, JSON_INDENT(2));
			printf("\n");
			json_decref(doc);
		}
		return CLI_USAGE;
	}
	if (json)
		json_dumpf(rec, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	else
		cli_print_summary(rec);
	printf("\n");
	fflush(stdout);
	rc = strcmp(cli_str(rec, "state"), "succeeded") ? CLI_FAILED : CLI_OK;
	json_decref(rec);
	return rc;
}
