/*
 * privileges.c - try to gain or use privilege from inside the sandbox
 * (THREATS.md "Privileges", and the /dev, /proc and mount layout that
 * backs it).
 *
 *   privileges RW_LIST     every attempt below; RW_LIST is a comma list
 *                          of the caller's writable binds ("/work,/x")
 *   privileges --report    print "report euid=N capeff=HEX" and exit
 *                          (run through copies with file capabilities
 *                          or a setuid-root bit, see the test)
 *
 * Attempt                          stopped by
 * caps-*                           drop-capabilities (all sets zero)
 * filecap-exec, setuid-exec        nosuid binds, no_new_privs, the empty
 *                                  bounding set, root unmapped
 * mount-flags, mount-writable      nosuid/nodev on every mount, root and
 *                                  /dev read-only, ro binds
 * cgroupfs, sysfs                  no /sys, no cgroup or sysfs mounted,
 *                                  mount refused (seccomp, no caps)
 * proc-sys-*                       file modes, /proc/sys bound read-only
 * proc-mask-*                      masked /proc files and directories
 * init-*                           init is not dumpable
 * rlimit-*                         the payload's rlimits
 * dev-*                            /dev tmpfs read-only, private devpts,
 *                                  capped /dev/shm
 */
#include "attack.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

/* The value of "Key:\t..." in /proc/self/status, or "" */
static void status_field(const char *key, char *out, size_t n)
{
	char buf[8192];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t len = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	size_t klen = strlen(key);

	out[0] = '\0';
	if (fd >= 0)
		close(fd);
	if (len <= 0)
		return;
	buf[len] = '\0';
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1
							: NULL) {
		if (strncmp(l, key, klen) == 0 && l[klen] == ':') {
			char *v = l + klen + 1;
			while (*v == '\t' || *v == ' ')
				v++;
			size_t m = strcspn(v, "\n");
			m = m < n - 1 ? m : n - 1;
			memcpy(out, v, m);
			out[m] = '\0';
			return;
		}
	}
}

static int report(void)
{
	char eff[64];

	status_field("CapEff", eff, sizeof(eff));
	printf("report euid=%d capeff=%s\n", (int)geteuid(), eff);
	return 0;
}

static void caps_all_zero(void)
{
	static const char *const sets[] = { "CapInh", "CapPrm", "CapEff",
					    "CapBnd", "CapAmb" };
	char v[64];

	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		char name[32];
		status_field(sets[i], v, sizeof(v));
		snprintf(name, sizeof(name), "caps-%s", sets[i]);
		attack_result(name, strcmp(v, "0000000000000000") == 0,
			      "%s", v);
	}
	status_field("NoNewPrivs", v, sizeof(v));
	attack_result("no-new-privs", strcmp(v, "1") == 0, "NoNewPrivs %s",
		      v);
}

/* Run a copy of this program and read its report line. */
static void exec_copy(const char *name, const char *path)
{
	int p[2];
	char out[256] = "";
	pid_t pid;
	ssize_t n = 0;

	if (access(path, X_OK) != 0) {
		attack_result(name, 0, "test setup: %s missing", path);
		return;
	}
	if (pipe(p) != 0)
		return;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		execl(path, path, "--report", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while (pid > 0 && n < (ssize_t)sizeof(out) - 1) {
		ssize_t k = read(p[0], out + n, sizeof(out) - 1 - (size_t)n);
		if (k <= 0)
			break;
		n += k;
	}
	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	close(p[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	char want[64];
	snprintf(want, sizeof(want), "report euid=%d capeff=0000000000000000",
		 (int)geteuid());
	attack_result(name, strcmp(out, want) == 0, "%s", out);
}

static bool in_list(const char *list, const char *mnt)
{
	size_t n = strlen(mnt);

	for (const char *p = list; p && *p;) {
		size_t k = strcspn(p, ",");
		if (k == n && strncmp(p, mnt, n) == 0)
			return true;
		p += k + (p[k] == ',');
	}
	return false;
}

/* Does the comma-separated option list opts contain opt? */
static bool has_opt(const char *opts, const char *opt)
{
	return in_list(opts, opt);
}

/*
 * Every mount: nosuid; nodev unless it is a device node or devpts;
 * writable only if it is /tmp, /dev/shm, /dev/pts, /proc, a device node
 * or one of the caller's writable binds. No cgroup or sysfs anywhere.
 */
static void mounts(const char *rw_list)
{
	static char buf[65536];
	int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	ssize_t len = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	int bad_flags = 0, bad_rw = 0, cg = 0, n = 0;

	if (fd >= 0)
		close(fd);
	if (len <= 0) {
		attack_result("mount-flags", 0, "cannot read mountinfo");
		return;
	}
	buf[len] = '\0';
	for (char *l = buf, *next; l && *l; l = next) {
		char mnt[512], opts[512], type[64];
		next = strchr(l, '\n');
		if (next)
			*next++ = '\0';
		char *sep = strstr(l, " - ");
		if (!sep || sscanf(l, "%*s %*s %*s %*s %511s %511s", mnt,
				   opts) != 2 ||
		    sscanf(sep + 3, "%63s", type) != 1)
			continue;
		n++;
		bool dev = !strcmp(type, "devtmpfs") || !strcmp(type, "devpts");
		if (!has_opt(opts, "nosuid") ||
		    (!dev && !has_opt(opts, "nodev"))) {
			printf("  flags: %s %s %s\n", mnt, opts, type);
			bad_flags++;
		}
		/* /proc stays writable for a process's own files
		 * (oom_score_adj, comm), as in container runtimes. */
		if (has_opt(opts, "rw") && !dev && strcmp(mnt, "/tmp") &&
		    strcmp(mnt, "/dev/shm") && strcmp(mnt, "/proc") &&
		    !in_list(rw_list, mnt)) {
			printf("  writable: %s %s\n", mnt, type);
			bad_rw++;
		}
		if (!strcmp(type, "cgroup") || !strcmp(type, "cgroup2") ||
		    !strcmp(type, "sysfs")) {
			printf("  mounted: %s %s\n", mnt, type);
			cg++;
		}
	}
	attack_result("mount-flags", bad_flags == 0 && n > 10,
		      "%d mounts, %d without nosuid/nodev", n, bad_flags);
	attack_result("mount-writable", bad_rw == 0,
		      "%d unexpected writable mounts", bad_rw);
	attack_result("cgroupfs-mounted", cg == 0, "%d cgroup/sysfs mounts",
		      cg);
}

static void cgroups_and_sys(void)
{
	struct stat st;

	ATTACK_EXPECT_FAIL("sysfs-present", stat("/sys", &st));
	ATTACK_EXPECT_FAIL("cgroup-procs-write",
			   open("/sys/fs/cgroup/cgroup.procs", O_WRONLY));
	ATTACK_EXPECT_FAIL("mount-cgroup2",
			   mount("none", "/tmp", "cgroup2", 0, NULL));
	ATTACK_EXPECT_FAIL("mount-sysfs",
			   mount("none", "/tmp", "sysfs", 0, NULL));
}

/*
 * Writes fail, and /proc/sys is a read-only mount: file modes alone
 * already refuse these writes to an unprivileged id, so the mount flag
 * is checked on its own (it is what holds if a mode is ever wrong).
 */
static void proc_sys(void)
{
	static const char *const files[] = {
		"/proc/sys/kernel/hostname", "/proc/sys/kernel/domainname",
		"/proc/sys/net/ipv4/ip_forward", "/proc/sys/vm/drop_caches",
	};
	struct statvfs sv;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		int fd = open(files[i], O_WRONLY | O_CLOEXEC);
		ATTACK_EXPECT_FAIL("proc-sys-write", fd);
		if (fd >= 0)
			close(fd);
	}
	memset(&sv, 0, sizeof(sv));
	int rc = statvfs("/proc/sys", &sv);
	attack_result("proc-sys-readonly", rc == 0 && (sv.f_flag & ST_RDONLY),
		      "mount flags %#lx", sv.f_flag);
}

/* Masked files read empty (or do not exist); masked dirs are empty. */
static void proc_masks(void)
{
	static const char *const files[] = {
		"kallsyms", "keys", "key-users", "timer_list", "kcore",
		"kmsg", "config.gz", "sched_debug", "sysrq-trigger",
		"buddyinfo", "zoneinfo", "slabinfo", "vmallocinfo",
	};
	static const char *const dirs[] = { "acpi", "bus", "irq", "fs",
					    "scsi", "driver", "pressure" };
	char path[128], buf[256];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "/proc/%s", files[i]);
		int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : 0;
		if (fd >= 0)
			close(fd);
		attack_result("proc-mask-file", n <= 0, "%s: %zd bytes", path,
			      n);
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "/proc/%s", dirs[i]);
		DIR *d = opendir(path);
		int entries = 0;
		for (struct dirent *e; d && (e = readdir(d));)
			entries += e->d_name[0] != '.';
		if (d)
			closedir(d);
		attack_result("proc-mask-dir", entries == 0, "%s: %d entries",
			      path, entries);
	}
}

/* init is a copy of the daemon's memory: nothing of it is readable. */
static void init_process(void)
{
	char buf[256];
	int fd;

	fd = open("/proc/1/environ", O_RDONLY | O_CLOEXEC);
	ATTACK_EXPECT_FAIL("init-environ", fd);
	if (fd >= 0)
		close(fd);
	fd = open("/proc/1/mem", O_RDONLY | O_CLOEXEC);
	ATTACK_EXPECT_FAIL("init-mem", fd);
	if (fd >= 0)
		close(fd);
	ATTACK_EXPECT_FAIL("init-exe-link",
			   readlink("/proc/1/exe", buf, sizeof(buf)));
	ATTACK_EXPECT_FAIL("init-root-link",
			   readlink("/proc/1/root", buf, sizeof(buf)));
	fd = open("/proc/1/exe", O_WRONLY | O_CLOEXEC);
	ATTACK_EXPECT_FAIL("init-exe-write", fd);
	if (fd >= 0)
		close(fd);
	ATTACK_EXPECT_FAIL("init-ptrace",
			   ptrace(PTRACE_ATTACH, 1, NULL, NULL));
	ATTACK_EXPECT_FAIL("init-ptrace-seize",
			   ptrace(PTRACE_SEIZE, 1, NULL, NULL));
}

/* The payload's rlimits are set, and cannot be raised again. */
static void rlimits(void)
{
	static const struct { int res; const char *name; rlim_t max; } l[] = {
		{ RLIMIT_CORE, "core", 0 },
		{ RLIMIT_FSIZE, "fsize", 4ull << 30 },
		{ RLIMIT_NOFILE, "nofile", 8192 },
		{ RLIMIT_MEMLOCK, "memlock", 64 << 10 },
		{ RLIMIT_MSGQUEUE, "msgqueue", 0 },
		{ RLIMIT_SIGPENDING, "sigpending", 1024 },
	};
	char name[64];

	for (size_t i = 0; i < sizeof(l) / sizeof(l[0]); i++) {
		struct rlimit cur = { 0, 0 }, up;
		getrlimit(l[i].res, &cur);
		snprintf(name, sizeof(name), "rlimit-%s", l[i].name);
		attack_result(name, cur.rlim_max <= l[i].max &&
			      cur.rlim_cur <= cur.rlim_max,
			      "soft %llu hard %llu",
			      (unsigned long long)cur.rlim_cur,
			      (unsigned long long)cur.rlim_max);
		up.rlim_cur = up.rlim_max = cur.rlim_max == RLIM_INFINITY
						    ? RLIM_INFINITY
						    : cur.rlim_max + 1;
		snprintf(name, sizeof(name), "rlimit-raise-%s", l[i].name);
		ATTACK_EXPECT_FAIL(name, setrlimit(l[i].res, &up));
	}
}

static void dev(void)
{
	static char chunk[1 << 20];
	char name[64];
	DIR *d;
	int fd, others = 0;
	long total = 0;

	fd = open("/dev/evil", O_CREAT | O_WRONLY | O_CLOEXEC, 0755);
	ATTACK_EXPECT_FAIL("dev-create-file", fd);
	ATTACK_EXPECT_FAIL("dev-mknod",
			   mknod("/dev/sda", S_IFBLK | 0666, makedev(8, 0)));
	ATTACK_EXPECT_FAIL("dev-mknod-shm", mknod("/dev/shm/sda",
						  S_IFBLK | 0666,
						  makedev(8, 0)));

	/* A private devpts: the first terminal made is number 0 and no
	 * other terminal (the host's) is listed. */
	fd = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || ptsname_r(fd, name, sizeof(name)) != 0)
		snprintf(name, sizeof(name), "none (%s)", strerror(errno));
	d = opendir("/dev/pts");
	for (struct dirent *e; d && (e = readdir(d));)
		others += e->d_name[0] >= '1' && e->d_name[0] <= '9';
	if (d)
		closedir(d);
	attack_result("dev-host-ptys", d && others == 0 &&
		      strcmp(name, "/dev/pts/0") == 0,
		      "new terminal %s, %d other terminals listed", name,
		      others);
	if (fd >= 0)
		close(fd);

	/* /dev/shm is writable but capped (64 MiB): stop at 128. */
	memset(chunk, 'x', sizeof(chunk));
	fd = open("/dev/shm/fill", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	for (int i = 0; fd >= 0 && i < 128; i++) {
		ssize_t w = write(fd, chunk, sizeof(chunk));
		if (w <= 0)
			break;
		total += w;
	}
	if (fd >= 0)
		close(fd);
	unlink("/dev/shm/fill");
	attack_result("dev-shm-fill", fd >= 0 && total <= (64L << 20),
		      "%ld MiB written", total >> 20);
}

int main(int argc, char **argv)
{
	const char *rw = argc > 1 ? argv[1] : "";

	if (argc > 1 && strcmp(argv[1], "--report") == 0)
		return report();
	caps_all_zero();
	exec_copy("filecap-exec", "/ws/capbin");
	exec_copy("setuid-exec", "/ws/suidbin");
	mounts(rw);
	cgroups_and_sys();
	proc_sys();
	proc_masks();
	init_process();
	rlimits();
	dev();
	return attack_exit();
}
