/*
 * "airlock audit": output and exit status of verify, and refusal of
 * unknown subcommands. The command's source is compiled into this test
 * so it runs against the audit library without the rest of the program.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cmd_audit.c"

#include "base/fs.h"

struct fix {
	char home[64];
	char out[4096];
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->home, sizeof(f->home), "/tmp/al-cliaudit-XXXXXX");
	if (!mkdtemp(f->home))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	al_rm_tree(f->home);
	free(f);
	return 0;
}

/* Run cli_audit with stdout captured into f->out. */
static int run(struct fix *f, const char *home, int argc, ...)
{
	char *argv[8];
	char tmpl[] = "/tmp/al-cliout-XXXXXX";
	va_list ap;
	int saved, fd, rc;
	ssize_t n;

	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	argv[argc] = NULL;

	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	unlink(tmpl);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	assert_true(dup2(fd, STDOUT_FILENO) >= 0);
	rc = cli_audit(argc, argv, home);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);

	n = pread(fd, f->out, sizeof(f->out) - 1, 0);
	close(fd);
	f->out[n > 0 ? n : 0] = '\0';
	return rc;
}

static void make_log(struct fix *f, int n)
{
	struct store *st;
	struct audit_log *log;

	assert_int_equal(store_open(f->home, &st), 0);
	assert_int_equal(audit_log_open(st, f->home, NULL, &log), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(audit_append_now(log, "system", "test.event",
						  "obj", NULL, NULL), 0);
	audit_log_close(log);
	store_close(st);
}

static void break_entry(struct fix *f, uint64_t seq)
{
	struct store *st;
	struct store_txn *txn;
	uint8_t key[8];

	audit_key(seq, key);
	assert_int_equal(store_open(f->home, &st), 0);
	assert_int_equal(store_txn_begin(st, true, &txn), 0);
	assert_int_equal(store_del(txn, STORE_DB_AUDIT, key, 8), 0);
	assert_int_equal(store_txn_commit(txn), 0);
	store_close(st);
}

static void test_usage(void **state)
{
	struct fix *f = *state;

	assert_int_equal(run(f, f->home, 2, "audit", "--help"), CLI_OK);
	assert_non_null(strstr(f->out, "usage: airlock audit verify"));
	assert_non_null(strstr(f->out,
				"verify-export DIR|FILE... --pubkey PEM"));
	assert_int_equal(run(f, f->home, 3, "audit", "verify", "--help"),
			 CLI_OK);
	assert_non_null(strstr(f->out, "usage:"));

	assert_int_equal(run(f, f->home, 1, "audit"), CLI_USAGE);
	assert_int_equal(run(f, f->home, 2, "audit", "exprt"), CLI_USAGE);
	assert_int_equal(run(f, f->home, 2, "audit", "verify-export"),
			 CLI_USAGE);
	assert_int_equal(run(f, f->home, 3, "audit", "verify-export", "d"),
			 CLI_USAGE);
	assert_int_equal(run(f, f->home, 4, "audit", "export", "--pubkey",
			     "k"), CLI_USAGE);
	assert_int_equal(run(f, f->home, 3, "audit", "verify", "--if-due"),
			 CLI_USAGE);
	assert_int_equal(run(f, f->home, 3, "audit", "verify", "--bogus"),
			 CLI_USAGE);
	assert_string_equal(f->out, "");
}

static void test_verify_ok(void **state)
{
	struct fix *f = *state;

	make_log(f, 5);
	assert_int_equal(run(f, f->home, 2, "audit", "verify"), CLI_OK);
	assert_non_null(strstr(f->out, "OK: 5 entries checked, 5 intact, "
				       "1 checkpoints; 0 problems\n"));
	assert_int_equal(run(f, f->home, 3, "audit", "verify", "--json"),
			 CLI_OK);
	json_t *o = json_loads(f->out, 0, NULL);
	assert_non_null(o);
	assert_true(json_is_true(json_object_get(o, "ok")));
	assert_true(json_is_null(json_object_get(o, "broken_at")));
	assert_int_equal(json_integer_value(json_object_get(o, "intact")), 5);
	assert_int_equal(json_array_size(json_object_get(o, "problems")), 0);
	json_decref(o);
}

static void test_verify_broken(void **state)
{
	struct fix *f = *state;

	make_log(f, 5);
	break_entry(f, 3);
	assert_int_equal(run(f, f->home, 2, "audit", "verify"), CLI_FAILED);
	assert_non_null(strstr(f->out, "seq 3: entries 3 to 3 are missing"));
	assert_non_null(strstr(f->out, "FAILED: 4 entries checked, 4 intact"));
	assert_int_equal(run(f, f->home, 3, "audit", "verify", "--json"),
			 CLI_FAILED);
	json_t *o = json_loads(f->out, 0, NULL);
	assert_non_null(o);
	assert_true(json_is_false(json_object_get(o, "ok")));
	assert_int_equal(json_integer_value(json_object_get(o, "broken_at")),
			 3);
	json_t *p = json_array_get(json_object_get(o, "problems"), 0);
	assert_int_equal(json_integer_value(json_object_get(p, "seq")), 3);
	json_decref(o);
}

static void test_verify_no_store(void **state)
{
	struct fix *f = *state;
	char missing[128];

	snprintf(missing, sizeof(missing), "%s/none", f->home);
	assert_int_equal(run(f, missing, 3, "audit", "verify", "--json"),
			 CLI_FAILED);
	json_t *o = json_loads(f->out, 0, NULL);
	assert_non_null(o);
	assert_true(json_is_false(json_object_get(o, "ok")));
	assert_non_null(json_string_value(json_object_get(o, "error")));
	json_decref(o);
	/* Verifying must not create a store. */
	assert_int_equal(access(missing, F_OK), -1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_usage),
		T(test_verify_ok),
		T(test_verify_broken),
		T(test_verify_no_store),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
