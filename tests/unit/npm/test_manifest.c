/*
 * test_manifest.c - package.json parsing and byte-exact rewriting.
 *
 * Golden pairs in tests/fixtures/npm/ (X.json rewritten must equal
 * X.expected.json byte for byte) cover CRLF, tabs without a final
 * newline, a BOM with non-ASCII text, and escaped keys on one line.
 * Hostile manifests must fail with a message and leave no output.
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
#include "base/util.h"
#include "npm/manifest.h"

static void load(const char *name, struct al_buf *b)
{
	const char *src = getenv("AL_SOURCE_DIR");
	char path[4096];

	if (!src)
		fail_msg("AL_SOURCE_DIR is not set: run through ctest");
	snprintf(path, sizeof(path), "%s/tests/fixtures/npm/%s", src, name);
	memset(b, 0, sizeof(*b));
	if (al_read_file(path, 1 << 20, b) != 0)
		fail_msg("cannot read fixture %s", path);
}

static void golden(const char *base, const struct npm_edit *e, size_t n)
{
	struct al_buf in, want, out = { 0 };
	char name[256], err[256];

	snprintf(name, sizeof(name), "%s.json", base);
	load(name, &in);
	snprintf(name, sizeof(name), "%s.expected.json", base);
	load(name, &want);
	assert_int_equal(npm_manifest_rewrite(in.p, in.len, e, n, &out, err,
					      sizeof(err)), 0);
	assert_int_equal(out.len, want.len);
	assert_memory_equal(out.p, want.p, want.len);
	al_buf_free(&in);
	al_buf_free(&want);
	al_buf_free(&out);
}

static void test_crlf(void **state)
{
	const struct npm_edit e[] = {
		{ NPM_SEC_DEV, "mocha", "10.2.0", NULL },
		{ NPM_SEC_DEPS, "left-pad", "^1.3.0", NULL },
	};

	golden("crlf", e, 2);
}

static void test_tabs_no_final_newline(void **state)
{
	const struct npm_edit e[] = {
		{ NPM_SEC_DEPS, "lodash", "=4.17.21", NULL },
		{ NPM_SEC_OPTIONAL, "fsevents", "~2.3.3", NULL },
	};

	golden("tabs", e, 2);
}

static void test_bom_unicode(void **state)
{
	const struct npm_edit e[] = { { NPM_SEC_DEPS, "debug", "^2.6.10", NULL } };

	golden("bom", e, 1);
}

static void test_escaped_keys(void **state)
{
	const struct npm_edit e[] = {
		{ NPM_SEC_DEPS, "Abc", "^1.5.0", NULL },
		{ NPM_SEC_DEPS, "caf\xc3\xa9", "2.0.0", NULL },
		{ NPM_SEC_DEPS, "tab\tname", "~0.1.5", NULL },
	};

	golden("escaped", e, 3);
}

static void test_parse_offsets(void **state)
{
	struct npm_manifest m;
	struct al_buf in;
	char err[256];

	load("escaped.json", &in);
	assert_int_equal(npm_manifest_parse(in.p, in.len, &m, err,
					    sizeof(err)), 0);
	assert_int_equal(m.ndeps, 5);
	assert_string_equal(m.deps[0].name, "Abc");
	assert_string_equal(m.deps[0].spec, "^1.0.0");
	assert_int_equal(m.deps[0].section, NPM_SEC_DEPS);
	assert_string_equal(m.deps[3].name, "@scope/x");
	assert_string_equal(m.deps[4].name, "Abc");
	assert_int_equal(m.deps[4].section, NPM_SEC_DEV);
	for (size_t i = 0; i < m.ndeps; i++) {
		const struct npm_dep *d = &m.deps[i];

		assert_int_equal(in.p[d->off], '"');
		assert_int_equal(in.p[d->off + d->len - 1], '"');
		assert_int_equal(d->len, strlen(d->spec) + 2);
		assert_memory_equal(in.p + d->off + 1, d->spec, d->len - 2);
	}
	npm_manifest_free(&m);
	al_buf_free(&in);
}

static void test_escaping_new_spec(void **state)
{
	const char *in = "{\"dependencies\":{\"a\":\"1.0.0\"}}";
	const struct npm_edit e[] = { { NPM_SEC_DEPS, "a", "x\"\\\n", NULL } };
	struct npm_manifest m;
	struct al_buf out = { 0 };
	char err[256];

	assert_int_equal(npm_manifest_rewrite(in, strlen(in), e, 1, &out, err,
					      sizeof(err)), 0);
	assert_string_equal(out.p,
			    "{\"dependencies\":{\"a\":\"x\\\"\\\\\\u000a\"}}");
	assert_int_equal(npm_manifest_parse(out.p, out.len, &m, err,
					    sizeof(err)), 0);
	assert_string_equal(m.deps[0].spec, "x\"\\\n");
	npm_manifest_free(&m);
	al_buf_free(&out);
}

/* Every hostile manifest: an error, a message, and no output. */
static void expect_refused(const char *text, size_t len, int want,
			   const char *why)
{
	const struct npm_edit e[] = { { NPM_SEC_DEPS, "a", "^2.0.0", NULL } };
	struct al_buf out = { 0 };
	struct npm_manifest m;
	char err[256] = "";
	int rc;

	rc = npm_manifest_parse(text, len, &m, err, sizeof(err));
	if (rc != want)
		fail_msg("%s: parse gave %d (%s), want %d", why, rc, err, want);
	assert_true(strlen(err) > 10);
	assert_non_null(strstr(err, "package.json"));
	assert_int_equal(m.ndeps, 0);
	assert_int_equal(npm_manifest_rewrite(text, len, e, 1, &out, err,
					      sizeof(err)), want);
	assert_int_equal(out.len, 0);
	al_buf_free(&out);
}

#define REFUSE(s, rc) expect_refused(s, sizeof(s) - 1, rc, s)

static void test_hostile(void **state)
{
	struct al_buf b = { 0 };

	REFUSE("", AL_E_PARSE);
	REFUSE("[1,2]", AL_E_PARSE);
	REFUSE("{\"dependencies\":{\"a\":\"1.0.0\"}", AL_E_PARSE);
	REFUSE("{\"dependencies\":{\"a\":\"1.0.0\",}}", AL_E_PARSE);
	REFUSE("{\"dependencies\":{\"a\":'1.0.0'}}", AL_E_PARSE);
	REFUSE("{\"dependencies\":{\"a\":\"1.0.0\"}} x", AL_E_PARSE);
	REFUSE("{\"a\":01}", AL_E_PARSE);
	REFUSE("{\"a\":\"\\x\"}", AL_E_PARSE);
	REFUSE("{\"a\":\"\\ud800\"}", AL_E_PARSE);
	REFUSE("{\"a\":\"\xc0\xaf\"}", AL_E_PARSE);
	REFUSE("{\"a\":\"tab\there\"}", AL_E_PARSE);
	REFUSE("{\"a\":\"\\u0000\"}", AL_E_PARSE);
	REFUSE("{\"a\":1}\0", AL_E_PARSE);
	/* Duplicate names in a section, and a duplicate section. */
	REFUSE("{\"dependencies\":{\"a\":\"1.0.0\",\"a\":\"2.0.0\"}}",
	       AL_E_PARSE);
	REFUSE("{\"dependencies\":{\"\\u0061\":\"1.0.0\",\"a\":\"2.0.0\"}}",
	       AL_E_PARSE);
	REFUSE("{\"dependencies\":{},\"dependencies\":{\"a\":\"1\"}}",
	       AL_E_PARSE);
	/* Specs and sections of the wrong type. */
	REFUSE("{\"dependencies\":{\"a\":1}}", AL_E_PARSE);
	REFUSE("{\"dependencies\":{\"a\":{\"version\":\"1\"}}}", AL_E_PARSE);
	REFUSE("{\"dependencies\":[\"a\"]}", AL_E_PARSE);
	REFUSE("{\"devDependencies\":null}", AL_E_PARSE);

	/* 100-deep nesting, inside and outside a section. */
	al_buf_puts(&b, "{\"x\":");
	for (int i = 0; i < 100; i++)
		al_buf_puts(&b, "[");
	for (int i = 0; i < 100; i++)
		al_buf_puts(&b, "]");
	al_buf_puts(&b, ",\"dependencies\":{\"a\":\"1.0.0\"}}");
	expect_refused(b.p, b.len, AL_E_LIMIT, "100 deep");
	b.len = 0;
	for (int i = 0; i < 100; i++)
		al_buf_puts(&b, "{\"a\":");
	al_buf_puts(&b, "1");
	for (int i = 0; i < 100; i++)
		al_buf_puts(&b, "}");
	expect_refused(b.p, b.len, AL_E_LIMIT, "100 deep objects");
	al_buf_free(&b);
}

static void test_huge(void **state)
{
	size_t n = NPM_MANIFEST_MAX_SIZE + 16;
	char *big = malloc(n);
	int i;

	assert_non_null(big);
	memset(big, ' ', n);
	memcpy(big, "{\"dependencies\":{\"a\":\"1.0.0\"}}", 30);
	expect_refused(big, n, AL_E_LIMIT, "huge");

	/* Within the size cap but past the dependency-count cap. */
	n = 0;
	n += (size_t)snprintf(big + n, 64, "{\"dependencies\":{");
	for (i = 0; i <= NPM_MANIFEST_MAX_DEPS; i++)
		n += (size_t)snprintf(big + n, 64, "%s\"p%d\":\"1\"",
				      i ? "," : "", i);
	n += (size_t)snprintf(big + n, 64, "}}");
	expect_refused(big, n, AL_E_LIMIT, "many deps");
	free(big);
}

static void test_missing_edit(void **state)
{
	const char *in = "{\"dependencies\":{\"a\":\"1.0.0\"}}";
	const struct npm_edit e1[] = { { NPM_SEC_DEV, "a", "2.0.0", NULL } };
	const struct npm_edit e2[] = { { NPM_SEC_DEPS, "a", "2.0.0", NULL },
				       { NPM_SEC_DEPS, "a", "3.0.0", NULL } };
	struct al_buf out = { 0 };
	char err[256];

	assert_int_equal(npm_manifest_rewrite(in, strlen(in), e1, 1, &out, err,
					      sizeof(err)), AL_E_NOTFOUND);
	assert_int_equal(out.len, 0);
	assert_non_null(strstr(err, "devDependencies"));
	assert_int_equal(npm_manifest_rewrite(in, strlen(in), e2, 2, &out, err,
					      sizeof(err)), AL_E_USAGE);
	assert_int_equal(out.len, 0);
	al_buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_tabs_no_final_newline),
		cmocka_unit_test(test_bom_unicode),
		cmocka_unit_test(test_escaped_keys),
		cmocka_unit_test(test_parse_offsets),
		cmocka_unit_test(test_escaping_new_spec),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_huge),
		cmocka_unit_test(test_missing_edit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
