/*
 * npmrc.c - read the release-age settings of a repository's .npmrc (see
 * npmrc.h). The line rules follow npm's ini reader: a line is split at
 * its first '=', ';' and '#' start comments, "[name]" at the start of a
 * line opens a section, the last value of a key counts.
 */
#include "npm/npmrc.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "base/fs.h"
#include "base/util.h"

#define NR_DAY_MS 86400000LL

static void nr_trim(const char **s, const char **e)
{
	while (*s < *e && (**s == ' ' || **s == '\t'))
		(*s)++;
	while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

/* Quotes around [s, e) removed; without quotes, an inline comment. */
static void nr_unquote(const char **s, const char **e)
{
	const char *c;

	nr_trim(s, e);
	if (*e - *s >= 2 && (**s == '"' || **s == '\'') && (*e)[-1] == **s) {
		(*s)++;
		(*e)--;
		return;
	}
	for (c = *s; c < *e && *c != ';' && *c != '#'; c++)
		;
	*e = c;
	nr_trim(s, e);
}

static void nr_note(struct npm_npmrc *rc, const char *key, const char *s,
		    const char *e, const char *want)
{
	size_t n = (size_t)(e - s);
	char shown[48];

	/* The value is the repository's: printable ASCII only. */
	n = n < sizeof(shown) - 1 ? n : sizeof(shown) - 1;
	for (size_t i = 0; i < n; i++)
		shown[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	shown[n] = '\0';
	if (!rc->note[0])
		snprintf(rc->note, sizeof(rc->note), ".npmrc %s = '%s%s' is "
			 "not understood (%s): ignored", key, shown,
			 (size_t)(e - s) > n ? "..." : "", want);
}

/* DIGITS[.DIGITS] days into ms; false for any other form. */
static bool nr_days(const char *s, const char *e, int64_t *ms)
{
	int64_t whole = 0, frac = 0, scale = 1;
	const char *c = s;

	for (; c < e && *c >= '0' && *c <= '9'; c++) {
		whole = whole * 10 + (*c - '0');
		if (whole > NPM_NPMRC_AGE_MAX_DAYS)
			return false;
	}
	if (c == s)
		return false;
	if (c < e && *c == '.') {
		if (++c == e)
			return false;
		for (; c < e && *c >= '0' && *c <= '9'; c++)
			if (scale < 1000000000) {
				frac = frac * 10 + (*c - '0');
				scale *= 10;
			}
	}
	if (c != e)
		return false;
	*ms = whole * NR_DAY_MS + frac * NR_DAY_MS / scale;
	return true;
}

/* Exactly n digits at *s into *v. */
static bool nr_num(const char **s, const char *e, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++, (*s)++) {
		if (*s >= e || **s < '0' || **s > '9')
			return false;
		*v = *v * 10 + (**s - '0');
	}
	return true;
}

static bool nr_lit(const char **s, const char *e, char c)
{
	if (*s >= e || **s != c)
		return false;
	(*s)++;
	return true;
}

/* The time part after 'T': HH:MM[:SS[.fff]] then Z or an offset. */
static bool nr_clock(const char *s, const char *e, struct tm *tm, int *ms,
		     int *off_min)
{
	int oh, om, sign;

	if (!nr_num(&s, e, 2, &tm->tm_hour) || !nr_lit(&s, e, ':') ||
	    !nr_num(&s, e, 2, &tm->tm_min))
		return false;
	if (nr_lit(&s, e, ':') && !nr_num(&s, e, 2, &tm->tm_sec))
		return false;
	if (nr_lit(&s, e, '.')) {
		int k = 0;

		for (; s < e && *s >= '0' && *s <= '9'; s++, k++)
			if (k < 3)
				*ms = *ms * 10 + (*s - '0');
		if (k == 0)
			return false;
		for (; k < 3; k++)
			*ms *= 10;
	}
	if (nr_lit(&s, e, 'Z'))
		return s == e;
	sign = s < e && *s == '-' ? -1 : 1;
	if (!nr_lit(&s, e, '+') && !nr_lit(&s, e, '-'))
		return false;
	if (!nr_num(&s, e, 2, &oh) || !nr_lit(&s, e, ':') ||
	    !nr_num(&s, e, 2, &om) || s != e || oh > 23 || om > 59)
		return false;
	*off_min = sign * (oh * 60 + om);
	return true;
}

/* A date in the forms of npmrc.h into ms since the epoch. */
static bool nr_date(const char *s, const char *e, int64_t *out)
{
	struct tm tm = { 0 };
	int y, mo, d, ms = 0, off = 0;
	int64_t t, v;

	if (!nr_num(&s, e, 4, &y) || !nr_lit(&s, e, '-') ||
	    !nr_num(&s, e, 2, &mo) || !nr_lit(&s, e, '-') ||
	    !nr_num(&s, e, 2, &d))
		return false;
	if (s < e && (!nr_lit(&s, e, 'T') || !nr_clock(s, e, &tm, &ms, &off)))
		return false;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	t = (int64_t)timegm(&tm);
	/* timegm moves Feb 30 to March: such a date is refused. */
	if (t < 0 || tm.tm_mday != d)
		return false;
	v = (t - (int64_t)off * 60) * 1000 + ms;
	if (v <= 0)
		return false;
	*out = v;
	return true;
}

static void nr_copy(char *dst, size_t dstsz, const char *s, const char *e)
{
	size_t n = (size_t)(e - s) < dstsz - 1 ? (size_t)(e - s) : dstsz - 1;

	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* One "key = value" line at the top level. */
static void nr_line(struct npm_npmrc *rc, const char *s, const char *e)
{
	const char *eq = memchr(s, '=', (size_t)(e - s));
	const char *ks = s, *ke = eq ? eq : e, *vs = eq ? eq + 1 : e, *ve = e;
	bool age;

	nr_unquote(&ks, &ke);
	if ((size_t)(ke - ks) == strlen("min-release-age") &&
	    !memcmp(ks, "min-release-age", (size_t)(ke - ks)))
		age = true;
	else if ((size_t)(ke - ks) == strlen("before") &&
		 !memcmp(ks, "before", (size_t)(ke - ks)))
		age = false;
	else
		return;
	nr_unquote(&vs, &ve);
	/* npm reads "null" (and an empty number) as no setting. */
	if ((ve - vs == 4 && !memcmp(vs, "null", 4)) || (age && vs == ve)) {
		*(age ? &rc->age_ms : &rc->before_ms) = 0;
		*(age ? rc->age : rc->before) = '\0';
		return;
	}
	if (age && nr_days(vs, ve, &rc->age_ms)) {
		nr_copy(rc->age, sizeof(rc->age), vs, ve);
		return;
	}
	if (!age && nr_date(vs, ve, &rc->before_ms)) {
		nr_copy(rc->before, sizeof(rc->before), vs, ve);
		return;
	}
	nr_note(rc, age ? "min-release-age" : "before", vs, ve,
		age ? "a number of days" : "YYYY-MM-DD, or a time with Z or "
		"an offset");
}

void npm_npmrc_parse(const char *text, size_t len, struct npm_npmrc *out)
{
	const char *p = text, *end = text + len;

	memset(out, 0, sizeof(*out));
	while (p < end) {
		const char *e = p, *t, *close;

		while (e < end && *e != '\n' && *e != '\r')
			e++;
		t = p;
		while (t < e && (*t == ' ' || *t == '\t'))
			t++;
		close = *p == '[' ? memchr(p, ']', (size_t)(e - p)) : NULL;
		if (close) {
			const char *r = close + 1;

			while (r < e && (*r == ' ' || *r == '\t'))
				r++;
			/* Every key after a section belongs to it. */
			if (r == e)
				return;
		}
		if (t < e && *t != ';' && *t != '#')
			nr_line(out, p, e);
		p = e < end ? e + 1 : e;
	}
}

int npm_npmrc_load(int repo_dfd, struct npm_npmrc *out)
{
	struct al_buf b = { 0 };
	int rc = al_read_beneath(repo_dfd, NPM_NPMRC_NAME, NPM_NPMRC_MAX_SIZE,
				 &b);

	memset(out, 0, sizeof(*out));
	if (rc == 0)
		npm_npmrc_parse(b.p ? b.p : "", b.len, out);
	else if (rc == -ENOMEM)
		goto out;
	else if (rc == -EFBIG)
		snprintf(out->note, sizeof(out->note), ".npmrc is larger than "
			 "%u KiB: not read (a min-release-age or before in it "
			 "is not respected by the plan)",
			 NPM_NPMRC_MAX_SIZE >> 10);
	else if (rc != -ENOENT)
		snprintf(out->note, sizeof(out->note), ".npmrc: %s%s: not "
			 "read (a min-release-age or before in it is not "
			 "respected by the plan)", al_strerror(rc),
			 rc == -ELOOP || rc == -EXDEV ? " (a symlink is "
			 "refused)" : "");
	rc = rc == -ENOMEM ? rc : 0;
out:
	al_buf_free(&b);
	return rc;
}

int64_t npm_npmrc_cutoff(const struct npm_npmrc *rc, int64_t now_ms)
{
	if (rc->before_ms)
		return rc->before_ms;
	return rc->age_ms ? now_ms - rc->age_ms : 0;
}
