/*
 * store.h - the LMDB environment under HOME/db and its sealed records.
 *
 * One environment holds the named databases of DESIGN.md ("State");
 * schema/lmdb.md gives each one's key encoding and value format. Values
 * that describe a customer go through store_put_json/store_get_json,
 * which seal them with the current data key of the key ring, bound to
 * their database name, record key and record version. The key ring is
 * kept in meta, sealed under the master key HOME/keys/master.key
 * (seal/keyring.h). The raw calls exist for values that describe no
 * customer: the queue index, meta scalars, signed checkpoints.
 *
 * Record versions (replay of a single record): every sealed write gives
 * the record a new version, taken from a store-wide counter, written in
 * the value's header and bound into its associated data, and kept in
 * the "versions" database. A read refuses a value whose version is not
 * the one recorded there (AL_E_STALE), so an older value of a record
 * written back in place is caught and named. The versions database is
 * itself summed into a keyed digest in the sealed meta "state" record;
 * store_keys_status (store/keys.h) recomputes it, so rolling back a
 * value together with its version entry shows too. Rolling back the
 * whole file to an older copy is not detectable from inside the file:
 * the audit log's exported, signed checkpoints answer that.
 *
 * Concurrency (what is safe):
 *  - Several processes may open the same home; LMDB's lock file
 *    serialises writers and keeps readers consistent. Do not carry a
 *    struct store across fork(): open it again in the child. A process
 *    that sees another rotate the key ring reloads the ring.
 *  - One struct store may be shared by the threads of a process. The
 *    environment is opened with MDB_NOTLS, so a read transaction is not
 *    tied to the thread that began it, but any one transaction must be
 *    used by one thread at a time.
 *  - A write transaction must be committed or aborted by the thread that
 *    began it. Only one write transaction exists at a time per
 *    environment (across processes too): store_txn_begin(write) blocks
 *    until the current writer finishes. A thread that holds a write
 *    transaction and begins another (directly, or through a helper such
 *    as audit_append_now) deadlocks.
 *  - The map grows by itself when a write transaction begins with little
 *    room left (and no other transaction of this process is open).
 */
#ifndef AL_STORE_STORE_H
#define AL_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/util.h"

/*
 * The on-disk layout version kept in meta under "schema_version". A
 * store of an older version is migrated on open (schema/lmdb.md,
 * "Migrations"); a newer one is refused.
 */
#define STORE_SCHEMA_VERSION 2
/* Map size of a new environment; it grows when nearly full. */
#define STORE_MAP_SIZE ((size_t)1 << 30)
/* Largest plaintext JSON value accepted, and largest record key. */
#define STORE_VALUE_MAX ((size_t)16 << 20)
#define STORE_KEY_MAX 510
/*
 * Seals one data key may make before the store retires it: 2^30, far
 * below the 2^32 invocations NIST SP 800-38D allows a key with random
 * 96-bit nonces. At 2^30 values the chance that two nonces repeat is
 * about 2^-37.
 */
#define STORE_SEAL_LIMIT ((uint64_t)1 << 30)

/*
 * X(enum, name): the named databases. Names and positions are part of
 * the format (a "versions" key starts with the position): add new
 * databases at the end only.
 */
#define STORE_DB_TABLE(X)                                                  \
	X(STORE_DB_META, "meta")                                               \
	X(STORE_DB_JOBS, "jobs")                                               \
	X(STORE_DB_QUEUE, "queue")                                             \
	X(STORE_DB_REPOS, "repos")                                             \
	X(STORE_DB_AUDIT, "audit")                                             \
	X(STORE_DB_CHECKPOINTS, "checkpoints")                                 \
	X(STORE_DB_VERSIONS, "versions")                                       \
	X(STORE_DB_REGCACHE, "registry_cache")                                 \
	X(STORE_DB_HISTORY, "update_history")                                 \
	X(STORE_DB_JOBLOG, "job_log")

enum store_db {
#define STORE_X_ENUM(e, name) e,
	STORE_DB_TABLE(STORE_X_ENUM)
#undef STORE_X_ENUM
	STORE_DB__COUNT
};

/* The database's name ("jobs"); NULL for an out-of-range value. */
const char *store_db_name(enum store_db db);

/* Keys in meta. */
#define STORE_META_SCHEMA "schema_version" /* raw decimal text */
#define STORE_META_KEYRING "keyring" /* the ring, sealed by the master */
#define STORE_META_STATE "state"     /* versions, digest, seal counts */

/* Files under the home directory. */
#define STORE_MASTER_KEY "keys/master.key"
#define STORE_LEGACY_KEY "keys/data.key" /* schema 1, removed by migration */

struct store;
struct store_txn;

struct store_opts {
	bool create;         /* make home, db/, keys/, the store and keys */
	bool resume;         /* finish an interrupted key rotation */
	size_t map_size;     /* initial map; 0 = STORE_MAP_SIZE */
	uint64_t seal_limit; /* 0 = STORE_SEAL_LIMIT; lower for tests */
};

/*
 * Open the store under home as o says. With create, makes what is
 * missing: home and home/db and home/keys (mode 0700), the master key,
 * the key ring, the databases, and the schema version in meta. A store
 * of an older schema is migrated first, once, in one transaction (the
 * schema 1 data key becomes the ring's first key and its file is
 * removed). Stale reader slots of dead processes are cleared.
 *
 * Refuses, logging the path and the reason, and changing nothing:
 *   a symlink in place of db/ or keys/, keys/ writable
 *   by group or others, an unsafe key file             -> AL_E_UNSAFE
 *   a missing master key for an existing store, a
 *   master key that does not open the key ring          -> AL_E_AUTH
 *   a schema version newer than STORE_SCHEMA_VERSION, a
 *   store whose file or meta records vanished           -> AL_E_STORE
 *   (without create) no store                           -> AL_E_NOTFOUND
 */
int store_open_opts(const char *home, const struct store_opts *o,
		    struct store **out);

/* store_open_opts with create and resume. */
int store_open(const char *home, struct store **out);

/*
 * The same, but create nothing (AL_E_NOTFOUND if there is no store) and
 * leave an interrupted rotation for the next writer. For tools that only
 * read (audit verify, keys status). An older schema is still migrated.
 */
int store_open_existing(const char *home, struct store **out);

/* Close and wipe every key. Every transaction must be finished. */
void store_close(struct store *st);

/* The current data key id (hex, SEAL_KEY_ID_HEX bytes with the NUL). */
void store_key_id_hex(struct store *st, char *out);

/* The current map size in bytes. */
size_t store_map_size(struct store *st);

/* Stale reader slots cleared when this store was opened. */
int store_stale_readers(const struct store *st);

/*
 * A record key that names a customer thing without showing it: the
 * HMAC-SHA256, under the ring's index key, of the database name and
 * name, into out (32 bytes). Stable across key rotations. Use it where
 * a record would otherwise be keyed by a URL or a name (repos).
 */
int store_blind_key(struct store *st, enum store_db db, const void *name,
		    size_t namelen, uint8_t out[32]);

/*
 * Begin a transaction, read-only or read-write. Returns 0, AL_E_STORE,
 * or a negative errno. See the concurrency rules above.
 */
int store_txn_begin(struct store *st, bool write, struct store_txn **out);

/*
 * Commit and free txn (also on failure). AL_E_LIMIT if the map is full
 * (the next write transaction grows it).
 */
int store_txn_commit(struct store_txn *txn);

/*
 * The snapshot a read-only transaction sees (LMDB's id of the last
 * commit in it): two read-only transactions with the same number see
 * the same data, however far apart they began.
 */
uint64_t store_txn_snapshot(struct store_txn *txn);

/* Abort and free txn; NULL is ignored. */
void store_txn_abort(struct store_txn *txn);

/* The store a transaction belongs to. */
struct store *store_txn_store(struct store_txn *txn);

/* store_put_json: refuse to replace an existing record (AL_E_EXISTS). */
#define STORE_NOOVERWRITE 0x1u
/*
 * The key sorts after every key in db (the audit log's rising seq):
 * LMDB appends at the end and fills pages instead of splitting them in
 * half. A key that does not sort last is refused (AL_E_EXISTS).
 */
#define STORE_APPEND 0x2u

/*
 * Seal value (compact JSON, keys sorted) as the next version of slot
 * (db, key) and write it. key is 1..STORE_KEY_MAX bytes. When the
 * current data key has made its allowed number of seals, a new key is
 * made current first and a rotation is started. Returns 0, AL_E_EXISTS
 * (with STORE_NOOVERWRITE), AL_E_LIMIT (value or key too big, map full),
 * AL_E_USAGE (a reserved meta key), AL_E_STORE, or a seal error. The
 * value is not consumed.
 */
int store_put_json(struct store_txn *txn, enum store_db db, const void *key,
		   size_t keylen, const json_t *value, unsigned flags);

/*
 * Read and unseal the record at (db, key) into *out (new reference).
 * Returns 0, AL_E_NOTFOUND, AL_E_AUTH (altered, moved or foreign value,
 * or a key id not in the ring), AL_E_STALE (an older version of this
 * record), AL_E_PARSE (unsealed bytes are not JSON), or AL_E_STORE.
 * Every refusal is logged naming the record.
 */
int store_get_json(struct store_txn *txn, enum store_db db, const void *key,
		   size_t keylen, json_t **out);

/*
 * Seal len bytes of JSON text exactly as given (no re-encoding) for slot
 * (db, key). For writers that must know the stored bytes, such as the
 * audit log whose hash covers them; plain must be what store_get_json
 * can parse. Errors as store_put_json.
 */
int store_put_sealed(struct store_txn *txn, enum store_db db, const void *key,
		     size_t keylen, const void *plain, size_t len,
		     unsigned flags);

/*
 * Unsealed values: see the header comment for which databases use them.
 * The reserved meta keys (keyring, state) are refused (AL_E_USAGE).
 */
int store_put_raw(struct store_txn *txn, enum store_db db, const void *key,
		  size_t keylen, const void *val, size_t vallen);
/* Copy the raw value into out (emptied first); AL_E_NOTFOUND if absent. */
int store_get_raw(struct store_txn *txn, enum store_db db, const void *key,
		  size_t keylen, struct al_buf *out);

/* Delete a record and its version entry; AL_E_NOTFOUND if absent. */
int store_del(struct store_txn *txn, enum store_db db, const void *key,
	      size_t keylen);

/*
 * A cursor over one database, in key order (byte-wise). The key and the
 * JSON value handed out stay valid until the next call on the cursor.
 */
struct store_cursor;

int store_cursor_open(struct store_txn *txn, enum store_db db,
		      struct store_cursor **out);
/*
 * Step to the next record (the first, on the first call) and unseal it.
 * Returns 0 with *key, *keylen and *value set; AL_E_NOTFOUND past the
 * last record; or, with *key and *keylen still set and *value NULL,
 * AL_E_AUTH or AL_E_PARSE for a record that fails to unseal or parse (the
 * cursor has moved past it, so the caller may report it and go on).
 * value may be NULL to walk keys only, without unsealing.
 */
int store_cursor_next(struct store_cursor *cur, const void **key,
		      size_t *keylen, json_t **value);
/*
 * The same step, but the unsealed bytes go into plain (emptied first)
 * without being parsed: for verifiers that check the exact bytes. The
 * caller wipes plain when done. AL_E_AUTH leaves plain empty.
 */
int store_cursor_next_plain(struct store_cursor *cur, const void **key,
			    size_t *keylen, struct al_buf *plain);
/*
 * Move so that the next step returns the first record whose key is at
 * or after key (byte order); AL_E_NOTFOUND then if there is none.
 */
int store_cursor_seek(struct store_cursor *cur, const void *key,
		      size_t keylen);
/*
 * Make the forward steps of a read-only walk stop before the first
 * record whose key is at or after key (LMDB's order: bytes, then the
 * shorter key first): they return AL_E_NOTFOUND there, and that record
 * is the next one returned once the bound is moved past it or lifted
 * (keylen 0). A seek keeps the bound. For walkers that split a
 * database into key ranges. AL_E_USAGE in a write transaction or for a
 * key over STORE_KEY_MAX bytes.
 */
int store_cursor_bound(struct store_cursor *cur, const void *key,
		       size_t keylen);
/*
 * The key of the record the next forward step would return, whatever
 * the bound, without stepping or unsealing; valid as a key from
 * store_cursor_next is. AL_E_NOTFOUND past the last record.
 */
int store_cursor_peek(struct store_cursor *cur, const void **key,
		      size_t *keylen);
/*
 * Step backwards, as store_cursor_next does forwards: the last record on
 * the first call, after a seek the last record before the key sought
 * (the last record of db if none is at or after it), then each earlier
 * one. AL_E_NOTFOUND before the first record. Do not mix it with
 * store_cursor_next on one cursor.
 */
int store_cursor_prev(struct store_cursor *cur, const void **key,
		      size_t *keylen, json_t **value);
/* The number of records in db, without reading them. */
int store_count(struct store_txn *txn, enum store_db db, size_t *n);
/* Move so that the next store_cursor_next returns the last record. */
int store_cursor_last(struct store_cursor *cur);
void store_cursor_close(struct store_cursor *cur);

/*
 * Call cb for each record of db in key order with the unsealed value
 * (borrowed, valid during the call). A non-zero return from cb stops the
 * walk and is returned; so is the first unseal or parse failure.
 */
int store_foreach(struct store_txn *txn, enum store_db db,
		  int (*cb)(void *ctx, const void *key, size_t keylen,
			    json_t *value),
		  void *ctx);

#endif
