/*
 * regtoken.c - load the registry token from its file (regtoken.h).
 */
#include "job/regtoken.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/err.h"
#include "base/util.h"

void job_regtoken_wipe(struct job_regtoken *t)
{
	if (t)
		explicit_bzero(t, sizeof(*t));
}

/*
 * The file must be ours alone. O_NOFOLLOW refuses a symlink (whoever
 * controls its target would choose the token, or learn where it is
 * read from); O_NONBLOCK keeps a FIFO from hanging the open; the checks
 * run on the descriptor, so the file cannot be swapped between check
 * and read.
 */
static int rt_open(const char *path, char *err, size_t errsz)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
				    O_NOCTTY);

	if (fd < 0) {
		int rc = errno == ELOOP ? AL_E_UNSAFE : -errno;
		snprintf(err, errsz, "registry_token_file %s: %s", path,
			 rc == AL_E_UNSAFE ? "is a symlink, refusing it"
					   : strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid()) {
		snprintf(err, errsz, "registry_token_file %s: must be a "
			 "regular file owned by uid %u", path,
			 (unsigned)geteuid());
		close(fd);
		return AL_E_UNSAFE;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errsz, "registry_token_file %s: has mode %04o, "
			 "group or others may access it; expected 0600 or "
			 "0400", path, (unsigned)(st.st_mode & 07777));
		close(fd);
		return AL_E_UNSAFE;
	}
	return fd;
}

/* One line of printable ASCII without spaces, an optional final
 * newline; the token's length, or -1. */
static ssize_t rt_check(const char *buf, size_t n)
{
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n == 0 || n > JOB_REGTOKEN_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] <= 0x20 ||
		    (unsigned char)buf[i] >= 0x7f)
			return -1;
	return (ssize_t)n;
}

static int rt_id(const char *tok, size_t n, char *id, size_t idsz)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[2 * 8 + 1];

	if (EVP_Digest(tok, n, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen < 8)
		return AL_E_CRYPTO;
	al_hex(hex, md, 8);
	snprintf(id, idsz, "sha256:%s", hex);
	return 0;
}

int job_regtoken_load(const char *path, struct job_regtoken *t, char *err,
		      size_t errsz)
{
	char buf[JOB_REGTOKEN_MAX + 3];
	size_t have = 0;
	ssize_t n = 0;
	int rc, fd;

	memset(t, 0, sizeof(*t));
	fd = rt_open(path, err, errsz);
	if (fd < 0)
		return fd;
	while (have < sizeof(buf)) {
		n = read(fd, buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	rc = n < 0 ? -errno : 0;
	if (rc) {
		snprintf(err, errsz, "registry_token_file %s: %s", path,
			 strerror(-rc));
		goto out;
	}
	n = rt_check(buf, have);
	if (n < 0) {
		snprintf(err, errsz, "registry_token_file %s: expected one "
			 "line of 1 to %d printable characters without "
			 "spaces", path, JOB_REGTOKEN_MAX);
		rc = AL_E_PARSE;
		goto out;
	}
	snprintf(t->header, sizeof(t->header), "Bearer %.*s", (int)n, buf);
	rc = rt_id(buf, (size_t)n, t->id, sizeof(t->id));
	if (rc)
		snprintf(err, errsz, "registry_token_file %s: cannot hash "
			 "the token", path);
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	if (rc)
		job_regtoken_wipe(t);
	return rc;
}
