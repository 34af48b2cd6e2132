/*
 * manifest.h - package.json reading and byte-exact rewriting.
 *
 * The manifest comes from a customer repository, so it is hostile input:
 * the parser is a strict JSON (RFC 8259) reader with hard limits (size,
 * nesting depth, dependency count), which refuses duplicate names inside
 * a dependency section, a section that is not an object and a spec that
 * is not a string. It records where each spec's string literal sits in
 * the original bytes, so that a rewrite changes those literals and
 * nothing else: indentation, key order, line endings, a BOM, escapes in
 * keys and a missing final newline all survive byte for byte.
 */
#ifndef AL_NPM_MANIFEST_H
#define AL_NPM_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>

#include "base/util.h"

#define NPM_MANIFEST_MAX_SIZE (16u << 20)
#define NPM_MANIFEST_MAX_DEPTH 64
#define NPM_MANIFEST_MAX_DEPS 5000

/* X(enum, key in package.json) */
#define NPM_SECTION_TABLE(X)                                               \
	X(NPM_SEC_DEPS, "dependencies")                                        \
	X(NPM_SEC_DEV, "devDependencies")                                      \
	X(NPM_SEC_OPTIONAL, "optionalDependencies")                             \
	X(NPM_SEC_PEER, "peerDependencies")                                    \
	X(NPM_SEC_OVERRIDES, "overrides")

enum npm_section {
#define NPM_X_SEC(e, key) e,
	NPM_SECTION_TABLE(NPM_X_SEC)
#undef NPM_X_SEC
	NPM_SEC__COUNT
};

/* The package.json key of a section; "?" when out of range. */
const char *npm_section_name(enum npm_section sec);
/* The section named by key; AL_E_NOTFOUND when it is not one. */
int npm_section_parse(const char *key, enum npm_section *out);

/*
 * One spec. In "overrides", values nest: {"a": {"b": "1.0.0"}} overrides
 * b below a. There, name is the package the innermost key names (its
 * "@range" dropped; "." names the enclosing package) and path is every
 * key from the section down, joined by " > " ("a > b"); path is NULL in
 * the other sections.
 */
struct npm_dep {
	enum npm_section section;
	char *name; /* the key, escapes decoded (UTF-8) */
	char *path; /* overrides only, see above */
	char *spec; /* the value, escapes decoded (UTF-8) */
	size_t off; /* offset of the value literal's opening quote */
	size_t len; /* length of the literal, both quotes included */
};

/* Dependencies in file order, and the top-level members the plan needs.
 * Owned; free with npm_manifest_free. */
struct npm_manifest {
	struct npm_dep *deps;
	size_t ndeps;
	char *name;         /* "name", when a string; else NULL */
	char **workspaces;  /* "workspaces": [..] or {"packages": [..]} */
	size_t nworkspaces;
	char **bundled;     /* "bundleDependencies" (or "bundledDependencies") */
	size_t nbundled;
	bool bundle_all;    /* "bundleDependencies": true */
	char **allow_scripts; /* keys of "allowScripts" ("sharp@0.33.0") */
	size_t nallow_scripts;
	char *engines_node;   /* "engines": {"node": ..}, when a string */
};

/*
 * Parse len bytes of package.json (a UTF-8 BOM is allowed). Returns 0,
 * AL_E_LIMIT (over NPM_MANIFEST_MAX_SIZE bytes, deeper than
 * NPM_MANIFEST_MAX_DEPTH, more than NPM_MANIFEST_MAX_DEPS dependencies),
 * AL_E_PARSE (invalid JSON, not an object, duplicate dependency, section
 * or spec of the wrong type) or -ENOMEM, with a message naming the line,
 * column and reason in err. On error m is empty.
 */
int npm_manifest_parse(const char *text, size_t len, struct npm_manifest *m,
		       char *err, size_t errsz);
void npm_manifest_free(struct npm_manifest *m);

/* Replace the spec of name in section (at path, for overrides) with
 * spec (plain UTF-8 text). */
struct npm_edit {
	enum npm_section section;
	const char *name;
	const char *spec;
	const char *path; /* NULL outside overrides */
};

/*
 * Copy text into out with the spec literal of each edit replaced by spec,
 * JSON-escaped; every other byte is kept. out is reset first and is left
 * empty on error: the parse errors above, AL_E_NOTFOUND when an edit
 * names a dependency that is not there, AL_E_USAGE when two edits name
 * the same one.
 */
int npm_manifest_rewrite(const char *text, size_t len,
			 const struct npm_edit *edits, size_t nedits,
			 struct al_buf *out, char *err, size_t errsz);

#endif
