/*
 * rotate.c - key rotation in the background: airlockd seals the values
 * still under older data keys again, one bounded batch at a time, on
 * its main loop between its other work (docs/keys.md, "Rotating").
 *
 * What a rotation is lives in the store, not here: the new current key
 * and the walk's position are in the sealed state record, written with
 * each batch (store/keys.h). So a rotation begun by keys.rotate, one a
 * dead daemon left half-way, and one begun by any writer that retired a
 * key at its seal limit (a worker too) are all the same to the daemon:
 * it looks whether the store says a rotation is under way and, if so,
 * runs the next batch. A SIGKILL loses at most the batch in hand.
 *
 * Each batch is a write transaction of its own (LMDB has one writer per
 * environment, across processes): the API thread's audit entries and
 * the workers' records wait for at most one batch, never for the whole
 * re-seal.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"
#include "daemon/daemon.h"
#include "store/keys.h"

/* How often an idle daemon asks the store whether a rotation began. */
#define RESEAL_LOOK_MS 1000
/* After a batch failed (a full map grows before the next one). */
#define RESEAL_RETRY_MS 5000
/* The most AIRLOCK_RESEAL_PAUSE_MS may ask for. */
#define RESEAL_PAUSE_MAX 60000

struct dmn_reseal {
	/* Everything below; the API thread reads it for keys.status. */
	pthread_mutex_t lock;
	atomic_bool kick;       /* keys.rotate: look at once */
	unsigned pause_ms;      /* between batches (AIRLOCK_RESEAL_PAUSE_MS) */
	unsigned want_batch;    /* asked by keys.rotate; 0 = none */
	int64_t next_look;      /* mono */
	bool look_due;          /* a round came before next_look */
	int64_t next_batch;     /* mono */
	bool stop_logged;

	/* The re-seal under way. */
	bool active;
	unsigned batch;
	char to[SEAL_KEY_ID_HEX];
	uint64_t done, total, resumed_at, batches, unopened, errors;
	int64_t started_ms;

	/* The last one this daemon finished. */
	bool have_last;
	char last_key[SEAL_KEY_ID_HEX];
	uint64_t last_done, last_unopened, last_batches;
	int64_t last_finished_ms;
};

/* The least AIRLOCK_TEST_SEAL_LIMIT may set (a smaller one fills the
 * key ring of 64 keys too soon, and a full ring refuses every write). */
#define RESEAL_SEAL_LIMIT_MIN 100

uint64_t dmn_reseal_seal_limit(void)
{
	const char *env = getenv("AIRLOCK_TEST_SEAL_LIMIT");
	uint64_t n = 0;

	if (!env || !*env)
		return 0;
	/* Only ever lower than the built-in limit: more rotations, never
	 * more seals per key. */
	if (al_parse_u64(env, STORE_SEAL_LIMIT, &n) ||
	    n < RESEAL_SEAL_LIMIT_MIN) {
		al_warn("daemon", NULL, "AIRLOCK_TEST_SEAL_LIMIT='%.32s' is not "
			"a number from %d to %llu: ignored", env,
			RESEAL_SEAL_LIMIT_MIN,
			(unsigned long long)STORE_SEAL_LIMIT);
		return 0;
	}
	al_warn("daemon", NULL, "AIRLOCK_TEST_SEAL_LIMIT: a data key is "
		"retired after %llu seals (for tests)", (unsigned long long)n);
	return n;
}

static int reseal_audit(struct daemon *d, const char *action, json_t *det)
{
	int rc = audit_append_now(d->log, DMN_ACTOR, action, "data-key", det,
				  NULL);

	if (rc)
		al_error("daemon", NULL, "cannot write audit entry %s: %s",
			 action, al_strerror(rc));
	return rc;
}

int dmn_reseal_init(struct daemon *d)
{
	struct dmn_reseal *r = calloc(1, sizeof(*r));
	const char *env = getenv("AIRLOCK_RESEAL_PAUSE_MS");
	uint64_t pause = 0;

	if (!r)
		return -ENOMEM;
	if (pthread_mutex_init(&r->lock, NULL)) {
		free(r);
		return -ENOMEM;
	}
	if (env && *env && al_parse_u64(env, RESEAL_PAUSE_MAX, &pause)) {
		al_warn("daemon", NULL, "AIRLOCK_RESEAL_PAUSE_MS='%.32s' is not "
			"a number of ms from 0 to %d: ignored", env,
			RESEAL_PAUSE_MAX);
		pause = 0;
	}
	r->pause_ms = (unsigned)pause;
	/* A rotation a dead daemon left is looked for at the first round. */
	atomic_store(&r->kick, true);
	d->reseal = r;
	return 0;
}

void dmn_reseal_free(struct daemon *d)
{
	if (!d->reseal)
		return;
	pthread_mutex_destroy(&d->reseal->lock);
	free(d->reseal);
	d->reseal = NULL;
}

/* Does the store say a rotation is under way? Then take it up. */
static void reseal_look(struct daemon *d)
{
	struct dmn_reseal *r = d->reseal;
	struct store_keys_status *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return;
	rc = store_keys_progress(d->st, s);
	if (rc) {
		al_warn("daemon", NULL, "cannot read the key rotation's state: "
			"%s", al_strerror(rc));
		goto out;
	}
	if (!s->rotating)
		goto out;
	pthread_mutex_lock(&r->lock);
	r->active = true;
	r->batch = r->want_batch ? r->want_batch : STORE_ROTATE_BATCH;
	r->want_batch = 0;
	memcpy(r->to, s->rotating_to, sizeof(r->to));
	r->done = r->resumed_at = s->rotate_done;
	r->total = s->records;
	r->batches = r->unopened = r->errors = 0;
	r->started_ms = al_wall_ms();
	r->next_batch = al_mono_ms();
	r->stop_logged = false;
	pthread_mutex_unlock(&r->lock);
	al_info("daemon", NULL, "re-sealing values under older keys in the "
		"background: key=%s at=%llu of=%llu batch=%u pause_ms=%u",
		s->rotating_to, (unsigned long long)s->rotate_done,
		(unsigned long long)s->records, r->batch, r->pause_ms);
	reseal_audit(d, "keys.reseal.start",
		     json_pack("{s:s,s:I,s:I,s:i}", "to", s->rotating_to,
			       "at", (json_int_t)s->rotate_done, "total",
			       (json_int_t)s->records, "batch",
			       (int)r->batch));
out:
	free(s);
}

static void reseal_finished(struct daemon *d, uint64_t done)
{
	struct dmn_reseal *r = d->reseal;
	char key[SEAL_KEY_ID_HEX];
	uint64_t unopened, batches, visited;

	store_key_id_hex(d->st, key);
	pthread_mutex_lock(&r->lock);
	r->active = false;
	r->have_last = true;
	memcpy(r->last_key, key, sizeof(key));
	r->last_done = visited = done ? done : r->done;
	r->last_unopened = unopened = r->unopened;
	r->last_batches = batches = r->batches;
	r->last_finished_ms = al_wall_ms();
	pthread_mutex_unlock(&r->lock);
	al_info("daemon", NULL, "key rotation finished: key=%s visited=%llu "
		"unopened=%llu batches=%llu", key,
		(unsigned long long)visited, (unsigned long long)unopened,
		(unsigned long long)batches);
	reseal_audit(d, "keys.rotate.done",
		     json_pack("{s:s,s:I,s:I}", "key", key, "visited",
			       (json_int_t)visited, "unopened",
			       (json_int_t)unopened));
}

static void reseal_batch(struct daemon *d)
{
	struct dmn_reseal *r = d->reseal;
	struct store_rotate_step p;
	unsigned batch;
	int rc;

	pthread_mutex_lock(&r->lock);
	if (r->want_batch) {
		r->batch = r->want_batch;
		r->want_batch = 0;
	}
	batch = r->batch;
	pthread_mutex_unlock(&r->lock);

	rc = store_keys_rotate_step(d->st, batch, &p);
	if (rc) {
		al_error("daemon", NULL, "re-seal batch failed: %s; trying "
			 "again in %d s", al_strerror(rc),
			 RESEAL_RETRY_MS / 1000);
		pthread_mutex_lock(&r->lock);
		r->errors++;
		pthread_mutex_unlock(&r->lock);
		r->next_batch = al_mono_ms() + RESEAL_RETRY_MS;
		return;
	}
	pthread_mutex_lock(&r->lock);
	r->batches++;
	r->unopened += p.failed;
	if (p.done)
		r->done = p.done;
	if (p.total)
		r->total = p.total;
	pthread_mutex_unlock(&r->lock);
	/* p.done is 0 when another process finished the walk. */
	if (p.finished)
		reseal_finished(d, p.done);
	else
		r->next_batch = al_mono_ms() + r->pause_ms;
}

void dmn_reseal_round(struct daemon *d)
{
	struct dmn_reseal *r = d->reseal;
	int64_t now = al_mono_ms();

	if (atomic_load(&d->stopping)) {
		if (r->active && !r->stop_logged)
			al_info("daemon", NULL, "re-seal stopped for the "
				"shutdown at %llu of %llu values; the next "
				"start resumes it", (unsigned long long)r->done,
				(unsigned long long)r->total);
		r->stop_logged = true;
		return;
	}
	/*
	 * Rounds come after something happened (an API call, a worker's
	 * message, a timer): whatever wrote may have retired a key, so a
	 * round too soon after the last look asks for one when it is due.
	 */
	if (!r->active) {
		if (!atomic_exchange(&r->kick, false) && now < r->next_look) {
			r->look_due = true;
			return;
		}
		r->look_due = false;
		r->next_look = now + RESEAL_LOOK_MS;
		reseal_look(d);
	}
	if (r->active && now >= r->next_batch)
		reseal_batch(d);
}

int64_t dmn_reseal_next(const struct daemon *d)
{
	const struct dmn_reseal *r = d->reseal;

	if (!r || atomic_load(&d->stopping))
		return INT64_MAX;
	if (atomic_load(&r->kick))
		return 0;
	if (r->active)
		return r->next_batch;
	return r->look_due ? r->next_look : INT64_MAX;
}

json_t *dmn_keys_rotate(struct daemon *d, const char *actor, unsigned batch,
			struct api_err *err)
{
	struct dmn_reseal *r = d->reseal;
	struct store_txn *txn = NULL;
	char from[SEAL_KEY_ID_HEX], to[SEAL_KEY_ID_HEX];
	bool running = false;
	int rc = store_txn_begin(d->st, true, &txn);

	/* The ring as this transaction sees it (another writer may have
	 * rotated): begin reloads it. */
	if (rc == 0) {
		store_key_id_hex(d->st, from);
		rc = store_keys_rotate_begin_txn(txn, &running, to);
	}
	/* The new key and the entry that names its caller commit together. */
	if (rc == 0 && !running)
		rc = audit_append(d->log, txn, actor, "keys.rotate.start",
				  "data-key",
				  json_pack("{s:s,s:s,s:b}", "from", from,
					    "to", to, "resuming", 0),
				  NULL);
	if (rc == 0 && !running) {
		rc = audit_commit(d->log, txn);
	} else {
		store_txn_abort(txn);
	}
	if (rc)
		return api_fail(err, API_E_INTERNAL, "the rotation did not "
				"start, nothing changed: %s (the daemon's log "
				"says why)", al_strerror(rc));

	pthread_mutex_lock(&r->lock);
	if (batch)
		r->want_batch = batch;
	pthread_mutex_unlock(&r->lock);
	atomic_store(&r->kick, true);
	dmn_poke(d);
	if (!running)
		al_info("daemon", NULL, "new current data key %s (was %s), "
			"asked by %s; values under older keys are sealed "
			"again in the background", to, from, actor);
	return json_pack("{s:b,s:s,s:s,s:i}", "started", !running, "key", to,
			 "from", from, "batch",
			 (int)(batch ? batch : STORE_ROTATE_BATCH));
}

/* The daemon's side of keys.status: what it runs and what it ran. */
static json_t *reseal_json(struct dmn_reseal *r)
{
	json_t *o, *last = json_null();

	pthread_mutex_lock(&r->lock);
	if (r->have_last)
		last = json_pack("{s:s,s:I,s:I,s:I,s:I}", "key", r->last_key,
				 "visited", (json_int_t)r->last_done,
				 "unopened", (json_int_t)r->last_unopened,
				 "batches", (json_int_t)r->last_batches,
				 "finished_ms",
				 (json_int_t)r->last_finished_ms);
	o = json_pack("{s:b,s:i,s:o}", "running", r->active, "pause_ms",
		      (int)r->pause_ms, "last", last);
	if (o && r->active)
		json_object_update_new(
			o, json_pack("{s:s,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
				     "to", r->to, "batch", (int)r->batch,
				     "done", (json_int_t)r->done, "total",
				     (json_int_t)r->total, "resumed_at",
				     (json_int_t)r->resumed_at, "batches",
				     (json_int_t)r->batches, "unopened",
				     (json_int_t)r->unopened, "errors",
				     (json_int_t)r->errors, "started_ms",
				     (json_int_t)r->started_ms));
	pthread_mutex_unlock(&r->lock);
	return o;
}

json_t *dmn_keys_status(struct daemon *d, bool check, struct api_err *err)
{
	struct store_keys_status *s = calloc(1, sizeof(*s));
	json_t *o = NULL;
	int rc;

	if (!s)
		return api_fail(err, API_E_INTERNAL, "out of memory");
	rc = check ? store_keys_status(d->st, s) : store_keys_progress(d->st, s);
	if (rc == 0)
		o = store_keys_status_json(s);
	if (o)
		json_object_set_new(o, "daemon", reseal_json(d->reseal));
	free(s);
	if (rc)
		return api_fail(err, API_E_INTERNAL, "cannot read the store: "
				"%s", al_strerror(rc));
	if (!o)
		return api_fail(err, API_E_INTERNAL, "out of memory");
	return o;
}
