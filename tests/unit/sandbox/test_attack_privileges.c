/*
 * test_attack_privileges.c - runs tests/attacks/privileges as the payload
 * of a real sandbox (root needed): capabilities, file capabilities,
 * setuid-root programs, mount flags, cgroupfs and /sys, /proc/sys,
 * masked /proc paths, init's memory, /dev and devpts; and (layout) the
 * tree and init as built since 2026-12-05. Each test checks
 * the attempts were refused and that the host is as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "attack_run.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/util.h"
#include "sandbox/sandbox.h"

static char *make_dir(uid_t uid)
{
	char *dir = attack_dir("/tmp", uid);

	assert_non_null(dir);
	return dir;
}

/* Copy the attack program to dir/name with the given owner and mode. */
static void copy_prog(const char *dir, const char *name, uid_t uid,
		      mode_t mode)
{
	char src[512], dst[512];
	struct al_buf b = { 0 };

	snprintf(src, sizeof(src), "%s/privileges", getenv("AL_ATTACKS_DIR"));
	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	assert_int_equal(al_read_file(src, 64u << 20, &b), 0);
	int fd = open(dst, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0700);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b.p, b.len), (ssize_t)b.len);
	close(fd);
	al_buf_free(&b);
	assert_int_equal(chown(dst, uid, uid), 0);
	assert_int_equal(chmod(dst, mode), 0);
}

/*
 * File capabilities as setcap would write them (VFS_CAP_REVISION_2):
 * CAP_SYS_ADMIN and CAP_DAC_READ_SEARCH, permitted and effective.
 */
static void set_file_caps(const char *path)
{
	struct vfs_cap_data d;
	uint64_t want = (1ull << CAP_SYS_ADMIN) | (1ull << CAP_DAC_READ_SEARCH);
	char back[64];

	memset(&d, 0, sizeof(d));
	d.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE;
	d.data[0].permitted = (uint32_t)want;
	d.data[1].permitted = (uint32_t)(want >> 32);
	assert_int_equal(setxattr(path, "security.capability", &d,
				  XATTR_CAPS_SZ_2, 0), 0);
	assert_int_equal(getxattr(path, "security.capability", back,
				  sizeof(back)), XATTR_CAPS_SZ_2);
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; p && (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void test_privileges(void **state)
{
	struct attack_host host;
	struct sbx_spec s;
	struct sbx_result r;
	char why[256], path[512];
	struct stat st;
	char *ws = make_dir(0), *rw = make_dir(SBX_DEFAULT_UID);
	/* A terminal of the host's own, which must not be visible. */
	int pty = posix_openpt(O_RDWR | O_NOCTTY);
	struct sbx_bind binds[] = { { ws, "/ws", false },
				    { rw, "/work", true } };

	assert_true(pty >= 0);
	copy_prog(ws, "capbin", 0, 0755);
	snprintf(path, sizeof(path), "%s/capbin", ws);
	set_file_caps(path);
	copy_prog(ws, "suidbin", 0, 04755);

	attack_host_snapshot(&host);
	attack_spec(&s);
	s.binds = binds;
	s.nbinds = 2;
	assert_int_equal(attack_run(&s, "privileges", "/work", &r), 0);
	printf("%s", r.output);
	assert_null(strstr(r.output, "ESCAPED"));
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(count(r.output, "refused caps-"), 5);
	assert_int_equal(count(r.output, "refused filecap-exec: report euid="
				"1000 capeff=0000000000000000"), 1);
	assert_int_equal(count(r.output, "refused setuid-exec: report euid="
				"1000 capeff=0000000000000000"), 1);
	assert_int_equal(count(r.output, "refused mount-flags"), 1);
	assert_int_equal(count(r.output, "refused mount-writable"), 1);
	assert_int_equal(count(r.output, "refused cgroupfs-mounted"), 1);
	assert_int_equal(count(r.output, "refused proc-sys-write"), 4);
	assert_int_equal(count(r.output, "refused proc-sys-readonly"), 1);
	assert_int_equal(count(r.output, "refused proc-mask-file"), 13);
	assert_int_equal(count(r.output, "refused proc-mask-dir"), 7);
	assert_int_equal(count(r.output, "refused init-"), 7);
	assert_int_equal(count(r.output, "refused dev-"), 5);
	assert_int_equal(count(r.output, "refused rlimit-"), 12);
	sbx_result_free(&r);

	/* The host: unchanged, the planted programs as they were. */
	if (attack_host_changed(&host, why, sizeof(why)))
		fail_msg("%s", why);
	snprintf(path, sizeof(path), "%s/suidbin", ws);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 04755);
	assert_int_equal(st.st_uid, 0);
	close(pty);
}

/*
 * A bind source with a symlink in any component is refused, even when
 * the link points at a harmless directory: the source is resolved
 * without following links, so a link planted in a workspace (or on the
 * way to it) can never redirect a bind to a host path.
 */
static void test_bind_source_symlink_refused(void **state)
{
	struct attack_host host;
	struct sbx_spec s;
	struct sbx_result r;
	char *dir = make_dir(SBX_DEFAULT_UID), link[512], via[600], why[256];
	const char *argv[] = { "/bin/true", NULL };

	snprintf(link, sizeof(link), "%s/link", dir);
	assert_int_equal(symlink("/etc", link), 0);
	snprintf(via, sizeof(via), "%s/link/ssl", dir);
	attack_host_snapshot(&host);
	attack_spec(&s);
	s.argv = argv;
	struct sbx_bind b1[] = { { link, "/x", false } };
	s.binds = b1;
	s.nbinds = 1;
	assert_int_equal(sbx_run(&s, &r), -ELOOP);
	struct sbx_bind b2[] = { { via, "/x", true } };
	s.binds = b2;
	assert_int_equal(sbx_run(&s, &r), -ELOOP);

	/* The same directory named without the link works. */
	struct sbx_bind b3[] = { { dir, "/x", true } };
	s.binds = b3;
	assert_int_equal(sbx_run(&s, &r), 0);
	assert_int_equal(r.exit_code, 0);
	sbx_result_free(&r);
	if (attack_host_changed(&host, why, sizeof(why)))
		fail_msg("%s", why);
}

/*
 * A nested bind destination under a writable bind that holds a symlink
 * (as a payload of an earlier run could leave) is refused: the mount
 * point is walked without following links, so nothing is created or
 * mounted on the host through it.
 */
static void test_nested_destination_symlink_refused(void **state)
{
	struct attack_host host;
	struct sbx_spec s;
	struct sbx_result r;
	/* The link leads to a directory the sandbox's id could write (the
	 * workspace of another job, say), outside /tmp (where the child
	 * assembles its new root, hiding the host's /tmp). */
	char *ws = make_dir(SBX_DEFAULT_UID);
	char *target = attack_dir("/var/tmp", SBX_DEFAULT_UID);
	char *src = make_dir(0), link[512], planted[600], why[256];
	const char *argv[] = { "/bin/true", NULL };

	snprintf(link, sizeof(link), "%s/evil", ws);
	assert_int_equal(symlink(target, link), 0);
	struct sbx_bind binds[] = { { ws, "/work", true },
				    { src, "/work/evil/sub", false } };
	attack_host_snapshot(&host);
	attack_spec(&s);
	s.argv = argv;
	s.binds = binds;
	s.nbinds = 2;
	assert_int_equal(sbx_run(&s, &r), AL_E_SANDBOX);
	snprintf(planted, sizeof(planted), "%s/sub", target);
	assert_int_equal(access(planted, F_OK), -1);
	if (attack_host_changed(&host, why, sizeof(why)))
		fail_msg("%s", why);
}

/*
 * The tree and init as they are since /dev became a directory of the
 * root and the /proc masks a clone of /proc's own directory (layout.c
 * lists the attempts): every write, unmount, remount and other path
 * refused, the covers in place after all of it, init untouched.
 */
static void test_layout(void **state)
{
	struct attack_host host;
	struct sbx_spec s;
	struct sbx_result r;
	char why[256];

	attack_host_snapshot(&host);
	attack_spec(&s);
	assert_int_equal(attack_run(&s, "layout", NULL, &r), 0);
	printf("%s", r.output);
	assert_null(strstr(r.output, "ESCAPED"));
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(count(r.output, "refused dev-write-"), 15);
	assert_int_equal(count(r.output, "refused mask-write-"), 11);
	assert_int_equal(count(r.output, "refused mask-unmount"), 17);
	assert_int_equal(count(r.output, "refused mask-remount-"), 3);
	assert_int_equal(count(r.output, "refused mask-newapi-"), 5);
	assert_int_equal(count(r.output, "refused mask-path"), 64);
	assert_int_equal(count(r.output, "refused mask-file"), 7);
	assert_int_equal(count(r.output, "refused init-signal-"), 8);
	assert_int_equal(count(r.output, "refused init-fd-"), 17);
	assert_int_equal(count(r.output, "refused init-getfd"), 16);
	assert_int_equal(count(r.output, "refused init-cmdline"), 1);
	assert_int_equal(count(r.output, "refused init-prlimit-raise"), 1);
	assert_int_equal(count(r.output, "refused cgroup-path"), 1);
	sbx_result_free(&r);
	if (attack_host_changed(&host, why, sizeof(why)))
		fail_msg("%s", why);
}

/* Does any process on the host have needle in its command line? */
static bool host_proc_with(const char *needle)
{
	DIR *d = opendir("/proc");
	bool hit = false;

	for (struct dirent *e; d && !hit && (e = readdir(d));) {
		char p[300], buf[512];
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%s/cmdline", e->d_name);
		int fd = open(p, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (fd >= 0)
			close(fd);
		for (ssize_t i = 0; i < n; i++)
			buf[i] = buf[i] ? buf[i] : ' ';
		buf[n > 0 ? n : 0] = '\0';
		hit = n > 0 && strstr(buf, needle) != NULL;
	}
	if (d)
		closedir(d);
	return hit;
}

/*
 * The payload exits while children of it re-fork without end (each
 * parent exits at once, so one is always mid-fork when init reports
 * and the counters are read): none of them outlives sbx_run, and the
 * cgroups are gone.
 */
static void test_no_process_outlives_exit(void **state)
{
	struct attack_host host;
	struct sbx_spec s;
	struct sbx_result r;
	char mark[64], why[256];

	snprintf(mark, sizeof(mark), "hop-%d-%ld", (int)getpid(),
		 (long)al_mono_ms());
	attack_host_snapshot(&host);
	for (int i = 0; i < 5; i++) {
		attack_spec(&s);
		assert_int_equal(attack_run(&s, "layout", mark, &r), 0);
		assert_int_equal(r.exit_code, 0);
		sbx_result_free(&r);
		assert_false(host_proc_with(mark));
	}
	if (attack_host_changed(&host, why, sizeof(why)))
		fail_msg("%s", why);
}

/*
 * Holds init still at the payload's fork (a ptrace fork event, from a
 * thread of ours, init's parent), lets the payload run alone for a
 * while, then lets init go: what a busy CPU could do to init right
 * after the fork.
 */
static void *hold_init_at_fork(void *arg)
{
	pid_t me = *(pid_t *)arg, init = -1, payload;
	char path[64], buf[64];
	int st = 0;

	/* init: our main thread's one child, once it is there. */
	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)me);
	for (int i = 0; i < 20000 && init <= 0; i++) {
		FILE *f = fopen(path, "re");
		if (f && fgets(buf, sizeof(buf), f))
			init = (pid_t)strtol(buf, NULL, 10);
		if (f)
			fclose(f);
		if (init <= 0)
			usleep(100);
	}
	if (init <= 0 || ptrace(PTRACE_SEIZE, init, NULL,
				(void *)(long)PTRACE_O_TRACEFORK) != 0)
		return (void *)1;
	while (waitpid(init, &st, __WALL) == init) {
		if (st >> 8 == (SIGTRAP | (PTRACE_EVENT_FORK << 8)))
			break;
		/* Any other stop: let it go on with its signal. */
		ptrace(PTRACE_CONT, init, NULL,
		       (void *)(long)(WIFSTOPPED(st) &&
				      WSTOPSIG(st) != SIGTRAP
				      ? WSTOPSIG(st) : 0));
	}
	unsigned long msg = 0;
	ptrace(PTRACE_GETEVENTMSG, init, NULL, &msg);
	payload = (pid_t)msg;
	waitpid(payload, &st, __WALL); /* its first stop, as a tracee */
	ptrace(PTRACE_DETACH, payload, NULL, NULL);
	usleep(300000);
	ptrace(PTRACE_DETACH, init, NULL, NULL);
	return NULL;
}

/*
 * /proc/1/cmdline needs no ptrace access: init's copy of the caller's
 * command line (a repository URL with credentials, for the update
 * job) must be zero before the payload exists, not raced by it.
 */
static void test_init_cmdline_wiped_before_payload(void **state)
{
	struct sbx_spec s;
	struct sbx_result r;
	pthread_t t;
	pid_t me = (pid_t)syscall(SYS_gettid);
	void *held = NULL;

	attack_spec(&s);
	assert_int_equal(pthread_create(&t, NULL, hold_init_at_fork, &me), 0);
	assert_int_equal(attack_run(&s, "layout", "cmdline", &r), 0);
	assert_int_equal(pthread_join(t, &held), 0);
	printf("%s", r.output);
	assert_null(held);
	assert_non_null(strstr(r.output, "init-cmdline"));
	assert_null(strstr(r.output, "ESCAPED"));
	assert_int_equal(r.exit_code, 0);
	sbx_result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_privileges, attack_cleanup),
		cmocka_unit_test_teardown(test_layout, attack_cleanup),
		cmocka_unit_test_teardown(test_no_process_outlives_exit,
					  attack_cleanup),
		cmocka_unit_test_teardown(
			test_init_cmdline_wiped_before_payload,
			attack_cleanup),
		cmocka_unit_test_teardown(test_bind_source_symlink_refused,
					  attack_cleanup),
		cmocka_unit_test_teardown(
			test_nested_destination_symlink_refused,
			attack_cleanup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
