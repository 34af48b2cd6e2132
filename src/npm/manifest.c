/*
 * manifest.c - strict JSON reader for package.json that remembers where
 * each dependency spec sits, and a rewriter that patches only those
 * bytes (see manifest.h).
 *
 * The reader is recursive descent with the depth bounded by
 * NPM_MANIFEST_MAX_DEPTH, so hostile nesting cannot exhaust the stack.
 */
#include "npm/manifest.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

static const char *const mf_sections[] = {
#define NPM_X_SEC(e, key) key,
	NPM_SECTION_TABLE(NPM_X_SEC)
#undef NPM_X_SEC
};

const char *npm_section_name(enum npm_section sec)
{
	if ((unsigned)sec >= NPM_SEC__COUNT)
		return "?";
	return mf_sections[sec];
}

int npm_section_parse(const char *key, enum npm_section *out)
{
	for (unsigned i = 0; i < NPM_SEC__COUNT; i++) {
		if (strcmp(key, mf_sections[i]) == 0) {
			*out = (enum npm_section)i;
			return 0;
		}
	}
	return AL_E_NOTFOUND;
}

/* Reader state. */
struct mf {
	const char *s;
	size_t len;
	size_t pos;
	struct npm_manifest *m;
	size_t cap;
	bool seen[NPM_SEC__COUNT];
	char *err;
	size_t errsz;
};

enum mf_role { MF_ANY, MF_TOP, MF_SECTION };

static int mf_fail(struct mf *p, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Record the first error with its line and column. */
static int mf_fail(struct mf *p, int rc, const char *fmt, ...)
{
	size_t line = 1, col = 1;
	char msg[256];
	va_list ap;

	for (size_t i = 0; i < p->pos && i < p->len; i++) {
		col++;
		if (p->s[i] == '\n') {
			line++;
			col = 1;
		}
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->errsz)
		snprintf(p->err, p->errsz,
			 "package.json line %zu column %zu: %s", line, col,
			 msg);
	return rc;
}

static void mf_ws(struct mf *p)
{
	while (p->pos < p->len) {
		char c = p->s[p->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

static int mf_hex4(struct mf *p, unsigned *out)
{
	unsigned v = 0;

	if (p->len - p->pos < 4)
		return mf_fail(p, AL_E_PARSE, "truncated \\u escape");
	for (int i = 0; i < 4; i++) {
		char c = p->s[p->pos++];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return mf_fail(p, AL_E_PARSE, "bad \\u escape");
	}
	*out = v;
	return 0;
}

static int mf_put_utf8(struct al_buf *b, unsigned cp)
{
	unsigned char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | (cp >> 6));
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | (cp >> 12));
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | (cp >> 18));
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return b ? al_buf_append(b, u, n) : 0;
}

/* \uXXXX, with a surrogate pair joined; NUL is refused (C strings). */
static int mf_uescape(struct mf *p, struct al_buf *dec)
{
	unsigned cp = 0, lo = 0;
	int rc = mf_hex4(p, &cp);

	if (rc)
		return rc;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return mf_fail(p, AL_E_PARSE, "lone low surrogate");
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (p->len - p->pos < 2 || p->s[p->pos] != '\\' ||
		    p->s[p->pos + 1] != 'u')
			return mf_fail(p, AL_E_PARSE, "lone high surrogate");
		p->pos += 2;
		rc = mf_hex4(p, &lo);
		if (rc)
			return rc;
		if (lo < 0xdc00 || lo > 0xdfff)
			return mf_fail(p, AL_E_PARSE, "bad surrogate pair");
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (cp == 0)
		return mf_fail(p, AL_E_PARSE, "\\u0000 in a string");
	return mf_put_utf8(dec, cp);
}

/* Length of a valid UTF-8 sequence at s (0 if invalid). */
static size_t mf_utf8_len(const unsigned char *s, size_t avail)
{
	size_t n, i;
	unsigned cp;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	n = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	if (avail < n)
		return 0;
	cp = s[0] & (0xff >> (n + 1));
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static int mf_escape(struct mf *p, struct al_buf *dec)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *hit;
	char c;

	if (p->pos >= p->len)
		return mf_fail(p, AL_E_PARSE, "unterminated string");
	c = p->s[p->pos++];
	if (c == 'u')
		return mf_uescape(p, dec);
	hit = c ? strchr(from, c) : NULL;
	if (!hit)
		return mf_fail(p, AL_E_PARSE, "bad escape \\%c",
			       c >= 0x20 && c < 0x7f ? c : '?');
	return dec ? al_buf_append(dec, &to[hit - from], 1) : 0;
}

/* A string literal at pos; decoded into dec when dec is not NULL. */
static int mf_string(struct mf *p, struct al_buf *dec)
{
	int rc = 0;

	p->pos++;
	while (p->pos < p->len) {
		unsigned char c = (unsigned char)p->s[p->pos];
		size_t n;

		if (c == '"') {
			p->pos++;
			if (dec && !dec->p)
				rc = al_buf_append(dec, "", 0);
			return rc;
		}
		if (c == '\\') {
			p->pos++;
			rc = mf_escape(p, dec);
		} else if (c < 0x20) {
			return mf_fail(p, AL_E_PARSE, "control byte in string");
		} else if (c < 0x80) {
			rc = dec ? al_buf_append(dec, &c, 1) : 0;
			p->pos++;
		} else {
			n = mf_utf8_len((const unsigned char *)p->s + p->pos,
					p->len - p->pos);
			if (!n)
				return mf_fail(p, AL_E_PARSE, "invalid UTF-8");
			rc = dec ? al_buf_append(dec, p->s + p->pos, n) : 0;
			p->pos += n;
		}
		if (rc)
			return rc;
	}
	return mf_fail(p, AL_E_PARSE, "unterminated string");
}

static bool mf_digit(const struct mf *p)
{
	return p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9';
}

static void mf_digits(struct mf *p)
{
	while (mf_digit(p))
		p->pos++;
}

static int mf_number(struct mf *p)
{
	if (p->s[p->pos] == '-')
		p->pos++;
	if (!mf_digit(p))
		return mf_fail(p, AL_E_PARSE, "bad number");
	if (p->s[p->pos] == '0')
		p->pos++;
	else
		mf_digits(p);
	if (p->pos < p->len && p->s[p->pos] == '.') {
		p->pos++;
		if (!mf_digit(p))
			return mf_fail(p, AL_E_PARSE, "bad number");
		mf_digits(p);
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
		p->pos++;
		if (p->pos < p->len &&
		    (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
			p->pos++;
		if (!mf_digit(p))
			return mf_fail(p, AL_E_PARSE, "bad number");
		mf_digits(p);
	}
	return 0;
}

static int mf_word(struct mf *p, const char *w)
{
	size_t n = strlen(w);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, w, n) != 0)
		return mf_fail(p, AL_E_PARSE, "unexpected character");
	p->pos += n;
	return 0;
}

static int mf_object(struct mf *p, int depth, enum mf_role role,
		     enum npm_section sec);

static int mf_array(struct mf *p, int depth);

static int mf_value(struct mf *p, int depth)
{
	char c;

	mf_ws(p);
	if (p->pos >= p->len)
		return mf_fail(p, AL_E_PARSE, "unexpected end of input");
	c = p->s[p->pos];
	if (c == '{')
		return mf_object(p, depth + 1, MF_ANY, NPM_SEC_DEPS);
	if (c == '[')
		return mf_array(p, depth + 1);
	if (c == '"')
		return mf_string(p, NULL);
	if (c == '-' || (c >= '0' && c <= '9'))
		return mf_number(p);
	if (c == 't')
		return mf_word(p, "true");
	if (c == 'f')
		return mf_word(p, "false");
	if (c == 'n')
		return mf_word(p, "null");
	return mf_fail(p, AL_E_PARSE, "unexpected character");
}

static int mf_array(struct mf *p, int depth)
{
	int rc;

	if (depth > NPM_MANIFEST_MAX_DEPTH)
		return mf_fail(p, AL_E_LIMIT, "nested deeper than %d",
			       NPM_MANIFEST_MAX_DEPTH);
	p->pos++;
	mf_ws(p);
	if (p->pos < p->len && p->s[p->pos] == ']') {
		p->pos++;
		return 0;
	}
	for (;;) {
		rc = mf_value(p, depth);
		if (rc)
			return rc;
		mf_ws(p);
		if (p->pos >= p->len)
			return mf_fail(p, AL_E_PARSE, "unterminated array");
		if (p->s[p->pos++] == ']')
			return 0;
		if (p->s[p->pos - 1] != ',')
			return mf_fail(p, AL_E_PARSE, "expected , or ]");
	}
}

/* Record one dependency whose value literal starts at pos. */
static int mf_dep(struct mf *p, enum npm_section sec, struct al_buf *key)
{
	struct npm_manifest *m = p->m;
	struct al_buf val = { 0 };
	struct npm_dep *d;
	size_t start = p->pos;
	int rc;

	for (size_t i = 0; i < m->ndeps; i++)
		if (m->deps[i].section == sec &&
		    !strcmp(m->deps[i].name, key->p))
			return mf_fail(p, AL_E_PARSE, "duplicate %s key",
				       npm_section_name(sec));
	if (p->pos >= p->len || p->s[p->pos] != '"')
		return mf_fail(p, AL_E_PARSE, "%s: a spec must be a string",
			       npm_section_name(sec));
	if (m->ndeps >= NPM_MANIFEST_MAX_DEPS)
		return mf_fail(p, AL_E_LIMIT, "more than %d dependencies",
			       NPM_MANIFEST_MAX_DEPS);
	rc = mf_string(p, &val);
	if (rc)
		goto out;
	if (m->ndeps == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		void *n = realloc(m->deps, cap * sizeof(*m->deps));

		rc = -ENOMEM;
		if (!n)
			goto out;
		m->deps = n;
		p->cap = cap;
	}
	d = &m->deps[m->ndeps++];
	d->section = sec;
	d->name = key->p;
	d->spec = val.p;
	d->off = start;
	d->len = p->pos - start;
	memset(key, 0, sizeof(*key));
	memset(&val, 0, sizeof(val));
	rc = 0;
out:
	al_buf_free(&val);
	return rc;
}

/* A top-level member: a dependency section or anything else. */
static int mf_top_member(struct mf *p, int depth, struct al_buf *key)
{
	enum npm_section sec;

	if (npm_section_parse(key->p, &sec) != 0)
		return mf_value(p, depth);
	if (p->seen[sec])
		return mf_fail(p, AL_E_PARSE, "duplicate %s",
			       npm_section_name(sec));
	p->seen[sec] = true;
	if (p->pos >= p->len || p->s[p->pos] != '{')
		return mf_fail(p, AL_E_PARSE, "%s is not an object",
			       npm_section_name(sec));
	return mf_object(p, depth + 1, MF_SECTION, sec);
}

static int mf_member(struct mf *p, int depth, enum mf_role role,
		     enum npm_section sec)
{
	struct al_buf key = { 0 };
	bool keep = role != MF_ANY;
	int rc;

	mf_ws(p);
	if (p->pos >= p->len || p->s[p->pos] != '"')
		return mf_fail(p, AL_E_PARSE, "expected a string key");
	rc = mf_string(p, keep ? &key : NULL);
	if (rc)
		goto out;
	mf_ws(p);
	if (p->pos >= p->len || p->s[p->pos] != ':') {
		rc = mf_fail(p, AL_E_PARSE, "expected :");
		goto out;
	}
	p->pos++;
	mf_ws(p);
	if (role == MF_TOP)
		rc = mf_top_member(p, depth, &key);
	else if (role == MF_SECTION)
		rc = mf_dep(p, sec, &key);
	else
		rc = mf_value(p, depth);
out:
	al_buf_free(&key);
	return rc;
}

static int mf_object(struct mf *p, int depth, enum mf_role role,
		     enum npm_section sec)
{
	int rc;

	if (depth > NPM_MANIFEST_MAX_DEPTH)
		return mf_fail(p, AL_E_LIMIT, "nested deeper than %d",
			       NPM_MANIFEST_MAX_DEPTH);
	p->pos++;
	mf_ws(p);
	if (p->pos < p->len && p->s[p->pos] == '}') {
		p->pos++;
		return 0;
	}
	for (;;) {
		rc = mf_member(p, depth, role, sec);
		if (rc)
			return rc;
		mf_ws(p);
		if (p->pos >= p->len)
			return mf_fail(p, AL_E_PARSE, "unterminated object");
		if (p->s[p->pos++] == '}')
			return 0;
		if (p->s[p->pos - 1] != ',')
			return mf_fail(p, AL_E_PARSE, "expected , or }");
	}
}

void npm_manifest_free(struct npm_manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->ndeps; i++) {
		free(m->deps[i].name);
		free(m->deps[i].spec);
	}
	free(m->deps);
	m->deps = NULL;
	m->ndeps = 0;
}

int npm_manifest_parse(const char *text, size_t len, struct npm_manifest *m,
		       char *err, size_t errsz)
{
	struct mf p = { .s = text, .len = len, .m = m, .err = err,
			.errsz = errsz };
	int rc;

	memset(m, 0, sizeof(*m));
	if (errsz)
		err[0] = '\0';
	if (len > NPM_MANIFEST_MAX_SIZE) {
		rc = mf_fail(&p, AL_E_LIMIT, "larger than %u bytes",
			     NPM_MANIFEST_MAX_SIZE);
		goto out;
	}
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		p.pos = 3;
	mf_ws(&p);
	if (p.pos >= len || text[p.pos] != '{') {
		rc = mf_fail(&p, AL_E_PARSE, "the top level is not an object");
		goto out;
	}
	rc = mf_object(&p, 1, MF_TOP, NPM_SEC_DEPS);
	if (rc)
		goto out;
	mf_ws(&p);
	if (p.pos != len)
		rc = mf_fail(&p, AL_E_PARSE, "trailing data after the object");
out:
	if (rc)
		npm_manifest_free(m);
	return rc;
}

/* Append s as a JSON string literal; non-ASCII UTF-8 is kept as is. */
static int mf_put_literal(struct al_buf *b, const char *s)
{
	int rc = al_buf_append(b, "\"", 1);

	for (; !rc && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			rc = al_buf_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			rc = al_buf_printf(b, "\\u%04x", c);
		else
			rc = al_buf_append(b, &c, 1);
	}
	return rc ? rc : al_buf_append(b, "\"", 1);
}

static int mf_cmp_off(const void *a, const void *b)
{
	const struct npm_dep *x = *(const struct npm_dep *const *)a;
	const struct npm_dep *y = *(const struct npm_dep *const *)b;

	return (x->off > y->off) - (x->off < y->off);
}

/* The dependency each edit names, in edit order; NULL-free on success. */
static int mf_match(const struct npm_manifest *m, const struct npm_edit *e,
		    size_t n, const struct npm_dep **hit, const char **spec,
		    char *err, size_t errsz)
{
	for (size_t i = 0; i < n; i++) {
		hit[i] = NULL;
		for (size_t j = 0; j < m->ndeps && !hit[i]; j++)
			if (m->deps[j].section == e[i].section &&
			    !strcmp(m->deps[j].name, e[i].name))
				hit[i] = &m->deps[j];
		if (!hit[i]) {
			snprintf(err, errsz, "package.json: %s has no %s",
				 npm_section_name(e[i].section), e[i].name);
			return AL_E_NOTFOUND;
		}
		for (size_t k = 0; k < i; k++) {
			if (hit[k] == hit[i]) {
				snprintf(err, errsz, "package.json: %s %s "
					 "edited twice",
					 npm_section_name(e[i].section),
					 e[i].name);
				return AL_E_USAGE;
			}
		}
		spec[hit[i] - m->deps] = e[i].spec;
	}
	return 0;
}

int npm_manifest_rewrite(const char *text, size_t len,
			 const struct npm_edit *edits, size_t nedits,
			 struct al_buf *out, char *err, size_t errsz)
{
	struct npm_manifest m = { 0 };
	const struct npm_dep **hit = NULL;
	const char **spec = NULL;
	struct al_buf b = { 0 };
	size_t at = 0;
	int rc;

	out->len = 0;
	if (out->p)
		out->p[0] = '\0';
	rc = npm_manifest_parse(text, len, &m, err, errsz);
	if (rc)
		return rc;
	rc = -ENOMEM;
	hit = calloc(nedits + 1, sizeof(*hit));
	spec = calloc(m.ndeps + 1, sizeof(*spec));
	if (!hit || !spec)
		goto out;
	rc = mf_match(&m, edits, nedits, hit, spec, err, errsz);
	if (rc)
		goto out;

	/* Patch in file order: copy the bytes between literals untouched. */
	qsort(hit, nedits, sizeof(*hit), mf_cmp_off);
	rc = al_buf_append(&b, "", 0);
	for (size_t i = 0; !rc && i < nedits; i++) {
		const struct npm_dep *d = hit[i];

		rc = al_buf_append(&b, text + at, d->off - at);
		if (!rc)
			rc = mf_put_literal(&b, spec[d - m.deps]);
		at = d->off + d->len;
	}
	if (!rc)
		rc = al_buf_append(&b, text + at, len - at);
	if (!rc) {
		al_buf_free(out);
		*out = b;
		memset(&b, 0, sizeof(b));
	}
out:
	al_buf_free(&b);
	free(hit);
	free(spec);
	npm_manifest_free(&m);
	return rc;
}
