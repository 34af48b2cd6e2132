/*
 * push.c - push a job's branch to the forge.
 *
 * The remote is built in memory from the URL the job holds, not read
 * from the clone's configuration, and URL rewriting (insteadOf) is
 * skipped: sandboxed code may have edited .git/config to send the push,
 * and with it the token, elsewhere. The credentials callback also checks
 * the origin (vcs.c).
 */
#include <git2.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "vcs/vcs.h"
#include "vcs/vcs_cb.h"
#include "vcs/vcs_int.h"

static int push_check_args(const char *url, const char *branch, char *err,
			   size_t errsz)
{
	int kind = vcs__url_kind(url);

	if (kind < 0) {
		vcs__seterr(err, errsz, "push: unsupported or malformed URL "
			    "(http, https, file or an absolute path)");
		return kind;
	}
	if (kind == VCS_URL_HTTP && vcs__url_has_userinfo(url)) {
		vcs__seterr(err, errsz, "push: the URL carries credentials; "
			    "split them off with vcs_url_split");
		return AL_E_UNSAFE;
	}
	if (!vcs_branch_name_ok(branch)) {
		vcs__seterr(err, errsz, "push %s: invalid branch name", url);
		return AL_E_USAGE;
	}
	return 0;
}

static int make_remote(git_repository *repo, const char *url,
		       git_remote **remote)
{
	git_remote_create_options o;

	git_remote_create_options_init(&o, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	o.repository = repo;
	o.name = NULL;
	o.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF |
		  GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	return git_remote_create_with_opts(remote, url, &o);
}

/* A push libgit2 completed may still have had its ref refused. */
static int check_rejected(struct vcs_cb *cb, const char *url, char *err,
			  size_t errsz)
{
	const char *said;

	if (!cb->rejected[0])
		return 0;
	said = vcs__cb_remote_text(cb);
	vcs__seterr(err, errsz, "push %s: the remote rejected %s%s%s", url,
		    cb->rejected, *said ? "; remote said: " : "", said);
	return AL_E_GIT;
}

static void append_remote_text(struct vcs_cb *cb, char *err, size_t errsz)
{
	const char *said = vcs__cb_remote_text(cb);
	size_t n;

	if (!err || !*said)
		return;
	n = strlen(err);
	if (n + 1 < errsz)
		snprintf(err + n, errsz - n, "; remote said: %s", said);
}

int vcs_push(const char *repo_dir, const char *url,
	     const struct vcs_cred *cred, const char *branch,
	     char *err, size_t errsz)
{
	return vcs_push_branch(repo_dir, url, cred, branch, false, err,
			       errsz);
}

int vcs_push_branch(const char *repo_dir, const char *url,
		    const struct vcs_cred *cred, const char *branch,
		    bool force, char *err, size_t errsz)
{
	char spec[512];
	char *specs[1] = { spec };
	git_strarray refspecs = { specs, 1 };
	git_repository *repo = NULL;
	git_remote *remote = NULL;
	git_push_options po;
	struct vcs_cb cb;
	int rc;

	rc = push_check_args(url, branch, err, errsz);
	if (rc < 0)
		return rc;
	rc = vcs__cb_init(&cb, url, cred);
	if (rc < 0) {
		vcs__seterr(err, errsz, "push %s: malformed URL", url);
		return rc;
	}
	/* "+" replaces the remote's branch even when it is not an
	 * ancestor: the caller checked that the branch is its own. */
	snprintf(spec, sizeof(spec), "%srefs/heads/%s:refs/heads/%s",
		 force ? "+" : "", branch, branch);

	rc = vcs__open_repo(repo_dir, &repo, err, errsz);
	if (rc < 0)
		goto out;
	rc = make_remote(repo, url, &remote);
	if (rc < 0) {
		rc = vcs__fail(NULL, rc, "push: opening", repo_dir, err,
			       errsz);
		goto out;
	}

	git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
	po.follow_redirects = GIT_REMOTE_REDIRECT_NONE;
	po.proxy_opts.type = GIT_PROXY_NONE;
	vcs__cb_wire(&cb, &po.callbacks);
	rc = git_remote_push(remote, &refspecs, &po);
	if (rc < 0) {
		rc = vcs__fail(&cb, rc, "push to", url, err, errsz);
		append_remote_text(&cb, err, errsz);
	} else
		rc = check_rejected(&cb, url, err, errsz);
	if (rc == 0)
		al_info("vcs", NULL, "pushed url=%s branch=%s force=%d", url,
			branch, force);
out:
	git_remote_free(remote);
	git_repository_free(repo);
	vcs__cb_free(&cb);
	return rc;
}
