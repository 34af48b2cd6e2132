/*
 * internal.h - what store.c, state.c, migrate.c and keys.c share. Not
 * for use outside src/store.
 */
#ifndef AL_STORE_INTERNAL_H
#define AL_STORE_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <lmdb.h>

#include "seal/keyring.h"
#include "seal/seal.h"
#include "store/store.h"

/* Length of a key in "versions": database number, then the record key. */
#define STORE_VKEY_MAX (1 + STORE_KEY_MAX)

/* The sealed meta "state" record, in memory (schema/lmdb.md). */
struct store_state {
	uint64_t gen;      /* last record version handed out */
	uint64_t ring_gen; /* the key ring generation it was written with */
	uint8_t digest[32];
	size_t nseals;
	struct {
		uint8_t id[SEAL_KEY_ID_LEN];
		uint64_t n;
	} seals[SEAL_RING_MAX];
	bool rotating;
	uint8_t rot_to[SEAL_KEY_ID_LEN];
	uint64_t rot_done;
	size_t rot_poslen; /* 0: from the first entry of "versions" */
	uint8_t rot_pos[STORE_VKEY_MAX];
};

struct store {
	MDB_env *env;
	MDB_dbi dbi[STORE_DB__COUNT];
	struct seal_key master;
	struct seal_ring ring; /* under lock */
	pthread_mutex_t lock;  /* ring, active, grow_next */
	unsigned active;       /* transactions open in this process */
	bool grow_next;        /* a commit hit a full map */
	struct store_opts opts;
	bool fresh;            /* nothing existed: a new store */
	bool lock_init;
	bool master_created; /* by this open: removed if the open fails */
	int stale_readers;
	char home[PATH_MAX];
	char dbdir[PATH_MAX];
};

struct store_txn {
	struct store *st;
	MDB_txn *txn;
	bool write;
	bool state_loaded;
	bool state_dirty;
	struct store_state state;
	/* The ring before this transaction changed it, restored on abort. */
	struct seal_ring *ring_prev;
	/*
	 * Set up once per transaction, not per value: cipher contexts for
	 * the last two data keys used (seal or open), the keyed hash of
	 * the versions digest, and a scratch buffer for sealed values.
	 */
	struct seal_ctx *sctx[2];
	struct seal_mac *vmac;
	struct al_buf sealbuf;
};

/* store.c */
int store_err(int mrc, const char *what);
/* A printable name of a record for messages: "jobs/<key>", "audit seq N". */
void store_rkey_name(enum store_db db, const void *key, size_t keylen,
		     char *out, size_t outsz);
int store_master_get(struct store *st, bool may_create);
int store_write_schema(struct store_txn *txn, int ver);
int store_ring_reload(struct store_txn *txn);
/* Copy the ring's key with this id into *k; AL_E_AUTH if unknown. */
int store_ring_key(struct store_txn *txn, const uint8_t *id,
		   struct seal_key *k);
int store_ring_write(struct store_txn *txn, const struct seal_ring *r);
/* Seal plain as the next version of (db, key) and write it and its entry. */
int store_seal_put(struct store_txn *txn, enum store_db db, const void *key,
		   size_t keylen, const void *plain, size_t plen,
		   unsigned flags);
/*
 * Open the value v of (db, key) with every check; plaintext into out.
 * walk: the cursor that found v when walking a database in order (its
 * version entry is then found by stepping), or NULL.
 */
int store_unseal_plain(struct store_txn *txn, enum store_db db,
		       const void *key, size_t keylen, const MDB_val *v,
		       struct al_buf *out, struct store_cursor *walk);

/* state.c */
int store_state_get(struct store_txn *txn);
int store_state_save(struct store_txn *txn);
void store_state_init(struct store_txn *txn, uint64_t ring_gen);
uint64_t *store_state_seals(struct store_state *s, const uint8_t *id);
void store_vkey(enum store_db db, const void *key, size_t keylen,
		uint8_t *out, size_t *outlen);
/* XOR the keyed hash (index key ikey) of (vkey, version) into digest. */
int store_digest_flip(struct store_txn *txn, const uint8_t ikey[SEAL_KEY_LEN],
		      const uint8_t *vkey, size_t vlen, uint64_t version,
		      uint8_t digest[32]);
/* The transaction's cipher context for key k (made on first use). */
int store_txn_seal_ctx(struct store_txn *txn, const struct seal_key *k,
		       struct seal_ctx **out);
void store_be64(uint8_t *p, uint64_t v);
uint64_t store_get_be64(const uint8_t *p);

/* migrate.c */
/* Bring the schema in meta to STORE_SCHEMA_VERSION inside txn. */
int store_migrate(struct store_txn *txn, int from);

/* keys.c */
/*
 * Make a new key current and start a rotation, inside txn; restart
 * begins the walk again if one is under way.
 */
int store_rotate_start(struct store_txn *txn, bool restart, char *newid);
/* Retire the current key first if it has made its allowed seals. */
int store_seal_limit(struct store_txn *txn);

#endif
