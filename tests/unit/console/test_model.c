/*
 * The console's model without a terminal: strings from jobs made inert
 * (C0 and C1 controls, escape sequences, bidirectional overrides,
 * invalid UTF-8), the filter words, rows from pages and events, sort.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "console/internal.h"

/* No byte that could drive a terminal: C0, DEL, C1 as UTF-8, bidi. */
static void assert_inert(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; u[i]; i++) {
		assert_true(u[i] >= 0x20 && u[i] != 0x7f);
		assert_false(u[i] == 0xc2 && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f);
		assert_false(u[i] == 0xe2 && u[i + 1] == 0x80 &&
			     u[i + 2] >= 0xaa && u[i + 2] <= 0xae);
		assert_false(u[i] >= 0x80 && u[i] < 0xc2); /* stray byte */
	}
}

static void test_safe_dup(void **state)
{
	static const char *const hostile[] = {
		"repo\x1b[2J\x1b[H", "x\x1b]2;pwned\x07y", "a\x9b" "31mb",
		"c\xc2\x9b" "2Jd", "evil\xe2\x80\xae" "gnp.js", "\x07\x08\x7f",
		"tab\there\nnl",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(hostile) / sizeof(*hostile); i++) {
		char *s = con_safe_dup(hostile[i]);
		assert_non_null(s);
		assert_inert(s);
		free(s);
	}
	char *s = con_safe_dup("caf\xc3\xa9 \xe2\x86\x92 ok");
	assert_string_equal(s, "caf\xc3\xa9 \xe2\x86\x92 ok"); /* kept */
	free(s);
}

static void test_filter(void **state)
{
	struct con_filter f;
	struct con_job j = {.id = "0123456789abcdef0123", .state = "failed",
			    .level = "low", .repo = "http://h/Shop.git"};
	(void)state;

	con_filter_parse(&f, "failed low shop");
	assert_string_equal(f.state, "failed");
	assert_string_equal(f.level, "low");
	assert_string_equal(f.match, "shop");
	assert_true(con_filter_wants(&f, &j));
	con_filter_parse(&f, "succeeded");
	assert_false(con_filter_wants(&f, &j));
	con_filter_parse(&f, "cdef01");
	assert_true(con_filter_wants(&f, &j));
	con_filter_parse(&f, "");
	assert_true(con_filter_empty(&f));
}

static void test_rows(void **state)
{
	struct con_jobs jb = {.sort = CON_COL_ID, .descending = true};
	json_t *page = json_pack(
		"[{s:s,s:s,s:s,s:I},{s:s,s:s,s:s,s:i,s:s,s:i}]",
		"id", "00000000000200000000", "repo", "b\x1b[2J", "state",
		"queued", "created_ms", (json_int_t)2000,
		"id", "00000000000100000000", "repo", "a", "state", "failed",
		"score", 40, "level", "low", "updates", 3);
	(void)state;

	assert_int_equal(con_jobs_add_page(&jb, page), 0);
	assert_int_equal(jb.n, 2);
	assert_inert(jb.v[0].repo);
	assert_int_equal(jb.v[1].score, 40);
	/* A stage change, then a new job on top; an older unknown one is
	 * left for its page. */
	json_t *ev = json_pack("{s:s,s:s}", "id", "00000000000200000000",
			       "stage", "clone\x1b]0;t\x07");
	assert_true(con_jobs_event(&jb, "job.stage", ev, 5000));
	assert_inert(jb.v[0].stage);
	json_decref(ev);
	ev = json_pack("{s:s,s:s,s:s}", "id", "00000000000300000000", "repo",
		       "c", "state", "queued");
	assert_true(con_jobs_event(&jb, "job.state", ev, 6000));
	assert_string_equal(jb.v[0].id, "00000000000300000000");
	json_decref(ev);
	ev = json_pack("{s:s,s:s,s:s}", "id", "00000000000000000001", "repo",
		       "old", "state", "running");
	assert_false(con_jobs_event(&jb, "job.state", ev, 6000));
	json_decref(ev);
	assert_int_equal(jb.n, 3);

	jb.sort = CON_COL_SCORE;
	jb.descending = true;
	con_jobs_sort(&jb);
	assert_int_equal(jb.v[0].score, 40);
	jb.sort = CON_COL_REPO;
	jb.descending = false;
	con_jobs_sort(&jb);
	assert_string_equal(jb.v[0].repo, "a");
	json_decref(page);
	con_jobs_free(&jb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_safe_dup),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_rows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
