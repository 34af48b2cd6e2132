/*
 * descriptors.c - THREATS.md, "Descriptors and the helper".
 *
 * Run as /attacks/descriptors CANARY-NAME. The test that runs it holds
 * descriptors to a host directory containing a file named CANARY-NAME
 * (with and without O_CLOEXEC: the sandbox's init is a copy of the
 * caller that never execs, so close-on-exec alone protects nothing), and
 * has a secret in its own environment and command line. Attempts:
 *
 *   inherited-fd   a descriptor above 2 left open in the payload
 *                  (stopped by close_range before exec);
 *   fd-PID, cwd-PID, root-PID
 *                  a /proc/PID/fd entry, cwd or root of another process
 *                  that leads, directly or through "..", to the canary
 *                  (stopped by init closing its descriptors and being
 *                  non-dumpable: its /proc entries are not the payload's);
 *   exe-PID        /proc/PID/exe of another process opened for writing,
 *                  directly or by reopening an O_PATH descriptor, which
 *                  would overwrite the caller's binary on the host;
 *   environ-PID, cmdline-PID
 *                  the caller's environment or command line read through
 *                  init (wiped by init, and unreadable);
 *   mem-PID        another process's memory read, where the caller's
 *                  heap (tokens) lives in init's copy.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attack.h"

static const char *canary;
static pid_t self;

/* Does dfd, or one of its first 16 ancestors, hold the canary? */
static int leads_to_canary(int dfd)
{
	int fd = dup(dfd), hit = 0;

	for (int i = 0; fd >= 0 && i < 16 && !hit; i++) {
		hit = faccessat(fd, canary, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
		int up = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(fd);
		fd = up;
	}
	if (fd >= 0)
		close(fd);
	return hit;
}

/* Open path as a directory; report whether it reaches the canary. */
static void try_dir(const char *name, const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		attack_result(name, 1, "%s: %s", path, strerror(errno));
		return;
	}
	int hit = leads_to_canary(fd);
	close(fd);
	attack_result(name, !hit, "%s %s", path,
		      hit ? "reaches the host canary" : "stays inside");
}

static void try_fds(pid_t pid)
{
	char dir[64], p[64 + 256 + 2], name[64];
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	snprintf(name, sizeof(name), "fd-%d", (int)pid);
	d = opendir(dir);
	if (!d) {
		attack_result(name, 1, "%s: %s", dir, strerror(errno));
		return;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		try_dir(name, p);
		if (pid == self)
			continue; /* its own stdout is writable, rightly */
		int w = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (w >= 0) {
			attack_result(name, 0, "%s opened for writing", p);
			close(w);
		}
	}
	closedir(d);
}

static void try_exe(pid_t pid)
{
	char p[64], re[64], name[64];
	int fd;

	snprintf(p, sizeof(p), "/proc/%d/exe", (int)pid);
	snprintf(name, sizeof(name), "exe-%d", (int)pid);
	ATTACK_EXPECT_FAIL(name, fd = open(p, O_WRONLY | O_CLOEXEC));
	if (fd >= 0)
		close(fd);
	fd = open(p, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		attack_result(name, 1, "O_PATH %s: %s", p, strerror(errno));
		return;
	}
	snprintf(re, sizeof(re), "/proc/self/fd/%d", fd);
	int w;
	ATTACK_EXPECT_FAIL(name, w = open(re, O_RDWR | O_CLOEXEC));
	if (w >= 0)
		close(w);
	close(fd);
}

/* Read up to max bytes of /proc/PID/what; -1 when it cannot be read. */
static long slurp(pid_t pid, const char *what, char *buf, size_t max)
{
	char p[64];
	long n;
	int fd;

	snprintf(p, sizeof(p), "/proc/%d/%s", (int)pid, what);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, max);
	close(fd);
	return n;
}

static int has_secret(const char *buf, long n)
{
	static const char *const marks[] = {"AL_DESC_SECRET",
					    "--al-desc-secret"};

	for (size_t i = 0; i < 2; i++)
		if (n > 0 && memmem(buf, (size_t)n, marks[i],
				    strlen(marks[i])))
			return 1;
	return 0;
}

static void try_env(pid_t pid)
{
	static char buf[1 << 16];
	const char *const what[] = {"environ", "cmdline"};
	char name[64];

	for (size_t i = 0; i < 2; i++) {
		snprintf(name, sizeof(name), "%s-%d", what[i], (int)pid);
		long n = slurp(pid, what[i], buf, sizeof(buf));
		if (n < 0)
			attack_result(name, 1, "%s", strerror(errno));
		else
			attack_result(name, !has_secret(buf, n),
				      "read %ld bytes, %s", n,
				      has_secret(buf, n) ? "secret found"
							 : "no secret");
	}
}

/* Any byte of another process's memory is too much: init's copy holds
 * the caller's heap. */
static void try_mem(pid_t pid)
{
	char p[64], name[64], maps[4096], byte;
	unsigned long lo = 0;
	int fd;

	snprintf(name, sizeof(name), "mem-%d", (int)pid);
	snprintf(p, sizeof(p), "/proc/%d/mem", (int)pid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		attack_result(name, 1, "open: %s", strerror(errno));
		return;
	}
	long n = slurp(pid, "maps", maps, sizeof(maps) - 1);
	if (n > 0) {
		maps[n] = '\0';
		lo = strtoul(maps, NULL, 16);
	}
	long r = lo ? pread(fd, &byte, 1, (off_t)lo) : -1;
	attack_result(name, r != 1, "opened; maps %s, read %s",
		      n > 0 ? "readable" : "unreadable",
		      r == 1 ? "a byte" : "nothing");
	close(fd);
}

int main(int argc, char **argv)
{
	char p[64];
	DIR *d;
	struct dirent *e;

	if (argc != 2)
		return 2;
	canary = argv[1];
	self = getpid();

	/* Anything above stderr was inherited: the scan's own descriptor
	 * does not exist yet. */
	for (int fd = 3; fd < 1024; fd++) {
		struct stat st;
		if (fstat(fd, &st) == 0)
			attack_result("inherited-fd", 0, "fd %d is open", fd);
	}
	attack_result("inherited-fd", 1, "nothing above 2 scanned open");

	d = opendir("/proc");
	if (!d)
		return 2;
	while ((e = readdir(d))) {
		pid_t pid = (pid_t)strtol(e->d_name, NULL, 10);
		if (pid <= 0 || pid == self)
			continue;
		try_fds(pid);
		snprintf(p, sizeof(p), "/proc/%d/cwd", (int)pid);
		try_dir("cwd", p);
		snprintf(p, sizeof(p), "/proc/%d/root", (int)pid);
		try_dir("root", p);
		try_exe(pid);
		try_env(pid);
		try_mem(pid);
	}
	closedir(d);
	/* The payload's own descriptors, for completeness. */
	try_fds(self);
	return attack_exit();
}
