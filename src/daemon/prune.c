/*
 * prune.c - retention in the daemon: finished jobs older than
 * job_retention_days, or beyond job_retention_max, are deleted by the
 * scheduler (sched_prune_step), one bounded step per round of the main
 * loop, at start-up and then every hour (docs/daemon.md, "Retention").
 *
 * Each step that deletes is one short write transaction with its own
 * jobs.prune entry, so the API thread and the workers wait for one step
 * at most, never for a whole run. Nothing of a run lives only here that
 * matters after a crash: a run cut short is simply run again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"
#include "daemon/daemon.h"

/* A run at start-up, then one this often. */
#define PRUNE_EVERY_MS (60 * 60 * 1000)
/* After a step failed (a full map grows before the next one). */
#define PRUNE_RETRY_MS (5 * 60 * 1000)
#define PRUNE_DAY_MS ((int64_t)86400000)
/* Bounds of AIRLOCK_TEST_DAY_MS. */
#define PRUNE_TEST_DAY_MIN 1000

struct dmn_prune {
	bool active;
	struct sched_prune run;
	int64_t next_mono;
	int64_t day_ms;
};

/* The length of a retention day: AIRLOCK_TEST_DAY_MS, for tests only. */
static int64_t prune_day_ms(void)
{
	const char *env = getenv("AIRLOCK_TEST_DAY_MS");
	uint64_t n = 0;

	if (!env || !*env)
		return PRUNE_DAY_MS;
	if (al_parse_u64(env, (uint64_t)PRUNE_DAY_MS, &n) ||
	    n < PRUNE_TEST_DAY_MIN) {
		al_warn("daemon", NULL, "AIRLOCK_TEST_DAY_MS='%.32s' is not a "
			"number from %d to %lld: ignored", env,
			PRUNE_TEST_DAY_MIN, (long long)PRUNE_DAY_MS);
		return PRUNE_DAY_MS;
	}
	al_warn("daemon", NULL, "AIRLOCK_TEST_DAY_MS: a day of "
		"job_retention_days lasts %llu ms (for tests)",
		(unsigned long long)n);
	return (int64_t)n;
}

int dmn_prune_init(struct daemon *d)
{
	struct dmn_prune *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->day_ms = prune_day_ms();
	p->next_mono = al_mono_ms();
	d->prune = p;
	return 0;
}

void dmn_prune_free(struct daemon *d)
{
	free(d->prune);
	d->prune = NULL;
}

void dmn_prune_kick(struct daemon *d)
{
	if (d->prune && !d->prune->active)
		d->prune->next_mono = al_mono_ms();
}

int64_t dmn_prune_next(const struct daemon *d)
{
	if (!d->prune || atomic_load(&d->stopping))
		return INT64_MAX;
	return d->prune->active ? 0 : d->prune->next_mono;
}

/* A worker the daemon has not reaped may still send lines for its job. */
static bool prune_busy(void *ctx, const char *id)
{
	return dmn_worker_by_id(ctx, id) != NULL;
}

static void prune_begin(struct daemon *d, struct dmn_prune *p)
{
	int64_t now = sched_now(d->sched);

	memset(&p->run, 0, sizeof(p->run));
	if (d->cfg.job_retention_days)
		p->run.before_ms = now - (int64_t)d->cfg.job_retention_days *
						 p->day_ms;
	p->run.keep = d->cfg.job_retention_max;
	p->run.busy = prune_busy;
	p->run.busy_ctx = d;
	p->active = p->run.before_ms > 0 || p->run.keep;
}

void dmn_prune_round(struct daemon *d, int64_t now_mono)
{
	struct dmn_prune *p = d->prune;
	int rc;

	if (!p || atomic_load(&d->stopping))
		return;
	if (!p->active) {
		if (now_mono < p->next_mono)
			return;
		p->next_mono = now_mono + PRUNE_EVERY_MS;
		prune_begin(d, p);
		if (!p->active)
			return;
	}
	rc = sched_prune_step(d->sched, NULL, &p->run);
	if (rc) {
		al_warn("daemon", NULL, "pruning finished jobs: %s; trying "
			"again in %d minutes", al_strerror(rc),
			PRUNE_RETRY_MS / 60000);
		p->active = false;
		p->next_mono = now_mono + PRUNE_RETRY_MS;
		return;
	}
	if (p->run.step_jobs) {
		/* Deleted jobs must leave the index: it is built anew by
		 * the next sorted or filtered page. */
		pthread_mutex_lock(&d->ix_lock);
		if (d->ix || d->ix_building)
			d->ix_lost = true;
		pthread_mutex_unlock(&d->ix_lock);
	}
	if (!p->run.done)
		return;
	p->active = false;
	if (p->run.jobs)
		al_info("daemon", NULL, "retention: deleted jobs=%llu "
			"lines=%llu days=%u max=%llu",
			(unsigned long long)p->run.jobs,
			(unsigned long long)p->run.lines,
			d->cfg.job_retention_days,
			(unsigned long long)d->cfg.job_retention_max);
}
