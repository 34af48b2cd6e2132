/*
 * cmd_semver.c - `airlock semver`: npm semver checks from the shell, and
 * a batch mode that answers many questions at once (the differential
 * test against node-semver feeds it a corpus).
 *
 * Options --loose and --include-prerelease may come before the action.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "cli/cli.h"
#include "npm/semver.h"

static const char semver_help[] =
	"usage: airlock semver [--loose] [--include-prerelease] ACTION ...\n"
	"\n"
	"  valid V                   print V normalised; exit 1 if invalid\n"
	"  satisfies RANGE V         print true or false; exit 0 or 1\n"
	"  max-satisfying RANGE V... print the highest V that satisfies\n"
	"                            RANGE; exit 1 if none does\n"
	"  valid-range RANGE         print RANGE desugared into primitive\n"
	"                            comparators (\"*\" for any); exit 1 if\n"
	"                            invalid\n"
	"  min-version RANGE         print the lowest version RANGE admits;\n"
	"                            exit 1 if none\n"
	"  intersects RANGE RANGE    print true or false; exit 0 or 1\n"
	"  gtr V RANGE               true if V is above every version of\n"
	"                            RANGE (ltr: below); exit 0 or 1\n"
	"  ltr V RANGE\n"
	"  batch                     read JSON lines from stdin, each an\n"
	"                            array [FUNCTION, FLAGS, ARGS...], and\n"
	"                            print one JSON result per line\n"
	"\n"
	"batch FUNCTIONs, as node-semver names them: valid V, satisfies V R,\n"
	"validRange R, maxSatisfying [V...] R, minVersion R, intersects R R,\n"
	"gtr V R, ltr V R. FLAGS: 1 loose, 2 includePrerelease. Results:\n"
	"true, false, a string, null (nothing), or {\"error\":MESSAGE} where\n"
	"node-semver throws (an invalid range or version given to minVersion,\n"
	"intersects, gtr or ltr).\n"
	"\n"
	"Semantics are npm's (node-semver 7.8): ^ ~ x * || and A - B ranges;\n"
	"prereleases match only ranges that name one on the same\n"
	"major.minor.patch. Exit status 2 means bad usage or an invalid range\n"
	"or version where one is required.\n";

static int semver_usage(const char *why)
{
	fprintf(stderr, "airlock semver: %s\n%s", why, semver_help);
	return CLI_USAGE;
}

static void semver_print_version(const struct npm_version *v)
{
	char out[NPM_SEMVER_MAX_LEN + 64];

	npm_version_format(v, out, sizeof(out));
	printf("%s\n", out);
}

static int semver_valid(int argc, char **argv, unsigned flags)
{
	struct npm_version v;

	if (argc != 1)
		return semver_usage("valid takes one version");
	if (npm_version_parse(argv[0], flags, &v) != 0)
		return CLI_FAILED;
	semver_print_version(&v);
	return CLI_OK;
}

static int semver_bool(bool ok)
{
	printf("%s\n", ok ? "true" : "false");
	return ok ? CLI_OK : CLI_FAILED;
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
	return semver_bool(ok);
}

static int semver_max(int argc, char **argv, unsigned flags)
{
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
	semver_print_version(&v);
	return CLI_OK;
}

static int semver_valid_range(int argc, char **argv, unsigned flags)
{
	char out[4 * NPM_RANGE_MAX_LEN];
	struct npm_range r;

	if (argc != 1)
		return semver_usage("valid-range takes one range");
	if (npm_range_parse(argv[0], flags, &r) != 0)
		return CLI_FAILED;
	npm_range_format(&r, out, sizeof(out));
	npm_range_free(&r);
	printf("%s\n", out);
	return CLI_OK;
}

static int semver_min(int argc, char **argv, unsigned flags)
{
	struct npm_version v;
	struct npm_range r;
	int rc;

	if (argc != 1)
		return semver_usage("min-version takes one range");
	if (npm_range_parse(argv[0], flags, &r) != 0)
		return semver_usage("invalid range");
	rc = npm_range_min_version(&r, &v);
	npm_range_free(&r);
	if (rc == AL_E_SEMVER)
		return semver_usage("the range's floor is past 2^53 - 1");
	if (rc != 0)
		return CLI_FAILED;
	semver_print_version(&v);
	return CLI_OK;
}

static int semver_intersects(int argc, char **argv, unsigned flags)
{
	struct npm_range a, b;
	bool ok;

	if (argc != 2)
		return semver_usage("intersects takes two ranges");
	if (npm_range_parse(argv[0], flags, &a) != 0)
		return semver_usage("invalid first range");
	if (npm_range_parse(argv[1], flags, &b) != 0) {
		npm_range_free(&a);
		return semver_usage("invalid second range");
	}
	ok = npm_range_intersects(&a, &b);
	npm_range_free(&a);
	npm_range_free(&b);
	return semver_bool(ok);
}

static int semver_outside(int argc, char **argv, unsigned flags,
			  enum npm_outside hilo)
{
	struct npm_version v;
	struct npm_range r;
	bool ok;

	if (argc != 2)
		return semver_usage("gtr and ltr take VERSION and RANGE");
	if (npm_version_parse(argv[0], flags, &v) != 0)
		return semver_usage("invalid version");
	if (npm_range_parse(argv[1], flags, &r) != 0)
		return semver_usage("invalid range");
	ok = npm_range_outside(&r, &v, hilo);
	npm_range_free(&r);
	return semver_bool(ok);
}

/* ---- batch mode ------------------------------------------------------ */

static json_t *sb_error(const char *what)
{
	return json_pack("{s:s}", "error", what);
}

static json_t *sb_version(const struct npm_version *v)
{
	char out[NPM_SEMVER_MAX_LEN + 64];

	npm_version_format(v, out, sizeof(out));
	return json_string(out);
}

static json_t *sb_valid(const char *s, unsigned flags)
{
	struct npm_version v;

	if (npm_version_parse(s, flags, &v) != 0)
		return json_null();
	return sb_version(&v);
}

static json_t *sb_valid_range(const char *s, unsigned flags)
{
	static char out[4 * NPM_RANGE_MAX_LEN];
	struct npm_range r;

	if (npm_range_parse(s, flags, &r) != 0)
		return json_null();
	npm_range_format(&r, out, sizeof(out));
	npm_range_free(&r);
	return json_string(out);
}

static json_t *sb_min(const char *s, unsigned flags)
{
	struct npm_version v;
	struct npm_range r;
	int rc;

	if (npm_range_parse(s, flags, &r) != 0)
		return sb_error("invalid range");
	rc = npm_range_min_version(&r, &v);
	npm_range_free(&r);
	if (rc == AL_E_NOTFOUND)
		return json_null();
	return rc ? sb_error("no valid floor") : sb_version(&v);
}

/* maxSatisfying returns the chosen entry as it was written. */
static json_t *sb_max(const json_t *list, const char *range, unsigned flags)
{
	const char **vs = NULL;
	struct npm_range r;
	json_t *out = json_null(), *e;
	size_t i, n = json_array_size(list), idx;

	if (npm_range_parse(range, flags, &r) != 0)
		return out;
	vs = calloc(n + 1, sizeof(*vs));
	if (!vs)
		goto done;
	json_array_foreach(list, i, e)
		vs[i] = json_is_string(e) ? json_string_value(e) : "";
	if (npm_range_max_satisfying(&r, vs, n, &idx) == 0) {
		json_decref(out);
		out = json_string(vs[idx]);
	}
done:
	free(vs);
	npm_range_free(&r);
	return out;
}

static json_t *sb_intersects(const char *a, const char *b, unsigned flags)
{
	struct npm_range ra, rb;
	bool ok;

	if (npm_range_parse(a, flags, &ra) != 0)
		return sb_error("invalid range");
	if (npm_range_parse(b, flags, &rb) != 0) {
		npm_range_free(&ra);
		return sb_error("invalid range");
	}
	ok = npm_range_intersects(&ra, &rb);
	npm_range_free(&ra);
	npm_range_free(&rb);
	return json_boolean(ok);
}

static json_t *sb_outside(const char *vs, const char *rs, unsigned flags,
			  enum npm_outside hilo)
{
	struct npm_version v;
	struct npm_range r;
	bool ok;

	if (npm_version_parse(vs, flags, &v) != 0)
		return sb_error("invalid version");
	if (npm_range_parse(rs, flags, &r) != 0)
		return sb_error("invalid range");
	ok = npm_range_outside(&r, &v, hilo);
	npm_range_free(&r);
	return json_boolean(ok);
}

/* One question: [FUNCTION, FLAGS, ARGS...]; NULL for a malformed line. */
static json_t *sb_answer(const json_t *q)
{
	const char *fn = json_string_value(json_array_get(q, 0));
	const json_t *jf = json_array_get(q, 1);
	const char *a = json_string_value(json_array_get(q, 2));
	const char *b = json_string_value(json_array_get(q, 3));
	unsigned flags;

	if (!fn || !json_is_integer(jf))
		return NULL;
	flags = (unsigned)json_integer_value(jf) &
		(NPM_SEMVER_LOOSE | NPM_SEMVER_INCLUDE_PRERELEASE);
	if (!strcmp(fn, "maxSatisfying") && b &&
	    json_is_array(json_array_get(q, 2)))
		return sb_max(json_array_get(q, 2), b, flags);
	if (!a)
		return NULL;
	if (!strcmp(fn, "valid"))
		return sb_valid(a, flags);
	if (!strcmp(fn, "validRange"))
		return sb_valid_range(a, flags);
	if (!strcmp(fn, "minVersion"))
		return sb_min(a, flags);
	if (!b)
		return NULL;
	if (!strcmp(fn, "satisfies"))
		return json_boolean(npm_satisfies(b, a, flags));
	if (!strcmp(fn, "intersects"))
		return sb_intersects(a, b, flags);
	if (!strcmp(fn, "gtr"))
		return sb_outside(a, b, flags, NPM_OUTSIDE_HIGH);
	if (!strcmp(fn, "ltr"))
		return sb_outside(a, b, flags, NPM_OUTSIDE_LOW);
	return NULL;
}

static int semver_batch(int argc)
{
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	int rc = CLI_OK;

	if (argc != 0)
		return semver_usage("batch takes no arguments");
	while ((n = getline(&line, &cap, stdin)) > 0) {
		json_t *q, *ans;
		char *text;

		lineno++;
		q = json_loadb(line, (size_t)n, 0, NULL);
		ans = json_is_array(q) ? sb_answer(q) : NULL;
		json_decref(q);
		if (!ans) {
			fprintf(stderr, "airlock semver batch: line %zu is not "
				"a known question\n", lineno);
			rc = CLI_USAGE;
			break;
		}
		text = json_dumps(ans, JSON_ENCODE_ANY | JSON_COMPACT);
		json_decref(ans);
		if (!text) {
			rc = CLI_FAILED;
			break;
		}
		puts(text);
		free(text);
	}
	free(line);
	if (fflush(stdout) != 0)
		rc = CLI_FAILED;
	return rc;
}

int cli_semver(int argc, char **argv, const char *home)
{
	unsigned flags = 0;
	int i = 1, n;
	char **a;

	(void)home;
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
	n = argc - i - 1;
	a = argv + i + 1;
	if (!strcmp(argv[i], "valid"))
		return semver_valid(n, a, flags);
	if (!strcmp(argv[i], "satisfies"))
		return semver_satisfies(n, a, flags);
	if (!strcmp(argv[i], "max-satisfying"))
		return semver_max(n, a, flags);
	if (!strcmp(argv[i], "valid-range"))
		return semver_valid_range(n, a, flags);
	if (!strcmp(argv[i], "min-version"))
		return semver_min(n, a, flags);
	if (!strcmp(argv[i], "intersects"))
		return semver_intersects(n, a, flags);
	if (!strcmp(argv[i], "gtr"))
		return semver_outside(n, a, flags, NPM_OUTSIDE_HIGH);
	if (!strcmp(argv[i], "ltr"))
		return semver_outside(n, a, flags, NPM_OUTSIDE_LOW);
	if (!strcmp(argv[i], "batch"))
		return semver_batch(n);
	return semver_usage("unknown action");
}
