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

static int pl_skip(struct npm_plan *p, const struct npm_dep *d,
		   const char *reason)
{
	struct npm_skip *s;
	void *n = realloc(p->skips, (p->nskips + 1) * sizeof(*p->skips));

	if (!n)
		return -ENOMEM;
	p->skips = n;
	s = &p->skips[p->nskips];
	s->section = d->section;
	s->name = strdup(d->name);
	s->spec = strdup(d->spec);
	s->reason = strdup(reason);
	p->nskips++;
	return s->name && s->spec && s->reason ? 0 : -ENOMEM;
}

static int pl_update(struct npm_plan *p, const struct npm_dep *d,
		     const char *op, const struct npm_version *floor,
		     const struct npm_version *to,
		     const struct npm_pkg_version *pv)
{
	char ver[NPM_SEMVER_MAX_LEN + 64];
	struct al_buf spec = { 0 };
	struct npm_update *u;
	void *n = realloc(p->updates, (p->nupdates + 1) * sizeof(*p->updates));

	if (!n)
		return -ENOMEM;
	p->updates = n;
	size_t off = 0;
	char target[256];

	/* An alias keeps its "npm:name@" prefix; only the range changes. */
	if (npm_spec_alias(d->spec, target, sizeof(target), &off) != 0)
		off = 0;
	if (npm_version_format(to, ver, sizeof(ver)) < 0 ||
	    al_buf_printf(&spec, "%.*s%s%s", (int)off, d->spec, op, ver))
		return -ENOMEM;
	u = &p->updates[p->nupdates++];
	u->section = d->section;
	u->name = strdup(d->name);
	u->from = strdup(d->spec);
	u->to = spec.p;
	u->version = strdup(ver);
	u->bump = pl_bump(floor, to);
	u->has_install_scripts = pv->has_install_scripts;
	return u->name && u->from && u->version ? 0 : -ENOMEM;
}

static const struct npm_packument *pl_find(const struct npm_packument *pk,
					   size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (pk[i].name && !strcmp(pk[i].name, name))
			return &pk[i];
	return NULL;
}

/* One dependency: an update, a skip, or nothing (already current). */
static int pl_dep(struct npm_plan *p, const struct npm_dep *d,
		  const struct npm_packument *pk, size_t npk,
		  enum npm_policy policy)
{
	char floor_s[NPM_SEMVER_MAX_LEN + 64], why[256];
	const struct npm_pkg_version *bv = NULL;
	const struct npm_packument *k;
	struct npm_version floor, best;
	const char *op = "", *reason;
	bool held;

	char target[256];

	reason = npm_spec_classify(d->spec, &op, floor_s, sizeof(floor_s));
	if (reason)
		return pl_skip(p, d, reason);
	k = pl_find(pk, npk, pl_lookup_name(d, target, sizeof(target)));
	if (!k) {
		p->nregistry_errors++;
		return pl_skip(p, d, "no registry answer");
	}
	if (k->err == AL_E_NOTFOUND)
		return pl_skip(p, d, "package not found in the registry");
	if (k->err) {
		p->nregistry_errors++;
		snprintf(why, sizeof(why), "registry error: %s", k->errmsg);
		return pl_skip(p, d, why);
	}
	npm_version_parse(floor_s, 0, &floor);
	if (pl_target(k, &floor, policy, &best, &bv, &held))
		return pl_update(p, d, op, &floor, &best, bv);
	if (held) {
		snprintf(why, sizeof(why), "newer version not allowed by "
			 "policy %s", npm_policy_name(policy));
		return pl_skip(p, d, why);
	}
	const char *tag = npm_packument_tag(k, "latest");
	struct npm_version lv;
	if (!tag || npm_version_parse(tag, 0, &lv) != 0) {
		p->nregistry_errors++;
		return pl_skip(p, d, "the registry gave no valid latest "
			       "version");
	}
	return 0;
}

void npm_plan_free(struct npm_plan *plan)
{
	if (!plan)
		return;
	for (size_t i = 0; i < plan->nupdates; i++) {
		free(plan->updates[i].name);
		free(plan->updates[i].from);
		free(plan->updates[i].to);
		free(plan->updates[i].version);
	}
	for (size_t i = 0; i < plan->nskips; i++) {
		free(plan->skips[i].name);
		free(plan->skips[i].spec);
		free(plan->skips[i].reason);
	}
	free(plan->updates);
	free(plan->skips);
	memset(plan, 0, sizeof(*plan));
}

int npm_plan_build(const struct npm_manifest *m,
		   const struct npm_packument *pk, size_t npk,
		   enum npm_policy policy, struct npm_plan *plan)
{
	int rc = 0;

	memset(plan, 0, sizeof(*plan));
	for (size_t i = 0; !rc && i < m->ndeps; i++)
		rc = pl_dep(plan, &m->deps[i], pk, npk, policy);
	if (rc)
		npm_plan_free(plan);
	return rc;
}

/* Distinct names of the dependencies worth asking the registry about. */
static int pl_names(const struct npm_manifest *m, const char ***names,
		    char ***owned, size_t *n)
{
	char floor[NPM_SEMVER_MAX_LEN + 64];
	const char *op;

	*n = 0;
	*names = calloc(m->ndeps + 1, sizeof(**names));
	*owned = calloc(m->ndeps + 1, sizeof(**owned));
	if (!*names || !*owned)
		return -ENOMEM;
	for (size_t i = 0; i < m->ndeps; i++) {
		const struct npm_dep *d = &m->deps[i];
		const char *name = d->name;
		char *target = NULL;
		size_t off;
		bool dup = false;

		if (npm_spec_classify(d->spec, &op, floor, sizeof(floor)))
			continue;
		/* An alias is looked up under its target, never its key. */
		if (!strncmp(d->spec, "npm:", 4)) {
			target = malloc(256);
			if (!target)
				return -ENOMEM;
			if (npm_spec_alias(d->spec, target, 256, &off) == 0)
				name = target;
		}
		for (size_t j = 0; j < *n && !dup; j++)
			dup = !strcmp((*names)[j], name);
		if (!dup && name == target) {
			(*owned)[(*n)] = target;
			target = NULL;
		}
		if (!dup)
			(*names)[(*n)++] = name;
		free(target);
	}
	return 0;
}

static int pl_rewrite(const char *manifest, size_t len,
		      const struct npm_plan *plan, struct al_buf *out,
		      char *err, size_t errsz)
{
	struct npm_edit *e = calloc(plan->nupdates + 1, sizeof(*e));
	int rc;

	if (!e)
		return -ENOMEM;
	for (size_t i = 0; i < plan->nupdates; i++) {
		e[i].section = plan->updates[i].section;
		e[i].name = plan->updates[i].name;
		e[i].spec = plan->updates[i].to;
	}
	rc = npm_manifest_rewrite(manifest, len, e, plan->nupdates, out, err,
				  errsz);
	free(e);
	return rc;
}

int npm_plan_project(const struct npm_registry_opts *ro, const char *manifest,
		     size_t len, enum npm_policy policy,
		     struct npm_plan *plan, struct al_buf *new_manifest,
		     char *err, size_t errsz)
{
	struct npm_manifest m = { 0 };
	struct npm_packument *pk = NULL;
	const char **names = NULL;
	char **owned = NULL;
	size_t n = 0;
	int rc;

	memset(plan, 0, sizeof(*plan));
	rc = npm_manifest_parse(manifest, len, &m, err, errsz);
	if (rc)
		return rc;
	rc = pl_names(&m, &names, &owned, &n);
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
	rc = npm_plan_build(&m, pk, n, policy, plan);
	if (!rc && plan->nupdates)
		rc = pl_rewrite(manifest, len, plan, new_manifest, err, errsz);
	if (rc == -ENOMEM)
		snprintf(err, errsz, "out of memory while planning");
out:
	if (rc)
		npm_plan_free(plan);
	if (pk)
		npm_packuments_free(pk, n);
	free(pk);
	free(names);
	for (size_t i = 0; owned && i < m.ndeps; i++)
		free(owned[i]);
	free(owned);
	npm_manifest_free(&m);
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

		if (json_array_append_new(up, json_pack(
			"{s:s, s:s, s:s, s:s, s:s, s:s, s:b}",
			"section", npm_section_name(u->section),
			"name", u->name, "from", u->from, "to", u->to,
			"bump", npm_bump_name(u->bump),
			"version", u->version,
			"install_scripts", u->has_install_scripts)))
			goto fail_root;
	}
	for (size_t i = 0; i < plan->nskips; i++) {
		const struct npm_skip *s = &plan->skips[i];

		if (json_array_append_new(sk, json_pack(
			"{s:s, s:s, s:s, s:s}",
			"section", npm_section_name(s->section),
			"name", s->name, "spec", s->spec,
			"reason", s->reason)))
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
