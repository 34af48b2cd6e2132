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
/*
 * Entries are hashed with OpenSSL's one-call SHA-256 functions, which
 * 3.0 marks deprecated: its EVP digest interface adds a provider
 * dispatch, an engine table lookup and an allocation to every message,
 * about 60 ns here, a quarter of hashing a 280-byte entry. Both run the
 * same assembly. Streams (export files) still go through EVP.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "audit/internal.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

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
 * sc_plain marks bytes that stand for themselves inside a string
 * (printable ASCII but '"' and '\\'), for the tail of a string shorter
 * than a word.
 */
static const unsigned char sc_plain[256] = {
	[0x20] = 1, [0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7f] = 1,
};

/*
 * Eight bytes at a time: a word holds p[0..7] with p[0] in its low
 * byte, and the masks below set the high bit of each byte that matches.
 * A mask is exact up to its first set byte (a borrow only ever marks
 * bytes after a true match), and only that first byte is ever used.
 */
#define SC_ONES 0x0101010101010101ULL
#define SC_HIGH 0x8080808080808080ULL

static inline uint64_t sc_load8(const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

/* Bytes equal to zero. */
static inline uint64_t sc_zero(uint64_t w)
{
	return (w - SC_ONES) & ~w & SC_HIGH;
}

/* Bytes below 0x20, 0x80 and up, or '\\': with '"', those that do not
 * stand for themselves in a string (!sc_plain). */
static inline uint64_t sc_special(uint64_t w)
{
	return (((w - SC_ONES * 0x20) | w) & SC_HIGH) |
	       sc_zero(w ^ (SC_ONES * '\\'));
}

/* Bytes in [lo, hi], for a word with no byte above 0x7f (no carries). */
static inline uint64_t sc_in(uint64_t w, unsigned lo, unsigned hi)
{
	return (w + SC_ONES * (0x80 - lo)) & ~(w + SC_ONES * (0x7f - hi)) &
	       SC_HIGH;
}

/* Whether all eight bytes are lower-case hex digits. */
static inline bool sc_hex8(uint64_t w)
{
	return !(w & SC_HIGH) &&
	       (sc_in(w, '0', '9') | sc_in(w, 'a', 'f')) == SC_HIGH;
}

/*
 * The first byte at or after p that is not plain (or end); *quote tells
 * whether it is the closing '"', known from the masks without reading
 * the byte again.
 */
static inline const unsigned char *sc_plain_run(const unsigned char *p,
						const unsigned char *end,
						bool *quote)
{
	while (end - p >= 8) {
		uint64_t w = sc_load8(p);
		uint64_t q = sc_zero(w ^ (SC_ONES * '"'));
		uint64_t m = sc_special(w) | q;
		if (m) {
			*quote = (m & -m & q) != 0;
			return p + (__builtin_ctzll(m) >> 3);
		}
		p += 8;
	}
	while (p < end && sc_plain[*p])
		p++;
	*quote = p < end && *p == '"';
	return p;
}

static bool sc_fail(struct scan *s, const char *why)
{
	if (!s->why)
		s->why = why;
	return false;
}

/* The literal lit (a string constant) next; the length is known when
 * compiling, so the comparison needs no call. */
#define sc_lit(s, lit) sc_litn(s, lit, sizeof(lit) - 1)
static inline __attribute__((always_inline)) bool
sc_litn(struct scan *s, const char *lit, size_t n)
{
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
 * *len give the bytes between the quotes, *esc whether any of them is
 * an escape. nul_ok: whether \u0000 may appear (values yes, member
 * names no).
 */
static inline __attribute__((always_inline)) bool
sc_string(struct scan *s, const unsigned char **start, size_t *len,
	  bool *esc, bool nul_ok)
{
	const unsigned char *p = s->p + 1;
	bool quote;

	*esc = false;
	if (s->p >= s->end || *s->p != '"')
		return sc_fail(s, "expected a string");
	for (;;) {
		/* Most bytes are printable ASCII: step over them first. */
		p = sc_plain_run(p, s->end, &quote);
		if (quote || p >= s->end)
			break;
		if (*p == '\\') {
			if (s->end - p < 2)
				break;
			*esc = true;
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
		} else {
			size_t n = sc_utf8(p, s->end);
			if (!n)
				return sc_fail(s, "string is not UTF-8");
			p += n;
		}
	}
	if (!quote)
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
 * sorts them; aesc/besc: whether either holds an escape. */
static int sc_name_cmp(const unsigned char *a, size_t alen, bool aesc,
		       const unsigned char *b, size_t blen, bool besc)
{
	const unsigned char *ae = a + alen, *be = b + blen;

	if (!aesc && !besc) {
		size_t n = alen < blen ? alen : blen;
		for (size_t i = 0; i < n; i++)
			if (a[i] != b[i])
				return a[i] < b[i] ? -1 : 1;
		return (alen > blen) - (alen < blen);
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
static inline __attribute__((always_inline)) bool
sc_integer(struct scan *s, bool *neg, uint64_t *val)
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
	bool prevesc = false, nameesc;

	s->p++;
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return true;
	}
	for (;;) {
		if (!sc_string(s, &name, &namelen, &nameesc, false))
			return false;
		if (prev && sc_name_cmp(prev, prevlen, prevesc, name, namelen,
					nameesc) >= 0)
			return sc_fail(s, "members not in canonical order "
					  "(or a duplicate name)");
		prev = name;
		prevlen = namelen;
		prevesc = nameesc;
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
	bool neg, esc;

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
		return sc_string(s, &str, &len, &esc, true);
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

/* A string of exactly 64 lower-case hex digits. The small scanners a
 * line calls many times are inlined: a call costs as much as a short
 * string's check. */
static inline __attribute__((always_inline)) bool
sc_hex64(struct scan *s, const char **out)
{
	const unsigned char *p = s->p;
	bool ok;

	ok = s->end - p >= AUDIT_HASH_HEX_LEN + 2 && p[0] == '"' &&
	     p[AUDIT_HASH_HEX_LEN + 1] == '"';
	for (int i = 0; ok && i < AUDIT_HASH_HEX_LEN; i += 8)
		ok = sc_hex8(sc_load8(p + 1 + i));
	if (!ok)
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
	bool esc;

	if (!sc_string(s, &str, &len, &esc, false))
		return false;
	if (len == 0 || len > max * 6)
		return sc_fail(s, "actor, action or object empty or too long");
	return true;
}

/* Byte c at position i of a word. */
#define SC_AT(c, i) ((uint64_t)(unsigned char)(c) << (8 * (i)))
#define SC_FF(i) SC_AT(0xff, i)

/*
 * "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 bytes, three words): each word's
 * separators compared at once, digits everywhere else.
 */
static bool sc_time(struct scan *s)
{
	static const uint64_t lit[3] = {
		SC_AT('-', 4) | SC_AT('-', 7),
		SC_AT('T', 2) | SC_AT(':', 5),
		SC_AT(':', 0) | SC_AT('.', 3) | SC_AT('Z', 7),
	};
	static const uint64_t litmask[3] = {
		SC_FF(4) | SC_FF(7),
		SC_FF(2) | SC_FF(5),
		SC_FF(0) | SC_FF(3) | SC_FF(7),
	};
	const unsigned char *str;
	size_t len;
	bool esc, ok;

	if (!sc_string(s, &str, &len, &esc, false))
		return false;
	ok = len == 24;
	for (int i = 0; ok && i < 3; i++) {
		uint64_t w = sc_load8(str + 8 * i);
		uint64_t digits = SC_HIGH & ~litmask[i];
		ok = !(w & SC_HIGH) && (w & litmask[i]) == lit[i] &&
		     (sc_in(w, '0', '9') & digits) == digits;
	}
	if (!ok)
		return sc_fail(s, "time is not an ISO 8601 UTC stamp with "
				  "milliseconds");
	return true;
}

/*
 * Whether hex (64 lower-case hex digits, already checked) spells dig:
 * four digest bytes become eight digits per step, compared a word at a
 * time.
 */
static bool sc_hex_is(const char *hex, const uint8_t dig[32])
{
	const unsigned char *h = (const unsigned char *)hex;
	uint64_t diff = 0;

	for (int i = 0; i < 32; i += 4) {
		uint64_t t = (uint64_t)dig[i] | (uint64_t)dig[i + 1] << 16 |
			     (uint64_t)dig[i + 2] << 32 |
			     (uint64_t)dig[i + 3] << 48;
		/* Each byte's high nibble, then its low one, a byte each. */
		uint64_t n = (t >> 4 & 0x000f000f000f000fULL) |
			     (t & 0x000f000f000f000fULL) << 8;
		/* 0-9 to '0'-'9', 10-15 to 'a'-'f'. */
		uint64_t letter = (n + SC_ONES * 6) >> 4 & SC_ONES;
		diff |= (n + SC_ONES * '0' + letter * ('a' - '0' - 10)) ^
			sc_load8(h + 2 * i);
	}
	return diff == 0;
}

int audit_hasher_init(struct audit_hasher *h)
{
	h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	return h->md ? 0 : AL_E_CRYPTO;
}

void audit_hasher_free(struct audit_hasher *h)
{
	EVP_MD_free(h->md);
	h->md = NULL;
}

/* SHA-256 of a then b (see the top of this file). */
static int sc_sha256(const void *a, size_t alen, const void *b, size_t blen,
		     uint8_t dig[SHA256_DIGEST_LENGTH])
{
	SHA256_CTX c;
	int ok;

	ok = SHA256_Init(&c) == 1 && SHA256_Update(&c, a, alen) == 1 &&
	     (!blen || SHA256_Update(&c, b, blen) == 1) &&
	     SHA256_Final(dig, &c) == 1;
	explicit_bzero(&c, sizeof(c));
	return ok ? 0 : AL_E_CRYPTO;
}

int audit_hasher_hex(struct audit_hasher *h, const void *a, size_t alen,
		     const void *b, size_t blen,
		     char hex[AUDIT_HASH_HEX_LEN + 1])
{
	unsigned char dig[SHA256_DIGEST_LENGTH];
	int rc = sc_sha256(a, alen, b, blen, dig);

	if (rc == 0)
		al_hex(hex, dig, sizeof(dig));
	return rc;
}

const char *audit_line_check(const char *p, size_t len, struct audit_line *e,
			     struct audit_hasher *h)
{
	struct scan s = { (const unsigned char *)p,
			  (const unsigned char *)p + len, NULL };
	uint8_t got[SHA256_DIGEST_LENGTH];
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
	if (!sc_lit(&s, ",\"hash\":") || !sc_hex64(&s, &e->hash))
		goto shape;
	resume = (const char *)s.p;
	if (!sc_lit(&s, ",\"object\":") || !sc_text(&s, AUDIT_OBJECT_MAX) ||
	    !sc_lit(&s, ",\"prev\":") || !sc_hex64(&s, &e->prev) ||
	    !sc_lit(&s, ",\"seq\":") || !sc_integer(&s, &neg, &e->seq))
		goto shape;
	if (neg || e->seq == 0)
		return "seq is not a positive integer";
	if (!sc_lit(&s, ",\"time\":") || !sc_time(&s) || !sc_lit(&s, "}"))
		goto shape;
	if (s.p != s.end)
		return "bytes after the entry";
	if (sc_sha256(p, (size_t)(cut - p), resume, (size_t)(p + len - resume),
		      got))
		return "SHA-256 failed";
	e->hash_ok = sc_hex_is(e->hash, got);
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
