/*
 * A job's steps among the stages it will run (job/steps.h): projects
 * without a build script or a lockfile, with both, several groups, a
 * failure that starts isolate, stages skipped, and the rule that a step
 * never goes back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "job/stages.h"
#include "job/steps.h"

/* Begin name and check its step and the total after it. */
static void begin(struct job_steps *s, const char *name, unsigned group,
		  unsigned step, unsigned steps)
{
	assert_int_equal(job_steps_begin(s, name, group), step);
	assert_int_equal(s->step, step);
	assert_int_equal(s->steps, steps);
}

/* Before the plan: clone and plan have their places, the total none. */
static void test_before_plan(void **state)
{
	struct job_steps s = {0};

	(void)state;
	begin(&s, "clone", 0, 1, 0);
	begin(&s, "plan", 0, 2, 0);
}

/* No build script, no lockfile, one group: 8 stages, none skipped. */
static void test_plain(void **state)
{
	static const char *const order[] = {
		"baseline-install", "baseline-test", "install", "test",
		"score", "propose"};
	struct job_steps s = {0};

	(void)state;
	begin(&s, "clone", 0, 1, 0);
	begin(&s, "plan", 0, 2, 0);
	job_steps_plan(&s, false, false, 1);
	assert_int_equal(s.steps, 8);
	for (unsigned i = 0; i < sizeof(order) / sizeof(*order); i++)
		begin(&s, order[i], 0, 3 + i, 8);
}

/* A build script and a lockfile: both builds and lockfile count. */
static void test_build_and_lockfile(void **state)
{
	static const char *const order[] = {
		"baseline-install", "baseline-build", "baseline-test",
		"lockfile", "install", "build", "test", "score", "propose"};
	struct job_steps s = {0};

	(void)state;
	begin(&s, "clone", 0, 1, 0);
	begin(&s, "plan", 0, 2, 0);
	job_steps_plan(&s, true, true, 1);
	assert_int_equal(s.steps, 11);
	for (unsigned i = 0; i < sizeof(order) / sizeof(*order); i++)
		begin(&s, order[i], 0, 3 + i, 11);
}

/* Only a lockfile, or only a build script: each counts alone. */
static void test_one_of_them(void **state)
{
	struct job_steps s = {0};

	(void)state;
	job_steps_plan(&s, false, true, 1);
	assert_int_equal(s.steps, 9);
	begin(&s, "baseline-install", 0, 3, 9);
	begin(&s, "baseline-test", 0, 4, 9);
	begin(&s, "lockfile", 0, 5, 9);
	begin(&s, "install", 0, 6, 9);

	memset(&s, 0, sizeof(s));
	job_steps_plan(&s, true, false, 1);
	assert_int_equal(s.steps, 10);
	begin(&s, "baseline-test", 0, 5, 10);
	begin(&s, "install", 0, 6, 10);
	begin(&s, "build", 0, 7, 10);
	begin(&s, "test", 0, 8, 10);
	begin(&s, "propose", 0, 10, 10);
}

/* Three groups repeat lockfile to propose: 4 + 3 x 5 stages. */
static void test_groups(void **state)
{
	static const char *const group[] = {
		"lockfile", "install", "test", "score", "propose"};
	struct job_steps s = {0};

	(void)state;
	begin(&s, "clone", 0, 1, 0);
	begin(&s, "plan", 0, 2, 0);
	job_steps_plan(&s, false, true, 3);
	assert_int_equal(s.steps, 19);
	begin(&s, "baseline-install", 0, 3, 19);
	begin(&s, "baseline-test", 0, 4, 19);
	for (unsigned g = 0; g < 3; g++)
		for (unsigned i = 0; i < 5; i++)
			begin(&s, group[i], g, 5 + g * 5 + i, 19);
	/* No groups in the plan counts as one. */
	memset(&s, 0, sizeof(s));
	job_steps_plan(&s, false, false, 0);
	assert_int_equal(s.steps, 8);
}

/* A failure starts isolate: the total grows by one, isolate follows
 * the test, and the stages after it (this group's and the next
 * group's) move up by one. */
static void test_isolate(void **state)
{
	struct job_steps s = {0};

	(void)state;
	job_steps_plan(&s, false, false, 2);
	assert_int_equal(s.steps, 12);
	begin(&s, "baseline-install", 0, 3, 12);
	begin(&s, "baseline-test", 0, 4, 12);
	begin(&s, "install", 0, 5, 12);
	begin(&s, "test", 0, 6, 12);
	begin(&s, "isolate", 0, 7, 13);
	begin(&s, "score", 0, 8, 13);
	/* The failed group proposes nothing: the next group's install
	 * jumps over propose's number. */
	begin(&s, "install", 1, 10, 13);
	begin(&s, "test", 1, 11, 13);
	begin(&s, "isolate", 1, 12, 14);
	begin(&s, "score", 1, 13, 14);
}

/* An install that fails skips the test; isolate still follows the
 * test's number, so the numbers shown are 5, 7, 8 of 9. */
static void test_isolate_after_failed_install(void **state)
{
	struct job_steps s = {0};

	(void)state;
	job_steps_plan(&s, false, false, 1);
	s.step = 4;
	begin(&s, "install", 0, 5, 8);
	begin(&s, "isolate", 0, 7, 9);
	begin(&s, "score", 0, 8, 9);
}

/* A stage the plan does not know, or one that begins again, still
 * moves forward, and the total follows. */
static void test_never_back(void **state)
{
	struct job_steps s = {0};

	(void)state;
	job_steps_plan(&s, false, false, 1);
	begin(&s, "baseline-install", 0, 3, 8);
	begin(&s, "mystery", 0, 4, 9);
	begin(&s, "baseline-test", 0, 5, 9);
	begin(&s, "baseline-test", 0, 6, 10);
	begin(&s, "install", 0, 7, 10);
	begin(&s, "propose", 0, 10, 10);
	begin(&s, NULL, 0, 11, 11);
	/* Before the plan, the total stays unknown. */
	memset(&s, 0, sizeof(s));
	begin(&s, "clone", 0, 1, 0);
	begin(&s, "clone", 0, 2, 0);
	begin(&s, "plan", 0, 3, 0);
	job_steps_plan(&s, false, false, 1);
	assert_int_equal(s.steps, 8);
}

/* A job that runs every stage of the table (job/stages.h), one group,
 * counts each in its order: a stage added to the table and not to the
 * plan's count fails here. */
static void test_every_stage(void **state)
{
	static const char *const table[] = {
#define X_STAGE(name) name,
		JOB_STAGE_TABLE(X_STAGE)
#undef X_STAGE
	};
	struct job_steps s = {0};
	unsigned n = sizeof(table) / sizeof(*table);

	(void)state;
	for (unsigned i = 0; i < n; i++) {
		if (!strcmp(table[i], "baseline-install"))
			job_steps_plan(&s, true, true, 1);
		assert_int_equal(job_steps_begin(&s, table[i], 0), i + 1);
	}
	assert_int_equal(s.steps, n);
	assert_int_equal(s.extra, 1); /* isolate */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_before_plan),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_build_and_lockfile),
		cmocka_unit_test(test_one_of_them),
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_isolate),
		cmocka_unit_test(test_isolate_after_failed_install),
		cmocka_unit_test(test_never_back),
		cmocka_unit_test(test_every_stage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
