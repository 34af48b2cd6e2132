/*
 * print.c - a job record for people: the summary `airlock update` and
 * `airlock job show` print. Every string in a record may have come from
 * a job (a repository, a package, a test's name) and is made inert
 * before it reaches the terminal.
 */
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "cli/cli.h"

/* Print a string from the record: it came from a job, so make it inert. */
void cli_put(const char *s, int width)
{
	char buf[1024];

	al_strlcpy(buf, s ? s : "", sizeof(buf));
	al_sanitize_text(buf);
	printf("%-*s", width, buf);
}

const char *cli_str(json_t *o, const char *key)
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
		if (json_object_get(st, "group")) {
			printf("  [");
			cli_put(cli_str(st, "group"), 0);
			printf("]");
		}
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

/* Several groups: each one's outcome, score and branch. */
static void cli_print_groups(json_t *groups)
{
	size_t i;
	json_t *g;

	printf("\nGroups\n");
	json_array_foreach(groups, i, g) {
		json_t *sc = json_object_get(g, "score");
		json_t *prop = json_object_get(g, "proposal");

		printf("  ");
		cli_put(cli_str(g, "name"), 32);
		printf(" %-8s", cli_str(g, "result"));
		if (json_is_object(sc))
			printf(" confidence %lld (%s)",
			       json_integer_value(json_object_get(sc, "value")),
			       cli_str(sc, "level"));
		if (json_is_object(prop)) {
			printf(" branch ");
			cli_put(cli_str(prop, "branch"), 0);
			printf(" %s (commit %.12s)", cli_str(prop, "action"),
			       cli_str(prop, "commit"));
		}
		printf("\n");
	}
}

void cli_print_summary(json_t *rec)
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
	if (json_array_size(json_object_get(rec, "groups")) > 1) {
		cli_print_groups(json_object_get(rec, "groups"));
		return;
	}
	if (json_is_object(prop))
		printf("\nProposal: branch %s %s (commit %.12s)\n",
		       cli_str(prop, "branch"),
		       json_is_true(json_object_get(prop, "pushed"))
			       ? "pushed"
			       : "NOT pushed",
		       cli_str(prop, "commit"));
}
