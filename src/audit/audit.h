/*
 * audit.h - the append-only, hash-chained audit log.
 *
 * An entry is a JSON object with exactly these members (schema/
 * audit-entry.schema.json):
 *   seq      1, 2, 3 ... without gaps
 *   time     UTC, "2026-12-04T16:08:27.123Z"
 *   actor    who: "system", "uid:1000", an SSH key fingerprint, a client
 *   action   dotted verb, "job.create", "proxy.deny"
 *   object   what it acted on
 *   details  an object (integers, strings, booleans, null, arrays,
 *            objects; no floating-point numbers)
 *   prev     hex SHA-256 of the previous entry, 64 zeros for seq 1
 *   hash     hex SHA-256 of the entry's canonical bytes without "hash"
 * Canonical bytes are compact JSON with members sorted by the bytes of
 * their names, exactly as schema/lmdb.md ("Audit entries") spells out, so
 * an offline verifier in any language can recompute them.
 *
 * Entries are sealed in database "audit" under the big-endian u64 seq;
 * the head {"seq", "hash"} is sealed in meta under "audit.head". Every
 * append checks the head against the last entry, so a truncated log is
 * refused rather than extended.
 */
#ifndef AL_AUDIT_AUDIT_H
#define AL_AUDIT_AUDIT_H

#include <pthread.h>
#include <stdint.h>

#include <jansson.h>

#include "base/event.h"
#include "base/util.h"
#include "store/store.h"

#define AUDIT_HASH_HEX_LEN 64
#define AUDIT_META_HEAD "audit.head"
/* Limits on one entry, so a hostile string cannot bloat the log. */
#define AUDIT_ENTRY_MAX (64 * 1024)
#define AUDIT_NAME_MAX 256    /* actor, action */
#define AUDIT_OBJECT_MAX 4096 /* object */
#define AUDIT_DEPTH_MAX 16    /* nesting of details */

/* The record key of seq: 8 bytes, big-endian, so LMDB order is seq order. */
void audit_key(uint64_t seq, uint8_t key[8]);

/*
 * The canonical bytes of entry without its "hash" member into out
 * (emptied first), and their SHA-256 as lower-case hex into hex (65
 * bytes). entry is not modified. Returns 0, AL_E_PARSE if entry is not an
 * object or holds a real number, AL_E_LIMIT past AUDIT_ENTRY_MAX or
 * AUDIT_DEPTH_MAX, AL_E_CRYPTO, or -ENOMEM.
 */
int audit_canonical(const json_t *entry, struct al_buf *out);
int audit_entry_hash(const json_t *entry, char hex[AUDIT_HASH_HEX_LEN + 1]);

/*
 * Append one entry inside the caller's write transaction, so that a
 * state change and its entry commit or vanish together. details is
 * stolen (NULL means {}); it must be an object. On success *seq_out (if
 * not NULL) is the new entry's seq. Returns 0 or:
 *   AL_E_USAGE  empty actor/action/object, details not an object
 *   AL_E_PARSE  a string is not UTF-8, or details holds a real number
 *   AL_E_LIMIT  a field or the entry is over its limit
 *   AL_E_CHAIN  the head in meta does not match the last entry
 *   AL_E_AUTH   the head or last entry fails to unseal
 *   store errors
 * On failure the caller must abort the transaction: if the entry cannot
 * be written, the operation does not happen.
 */
int audit_append(struct store_txn *txn, const char *actor, const char *action,
		 const char *object, json_t *details, uint64_t *seq_out);

/*
 * The same in a write transaction of its own. Must not be called by a
 * thread that already holds a write transaction (it would deadlock).
 */
int audit_append_now(struct store *st, const char *actor, const char *action,
		     const char *object, json_t *details, uint64_t *seq_out);

/*
 * Walk the chain from seq 1 in one read transaction: each record's key
 * must be the next seq, its value must unseal, have exactly the entry's
 * members with the right types, carry its key's seq, link to the
 * previous entry's hash, and hash to its own "hash". Finally the head in
 * meta must name the last entry and its hash.
 *
 * Returns 0 with *count entries, or AL_E_CHAIN with *bad_seq the first
 * sequence number that cannot be trusted and *count the entries before
 * it that checked out: a missing entry (gap or truncation) is reported
 * at its own seq; an entry the head does not cover at head seq + 1; a
 * missing or unreadable head at 1. Other errors (the store cannot be
 * read) are returned as they are. The reason is logged.
 */
int audit_verify(struct store *st, uint64_t *count, uint64_t *bad_seq);

/*
 * Adapter from the event interface (base/event.h) to the log: every
 * event becomes an entry with actor "system", and details.job set to the
 * adapter's job id when one is set. Thread-safe: a mutex serialises
 * emitters (the sandbox's proxy thread emits while the job thread runs),
 * and each event is appended in its own write transaction. A thread
 * must not emit while it holds a write transaction of its own.
 */
struct audit_sink {
	struct store *st;
	char job[128];
	pthread_mutex_t lock;
};

/* job may be NULL. Returns 0 or a negative errno from the mutex. */
int audit_sink_init(struct audit_sink *s, struct store *st, const char *job);
/* Change the job id stamped on later events; NULL clears it. */
void audit_sink_set_job(struct audit_sink *s, const char *job);
void audit_sink_destroy(struct audit_sink *s);
/* An event sink whose ctx is s; valid while s is. */
struct al_event_sink audit_event_sink(struct audit_sink *s);

#endif
