/*
 * plan.c - choose dependency updates by policy and rewrite package.json
 * (see plan.h).
 */
#include "npm/plan.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "npm/semver.h"

static const char *const pl_policies[] = {
#define NPM_X_POL(e, word) word,
	NPM_POLICY_TABLE(NPM_X_POL)
#undef NPM_X_POL
};

static const char *const pl_bumps[] = {
#define NPM_X_BUMP(e, word) word,
	NPM_BUMP_TABLE(NPM_X_BUMP)
#undef NPM_X_BUMP
};

int npm_policy_parse(const char *word, enum npm_policy *out)
{
	for (size_t i = 0; word && i < AL_ARRAY_LEN(pl_policies); i++) {
		if (!strcmp(word, pl_policies[i])) {
			*out = (enum npm_policy)i;
			return 0;
		}
	}
	return AL_E_USAGE;
}

const char *npm_policy_name(enum npm_policy policy)
{
	return (unsigned)policy < AL_ARRAY_LEN(pl_policies)
		       ? pl_policies[policy]
		       : "?";
}

static const char *const pl_kinds[] = {
#define NPM_X_KIND(e, word) word,
	NPM_KIND_TABLE(NPM_X_KIND)
#undef NPM_X_KIND
};

const char *npm_kind_name(enum npm_update_kind kind)
{
	return (unsigned)kind < AL_ARRAY_LEN(pl_kinds) ? pl_kinds[kind]
						       : "?";
}

const char *npm_bump_name(enum npm_bump bump)
{
	return (unsigned)bump < AL_ARRAY_LEN(pl_bumps) ? pl_bumps[bump] : "?";
}

static bool pl_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* Specifiers that are not registry ranges at all. */
static const char *pl_protocol(const char *s)
{
	static const char *const git[] = { "git+", "git:", "github:",
					   "gitlab:", "bitbucket:", "gist:" };
	const char *slash = strchr(s, '/');

	if (pl_prefix(s, "file:") || pl_prefix(s, "link:") ||
	    pl_prefix(s, "./") || pl_prefix(s, "../") || s[0] == '/' ||
	    pl_prefix(s, "~/"))
		return "local path dependency";
	if (pl_prefix(s, "workspace:"))
		return "workspace protocol";
	for (size_t i = 0; i < AL_ARRAY_LEN(git); i++)
		if (pl_prefix(s, git[i]))
			return "git dependency";
	if (pl_prefix(s, "http://") || pl_prefix(s, "https://"))
		return "tarball URL";
	/* user/repo[#ref]: GitHub shorthand (ranges never hold a slash). */
	if (slash && s[0] != '@')
		return "git dependency (GitHub shorthand)";
	return NULL;
}

/* op X.Y.Z[-pre] exactly: no spaces, no 'v', no build metadata. */
static bool pl_simple(const char *spec, const char **op, char *floor,
		      size_t floorsz)
{
	static const char *const ops[] = { ">=", "^", "~", "=", "" };
	struct npm_version v;
	const char *rest = spec;
	size_t i;

	for (i = 0; i < AL_ARRAY_LEN(ops); i++) {
		if (pl_prefix(spec, ops[i])) {
			rest = spec + strlen(ops[i]);
			break;
		}
	}
	if (!*rest || !(rest[0] >= '0' && rest[0] <= '9') ||
	    strpbrk(rest, " \t+") || npm_version_parse(rest, 0, &v))
		return false;
	if (npm_version_format(&v, floor, floorsz) < 0 || strcmp(floor, rest))
		return false;
	*op = ops[i];
	return true;
}

/* Reasons for specs that are valid ranges but are not rewritten. */
static const char *pl_range_reason(const char *spec)
{
	const char *t = spec + strspn(spec, " \t");

	if (!*t)
		return "empty spec (any version): left as written";
	if (!strcmp(t, "*") || !strcmp(t, "x") || !strcmp(t, "X"))
		return "* (any version) is never rewritten";
	if (strstr(spec, "||"))
		return "union range (||) is not rewritten";
	if (strstr(spec, " - "))
		return "hyphen range is not rewritten";
	if (strpbrk(spec, "*xX"))
		return "wildcard range (x, *) is not rewritten";
	return "range form is not rewritten";
}

/* Whether reason came from pl_range_reason: the spec is a valid range. */
static bool pl_range_reason_is(const char *reason)
{
	static const char *const why[] = {
		"empty spec (any version): left as written",
		"* (any version) is never rewritten",
		"union range (||) is not rewritten",
		"hyphen range is not rewritten",
		"wildcard range (x, *) is not rewritten",
		"range form is not rewritten",
	};

	for (size_t i = 0; i < AL_ARRAY_LEN(why); i++)
		if (!strcmp(reason, why[i]))
			return true;
	return false;
}

/* A range spec (no protocol): NULL when rewritable, else why not. */
static const char *pl_classify_range(const char *spec, const char **op,
				     char *floor, size_t floorsz)
{
	struct npm_range r;

	if (pl_simple(spec, op, floor, floorsz))
		return NULL;
	if (npm_range_parse(spec, 0, &r) == 0) {
		npm_range_free(&r);
		return pl_range_reason(spec);
	}
	if (npm_range_parse(spec, NPM_SEMVER_LOOSE, &r) == 0) {
		npm_range_free(&r);
		return "loose range is not rewritten";
	}
	/* npm reads a name-like spec that is no range as a dist-tag. */
	if (spec[0] && strspn(spec, "abcdefghijklmnopqrstuvwxyz"
			       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") ==
			       strlen(spec))
		return "dist-tag (follows the registry's tag, not a range)";
	return "unrecognised specifier";
}

int npm_spec_alias(const char *spec, char *name, size_t namesz,
		   size_t *range_off)
{
	const char *t, *at;
	size_t n;

	if (!pl_prefix(spec, "npm:"))
		return AL_E_NOTFOUND;
	t = spec + 4;
	/* A scoped target (@scope/name) has its own '@' first. */
	at = strchr(t[0] == '@' ? t + 1 : t, '@');
	n = at ? (size_t)(at - t) : strlen(t);
	if (n == 0 || n >= namesz || memchr(t, ' ', n) || memchr(t, ':', n) ||
	    (t[0] == '@' && !memchr(t, '/', n)))
		return AL_E_PARSE;
	memcpy(name, t, n);
	name[n] = '\0';
	*range_off = at ? (size_t)(at + 1 - spec) : strlen(spec);
	return 0;
}

const char *npm_spec_classify(const char *spec, const char **op,
			      char *floor, size_t floorsz)
{
	char target[256];
	const char *why;
	size_t off;
	int rc = npm_spec_alias(spec, target, sizeof(target), &off);

	if (rc == AL_E_PARSE)
		return "npm: alias without a valid package name";
	if (rc == 0) {
		if (!spec[off])
			return "npm: alias without a range (any version)";
		if (pl_prefix(spec + off, "npm:"))
			return "nested npm: alias";
		why = pl_protocol(spec + off);
		return why ? why : pl_classify_range(spec + off, op, floor,
						     floorsz);
	}
	why = pl_protocol(spec);
	return why ? why : pl_classify_range(spec, op, floor, floorsz);
}

/* The registry name to ask about d: the alias target, else the key. */
static const char *pl_lookup_name(const struct npm_dep *d, char *buf,
				  size_t bufsz)
{
	size_t off;

	return npm_spec_alias(d->spec, buf, bufsz, &off) == 0 ? buf
							       : d->name;
}

static bool pl_allowed(const struct npm_version *floor,
		       const struct npm_version *v, enum npm_policy policy)
{
	if (policy == NPM_POLICY_MAJOR)
		return true;
	if (v->major != floor->major)
		return false;
	return policy == NPM_POLICY_MINOR || v->minor == floor->minor;
}

static enum npm_bump pl_bump(const struct npm_version *a,
			     const struct npm_version *b)
{
	if (a->major != b->major)
		return NPM_BUMP_MAJOR;
	if (a->minor != b->minor)
		return NPM_BUMP_MINOR;
	return NPM_BUMP_PATCH;
}

/*
 * What the planning of every file shares: the clock, the cooldowns as
 * the newest publish time each admits (0: none), and what a candidate's
 * engines.node is held against.
 */
struct pl_env {
	int64_t now_ms;
	int64_t conf_cutoff;  /* airlock.conf min_release_age */
	int64_t rc_cutoff;    /* the .npmrc's */
	const struct npm_npmrc *npmrc;
	const struct npm_rules *r;
	bool have_proj, have_node, node_pending;
	char node_text[32];
	const char *proj_text;
	struct npm_range proj; /* the root package.json's engines.node */
	struct npm_version node;
};

/* Why engines.node drops a version, if it does. */
enum pl_eng { PL_ENG_OK, PL_ENG_INVALID, PL_ENG_PROJECT, PL_ENG_NODE,
	      PL_ENG_N };

/* What one file's planning needs besides its dependency. */
struct pl_ctx {
	const struct npm_manifest *m;
	const char *file;
	const char *dir;
	const struct npm_lock *lock;     /* NULL without a lockfile */
	const char *const *members;      /* workspace member names */
	size_t nmembers;
	const struct npm_rules *r;
	struct pl_env *env;
};

/*
 * A target and, for the plan's reasons, the newest version each rule
 * passed over (valid where its pointer is set).
 */
struct pl_pick {
	bool found;
	struct npm_version best;
	const struct npm_pkg_version *bv;
	struct npm_version held_policy, held_age, held_pre;
	const struct npm_pkg_version *hp_policy, *hp_age, *hp_pre;
	struct npm_version held_eng[PL_ENG_N]; /* by enum pl_eng */
	const struct npm_pkg_version *hp_eng[PL_ENG_N];
};

/* Which cooldown a version is under. */
enum pl_cool { PL_COOL_NONE, PL_COOL_CONF, PL_COOL_NPMRC };

/*
 * The cooldown that holds pv back (released after its cutoff, or at an
 * unknown time), or PL_COOL_NONE. Of two cooldowns the stricter (the
 * earlier cutoff) decides; on a tie airlock.conf is named.
 */
static enum pl_cool pl_young(const struct pl_ctx *c,
			     const struct npm_pkg_version *pv)
{
	const struct pl_env *e = c->env;
	enum pl_cool who = PL_COOL_CONF;
	int64_t cut = e->conf_cutoff;

	if (e->rc_cutoff && (!cut || e->rc_cutoff < cut)) {
		cut = e->rc_cutoff;
		who = PL_COOL_NPMRC;
	}
	if (!cut || (pv->published_ms > 0 && pv->published_ms <= cut))
		return PL_COOL_NONE;
	return who;
}

/* Whether npm itself refuses pv under the .npmrc's cooldown. */
static bool pl_rc_young(const struct pl_ctx *c,
			const struct npm_pkg_version *pv)
{
	int64_t cut = c->env->rc_cutoff;

	return cut && (pv->published_ms <= 0 || pv->published_ms > cut);
}

/*
 * Whether pv can be a target by its engines.node (plan.h), and if not
 * why, into why; with node_only, only the Node that runs the tests is
 * asked (npm's own preference when it picks a version).
 */
static enum pl_eng pl_engines_of(const struct pl_ctx *c,
				 const struct npm_pkg_version *pv,
				 bool node_only, char *why, size_t whysz)
{
	struct pl_env *e = c->env;
	bool proj = e->have_proj && !node_only;
	enum pl_eng res = PL_ENG_OK;
	struct npm_range r;

	/* The Node is asked for only when a candidate names engines. */
	if (e->node_pending && (pv->engines_node || pv->engines_bad)) {
		e->node_pending = false;
		e->r->node_probe(e->r->node_ctx, e->node_text,
				 sizeof(e->node_text));
		e->have_node = npm_version_parse(e->node_text, 0,
						 &e->node) == 0;
	}
	if ((!proj && !e->have_node) ||
	    (!pv->engines_node && !pv->engines_bad))
		return PL_ENG_OK;
	if (pv->engines_bad || npm_range_parse(pv->engines_node,
					       NPM_SEMVER_INCLUDE_PRERELEASE,
					       &r)) {
		snprintf(why, whysz, "%s dropped: its engines.node is no valid "
			 "range", pv->version);
		return PL_ENG_INVALID;
	}
	if (proj && !npm_range_intersects(&r, &e->proj)) {
		snprintf(why, whysz, "%s dropped: its engines.node \"%.80s\" "
			 "cannot meet the project's engines.node \"%.80s\"",
			 pv->version, pv->engines_node, e->proj_text);
		res = PL_ENG_PROJECT;
	} else if (e->have_node && !npm_range_satisfies(&r, &e->node)) {
		snprintf(why, whysz, "%s dropped: its engines.node \"%.80s\" "
			 "excludes Node %s, which runs the tests",
			 pv->version, pv->engines_node, e->node_text);
		res = PL_ENG_NODE;
	}
	npm_range_free(&r);
	return res;
}

static enum pl_eng pl_engines(const struct pl_ctx *c,
			      const struct npm_pkg_version *pv, char *why,
			      size_t whysz)
{
	return pl_engines_of(c, pv, false, why, whysz);
}

static void pl_hold(struct npm_version *h, const struct npm_pkg_version **hp,
		    const struct npm_version *v,
		    const struct npm_pkg_version *pv)
{
	if (!*hp || npm_version_cmp(v, h) > 0) {
		*h = *v;
		*hp = pv;
	}
}

/* A prerelease may be a target with prereleases = on, or on the floor's
 * own major.minor.patch when the floor is one (npm's rule for ranges). */
static bool pl_pre_ok(const struct pl_ctx *c, const struct npm_version *floor,
		      const struct npm_version *v)
{
	return c->r->prereleases ||
	       (floor->pre[0] && v->major == floor->major &&
		v->minor == floor->minor && v->patch == floor->patch);
}

/*
 * The target for floor (plan.h): the newest version above floor that is
 * not deprecated, not above dist-tags.latest (unless it is a prerelease
 * that may be taken), within limit, and old enough.
 */
static void pl_target(const struct pl_ctx *c, const struct npm_packument *pk,
		      const struct npm_version *floor, enum npm_policy limit,
		      struct pl_pick *o)
{
	const char *tag = npm_packument_tag(pk, "latest");
	struct npm_version latest, v;
	bool have_latest = tag && npm_version_parse(tag, 0, &latest) == 0;
	enum pl_eng ek;
	char why[320];

	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < pk->nversions; i++) {
		const struct npm_pkg_version *pv = &pk->versions[i];

		if (pv->deprecated || npm_version_parse(pv->version, 0, &v) ||
		    npm_version_cmp(&v, floor) <= 0)
			continue;
		if (v.pre[0] && !pl_pre_ok(c, floor, &v)) {
			pl_hold(&o->held_pre, &o->hp_pre, &v, pv);
			continue;
		}
		if (have_latest && !v.pre[0] && npm_version_cmp(&v, &latest) > 0)
			continue;
		if (!pl_allowed(floor, &v, limit)) {
			pl_hold(&o->held_policy, &o->hp_policy, &v, pv);
			continue;
		}
		if (pl_young(c, pv)) {
			pl_hold(&o->held_age, &o->hp_age, &v, pv);
			continue;
		}
		if (o->found && npm_version_cmp(&v, &o->best) <= 0)
			continue;
		ek = pl_engines(c, pv, why, sizeof(why));
		if (ek != PL_ENG_OK) {
			pl_hold(&o->held_eng[ek], &o->hp_eng[ek], &v, pv);
			continue;
		}
		if (!o->found || npm_version_cmp(&v, &o->best) > 0) {
			o->best = v;
			o->bv = pv;
			o->found = true;
		}
	}
}

/*
 * "1.2.3 held back: released 2 days ago, min_release_age = 7", or the
 * .npmrc's setting that holds it. Returns the rule to name.
 */
static const char *pl_age_reason(const struct pl_ctx *c,
				 const struct npm_pkg_version *pv, char *why,
				 size_t whysz)
{
	const struct npm_npmrc *rc = c->env->npmrc;
	int64_t days = (c->env->now_ms - pv->published_ms) / 86400000;
	char set[96];

	if (pl_young(c, pv) == PL_COOL_CONF)
		snprintf(set, sizeof(set), "min_release_age = %u",
			 c->r->min_release_age);
	else if (rc->before_ms)
		snprintf(set, sizeof(set), ".npmrc before = %s", rc->before);
	else
		snprintf(set, sizeof(set), ".npmrc min-release-age = %s",
			 rc->age);
	if (pv->published_ms <= 0)
		snprintf(why, whysz, "%s held back: the registry gave no "
			 "release time, %s", pv->version, set);
	else if (pl_young(c, pv) == PL_COOL_NPMRC && rc->before_ms)
		snprintf(why, whysz, "%s held back: released after %s",
			 pv->version, set);
	else
		snprintf(why, whysz, "%s held back: released %lld day%s ago, "
			 "%s", pv->version, (long long)(days < 0 ? 0 : days),
			 days == 1 ? "" : "s", set);
	return pl_young(c, pv) == PL_COOL_CONF ? "min_release_age" : ".npmrc";
}

static int pl_skip_rule(struct npm_plan *p, const struct pl_ctx *c,
			const struct npm_dep *d, const char *reason,
			const char *rule)
{
	struct npm_skip *s;
	void *n = realloc(p->skips, (p->nskips + 1) * sizeof(*p->skips));

	if (!n)
		return -ENOMEM;
	p->skips = n;
	s = &p->skips[p->nskips];
	memset(s, 0, sizeof(*s));
	p->nskips++;
	s->section = d->section;
	s->file = strdup(c->file);
	s->path = d->path ? strdup(d->path) : NULL;
	s->name = strdup(d->name);
	s->spec = strdup(d->spec);
	s->reason = strdup(reason);
	s->rule = rule;
	return s->file && s->name && s->spec && s->reason &&
			       (!d->path || s->path)
		       ? 0
		       : -ENOMEM;
}

static int pl_skip(struct npm_plan *p, const struct pl_ctx *c,
		   const struct npm_dep *d, const char *reason)
{
	return pl_skip_rule(p, c, d, reason, NULL);
}

/*
 * What the rules say about a pick, for versions newer than what is taken
 * (or than floor when nothing is): held back by a cooldown, dropped by
 * engines.node, a prerelease not taken. One skip each.
 */
static int pl_report(struct npm_plan *p, const struct pl_ctx *c,
		     const struct npm_dep *d, const struct pl_pick *k,
		     const struct npm_version *floor)
{
	const struct npm_version *top = k->found ? &k->best : floor;
	char why[320];
	int rc = 0;

	if (k->hp_age && npm_version_cmp(&k->held_age, top) > 0) {
		const char *rule = pl_age_reason(c, k->hp_age, why,
						 sizeof(why));

		rc = pl_skip_rule(p, c, d, why, rule);
	}
	/* One skip for each reason engines.node dropped a version. */
	for (int e = PL_ENG_INVALID; rc == 0 && e < PL_ENG_N; e++)
		if (k->hp_eng[e] && npm_version_cmp(&k->held_eng[e], top) > 0 &&
		    pl_engines(c, k->hp_eng[e], why, sizeof(why)))
			rc = pl_skip_rule(p, c, d, why, "engines");
	if (rc == 0 && k->hp_pre && npm_version_cmp(&k->held_pre, top) > 0) {
		snprintf(why, sizeof(why), "prerelease %s not taken: "
			 "prereleases = off", k->hp_pre->version);
		rc = pl_skip_rule(p, c, d, why, "prereleases");
	}
	return rc;
}

/* The group an update of lookup with this bump belongs to. */
static char *pl_group(const struct pl_ctx *c, enum npm_bump bump,
		      const char *lookup)
{
	struct al_buf b = { 0 };

	switch (c->r->group) {
	case NPM_GROUP_NON_MAJOR:
		if (bump != NPM_BUMP_MAJOR)
			return strdup("non-major");
		return al_buf_printf(&b, "major:%s", lookup) ? NULL : b.p;
	case NPM_GROUP_NONE:
		return strdup(lookup);
	default:
		return strdup("all");
	}
}

/* allowScripts pins a version ("name@1.2.3"): name it in the update so
 * the reviewer moves the pin with the dependency (edge case 31). */
static char *pl_pin_note(const struct pl_ctx *c, const char *name,
			 const char *version)
{
	size_t n = strlen(name);
	struct al_buf b = { 0 };

	for (size_t i = 0; i < c->m->nallow_scripts; i++) {
		const char *k = c->m->allow_scripts[i];

		if (strncmp(k, name, n) || k[n] != '@' || !strcmp(k + n + 1,
								   version))
			continue;
		if (al_buf_printf(&b, "%sallowScripts pins %s: move the pin "
				  "to %s@%s", b.len ? "; " : "", k, name,
				  version))
			break;
	}
	return b.p;
}

static int pl_add(struct npm_plan *p, const struct pl_ctx *c,
		  const struct npm_dep *d, enum npm_update_kind kind,
		  char *to, const struct npm_version *from,
		  const struct npm_version *ver,
		  const struct npm_pkg_version *pv, const char *locked,
		  const char *lookup)
{
	char vs[NPM_SEMVER_MAX_LEN + 64];
	struct npm_update *u;
	void *n = realloc(p->updates, (p->nupdates + 1) * sizeof(*p->updates));

	if (!n || npm_version_format(ver, vs, sizeof(vs)) < 0) {
		free(to);
		return -ENOMEM;
	}
	p->updates = n;
	u = &p->updates[p->nupdates++];
	memset(u, 0, sizeof(*u));
	u->section = d->section;
	u->kind = kind;
	u->file = strdup(c->file);
	u->path = d->path ? strdup(d->path) : NULL;
	u->locked = locked ? strdup(locked) : NULL;
	u->note = pl_pin_note(c, lookup, vs);
	u->name = strdup(d->name);
	u->from = strdup(d->spec);
	u->to = to;
	u->version = strdup(vs);
	u->bump = pl_bump(from, ver);
	u->has_install_scripts = pv->has_install_scripts;
	u->group = pl_group(c, u->bump, lookup);
	return u->file && u->name && u->from && u->to && u->version &&
			       u->group &&
			       (!d->path || u->path) && (!locked || u->locked)
		       ? 0
		       : -ENOMEM;
}

static int pl_update(struct npm_plan *p, const struct pl_ctx *c,
		     const struct npm_dep *d, const char *op,
		     const struct npm_version *floor,
		     const struct npm_version *to,
		     const struct npm_pkg_version *pv, const char *locked,
		     const char *lookup)
{
	char ver[NPM_SEMVER_MAX_LEN + 64];
	struct al_buf spec = { 0 };
	size_t off = 0;
	char target[256];

	/* An alias keeps its "npm:name@" prefix; only the range changes. */
	if (npm_spec_alias(d->spec, target, sizeof(target), &off) != 0)
		off = 0;
	if (npm_version_format(to, ver, sizeof(ver)) < 0 ||
	    al_buf_printf(&spec, "%.*s%s%s", (int)off, d->spec, op, ver)) {
		al_buf_free(&spec);
		return -ENOMEM;
	}
	return pl_add(p, c, d, NPM_KIND_RANGE, spec.p, floor, to, pv, locked,
		      lookup);
}

static const struct npm_packument *pl_find(const struct npm_packument *pk,
					   size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (pk[i].name && !strcmp(pk[i].name, name))
			return &pk[i];
	return NULL;
}

/*
 * The version npm itself would pick for range (its "wanted"): latest
 * when that is a release in range, else the highest release in range
 * that is not deprecated. With c, as npm picks it in the sandbox: among
 * the versions the .npmrc's cooldown admits, and preferring those whose
 * engines.node admits the Node there. 1 when there is one.
 */
static int pl_wanted(const struct pl_ctx *c, const struct npm_packument *pk,
		     const struct npm_range *r, struct npm_version *out,
		     const struct npm_pkg_version **opv)
{
	const char *tag = npm_packument_tag(pk, "latest");
	const struct npm_pkg_version *lv = tag ? npm_packument_version(pk, tag)
					       : NULL;
	bool node = c && (c->env->have_node || c->env->node_pending);
	struct npm_version v;
	char why[320];
	bool found = false;

	if (lv && !lv->deprecated && npm_version_parse(tag, 0, &v) == 0 &&
	    !v.pre[0] && npm_range_satisfies(r, &v) &&
	    !(c && pl_rc_young(c, lv)) &&
	    !(node && pl_engines_of(c, lv, true, why, sizeof(why)))) {
		*out = v;
		*opv = lv;
		return 1;
	}
	for (int pass = node ? 0 : 1; pass < 2 && !found; pass++) {
		for (size_t i = 0; i < pk->nversions; i++) {
			const struct npm_pkg_version *pv = &pk->versions[i];

			if (pv->deprecated ||
			    npm_version_parse(pv->version, 0, &v) != 0 ||
			    v.pre[0] || !npm_range_satisfies(r, &v) ||
			    (c && pl_rc_young(c, pv)) ||
			    (found && npm_version_cmp(&v, out) <= 0) ||
			    (pass == 0 &&
			     pl_engines_of(c, pv, true, why, sizeof(why))))
				continue;
			*out = v;
			*opv = pv;
			found = true;
		}
	}
	return found;
}

static bool pl_listed(const char *const *list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], name))
			return true;
	return false;
}

/* The range part of a spec: after "npm:name@" for an alias. */
static const char *pl_range_part(const char *spec)
{
	char target[256];
	size_t off;

	return npm_spec_alias(spec, target, sizeof(target), &off) == 0
		       ? spec + off
		       : spec;
}

/*
 * A newer in-range version than the locked one: a lockfile-only update
 * (edge cases 17, 18). It is the version npm itself moves to (under the
 * .npmrc's cooldown, as npm applies it), so it is proposed only when the
 * rules allow that version; otherwise the skip says which rule held it.
 * *done is set when either was added.
 */
static int pl_lockonly(struct npm_plan *p, const struct pl_ctx *c,
		       const struct npm_dep *d,
		       const struct npm_packument *k,
		       const struct npm_range *r, const char *locked,
		       const char *lookup, bool *done)
{
	const struct npm_pkg_version *pv = NULL;
	struct npm_version lv, want;
	char why[320];

	*done = false;
	if (npm_version_parse(locked, NPM_SEMVER_LOOSE, &lv) != 0 ||
	    !pl_wanted(c, k, r, &want, &pv) || npm_version_cmp(&want, &lv) <= 0)
		return 0;
	*done = true;
	if (!pl_allowed(&lv, &want, c->r->policy)) {
		snprintf(why, sizeof(why), "newer in-range version not "
			 "allowed by policy %s (locked %s)",
			 npm_policy_name(c->r->policy), locked);
		return pl_skip_rule(p, c, d, why, "policy");
	}
	if (pl_young(c, pv)) {
		const char *rule = pl_age_reason(c, pv, why, sizeof(why));

		return pl_skip_rule(p, c, d, why, rule);
	}
	if (pl_engines(c, pv, why, sizeof(why)))
		return pl_skip_rule(p, c, d, why, "engines");
	char *to = strdup(d->spec);
	if (!to)
		return -ENOMEM;
	return pl_add(p, c, d, NPM_KIND_LOCKFILE, to, &lv, &want, pv, locked,
		      lookup);
}

/* The smallest caret range admitting v: ^M.0.0, ^0.m.0 or ^0.0.p. */
static int pl_caret(const struct npm_version *v, struct al_buf *b)
{
	if (v->major)
		return al_buf_printf(b, "^%llu.0.0",
				     (unsigned long long)v->major);
	if (v->minor)
		return al_buf_printf(b, "^0.%llu.0",
				     (unsigned long long)v->minor);
	return al_buf_printf(b, "^0.0.%llu", (unsigned long long)v->patch);
}

/* spec || ^best: support for best is added, none is dropped. */
static int pl_widen(struct npm_plan *p, const struct pl_ctx *c,
		    const struct npm_dep *d, const struct npm_version *floor,
		    const struct pl_pick *k, const char *locked,
		    const char *lookup)
{
	struct al_buf to = { 0 };

	if (al_buf_printf(&to, "%s || ", d->spec) || pl_caret(&k->best, &to)) {
		al_buf_free(&to);
		return -ENOMEM;
	}
	return pl_add(p, c, d, NPM_KIND_WIDEN, to.p, floor, &k->best, k->bv,
		      locked, lookup);
}

/* "newer version not allowed by policy minor" when that is all. */
static int pl_policy_skip(struct npm_plan *p, const struct pl_ctx *c,
			  const struct npm_dep *d)
{
	char why[256];

	snprintf(why, sizeof(why), "newer version not allowed by policy %s",
		 npm_policy_name(c->r->policy));
	return pl_skip_rule(p, c, d, why, "policy");
}

/*
 * A peer range is widened, never replaced, whatever range_strategy says:
 * a plugin that supports host 1.x keeps supporting it when 2.x is added
 * ("^1.0.0" -> "^1.0.0 || ^2.0.0"). The floor is the newest release the
 * range admits.
 */
static int pl_peer(struct npm_plan *p, const struct pl_ctx *c,
		   const struct npm_dep *d, const struct npm_packument *k,
		   const struct npm_range *r, const char *lookup)
{
	const struct npm_pkg_version *fv = NULL;
	struct npm_version floor;
	struct pl_pick pick;
	int rc = 0;

	if (!pl_wanted(NULL, k, r, &floor, &fv))
		return pl_skip(p, c, d, "no published release satisfies the "
			       "peer range");
	pl_target(c, k, &floor, c->r->policy, &pick);
	if (!pick.found && pick.hp_policy)
		rc = pl_policy_skip(p, c, d);
	if (rc == 0 && pick.found && !npm_range_satisfies(r, &pick.best))
		rc = pl_widen(p, c, d, &floor, &pick, NULL, lookup);
	return rc ? rc : pl_report(p, c, d, &pick, &floor);
}

/* A dependency that is a valid (strict) range: *r filled, true. */
static bool pl_range(const char *spec, struct npm_range *r)
{
	const char *t = spec + strspn(spec, " \t");

	return *t && strcmp(t, "*") && npm_range_parse(spec, 0, r) == 0;
}

/* The registry's answer for d, or a skip (and NULL) when it has none. */
static const struct npm_packument *
pl_answer(struct npm_plan *p, const struct pl_ctx *c,
	  const struct npm_dep *d, const struct npm_packument *pk,
	  size_t npk, const char *lookup, int *rc)
{
	const struct npm_packument *k = pl_find(pk, npk, lookup);
	char why[256];

	*rc = 0;
	if (!k) {
		p->nregistry_errors++;
		*rc = pl_skip(p, c, d, "no registry answer");
		return NULL;
	}
	if (k->err == AL_E_NOTFOUND) {
		*rc = pl_skip(p, c, d, "package not found in the registry");
		return NULL;
	}
	if (k->err) {
		p->nregistry_errors++;
		p->nregistry_unavailable += k->err == AL_E_UNAVAILABLE;
		snprintf(why, sizeof(why), "registry error: %s", k->errmsg);
		*rc = pl_skip(p, c, d, why);
		return NULL;
	}
	return k;
}

/* The glob of list ("a,b") that name matches, into g; false if none. */
static bool pl_glob(const char *list, const char *name, char *g, size_t gsz)
{
	for (const char *s = list; *s;) {
		size_t n = strcspn(s, ",");

		if (n < gsz) {
			memcpy(g, s, n);
			g[n] = '\0';
			if (fnmatch(g, name, 0) == 0)
				return true;
		}
		s += n + (s[n] == ',');
	}
	return false;
}

/*
 * Why d is not planned before its spec is even read, or NULL if it is;
 * reasons of the allow and ignore rules are written into buf and name
 * their rule in *rule. Both the key and the registry name are matched.
 */
static const char *pl_pre_skip(const struct pl_ctx *c,
			       const struct npm_dep *d, const char *lookup,
			       char *buf, size_t bufsz, const char **rule)
{
	char g[NPM_RULES_LIST_MAX];
	const char *ign = c->r->ignore, *allow = c->r->allow;

	*rule = NULL;
	if (d->section == NPM_SEC_OVERRIDES && d->spec[0] == '$')
		return "$reference to the project's own spec: follows it";
	if (pl_listed(c->members, c->nmembers, lookup))
		return "workspace member: not a registry package";
	if ((c->m->bundle_all || pl_listed((const char *const *)c->m->bundled,
					   c->m->nbundled, d->name)) &&
	    d->section != NPM_SEC_OVERRIDES)
		return "bundled (bundleDependencies): updated only with the "
		       "package that bundles it";
	if (ign[0] && (pl_glob(ign, lookup, g, sizeof(g)) ||
		       pl_glob(ign, d->name, g, sizeof(g)))) {
		*rule = "ignore";
		snprintf(buf, bufsz, "ignored by ignore = %s", g);
		return buf;
	}
	if (allow[0] && !pl_glob(allow, lookup, g, sizeof(g)) &&
	    !pl_glob(allow, d->name, g, sizeof(g))) {
		*rule = "allow";
		snprintf(buf, bufsz, "not matched by allow = %.200s%s", allow,
			 strlen(allow) > 200 ? "..." : "");
		return buf;
	}
	return NULL;
}

/* Whether the lockfile is asked about d: sections npm installs. */
static const char *pl_locked(const struct pl_ctx *c, const struct npm_dep *d)
{
	if (!c->lock || d->section == NPM_SEC_PEER ||
	    d->section == NPM_SEC_OVERRIDES)
		return NULL;
	return npm_lock_version_of(c->lock, c->dir, d->name);
}

/* range_strategy as it applies here: auto is replace with a lock. */
static enum npm_strategy pl_strategy(const struct pl_ctx *c,
				     const char *locked)
{
	if (c->r->strategy != NPM_STRATEGY_AUTO)
		return c->r->strategy;
	return locked ? NPM_STRATEGY_REPLACE : NPM_STRATEGY_BUMP;
}

/*
 * One target of a simple spec, by the range strategy. *in_range is set
 * (and nothing added) when the strategy leaves a range that already
 * admits the target.
 */
static int pl_emit(struct npm_plan *p, const struct pl_ctx *c,
		   const struct npm_dep *d, const struct npm_range *r,
		   const char *op, const struct npm_version *floor,
		   const struct pl_pick *k, const char *locked,
		   const char *lookup, bool *in_range)
{
	enum npm_strategy s = pl_strategy(c, locked);

	if (s == NPM_STRATEGY_BUMP || s == NPM_STRATEGY_PIN)
		return pl_update(p, c, d, s == NPM_STRATEGY_PIN ? "" : op,
				 floor, &k->best, k->bv, locked, lookup);
	if (npm_range_satisfies(r, &k->best)) {
		*in_range = true;
		return 0;
	}
	if (s == NPM_STRATEGY_WIDEN)
		return pl_widen(p, c, d, floor, k, locked, lookup);
	return pl_update(p, c, d, op, floor, &k->best, k->bv, locked, lookup);
}

/*
 * A simple spec (op floor). With group = non-major, a package whose
 * target is a new major also gets its best non-major target, each in
 * its own group.
 */
static int pl_simple_dep(struct npm_plan *p, const struct pl_ctx *c,
			 const struct npm_dep *d,
			 const struct npm_packument *k,
			 const struct npm_range *r, const char *op,
			 const struct npm_version *floor, const char *locked,
			 const char *lookup)
{
	struct pl_pick full, nm;
	char why[320];
	bool in_range = false, done = false;
	int rc = 0;

	pl_target(c, k, floor, c->r->policy, &full);
	if (full.found && c->r->group == NPM_GROUP_NON_MAJOR &&
	    pl_bump(floor, &full.best) == NPM_BUMP_MAJOR) {
		pl_target(c, k, floor, NPM_POLICY_MINOR, &nm);
		if (nm.found)
			rc = pl_emit(p, c, d, r, op, floor, &nm, locked, lookup,
				     &in_range);
	}
	if (rc == 0 && full.found)
		rc = pl_emit(p, c, d, r, op, floor, &full, locked, lookup,
			     &in_range);
	if (rc == 0 && locked && (in_range || !full.found))
		rc = pl_lockonly(p, c, d, k, r, locked, lookup, &done);
	if (rc == 0 && in_range && !locked) {
		snprintf(why, sizeof(why), "%s is within %s: range_strategy = "
			 "%s changes only ranges it falls outside of (no "
			 "lockfile to move)", full.bv->version, d->spec,
			 npm_strategy_name(c->r->strategy));
		rc = pl_skip_rule(p, c, d, why, "range_strategy");
	}
	if (rc == 0 && !full.found && !done && full.hp_policy)
		rc = pl_policy_skip(p, c, d);
	return rc ? rc : pl_report(p, c, d, &full, floor);
}

/*
 * A valid range that is not a simple spec (x-range, union, hyphen): with
 * range_strategy pin or widen, a target outside it is written exactly or
 * added with "|| ^NEW"; otherwise only a lockfile can move, else the
 * spec is skipped with why.
 */
static int pl_complex_dep(struct npm_plan *p, const struct pl_ctx *c,
			  const struct npm_dep *d,
			  const struct npm_packument *k,
			  const struct npm_range *r, const char *locked,
			  const char *lookup, const char *why)
{
	enum npm_strategy s = c->r->strategy;
	const struct npm_pkg_version *fv = NULL;
	struct npm_version floor;
	struct pl_pick pick;
	bool done = false;
	int rc;

	if ((s == NPM_STRATEGY_PIN || s == NPM_STRATEGY_WIDEN) &&
	    pl_wanted(NULL, k, r, &floor, &fv)) {
		pl_target(c, k, &floor, c->r->policy, &pick);
		if (pick.found && !npm_range_satisfies(r, &pick.best)) {
			rc = s == NPM_STRATEGY_PIN
				     ? pl_update(p, c, d, "", &floor,
						 &pick.best, pick.bv, locked,
						 lookup)
				     : pl_widen(p, c, d, &floor, &pick, locked,
						lookup);
			return rc ? rc : pl_report(p, c, d, &pick, &floor);
		}
	}
	if (locked) {
		rc = pl_lockonly(p, c, d, k, r, locked, lookup, &done);
		if (rc || done)
			return rc;
	}
	return pl_skip(p, c, d, why);
}

/* One dependency: updates, skips, or nothing (already current). */
static int pl_dep(struct npm_plan *p, const struct pl_ctx *c,
		  const struct npm_dep *d, const struct npm_packument *pk,
		  size_t npk)
{
	char floor_s[NPM_SEMVER_MAX_LEN + 64], target[256], buf[320];
	const struct npm_packument *k;
	struct npm_version floor;
	struct npm_range r;
	const char *op = "", *reason, *rule, *locked = pl_locked(c, d);
	const char *lookup = pl_lookup_name(d, target, sizeof(target));
	const char *part = pl_range_part(d->spec);
	enum npm_strategy s = c->r->strategy;
	size_t before = p->nupdates + p->nskips;
	bool have_r = false;
	int rc = 0;

	reason = pl_pre_skip(c, d, lookup, buf, sizeof(buf), &rule);
	if (reason)
		return pl_skip_rule(p, c, d, reason, rule);
	reason = npm_spec_classify(d->spec, &op, floor_s, sizeof(floor_s));
	/* A simple spec, a peer range, a locked range of any form, or any
	 * range under pin or widen can move. */
	if (!reason)
		have_r = pl_range(part, &r);
	else if (pl_range_reason_is(reason) && d->section != NPM_SEC_PEER &&
		 locked)
		have_r = npm_range_parse(part, 0, &r) == 0;
	else if (pl_range_reason_is(reason) &&
		 (d->section == NPM_SEC_PEER || s == NPM_STRATEGY_PIN ||
		  s == NPM_STRATEGY_WIDEN))
		have_r = pl_range(part, &r);
	if (!have_r)
		return pl_skip(p, c, d, reason ? reason
					       : "range form is not rewritten");
	k = pl_answer(p, c, d, pk, npk, lookup, &rc);
	if (k && d->section == NPM_SEC_PEER)
		rc = pl_peer(p, c, d, k, &r, lookup);
	else if (k && reason)
		rc = pl_complex_dep(p, c, d, k, &r, locked, lookup, reason);
	else if (k && npm_version_parse(floor_s, 0, &floor) == 0)
		rc = pl_simple_dep(p, c, d, k, &r, op, &floor, locked, lookup);
	npm_range_free(&r);
	/* Nothing newer: current, unless the registry named no latest. */
	if (rc || !k || reason || d->section == NPM_SEC_PEER ||
	    p->nupdates + p->nskips != before)
		return rc;
	const char *tag = npm_packument_tag(k, "latest");
	struct npm_version lv;
	if (!tag || npm_version_parse(tag, 0, &lv) != 0) {
		p->nregistry_errors++;
		return pl_skip(p, c, d, "the registry gave no valid latest "
			       "version");
	}
	return 0;
}

void npm_plan_free(struct npm_plan *plan)
{
	if (!plan)
		return;
	for (size_t i = 0; i < plan->nupdates; i++) {
		free(plan->updates[i].file);
		free(plan->updates[i].path);
		free(plan->updates[i].locked);
		free(plan->updates[i].note);
		free(plan->updates[i].name);
		free(plan->updates[i].from);
		free(plan->updates[i].to);
		free(plan->updates[i].version);
		free(plan->updates[i].group);
	}
	for (size_t i = 0; i < plan->nskips; i++) {
		free(plan->skips[i].file);
		free(plan->skips[i].path);
		free(plan->skips[i].name);
		free(plan->skips[i].spec);
		free(plan->skips[i].reason);
	}
	free(plan->updates);
	free(plan->skips);
	memset(plan, 0, sizeof(*plan));
}

/* Append one file's updates and skips to plan. */
static int pl_file(const struct pl_ctx *c, const struct npm_packument *pk,
		   size_t npk, struct npm_plan *plan)
{
	int rc = 0;

	for (size_t i = 0; !rc && i < c->m->ndeps; i++)
		rc = pl_dep(plan, c, &c->m->deps[i], pk, npk);
	return rc;
}

static int64_t pl_now(const struct npm_rules *r)
{
	return r->now_ms ? r->now_ms : al_wall_ms();
}

/*
 * The shared part of planning under r with npmrc and the project's
 * engines.node text (NULL: none). Returns 0, 1 when engines is no valid
 * range (then not checked), -ENOMEM. Free with pl_env_free.
 */
static int pl_env_init(struct pl_env *e, const struct npm_rules *r,
		       const struct npm_npmrc *npmrc, const char *engines)
{
	int rc = 0;

	memset(e, 0, sizeof(*e));
	e->now_ms = pl_now(r);
	e->npmrc = npmrc;
	if (r->min_release_age)
		e->conf_cutoff = e->now_ms -
				 (int64_t)r->min_release_age * 86400000;
	e->rc_cutoff = npm_npmrc_cutoff(npmrc, e->now_ms);
	e->r = r;
	al_strlcpy(e->node_text, r->node, sizeof(e->node_text));
	e->have_node = r->node[0] &&
		       npm_version_parse(r->node, 0, &e->node) == 0;
	e->node_pending = !r->node[0] && r->node_probe;
	if (engines && *engines) {
		rc = npm_range_parse(engines, NPM_SEMVER_INCLUDE_PRERELEASE,
				     &e->proj);
		e->have_proj = rc == 0;
		e->proj_text = engines;
		rc = rc == -ENOMEM ? rc : rc ? 1 : 0;
	}
	return rc;
}

/* The Node the plan held candidates against, into plan->node. */
static void pl_env_node(const struct pl_env *e, struct npm_plan *plan)
{
	if (e->have_node)
		al_strlcpy(plan->node, e->node_text, sizeof(plan->node));
}

static void pl_env_free(struct pl_env *e)
{
	if (e->have_proj)
		npm_range_free(&e->proj);
	e->have_proj = false;
}

int npm_plan_build_file(const struct npm_manifest *m, const char *file,
			const char *dir, const struct npm_lock *lock,
			const char *const *members, size_t nmembers,
			const struct npm_packument *pk, size_t npk,
			enum npm_policy policy, struct npm_plan *plan)
{
	struct npm_rules r;
	struct pl_env env;
	int rc;

	npm_rules_init(&r, policy);
	pl_env_init(&env, &r, &r.npmrc, NULL);
	const struct pl_ctx c = { .m = m, .file = file, .dir = dir,
				  .lock = lock, .members = members,
				  .nmembers = nmembers, .r = &r, .env = &env };

	rc = pl_file(&c, pk, npk, plan);
	pl_env_free(&env);
	return rc;
}

int npm_plan_build_rules(const struct npm_manifest *m,
			 const struct npm_packument *pk, size_t npk,
			 const struct npm_rules *rules, struct npm_plan *plan)
{
	struct pl_env env;
	const struct pl_ctx c = { .m = m, .file = "package.json", .dir = "",
				  .r = rules, .env = &env };
	int rc;

	memset(plan, 0, sizeof(*plan));
	rc = pl_env_init(&env, rules, &rules->npmrc, m->engines_node);
	if (rc >= 0)
		rc = pl_file(&c, pk, npk, plan);
	if (rc == 0)
		rc = npm_plan_select(plan, rules);
	if (rc)
		npm_plan_free(plan);
	else
		pl_env_node(&env, plan);
	pl_env_free(&env);
	return rc;
}

int npm_plan_build(const struct npm_manifest *m,
		   const struct npm_packument *pk, size_t npk,
		   enum npm_policy policy, struct npm_plan *plan)
{
	struct npm_rules r;

	npm_rules_init(&r, policy);
	return npm_plan_build_rules(m, pk, npk, &r, plan);
}

/* Update i becomes a skip with reason (its strings move over). */
static int pl_defer(struct npm_plan *p, size_t i, const char *reason,
		    const char *rule)
{
	struct npm_update *u = &p->updates[i];
	struct npm_skip *s;
	void *n = realloc(p->skips, (p->nskips + 1) * sizeof(*p->skips));

	if (!n)
		return -ENOMEM;
	p->skips = n;
	s = &p->skips[p->nskips++];
	*s = (struct npm_skip){ .section = u->section, .file = u->file,
				.path = u->path, .name = u->name,
				.spec = u->from, .reason = strdup(reason),
				.rule = rule };
	free(u->locked);
	free(u->note);
	free(u->to);
	free(u->version);
	free(u->group);
	memmove(u, u + 1, (p->nupdates - i - 1) * sizeof(*u));
	p->nupdates--;
	return s->reason ? 0 : -ENOMEM;
}

int npm_plan_select(struct npm_plan *p, const struct npm_rules *r)
{
	const char *keep[NPM_RULES_GROUPS_MAX];
	char why[NPM_NAME_MAX + 160];
	size_t max = r->max_groups ? r->max_groups : NPM_RULES_GROUPS_DEFAULT;
	size_t nkeep = npm_plan_groups(p, keep,
				       max < NPM_RULES_GROUPS_MAX
					       ? max : NPM_RULES_GROUPS_MAX);
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < p->nupdates;) {
		const struct npm_update *u = &p->updates[i];
		bool kept = false;

		for (size_t k = 0; k < nkeep && !kept; k++)
			kept = !strcmp(u->group, keep[k]);
		if (kept) {
			i++;
			continue;
		}
		snprintf(why, sizeof(why), "%s deferred to a later job: group "
			 "%s (group = %s, max_groups = %zu)", u->version,
			 u->group, npm_group_name(r->group), max);
		rc = pl_defer(p, i, why, "max_groups");
	}
	while (rc == 0 && r->max_updates && p->nupdates > r->max_updates) {
		snprintf(why, sizeof(why), "%s over max_updates = %u",
			 p->updates[r->max_updates].version, r->max_updates);
		rc = pl_defer(p, r->max_updates, why, "max_updates");
	}
	return rc;
}

/* Distinct names of the dependencies worth asking the registry about,
 * appended to names[0..*n) (room for every dependency of m). */
static int pl_names(const struct pl_ctx *c, const char **names,
		    char **owned, size_t *n)
{
	char floor[NPM_SEMVER_MAX_LEN + 64], buf[320];
	const struct npm_manifest *m = c->m;
	enum npm_strategy s = c->r->strategy;
	const char *op, *why, *rule;

	for (size_t i = 0; i < m->ndeps; i++) {
		const struct npm_dep *d = &m->deps[i];
		const char *name = d->name;
		char *target = NULL;
		size_t off;
		bool dup = false;

		why = npm_spec_classify(d->spec, &op, floor, sizeof(floor));
		if (why && !((d->section == NPM_SEC_PEER || pl_locked(c, d) ||
			      s == NPM_STRATEGY_PIN ||
			      s == NPM_STRATEGY_WIDEN) &&
			     pl_range_reason_is(why)))
			continue;
		/* An alias is looked up under its target, never its key. */
		if (!strncmp(d->spec, "npm:", 4)) {
			target = malloc(256);
			if (!target)
				return -ENOMEM;
			if (npm_spec_alias(d->spec, target, 256, &off) == 0)
				name = target;
		}
		if (pl_pre_skip(c, d, name, buf, sizeof(buf), &rule)) {
			free(target);
			continue;
		}
		for (size_t j = 0; j < *n && !dup; j++)
			dup = !strcmp(names[j], name);
		if (!dup && name == target) {
			owned[*n] = target;
			target = NULL;
		}
		if (!dup)
			names[(*n)++] = name;
		free(target);
	}
	return 0;
}

/* The edits of plan that belong to file, applied to text into out. */
static int pl_rewrite(const char *file, const char *text, size_t len,
		      const struct npm_plan *plan, struct al_buf *out,
		      size_t *nedits, char *err, size_t errsz)
{
	struct npm_edit *e = calloc(plan->nupdates + 1, sizeof(*e));
	size_t n = 0;
	int rc;

	if (!e)
		return -ENOMEM;
	for (size_t i = 0; i < plan->nupdates; i++) {
		const struct npm_update *u = &plan->updates[i];

		if (u->kind == NPM_KIND_LOCKFILE || strcmp(u->file, file))
			continue;
		e[n].section = u->section;
		e[n].name = u->name;
		e[n].path = u->path;
		e[n].spec = u->to;
		n++;
	}
	*nedits = n;
	rc = n ? npm_manifest_rewrite(text, len, e, n, out, err, errsz) : 0;
	free(e);
	return rc;
}

int npm_project_rewrite(struct npm_project *pj, const struct npm_plan *plan,
			const char *group, char *err, size_t errsz)
{
	struct npm_plan mine = { 0 };
	int rc = 0;

	/* A shallow copy of the group's updates: pl_rewrite takes a plan. */
	mine.updates = calloc(plan->nupdates + 1, sizeof(*mine.updates));
	if (!mine.updates)
		return -ENOMEM;
	for (size_t i = 0; i < plan->nupdates; i++)
		if (!group || !strcmp(plan->updates[i].group, group))
			mine.updates[mine.nupdates++] = plan->updates[i];
	for (size_t f = 0; !rc && f < pj->nfiles; f++) {
		struct npm_project_file *pf = &pj->files[f];
		size_t ne = 0;

		rc = pl_rewrite(pf->path, pf->text.p, pf->text.len, &mine,
				&pf->out, &ne, err, errsz);
		pf->changed = rc == 0 && ne > 0;
	}
	free(mine.updates);
	return rc;
}

/* Fetch and plan for every file of pj (each one's m already parsed). */
static int pl_run(const struct npm_registry_opts *ro, struct npm_project *pj,
		  const struct npm_rules *rules, struct npm_plan *plan,
		  char *err, size_t errsz)
{
	struct npm_registry_opts o = *ro;
	struct npm_packument *pk = NULL;
	const char **names = NULL, **members = NULL;
	const char *eng = pj->nfiles ? pj->files[0].m.engines_node : NULL;
	char **owned = NULL;
	size_t n = 0, total = 0, nmem = 0;
	struct pl_env env;
	int rc = pl_env_init(&env, rules, &pj->npmrc, eng);

	if (rc == 1) {
		struct al_buf b = { 0 };

		rc = al_buf_printf(&b, "package.json engines.node \"%.80s\" is "
				   "no valid range: candidates are not held to "
				   "it", eng);
		rc = rc ? rc : npm_project_note(pj, b.p);
		al_buf_free(&b);
	}
	if (rc)
		goto out;
	rc = -ENOMEM;
	for (size_t f = 0; f < pj->nfiles; f++)
		total += pj->files[f].m.ndeps;
	names = calloc(total + 1, sizeof(*names));
	owned = calloc(total + 1, sizeof(*owned));
	members = calloc(pj->nfiles + 1, sizeof(*members));
	if (!names || !owned || !members)
		goto out;
	/* A workspace member is the project's own code, not a package to
	 * ask the registry about (edge case 11). */
	for (size_t f = 1; f < pj->nfiles; f++)
		if (pj->files[f].m.name)
			members[nmem++] = pj->files[f].m.name;
	rc = 0;
	for (size_t f = 0; !rc && f < pj->nfiles; f++) {
		const struct pl_ctx c = {
			.m = &pj->files[f].m, .file = pj->files[f].path,
			.dir = pj->files[f].dir,
			.lock = pj->has_lock ? &pj->lock : NULL,
			.members = members, .nmembers = nmem,
			.r = rules, .env = &env };

		rc = pl_names(&c, names, owned, &n);
	}
	if (rc)
		goto out;
	rc = -ENOMEM;
	pk = calloc(n + 1, sizeof(*pk));
	if (!pk)
		goto out;
	/* Release times come with the full documents only. */
	o.need_release_times |= env.conf_cutoff || env.rc_cutoff;
	rc = npm_registry_fetch(&o, names, n, pk);
	if (rc) {
		snprintf(err, errsz, "registry %s: %s", ro->url,
			 al_strerror(rc));
		goto out;
	}
	for (size_t f = 0; !rc && f < pj->nfiles; f++) {
		const struct pl_ctx c = {
			.m = &pj->files[f].m, .file = pj->files[f].path,
			.dir = pj->files[f].dir,
			.lock = pj->has_lock ? &pj->lock : NULL,
			.members = members, .nmembers = nmem,
			.r = rules, .env = &env };

		rc = pl_file(&c, pk, n, plan);
	}
	if (rc == 0)
		rc = npm_plan_select(plan, rules);
	pl_env_node(&env, plan);
	if (rc == 0) {
		const char *first = NULL;

		npm_plan_groups(plan, &first, 1);
		rc = npm_project_rewrite(pj, plan, first, err, errsz);
	}
	if (rc == -ENOMEM)
		snprintf(err, errsz, "out of memory while planning");
out:
	pl_env_free(&env);
	if (pk)
		npm_packuments_free(pk, n);
	free(pk);
	free(names);
	for (size_t i = 0; owned && i < total; i++)
		free(owned[i]);
	free(owned);
	free(members);
	return rc;
}

int npm_plan_project(const struct npm_registry_opts *ro, const char *manifest,
		     size_t len, enum npm_policy policy,
		     struct npm_plan *plan, struct al_buf *new_manifest,
		     char *err, size_t errsz)
{
	struct npm_project_file f = { .path = "package.json", .dir = "" };
	struct npm_project pj = { .files = &f, .nfiles = 1 };
	struct npm_rules r;
	int rc;

	memset(plan, 0, sizeof(*plan));
	npm_rules_init(&r, policy);
	f.text.p = (char *)manifest;
	f.text.len = len;
	rc = npm_manifest_parse(manifest, len, &f.m, err, errsz);
	if (rc)
		return rc;
	rc = pl_run(ro, &pj, &r, plan, err, errsz);
	if (rc == 0 && f.changed) {
		al_buf_free(new_manifest);
		*new_manifest = f.out;
		memset(&f.out, 0, sizeof(f.out));
	}
	if (rc)
		npm_plan_free(plan);
	al_buf_free(&f.out);
	npm_manifest_free(&f.m);
	return rc;
}

int npm_plan_workspace_rules(const struct npm_registry_opts *ro,
			     struct npm_project *pj,
			     const struct npm_rules *rules,
			     struct npm_plan *plan, char *err, size_t errsz)
{
	int rc;

	memset(plan, 0, sizeof(*plan));
	rc = pl_run(ro, pj, rules, plan, err, errsz);
	if (rc)
		npm_plan_free(plan);
	return rc;
}

int npm_plan_workspace(const struct npm_registry_opts *ro,
		       struct npm_project *pj, enum npm_policy policy,
		       struct npm_plan *plan, char *err, size_t errsz)
{
	struct npm_rules r;

	npm_rules_init(&r, policy);
	return npm_plan_workspace_rules(ro, pj, &r, plan, err, errsz);
}

json_t *npm_plan_json(const struct npm_plan *plan)
{
	json_t *root = json_object(), *up = json_array(), *sk = json_array();

	if (!root || !up || !sk)
		goto fail;
	json_object_set_new(root, "updates", up);
	json_object_set_new(root, "skipped", sk);
	for (size_t i = 0; i < plan->nupdates; i++) {
		const struct npm_update *u = &plan->updates[i];

		json_t *o = json_pack(
			"{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s}",
			"file", u->file, "section", npm_section_name(u->section),
			"name", u->name, "from", u->from, "to", u->to,
			"kind", npm_kind_name(u->kind),
			"bump", npm_bump_name(u->bump),
			"version", u->version,
			"install_scripts", u->has_install_scripts,
			"group", u->group);

		if (o && u->path)
			json_object_set_new(o, "path", json_string(u->path));
		if (o && u->locked)
			json_object_set_new(o, "locked",
					    json_string(u->locked));
		if (o && u->note)
			json_object_set_new(o, "note", json_string(u->note));
		if (json_array_append_new(up, o))
			goto fail_root;
	}
	for (size_t i = 0; i < plan->nskips; i++) {
		const struct npm_skip *s = &plan->skips[i];

		json_t *o = json_pack(
			"{s:s, s:s, s:s, s:s, s:s}", "file", s->file,
			"section", npm_section_name(s->section),
			"name", s->name, "spec", s->spec,
			"reason", s->reason);

		if (o && s->path)
			json_object_set_new(o, "path", json_string(s->path));
		if (o && s->rule)
			json_object_set_new(o, "rule", json_string(s->rule));
		if (json_array_append_new(sk, o))
			goto fail_root;
	}
	return root;
fail:
	json_decref(up);
	json_decref(sk);
fail_root:
	json_decref(root);
	return NULL;
}
