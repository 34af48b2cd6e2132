/*
 * vcs.h - clone, commit and push with libgit2, in the daemon.
 *
 * Clone and push run in the daemon, never in a sandbox, because they hold
 * the forge token (THREATS.md, threat 7). The token reaches libgit2 only
 * through its credentials callback: it is never part of a URL that is
 * stored (.git/config of the clone), logged or shown, and no child process
 * is spawned, so it is in no argv or environment.
 *
 * Supported remotes: http://, https://, file:// and absolute local paths.
 * Other transports (ssh, git://) are refused with AL_E_USAGE.
 *
 * Errors: functions return 0, a negative errno or an AL_E_* code, and
 * write a one-line, terminal-safe explanation into err (errsz bytes) when
 * err is not NULL. Authentication failures return -EACCES; a server
 * that cannot be reached, a connection that broke, an HTTP 5xx or 429
 * return AL_E_UNAVAILABLE (worth trying again later).
 */
#ifndef AL_VCS_VCS_H
#define AL_VCS_VCS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Credentials for one remote. The strings are borrowed: the caller owns
 * them, keeps them alive across the call and wipes the secret after.
 * secret NULL or "" means "no credentials": a remote that asks for them
 * then fails with a clear error instead of a prompt.
 */
struct vcs_cred {
	const char *username;
	const char *secret;
};

/* Credentials that were written into a URL, once separated from it. */
#define VCS_URL_CRED_MAX 512
struct vcs_url_cred {
	char username[VCS_URL_CRED_MAX];
	char secret[VCS_URL_CRED_MAX];
};

/* Longest URL accepted, in bytes including the terminator. */
#define VCS_URL_MAX 4096
/* Largest work-tree file vcs_commit_branch reads. */
#define VCS_MAX_FILE (64u << 20)
/* Default cap on the bytes one clone may fetch; see vcs_set_fetch_limit. */
#define VCS_DEFAULT_FETCH_LIMIT ((uint64_t)4 << 30)

/*
 * Initialise libgit2 (reference counted, like git_libgit2_init) and cut
 * it off from every configuration file outside the repository: the
 * system, global and XDG files of whoever runs the daemon could redirect
 * a clone (url.*.insteadOf), add a proxy or change checkout behaviour.
 * Returns 0 or AL_E_GIT.
 */
int vcs_init(void);
void vcs_shutdown(void);

/*
 * Set from a signal handler to abort clones and pushes while data flows
 * (libgit2 asks between packets; a server that sends nothing is not
 * interrupted). The call fails with AL_E_INTERRUPTED.
 */
extern volatile sig_atomic_t vcs_cancel;

/*
 * Cap the bytes a single clone may receive (packfile and objects); a
 * clone over the cap stops and fails with AL_E_LIMIT. 0 restores the
 * default. Process-wide; set it before starting clones.
 */
void vcs_set_fetch_limit(uint64_t bytes);

/*
 * Fill c from the environment: username from AIRLOCK_GIT_USER (default
 * "x-access-token", what forges expect with a token), secret from
 * AIRLOCK_GIT_TOKEN or NULL when unset or empty. The pointers point into
 * the environment. Always returns 0.
 */
int vcs_cred_from_env(struct vcs_cred *c);

/*
 * Split an http(s) URL into a clean URL without userinfo (written into
 * clean, cleansz bytes) and the percent-decoded user and password
 * (written into uc when not NULL; empty strings when absent). Other
 * supported URLs are copied unchanged. Errors: AL_E_USAGE for an empty
 * or unsupported URL, AL_E_UNSAFE for control characters or spaces,
 * AL_E_PARSE for bad percent-escapes, AL_E_LIMIT when an output is too
 * small. uc is wiped on error; the caller wipes it after use
 * (vcs_url_cred_wipe).
 */
int vcs_url_split(const char *url, char *clean, size_t cleansz,
		  struct vcs_url_cred *uc);
void vcs_url_cred_wipe(struct vcs_url_cred *uc);

/*
 * Choose the credentials for a job: the environment's token when there is
 * one, else the password from the URL (with the URL's user name, or the
 * environment's when the URL gave none). out borrows from env and uc.
 */
void vcs_cred_pick(struct vcs_cred *out, const struct vcs_cred *env,
		   const struct vcs_url_cred *uc);

/* Non-zero when name is a valid branch name (as git_branch_name_is_valid
 * judges it) that does not start with '-'. */
int vcs_branch_name_ok(const char *name);

/*
 * Clone url into dest, which must not exist (-EEXIST), checking out
 * branch, or the remote's HEAD when branch is NULL. url must carry no
 * userinfo (AL_E_UNSAFE): split it first. cred may be NULL.
 *
 * A hostile repository cannot write outside dest: checkout creates
 * symlinks as links and never writes through one, refuses .git path
 * components, and the fetch is capped (vcs_set_fetch_limit). Local paths
 * are cloned through the transport, not by hard-linking objects, so the
 * workspace shares no inode with the source. Hooks, submodules and
 * filter drivers are not run. Off-site redirects are not followed, and
 * credentials are offered only to the URL's own scheme, host and port.
 *
 * On failure dest is removed again if this call created it.
 */
int vcs_clone(const char *url, const struct vcs_cred *cred, const char *dest,
	      const char *branch, char *err, size_t errsz);

/*
 * Commit, on a new branch, HEAD's tree with only paths (npaths relative
 * paths, no "..", no .git component) replaced by their content in the
 * work tree of repo_dir. The files are read beneath repo_dir refusing
 * symlinks in any component (AL_E_UNSAFE), at most VCS_MAX_FILE bytes
 * each; the executable bit is kept. Neither the index file, the work
 * tree nor HEAD is touched. The branch must not exist yet (AL_E_EXISTS)
 * and must be a valid name (AL_E_USAGE). The commit id is written in hex
 * into commit_hex (41 bytes).
 */
int vcs_commit_branch(const char *repo_dir, const char *branch,
		      const char *message, const char *const *paths,
		      size_t npaths, const char *author_name,
		      const char *author_email, char *commit_hex,
		      char *err, size_t errsz);

/*
 * The same, on top of the commit base_hex (full hex id) instead of HEAD.
 * A job records the clone's HEAD with vcs_head before any sandbox runs
 * and passes it here, so a HEAD moved by sandboxed code is not built on.
 */
int vcs_commit_branch_at(const char *repo_dir, const char *base_hex,
			 const char *branch, const char *message,
			 const char *const *paths, size_t npaths,
			 const char *author_name, const char *author_email,
			 char *commit_hex, char *err, size_t errsz);

/* The commit id HEAD of repo_dir resolves to, in hex (41 bytes). */
int vcs_head(const char *repo_dir, char *commit_hex, char *err,
	     size_t errsz);

/*
 * Push refs/heads/branch of repo_dir to the same name at url (no
 * userinfo; credentials through cred). A refusal by the remote (a hook,
 * a protected branch, a non-fast-forward) returns AL_E_GIT with the
 * remote's own reason, and its "remote:" messages, in err.
 */
int vcs_push(const char *repo_dir, const char *url,
	     const struct vcs_cred *cred, const char *branch,
	     char *err, size_t errsz);

/*
 * The same; with force the remote's branch is replaced even when the
 * new commit does not descend from it ("+" refspec).
 */
int vcs_push_branch(const char *repo_dir, const char *url,
		    const struct vcs_cred *cred, const char *branch,
		    bool force, char *err, size_t errsz);

/* What the remote's branch is, next to a commit meant for it. */
#define VCS_BRANCH_TABLE(X)                                                \
	X(VCS_BRANCH_NONE, "none")         /* the remote has no such branch */ \
	X(VCS_BRANCH_SAME, "same")         /* its tip has the commit's tree */ \
	X(VCS_BRANCH_OURS, "ours")         /* differs; its tip is ours */      \
	X(VCS_BRANCH_FOREIGN, "foreign")   /* its tip is someone else's */

enum vcs_branch_state {
#define VCS_X_BRANCH(e, word) e,
	VCS_BRANCH_TABLE(VCS_X_BRANCH)
#undef VCS_X_BRANCH
};

const char *vcs_branch_state_name(enum vcs_branch_state s);

/*
 * Compare the remote's branch, as the clone of repo_dir fetched it
 * (refs/remotes/origin/BRANCH), with the commit commit_hex: the same
 * tree, or else whether its tip's author and committer both have the
 * e-mail address email (a tip someone else made or rebased is theirs).
 * The tip's id goes to tip_hex (41 bytes; "" for VCS_BRANCH_NONE).
 * Returns 0, AL_E_USAGE for an invalid branch name, or a libgit2
 * failure (AL_E_GIT) with err set.
 */
int vcs_branch_state(const char *repo_dir, const char *branch,
		     const char *commit_hex, const char *email,
		     enum vcs_branch_state *out, char *tip_hex, char *err,
		     size_t errsz);

#endif
