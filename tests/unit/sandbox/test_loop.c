/*
 * test_loop.c - loop devices for packed images: attached read-only and
 * set to clear themselves, by LOOP_CONFIGURE and by the older
 * LOOP_SET_FD + LOOP_SET_STATUS64 that kernels before 5.8 need. Needs
 * root and /dev/loop-control; the device's state is read back from
 * sysfs, what the kernel itself says about it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "sandbox/internal.h"

static char file[64];
/* The device under test, while open: a failed check still detaches it. */
static int held = -1;

static int setup(void **state)
{
	int fd;

	(void)state;
	snprintf(file, sizeof(file), "/tmp/airlock-loop.XXXXXX");
	fd = mkstemp(file);
	if (fd < 0 || ftruncate(fd, 1 << 20) != 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (held >= 0) {
		ioctl(held, LOOP_CLR_FD, 0);
		close(held);
	}
	unlink(file);
	return 0;
}

/* /sys/block/loopN/<rel>, first line; "" when absent. */
static void sysfs(const char *dev, const char *rel, char *out, size_t n)
{
	char p[128];
	FILE *f;

	snprintf(p, sizeof(p), "/sys/block/%s/%s", strrchr(dev, '/') + 1, rel);
	out[0] = '\0';
	f = fopen(p, "re");
	if (f && fgets(out, (int)n, f))
		out[strcspn(out, "\n")] = '\0';
	if (f)
		fclose(f);
}

/* The device, open in lfd, is read-only, clears itself and holds file;
 * once closed it is free again. */
static void check_and_close(const char *dev, int lfd)
{
	char v[256];

	held = lfd;
	sysfs(dev, "ro", v, sizeof(v));
	assert_string_equal(v, "1");
	sysfs(dev, "loop/autoclear", v, sizeof(v));
	assert_string_equal(v, "1");
	sysfs(dev, "loop/backing_file", v, sizeof(v));
	assert_string_equal(v, file);
	assert_int_equal(write(lfd, "x", 1), -1);
	held = -1;
	close(lfd);
	for (int i = 0; i < 200; i++) {
		sysfs(dev, "loop/backing_file", v, sizeof(v));
		if (!v[0])
			break;
		usleep(10000);
	}
	assert_string_equal(v, "");
}

static void test_configure(void **state)
{
	char dev[32];
	int fd = open(file, O_RDONLY | O_CLOEXEC), lfd;

	(void)state;
	assert_true(fd >= 0);
	lfd = sbx_loop_attach(fd, LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR,
			      dev, sizeof(dev));
	close(fd);
	assert_true(lfd >= 0);
	check_and_close(dev, lfd);
}

static void test_set_fd_fallback(void **state)
{
	char dev[32];
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	int fd = open(file, O_RDONLY | O_CLOEXEC), lfd = -1, n;

	(void)state;
	assert_true(ctl >= 0 && fd >= 0);
	/* Another process may take the free device first: try again. */
	for (int tries = 0; tries < 8 && lfd < 0; tries++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		assert_true(n >= 0);
		snprintf(dev, sizeof(dev), "/dev/loop%d", n);
		lfd = open(dev, O_RDWR | O_CLOEXEC);
		assert_true(lfd >= 0);
		if (sbx_loop_set_fd(lfd, fd, LO_FLAGS_READ_ONLY |
					     LO_FLAGS_AUTOCLEAR) != 0) {
			close(lfd);
			lfd = -1;
		}
	}
	close(fd);
	close(ctl);
	assert_true(lfd >= 0);
	check_and_close(dev, lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_configure),
		cmocka_unit_test(test_set_fd_fallback),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
