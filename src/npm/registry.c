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
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"

enum rg_state { RG_WAIT, RG_ACTIVE, RG_DONE };

/* One package's request, over all its attempts and redirects. */
struct rg_req {
	CURL *h;
	struct curl_slist *hdr;
	struct npm_packument *p;
	enum rg_state state;
	int64_t due_ms;          /* RG_WAIT: not to start before this */
	struct al_buf url;       /* the package's URL on the registry */
	char *loc;               /* a same-origin redirect being followed */
	unsigned redirects;
	struct al_buf key;       /* cache key: document kind and url */
	char *etag;              /* the cached copy's ETag, sent back */
	struct al_buf cached;    /* the cached copy */
	bool cache_looked;
	struct al_buf body;
	size_t max;
	bool too_big;
	char cerr[CURL_ERROR_SIZE];
};

struct rg_batch {
	struct npm_registry_opts o;
	CURLM *m;
	char *origin;            /* scheme://host:port of o.url */
	bool tls;                /* an https registry */
	struct rg_req *reqs;
	size_t n;
	unsigned active;
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
	for (size_t i = 0; i < p->nversions; i++) {
		free(p->versions[i].version);
		free(p->versions[i].publisher);
		free(p->versions[i].maintainers);
		free(p->versions[i].engines_node);
	}
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

/* A person's name from {"name": text} (or a bare text, an old form). */
static const char *rg_person(json_t *who)
{
	const char *s = json_is_string(who)
				? json_string_value(who)
				: json_string_value(json_object_get(who, "name"));

	return s && *s ? s : NULL;
}

static int rg_strcmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The maintainer names of a version document, sorted and unique, joined
 * by ", ", cut at NPM_REGISTRY_MAX_PEOPLE bytes; NULL when there are
 * none. Names only: e-mail addresses are nobody's business here.
 */
static char *rg_maintainers(json_t *list)
{
	const char **names;
	struct al_buf b = { 0 };
	size_t n = 0, i;
	json_t *m;

	if (!json_is_array(list) || json_array_size(list) == 0)
		return NULL;
	names = calloc(json_array_size(list), sizeof(*names));
	if (!names)
		return NULL;
	json_array_foreach(list, i, m)
		if (rg_person(m))
			names[n++] = rg_person(m);
	qsort(names, n, sizeof(*names), rg_strcmp);
	for (i = 0; i < n; i++) {
		if (i && !strcmp(names[i], names[i - 1]))
			continue;
		if (b.len + strlen(names[i]) + 2 > NPM_REGISTRY_MAX_PEOPLE - 5) {
			al_buf_printf(&b, ", ...");
			break;
		}
		al_buf_printf(&b, "%s%s", b.len ? ", " : "", names[i]);
	}
	free(names);
	return b.p;
}

/* The publisher's name, cut to NPM_REGISTRY_MAX_PEOPLE - 1 bytes. */
static char *rg_publisher(json_t *doc)
{
	const char *s = rg_person(json_object_get(doc, "_npmUser"));

	return s ? strndup(s, NPM_REGISTRY_MAX_PEOPLE - 1) : NULL;
}

/*
 * "2013-06-25T22:37:04.917Z" or with an offset ("+00:00"), the fraction
 * optional: milliseconds since the epoch, or 0 for anything else.
 */
static int64_t rg_time_ms(json_t *t)
{
	const char *s = json_string_value(t);
	int y, mo, d, h, mi, sec, used = 0, oh = 0, om = 0, ms = 0;
	struct tm tm = { 0 };
	int64_t v;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h,
			 &mi, &sec, &used) != 6 || used != 19)
		return 0;
	s += used;
	if (*s == '.') {
		int k = 0;

		for (s++; *s >= '0' && *s <= '9'; s++, k++)
			if (k < 3)
				ms = ms * 10 + (*s - '0');
		if (k == 0)
			return 0;
		for (; k < 3; k++)
			ms *= 10;
	}
	if ((*s == '+' || *s == '-') &&
	    sscanf(s + 1, "%2d:%2d%n", &oh, &om, &used) == 2 && used == 5 &&
	    !s[6])
		oh = (*s == '-' ? -1 : 1) * (oh * 60 + om);
	else if (strcmp(s, "Z"))
		return 0;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	v = (int64_t)timegm(&tm);
	if (v <= 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 60)
		return 0;
	return (v - (int64_t)oh * 60) * 1000 + ms;
}

/* engines.node of a version document into v (registry.h). */
static void rg_engines(struct npm_pkg_version *v, json_t *doc)
{
	json_t *eng = json_object_get(doc, "engines");
	json_t *node = json_is_object(eng) ? json_object_get(eng, "node")
					   : NULL;

	/* npm checks engines.node only when it is truthy. */
	if (!node || json_is_null(node) || json_is_false(node) ||
	    (json_is_number(node) && json_number_value(node) == 0) ||
	    (json_is_string(node) && json_string_length(node) == 0))
		return;
	if (!json_is_string(node) ||
	    json_string_length(node) > NPM_REGISTRY_MAX_ENGINES ||
	    strlen(json_string_value(node)) != json_string_length(node)) {
		v->engines_bad = true;
		return;
	}
	v->engines_node = strdup(json_string_value(node));
	v->engines_bad = v->engines_node == NULL;
}

static int rg_versions(struct npm_packument *p, json_t *versions,
		       json_t *times)
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
		if (strlen(key) > NPM_REGISTRY_MAX_FIELD)
			return rg_fail(p, AL_E_LIMIT, "%s: a version key is "
				       "longer than %d bytes", p->name,
				       NPM_REGISTRY_MAX_FIELD);
		v->version = strdup(key);
		if (!v->version)
			return rg_fail(p, -ENOMEM, "out of memory");
		v->has_install_scripts = rg_has_install_scripts(doc);
		v->deprecated = json_is_string(dep) &&
				json_string_length(dep) > 0;
		v->published_ms = rg_time_ms(json_object_get(times, key));
		/* Who published: absent from abbreviated documents; an
		 * allocation failure here only loses the signal. */
		v->publisher = rg_publisher(doc);
		v->maintainers = rg_maintainers(
			json_object_get(doc, "maintainers"));
		rg_engines(v, doc);
		p->nversions++;
	}
	return 0;
}

static int rg_tags(struct npm_packument *p, json_t *tags)
{
	const char *key;
	json_t *val;

	if (json_object_size(tags) > NPM_REGISTRY_MAX_TAGS)
		return rg_fail(p, AL_E_LIMIT, "%s: %zu dist-tags (limit %d)",
			       p->name, json_object_size(tags),
			       NPM_REGISTRY_MAX_TAGS);
	p->tags = calloc(json_object_size(tags) + 1, sizeof(*p->tags));
	if (!p->tags)
		return rg_fail(p, -ENOMEM, "out of memory");
	json_object_foreach(tags, key, val) {
		struct npm_dist_tag *t = &p->tags[p->ntags];

		if (!json_is_string(val))
			return rg_fail(p, AL_E_PARSE, "%s: dist-tag is not a "
				       "string", p->name);
		if (strlen(key) > NPM_REGISTRY_MAX_FIELD ||
		    json_string_length(val) > NPM_REGISTRY_MAX_FIELD)
			return rg_fail(p, AL_E_LIMIT, "%s: a dist-tag is "
				       "longer than %d bytes", p->name,
				       NPM_REGISTRY_MAX_FIELD);
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
	json_t *doc, *name, *versions, *tags, *times;

	doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		rg_fail(p, AL_E_PARSE, "%s: answer is not JSON (%s)", p->name,
			jerr.text);
		return;
	}
	name = json_object_get(doc, "name");
	versions = json_object_get(doc, "versions");
	tags = json_object_get(doc, "dist-tags");
	times = json_object_get(doc, "time");
	if (!json_is_object(doc) || !json_is_object(versions) ||
	    (tags && !json_is_object(tags)) ||
	    (times && !json_is_object(times)))
		rg_fail(p, AL_E_PARSE, "%s: answer is not a packument",
			p->name);
	else if (name && (!json_is_string(name) ||
			  strcmp(json_string_value(name), p->name)))
		rg_fail(p, AL_E_PARSE, "%s: answer names another package",
			p->name);
	else if (rg_versions(p, versions, times) == 0 && tags)
		rg_tags(p, tags);
	json_decref(doc);
}

static size_t rg_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct rg_req *r = arg;
	size_t n = size * nmemb;

	/* Counted after decompression, so a small compressed answer that
	 * inflates without end (a "zip bomb") stops at the cap too. */
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

/* "scheme://host:port" of url (port made explicit), or NULL. */
static char *rg_origin(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;
	struct al_buf b = { 0 };

	if (u && !curl_url_set(u, CURLUPART_URL, url, 0) &&
	    !curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) &&
	    !curl_url_get(u, CURLUPART_HOST, &host, 0) &&
	    !curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) &&
	    al_buf_printf(&b, "%s://%s:%s", scheme, host, port))
		al_buf_free(&b);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return b.p;
}

/* An ETag fit to be sent back in a header: printable, bounded. */
static bool rg_etag_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > NPM_REGISTRY_MAX_FIELD)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* The cached copy of r's document, if the caller keeps a cache. */
static void rg_cache_get(struct rg_batch *b, struct rg_req *r)
{
	const struct npm_registry_cache *c = b->o.cache;
	int rc;

	r->cache_looked = true;
	if (!c || !c->get)
		return;
	rc = c->get(c->ctx, r->key.p, &r->etag, &r->cached);
	if (rc || !rg_etag_ok(r->etag)) {
		free(r->etag);
		r->etag = NULL;
		al_buf_free(&r->cached);
	}
}

static void rg_cache_put(struct rg_batch *b, struct rg_req *r)
{
	const struct npm_registry_cache *c = b->o.cache;
	struct curl_header *hh = NULL;

	if (!c || !c->put || r->p->err ||
	    curl_easy_header(r->h, "ETag", 0, CURLH_HEADER, -1, &hh) !=
		    CURLHE_OK ||
	    !rg_etag_ok(hh->value))
		return;
	c->put(c->ctx, r->key.p, hh->value, r->body.p ? r->body.p : "",
	       r->body.len);
}

static const char rg_accept_abbrev[] =
	"Accept: application/vnd.npm.install-v1+json; q=1.0, "
	"application/json; q=0.8";
static const char rg_accept_full[] = "Accept: application/json";

/*
 * The token goes only to the registry's own origin: the request's URL
 * (a redirect's included) is compared again here, so that no path that
 * leads elsewhere can carry it.
 */
static int rg_add_auth(struct rg_batch *b, struct rg_req *r)
{
	struct al_buf h = { 0 };
	struct curl_slist *l = NULL;
	char *org;

	if (!b->o.auth || !b->origin)
		return 0;
	org = rg_origin(r->loc ? r->loc : r->url.p);
	if (org && !strcasecmp(org, b->origin) &&
	    !al_buf_printf(&h, "Authorization: %s", b->o.auth))
		l = curl_slist_append(r->hdr, h.p);
	else if (org && strcasecmp(org, b->origin))
		l = r->hdr; /* another origin: nothing to add */
	if (h.p)
		explicit_bzero(h.p, h.len);
	al_buf_free(&h);
	free(org);
	if (!l)
		return -ENOMEM;
	r->hdr = l;
	return 0;
}

static int rg_headers(struct rg_batch *b, struct rg_req *r)
{
	struct al_buf inm = { 0 };
	int rc = -ENOMEM;

	r->hdr = curl_slist_append(NULL, b->o.need_release_times
						 ? rg_accept_full
						 : rg_accept_abbrev);
	if (!r->hdr)
		return -ENOMEM;
	if (rg_add_auth(b, r))
		return -ENOMEM;
	if (!r->etag)
		return 0;
	if (!al_buf_printf(&inm, "If-None-Match: %s", r->etag)) {
		struct curl_slist *l = curl_slist_append(r->hdr, inm.p);

		if (l) {
			r->hdr = l;
			rc = 0;
		}
	}
	al_buf_free(&inm);
	return rc;
}

/* One attempt: a fresh easy handle (connections stay in the multi). */
static int rg_start(struct rg_batch *b, struct rg_req *r)
{
	const struct npm_registry_opts *o = &b->o;
	CURL *h;

	if (!r->cache_looked)
		rg_cache_get(b, r);
	if (rg_headers(b, r))
		return -ENOMEM;
	h = r->h = curl_easy_init();
	if (!h)
		return -ENOMEM;
	al_buf_free(&r->body);
	r->too_big = false;
	r->cerr[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, r->loc ? r->loc : r->url.p);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->hdr);
	/* Never another scheme (file:, ...), and redirects are decided
	 * here (rg_redirect), never followed by libcurl on its own. */
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	/* HTTP/2 is offered over TLS only. Waiting for the first
	 * connection to tell whether it multiplexes is worth it there;
	 * over plain HTTP it would only queue requests behind a slow one. */
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(h, CURLOPT_PIPEWAIT, b->tls ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	/* A registry that drips bytes would otherwise hold the job for the
	 * whole timeout of every attempt. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT,
			 (long)NPM_REGISTRY_STALL_BYTES);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, o->stall_s);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	/* Refuses an announced Content-Length over the cap before reading;
	 * rg_write enforces it on what actually arrives. */
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, rg_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->cerr);
	curl_easy_setopt(h, CURLOPT_PRIVATE, r);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "airlock/" AL_VERSION);
	if (o->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
	if (curl_multi_add_handle(b->m, h) != CURLM_OK)
		return -ENOMEM;
	r->p->attempts++;
	r->state = RG_ACTIVE;
	b->active++;
	return 0;
}

/* Drop the current attempt's transfer, if any; the request goes on. */
static void rg_release(struct rg_batch *b, struct rg_req *r)
{
	if (r->h) {
		curl_multi_remove_handle(b->m, r->h);
		curl_easy_cleanup(r->h);
		r->h = NULL;
	}
	/* One of the headers may hold the token. */
	for (struct curl_slist *l = r->hdr; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(r->hdr);
	r->hdr = NULL;
}

/* Failures of the network that a second attempt may not meet. */
static bool rg_transient(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static uint32_t rg_random(void)
{
	uint32_t x = 0;

	if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x))
		x = (uint32_t)al_mono_ms();
	return x;
}

/*
 * Try r again later if attempts remain: after the registry's
 * Retry-After when it gave one, else after exponential backoff with
 * jitter (half the delay fixed, half random, so that many clients told
 * to wait do not come back in step). true when r is taken care of
 * (scheduled, or failed for asking too long a wait); false when the
 * caller is to fail it.
 */
static bool rg_retry(struct rg_batch *b, struct rg_req *r, const char *why)
{
	const struct npm_registry_opts *o = &b->o;
	struct npm_packument *p = r->p;
	curl_off_t ra = -1;
	long delay;

	if (p->attempts >= o->max_attempts)
		return false;
	curl_easy_getinfo(r->h, CURLINFO_RETRY_AFTER, &ra);
	if (ra > 0 && ra > o->retry_after_max_ms / 1000) {
		rg_fail(p, AL_E_UNAVAILABLE, "%s: %s, and the registry asks to "
			"retry after %lld s (more than %ld s)", p->name, why,
			(long long)ra, o->retry_after_max_ms / 1000);
		return true;
	}
	if (ra > 0) {
		delay = (long)ra * 1000;
	} else {
		delay = o->backoff_ms;
		for (unsigned i = 1; i < p->attempts &&
				     delay < NPM_REGISTRY_BACKOFF_MAX_MS; i++)
			delay *= 2;
		if (delay > NPM_REGISTRY_BACKOFF_MAX_MS)
			delay = NPM_REGISTRY_BACKOFF_MAX_MS;
		delay = delay / 2 +
			(long)(rg_random() % (uint32_t)(delay / 2 + 1));
	}
	al_info("npm", NULL, "registry retry package=%s attempt=%u "
		"delay_ms=%ld reason=\"%s\"", p->name, p->attempts + 1, delay,
		why);
	r->state = RG_WAIT;
	r->due_ms = al_mono_ms() + delay;
	return true;
}

/* Follow a redirect that stays on the registry's origin. */
static void rg_redirect(struct rg_batch *b, struct rg_req *r)
{
	struct npm_packument *p = r->p;
	char *to = NULL, *org;

	curl_easy_getinfo(r->h, CURLINFO_REDIRECT_URL, &to);
	if (!to) {
		rg_fail(p, AL_E_REGISTRY, "%s: HTTP status %ld without a "
			"Location", p->name, p->http_status);
		return;
	}
	if (++r->redirects > NPM_REGISTRY_MAX_REDIRECTS) {
		rg_fail(p, AL_E_REGISTRY, "%s: more than %d redirects",
			p->name, NPM_REGISTRY_MAX_REDIRECTS);
		return;
	}
	/* A registry answer must not send the daemon to another host (a
	 * service on loopback or the local network, say). */
	org = rg_origin(to);
	if (!org || !b->origin || strcasecmp(org, b->origin)) {
		rg_fail(p, AL_E_REGISTRY, "%s: redirect to another origin "
			"refused (%.80s)", p->name, org ? org : "bad URL");
	} else {
		free(r->loc);
		r->loc = strdup(to);
		if (!r->loc)
			rg_fail(p, -ENOMEM, "%s: out of memory", p->name);
		r->state = RG_WAIT;
		r->due_ms = 0;
	}
	free(org);
}

/*
 * The cached copy did not parse (it was kept by an older airlock, or the
 * store gave back something else): forget it and ask again, this time
 * without If-None-Match.
 */
static void rg_uncache(struct rg_req *r)
{
	struct npm_packument *p = r->p;
	char *name = p->name;
	unsigned attempts = p->attempts;

	al_warn("npm", NULL, "registry cached copy unusable package=%s "
		"reason=\"%s\"", p->name, p->errmsg);
	p->name = NULL;
	npm_packument_free(p);
	p->name = name;
	p->attempts = attempts;
	free(r->etag);
	r->etag = NULL;
	al_buf_free(&r->cached);
	r->state = RG_WAIT;
	r->due_ms = 0;
}

static void rg_http(struct rg_batch *b, struct rg_req *r)
{
	struct npm_packument *p = r->p;
	long st = p->http_status;
	char why[64];

	if (st == 200) {
		npm_packument_parse(p, r->body.p ? r->body.p : "",
				    r->body.len);
		rg_cache_put(b, r);
	} else if (st == 304 && r->etag) {
		p->from_cache = true;
		npm_packument_parse(p, r->cached.p ? r->cached.p : "",
				    r->cached.len);
		if (p->err)
			rg_uncache(r);
	} else if (st == 301 || st == 302 || st == 303 || st == 307 ||
		   st == 308) {
		rg_redirect(b, r);
	} else if (st == 404) {
		rg_fail(p, AL_E_NOTFOUND, "%s: package not found", p->name);
	} else if (st == 401 || st == 403) {
		rg_fail(p, AL_E_REGISTRY, "%s: HTTP status %ld: the registry "
			"refused %s", p->name, st, b->o.auth
				? "the token of registry_token_file"
				: "access without a token (registry_token_file "
				  "in airlock.conf gives one)");
	} else if (st == 429 || (st >= 500 && st <= 599)) {
		snprintf(why, sizeof(why), "HTTP status %ld", st);
		if (!rg_retry(b, r, why))
			rg_fail(p, AL_E_UNAVAILABLE, "%s: HTTP status %ld after "
				"%u attempts", p->name, st, p->attempts);
	} else {
		rg_fail(p, AL_E_REGISTRY, "%s: HTTP status %ld", p->name, st);
	}
}

/* A finished attempt: done, or scheduled again (redirect, retry). */
static void rg_finish(struct rg_batch *b, struct rg_req *r, CURLcode cc)
{
	struct npm_packument *p = r->p;
	const char *why = r->cerr[0] ? r->cerr : curl_easy_strerror(cc);

	r->state = RG_DONE;
	curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &p->http_status);
	if (r->too_big || cc == CURLE_FILESIZE_EXCEEDED)
		rg_fail(p, AL_E_LIMIT, "%s: answer larger than %zu bytes",
			p->name, r->max);
	else if (cc == CURLE_OPERATION_TIMEDOUT)
		rg_fail(p, AL_E_UNAVAILABLE, "%s: timed out: %s", p->name, why);
	else if (cc != CURLE_OK && !(rg_transient(cc) && rg_retry(b, r, why)))
		rg_fail(p, rg_transient(cc) || cc == CURLE_COULDNT_RESOLVE_HOST
				   ? AL_E_UNAVAILABLE : AL_E_REGISTRY,
			"%s: %s%s (attempt %u)", p->name,
			cc == CURLE_PARTIAL_FILE ? "answer cut short: " : "",
			why, p->attempts);
	else if (cc == CURLE_OK)
		rg_http(b, r);
	if (r->state == RG_DONE)
		al_buf_free(&r->body);
}

static int rg_prepare(struct rg_batch *b, const char *const names[],
		      struct npm_packument *out)
{
	const char *kind = b->o.need_release_times ? "full" : "abbreviated";

	memset(out, 0, b->n * sizeof(*out));
	for (size_t i = 0; i < b->n; i++) {
		struct rg_req *r = &b->reqs[i];

		r->p = &out[i];
		r->max = b->o.max_bytes;
		out[i].name = strdup(names[i] ? names[i] : "");
		if (!out[i].name)
			return -ENOMEM;
		if (!npm_name_valid(out[i].name)) {
			rg_fail(&out[i], AL_E_UNSAFE,
				"invalid package name '%.64s'", out[i].name);
			r->state = RG_DONE;
			continue;
		}
		if (rg_url(b->o.url, out[i].name, &r->url) ||
		    al_buf_printf(&r->key, "%s %s", kind, r->url.p))
			return -ENOMEM;
	}
	return 0;
}

static void rg_collect(struct rg_batch *b)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(b->m, &left))) {
		struct rg_req *r;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
				  (char **)&r);
		b->active--;
		rg_finish(b, r, msg->data.result);
		rg_release(b, r);
	}
}

volatile sig_atomic_t npm_registry_cancel;

/* Start what is due, within the concurrency bound; false when idle. */
static bool rg_schedule(struct rg_batch *b, long *wait_ms)
{
	int64_t now = al_mono_ms();
	bool pending = false;

	for (size_t i = 0; i < b->n; i++) {
		struct rg_req *r = &b->reqs[i];

		if (r->state != RG_WAIT)
			continue;
		pending = true;
		if (r->due_ms > now) {
			if (r->due_ms - now < *wait_ms)
				*wait_ms = (long)(r->due_ms - now);
			continue;
		}
		if (b->active >= b->o.concurrency)
			continue;
		if (rg_start(b, r)) {
			rg_release(b, r);
			rg_fail(r->p, -ENOMEM, "%s: cannot start request",
				r->p->name);
			r->state = RG_DONE;
		}
	}
	return pending || b->active > 0;
}

/*
 * Run the batch until every request is done. The cancel flag is looked
 * at every 250 ms at most (the poll's longest wait), also while retries
 * wait for their time.
 */
static int rg_run(struct rg_batch *b)
{
	int running = 0;

	for (;;) {
		long wait = 250;

		if (npm_registry_cancel)
			return AL_E_INTERRUPTED;
		if (!rg_schedule(b, &wait))
			return 0;
		if (curl_multi_perform(b->m, &running) != CURLM_OK)
			return AL_E_REGISTRY;
		rg_collect(b);
		if (curl_multi_poll(b->m, NULL, 0, (int)wait, NULL) !=
		    CURLM_OK)
			return AL_E_REGISTRY;
	}
}

static int rg_opts(const struct npm_registry_opts *in,
		   struct npm_registry_opts *o)
{
	*o = *in;
	if (!o->url || (strncmp(o->url, "http://", 7) &&
			strncmp(o->url, "https://", 8)))
		return AL_E_USAGE;
	if (o->auth && (!*o->auth || strpbrk(o->auth, "\r\n")))
		return AL_E_USAGE; /* would end the header early */
#define RG_DEFAULT(f, v) o->f = o->f > 0 ? o->f : (v)
	RG_DEFAULT(timeout_ms, NPM_REGISTRY_TIMEOUT_MS);
	RG_DEFAULT(connect_timeout_ms, NPM_REGISTRY_CONNECT_MS);
	RG_DEFAULT(stall_s, NPM_REGISTRY_STALL_S);
	RG_DEFAULT(max_bytes, NPM_REGISTRY_MAX_BYTES);
	RG_DEFAULT(concurrency, NPM_REGISTRY_CONCURRENCY);
	RG_DEFAULT(max_attempts, NPM_REGISTRY_ATTEMPTS);
	RG_DEFAULT(backoff_ms, NPM_REGISTRY_BACKOFF_MS);
	RG_DEFAULT(retry_after_max_ms, NPM_REGISTRY_RETRY_AFTER_MAX_MS);
#undef RG_DEFAULT
	return 0;
}

static int rg_multi(struct rg_batch *b)
{
	long conns = (long)b->o.concurrency;

	b->m = curl_multi_init();
	if (!b->m)
		return -ENOMEM;
	/* HTTP/2 where the registry offers it (over TLS): the requests
	 * share one connection; otherwise one connection per request in
	 * flight, never more than the concurrency. */
	curl_multi_setopt(b->m, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
	curl_multi_setopt(b->m, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
	curl_multi_setopt(b->m, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns);
	return 0;
}

int npm_registry_fetch(const struct npm_registry_opts *opts,
		       const char *const names[], size_t n,
		       struct npm_packument *out)
{
	struct rg_batch b = { .n = n };
	int rc = rg_opts(opts, &b.o);

	if (rc)
		return rc;
	pthread_once(&rg_once, rg_global_init);
	if (rg_init_rc != CURLE_OK)
		return AL_E_REGISTRY;

	rc = -ENOMEM;
	b.reqs = calloc(n + 1, sizeof(*b.reqs));
	b.origin = rg_origin(b.o.url);
	b.tls = !strncmp(b.o.url, "https://", 8);
	if (!b.reqs || rg_multi(&b))
		goto out;
	rc = rg_prepare(&b, names, out);
	if (rc)
		goto out;
	/* A failure of the multi handle itself ends the batch; the
	 * packages it did not finish get an error of their own. */
	if (rg_run(&b))
		al_warn("npm", NULL, "registry batch stopped early%s",
			npm_registry_cancel ? " (cancelled)" : "");
	for (size_t i = 0; i < n; i++)
		if (b.reqs[i].state != RG_DONE && !out[i].err)
			rg_fail(&out[i], AL_E_REGISTRY, "%s: request not "
				"completed%s", out[i].name,
				npm_registry_cancel ? " (cancelled)" : "");
	rc = 0;
out:
	for (size_t i = 0; b.reqs && i < n; i++) {
		struct rg_req *r = &b.reqs[i];

		rg_release(&b, r);
		al_buf_free(&r->body);
		al_buf_free(&r->url);
		al_buf_free(&r->key);
		al_buf_free(&r->cached);
		free(r->etag);
		free(r->loc);
	}
	if (b.m)
		curl_multi_cleanup(b.m);
	free(b.origin);
	free(b.reqs);
	if (rc)
		npm_packuments_free(out, n);
	return rc;
}
