/*
 * seal.c - AES-256-GCM sealing of stored values, and key files.
 *
 * Nonces are 96 random bits per value. NIST SP 800-38D (section 8.3)
 * caps a key at 2^32 invocations with random 96-bit nonces; the store
 * retires a data key far below that (store.h, STORE_SEAL_LIMIT).
 */
#include "seal/seal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"

static const char *const seal_id_labels[] = {
	[SEAL_KEY_DATA] = "airlock data key id v1",
	[SEAL_KEY_MASTER] = "airlock master key id v1",
};

/* The associated data's fixed part: header without nonce, len(db), db. */
#define SEAL_AAD_MAX (1 + SEAL_KEY_ID_LEN + 8 + 1 + SEAL_DB_NAME_MAX)
/* Record keys up to this long go into the same buffer. */
#define SEAL_AAD_RKEY 512

static int seal_derive_id(enum seal_key_kind kind, struct seal_key *key)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	const char *label = seal_id_labels[kind];
	int rc = AL_E_CRYPTO;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, label, strlen(label)) != 1 ||
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

int seal_key_from_bytes(enum seal_key_kind kind, const uint8_t *bytes,
			struct seal_key *key)
{
	memcpy(key->key, bytes, SEAL_KEY_LEN);
	int rc = seal_derive_id(kind, key);
	if (rc)
		seal_key_wipe(key);
	return rc;
}

int seal_key_generate(enum seal_key_kind kind, struct seal_key *key)
{
	int rc = al_random(key->key, SEAL_KEY_LEN);

	if (rc == 0)
		rc = seal_derive_id(kind, key);
	if (rc)
		seal_key_wipe(key);
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
int seal_key_load(const char *path, enum seal_key_kind kind,
		  struct seal_key *key)
{
	struct stat st;
	ssize_t n;
	int rc;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
				    O_NOCTTY);

	memset(key, 0, sizeof(*key));
	if (fd < 0) {
		rc = -errno;
		if (rc == -ELOOP) {
			al_error("seal", NULL, "%s: key file is a symlink, "
				 "refusing it", path);
			rc = AL_E_UNSAFE;
		} else if (rc != -ENOENT) {
			al_error("seal", NULL, "%s: cannot open key file: %s",
				 path, strerror(-rc));
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
			 "others may access it; expected 0600 or 0400", path,
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
	rc = seal_derive_id(kind, key);
out:
	close(fd);
	if (rc)
		seal_key_wipe(key);
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
 * The temporary name is random and opened with O_EXCL|O_NOFOLLOW so
 * nothing pre-planted can receive the key; link(2) then publishes it
 * without ever replacing an existing key.
 */
int seal_key_create(const char *path, enum seal_key_kind kind,
		    struct seal_key *key)
{
	char tmp[PATH_MAX];
	uint8_t rnd[8];
	char rhex[2 * sizeof(rnd) + 1];
	int fd = -1;
	int rc = al_random(rnd, sizeof(rnd));

	memset(key, 0, sizeof(*key));
	if (rc)
		return rc;
	al_hex(rhex, rnd, sizeof(rnd));
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-%s", path, rhex) >=
	    sizeof(tmp))
		return -ENAMETOOLONG;

	rc = seal_key_generate(kind, key);
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
		rc = errno == EEXIST ? AL_E_EXISTS : -errno;
		if (rc != AL_E_EXISTS)
			al_error("seal", NULL, "%s: cannot create key file: %s",
				 path, strerror(errno));
		goto out;
	}
	seal_fsync_parent(path);
	al_info("seal", NULL, "created key file %s", path);
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	if (rc)
		seal_key_wipe(key);
	return rc;
}

static void seal_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t seal_get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static size_t seal_header_len(uint8_t format)
{
	return format == SEAL_VERSION ? SEAL_HEADER_LEN : SEAL_V1_HEADER_LEN;
}

/*
 * header without its nonce || len(db) || db || rkey, fed to GCM as AAD:
 * every header field and the slot are authenticated. One update for the
 * whole of it when the record key fits the buffer (every store key
 * does): each EVP call costs about as much as hashing 64 bytes.
 */
static int seal_aad(EVP_CIPHER_CTX *ctx, bool enc, const uint8_t *hdr,
		    const char *db, const void *rkey, size_t rkeylen)
{
	uint8_t aad[SEAL_AAD_MAX + SEAL_AAD_RKEY];
	size_t dblen = strlen(db);
	size_t fixed = seal_header_len(hdr[0]) - SEAL_NONCE_LEN;
	size_t n = fixed + 1 + dblen;
	int outl;
	int (*update)(EVP_CIPHER_CTX *, unsigned char *, int *,
		      const unsigned char *, int) =
		enc ? EVP_EncryptUpdate : EVP_DecryptUpdate;

	memcpy(aad, hdr, fixed);
	aad[fixed] = (uint8_t)dblen;
	memcpy(aad + fixed + 1, db, dblen);
	if (rkeylen <= SEAL_AAD_RKEY) {
		memcpy(aad + n, rkey, rkeylen);
		n += rkeylen;
		rkeylen = 0;
	}
	if (update(ctx, NULL, &outl, aad, (int)n) != 1)
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

static void seal_buf_wipe(struct al_buf *out)
{
	if (out->p) {
		explicit_bzero(out->p, out->cap);
		out->len = 0;
	}
}

/*
 * Nonces drawn from the kernel's CSPRNG in blocks, so that sealing many
 * values costs one getrandom(2) per block instead of one per value. Each
 * 12-byte slice is handed out once and the position only moves forward.
 * The page is marked MADV_WIPEONFORK: a child forked while a pool is
 * live finds it empty and draws its own, so parent and child can never
 * seal with the same nonce under the same key.
 */
#define SEAL_POOL_PAGE 4096
struct seal_pool {
	uint32_t pos;
	uint32_t len;
	uint8_t bytes[SEAL_POOL_PAGE - 2 * sizeof(uint32_t)];
};

struct seal_ctx {
	struct seal_key key;
	EVP_CIPHER *aes;        /* fetched once */
	EVP_CIPHER_CTX *enc;    /* key schedule done once */
	EVP_CIPHER_CTX *dec;    /* keyed on the first open */
	struct seal_pool *pool; /* NULL: one getrandom per nonce */
	bool pool_tried;        /* made on the first seal, not for opens */
};

static struct seal_pool *seal_pool_new(void)
{
	void *p = mmap(NULL, SEAL_POOL_PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* Without wipe-on-fork a pool is not safe: draw per value. */
	if (madvise(p, SEAL_POOL_PAGE, MADV_WIPEONFORK) != 0) {
		munmap(p, SEAL_POOL_PAGE);
		return NULL;
	}
	return p;
}

static int seal_nonce(struct seal_ctx *c, uint8_t nonce[SEAL_NONCE_LEN])
{
	struct seal_pool *pl;
	size_t usable;
	int rc;

	if (c && !c->pool_tried) {
		c->pool = seal_pool_new();
		c->pool_tried = true;
	}
	pl = c ? c->pool : NULL;
	if (!pl)
		return al_random(nonce, SEAL_NONCE_LEN);
	if (pl->len - pl->pos < SEAL_NONCE_LEN) {
		usable = sizeof(pl->bytes) / SEAL_NONCE_LEN * SEAL_NONCE_LEN;
		pl->pos = pl->len = 0;
		rc = al_random(pl->bytes, usable);
		if (rc)
			return rc;
		pl->len = (uint32_t)usable;
	}
	memcpy(nonce, pl->bytes + pl->pos, SEAL_NONCE_LEN);
	/* Spent bytes are cleared so nothing can hand them out again. */
	memset(pl->bytes + pl->pos, 0, SEAL_NONCE_LEN);
	pl->pos += SEAL_NONCE_LEN;
	return 0;
}

int seal_ctx_new(const struct seal_key *key, struct seal_ctx **out)
{
	struct seal_ctx *c = calloc(1, sizeof(*c));
	int rc = AL_E_CRYPTO;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->key = *key;
	c->aes = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	c->enc = EVP_CIPHER_CTX_new();
	if (!c->aes || !c->enc ||
	    EVP_EncryptInit_ex(c->enc, c->aes, NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c->enc, EVP_CTRL_GCM_SET_IVLEN,
				SEAL_NONCE_LEN, NULL) != 1 ||
	    EVP_EncryptInit_ex(c->enc, NULL, NULL, c->key.key, NULL) != 1)
		goto out;
	rc = 0;
out:
	if (rc)
		seal_ctx_free(c);
	else
		*out = c;
	return rc;
}

void seal_ctx_free(struct seal_ctx *c)
{
	if (!c)
		return;
	EVP_CIPHER_CTX_free(c->enc);
	EVP_CIPHER_CTX_free(c->dec);
	EVP_CIPHER_free(c->aes);
	if (c->pool)
		munmap(c->pool, SEAL_POOL_PAGE);
	seal_key_wipe(&c->key);
	free(c);
}

const uint8_t *seal_ctx_id(const struct seal_ctx *c)
{
	return c->key.id;
}

/*
 * Seal with a cipher context that already holds the key (c) or a fresh
 * one (key): only the nonce is new per value.
 */
static int seal_enc(struct seal_ctx *c, const struct seal_key *key,
		    const char *db, const void *rkey, size_t rkeylen,
		    uint64_t version, const void *pt, size_t ptlen,
		    struct al_buf *out)
{
	EVP_CIPHER_CTX *ctx = c ? c->enc : NULL;
	uint8_t *p, *nonce;
	int outl;
	int rc = seal_check_args(db, rkeylen, ptlen);

	out->len = 0;
	if (rc == 0)
		rc = al_buf_reserve(out, ptlen + SEAL_OVERHEAD);
	if (rc)
		goto out;
	if (c)
		key = &c->key;
	p = (uint8_t *)out->p;
	p[0] = SEAL_VERSION;
	memcpy(p + 1, key->id, SEAL_KEY_ID_LEN);
	seal_be64(p + 1 + SEAL_KEY_ID_LEN, version);
	nonce = p + SEAL_HEADER_LEN - SEAL_NONCE_LEN;
	rc = seal_nonce(c, nonce);
	if (rc)
		goto out;

	rc = AL_E_CRYPTO;
	if (!c) {
		ctx = EVP_CIPHER_CTX_new();
		if (!ctx ||
		    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL,
				       NULL) != 1 ||
		    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN,
					SEAL_NONCE_LEN, NULL) != 1 ||
		    EVP_EncryptInit_ex(ctx, NULL, NULL, key->key, nonce) != 1)
			goto out;
	} else if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, nonce) != 1) {
		goto out;
	}
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
	out->len = ptlen + SEAL_OVERHEAD;
	out->p[out->len] = '\0';
	rc = 0;
out:
	if (!c)
		EVP_CIPHER_CTX_free(ctx);
	if (rc)
		seal_buf_wipe(out);
	return rc;
}

int seal_value(const struct seal_key *key, const char *db, const void *rkey,
	       size_t rkeylen, uint64_t version, const void *pt, size_t ptlen,
	       struct al_buf *out)
{
	return seal_enc(NULL, key, db, rkey, rkeylen, version, pt, ptlen, out);
}

int seal_ctx_seal(struct seal_ctx *c, const char *db, const void *rkey,
		  size_t rkeylen, uint64_t version, const void *pt,
		  size_t ptlen, struct al_buf *out)
{
	return seal_enc(c, NULL, db, rkey, rkeylen, version, pt, ptlen, out);
}

int seal_peek(const void *sealed, size_t len, struct seal_header *h)
{
	const uint8_t *p = sealed;

	memset(h, 0, sizeof(*h));
	if (len < 1 || (p[0] != SEAL_VERSION && p[0] != SEAL_VERSION_V1) ||
	    len < seal_header_len(p[0]) + SEAL_TAG_LEN)
		return AL_E_PARSE;
	h->format = p[0];
	memcpy(h->id, p + 1, SEAL_KEY_ID_LEN);
	if (p[0] == SEAL_VERSION)
		h->version = seal_get_be64(p + 1 + SEAL_KEY_ID_LEN);
	return 0;
}

/*
 * A decryption context for key with the nonce and the expected tag set:
 * c's (keyed once), or a fresh one. The tag goes in with the nonce, in
 * one call: OpenSSL 3 turns each control call into a parameter lookup.
 * Nothing is released before the final call has checked it.
 */
static EVP_CIPHER_CTX *seal_dec_ctx(struct seal_ctx *c,
				    const struct seal_key *key,
				    const uint8_t *nonce, uint8_t *tag)
{
	EVP_CIPHER_CTX *ctx = c ? c->dec : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
						  tag, SEAL_TAG_LEN),
		OSSL_PARAM_construct_end(),
	};

	if (ctx)
		return EVP_DecryptInit_ex2(ctx, NULL, NULL, nonce, params) == 1
			       ? ctx : NULL;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx ||
	    EVP_DecryptInit_ex(ctx, c ? c->aes : EVP_aes_256_gcm(), NULL,
			       NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE_LEN,
				NULL) != 1 ||
	    EVP_DecryptInit_ex2(ctx, NULL, key->key, nonce, params) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		return NULL;
	}
	if (c)
		c->dec = ctx;
	return ctx;
}

/* Open a value of the given format; the header was checked by peek. */
static int seal_open_fmt(struct seal_ctx *c, const struct seal_key *key,
			 uint8_t format, const char *db, const void *rkey,
			 size_t rkeylen, const void *sealed, size_t len,
			 struct al_buf *out, uint64_t *version)
{
	const uint8_t *p = sealed;
	EVP_CIPHER_CTX *ctx = NULL;
	struct seal_header h;
	uint8_t tag[SEAL_TAG_LEN];
	size_t hlen = seal_header_len(format), ctlen;
	int outl;
	int rc = seal_peek(sealed, len, &h);

	if (c)
		key = &c->key;
	out->len = 0;
	if (rc == 0 && h.format != format)
		rc = AL_E_PARSE;
	if (rc == 0)
		rc = seal_check_args(db, rkeylen, len);
	if (rc)
		goto out;
	ctlen = len - hlen - SEAL_TAG_LEN;
	if (memcmp(h.id, key->id, SEAL_KEY_ID_LEN) != 0) {
		rc = AL_E_AUTH;
		goto out;
	}
	rc = al_buf_reserve(out, ctlen + 1);
	if (rc)
		goto out;

	rc = AL_E_CRYPTO;
	memcpy(tag, p + hlen + ctlen, SEAL_TAG_LEN);
	ctx = seal_dec_ctx(c, key, p + hlen - SEAL_NONCE_LEN, tag);
	if (!ctx)
		goto out;
	rc = seal_aad(ctx, false, p, db, rkey, rkeylen);
	if (rc)
		goto out;

	rc = AL_E_CRYPTO;
	if (ctlen && EVP_DecryptUpdate(ctx, (uint8_t *)out->p, &outl,
				       p + hlen, (int)ctlen) != 1)
		goto out;
	/* Only a verified tag releases the plaintext. */
	rc = EVP_DecryptFinal_ex(ctx, (uint8_t *)out->p + ctlen, &outl) == 1
		     ? 0
		     : AL_E_AUTH;
	out->len = ctlen;
	out->p[ctlen] = '\0';
	if (rc == 0 && version)
		*version = h.version;
out:
	if (!c)
		EVP_CIPHER_CTX_free(ctx);
	if (rc && out->p) {
		seal_buf_wipe(out);
		out->p[0] = '\0';
	}
	return rc;
}

int seal_open(const struct seal_key *key, const char *db, const void *rkey,
	      size_t rkeylen, const void *sealed, size_t len,
	      struct al_buf *out, uint64_t *version)
{
	return seal_open_fmt(NULL, key, SEAL_VERSION, db, rkey, rkeylen,
			     sealed, len, out, version);
}

int seal_ctx_open(struct seal_ctx *c, const char *db, const void *rkey,
		  size_t rkeylen, const void *sealed, size_t len,
		  struct al_buf *out, uint64_t *version)
{
	return seal_open_fmt(c, NULL, SEAL_VERSION, db, rkey, rkeylen, sealed,
			     len, out, version);
}

int seal_open_v1(const struct seal_key *key, const char *db,
		 const void *rkey, size_t rkeylen, const void *sealed,
		 size_t len, struct al_buf *out)
{
	return seal_open_fmt(NULL, key, SEAL_VERSION_V1, db, rkey, rkeylen,
			     sealed, len, out, NULL);
}

int seal_hmac(const uint8_t key[SEAL_KEY_LEN], const void *data, size_t len,
	      uint8_t mac[32])
{
	unsigned maclen = 0;

	if (!HMAC(EVP_sha256(), key, SEAL_KEY_LEN, data, len, mac, &maclen) ||
	    maclen != 32)
		return AL_E_CRYPTO;
	return 0;
}

struct seal_mac {
	uint8_t key[SEAL_KEY_LEN];
	EVP_MAC *mac;
	EVP_MAC_CTX *ctx;
};

int seal_mac_new(const uint8_t key[SEAL_KEY_LEN], struct seal_mac **out)
{
	struct seal_mac *m = calloc(1, sizeof(*m));
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						 (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};

	*out = NULL;
	if (!m)
		return -ENOMEM;
	memcpy(m->key, key, SEAL_KEY_LEN);
	m->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	m->ctx = m->mac ? EVP_MAC_CTX_new(m->mac) : NULL;
	if (!m->ctx || EVP_MAC_init(m->ctx, m->key, SEAL_KEY_LEN,
				    params) != 1) {
		seal_mac_free(m);
		return AL_E_CRYPTO;
	}
	*out = m;
	return 0;
}

void seal_mac_free(struct seal_mac *m)
{
	if (!m)
		return;
	EVP_MAC_CTX_free(m->ctx);
	EVP_MAC_free(m->mac);
	explicit_bzero(m->key, sizeof(m->key));
	free(m);
}

bool seal_mac_has_key(const struct seal_mac *m,
		      const uint8_t key[SEAL_KEY_LEN])
{
	return CRYPTO_memcmp(m->key, key, SEAL_KEY_LEN) == 0;
}

int seal_mac_run(struct seal_mac *m, const void *data, size_t len,
		 uint8_t mac[32])
{
	size_t n = 0;

	/* A NULL key restarts from the pads computed by seal_mac_new. */
	if (EVP_MAC_init(m->ctx, NULL, 0, NULL) != 1 ||
	    EVP_MAC_update(m->ctx, data, len) != 1 ||
	    EVP_MAC_final(m->ctx, mac, &n, 32) != 1 || n != 32)
		return AL_E_CRYPTO;
	return 0;
}
