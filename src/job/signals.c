/*
 * signals.c - registry signals of the proposed updates (see signals.h).
 */
#include "job/signals.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonx.h"
#include "base/util.h"

static enum score_bump sig_bump(enum npm_bump b)
{
	return b == NPM_BUMP_MAJOR   ? SCORE_BUMP_MAJOR
	       : b == NPM_BUMP_MINOR ? SCORE_BUMP_MINOR
				     : SCORE_BUMP_PATCH;
}

/* The registry name of an update: an alias's target, else its key. */
static void sig_lookup(const struct npm_update *up, char *out, size_t n)
{
	size_t off;

	if (npm_spec_alias(up->from, out, n, &off) != 0)
		al_strlcpy(out, up->name, n);
}

static const struct npm_packument *sig_find(const struct job_signals *s,
					    const char *name)
{
	for (size_t i = 0; i < s->npk; i++)
		if (s->pk[i].name && !strcmp(s->pk[i].name, name) &&
		    !s->pk[i].err)
			return &s->pk[i];
	return NULL;
}

static void sig_fill(struct score_update *u, const struct npm_packument *pk,
		     int64_t now_ms)
{
	const struct npm_pkg_version *a = npm_packument_version(pk, u->from);
	const struct npm_pkg_version *b = npm_packument_version(pk, u->to);

	if (!b)
		return;
	u->signals = true;
	/* A release time in the future is no older than now. */
	u->age_ms = b->published_ms <= 0 ? -1
		    : now_ms > b->published_ms ? now_ms - b->published_ms
					       : 0;
	u->scripts_to = b->has_install_scripts;
	u->deprecated_to = b->deprecated;
	u->publisher_to = b->publisher;
	u->maintainers_to = b->maintainers;
	if (!a)
		return;
	u->scripts_from = a->has_install_scripts;
	u->deprecated_from = a->deprecated;
	u->publisher_from = a->publisher;
	u->maintainers_from = a->maintainers;
}

int job_signals_fetch(const struct npm_registry_opts *ro,
		      const struct npm_plan *plan, int64_t now_ms,
		      struct job_signals *out)
{
	struct npm_registry_opts o = *ro;
	size_t n = plan->nupdates;
	const char *op;

	memset(out, 0, sizeof(*out));
	out->u = calloc(n + 1, sizeof(*out->u));
	out->floor = calloc(n + 1, sizeof(*out->floor));
	out->lookup = calloc(n + 1, sizeof(*out->lookup));
	out->names = calloc(n + 1, sizeof(*out->names));
	out->pk = calloc(n + 1, sizeof(*out->pk));
	if (!out->u || !out->floor || !out->lookup || !out->names || !out->pk)
		return -ENOMEM;
	out->n = n;
	for (size_t i = 0; i < n; i++) {
		const struct npm_update *up = &plan->updates[i];
		struct score_update *u = &out->u[i];
		bool dup = false;

		u->name = up->name;
		u->to = up->version;
		u->bump = sig_bump(up->bump);
		u->age_ms = -1;
		if (!npm_spec_classify(up->from, &op, out->floor[i],
				       sizeof(out->floor[i])))
			u->from = out->floor[i];
		sig_lookup(up, out->lookup[i], sizeof(out->lookup[i]));
		for (size_t k = 0; k < out->npk && !dup; k++)
			dup = !strcmp(out->names[k], out->lookup[i]);
		if (!dup)
			out->names[out->npk++] = out->lookup[i];
	}
	/* Release times and publishers are in the full documents only. */
	o.need_release_times = true;
	int rc = npm_registry_fetch(&o, out->names, out->npk, out->pk);
	if (rc == -ENOMEM)
		return rc;
	if (rc) {
		/* A registry that cannot be asked leaves the signals
		 * unknown; the packuments were not filled. */
		out->npk = 0;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		const struct npm_packument *pk = sig_find(out, out->lookup[i]);
		if (pk && out->u[i].to)
			sig_fill(&out->u[i], pk, now_ms);
	}
	return 0;
}

void job_signals_free(struct job_signals *s)
{
	if (s->pk)
		npm_packuments_free(s->pk, s->npk);
	free(s->pk);
	free(s->u);
	free(s->floor);
	free(s->lookup);
	free(s->names);
	memset(s, 0, sizeof(*s));
}

/* A registry string for the record: sanitised, or null. */
static json_t *sig_text(const char *s)
{
	return s ? al_json_text(s, NPM_REGISTRY_MAX_PEOPLE) : json_null();
}

json_t *job_signals_json(const struct score_update *u)
{
	static const char *const bumps[] = {"patch", "minor", "major"};
	json_t *sig = json_null();

	if (u->signals)
		sig = json_pack(
			"{s:I,s:{s:b,s:b},s:{s:b,s:b},s:{s:o,s:o},s:{s:o,s:o}}",
			"age_ms", (json_int_t)u->age_ms, "install_scripts",
			"from", u->scripts_from, "to", u->scripts_to,
			"deprecated", "from", u->deprecated_from, "to",
			u->deprecated_to, "publisher", "from",
			sig_text(u->publisher_from), "to",
			sig_text(u->publisher_to), "maintainers", "from",
			sig_text(u->maintainers_from), "to",
			sig_text(u->maintainers_to));
	return json_pack("{s:s,s:o,s:s,s:s,s:o,s:{s:i,s:i,s:i}}", "name",
			 u->name, "from",
			 u->from ? json_string(u->from) : json_null(), "to",
			 u->to ? u->to : "", "bump", bumps[u->bump], "signals",
			 sig ? sig : json_null(), "history", "passed",
			 (int)u->hist_passed, "failed", (int)u->hist_failed,
			 "other_repos", (int)u->hist_other_repos);
}
