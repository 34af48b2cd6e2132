/*
 * semver.h - npm-compatible semantic versions and ranges.
 *
 * The semantics are those of node-semver 7.8 (the library npm uses):
 * versions with prerelease and build parts, "loose" parsing (leading
 * zeros, missing hyphen before a prerelease, a leading '=' or spaces),
 * ranges made of comparator sets joined by "||", where a set is
 * space-separated comparators or the sugar forms ^ ~ ~> x X * and
 * hyphen ranges "A - B". A version with a prerelease satisfies a set only
 * if some comparator of that set carries a prerelease on the same
 * major.minor.patch, unless NPM_SEMVER_INCLUDE_PRERELEASE is given.
 *
 * Reading follows node-semver's own sequence of rewrites (semver_parse.c),
 * so that malformed and loose input is accepted, refused or dropped
 * exactly as npm does; "whitespace" is JavaScript's (Unicode spaces and
 * U+FEFF included). A differential test holds this against node-semver.
 *
 * Limits: a version is at most NPM_SEMVER_MAX_LEN UTF-16 units (as in
 * node), a range string at most NPM_RANGE_MAX_LEN bytes (node has no
 * limit); each number at most 2^53-1 (the largest integer node-semver
 * accepts). Past those, AL_E_LIMIT or AL_E_SEMVER.
 */
#ifndef AL_NPM_SEMVER_H
#define AL_NPM_SEMVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NPM_SEMVER_MAX_LEN 256
#define NPM_RANGE_MAX_LEN 4096
#define NPM_SEMVER_MAX_NUM 9007199254740991ULL

enum npm_semver_flags {
	NPM_SEMVER_LOOSE = 1 << 0,
	NPM_SEMVER_INCLUDE_PRERELEASE = 1 << 1,
};

/*
 * A parsed version. pre and build hold the dot-separated identifiers
 * ("" when absent); numeric prerelease identifiers are normalised (loose
 * "01" becomes "1") so that equal versions have equal text.
 */
struct npm_version {
	uint64_t major;
	uint64_t minor;
	uint64_t patch;
	char pre[NPM_SEMVER_MAX_LEN + 1];
	char build[NPM_SEMVER_MAX_LEN + 1];
};

/*
 * Parse s (surrounding whitespace ignored; a leading 'v' accepted, and
 * with NPM_SEMVER_LOOSE also '=' and inner spaces before the numbers).
 * Returns 0, AL_E_LIMIT for an over-long string, AL_E_SEMVER otherwise.
 */
int npm_version_parse(const char *s, unsigned flags, struct npm_version *out);

/* -1, 0 or 1 by semver precedence; build metadata is ignored. */
int npm_version_cmp(const struct npm_version *a, const struct npm_version *b);

/*
 * The normalised text "M.m.p[-pre]" (without build) into out. Returns
 * its length, or -ENOSPC when outsz is too small (out is then "").
 */
int npm_version_format(const struct npm_version *v, char *out,
		       size_t outsz);

enum npm_op {
	NPM_OP_ANY, /* matches every version (the empty comparator) */
	NPM_OP_EQ,
	NPM_OP_LT,
	NPM_OP_LE,
	NPM_OP_GT,
	NPM_OP_GE,
};

struct npm_comparator {
	enum npm_op op;
	struct npm_version v;
};

/* Comparators that must all hold (an intersection). */
struct npm_comparator_set {
	struct npm_comparator *c;
	size_t n;
};

/* A union of comparator sets, desugared as node-semver does. */
struct npm_range {
	struct npm_comparator_set *set;
	size_t nset;
	unsigned flags;
};

/*
 * Parse a range. On success the caller owns out and frees it with
 * npm_range_free. Returns 0, AL_E_SEMVER for an invalid range, AL_E_LIMIT
 * for an over-long one, -ENOMEM. On error out is empty.
 */
int npm_range_parse(const char *s, unsigned flags, struct npm_range *out);
void npm_range_free(struct npm_range *r);

/* Whether v satisfies r (prerelease rule applied per set). */
bool npm_range_satisfies(const struct npm_range *r,
			 const struct npm_version *v);

/* Convenience: parse both with flags; false when either is invalid. */
bool npm_satisfies(const char *range, const char *version, unsigned flags);

/*
 * The highest of versions[0..n) that satisfies r; unparsable entries are
 * ignored. Sets *idx. Returns 0 or AL_E_NOTFOUND.
 */
int npm_range_max_satisfying(const struct npm_range *r,
			     const char *const versions[], size_t n,
			     size_t *idx);

/*
 * The lowest version that could satisfy r (node-semver's minVersion, the
 * range's floor), into out. Returns 0, AL_E_NOTFOUND when nothing can
 * satisfy the range, or AL_E_SEMVER where node-semver throws (the floor
 * of ">M.m.9007199254740991" with flags set).
 */
int npm_range_min_version(const struct npm_range *r, struct npm_version *out);

/*
 * The desugared range as node-semver prints it: comparators joined by
 * ' ', sets by "||", "*" for the range that matches everything. Returns
 * the length or -ENOSPC.
 */
int npm_range_format(const struct npm_range *r, char *out, size_t outsz);

/*
 * One primitive comparator as node-semver's Comparator class reads it:
 * "" (any version) or an optional < > <= >= = followed by a full version
 * (no sugar, no x-ranges). Returns 0 or AL_E_SEMVER.
 */
int npm_comparator_parse(const char *s, unsigned flags,
			 struct npm_comparator *out);

/*
 * Whether two comparators can hold together, by node-semver's rules
 * (Comparator.intersects), including its quirk that an exact prerelease
 * version does not meet a bound without a prerelease on the same
 * major.minor.patch unless NPM_SEMVER_INCLUDE_PRERELEASE is in flags.
 */
bool npm_comparator_intersects(const struct npm_comparator *a,
			       const struct npm_comparator *b,
			       unsigned flags);

/*
 * Whether some set of a and some set of b, each satisfiable, have every
 * pair of comparators intersecting (node-semver's intersects). The flags
 * of a apply.
 */
bool npm_range_intersects(const struct npm_range *a,
			  const struct npm_range *b);

enum npm_outside {
	NPM_OUTSIDE_HIGH, /* gtr: v is above every version r admits */
	NPM_OUTSIDE_LOW,  /* ltr: v is below every version r admits */
};

/* node-semver's outside(), gtr() and ltr(): false when v satisfies r. */
bool npm_range_outside(const struct npm_range *r,
		       const struct npm_version *v, enum npm_outside hilo);

#endif
