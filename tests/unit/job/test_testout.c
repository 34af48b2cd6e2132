/* Test-runner output parsing and the confidence score. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "job/score.h"
#include "job/testout.h"

static void parse(const char *s, struct testout *t)
{
	testout_parse(s, strlen(s), t);
}

static void test_tap_counts_and_names(void **state)
{
	struct testout t;
	parse("TAP version 13\n# a\nok 1 should be equal\n"
	      "not ok 2 handles dashes\n  ---\n  ...\nok 3 x\n"
	      "not ok 4 skipped one # SKIP\n\n1..4\n# tests 4\n# pass  2\n"
	      "# fail  1\n",
	      &t);
	assert_true(t.known);
	assert_int_equal(t.ran, 4);
	assert_int_equal(t.nfailing, 1);
	assert_string_equal(t.failing[0], "handles dashes");
}

static void test_tap_pass_with_spaces(void **state)
{
	struct testout t;
	parse("# tests 10\n# pass 10\n\n# ok\n", &t);
	assert_int_equal(t.ran, 10);
	assert_int_equal(t.passed, 10);
	assert_int_equal(t.failed, 0);
}

static void test_mocha_summary(void **state)
{
	struct testout t;
	parse("  color\n    ok\n\n  3 passing (12ms)\n  1 failing\n\n"
	      "  1) color\n       paints red:\n     Error: boom\n",
	      &t);
	assert_true(t.known);
	assert_int_equal(t.passed, 3);
	assert_int_equal(t.failed, 1);
	assert_int_equal(t.ran, 4);
	assert_int_equal(t.nfailing, 0);
	parse("  1) color paints red:\n", &t);
	assert_int_equal(t.nfailing, 1);
	assert_string_equal(t.failing[0], "color paints red");
}

static void test_jest_summary(void **state)
{
	struct testout t;
	parse("  \xe2\x97\x8f math \xe2\x80\xba adds\n\n"
	      "Tests:       1 failed, 5 passed, 6 total\n",
	      &t);
	assert_int_equal(t.ran, 6);
	assert_int_equal(t.failed, 1);
	assert_int_equal(t.passed, 5);
	assert_int_equal(t.nfailing, 1);
}

static void test_hostile_names_are_inert(void **state)
{
	struct testout t;
	parse("not ok 1 \x1b]0;owned\x07 \x1b[2J\xc2\x9b" "31m \xff\xfe\n"
	      "# tests 1\n",
	      &t);
	assert_int_equal(t.nfailing, 1);
	for (const char *p = t.failing[0]; *p; p++) {
		unsigned char c = (unsigned char)*p;
		assert_true(c >= 0x20 && c != 0x7f && c != 0xff);
	}
	assert_null(strchr(t.failing[0], '\x1b'));
}

static void test_name_cap_and_unknown(void **state)
{
	static const char line[] = "not ok 1 a failing test name here\n";
	char big[sizeof(line) * 40 + 1];
	struct testout t;

	for (int i = 0; i < 40; i++)
		memcpy(big + i * (sizeof(line) - 1), line, sizeof(line));
	parse(big, &t);
	assert_int_equal(t.nfailing, TESTOUT_MAX_NAMES);
	parse("hello\nworld\n", &t);
	assert_false(t.known);
	assert_int_equal(t.ran, -1);
}

static struct score_input clean(void)
{
	struct score_input in = {
		.base_install = SCORE_PASSED, .base_test = SCORE_PASSED,
		.install = SCORE_PASSED, .test = SCORE_PASSED,
		.base_tests_ran = 20, .tests_ran = 20,
	};
	return in;
}

static void test_score_clean_patch_is_high(void **state)
{
	struct score_input in = clean();
	struct score s;
	in.n_patch = 2;
	score_compute(&in, &s);
	assert_int_equal(s.value, 98);
	assert_string_equal(s.level, "high");
}

static void test_score_broken_tests_low(void **state)
{
	struct score_input in = clean();
	struct score s;
	in.test = SCORE_FAILED;
	in.n_major = 1;
	score_compute(&in, &s);
	assert_true(s.value < 50);
	assert_string_equal(s.level, "low");
	assert_string_equal(s.factors[0].name, "tests_failed");
}

static void test_score_install_broken_low(void **state)
{
	struct score_input in = clean();
	struct score s;
	in.install = SCORE_FAILED;
	in.test = SCORE_NOT_RUN;
	score_compute(&in, &s);
	assert_true(s.value < 50);
}

static void test_score_untested_never_high(void **state)
{
	struct score_input in = clean();
	struct score s;
	in.tests_ran = in.base_tests_ran = -1;
	score_compute(&in, &s);
	assert_true(s.value < 80);
	in.tests_ran = in.base_tests_ran = 0;
	score_compute(&in, &s);
	assert_true(s.value < 80);
}

static void test_score_fewer_tests_and_baseline(void **state)
{
	struct score_input in = clean();
	struct score s;
	in.tests_ran = 12;
	score_compute(&in, &s);
	assert_int_equal(s.value, 80);
	in = clean();
	in.base_test = SCORE_FAILED;
	in.test = SCORE_FAILED;
	score_compute(&in, &s);
	assert_true(s.value >= 50 && s.value < 80);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tap_counts_and_names),
		cmocka_unit_test(test_tap_pass_with_spaces),
		cmocka_unit_test(test_mocha_summary),
		cmocka_unit_test(test_jest_summary),
		cmocka_unit_test(test_hostile_names_are_inert),
		cmocka_unit_test(test_name_cap_and_unknown),
		cmocka_unit_test(test_score_clean_patch_is_high),
		cmocka_unit_test(test_score_broken_tests_low),
		cmocka_unit_test(test_score_install_broken_low),
		cmocka_unit_test(test_score_untested_never_high),
		cmocka_unit_test(test_score_fewer_tests_and_baseline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
