/*
 * child.c - what runs inside the sandbox between clone and execve.
 *
 * The cloned child becomes init (pid 1) of the new pid namespace. It
 * waits until the parent has written its uid/gid maps and moved it into
 * the cgroups, builds the new root, then forks the payload and stays
 * behind as a minimal reaper: when it exits, the kernel kills every
 * process left in the namespace, so nothing outlives the sandbox.
 *
 * Both processes run named steps in order. A step returns 0 or a
 * negative errno; the first failure is reported to the parent as
 * "step<TAB>errno" on the error pipe and the process exits at once (fail
 * fast: nothing here may limp on with a weaker sandbox). Nothing here
 * allocates: the plan was prepared by the parent (see internal.h).
 */
#include "sandbox/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/securebits.h>

/* The new root is assembled on a tmpfs mounted here (in our own mount
 * namespace only), then made the root with pivot_root. */
#define NEWROOT "/tmp"

struct sbx_mount_attr {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};
#define SBX_ATTR_RDONLY 0x1
#define SBX_ATTR_NOSUID 0x2
#define SBX_ATTR_NODEV 0x4
#define SBX_ATTR_NOEXEC 0x8

struct sbx_step {
	const char *name;
	int (*run)(struct sbx_plan *plan);
};

static void sbx_report(const struct sbx_plan *plan, const char *step,
		       int err)
{
	char msg[128];
	int n = snprintf(msg, sizeof(msg), "%s\t%d\n", step, err);

	if (n > 0 && write(plan->err_w, msg, (size_t)n) < 0)
		_exit(126);
}

static void sbx_run_steps(struct sbx_plan *plan, const struct sbx_step *s,
			  size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc = s[i].run(plan);
		if (rc) {
			sbx_report(plan, s[i].name, rc < 0 ? -rc : rc);
			_exit(127);
		}
	}
}

static int sbx_setattr(const char *path, uint64_t set, bool recursive)
{
	struct sbx_mount_attr a = { .attr_set = set };

	if (syscall(SYS_mount_setattr, AT_FDCWD, path,
		    recursive ? AT_RECURSIVE : 0, &a, sizeof(a)) != 0)
		return -errno;
	return 0;
}

/* mkdir -p of the directories leading to (and, if dir, including) p. */
static int sbx_mkpath(const char *p, bool dir)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", p) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *s = buf + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (dir && mkdir(buf, 0755) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* ---- init's steps ---- */

/*
 * Move into the sandbox's v1 cgroups before anything else happens here,
 * so that everything below, and every process forked later, is counted
 * and limited. The descriptors were opened by the parent (cgroup.c says
 * why the child moves itself); none of them stays open.
 */
static int step_join_cgroups(struct sbx_plan *plan)
{
	int rc = 0;

	for (int c = 0; c < SBX_CG_N; c++) {
		int fd = plan->cg_join[c];
		if (fd < 0)
			continue;
		if (rc == 0 && write(fd, "0", 1) != 1)
			rc = -errno;
		close(fd);
		plan->cg_join[c] = -1;
	}
	return rc;
}

/* One byte from the parent; EOF means it died. */
static int sbx_gate(int fd)
{
	char c;
	ssize_t n;

	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -EPIPE;
}

/*
 * Block until the parent has written our id maps (and, on cgroup v2,
 * placed us in the cgroup): a payload must never run unconfined, even
 * briefly. EOF means the parent died, and we must not run without a
 * supervisor.
 */
static int step_wait_go(struct sbx_plan *plan)
{
	return sbx_gate(plan->go_r);
}

/*
 * The parent sets up the network (loopback, the proxy's socket) while
 * we build the root; the payload must not start before it is there.
 */
static int step_wait_network(struct sbx_plan *plan)
{
	int rc = sbx_gate(plan->go_r);

	close(plan->go_r);
	plan->go_r = -1;
	return rc;
}

/*
 * Stop mount events from propagating back to the host's namespace, so
 * nothing we mount below can appear (or be unmounted) outside.
 */
static int step_private_mounts(struct sbx_plan *plan)
{
	return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ? -errno : 0;
}

/*
 * Resolve every bind source now, in the host's view and with the
 * parent's path permissions, before the new root hides host paths. The
 * descriptors pin what the parent validated: a rename of a path
 * component afterwards cannot redirect the bind.
 */
static int step_open_sources(struct sbx_plan *plan)
{
	for (size_t i = 0; i < plan->nmnts; i++) {
		struct sbx_mnt *m = &plan->mnts[i];
		if (m->kind == SBX_SRC_LINK)
			continue;
		m->fd = open(m->src, O_PATH | O_CLOEXEC);
		if (m->fd < 0)
			return -errno;
	}
	return 0;
}

/*
 * Make the sandbox the kernel's first choice when memory runs out, not
 * the host's processes; inherited by everything forked inside. Done
 * before the id change, while /proc/self still belongs to us.
 */
static int step_oom_score(struct sbx_plan *plan)
{
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, "1000", 4) != 4)
		rc = -errno;
	close(fd);
	return rc;
}

/*
 * Become the one unprivileged id mapped into the namespace. setgroups
 * is denied by the parent, so no supplementary group from the host can
 * linger. Capabilities inside the namespace stay until the drop step.
 * Raw system calls: glibc's wrappers would try to change the ids of
 * every thread the caller had, which do not exist in this copy, and
 * wait for them forever.
 */
static int step_set_ids(struct sbx_plan *plan)
{
	if (syscall(SYS_setresgid, SBX_INSIDE_GID, SBX_INSIDE_GID,
		    SBX_INSIDE_GID) != 0)
		return -errno;
	if (syscall(SYS_setresuid, SBX_INSIDE_UID, SBX_INSIDE_UID,
		    SBX_INSIDE_UID) != 0)
		return -errno;
	return 0;
}

/*
 * Die with the parent (a crashed daemon must not leave sandboxes
 * running). Set first, and again after the id change, which clears it.
 */
static int step_parent_death(struct sbx_plan *plan)
{
	return prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) ? -errno : 0;
}

/*
 * A cgroup namespace rooted at the sandbox's cgroup hides the host's
 * cgroup layout (and the caller's container path) from the payload.
 */
static int step_cgroup_ns(struct sbx_plan *plan)
{
	return unshare(CLONE_NEWCGROUP) ? -errno : 0;
}

/* A fixed host name: the payload cannot learn or change the host's. */
static int step_hostname(struct sbx_plan *plan)
{
	size_t n = strlen(plan->hostname);

	return sethostname(plan->hostname, n) ? -errno : 0;
}

/*
 * The new root is an empty tmpfs: nothing of the host is visible unless
 * a later step binds it in on purpose. nosuid,nodev: no set-id program
 * or device node planted on it can be used.
 */
static int step_root_tmpfs(struct sbx_plan *plan)
{
	if (mount("tmpfs", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV,
		  "size=4m,mode=0755") != 0)
		return -errno;
	return 0;
}

/*
 * The writable scratch space: a tmpfs with a size cap, so a payload
 * cannot fill the host's disk or memory through /tmp.
 */
static int step_tmp(struct sbx_plan *plan)
{
	char opt[64];
	int rc = sbx_mkpath(NEWROOT "/tmp", true);

	if (rc)
		return rc;
	snprintf(opt, sizeof(opt), "size=%zu,mode=1777", plan->tmp_bytes);
	if (mount("tmpfs", NEWROOT "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
		  opt) != 0)
		return -errno;
	return 0;
}

static int sbx_bind_one(const struct sbx_mnt *m)
{
	char dst[PATH_MAX], src[64];
	int rc;
	uint64_t attr = SBX_ATTR_NOSUID;

	snprintf(dst, sizeof(dst), NEWROOT "%s", m->dst);
	if (m->kind == SBX_SRC_LINK) {
		rc = sbx_mkpath(dst, false);
		return rc ? rc : (symlink(m->src, dst) ? -errno : 0);
	}
	rc = sbx_mkpath(dst, m->kind == SBX_SRC_DIR);
	if (rc == 0 && m->kind == SBX_SRC_FILE) {
		int fd = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
		rc = fd < 0 ? -errno : (close(fd), 0);
	}
	if (rc)
		return rc;
	snprintf(src, sizeof(src), "/proc/self/fd/%d", m->fd);
	if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) != 0)
		return -errno;
	attr |= m->dev ? SBX_ATTR_NOEXEC : SBX_ATTR_NODEV;
	if (!m->rw && !m->dev)
		attr |= SBX_ATTR_RDONLY;
	return sbx_setattr(dst, attr, true);
}

/*
 * Bind the host image (/usr, the /lib links, a minimal /etc), the device
 * nodes and the caller's binds. Read-only unless the caller asked for rw,
 * recursively, so no submount of the host stays writable; nosuid on all,
 * nodev on all but the device nodes themselves (which get noexec).
 */
static int step_binds(struct sbx_plan *plan)
{
	for (size_t i = 0; i < plan->nmnts; i++) {
		int rc = sbx_bind_one(&plan->mnts[i]);
		if (rc)
			return rc;
	}
	return 0;
}

static int sbx_write_new(const char *path, const char *text)
{
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW |
				    O_CLOEXEC, 0644);
	size_t len = strlen(text);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		rc = -EIO;
	close(fd);
	return rc;
}

/*
 * passwd and group name only the sandbox's own id: the payload learns
 * nothing about the host's accounts.
 */
static int step_etc_files(struct sbx_plan *plan)
{
	int rc = sbx_mkpath(NEWROOT "/etc", true);

	if (rc == 0)
		rc = sbx_write_new(NEWROOT "/etc/passwd", plan->passwd);
	if (rc == 0)
		rc = sbx_write_new(NEWROOT "/etc/group", plan->group);
	if (rc == 0)
		rc = sbx_write_new(NEWROOT "/etc/hostname", plan->hostname);
	return rc;
}

/* /dev/fd and the std links that shells and node expect. */
static int step_dev_links(struct sbx_plan *plan)
{
	static const char *const l[][2] = {
		{ "/proc/self/fd", NEWROOT "/dev/fd" },
		{ "/proc/self/fd/0", NEWROOT "/dev/stdin" },
		{ "/proc/self/fd/1", NEWROOT "/dev/stdout" },
		{ "/proc/self/fd/2", NEWROOT "/dev/stderr" },
	};
	int rc = sbx_mkpath(NEWROOT "/dev", true);

	for (size_t i = 0; rc == 0 && i < sizeof(l) / sizeof(l[0]); i++)
		if (symlink(l[i][0], l[i][1]) != 0)
			rc = -errno;
	return rc;
}

/*
 * A proc of the new pid namespace: the payload sees only its own
 * processes, never the daemon's or other jobs' command lines.
 */
static int step_proc(struct sbx_plan *plan)
{
	int rc = sbx_mkpath(NEWROOT "/proc", true);

	if (rc)
		return rc;
	if (mount("proc", NEWROOT "/proc", "proc",
		  MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
		return -errno;
	return 0;
}

/* The source descriptors point into the host's tree: drop them. */
static int step_close_sources(struct sbx_plan *plan)
{
	for (size_t i = 0; i < plan->nmnts; i++) {
		if (plan->mnts[i].fd >= 0)
			close(plan->mnts[i].fd);
		plan->mnts[i].fd = -1;
	}
	return 0;
}

/* Nothing may be written to the root itself, only to binds and /tmp. */
static int step_root_readonly(struct sbx_plan *plan)
{
	return sbx_setattr(NEWROOT, SBX_ATTR_RDONLY | SBX_ATTR_NOSUID |
					    SBX_ATTR_NODEV, false);
}

/*
 * Make the new tree the root and detach the old one entirely, so no
 * path, ".." or stale cwd leads back to the host's filesystem (unlike
 * chroot, which leaves the old root reachable).
 */
static int step_pivot_root(struct sbx_plan *plan)
{
	if (chdir(NEWROOT) != 0)
		return -errno;
	if (syscall(SYS_pivot_root, ".", ".") != 0)
		return -errno;
	if (umount2(".", MNT_DETACH) != 0)
		return -errno;
	return chdir("/") ? -errno : 0;
}

/* ---- steps shared by init and the payload ---- */

/*
 * Drop every capability: the bounding set (so no later exec can regain
 * one), ambient, inheritable, permitted and effective; and lock the
 * securebits so uid 0 semantics can never grant them back.
 */
static int step_drop_caps(struct sbx_plan *plan)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	for (int cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 &&
		    errno != EINVAL)
			return -errno;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
		return -errno;
	if (prctl(PR_SET_SECUREBITS,
		  SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
			  SECBIT_NO_SETUID_FIXUP |
			  SECBIT_NO_SETUID_FIXUP_LOCKED |
			  SECBIT_KEEP_CAPS_LOCKED |
			  SECBIT_NO_CAP_AMBIENT_RAISE |
			  SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
		  0, 0, 0) != 0)
		return -errno;
	memset(d, 0, sizeof(d));
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

/* No exec can gain privileges again (set-id bits, file capabilities). */
static int step_no_new_privs(struct sbx_plan *plan)
{
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ? -errno : 0;
}

/* The system call filter (seccomp.c says what it refuses and why). */
static int step_seccomp(struct sbx_plan *plan)
{
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &plan->seccomp) != 0)
		return -errno;
	return 0;
}

/* ---- the payload's steps ---- */

/* A new session: the payload cannot reach a controlling terminal. */
static int step_setsid(struct sbx_plan *plan)
{
	return setsid() < 0 ? -errno : 0;
}

/*
 * stdin is /dev/null (the payload reads nothing from the caller);
 * stdout and stderr go to the capture pipe.
 */
static int step_stdio(struct sbx_plan *plan)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (dup2(fd, 0) < 0 || dup2(plan->out_w, 1) < 0 ||
	    dup2(plan->out_w, 2) < 0)
		return -errno;
	close(fd);
	return 0;
}

/*
 * Close every descriptor above 2 that the caller's process had open
 * (sockets, the store, keys): the payload inherits nothing else. The
 * error pipe moves to 3 and closes itself at exec (O_CLOEXEC).
 */
static int step_close_fds(struct sbx_plan *plan)
{
	if (plan->err_w != 3) {
		if (dup3(plan->err_w, 3, O_CLOEXEC) < 0)
			return -errno;
		plan->err_w = 3;
	}
	if (syscall(SYS_close_range, 4U, ~0U, 0) != 0)
		return -errno;
	return 0;
}

static int step_workdir(struct sbx_plan *plan)
{
	return chdir(plan->workdir) ? -errno : 0;
}

/* No core files: they could land secrets in the workspace. */
static int step_rlimits(struct sbx_plan *plan)
{
	struct rlimit zero = { 0, 0 };

	return setrlimit(RLIMIT_CORE, &zero) ? -errno : 0;
}

/* Resolve argv[0] through PATH (as execvp would) with no allocation. */
static int step_exec(struct sbx_plan *plan)
{
	const char *name = plan->argv[0];
	char full[PATH_MAX];
	int err = ENOENT;

	if (strchr(name, '/')) {
		execve(name, plan->argv, plan->envp);
		return -errno;
	}
	for (const char *p = plan->path; p && *p;) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > 0 && len + strlen(name) + 2 <= sizeof(full)) {
			memcpy(full, p, len);
			full[len] = '/';
			memcpy(full + len + 1, name, strlen(name) + 1);
			execve(full, plan->argv, plan->envp);
			if (errno != ENOENT && errno != ENOTDIR)
				err = errno;
		}
		p = end ? end + 1 : NULL;
	}
	return -err;
}

static const struct sbx_step sbx_init_steps[] = {
	{ "parent-death-signal", step_parent_death },
	{ "join-cgroups", step_join_cgroups },
	{ "wait-for-parent", step_wait_go },
	{ "private-mounts", step_private_mounts },
	{ "open-sources", step_open_sources },
	{ "oom-score", step_oom_score },
	{ "set-ids", step_set_ids },
	{ "parent-death-signal", step_parent_death },
	{ "cgroup-namespace", step_cgroup_ns },
	{ "hostname", step_hostname },
	{ "root-tmpfs", step_root_tmpfs },
	{ "tmp-tmpfs", step_tmp },
	{ "etc-files", step_etc_files },
	{ "dev-links", step_dev_links },
	{ "binds", step_binds },
	{ "proc", step_proc },
	{ "close-sources", step_close_sources },
	{ "root-readonly", step_root_readonly },
	{ "pivot-root", step_pivot_root },
	{ "wait-for-network", step_wait_network },
};

static const struct sbx_step sbx_payload_steps[] = {
	{ "setsid", step_setsid },
	{ "stdio", step_stdio },
	{ "close-fds", step_close_fds },
	{ "workdir", step_workdir },
	{ "rlimits", step_rlimits },
	{ "parent-death-signal", step_parent_death },
	{ "drop-capabilities", step_drop_caps },
	{ "no-new-privs", step_no_new_privs },
	{ "seccomp", step_seccomp },
	{ "exec", step_exec },
};

/*
 * init keeps only the status and error pipes: nothing the caller had
 * open (sockets, the store) stays reachable through pid 1.
 */
static int step_init_close_fds(struct sbx_plan *plan)
{
	unsigned a = (unsigned)plan->status_w, b = (unsigned)plan->err_w;

	if (a > b) {
		unsigned t = a;
		a = b;
		b = t;
	}
	if (a > 3 && syscall(SYS_close_range, 3U, a - 1, 0) != 0)
		return -errno;
	if (b > a + 1 && syscall(SYS_close_range, a + 1, b - 1, 0) != 0)
		return -errno;
	return syscall(SYS_close_range, b + 1, ~0U, 0) ? -errno : 0;
}

/*
 * init is a copy of the caller and never execs, so /proc/1/cmdline and
 * environ would show the caller's: a repository URL with credentials, a
 * token in the environment. Wipe both from init's own memory; the
 * payload, forked before this, has its own copy and execs at once.
 */
static int step_wipe_caller_args(struct sbx_plan *plan)
{
	if (plan->arg_end > plan->arg_start)
		memset((void *)plan->arg_start, 0,
		       plan->arg_end - plan->arg_start);
	if (plan->env_end > plan->env_start)
		memset((void *)plan->env_start, 0,
		       plan->env_end - plan->env_start);
	return 0;
}

/*
 * init never execs, so it still has the caller's signal handlers (a
 * sanitizer's, the command line's) and standard descriptors (the
 * operator's terminal). Back to default dispositions, through the raw
 * system call so no library interposes, which also makes pid 1 deaf to
 * every signal sent from inside its namespace; and /dev/null on 0-2, so
 * nothing init does can reach the terminal.
 */
static int step_init_quiet(struct sbx_plan *plan)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		uint64_t mask;
	} dfl = { .handler = SIG_DFL };
	int fd;

	for (int sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL,
				sizeof(dfl.mask));
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (int i = 0; i < 3; i++)
		if (fd != i && dup2(fd, i) < 0)
			return -errno;
	if (fd > 2)
		close(fd);
	return 0;
}

/* init confines itself too, then only reaps. */
static const struct sbx_step sbx_reaper_steps[] = {
	{ "wipe-caller-args", step_wipe_caller_args },
	{ "init-quiet", step_init_quiet },
	{ "close-fds", step_init_close_fds },
	{ "drop-capabilities", step_drop_caps },
	{ "no-new-privs", step_no_new_privs },
	{ "seccomp", step_seccomp },
};

/*
 * Reap every process reparented to us; when the payload itself ends,
 * report its status and exit, which kills whatever it left behind.
 */
__attribute__((noreturn)) static void sbx_reap(struct sbx_plan *plan,
					       pid_t payload)
{
	int st = 0;

	for (;;) {
		pid_t p = waitpid(-1, &st, __WALL);
		if (p == payload)
			break;
		if (p < 0 && errno != EINTR) {
			st = 0x7f00; /* lost track of it: report exit 127 */
			break;
		}
	}
	if (write(plan->status_w, &st, sizeof(st)) != (ssize_t)sizeof(st))
		_exit(126);
	_exit(0);
}

void sbx_child_main(struct sbx_plan *plan)
{
	sbx_run_steps(plan, sbx_init_steps, AL_ARRAY_LEN(sbx_init_steps));

	/* A raw fork: no atfork handlers run in this copied process. */
	pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (pid < 0) {
		sbx_report(plan, "fork-payload", errno);
		_exit(127);
	}
	if (pid == 0) {
		close(plan->status_w);
		sbx_run_steps(plan, sbx_payload_steps,
			      AL_ARRAY_LEN(sbx_payload_steps));
		_exit(127);
	}

	close(plan->out_w);
	sbx_run_steps(plan, sbx_reaper_steps, AL_ARRAY_LEN(sbx_reaper_steps));
	/* EOF on the error pipe now tells the parent setup is complete. */
	close(plan->err_w);
	sbx_reap(plan, pid);
}
