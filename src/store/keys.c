/*
 * keys.c - key rotation in resumable batches, and the key status with
 * the version check.
 */
#include "store/keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "store/internal.h"

int store_rotate_start(struct store_txn *txn, bool restart, char *newid)
{
	struct store *st = txn->st;
	struct seal_ring *next = malloc(sizeof(*next));
	int rc;

	if (!next)
		return -ENOMEM;
	pthread_mutex_lock(&st->lock);
	*next = st->ring;
	pthread_mutex_unlock(&st->lock);
	rc = seal_ring_add(next, (uint64_t)al_wall_ms());
	if (rc == AL_E_LIMIT)
		al_error("store", NULL, "%s: the key ring holds %d keys, its "
			 "most; cannot add another", st->dbdir, SEAL_RING_MAX);
	if (rc == 0)
		rc = store_ring_write(txn, next);
	if (rc) {
		seal_ring_wipe(next);
		free(next);
		return rc;
	}

	/* Keep the ring as it was until the transaction commits. */
	if (!txn->ring_prev) {
		txn->ring_prev = malloc(sizeof(*txn->ring_prev));
		if (!txn->ring_prev) {
			seal_ring_wipe(next);
			free(next);
			return -ENOMEM;
		}
		pthread_mutex_lock(&st->lock);
		*txn->ring_prev = st->ring;
		pthread_mutex_unlock(&st->lock);
	}
	pthread_mutex_lock(&st->lock);
	st->ring = *next;
	pthread_mutex_unlock(&st->lock);

	/*
	 * A key retired by its seal count in the middle of a rotation keeps
	 * the walk's place: starting over could retire key after key on a
	 * store with more values than the limit and never end. The values
	 * behind the place stay under the retired key until the next
	 * rotation; that key still opens them.
	 */
	if (restart || !txn->state.rotating) {
		txn->state.rot_done = 0;
		txn->state.rot_poslen = 0;
	}
	txn->state.rotating = true;
	memcpy(txn->state.rot_to, seal_ring_current(next)->id,
	       SEAL_KEY_ID_LEN);
	txn->state_dirty = true;
	if (newid)
		seal_key_id_hex(seal_ring_current(next), newid);
	seal_ring_wipe(next);
	free(next);
	return 0;
}

int store_keys_rotate_begin(struct store *st, char *newid)
{
	struct store_txn *txn = NULL;
	char id[SEAL_KEY_ID_HEX];
	int rc = store_txn_begin(st, true, &txn);

	if (rc)
		return rc;
	rc = store_state_get(txn);
	if (rc == 0)
		rc = store_rotate_start(txn, true, id);
	if (rc) {
		store_txn_abort(txn);
		return rc;
	}
	rc = store_txn_commit(txn);
	if (rc == 0) {
		al_info("store", NULL, "%s: new current data key %s; values "
			"under older keys will be sealed again", st->dbdir, id);
		if (newid)
			memcpy(newid, id, sizeof(id));
	}
	return rc;
}

int store_keys_rotate_begin_txn(struct store_txn *txn, bool *running,
				char *newid)
{
	int rc;

	*running = false;
	if (!txn->write)
		return AL_E_USAGE;
	rc = store_state_get(txn);
	if (rc)
		return rc;
	if (txn->state.rotating) {
		*running = true;
		if (newid)
			al_hex(newid, txn->state.rot_to, SEAL_KEY_ID_LEN);
		return 0;
	}
	return store_rotate_start(txn, true, newid);
}

int store_keys_rotating(struct store *st, bool *rotating)
{
	struct store_txn *txn = NULL;
	int rc = store_txn_begin(st, false, &txn);

	*rotating = false;
	if (rc)
		return rc;
	rc = store_state_get(txn);
	if (rc == 0)
		*rotating = txn->state.rotating;
	store_txn_abort(txn);
	return rc;
}

struct rot_key {
	size_t len;
	uint8_t b[STORE_VKEY_MAX];
};

/* Up to max version-entry keys after the rotation's position. */
static int rot_collect(struct store_txn *txn, struct rot_key *keys,
		       unsigned max, unsigned *n)
{
	struct store_state *s = &txn->state;
	MDB_cursor *cur = NULL;
	MDB_val k = { s->rot_poslen, s->rot_pos }, v;
	MDB_cursor_op op = s->rot_poslen ? MDB_SET_RANGE : MDB_FIRST;
	int mrc = mdb_cursor_open(txn->txn, txn->st->dbi[STORE_DB_VERSIONS],
				  &cur);

	*n = 0;
	if (mrc)
		return store_err(mrc, "versions");
	while (*n < max && (mrc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
		op = MDB_NEXT;
		/* The position is the last entry done; start after it. */
		if (s->rot_poslen && k.mv_size == s->rot_poslen &&
		    !memcmp(k.mv_data, s->rot_pos, k.mv_size))
			continue;
		if (k.mv_size < 2 || k.mv_size > STORE_VKEY_MAX)
			continue;
		keys[*n].len = k.mv_size;
		memcpy(keys[*n].b, k.mv_data, k.mv_size);
		(*n)++;
	}
	mdb_cursor_close(cur);
	return mrc == 0 || mrc == MDB_NOTFOUND ? 0 : store_err(mrc, "versions");
}

/* Seal one record again under the current key if it is under another. */
static int rot_one(struct store_txn *txn, const struct rot_key *rk,
		   uint64_t *failed)
{
	enum store_db db = (enum store_db)rk->b[0];
	const uint8_t *key = rk->b + 1;
	size_t keylen = rk->len - 1;
	struct al_buf plain = { 0 };
	struct seal_header h;
	MDB_val k = { keylen, (void *)key }, v;
	uint8_t cur[SEAL_KEY_ID_LEN];
	char name[160];
	int rc, mrc;

	if ((unsigned)db >= STORE_DB__COUNT || db == STORE_DB_VERSIONS)
		return 0;
	mrc = mdb_get(txn->txn, txn->st->dbi[db], &k, &v);
	if (mrc == MDB_NOTFOUND)
		goto skip;
	if (mrc)
		return store_err(mrc, store_db_name(db));
	pthread_mutex_lock(&txn->st->lock);
	memcpy(cur, seal_ring_current(&txn->st->ring)->id, sizeof(cur));
	pthread_mutex_unlock(&txn->st->lock);
	if (seal_peek(v.mv_data, v.mv_size, &h) == 0 &&
	    memcmp(h.id, cur, sizeof(cur)) == 0)
		return 0;

	rc = store_unseal_plain(txn, db, key, keylen, &v, &plain, NULL);
	if (rc == 0)
		rc = store_seal_put(txn, db, key, keylen, plain.p, plain.len,
				    0);
	if (plain.p)
		explicit_bzero(plain.p, plain.cap);
	al_buf_free(&plain);
	if (rc != AL_E_AUTH && rc != AL_E_STALE && rc != AL_E_PARSE)
		return rc;
skip:
	store_rkey_name(db, key, keylen, name, sizeof(name));
	al_warn("store", NULL, "%s: cannot be sealed again under the new "
		"key; left as it was", name);
	if (failed)
		(*failed)++;
	return 0;
}

/* One batch in one write transaction; p->finished when none remain. */
static int rot_batch(struct store *st, struct rot_key *keys, unsigned batch,
		     struct store_rotate_step *p)
{
	struct store_txn *txn = NULL;
	MDB_stat ms;
	unsigned n = 0;
	uint64_t failed = 0;
	int rc = store_txn_begin(st, true, &txn);

	memset(p, 0, sizeof(*p));
	p->finished = true;
	if (rc)
		return rc;
	rc = store_state_get(txn);
	if (rc || !txn->state.rotating)
		goto out;
	rc = rot_collect(txn, keys, batch, &n);
	for (unsigned i = 0; rc == 0 && i < n; i++)
		rc = rot_one(txn, &keys[i], &failed);
	if (rc)
		goto out;

	txn->state.rot_done += n;
	if (n > 0) {
		txn->state.rot_poslen = keys[n - 1].len;
		memcpy(txn->state.rot_pos, keys[n - 1].b, keys[n - 1].len);
	}
	p->finished = n < batch;
	if (p->finished)
		txn->state.rotating = false;
	txn->state_dirty = true;
	p->visited = n;
	p->failed = failed;
	p->done = txn->state.rot_done;
	p->total = mdb_stat(txn->txn, st->dbi[STORE_DB_VERSIONS], &ms) == 0
			   ? ms.ms_entries
			   : 0;
out:
	if (rc == 0)
		rc = store_txn_commit(txn);
	else
		store_txn_abort(txn);
	if (rc) {
		memset(p, 0, sizeof(*p));
		p->finished = false;
	}
	return rc;
}

int store_keys_rotate_step(struct store *st, unsigned batch,
			   struct store_rotate_step *p)
{
	struct rot_key *keys;
	int rc;

	if (batch == 0)
		batch = STORE_ROTATE_BATCH;
	keys = calloc(batch, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	rc = rot_batch(st, keys, batch, p);
	explicit_bzero(keys, batch * sizeof(*keys));
	free(keys);
	return rc;
}

int store_keys_rotate_run(struct store *st, unsigned batch,
			  store_rotate_cb cb, void *ctx, uint64_t *failed)
{
	struct store_rotate_step p = { 0 };
	struct rot_key *keys;
	uint64_t nfail = 0;
	int rc = 0;

	if (batch == 0)
		batch = STORE_ROTATE_BATCH;
	keys = calloc(batch, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	while (rc == 0 && !p.finished) {
		rc = rot_batch(st, keys, batch, &p);
		nfail += p.failed;
		if (rc == 0 && cb && (p.done || p.total))
			rc = cb(ctx, p.done, p.total);
	}
	if (rc == 0 && (p.done || p.total))
		al_info("store", NULL, "%s: key rotation finished: %llu values "
			"visited, %llu could not be sealed again", st->dbdir,
			(unsigned long long)p.done, (unsigned long long)nfail);
	if (failed)
		*failed = nfail;
	explicit_bzero(keys, batch * sizeof(*keys));
	free(keys);
	return rc;
}

/* One version entry: its value's key, version and the digest. */
static void status_entry(struct store_txn *txn, struct store_keys_status *s,
			 const MDB_val *k, const MDB_val *v,
			 const uint8_t ikey[SEAL_KEY_LEN], uint8_t digest[32])
{
	enum store_db db = (enum store_db)((const uint8_t *)k->mv_data)[0];
	MDB_val rk = { k->mv_size - 1, (uint8_t *)k->mv_data + 1 }, rv;
	uint64_t ver = v->mv_size == 8 ? store_get_be64(v->mv_data) : 0;
	struct seal_header h;
	char name[160];
	const char *why = NULL;

	s->records++;
	store_digest_flip(txn, ikey, k->mv_data, k->mv_size, ver, digest);
	if ((unsigned)db >= STORE_DB__COUNT || db == STORE_DB_VERSIONS ||
	    k->mv_size < 2 || ver == 0) {
		why = "malformed version entry";
		db = STORE_DB_VERSIONS;
	} else if (mdb_get(txn->txn, txn->st->dbi[db], &rk, &rv) != 0) {
		why = "version entry without a value (record removed)";
	} else if (seal_peek(rv.mv_data, rv.mv_size, &h) != 0 ||
		   h.format != SEAL_VERSION) {
		why = "value is not sealed";
	} else if (h.version != ver || ver > txn->state.gen) {
		why = "value's version differs from its entry (rolled back)";
	} else {
		for (size_t i = 0; i < s->n; i++) {
			uint8_t id[SEAL_KEY_ID_LEN];
			for (size_t j = 0; j < SEAL_KEY_ID_LEN; j++)
				sscanf(s->keys[i].id + 2 * j, "%2hhx", &id[j]);
			if (!memcmp(id, h.id, sizeof(id)))
				s->keys[i].values++;
		}
	}
	if (!why)
		return;
	if (s->problems++ == 0) {
		store_rkey_name(db, rk.mv_data, rk.mv_size, name, sizeof(name));
		snprintf(s->problem, sizeof(s->problem), "%s: %s", name, why);
	}
}

static int status_walk(struct store_txn *txn, struct store_keys_status *s)
{
	uint8_t ikey[SEAL_KEY_LEN], digest[32] = { 0 };
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int mrc = mdb_cursor_open(txn->txn, txn->st->dbi[STORE_DB_VERSIONS],
				  &cur);

	if (mrc)
		return store_err(mrc, "versions");
	pthread_mutex_lock(&txn->st->lock);
	memcpy(ikey, txn->st->ring.index_key, sizeof(ikey));
	pthread_mutex_unlock(&txn->st->lock);
	while ((mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0)
		status_entry(txn, s, &k, &v, ikey, digest);
	mdb_cursor_close(cur);
	explicit_bzero(ikey, sizeof(ikey));
	if (mrc != MDB_NOTFOUND)
		return store_err(mrc, "versions");
	if (memcmp(digest, txn->state.digest, sizeof(digest)) != 0 &&
	    s->problems++ == 0)
		snprintf(s->problem, sizeof(s->problem), "the version entries "
			 "do not match the digest in meta state: entries were "
			 "removed, added or rolled back");
	return 0;
}

/* The status in one read transaction; walk: also count and check. */
static int keys_status(struct store *st, struct store_keys_status *s,
		       bool walk)
{
	struct store_txn *txn = NULL;
	MDB_stat ms;
	int rc = store_txn_begin(st, false, &txn);

	memset(s, 0, sizeof(*s));
	if (rc)
		return rc;
	rc = store_state_get(txn);
	if (rc)
		goto out;
	s->seal_limit = st->opts.seal_limit;
	pthread_mutex_lock(&st->lock);
	s->n = st->ring.n;
	for (size_t i = 0; i < st->ring.n; i++) {
		const struct seal_ring_key *k = &st->ring.keys[i];
		uint64_t *n = store_state_seals(&txn->state, k->k.id);
		seal_key_id_hex(&k->k, s->keys[i].id);
		s->keys[i].current = k->state == SEAL_RING_CURRENT;
		s->keys[i].created_ms = k->created_ms;
		s->keys[i].seals = n ? *n : 0;
	}
	pthread_mutex_unlock(&st->lock);
	s->rotating = txn->state.rotating;
	if (s->rotating)
		al_hex(s->rotating_to, txn->state.rot_to, SEAL_KEY_ID_LEN);
	s->rotate_done = txn->state.rot_done;
	if (!walk) {
		int mrc = mdb_stat(txn->txn, st->dbi[STORE_DB_VERSIONS], &ms);
		rc = mrc ? store_err(mrc, "versions") : 0;
		s->records = mrc ? 0 : ms.ms_entries;
		goto out;
	}
	rc = status_walk(txn, s);
	s->checked = rc == 0;
	for (size_t i = 0; rc == 0 && i < s->n; i++)
		if (!s->keys[i].current)
			s->left += s->keys[i].values;
out:
	store_txn_abort(txn);
	return rc;
}

int store_keys_status(struct store *st, struct store_keys_status *s)
{
	return keys_status(st, s, true);
}

int store_keys_progress(struct store *st, struct store_keys_status *s)
{
	return keys_status(st, s, false);
}

json_t *store_keys_status_json(const struct store_keys_status *s)
{
	json_t *keys = json_array(), *o;

	for (size_t i = 0; keys && i < s->n; i++) {
		const struct store_key_info *k = &s->keys[i];
		json_array_append_new(
			keys, json_pack("{s:s, s:b, s:I, s:I, s:I}", "id",
					k->id, "current", k->current,
					"created_ms", (json_int_t)k->created_ms,
					"seals", (json_int_t)k->seals,
					"values", (json_int_t)k->values));
	}
	o = json_pack("{s:o, s:I, s:I, s:b, s:I, s:b}", "keys", keys,
		      "seal_limit", (json_int_t)s->seal_limit, "records",
		      (json_int_t)s->records, "rotating", s->rotating,
		      "rotate_done", (json_int_t)s->rotate_done, "checked",
		      s->checked);
	if (o && s->rotating)
		json_object_set_new(o, "rotating_to",
				    json_string(s->rotating_to));
	if (o && s->checked) {
		json_object_set_new(o, "left", json_integer((json_int_t)s->left));
		json_object_set_new(o, "ok", json_boolean(s->problems == 0));
	}
	if (o && s->problems) {
		json_object_set_new(o, "problems",
				    json_integer(s->problems));
		json_object_set_new(o, "problem", json_string(s->problem));
	}
	return o;
}
