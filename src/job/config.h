/*
 * config.h - airlock.conf, an INI file under the home directory.
 *
 *   registry = URL          npm registry (default: `npm config get registry`)
 *   registry_token_file = PATH  a file (ours, mode 0600) holding the
 *                           registry's token (job/regtoken.h)
 *   registry_ca_file = PATH  PEM certificates an https registry's chain
 *                           must end in, instead of the system's roots
 *   sandbox_uid = N         host uid (and gid) sandboxed code runs as
 *   memory = SIZE           per-sandbox memory limit (512M)
 *   cpus = N                per-sandbox CPU limit in CPUs (1)
 *   pids = N                per-sandbox process limit (256)
 *   disk = SIZE             the job's workspace volume (4G): everything
 *                           the job and its sandboxes write, kernel-capped
 *   install_timeout = SEC   wall-clock limit of an install (900)
 *   test_timeout = SEC      wall-clock limit of a test run (900)
 *   isolate_budget = SEC    time for trying failed updates apart (1800;
 *                           0 = never)
 *   audit_checkpoint_entries = N   sign a checkpoint every N entries (1000)
 *   audit_checkpoint_minutes = M   ... and every M minutes (60)
 *   image = host|DIR|FILE  what the sandboxes run on (host): an image
 *                          directory, or a squashfs file of one
 *   image_digest = sha256:HEX  refuse any other image (not pinned): of
 *                          the directory's tree, or of the file's bytes
 *   workers = auto|N       jobs the daemon runs at once (auto: as many
 *                          sandboxes as the CPUs and memory hold at the
 *                          cpus and memory limits above)
 *   schedule_tz = ZONE     zone of schedules without their own (UTC)
 *   schedule = URL [TZ=ZONE] SPEC   run an update of URL on SPEC, a cron
 *                          expression or "weekly mon 06:00" (sched/cron.h);
 *                          one line per repository, repeatable
 *   job_timeout = SEC      the daemon stops a job running longer (10800)
 *   socket_group = GROUP   group of HOME/airlockd.sock: its members may
 *                          use the control API (the daemon's own group)
 *   admin_user = NAME      the SSH admin shell's account: the only uid
 *                          whose calls may name an SSH key (docs/
 *                          admin-shell.md); not root
 *   admin_keys_file = PATH the admin account's authorized keys, which
 *                          the daemon writes (keys admin add|remove)
 *   local_repos = off|on   whether job.enqueue (the control API) takes a
 *                          path or file:// URL on the appliance (off:
 *                          http and https only; schedule lines may)
 *   job_retention_days = N finished jobs (succeeded, failed, cancelled)
 *                          that ended over N days ago are deleted with
 *                          their progress lines (90; 0 = kept for ever)
 *   job_retention_max = N  at most N finished jobs are kept, the oldest
 *                          deleted first (0 = no cap)
 *   export_interval, export_push, export_push_key,
 *   export_push_known_hosts  the timed audit export and its push
 *                          (audit/timed.h, docs/audit.md)
 *
 * The update policy (npm/plan.h, docs/update-job.md "Policies"):
 *   range_strategy = auto|bump|replace|widen|pin      (auto)
 *   allow = GLOB[,GLOB...]   only packages matching one (every package)
 *   ignore = GLOB[,GLOB...]  never packages matching one (none)
 *   min_release_age = DAYS   hold back younger versions (0)
 *   prereleases = off|on     prerelease targets (off)
 *   max_updates = N          updates per job, 0 = no cap (0)
 *   group = all|non-major|none   what one job proposes together (all)
 *
 *   [repo URL]               the policy keys after it, up to the next
 *                            [section], apply to the repository URL only
 *                            (as schedule lines and job records write
 *                            it) and override the keys above for it
 *
 * Lines are "key = value"; '#' and ';' start comments; sections other
 * than [repo URL] end a repository's section and are otherwise ignored.
 * An unknown key or a bad value is an error naming the line, so a typo
 * never runs with a silent default.
 */
#ifndef AL_JOB_CONFIG_H
#define AL_JOB_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "audit/audit.h"
#include "audit/timed.h"
#include "npm/plan.h"
#include "sched/cron.h"
#include "sched/sched.h"
#include "sched/tz.h"

/* One schedule line; tz is "" until schedule_tz fills it in. */
struct job_schedule {
	char repo[SCHED_REPO_MAX + 1];
	char spec[SCHED_CRON_SPEC_MAX + 1];
	char tz[SCHED_TZ_NAME_MAX + 1];
	unsigned line;
};
#define JOB_SCHEDULES_MAX 4096

/* The policy keys of one [repo URL] section (rules.set says which). */
struct job_repo_rules {
	char repo[SCHED_REPO_MAX + 1];
	struct npm_rules rules;
	unsigned line;
};
#define JOB_REPO_RULES_MAX 4096

struct job_config {
	char registry[512];
	uid_t sandbox_uid;
	gid_t sandbox_gid;
	uint64_t memory;
	uint64_t disk;
	unsigned cpus_milli;
	unsigned pids;
	unsigned install_timeout;
	unsigned test_timeout;
	unsigned isolate_budget;
	/* "" for the host's own system, else an image directory or a
	 * packed image (squashfs file); and the digest it must have (""
	 * when not pinned). */
	char image[1024];
	char image_digest[80];
	struct audit_policy audit;
	unsigned workers;       /* 0 = auto: sched_host_workers() */
	char schedule_tz[SCHED_TZ_NAME_MAX + 1];
	struct job_schedule *schedules;
	size_t nschedules;
	struct npm_rules rules; /* the policy keys outside [repo] sections */
	struct job_repo_rules *repo_rules;
	size_t nrepo_rules;
	unsigned job_timeout;   /* s */
	gid_t socket_gid;       /* (gid_t)-1: the daemon's own */
	char registry_token_file[1024]; /* "" when none; read per job */
	char registry_ca_file[1024];    /* "" when none: system roots */
	char admin_user[64];            /* "" when none */
	uid_t admin_uid;                /* (uid_t)-1 when none */
	char admin_keys_file[1024];     /* "" when none */
	bool local_repos;               /* job.enqueue takes paths */
	unsigned job_retention_days;    /* 0: kept for ever */
	uint64_t job_retention_max;     /* finished jobs kept; 0: no cap */
	struct audit_timed_cfg export;  /* the export_* keys */
};

/*
 * Defaults, then HOME/airlock.conf if it exists. When no registry is
 * configured, asks npm. Returns 0, or an error with a message in err.
 * Every schedule's spec and zone are checked here (the zone's file must
 * exist in the system's tzdata), so a daemon never starts with one it
 * cannot run. Free with job_config_free, also after an error.
 */
/* Defaults of the retention keys. */
#define JOB_RETENTION_DAYS 90
#define JOB_RETENTION_DAYS_MAX 36500
#define JOB_RETENTION_MAX_MAX 1000000000

int job_config_load(const char *home, struct job_config *c, char *err,
		    size_t errsz);
void job_config_free(struct job_config *c);

/*
 * The schedules as sched_opts wants them, into out (nschedules
 * entries, owned by the caller; its strings borrow from c).
 */
int job_config_schedules(const struct job_config *c,
			 struct sched_schedule **out);

/*
 * The update policy of a job on repo (its URL without credentials) with
 * the largest bump policy: the global keys, then those of repo's
 * [repo URL] section. Returns whether a section applied.
 */
bool job_config_rules(const struct job_config *c, const char *repo,
		      enum npm_policy policy, struct npm_rules *out);

/*
 * The settings in force as JSON, for `config show`: every key with its
 * value or default. Files are named by path, never read (a token file's
 * contents are not configuration). NULL on allocation failure.
 */
json_t *job_config_json(const struct job_config *c);

/* Run `npm config get registry` (no shell) and store the URL. */
int job_npm_registry(char *out, size_t outsz);

#endif
