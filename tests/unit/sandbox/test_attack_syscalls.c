/*
 * test_attack_syscalls.c - THREATS.md "System calls" and "Terminal and
 * ioctl": runs tests/attacks/syscalls, abi and tty as real sandbox
 * payloads (root needed) and checks that every attempt was refused with
 * the seccomp filter's answer, that the calls a job needs still work,
 * and that the host is unchanged: its mount table, the keyring count of
 * the sandbox's uid, no process or cgroup left behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attack_run.h"
#include "base/util.h"
#include "sandbox/sandbox.h"

/* ---- the host, before and after ---- */

struct host_state {
	char mountinfo[65536];
	char keys[256]; /* the sandbox uid's line of /proc/key-users */
};

static void read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t have = 0;
	ssize_t n;

	assert_true(fd >= 0);
	while (have < size - 1 &&
	       (n = read(fd, buf + have, size - 1 - have)) > 0)
		have += (size_t)n;
	buf[have] = '\0';
	assert_true(have < size - 1); /* the whole file fitted */
	close(fd);
}

static void host_snapshot(struct host_state *h)
{
	char all[16384], want[32];
	const char *line;

	read_file("/proc/self/mountinfo", h->mountinfo,
		  sizeof(h->mountinfo));
	read_file("/proc/key-users", all, sizeof(all));
	snprintf(want, sizeof(want), "%u:", (unsigned)SBX_DEFAULT_UID);
	h->keys[0] = '\0';
	for (line = all; line && *line; line = strchr(line, '\n')) {
		line += *line == '\n';
		line += strspn(line, " ");
		if (strncmp(line, want, strlen(want)) == 0) {
			snprintf(h->keys, sizeof(h->keys), "%.*s",
				 (int)strcspn(line, "\n"), line);
			break;
		}
	}
}

/* Does any process on the host run one of the attack programs? */
static int attack_process_left(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int found = 0;

	assert_non_null(d);
	while (!found && (e = readdir(d))) {
		char path[300], buf[512];
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		found = strncmp(buf, "/attacks/", 9) == 0;
	}
	closedir(d);
	return found;
}

static void assert_no_sbx_dir_in(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return; /* not a hierarchy on this host */
	while ((e = readdir(d)))
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			fail_msg("left behind: %s/%s", dir, e->d_name);
	closedir(d);
}

/*
 * No cgroup directory made for this test process is left, in any
 * hierarchy it belongs to (v1 controllers, a v2 or hybrid unified one).
 */
static void assert_no_cgroups_left(void)
{
	char line[1024], prefix[64], dir[2200];
	FILE *f = fopen("/proc/self/cgroup", "re");

	snprintf(prefix, sizeof(prefix), "airlock-sbx-%d-", (int)getpid());
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *ctl = strchr(line, ':'), *path;
		path = ctl ? strchr(ctl + 1, ':') : NULL;
		if (!path)
			continue;
		*ctl++ = '\0';
		*path++ = '\0';
		path[strcspn(path, "\n")] = '\0';
		if (strcmp(path, "/") == 0)
			path = "";
		if (*ctl == '\0') {
			snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s", path);
			assert_no_sbx_dir_in(dir, prefix);
			snprintf(dir, sizeof(dir), "/sys/fs/cgroup/unified%s",
				 path);
		} else {
			snprintf(dir, sizeof(dir), "/sys/fs/cgroup/%s%s", ctl,
				 path);
		}
		assert_no_sbx_dir_in(dir, prefix);
	}
	fclose(f);
}

static void assert_host_unchanged(const struct host_state *before)
{
	struct host_state after;

	host_snapshot(&after);
	assert_string_equal(after.mountinfo, before->mountinfo);
	assert_string_equal(after.keys, before->keys);
	assert_false(attack_process_left());
	assert_no_cgroups_left();
}

/* On failure: cmocka cuts long messages, so the output goes first. */
static void show_output(const struct sbx_result *r)
{
	fputs(r->output ? r->output : "(no output)\n", stderr);
	fflush(stderr);
}

/* Run an attack program; it must have exited 0 with no escape. */
static void run_attack(const char *name, struct sbx_result *r)
{
	struct sbx_spec s;

	attack_spec(&s);
	assert_int_equal(attack_run(&s, name, NULL, r), 0);
	if (r->exit_code != 0 || attack_said(r, "ESCAPED") ||
	    attack_said(r, "BROKEN")) {
		show_output(r);
		fail_msg("%s exited %d (lines above)", name, r->exit_code);
	}
	assert_int_equal(r->kill, SBX_KILL_NONE);
}

/* The line "refused NAME: strerror(err)" must be in the output. */
static void assert_refused(const struct sbx_result *r, const char *name,
			   int err)
{
	char line[256];

	snprintf(line, sizeof(line), "refused %s: %s\n", name,
		 strerror(err));
	if (!attack_said(r, line)) {
		show_output(r);
		fail_msg("no line \"%.*s\" (output above)",
			 (int)strlen(line) - 1, line);
	}
}

static void assert_allowed(const struct sbx_result *r, const char *name)
{
	char line[256];

	snprintf(line, sizeof(line), "allowed %s: ok\n", name);
	if (!attack_said(r, line)) {
		show_output(r);
		fail_msg("no line \"allowed %s: ok\" (output above)", name);
	}
}

/* ---- tests ---- */

/*
 * Native calls: the filter's answer for each. EPERM means a rule named
 * the call; a kernel without that rule would have answered otherwise for
 * most (EBADF, EFAULT, ENOTTY) or let it succeed.
 */
static void test_native_calls_refused(void **state)
{
	static const struct {
		const char *name;
		int err;
	} want[] = {
		{ "unshare", EPERM },
		{ "setns", EPERM },
		{ "clone CLONE_NEWUSER", EPERM },
		{ "clone CLONE_NEWNS", EPERM },
		{ "clone CLONE_NEWPID", EPERM },
		{ "clone CLONE_NEWNET", EPERM },
		{ "clone CLONE_NEWIPC", EPERM },
		{ "clone CLONE_NEWUTS", EPERM },
		{ "clone CLONE_NEWCGROUP", EPERM },
		{ "clone CLONE_NEWUSER (high bits)", EPERM },
		{ "clone3", ENOSYS },
		{ "mount", EPERM },
		{ "umount2", EPERM },
		{ "pivot_root", EPERM },
		{ "chroot", EPERM },
		{ "fsopen", EPERM },
		{ "fsconfig", EPERM },
		{ "fsmount", EPERM },
		{ "move_mount", EPERM },
		{ "open_tree", EPERM },
		{ "fspick", EPERM },
		{ "mount_setattr", EPERM },
		{ "bpf", EPERM },
		{ "keyctl", EPERM },
		{ "add_key", EPERM },
		{ "request_key", EPERM },
		{ "kexec_load", EPERM },
		{ "init_module", EPERM },
		{ "finit_module", EPERM },
		{ "perf_event_open", EPERM },
		{ "userfaultfd", EPERM },
		{ "io_uring_setup", EPERM },
		{ "io_uring_enter", EPERM },
		{ "io_uring_register", EPERM },
		{ "syslog", EPERM },
		{ "modify_ldt", EPERM },
		{ "personality ADDR_NO_RANDOMIZE", EPERM },
		{ "syscall 1000", ENOSYS },
		{ "ptrace", EPERM },
		{ "process_vm_writev", EPERM },
		{ "process_vm_readv", EPERM },
		{ "socket AF_PACKET", EAFNOSUPPORT },
		{ "socket AF_VSOCK", EAFNOSUPPORT },
		{ "socket AF_VSOCK (high bits)", EAFNOSUPPORT },
		{ "socket AF_ALG", EAFNOSUPPORT },
		{ "socket netlink uevent", EPROTONOSUPPORT },
		{ "socket netlink audit", EPROTONOSUPPORT },
		{ "socket netlink sock_diag", EPROTONOSUPPORT },
		{ "socket netlink audit (high bits)", EPROTONOSUPPORT },
		{ "socketpair AF_NETLINK", EAFNOSUPPORT },
	};
	static const char *const allowed[] = {
		"clone (fork)", "personality query", "socket AF_UNIX",
		"socket AF_INET", "socket AF_INET6", "socket netlink route",
		"socketpair AF_UNIX",
	};
	struct host_state before;
	struct sbx_result r;

	host_snapshot(&before);
	run_attack("syscalls", &r);
	for (size_t i = 0; i < AL_ARRAY_LEN(want); i++)
		assert_refused(&r, want[i].name, want[i].err);
	for (size_t i = 0; i < AL_ARRAY_LEN(allowed); i++)
		assert_allowed(&r, allowed[i]);
	sbx_result_free(&r);
	assert_host_unchanged(&before);
}

/* The same calls through int 0x80 and x32: the process is killed. */
static void test_other_abis_killed(void **state)
{
	static const char *const calls[] = {
		"getpid", "mount", "umount2", "pivot_root", "chroot",
		"setns", "unshare", "clone", "fsopen", "fsconfig",
		"fsmount", "move_mount", "open_tree", "fspick",
		"mount_setattr", "bpf", "keyctl", "add_key", "ptrace",
		"process_vm_writev", "kexec_load", "init_module",
		"perf_event_open", "userfaultfd", "io_uring_setup", "ioctl",
		"socket", "beyond the table",
	};
	static const char *const abis[] = { "int80", "x32" };
	struct host_state before;
	struct sbx_result r;
	char line[128];

	host_snapshot(&before);
	run_attack("abi", &r);
	for (size_t a = 0; a < AL_ARRAY_LEN(abis); a++)
		for (size_t i = 0; i < AL_ARRAY_LEN(calls); i++) {
			snprintf(line, sizeof(line),
				 "refused %s %s: killed by SIGSYS\n", abis[a],
				 calls[i]);
			if (!attack_said(&r, line)) {
				show_output(&r);
				fail_msg("no line \"%s\" (output above)",
					 line);
			}
		}
	sbx_result_free(&r);
	assert_host_unchanged(&before);
}

/* TIOCSTI and TIOCLINUX on fd, plain and with high bits: EPERM. */
static void assert_tty_requests_refused(const struct sbx_result *r,
					const char *fd)
{
	static const char *const reqs[] = { "TIOCSTI", "TIOCLINUX" };
	char name[64];

	for (size_t q = 0; q < AL_ARRAY_LEN(reqs); q++) {
		snprintf(name, sizeof(name), "%s %s", reqs[q], fd);
		assert_refused(r, name, EPERM);
		snprintf(name, sizeof(name), "%s %s (high bits)", reqs[q],
			 fd);
		assert_refused(r, name, EPERM);
	}
}

/*
 * TIOCSTI and TIOCLINUX, also with high bits in the request, on every
 * descriptor the payload has, and on a pty of its own when /dev/ptmx
 * exists inside; the pty part is skipped only with the reason printed.
 */
static void test_terminal_injection_refused(void **state)
{
	static const char *const fds[] = { "stdin", "stdout", "stderr" };
	static const char *const absent =
		"skip pty: /dev/ptmx cannot be opened inside the sandbox "
		"(No such file or directory)\n";
	struct host_state before;
	struct sbx_result r;

	host_snapshot(&before);
	run_attack("tty", &r);
	assert_allowed(&r, "ioctl FIONBIO");
	for (size_t f = 0; f < AL_ARRAY_LEN(fds); f++)
		assert_tty_requests_refused(&r, fds[f]);
	/* No controlling terminal: the new session has none. */
	assert_refused(&r, "open /dev/tty", ENXIO);
	if (attack_said(&r, absent)) {
		print_message("pty part skipped: /dev/ptmx is absent inside "
			      "the sandbox\n");
	} else {
		if (attack_said(&r, "skip pty:"))
			fail_msg("pty part skipped:\n%s", r.output);
		assert_tty_requests_refused(&r, "pty");
		assert_refused(&r, "TIOCSTI pty (queued input)", EAGAIN);
	}
	sbx_result_free(&r);
	assert_host_unchanged(&before);
}

/*
 * The allowlist still runs what jobs run: shells and coreutils, node
 * with worker threads and child processes, python3 with threads, git.
 * (npm installs run in the integration tests.)
 */
static void test_job_tools_run_under_the_filter(void **state)
{
	static const char script[] =
		"set -e; cd /tmp; "
		"bash -c 'x=$(echo a | tr a A); [ $x = A ]'; "
		"mkdir d; echo x > d/f; tar czf t.tgz d; rm -r d; "
		"tar xzf t.tgz; find d -type f | xargs cat >/dev/null; "
		"node -e \"const {Worker}=require('worker_threads');"
		"const w=new Worker('require(\\\"worker_threads\\\")"
		".parentPort.postMessage(6*7)',{eval:true});"
		"w.on('message',m=>{require('child_process')"
		".execSync('true');console.log('node',m);w.terminate()})\"; "
		"python3 -c \"import threading,subprocess;"
		"t=threading.Thread(target=print,args=('py',));t.start();"
		"t.join();subprocess.run(['true'],check=True)\"; "
		"git init -q r; cd r; echo x > y; git add y; "
		"git -c user.name=a -c user.email=a@b commit -qm m; "
		"git log --format=%s";
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct sbx_spec s;
	struct sbx_result r;

	attack_spec(&s);
	s.argv = argv;
	assert_int_equal(sbx_run(&s, &r), 0);
	if (r.exit_code != 0)
		fail_msg("exit %d:\n%s", r.exit_code, r.output);
	assert_string_equal(r.output, "node 42\npy\nm\n");
	sbx_result_free(&r);
	assert_no_cgroups_left();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_native_calls_refused),
		cmocka_unit_test(test_other_abis_killed),
		cmocka_unit_test(test_terminal_injection_refused),
		cmocka_unit_test(test_job_tools_run_under_the_filter),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_attack_syscalls needs root\n");
		return 1;
	}
	if (!getenv("AL_ATTACKS_DIR")) {
		fprintf(stderr, "AL_ATTACKS_DIR is not set\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
