/*
 * test_semver.c - npm semver against node-semver's own fixture tables
 * ($AL_FIXTURES_DIR/cases/semver-fixtures.json, exported from node-semver
 * 7.8.5; see cases/README.md for the row shapes), plus hostile inputs.
 *
 * Every row of range-include, range-exclude, range-parse, comparisons,
 * equality, valid-versions, invalid-versions, comparator-intersection,
 * range-intersection and the four gtr/ltr tables is checked; each
 * disagreement is printed and fails the test. Rows whose inputs are not
 * strings (a JavaScript object or boolean where a version is expected)
 * have no C equivalent: a non-string version is treated as "does not
 * satisfy", a non-string invalid version is skipped and counted.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/err.h"
#include "npm/semver.h"

static json_t *fixtures;

static int load_fixtures(void **state)
{
	const char *dir = getenv("AL_FIXTURES_DIR");
	char path[4096];
	json_error_t jerr;

	if (!dir || !*dir) {
		fprintf(stderr, "AL_FIXTURES_DIR is not set: run this test "
				"through ctest, which points it at shared/\n");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/cases/semver-fixtures.json", dir);
	fixtures = json_load_file(path, 0, &jerr);
	if (!fixtures) {
		fprintf(stderr, "cannot load %s: %s (line %d)\n", path,
			jerr.text, jerr.line);
		return -1;
	}
	return 0;
}

static int free_fixtures(void **state)
{
	json_decref(fixtures);
	return 0;
}

static json_t *table(const char *name)
{
	json_t *t = json_object_get(fixtures, name);

	if (!json_is_array(t) || json_array_size(t) == 0)
		fail_msg("fixture table %s is missing or empty", name);
	return t;
}

static bool js_truthy(const json_t *j)
{
	if (!j || json_is_null(j) || json_is_false(j))
		return false;
	if (json_is_integer(j))
		return json_integer_value(j) != 0;
	if (json_is_real(j))
		return json_real_value(j) != 0.0;
	if (json_is_string(j))
		return json_string_length(j) != 0;
	return true;
}

/* node-semver's parseOptions: a non-object truthy value means loose. */
static unsigned row_flags(const json_t *opt)
{
	unsigned f = 0;

	if (!js_truthy(opt))
		return 0;
	if (!json_is_object(opt))
		return NPM_SEMVER_LOOSE;
	if (js_truthy(json_object_get(opt, "loose")))
		f |= NPM_SEMVER_LOOSE;
	if (js_truthy(json_object_get(opt, "includePrerelease")))
		f |= NPM_SEMVER_INCLUDE_PRERELEASE;
	return f;
}

static void check_ranges(const char *name, bool want)
{
	json_t *t = table(name), *row;
	size_t i, bad = 0;

	json_array_foreach(t, i, row) {
		const char *range = json_string_value(json_array_get(row, 0));
		json_t *jv = json_array_get(row, 1);
		unsigned f = row_flags(json_array_get(row, 2));
		bool got = false;

		assert_non_null(range);
		if (json_is_string(jv))
			got = npm_satisfies(range, json_string_value(jv), f);
		if (got != want) {
			char *r = json_dumps(row, JSON_ENCODE_ANY);
			fprintf(stderr, "%s row %zu %s: got %s\n", name, i, r,
				got ? "true" : "false");
			free(r);
			bad++;
		}
	}
	fprintf(stderr, "%s: %zu rows, %zu disagreements\n", name,
		json_array_size(t), bad);
	assert_int_equal(bad, 0);
}

static void test_range_include(void **state)
{
	check_ranges("range-include", true);
}

static void test_range_exclude(void **state)
{
	check_ranges("range-exclude", false);
}

/* [range, expected desugared text or null, options] */
static void test_range_parse(void **state)
{
	json_t *t = table("range-parse"), *row;
	size_t i, bad = 0;

	json_array_foreach(t, i, row) {
		const char *in = json_string_value(json_array_get(row, 0));
		const char *want = json_string_value(json_array_get(row, 1));
		unsigned f = row_flags(json_array_get(row, 2));
		struct npm_range r;
		char got[8192] = "(invalid)";
		bool ok;

		if (npm_range_parse(in, f, &r) == 0) {
			npm_range_format(&r, got, sizeof(got));
			npm_range_free(&r);
			ok = want && strcmp(want, got) == 0;
		} else {
			ok = want == NULL;
		}
		if (!ok) {
			fprintf(stderr, "range-parse row %zu '%s': want '%s' "
				"got '%s'\n", i, in, want ? want : "(invalid)",
				got);
			bad++;
		}
	}
	fprintf(stderr, "range-parse: %zu rows, %zu disagreements\n",
		json_array_size(t), bad);
	assert_int_equal(bad, 0);
}

/* [greater, lesser, options]: both orders, and neither equal. */
static void test_comparisons(void **state)
{
	json_t *t = table("comparisons"), *row;
	size_t i, bad = 0;

	json_array_foreach(t, i, row) {
		const char *a = json_string_value(json_array_get(row, 0));
		const char *b = json_string_value(json_array_get(row, 1));
		unsigned f = row_flags(json_array_get(row, 2));
		struct npm_version va, vb;

		if (npm_version_parse(a, f, &va) ||
		    npm_version_parse(b, f, &vb) ||
		    npm_version_cmp(&va, &vb) != 1 ||
		    npm_version_cmp(&vb, &va) != -1 ||
		    npm_version_cmp(&va, &va) != 0) {
			fprintf(stderr, "comparisons row %zu: %s > %s fails\n",
				i, a, b);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void test_equality(void **state)
{
	json_t *t = table("equality"), *row;
	size_t i, bad = 0;

	json_array_foreach(t, i, row) {
		const char *a = json_string_value(json_array_get(row, 0));
		const char *b = json_string_value(json_array_get(row, 1));
		unsigned f = row_flags(json_array_get(row, 2));
		struct npm_version va, vb;

		if (npm_version_parse(a, f, &va) ||
		    npm_version_parse(b, f, &vb) ||
		    npm_version_cmp(&va, &vb) != 0) {
			fprintf(stderr, "equality row %zu: %s == %s fails\n",
				i, a, b);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* Join a JSON array of identifiers (strings or integers) with dots. */
static void join_ids(const json_t *arr, char *out, size_t outsz)
{
	size_t i, o = 0;
	json_t *id;

	out[0] = '\0';
	json_array_foreach(arr, i, id) {
		int n;

		if (json_is_integer(id))
			n = snprintf(out + o, outsz - o, "%s%lld", i ? "." : "",
				     (long long)json_integer_value(id));
		else
			n = snprintf(out + o, outsz - o, "%s%s", i ? "." : "",
				     json_string_value(id));
		assert_true(n > 0 && (size_t)n < outsz - o);
		o += (size_t)n;
	}
}

/* [version, major, minor, patch, prerelease[], build[]] */
static void test_valid_versions(void **state)
{
	json_t *t = table("valid-versions"), *row;
	size_t i, bad = 0;

	json_array_foreach(t, i, row) {
		const char *s = json_string_value(json_array_get(row, 0));
		struct npm_version v;
		char pre[512], build[512];

		join_ids(json_array_get(row, 4), pre, sizeof(pre));
		join_ids(json_array_get(row, 5), build, sizeof(build));
		if (npm_version_parse(s, 0, &v) ||
		    v.major != (uint64_t)json_integer_value(
				       json_array_get(row, 1)) ||
		    v.minor != (uint64_t)json_integer_value(
				       json_array_get(row, 2)) ||
		    v.patch != (uint64_t)json_integer_value(
				       json_array_get(row, 3)) ||
		    strcmp(v.pre, pre) || strcmp(v.build, build)) {
			fprintf(stderr, "valid-versions row %zu: %s\n", i, s);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* [input, why, options]; non-string inputs have no C equivalent. */
static void test_invalid_versions(void **state)
{
	json_t *t = table("invalid-versions"), *row;
	size_t i, bad = 0, checked = 0;

	json_array_foreach(t, i, row) {
		json_t *in = json_array_get(row, 0);
		unsigned f = row_flags(json_array_get(row, 2));
		struct npm_version v;

		if (!json_is_string(in))
			continue;
		checked++;
		if (npm_version_parse(json_string_value(in), f, &v) == 0) {
			fprintf(stderr, "invalid-versions row %zu accepted\n",
				i);
			bad++;
		}
	}
	assert_true(checked >= 8);
	assert_int_equal(bad, 0);
}

/* [comparator, comparator, expected, options]: both orders. */
static void test_comparator_intersection(void **state)
{
	json_t *t = table("comparator-intersection"), *row;
	size_t i, bad = 0;

	json_array_foreach(t, i, row) {
		const char *a = json_string_value(json_array_get(row, 0));
		const char *b = json_string_value(json_array_get(row, 1));
		bool want = json_is_true(json_array_get(row, 2));
		unsigned f = row_flags(json_array_get(row, 3));
		struct npm_comparator ca, cb;

		if (npm_comparator_parse(a, f, &ca) ||
		    npm_comparator_parse(b, f, &cb) ||
		    npm_comparator_intersects(&ca, &cb, f) != want ||
		    npm_comparator_intersects(&cb, &ca, f) != want) {
			fprintf(stderr, "comparator-intersection row %zu: "
				"'%s' '%s' want %d\n", i, a, b, want);
			bad++;
		}
	}
	fprintf(stderr, "comparator-intersection: %zu rows, %zu "
		"disagreements\n", json_array_size(t), bad);
	assert_int_equal(bad, 0);
}

/* [range, range, expected, options]: both orders. */
static void test_range_intersection(void **state)
{
	json_t *t = table("range-intersection"), *row;
	size_t i, bad = 0;

	json_array_foreach(t, i, row) {
		const char *a = json_string_value(json_array_get(row, 0));
		const char *b = json_string_value(json_array_get(row, 1));
		bool want = json_is_true(json_array_get(row, 2));
		unsigned f = row_flags(json_array_get(row, 3));
		struct npm_range ra, rb;

		if (npm_range_parse(a, f, &ra)) {
			bad++;
			continue;
		}
		if (npm_range_parse(b, f, &rb)) {
			npm_range_free(&ra);
			bad++;
			continue;
		}
		if (npm_range_intersects(&ra, &rb) != want ||
		    npm_range_intersects(&rb, &ra) != want) {
			fprintf(stderr, "range-intersection row %zu: '%s' "
				"'%s' want %d\n", i, a, b, want);
			bad++;
		}
		npm_range_free(&ra);
		npm_range_free(&rb);
	}
	fprintf(stderr, "range-intersection: %zu rows, %zu disagreements\n",
		json_array_size(t), bad);
	assert_int_equal(bad, 0);
}

/* [range, version, options]: gtr or ltr must give want. */
static void check_outside(const char *name, enum npm_outside hilo,
			  bool want)
{
	json_t *t = table(name), *row;
	size_t i, bad = 0;

	json_array_foreach(t, i, row) {
		const char *r = json_string_value(json_array_get(row, 0));
		const char *v = json_string_value(json_array_get(row, 1));
		unsigned f = row_flags(json_array_get(row, 2));
		struct npm_version ver;
		struct npm_range rng;

		if (npm_version_parse(v, f, &ver) ||
		    npm_range_parse(r, f, &rng)) {
			fprintf(stderr, "%s row %zu: invalid input\n", name, i);
			bad++;
			continue;
		}
		if (npm_range_outside(&rng, &ver, hilo) != want) {
			fprintf(stderr, "%s row %zu: '%s' '%s' want %d\n", name,
				i, r, v, want);
			bad++;
		}
		npm_range_free(&rng);
	}
	fprintf(stderr, "%s: %zu rows, %zu disagreements\n", name,
		json_array_size(t), bad);
	assert_int_equal(bad, 0);
}

static void test_gtr_ltr(void **state)
{
	check_outside("version-gt-range", NPM_OUTSIDE_HIGH, true);
	check_outside("version-not-gt-range", NPM_OUTSIDE_HIGH, false);
	check_outside("version-lt-range", NPM_OUTSIDE_LOW, true);
	check_outside("version-not-lt-range", NPM_OUTSIDE_LOW, false);
}

static void test_format_and_helpers(void **state)
{
	const char *vs[] = { "1.2.3", "junk", "1.4.0", "2.0.0", "1.5.0-rc.1",
			     "1.4.9" };
	struct npm_version v;
	struct npm_range r;
	char buf[64];
	size_t idx = 99;

	assert_int_equal(npm_version_parse(" =v1.02.3beta+b.1 ",
					   NPM_SEMVER_LOOSE, &v), 0);
	assert_int_equal(npm_version_format(&v, buf, sizeof(buf)), 10);
	assert_string_equal(buf, "1.2.3-beta");
	assert_int_equal(npm_version_format(&v, buf, 4), -ENOSPC);

	assert_int_equal(npm_range_parse("^1.2.3", 0, &r), 0);
	assert_int_equal(npm_range_max_satisfying(&r, vs, 6, &idx), 0);
	assert_int_equal(idx, 5);
	assert_int_equal(npm_range_min_version(&r, &v), 0);
	npm_version_format(&v, buf, sizeof(buf));
	assert_string_equal(buf, "1.2.3");
	npm_range_free(&r);

	assert_int_equal(npm_range_parse(">1.2.3-rc.1 <2", 0, &r), 0);
	assert_int_equal(npm_range_min_version(&r, &v), 0);
	npm_version_format(&v, buf, sizeof(buf));
	assert_string_equal(buf, "1.2.3-rc.1.0");
	npm_range_free(&r);

	assert_int_equal(npm_range_parse("<0.0.0-0 || >5 <3", 0, &r), 0);
	assert_int_equal(npm_range_min_version(&r, &v), AL_E_NOTFOUND);
	assert_int_equal(npm_range_max_satisfying(&r, vs, 6, &idx),
			 AL_E_NOTFOUND);
	npm_range_free(&r);

	assert_int_equal(npm_range_parse("*", 0, &r), 0);
	assert_int_equal(npm_range_min_version(&r, &v), 0);
	npm_version_format(&v, buf, sizeof(buf));
	assert_string_equal(buf, "0.0.0");
	npm_range_free(&r);
}

static void test_hostile(void **state)
{
	char *big = malloc(NPM_RANGE_MAX_LEN + 100);
	struct npm_version v;
	struct npm_range r;

	assert_non_null(big);
	memset(big, '1', NPM_RANGE_MAX_LEN + 99);
	big[NPM_RANGE_MAX_LEN + 99] = '\0';
	assert_int_equal(npm_range_parse(big, 0, &r), AL_E_LIMIT);
	assert_int_equal(npm_version_parse(big, 0, &v), AL_E_LIMIT);

	/* Many tokens: each must fail cleanly, not overflow a buffer. */
	for (size_t i = 0; i < NPM_RANGE_MAX_LEN; i += 2) {
		big[i] = '>';
		big[i + 1] = ' ';
	}
	big[NPM_RANGE_MAX_LEN] = '\0';
	assert_int_equal(npm_range_parse(big, 0, &r), AL_E_SEMVER);
	assert_int_equal(npm_range_parse(big, NPM_SEMVER_LOOSE, &r),
			 AL_E_SEMVER);
	free(big);

	assert_int_equal(npm_range_parse(NULL, 0, &r), AL_E_SEMVER);
	assert_int_equal(npm_version_parse(NULL, 0, &v), AL_E_SEMVER);
	assert_int_equal(npm_range_parse("^1.2.3 ||| x", 0, &r),
			 AL_E_SEMVER);
	assert_int_equal(npm_range_parse("1.2.3 - ", 0, &r), AL_E_SEMVER);
	assert_int_equal(npm_range_parse("~", 0, &r), AL_E_SEMVER);
	assert_int_equal(npm_range_parse(">=", 0, &r), AL_E_SEMVER);
	assert_int_equal(npm_range_parse("git+ssh://x/y.git#1.2.3", 0, &r),
			 AL_E_SEMVER);
	assert_int_equal(npm_range_parse("latest", 0, &r), AL_E_SEMVER);
	assert_int_equal(npm_version_parse("1.2.3-", 0, &v), AL_E_SEMVER);
	assert_int_equal(npm_version_parse("1.2.3+", 0, &v), AL_E_SEMVER);
	assert_int_equal(npm_version_parse("1.2.3-a..b", 0, &v),
			 AL_E_SEMVER);
	assert_int_equal(npm_version_parse("1.2.3\x1b[2J", 0, &v),
			 AL_E_SEMVER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range_include),
		cmocka_unit_test(test_range_exclude),
		cmocka_unit_test(test_range_parse),
		cmocka_unit_test(test_comparisons),
		cmocka_unit_test(test_equality),
		cmocka_unit_test(test_valid_versions),
		cmocka_unit_test(test_invalid_versions),
		cmocka_unit_test(test_comparator_intersection),
		cmocka_unit_test(test_range_intersection),
		cmocka_unit_test(test_gtr_ltr),
		cmocka_unit_test(test_format_and_helpers),
		cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests(tests, load_fixtures, free_fixtures);
}
