/*
 * prune.c - retention: deleting finished jobs, a bounded piece at a
 * time (sched.h, sched_prune_step; docs/scheduler.md, "Retention").
 *
 * Job ids begin with their creation time in hex, so the jobs database's
 * key order is creation order: the walk goes from the oldest job up and
 * stops where no job can be due any more (created after before_ms, and
 * not older than the keep-th newest finished job). The jobs it passes
 * and keeps (queued or running, or ended too recently) are few on a
 * store that is pruned regularly.
 */
#include "sched/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"

enum { PRUNE_COUNT, PRUNE_DELETE };

/* A job the walk found due: its record (a reference) and its id. */
struct prune_job {
	char id[SCHED_ID_LEN + 1];
	json_t *rec;
};

struct prune_batch {
	struct prune_job *v;
	size_t n;
	uint64_t lines;
};

static bool finished(const json_t *rec)
{
	int st = sched_state_parse(sched_jstr(rec, "state"));

	return st == SCHED_SUCCEEDED || st == SCHED_FAILED ||
	       st == SCHED_CANCELLED;
}

static bool id_key(const void *k, size_t klen, char *id)
{
	const char *c = k;

	if (klen != SCHED_ID_LEN)
		return false;
	for (size_t i = 0; i < SCHED_ID_LEN; i++)
		if (!((c[i] >= '0' && c[i] <= '9') ||
		      (c[i] >= 'a' && c[i] <= 'f')))
			return false;
	memcpy(id, k, SCHED_ID_LEN);
	id[SCHED_ID_LEN] = '\0';
	return true;
}

/*
 * Walk back from the newest job (or from p->pos) to the keep-th newest
 * finished one, whose id becomes the cap: finished jobs below it are
 * over the count. Read only; at most scan records a call.
 */
static int prune_count(struct sched *s, struct store_txn *txn,
		       struct sched_prune *p, unsigned scan)
{
	struct store_txn *use = txn;
	struct store_cursor *cur = NULL;
	const void *k;
	size_t klen, total = 0;
	json_t *rec;
	char id[SCHED_ID_LEN + 1];
	int rc;

	if (!use && (rc = store_txn_begin(s->st, false, &use)))
		return rc;
	if (!p->pos[0] && ((rc = store_count(use, STORE_DB_JOBS, &total)) ||
			   total <= p->keep)) {
		p->phase = PRUNE_DELETE;
		goto out;
	}
	if ((rc = store_cursor_open(use, STORE_DB_JOBS, &cur)) ||
	    (p->pos[0] &&
	     (rc = store_cursor_seek(cur, p->pos, SCHED_ID_LEN)) &&
	     rc != AL_E_NOTFOUND))
		goto out;
	for (unsigned i = 0; i < scan; i++) {
		rc = store_cursor_prev(cur, &k, &klen, &rec);
		if (rc == AL_E_NOTFOUND) {
			/* Fewer finished jobs than keep: none over it. */
			p->phase = PRUNE_DELETE;
			p->pos[0] = '\0';
			rc = 0;
			goto out;
		}
		if (rc && rc != AL_E_AUTH && rc != AL_E_PARSE &&
		    rc != AL_E_STALE)
			goto out;
		if (!id_key(k, klen, id))
			continue;
		memcpy(p->pos, id, sizeof(id));
		if (rc == 0 && finished(rec) && ++p->counted == p->keep) {
			memcpy(p->cap, id, sizeof(id));
			p->phase = PRUNE_DELETE;
			p->pos[0] = '\0';
			break;
		}
	}
	rc = 0;
out:
	store_cursor_close(cur);
	if (!txn)
		store_txn_abort(use);
	return rc;
}

/* Whether a job of this id (created when its first 12 digits say) and
 * record is due, by age or by count. */
static bool due(const struct sched_prune *p, const char *age_id,
		const char *id, const json_t *rec)
{
	int64_t ended = sched_jint(rec, "finished_ms", -1);

	if (!finished(rec) || (p->busy && p->busy(p->busy_ctx, id)))
		return false;
	if (p->before_ms && ended >= 0 && ended < p->before_ms &&
	    strncmp(id, age_id, 12) < 0)
		return true;
	return p->cap[0] && strcmp(id, p->cap) < 0;
}

/* Whether the walk may stop at id: no job from it on can be due. */
static bool past_end(const struct sched_prune *p, const char *age_id,
		     const char *id)
{
	return (!p->before_ms || strncmp(id, age_id, 12) >= 0) &&
	       (!p->cap[0] || strcmp(id, p->cap) >= 0);
}

/*
 * Find the due jobs after p->pos, at most batch of them among at most
 * scan records, into b; p->pos moves to the last record examined and
 * p->done is set when the walk reached its end.
 */
static int prune_find(struct store_txn *txn, struct sched_prune *p,
		      unsigned batch, unsigned scan, struct prune_batch *b)
{
	struct store_cursor *cur = NULL;
	char age_id[16], id[SCHED_ID_LEN + 1];
	const void *k;
	size_t klen;
	json_t *rec;
	int rc;

	snprintf(age_id, sizeof(age_id), "%012" PRIx64,
		 (uint64_t)(p->before_ms > 0 ? p->before_ms : 0) &
			 UINT64_C(0xffffffffffff));
	if (!(b->v = calloc(batch, sizeof(*b->v))))
		return -ENOMEM;
	if ((rc = store_cursor_open(txn, STORE_DB_JOBS, &cur)) ||
	    (p->pos[0] && (rc = store_cursor_seek(cur, p->pos, SCHED_ID_LEN))))
		goto out;
	for (unsigned i = 0; i < scan && b->n < batch;) {
		rc = store_cursor_next(cur, &k, &klen, &rec);
		if (rc == AL_E_NOTFOUND)
			break;
		/* A record that does not open is evidence: left alone. */
		if (rc && rc != AL_E_AUTH && rc != AL_E_PARSE &&
		    rc != AL_E_STALE)
			goto out;
		/* The seek finds the last record examined, if it is still
		 * there: not examined twice. */
		if (id_key(k, klen, id) && !strcmp(id, p->pos))
			continue;
		i++;
		if (!id_key(k, klen, id))
			continue;
		if (past_end(p, age_id, id)) {
			rc = AL_E_NOTFOUND;
			break;
		}
		memcpy(p->pos, id, sizeof(id));
		if (rc == 0 && due(p, age_id, id, rec)) {
			memcpy(b->v[b->n].id, id, sizeof(id));
			b->v[b->n++].rec = json_incref(rec);
		}
	}
	p->done = rc == AL_E_NOTFOUND;
	rc = 0;
out:
	store_cursor_close(cur);
	return rc;
}

/* Delete the progress lines of job id: keys id || line number. */
static int prune_lines(struct store_txn *txn, const char *id, uint64_t *n)
{
	struct store_cursor *cur = NULL;
	uint8_t (*keys)[SCHED_ID_LEN + 4] = NULL;
	size_t nk = 0, cap = 0;
	const void *k;
	size_t klen;
	int rc;

	/* Keys first, deletions after: the cursor is not moved under. */
	if ((rc = store_cursor_open(txn, STORE_DB_JOBLOG, &cur)) ||
	    (rc = store_cursor_seek(cur, id, SCHED_ID_LEN)))
		goto out;
	while ((rc = store_cursor_next(cur, &k, &klen, NULL)) == 0 &&
	       klen == SCHED_ID_LEN + 4 && !memcmp(k, id, SCHED_ID_LEN)) {
		if (nk == cap) {
			cap = cap ? cap * 2 : 64;
			void *v = realloc(keys, cap * sizeof(*keys));
			if (!v) {
				rc = -ENOMEM;
				goto out;
			}
			keys = v;
		}
		memcpy(keys[nk++], k, SCHED_ID_LEN + 4);
	}
	store_cursor_close(cur);
	cur = NULL;
	rc = 0;
	for (size_t i = 0; i < nk && rc == 0; i++)
		rc = store_del(txn, STORE_DB_JOBLOG, keys[i], sizeof(*keys));
	*n += nk;
out:
	store_cursor_close(cur);
	free(keys);
	return rc == AL_E_NOTFOUND ? 0 : rc;
}

/* A queue entry of a finished job is a leftover; absent is the rule. */
static int del_raw(struct store_txn *txn, const uint8_t *key, size_t len)
{
	int rc = store_del(txn, STORE_DB_QUEUE, key, len);

	return rc == AL_E_NOTFOUND ? 0 : rc;
}

/*
 * The repository's record must not name a deleted job as queued or
 * running (a finished job's never does; a record from before may).
 * A record that cannot be read is left as it is.
 */
static int prune_repo(struct sched *s, struct store_txn *txn,
		      const char *id, json_t *rec)
{
	const char *url = sched_jstr(rec, "repo"), *run;
	json_t *repo = NULL, *rm, *q;
	uint8_t rkey[32];
	size_t before;
	bool changed;
	int rc;

	if (!url || sched_repo_get(s, txn, url, rkey, &repo))
		return 0;
	rm = sched_member(repo);
	run = sched_jstr(rm, "running");
	changed = run && !strcmp(run, id);
	if (changed)
		json_object_del(rm, "running");
	q = sched_repo_queued(rm);
	before = json_array_size(q);
	json_decref(q);
	sched_repo_unqueue(rm, id);
	q = sched_repo_queued(rm);
	changed |= json_array_size(q) != before;
	json_decref(q);
	rc = changed ? sched_repo_put(txn, rkey, repo) : 0;
	json_decref(repo);
	return rc;
}

static int prune_job(struct sched *s, struct store_txn *txn,
		     const struct prune_job *j, uint64_t *lines)
{
	const json_t *m = json_object_get(j->rec, "sched");
	uint8_t qk[SCHED_QKEY_LEN], lk[SCHED_LKEY_LEN];
	int rc;

	sched_qkey(qk, (unsigned)sched_jint(m, "priority", 0),
		   sched_jint(m, "due_ms", 0), j->id);
	sched_lkey(lk, j->id);
	if ((rc = store_del(txn, STORE_DB_JOBS, j->id, SCHED_ID_LEN)) ||
	    (rc = prune_lines(txn, j->id, lines)) ||
	    (rc = del_raw(txn, qk, sizeof(qk))) ||
	    (rc = del_raw(txn, lk, sizeof(lk))))
		return rc;
	return prune_repo(s, txn, j->id, j->rec);
}

static json_t *job_json(const struct prune_job *j)
{
	return json_pack("{s:s,s:I,s:I}", "id", j->id, "created_ms",
			 (json_int_t)sched_jint(j->rec, "created_ms", -1),
			 "ended_ms",
			 (json_int_t)sched_jint(j->rec, "finished_ms", -1));
}

/*
 * Delete the jobs of b (in id order, the oldest first) until the key
 * budget is spent: *n is how many. Then the one entry that records
 * them, in the same transaction.
 */
static int prune_delete(struct sched *s, struct store_txn *txn,
			const struct sched_prune *p, struct prune_batch *b,
			size_t *n)
{
	uint64_t keys = p->keys ? p->keys : SCHED_PRUNE_KEYS;
	json_t *d;
	int rc = 0;

	*n = 0;
	while (*n < b->n && rc == 0 && *n + b->lines < keys)
		rc = prune_job(s, txn, &b->v[(*n)++], &b->lines);
	if (rc || *n == 0)
		return rc;
	d = json_pack("{s:I,s:I,s:o,s:o,s:{s:o,s:o}}", "count",
		      (json_int_t)*n, "lines", (json_int_t)b->lines, "oldest",
		      job_json(&b->v[0]), "newest", job_json(&b->v[*n - 1]),
		      "rule", "ended_before_ms",
		      p->before_ms ? json_integer(p->before_ms) : json_null(),
		      "keep",
		      p->keep ? json_integer((json_int_t)p->keep) : json_null());
	return audit_append(s->log, txn, "system", "jobs.prune", "jobs", d,
			    NULL);
}

static void batch_free(struct prune_batch *b)
{
	for (size_t i = 0; b->v && i < b->n; i++)
		json_decref(b->v[i].rec);
	free(b->v);
}

int sched_prune_step(struct sched *s, struct store_txn *txn,
		     struct sched_prune *p)
{
	struct sched_prune w = *p;
	struct prune_batch b = {0};
	struct store_txn *use = NULL;
	unsigned batch = p->batch ? p->batch : SCHED_PRUNE_BATCH;
	unsigned scan = p->scan ? p->scan : SCHED_PRUNE_SCAN;
	size_t n = 0;
	int rc;

	w.step_jobs = 0;
	if (w.done || (!w.before_ms && !w.keep)) {
		p->done = true;
		p->step_jobs = 0;
		return 0;
	}
	if (w.phase == PRUNE_COUNT && w.keep) {
		if ((rc = prune_count(s, txn, &w, scan)) == 0)
			*p = w;
		return rc;
	}
	w.phase = PRUNE_DELETE;
	if ((rc = sched_tx(s, txn, &use)) ||
	    (rc = prune_find(use, &w, batch, scan, &b)))
		goto out;
	rc = prune_delete(s, use, &w, &b, &n);
	/* The key budget ended the batch early: go on after the last job
	 * deleted, not after the last one found. */
	if (rc == 0 && n < b.n) {
		memcpy(w.pos, b.v[n - 1].id, sizeof(w.pos));
		w.done = false;
	}
out:
	rc = sched_tx_end(s, txn, use, rc);
	if (rc == 0) {
		w.step_jobs = (unsigned)n;
		w.jobs += n;
		w.lines += n ? b.lines : 0;
		*p = w;
		if (n && !txn)
			al_info("sched", NULL, "pruned jobs=%zu lines=%" PRIu64
				" oldest=%s newest=%s", n, b.lines, b.v[0].id,
				b.v[n - 1].id);
	}
	batch_free(&b);
	return rc;
}
