/*
 * internal.h - what the audit module's files share and nothing else
 * uses: the strict line checker behind every verifier, and the log
 * handle's layout.
 */
#ifndef AL_AUDIT_INTERNAL_H
#define AL_AUDIT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "audit/audit.h"
#include "audit/checkpoint.h"

#define AUDIT_ZERO_HASH                                                    \
	"0000000000000000000000000000000000000000000000000000000000000000"


/*
 * One entry as stored or exported, checked: the bytes must be exactly
 * the canonical JSON of an entry with its hash (schema/lmdb.md), with
 * the eight members in their canonical order. On success the fields
 * are filled and hash_ok tells whether "hash" is the SHA-256 of the
 * bytes without the hash member. Returns NULL, or the reason the bytes
 * are not a well-formed entry. Allocates nothing: hostile input costs
 * one pass and cannot exhaust memory or stack.
 */
struct audit_line {
	uint64_t seq;
	const char *prev;   /* 64 hex, not terminated */
	const char *hash;   /* 64 hex, not terminated */
	bool hash_ok;
};
/*
 * Hashing entries: audit_hasher_hex needs no state (line.c says why it
 * does without EVP); md is SHA-256 fetched once for the callers that
 * hash streams with EVP (OpenSSL 3 looks the algorithm up again on
 * every EVP_sha256() init otherwise).
 */
struct audit_hasher {
	EVP_MD *md;
};
int audit_hasher_init(struct audit_hasher *h);
void audit_hasher_free(struct audit_hasher *h);
/* SHA-256 of the concatenation of two spans, as lower-case hex. */
int audit_hasher_hex(struct audit_hasher *h, const void *a, size_t alen,
		     const void *b, size_t blen,
		     char hex[AUDIT_HASH_HEX_LEN + 1]);
const char *audit_line_check(const char *p, size_t len, struct audit_line *e,
			     struct audit_hasher *h);

struct audit_log {
	struct store *st;
	struct audit_signer *signer;
	struct audit_policy pol;
	struct audit_hasher hasher;   /* used under the write transaction */
	char home[4096];
	/* A checkpoint was written since the anchor file was last brought
	 * up to date; the anchor is read back from the store after commit,
	 * so an aborted transaction can never put it ahead of the store. */
	atomic_bool cp_dirty;
};

/*
 * The head (seq, hash) after checking that it names the last entry:
 * seq 0 and the zero hash for an empty log; AL_E_CHAIN if they disagree.
 */
int audit_head(struct store_txn *txn, uint64_t *seq,
	       char hash[AUDIT_HASH_HEX_LEN + 1]);

/* Append s as a canonical JSON string; AL_E_PARSE if it is not UTF-8. */
int audit_json_string(struct al_buf *b, const char *s);
/* The same for len bytes that may hold NUL (written as \u0000). */
int audit_json_stringn(struct al_buf *b, const char *s, size_t len);
/*
 * Append v's canonical JSON (schema/lmdb.md: compact, members sorted by
 * the bytes of their names), checking on the way what has no canonical
 * spelling: AL_E_PARSE for a real number, a NUL in a member name or a
 * string value, or a string that is not UTF-8, AL_E_LIMIT nested deeper than
 * AUDIT_DEPTH_MAX counting from depth. Gives the bytes jansson's
 * JSON_COMPACT | JSON_SORT_KEYS gives for every value it accepts.
 */
int audit_json_value(struct al_buf *b, const json_t *v, int depth);

/*
 * A checkpoint held outside the store (anchor file, last export, or the
 * auditor's): the store must have reached it. Returns 0, or
 * AL_E_ROLLBACK with the reason in why: the store has no checkpoint n,
 * or another one, or its entry at the checkpoint's seq is missing or
 * differs.
 */
int audit_check_held(struct store_txn *txn, const struct audit_cp *held,
		     const char *label, char *why, size_t whysz);

/* The record key's seq, or 0 if it is not 8 bytes. */
uint64_t audit_key_seq(const void *key, size_t keylen);

/* Reason text for a problem found while walking entries in order. */
struct audit_walk {
	struct audit_hasher h;
	uint64_t next;                        /* seq expected next */
	bool linked;                          /* prev is known */
	char prev[AUDIT_HASH_HEX_LEN + 1];    /* hash of seq next-1 */
};
/*
 * Check one entry's bytes found at seq (0 if unknown) against the walk
 * and advance it; file and line say where, for the report. Returns true
 * when the entry passed every check.
 */
bool audit_walk_step(struct audit_walk *w, struct audit_report *r,
		     const char *file, uint64_t line, uint64_t keyseq,
		     const char *p, size_t len, struct audit_line *e);
/*
 * The same for an entry already checked by audit_line_check (why, e),
 * perhaps on another thread: the part of the step that depends on the
 * entries before it.
 */
bool audit_walk_apply(struct audit_walk *w, struct audit_report *r,
		      const char *file, uint64_t line, uint64_t keyseq,
		      const char *why, const struct audit_line *e);

/*
 * Refuse what has no single canonical spelling: real numbers and member
 * names with a NUL; depth capped at AUDIT_DEPTH_MAX from depth.
 */
int audit_check_json(const json_t *v, int depth);

/*
 * Verifying on two cores (par.c). The store's verifier checks the
 * checkpoints' signatures half on each thread, then opens, checks and
 * hashes the entries of alternate key blocks on each, through two read
 * transactions on one snapshot, and applies them in order on the first
 * (verify.c); the exports' verifier hashes each file for its digest in
 * a second thread while the first checks its lines. Both give the same
 * report as on one thread, and fall back to one thread when a second
 * cannot be started. audit_par_mode, audit_thread_start and
 * audit_txn_begin are there for tests, which force either path, make
 * the start fail or commit between two begins; nothing else sets them.
 */
enum audit_par {
	AUDIT_PAR_AUTO, /* two threads when this process may use 2 CPUs */
	AUDIT_PAR_OFF,  /* always one thread */
	AUDIT_PAR_ON,   /* two threads even on one CPU */
};
extern enum audit_par audit_par_mode;
extern int (*audit_thread_start)(pthread_t *th, void *(*fn)(void *),
				 void *arg);
/* How the store's verifier begins its read transactions. */
extern int (*audit_txn_begin)(struct store *st, bool write,
			      struct store_txn **out);
/* Whether a verifier should try a second thread now. */
bool audit_par_wanted(void);
/* Start fn(arg) through audit_thread_start; 0 or a negative errno. */
int audit_par_start(pthread_t *th, void *(*fn)(void *), void *arg);

/* Write the pending anchor, if any (after a commit). */
void audit_log_sync_anchor(struct audit_log *log);

/*
 * Read HOME/airlock.conf (path gets its name) and hand each KEY = VALUE
 * whose key starts with prefix to set, in order; the first refusal
 * stops it with "PATH:LINE: unknown key|bad value for 'KEY'[: WHY]" in
 * err and AL_E_PARSE. No file is no setting: 0.
 */
typedef int (*audit_conf_set_fn)(void *ctx, const char *key,
				 const char *value, unsigned lineno,
				 char *why, size_t whysz);
int audit_conf_scan(const char *home, const char *prefix,
		    audit_conf_set_fn set, void *ctx, char *path,
		    size_t pathsz, char *err, size_t errsz);

/* Parse "YYYY-MM-DDTHH:MM:SS.mmmZ" into ms since the epoch; -1 if bad. */
int64_t audit_parse_time(const char *s);

#endif
