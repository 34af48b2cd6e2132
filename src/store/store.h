/*
 * store.h - the LMDB environment under HOME/db and its sealed records.
 *
 * One environment holds the named databases of DESIGN.md ("State");
 * schema/lmdb.md gives each one's key encoding and value format. Values
 * that describe a customer go through store_put_json/store_get_json,
 * which seal them with the data key (HOME/keys/data.key) bound to their
 * database name and record key. The raw calls exist for values that
 * describe no customer: the queue index, meta scalars, signed
 * checkpoints.
 *
 * Concurrency (what is safe):
 *  - Several processes may open the same home; LMDB's lock file
 *    serialises writers and keeps readers consistent. Do not carry a
 *    struct store across fork(): open it again in the child.
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
 */
#ifndef AL_STORE_STORE_H
#define AL_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/util.h"

/* The on-disk layout version kept in meta under "schema_version". */
#define STORE_SCHEMA_VERSION 1
/* Map size of a new environment; LMDB can grow it later. */
#define STORE_MAP_SIZE ((size_t)1 << 30)
/* Largest plaintext JSON value accepted, and largest record key. */
#define STORE_VALUE_MAX ((size_t)16 << 20)
#define STORE_KEY_MAX 511

/* X(enum, name): the named databases; names are part of the format. */
#define STORE_DB_TABLE(X)                                                  \
	X(STORE_DB_META, "meta")                                               \
	X(STORE_DB_JOBS, "jobs")                                               \
	X(STORE_DB_QUEUE, "queue")                                             \
	X(STORE_DB_REPOS, "repos")                                             \
	X(STORE_DB_AUDIT, "audit")                                             \
	X(STORE_DB_CHECKPOINTS, "checkpoints")                                 \
	X(STORE_DB_REGCACHE, "registry_cache")

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
#define STORE_META_KEY_ID "data_key_id"    /* raw hex of the key id */

struct store;
struct store_txn;

/*
 * Open the store under home, creating what is missing: home and
 * home/db and home/keys (mode 0700), the data key, the databases, and
 * the schema version and key id in meta. Refuses a symlink in place of
 * db/ or keys/ (AL_E_UNSAFE), a schema version it does not know
 * (AL_E_STORE), and a data key whose id differs from the one the store
 * was created with (AL_E_AUTH). Every failure is logged naming the path.
 */
int store_open(const char *home, struct store **out);

/*
 * The same, but create nothing: AL_E_NOTFOUND if home/db/data.mdb or the
 * data key does not exist. For tools that only read (audit verify).
 */
int store_open_existing(const char *home, struct store **out);

/* Close and wipe the data key. Every transaction must be finished. */
void store_close(struct store *st);

/* The data key id of an open store (hex, 17 bytes with the NUL). */
void store_key_id_hex(const struct store *st, char *out);

/*
 * Begin a transaction, read-only or read-write. Returns 0, AL_E_STORE,
 * or a negative errno. See the concurrency rules above.
 */
int store_txn_begin(struct store *st, bool write, struct store_txn **out);

/* Commit and free txn (also on failure). AL_E_LIMIT if the map is full. */
int store_txn_commit(struct store_txn *txn);

/* Abort and free txn; NULL is ignored. */
void store_txn_abort(struct store_txn *txn);

/* The store a transaction belongs to. */
struct store *store_txn_store(struct store_txn *txn);

/* store_put_json: refuse to replace an existing record (AL_E_EXISTS). */
#define STORE_NOOVERWRITE 0x1u

/*
 * Seal value (compact JSON, keys sorted) for slot (db, key) and write
 * it. key is 1..STORE_KEY_MAX bytes. Returns 0, AL_E_EXISTS (with
 * STORE_NOOVERWRITE), AL_E_LIMIT (value or key too big, map full),
 * AL_E_STORE, or a seal error. The value is not consumed.
 */
int store_put_json(struct store_txn *txn, enum store_db db, const void *key,
		   size_t keylen, const json_t *value, unsigned flags);

/*
 * Read and unseal the record at (db, key) into *out (new reference).
 * Returns 0, AL_E_NOTFOUND, AL_E_AUTH (altered, moved or foreign value),
 * AL_E_PARSE (unsealed bytes are not JSON), or AL_E_STORE.
 */
int store_get_json(struct store_txn *txn, enum store_db db, const void *key,
		   size_t keylen, json_t **out);

/* Unsealed values: see the header comment for which databases use them. */
int store_put_raw(struct store_txn *txn, enum store_db db, const void *key,
		  size_t keylen, const void *val, size_t vallen);
/* Copy the raw value into out (emptied first); AL_E_NOTFOUND if absent. */
int store_get_raw(struct store_txn *txn, enum store_db db, const void *key,
		  size_t keylen, struct al_buf *out);

/* Delete a record; AL_E_NOTFOUND if absent. */
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
