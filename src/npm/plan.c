/*
 * plan.c - choose dependency updates by policy and rewrite package.json
 * (see plan.h).
 */
#include "npm/plan.h"

#include <errno.h>
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

/* A version worth proposing: a release, not deprecated, above floor. */
static bool pl_candidate(const struct npm_pkg_version *pv,
			 const struct npm_version *floor,
			 struct npm_version *v)
{
	return pv && !pv->deprecated &&
	       npm_version_parse(pv->version, 0, v) == 0 && !v->pre[0] &&
	       npm_version_cmp(v, floor) > 0;
}

/*
 * The target for floor, by the rule in plan.h; 1 and *best when found,
 * 0 when nothing newer is allowed, with *held set when something newer
 * exists but the policy forbids it.
 */
static int pl_target(const struct npm_packument *pk,
		     const struct npm_version *floor, enum npm_policy policy,
		     struct npm_version *best,
		     const struct npm_pkg_version **bv, bool *held)
{
	const char *tag = npm_packument_tag(pk, "latest");
	const struct npm_pkg_version *lv = NULL;
	struct npm_version latest, v;
	bool have_latest = false, found = false;

	*held = false;
	if (tag && npm_version_parse(tag, 0, &latest) == 0) {
		have_latest = true;
		lv = npm_packument_version(pk, tag);
		if (pl_candidate(lv, floor, &v)) {
			if (pl_allowed(floor, &v, policy)) {
				*best = v;
				*bv = lv;
				return 1;
			}
			*held = true;
		}
	}
	for (size_t i = 0; i < pk->nversions; i++) {
		const struct npm_pkg_version *pv = &pk->versions[i];

		if (!pl_candidate(pv, floor, &v))
			continue;
		if (have_latest && npm_version_cmp(&v, &latest) > 0)
			continue;
		if (!pl_allowed(floor, &v, policy)) {
			*held = true;
			continue;
		}
		if (!found || npm_version_cmp(&v, best) > 0) {
			*best = v;
			*bv = pv;
			found = true;
		}
	}
	return found;
}

/* What one file's planning needs besides its dependency. */
struct pl_ctx {
	const struct npm_manifest *m;
	const char *file;
	const char *dir;
	const struct npm_lock *lock;     /* NULL without a lockfile */
	const char *const *members;      /* workspace member names */
	size_t nmembers;
};

static int pl_skip(struct npm_plan *p, const struct pl_ctx *c,
		   const struct npm_dep *d, const char *reason)
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
	return s->file && s->name && s->spec && s->reason &&
			       (!d->path || s->path)
		       ? 0
		       : -ENOMEM;
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
	return u->file && u->name && u->from && u->to && u->version &&
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
 * that is not deprecated. 1 when there is one.
 */
static int pl_wanted(const struct npm_packument *pk,
		     const struct npm_range *r, struct npm_version *out,
		     const struct npm_pkg_version **opv)
{
	const char *tag = npm_packument_tag(pk, "latest");
	const struct npm_pkg_version *lv = tag ? npm_packument_version(pk, tag)
					       : NULL;
	struct npm_version v;
	bool found = false;

	if (lv && !lv->deprecated && npm_version_parse(tag, 0, &v) == 0 &&
	    !v.pre[0] && npm_range_satisfies(r, &v)) {
		*out = v;
		*opv = lv;
		return 1;
	}
	for (size_t i = 0; i < pk->nversions; i++) {
		const struct npm_pkg_version *pv = &pk->versions[i];

		if (pv->deprecated ||
		    npm_version_parse(pv->version, 0, &v) != 0 || v.pre[0] ||
		    !npm_range_satisfies(r, &v))
			continue;
		if (!found || npm_version_cmp(&v, out) > 0) {
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
 * (edge cases 17, 18). *done is set when one was added.
 */
static int pl_lockonly(struct npm_plan *p, const struct pl_ctx *c,
		       const struct npm_dep *d,
		       const struct npm_packument *k,
		       const struct npm_range *r, const char *locked,
		       enum npm_policy policy, const char *lookup, bool *done)
{
	const struct npm_pkg_version *pv = NULL;
	struct npm_version lv, want;
	char why[256];

	*done = false;
	if (npm_version_parse(locked, NPM_SEMVER_LOOSE, &lv) != 0 ||
	    !pl_wanted(k, r, &want, &pv) || npm_version_cmp(&want, &lv) <= 0)
		return 0;
	if (!pl_allowed(&lv, &want, policy)) {
		snprintf(why, sizeof(why), "newer in-range version not "
			 "allowed by policy %s (locked %s)",
			 npm_policy_name(policy), locked);
		*done = true;
		return pl_skip(p, c, d, why);
	}
	*done = true;
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

/*
 * A peer range is widened, never replaced: a plugin that supports host
 * 1.x keeps supporting it when 2.x is added ("^1.0.0" -> "^1.0.0 ||
 * ^2.0.0"). The floor is the newest release the range admits.
 */
static int pl_peer(struct npm_plan *p, const struct pl_ctx *c,
		   const struct npm_dep *d, const struct npm_packument *k,
		   const struct npm_range *r, enum npm_policy policy,
		   const char *lookup)
{
	const struct npm_pkg_version *bv = NULL, *fv = NULL;
	struct npm_version floor, best;
	struct al_buf to = { 0 };
	char why[256];
	bool held;

	if (!pl_wanted(k, r, &floor, &fv))
		return pl_skip(p, c, d, "no published release satisfies the "
			       "peer range");
	if (!pl_target(k, &floor, policy, &best, &bv, &held)) {
		if (!held)
			return 0;
		snprintf(why, sizeof(why), "newer version not allowed by "
			 "policy %s", npm_policy_name(policy));
		return pl_skip(p, c, d, why);
	}
	if (npm_range_satisfies(r, &best))
		return 0;
	if (al_buf_printf(&to, "%s || ", d->spec) || pl_caret(&best, &to)) {
		al_buf_free(&to);
		return -ENOMEM;
	}
	return pl_add(p, c, d, NPM_KIND_WIDEN, to.p, &floor, &best, bv, NULL,
		      lookup);
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
		snprintf(why, sizeof(why), "registry error: %s", k->errmsg);
		*rc = pl_skip(p, c, d, why);
		return NULL;
	}
	return k;
}

/* Why d is not planned before its spec is even read; NULL if it is. */
static const char *pl_pre_skip(const struct pl_ctx *c,
			       const struct npm_dep *d, const char *lookup)
{
	if (d->section == NPM_SEC_OVERRIDES && d->spec[0] == '$')
		return "$reference to the project's own spec: follows it";
	if (pl_listed(c->members, c->nmembers, lookup))
		return "workspace member: not a registry package";
	if ((c->m->bundle_all || pl_listed((const char *const *)c->m->bundled,
					   c->m->nbundled, d->name)) &&
	    d->section != NPM_SEC_OVERRIDES)
		return "bundled (bundleDependencies): updated only with the "
		       "package that bundles it";
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

/* One dependency: an update, a skip, or nothing (already current). */
static int pl_dep(struct npm_plan *p, const struct pl_ctx *c,
		  const struct npm_dep *d, const struct npm_packument *pk,
		  size_t npk, enum npm_policy policy)
{
	char floor_s[NPM_SEMVER_MAX_LEN + 64], why[256], target[256];
	const struct npm_pkg_version *bv = NULL;
	const struct npm_packument *k;
	struct npm_version floor, best;
	struct npm_range r;
	const char *op = "", *reason, *locked = pl_locked(c, d);
	const char *lookup = pl_lookup_name(d, target, sizeof(target));
	bool held, done, have_r;
	int rc;

	reason = pl_pre_skip(c, d, lookup);
	if (reason)
		return pl_skip(p, c, d, reason);
	reason = npm_spec_classify(d->spec, &op, floor_s, sizeof(floor_s));
	/* A peer range, or a locked range of any form, can still move. */
	have_r = false;
	if ((d->section == NPM_SEC_PEER || locked) &&
	    (!reason || pl_range_reason_is(reason)))
		have_r = d->section == NPM_SEC_PEER
				 ? pl_range(pl_range_part(d->spec), &r)
				 : npm_range_parse(pl_range_part(d->spec), 0,
						   &r) == 0;
	if (reason && !have_r)
		return pl_skip(p, c, d, reason);
	k = pl_answer(p, c, d, pk, npk, lookup, &rc);
	if (!k) {
		if (have_r)
			npm_range_free(&r);
		return rc;
	}
	if (d->section == NPM_SEC_PEER) {
		rc = pl_peer(p, c, d, k, &r, policy, lookup);
		npm_range_free(&r);
		return rc;
	}
	if (reason) {
		/* Not rewritable, but locked: only the lockfile can move. */
		rc = pl_lockonly(p, c, d, k, &r, locked, policy, lookup,
				 &done);
		npm_range_free(&r);
		return rc || done ? rc : pl_skip(p, c, d, reason);
	}
	npm_version_parse(floor_s, 0, &floor);
	if (pl_target(k, &floor, policy, &best, &bv, &held) &&
	    (!have_r || !npm_range_satisfies(&r, &best))) {
		if (have_r)
			npm_range_free(&r);
		return pl_update(p, c, d, op, &floor, &best, bv, locked,
				 lookup);
	}
	if (have_r) {
		rc = pl_lockonly(p, c, d, k, &r, locked, policy, lookup,
				 &done);
		npm_range_free(&r);
		if (rc || done)
			return rc;
	}
	if (held) {
		snprintf(why, sizeof(why), "newer version not allowed by "
			 "policy %s", npm_policy_name(policy));
		return pl_skip(p, c, d, why);
	}
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
		   size_t npk, enum npm_policy policy, struct npm_plan *plan)
{
	int rc = 0;

	for (size_t i = 0; !rc && i < c->m->ndeps; i++)
		rc = pl_dep(plan, c, &c->m->deps[i], pk, npk, policy);
	return rc;
}

int npm_plan_build_file(const struct npm_manifest *m, const char *file,
			const char *dir, const struct npm_lock *lock,
			const char *const *members, size_t nmembers,
			const struct npm_packument *pk, size_t npk,
			enum npm_policy policy, struct npm_plan *plan)
{
	const struct pl_ctx c = { .m = m, .file = file, .dir = dir,
				  .lock = lock, .members = members,
				  .nmembers = nmembers };

	return pl_file(&c, pk, npk, policy, plan);
}

int npm_plan_build(const struct npm_manifest *m,
		   const struct npm_packument *pk, size_t npk,
		   enum npm_policy policy, struct npm_plan *plan)
{
	const struct pl_ctx c = { .m = m, .file = "package.json", .dir = "" };
	int rc;

	memset(plan, 0, sizeof(*plan));
	rc = pl_file(&c, pk, npk, policy, plan);
	if (rc)
		npm_plan_free(plan);
	return rc;
}

/* Distinct names of the dependencies worth asking the registry about,
 * appended to names[0..*n) (room for every dependency of m). */
static int pl_names(const struct pl_ctx *c, const char **names,
		    char **owned, size_t *n)
{
	char floor[NPM_SEMVER_MAX_LEN + 64];
	const struct npm_manifest *m = c->m;
	const char *op, *why;

	for (size_t i = 0; i < m->ndeps; i++) {
		const struct npm_dep *d = &m->deps[i];
		const char *name = d->name;
		char *target = NULL;
		size_t off;
		bool dup = false;

		why = npm_spec_classify(d->spec, &op, floor, sizeof(floor));
		if (why && !((d->section == NPM_SEC_PEER ||
			      pl_locked(c, d)) && pl_range_reason_is(why)))
			continue;
		/* An alias is looked up under its target, never its key. */
		if (!strncmp(d->spec, "npm:", 4)) {
			target = malloc(256);
			if (!target)
				return -ENOMEM;
			if (npm_spec_alias(d->spec, target, 256, &off) == 0)
				name = target;
		}
		if (pl_pre_skip(c, d, name)) {
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

/* Fetch and plan for every file of pj (each one's m already parsed). */
static int pl_run(const struct npm_registry_opts *ro, struct npm_project *pj,
		  enum npm_policy policy, struct npm_plan *plan, char *err,
		  size_t errsz)
{
	struct npm_packument *pk = NULL;
	const char **names = NULL, **members = NULL;
	char **owned = NULL;
	size_t n = 0, total = 0, nmem = 0;
	int rc = -ENOMEM;

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
			.members = members, .nmembers = nmem };

		rc = pl_names(&c, names, owned, &n);
	}
	if (rc)
		goto out;
	rc = -ENOMEM;
	pk = calloc(n + 1, sizeof(*pk));
	if (!pk)
		goto out;
	rc = npm_registry_fetch(ro, names, n, pk);
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
			.members = members, .nmembers = nmem };

		rc = pl_file(&c, pk, n, policy, plan);
	}
	for (size_t f = 0; !rc && f < pj->nfiles; f++) {
		struct npm_project_file *pf = &pj->files[f];
		size_t ne = 0;

		rc = pl_rewrite(pf->path, pf->text.p, pf->text.len, plan,
				&pf->out, &ne, err, errsz);
		pf->changed = rc == 0 && ne > 0;
	}
	if (rc == -ENOMEM)
		snprintf(err, errsz, "out of memory while planning");
out:
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
	int rc;

	memset(plan, 0, sizeof(*plan));
	f.text.p = (char *)manifest;
	f.text.len = len;
	rc = npm_manifest_parse(manifest, len, &f.m, err, errsz);
	if (rc)
		return rc;
	rc = pl_run(ro, &pj, policy, plan, err, errsz);
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

int npm_plan_workspace(const struct npm_registry_opts *ro,
		       struct npm_project *pj, enum npm_policy policy,
		       struct npm_plan *plan, char *err, size_t errsz)
{
	int rc;

	memset(plan, 0, sizeof(*plan));
	rc = pl_run(ro, pj, policy, plan, err, errsz);
	if (rc)
		npm_plan_free(plan);
	return rc;
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
			"{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b}",
			"file", u->file, "section", npm_section_name(u->section),
			"name", u->name, "from", u->from, "to", u->to,
			"kind", npm_kind_name(u->kind),
			"bump", npm_bump_name(u->bump),
			"version", u->version,
			"install_scripts", u->has_install_scripts);

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
