/*
 * semver.c - comparing and matching npm versions and ranges (see
 * semver.h); reading them is semver_parse.c.
 *
 * A parsed range is a union of sets of primitive comparators, so
 * matching needs only those comparators and the prerelease rule. The
 * functions an updater needs on top (max-satisfying, min-version,
 * intersects, outside) follow node-semver's definitions, quirks included,
 * so that airlock and npm agree on every range.
 */
#include "npm/semver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/util.h"

#define SV_LOOSE(f) (((f) & NPM_SEMVER_LOOSE) != 0)
#define SV_INCPR(f) (((f) & NPM_SEMVER_INCLUDE_PRERELEASE) != 0)

static bool sv_all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return n > 0;
}

/* Digits as JavaScript's +s (exact below 2^53, rounded above). */
static double sv_num(const char *s, size_t n)
{
	char buf[NPM_SEMVER_MAX_LEN + 1];

	if (n > NPM_SEMVER_MAX_LEN)
		n = NPM_SEMVER_MAX_LEN;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return strtod(buf, NULL);
}

/*
 * node-semver's compareIdentifiers: two numeric identifiers compare as
 * JavaScript numbers (identifiers past 2^53 are kept as text by the
 * parser but still compared as rounded numbers, and may tie), a numeric
 * one sorts before an alphanumeric one, the rest compare as text.
 */
static int sv_cmp_ident(const char *a, size_t an, const char *b, size_t bn)
{
	bool anum = sv_all_digits(a, an), bnum = sv_all_digits(b, bn);
	int c;

	if (anum && bnum) {
		double x = sv_num(a, an), y = sv_num(b, bn);

		return (x > y) - (x < y);
	}
	if (anum != bnum)
		return anum ? -1 : 1;
	c = memcmp(a, b, an < bn ? an : bn);
	if (c)
		return (c > 0) - (c < 0);
	return (an > bn) - (an < bn);
}

/* The first identifiers that differ as text decide, even on a tie. */
static int sv_cmp_pre(const char *a, const char *b)
{
	if (!strcmp(a, b))
		return 0;
	if (!*a || !*b)
		return (!*a) - (!*b);
	for (;;) {
		size_t an = strcspn(a, "."), bn = strcspn(b, ".");

		if (an != bn || memcmp(a, b, an) != 0)
			return sv_cmp_ident(a, an, b, bn);
		a += an;
		b += bn;
		if (!*a || !*b)
			return (*a != '\0') - (*b != '\0');
		a++;
		b++;
	}
}

static int sv_cmp_u64(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

int npm_version_cmp(const struct npm_version *a, const struct npm_version *b)
{
	int c = sv_cmp_u64(a->major, b->major);

	if (!c)
		c = sv_cmp_u64(a->minor, b->minor);
	if (!c)
		c = sv_cmp_u64(a->patch, b->patch);
	if (!c)
		c = sv_cmp_pre(a->pre, b->pre);
	return c;
}

int npm_version_format(const struct npm_version *v, char *out, size_t outsz)
{
	int n = snprintf(out, outsz, "%llu.%llu.%llu%s%s",
			 (unsigned long long)v->major,
			 (unsigned long long)v->minor,
			 (unsigned long long)v->patch, v->pre[0] ? "-" : "",
			 v->pre);

	if (n < 0 || (size_t)n >= outsz) {
		if (outsz)
			out[0] = '\0';
		return -ENOSPC;
	}
	return n;
}

void npm_range_free(struct npm_range *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nset; i++)
		free(r->set[i].c);
	free(r->set);
	memset(r, 0, sizeof(*r));
}

static bool sv_test(const struct npm_comparator *c,
		    const struct npm_version *v)
{
	int r;

	if (c->op == NPM_OP_ANY)
		return true;
	r = npm_version_cmp(v, &c->v);
	switch (c->op) {
	case NPM_OP_EQ:
		return r == 0;
	case NPM_OP_LT:
		return r < 0;
	case NPM_OP_LE:
		return r <= 0;
	case NPM_OP_GT:
		return r > 0;
	case NPM_OP_GE:
		return r >= 0;
	default:
		return true;
	}
}

/*
 * All comparators must hold; then a prerelease version passes only if
 * the set names a prerelease of the same major.minor.patch, so that
 * "^1.2.3-beta" opts in to 1.2.3 prereleases but not to 1.3.0-beta.
 */
static bool sv_test_set(const struct npm_comparator_set *s,
			const struct npm_version *v, unsigned flags)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!sv_test(&s->c[i], v))
			return false;
	if (!v->pre[0] || SV_INCPR(flags))
		return true;
	for (i = 0; i < s->n; i++) {
		const struct npm_comparator *c = &s->c[i];

		if (c->op == NPM_OP_ANY || !c->v.pre[0])
			continue;
		if (c->v.major == v->major && c->v.minor == v->minor &&
		    c->v.patch == v->patch)
			return true;
	}
	return false;
}

bool npm_range_satisfies(const struct npm_range *r,
			 const struct npm_version *v)
{
	for (size_t i = 0; i < r->nset; i++)
		if (sv_test_set(&r->set[i], v, r->flags))
			return true;
	return false;
}

bool npm_satisfies(const char *range, const char *version, unsigned flags)
{
	struct npm_range r;
	struct npm_version v;
	bool ok;

	if (npm_version_parse(version, flags, &v))
		return false;
	if (npm_range_parse(range, flags, &r))
		return false;
	ok = npm_range_satisfies(&r, &v);
	npm_range_free(&r);
	return ok;
}

int npm_range_max_satisfying(const struct npm_range *r,
			     const char *const versions[], size_t n,
			     size_t *idx)
{
	struct npm_version best, v;
	bool found = false;

	for (size_t i = 0; i < n; i++) {
		if (npm_version_parse(versions[i], r->flags, &v))
			continue;
		if (!npm_range_satisfies(r, &v))
			continue;
		if (!found || npm_version_cmp(&v, &best) > 0) {
			best = v;
			*idx = i;
			found = true;
		}
	}
	return found ? 0 : AL_E_NOTFOUND;
}

/* The least version a comparator admits from below, if it has one. */
static bool sv_lower(const struct npm_comparator *c, struct npm_version *v)
{
	size_t n;

	if (c->op != NPM_OP_EQ && c->op != NPM_OP_GE && c->op != NPM_OP_GT)
		return false;
	*v = c->v;
	v->build[0] = '\0';
	if (c->op != NPM_OP_GT)
		return true;
	if (!v->pre[0]) {
		v->patch++;
		return true;
	}
	n = strlen(v->pre);
	if (n + 2 <= NPM_SEMVER_MAX_LEN)
		memcpy(v->pre + n, ".0", 3);
	return true;
}

int npm_range_min_version(const struct npm_range *r, struct npm_version *out)
{
	struct npm_version v, best;
	bool have = false;

	memset(&v, 0, sizeof(v));
	if (npm_range_satisfies(r, &v))
		goto found;
	memcpy(v.pre, "0", 2);
	if (npm_range_satisfies(r, &v))
		goto found;

	for (size_t i = 0; i < r->nset; i++) {
		struct npm_version smin, c;
		bool sh = false;

		for (size_t j = 0; j < r->set[i].n; j++) {
			if (!sv_lower(&r->set[i].c[j], &c))
				continue;
			if (!sh || npm_version_cmp(&c, &smin) > 0)
				smin = c;
			sh = true;
		}
		if (sh && (!have || npm_version_cmp(&best, &smin) > 0)) {
			best = smin;
			have = true;
		}
	}
	if (!have)
		return AL_E_NOTFOUND;
	/*
	 * With options, node-semver re-reads the candidate from its text
	 * before testing it, and throws if "patch + 1" went past 2^53 - 1.
	 */
	if (r->flags && best.patch > NPM_SEMVER_MAX_NUM)
		return AL_E_SEMVER;
	if (!npm_range_satisfies(r, &best))
		return AL_E_NOTFOUND;
	v = best;
found:
	*out = v;
	return 0;
}

static const char *sv_op_text(enum npm_op op)
{
	switch (op) {
	case NPM_OP_LT:
		return "<";
	case NPM_OP_LE:
		return "<=";
	case NPM_OP_GT:
		return ">";
	case NPM_OP_GE:
		return ">=";
	default:
		return "";
	}
}

int npm_range_format(const struct npm_range *r, char *out, size_t outsz)
{
	char ver[2 * NPM_SEMVER_MAX_LEN + 64];
	size_t o = 0;
	int n;

	if (!outsz)
		return -ENOSPC;
	out[0] = '\0';
	for (size_t i = 0; i < r->nset; i++) {
		for (size_t j = 0; j < r->set[i].n; j++) {
			const struct npm_comparator *c = &r->set[i].c[j];

			ver[0] = '\0';
			if (c->op != NPM_OP_ANY)
				npm_version_format(&c->v, ver, sizeof(ver));
			n = snprintf(out + o, outsz - o, "%s%s%s",
				     j ? " " : (i ? "||" : ""),
				     sv_op_text(c->op), ver);
			if (n < 0 || (size_t)n >= outsz - o)
				goto nospace;
			o += (size_t)n;
		}
	}
	if (o == 0) {
		if (outsz < 2)
			goto nospace;
		memcpy(out, "*", 2);
		o = 1;
	}
	return (int)o;
nospace:
	out[0] = '\0';
	return -ENOSPC;
}

/* Range(c.value).test(v) in node-semver: c plus the prerelease rule. */
static bool sv_accepts(const struct npm_comparator *c,
		       const struct npm_version *v, unsigned flags)
{
	struct npm_comparator_set s = {
		.c = (struct npm_comparator *)c,
		.n = 1,
	};

	return sv_test_set(&s, v, flags);
}

static bool sv_is_gt(enum npm_op op)
{
	return op == NPM_OP_GT || op == NPM_OP_GE;
}

static bool sv_is_lt(enum npm_op op)
{
	return op == NPM_OP_LT || op == NPM_OP_LE;
}

/* "<0.0.0" with any prerelease: nothing can lie below it. */
static bool sv_below_zero(const struct npm_comparator *c, unsigned flags)
{
	if (c->op != NPM_OP_LT || c->v.major || c->v.minor || c->v.patch)
		return false;
	return SV_INCPR(flags) ? !strcmp(c->v.pre, "0") : true;
}

bool npm_comparator_intersects(const struct npm_comparator *a,
			       const struct npm_comparator *b,
			       unsigned flags)
{
	int k;

	if (a->op == NPM_OP_ANY)
		return true;
	if (a->op == NPM_OP_EQ)
		return sv_accepts(b, &a->v, flags);
	if (b->op == NPM_OP_ANY)
		return true;
	if (b->op == NPM_OP_EQ)
		return sv_accepts(a, &b->v, flags);
	if (sv_below_zero(a, flags) || sv_below_zero(b, flags))
		return false;

	if ((sv_is_gt(a->op) && sv_is_gt(b->op)) ||
	    (sv_is_lt(a->op) && sv_is_lt(b->op)))
		return true;
	k = npm_version_cmp(&a->v, &b->v);
	if (k == 0 && (a->op == NPM_OP_GE || a->op == NPM_OP_LE) &&
	    (b->op == NPM_OP_GE || b->op == NPM_OP_LE))
		return true;
	if (k < 0 && sv_is_gt(a->op) && sv_is_lt(b->op))
		return true;
	return k > 0 && sv_is_lt(a->op) && sv_is_gt(b->op);
}

/* Every pair within the set meets (node-semver's isSatisfiable). */
static bool sv_satisfiable(const struct npm_comparator_set *s,
			   unsigned flags)
{
	for (size_t t = s->n; t-- > 1;)
		for (size_t j = 0; j < t; j++)
			if (!npm_comparator_intersects(&s->c[t], &s->c[j],
						       flags))
				return false;
	return true;
}

static bool sv_sets_meet(const struct npm_comparator_set *x,
			 const struct npm_comparator_set *y, unsigned flags)
{
	for (size_t i = 0; i < x->n; i++)
		for (size_t j = 0; j < y->n; j++)
			if (!npm_comparator_intersects(&x->c[i], &y->c[j],
						       flags))
				return false;
	return true;
}

bool npm_range_intersects(const struct npm_range *a,
			  const struct npm_range *b)
{
	unsigned f = a->flags;

	for (size_t i = 0; i < a->nset; i++) {
		if (!sv_satisfiable(&a->set[i], f))
			continue;
		for (size_t j = 0; j < b->nset; j++)
			if (sv_satisfiable(&b->set[j], f) &&
			    sv_sets_meet(&a->set[i], &b->set[j], f))
				return true;
	}
	return false;
}

/*
 * node-semver's outside(), written for "above" and mirrored for "below":
 * per set, the comparator with the highest (lowest) version must not
 * bound from that side, and v must lie beyond the lowest (highest) one.
 */
bool npm_range_outside(const struct npm_range *r,
		       const struct npm_version *v, enum npm_outside hilo)
{
	bool hi = hilo == NPM_OUTSIDE_HIGH;
	enum npm_op comp = hi ? NPM_OP_GT : NPM_OP_LT;
	enum npm_op ecomp = hi ? NPM_OP_GE : NPM_OP_LE;
	struct npm_comparator any0 = { .op = NPM_OP_GE };

	if (npm_range_satisfies(r, v))
		return false;
	for (size_t i = 0; i < r->nset; i++) {
		const struct npm_comparator *high = NULL, *low = NULL;
		int d;

		for (size_t j = 0; j < r->set[i].n; j++) {
			const struct npm_comparator *c = &r->set[i].c[j];

			if (c->op == NPM_OP_ANY)
				c = &any0;
			if (!high)
				high = low = c;
			d = npm_version_cmp(&c->v, &high->v);
			if (hi ? d > 0 : d < 0) {
				high = c;
				continue;
			}
			d = npm_version_cmp(&c->v, &low->v);
			if (hi ? d < 0 : d > 0)
				low = c;
		}
		if (!high)
			continue;
		if (high->op == comp || high->op == ecomp)
			return false;
		d = npm_version_cmp(v, &low->v);
		if ((low->op == NPM_OP_EQ || low->op == comp) &&
		    (hi ? d <= 0 : d >= 0))
			return false;
		if (low->op == ecomp && (hi ? d < 0 : d > 0))
			return false;
	}
	return true;
}
