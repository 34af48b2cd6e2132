/*
 * layout.c - attack the sandbox's file tree and its init as they are
 * since 2026-12-05 (bench/README.md "spawn"): /dev a directory of the
 * read-only root tmpfs, the masked /proc directories covered by a
 * read-only clone of the empty directory /proc is mounted on, the main
 * seccomp filter loaded by init and inherited by the payload.
 *
 *   layout           every attempt below
 *   layout cmdline   only init-cmdline, as its first act (the test holds
 *                    init still at the payload's fork, as a busy CPU
 *                    could)
 *   layout hopMARK   fork a few children that re-fork without end (each
 *                    parent exits), then exit at once: something is
 *                    always mid-fork when init reports (the test looks
 *                    on the host for MARK in a command line: none of
 *                    them may outlive sbx_run)
 *
 * Attempt                          stopped by
 * dev-write-*                      root-readonly (/dev is in the root)
 * mask-write-*                     the cover's read-only flag
 * mask-unmount-*, mask-remount-*   seccomp (EPERM, the filter's answer),
 * mask-newapi-*                    and no capability behind it
 * mask-path-*                      masks are mounts: every path to a
 *                                  masked name (.., /proc/self/root,
 *                                  /proc/thread-self, cwd, an O_PATH
 *                                  handle) lands on the cover
 * init-signal-*                    default-signals: pid 1 without a
 *                                  handler ignores signals from inside
 * init-fd-*, init-getfd-*          not-dumpable; pidfd_getfd refused by
 *                                  seccomp
 * init-cmdline                     wipe-caller-args
 * init-prlimit-raise               the hard limit needs a capability
 * cgroup-path                      cgroup-namespace
 */
#include "attack.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#define PROC_MAGIC 0x9fa0

/* The masked directories the test looks for (child.c's list). */
static const char *const mask_dirs[] = { "acpi", "asound", "bus", "driver",
					 "fs", "irq", "scsi", "pressure" };
static const char *const mask_files[] = { "kcore", "kallsyms", "keys",
					  "sysrq-trigger", "kmsg",
					  "timer_list", "slabinfo" };

/* A call that must fail with exactly err. */
static void expect_errno(const char *name, const char *what, long rc,
			 int err, int want)
{
	if (rc >= 0)
		attack_result(name, 0, "%s: returned %ld", what, rc);
	else
		attack_result(name, err == want, "%s: %s", what,
			      strerror(err));
}

#define EXPECT_ERRNO(name, what, want, call)                               \
	do {                                                               \
		errno = 0;                                                 \
		long r_ = (long)(call);                                    \
		expect_errno((name), (what), r_, errno, (want));           \
	} while (0)

/* Every way of writing into a directory of a read-only mount. */
static void write_into(const char *prefix, const char *dir)
{
	char p[256], name[64];
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd, s, fl = 0;

	snprintf(p, sizeof(p), "%s/evil", dir);
#define W(what, call)                                                      \
	do {                                                               \
		snprintf(name, sizeof(name), "%s-%s", prefix, what);       \
		EXPECT_ERRNO(name, p, EROFS, call);                        \
	} while (0)
	W("create", open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0755));
	W("mkdir", mkdir(p, 0755));
	W("symlink", symlink("/proc/1/root", p));
	W("fifo", mkfifo(p, 0644));
	W("mknod", mknod(p, S_IFCHR | 0666, makedev(1, 3)));
	W("tmpfile", open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
	W("chmod", chmod(dir, 0777));
	W("utimes", utimensat(AT_FDCWD, dir, NULL, 0));
	W("xattr", setxattr(dir, "user.x", "1", 1, 0));
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (strlen(p) < sizeof(a.sun_path))
		memcpy(a.sun_path, p, strlen(p) + 1);
	W("socket", bind(s, (struct sockaddr *)&a, sizeof(a)));
	close(s);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ioctl(fd, FS_IOC_GETFLAGS, &fl);
	fl |= FS_APPEND_FL;
	W("setflags", ioctl(fd, FS_IOC_SETFLAGS, &fl));
	close(fd);
#undef W
}

static void dev(void)
{
	char name[64];

	write_into("dev-write", "/dev");
	/* Names already there: replaced, removed, linked. */
	snprintf(name, sizeof(name), "dev-write-rename");
	EXPECT_ERRNO(name, "/dev/stdin", EROFS,
		     rename("/dev/stdin", "/dev/stdin2"));
	EXPECT_ERRNO("dev-write-unlink", "/dev/stdout", EROFS,
		     unlink("/dev/stdout"));
	EXPECT_ERRNO("dev-write-link", "/dev/ptmx", EROFS,
		     link("/dev/ptmx", "/dev/ptmx2"));
	EXPECT_ERRNO("dev-write-replace", "/dev/fd", EROFS,
		     rename("/dev/ptmx", "/dev/fd"));
}

/* The first masked directory this kernel has, or NULL. */
static const char *first_mask_dir(char *buf, size_t n)
{
	struct stat st;

	for (size_t i = 0; i < sizeof(mask_dirs) / sizeof(mask_dirs[0]); i++) {
		snprintf(buf, n, "/proc/%s", mask_dirs[i]);
		if (stat(buf, &st) == 0)
			return buf;
	}
	return NULL;
}

/* Is path covered: an empty directory not of procfs (a masked dir), a
 * character device 1:3 (a masked file), or absent from this kernel? */
static bool covered(const char *path, bool dir, char *why, size_t n)
{
	struct statfs sf;
	struct stat st;
	int entries = 0;

	if (stat(path, &st) != 0) {
		snprintf(why, n, "%s", strerror(errno));
		return errno == ENOENT;
	}
	if (!dir) {
		snprintf(why, n, "mode %o rdev %u:%u", st.st_mode & S_IFMT,
			 major(st.st_rdev), minor(st.st_rdev));
		return S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
	}
	DIR *d = opendir(path);
	for (struct dirent *e; d && (e = readdir(d));)
		entries += e->d_name[0] != '.';
	if (d)
		closedir(d);
	statfs(path, &sf);
	snprintf(why, n, "%d entries, fs %#lx", entries,
		 (unsigned long)sf.f_type);
	return d && entries == 0 && sf.f_type != PROC_MAGIC;
}

static void path_check(const char *name, const char *path, bool dir)
{
	char why[128];

	attack_result(name, covered(path, dir, why, sizeof(why)), "%s: %s",
		      path, why);
}

/* Each masked name reached by another path than /proc/NAME. */
static void mask_paths(const char *leaf, bool dir)
{
	static const char *const via[] = {
		"/proc/sys/../", "/proc/self/root/proc/",
		"/proc/thread-self/root/proc/", "/proc/self/../",
		"/proc/self/cwd/", "/proc/./", "/dev/../proc/",
	};
	char p[256];

	if (chdir("/proc") != 0)
		return;
	for (size_t i = 0; i < sizeof(via) / sizeof(via[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", via[i], leaf);
		path_check("mask-path", p, dir);
	}
	/* Up from a cover's own root, and through an O_PATH handle. */
	int fd = open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
	snprintf(p, sizeof(p), "/proc/self/fd/%d/../%s", fd, leaf);
	path_check("mask-path", p, dir);
	close(fd);
	if (chdir("/") != 0)
		return;
}

static void masks(void)
{
	char dir[64], p[256];

	if (!first_mask_dir(dir, sizeof(dir))) {
		attack_result("mask-present", 0, "no masked directory found");
		return;
	}
	write_into("mask-write", dir);

	/* Off with the covers: each refused by the filter itself. */
	for (size_t i = 0; i < sizeof(mask_dirs) / sizeof(mask_dirs[0]); i++) {
		snprintf(p, sizeof(p), "/proc/%s", mask_dirs[i]);
		EXPECT_ERRNO("mask-unmount-detach", p, EPERM,
			     umount2(p, MNT_DETACH));
	}
	for (size_t i = 0; i < sizeof(mask_files) / sizeof(mask_files[0]);
	     i++) {
		snprintf(p, sizeof(p), "/proc/%s", mask_files[i]);
		EXPECT_ERRNO("mask-unmount", p, EPERM, umount2(p, 0));
	}
	int h = open(dir, O_PATH | O_CLOEXEC);
	snprintf(p, sizeof(p), "/proc/self/fd/%d", h);
	EXPECT_ERRNO("mask-unmount-fd", p, EPERM, umount2(p, MNT_DETACH));
	close(h);
	EXPECT_ERRNO("mask-unmount-move", dir, EPERM,
		     mount(dir, "/tmp", NULL, MS_MOVE, NULL));
	EXPECT_ERRNO("mask-remount-rw", dir, EPERM,
		     mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND, NULL));
	EXPECT_ERRNO("mask-remount-root-rw", "/", EPERM,
		     mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL));
	EXPECT_ERRNO("mask-remount-dev-rw", "/dev", EPERM,
		     mount("/dev", "/dev", NULL, MS_BIND, NULL));
	{
		uint64_t attr[4] = { 0, 1 /* clear MOUNT_ATTR_RDONLY */, 0, 0 };
		EXPECT_ERRNO("mask-newapi-mount_setattr", dir, EPERM,
			     syscall(SYS_mount_setattr, AT_FDCWD, dir, 0, attr,
				     sizeof(attr)));
	}
	EXPECT_ERRNO("mask-newapi-open_tree", "/proc", EPERM,
		     syscall(SYS_open_tree, AT_FDCWD, "/proc",
			     1 /* OPEN_TREE_CLONE */ | AT_RECURSIVE));
	EXPECT_ERRNO("mask-newapi-fspick", dir, EPERM,
		     syscall(SYS_fspick, AT_FDCWD, dir, 0));
	EXPECT_ERRNO("mask-newapi-fsopen", "proc", EPERM,
		     syscall(SYS_fsopen, "proc", 0));
	EXPECT_ERRNO("mask-newapi-move_mount", dir, EPERM,
		     syscall(SYS_move_mount, AT_FDCWD, dir, AT_FDCWD, "/tmp",
			     0));

	/* Still in place, whichever way they are reached. */
	mask_paths(dir + strlen("/proc/"), true);
	for (size_t i = 0; i < sizeof(mask_files) / sizeof(mask_files[0]);
	     i++) {
		snprintf(p, sizeof(p), "/proc/%s", mask_files[i]);
		path_check("mask-file", p, false);
		mask_paths(mask_files[i], false);
	}
}

/* init's state letter from /proc/1/stat, or '?' */
static char init_state(void)
{
	char buf[512];
	int fd = open("/proc/1/stat", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	char *p;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return '?';
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

/* World-readable without a ptrace check: init's copy of the caller's
 * command line must be wiped before any payload could read it. */
static void init_cmdline(void)
{
	char buf[4096];
	int fd = open("/proc/1/cmdline", O_RDONLY | O_CLOEXEC), nonzero = 0;
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;

	for (ssize_t i = 0; i < n; i++)
		nonzero += buf[i] != '\0';
	if (fd >= 0)
		close(fd);
	attack_result("init-cmdline", n >= 0 && nonzero == 0,
		      "%zd bytes, %d not zero", n, nonzero);
}

static void init_process(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGSEGV,
				    SIGBUS, SIGSTOP, SIGKILL };
	char p[64], name[64];
	int pfd;

	/* pid 1 of the namespace, with no handler, ignores them all
	 * (a sanitizer's SIGSEGV handler inherited from the caller would
	 * run in init instead). kill() itself is allowed. */
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		int rc = kill(1, sigs[i]);
		usleep(20000);
		char st = init_state();
		snprintf(name, sizeof(name), "init-signal-%d", sigs[i]);
		attack_result(name, st == 'S' || st == 'R', "kill %d, init "
			      "state %c", rc, st);
	}
	EXPECT_ERRNO("init-fd-list", "/proc/1/fd", EACCES,
		     open("/proc/1/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	for (int i = 0; i < 8; i++) {
		snprintf(p, sizeof(p), "/proc/1/fd/%d", i);
		EXPECT_ERRNO("init-fd-open", p, EACCES,
			     open(p, O_PATH | O_CLOEXEC));
		/* Linux 6.1 says ENOENT for a number init has no descriptor
		 * under (only 0-2 and its status pipe are left): nothing to
		 * read either. Later kernels check access first (EACCES). */
		snprintf(p, sizeof(p), "/proc/1/fdinfo/%d", i);
		errno = 0;
		int fi = open(p, O_RDONLY | O_CLOEXEC);
		expect_errno("init-fd-info", p, fi, errno,
			     errno == ENOENT ? ENOENT : EACCES);
		if (fi >= 0)
			close(fi);
	}
	pfd = (int)syscall(SYS_pidfd_open, 1, 0);
	for (int i = 0; i < 16; i++) {
		snprintf(p, sizeof(p), "pidfd_getfd(init, %d)", i);
		EXPECT_ERRNO("init-getfd", p, EPERM,
			     syscall(SYS_pidfd_getfd, pfd, i, 0));
	}
	if (pfd >= 0)
		close(pfd);

	init_cmdline();

	struct rlimit l = { 0, 0 };
	prlimit(1, RLIMIT_NOFILE, NULL, &l);
	struct rlimit up = { l.rlim_max + 1, l.rlim_max + 1 };
	EXPECT_ERRNO("init-prlimit-raise", "RLIMIT_NOFILE", EPERM,
		     prlimit(1, RLIMIT_NOFILE, &up, NULL));
}

/* Every hierarchy shows the namespace's root: no host path to climb. */
static void cgroups(void)
{
	char buf[4096];
	int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC), bad = 0,
	    lines = 0;
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	for (char *l = buf, *nl; *l; l = nl + 1) {
		nl = strchr(l, '\n');
		if (!nl)
			break;
		*nl = '\0';
		lines++;
		size_t k = strlen(l);
		if (k < 2 || strcmp(l + k - 2, ":/") != 0) {
			printf("  cgroup: %s\n", l);
			bad++;
		}
	}
	attack_result("cgroup-path", lines > 0 && bad == 0,
		      "%d hierarchies, %d with a host path", lines, bad);
}

static int hop(void)
{
	for (int k = 0; k < 4; k++) {
		if (fork() != 0)
			continue;
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		setsid();
		for (;;) {
			pid_t p = fork();
			if (p > 0)
				_exit(0);
			if (p < 0)
				usleep(1000);
		}
	}
	usleep(20000);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strncmp(argv[1], "hop", 3) == 0)
		return hop();
	if (argc > 1 && strcmp(argv[1], "cmdline") == 0) {
		init_cmdline();
		return attack_exit();
	}
	dev();
	masks();
	init_process();
	cgroups();
	return attack_exit();
}
