/* base: text sanitising, UTF-8 repair, JSON text, sizes, and the
 * workspace-safe file operations against symlink tricks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/fs.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/util.h"

static void test_sanitize(void **state)
{
	char s[] = "a\x1b[2Jb\x07\x7f\xc2\x9b" "31m\tc\nd";
	al_sanitize_text(s);
	assert_null(strchr(s, '\x1b'));
	assert_null(strchr(s, '\n'));
	assert_non_null(strchr(s, '\t'));
	for (char *p = s; *p; p++)
		assert_false((unsigned char)*p == 0x9b ||
			     (unsigned char)*p == 0x7f);
	char bidi[] = "evil\xe2\x80\xaegpj.exe \xe2\x81\xa6x\xe2\x81\xa9 "
		      "\xe2\x80\x94";
	al_sanitize_text(bidi);
	assert_null(strstr(bidi, "\xe2\x80\xae"));
	assert_null(strstr(bidi, "\xe2\x81\xa6"));
	assert_non_null(strstr(bidi, "\xe2\x80\x94")); /* an em dash stays */
	char keep[] = "x\ny\rz";
	al_sanitize_buf(keep, strlen(keep), true);
	assert_string_equal(keep, "x\ny?z");
	/* al_text_safe says whether sanitizing would change anything. */
	assert_true(al_text_safe("caf\xc3\xa9\t\xe2\x80\x94", 9));
	assert_false(al_text_safe("a\x1b", 2));
	assert_false(al_text_safe("a\n", 2));
	assert_false(al_text_safe("\xc2\x9b", 2));
	assert_false(al_text_safe("\xe2\x80\xae", 3));
	assert_true(al_text_safe("\xe2\x80\xa7", 3)); /* hyphenation point */
	/* Marks and separators: LRM, RLM, ALM, LS, PS. */
	assert_false(al_text_safe("a\xe2\x80\x8e", 4));
	assert_false(al_text_safe("a\xe2\x80\x8f", 4));
	assert_false(al_text_safe("a\xd8\x9c", 3));
	assert_false(al_text_safe("a\xe2\x80\xa8", 4));
	assert_false(al_text_safe("a\xe2\x80\xa9", 4));
	assert_true(al_text_safe("\xd8\xa7", 2)); /* Arabic alef */
}

static void test_utf8_repair(void **state)
{
	char s[] = "ok \xc3\xa9 bad \xff \xc3 \xed\xa0\x80 \xf0\x9f\x98\x80";
	al_utf8_repair(s, strlen(s));
	assert_non_null(strstr(s, "\xc3\xa9"));        /* é kept */
	assert_non_null(strstr(s, "\xf0\x9f\x98\x80")); /* emoji kept */
	assert_null(strchr(s, '\xff'));
	assert_null(strstr(s, "\xed\xa0\x80"));          /* surrogate */
}

static void test_utf8_valid(void **state)
{
	assert_true(al_utf8_valid("caf\xc3\xa9 \xf0\x9f\x98\x80", 10));
	assert_true(al_utf8_valid("", 0));
	assert_false(al_utf8_valid("a\xff", 2));
	assert_false(al_utf8_valid("\xc3", 1));          /* cut off */
	assert_false(al_utf8_valid("\xc0\xaf", 2));      /* overlong */
	assert_false(al_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
}

/* A log line is valid UTF-8 and free of controls, whatever it quotes. */
static void test_log_line_clean(void **state)
{
	char path[] = "/tmp/al-log-XXXXXX", buf[512];
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	al_warn("test", NULL, "key '%s'", "k\xff\xfe\x1b[31m\xc3");
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	unlink(path);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_true(al_utf8_valid(buf, (size_t)n));
	assert_null(strchr(buf, '\x1b'));
	assert_non_null(strstr(buf, "key 'k"));
}

static void test_json_text(void **state)
{
	static const char raw[] = "a\0b\xff\x1b]52;c;bad\x07";
	json_t *v = al_json_bytes(raw, sizeof(raw) - 1);
	const char *s = json_string_value(v);

	assert_non_null(s);
	assert_int_equal(json_string_length(v), sizeof(raw) - 1);
	assert_null(strchr(s, '\x1b'));
	assert_int_equal(s[1], '?');
	json_decref(v);
	v = al_json_text("abcdef", 3);
	assert_string_equal(json_string_value(v), "abc");
	json_decref(v);
}

static void test_parse_size(void **state)
{
	uint64_t v;
	assert_int_equal(al_parse_size("512M", &v), 0);
	assert_int_equal(v, 512ull << 20);
	assert_int_equal(al_parse_size("2g", &v), 0);
	assert_int_equal(v, 2ull << 30);
	assert_int_equal(al_parse_size("12", &v), 0);
	assert_int_equal(v, 12);
	assert_int_not_equal(al_parse_size("", &v), 0);
	assert_int_not_equal(al_parse_size("-1M", &v), 0);
	assert_int_not_equal(al_parse_size("1T", &v), 0);
	assert_int_not_equal(al_parse_size("99999999999999999999", &v), 0);
	assert_int_not_equal(al_parse_size("17179869184G", &v), 0);
}

static char tmp[64];

static int setup(void **state)
{
	snprintf(tmp, sizeof(tmp), "/tmp/al-base-XXXXXX");
	return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
	return al_rm_tree(tmp);
}

static void put(const char *rel, const char *text)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_beneath_refuses_symlinks(void **state)
{
	char p[320], outside[256];
	struct al_buf b = {0};

	snprintf(outside, sizeof(outside), "%s/outside", tmp);
	mkdir(outside, 0700);
	put("outside/secret", "s3cret");
	snprintf(p, sizeof(p), "%s/ws", tmp);
	mkdir(p, 0700);
	int ws = open(p, O_RDONLY | O_DIRECTORY);
	assert_true(ws >= 0);

	/* package.json -> a file outside; node_modules -> a dir outside. */
	snprintf(p, sizeof(p), "%s/ws/package.json", tmp);
	assert_int_equal(symlink("../outside/secret", p), 0);
	snprintf(p, sizeof(p), "%s/ws/node_modules", tmp);
	assert_int_equal(symlink(outside, p), 0);

	assert_true(al_read_beneath(ws, "package.json", 1024, &b) < 0);
	assert_true(al_read_beneath(ws, "node_modules/secret", 1024, &b) < 0);
	assert_int_equal(al_read_beneath(ws, "../outside/secret", 1024, &b),
			 -EINVAL);
	assert_int_equal(al_read_beneath(ws, "/etc/passwd", 1024, &b),
			 -EINVAL);
	assert_int_equal(b.len, 0);
	/* Writing through the link must not touch the target. */
	assert_true(al_write_beneath(ws, "package.json", "x", 1) < 0);
	assert_true(al_write_beneath(ws, "node_modules/secret", "x", 1) < 0);
	assert_int_equal(al_read_file(outside, 0, &b), -EISDIR);
	snprintf(p, sizeof(p), "%s/secret", outside);
	b.len = 0;
	assert_int_equal(al_read_file(p, 100, &b), 0);
	assert_string_equal(b.p, "s3cret");
	al_buf_free(&b);
	close(ws);
}

static void test_write_beneath_keeps_mode(void **state)
{
	char p[256];
	struct stat st;
	struct al_buf b = {0};

	put("m.json", "old");
	snprintf(p, sizeof(p), "%s/m.json", tmp);
	chmod(p, 0640);
	int d = open(tmp, O_RDONLY | O_DIRECTORY);
	assert_int_equal(al_write_beneath(d, "m.json", "new", 3), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(al_read_beneath(d, "m.json", 10, &b), 0);
	assert_string_equal(b.p, "new");
	b.len = 0;
	assert_int_equal(al_read_beneath(d, "m.json", 2, &b), -EFBIG);
	al_buf_free(&b);
	close(d);
}

static void test_rm_tree_never_follows(void **state)
{
	char p[256], keep[256], victim[256];

	snprintf(keep, sizeof(keep), "%s/keep", tmp);
	mkdir(keep, 0700);
	put("keep/precious", "x");
	snprintf(victim, sizeof(victim), "%s/victim", tmp);
	mkdir(victim, 0700);
	snprintf(p, sizeof(p), "%s/victim/sub", tmp);
	mkdir(p, 0500); /* a directory sandboxed code made unwritable */
	snprintf(p, sizeof(p), "%s/victim/link-dir", tmp);
	assert_int_equal(symlink(keep, p), 0);
	snprintf(p, sizeof(p), "%s/victim/link-file", tmp);
	assert_int_equal(symlink("../keep/precious", p), 0);

	assert_int_equal(al_rm_tree(victim), 0);
	assert_int_equal(access(victim, F_OK), -1);
	snprintf(p, sizeof(p), "%s/keep/precious", tmp);
	assert_int_equal(access(p, F_OK), 0);
	/* A missing tree is not an error; a symlink as the root is only
	 * unlinked. */
	assert_int_equal(al_rm_tree(victim), 0);
	snprintf(p, sizeof(p), "%s/rootlink", tmp);
	assert_int_equal(symlink(keep, p), 0);
	assert_int_equal(al_rm_tree(p), 0);
	snprintf(p, sizeof(p), "%s/keep/precious", tmp);
	assert_int_equal(access(p, F_OK), 0);
}

/* Deeper than the descriptor limit: removal must still finish. */
static void test_rm_tree_deep(void **state)
{
	char root[256], keep[256];
	int fd, next;

	snprintf(keep, sizeof(keep), "%s/keep", tmp);
	mkdir(keep, 0700);
	put("keep/precious", "x");
	snprintf(root, sizeof(root), "%s/deep", tmp);
	assert_int_equal(mkdir(root, 0700), 0);
	fd = open(root, O_RDONLY | O_DIRECTORY);
	for (int i = 0; i < 3000; i++) {
		assert_int_equal(mkdirat(fd, "a", 0700), 0);
		if (i == 1500)
			assert_int_equal(symlinkat(keep, fd, "link"), 0);
		next = openat(fd, "a", O_RDONLY | O_DIRECTORY);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	next = openat(fd, "bottom", O_CREAT | O_WRONLY, 0600);
	assert_true(next >= 0);
	close(next);
	close(fd);

	assert_int_equal(al_rm_tree(root), 0);
	assert_int_equal(access(root, F_OK), -1);
	snprintf(keep, sizeof(keep), "%s/keep/precious", tmp);
	assert_int_equal(access(keep, F_OK), 0);
}

static void test_strerror(void **state)
{
	assert_string_equal(al_strerror(0), "success");
	assert_string_equal(al_strerror(AL_E_PARSE), "malformed input");
	assert_string_equal(al_strerror(-ENOENT), strerror(ENOENT));
	assert_string_equal(al_strerror(12345), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_utf8_repair),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_log_line_clean),
		cmocka_unit_test(test_json_text),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test_setup_teardown(test_beneath_refuses_symlinks,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_beneath_keeps_mode,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_rm_tree_never_follows,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_rm_tree_deep, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
