/*
 * views.c - what an operator's view asks the daemon (docs/api.md,
 * "workers" and "audit.head"): the running workers with their
 * sandboxes' use of CPU and memory against the limits, the queue and
 * the schedules to come, and a cheap look at the audit log's state.
 *
 * The workers belong to the main thread. After each round of its loop
 * it copies them (a few fields each) under view_lock, and the API
 * thread reads the copy: no lock around the main thread's own state.
 * A worker's sandboxes are found by its pid, which names their cgroups
 * (sbx_usage_of); the worker tells nothing, so a worker that dies
 * leaves nothing stale behind.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"
#include "daemon/daemon.h"
#include "sandbox/sandbox.h"

/* Queued jobs a workers call lists by default, and at most. */
#define DMN_VIEW_QUEUED 50
#define DMN_VIEW_QUEUED_MAX 1000
/* Entries after the last checkpoint audit.head checks at most. */
#define DMN_HEAD_CHECK_MAX 10000

int dmn_views_init(struct daemon *d)
{
	int rc = -pthread_mutex_init(&d->view_lock, NULL);

	if (rc == 0 && (rc = -pthread_mutex_init(&d->ix_lock, NULL)))
		pthread_mutex_destroy(&d->view_lock);
	if (rc == 0 && (rc = -pthread_cond_init(&d->ix_done, NULL))) {
		pthread_mutex_destroy(&d->ix_lock);
		pthread_mutex_destroy(&d->view_lock);
	}
	if (rc == 0 && (!(d->wview = calloc(SCHED_WORKERS_MAX,
					    sizeof(*d->wview))) ||
			!(d->ix_pending = calloc(DMN_INDEX_PENDING,
						 sizeof(*d->ix_pending))))) {
		free(d->wview);
		d->wview = NULL;
		pthread_mutex_destroy(&d->view_lock);
		pthread_mutex_destroy(&d->ix_lock);
		pthread_cond_destroy(&d->ix_done);
		rc = -ENOMEM;
	}
	return rc;
}

void dmn_views_free(struct daemon *d)
{
	if (!d->wview)
		return;
	dmn_index_join(d);
	pthread_mutex_destroy(&d->view_lock);
	pthread_mutex_destroy(&d->ix_lock);
	pthread_cond_destroy(&d->ix_done);
	free(d->wview);
	d->wview = NULL;
	free(d->ix_pending);
	d->ix_pending = NULL;
	sched_index_free(d->ix);
	d->ix = NULL;
	json_decref(d->last_verify);
	d->last_verify = NULL;
}

void dmn_views_update(struct daemon *d)
{
	unsigned n = 0;

	if (!d->wview)
		return;
	pthread_mutex_lock(&d->view_lock);
	for (unsigned i = 0; i < d->nslots && n < SCHED_WORKERS_MAX; i++) {
		const struct dmn_worker *w = &d->workers[i];
		struct dmn_wview *v = &d->wview[n];
		if (!w->used)
			continue;
		*v = (struct dmn_wview){.slot = w->slot, .pid = w->pid,
					.attempt = w->attempt,
					.step = w->step, .steps = w->steps,
					.started_ms = w->started_ms,
					.stop = w->stop};
		memcpy(v->id, w->id, sizeof(v->id));
		memcpy(v->stage, w->stage, sizeof(v->stage));
		n++;
	}
	d->nwview = n;
	pthread_mutex_unlock(&d->view_lock);
}

void dmn_views_verified(struct daemon *d, const char *actor,
			const json_t *report)
{
	json_t *v = json_pack("{s:O?,s:O?,s:O?,s:O?,s:I,s:s}", "ok",
			      json_object_get(report, "ok"), "entries",
			      json_object_get(report, "entries"), "broken_at",
			      json_object_get(report, "broken_at"),
			      "problem_count",
			      json_object_get(report, "problem_count"),
			      "time_ms", (json_int_t)al_wall_ms(), "actor",
			      actor);

	if (!v || !d->wview)
		return;
	pthread_mutex_lock(&d->view_lock);
	json_decref(d->last_verify);
	d->last_verify = v;
	pthread_mutex_unlock(&d->view_lock);
}

/* The sandbox usage of worker pid, or null when it runs none now. */
static json_t *worker_usage(pid_t pid)
{
	struct sbx_usage u;

	if (sbx_usage_of(pid, &u) || u.sandboxes == 0)
		return json_null();
	return json_pack("{s:i,s:I,s:I,s:I,s:i,s:i,s:i,s:I}", "sandboxes",
			 (int)u.sandboxes, "mem_bytes", (json_int_t)u.mem_bytes,
			 "mem_max", (json_int_t)u.mem_max, "cpu_usec",
			 (json_int_t)u.cpu_usec, "cpu_milli", (int)u.cpu_milli,
			 "pids", (int)u.pids, "pids_max", (int)u.pids_max,
			 "sampled_ms", (json_int_t)al_mono_ms());
}

/* The repository of running job id, from the running summaries. */
static json_t *running_repo(json_t *running, const char *id)
{
	json_t *s;
	size_t i;

	json_array_foreach(running, i, s)
		if (!strcmp(json_string_value(json_object_get(s, "id")) ?: "",
			    id))
			return json_object_get(s, "repo");
	return NULL;
}

/* The copy of the workers as JSON; usage read outside the lock. */
static json_t *workers_json(struct daemon *d, json_t *running)
{
	struct dmn_wview v[SCHED_WORKERS_MAX];
	json_t *arr = json_array();
	unsigned n;

	pthread_mutex_lock(&d->view_lock);
	n = d->nwview;
	memcpy(v, d->wview, n * sizeof(*v));
	pthread_mutex_unlock(&d->view_lock);
	for (unsigned i = 0; arr && i < n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "worker-%u", v[i].slot);
		json_t *o = json_pack("{s:s,s:i,s:I,s:s,s:O?,s:i,s:s,s:I,s:s,"
				      "s:o}", "worker", name, "slot",
				      (int)v[i].slot, "pid", (json_int_t)v[i].pid,
				      "id", v[i].id, "repo",
				      running_repo(running, v[i].id),
				      "attempt", (int)v[i].attempt, "stage",
				      v[i].stage, "started_ms",
				      (json_int_t)v[i].started_ms, "stop",
				      dmn_stop_name(v[i].stop), "sandbox",
				      worker_usage(v[i].pid));
		if (o && v[i].step)
			json_object_set_new(o, "step", json_integer(v[i].step));
		if (o && v[i].steps)
			json_object_set_new(o, "steps",
					    json_integer(v[i].steps));
		json_array_append_new(arr, o);
	}
	return arr;
}

/* The workers view (docs/api.md, "Workers and queue"); NULL with *rc. */
static json_t *workers_result(struct daemon *d, size_t limit, int *rc)
{
	json_t *running = NULL, *up = NULL, *out = NULL;

	pthread_rwlock_rdlock(&d->sched_lock);
	*rc = sched_list(d->sched, SCHED_RUNNING, 0, &running);
	if (*rc == 0)
		*rc = sched_upcoming(d->sched, limit, &up);
	pthread_rwlock_unlock(&d->sched_lock);
	if (*rc == 0)
		out = json_pack("{s:i,s:o,s:O?,s:O?,s:O?,s:I,s:I}", "max",
				(int)d->max_workers, "running",
				workers_json(d, running), "queued",
				json_object_get(up, "queued"), "queued_total",
				json_object_get(up, "queued_total"),
				"schedules", json_object_get(up, "schedules"),
				"now_ms", (json_int_t)al_wall_ms(),
				"mono_ms", (json_int_t)al_mono_ms());
	if (*rc == 0 && !out)
		*rc = -ENOMEM;
	json_decref(running);
	json_decref(up);
	return out;
}

json_t *dmn_m_workers(void *ctx, const struct api_call *call,
		      json_t *params, struct api_err *err)
{
	struct daemon *d = ctx;
	json_t *lim = json_object_get(params, "queued"), *out;
	json_int_t limit = DMN_VIEW_QUEUED;
	int rc;

	(void)call;
	if (json_object_size(params) > (lim ? 1u : 0u))
		return api_fail(err, API_E_PARAMS, "the only parameter is "
				"'queued'");
	if (lim && (!json_is_integer(lim) || json_integer_value(lim) < 0 ||
		    json_integer_value(lim) > DMN_VIEW_QUEUED_MAX))
		return api_fail(err, API_E_PARAMS, "'queued' must be an integer "
				"from 0 to %d", DMN_VIEW_QUEUED_MAX);
	if (lim)
		limit = json_integer_value(lim);
	out = workers_result(d, (size_t)limit, &rc);
	if (!out)
		return api_fail(err, API_E_INTERNAL, "queue: %s",
				al_strerror(rc));
	return out;
}

void dmn_views_subscribed(void *ctx)
{
	struct daemon *d = ctx;

	/* A new subscriber gets a sample at once, from the main loop. */
	atomic_fetch_add(&d->wv_gen, 1);
	dmn_poke(d);
}

static unsigned sample_subscribers(struct daemon *d)
{
	return d->api ? api_server_subscribers(d->api, "workers") : 0;
}

int64_t dmn_views_next(struct daemon *d, int64_t now)
{
	unsigned subs = sample_subscribers(d);
	int64_t at = INT64_MAX;

	if (!subs)
		return INT64_MAX;
	if (atomic_load(&d->wv_gen) != d->wv_gen_seen)
		return now;
	if (atomic_load(&d->wv_dirty))
		at = d->wv_last_mono + DMN_SAMPLE_EVENT_MS;
	if (atomic_load(&d->running) && d->wv_last_mono + DMN_SAMPLE_MS < at)
		at = d->wv_last_mono + DMN_SAMPLE_MS;
	return at;
}

/* Drop the index when no sorted or filtered page asked for it lately:
 * it is rebuilt on demand, and an idle daemon keeps its memory small. */
static void index_idle(struct daemon *d, int64_t now)
{
	pthread_mutex_lock(&d->ix_lock);
	if (d->ix && now - d->ix_used_mono >= DMN_INDEX_IDLE_MS) {
		al_info("daemon", NULL, "job index dropped after %d min unused "
			"jobs=%zu", DMN_INDEX_IDLE_MS / 60000,
			sched_index_count(d->ix));
		sched_index_free(d->ix);
		d->ix = NULL;
		/* Give the rows back to the system, not to malloc's free
		 * lists: the point is the idle daemon's size. */
		malloc_trim(0);
	}
	pthread_mutex_unlock(&d->ix_lock);
}

void dmn_views_round(struct daemon *d, int64_t now)
{
	unsigned gen = atomic_load(&d->wv_gen);
	json_t *sample;
	int rc;

	index_idle(d, now);
	if (sample_subscribers(d) && now >= dmn_views_next(d, now)) {
		d->wv_gen_seen = gen;
		atomic_store(&d->wv_dirty, false);
		d->wv_last_mono = now;
		sample = workers_result(d, DMN_VIEW_QUEUED, &rc);
		if (sample)
			api_server_publish(d->api, "workers", "workers", sample);
		else
			al_warn("daemon", NULL, "workers sample: %s",
				al_strerror(rc));
	}
}

void dmn_jobs_changed(struct daemon *d, const json_t *rec, int64_t now_ms)
{
	const char *id = json_string_value(json_object_get(rec, "id"));

	pthread_mutex_lock(&d->ix_lock);
	if (d->ix && sched_index_put(d->ix, rec, now_ms)) {
		/* A stale row would mislead: the next page builds anew. */
		al_warn("daemon", id, "job index: the change was not indexed; "
			"the index is built again");
		d->ix_lost = true;
	}
	if (!d->ix && d->ix_building && id) {
		if (d->ix_npending < DMN_INDEX_PENDING)
			al_strlcpy(d->ix_pending[d->ix_npending++], id,
				   sizeof(*d->ix_pending));
		else
			d->ix_lost = true;
	}
	pthread_mutex_unlock(&d->ix_lock);
}

/* Read again the jobs that changed while the index was built. */
static void index_replay(struct daemon *d, struct sched_index *ix)
{
	for (size_t i = 0; i < d->ix_npending; i++) {
		json_t *rec = NULL;
		if (sched_show(d->sched, d->ix_pending[i], &rec) == 0)
			sched_index_put(ix, rec, 0);
		json_decref(rec);
	}
	d->ix_npending = 0;
}

/*
 * Build the index without holding ix_lock (it reads and unseals every
 * record), then put it in place; called and returns with ix_lock held.
 * Too many changes meanwhile: build again, at most three times.
 */
static int index_build(struct daemon *d)
{
	struct sched_index *ix = NULL;
	int64_t t0 = al_mono_ms();
	int rc = 0;

	/* One build at a time: a page that comes while the warm-up thread
	 * builds waits for it rather than building a second index. */
	while (d->ix_building)
		pthread_cond_wait(&d->ix_done, &d->ix_lock);
	if (d->ix && !d->ix_lost)
		return 0;
	if (d->ix) {
		sched_index_free(d->ix);
		d->ix = NULL;
	}
	for (int tries = 0; !d->ix && tries < 3; tries++) {
		d->ix_building = true;
		d->ix_lost = false;
		d->ix_npending = 0;
		pthread_mutex_unlock(&d->ix_lock);
		pthread_rwlock_rdlock(&d->sched_lock);
		rc = sched_index_build(d->sched, &ix);
		pthread_mutex_lock(&d->ix_lock);
		d->ix_building = false;
		pthread_cond_broadcast(&d->ix_done);
		if (rc == 0 && !d->ix_lost) {
			index_replay(d, ix);
			d->ix = ix;
		} else {
			sched_index_free(ix);
		}
		ix = NULL;
		pthread_rwlock_unlock(&d->sched_lock);
		if (rc)
			return rc;
	}
	if (!d->ix)
		return -EAGAIN;
	al_info("daemon", NULL, "job index built jobs=%zu bytes=%zu ms=%lld",
		sched_index_count(d->ix), sched_index_bytes(d->ix),
		(long long)(al_mono_ms() - t0));
	return 0;
}

static void *index_warm_main(void *arg)
{
	struct daemon *d = arg;
	int rc;

	pthread_mutex_lock(&d->ix_lock);
	rc = index_build(d);
	d->ix_used_mono = al_mono_ms();
	d->ix_thread_ended = true;
	pthread_mutex_unlock(&d->ix_lock);
	if (rc)
		al_warn("daemon", NULL, "job index: %s (the next sorted or "
			"filtered page builds it)", al_strerror(rc));
	return NULL;
}

void dmn_index_join(struct daemon *d)
{
	if (d->ix_thread_started) {
		pthread_join(d->ix_thread, NULL);
		d->ix_thread_started = false;
	}
}

void dmn_index_warm(struct daemon *d)
{
	bool start;

	pthread_mutex_lock(&d->ix_lock);
	start = (!d->ix || d->ix_lost) && !d->ix_building &&
		(!d->ix_thread_started || d->ix_thread_ended);
	pthread_mutex_unlock(&d->ix_lock);
	if (!start)
		return;
	dmn_index_join(d); /* the last warm-up, ended */
	d->ix_thread_ended = false;
	if (pthread_create(&d->ix_thread, NULL, index_warm_main, d) == 0)
		d->ix_thread_started = true;
	else
		al_warn("daemon", NULL, "job index: no thread to build it "
			"ahead (the next sorted or filtered page builds it)");
}

json_t *dmn_jobs_page(struct daemon *d, const struct sched_index_query *q,
		      struct api_err *err)
{
	json_t *out = NULL;
	int rc = 0;

	pthread_mutex_lock(&d->ix_lock);
	if (!d->ix || d->ix_lost || d->ix_building)
		rc = index_build(d);
	if (rc == 0)
		rc = sched_index_page(d->ix, q, &out);
	d->ix_used_mono = al_mono_ms();
	pthread_mutex_unlock(&d->ix_lock);
	if (rc == AL_E_USAGE)
		return api_fail(err, API_E_PARAMS, "'from' is not a cursor of "
				"this sort (pass the 'next' of the last page)");
	if (rc)
		return api_fail(err, API_E_INTERNAL, "job index: %s",
				al_strerror(rc));
	return out;
}

json_t *dmn_m_audit_head(void *ctx, const struct api_call *call,
			 json_t *params, struct api_err *err)
{
	struct daemon *d = ctx;
	json_t *out = NULL;
	int rc;

	(void)call;
	if (json_object_size(params))
		return api_fail(err, API_E_PARAMS, "audit.head takes no "
				"parameters");
	rc = audit_head_report(d->log, DMN_HEAD_CHECK_MAX, &out);
	if (rc)
		return api_fail(err, API_E_INTERNAL, "audit log: %s",
				al_strerror(rc));
	pthread_mutex_lock(&d->view_lock);
	json_object_set(out, "verified",
			d->last_verify ? d->last_verify : json_null());
	pthread_mutex_unlock(&d->view_lock);
	return out;
}
