#include "job/config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit/checkpoint.h"
#include "base/err.h"
#include "base/util.h"
#include "sandbox/sandbox.h"

extern char **environ;

#define CONFIG_MAX_BYTES (1 << 20)

int job_npm_registry(char *out, size_t outsz)
{
	char *argv[] = {"npm", "config", "get", "registry", NULL};
	posix_spawn_file_actions_t fa;
	int pfd[2], rc = 0, status;
	pid_t pid;
	size_t len = 0;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	rc = -posix_spawnp(&pid, "npm", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (rc) {
		close(pfd[0]);
		return rc;
	}
	while (len + 1 < outsz) {
		ssize_t n = read(pfd[0], out + len, outsz - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(pfd[0]);
	out[len] = '\0';
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	out[strcspn(out, "\r\n")] = '\0';
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !*out)
		return AL_E_NOTFOUND;
	return 0;
}

static char *config_trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int config_u32(const char *v, uint64_t max, unsigned *out)
{
	uint64_t n;
	int rc = al_parse_u64(v, max, &n);
	if (rc == 0)
		*out = (unsigned)n;
	return rc;
}

/* 0 is never a limit here: it would silently mean "the default". */
static int config_u32_min(const char *v, unsigned min, uint64_t max,
			  unsigned *out)
{
	int rc = config_u32(v, max, out);
	return rc ? rc : *out < min ? -ERANGE : 0;
}

/* Whether two URLs name one repository (sched_repo_norm's key). */
static bool config_same_repo(const char *a, const char *b)
{
	char ka[SCHED_REPO_MAX + 1], kb[SCHED_REPO_MAX + 1];

	if (sched_repo_norm(a, true, ka, sizeof(ka)) ||
	    sched_repo_norm(b, true, kb, sizeof(kb)))
		return !strcmp(a, b);
	return !strcmp(ka, kb);
}

/*
 * "URL [TZ=ZONE] SPEC": checked here so that a typo is an error naming
 * the line, not a schedule that never fires. why gets the reason.
 */
static int config_schedule(struct job_config *c, const char *v,
			   unsigned line, char *why, size_t whysz)
{
	struct job_schedule *e;
	struct sched_cron cron;
	size_t n = strcspn(v, " \t");
	const char *spec = v + n;
	char err[200];
	int rc;

	if (c->nschedules == JOB_SCHEDULES_MAX)
		return -E2BIG;
	void *p = realloc(c->schedules, (c->nschedules + 1) * sizeof(*e));
	if (!p)
		return -ENOMEM;
	c->schedules = p;
	e = memset(&c->schedules[c->nschedules], 0, sizeof(*e));
	e->line = line;
	if (n == 0 || n > SCHED_REPO_MAX) {
		snprintf(why, whysz, "a repository URL first");
		return -EINVAL;
	}
	memcpy(e->repo, v, n);
	/* The control API's check (sched.h): no credentials, which would be
	 * logged and recorded (a schedule takes them from the daemon's
	 * environment), no query string, only what the worker clones. */
	struct sched_request rq = {.repo = e->repo};
	if (sched_request_check(&rq, 0, why, whysz))
		return -EINVAL;
	for (size_t i = 0; i < c->nschedules; i++)
		if (config_same_repo(c->schedules[i].repo, e->repo)) {
			snprintf(why, whysz, "%s already has a schedule on "
				 "line %u", c->schedules[i].repo,
				 c->schedules[i].line);
			return -EEXIST;
		}
	while (*spec == ' ' || *spec == '\t')
		spec++;
	if (!strncmp(spec, "TZ=", 3)) {
		size_t z = strcspn(spec + 3, " \t");
		if (z == 0 || z > SCHED_TZ_NAME_MAX) {
			snprintf(why, whysz, "TZ= needs a zone name");
			return -EINVAL;
		}
		memcpy(e->tz, spec + 3, z);
		for (spec += 3 + z; *spec == ' ' || *spec == '\t'; spec++)
			;
	}
	if ((rc = sched_cron_parse(spec, &cron, err, sizeof(err)))) {
		snprintf(why, whysz, "schedule '%s': %s", spec, err);
		return rc;
	}
	al_strlcpy(e->spec, spec, sizeof(e->spec));
	c->nschedules++;
	return 0;
}

/* A zone name must name a zone of the system's tzdata. */
static int config_zone(const char *name, char *why, size_t whysz)
{
	struct sched_tz *z = NULL;
	int rc = sched_tz_load(NULL, name, &z);

	sched_tz_free(z);
	if (rc)
		snprintf(why, whysz, "time zone '%s': %s", name,
			 rc == AL_E_NOTFOUND ? "not in the system's tzdata"
					     : al_strerror(rc));
	return rc;
}

/* The daemon's own keys (airlockd): its socket and its workers. */
static int config_set_daemon(struct job_config *c, const char *k,
			     const char *v)
{
	if (!strcmp(k, "job_timeout"))
		return config_u32_min(v, 60, 7 * 86400, &c->job_timeout);
	if (!strcmp(k, "socket_group")) {
		struct group gr, *res = NULL;
		char buf[4096];
		uint64_t gid;

		if (al_parse_u64(v, 4294967294u, &gid) == 0) {
			c->socket_gid = (gid_t)gid;
			return 0;
		}
		if (getgrnam_r(v, &gr, buf, sizeof(buf), &res) || !res)
			return -EINVAL;
		c->socket_gid = res->gr_gid;
		return 0;
	}
	if (!strcmp(k, "admin_user")) {
		struct passwd pw, *res = NULL;
		char buf[4096];

		/* Root asserting SSH keys would make every root process an
		 * admin shell: the account must be a dedicated one. */
		if (getpwnam_r(v, &pw, buf, sizeof(buf), &res) || !res ||
		    res->pw_uid == 0 ||
		    al_strlcpy(c->admin_user, v, sizeof(c->admin_user)) >=
			    sizeof(c->admin_user))
			return -EINVAL;
		c->admin_uid = res->pw_uid;
		return 0;
	}
	if (!strcmp(k, "local_repos")) {
		if (strcmp(v, "on") && strcmp(v, "off"))
			return -EINVAL;
		c->local_repos = !strcmp(v, "on");
		return 0;
	}
	if (!strcmp(k, "job_retention_days"))
		return config_u32(v, JOB_RETENTION_DAYS_MAX,
				  &c->job_retention_days);
	if (!strcmp(k, "job_retention_max"))
		return al_parse_u64(v, JOB_RETENTION_MAX_MAX,
				    &c->job_retention_max);
	if (!strcmp(k, "admin_keys_file")) {
		if (v[0] != '/' || strstr(v, "/../") || strstr(v, "/./"))
			return -EINVAL;
		return al_strlcpy(c->admin_keys_file, v,
				  sizeof(c->admin_keys_file)) <
				       sizeof(c->admin_keys_file)
			       ? 0
			       : -ERANGE;
	}
	return AL_E_NOTFOUND;
}

/*
 * registry_token_file: an absolute path, read by each job
 * (job/regtoken.h), so that the token is in no configuration text.
 * registry_ca_file: an absolute path, read by each job.
 */
static int config_set_token(struct job_config *c, const char *k,
			    const char *v)
{
	char *dst;
	size_t dstsz;

	if (!strcmp(k, "registry_token_file")) {
		dst = c->registry_token_file;
		dstsz = sizeof(c->registry_token_file);
	} else if (!strcmp(k, "registry_ca_file")) {
		dst = c->registry_ca_file;
		dstsz = sizeof(c->registry_ca_file);
	} else {
		return AL_E_NOTFOUND;
	}
	if (v[0] != '/')
		return -EINVAL;
	return al_strlcpy(dst, v, dstsz) < dstsz ? 0 : -ERANGE;
}

static int config_set(struct job_config *c, const char *k, const char *v,
		      unsigned line, char *why, size_t whysz)
{
	int drc = config_set_daemon(c, k, v);

	if (drc == AL_E_NOTFOUND)
		drc = config_set_token(c, k, v);
	if (drc != AL_E_NOTFOUND)
		return drc;
	if (!strcmp(k, "registry")) {
		if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8))
			return -EINVAL;
		/* No spaces or controls; no credentials in a URL that is
		 * logged and recorded (the proxy will add them later). */
		for (const char *p = v; *p; p++)
			if ((unsigned char)*p <= 0x20 || *p == 0x7f)
				return -EINVAL;
		const char *host = strstr(v, "//") + 2;
		const char *at = strchr(host, '@');
		if (at && at < host + strcspn(host, "/?#"))
			return -EINVAL;
		return al_strlcpy(c->registry, v, sizeof(c->registry)) <
				       sizeof(c->registry)
			       ? 0
			       : -ERANGE;
	}
	if (!strcmp(k, "sandbox_uid")) {
		unsigned u = 0;
		int rc = config_u32(v, 4294967294u, &u);
		if (rc == 0 && u == 0)
			rc = -EINVAL; /* never run sandboxed code as root */
		c->sandbox_uid = u;
		c->sandbox_gid = u;
		return rc;
	}
	if (!strcmp(k, "memory")) {
		int rc = al_parse_size(v, &c->memory);
		/* Below this npm cannot even start. */
		return rc ? rc : c->memory < (64u << 20) ? -ERANGE : 0;
	}
	if (!strcmp(k, "disk")) {
		int rc = al_parse_size(v, &c->disk);
		/* A volume smaller than this cannot hold a checkout. */
		return rc ? rc : c->disk < (64u << 20) ? -ERANGE : 0;
	}
	if (!strcmp(k, "cpus")) {
		unsigned n = 0;
		int rc = config_u32(v, 1024, &n);
		c->cpus_milli = n * 1000;
		return rc ? rc : (n ? 0 : -EINVAL);
	}
	if (!strcmp(k, "pids"))
		return config_u32_min(v, 8, 1 << 20, &c->pids);
	if (!strcmp(k, "install_timeout"))
		return config_u32_min(v, 1, 86400, &c->install_timeout);
	if (!strcmp(k, "test_timeout"))
		return config_u32_min(v, 1, 86400, &c->test_timeout);
	if (!strcmp(k, "isolate_budget"))
		return config_u32(v, 7 * 86400, &c->isolate_budget);
	if (!strcmp(k, "image")) {
		if (!strcmp(v, "host")) {
			c->image[0] = '\0';
			return 0;
		}
		if (v[0] != '/' || strstr(v, "/../") || strstr(v, "/./"))
			return -EINVAL;
		return al_strlcpy(c->image, v, sizeof(c->image)) <
				       sizeof(c->image)
			       ? 0
			       : -ERANGE;
	}
	if (!strcmp(k, "image_digest")) {
		size_t n = strlen(v);
		if (n != 71 || strncmp(v, "sha256:", 7) ||
		    strspn(v + 7, "0123456789abcdef") != 64)
			return -EINVAL;
		memcpy(c->image_digest, v, n + 1);
		return 0;
	}
	if (!strncmp(k, "audit_", 6))
		return audit_policy_set(&c->audit, k, v);
	if (!strncmp(k, "export_", 7))
		return audit_timed_set(&c->export, k, v, line, why, whysz);
	if (!strcmp(k, "workers")) {
		if (!strcmp(v, "auto")) {
			c->workers = 0;
			return 0;
		}
		return config_u32_min(v, 1, SCHED_WORKERS_MAX, &c->workers);
	}
	if (!strcmp(k, "schedule"))
		return config_schedule(c, v, line, why, whysz);
	int rrc = npm_rules_set(&c->rules, k, v, why, whysz);
	if (rrc != AL_E_NOTFOUND)
		return rrc;
	if (!strcmp(k, "schedule_tz")) {
		int rc = config_zone(v, why, whysz);
		if (rc == 0)
			al_strlcpy(c->schedule_tz, v, sizeof(c->schedule_tz));
		return rc ? -EINVAL : 0; /* not "unknown key" */
	}
	return AL_E_NOTFOUND;
}

/* A repository URL as schedule lines and jobs take it (sched.h). */
static int config_repo_url(const char *url, char *why, size_t whysz)
{
	struct sched_request rq = {.repo = url};

	if (!*url || strpbrk(url, " \t")) {
		snprintf(why, whysz, "a repository URL of one word");
		return -EINVAL;
	}
	return sched_request_check(&rq, 0, why, whysz) ? -EINVAL : 0;
}

/*
 * "[repo URL]" opens a repository's section: *cur becomes its index.
 * Any other section ends it (*cur = -1).
 */
static int config_section(struct job_config *c, char *s, unsigned line,
			  long *cur, char *why, size_t whysz)
{
	size_t n = strlen(s);
	struct job_repo_rules *e;
	char *url;
	int rc;

	*cur = -1;
	if (!strcmp(s, "[repo]")) {
		snprintf(why, whysz, "a repository URL after repo");
		return -EINVAL;
	}
	if (strncmp(s, "[repo", 5) || (s[5] != ' ' && s[5] != '\t')) {
		/* Other sections only group global keys; one that looks
		 * meant for a repository ([REPO URL], [repository URL],
		 * [URL]) would silently make its keys global. */
		if (!strncasecmp(s + 1, "repo", 4) || strstr(s, "://") ||
		    s[1] == '/') {
			snprintf(why, whysz, "a section for one repository is "
				 "[repo URL]");
			return -EINVAL;
		}
		return 0;
	}
	if (s[n - 1] != ']') {
		snprintf(why, whysz, "a section is [repo URL]");
		return -EINVAL;
	}
	s[n - 1] = '\0';
	url = config_trim(s + 5);
	if (strpbrk(url, "[]")) {
		snprintf(why, whysz, "a section is [repo URL], one pair of "
			 "brackets");
		return -EINVAL;
	}
	if ((rc = config_repo_url(url, why, whysz)))
		return rc;
	for (size_t i = 0; i < c->nrepo_rules; i++)
		if (config_same_repo(c->repo_rules[i].repo, url)) {
			snprintf(why, whysz, "%s already has a section on "
				 "line %u", url, c->repo_rules[i].line);
			return -EEXIST;
		}
	if (c->nrepo_rules == JOB_REPO_RULES_MAX)
		return -E2BIG;
	void *p = realloc(c->repo_rules, (c->nrepo_rules + 1) * sizeof(*e));
	if (!p)
		return -ENOMEM;
	c->repo_rules = p;
	e = memset(&c->repo_rules[c->nrepo_rules], 0, sizeof(*e));
	npm_rules_init(&e->rules, NPM_POLICY_MAJOR);
	al_strlcpy(e->repo, url, sizeof(e->repo));
	e->line = line;
	*cur = (long)c->nrepo_rules++;
	return 0;
}

bool job_config_rules(const struct job_config *c, const char *repo,
		      enum npm_policy policy, struct npm_rules *out)
{
	*out = c->rules;
	out->policy = policy;
	/* Any spelling of the repository (docs/scheduler.md, "Repository
	 * identity") finds its section. */
	for (size_t i = 0; repo && i < c->nrepo_rules; i++)
		if (config_same_repo(c->repo_rules[i].repo, repo)) {
			npm_rules_merge(out, &c->repo_rules[i].rules);
			return true;
		}
	return false;
}

static const char *config_hint(const char *k)
{
	if (!strcmp(k, "registry"))
		return " (http(s)://host[:port]/path, no spaces or "
		       "credentials)";
	if (!strcmp(k, "memory"))
		return " (a size of at least 64M, e.g. 512M or 2G)";
	if (!strcmp(k, "pids"))
		return " (8 or more)";
	if (!strcmp(k, "disk"))
		return " (a size of at least 64M, e.g. 4G)";
	if (!strcmp(k, "sandbox_uid"))
		return " (a uid other than 0)";
	if (!strcmp(k, "cpus"))
		return " (1 to 1024)";
	if (!strcmp(k, "audit_checkpoint_entries"))
		return " (0 to 1000000000; 0 = not by count)";
	if (!strcmp(k, "audit_checkpoint_minutes"))
		return " (0 to 10080; 0 = not by time)";
	if (strstr(k, "timeout") && strcmp(k, "job_timeout"))
		return " (seconds, 1 to 86400)";
	if (!strcmp(k, "image"))
		return " (host, or an absolute path to an image directory or "
		       "a squashfs image file)";
	if (!strcmp(k, "image_digest"))
		return " (sha256: and 64 lowercase hex digits, as a job record "
		       "shows it)";
	if (!strcmp(k, "workers"))
		return " (auto, or 1 to 256)";
	if (!strcmp(k, "schedule"))
		return " (URL [TZ=Zone] then a cron expression such as "
		       "'0 2 * * *' or words such as 'weekly mon 06:00')";
	if (!strcmp(k, "schedule_tz"))
		return " (a zone of the system's tzdata, e.g. Europe/Berlin, "
		       "or UTC)";
	if (!strcmp(k, "job_timeout"))
		return " (seconds, 60 to 604800)";
	if (!strcmp(k, "socket_group"))
		return " (a group name or gid that exists)";
	if (!strcmp(k, "admin_user"))
		return " (the name of an account that exists, not root)";
	if (!strcmp(k, "local_repos"))
		return " (on or off)";
	if (!strcmp(k, "job_retention_days"))
		return " (days, 0 to 36500; 0 = keep for ever)";
	if (!strcmp(k, "job_retention_max"))
		return " (jobs, 0 to 1000000000; 0 = no cap)";
	if (!strcmp(k, "admin_keys_file"))
		return " (an absolute path)";
	if (!strcmp(k, "export_interval"))
		return " (5m to 7d: a number with s, m, h or d; 0 or off)";
	if (!strcmp(k, "export_push"))
		return " (sftp://USER@HOST[:PORT]/PATH)";
	if (!strcmp(k, "export_push_key") ||
	    !strcmp(k, "export_push_known_hosts"))
		return " (an absolute path of letters, digits and ._-/)";
	if (!strcmp(k, "registry_token_file") ||
	    !strcmp(k, "registry_ca_file"))
		return " (an absolute path)";
	return "";
}

static int config_parse(struct job_config *c, char *text, const char *path,
			char *err, size_t errsz)
{
	char *save = NULL;
	unsigned lineno = 0;
	long cur = -1; /* the [repo URL] section the lines are in */

	for (char *line = text; line; line = save) {
		save = strchr(line, '\n');
		if (save)
			*save++ = '\0';
		lineno++;
		char *s = config_trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char why[512] = "";
			int rc = config_section(c, s, lineno, &cur, why,
						sizeof(why));
			if (rc) {
				snprintf(err, errsz, "%s:%u: bad section: %s",
					 path, lineno, *why ? why
							    : al_strerror(rc));
				return AL_E_PARSE;
			}
			continue;
		}
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errsz, "%s:%u: expected key = value",
				 path, lineno);
			return AL_E_PARSE;
		}
		*eq = '\0';
		char *k = config_trim(s), *v = config_trim(eq + 1);
		char why[512] = "";
		int rc;
		if (cur >= 0) {
			rc = npm_rules_set(&c->repo_rules[cur].rules, k, v,
					   why, sizeof(why));
			if (rc == AL_E_NOTFOUND) {
				snprintf(err, errsz, "%s:%u: '%s' cannot be set "
					 "in [repo %s]: only the policy keys "
					 "(docs/update-job.md, \"Policies\")",
					 path, lineno, k,
					 c->repo_rules[cur].repo);
				return AL_E_PARSE;
			}
		} else {
			rc = config_set(c, k, v, lineno, why, sizeof(why));
		}
		if (rc) {
			snprintf(err, errsz, "%s:%u: %s '%s'%s%s%s", path,
				 lineno,
				 rc == AL_E_NOTFOUND ? "unknown key"
						     : "bad value for",
				 k, config_hint(k), *why ? ": " : "", why);
			return AL_E_PARSE;
		}
	}
	return 0;
}

void job_config_free(struct job_config *c)
{
	free(c->schedules);
	c->schedules = NULL;
	c->nschedules = 0;
	free(c->repo_rules);
	c->repo_rules = NULL;
	c->nrepo_rules = 0;
}

int job_config_schedules(const struct job_config *c,
			 struct sched_schedule **out)
{
	*out = calloc(c->nschedules ? c->nschedules : 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i < c->nschedules; i++)
		(*out)[i] = (struct sched_schedule){c->schedules[i].repo,
						    c->schedules[i].spec,
						    c->schedules[i].tz};
	return 0;
}

int job_config_load(const char *home, struct job_config *c, char *err,
		    size_t errsz)
{
	char path[4096];
	struct al_buf b = {0};
	int rc;

	memset(c, 0, sizeof(*c));
	c->sandbox_uid = SBX_DEFAULT_UID;
	c->sandbox_gid = SBX_DEFAULT_GID;
	c->memory = 512ull << 20;
	c->disk = SBX_DEFAULT_DISK;
	c->cpus_milli = 1000;
	c->pids = 256;
	c->install_timeout = 900;
	c->test_timeout = 900;
	c->isolate_budget = 1800;
	c->job_timeout = 3 * 3600;
	c->job_retention_days = JOB_RETENTION_DAYS;
	c->socket_gid = (gid_t)-1;
	c->admin_uid = (uid_t)-1;
	c->audit.every_n = AUDIT_DEFAULT_EVERY_N;
	c->audit.every_ms = (int64_t)AUDIT_DEFAULT_EVERY_MIN * 60000;
	npm_rules_init(&c->rules, NPM_POLICY_MAJOR);
	audit_timed_init(&c->export);

	al_strlcpy(c->schedule_tz, "UTC", sizeof(c->schedule_tz));

	snprintf(path, sizeof(path), "%s/airlock.conf", home);
	rc = al_read_file(path, CONFIG_MAX_BYTES, &b);
	if (rc == -ENOENT) {
		rc = 0;
	} else if (rc) {
		snprintf(err, errsz, "%s: %s", path, al_strerror(rc));
		goto out;
	} else {
		rc = config_parse(c, b.p ? b.p : (char[]){""}, path, err,
				  errsz);
		if (rc == 0)
			rc = audit_timed_finish(&c->export, home, path, err,
						errsz);
		if (rc)
			goto out;
	}
	for (size_t i = 0; i < c->nschedules; i++) {
		struct job_schedule *e = &c->schedules[i];
		char why[256];
		if (!e->tz[0]) {
			al_strlcpy(e->tz, c->schedule_tz, sizeof(e->tz));
		} else if ((rc = config_zone(e->tz, why, sizeof(why)))) {
			snprintf(err, errsz, "%s:%u: bad value for 'schedule':"
				 " %s", path, e->line, why);
			rc = AL_E_PARSE;
			goto out;
		}
	}

	if (!c->registry[0]) {
		rc = job_npm_registry(c->registry, sizeof(c->registry));
		if (rc)
			snprintf(err, errsz,
				 "no registry in %s and `npm config get "
				 "registry` gave none (%s)",
				 path, al_strerror(rc));
	}
	if (rc == 0 && c->registry_ca_file[0] &&
	    strncmp(c->registry, "https://", 8)) {
		snprintf(err, errsz, "%s: registry_ca_file is for an https "
			 "registry, and the registry is %s", path, c->registry);
		rc = AL_E_PARSE;
	}
out:
	al_buf_free(&b);
	return rc;
}

/* The schedules as [{"repo","spec","tz"}]. */
static json_t *config_schedules_json(const struct job_config *c)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < c->nschedules; i++)
		json_array_append_new(a, json_pack("{s:s,s:s,s:s}", "repo",
						   c->schedules[i].repo, "spec",
						   c->schedules[i].spec, "tz",
						   c->schedules[i].tz));
	return a;
}

static json_t *config_repo_rules_json(const struct job_config *c)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < c->nrepo_rules; i++)
		json_object_set_new(o, c->repo_rules[i].repo,
				    npm_rules_json(&c->repo_rules[i].rules));
	return o;
}

json_t *job_config_json(const struct job_config *c)
{
	json_t *o = json_pack(
		"{s:s,s:s?,s:s?,s:I,s:I,s:I,s:f,s:i,s:i,s:i,s:i,s:s,s:s?,"
		"s:I,s:I,s:s,s:s,s:i}",
		"registry", c->registry, "registry_token_file",
		c->registry_token_file[0] ? c->registry_token_file : NULL,
		"registry_ca_file",
		c->registry_ca_file[0] ? c->registry_ca_file : NULL,
		"sandbox_uid", (json_int_t)c->sandbox_uid, "memory",
		(json_int_t)c->memory, "disk", (json_int_t)c->disk, "cpus",
		c->cpus_milli / 1000.0, "pids", (int)c->pids, "install_timeout",
		(int)c->install_timeout, "test_timeout", (int)c->test_timeout,
		"isolate_budget", (int)c->isolate_budget, "image",
		c->image[0] ? c->image : "host", "image_digest",
		c->image_digest[0] ? c->image_digest : NULL,
		"audit_checkpoint_entries", (json_int_t)c->audit.every_n,
		"audit_checkpoint_minutes",
		(json_int_t)(c->audit.every_ms / 60000), "workers",
		c->workers ? "" : "auto", "schedule_tz", c->schedule_tz,
		"job_timeout", (int)c->job_timeout);

	if (!o)
		return NULL;
	if (c->workers)
		json_object_set_new(o, "workers", json_integer(c->workers));
	json_object_set_new(o, "socket_group",
			    c->socket_gid == (gid_t)-1
				    ? json_null()
				    : json_integer((json_int_t)c->socket_gid));
	json_object_set_new(o, "admin_user", c->admin_user[0]
						     ? json_string(c->admin_user)
						     : json_null());
	json_object_set_new(o, "local_repos", json_boolean(c->local_repos));
	json_object_set_new(o, "job_retention_days",
			    json_integer(c->job_retention_days));
	json_object_set_new(o, "job_retention_max",
			    json_integer((json_int_t)c->job_retention_max));
	json_object_set_new(o, "admin_keys_file",
			    c->admin_keys_file[0]
				    ? json_string(c->admin_keys_file)
				    : json_null());
	json_object_set_new(o, "export_interval",
			    c->export.interval_ms
				    ? json_sprintf("%llds", (long long)(
					      c->export.interval_ms / 1000))
				    : json_string("off"));
	json_object_set_new(o, "export_push", c->export.push[0]
						      ? json_string(c->export.push)
						      : json_null());
	json_object_set_new(o, "export_push_key", c->export.push[0]
				    ? json_string(c->export.key) : json_null());
	json_object_set_new(o, "export_push_known_hosts",
			    c->export.push[0]
				    ? json_string(c->export.known_hosts)
				    : json_null());
	json_object_set_new(o, "policy", npm_rules_json(&c->rules));
	json_object_set_new(o, "repos", config_repo_rules_json(c));
	json_object_set_new(o, "schedules", config_schedules_json(c));
	return o;
}
