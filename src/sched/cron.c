/*
 * cron.c - schedule expressions (cron.h) and their next slot.
 */
#include "sched/cron.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/util.h"

struct field_def {
	const char *what;
	unsigned lo, hi;
	const char *const *names; /* names[i] stands for lo + i */
	const char *hint;
};

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec", NULL,
};
static const char *const dow_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL,
};

static const struct field_def fields[5] = {
	{"minute", 0, 59, NULL, "0-59"},
	{"hour", 0, 23, NULL, "0-23"},
	{"day of month", 1, 31, NULL, "1-31"},
	{"month", 1, 12, month_names, "1-12 or jan-dec"},
	{"day of week", 0, 7, dow_names, "0-7 or sun-sat"},
};

struct cron_parse {
	const char *spec;
	char *err;
	size_t errsz;
};

static int perr(struct cron_parse *p, const char *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int perr(struct cron_parse *p, const char *at, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errsz, "column %d: %s", (int)(at - p->spec) + 1,
		 msg);
	return AL_E_PARSE;
}

/* A number or a name of f at *s; end is the end of the token. */
static int field_value(struct cron_parse *p, const struct field_def *f,
		       const char **s, const char *end, unsigned *out)
{
	const char *t = *s;
	size_t n = 0;

	if (isdigit((unsigned char)*t)) {
		unsigned v = 0;
		while (t < end && isdigit((unsigned char)*t) && v < 1000)
			v = v * 10 + (unsigned)(*t++ - '0');
		if (v < f->lo || v > f->hi)
			return perr(p, *s, "%u is out of range for %s (%s)", v,
				    f->what, f->hint);
		*out = v;
		*s = t;
		return 0;
	}
	while (t + n < end && isalpha((unsigned char)t[n]))
		n++;
	for (unsigned i = 0; f->names && n == 3 && f->names[i]; i++)
		if (!strncasecmp(t, f->names[i], 3)) {
			*out = f->lo + i;
			*s = t + 3;
			return 0;
		}
	n = strcspn(t, ",-/ \t");
	if (t + n > end)
		n = (size_t)(end - t);
	return perr(p, t, "'%.*s' is not a %s (%s)", (int)(n ? n : 1), t,
		    f->what, f->hint);
}

/* One comma list of f in [s, end) into *bits; *star if it starts '*'. */
static int field_parse(struct cron_parse *p, const struct field_def *f,
		       const char *s, const char *end, uint64_t *bits,
		       bool *star)
{
	int rc;

	*bits = 0;
	*star = *s == '*';
	for (;;) {
		unsigned a = f->lo, b = f->hi, step = 1;
		const char *item = s;
		bool range = false;

		if (*s == '*') {
			s++;
		} else {
			if ((rc = field_value(p, f, &s, end, &a)))
				return rc;
			b = a;
			if (s < end && *s == '-') {
				s++;
				range = true;
				if ((rc = field_value(p, f, &s, end, &b)))
					return rc;
				if (b < a)
					return perr(p, item,
						    "range %u-%u of %s runs "
						    "backwards", a, b, f->what);
			}
		}
		if (s < end && *s == '/') {
			const char *st = ++s;
			step = 0;
			while (s < end && isdigit((unsigned char)*s) &&
			       step < 1000)
				step = step * 10 + (unsigned)(*s++ - '0');
			if (step == 0 || step > f->hi)
				return perr(p, st, "step of %s must be 1 to %u",
					    f->what, f->hi);
			if (*item != '*' && !range)
				b = f->hi; /* "a/n": from a to the end */
		}
		for (unsigned v = a; v <= b; v += step)
			*bits |= 1ull << v;
		if (s == end)
			return 0;
		if (*s != ',')
			return perr(p, s, "unexpected '%c' in %s", *s, f->what);
		if (++s == end)
			return perr(p, s, "a %s is missing after ','", f->what);
	}
}

/* "HH:MM" into the hour and minute bits. */
static int parse_hhmm(struct cron_parse *p, const char *s, const char *end,
		      struct sched_cron *c)
{
	unsigned h = 0, m = 0;
	const char *t = s;

	if (end - s < 4 || end - s > 5)
		goto bad;
	while (t < end && isdigit((unsigned char)*t))
		h = h * 10 + (unsigned)(*t++ - '0');
	if (t - s < 1 || t - s > 2 || *t++ != ':' || end - t != 2 ||
	    !isdigit((unsigned char)t[0]) || !isdigit((unsigned char)t[1]))
		goto bad;
	m = (unsigned)(t[0] - '0') * 10 + (unsigned)(t[1] - '0');
	if (h > 23 || m > 59)
		goto bad;
	c->hour = 1u << h;
	c->minute = 1ull << m;
	return 0;
bad:
	return perr(p, s, "expected a time of day HH:MM (00:00 to 23:59)");
}

struct tok {
	const char *s, *e;
};

static size_t tokenize(const char *spec, struct tok *t, size_t max)
{
	size_t n = 0;
	const char *s = spec;

	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			return n;
		if (n < max)
			t[n].s = s;
		while (*s && *s != ' ' && *s != '\t')
			s++;
		if (n < max)
			t[n].e = s;
		n++;
	}
}

static bool tok_is(const struct tok *t, const char *word)
{
	size_t n = strlen(word);
	return (size_t)(t->e - t->s) == n && !strncasecmp(t->s, word, n);
}

static void set_all(struct sched_cron *c)
{
	c->minute = 1;
	c->hour = 0xffffff;
	c->dom = 0xfffffffe;
	c->month = 0x1ffe;
	c->dow = 0x7f;
	c->dom_star = c->dow_star = true;
}

/* The @ names and the word forms; *done false if spec is neither. */
static int parse_words(struct cron_parse *p, struct tok *t, size_t n,
		       struct sched_cron *c, bool *done)
{
	static const struct {
		const char *name, *cron;
	} at[] = {
		{"@hourly", "0 * * * *"},  {"@daily", "0 0 * * *"},
		{"@midnight", "0 0 * * *"}, {"@weekly", "0 0 * * 0"},
		{"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
		{"@annually", "0 0 1 1 *"},
	};
	uint64_t bits;
	bool star;
	int rc;

	*done = true;
	for (size_t i = 0; i < AL_ARRAY_LEN(at); i++)
		if (tok_is(&t[0], at[i].name)) {
			if (n != 1)
				return perr(p, t[1].s, "nothing may follow %s",
					    at[i].name);
			return sched_cron_parse(at[i].cron, c, p->err,
						p->errsz);
		}
	if (t[0].s[0] == '@')
		return perr(p, t[0].s, "unknown name '%.*s' (@hourly, @daily, "
			    "@weekly, @monthly, @yearly)",
			    (int)(t[0].e - t[0].s), t[0].s);
	set_all(c);
	if (tok_is(&t[0], "hourly")) {
		if (n != 1)
			return perr(p, t[1].s, "'hourly' takes nothing more");
		return 0;
	}
	if (tok_is(&t[0], "daily")) {
		if (n != 2)
			return perr(p, n < 2 ? t[0].e : t[2].s,
				    "expected 'daily HH:MM'");
		return parse_hhmm(p, t[1].s, t[1].e, c);
	}
	if (tok_is(&t[0], "weekly") || tok_is(&t[0], "monthly")) {
		bool weekly = tok_is(&t[0], "weekly");
		const struct field_def *f = &fields[weekly ? 4 : 2];
		if (n != 3)
			return perr(p, n < 3 ? t[n - 1].e : t[3].s,
				    weekly ? "expected 'weekly DAY HH:MM', "
					     "e.g. 'weekly mon 06:00'"
					   : "expected 'monthly DAY HH:MM', "
					     "e.g. 'monthly 1 06:00'");
		if ((rc = field_parse(p, f, t[1].s, t[1].e, &bits, &star)))
			return rc;
		if (weekly) {
			c->dow = (uint8_t)((bits | bits >> 7) & 0x7f);
			c->dow_star = false;
		} else {
			c->dom = (uint32_t)bits;
			c->dom_star = false;
		}
		return parse_hhmm(p, t[2].s, t[2].e, c);
	}
	*done = false;
	return 0;
}

int sched_cron_parse(const char *spec, struct sched_cron *c, char *err,
		     size_t errsz)
{
	struct cron_parse p = {spec, err, errsz};
	struct tok t[6];
	uint64_t bits[5];
	bool star[5], done;
	size_t n;
	int rc;

	memset(c, 0, sizeof(*c));
	if (strlen(spec) > SCHED_CRON_SPEC_MAX)
		return perr(&p, spec + SCHED_CRON_SPEC_MAX,
			    "longer than %d bytes", SCHED_CRON_SPEC_MAX);
	n = tokenize(spec, t, AL_ARRAY_LEN(t));
	if (n == 0)
		return perr(&p, spec, "empty schedule");
	if ((rc = parse_words(&p, t, n < 6 ? n : 6, c, &done)) || done)
		return rc;
	if (n != 5)
		return perr(&p, n > 5 ? t[5].s : spec + strlen(spec),
			    "expected 5 fields (minute hour day-of-month "
			    "month day-of-week) or a word form such as "
			    "'weekly mon 06:00', found %zu field%s",
			    n, n == 1 ? "" : "s");
	for (int i = 0; i < 5; i++)
		if ((rc = field_parse(&p, &fields[i], t[i].s, t[i].e, &bits[i],
				      &star[i])))
			return rc;
	c->minute = bits[0];
	c->hour = (uint32_t)bits[1];
	c->dom = (uint32_t)bits[2];
	c->month = (uint16_t)bits[3];
	c->dow = (uint8_t)((bits[4] | bits[4] >> 7) & 0x7f);
	c->dom_star = star[2];
	c->dow_star = star[4];
	return 0;
}

static bool day_matches(const struct sched_cron *c, int64_t days)
{
	int64_t y;
	unsigned m, d;
	int wd = (int)(((days % 7) + 7 + 4) % 7); /* 1970-01-01: Thursday */
	bool dm, wm;

	sched_civil_from_days(days, &y, &m, &d);
	if (!(c->month & (1u << m)))
		return false;
	dm = c->dom & (1u << d);
	wm = c->dow & (1u << wd);
	if (c->dom_star || c->dow_star)
		return dm && wm;
	return dm || wm;
}

int sched_cron_next(const struct sched_cron *c, const struct sched_tz *z,
		    int64_t after_ms, int64_t *out_ms)
{
	int64_t after = after_ms >= 0 ? after_ms / 1000
				      : -((-after_ms + 999) / 1000);
	int64_t local = after + sched_tz_offset(z, after);
	int64_t day0 = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
	/* Start an hour early: a slot whose local time is before "now" may
	 * still lie after it when clocks went back in between. */
	int64_t from = local - 3600 - 60;

	for (int64_t day = day0 - 1; day < day0 + 366 * 8; day++) {
		if (!day_matches(c, day))
			continue;
		for (int h = 0; h < 24; h++) {
			if (!(c->hour & (1u << h)))
				continue;
			for (int m = 0; m < 60; m++) {
				if (!(c->minute & (1ull << m)))
					continue;
				int64_t l = day * 86400 + h * 3600 + m * 60;
				if (l < from)
					continue;
				int64_t u = sched_tz_resolve(z, l);
				if (u * 1000 > after_ms) {
					*out_ms = u * 1000;
					return 0;
				}
			}
		}
	}
	return AL_E_NOTFOUND;
}
