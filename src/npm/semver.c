/*
 * semver.c - npm-compatible versions and ranges (see semver.h).
 *
 * Ranges are desugared the way node-semver does it: the string is split
 * on "||", each part into whitespace-separated tokens (an operator token
 * alone is glued to the token after it), a "A - B" part becomes a hyphen
 * range, and every token becomes zero, one or two primitive comparators.
 * Matching then needs only the primitive comparators and the prerelease
 * rule.
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

static bool sv_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

static bool sv_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool sv_idchar(char c)
{
	return sv_digit(c) || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c == '-';
}

/* A run of digits at *pp into out; strict forbids leading zeros. */
static int sv_number(const char **pp, const char *end, bool loose,
		     uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;

	if (p >= end || !sv_digit(*p))
		return AL_E_SEMVER;
	if (!loose && *p == '0' && p + 1 < end && sv_digit(p[1]))
		return AL_E_SEMVER;
	for (; p < end && sv_digit(*p); p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > NPM_SEMVER_MAX_NUM)
			return AL_E_SEMVER;
	}
	*pp = p;
	*out = v;
	return 0;
}

static bool sv_all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!sv_digit(s[i]))
			return false;
	return n > 0;
}

/*
 * Dot-separated identifiers at *pp into out. For prereleases, strict
 * mode refuses numeric identifiers with leading zeros and loose mode
 * strips them, as node-semver turns such identifiers into numbers.
 */
static int sv_idents(const char **pp, const char *end, bool pre, bool loose,
		     char *out)
{
	const char *p = *pp;
	size_t o = 0;

	for (;;) {
		const char *id = p;
		size_t n;

		while (p < end && sv_idchar(*p))
			p++;
		n = (size_t)(p - id);
		if (n == 0)
			return AL_E_SEMVER;
		if (pre && sv_all_digits(id, n) && n > 1 && id[0] == '0') {
			if (!loose)
				return AL_E_SEMVER;
			while (n > 1 && id[0] == '0') {
				id++;
				n--;
			}
		}
		if (o + n + 1 > NPM_SEMVER_MAX_LEN)
			return AL_E_LIMIT;
		memcpy(out + o, id, n);
		o += n;
		if (p >= end || *p != '.')
			break;
		out[o++] = '.';
		p++;
	}
	out[o] = '\0';
	*pp = p;
	return 0;
}

/* The tail after M.m.p: [-]pre and +build, to the end of the text. */
static int sv_tail(const char *p, const char *end, unsigned flags,
		   struct npm_version *v)
{
	int rc;

	v->pre[0] = '\0';
	v->build[0] = '\0';
	if (p < end && (*p == '-' || (SV_LOOSE(flags) && sv_idchar(*p)))) {
		if (*p == '-')
			p++;
		rc = sv_idents(&p, end, true, SV_LOOSE(flags), v->pre);
		if (rc)
			return rc;
	}
	if (p < end && *p == '+') {
		p++;
		rc = sv_idents(&p, end, false, SV_LOOSE(flags), v->build);
		if (rc)
			return rc;
	}
	return p == end ? 0 : AL_E_SEMVER;
}

/* The prefix node-semver tolerates before the numbers. */
static const char *sv_skip_prefix(const char *p, const char *end,
				  bool loose)
{
	if (!loose)
		return (p < end && *p == 'v') ? p + 1 : p;
	while (p < end && (*p == 'v' || *p == '=' || sv_space(*p)))
		p++;
	return p;
}

static int sv_parse_span(const char *p, const char *end, unsigned flags,
			 struct npm_version *v)
{
	bool loose = SV_LOOSE(flags);

	p = sv_skip_prefix(p, end, loose);
	if (sv_number(&p, end, loose, &v->major) || p >= end || *p++ != '.')
		return AL_E_SEMVER;
	if (sv_number(&p, end, loose, &v->minor) || p >= end || *p++ != '.')
		return AL_E_SEMVER;
	if (sv_number(&p, end, loose, &v->patch))
		return AL_E_SEMVER;
	return sv_tail(p, end, flags, v);
}

int npm_version_parse(const char *s, unsigned flags, struct npm_version *out)
{
	const char *end;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!s)
		return AL_E_SEMVER;
	if (strlen(s) > NPM_SEMVER_MAX_LEN)
		return AL_E_LIMIT;
	while (sv_space(*s))
		s++;
	end = s + strlen(s);
	while (end > s && sv_space(end[-1]))
		end--;
	rc = sv_parse_span(s, end, flags, out);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc ? AL_E_SEMVER : 0;
}

/* Compare one prerelease identifier each (lengths given). */
static int sv_cmp_ident(const char *a, size_t an, const char *b, size_t bn)
{
	bool anum = sv_all_digits(a, an), bnum = sv_all_digits(b, bn);
	int c;

	if (anum && bnum) {
		if (an != bn)
			return an < bn ? -1 : 1;
		c = memcmp(a, b, an);
		return (c > 0) - (c < 0);
	}
	if (anum != bnum)
		return anum ? -1 : 1;
	c = memcmp(a, b, an < bn ? an : bn);
	if (c)
		return (c > 0) - (c < 0);
	return (an > bn) - (an < bn);
}

static int sv_cmp_pre(const char *a, const char *b)
{
	if (!*a || !*b)
		return (!*a) - (!*b);
	for (;;) {
		size_t an = strcspn(a, "."), bn = strcspn(b, ".");
		int c = sv_cmp_ident(a, an, b, bn);

		if (c)
			return c;
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

/* ---- ranges ---------------------------------------------------------- */

/* A partial version "1", "1.x", "1.2.*", "1.2.3-pre" as in an x-range. */
struct sv_partial {
	bool x[3];
	uint64_t n[3];
	char pre[NPM_SEMVER_MAX_LEN + 1];
};

/* A growable comparator list for one set. */
struct sv_list {
	struct npm_comparator *c;
	size_t n;
	size_t cap;
};

static int sv_list_add(struct sv_list *l, enum npm_op op,
		       const struct npm_version *v)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		void *p = realloc(l->c, cap * sizeof(*l->c));

		if (!p)
			return -ENOMEM;
		l->c = p;
		l->cap = cap;
	}
	l->c[l->n].op = op;
	if (v)
		l->c[l->n].v = *v;
	else
		memset(&l->c[l->n].v, 0, sizeof(l->c[l->n].v));
	l->n++;
	return 0;
}

/* Add op M.m.p[-pre]; numbers past the limit make the range invalid. */
static int sv_add(struct sv_list *l, enum npm_op op, uint64_t M, uint64_t m,
		  uint64_t p, const char *pre)
{
	struct npm_version v;

	if (M > NPM_SEMVER_MAX_NUM || m > NPM_SEMVER_MAX_NUM ||
	    p > NPM_SEMVER_MAX_NUM)
		return AL_E_SEMVER;
	memset(&v, 0, sizeof(v));
	v.major = M;
	v.minor = m;
	v.patch = p;
	if (strlen(pre) > NPM_SEMVER_MAX_LEN)
		return AL_E_LIMIT;
	memcpy(v.pre, pre, strlen(pre) + 1);
	return sv_list_add(l, op, &v);
}

static bool sv_xchar(const char *p, const char *end)
{
	return p < end && (*p == 'x' || *p == 'X' || *p == '*');
}

/*
 * Parse [v=]*XID[.XID[.XID[-pre][+build]]] over [p, end). A wildcard
 * followed by a number ("1.x.5", "x.1") is refused, as node-semver does.
 */
static int sv_partial(const char *p, const char *end, unsigned flags,
		      struct sv_partial *out)
{
	struct npm_version tail;
	int i, rc;

	memset(out, 0, sizeof(*out));
	while (p < end && (*p == 'v' || *p == '='))
		p++;
	for (i = 0; i < 3; i++) {
		if (i > 0 && (p >= end || *p != '.'))
			break;
		if (i > 0)
			p++;
		if (sv_xchar(p, end)) {
			out->x[i] = true;
			p++;
		} else if (sv_number(&p, end, SV_LOOSE(flags), &out->n[i])) {
			return AL_E_SEMVER;
		} else if (i > 0 && out->x[i - 1]) {
			return AL_E_SEMVER;
		}
	}
	if (p != end && i != 3)
		return AL_E_SEMVER;
	for (; i < 3; i++)
		out->x[i] = true;
	if (p == end)
		return 0;
	rc = sv_tail(p, end, flags, &tail);
	if (rc)
		return rc;
	memcpy(out->pre, tail.pre, sizeof(out->pre));
	return 0;
}

/* ^M.m.p: changes that do not modify the left-most non-zero part. */
static int sv_caret(const struct sv_partial *P, unsigned flags,
		    struct sv_list *l)
{
	const char *z = SV_INCPR(flags) ? "0" : "";
	uint64_t M = P->n[0], m = P->n[1], p = P->n[2];
	int rc;

	if (P->x[0])
		return sv_list_add(l, NPM_OP_ANY, NULL);
	if (P->x[1]) {
		rc = sv_add(l, NPM_OP_GE, M, 0, 0, z);
		return rc ? rc : sv_add(l, NPM_OP_LT, M + 1, 0, 0, "0");
	}
	if (P->x[2]) {
		rc = sv_add(l, NPM_OP_GE, M, m, 0, z);
		if (rc)
			return rc;
		if (M == 0)
			return sv_add(l, NPM_OP_LT, 0, m + 1, 0, "0");
		return sv_add(l, NPM_OP_LT, M + 1, 0, 0, "0");
	}
	rc = sv_add(l, NPM_OP_GE, M, m, p, P->pre);
	if (rc)
		return rc;
	if (M == 0 && m == 0)
		return sv_add(l, NPM_OP_LT, 0, 0, p + 1, "0");
	if (M == 0)
		return sv_add(l, NPM_OP_LT, 0, m + 1, 0, "0");
	return sv_add(l, NPM_OP_LT, M + 1, 0, 0, "0");
}

/* ~M.m.p: patch-level changes if a minor is given, else minor-level. */
static int sv_tilde(const struct sv_partial *P, unsigned flags,
		    struct sv_list *l)
{
	const char *z = SV_INCPR(flags) ? "0" : "";
	uint64_t M = P->n[0], m = P->n[1];
	int rc;

	if (P->x[0])
		return sv_list_add(l, NPM_OP_ANY, NULL);
	if (P->x[1]) {
		rc = sv_add(l, NPM_OP_GE, M, 0, 0, z);
		return rc ? rc : sv_add(l, NPM_OP_LT, M + 1, 0, 0, "0");
	}
	if (P->x[2])
		rc = sv_add(l, NPM_OP_GE, M, m, 0, z);
	else
		rc = sv_add(l, NPM_OP_GE, M, m, P->n[2], P->pre);
	return rc ? rc : sv_add(l, NPM_OP_LT, M, m + 1, 0, "0");
}

static enum npm_op sv_op(const char *gtlt)
{
	if (!strcmp(gtlt, "<"))
		return NPM_OP_LT;
	if (!strcmp(gtlt, "<="))
		return NPM_OP_LE;
	if (!strcmp(gtlt, ">"))
		return NPM_OP_GT;
	if (!strcmp(gtlt, ">="))
		return NPM_OP_GE;
	return NPM_OP_EQ;
}

/* [<>]=?X-range with at least one wildcard part. */
static int sv_xrange(const char *gtlt, const struct sv_partial *P,
		     unsigned flags, struct sv_list *l)
{
	const char *pr = SV_INCPR(flags) ? "0" : "";
	uint64_t M = P->n[0], m = P->n[1], p = 0;
	int rc;

	if (!strcmp(gtlt, "="))
		gtlt = "";
	if (P->x[0]) {
		if (!strcmp(gtlt, ">") || !strcmp(gtlt, "<"))
			return sv_add(l, NPM_OP_LT, 0, 0, 0, "0");
		return sv_list_add(l, NPM_OP_ANY, NULL);
	}
	if (!*gtlt) {
		rc = sv_add(l, NPM_OP_GE, M, P->x[1] ? 0 : m, 0, pr);
		if (rc)
			return rc;
		if (P->x[1])
			return sv_add(l, NPM_OP_LT, M + 1, 0, 0, "0");
		return sv_add(l, NPM_OP_LT, M, m + 1, 0, "0");
	}

	if (P->x[1])
		m = 0;
	if (!strcmp(gtlt, ">")) {
		gtlt = ">=";
		if (P->x[1])
			M++;
		else
			m++;
	} else if (!strcmp(gtlt, "<=")) {
		gtlt = "<";
		if (P->x[1])
			M++;
		else
			m++;
	}
	if (!strcmp(gtlt, "<"))
		pr = "0";
	return sv_add(l, sv_op(gtlt), M, m, p, pr);
}

/* "A - B": an inclusive range between two (partial) versions. */
static int sv_hyphen(const struct sv_partial *F, const struct sv_partial *T,
		     unsigned flags, struct sv_list *l)
{
	const char *z = SV_INCPR(flags) ? "0" : "";
	size_t before = l->n;
	int rc = 0;

	if (F->x[0])
		rc = 0;
	else if (F->x[1])
		rc = sv_add(l, NPM_OP_GE, F->n[0], 0, 0, z);
	else if (F->x[2])
		rc = sv_add(l, NPM_OP_GE, F->n[0], F->n[1], 0, z);
	else
		rc = sv_add(l, NPM_OP_GE, F->n[0], F->n[1], F->n[2],
			    F->pre[0] ? F->pre : z);
	if (rc)
		return rc;

	if (T->x[0])
		rc = 0;
	else if (T->x[1])
		rc = sv_add(l, NPM_OP_LT, T->n[0] + 1, 0, 0, "0");
	else if (T->x[2])
		rc = sv_add(l, NPM_OP_LT, T->n[0], T->n[1] + 1, 0, "0");
	else if (T->pre[0] || !SV_INCPR(flags))
		rc = sv_add(l, NPM_OP_LE, T->n[0], T->n[1], T->n[2], T->pre);
	else
		rc = sv_add(l, NPM_OP_LT, T->n[0], T->n[1], T->n[2] + 1, "0");
	if (rc == 0 && l->n == before)
		rc = sv_list_add(l, NPM_OP_ANY, NULL);
	return rc;
}

/*
 * Copy tok without its first "+build" part: node-semver drops build
 * metadata from every comparator before desugaring it.
 */
static int sv_strip_build(const char *tok, size_t len, char *out,
			  size_t outsz)
{
	const char *plus = memchr(tok, '+', len);
	size_t o = 0, i;

	if (len >= outsz)
		return AL_E_LIMIT;
	if (!plus || plus + 1 >= tok + len || !sv_idchar(plus[1])) {
		memcpy(out, tok, len);
		out[len] = '\0';
		return 0;
	}
	o = (size_t)(plus - tok);
	memcpy(out, tok, o);
	i = o + 1;
	while (i < len && (sv_idchar(tok[i]) ||
			   (tok[i] == '.' && i + 1 < len &&
			    sv_idchar(tok[i + 1]))))
		i++;
	memcpy(out + o, tok + i, len - i);
	out[o + len - i] = '\0';
	return 0;
}

/* One comparator token ("^1.2", ">=1.x", "1.2.3-rc.1") into l. */
static int sv_token(const char *tok, size_t len, unsigned flags,
		    struct sv_list *l)
{
	char buf[NPM_RANGE_MAX_LEN + 1], gtlt[3] = "";
	struct sv_partial P;
	struct npm_version v;
	const char *p = buf, *end;
	size_t g = 0;
	int rc;

	rc = sv_strip_build(tok, len, buf, sizeof(buf));
	if (rc)
		return rc;
	end = buf + strlen(buf);

	if (*p == '~' || *p == '^') {
		bool caret = *p == '^';

		p += (!caret && p[1] == '>') ? 2 : 1;
		rc = sv_partial(p, end, flags, &P);
		if (rc)
			return rc;
		return caret ? sv_caret(&P, flags, l) : sv_tilde(&P, flags, l);
	}

	if (*p == '<' || *p == '>')
		gtlt[g++] = *p++;
	if (*p == '=')
		gtlt[g++] = *p++;
	gtlt[g] = '\0';
	rc = sv_partial(p, end, flags, &P);
	if (rc)
		return rc;
	if (P.x[0] || P.x[1] || P.x[2])
		return sv_xrange(gtlt, &P, flags, l);

	rc = sv_parse_span(p, end, flags, &v);
	if (rc)
		return rc;
	return sv_list_add(l, sv_op(gtlt), &v);
}

static bool sv_is_opword(const char *t, size_t n)
{
	if (n == 1)
		return strchr("<>=~^", t[0]) != NULL;
	if (n != 2)
		return false;
	if (t[0] == '<' || t[0] == '>')
		return t[1] == '=';
	return t[0] == '~' && t[1] == '>';
}

struct sv_tok {
	const char *p;
	size_t n;
};

/* Split a part on single spaces (the range text is already collapsed). */
static size_t sv_split(const char *s, size_t len, struct sv_tok *t,
		       size_t max)
{
	size_t n = 0, i = 0;

	while (i < len && n < max) {
		size_t j = i;

		while (j < len && s[j] != ' ')
			j++;
		if (j > i) {
			t[n].p = s + i;
			t[n].n = j - i;
			n++;
		}
		i = j + 1;
	}
	return n;
}

static bool sv_is_hyphen(const struct sv_tok *t, size_t n, unsigned flags,
			 struct sv_partial *F, struct sv_partial *T)
{
	return n == 3 && t[1].n == 1 && t[1].p[0] == '-' &&
	       sv_partial(t[0].p, t[0].p + t[0].n, flags, F) == 0 &&
	       sv_partial(t[2].p, t[2].p + t[2].n, flags, T) == 0;
}

/* Merge an operator standing alone with the token after it (">= 1.2"). */
static int sv_glue(const struct sv_tok *t, size_t *i, size_t n, char *buf,
		   size_t bufsz, size_t *len)
{
	size_t a = t[*i].n, b;

	if (!sv_is_opword(t[*i].p, a) || *i + 1 >= n) {
		*len = a;
		memcpy(buf, t[*i].p, a);
		return 0;
	}
	b = t[*i + 1].n;
	if (a + b >= bufsz)
		return AL_E_LIMIT;
	memcpy(buf, t[*i].p, a);
	memcpy(buf + a, t[*i + 1].p, b);
	*len = a + b;
	(*i)++;
	return 0;
}

/* Node-semver's clean-ups: >=0.0.0 is any; null set; no duplicates. */
static void sv_tidy_set(struct sv_list *l, unsigned flags)
{
	size_t i, j, o = 0;

	for (i = 0; i < l->n; i++) {
		struct npm_comparator *c = &l->c[i];

		if (c->op == NPM_OP_GE && !c->v.major && !c->v.minor &&
		    !c->v.patch &&
		    !strcmp(c->v.pre, SV_INCPR(flags) ? "0" : ""))
			c->op = NPM_OP_ANY;
		if (c->op == NPM_OP_LT && !c->v.major && !c->v.minor &&
		    !c->v.patch && !strcmp(c->v.pre, "0")) {
			l->c[0] = *c;
			l->n = 1;
			return;
		}
	}
	for (i = 0; i < l->n; i++) {
		bool dup = false;

		for (j = 0; j < o && !dup; j++)
			dup = l->c[j].op == l->c[i].op &&
			      (l->c[i].op == NPM_OP_ANY ||
			       (npm_version_cmp(&l->c[j].v, &l->c[i].v) == 0));
		if (!dup)
			l->c[o++] = l->c[i];
	}
	l->n = o;
	if (l->n > 1) {
		for (i = 0, o = 0; i < l->n; i++)
			if (l->c[i].op != NPM_OP_ANY)
				l->c[o++] = l->c[i];
		l->n = o;
	}
}

/* One "||"-separated part into a comparator set. */
static int sv_part(const char *s, size_t len, unsigned flags,
		   struct sv_list *l)
{
	struct sv_tok t[NPM_RANGE_MAX_LEN / 2 + 1];
	struct sv_partial F, T;
	char buf[NPM_RANGE_MAX_LEN + 1];
	size_t n, i, blen;
	int rc;

	n = sv_split(s, len, t, AL_ARRAY_LEN(t));
	if (n == 0)
		return sv_list_add(l, NPM_OP_ANY, NULL);
	if (sv_is_hyphen(t, n, flags, &F, &T))
		return sv_hyphen(&F, &T, flags, l);

	for (i = 0; i < n; i++) {
		size_t before = l->n;

		rc = sv_glue(t, &i, n, buf, sizeof(buf), &blen);
		if (rc)
			return rc;
		rc = sv_token(buf, blen, flags, l);
		if (rc == -ENOMEM || (rc && !SV_LOOSE(flags)))
			return rc;
		/* Loose mode drops what it cannot read, as npm does. */
		if (rc)
			l->n = before;
	}
	if (l->n)
		sv_tidy_set(l, flags);
	return 0;
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

static bool sv_null_set(const struct npm_comparator_set *s)
{
	const struct npm_comparator *c = &s->c[0];

	return c->op == NPM_OP_LT && !c->v.major && !c->v.minor &&
	       !c->v.patch && !strcmp(c->v.pre, "0");
}

/* Across sets: drop null sets, and "*" absorbs every other set. */
static void sv_tidy_range(struct npm_range *r)
{
	size_t i, o = 0, live = 0;

	if (r->nset < 2)
		return;
	for (i = 0; i < r->nset; i++)
		live += !sv_null_set(&r->set[i]);
	for (i = 0; i < r->nset; i++) {
		bool keep = live ? !sv_null_set(&r->set[i]) : i == 0;

		if (keep)
			r->set[o++] = r->set[i];
		else
			free(r->set[i].c);
	}
	r->nset = o;
	for (i = 0; i < r->nset && r->nset > 1; i++) {
		if (r->set[i].n != 1 || r->set[i].c[0].op != NPM_OP_ANY)
			continue;
		for (size_t j = 0; j < r->nset; j++)
			if (j != i)
				free(r->set[j].c);
		r->set[0] = r->set[i];
		r->nset = 1;
	}
}

/* Trim and collapse whitespace runs into single spaces. */
static size_t sv_collapse(const char *s, char *out)
{
	size_t o = 0;

	while (sv_space(*s))
		s++;
	for (; *s; s++) {
		if (sv_space(*s)) {
			if (o && out[o - 1] != ' ')
				out[o++] = ' ';
			continue;
		}
		out[o++] = *s;
	}
	while (o && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return o;
}

static int sv_push_set(struct npm_range *r, struct sv_list *l)
{
	void *p = realloc(r->set, (r->nset + 1) * sizeof(*r->set));

	if (!p)
		return -ENOMEM;
	r->set = p;
	r->set[r->nset].c = l->c;
	r->set[r->nset].n = l->n;
	r->nset++;
	memset(l, 0, sizeof(*l));
	return 0;
}

int npm_range_parse(const char *s, unsigned flags, struct npm_range *out)
{
	char buf[NPM_RANGE_MAX_LEN + 1];
	struct sv_list l = { 0 };
	size_t len, i = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->flags = flags;
	if (!s)
		return AL_E_SEMVER;
	if (strlen(s) > NPM_RANGE_MAX_LEN)
		return AL_E_LIMIT;
	len = sv_collapse(s, buf);

	for (;;) {
		char *bar = strstr(buf + i, "||");
		size_t j = bar ? (size_t)(bar - buf) : len, a = i, b = j;

		while (a < b && buf[a] == ' ')
			a++;
		while (b > a && buf[b - 1] == ' ')
			b--;
		rc = sv_part(buf + a, b - a, flags, &l);
		if (rc)
			goto out;
		if (l.n) {
			rc = sv_push_set(out, &l);
			if (rc)
				goto out;
		}
		if (!bar)
			break;
		i = j + 2;
	}
	rc = out->nset ? 0 : AL_E_SEMVER;
	if (!rc)
		sv_tidy_range(out);
out:
	free(l.c);
	if (rc)
		npm_range_free(out);
	return rc;
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
	if (!have || !npm_range_satisfies(r, &best))
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
