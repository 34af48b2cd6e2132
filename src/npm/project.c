/*
 * project.c - read a project's package.json files and lockfile from a
 * checkout (see plan.h, npm_project_load).
 *
 * Everything is opened beneath the checkout's directory descriptor with
 * al_open_beneath/al_read_beneath: the checkout was written by whoever
 * wrote the repository, and a symlink in it must not make airlock read
 * (and later commit) a file from elsewhere on the host.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/fs.h"
#include "npm/plan.h"

static void pj_read_err(const char *path, int rc, char *err, size_t errsz)
{
	snprintf(err, errsz, "%s: %s%s", path, al_strerror(rc),
		 rc == -ELOOP || rc == -EXDEV || rc == -EINVAL
			 ? " (a symlink is refused)"
			 : "");
}

int npm_project_note(struct npm_project *pj, const char *text)
{
	void *n = realloc(pj->notes, (pj->nnotes + 1) * sizeof(*pj->notes));

	if (!n)
		return -ENOMEM;
	pj->notes = n;
	pj->notes[pj->nnotes] = strdup(text);
	return pj->notes[pj->nnotes++] ? 0 : -ENOMEM;
}

static int pj_note(struct npm_project *pj, const char *pattern,
		   const char *why)
{
	struct al_buf b = { 0 };
	int rc = al_buf_printf(&b, "workspaces \"%s\": %s", pattern, why);

	rc = rc ? rc : npm_project_note(pj, b.p);
	al_buf_free(&b);
	return rc;
}

/* Read and parse dir/package.json; a missing file is fine when
 * optional (npm skips a matched directory without one). */
static int pj_add(int dfd, struct npm_project *pj, const char *dir,
		  bool optional, char *err, size_t errsz)
{
	struct npm_project_file *f;
	struct al_buf path = { 0 };
	void *n;
	int rc;

	if (al_buf_printf(&path, "%s%spackage.json", dir, dir[0] ? "/" : ""))
		return -ENOMEM;
	for (size_t i = 0; i < pj->nfiles; i++) {
		if (!strcmp(pj->files[i].path, path.p)) {
			al_buf_free(&path);
			return 0;
		}
	}
	if (pj->nfiles >= NPM_PROJECT_MAX_FILES) {
		snprintf(err, errsz, "more than %d workspaces",
			 NPM_PROJECT_MAX_FILES - 1);
		al_buf_free(&path);
		return AL_E_LIMIT;
	}
	n = realloc(pj->files, (pj->nfiles + 1) * sizeof(*pj->files));
	if (!n) {
		al_buf_free(&path);
		return -ENOMEM;
	}
	pj->files = n;
	f = &pj->files[pj->nfiles];
	memset(f, 0, sizeof(*f));
	f->path = path.p;
	f->dir = strdup(dir);
	if (!f->dir) {
		free(f->path);
		return -ENOMEM;
	}
	rc = al_read_beneath(dfd, f->path, NPM_MANIFEST_MAX_SIZE, &f->text);
	if (rc == -ENOENT && optional) {
		free(f->path);
		free(f->dir);
		al_buf_free(&f->text);
		return 0;
	}
	pj->nfiles++;
	if (rc) {
		pj_read_err(f->path, rc, err, errsz);
		return rc;
	}
	rc = npm_manifest_parse(f->text.p, f->text.len, &f->m, err, errsz);
	if (rc && f != pj->files) {
		/* The parser names "package.json"; say which one. */
		char inner[512];

		snprintf(inner, sizeof(inner), "%s", err);
		snprintf(err, errsz, "%s: %s", f->path, inner);
	}
	return rc;
}

static int pj_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every directory in dir that holds a package.json, in name order. */
static int pj_glob(int dfd, struct npm_project *pj, const char *dir,
		   char *err, size_t errsz)
{
	char **names = NULL;
	size_t n = 0;
	int fd = dir[0] ? al_open_beneath(dfd, dir, O_RDONLY | O_DIRECTORY, 0)
			: dup(dfd);
	DIR *d;
	int rc = 0;

	if (fd == -ENOENT)
		return 0;
	if (fd < 0) {
		pj_read_err(dir, fd, err, errsz);
		return fd;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	for (struct dirent *e; rc == 0 && (e = readdir(d));) {
		struct stat st;
		void *nn;

		if (e->d_name[0] == '.' ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    S_ISREG(st.st_mode))
			continue;
		if (S_ISLNK(st.st_mode)) {
			/* Following it could read outside the checkout. */
			snprintf(err, errsz, "%s/%s: a workspace is a symlink "
				 "(a symlink is refused)", dir, e->d_name);
			rc = -ELOOP;
			break;
		}
		if (!S_ISDIR(st.st_mode))
			continue;
		nn = realloc(names, (n + 1) * sizeof(*names));
		if (!nn || !(names = nn, names[n] = strdup(e->d_name))) {
			rc = -ENOMEM;
			break;
		}
		n++;
		if (n > NPM_PROJECT_MAX_FILES) {
			snprintf(err, errsz, "%s: more than %d workspaces",
				 dir, NPM_PROJECT_MAX_FILES - 1);
			rc = AL_E_LIMIT;
		}
	}
	closedir(d);
	if (names)
		qsort(names, n, sizeof(*names), pj_cmp);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct al_buf sub = { 0 };

		rc = al_buf_printf(&sub, "%s%s%s", dir, dir[0] ? "/" : "",
				   names[i]);
		if (rc == 0)
			rc = pj_add(dfd, pj, sub.p, true, err, errsz);
		al_buf_free(&sub);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* One "workspaces" entry: "DIR" or "DIR/" then a star. */
static int pj_pattern(int dfd, struct npm_project *pj, const char *pat,
		      char *err, size_t errsz)
{
	char dir[1024];
	size_t n = strlen(pat);
	const char *p;

	while (n > 1 && pat[n - 1] == '/')
		n--;
	if (n >= sizeof(dir))
		return pj_note(pj, pat, "too long; not planned");
	memcpy(dir, pat, n);
	dir[n] = '\0';
	if (!strncmp(dir, "./", 2))
		memmove(dir, dir + 2, strlen(dir + 2) + 1);
	bool star = n >= 1 && dir[strlen(dir) - 1] == '*' &&
		    (strlen(dir) == 1 || dir[strlen(dir) - 2] == '/');
	if (star)
		dir[strlen(dir) > 1 ? strlen(dir) - 2 : 0] = '\0';
	if (!dir[0] && !star)
		return pj_note(pj, pat, "empty; not planned");
	if (dir[0] == '/' || strpbrk(dir, "*?[]{}!\\"))
		return pj_note(pj, pat, "pattern form not supported (a "
			       "directory, or DIR/ then a star); not planned");
	for (p = dir; p; p = strchr(p, '/')) {
		if (*p == '/')
			p++;
		if (!strncmp(p, "..", 2) && (p[2] == '/' || !p[2]))
			return pj_note(pj, pat, "leaves the repository; not "
				       "planned");
	}
	return star ? pj_glob(dfd, pj, dir, err, errsz)
		    : pj_add(dfd, pj, dir, false, err, errsz);
}

int npm_project_load(int repo_dfd, struct npm_project *pj, char *err,
		     size_t errsz)
{
	struct al_buf lock = { 0 };
	int rc;

	memset(pj, 0, sizeof(*pj));
	rc = pj_add(repo_dfd, pj, "", false, err, errsz);
	for (size_t i = 0; rc == 0 && i < pj->files[0].m.nworkspaces; i++)
		rc = pj_pattern(repo_dfd, pj, pj->files[0].m.workspaces[i], err,
				errsz);
	if (rc)
		goto out;
	/* The lockfile is read like package.json: never through a link. */
	rc = al_read_beneath(repo_dfd, NPM_LOCK_NAME, NPM_LOCK_MAX_SIZE, &lock);
	if (rc == -ENOENT) {
		rc = 0;
		goto out;
	}
	if (rc) {
		pj_read_err(NPM_LOCK_NAME, rc, err, errsz);
		goto out;
	}
	rc = npm_lock_parse(lock.p, lock.len, &pj->lock, err, errsz);
	pj->has_lock = rc == 0;
out:
	/* npm in the sandbox applies the root's .npmrc: so does the plan. */
	if (rc == 0)
		rc = npm_npmrc_load(repo_dfd, &pj->npmrc);
	if (rc == 0 && pj->npmrc.note[0])
		rc = npm_project_note(pj, pj->npmrc.note);
	al_buf_free(&lock);
	if (rc)
		npm_project_free(pj);
	return rc;
}

void npm_project_free(struct npm_project *pj)
{
	if (!pj)
		return;
	for (size_t i = 0; i < pj->nfiles; i++) {
		free(pj->files[i].path);
		free(pj->files[i].dir);
		al_buf_free(&pj->files[i].text);
		al_buf_free(&pj->files[i].out);
		npm_manifest_free(&pj->files[i].m);
	}
	free(pj->files);
	for (size_t i = 0; i < pj->nnotes; i++)
		free(pj->notes[i]);
	free(pj->notes);
	npm_lock_free(&pj->lock);
	memset(pj, 0, sizeof(*pj));
}
