/*
 * semver_parse.c - reading versions, comparators and ranges the way
 * node-semver 7.8 reads them (see semver.h).
 *
 * npm's range syntax is not defined by a grammar but by node-semver's
 * sequence of regular-expression rewrites: strip build metadata, expand
 * a hyphen range, glue operators to their versions, expand carets,
 * tildes, x-ranges and stars, drop ">=0.0.0", then read what is left as
 * primitive comparators. Malformed input falls through those rewrites in
 * ways a hand-written parser does not reproduce, so this file follows the
 * same steps with the same patterns (PCRE2 matches them with the same
 * backtracking rules as JavaScript), including the bounded repetitions
 * node-semver uses against slow matching. "Whitespace" is JavaScript's
 * \s: ASCII blanks plus the Unicode space separators and U+FEFF.
 * The patterns are node-semver's (ISC licence), written out here as the
 * specification of the format; the differential test checks them.
 */
#include "npm/semver.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/util.h"

#define SV_LOOSE(f) (((f) & NPM_SEMVER_LOOSE) != 0)
#define SV_INCPR(f) (((f) & NPM_SEMVER_INCLUDE_PRERELEASE) != 0)

/* ---- the patterns ------------------------------------------------------ */

#define WSC                                                                \
	"\\t\\n\\x0b\\f\\r \\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}"       \
	"\\x{2029}\\x{202f}\\x{205f}\\x{3000}\\x{feff}"
#define S01 "[" WSC "]{0,1}"
#define S11 "[" WSC "]{1,1}"
#define NUM "0|[1-9][0-9]{0,256}"
#define NUML "[0-9]{1,256}"
#define NONNUM "[0-9]{0,256}[a-zA-Z-][a-zA-Z0-9-]{0,250}"
#define PREID "(?:" NONNUM "|" NUM ")"
#define PREIDL "(?:" NONNUM "|" NUML ")"
#define PRE "(?:-(" PREID "(?:\\." PREID ")*))"
#define PREL "(?:-?(" PREIDL "(?:\\." PREIDL ")*))"
#define BID "[a-zA-Z0-9-]{1,250}"
#define BUILD "(?:\\+(" BID "(?:\\." BID ")*))"
#define MAIN "(" NUM ")\\.(" NUM ")\\.(" NUM ")"
#define MAINL "(" NUML ")\\.(" NUML ")\\.(" NUML ")"
#define FULLPLAIN "v?" MAIN PRE "?" BUILD "?"
#define LOOSEPLAIN "[v=" WSC "]*" MAINL PREL "?" BUILD "?"
#define GTLT "((?:<|>)?=?)"
#define XID NUM "|x|X|\\*"
#define XIDL NUML "|x|X|\\*"
#define XPLAIN                                                             \
	"[v=" WSC "]*(" XID ")(?:\\.(" XID ")(?:\\.(" XID ")(?:" PRE           \
	")?" BUILD "?)?)?"
#define XPLAINL                                                            \
	"[v=" WSC "]*(" XIDL ")(?:\\.(" XIDL ")(?:\\.(" XIDL ")(?:" PREL       \
	")?" BUILD "?)?)?"

#define SV_RE_TABLE(X)                                                     \
	X(RE_FULL, "^" FULLPLAIN "$")                                          \
	X(RE_LOOSE, "^" LOOSEPLAIN "$")                                        \
	X(RE_BUILDSTRIP, "(?:\\+([a-zA-Z0-9-]+(?:\\.[a-zA-Z0-9-]+)*))")        \
	X(RE_BUILD, BUILD)                                                     \
	X(RE_HYPHEN, "^" S01 "(" XPLAIN ")" S11 "-" S11 "(" XPLAIN ")" S01 "$") \
	X(RE_HYPHENL,                                                          \
	  "^" S01 "(" XPLAINL ")" S11 "-" S11 "(" XPLAINL ")" S01 "$")         \
	X(RE_CTRIM, "(" S01 ")" GTLT S01 "(" LOOSEPLAIN "|" XPLAIN ")")        \
	X(RE_TILDETRIM, "(" S01 ")(?:~>?)" S11)                                \
	X(RE_CARETTRIM, "(" S01 ")(?:\\^)" S11)                                \
	X(RE_TILDE, "^(?:~>?)" XPLAIN "$")                                     \
	X(RE_TILDEL, "^(?:~>?)" XPLAINL "$")                                   \
	X(RE_CARET, "^(?:\\^)" XPLAIN "$")                                     \
	X(RE_CARETL, "^(?:\\^)" XPLAINL "$")                                   \
	X(RE_XRANGE, "^" GTLT S01 XPLAIN "$")                                  \
	X(RE_XRANGEL, "^" GTLT S01 XPLAINL "$")                                \
	X(RE_STAR, "(<|>)?=?" S01 "\\*")                                       \
	X(RE_GTE0, "^" S01 ">=" S01 "0\\.0\\.0" S01 "$")                       \
	X(RE_GTE0PRE, "^" S01 ">=" S01 "0\\.0\\.0-0" S01 "$")                  \
	X(RE_COMP, "^" GTLT S01 "(" FULLPLAIN ")$|^$")                         \
	X(RE_COMPL, "^" GTLT S01 "(" LOOSEPLAIN ")$|^$")

enum sv_re {
#define SV_X_ENUM(e, src) e,
	SV_RE_TABLE(SV_X_ENUM)
#undef SV_X_ENUM
	RE__COUNT
};

static const char *const sv_src[] = {
#define SV_X_SRC(e, src) src,
	SV_RE_TABLE(SV_X_SRC)
#undef SV_X_SRC
};

static pcre2_code *sv_re[RE__COUNT];
static pthread_once_t sv_once = PTHREAD_ONCE_INIT;
static bool sv_ready;

static void sv_compile(void)
{
	PCRE2_SIZE off;
	int e;

	for (int i = 0; i < RE__COUNT; i++) {
		/* JavaScript's $ matches only at the very end. */
		sv_re[i] = pcre2_compile((PCRE2_SPTR)sv_src[i],
					 PCRE2_ZERO_TERMINATED,
					 PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &e,
					 &off, NULL);
		if (!sv_re[i])
			return;
	}
	sv_ready = true;
}

static int sv_init(void)
{
	pthread_once(&sv_once, sv_compile);
	return sv_ready ? 0 : -ENOMEM;
}

/* A match: up to 16 groups as [start, end) offsets, -1 when unset. */
struct sv_m {
	const char *s;
	long g[16][2];
};

/* One match block per thread, kept: ranges are read in hot loops. */
static __thread pcre2_match_data *sv_md;

static bool sv_match(enum sv_re re, const char *s, size_t len,
		     struct sv_m *m)
{
	pcre2_match_data *md = sv_md;
	PCRE2_SIZE *ov;
	int rc;

	if (!md)
		md = sv_md = pcre2_match_data_create(16, NULL);
	if (!md)
		return false;
	rc = pcre2_match(sv_re[re], (PCRE2_SPTR)s, len, 0, 0, md, NULL);
	if (rc > 0) {
		ov = pcre2_get_ovector_pointer(md);
		m->s = s;
		for (int i = 0; i < 16; i++) {
			bool set = i < rc && ov[2 * i] != PCRE2_UNSET;

			m->g[i][0] = set ? (long)ov[2 * i] : -1;
			m->g[i][1] = set ? (long)ov[2 * i + 1] : -1;
		}
	}
	return rc > 0;
}

static bool sv_has(const struct sv_m *m, int i)
{
	return m->g[i][0] >= 0;
}

static size_t sv_glen(const struct sv_m *m, int i)
{
	return sv_has(m, i) ? (size_t)(m->g[i][1] - m->g[i][0]) : 0;
}

static const char *sv_gp(const struct sv_m *m, int i)
{
	return sv_has(m, i) ? m->s + m->g[i][0] : "";
}

/* Append group i (nothing when unset). */
static int sv_put(struct al_buf *b, const struct sv_m *m, int i)
{
	return al_buf_append(b, sv_gp(m, i), sv_glen(m, i));
}

/*
 * Replace the first (or, with global, every) match of re in b by repl,
 * where $1.. name groups and an unset group is empty, as in JavaScript.
 */
static int sv_subst(enum sv_re re, const char *repl, bool global,
		    struct al_buf *b)
{
	uint32_t opt = PCRE2_SUBSTITUTE_UNSET_EMPTY |
		       PCRE2_SUBSTITUTE_OVERFLOW_LENGTH |
		       (global ? PCRE2_SUBSTITUTE_GLOBAL : 0);
	PCRE2_SIZE outlen = b->len * 2 + 64;
	char *out = NULL;
	int rc;

	for (int tries = 0; tries < 2; tries++) {
		free(out);
		out = malloc(outlen + 1);
		if (!out)
			return -ENOMEM;
		rc = pcre2_substitute(sv_re[re], (PCRE2_SPTR)b->p, b->len, 0,
				      opt, NULL, NULL, (PCRE2_SPTR)repl,
				      PCRE2_ZERO_TERMINATED,
				      (PCRE2_UCHAR *)out, &outlen);
		if (rc != PCRE2_ERROR_NOMEMORY)
			break;
	}
	if (rc < 0) {
		free(out);
		return AL_E_SEMVER;
	}
	b->len = 0;
	rc = al_buf_append(b, out, outlen);
	free(out);
	return rc;
}

/* ---- JavaScript string helpers ---------------------------------------- */

/* Bytes of the JavaScript whitespace character at p, or 0. */
static size_t sv_ws(const char *p, const char *end)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t n = (size_t)(end - p);

	if (n == 0)
		return 0;
	if (u[0] == ' ' || (u[0] >= 0x09 && u[0] <= 0x0d))
		return 1;
	if (n >= 2 && u[0] == 0xc2 && u[1] == 0xa0)
		return 2;
	if (n < 3)
		return 0;
	if ((u[0] == 0xe1 && u[1] == 0x9a && u[2] == 0x80) ||
	    (u[0] == 0xe2 && u[1] == 0x81 && u[2] == 0x9f) ||
	    (u[0] == 0xe3 && u[1] == 0x80 && u[2] == 0x80) ||
	    (u[0] == 0xef && u[1] == 0xbb && u[2] == 0xbf))
		return 3;
	if (u[0] == 0xe2 && u[1] == 0x80 &&
	    ((u[2] >= 0x80 && u[2] <= 0x8a) || u[2] == 0xa8 || u[2] == 0xa9 ||
	     u[2] == 0xaf))
		return 3;
	return 0;
}

/* Bytes of a whitespace character that ends exactly at end, or 0. */
static size_t sv_ws_before(const char *start, const char *end)
{
	for (size_t k = 1; k <= 3 && (size_t)(end - start) >= k; k++)
		if (sv_ws(end - k, end) == k)
			return k;
	return 0;
}

/* String.prototype.trim over [*a, *b). */
static void sv_trim(const char **a, const char **b)
{
	size_t k;

	while (*a < *b && (k = sv_ws(*a, *b)) > 0)
		*a += k;
	while (*b > *a && (k = sv_ws_before(*a, *b)) > 0)
		*b -= k;
}

/* trim() then every whitespace run replaced by one space, into out. */
static int sv_collapse(const char *a, const char *b, struct al_buf *out)
{
	bool space = false;
	int rc = al_buf_append(out, "", 0);
	size_t k;

	sv_trim(&a, &b);
	while (!rc && a < b) {
		k = sv_ws(a, b);
		if (k) {
			a += k;
			space = true;
			continue;
		}
		if (space)
			rc = al_buf_append(out, " ", 1);
		space = false;
		if (!rc)
			rc = al_buf_append(out, a++, 1);
	}
	return rc;
}

/* The length in UTF-16 code units of UTF-8 text (JavaScript's). */
static size_t sv_js_length_n(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = 0;

	for (const unsigned char *e = u + len; u < e; u++) {
		if ((*u & 0xc0) == 0x80)
			continue;
		n += *u >= 0xf0 ? 2 : 1;
	}
	return n;
}

/* ---- versions ------------------------------------------------------------ */

static bool sv_all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return n > 0;
}

/* A digit string as JavaScript's +s: a double. */
static double sv_to_double(const char *s, size_t n)
{
	char buf[300];

	if (n >= sizeof(buf))
		return 1e300;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return strtod(buf, NULL);
}

/* +s for a main version number; refused above 2^53 - 1. */
static int sv_main_number(const char *s, size_t n, uint64_t *out)
{
	double d = sv_to_double(s, n);

	if (d > (double)NPM_SEMVER_MAX_NUM)
		return AL_E_SEMVER;
	*out = (uint64_t)d;
	return 0;
}

/*
 * Prerelease identifiers: a numeric one below 2^53 - 1 becomes a number
 * (so "007" reads as "7"); others stay text, as node-semver keeps them.
 */
static int sv_put_pre(const char *s, size_t n, char *out)
{
	size_t o = 0;

	while (n > 0) {
		size_t k = 0;
		const char *id = s;
		char num[32];

		while (k < n && s[k] != '.')
			k++;
		if (sv_all_digits(id, k) &&
		    sv_to_double(id, k) < (double)NPM_SEMVER_MAX_NUM) {
			snprintf(num, sizeof(num), "%llu",
				 (unsigned long long)sv_to_double(id, k));
			id = num;
		}
		size_t idn = id == s ? k : strlen(id);

		if (o + idn + 1 > NPM_SEMVER_MAX_LEN)
			return AL_E_LIMIT;
		memcpy(out + o, id, idn);
		o += idn;
		s += k;
		n -= k;
		if (n > 0) {
			out[o++] = '.';
			s++;
			n--;
		}
	}
	out[o] = '\0';
	return 0;
}

/* node-semver's SemVer constructor over [s, s + len). */
static int sv_version_span(const char *s, size_t len, unsigned flags,
			   struct npm_version *v)
{
	struct sv_m m;
	const char *a = s, *b = s + len;
	int rc;

	memset(v, 0, sizeof(*v));
	sv_trim(&a, &b);
	if (!sv_match(SV_LOOSE(flags) ? RE_LOOSE : RE_FULL, a,
		      (size_t)(b - a), &m))
		return AL_E_SEMVER;
	rc = sv_main_number(sv_gp(&m, 1), sv_glen(&m, 1), &v->major);
	if (!rc)
		rc = sv_main_number(sv_gp(&m, 2), sv_glen(&m, 2), &v->minor);
	if (!rc)
		rc = sv_main_number(sv_gp(&m, 3), sv_glen(&m, 3), &v->patch);
	if (!rc)
		rc = sv_put_pre(sv_gp(&m, 4), sv_glen(&m, 4), v->pre);
	if (!rc && sv_glen(&m, 5) <= NPM_SEMVER_MAX_LEN) {
		memcpy(v->build, sv_gp(&m, 5), sv_glen(&m, 5));
		v->build[sv_glen(&m, 5)] = '\0';
	}
	if (rc)
		memset(v, 0, sizeof(*v));
	return rc ? AL_E_SEMVER : 0;
}

int npm_version_parse(const char *s, unsigned flags, struct npm_version *out)
{
	memset(out, 0, sizeof(*out));
	if (!s)
		return AL_E_SEMVER;
	if (strlen(s) > 4 * NPM_SEMVER_MAX_LEN ||
	    sv_js_length_n(s, strlen(s)) > NPM_SEMVER_MAX_LEN)
		return AL_E_LIMIT;
	if (sv_init())
		return -ENOMEM;
	return sv_version_span(s, strlen(s), flags, out);
}

/* ---- comparators ------------------------------------------------------- */

static enum npm_op sv_op(const char *g, size_t n)
{
	if (n == 1)
		return g[0] == '<' ? NPM_OP_LT : g[0] == '>' ? NPM_OP_GT
							      : NPM_OP_EQ;
	if (n == 2)
		return g[0] == '<' ? NPM_OP_LE : NPM_OP_GE;
	return NPM_OP_EQ;
}

/* The Comparator constructor on one token (already without spaces). */
static int sv_comparator(const char *s, size_t len, unsigned flags,
			 struct npm_comparator *c)
{
	struct al_buf t = { 0 };
	struct sv_m m;
	int rc;

	memset(c, 0, sizeof(*c));
	rc = sv_collapse(s, s + len, &t);
	if (rc)
		return rc;
	rc = AL_E_SEMVER;
	if (!sv_match(SV_LOOSE(flags) ? RE_COMPL : RE_COMP, t.p, t.len, &m))
		goto out;
	if (!sv_has(&m, 2)) {
		c->op = NPM_OP_ANY;
		rc = 0;
		goto out;
	}
	c->op = sv_op(sv_gp(&m, 1), sv_glen(&m, 1));
	/* The SemVer constructor refuses over 256 UTF-16 units. */
	if (sv_js_length_n(sv_gp(&m, 2), sv_glen(&m, 2)) > NPM_SEMVER_MAX_LEN)
		goto out;
	rc = sv_version_span(sv_gp(&m, 2), sv_glen(&m, 2), flags, &c->v);
out:
	al_buf_free(&t);
	return rc;
}

int npm_comparator_parse(const char *s, unsigned flags,
			 struct npm_comparator *out)
{
	memset(out, 0, sizeof(*out));
	if (!s)
		return AL_E_SEMVER;
	if (strlen(s) > NPM_RANGE_MAX_LEN)
		return AL_E_LIMIT;
	if (sv_init())
		return -ENOMEM;
	return sv_comparator(s, strlen(s), flags, out);
}

/* ---- the rewrites -------------------------------------------------------- */

static bool sv_isx(const struct sv_m *m, int i)
{
	size_t n = sv_glen(m, i);
	const char *p = sv_gp(m, i);

	return n == 0 || (n == 1 && (*p == 'x' || *p == 'X' || *p == '*'));
}

/* JavaScript's String(+digits + 1). Past 10^21 it prints an exponent,
 * which no later pattern accepts; that is what node-semver does too. */
static int sv_put_inc(struct al_buf *b, const struct sv_m *m, int i)
{
	double d = sv_to_double(sv_gp(m, i), sv_glen(m, i)) + 1;

	if (d >= 1e21)
		return al_buf_puts(b, "1e+21");
	return al_buf_printf(b, "%.0f", d);
}

/* "A - B" into ">=A <=B" and its x-range and prerelease variants. */
static int sv_hyphen(const struct sv_m *m, unsigned flags, struct al_buf *o)
{
	const char *z = SV_INCPR(flags) ? "-0" : "";
	bool from = true;
	int rc = 0;

	if (sv_isx(m, 2)) {
		from = false;
	} else if (sv_isx(m, 3)) {
		rc = al_buf_printf(o, ">=%.*s.0.0%s", (int)sv_glen(m, 2),
				   sv_gp(m, 2), z);
	} else if (sv_isx(m, 4)) {
		rc = al_buf_printf(o, ">=%.*s.%.*s.0%s", (int)sv_glen(m, 2),
				   sv_gp(m, 2), (int)sv_glen(m, 3), sv_gp(m, 3),
				   z);
	} else {
		rc = al_buf_printf(o, ">=%.*s%s", (int)sv_glen(m, 1),
				   sv_gp(m, 1), sv_has(m, 5) ? "" : z);
	}
	if (rc || sv_isx(m, 8))
		return rc;
	if (from)
		rc = al_buf_puts(o, " ");
	if (!rc && sv_isx(m, 9)) {
		rc = al_buf_puts(o, "<");
		rc = rc ? rc : sv_put_inc(o, m, 8);
		rc = rc ? rc : al_buf_puts(o, ".0.0-0");
	} else if (!rc && sv_isx(m, 10)) {
		rc = al_buf_printf(o, "<%.*s.", (int)sv_glen(m, 8),
				   sv_gp(m, 8));
		rc = rc ? rc : sv_put_inc(o, m, 9);
		rc = rc ? rc : al_buf_puts(o, ".0-0");
	} else if (!rc && sv_has(m, 11)) {
		rc = al_buf_printf(o, "<=%.*s.%.*s.%.*s-%.*s",
				   (int)sv_glen(m, 8), sv_gp(m, 8),
				   (int)sv_glen(m, 9), sv_gp(m, 9),
				   (int)sv_glen(m, 10), sv_gp(m, 10),
				   (int)sv_glen(m, 11), sv_gp(m, 11));
	} else if (!rc && SV_INCPR(flags)) {
		rc = al_buf_printf(o, "<%.*s.%.*s.", (int)sv_glen(m, 8),
				   sv_gp(m, 8), (int)sv_glen(m, 9),
				   sv_gp(m, 9));
		rc = rc ? rc : sv_put_inc(o, m, 10);
		rc = rc ? rc : al_buf_puts(o, "-0");
	} else if (!rc) {
		rc = al_buf_printf(o, "<=%.*s", (int)sv_glen(m, 7),
				   sv_gp(m, 7));
	}
	return rc;
}

/* Groups 1..4 of a caret or tilde match are M, m, p, pre. */
#define G(i) (int)sv_glen(m, i), sv_gp(m, i)

static int sv_caret(const struct sv_m *m, unsigned flags, struct al_buf *o)
{
	const char *z = SV_INCPR(flags) ? "-0" : "";
	bool M0 = sv_glen(m, 1) == 1 && sv_gp(m, 1)[0] == '0';
	bool m0 = sv_glen(m, 2) == 1 && sv_gp(m, 2)[0] == '0';
	int rc;

	if (sv_isx(m, 1))
		return 0;
	if (sv_isx(m, 2)) {
		rc = al_buf_printf(o, ">=%.*s.0.0%s <", G(1), z);
		rc = rc ? rc : sv_put_inc(o, m, 1);
		return rc ? rc : al_buf_puts(o, ".0.0-0");
	}
	if (sv_isx(m, 3)) {
		rc = al_buf_printf(o, ">=%.*s.%.*s.0%s <", G(1), G(2), z);
		if (rc)
			return rc;
		if (M0) {
			rc = al_buf_printf(o, "%.*s.", G(1));
			rc = rc ? rc : sv_put_inc(o, m, 2);
			return rc ? rc : al_buf_puts(o, ".0-0");
		}
		rc = sv_put_inc(o, m, 1);
		return rc ? rc : al_buf_puts(o, ".0.0-0");
	}
	rc = al_buf_printf(o, ">=%.*s.%.*s.%.*s%s%.*s <", G(1), G(2), G(3),
			   sv_has(m, 4) ? "-" : "", G(4));
	if (rc)
		return rc;
	if (M0 && m0) {
		rc = al_buf_printf(o, "%.*s.%.*s.", G(1), G(2));
		rc = rc ? rc : sv_put_inc(o, m, 3);
		return rc ? rc : al_buf_puts(o, "-0");
	}
	if (M0) {
		rc = al_buf_printf(o, "%.*s.", G(1));
		rc = rc ? rc : sv_put_inc(o, m, 2);
		return rc ? rc : al_buf_puts(o, ".0-0");
	}
	rc = sv_put_inc(o, m, 1);
	return rc ? rc : al_buf_puts(o, ".0.0-0");
}

static int sv_tilde(const struct sv_m *m, unsigned flags, struct al_buf *o)
{
	const char *z = SV_INCPR(flags) ? "-0" : "";
	int rc;

	if (sv_isx(m, 1))
		return 0;
	if (sv_isx(m, 2)) {
		rc = al_buf_printf(o, ">=%.*s.0.0%s <", G(1), z);
		rc = rc ? rc : sv_put_inc(o, m, 1);
		return rc ? rc : al_buf_puts(o, ".0.0-0");
	}
	if (sv_isx(m, 3))
		rc = al_buf_printf(o, ">=%.*s.%.*s.0%s <", G(1), G(2), z);
	else
		rc = al_buf_printf(o, ">=%.*s.%.*s.%.*s%s%.*s <", G(1), G(2),
				   G(3), sv_has(m, 4) ? "-" : "", G(4));
	rc = rc ? rc : al_buf_printf(o, "%.*s.", G(1));
	rc = rc ? rc : sv_put_inc(o, m, 2);
	return rc ? rc : al_buf_puts(o, ".0-0");
}

/* Groups: 1 gtlt, 2 M, 3 m, 4 p. */
static int sv_xrange(const struct sv_m *m, unsigned flags,
		     const char *comp, size_t clen, struct al_buf *o)
{
	bool xM = sv_isx(m, 2), xm = xM || sv_isx(m, 3);
	bool xp = xm || sv_isx(m, 4);
	char gtlt[3] = "";
	const char *pr = SV_INCPR(flags) ? "-0" : "";
	int rc = 0;

	memcpy(gtlt, sv_gp(m, 1), sv_glen(m, 1));
	gtlt[sv_glen(m, 1)] = '\0';
	/* "1.x.3" or "x.1": not an x-range; the token stays as written. */
	if ((xM && !sv_isx(m, 3)) || (sv_isx(m, 3) && sv_has(m, 4) &&
				       !sv_isx(m, 4)))
		return al_buf_append(o, comp, clen);
	if (!strcmp(gtlt, "=") && xp)
		gtlt[0] = '\0';

	if (xM)
		return al_buf_puts(o, !strcmp(gtlt, ">") || !strcmp(gtlt, "<")
					      ? "<0.0.0-0"
					      : "*");
	if (*gtlt && xp) {
		bool incM = false, incm = false;

		if (!strcmp(gtlt, ">")) {
			memcpy(gtlt, ">=", 3);
			incM = xm;
			incm = !xm;
		} else if (!strcmp(gtlt, "<=")) {
			memcpy(gtlt, "<", 2);
			incM = xm;
			incm = !xm;
		}
		if (!strcmp(gtlt, "<"))
			pr = "-0";
		rc = al_buf_puts(o, gtlt);
		rc = rc ? rc : incM ? sv_put_inc(o, m, 2) : sv_put(o, m, 2);
		rc = rc ? rc : al_buf_puts(o, ".");
		if (!rc && (xm || incM))
			rc = al_buf_puts(o, "0");
		else if (!rc)
			rc = incm ? sv_put_inc(o, m, 3) : sv_put(o, m, 3);
		return rc ? rc : al_buf_printf(o, ".0%s", pr);
	}
	if (xm) {
		rc = al_buf_printf(o, ">=%.*s.0.0%s <", G(2), pr);
		rc = rc ? rc : sv_put_inc(o, m, 2);
		return rc ? rc : al_buf_puts(o, ".0.0-0");
	}
	if (xp) {
		rc = al_buf_printf(o, ">=%.*s.%.*s.0%s <%.*s.", G(2), G(3), pr,
				   G(2));
		rc = rc ? rc : sv_put_inc(o, m, 3);
		return rc ? rc : al_buf_puts(o, ".0-0");
	}
	return al_buf_append(o, comp, clen);
}

#undef G

enum sv_step { STEP_CARET, STEP_TILDE, STEP_XRANGE };

/* One whitespace-free token through one sugar rewrite, appended to o. */
static int sv_step_one(enum sv_step st, const char *t, size_t n,
		       unsigned flags, struct al_buf *o)
{
	bool loose = SV_LOOSE(flags);
	struct sv_m m;

	switch (st) {
	case STEP_CARET:
		if (sv_match(loose ? RE_CARETL : RE_CARET, t, n, &m))
			return sv_caret(&m, flags, o);
		break;
	case STEP_TILDE:
		if (sv_match(loose ? RE_TILDEL : RE_TILDE, t, n, &m))
			return sv_tilde(&m, flags, o);
		break;
	case STEP_XRANGE:
		if (sv_match(loose ? RE_XRANGEL : RE_XRANGE, t, n, &m))
			return sv_xrange(&m, flags, t, n, o);
		break;
	}
	return al_buf_append(o, t, n);
}

/*
 * s.split(/\s+/).map(step).join(' ') (after trim() when trim is set),
 * replacing b.
 */
static int sv_step(enum sv_step st, bool trim, unsigned flags,
		   struct al_buf *b)
{
	struct al_buf o = { 0 };
	const char *a = b->p, *e = b->p + b->len;
	int rc = al_buf_append(&o, "", 0);
	bool first = true;

	if (trim)
		sv_trim(&a, &e);
	while (!rc) {
		const char *t = a;
		size_t k = 0;

		while (t < e && (k = sv_ws(t, e)) == 0)
			t++;
		if (!first)
			rc = al_buf_append(&o, " ", 1);
		first = false;
		if (!rc)
			rc = sv_step_one(st, a, (size_t)(t - a), flags, &o);
		if (t >= e)
			break;
		a = t + k;
		/* A trailing run still yields one empty token, as split()
		 * does. */
		while (a < e && (k = sv_ws(a, e)) > 0)
			a += k;
	}
	if (!rc) {
		al_buf_free(b);
		*b = o;
	} else {
		al_buf_free(&o);
	}
	return rc;
}

/* parseComparator: build, carets, tildes, x-ranges, stars. */
static int sv_desugar(const char *t, size_t n, unsigned flags,
		      struct al_buf *out)
{
	struct al_buf b = { 0 };
	const char *a, *e;
	int rc = al_buf_append(&b, t, n);

	rc = rc ? rc : sv_subst(RE_BUILD, "", false, &b);
	rc = rc ? rc : sv_step(STEP_CARET, true, flags, &b);
	rc = rc ? rc : sv_step(STEP_TILDE, true, flags, &b);
	rc = rc ? rc : sv_step(STEP_XRANGE, false, flags, &b);
	if (!rc) {
		a = b.p;
		e = b.p + b.len;
		sv_trim(&a, &e);
		memmove(b.p, a, (size_t)(e - a));
		b.len = (size_t)(e - a);
		b.p[b.len] = '\0';
		rc = sv_subst(RE_STAR, "", false, &b);
	}
	if (!rc)
		rc = al_buf_append(out, b.p, b.len);
	al_buf_free(&b);
	return rc;
}

/* A growable comparator list for one set. */
struct sv_list {
	struct npm_comparator *c;
	size_t n;
	size_t cap;
};

static int sv_list_add(struct sv_list *l, const struct npm_comparator *c)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		void *p = realloc(l->c, cap * sizeof(*l->c));

		if (!p)
			return -ENOMEM;
		l->c = p;
		l->cap = cap;
	}
	l->c[l->n++] = *c;
	return 0;
}

static bool sv_is_null(const struct npm_comparator *c)
{
	return c->op == NPM_OP_LT && !c->v.major && !c->v.minor &&
	       !c->v.patch && !strcmp(c->v.pre, "0");
}

/* Equal comparator values (operator and normalised version). */
static bool sv_same(const struct npm_comparator *a,
		    const struct npm_comparator *b)
{
	if (a->op != b->op)
		return false;
	return a->op == NPM_OP_ANY ||
	       (a->v.major == b->v.major && a->v.minor == b->v.minor &&
		a->v.patch == b->v.patch && !strcmp(a->v.pre, b->v.pre));
}

/*
 * One comparator token after desugaring: ">=0.0.0" means any, loose mode
 * drops what is not a comparator, then the null set swallows the set
 * (later tokens must still be valid) and duplicates go.
 */
static int sv_add_token(const char *t, size_t n, unsigned flags,
			struct sv_list *l, bool *null_set)
{
	struct npm_comparator c;
	struct al_buf b = { 0 };
	struct sv_m m;
	int rc = al_buf_append(&b, t, n);

	rc = rc ? rc
		: sv_subst(SV_INCPR(flags) ? RE_GTE0PRE : RE_GTE0, "", false,
			   &b);
	if (rc)
		goto out;
	if (SV_LOOSE(flags) && !sv_match(RE_COMPL, b.p, b.len, &m))
		goto out;
	rc = sv_comparator(b.p, b.len, flags, &c);
	if (rc || *null_set)
		goto out;
	if (sv_is_null(&c)) {
		*null_set = true;
		l->n = 0;
		rc = sv_list_add(l, &c);
		goto out;
	}
	for (size_t i = 0; i < l->n; i++)
		if (sv_same(&l->c[i], &c))
			goto out;
	rc = sv_list_add(l, &c);
out:
	al_buf_free(&b);
	return rc;
}

/* split(' ').map(parseComparator).join(' ') into out. */
static int sv_desugar_all(const struct al_buf *b, unsigned flags,
			  struct al_buf *out)
{
	const char *a = b->p, *e = b->p + b->len;
	int rc = al_buf_append(out, "", 0);

	while (!rc) {
		const char *sp = memchr(a, ' ', (size_t)(e - a));
		const char *t = sp ? sp : e;

		if (a != b->p)
			rc = al_buf_append(out, " ", 1);
		rc = rc ? rc : sv_desugar(a, (size_t)(t - a), flags, out);
		if (!sp)
			break;
		a = sp + 1;
	}
	return rc;
}

/* node-semver's parseRange on one trimmed "||" part. */
static int sv_part(const char *s, size_t len, unsigned flags,
		   struct sv_list *l)
{
	struct al_buf b = { 0 }, d = { 0 };
	struct sv_m m;
	const char *a, *e;
	bool null_set = false;
	size_t k;
	int rc = al_buf_append(&b, s, len);

	rc = rc ? rc : sv_subst(RE_BUILDSTRIP, "", true, &b);
	if (!rc && sv_match(SV_LOOSE(flags) ? RE_HYPHENL : RE_HYPHEN, b.p,
			    b.len, &m)) {
		rc = sv_hyphen(&m, flags, &d);
		if (!rc) {
			al_buf_free(&b);
			b = d;
			memset(&d, 0, sizeof(d));
		}
	}
	rc = rc ? rc : sv_subst(RE_CTRIM, "$1$2$3", true, &b);
	rc = rc ? rc : sv_subst(RE_TILDETRIM, "$1~", true, &b);
	rc = rc ? rc : sv_subst(RE_CARETTRIM, "$1^", true, &b);
	rc = rc ? rc : sv_desugar_all(&b, flags, &d);

	/* split(/\s+/): empty tokens only at the ends. */
	a = d.p;
	e = d.p + d.len;
	while (!rc) {
		const char *t = a;

		k = 0;
		while (t < e && (k = sv_ws(t, e)) == 0)
			t++;
		rc = sv_add_token(a, (size_t)(t - a), flags, l, &null_set);
		if (rc || t >= e)
			break;
		a = t + k;
		while (a < e && (k = sv_ws(a, e)) > 0)
			a += k;
	}
	/* More than one comparator: "any" adds nothing. */
	if (!rc && l->n > 1) {
		size_t o = 0;

		for (size_t i = 0; i < l->n; i++)
			if (l->c[i].op != NPM_OP_ANY)
				l->c[o++] = l->c[i];
		l->n = o;
	}
	al_buf_free(&b);
	al_buf_free(&d);
	return rc;
}

static bool sv_null_set(const struct npm_comparator_set *s)
{
	return sv_is_null(&s->c[0]);
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
	struct al_buf raw = { 0 };
	struct sv_list l = { 0 };
	const char *p, *end;
	int rc;

	memset(out, 0, sizeof(*out));
	out->flags = flags;
	if (!s)
		return AL_E_SEMVER;
	if (strlen(s) > NPM_RANGE_MAX_LEN)
		return AL_E_LIMIT;
	rc = sv_init();
	rc = rc ? rc : sv_collapse(s, s + strlen(s), &raw);
	if (rc)
		goto out;

	p = raw.p;
	end = raw.p + raw.len;
	for (;;) {
		const char *bar = strstr(p, "||");
		const char *a = p, *b = bar ? bar : end;

		sv_trim(&a, &b);
		rc = sv_part(a, (size_t)(b - a), flags, &l);
		if (!rc && l.n)
			rc = sv_push_set(out, &l);
		if (rc || !bar)
			break;
		p = bar + 2;
	}
	if (!rc)
		rc = out->nset ? 0 : AL_E_SEMVER;
	if (!rc)
		sv_tidy_range(out);
out:
	free(l.c);
	al_buf_free(&raw);
	if (rc)
		npm_range_free(out);
	return rc == -ENOMEM ? rc : rc ? AL_E_SEMVER : 0;
}
