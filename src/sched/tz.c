/*
 * tz.c - TZif reader and POSIX TZ rules (tz.h says why not localtime_r).
 *
 * Format: RFC 8536. A file is a version 1 block (32-bit times) and, from
 * version 2 on, a second header and block with 64-bit times followed by
 * a footer "\n<POSIX TZ string>\n" that extends the table past its last
 * transition. Every count and offset is checked against the file's
 * length before use: the file is trusted no more than any other input.
 */
#include "sched/tz.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"

#define TZ_FILE_MAX (256 * 1024)
#define TZ_TIMES_MAX 10000
#define TZ_TYPES_MAX 256

/* One end of daylight time in a POSIX TZ rule. */
struct tz_rule {
	char kind;      /* 'J' (1..365, no Feb 29), 'N' (0..365), 'M' */
	int n, m, w, d; /* day for J/N; month, week, weekday for M */
	int32_t time;   /* local time of day of the change, seconds */
};

struct sched_tz {
	char name[SCHED_TZ_NAME_MAX + 1];
	size_t ntrans;
	int64_t *trans;
	uint8_t *idx;
	size_t ntypes;
	int32_t *utoff;
	bool footer;    /* the rule below applies after the last transition */
	bool has_dst;
	int32_t std_off, dst_off;
	struct tz_rule start, end;
};

int64_t sched_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	/* Howard Hinnant's days_from_civil (a published algorithm). */
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

void sched_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Seconds since the epoch, local standard or daylight clock, of r in y. */
static int64_t rule_local(const struct tz_rule *r, int64_t y)
{
	int64_t day;

	if (r->kind == 'J') {
		day = sched_days_from_civil(y, 1, 1) + r->n - 1;
		if (is_leap(y) && r->n >= 60)
			day++;
	} else if (r->kind == 'N') {
		day = sched_days_from_civil(y, 1, 1) + r->n;
	} else {
		int64_t first = sched_days_from_civil(y, (unsigned)r->m, 1);
		/* 1970-01-01 was a Thursday (4). */
		int wd1 = (int)(((first % 7) + 7 + 4) % 7);
		int64_t dd = (r->d - wd1 + 7) % 7 + (int64_t)(r->w - 1) * 7;
		int64_t next = r->m == 12 ? first + 31
					  : sched_days_from_civil(
						    y, (unsigned)r->m + 1, 1);
		int64_t mlen = next - first;
		while (dd >= mlen)
			dd -= 7; /* week 5 means the last one */
		day = first + dd;
	}
	return day * 86400 + r->time;
}

static int32_t footer_offset(const struct sched_tz *z, int64_t t)
{
	int64_t y;
	unsigned m, d;

	if (!z->has_dst)
		return z->std_off;
	sched_civil_from_days(floor_div(t + z->std_off, 86400), &y, &m, &d);
	int64_t s = rule_local(&z->start, y) - z->std_off;
	int64_t e = rule_local(&z->end, y) - z->dst_off;
	bool dst = s < e ? (t >= s && t < e) : !(t >= e && t < s);

	return dst ? z->dst_off : z->std_off;
}

int32_t sched_tz_offset(const struct sched_tz *z, int64_t t)
{
	size_t lo = 0, hi;

	if (z->ntrans == 0)
		return z->footer ? footer_offset(z, t) : z->utoff[0];
	if (t < z->trans[0])
		return z->utoff[0];
	if (t >= z->trans[z->ntrans - 1] && z->footer)
		return footer_offset(z, t);
	hi = z->ntrans;
	while (hi - lo > 1) { /* last i with trans[i] <= t */
		size_t mid = lo + (hi - lo) / 2;
		if (z->trans[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return z->utoff[z->idx[lo]];
}

int64_t sched_tz_resolve(const struct sched_tz *z, int64_t local_s)
{
	int32_t oa = sched_tz_offset(z, local_s - 86400);
	int32_t ob = sched_tz_offset(z, local_s + 86400);
	int64_t ua = local_s - oa, ub = local_s - ob;
	bool va = sched_tz_offset(z, ua) == oa;
	bool vb = sched_tz_offset(z, ub) == ob;

	if (va && vb)
		return ua < ub ? ua : ub;
	if (va || vb)
		return va ? ua : ub;
	/* In a gap: the clocks jumped over local_s somewhere in (ub, ua];
	 * find the first instant with the later offset. */
	int64_t lo = ub < ua ? ub : ua, hi = ub < ua ? ua : ub;
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;
		if (sched_tz_offset(z, mid) == ob)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

/* POSIX TZ string parsing (the footer), e.g. "CET-1CEST,M3.5.0,M10.5.0/3" */

static bool tz_name(const char **p)
{
	const char *s = *p;

	if (*s == '<') {
		while (*s && *s != '>')
			s++;
		if (*s != '>')
			return false;
		*p = s + 1;
		return true;
	}
	while (isalpha((unsigned char)*s))
		s++;
	if (s - *p < 3)
		return false;
	*p = s;
	return true;
}

/* [+-]hh[:mm[:ss]], hours up to 167 (RFC 8536 extension). */
static bool tz_hms(const char **p, int32_t *out)
{
	const char *s = *p;
	int sign = 1;
	long v[3] = {0, 0, 0};

	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	for (int i = 0; i < 3; i++) {
		if (!isdigit((unsigned char)*s))
			return false;
		char *e;
		v[i] = strtol(s, &e, 10);
		s = e;
		if (*s != ':' || i == 2)
			break;
		s++;
	}
	if (v[0] > 167 || v[1] > 59 || v[2] > 59)
		return false;
	*out = (int32_t)(sign * (v[0] * 3600 + v[1] * 60 + v[2]));
	*p = s;
	return true;
}

static bool tz_num(const char **p, int lo, int hi, int *out)
{
	char *e;
	long v;

	if (!isdigit((unsigned char)**p))
		return false;
	v = strtol(*p, &e, 10);
	if (v < lo || v > hi)
		return false;
	*out = (int)v;
	*p = e;
	return true;
}

static bool tz_rule_parse(const char **p, struct tz_rule *r)
{
	const char *s = *p;

	if (*s == 'J') {
		s++;
		r->kind = 'J';
		if (!tz_num(&s, 1, 365, &r->n))
			return false;
	} else if (*s == 'M') {
		s++;
		r->kind = 'M';
		if (!tz_num(&s, 1, 12, &r->m) || *s++ != '.' ||
		    !tz_num(&s, 1, 5, &r->w) || *s++ != '.' ||
		    !tz_num(&s, 0, 6, &r->d))
			return false;
	} else {
		r->kind = 'N';
		if (!tz_num(&s, 0, 365, &r->n))
			return false;
	}
	r->time = 7200;
	if (*s == '/') {
		s++;
		if (!tz_hms(&s, &r->time))
			return false;
	}
	*p = s;
	return true;
}

static bool tz_footer_parse(struct sched_tz *z, const char *s)
{
	int32_t v;

	if (!*s) /* empty footer: no rule beyond the table */
		return true;
	if (!tz_name(&s) || !tz_hms(&s, &v))
		return false;
	z->std_off = -v; /* POSIX offsets count hours west */
	z->footer = true;
	if (!*s)
		return true;
	if (!tz_name(&s))
		return false;
	z->has_dst = true;
	z->dst_off = z->std_off + 3600;
	if (*s && *s != ',') {
		if (!tz_hms(&s, &v))
			return false;
		z->dst_off = -v;
	}
	/* Without rules POSIX leaves the dates to the implementation. */
	if (*s++ != ',' || !tz_rule_parse(&s, &z->start) || *s++ != ',' ||
	    !tz_rule_parse(&s, &z->end) || *s)
		return false;
	return true;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_counts {
	uint32_t isut, isstd, leap, time, type, chars;
};

static bool tzif_header(const unsigned char *p, size_t len,
			struct tzif_counts *c)
{
	if (len < 44 || memcmp(p, "TZif", 4))
		return false;
	c->isut = be32(p + 20);
	c->isstd = be32(p + 24);
	c->leap = be32(p + 28);
	c->time = be32(p + 32);
	c->type = be32(p + 36);
	c->chars = be32(p + 40);
	return c->time <= TZ_TIMES_MAX && c->type >= 1 &&
	       c->type <= TZ_TYPES_MAX && c->leap <= 100000 &&
	       c->chars <= 100000 && c->isut <= c->type &&
	       c->isstd <= c->type;
}

static size_t tzif_block_len(const struct tzif_counts *c, size_t tsz)
{
	return c->time * tsz + c->time + c->type * 6 + c->chars +
	       c->leap * (tsz + 4) + c->isstd + c->isut;
}

/* Read the block of width tsz (4 or 8) at p into z. */
static bool tzif_block(struct sched_tz *z, const unsigned char *p,
		       const struct tzif_counts *c, size_t tsz)
{
	const unsigned char *idx = p + c->time * tsz;
	const unsigned char *types = idx + c->time;

	z->ntrans = c->time;
	z->ntypes = c->type;
	z->trans = calloc(c->time + 1, sizeof(*z->trans));
	z->idx = calloc(c->time + 1, 1);
	z->utoff = calloc(c->type, sizeof(*z->utoff));
	if (!z->trans || !z->idx || !z->utoff)
		return false;
	for (size_t i = 0; i < c->time; i++) {
		z->trans[i] = tsz == 8 ? be64(p + i * 8)
				       : (int32_t)be32(p + i * 4);
		z->idx[i] = idx[i];
		if (idx[i] >= c->type || (i && z->trans[i] <= z->trans[i - 1]))
			return false;
	}
	for (size_t i = 0; i < c->type; i++) {
		int32_t off = (int32_t)be32(types + i * 6);
		if (off < -89999 || off > 93599) /* RFC 8536: -25:59:59.. */
			return false;
		z->utoff[i] = off;
	}
	return true;
}

static int tzif_parse(struct sched_tz *z, const unsigned char *p, size_t len)
{
	struct tzif_counts c;
	size_t n;

	if (!tzif_header(p, len, &c))
		return AL_E_PARSE;
	n = 44 + tzif_block_len(&c, 4);
	if (n > len)
		return AL_E_PARSE;
	if (p[4] == 0) /* version 1: the 32-bit block is all there is */
		return tzif_block(z, p + 44, &c, 4) ? 0 : AL_E_PARSE;

	p += n;
	len -= n;
	if (!tzif_header(p, len, &c))
		return AL_E_PARSE;
	n = 44 + tzif_block_len(&c, 8);
	if (n >= len || !tzif_block(z, p + 44, &c, 8))
		return AL_E_PARSE;

	/* Footer: "\n" TZ "\n" right after the block. */
	const char *f = (const char *)p + n;
	size_t flen = len - n;
	char rule[128];
	const char *nl;

	if (f[0] != '\n' || !(nl = memchr(f + 1, '\n', flen - 1)) ||
	    (size_t)(nl - f - 1) >= sizeof(rule))
		return AL_E_PARSE;
	memcpy(rule, f + 1, (size_t)(nl - f - 1));
	rule[nl - f - 1] = '\0';
	return tz_footer_parse(z, rule) ? 0 : AL_E_PARSE;
}

static bool tz_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > SCHED_TZ_NAME_MAX || name[0] == '/')
		return false;
	for (const char *s = name; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("/_-+.", *s))
			return false;
	/* No "." or ".." component: the name must stay under TZDIR. */
	for (const char *s = name; *s;) {
		size_t len = strcspn(s, "/");
		if ((len == 1 && s[0] == '.') ||
		    (len == 2 && s[0] == '.' && s[1] == '.') || len == 0)
			return false;
		s += len;
		if (*s)
			s++;
		if (!*s && s[-1] == '/')
			return false;
	}
	return true;
}

int sched_tz_load(const char *tzdir, const char *name, struct sched_tz **out)
{
	struct sched_tz *z = NULL;
	struct al_buf b = {0};
	char path[4200];
	int rc;

	*out = NULL;
	if (!name || !tz_name_ok(name))
		return AL_E_USAGE;
	z = calloc(1, sizeof(*z));
	if (!z)
		return -ENOMEM;
	al_strlcpy(z->name, name, sizeof(z->name));
	if (!strcmp(name, "UTC")) {
		z->utoff = calloc(1, sizeof(*z->utoff));
		z->ntypes = 1;
		rc = z->utoff ? 0 : -ENOMEM;
		goto out;
	}
	if (!tzdir)
		tzdir = getenv("TZDIR");
	if (!tzdir || !*tzdir)
		tzdir = SCHED_TZDIR_DEFAULT;
	snprintf(path, sizeof(path), "%s/%s", tzdir, name);
	rc = al_read_file(path, TZ_FILE_MAX, &b);
	if (rc == -ENOENT || rc == -ENOTDIR || rc == -EISDIR) {
		rc = AL_E_NOTFOUND;
		goto out;
	}
	if (rc == 0)
		rc = tzif_parse(z, (const unsigned char *)b.p, b.len);
	if (rc)
		al_warn("sched", NULL, "time zone %s: %s: %s", name, path,
			al_strerror(rc));
out:
	al_buf_free(&b);
	if (rc)
		sched_tz_free(z);
	else
		*out = z;
	return rc;
}

void sched_tz_free(struct sched_tz *z)
{
	if (!z)
		return;
	free(z->trans);
	free(z->idx);
	free(z->utoff);
	free(z);
}

const char *sched_tz_name(const struct sched_tz *z)
{
	return z->name;
}
