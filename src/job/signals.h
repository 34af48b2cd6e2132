/*
 * signals.h - what the registry says about each proposed update, for
 * the score: release age, install scripts old and new, deprecation,
 * publisher and maintainers old and new (DESIGN.md, "Confidence score").
 *
 * The plan reads abbreviated documents, which leave out release times
 * and publishers; this asks for the full documents of the updated
 * packages only. The old version is the one the spec was written at
 * (its floor: "^1.2.3" -> 1.2.3).
 */
#ifndef AL_JOB_SIGNALS_H
#define AL_JOB_SIGNALS_H

#include <stdint.h>

#include <jansson.h>

#include "job/score.h"
#include "npm/plan.h"
#include "npm/registry.h"

struct job_signals {
	struct score_update *u;  /* one per plan update, in plan order */
	size_t n;
	char (*floor)[80];       /* the old versions u[i].from points at */
	struct npm_packument *pk; /* the strings of u point into these */
	size_t npk;
	const char **names;      /* registry names asked for */
	char (*lookup)[NPM_NAME_MAX + 1];
};

/*
 * Fill out for every update of plan: bumps and versions always; the
 * registry's signals (u[i].signals true) where the full document came.
 * now_ms is the time ages are measured from. Returns 0 or -ENOMEM;
 * registry failures only leave signals false. Free with
 * job_signals_free even on failure.
 */
int job_signals_fetch(const struct npm_registry_opts *ro,
		      const struct npm_plan *plan, int64_t now_ms,
		      struct job_signals *out);

void job_signals_free(struct job_signals *s);

/* The facts of u, for the record: {"name","from","to","bump",
 * "signals":{...}|null,"history":{...}}. */
json_t *job_signals_json(const struct score_update *u);

#endif
