/*
 * registry.h - fetch packuments (package documents) from an npm registry.
 *
 * Many packages are fetched at once over libcurl's multi interface with a
 * bounded number of requests in flight. Registry answers are untrusted:
 * each is capped in size and time, must be a JSON object of the expected
 * shape, and any failure becomes that package's own error; one bad answer
 * never affects the others and never stops the batch.
 */
#ifndef AL_NPM_REGISTRY_H
#define AL_NPM_REGISTRY_H

#include <stdbool.h>
#include <signal.h>
#include <stddef.h>

#include <stdint.h>

#include "base/util.h"

/* Defaults for the fields of struct npm_registry_opts left at 0. */
#define NPM_REGISTRY_CONCURRENCY 8       /* requests and connections */
#define NPM_REGISTRY_TIMEOUT_MS 60000    /* one attempt, start to end */
#define NPM_REGISTRY_CONNECT_MS 10000    /* TCP and TLS handshake */
#define NPM_REGISTRY_STALL_S 20          /* under 1 KiB/s this long */
#define NPM_REGISTRY_ATTEMPTS 4          /* first try plus 3 retries */
#define NPM_REGISTRY_BACKOFF_MS 500      /* before the first retry */
#define NPM_REGISTRY_RETRY_AFTER_MAX_MS 30000
#define NPM_REGISTRY_MAX_BYTES (32u << 20)

/* Fixed limits on what an answer may hold. */
#define NPM_REGISTRY_STALL_BYTES 1024    /* bytes/s, with stall_s */
#define NPM_REGISTRY_BACKOFF_MAX_MS 10000
#define NPM_REGISTRY_MAX_REDIRECTS 5
#define NPM_REGISTRY_MAX_VERSIONS 50000
#define NPM_REGISTRY_MAX_TAGS 1000
#define NPM_REGISTRY_MAX_FIELD 256       /* a version or dist-tag string */
#define NPM_NAME_MAX 214
#define NPM_REGISTRY_MAX_PEOPLE 512   /* publisher, maintainer list */
#define NPM_REGISTRY_MAX_ENGINES 1024 /* engines.node */

/*
 * A cache of registry answers for ETag revalidation, provided by the
 * caller (the update job keeps one in LMDB: src/job/regcache.h). key is
 * a NUL-terminated text naming the document (its kind and URL). The
 * registry client calls these from the thread that called
 * npm_registry_fetch, one at a time.
 *
 * get: 0 with *etag (malloc'd, the caller frees) and body filled (empty
 *      before the call), AL_E_NOTFOUND, or any other error, which the
 *      client treats as a miss.
 * put: remember body under key with its etag; a failure is logged by the
 *      cache and changes nothing else. Only bodies that parsed as a
 *      packument of the asked name are put.
 */
struct npm_registry_cache {
	void *ctx;
	int (*get)(void *ctx, const char *key, char **etag,
		   struct al_buf *body);
	int (*put)(void *ctx, const char *key, const char *etag,
		   const char *body, size_t len);
};

/*
 * What to ask and how patiently. Every number left at 0 takes the
 * default above; only url is required.
 */
struct npm_registry_opts {
	const char *url;       /* base URL, e.g. from `npm config get registry` */
	/*
	 * The caller needs release times (npm_pkg_version.published_ms):
	 * ask for the full document. Otherwise the abbreviated one
	 * (application/vnd.npm.install-v1+json) is asked for, which carries
	 * versions, dist-tags, deprecated and hasInstallScript but, on the
	 * public registry, no "time". A registry may answer with the full
	 * document either way; times found are always filled in.
	 */
	bool need_release_times;
	long timeout_ms;       /* whole attempt */
	long connect_timeout_ms;
	long stall_s;          /* abort below NPM_REGISTRY_STALL_BYTES/s */
	size_t max_bytes;      /* per answer, after decompression */
	unsigned concurrency;  /* requests in flight, connections open */
	unsigned max_attempts; /* 1 = never retry */
	long backoff_ms;       /* first retry delay, doubled each time */
	long retry_after_max_ms; /* longest Retry-After honoured */
	const struct npm_registry_cache *cache; /* NULL: no revalidation */
	/*
	 * The Authorization header's value ("Bearer TOKEN"), or NULL. Sent
	 * only with requests to url's own origin (scheme, host and port);
	 * never logged. Header bytes only: no CR, LF or NUL.
	 */
	const char *auth;
	/* PEM certificates an https registry's chain must end in, in
	 * place of the system's roots; NULL: the system's. */
	const char *ca_file;
};

struct npm_pkg_version {
	char *version;            /* the key in "versions", as published */
	bool has_install_scripts; /* hasInstallScript, or (pre|post)install */
	bool deprecated;          /* a non-empty "deprecated" message */
	int64_t published_ms;     /* "time" entry, ms since the epoch;
				   * 0 when the answer gave none */
	/*
	 * Who published it, from full documents only (NULL otherwise):
	 * "_npmUser"."name", and the names in "maintainers", sorted,
	 * unique and joined by ", ". Each at most NPM_REGISTRY_MAX_PEOPLE
	 * bytes: a longer list is cut at a name's end and ends in ", ...".
	 */
	char *publisher;
	char *maintainers;
	/*
	 * "engines"."node" as published, in full and abbreviated documents:
	 * NULL when there is none (or it is ""); engines_bad when it is
	 * there but no string, or longer than NPM_REGISTRY_MAX_ENGINES
	 * (npm then counts it as not satisfied).
	 */
	char *engines_node;
	bool engines_bad;
};

struct npm_dist_tag {
	char *tag;
	char *version;
};

/*
 * One package's answer. err is 0 or the package's own error:
 * AL_E_NOTFOUND (404 or no such package), AL_E_LIMIT (answer too big or
 * too many versions, tags or bytes in a field), AL_E_PARSE (not JSON or
 * the wrong shape), AL_E_UNAVAILABLE (no connection, name not resolved,
 * connection broken, timed out, HTTP 429 or 5xx: still failing after
 * every attempt, or asking for a longer wait), AL_E_REGISTRY (any other
 * transport or HTTP error, a refused token, a refused redirect),
 * AL_E_UNSAFE (a name that is not a valid npm package name, never
 * sent); errmsg starts with the package name and says which and why. from_cache is set when
 * the registry answered 304 and the cached document was used.
 */
struct npm_packument {
	char *name;
	int err;
	char errmsg[192];
	long http_status;
	unsigned attempts;
	bool from_cache;
	struct npm_pkg_version *versions;
	size_t nversions;
	struct npm_dist_tag *tags;
	size_t ntags;
};

/*
 * Set from a signal handler to stop every batch in flight within a
 * quarter of a second, retries and their waits included; unfinished
 * packages fail with "request not completed (cancelled)".
 */
extern volatile sig_atomic_t npm_registry_cancel;

/*
 * Fetch names[0..n) into out[0..n) (caller's array, filled in order).
 * Returns 0 when the batch ran (look at each out[i].err), AL_E_USAGE for
 * a bad URL or options, -ENOMEM. Free each element with
 * npm_packument_free, or all with npm_packuments_free.
 *
 * Retries: a transfer that fails on the network (connection refused or
 * reset, answer cut short) or answers 429 or 5xx is tried again up to
 * max_attempts in all, after backoff_ms doubled each time (at most
 * NPM_REGISTRY_BACKOFF_MAX_MS) with random jitter, or after the
 * answer's Retry-After when it gives one no longer than
 * retry_after_max_ms (a longer one fails the package at once). Timeouts,
 * other 4xx answers, oversized and malformed answers are not retried.
 * Redirects are followed only to the same scheme, host and port. A 401
 * or 403 fails the package with a message saying whether a token was
 * sent.
 */
int npm_registry_fetch(const struct npm_registry_opts *opts,
		       const char *const names[], size_t n,
		       struct npm_packument *out);

void npm_packument_free(struct npm_packument *p);
void npm_packuments_free(struct npm_packument *p, size_t n);

/* The version a dist-tag points at, or NULL. */
const char *npm_packument_tag(const struct npm_packument *p,
			      const char *tag);
/* The entry for version, or NULL. */
const struct npm_pkg_version *
npm_packument_version(const struct npm_packument *p, const char *version);

/*
 * Whether name is a valid npm package name ("x" or "@scope/x", at most
 * NPM_NAME_MAX bytes, URL-safe characters only). Names that fail are
 * never put into a URL.
 */
bool npm_name_valid(const char *name);

/*
 * Parse a packument body (exposed for tests and for cached answers):
 * fills p's versions and tags, or sets p->err and p->errmsg.
 */
void npm_packument_parse(struct npm_packument *p, const char *body,
			 size_t len);

#endif
