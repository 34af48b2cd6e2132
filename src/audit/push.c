/*
 * push.c - handing exports to an auditor's SFTP account with OpenSSH's
 * sftp, run as a child with a fixed argv: no shell, no configuration
 * file, no agent, and host keys from one file only.
 */
#include "audit/timed.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "base/fs.h"
#include "base/util.h"

#define PUSH_SFTP "/usr/bin/sftp"
#define PUSH_SSH "/usr/bin/ssh"
#define PUSH_OUT_MAX 2048

/*
 * ssh opens both files again by name after the checks below: every
 * directory above must be a directory (no link), root's or ours, and
 * writable by no one else unless sticky (then others cannot rename or
 * remove our file), or whoever can write there swaps in a file of
 * their own between the check and ssh's open.
 */
static int push_check_dirs(const char *path, char *why, size_t whysz)
{
	char p[PATH_MAX];
	struct stat st;
	char *slash;

	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	while ((slash = strrchr(p, '/')) != NULL) {
		slash[slash == p] = '\0';
		if (lstat(p, &st) != 0 || !S_ISDIR(st.st_mode) ||
		    (st.st_uid != 0 && st.st_uid != geteuid()) ||
		    ((st.st_mode & (S_IWGRP | S_IWOTH)) &&
		     !(st.st_mode & S_ISVTX))) {
			snprintf(why, whysz, "%s: %s must be a directory of "
				 "root or uid %u that no one else can write",
				 path, p, (unsigned)geteuid());
			return AL_E_UNSAFE;
		}
		if (slash == p)
			break;
	}
	return 0;
}

/*
 * The key must be ours alone: a key others can read is a key others
 * can push (or pose as this appliance) with. The known hosts file must
 * be writable by nobody else: whoever can add a line to it can
 * impersonate the receiver.
 */
static int push_check_file(const char *path, bool key, char *why,
			   size_t whysz)
{
	struct stat st;
	int fd, rc = push_check_dirs(path, why, whysz);

	if (rc)
		return rc;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(why, whysz, "%s: %s", path, strerror(errno));
		rc = errno == ELOOP ? AL_E_UNSAFE : AL_E_NOTFOUND;
	} else if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		snprintf(why, whysz, "%s: must be a regular file owned by uid "
			 "%u", path, (unsigned)geteuid());
		rc = AL_E_UNSAFE;
	} else if (key && (st.st_mode & 0777) != 0600) {
		snprintf(why, whysz, "%s: the push key must have mode 0600, "
			 "not %04o", path, (unsigned)(st.st_mode & 07777));
		rc = AL_E_UNSAFE;
	} else if (!key && (st.st_mode & 022)) {
		snprintf(why, whysz, "%s: the known hosts file must be "
			 "writable by its owner only (mode %04o)", path,
			 (unsigned)(st.st_mode & 07777));
		rc = AL_E_UNSAFE;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * sftp's commands: each file up under ".NAME.part", then renamed over
 * NAME (OpenSSH's sftp renames with posix-rename where the server has
 * it, so a retried push replaces what a failed one left). Names and
 * the path hold only checked characters, so nothing here needs quoting.
 */
static int push_batch(const struct audit_timed_cfg *c, uint64_t from,
		      uint64_t to, int fd)
{
	struct al_buf b = { 0 };
	int rc = 0;

	for (uint64_t n = from; rc == 0 && n <= to; n++)
		for (int d = 0; rc == 0 && d < 2; d++) {
			char name[64];
			snprintf(name, sizeof(name), "%08llu.%s",
				 (unsigned long long)n,
				 d ? "digest.json" : "jsonl");
			rc = al_buf_printf(&b, "put %s %s/.%s.part\n"
					   "rename %s/.%s.part %s/%s\n", name,
					   c->path, name, c->path, name,
					   c->path, name);
		}
	if (rc == 0)
		rc = al_write_all(fd, b.p, b.len);
	if (rc == 0 && lseek(fd, 0, SEEK_SET) < 0)
		rc = -errno;
	al_buf_free(&b);
	return rc;
}

/* Wait for the child, killing it at the deadline. */
static int push_wait(pid_t pid, int *status, bool *timed_out)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd p = { pfd, POLLIN, 0 };
	int n;

	*timed_out = false;
	if (pfd >= 0) {
		while ((n = poll(&p, 1, AUDIT_PUSH_TIMEOUT_S * 1000)) < 0 &&
		       errno == EINTR)
			;
		if (n == 0) {
			/* The whole group: sftp's ssh child too, which would
			 * otherwise hold the connection until it times out. */
			*timed_out = true;
			kill(-pid, SIGKILL);
		}
		close(pfd);
	}
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/*
 * What sftp and ssh said, made safe for a log: their lines joined with
 * " / ", leaving out sftp's echo of its own commands ("sftp> ...").
 */
static void push_reason(int fd, char *why, size_t whysz)
{
	char buf[PUSH_OUT_MAX + 1];
	ssize_t n = pread(fd, buf, PUSH_OUT_MAX, 0);
	size_t len = strlen(why);
	const char *sep = ": ";

	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *line = buf, *next; line && len + 8 < whysz; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		line[strcspn(line, "\r")] = '\0';
		if (!*line || !strncmp(line, "sftp> ", 6))
			continue;
		al_sanitize_text(line);
		snprintf(why + len, whysz - len, "%s%s", sep, line);
		len = strlen(why);
		sep = " / ";
	}
}

int audit_push(const struct audit_timed_cfg *c, const char *dir,
	       uint64_t from, uint64_t to, char *why, size_t whysz)
{
	char port[8], khf[1100], dest[320];
	char *env[] = { "PATH=/usr/bin:/bin", "LC_ALL=C", NULL };
	char *argv[] = {
		PUSH_SFTP, "-b", "-", "-F", "/dev/null", "-S", PUSH_SSH,
		"-P", port, "-i", (char *)c->key,
		"-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
		"-o", "BatchMode=yes", "-o", "PasswordAuthentication=no",
		"-o", "KbdInteractiveAuthentication=no",
		"-o", "HostbasedAuthentication=no",
		"-o", "StrictHostKeyChecking=yes", "-o", khf,
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "UpdateHostKeys=no", "-o", "CheckHostIP=no",
		"-o", "ForwardAgent=no", "-o", "ForwardX11=no",
		"-o", "ClearAllForwardings=yes", "-o", "PermitLocalCommand=no",
		"-o", "ControlMaster=no", "-o", "ControlPath=none",
		"-o", "ProxyCommand=none", "-o", "ProxyJump=none",
		"-o", "ConnectTimeout=20", "-o", "ServerAliveInterval=15",
		"-o", "ServerAliveCountMax=4", "-o", "LogLevel=ERROR",
		"--", dest, NULL,
	};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int in = -1, out = -1, status = 0, rc;
	bool timed_out = false, fa_ok = false, attr_ok = false;
	pid_t pid;

	snprintf(port, sizeof(port), "%u", c->port);
	snprintf(khf, sizeof(khf), "UserKnownHostsFile=%s", c->known_hosts);
	snprintf(dest, sizeof(dest), "%s@%s", c->user, c->host);
	rc = push_check_file(c->key, true, why, whysz);
	if (rc == 0)
		rc = push_check_file(c->known_hosts, false, why, whysz);
	if (rc)
		return rc;

	in = memfd_create("airlock-push-batch", MFD_CLOEXEC);
	out = memfd_create("airlock-push-out", MFD_CLOEXEC);
	rc = in < 0 || out < 0 ? -errno : push_batch(c, from, to, in);
	if (rc == 0)
		rc = -posix_spawn_file_actions_init(&fa);
	fa_ok = rc == 0;
	if (rc == 0)
		rc = -posix_spawnattr_init(&attr);
	attr_ok = rc == 0;
	if (rc == 0)
		rc = -posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	if (rc == 0)
		rc = -posix_spawnattr_setpgroup(&attr, 0);
	/* The child sees the batch on stdin, its output goes to a memory
	 * file, and it starts in the export directory so that the local
	 * names need no path. */
	if (rc == 0)
		rc = -posix_spawn_file_actions_adddup2(&fa, in, 0);
	if (rc == 0)
		rc = -posix_spawn_file_actions_adddup2(&fa, out, 1);
	if (rc == 0)
		rc = -posix_spawn_file_actions_adddup2(&fa, out, 2);
	if (rc == 0)
		rc = -posix_spawn_file_actions_addchdir_np(&fa, dir);
	if (rc == 0)
		rc = -posix_spawn(&pid, PUSH_SFTP, &fa, &attr, argv, env);
	if (rc) {
		snprintf(why, whysz, "cannot run %s: %s", PUSH_SFTP,
			 al_strerror(rc));
		goto out;
	}
	rc = push_wait(pid, &status, &timed_out);
	if (rc == 0 && (timed_out || !WIFEXITED(status) ||
			WEXITSTATUS(status) != 0)) {
		if (timed_out)
			snprintf(why, whysz, "sftp killed after %d s",
				 AUDIT_PUSH_TIMEOUT_S);
		else if (WIFEXITED(status))
			snprintf(why, whysz, "sftp exited with status %d",
				 WEXITSTATUS(status));
		else
			snprintf(why, whysz, "sftp killed by signal %d",
				 WTERMSIG(status));
		push_reason(out, why, whysz);
		rc = AL_E_UNAVAILABLE;
	}
out:
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (attr_ok)
		posix_spawnattr_destroy(&attr);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}
