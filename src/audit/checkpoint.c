/*
 * checkpoint.c - the Ed25519 signing key, signed checkpoints, the
 * checkpoint policy and the anchor file.
 */
#include "audit/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "audit/internal.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/fs.h"
#include "base/log.h"

#define SEED_LEN 32
#define SIG_LEN 64

struct audit_signer {
	EVP_PKEY *pkey;
	char id[AUDIT_KEY_ID_HEX + 1];
};

struct audit_pubkey {
	EVP_PKEY *pkey;
	char id[AUDIT_KEY_ID_HEX + 1];
};

/* Members of a checkpoint; anything else is refused. */
static const char *const cp_members[] = {
	"head", "key", "n", "prev", "seq", "sig", "time", "type", "v",
};

static int key_id(EVP_PKEY *pkey, char id[AUDIT_KEY_ID_HEX + 1])
{
	unsigned char raw[32], md[32];
	size_t len = sizeof(raw);
	unsigned mdlen = 0;

	if (EVP_PKEY_get_raw_public_key(pkey, raw, &len) != 1 ||
	    len != sizeof(raw) ||
	    EVP_Digest(raw, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		return AL_E_CRYPTO;
	al_hex(id, md, AUDIT_KEY_ID_HEX / 2);
	return 0;
}

/*
 * Check the key file before trusting it: a symlink could point the
 * writer at a key someone else chose, and a file others can read hands
 * them the power to sign checkpoints.
 */
static int signer_read(const char *path, unsigned char seed[SEED_LEN])
{
	struct stat st;
	ssize_t n;
	int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return errno == ENOENT ? AL_E_NOTFOUND
		       : errno == ELOOP ? AL_E_UNSAFE : -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
	} else if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
		   (st.st_mode & 077)) {
		al_error("audit", NULL, "%s: must be a regular file owned by "
			 "uid %u with mode 0600; refusing it", path,
			 (unsigned)geteuid());
		rc = AL_E_UNSAFE;
	} else if (st.st_size != SEED_LEN) {
		al_error("audit", NULL, "%s: %lld bytes, expected %d", path,
			 (long long)st.st_size, SEED_LEN);
		rc = AL_E_PARSE;
	} else {
		n = read(fd, seed, SEED_LEN);
		rc = n == SEED_LEN ? 0 : n < 0 ? -errno : AL_E_PARSE;
	}
	close(fd);
	return rc;
}

/* New seed written beside path and linked into place: never half
 * written, and a key that appeared meanwhile is kept, not replaced. */
static int signer_create(const char *path, unsigned char seed[SEED_LEN])
{
	char tmp[PATH_MAX];
	int fd, rc = al_random(seed, SEED_LEN);

	if (rc)
		return rc;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.new.%ld", path,
			     (long)getpid()) >= sizeof(tmp))
		return -ENAMETOOLONG;
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0)
		return -errno;
	rc = al_write_all(fd, seed, SEED_LEN);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (rc == 0 && link(tmp, path) < 0)
		rc = errno == EEXIST ? AL_E_EXISTS : -errno;
	unlink(tmp);
	if (rc == 0)
		al_info("audit", NULL, "created audit signing key %s", path);
	return rc;
}

int audit_signer_load(const char *home, bool create,
		      struct audit_signer **out)
{
	unsigned char seed[SEED_LEN];
	char path[PATH_MAX];
	struct audit_signer *s = NULL;
	int rc;

	*out = NULL;
	if ((size_t)snprintf(path, sizeof(path), "%s/" AUDIT_KEY_FILE,
			     home) >= sizeof(path))
		return -ENAMETOOLONG;
	rc = signer_read(path, seed);
	if (rc == AL_E_NOTFOUND && create) {
		rc = signer_create(path, seed);
		if (rc == AL_E_EXISTS)
			rc = signer_read(path, seed);
	}
	if (rc)
		goto out;
	s = calloc(1, sizeof(*s));
	if (!s) {
		rc = -ENOMEM;
		goto out;
	}
	s->pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
					       SEED_LEN);
	rc = s->pkey ? key_id(s->pkey, s->id) : AL_E_CRYPTO;
out:
	explicit_bzero(seed, sizeof(seed));
	if (rc && rc != AL_E_NOTFOUND)
		al_error("audit", NULL, "%s: cannot load the audit signing key:"
			 " %s", path, al_strerror(rc));
	if (rc) {
		audit_signer_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void audit_signer_free(struct audit_signer *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->pkey); /* OpenSSL clears private key memory */
	free(s);
}

const char *audit_signer_key_id(const struct audit_signer *s)
{
	return s->id;
}

int audit_signer_pubkey(const struct audit_signer *s,
			struct audit_pubkey **out)
{
	unsigned char raw[32];
	size_t len = sizeof(raw);
	struct audit_pubkey *k = calloc(1, sizeof(*k));

	*out = NULL;
	if (!k)
		return -ENOMEM;
	if (EVP_PKEY_get_raw_public_key(s->pkey, raw, &len) != 1 ||
	    !(k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
						    raw, len))) {
		free(k);
		return AL_E_CRYPTO;
	}
	memcpy(k->id, s->id, sizeof(k->id));
	*out = k;
	return 0;
}

int audit_sign(const struct audit_signer *s, const void *msg, size_t len,
	       char hex[AUDIT_SIG_HEX + 1])
{
	unsigned char sig[SIG_LEN];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = AL_E_CRYPTO;

	if (ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, s->pkey) == 1 &&
	    EVP_DigestSign(ctx, sig, &siglen, msg, len) == 1 &&
	    siglen == SIG_LEN) {
		al_hex(hex, sig, SIG_LEN);
		rc = 0;
	}
	EVP_MD_CTX_free(ctx);
	return rc;
}

int audit_pubkey_load(const char *path, struct audit_pubkey **out)
{
	struct audit_pubkey *k = NULL;
	struct al_buf pem = { 0 };
	BIO *bio = NULL;
	int rc = al_read_file(path, 64 * 1024, &pem);

	*out = NULL;
	if (rc)
		goto out;
	bio = BIO_new_mem_buf(pem.p, (int)pem.len);
	k = calloc(1, sizeof(*k));
	if (!bio || !k) {
		rc = -ENOMEM;
		goto out;
	}
	k->pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	if (!k->pkey || EVP_PKEY_get_id(k->pkey) != EVP_PKEY_ED25519) {
		rc = AL_E_PARSE;
		goto out;
	}
	rc = key_id(k->pkey, k->id);
out:
	BIO_free(bio);
	al_buf_free(&pem);
	if (rc) {
		al_error("audit", NULL, "%s: not an Ed25519 public key in PEM "
			 "(%s)", path, al_strerror(rc));
		audit_pubkey_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

int audit_pubkey_pem(const struct audit_pubkey *k, struct al_buf *out)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int rc = AL_E_CRYPTO;

	out->len = 0;
	if (bio && PEM_write_bio_PUBKEY(bio, k->pkey) == 1) {
		len = BIO_get_mem_data(bio, &data);
		rc = len > 0 ? al_buf_append(out, data, (size_t)len)
			     : AL_E_CRYPTO;
	}
	BIO_free(bio);
	return rc;
}

const char *audit_pubkey_key_id(const struct audit_pubkey *k)
{
	return k->id;
}

void audit_pubkey_free(struct audit_pubkey *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

static int unhex(const char *hex, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int v = 0;
		for (int j = 0; j < 2; j++) {
			char c = hex[2 * i + j];
			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= c - '0';
			else if (c >= 'a' && c <= 'f')
				v |= c - 'a' + 10;
			else
				return AL_E_PARSE;
		}
		out[i] = (unsigned char)v;
	}
	return hex[2 * n] ? AL_E_PARSE : 0;
}

int audit_pubkey_verify(const struct audit_pubkey *k, const void *msg,
			size_t len, const char *sig_hex)
{
	unsigned char sig[SIG_LEN];
	EVP_MD_CTX *ctx;
	int rc;

	if (!sig_hex || strlen(sig_hex) != AUDIT_SIG_HEX ||
	    unhex(sig_hex, sig, SIG_LEN))
		return AL_E_AUTH;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	rc = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
			     EVP_DigestVerify(ctx, sig, SIG_LEN, msg, len) == 1
		     ? 0
		     : AL_E_AUTH;
	EVP_MD_CTX_free(ctx);
	return rc;
}

int audit_signed_body(const json_t *obj, struct al_buf *body,
		      char hash[AUDIT_HASH_HEX_LEN + 1])
{
	unsigned char md[32];
	unsigned mdlen = 0;
	json_t *copy = NULL;
	char *text = NULL;
	int rc = json_is_object(obj) ? audit_check_json(obj, 0) : AL_E_PARSE;

	if (rc)
		goto out;
	copy = json_copy((json_t *)obj);
	if (!copy) {
		rc = -ENOMEM;
		goto out;
	}
	json_object_del(copy, "sig");
	text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text) {
		rc = -ENOMEM;
		goto out;
	}
	if (hash) {
		if (EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(),
			       NULL) != 1) {
			rc = AL_E_CRYPTO;
			goto out;
		}
		al_hex(hash, md, sizeof(md));
	}
	if (body) {
		body->len = 0;
		rc = al_buf_puts(body, text);
	}
out:
	free(text);
	json_decref(copy);
	return rc;
}

static bool is_hex(const json_t *v, size_t len)
{
	const char *s = json_string_value(v);

	if (!s || json_string_length(v) != len)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

static const char *cp_shape(const json_t *o, struct audit_cp *cp)
{
	json_int_t n, seq;

	if (!json_is_object(o) ||
	    json_object_size(o) != AL_ARRAY_LEN(cp_members))
		return "not a checkpoint: wrong set of members";
	for (size_t i = 0; i < AL_ARRAY_LEN(cp_members); i++)
		if (!json_object_get(o, cp_members[i]))
			return "not a checkpoint: wrong set of members";
	const char *type = json_string_value(json_object_get(o, "type"));
	if (!type || strcmp(type, AUDIT_CP_TYPE) != 0 ||
	    json_integer_value(json_object_get(o, "v")) != 1 ||
	    !json_is_integer(json_object_get(o, "v")))
		return "not a version 1 airlock checkpoint";
	n = json_integer_value(json_object_get(o, "n"));
	seq = json_integer_value(json_object_get(o, "seq"));
	if (!json_is_integer(json_object_get(o, "n")) || n < 1 ||
	    !json_is_integer(json_object_get(o, "seq")) || seq < 0)
		return "checkpoint n or seq out of range";
	if (!is_hex(json_object_get(o, "head"), AUDIT_HASH_HEX_LEN) ||
	    !is_hex(json_object_get(o, "prev"), AUDIT_HASH_HEX_LEN) ||
	    !is_hex(json_object_get(o, "key"), AUDIT_KEY_ID_HEX) ||
	    !is_hex(json_object_get(o, "sig"), AUDIT_SIG_HEX))
		return "checkpoint head, prev, key or sig malformed";
	const char *t = json_string_value(json_object_get(o, "time"));
	cp->time_ms = t ? audit_parse_time(t) : -1;
	if (cp->time_ms < 0)
		return "checkpoint time malformed";
	cp->n = (uint64_t)n;
	cp->seq = (uint64_t)seq;
	al_strlcpy(cp->time, t, sizeof(cp->time));
	al_strlcpy(cp->head, json_string_value(json_object_get(o, "head")),
		   sizeof(cp->head));
	al_strlcpy(cp->prev, json_string_value(json_object_get(o, "prev")),
		   sizeof(cp->prev));
	al_strlcpy(cp->key, json_string_value(json_object_get(o, "key")),
		   sizeof(cp->key));
	return NULL;
}

int audit_cp_check(const json_t *obj, const struct audit_pubkey *k,
		   struct audit_cp *cp, char *why, size_t whysz)
{
	struct al_buf body = { 0 };
	const char *bad;
	int rc;

	memset(cp, 0, sizeof(*cp));
	bad = cp_shape(obj, cp);
	if (bad) {
		snprintf(why, whysz, "%s", bad);
		return AL_E_PARSE;
	}
	rc = audit_signed_body(obj, &body, cp->hash);
	if (rc) {
		snprintf(why, whysz, "checkpoint has no canonical form (%s)",
			 al_strerror(rc));
		goto out;
	}
	if (!k)
		goto out;
	if (strcmp(cp->key, audit_pubkey_key_id(k)) != 0) {
		snprintf(why, whysz, "checkpoint %llu is signed by key %s, "
			 "not by the given key %s",
			 (unsigned long long)cp->n, cp->key,
			 audit_pubkey_key_id(k));
		rc = AL_E_AUTH;
	} else if (audit_pubkey_verify(k, body.p, body.len, json_string_value(
				json_object_get(obj, "sig"))) != 0) {
		snprintf(why, whysz, "checkpoint %llu: signature does not "
			 "verify", (unsigned long long)cp->n);
		rc = AL_E_AUTH;
	}
out:
	al_buf_free(&body);
	return rc;
}

static void cp_key(uint64_t n, uint8_t key[8])
{
	audit_key(n, key);
}

int audit_cp_write(struct store_txn *txn, const struct audit_signer *s,
		   const struct audit_cp *prev_cp, uint64_t seq,
		   const char *head, json_t **out)
{
	char stamp[32], sig[AUDIT_SIG_HEX + 1];
	struct al_buf body = { 0 };
	uint64_t n = prev_cp ? prev_cp->n + 1 : 1;
	uint8_t key[8];
	char *text = NULL;
	json_t *cp;
	int rc;

	al_utc_stamp(stamp, sizeof(stamp), al_wall_ms());
	cp = json_pack("{s:s, s:s, s:I, s:s, s:I, s:s, s:s, s:i}", "head",
		       head, "key", s->id, "n", (json_int_t)n, "prev",
		       prev_cp ? prev_cp->hash : AUDIT_ZERO_HASH, "seq",
		       (json_int_t)seq, "time", stamp, "type", AUDIT_CP_TYPE,
		       "v", 1);
	if (!cp)
		return -ENOMEM;
	rc = audit_signed_body(cp, &body, NULL);
	if (rc == 0)
		rc = audit_sign(s, body.p, body.len, sig);
	if (rc)
		goto out;
	json_object_set_new(cp, "sig", json_string(sig));
	text = json_dumps(cp, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text) {
		rc = -ENOMEM;
		goto out;
	}
	cp_key(n, key);
	rc = store_put_raw(txn, STORE_DB_CHECKPOINTS, key, 8, text,
			   strlen(text));
out:
	if (rc)
		al_error("audit", NULL, "cannot write checkpoint %llu: %s",
			 (unsigned long long)n, al_strerror(rc));
	else
		al_info("audit", NULL, "checkpoint n=%llu seq=%llu",
			(unsigned long long)n, (unsigned long long)seq);
	free(text);
	al_buf_free(&body);
	if (rc == 0 && out)
		*out = json_incref(cp);
	json_decref(cp);
	return rc;
}

static int cp_parse(const void *val, size_t len, struct audit_cp *cp,
		    json_t **obj)
{
	char why[160];
	json_t *o = json_loadb(val, len, JSON_REJECT_DUPLICATES, NULL);
	int rc = o ? audit_cp_check(o, NULL, cp, why, sizeof(why))
		   : AL_E_PARSE;

	if (rc == 0 && obj)
		*obj = json_incref(o);
	json_decref(o);
	return rc;
}

int audit_cp_get(struct store_txn *txn, uint64_t n, struct audit_cp *cp,
		 json_t **obj)
{
	struct al_buf v = { 0 };
	uint8_t key[8];
	int rc;

	if (obj)
		*obj = NULL;
	cp_key(n, key);
	rc = store_get_raw(txn, STORE_DB_CHECKPOINTS, key, 8, &v);
	if (rc == 0)
		rc = cp_parse(v.p, v.len, cp, obj);
	al_buf_free(&v);
	return rc;
}

int audit_cp_last(struct store_txn *txn, struct audit_cp *cp, json_t **obj)
{
	struct store_cursor *cur = NULL;
	const void *key;
	size_t keylen;
	int rc = store_cursor_open(txn, STORE_DB_CHECKPOINTS, &cur);

	if (obj)
		*obj = NULL;
	if (rc == 0)
		rc = store_cursor_last(cur);
	if (rc == 0)
		rc = store_cursor_next(cur, &key, &keylen, NULL);
	store_cursor_close(cur);
	if (rc)
		return rc;
	if (keylen != 8)
		return AL_E_PARSE;
	return audit_cp_get(txn, audit_key_seq(key, keylen), cp, obj);
}

bool audit_cp_due(const struct audit_policy *p, const struct audit_cp *last,
		  uint64_t head_seq, int64_t now_ms)
{
	if (!last)
		return true;
	if (p->every_n && head_seq >= last->seq + p->every_n)
		return true;
	return p->every_ms > 0 && now_ms - last->time_ms >= p->every_ms;
}

int audit_policy_set(struct audit_policy *p, const char *key,
		     const char *value)
{
	uint64_t v;
	int rc;

	if (!strcmp(key, "audit_checkpoint_entries")) {
		rc = al_parse_u64(value, 1000000000, &v);
		if (rc == 0)
			p->every_n = v;
		return rc;
	}
	if (!strcmp(key, "audit_checkpoint_minutes")) {
		rc = al_parse_u64(value, 10080, &v);
		if (rc == 0)
			p->every_ms = (int64_t)v * 60000;
		return rc;
	}
	return AL_E_NOTFOUND;
}

static char *conf_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

int audit_conf_scan(const char *home, const char *prefix,
		    audit_conf_set_fn set, void *ctx, char *path,
		    size_t pathsz, char *err, size_t errsz)
{
	char *line, *next, why[256];
	struct al_buf b = { 0 };
	unsigned lineno = 0;
	size_t plen = strlen(prefix);
	int rc;

	snprintf(path, pathsz, "%s/airlock.conf", home);
	rc = al_read_file(path, 1 << 20, &b);
	if (rc == -ENOENT)
		return 0;
	if (rc) {
		snprintf(err, errsz, "%s: %s", path, al_strerror(rc));
		return rc;
	}
	/* Only the keys of this prefix: the job's loader checks the
	 * others. */
	for (line = b.p; line && rc == 0; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		char *k = conf_trim(line), *v = conf_trim(eq + 1);
		if (strncmp(k, prefix, plen) != 0)
			continue;
		why[0] = '\0';
		rc = set(ctx, k, v, lineno, why, sizeof(why));
		if (rc)
			snprintf(err, errsz, "%s:%u: %s '%s'%s%s", path, lineno,
				 rc == AL_E_NOTFOUND ? "unknown key"
						     : "bad value for",
				 k, *why ? ": " : "", why);
	}
	al_buf_free(&b);
	return rc ? AL_E_PARSE : 0;
}

static int policy_set(void *ctx, const char *k, const char *v,
		      unsigned lineno, char *why, size_t whysz)
{
	(void)lineno;
	(void)why;
	(void)whysz;
	return audit_policy_set(ctx, k, v);
}

int audit_policy_load(const char *home, struct audit_policy *p, char *err,
		      size_t errsz)
{
	char path[PATH_MAX];

	p->every_n = AUDIT_DEFAULT_EVERY_N;
	p->every_ms = (int64_t)AUDIT_DEFAULT_EVERY_MIN * 60000;
	return audit_conf_scan(home, "audit_", policy_set, p, path,
			       sizeof(path), err, errsz);
}

int64_t audit_parse_time(const char *s)
{
	struct tm tm = { 0 };
	unsigned ms;
	int consumed = 0;

	if (strlen(s) != 24 ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3uZ%n", &tm.tm_year,
		   &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
		   &tm.tm_sec, &ms, &consumed) != 7 || consumed != 24)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t t = timegm(&tm);
	return t < 0 ? -1 : (int64_t)t * 1000 + ms;
}

int audit_anchor_read(const char *home, json_t **out)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/" AUDIT_ANCHOR_FILE, home);
	return al_json_load_file(path, 64 * 1024, out);
}

int audit_anchor_write(const char *home, const json_t *cp)
{
	char path[PATH_MAX], tmp[PATH_MAX + 64];
	static unsigned counter;
	char *text = json_dumps(cp, JSON_COMPACT | JSON_SORT_KEYS);
	int fd = -1, rc = 0;

	if (!text)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/" AUDIT_ANCHOR_FILE, home);
	snprintf(tmp, sizeof(tmp), "%s.%ld.%u", path, (long)getpid(),
		 __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	/* fsync before rename: a crash must leave the old anchor or the
	 * new one, never an empty file that would hide the old one. */
	rc = al_write_all(fd, text, strlen(text));
	if (rc == 0)
		rc = al_write_all(fd, "\n", 1);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
out:
	if (rc)
		al_error("audit", NULL, "%s: cannot write the anchor: %s", path,
			 al_strerror(rc));
	free(text);
	return rc;
}
