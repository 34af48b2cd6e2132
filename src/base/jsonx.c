#include "base/jsonx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/util.h"

json_t *al_json_bytes(const char *p, size_t len)
{
	char *copy = malloc(len + 1);
	json_t *v = NULL;

	if (copy) {
		if (len)
			memcpy(copy, p, len);
		copy[len] = '\0';
		al_utf8_repair(copy, len);
		/* NUL and other controls become '?'; newlines stay. */
		al_sanitize_buf(copy, len, true);
		v = json_stringn(copy, len);
		free(copy);
	}
	return v ? v : json_string("");
}

json_t *al_json_text(const char *s, size_t max)
{
	return s ? al_json_bytes(s, strnlen(s, max)) : json_string("");
}

int al_json_load_file(const char *path, size_t max, json_t **out)
{
	struct al_buf b = { 0 };
	int rc = al_read_file(path, max, &b);

	*out = NULL;
	if (rc == -ENOENT)
		rc = AL_E_NOTFOUND;
	if (rc == 0) {
		*out = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, NULL);
		rc = *out ? 0 : AL_E_PARSE;
	}
	al_buf_free(&b);
	return rc;
}
