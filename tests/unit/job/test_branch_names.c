/*
 * The scheduler's branch check (sched_branch_ok, which the control API,
 * schedule lines and airlock update use without libgit2) against
 * libgit2's (vcs_branch_name_ok, which the clone stage asks): every name
 * here gets the same answer from both, so nothing queued is refused at
 * the clone stage and nothing the clone stage takes is refused at
 * enqueue, but two that git itself refuses and libgit2 does not. The
 * names follow git-check-ref-format's rules, one case per rule and its
 * neighbours.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sched/sched.h"
#include "vcs/vcs.h"

static void test_same_answers(void **state)
{
	static const char *const names[] = {
		"main", "release/1.x", "feature/a-b_c", "v1.2.3", "a@b",
		"dependabot/npm_and_yarn/x-1.0", "caf\xc3\xa9", "a.lock.b",
		"a/b/c/d", "x.", "x..y", ".x", "x/.y", "x/y.", "x.lock",
		"x/y.lock", "x.lock/y", "@", "@{", "a@{b", "a@", "HEAD",
		"head", "HEADS", "-x", "x-", "--", "/x", "x/", "x//y", "x y",
		"x\ty", "x\001", "x\177", "x~", "x^", "x:", "x?", "x*", "x[",
		"x]", "x\\y", "x{", "x}", "x!", "x#", "x$", "x%", "x&", "x'",
		"x\"", "x(", "x+", "x,", "x;", "x<", "x=", "x>", "x`", "x|",
		".", "..", "a/./b", "a/../b", "refs/heads/x", "x.git",
	};
	int differ = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		bool mine = sched_branch_ok(names[i]);
		bool git = vcs_branch_name_ok(names[i]) != 0;
		/* Stricter on purpose, by git's own rules, where libgit2
		 * 1.5 lets them through: "@" (git reads it as HEAD) and
		 * DEL (a control character to git-check-ref-format). */
		if (!strcmp(names[i], "@") || strchr(names[i], 0x7f)) {
			assert_false(mine);
			continue;
		}
		if (mine != git) {
			print_message("branch '%s': airlock %d, libgit2 %d\n",
				      names[i], mine, git);
			differ++;
		}
	}
	assert_int_equal(differ, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_answers),
	};
	int rc;

	if (vcs_init())
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	vcs_shutdown();
	return rc;
}
