/* Test-runner output parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

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
	/* A comment above is tape's test name; the line its assertion. */
	assert_string_equal(t.failing[0], "a \xe2\x80\xba handles dashes");
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
	assert_int_equal(t.nfailing, 1);
	assert_string_equal(t.failing[0], "color paints red");
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
	char big[40 * 32 + 1];
	struct testout t;
	size_t off = 0;

	for (int i = 0; i < 40; i++)
		off += (size_t)snprintf(big + off, sizeof(big) - off,
					"not ok %d failing test %d\n", i, i);
	parse(big, &t);
	assert_int_equal(t.nfailing, TESTOUT_MAX_NAMES);
	parse("hello\nworld\n", &t);
	assert_false(t.known);
	assert_int_equal(t.ran, -1);
}

/* node 20's spec reporter, as it prints the suite of /tmp output: a
 * failing suite is not named beside its failing test, and the summary's
 * repeat of the failures is not counted twice. */
static void test_node_spec(void **state)
{
	struct testout t;
	parse("\xe2\x9c\x94 adds (1.06ms)\n"
	      "\xe2\x9c\x96 greets by name (1.27ms)\n"
	      "  AssertionError [ERR_ASSERTION]: Expected values\n"
	      "\xe2\x96\xb6 suite\n"
	      "  \xe2\x9c\x96 inner fails (0.14ms)\n"
	      "    Error: x\n"
	      "\xe2\x9c\x96 suite (0.38ms)\n"
	      "\xe2\x84\xb9 tests 3\n\xe2\x84\xb9 suites 1\n"
	      "\xe2\x84\xb9 pass 1\n\xe2\x84\xb9 fail 2\n"
	      "\xe2\x84\xb9 duration_ms 108.4\n\n"
	      "\xe2\x9c\x96 failing tests:\n\ntest at a.test.js:3:1\n"
	      "\xe2\x9c\x96 greets by name (1.27ms)\n",
	      &t);
	assert_true(t.known);
	assert_int_equal(t.ran, 3);
	assert_int_equal(t.passed, 1);
	assert_int_equal(t.failed, 2);
	assert_int_equal(t.nfailing, 2);
	assert_string_equal(t.failing[0], "greets by name");
	assert_string_equal(t.failing[1], "inner fails");
}

/* Forced colours: the names read the same without the sequences. */
static void test_colours_removed(void **state)
{
	struct testout t;
	parse("\x1b[31m\xe2\x9c\x96 greets by name \x1b[90m(1.2ms)\x1b[39m\n"
	      "\x1b]8;;http://x\x07" "link\x1b]8;;\x1b\\\n"
	      "\x1b[34m\xe2\x84\xb9 tests 1\x1b[39m\n",
	      &t);
	assert_int_equal(t.ran, 1);
	assert_int_equal(t.nfailing, 1);
	assert_string_equal(t.failing[0], "greets by name");

	char buf[] = "a\x1b[1;31mb\x1b[0m\xc2\x9b" "2Jc\x1b" "7d\x1b]0;t\x07"
		     "e\n\x1b";
	size_t n = testout_strip_controls(buf, sizeof(buf) - 1);
	assert_int_equal(n, 6);
	assert_memory_equal(buf, "abcde\n", 6);
}

/* node --test with the TAP reporter: subtests indented, each announced. */
static void test_node_tap_subtests(void **state)
{
	struct testout t;
	parse("TAP version 13\n# Subtest: greets by name\n"
	      "not ok 1 - greets by name\n  ---\n  ...\n"
	      "# Subtest: suite\n    # Subtest: inner fails\n"
	      "    not ok 1 - inner fails\n"
	      "not ok 2 - suite\n1..2\n# tests 2\n# suites 1\n# pass 0\n"
	      "# fail 2\n",
	      &t);
	assert_int_equal(t.ran, 2);
	assert_int_equal(t.failed, 2);
	assert_int_equal(t.nfailing, 3);
	assert_string_equal(t.failing[0], "greets by name");
	assert_string_equal(t.failing[1], "inner fails");
}

/* tape: the comment names the test, "not ok" its assertion. */
static void test_tape_names(void **state)
{
	struct testout t;
	parse("TAP version 13\n# greet says hello\n"
	      "not ok 1 should be strictly equal\n  ---\n"
	      "    operator: strictEqual\n  ...\n# arithmetic\nok 2 ok\n\n"
	      "1..2\n# tests 2\n# pass  1\n# fail  1\n",
	      &t);
	assert_int_equal(t.nfailing, 1);
	assert_string_equal(t.failing[0], "greet says hello \xe2\x80\xba "
					  "should be strictly equal");
	assert_int_equal(t.ran, 2);
}

/* mocha's failure list: the suites and the test, across lines. */
static void test_mocha_nested(void **state)
{
	struct testout t;
	parse("  Array\n    #indexOf()\n      1) returns -1\n\n"
	      "  0 passing (5ms)\n  1 failing\n\n"
	      "  1) Array\n       #indexOf()\n         returns -1:\n\n"
	      "      AssertionError: expected 0 to equal -1\n",
	      &t);
	assert_int_equal(t.failed, 1);
	assert_int_equal(t.nfailing, 1);
	assert_string_equal(t.failing[0], "Array #indexOf() returns -1");
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
		cmocka_unit_test(test_node_spec),
		cmocka_unit_test(test_colours_removed),
		cmocka_unit_test(test_node_tap_subtests),
		cmocka_unit_test(test_tape_names),
		cmocka_unit_test(test_mocha_nested),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
