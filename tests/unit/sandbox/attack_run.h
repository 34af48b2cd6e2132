/*
 * attack_run.h - run one of tests/attacks/ as a sandbox payload, for the
 * test_attack_*.c files. Included by one test file each, so static.
 */
#ifndef AL_TEST_ATTACK_RUN_H
#define AL_TEST_ATTACK_RUN_H

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "sandbox/sandbox.h"

static const char *const attack_env[] = { "PATH=/usr/bin:/bin",
					  "HOME=/tmp", "LANG=C", NULL };

/* A spec with the defaults every attack starts from; tests may adjust. */
static inline void attack_spec(struct sbx_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->env = attack_env;
	s->host_uid = SBX_DEFAULT_UID;
	s->host_gid = SBX_DEFAULT_GID;
	s->stream_fd = -1;
	s->timeout_s = 120; /* a safety net, never asserted */
	s->job_id = "attack";
}

/*
 * Run /attacks/NAME [ARG] in a sandbox made from s, with the attacks
 * directory bound read-only, plus s's own binds. Returns sbx_run's
 * result; r holds the payload's output and status.
 */
static inline int attack_run(struct sbx_spec *s, const char *name, const char *arg,
		      struct sbx_result *r)
{
	const char *dir = getenv("AL_ATTACKS_DIR");
	char prog[256];
	const char *argv[] = { prog, arg, NULL };
	struct sbx_bind binds[8];
	const struct sbx_bind *old = s->binds;
	size_t n = s->nbinds;
	int rc;

	if (!dir || n >= 8)
		return -EINVAL;
	snprintf(prog, sizeof(prog), "/attacks/%s", name);
	if (n)
		memcpy(binds, s->binds, n * sizeof(*binds));
	binds[n] = (struct sbx_bind){ .src = dir, .dst = "/attacks" };
	s->binds = binds;
	s->nbinds = n + 1;
	s->argv = argv;
	rc = sbx_run(s, r);
	s->binds = old;
	s->nbinds = n;
	s->argv = NULL;
	return rc;
}

/* Did the payload's output contain line-start text? */
static inline int attack_said(const struct sbx_result *r, const char *text)
{
	return r->output && strstr(r->output, text) != NULL;
}

/*
 * Directories a test made on the host. attack_cleanup (a cmocka
 * teardown, which runs after a failed assertion too) unmounts any
 * volume on them and removes them.
 */
static char *attack_paths[16];
static int attack_npaths;

/* A new directory under base, owned by uid, removed at teardown. */
static inline char *attack_dir(const char *base, uid_t uid)
{
	char tmpl[256];
	char *dir;

	snprintf(tmpl, sizeof(tmpl), "%s/airlock-attack-XXXXXX", base);
	dir = mkdtemp(tmpl);
	if (!dir || chown(dir, uid, uid) != 0 || chmod(dir, 0755) != 0 ||
	    attack_npaths == 16)
		return NULL;
	attack_paths[attack_npaths] = strdup(dir);
	return attack_paths[attack_npaths++];
}

static inline int attack_cleanup(void **state)
{
	(void)state;
	for (int i = 0; i < attack_npaths; i++) {
		sbx_disk_remove(attack_paths[i], "attack");
		al_rm_tree(attack_paths[i]);
		free(attack_paths[i]);
	}
	attack_npaths = 0;
	return 0;
}

/* What an attack must leave as it was on the host. */
struct attack_host {
	int mounts; /* lines of the host's /proc/1/mountinfo */
	int loops;  /* loop devices with a backing file */
};

static inline int attack_count_lines(const char *path)
{
	FILE *f = fopen(path, "re");
	int n = 0, c;

	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static inline int attack_count_loops(void)
{
	DIR *d = opendir("/sys/block");
	int n = 0;

	for (struct dirent *e; d && (e = readdir(d));) {
		char p[300];
		if (strncmp(e->d_name, "loop", 4))
			continue;
		snprintf(p, sizeof(p), "/sys/block/%s/loop/backing_file",
			 e->d_name);
		n += access(p, F_OK) == 0;
	}
	if (d)
		closedir(d);
	return n;
}

/*
 * Sandbox cgroups this process made and did not remove: any directory
 * airlock-sbx-<our pid>-* next to our own cgroup, in any hierarchy.
 * (Empty cgroups: a cgroup with a process in it cannot be removed.)
 */
static inline int attack_count_cgroups(void)
{
	char line[1024], prefix[64], dir[1400];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int n = 0;

	snprintf(prefix, sizeof(prefix), "airlock-sbx-%d-", (int)getpid());
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':')
						      : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		const char *path = strcmp(c2 + 1, "/") ? c2 + 1 : "";
		/* v1: the controller's own hierarchy; v2 ("0::"): the
		 * unified mount of a hybrid host, or the root of a pure one */
		bool v2 = c1[1] == '\0';
		const char *names[] = { c1 + 1, "unified/", "" };
		for (size_t i = v2 ? 1 : 0; i < (v2 ? 3u : 1u); i++) {
			snprintf(dir, sizeof(dir), "/sys/fs/cgroup/%s%s",
				 names[i], path);
			DIR *d = opendir(dir);
			for (struct dirent *e; d && (e = readdir(d));)
				n += strncmp(e->d_name, prefix,
					     strlen(prefix)) == 0;
			if (d)
				closedir(d);
		}
	}
	if (f)
		fclose(f);
	return n;
}

static inline void attack_host_snapshot(struct attack_host *h)
{
	h->mounts = attack_count_lines("/proc/1/mountinfo");
	h->loops = attack_count_loops();
}

/* 0 when the host looks as it did at the snapshot; else says what. */
static inline int attack_host_changed(const struct attack_host *h,
				      char *why, size_t n)
{
	struct attack_host now;
	int cg = attack_count_cgroups();

	attack_host_snapshot(&now);
	if (now.mounts != h->mounts)
		snprintf(why, n, "host mounts %d -> %d", h->mounts,
			 now.mounts);
	else if (now.loops != h->loops)
		snprintf(why, n, "loop devices %d -> %d", h->loops,
			 now.loops);
	else if (cg)
		snprintf(why, n, "%d sandbox cgroups left", cg);
	else
		return 0;
	return 1;
}

#endif
