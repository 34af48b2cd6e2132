/*
 * test_attack_descriptors.c - THREATS.md, "Descriptors and the helper":
 * runs tests/attacks/descriptors as a real sandbox payload while this
 * process holds descriptors to a host directory with a canary file (one
 * close-on-exec, one not, one O_PATH) and a writable host file, and has
 * a secret in its own environment and command line (set by re-executing
 * itself, so that they sit where /proc/PID/environ and cmdline read).
 * Then the host is checked: canary directory and file as they were, the
 * writable file still empty, this test's own binary unchanged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/util.h"
#include "sandbox/sandbox.h"

#include "attack_run.h"

static char dir[64], canary[64];

static int count_entries(const char *path)
{
	DIR *d = opendir(path);
	int n = 0;

	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void test_descriptors(void **state)
{
	struct sbx_spec s;
	struct sbx_result r = {0};
	struct stat exe0, exe1, out;
	char p[200];
	unsigned char rnd[8];
	int fds[4];

	assert_int_equal(al_random(rnd, sizeof(rnd)), 0);
	al_hex(p, rnd, sizeof(rnd));
	snprintf(canary, sizeof(canary), "al-descriptor-canary-%.16s", p);
	snprintf(dir, sizeof(dir), "/tmp/al-desc-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/%s", dir, canary);
	int c = open(p, O_CREAT | O_WRONLY, 0644);
	assert_true(c >= 0);
	assert_int_equal(write(c, "canary", 6), 6);
	close(c);
	snprintf(p, sizeof(p), "%s/target", dir);

	/* What a daemon holds when it spawns: workspace directories, a
	 * file it writes. */
	fds[0] = open(dir, O_RDONLY | O_DIRECTORY);
	fds[1] = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fds[2] = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	fds[3] = open(p, O_CREAT | O_WRONLY | O_APPEND, 0666);
	for (int i = 0; i < 4; i++)
		assert_true(fds[i] > 2);
	assert_int_equal(stat("/proc/self/exe", &exe0), 0);

	attack_spec(&s);
	/* attack_run copies the spec's binds; an empty list, not NULL. */
	static const struct sbx_bind none[1];
	s.binds = none;
	s.nbinds = 0;
	assert_int_equal(attack_run(&s, "descriptors", canary, &r), 0);
	print_message("%.*s", (int)r.output_len, r.output ? r.output : "");

	assert_false(attack_said(&r, "ESCAPED"));
	assert_int_equal(r.exit_code, 0);
	/* The attempts were made against init (pid 1). */
	assert_true(attack_said(&r, "refused inherited-fd"));
	assert_true(attack_said(&r, "refused fd-1:"));
	assert_true(attack_said(&r, "refused exe-1:"));
	assert_true(attack_said(&r, "refused environ-1:"));
	assert_true(attack_said(&r, "refused cmdline-1:"));
	assert_true(attack_said(&r, "refused mem-1:"));

	assert_int_equal(count_entries(dir), 2);
	assert_int_equal(fstat(fds[3], &out), 0);
	assert_int_equal(out.st_size, 0);
	assert_int_equal(stat("/proc/self/exe", &exe1), 0);
	assert_int_equal(exe1.st_size, exe0.st_size);
	assert_int_equal(exe1.st_mtim.tv_sec, exe0.st_mtim.tv_sec);
	assert_int_equal(exe1.st_mtim.tv_nsec, exe0.st_mtim.tv_nsec);

	for (int i = 0; i < 4; i++)
		close(fds[i]);
	sbx_result_free(&r);
	assert_int_equal(al_rm_tree(dir), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_descriptors),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_attack_descriptors needs root\n");
		return 1;
	}
	/* Put a secret where /proc/PID/environ and cmdline read: the
	 * initial stack areas, which only exec fills. */
	if (!getenv("AL_DESC_SECRET")) {
		unsigned char rnd[16];
		char hex[40], arg[64];
		char *nargv[] = {argv[0], arg, NULL};
		if (al_random(rnd, sizeof(rnd)))
			return 1;
		al_hex(hex, rnd, sizeof(rnd));
		snprintf(arg, sizeof(arg), "--al-desc-secret=%s", hex);
		setenv("AL_DESC_SECRET", hex, 1);
		execv("/proc/self/exe", nargv);
		return 1;
	}
	(void)argc;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
