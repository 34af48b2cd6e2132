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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
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

	if (rc == 0 && !(d->wview = calloc(SCHED_WORKERS_MAX,
					   sizeof(*d->wview)))) {
		pthread_mutex_destroy(&d->view_lock);
		rc = -ENOMEM;
	}
	return rc;
}

void dmn_views_free(struct daemon *d)
{
	if (!d->wview)
		return;
	pthread_mutex_destroy(&d->view_lock);
	free(d->wview);
	d->wview = NULL;
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
		json_array_append_new(arr, o);
	}
	return arr;
}

json_t *dmn_m_workers(void *ctx, const struct api_call *call,
		      json_t *params, struct api_err *err)
{
	struct daemon *d = ctx;
	json_t *lim = json_object_get(params, "queued");
	json_t *running = NULL, *up = NULL, *out = NULL;
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
	pthread_rwlock_rdlock(&d->sched_lock);
	rc = sched_list(d->sched, SCHED_RUNNING, 0, &running);
	if (rc == 0)
		rc = sched_upcoming(d->sched, (size_t)limit, &up);
	pthread_rwlock_unlock(&d->sched_lock);
	if (rc == 0)
		out = json_pack("{s:i,s:o,s:O?,s:O?,s:O?,s:I,s:I}", "max",
				(int)d->max_workers, "running",
				workers_json(d, running), "queued",
				json_object_get(up, "queued"), "queued_total",
				json_object_get(up, "queued_total"),
				"schedules", json_object_get(up, "schedules"),
				"now_ms", (json_int_t)al_wall_ms(),
				"mono_ms", (json_int_t)al_mono_ms());
	json_decref(running);
	json_decref(up);
	if (rc)
		return api_fail(err, API_E_INTERNAL, "queue: %s",
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
