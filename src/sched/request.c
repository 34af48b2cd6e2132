/*
 * request.c - what a job request may hold, and which repository it is
 * (sched.h: sched_request_check, sched_branch_ok, sched_repo_norm).
 *
 * Every way into the queue (the control API, schedule lines of
 * airlock.conf) and `airlock update` check a request here, so that what
 * the worker would refuse at the clone stage, or what would put a token
 * into a record or a log line, is refused when it is asked for, with a
 * message that says why. The messages never quote the refused value: it
 * may hold control characters or a secret.
 */
#include "sched/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/util.h"

/* Schemes the clone stage takes (src/vcs/url.c), and their ports. */
static const struct {
	const char *name;
	const char *port; /* default port, NULL: no authority port */
} url_schemes[] = {
	{"http", "80"},
	{"https", "443"},
	{"file", NULL},
};

/* The index of url's scheme in url_schemes, -1 for another, -2 for none. */
static int url_scheme(const char *url, size_t *len)
{
	const char *sep = strstr(url, "://");

	if (!sep)
		return -2;
	*len = (size_t)(sep - url);
	for (size_t i = 0; i < AL_ARRAY_LEN(url_schemes); i++)
		if (strlen(url_schemes[i].name) == *len &&
		    !strncasecmp(url, url_schemes[i].name, *len))
			return (int)i;
	return -1;
}

/*
 * git check-ref-format's rules for refs/heads/NAME (git-check-ref-format
 * documents them), plus what `git branch` adds: not "HEAD", not starting
 * with '-' (it would read as an option). libgit2's
 * git_branch_name_is_valid, which the clone stage asks, keeps the same
 * rules; this copy lets programs without libgit2 check a branch.
 */
bool sched_branch_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	const char *c = name;

	if (n == 0 || n > SCHED_BRANCH_MAX || name[0] == '-' ||
	    name[0] == '/' || !strcmp(name, "HEAD") || !strcmp(name, "@") ||
	    name[n - 1] == '.' || name[n - 1] == '/' ||
	    strstr(name, "..") || strstr(name, "@{") || strstr(name, "//"))
		return false;
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f ||
		    strchr("~^:?*[\\", *p))
			return false;
	/* Each component: not starting with '.', not ending in ".lock". */
	while (*c) {
		size_t len = strcspn(c, "/");
		if (c[0] == '.' ||
		    (len >= 5 && !strncmp(c + len - 5, ".lock", 5)))
			return false;
		c += len + (c[len] == '/');
	}
	return al_utf8_valid(name, n);
}

static int refuse(int rc, char *why, size_t whysz, const char *msg)
{
	if (why && whysz)
		snprintf(why, whysz, "%s", msg);
	return rc;
}

/* The URL forms the worker can clone, and nothing that would leak. */
static int check_url(const char *repo, unsigned flags, char *why,
		     size_t whysz)
{
	size_t sl = 0, alen;
	int sch = url_scheme(repo, &sl);
	const char *auth, *at;

	if (sch == -2) {
		/* A relative path is resolved by `airlock update` in its
		 * own directory; the daemon's workers have none. */
		if (repo[0] == '/' || (flags & SCHED_CHECK_LOCAL))
			return 0;
		return refuse(AL_E_USAGE, why, whysz, "'repo' must be an "
			      "http, https or file URL, or an absolute path");
	}
	if (sch < 0)
		return refuse(AL_E_USAGE, why, whysz, "'repo': only http, "
			      "https and file URLs and absolute paths are "
			      "supported (not ssh, git, ext or others)");
	if (strpbrk(repo, "?#"))
		return refuse(AL_E_USAGE, why, whysz, "'repo' must not carry a "
			      "query string or fragment (a token there would "
			      "be logged and stored)");
	auth = repo + sl + 3;
	alen = strcspn(auth, "/");
	at = memchr(auth, '@', alen);
	if (url_schemes[sch].port && at && !(flags & SCHED_CHECK_LOCAL))
		return refuse(AL_E_UNSAFE, why, whysz, "credentials in the URL "
			      "are refused (they would be recorded): the "
			      "daemon takes them from AIRLOCK_GIT_TOKEN");
	if (url_schemes[sch].port && (at ? at + 1 : auth) == auth + alen)
		return refuse(AL_E_USAGE, why, whysz, "'repo' has no host");
	if (!url_schemes[sch].port && auth[alen] != '/')
		return refuse(AL_E_USAGE, why, whysz, "'repo': a file URL "
			      "needs a path (file:///srv/git/x.git)");
	return 0;
}

static int check_repo(const char *repo, unsigned flags, char *why,
		      size_t whysz)
{
	size_t n = repo ? strlen(repo) : 0;

	if (n == 0)
		return refuse(AL_E_USAGE, why, whysz, "'repo' is required");
	if (n > SCHED_REPO_MAX)
		return refuse(AL_E_USAGE, why, whysz, "'repo' is longer than "
			      "2047 bytes");
	if (!al_utf8_valid(repo, n))
		return refuse(AL_E_USAGE, why, whysz, "'repo' is not UTF-8");
	/* The clone stage refuses them too: no injected text in log lines
	 * or in the clone's git configuration. */
	for (const char *p = repo; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return refuse(AL_E_USAGE, why, whysz, "'repo' holds a "
				      "space or a control character");
	if (!al_text_safe(repo, n))
		return refuse(AL_E_USAGE, why, whysz, "'repo' holds a C1 "
			      "control, a bidirectional override or mark, "
			      "or a Unicode line separator");
	return check_url(repo, flags, why, whysz);
}

bool sched_repo_is_local(const char *repo)
{
	size_t sl = 0;
	int sch = url_scheme(repo, &sl);

	return sch == -2 || (sch >= 0 && !url_schemes[sch].port);
}

int sched_request_check(const struct sched_request *rq, unsigned flags,
			char *why, size_t whysz)
{
	int rc = check_repo(rq->repo, flags, why, whysz);

	if (rc)
		return rc;
	if (rq->branch && !sched_branch_ok(rq->branch))
		return refuse(AL_E_USAGE, why, whysz, "'branch' is not a valid "
			      "git branch name (git check-ref-format: no "
			      "spaces, control characters, '..', '@{', "
			      "~^:?*[\\, no part starting with '.' or ending "
			      "in '.lock', not starting with '-')");
	if (rq->policy && strcmp(rq->policy, "patch") &&
	    strcmp(rq->policy, "minor") && strcmp(rq->policy, "major"))
		return refuse(AL_E_USAGE, why, whysz, "'policy' must be patch, "
			      "minor or major");
	if (rq->test_cmd &&
	    (!*rq->test_cmd || strlen(rq->test_cmd) > SCHED_TEST_CMD_MAX ||
	     !al_utf8_valid(rq->test_cmd, strlen(rq->test_cmd))))
		return refuse(AL_E_USAGE, why, whysz, "'test_cmd' must be "
			      "UTF-8 text of 1 to 4096 bytes");
	/* It is shown in records, logs and the console: nothing in it may
	 * drive a terminal (a tab is fine, a shell reads it as a space). */
	if (rq->test_cmd && !al_text_safe(rq->test_cmd, strlen(rq->test_cmd)))
		return refuse(AL_E_USAGE, why, whysz, "'test_cmd' holds a "
			      "control character, a bidirectional override "
			      "or mark, or a Unicode line separator");
	if (rq->trigger && strcmp(rq->trigger, "api") &&
	    strcmp(rq->trigger, "schedule") && strcmp(rq->trigger, "retry"))
		return refuse(AL_E_USAGE, why, whysz, "unknown trigger");
	if (rq->priority > 255)
		return refuse(AL_E_USAGE, why, whysz, "'priority' must be 0 to "
			      "255");
	return 0;
}

/* Append [s, s + n) to out at *o (the caller made room). */
static void put(char *out, size_t *o, const char *s, size_t n)
{
	memcpy(out + *o, s, n);
	*o += n;
}

/* A local path: repeated slashes collapsed, trailing ones dropped. */
static void norm_path(const char *p, size_t n, char *out, size_t *o)
{
	size_t start = *o;

	for (size_t i = 0; i < n; i++)
		if (p[i] != '/' || *o == start || out[*o - 1] != '/')
			out[(*o)++] = p[i];
	while (*o > start + 1 && out[*o - 1] == '/')
		(*o)--;
}

/* host[:port] lower-cased (after any userinfo), the default port gone. */
static void norm_authority(const char *a, size_t n, const char *port,
			   char *out, size_t *o)
{
	const char *at = NULL, *colon = NULL;

	for (size_t i = 0; i < n; i++)
		if (a[i] == '@')
			at = a + i;
	if (at) {
		put(out, o, a, (size_t)(at + 1 - a));
		n -= (size_t)(at + 1 - a);
		a = at + 1;
	}
	/* The port follows the last ':' outside an IPv6 literal's []. */
	for (size_t i = 0; i < n; i++)
		if (a[i] == ':')
			colon = a + i;
		else if (a[i] == ']')
			colon = NULL;
	if (colon && port) {
		size_t plen = (size_t)(a + n - colon - 1);
		if (plen == 0 ||
		    (plen == strlen(port) && !strncmp(colon + 1, port, plen)))
			n = (size_t)(colon - a);
	}
	for (size_t i = 0; i < n; i++)
		out[(*o)++] = (char)tolower((unsigned char)a[i]);
}

int sched_repo_norm(const char *url, bool key, char *out, size_t outsz)
{
	size_t n = url ? strlen(url) : 0, sl = 0, o = 0, alen, plen;
	int sch;
	const char *auth, *path;

	if (!url || n >= outsz)
		return AL_E_LIMIT;
	sch = url_scheme(url, &sl);
	if (sch == -2) {
		norm_path(url, n, out, &o);
		out[o] = '\0';
		return 0;
	}
	auth = url + sl + 3;
	alen = strcspn(auth, "/?#");
	path = auth + alen;
	plen = strcspn(path, "?#");
	if (key && sch >= 0 && !url_schemes[sch].port && alen == 0 && plen) {
		/* file:///srv/x is the repository /srv/x. */
		norm_path(path, plen, out, &o);
	} else {
		for (size_t i = 0; i < sl + 3; i++)
			out[o++] = (char)tolower((unsigned char)url[i]);
		norm_authority(auth, alen, sch >= 0 ? url_schemes[sch].port
						    : NULL, out, &o);
		if (sch >= 0 && !url_schemes[sch].port) {
			norm_path(path, plen, out, &o);
		} else {
			size_t start = o;
			put(out, &o, path, plen);
			while (o > start && out[o - 1] == '/')
				o--;
			/* Git servers serve x and x.git as one repository. */
			if (key && sch >= 0 && o - start > 5 &&
			    !strncmp(out + o - 4, ".git", 4) &&
			    out[o - 5] != '/') {
				o -= 4;
				while (o > start && out[o - 1] == '/')
					o--;
			}
		}
	}
	put(out, &o, path + plen, strlen(path + plen));
	out[o] = '\0';
	return 0;
}
