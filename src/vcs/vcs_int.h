/*
 * vcs_int.h - helpers shared by the files of the vcs module only.
 */
#ifndef AL_VCS_VCS_INT_H
#define AL_VCS_VCS_INT_H

#include <stddef.h>

enum vcs_url_kind {
	VCS_URL_HTTP,
	VCS_URL_FILE,
	VCS_URL_PATH,
};

/*
 * Classify url after checking it for control characters and length;
 * returns the kind (>= 0) or AL_E_USAGE, AL_E_UNSAFE, AL_E_LIMIT.
 */
int vcs__url_kind(const char *url);

/* Non-zero when an http(s) url carries userinfo ("user@" or more). */
int vcs__url_has_userinfo(const char *url);

/*
 * "scheme://host:port" of an http(s) url, lower case, with the default
 * port filled in, so two spellings of one server compare equal.
 */
int vcs__url_origin(const char *url, char *out, size_t outsz);

/* Format err (when not NULL) and sanitise it for terminals and logs. */
void vcs__seterr(char *err, size_t errsz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
