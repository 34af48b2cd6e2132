/*
 * line.c - checking one stored or exported entry byte by byte.
 *
 * Verification does not parse an entry into a tree and print it again:
 * it checks that the bytes already are the canonical form (schema/
 * lmdb.md) and then hashes them minus the "hash" member. Both ways give
 * the same answer, because canonical bytes are unique for a value, but
 * this one is a single pass with no allocation, which keeps a verifier
 * near the speed of SHA-256 itself and makes hostile input cheap.
 */
#include "audit/internal.h"

#include <string.h>

#include <openssl/evp.h>

#include "base/err.h"
#include "base/util.h"

/* Nesting allowed inside an entry; the writer's limit is lower. */
#define LINE_DEPTH_MAX 40

struct scan {
	const unsigned char *p;
	const unsigned char *end;
	const char *why;
};

/*
 * Byte classes, so that the common case costs one lookup per byte:
 * sc_plain marks bytes that stand for themselves inside a string
 * (printable ASCII but '"' and '\\'); sc_hexv gives the value of a
 * lower-case hex digit and -1 for anything else.
 */
#define SC_R4(v) v, v, v, v
#define SC_R16(v) SC_R4(v), SC_R4(v), SC_R4(v), SC_R4(v)
static const unsigned char sc_plain[256] = {
	[0x20] = 1, [0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7f] = 1,
};
static const signed char sc_hexv[256] = {
	SC_R16(-1), SC_R16(-1), SC_R16(-1),
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -1, -1, -1, -1, -1,
	SC_R16(-1), SC_R16(-1),
	-1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	SC_R16(-1), SC_R16(-1), SC_R16(-1), SC_R16(-1), SC_R16(-1),
	SC_R16(-1), SC_R16(-1), SC_R16(-1), SC_R16(-1),
};

static bool sc_fail(struct scan *s, const char *why)
{
	if (!s->why)
		s->why = why;
	return false;
}

static bool sc_lit(struct scan *s, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
		return false;
	s->p += n;
	return true;
}

static int sc_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1; /* lower-case hex is not canonical */
}

/* Length of the UTF-8 sequence at p (valid, shortest form, no
 * surrogates), or 0. */
static size_t sc_utf8(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = p[0];
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/*
 * A string in canonical spelling; s->p on the opening quote. *start and
 * *len give the bytes between the quotes. nul_ok: whether \u0000 may
 * appear (values yes, member names no).
 */
static bool sc_string(struct scan *s, const unsigned char **start,
		      size_t *len, bool nul_ok)
{
	const unsigned char *p = s->p + 1;

	if (s->p >= s->end || *s->p != '"')
		return sc_fail(s, "expected a string");
	while (p < s->end && *p != '"') {
		/* Most bytes are printable ASCII: step over them first. */
		if (sc_plain[*p]) {
			p++;
			while (p < s->end && sc_plain[*p])
				p++;
			continue;
		}
		if (*p == '\\') {
			if (s->end - p < 2)
				break;
			if (strchr("\"\\bfnrt", p[1]) && p[1]) {
				p += 2;
				continue;
			}
			if (p[1] != 'u' || s->end - p < 6 || p[2] != '0' ||
			    p[3] != '0' || sc_hexval(p[4]) < 0 ||
			    sc_hexval(p[5]) < 0)
				return sc_fail(s, "escape not in canonical form");
			int v = sc_hexval(p[4]) * 16 + sc_hexval(p[5]);
			if (v >= 0x20 || strchr("\b\f\n\r\t", v) ||
			    (v == 0 && !nul_ok))
				return sc_fail(s, "escape not in canonical form");
			p += 6;
		} else if (*p < 0x20) {
			return sc_fail(s, "raw control character in a string");
		} else if (*p < 0x80) {
			p++;
		} else {
			size_t n = sc_utf8(p, s->end);
			if (!n)
				return sc_fail(s, "string is not UTF-8");
			p += n;
		}
	}
	if (p >= s->end)
		return sc_fail(s, "unterminated string");
	*start = s->p + 1;
	*len = (size_t)(p - *start);
	s->p = p + 1;
	return true;
}

/* The next byte a canonical string stands for; *p advanced. */
static unsigned char sc_unescape(const unsigned char **p)
{
	const unsigned char *q = *p;
	static const char map[] = "\"\"\\\\b\bf\fn\nr\rt\t";

	if (*q != '\\') {
		*p = q + 1;
		return *q;
	}
	if (q[1] == 'u') {
		*p = q + 6;
		return (unsigned char)(sc_hexval(q[4]) * 16 + sc_hexval(q[5]));
	}
	*p = q + 2;
	for (const char *m = map; *m; m += 2)
		if (*m == q[1])
			return (unsigned char)m[1];
	return 0;
}

/* Compare two member names by their unescaped bytes, as the writer
 * sorts them. */
static int sc_name_cmp(const unsigned char *a, size_t alen,
		       const unsigned char *b, size_t blen)
{
	const unsigned char *ae = a + alen, *be = b + blen;

	if (!memchr(a, '\\', alen) && !memchr(b, '\\', blen)) {
		int c = memcmp(a, b, alen < blen ? alen : blen);
		return c ? c : (alen > blen) - (alen < blen);
	}
	while (a < ae && b < be) {
		unsigned char x = sc_unescape(&a), y = sc_unescape(&b);
		if (x != y)
			return x < y ? -1 : 1;
	}
	return (a < ae) - (b < be);
}

/* An integer as the writer prints one: no leading zero, no -0, fits
 * in a signed 64-bit integer; no fraction or exponent. */
static bool sc_integer(struct scan *s, bool *neg, uint64_t *val)
{
	const unsigned char *p = s->p, *d;
	uint64_t v = 0;

	*neg = p < s->end && *p == '-';
	d = p + *neg;
	if (d >= s->end || *d < '0' || *d > '9')
		return sc_fail(s, "expected a value");
	if (*d == '0' && d + 1 < s->end && d[1] >= '0' && d[1] <= '9')
		return sc_fail(s, "number with a leading zero");
	for (p = d; p < s->end && *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return sc_fail(s, "integer out of range");
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (p < s->end && (*p == '.' || *p == 'e' || *p == 'E'))
		return sc_fail(s, "real number (not allowed in an entry)");
	if (v > (uint64_t)INT64_MAX + *neg || (*neg && v == 0))
		return sc_fail(s, "integer out of range");
	s->p = p;
	*val = v;
	return true;
}

static bool sc_value(struct scan *s, int depth);

static bool sc_object(struct scan *s, int depth)
{
	const unsigned char *prev = NULL, *name;
	size_t prevlen = 0, namelen;

	s->p++;
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return true;
	}
	for (;;) {
		if (!sc_string(s, &name, &namelen, false))
			return false;
		if (prev && sc_name_cmp(prev, prevlen, name, namelen) >= 0)
			return sc_fail(s, "members not in canonical order "
					  "(or a duplicate name)");
		prev = name;
		prevlen = namelen;
		if (!sc_lit(s, ":"))
			return sc_fail(s, "expected ':' (no whitespace)");
		if (!sc_value(s, depth + 1))
			return false;
		if (sc_lit(s, "}"))
			return true;
		if (!sc_lit(s, ","))
			return sc_fail(s, "expected ',' or '}'");
	}
}

static bool sc_array(struct scan *s, int depth)
{
	s->p++;
	if (sc_lit(s, "]"))
		return true;
	for (;;) {
		if (!sc_value(s, depth + 1))
			return false;
		if (sc_lit(s, "]"))
			return true;
		if (!sc_lit(s, ","))
			return sc_fail(s, "expected ',' or ']'");
	}
}

static bool sc_value(struct scan *s, int depth)
{
	const unsigned char *str;
	size_t len;
	uint64_t v;
	bool neg;

	if (depth > LINE_DEPTH_MAX)
		return sc_fail(s, "nested too deep");
	if (s->p >= s->end)
		return sc_fail(s, "truncated");
	switch (*s->p) {
	case '{':
		return sc_object(s, depth);
	case '[':
		return sc_array(s, depth);
	case '"':
		return sc_string(s, &str, &len, true);
	case 't':
		return sc_lit(s, "true") || sc_fail(s, "expected a value");
	case 'f':
		return sc_lit(s, "false") || sc_fail(s, "expected a value");
	case 'n':
		return sc_lit(s, "null") || sc_fail(s, "expected a value");
	default:
		return sc_integer(s, &neg, &v);
	}
}

/* A string of exactly 64 lower-case hex digits; their 32 bytes into
 * bin when it is not NULL. */
static bool sc_hex64(struct scan *s, const char **out, uint8_t *bin)
{
	const unsigned char *p = s->p;
	int bad = 0;

	if (s->end - p < AUDIT_HASH_HEX_LEN + 2 || p[0] != '"' ||
	    p[AUDIT_HASH_HEX_LEN + 1] != '"')
		return sc_fail(s, "prev or hash is not 64 lower-case hex digits");
	for (int i = 0; i < AUDIT_HASH_HEX_LEN / 2; i++) {
		int hi = sc_hexv[p[1 + 2 * i]], lo = sc_hexv[p[2 + 2 * i]];
		bad |= hi | lo;
		if (bin)
			bin[i] = (uint8_t)((hi & 15) << 4 | (lo & 15));
	}
	if (bad < 0)
		return sc_fail(s, "prev or hash is not 64 lower-case hex "
				  "digits");
	*out = (const char *)p + 1;
	s->p = p + AUDIT_HASH_HEX_LEN + 2;
	return true;
}

static bool sc_text(struct scan *s, size_t max)
{
	const unsigned char *str;
	size_t len;

	if (!sc_string(s, &str, &len, false))
		return false;
	if (len == 0 || len > max * 6)
		return sc_fail(s, "actor, action or object empty or too long");
	return true;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ": digits where digits belong. */
static bool sc_time(struct scan *s)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	const unsigned char *str;
	size_t len;

	if (!sc_string(s, &str, &len, false))
		return false;
	if (len != sizeof(pat) - 1)
		return sc_fail(s, "time is not an ISO 8601 UTC stamp with "
				  "milliseconds");
	for (size_t i = 0; i < len; i++)
		if (pat[i] == 'd' ? (str[i] < '0' || str[i] > '9')
				  : str[i] != (unsigned char)pat[i])
			return sc_fail(s, "time is not an ISO 8601 UTC stamp "
					  "with milliseconds");
	return true;
}

int audit_hasher_init(struct audit_hasher *h)
{
	h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	h->ctx = EVP_MD_CTX_new();
	if (h->md && h->ctx)
		return 0;
	audit_hasher_free(h);
	return AL_E_CRYPTO;
}

void audit_hasher_free(struct audit_hasher *h)
{
	EVP_MD_CTX_free(h->ctx);
	EVP_MD_free(h->md);
	h->ctx = NULL;
	h->md = NULL;
}

int audit_hasher_hex(struct audit_hasher *h, const void *a, size_t alen,
		     const void *b, size_t blen,
		     char hex[AUDIT_HASH_HEX_LEN + 1])
{
	unsigned char dig[32];
	unsigned n = 0;

	if (EVP_DigestInit_ex(h->ctx, h->md, NULL) != 1 ||
	    EVP_DigestUpdate(h->ctx, a, alen) != 1 ||
	    (blen && EVP_DigestUpdate(h->ctx, b, blen) != 1) ||
	    EVP_DigestFinal_ex(h->ctx, dig, &n) != 1 || n != sizeof(dig))
		return AL_E_CRYPTO;
	al_hex(hex, dig, sizeof(dig));
	return 0;
}

int audit_hasher_bin(struct audit_hasher *h, const void *a, size_t alen,
		     const void *b, size_t blen, uint8_t dig[32])
{
	unsigned n = 0;

	if (EVP_DigestInit_ex(h->ctx, h->md, NULL) != 1 ||
	    EVP_DigestUpdate(h->ctx, a, alen) != 1 ||
	    (blen && EVP_DigestUpdate(h->ctx, b, blen) != 1) ||
	    EVP_DigestFinal_ex(h->ctx, dig, &n) != 1 || n != 32)
		return AL_E_CRYPTO;
	return 0;
}

const char *audit_line_check(const char *p, size_t len, struct audit_line *e,
			     struct audit_hasher *h)
{
	struct scan s = { (const unsigned char *)p,
			  (const unsigned char *)p + len, NULL };
	uint8_t want[32], got[32];
	const char *cut, *resume;
	bool neg = false;

	memset(e, 0, sizeof(*e));
	if (len > AUDIT_ENTRY_MAX + 128)
		return "entry over the size limit";
	if (!sc_lit(&s, "{\"action\":") || !sc_text(&s, AUDIT_NAME_MAX) ||
	    !sc_lit(&s, ",\"actor\":") || !sc_text(&s, AUDIT_NAME_MAX) ||
	    !sc_lit(&s, ",\"details\":"))
		goto shape;
	if (s.p >= s.end || *s.p != '{')
		return s.why ? s.why : "details is not an object";
	if (!sc_object(&s, 1))
		return s.why;

	cut = (const char *)s.p;
	if (!sc_lit(&s, ",\"hash\":") || !sc_hex64(&s, &e->hash, want))
		goto shape;
	resume = (const char *)s.p;
	if (!sc_lit(&s, ",\"object\":") || !sc_text(&s, AUDIT_OBJECT_MAX) ||
	    !sc_lit(&s, ",\"prev\":") || !sc_hex64(&s, &e->prev, NULL) ||
	    !sc_lit(&s, ",\"seq\":") || !sc_integer(&s, &neg, &e->seq))
		goto shape;
	if (neg || e->seq == 0)
		return "seq is not a positive integer";
	if (!sc_lit(&s, ",\"time\":") || !sc_time(&s) || !sc_lit(&s, "}"))
		goto shape;
	if (s.p != s.end)
		return "bytes after the entry";
	if (audit_hasher_bin(h, p, (size_t)(cut - p), resume,
			     (size_t)(p + len - resume), got))
		return "SHA-256 failed";
	e->hash_ok = memcmp(got, want, sizeof(got)) == 0;
	return NULL;
shape:
	return s.why ? s.why
		     : "not an entry: wrong members, order or spelling";
}

int audit_json_string(struct al_buf *b, const char *s)
{
	return audit_json_stringn(b, s, strlen(s));
}

int audit_json_stringn(struct al_buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	const unsigned char *run = p;
	static const char esc[] = "\"\"\\\\\bb\ff\nn\rr\tt";
	int rc = al_buf_append(b, "\"", 1);

	/* Runs of plain bytes are copied at once; the writer's escaping
	 * rules are those of schema/lmdb.md, the same as jansson's. */
	while (rc == 0 && p < end) {
		size_t n = 1;
		const char *e = NULL;

		if (*p >= 0x80) {
			n = sc_utf8(p, end);
			if (!n)
				return AL_E_PARSE;
			p += n;
			continue;
		}
		if (*p >= 0x20 && *p != '"' && *p != '\\') {
			p++;
			continue;
		}
		rc = al_buf_append(b, run, (size_t)(p - run));
		for (const char *m = esc; *m && rc == 0; m += 2)
			if ((unsigned char)*m == *p)
				e = m;
		if (rc == 0 && e) {
			char two[2] = { '\\', e[1] };
			rc = al_buf_append(b, two, 2);
		} else if (rc == 0) {
			rc = al_buf_printf(b, "\\u%04X", *p);
		}
		run = ++p;
	}
	if (rc == 0)
		rc = al_buf_append(b, run, (size_t)(p - run));
	return rc ? rc : al_buf_append(b, "\"", 1);
}
