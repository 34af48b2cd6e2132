/*
 * jsonx.h - JSON values from text that came from outside (a git remote's
 * message, a registry's error, a sandbox's output). jansson refuses
 * strings that are not UTF-8, which would silently drop the value; these
 * helpers repair the encoding and replace control characters first.
 */
#ifndef AL_BASE_JSONX_H
#define AL_BASE_JSONX_H

#include <stddef.h>

#include <jansson.h>

/* A JSON string of at most max bytes of s, made safe; never NULL. */
json_t *al_json_text(const char *s, size_t max);
/* The same for len bytes that may hold NULs (each becomes '?'). */
json_t *al_json_bytes(const char *p, size_t len);

/*
 * Parse the JSON document in file path (at most max bytes; duplicate
 * keys refused) into *out. Returns 0, AL_E_NOTFOUND if there is no such
 * file, AL_E_PARSE, or al_read_file's errors.
 */
int al_json_load_file(const char *path, size_t max, json_t **out);

#endif
