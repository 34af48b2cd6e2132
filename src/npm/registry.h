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

#define NPM_REGISTRY_CONCURRENCY 8
#define NPM_REGISTRY_TIMEOUT_MS 60000
#define NPM_REGISTRY_MAX_BYTES (32u << 20)
#define NPM_REGISTRY_MAX_VERSIONS 50000
#define NPM_NAME_MAX 214

struct npm_registry_opts {
	const char *url;     /* base URL, e.g. from `npm config get registry` */
	long timeout_ms;     /* per request; 0 = NPM_REGISTRY_TIMEOUT_MS */
	size_t max_bytes;    /* per answer; 0 = NPM_REGISTRY_MAX_BYTES */
	unsigned concurrency; /* in flight; 0 = NPM_REGISTRY_CONCURRENCY */
};

struct npm_pkg_version {
	char *version;            /* the key in "versions", as published */
	bool has_install_scripts; /* hasInstallScript, or (pre|post)install */
	bool deprecated;          /* a non-empty "deprecated" message */
};

struct npm_dist_tag {
	char *tag;
	char *version;
};

/*
 * One package's answer. err is 0 or the package's own error:
 * AL_E_NOTFOUND (404 or no such package), AL_E_LIMIT (answer too big or
 * too many versions), AL_E_PARSE (not JSON or the wrong shape),
 * AL_E_REGISTRY (transport or HTTP error), AL_E_UNSAFE (a name that is
 * not a valid npm package name, never sent); errmsg says which and why.
 */
struct npm_packument {
	char *name;
	int err;
	char errmsg[192];
	long http_status;
	struct npm_pkg_version *versions;
	size_t nversions;
	struct npm_dist_tag *tags;
	size_t ntags;
};

/*
 * Fetch names[0..n) into out[0..n) (caller's array, filled in order).
 * Returns 0 when the batch ran (look at each out[i].err), AL_E_USAGE for
 * a bad URL or options, -ENOMEM. Free each element with
 * npm_packument_free, or all with npm_packuments_free.
 */
/*
 * Set from a signal handler to stop every batch in flight within about a
 * second; their unfinished packages fail with "request not completed".
 */
extern volatile sig_atomic_t npm_registry_cancel;

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
