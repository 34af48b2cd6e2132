#include "base/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int al_rel_ok(const char *rel)
{
	if (!rel || !*rel || rel[0] == '/')
		return 0;
	for (const char *p = rel; *p;) {
		const char *e = strchrnul(p, '/');
		if (e - p == 2 && p[0] == '.' && p[1] == '.')
			return 0;
		p = *e ? e + 1 : e;
	}
	return 1;
}

/* Fallback for kernels without openat2: walk component by component. */
static int al_open_walk(int dirfd, const char *rel, int flags, mode_t mode)
{
	char *copy = strdup(rel), *save = NULL;
	int cur = -1, rc;

	if (!copy)
		return -ENOMEM;
	cur = dup(dirfd);
	if (cur < 0) {
		rc = -errno;
		goto out;
	}
	char *part = strtok_r(copy, "/", &save);
	while (part) {
		char *next = strtok_r(NULL, "/", &save);
		int f = next ? O_RDONLY | O_DIRECTORY | O_PATH : flags;
		int fd = openat(cur, part, f | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd < 0) {
			rc = -errno;
			goto out;
		}
		close(cur);
		cur = fd;
		part = next;
	}
	rc = cur;
	cur = -1;
out:
	if (cur >= 0)
		close(cur);
	free(copy);
	return rc;
}

int al_open_beneath(int dirfd, const char *rel, int flags, mode_t mode)
{
	static int have_openat2 = 1;

	if (!al_rel_ok(rel))
		return -EINVAL;
	flags |= O_CLOEXEC | O_NOFOLLOW;
	if (have_openat2) {
		struct open_how how = {
			.flags = (unsigned)flags,
			.mode = (flags & O_CREAT) ? mode : 0,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
				   RESOLVE_NO_MAGICLINKS,
		};
		long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno != ENOSYS)
			return -errno;
		have_openat2 = 0;
	}
	return al_open_walk(dirfd, rel, flags, mode);
}

int al_read_beneath(int dirfd, const char *rel, size_t max, struct al_buf *b)
{
	char chunk[65536];
	struct stat st;
	int rc = 0;
	/* O_NONBLOCK: opening a FIFO planted in the tree must not hang. */
	int fd = al_open_beneath(dirfd, rel, O_RDONLY | O_NONBLOCK, 0);

	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    fcntl(fd, F_SETFL, 0) < 0) {
		rc = -EINVAL;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : 0;
			break;
		}
		if (b->len + (size_t)n > max) {
			rc = -EFBIG;
			break;
		}
		rc = al_buf_append(b, chunk, (size_t)n);
		if (rc)
			break;
	}
out:
	close(fd);
	return rc;
}

int al_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int al_write_beneath(int dirfd, const char *rel, const void *data,
		     size_t len)
{
	char dir[4096], tmp[300];
	const char *base = strrchr(rel, '/');
	int dfd = -1, fd = -1, rc;
	mode_t mode = 0644;
	struct stat st;

	if (!al_rel_ok(rel) || strlen(rel) >= sizeof(dir))
		return -EINVAL;
	if (base) {
		memcpy(dir, rel, (size_t)(base - rel));
		dir[base - rel] = '\0';
		base++;
		dfd = al_open_beneath(dirfd, dir, O_RDONLY | O_DIRECTORY, 0);
	} else {
		base = rel;
		dfd = dup(dirfd);
		if (dfd < 0)
			dfd = -errno;
	}
	if (dfd < 0)
		return dfd;
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISREG(st.st_mode)) {
			rc = -EINVAL;
			goto out;
		}
		mode = st.st_mode & 07777;
	}

	char rnd[9];
	unsigned char r[4];
	rc = al_random(r, sizeof(r));
	if (rc)
		goto out;
	al_hex(rnd, r, sizeof(r));
	snprintf(tmp, sizeof(tmp), ".airlock-tmp-%s", rnd);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
			      O_CLOEXEC, mode);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	rc = al_write_all(fd, data, len);
	if (rc == 0 && fchmod(fd, mode) < 0)
		rc = -errno;
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (rc == 0 && renameat(dfd, tmp, dfd, base) < 0)
		rc = -errno;
	if (rc)
		unlinkat(dfd, tmp, 0);
out:
	if (fd >= 0)
		close(fd);
	close(dfd);
	return rc;
}

/* One level of the walk down: the directory's name in its parent and
 * its identity, to check the way back up. */
struct al_rm_frame {
	char *name;
	dev_t dev;
	ino_t ino;
};

/*
 * Empty what fd holds except subdirectories; the first subdirectory
 * found is returned in *sub (a name to free), or NULL when fd is empty.
 * Symlinks and files are unlinked, never followed; a directory on
 * another file system, a mount point, fails with -EXDEV.
 */
static int al_rm_scan(int fd, dev_t dev, char **sub)
{
	int dfd = dup(fd), rc = 0;
	DIR *d;

	*sub = NULL;
	if (dfd < 0)
		return -errno;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	for (struct dirent *e; rc == 0 && !*sub && (e = readdir(d));) {
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = errno == ENOENT ? 0 : -errno;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (unlinkat(fd, e->d_name, 0) < 0 && errno != ENOENT)
				rc = -errno;
			continue;
		}
		if (st.st_dev != dev)
			rc = -EXDEV;
		else if (!(*sub = strdup(e->d_name)))
			rc = -ENOMEM;
	}
	closedir(d);
	return rc;
}

/*
 * Go up from directory cur to "..", which must be the directory (dev,
 * ino) we came down from: if the tree was rearranged under us (a
 * directory renamed or swapped for a link), stop rather than walk on
 * somewhere else. *up is a new descriptor on success.
 */
static int fs_climb(int cur, dev_t dev, ino_t ino, int *up)
{
	struct stat st;
	int fd = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_dev != dev || st.st_ino != ino) {
		close(fd);
		return -ESTALE;
	}
	*up = fd;
	return 0;
}

/*
 * Remove the tree below dirfd/name, depth first, holding at most three
 * descriptors whatever the depth: sandboxed code can nest directories
 * far deeper than the descriptor limit, and a tree that cannot be
 * removed would keep customer source on disk. Going back up goes
 * through "..", checked against the device and inode recorded on the
 * way down, so a directory renamed meanwhile cannot lead elsewhere.
 */
static int al_rm_dir(int dirfd, const char *name, dev_t dev)
{
	struct al_rm_frame *stack = NULL;
	size_t depth = 0, cap = 0;
	struct stat st;
	char *sub = NULL;
	int cur = -1, rc = 0;

	for (;;) {
		const char *next = depth ? sub : name;
		int parent = depth ? cur : dirfd;
		int fd = openat(parent, next, O_RDONLY | O_DIRECTORY |
						       O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0) {
			rc = -errno;
			if (fd >= 0)
				close(fd);
			goto out;
		}
		/* The scan saw a directory on this device; whatever the name
		 * holds now must be one too, not a mount swapped in. */
		if (st.st_dev != dev) {
			close(fd);
			rc = -EXDEV;
			goto out;
		}
		if (depth == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			void *p = realloc(stack, ncap * sizeof(*stack));
			if (!p) {
				close(fd);
				rc = -ENOMEM;
				goto out;
			}
			stack = p;
			cap = ncap;
		}
		char *fname = depth ? sub : strdup(name);
		stack[depth++] = (struct al_rm_frame){
			.name = fname,
			.dev = st.st_dev,
			.ino = st.st_ino,
		};
		sub = NULL;
		if (!stack[depth - 1].name) {
			close(fd);
			rc = -ENOMEM;
			goto out;
		}
		if (cur >= 0)
			close(cur);
		cur = fd;
		/* Sandboxed code may have left a directory without write
		 * access. */
		fchmod(cur, 0700);

		for (;;) {
			rc = al_rm_scan(cur, dev, &sub);
			if (rc || sub)
				break;
			/* cur is empty: remove it from its parent. */
			if (depth == 1) {
				close(cur);
				cur = -1;
				if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 &&
				    errno != ENOENT)
					rc = -errno;
				goto out;
			}
			int up = -1;
			rc = fs_climb(cur, stack[depth - 2].dev,
				      stack[depth - 2].ino, &up);
			if (rc)
				goto out;
			close(cur);
			cur = up;
			depth--;
			if (unlinkat(cur, stack[depth].name, AT_REMOVEDIR) < 0 &&
			    errno != ENOENT)
				rc = -errno;
			free(stack[depth].name);
			if (rc)
				goto out;
		}
		if (rc)
			goto out;
	}
out:
	free(sub);
	if (cur >= 0)
		close(cur);
	while (depth)
		free(stack[--depth].name);
	free(stack);
	return rc;
}

int al_rm_tree_at(int dirfd, const char *name)
{
	struct stat st, top;

	if (fstat(dirfd, &top) < 0)
		return -errno;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno
								       : 0;
	if (st.st_dev != top.st_dev)
		return -EXDEV;
	return al_rm_dir(dirfd, name, st.st_dev);
}

int al_rm_tree(const char *path)
{
	char copy[4096];
	size_t n = al_strlcpy(copy, path, sizeof(copy));
	int rc;

	if (n >= sizeof(copy) || n == 0)
		return -EINVAL;
	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = '\0';
	char *slash = strrchr(copy, '/');
	const char *name = slash ? slash + 1 : copy;
	if (slash == copy)
		copy[1] = '\0';
	else if (slash)
		*slash = '\0';
	int dfd = open(slash ? copy : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	rc = al_rm_tree_at(dfd, name);
	close(dfd);
	return rc;
}

/* One directory on the chown walk's way down: its name in the parent
 * (NULL for the top), its identity to check the way back up, and the
 * subdirectories its scan found, visited one at a time. */
struct al_chown_frame {
	char *name;
	dev_t dev;
	ino_t ino;
	char **subs;
	size_t nsubs, next;
};

/* "a/b/c": the names below the top on the stack, then leaf if any. */
static void al_walk_path(const struct al_chown_frame *stack, size_t depth,
			 const char *leaf, char *out, size_t outsz)
{
	size_t n = 0;

	if (!out || !outsz)
		return;
	out[0] = '\0';
	for (size_t i = 1; i <= depth && n < outsz; i++) {
		const char *part = i < depth ? stack[i].name : leaf;
		if (part)
			n += (size_t)snprintf(out + n, outsz - n, "%s%s",
					      n ? "/" : "", part);
	}
}

/*
 * Change the owner of one entry that is not a directory. The entry is
 * pinned as an O_PATH descriptor that never follows a symlink, so the
 * checks and the chown see the same inode even if the name is swapped
 * meanwhile. A regular file with more than one link is refused: its
 * other name may lie outside the tree, and chown would hand that file
 * to the sandbox user.
 */
static int al_chown_entry(int dirfd, const char *name, uid_t uid, gid_t gid)
{
	struct stat st;
	int rc = 0, fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (S_ISREG(st.st_mode) && st.st_nlink > 1)
		rc = -EMLINK;
	else if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/*
 * Chown what fd holds except subdirectories, whose names go to f->subs
 * for the walk to visit. On failure *bad names the entry.
 */
static int al_chown_scan(int fd, dev_t dev, uid_t uid, gid_t gid,
			 struct al_chown_frame *f, char **bad)
{
	int dfd = dup(fd), rc = 0;
	size_t cap = 0;
	DIR *d;

	if (dfd < 0)
		return -errno;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	for (struct dirent *e; rc == 0 && (e = readdir(d));) {
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = -errno;
		} else if (!S_ISDIR(st.st_mode)) {
			rc = al_chown_entry(fd, e->d_name, uid, gid);
		} else if (st.st_dev != dev) {
			rc = -EXDEV;
		} else {
			if (f->nsubs == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				void *p = realloc(f->subs,
						  ncap * sizeof(*f->subs));
				if (!p) {
					rc = -ENOMEM;
					break;
				}
				f->subs = p;
				cap = ncap;
			}
			f->subs[f->nsubs] = strdup(e->d_name);
			rc = f->subs[f->nsubs] ? 0 : -ENOMEM;
			f->nsubs += f->subs[f->nsubs] != NULL;
		}
		if (rc && !*bad)
			*bad = strdup(e->d_name);
	}
	closedir(d);
	return rc;
}

static void al_chown_frame_free(struct al_chown_frame *f)
{
	for (size_t i = 0; i < f->nsubs; i++)
		free(f->subs[i]);
	free(f->subs);
	free(f->name);
}

/*
 * Walk down the tree holding one directory descriptor whatever the depth
 * (a checkout can nest deeper than the descriptor limit), going back up
 * through "..", checked against the identity recorded on the way down.
 * Directories are opened with O_NOFOLLOW | O_DIRECTORY, so a directory
 * swapped for a symlink stops the walk instead of leading outside, and a
 * directory on another file system, a mount point, is refused.
 */
int al_chown_tree(const char *path, uid_t uid, gid_t gid, char *bad,
		  size_t badsz)
{
	struct al_chown_frame *stack = NULL;
	size_t depth = 0, cap = 0;
	const char *leaf = NULL;
	char *badname = NULL;
	struct stat st;
	dev_t dev = 0;
	int cur = -1, fd, rc = 0;

	if (bad && badsz)
		bad[0] = '\0';
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	for (;;) {
		if (fd < 0 || fstat(fd, &st) < 0) {
			rc = -errno;
			goto out;
		}
		if (depth == 0)
			dev = st.st_dev;
		if (st.st_dev != dev) {
			rc = -EXDEV;
			goto out;
		}
		if (depth == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			void *p = realloc(stack, ncap * sizeof(*stack));
			if (!p) {
				rc = -ENOMEM;
				goto out;
			}
			stack = p;
			cap = ncap;
		}
		stack[depth++] = (struct al_chown_frame){
			.name = leaf ? strdup(leaf) : NULL,
			.dev = st.st_dev,
			.ino = st.st_ino,
		};
		if (leaf && !stack[depth - 1].name) {
			rc = -ENOMEM;
			goto out;
		}
		leaf = NULL;
		if (cur >= 0)
			close(cur);
		cur = fd;
		fd = -1;
		if (fchown(cur, uid, gid) < 0) {
			rc = -errno;
			goto out;
		}
		rc = al_chown_scan(cur, dev, uid, gid, &stack[depth - 1],
				   &badname);
		if (rc) {
			leaf = badname;
			goto out;
		}

		/* Next subdirectory: here, or back up until one is left. */
		while (stack[depth - 1].next == stack[depth - 1].nsubs) {
			if (depth == 1)
				goto out;
			int up = -1;
			rc = fs_climb(cur, stack[depth - 2].dev,
				      stack[depth - 2].ino, &up);
			if (rc)
				goto out;
			close(cur);
			cur = up;
			al_chown_frame_free(&stack[--depth]);
		}
		struct al_chown_frame *f = &stack[depth - 1];
		leaf = f->subs[f->next++];
		fd = openat(cur, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					       O_CLOEXEC);
	}
out:
	/* The failing entry: leaf (if set) in the directory on top. */
	if (rc)
		al_walk_path(stack, depth, leaf, bad, badsz);
	free(badname);
	if (fd >= 0)
		close(fd);
	if (cur >= 0)
		close(cur);
	while (depth)
		al_chown_frame_free(&stack[--depth]);
	free(stack);
	return rc;
}

int al_mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	size_t n = al_strlcpy(buf, path, sizeof(buf));

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}
