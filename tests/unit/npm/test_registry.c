/*
 * test_registry.c - the registry client and the plan, against a real
 * Verdaccio on loopback ($AL_TEST_REGISTRY, started by tests/run through
 * tests/lib/verdaccio.sh) and against a hostile HTTP server run by this
 * test on 127.0.0.1, which answers with fixed bad bodies.
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
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

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

struct hostile {
	int fd;
	int port;
	pthread_t th;
};

static const char *hostile_body(const char *path, char *big, size_t bigsz,
				int *truncate)
{
	*truncate = 0;
	if (strstr(path, "/notjson"))
		return "<html>hello</html>";
	if (strstr(path, "/wrongtypes"))
		return "{\"name\":\"wrongtypes\",\"versions\":[1,2,3]}";
	if (strstr(path, "/badtag"))
		return "{\"name\":\"badtag\",\"versions\":{\"1.0.0\":{}},"
		       "\"dist-tags\":{\"latest\":7}}";
	if (strstr(path, "/othername"))
		return "{\"name\":\"minimist\",\"versions\":{}}";
	if (strstr(path, "/truncated")) {
		*truncate = 1;
		return "{\"name\":\"truncated\",\"versions\":{\"1.0.0\":{";
	}
	if (strstr(path, "/huge")) {
		memset(big, ' ', bigsz - 1);
		big[bigsz - 1] = '\0';
		return big;
	}
	if (strstr(path, "/good"))
		return "{\"name\":\"good\","
		       "\"dist-tags\":{\"latest\":\"1.1.0\"},"
		       "\"versions\":{\"1.0.0\":{},\"1.1.0\":"
		       "{\"hasInstallScript\":true}}}";
	return NULL;
}

static void hostile_serve(int c, char *big, size_t bigsz)
{
	char req[2048], head[256], path[512] = "";
	const char *body;
	ssize_t n = recv(c, req, sizeof(req) - 1, 0);
	size_t len;
	int trunc;

	if (n <= 0)
		return;
	req[n] = '\0';
	sscanf(req, "GET %511s", path);
	body = hostile_body(path, big, bigsz, &trunc);
	if (!body) {
		const char *nf = "HTTP/1.1 404 Not Found\r\nContent-Length: 2"
				 "\r\nConnection: close\r\n\r\n{}";
		send(c, nf, strlen(nf), MSG_NOSIGNAL);
		return;
	}
	len = strlen(body);
	/* A truncated answer promises more bytes than it sends. */
	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: "
		 "application/json\r\nContent-Length: %zu\r\n"
		 "Connection: close\r\n\r\n", trunc ? len + 100 : len);
	send(c, head, strlen(head), MSG_NOSIGNAL);
	send(c, body, len, MSG_NOSIGNAL);
}

static void *hostile_main(void *arg)
{
	struct hostile *h = arg;
	size_t bigsz = 3u << 20;
	char *big = malloc(bigsz);

	for (;;) {
		int c = accept(h->fd, NULL, NULL);

		if (c < 0)
			break;
		if (big)
			hostile_serve(c, big, bigsz);
		close(c);
	}
	free(big);
	return NULL;
}

static void hostile_start(struct hostile *h)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(h->fd >= 0);
	assert_int_equal(bind(h->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(h->fd, 16), 0);
	assert_int_equal(getsockname(h->fd, (struct sockaddr *)&a, &al), 0);
	h->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&h->th, NULL, hostile_main, h), 0);
}

static void hostile_stop(struct hostile *h)
{
	/* shutdown wakes the blocked accept(); then the thread ends. */
	shutdown(h->fd, SHUT_RDWR);
	close(h->fd);
	pthread_join(h->th, NULL);
}

static void test_hostile_registry(void **state)
{
	const char *names[] = { "notjson", "wrongtypes", "badtag", "othername",
				"truncated", "huge", "good", "missing" };
	const int want[] = { AL_E_PARSE, AL_E_PARSE, AL_E_PARSE, AL_E_PARSE,
			     AL_E_REGISTRY, AL_E_LIMIT, 0, AL_E_NOTFOUND };
	struct npm_packument pk[8];
	struct hostile h;
	char url[64];
	struct npm_registry_opts o = { .url = url, .timeout_ms = 5000,
				       .max_bytes = 1u << 20,
				       .concurrency = 3 };

	hostile_start(&h);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", h.port);
	assert_int_equal(npm_registry_fetch(&o, names, 8, pk), 0);
	hostile_stop(&h);
	for (int i = 0; i < 8; i++) {
		if (pk[i].err != want[i])
			fail_msg("%s: err %d (%s), want %d", names[i],
				 pk[i].err, pk[i].errmsg, want[i]);
		if (want[i])
			assert_true(strlen(pk[i].errmsg) > 0);
	}
	assert_int_equal(pk[6].nversions, 2);
	assert_string_equal(npm_packument_tag(&pk[6], "latest"), "1.1.0");
	assert_true(npm_packument_version(&pk[6], "1.1.0")
			    ->has_install_scripts);
	npm_packuments_free(pk, 8);
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

	assert_int_equal(npm_plan_project(registry(), manifest,
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
	const char *bad = "{\"dependencies\":{\"a\":1}}";
	const char *none = "{\"dependencies\":{\"g\":\"github:a/b\"}}";
	struct al_buf out = { 0 };
	struct npm_plan plan;
	char err[256] = "";

	assert_int_equal(npm_plan_project(registry(), bad, strlen(bad),
					  NPM_POLICY_MAJOR, &plan, &out, err,
					  sizeof(err)), AL_E_PARSE);
	assert_true(strlen(err) > 0);
	assert_int_equal(out.len, 0);
	assert_int_equal(npm_plan_project(registry(), none, strlen(none),
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
		cmocka_unit_test(test_hostile_registry),
		cmocka_unit_test(test_plan_project),
		cmocka_unit_test(test_plan_project_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
