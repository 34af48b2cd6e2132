/*
 * config.h - airlock.conf, an INI file under the home directory.
 *
 *   registry = URL          npm registry (default: `npm config get registry`)
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
 *   image = host|DIR       what the sandboxes run on (host)
 *   image_digest = sha256:HEX  refuse any other image (not pinned)
 *
 * Lines are "key = value"; '#' and ';' start comments; [sections] are
 * accepted and ignored in this version. An unknown key or a bad value is
 * an error naming the line, so a typo never runs with a silent default.
 */
#ifndef AL_JOB_CONFIG_H
#define AL_JOB_CONFIG_H

#include <stdint.h>
#include <sys/types.h>

#include "audit/audit.h"

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
	/* "" for the host's own system, else an image directory; and the
	 * digest it must have ("" when not pinned). */
	char image[1024];
	char image_digest[80];
	struct audit_policy audit;
};

/*
 * Defaults, then HOME/airlock.conf if it exists. When no registry is
 * configured, asks npm. Returns 0, or an error with a message in err.
 */
int job_config_load(const char *home, struct job_config *c, char *err,
		    size_t errsz);

/* Run `npm config get registry` (no shell) and store the URL. */
int job_npm_registry(char *out, size_t outsz);

#endif
