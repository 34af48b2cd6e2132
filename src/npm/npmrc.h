/*
 * npmrc.h - the release-age settings of a repository's .npmrc.
 *
 * npm reads the project's .npmrc when the job refreshes the lockfile in
 * the sandbox. Its cooldown settings make npm refuse every version
 * published too recently (ETARGET when a range admits nothing older),
 * so the plan reads the same two keys and never chooses such a version:
 *
 *   min-release-age = DAYS   a number of days, a fraction allowed; 0 is
 *                            off (npm 11's key; the value is a Number)
 *   before = DATE            only versions published on or before DATE;
 *                            wins over min-release-age in the same file,
 *                            as in npm 11.19
 *
 * DATE is read in the forms whose meaning does not depend on a time
 * zone: YYYY-MM-DD (midnight UTC, as JavaScript reads it) or
 * YYYY-MM-DDTHH:MM[:SS[.fff]] followed by Z or +HH:MM / -HH:MM.
 *
 * The file is the repository's, so hostile: at most NPM_NPMRC_MAX_SIZE
 * bytes are read, never through a symlink; every other key is ignored,
 * as is everything under a [section] (npm nests those keys) and a value
 * of the two keys that is not in the forms above, which is said in note.
 */
#ifndef AL_NPM_NPMRC_H
#define AL_NPM_NPMRC_H

#include <stddef.h>
#include <stdint.h>

#define NPM_NPMRC_NAME ".npmrc"
#define NPM_NPMRC_MAX_SIZE (1u << 20)
#define NPM_NPMRC_AGE_MAX_DAYS 10000000 /* past this, not understood */

struct npm_npmrc {
	int64_t age_ms;    /* min-release-age in ms; 0 = none */
	int64_t before_ms; /* before, ms since the epoch; 0 = none */
	char age[32];      /* the value as written, for reasons: "7" */
	char before[64];
	char note[256];    /* what was not understood, "" if nothing */
};

/*
 * Read len bytes of .npmrc text into out (reset first). Never fails:
 * what cannot be read is left out and said in out->note.
 */
void npm_npmrc_parse(const char *text, size_t len, struct npm_npmrc *out);

/*
 * Read .npmrc beneath repo_dfd (al_read_beneath: no symlink, a regular
 * file, at most NPM_NPMRC_MAX_SIZE bytes) and parse it. A missing file
 * leaves out empty. Returns 0 or -ENOMEM; a file that cannot be read is
 * a note, not an error.
 */
int npm_npmrc_load(int repo_dfd, struct npm_npmrc *out);

/*
 * The newest publish time npm accepts under rc at now_ms (before wins,
 * else now_ms - age_ms), or 0 when rc sets no cooldown.
 */
int64_t npm_npmrc_cutoff(const struct npm_npmrc *rc, int64_t now_ms);

#endif
