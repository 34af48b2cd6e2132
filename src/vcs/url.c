/*
 * url.c - remote URLs and the credentials that travel with them.
 *
 * A forge URL pasted by an operator often carries a token as
 * "https://user:token@host/...". The token must not reach anything that
 * is stored or shown (the clone's .git/config, logs, job records), so it
 * is cut out here and handed to libgit2 only through its credentials
 * callback.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/util.h"
#include "vcs/vcs.h"
#include "vcs/vcs_int.h"

void vcs__seterr(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (!err || errsz == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	al_sanitize_text(err);
}

int vcs_cred_from_env(struct vcs_cred *c)
{
	const char *user = getenv("AIRLOCK_GIT_USER");
	const char *token = getenv("AIRLOCK_GIT_TOKEN");

	c->username = (user && *user) ? user : "x-access-token";
	c->secret = (token && *token) ? token : NULL;
	return 0;
}

void vcs_url_cred_wipe(struct vcs_url_cred *uc)
{
	if (uc)
		explicit_bzero(uc, sizeof(*uc));
}

void vcs_cred_pick(struct vcs_cred *out, const struct vcs_cred *env,
		   const struct vcs_url_cred *uc)
{
	out->username = env ? env->username : NULL;
	out->secret = env ? env->secret : NULL;
	if (out->secret && *out->secret)
		return;

	out->secret = NULL;
	if (uc && uc->secret[0]) {
		out->secret = uc->secret;
		if (uc->username[0])
			out->username = uc->username;
	}
	if (!out->username)
		out->username = "x-access-token";
}

static int url_scheme_len(const char *url)
{
	if (strncasecmp(url, "http://", 7) == 0)
		return 7;
	if (strncasecmp(url, "https://", 8) == 0)
		return 8;
	return 0;
}

int vcs__url_kind(const char *url)
{
	const unsigned char *p;

	if (!url || !*url)
		return AL_E_USAGE;
	if (strlen(url) >= VCS_URL_MAX)
		return AL_E_LIMIT;
	/* Spaces and controls have no place in a URL; refusing them keeps
	 * log lines and git configuration free of injected text. */
	for (p = (const unsigned char *)url; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return AL_E_UNSAFE;

	if (url_scheme_len(url))
		return VCS_URL_HTTP;
	if (strncasecmp(url, "file://", 7) == 0)
		return VCS_URL_FILE;
	if (url[0] == '/')
		return VCS_URL_PATH;
	return AL_E_USAGE;
}

/* Bounds of the authority ("userinfo@host:port") of an http(s) url. */
static void url_authority(const char *url, const char **start,
			  const char **end)
{
	*start = url + url_scheme_len(url);
	*end = *start + strcspn(*start, "/?#");
}

/* The last '@' of the authority, or NULL. */
static const char *url_at(const char *start, const char *end)
{
	const char *at = NULL;
	const char *p;

	for (p = start; p < end; p++)
		if (*p == '@')
			at = p;
	return at;
}

int vcs__url_has_userinfo(const char *url)
{
	const char *start, *end;

	if (!url_scheme_len(url))
		return 0;
	url_authority(url, &start, &end);
	return url_at(start, end) != NULL;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-decode [s, e) into out; NUL bytes are refused. */
static int pct_decode(const char *s, const char *e, char *out, size_t outsz)
{
	size_t n = 0;
	int hi, lo, c;

	while (s < e) {
		c = (unsigned char)*s++;
		if (c == '%') {
			if (e - s < 2)
				return AL_E_PARSE;
			hi = hexval(s[0]);
			lo = hexval(s[1]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return AL_E_PARSE;
			c = hi * 16 + lo;
			s += 2;
		}
		if (n + 1 >= outsz)
			return AL_E_LIMIT;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

static int split_userinfo(const char *start, const char *at,
			  struct vcs_url_cred *uc)
{
	const char *colon = memchr(start, ':', (size_t)(at - start));
	const char *uend = colon ? colon : at;
	int rc;

	rc = pct_decode(start, uend, uc->username, sizeof(uc->username));
	if (rc == 0 && colon)
		rc = pct_decode(colon + 1, at, uc->secret, sizeof(uc->secret));
	return rc;
}

int vcs_url_split(const char *url, char *clean, size_t cleansz,
		  struct vcs_url_cred *uc)
{
	const char *start, *end, *at;
	int kind, rc = 0;
	int n;

	if (uc)
		explicit_bzero(uc, sizeof(*uc));
	kind = vcs__url_kind(url);
	if (kind < 0)
		return kind;
	if (kind != VCS_URL_HTTP) {
		if (al_strlcpy(clean, url, cleansz) >= cleansz)
			return AL_E_LIMIT;
		return 0;
	}

	url_authority(url, &start, &end);
	at = url_at(start, end);
	if ((at ? at + 1 : start) == end)
		return AL_E_PARSE;	/* no host */
	if (at && uc)
		rc = split_userinfo(start, at, uc);
	if (rc < 0)
		goto out;

	n = snprintf(clean, cleansz, "%.*s%s", (int)(start - url), url,
		     at ? at + 1 : start);
	if (n < 0 || (size_t)n >= cleansz)
		rc = AL_E_LIMIT;
out:
	if (rc < 0)
		vcs_url_cred_wipe(uc);
	return rc;
}

int vcs__url_origin(const char *url, char *out, size_t outsz)
{
	const char *start, *end, *at, *host, *colon;
	int https, n;
	size_t i;

	if (!url_scheme_len(url))
		return AL_E_USAGE;
	https = url_scheme_len(url) == 8;
	url_authority(url, &start, &end);
	at = url_at(start, end);
	host = at ? at + 1 : start;

	/* A port is the digits after the last ':' (IPv6 literals keep
	 * their colons inside brackets). */
	colon = NULL;
	for (const char *p = host; p < end; p++)
		if (*p == ':')
			colon = p;
	if (colon && memchr(colon, ']', (size_t)(end - colon)))
		colon = NULL;

	if (colon && colon + 1 < end)
		n = snprintf(out, outsz, "%s://%.*s:%.*s",
			     https ? "https" : "http", (int)(colon - host),
			     host, (int)(end - colon - 1), colon + 1);
	else
		n = snprintf(out, outsz, "%s://%.*s:%s",
			     https ? "https" : "http",
			     (int)((colon ? colon : end) - host), host,
			     https ? "443" : "80");
	if (n < 0 || (size_t)n >= outsz)
		return AL_E_LIMIT;
	for (i = 0; out[i]; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
	return 0;
}
