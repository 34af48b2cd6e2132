#include "job/testout.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"

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

static void testout_add_name(struct testout *t, const char *s, const char *end)
{
	while (s < end && (*s == ' ' || *s == '-' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\r'))
		end--;
	if (t->nfailing >= TESTOUT_MAX_NAMES || s == end)
		return;
	size_t n = (size_t)(end - s);
	if (n >= TESTOUT_NAME_MAX)
		n = TESTOUT_NAME_MAX - 1;
	char *dst = t->failing[t->nfailing++];
	memcpy(dst, s, n);
	dst[n] = '\0';
	al_utf8_repair(dst, n);
	al_sanitize_text(dst);
}

/* TAP: "not ok 3 - name", "# tests 5", "# pass 4", "# fail 1". */
static void testout_tap_line(struct testout *t, const char *l, const char *e)
{
	const char *p;

	if (testout_prefix(l, e, "not ok ")) {
		p = l + 7;
		testout_num(&p, e);
		/* TAP's todo and skip directives (any case) are not
		 * failures. */
		const char *hash = memchr(p, '#', (size_t)(e - p));
		if (hash && e - hash >= 6 &&
		    (strncasecmp(hash, "# todo", 6) == 0 ||
		     strncasecmp(hash, "# skip", 6) == 0))
			return;
		testout_add_name(t, p, hash ? hash : e);
		return;
	}
	if (testout_prefix(l, e, "# tests ")) {
		p = l + 8;
		t->ran = testout_num(&p, e);
		t->known = true;
	} else if (testout_prefix(l, e, "# pass ")) {
		p = l + 7;
		t->passed = testout_num(&p, e);
		t->known = true;
	} else if (testout_prefix(l, e, "# fail ")) {
		p = l + 7;
		t->failed = testout_num(&p, e);
		t->known = true;
	}
}

/* mocha: "  12 passing (30ms)", "  2 failing", "  1) suite test:". */
static void testout_mocha_line(struct testout *t, const char *l, const char *e)
{
	const char *p = l;
	while (p < e && *p == ' ')
		p++;
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
	} else if (testout_prefix(p, e, ") ") && num - l >= 2 &&
		   e > p && e[-1] == ':') {
		testout_add_name(t, p + 2, e - 1);
	}
}

/* jest: "Tests:       1 failed, 5 passed, 6 total", "  ● suite › name". */
static void testout_jest_line(struct testout *t, const char *l, const char *e)
{
	static const char bullet[] = "\xe2\x97\x8f "; /* U+25CF */
	const char *p = l;

	while (p < e && *p == ' ')
		p++;
	if (testout_prefix(p, e, bullet)) {
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
	const char *p = out, *end = out + len;

	memset(t, 0, sizeof(*t));
	t->ran = t->passed = t->failed = -1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		testout_tap_line(t, p, e);
		testout_mocha_line(t, p, e);
		testout_jest_line(t, p, e);
		p = nl ? nl + 1 : end;
	}
	if (t->ran < 0 && t->passed >= 0)
		t->ran = t->passed + (t->failed > 0 ? t->failed : 0);
	if (t->failed < 0 && t->ran >= 0 && t->passed >= 0)
		t->failed = t->ran - t->passed;
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
