/*
 * methods.c - the control API methods airlockd registers (docs/api.md,
 * "Methods"). They run on the API thread: each is a store read or one
 * scheduler operation, whose state change carries its own audit entry
 * under the caller's actor. A change to the queue pokes the main loop,
 * which leases, or delivers a cancel to the worker at once.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "audit/export.h"
#include "base/err.h"
#include "base/log.h"
#include "base/util.h"
#include "daemon/daemon.h"
#include "daemon/joblog.h"

bool dmn_params_known(json_t *params, const char *const *names,
		      struct api_err *err)
{
	const char *key;
	json_t *v;

	json_object_foreach(params, key, v) {
		size_t i = 0;
		while (names[i] && strcmp(names[i], key))
			i++;
		if (!names[i]) {
			api_fail(err, API_E_PARAMS, "unknown parameter '%.64s'",
				 key);
			return false;
		}
	}
	return true;
}

/* An optional string member: true with *out NULL when absent. */
static bool param_str(json_t *params, const char *name, size_t max,
		      const char **out, struct api_err *err)
{
	json_t *v = json_object_get(params, name);

	*out = NULL;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > max) {
		api_fail(err, API_E_PARAMS, "'%s' must be a string of 1 to %zu "
			 "bytes", name, max);
		return false;
	}
	*out = json_string_value(v);
	return true;
}

static bool param_uint(json_t *params, const char *name, json_int_t max,
		       json_int_t dflt, json_int_t *out, struct api_err *err)
{
	json_t *v = json_object_get(params, name);

	*out = dflt;
	if (!v)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > max) {
		api_fail(err, API_E_PARAMS, "'%s' must be an integer from 0 "
			 "to %lld", name, (long long)max);
		return false;
	}
	*out = json_integer_value(v);
	return true;
}

/* The "id" parameter: a job id as the scheduler makes them. */
static const char *param_id(json_t *params, struct api_err *err)
{
	const char *id = json_string_value(json_object_get(params, "id"));

	if (!id || strlen(id) != SCHED_ID_LEN ||
	    strspn(id, "0123456789abcdef") != SCHED_ID_LEN) {
		api_fail(err, API_E_PARAMS, "'id' must be a job id (%d hex "
			 "digits)", SCHED_ID_LEN);
		return NULL;
	}
	return id;
}

static json_t *sched_fail(struct api_err *err, int rc, const char *id)
{
	if (rc == AL_E_NOTFOUND)
		return api_fail(err, API_E_NOTFOUND, "no job %s", id);
	return api_fail(err, API_E_INTERNAL, "job %s: %s", id,
			al_strerror(rc));
}

static json_t *m_status(void *ctx, const struct api_call *call,
			json_t *params, struct api_err *err)
{
	struct daemon *d = ctx;
	struct api_stats as;
	json_t *queued = NULL, *running = NULL, *out = NULL;
	int rc;

	if (!dmn_params_known(params, (const char *const[]){NULL}, err))
		return NULL;
	api_server_stats(call->server, &as);
	pthread_rwlock_rdlock(&d->sched_lock);
	rc = sched_list(d->sched, SCHED_QUEUED, 0, &queued);
	if (rc == 0)
		rc = sched_list(d->sched, SCHED_RUNNING, 0, &running);
	if (rc == 0)
		out = json_pack(
			"{s:s,s:I,s:s,s:I,s:I,s:{s:i,s:i},s:{s:I,s:o},"
			"s:I,s:I,s:{s:i,s:i,s:I,s:I,s:I,s:I}}",
			"version", AL_VERSION, "pid", (json_int_t)getpid(),
			"home", d->home, "started_ms",
			(json_int_t)d->started_ms, "uptime_s",
			(json_int_t)((al_mono_ms() - d->started_mono) / 1000),
			"workers", "max", (int)d->max_workers, "running",
			(int)atomic_load(&d->running), "queue", "queued",
			(json_int_t)json_array_size(queued), "running",
			json_incref(running), "schedules",
			(json_int_t)d->cfg.nschedules, "reloads",
			(json_int_t)d->reloads, "api", "connections",
			(int)as.conns, "subscribers", (int)as.subscribers,
			"accepted", (json_int_t)as.accepted, "refused",
			(json_int_t)as.refused, "requests",
			(json_int_t)as.requests, "events_lost",
			(json_int_t)as.lost);
	pthread_rwlock_unlock(&d->sched_lock);
	json_decref(queued);
	json_decref(running);
	if (rc)
		return api_fail(err, API_E_INTERNAL, "queue: %s",
				al_strerror(rc));
	return out;
}

static json_t *m_enqueue(void *ctx, const struct api_call *call,
			 json_t *params, struct api_err *err)
{
	static const char *const names[] = {"repo", "branch", "policy",
					    "test_cmd", "priority", NULL};
	struct daemon *d = ctx;
	struct sched_request rq = {.trigger = "api", .actor = call->actor};
	char id[SCHED_ID_LEN + 1], why[512];
	json_int_t prio;
	bool joined = false;
	int rc;

	if (!dmn_params_known(params, names, err) ||
	    !param_str(params, "repo", SCHED_REPO_MAX, &rq.repo, err) ||
	    !param_str(params, "branch", 255, &rq.branch, err) ||
	    !param_str(params, "policy", 16, &rq.policy, err) ||
	    !param_str(params, "test_cmd", 4096, &rq.test_cmd, err) ||
	    !param_uint(params, "priority", 255, SCHED_PRIO_NORMAL, &prio,
			err))
		return NULL;
	rq.priority = (unsigned)prio;
	/* What the worker would refuse at the clone stage, or what would
	 * leak into records and logs, is refused now (sched.h). */
	if (sched_request_check(&rq, 0, why, sizeof(why)))
		return api_fail(err, API_E_PARAMS, "%s", why);
	/* A caller of the socket must not have the daemon (root) clone or
	 * push to the appliance's own disk unless the operator said so. */
	if (!d->cfg.local_repos && sched_repo_is_local(rq.repo))
		return api_fail(err, API_E_PARAMS, "'repo': a path or file URL "
				"on the appliance is refused (local_repos = "
				"off in airlock.conf); give an http(s) URL");
	pthread_rwlock_rdlock(&d->sched_lock);
	rc = sched_enqueue(d->sched, NULL, &rq, id, &joined);
	if (rc == 0)
		dmn_publish_state(d, id);
	pthread_rwlock_unlock(&d->sched_lock);
	if (rc)
		return api_fail(err, API_E_INTERNAL, "enqueue: %s",
				al_strerror(rc));
	dmn_poke(d);
	return json_pack("{s:s,s:b}", "id", id, "joined", joined);
}

static json_t *m_list(void *ctx, const struct api_call *call,
		      json_t *params, struct api_err *err)
{
	static const char *const names[] = {"state", "limit", NULL};
	struct daemon *d = ctx;
	const char *state;
	json_t *jobs = NULL;
	json_int_t limit;
	int st = -1, rc;

	(void)call;
	if (!dmn_params_known(params, names, err) ||
	    !param_str(params, "state", 16, &state, err) ||
	    !param_uint(params, "limit", 1000000, 0, &limit, err))
		return NULL;
	if (state && strcmp(state, "all") &&
	    (st = sched_state_parse(state)) < 0)
		return api_fail(err, API_E_PARAMS, "'state' must be all, "
				"queued, running, succeeded, failed or "
				"cancelled");
	pthread_rwlock_rdlock(&d->sched_lock);
	rc = sched_list(d->sched, st, (size_t)limit, &jobs);
	pthread_rwlock_unlock(&d->sched_lock);
	if (rc)
		return api_fail(err, API_E_INTERNAL, "list: %s",
				al_strerror(rc));
	return json_pack("{s:o}", "jobs", jobs);
}

/* An optional job id parameter (cursor): true with *out NULL if absent. */
static bool param_cursor(json_t *params, const char *name, const char **out,
			 struct api_err *err)
{
	json_t *v = json_object_get(params, name);
	const char *id = json_string_value(v);

	*out = NULL;
	if (!v || json_is_null(v))
		return true;
	if (!id || strlen(id) != SCHED_ID_LEN ||
	    strspn(id, "0123456789abcdef") != SCHED_ID_LEN) {
		api_fail(err, API_E_PARAMS, "'%s' must be a job id (%d hex "
			 "digits)", name, SCHED_ID_LEN);
		return false;
	}
	*out = id;
	return true;
}

/*
 * A sorted or filtered page of every job from the summary index
 * (dmn_jobs_page): "sort" names the column, "desc" the direction,
 * "from" is the last page's "next". The walk's cursors do not apply.
 */
static json_t *page_sorted(struct daemon *d, json_t *params,
			   const char *state, struct sched_index_query *q,
			   struct api_err *err)
{
	const char *sort = json_string_value(json_object_get(params, "sort"));
	json_t *desc = json_object_get(params, "desc");
	json_t *from = json_object_get(params, "from");
	int col = sched_col_parse(sort);

	if (col < 0)
		return api_fail(err, API_E_PARAMS, "'sort' must be id, repo, "
				"state, stage, score, updates, duration or "
				"changed");
	if (desc && !json_is_boolean(desc))
		return api_fail(err, API_E_PARAMS, "'desc' must be true or "
				"false");
	if (json_object_get(params, "before") ||
	    json_object_get(params, "after") || json_object_get(params, "scan"))
		return api_fail(err, API_E_PARAMS, "'before', 'after' and "
				"'scan' page the newest-first walk; a sorted "
				"page goes on with 'from'");
	if (from && !json_is_null(from) && !json_is_array(from))
		return api_fail(err, API_E_PARAMS, "'from' must be the 'next' "
				"of the last page");
	q->col = (enum sched_col)col;
	q->desc = json_is_true(desc);
	q->from = json_is_array(from) ? from : NULL;
	if (state && (q->state = sched_state_parse(state)) < 0)
		return api_fail(err, API_E_PARAMS, "'state' must be queued, "
				"running, succeeded, failed or cancelled");
	return dmn_jobs_page(d, q, err);
}

/*
 * A page of jobs, newest first, reading only the records it returns or
 * examines for a filter (sched_page): what the console scrolls through.
 * With "sort", a page of the summary index instead (page_sorted).
 */
static json_t *m_page(void *ctx, const struct api_call *call,
		      json_t *params, struct api_err *err)
{
	static const char *const names[] = {"before", "after", "state",
					    "level", "match", "limit",
					    "scan", "sort", "desc", "from",
					    NULL};
	struct sched_page_query q = {.state = -1};
	struct daemon *d = ctx;
	const char *state;
	json_int_t limit, scan;
	json_t *out = NULL;
	int rc;

	(void)call;
	if (!dmn_params_known(params, names, err) ||
	    !param_cursor(params, "before", &q.before, err) ||
	    !param_cursor(params, "after", &q.after, err) ||
	    !param_str(params, "state", 16, &state, err) ||
	    !param_str(params, "level", 16, &q.level, err) ||
	    !param_str(params, "match", 256, &q.match, err) ||
	    !param_uint(params, "limit", SCHED_PAGE_MAX, 100, &limit, err) ||
	    !param_uint(params, "scan", SCHED_PAGE_SCAN, SCHED_PAGE_SCAN,
			&scan, err))
		return NULL;
	if (limit == 0 || scan == 0)
		return api_fail(err, API_E_PARAMS, "'limit' and 'scan' must be "
				"at least 1");
	if (json_object_get(params, "sort")) {
		struct sched_index_query iq = {.state = -1, .level = q.level,
					       .match = q.match,
					       .limit = (size_t)limit};
		return page_sorted(d, params, state, &iq, err);
	}
	if (json_object_get(params, "desc") || json_object_get(params, "from"))
		return api_fail(err, API_E_PARAMS, "'desc' and 'from' go with "
				"'sort'");
	if (state && (q.state = sched_state_parse(state)) < 0)
		return api_fail(err, API_E_PARAMS, "'state' must be queued, "
				"running, succeeded, failed or cancelled");
	q.limit = (size_t)limit;
	q.scan = (size_t)scan;
	/* A console opening: have the index ready for its first sort or
	 * filter instead of building it while the operator waits. */
	if (!q.before && !q.after)
		dmn_index_warm(d);
	pthread_rwlock_rdlock(&d->sched_lock);
	rc = sched_page(d->sched, &q, &out);
	pthread_rwlock_unlock(&d->sched_lock);
	if (rc)
		return api_fail(err, API_E_INTERNAL, "page: %s",
				al_strerror(rc));
	return out;
}

static json_t *m_show(void *ctx, const struct api_call *call,
		      json_t *params, struct api_err *err)
{
	static const char *const names[] = {"id", NULL};
	struct daemon *d = ctx;
	const char *id;
	json_t *rec = NULL;
	int rc;

	(void)call;
	if (!dmn_params_known(params, names, err) || !(id = param_id(params, err)))
		return NULL;
	pthread_rwlock_rdlock(&d->sched_lock);
	rc = sched_show(d->sched, id, &rec);
	pthread_rwlock_unlock(&d->sched_lock);
	return rc ? sched_fail(err, rc, id) : rec;
}

static json_t *m_cancel(void *ctx, const struct api_call *call,
			json_t *params, struct api_err *err)
{
	static const char *const names[] = {"id", NULL};
	struct daemon *d = ctx;
	const char *id;
	json_t *rec = NULL, *out = NULL;
	int rc;

	if (!dmn_params_known(params, names, err) || !(id = param_id(params, err)))
		return NULL;
	pthread_rwlock_rdlock(&d->sched_lock);
	rc = sched_cancel(d->sched, NULL, id, call->actor);
	if (rc == 0 && (rc = sched_show(d->sched, id, &rec)) == 0)
		dmn_publish_state(d, id);
	pthread_rwlock_unlock(&d->sched_lock);
	if (rc == AL_E_USAGE)
		return api_fail(err, API_E_CONFLICT, "job %s has ended already",
				id);
	if (rc)
		return sched_fail(err, rc, id);
	/* A running job stops when the main loop tells its worker. */
	dmn_poke(d);
	out = json_pack("{s:s,s:O?,s:b}", "id", id, "state",
			json_object_get(rec, "state"), "cancel_requested", 1);
	json_decref(rec);
	return out;
}

static json_t *m_retry(void *ctx, const struct api_call *call,
		       json_t *params, struct api_err *err)
{
	static const char *const names[] = {"id", NULL};
	struct daemon *d = ctx;
	char nid[SCHED_ID_LEN + 1];
	const char *id;
	int rc;

	if (!dmn_params_known(params, names, err) || !(id = param_id(params, err)))
		return NULL;
	pthread_rwlock_rdlock(&d->sched_lock);
	rc = sched_retry(d->sched, NULL, id, call->actor, nid);
	if (rc == 0)
		dmn_publish_state(d, nid);
	pthread_rwlock_unlock(&d->sched_lock);
	if (rc == AL_E_USAGE)
		return api_fail(err, API_E_CONFLICT, "job %s is not failed or "
				"cancelled: only those are retried", id);
	if (rc == AL_E_PARSE)
		return api_fail(err, API_E_PARAMS, "job %s was queued with a "
				"repository or branch that is refused now (see "
				"job.enqueue); enqueue it anew", id);
	if (rc)
		return sched_fail(err, rc, id);
	dmn_poke(d);
	return json_pack("{s:s,s:s}", "id", nid, "retry_of", id);
}

static json_t *m_logs(void *ctx, const struct api_call *call,
		      json_t *params, struct api_err *err)
{
	static const char *const names[] = {"id", "after", "limit", NULL};
	struct daemon *d = ctx;
	struct store_txn *txn = NULL;
	json_t *lines = NULL, *rec = NULL, *out = NULL;
	json_int_t after, limit;
	uint32_t next = 0;
	const char *id;
	int rc;

	(void)call;
	if (!dmn_params_known(params, names, err) ||
	    !(id = param_id(params, err)) ||
	    !param_uint(params, "after", UINT32_MAX, 0, &after, err) ||
	    !param_uint(params, "limit", DMN_LOG_READ_MAX, 0, &limit, err))
		return NULL;
	pthread_rwlock_rdlock(&d->sched_lock);
	rc = sched_show(d->sched, id, &rec);
	pthread_rwlock_unlock(&d->sched_lock);
	if (rc)
		return sched_fail(err, rc, id);
	if ((rc = store_txn_begin(d->st, false, &txn)) == 0)
		rc = dmn_log_read(txn, id, (uint32_t)after, (unsigned)limit,
				  &lines, &next);
	store_txn_abort(txn);
	if (rc == 0)
		out = json_pack("{s:s,s:o,s:I,s:O?}", "id", id, "lines", lines,
				"next", (json_int_t)next, "state",
				json_object_get(rec, "state"));
	json_decref(rec);
	return rc ? sched_fail(err, rc, id) : out;
}

#define DMN_AUDIT_TAIL_MAX 1000

/* The newest audit entries (before seq "before"), newest first. */
static json_t *m_audit_tail(void *ctx, const struct api_call *call,
			    json_t *params, struct api_err *err)
{
	static const char *const names[] = {"before", "limit", NULL};
	struct daemon *d = ctx;
	struct store_txn *txn = NULL;
	struct store_cursor *cur = NULL;
	json_t *list = json_array(), *e, *out = NULL;
	json_int_t before, limit;
	uint8_t key[8];
	const void *k;
	size_t klen;
	int rc;

	(void)call;
	if (!dmn_params_known(params, names, err) ||
	    !param_uint(params, "before", INT64_MAX, 0, &before, err) ||
	    !param_uint(params, "limit", DMN_AUDIT_TAIL_MAX, 100, &limit, err))
		goto out;
	audit_key((uint64_t)before, key);
	if ((rc = store_txn_begin(d->st, false, &txn)) ||
	    (rc = store_cursor_open(txn, STORE_DB_AUDIT, &cur)) ||
	    (before && (rc = store_cursor_seek(cur, key, sizeof(key)))))
		goto fail;
	while ((json_int_t)json_array_size(list) < limit &&
	       (rc = store_cursor_prev(cur, &k, &klen, &e)) == 0)
		json_array_append_new(
			list, json_pack("{s:O?,s:O?,s:O?,s:O?,s:O?}", "seq",
					json_object_get(e, "seq"), "time",
					json_object_get(e, "time"), "actor",
					json_object_get(e, "actor"), "action",
					json_object_get(e, "action"), "object",
					json_object_get(e, "object")));
	if (rc == 0 || rc == AL_E_NOTFOUND) {
		out = json_pack("{s:O}", "entries", list);
		goto out;
	}
fail:
	api_fail(err, API_E_INTERNAL, "audit log: %s", al_strerror(rc));
out:
	store_cursor_close(cur);
	store_txn_abort(txn);
	json_decref(list);
	return out;
}

/*
 * Verification reads the whole log on this thread: other callers wait
 * for it (docs/KNOWN-LIMITS.md, "Control API").
 */
static json_t *m_verify(void *ctx, const struct api_call *call,
			json_t *params, struct api_err *err)
{
	struct daemon *d = ctx;
	struct audit_verify_opts o = {.home = d->home};
	struct audit_report r = {0};
	json_t *out;
	int rc;

	if (!dmn_params_known(params, (const char *const[]){NULL}, err))
		return NULL;
	rc = audit_verify_store(d->st, &o, &r);
	if (rc && rc != AL_E_CHAIN) {
		audit_report_free(&r);
		return api_fail(err, API_E_INTERNAL, "verification stopped: %s",
				al_strerror(rc));
	}
	out = audit_report_json(&r);
	audit_report_free(&r);
	if (out)
		dmn_views_verified(d, call->actor, out);
	return out;
}

/*
 * Exports go to HOME/export only: a caller naming a directory would
 * have the daemon write files wherever it may, with its rights.
 */
static json_t *m_export(void *ctx, const struct api_call *call,
			json_t *params, struct api_err *err)
{
	struct daemon *d = ctx;
	struct audit_export_info info;
	int rc;

	if (!dmn_params_known(params, (const char *const[]){NULL}, err))
		return NULL;
	rc = audit_export(d->log, NULL, call->actor, &info);
	if (rc)
		return api_fail(err, API_E_INTERNAL, "export failed: %s (the "
				"daemon's log says why)", al_strerror(rc));
	return json_pack("{s:b,s:I,s:I,s:I,s:s,s:s}", "ok", 1, "n",
			 (json_int_t)info.n, "first", (json_int_t)info.first,
			 "last", (json_int_t)info.last, "file", info.file,
			 "digest", info.digest);
}

/*
 * The new key is current when this returns; the values under older
 * keys are sealed again by the main loop afterwards (rotate.c).
 */
static json_t *m_keys_rotate(void *ctx, const struct api_call *call,
			     json_t *params, struct api_err *err)
{
	static const char *const names[] = {"batch", NULL};
	json_int_t batch;

	if (!dmn_params_known(params, names, err) ||
	    !param_uint(params, "batch", 100000, 0, &batch, err))
		return NULL;
	return dmn_keys_rotate(ctx, call->actor, (unsigned)batch, err);
}

/* With check (the default), every record is read on this thread, as in
 * audit.verify. */
static json_t *m_keys_status(void *ctx, const struct api_call *call,
			     json_t *params, struct api_err *err)
{
	static const char *const names[] = {"check", NULL};
	json_t *check = json_object_get(params, "check");

	(void)call;
	if (!dmn_params_known(params, names, err))
		return NULL;
	if (check && !json_is_boolean(check))
		return api_fail(err, API_E_PARAMS, "'check' must be true or "
				"false");
	return dmn_keys_status(ctx, !check || json_is_true(check), err);
}

const struct api_method dmn_methods[] = {
	{"status", m_status},
	{"job.enqueue", m_enqueue},
	{"job.list", m_list},
	{"job.page", m_page},
	{"job.show", m_show},
	{"job.cancel", m_cancel},
	{"job.retry", m_retry},
	{"job.logs", m_logs},
	{"workers", dmn_m_workers},
	{"audit.tail", m_audit_tail},
	{"audit.head", dmn_m_audit_head},
	{"audit.verify", m_verify},
	{"audit.export", m_export},
	{"keys.rotate", m_keys_rotate},
	{"keys.status", m_keys_status},
	{"admin.session", dmn_m_admin_session},
	{"admin.keys.list", dmn_m_admin_keys_list},
	{"admin.keys.add", dmn_m_admin_keys_add},
	{"admin.keys.remove", dmn_m_admin_keys_remove},
	{"audit.pubkey", dmn_m_audit_pubkey},
	{"config.show", dmn_m_config_show},
	{"config.check", dmn_m_config_check},
};
const size_t dmn_nmethods = AL_ARRAY_LEN(dmn_methods);
