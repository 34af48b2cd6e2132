/*
 * registry.c - parallel packument fetching with libcurl's multi
 * interface, and a defensive packument parser (see registry.h).
 */
#include "npm/registry.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"

/* One request in flight. */
struct rg_req {
	CURL *h;
	struct npm_packument *p;
	struct al_buf body;
	size_t max;
	bool too_big;
	bool done;
};

static pthread_once_t rg_once = PTHREAD_ONCE_INIT;
static CURLcode rg_init_rc;

static void rg_global_init(void)
{
	rg_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int rg_fail(struct npm_packument *p, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int rg_fail(struct npm_packument *p, int err, const char *fmt, ...)
{
	va_list ap;

	p->err = err;
	va_start(ap, fmt);
	vsnprintf(p->errmsg, sizeof(p->errmsg), fmt, ap);
	va_end(ap);
	al_sanitize_text(p->errmsg);
	return err;
}

bool npm_name_valid(const char *name)
{
	size_t n = strlen(name), slash = 0;

	if (n == 0 || n > NPM_NAME_MAX || name[0] == '.' || name[0] == '_')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~')
			continue;
		if (c == '@' && i == 0)
			continue;
		if (c == '/' && name[0] == '@' && !slash && i > 1 &&
		    i + 1 < n) {
			slash = i;
			continue;
		}
		return false;
	}
	return name[0] != '@' || slash != 0;
}

void npm_packument_free(struct npm_packument *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nversions; i++)
		free(p->versions[i].version);
	for (size_t i = 0; i < p->ntags; i++) {
		free(p->tags[i].tag);
		free(p->tags[i].version);
	}
	free(p->versions);
	free(p->tags);
	free(p->name);
	memset(p, 0, sizeof(*p));
}

void npm_packuments_free(struct npm_packument *p, size_t n)
{
	for (size_t i = 0; p && i < n; i++)
		npm_packument_free(&p[i]);
}

const char *npm_packument_tag(const struct npm_packument *p, const char *tag)
{
	for (size_t i = 0; i < p->ntags; i++)
		if (!strcmp(p->tags[i].tag, tag))
			return p->tags[i].version;
	return NULL;
}

const struct npm_pkg_version *
npm_packument_version(const struct npm_packument *p, const char *version)
{
	for (size_t i = 0; i < p->nversions; i++)
		if (!strcmp(p->versions[i].version, version))
			return &p->versions[i];
	return NULL;
}

static bool rg_has_install_scripts(json_t *doc)
{
	static const char *const hooks[] = { "preinstall", "install",
					     "postinstall" };
	json_t *scripts = json_object_get(doc, "scripts");

	if (json_is_true(json_object_get(doc, "hasInstallScript")))
		return true;
	if (!json_is_object(scripts))
		return false;
	for (size_t i = 0; i < AL_ARRAY_LEN(hooks); i++)
		if (json_is_string(json_object_get(scripts, hooks[i])))
			return true;
	return false;
}

static int rg_versions(struct npm_packument *p, json_t *versions)
{
	const char *key;
	json_t *doc;
	size_t n = json_object_size(versions);

	if (n > NPM_REGISTRY_MAX_VERSIONS)
		return rg_fail(p, AL_E_LIMIT, "%s: %zu versions (limit %d)",
			       p->name, n, NPM_REGISTRY_MAX_VERSIONS);
	p->versions = calloc(n + 1, sizeof(*p->versions));
	if (!p->versions)
		return rg_fail(p, -ENOMEM, "out of memory");
	json_object_foreach(versions, key, doc) {
		struct npm_pkg_version *v = &p->versions[p->nversions];
		json_t *dep = json_object_get(doc, "deprecated");

		if (!json_is_object(doc))
			return rg_fail(p, AL_E_PARSE, "%s: version entry is "
				       "not an object", p->name);
		v->version = strdup(key);
		if (!v->version)
			return rg_fail(p, -ENOMEM, "out of memory");
		v->has_install_scripts = rg_has_install_scripts(doc);
		v->deprecated = json_is_string(dep) &&
				json_string_length(dep) > 0;
		p->nversions++;
	}
	return 0;
}

static int rg_tags(struct npm_packument *p, json_t *tags)
{
	const char *key;
	json_t *val;

	p->tags = calloc(json_object_size(tags) + 1, sizeof(*p->tags));
	if (!p->tags)
		return rg_fail(p, -ENOMEM, "out of memory");
	json_object_foreach(tags, key, val) {
		struct npm_dist_tag *t = &p->tags[p->ntags];

		if (!json_is_string(val))
			return rg_fail(p, AL_E_PARSE, "%s: dist-tag is not a "
				       "string", p->name);
		t->tag = strdup(key);
		t->version = strdup(json_string_value(val));
		p->ntags++;
		if (!t->tag || !t->version)
			return rg_fail(p, -ENOMEM, "out of memory");
	}
	return 0;
}

void npm_packument_parse(struct npm_packument *p, const char *body,
			 size_t len)
{
	json_error_t jerr;
	json_t *doc, *name, *versions, *tags;

	doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		rg_fail(p, AL_E_PARSE, "%s: answer is not JSON (%s)", p->name,
			jerr.text);
		return;
	}
	name = json_object_get(doc, "name");
	versions = json_object_get(doc, "versions");
	tags = json_object_get(doc, "dist-tags");
	if (!json_is_object(doc) || !json_is_object(versions) ||
	    (tags && !json_is_object(tags)))
		rg_fail(p, AL_E_PARSE, "%s: answer is not a packument",
			p->name);
	else if (name && (!json_is_string(name) ||
			  strcmp(json_string_value(name), p->name)))
		rg_fail(p, AL_E_PARSE, "%s: answer names another package",
			p->name);
	else if (rg_versions(p, versions) == 0 && tags)
		rg_tags(p, tags);
	json_decref(doc);
}

static size_t rg_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct rg_req *r = arg;
	size_t n = size * nmemb;

	if (r->body.len + n > r->max) {
		r->too_big = true;
		return 0;
	}
	if (al_buf_append(&r->body, data, n))
		return 0;
	return n;
}

/* base + name, with a scope's slash encoded as npm does (@s%2fname). */
static int rg_url(const char *base, const char *name, struct al_buf *url)
{
	size_t n = strlen(base);
	const char *slash = strchr(name, '/');
	int rc;

	rc = al_buf_append(url, base, n);
	if (!rc && (n == 0 || base[n - 1] != '/'))
		rc = al_buf_append(url, "/", 1);
	if (!rc && slash) {
		rc = al_buf_append(url, name, (size_t)(slash - name));
		if (!rc)
			rc = al_buf_printf(url, "%%2f%s", slash + 1);
	} else if (!rc) {
		rc = al_buf_puts(url, name);
	}
	return rc;
}

static int rg_start(CURLM *m, const struct npm_registry_opts *o,
		    struct curl_slist *hdr, struct rg_req *r)
{
	struct al_buf url = { 0 };
	int rc = -ENOMEM;

	r->h = curl_easy_init();
	if (!r->h || rg_url(o->url, r->p->name, &url))
		goto out;
	curl_easy_setopt(r->h, CURLOPT_URL, url.p);
	curl_easy_setopt(r->h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(r->h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->h, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	curl_easy_setopt(r->h, CURLOPT_CONNECTTIMEOUT_MS, o->timeout_ms);
	curl_easy_setopt(r->h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(r->h, CURLOPT_MAXFILESIZE_LARGE,
			 (curl_off_t)r->max);
	curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, rg_write);
	curl_easy_setopt(r->h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->h, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->h, CURLOPT_USERAGENT, "airlock/" AL_VERSION);
	rc = curl_multi_add_handle(m, r->h) == CURLM_OK ? 0 : -ENOMEM;
out:
	al_buf_free(&url);
	return rc;
}

/* A finished transfer: its outcome becomes the package's result. */
static void rg_finish(struct rg_req *r, CURLcode cc)
{
	struct npm_packument *p = r->p;

	r->done = true;
	curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &p->http_status);
	if (r->too_big || cc == CURLE_FILESIZE_EXCEEDED)
		rg_fail(p, AL_E_LIMIT, "%s: answer larger than %zu bytes",
			p->name, r->max);
	else if (cc != CURLE_OK)
		rg_fail(p, AL_E_REGISTRY, "%s: %s", p->name,
			curl_easy_strerror(cc));
	else if (p->http_status == 404)
		rg_fail(p, AL_E_NOTFOUND, "%s: package not found", p->name);
	else if (p->http_status != 200)
		rg_fail(p, AL_E_REGISTRY, "%s: HTTP status %ld", p->name,
			p->http_status);
	else
		npm_packument_parse(p, r->body.p ? r->body.p : "",
				    r->body.len);
	al_buf_free(&r->body);
}

static int rg_prepare(const char *const names[], size_t n,
		      struct npm_packument *out)
{
	memset(out, 0, n * sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		out[i].name = strdup(names[i] ? names[i] : "");
		if (!out[i].name)
			return -ENOMEM;
		if (!npm_name_valid(out[i].name))
			rg_fail(&out[i], AL_E_UNSAFE,
				"invalid package name '%.64s'", out[i].name);
	}
	return 0;
}

volatile sig_atomic_t npm_registry_cancel;

/* Run the batch: keep up to o->concurrency transfers in flight. */
static int rg_run(CURLM *m, const struct npm_registry_opts *o,
		  struct curl_slist *hdr, struct rg_req *reqs, size_t n)
{
	size_t next = 0, active = 0;
	int running = 0, rc = 0;

	for (;;) {
		while (active < o->concurrency && next < n) {
			struct rg_req *r = &reqs[next++];

			if (r->p->err)
				continue;
			if (rg_start(m, o, hdr, r)) {
				rg_fail(r->p, -ENOMEM, "cannot start request");
				continue;
			}
			active++;
		}
		if (active == 0)
			break;
		/* Checked at least once a second (the poll's timeout). */
		if (npm_registry_cancel) {
			rc = AL_E_INTERRUPTED;
			break;
		}
		if (curl_multi_perform(m, &running) != CURLM_OK ||
		    curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK) {
			rc = AL_E_REGISTRY;
			break;
		}
		for (;;) {
			int left;
			CURLMsg *msg = curl_multi_info_read(m, &left);
			struct rg_req *r;

			if (!msg)
				break;
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
					  (char **)&r);
			rg_finish(r, msg->data.result);
			curl_multi_remove_handle(m, r->h);
			curl_easy_cleanup(r->h);
			r->h = NULL;
			active--;
		}
	}
	return rc;
}

int npm_registry_fetch(const struct npm_registry_opts *opts,
		       const char *const names[], size_t n,
		       struct npm_packument *out)
{
	struct npm_registry_opts o = *opts;
	struct curl_slist *hdr = NULL;
	struct rg_req *reqs = NULL;
	CURLM *m = NULL;
	int rc;

	if (!o.url || (strncmp(o.url, "http://", 7) &&
		       strncmp(o.url, "https://", 8)))
		return AL_E_USAGE;
	o.timeout_ms = o.timeout_ms > 0 ? o.timeout_ms
					: NPM_REGISTRY_TIMEOUT_MS;
	o.max_bytes = o.max_bytes ? o.max_bytes : NPM_REGISTRY_MAX_BYTES;
	o.concurrency = o.concurrency ? o.concurrency
				      : NPM_REGISTRY_CONCURRENCY;
	pthread_once(&rg_once, rg_global_init);
	if (rg_init_rc != CURLE_OK)
		return AL_E_REGISTRY;

	rc = rg_prepare(names, n, out);
	if (rc)
		goto out;
	rc = -ENOMEM;
	reqs = calloc(n + 1, sizeof(*reqs));
	hdr = curl_slist_append(NULL,
				"Accept: application/vnd.npm.install-v1+json; "
				"q=1.0, application/json; q=0.8");
	m = curl_multi_init();
	if (!reqs || !hdr || !m)
		goto out;
	for (size_t i = 0; i < n; i++) {
		reqs[i].p = &out[i];
		reqs[i].max = o.max_bytes;
	}
	/* A failure of the multi handle itself ends the batch; the
	 * packages it did not finish get an error of their own. */
	if (rg_run(m, &o, hdr, reqs, n))
		al_warn("npm", NULL, "registry batch stopped early");
	for (size_t i = 0; i < n; i++)
		if (!reqs[i].done && !out[i].err)
			rg_fail(&out[i], AL_E_REGISTRY, "%s: request not "
				"completed%s", out[i].name,
				npm_registry_cancel ? " (cancelled)" : "");
	rc = 0;
out:
	for (size_t i = 0; reqs && i < n; i++) {
		if (reqs[i].h) {
			curl_multi_remove_handle(m, reqs[i].h);
			curl_easy_cleanup(reqs[i].h);
		}
		al_buf_free(&reqs[i].body);
	}
	if (m)
		curl_multi_cleanup(m);
	curl_slist_free_all(hdr);
	free(reqs);
	if (rc)
		npm_packuments_free(out, n);
	return rc;
}
