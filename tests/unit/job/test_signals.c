/*
 * The score's inputs against the fixture packages tests/run publishes to
 * Verdaccio (tests/fixtures/registry): the plan on them, the registry
 * signals of each update (publisher, maintainers, install scripts,
 * deprecation, release age), and this appliance's update history in a
 * sealed store (blinded keys, other repositories counted apart).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/fs.h"
#include "base/util.h"
#include "job/history.h"
#include "job/signals.h"
#include "npm/plan.h"

static const char *registry(void)
{
	const char *r = getenv("AL_TEST_REGISTRY");

	if (!r || !*r)
		fail_msg("AL_TEST_REGISTRY is not set: tests/run starts "
			 "Verdaccio and publishes the fixtures");
	return r;
}

static const char manifest[] =
	"{\"name\":\"p\",\"dependencies\":{"
	"\"@airlock-test/greet\":\"^1.0.0\","
	"\"@airlock-test/hooked\":\"^1.0.0\","
	"\"@airlock-test/sunset\":\"^1.0.0\","
	"\"@airlock-test/nightly\":\"^1.0.0\","
	"\"fresh-alias\":\"npm:@airlock-test/fresh@~1.0.0\"}}";

static const struct npm_update *find(const struct npm_plan *p,
				     const char *name)
{
	for (size_t i = 0; i < p->nupdates; i++)
		if (!strcmp(p->updates[i].name, name))
			return &p->updates[i];
	return NULL;
}

static const struct score_update *sfind(const struct job_signals *s,
					const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->u[i].name, name))
			return &s->u[i];
	return NULL;
}

/* The plan the fixtures are made for (docs/score.md, worked example). */
static void test_plan_on_fixtures(void **state)
{
	struct npm_registry_opts ro = {.url = registry()};
	struct npm_plan p;
	struct al_buf out = {0};
	char err[256] = "";
	const struct npm_update *u;

	assert_int_equal(npm_plan_project(&ro, manifest, sizeof(manifest) - 1,
					  NPM_POLICY_MAJOR, &p, &out, err,
					  sizeof(err)),
			 0);
	assert_int_equal(p.nupdates, 4);
	u = find(&p, "@airlock-test/greet");
	assert_string_equal(u->to, "^2.0.0");
	assert_int_equal(u->bump, NPM_BUMP_MAJOR);
	u = find(&p, "@airlock-test/hooked");
	assert_string_equal(u->to, "^1.0.1");
	assert_true(u->has_install_scripts);
	/* latest (1.1.0) is deprecated: passed over for 1.0.1. */
	assert_string_equal(find(&p, "@airlock-test/sunset")->to, "^1.0.1");
	assert_string_equal(find(&p, "fresh-alias")->to,
			    "npm:@airlock-test/fresh@~1.0.1");
	/* Only prereleases above 1.0.0: nothing to propose. */
	assert_null(find(&p, "@airlock-test/nightly"));
	npm_plan_free(&p);
	al_buf_free(&out);
}

static void test_signals_on_fixtures(void **state)
{
	struct npm_registry_opts ro = {.url = registry()};
	struct npm_plan p;
	struct al_buf out = {0};
	struct job_signals s;
	char err[256] = "";
	const struct score_update *u;

	assert_int_equal(npm_plan_project(&ro, manifest, sizeof(manifest) - 1,
					  NPM_POLICY_MAJOR, &p, &out, err,
					  sizeof(err)),
			 0);
	assert_int_equal(job_signals_fetch(&ro, &p, al_wall_ms(), &s), 0);
	assert_int_equal(s.n, 4);

	u = sfind(&s, "@airlock-test/hooked");
	assert_true(u->signals);
	assert_string_equal(u->from, "1.0.0");
	assert_string_equal(u->to, "1.0.1");
	assert_false(u->scripts_from);
	assert_true(u->scripts_to);
	assert_string_equal(u->publisher_from, "alice");
	assert_string_equal(u->publisher_to, "mallory");
	assert_string_equal(u->maintainers_from, "alice");
	assert_string_equal(u->maintainers_to, "alice, mallory");
	/* Backdated by the fixture: months old. */
	assert_true(u->age_ms > 30 * SCORE_DAY_MS);

	u = sfind(&s, "@airlock-test/sunset");
	assert_true(u->deprecated_from);
	assert_false(u->deprecated_to);

	/* Published by tests/run a moment ago; looked up under the alias
	 * target, named by the key. */
	u = sfind(&s, "fresh-alias");
	assert_true(u->signals);
	assert_true(u->age_ms >= 0 && u->age_ms < SCORE_DAY_MS);

	u = sfind(&s, "@airlock-test/greet");
	assert_int_equal(u->bump, SCORE_BUMP_MAJOR);
	assert_string_equal(u->publisher_to, "alice");

	json_t *j = job_signals_json(sfind(&s, "@airlock-test/hooked"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(
				    json_object_get(j, "signals"), "publisher"),
							      "to")),
			    "mallory");
	json_decref(j);
	job_signals_free(&s);
	npm_plan_free(&p);
	al_buf_free(&out);
}

/* A registry that is not there: no signals, no failure. */
static void test_signals_without_registry(void **state)
{
	struct npm_registry_opts ro = {.url = registry()};
	struct npm_registry_opts dead = {.url = "http://127.0.0.1:9/",
					 .max_attempts = 1};
	struct npm_plan p;
	struct al_buf out = {0};
	struct job_signals s;
	char err[256] = "";

	assert_int_equal(npm_plan_project(&ro, manifest, sizeof(manifest) - 1,
					  NPM_POLICY_MAJOR, &p, &out, err,
					  sizeof(err)),
			 0);
	assert_int_equal(job_signals_fetch(&dead, &p, al_wall_ms(), &s), 0);
	for (size_t i = 0; i < s.n; i++) {
		assert_false(s.u[i].signals);
		assert_non_null(s.u[i].to);
	}
	job_signals_free(&s);
	npm_plan_free(&p);
	al_buf_free(&out);
}

static void test_history(void **state)
{
	char home[64];
	struct store *st;
	struct store_txn *txn;
	struct job_history_seen h;

	snprintf(home, sizeof(home), "/tmp/al-history-XXXXXX");
	assert_non_null(mkdtemp(home));
	assert_int_equal(store_open(home, &st), 0);

	assert_int_equal(store_txn_begin(st, true, &txn), 0);
	assert_int_equal(job_history_get(txn, "x", "2.0.0", "https://a/r",
					 &h), 0);
	assert_int_equal(h.passed + h.failed + h.other_repos, 0);
	for (int i = 0; i < JOB_HISTORY_RUNS + 6; i++)
		assert_int_equal(job_history_add(txn, "x", "1.0.0", "2.0.0",
						 i < 6 ? "https://b/r"
						       : "https://a/r",
						 "job", "passed", 1000 + i),
				 0);
	assert_int_equal(job_history_add(txn, "x", "1.0.0", "2.0.0",
					 "https://c/r", "job", "failed", 9),
			 0);
	assert_int_equal(job_history_add(txn, "x", "1.0.0", "2.0.1",
					 "https://c/r", "job", "passed", 9),
			 0);
	assert_int_equal(store_txn_commit(txn), 0);

	assert_int_equal(store_txn_begin(st, false, &txn), 0);
	/* 64 kept: the oldest (b's) are gone, c's failure is the newest. */
	assert_int_equal(job_history_get(txn, "x", "2.0.0", "https://a/r",
					 &h), 0);
	assert_int_equal(h.passed, JOB_HISTORY_RUNS - 1);
	assert_int_equal(h.failed, 1);
	assert_int_equal(h.other_repos, 0);
	/* Seen from c, a's passes are another repository's. */
	assert_int_equal(job_history_get(txn, "x", "2.0.0", "https://c/r",
					 &h), 0);
	assert_int_equal(h.other_repos, 1);
	assert_int_equal(job_history_get(txn, "x", "2.0.1", "https://a/r",
					 &h), 0);
	assert_int_equal(h.passed, 1);
	assert_int_equal(h.other_repos, 1);

	/* Keys are blinded: no package name in the database's keys. */
	struct store_cursor *cur;
	const void *k;
	size_t kl;
	int n = 0;
	assert_int_equal(store_cursor_open(txn, STORE_DB_HISTORY, &cur), 0);
	while (store_cursor_next(cur, &k, &kl, NULL) == 0) {
		assert_int_equal(kl, 32);
		assert_null(memmem(k, kl, "x@2", 3));
		n++;
	}
	store_cursor_close(cur);
	assert_int_equal(n, 2);
	store_txn_abort(txn);
	store_close(st);

	/* Sealed: the names are not in the file in plaintext. */
	char path[128];
	struct al_buf b = {0};
	snprintf(path, sizeof(path), "%s/db/data.mdb", home);
	assert_int_equal(al_read_file(path, 64u << 20, &b), 0);
	assert_null(memmem(b.p, b.len, "https://a/r", 11));
	assert_null(memmem(b.p, b.len, "\"2.0.1\"", 7));
	al_buf_free(&b);
	al_rm_tree(home);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_on_fixtures),
		cmocka_unit_test(test_signals_on_fixtures),
		cmocka_unit_test(test_signals_without_registry),
		cmocka_unit_test(test_history),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
