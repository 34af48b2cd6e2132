/*
 * seccomp.c - the system call filter every sandboxed process runs under.
 *
 * The program is built in the parent and handed to the child as raw BPF,
 * so that the child (cloned from a process that may have other threads)
 * needs no allocation to load it. It has two parts:
 *
 * 1. A short hand-written prefix that checks the architecture and the
 *    arguments of the few calls allowed only for some arguments.
 *    libseccomp cannot say "allow ioctl unless its low 32 bits are
 *    TIOCSTI" (an unconditional rule overrides conditional ones for the
 *    same call), and it is the low 32 bits the kernel acts on for ioctl,
 *    socket, clone and personality: comparing the full 64-bit register
 *    would let a request with high bits set slip past a deny rule.
 *
 * 2. An allowlist compiled by libseccomp: the calls below pass, a
 *    well-known set of dangerous calls fails with EPERM, and everything
 *    else fails with ENOSYS.
 *
 * Why an allowlist: a denylist lets through every call added to the
 * kernel after it was written, and new calls (io_uring, the new mount
 * API, userfaultfd) are where the exploitable bugs have been. The list
 * was derived from strace -f of what jobs really run: npm install of a
 * tarball with an install script (node, sh, ls, tr) and of a registry
 * package, node --test with worker threads, child processes, fs.watch,
 * zlib, crypto, an http server on loopback and DNS; python3 unittest
 * with threads, multiprocessing, sockets and sqlite; bash with
 * coreutils, tar, find, sed, awk, timeout; git init, commit, log, diff,
 * gc. Every call seen there is allowed. To that are added the calls of
 * the same families that ordinary programs use (the rest of the file,
 * time, signal, IPC and memory calls a libc exposes), so that a test
 * runner we did not trace does not break on a sibling of a traced call.
 * Left out are calls that change the system or the sandbox, reach into
 * other processes or the kernel, or exist for privileged tools only.
 *
 * Why ENOSYS for unlisted calls: programs probe new system calls and
 * fall back when the kernel says it does not have them: glibc tries
 * clone3 before clone (threads) and fchmodat2 before its emulation, and
 * falls back on ENOSYS only; EPERM there is a hard failure (a runtime
 * that cannot start threads). The calls named in sbx_refused
 * exist on every kernel we run on; for them EPERM ("not permitted") is
 * the honest answer and what tools expect when namespaces or keyrings
 * are forbidden.
 *
 * Other ABIs: a filter sees the system call number of the entry point
 * used. A 32-bit call through int 0x80 has another table (i386 mount is
 * 21, which is x86_64's access), and on kernels built with the x32 ABI
 * a number with bit 30 set reaches x32 calls. Either would dodge every
 * rule here, so a non-native architecture or a number with the x32 bit
 * kills the process. libseccomp adds the same checks; the prefix does
 * them itself so they do not depend on the library's version.
 */
#include "sandbox/internal.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"

#if defined(__x86_64__)
#define SBX_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SBX_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "the sandbox's seccomp filter knows x86_64 and aarch64 only"
#endif

/*
 * Allowed whatever their arguments (ioctl, clone, socket, socketpair
 * and personality are checked by the prefix first). Grouped by what
 * they are for; a name this libseccomp does not know is left out, which
 * means refused.
 */
static const char *const sbx_allowed[] = {
	/* processes and threads; clone3 is absent on purpose (ENOSYS) */
	"clone", "fork", "vfork", "execve", "execveat", "exit",
	"exit_group", "wait4", "waitid", "set_tid_address",
	"set_robust_list", "futex", "futex_waitv", "rseq", "arch_prctl",
	"get_thread_area", "set_thread_area", "prctl", "personality",
	"gettid", "getpid", "getppid", "getpgid", "getpgrp", "setpgid",
	"getsid", "setsid", "sched_yield", "sched_getaffinity",
	"sched_setaffinity", "sched_getparam", "sched_setparam",
	"sched_getscheduler", "sched_setscheduler", "sched_getattr",
	"sched_setattr", "sched_get_priority_max", "sched_get_priority_min",
	"sched_rr_get_interval", "getpriority", "setpriority",
	"ioprio_get", "ioprio_set", "getcpu", "getrlimit", "setrlimit",
	"prlimit64", "getrusage", "times", "uname", "sysinfo",
	"membarrier", "restart_syscall", "pidfd_open", "pidfd_send_signal",
	"seccomp", "landlock_create_ruleset", "landlock_add_rule",
	"landlock_restrict_self",
	/* identity: without capabilities these only read or keep ids */
	"getuid", "geteuid", "getgid", "getegid", "getresuid",
	"getresgid", "getgroups", "setuid", "setgid", "setreuid",
	"setregid", "setresuid", "setresgid", "setfsuid", "setfsgid",
	"setgroups", "capget", "capset",
	/* signals */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending",
	"rt_sigtimedwait", "rt_sigsuspend", "rt_sigqueueinfo",
	"rt_tgsigqueueinfo", "sigaltstack", "kill", "tkill", "tgkill",
	"pause", "alarm", "signalfd", "signalfd4",
	/* memory */
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise",
	"msync", "mincore", "mlock", "mlock2", "munlock", "mlockall",
	"munlockall", "remap_file_pages", "memfd_create",
	"pkey_alloc", "pkey_free", "pkey_mprotect", "get_mempolicy",
	"set_mempolicy", "mbind",
	/* time */
	"time", "gettimeofday", "clock_gettime", "clock_getres",
	"clock_nanosleep", "nanosleep", "getitimer", "setitimer",
	"timer_create", "timer_settime", "timer_gettime",
	"timer_getoverrun", "timer_delete", "timerfd_create",
	"timerfd_settime", "timerfd_gettime",
	/* descriptors and I/O */
	"read", "write", "readv", "writev", "pread64", "pwrite64",
	"preadv", "pwritev", "preadv2", "pwritev2", "lseek", "close",
	"close_range", "dup", "dup2", "dup3", "pipe", "pipe2", "fcntl",
	"ioctl", "flock", "fsync", "fdatasync", "sync", "syncfs",
	"sync_file_range", "fadvise64", "readahead", "fallocate",
	"sendfile", "splice", "tee", "vmsplice", "copy_file_range",
	"poll", "ppoll", "select", "pselect6", "epoll_create",
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"epoll_pwait2", "eventfd", "eventfd2", "inotify_init",
	"inotify_init1", "inotify_add_watch", "inotify_rm_watch",
	"io_setup", "io_destroy", "io_submit", "io_cancel",
	"io_getevents", "io_pgetevents", "getrandom",
	/* files and paths */
	"open", "openat", "openat2", "creat", "stat", "fstat", "lstat",
	"newfstatat", "statx", "statfs", "fstatfs", "access",
	"faccessat", "faccessat2", "getdents", "getdents64", "getcwd",
	"chdir", "fchdir", "mkdir", "mkdirat", "rmdir", "rename",
	"renameat", "renameat2", "link", "linkat", "unlink", "unlinkat",
	"symlink", "symlinkat", "readlink", "readlinkat", "chmod",
	"fchmod", "fchmodat", "chown", "fchown", "lchown", "fchownat",
	"umask", "truncate", "ftruncate", "utime", "utimes", "futimesat",
	"utimensat", "mknod", "mknodat", "setxattr", "lsetxattr",
	"fsetxattr", "getxattr", "lgetxattr", "fgetxattr", "listxattr",
	"llistxattr", "flistxattr", "removexattr", "lremovexattr",
	"fremovexattr",
	/* sockets (families checked by the prefix) */
	"socket", "socketpair", "connect", "accept", "accept4", "bind",
	"listen", "shutdown", "getsockname", "getpeername", "setsockopt",
	"getsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg",
	"sendmmsg", "recvmmsg",
	/* System V and POSIX IPC, private to the sandbox's IPC namespace */
	"shmget", "shmat", "shmdt", "shmctl", "semget", "semop",
	"semtimedop", "semctl", "msgget", "msgsnd", "msgrcv", "msgctl",
	"mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive",
	"mq_notify", "mq_getsetattr",
};

/*
 * Refused with EPERM. Not on the allowlist either, so removing a name
 * here only changes the answer to ENOSYS; the list says what we refuse
 * on purpose, and why.
 */
static const char *const sbx_refused[] = {
	/* reshaping the sandbox's view: mounts and the new mount API */
	"mount", "umount2", "pivot_root", "chroot", "move_mount",
	"open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
	"mount_setattr",
	/* new or other namespaces: a new user namespace gives back every
	 * capability, and with it the kernel's whole privileged surface */
	"unshare", "setns",
	/* reaching into other processes (secrets in node's memory, the
	 * sandbox's init) */
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
	"kcmp", "process_madvise", "process_mrelease", "get_robust_list",
	"migrate_pages", "move_pages",
	/* kernel attack surface used by exploits: eBPF programs, the
	 * keyrings shared by a uid, performance counters, page-fault
	 * stalling, io_uring (its own syscall-free I/O path) */
	"bpf", "keyctl", "add_key", "request_key", "perf_event_open",
	"userfaultfd", "io_uring_setup", "io_uring_enter",
	"io_uring_register",
	/* the system itself: modules, kexec, reboot, swap, clocks,
	 * accounting, quotas, raw I/O ports, the kernel log */
	"kexec_load", "kexec_file_load", "init_module", "finit_module",
	"delete_module", "reboot", "swapon", "swapoff", "acct",
	"quotactl", "quotactl_fd", "iopl", "ioperm", "syslog",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"sethostname", "setdomainname", "vhangup", "lookup_dcookie",
	/* files by handle bypass path checks; fanotify watches the
	 * whole mount */
	"open_by_handle_at", "name_to_handle_at", "fanotify_init",
	"fanotify_mark",
	/* old interfaces with a history of bugs */
	"modify_ldt", "uselib", "ustat", "sysfs", "_sysctl",
};

/* seccomp_data: nr at 0, arch at 4, then six 64-bit arguments. */
#define SBX_OFF_NR offsetof(struct seccomp_data, nr)
#define SBX_OFF_ARCH offsetof(struct seccomp_data, arch)
/* The low 32 bits of argument i (both our architectures are LE). */
#define SBX_OFF_ARG(i) (offsetof(struct seccomp_data, args) + 8 * (i))

/* Any of these in clone()'s flags creates a namespace. */
#define SBX_NS_FLAGS                                                      \
	(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |      \
	 CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)

/* Jump targets of the prefix. NEXT is the following instruction. */
enum sbx_lbl {
	NEXT,
	L_IOCTL, L_CLONE, L_SOCKET, L_SOCKETPAIR, L_PERSONALITY,
	L_KILL, L_EPERM, L_EAFNOSUPPORT, L_EPROTONOSUPPORT,
	L_ALLOWLIST, /* the first instruction of libseccomp's part */
	L_COUNT
};

/* One prefix entry: an instruction, or (op SBX_OP_LABEL) a label. */
struct sbx_ins {
	uint16_t op;
	uint32_t k;
	enum sbx_lbl jt, jf; /* BPF_JA: jt is the target */
};

#define SBX_OP_LABEL 0xffff
#define LABEL(l) { SBX_OP_LABEL, 0, l, NEXT }
#define LD(off) { BPF_LD | BPF_W | BPF_ABS, (uint32_t)(off), NEXT, NEXT }
#define JEQ(k, t, f) { BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(k), t, f }
#define JSET(k, t, f) { BPF_JMP | BPF_JSET | BPF_K, (uint32_t)(k), t, f }
#define JA(t) { BPF_JMP | BPF_JA, 0, t, NEXT }
#define RET(k) { BPF_RET | BPF_K, (uint32_t)(k), NEXT, NEXT }

static const struct sbx_ins sbx_prefix[] = {
	/* Native architecture only: another syscall table dodges all. */
	LD(SBX_OFF_ARCH),
	JEQ(SBX_AUDIT_ARCH, NEXT, L_KILL),
	LD(SBX_OFF_NR),
#ifdef __x86_64__
	/* -1 is "no call" (a tracer's skip); the default answers it. */
	JEQ(0xffffffffu, L_ALLOWLIST, NEXT),
	/* The x32 ABI's numbers: the same calls through another table. */
	JSET(__X32_SYSCALL_BIT, L_KILL, NEXT),
#endif
	JEQ(SYS_ioctl, L_IOCTL, NEXT),
	JEQ(SYS_clone, L_CLONE, NEXT),
	JEQ(SYS_socket, L_SOCKET, NEXT),
	JEQ(SYS_socketpair, L_SOCKETPAIR, NEXT),
	JEQ(SYS_personality, L_PERSONALITY, NEXT),
	JA(L_ALLOWLIST),

	/*
	 * TIOCSTI pushes bytes into a terminal's input queue, as if typed:
	 * a payload holding any descriptor to an operator's terminal could
	 * run commands in the shell reading it. TIOCLINUX can do the same
	 * on a virtual console (paste selection) and read its screen.
	 */
	LABEL(L_IOCTL),
	LD(SBX_OFF_ARG(1)),
	JEQ(TIOCSTI, L_EPERM, NEXT),
	JEQ(TIOCLINUX, L_EPERM, L_ALLOWLIST),

	/* Namespaces through clone: see unshare in sbx_refused. */
	LABEL(L_CLONE),
	LD(SBX_OFF_ARG(0)),
	JSET(SBX_NS_FLAGS, L_EPERM, L_ALLOWLIST),

	/*
	 * Sockets: local, IPv4 and IPv6 (the network namespace decides
	 * where they lead), and netlink for routes and addresses only
	 * (getifaddrs, node's os.networkInterfaces). Refused: packet
	 * sockets, vsock (a path to the hypervisor that network
	 * namespaces do not cover), the other netlink protocols (audit,
	 * uevents, netfilter, crypto) and the rarely used families whose
	 * code has held most of the kernel's socket bugs.
	 */
	LABEL(L_SOCKET),
	LD(SBX_OFF_ARG(0)),
	JEQ(AF_UNIX, L_ALLOWLIST, NEXT),
	JEQ(AF_INET, L_ALLOWLIST, NEXT),
	JEQ(AF_INET6, L_ALLOWLIST, NEXT),
	JEQ(AF_NETLINK, NEXT, L_EAFNOSUPPORT),
	LD(SBX_OFF_ARG(2)),
	JEQ(NETLINK_ROUTE, L_ALLOWLIST, L_EPROTONOSUPPORT),

	LABEL(L_SOCKETPAIR),
	LD(SBX_OFF_ARG(0)),
	JEQ(AF_UNIX, L_ALLOWLIST, L_EAFNOSUPPORT),

	/*
	 * personality: the query and the default only. Other flags turn
	 * off address randomisation for children (ADDR_NO_RANDOMIZE) or
	 * map page zero (MMAP_PAGE_ZERO), both exploitation aids.
	 */
	LABEL(L_PERSONALITY),
	LD(SBX_OFF_ARG(0)),
	JEQ(0, L_ALLOWLIST, NEXT),
	JEQ(0xffffffffu, L_ALLOWLIST, L_EPERM),

	LABEL(L_KILL),
	RET(SECCOMP_RET_KILL_PROCESS),
	LABEL(L_EPERM),
	RET(SECCOMP_RET_ERRNO | EPERM),
	LABEL(L_EAFNOSUPPORT),
	RET(SECCOMP_RET_ERRNO | EAFNOSUPPORT),
	LABEL(L_EPROTONOSUPPORT),
	RET(SECCOMP_RET_ERRNO | EPROTONOSUPPORT),
	LABEL(L_ALLOWLIST),
};

/* Jump offsets are 8 bits: the whole prefix must stay short. */
_Static_assert(AL_ARRAY_LEN(sbx_prefix) < 256, "prefix too long");

/*
 * Assemble the prefix into out (room for AL_ARRAY_LEN(sbx_prefix)):
 * labels become relative jump offsets. Returns the instruction count.
 */
static size_t sbx_prefix_assemble(struct sock_filter *out)
{
	size_t at[L_COUNT] = { 0 }, n = 0;

	for (size_t i = 0; i < AL_ARRAY_LEN(sbx_prefix); i++) {
		if (sbx_prefix[i].op == SBX_OP_LABEL)
			at[sbx_prefix[i].jt] = n;
		else
			n++;
	}
	n = 0;
	for (size_t i = 0; i < AL_ARRAY_LEN(sbx_prefix); i++) {
		const struct sbx_ins *s = &sbx_prefix[i];
		struct sock_filter *f = &out[n];

		if (s->op == SBX_OP_LABEL)
			continue;
		*f = (struct sock_filter){ s->op, 0, 0, s->k };
		if (s->op == (BPF_JMP | BPF_JA))
			f->k = (uint32_t)(at[s->jt] - n - 1);
		else if (BPF_CLASS(s->op) == BPF_JMP) {
			f->jt = s->jt ? (uint8_t)(at[s->jt] - n - 1) : 0;
			f->jf = s->jf ? (uint8_t)(at[s->jf] - n - 1) : 0;
		}
		n++;
	}
	return n;
}

static int sbx_add_list(scmp_filter_ctx ctx, uint32_t action,
			const char *const *names, size_t n)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);
		if (nr == __NR_SCMP_ERROR || nr < 0)
			continue; /* not on this architecture: refused */
		rc = seccomp_rule_add(ctx, action, nr, 0);
	}
	return rc;
}

/*
 * Export libseccomp's program through a memfd into a heap buffer, after
 * room for the prefix, which is assembled in front of it.
 */
static int sbx_seccomp_export(scmp_filter_ctx ctx, struct sock_fprog *prog)
{
	int rc, fd = memfd_create("airlock-seccomp", MFD_CLOEXEC);
	struct sock_filter *buf = NULL;
	size_t pre = AL_ARRAY_LEN(sbx_prefix), main_len;

	if (fd < 0)
		return -errno;
	rc = seccomp_export_bpf(ctx, fd);
	if (rc)
		goto out;
	off_t len = lseek(fd, 0, SEEK_END);
	if (len <= 0 || len % (off_t)sizeof(struct sock_filter)) {
		rc = -EINVAL;
		goto out;
	}
	main_len = (size_t)len / sizeof(struct sock_filter);
	buf = calloc(pre + main_len, sizeof(*buf));
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	pre = sbx_prefix_assemble(buf);
	if (pre + main_len > BPF_MAXINSNS) {
		rc = -E2BIG;
		goto out;
	}
	if (pread(fd, buf + pre, (size_t)len, 0) != len) {
		rc = -EIO;
		goto out;
	}
	prog->filter = buf;
	prog->len = (unsigned short)(pre + main_len);
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

int sbx_seccomp_build(struct sock_fprog *prog, const char *job)
{
	int rc;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(ENOSYS));

	if (!ctx) {
		al_error(SBX_MOD, job, "step=seccomp seccomp_init failed");
		return AL_E_SANDBOX;
	}
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
			      SCMP_ACT_KILL_PROCESS);
	/* The child sets no_new_privs itself, in its own named step. */
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	/* A binary tree: ~300 rules would otherwise be a linear scan. */
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (rc == 0)
		rc = sbx_add_list(ctx, SCMP_ACT_ALLOW, sbx_allowed,
				  AL_ARRAY_LEN(sbx_allowed));
	if (rc == 0)
		rc = sbx_add_list(ctx, SCMP_ACT_ERRNO(EPERM), sbx_refused,
				  AL_ARRAY_LEN(sbx_refused));
	if (rc == 0)
		rc = sbx_seccomp_export(ctx, prog);
	if (rc)
		al_error(SBX_MOD, job, "step=seccomp building the filter: %s",
			 al_strerror(rc));
	seccomp_release(ctx);
	return rc;
}
