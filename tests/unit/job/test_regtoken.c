/*
 * registry_token_file: the airlock.conf key (an absolute path, refused
 * with an https registry) and the file itself, which must be a regular
 * file of ours that nobody else may read or write, not a symlink, and
 * hold one line of printable characters. Every refusal names the file
 * and the reason and never the token; the id is a SHA-256 prefix.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/fs.h"
#include "job/config.h"
#include "job/regtoken.h"

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/al-regtoken-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	return al_rm_tree(dir);
}

/* dir/name holding text, with mode; returns the path (static). */
static const char *token_file(const char *name, const char *text,
			      mode_t mode)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static int conf(const char *text, struct job_config *c, char *err,
		size_t errsz)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/airlock.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "registry = http://127.0.0.1:9/\n%s", text);
	fclose(f);
	err[0] = '\0';
	return job_config_load(dir, c, err, errsz);
}

static void test_config_key(void **state)
{
	struct job_config c;
	char err[512];

	assert_int_equal(conf("", &c, err, sizeof(err)), 0);
	assert_string_equal(c.registry_token_file, "");
	job_config_free(&c);
	assert_int_equal(conf("registry_token_file = /etc/airlock/token\n",
			      &c, err, sizeof(err)), 0);
	assert_string_equal(c.registry_token_file, "/etc/airlock/token");
	job_config_free(&c);

	assert_int_equal(conf("registry_token_file = token\n", &c, err,
			      sizeof(err)), AL_E_PARSE);
	assert_non_null(strstr(err, ":2: bad value for 'registry_token_file'"
				    " (an absolute path)"));
	job_config_free(&c);
	/* An https registry takes a token too: the proxy ends npm's TLS
	 * with the job's own CA (docs/sandbox.md). */
	assert_int_equal(conf("registry = https://127.0.0.1:9/\n"
			      "registry_token_file = /t\n", &c, err,
			      sizeof(err)), 0);
	assert_string_equal(c.registry_token_file, "/t");
	job_config_free(&c);
}

static void test_load_good(void **state)
{
	struct job_regtoken t;
	char err[256] = "";
	static const char zero[sizeof(t.header)];

	/* SHA-256("abc") begins ba7816bf8f01cfea (FIPS 180-2, B.1). */
	const char *p = token_file("tok", "abc\n", 0600);
	assert_int_equal(job_regtoken_load(p, &t, err, sizeof(err)), 0);
	assert_string_equal(t.header, "Bearer abc");
	assert_string_equal(t.id, "sha256:ba7816bf8f01cfea");
	job_regtoken_wipe(&t);
	assert_memory_equal(t.header, zero, sizeof(zero));

	p = token_file("tok", "npm_Zx9+/=.-_~AB\r\n", 0400);
	assert_int_equal(job_regtoken_load(p, &t, err, sizeof(err)), 0);
	assert_string_equal(t.header, "Bearer npm_Zx9+/=.-_~AB");
	job_regtoken_wipe(&t);
}

/* Refused with rc, a message naming the file with why, never the token. */
static void refused(const char *path, int rc, const char *why)
{
	struct job_regtoken t;
	char err[256] = "";

	assert_int_equal(job_regtoken_load(path, &t, err, sizeof(err)), rc);
	if (!strstr(err, path) || !strstr(err, why))
		fail_msg("%s: message '%s' does not give '%s'", path, err, why);
	assert_null(strstr(err, "SECRET"));
	assert_string_equal(t.header, "");
	assert_string_equal(t.id, "");
}

static void test_load_unsafe(void **state)
{
	char link[128], sub[128];

	refused(token_file("open", "SECRET\n", 0640), AL_E_UNSAFE,
		"has mode 0640, group or others may access it");
	refused(token_file("world", "SECRET\n", 0604), AL_E_UNSAFE,
		"mode 0604");
	refused(token_file("written", "SECRET\n", 0620), AL_E_UNSAFE,
		"mode 0620");

	const char *p = token_file("theirs", "SECRET\n", 0600);
	assert_int_equal(chown(p, 12345, 12345), 0);
	refused(p, AL_E_UNSAFE, "must be a regular file owned by uid");

	snprintf(link, sizeof(link), "%s/link", dir);
	assert_int_equal(symlink(token_file("real", "SECRET\n", 0600), link),
			 0);
	refused(link, AL_E_UNSAFE, "is a symlink, refusing it");

	snprintf(sub, sizeof(sub), "%s/sub", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	refused(sub, AL_E_UNSAFE, "must be a regular file");
	snprintf(sub, sizeof(sub), "%s/none", dir);
	refused(sub, -ENOENT, "No such file");
}

static void test_load_malformed(void **state)
{
	static const char *const bad[] = {
		"", "\n", "SECRET SECRET\n", "SECRET\nmore\n", "SECRET\n\n",
		"SEC\tRET", "SECRET\x01", "SECR\xc3\xa9T",
	};
	const char *why = "expected one line of 1 to 4096 printable "
			  "characters without spaces";
	char big[JOB_REGTOKEN_MAX + 2];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refused(token_file("bad", bad[i], 0600), AL_E_PARSE, why);
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	refused(token_file("big", big, 0600), AL_E_PARSE, why);
	big[JOB_REGTOKEN_MAX] = '\0';
	struct job_regtoken t;
	char err[256];
	assert_int_equal(job_regtoken_load(token_file("max", big, 0600), &t,
					   err, sizeof(err)), 0);
	assert_int_equal(strlen(t.header), 7 + JOB_REGTOKEN_MAX);
	job_regtoken_wipe(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_key, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_load_good, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_load_unsafe, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_load_malformed, setup,
						teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "needs root (chown of a token file)\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
