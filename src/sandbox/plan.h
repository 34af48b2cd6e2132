/*
 * plan.h - building the child's plan from a spec (plan.c).
 */
#ifndef AL_SANDBOX_PLAN_H
#define AL_SANDBOX_PLAN_H

#include "sandbox/internal.h"

/* The plan and the heap storage behind it. */
struct sbx_plan_store {
	struct sbx_plan plan;
	size_t cap;  /* of plan.mnts */
	char **env;  /* owned copy, NULL-terminated */
	/* Owned copies of the payload's argv and workdir: the caller's may
	 * lie in its argv area, which init wipes before the payload's fork. */
	char **argv;
	char *workdir;
};

/*
 * Validate the spec's binds and environment and prepare the plan.
 * spec must already carry its defaults. Logs and returns -EINVAL on a
 * bad spec, or -ENOMEM.
 */
int sbx_plan_build(struct sbx_plan_store *ps, const struct sbx_spec *spec);
void sbx_plan_free(struct sbx_plan_store *ps);

#endif
