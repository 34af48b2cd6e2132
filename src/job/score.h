/*
 * score.h - the confidence score of an update (DESIGN.md, "Confidence
 * score"): 0-100 and the factors that produced it, so that an operator can
 * see why. Levels: high 80+, medium 50-79, low under 50. A project whose
 * tests did not run, or whose test count is unknown, is never high.
 */
#ifndef AL_JOB_SCORE_H
#define AL_JOB_SCORE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

enum score_outcome {
	SCORE_NOT_RUN,
	SCORE_PASSED,
	SCORE_FAILED,
};

/* What the job learned, the inputs of the score. */
struct score_input {
	enum score_outcome base_install, base_test;
	enum score_outcome install, test;
	long base_tests_ran; /* -1 when the output did not say */
	long tests_ran;
	unsigned n_major, n_minor, n_patch;
};

struct score_factor {
	const char *name;  /* stable identifier, e.g. "tests_failed" */
	int effect;        /* points added (negative) or 0 for a cap */
	char detail[160];  /* one sentence for people */
};

#define SCORE_MAX_FACTORS 12

struct score {
	int value;
	const char *level; /* "high", "medium", "low" */
	size_t nfactors;
	struct score_factor factors[SCORE_MAX_FACTORS];
};

void score_compute(const struct score_input *in, struct score *out);
const char *score_level(int value);
json_t *score_json(const struct score *s);

#endif
