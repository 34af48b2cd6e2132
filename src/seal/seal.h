/*
 * seal.h - authenticated encryption of stored values (AES-256-GCM).
 *
 * Every value that describes a customer is sealed before it reaches LMDB.
 * A sealed value names its format version, the id of the key that sealed
 * it and the record's version, so a key ring can pick the key and the
 * store can tell the current value of a record from an older one. The
 * associated data binds the value to its slot (database name and record
 * key) and to all header fields, so a value copied into another slot, or
 * relabelled with another key id or version, fails to open (THREATS.md,
 * threat 6).
 *
 * Sealed value, format version 2 (schema/lmdb.md has the full table):
 *
 *   offset  size  field
 *   0       1     format version, 0x02
 *   1       8     key id
 *   9       8     record version, unsigned big-endian
 *   17      12    nonce, random per value
 *   29      n     ciphertext (n = plaintext length)
 *   29+n    16    GCM tag
 *
 * Format version 1 (no record version) is opened by seal_open_v1 only,
 * for migrating stores written before the key ring.
 */
#ifndef AL_SEAL_SEAL_H
#define AL_SEAL_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/util.h"

#define SEAL_VERSION 0x02
#define SEAL_VERSION_V1 0x01
#define SEAL_KEY_LEN 32
#define SEAL_KEY_ID_LEN 8
#define SEAL_KEY_ID_HEX (2 * SEAL_KEY_ID_LEN + 1)
#define SEAL_NONCE_LEN 12
#define SEAL_TAG_LEN 16
#define SEAL_HEADER_LEN (1 + SEAL_KEY_ID_LEN + 8 + SEAL_NONCE_LEN)
#define SEAL_OVERHEAD (SEAL_HEADER_LEN + SEAL_TAG_LEN)
#define SEAL_V1_HEADER_LEN (1 + SEAL_KEY_ID_LEN + SEAL_NONCE_LEN)
#define SEAL_V1_OVERHEAD (SEAL_V1_HEADER_LEN + SEAL_TAG_LEN)
/* Longest database name accepted in the associated data. */
#define SEAL_DB_NAME_MAX 64

/*
 * What a key is for. The kind is part of the id derivation, so a data
 * key and a master key never share an id.
 */
enum seal_key_kind {
	SEAL_KEY_DATA,   /* seals records; lives in the key ring */
	SEAL_KEY_MASTER, /* seals the key ring; lives in a file */
};

/*
 * A key and its id. The id is the first 8 bytes of SHA-256(label ||
 * key), label "airlock data key id v1" or "airlock master key id v1":
 * stable, derivable by anyone holding the key, useless for recovering it.
 */
struct seal_key {
	uint8_t id[SEAL_KEY_ID_LEN];
	uint8_t key[SEAL_KEY_LEN];
};

/* The header fields of a sealed value. */
struct seal_header {
	uint8_t format;
	uint8_t id[SEAL_KEY_ID_LEN];
	uint64_t version; /* 0 in format 1 */
};

/* A fresh key from the kernel's CSPRNG, its id derived. 0 or an error. */
int seal_key_generate(enum seal_key_kind kind, struct seal_key *key);

/* Take 32 bytes of key material and derive the id. */
int seal_key_from_bytes(enum seal_key_kind kind, const uint8_t *bytes,
			struct seal_key *key);

/*
 * Load a 32-byte key file. Refuses, with a logged message naming the
 * path:
 *   a symlink                                        -> AL_E_UNSAFE
 *   not a regular file, another owner, or any group
 *   or other permission bit (0600 and 0400 pass)     -> AL_E_UNSAFE
 *   a size other than 32 bytes                       -> AL_E_PARSE
 * -ENOENT (not logged) if there is no such file; other failures are
 * negative errno values. On error *key is wiped.
 */
int seal_key_load(const char *path, enum seal_key_kind kind,
		  struct seal_key *key);

/*
 * Create the key file at path holding a new key, and return the key.
 * The parent directory must exist. The key is written to a temporary
 * file (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600) that is then hard-linked
 * into place, so nobody sees a half-written key and an existing key is
 * never replaced: AL_E_EXISTS if a file is already there.
 */
int seal_key_create(const char *path, enum seal_key_kind kind,
		    struct seal_key *key);

/* Lower-case hex of the key id into out (SEAL_KEY_ID_HEX bytes). */
void seal_key_id_hex(const struct seal_key *key, char *out);

/* Wipe key material (explicit_bzero); safe to call twice. */
void seal_key_wipe(struct seal_key *key);

/*
 * Seal pt (ptlen bytes, may be 0) as the given version of the record at
 * slot (db, rkey). db is a NUL-terminated name of 1..SEAL_DB_NAME_MAX
 * bytes; rkey may hold any bytes. out is emptied and then holds the
 * sealed value (ptlen + SEAL_OVERHEAD bytes). Returns 0, AL_E_USAGE on a
 * bad name, AL_E_LIMIT on oversized input, AL_E_CRYPTO if OpenSSL fails,
 * or -ENOMEM.
 */
int seal_value(const struct seal_key *key, const char *db, const void *rkey,
	       size_t rkeylen, uint64_t version, const void *pt, size_t ptlen,
	       struct al_buf *out);

/*
 * Open a format-2 value read from slot (db, rkey). out is emptied and
 * then holds the plaintext; the caller wipes it when it held secrets.
 * *version (if not NULL) gets the authenticated record version.
 * Returns 0 or:
 *   AL_E_PARSE  shorter than SEAL_OVERHEAD or not format 2
 *   AL_E_AUTH   sealed under another key id, altered, relabelled, or
 *               moved from another slot (the tag does not verify)
 *   AL_E_CRYPTO OpenSSL failed; -ENOMEM
 * Nothing is left in out on failure.
 */
int seal_open(const struct seal_key *key, const char *db, const void *rkey,
	      size_t rkeylen, const void *sealed, size_t len,
	      struct al_buf *out, uint64_t *version);

/*
 * A context for sealing and opening many values under one key (a write
 * transaction's worth): the cipher is fetched and the AES key schedule
 * computed once, and nonces come from the kernel's CSPRNG in blocks.
 * Every value still gets its own random 96-bit nonce, used once, and
 * the same header and associated data as seal_value, so the results
 * are interchangeable with seal_value/seal_open. A context is used by
 * one thread at a time; a forked child finds the nonce block empty
 * (MADV_WIPEONFORK) and draws its own. seal_ctx_new copies the key and
 * returns 0, AL_E_CRYPTO or -ENOMEM; seal_ctx_free wipes it (NULL is
 * ignored).
 */
struct seal_ctx;
int seal_ctx_new(const struct seal_key *key, struct seal_ctx **out);
void seal_ctx_free(struct seal_ctx *c);
/* The id of the context's key (SEAL_KEY_ID_LEN bytes). */
const uint8_t *seal_ctx_id(const struct seal_ctx *c);
/* seal_value and seal_open with the context's key; same results. */
int seal_ctx_seal(struct seal_ctx *c, const char *db, const void *rkey,
		  size_t rkeylen, uint64_t version, const void *pt,
		  size_t ptlen, struct al_buf *out);
int seal_ctx_open(struct seal_ctx *c, const char *db, const void *rkey,
		  size_t rkeylen, const void *sealed, size_t len,
		  struct al_buf *out, uint64_t *version);

/* The same for a format-1 value (migration of old stores only). */
int seal_open_v1(const struct seal_key *key, const char *db,
		 const void *rkey, size_t rkeylen, const void *sealed,
		 size_t len, struct al_buf *out);

/*
 * The header of a sealed value, unauthenticated: for picking a key from
 * a ring before opening. Returns 0, or AL_E_PARSE if the value is too
 * short for its format or of an unknown format.
 */
int seal_peek(const void *sealed, size_t len, struct seal_header *h);

/*
 * HMAC-SHA256 under one key for many messages: the key's inner and
 * outer pads are hashed once, not per message. Same results as
 * seal_hmac. new: 0, AL_E_CRYPTO or -ENOMEM; free wipes (NULL ignored).
 */
struct seal_mac;
int seal_mac_new(const uint8_t key[SEAL_KEY_LEN], struct seal_mac **out);
void seal_mac_free(struct seal_mac *m);
/* Whether m was made with key (constant time). */
bool seal_mac_has_key(const struct seal_mac *m,
		      const uint8_t key[SEAL_KEY_LEN]);
int seal_mac_run(struct seal_mac *m, const void *data, size_t len,
		 uint8_t mac[32]);

/* HMAC-SHA256 of data into mac (32 bytes). 0 or AL_E_CRYPTO. */
int seal_hmac(const uint8_t key[SEAL_KEY_LEN], const void *data, size_t len,
	      uint8_t mac[32]);

#endif
