/*
 * syscalls.c - THREATS.md "System calls", native entry point: each
 * attempt makes a real use of a call that would let a payload reshape
 * the sandbox, reach the kernel's privileged surface or another process.
 *
 * What stops each: the seccomp filter (src/sandbox/seccomp.c) answers
 * EPERM for the calls it names, ENOSYS for calls not on its allowlist
 * (clone3, numbers beyond the table), EAFNOSUPPORT or EPROTONOSUPPORT
 * for refused socket families. Several attempts would also fail for lack
 * of capabilities; the line printed carries the error, and the test
 * (test_attack_syscalls.c) checks it is the filter's answer, so a
 * missing rule shows even where another control would still hold.
 * Several others would succeed without the filter (unshare and clone of
 * a user namespace, keyctl, add_key, ptrace and process_vm_writev on a
 * child, perf_event_open, userfaultfd, io_uring, vsock, uevent netlink,
 * AF_ALG, modify_ldt).
 *
 * Lines "allowed NAME: ok" are controls: calls a job needs, which the
 * filter must let through. A control that fails prints "BROKEN" and makes
 * the exit status 2.
 */
#include "attack.h"

#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/if_alg.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/netlink.h>
#include <linux/perf_event.h>
#include <linux/sched.h>
#include <linux/userfaultfd.h>
#include <linux/vm_sockets.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static int broken;

/* A call a job needs must succeed. */
static void control(const char *name, long rc)
{
	int err = errno;

	if (rc >= 0) {
		printf("allowed %s: ok\n", name);
	} else {
		printf("BROKEN %s: %s\n", name, strerror(err));
		broken++;
	}
	fflush(stdout);
}

/* A child that waits to be killed, as a target in our own sandbox. */
static volatile long target_word = 1;

static pid_t idle_child(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		for (;;)
			pause();
	}
	return pid;
}

static void end_child(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

/*
 * Raw clone with fork semantics and the given flags. If it ever works,
 * the new process exits at once; the parent reaps it and reports 0.
 */
static long clone_with(unsigned long flags)
{
	long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);

	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	return pid > 0 ? 0 : -1;
}

static void namespaces(void)
{
	static const struct {
		const char *name;
		unsigned long flag;
	} ns[] = {
		{ "clone CLONE_NEWUSER", CLONE_NEWUSER },
		{ "clone CLONE_NEWNS", CLONE_NEWNS },
		{ "clone CLONE_NEWPID", CLONE_NEWPID },
		{ "clone CLONE_NEWNET", CLONE_NEWNET },
		{ "clone CLONE_NEWIPC", CLONE_NEWIPC },
		{ "clone CLONE_NEWUTS", CLONE_NEWUTS },
		{ "clone CLONE_NEWCGROUP", CLONE_NEWCGROUP },
	};
	struct clone_args ca = { .flags = CLONE_NEWUSER,
				 .exit_signal = SIGCHLD };
	int fd;

	ATTACK_EXPECT_FAIL("unshare", unshare(CLONE_NEWUSER | CLONE_NEWNS));
	fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	ATTACK_EXPECT_FAIL("setns", setns(fd, CLONE_NEWNET));
	close(fd);
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
		ATTACK_EXPECT_FAIL(ns[i].name, clone_with(ns[i].flag));
	/* The kernel reads only the low 32 bits of clone's flags. */
	ATTACK_EXPECT_FAIL("clone CLONE_NEWUSER (high bits)",
			   clone_with(CLONE_NEWUSER | (1UL << 32)));
	long pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	ATTACK_EXPECT_FAIL("clone3", pid);
	control("clone (fork)", clone_with(0));
}

static void mounts(void)
{
	struct mount_attr ma = { .attr_clr = MOUNT_ATTR_RDONLY };
	int fd, mfd;

	ATTACK_EXPECT_FAIL("mount", syscall(SYS_mount, "none", "/tmp",
					    "tmpfs", 0UL, "size=1m"));
	ATTACK_EXPECT_FAIL("umount2", syscall(SYS_umount2, "/proc", 2));
	ATTACK_EXPECT_FAIL("pivot_root",
			   syscall(SYS_pivot_root, "/tmp", "/tmp"));
	ATTACK_EXPECT_FAIL("chroot", chroot("/tmp"));
	fd = (int)syscall(SYS_fsopen, "tmpfs", 0U);
	ATTACK_EXPECT_FAIL("fsopen", fd);
	ATTACK_EXPECT_FAIL("fsconfig", syscall(SYS_fsconfig, fd,
					       FSCONFIG_CMD_CREATE, NULL,
					       NULL, 0));
	mfd = (int)syscall(SYS_fsmount, fd, 0U, 0U);
	ATTACK_EXPECT_FAIL("fsmount", mfd);
	ATTACK_EXPECT_FAIL("move_mount",
			   syscall(SYS_move_mount, mfd, "", AT_FDCWD, "/tmp",
				   MOVE_MOUNT_F_EMPTY_PATH));
	ATTACK_EXPECT_FAIL("open_tree", syscall(SYS_open_tree, AT_FDCWD,
						"/usr", OPEN_TREE_CLONE));
	ATTACK_EXPECT_FAIL("fspick",
			   syscall(SYS_fspick, AT_FDCWD, "/usr", 0U));
	ATTACK_EXPECT_FAIL("mount_setattr",
			   syscall(SYS_mount_setattr, AT_FDCWD, "/usr", 0U,
				   &ma, sizeof(ma)));
}

static void kernel(void)
{
	union bpf_attr ba = { .map_type = BPF_MAP_TYPE_ARRAY,
			      .key_size = 4, .value_size = 4,
			      .max_entries = 1 };
	struct perf_event_attr pa = { .type = PERF_TYPE_SOFTWARE,
				      .size = sizeof(pa),
				      .config = PERF_COUNT_SW_CPU_CLOCK,
				      .exclude_kernel = 1,
				      .exclude_hv = 1 };
	struct io_uring_params up = { 0 };
	char ldt[16];
	int fd;

	ATTACK_EXPECT_FAIL("bpf", syscall(SYS_bpf, BPF_MAP_CREATE, &ba,
					  sizeof(ba)));
	ATTACK_EXPECT_FAIL("keyctl", syscall(SYS_keyctl,
					     KEYCTL_JOIN_SESSION_KEYRING,
					     "airlock-attack"));
	ATTACK_EXPECT_FAIL("add_key",
			   syscall(SYS_add_key, "user", "airlock-attack", "x",
				   1, KEY_SPEC_USER_KEYRING));
	ATTACK_EXPECT_FAIL("request_key",
			   syscall(SYS_request_key, "user", "airlock-attack",
				   NULL, KEY_SPEC_USER_KEYRING));
	ATTACK_EXPECT_FAIL("kexec_load",
			   syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0UL));
	ATTACK_EXPECT_FAIL("init_module",
			   syscall(SYS_init_module, "\177ELF", 4UL, ""));
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ATTACK_EXPECT_FAIL("finit_module",
			   syscall(SYS_finit_module, fd, "", 0));
	close(fd);
	ATTACK_EXPECT_FAIL("perf_event_open",
			   syscall(SYS_perf_event_open, &pa, 0, -1, -1, 0UL));
	ATTACK_EXPECT_FAIL("userfaultfd",
			   syscall(SYS_userfaultfd,
				   O_CLOEXEC | UFFD_USER_MODE_ONLY));
	ATTACK_EXPECT_FAIL("io_uring_setup",
			   syscall(SYS_io_uring_setup, 4, &up));
	ATTACK_EXPECT_FAIL("io_uring_enter",
			   syscall(SYS_io_uring_enter, 0, 0, 0, 0, NULL, 0));
	ATTACK_EXPECT_FAIL("io_uring_register",
			   syscall(SYS_io_uring_register, 0, 0, NULL, 0));
	ATTACK_EXPECT_FAIL("syslog", syscall(SYS_syslog, 10, NULL, 0));
	ATTACK_EXPECT_FAIL("modify_ldt",
			   syscall(SYS_modify_ldt, 0, ldt, sizeof(ldt)));
	ATTACK_EXPECT_FAIL("personality ADDR_NO_RANDOMIZE",
			   personality(ADDR_NO_RANDOMIZE));
	control("personality query", personality(0xffffffff));
	/* One past anything the kernel has: the filter's default. */
	ATTACK_EXPECT_FAIL("syscall 1000", syscall(1000, 0, 0, 0));
}

/* ptrace and cross-process memory writes, aimed at our own child. */
static void processes(void)
{
	long word = 2;
	struct iovec local = { &word, sizeof(word) };
	struct iovec remote = { (void *)&target_word, sizeof(word) };
	pid_t pid = idle_child();

	if (pid < 0) {
		printf("BROKEN fork: %s\n", strerror(errno));
		broken++;
		return;
	}
	ATTACK_EXPECT_FAIL("ptrace", ptrace(PTRACE_ATTACH, pid, 0, 0));
	ATTACK_EXPECT_FAIL("process_vm_writev",
			   syscall(SYS_process_vm_writev, pid, &local, 1UL,
				   &remote, 1UL, 0UL));
	ATTACK_EXPECT_FAIL("process_vm_readv",
			   syscall(SYS_process_vm_readv, pid, &local, 1UL,
				   &remote, 1UL, 0UL));
	end_child(pid);
}

static long raw_socket(unsigned long domain, int type, unsigned long proto)
{
	long fd = syscall(SYS_socket, domain, (unsigned long)type, proto);

	if (fd >= 0)
		close((int)fd);
	return fd;
}

static void sockets(void)
{
	int sv[2];

	ATTACK_EXPECT_FAIL("socket AF_PACKET",
			   raw_socket(AF_PACKET, SOCK_DGRAM, 0));
	ATTACK_EXPECT_FAIL("socket AF_VSOCK",
			   raw_socket(AF_VSOCK, SOCK_STREAM, 0));
	/* The kernel reads socket's arguments as int: high bits vanish. */
	ATTACK_EXPECT_FAIL("socket AF_VSOCK (high bits)",
			   raw_socket(AF_VSOCK | (1UL << 32), SOCK_STREAM,
				      0));
	ATTACK_EXPECT_FAIL("socket AF_ALG",
			   raw_socket(AF_ALG, SOCK_SEQPACKET, 0));
	ATTACK_EXPECT_FAIL("socket netlink uevent",
			   raw_socket(AF_NETLINK, SOCK_DGRAM,
				      NETLINK_KOBJECT_UEVENT));
	ATTACK_EXPECT_FAIL("socket netlink audit",
			   raw_socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT));
	ATTACK_EXPECT_FAIL("socket netlink sock_diag",
			   raw_socket(AF_NETLINK, SOCK_RAW,
				      NETLINK_SOCK_DIAG));
	ATTACK_EXPECT_FAIL("socket netlink audit (high bits)",
			   raw_socket(AF_NETLINK, SOCK_RAW,
				      NETLINK_AUDIT | (1UL << 32)));
	ATTACK_EXPECT_FAIL("socketpair AF_NETLINK",
			   socketpair(AF_NETLINK, SOCK_DGRAM, 0, sv));

	control("socket AF_UNIX", raw_socket(AF_UNIX, SOCK_STREAM, 0));
	control("socket AF_INET", raw_socket(AF_INET, SOCK_STREAM, 0));
	control("socket AF_INET6", raw_socket(AF_INET6, SOCK_DGRAM, 0));
	control("socket netlink route",
		raw_socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
		control("socketpair AF_UNIX", 0);
		close(sv[0]);
		close(sv[1]);
	} else {
		control("socketpair AF_UNIX", -1);
	}
}

int main(void)
{
	namespaces();
	mounts();
	kernel();
	processes();
	sockets();
	if (broken)
		return 2;
	return attack_exit();
}
