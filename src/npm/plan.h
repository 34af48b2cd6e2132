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
 * Target choice: the floor is the version written in the spec. If
 * dist-tags.latest is a release (not a prerelease), not deprecated, newer
 * than the floor and the jump is allowed by the policy, it is the target.
 * Otherwise the target is the highest release that is newer than the
 * floor, not newer than latest, not deprecated and allowed by the policy.
 * Policies: patch keeps major.minor, minor keeps major, major allows all.
 */
#ifndef AL_NPM_PLAN_H
#define AL_NPM_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/util.h"
#include "npm/manifest.h"
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

/* "patch", "minor", "major"; AL_E_USAGE for anything else. */
int npm_policy_parse(const char *word, enum npm_policy *out);
const char *npm_policy_name(enum npm_policy policy);
const char *npm_bump_name(enum npm_bump bump);

struct npm_update {
	enum npm_section section;
	char *name;
	char *from;    /* the spec as written */
	char *to;      /* the new spec, same operator */
	char *version; /* the chosen version */
	enum npm_bump bump;
	bool has_install_scripts; /* the chosen version has install hooks */
};

struct npm_skip {
	enum npm_section section;
	char *name;
	char *spec;
	char *reason;
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

/*
 * Plan from a parsed manifest and the packuments of its dependencies
 * (pk[0..npk), looked up by name; a name without one is a skip).
 * Returns 0 or -ENOMEM; plan is empty on error.
 */
int npm_plan_build(const struct npm_manifest *m,
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

/* {"updates":[{section,name,from,to,bump,version,install_scripts}],
 *  "skipped":[{section,name,spec,reason}]}; NULL on allocation failure. */
json_t *npm_plan_json(const struct npm_plan *plan);

void npm_plan_free(struct npm_plan *plan);

#endif
