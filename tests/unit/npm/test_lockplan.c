/*
 * test_lockplan.c - the parts of the plan that read more than one
 * dependency section: peerDependencies widened, overrides (nested, $ref),
 * workspaces, bundled dependencies, allowScripts pins, and lockfile-only
 * updates against lockfiles v1, v2 and v3 (no network: hand-made
 * packuments; lockfile texts as npm 11 writes them).
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
#include "npm/lockfile.h"
#include "npm/plan.h"

static void make_pk(struct npm_packument *p, const char *name,
		    const char *latest, const char *versions)
{
	char body[4096], list[2048], tok[64];
	size_t o = 0;
	const char *s = versions;
	int n;

	while (sscanf(s, "%63s%n", tok, &n) == 1) {
		o += (size_t)snprintf(list + o, sizeof(list) - o,
				      "%s\"%s\":{}", o ? "," : "", tok);
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
				    const char *name, enum npm_section sec)
{
	for (size_t i = 0; i < p->nupdates; i++)
		if (!strcmp(p->updates[i].name, name) &&
		    p->updates[i].section == sec)
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

static void parse(const char *text, struct npm_manifest *m)
{
	char err[256];

	assert_int_equal(npm_manifest_parse(text, strlen(text), m, err,
					    sizeof(err)), 0);
}

static void test_manifest_sections(void **state)
{
	const char *t =
		"{\"name\":\"root\",\"workspaces\":{\"packages\":[\"a\","
		"\"b/*\"],\"nohoist\":[\"x\"]},\"peerDependencies\":"
		"{\"p\":\"^1.0.0\"},\"overrides\":{\"foo\":\"1.0.0\","
		"\"bar@^2\":{\".\":\"2.1.0\",\"baz\":\"$baz\"},"
		"\"@s/q@1\":{\"r\":{\"t\":\"~3.0.0\"}}},"
		"\"bundledDependencies\":[\"bd\"],"
		"\"allowScripts\":{\"sharp@0.33.0\":true}}";
	struct npm_manifest m;
	struct npm_manifest m2;
	char err[256];

	parse(t, &m);
	assert_string_equal(m.name, "root");
	assert_int_equal(m.nworkspaces, 2);
	assert_string_equal(m.workspaces[1], "b/*");
	assert_int_equal(m.nbundled, 1);
	assert_string_equal(m.bundled[0], "bd");
	assert_int_equal(m.nallow_scripts, 1);
	assert_int_equal(m.ndeps, 5);
	assert_int_equal(m.deps[0].section, NPM_SEC_PEER);
	assert_null(m.deps[0].path);
	assert_string_equal(m.deps[1].path, "foo");
	assert_string_equal(m.deps[2].name, "bar");
	assert_string_equal(m.deps[2].path, "bar@^2 > .");
	assert_string_equal(m.deps[3].name, "baz");
	assert_string_equal(m.deps[3].spec, "$baz");
	assert_string_equal(m.deps[4].name, "t");
	assert_string_equal(m.deps[4].path, "@s/q@1 > r > t");
	npm_manifest_free(&m);

	/* Same key at two paths is fine; twice at one path is not. */
	parse("{\"overrides\":{\"a\":{\"c\":\"1.0.0\"},\"b\":{\"c\":\"1.0.0\"}}}",
	      &m2);
	npm_manifest_free(&m2);
	const char *dup = "{\"overrides\":{\"a\":{\"c\":\"1\",\"c\":\"2\"}}}";
	assert_int_equal(npm_manifest_parse(dup, strlen(dup), &m2, err,
					    sizeof(err)), AL_E_PARSE);
	const char *num = "{\"overrides\":{\"a\":1}}";
	assert_int_equal(npm_manifest_parse(num, strlen(num), &m2, err,
					    sizeof(err)), AL_E_PARSE);
	const char *ws = "{\"workspaces\":[1]}";
	assert_int_equal(npm_manifest_parse(ws, strlen(ws), &m2, err,
					    sizeof(err)), AL_E_PARSE);
}

static void test_rewrite_override_and_peer(void **state)
{
	const char *in = "{\n\t\"peerDependencies\": {\"h\": \"^1.0.0\"},\n"
			 "\t\"overrides\": {\"a\": {\"h\": \"1.0.0\"}, "
			 "\"h\": \"1.0.0\"}\n}\n";
	const char *want = "{\n\t\"peerDependencies\": {\"h\": \"^1.0.0 || "
			   "^2.0.0\"},\n\t\"overrides\": {\"a\": {\"h\": "
			   "\"2.0.0\"}, \"h\": \"1.0.0\"}\n}\n";
	const struct npm_edit e[] = {
		{ NPM_SEC_OVERRIDES, "h", "2.0.0", "a > h" },
		{ NPM_SEC_PEER, "h", "^1.0.0 || ^2.0.0", NULL },
	};
	struct al_buf out = { 0 };
	char err[256];

	assert_int_equal(npm_manifest_rewrite(in, strlen(in), e, 2, &out, err,
					      sizeof(err)), 0);
	assert_string_equal(out.p, want);
	al_buf_free(&out);
}

static void test_peer_widen(void **state)
{
	const char *t = "{\"peerDependencies\":{\"h\":\"^1.0.0\","
			"\"cur\":\"^2.0.0\",\"u\":\"^1.0.0 || ^2.0.0\","
			"\"z\":\"^0.3.0\",\"star\":\"*\"}}";
	struct npm_packument k[4];
	struct npm_manifest m;
	struct npm_plan p = { 0 };

	make_pk(&k[0], "h", "2.1.0", "1.0.0 1.4.0 2.0.0 2.1.0");
	make_pk(&k[1], "cur", "2.3.0", "2.0.0 2.3.0");
	make_pk(&k[2], "u", "3.0.0", "1.0.0 2.0.0 3.0.0");
	make_pk(&k[3], "z", "0.5.1", "0.3.0 0.5.1");
	parse(t, &m);
	assert_int_equal(npm_plan_build(&m, k, 4, NPM_POLICY_MAJOR, &p), 0);
	assert_string_equal(upd(&p, "h", NPM_SEC_PEER)->to,
			    "^1.0.0 || ^2.0.0");
	assert_int_equal(upd(&p, "h", NPM_SEC_PEER)->kind, NPM_KIND_WIDEN);
	assert_string_equal(upd(&p, "u", NPM_SEC_PEER)->to,
			    "^1.0.0 || ^2.0.0 || ^3.0.0");
	assert_string_equal(upd(&p, "z", NPM_SEC_PEER)->to,
			    "^0.3.0 || ^0.5.0");
	/* In range already: a peer is never narrowed or raised. */
	assert_null(upd(&p, "cur", NPM_SEC_PEER));
	assert_non_null(strstr(skip_of(&p, "star"), "never rewritten"));
	assert_int_equal(p.nupdates, 3);
	npm_plan_free(&p);
	npm_manifest_free(&m);
	npm_packuments_free(k, 4);
}

static void test_skips_with_reasons(void **state)
{
	const char *t = "{\"dependencies\":{\"b\":\"^1.0.0\",\"bd\":\"1.0.0\","
			"\"sharp\":\"0.33.0\"},\"bundleDependencies\":[\"bd\"],"
			"\"overrides\":{\"sharp\":\"$sharp\"},"
			"\"allowScripts\":{\"sharp@0.33.0\":true}}";
	const char *const members[] = { "b" };
	struct npm_packument k[3];
	struct npm_manifest m;
	struct npm_plan p = { 0 };

	make_pk(&k[0], "b", "9.0.0", "1.0.0 9.0.0");
	make_pk(&k[1], "bd", "2.0.0", "1.0.0 2.0.0");
	make_pk(&k[2], "sharp", "0.34.1", "0.33.0 0.34.1");
	parse(t, &m);
	assert_int_equal(npm_plan_build_file(&m, "packages/a/package.json",
					     "packages/a", NULL, members, 1,
					     k, 3, NPM_POLICY_MAJOR, &p), 0);
	assert_non_null(strstr(skip_of(&p, "b"), "workspace member"));
	assert_non_null(strstr(skip_of(&p, "bd"), "bundled"));
	assert_non_null(strstr(skip_of(&p, "sharp"), "$reference"));
	assert_string_equal(p.skips[0].file, "packages/a/package.json");
	const struct npm_update *u = upd(&p, "sharp", NPM_SEC_DEPS);
	assert_non_null(u);
	assert_string_equal(u->file, "packages/a/package.json");
	assert_non_null(u->note);
	assert_non_null(strstr(u->note, "sharp@0.33.0"));
	assert_non_null(strstr(u->note, "sharp@0.34.1"));
	assert_int_equal(p.nupdates, 1);
	npm_plan_free(&p);
	npm_manifest_free(&m);
	npm_packuments_free(k, 3);
}

/* Lockfiles as npm 11 writes them (trimmed to the entries read). */
static const char lock_v1[] =
	"{\"name\":\"x\",\"lockfileVersion\":1,\"requires\":true,"
	"\"dependencies\":{\"a\":{\"version\":\"1.0.0\"},"
	"\"al\":{\"version\":\"npm:real@1.0.0\"},\"s\":{\"version\":"
	"\"1.0.0\"}}}";
static const char lock_v3[] =
	"{\"name\":\"x\",\"lockfileVersion\":3,\"requires\":true,"
	"\"packages\":{\"\":{\"name\":\"x\"},"
	"\"node_modules/a\":{\"version\":\"1.0.0\"},"
	"\"node_modules/al\":{\"name\":\"real\",\"version\":\"1.0.0\"},"
	"\"node_modules/s\":{\"version\":\"1.0.0\"},"
	"\"packages/w/node_modules/a\":{\"version\":\"1.1.0\"}}}";

static void test_lock_parse(void **state)
{
	struct npm_lock l;
	char err[256];
	const char *bad[] = {
		"{\"lockfileVersion\":4}", "{\"lockfileVersion\":\"3\"}",
		"[]", "{\"lockfileVersion\":3,\"packages\":[]}",
		"{\"lockfileVersion\":3,\"a\":1,\"a\":2}", "{",
	};

	assert_int_equal(npm_lock_parse(lock_v1, sizeof(lock_v1) - 1, &l,
					err, sizeof(err)), 0);
	assert_int_equal(l.version, 1);
	assert_string_equal(npm_lock_version_of(&l, "", "a"), "1.0.0");
	/* v1 writes an alias's version with its real name (edge case 4). */
	assert_string_equal(npm_lock_version_of(&l, "", "al"), "1.0.0");
	assert_null(npm_lock_version_of(&l, "", "real"));
	npm_lock_free(&l);
	assert_int_equal(npm_lock_parse(lock_v3, sizeof(lock_v3) - 1, &l,
					err, sizeof(err)), 0);
	assert_int_equal(l.version, 3);
	assert_string_equal(npm_lock_name_of(&l, "", "al"), "real");
	assert_string_equal(npm_lock_version_of(&l, "packages/w", "a"),
			    "1.1.0");
	/* Not nested under the member: the hoisted copy. */
	assert_string_equal(npm_lock_version_of(&l, "packages/w", "s"),
			    "1.0.0");
	npm_lock_free(&l);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(npm_lock_parse(bad[i], strlen(bad[i]), &l,
						err, sizeof(err)), AL_E_PARSE);
}

/* Edge cases 13, 14, 17, 18 with a lockfile: in range, only the lock
 * moves; out of range, the range is rewritten. */
static void test_lockfile_only(void **state)
{
	const char *t = "{\"dependencies\":{\"a\":\"^1.0.0\",\"s\":\"*\","
			"\"al\":\"npm:real@^1.0.0\",\"new\":\"^2.3.4\"}}";
	const char *locks[] = { lock_v1, lock_v3 };
	struct npm_packument k[4];
	struct npm_manifest m;

	make_pk(&k[0], "a", "1.2.0", "1.0.0 1.1.0 1.2.0");
	make_pk(&k[1], "s", "3.0.0", "1.0.0 3.0.0");
	make_pk(&k[2], "real", "2.0.0", "1.0.0 1.5.0 2.0.0");
	make_pk(&k[3], "new", "2.4.5", "2.3.4 2.4.5");
	parse(t, &m);
	for (size_t i = 0; i < 2; i++) {
		struct npm_plan p = { 0 };
		struct npm_lock l;
		char err[256];

		assert_int_equal(npm_lock_parse(locks[i], strlen(locks[i]), &l,
						err, sizeof(err)), 0);
		assert_int_equal(npm_plan_build_file(&m, "package.json", "",
						     &l, NULL, 0, k, 4,
						     NPM_POLICY_MAJOR, &p), 0);
		const struct npm_update *a = upd(&p, "a", NPM_SEC_DEPS);
		assert_int_equal(a->kind, NPM_KIND_LOCKFILE);
		assert_string_equal(a->to, "^1.0.0");
		assert_string_equal(a->locked, "1.0.0");
		assert_string_equal(a->version, "1.2.0");
		assert_int_equal(a->bump, NPM_BUMP_MINOR);
		/* "*" is never rewritten, but its lock follows. */
		assert_int_equal(upd(&p, "s", NPM_SEC_DEPS)->kind,
				 NPM_KIND_LOCKFILE);
		assert_string_equal(upd(&p, "s", NPM_SEC_DEPS)->version,
				    "3.0.0");
		/* Out of range: the alias's range is rewritten. */
		assert_int_equal(upd(&p, "al", NPM_SEC_DEPS)->kind,
				 NPM_KIND_RANGE);
		assert_string_equal(upd(&p, "al", NPM_SEC_DEPS)->to,
				    "npm:real@^2.0.0");
		/* Not in the lockfile: planned as without one. */
		assert_string_equal(upd(&p, "new", NPM_SEC_DEPS)->to, "^2.4.5");
		assert_int_equal(p.nupdates, 4);
		npm_plan_free(&p);

		/* Policy patch: 1.2.0 is a minor jump from the lock. */
		assert_int_equal(npm_plan_build_file(&m, "package.json", "",
						     &l, NULL, 0, k, 4,
						     NPM_POLICY_PATCH, &p), 0);
		assert_null(upd(&p, "a", NPM_SEC_DEPS));
		assert_non_null(strstr(skip_of(&p, "a"), "in-range"));
		npm_plan_free(&p);
		npm_lock_free(&l);
	}
	npm_manifest_free(&m);
	npm_packuments_free(k, 4);
}

static void test_json_fields(void **state)
{
	const char *t = "{\"overrides\":{\"a\":{\"b\":\"1.0.0\"}}}";
	struct npm_packument k[1];
	struct npm_manifest m;
	struct npm_plan p = { 0 };

	make_pk(&k[0], "b", "1.1.0", "1.0.0 1.1.0");
	parse(t, &m);
	assert_int_equal(npm_plan_build(&m, k, 1, NPM_POLICY_MAJOR, &p), 0);
	json_t *j = npm_plan_json(&p);
	json_t *u = json_array_get(json_object_get(j, "updates"), 0);
	assert_string_equal(json_string_value(json_object_get(u, "path")),
			    "a > b");
	assert_string_equal(json_string_value(json_object_get(u, "section")),
			    "overrides");
	assert_string_equal(json_string_value(json_object_get(u, "kind")),
			    "range");
	assert_string_equal(json_string_value(json_object_get(u, "file")),
			    "package.json");
	json_decref(j);
	npm_plan_free(&p);
	npm_manifest_free(&m);
	npm_packuments_free(k, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manifest_sections),
		cmocka_unit_test(test_rewrite_override_and_peer),
		cmocka_unit_test(test_peer_widen),
		cmocka_unit_test(test_skips_with_reasons),
		cmocka_unit_test(test_lock_parse),
		cmocka_unit_test(test_lockfile_only),
		cmocka_unit_test(test_json_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
