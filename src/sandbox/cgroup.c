/*
 * cgroup.c - memory, pids and CPU limits for one sandbox, through
 * whichever cgroup version the host offers.
 *
 * v2 (a unified hierarchy with cgroup.controllers at its root): one
 * directory under the caller's own cgroup when it can host it, else
 * under /sys/fs/cgroup/airlock (see cg2_parent). v1 or a hybrid host: one
 * directory per controller, each under the caller's own path for that
 * controller as /proc/self/cgroup names it, so that a caller already
 * confined (a container, a systemd slice) stays within its own budget.
 */
#include "sandbox/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"

#define SBX_CG_ROOT "/sys/fs/cgroup"

static const char *const sbx_cg_names[SBX_CG_N] = { "memory", "pids",
						    "cpu" };

static int cg_write(const char *dir, const char *file, const char *val)
{
	char path[PATH_MAX + 64];
	int rc = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = strlen(val);
	if (write(fd, val, len) != (ssize_t)len)
		rc = -errno;
	close(fd);
	return rc;
}

static int cg_read(const char *dir, const char *file, char *out, size_t sz)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, out, sz - 1);
	int rc = n < 0 ? -errno : 0;
	close(fd);
	out[n > 0 ? n : 0] = '\0';
	return rc;
}

static uint64_t cg_read_u64(const char *dir, const char *file)
{
	char buf[64];

	if (cg_read(dir, file, buf, sizeof(buf)))
		return 0;
	return strtoull(buf, NULL, 10);
}

/* The value after "key " in a flat keyed text (memory.events...). */
static uint64_t cg_key_value(const char *buf, const char *key)
{
	size_t klen = strlen(key);

	for (const char *line = buf; line && *line;) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
			return strtoull(line + klen + 1, NULL, 10);
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return 0;
}

/* The same, read from dir/file. */
static uint64_t cg_read_key(const char *dir, const char *file,
			    const char *key)
{
	char buf[4096];

	return cg_read(dir, file, buf, sizeof(buf)) ? 0 : cg_key_value(buf, key);
}

/*
 * The caller's own cgroup path for a v1 controller ("memory") or for the
 * unified hierarchy (ctrl NULL), from text, the contents of
 * /proc/self/cgroup.
 */
static int cg_find_path(const char *text, const char *ctrl, char *out,
			size_t outsz)
{
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		const char *end = nl ? nl : line + strlen(line);
		const char *c1 = memchr(line, ':', (size_t)(end - line));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1))
				    : NULL;
		bool hit = false;
		if (c2 && !ctrl) {
			hit = c2 == c1 + 1;
		} else if (c2) {
			size_t n = strlen(ctrl);
			for (const char *p = c1 + 1; p && p < c2;) {
				if ((size_t)(c2 - p) >= n &&
				    strncmp(p, ctrl, n) == 0 &&
				    (p[n] == ',' || p + n == c2))
					hit = true;
				p = memchr(p, ',', (size_t)(c2 - p));
				if (p)
					p++;
			}
		}
		if (hit) {
			size_t len = (size_t)(end - c2 - 1);
			if (len >= outsz)
				return -ENAMETOOLONG;
			memcpy(out, c2 + 1, len);
			out[len] = '\0';
			return 0;
		}
		line = nl ? nl + 1 : NULL;
	}
	return -ENOENT;
}

static int cg_self_path(const char *ctrl, char *out, size_t outsz)
{
	struct al_buf b = { 0 };
	int rc = al_read_file("/proc/self/cgroup", 65536, &b);

	if (rc == 0)
		rc = cg_find_path(b.p ? b.p : "", ctrl, out, outsz);
	al_buf_free(&b);
	return rc;
}

int sbx_cg_detect(char *why, size_t whysz)
{
	char buf[512];
	struct stat st;

	if (cg_read(SBX_CG_ROOT, "cgroup.controllers", buf, sizeof(buf)) ==
	    0) {
		for (int c = 0; c < SBX_CG_N; c++) {
			if (!strstr(buf, sbx_cg_names[c])) {
				snprintf(why, whysz,
					 "cgroup v2 lacks the %s controller",
					 sbx_cg_names[c]);
				return -ENOTSUP;
			}
		}
		return 2;
	}
	for (int c = 0; c < SBX_CG_N; c++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), SBX_CG_ROOT "/%s/cgroup.procs",
			 sbx_cg_names[c]);
		if (stat(path, &st) != 0) {
			snprintf(why, whysz,
				 "no cgroup v2 and no v1 %s hierarchy at %s",
				 sbx_cg_names[c], SBX_CG_ROOT);
			return -ENOTSUP;
		}
	}
	return 1;
}

static int cg_name(char *out, size_t outsz)
{
	unsigned char r[8];
	char hex[17];
	int rc = al_random(r, sizeof(r));

	if (rc)
		return rc;
	al_hex(hex, r, sizeof(r));
	/* The pid tells an operator (and the tests) whose cgroup it is. */
	snprintf(out, outsz, "airlock-sbx-%d-%s", (int)getpid(), hex);
	return 0;
}

#define SBX_CG_CONTROLLERS "+memory +pids +cpu"
/* Where v2 sandboxes go when the caller's own cgroup cannot host them. */
#define SBX_CG2_SHARED SBX_CG_ROOT "/airlock"

/* True when dir/cgroup.subtree_control already has all three. */
static bool cg2_delegated(const char *dir)
{
	char buf[256];

	if (cg_read(dir, "cgroup.subtree_control", buf, sizeof(buf)))
		return false;
	return strstr(buf, "memory") && strstr(buf, "pids") &&
	       strstr(buf, "cpu");
}

/*
 * The v2 parent for a sandbox's cgroup. The caller's own cgroup first,
 * when its controllers are delegated or can be enabled; but v2 forbids
 * enabling them in a cgroup that holds processes, which is where a root
 * shell or a service sits (the "no internal processes" rule). Then the
 * sandboxes go under SBX_CG2_SHARED, beside the host's slices, as
 * container runtimes without systemd delegation do: the root cgroup is
 * exempt from the rule, so the controllers can be enabled all the way.
 */
static int cg2_parent(const char *self, char *out, size_t outsz,
		      const char *job)
{
	char mine[PATH_MAX];
	int rc;

	snprintf(mine, sizeof(mine), SBX_CG_ROOT "%s",
		 strcmp(self, "/") == 0 ? "" : self);
	if (cg2_delegated(mine) ||
	    cg_write(mine, "cgroup.subtree_control", SBX_CG_CONTROLLERS) == 0) {
		al_strlcpy(out, mine, outsz);
		return 0;
	}
	if (mkdir(SBX_CG2_SHARED, 0755) != 0 && errno != EEXIST) {
		rc = -errno;
		goto out;
	}
	rc = cg2_delegated(SBX_CG_ROOT)
		     ? 0
		     : cg_write(SBX_CG_ROOT, "cgroup.subtree_control",
				SBX_CG_CONTROLLERS);
	if (rc == 0 && !cg2_delegated(SBX_CG2_SHARED))
		rc = cg_write(SBX_CG2_SHARED, "cgroup.subtree_control",
			      SBX_CG_CONTROLLERS);
	if (rc == 0)
		al_strlcpy(out, SBX_CG2_SHARED, outsz);
out:
	if (rc)
		al_error(SBX_MOD, job, "step=cgroup no v2 cgroup can take "
			 "the memory, pids and cpu controllers: not %s "
			 "(it holds processes) and not %s: %s", mine,
			 SBX_CG2_SHARED, al_strerror(rc));
	return rc;
}

static int cg_make_dirs(struct sbx_cg *cg, const char *job)
{
	char name[64], self[900], parent[PATH_MAX];
	struct al_buf mine = { 0 };
	int rc = cg_name(name, sizeof(name));

	if (rc == 0)
		rc = al_read_file("/proc/self/cgroup", 65536, &mine);
	for (int c = 0; rc == 0 && c < SBX_CG_N; c++) {
		const char *ctrl = cg->version == 1 ? sbx_cg_names[c] : NULL;
		if (cg->version == 2 && c > 0) {
			memcpy(cg->dir[c], cg->dir[0], sizeof(cg->dir[c]));
			continue;
		}
		rc = cg_find_path(mine.p ? mine.p : "", ctrl, self,
				  sizeof(self));
		if (rc) {
			al_error(SBX_MOD, job, "step=cgroup no %s entry in "
				 "/proc/self/cgroup", ctrl ? ctrl : "v2");
			break;
		}
		const char *sep = strcmp(self, "/") == 0 ? "" : self;
		if (cg->version == 1) {
			snprintf(cg->dir[c], sizeof(cg->dir[c]),
				 SBX_CG_ROOT "/%.16s%.900s/%.40s", ctrl, sep,
				 name);
		} else {
			rc = cg2_parent(self, parent, sizeof(parent), job);
			if (rc)
				break;
			snprintf(cg->dir[c], sizeof(cg->dir[c]), "%.960s/%.40s",
				 parent, name);
		}
		if (mkdir(cg->dir[c], 0700) != 0) {
			rc = -errno;
			al_error(SBX_MOD, job, "step=cgroup mkdir %s: %s",
				 cg->dir[c], strerror(errno));
			break;
		}
		cg->made[c] = true;
	}
	al_buf_free(&mine);
	return rc;
}

static int cg_set_limits(const struct sbx_cg *cg, const struct sbx_spec *s)
{
	char v[64];
	int rc;
	const char *mem = cg->dir[SBX_CG_MEMORY], *pids = cg->dir[SBX_CG_PIDS];
	const char *cpu = cg->dir[SBX_CG_CPU];
	unsigned long quota = (unsigned long)s->cpus_milli * 100;

	snprintf(v, sizeof(v), "%llu", (unsigned long long)s->mem_bytes);
	if (cg->version == 2) {
		rc = cg_write(mem, "memory.max", v);
		/* No swap: a payload must not dodge the limit by paging. */
		if (rc == 0 && cg_write(mem, "memory.swap.max", "0") == -EACCES)
			rc = -EACCES;
		snprintf(v, sizeof(v), "%u", s->pids);
		if (rc == 0)
			rc = cg_write(pids, "pids.max", v);
		snprintf(v, sizeof(v), "%lu 100000", quota);
		if (rc == 0)
			rc = cg_write(cpu, "cpu.max", v);
		return rc;
	}
	rc = cg_write(mem, "memory.limit_in_bytes", v);
	/* memsw exists only with swap accounting; equal means no swap. */
	if (rc == 0) {
		int r2 = cg_write(mem, "memory.memsw.limit_in_bytes", v);
		if (r2 && r2 != -ENOENT)
			rc = r2;
	}
	snprintf(v, sizeof(v), "%u", s->pids);
	if (rc == 0)
		rc = cg_write(pids, "pids.max", v);
	/* The period is the kernel's default, 100000 us, in every new
	 * cgroup (no setting changes that default): only the quota. */
	snprintf(v, sizeof(v), "%lu", quota);
	if (rc == 0)
		rc = cg_write(cpu, "cpu.cfs_quota_us", v);
	return rc;
}

/*
 * v1: open each controller's "tasks" file for the child to join by
 * itself. Writing another process's pid to cgroup.procs takes the
 * kernel's global thread-group lock for writing, which first waits for
 * an RCU grace period (4 to 15 ms on the development machine, paid by
 * every sandbox a daemon starts after a quiet moment); a thread that
 * moves only itself ("0" to tasks) needs no such lock. v1 checks the
 * credentials the file was opened with, so the child can use these
 * although it already sits in its own user namespace. The init of a
 * sandbox is single-threaded, so moving the thread moves the process.
 */
static int cg_open_join(struct sbx_cg *cg, const char *job)
{
	char path[PATH_MAX + 16];

	for (int c = 0; c < SBX_CG_N; c++) {
		snprintf(path, sizeof(path), "%s/tasks", cg->dir[c]);
		cg->join_fd[c] = open(path, O_WRONLY | O_CLOEXEC);
		if (cg->join_fd[c] < 0) {
			int rc = -errno;
			al_error(SBX_MOD, job, "step=cgroup open %s: %s", path,
				 al_strerror(rc));
			return rc;
		}
	}
	return 0;
}

void sbx_cg_close_join(struct sbx_cg *cg)
{
	for (int c = 0; cg->version == 1 && c < SBX_CG_N; c++) {
		if (cg->join_fd[c] >= 0)
			close(cg->join_fd[c]);
		cg->join_fd[c] = -1;
	}
}

void sbx_cg_clear(struct sbx_cg *cg)
{
	memset(cg, 0, sizeof(*cg));
	for (int c = 0; c < SBX_CG_N; c++)
		cg->join_fd[c] = -1;
	for (size_t i = 0; i < AL_ARRAY_LEN(cg->stat_fd); i++)
		cg->stat_fd[i] = -1;
	cg->dir_fd = -1;
}

int sbx_cg_create(struct sbx_cg *cg, const struct sbx_spec *spec)
{
	char why[256];
	int rc;

	sbx_cg_clear(cg);
	rc = sbx_cg_detect(why, sizeof(why));
	if (rc < 0) {
		al_error(SBX_MOD, spec->job_id, "step=cgroup %s", why);
		return rc;
	}
	cg->version = rc;
	rc = cg_make_dirs(cg, spec->job_id);
	if (rc == 0) {
		rc = cg_set_limits(cg, spec);
		if (rc)
			al_error(SBX_MOD, spec->job_id,
				 "step=cgroup setting limits in %s: %s",
				 cg->dir[0], al_strerror(rc));
	}
	if (rc == 0 && cg->version == 1)
		rc = cg_open_join(cg, spec->job_id);
	/* v2: for clone3's CLONE_INTO_CGROUP (sandbox.c); without it the
	 * caller falls back to writing cgroup.procs. */
	if (rc == 0 && cg->version == 2)
		cg->dir_fd = open(cg->dir[0], O_RDONLY | O_DIRECTORY |
				  O_CLOEXEC);
	if (rc)
		sbx_cg_destroy(cg, spec->job_id);
	return rc;
}

int sbx_cg_attach(const struct sbx_cg *cg, pid_t pid)
{
	char v[32];

	if (cg->version != 2 || cg->born_in)
		return 0; /* v1: the child joined through join_fd */
	snprintf(v, sizeof(v), "%d", (int)pid);
	return cg_write(cg->dir[0], "cgroup.procs", v);
}

/* SIGKILL every pid listed in dir/cgroup.procs; returns how many. */
static int cg_kill_procs(const char *dir)
{
	char path[PATH_MAX + 32];
	char line[32];
	int n = 0;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		long pid = strtol(line, NULL, 10);
		if (pid > 1 && kill((pid_t)pid, SIGKILL) == 0)
			n++;
	}
	fclose(f);
	return n;
}

void sbx_cg_kill(const struct sbx_cg *cg)
{
	if (cg->version == 2 && cg->made[0] &&
	    cg_write(cg->dir[0], "cgroup.kill", "1") == 0)
		return;
	/*
	 * v1 has no atomic kill, but every sandboxed process also sits in
	 * the sandbox's pid namespace, whose init dying kills the rest;
	 * this sweep only covers a process caught between the two.
	 */
	for (int c = 0; c < SBX_CG_N; c++)
		if (cg->made[c])
			cg_kill_procs(cg->dir[c]);
}

/* The counters, in stat_fd's order: controller and file, v1 and v2. */
static const struct {
	enum sbx_cg_ctrl ctrl;
	const char *v1, *v2;
} cg_stat_files[] = {
	{ SBX_CG_MEMORY, "memory.max_usage_in_bytes", "memory.peak" },
	{ SBX_CG_MEMORY, "memory.oom_control", "memory.events" },
	{ SBX_CG_PIDS, "pids.peak", "pids.peak" },
	{ SBX_CG_PIDS, "pids.events", "pids.events" },
};

/* Was counter i's directory made? (v2 has one, recorded as made[0].) */
static bool cg_stat_made(const struct sbx_cg *cg, size_t i)
{
	return cg->made[cg->version == 2 ? 0 : cg_stat_files[i].ctrl];
}

static const char *cg_stat_name(const struct sbx_cg *cg, size_t i)
{
	return cg->version == 2 ? cg_stat_files[i].v2 : cg_stat_files[i].v1;
}

void sbx_cg_open_stats(struct sbx_cg *cg)
{
	char path[PATH_MAX + 64];

	for (size_t i = 0; i < AL_ARRAY_LEN(cg_stat_files); i++) {
		if (!cg_stat_made(cg, i) || cg->stat_fd[i] >= 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s",
			 cg->dir[cg_stat_files[i].ctrl], cg_stat_name(cg, i));
		cg->stat_fd[i] = open(path, O_RDONLY | O_CLOEXEC);
	}
}

static void cg_close_stats(struct sbx_cg *cg)
{
	for (size_t i = 0; i < AL_ARRAY_LEN(cg->stat_fd); i++) {
		if (cg->stat_fd[i] >= 0)
			close(cg->stat_fd[i]);
		cg->stat_fd[i] = -1;
	}
}

/* Counter i as text, through its open descriptor or else its path. */
static int cg_read_stat(const struct sbx_cg *cg, size_t i, char *out,
			size_t sz)
{
	ssize_t n;

	if (cg->stat_fd[i] < 0)
		return cg_read(cg->dir[cg_stat_files[i].ctrl],
			       cg_stat_name(cg, i), out, sz);
	n = pread(cg->stat_fd[i], out, sz - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	return n < 0 ? -errno : 0;
}

void sbx_cg_read_stats(const struct sbx_cg *cg, struct sbx_cg_stats *st)
{
	char buf[4][4096];

	memset(st, 0, sizeof(*st));
	if (!cg->made[0])
		return;
	for (size_t i = 0; i < AL_ARRAY_LEN(cg_stat_files); i++)
		if (!cg_stat_made(cg, i) ||
		    cg_read_stat(cg, i, buf[i], sizeof(buf[i])) != 0)
			buf[i][0] = '\0';
	st->mem_peak = strtoull(buf[0], NULL, 10);
	st->oom_kills = cg_key_value(buf[1], "oom_kill");
	st->pids_peak = (unsigned)strtoull(buf[2], NULL, 10);
	st->pids_max_hits = cg_key_value(buf[3], "max");
}

/* Has the cgroup no process left? */
static bool cg_empty(const char *dir)
{
	char buf[16];

	return cg_read(dir, "cgroup.procs", buf, sizeof(buf)) != 0 ||
	       buf[0] == '\0';
}

int sbx_cg_destroy(struct sbx_cg *cg, const char *job)
{
	int rc = 0;

	sbx_cg_close_join(cg);
	cg_close_stats(cg);
	if (cg->dir_fd >= 0)
		close(cg->dir_fd);
	cg->dir_fd = -1;
	for (int c = 0; c < SBX_CG_N; c++) {
		if (!cg->made[c])
			continue;
		/* Empty already (the usual case): removed at the first try. */
		if (rmdir(cg->dir[c]) == 0 || errno == ENOENT) {
			cg->made[c] = false;
			continue;
		}
		/* Killed processes leave asynchronously: retry for ~5 s. */
		for (int i = 0; i < 500 && !cg_empty(cg->dir[c]); i++) {
			if (i % 10 == 0)
				cg_kill_procs(cg->dir[c]);
			usleep(10000);
		}
		int r = -EBUSY;
		for (int i = 0; i < 100; i++) {
			r = rmdir(cg->dir[c]) == 0 ? 0 : -errno;
			if (r != -EBUSY)
				break;
			usleep(10000);
		}
		if (r == -ENOENT)
			r = 0;
		if (r) {
			al_error(SBX_MOD, job, "step=cleanup rmdir %s: %s",
				 cg->dir[c], al_strerror(r));
			rc = rc ? rc : r;
		}
		cg->made[c] = false;
	}
	return rc;
}

/* Remove dir's airlock-sbx-<pid>-* children whose creator is dead. */
static int cg_sweep_dir(const char *dir)
{
	char path[PATH_MAX];
	int n = 0;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	for (struct dirent *e; (e = readdir(d));) {
		int pid;
		if (sscanf(e->d_name, "airlock-sbx-%d-", &pid) != 1 ||
		    pid <= 0 || (kill(pid, 0) == 0 || errno != ESRCH))
			continue;
		snprintf(path, sizeof(path), "%.3900s/%.100s", dir, e->d_name);
		for (int i = 0; i < 100 && !cg_empty(path); i++) {
			if (i % 10 == 0)
				cg_kill_procs(path);
			usleep(10000);
		}
		if (rmdir(path) == 0) {
			n++;
			al_warn(SBX_MOD, NULL, "removed cgroup %s left by dead "
				"process %d", path, pid);
		}
	}
	closedir(d);
	return n;
}

/*
 * Call fn for each directory this process's sandboxes have their
 * cgroups in (cg_make_dirs): its own cgroup of each v1 controller, or
 * its v2 cgroup and SBX_CG2_SHARED (cg2_parent). c is the controller's
 * index (0 on v2). Returns the sum of what fn returned.
 */
static int cg_each_parent(int version,
			  int (*fn)(int version, int c, const char *dir,
				    void *arg),
			  void *arg)
{
	char self[900], dir[PATH_MAX] = "";
	int n = 0;

	for (int c = 0; c < SBX_CG_N; c++) {
		const char *ctrl = version == 1 ? sbx_cg_names[c] : NULL;
		if (version == 2 && c > 0)
			break;
		if (cg_self_path(ctrl, self, sizeof(self)))
			continue;
		const char *sep = strcmp(self, "/") == 0 ? "" : self;
		if (version == 1)
			snprintf(dir, sizeof(dir), SBX_CG_ROOT "/%s%s", ctrl,
				 sep);
		else
			snprintf(dir, sizeof(dir), SBX_CG_ROOT "%s", sep);
		n += fn(version, c, dir, arg);
	}
	if (version == 2 && strcmp(dir, SBX_CG2_SHARED))
		n += fn(2, 0, SBX_CG2_SHARED, arg);
	return n;
}

static int cg_sweep_cb(int version, int c, const char *dir, void *arg)
{
	(void)version;
	(void)c;
	(void)arg;
	return cg_sweep_dir(dir);
}

int sbx_sweep(void)
{
	char why[256];
	int version = sbx_cg_detect(why, sizeof(why));

	return version < 0 ? 0 : cg_each_parent(version, cg_sweep_cb, NULL);
}

/*
 * Live usage (sbx_usage_of). The reader looks where sbx_run puts the
 * cgroups of a process that shares its own cgroup (cg_make_dirs and
 * cg2_parent), by the creator's pid in their names, so the creator
 * needs to tell it nothing: a daemon finds its workers' sandboxes.
 */

/* A v1 "no limit" is the largest page-aligned value, not a word. */
static uint64_t cg_limit(uint64_t v)
{
	return v >= ((uint64_t)1 << 62) ? 0 : v;
}

/* CPU time, in microseconds, of the processes in dir/cgroup.procs and
 * of the children they reaped (v1 without cpuacct beside cpu). */
static uint64_t cg_procs_cpu_usec(const char *dir)
{
	char path[PATH_MAX + 32], line[32], stat[1024];
	long tck = sysconf(_SC_CLK_TCK);
	uint64_t ticks = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	if (tck <= 0 || !(f = fopen(path, "re")))
		return 0;
	while (fgets(line, sizeof(line), f)) {
		long pid = strtol(line, NULL, 10);
		char pdir[64];
		if (pid <= 0)
			continue;
		snprintf(pdir, sizeof(pdir), "/proc/%ld", pid);
		if (cg_read(pdir, "stat", stat, sizeof(stat)))
			continue;
		/* The command name may hold spaces and parentheses: the
		 * fields start after the last ')'. utime, stime, cutime
		 * and cstime are fields 14 to 17, the 12th to 15th after
		 * it. */
		char *p = strrchr(stat, ')');
		unsigned long long v[4] = {0};
		if (p && sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u "
				"%*u %*u %llu %llu %llu %llu", &v[0], &v[1],
				&v[2], &v[3]) == 4)
			ticks += v[0] + v[1] + v[2] + v[3];
	}
	fclose(f);
	return ticks * 1000000u / (uint64_t)tck;
}

static void cg_usage_v2(const char *dir, struct sbx_usage *u)
{
	char buf[64];
	unsigned long long quota = 0, period = 0;

	u->sandboxes++;
	u->mem_bytes += cg_read_u64(dir, "memory.current");
	u->mem_max += cg_read_u64(dir, "memory.max"); /* "max": 0 */
	u->cpu_usec += cg_read_key(dir, "cpu.stat", "usage_usec");
	if (cg_read(dir, "cpu.max", buf, sizeof(buf)) == 0 &&
	    sscanf(buf, "%llu %llu", &quota, &period) == 2 && period)
		u->cpu_milli += (unsigned)(quota * 1000 / period);
	u->pids += (unsigned)cg_read_u64(dir, "pids.current");
	u->pids_max += (unsigned)cg_read_u64(dir, "pids.max");
}

static void cg_usage_v1(int c, const char *dir, struct sbx_usage *u)
{
	uint64_t ns;
	long long quota;
	char buf[64];

	switch (c) {
	case SBX_CG_MEMORY:
		u->sandboxes++;
		u->mem_bytes += cg_read_u64(dir, "memory.usage_in_bytes");
		u->mem_max += cg_limit(cg_read_u64(dir,
						   "memory.limit_in_bytes"));
		break;
	case SBX_CG_CPU:
		if (cg_read(dir, "cpuacct.usage", buf, sizeof(buf)) == 0) {
			ns = strtoull(buf, NULL, 10);
			u->cpu_usec += ns / 1000;
		} else {
			u->cpu_usec += cg_procs_cpu_usec(dir);
		}
		quota = cg_read(dir, "cpu.cfs_quota_us", buf, sizeof(buf))
				? -1 : strtoll(buf, NULL, 10);
		ns = cg_read_u64(dir, "cpu.cfs_period_us");
		if (quota > 0 && ns)
			u->cpu_milli += (unsigned)((uint64_t)quota * 1000 / ns);
		break;
	default:
		u->pids += (unsigned)cg_read_u64(dir, "pids.current");
		u->pids_max += (unsigned)cg_read_u64(dir, "pids.max");
		break;
	}
}

/* Add the usage of parent's airlock-sbx-<creator>-* children. */
static void cg_usage_dir(int version, int c, const char *parent,
			 pid_t creator, struct sbx_usage *u)
{
	char prefix[48], path[PATH_MAX];
	DIR *d = opendir(parent);

	if (!d)
		return;
	snprintf(prefix, sizeof(prefix), "airlock-sbx-%d-", (int)creator);
	for (struct dirent *e; (e = readdir(d));) {
		if (strncmp(e->d_name, prefix, strlen(prefix)))
			continue;
		snprintf(path, sizeof(path), "%.3900s/%.100s", parent,
			 e->d_name);
		if (version == 2)
			cg_usage_v2(path, u);
		else
			cg_usage_v1(c, path, u);
	}
	closedir(d);
}

struct cg_usage_arg {
	pid_t creator;
	struct sbx_usage *u;
};

static int cg_usage_cb(int version, int c, const char *dir, void *arg)
{
	const struct cg_usage_arg *a = arg;

	cg_usage_dir(version, c, dir, a->creator, a->u);
	return 0;
}

int sbx_usage_of(pid_t creator, struct sbx_usage *u)
{
	char why[256];
	int version = sbx_cg_detect(why, sizeof(why));
	struct cg_usage_arg a = {creator, u};

	memset(u, 0, sizeof(*u));
	if (version < 0)
		return -ENOTSUP;
	cg_each_parent(version, cg_usage_cb, &a);
	return 0;
}
