/*
 * stages.h - the stages of an update job, in the order they run
 * (docs/update-job.md, "Stages"). Not every job runs every stage: the
 * builds need a build script, lockfile a package-lock.json, isolate a
 * failure to take apart; from lockfile to propose they repeat once per
 * group; src/job/steps.h counts the stages a job will run, and views
 * show its place among those.
 */
#ifndef AL_JOB_STAGES_H
#define AL_JOB_STAGES_H

#define JOB_STAGE_TABLE(X)                                                 \
	X("clone")                                                             \
	X("plan")                                                              \
	X("baseline-install")                                                  \
	X("baseline-build")                                                    \
	X("baseline-test")                                                     \
	X("lockfile")                                                          \
	X("install")                                                           \
	X("build")                                                             \
	X("test")                                                              \
	X("isolate")                                                           \
	X("score")                                                             \
	X("propose")

#endif
