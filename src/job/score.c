#include "job/score.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Points, chosen so that any broken stage lands under 50 (low). */
#define SCORE_INSTALL_BROKEN (-70)
#define SCORE_TESTS_BROKEN (-60)
#define SCORE_BASELINE_BROKEN (-25)
#define SCORE_FEWER_TESTS (-20)
#define SCORE_PER_MAJOR (-12)
#define SCORE_PER_MINOR (-4)
#define SCORE_PER_PATCH (-1)
#define SCORE_CAP_UNTESTED 70

static void score_add(struct score *s, const char *name, int effect,
		      const char *fmt, ...)
{
	va_list ap;

	if (s->nfactors >= SCORE_MAX_FACTORS)
		return;
	struct score_factor *f = &s->factors[s->nfactors++];
	f->name = name;
	f->effect = effect;
	va_start(ap, fmt);
	vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
	va_end(ap);
	s->value += effect;
}

static int score_min(int a, int b)
{
	return a < b ? a : b;
}

/* Stage results, judged against the baseline on the unmodified tree. */
static void score_stages(const struct score_input *in, struct score *s)
{
	bool base_ok = in->base_install == SCORE_PASSED &&
		       in->base_test == SCORE_PASSED;

	if (in->install == SCORE_FAILED)
		score_add(s, "install_failed", SCORE_INSTALL_BROKEN,
			  "npm install failed on the updated tree%s",
			  in->base_install == SCORE_PASSED
				  ? " but passed on the baseline"
				  : "");
	else if (in->test == SCORE_FAILED && in->base_test == SCORE_PASSED)
		score_add(s, "tests_failed", SCORE_TESTS_BROKEN,
			  "tests failed on the updated tree and passed on "
			  "the baseline");
	else if (in->test == SCORE_FAILED)
		score_add(s, "tests_failed_baseline_too", SCORE_BASELINE_BROKEN,
			  "tests failed, and already failed on the baseline: "
			  "the update cannot be judged by them");
	else if (!base_ok && in->test == SCORE_PASSED)
		score_add(s, "baseline_failed", 0,
			  "the baseline failed; the update passed");
}

static void score_tests(const struct score_input *in, struct score *s)
{
	if (in->test == SCORE_PASSED && in->tests_ran >= 0 &&
	    in->base_tests_ran > in->tests_ran)
		score_add(s, "fewer_tests", SCORE_FEWER_TESTS,
			  "%ld tests ran, %ld on the baseline", in->tests_ran,
			  in->base_tests_ran);
	if (in->test == SCORE_NOT_RUN || in->tests_ran <= 0) {
		int cap = SCORE_CAP_UNTESTED;
		int effect = s->value > cap ? cap - s->value : 0;
		score_add(s, "untested", effect,
			  in->test == SCORE_NOT_RUN
				  ? "no tests ran: never scored high"
				  : in->tests_ran == 0
					    ? "the test run reported 0 tests"
					    : "the test output did not say "
					      "how many tests ran");
	}
}

static void score_bumps(const struct score_input *in, struct score *s)
{
	if (in->n_major)
		score_add(s, "major_updates",
			  score_min((int)in->n_major, 3) * SCORE_PER_MAJOR,
			  "%u major update%s", in->n_major,
			  in->n_major == 1 ? "" : "s");
	if (in->n_minor)
		score_add(s, "minor_updates",
			  score_min((int)in->n_minor, 3) * SCORE_PER_MINOR,
			  "%u minor update%s", in->n_minor,
			  in->n_minor == 1 ? "" : "s");
	if (in->n_patch)
		score_add(s, "patch_updates",
			  score_min((int)in->n_patch, 5) * SCORE_PER_PATCH,
			  "%u patch update%s", in->n_patch,
			  in->n_patch == 1 ? "" : "s");
}

void score_compute(const struct score_input *in, struct score *out)
{
	memset(out, 0, sizeof(*out));
	out->value = 100;

	score_stages(in, out);
	score_bumps(in, out);
	/* The cap for untested projects applies to the final value. */
	score_tests(in, out);

	if (out->value < 0)
		out->value = 0;
	out->level = score_level(out->value);
}

const char *score_level(int value)
{
	if (value >= 80)
		return "high";
	return value >= 50 ? "medium" : "low";
}

json_t *score_json(const struct score *s)
{
	json_t *factors = json_array();

	for (size_t i = 0; i < s->nfactors; i++)
		json_array_append_new(
			factors,
			json_pack("{s:s,s:i,s:s}", "name", s->factors[i].name,
				  "effect", s->factors[i].effect, "detail",
				  s->factors[i].detail));
	return json_pack("{s:i,s:s,s:o}", "value", s->value, "level",
			 s->level, "factors", factors);
}
