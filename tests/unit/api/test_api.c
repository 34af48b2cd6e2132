/*
 * The control API's contract: replies and ids, errors with codes, caller
 * identity from SO_PEERCRED, who may assert an SSH key, one audit entry
 * per call in the real audit log (and no reply when it cannot be
 * written), event subscriptions, and the socket on disk: its mode and
 * group, stale and live sockets, unsafe paths.
 */
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "harness.h"
#include "store/store.h"

#define FP "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"

static int setup(void **state)
{
	*state = h_home();
	return 0;
}

static struct h_fix *start_default(void **state)
{
	struct h_fix *f = *state;
	struct api_server_opts o;

	h_opts(f, &o);
	h_start(f, &o);
	return f;
}

static void test_replies_and_ids(void **state)
{
	struct h_fix *f = start_default(state);
	int fd = h_raw(f);
	json_t *r;

	r = h_call(fd, "{\"id\":\"abc\",\"method\":\"echo\",\"params\":"
		   "{\"x\":[1,2]}}\n");
	assert_string_equal(json_string_value(json_object_get(r, "id")), "abc");
	assert_int_equal(json_array_size(json_object_get(
		json_object_get(r, "result"), "x")), 2);
	json_decref(r);

	r = h_call(fd, "{\"method\":\"ping\"}\n");
	assert_true(json_is_null(json_object_get(r, "id")));
	assert_true(json_is_true(json_object_get(json_object_get(r, "result"),
						 "pong")));
	json_decref(r);

	r = h_call(fd, "{\"id\":5,\"method\":\"job.nope\"}\n");
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 5);
	assert_string_equal(h_code(r), "unknown_method");
	json_decref(r);

	r = h_call(fd, "{\"id\":6,\"method\":\"job.show\",\"params\":"
		   "{\"job\":\"j1\"}}\n");
	assert_string_equal(h_code(r), "not_found");
	assert_string_equal(json_string_value(json_object_get(
		json_object_get(r, "error"), "message")), "no job j1");
	json_decref(r);

	/* Pipelined requests are answered in order. */
	h_sends(fd, "{\"id\":1,\"method\":\"ping\"}\n{\"id\":2,\"method\":"
		"\"ping\"}\n{\"id\":3,\"method\":\"ping\"}\n");
	for (int i = 1; i <= 3; i++) {
		r = h_line(fd, NULL);
		assert_int_equal(json_integer_value(json_object_get(r, "id")),
				 i);
		json_decref(r);
	}
	close(fd);
}

/* Identity is the kernel's: SO_PEERCRED, not anything the client says. */
static void test_caller_identity(void **state)
{
	struct h_fix *f = start_default(state);
	struct api_client *c;
	struct api_err err;
	json_t *res;

	assert_int_equal(api_client_connect(f->path, &c), 0);
	assert_int_equal(api_client_call(c, "whoami", NULL, H_WAIT_MS, &res,
					 &err), 0);
	assert_int_equal(json_integer_value(json_object_get(res, "uid")),
			 getuid());
	assert_int_equal(json_integer_value(json_object_get(res, "pid")),
			 getpid());
	assert_string_equal(json_string_value(json_object_get(res, "actor")),
			    "uid:0");
	json_decref(res);
	api_client_close(c);
}

/* A child of another uid: refused by the socket's mode, unless it is in
 * the socket's group; then seen by its real uid. */
static void test_socket_mode_and_group(void **state)
{
	struct h_fix *f = *state;
	struct api_server_opts o;
	struct group *nog = getgrnam("nogroup");
	gid_t gid = nog ? nog->gr_gid : 65534;
	struct stat st;

	h_opts(f, &o);
	o.gid = gid;
	h_start(f, &o);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_int_equal(st.st_gid, gid);
	assert_int_equal(chmod(f->home, 0711), 0);

	for (int in_group = 0; in_group < 2; in_group++) {
		int status;
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			struct api_client *c;
			struct api_err err;
			json_t *res = NULL;
			gid_t g = in_group ? gid : 12345;
			int rc;

			if (setgroups(0, NULL) || setresgid(g, g, g) ||
			    setresuid(54321, 54321, 54321))
				_exit(10);
			rc = api_client_connect(f->path, &c);
			if (!in_group)
				_exit(rc == -EACCES ? 0 : 11);
			if (rc || api_client_call(c, "whoami", NULL, H_WAIT_MS,
						  &res, &err))
				_exit(12);
			_exit(json_integer_value(json_object_get(res, "uid")) ==
				      54321 ? 0 : 13);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
}

/* Only a trusted uid may name an SSH key; the key becomes the actor. */
static void test_fingerprint_trust(void **state)
{
	struct h_fix *f = *state;
	struct api_server_opts o;
	uid_t trusted = 0;
	int fd;
	json_t *r;

	h_opts(f, &o);
	h_start(f, &o);
	fd = h_raw(f);
	r = h_call(fd, "{\"id\":1,\"method\":\"whoami\","
		   "\"ssh_key_fingerprint\":\"" FP "\"}\n");
	assert_string_equal(h_code(r), "forbidden");
	json_decref(r);
	close(fd);
	h_stop(f);

	o.fp_uids = &trusted;
	o.nfp_uids = 1;
	h_start(f, &o);
	{
		struct api_client *c;
		struct api_err err;
		json_t *res;

		assert_int_equal(api_client_connect(f->path, &c), 0);
		assert_int_equal(api_client_set_fingerprint(c, "SHA256:short"),
				 AL_E_USAGE);
		assert_int_equal(api_client_set_fingerprint(c, FP), 0);
		assert_int_equal(api_client_call(c, "whoami", NULL, H_WAIT_MS,
						 &res, &err), 0);
		assert_string_equal(json_string_value(json_object_get(res,
				    "actor")), FP);
		assert_int_equal(json_integer_value(json_object_get(res,
				 "uid")), 0);
		json_decref(res);
		api_client_close(c);
	}
}

static json_t *entry(struct h_fix *f, uint64_t seq)
{
	struct store_txn *txn;
	uint8_t key[8];
	json_t *e = NULL;

	audit_key(seq, key);
	assert_int_equal(store_txn_begin(f->st, false, &txn), 0);
	assert_int_equal(store_get_json(txn, STORE_DB_AUDIT, key, 8, &e), 0);
	store_txn_abort(txn);
	return e;
}

static const char *entry_str(json_t *e, const char *k)
{
	const char *s = json_string_value(json_object_get(e, k));

	return s ? s : "";
}

/* Every call is one entry in the hash-chained log, refused ones too. */
static void test_audit_entries(void **state)
{
	struct h_fix *f = *state;
	struct api_server_opts o;
	uint64_t count = 0, bad = 0;
	int fd;
	json_t *r, *e, *d;

	h_opts(f, &o);
	h_start(f, &o);
	fd = h_raw(f);
	json_decref(h_call(fd, "{\"id\":\"a1\",\"method\":\"echo\"}\n"));
	json_decref(h_call(fd, "{\"id\":2,\"method\":\"job.show\"}\n"));
	json_decref(h_call(fd, "{\"id\":3,\"method\":\"whoami\","
			   "\"ssh_key_fingerprint\":\"" FP "\"}\n"));
	json_decref(h_call(fd, "{\"id\":4}\n"));
	json_decref(h_call(fd, "this is not json\n"));
	close(fd);
	h_stop(f);

	assert_int_equal(audit_verify(f->st, &count, &bad), 0);
	assert_int_equal(count, 4);
	e = entry(f, 1);
	d = json_object_get(e, "details");
	assert_string_equal(entry_str(e, "actor"), "uid:0");
	assert_string_equal(entry_str(e, "action"), "api.call");
	assert_string_equal(entry_str(e, "object"), "echo");
	assert_string_equal(entry_str(d, "result"), "ok");
	assert_string_equal(entry_str(d, "id"), "a1");
	assert_int_equal(json_integer_value(json_object_get(d, "pid")),
			 getpid());
	json_decref(e);
	e = entry(f, 2);
	assert_string_equal(entry_str(e, "object"), "job.show");
	assert_string_equal(entry_str(json_object_get(e, "details"), "result"),
			    "not_found");
	json_decref(e);
	e = entry(f, 3);
	assert_string_equal(entry_str(json_object_get(e, "details"), "result"),
			    "forbidden");
	json_decref(e);
	e = entry(f, 4);
	assert_string_equal(entry_str(e, "object"), "(invalid)");
	json_decref(e);

	/* An accepted key is the actor, and the uid stays in details. */
	{
		uid_t trusted = 0;
		struct api_client *c;
		struct api_err err;

		o.fp_uids = &trusted;
		o.nfp_uids = 1;
		h_start(f, &o);
		assert_int_equal(api_client_connect(f->path, &c), 0);
		assert_int_equal(api_client_set_fingerprint(c, FP), 0);
		assert_int_equal(api_client_call(c, "ping", NULL, H_WAIT_MS, &r,
						 &err), 0);
		json_decref(r);
		api_client_close(c);
		h_stop(f);
	}
	e = entry(f, 5);
	assert_string_equal(entry_str(e, "actor"), FP);
	assert_string_equal(entry_str(json_object_get(e, "details"),
				      "ssh_key_fingerprint"), FP);
	json_decref(e);
}

/* No audit entry, no answer: results are withheld, subscriptions void. */
static void test_audit_fail_closed(void **state)
{
	struct h_fix *f = start_default(state);
	int fd = h_raw(f);
	json_t *r;

	atomic_store(&f->audit_fail, true);
	r = h_call(fd, "{\"id\":1,\"method\":\"whoami\"}\n");
	assert_string_equal(h_code(r), "audit_failed");
	assert_null(json_object_get(r, "result"));
	json_decref(r);
	r = h_call(fd, "{\"id\":2,\"method\":\"events.subscribe\"}\n");
	assert_string_equal(h_code(r), "audit_failed");
	json_decref(r);
	atomic_store(&f->audit_fail, false);

	/* Not subscribed: an event must not arrive before the reply. */
	api_server_publish(f->srv, "job", "job.state", NULL);
	r = h_call(fd, "{\"id\":3,\"method\":\"stats\"}\n");
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 3);
	assert_int_equal(json_integer_value(json_object_get(
		json_object_get(r, "result"), "subscribers")), 0);
	json_decref(r);
	close(fd);
}

static void test_events(void **state)
{
	struct h_fix *f = start_default(state);
	const char *topics[] = { "job" };
	struct api_client *c, *all;
	struct api_err err;
	json_t *ev, *res;

	assert_int_equal(api_client_connect(f->path, &c), 0);
	assert_int_equal(api_client_connect(f->path, &all), 0);
	assert_int_equal(api_client_subscribe(c, topics, 1, H_WAIT_MS, &err),
			 0);
	assert_int_equal(api_client_subscribe(all, NULL, 0, H_WAIT_MS, &err),
			 0);
	assert_int_equal(api_server_publish(f->srv, "audit", "audit.append",
					    json_pack("{s:i}", "seq", 1)), 0);
	assert_int_equal(api_server_publish(f->srv, "job", "job.state",
					    json_pack("{s:s}", "job", "j1")),
			 0);
	assert_int_equal(api_server_publish(f->srv, "Bad Topic", "x", NULL),
			 AL_E_USAGE);

	/* The topic filter: c sees only the job event. */
	assert_int_equal(api_client_next(c, H_WAIT_MS, &ev, &err), 0);
	assert_string_equal(json_string_value(json_object_get(ev, "event")),
			    "job.state");
	assert_string_equal(json_string_value(json_object_get(
		json_object_get(ev, "data"), "job")), "j1");
	json_decref(ev);
	assert_int_equal(api_client_next(all, H_WAIT_MS, &ev, &err), 0);
	assert_string_equal(json_string_value(json_object_get(ev, "topic")),
			    "audit");
	json_decref(ev);
	assert_int_equal(api_client_next(all, H_WAIT_MS, &ev, &err), 0);
	assert_string_equal(json_string_value(json_object_get(ev, "topic")),
			    "job");
	json_decref(ev);

	/* A handler publishing: the event is kept while the call waits. */
	assert_int_equal(api_client_call(c, "job.poke", json_pack("{s:s}",
					 "job", "j2"), H_WAIT_MS, &res, &err),
			 0);
	json_decref(res);
	assert_int_equal(api_client_next(c, H_WAIT_MS, &ev, &err), 0);
	assert_string_equal(json_string_value(json_object_get(
		json_object_get(ev, "data"), "job")), "j2");
	json_decref(ev);
	assert_int_equal(api_client_next(c, 50, &ev, &err), -ETIMEDOUT);

	/* Bad subscriptions. */
	{
		const char *bad[] = { "Job!" };

		assert_int_equal(api_client_subscribe(all, bad, 1, H_WAIT_MS,
						      &err), -EREMOTEIO);
		assert_int_equal(err.code, API_E_PARAMS);
	}
	api_client_close(c);
	api_client_close(all);
}

/* A bound socket nobody listens on is stale and replaced. */
static void test_stale_socket(void **state)
{
	struct h_fix *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	start_default(state);
	fd = h_raw(f);
	json_decref(h_call(fd, "{\"method\":\"ping\"}\n"));
	close(fd);
}

/* A live server is neither replaced nor disturbed by a second one. */
static void test_live_socket(void **state)
{
	struct h_fix *f = start_default(state);
	struct api_server_opts o;
	struct api_server *second = NULL;
	int fd;
	json_t *r;

	h_opts(f, &o);
	assert_int_equal(api_server_new(&o, &second), AL_E_EXISTS);
	assert_null(second);
	/* Even without the lock, the probe finds the live server. */
	{
		char lock[160];

		snprintf(lock, sizeof(lock), "%s.lock", f->path);
		assert_int_equal(unlink(lock), 0);
		assert_int_equal(api_server_new(&o, &second), AL_E_EXISTS);
	}
	fd = h_raw(f);
	r = h_call(fd, "{\"id\":1,\"method\":\"ping\"}\n");
	assert_non_null(json_object_get(r, "result"));
	json_decref(r);
	close(fd);
}

static void test_unsafe_paths(void **state)
{
	struct h_fix *f = *state;
	struct api_server_opts o;
	struct api_server *srv = NULL;
	char longp[200], sub[96];
	int fd;

	h_opts(f, &o);
	/* Not a socket: left alone, refused. */
	fd = open(f->path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	assert_int_equal(api_server_new(&o, &srv), AL_E_UNSAFE);
	assert_int_equal(access(f->path, F_OK), 0);
	unlink(f->path);

	/* Too long for sun_path. */
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	o.path = longp;
	assert_int_equal(api_server_new(&o, &srv), -ENAMETOOLONG);
	assert_int_equal(api_socket_path(longp, sub, sizeof(sub)),
			 -ENAMETOOLONG);

	/* A directory others may write to. */
	snprintf(sub, sizeof(sub), "%s/shared", f->home);
	assert_int_equal(mkdir(sub, 0777), 0);
	assert_int_equal(chmod(sub, 0777), 0);
	snprintf(longp, sizeof(longp), "%s/x.sock", sub);
	assert_int_equal(api_server_new(&o, &srv), AL_E_UNSAFE);
	assert_int_equal(access(longp, F_OK), -1);

	/* Reserved or malformed method names. */
	{
		static const struct api_method bad[] = { { "ping", h_echo } };

		h_opts(f, &o);
		o.methods = bad;
		o.nmethods = 1;
		assert_int_equal(api_server_new(&o, &srv), AL_E_USAGE);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, h_teardown)
		T(test_replies_and_ids),
		T(test_caller_identity),
		T(test_socket_mode_and_group),
		T(test_fingerprint_trust),
		T(test_audit_entries),
		T(test_audit_fail_closed),
		T(test_events),
		T(test_stale_socket),
		T(test_live_socket),
		T(test_unsafe_paths),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
