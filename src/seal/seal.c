/*
 * seal.c - AES-256-GCM sealing of stored values and the data key file.
 *
 * Nonces are 96 random bits per value. With one key the chance of a
 * repeated nonce stays negligible well past a billion values; key
 * rotation (a later key ring) keeps any one key far below that.
 */
#include "seal/seal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"

#define SEAL_ID_LABEL "airlock data key id v1"
#define SEAL_AAD_MAX (1 + SEAL_KEY_ID_LEN + 1 + SEAL_DB_NAME_MAX)

static int seal_derive_id(struct seal_key *key)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	int rc = AL_E_CRYPTO;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, SEAL_ID_LABEL, strlen(SEAL_ID_LABEL)) != 1 ||
	    EVP_DigestUpdate(ctx, key->key, SEAL_KEY_LEN) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		goto out;
	memcpy(key->id, md, SEAL_KEY_ID_LEN);
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	explicit_bzero(md, sizeof(md));
	return rc;
}

void seal_key_id_hex(const struct seal_key *key, char *out)
{
	al_hex(out, key->id, SEAL_KEY_ID_LEN);
}

void seal_key_wipe(struct seal_key *key)
{
	if (key)
		explicit_bzero(key, sizeof(*key));
}

/*
 * Read an existing key file. O_NOFOLLOW refuses a symlink planted in
 * place of the key (it would let whoever controls the target choose or
 * read our key); O_NONBLOCK keeps a FIFO from hanging the open. The
 * checks run on the opened descriptor, not the path, so the file cannot
 * be swapped between check and read.
 */
static int seal_key_load(const char *path, struct seal_key *key)
{
	struct stat st;
	ssize_t n;
	int rc;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
				    O_NOCTTY);

	if (fd < 0) {
		rc = -errno;
		if (rc == -ELOOP) {
			al_error("seal", NULL, "%s: key file is a symlink, "
				 "refusing it", path);
			rc = AL_E_UNSAFE;
		}
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}

	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		al_error("seal", NULL, "%s: key file must be a regular file "
			 "owned by uid %u", path, (unsigned)geteuid());
		rc = AL_E_UNSAFE;
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		al_error("seal", NULL, "%s: key file has mode %04o, group or "
			 "others may access it; expected 0600", path,
			 (unsigned)(st.st_mode & 07777));
		rc = AL_E_UNSAFE;
		goto out;
	}
	if (st.st_size != SEAL_KEY_LEN) {
		al_error("seal", NULL, "%s: key file is %lld bytes, expected "
			 "%d", path, (long long)st.st_size, SEAL_KEY_LEN);
		rc = AL_E_PARSE;
		goto out;
	}

	do {
		n = pread(fd, key->key, SEAL_KEY_LEN, 0);
	} while (n < 0 && errno == EINTR);
	if (n != SEAL_KEY_LEN) {
		rc = n < 0 ? -errno : AL_E_PARSE;
		al_error("seal", NULL, "%s: short read of key file", path);
		goto out;
	}
	rc = seal_derive_id(key);
out:
	close(fd);
	return rc;
}

static void seal_fsync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;

	if (n == 0 || n >= sizeof(dir))
		return;
	memcpy(dir, path, n);
	dir[n] = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/*
 * Write a fresh key. The temporary name is random and opened with
 * O_EXCL|O_NOFOLLOW so nothing pre-planted can receive the key; link(2)
 * then publishes it without ever replacing an existing key (EEXIST if
 * another process won the race, in which case we load theirs).
 * Returns 0, 1 if another key appeared first, or a negative error.
 */
static int seal_key_create(const char *path, struct seal_key *key)
{
	char tmp[PATH_MAX];
	uint8_t rnd[8];
	char rhex[2 * sizeof(rnd) + 1];
	int fd = -1;
	int rc = al_random(rnd, sizeof(rnd));

	if (rc)
		return rc;
	al_hex(rhex, rnd, sizeof(rnd));
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-%s", path, rhex) >=
	    sizeof(tmp))
		return -ENAMETOOLONG;

	rc = al_random(key->key, SEAL_KEY_LEN);
	if (rc)
		goto out;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		rc = -errno;
		al_error("seal", NULL, "%s: cannot create key file: %s", tmp,
			 strerror(errno));
		goto out;
	}

	/* The umask may only remove bits, but be explicit about 0600. */
	if (fchmod(fd, 0600) < 0) {
		rc = -errno;
		goto out;
	}
	rc = al_write_all(fd, key->key, SEAL_KEY_LEN);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (rc)
		goto out;

	if (link(tmp, path) < 0) {
		rc = errno == EEXIST ? 1 : -errno;
		goto out;
	}
	seal_fsync_parent(path);
	rc = seal_derive_id(key);
	if (rc == 0)
		al_info("seal", NULL, "created data key %s", path);
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	return rc;
}

int seal_key_load_or_create(const char *path, struct seal_key *key)
{
	int rc;

	memset(key, 0, sizeof(*key));
	rc = seal_key_load(path, key);
	if (rc == -ENOENT) {
		rc = seal_key_create(path, key);
		if (rc == 1)
			rc = seal_key_load(path, key);
	}
	if (rc)
		seal_key_wipe(key);
	if (rc && rc != AL_E_UNSAFE && rc != AL_E_PARSE)
		al_error("seal", NULL, "%s: cannot load data key: %s", path,
			 al_strerror(rc));
	return rc;
}

/* version || key id || len(db) || db || rkey, fed to GCM as AAD. */
static int seal_aad(EVP_CIPHER_CTX *ctx, bool enc, const uint8_t *hdr,
		    const char *db, const void *rkey, size_t rkeylen)
{
	uint8_t aad[SEAL_AAD_MAX];
	size_t dblen = strlen(db);
	int outl;
	int (*update)(EVP_CIPHER_CTX *, unsigned char *, int *,
		      const unsigned char *, int) =
		enc ? EVP_EncryptUpdate : EVP_DecryptUpdate;

	memcpy(aad, hdr, 1 + SEAL_KEY_ID_LEN);
	aad[1 + SEAL_KEY_ID_LEN] = (uint8_t)dblen;
	memcpy(aad + 2 + SEAL_KEY_ID_LEN, db, dblen);
	if (update(ctx, NULL, &outl, aad, (int)(2 + SEAL_KEY_ID_LEN + dblen))
	    != 1)
		return AL_E_CRYPTO;
	if (rkeylen && update(ctx, NULL, &outl, rkey, (int)rkeylen) != 1)
		return AL_E_CRYPTO;
	return 0;
}

static int seal_check_args(const char *db, size_t rkeylen, size_t len)
{
	size_t dblen = db ? strlen(db) : 0;

	if (dblen == 0 || dblen > SEAL_DB_NAME_MAX)
		return AL_E_USAGE;
	if (rkeylen > INT_MAX || len > INT_MAX - SEAL_OVERHEAD)
		return AL_E_LIMIT;
	return 0;
}

/* Grow out to exactly len bytes of scratch space. */
static int seal_buf_size(struct al_buf *out, size_t len)
{
	out->len = 0;
	while (out->len < len) {
		static const uint8_t zero[256];
		size_t n = len - out->len < sizeof(zero) ? len - out->len
							 : sizeof(zero);
		int rc = al_buf_append(out, zero, n);
		if (rc)
			return rc;
	}
	return 0;
}

int seal_value(const struct seal_key *key, const char *db, const void *rkey,
	       size_t rkeylen, const void *pt, size_t ptlen,
	       struct al_buf *out)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t *p;
	int outl;
	int rc = seal_check_args(db, rkeylen, ptlen);

	if (rc)
		goto out;
	rc = seal_buf_size(out, ptlen + SEAL_OVERHEAD);
	if (rc)
		goto out;
	p = (uint8_t *)out->p;
	p[0] = SEAL_VERSION;
	memcpy(p + 1, key->id, SEAL_KEY_ID_LEN);
	rc = al_random(p + 1 + SEAL_KEY_ID_LEN, SEAL_NONCE_LEN);
	if (rc)
		goto out;

	rc = AL_E_CRYPTO;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx ||
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE_LEN,
				NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key->key,
			       p + 1 + SEAL_KEY_ID_LEN) != 1)
		goto out;
	rc = seal_aad(ctx, true, p, db, rkey, rkeylen);
	if (rc)
		goto out;

	rc = AL_E_CRYPTO;
	if (ptlen && EVP_EncryptUpdate(ctx, p + SEAL_HEADER_LEN, &outl, pt,
				       (int)ptlen) != 1)
		goto out;
	if (EVP_EncryptFinal_ex(ctx, p + SEAL_HEADER_LEN + ptlen, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_LEN,
				p + SEAL_HEADER_LEN + ptlen) != 1)
		goto out;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	if (rc && out->p) {
		explicit_bzero(out->p, out->cap);
		out->len = 0;
	}
	return rc;
}

int seal_peek_key_id(const void *sealed, size_t len,
		     uint8_t id[SEAL_KEY_ID_LEN])
{
	const uint8_t *p = sealed;

	if (len < SEAL_OVERHEAD || p[0] != SEAL_VERSION)
		return AL_E_PARSE;
	memcpy(id, p + 1, SEAL_KEY_ID_LEN);
	return 0;
}

int seal_open(const struct seal_key *key, const char *db, const void *rkey,
	      size_t rkeylen, const void *sealed, size_t len,
	      struct al_buf *out)
{
	const uint8_t *p = sealed;
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t id[SEAL_KEY_ID_LEN];
	uint8_t tag[SEAL_TAG_LEN];
	size_t ctlen;
	int outl;
	int rc = seal_peek_key_id(sealed, len, id);

	if (rc == 0)
		rc = seal_check_args(db, rkeylen, len);
	if (rc)
		goto out;
	ctlen = len - SEAL_OVERHEAD;
	if (memcmp(id, key->id, SEAL_KEY_ID_LEN) != 0) {
		rc = AL_E_AUTH;
		goto out;
	}
	rc = seal_buf_size(out, ctlen);
	if (rc)
		goto out;

	rc = AL_E_CRYPTO;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx ||
	    EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE_LEN,
				NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key->key,
			       p + 1 + SEAL_KEY_ID_LEN) != 1)
		goto out;
	rc = seal_aad(ctx, false, p, db, rkey, rkeylen);
	if (rc)
		goto out;

	rc = AL_E_CRYPTO;
	if (ctlen && EVP_DecryptUpdate(ctx, (uint8_t *)out->p, &outl,
				       p + SEAL_HEADER_LEN, (int)ctlen) != 1)
		goto out;
	memcpy(tag, p + SEAL_HEADER_LEN + ctlen, SEAL_TAG_LEN);
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_LEN,
				tag) != 1)
		goto out;
	/* Only a verified tag releases the plaintext. */
	rc = EVP_DecryptFinal_ex(ctx, (uint8_t *)out->p + ctlen, &outl) == 1
		     ? 0
		     : AL_E_AUTH;
out:
	EVP_CIPHER_CTX_free(ctx);
	if (rc && out->p) {
		explicit_bzero(out->p, out->cap);
		out->len = 0;
		out->p[0] = '\0';
	}
	return rc;
}
