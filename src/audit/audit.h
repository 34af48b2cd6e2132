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
 * refused rather than extended. Signed checkpoints (audit/checkpoint.h)
 * pin the head; exports (audit/export.h) carry entries and checkpoints
 * off the appliance. docs/audit.md is the auditor's page.
 */
#ifndef AL_AUDIT_AUDIT_H
#define AL_AUDIT_AUDIT_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "base/event.h"
#include "base/util.h"
#include "store/store.h"

#define AUDIT_HASH_HEX_LEN 64
#define AUDIT_META_HEAD "audit.head"
struct audit_pubkey;

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

struct audit_log;

/*
 * Checkpoint policy (airlock.conf): a checkpoint is due when every_n
 * entries were appended since the last one, or every_ms passed since it
 * was signed, whichever comes first; 0 turns that trigger off. There is
 * always a checkpoint at every export and on `airlock audit checkpoint`.
 */
struct audit_policy {
	uint64_t every_n;
	int64_t every_ms;
};
#define AUDIT_DEFAULT_EVERY_N 1000
#define AUDIT_DEFAULT_EVERY_MIN 60

/*
 * Open the log of store st kept under home for appending: load the
 * signing key HOME/keys/audit-sign.key (created on first use, 0600),
 * then check the store against the state kept outside it -- the anchor
 * file HOME/audit-anchor.json and the last digest in HOME/export -- and
 * take a checkpoint if one is due. pol NULL means the defaults.
 *
 * Returns 0, or:
 *   AL_E_ROLLBACK  the store is behind (or diverged from) a checkpoint
 *                  already written outside it: it was rolled back or
 *                  truncated, and appending would hide that
 *   AL_E_AUTH      the signing key is missing while checkpoints exist,
 *                  or it is another key than the checkpoints name
 *   AL_E_UNSAFE    the key file is a symlink, foreign or readable by
 *                  others
 *   AL_E_CHAIN     the head does not match the last entry
 *   store, seal and OpenSSL errors
 * Every refusal is logged with the paths and numbers involved.
 */
int audit_log_open(struct store *st, const char *home,
		   const struct audit_policy *pol, struct audit_log **out);
/* Bring the anchor file up to date, then free. NULL is ignored. */
void audit_log_close(struct audit_log *log);
struct store *audit_log_store(struct audit_log *log);

/*
 * Append one entry inside the caller's write transaction, so that a
 * state change and its entry commit or vanish together; if a checkpoint
 * is due it is written in the same transaction. details is stolen (NULL
 * means {}); it must be an object. On success *seq_out (if not NULL) is
 * the new entry's seq. Returns 0 or:
 *   AL_E_USAGE  empty actor/action/object, details not an object
 *   AL_E_PARSE  a string is not UTF-8 or holds a NUL, or details holds a
 *               real number
 *   AL_E_LIMIT  a field or the entry is over its limit
 *   AL_E_CHAIN  the head in meta does not match the last entry
 *   AL_E_AUTH   the head or last entry fails to unseal
 *   store errors
 * On failure the caller must abort the transaction: if the entry cannot
 * be written, the operation does not happen. Commit with audit_commit so
 * that a checkpoint taken here also reaches the anchor file.
 */
int audit_append(struct audit_log *log, struct store_txn *txn,
		 const char *actor, const char *action, const char *object,
		 json_t *details, uint64_t *seq_out);

/* Commit txn and, if it wrote a checkpoint, update the anchor file. */
int audit_commit(struct audit_log *log, struct store_txn *txn);

/*
 * The same in a write transaction of its own. Must not be called by a
 * thread that already holds a write transaction (it would deadlock).
 */
int audit_append_now(struct audit_log *log, const char *actor,
		     const char *action, const char *object, json_t *details,
		     uint64_t *seq_out);

/*
 * Group commit: append n entries in one write transaction, so one
 * durable commit (one fsync of LMDB's data and meta pages) carries them
 * all. Details are stolen from every record, also on failure. All or
 * none are written. *first_seq (if not NULL) is the first new seq.
 */
struct audit_rec {
	const char *actor;
	const char *action;
	const char *object;
	json_t *details;
};
int audit_append_batch(struct audit_log *log, struct audit_rec *recs,
		       size_t n, uint64_t *first_seq);

/*
 * Where an entry or a checkpoint went wrong: which sequence number (0
 * when it cannot be known), which export file and line (empty and 0 for
 * the store), and why. A report keeps the first AUDIT_PROBLEMS_MAX
 * problems and counts all of them.
 */
#define AUDIT_PROBLEMS_MAX 200
struct audit_problem {
	uint64_t seq;
	uint64_t line;
	char file[64];
	char what[256];
};
struct audit_report {
	uint64_t entries;   /* records examined */
	uint64_t intact;    /* of them, those that passed every check */
	uint64_t last_seq;  /* the last entry that checked out, 0 if none */
	uint64_t checkpoints;
	uint64_t exports;
	uint64_t nproblems; /* all problems, also those not kept */
	size_t nkept;
	struct audit_problem *problems;
};
void audit_report_add(struct audit_report *r, const char *file,
		      uint64_t line, uint64_t seq, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void audit_report_free(struct audit_report *r);
/* {"ok","entries","intact","last_seq",...,"problems":[...]}; new ref. */
json_t *audit_report_json(const struct audit_report *r);
/* One line per problem ("00000003.jsonl:17 seq 1234: why"), then a sum. */
void audit_report_print(FILE *f, const struct audit_report *r);

/*
 * What verification checks the store against, besides itself.
 *   pubkey      the auditor's Ed25519 public key; NULL means the public
 *               half of HOME/keys/audit-sign.key (weaker: whoever can
 *               replace that file can re-sign)
 *   checkpoint  a checkpoint (or export digest) the auditor kept from
 *               earlier; NULL for none
 *   home        where the anchor file and HOME/export are looked up;
 *               NULL skips those checks
 */
struct audit_verify_opts {
	const char *home;
	struct audit_pubkey *pubkey;
	const json_t *checkpoint;
};

/*
 * Verify the whole store: every entry (seal, canonical form, member set,
 * seq against its key, link to the previous hash, own hash), the head,
 * every checkpoint (signature, numbering, link, and that the entry it
 * pins still has the hash it signed: a re-chained suffix is caught
 * here), the anchor file, the last export, and the auditor's checkpoint
 * (truncation and rollback). It walks on past a bad entry, so entries
 * after it are still checked and counted. Returns 0 with nothing found,
 * AL_E_CHAIN with problems in r, or an error that stopped the walk.
 */
int audit_verify_store(struct store *st, const struct audit_verify_opts *o,
		       struct audit_report *r);

/*
 * A cheap look at the log for views that refresh often: *out (new
 * reference) is {"ok", "head": {"seq","hash"}, "checkpoint": the last
 * one {"n","seq","time","time_ms","key"} or null, "checked": {"from",
 * "to","entries","linked"}, "export": the last {"n","time","count",
 * "first","last"} or null, "nproblems", "problems": [...]}. It checks
 * the head, the last checkpoint's signature and the entry it pins, the
 * entries after it (linked to it; at most max_check of them, the newest,
 * unlinked at their start when there are more; 0: all), and the newest
 * export digest's signature. ok is false with problems listed as in
 * audit_report_json. Not a verification of the whole log
 * (audit_verify_store): what lies before the checkpoint is not read.
 */
int audit_head_report(struct audit_log *log, uint64_t max_check,
		      json_t **out);

/*
 * The entry chain alone, without checkpoints or outside state: 0 with
 * *count entries, or AL_E_CHAIN with *bad_seq the first sequence number
 * that cannot be trusted (see audit_verify_store for the checks).
 */
int audit_verify(struct store *st, uint64_t *count, uint64_t *bad_seq);

/*
 * Adapter from the event interface (base/event.h) to the log: every
 * event becomes an entry with actor "system" (or the actor given), and
 * details.job set to the adapter's job id when one is set.
 *
 * It is also the group committer for concurrent emitters: an emitter
 * queues its entry; the first one to find no commit in progress becomes
 * the leader, takes everything queued, writes it in one transaction with
 * one durable commit, and wakes the others with their result. Each emit
 * returns only once its entry is durable (or failed), so fail-closed
 * holds per event while threads share the fsync. A thread must not emit
 * while it holds a write transaction of its own.
 */
struct audit_sink_item;
struct audit_sink {
	struct audit_log *log;
	char job[128];
	char actor[64];
	pthread_mutex_t lock;
	pthread_cond_t done;
	bool committing;
	uint64_t batches;           /* commits made, for the benchmark */
	struct audit_sink_item *head, *tail;
};

/* job may be NULL; actor NULL means "system". 0 or a negative errno. */
int audit_sink_init(struct audit_sink *s, struct audit_log *log,
		    const char *actor, const char *job);
/* Change the job id stamped on later events; NULL clears it. */
void audit_sink_set_job(struct audit_sink *s, const char *job);
void audit_sink_destroy(struct audit_sink *s);
/* An event sink whose ctx is s; valid while s is. */
struct al_event_sink audit_event_sink(struct audit_sink *s);

#endif
