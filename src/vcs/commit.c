/*
 * commit.c - record a job's changed files as a commit on a new branch.
 *
 * By the time this runs, sandboxed code has had the work tree (and
 * possibly .git) in its hands. So the repository is opened at
 * repo_dir/.git only when that is a real directory (not a gitfile or a
 * link pointing elsewhere), the files are read beneath repo_dir itself
 * (never beneath a core.worktree the repository's config could name),
 * without following symlinks, and the commit is built from a base tree
 * plus the named files only: nothing else the sandbox changed is taken.
 */
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "vcs/vcs.h"
#include "vcs/vcs_cb.h"
#include "vcs/vcs_int.h"

/* Relative, no empty, "." or ".." component, no .git component. */
static int path_ok(const char *path)
{
	const char *p = path;
	size_t n;

	if (!path || !*path || *path == '/' || strlen(path) >= 4096)
		return 0;
	while (*p) {
		n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && strncmp(p, "..", 2) == 0) ||
		    (n == 4 && strncasecmp(p, ".git", 4) == 0))
			return 0;
		p += n;
		if (*p == '/')
			p++;
		else
			break;
		if (!*p)
			return 0;	/* trailing slash */
	}
	return 1;
}

/*
 * Read one work-tree file. O_NONBLOCK keeps a planted FIFO from hanging
 * the daemon at open; fstat then refuses anything not a regular file.
 */
static int read_work_file(int dirfd, const char *path, struct al_buf *b,
			  unsigned int *mode)
{
	struct stat st;
	char chunk[65536];
	ssize_t n;
	int fd, rc = 0;

	fd = al_open_beneath(dirfd, path, O_RDONLY | O_NONBLOCK, 0);
	if (fd < 0)
		return (fd == -ELOOP || fd == -EXDEV || fd == -EINVAL) ?
			AL_E_UNSAFE : fd;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = AL_E_UNSAFE;
		goto out;
	}
	*mode = (st.st_mode & S_IXUSR) ? GIT_FILEMODE_BLOB_EXECUTABLE :
					 GIT_FILEMODE_BLOB;

	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (b->len + (size_t)n > VCS_MAX_FILE) {
			rc = AL_E_LIMIT;
			goto out;
		}
		rc = al_buf_append(b, chunk, (size_t)n);
		if (rc < 0)
			goto out;
	}
out:
	close(fd);
	return rc;
}

int vcs__open_repo(const char *repo_dir, git_repository **repo,
		  char *err, size_t errsz)
{
	char gitdir[4096];
	struct stat st;
	int n, rc;

	n = snprintf(gitdir, sizeof(gitdir), "%s/.git", repo_dir);
	if (n < 0 || (size_t)n >= sizeof(gitdir)) {
		vcs__seterr(err, errsz, "%s: path too long", repo_dir);
		return AL_E_LIMIT;
	}
	if (lstat(gitdir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		vcs__seterr(err, errsz, "%s: .git is not a directory (a "
			    "gitfile or link is refused)", repo_dir);
		return AL_E_UNSAFE;
	}
	rc = git_repository_open_ext(repo, gitdir,
				     GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	if (rc < 0)
		return vcs__fail(NULL, rc, "open", repo_dir, err, errsz);
	return 0;
}

int vcs_head(const char *repo_dir, char *commit_hex, char *err,
	     size_t errsz)
{
	git_repository *repo = NULL;
	git_oid oid;
	int rc;

	rc = vcs__open_repo(repo_dir, &repo, err, errsz);
	if (rc < 0)
		return rc;
	rc = git_reference_name_to_id(&oid, repo, "HEAD");
	if (rc < 0)
		rc = vcs__fail(NULL, rc, "HEAD of", repo_dir, err, errsz);
	else
		git_oid_tostr(commit_hex, GIT_OID_HEXSZ + 1, &oid);
	git_repository_free(repo);
	return rc;
}

/* Stage one file from the work tree into the in-memory index. */
static int stage_path(git_repository *repo, git_index *idx, int dirfd,
		      const char *path, char *err, size_t errsz)
{
	struct al_buf b = { 0 };
	git_index_entry e;
	unsigned int mode = 0;
	int rc;

	rc = read_work_file(dirfd, path, &b, &mode);
	if (rc < 0) {
		vcs__seterr(err, errsz, "commit: cannot take %s: %s", path,
			    rc == AL_E_UNSAFE ? "not a regular file inside "
			    "the work tree (symlink refused)" :
			    al_strerror(rc));
		goto out;
	}
	memset(&e, 0, sizeof(e));
	e.mode = mode;
	e.path = path;
	e.file_size = (uint32_t)b.len;
	rc = git_blob_create_from_buffer(&e.id, repo, b.p ? b.p : "", b.len);
	if (rc == 0)
		rc = git_index_add(idx, &e);
	if (rc < 0)
		rc = vcs__fail(NULL, rc, "commit: staging", path, err, errsz);
out:
	al_buf_free(&b);
	return rc;
}

struct commit_req {
	const char *branch;
	const char *message;
	const char *const *paths;
	size_t npaths;
	const char *name;
	const char *email;
};

static int check_req(const struct commit_req *q, char *err, size_t errsz)
{
	size_t i;

	if (!vcs_branch_name_ok(q->branch)) {
		vcs__seterr(err, errsz, "commit: invalid branch name '%s'",
			    q->branch ? q->branch : "");
		return AL_E_USAGE;
	}
	if (!q->message || !*q->message || q->npaths == 0 || !q->name ||
	    !q->email) {
		vcs__seterr(err, errsz, "commit: message, paths and author "
			    "are required");
		return AL_E_USAGE;
	}
	for (i = 0; i < q->npaths; i++) {
		if (!path_ok(q->paths[i])) {
			vcs__seterr(err, errsz, "commit: path '%s' refused "
				    "(absolute, '..' or .git)", q->paths[i]
				    ? q->paths[i] : "");
			return AL_E_UNSAFE;
		}
	}
	return 0;
}

/* The new tree: base's tree with the named paths from the work tree. */
static int build_tree(git_repository *repo, git_commit *base, int dirfd,
		      const struct commit_req *q, git_oid *tree_oid,
		      char *err, size_t errsz)
{
	git_index *idx = NULL;
	git_tree *tree = NULL;
	size_t i;
	int rc;

	rc = git_commit_tree(&tree, base);
	if (rc == 0)
		rc = git_index_new(&idx);
	if (rc == 0)
		rc = git_index_read_tree(idx, tree);
	if (rc < 0) {
		rc = vcs__fail(NULL, rc, "commit: reading base of", q->branch,
			       err, errsz);
		goto out;
	}
	for (i = 0; i < q->npaths && rc == 0; i++)
		rc = stage_path(repo, idx, dirfd, q->paths[i], err, errsz);
	if (rc < 0)
		goto out;

	rc = git_index_write_tree_to(tree_oid, idx, repo);
	if (rc < 0) {
		rc = vcs__fail(NULL, rc, "commit: writing tree of", q->branch,
			       err, errsz);
	} else if (git_oid_equal(tree_oid, git_tree_id(tree))) {
		vcs__seterr(err, errsz, "commit: nothing to commit, the "
			    "given paths are unchanged");
		rc = AL_E_USAGE;
	}
out:
	git_index_free(idx);
	git_tree_free(tree);
	return rc;
}

static int lookup_base(git_repository *repo, const char *base_hex,
		       git_commit **base, char *err, size_t errsz)
{
	git_oid oid;
	int rc;

	if (base_hex)
		rc = git_oid_fromstrn(&oid, base_hex, strlen(base_hex));
	else
		rc = git_reference_name_to_id(&oid, repo, "HEAD");
	if (rc == 0)
		rc = git_commit_lookup(base, repo, &oid);
	if (rc < 0)
		rc = vcs__fail(NULL, rc, "commit: base commit",
			       base_hex ? base_hex : "HEAD", err, errsz);
	return rc;
}

static int make_commit(git_repository *repo, int dirfd,
		       const struct commit_req *q, const char *base_hex,
		       char *commit_hex, char *err, size_t errsz)
{
	char refname[512];
	git_signature *sig = NULL;
	git_commit *base = NULL;
	git_reference *ref = NULL;
	git_oid tree_oid, oid;
	git_tree *tree = NULL;
	int rc;

	snprintf(refname, sizeof(refname), "refs/heads/%s", q->branch);
	if (git_reference_lookup(&ref, repo, refname) == 0) {
		vcs__seterr(err, errsz, "commit: branch %s already exists",
			    q->branch);
		rc = AL_E_EXISTS;
		goto out;
	}
	rc = lookup_base(repo, base_hex, &base, err, errsz);
	if (rc == 0)
		rc = build_tree(repo, base, dirfd, q, &tree_oid, err, errsz);
	if (rc < 0)
		goto out;

	rc = git_signature_now(&sig, q->name, q->email);
	if (rc == 0)
		rc = git_tree_lookup(&tree, repo, &tree_oid);
	if (rc == 0)
		rc = git_commit_create(&oid, repo, NULL, sig, sig, NULL,
				       q->message, tree, 1,
				       (const git_commit **)&base);
	/* force 0: a branch that appeared meanwhile is not overwritten. */
	if (rc == 0)
		rc = git_reference_create(&ref, repo, refname, &oid, 0,
					  "airlock: update branch");
	if (rc < 0) {
		rc = vcs__fail(NULL, rc, "commit on", q->branch, err, errsz);
		goto out;
	}
	git_oid_tostr(commit_hex, GIT_OID_HEXSZ + 1, &oid);
	al_info("vcs", NULL, "committed branch=%s commit=%s paths=%zu",
		q->branch, commit_hex, q->npaths);
out:
	git_reference_free(ref);
	git_tree_free(tree);
	git_commit_free(base);
	git_signature_free(sig);
	return rc;
}

int vcs_commit_branch_at(const char *repo_dir, const char *base_hex,
			 const char *branch, const char *message,
			 const char *const *paths, size_t npaths,
			 const char *author_name, const char *author_email,
			 char *commit_hex, char *err, size_t errsz)
{
	struct commit_req q = {
		.branch = branch, .message = message, .paths = paths,
		.npaths = npaths, .name = author_name, .email = author_email,
	};
	git_repository *repo = NULL;
	int dirfd = -1;
	int rc;

	rc = check_req(&q, err, errsz);
	if (rc < 0)
		return rc;
	dirfd = open(repo_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		rc = -errno;
		vcs__seterr(err, errsz, "commit: cannot open %s: %s",
			    repo_dir, al_strerror(rc));
		return rc;
	}

	rc = vcs__open_repo(repo_dir, &repo, err, errsz);
	if (rc == 0)
		rc = make_commit(repo, dirfd, &q, base_hex, commit_hex, err,
				 errsz);
	git_repository_free(repo);
	close(dirfd);
	return rc;
}

int vcs_commit_branch(const char *repo_dir, const char *branch,
		      const char *message, const char *const *paths,
		      size_t npaths, const char *author_name,
		      const char *author_email, char *commit_hex,
		      char *err, size_t errsz)
{
	return vcs_commit_branch_at(repo_dir, NULL, branch, message, paths,
				    npaths, author_name, author_email,
				    commit_hex, err, errsz);
}

static const char *const branch_states[] = {
#define VCS_X_BRANCH(e, word) word,
	VCS_BRANCH_TABLE(VCS_X_BRANCH)
#undef VCS_X_BRANCH
};

const char *vcs_branch_state_name(enum vcs_branch_state s)
{
	return (unsigned)s < sizeof(branch_states) / sizeof(*branch_states)
		       ? branch_states[s] : "?";
}

/* Both the author and the committer of c wrote from email. */
static bool commit_by(const git_commit *c, const char *email)
{
	const git_signature *a = git_commit_author(c);
	const git_signature *m = git_commit_committer(c);

	return a && m && a->email && m->email && !strcmp(a->email, email) &&
	       !strcmp(m->email, email);
}

int vcs_branch_state(const char *repo_dir, const char *branch,
		     const char *commit_hex, const char *email,
		     enum vcs_branch_state *out, char *tip_hex, char *err,
		     size_t errsz)
{
	char refname[512];
	git_repository *repo = NULL;
	git_commit *tip = NULL, *mine = NULL;
	git_oid oid, tip_oid;
	int rc;

	*out = VCS_BRANCH_NONE;
	tip_hex[0] = '\0';
	if (!vcs_branch_name_ok(branch)) {
		vcs__seterr(err, errsz, "branch state: invalid branch name");
		return AL_E_USAGE;
	}
	snprintf(refname, sizeof(refname), "refs/remotes/origin/%s", branch);
	rc = vcs__open_repo(repo_dir, &repo, err, errsz);
	if (rc < 0)
		return rc;
	rc = git_reference_name_to_id(&tip_oid, repo, refname);
	if (rc == GIT_ENOTFOUND) {
		rc = 0;
		goto out;
	}
	if (rc == 0)
		rc = git_commit_lookup(&tip, repo, &tip_oid);
	if (rc == 0)
		rc = git_oid_fromstrn(&oid, commit_hex, strlen(commit_hex));
	if (rc == 0)
		rc = git_commit_lookup(&mine, repo, &oid);
	if (rc < 0) {
		rc = vcs__fail(NULL, rc, "branch state of", branch, err,
			       errsz);
		goto out;
	}
	git_oid_tostr(tip_hex, GIT_OID_HEXSZ + 1, &tip_oid);
	if (git_oid_equal(git_commit_tree_id(tip), git_commit_tree_id(mine)))
		*out = VCS_BRANCH_SAME;
	else
		*out = commit_by(tip, email) ? VCS_BRANCH_OURS
					     : VCS_BRANCH_FOREIGN;
out:
	git_commit_free(tip);
	git_commit_free(mine);
	git_repository_free(repo);
	return rc;
}
