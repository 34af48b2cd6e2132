/*
 * cmd_semver.c - `airlock semver`: npm semver checks from the shell.
 *
 *   airlock semver valid V               normalised V, or exit 1
 *   airlock semver satisfies RANGE V     true (exit 0) / false (exit 1)
 *   airlock semver max-satisfying RANGE V...
 *                                        the highest V in RANGE, or exit 1
 *
 * Options --loose and --include-prerelease may come before the action.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "npm/semver.h"

static const char semver_help[] =
	"usage: airlock semver [--loose] [--include-prerelease] ACTION ...\n"
	"\n"
	"  valid V                   print V normalised; exit 1 if invalid\n"
	"  satisfies RANGE V         print true or false; exit 0 or 1\n"
	"  max-satisfying RANGE V... print the highest V that satisfies\n"
	"                            RANGE; exit 1 if none does\n"
	"\n"
	"Semantics are npm's (node-semver): ^ ~ x * || and A - B ranges;\n"
	"prereleases match only ranges that name one on the same version.\n"
	"Exit status 2 means bad usage or an invalid range.\n";

static int semver_usage(const char *why)
{
	fprintf(stderr, "airlock semver: %s\n%s", why, semver_help);
	return CLI_USAGE;
}

static int semver_valid(int argc, char **argv, unsigned flags)
{
	char out[NPM_SEMVER_MAX_LEN + 64];
	struct npm_version v;

	if (argc != 1)
		return semver_usage("valid takes one version");
	if (npm_version_parse(argv[0], flags, &v) != 0)
		return CLI_FAILED;
	npm_version_format(&v, out, sizeof(out));
	printf("%s\n", out);
	return CLI_OK;
}

static int semver_satisfies(int argc, char **argv, unsigned flags)
{
	struct npm_version v;
	struct npm_range r;
	bool ok = false;

	if (argc != 2)
		return semver_usage("satisfies takes RANGE and VERSION");
	if (npm_range_parse(argv[0], flags, &r) != 0)
		return semver_usage("invalid range");
	if (npm_version_parse(argv[1], flags, &v) == 0)
		ok = npm_range_satisfies(&r, &v);
	npm_range_free(&r);
	printf("%s\n", ok ? "true" : "false");
	return ok ? CLI_OK : CLI_FAILED;
}

static int semver_max(int argc, char **argv, unsigned flags)
{
	char out[NPM_SEMVER_MAX_LEN + 64];
	struct npm_version v;
	struct npm_range r;
	size_t idx;
	int rc;

	if (argc < 2)
		return semver_usage("max-satisfying takes RANGE and versions");
	if (npm_range_parse(argv[0], flags, &r) != 0)
		return semver_usage("invalid range");
	rc = npm_range_max_satisfying(&r, (const char *const *)argv + 1,
				      (size_t)argc - 1, &idx);
	npm_range_free(&r);
	if (rc != 0)
		return CLI_FAILED;
	npm_version_parse(argv[1 + idx], flags, &v);
	npm_version_format(&v, out, sizeof(out));
	printf("%s\n", out);
	return CLI_OK;
}

int cli_semver(int argc, char **argv, const char *home)
{
	unsigned flags = 0;
	int i = 1;

	for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		if (!strcmp(argv[i], "--help")) {
			fputs(semver_help, stdout);
			return CLI_OK;
		} else if (!strcmp(argv[i], "--loose")) {
			flags |= NPM_SEMVER_LOOSE;
		} else if (!strcmp(argv[i], "--include-prerelease")) {
			flags |= NPM_SEMVER_INCLUDE_PRERELEASE;
		} else if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else {
			return semver_usage("unknown option");
		}
	}
	if (i >= argc)
		return semver_usage("missing action");
	if (!strcmp(argv[i], "valid"))
		return semver_valid(argc - i - 1, argv + i + 1, flags);
	if (!strcmp(argv[i], "satisfies"))
		return semver_satisfies(argc - i - 1, argv + i + 1, flags);
	if (!strcmp(argv[i], "max-satisfying"))
		return semver_max(argc - i - 1, argv + i + 1, flags);
	return semver_usage("unknown action");
}
