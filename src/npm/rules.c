/*
 * rules.c - the update policy's airlock.conf keys: their values, the
 * per-repository merge and the JSON the job record shows; the order of a
 * plan's groups and their branch names (see plan.h).
 */
#include "npm/plan.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"

static const char *const rl_strategies[] = {
#define NPM_X_STRAT(e, word) word,
	NPM_STRATEGY_TABLE(NPM_X_STRAT)
#undef NPM_X_STRAT
};

static const char *const rl_groups[] = {
#define NPM_X_GROUP(e, word) word,
	NPM_GROUP_TABLE(NPM_X_GROUP)
#undef NPM_X_GROUP
};

static const char *const rl_keys[] = {
#define NPM_X_RULE(e, word) word,
	NPM_RULE_KEYS(NPM_X_RULE)
#undef NPM_X_RULE
};

const char *npm_strategy_name(enum npm_strategy s)
{
	return (unsigned)s < AL_ARRAY_LEN(rl_strategies) ? rl_strategies[s]
							 : "?";
}

const char *npm_group_name(enum npm_group g)
{
	return (unsigned)g < AL_ARRAY_LEN(rl_groups) ? rl_groups[g] : "?";
}

void npm_rules_init(struct npm_rules *r, enum npm_policy policy)
{
	memset(r, 0, sizeof(*r));
	r->policy = policy;
	r->strategy = NPM_STRATEGY_AUTO;
	r->group = NPM_GROUP_ALL;
	r->max_groups = NPM_RULES_GROUPS_DEFAULT;
}

/* The index of word in words, or -1. */
static int rl_word(const char *word, const char *const *words, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(word, words[i]))
			return (int)i;
	return -1;
}

/*
 * "glob, glob" into out as "glob,glob". A glob is what may stand in a
 * package name ("@scope/name", letters, digits, "-._~") plus the fnmatch
 * characters "*?[]!"; no spaces, quotes or controls, so a list can never
 * be read two ways.
 */
static int rl_globs(const char *v, char *out, size_t outsz, char *why,
		    size_t whysz)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
				 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				 "@/-._~*?[]!";
	size_t o = 0;

	out[0] = '\0';
	while (*v) {
		size_t n;

		v += strspn(v, " \t");
		n = strcspn(v, ",");
		while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		if (n == 0 || n > NPM_NAME_MAX || strspn(v, ok) < n) {
			snprintf(why, whysz, "'%.*s' is no package name glob",
				 (int)(n > 64 ? 64 : n), v);
			return -EINVAL;
		}
		if (o + n + 2 > outsz) {
			snprintf(why, whysz, "the list is longer than %d "
				 "bytes", NPM_RULES_LIST_MAX - 1);
			return -ERANGE;
		}
		if (o)
			out[o++] = ',';
		memcpy(out + o, v, n);
		o += n;
		out[o] = '\0';
		v += strcspn(v, ",");
		if (*v == ',' && !*++v) {
			snprintf(why, whysz, "a glob after the last ','");
			return -EINVAL;
		}
	}
	if (!o) {
		snprintf(why, whysz, "one glob or more, separated by ','");
		return -EINVAL;
	}
	return 0;
}

static int rl_number(const char *v, uint64_t max, unsigned *out, char *why,
		     size_t whysz)
{
	uint64_t n;
	int rc = al_parse_u64(v, max, &n);

	if (rc) {
		snprintf(why, whysz, "a whole number from 0 to %llu",
			 (unsigned long long)max);
		return rc == -ERANGE ? -ERANGE : -EINVAL;
	}
	*out = (unsigned)n;
	return 0;
}

static int rl_choice(const char *v, const char *const *words, size_t n,
		     unsigned *out, char *why, size_t whysz)
{
	int i = rl_word(v, words, n);
	size_t o = 0;

	if (i >= 0) {
		*out = (unsigned)i;
		return 0;
	}
	o += (size_t)snprintf(why, whysz, "one of");
	for (size_t k = 0; k < n && o < whysz; k++)
		o += (size_t)snprintf(why + o, whysz - o, "%s %s",
				      k ? "," : "", words[k]);
	return -EINVAL;
}

int npm_rules_set(struct npm_rules *r, const char *key, const char *value,
		  char *why, size_t whysz)
{
	static const char *const onoff[] = { "off", "on" };
	int k = rl_word(key, rl_keys, AL_ARRAY_LEN(rl_keys));
	unsigned u = 0;
	int rc;

	switch (k) {
	case NPM_RULE_STRATEGY:
		rc = rl_choice(value, rl_strategies, AL_ARRAY_LEN(rl_strategies),
			       &u, why, whysz);
		r->strategy = rc ? r->strategy : (enum npm_strategy)u;
		break;
	case NPM_RULE_ALLOW:
		rc = rl_globs(value, r->allow, sizeof(r->allow), why, whysz);
		break;
	case NPM_RULE_IGNORE:
		rc = rl_globs(value, r->ignore, sizeof(r->ignore), why, whysz);
		break;
	case NPM_RULE_AGE:
		rc = rl_number(value, NPM_RULES_AGE_MAX, &r->min_release_age,
			       why, whysz);
		break;
	case NPM_RULE_PRERELEASES:
		rc = rl_choice(value, onoff, 2, &u, why, whysz);
		r->prereleases = rc ? r->prereleases : u == 1;
		break;
	case NPM_RULE_MAX_UPDATES:
		rc = rl_number(value, NPM_RULES_UPDATES_MAX, &r->max_updates,
			       why, whysz);
		break;
	case NPM_RULE_GROUP:
		rc = rl_choice(value, rl_groups, AL_ARRAY_LEN(rl_groups), &u,
			       why, whysz);
		r->group = rc ? r->group : (enum npm_group)u;
		break;
	case NPM_RULE_MAX_GROUPS:
		rc = rl_number(value, NPM_RULES_GROUPS_MAX, &u, why, whysz);
		if (rc == 0 && u == 0) {
			snprintf(why, whysz, "a whole number from 1 to %d",
				 NPM_RULES_GROUPS_MAX);
			rc = -ERANGE;
		}
		r->max_groups = rc ? r->max_groups : u;
		break;
	default:
		return AL_E_NOTFOUND;
	}
	if (rc == 0)
		r->set |= 1u << k;
	return rc;
}

void npm_rules_merge(struct npm_rules *dst, const struct npm_rules *over)
{
	unsigned s = over->set;

	if (s & (1u << NPM_RULE_STRATEGY))
		dst->strategy = over->strategy;
	if (s & (1u << NPM_RULE_ALLOW))
		memcpy(dst->allow, over->allow, sizeof(dst->allow));
	if (s & (1u << NPM_RULE_IGNORE))
		memcpy(dst->ignore, over->ignore, sizeof(dst->ignore));
	if (s & (1u << NPM_RULE_AGE))
		dst->min_release_age = over->min_release_age;
	if (s & (1u << NPM_RULE_PRERELEASES))
		dst->prereleases = over->prereleases;
	if (s & (1u << NPM_RULE_MAX_UPDATES))
		dst->max_updates = over->max_updates;
	if (s & (1u << NPM_RULE_GROUP))
		dst->group = over->group;
	if (s & (1u << NPM_RULE_MAX_GROUPS))
		dst->max_groups = over->max_groups;
	dst->set |= s;
}

/* "a,b" as ["a","b"]. */
static json_t *rl_list_json(const char *list)
{
	json_t *a = json_array();

	for (const char *p = list; a && *p;) {
		size_t n = strcspn(p, ",");

		json_array_append_new(a, json_stringn(p, n));
		p += n + (p[n] == ',');
	}
	return a;
}

json_t *npm_rules_json(const struct npm_rules *r)
{
	return json_pack("{s:s,s:s,s:o,s:o,s:i,s:b,s:i,s:s,s:i}", "policy",
			 npm_policy_name(r->policy), "range_strategy",
			 npm_strategy_name(r->strategy), "allow",
			 rl_list_json(r->allow), "ignore",
			 rl_list_json(r->ignore), "min_release_age",
			 (int)r->min_release_age, "prereleases",
			 r->prereleases, "max_updates", (int)r->max_updates,
			 "group", npm_group_name(r->group), "max_groups",
			 (int)r->max_groups);
}

size_t npm_plan_groups(const struct npm_plan *plan, const char **names,
		       size_t max)
{
	size_t n = 0;

	/* non-major first: it is the group every project can take. */
	for (size_t i = 0; i < plan->nupdates && n < max && !n; i++)
		if (!strcmp(plan->updates[i].group, "non-major"))
			names[n++] = plan->updates[i].group;
	for (size_t i = 0; i < plan->nupdates && n < max; i++) {
		const char *g = plan->updates[i].group;
		bool seen = false;

		for (size_t k = 0; k < n && !seen; k++)
			seen = !strcmp(names[k], g);
		if (!seen)
			names[n++] = g;
	}
	return n;
}

int npm_group_branch(const char *group, char *out, size_t outsz)
{
	static const char keep[] = "abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				   "._-@";
	const char *name = group, *prefix = "airlock/dep-";
	size_t o;

	if (!strcmp(group, "all"))
		return 0;
	if (!strcmp(group, "non-major")) {
		name = "";
		prefix = "airlock/non-major";
	} else if (!strncmp(group, "major:", 6)) {
		name = group + 6;
		prefix = "airlock/major-";
	}
	o = strlen(prefix);
	if (o + strlen(name) + 2 > outsz)
		return -ENAMETOOLONG;
	memcpy(out, prefix, o);
	for (; *name; name++) {
		/* A scope's "/" becomes "+" (npm names have none), so that
		 * @a/b-c and @a-b/c keep branches of their own. */
		char c = *name == '/' ? '+' : strchr(keep, *name) ? *name : '-';

		/* git refuses "..": the second dot goes. */
		if (c == '.' && out[o - 1] == '.')
			c = '-';
		out[o++] = c;
	}
	out[o] = '\0';
	/* Nor may a component end in "." or ".lock". */
	if (out[o - 1] == '.' || (o > 5 && !strcmp(out + o - 5, ".lock"))) {
		out[o++] = '-';
		out[o] = '\0';
	}
	return 1;
}
