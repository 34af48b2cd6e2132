/*
 * steps.c - a running job's step among the stages it will run
 * (steps.h).
 */
#include "job/steps.h"

#include <string.h>

void job_steps_plan(struct job_steps *s, bool build, bool lockfile,
		    unsigned groups)
{
	s->build = build;
	s->lockfile = lockfile;
	/* clone, plan, baseline-install, baseline-build, baseline-test */
	s->before = 2 + 2 + (build ? 1 : 0);
	/* lockfile, install, build, test, score, propose */
	s->per_group = (lockfile ? 1 : 0) + 2 + (build ? 1 : 0) + 2;
	s->steps = s->before + (groups ? groups : 1) * s->per_group +
		   s->extra;
	if (s->steps < s->step)
		s->steps = s->step;
}

/* Where name sits in a group, from 1 (isolate and score share a place:
 * isolate moves score up when it runs); 0 for a stage of no group. */
static unsigned steps_in_group(const struct job_steps *s, const char *name)
{
	unsigned lock = s->lockfile ? 1 : 0, build = s->build ? 1 : 0;
	unsigned test = lock + 2 + build;

	if (!strcmp(name, "lockfile"))
		return 1;
	if (!strcmp(name, "install"))
		return lock + 1;
	if (!strcmp(name, "build"))
		return lock + 2;
	if (!strcmp(name, "test"))
		return test;
	if (!strcmp(name, "isolate") || !strcmp(name, "score"))
		return test + 1;
	if (!strcmp(name, "propose"))
		return test + 2;
	return 0;
}

/* The planned place of name, or 0 when the plan does not say. */
static unsigned steps_place(const struct job_steps *s, const char *name,
			    unsigned group)
{
	unsigned at = 0;

	if (!strcmp(name, "clone"))
		return 1;
	if (!strcmp(name, "plan"))
		return 2;
	if (!s->steps)
		return 0;
	if (!strcmp(name, "baseline-install"))
		at = 3;
	else if (!strcmp(name, "baseline-build"))
		at = 4;
	else if (!strcmp(name, "baseline-test"))
		at = 4 + (s->build ? 1 : 0);
	else if ((at = steps_in_group(s, name)))
		at += s->before + group * s->per_group;
	return at ? at + s->extra : 0;
}

unsigned job_steps_begin(struct job_steps *s, const char *name,
			 unsigned group)
{
	unsigned at = name ? steps_place(s, name, group) : 0;

	/* Once the plan is known, a stage it did not count (isolate, one
	 * it does not know, one that begins again) adds one to the total
	 * and moves the stages after it up by one. */
	if (s->steps && (!at || at <= s->step || !strcmp(name, "isolate"))) {
		s->extra++;
		s->steps++;
	}
	/* Whatever the plan foresaw, the step moves forward, never back. */
	if (at <= s->step)
		at = s->step + 1;
	if (s->steps && at > s->steps)
		s->steps = at;
	s->step = at;
	return at;
}
