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
	bool seen_top[5]; /* name, workspaces, bundle..., allowScripts,
			  * engines */
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

/*
 * Step over an opening bracket and the blanks after it; true when the
 * closing one follows at once (an empty array or object, also stepped
 * over).
 */
static bool mf_open(struct mf *p, char close)
{
	p->pos++;
	mf_ws(p);
	if (p->pos < p->len && p->s[p->pos] == close) {
		p->pos++;
		return true;
	}
	return false;
}

/*
 * After an element or member: skip blanks, then ',' (0: another one
 * follows) or the closing bracket (1: done); anything else is an error.
 */
static int mf_next(struct mf *p, char close)
{
	bool arr = close == ']';

	mf_ws(p);
	if (p->pos >= p->len)
		return mf_fail(p, AL_E_PARSE, "unterminated %s",
			       arr ? "array" : "object");
	char c = p->s[p->pos++];
	if (c == close)
		return 1;
	if (c != ',')
		return mf_fail(p, AL_E_PARSE, "expected , or %c", close);
	return 0;
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
	if (mf_open(p, ']'))
		return 0;
	for (;;) {
		rc = mf_value(p, depth);
		if (rc)
			return rc;
		rc = mf_next(p, ']');
		if (rc)
			return rc > 0 ? 0 : rc;
	}
}

/*
 * Record one dependency whose value literal starts at pos. For overrides,
 * name is the package the key names and path the key chain (both
 * malloc'd and taken over, also on error); key is then unused.
 */
static int mf_dep(struct mf *p, enum npm_section sec, struct al_buf *key,
		  char *name, char *path)
{
	struct npm_manifest *m = p->m;
	struct al_buf val = { 0 };
	struct npm_dep *d;
	size_t start = p->pos;
	int rc;

	if (!name) {
		name = key->p;
		memset(key, 0, sizeof(*key));
	}
	for (size_t i = 0; i < m->ndeps; i++) {
		const struct npm_dep *o = &m->deps[i];

		if (o->section == sec &&
		    (path ? o->path && !strcmp(o->path, path)
			  : !strcmp(o->name, name))) {
			rc = mf_fail(p, AL_E_PARSE, "duplicate %s key",
				     npm_section_name(sec));
			goto out;
		}
	}
	if (p->pos >= p->len || p->s[p->pos] != '"') {
		rc = mf_fail(p, AL_E_PARSE, "%s: a spec must be a string",
			     npm_section_name(sec));
		goto out;
	}
	if (m->ndeps >= NPM_MANIFEST_MAX_DEPS) {
		rc = mf_fail(p, AL_E_LIMIT, "more than %d dependencies",
			     NPM_MANIFEST_MAX_DEPS);
		goto out;
	}
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
	d->name = name;
	d->path = path;
	d->spec = val.p;
	d->off = start;
	d->len = p->pos - start;
	name = path = NULL;
	memset(&val, 0, sizeof(val));
	rc = 0;
out:
	free(name);
	free(path);
	al_buf_free(&val);
	return rc;
}

/* The package an overrides key names: "pkg@range" -> "pkg", "." ->
 * the enclosing package. */
static char *mf_override_name(const char *key, const char *parent)
{
	const char *at;

	if (!strcmp(key, ".") && parent)
		return strdup(parent);
	at = strchr(key[0] == '@' ? key + 1 : key, '@');
	return at ? strndup(key, (size_t)(at - key)) : strdup(key);
}

static int mf_member_key(struct mf *p, struct al_buf *key);

/*
 * An overrides object at pos: a string value overrides the package its
 * key names, an object value overrides packages below it (npm's nested
 * form). parent is the package the enclosing key names (NULL at the
 * top), prefix the key chain so far.
 */
static int mf_overrides(struct mf *p, int depth, const char *prefix,
			const char *parent)
{
	int rc;

	if (depth > NPM_MANIFEST_MAX_DEPTH)
		return mf_fail(p, AL_E_LIMIT, "nested deeper than %d",
			       NPM_MANIFEST_MAX_DEPTH);
	if (mf_open(p, '}'))
		return 0;
	for (;;) {
		struct al_buf key = { 0 }, path = { 0 };
		char *name = NULL;

		rc = mf_member_key(p, &key);
		if (rc == 0)
			rc = al_buf_printf(&path, "%s%s%s", prefix ? prefix : "",
					   prefix ? " > " : "", key.p);
		if (rc == 0) {
			name = mf_override_name(key.p, parent);
			rc = name ? 0 : -ENOMEM;
		}
		if (rc == 0 && p->pos < p->len && p->s[p->pos] == '{') {
			rc = mf_overrides(p, depth + 1, path.p, name);
		} else if (rc == 0) {
			rc = mf_dep(p, NPM_SEC_OVERRIDES, &key, name, path.p);
			name = NULL;
			memset(&path, 0, sizeof(path));
		}
		free(name);
		al_buf_free(&key);
		al_buf_free(&path);
		if (rc)
			return rc;
		rc = mf_next(p, '}');
		if (rc)
			return rc > 0 ? 0 : rc;
	}
}

/* Append a decoded string to a list, bounded like dependencies. */
static int mf_list_add(struct mf *p, char ***list, size_t *n,
		       struct al_buf *s)
{
	void *nl;

	if (*n >= NPM_MANIFEST_MAX_DEPS)
		return mf_fail(p, AL_E_LIMIT, "more than %d entries",
			       NPM_MANIFEST_MAX_DEPS);
	nl = realloc(*list, (*n + 1) * sizeof(**list));
	if (!nl)
		return -ENOMEM;
	*list = nl;
	(*list)[(*n)++] = s->p;
	memset(s, 0, sizeof(*s));
	return 0;
}

/* An array of strings at pos into list (what = the member, for errors). */
static int mf_string_array(struct mf *p, const char *what, char ***list,
			   size_t *n)
{
	int rc;

	if (p->pos >= p->len || p->s[p->pos] != '[')
		return mf_fail(p, AL_E_PARSE, "%s is not an array", what);
	if (mf_open(p, ']'))
		return 0;
	for (;;) {
		struct al_buf s = { 0 };

		mf_ws(p);
		if (p->pos >= p->len || p->s[p->pos] != '"')
			return mf_fail(p, AL_E_PARSE, "%s: an entry is not a "
				       "string", what);
		rc = mf_string(p, &s);
		if (rc == 0)
			rc = mf_list_add(p, list, n, &s);
		al_buf_free(&s);
		if (rc)
			return rc;
		rc = mf_next(p, ']');
		if (rc)
			return rc > 0 ? 0 : rc;
	}
}

/* "workspaces": an array, or an object whose "packages" is one. */
static int mf_workspaces(struct mf *p, int depth)
{
	struct npm_manifest *m = p->m;
	int rc;

	if (p->pos < p->len && p->s[p->pos] == '[')
		return mf_string_array(p, "workspaces", &m->workspaces,
				       &m->nworkspaces);
	if (p->pos >= p->len || p->s[p->pos] != '{')
		return mf_fail(p, AL_E_PARSE, "workspaces is neither an "
			       "array nor an object");
	if (mf_open(p, '}'))
		return 0;
	for (;;) {
		struct al_buf key = { 0 };

		rc = mf_member_key(p, &key);
		if (rc == 0 && !strcmp(key.p, "packages"))
			rc = mf_string_array(p, "workspaces.packages",
					     &m->workspaces, &m->nworkspaces);
		else if (rc == 0)
			rc = mf_value(p, depth);
		al_buf_free(&key);
		if (rc)
			return rc;
		rc = mf_next(p, '}');
		if (rc)
			return rc > 0 ? 0 : rc;
	}
}

/* "allowScripts": only its keys matter (pins such as "pkg@1.2.3"). */
static int mf_allow_scripts(struct mf *p, int depth)
{
	struct npm_manifest *m = p->m;
	int rc;

	if (p->pos >= p->len || p->s[p->pos] != '{')
		return mf_value(p, depth);
	if (mf_open(p, '}'))
		return 0;
	for (;;) {
		struct al_buf key = { 0 };

		rc = mf_member_key(p, &key);
		if (rc == 0)
			rc = mf_value(p, depth);
		if (rc == 0)
			rc = mf_list_add(p, &m->allow_scripts,
					 &m->nallow_scripts, &key);
		al_buf_free(&key);
		if (rc)
			return rc;
		rc = mf_next(p, '}');
		if (rc)
			return rc > 0 ? 0 : rc;
	}
}

/* "engines": only "node" matters, when it is a string; as in
 * JSON.parse, the last "node" counts. */
static int mf_engines(struct mf *p, int depth)
{
	int rc;

	if (p->pos >= p->len || p->s[p->pos] != '{')
		return mf_value(p, depth);
	if (mf_open(p, '}'))
		return 0;
	for (;;) {
		struct al_buf key = { 0 }, val = { 0 };

		rc = mf_member_key(p, &key);
		if (rc == 0 && !strcmp(key.p, "node")) {
			free(p->m->engines_node);
			p->m->engines_node = NULL;
		}
		if (rc == 0 && !strcmp(key.p, "node") && p->pos < p->len &&
		    p->s[p->pos] == '"') {
			rc = mf_string(p, &val);
			p->m->engines_node = rc == 0 ? val.p : NULL;
			if (rc)
				al_buf_free(&val);
		} else if (rc == 0) {
			rc = mf_value(p, depth);
		}
		al_buf_free(&key);
		if (rc)
			return rc;
		rc = mf_next(p, '}');
		if (rc)
			return rc > 0 ? 0 : rc;
	}
}

/* The top-level members besides sections that the plan reads; a second
 * copy of one is refused, like a second section. */
static int mf_top_other(struct mf *p, int depth, const char *key)
{
	static const char *const names[] = { "name", "workspaces",
					     "bundleDependencies",
					     "allowScripts", "engines" };
	struct npm_manifest *m = p->m;
	const char *k = strcmp(key, "bundledDependencies") ? key
			: "bundleDependencies";
	size_t i;

	for (i = 0; i < AL_ARRAY_LEN(names); i++)
		if (!strcmp(k, names[i]))
			break;
	if (i == AL_ARRAY_LEN(names))
		return mf_value(p, depth);
	if (p->seen_top[i])
		return mf_fail(p, AL_E_PARSE, "duplicate %s", key);
	p->seen_top[i] = true;
	if (i == 0 && p->pos < p->len && p->s[p->pos] == '"') {
		struct al_buf s = { 0 };
		int rc = mf_string(p, &s);

		if (rc == 0)
			m->name = s.p;
		else
			al_buf_free(&s);
		return rc;
	}
	if (i == 1)
		return mf_workspaces(p, depth + 1);
	if (i == 2 && p->pos < p->len && p->s[p->pos] == '[')
		return mf_string_array(p, key, &m->bundled, &m->nbundled);
	if (i == 2 && p->pos < p->len && p->s[p->pos] == 't')
		m->bundle_all = true;
	if (i == 3)
		return mf_allow_scripts(p, depth + 1);
	if (i == 4)
		return mf_engines(p, depth + 1);
	return mf_value(p, depth);
}

/* A top-level member: a dependency section or anything else. */
static int mf_top_member(struct mf *p, int depth, struct al_buf *key)
{
	enum npm_section sec;

	if (npm_section_parse(key->p, &sec) != 0)
		return mf_top_other(p, depth, key->p);
	if (p->seen[sec])
		return mf_fail(p, AL_E_PARSE, "duplicate %s",
			       npm_section_name(sec));
	p->seen[sec] = true;
	if (p->pos >= p->len || p->s[p->pos] != '{')
		return mf_fail(p, AL_E_PARSE, "%s is not an object",
			       npm_section_name(sec));
	if (sec == NPM_SEC_OVERRIDES)
		return mf_overrides(p, depth + 1, NULL, NULL);
	return mf_object(p, depth + 1, MF_SECTION, sec);
}

/* A member's key into key (decoded), and past the ':' and space. */
static int mf_member_key(struct mf *p, struct al_buf *key)
{
	int rc;

	mf_ws(p);
	if (p->pos >= p->len || p->s[p->pos] != '"')
		return mf_fail(p, AL_E_PARSE, "expected a string key");
	rc = mf_string(p, key);
	if (rc)
		return rc;
	mf_ws(p);
	if (p->pos >= p->len || p->s[p->pos] != ':')
		return mf_fail(p, AL_E_PARSE, "expected :");
	p->pos++;
	mf_ws(p);
	return 0;
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
		rc = mf_dep(p, sec, &key, NULL, NULL);
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
	if (mf_open(p, '}'))
		return 0;
	for (;;) {
		rc = mf_member(p, depth, role, sec);
		if (rc)
			return rc;
		rc = mf_next(p, '}');
		if (rc)
			return rc > 0 ? 0 : rc;
	}
}

void npm_manifest_free(struct npm_manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->ndeps; i++) {
		free(m->deps[i].name);
		free(m->deps[i].path);
		free(m->deps[i].spec);
	}
	free(m->deps);
	for (size_t i = 0; i < m->nworkspaces; i++)
		free(m->workspaces[i]);
	free(m->workspaces);
	for (size_t i = 0; i < m->nbundled; i++)
		free(m->bundled[i]);
	free(m->bundled);
	for (size_t i = 0; i < m->nallow_scripts; i++)
		free(m->allow_scripts[i]);
	free(m->allow_scripts);
	free(m->engines_node);
	free(m->name);
	memset(m, 0, sizeof(*m));
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
			    !strcmp(m->deps[j].name, e[i].name) &&
			    (!e[i].path ? !m->deps[j].path
					: m->deps[j].path &&
					  !strcmp(m->deps[j].path, e[i].path)))
				hit[i] = &m->deps[j];
		if (!hit[i]) {
			snprintf(err, errsz, "package.json: %s has no %s",
				 npm_section_name(e[i].section),
				 e[i].path ? e[i].path : e[i].name);
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
