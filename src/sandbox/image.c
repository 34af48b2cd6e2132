/*
 * image.c - the pinned base image: checking it and naming it by digest.
 *
 * An image directory holds what the sandbox binds read-only as its system
 * (usr/, the bin/sbin/lib links, etc/...). Every job records the image's
 * digest, so an operator can tell which system a build ran on, and can
 * pin it (airlock.conf image_digest) so that a changed image stops jobs
 * instead of running them on something nobody reviewed.
 *
 * The digest is SHA-256 over a canonical listing of the tree: entries in
 * byte order of their names, depth first, each with its type, permission
 * bits, owner, size and either its content's SHA-256 or its link target.
 * Timestamps are left out, so copying an image keeps its digest.
 *
 * The check refuses an image that anyone but root could change: every
 * entry and every directory above the image must be owned by root (uid 0)
 * and not writable by group or others. Otherwise the tree could change between
 * the digest and the binds, and the digest would name a system that was
 * never run. Device nodes, FIFOs and sockets are refused outright.
 */
#include "sandbox/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/err.h"
#include "base/log.h"

/* Deeper than any real system tree; bounds recursion and descriptors. */
#define SBX_IMAGE_DEPTH 64

struct img_walk {
	EVP_MD_CTX *tree;
	const char *job;
	char path[PATH_MAX]; /* relative to the image, for messages */
	unsigned long entries;
};

static int img_refuse(struct img_walk *w, const char *why)
{
	al_error(SBX_MOD, w->job, "step=image %s: %s",
		 w->path[0] ? w->path : ".", why);
	return AL_E_SANDBOX;
}

/* Only root may be able to change what the digest names. */
static int img_check_owner(struct img_walk *w, const struct stat *st)
{
	if (st->st_uid != 0)
		return img_refuse(w, "not owned by root");
	if (!S_ISLNK(st->st_mode) && (st->st_mode & (S_IWGRP | S_IWOTH)))
		return img_refuse(w, "writable by group or others");
	return 0;
}

static int img_hash_file(struct img_walk *w, int dirfd, const char *name,
			 char *hex)
{
	unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int rc = 0, fd;
	ssize_t n;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
					 O_CLOEXEC);
	if (!c || fd < 0) {
		rc = fd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
		rc = AL_E_CRYPTO;
		goto out;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		EVP_DigestUpdate(c, buf, (size_t)n);
	if (n < 0)
		rc = -errno;
	else if (EVP_DigestFinal_ex(c, md, &mdlen) != 1)
		rc = AL_E_CRYPTO;
	else
		al_hex(hex, md, mdlen);
out:
	if (rc)
		al_error(SBX_MOD, w->job, "step=image reading %s: %s",
			 w->path, al_strerror(rc));
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(c);
	return rc;
}

static int img_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dirfd, sorted; caller frees each and the array. */
static int img_list(int dirfd, char ***names, size_t *n)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	size_t cap = 0;
	int rc = 0;

	*names = NULL;
	*n = 0;
	if (!d) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		return rc;
	}
	while (rc == 0 && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			char **p = realloc(*names, cap * sizeof(*p));
			if (!p) {
				rc = -ENOMEM;
				break;
			}
			*names = p;
		}
		(*names)[*n] = strdup(e->d_name);
		rc = (*names)[*n] ? 0 : -ENOMEM;
		if (rc == 0)
			(*n)++;
	}
	closedir(d);
	if (rc == 0 && *n)
		qsort(*names, *n, sizeof(**names), img_cmp);
	return rc;
}

static int img_walk_dir(struct img_walk *w, int dirfd, int depth);

/* Add one entry's line to the tree hash; recurse into directories. */
static int img_entry(struct img_walk *w, int dirfd, const char *name,
		     int depth)
{
	struct stat st;
	char line[PATH_MAX + 256], what[PATH_MAX] = "";
	char type;
	int rc, len;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return img_refuse(w, strerror(errno));
	rc = img_check_owner(w, &st);
	if (rc)
		return rc;
	if (S_ISREG(st.st_mode)) {
		type = 'f';
		rc = img_hash_file(w, dirfd, name, what);
	} else if (S_ISLNK(st.st_mode)) {
		type = 'l';
		ssize_t n = readlinkat(dirfd, name, what, sizeof(what) - 1);
		if (n < 0)
			return img_refuse(w, strerror(errno));
		what[n] = '\0';
	} else if (S_ISDIR(st.st_mode)) {
		type = 'd';
	} else {
		return img_refuse(w, "a device node, FIFO or socket");
	}
	if (rc)
		return rc;
	/* NUL separates the fields that may hold any byte but NUL. */
	len = snprintf(line, sizeof(line), "%c %04o %u:%u %jd %s", type,
		       (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
		       (unsigned)st.st_gid,
		       type == 'f' ? (intmax_t)st.st_size : (intmax_t)0, w->path);
	if (len < 0 || (size_t)len >= sizeof(line))
		return img_refuse(w, "path too long");
	EVP_DigestUpdate(w->tree, line, (size_t)len + 1);
	EVP_DigestUpdate(w->tree, what, strlen(what) + 1);
	w->entries++;
	if (type != 'd')
		return 0;

	int sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					     O_CLOEXEC);
	if (sub < 0)
		return img_refuse(w, strerror(errno));
	rc = img_walk_dir(w, sub, depth + 1);
	close(sub);
	return rc;
}

static int img_walk_dir(struct img_walk *w, int dirfd, int depth)
{
	size_t base = strlen(w->path), n = 0;
	char **names = NULL;
	int rc;

	if (depth > SBX_IMAGE_DEPTH)
		return img_refuse(w, "nested too deep");
	rc = img_list(dirfd, &names, &n);
	if (rc)
		return img_refuse(w, al_strerror(rc));
	for (size_t i = 0; i < n; i++) {
		if (rc == 0) {
			int k = snprintf(w->path + base, sizeof(w->path) - base,
					 "%s%s", base ? "/" : "", names[i]);
			if (k < 0 || (size_t)k >= sizeof(w->path) - base)
				rc = img_refuse(w, "path too long");
			else
				rc = img_entry(w, dirfd, names[i], depth);
			w->path[base] = '\0';
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

/*
 * The image directory and every directory above it: root's alone. Above
 * the image, a sticky directory (like /tmp) is allowed: nobody else can
 * rename or replace the root-owned entry inside it.
 */
int sbx_image_ancestors(const char *dir, bool top, char *why, size_t whysz)
{
	char p[PATH_MAX];
	struct stat st;

	if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p)) {
		snprintf(why, whysz, "%.200s...: path too long", dir);
		return AL_E_SANDBOX;
	}
	for (;;) {
		if (lstat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
			snprintf(why, whysz, "%s: not a directory", p);
			return AL_E_SANDBOX;
		}
		bool shared = st.st_mode & (S_IWGRP | S_IWOTH);
		if (shared && !top && (st.st_mode & S_ISVTX))
			shared = false;
		if (st.st_uid != 0 || shared) {
			snprintf(why, whysz, "%s: must be owned by root and "
				 "writable by root only", p);
			return AL_E_SANDBOX;
		}
		char *slash = strrchr(p, '/');
		if (!slash || slash == p)
			break;
		*slash = '\0';
		top = false;
	}
	return 0;
}

static int img_check_ancestors(struct img_walk *w, const char *dir)
{
	char why[PATH_MAX + 64];
	int rc = sbx_image_ancestors(dir, true, why, sizeof(why));

	if (rc)
		al_error(SBX_MOD, w->job, "step=image %s", why);
	return rc;
}

int sbx_image_digest(const char *dir, char *out, size_t outsz,
		     const char *job)
{
	struct img_walk w = { .job = job };
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	int rc, fd = -1;

	if (!dir || dir[0] != '/' || outsz < 72) {
		al_error(SBX_MOD, job, "step=image the image must be an "
			 "absolute directory path");
		return -EINVAL;
	}
	rc = img_check_ancestors(&w, dir);
	if (rc)
		return rc;
	w.tree = EVP_MD_CTX_new();
	if (!w.tree || EVP_DigestInit_ex(w.tree, EVP_sha256(), NULL) != 1) {
		rc = AL_E_CRYPTO;
		goto out;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		al_error(SBX_MOD, job, "step=image %s: %s", dir, strerror(errno));
		goto out;
	}
	rc = img_walk_dir(&w, fd, 0);
	if (rc == 0 && EVP_DigestFinal_ex(w.tree, md, &mdlen) != 1)
		rc = AL_E_CRYPTO;
	if (rc == 0) {
		al_hex(hex, md, mdlen);
		snprintf(out, outsz, "sha256:%s", hex);
		al_info(SBX_MOD, job, "image %s digest=%s entries=%lu", dir, out,
			w.entries);
	}
out:
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(w.tree);
	return rc;
}
