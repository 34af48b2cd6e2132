/*
 * sched.c - job states, the queue index, leases and recovery (sched.h).
 *
 * Each operation reads what it needs from the store inside its write
 * transaction and writes the whole change back in it: the job record,
 * the queue index, the repository record and the audit entry commit
 * together or not at all.
 */
#include "sched/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"

static const char *const state_names[] = {
#define SCHED_X_NAME(e, name) name,
	SCHED_STATE_TABLE(SCHED_X_NAME)
#undef SCHED_X_NAME
};

const char *sched_state_name(enum sched_state st)
{
	return (unsigned)st < SCHED_STATE__COUNT ? state_names[st] : NULL;
}

int sched_state_parse(const char *name)
{
	for (int i = 0; name && i < SCHED_STATE__COUNT; i++)
		if (!strcmp(name, state_names[i]))
			return i;
	return -1;
}

void sched_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

uint64_t sched_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

void sched_qkey(uint8_t k[SCHED_QKEY_LEN], unsigned prio, int64_t due_ms,
		const char *id)
{
	k[0] = 'Q';
	k[1] = (uint8_t)(255 - prio);
	sched_put_be64(k + 2, due_ms > 0 ? (uint64_t)due_ms : 0);
	memcpy(k + 10, id, SCHED_ID_LEN);
}

void sched_lkey(uint8_t k[SCHED_LKEY_LEN], const char *id)
{
	k[0] = 'L';
	memcpy(k + 1, id, SCHED_ID_LEN);
}

int64_t sched_jint(const json_t *o, const char *key, int64_t dflt)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

const char *sched_jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

json_t *sched_member(json_t *rec)
{
	json_t *m = json_object_get(rec, "sched");

	if (!json_is_object(m)) {
		m = json_object();
		json_object_set_new(rec, "sched", m);
	}
	return m;
}

static int64_t real_now(void *ctx)
{
	return al_wall_ms();
}

static uint64_t real_random(void *ctx)
{
	uint64_t r = 0;

	if (al_random(&r, sizeof(r)))
		r = (uint64_t)al_mono_ms() * 0x9e3779b97f4a7c15ull;
	return r;
}

int64_t sched_now(const struct sched *s)
{
	return s->clock.now_ms(s->clock.ctx);
}

int sched_tx(struct sched *s, struct store_txn *txn, struct store_txn **use)
{
	if (txn) {
		*use = txn;
		return 0;
	}
	return store_txn_begin(s->st, true, use);
}

int sched_tx_end(struct sched *s, struct store_txn *txn,
		 struct store_txn *use, int rc)
{
	if (txn || !use)
		return rc;
	if (rc) {
		store_txn_abort(use);
		return rc;
	}
	return audit_commit(s->log, use);
}

int sched_begin(struct sched *s, struct store_txn **txn)
{
	return store_txn_begin(s->st, true, txn);
}

int sched_commit(struct sched *s, struct store_txn *txn)
{
	return audit_commit(s->log, txn);
}

static bool id_ok(const char *id)
{
	return id && strlen(id) == SCHED_ID_LEN &&
	       strspn(id, "0123456789abcdef") == SCHED_ID_LEN;
}

static int job_get(struct store_txn *txn, const char *id, json_t **rec)
{
	if (!id_ok(id))
		return AL_E_NOTFOUND;
	return store_get_json(txn, STORE_DB_JOBS, id, SCHED_ID_LEN, rec);
}

static int job_put(struct store_txn *txn, const char *id, json_t *rec,
		   unsigned flags)
{
	return store_put_json(txn, STORE_DB_JOBS, id, SCHED_ID_LEN, rec, flags);
}

static enum sched_state job_state(const json_t *rec)
{
	int st = sched_state_parse(sched_jstr(rec, "state"));
	return st < 0 ? SCHED_STATE__COUNT : (enum sched_state)st;
}

/*
 * The record is found by the repository's identity (sched_repo_norm's
 * key), so that every spelling of one repository shares its "running"
 * and "queued" members. A record written under a spelling that was not
 * in normal form before the key was normalised is not read again
 * (docs/scheduler.md, "Repository identity", says why that is safe).
 */
int sched_repo_get(struct sched *s, struct store_txn *txn, const char *url,
		   uint8_t key[32], json_t **rec)
{
	char id[SCHED_REPO_MAX + 1], shown[SCHED_REPO_MAX + 1];
	int rc = sched_repo_norm(url, true, id, sizeof(id));

	if (rc == 0)
		rc = sched_repo_norm(url, false, shown, sizeof(shown));
	if (rc == 0)
		rc = store_blind_key(s->st, STORE_DB_REPOS, id, strlen(id),
				     key);
	if (rc == 0)
		rc = store_get_json(txn, STORE_DB_REPOS, key, 32, rec);
	if (rc == AL_E_NOTFOUND) {
		*rec = json_pack("{s:s,s:{}}", "url", shown, "sched");
		rc = *rec ? 0 : -ENOMEM;
	}
	return rc;
}

json_t *sched_repo_queued(json_t *rm)
{
	json_t *q = json_object_get(rm, "queued");

	/* One id, as records before per-settings joins held it. */
	if (json_is_string(q))
		return json_pack("[O]", q);
	return json_is_array(q) ? json_copy(q) : json_array();
}

void sched_repo_unqueue(json_t *rm, const char *id)
{
	json_t *q = sched_repo_queued(rm), *v;
	size_t i;

	json_array_foreach(q, i, v)
		if (!strcmp(json_string_value(v) ? json_string_value(v) : "",
			    id)) {
			json_array_remove(q, i);
			break;
		}
	if (json_array_size(q))
		json_object_set(rm, "queued", q);
	else
		json_object_del(rm, "queued");
	json_decref(q);
}

int sched_repo_enqueue_id(json_t *rm, const char *id)
{
	json_t *q = sched_repo_queued(rm), *v;
	size_t i;
	int rc = q ? 0 : -ENOMEM;

	json_array_foreach(q, i, v)
		if (json_string_value(v) && !strcmp(json_string_value(v), id))
			goto out;
	if (rc == 0 && (json_array_append_new(q, json_string(id)) ||
			json_object_set(rm, "queued", q)))
		rc = -ENOMEM;
out:
	json_decref(q);
	return rc;
}

static bool same_str(const char *a, const char *b)
{
	return a && b ? !strcmp(a, b) : a == b;
}

bool sched_same_settings(const json_t *rec, const struct sched_request *rq)
{
	const char *cmd = sched_jstr(rec, "test_cmd");

	return same_str(sched_jstr(rec, "branch"), rq->branch) &&
	       same_str(sched_jstr(rec, "policy"), rq->policy) &&
	       !strcmp(cmd ? cmd : "npm test",
		       rq->test_cmd ? rq->test_cmd : "npm test");
}

int sched_repo_put(struct store_txn *txn, const uint8_t key[32], json_t *rec)
{
	return store_put_json(txn, STORE_DB_REPOS, key, 32, rec, 0);
}

static int audit_job(struct sched *s, struct store_txn *txn,
		     const char *actor, const char *action, const char *id,
		     json_t *details)
{
	if (!details)
		return -ENOMEM;
	json_object_set_new(details, "job", json_string(id));
	return audit_append(s->log, txn, actor ? actor : "system", action, id,
			    details, NULL);
}

static void make_id(struct sched *s, int64_t now, char *id)
{
	uint32_t r = (uint32_t)s->clock.random(s->clock.ctx);

	snprintf(id, SCHED_ID_LEN + 1, "%012llx%08x",
		 (unsigned long long)(now & 0xffffffffffffll), r);
}

/*
 * Join the job qid queued for the repository of rq: one request more,
 * or, with from (a job folded into qid, below), that job's requests.
 */
static int join(struct sched *s, struct store_txn *txn,
		const struct sched_request *rq, const char *qid, json_t *rec,
		const json_t *from)
{
	json_t *m = sched_member(rec);
	unsigned prio = (unsigned)sched_jint(m, "priority", 0);
	int64_t due = sched_jint(m, "due_ms", 0);
	int64_t ndue = rq->due_ms ? rq->due_ms : sched_now(s);
	uint8_t ok[SCHED_QKEY_LEN], nk[SCHED_QKEY_LEN];
	int rc;

	sched_qkey(ok, prio, due, qid);
	if (rq->priority > prio)
		prio = rq->priority;
	if (ndue < due)
		due = ndue;
	sched_qkey(nk, prio, due, qid);
	rc = memcmp(ok, nk, sizeof(ok)) ? store_del(txn, STORE_DB_QUEUE, ok,
						    sizeof(ok))
					 : 0;
	if (rc == 0)
		rc = store_put_raw(txn, STORE_DB_QUEUE, nk, sizeof(nk), "", 0);
	json_object_set_new(m, "priority", json_integer(prio));
	json_object_set_new(m, "due_ms", json_integer(due));
	json_object_set_new(
		m, "requests",
		json_integer(sched_jint(m, "requests", 1) +
			     (from ? sched_jint(sched_member((json_t *)from),
						"requests", 1)
				   : 1)));
	if (rc == 0)
		rc = job_put(txn, qid, rec, 0);
	json_t *d = json_pack("{s:i,s:I,s:s}", "priority", prio, "due_ms",
			      (json_int_t)due, "trigger",
			      rq->trigger ? rq->trigger : "api");
	if (d && from)
		json_object_set(d, "from", json_object_get(from, "id"));
	if (rc == 0)
		rc = audit_job(s, txn, rq->actor, "job.join", qid, d);
	else
		json_decref(d);
	return rc;
}

/*
 * Fold the queued job gone into the queued job keep (same repository
 * and settings): keep takes gone's requests, the higher priority and
 * the earlier due time (job.join, "from" naming gone); gone leaves the
 * queue as cancelled, "joined_into" naming keep (job.finish). rm is the
 * repository's "sched" member; the caller writes it back.
 */
static int fold(struct sched *s, struct store_txn *txn, json_t *keep,
		json_t *gone, json_t *rm)
{
	json_t *gm = sched_member(gone);
	const char *kid = sched_jstr(keep, "id"), *gid = sched_jstr(gone, "id");
	struct sched_request rq = {
		.priority = (unsigned)sched_jint(gm, "priority", 0),
		.due_ms = sched_jint(gm, "due_ms", 0),
		.trigger = "fold",
	};
	uint8_t qk[SCHED_QKEY_LEN];
	char why[80];
	int rc;

	if (!kid || !gid)
		return AL_E_PARSE;
	snprintf(why, sizeof(why), "joined job %s, queued with the same "
		 "settings", kid);
	sched_qkey(qk, rq.priority, rq.due_ms, gid);
	json_object_set_new(gone, "state", json_string("cancelled"));
	json_object_set_new(gone, "finished_ms", json_integer(sched_now(s)));
	json_object_set_new(gm, "reason", json_string(why));
	json_object_set_new(gm, "joined_into", json_string(kid));
	sched_repo_unqueue(rm, gid);
	if ((rc = store_del(txn, STORE_DB_QUEUE, qk, sizeof(qk))) ||
	    (rc = job_put(txn, gid, gone, 0)) ||
	    (rc = audit_job(s, txn, NULL, "job.finish", gid,
			    json_pack("{s:s,s:s,s:s}", "state", "cancelled",
				      "reason", why, "joined_into", kid))) ||
	    (rc = join(s, txn, &rq, kid, keep, gone)))
		return rc;
	al_info("sched", gid, "job joined into %s (same repository and "
		"settings queued twice)", kid);
	return 0;
}

/*
 * A job requeued after its lease ended may meet a job queued for its
 * repository meanwhile with the same settings (repeated crashes pile
 * them up): fold the newer into the older, so that one run, and one
 * proposal, comes of them.
 */
static int fold_requeued(struct sched *s, struct store_txn *txn,
			 const char *id)
{
	json_t *rec = NULL, *repo = NULL, *queued = NULL, *other = NULL, *v;
	uint8_t rkey[32];
	size_t i;
	int rc;

	if ((rc = job_get(txn, id, &rec)) ||
	    (rc = sched_repo_get(s, txn, sched_jstr(rec, "repo"), rkey,
				 &repo)))
		goto out;
	struct sched_request mine = {.branch = sched_jstr(rec, "branch"),
				     .policy = sched_jstr(rec, "policy"),
				     .test_cmd = sched_jstr(rec, "test_cmd")};
	queued = sched_repo_queued(sched_member(repo));
	json_array_foreach(queued, i, v) {
		const char *qid = json_string_value(v);
		if (!qid || !strcmp(qid, id) || job_get(txn, qid, &other))
			continue;
		if (job_state(other) == SCHED_QUEUED &&
		    sched_same_settings(other, &mine)) {
			json_t *rm = sched_member(repo);
			/* Ids sort by creation time: keep the older job. */
			rc = strcmp(qid, id) < 0 ? fold(s, txn, other, rec, rm)
						 : fold(s, txn, rec, other, rm);
			if (rc == 0)
				rc = sched_repo_put(txn, rkey, repo);
			goto out;
		}
		json_decref(other);
		other = NULL;
	}
out:
	json_decref(rec);
	json_decref(repo);
	json_decref(queued);
	json_decref(other);
	return rc;
}

static json_t *new_record(struct sched *s, const struct sched_request *rq,
			  const char *id, int64_t now, const char *retry_of)
{
	int64_t due = rq->due_ms ? rq->due_ms : now;
	json_t *rec = json_pack(
		"{s:i,s:s,s:s,s:o,s:o,s:s,s:I,s:s,s:[],s:{s:i,s:I,s:i,s:i,"
		"s:s,s:i,s:n,s:n,s:b,s:n}}",
		"schema", 1, "id", id, "repo", rq->repo, "branch",
		rq->branch ? json_string(rq->branch) : json_null(), "policy",
		rq->policy ? json_string(rq->policy) : json_null(), "test_cmd",
		rq->test_cmd ? rq->test_cmd : "npm test", "created_ms",
		(json_int_t)now, "state", "queued", "stages", "sched",
		"priority", (int)rq->priority, "due_ms", (json_int_t)due,
		"attempt", 0, "max_attempts", (int)s->max_attempts, "trigger",
		rq->trigger ? rq->trigger : "api", "requests", 1, "stage",
		"lease", "cancel", 0, "reason");

	if (rec && retry_of)
		json_object_set_new(sched_member(rec), "retry_of",
				    json_string(retry_of));
	return rec;
}

int sched_enqueue_rec(struct sched *s, struct store_txn *txn,
		      const struct sched_request *rq, const char *retry_of,
		      char *id, bool *joined)
{
	json_t *repo = NULL, *rec = NULL, *queued = NULL, *v;
	uint8_t rkey[32], qk[SCHED_QKEY_LEN];
	int64_t now = sched_now(s);
	const char *qid;
	size_t i;
	int rc;

	if ((rc = sched_repo_get(s, txn, rq->repo, rkey, &repo)))
		goto out;
	/* A request joins a queued job only if it asks for the same run;
	 * with other settings it would silently lose its own. */
	queued = sched_repo_queued(sched_member(repo));
	json_array_foreach(queued, i, v) {
		qid = json_string_value(v);
		if (qid && job_get(txn, qid, &rec) == 0 &&
		    job_state(rec) == SCHED_QUEUED &&
		    sched_same_settings(rec, rq)) {
			memcpy(id, qid, SCHED_ID_LEN + 1);
			if (joined)
				*joined = true;
			rc = join(s, txn, rq, id, rec, NULL);
			goto out;
		}
		json_decref(rec);
		rec = NULL;
	}

	for (int tries = 0; tries < 4; tries++) {
		make_id(s, now, id);
		json_decref(rec);
		rec = new_record(s, rq, id, now, retry_of);
		if (!rec) {
			rc = -ENOMEM;
			goto out;
		}
		rc = job_put(txn, id, rec, STORE_NOOVERWRITE);
		if (rc != AL_E_EXISTS)
			break;
	}
	if (rc)
		goto out;
	if (joined)
		*joined = false;
	sched_qkey(qk, rq->priority, sched_jint(sched_member(rec), "due_ms", 0),
		   id);
	if ((rc = sched_repo_enqueue_id(sched_member(repo), id)) ||
	    (rc = store_put_raw(txn, STORE_DB_QUEUE, qk, sizeof(qk), "", 0)) ||
	    (rc = sched_repo_put(txn, rkey, repo)))
		goto out;
	json_t *d = json_pack("{s:s,s:i,s:O,s:s}", "repo", rq->repo,
			      "priority", (int)rq->priority, "due_ms",
			      json_object_get(sched_member(rec), "due_ms"),
			      "trigger", rq->trigger ? rq->trigger : "api");
	if (d && retry_of)
		json_object_set_new(d, "retry_of", json_string(retry_of));
	rc = audit_job(s, txn, rq->actor, "job.enqueue", id, d);
out:
	json_decref(queued);
	json_decref(repo);
	json_decref(rec);
	return rc;
}

int sched_enqueue(struct sched *s, struct store_txn *txn,
		  const struct sched_request *rq, char *id, bool *joined)
{
	struct store_txn *use = NULL;
	struct sched_request nrq = *rq;
	char why[256], url[SCHED_REPO_MAX + 1];
	int rc = sched_request_check(rq, 0, why, sizeof(why));

	if (rc) {
		al_warn("sched", NULL, "enqueue refused: %s", why);
		return rc;
	}
	if ((rc = sched_repo_norm(rq->repo, false, url, sizeof(url))))
		return rc;
	nrq.repo = url;
	if ((rc = sched_tx(s, txn, &use)) == 0)
		rc = sched_enqueue_rec(s, use, &nrq, NULL, id, joined);
	return sched_tx_end(s, txn, use, rc);
}

/*
 * The first queue entry that may run now: due, and its repository not
 * running another job. Each priority band is sorted by due time, so the
 * first entry not yet due ends the band. *rec gets its record.
 */
static int lease_pick(struct sched *s, struct store_txn *txn, int64_t now,
		      char *id, json_t **rec)
{
	struct store_cursor *cur = NULL;
	uint8_t k[SCHED_QKEY_LEN] = {'Q'}, seek[2] = {'Q', 0};
	const void *key;
	size_t klen;
	int rc;

	*rec = NULL;
	if ((rc = store_cursor_open(txn, STORE_DB_QUEUE, &cur)) ||
	    (rc = store_cursor_seek(cur, seek, 1)))
		goto out;
	while ((rc = store_cursor_next(cur, &key, &klen, NULL)) == 0) {
		if (klen != SCHED_QKEY_LEN || ((const uint8_t *)key)[0] != 'Q')
			break;
		memcpy(k, key, sizeof(k));
		if ((int64_t)sched_be64(k + 2) > now) {
			if (k[1] == 255)
				break;
			seek[1] = (uint8_t)(k[1] + 1);
			if ((rc = store_cursor_seek(cur, seek, 2)))
				goto out;
			continue;
		}
		memcpy(id, k + 10, SCHED_ID_LEN);
		id[SCHED_ID_LEN] = '\0';
		json_t *repo = NULL;
		uint8_t rkey[32];
		const char *url;
		if ((rc = job_get(txn, id, rec)))
			goto out;
		url = sched_jstr(*rec, "repo");
		if ((rc = sched_repo_get(s, txn, url ? url : "", rkey, &repo)))
			goto out;
		bool busy = sched_jstr(sched_member(repo), "running") != NULL;
		json_decref(repo);
		if (!busy)
			goto out;
		json_decref(*rec);
		*rec = NULL;
	}
	rc = AL_E_NOTFOUND;
out:
	store_cursor_close(cur);
	if (rc) {
		json_decref(*rec);
		*rec = NULL;
	}
	return rc;
}

static int lease_take(struct sched *s, struct store_txn *txn,
		      const char *worker, int64_t now, const char *id,
		      json_t *rec, struct sched_lease *out)
{
	json_t *m = sched_member(rec), *repo = NULL;
	unsigned attempt = (unsigned)sched_jint(m, "attempt", 0) + 1;
	uint8_t qk[SCHED_QKEY_LEN], lk[SCHED_LKEY_LEN], exp[8], rkey[32];
	int64_t expires = now + s->lease_ms;
	int rc;

	sched_qkey(qk, (unsigned)sched_jint(m, "priority", 0),
		   sched_jint(m, "due_ms", 0), id);
	sched_lkey(lk, id);
	sched_put_be64(exp, (uint64_t)expires);
	json_object_set_new(rec, "state", json_string("running"));
	json_object_set_new(m, "attempt", json_integer(attempt));
	json_object_set_new(m, "stage", json_null());
	json_object_set_new(m, "step", json_null());
	json_object_set_new(m, "steps", json_null());
	json_object_set_new(m, "lease",
			    json_pack("{s:s,s:I}", "worker", worker,
				      "since_ms", (json_int_t)now));
	if ((rc = store_del(txn, STORE_DB_QUEUE, qk, sizeof(qk))) ||
	    (rc = store_put_raw(txn, STORE_DB_QUEUE, lk, sizeof(lk), exp, 8)) ||
	    (rc = job_put(txn, id, rec, 0)) ||
	    (rc = sched_repo_get(s, txn, sched_jstr(rec, "repo"), rkey, &repo)))
		goto out;
	m = sched_member(repo);
	json_object_set_new(m, "running", json_string(id));
	sched_repo_unqueue(m, id);
	if ((rc = sched_repo_put(txn, rkey, repo)) ||
	    (rc = audit_job(s, txn, NULL, "job.lease", id,
			    json_pack("{s:s,s:i,s:I}", "worker", worker,
				      "attempt", (int)attempt, "expires_ms",
				      (json_int_t)expires))))
		goto out;
	memcpy(out->id, id, SCHED_ID_LEN + 1);
	out->attempt = attempt;
	out->expires_ms = expires;
	out->record = json_incref(rec);
out:
	json_decref(repo);
	return rc;
}

int sched_lease(struct sched *s, struct store_txn *txn, const char *worker,
		struct sched_lease *out)
{
	struct store_txn *use = NULL;
	json_t *rec = NULL;
	char id[SCHED_ID_LEN + 1];
	int64_t now = sched_now(s);
	int rc;

	memset(out, 0, sizeof(*out));
	if (!worker || !*worker || strlen(worker) > SCHED_WORKER_MAX)
		return AL_E_USAGE;
	if ((rc = sched_tx(s, txn, &use)))
		return rc;
	rc = lease_pick(s, use, now, id, &rec);
	if (rc == 0)
		rc = lease_take(s, use, worker, now, id, rec, out);
	json_decref(rec);
	if (rc && out->record) {
		json_decref(out->record);
		out->record = NULL;
	}
	return sched_tx_end(s, txn, use, rc);
}

/* The record of id, running under lease attempt; AL_E_STALE if not. */
static int job_leased(struct store_txn *txn, const char *id,
		      unsigned attempt, json_t **rec)
{
	int rc = job_get(txn, id, rec);

	if (rc)
		return rc;
	if (job_state(*rec) != SCHED_RUNNING ||
	    sched_jint(sched_member(*rec), "attempt", 0) != (int64_t)attempt) {
		json_decref(*rec);
		*rec = NULL;
		return AL_E_STALE;
	}
	return 0;
}

/* A step in a record: a positive integer, or null for 0. */
static json_t *sched_step_json(unsigned n)
{
	return n ? json_integer((json_int_t)n) : json_null();
}

/* Whether stage differs from what m records (records from before steps
 * were kept have none: null). */
static bool sched_stage_new(const json_t *m, const struct sched_stage *st)
{
	const char *old = sched_jstr(m, "stage");

	return !old || strcmp(old, st->name) ||
	       sched_jint(m, "step", 0) != (int64_t)st->step ||
	       sched_jint(m, "steps", 0) != (int64_t)st->steps;
}

int sched_heartbeat(struct sched *s, struct store_txn *txn, const char *id,
		    unsigned attempt, const struct sched_stage *stage,
		    int64_t *expires_ms, bool *cancel)
{
	struct store_txn *use = NULL;
	json_t *rec = NULL, *m;
	uint8_t lk[SCHED_LKEY_LEN], exp[8];
	int64_t expires = sched_now(s) + s->lease_ms;
	int rc;

	if (stage && !stage->name)
		return AL_E_USAGE;
	if ((rc = sched_tx(s, txn, &use)) ||
	    (rc = job_leased(use, id, attempt, &rec)))
		goto out;
	m = sched_member(rec);
	sched_lkey(lk, id);
	sched_put_be64(exp, (uint64_t)expires);
	if ((rc = store_put_raw(use, STORE_DB_QUEUE, lk, sizeof(lk), exp, 8)))
		goto out;
	if (stage && sched_stage_new(m, stage)) {
		json_object_set_new(m, "stage", json_string(stage->name));
		json_object_set_new(m, "step", sched_step_json(stage->step));
		json_object_set_new(m, "steps", sched_step_json(stage->steps));
		if ((rc = job_put(use, id, rec, 0)) ||
		    (rc = audit_job(s, use, NULL, "job.stage", id,
				    json_pack("{s:s,s:i,s:o,s:o}", "stage",
					      stage->name, "attempt",
					      (int)attempt, "step",
					      sched_step_json(stage->step),
					      "steps",
					      sched_step_json(stage->steps)))))
			goto out;
	}
	if (expires_ms)
		*expires_ms = expires;
	if (cancel)
		*cancel = json_is_true(json_object_get(m, "cancel"));
out:
	json_decref(rec);
	return sched_tx_end(s, txn, use, rc);
}

int64_t sched_backoff_ms(const struct sched *s, unsigned attempt)
{
	int64_t d = s->backoff_ms;

	for (unsigned i = 1; i < attempt && d < s->backoff_max_ms; i++)
		d *= 2;
	if (d > s->backoff_max_ms)
		d = s->backoff_max_ms;
	/* Equal jitter: half fixed, so retries never bunch up at zero;
	 * half random, so jobs failed together do not retry together. */
	uint64_t r = s->clock.random(s->clock.ctx);
	return d / 2 + (int64_t)(r % (uint64_t)(d / 2 + 1));
}

static void cut_reason(char *out, const char *reason)
{
	al_strlcpy(out, reason ? reason : "", SCHED_REASON_MAX + 1);
	al_utf8_repair(out, strlen(out));
}

/*
 * End the lease on rec (job id): a final outcome, or a retry that puts
 * the job back in the queue when attempts remain. The caller holds the
 * write transaction.
 */
static int end_lease(struct sched *s, struct store_txn *txn, const char *id,
		     json_t *rec, enum sched_outcome outcome,
		     const char *reason, struct sched_end *end)
{
	json_t *m = sched_member(rec), *repo = NULL, *rm;
	unsigned attempt = (unsigned)sched_jint(m, "attempt", 0);
	/* Leases ended by the daemon stopping are not the job's attempts. */
	unsigned requeues = (unsigned)sched_jint(m, "requeues", 0);
	unsigned used = attempt > requeues ? attempt - requeues : 0;
	int64_t now = sched_now(s), due = 0;
	uint8_t lk[SCHED_LKEY_LEN], qk[SCHED_QKEY_LEN], rkey[32];
	enum sched_state st;
	char why[SCHED_REASON_MAX + 1];
	int rc;

	cut_reason(why, reason);
	if (json_is_true(json_object_get(m, "cancel")) &&
	    outcome != SCHED_OUT_SUCCEEDED && outcome != SCHED_OUT_FAILED)
		outcome = SCHED_OUT_CANCELLED;
	if (outcome == SCHED_OUT_RETRY && used >= s->max_attempts) {
		outcome = SCHED_OUT_FAILED;
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
			 "%s%u of %u attempts used", *why ? "; " : "", used,
			 s->max_attempts);
	}
	if (outcome == SCHED_OUT_REQUEUE)
		json_object_set_new(m, "requeues", json_integer(requeues + 1));
	st = outcome == SCHED_OUT_SUCCEEDED   ? SCHED_SUCCEEDED
	     : outcome == SCHED_OUT_FAILED    ? SCHED_FAILED
	     : outcome == SCHED_OUT_CANCELLED ? SCHED_CANCELLED
					      : SCHED_QUEUED;

	sched_lkey(lk, id);
	rc = store_del(txn, STORE_DB_QUEUE, lk, sizeof(lk));
	if (rc && rc != AL_E_NOTFOUND)
		goto out;
	json_object_set_new(rec, "state", json_string(sched_state_name(st)));
	json_object_set_new(m, "reason", *why ? json_string(why) : json_null());
	json_object_set_new(m, "lease", json_null());
	if (st == SCHED_QUEUED) {
		due = outcome == SCHED_OUT_REQUEUE
			      ? now
			      : now + sched_backoff_ms(s, used);
		json_object_set_new(m, "due_ms", json_integer(due));
		sched_qkey(qk, (unsigned)sched_jint(m, "priority", 0), due, id);
		rc = store_put_raw(txn, STORE_DB_QUEUE, qk, sizeof(qk), "", 0);
	} else {
		json_object_set_new(rec, "finished_ms", json_integer(now));
		rc = 0;
	}
	if (rc || (rc = job_put(txn, id, rec, 0)) ||
	    (rc = sched_repo_get(s, txn, sched_jstr(rec, "repo"), rkey, &repo)))
		goto out;
	rm = sched_member(repo);
	if (sched_jstr(rm, "running") && !strcmp(sched_jstr(rm, "running"), id))
		json_object_del(rm, "running");
	/* A retry is queued again for its repository: new requests with
	 * its settings join it, and fold_requeued (below) merges it with a
	 * job of the same settings queued meanwhile. */
	if ((st == SCHED_QUEUED && (rc = sched_repo_enqueue_id(rm, id))) ||
	    (rc = sched_repo_put(txn, rkey, repo)))
		goto out;
	rc = st == SCHED_QUEUED
		     ? audit_job(s, txn, NULL, "job.requeue", id,
				 json_pack("{s:i,s:I,s:s,s:b}", "attempt",
					   (int)attempt, "due_ms",
					   (json_int_t)due, "reason", why,
					   "counted",
					   outcome != SCHED_OUT_REQUEUE))
		     : audit_job(s, txn, NULL, "job.finish", id,
				 json_pack("{s:s,s:i,s:s}", "state",
					   sched_state_name(st), "attempt",
					   (int)attempt, "reason", why));
	if (rc == 0) {
		end->state = st;
		end->attempt = attempt;
		memcpy(end->reason, why, sizeof(end->reason));
	}
	if (rc == 0 && st == SCHED_QUEUED)
		rc = fold_requeued(s, txn, id);
out:
	json_decref(repo);
	return rc;
}

void sched_log_end(const char *id, const struct sched_end *end)
{
	al_info("sched", id, "job %s attempt=%u%s%s",
		end->state == SCHED_QUEUED ? "requeued"
					   : sched_state_name(end->state),
		end->attempt, *end->reason ? " reason=" : "", end->reason);
}

int sched_complete_end(struct sched *s, struct store_txn *txn,
		       const char *id, unsigned attempt,
		       enum sched_outcome outcome, const char *reason,
		       struct sched_end *end)
{
	struct store_txn *use = NULL;
	struct sched_end mine;
	json_t *rec = NULL;
	int rc;

	if ((unsigned)outcome > SCHED_OUT_REQUEUE)
		return AL_E_USAGE;
	if (!end)
		end = &mine;
	if ((rc = sched_tx(s, txn, &use)) == 0 &&
	    (rc = job_leased(use, id, attempt, &rec)) == 0)
		rc = end_lease(s, use, id, rec, outcome, reason, end);
	json_decref(rec);
	rc = sched_tx_end(s, txn, use, rc);
	/* Only a commit of ours is known to have happened. */
	if (rc == 0 && !txn)
		sched_log_end(id, end);
	return rc;
}

int sched_complete(struct sched *s, struct store_txn *txn, const char *id,
		   unsigned attempt, enum sched_outcome outcome,
		   const char *reason, enum sched_state *state_out)
{
	struct sched_end end;
	int rc = sched_complete_end(s, txn, id, attempt, outcome, reason,
				    &end);

	if (rc == 0 && state_out)
		*state_out = end.state;
	return rc;
}

int sched_cancel(struct sched *s, struct store_txn *txn, const char *id,
		 const char *actor)
{
	struct store_txn *use = NULL;
	json_t *rec = NULL, *repo = NULL, *m, *rm;
	uint8_t qk[SCHED_QKEY_LEN], rkey[32];
	int rc;

	if ((rc = sched_tx(s, txn, &use)) || (rc = job_get(use, id, &rec)))
		goto out;
	m = sched_member(rec);
	if (job_state(rec) == SCHED_RUNNING) {
		json_object_set_new(m, "cancel", json_true());
		if ((rc = job_put(use, id, rec, 0)) == 0)
			rc = audit_job(s, use, actor, "job.cancel", id,
				       json_pack("{s:s}", "state", "running"));
		goto out;
	}
	if (job_state(rec) != SCHED_QUEUED) {
		rc = AL_E_USAGE;
		goto out;
	}
	sched_qkey(qk, (unsigned)sched_jint(m, "priority", 0),
		   sched_jint(m, "due_ms", 0), id);
	json_object_set_new(rec, "state", json_string("cancelled"));
	json_object_set_new(rec, "finished_ms", json_integer(sched_now(s)));
	json_object_set_new(m, "cancel", json_true());
	if ((rc = store_del(use, STORE_DB_QUEUE, qk, sizeof(qk))) ||
	    (rc = job_put(use, id, rec, 0)) ||
	    (rc = sched_repo_get(s, use, sched_jstr(rec, "repo"), rkey, &repo)))
		goto out;
	rm = sched_member(repo);
	sched_repo_unqueue(rm, id);
	if ((rc = sched_repo_put(use, rkey, repo)) == 0)
		rc = audit_job(s, use, actor, "job.cancel", id,
			       json_pack("{s:s}", "state", "queued"));
out:
	json_decref(rec);
	json_decref(repo);
	return sched_tx_end(s, txn, use, rc);
}

int sched_retry(struct sched *s, struct store_txn *txn, const char *id,
		const char *actor, char *new_id)
{
	struct store_txn *use = NULL;
	json_t *rec = NULL;
	char url[SCHED_REPO_MAX + 1];
	int rc;

	if ((rc = sched_tx(s, txn, &use)) || (rc = job_get(use, id, &rec)))
		goto out;
	if (job_state(rec) != SCHED_FAILED &&
	    job_state(rec) != SCHED_CANCELLED) {
		rc = AL_E_USAGE;
		goto out;
	}
	struct sched_request rq = {
		.repo = sched_jstr(rec, "repo"),
		.branch = sched_jstr(rec, "branch"),
		.policy = sched_jstr(rec, "policy"),
		.test_cmd = sched_jstr(rec, "test_cmd"),
		.priority = (unsigned)sched_jint(sched_member(rec), "priority",
						 SCHED_PRIO_NORMAL),
		.trigger = "retry",
		.actor = actor,
	};
	/* A record made before the request check may fail it now. */
	if (sched_request_check(&rq, 0, NULL, 0) ||
	    sched_repo_norm(rq.repo, false, url, sizeof(url))) {
		rc = AL_E_PARSE;
		goto out;
	}
	rq.repo = url;
	rc = sched_enqueue_rec(s, use, &rq, id, new_id, NULL);
out:
	json_decref(rec);
	return sched_tx_end(s, txn, use, rc);
}

/* Ids of leases to end: all, or those expired by now. */
static int leases_due(struct store_txn *txn, bool all, int64_t now,
		      char (**ids)[SCHED_ID_LEN + 1], size_t *n)
{
	struct store_cursor *cur = NULL;
	struct al_buf val = {0};
	const void *key;
	size_t klen, cap = 0;
	int rc;

	*ids = NULL;
	*n = 0;
	if ((rc = store_cursor_open(txn, STORE_DB_QUEUE, &cur)) ||
	    (rc = store_cursor_seek(cur, "L", 1)))
		goto out;
	while ((rc = store_cursor_next(cur, &key, &klen, NULL)) == 0) {
		if (klen != SCHED_LKEY_LEN || *(const char *)key != 'L')
			break;
		if ((rc = store_get_raw(txn, STORE_DB_QUEUE, key, klen, &val)))
			goto out;
		if (!all && val.len == 8 &&
		    (int64_t)sched_be64((const uint8_t *)val.p) > now)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			void *p = realloc(*ids, cap * sizeof(**ids));
			if (!p) {
				rc = -ENOMEM;
				goto out;
			}
			*ids = p;
		}
		memcpy((*ids)[*n], (const char *)key + 1, SCHED_ID_LEN);
		(*ids)[(*n)++][SCHED_ID_LEN] = '\0';
	}
	rc = 0;
out:
	store_cursor_close(cur);
	al_buf_free(&val);
	return rc;
}

int sched_requeue_expired(struct sched *s, struct store_txn *txn, bool all,
			  unsigned *count)
{
	struct store_txn *use = NULL;
	char (*ids)[SCHED_ID_LEN + 1] = NULL;
	struct sched_end *ends = NULL;
	size_t n = 0;
	unsigned done = 0;
	int rc;

	if ((rc = sched_tx(s, txn, &use)) ||
	    (rc = leases_due(use, all, sched_now(s), &ids, &n)))
		goto out;
	if (n && !(ends = calloc(n, sizeof(*ends)))) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		json_t *rec = NULL;
		uint8_t lk[SCHED_LKEY_LEN];

		rc = job_get(use, ids[i], &rec);
		if (rc == 0 && job_state(rec) == SCHED_RUNNING) {
			rc = end_lease(s, use, ids[i], rec, SCHED_OUT_RETRY,
				       all ? "the daemon died while the job "
					     "ran (found at start-up)"
					   : "lease expired: the worker "
					     "stopped heartbeating",
				       &ends[i]);
			done += rc == 0;
		} else if (rc == 0 || rc == AL_E_NOTFOUND) {
			/* A lease entry without a running job cannot be
			 * written by this code; drop it, say so. */
			al_warn("sched", ids[i], "stray lease entry removed");
			sched_lkey(lk, ids[i]);
			rc = store_del(use, STORE_DB_QUEUE, lk, sizeof(lk));
		}
		json_decref(rec);
	}
out:
	rc = sched_tx_end(s, txn, use, rc);
	/* The lines once the ends are stored (attempt 0: not ended). */
	for (size_t i = 0; rc == 0 && !txn && i < n; i++)
		if (ends[i].attempt)
			sched_log_end(ids[i], &ends[i]);
	free(ids);
	free(ends);
	if (rc == 0 && count)
		*count = done;
	return rc;
}

int sched_save_record(struct sched *s, struct store_txn *txn, const char *id,
		      unsigned attempt, const json_t *record,
		      const char *action)
{
	static const char *const owned[] = {"state", "finished_ms", "sched",
					    "id", "repo", "created_ms"};
	struct store_txn *use = NULL;
	json_t *rec = NULL, *mine = NULL;
	int rc;

	if (!json_is_object(record) || !action || !*action)
		return AL_E_USAGE;
	if ((rc = sched_tx(s, txn, &use)) ||
	    (rc = job_leased(use, id, attempt, &rec)))
		goto out;
	mine = json_deep_copy(record);
	if (!mine) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < AL_ARRAY_LEN(owned); i++) {
		json_t *v = json_object_get(rec, owned[i]);
		if (v)
			json_object_set(mine, owned[i], v);
		else
			json_object_del(mine, owned[i]);
	}
	if ((rc = job_put(use, id, mine, 0)) == 0)
		rc = audit_job(s, use, NULL, action, id,
			       json_pack("{s:i}", "attempt", (int)attempt));
out:
	json_decref(rec);
	json_decref(mine);
	return sched_tx_end(s, txn, use, rc);
}

unsigned sched_default_workers(unsigned ncpu, uint64_t mem_bytes,
			       unsigned cpus_milli, uint64_t memory)
{
	uint64_t by_cpu, by_mem, n;

	if (cpus_milli == 0)
		cpus_milli = 1000;
	if (memory == 0)
		memory = 512ull << 20;
	by_cpu = (uint64_t)ncpu * 1000 / cpus_milli;
	by_mem = mem_bytes > SCHED_RESERVE_BYTES
			 ? (mem_bytes - SCHED_RESERVE_BYTES) / memory
			 : 0;
	n = by_cpu < by_mem ? by_cpu : by_mem;
	if (n < 1)
		n = 1;
	return n > SCHED_WORKERS_MAX ? SCHED_WORKERS_MAX : (unsigned)n;
}

unsigned sched_host_workers(unsigned cpus_milli, uint64_t memory)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

	return sched_default_workers(cpus > 0 ? (unsigned)cpus : 1,
				     pages > 0 && psz > 0
					     ? (uint64_t)pages * (uint64_t)psz
					     : 0,
				     cpus_milli, memory);
}

static void sched_free_entries(struct sched *s)
{
	for (size_t i = 0; i < s->nsch; i++) {
		free(s->sch[i].repo);
		free(s->sch[i].spec);
		sched_tz_free(s->sch[i].tz);
	}
	free(s->sch);
}

int sched_open(struct audit_log *log, const struct sched_opts *o,
	       struct sched **out)
{
	static const struct sched_opts none = {0};
	struct sched *s;
	char err[256];
	int rc = 0;

	*out = NULL;
	o = o ? o : &none;
	if (o->lease_ms < 0 || o->backoff_ms < 0 || o->backoff_max_ms < 0)
		return AL_E_USAGE;
	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	s->log = log;
	s->st = audit_log_store(log);
	if (o->clock)
		s->clock = *o->clock;
	if (!s->clock.now_ms)
		s->clock.now_ms = real_now;
	if (!s->clock.random)
		s->clock.random = real_random;
	s->max_attempts = o->max_attempts ? o->max_attempts
					  : SCHED_DEFAULT_ATTEMPTS;
	s->lease_ms = o->lease_ms ? o->lease_ms : SCHED_DEFAULT_LEASE_MS;
	s->backoff_ms = o->backoff_ms ? o->backoff_ms
				      : SCHED_DEFAULT_BACKOFF_MS;
	s->backoff_max_ms = o->backoff_max_ms ? o->backoff_max_ms
					      : SCHED_DEFAULT_BACKOFF_MAX_MS;
	if (s->backoff_max_ms < s->backoff_ms)
		s->backoff_max_ms = s->backoff_ms;

	s->sch = calloc(o->nschedules ? o->nschedules : 1, sizeof(*s->sch));
	if (!s->sch) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < o->nschedules; i++) {
		const struct sched_schedule *c = &o->schedules[i];
		struct sched_entry *e = &s->sch[s->nsch++];
		struct sched_request rq = {.repo = c->repo};
		char url[SCHED_REPO_MAX + 1];

		if ((rc = sched_request_check(&rq, 0, err, sizeof(err))) ||
		    (rc = sched_repo_norm(c->repo, false, url, sizeof(url)))) {
			al_error("sched", NULL, "schedule %zu: bad repository: "
				 "%s", i + 1, err);
			goto out;
		}
		e->repo = strdup(url);
		e->spec = strdup(c->spec ? c->spec : "");
		if (!e->repo || !e->spec) {
			rc = -ENOMEM;
			goto out;
		}
		if ((rc = sched_cron_parse(e->spec, &e->cron, err,
					   sizeof(err)))) {
			al_error("sched", NULL, "schedule of %s: '%s': %s",
				 e->repo, e->spec, err);
			goto out;
		}
		if ((rc = sched_tz_load(o->tzdir, c->tz ? c->tz : "UTC",
					&e->tz))) {
			al_error("sched", NULL, "schedule of %s: time zone "
				 "'%s': %s", e->repo, c->tz ? c->tz : "UTC",
				 al_strerror(rc));
			goto out;
		}
	}
out:
	if (rc) {
		sched_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void sched_close(struct sched *s)
{
	if (!s)
		return;
	sched_free_entries(s);
	free(s);
}
