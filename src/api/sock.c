/*
 * sock.c - the control socket on the file system: one server per path,
 * stale sockets removed, mode 0660 and the configured group from the
 * moment it exists.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/internal.h"
#include "base/err.h"
#include "base/log.h"

#define API_BACKLOG 4096

static int api_sock_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (!path[0])
		return AL_E_USAGE;
	/* sun_path must hold the name and its NUL: no truncated bind. */
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return 0;
}

/*
 * Whoever may write into the socket's directory can unlink the socket
 * and bind their own in its place, then read every command the CLI
 * sends; so the directory must be writable by its owner only.
 */
static int api_sock_dir_ok(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;

	al_strlcpy(dir, path, sizeof(dir));
	if (stat(dirname(dir), &st) != 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		al_error("api", NULL, "socket directory is writable by "
			 "others: path=%s mode=%04o", path,
			 (unsigned)(st.st_mode & 07777));
		return AL_E_UNSAFE;
	}
	return 0;
}

/*
 * The lock file serialises two daemons starting at once: without it,
 * both could find the same stale socket, and the second would unlink
 * the first one's fresh socket.
 */
static int api_sock_lock(const char *path, int *lock_fd)
{
	char lpath[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	int fd;

	snprintf(lpath, sizeof(lpath), "%s.lock", path);
	fd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int rc = errno == EWOULDBLOCK ? AL_E_EXISTS : -errno;

		al_error("api", NULL, "another server holds %s", lpath);
		close(fd);
		return rc;
	}
	*lock_fd = fd;
	return 0;
}

/* A socket at path that nobody answers on is stale; a live one is not. */
static int api_sock_clear(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		al_error("api", NULL, "not a socket, left alone: path=%s",
			 path);
		return AL_E_UNSAFE;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	if (rc == 0 || errno == EAGAIN) {
		al_error("api", NULL, "a server already listens: path=%s",
			 path);
		rc = AL_E_EXISTS;
	} else if (errno == ECONNREFUSED) {
		al_info("api", NULL, "removing stale socket: path=%s", path);
		rc = unlink(path) == 0 ? 0 : -errno;
	} else {
		rc = -errno;
	}
	close(fd);
	return rc;
}

static int api_sock_bind(int fd, const char *path,
			 const struct sockaddr_un *sa, gid_t gid)
{
	struct stat st;
	mode_t old;
	int rc;

	/*
	 * The umask makes the socket 0660 at creation, so there is no
	 * moment in which it is open to everyone (fchmod on a socket fd
	 * does not reach the file). umask is per process: the daemon
	 * creates the socket before it starts other threads.
	 */
	old = umask(0117);
	rc = bind(fd, (const struct sockaddr *)sa, sizeof(*sa));
	umask(old);
	if (rc != 0)
		return -errno;
	/* lchown: never follow a symlink planted at path. */
	if (gid != (gid_t)-1 && lchown(path, (uid_t)-1, gid) != 0) {
		rc = -errno;
		goto out;
	}
	if (lstat(path, &st) != 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISSOCK(st.st_mode) || (st.st_mode & 0777) != 0660 ||
	    (gid != (gid_t)-1 && st.st_gid != gid)) {
		al_error("api", NULL, "socket has the wrong mode or group: "
			 "path=%s mode=%04o gid=%u", path,
			 (unsigned)(st.st_mode & 07777), (unsigned)st.st_gid);
		rc = AL_E_UNSAFE;
	}
out:
	if (rc)
		unlink(path);
	return rc;
}

int api_sock_listen(const char *path, gid_t gid, int *fd_out, int *lock_fd)
{
	struct sockaddr_un sa;
	int fd = -1, lfd = -1, rc;

	rc = api_sock_addr(path, &sa);
	if (rc == 0)
		rc = api_sock_dir_ok(path);
	if (rc == 0)
		rc = api_sock_lock(path, &lfd);
	if (rc == 0)
		rc = api_sock_clear(path, &sa);
	if (rc)
		goto out;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	rc = api_sock_bind(fd, path, &sa, gid);
	if (rc)
		goto out;
	if (listen(fd, API_BACKLOG) != 0) {
		rc = -errno;
		unlink(path);
		goto out;
	}
	*fd_out = fd;
	*lock_fd = lfd;
	fd = lfd = -1;
out:
	if (fd >= 0)
		close(fd);
	if (lfd >= 0)
		close(lfd);
	return rc;
}
