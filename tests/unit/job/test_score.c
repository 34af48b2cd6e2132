/*
 * The confidence score: every factor, its weight, its cap, and the worked
 * example of docs/score.md, number for number.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "job/score.h"

static struct score_input clean(void)
{
	struct score_input in = {
		.base_install = SCORE_PASSED, .base_test = SCORE_PASSED,
		.install = SCORE_PASSED, .test = SCORE_PASSED,
		.base_tests_ran = 20, .tests_ran = 20,
	};
	return in;
}

/* An update the registry knows, old and new by the same person, months
 * old: no supply-chain factor fires. */
static struct score_update upd(const char *name, enum score_bump bump)
{
	struct score_update u = {
		.name = name, .from = "1.0.0", .to = "1.0.1", .bump = bump,
		.signals = true, .age_ms = 90 * SCORE_DAY_MS,
		.publisher_from = "alice", .publisher_to = "alice",
		.maintainers_from = "alice", .maintainers_to = "alice",
	};
	return u;
}

static const struct score_factor *need(const struct score *s,
				       const char *name, int effect)
{
	const struct score_factor *f = score_factor(s, name);

	if (!f)
		fail_msg("no factor %s", name);
	if (f->effect != effect)
		fail_msg("%s: effect %d, want %d (%s)", name, f->effect,
			 effect, f->detail);
	return f;
}

static void score1(struct score_input *in, struct score_update *u,
		   size_t n, struct score *s)
{
	in->updates = u;
	in->nupdates = n;
	score_compute(in, s);
}

static void test_clean_patches_are_high(void **state)
{
	struct score_input in = clean();
	struct score_update u[] = {upd("a", SCORE_BUMP_PATCH),
				   upd("b", SCORE_BUMP_PATCH)};
	struct score s;

	score1(&in, u, 2, &s);
	assert_int_equal(s.value, 98);
	assert_string_equal(s.level, "high");
	assert_int_equal(s.nfactors, 1);
	need(&s, "patch_updates", -2);
	assert_non_null(strstr(s.factors[0].detail, "2 patch updates: a"));
	/* The packages a factor is about are listed apart. */
	assert_string_equal(s.factors[0].packages, "a");
	assert_string_equal(s.factors[0].packages + 2, "b");
}

static void test_stages(void **state)
{
	struct score_input in = clean();
	struct score_update u = upd("a", SCORE_BUMP_MAJOR);
	struct score s;

	in.test = SCORE_FAILED;
	score1(&in, &u, 1, &s);
	need(&s, "tests_failed", SCORE_TESTS_BROKEN);
	need(&s, "major_updates", SCORE_PER_MAJOR);
	assert_int_equal(s.value, 100 - 60 - 12);
	assert_string_equal(s.level, "low");

	in = clean();
	in.install = SCORE_FAILED;
	in.test = SCORE_NOT_RUN;
	score1(&in, NULL, 0, &s);
	need(&s, "install_failed", SCORE_INSTALL_BROKEN);
	assert_true(s.value < 50);

	in = clean();
	in.base_test = in.test = SCORE_FAILED;
	score1(&in, NULL, 0, &s);
	need(&s, "tests_failed_baseline_too", SCORE_BASELINE_BROKEN);
	assert_int_equal(s.value, 75);

	in = clean();
	in.tests_ran = 12;
	score1(&in, NULL, 0, &s);
	need(&s, "fewer_tests", SCORE_FEWER_TESTS);
	assert_int_equal(s.value, 80);
}

static void test_untested_never_high(void **state)
{
	struct score_input in = clean();
	struct score s;

	in.tests_ran = in.base_tests_ran = -1;
	score1(&in, NULL, 0, &s);
	need(&s, "untested", SCORE_CAP_UNTESTED - 100);
	assert_int_equal(s.value, SCORE_CAP_UNTESTED);
	in.tests_ran = in.base_tests_ran = 0;
	score1(&in, NULL, 0, &s);
	assert_true(s.value < 80);
	/* History points cannot lift an untested project past the cap. */
	struct score_update u = upd("a", SCORE_BUMP_PATCH);
	u.hist_passed = 3;
	u.hist_other_repos = 2;
	in.tests_ran = -1;
	score1(&in, &u, 1, &s);
	assert_int_equal(s.value, SCORE_CAP_UNTESTED);
}

static void test_bump_caps(void **state)
{
	struct score_input in = clean();
	struct score_update u[8];
	struct score s;

	for (size_t i = 0; i < 8; i++)
		u[i] = upd("m", SCORE_BUMP_MAJOR);
	score1(&in, u, 8, &s);
	need(&s, "major_updates", SCORE_CAP_MAJOR);
	assert_non_null(strstr(s.factors[0].detail, "8 major updates"));
	for (size_t i = 0; i < 8; i++)
		u[i].bump = SCORE_BUMP_MINOR;
	score1(&in, u, 8, &s);
	need(&s, "minor_updates", SCORE_CAP_MINOR);
}

static void test_fresh_release(void **state)
{
	struct score_input in = clean();
	struct score_update u[3] = {upd("today", SCORE_BUMP_PATCH),
				    upd("week", SCORE_BUMP_PATCH),
				    upd("old", SCORE_BUMP_PATCH)};
	struct score s;

	u[0].age_ms = 3 * 3600 * 1000LL;
	u[1].age_ms = 3 * SCORE_DAY_MS;
	u[2].age_ms = 7 * SCORE_DAY_MS;
	score1(&in, u, 3, &s);
	const struct score_factor *f =
		need(&s, "fresh_release", SCORE_FRESH_DAY + SCORE_FRESH_WEEK);
	assert_non_null(strstr(f->detail, "today 1.0.1 (3 h ago)"));
	assert_non_null(strstr(f->detail, "week 1.0.1 (3 days ago)"));
	assert_null(strstr(f->detail, "old"));
	/* Two releases of the day: capped. */
	u[1].age_ms = 0;
	score1(&in, u, 3, &s);
	need(&s, "fresh_release", SCORE_CAP_FRESH);
	/* No time from the registry: said, not punished. */
	u[0].age_ms = u[1].age_ms = -1;
	score1(&in, u, 3, &s);
	assert_null(score_factor(&s, "fresh_release"));
	need(&s, "release_age_unknown", 0);
	/* No registry answer at all: no supply-chain factor. */
	u[0].signals = u[1].signals = false;
	score1(&in, u, 3, &s);
	assert_null(score_factor(&s, "release_age_unknown"));
}

static void test_install_scripts(void **state)
{
	struct score_input in = clean();
	struct score_update u[3] = {upd("new", SCORE_BUMP_PATCH),
				    upd("had", SCORE_BUMP_PATCH),
				    upd("gone", SCORE_BUMP_PATCH)};
	struct score s;

	u[0].scripts_to = true;
	u[1].scripts_from = u[1].scripts_to = true;
	u[2].scripts_from = true;
	score1(&in, u, 3, &s);
	const struct score_factor *f =
		need(&s, "install_scripts_added", SCORE_SCRIPTS_ADDED);
	assert_string_equal(f->packages, "new");
	assert_non_null(strstr(f->detail, "new 1.0.1 (none in 1.0.0)"));
	u[1].scripts_from = false;
	u[2].scripts_to = true;
	u[2].scripts_from = false;
	score1(&in, u, 3, &s);
	need(&s, "install_scripts_added", SCORE_CAP_SCRIPTS);
}

static void test_deprecation(void **state)
{
	struct score_input in = clean();
	struct score_update u = upd("d", SCORE_BUMP_PATCH);
	struct score s;

	u.deprecated_from = true;
	score1(&in, &u, 1, &s);
	need(&s, "leaves_deprecated", 0);
	assert_null(score_factor(&s, "deprecated"));
	u.deprecated_to = true;
	score1(&in, &u, 1, &s);
	need(&s, "deprecated", SCORE_DEPRECATED);
}

static void test_people(void **state)
{
	struct score_input in = clean();
	struct score_update u = upd("p", SCORE_BUMP_PATCH);
	struct score s;

	u.publisher_to = "mallory";
	u.maintainers_to = "alice, mallory";
	score1(&in, &u, 1, &s);
	const struct score_factor *f =
		need(&s, "publisher_changed", SCORE_PUBLISHER);
	assert_non_null(strstr(f->detail, "p 1.0.1 by mallory (1.0.0 by "
					  "alice)"));
	f = need(&s, "maintainers_added", SCORE_MAINTAINERS);
	assert_non_null(strstr(f->detail, "p 1.0.1: mallory"));
	/* Names are whole: "al" is not "alice"; a removal is no factor. */
	u.publisher_to = "alice";
	u.maintainers_from = "al, alice, bob";
	u.maintainers_to = "alice";
	score1(&in, &u, 1, &s);
	assert_null(score_factor(&s, "publisher_changed"));
	assert_null(score_factor(&s, "maintainers_added"));
	u.maintainers_from = "alice";
	u.maintainers_to = "al, alice";
	score1(&in, &u, 1, &s);
	need(&s, "maintainers_added", SCORE_MAINTAINERS);
	/* Unknown on one side (abbreviated document): nothing said. */
	u.publisher_from = NULL;
	u.publisher_to = "eve";
	u.maintainers_from = NULL;
	score1(&in, &u, 1, &s);
	assert_null(score_factor(&s, "publisher_changed"));
	assert_null(score_factor(&s, "maintainers_added"));
}

static void test_history(void **state)
{
	struct score_input in = clean();
	struct score_update u[3] = {upd("bad", SCORE_BUMP_PATCH),
				    upd("mixed", SCORE_BUMP_PATCH),
				    upd("good", SCORE_BUMP_PATCH)};
	struct score s;

	u[0].hist_failed = 2;
	u[1].hist_failed = 1;
	u[1].hist_passed = 4;
	u[2].hist_passed = 3;
	u[2].hist_other_repos = 2;
	in.tests_ran = 20;
	score1(&in, u, 3, &s);
	need(&s, "history_failed", SCORE_HISTORY_FAILED);
	need(&s, "history_mixed", SCORE_HISTORY_MIXED);
	need(&s, "history_passed", SCORE_HISTORY_PASSED);
	assert_int_equal(s.value, 100 - 3 - 20 - 5 + 5);
	/* Passing only on this repository says nothing new. */
	u[2].hist_other_repos = 0;
	score1(&in, &u[2], 1, &s);
	assert_null(score_factor(&s, "history_passed"));
	/* Never past 100. */
	u[2].hist_other_repos = 1;
	score1(&in, &u[2], 1, &s);
	assert_int_equal(s.value, 100);
}

/* Registry strings are data: nothing of them drives a terminal. */
static void test_hostile_strings(void **state)
{
	struct score_input in = clean();
	struct score_update u = upd("x", SCORE_BUMP_PATCH);
	struct score s;

	u.publisher_to = "mal\x1b]0;pwned\x07lory\n";
	score1(&in, &u, 1, &s);
	const struct score_factor *f = score_factor(&s, "publisher_changed");
	assert_non_null(f);
	assert_null(strchr(f->detail, '\x1b'));
	assert_null(strchr(f->detail, '\x07'));
	assert_null(strchr(f->detail, '\n'));
}

/* docs/score.md, "Worked example": the numbers must be these. */
static void test_worked_example(void **state)
{
	struct score_input in = clean();
	struct score_update u[3] = {upd("@airlock-test/hooked",
					SCORE_BUMP_PATCH),
				    upd("@airlock-test/sunset",
					SCORE_BUMP_PATCH),
				    upd("@airlock-test/fresh",
					SCORE_BUMP_PATCH)};
	const char *left[] = {"@airlock-test/greet"};
	struct score s;

	in.tests_ran = in.base_tests_ran = 4;
	u[0].scripts_to = true;
	u[0].publisher_to = "mallory";
	u[0].maintainers_to = "alice, mallory";
	u[1].deprecated_from = true;
	u[2].age_ms = 2 * 3600 * 1000LL;
	in.left_out = left;
	in.nleft_out = 1;
	score1(&in, u, 3, &s);
	need(&s, "patch_updates", -3);
	need(&s, "fresh_release", -20);
	need(&s, "install_scripts_added", -25);
	need(&s, "leaves_deprecated", 0);
	need(&s, "publisher_changed", -15);
	need(&s, "maintainers_added", -10);
	need(&s, "left_out", 0);
	assert_int_equal(s.nfactors, 7);
	assert_int_equal(s.value, 27);
	assert_string_equal(s.level, "low");
	json_t *j = score_json(&s);
	assert_int_equal(json_integer_value(json_object_get(j, "value")), 27);
	json_t *f = json_array_get(json_object_get(j, "factors"), 6);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(f, "packages"), 0)),
			    "@airlock-test/greet");
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean_patches_are_high),
		cmocka_unit_test(test_stages),
		cmocka_unit_test(test_untested_never_high),
		cmocka_unit_test(test_bump_caps),
		cmocka_unit_test(test_fresh_release),
		cmocka_unit_test(test_install_scripts),
		cmocka_unit_test(test_deprecation),
		cmocka_unit_test(test_people),
		cmocka_unit_test(test_history),
		cmocka_unit_test(test_hostile_strings),
		cmocka_unit_test(test_worked_example),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
