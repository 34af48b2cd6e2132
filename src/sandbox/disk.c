/*
 * disk.c - size-capped volumes for what sandboxes may write.
 *
 * A volume is a fresh ext4 filesystem in a sparse image file, attached
 * to a loop device and mounted (nosuid, nodev) on a directory of the
 * caller's. The kernel refuses writes beyond its size with ENOSPC, so a
 * payload cannot fill the host's disk through a writable bind, however
 * it writes (many files, holes filled later, directories, xattrs).
 *
 * The image is unlinked as soon as the loop device holds it, and the
 * loop device is set to clear itself when its last user goes: unmounting
 * the volume is the whole cleanup, and nothing is left to leak when the
 * caller dies before it (a stale mount holds the space until the next
 * start's sweep unmounts it). No journal: a volume never outlives a
 * crash in any useful way. 1% of the blocks are reserved for root, so
 * the daemon can still write after a payload filled the volume.
 */
#include "sandbox/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"

#define SBX_DISK_IMAGE ".airlock-volume.img"
#define SBX_DISK_MIN (16ull << 20)

extern char **environ;

/* mkfs.ext4 on the image, no shell, output discarded. */
static int disk_mkfs(const char *img, const char *job)
{
	char *const argv[] = {
		"mkfs.ext4", "-q", "-F", "-m", "1", "-O", "^has_journal",
		"-E", "root_owner=0:0,nodiscard,lazy_itable_init=1",
		(char *)img, NULL,
	};
	char *const envp[] = { "PATH=/usr/sbin:/sbin:/usr/bin:/bin", NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st = 0, rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	rc = -posix_spawnp(&pid, "mkfs.ext4", &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		al_error(SBX_MOD, job, "step=disk cannot run mkfs.ext4 "
			 "(e2fsprogs): %s", strerror(-rc));
		return rc;
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		al_error(SBX_MOD, job, "step=disk mkfs.ext4 %s failed "
			 "(status %d)", img, st);
		return AL_E_SANDBOX;
	}
	return 0;
}

/*
 * The older way to configure a loop device (kernels before 5.8): bind the
 * file, then set the flags. A read-only fd makes a read-only device; only
 * AUTOCLEAR and PARTSCAN can be set afterwards.
 */
int sbx_loop_set_fd(int loopfd, int fd, unsigned lo_flags)
{
	struct loop_info64 info = {
		.lo_flags = lo_flags & (LO_FLAGS_AUTOCLEAR | LO_FLAGS_PARTSCAN),
	};

	if (ioctl(loopfd, LOOP_SET_FD, fd) != 0)
		return -errno;
	if (ioctl(loopfd, LOOP_SET_STATUS64, &info) != 0) {
		int rc = -errno;
		ioctl(loopfd, LOOP_CLR_FD, 0);
		return rc;
	}
	return 0;
}

/*
 * Attach fd to a free loop device; returns the open device. Another
 * process may take the device between "get free" and "configure": then
 * try the next one.
 */
int sbx_loop_attach(int fd, unsigned lo_flags, char *dev, size_t devsz)
{
	struct loop_config cfg = { .fd = (unsigned)fd };
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	int rc = -EBUSY;

	if (ctl < 0)
		return -errno;
	cfg.info.lo_flags = lo_flags;
	for (int tries = 0; tries < 8 && rc == -EBUSY; tries++) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			rc = -errno;
			break;
		}
		snprintf(dev, devsz, "/dev/loop%d", n);
		int lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd < 0) {
			rc = -errno;
			break;
		}
		rc = ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0 ? 0 : -errno;
		if (rc == -EINVAL || rc == -ENOTTY)
			rc = sbx_loop_set_fd(lfd, fd, lo_flags);
		if (rc == 0) {
			rc = lfd;
			break;
		}
		close(lfd);
	}
	close(ctl);
	return rc;
}

int sbx_disk_create(const char *dir, uint64_t bytes, const char *job)
{
	char img[PATH_MAX], dev[32], lf[PATH_MAX];
	struct stat st;
	int imgfd = -1, loopfd = -1, rc;

	if (bytes < SBX_DISK_MIN ||
	    snprintf(img, sizeof(img), "%s/" SBX_DISK_IMAGE, dir) >=
		    (int)sizeof(img)) {
		al_error(SBX_MOD, job, "step=disk volume %s: size below "
			 "16 MiB or path too long", dir);
		return -EINVAL;
	}
	if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		rc = -ENOTDIR;
		al_error(SBX_MOD, job, "step=disk %s is not a directory", dir);
		return rc;
	}
	imgfd = open(img, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC,
		     0600);
	rc = imgfd < 0 ? -errno : 0;
	if (rc == 0 && ftruncate(imgfd, (off_t)bytes) != 0)
		rc = -errno;
	if (rc == 0)
		rc = disk_mkfs(img, job);
	if (rc == 0) {
		loopfd = sbx_loop_attach(imgfd, LO_FLAGS_AUTOCLEAR |
						  LO_FLAGS_DIRECT_IO,
					 dev, sizeof(dev));
		rc = loopfd < 0 ? loopfd : 0;
	}
	/* From here the loop device holds the image; its name goes. */
	if (imgfd >= 0)
		unlink(img);
	/* noinit_itable: the image is sparse, its unwritten inode tables
	 * already read as zeros; zeroing them would only cost host space. */
	if (rc == 0 && mount(dev, dir, "ext4", MS_NOSUID | MS_NODEV,
			     "noinit_itable") != 0)
		rc = -errno;
	if (rc == 0) {
		snprintf(lf, sizeof(lf), "%s/lost+found", dir);
		rmdir(lf);
		if (chmod(dir, st.st_mode & 07777) != 0 ||
		    chown(dir, st.st_uid, st.st_gid) != 0)
			rc = -errno;
		if (rc)
			umount2(dir, UMOUNT_NOFOLLOW);
	}
	if (loopfd >= 0)
		close(loopfd); /* the mount keeps it; else it clears now */
	if (imgfd >= 0)
		close(imgfd);
	if (rc)
		al_error(SBX_MOD, job, "step=disk volume of %llu bytes on "
			 "%s: %s", (unsigned long long)bytes, dir,
			 al_strerror(rc));
	else
		al_info(SBX_MOD, job, "volume created dir=%s bytes=%llu "
			"dev=%s", dir, (unsigned long long)bytes, dev);
	return rc;
}

int sbx_disk_remove(const char *dir, const char *job)
{
	int rc = 0;

	if (umount2(dir, UMOUNT_NOFOLLOW) != 0) {
		rc = -errno;
		/* Something still holds a file open: detach it now, the
		 * space returns when the last holder closes. */
		if (rc == -EBUSY && umount2(dir, UMOUNT_NOFOLLOW |
					    MNT_DETACH) == 0)
			rc = 0;
	}
	if (rc == -EINVAL)
		return 0; /* not a mount point: nothing to remove */
	if (rc)
		al_error(SBX_MOD, job, "step=disk cannot unmount %s: %s", dir,
			 al_strerror(rc));
	return rc;
}

/* Is there room left for an unprivileged writer on fd's filesystem? */
bool sbx_disk_has_room(int fd)
{
	struct statfs sf;

	if (fstatfs(fd, &sf) != 0)
		return true;
	return (uint64_t)sf.f_bavail * (uint64_t)sf.f_bsize >=
	       SBX_DISK_SLACK;
}
