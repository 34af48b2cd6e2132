/*
 * regtoken.h - the registry token of airlock.conf's registry_token_file.
 *
 * The token is read from a file the daemon's user owns alone (mode 0600
 * or 0400, a regular file, not a symlink), never from the configuration
 * itself or an environment variable. It lives in the daemon's memory
 * only: the registry client sends it to the registry's own origin, and
 * the egress proxy adds it to the install sandbox's requests for that
 * origin (docs/update-job.md, "Registry client"). Everything that names
 * it (log lines, audit entries, the job record) uses its id, never its
 * value.
 */
#ifndef AL_JOB_REGTOKEN_H
#define AL_JOB_REGTOKEN_H

#include <stddef.h>

#define JOB_REGTOKEN_MAX 4096 /* bytes of the token, at most */

struct job_regtoken {
	/* "Bearer TOKEN": the value of the Authorization header. */
	char header[JOB_REGTOKEN_MAX + 8];
	/* "sha256:" and the first 16 hex digits of the token's SHA-256:
	 * names the token in logs and the audit log. "" when none. */
	char id[24];
};

/*
 * Read path into t. The file holds the token on its first line (a final
 * newline is allowed, nothing after it): printable ASCII without spaces,
 * 1 to JOB_REGTOKEN_MAX bytes. Returns 0, or AL_E_UNSAFE (symlink, not a
 * regular file, another owner, readable or writable by group or others),
 * AL_E_PARSE (empty, too long, other bytes) or a negative errno, with a
 * message naming path and the reason in err (never the token). t holds
 * nothing on error. Wipe it with job_regtoken_wipe.
 */
int job_regtoken_load(const char *path, struct job_regtoken *t, char *err,
		      size_t errsz);

/* Overwrite the token in memory (explicit_bzero); idempotent. */
void job_regtoken_wipe(struct job_regtoken *t);

#endif
