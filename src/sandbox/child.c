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
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
/* OPEN_TREE_*, MOVE_MOUNT_*: glibc's sys/mount.h includes this, musl's not */
#include <linux/mount.h>
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

/*
 * Walk rel (absolute inside the new root) from root, a descriptor of the
 * new root, one component at a time, creating directories that are
 * missing, and never follow a symlink: a writable bind may hold links a
 * payload left in an earlier run, and following one here would create
 * directories, or mount, somewhere on the host. Returns an O_PATH
 * descriptor of the directory that holds the last component, and sets
 * *base to that last component.
 */
static int sbx_walk(int root, const char *rel, const char **base)
{
	char comp[NAME_MAX + 1];
	const char *p = rel;
	int dfd = root;

	for (;;) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		int rc = n == 0 ? -EINVAL : n > NAME_MAX ? -ENAMETOOLONG : 0;
		if (rc == 0 && p[n] == '\0') {
			*base = p;
			/* The caller closes what it gets: never root itself. */
			return dfd == root ? (int)syscall(SYS_openat, root, ".",
					 O_PATH | O_DIRECTORY | O_CLOEXEC)
					   : dfd;
		}
		if (rc == 0) {
			memcpy(comp, p, n);
			comp[n] = '\0';
			if (mkdirat(dfd, comp, 0755) != 0 && errno != EEXIST)
				rc = -errno;
		}
		int next = rc ? -1 : openat(dfd, comp, O_PATH | O_DIRECTORY |
					    O_NOFOLLOW | O_CLOEXEC);
		if (rc == 0 && next < 0)
			rc = -errno;
		if (dfd != root)
			close(dfd);
		if (rc)
			return rc;
		dfd = next;
		p += n;
	}
}

/*
 * The directory that holds each entry's last component, kept from one
 * entry to the next while they share it (/etc/..., /dev/...): walking it
 * again would repeat the same lookups. Dropped after every directory
 * bind, which could cover it.
 */
struct sbx_dircache {
	int root;   /* the new root, O_PATH */
	int fd;     /* the cached directory, or -1 */
	size_t len; /* of its path, a prefix of the entry's dst */
	char path[PATH_MAX];
};

static void sbx_dircache_drop(struct sbx_dircache *dc)
{
	if (dc->fd >= 0)
		close(dc->fd);
	dc->fd = -1;
}

/* The parent directory of rel, walked or cached; the cache owns it. */
static int sbx_parent(struct sbx_dircache *dc, const char *rel,
		      const char **base)
{
	const char *slash = strrchr(rel, '/');
	size_t len = slash ? (size_t)(slash - rel) : 0;

	if (dc->fd >= 0 && slash && len == dc->len &&
	    memcmp(rel, dc->path, len) == 0) {
		*base = slash + 1;
		return dc->fd;
	}
	sbx_dircache_drop(dc);
	int dfd = sbx_walk(dc->root, rel, base);
	if (dfd < 0)
		return dfd;
	dc->fd = dfd;
	dc->len = len < sizeof(dc->path) ? len : 0;
	memcpy(dc->path, rel, dc->len);
	if (!slash || len >= sizeof(dc->path))
		dc->len = SIZE_MAX; /* never matches again */
	return dfd;
}

/*
 * A descriptor of the mount point for an entry: a directory, or an empty
 * regular file made if missing, each opened without following a
 * symlink. Anything else already there (a symlink, a FIFO) is refused
 * rather than mounted on.
 */
static int sbx_mountpoint(struct sbx_dircache *dc, const char *rel,
			  bool dir)
{
	const char *base = NULL;
	struct stat st;
	int dfd = sbx_parent(dc, rel, &base), fd;

	if (dfd < 0)
		return dfd;
	if (dir) {
		if (mkdirat(dfd, base, 0755) != 0 && errno != EEXIST)
			return -errno;
		fd = openat(dfd, base, O_PATH | O_DIRECTORY | O_NOFOLLOW |
			    O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	fd = openat(dfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		fd = openat(dfd, base, O_CREAT | O_EXCL | O_WRONLY |
			    O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd >= 0) {
			close(fd);
			fd = openat(dfd, base, O_PATH | O_NOFOLLOW |
				    O_CLOEXEC);
		}
	}
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -ENOTDIR;
	}
	return fd;
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
 * init is a copy of the caller's memory (the daemon's, with whatever
 * secrets it holds) and never execs. Not dumpable: a payload running as
 * the same id cannot read /proc/1/mem, environ or exe, nor ptrace it,
 * and no core of it is ever written. Set before anything else happens,
 * and again after the id change, which resets it to fs.suid_dumpable
 * (a host with suid_dumpable=1 would otherwise leave init readable).
 * The payload's exec makes it dumpable again, which is right for a
 * fresh program image.
 */
static int step_not_dumpable(struct sbx_plan *plan)
{
	return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) ? -errno : 0;
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
	/* The parent has its copy of the netwatch listener now. */
	if (plan->watch_fd >= 0)
		close(plan->watch_fd);
	plan->watch_fd = -1;
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
 * component afterwards cannot redirect the bind. The caller's binds are
 * resolved from / without following a symlink in any component (a link
 * planted in a workspace, or in a shared directory on the way, cannot
 * point a bind elsewhere on the host); the image's own paths may be
 * links the host's distribution made (merged /usr, /etc/localtime).
 */
static int step_open_sources(struct sbx_plan *plan)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC,
				.resolve = RESOLVE_NO_SYMLINKS };

	for (size_t i = 0; i < plan->nmnts; i++) {
		struct sbx_mnt *m = &plan->mnts[i];
		if (m->kind == SBX_SRC_LINK)
			continue;
		if (m->nofollow)
			m->fd = (int)syscall(SYS_openat2, AT_FDCWD, m->src,
					     &how, sizeof(how));
		else
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

	if (mkdir(NEWROOT "/tmp", 0755) != 0)
		return -errno;
	snprintf(opt, sizeof(opt), "size=%zu,mode=1777", plan->tmp_bytes);
	if (mount("tmpfs", NEWROOT "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
		  opt) != 0)
		return -errno;
	return 0;
}

/*
 * Bind one plan entry through descriptors only (open_tree, then
 * move_mount onto a mount point found without following symlinks), so
 * no path that a payload could have shaped is looked up again.
 */
static int sbx_bind_one(struct sbx_dircache *dc, const struct sbx_mnt *m)
{
	struct sbx_mount_attr a = { .attr_set = SBX_ATTR_NOSUID };
	const char *base = NULL;
	int dst, tree, rc = 0;

	if (m->kind == SBX_SRC_LINK) {
		dst = sbx_parent(dc, m->dst, &base);
		if (dst < 0)
			return dst;
		return symlinkat(m->src, dst, base) ? -errno : 0;
	}
	dst = sbx_mountpoint(dc, m->dst, m->kind == SBX_SRC_DIR);
	if (dst < 0)
		return dst;
	a.attr_set |= m->dev ? SBX_ATTR_NOEXEC : SBX_ATTR_NODEV;
	if (!m->rw && !m->dev)
		a.attr_set |= SBX_ATTR_RDONLY;
	tree = (int)syscall(SYS_open_tree, m->fd, "", OPEN_TREE_CLONE |
			    OPEN_TREE_CLOEXEC | AT_RECURSIVE |
			    AT_EMPTY_PATH);
	if (tree < 0 ||
	    syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE,
		    &a, sizeof(a)) != 0 ||
	    syscall(SYS_move_mount, tree, "", dst, "",
		    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
		rc = -errno;
	if (tree >= 0)
		close(tree);
	close(dst);
	/* A directory mounted here may cover the cached one. */
	if (m->kind == SBX_SRC_DIR)
		sbx_dircache_drop(dc);
	return rc;
}

/*
 * Bind the host image (/usr, the /lib links, a minimal /etc), the device
 * nodes and the caller's binds. Read-only unless the caller asked for rw,
 * recursively, so no submount of the host stays writable; nosuid on all,
 * nodev on all but the device nodes themselves (which get noexec).
 */
static int step_binds(struct sbx_plan *plan)
{
	struct sbx_dircache dc = { .fd = -1 };
	int rc = 0;

	dc.root = open(NEWROOT, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dc.root < 0)
		return -errno;
	for (size_t i = 0; rc == 0 && i < plan->nmnts; i++)
		rc = sbx_bind_one(&dc, &plan->mnts[i]);
	sbx_dircache_drop(&dc);
	close(dc.root);
	return rc;
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
	int rc = mkdir(NEWROOT "/etc", 0755) ? -errno : 0;

	if (rc == 0)
		rc = sbx_write_new(NEWROOT "/etc/passwd", plan->passwd);
	if (rc == 0)
		rc = sbx_write_new(NEWROOT "/etc/group", plan->group);
	if (rc == 0)
		rc = sbx_write_new(NEWROOT "/etc/hostname", plan->hostname);
	return rc;
}

/*
 * /dev is a directory of the root tmpfs, so it turns read-only (nosuid,
 * nodev) with the root: the payload cannot create a node, a set-id
 * program or a file there. It holds the links shells and node expect,
 * the host nodes bound by the binds step (null, zero, full, random,
 * urandom, tty; each its own mount, noexec), a private devpts and a
 * size-capped /dev/shm. Not a tmpfs of its own: a tmpfs superblock
 * takes about 20 us to shut down when the sandbox ends, on the
 * command's path (bench/README.md).
 */
static int step_dev(struct sbx_plan *plan)
{
	static const char *const l[][2] = {
		{ "/proc/self/fd", NEWROOT "/dev/fd" },
		{ "/proc/self/fd/0", NEWROOT "/dev/stdin" },
		{ "/proc/self/fd/1", NEWROOT "/dev/stdout" },
		{ "/proc/self/fd/2", NEWROOT "/dev/stderr" },
		{ "pts/ptmx", NEWROOT "/dev/ptmx" },
	};
	if (mkdir(NEWROOT "/dev", 0755) != 0)
		return -errno;
	for (size_t i = 0; i < AL_ARRAY_LEN(l); i++)
		if (symlink(l[i][0], l[i][1]) != 0)
			return -errno;
	if (mkdir(NEWROOT "/dev/pts", 0755) != 0 ||
	    mkdir(NEWROOT "/dev/shm", 01777) != 0)
		return -errno;
	return 0;
}

/*
 * A devpts instance of the sandbox's own (newinstance): the payload can
 * open pseudo-terminals (some tools insist) but never sees or opens the
 * host's, which live in another instance. No gid= option: the host's tty
 * group is not mapped here, so new terminals get the sandbox's group.
 * nodev cannot be set (the terminals are device nodes); nosuid, noexec.
 */
static int step_devpts(struct sbx_plan *plan)
{
	if (mount("devpts", NEWROOT "/dev/pts", "devpts",
		  MS_NOSUID | MS_NOEXEC,
		  "newinstance,ptmxmode=0666,mode=0620") != 0)
		return -errno;
	return 0;
}

/* POSIX shared memory: capped, so it cannot be a second, larger /tmp. */
static int step_shm(struct sbx_plan *plan)
{
	char opt[64];

	snprintf(opt, sizeof(opt), "size=%zu,mode=1777", plan->shm_bytes);
	if (mount("tmpfs", NEWROOT "/dev/shm", "tmpfs",
		  MS_NOSUID | MS_NODEV | MS_NOEXEC, opt) != 0)
		return -errno;
	return 0;
}

/*
 * A proc of the new pid namespace: the payload sees only its own
 * processes, never the daemon's or other jobs' command lines. The
 * directory it is mounted on, empty and part of the root tmpfs, is
 * first cloned (detached, read-only, nosuid, nodev, noexec) as the
 * cover for the masked /proc directories (step_proc_masks): an empty
 * directory that needs no superblock of its own.
 */
static int step_proc(struct sbx_plan *plan)
{
	struct sbx_mount_attr a = { .attr_set = SBX_ATTR_RDONLY |
				    SBX_ATTR_NOSUID | SBX_ATTR_NODEV |
				    SBX_ATTR_NOEXEC };

	if (mkdir(NEWROOT "/proc", 0755) != 0)
		return -errno;
	plan->proc_cover = (int)syscall(SYS_open_tree, AT_FDCWD,
					NEWROOT "/proc", OPEN_TREE_CLONE |
					OPEN_TREE_CLOEXEC);
	if (plan->proc_cover < 0 ||
	    syscall(SYS_mount_setattr, plan->proc_cover, "", AT_EMPTY_PATH,
		    &a, sizeof(a)) != 0)
		return -errno;
	if (mount("proc", NEWROOT "/proc", "proc",
		  MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
		return -errno;
	return 0;
}

/*
 * inotify instances and watches are counted per user, and the kernel
 * also charges them, level by level, to the user that created each user
 * namespace: for every sandbox that is the daemon's uid 0, whose
 * host-wide limit (fs.inotify.max_user_instances, 128 by default) the
 * host's own services share. A sandbox's namespace starts with no limit
 * of its own, so one payload could take all of root's instances and
 * break inotify for the host and for other jobs. Its own limit, set
 * while init still holds CAP_SYS_RESOURCE in the namespace and before
 * /proc/sys turns read-only, caps its share.
 */
static int write_small(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, len);
	int rc = n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
	close(fd);
	return rc;
}

static int step_inotify_limits(struct sbx_plan *plan)
{
	static const char inst[] = SBX_STR(SBX_INOTIFY_INSTANCES) "\n";
	static const char watches[] = SBX_STR(SBX_INOTIFY_WATCHES) "\n";
	int rc;

	(void)plan;
	rc = write_small(NEWROOT "/proc/sys/user/max_inotify_instances",
			 inst, sizeof(inst) - 1);
	if (rc == 0)
		rc = write_small(NEWROOT "/proc/sys/user/max_inotify_watches",
				 watches, sizeof(watches) - 1);
	return rc;
}

/*
 * proc files that describe the host rather than the sandbox, or act on
 * it, are covered with the sandbox's /dev/null (reads are empty, writes
 * vanish), as container runtimes do. Most are already root-only; masking
 * keeps that true whatever the kernel's defaults. Missing ones are
 * skipped. docs/sandbox.md says why each is on the list.
 */
static const char *const sbx_proc_mask_files[] = {
	"kcore", "kallsyms", "keys", "key-users", "kmsg", "config.gz",
	"sysrq-trigger", "timer_list", "timer_stats", "sched_debug",
	"latency_stats", "kpagecount", "kpageflags", "kpagecgroup",
	"slabinfo", "vmallocinfo", "pagetypeinfo", "buddyinfo", "zoneinfo",
};

/* Directories of host hardware and host-wide state: an empty,
 * read-only directory goes over each. */
static const char *const sbx_proc_mask_dirs[] = {
	"acpi", "asound", "bus", "driver", "fs", "irq", "scsi", "pressure",
};

/*
 * Cover NEWROOT/proc/name. The first file is covered by a bind of the
 * sandbox's /dev/null made read-only, the first directory by the empty
 * directory under the proc mount (cover, made read-only in step_proc);
 * every later one by a bind of that first cover (src), which keeps its
 * flags.
 * A name this kernel lacks (ENOENT), or of the other kind (ENOTDIR), is
 * skipped: a file cover cannot go on a directory nor the reverse.
 */
static int sbx_mask_one(const char *name, bool dir, int cover, char *src,
			size_t srcsz)
{
	char path[128];
	struct stat st;
	int rc = 0;

	snprintf(path, sizeof(path), NEWROOT "/proc/%s", name);
	if (src[0]) {
		if (mount(src, path, NULL, MS_BIND, NULL) != 0)
			rc = -errno;
	} else if (dir) {
		if (syscall(SYS_move_mount, cover, "", AT_FDCWD, path,
			    MOVE_MOUNT_F_EMPTY_PATH) != 0)
			rc = -errno;
	} else {
		if (mount(NEWROOT "/dev/null", path, NULL, MS_BIND, NULL) != 0)
			rc = -errno;
		if (rc == 0)
			rc = sbx_setattr(path, SBX_ATTR_RDONLY |
					 SBX_ATTR_NOSUID | SBX_ATTR_NOEXEC,
					 false);
	}
	/* ENOENT also names a missing source: only a missing name skips. */
	if (rc == -ENOENT && lstat(path, &st) != 0 && errno == ENOENT)
		return 0;
	if (rc == -ENOTDIR)
		return 0;
	if (rc == 0 && !src[0])
		al_strlcpy(src, path, srcsz);
	return rc;
}

/*
 * Mask the paths above, and make /proc/sys read-only: kernel parameters
 * are not the payload's to change, even those a namespace would let it.
 */
static int step_proc_masks(struct sbx_plan *plan)
{
	char src[128] = "";
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < AL_ARRAY_LEN(sbx_proc_mask_files);
	     i++)
		rc = sbx_mask_one(sbx_proc_mask_files[i], false, -1, src,
				  sizeof(src));
	src[0] = '\0';
	for (size_t i = 0; rc == 0 && i < AL_ARRAY_LEN(sbx_proc_mask_dirs);
	     i++)
		rc = sbx_mask_one(sbx_proc_mask_dirs[i], true,
				  plan->proc_cover, src, sizeof(src));
	close(plan->proc_cover);
	plan->proc_cover = -1;
	if (rc)
		return rc;
	if (mount(NEWROOT "/proc/sys", NEWROOT "/proc/sys", NULL,
		  MS_BIND | MS_REC, NULL) != 0)
		return -errno;
	return sbx_setattr(NEWROOT "/proc/sys", SBX_ATTR_RDONLY |
			   SBX_ATTR_NOSUID | SBX_ATTR_NODEV |
			   SBX_ATTR_NOEXEC, true);
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

/*
 * Nothing may be written to the root itself or to /dev in it (a tmpfs
 * owned by the sandbox's id), only to binds, /tmp and /dev/shm.
 */
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

	/* Capabilities are numbered without gaps: the first number this
	 * kernel does not know (EINVAL) ends them. */
	for (int cap = 0; cap <= 63; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
			continue;
		if (errno != EINVAL)
			return -errno;
		break;
	}
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

/* Lower a limit, never above what the caller itself has (raising a
 * hard limit would need a capability the sandbox does not have). */
static int sbx_limit(int res, rlim_t v)
{
	struct rlimit cur, l = { v, v };

	/* Usually allowed at once; EPERM means v is above the hard limit. */
	if (setrlimit(res, &l) == 0)
		return 0;
	if (errno != EPERM || getrlimit(res, &cur) != 0)
		return -errno;
	if (cur.rlim_max != RLIM_INFINITY && cur.rlim_max < v)
		l.rlim_cur = l.rlim_max = cur.rlim_max;
	return setrlimit(res, &l) ? -errno : 0;
}

/*
 * Soft and hard limits alike, so the payload cannot raise them again.
 * docs/sandbox.md says why each value; the pids cgroup, not
 * RLIMIT_NPROC, limits processes.
 */
static int step_rlimits(struct sbx_plan *plan)
{
	const struct { int res; rlim_t v; } l[] = {
		/* core files could land secrets in the workspace */
		{ RLIMIT_CORE, 0 },
		/* no one file larger than the workspace cap */
		{ RLIMIT_FSIZE, plan->fsize },
		/* descriptors are kernel memory; node needs some thousands */
		{ RLIMIT_NOFILE, SBX_RLIMIT_NOFILE },
		/* locked memory cannot be reclaimed under pressure */
		{ RLIMIT_MEMLOCK, SBX_RLIMIT_MEMLOCK },
		/* nothing npm runs uses POSIX message queues */
		{ RLIMIT_MSGQUEUE, 0 },
		/* queued signals are kernel memory outside the cgroup */
		{ RLIMIT_SIGPENDING, SBX_RLIMIT_SIGPENDING },
	};

	for (size_t i = 0; i < AL_ARRAY_LEN(l); i++) {
		int rc = sbx_limit(l[i].res, l[i].v);
		if (rc)
			return rc;
	}
	return 0;
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

/*
 * Every signal back to its default disposition and none blocked, through
 * the raw system calls so that no library (a sanitizer) interposes. A
 * forked copy keeps the caller's ignored signals and blocked mask, and
 * exec keeps both: a daemon that ignores SIGPIPE or blocks SIGTERM in its
 * threads must not hand that to the code it sandboxes.
 */
static void sbx_default_signals(void)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		uint64_t mask;
	} dfl = { .handler = SIG_DFL };
	uint64_t none = 0;

	for (int sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL,
				sizeof(dfl.mask));
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(none));
}

/* init, and through the fork the payload, get a clean signal state
 * (sbx_default_signals). */
static int step_default_signals(struct sbx_plan *plan)
{
	sbx_default_signals();
	return 0;
}

/*
 * init is a copy of the caller and never execs, so /proc/1/cmdline and
 * environ would show the caller's: a repository URL with credentials, a
 * token in the environment. cmdline needs no ptrace access: any process
 * inside can read it. Wipe both from init's own memory before the
 * payload exists (a payload forked first could read them while init
 * waits for a CPU); the plan holds its own copies of what the payload
 * needs (argv, workdir, environment, PATH).
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

static const struct sbx_step sbx_init_steps[] = {
	{ "parent-death-signal", step_parent_death },
	{ "not-dumpable", step_not_dumpable },
	{ "join-cgroups", step_join_cgroups },
	{ "wait-for-parent", step_wait_go },
	{ "netwatch", sbx_netwatch_install },
	{ "private-mounts", step_private_mounts },
	{ "open-sources", step_open_sources },
	{ "oom-score", step_oom_score },
	{ "set-ids", step_set_ids },
	{ "parent-death-signal", step_parent_death },
	{ "not-dumpable", step_not_dumpable },
	/* Before the payload exists (nothing below reads those areas). */
	{ "wipe-caller-args", step_wipe_caller_args },
	{ "cgroup-namespace", step_cgroup_ns },
	{ "hostname", step_hostname },
	{ "root-tmpfs", step_root_tmpfs },
	{ "tmp-tmpfs", step_tmp },
	{ "etc-files", step_etc_files },
	{ "dev-dir", step_dev },
	{ "devpts", step_devpts },
	{ "dev-shm", step_shm },
	{ "binds", step_binds },
	{ "proc", step_proc },
	{ "inotify-limits", step_inotify_limits },
	{ "proc-masks", step_proc_masks },
	{ "close-sources", step_close_sources },
	{ "root-readonly", step_root_readonly },
	{ "pivot-root", step_pivot_root },
	/* For init and, through the fork, the payload. */
	{ "default-signals", step_default_signals },
	{ "drop-capabilities", step_drop_caps },
	{ "no-new-privs", step_no_new_privs },
	/*
	 * Loaded once, here, and inherited through the fork: the payload's
	 * own steps and init's last ones are all calls the filter allows.
	 * Loading it (the kernel checks and compiles the program, about
	 * 0.15 ms) before the wait for the network does it while the
	 * caller may still be busy, not on the payload's path to exec.
	 */
	{ "seccomp", step_seccomp },
	{ "wait-for-network", step_wait_network },
};

/*
 * The payload starts as a copy of init after its last step: default
 * signal dispositions and an empty mask, no capability in any set (nor
 * a way back to one), no_new_privs, the netwatch filter and the main
 * filter.
 */
static const struct sbx_step sbx_payload_steps[] = {
	{ "setsid", step_setsid },
	{ "stdio", step_stdio },
	{ "close-fds", step_close_fds },
	{ "workdir", step_workdir },
	{ "rlimits", step_rlimits },
	{ "parent-death-signal", step_parent_death },
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
 * init never execs, so it still has the caller's standard descriptors
 * (the operator's terminal): /dev/null on 0-2, so nothing init does can
 * reach the terminal. (Its signal handlers, a sanitizer's or the command
 * line's, went back to the defaults before the fork, which also makes
 * pid 1 deaf to every signal sent from inside its namespace.)
 */
static int step_init_quiet(struct sbx_plan *plan)
{
	int fd;

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
	{ "init-quiet", step_init_quiet },
	{ "close-fds", step_init_close_fds },
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
