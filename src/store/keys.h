/*
 * keys.h - key rotation and the key ring's status, on an open store.
 *
 * Rotation makes a fresh data key current at once (new values are sealed
 * under it from the next write on) and then re-seals the values still
 * under older keys in bounded batches, one write transaction each. The
 * batch's position is kept in the sealed meta "state" record and
 * committed with the batch, so a crash loses at most the batch in hand,
 * and the next store_open (or store_keys_rotate_run) carries on from
 * there. Old keys stay in the ring and keep opening old values, also
 * while a rotation is under way. Without a daemon, the command line
 * drives the batches to completion (store_keys_rotate_run); airlockd
 * runs them one at a time between its other work (store_keys_rotate_step)
 * so that other writers wait at most one batch.
 */
#ifndef AL_STORE_KEYS_H
#define AL_STORE_KEYS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "seal/keyring.h"
#include "store/store.h"

/* Values re-sealed per transaction when nobody says otherwise. */
#define STORE_ROTATE_BATCH 256

struct store_key_info {
	char id[SEAL_KEY_ID_HEX];
	bool current;
	uint64_t created_ms;
	uint64_t seals;  /* values this key has sealed, ever */
	uint64_t values; /* stored values sealed under it now */
};

struct store_keys_status {
	size_t n;
	struct store_key_info keys[SEAL_RING_MAX];
	uint64_t seal_limit;
	uint64_t records; /* sealed values (entries in "versions") */
	bool rotating;
	char rotating_to[SEAL_KEY_ID_HEX];
	uint64_t rotate_done;
	/* Filled by store_keys_status (walked), not store_keys_progress. */
	bool checked;
	uint64_t left; /* values under keys other than the current one */
	/* Version check: 0 when consistent, else what is wrong. */
	int problems;
	char problem[256]; /* the first problem, naming the record */
};

/*
 * Fill *s in one read transaction: the ring's keys, seal counts, how
 * many values each key seals now, the rotation's progress, and the
 * version check (every version entry has its value with that version,
 * none beyond the counter, and the keyed digest over the entries equals
 * the one in meta). Returns 0 (also when problems are found), or a store
 * error.
 */
int store_keys_status(struct store *st, struct store_keys_status *s);

/*
 * The cheap part of store_keys_status, without walking the records: the
 * keys and their seal counts, the rotation's progress, and records (the
 * count of sealed values). keys[].values, left and the version check
 * stay zero, checked false.
 */
int store_keys_progress(struct store *st, struct store_keys_status *s);

/*
 * *s as one JSON object (new reference, NULL without memory): keys
 * [{id, current, created_ms, seals, values}], seal_limit, records,
 * rotating, rotating_to (while rotating), rotate_done, checked, and
 * when checked: left, ok, problems and problem.
 */
json_t *store_keys_status_json(const struct store_keys_status *s);

/*
 * Start a rotation: add a fresh key to the ring, make it current, and
 * record that values under older keys are to be re-sealed. If a rotation
 * is already under way, it is restarted from the first record towards
 * the new key. newid (may be NULL) gets the new key's id. Returns 0,
 * AL_E_LIMIT (ring full), or a store error.
 */
int store_keys_rotate_begin(struct store *st, char *newid);

/*
 * The same inside the caller's write transaction (so that an audit
 * entry can commit with it), except that a rotation already under way
 * is left as it is: *running is then true, newid gets the key it
 * rotates to, and nothing changes. On an error the caller aborts txn,
 * which also puts the ring back as it was.
 */
int store_keys_rotate_begin_txn(struct store_txn *txn, bool *running,
				char *newid);

/*
 * Progress callback: after each committed batch, done of total values
 * visited. Returning non-zero stops the run (it resumes later).
 */
typedef int (*store_rotate_cb)(void *ctx, uint64_t done, uint64_t total);

/*
 * Re-seal, batch values per transaction, until no value is under an
 * older key; a no-op when no rotation is under way. A value that fails
 * to open is left as it is and logged (naming it) and counted in
 * *failed (may be NULL). Returns 0, the callback's non-zero value, or a
 * store error (the committed batches stay done).
 */
int store_keys_rotate_run(struct store *st, unsigned batch,
			  store_rotate_cb cb, void *ctx, uint64_t *failed);

/* What one store_keys_rotate_step did. */
struct store_rotate_step {
	uint64_t visited;  /* values this step looked at */
	uint64_t done;     /* values visited since the rotation began */
	uint64_t total;    /* sealed values in the store */
	uint64_t failed;   /* values that did not open, left as they were */
	bool finished;     /* no rotation is under way (any more) */
};

/*
 * One batch of store_keys_rotate_run: at most batch values re-sealed in
 * one write transaction, and the position saved with them. *p is set
 * (finished, with everything else zero, when no rotation is under way).
 * Returns 0 or a store error (nothing of this batch is then written).
 */
int store_keys_rotate_step(struct store *st, unsigned batch,
			   struct store_rotate_step *p);

/* Whether a rotation is under way (a read transaction). */
int store_keys_rotating(struct store *st, bool *rotating);

#endif
