/*
 * checkpoint.h - the audit signing key and signed checkpoints.
 *
 * A checkpoint pins the head of the log: checkpoint number n, the seq
 * and hash of the last entry, the time, and the hash of checkpoint n-1,
 * signed with Ed25519 (schema/checkpoint.schema.json):
 *
 *   {"head":"<64 hex>","key":"<16 hex>","n":7,"prev":"<64 hex>",
 *    "seq":1234,"sig":"<128 hex>","time":"2026-...Z",
 *    "type":"airlock.audit.checkpoint","v":1}
 *
 * The signed message is the canonical JSON (schema/lmdb.md, "Canonical
 * bytes") of the object without "sig"; the checkpoint's hash is the
 * SHA-256 of that same message. "type" keeps a checkpoint's signature
 * from being passed off as an export digest's and the other way round.
 * Checkpoints are stored raw (they describe no customer) in database
 * "checkpoints" under n as 8 bytes big-endian.
 *
 * The signing key is HOME/keys/audit-sign.key: the 32-byte Ed25519 seed,
 * mode 0600, owned by the writer. Its public half, as a PEM
 * SubjectPublicKeyInfo (`airlock audit pubkey`), is all an auditor needs.
 * The key id is the first 8 bytes of SHA-256 over the 32-byte raw public
 * key, in hex.
 */
#ifndef AL_AUDIT_CHECKPOINT_H
#define AL_AUDIT_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "audit/audit.h"

#define AUDIT_KEY_FILE "keys/audit-sign.key"
#define AUDIT_ANCHOR_FILE "audit-anchor.json"
#define AUDIT_KEY_ID_HEX 16
#define AUDIT_SIG_HEX 128
#define AUDIT_CP_TYPE "airlock.audit.checkpoint"

/* A private signing key (opaque; wiped on free). */
struct audit_signer;
/* A public key for verification (opaque). */
struct audit_pubkey;

/*
 * Load HOME/keys/audit-sign.key, creating it when create is set and it
 * does not exist (temporary file, O_EXCL, link into place: never half
 * written, never replacing a key). Refuses a symlink, another owner,
 * any group or other permission bit (AL_E_UNSAFE) and another size
 * (AL_E_PARSE); AL_E_NOTFOUND when absent and create is false.
 */
int audit_signer_load(const char *home, bool create,
		      struct audit_signer **out);
void audit_signer_free(struct audit_signer *s);
/* The key id, 17 bytes with the NUL. */
const char *audit_signer_key_id(const struct audit_signer *s);
/* The public half (new object; free with audit_pubkey_free). */
int audit_signer_pubkey(const struct audit_signer *s,
			struct audit_pubkey **out);
/* Ed25519 over msg into hex (AUDIT_SIG_HEX + 1 bytes). */
int audit_sign(const struct audit_signer *s, const void *msg, size_t len,
	       char hex[AUDIT_SIG_HEX + 1]);

/* Read a PEM public key; AL_E_PARSE unless it is an Ed25519 key. */
int audit_pubkey_load(const char *path, struct audit_pubkey **out);
/* The PEM text of a public key into out (emptied first). */
int audit_pubkey_pem(const struct audit_pubkey *k, struct al_buf *out);
const char *audit_pubkey_key_id(const struct audit_pubkey *k);
void audit_pubkey_free(struct audit_pubkey *k);
/* 0 if sig_hex is k's signature of msg, else AL_E_AUTH. */
int audit_pubkey_verify(const struct audit_pubkey *k, const void *msg,
			size_t len, const char *sig_hex);

/*
 * Canonical bytes of obj without its "sig" member and their SHA-256 in
 * hex (either out may be NULL). The same rules as entries: no reals,
 * bounded depth. For checkpoints and export digests.
 */
int audit_signed_body(const json_t *obj, struct al_buf *body,
		      char hash[AUDIT_HASH_HEX_LEN + 1]);

/* A parsed, shape-checked checkpoint. */
struct audit_cp {
	uint64_t n;
	uint64_t seq;
	int64_t time_ms;
	char head[AUDIT_HASH_HEX_LEN + 1];
	char prev[AUDIT_HASH_HEX_LEN + 1];
	char hash[AUDIT_HASH_HEX_LEN + 1]; /* of the signed body */
	char key[AUDIT_KEY_ID_HEX + 1];
	char time[32];
};

/*
 * Check a checkpoint object's shape and, if k is not NULL, its signature
 * with k (a key id other than k's is reported as such). Fills *cp.
 * Returns 0, or AL_E_PARSE / AL_E_AUTH with the reason in why (static
 * text or written into whybuf).
 */
int audit_cp_check(const json_t *obj, const struct audit_pubkey *k,
		   struct audit_cp *cp, char *why, size_t whysz);

/*
 * Sign checkpoint n+1 over the head (seq, head hash) linking to prev_cp
 * (NULL for the first), and write it into txn. *out (if not NULL) gets
 * the new checkpoint object (new reference).
 */
int audit_cp_write(struct store_txn *txn, const struct audit_signer *s,
		   const struct audit_cp *prev_cp, uint64_t seq,
		   const char *head, json_t **out);

/*
 * The last checkpoint in txn: 0 with *cp (and *obj if not NULL, a new
 * reference), AL_E_NOTFOUND when there is none, AL_E_PARSE if the stored
 * value is not a checkpoint. The signature is not checked here.
 */
int audit_cp_last(struct store_txn *txn, struct audit_cp *cp, json_t **obj);
/* Checkpoint n; same returns. */
int audit_cp_get(struct store_txn *txn, uint64_t n, struct audit_cp *cp,
		 json_t **obj);

/*
 * The policy: is a checkpoint due for a log whose head is head_seq at
 * now_ms, given the last checkpoint (NULL when there is none: always
 * due, so even an empty log is pinned with a time)?
 */
bool audit_cp_due(const struct audit_policy *p, const struct audit_cp *last,
		  uint64_t head_seq, int64_t now_ms);

/*
 * Parse the audit keys of airlock.conf: "audit_checkpoint_entries" (0 to
 * 10^9; 0 = never by count) and "audit_checkpoint_minutes" (0 to 10080;
 * 0 = never by time). AL_E_NOTFOUND for another key, -ERANGE/-EINVAL for
 * a bad value.
 */
int audit_policy_set(struct audit_policy *p, const char *key,
		     const char *value);
/* Defaults, then the audit_* keys of HOME/airlock.conf; err on failure. */
int audit_policy_load(const char *home, struct audit_policy *p, char *err,
		      size_t errsz);

/*
 * Take a checkpoint now (force) or if the policy says it is due, in a
 * write transaction of its own, and bring the anchor file up to date.
 * *taken tells which.
 */
int audit_checkpoint(struct audit_log *log, bool force, bool *taken,
		     json_t **out);

/*
 * The anchor file HOME/audit-anchor.json: a copy of the newest
 * checkpoint that has left the store, written atomically after the
 * transaction holding it committed, so it is never ahead of a store that
 * was not rolled back. Read returns AL_E_NOTFOUND when absent.
 */
int audit_anchor_read(const char *home, json_t **out);
int audit_anchor_write(const char *home, const json_t *cp);

#endif
