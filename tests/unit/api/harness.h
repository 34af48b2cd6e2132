/*
 * harness.h - a control API server on a real socket in a temporary home,
 * run by a thread of the test, with test methods, a real audit log, raw
 * socket helpers for hostile clients, and a well-behaved client thread
 * whose every answer is checked while the abuse goes on.
 */
#ifndef AL_TEST_API_HARNESS_H
#define AL_TEST_API_HARNESS_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/api.h"
#include "api/client.h"
#include "audit/audit.h"
#include "base/err.h"
#include "base/fs.h"

/* Upper bound of every wait, so a broken control fails the test rather
 * than hanging it; no test asserts how long anything took. */
#define H_WAIT_MS 20000

struct h_fix {
	char home[64];
	char path[128];
	struct store *st;
	struct audit_log *log;
	struct api_server *srv;
	pthread_t thr;
	bool running;
	atomic_bool audit_fail;
	atomic_int audit_batches;
};

/* ---- test methods ---------------------------------------------------- */

static inline json_t *h_echo(void *ctx, const struct api_call *call, json_t *params,
		      struct api_err *err)
{
	return json_incref(params);
}

static inline json_t *h_whoami(void *ctx, const struct api_call *call,
			json_t *params, struct api_err *err)
{
	return json_pack("{s:I, s:I, s:I, s:s, s:s}", "uid",
			 (json_int_t)call->caller->uid, "gid",
			 (json_int_t)call->caller->gid, "pid",
			 (json_int_t)call->caller->pid, "fingerprint",
			 call->caller->fingerprint, "actor", call->actor);
}

static inline json_t *h_missing(void *ctx, const struct api_call *call,
			 json_t *params, struct api_err *err)
{
	return api_fail(err, API_E_NOTFOUND, "no job %s",
			json_string_value(json_object_get(params, "job")));
}

static inline json_t *h_stats(void *ctx, const struct api_call *call,
		       json_t *params, struct api_err *err)
{
	struct api_stats s;

	api_server_stats(call->server, &s);
	return json_pack("{s:I, s:I, s:I, s:I, s:I}", "conns",
			 (json_int_t)s.conns, "subscribers",
			 (json_int_t)s.subscribers, "dropped",
			 (json_int_t)s.dropped, "refused",
			 (json_int_t)s.refused, "lost", (json_int_t)s.lost);
}

/* A handler that publishes, as the daemon's job.cancel would. */
static inline json_t *h_publish(void *ctx, const struct api_call *call,
			 json_t *params, struct api_err *err)
{
	int rc = api_server_publish(call->server, "job", "job.state",
				    json_incref(params));

	return rc ? api_fail(err, API_E_INTERNAL, "publish: %d", rc)
		  : json_object();
}

static const struct api_method h_methods[] = {
	{ "echo", h_echo },
	{ "whoami", h_whoami },
	{ "job.show", h_missing },
	{ "stats", h_stats },
	{ "job.poke", h_publish },
};

/* The audit log, with a switch that makes it fail like a full disk. */
static inline int h_audit(void *ctx, const struct api_audit_rec *recs, size_t n)
{
	struct h_fix *f = ctx;

	atomic_fetch_add(&f->audit_batches, 1);
	if (atomic_load(&f->audit_fail))
		return AL_E_STORE;
	return api_audit_to_log(f->log, recs, n);
}

static inline void *h_serve(void *arg)
{
	api_server_run(arg);
	return NULL;
}

static inline void h_opts(struct h_fix *f, struct api_server_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->path = f->path;
	o->gid = (gid_t)-1;
	o->methods = h_methods;
	o->nmethods = AL_ARRAY_LEN(h_methods);
	o->audit = h_audit;
	o->audit_ctx = f;
}

static inline struct h_fix *h_home(void)
{
	struct h_fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->home, sizeof(f->home), "/tmp/al-api-XXXXXX");
	assert_non_null(mkdtemp(f->home));
	assert_int_equal(api_socket_path(f->home, f->path, sizeof(f->path)),
			 0);
	assert_int_equal(store_open(f->home, &f->st), 0);
	assert_int_equal(audit_log_open(f->st, f->home, NULL, &f->log), 0);
	return f;
}

static inline void h_start(struct h_fix *f, const struct api_server_opts *o)
{
	assert_int_equal(api_server_new(o, &f->srv), 0);
	assert_int_equal(pthread_create(&f->thr, NULL, h_serve, f->srv), 0);
	f->running = true;
}

static inline void h_stop(struct h_fix *f)
{
	if (f->running) {
		api_server_stop(f->srv);
		pthread_join(f->thr, NULL);
		f->running = false;
	}
	api_server_free(f->srv);
	f->srv = NULL;
}

static inline int h_teardown(void **state)
{
	struct h_fix *f = *state;

	if (!f)
		return 0;
	h_stop(f);
	audit_log_close(f->log);
	store_close(f->st);
	al_rm_tree(f->home);
	free(f);
	return 0;
}

/* ---- raw sockets ----------------------------------------------------- */

static inline int h_raw(const struct h_fix *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Send what fits; errors (a server that hung up) are the caller's to see
 * in what it reads next. */
static inline int h_send(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

static inline int h_sends(int fd, const char *s)
{
	return h_send(fd, s, strlen(s));
}

/*
 * Read one line (byte by byte: the rest stays in the socket for the next
 * call). Returns the parsed line, or NULL at EOF, reset or timeout; *why
 * (if not NULL) tells which: 0 EOF, -ECONNRESET, -ETIMEDOUT.
 */
static inline json_t *h_line(int fd, int *why)
{
	static char buf[1 << 20];
	size_t len = 0;
	int64_t until = al_mono_ms() + H_WAIT_MS;

	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;
		int wait = (int)(until - al_mono_ms());

		if (wait <= 0 || poll(&p, 1, wait) == 0) {
			if (why)
				*why = -ETIMEDOUT;
			return NULL;
		}
		n = recv(fd, buf + len, 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (why)
				*why = n == 0 ? 0 : -errno;
			return NULL;
		}
		if (buf[len] == '\n')
			return json_loadb(buf, len, 0, NULL);
		if (++len >= sizeof(buf)) {
			if (why)
				*why = -EFBIG;
			return NULL;
		}
	}
}

/* The wire code of an error line, "" for anything else. */
static inline const char *h_code(const json_t *line)
{
	const char *c = json_string_value(
		json_object_get(json_object_get(line, "error"), "code"));

	return c ? c : "";
}

/* Expect an error line with code, then the server closing. */
static inline void h_expect_drop(int fd, const char *code)
{
	json_t *line;
	int why = 1;

	for (;;) {
		line = h_line(fd, &why);
		assert_non_null(line);
		if (json_object_get(line, "error"))
			break;
		json_decref(line);
	}
	assert_string_equal(h_code(line), code);
	assert_true(json_is_null(json_object_get(line, "id")));
	json_decref(line);
	assert_null(h_line(fd, &why));
	assert_true(why == 0 || why == -ECONNRESET);
}

/* One call on a raw socket; returns the reply line. */
static inline json_t *h_call(int fd, const char *req)
{
	assert_int_equal(h_sends(fd, req), 0);
	return h_line(fd, NULL);
}

/* ---- the well-behaved client ----------------------------------------- */

struct h_good {
	struct h_fix *f;
	pthread_t thr;
	atomic_bool stop;
	atomic_long ok;
	atomic_long bad;
	char why[512];
};

static inline void *h_good_run(void *arg)
{
	struct h_good *g = arg;
	struct api_client *c = NULL;
	int rc = api_client_connect(g->f->path, &c);

	for (long i = 0; rc == 0 && !atomic_load(&g->stop); i++) {
		struct api_err err;
		json_t *res = NULL;

		rc = api_client_call(c, "echo", json_pack("{s:I}", "n",
				     (json_int_t)i), 10000, &res, &err);
		if (rc == 0 && json_integer_value(json_object_get(res, "n")) !=
				       i)
			rc = AL_E_PARSE;
		json_decref(res);
		if (rc)
			snprintf(g->why, sizeof(g->why), "call %ld: %s %s", i,
				 al_strerror(rc), err.message);
		else
			atomic_fetch_add(&g->ok, 1);
	}
	if (rc) {
		if (!g->why[0])
			snprintf(g->why, sizeof(g->why), "connect: %s",
				 al_strerror(rc));
		atomic_fetch_add(&g->bad, 1);
	}
	api_client_close(c);
	return NULL;
}

static inline void h_good_start(struct h_good *g, struct h_fix *f)
{
	memset(g, 0, sizeof(*g));
	g->f = f;
	assert_int_equal(pthread_create(&g->thr, NULL, h_good_run, g), 0);
	while (atomic_load(&g->ok) < 1 && !atomic_load(&g->bad))
		usleep(1000);
}

/* Wait until the good client made n more correct calls from now. */
static inline void h_good_progress(struct h_good *g, long n)
{
	long base = atomic_load(&g->ok);
	int64_t until = al_mono_ms() + H_WAIT_MS;

	while (atomic_load(&g->ok) < base + n && !atomic_load(&g->bad) &&
	       al_mono_ms() < until)
		usleep(1000);
	if (atomic_load(&g->bad))
		fail_msg("well-behaved client failed: %s", g->why);
	assert_true(atomic_load(&g->ok) >= base + n);
}

static inline void h_good_stop(struct h_good *g)
{
	atomic_store(&g->stop, true);
	pthread_join(g->thr, NULL);
	if (atomic_load(&g->bad))
		fail_msg("well-behaved client failed: %s", g->why);
	assert_true(atomic_load(&g->ok) > 0);
}

/* A stats call from a fresh client. */
static inline json_t *h_stats_now(struct h_fix *f)
{
	struct api_client *c;
	struct api_err err;
	json_t *res = NULL;

	assert_int_equal(api_client_connect(f->path, &c), 0);
	assert_int_equal(api_client_call(c, "stats", NULL, H_WAIT_MS, &res,
					 &err), 0);
	api_client_close(c);
	return res;
}

static inline json_int_t h_stat(struct h_fix *f, const char *name)
{
	json_t *s = h_stats_now(f);
	json_int_t v = json_integer_value(json_object_get(s, name));

	json_decref(s);
	return v;
}

/* Wait until counter name reaches at least v. */
static inline void h_wait_stat(struct h_fix *f, const char *name, json_int_t v)
{
	int64_t until = al_mono_ms() + H_WAIT_MS;

	while (h_stat(f, name) < v && al_mono_ms() < until)
		usleep(5000);
	assert_true(h_stat(f, name) >= v);
}

#endif
