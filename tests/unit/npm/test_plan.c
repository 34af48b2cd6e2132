/*
 * test_plan.c - the update plan on hand-made packuments (no network):
 * operators kept, policy limits, prerelease and deprecated targets,
 * skips with reasons, and the JSON shape.
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

#include "base/err.h"
#include "npm/plan.h"

/* name, latest, versions (space-separated; a trailing ! = deprecated) */
static void make_pk(struct npm_packument *p, const char *name,
		    const char *latest, const char *versions)
{
	char body[4096], list[2048], tok[64];
	size_t o = 0;
	const char *s = versions;
	int n;

	while (sscanf(s, "%63s%n", tok, &n) == 1) {
		size_t l = strlen(tok);
		bool dep = tok[l - 1] == '!';

		if (dep)
			tok[l - 1] = '\0';
		o += (size_t)snprintf(list + o, sizeof(list) - o,
				      "%s\"%s\":{%s}", o ? "," : "", tok,
				      dep ? "\"deprecated\":\"old\"" : "");
		s += n;
	}
	list[o] = '\0';
	snprintf(body, sizeof(body), "{\"name\":\"%s\",\"dist-tags\":"
		 "{\"latest\":\"%s\"},\"versions\":{%s}}", name, latest, list);
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

static const char *skip_of(const struct npm_plan *p, const char *name)
{
	for (size_t i = 0; i < p->nskips; i++)
		if (!strcmp(p->skips[i].name, name))
			return p->skips[i].reason;
	return NULL;
}

static const char manifest[] =
	"{\"dependencies\":{"
	"\"caret\":\"^1.2.3\",\"tilde\":\"~1.2.3\",\"eq\":\"=8.8.0\","
	"\"exact\":\"1.2.3\",\"ge\":\">=1.0.0\",\"cur\":\"^2.0.0\","
	"\"pre\":\"^1.0.0\",\"depr\":\"^1.0.0\","
	"\"or\":\"1.x || 2.x\",\"hy\":\"1.0.0 - 2.0.0\",\"xr\":\"1.x\","
	"\"star\":\"*\",\"empty\":\"\",\"git\":\"git+ssh://git@h:o/r.git\","
	"\"gh\":\"user/repo#v1\",\"file\":\"file:../x\",\"link\":\"link:y\","
	"\"url\":\"https://h/x.tgz\",\"alias\":\"npm:other@^1.0.0\","
	"\"tag\":\"latest\",\"gone\":\"^1.0.0\",\"partial\":\"^1.2\""
	"},\"devDependencies\":{\"caret\":\"~1.2.3\"}}";

static struct npm_packument pks[9];

static int setup(void **state)
{
	const char *v = "1.2.3 1.2.9 1.3.0 1.4.0 2.0.0 2.1.0";

	make_pk(&pks[0], "caret", "2.1.0", v);
	make_pk(&pks[1], "tilde", "2.1.0", v);
	make_pk(&pks[2], "eq", "9.1.0", "8.8.0 8.9.0 9.0.0 9.1.0");
	make_pk(&pks[3], "exact", "1.4.0", v);
	make_pk(&pks[4], "ge", "1.4.0", v);
	make_pk(&pks[5], "cur", "2.0.0", "1.0.0 2.0.0");
	make_pk(&pks[6], "pre", "2.0.0-rc.1", "1.0.0 1.1.0 2.0.0-rc.1");
	make_pk(&pks[7], "depr", "1.3.0", "1.0.0 1.2.0 1.3.0!");
	memset(&pks[8], 0, sizeof(pks[8]));
	pks[8].name = strdup("gone");
	pks[8].err = AL_E_NOTFOUND;
	return 0;
}

static int teardown(void **state)
{
	npm_packuments_free(pks, 9);
	return 0;
}

static void plan_with(enum npm_policy pol, struct npm_plan *plan)
{
	struct npm_manifest m;
	char err[256];

	assert_int_equal(npm_manifest_parse(manifest, sizeof(manifest) - 1,
					    &m, err, sizeof(err)), 0);
	assert_int_equal(npm_plan_build(&m, pks, 9, pol, plan), 0);
	npm_manifest_free(&m);
}

static void test_policy_major(void **state)
{
	struct npm_plan p;

	plan_with(NPM_POLICY_MAJOR, &p);
	assert_string_equal(upd(&p, "caret")->to, "^2.1.0");
	assert_int_equal(upd(&p, "caret")->bump, NPM_BUMP_MAJOR);
	assert_string_equal(upd(&p, "eq")->to, "=9.1.0");
	assert_string_equal(upd(&p, "exact")->to, "1.4.0");
	assert_int_equal(upd(&p, "exact")->bump, NPM_BUMP_MINOR);
	assert_string_equal(upd(&p, "ge")->to, ">=1.4.0");
	assert_null(upd(&p, "cur"));
	assert_null(skip_of(&p, "cur"));
	/* A prerelease on latest is not proposed; the best release is. */
	assert_string_equal(upd(&p, "pre")->to, "^1.1.0");
	/* A deprecated latest is passed over. */
	assert_string_equal(upd(&p, "depr")->to, "^1.2.0");
	npm_plan_free(&p);
}

static void test_policy_minor_patch(void **state)
{
	struct npm_plan p;

	plan_with(NPM_POLICY_MINOR, &p);
	assert_string_equal(upd(&p, "caret")->to, "^1.4.0");
	assert_string_equal(upd(&p, "tilde")->to, "~1.4.0");
	/* latest 9.1.0 is held back; the best 8.x is taken instead. */
	assert_string_equal(upd(&p, "eq")->to, "=8.9.0");
	npm_plan_free(&p);

	plan_with(NPM_POLICY_PATCH, &p);
	assert_string_equal(upd(&p, "caret")->to, "^1.2.9");
	assert_int_equal(upd(&p, "caret")->bump, NPM_BUMP_PATCH);
	assert_string_equal(upd(&p, "tilde")->to, "~1.2.9");
	assert_null(upd(&p, "eq"));
	assert_non_null(strstr(skip_of(&p, "eq"), "policy patch"));
	npm_plan_free(&p);
}

static void test_sections_and_skips(void **state)
{
	const char *must_skip[] = { "or", "hy", "xr", "star", "empty", "git",
				    "gh", "file", "link", "url", "alias",
				    "tag", "gone", "partial" };
	struct npm_plan p;
	size_t dev = 0;

	plan_with(NPM_POLICY_MAJOR, &p);
	for (size_t i = 0; i < p.nupdates; i++)
		if (p.updates[i].section == NPM_SEC_DEV) {
			assert_string_equal(p.updates[i].to, "~2.1.0");
			dev++;
		}
	assert_int_equal(dev, 1);
	for (size_t i = 0; i < AL_ARRAY_LEN(must_skip); i++)
		if (!skip_of(&p, must_skip[i]))
			fail_msg("%s was not skipped", must_skip[i]);
	assert_non_null(strstr(skip_of(&p, "or"), "||"));
	assert_non_null(strstr(skip_of(&p, "hy"), "hyphen"));
	assert_non_null(strstr(skip_of(&p, "star"), "never rewritten"));
	assert_non_null(strstr(skip_of(&p, "empty"), "empty"));
	assert_non_null(strstr(skip_of(&p, "xr"), "wildcard"));
	assert_non_null(strstr(skip_of(&p, "git"), "git"));
	assert_non_null(strstr(skip_of(&p, "gh"), "git"));
	assert_non_null(strstr(skip_of(&p, "file"), "local"));
	/* Looked up as "other", which has no packument here. */
	assert_non_null(strstr(skip_of(&p, "alias"), "no registry answer"));
	assert_non_null(strstr(skip_of(&p, "tag"), "dist-tag"));
	assert_non_null(strstr(skip_of(&p, "gone"), "not found"));
	npm_plan_free(&p);
}

static void test_json_and_names(void **state)
{
	enum npm_policy pol;
	struct npm_plan p;
	json_t *j, *u;

	assert_int_equal(npm_policy_parse("minor", &pol), 0);
	assert_int_equal(pol, NPM_POLICY_MINOR);
	assert_int_equal(npm_policy_parse("Major", &pol), AL_E_USAGE);
	assert_int_equal(npm_policy_parse(NULL, &pol), AL_E_USAGE);
	assert_string_equal(npm_bump_name(NPM_BUMP_MINOR), "minor");
	assert_string_equal(npm_policy_name(NPM_POLICY_PATCH), "patch");

	plan_with(NPM_POLICY_MAJOR, &p);
	j = npm_plan_json(&p);
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "updates")),
			 p.nupdates);
	assert_int_equal(json_array_size(json_object_get(j, "skipped")),
			 p.nskips);
	u = json_array_get(json_object_get(j, "updates"), 0);
	assert_string_equal(json_string_value(json_object_get(u, "section")),
			    "dependencies");
	assert_string_equal(json_string_value(json_object_get(u, "name")),
			    "caret");
	assert_string_equal(json_string_value(json_object_get(u, "from")),
			    "^1.2.3");
	assert_string_equal(json_string_value(json_object_get(u, "bump")),
			    "major");
	json_decref(j);
	npm_plan_free(&p);
}

/*
 * One case per row of the shared npm edge-case table (cases/
 * npm-edge-cases.md, sections 3a and 3b) that concerns specifiers: the
 * row number is in each comment.
 */
static const char edge_manifest[] =
	"{\"dependencies\":{"
	/* 1: alias to an exact prerelease; rewrite only after the last @ */
	"\"request\":\"npm:postman-request@2.88.1-postman.16\","
	/* 2: the key names an unrelated real package */
	"\"typescript-6\":\"npm:typescript@^6.0.0\","
	/* 3: scoped alias target (two @s) */
	"\"gsap\":\"npm:@gsap/shockingly@^3.6.0\","
	/* 5: nested alias */
	"\"nest\":\"npm:a@npm:b@1.0.0\",\"bad\":\"npm:npm:x@1.0.0\","
	/* 6, 7: dist-tags */
	"\"discord.js\":\"dev\",\"x\":\"latest\","
	/* 8, 9: git with a SHA, GitHub with #semver: */
	"\"k\":\"git+ssh://git@github.com:org/k.git#4fd14de\","
	"\"g\":\"github:graphql/graphql-js#semver:^v14.0.0\","
	/* 10: file: to a .js file must not block the others */
	"\"foo\":\"file:./lib/foo.js\",\"ln\":\"link:../ln\","
	"\"ws\":\"workspace:^1.0.0\",\"tgz\":\"https://h/t.tgz\","
	/* 13, 14: empty and * are never rewritten */
	"\"gulp\":\"\",\"star\":\"*\","
	/* 16: union and hyphen forms */
	"\"un\":\"1.x || 2.x\",\"hy\":\"1.2 - 2\""
	"}}";

static void test_edge_cases(void **state)
{
	struct npm_packument k[5];
	struct npm_manifest m;
	struct npm_plan p;
	char err[256];

	make_pk(&k[0], "postman-request", "2.88.2",
		"2.88.1-postman.16 2.88.1-postman.33 2.88.2");
	make_pk(&k[1], "typescript", "6.1.0", "6.0.0 6.1.0");
	make_pk(&k[2], "@gsap/shockingly", "3.12.5", "3.6.0 3.12.5");
	/* Packuments under the alias keys: asking for them is the bug. */
	make_pk(&k[3], "typescript-6", "99.0.0", "6.0.0 99.0.0");
	make_pk(&k[4], "gsap", "99.0.0", "3.6.0 99.0.0");
	assert_int_equal(npm_manifest_parse(edge_manifest,
					    sizeof(edge_manifest) - 1, &m,
					    err, sizeof(err)), 0);
	assert_int_equal(npm_plan_build(&m, k, 5, NPM_POLICY_MAJOR, &p), 0);

	assert_string_equal(upd(&p, "request")->to,
			    "npm:postman-request@2.88.2");
	assert_string_equal(upd(&p, "typescript-6")->to,
			    "npm:typescript@^6.1.0");
	assert_string_equal(upd(&p, "gsap")->to,
			    "npm:@gsap/shockingly@^3.12.5");
	assert_int_equal(p.nupdates, 3);
	assert_non_null(strstr(skip_of(&p, "nest"), "nested"));
	assert_non_null(strstr(skip_of(&p, "bad"), "valid package name"));
	assert_non_null(strstr(skip_of(&p, "discord.js"), "dist-tag"));
	assert_non_null(strstr(skip_of(&p, "x"), "dist-tag"));
	assert_non_null(strstr(skip_of(&p, "k"), "git"));
	assert_non_null(strstr(skip_of(&p, "g"), "git"));
	assert_non_null(strstr(skip_of(&p, "foo"), "local"));
	assert_non_null(strstr(skip_of(&p, "ln"), "local"));
	assert_non_null(strstr(skip_of(&p, "ws"), "workspace"));
	assert_non_null(strstr(skip_of(&p, "tgz"), "tarball"));
	assert_non_null(strstr(skip_of(&p, "gulp"), "empty"));
	assert_non_null(strstr(skip_of(&p, "star"), "never rewritten"));
	assert_non_null(strstr(skip_of(&p, "un"), "||"));
	assert_non_null(strstr(skip_of(&p, "hy"), "hyphen"));
	assert_int_equal(p.nskips, 14);
	assert_int_equal(p.nregistry_errors, 0);
	npm_plan_free(&p);
	npm_manifest_free(&m);
	npm_packuments_free(k, 5);
}

static void test_alias_parse(void **state)
{
	char name[64];
	size_t off;

	assert_int_equal(npm_spec_alias("npm:@a/b@^1.0.0", name, sizeof(name),
					&off), 0);
	assert_string_equal(name, "@a/b");
	assert_int_equal(off, 9);
	assert_int_equal(npm_spec_alias("npm:pkg", name, sizeof(name), &off),
			 0);
	assert_string_equal(name, "pkg");
	assert_int_equal(off, 7);
	assert_int_equal(npm_spec_alias("^1.0.0", name, sizeof(name), &off),
			 AL_E_NOTFOUND);
	assert_int_equal(npm_spec_alias("npm:@1.0.0", name, sizeof(name),
					&off), AL_E_PARSE);
	assert_int_equal(npm_spec_alias("npm:a b@1", name, sizeof(name),
					&off), AL_E_PARSE);
	assert_int_equal(npm_spec_alias("npm:averyveryverylongname@1", name,
					8, &off), AL_E_PARSE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_major),
		cmocka_unit_test(test_policy_minor_patch),
		cmocka_unit_test(test_sections_and_skips),
		cmocka_unit_test(test_json_and_names),
		cmocka_unit_test(test_edge_cases),
		cmocka_unit_test(test_alias_parse),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
