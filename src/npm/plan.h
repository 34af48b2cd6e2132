/*
 * plan.h - decide which dependency specs of a package.json to raise.
 *
 * Only specs of the forms ^X.Y.Z, ~X.Y.Z, =X.Y.Z, >=X.Y.Z and a bare
 * X.Y.Z are rewritten, keeping their operator; an npm alias
 * "npm:NAME@RANGE" of those forms is looked up as NAME (never under its
 * key) and only RANGE is rewritten. Every other spec (unions, hyphen and
 * x-ranges, "*", empty, git and GitHub shorthands, file:, link:, paths,
 * tarball URLs, workspace:, nested aliases, dist-tags such as "latest")
 * and every registry failure becomes a skip with a reason; one package's
 * trouble never fails the plan.
 *
 * Target choice: the floor is the version written in the spec. The
 * target is the highest version newer than the floor that is not
 * deprecated, not newer than dist-tags.latest, allowed by the policy and
 * by the rules (struct npm_rules: a release unless prereleases are on or
 * the floor is a prerelease of the same major.minor.patch, old enough
 * for min_release_age and for the repository's .npmrc, the stricter of
 * the two, and able to run here by its engines.node); a prerelease that
 * may be taken is not capped by latest.
 *
 * engines.node: when the root package.json has a valid engines.node, a
 * version whose engines.node cannot intersect it is dropped; when the
 * Node that runs the tests is known (struct npm_rules.node), a version
 * whose engines.node it does not satisfy is dropped too (airlock cannot
 * test it). With either check on, an engines.node that is no valid
 * range drops the version (npm counts it as unmet); a version without
 * engines is kept. Dropped versions are passed over like young ones:
 * the next older version may be the target.
 *
 * Policies: patch keeps major.minor, minor keeps major, major allows
 * all. How the spec is rewritten is the rules' range strategy.
 */
#ifndef AL_NPM_PLAN_H
#define AL_NPM_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/util.h"
#include "npm/lockfile.h"
#include "npm/manifest.h"
#include "npm/npmrc.h"
#include "npm/registry.h"

#define NPM_POLICY_TABLE(X)                                                \
	X(NPM_POLICY_PATCH, "patch")                                           \
	X(NPM_POLICY_MINOR, "minor")                                           \
	X(NPM_POLICY_MAJOR, "major")

enum npm_policy {
#define NPM_X_POL(e, word) e,
	NPM_POLICY_TABLE(NPM_X_POL)
#undef NPM_X_POL
};

/* The size of a jump: major differs, else minor differs, else patch. */
#define NPM_BUMP_TABLE(X)                                                  \
	X(NPM_BUMP_PATCH, "patch")                                             \
	X(NPM_BUMP_MINOR, "minor")                                             \
	X(NPM_BUMP_MAJOR, "major")

enum npm_bump {
#define NPM_X_BUMP(e, word) e,
	NPM_BUMP_TABLE(NPM_X_BUMP)
#undef NPM_X_BUMP
};

/*
 * Range strategies (airlock.conf range_strategy; see docs/update-job.md,
 * "Policies"): how a simple spec (^, ~, =, >=, exact) is rewritten for
 * its target. auto is replace with a lockfile and bump without one.
 */
#define NPM_STRATEGY_TABLE(X)                                              \
	X(NPM_STRATEGY_AUTO, "auto")                                           \
	X(NPM_STRATEGY_BUMP, "bump")                                           \
	X(NPM_STRATEGY_REPLACE, "replace")                                     \
	X(NPM_STRATEGY_WIDEN, "widen")                                         \
	X(NPM_STRATEGY_PIN, "pin")

enum npm_strategy {
#define NPM_X_STRAT(e, word) e,
	NPM_STRATEGY_TABLE(NPM_X_STRAT)
#undef NPM_X_STRAT
};

/*
 * Which updates one job proposes together (airlock.conf group): all in
 * one group; non-major updates together and each package's major alone;
 * none: each package alone. A job tests and proposes up to max_groups
 * groups, each on a branch of its own (npm_plan_groups gives the order),
 * and reports the others as deferred.
 */
#define NPM_GROUP_TABLE(X)                                                 \
	X(NPM_GROUP_ALL, "all")                                                \
	X(NPM_GROUP_NON_MAJOR, "non-major")                                    \
	X(NPM_GROUP_NONE, "none")

enum npm_group {
#define NPM_X_GROUP(e, word) e,
	NPM_GROUP_TABLE(NPM_X_GROUP)
#undef NPM_X_GROUP
};

/* The airlock.conf keys of struct npm_rules; bit i of .set is key i. */
#define NPM_RULE_KEYS(X)                                                   \
	X(NPM_RULE_STRATEGY, "range_strategy")                                 \
	X(NPM_RULE_ALLOW, "allow")                                             \
	X(NPM_RULE_IGNORE, "ignore")                                           \
	X(NPM_RULE_AGE, "min_release_age")                                     \
	X(NPM_RULE_PRERELEASES, "prereleases")                                 \
	X(NPM_RULE_MAX_UPDATES, "max_updates")                                 \
	X(NPM_RULE_GROUP, "group")                                             \
	X(NPM_RULE_MAX_GROUPS, "max_groups")

enum npm_rule_key {
#define NPM_X_RULE(e, word) e,
	NPM_RULE_KEYS(NPM_X_RULE)
#undef NPM_X_RULE
	NPM_RULE_NKEYS
};

#define NPM_RULES_LIST_MAX 1024  /* allow, ignore: "glob,glob,..." */
#define NPM_RULES_AGE_MAX 3650   /* days */
#define NPM_RULES_UPDATES_MAX 10000
#define NPM_RULES_GROUPS_MAX 64
#define NPM_RULES_GROUPS_DEFAULT 4

/*
 * The update policy of one job: the largest bump (--policy) and the
 * airlock.conf rules. A plain struct: copy it to override it.
 */
struct npm_rules {
	enum npm_policy policy;
	enum npm_strategy strategy;
	/* Comma-separated globs (fnmatch(3), '*' also matches '/') over
	 * registry package names; allow "" admits every package. */
	char allow[NPM_RULES_LIST_MAX];
	char ignore[NPM_RULES_LIST_MAX];
	unsigned min_release_age;  /* days; 0 = any age */
	bool prereleases;          /* prerelease targets (default off) */
	unsigned max_updates;      /* per job; 0 = no cap */
	enum npm_group group;
	unsigned max_groups;       /* groups per job, 1..64 (default 4) */
	int64_t now_ms;            /* the clock for ages; 0 = read it */
	unsigned set;              /* bits (1 << enum npm_rule_key) set */
	/* Not airlock.conf keys, and never merged: */
	char node[32];             /* the Node that runs the tests, "20.1.0";
				    * "" = ask node_probe, else unknown */
	/* Called at most once per plan, and only when node is "" and a
	 * candidate's engines.node must be held against the Node: its
	 * version into out ("" = unknown, not checked). May be NULL. */
	void (*node_probe)(void *ctx, char *out, size_t outsz);
	void *node_ctx;
	struct npm_npmrc npmrc;    /* the repository's .npmrc; the
				    * workspace planners take the project's */
};

/* The defaults: policy, auto, every package, no age, no prereleases,
 * no cap, one group, at most NPM_RULES_GROUPS_DEFAULT groups a job. */
void npm_rules_init(struct npm_rules *r, enum npm_policy policy);

/*
 * Set one airlock.conf key. Returns 0, AL_E_NOTFOUND when key is none of
 * NPM_RULE_KEYS, -EINVAL or -ERANGE for a bad value (why says what is
 * expected).
 */
int npm_rules_set(struct npm_rules *r, const char *key, const char *value,
		  char *why, size_t whysz);

/* The keys over set in over replace those of dst. */
void npm_rules_merge(struct npm_rules *dst, const struct npm_rules *over);

/* {"range_strategy":..,"allow":[..],...}; NULL on allocation failure. */
json_t *npm_rules_json(const struct npm_rules *r);

const char *npm_strategy_name(enum npm_strategy s);
const char *npm_group_name(enum npm_group g);

/*
 * The branch a group's proposal lives on from job to job:
 * "airlock/non-major", "airlock/major-NAME" (group "major:NAME") and
 * "airlock/dep-NAME" (group = none), NAME with '/' and every byte but
 * letters, digits, '.', '_', '-' and '@' as '-', so that a scoped name
 * makes one ref component and no ref is a prefix directory of another.
 * Returns 1 with the name in out, 0 for group "all" (it has no stable
 * branch: each job names its own), -ENAMETOOLONG when out is too small.
 */
int npm_group_branch(const char *group, char *out, size_t outsz);

/* "patch", "minor", "major"; AL_E_USAGE for anything else. */
int npm_policy_parse(const char *word, enum npm_policy *out);
const char *npm_policy_name(enum npm_policy policy);
const char *npm_bump_name(enum npm_bump bump);

/*
 * What an update changes: "range" rewrites the spec in package.json,
 * "widen" appends " || ^NEW" to a peer range (support is added, never
 * dropped), "lockfile-only" leaves package.json alone because the new
 * version is already in range; only the lockfile moves.
 */
#define NPM_KIND_TABLE(X)                                                  \
	X(NPM_KIND_RANGE, "range")                                             \
	X(NPM_KIND_WIDEN, "widen")                                             \
	X(NPM_KIND_LOCKFILE, "lockfile-only")

enum npm_update_kind {
#define NPM_X_KIND(e, word) e,
	NPM_KIND_TABLE(NPM_X_KIND)
#undef NPM_X_KIND
};

const char *npm_kind_name(enum npm_update_kind kind);

struct npm_update {
	enum npm_section section;
	enum npm_update_kind kind;
	char *file;    /* "package.json", "packages/a/package.json" */
	char *path;    /* overrides: the key chain; else NULL */
	char *locked;  /* the version the lockfile had; NULL without one */
	char *note;    /* something the reviewer must know; NULL if none */
	char *name;
	char *from;    /* the spec as written */
	char *to;      /* the new spec, same operator */
	char *version; /* the chosen version */
	enum npm_bump bump;
	bool has_install_scripts; /* the chosen version has install hooks */
	char *group;   /* the group it belongs to: "all", "non-major",
			* "major:NAME" or "NAME" */
};

struct npm_skip {
	enum npm_section section;
	char *file;
	char *path; /* overrides: the key chain; else NULL */
	char *name;
	char *spec;
	char *reason;
	const char *rule; /* the airlock.conf key (or "policy") that held it
			   * back; NULL for reasons of form or registry */
};

/* Owned arrays; free with npm_plan_free. Strings are job data: sanitise
 * before printing them to a terminal. */
struct npm_plan {
	struct npm_update *updates;
	size_t nupdates;
	struct npm_skip *skips;
	size_t nskips;
	/* Skips because the registry could not be asked or answered badly
	 * (not "not found"): a plan with these cannot claim "up to date". */
	size_t nregistry_errors;
	/* Of those, the ones where the registry could not be reached or
	 * kept failing (AL_E_UNAVAILABLE: may pass, worth a later try). */
	size_t nregistry_unavailable;
	/* The Node version engines.node was held against; "" when none
	 * was known or none had to be asked. */
	char node[32];
};

/*
 * Why spec cannot be rewritten, or NULL when it can; on NULL, *op is set
 * to its operator ("^", "~", "=", ">=" or "") and floor to its version
 * (for an alias, those of the range after the last '@').
 */
const char *npm_spec_classify(const char *spec, const char **op,
			      char *floor, size_t floorsz);

/*
 * For "npm:NAME@RANGE" (NAME may be scoped, "@scope/pkg"): NAME into
 * name and the offset of RANGE in spec (strlen(spec) when there is no
 * '@RANGE'). Returns 0, AL_E_NOTFOUND when spec is no alias, AL_E_PARSE
 * when the name is empty, holds a space or ':', is a scope without a
 * '/', or does not fit namesz.
 */
int npm_spec_alias(const char *spec, char *name, size_t namesz,
		   size_t *range_off);

/* One package.json of a project: the root or a workspace member. */
struct npm_project_file {
	char *path;          /* relative to the repository root */
	char *dir;           /* its directory: "" or "packages/a" */
	struct al_buf text;  /* as read */
	struct npm_manifest m;
	struct al_buf out;   /* rewritten; valid when changed */
	bool changed;
};

/* Everything the plan reads from a checkout. */
struct npm_project {
	struct npm_project_file *files; /* [0] is the root package.json */
	size_t nfiles;
	bool has_lock;
	struct npm_lock lock;
	char **notes;        /* workspace patterns not followed, .npmrc
			      * values not understood, and why */
	size_t nnotes;
	struct npm_npmrc npmrc; /* its .npmrc (npm_npmrc_load) */
};

#define NPM_PROJECT_MAX_FILES 512

/*
 * Read the project beneath repo_dfd, never through a symlink (see
 * docs/update-job.md, "Workspace paths"): package.json, the package.json
 * of every workspace its "workspaces" names (a directory, or every
 * directory in one: "DIR/" then a star; other patterns become notes),
 * package-lock.json when there is one, and the root's .npmrc (a note
 * says what of it was not understood or not read).
 * Returns 0 or an error with a message in err naming the file.
 */
int npm_project_load(int repo_dfd, struct npm_project *pj, char *err,
		     size_t errsz);
void npm_project_free(struct npm_project *pj);

/* Append a copy of text to pj's notes. Returns 0 or -ENOMEM. */
int npm_project_note(struct npm_project *pj, const char *text);

/*
 * Plan from a parsed manifest and the packuments of its dependencies
 * (pk[0..npk), looked up by name; a name without one is a skip).
 * Returns 0 or -ENOMEM; plan is empty on error.
 */
int npm_plan_build(const struct npm_manifest *m,
		   const struct npm_packument *pk, size_t npk,
		   enum npm_policy policy, struct npm_plan *plan);

/*
 * The same under rules: allow and ignore, prereleases, min_release_age
 * and rules->npmrc (release times from the packuments; a version
 * without one is held back), engines.node against m's and rules->node,
 * the range strategy, then npm_plan_select.
 */
int npm_plan_build_rules(const struct npm_manifest *m,
			 const struct npm_packument *pk, size_t npk,
			 const struct npm_rules *rules, struct npm_plan *plan);

/*
 * Apply the group and max_updates rules to a whole plan: the updates of
 * the groups after the first max_groups (npm_plan_groups' order) become
 * skips "deferred to a later job: group G" (rule max_groups), then those
 * over max_updates become skips "over max_updates = N". Returns 0 or
 * -ENOMEM.
 */
int npm_plan_select(struct npm_plan *plan, const struct npm_rules *rules);

/*
 * The groups of plan in the order a job takes them: "non-major" first,
 * then the others in the order of their first update. names[i] borrows
 * the group string of the plan's first update of that group. Returns the
 * number of groups written, at most max.
 */
size_t npm_plan_groups(const struct npm_plan *plan, const char **names,
		       size_t max);

/*
 * One file of a project, appended to plan (not reset): file and dir name
 * it, lock (NULL without one) gives the locked versions, members are the
 * workspace members' names. Returns 0 or -ENOMEM.
 */
int npm_plan_build_file(const struct npm_manifest *m, const char *file,
			const char *dir, const struct npm_lock *lock,
			const char *const *members, size_t nmembers,
			const struct npm_packument *pk, size_t npk,
			enum npm_policy policy, struct npm_plan *plan);

/*
 * The whole step: parse manifest (len bytes), fetch every rewritable
 * dependency's packument from the registry ro describes (its url and
 * the client's limits, cache and retries) in parallel, plan, and when
 * there are updates write the rewritten manifest into new_manifest (left
 * untouched when there are none). Returns 0, or the manifest's parse
 * error (AL_E_PARSE, AL_E_LIMIT), AL_E_USAGE for a bad registry URL,
 * -ENOMEM, with a message in err. Registry failures of single packages
 * are skips, not errors.
 */
int npm_plan_project(const struct npm_registry_opts *ro, const char *manifest,
		     size_t len, enum npm_policy policy,
		     struct npm_plan *plan, struct al_buf *new_manifest,
		     char *err, size_t errsz);

/*
 * The same for a whole project (npm_project_load): every file is planned,
 * names that are workspace members are never asked of the registry, and
 * with a lockfile an in-range newer version is a lockfile-only update.
 * Each changed file's new bytes go to its out, with changed set.
 */
int npm_plan_workspace(const struct npm_registry_opts *ro,
		       struct npm_project *pj, enum npm_policy policy,
		       struct npm_plan *plan, char *err, size_t errsz);

/*
 * npm_plan_workspace under rules (see npm_plan_build_rules), with the
 * project's .npmrc in place of rules->npmrc and the root package.json's
 * engines.node for every file; release times are asked of the registry
 * when a cooldown is set. A root engines.node that is no valid range is
 * a note of pj, and no check. Each file's out and changed hold the first
 * group's rewrite (npm_project_rewrite); a job rewrites again for each
 * group.
 */
int npm_plan_workspace_rules(const struct npm_registry_opts *ro,
			     struct npm_project *pj,
			     const struct npm_rules *rules,
			     struct npm_plan *plan, char *err, size_t errsz);

/*
 * Set every file's out and changed in pj to its rewrite by the updates of
 * plan in group (NULL: every update; two groups may update one spec, so
 * a plan of several groups needs a group). Returns 0, -ENOMEM, or the
 * rewrite's error with a message in err.
 */
int npm_project_rewrite(struct npm_project *pj, const struct npm_plan *plan,
			const char *group, char *err, size_t errsz);

/* {"updates":[{file,section,name,from,to,kind,bump,version,
 *  install_scripts,group[,path][,locked][,note]}],
 *  "skipped":[{file,section,name,spec,reason[,rule][,path]}]}; NULL on
 *  allocation failure. */
json_t *npm_plan_json(const struct npm_plan *plan);

void npm_plan_free(struct npm_plan *plan);

#endif
