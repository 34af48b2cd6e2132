/*
 * test_image.c - the image digest names exactly the tree a sandbox would
 * see, and the check refuses trees that anyone but root could change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "sandbox/sandbox.h"

static char base[64];

static void put(const char *rel, const char *text, mode_t mode)
{
	char p[512];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	fd = open(p, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(p, mode), 0);
}

static void sub(char *out, size_t n, const char *rel)
{
	snprintf(out, n, "%s/%s", base, rel);
}

/* DIR/usr/bin/tool, DIR/bin -> usr/bin, DIR/etc/hosts */
static void build_tree(const char *dir)
{
	char p[512], f[512];

	snprintf(f, sizeof(f), "%s/usr/bin", dir);
	sub(p, sizeof(p), f);
	assert_int_equal(al_mkdir_p(p, 0755), 0);
	snprintf(f, sizeof(f), "%s/etc", dir);
	sub(p, sizeof(p), f);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(f, sizeof(f), "%s/usr/bin/tool", dir);
	put(f, "#!/bin/true\n", 0755);
	snprintf(f, sizeof(f), "%s/etc/hosts", dir);
	put(f, "127.0.0.1 localhost\n", 0644);
	snprintf(f, sizeof(f), "%s/bin", dir);
	sub(p, sizeof(p), f);
	assert_int_equal(symlink("usr/bin", p), 0);
}

static int setup(void **state)
{
	snprintf(base, sizeof(base), "/tmp/airlock-img.XXXXXX");
	assert_non_null(mkdtemp(base));
	assert_int_equal(chmod(base, 0755), 0);
	build_tree("img");
	return 0;
}

static int teardown(void **state)
{
	assert_int_equal(al_rm_tree(base), 0);
	return 0;
}

static void digest_of(const char *rel, char *out)
{
	char p[512];

	sub(p, sizeof(p), rel);
	assert_int_equal(sbx_image_digest(p, out, 80, "test"), 0);
}

static int digest_rc(const char *rel)
{
	char p[512], d[80];

	sub(p, sizeof(p), rel);
	return sbx_image_digest(p, d, sizeof(d), "test");
}

static void test_digest_is_stable_and_content_addressed(void **state)
{
	char a[80], b[80], c[80];

	digest_of("img", a);
	assert_int_equal(strncmp(a, "sha256:", 7), 0);
	assert_int_equal(strlen(a), 71);
	digest_of("img", b);
	assert_string_equal(a, b);

	/* The same tree made again elsewhere, with other times and inode
	 * numbers, is the same image. */
	build_tree("copy");
	digest_of("copy", c);
	assert_string_equal(a, c);
}

static void expect_change(const char *what, void (*change)(void))
{
	char before[80], after[80];

	digest_of("img", before);
	change();
	digest_of("img", after);
	if (!strcmp(before, after))
		fail_msg("digest unchanged after %s", what);
}

static void change_byte(void)
{
	put("img/usr/bin/tool", "#!/bin/tru3\n", 0755);
}

static void change_mode(void)
{
	char p[512];

	sub(p, sizeof(p), "img/usr/bin/tool");
	assert_int_equal(chmod(p, 0700), 0);
}

static void change_link(void)
{
	char p[512];

	sub(p, sizeof(p), "img/bin");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink("usr/sbin", p), 0);
}

static void change_name(void)
{
	char p[512], q[512];

	sub(p, sizeof(p), "img/etc/hosts");
	sub(q, sizeof(q), "img/etc/hostz");
	assert_int_equal(rename(p, q), 0);
}

static void change_add(void)
{
	put("img/etc/extra", "", 0644);
}

static void change_owner_group(void)
{
	char p[512];

	sub(p, sizeof(p), "img/etc/extra");
	assert_int_equal(chown(p, 0, 1), 0);
}

static void test_every_kind_of_change_shows(void **state)
{
	expect_change("one byte of content", change_byte);
	expect_change("a mode", change_mode);
	expect_change("a link target", change_link);
	expect_change("a name", change_name);
	expect_change("a new empty file", change_add);
	expect_change("a file's group", change_owner_group);
}

static void test_trees_others_could_change_are_refused(void **state)
{
	char p[512];

	assert_int_equal(digest_rc("img"), 0);
	sub(p, sizeof(p), "img/etc/hosts");
	assert_int_equal(chmod(p, 0666), 0);
	assert_int_not_equal(digest_rc("img"), 0);
	assert_int_equal(chmod(p, 0644), 0);

	assert_int_equal(chown(p, 1000, 0), 0);
	assert_int_not_equal(digest_rc("img"), 0);
	assert_int_equal(chown(p, 0, 0), 0);

	/* The image directory itself, and a directory above it. */
	sub(p, sizeof(p), "img");
	assert_int_equal(chmod(p, 0775), 0);
	assert_int_not_equal(digest_rc("img"), 0);
	assert_int_equal(chmod(p, 0755), 0);
	assert_int_equal(chmod(base, 0777), 0);
	assert_int_not_equal(digest_rc("img"), 0);
	/* Sticky above the image, like /tmp: nobody can swap it. */
	assert_int_equal(chmod(base, 01777), 0);
	assert_int_equal(digest_rc("img"), 0);
	assert_int_equal(chmod(base, 0755), 0);

	sub(p, sizeof(p), "img/etc/fifo");
	assert_int_equal(mkfifo(p, 0644), 0);
	assert_int_not_equal(digest_rc("img"), 0);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(digest_rc("img"), 0);

	assert_int_not_equal(digest_rc("img/etc/hosts"), 0);
	assert_int_not_equal(sbx_image_digest("relative", p, 80, "t"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_digest_is_stable_and_content_addressed, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_every_kind_of_change_shows,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_trees_others_could_change_are_refused, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
