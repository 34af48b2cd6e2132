/*
 * steps.h - where a running job is among the stages it will run.
 *
 * The stage table (job/stages.h) lists every stage; a job runs only
 * some of them: the builds need a build script, lockfile a
 * package-lock.json, isolate a failure to take apart, and lockfile to
 * propose repeat once per group. Once the plan is known, the job counts
 * the stages it will run (its steps) and numbers each one as it begins,
 * so that views show "5/9 install" rather than a place in the table.
 *
 * Rules the numbers keep (docs/console.md, "Jobs"):
 *   - clone is step 1 and plan step 2; the total is unknown (0) until
 *     job_steps_plan.
 *   - A step never goes back: each stage that begins gets a number
 *     greater than the one before. A planned stage that does not run
 *     (tests skipped after a failed install, no proposal after a failed
 *     group) leaves its number out: the next stage jumps ahead.
 *   - isolate is not planned (it runs only after a failure): when it
 *     begins, the total grows by one and the stages after it move up by
 *     one. So does any other stage the plan did not count.
 *   - The step is never above the total once the total is known.
 */
#ifndef AL_JOB_STEPS_H
#define AL_JOB_STEPS_H

#include <stdbool.h>

/* A bound far above what a plan of NPM_RULES_GROUPS_MAX groups needs,
 * for readers of a step from elsewhere (the worker's messages). */
#define JOB_STEPS_MAX 1000

struct job_steps {
	unsigned step;      /* the stage under way, from 1; 0 before clone */
	unsigned steps;     /* stages planned; 0 until the plan is known */
	unsigned before;    /* clone, plan and the baseline's stages */
	unsigned per_group; /* lockfile to propose, as planned */
	bool build, lockfile;
	unsigned extra;     /* stages begun that the plan did not count */
};

/*
 * The plan is known: the project has a build script (build), a
 * package-lock.json (lockfile), and its updates fall into groups groups
 * (at least 1). Sets s->steps.
 */
void job_steps_plan(struct job_steps *s, bool build, bool lockfile,
		    unsigned groups);

/*
 * Stage name begins, for group group (from 0; ignored before the
 * groups). Returns its step and leaves it in s->step; s->steps grows
 * by one for isolate and for any stage the plan did not count.
 */
unsigned job_steps_begin(struct job_steps *s, const char *name,
			 unsigned group);

#endif
