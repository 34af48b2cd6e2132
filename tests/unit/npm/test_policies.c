/*
 * test_policies.c - the airlock.conf update policy on hand-made
 * packuments (no network): allow and ignore globs, prereleases,
 * min_release_age, each range strategy, groups (their order, max_groups
 * and branch names) and max_updates. Every
 * rule that holds an update back must say so in the plan, naming itself.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "base/err.h"
#include "npm/plan.h"

/* The clock of every plan here: 2025-03-01T00:00:00Z. */
#define NOW_MS 1740787200000LL
#define DAY_MS 86400000LL

/*
 * name, latest, versions: "V" or "V@DAYS" (released DAYS before NOW_MS;
 * without it the version has no release time).
 */
static void make_pk(struct npm_packument *p, const char *name,
		    const char *latest, const char *versions)
{
	char body[8192], list[2048], times[2048], tok[64];
	size_t o = 0, t = 0;
	const char *s = versions;
	int n;

	while (sscanf(s, "%63s%n", tok, &n) == 1) {
		char *at = strchr(tok, '@');

		s += n;
		if (at) {
			time_t when = (time_t)((NOW_MS -
						strtol(at + 1, NULL, 10) * DAY_MS) / 1000);
			struct tm tm;
			char iso[40];

			*at = '\0';
			gmtime_r(&when, &tm);
			strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
			t += (size_t)snprintf(times + t, sizeof(times) - t,
					      ",\"%s\":\"%s\"", tok, iso);
		}
		o += (size_t)snprintf(list + o, sizeof(list) - o,
				      "%s\"%s\":{}", o ? "," : "", tok);
	}
	list[o] = '\0';
	times[t] = '\0';
	snprintf(body, sizeof(body), "{\"name\":\"%s\",\"dist-tags\":"
		 "{\"latest\":\"%s\"},\"versions\":{%s},\"time\":{\"created\":"
		 "\"2020-01-01T00:00:00.000Z\"%s}}", name, latest, list, times);
	memset(p, 0, sizeof(*p));
	p->name = strdup(name);
	npm_packument_parse(p, body, strlen(body));
	assert_int_equal(p->err, 0);
}

static const struct npm_update *upd(const struct npm_plan *p,
				    const char *name)
{
	for (size_t i = 0; i < p->nupdates; i++)
		if (!strcmp(p->updates[i].name, name))
			return &p->updates[i];
	return NULL;
}

/* The skip of name whose reason holds want, with its rule. */
static const struct npm_skip *skip_with(const struct npm_plan *p,
					const char *name, const char *want)
{
	for (size_t i = 0; i < p->nskips; i++)
		if (!strcmp(p->skips[i].name, name) &&
		    strstr(p->skips[i].reason, want))
			return &p->skips[i];
	return NULL;
}

static void expect_skip(const struct npm_plan *p, const char *name,
			const char *want, const char *rule)
{
	const struct npm_skip *s = skip_with(p, name, want);

	if (!s) {
		for (size_t i = 0; i < p->nskips; i++)
			print_message("skip %s: %s\n", p->skips[i].name,
				      p->skips[i].reason);
		fail_msg("%s: no skip with '%s'", name, want);
	}
	assert_non_null(s->rule);
	assert_string_equal(s->rule, rule);
}

static struct npm_packument pks[8];
#define NPK 8

static int setup(void **state)
{
	make_pk(&pks[0], "@types/node", "1.1.0", "1.0.0@400 1.1.0@300");
	make_pk(&pks[1], "lodash", "1.1.0", "1.0.0@400 1.1.0@300");
	make_pk(&pks[2], "react", "1.1.0", "1.0.0@400 1.1.0@300");
	/* 1.1.0 old enough, 1.2.0 two days old, 1.3.0 without a time. */
	make_pk(&pks[3], "young", "1.3.0",
		"1.0.0@400 1.1.0@30 1.2.0@2 1.3.0");
	make_pk(&pks[4], "nightly", "1.0.0",
		"1.0.0@400 2.0.0-rc.1@50 2.0.0-rc.2@40");
	make_pk(&pks[5], "major", "2.1.0",
		"1.0.0@400 1.0.5@300 1.2.0@200 2.0.0@100 2.1.0@90");
	make_pk(&pks[6], "minor", "1.4.0", "1.0.0@400 1.4.0@100");
	make_pk(&pks[7], "other", "3.0.0", "1.0.0@400 3.0.0@100");
	return 0;
}

static int teardown(void **state)
{
	npm_packuments_free(pks, NPK);
	return 0;
}

static void plan_of(const char *manifest, const struct npm_rules *r,
		    struct npm_plan *plan)
{
	struct npm_manifest m;
	char err[256];

	assert_int_equal(npm_manifest_parse(manifest, strlen(manifest), &m,
					    err, sizeof(err)), 0);
	assert_int_equal(npm_plan_build_rules(&m, pks, NPK, r, plan), 0);
	npm_manifest_free(&m);
}

static void rules(struct npm_rules *r, const char *key, const char *value)
{
	char why[256] = "";

	if (npm_rules_set(r, key, value, why, sizeof(why)))
		fail_msg("%s = %s: %s", key, value, why);
	r->now_ms = NOW_MS;
}

static void test_allow_ignore(void **state)
{
	const char *m = "{\"dependencies\":{\"@types/node\":\"^1.0.0\","
			"\"lodash\":\"^1.0.0\",\"react\":\"^1.0.0\","
			"\"alias\":\"npm:lodash@^1.0.0\"}}";
	struct npm_rules r;
	struct npm_plan p;

	npm_rules_init(&r, NPM_POLICY_MAJOR);
	r.now_ms = NOW_MS;
	plan_of(m, &r, &p);
	assert_int_equal(p.nupdates, 4);
	npm_plan_free(&p);

	rules(&r, "ignore", "@types/*,lod*");
	plan_of(m, &r, &p);
	assert_int_equal(p.nupdates, 1);
	assert_string_equal(upd(&p, "react")->to, "^1.1.0");
	expect_skip(&p, "@types/node", "ignored by ignore = @types/*",
		    "ignore");
	expect_skip(&p, "lodash", "ignored by ignore = lod*", "ignore");
	/* An alias is matched by the package it installs. */
	expect_skip(&p, "alias", "ignored by ignore = lod*", "ignore");
	npm_plan_free(&p);

	npm_rules_init(&r, NPM_POLICY_MAJOR);
	rules(&r, "allow", "react,@types/*");
	plan_of(m, &r, &p);
	assert_int_equal(p.nupdates, 2);
	assert_non_null(upd(&p, "@types/node"));
	expect_skip(&p, "lodash", "not matched by allow = react,@types/*",
		    "allow");
	npm_plan_free(&p);
}

static void test_min_release_age(void **state)
{
	const char *m = "{\"dependencies\":{\"young\":\"^1.0.0\"}}";
	struct npm_rules r;
	struct npm_plan p;

	npm_rules_init(&r, NPM_POLICY_MAJOR);
	r.now_ms = NOW_MS;
	plan_of(m, &r, &p);
	assert_string_equal(upd(&p, "young")->to, "^1.3.0");
	npm_plan_free(&p);

	rules(&r, "min_release_age", "7");
	plan_of(m, &r, &p);
	assert_string_equal(upd(&p, "young")->to, "^1.1.0");
	/* The newest one held back is named: 1.3.0 has no release time. */
	expect_skip(&p, "young", "1.3.0 held back: the registry gave no "
		    "release time, min_release_age = 7", "min_release_age");
	npm_plan_free(&p);

	/* Only 1.1.0 itself is older than 31 days: nothing to take. */
	rules(&r, "min_release_age", "31");
	plan_of(m, &r, &p);
	assert_null(upd(&p, "young"));
	expect_skip(&p, "young", "held back", "min_release_age");
	npm_plan_free(&p);

	/* With a time for 1.3.0 too: "released N days ago". */
	npm_packument_free(&pks[3]);
	make_pk(&pks[3], "young", "1.2.0", "1.0.0@400 1.1.0@30 1.2.0@2");
	rules(&r, "min_release_age", "7");
	plan_of(m, &r, &p);
	expect_skip(&p, "young", "1.2.0 held back: released 2 days ago, "
		    "min_release_age = 7", "min_release_age");
	npm_plan_free(&p);
}

static void test_prereleases(void **state)
{
	const char *m = "{\"dependencies\":{\"nightly\":\"^1.0.0\","
			"\"rc\":\"npm:nightly@^2.0.0-rc.1\"}}";
	struct npm_rules r;
	struct npm_plan p;

	npm_rules_init(&r, NPM_POLICY_MAJOR);
	r.now_ms = NOW_MS;
	plan_of(m, &r, &p);
	assert_null(upd(&p, "nightly"));
	expect_skip(&p, "nightly", "prerelease 2.0.0-rc.2 not taken: "
		    "prereleases = off", "prereleases");
	/* A spec already on a prerelease moves along its own line. */
	assert_string_equal(upd(&p, "rc")->to, "npm:nightly@^2.0.0-rc.2");
	npm_plan_free(&p);

	rules(&r, "prereleases", "on");
	plan_of(m, &r, &p);
	assert_string_equal(upd(&p, "nightly")->to, "^2.0.0-rc.2");
	assert_null(skip_with(&p, "nightly", "prerelease"));
	npm_plan_free(&p);
}

static void test_strategies(void **state)
{
	const char *m = "{\"dependencies\":{\"major\":\"^1.0.0\","
			"\"minor\":\"~1.0.0\",\"other\":\"1.0.0\","
			"\"x\":\"npm:major@1.x\"}}";
	struct npm_rules r;
	struct npm_plan p;

	npm_rules_init(&r, NPM_POLICY_MAJOR);
	rules(&r, "range_strategy", "bump");
	plan_of(m, &r, &p);
	assert_string_equal(upd(&p, "major")->to, "^2.1.0");
	assert_string_equal(upd(&p, "minor")->to, "~1.4.0");
	assert_string_equal(upd(&p, "other")->to, "3.0.0");
	assert_null(upd(&p, "x"));
	assert_non_null(skip_with(&p, "x", "wildcard"));
	npm_plan_free(&p);

	rules(&r, "range_strategy", "pin");
	plan_of(m, &r, &p);
	assert_string_equal(upd(&p, "major")->to, "2.1.0");
	assert_string_equal(upd(&p, "minor")->to, "1.4.0");
	assert_string_equal(upd(&p, "x")->to, "npm:major@2.1.0");
	npm_plan_free(&p);

	rules(&r, "range_strategy", "widen");
	plan_of(m, &r, &p);
	assert_string_equal(upd(&p, "major")->to, "^1.0.0 || ^2.0.0");
	assert_int_equal(upd(&p, "major")->kind, NPM_KIND_WIDEN);
	assert_string_equal(upd(&p, "minor")->to, "~1.0.0 || ^1.0.0");
	assert_string_equal(upd(&p, "x")->to, "npm:major@1.x || ^2.0.0");
	npm_plan_free(&p);

	/* Under policy minor, major's target 1.2.0 is within ^1.0.0:
	 * replace leaves it (no lockfile here to move) and says so. */
	npm_rules_init(&r, NPM_POLICY_MINOR);
	rules(&r, "range_strategy", "replace");
	plan_of(m, &r, &p);
	assert_null(upd(&p, "major"));
	expect_skip(&p, "major", "1.2.0 is within ^1.0.0: range_strategy = "
		    "replace changes only ranges it falls outside of",
		    "range_strategy");
	assert_string_equal(upd(&p, "minor")->to, "~1.4.0");
	npm_plan_free(&p);

	/* auto without a lockfile is bump: the range is raised. */
	npm_rules_init(&r, NPM_POLICY_MINOR);
	r.now_ms = NOW_MS;
	plan_of(m, &r, &p);
	assert_string_equal(upd(&p, "major")->to, "^1.2.0");
	npm_plan_free(&p);
}

/* The group of the update of name whose new spec is to. */
static const char *group_of(const struct npm_plan *p, const char *name,
			    const char *to)
{
	for (size_t i = 0; i < p->nupdates; i++)
		if (!strcmp(p->updates[i].name, name) &&
		    !strcmp(p->updates[i].to, to))
			return p->updates[i].group;
	fail_msg("no update of %s to %s", name, to);
	return NULL;
}

static void test_groups(void **state)
{
	const char *m = "{\"dependencies\":{\"major\":\"^1.0.0\","
			"\"minor\":\"^1.0.0\",\"other\":\"^1.0.0\"}}";
	const char *majors = "{\"dependencies\":{\"other\":\"^1.0.0\","
			     "\"major\":\"^1.9.0\"}}";
	const char *order[NPM_RULES_GROUPS_MAX];
	struct npm_rules r;
	struct npm_plan p;
	json_t *j;

	npm_rules_init(&r, NPM_POLICY_MAJOR);
	r.now_ms = NOW_MS;
	assert_int_equal(r.max_groups, NPM_RULES_GROUPS_DEFAULT);
	plan_of(m, &r, &p);
	assert_int_equal(p.nupdates, 3);
	assert_string_equal(upd(&p, "major")->group, "all");
	assert_int_equal(npm_plan_groups(&p, order, NPM_RULES_GROUPS_MAX), 1);
	npm_plan_free(&p);

	/* Non-major together, each major alone: all three groups fit in
	 * the default max_groups, so nothing waits. "major" has an entry
	 * in two groups. */
	rules(&r, "group", "non-major");
	plan_of(m, &r, &p);
	assert_int_equal(p.nupdates, 4);
	assert_int_equal(p.nskips, 0);
	assert_string_equal(group_of(&p, "major", "^1.2.0"), "non-major");
	assert_string_equal(group_of(&p, "major", "^2.1.0"), "major:major");
	assert_string_equal(group_of(&p, "minor", "^1.4.0"), "non-major");
	assert_string_equal(group_of(&p, "other", "^3.0.0"), "major:other");
	assert_int_equal(npm_plan_groups(&p, order, NPM_RULES_GROUPS_MAX), 3);
	assert_string_equal(order[0], "non-major");
	assert_string_equal(order[1], "major:major");
	assert_string_equal(order[2], "major:other");
	/* Asked for fewer, the first ones. */
	assert_int_equal(npm_plan_groups(&p, order, 1), 1);
	assert_string_equal(order[0], "non-major");
	j = npm_plan_json(&p);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(j, "updates"), 0), "group")),
		"non-major");
	json_decref(j);
	npm_plan_free(&p);

	/* max_groups = 2: the third group waits, naming the rule. */
	rules(&r, "max_groups", "2");
	plan_of(m, &r, &p);
	assert_int_equal(p.nupdates, 3);
	assert_null(upd(&p, "other"));
	expect_skip(&p, "other", "3.0.0 deferred to a later job: group "
		    "major:other (group = non-major, max_groups = 2)",
		    "max_groups");
	npm_plan_free(&p);

	/* Only majors, one group a job: the first one in plan order. */
	rules(&r, "max_groups", "1");
	plan_of(majors, &r, &p);
	assert_int_equal(p.nupdates, 1);
	assert_string_equal(upd(&p, "other")->to, "^3.0.0");
	expect_skip(&p, "major", "deferred to a later job: group major:major",
		    "max_groups");
	npm_plan_free(&p);

	/* non-major first even when a major comes first in plan order. */
	plan_of(m, &r, &p);
	assert_int_equal(p.nupdates, 2);
	assert_string_equal(group_of(&p, "major", "^1.2.0"), "non-major");
	expect_skip(&p, "major", "2.1.0 deferred to a later job: group "
		    "major:major", "max_groups");
	npm_plan_free(&p);

	rules(&r, "group", "none");
	plan_of(m, &r, &p);
	assert_int_equal(p.nupdates, 1);
	assert_string_equal(upd(&p, "major")->group, "major");
	expect_skip(&p, "minor", "deferred to a later job: group minor",
		    "max_groups");
	expect_skip(&p, "other", "deferred to a later job: group other",
		    "max_groups");
	npm_plan_free(&p);

	rules(&r, "max_groups", "64");
	plan_of(m, &r, &p);
	assert_int_equal(p.nupdates, 3);
	assert_int_equal(npm_plan_groups(&p, order, NPM_RULES_GROUPS_MAX), 3);
	npm_plan_free(&p);
}

static void expect_branch(const char *group, const char *want)
{
	char b[320];

	assert_int_equal(npm_group_branch(group, b, sizeof(b)), 1);
	assert_string_equal(b, want);
}

static void test_group_branches(void **state)
{
	char small[20];

	(void)state;
	assert_int_equal(npm_group_branch("all", small, sizeof(small)), 0);
	expect_branch("non-major", "airlock/non-major");
	expect_branch("major:left-pad", "airlock/major-left-pad");
	expect_branch("left-pad", "airlock/dep-left-pad");
	/* A scope stays one component: "@babel/core" and "babel" never
	 * make a directory of each other's ref, nor meet "babel-core". */
	expect_branch("major:@babel/core", "airlock/major-@babel+core");
	/* Two scoped names that differ only in where "/" is. */
	expect_branch("@a/b-c", "airlock/dep-@a+b-c");
	expect_branch("@a-b/c", "airlock/dep-@a-b+c");
	expect_branch("@types/node", "airlock/dep-@types+node");
	/* What git refuses in a ref is mapped away. */
	expect_branch("major:we~ird^na:me", "airlock/major-we-ird-na-me");
	expect_branch("major:a..b", "airlock/major-a.-b");
	expect_branch("major:x.lock", "airlock/major-x.lock-");
	expect_branch("major:y.", "airlock/major-y.-");
	expect_branch("major:sp ace{@", "airlock/major-sp-ace-@");
	assert_int_equal(npm_group_branch("major:a-long-name", small,
					  sizeof(small)), -ENAMETOOLONG);
}

static void test_max_updates(void **state)
{
	const char *m = "{\"dependencies\":{\"major\":\"^1.0.0\","
			"\"minor\":\"^1.0.0\",\"other\":\"^1.0.0\"}}";
	struct npm_rules r;
	struct npm_plan p;

	npm_rules_init(&r, NPM_POLICY_MAJOR);
	rules(&r, "max_updates", "2");
	plan_of(m, &r, &p);
	assert_int_equal(p.nupdates, 2);
	assert_non_null(upd(&p, "major"));
	assert_non_null(upd(&p, "minor"));
	expect_skip(&p, "other", "3.0.0 over max_updates = 2", "max_updates");
	npm_plan_free(&p);

	rules(&r, "max_updates", "0");
	plan_of(m, &r, &p);
	assert_int_equal(p.nupdates, 3);
	npm_plan_free(&p);
}

static void test_rules_values(void **state)
{
	struct npm_rules a, b;
	char why[256];
	json_t *j;

	npm_rules_init(&a, NPM_POLICY_MAJOR);
	npm_rules_init(&b, NPM_POLICY_MAJOR);
	assert_int_equal(npm_rules_set(&a, "colour", "red", why, sizeof(why)),
			 AL_E_NOTFOUND);
	assert_int_equal(npm_rules_set(&a, "range_strategy", "Pin", why,
				       sizeof(why)), -EINVAL);
	assert_int_equal(npm_rules_set(&a, "ignore", "a\"b", why,
				       sizeof(why)), -EINVAL);
	assert_int_equal(npm_rules_set(&a, "max_updates", "10001", why,
				       sizeof(why)), -ERANGE);
	assert_int_equal(npm_rules_set(&a, "max_groups", "0", why,
				       sizeof(why)), -ERANGE);
	assert_string_equal(why, "a whole number from 1 to 64");
	assert_int_equal(npm_rules_set(&a, "max_groups", "65", why,
				       sizeof(why)), -ERANGE);
	assert_int_equal(npm_rules_set(&a, "max_groups", "two", why,
				       sizeof(why)), -EINVAL);
	assert_int_equal(a.set, 0);
	assert_int_equal(npm_rules_set(&a, "ignore", "x,y", why,
				       sizeof(why)), 0);
	assert_int_equal(npm_rules_set(&b, "group", "none", why,
				       sizeof(why)), 0);
	assert_int_equal(npm_rules_set(&b, "ignore", "z", why,
				       sizeof(why)), 0);
	assert_int_equal(npm_rules_set(&b, "max_groups", "7", why,
				       sizeof(why)), 0);
	npm_rules_merge(&a, &b);
	assert_int_equal(a.max_groups, 7);
	assert_string_equal(a.ignore, "z");
	assert_int_equal(a.group, NPM_GROUP_NONE);
	assert_int_equal(a.strategy, NPM_STRATEGY_AUTO);
	j = npm_rules_json(&a);
	assert_string_equal(json_string_value(json_array_get(
		json_object_get(j, "ignore"), 0)), "z");
	assert_string_equal(json_string_value(json_object_get(j, "group")),
			    "none");
	assert_int_equal(json_integer_value(json_object_get(j, "max_groups")),
			 7);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allow_ignore),
		cmocka_unit_test(test_min_release_age),
		cmocka_unit_test(test_prereleases),
		cmocka_unit_test(test_strategies),
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_group_branches),
		cmocka_unit_test(test_max_updates),
		cmocka_unit_test(test_rules_values),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
