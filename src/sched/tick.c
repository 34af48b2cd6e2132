/*
 * tick.c - schedules firing, the next wake-up, and read-only views of
 * the queue (sched.h).
 */
#include "sched/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"

/*
 * One schedule: first sight records now; a due slot enqueues one job and
 * records now, which coalesces every slot missed up to now into it.
 */
static int tick_one(struct sched *s, struct store_txn *txn,
		    const struct sched_entry *e, int64_t now, json_t *fired)
{
	json_t *repo = NULL;
	uint8_t rkey[32];
	int64_t last, slot;
	char id[SCHED_ID_LEN + 1];
	bool joined = false;
	int rc;

	if ((rc = sched_repo_get(s, txn, e->repo, rkey, &repo)))
		goto out;
	last = sched_jint(sched_member(repo), "tick_ms", -1);
	if (last < 0) {
		json_object_set_new(sched_member(repo), "tick_ms",
				    json_integer(now));
		if ((rc = sched_repo_put(txn, rkey, repo)) == 0)
			rc = audit_append(s->log, txn, "system",
					  "schedule.start", e->repo,
					  json_pack("{s:s,s:s}", "spec",
						    e->spec, "tz",
						    sched_tz_name(e->tz)),
					  NULL);
		goto out;
	}
	rc = sched_cron_next(&e->cron, e->tz, last, &slot);
	if (rc == AL_E_NOTFOUND || (rc == 0 && slot > now)) {
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;

	struct sched_request rq = {
		.repo = e->repo,
		.priority = SCHED_PRIO_SCHEDULED,
		.trigger = "schedule",
	};
	json_decref(repo);
	repo = NULL;
	/* The enqueue rewrites the repository record: read it after. */
	if ((rc = sched_enqueue_rec(s, txn, &rq, NULL, id, &joined)) ||
	    (rc = sched_repo_get(s, txn, e->repo, rkey, &repo)))
		goto out;
	json_object_set_new(sched_member(repo), "tick_ms", json_integer(now));
	if ((rc = sched_repo_put(txn, rkey, repo)) ||
	    (rc = audit_append(s->log, txn, "system", "schedule.fire", e->repo,
			       json_pack("{s:s,s:I,s:I,s:b}", "job", id,
					 "slot_ms", (json_int_t)slot,
					 "last_tick_ms", (json_int_t)last,
					 "joined", joined),
			       NULL)))
		goto out;
	al_info("sched", id, "schedule fired spec='%s' tz=%s late_ms=%lld%s",
		e->spec, sched_tz_name(e->tz), (long long)(now - slot),
		joined ? " joined" : "");
	if (fired)
		json_array_append_new(fired,
				      json_pack("{s:s,s:s,s:b,s:I}", "repo",
						e->repo, "id", id, "joined",
						joined, "slot_ms",
						(json_int_t)slot));
out:
	json_decref(repo);
	return rc;
}

int sched_tick(struct sched *s, struct store_txn *txn, json_t **fired)
{
	struct store_txn *use = NULL;
	json_t *arr = fired ? json_array() : NULL;
	int64_t now = sched_now(s);
	int rc;

	if (fired && !arr)
		return -ENOMEM;
	if ((rc = sched_tx(s, txn, &use)) == 0)
		for (size_t i = 0; i < s->nsch && rc == 0; i++)
			rc = tick_one(s, use, &s->sch[i], now, arr);
	rc = sched_tx_end(s, txn, use, rc);
	if (fired && rc == 0)
		*fired = arr;
	else
		json_decref(arr);
	return rc;
}

static void at_least(int64_t *best, int64_t v)
{
	if (v < *best)
		*best = v;
}

/*
 * The earliest lease expiry, and the earliest due time after now of a
 * queued job. Jobs due already need no wake-up: the daemon leases when
 * a worker is free, and a job ends or is queued.
 */
static int wakeup_queue(struct store_txn *txn, int64_t now, int64_t *best)
{
	struct store_cursor *cur = NULL;
	struct al_buf val = {0};
	uint8_t seek[10] = {'L'};
	const void *key;
	size_t klen;
	unsigned band = 0;
	int rc;

	if ((rc = store_cursor_open(txn, STORE_DB_QUEUE, &cur)) ||
	    (rc = store_cursor_seek(cur, seek, 1)))
		goto out;
	while ((rc = store_cursor_next(cur, &key, &klen, NULL)) == 0) {
		const uint8_t *k = key;
		if (klen != SCHED_LKEY_LEN || k[0] != 'L')
			break;
		if ((rc = store_get_raw(txn, STORE_DB_QUEUE, k, klen, &val)))
			goto out;
		if (val.len == 8)
			at_least(best, (int64_t)sched_be64((uint8_t *)val.p));
	}
	/* Per priority band, the first entry due after now. */
	while (band <= 255) {
		seek[0] = 'Q';
		seek[1] = (uint8_t)band;
		sched_put_be64(seek + 2, (uint64_t)(now + 1));
		if ((rc = store_cursor_seek(cur, seek, sizeof(seek))) ||
		    (rc = store_cursor_next(cur, &key, &klen, NULL)))
			break;
		const uint8_t *k = key;
		if (klen != SCHED_QKEY_LEN || k[0] != 'Q')
			break;
		if (k[1] == band) {
			at_least(best, (int64_t)sched_be64(k + 2));
			band++;
		} else {
			band = k[1];
		}
	}
	rc = rc == AL_E_NOTFOUND ? 0 : rc;
out:
	store_cursor_close(cur);
	al_buf_free(&val);
	return rc;
}

int sched_next_wakeup(struct sched *s, int64_t *at_ms)
{
	struct store_txn *txn = NULL;
	int64_t best = INT64_MAX, now = sched_now(s);
	int rc;

	if ((rc = store_txn_begin(s->st, false, &txn)) ||
	    (rc = wakeup_queue(txn, now, &best)))
		goto out;
	for (size_t i = 0; i < s->nsch; i++) {
		const struct sched_entry *e = &s->sch[i];
		json_t *repo = NULL;
		uint8_t rkey[32];
		int64_t slot;

		if ((rc = sched_repo_get(s, txn, e->repo, rkey, &repo)))
			goto out;
		int64_t last = sched_jint(sched_member(repo), "tick_ms", -1);
		json_decref(repo);
		if (last < 0) /* not seen yet: the next tick records it */
			at_least(&best, now);
		else if (sched_cron_next(&e->cron, e->tz, last, &slot) == 0)
			at_least(&best, slot);
	}
out:
	store_txn_abort(txn);
	if (rc == 0)
		*at_ms = best;
	return rc;
}

static json_t *summary(json_t *rec, int64_t expires)
{
	json_t *m = json_object_get(rec, "sched");
	json_t *o = json_pack(
		"{s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?}",
		"id", json_object_get(rec, "id"), "repo",
		json_object_get(rec, "repo"), "trigger",
		json_object_get(m, "trigger"),
		"state", json_object_get(rec, "state"), "priority",
		json_object_get(m, "priority"), "due_ms",
		json_object_get(m, "due_ms"), "attempt",
		json_object_get(m, "attempt"), "stage",
		json_object_get(m, "stage"), "created_ms",
		json_object_get(rec, "created_ms"), "finished_ms",
		json_object_get(rec, "finished_ms"), "reason",
		json_object_get(m, "reason"));

	/* The stage's place, once the worker said (null members of a
	 * record are left out, like those of records that have none). */
	if (o && json_is_integer(json_object_get(m, "step")))
		json_object_set(o, "step", json_object_get(m, "step"));
	if (o && json_is_integer(json_object_get(m, "steps")))
		json_object_set(o, "steps", json_object_get(m, "steps"));
	if (o && expires >= 0)
		json_object_set_new(o, "lease_expires_ms",
				    json_integer(expires));
	/* When its worker started it (the last attempt): with finished_ms,
	 * how long the job took. */
	if (o && json_is_integer(json_object_get(rec, "started_ms")))
		json_object_set(o, "started_ms",
				json_object_get(rec, "started_ms"));
	/* What a list of jobs shows beside the state, once the job has
	 * it: the confidence and how many updates were planned. */
	json_t *score = json_object_get(rec, "score");
	json_t *ups = json_object_get(json_object_get(rec, "plan"), "updates");
	if (o && json_is_object(score)) {
		json_object_set(o, "score", json_object_get(score, "value"));
		json_object_set(o, "level", json_object_get(score, "level"));
	}
	if (o && json_is_array(ups))
		json_object_set_new(o, "updates",
				    json_integer((json_int_t)json_array_size(ups)));
	return o;
}

/* The lease expiry of running job id, or -1. */
static int64_t lease_expiry(struct store_txn *txn, const char *id)
{
	uint8_t lk[SCHED_LKEY_LEN];
	struct al_buf v = {0};
	int64_t e = -1;

	sched_lkey(lk, id);
	if (store_get_raw(txn, STORE_DB_QUEUE, lk, sizeof(lk), &v) == 0 &&
	    v.len == 8)
		e = (int64_t)sched_be64((const uint8_t *)v.p);
	al_buf_free(&v);
	return e;
}

/* Walk the queue index entries with tag ('Q' or 'L') in key order. */
static int list_index(struct store_txn *txn, char tag, json_t *out)
{
	struct store_cursor *cur = NULL;
	char seek[1] = {tag}, id[SCHED_ID_LEN + 1];
	const void *key;
	size_t klen;
	int rc;

	if ((rc = store_cursor_open(txn, STORE_DB_QUEUE, &cur)) ||
	    (rc = store_cursor_seek(cur, seek, 1)))
		goto out;
	while ((rc = store_cursor_next(cur, &key, &klen, NULL)) == 0) {
		const char *k = key;
		json_t *rec = NULL;
		if (k[0] != tag)
			break;
		memcpy(id, k + klen - SCHED_ID_LEN, SCHED_ID_LEN);
		id[SCHED_ID_LEN] = '\0';
		if ((rc = store_get_json(txn, STORE_DB_JOBS, id, SCHED_ID_LEN,
					 &rec)))
			goto out;
		int64_t e = tag == 'L' ? lease_expiry(txn, id) : -1;
		json_array_append_new(out, summary(rec, e));
		json_decref(rec);
	}
	rc = rc == AL_E_NOTFOUND ? 0 : rc;
out:
	store_cursor_close(cur);
	return rc;
}

/*
 * The first limit 'Q' entries' summaries into out (lease order) and the
 * count of all of them, which reads keys only.
 */
static int upcoming_queue(struct store_txn *txn, size_t limit, json_t *out,
			  size_t *total)
{
	struct store_cursor *cur = NULL;
	char seek[1] = {'Q'}, id[SCHED_ID_LEN + 1];
	const void *key;
	size_t klen;
	int rc;

	*total = 0;
	if ((rc = store_cursor_open(txn, STORE_DB_QUEUE, &cur)) ||
	    (rc = store_cursor_seek(cur, seek, 1)))
		goto out;
	while ((rc = store_cursor_next(cur, &key, &klen, NULL)) == 0) {
		const char *k = key;
		json_t *rec = NULL;
		if (klen != SCHED_QKEY_LEN || k[0] != 'Q')
			break;
		if ((*total)++ >= limit)
			continue;
		memcpy(id, k + klen - SCHED_ID_LEN, SCHED_ID_LEN);
		id[SCHED_ID_LEN] = '\0';
		if ((rc = store_get_json(txn, STORE_DB_JOBS, id, SCHED_ID_LEN,
					 &rec)))
			goto out;
		json_array_append_new(out, summary(rec, -1));
		json_decref(rec);
	}
	rc = rc == AL_E_NOTFOUND ? 0 : rc;
out:
	store_cursor_close(cur);
	return rc;
}

/* Each schedule with its last tick and its next slot (null: none). */
static int upcoming_schedules(struct sched *s, struct store_txn *txn,
			      json_t *out)
{
	int rc = 0;

	for (size_t i = 0; i < s->nsch && rc == 0; i++) {
		const struct sched_entry *e = &s->sch[i];
		json_t *repo = NULL, *o;
		uint8_t rkey[32];
		int64_t last, slot = -1;

		if ((rc = sched_repo_get(s, txn, e->repo, rkey, &repo)))
			break;
		last = sched_jint(sched_member(repo), "tick_ms", -1);
		json_decref(repo);
		/* Not seen yet: the first tick records it and the slot
		 * after that fires. */
		if (sched_cron_next(&e->cron, e->tz,
				    last >= 0 ? last : sched_now(s), &slot))
			slot = -1;
		o = json_pack("{s:s,s:s,s:s}", "repo", e->repo, "spec",
			      e->spec, "tz", sched_tz_name(e->tz));
		if (!o)
			return -ENOMEM;
		json_object_set_new(o, "last_ms", last >= 0 ? json_integer(last)
							    : json_null());
		json_object_set_new(o, "next_ms", slot >= 0 ? json_integer(slot)
							    : json_null());
		json_array_append_new(out, o);
	}
	return rc;
}

int sched_upcoming(struct sched *s, size_t limit, json_t **out)
{
	struct store_txn *txn = NULL;
	json_t *queued = json_array(), *sch = json_array();
	size_t total = 0;
	int rc = queued && sch ? 0 : -ENOMEM;

	*out = NULL;
	if (rc || (rc = store_txn_begin(s->st, false, &txn)) ||
	    (rc = upcoming_queue(txn, limit, queued, &total)) ||
	    (rc = upcoming_schedules(s, txn, sch)))
		goto out;
	*out = json_pack("{s:O,s:I,s:O}", "queued", queued, "queued_total",
			 (json_int_t)total, "schedules", sch);
	if (!*out)
		rc = -ENOMEM;
out:
	store_txn_abort(txn);
	json_decref(queued);
	json_decref(sch);
	return rc;
}

struct list_ctx {
	int state;
	size_t limit;
	json_t *out;
};

static int list_one(void *ctx, const void *key, size_t keylen, json_t *rec)
{
	struct list_ctx *c = ctx;

	if (c->state >= 0 &&
	    sched_state_parse(sched_jstr(rec, "state")) != c->state)
		return 0;
	if (c->limit && json_array_size(c->out) == c->limit)
		json_array_remove(c->out, 0);
	return json_array_append_new(c->out, summary(rec, -1)) ? -ENOMEM : 0;
}

int sched_list(struct sched *s, int state, size_t limit, json_t **out)
{
	struct store_txn *txn = NULL;
	struct list_ctx c = {state, limit, json_array()};
	int rc;

	if (!c.out)
		return -ENOMEM;
	if ((rc = store_txn_begin(s->st, false, &txn)))
		goto out;
	if (state == SCHED_QUEUED)
		rc = list_index(txn, 'Q', c.out);
	else if (state == SCHED_RUNNING)
		rc = list_index(txn, 'L', c.out);
	else
		rc = store_foreach(txn, STORE_DB_JOBS, list_one, &c);
	while (rc == 0 && limit && json_array_size(c.out) > limit)
		json_array_remove(c.out, json_array_size(c.out) - 1);
out:
	store_txn_abort(txn);
	if (rc)
		json_decref(c.out);
	else
		*out = c.out;
	return rc;
}

/*
 * Does match occur (any case) in the name of a planned update or of a
 * failing test in the report? The record is read for the page anyway,
 * so this costs no more reads.
 */
static bool page_names(const char *match, json_t *rec)
{
	json_t *ups = json_object_get(json_object_get(rec, "plan"), "updates");
	json_t *fails = json_object_get(json_object_get(rec, "report"),
					"failures");
	json_t *v, *f, *t;
	size_t i, k;

	json_array_foreach(ups, i, v) {
		const char *name = sched_jstr(v, "name");
		if (name && strcasestr(name, match))
			return true;
	}
	json_array_foreach(fails, i, f) {
		json_array_foreach(json_object_get(json_object_get(f, "tests"),
						   "failing"), k, t) {
			const char *name = json_string_value(t);
			if (name && strcasestr(name, match))
				return true;
		}
	}
	return false;
}

static bool page_wants(const struct sched_page_query *q, json_t *rec)
{
	const char *repo = sched_jstr(rec, "repo");
	const char *id = sched_jstr(rec, "id");
	const char *level;

	if (q->state >= 0 &&
	    sched_state_parse(sched_jstr(rec, "state")) != q->state)
		return false;
	if (q->level) {
		level = json_string_value(json_object_get(
			json_object_get(rec, "score"), "level"));
		if (!level || strcmp(level, q->level))
			return false;
	}
	if (q->match && !(repo && strcasestr(repo, q->match)) &&
	    !(id && strcasestr(id, q->match)) && !page_names(q->match, rec))
		return false;
	return true;
}

/* The id of the newest job into out, "" when there is none. */
static int page_newest(struct store_txn *txn, char *out)
{
	struct store_cursor *cur = NULL;
	const void *key;
	size_t klen;
	int rc;

	out[0] = '\0';
	if ((rc = store_cursor_open(txn, STORE_DB_JOBS, &cur)) == 0 &&
	    (rc = store_cursor_prev(cur, &key, &klen, NULL)) == 0 &&
	    klen == SCHED_ID_LEN) {
		memcpy(out, key, SCHED_ID_LEN);
		out[SCHED_ID_LEN] = '\0';
	}
	store_cursor_close(cur);
	return rc == AL_E_NOTFOUND ? 0 : rc;
}

/* Walk the jobs backwards from q->before; fills jobs, *next, *scanned. */
static int page_walk(struct store_txn *txn, const struct sched_page_query *q,
		     json_t *jobs, char *next, size_t *scanned)
{
	size_t scan = q->scan ? q->scan : SCHED_PAGE_SCAN;
	struct store_cursor *cur = NULL;
	const void *key;
	size_t klen;
	json_t *rec;
	int rc;

	next[0] = '\0';
	if ((rc = store_cursor_open(txn, STORE_DB_JOBS, &cur)) ||
	    (q->before &&
	     (rc = store_cursor_seek(cur, q->before, strlen(q->before)))))
		goto out;
	while (json_array_size(jobs) < q->limit && *scanned < scan) {
		rc = store_cursor_prev(cur, &key, &klen, &rec);
		if (rc == AL_E_NOTFOUND) {
			next[0] = '\0';
			rc = 0;
			break;
		}
		if (rc && rc != AL_E_AUTH && rc != AL_E_PARSE && rc != AL_E_STALE)
			goto out;
		if (klen != SCHED_ID_LEN)
			continue;
		if (q->after && memcmp(key, q->after, SCHED_ID_LEN) <= 0) {
			next[0] = '\0';
			rc = 0;
			break;
		}
		memcpy(next, key, SCHED_ID_LEN);
		next[SCHED_ID_LEN] = '\0';
		(*scanned)++;
		rc = 0;
		if (rec && page_wants(q, rec) &&
		    json_array_append_new(jobs, summary(rec, -1))) {
			rc = -ENOMEM;
			goto out;
		}
	}
out:
	store_cursor_close(cur);
	return rc;
}

int sched_page(struct sched *s, const struct sched_page_query *q,
	       json_t **out)
{
	struct store_txn *txn = NULL;
	char next[SCHED_ID_LEN + 1], newest[SCHED_ID_LEN + 1];
	json_t *jobs = NULL;
	size_t scanned = 0, total = 0;
	int rc;

	*out = NULL;
	if (q->limit == 0 || q->limit > SCHED_PAGE_MAX)
		return AL_E_USAGE;
	if (!(jobs = json_array()))
		return -ENOMEM;
	if ((rc = store_txn_begin(s->st, false, &txn)) ||
	    (rc = store_count(txn, STORE_DB_JOBS, &total)) ||
	    (rc = page_newest(txn, newest)) ||
	    (rc = page_walk(txn, q, jobs, next, &scanned)))
		goto out;
	*out = json_pack("{s:o,s:s?,s:s?,s:I,s:I}", "jobs", jobs, "next",
			 next[0] ? next : NULL, "newest",
			 newest[0] ? newest : NULL, "total", (json_int_t)total,
			 "scanned", (json_int_t)scanned);
	jobs = NULL;
	rc = *out ? 0 : -ENOMEM;
out:
	store_txn_abort(txn);
	json_decref(jobs);
	return rc;
}

int sched_show(struct sched *s, const char *id, json_t **out)
{
	struct store_txn *txn = NULL;
	int64_t e;
	int rc;

	if (!id || strlen(id) != SCHED_ID_LEN)
		return AL_E_NOTFOUND;
	if ((rc = store_txn_begin(s->st, false, &txn)) == 0)
		rc = store_get_json(txn, STORE_DB_JOBS, id, SCHED_ID_LEN, out);
	if (rc == 0 && (e = lease_expiry(txn, id)) >= 0)
		json_object_set_new(*out, "lease_expires_ms", json_integer(e));
	store_txn_abort(txn);
	return rc;
}
