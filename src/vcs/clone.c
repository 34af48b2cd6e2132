/*
 * clone.c - clone a job's repository into its workspace.
 *
 * The clone fetches without checking out, measures what checkout would
 * write (a small pack can inflate to gigabytes), and only then checks
 * out. Checkout is libgit2's: it writes symlinks as links (core.symlinks
 * is probed true on Linux), never writes through a link, and refuses
 * .git path components, so a hostile tree stays inside dest.
 */
#include <errno.h>
#include <git2.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "vcs/vcs.h"
#include "vcs/vcs_cb.h"
#include "vcs/vcs_int.h"

struct tree_size {
	git_odb *odb;
	uint64_t total;
	uint64_t limit;
	int over;
	int rc;
};

static int tree_size_cb(const char *root, const git_tree_entry *e,
			void *payload)
{
	struct tree_size *ts = payload;
	size_t len;
	git_object_t type;

	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	ts->rc = git_odb_read_header(&len, &type, ts->odb,
				     git_tree_entry_id(e));
	if (ts->rc < 0)
		return -1;
	ts->total += len;
	if (ts->total > ts->limit) {
		ts->over = 1;
		return -1;
	}
	return 0;
}

/* Sum of the blob sizes of HEAD's tree, against the fetch limit. */
static int check_tree_size(git_repository *repo, const char *url,
			   char *err, size_t errsz)
{
	struct tree_size ts = { .limit = vcs__fetch_limit() };
	git_object *obj = NULL;
	git_tree *tree = NULL;
	int rc;

	rc = git_revparse_single(&obj, repo, "HEAD^{tree}");
	if (rc < 0)
		goto git_fail;
	tree = (git_tree *)obj;
	rc = git_repository_odb(&ts.odb, repo);
	if (rc < 0)
		goto git_fail;

	rc = git_tree_walk(tree, GIT_TREEWALK_PRE, tree_size_cb, &ts);
	if (ts.over) {
		vcs__seterr(err, errsz, "clone %s: checkout would write more "
			    "than the limit of %llu bytes", url,
			    (unsigned long long)ts.limit);
		rc = AL_E_LIMIT;
		goto out;
	}
	if (rc < 0)
		goto git_fail;
	al_debug("vcs", NULL, "checkout size=%llu",
		 (unsigned long long)ts.total);
	goto out;
git_fail:
	rc = vcs__fail(NULL, rc, "clone", url, err, errsz);
out:
	git_odb_free(ts.odb);
	git_object_free(obj);
	return rc;
}

static int checkout(git_repository *repo, const char *url, char *err,
		    size_t errsz)
{
	git_checkout_options co;
	int rc;

	git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
	/* The work tree is empty and ours: FORCE writes every file of HEAD
	 * without comparing against a baseline that does not exist. */
	co.checkout_strategy = GIT_CHECKOUT_FORCE;
	rc = git_checkout_head(repo, &co);
	if (rc < 0)
		rc = vcs__fail(NULL, rc, "checkout of", url, err, errsz);
	return rc;
}

static int clone_check_args(const char *url, const char *dest,
			    const char *branch, char *err, size_t errsz)
{
	struct stat st;
	int kind = vcs__url_kind(url);

	if (kind < 0) {
		vcs__seterr(err, errsz, "clone: unsupported or malformed "
			    "URL (http, https, file or an absolute path)");
		return kind;
	}
	if (kind == VCS_URL_HTTP && vcs__url_has_userinfo(url)) {
		vcs__seterr(err, errsz, "clone: the URL carries credentials; "
			    "split them off with vcs_url_split");
		return AL_E_UNSAFE;
	}
	if (branch && !vcs_branch_name_ok(branch)) {
		vcs__seterr(err, errsz, "clone %s: invalid branch name", url);
		return AL_E_USAGE;
	}
	if (!dest || !*dest) {
		vcs__seterr(err, errsz, "clone %s: no destination", url);
		return AL_E_USAGE;
	}
	if (lstat(dest, &st) == 0) {
		vcs__seterr(err, errsz, "clone %s: destination %s already "
			    "exists", url, dest);
		return -EEXIST;
	}
	if (errno != ENOENT) {
		kind = -errno;
		vcs__seterr(err, errsz, "clone %s: cannot check destination "
			    "%s: %s", url, dest, al_strerror(kind));
		return kind;
	}
	return 0;
}

int vcs_clone(const char *url, const struct vcs_cred *cred, const char *dest,
	      const char *branch, char *err, size_t errsz)
{
	git_clone_options opts;
	git_repository *repo = NULL;
	struct vcs_cb cb;
	int rc;

	rc = clone_check_args(url, dest, branch, err, errsz);
	if (rc < 0)
		return rc;
	rc = vcs__cb_init(&cb, url, cred);
	if (rc < 0) {
		vcs__seterr(err, errsz, "clone %s: malformed URL", url);
		return rc;
	}

	git_clone_options_init(&opts, GIT_CLONE_OPTIONS_VERSION);
	opts.checkout_opts.checkout_strategy = GIT_CHECKOUT_NONE;
	opts.checkout_branch = branch;
	/* A local source goes through the transport like a remote one: no
	 * hard links, so the workspace shares no inode with the source. */
	opts.local = GIT_CLONE_NO_LOCAL;
	opts.fetch_opts.follow_redirects = GIT_REMOTE_REDIRECT_NONE;
	opts.fetch_opts.proxy_opts.type = GIT_PROXY_NONE;
	vcs__cb_wire(&cb, &opts.fetch_opts.callbacks);

	rc = git_clone(&repo, url, dest, &opts);
	if (rc < 0) {
		rc = vcs__fail(&cb, rc, "clone", url, err, errsz);
		goto out;
	}
	rc = check_tree_size(repo, url, err, errsz);
	if (rc == 0)
		rc = checkout(repo, url, err, errsz);
	if (rc == 0)
		al_info("vcs", NULL, "cloned url=%s branch=%s", url,
			branch ? branch : "HEAD");
out:
	git_repository_free(repo);
	vcs__cb_free(&cb);
	/* dest did not exist before this call, so whatever is there now
	 * is a partial clone of ours. */
	if (rc < 0)
		al_rm_tree(dest);
	return rc;
}
