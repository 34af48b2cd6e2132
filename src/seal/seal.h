/*
 * seal.h - authenticated encryption of stored values (AES-256-GCM).
 *
 * Every value that describes a customer is sealed before it reaches LMDB.
 * A sealed value names its format version and the id of the key that
 * sealed it, so key rings and rotation can be added without rewriting old
 * values. The associated data binds the value to its slot (database name
 * and record key) as well as to the version and key id, so a value copied
 * into another slot, or relabelled, fails to open (THREATS.md, threat 6).
 *
 * Sealed value, format version 1 (schema/lmdb.md has the full table):
 *
 *   offset  size  field
 *   0       1     version, 0x01
 *   1       8     key id
 *   9       12    nonce, random per value
 *   21      n     ciphertext (n = plaintext length)
 *   21+n    16    GCM tag
 */
#ifndef AL_SEAL_SEAL_H
#define AL_SEAL_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "base/util.h"

#define SEAL_VERSION 0x01
#define SEAL_KEY_LEN 32
#define SEAL_KEY_ID_LEN 8
#define SEAL_NONCE_LEN 12
#define SEAL_TAG_LEN 16
#define SEAL_HEADER_LEN (1 + SEAL_KEY_ID_LEN + SEAL_NONCE_LEN)
#define SEAL_OVERHEAD (SEAL_HEADER_LEN + SEAL_TAG_LEN)
/* Longest database name accepted in the associated data. */
#define SEAL_DB_NAME_MAX 64

/*
 * A data key and its id. The id is the first 8 bytes of
 * SHA-256("airlock data key id v1" || key): stable, derivable by anyone
 * holding the key, and useless for recovering it.
 */
struct seal_key {
	uint8_t id[SEAL_KEY_ID_LEN];
	uint8_t key[SEAL_KEY_LEN];
};

/*
 * Load the 32-byte data key at path, creating it first if it does not
 * exist. The parent directory must already exist (store_open makes it
 * 0700). A new key comes from the kernel's CSPRNG and is written to a
 * temporary file (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600) that is then
 * hard-linked into place, so a concurrent opener sees either no key or a
 * complete one, never a half-written file.
 *
 * Loading refuses, with a logged message naming the path:
 *   a symlink                            -> AL_E_UNSAFE
 *   not a regular file, another owner,
 *   or any group/other permission bit    -> AL_E_UNSAFE
 *   a size other than 32 bytes           -> AL_E_PARSE
 * other failures are negative errno values. On error *key is wiped.
 */
int seal_key_load_or_create(const char *path, struct seal_key *key);

/* Lower-case hex of the key id into out (2*SEAL_KEY_ID_LEN+1 bytes). */
void seal_key_id_hex(const struct seal_key *key, char *out);

/* Wipe key material (explicit_bzero); safe to call twice. */
void seal_key_wipe(struct seal_key *key);

/*
 * Seal pt (ptlen bytes, may be 0) for the slot (db, rkey). db is a
 * NUL-terminated name of 1..SEAL_DB_NAME_MAX bytes; rkey may hold any
 * bytes. out is emptied and then holds the sealed value
 * (ptlen + SEAL_OVERHEAD bytes). Returns 0, AL_E_USAGE on a bad name,
 * AL_E_CRYPTO if OpenSSL fails, or -ENOMEM.
 */
int seal_value(const struct seal_key *key, const char *db, const void *rkey,
	       size_t rkeylen, const void *pt, size_t ptlen,
	       struct al_buf *out);

/*
 * Open a sealed value read from slot (db, rkey). out is emptied and then
 * holds the plaintext; the caller wipes it when it held secrets.
 * Returns 0 or:
 *   AL_E_PARSE  shorter than SEAL_OVERHEAD or an unknown format version
 *   AL_E_AUTH   sealed under another key id, altered, or moved from
 *               another slot (the tag does not verify)
 *   AL_E_CRYPTO OpenSSL failed; -ENOMEM
 * Nothing is left in out on failure.
 */
int seal_open(const struct seal_key *key, const char *db, const void *rkey,
	      size_t rkeylen, const void *sealed, size_t len,
	      struct al_buf *out);

/*
 * The key id a sealed value names, for picking a key from a ring before
 * opening. Returns 0, or AL_E_PARSE if the value is too short or of an
 * unknown version.
 */
int seal_peek_key_id(const void *sealed, size_t len,
		     uint8_t id[SEAL_KEY_ID_LEN]);

#endif
