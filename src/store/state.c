/*
 * state.c - the sealed meta "state" record: the record version counter,
 * the keyed digest over the version entries, seal counts per data key,
 * and the position of a key rotation.
 *
 * The record is read once per transaction that needs it and written
 * back once, at commit, sealed under the current data key with the
 * version counter as its record version.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "base/log.h"
#include "store/internal.h"

#define STATE_DIGEST_LABEL "airlock version v1"

void store_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

uint64_t store_get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

void store_vkey(enum store_db db, const void *key, size_t keylen,
		uint8_t *out, size_t *outlen)
{
	out[0] = (uint8_t)db;
	memcpy(out + 1, key, keylen);
	*outlen = keylen + 1;
}

/*
 * The digest is the XOR of HMAC(index key, label || version || entry
 * key) over all version entries. XOR lets a write update it in constant
 * time; the HMAC key keeps anyone without the ring from computing a
 * matching set of entries.
 */
int store_digest_flip(struct store_txn *txn, const uint8_t ikey[SEAL_KEY_LEN],
		      const uint8_t *vkey, size_t vlen, uint64_t version,
		      uint8_t digest[32])
{
	uint8_t msg[sizeof(STATE_DIGEST_LABEL) - 1 + 8 + STORE_VKEY_MAX];
	size_t lab = sizeof(STATE_DIGEST_LABEL) - 1;
	uint8_t mac[32];
	int rc = 0;

	if (txn->vmac && !seal_mac_has_key(txn->vmac, ikey)) {
		seal_mac_free(txn->vmac);
		txn->vmac = NULL;
	}
	if (!txn->vmac)
		rc = seal_mac_new(ikey, &txn->vmac);
	if (rc)
		return rc;
	memcpy(msg, STATE_DIGEST_LABEL, lab);
	store_be64(msg + lab, version);
	memcpy(msg + lab + 8, vkey, vlen);
	rc = seal_mac_run(txn->vmac, msg, lab + 8 + vlen, mac);
	for (int i = 0; rc == 0 && i < 32; i++)
		digest[i] ^= mac[i];
	return rc;
}

uint64_t *store_state_seals(struct store_state *s, const uint8_t *id)
{
	for (size_t i = 0; i < s->nseals; i++)
		if (memcmp(s->seals[i].id, id, SEAL_KEY_ID_LEN) == 0)
			return &s->seals[i].n;
	if (s->nseals >= SEAL_RING_MAX)
		return NULL;
	memcpy(s->seals[s->nseals].id, id, SEAL_KEY_ID_LEN);
	s->seals[s->nseals].n = 0;
	return &s->seals[s->nseals++].n;
}

void store_state_init(struct store_txn *txn, uint64_t ring_gen)
{
	memset(&txn->state, 0, sizeof(txn->state));
	txn->state.ring_gen = ring_gen;
	txn->state_loaded = true;
}

static int hex_in(const char *s, uint8_t *out, size_t n)
{
	if (!s || strlen(s) != 2 * n)
		return AL_E_PARSE;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return AL_E_PARSE;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static json_t *state_to_json(const struct store_state *s)
{
	char hex[2 * STORE_VKEY_MAX + 1];
	json_t *seals = json_object(), *o;

	for (size_t i = 0; seals && i < s->nseals; i++) {
		al_hex(hex, s->seals[i].id, SEAL_KEY_ID_LEN);
		json_object_set_new(seals, hex,
				    json_integer((json_int_t)s->seals[i].n));
	}
	al_hex(hex, s->digest, sizeof(s->digest));
	o = json_pack("{s:I, s:I, s:s, s:o, s:n}", "gen", (json_int_t)s->gen,
		      "ring", (json_int_t)s->ring_gen, "digest", hex, "seals",
		      seals, "rotation");
	if (o && s->rotating) {
		json_t *r;
		char to[SEAL_KEY_ID_HEX];
		al_hex(to, s->rot_to, SEAL_KEY_ID_LEN);
		al_hex(hex, s->rot_pos, s->rot_poslen);
		r = json_pack("{s:s, s:I, s:s}", "to", to, "done",
			      (json_int_t)s->rot_done, "pos", hex);
		if (!r || json_object_set_new(o, "rotation", r)) {
			json_decref(o);
			o = NULL;
		}
	}
	return o;
}

static int state_from_json(const json_t *o, struct store_state *s)
{
	const json_t *seals = json_object_get(o, "seals");
	const json_t *rot = json_object_get(o, "rotation");
	const char *idhex, *pos;
	json_t *n;

	memset(s, 0, sizeof(*s));
	if (!json_is_integer(json_object_get(o, "gen")) ||
	    !json_is_integer(json_object_get(o, "ring")) ||
	    !json_is_object(seals) ||
	    json_object_size(seals) > SEAL_RING_MAX ||
	    hex_in(json_string_value(json_object_get(o, "digest")), s->digest,
		   sizeof(s->digest)))
		return AL_E_PARSE;
	s->gen = (uint64_t)json_integer_value(json_object_get(o, "gen"));
	s->ring_gen = (uint64_t)json_integer_value(json_object_get(o, "ring"));
	json_object_foreach((json_t *)seals, idhex, n) {
		if (!json_is_integer(n) ||
		    hex_in(idhex, s->seals[s->nseals].id, SEAL_KEY_ID_LEN))
			return AL_E_PARSE;
		s->seals[s->nseals++].n = (uint64_t)json_integer_value(n);
	}
	if (json_is_null(rot))
		return 0;
	pos = json_string_value(json_object_get(rot, "pos"));
	if (!json_is_integer(json_object_get(rot, "done")) || !pos ||
	    strlen(pos) % 2 || strlen(pos) / 2 > STORE_VKEY_MAX ||
	    hex_in(json_string_value(json_object_get(rot, "to")), s->rot_to,
		   SEAL_KEY_ID_LEN) ||
	    hex_in(pos, s->rot_pos, strlen(pos) / 2))
		return AL_E_PARSE;
	s->rotating = true;
	s->rot_poslen = strlen(pos) / 2;
	s->rot_done = (uint64_t)json_integer_value(json_object_get(rot, "done"));
	return 0;
}

static int state_open(struct store_txn *txn, const MDB_val *v,
		      struct al_buf *plain)
{
	struct seal_header h;
	struct seal_key k;
	uint64_t ver = 0;
	int rc = seal_peek(v->mv_data, v->mv_size, &h);

	if (rc == 0 && h.format != SEAL_VERSION)
		rc = AL_E_PARSE;
	if (rc == 0 && (rc = store_ring_key(txn, h.id, &k)) != 0)
		al_error("store", NULL, "%s: meta state is sealed under a key "
			 "that is not in the key ring: the ring was replaced "
			 "with an older copy", txn->st->dbdir);
	if (rc == 0) {
		rc = seal_open(&k, "meta", STORE_META_STATE,
			       strlen(STORE_META_STATE), v->mv_data,
			       v->mv_size, plain, &ver);
		seal_key_wipe(&k);
	}
	return rc;
}

int store_state_get(struct store_txn *txn)
{
	struct store *st = txn->st;
	MDB_val k = { strlen(STORE_META_STATE), STORE_META_STATE }, v;
	struct al_buf plain = { 0 };
	json_t *o = NULL;
	uint64_t ring_gen;
	int mrc, rc;

	if (txn->state_loaded)
		return 0;
	mrc = mdb_get(txn->txn, st->dbi[STORE_DB_META], &k, &v);
	if (mrc == MDB_NOTFOUND) {
		al_error("store", NULL, "%s: meta state is missing: the store "
			 "was damaged or its meta records replaced", st->dbdir);
		return AL_E_STORE;
	}
	if ((rc = store_err(mrc, "meta/state")))
		return rc;

	rc = state_open(txn, &v, &plain);
	if (rc == 0) {
		o = json_loadb(plain.p, plain.len, JSON_REJECT_DUPLICATES,
			       NULL);
		rc = o ? state_from_json(o, &txn->state) : AL_E_PARSE;
	}
	if (rc) {
		al_error("store", NULL, "%s: meta state does not open or "
			 "parse (%s): altered or damaged", st->dbdir,
			 al_strerror(rc));
		goto out;
	}

	/* The state names the ring it was written with; they go together. */
	pthread_mutex_lock(&st->lock);
	ring_gen = st->ring.gen;
	pthread_mutex_unlock(&st->lock);
	if (ring_gen != txn->state.ring_gen && (rc = store_ring_reload(txn)))
		goto out;
	pthread_mutex_lock(&st->lock);
	ring_gen = st->ring.gen;
	pthread_mutex_unlock(&st->lock);
	if (ring_gen != txn->state.ring_gen) {
		al_error("store", NULL, "%s: the key ring (generation %llu) and "
			 "meta state (written with generation %llu) do not "
			 "belong together: one was replaced with an older "
			 "copy", st->dbdir, (unsigned long long)ring_gen,
			 (unsigned long long)txn->state.ring_gen);
		rc = AL_E_AUTH;
		goto out;
	}
	txn->state_loaded = true;
out:
	if (plain.p)
		explicit_bzero(plain.p, plain.cap);
	al_buf_free(&plain);
	json_decref(o);
	return rc;
}

int store_state_save(struct store_txn *txn)
{
	struct store *st = txn->st;
	struct al_buf sealed = { 0 };
	struct seal_key k;
	MDB_val mk = { strlen(STORE_META_STATE), STORE_META_STATE }, mv;
	char *text = NULL;
	json_t *o;
	uint64_t *count;
	int rc = store_seal_limit(txn);

	memset(&k, 0, sizeof(k));
	if (rc)
		goto out;
	pthread_mutex_lock(&st->lock);
	k = *seal_ring_current(&st->ring);
	txn->state.ring_gen = st->ring.gen;
	pthread_mutex_unlock(&st->lock);
	count = store_state_seals(&txn->state, k.id);
	if (!count) {
		rc = AL_E_LIMIT;
		goto out;
	}
	(*count)++;
	o = state_to_json(&txn->state);
	text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	if (!text) {
		rc = -ENOMEM;
		goto out;
	}
	rc = seal_value(&k, "meta", STORE_META_STATE, strlen(STORE_META_STATE),
			txn->state.gen, text, strlen(text), &sealed);
	if (rc == 0) {
		mv = (MDB_val){ sealed.len, sealed.p };
		rc = store_err(mdb_put(txn->txn, st->dbi[STORE_DB_META], &mk,
				       &mv, 0), "meta/state");
	}
	if (rc == 0)
		txn->state_dirty = false;
out:
	seal_key_wipe(&k);
	if (text) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
	al_buf_free(&sealed);
	return rc;
}
