/*
 * Hostile clients of the control API, on real sockets: oversized lines,
 * invalid and non-object JSON, deep nesting, a slowloris partial line,
 * 2000 connections, one user holding every connection it may, a
 * subscriber that never reads, and clients that disconnect mid-stream.
 * In each, a well-behaved client calls the server all along and every
 * one of its answers is checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static int setup(void **state)
{
	*state = h_home();
	return 0;
}

static struct h_fix *start(void **state, struct api_server_opts *o)
{
	struct h_fix *f = *state;
	struct api_server_opts def;

	if (!o) {
		h_opts(f, &def);
		o = &def;
	}
	h_start(f, o);
	return f;
}

/* A request line just over the limit is refused, the connection closed. */
static void test_oversized_line(void **state)
{
	static const char head[] = "{\"id\":1,\"method\":\"echo\","
				   "\"params\":{\"p\":\"";
	struct h_fix *f = start(state, NULL);
	size_t hl = strlen(head), pad = API_LINE_MAX_DEFAULT + 16;
	char *req = malloc(pad + 128);
	struct h_good g;
	int fd;

	h_good_start(&g, f);
	memcpy(req, head, hl);
	memset(req + hl, 'x', pad);
	memcpy(req + hl + pad, "\"}}\n", 5);

	/* Valid JSON, and echo would answer it: only the limit says no. */
	fd = h_raw(f);
	h_send(fd, req, strlen(req));
	h_expect_drop(fd, "line_too_long");
	close(fd);
	h_good_progress(&g, 20);

	/* A line without end: the server stops reading at the limit. */
	fd = h_raw(f);
	memset(req, 'y', pad);
	for (int i = 0; i < 64 && h_send(fd, req, pad) == 0; i++)
		;
	h_expect_drop(fd, "line_too_long");
	close(fd);
	h_good_progress(&g, 20);
	h_good_stop(&g);
	free(req);
}

/* Invalid JSON is answered and the connection stays usable. */
static void test_invalid_json(void **state)
{
	static const char *const bad[] = {
		"{\"id\":1,\"method\":\"echo\"\n",
		"not json at all\n",
		"{\"id\":1,\"method\":\"echo\",\"method\":\"whoami\"}\n",
		"\xff\xfe{\"id\":1}\n",
		"{\"id\":\"\xc3\x28\",\"method\":\"echo\"}\n",
		"\n",
	};
	struct h_fix *f = start(state, NULL);
	struct h_good g;
	int fd = h_raw(f);

	h_good_start(&g, f);
	for (size_t i = 0; i < AL_ARRAY_LEN(bad); i++) {
		json_t *r = h_call(fd, bad[i]);

		assert_non_null(r);
		assert_string_equal(h_code(r), "parse_error");
		assert_true(json_is_null(json_object_get(r, "id")));
		json_decref(r);
	}
	{
		json_t *r = h_call(fd, "{\"id\":7,\"method\":\"echo\","
				   "\"params\":{\"a\":1}}\n");

		assert_int_equal(json_integer_value(json_object_get(
			json_object_get(r, "result"), "a")), 1);
		json_decref(r);
	}
	close(fd);
	h_good_progress(&g, 20);
	h_good_stop(&g);
}

/* JSON that is not a request object gets invalid_request. */
static void test_non_object(void **state)
{
	static const char *const bad[] = {
		"[1,2,3]\n", "\"echo\"\n", "42\n", "null\n", "true\n",
		"{\"id\":1}\n",
		"{\"id\":1,\"method\":42}\n",
		"{\"id\":1,\"method\":\"Echo; rm\"}\n",
		"{\"id\":[1],\"method\":\"echo\"}\n",
		"{\"id\":1.5,\"method\":\"echo\"}\n",
		"{\"id\":1,\"method\":\"echo\",\"extra\":1}\n",
		"{\"id\":1,\"method\":\"echo\",\"ssh_key_fingerprint\":\"x\"}\n",
	};
	struct h_fix *f = start(state, NULL);
	struct h_good g;
	int fd = h_raw(f);
	json_t *r;

	h_good_start(&g, f);
	for (size_t i = 0; i < AL_ARRAY_LEN(bad); i++) {
		r = h_call(fd, bad[i]);
		assert_non_null(r);
		assert_string_equal(h_code(r), "invalid_request");
		json_decref(r);
	}
	r = h_call(fd, "{\"id\":1,\"method\":\"echo\",\"params\":[1]}\n");
	assert_string_equal(h_code(r), "invalid_params");
	json_decref(r);
	r = h_call(fd, "{\"id\":2,\"method\":\"echo\"}\n");
	assert_true(json_is_object(json_object_get(r, "result")));
	json_decref(r);
	close(fd);
	h_good_progress(&g, 20);
	h_good_stop(&g);
}

static char *nested(int depth, const char *open, const char *close_)
{
	size_t n = strlen(open) * depth + strlen(close_) * depth;
	char *s = malloc(n + 100), *p;

	p = s + snprintf(s, 100, "{\"id\":1,\"method\":\"echo\",\"params\":"
			 "{\"a\":");
	for (int i = 0; i < depth; i++)
		p += snprintf(p, 8, "%s", open);
	for (int i = 0; i < depth; i++)
		p += snprintf(p, 8, "%s", close_);
	snprintf(p, 8, "}}\n");
	return s;
}

/* Nesting past API_DEPTH_MAX is refused before parsing. */
static void test_deep_nesting(void **state)
{
	struct h_fix *f = start(state, NULL);
	struct h_good g;
	int fd = h_raw(f);
	char *s;
	json_t *r;

	h_good_start(&g, f);
	/* Within the limit: answered. */
	s = nested(API_DEPTH_MAX - 3, "[", "]");
	r = h_call(fd, s);
	assert_non_null(json_object_get(r, "result"));
	json_decref(r);
	free(s);
	/* Over it, though jansson itself would parse it: refused. */
	s = nested(API_DEPTH_MAX + 8, "[", "]");
	r = h_call(fd, s);
	assert_string_equal(h_code(r), "too_deep");
	json_decref(r);
	free(s);
	s = nested(API_DEPTH_MAX + 8, "{\"k\":", "}");
	r = h_call(fd, s);
	assert_string_equal(h_code(r), "too_deep");
	json_decref(r);
	free(s);
	/* Far deeper, unbalanced, inside the line limit. */
	s = malloc(60002);
	memset(s, '[', 60000);
	memcpy(s + 60000, "\n", 2);
	r = h_call(fd, s);
	assert_string_equal(h_code(r), "too_deep");
	json_decref(r);
	free(s);
	/* Brackets inside strings do not count. */
	r = h_call(fd, "{\"id\":3,\"method\":\"echo\",\"params\":{\"s\":"
		   "\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[\"}}\n");
	assert_non_null(json_object_get(r, "result"));
	json_decref(r);
	close(fd);
	h_good_progress(&g, 20);
	h_good_stop(&g);
}

/* A line trickled in a byte at a time is cut off at line_ms. */
static void test_slowloris(void **state)
{
	enum { N = 8 };
	struct h_fix *f = *state;
	struct api_server_opts o;
	const char *req = "{\"id\":1,\"method\":\"echo\",\"params\":{\"a\":";
	bool done[N] = { false };
	struct h_good g;
	int fds[N], left = N;

	h_opts(f, &o);
	o.line_ms = 300;
	start(state, &o);
	h_good_start(&g, f);
	for (int i = 0; i < N; i++)
		fds[i] = h_raw(f);

	/*
	 * Keep every line growing, never finished, until the server gives
	 * up on each; bounded so that a missing deadline fails the test.
	 */
	for (size_t n = 0; left; n++) {
		for (int i = 0; i < N; i++)
			if (!done[i])
				h_send(fds[i], req + n % strlen(req), 1);
		for (int i = 0; i < N; i++) {
			struct pollfd p = { fds[i], POLLIN, 0 };

			if (done[i] || poll(&p, 1, 0) != 1)
				continue;
			h_expect_drop(fds[i], "timeout");
			done[i] = true;
			left--;
		}
		assert_true(n < H_WAIT_MS / 20);
		usleep(20000);
	}
	for (int i = 0; i < N; i++)
		close(fds[i]);
	h_good_progress(&g, 20);
	h_good_stop(&g);
}

/*
 * A child that becomes uid (and gid) and opens want connections, each
 * asked for an answer; it reports how many were served and how many
 * told "busy" for its own user's share, then holds them open until
 * the parent writes to go.
 */
struct holder {
	pid_t pid;
	int go;
	int served, mine;
};

/*
 * In the child, no cmocka assertion may fail (it would run the rest of
 * the suite in the child): plain calls only. A refused connection has
 * its answer sent and is closed at once, so the request may not get
 * through; the answer is read anyway. 1: served, 2: refused for the
 * user's share, 0: anything else. The connection stays open.
 */
static int holder_call(const struct h_fix *f)
{
	static const char req[] = "{\"id\":1,\"method\":\"echo\"}\n";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[512];
	size_t len = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return 0;
	(void)!send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL);
	while (len < sizeof(buf) - 1 && !memchr(buf, '\n', len)) {
		ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);

		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (strstr(buf, "\"result\""))
		return 1;
	return strstr(buf, "from your user") ? 2 : 0;
}

static void holder_start(const struct h_fix *f, uid_t uid, int want,
			 struct holder *h)
{
	int rep[2], go[2];
	int counts[2] = { 0, 0 };

	assert_int_equal(pipe(rep), 0);
	assert_int_equal(pipe(go), 0);
	h->pid = fork();
	assert_true(h->pid >= 0);
	if (h->pid == 0) {
		char b;

		close(rep[0]);
		close(go[1]);
		if (setresgid(uid, uid, uid) != 0 ||
		    setresuid(uid, uid, uid) != 0)
			_exit(3);
		for (int i = 0; i < want; i++) {
			int r = holder_call(f);

			if (r == 1)
				counts[0]++;
			else if (r == 2)
				counts[1]++;
		}
		if (write(rep[1], counts, sizeof(counts)) != sizeof(counts))
			_exit(4);
		(void)!read(go[0], &b, 1);
		_exit(0);
	}
	close(rep[1]);
	close(go[0]);
	assert_int_equal(read(rep[0], counts, sizeof(counts)),
			 (ssize_t)sizeof(counts));
	close(rep[0]);
	h->go = go[1];
	h->served = counts[0];
	h->mine = counts[1];
}

static void holder_end(struct holder *h)
{
	int st;

	/* A byte, not only the close: later children hold copies of this
	 * end, so its close alone would never be seen. */
	assert_int_equal(write(h->go, "x", 1), 1);
	close(h->go);
	assert_int_equal(waitpid(h->pid, &st, 0), h->pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/*
 * 64 connections in all: one uid gets a quarter of them and is told
 * its own share is used up; other uids still get theirs; and when the
 * non-root callers hold all they may, root is still served from the
 * slots kept for it.
 */
static void test_connections_per_uid(void **state)
{
	enum { MAX = 64, SHARE = MAX / 4 };
	struct h_fix *f = *state;
	struct api_server_opts o;
	struct holder h[4];
	int fd, non_root = 0;
	json_t *r;

	h_opts(f, &o);
	o.max_conns = MAX;
	start(state, &o);
	/* The children must reach the socket: the test's home is 0700. */
	assert_int_equal(chmod(f->home, 0711), 0);
	assert_int_equal(chmod(f->path, 0666), 0);

	holder_start(f, 65534, SHARE + 10, &h[0]);
	assert_int_equal(h[0].served, SHARE);
	assert_int_equal(h[0].mine, 10);
	for (int i = 1; i < 4; i++) {
		holder_start(f, (uid_t)(65534 - i), SHARE, &h[i]);
		non_root += h[i].served;
	}
	/* Two full shares, then the rest up to the root reserve (4). */
	assert_int_equal(h[1].served, SHARE);
	assert_int_equal(h[2].served, SHARE);
	assert_int_equal(SHARE + non_root, MAX - MAX / 16);

	fd = h_raw(f);
	r = h_call(fd, "{\"id\":2,\"method\":\"echo\"}\n");
	assert_non_null(r);
	assert_non_null(json_object_get(r, "result"));
	json_decref(r);
	close(fd);

	for (int i = 0; i < 4; i++)
		holder_end(&h[i]);
}

/* 2000 connections against a limit of 500: the rest are told "busy". */
static void test_many_connections(void **state)
{
	enum { N = 2000, MAX = 500 };
	struct h_fix *f = *state;
	struct api_server_opts o;
	struct rlimit rl = { 8192, 8192 };
	int *fds = calloc(N, sizeof(int));
	int answered = 0, busy = 0;
	struct h_good g;

	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	h_opts(f, &o);
	o.max_conns = MAX;
	start(state, &o);
	h_good_start(&g, f);

	for (int i = 0; i < N; i++)
		fds[i] = h_raw(f);
	for (int i = 0; i < N; i++) {
		json_t *r;

		h_sends(fds[i], "{\"id\":9,\"method\":\"echo\"}\n");
		r = h_line(fds[i], NULL);
		assert_non_null(r);
		if (json_object_get(r, "result"))
			answered++;
		else if (strcmp(h_code(r), "busy") == 0)
			busy++;
		json_decref(r);
	}
	/* The good client and the stats client hold slots too. */
	assert_true(answered >= MAX - 2 && answered <= MAX - 1);
	assert_int_equal(answered + busy, N);
	h_good_progress(&g, 20);

	for (int i = 0; i < N; i++)
		close(fds[i]);
	/* Once they are gone, new clients are served again. */
	for (int tries = 0;; tries++) {
		int fd = h_raw(f);
		json_t *r = h_call(fd, "{\"id\":1,\"method\":\"echo\"}\n");
		bool ok = r && json_object_get(r, "result");

		json_decref(r);
		close(fd);
		if (ok)
			break;
		assert_true(tries < 1000);
		usleep(10000);
	}
	h_good_progress(&g, 20);
	h_good_stop(&g);
	free(fds);
}

/* A subscriber that never reads is dropped, with a last error line. */
static void test_subscriber_never_reads(void **state)
{
	struct h_fix *f = *state;
	struct api_server_opts o;
	char pad[1024];
	struct h_good g;
	int fd, rcv = 4096, why = 1;
	json_int_t last = 0;
	json_t *r;

	h_opts(f, &o);
	o.outq_max = 64 * 1024;
	start(state, &o);
	h_good_start(&g, f);
	fd = h_raw(f);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	r = h_call(fd, "{\"id\":1,\"method\":\"events.subscribe\"}\n");
	assert_non_null(json_object_get(r, "result"));
	json_decref(r);

	memset(pad, 'e', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	for (int i = 0; h_stat(f, "dropped") == 0; i++) {
		for (int k = 0; k < 100; k++)
			api_server_publish(f->srv, "job", "job.state",
					   json_pack("{s:i, s:s}", "i", i, "pad",
						     pad));
		h_good_progress(&g, 1);
		assert_true(i < 200);
	}
	h_good_progress(&g, 20);

	/* What it gets: whole events in order, then the overflow error. */
	for (;;) {
		r = h_line(fd, &why);
		assert_non_null(r);
		if (json_object_get(r, "error"))
			break;
		assert_string_equal(json_string_value(json_object_get(r,
					"event")), "job.state");
		assert_true(json_integer_value(json_object_get(r, "seq")) >
			    last);
		last = json_integer_value(json_object_get(r, "seq"));
		json_decref(r);
	}
	assert_string_equal(h_code(r), "overflow");
	json_decref(r);
	assert_null(h_line(fd, &why));
	close(fd);
	h_good_stop(&g);
}

/* Subscribers and callers that go away while output is on its way. */
static void test_disconnect_mid_stream(void **state)
{
	struct h_fix *f = start(state, NULL);
	struct h_good g;
	json_t *r;

	h_good_start(&g, f);
	for (int round = 0; round < 20; round++) {
		int a = h_raw(f), b = h_raw(f);

		r = h_call(a, "{\"id\":1,\"method\":\"events.subscribe\"}\n");
		json_decref(r);
		r = h_call(b, "{\"id\":1,\"method\":\"events.subscribe\"}\n");
		json_decref(r);
		for (int k = 0; k < 50; k++)
			api_server_publish(f->srv, "job", "job.state",
					   json_pack("{s:i}", "k", k));
		r = h_line(a, NULL);
		assert_non_null(json_object_get(r, "event"));
		json_decref(r);
		/*
		 * a stops reading but stays connected: the server's next
		 * write fails with EPIPE, which must not be a SIGPIPE that
		 * kills the daemon. b goes away entirely.
		 */
		shutdown(a, SHUT_RD);
		close(b);
		for (int k = 0; k < 50; k++)
			api_server_publish(f->srv, "job", "job.state",
					   json_pack("{s:i}", "k", k));
		h_good_progress(&g, 2);
		close(a);
	}
	/* A caller that pipelines requests and leaves without reading. */
	for (int round = 0; round < 20; round++) {
		int fd = h_raw(f);

		for (int k = 0; k < 200; k++)
			h_sends(fd, "{\"id\":1,\"method\":\"whoami\"}\n");
		close(fd);
	}
	h_good_progress(&g, 20);
	h_good_stop(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_oversized_line, setup,
						h_teardown),
		cmocka_unit_test_setup_teardown(test_invalid_json, setup,
						h_teardown),
		cmocka_unit_test_setup_teardown(test_non_object, setup,
						h_teardown),
		cmocka_unit_test_setup_teardown(test_deep_nesting, setup,
						h_teardown),
		cmocka_unit_test_setup_teardown(test_slowloris, setup,
						h_teardown),
		cmocka_unit_test_setup_teardown(test_connections_per_uid, setup,
						h_teardown),
		cmocka_unit_test_setup_teardown(test_many_connections, setup,
						h_teardown),
		cmocka_unit_test_setup_teardown(test_subscriber_never_reads,
						setup, h_teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_mid_stream,
						setup, h_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
