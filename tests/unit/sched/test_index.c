/*
 * The jobs' summary index (sched/index.h): every column's order with
 * ties newest first in both directions, paging through equal to one
 * page, paging while jobs are added and changed (no job repeated or
 * skipped that did not change), the filters, shared strings released
 * when rows change, bad cursors refused, the summary's names cut at
 * their bound, and an index built from a real store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "audit/audit.h"
#include "base/err.h"
#include "base/fs.h"
#include "sched/index.h"

static void make_id(char *id, unsigned n)
{
	snprintf(id, SCHED_ID_LEN + 1, "%012llx%08x",
		 0x19b000000ull + n, n);
}

/* A job record as the scheduler and a worker leave it. score < 0: none;
 * updates < 0: no plan. */
static json_t *rec(unsigned n, const char *repo, const char *state,
		   const char *stage, int score, int updates, int64_t fin)
{
	char id[SCHED_ID_LEN + 1];
	json_t *r;

	make_id(id, n);
	r = json_pack("{s:s,s:s,s:s,s:I,s:{s:s}}", "id", id, "repo", repo,
		      "state", state, "created_ms", (json_int_t)(1000 * n),
		      "sched", "stage", stage);
	if (fin > 0)
		json_object_set_new(r, "finished_ms", json_integer(fin));
	if (score >= 0)
		json_object_set_new(r, "score", json_pack(
			"{s:i,s:s}", "value", score, "level", score >= 80
			? "high" : score >= 50 ? "medium" : "low"));
	if (updates >= 0) {
		json_t *ups = json_array();
		for (int i = 0; i < updates; i++)
			json_array_append_new(ups, json_pack(
				"{s:s}", "name", i ? "lodash" : "left-pad"));
		json_object_set_new(r, "plan", json_pack("{s:o}", "updates",
							 ups));
	}
	return r;
}

static void put(struct sched_index *ix, json_t *r)
{
	assert_int_equal(sched_index_put(ix, r, 0), 0);
	json_decref(r);
}

/* The ids of a page as numbers (make_id's n), and its cursor. */
static size_t page(struct sched_index *ix, struct sched_index_query *q,
		   unsigned *out, json_t **next)
{
	json_t *p = NULL, *j;
	size_t i;

	assert_int_equal(sched_index_page(ix, q, &p), 0);
	json_array_foreach(json_object_get(p, "jobs"), i, j)
		out[i] = (unsigned)strtoul(json_string_value(json_object_get(
						   j, "id")) + 12, NULL, 16);
	if (next) {
		json_decref(*next);
		*next = json_incref(json_object_get(p, "next"));
	}
	i = json_array_size(json_object_get(p, "jobs"));
	json_decref(p);
	return i;
}

/* Every page of q at limit per page, concatenated. */
static size_t page_all(struct sched_index *ix, struct sched_index_query q,
		       size_t limit, unsigned *out)
{
	json_t *next = NULL;
	size_t n = 0;

	q.limit = limit;
	q.from = NULL;
	do {
		n += page(ix, &q, out + n, &next);
		q.from = json_is_null(next) ? NULL : next;
	} while (q.from);
	json_decref(next);
	return n;
}

static struct sched_index *seeded(void)
{
	struct sched_index *ix = NULL;

	assert_int_equal(sched_index_new(&ix), 0);
	put(ix, rec(1, "/srv/b", "succeeded", "done", 80, 2, 9000));
	put(ix, rec(2, "/srv/a", "failed", "test", 50, 1, 4000));
	put(ix, rec(3, "/srv/b", "succeeded", "done", 80, 2, 12000));
	put(ix, rec(4, "/srv/c", "running", "install", -1, 3, 0));
	put(ix, rec(5, "/srv/a", "queued", "lease", -1, -1, 0));
	put(ix, rec(6, "/srv/a", "failed", "build", 50, 1, 9000));
	put(ix, rec(7, "/srv/c", "cancelled", "plan", -1, 0, 7500));
	return ix;
}

static void expect(const unsigned *got, size_t n, const unsigned *want,
		   size_t nwant)
{
	assert_int_equal(n, nwant);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(got[i], want[i]);
}

/* Each column both ways; equal keys newest first in both directions. */
static void test_order(void **state)
{
	struct sched_index *ix = seeded();
	struct sched_index_query q = {.state = -1, .limit = 100};
	unsigned got[16];
	static const struct {
		enum sched_col col;
		bool desc;
		unsigned want[7];
	} cases[] = {
		{SCHED_COL_ID, true, {7, 6, 5, 4, 3, 2, 1}},
		{SCHED_COL_ID, false, {1, 2, 3, 4, 5, 6, 7}},
		{SCHED_COL_SCORE, true, {3, 1, 6, 2, 7, 5, 4}},
		{SCHED_COL_SCORE, false, {7, 5, 4, 6, 2, 3, 1}},
		{SCHED_COL_REPO, false, {6, 5, 2, 3, 1, 7, 4}},
		{SCHED_COL_REPO, true, {7, 4, 3, 1, 6, 5, 2}},
		{SCHED_COL_STATE, false, {7, 6, 2, 5, 4, 3, 1}},
		{SCHED_COL_STAGE, false, {6, 3, 1, 4, 5, 7, 2}},
		{SCHED_COL_UPDATES, true, {4, 3, 1, 6, 2, 7, 5}},
		/* 1: 8 s, 2: 2 s, 3: 9 s, 6: 3 s, 7: 0.5 s; 4 and 5 have
		 * not ended: longest, the earlier created first. */
		{SCHED_COL_DURATION, true, {4, 5, 3, 1, 6, 2, 7}},
		/* created 1..7 s; ended 9, 4, 12, 9, 7.5 s. */
		{SCHED_COL_CHANGED, true, {3, 6, 1, 7, 5, 4, 2}},
	};

	for (size_t c = 0; c < AL_ARRAY_LEN(cases); c++) {
		q.col = cases[c].col;
		q.desc = cases[c].desc;
		expect(got, page(ix, &q, got, NULL), cases[c].want, 7);
		/* Paging one, two, three at a time gives the same order. */
		for (size_t lim = 1; lim <= 3; lim++)
			expect(got, page_all(ix, q, lim, got), cases[c].want,
			       7);
	}
	sched_index_free(ix);
}

static void test_filter(void **state)
{
	struct sched_index *ix = seeded();
	struct sched_index_query q = {.col = SCHED_COL_ID, .desc = true,
				      .state = -1, .limit = 100};
	json_t *p = NULL;
	unsigned got[16];

	q.state = sched_state_parse("failed");
	expect(got, page(ix, &q, got, NULL), (unsigned[]){6, 2}, 2);
	q.state = -1;
	q.level = "high";
	expect(got, page(ix, &q, got, NULL), (unsigned[]){3, 1}, 2);
	q.level = "nonsense";
	assert_int_equal(page(ix, &q, got, NULL), 0);
	q.level = NULL;
	q.match = "SRV/C"; /* the repository, any case */
	expect(got, page(ix, &q, got, NULL), (unsigned[]){7, 4}, 2);
	q.match = "LODASH"; /* a planned update's name */
	expect(got, page(ix, &q, got, NULL), (unsigned[]){4, 3, 1}, 3);
	q.match = "00000006"; /* the id */
	expect(got, page(ix, &q, got, NULL), (unsigned[]){6}, 1);
	q.match = "pad";
	q.state = sched_state_parse("succeeded");
	q.limit = 1;
	assert_int_equal(sched_index_page(ix, &q, &p), 0);
	assert_int_equal(json_integer_value(json_object_get(p, "matched")), 2);
	assert_int_equal(json_integer_value(json_object_get(p, "total")), 7);
	assert_true(json_is_array(json_object_get(p, "next")));
	json_decref(p);
	sched_index_free(ix);
}

/*
 * Paging by repository while jobs are added and one changes: the jobs
 * that did not change come once each, a new one sorting after the
 * cursor comes on a later page, and one sorting before it does not.
 */
static void test_paging_while_added(void **state)
{
	struct sched_index *ix = seeded();
	struct sched_index_query q = {.col = SCHED_COL_REPO, .state = -1,
				      .limit = 3};
	unsigned got[32], seen[32] = {0};
	json_t *next = NULL;
	size_t n;

	n = page(ix, &q, got, &next);
	expect(got, n, (unsigned[]){6, 5, 2}, 3); /* the /srv/a jobs */
	q.from = next;
	put(ix, rec(8, "/srv/0", "queued", "lease", -1, -1, 0)); /* before */
	put(ix, rec(9, "/srv/bb", "queued", "lease", -1, -1, 0)); /* after */
	/* 6 moves from /srv/a to /srv/d: after the cursor, so again. */
	put(ix, rec(6, "/srv/d", "failed", "build", 50, 1, 9000));
	for (size_t i = 0; i < n; i++)
		seen[got[i]]++;
	while (q.from) {
		n = page(ix, &q, got, &next);
		for (size_t i = 0; i < n; i++)
			seen[got[i]]++;
		q.from = json_is_null(next) ? NULL : next;
	}
	json_decref(next);
	for (unsigned i = 1; i <= 7; i++)
		assert_int_equal(seen[i], i == 6 ? 2 : 1);
	assert_int_equal(seen[8], 0);
	assert_int_equal(seen[9], 1);
	assert_int_equal(sched_index_count(ix), 9);
	sched_index_free(ix);
}

static void test_bad_query(void **state)
{
	struct sched_index *ix = seeded();
	struct sched_index_query q = {.col = SCHED_COL_SCORE, .state = -1,
				      .limit = 2};
	char id[SCHED_ID_LEN + 1];
	json_t *p = NULL, *from;

	make_id(id, 3);
	/* A cursor of another column (a string for the score), a short
	 * id, not an array; no limit; a record without an id. */
	json_t *bad[] = {json_pack("[s,s]", "x", id),
			 json_pack("[i,s]", 80, "abc"), json_string(id),
			 json_pack("[i]", 80)};
	for (size_t i = 0; i < AL_ARRAY_LEN(bad); i++) {
		from = bad[i];
		assert_non_null(from);
		q.from = from;
		assert_int_equal(sched_index_page(ix, &q, &p), AL_E_USAGE);
		json_decref(from);
	}
	q.from = NULL;
	q.limit = 0;
	assert_int_equal(sched_index_page(ix, &q, &p), AL_E_USAGE);
	q.limit = SCHED_PAGE_MAX + 1;
	assert_int_equal(sched_index_page(ix, &q, &p), AL_E_USAGE);
	from = json_pack("{s:s}", "repo", "/srv/x");
	assert_int_equal(sched_index_put(ix, from, 0), AL_E_PARSE);
	json_decref(from);
	sched_index_free(ix);
}

/* A row's strings are shared and released when no row holds them. */
static void test_strings_shared(void **state)
{
	struct sched_index *a = NULL, *b = NULL;

	assert_int_equal(sched_index_new(&a), 0);
	assert_int_equal(sched_index_new(&b), 0);
	put(a, rec(1, "/srv/old", "queued", "lease", -1, 2, 0));
	put(a, rec(1, "/srv/new", "running", "install", -1, 2, 0));
	put(b, rec(1, "/srv/new", "running", "install", -1, 2, 0));
	assert_int_equal(sched_index_count(a), 1);
	assert_int_equal(sched_index_bytes(a), sched_index_bytes(b));
	/* A second job of the repository adds a row, no string. */
	size_t before = sched_index_bytes(b);
	put(b, rec(2, "/srv/new", "running", "install", -1, 2, 0));
	assert_int_equal(sched_index_bytes(b), before);
	sched_index_free(a);
	sched_index_free(b);
}

/* FNV-1a, 32 bits: the hash the index's string table once used. */
static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/*
 * A socket group member's repository URLs, or a hostile project's test
 * names, chosen so that a public hash puts them all in one bucket:
 * every intern then walks the whole chain, and building the index of n
 * such jobs costs n^2 (minutes for 100 000, on the API thread). Found
 * here by brute force on the low bits the table indexes by; the table's
 * keyed hash spreads them.
 */
static void test_hash_flood(void **state)
{
	enum { N = 3000, BITS = 11 };
	struct sched_index *ix = NULL;
	char repo[64];
	unsigned n = 0;

	(void)state;
	assert_int_equal(sched_index_new(&ix), 0);
	for (unsigned long k = 0; n < N; k++) {
		snprintf(repo, sizeof(repo), "https://git.test/f%lx.git", k);
		if (fnv1a(repo) & ((1u << BITS) - 1))
			continue;
		put(ix, rec(++n, repo, "queued", "lease", -1, -1, 0));
	}
	assert_int_equal(sched_index_count(ix), N);
	/* 3 000 strings in 2 048 buckets: a fair hash's longest chain is
	 * a handful; the flood's was all of them. */
	assert_in_range(sched_index_chain_max(ix), 1, 32);
	sched_index_free(ix);
}

static void test_summary_names(void **state)
{
	json_t *r = rec(1, "/srv/a", "failed", "test", 20, 2, 5000), *s;
	json_t *fails = json_array(), *tests = json_array();

	for (int i = 0; i < SCHED_NAMES_MAX + 5; i++) {
		char t[32];
		snprintf(t, sizeof(t), "test %d", i);
		json_array_append_new(tests, json_string(t));
	}
	json_array_append_new(fails, json_pack("{s:{s:o}}", "tests",
					       "failing", tests));
	json_object_set_new(r, "report", json_pack("{s:o}", "failures",
						   fails));
	s = sched_index_summary(r, 777);
	assert_non_null(s);
	assert_int_equal(json_array_size(json_object_get(s, "names")),
			 SCHED_NAMES_MAX);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(s, "names"), 0)), "left-pad");
	assert_true(json_is_true(json_object_get(s, "names_cut")));
	assert_int_equal(json_integer_value(json_object_get(s, "changed_ms")),
			 777);
	assert_string_equal(json_string_value(json_object_get(s, "level")),
			    "low");
	assert_int_equal(json_integer_value(json_object_get(s, "updates")), 2);
	json_decref(s);
	json_decref(r);
}

/* A running job's place (step of steps) in its page row and summary;
 * a record from before places were kept, or with a null or hostile
 * one, has none. */
static void test_step(void **state)
{
	struct sched_index *ix;
	struct sched_index_query q = {.col = SCHED_COL_ID, .desc = true,
				      .state = -1, .limit = 10};
	json_t *r = rec(1, "/srv/a", "running", "install", -1, 2, 0), *p, *j;

	(void)state;
	json_object_set_new(json_object_get(r, "sched"), "step",
			    json_integer(5));
	json_object_set_new(json_object_get(r, "sched"), "steps",
			    json_integer(9));
	p = sched_index_summary(r, 0);
	assert_int_equal(json_integer_value(json_object_get(p, "step")), 5);
	assert_int_equal(json_integer_value(json_object_get(p, "steps")), 9);
	json_decref(p);
	assert_int_equal(sched_index_new(&ix), 0);
	put(ix, r);
	r = rec(2, "/srv/b", "running", "clone", -1, -1, 0);
	json_object_set_new(json_object_get(r, "sched"), "step",
			    json_integer(1));
	json_object_set_new(json_object_get(r, "sched"), "steps", json_null());
	put(ix, r);
	r = rec(3, "/srv/c", "succeeded", "propose", 90, 1, 5000);
	json_object_set_new(json_object_get(r, "sched"), "step",
			    json_integer(-4));
	json_object_set_new(json_object_get(r, "sched"), "steps",
			    json_string("9"));
	p = sched_index_summary(r, 0);
	assert_null(json_object_get(p, "step"));
	assert_null(json_object_get(p, "steps"));
	json_decref(p);
	put(ix, r);
	put(ix, rec(4, "/srv/d", "failed", "test", 10, 1, 6000));
	assert_int_equal(sched_index_page(ix, &q, &p), 0);
	/* Newest first: 4 (no place), 3 (a bad one), 2 (1 of ?), 1. */
	j = json_array_get(json_object_get(p, "jobs"), 0);
	assert_null(json_object_get(j, "step"));
	j = json_array_get(json_object_get(p, "jobs"), 1);
	assert_null(json_object_get(j, "step"));
	assert_null(json_object_get(j, "steps"));
	j = json_array_get(json_object_get(p, "jobs"), 2);
	assert_int_equal(json_integer_value(json_object_get(j, "step")), 1);
	assert_null(json_object_get(j, "steps"));
	j = json_array_get(json_object_get(p, "jobs"), 3);
	assert_int_equal(json_integer_value(json_object_get(j, "step")), 5);
	assert_int_equal(json_integer_value(json_object_get(j, "steps")), 9);
	json_decref(p);
	sched_index_free(ix);
}

/* Built from a real store: every job, as the scheduler recorded it. */
static void test_build(void **state)
{
	char home[64] = "/tmp/al-index-XXXXXX", id[SCHED_ID_LEN + 1];
	struct store *st = NULL;
	struct audit_log *log = NULL;
	struct sched *s = NULL;
	struct sched_index *ix = NULL;
	struct sched_index_query q = {.col = SCHED_COL_REPO, .state = -1,
				      .limit = 100};
	json_t *p = NULL;

	(void)state;
	assert_non_null(mkdtemp(home));
	assert_int_equal(store_open(home, &st), 0);
	assert_int_equal(audit_log_open(st, home, NULL, &log), 0);
	assert_int_equal(sched_open(log, NULL, &s), 0);
	for (int i = 0; i < 30; i++) {
		char repo[32];
		struct sched_request rq = {.repo = repo, .priority = 100};
		snprintf(repo, sizeof(repo), "/srv/r%02d", 29 - i);
		assert_int_equal(sched_enqueue(s, NULL, &rq, id, NULL), 0);
		if (i % 3 == 0)
			assert_int_equal(sched_cancel(s, NULL, id, "uid:1"), 0);
	}
	assert_int_equal(sched_index_build(s, &ix), 0);
	assert_int_equal(sched_index_count(ix), 30);
	assert_int_equal(sched_index_page(ix, &q, &p), 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
				    json_object_get(p, "jobs"), 0), "repo")),
			    "/srv/r00");
	json_decref(p);
	q.state = sched_state_parse("cancelled");
	assert_int_equal(sched_index_page(ix, &q, &p), 0);
	assert_int_equal(json_integer_value(json_object_get(p, "matched")), 10);
	json_decref(p);
	sched_index_free(ix);
	sched_close(s);
	audit_log_close(log);
	store_close(st);
	al_rm_tree(home);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_paging_while_added),
		cmocka_unit_test(test_bad_query),
		cmocka_unit_test(test_strings_shared),
		cmocka_unit_test(test_hash_flood),
		cmocka_unit_test(test_summary_names),
		cmocka_unit_test(test_step),
		cmocka_unit_test(test_build),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
