/*
 * score.c - the confidence score (see score.h and docs/score.md).
 *
 * The score starts at 100. Each factor adds its points; factors about
 * single updates add per update and stop at their cap, so that twenty
 * patch updates do not weigh like a broken build. Positive points
 * (history) never lift the score past 100, and the cap for untested
 * projects is applied last.
 */
#include "job/score.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"

/* A factor being built: its text and packages grow one update at a
 * time; the points add up to the cap. */
struct score_tally {
	struct score_factor f;
	size_t dlen, plen;
	int per, cap;
	unsigned n;
};

static void tally_init(struct score_tally *t, const char *name, int per,
		       int cap, const char *lead)
{
	memset(t, 0, sizeof(*t));
	t->f.name = name;
	t->per = per;
	t->cap = cap;
	t->dlen = (size_t)snprintf(t->f.detail, sizeof(t->f.detail), "%s",
				   lead);
}

/* Append text to the detail; past the end, the detail ends in "...". */
static void tally_say(struct score_tally *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void tally_say(struct score_tally *t, const char *fmt, ...)
{
	size_t room = sizeof(t->f.detail) - t->dlen;
	va_list ap;
	int n;

	if (room <= 4)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->f.detail + t->dlen, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= room) {
		memcpy(t->f.detail + sizeof(t->f.detail) - 4, "...", 4);
		t->dlen = sizeof(t->f.detail) - 1;
		return;
	}
	t->dlen += (size_t)n;
}

/* One more update: its points (per, unless effect overrides) and its
 * name in the list of packages. */
static void tally_add(struct score_tally *t, const char *name, int effect)
{
	size_t len = strlen(name ? name : "");

	t->f.effect += effect;
	if ((t->per < 0 && t->f.effect < t->cap) ||
	    (t->per > 0 && t->f.effect > t->cap))
		t->f.effect = t->cap;
	if (len && t->plen + len + 2 <= sizeof(t->f.packages)) {
		memcpy(t->f.packages + t->plen, name, len + 1);
		t->plen += len + 1;
	}
	t->n++;
}

static void score_push(struct score *s, const struct score_factor *f)
{
	if (s->nfactors >= SCORE_MAX_FACTORS)
		return;
	s->factors[s->nfactors] = *f;
	al_utf8_repair(s->factors[s->nfactors].detail,
		       strlen(s->factors[s->nfactors].detail));
	al_sanitize_text(s->factors[s->nfactors].detail);
	s->nfactors++;
	s->value += f->effect;
}

static void tally_end(struct score *s, struct score_tally *t)
{
	if (t->n)
		score_push(s, &t->f);
}

static void score_add(struct score *s, const char *name, int effect,
		      const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void score_add(struct score *s, const char *name, int effect,
		      const char *fmt, ...)
{
	struct score_factor f = { .name = name, .effect = effect };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f.detail, sizeof(f.detail), fmt, ap);
	va_end(ap);
	score_push(s, &f);
}

static const char *score_str(const char *s)
{
	return s ? s : "?";
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
	if (in->test == SCORE_PASSED && in->tests_ran >= 0 &&
	    in->base_tests_ran > in->tests_ran)
		score_add(s, "fewer_tests", SCORE_FEWER_TESTS,
			  "%ld tests ran, %ld on the baseline", in->tests_ran,
			  in->base_tests_ran);
}

static void score_untested(const struct score_input *in, struct score *s)
{
	if (in->test != SCORE_NOT_RUN && in->tests_ran > 0)
		return;
	int effect = s->value > SCORE_CAP_UNTESTED
			     ? SCORE_CAP_UNTESTED - s->value
			     : 0;
	score_add(s, "untested", effect, "%s",
		  in->test == SCORE_NOT_RUN
			  ? "no tests ran: never scored high"
			  : in->tests_ran == 0
				    ? "the test run reported 0 tests"
				    : "the test output did not say how many "
				      "tests ran");
}

static void score_bumps(const struct score_input *in, struct score *s)
{
	static const struct {
		const char *name, *word;
		int per, cap;
	} kinds[] = {
		[SCORE_BUMP_MAJOR] = {"major_updates", "major",
				      SCORE_PER_MAJOR, SCORE_CAP_MAJOR},
		[SCORE_BUMP_MINOR] = {"minor_updates", "minor",
				      SCORE_PER_MINOR, SCORE_CAP_MINOR},
		[SCORE_BUMP_PATCH] = {"patch_updates", "patch",
				      SCORE_PER_PATCH, SCORE_CAP_PATCH},
	};
	const enum score_bump order[] = {SCORE_BUMP_MAJOR, SCORE_BUMP_MINOR,
					 SCORE_BUMP_PATCH};
	struct score_tally t;

	for (size_t k = 0; k < AL_ARRAY_LEN(order); k++) {
		enum score_bump b = order[k];
		unsigned n = 0;
		char lead[48];

		for (size_t i = 0; i < in->nupdates; i++)
			n += in->updates[i].bump == b;
		snprintf(lead, sizeof(lead), "%u %s update%s: ", n,
			 kinds[b].word, n == 1 ? "" : "s");
		tally_init(&t, kinds[b].name, kinds[b].per, kinds[b].cap,
			   lead);
		for (size_t i = 0; i < in->nupdates; i++) {
			const struct score_update *u = &in->updates[i];
			if (u->bump != b)
				continue;
			tally_say(&t, "%s%s %s -> %s", t.n ? ", " : "",
				  score_str(u->name), score_str(u->from),
				  score_str(u->to));
			tally_add(&t, u->name, kinds[b].per);
		}
		tally_end(s, &t);
	}
}

/* "3 h", "2 days": how long ago, in words. */
static void score_age(int64_t ms, char *out, size_t n)
{
	int64_t h = ms / 3600000;

	if (h < 1)
		snprintf(out, n, "under an hour");
	else if (h < 48)
		snprintf(out, n, "%lld h", (long long)h);
	else
		snprintf(out, n, "%lld days", (long long)(h / 24));
}

/* Release age: a version days old has had no time to be looked at. */
static void score_fresh(const struct score_input *in, struct score *s)
{
	struct score_tally t, unknown;
	char age[32];

	tally_init(&t, "fresh_release", SCORE_FRESH_DAY, SCORE_CAP_FRESH,
		   "published less than 7 days ago: ");
	tally_init(&unknown, "release_age_unknown", 0, 0,
		   "the registry gave no release time for ");
	for (size_t i = 0; i < in->nupdates; i++) {
		const struct score_update *u = &in->updates[i];
		if (!u->signals)
			continue;
		if (u->age_ms < 0) {
			tally_say(&unknown, "%s%s %s", unknown.n ? ", " : "",
				  score_str(u->name), score_str(u->to));
			tally_add(&unknown, u->name, 0);
			continue;
		}
		if (u->age_ms >= 7 * SCORE_DAY_MS)
			continue;
		score_age(u->age_ms, age, sizeof(age));
		tally_say(&t, "%s%s %s (%s ago)", t.n ? ", " : "",
			  score_str(u->name), score_str(u->to), age);
		tally_add(&t, u->name,
			  u->age_ms < SCORE_DAY_MS ? SCORE_FRESH_DAY
						   : SCORE_FRESH_WEEK);
	}
	tally_end(s, &t);
	tally_end(s, &unknown);
}

/* Install hooks run at install time, before any test: new ones are how
 * most malicious releases reach a machine. */
static void score_scripts(const struct score_input *in, struct score *s)
{
	struct score_tally t;

	tally_init(&t, "install_scripts_added", SCORE_SCRIPTS_ADDED,
		   SCORE_CAP_SCRIPTS,
		   "new install scripts (preinstall, install or "
		   "postinstall): ");
	for (size_t i = 0; i < in->nupdates; i++) {
		const struct score_update *u = &in->updates[i];
		if (!u->signals || !u->scripts_to || u->scripts_from)
			continue;
		tally_say(&t, "%s%s %s (none in %s)", t.n ? ", " : "",
			  score_str(u->name), score_str(u->to),
			  score_str(u->from));
		tally_add(&t, u->name, SCORE_SCRIPTS_ADDED);
	}
	tally_end(s, &t);
}

static void score_deprecation(const struct score_input *in, struct score *s)
{
	struct score_tally to, from;

	tally_init(&to, "deprecated", SCORE_DEPRECATED, SCORE_CAP_DEPRECATED,
		   "the proposed version is deprecated: ");
	tally_init(&from, "leaves_deprecated", 0, 0,
		   "moves off a deprecated version: ");
	for (size_t i = 0; i < in->nupdates; i++) {
		const struct score_update *u = &in->updates[i];
		if (!u->signals)
			continue;
		if (u->deprecated_to) {
			tally_say(&to, "%s%s %s", to.n ? ", " : "",
				  score_str(u->name), score_str(u->to));
			tally_add(&to, u->name, SCORE_DEPRECATED);
		}
		if (u->deprecated_from) {
			tally_say(&from, "%s%s %s", from.n ? ", " : "",
				  score_str(u->name), score_str(u->from));
			tally_add(&from, u->name, 0);
		}
	}
	tally_end(s, &to);
	tally_end(s, &from);
}

/* Whether the list "a, b, c" holds name (whole names only). */
static bool score_in_list(const char *list, const char *name, size_t len)
{
	for (const char *p = list; p && *p;) {
		const char *e = strstr(p, ", ");
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == len && !memcmp(p, name, len))
			return true;
		p = e ? e + 2 : NULL;
	}
	return false;
}

/* Say which names of to's list are not in from's; how many. */
static unsigned score_added_names(struct score_tally *t, const char *from,
				  const char *to)
{
	unsigned n = 0;

	for (const char *p = to; p && *p;) {
		const char *e = strstr(p, ", ");
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (strncmp(p, "...", len) && !score_in_list(from, p, len)) {
			tally_say(t, "%s%.*s", n ? ", " : "", (int)len, p);
			n++;
		}
		p = e ? e + 2 : NULL;
	}
	return n;
}

/* A new hand on a package is how account takeovers and hand-overs to
 * strangers show. Only known on both sides counts. */
static void score_people(const struct score_input *in, struct score *s)
{
	struct score_tally pub, maint;

	tally_init(&pub, "publisher_changed", SCORE_PUBLISHER,
		   SCORE_CAP_PUBLISHER, "published by someone else than the "
		   "old version: ");
	tally_init(&maint, "maintainers_added", SCORE_MAINTAINERS,
		   SCORE_CAP_MAINTAINERS, "new maintainers: ");
	for (size_t i = 0; i < in->nupdates; i++) {
		const struct score_update *u = &in->updates[i];
		if (!u->signals)
			continue;
		if (u->publisher_from && u->publisher_to &&
		    strcmp(u->publisher_from, u->publisher_to)) {
			tally_say(&pub, "%s%s %s by %s (%s by %s)",
				  pub.n ? ", " : "", score_str(u->name),
				  score_str(u->to), u->publisher_to,
				  score_str(u->from), u->publisher_from);
			tally_add(&pub, u->name, SCORE_PUBLISHER);
		}
		if (u->maintainers_from && u->maintainers_to) {
			struct score_tally probe = maint;
			tally_say(&probe, "%s%s %s: ", maint.n ? "; " : "",
				  score_str(u->name), score_str(u->to));
			if (score_added_names(&probe, u->maintainers_from,
					      u->maintainers_to)) {
				maint = probe;
				tally_add(&maint, u->name, SCORE_MAINTAINERS);
			}
		}
	}
	tally_end(s, &pub);
	tally_end(s, &maint);
}

/* What this appliance saw of the same name@version before. */
static void score_history(const struct score_input *in, struct score *s)
{
	struct score_tally bad, mixed, good;

	tally_init(&bad, "history_failed", SCORE_HISTORY_FAILED,
		   SCORE_CAP_HISTORY_FAILED,
		   "failed in earlier jobs here and never passed: ");
	tally_init(&mixed, "history_mixed", SCORE_HISTORY_MIXED,
		   SCORE_CAP_HISTORY_MIXED,
		   "both passed and failed in earlier jobs here: ");
	tally_init(&good, "history_passed", SCORE_HISTORY_PASSED,
		   SCORE_CAP_HISTORY_PASSED,
		   "passed in earlier jobs on other repositories here: ");
	for (size_t i = 0; i < in->nupdates; i++) {
		const struct score_update *u = &in->updates[i];
		if (u->hist_failed && !u->hist_passed) {
			tally_say(&bad, "%s%s %s (%u job%s)", bad.n ? ", " : "",
				  score_str(u->name), score_str(u->to),
				  u->hist_failed,
				  u->hist_failed == 1 ? "" : "s");
			tally_add(&bad, u->name, SCORE_HISTORY_FAILED);
		} else if (u->hist_failed) {
			tally_say(&mixed, "%s%s %s (%u passed, %u failed)",
				  mixed.n ? ", " : "", score_str(u->name),
				  score_str(u->to), u->hist_passed,
				  u->hist_failed);
			tally_add(&mixed, u->name, SCORE_HISTORY_MIXED);
		} else if (u->hist_passed && u->hist_other_repos) {
			tally_say(&good, "%s%s %s (%u repositor%s)",
				  good.n ? ", " : "", score_str(u->name),
				  score_str(u->to), u->hist_other_repos,
				  u->hist_other_repos == 1 ? "y" : "ies");
			tally_add(&good, u->name, SCORE_HISTORY_PASSED);
		}
	}
	tally_end(s, &bad);
	tally_end(s, &mixed);
	tally_end(s, &good);
}

static void score_left_out(const struct score_input *in, struct score *s)
{
	struct score_tally t;

	tally_init(&t, "left_out", 0, 0,
		   "not proposed, they broke the build or tests when tried "
		   "apart: ");
	for (size_t i = 0; i < in->nleft_out; i++) {
		tally_say(&t, "%s%s", t.n ? ", " : "",
			  score_str(in->left_out[i]));
		tally_add(&t, in->left_out[i], 0);
	}
	tally_end(s, &t);
}

void score_compute(const struct score_input *in, struct score *out)
{
	memset(out, 0, sizeof(*out));
	out->value = 100;

	score_stages(in, out);
	score_bumps(in, out);
	score_fresh(in, out);
	score_scripts(in, out);
	score_deprecation(in, out);
	score_people(in, out);
	score_history(in, out);
	score_left_out(in, out);
	if (out->value > 100)
		out->value = 100;
	/* The cap for untested projects applies to the final value. */
	score_untested(in, out);
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

const struct score_factor *score_factor(const struct score *s,
					const char *name)
{
	for (size_t i = 0; i < s->nfactors; i++)
		if (!strcmp(s->factors[i].name, name))
			return &s->factors[i];
	return NULL;
}

json_t *score_json(const struct score *s)
{
	json_t *factors = json_array();

	for (size_t i = 0; factors && i < s->nfactors; i++) {
		const struct score_factor *f = &s->factors[i];
		json_t *o = json_pack("{s:s,s:i,s:s}", "name", f->name,
				      "effect", f->effect, "detail",
				      f->detail);
		if (o && f->packages[0]) {
			json_t *pk = json_array();
			for (const char *p = f->packages; *p;
			     p += strlen(p) + 1)
				json_array_append_new(pk, json_string(p));
			json_object_set_new(o, "packages", pk);
		}
		json_array_append_new(factors, o);
	}
	return json_pack("{s:i,s:s,s:o}", "value", s->value, "level",
			 s->level, "factors", factors);
}
