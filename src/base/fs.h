/*
 * fs.h - file operations on trees that may hold hostile content.
 *
 * A workspace is written by sandboxed code, so any path inside it may be a
 * symlink planted to redirect the daemon (THREATS.md, "Paths"). These
 * helpers resolve paths strictly beneath a directory descriptor and never
 * follow a symlink: openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) where
 * the kernel has it, O_NOFOLLOW on each component otherwise.
 */
#ifndef AL_BASE_FS_H
#define AL_BASE_FS_H

#include <stddef.h>
#include <sys/types.h>

#include "base/util.h"

/*
 * Open rel (relative, no "..", no symlinks in any component) beneath
 * dirfd. flags as for open(2); O_CLOEXEC and O_NOFOLLOW are added.
 * Returns a descriptor or a negative errno (-ELOOP/-EXDEV on a symlink or
 * escape attempt, -EINVAL on an absolute or ".." path).
 */
int al_open_beneath(int dirfd, const char *rel, int flags, mode_t mode);

/* Read rel beneath dirfd into b, refusing more than max bytes. */
int al_read_beneath(int dirfd, const char *rel, size_t max, struct al_buf *b);

/*
 * Replace rel beneath dirfd with data, atomically (temporary file in the
 * same directory, fsync, renameat). Keeps the old file's mode.
 */
int al_write_beneath(int dirfd, const char *rel, const void *data,
		     size_t len);

/*
 * Remove the entry name in dirfd and, if it is a directory, everything
 * below it. Symlinks are unlinked, never followed; mount points below
 * are not crossed (-EXDEV). Returns 0 if name did not exist.
 */
int al_rm_tree_at(int dirfd, const char *name);
/* The same for an absolute path. */
int al_rm_tree(const char *path);

/*
 * Change the owner of the tree at path (a directory, not a symlink) and
 * everything below it, without following any symlink (symlinks get the
 * new owner themselves) and holding one directory descriptor whatever
 * the depth. Refused: a regular file with more than one link (-EMLINK:
 * its other name may be outside the tree), a directory on another file
 * system, -EXDEV; a directory replaced while the walk is below it
 * (-ESTALE, or -ELOOP/-ENOTDIR when swapped for a symlink). On failure
 * bad (if not NULL) receives the failing entry's path relative to path.
 */
int al_chown_tree(const char *path, uid_t uid, gid_t gid, char *bad,
		  size_t badsz);

/* Write all len bytes, retrying short writes and EINTR; 0 or -errno. */
int al_write_all(int fd, const void *data, size_t len);

/* mkdir -p with mode for each created component. */
int al_mkdir_p(const char *path, mode_t mode);

#endif
