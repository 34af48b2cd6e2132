/*
 * keyring.h - the data key ring and its wrapping by the master key.
 *
 * The ring holds every data key the store has used, each with its id,
 * creation time and state; exactly one is current and seals new values,
 * the others only open the values still sealed under them. It also holds
 * the index key, a separate secret the store uses for its version
 * digest. The ring is kept in the store (meta "keyring"), sealed under
 * the master key, whose file the daemon alone can read; without the
 * master key no data key can be recovered from the store or a copy of it.
 *
 * Ring plaintext (inside the master seal; schema/lmdb.md):
 *   "ALKR" | format 0x01 | gen u64 | index key [32] | count u8 |
 *   count x { id [8] | key [32] | created_ms u64 | state u8 }
 * Integers are big-endian.
 */
#ifndef AL_SEAL_KEYRING_H
#define AL_SEAL_KEYRING_H

#include <stddef.h>
#include <stdint.h>

#include "seal/seal.h"

/* Keys a ring can hold; rotation refuses beyond this (AL_E_LIMIT). */
#define SEAL_RING_MAX 64

enum seal_ring_state {
	SEAL_RING_CURRENT = 1, /* seals new values */
	SEAL_RING_OLD = 2,     /* opens values not yet re-sealed */
};

struct seal_ring_key {
	struct seal_key k;
	uint64_t created_ms;
	uint8_t state;
};

struct seal_ring {
	uint64_t gen; /* bumped by every change; bound into the seal */
	uint8_t index_key[SEAL_KEY_LEN];
	size_t n;
	size_t current; /* index into keys */
	struct seal_ring_key keys[SEAL_RING_MAX];
};

/*
 * A new ring (gen 1) with a fresh index key and first as its current
 * key; first NULL makes a fresh data key. 0 or an error; wiped on error.
 */
int seal_ring_init(struct seal_ring *r, const struct seal_key *first,
		   uint64_t now_ms);

/*
 * Add a fresh data key and make it current; the previous current key
 * becomes old. gen increases. AL_E_LIMIT when the ring is full.
 */
int seal_ring_add(struct seal_ring *r, uint64_t now_ms);

/* The current key. */
const struct seal_key *seal_ring_current(const struct seal_ring *r);

/* The key with this id, or NULL. */
const struct seal_ring_key *seal_ring_find(const struct seal_ring *r,
					   const uint8_t id[SEAL_KEY_ID_LEN]);

/*
 * Seal the ring under master into out (slot meta/"keyring", record
 * version = gen). 0 or a seal error.
 */
int seal_ring_wrap(const struct seal_ring *r, const struct seal_key *master,
		   struct al_buf *out);

/*
 * Open a wrapped ring. Returns 0, AL_E_AUTH if master is not the key it
 * was sealed with or the value was altered (*wrong_master is set when
 * the ids differ, to tell "wrong master key" from "altered"), AL_E_PARSE
 * if the plaintext is malformed (an id that does not match its key, not
 * exactly one current key). r is wiped on failure.
 */
int seal_ring_unwrap(const struct seal_key *master, const void *sealed,
		     size_t len, struct seal_ring *r, int *wrong_master);

/* Wipe every key in r. */
void seal_ring_wipe(struct seal_ring *r);

#endif
