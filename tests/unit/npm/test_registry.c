/*
 * test_registry.c - the registry client and the plan, against a real
 * Verdaccio on loopback ($AL_TEST_REGISTRY, started by tests/run through
 * tests/lib/verdaccio.sh) and against a hostile HTTP server run by this
 * test on 127.0.0.1 (a thread per connection), which answers with bad
 * bodies, cut and oversized answers, drips, errors, redirects, a gzip
 * bomb and ETags.
 *
 * Assertions on real packages are about relationships (a version list
 * exists, latest is one of the versions, a new floor is above the old),
 * never about versions that will change.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "base/err.h"
#include "npm/plan.h"
#include "npm/registry.h"
#include "npm/semver.h"

static const char *registry(void)
{
	const char *r = getenv("AL_TEST_REGISTRY");

	if (!r || !*r)
		fail_msg("AL_TEST_REGISTRY is not set: tests/run starts "
			 "Verdaccio (tests/lib/verdaccio.sh) and sets it");
	return r;
}

static void test_real_packages(void **state)
{
	const char *names[] = { "minimist", "chalk", "@types/node",
				"airlock-no-such-package-7f3a9c" };
	struct npm_registry_opts o = { .url = registry() };
	struct npm_packument pk[4];

	assert_int_equal(npm_registry_fetch(&o, names, 4, pk), 0);
	for (int i = 0; i < 3; i++) {
		const char *latest = npm_packument_tag(&pk[i], "latest");
		struct npm_version v;

		if (pk[i].err)
			fail_msg("%s: %s", names[i], pk[i].errmsg);
		assert_string_equal(pk[i].name, names[i]);
		assert_true(pk[i].nversions > 5);
		assert_non_null(latest);
		assert_int_equal(npm_version_parse(latest, 0, &v), 0);
		assert_non_null(npm_packument_version(&pk[i], latest));
	}
	assert_int_equal(pk[3].err, AL_E_NOTFOUND);
	assert_non_null(strstr(pk[3].errmsg, "not found"));
	npm_packuments_free(pk, 4);
}

static void test_bad_names_and_urls(void **state)
{
	const char *names[] = { "../etc/passwd", "a b", "@scope", "@/x",
				"x?y=1", "" };
	struct npm_registry_opts o = { .url = registry() };
	struct npm_registry_opts bad = { .url = "file:///etc/passwd" };
	struct npm_packument pk[6];

	assert_int_equal(npm_registry_fetch(&o, names, 6, pk), 0);
	for (int i = 0; i < 6; i++)
		assert_int_equal(pk[i].err, AL_E_UNSAFE);
	npm_packuments_free(pk, 6);
	assert_int_equal(npm_registry_fetch(&bad, names, 1, pk), AL_E_USAGE);
	assert_true(npm_name_valid("@types/node"));
	assert_true(npm_name_valid("JSONStream"));
	assert_false(npm_name_valid("@types/node/x"));
}

/* ---- a hostile registry on loopback --------------------------------- */

#define H_BIG (2u << 20)   /* over the 1 MiB cap of the hostile batch */
#define H_BOMB (64u << 20) /* what the gzip bomb inflates to */
#define H_LONG (10u << 20) /* a 10 MB string */
#define H_DEPTH 100000
#define H_TOKEN "s3cret-T0ken.value"
#define H_AUTH "Bearer " H_TOKEN

/* Every path the server knows; hits[] counts requests per entry. */
static const char *const h_paths[] = {
	"good", "notjson", "wrongtypes", "badtag", "othername", "truncated",
	"hugecl", "hugenocl", "bomb", "deep", "drip", "ratelimit", "flaky",
	"down", "waitlong", "loop", "offsite", "moved", "moved-here",
	"etag", "spurious304", "timed", "longkey", "longstr",
	"private", "private-moved", "private-here", "private-offsite",
};
#define H_NPATHS (sizeof(h_paths) / sizeof(h_paths[0]))

struct hostile {
	int fd;
	int port;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int conns;          /* connection threads alive */
	bool stopping;
	unsigned hits[H_NPATHS];
	unsigned cond_hits; /* requests that carried If-None-Match: "v1" */
	unsigned auth_hits; /* requests that carried H_AUTH */
	unsigned other_auth; /* requests with any other Authorization */
	char *big;          /* H_BIG spaces */
	char *bomb;         /* gzip of H_BOMB spaces */
	size_t bomblen;
	struct al_buf deep, longkey, longstr;
};

struct h_conn {
	struct hostile *h;
	int fd;
};

static bool h_stopping(struct hostile *h)
{
	bool s;

	pthread_mutex_lock(&h->mu);
	s = h->stopping;
	pthread_mutex_unlock(&h->mu);
	return s;
}

static void h_send(int c, const void *p, size_t n)
{
	const char *b = p;

	while (n > 0) {
		ssize_t k = send(c, b, n, MSG_NOSIGNAL);

		if (k <= 0)
			return;
		b += k;
		n -= (size_t)k;
	}
}

/* The head of an answer; announce < 0 sends no Content-Length. */
static void h_head(int c, const char *status, const char *extra,
		   long announce)
{
	char head[512], cl[64] = "";

	if (announce >= 0)
		snprintf(cl, sizeof(cl), "Content-Length: %ld\r\n", announce);
	snprintf(head, sizeof(head), "HTTP/1.1 %s\r\nContent-Type: "
		 "application/json\r\n%s%sConnection: close\r\n\r\n", status,
		 extra, cl);
	h_send(c, head, strlen(head));
}

static void h_reply(int c, const char *status, const char *extra,
		    const char *body)
{
	h_head(c, status, extra, (long)strlen(body));
	h_send(c, body, strlen(body));
}

/* A well-formed packument named name. */
static void h_doc(int c, const char *name, const char *extra)
{
	char doc[512];

	snprintf(doc, sizeof(doc), "{\"name\":\"%s\","
		 "\"dist-tags\":{\"latest\":\"1.1.0\"},"
		 "\"versions\":{\"1.0.0\":{},\"1.1.0\":"
		 "{\"hasInstallScript\":true}}}", name);
	h_reply(c, "200 OK", extra, doc);
}

/* One byte a second until the client gives up or the test ends. */
static void h_drip(struct hostile *h, int c)
{
	h_head(c, "200 OK", "", 1000);
	for (int i = 0; i < 1000 && !h_stopping(h); i++) {
		if (send(c, " ", 1, MSG_NOSIGNAL) != 1)
			return;
		for (int k = 0; k < 10 && !h_stopping(h); k++)
			usleep(100000);
	}
}

static void h_redirect(int c, const char *status, const char *to)
{
	char loc[300];

	snprintf(loc, sizeof(loc), "Location: %s\r\n", to);
	h_reply(c, status, loc, "{}");
}

static void h_answer(struct hostile *h, int c, const char *name,
		     unsigned n, bool cond, bool authed)
{
	char to[128];

	if (!strncmp(name, "private", 7) && !authed)
		h_reply(c, "401 Unauthorized", "", "{}");
	else if (!strcmp(name, "private"))
		h_doc(c, "private", "");
	else if (!strcmp(name, "private-moved"))
		h_redirect(c, "302 Found", "/private-here");
	else if (!strcmp(name, "private-here"))
		h_doc(c, "private-moved", "");
	else if (!strcmp(name, "private-offsite")) {
		snprintf(to, sizeof(to), "http://127.0.0.2:%d/private",
			 h->port);
		h_redirect(c, "302 Found", to);
	} else if (!strcmp(name, "good"))
		h_doc(c, "good", "");
	else if (!strcmp(name, "notjson"))
		h_reply(c, "200 OK", "", "<html>hello</html>");
	else if (!strcmp(name, "wrongtypes"))
		h_reply(c, "200 OK", "", "{\"name\":\"wrongtypes\","
			"\"versions\":[1,2,3]}");
	else if (!strcmp(name, "badtag"))
		h_reply(c, "200 OK", "", "{\"name\":\"badtag\",\"versions\":"
			"{\"1.0.0\":{}},\"dist-tags\":{\"latest\":7}}");
	else if (!strcmp(name, "othername"))
		h_reply(c, "200 OK", "", "{\"name\":\"minimist\","
			"\"versions\":{}}");
	else if (!strcmp(name, "truncated")) {
		/* Promises more bytes than it sends, then closes. */
		const char *b = "{\"name\":\"truncated\",\"versions\":{";

		h_head(c, "200 OK", "", (long)strlen(b) + 100);
		h_send(c, b, strlen(b));
	} else if (!strcmp(name, "hugecl")) {
		h_head(c, "200 OK", "", H_BIG);
		h_send(c, h->big, H_BIG);
	} else if (!strcmp(name, "hugenocl")) {
		h_head(c, "200 OK", "", -1);
		h_send(c, h->big, H_BIG);
	} else if (!strcmp(name, "bomb")) {
		h_head(c, "200 OK", "Content-Encoding: gzip\r\n",
		       (long)h->bomblen);
		h_send(c, h->bomb, h->bomblen);
	} else if (!strcmp(name, "deep"))
		h_reply(c, "200 OK", "", h->deep.p);
	else if (!strcmp(name, "drip"))
		h_drip(h, c);
	else if (!strcmp(name, "ratelimit") && n == 1)
		h_reply(c, "429 Too Many Requests", "Retry-After: 1\r\n", "{}");
	else if (!strcmp(name, "ratelimit"))
		h_doc(c, "ratelimit", "");
	else if (!strcmp(name, "flaky") && n <= 2)
		h_reply(c, "500 Internal Server Error", "", "{}");
	else if (!strcmp(name, "flaky"))
		h_doc(c, "flaky", "");
	else if (!strcmp(name, "down"))
		h_reply(c, "503 Service Unavailable", "", "{}");
	else if (!strcmp(name, "waitlong"))
		h_reply(c, "429 Too Many Requests", "Retry-After: 3600\r\n",
			"{}");
	else if (!strcmp(name, "loop"))
		h_redirect(c, "302 Found", "/loop");
	else if (!strcmp(name, "offsite")) {
		snprintf(to, sizeof(to), "http://127.0.0.2:%d/good", h->port);
		h_redirect(c, "302 Found", to);
	} else if (!strcmp(name, "moved"))
		h_redirect(c, "301 Moved Permanently", "/moved-here");
	else if (!strcmp(name, "moved-here"))
		h_doc(c, "moved", "");
	else if (!strcmp(name, "etag") && cond)
		h_reply(c, "304 Not Modified", "ETag: \"v1\"\r\n", "");
	else if (!strcmp(name, "etag"))
		h_doc(c, "etag", "ETag: \"v1\"\r\n");
	else if (!strcmp(name, "spurious304"))
		h_reply(c, "304 Not Modified", "ETag: \"v1\"\r\n", "");
	else if (!strcmp(name, "timed"))
		h_reply(c, "200 OK", "", "{\"name\":\"timed\",\"versions\":{"
			"\"1.0.0\":{},\"1.1.0\":{},\"2.0.0\":{},\"3.0.0\":{}},"
			"\"time\":{\"1.0.0\":\"2013-06-25T22:37:04.917Z\","
			"\"1.1.0\":\"2024-12-13T00:17:32.373000+00:00\","
			"\"2.0.0\":\"2020-01-01T03:30:00.5+02:30\","
			"\"3.0.0\":\"yesterday\"}}");
	else if (!strcmp(name, "longkey"))
		h_reply(c, "200 OK", "", h->longkey.p);
	else if (!strcmp(name, "longstr"))
		h_reply(c, "200 OK", "", h->longstr.p);
	else
		h_reply(c, "404 Not Found", "", "{}");
}

static void h_serve(struct hostile *h, int c)
{
	char req[8192], path[512] = "";
	size_t len = 0;
	unsigned n = 0;
	bool cond, authed;

	/* Read the request head (no request here has a body). */
	while (len < sizeof(req) - 1) {
		ssize_t k = recv(c, req + len, sizeof(req) - 1 - len, 0);

		if (k <= 0)
			return;
		len += (size_t)k;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	if (sscanf(req, "GET /%511s", path) != 1)
		return;
	cond = strstr(req, "\r\nIf-None-Match: \"v1\"\r\n") != NULL;
	authed = strstr(req, "\r\nAuthorization: " H_AUTH "\r\n") != NULL;
	pthread_mutex_lock(&h->mu);
	if (authed)
		h->auth_hits++;
	else if (strcasestr(req, "\r\nAuthorization:"))
		h->other_auth++;
	for (size_t i = 0; i < H_NPATHS; i++)
		if (!strcmp(path, h_paths[i]))
			n = ++h->hits[i];
	if (cond)
		h->cond_hits++;
	pthread_mutex_unlock(&h->mu);
	h_answer(h, c, path, n, cond, authed);
}

static void *h_conn_main(void *arg)
{
	struct h_conn *hc = arg;
	struct hostile *h = hc->h;

	h_serve(h, hc->fd);
	close(hc->fd);
	free(hc);
	pthread_mutex_lock(&h->mu);
	h->conns--;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

/* One thread per connection, so a slow answer holds up no other. */
static void *h_main(void *arg)
{
	struct hostile *h = arg;
	pthread_attr_t at;

	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	for (;;) {
		struct h_conn *hc;
		pthread_t t;
		int c = accept(h->fd, NULL, NULL);

		if (c < 0)
			break;
		hc = malloc(sizeof(*hc));
		if (!hc) {
			close(c);
			continue;
		}
		hc->h = h;
		hc->fd = c;
		pthread_mutex_lock(&h->mu);
		h->conns++;
		pthread_mutex_unlock(&h->mu);
		if (pthread_create(&t, &at, h_conn_main, hc)) {
			close(c);
			free(hc);
			pthread_mutex_lock(&h->mu);
			h->conns--;
			pthread_mutex_unlock(&h->mu);
		}
	}
	pthread_attr_destroy(&at);
	return NULL;
}

/* H_BOMB spaces, gzip-compressed (about a thousand to one). */
static void h_make_bomb(struct hostile *h)
{
	size_t cap = 1u << 20;
	z_stream z = { 0 };
	int zr = Z_OK;

	h->bomb = malloc(cap);
	assert_non_null(h->bomb);
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9,
				      Z_DEFAULT_STRATEGY), Z_OK);
	z.next_out = (Bytef *)h->bomb;
	z.avail_out = (uInt)cap;
	for (unsigned i = 0; i < H_BOMB / H_BIG; i++) {
		z.next_in = (Bytef *)h->big;
		z.avail_in = H_BIG;
		assert_int_equal(deflate(&z, Z_NO_FLUSH), Z_OK);
	}
	while (zr == Z_OK)
		zr = deflate(&z, Z_FINISH);
	assert_int_equal(zr, Z_STREAM_END);
	h->bomblen = cap - z.avail_out;
	deflateEnd(&z);
}

static void h_fill(struct al_buf *b, const char *pre, char c, size_t n,
		   const char *post)
{
	assert_int_equal(al_buf_puts(b, pre), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(al_buf_append(b, &c, 1), 0);
	assert_int_equal(al_buf_puts(b, post), 0);
}

static void h_bodies(struct hostile *h)
{
	h->big = malloc(H_BIG);
	assert_non_null(h->big);
	memset(h->big, ' ', H_BIG);
	h_make_bomb(h);
	h_fill(&h->deep, "{\"name\":\"deep\",\"versions\":{\"1.0.0\":", '[',
	       H_DEPTH, "");
	h_fill(&h->deep, "", ']', H_DEPTH, "}}");
	h_fill(&h->longkey, "{\"name\":\"longkey\",\"versions\":{\"", 'a',
	       H_LONG, "\":{}}}");
	h_fill(&h->longstr, "{\"name\":\"longstr\",\"dist-tags\":{\"latest\":"
	       "\"1.0.0\"},\"versions\":{\"1.0.0\":{}},\"readme\":\"", 'a',
	       H_LONG, "\"}");
}

static void hostile_start(struct hostile *h)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);

	memset(h, 0, sizeof(*h));
	h_bodies(h);
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(h->fd >= 0);
	assert_int_equal(bind(h->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(h->fd, 64), 0);
	assert_int_equal(getsockname(h->fd, (struct sockaddr *)&a, &al), 0);
	h->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&h->th, NULL, h_main, h), 0);
}

static void hostile_stop(struct hostile *h)
{
	/* shutdown wakes the blocked accept(); then the thread ends, and
	 * the connection threads end once they see stopping. */
	shutdown(h->fd, SHUT_RDWR);
	close(h->fd);
	pthread_join(h->th, NULL);
	pthread_mutex_lock(&h->mu);
	h->stopping = true;
	while (h->conns > 0)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h->big);
	free(h->bomb);
	al_buf_free(&h->deep);
	al_buf_free(&h->longkey);
	al_buf_free(&h->longstr);
}

static unsigned h_hits(struct hostile *h, const char *name)
{
	for (size_t i = 0; i < H_NPATHS; i++)
		if (!strcmp(h_paths[i], name))
			return h->hits[i];
	return 0;
}

static struct hostile *h_cur; /* stopped by teardown, even on failure */

static int h_setup(void **state)
{
	h_cur = calloc(1, sizeof(*h_cur));
	if (!h_cur)
		return -1;
	hostile_start(h_cur);
	*state = h_cur;
	return 0;
}

static int h_teardown(void **state)
{
	npm_registry_cancel = 0;
	hostile_stop(h_cur);
	free(h_cur);
	h_cur = NULL;
	return 0;
}

static void h_url(struct hostile *h, char *url, size_t sz)
{
	snprintf(url, sz, "http://127.0.0.1:%d", h->port);
}

struct want {
	const char *name;
	int err;
	const char *cause; /* a part of errmsg, after "name: " */
};

/* Each package's error is its own: code, its name first, the cause. */
static void check_wants(const struct want *w, size_t n,
			const struct npm_packument *pk)
{
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen(w[i].name);

		if (pk[i].err != w[i].err)
			fail_msg("%s: err %d (%s), want %d", w[i].name,
				 pk[i].err, pk[i].errmsg, w[i].err);
		if (!w[i].err)
			continue;
		if (strncmp(pk[i].errmsg, w[i].name, nl) ||
		    pk[i].errmsg[nl] != ':' ||
		    !strstr(pk[i].errmsg + nl, w[i].cause))
			fail_msg("%s: message '%s' does not give '%s'",
				 w[i].name, pk[i].errmsg, w[i].cause);
	}
}

static void check_good(const struct npm_packument *p, const char *name)
{
	if (p->err)
		fail_msg("%s: %s", name, p->errmsg);
	assert_string_equal(p->name, name);
	assert_int_equal(p->nversions, 2);
	assert_string_equal(npm_packument_tag(p, "latest"), "1.1.0");
	assert_true(npm_packument_version(p, "1.1.0")->has_install_scripts);
	assert_false(npm_packument_version(p, "1.0.0")->has_install_scripts);
}

static void test_hostile_registry(void **state)
{
	static const struct want w[] = {
		{ "notjson", AL_E_PARSE, "not JSON" },
		{ "wrongtypes", AL_E_PARSE, "not a packument" },
		{ "badtag", AL_E_PARSE, "dist-tag" },
		{ "othername", AL_E_PARSE, "another package" },
		{ "truncated", AL_E_UNAVAILABLE, "cut short" },
		{ "hugecl", AL_E_LIMIT, "larger than 1048576 bytes" },
		{ "hugenocl", AL_E_LIMIT, "larger than 1048576 bytes" },
		{ "bomb", AL_E_LIMIT, "larger than 1048576 bytes" },
		{ "deep", AL_E_PARSE, "not JSON" },
		{ "drip", AL_E_UNAVAILABLE, "timed out: Operation timed out" },
		{ "ratelimit", 0, NULL },
		{ "flaky", 0, NULL },
		{ "down", AL_E_UNAVAILABLE, "HTTP status 503 after 4 attempts" },
		{ "waitlong", AL_E_UNAVAILABLE, "retry after 3600 s" },
		{ "loop", AL_E_REGISTRY, "more than 5 redirects" },
		{ "offsite", AL_E_REGISTRY, "another origin refused" },
		{ "moved", 0, NULL },
		{ "spurious304", AL_E_REGISTRY, "HTTP status 304" },
		{ "good", 0, NULL },
		{ "missing", AL_E_NOTFOUND, "not found" },
	};
	enum { N = sizeof(w) / sizeof(w[0]) };
	struct hostile *h = *state;
	const char *names[N];
	struct npm_packument pk[N];
	char url[64];
	struct npm_registry_opts o = {
		.url = url, .timeout_ms = 3000, .max_bytes = 1u << 20,
		.concurrency = 4, .backoff_ms = 50, .retry_after_max_ms = 5000,
	};

	for (int i = 0; i < N; i++)
		names[i] = w[i].name;
	h_url(h, url, sizeof(url));
	assert_int_equal(npm_registry_fetch(&o, names, N, pk), 0);
	check_wants(w, N, pk);
	check_good(&pk[10], "ratelimit");
	check_good(&pk[11], "flaky");
	check_good(&pk[16], "moved");
	check_good(&pk[18], "good");

	/* Retried: network failures, 429 and 5xx; nothing else. */
	assert_int_equal(pk[4].attempts, 4);
	assert_int_equal(h_hits(h, "truncated"), 4);
	assert_int_equal(pk[10].attempts, 2);
	assert_int_equal(pk[11].attempts, 3);
	assert_int_equal(h_hits(h, "flaky"), 3);
	assert_int_equal(h_hits(h, "down"), 4);
	assert_int_equal(h_hits(h, "waitlong"), 1);
	assert_int_equal(h_hits(h, "hugecl"), 1);
	assert_int_equal(h_hits(h, "bomb"), 1);
	assert_int_equal(h_hits(h, "notjson"), 1);
	assert_int_equal(pk[19].attempts, 1);
	/* The redirect loop was followed 5 times, never off the origin. */
	assert_int_equal(h_hits(h, "loop"), 1 + 5);
	assert_int_equal(h_hits(h, "moved-here"), 1);
	assert_int_equal(h_hits(h, "good"), 1);
	npm_packuments_free(pk, N);
}

/*
 * registry_token_file: the token goes with every request to the origin,
 * a same-origin redirect included; a redirect to another origin is not
 * followed; without a token (or with a wrong one) the error says so.
 */
static void test_token(void **state)
{
	static const struct want w[] = {
		{ "private", 0, NULL },
		{ "private-moved", 0, NULL },
		{ "private-offsite", AL_E_REGISTRY, "another origin refused" },
		{ "good", 0, NULL },
	};
	static const struct want anon[] = {
		{ "private", AL_E_REGISTRY, "HTTP status 401: the registry "
			"refused access without a token (registry_token_file" },
	};
	static const struct want wrong[] = {
		{ "private", AL_E_REGISTRY, "HTTP status 401: the registry "
			"refused the token of registry_token_file" },
	};
	struct hostile *h = *state;
	const char *names[] = { "private", "private-moved", "private-offsite",
				"good" };
	struct npm_packument pk[4];
	char url[64];
	struct npm_registry_opts o = { .url = url, .auth = H_AUTH,
				       .max_attempts = 1 };

	h_url(h, url, sizeof(url));
	assert_int_equal(npm_registry_fetch(&o, names, 4, pk), 0);
	check_wants(w, 4, pk);
	npm_packuments_free(pk, 4);
	/* private, private-moved and its target, private-offsite, good */
	assert_int_equal(h->auth_hits, 5);
	assert_int_equal(h->other_auth, 0);

	o.auth = NULL;
	assert_int_equal(npm_registry_fetch(&o, names, 1, pk), 0);
	check_wants(anon, 1, pk);
	npm_packuments_free(pk, 1);
	o.auth = "Bearer wrong";
	assert_int_equal(npm_registry_fetch(&o, names, 1, pk), 0);
	check_wants(wrong, 1, pk);
	npm_packuments_free(pk, 1);
	assert_int_equal(h->auth_hits, 5);
	assert_int_equal(h->other_auth, 1);

	/* A value that would end the header early is refused unsent. */
	o.auth = "Bearer x\r\nX-Evil: 1";
	assert_int_equal(npm_registry_fetch(&o, names, 1, pk), AL_E_USAGE);
}

/* A drip under the stall limit fails long before the total timeout. */
static void test_hostile_stall(void **state)
{
	static const struct want w[] = {
		{ "drip", AL_E_UNAVAILABLE, "timed out: Operation too slow" },
		{ "good", 0, NULL },
	};
	const char *names[] = { "drip", "good" };
	struct npm_packument pk[2];
	char url[64];
	struct npm_registry_opts o = { .url = url, .timeout_ms = 600000,
				       .stall_s = 2 };

	h_url(*state, url, sizeof(url));
	assert_int_equal(npm_registry_fetch(&o, names, 2, pk), 0);
	check_wants(w, 2, pk);
	check_good(&pk[1], "good");
	assert_int_equal(pk[0].attempts, 1);
	npm_packuments_free(pk, 2);
}

/* Under a 16 MiB cap: a 10 MB version key is refused, a 10 MB readme
 * is no trouble. */
static void test_hostile_big_fields(void **state)
{
	static const struct want w[] = {
		{ "longkey", AL_E_LIMIT, "version key is longer than 256" },
		{ "longstr", 0, NULL },
		{ "timed", 0, NULL },
	};
	const char *names[] = { "longkey", "longstr", "timed" };
	struct npm_packument pk[3];
	char url[64];
	struct npm_registry_opts o = { .url = url, .max_bytes = 16u << 20,
				       .need_release_times = true };
	const struct npm_pkg_version *v;

	h_url(*state, url, sizeof(url));
	assert_int_equal(npm_registry_fetch(&o, names, 3, pk), 0);
	check_wants(w, 3, pk);
	assert_int_equal(pk[1].nversions, 1);
	/* Release times: with Z, with an offset, and one that is no time. */
	v = npm_packument_version(&pk[2], "1.0.0");
	assert_int_equal(v->published_ms, 1372199824917LL);
	v = npm_packument_version(&pk[2], "1.1.0");
	assert_int_equal(v->published_ms, 1734049052373LL);
	v = npm_packument_version(&pk[2], "2.0.0");
	assert_int_equal(v->published_ms, 1577840400500LL);
	v = npm_packument_version(&pk[2], "3.0.0");
	assert_int_equal(v->published_ms, 0);
	npm_packuments_free(pk, 3);
}

/* Who published each version, from a full document: names only, sorted
 * and unique, bounded; odd shapes give nothing rather than an error. */
static void test_people_fields(void **state)
{
	static char long_list[8192];
	struct npm_packument p = { 0 };
	const struct npm_pkg_version *v;
	size_t off = 0;
	const char doc[] =
		"{\"name\":\"pp\",\"versions\":{"
		"\"1.0.0\":{\"_npmUser\":{\"name\":\"alice\",\"email\":\"a@x\"},"
		"\"maintainers\":[{\"name\":\"zed\"},{\"name\":\"alice\"},"
		"\"bob\",{\"name\":\"alice\"},{\"email\":\"only@x\"},7]},"
		"\"1.1.0\":{\"_npmUser\":\"mallory\",\"maintainers\":{}},"
		"\"1.2.0\":{\"_npmUser\":{\"name\":5},\"maintainers\":[]}}}";

	p.name = strdup("pp");
	npm_packument_parse(&p, doc, sizeof(doc) - 1);
	assert_int_equal(p.err, 0);
	v = npm_packument_version(&p, "1.0.0");
	assert_string_equal(v->publisher, "alice");
	assert_string_equal(v->maintainers, "alice, bob, zed");
	v = npm_packument_version(&p, "1.1.0");
	assert_string_equal(v->publisher, "mallory");
	assert_null(v->maintainers);
	v = npm_packument_version(&p, "1.2.0");
	assert_null(v->publisher);
	assert_null(v->maintainers);
	npm_packument_free(&p);

	/* 300 maintainers: the list stops at a name's end, under the cap. */
	off = (size_t)snprintf(long_list, sizeof(long_list),
			       "{\"name\":\"pp\",\"versions\":{\"1.0.0\":{"
			       "\"maintainers\":[");
	for (int i = 0; i < 300; i++)
		off += (size_t)snprintf(long_list + off, sizeof(long_list) - off,
					"%s{\"name\":\"m%03d\"}", i ? "," : "",
					i);
	snprintf(long_list + off, sizeof(long_list) - off, "]}}}");
	p.name = strdup("pp");
	npm_packument_parse(&p, long_list, strlen(long_list));
	assert_int_equal(p.err, 0);
	v = npm_packument_version(&p, "1.0.0");
	assert_true(strlen(v->maintainers) < NPM_REGISTRY_MAX_PEOPLE);
	assert_int_equal(strncmp(v->maintainers, "m000, m001", 10), 0);
	assert_non_null(strstr(v->maintainers, ", ..."));
	npm_packument_free(&p);
}

static void *cancel_later(void *arg)
{
	usleep(300000);
	npm_registry_cancel = 1;
	return NULL;
}

/*
 * Cancelling ends a transfer in flight and a retry waiting for its time
 * alike: without it, this batch would run for minutes (ctest's timeout
 * would fail it).
 */
static void test_hostile_cancel(void **state)
{
	const char *names[] = { "drip", "down", "good" };
	struct npm_packument pk[3];
	char url[64];
	pthread_t t;
	struct npm_registry_opts o = { .url = url, .timeout_ms = 600000,
				       .stall_s = 600, .backoff_ms = 600000 };

	h_url(*state, url, sizeof(url));
	assert_int_equal(pthread_create(&t, NULL, cancel_later, NULL), 0);
	assert_int_equal(npm_registry_fetch(&o, names, 3, pk), 0);
	pthread_join(t, NULL);
	npm_registry_cancel = 0;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pk[i].err, AL_E_REGISTRY);
		assert_non_null(strstr(pk[i].errmsg, "(cancelled)"));
	}
	check_good(&pk[2], "good");
	npm_packuments_free(pk, 3);
}

/* ---- ETag revalidation ---------------------------------------------- */

/* A cache in memory, standing in for the job's LMDB one. */
struct memcache {
	char *key[8];
	char *etag[8];
	struct al_buf body[8];
	int n;
	int gets, puts;
};

static int mc_find(struct memcache *mc, const char *key)
{
	for (int i = 0; i < mc->n; i++)
		if (!strcmp(mc->key[i], key))
			return i;
	return -1;
}

static int mc_get(void *ctx, const char *key, char **etag,
		  struct al_buf *body)
{
	struct memcache *mc = ctx;
	int i = mc_find(mc, key);

	mc->gets++;
	if (i < 0)
		return AL_E_NOTFOUND;
	*etag = strdup(mc->etag[i]);
	return al_buf_append(body, mc->body[i].p, mc->body[i].len);
}

static int mc_put(void *ctx, const char *key, const char *etag,
		  const char *body, size_t len)
{
	struct memcache *mc = ctx;
	int i = mc_find(mc, key);

	mc->puts++;
	if (i < 0) {
		assert_true(mc->n < 8);
		i = mc->n++;
		mc->key[i] = strdup(key);
	}
	free(mc->etag[i]);
	mc->etag[i] = strdup(etag);
	mc->body[i].len = 0;
	return al_buf_append(&mc->body[i], body, len);
}

static void mc_free(struct memcache *mc)
{
	for (int i = 0; i < mc->n; i++) {
		free(mc->key[i]);
		free(mc->etag[i]);
		al_buf_free(&mc->body[i]);
	}
}

static void test_etag_revalidation(void **state)
{
	struct hostile *h = *state;
	const char *names[] = { "etag", "good" };
	struct memcache mc = { 0 };
	struct npm_registry_cache c = { &mc, mc_get, mc_put };
	struct npm_packument pk[2];
	char url[64], key[128];
	struct npm_registry_opts o = { .url = url, .cache = &c };

	h_url(h, url, sizeof(url));
	assert_int_equal(npm_registry_fetch(&o, names, 2, pk), 0);
	check_good(&pk[0], "etag");
	assert_false(pk[0].from_cache);
	/* Only answers with an ETag are kept; the key names the kind. */
	assert_int_equal(mc.n, 1);
	snprintf(key, sizeof(key), "abbreviated %s/etag", url);
	assert_string_equal(mc.key[0], key);
	assert_string_equal(mc.etag[0], "\"v1\"");
	npm_packuments_free(pk, 2);

	/* Again: the server answers 304 and the cached copy is used. */
	assert_int_equal(npm_registry_fetch(&o, names, 2, pk), 0);
	check_good(&pk[0], "etag");
	check_good(&pk[1], "good");
	assert_true(pk[0].from_cache);
	assert_int_equal(pk[0].http_status, 304);
	assert_int_equal(h->cond_hits, 1);
	npm_packuments_free(pk, 2);

	/* A cached ETag that would inject a header is never sent. */
	free(mc.etag[0]);
	mc.etag[0] = strdup("\"v1\"\r\nX-Injected: 1");
	assert_int_equal(npm_registry_fetch(&o, names, 1, pk), 0);
	check_good(&pk[0], "etag");
	assert_false(pk[0].from_cache);
	assert_int_equal(h->cond_hits, 1);
	npm_packuments_free(pk, 1);

	/* A cached copy that no longer parses is dropped and fetched anew,
	 * and the fresh answer replaces it. */
	free(mc.etag[0]);
	mc.etag[0] = strdup("\"v1\"");
	mc.body[0].len = 0;
	assert_int_equal(al_buf_puts(&mc.body[0], "{\"broken"), 0);
	assert_int_equal(npm_registry_fetch(&o, names, 1, pk), 0);
	check_good(&pk[0], "etag");
	assert_false(pk[0].from_cache);
	assert_int_equal(pk[0].http_status, 200);
	assert_int_equal(h->cond_hits, 2);
	assert_true(mc.body[0].len > 20);
	assert_memory_equal(mc.body[0].p, "{\"name\":\"etag\"", 14);
	npm_packuments_free(pk, 1);
	mc_free(&mc);
}

/* Verdaccio sends ETags and answers If-None-Match with 304. */
static void test_etag_verdaccio(void **state)
{
	const char *names[] = { "minimist" };
	struct memcache mc = { 0 };
	struct npm_registry_cache c = { &mc, mc_get, mc_put };
	struct npm_packument pk[1], again[1];
	struct npm_registry_opts o = { .url = registry(), .cache = &c,
				       .need_release_times = true };
	const struct npm_pkg_version *v;

	assert_int_equal(npm_registry_fetch(&o, names, 1, pk), 0);
	if (pk[0].err)
		fail_msg("minimist: %s", pk[0].errmsg);
	assert_false(pk[0].from_cache);
	assert_int_equal(mc.puts, 1);
	assert_non_null(strstr(mc.key[0], "full "));
	/* The full document carries release times. */
	v = npm_packument_version(pk, npm_packument_tag(pk, "latest"));
	assert_non_null(v);
	assert_true(v->published_ms > 0);

	assert_int_equal(npm_registry_fetch(&o, names, 1, again), 0);
	if (again[0].err)
		fail_msg("minimist: %s", again[0].errmsg);
	assert_true(again[0].from_cache);
	assert_int_equal(again[0].nversions, pk[0].nversions);
	assert_int_equal(mc.puts, 1);
	npm_packuments_free(pk, 1);
	npm_packuments_free(again, 1);
	mc_free(&mc);
}

/* ---- the plan against Verdaccio ------------------------------------- */

static const char *find_update(const struct npm_plan *p, const char *name)
{
	for (size_t i = 0; i < p->nupdates; i++)
		if (!strcmp(p->updates[i].name, name))
			return p->updates[i].to;
	return NULL;
}

static const char *find_skip(const struct npm_plan *p, const char *name)
{
	for (size_t i = 0; i < p->nskips; i++)
		if (!strcmp(p->skips[i].name, name))
			return p->skips[i].reason;
	return NULL;
}

static void test_plan_project(void **state)
{
	struct npm_registry_opts ro = { .url = registry() };
	const char *manifest =
		"{\r\n  \"name\": \"demo\",\r\n  \"dependencies\": {\r\n"
		"    \"minimist\": \"^1.2.0\",\r\n"
		"    \"chalk\": \"^4.0.0\",\r\n"
		"    \"left\": \"1.x || 2.x\",\r\n"
		"    \"gitdep\": \"github:user/repo\",\r\n"
		"    \"airlock-no-such-package-7f3a9c\": \"^1.0.0\"\r\n"
		"  },\r\n  \"devDependencies\": {\r\n"
		"    \"@types/node\": \"~18.0.0\"\r\n  }\r\n}";
	struct al_buf out = { 0 };
	struct npm_plan plan;
	struct npm_manifest m;
	struct npm_version old, nv;
	char err[256];
	const char *to;
	json_t *j;

	assert_int_equal(npm_plan_project(&ro, manifest,
					  strlen(manifest), NPM_POLICY_MINOR,
					  &plan, &out, err, sizeof(err)), 0);

	/* chalk ^4.0.0 under policy minor stays on major 4, and moves up. */
	to = find_update(&plan, "chalk");
	assert_non_null(to);
	assert_int_equal(to[0], '^');
	assert_int_equal(npm_version_parse(to + 1, 0, &nv), 0);
	npm_version_parse("4.0.0", 0, &old);
	assert_int_equal(nv.major, 4);
	assert_true(npm_version_cmp(&nv, &old) > 0);
	/* @types/node ~18.0.0: minor policy keeps 18. */
	to = find_update(&plan, "@types/node");
	assert_non_null(to);
	assert_int_equal(to[0], '~');
	assert_int_equal(npm_version_parse(to + 1, 0, &nv), 0);
	assert_int_equal(nv.major, 18);

	assert_non_null(find_skip(&plan, "left"));
	assert_non_null(strstr(find_skip(&plan, "gitdep"), "git"));
	assert_non_null(strstr(find_skip(&plan,
					 "airlock-no-such-package-7f3a9c"),
			       "not found"));

	/* The rewrite keeps CRLF and changes only the specs. */
	assert_true(out.len > 0);
	assert_int_equal(npm_manifest_parse(out.p, out.len, &m, err,
					    sizeof(err)), 0);
	assert_string_equal(m.deps[1].spec, find_update(&plan, "chalk"));
	assert_string_equal(m.deps[2].spec, "1.x || 2.x");
	assert_non_null(strstr(out.p, "\"demo\",\r\n"));
	npm_manifest_free(&m);

	j = npm_plan_json(&plan);
	assert_non_null(j);
	assert_true(json_array_size(json_object_get(j, "updates")) >= 2);
	assert_int_equal(json_array_size(json_object_get(j, "skipped")), 3);
	json_decref(j);
	npm_plan_free(&plan);
	al_buf_free(&out);
}

static void test_plan_project_errors(void **state)
{
	struct npm_registry_opts ro = { .url = registry() };
	const char *bad = "{\"dependencies\":{\"a\":1}}";
	const char *none = "{\"dependencies\":{\"g\":\"github:a/b\"}}";
	struct al_buf out = { 0 };
	struct npm_plan plan;
	char err[256] = "";

	assert_int_equal(npm_plan_project(&ro, bad, strlen(bad),
					  NPM_POLICY_MAJOR, &plan, &out, err,
					  sizeof(err)), AL_E_PARSE);
	assert_true(strlen(err) > 0);
	assert_int_equal(out.len, 0);
	assert_int_equal(npm_plan_project(&ro, none, strlen(none),
					  NPM_POLICY_MAJOR, &plan, &out, err,
					  sizeof(err)), 0);
	assert_int_equal(plan.nupdates, 0);
	assert_int_equal(plan.nskips, 1);
	assert_null(out.p);
	npm_plan_free(&plan);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_packages),
		cmocka_unit_test(test_bad_names_and_urls),
		cmocka_unit_test(test_people_fields),
		cmocka_unit_test_setup_teardown(test_hostile_registry,
						h_setup, h_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_stall,
						h_setup, h_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_big_fields,
						h_setup, h_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_cancel,
						h_setup, h_teardown),
		cmocka_unit_test_setup_teardown(test_etag_revalidation,
						h_setup, h_teardown),
		cmocka_unit_test_setup_teardown(test_token, h_setup,
						h_teardown),
		cmocka_unit_test(test_etag_verdaccio),
		cmocka_unit_test(test_plan_project),
		cmocka_unit_test(test_plan_project_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
