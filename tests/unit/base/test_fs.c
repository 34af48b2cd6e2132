/*
 * base/fs: what sandboxed code can leave in a workspace must not lead the
 * daemon's owner changes, reads and removals outside it (THREATS.md,
 * "Paths"): hard links, special files, unreadable and unsearchable
 * entries, trees deeper than the descriptor limit, and directories
 * swapped for symlinks while the daemon walks them. Needs root (chown,
 * mknod), like the daemon.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/util.h"

#define SBX_UID 64000

static char tmp[64];

static int setup(void **state)
{
	snprintf(tmp, sizeof(tmp), "/tmp/al-fs-XXXXXX");
	return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
	return al_rm_tree(tmp);
}

static void path(char *out, size_t n, const char *rel)
{
	snprintf(out, n, "%s/%s", tmp, rel);
}

static void put(const char *rel, const char *text)
{
	char p[512];
	path(p, sizeof(p), rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void mk(const char *rel, mode_t mode)
{
	char p[512];
	path(p, sizeof(p), rel);
	assert_int_equal(mkdir(p, mode), 0);
}

static uid_t owner(const char *rel)
{
	char p[512];
	struct stat st;
	path(p, sizeof(p), rel);
	assert_int_equal(lstat(p, &st), 0);
	return st.st_uid;
}

/* The outside world: a directory and a file the walks must not touch. */
static void make_canary(void)
{
	mk("canary", 0755);
	put("canary/keep", "precious");
}

static void check_canary(void)
{
	char p[512];
	struct al_buf b = {0};

	path(p, sizeof(p), "canary/keep");
	assert_int_equal(al_read_file(p, 100, &b), 0);
	assert_string_equal(b.p, "precious");
	al_buf_free(&b);
	assert_int_equal(owner("canary"), 0);
	assert_int_equal(owner("canary/keep"), 0);
}

static void test_chown_never_follows(void **state)
{
	char p[512], q[512], bad[256];

	make_canary();
	mk("t", 0755);
	mk("t/sub", 0755);
	put("t/sub/f", "x");
	path(p, sizeof(p), "canary");
	path(q, sizeof(q), "t/sub/link-dir");
	assert_int_equal(symlink(p, q), 0);
	path(q, sizeof(q), "t/link-file");
	assert_int_equal(symlink("../canary/keep", q), 0);

	path(p, sizeof(p), "t");
	assert_int_equal(al_chown_tree(p, SBX_UID, SBX_UID, bad, sizeof(bad)),
			 0);
	assert_int_equal(owner("t"), SBX_UID);
	assert_int_equal(owner("t/sub/f"), SBX_UID);
	/* The links themselves change owner; what they point to does not. */
	assert_int_equal(owner("t/sub/link-dir"), SBX_UID);
	assert_int_equal(owner("t/link-file"), SBX_UID);
	check_canary();

	/* The top itself as a symlink is refused. */
	path(q, sizeof(q), "top-link");
	assert_int_equal(symlink(p, q), 0);
	assert_true(al_chown_tree(q, SBX_UID, SBX_UID, NULL, 0) < 0);
}

/* A hard link would hand a file outside the tree to the sandbox user. */
static void test_chown_refuses_hard_links(void **state)
{
	char p[512], q[512], bad[256];

	make_canary();
	mk("t", 0755);
	mk("t/a", 0755);
	put("t/a/f", "x");
	path(p, sizeof(p), "canary/keep");
	path(q, sizeof(q), "t/a/hard");
	assert_int_equal(link(p, q), 0);

	path(p, sizeof(p), "t");
	assert_int_equal(al_chown_tree(p, SBX_UID, SBX_UID, bad, sizeof(bad)),
			 -EMLINK);
	assert_string_equal(bad, "a/hard");
	check_canary();
}

/* Deeper than the descriptor limit allows one descriptor per level. */
static void test_chown_deep(void **state)
{
	struct rlimit old, low = {.rlim_cur = 64};
	char p[512];
	int fd, next;

	mk("deep", 0755);
	path(p, sizeof(p), "deep");
	fd = open(p, O_RDONLY | O_DIRECTORY);
	for (int i = 0; i < 2000; i++) {
		assert_int_equal(mkdirat(fd, "a", 0755), 0);
		if (i % 500 == 0)
			close(openat(fd, "f", O_CREAT | O_WRONLY, 0600));
		next = openat(fd, "a", O_RDONLY | O_DIRECTORY);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	next = openat(fd, "bottom", O_CREAT | O_WRONLY, 0600);
	assert_true(next >= 0);
	close(next);

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low.rlim_max = old.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	int rc = al_chown_tree(p, SBX_UID, SBX_UID, NULL, 0);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(rc, 0);

	struct stat st;
	assert_int_equal(fstatat(fd, "bottom", &st, 0), 0);
	assert_int_equal(st.st_uid, SBX_UID);
	close(fd);
}

/* What sandboxed code can leave behind; none of it may block or fail
 * a removal, and a hard link out of the tree only loses its name. */
static void test_rm_special_files(void **state)
{
	char p[512], q[512], name[300];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	struct al_buf b = {0};

	make_canary();
	mk("t", 0755);
	path(p, sizeof(p), "t/fifo");
	assert_int_equal(mkfifo(p, 0600), 0);
	path(p, sizeof(p), "t/null");
	assert_int_equal(mknod(p, S_IFCHR | 0666, makedev(1, 3)), 0);
	path(p, sizeof(p), "t/sock");
	al_strlcpy(sa.sun_path, p, sizeof(sa.sun_path));
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	put("t/setuid", "#!/bin/sh\n");
	path(p, sizeof(p), "t/setuid");
	assert_int_equal(chmod(p, 04755), 0);
	put("t/nomode", "x");
	path(p, sizeof(p), "t/nomode");
	assert_int_equal(chmod(p, 0), 0);
	mk("t/locked", 0755);
	mk("t/locked/inner", 0755);
	put("t/locked/inner/f", "x");
	path(p, sizeof(p), "t/locked/inner");
	assert_int_equal(chmod(p, 0), 0);
	path(p, sizeof(p), "t/locked");
	assert_int_equal(chmod(p, 0), 0);
	memset(name, 'n', 255);
	name[255] = '\0';
	snprintf(p, sizeof(p), "t/%s", name);
	put(p, "long");
	path(p, sizeof(p), "canary/keep");
	path(q, sizeof(q), "t/hard-out");
	assert_int_equal(link(p, q), 0);

	/* Reading a FIFO or a device must not block or read a device. */
	path(p, sizeof(p), "t");
	int d = open(p, O_RDONLY | O_DIRECTORY);
	assert_int_equal(al_read_beneath(d, "fifo", 100, &b), -EINVAL);
	assert_int_equal(al_read_beneath(d, "null", 100, &b), -EINVAL);
	assert_true(al_read_beneath(d, "sock", 100, &b) < 0);
	close(d);
	al_buf_free(&b);

	assert_int_equal(al_rm_tree(p), 0);
	assert_int_equal(access(p, F_OK), -1);
	check_canary();
	path(p, sizeof(p), "canary/keep");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_nlink, 1);
}

/*
 * The race: another process (a payload that outlived its stage, in the
 * worst case) swaps a directory of the tree for a symlink to the canary
 * and back, as fast as it can, while the daemon walks the tree.
 */
struct swapper {
	int tfd;
	char target[512];
	atomic_bool stop;
	_Atomic long swaps;
};

static void *swap_main(void *arg)
{
	struct swapper *s = arg;

	while (!atomic_load(&s->stop)) {
		mkdirat(s->tfd, "x", 0755);
		close(openat(s->tfd, "x/f", O_CREAT | O_WRONLY | O_NOFOLLOW,
			     0600));
		renameat(s->tfd, "x", s->tfd, "y");
		(void)!symlinkat(s->target, s->tfd, "x");
		unlinkat(s->tfd, "x", 0);
		renameat(s->tfd, "y", s->tfd, "x");
		s->swaps++;
	}
	return NULL;
}

static void race(int chown)
{
	struct swapper s = {0};
	pthread_t th;
	char t[512];
	int hits = 0;

	make_canary();
	path(s.target, sizeof(s.target), "canary");
	path(t, sizeof(t), "t");
	for (int round = 0; round < 20; round++) {
		assert_int_equal(mkdir(t, 0755), 0);
		s.tfd = open(t, O_RDONLY | O_DIRECTORY);
		atomic_store(&s.stop, false);
		assert_int_equal(pthread_create(&th, NULL, swap_main, &s), 0);
		/* Walk until the swapper has swapped a few hundred times. */
		long until = s.swaps + 300;
		for (int i = 0; i < 100000 && s.swaps < until; i++) {
			int rc = chown ? al_chown_tree(t, SBX_UID, SBX_UID,
						       NULL, 0)
				       : al_rm_tree_at(s.tfd, "x") |
						 al_rm_tree_at(s.tfd, "y");
			hits += rc != 0;
		}
		atomic_store(&s.stop, true);
		pthread_join(th, NULL);
		close(s.tfd);
		assert_int_equal(al_rm_tree(t), 0);
		check_canary();
	}
	/* The swapper ran, and sometimes the walk met it. */
	assert_true(s.swaps > 0);
	print_message("race: %ld swaps, %d walks refused\n", s.swaps, hits);
}

static void test_chown_race(void **state)
{
	race(1);
}

static void test_rm_race(void **state)
{
	race(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chown_never_follows,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_chown_refuses_hard_links,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_chown_deep, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rm_special_files, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_chown_race, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rm_race, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
