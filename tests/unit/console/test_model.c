/*
 * The console's model without a terminal: strings from jobs made inert
 * (C0 and C1 controls, escape sequences, bidirectional overrides,
 * invalid UTF-8), the filter words, rows from pages and events, sort.
 */
#include <locale.h>
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

/* What is drawn as '?': also the invisible format characters that
 * make two test names look alike or hide text in one. */
static void test_draw_unsafe(void **state)
{
	static const wchar_t bad[] = {
		0x1b, 0x9b, 0x202e, 0x2067, 0xad, 0x61c, 0x180e, 0x200b,
		0x200d, 0x200e, 0x200f, 0x2060, 0x2064, 0xfeff, 0xe0041,
	};
	static const wchar_t good[] = {L'a', 0xe9, 0x2192, 0x4e2d, 0x1f600};

	(void)state;
	/* What is printable depends on the locale: the console's own. */
	assert_non_null(setlocale(LC_CTYPE, "C.UTF-8"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_true(con_wc_unsafe(bad[i]));
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		assert_false(con_wc_unsafe(good[i]));
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
	assert_true(con_filter_wants(&f, &j, NULL, false));
	con_filter_parse(&f, "succeeded");
	assert_false(con_filter_wants(&f, &j, NULL, false));
	con_filter_parse(&f, "cdef01");
	assert_true(con_filter_wants(&f, &j, NULL, false));
	/* A name an event carries; names it left out. */
	json_t *names = json_pack("[s,s]", "lodash", "Cart totals");
	con_filter_parse(&f, "TOTALS");
	assert_false(con_filter_wants(&f, &j, NULL, false));
	assert_true(con_filter_wants(&f, &j, names, false));
	con_filter_parse(&f, "left-pad");
	assert_false(con_filter_wants(&f, &j, names, false));
	assert_true(con_filter_wants(&f, &j, names, true));
	json_decref(names);
	con_filter_parse(&f, "");
	assert_true(con_filter_empty(&f));
}

static json_t *ev_job(const char *id, const char *state, int score,
		      const char *name)
{
	return json_pack("{s:s,s:s,s:s,s:i,s:s,s:I,s:I,s:[s]}", "id", id,
			 "repo", "r", "state", state, "score", score, "level",
			 score >= 80 ? "high" : score >= 50 ? "medium" : "low",
			 "created_ms", (json_int_t)1000, "changed_ms",
			 (json_int_t)2000, "names", name);
}

/*
 * Sorted and filtered: the held rows are the first of the daemon's
 * order, up to the last row read. A job an event brings that passes
 * the filter and sorts within comes in at its place; one sorting past
 * the bound, or not passing, stays out; a held one that stops passing
 * or moves past the bound goes.
 */
static void test_indexed_events(void **state)
{
	struct con_jobs jb = {.sort = CON_COL_SCORE, .descending = true};
	json_t *page = json_pack("[o,o]",
		ev_job("00000000000100000000", "failed", 90, "a"),
		ev_job("00000000000200000000", "failed", 50, "b"));
	json_t *ev;
	(void)state;

	con_filter_parse(&jb.filter, "failed");
	assert_true(con_jobs_indexed(&jb));
	assert_int_equal(con_jobs_add_page(&jb, page), 0);
	con_jobs_set_bound(&jb, "00000000000200000000");
	jb.end = false;

	ev = ev_job("00000000000300000000", "failed", 70, "c");
	assert_true(con_jobs_event(&jb, "job.state", ev, 5000));
	json_decref(ev);
	assert_int_equal(jb.n, 3);
	assert_string_equal(jb.v[1].id, "00000000000300000000");
	ev = ev_job("00000000000400000000", "failed", 10, "d"); /* past */
	assert_false(con_jobs_event(&jb, "job.state", ev, 5000));
	json_decref(ev);
	ev = ev_job("00000000000500000000", "queued", 95, "e"); /* no pass */
	assert_false(con_jobs_event(&jb, "job.state", ev, 5000));
	json_decref(ev);
	assert_int_equal(jb.n, 3);
	ev = ev_job("00000000000100000000", "failed", 20, "a"); /* moves */
	assert_true(con_jobs_event(&jb, "job.stage", ev, 5000));
	json_decref(ev);
	assert_null(con_jobs_find(&jb, "00000000000100000000"));
	ev = ev_job("00000000000300000000", "succeeded", 70, "c");
	assert_true(con_jobs_event(&jb, "job.state", ev, 5000));
	json_decref(ev);
	assert_int_equal(jb.n, 1);
	assert_int_equal(jb.total, 3); /* jobs 3, 4, 5 were new */

	/* All held (the end reached): anything that passes comes in. */
	jb.end = true;
	ev = ev_job("00000000000600000000", "failed", 1, "f");
	assert_true(con_jobs_event(&jb, "job.state", ev, 5000));
	json_decref(ev);
	assert_string_equal(jb.v[1].id, "00000000000600000000");

	/* By a name only the event knows. */
	con_filter_parse(&jb.filter, "left-pad");
	ev = ev_job("00000000000700000000", "failed", 60, "left-pad");
	assert_true(con_jobs_event(&jb, "job.state", ev, 5000));
	json_decref(ev);
	assert_non_null(con_jobs_find(&jb, "00000000000700000000"));
	json_decref(page);
	con_jobs_free(&jb);
}

/*
 * The daemon orders and filters the raw strings (sched/index.c): the
 * held rows must follow the same order and the same filter, or an
 * event drops a job the daemon's cursor has passed already (it never
 * shows) or holds one the daemon's filter hides. A repository may hold
 * a bidirectional override or a C1 control as UTF-8 (enqueue refuses
 * only ASCII controls): drawn as '?', it still sorts as its bytes.
 */
static void test_indexed_raw_order(void **state)
{
	struct con_jobs jb = {.sort = CON_COL_REPO, .descending = false};
	/* The daemon's first page (limit 2): "/r/a" < "/r/\u202eb". */
	json_t *page = json_pack("[{s:s,s:s,s:s},{s:s,s:s,s:s}]",
		"id", "00000000000100000000", "repo", "/r/a", "state", "failed",
		"id", "00000000000200000000", "repo", "/r/\xe2\x80\xae" "b",
		"state", "failed");
	json_t *ev;
	(void)state;

	assert_int_equal(con_jobs_add_page(&jb, page), 0);
	con_jobs_set_bound(&jb, "00000000000200000000");
	con_jobs_sort(&jb);
	assert_string_equal(jb.v[0].id, "00000000000100000000");
	assert_inert(jb.v[1].repo);
	/* "/r/c" sorts before the bound for the daemon: it is held now,
	 * or its next page (after the bound) never brings it. */
	ev = json_pack("{s:s,s:s,s:s}", "id", "00000000000300000000", "repo",
		       "/r/c", "state", "failed");
	assert_true(con_jobs_event(&jb, "job.state", ev, 5000));
	json_decref(ev);
	assert_int_equal(jb.n, 3);
	assert_string_equal(jb.v[1].id, "00000000000300000000");
	/* A C1 control (U+0085) sorts after ASCII and before U+202E. */
	ev = json_pack("{s:s,s:s,s:s}", "id", "00000000000400000000", "repo",
		       "/r/\xc2\x85" "z", "state", "failed");
	assert_true(con_jobs_event(&jb, "job.state", ev, 5000));
	json_decref(ev);
	assert_int_equal(jb.n, 4);
	assert_string_equal(jb.v[2].id, "00000000000400000000");
	/* Past the bound: left for the next page. */
	ev = json_pack("{s:s,s:s,s:s}", "id", "00000000000700000000", "repo",
		       "/r/\xe2\x80\xae" "c", "state", "failed");
	assert_false(con_jobs_event(&jb, "job.state", ev, 5000));
	json_decref(ev);
	assert_int_equal(jb.n, 4);
	con_jobs_free(&jb);

	/* Filtered: the daemon finds no '?' in "/r/\u202eb" (a URL with a
	 * '?' is refused at enqueue), so neither does the console. */
	memset(&jb, 0, sizeof(jb));
	jb.sort = CON_COL_ID;
	jb.descending = true;
	con_filter_parse(&jb.filter, "?");
	jb.end = true;
	ev = json_pack("{s:s,s:s,s:s,s:[]}", "id", "00000000000500000000",
		       "repo", "/r/\xe2\x80\xae" "b", "state", "failed",
		       "names");
	assert_false(con_jobs_event(&jb, "job.state", ev, 5000));
	json_decref(ev);
	assert_int_equal(jb.n, 0);
	/* Case is ASCII's alone, as in the daemon, whatever the locale. */
	con_filter_parse(&jb.filter, "SHOP");
	ev = json_pack("{s:s,s:s,s:s}", "id", "00000000000600000000", "repo",
		       "/r/shop", "state", "failed");
	assert_true(con_jobs_event(&jb, "job.state", ev, 5000));
	json_decref(ev);
	assert_int_equal(jb.n, 1);
	json_decref(page);
	con_jobs_free(&jb);
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
	assert_int_equal(jb.v[0].step, 0);
	json_decref(ev);
	/* The place comes with the stage; a later stage without one (a
	 * summary of a record that has none) leaves none. */
	ev = json_pack("{s:s,s:s,s:i,s:i}", "id", "00000000000200000000",
		       "stage", "install", "step", 5, "steps", 9);
	assert_true(con_jobs_event(&jb, "job.stage", ev, 5000));
	assert_int_equal(jb.v[0].step, 5);
	assert_int_equal(jb.v[0].steps, 9);
	json_decref(ev);
	ev = json_pack("{s:s,s:s,s:i}", "id", "00000000000200000000",
		       "stage", "clone", "step", 1);
	assert_true(con_jobs_event(&jb, "job.stage", ev, 5000));
	assert_int_equal(jb.v[0].step, 1);
	assert_int_equal(jb.v[0].steps, 0);
	json_decref(ev);
	ev = json_pack("{s:s,s:s}", "id", "00000000000200000000", "state",
		       "running");
	assert_true(con_jobs_event(&jb, "job.state", ev, 5000));
	assert_int_equal(jb.v[0].step, 1); /* no stage: the place stays */
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

/* A running job's stage: its place among the stages it runs first,
 * "?" for the total before the plan; the name alone once it ended, for
 * a record without a place, or a place that makes no sense. */
static void test_stage_label(void **state)
{
	char b[64];
	(void)state;

	con_stage_label(b, sizeof(b), "install", true, 5, 9);
	assert_string_equal(b, "5/9 install");
	con_stage_label(b, sizeof(b), "install", true, 12, 19);
	assert_string_equal(b, "12/19 install");
	con_stage_label(b, sizeof(b), "clone", true, 1, 0);
	assert_string_equal(b, "1/? clone");
	con_stage_label(b, sizeof(b), "test", false, 6, 8);
	assert_string_equal(b, "test");
	con_stage_label(b, sizeof(b), "install", true, 0, 0);
	assert_string_equal(b, "install");
	con_stage_label(b, sizeof(b), "install", true, 0, 9);
	assert_string_equal(b, "install");
	con_stage_label(b, sizeof(b), "install", true, 10, 9);
	assert_string_equal(b, "install");
	con_stage_label(b, sizeof(b), "", true, 3, 9);
	assert_string_equal(b, "-");
	con_stage_label(b, sizeof(b), NULL, false, 0, 0);
	assert_string_equal(b, "-");
	/* Cut to the 80-column table's 10, the place is still whole. */
	con_stage_label(b, 11, "baseline-install", true, 13, 19);
	assert_string_equal(b, "13/19 base");
}

/* The place read from a summary or a worker: bounded, and the name
 * made inert. */
static void test_stage_label_json(void **state)
{
	char b[64];
	json_t *o = json_pack("{s:s,s:i,s:i}", "stage", "test\x1b[2J", "step",
			      6, "steps", 8);
	(void)state;

	con_stage_label_json(b, sizeof(b), o, true);
	assert_int_equal(strncmp(b, "6/8 test", 8), 0);
	assert_inert(b);
	json_object_set_new(o, "steps", json_integer(CON_STEP_MAX + 1));
	json_object_set_new(o, "stage", json_string("score"));
	con_stage_label_json(b, sizeof(b), o, true);
	assert_string_equal(b, "6/? score");
	json_object_set_new(o, "step", json_string("6"));
	con_stage_label_json(b, sizeof(b), o, true);
	assert_string_equal(b, "score");
	json_object_set_new(o, "step", json_integer(-1));
	json_object_set_new(o, "steps", json_integer(8));
	con_stage_label_json(b, sizeof(b), o, true);
	assert_string_equal(b, "score");
	json_decref(o);
}

/* Does any line of l hold needle? */
static bool lines_have(const struct con_lines *l, const char *needle)
{
	for (size_t i = 0; i < l->n; i++)
		if (strstr(l->v[i].text, needle))
			return true;
	return false;
}

static json_t *workers_reply(json_int_t cpu_usec, json_int_t sampled,
			     const char *repo)
{
	return json_pack(
		"{s:i,s:[{s:s,s:s,s:i,s:s,s:i,s:i,s:s,s:I,s:s,s:i,s:{s:I,s:I,"
		"s:I,s:i,"
		"s:i,s:i,s:I}}],s:[{s:s,s:s,s:i,s:I,s:i}],s:i,s:[{s:s,s:s,s:s,"
		"s:I}]}",
		"max", 2, "running", "worker", "worker-1", "id",
		"0123456789abcdef0123", "pid", 42, "stage", "baseline-test",
		"step", 4, "steps", 8, "repo", repo, "started_ms", (json_int_t)1000, "stop", "none",
		"attempt", 1, "sandbox", "mem_bytes",
		(json_int_t)(64 << 20), "mem_max", (json_int_t)(512 << 20),
		"cpu_usec", cpu_usec, "cpu_milli", 1000, "pids", 3,
		"pids_max", 256, "sampled_ms", sampled,
		"queued", "id", "11111111111122222222", "repo", "q\x1b[2Jx",
		"priority", 100, "due_ms", (json_int_t)4000000, "attempt", 2,
		"queued_total", 1,
		"schedules", "repo", "http://h/s.git", "spec", "30 4 1 1 *",
		"tz", "Europe/Berlin", "next_ms", (json_int_t)(86400000 * 3));
}

/* CPU: the rate between two readings of the same worker's sandbox in
 * milli-CPUs; memory against its limit; the job's strings inert. */
static void test_queue_lines(void **state)
{
	struct con_lines l = {0};
	json_t *a = workers_reply(1000000, 10000, "r\x1b]2;t\x07");
	json_t *b = workers_reply(1500000, 11000, "r\x1b]2;t\x07");
	json_t *c = workers_reply(100, 12000, "r");
	(void)state;

	assert_int_equal(con_cpu_rate(json_array_get(json_object_get(b,
			 "running"), 0), a), 500);
	assert_int_equal(con_cpu_rate(json_array_get(json_object_get(a,
			 "running"), 0), NULL), -1);
	/* A new sandbox's counter starts again: no rate, not a negative. */
	assert_int_equal(con_cpu_rate(json_array_get(json_object_get(c,
			 "running"), 0), b), -1);
	con_queue_build(&l, b, a, 61000);
	assert_true(lines_have(&l, "Workers: 1 of 2 busy"));
	assert_true(lines_have(&l, "worker-1  cdef0123"));
	assert_true(lines_have(&l, "4/8 baseline-test"));
	assert_true(lines_have(&l, "cpu  0.50 of 1.00 (50%)"));
	assert_true(lines_have(&l, "mem 64M of 512M (12%)"));
	assert_true(lines_have(&l, "pids 3 of 256"));
	assert_true(lines_have(&l, "Queued: 1"));
	assert_true(lines_have(&l, "Schedules: 1"));
	assert_true(lines_have(&l, "Europe/Berlin"));
	for (size_t i = 0; i < l.n; i++)
		assert_inert(l.v[i].text);
	con_queue_build(&l, a, NULL, 61000);
	assert_true(lines_have(&l, "cpu  -.-- of 1.00"));
	con_lines_clear(&l);
	free(l.v);
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

/* The audit head: intact, broken, and what is not there yet. */
static void test_head_lines(void **state)
{
	struct con_lines l = {0};
	json_t *ok = json_pack("{s:b,s:{s:i},s:{s:i,s:i,s:s,s:s},s:{s:i,s:b},"
			       "s:n,s:n,s:i,s:[]}", "ok", 1, "head", "seq", 9,
			       "checkpoint", "n", 2, "seq", 7, "time",
			       "2026-01-02T03:04:05.000Z", "key", "abcd",
			       "checked", "entries", 2, "linked", 1, "export",
			       "verified", "nproblems", 0, "problems");
	json_t *bad = json_pack("{s:b,s:{s:i},s:n,s:{s:i,s:b},s:{s:i,s:i,s:i,"
			       "s:s},s:{s:b,s:i,s:I,s:s},s:i,s:[{s:s}]}", "ok",
			       0, "head", "seq", 9, "checkpoint", "checked",
			       "entries", 9, "linked", 1, "export", "n", 1,
			       "first", 1, "last", 5, "time", "T", "verified",
			       "ok", 0, "entries", 9, "time_ms",
			       (json_int_t)1000, "actor", "uid:0", "nproblems",
			       1, "problems", "what", "entry 4 \x1b[2J bad");
	(void)state;

	con_head_build(&l, ok, 2000);
	assert_true(lines_have(&l, "Chain: intact from the last checkpoint"));
	assert_true(lines_have(&l, "Last checkpoint: #2 at seq 7"));
	assert_true(lines_have(&l, "Last export: none"));
	assert_true(lines_have(&l, "none since the daemon started"));
	con_head_build(&l, bad, 2000);
	assert_true(lines_have(&l, "Chain: BROKEN (1 problems): entry 4"));
	assert_int_equal(l.v[0].look, CON_BAD);
	assert_true(lines_have(&l, "Last checkpoint: none yet"));
	assert_true(lines_have(&l, "Last export: #1, seq 1 to 5"));
	assert_true(lines_have(&l, "FAILED, 9 entries"));
	for (size_t i = 0; i < l.n; i++)
		assert_inert(l.v[i].text);
	con_lines_clear(&l);
	free(l.v);
	json_decref(ok);
	json_decref(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_safe_dup),
		cmocka_unit_test(test_draw_unsafe),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_indexed_events),
		cmocka_unit_test(test_stage_label),
		cmocka_unit_test(test_stage_label_json),
		cmocka_unit_test(test_indexed_raw_order),
		cmocka_unit_test(test_queue_lines),
		cmocka_unit_test(test_head_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
