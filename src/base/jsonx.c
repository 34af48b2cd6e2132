#include "base/jsonx.h"

#include <stdlib.h>
#include <string.h>

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
