/*
 * score.h - the confidence score of an update (DESIGN.md, "Confidence
 * score"): 0-100 and the factors that produced it, so that an operator can
 * see why. Levels: high 80+, medium 50-79, low under 50. A project whose
 * tests did not run, or whose test count is unknown, is never high.
 *
 * Every weight is here and in docs/score.md, which works an example
 * through; change both together.
 */
#ifndef AL_JOB_SCORE_H
#define AL_JOB_SCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Points. Any broken stage lands under 50 (low). */
#define SCORE_INSTALL_BROKEN (-70)
#define SCORE_TESTS_BROKEN (-60)
#define SCORE_BASELINE_BROKEN (-25)
#define SCORE_FEWER_TESTS (-20)
#define SCORE_CAP_UNTESTED 70
/* Per update, each kind capped (the caps below). */
#define SCORE_PER_MAJOR (-12)
#define SCORE_PER_MINOR (-4)
#define SCORE_PER_PATCH (-1)
#define SCORE_CAP_MAJOR (-36)
#define SCORE_CAP_MINOR (-12)
#define SCORE_CAP_PATCH (-5)
/* Supply chain, from the registry's full documents. */
#define SCORE_FRESH_DAY (-20)   /* published under 24 h ago */
#define SCORE_FRESH_WEEK (-8)   /* under 7 days ago */
#define SCORE_CAP_FRESH (-30)
#define SCORE_SCRIPTS_ADDED (-25)
#define SCORE_CAP_SCRIPTS (-40)
#define SCORE_DEPRECATED (-30)
#define SCORE_CAP_DEPRECATED (-40)
#define SCORE_PUBLISHER (-15)
#define SCORE_CAP_PUBLISHER (-30)
#define SCORE_MAINTAINERS (-10)
#define SCORE_CAP_MAINTAINERS (-20)
/* This appliance's own history of the same update. */
#define SCORE_HISTORY_FAILED (-20)
#define SCORE_CAP_HISTORY_FAILED (-40)
#define SCORE_HISTORY_MIXED (-5)
#define SCORE_CAP_HISTORY_MIXED (-15)
#define SCORE_HISTORY_PASSED 5
#define SCORE_CAP_HISTORY_PASSED 10

#define SCORE_DAY_MS (24LL * 3600 * 1000)

enum score_outcome {
	SCORE_NOT_RUN,
	SCORE_PASSED,
	SCORE_FAILED,
};

enum score_bump {
	SCORE_BUMP_PATCH,
	SCORE_BUMP_MINOR,
	SCORE_BUMP_MAJOR,
};

/*
 * What is known about one update. Strings are borrowed and may be NULL
 * (unknown); they are registry data, sanitised before they reach a
 * factor's text.
 */
struct score_update {
	const char *name;
	const char *from;        /* the version the spec was at */
	const char *to;          /* the proposed version */
	enum score_bump bump;
	bool signals;            /* the registry answered for this one */
	int64_t age_ms;          /* since publication; -1 unknown */
	bool scripts_from, scripts_to;   /* install hooks, old and new */
	bool deprecated_from, deprecated_to;
	const char *publisher_from, *publisher_to;
	const char *maintainers_from, *maintainers_to; /* "a, b, c" */
	/* Earlier jobs on this appliance with the same name@to: how many
	 * passed and failed, and on how many other repositories. */
	unsigned hist_passed, hist_failed, hist_other_repos;
};

/* What the job learned, the inputs of the score. */
struct score_input {
	enum score_outcome base_install, base_test;
	enum score_outcome install, test;
	long base_tests_ran; /* -1 when the output did not say */
	long tests_ran;
	const struct score_update *updates; /* the proposed ones */
	size_t nupdates;
	const char *const *left_out; /* culprits not proposed (names) */
	size_t nleft_out;
};

#define SCORE_MAX_FACTORS 24
#define SCORE_DETAIL_MAX 256
#define SCORE_PKGS_MAX 512

struct score_factor {
	const char *name;  /* stable identifier, e.g. "tests_failed" */
	int effect;        /* points added (negative) or 0 for a cap */
	char detail[SCORE_DETAIL_MAX]; /* one sentence for people */
	/* The packages it is about, NUL-separated, ending in an empty
	 * name; empty for factors about the whole run. */
	char packages[SCORE_PKGS_MAX];
};

struct score {
	int value;
	const char *level; /* "high", "medium", "low" */
	size_t nfactors;
	struct score_factor factors[SCORE_MAX_FACTORS];
};

/* A pure function of its input: the same facts give the same score. */
void score_compute(const struct score_input *in, struct score *out);
const char *score_level(int value);
/* {"value","level","factors":[{"name","effect","detail",
 *  "packages"?:[..]}]}; NULL on allocation failure. */
json_t *score_json(const struct score *s);
/* The factor called name, or NULL. */
const struct score_factor *score_factor(const struct score *s,
					const char *name);

#endif
