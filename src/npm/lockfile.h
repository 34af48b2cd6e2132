/*
 * lockfile.h - package-lock.json (versions 1, 2 and 3), read only to
 * learn which version of a dependency is locked.
 *
 * The lockfile comes from the repository and, after the refresh, from a
 * sandbox: hostile input. It is parsed by jansson with duplicate keys
 * refused and a size cap; nothing in it is trusted beyond "this is the
 * version written for this name". npm itself rewrites it (in a sandbox);
 * airlock never edits its bytes.
 */
#ifndef AL_NPM_LOCKFILE_H
#define AL_NPM_LOCKFILE_H

#include <stddef.h>

#include <jansson.h>

#define NPM_LOCK_MAX_SIZE (64u << 20)
#define NPM_LOCK_NAME "package-lock.json"

struct npm_lock {
	int version; /* lockfileVersion: 1, 2 or 3 */
	json_t *root;
};

/*
 * Parse len bytes of a lockfile. Returns 0, AL_E_LIMIT (over
 * NPM_LOCK_MAX_SIZE), AL_E_PARSE (not JSON, duplicate keys, no
 * lockfileVersion 1, 2 or 3, "packages" or "dependencies" of the wrong
 * type), with a message in err. On error lock is empty.
 */
int npm_lock_parse(const char *text, size_t len, struct npm_lock *lock,
		   char *err, size_t errsz);
void npm_lock_free(struct npm_lock *lock);

/*
 * The version locked for the dependency called name (the key in
 * package.json; for an alias that is the alias, which npm also uses as
 * the lockfile key) of the package in directory dir ("" for the root,
 * "packages/a" for a workspace member). v2/v3: packages["DIR/node_modules/
 * NAME"], else the hoisted packages["node_modules/NAME"]; v1:
 * dependencies[NAME] (v1 has no workspaces), an alias's "npm:real@1.2.3"
 * read as 1.2.3. NULL when there is none.
 */
const char *npm_lock_version_of(const struct npm_lock *lock, const char *dir,
				const char *name);

/* The real package behind the entry: its "name" (v2/v3, aliases), else
 * NULL. */
const char *npm_lock_name_of(const struct npm_lock *lock, const char *dir,
			     const char *name);

#endif
