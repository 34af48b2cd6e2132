/*
 * packed.c - a packed base image: one squashfs file, verified by the
 * SHA-256 of its bytes and mounted read-only as the sandbox's system.
 *
 * An image directory must be walked whole to be named (image.c); a packed
 * image is named by hashing one file, and the mount shows exactly the
 * tree those bytes hold. The bytes hashed, the loop device and the mount
 * all come from one descriptor opened O_NOFOLLOW after the ownership
 * checks, so a path swapped meanwhile cannot put other bytes under the
 * digest. The loop device is read-only and clears itself when the mount
 * goes; the mount is nosuid and nodev, since an image is data, not a
 * source of privilege. What only root could still do (write the file in
 * place after it was verified) is caught by sbx_packed_changed() before
 * the next job, which then verifies it again.
 *
 * Mount points live under SBX_IMAGE_RUN, named with the digest, the pid
 * of the process that mounted and a counter: a process killed before it
 * unmounted leaves a mount that sbx_image_sweep() recognises as stale.
 */
#include "sandbox/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/err.h"
#include "base/log.h"

/*
 * The squashfs 4.0 superblock (96 bytes, little-endian), from the
 * format's description in Linux's fs/squashfs/squashfs_fs.h: the magic
 * at 0, the major version at 28, the bytes the filesystem uses at 40.
 */
#define SQFS_MAGIC 0x73717368u
#define SQFS_SUPER_LEN 96
#define SQFS_OFF_MAJOR 28
#define SQFS_OFF_BYTES 40

static atomic_uint pk_seq;

static uint64_t le(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

bool sbx_image_packed(const char *path)
{
	struct stat st;

	return path && (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode));
}

/* Before opening: the directories above, and the name itself. */
static int pk_check_path(const char *file, char *why, size_t whysz)
{
	char dir[PATH_MAX];
	struct stat st;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", file);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (sbx_image_ancestors(dir, false, why, whysz))
		return AL_E_SANDBOX;
	if (lstat(file, &st) != 0) {
		snprintf(why, whysz, "%s: %s", file, strerror(errno));
		return -errno;
	}
	if (S_ISLNK(st.st_mode)) {
		snprintf(why, whysz, "%s: a symbolic link (name the file "
			 "itself)", file);
		return AL_E_SANDBOX;
	}
	return 0;
}

/* On the open descriptor: what is hashed is what was checked. */
static int pk_check_fd(struct sbx_packed *p, struct stat *st, char *why,
		       size_t whysz)
{
	if (fstat(p->fd, st) != 0) {
		snprintf(why, whysz, "%s: %s", p->file, strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(why, whysz, "%s: not a regular file", p->file);
		return AL_E_SANDBOX;
	}
	if (st->st_uid != 0 || (st->st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(why, whysz, "%s: must be owned by root and writable "
			 "by root only", p->file);
		return AL_E_SANDBOX;
	}
	return 0;
}

/* A squashfs 4 superblock, and all the bytes it says the image uses. */
static int pk_check_super(struct sbx_packed *p, const struct stat *st,
			  char *why, size_t whysz)
{
	unsigned char sb[SQFS_SUPER_LEN];
	ssize_t n = pread(p->fd, sb, sizeof(sb), 0);
	uint64_t used;

	if (n < 0) {
		snprintf(why, whysz, "%s: %s", p->file, strerror(errno));
		return -errno;
	}
	if (n < (ssize_t)sizeof(sb) || le(sb, 4) != SQFS_MAGIC ||
	    le(sb + SQFS_OFF_MAJOR, 2) != 4) {
		snprintf(why, whysz, "%s: not a squashfs 4 image", p->file);
		return AL_E_SANDBOX;
	}
	used = le(sb + SQFS_OFF_BYTES, 8);
	if (used > (uint64_t)st->st_size) {
		snprintf(why, whysz, "%s: truncated: the image needs %llu "
			 "bytes, the file has %lld", p->file,
			 (unsigned long long)used, (long long)st->st_size);
		return AL_E_SANDBOX;
	}
	return 0;
}

static int pk_hash(struct sbx_packed *p, const struct stat *st, char *why,
		   size_t whysz)
{
	unsigned char *buf = malloc(1 << 16), md[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned mdlen = 0;
	off_t off = 0;
	ssize_t n;
	int rc = 0;

	if (!c || !buf || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
		rc = buf ? AL_E_CRYPTO : -ENOMEM;
		goto out;
	}
	while ((n = pread(p->fd, buf, 1 << 16, off)) > 0) {
		EVP_DigestUpdate(c, buf, (size_t)n);
		off += n;
	}
	if (n < 0)
		rc = -errno;
	else if (off != st->st_size)
		rc = -EAGAIN; /* it changed while it was read */
	else if (EVP_DigestFinal_ex(c, md, &mdlen) != 1)
		rc = AL_E_CRYPTO;
	if (rc == 0) {
		al_hex(hex, md, mdlen);
		snprintf(p->digest, sizeof(p->digest), "sha256:%.64s", hex);
	}
out:
	if (rc)
		snprintf(why, whysz, "%s: cannot hash: %s", p->file,
			 rc == -EAGAIN ? "it changed while it was read"
				       : al_strerror(rc));
	EVP_MD_CTX_free(c);
	free(buf);
	return rc;
}

/*
 * /run/airlock and SBX_IMAGE_RUN, root's alone and searchable by all:
 * the sandbox opens the image's paths after it leaves host root.
 */
static int pk_rundir(const char *d, char *why, size_t whysz)
{
	struct stat st;

	if (mkdir(d, 0755) == 0 && chmod(d, 0755) != 0) {
		snprintf(why, whysz, "%s: %s", d, strerror(errno));
		return -errno;
	}
	if (lstat(d, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(why, whysz, "%s: must be a directory owned by root "
			 "and writable by root only", d);
		return AL_E_SANDBOX;
	}
	return 0;
}

static int pk_mountpoint(struct sbx_packed *p, char *why, size_t whysz)
{
	int rc = pk_rundir("/run/airlock", why, whysz);

	if (rc == 0)
		rc = pk_rundir(SBX_IMAGE_RUN, why, whysz);
	if (rc)
		return rc;
	snprintf(p->root, sizeof(p->root), "%s/%.16s-%ld-%u", SBX_IMAGE_RUN,
		 p->digest + 7, (long)getpid(), atomic_fetch_add(&pk_seq, 1));
	if (mkdir(p->root, 0755) != 0 || chmod(p->root, 0755) != 0) {
		rc = -errno;
		snprintf(why, whysz, "%s: %s", p->root, strerror(errno));
		if (rc != -EEXIST)
			rmdir(p->root);
		p->root[0] = '\0';
	}
	return rc;
}

static int pk_mount(struct sbx_packed *p, char *dev, size_t devsz,
		    char *why, size_t whysz)
{
	int lfd, rc = 0;

	/* Read-only twice over: the descriptor and the device's flag. */
	lfd = sbx_loop_attach(p->fd, LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR,
			      dev, devsz);
	if (lfd < 0) {
		snprintf(why, whysz, "%s: no loop device: %s", p->file,
			 al_strerror(lfd));
		return lfd;
	}
	if (mount(dev, p->root, "squashfs", MS_RDONLY | MS_NOSUID | MS_NODEV,
		  NULL) != 0) {
		rc = -errno;
		snprintf(why, whysz, "%s: the kernel refuses to mount it as "
			 "squashfs: %s", p->file, strerror(errno));
	}
	close(lfd); /* the mount holds the device; else it clears now */
	return rc;
}

static void pk_keep_stat(struct sbx_packed *p, const struct stat *st)
{
	p->dev = st->st_dev;
	p->ino = st->st_ino;
	p->size = st->st_size;
	p->mtime = st->st_mtim;
	p->ctime = st->st_ctim;
}

int sbx_packed_open(const char *file, const char *pin, struct sbx_packed *p,
		    char *why, size_t whysz, const char *job)
{
	char dev[32] = "";
	struct stat st;
	int rc;

	*p = (struct sbx_packed){.fd = -1};
	if (!file || file[0] != '/' ||
	    al_strlcpy(p->file, file, sizeof(p->file)) >= sizeof(p->file)) {
		snprintf(why, whysz, "the image must be an absolute path "
			 "of at most %zu bytes", sizeof(p->file) - 1);
		rc = -EINVAL;
		goto out;
	}
	rc = pk_check_path(file, why, whysz);
	if (rc)
		goto out;
	/* O_NOFOLLOW: a symlink put in place since the check fails here. */
	p->fd = open(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (p->fd < 0) {
		rc = -errno;
		snprintf(why, whysz, "%s: %s", file, errno == ELOOP ?
			 "a symbolic link (name the file itself)" :
			 strerror(errno));
		goto out;
	}
	if ((rc = pk_check_fd(p, &st, why, whysz)) ||
	    (rc = pk_check_super(p, &st, why, whysz)) ||
	    (rc = pk_hash(p, &st, why, whysz)))
		goto out;
	if (pin && pin[0] && strcmp(pin, p->digest)) {
		snprintf(why, whysz, "%s has digest %s, but the pinned digest "
			 "is %s", file, p->digest, pin);
		rc = AL_E_SANDBOX;
		goto out;
	}
	pk_keep_stat(p, &st);
	if ((rc = pk_mountpoint(p, why, whysz)) ||
	    (rc = pk_mount(p, dev, sizeof(dev), why, whysz)))
		goto out;
	if (sbx_packed_changed(p)) {
		snprintf(why, whysz, "%s changed while it was verified", file);
		rc = AL_E_SANDBOX;
	}
out:
	if (rc) {
		al_error(SBX_MOD, job, "step=image refused: %s", why);
		sbx_packed_close(p, job);
	} else {
		al_info(SBX_MOD, job, "image mounted file=%s digest=%s root=%s "
			"dev=%s", file, p->digest, p->root, dev);
	}
	return rc;
}

static bool pk_same(const struct sbx_packed *p, const struct stat *st)
{
	return st->st_dev == p->dev && st->st_ino == p->ino &&
	       st->st_size == p->size &&
	       st->st_mtim.tv_sec == p->mtime.tv_sec &&
	       st->st_mtim.tv_nsec == p->mtime.tv_nsec &&
	       st->st_ctim.tv_sec == p->ctime.tv_sec &&
	       st->st_ctim.tv_nsec == p->ctime.tv_nsec;
}

bool sbx_packed_changed(const struct sbx_packed *p)
{
	struct stat a, b;

	if (p->fd < 0 || fstat(p->fd, &a) != 0 || lstat(p->file, &b) != 0)
		return true;
	return !pk_same(p, &a) || !pk_same(p, &b);
}

/* Unmount dir, lazily when something still uses the image; remove it. */
static int pk_unmount(const char *dir)
{
	int rc = 0;

	if (umount2(dir, UMOUNT_NOFOLLOW) != 0) {
		rc = -errno;
		if (rc == -EBUSY &&
		    umount2(dir, UMOUNT_NOFOLLOW | MNT_DETACH) == 0)
			rc = 0;
		if (rc == -EINVAL)
			rc = 0; /* not mounted (a failed open's mount point) */
	}
	if (rc == 0 && rmdir(dir) != 0 && errno != ENOENT)
		rc = -errno;
	return rc;
}

void sbx_packed_close(struct sbx_packed *p, const char *job)
{
	int rc;

	if (p->root[0]) {
		rc = pk_unmount(p->root);
		if (rc)
			al_error(SBX_MOD, job, "step=image cannot remove the "
				 "mount %s: %s", p->root, al_strerror(rc));
		else if (p->digest[0])
			al_info(SBX_MOD, job, "image unmounted root=%s",
				p->root);
		p->root[0] = '\0';
	}
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

/* The pid in "<hex>-<pid>-<n>"; 0 for a name not of that form. */
static pid_t pk_name_pid(const char *name)
{
	const char *dash = strchr(name, '-');
	char *end;
	long pid;

	if (!dash || dash - name != 16)
		return 0;
	pid = strtol(dash + 1, &end, 10);
	if (pid <= 0 || *end != '-')
		return 0;
	return (pid_t)pid;
}

int sbx_image_sweep(void)
{
	DIR *d = opendir(SBX_IMAGE_RUN);
	char path[PATH_MAX];
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		pid_t pid = pk_name_pid(e->d_name);
		if (pid <= 0 || kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", SBX_IMAGE_RUN,
			 e->d_name);
		int rc = pk_unmount(path);
		if (rc)
			al_error(SBX_MOD, NULL, "step=image cannot remove the "
				 "stale mount %s: %s", path, al_strerror(rc));
		else
			n++;
	}
	closedir(d);
	if (n)
		al_warn(SBX_MOD, NULL, "removed %d stale image mounts of "
			"processes that are gone", n);
	return n;
}
