/*
 * lockfile.c - read package-lock.json (see lockfile.h).
 */
#include "npm/lockfile.h"

#include <stdio.h>
#include <string.h>

#include "base/err.h"

int npm_lock_parse(const char *text, size_t len, struct npm_lock *lock,
		   char *err, size_t errsz)
{
	json_error_t je;
	json_t *v, *pk, *deps;

	memset(lock, 0, sizeof(*lock));
	if (len > NPM_LOCK_MAX_SIZE) {
		snprintf(err, errsz, "%s: larger than %u bytes", NPM_LOCK_NAME,
			 NPM_LOCK_MAX_SIZE);
		return AL_E_LIMIT;
	}
	/* npm writes no BOM, but a hand-edited file may have one. */
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) {
		text += 3;
		len -= 3;
	}
	lock->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!lock->root) {
		snprintf(err, errsz, "%s line %d: %s", NPM_LOCK_NAME, je.line,
			 je.text);
		return AL_E_PARSE;
	}
	v = json_object_get(lock->root, "lockfileVersion");
	pk = json_object_get(lock->root, "packages");
	deps = json_object_get(lock->root, "dependencies");
	if (!json_is_object(lock->root) || !json_is_integer(v) ||
	    json_integer_value(v) < 1 || json_integer_value(v) > 3) {
		snprintf(err, errsz, "%s: lockfileVersion is not 1, 2 or 3",
			 NPM_LOCK_NAME);
		goto bad;
	}
	lock->version = (int)json_integer_value(v);
	if ((pk && !json_is_object(pk)) || (deps && !json_is_object(deps))) {
		snprintf(err, errsz, "%s: packages or dependencies is not an "
			 "object", NPM_LOCK_NAME);
		goto bad;
	}
	return 0;
bad:
	npm_lock_free(lock);
	return AL_E_PARSE;
}

void npm_lock_free(struct npm_lock *lock)
{
	if (!lock)
		return;
	json_decref(lock->root);
	memset(lock, 0, sizeof(*lock));
}

/* The lockfile object describing name as installed for dir. */
static json_t *lk_entry(const struct npm_lock *lock, const char *dir,
			const char *name)
{
	char key[1200];
	json_t *e = NULL;

	if (!lock || !lock->root)
		return NULL;
	if (lock->version == 1) {
		e = json_object_get(json_object_get(lock->root,
						    "dependencies"), name);
		return json_is_object(e) ? e : NULL;
	}
	json_t *pk = json_object_get(lock->root, "packages");
	if (dir && dir[0] &&
	    snprintf(key, sizeof(key), "%s/node_modules/%s", dir, name) <
		    (int)sizeof(key))
		e = json_object_get(pk, key);
	if (!json_is_object(e) &&
	    snprintf(key, sizeof(key), "node_modules/%s", name) <
		    (int)sizeof(key))
		e = json_object_get(pk, key);
	return json_is_object(e) ? e : NULL;
}

const char *npm_lock_version_of(const struct npm_lock *lock, const char *dir,
				const char *name)
{
	const char *v = json_string_value(
		json_object_get(lk_entry(lock, dir, name), "version"));
	const char *at;

	/* v1 writes an alias as "npm:real@1.2.3". */
	if (v && !strncmp(v, "npm:", 4)) {
		at = strrchr(v + 4, '@');
		return at && at != v + 4 ? at + 1 : NULL;
	}
	return v;
}

const char *npm_lock_name_of(const struct npm_lock *lock, const char *dir,
			     const char *name)
{
	return json_string_value(
		json_object_get(lk_entry(lock, dir, name), "name"));
}
