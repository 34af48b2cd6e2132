/*
 * testout.c - read a test runner's output (see testout.h).
 *
 * Formats, as their runners print them (seen with node 20's runner,
 * tape 5, mocha 10 and jest 29):
 *  - TAP (tape, node --test --test-reporter=tap): "not ok 3 - name",
 *    indented for subtests; "# tests 5", "# pass 4", "# fail 1"; tape
 *    names a test in a comment line ("# name") above its assertions.
 *  - node's spec reporter (the default on a terminal): "✖ name (1.2ms)",
 *    "▶ suite" above a suite's tests, "ℹ tests 5", "ℹ pass 4".
 *  - mocha: "  3 passing (12ms)", "  1 failing", then each failure as
 *    "  1) suite" and more indented lines down to the test's "name:".
 *  - jest: "Tests:       1 failed, 5 passed, 6 total", "  ● suite › name".
 */
#include "job/testout.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"

/* What a parse carries from line to line. */
struct testout_state {
	struct testout *t;
	char comment[TESTOUT_NAME_MAX];   /* tape: the current test */
	char pending[TESTOUT_NAME_MAX];   /* mocha: a failure's name so far */
	size_t pending_indent;
	bool pending_on;
	char suites[16][64];              /* spec: "▶ name" headers seen */
	size_t nsuites;
};

size_t testout_strip_controls(char *buf, size_t len)
{
	size_t r = 0, w = 0;

	while (r < len) {
		unsigned char c = (unsigned char)buf[r];
		/* C1 CSI and OSC as UTF-8 (U+009B, U+009D) start sequences
		 * like ESC [ and ESC ]. */
		bool c1 = c == 0xc2 && r + 1 < len &&
			  ((unsigned char)buf[r + 1] == 0x9b ||
			   (unsigned char)buf[r + 1] == 0x9d);
		if (c != 0x1b && !c1) {
			buf[w++] = buf[r++];
			continue;
		}
		char kind = c1 ? ((unsigned char)buf[r + 1] == 0x9b ? '['
								    : ']')
			       : (r + 1 < len ? buf[r + 1] : '\0');
		r += 2;
		if (kind == '[') {
			/* CSI: parameters and intermediates, one final
			 * byte in 0x40-0x7e. */
			while (r < len && ((unsigned char)buf[r] < 0x40 ||
					   (unsigned char)buf[r] > 0x7e) &&
			       buf[r] != '\n')
				r++;
			if (r < len && buf[r] != '\n')
				r++;
		} else if (kind == ']' || kind == 'P' || kind == '_' ||
			   kind == '^' || kind == 'X') {
			/* OSC, DCS and the like: up to BEL or ESC \ . */
			while (r < len && buf[r] != '\a' && buf[r] != '\n' &&
			       !(buf[r] == 0x1b && r + 1 < len &&
				 buf[r + 1] == '\\'))
				r++;
			if (r < len && buf[r] == '\a')
				r++;
			else if (r < len && buf[r] == 0x1b)
				r += 2;
		} else if (kind == '\n' || kind == '\0') {
			r--; /* a lone ESC: the newline stays */
		}
	}
	return w;
}

/* Parse a run of digits at *p; -1 if none. Advances *p past them. */
static long testout_num(const char **p, const char *end)
{
	long v = 0;
	const char *s = *p;

	while (s < end && *s == ' ')
		s++;
	if (s >= end || !isdigit((unsigned char)*s))
		return -1;
	while (s < end && isdigit((unsigned char)*s) && v < 100000000)
		v = v * 10 + (*s++ - '0');
	*p = s;
	return v;
}

static bool testout_prefix(const char *line, const char *end, const char *pfx)
{
	size_t n = strlen(pfx);
	return (size_t)(end - line) >= n && memcmp(line, pfx, n) == 0;
}

static const char *testout_skip_spaces(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/* Copy [s, end) trimmed into dst (size TESTOUT_NAME_MAX), made safe. */
static void testout_copy(char *dst, const char *s, const char *end)
{
	while (s < end && (*s == ' ' || *s == '-' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\r'))
		end--;
	size_t n = (size_t)(end - s);
	if (n >= TESTOUT_NAME_MAX)
		n = TESTOUT_NAME_MAX - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	al_utf8_repair(dst, n);
	al_sanitize_text(dst);
}

/* Append s to dst (size bytes), cutting what does not fit. */
static void testout_cat(char *dst, size_t size, const char *s)
{
	size_t n = strlen(dst), m = strlen(s);

	if (n + 1 >= size)
		return;
	if (m > size - n - 1)
		m = size - n - 1;
	memcpy(dst + n, s, m);
	dst[n + m] = '\0';
}

/* Keep a failing test's name once; runners repeat them in summaries. */
static void testout_add(struct testout *t, const char *name)
{
	if (!name[0] || t->nfailing >= TESTOUT_MAX_NAMES)
		return;
	for (size_t i = 0; i < t->nfailing; i++)
		if (!strcmp(t->failing[i], name))
			return;
	char *dst = t->failing[t->nfailing++];
	al_strlcpy(dst, name, TESTOUT_NAME_MAX);
	/* A joined name may have been cut inside a character. */
	al_utf8_repair(dst, strlen(dst));
}

static void testout_add_name(struct testout *t, const char *s, const char *end)
{
	char name[TESTOUT_NAME_MAX];

	testout_copy(name, s, end);
	testout_add(t, name);
}

/* A "# word N" count line of TAP; true when it was one. */
static bool testout_tap_count(struct testout *t, const char *p, const char *e)
{
	static const char *const keys[] = {"tests ", "pass ", "fail ",
					   "suites ", "cancelled ", "skipped ",
					   "todo ", "duration_ms ", "ok"};
	const char *q;

	for (size_t i = 0; i < AL_ARRAY_LEN(keys); i++) {
		if (!testout_prefix(p, e, keys[i]))
			continue;
		q = p + strlen(keys[i]);
		if (i == 0)
			t->ran = testout_num(&q, e);
		else if (i == 1)
			t->passed = testout_num(&q, e);
		else if (i == 2)
			t->failed = testout_num(&q, e);
		if (i <= 2)
			t->known = true;
		return true;
	}
	return false;
}

static void testout_tap_line(struct testout_state *st, const char *l,
			     const char *e)
{
	struct testout *t = st->t;
	const char *p = testout_skip_spaces(l, e);

	if (testout_prefix(p, e, "not ok ")) {
		p += 7;
		testout_num(&p, e);
		/* TAP's todo and skip directives (any case) are not
		 * failures. */
		const char *hash = memchr(p, '#', (size_t)(e - p));
		if (hash && e - hash >= 6 &&
		    (strncasecmp(hash, "# todo", 6) == 0 ||
		     strncasecmp(hash, "# skip", 6) == 0))
			return;
		char what[TESTOUT_NAME_MAX], name[TESTOUT_NAME_MAX];
		testout_copy(what, p, hash ? hash : e);
		/* tape: the test is the comment, the line its assertion. */
		if (st->comment[0] && strcmp(st->comment, what)) {
			al_strlcpy(name, st->comment, sizeof(name));
			testout_cat(name, sizeof(name), " \xe2\x80\xba ");
			testout_cat(name, sizeof(name), what);
			testout_add(t, name);
		} else {
			testout_add(t, what);
		}
		return;
	}
	if (l != p || !testout_prefix(p, e, "# "))
		return;
	p += 2;
	if (testout_tap_count(t, p, e))
		return;
	/* node's TAP announces each test ("# Subtest: x"), then names it
	 * in its own "not ok" line. */
	if (testout_prefix(p, e, "Subtest: "))
		st->comment[0] = '\0';
	else
		testout_copy(st->comment, p, e);
}

/* node's spec reporter. */
static void testout_spec_line(struct testout_state *st, const char *l,
			      const char *e)
{
	static const char cross[] = "\xe2\x9c\x96 ";  /* U+2716 */
	static const char info[] = "\xe2\x84\xb9 ";   /* U+2139 */
	static const char suite[] = "\xe2\x96\xb6 ";  /* U+25B6 */
	struct testout *t = st->t;
	const char *p = testout_skip_spaces(l, e);
	char name[TESTOUT_NAME_MAX];

	if (testout_prefix(p, e, info)) {
		p += sizeof(info) - 1;
		testout_tap_count(t, p, e);
		return;
	}
	if (testout_prefix(p, e, suite)) {
		if (st->nsuites < AL_ARRAY_LEN(st->suites)) {
			testout_copy(name, p + sizeof(suite) - 1, e);
			al_strlcpy(st->suites[st->nsuites++], name,
				   sizeof(st->suites[0]));
		}
		return;
	}
	if (!testout_prefix(p, e, cross))
		return;
	p += sizeof(cross) - 1;
	/* The duration at the end is no part of the name. */
	const char *q = e;
	while (q > p && (q[-1] == ' ' || q[-1] == '\r'))
		q--;
	if (q > p && q[-1] == ')') {
		const char *open = q;
		while (open > p && open[-1] != '(')
			open--;
		if (open > p && q - open >= 3 && !memcmp(q - 3, "ms)", 3))
			q = open - 1;
	}
	testout_copy(name, p, q);
	if (!strcmp(name, "failing tests:"))
		return;
	/* A suite fails with its tests: the tests are named already. */
	for (size_t i = 0; i < st->nsuites; i++)
		if (!strncmp(st->suites[i], name, sizeof(st->suites[0]) - 1))
			return;
	testout_add(t, name);
}

/*
 * mocha: "  12 passing (30ms)", "  2 failing"; a failure is "  1) a b:"
 * or "  1) suite" followed by lines indented deeper, the last ending in
 * ':' ("       test:"), the words joined by spaces.
 */
static void testout_mocha_line(struct testout_state *st, const char *l,
			       const char *e)
{
	struct testout *t = st->t;
	const char *p = testout_skip_spaces(l, e);
	size_t indent = (size_t)(p - l);

	if (st->pending_on) {
		if (p == e || indent <= st->pending_indent) {
			st->pending_on = false;
		} else {
			bool last = e[-1] == ':';
			char part[TESTOUT_NAME_MAX];
			testout_copy(part, p, last ? e - 1 : e);
			testout_cat(st->pending, sizeof(st->pending), " ");
			testout_cat(st->pending, sizeof(st->pending), part);
			if (last) {
				testout_add(t, st->pending);
				st->pending_on = false;
			}
			return;
		}
	}
	const char *num = p;
	long n = testout_num(&p, e);
	if (n < 0)
		return;
	if (testout_prefix(p, e, " passing")) {
		t->passed = n;
		t->known = true;
	} else if (testout_prefix(p, e, " failing")) {
		t->failed = n;
		t->known = true;
	} else if (testout_prefix(p, e, ") ") && num - l >= 2) {
		if (e > p && e[-1] == ':') {
			testout_add_name(t, p + 2, e - 1);
			return;
		}
		testout_copy(st->pending, p + 2, e);
		st->pending_indent = indent;
		st->pending_on = true;
	}
}

/* jest: "Tests:       1 failed, 5 passed, 6 total", "  ● suite › name". */
static void testout_jest_line(struct testout *t, const char *l, const char *e)
{
	static const char bullet[] = "\xe2\x97\x8f "; /* U+25CF */
	const char *p = testout_skip_spaces(l, e);

	if (testout_prefix(p, e, bullet)) {
		/* Jest's own "● Console" blocks and "● Test suite failed to
		 * run" are no test names. */
		if (!testout_prefix(p + sizeof(bullet) - 1, e, "Console"))
			testout_add_name(t, p + sizeof(bullet) - 1, e);
		return;
	}
	if (!testout_prefix(p, e, "Tests:"))
		return;
	p += 6;
	while (p < e) {
		while (p < e && !isdigit((unsigned char)*p))
			p++;
		long n = testout_num(&p, e);
		if (n < 0)
			break;
		if (testout_prefix(p, e, " failed"))
			t->failed = n;
		else if (testout_prefix(p, e, " passed"))
			t->passed = n;
		else if (testout_prefix(p, e, " total"))
			t->ran = n;
		t->known = true;
	}
}

void testout_parse(const char *out, size_t len, struct testout *t)
{
	struct testout_state *st = calloc(1, sizeof(*st));
	char *buf = malloc(len + 1);

	memset(t, 0, sizeof(*t));
	t->ran = t->passed = t->failed = -1;
	if (!st || !buf)
		goto out;
	memcpy(buf, out, len);
	/* Colours and cursor movement are not text: a name coloured red
	 * must read as the name. */
	len = testout_strip_controls(buf, len);
	st->t = t;
	for (const char *p = buf, *end = buf + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		testout_tap_line(st, p, e);
		testout_spec_line(st, p, e);
		testout_mocha_line(st, p, e);
		testout_jest_line(t, p, e);
		p = nl ? nl + 1 : end;
	}
	if (t->ran < 0 && t->passed >= 0)
		t->ran = t->passed + (t->failed > 0 ? t->failed : 0);
	if (t->failed < 0 && t->ran >= 0 && t->passed >= 0)
		t->failed = t->ran - t->passed;
out:
	free(buf);
	free(st);
}

json_t *testout_json(const struct testout *t)
{
	if (!t->known)
		return json_null();
	json_t *names = json_array();
	for (size_t i = 0; i < t->nfailing; i++)
		json_array_append_new(names, json_string(t->failing[i]));
	return json_pack("{s:I,s:I,s:I,s:o}", "ran", (json_int_t)t->ran,
			 "passed", (json_int_t)t->passed, "failed",
			 (json_int_t)t->failed, "failing", names);
}
