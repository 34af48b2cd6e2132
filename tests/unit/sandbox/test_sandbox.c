/*
 * test_sandbox.c - every test here runs real sandboxes (root needed) and
 * checks what the payload could and could not do, then that the host is
 * as it was: no cgroup directory and no payload process left behind.
 * Only loopback is ever contacted. No test asserts a duration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <seccomp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "base/fs.h"
#include "base/util.h"
#include "sandbox/internal.h"
#include "sandbox/sandbox.h"

static const char *const test_env[] = { "PATH=/usr/bin:/bin", "HOME=/tmp",
					"LANG=C", NULL };

/* ---- helpers ---- */

static void spec_init(struct sbx_spec *s, const char *const *argv)
{
	memset(s, 0, sizeof(*s));
	s->argv = argv;
	s->env = test_env;
	s->host_uid = SBX_DEFAULT_UID;
	s->host_gid = SBX_DEFAULT_GID;
	s->stream_fd = -1;
	s->timeout_s = 120; /* a safety net only */
	s->job_id = "test-job";
}

/* Run sh -c script; the run itself must succeed. */
static void run_sh(struct sbx_spec *s, const char *script,
		   struct sbx_result *r)
{
	const char *argv[] = { "/bin/sh", "-c", script, NULL };

	s->argv = argv;
	assert_int_equal(sbx_run(s, r), 0);
	s->argv = NULL;
}

/* Does any process on the host have needle in its command line? */
static bool proc_with_marker(const char *needle)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	bool found = false;

	assert_non_null(d);
	while (!found && (e = readdir(d))) {
		char path[300], buf[4096];
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		buf[n > 0 ? n : 0] = '\0';
		found = strstr(buf, needle) != NULL;
	}
	closedir(d);
	return found;
}

/* Our own cgroup directory for a v1 controller (or v2 with NULL). */
static void own_cgroup_dirs(char dirs[3][1024], int *n)
{
	static const char *const ctrls[] = { "memory", "pids", "cpu" };
	char line[1024];
	FILE *f = fopen("/proc/self/cgroup", "re");
	struct stat st;

	*n = 0;
	assert_non_null(f);
	bool v2 = stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		const char *path = strcmp(c2 + 1, "/") ? c2 + 1 : "";
		if (v2 && c1[1] == '\0') {
			snprintf(dirs[(*n)++], 1024, "/sys/fs/cgroup%s", path);
			break;
		}
		for (int i = 0; !v2 && i < 3; i++)
			if (strstr(c1 + 1, ctrls[i]) &&
			    !strstr(c1 + 1, "cpuacct") &&
			    !strstr(c1 + 1, "cpuset"))
				snprintf(dirs[(*n)++], 1024,
					 "/sys/fs/cgroup/%s%s", ctrls[i], path);
			else if (!v2 && strcmp(c1 + 1, "cpu,cpuacct") == 0 &&
				 i == 2)
				snprintf(dirs[(*n)++], 1024,
					 "/sys/fs/cgroup/cpu%s", path);
	}
	fclose(f);
}

/*
 * The host is unchanged: no cgroup made by this process is left. Other
 * airlock processes on the machine may have sandboxes of their own.
 */
static void assert_no_cgroups_left_by(pid_t creator)
{
	char dirs[3][1024];
	int n;

	char prefix[64];
	int plen = snprintf(prefix, sizeof(prefix), "airlock-sbx-%d-",
			    (int)creator);

	own_cgroup_dirs(dirs, &n);
	assert_true(n >= 1);
	for (int i = 0; i < n; i++) {
		DIR *d = opendir(dirs[i]);
		struct dirent *e;
		assert_non_null(d);
		while ((e = readdir(d)))
			if (strncmp(e->d_name, prefix, (size_t)plen) == 0)
				fail_msg("left behind: %s/%s", dirs[i],
					 e->d_name);
		closedir(d);
	}
}

static void assert_no_cgroups_left(void)
{
	assert_no_cgroups_left_by(getpid());
}

/* A marker unique to this run, for finding stray processes. */
static unsigned marker_number(void)
{
	unsigned v;

	assert_int_equal(al_random(&v, sizeof(v)), 0);
	return 7000000 + v % 1000000;
}

static char *make_workspace(void)
{
	char tmpl[] = "/tmp/airlock-sbx-test-XXXXXX";
	char *dir = mkdtemp(tmpl);

	assert_non_null(dir);
	assert_int_equal(chown(dir, SBX_DEFAULT_UID, SBX_DEFAULT_GID), 0);
	return strdup(dir);
}

static void drop_workspace(char *dir)
{
	assert_int_equal(al_rm_tree(dir), 0);
	free(dir);
}

/* ---- a loopback HTTP server in a thread of the test ---- */

struct test_http {
	int lfd;
	unsigned port;
	pthread_t th;
	atomic_int requests;
	char last_target[256];
	char first_host[128]; /* the Host header of the first request */
	int stop[2];
};

static void *http_main(void *arg)
{
	struct test_http *h = arg;

	for (;;) {
		struct pollfd p[2] = { { h->lfd, POLLIN, 0 },
				       { h->stop[0], POLLIN, 0 } };
		if (poll(p, 2, -1) < 0 || p[1].revents)
			break;
		int c = accept4(h->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		char buf[4096];
		size_t have = 0;
		while (have < sizeof(buf) - 1) {
			ssize_t n = recv(c, buf + have, sizeof(buf) - 1 - have,
					 0);
			if (n <= 0)
				break;
			have += (size_t)n;
			buf[have] = '\0';
			if (strstr(buf, "\r\n\r\n"))
				break;
		}
		buf[have] = '\0';
		char *hh = strcasestr(buf, "\r\nHost: ");
		if (hh && !h->first_host[0]) {
			hh += 8;
			size_t n = strcspn(hh, "\r\n");
			snprintf(h->first_host, sizeof(h->first_host), "%.*s",
				 (int)n, hh);
		}
		char *sp = strchr(buf, ' ');
		if (sp) {
			char *sp2 = strchr(sp + 1, ' ');
			if (sp2)
				*sp2 = '\0';
			al_strlcpy(h->last_target, sp + 1,
				   sizeof(h->last_target));
		}
		atomic_fetch_add(&h->requests, 1);
		static const char resp[] =
			"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n"
			"Connection: close\r\n\r\nhello-airlock";
		send(c, resp, sizeof(resp) - 1, MSG_NOSIGNAL);
		close(c);
	}
	return NULL;
}

static int tcp_listener(unsigned *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static void http_start(struct test_http *h)
{
	memset(h, 0, sizeof(*h));
	h->lfd = tcp_listener(&h->port);
	assert_int_equal(pipe2(h->stop, O_CLOEXEC), 0);
	assert_int_equal(pthread_create(&h->th, NULL, http_main, h), 0);
}

static void http_stop(struct test_http *h)
{
	assert_int_equal(write(h->stop[1], "x", 1), 1);
	pthread_join(h->th, NULL);
	close(h->lfd);
	close(h->stop[0]);
	close(h->stop[1]);
}

/* ---- an event sink that remembers what it got ---- */

struct test_events {
	pthread_mutex_t mu;
	char log[8192];
};

static int test_emit(void *ctx, const char *action, const char *object,
		     json_t *details)
{
	struct test_events *ev = ctx;
	char line[512];
	json_t *job = json_object_get(details, "job");

	snprintf(line, sizeof(line), "%s %s job=%s\n", action, object,
		 json_is_string(job) ? json_string_value(job) : "-");
	pthread_mutex_lock(&ev->mu);
	size_t len = strlen(ev->log);
	al_strlcpy(ev->log + len, line, sizeof(ev->log) - len);
	pthread_mutex_unlock(&ev->mu);
	json_decref(details);
	return 0;
}

/* ---- tests ---- */

static void test_host_check(void **state)
{
	char why[256] = "";

	assert_int_equal(sbx_check_host(why, sizeof(why)), 0);
	assert_string_equal(why, "");
}

/*
 * A kernel without one of the interfaces the setup relies on, simulated
 * in a child by a seccomp filter answering ENOSYS for it: the host check
 * must refuse and name it, so no job runs on a host that would fail (or
 * run weaker) at that step.
 */
static void expect_refused_without(const char *call, const char *named)
{
	char why[256] = "";
	int p[2], st;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
		int rc = !ctx ||
			 seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
					  seccomp_syscall_resolve_name(call),
					  0) ||
			 seccomp_load(ctx);
		if (rc == 0 && sbx_check_host(why, sizeof(why)) == 0)
			snprintf(why, sizeof(why), "accepted");
		if (write(p[1], why, strlen(why)) < 0)
			_exit(2);
		_exit(rc ? 1 : 0);
	}
	close(p[1]);
	ssize_t n = read(p[0], why, sizeof(why) - 1);
	close(p[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	why[n > 0 ? n : 0] = '\0';
	if (!strstr(why, named))
		fail_msg("without %s: \"%s\", expected it to name %s", call,
			 why, named);
}

static void test_host_check_names_missing_kernel_interfaces(void **state)
{
	expect_refused_without("openat2", "openat2");
	expect_refused_without("close_range", "close_range");
	expect_refused_without("pidfd_getfd", "pidfd_getfd");
	expect_refused_without("mount_setattr", "mount_setattr");
	expect_refused_without("seccomp", "seccomp");
}

static void test_identity_and_capabilities(void **state)
{
	struct sbx_spec s;
	struct sbx_result r;

	spec_init(&s, NULL);
	run_sh(&s, "id -u; id -g; grep -E '^(Cap|NoNewPrivs|Seccomp:)' "
		   "/proc/self/status; hostname", &r);
	assert_int_equal(r.exit_code, 0);
	assert_string_equal(r.output,
			    "1000\n1000\n"
			    "CapInh:\t0000000000000000\n"
			    "CapPrm:\t0000000000000000\n"
			    "CapEff:\t0000000000000000\n"
			    "CapBnd:\t0000000000000000\n"
			    "CapAmb:\t0000000000000000\n"
			    "NoNewPrivs:\t1\n"
			    "Seccomp:\t2\n"
			    "airlock\n");
	assert_int_equal(r.kill, SBX_KILL_NONE);
	sbx_result_free(&r);
	assert_no_cgroups_left();
}

/*
 * init (a copy of the caller that stays for the whole run) is as
 * confined as the payload: no capability, no_new_privs, and the same two
 * seccomp filters (netwatch's and the main one, loaded once by init and
 * inherited by the payload at the fork: not twice).
 */
static void test_init_confined(void **state)
{
	struct sbx_spec s;
	struct sbx_result r;
	const char *want = "CapEff:\t0000000000000000\n"
			   "CapBnd:\t0000000000000000\n"
			   "NoNewPrivs:\t1\n"
			   "Seccomp:\t2\n"
			   "Seccomp_filters:\t2\n";
	char both[256];

	spec_init(&s, NULL);
	run_sh(&s, "for p in 1 self; do grep -E "
		   "'^(CapEff|CapBnd|NoNewPrivs|Seccomp|Seccomp_filters):' "
		   "/proc/$p/status; done", &r);
	assert_int_equal(r.exit_code, 0);
	snprintf(both, sizeof(both), "%s%s", want, want);
	assert_string_equal(r.output, both);
	sbx_result_free(&r);
	assert_no_cgroups_left();
}

/*
 * The child's side of test_mounts_gone_on_return; 0 when the tmpfs ended
 * at our umount, else which step failed.
 */
static int mounts_gone_child(void)
{
	const char *argv[] = { "/bin/sh", "-c", "echo x > /w/f", NULL };
	char dir[] = "/tmp/airlock-test-mnt-XXXXXX", buf[4096];
	struct sbx_bind bind = { .dst = "/w", .rw = true };
	struct sbx_spec s;
	struct sbx_result r;
	int in = -1, rc = 1;
	bool mounted = false;

	if (unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    !mkdtemp(dir))
		return 1;
	rc = 2;
	if (mount("tmpfs", dir, "tmpfs", 0, "size=1m,mode=0777") != 0)
		goto out;
	mounted = true;
	in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (in < 0 || inotify_add_watch(in, dir, IN_UNMOUNT) < 0)
		goto out;
	rc = 3;
	bind.src = dir;
	spec_init(&s, NULL);
	s.binds = &bind;
	s.nbinds = 1;
	s.argv = argv;
	/* No cmocka assertion in this child: it would run on as the test
	 * runner. */
	if (sbx_run(&s, &r) != 0)
		goto out;
	int code = r.exit_code;
	sbx_result_free(&r);
	if (code != 0)
		goto out;
	rc = 4;
	if (umount2(dir, 0) != 0)
		goto out;
	mounted = false;
	/* Queued by the umount itself if it ended the filesystem. */
	ssize_t n = read(in, buf, sizeof(buf));
	const struct inotify_event *ev = (const void *)buf;
	rc = n >= (ssize_t)sizeof(*ev) && (ev->mask & IN_UNMOUNT) ? 0 : 5;
out:
	if (in >= 0)
		close(in);
	if (mounted)
		umount2(dir, MNT_DETACH);
	rmdir(dir);
	return rc;
}

/*
 * Every mount of the sandbox is gone when sbx_run returns: the kernel
 * unmounts the sandbox's tree when the last reference to its mount
 * namespace goes, in init's exit, and sbx_run returns only after that
 * (holding a reference anywhere, or returning before init has exited,
 * would break this). A tmpfs of our own, bound into the sandbox, shows
 * it: inotify reports IN_UNMOUNT only when the filesystem itself ends,
 * which any mount of it left in the sandbox's namespace would prevent.
 * In a child with a private mount namespace, so the host's mounts are
 * never touched.
 */
static void test_mounts_gone_on_return(void **state)
{
	int st = 0;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(mounts_gone_child());
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* The payload sees its own pid namespace: pid 1 is the sandbox's init. */
static void test_pid_namespace(void **state)
{
	struct sbx_spec s;
	struct sbx_result r;
	char *end;

	spec_init(&s, NULL);
	run_sh(&s, "echo $$; ls /proc | grep -c '^[0-9]'", &r);
	assert_int_equal(r.exit_code, 0);
	/* The shell is pid 2 (init is 1); only a handful of pids exist. */
	long self = strtol(r.output, &end, 10);
	long count = strtol(end, NULL, 10);
	assert_int_equal(self, 2);
	assert_in_range(count, 2, 6);
	sbx_result_free(&r);
}

/* Only the spec's variables reach the payload. */
static void test_environment_is_only_the_spec(void **state)
{
	const char *argv[] = { "env", NULL };
	struct sbx_spec s;
	struct sbx_result r;

	assert_int_equal(setenv("AIRLOCK_TEST_SECRET", "leak", 1), 0);
	spec_init(&s, argv);
	assert_int_equal(sbx_run(&s, &r), 0);
	assert_string_equal(r.output, "PATH=/usr/bin:/bin\nHOME=/tmp\n"
				      "LANG=C\n");
	sbx_result_free(&r);

	/* Registry mode adds exactly the proxy variables. */
	const char *allow[] = { "127.0.0.1:9", NULL };
	s.net = SBX_NET_REGISTRY;
	s.allow = allow;
	assert_int_equal(sbx_run(&s, &r), 0);
	assert_non_null(strstr(r.output, "\nHTTPS_PROXY=http://127.0.0.1:3128"
					 "\n"));
	assert_non_null(strstr(r.output, "\nnpm_config_proxy="));
	assert_null(strstr(r.output, "AIRLOCK_TEST_SECRET"));
	sbx_result_free(&r);
	unsetenv("AIRLOCK_TEST_SECRET");
	assert_no_cgroups_left();
}

/* A descriptor the caller left open (no O_CLOEXEC) does not leak in. */
static void test_no_inherited_descriptors(void **state)
{
	struct sbx_spec s;
	struct sbx_result r;
	int leak = open("/etc/hostname", O_RDONLY);

	assert_true(leak > 2);
	spec_init(&s, NULL);
	/* ls lists the shell's descriptors, not its own. */
	run_sh(&s, "ls /proc/$$/fd", &r);
	close(leak);
	assert_int_equal(r.exit_code, 0);
	assert_string_equal(r.output, "0\n1\n2\n");
	sbx_result_free(&r);
}

static void test_filesystem_is_read_only(void **state)
{
	char *ws = make_workspace(), *ro = make_workspace();
	struct sbx_bind binds[] = { { ws, "/work", true },
				    { ro, "/ro", false } };
	struct sbx_spec s;
	struct sbx_result r;
	struct al_buf b = { 0 };
	char path[512];

	spec_init(&s, NULL);
	s.binds = binds;
	s.nbinds = 2;
	s.workdir = "/work";
	run_sh(&s,
	       "for p in /usr/x /etc/x /x /bin/x /dev/x /ro/x /proc/x; do "
	       "  (echo pwned > $p) 2>/dev/null && echo WROTE $p; done; "
	       "echo ok > /tmp/t && cat /tmp/t; "
	       "echo from-sandbox > /work/out && echo $PWD", &r);
	assert_int_equal(r.exit_code, 0);
	assert_string_equal(r.output, "ok\n/work\n");
	sbx_result_free(&r);

	snprintf(path, sizeof(path), "%s/out", ws);
	assert_int_equal(al_read_file(path, 100, &b), 0);
	assert_string_equal(b.p, "from-sandbox\n");
	al_buf_free(&b);
	snprintf(path, sizeof(path), "%s/x", ro);
	assert_int_equal(access(path, F_OK), -1);
	drop_workspace(ws);
	drop_workspace(ro);
	assert_no_cgroups_left();
}

/* mount() and new namespaces are refused with EPERM. */
static void test_mount_and_unshare_refused(void **state)
{
	char script[512];
	struct sbx_spec s;
	struct sbx_result r;

	spec_init(&s, NULL);
	snprintf(script, sizeof(script),
		 "perl -e 'my ($s, $d, $t) = (\"none\", \"/tmp\", \"tmpfs\");"
		 " $r = syscall(%d, $s, $d, $t, 0, 0);"
		 " print \"mount $r \", $!+0, \"\\n\"'; "
		 "perl -e '$r = syscall(%d, 0x10000000); "
		 "print \"unshare $r \", $!+0, \"\\n\"'; "
		 "perl -e 'my $d = \"/tmp\"; $r = syscall(%d, $d); "
		 "print \"chroot $r \", $!+0, \"\\n\"'",
		 SYS_mount, SYS_unshare, SYS_chroot);
	run_sh(&s, script, &r);
	char want[128];
	snprintf(want, sizeof(want), "mount -1 %d\nunshare -1 %d\n"
		 "chroot -1 %d\n", EPERM, EPERM, EPERM);
	assert_string_equal(r.output, want);
	sbx_result_free(&r);
}

static void test_memory_bomb_is_oom_killed(void **state)
{
	const char *argv[] = { "dd", "if=/dev/zero", "of=/dev/null",
			       "bs=256M", "count=1", NULL };
	struct sbx_spec s;
	struct sbx_result r;

	spec_init(&s, argv);
	s.mem_bytes = 48u << 20;
	assert_int_equal(sbx_run(&s, &r), 0);
	assert_int_equal(r.kill, SBX_KILL_OOM);
	assert_int_equal(r.signal, SIGKILL);
	assert_int_equal(r.exit_code, 128 + SIGKILL);
	assert_true(r.mem_peak > 0);
	assert_true(r.mem_peak <= (48u << 20) + (1u << 20));
	sbx_result_free(&r);
	assert_no_cgroups_left();

	/* The same command within the limit is not killed. */
	spec_init(&s, argv);
	argv[3] = "bs=1M";
	assert_int_equal(sbx_run(&s, &r), 0);
	assert_int_equal(r.kill, SBX_KILL_NONE);
	assert_int_equal(r.exit_code, 0);
	sbx_result_free(&r);
}

static void test_timeout_kills_the_whole_tree(void **state)
{
	char script[512], marker[32];
	struct sbx_spec s;
	struct sbx_result r;
	unsigned m = marker_number();

	snprintf(marker, sizeof(marker), "sleep %u", m);
	snprintf(script, sizeof(script),
		 "trap '' TERM HUP INT; "
		 "sh -c 'trap \"\" TERM HUP; setsid sh -c \"sleep %u\" & "
		 "sleep %u' & sleep %u; echo not-reached", m, m, m);
	spec_init(&s, NULL);
	s.timeout_s = 1;
	run_sh(&s, script, &r);
	assert_int_equal(r.kill, SBX_KILL_TIMEOUT);
	assert_int_equal(r.signal, SIGKILL);
	assert_null(strstr(r.output, "not-reached"));
	assert_false(proc_with_marker(marker));
	sbx_result_free(&r);
	assert_no_cgroups_left();
}

static void test_fork_bomb_stops_at_pid_limit(void **state)
{
	char script[256], marker[32];
	struct sbx_spec s;
	struct sbx_result r;
	unsigned m = marker_number();

	snprintf(marker, sizeof(marker), "sleep %u", m);
	snprintf(script, sizeof(script),
		 "i=0; while [ $i -lt 200 ]; do sleep %u & i=$((i+1)); done;"
		 " wait", m);
	spec_init(&s, NULL);
	s.pids = 16;
	run_sh(&s, script, &r);
	assert_true(r.pids_limit_hit);
	assert_true(r.pids_peak <= 16);
	assert_true(r.pids_peak >= 8);
	assert_int_equal(r.kill, SBX_KILL_PIDS);
	assert_false(proc_with_marker(marker));
	sbx_result_free(&r);
	assert_no_cgroups_left();
}

/*
 * On cgroup v2 the child is cloned into its cgroup with clone3; where
 * clone3 is refused with ENOSYS (old kernels, a container runtime's
 * seccomp policy), sbx_run clones as before and moves the child in: the
 * limits must hold either way. Run from a child process under a filter
 * answering ENOSYS for clone3 (on v1 hosts this is the only path).
 */
static void test_limits_hold_without_clone3(void **state)
{
	char script[256], marker[32];
	unsigned m = marker_number();
	int st = 0;

	snprintf(marker, sizeof(marker), "sleep %u", m);
	snprintf(script, sizeof(script),
		 "i=0; while [ $i -lt 200 ]; do sleep %u & i=$((i+1)); done;"
		 " wait", m);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const char *argv[] = { "/bin/sh", "-c", script, NULL };
		scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
		struct sbx_spec s;
		struct sbx_result r;
		/* No cmocka assertion in this child (see mounts_gone_child). */
		if (!ctx ||
		    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
				     seccomp_syscall_resolve_name("clone3"),
				     0) ||
		    seccomp_load(ctx))
			_exit(1);
		spec_init(&s, argv);
		s.pids = 16;
		if (sbx_run(&s, &r) != 0)
			_exit(2);
		_exit(r.pids_limit_hit && r.pids_peak <= 16 &&
		      r.pids_peak >= 8 && r.kill == SBX_KILL_PIDS ? 0 : 3);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_false(proc_with_marker(marker));
	assert_no_cgroups_left_by(pid);
}

static void test_output_is_capped_and_counted(void **state)
{
	struct sbx_spec s;
	struct sbx_result r;

	spec_init(&s, NULL);
	s.output_cap = 1000;
	run_sh(&s, "head -c 300000 /dev/zero | tr '\\0' a; echo done >&2",
	       &r);
	assert_int_equal(r.exit_code, 0);
	/* The first quarter, a marker, and the last three quarters: the
	 * end of the output (a test summary) survives the flood. */
	const char *marker = "\n[airlock: 299005 bytes of output cut here]\n";
	assert_int_equal(r.output_len, 1000 + strlen(marker));
	assert_int_equal(strlen(r.output), r.output_len);
	assert_memory_equal(r.output + 250, marker, strlen(marker));
	assert_string_equal(r.output + r.output_len - 5, "done\n");
	assert_int_equal(r.output[0], 'a');
	assert_int_equal(r.output_total, 300005);
	assert_true(r.truncated);

	json_t *j = sbx_result_json(&r);
	assert_int_equal(json_integer_value(json_object_get(j,
							    "output_bytes")),
			 (json_int_t)r.output_len);
	assert_true(json_is_true(json_object_get(j, "truncated")));
	assert_string_equal(json_string_value(json_object_get(j,
							      "kill_reason")),
			    "none");
	json_decref(j);
	sbx_result_free(&r);
}

/* The live copy is sanitised; the captured copy is raw. */
static void test_stream_is_sanitised(void **state)
{
	struct sbx_spec s;
	struct sbx_result r;
	int p[2];
	char buf[256] = "";

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	spec_init(&s, NULL);
	s.stream_fd = p[1];
	run_sh(&s, "printf 'a\\033[2Jb\\n'", &r);
	close(p[1]);
	assert_true(read(p[0], buf, sizeof(buf) - 1) > 0);
	close(p[0]);
	assert_string_equal(buf, "a?[2Jb\n");
	assert_string_equal(r.output, "a\033[2Jb\n");
	char *t = sbx_output_text(&r);
	assert_string_equal(t, "a?[2Jb\n");
	free(t);
	sbx_result_free(&r);
}

/* none: only lo, no route; a host listener on 127.0.0.1 is unreachable. */
static void test_net_none_reaches_nothing(void **state)
{
	char script[512];
	unsigned port;
	struct sbx_spec s;
	struct sbx_result r;
	int lfd = tcp_listener(&port);

	snprintf(script, sizeof(script),
		 "sed -n 's/^ *\\([a-z0-9]*\\):.*/\\1/p' /proc/net/dev; "
		 "tail -n +2 /proc/net/route | wc -l; "
		 "bash -c 'echo x > /dev/tcp/127.0.0.1/%u' 2>/dev/null "
		 "&& echo CONNECTED; true", port);
	spec_init(&s, NULL);
	run_sh(&s, script, &r);
	assert_string_equal(r.output, "lo\n0\n");
	sbx_result_free(&r);

	struct pollfd pf = { lfd, POLLIN, 0 };
	assert_int_equal(poll(&pf, 1, 0), 0); /* nobody came */
	close(lfd);
}

static const char proxy_script[] =
	"req() { exec 3<>/dev/tcp/127.0.0.1/3128 || exit 9; "
	"printf \"$1\" >&3; cat <&3; exec 3<&-; echo; }; "
	"req 'GET http://127.0.0.1:%u/ok HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'; "
	"req 'GET http://127.0.0.1:%u/no HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'; "
	"req 'CONNECT 127.0.0.1:%u HTTP/1.1\\r\\n\\r\\nGET /tunnel "
	"HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'; "
	"req 'CONNECT LOCALHOST:%u HTTP/1.1\\r\\n\\r\\n'; "
	"req 'GARBAGE\\r\\n\\r\\n'; "
	"req 'GET https://127.0.0.1:%u/ HTTP/1.1\\r\\n\\r\\n'; "
	"req 'CONNECT 127.0.0.1:99999 HTTP/1.1\\r\\n\\r\\n'; "
	"req 'GET http://127.0.0.1:%u@evil/ HTTP/1.1\\r\\n\\r\\n'";

static void test_registry_proxy_allows_only_the_list(void **state)
{
	struct test_http ok, other;
	struct test_events ev = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct al_event_sink sink = { test_emit, &ev };
	char script[1024], allow1[64], allow2[64], want[128];
	struct sbx_spec s;
	struct sbx_result r;

	http_start(&ok);
	http_start(&other);
	snprintf(allow1, sizeof(allow1), "127.0.0.1:%u", ok.port);
	snprintf(allow2, sizeof(allow2), "localhost:%u", ok.port);
	const char *allow[] = { allow1, allow2, NULL };
	snprintf(script, sizeof(script), proxy_script, ok.port, other.port,
		 ok.port, ok.port, ok.port, ok.port);
	const char *argv[] = { "bash", "-c", script, NULL };

	spec_init(&s, argv);
	s.net = SBX_NET_REGISTRY;
	s.allow = allow;
	s.events = &sink;
	assert_int_equal(sbx_run(&s, &r), 0);

	/* Allowed absolute-form: forwarded in origin form, with the Host
	 * the proxy checked, not the client's ("x"). */
	assert_non_null(strstr(r.output, "HTTP/1.1 200 OK"));
	assert_non_null(strstr(r.output, "hello-airlock"));
	snprintf(want, sizeof(want), "127.0.0.1:%u", ok.port);
	assert_string_equal(ok.first_host, want);
	/* The other port: refused, and its server never saw a request. */
	assert_non_null(strstr(r.output, "HTTP/1.1 403 Forbidden"));
	assert_int_equal(atomic_load(&other.requests), 0);
	/* CONNECT to an allowed literal, then a tunnel. */
	assert_non_null(strstr(r.output, "200 Connection established"));
	/* An allowed name (matched case-insensitively) that resolves to
	 * loopback is refused after resolution. */
	assert_non_null(strstr(strstr(r.output, "HTTP/1.1 403 Forbidden") + 1,
			       "HTTP/1.1 403 Forbidden"));
	assert_int_equal(atomic_load(&ok.requests), 2);
	assert_string_equal(ok.last_target, "/tunnel");
	/* Garbage, https absolute-form, a bad port, userinfo: all 400. */
	const char *p400 = r.output;
	int n400 = 0;
	while ((p400 = strstr(p400, "HTTP/1.1 400 Bad Request"))) {
		n400++;
		p400++;
	}
	assert_int_equal(n400, 4);
	assert_int_equal(r.proxy_allowed, 2);
	assert_int_equal(r.proxy_denied, 6);

	snprintf(want, sizeof(want), "proxy.deny 127.0.0.1:%u job=test-job",
		 other.port);
	assert_non_null(strstr(ev.log, want));
	snprintf(want, sizeof(want), "proxy.allow 127.0.0.1:%u job=test-job",
		 ok.port);
	assert_non_null(strstr(ev.log, want));
	snprintf(want, sizeof(want), "proxy.deny LOCALHOST:%u job=test-job",
		 ok.port);
	assert_non_null(strstr(ev.log, want));
	assert_non_null(strstr(ev.log, "sandbox.create "));
	assert_non_null(strstr(ev.log, "sandbox.destroy "));
	sbx_result_free(&r);
	http_stop(&ok);
	http_stop(&other);
	assert_no_cgroups_left();
}

/* npm opens many connections at once: all are served. */
static void test_registry_proxy_concurrent(void **state)
{
	struct test_http ok;
	char script[512], allow1[64];
	struct sbx_spec s;
	struct sbx_result r;

	http_start(&ok);
	snprintf(allow1, sizeof(allow1), "127.0.0.1:%u", ok.port);
	const char *allow[] = { allow1, NULL };
	snprintf(script, sizeof(script),
		 "for i in $(seq 1 20); do ( exec 3<>/dev/tcp/127.0.0.1/3128;"
		 " sleep 0.2; printf 'GET http://127.0.0.1:%u/c HTTP/1.1\\r\\n"
		 "Host: x\\r\\n\\r\\n' >&3; grep -c hello-airlock <&3 ) & "
		 "done; wait", ok.port);
	const char *argv[] = { "bash", "-c", script, NULL };

	spec_init(&s, argv);
	s.net = SBX_NET_REGISTRY;
	s.allow = allow;
	assert_int_equal(sbx_run(&s, &r), 0);
	assert_string_equal(r.output, "1\n1\n1\n1\n1\n1\n1\n1\n1\n1\n"
				      "1\n1\n1\n1\n1\n1\n1\n1\n1\n1\n");
	assert_int_equal(r.proxy_allowed, 20);
	assert_int_equal(atomic_load(&ok.requests), 20);
	sbx_result_free(&r);
	http_stop(&ok);
	assert_no_cgroups_left();
}

static void test_allow_list_matching(void **state)
{
	const char *allow[] = { "Registry.Example:8443", "mirror.example",
				"[::1]:4873", "bad entry", NULL };

	assert_true(sbx_proxy_allowed(allow, "registry.example", 8443));
	assert_false(sbx_proxy_allowed(allow, "registry.example", 443));
	assert_true(sbx_proxy_allowed(allow, "MIRROR.example", 443));
	assert_true(sbx_proxy_allowed(allow, "mirror.example", 80));
	assert_false(sbx_proxy_allowed(allow, "mirror.example", 8080));
	assert_false(sbx_proxy_allowed(allow, "evil.mirror.example", 443));
	assert_true(sbx_proxy_allowed(allow, "::1", 4873));
	assert_false(sbx_proxy_allowed(allow, "bad entry", 80));
	assert_false(sbx_proxy_allowed(NULL, "mirror.example", 443));
}

static void *cancel_when_running(void *arg)
{
	const char *marker = arg;

	/* Bounded, so a broken run cannot leave this thread behind. */
	for (int i = 0; i < 3000 && !proc_with_marker(marker); i++)
		usleep(20000);
	sbx_cancel_all();
	return NULL;
}

static void test_cancel_tears_down(void **state)
{
	char script[128], marker[32];
	struct sbx_spec s;
	struct sbx_result r;
	pthread_t th;
	unsigned m = marker_number();

	snprintf(marker, sizeof(marker), "sleep %u", m);
	snprintf(script, sizeof(script), "sleep %u", m);
	spec_init(&s, NULL);
	assert_int_equal(pthread_create(&th, NULL, cancel_when_running,
					marker), 0);
	run_sh(&s, script, &r);
	pthread_join(th, NULL);
	assert_int_equal(r.kill, SBX_KILL_CANCEL);
	assert_false(proc_with_marker(marker));
	sbx_result_free(&r);

	/* While cancelled, nothing new starts. */
	const char *argv[] = { "true", NULL };
	spec_init(&s, argv);
	assert_int_equal(sbx_run(&s, &r), AL_E_INTERRUPTED);
	sbx_cancel_reset();
	assert_int_equal(sbx_run(&s, &r), 0);
	assert_int_equal(r.exit_code, 0);
	sbx_result_free(&r);
	assert_no_cgroups_left();
}

/*
 * A child that fails a setup step closes its end of the channel the
 * parent releases it through; the parent's next release must fail
 * quietly, not raise SIGPIPE, whose default would kill the caller (an
 * update job) outright. The step fails fast here (a writable bind whose
 * nested destination is a symlink the payload could have planted), so
 * the race is lost often; the runs happen in a child process that keeps
 * SIGPIPE's default action, as a job's process does.
 */
static void test_early_failure_does_not_kill_the_caller(void **state)
{
	char ws[] = "/tmp/airlock-early-XXXXXX", link[64];
	int st;

	assert_non_null(mkdtemp(ws));
	assert_int_equal(chown(ws, SBX_DEFAULT_UID, SBX_DEFAULT_GID), 0);
	snprintf(link, sizeof(link), "%s/evil", ws);
	assert_int_equal(symlink("/var/empty-airlock", link), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const char *argv[] = { "/bin/true", NULL };
		struct sbx_bind b[] = { { ws, "/work", true },
					{ "/usr/share", "/work/evil/x", false } };
		struct sbx_spec sp;
		struct sbx_result r;
		signal(SIGPIPE, SIG_DFL);
		for (int i = 0; i < 40; i++) {
			spec_init(&sp, argv);
			sp.binds = b;
			sp.nbinds = 2;
			if (sbx_run(&sp, &r) == 0) {
				sbx_result_free(&r);
				_exit(3); /* the nested bind must be refused */
			}
		}
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	unlink(link);
	rmdir(ws);
	if (WIFSIGNALED(st))
		fail_msg("the caller was killed by signal %d", WTERMSIG(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/*
 * A caller that ignores SIGPIPE (every daemon does) and blocks SIGTERM
 * in its thread must not pass either to the payload: both survive fork
 * and exec, and a test suite would then run with signals that do not
 * work as on any other machine.
 */
static void test_payload_gets_default_signals(void **state)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	sigset_t term, oldmask;
	struct sbx_spec s;
	struct sbx_result r;

	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	assert_int_equal(sigaction(SIGPIPE, &ign, &old), 0);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, &term, &oldmask), 0);
	spec_init(&s, NULL);
	run_sh(&s, "grep -E '^Sig(Ign|Blk)' /proc/self/status", &r);
	pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
	sigaction(SIGPIPE, &old, NULL);
	assert_int_equal(r.exit_code, 0);
	assert_non_null(strstr(r.output, "SigIgn:\t0000000000000000"));
	assert_non_null(strstr(r.output, "SigBlk:\t0000000000000000"));
	sbx_result_free(&r);
}

/* Hostile or malformed specs are refused before anything is created. */
static void test_bad_specs_are_refused(void **state)
{
	const char *argv[] = { "true", NULL };
	const char *empty[] = { NULL };
	const char *bad_env[] = { "=x", NULL };
	struct sbx_bind into_usr = { "/tmp", "/usr/lib/x", true };
	struct sbx_bind dotdot = { "/tmp", "/work/../usr", true };
	struct sbx_bind relative = { "tmp", "/work", true };
	struct sbx_bind missing = { "/nonexistent-airlock", "/work", true };
	struct sbx_bind onto_root = { "/tmp", "/", true };
	const struct sbx_bind *bad[] = { &into_usr, &dotdot, &relative,
					 &missing, &onto_root };
	struct sbx_spec s;
	struct sbx_result r;

	spec_init(&s, empty);
	assert_int_equal(sbx_run(&s, &r), -EINVAL);
	spec_init(&s, argv);
	s.host_uid = 0;
	assert_int_equal(sbx_run(&s, &r), -EINVAL);
	spec_init(&s, argv);
	s.env = bad_env;
	assert_int_equal(sbx_run(&s, &r), -EINVAL);
	spec_init(&s, argv);
	s.workdir = "relative";
	assert_int_equal(sbx_run(&s, &r), -EINVAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		spec_init(&s, argv);
		s.binds = bad[i];
		s.nbinds = 1;
		assert_true(sbx_run(&s, &r) < 0);
	}
	/* A command that does not exist inside: a setup error, reaped. */
	const char *nocmd[] = { "airlock-no-such-command", NULL };
	spec_init(&s, nocmd);
	assert_int_equal(sbx_run(&s, &r), AL_E_SANDBOX);
	/* A workdir that does not exist inside: the same. */
	spec_init(&s, argv);
	s.workdir = "/nonexistent";
	assert_int_equal(sbx_run(&s, &r), AL_E_SANDBOX);
	assert_no_cgroups_left();
}

/*
 * A spec refused before anything is set up closes none of the caller's
 * descriptors: the daemon's workers run one sandbox after another, and
 * closing a descriptor they hold (here 0, which a zeroed cgroup record
 * once named) would close whatever reused that number next.
 */
static void test_refused_spec_closes_nothing(void **state)
{
	const char *empty[] = { NULL };
	struct sbx_spec s;
	struct sbx_result r;
	int saved = dup(0), p[2];

	(void)state;
	assert_true(saved >= 0);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(dup2(p[0], 0), 0);
	spec_init(&s, empty);
	assert_int_equal(sbx_run(&s, &r), -EINVAL);
	assert_true(fcntl(0, F_GETFD) >= 0);
	assert_true(fcntl(p[0], F_GETFD) >= 0 && fcntl(p[1], F_GETFD) >= 0);
	assert_int_equal(dup2(saved, 0), 0);
	close(saved);
	close(p[0]);
	close(p[1]);
}

static void test_kill_names(void **state)
{
	assert_string_equal(sbx_kill_name(SBX_KILL_NONE), "none");
	assert_string_equal(sbx_kill_name(SBX_KILL_TIMEOUT), "timeout");
	assert_string_equal(sbx_kill_name(SBX_KILL_OOM), "oom");
	assert_string_equal(sbx_kill_name(SBX_KILL_PIDS), "pids");
	assert_string_equal(sbx_kill_name(SBX_KILL_SIGNAL), "signal");
	assert_string_equal(sbx_kill_name((enum sbx_kill)99), "unknown");
}

/* A payload killed by a signal it did not handle. */
/*
 * The program every sandbox loads was compiled when airlock was built
 * (gen/seccomp_gen.c); it must be the one seccomp.c builds, instruction
 * for instruction, so that a stale or altered copy cannot stand in for
 * the filter that the attack tests and docs/sandbox.md describe.
 */
static void test_builtin_seccomp_program_is_current(void **state)
{
	struct sock_fprog prog = { 0 };

	(void)state;
	assert_int_equal(sbx_seccomp_build(&prog, NULL), 0);
	assert_int_equal(prog.len, sbx_seccomp_prog_len);
	assert_memory_equal(prog.filter, sbx_seccomp_prog,
			    prog.len * sizeof(struct sock_filter));
	free(prog.filter);
}

static void test_signal_is_reported(void **state)
{
	struct sbx_spec s;
	struct sbx_result r;

	spec_init(&s, NULL);
	run_sh(&s, "kill -SEGV $$", &r);
	assert_int_equal(r.signal, SIGSEGV);
	assert_int_equal(r.exit_code, 128 + SIGSEGV);
	assert_int_equal(r.kill, SBX_KILL_SIGNAL);
	sbx_result_free(&r);
	spec_init(&s, NULL);
	run_sh(&s, "exit 7", &r);
	assert_int_equal(r.exit_code, 7);
	assert_int_equal(r.signal, 0);
	assert_int_equal(r.kill, SBX_KILL_NONE);
	sbx_result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused_spec_closes_nothing),
		cmocka_unit_test(test_kill_names),
		cmocka_unit_test(test_builtin_seccomp_program_is_current),
		cmocka_unit_test(test_allow_list_matching),
		cmocka_unit_test(test_host_check),
		cmocka_unit_test(test_host_check_names_missing_kernel_interfaces),
		cmocka_unit_test(test_identity_and_capabilities),
		cmocka_unit_test(test_init_confined),
		cmocka_unit_test(test_mounts_gone_on_return),
		cmocka_unit_test(test_pid_namespace),
		cmocka_unit_test(test_environment_is_only_the_spec),
		cmocka_unit_test(test_no_inherited_descriptors),
		cmocka_unit_test(test_filesystem_is_read_only),
		cmocka_unit_test(test_mount_and_unshare_refused),
		cmocka_unit_test(test_signal_is_reported),
		cmocka_unit_test(test_memory_bomb_is_oom_killed),
		cmocka_unit_test(test_timeout_kills_the_whole_tree),
		cmocka_unit_test(test_fork_bomb_stops_at_pid_limit),
		cmocka_unit_test(test_limits_hold_without_clone3),
		cmocka_unit_test(test_output_is_capped_and_counted),
		cmocka_unit_test(test_stream_is_sanitised),
		cmocka_unit_test(test_net_none_reaches_nothing),
		cmocka_unit_test(test_registry_proxy_allows_only_the_list),
		cmocka_unit_test(test_registry_proxy_concurrent),
		cmocka_unit_test(test_cancel_tears_down),
		cmocka_unit_test(test_bad_specs_are_refused),
		cmocka_unit_test(test_early_failure_does_not_kill_the_caller),
		cmocka_unit_test(test_payload_gets_default_signals),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_sandbox needs root\n");
		return 1;
	}
	/* SBX_TEST_FILTER=test_name runs one test (for debugging). */
	if (getenv("SBX_TEST_FILTER"))
		cmocka_set_test_filter(getenv("SBX_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
