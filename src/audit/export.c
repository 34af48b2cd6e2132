/*
 * export.c - writing numbered, signed exports of the log and verifying
 * a directory of them offline.
 */
#include "audit/export.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/internal.h"
#include "base/err.h"
#include "base/jsonx.h"
#include "base/fs.h"
#include "base/log.h"

static const char *const digest_members[] = {
	"bytes", "checkpoint", "count", "file", "first", "key", "last", "n",
	"prev", "sha256", "sig", "time", "type", "v",
};

/* A parsed digest; the signature checked when parsed with a key. */
struct digest {
	uint64_t n, bytes, count;
	uint64_t first_seq, last_seq;
	char first_hash[AUDIT_HASH_HEX_LEN + 1];
	char last_hash[AUDIT_HASH_HEX_LEN + 1];
	char prev[AUDIT_HASH_HEX_LEN + 1];
	char sha256[AUDIT_HASH_HEX_LEN + 1];
	char hash[AUDIT_HASH_HEX_LEN + 1]; /* of the signed body */
	char file[64];
	struct audit_cp cp;
};

static void export_name(char *out, size_t outsz, uint64_t n, bool digest)
{
	snprintf(out, outsz, "%08llu.%s", (unsigned long long)n,
		 digest ? "digest.json" : "jsonl");
}

/* n of "NNNNNNNN.digest.json" (digest) or "NNNNNNNN.jsonl"; else 0. */
static uint64_t export_parse_name(const char *name, bool *digest)
{
	uint64_t n = 0;

	for (int i = 0; i < 8; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		n = n * 10 + (uint64_t)(name[i] - '0');
	}
	if (!strcmp(name + 8, ".digest.json"))
		*digest = true;
	else if (!strcmp(name + 8, ".jsonl"))
		*digest = false;
	else
		return 0;
	return n;
}

static bool get_hex(const json_t *o, const char *k, char *out, size_t len)
{
	const char *s = json_string_value(json_object_get(o, k));

	if (!s || strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	memcpy(out, s, len + 1);
	return true;
}

static bool get_u64(const json_t *o, const char *k, uint64_t *out)
{
	const json_t *v = json_object_get(o, k);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

static bool get_end(const json_t *o, const char *k, uint64_t *seq,
		    char *hash)
{
	const json_t *e = json_object_get(o, k);

	return json_is_object(e) && json_object_size(e) == 2 &&
	       get_u64(e, "seq", seq) && *seq > 0 &&
	       get_hex(e, "hash", hash, AUDIT_HASH_HEX_LEN);
}

/* Shape, then (k not NULL) the digest's signature and its checkpoint. */
static int digest_check(const json_t *o, const struct audit_pubkey *k,
			struct digest *d, char *why, size_t whysz)
{
	struct al_buf body = { 0 };
	const char *type = json_string_value(json_object_get(o, "type"));
	const char *file = json_string_value(json_object_get(o, "file"));
	const char *key = json_string_value(json_object_get(o, "key"));
	uint64_t v = 0;
	int rc = AL_E_PARSE;

	memset(d, 0, sizeof(*d));
	snprintf(why, whysz, "not an export digest: wrong or malformed "
		 "members");
	if (!json_is_object(o) ||
	    json_object_size(o) != AL_ARRAY_LEN(digest_members))
		return rc;
	for (size_t i = 0; i < AL_ARRAY_LEN(digest_members); i++)
		if (!json_object_get(o, digest_members[i]))
			return rc;
	if (!type || strcmp(type, AUDIT_DIGEST_TYPE) || !get_u64(o, "v", &v) ||
	    v != 1 || !get_u64(o, "n", &d->n) || d->n < 1 ||
	    !get_u64(o, "bytes", &d->bytes) || !get_u64(o, "count", &d->count) ||
	    !get_end(o, "first", &d->first_seq, d->first_hash) ||
	    !get_end(o, "last", &d->last_seq, d->last_hash) ||
	    !get_hex(o, "prev", d->prev, AUDIT_HASH_HEX_LEN) ||
	    !get_hex(o, "sha256", d->sha256, AUDIT_HASH_HEX_LEN) || !file ||
	    al_strlcpy(d->file, file, sizeof(d->file)) >= sizeof(d->file) ||
	    !key || !json_is_string(json_object_get(o, "time")))
		return rc;
	rc = audit_cp_check(json_object_get(o, "checkpoint"), k, &d->cp, why,
			    whysz);
	if (rc == 0)
		rc = audit_signed_body(o, &body, d->hash);
	if (rc || !k)
		goto out;
	if (strcmp(key, audit_pubkey_key_id(k)) != 0) {
		snprintf(why, whysz, "digest signed by key %s, not by the "
			 "given key %s", key, audit_pubkey_key_id(k));
		rc = AL_E_AUTH;
	} else if (audit_pubkey_verify(k, body.p, body.len, json_string_value(
				json_object_get(o, "sig"))) != 0) {
		snprintf(why, whysz, "digest signature does not verify");
		rc = AL_E_AUTH;
	}
out:
	al_buf_free(&body);
	return rc;
}

/* Highest n with a digest in dir; 0 when none. */
static int export_scan(const char *dir, uint64_t *max_digest,
		       uint64_t *max_any)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool digest;

	*max_digest = *max_any = 0;
	if (!d)
		return errno == ENOENT ? AL_E_NOTFOUND : -errno;
	while ((de = readdir(d))) {
		uint64_t n = export_parse_name(de->d_name, &digest);
		if (n && digest && n > *max_digest)
			*max_digest = n;
		if (n > *max_any)
			*max_any = n;
	}
	closedir(d);
	return 0;
}

int audit_export_newest(const char *dir, uint64_t *n)
{
	uint64_t any;
	int rc = export_scan(dir, n, &any);

	return rc == AL_E_NOTFOUND ? 0 : rc;
}

static int read_digest(const char *dir, uint64_t n, json_t **out)
{
	char path[PATH_MAX], name[64];

	export_name(name, sizeof(name), n, true);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return al_json_load_file(path, AUDIT_DIGEST_MAX, out);
}

int audit_export_time(const char *dir, uint64_t n, int64_t *ms)
{
	json_t *o = NULL;
	int rc = read_digest(dir, n, &o);
	const char *t = json_string_value(json_object_get(o, "time"));

	*ms = t ? audit_parse_time(t) : -1;
	if (rc == 0 && *ms < 0)
		rc = AL_E_PARSE;
	json_decref(o);
	return rc;
}

int audit_export_last(const char *dir, const struct audit_pubkey *k,
		      json_t **digest)
{
	struct digest d;
	uint64_t max, any;
	char why[256];
	int rc = export_scan(dir, &max, &any);

	*digest = NULL;
	if (rc == 0 && max == 0)
		rc = AL_E_NOTFOUND;
	if (rc == 0)
		rc = read_digest(dir, max, digest);
	if (rc == 0)
		rc = digest_check(*digest, k, &d, why, sizeof(why));
	if (rc == 0 && d.n != max)
		rc = AL_E_PARSE;
	if (rc && rc != AL_E_NOTFOUND)
		al_error("audit", NULL, "%s: export %llu: %s", dir,
			 (unsigned long long)max,
			 rc == AL_E_PARSE || rc == AL_E_AUTH ? why
							    : al_strerror(rc));
	if (rc) {
		json_decref(*digest);
		*digest = NULL;
	}
	return rc;
}

/* State of one export being written. */
struct exp {
	struct audit_log *log;
	const char *dir;
	int dfd;
	uint64_t n;
	struct digest prev;      /* the last export, if prev_ok */
	bool prev_ok;
	char jsonl[64], digest[64], tmp_jsonl[96], tmp_digest[96];
	uint64_t first, last, count, bytes;
	char first_hash[AUDIT_HASH_HEX_LEN + 1];
	char last_hash[AUDIT_HASH_HEX_LEN + 1];
	char sha256[AUDIT_HASH_HEX_LEN + 1];
	json_t *cp;
};

/* Entries from e->first to the head into the temporary file, checked
 * on the way: a broken chain is never signed. */
static int export_entries(struct exp *x, struct store_txn *txn, int fd)
{
	struct audit_walk w = { .next = x->first, .linked = true };
	struct audit_report r = { 0 };
	struct store_cursor *cur = NULL;
	struct al_buf plain = { 0 };
	struct audit_line e;
	EVP_MD_CTX *fmd = EVP_MD_CTX_new();
	unsigned char dig[32];
	const void *key;
	size_t keylen;
	uint8_t k[8];
	unsigned dn = 0;
	int rc = audit_hasher_init(&w.h);

	memcpy(w.prev, x->prev_ok ? x->prev.last_hash : AUDIT_ZERO_HASH,
	       sizeof(w.prev));
	audit_key(x->first, k);
	if (rc == 0)
		rc = fmd && EVP_DigestInit_ex(fmd, EVP_sha256(), NULL) == 1
			     ? 0 : AL_E_CRYPTO;
	if (rc == 0)
		rc = store_cursor_open(txn, STORE_DB_AUDIT, &cur);
	if (rc == 0)
		rc = store_cursor_seek(cur, k, 8);
	while (rc == 0 &&
	       (rc = store_cursor_next_plain(cur, &key, &keylen, &plain)) ==
		       0) {
		uint64_t seq = audit_key_seq(key, keylen);
		if (!audit_walk_step(&w, &r, NULL, 0, seq, plain.p, plain.len,
				     &e)) {
			al_error("audit", NULL, "refusing to export: entry %llu "
				 "fails verification (%s); run audit verify",
				 (unsigned long long)r.problems[0].seq,
				 r.problems[0].what);
			rc = AL_E_CHAIN;
			break;
		}
		if (x->count++ == 0)
			memcpy(x->first_hash, e.hash, AUDIT_HASH_HEX_LEN);
		memcpy(x->last_hash, e.hash, AUDIT_HASH_HEX_LEN);
		x->last = seq;
		rc = al_buf_append(&plain, "\n", 1);
		if (rc == 0)
			rc = al_write_all(fd, plain.p, plain.len);
		if (rc == 0 && EVP_DigestUpdate(fmd, plain.p, plain.len) != 1)
			rc = AL_E_CRYPTO;
		x->bytes += plain.len;
	}
	if (rc == AL_E_NOTFOUND)
		rc = 0;
	if (rc == 0 && (EVP_DigestFinal_ex(fmd, dig, &dn) != 1 || dn != 32))
		rc = AL_E_CRYPTO;
	if (rc == 0)
		al_hex(x->sha256, dig, 32);
	store_cursor_close(cur);
	if (plain.p)
		explicit_bzero(plain.p, plain.cap);
	al_buf_free(&plain);
	audit_report_free(&r);
	audit_hasher_free(&w.h);
	EVP_MD_CTX_free(fmd);
	return rc;
}

/*
 * In one write transaction: check the store reached the last export,
 * append the audit.export entry, write the entries out, and sign a
 * checkpoint over the new head.
 */
static int export_txn(struct exp *x, const char *actor)
{
	char head[AUDIT_HASH_HEX_LEN + 1], why[512];
	struct store_txn *txn = NULL;
	struct audit_cp last;
	uint64_t seq;
	int fd = -1, rc = store_txn_begin(x->log->st, true, &txn);

	if (rc)
		return rc;
	if (x->prev_ok &&
	    (rc = audit_check_held(txn, &x->prev.cp, "the last export", why,
				   sizeof(why))) != 0) {
		al_error("audit", NULL, "%s; refusing to export from %s/db",
			 why, x->log->home);
		goto out;
	}
	rc = audit_append(x->log, txn, actor, "audit.export", x->jsonl,
			  json_pack("{s:I, s:I}", "n", (json_int_t)x->n, "from",
				    (json_int_t)x->first), NULL);
	if (rc == 0)
		rc = audit_head(txn, &seq, head);
	if (rc == 0)
		rc = audit_cp_last(txn, &last, NULL);
	if (rc == 0 || rc == AL_E_NOTFOUND)
		rc = audit_cp_write(txn, x->log->signer, rc ? NULL : &last,
				    seq, head, &x->cp);
	if (rc)
		goto out;

	fd = openat(x->dfd, x->tmp_jsonl,
		    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	rc = fd < 0 ? -errno : export_entries(x, txn, fd);
	if (rc == 0 && x->last != seq)
		rc = AL_E_CHAIN;
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
out:
	if (fd >= 0)
		close(fd);
	if (rc) {
		store_txn_abort(txn);
		return rc;
	}
	atomic_store(&x->log->cp_dirty, true);
	return audit_commit(x->log, txn);
}

static int export_digest(struct exp *x)
{
	char stamp[32], sig[AUDIT_SIG_HEX + 1];
	struct al_buf body = { 0 };
	char *text = NULL;
	json_t *d;
	int fd = -1, rc;

	al_utc_stamp(stamp, sizeof(stamp), al_wall_ms());
	d = json_pack("{s:I, s:O, s:I, s:s, s:{s:I, s:s}, s:s, s:{s:I, s:s},"
		      " s:I, s:s, s:s, s:s, s:s, s:i}",
		      "bytes", (json_int_t)x->bytes, "checkpoint", x->cp,
		      "count", (json_int_t)x->count, "file", x->jsonl, "first",
		      "seq", (json_int_t)x->first, "hash", x->first_hash, "key",
		      audit_signer_key_id(x->log->signer), "last", "seq",
		      (json_int_t)x->last, "hash", x->last_hash, "n",
		      (json_int_t)x->n, "prev",
		      x->prev_ok ? x->prev.hash : AUDIT_ZERO_HASH, "sha256",
		      x->sha256, "time", stamp, "type", AUDIT_DIGEST_TYPE, "v",
		      1);
	if (!d)
		return -ENOMEM;
	rc = audit_signed_body(d, &body, NULL);
	if (rc == 0)
		rc = audit_sign(x->log->signer, body.p, body.len, sig);
	if (rc)
		goto out;
	json_object_set_new(d, "sig", json_string(sig));
	text = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
	fd = openat(x->dfd, x->tmp_digest,
		    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	rc = !text ? -ENOMEM : fd < 0 ? -errno : 0;
	if (rc == 0)
		rc = al_write_all(fd, text, strlen(text));
	if (rc == 0)
		rc = al_write_all(fd, "\n", 1);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	/* The entries first, then the digest that vouches for them: a
	 * reader never finds a digest whose file is not there yet. */
	if (rc == 0 && renameat(x->dfd, x->tmp_jsonl, x->dfd, x->jsonl) < 0)
		rc = -errno;
	if (rc == 0 && renameat(x->dfd, x->tmp_digest, x->dfd, x->digest) < 0)
		rc = -errno;
	if (rc == 0 && fsync(x->dfd) < 0)
		rc = -errno;
out:
	if (fd >= 0)
		close(fd);
	free(text);
	al_buf_free(&body);
	json_decref(d);
	return rc;
}

static int export_open_dir(const char *dir, int *dfd)
{
	struct stat st;
	int rc = al_mkdir_p(dir, 0700);

	if (rc)
		return rc;
	*dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*dfd < 0)
		return errno == ELOOP || errno == ENOTDIR ? AL_E_UNSAFE : -errno;
	if (fstat(*dfd, &st) < 0 || st.st_uid != geteuid() ||
	    (st.st_mode & 022)) {
		al_error("audit", NULL, "%s: must be a directory owned by uid "
			 "%u and writable by nobody else", dir,
			 (unsigned)geteuid());
		return AL_E_UNSAFE;
	}
	/* One exporter at a time: two would both take number n. */
	while (flock(*dfd, LOCK_EX) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

int audit_export(struct audit_log *log, const char *dir, const char *actor,
		 struct audit_export_info *info)
{
	char defdir[PATH_MAX + 16], why[256];
	struct exp x = { .log = log, .dfd = -1 };
	struct audit_pubkey *pk = NULL;
	json_t *last = NULL;
	int rc;

	memset(info, 0, sizeof(*info));
	if (!dir) {
		snprintf(defdir, sizeof(defdir), "%s/" AUDIT_EXPORT_DIR,
			 log->home);
		dir = defdir;
	}
	x.dir = dir;
	rc = export_open_dir(dir, &x.dfd);
	if (rc == 0)
		rc = audit_signer_pubkey(log->signer, &pk);
	if (rc == 0) {
		rc = audit_export_last(dir, pk, &last);
		if (rc == 0)
			rc = digest_check(last, pk, &x.prev, why, sizeof(why));
		x.prev_ok = rc == 0;
		if (rc == AL_E_NOTFOUND)
			rc = 0;
	}
	if (rc)
		goto out;

	x.n = x.prev_ok ? x.prev.n + 1 : 1;
	x.first = x.prev_ok ? x.prev.last_seq + 1 : 1;
	export_name(x.jsonl, sizeof(x.jsonl), x.n, false);
	export_name(x.digest, sizeof(x.digest), x.n, true);
	snprintf(x.tmp_jsonl, sizeof(x.tmp_jsonl), ".%s.tmp", x.jsonl);
	snprintf(x.tmp_digest, sizeof(x.tmp_digest), ".%s.tmp", x.digest);
	rc = export_txn(&x, actor ? actor : "system");
	if (rc == 0)
		rc = export_digest(&x);
	if (rc) {
		unlinkat(x.dfd, x.tmp_jsonl, 0);
		unlinkat(x.dfd, x.tmp_digest, 0);
		goto out;
	}
	info->n = x.n;
	info->first = x.first;
	info->last = x.last;
	al_strlcpy(info->file, x.jsonl, sizeof(info->file));
	al_strlcpy(info->digest, x.digest, sizeof(info->digest));
	al_info("audit", NULL, "exported n=%llu seq=%llu..%llu to %s",
		(unsigned long long)x.n, (unsigned long long)x.first,
		(unsigned long long)x.last, dir);
out:
	if (rc)
		al_error("audit", NULL, "%s: export failed: %s", dir,
			 al_strerror(rc));
	if (x.dfd >= 0)
		close(x.dfd);
	json_decref(x.cp);
	json_decref(last);
	audit_pubkey_free(pk);
	return rc;
}

/* Verification of a directory of exports. */
struct vx {
	const char *dir;
	const struct audit_pubkey *k;
	struct audit_report *r;
	struct audit_walk w;
	struct digest prev;
	bool prev_ok;
	struct audit_cp held;
	bool have_held, held_seen;
	EVP_MD_CTX *fh;  /* the file hash, reused per file */
	EVP_MD *md;
};

/*
 * The file's SHA-256 is computed in the same pass as the lines: every
 * 64 KiB of lines checked is fed to the file hash while it is still in
 * the cache, so each byte is read from memory once.
 */
#define VX_FILE_CHUNK (64 * 1024)

struct vx_file_sum {
	EVP_MD_CTX *ctx;   /* NULL: no digest to compare with */
	const char *done;  /* bytes before this are in the hash */
	bool failed;
};

static void vx_sum_to(struct vx_file_sum *fs, const char *upto)
{
	if (!fs->ctx || upto <= fs->done)
		return;
	if (EVP_DigestUpdate(fs->ctx, fs->done, (size_t)(upto - fs->done)) != 1)
		fs->failed = true;
	fs->done = upto;
}

/* Walk one export file's lines; first/last/count for the digest. */
static void vx_lines(struct vx *v, const char *name, const char *p,
		     size_t len, struct vx_file_sum *fs, uint64_t *count,
		     uint64_t *first, char *first_hash, uint64_t *last,
		     char *last_hash)
{
	const char *end = p + len;
	uint64_t line = 0;
	struct audit_line e;

	*count = *first = *last = 0;
	fs->done = p;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		line++;
		if (!nl)
			audit_report_add(v->r, name, line, 0, "last line has "
					 "no newline (file cut short)");
		bool ok = audit_walk_step(&v->w, v->r, name, line, 0, p, n, &e);
		if (e.hash) {
			if ((*count)++ == 0) {
				*first = e.seq;
				memcpy(first_hash, e.hash, AUDIT_HASH_HEX_LEN);
			}
			*last = e.seq;
			memcpy(last_hash, e.hash, AUDIT_HASH_HEX_LEN);
		}
		if (ok && v->have_held && e.seq == v->held.seq) {
			v->held_seen = true;
			if (memcmp(e.hash, v->held.head, 64) != 0)
				audit_report_add(v->r, name, line, e.seq,
						 "entry differs from the one "
						 "your checkpoint %llu pins",
						 (unsigned long long)v->held.n);
		}
		p += n + (nl ? 1 : 0);
		if (p - fs->done >= VX_FILE_CHUNK)
			vx_sum_to(fs, p);
	}
	vx_sum_to(fs, end);
}

/*
 * The file's hash on a second thread (internal.h): it needs nothing
 * from the lines, so the two hashes of every byte, the file's and its
 * entry's, run on two cores. The thread only reads the mapping, which
 * stays until it is joined.
 */
struct vx_sum_job {
	EVP_MD_CTX *ctx;
	const char *p;
	size_t len;
	bool failed;
};

static void *vx_sum_thread(void *arg)
{
	struct vx_sum_job *j = arg;

	j->failed = EVP_DigestUpdate(j->ctx, j->p, j->len) != 1;
	return NULL;
}

/*
 * Check the lines of p, hashing the file too when fs has a context:
 * on a second thread if one starts, else alongside the lines.
 */
static void vx_lines_sum(struct vx *v, const char *name, const char *p,
			 size_t len, struct vx_file_sum *fs, uint64_t *count,
			 uint64_t *first, char *first_hash, uint64_t *last,
			 char *last_hash)
{
	struct vx_sum_job job = { fs->ctx, p, len, false };
	struct vx_file_sum none = { 0 };
	pthread_t th;

	if (!fs->ctx || fs->failed || len == 0 || !audit_par_wanted() ||
	    audit_par_start(&th, vx_sum_thread, &job) != 0) {
		vx_lines(v, name, p, len, fs, count, first, first_hash, last,
			 last_hash);
		return;
	}
	vx_lines(v, name, p, len, &none, count, first, first_hash, last,
		 last_hash);
	pthread_join(th, NULL);
	fs->failed = job.failed;
}

/* Map and check one export's entries file against its digest. */
static void vx_file(struct vx *v, uint64_t n, const struct digest *d)
{
	char name[64], path[PATH_MAX], hex[AUDIT_HASH_HEX_LEN + 1];
	char fh[AUDIT_HASH_HEX_LEN + 1] = "", lh[AUDIT_HASH_HEX_LEN + 1] = "";
	struct vx_file_sum fs = { 0 };
	uint64_t count, first, last;
	unsigned char dig[32];
	unsigned dn = 0;
	struct stat st;
	void *map = NULL;
	int fd;

	export_name(name, sizeof(name), n, false);
	snprintf(path, sizeof(path), "%s/%s", v->dir, name);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		audit_report_add(v->r, name, 0, v->w.next, "missing or not a "
				 "regular file (%s)", strerror(errno));
		v->w.linked = false;
		if (fd >= 0)
			close(fd);
		return;
	}
	if (st.st_size > 0)
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd,
			   0);
	close(fd);
	if (map == MAP_FAILED) {
		audit_report_add(v->r, name, 0, 0, "cannot read: %s",
				 strerror(errno));
		return;
	}
	if (map)
		madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
	if (d) {
		fs.ctx = v->fh;
		fs.failed = EVP_DigestInit_ex(fs.ctx, v->md, NULL) != 1;
	}
	vx_lines_sum(v, name, map ? map : "", (size_t)st.st_size, &fs, &count,
		     &first, fh, &last, lh);
	if (map)
		munmap(map, (size_t)st.st_size);
	if (!d)
		return;
	if (!fs.failed && EVP_DigestFinal_ex(fs.ctx, dig, &dn) == 1 && dn == 32)
		al_hex(hex, dig, 32);
	else
		snprintf(hex, sizeof(hex), "%s", "(SHA-256 failed)");
	if (strcmp(hex, d->sha256) || (uint64_t)st.st_size != d->bytes)
		audit_report_add(v->r, name, 0, 0, "file differs from what its "
				 "signed digest names (SHA-256 or size): lines "
				 "below say where");
	if (count != d->count || first != d->first_seq ||
	    strcmp(fh, d->first_hash))
		audit_report_add(v->r, name, 1, d->first_seq, "first entry or "
				 "count differs from the signed digest (signed: "
				 "%llu entries from seq %llu)",
				 (unsigned long long)d->count,
				 (unsigned long long)d->first_seq);
	if (last != d->last_seq || strcmp(lh, d->last_hash))
		audit_report_add(v->r, name, count, d->last_seq, "last entry "
				 "differs from the signed digest (signed: seq "
				 "%llu); entries were replaced, removed or "
				 "re-chained", (unsigned long long)d->last_seq);
}

/* Digest n: signature, numbering, links to the export before it. */
static bool vx_digest(struct vx *v, uint64_t n, struct digest *d)
{
	char name[64], want[64], why[256];
	json_t *o = NULL;
	int rc = read_digest(v->dir, n, &o);

	export_name(name, sizeof(name), n, true);
	if (rc) {
		audit_report_add(v->r, name, 0, 0, "%s", rc == AL_E_NOTFOUND
				 ? "missing: an export was removed"
				 : "not a JSON digest");
		json_decref(o);
		return false;
	}
	rc = digest_check(o, v->k, d, why, sizeof(why));
	json_decref(o);
	if (rc) {
		audit_report_add(v->r, name, 0, 0, "%s", why);
		return false;
	}
	export_name(want, sizeof(want), n, false);
	if (d->n != n || strcmp(d->file, want))
		audit_report_add(v->r, name, 0, d->first_seq, "says it is export "
				 "%llu (%s): an export replaced by another",
				 (unsigned long long)d->n, d->file);
	if (v->prev_ok && strcmp(d->prev, v->prev.hash))
		audit_report_add(v->r, name, 0, d->first_seq, "does not link to "
				 "the previous digest");
	if (!v->prev_ok && n == 1 && strcmp(d->prev, AUDIT_ZERO_HASH))
		audit_report_add(v->r, name, 0, 0, "first export links to a "
				 "previous one");
	if (d->cp.seq != d->last_seq || strcmp(d->cp.head, d->last_hash))
		audit_report_add(v->r, name, 0, d->last_seq, "its checkpoint "
				 "does not pin its last entry");
	if (v->prev_ok && d->cp.n <= v->prev.cp.n)
		audit_report_add(v->r, name, 0, d->first_seq, "its checkpoint "
				 "%llu is not newer than the previous export's "
				 "%llu (an older export put in its place)",
				 (unsigned long long)d->cp.n,
				 (unsigned long long)v->prev.cp.n);
	return true;
}

/* Exports from..to of dir, in order; see audit_verify_exports. */
static int vx_run(const char *dir, uint64_t from, uint64_t to,
		  const struct audit_pubkey *k, const json_t *held,
		  struct audit_report *r)
{
	struct vx v = { .dir = dir, .k = k, .r = r };
	char why[512];
	int rc = audit_hasher_init(&v.w.h);

	if (rc)
		return rc;
	v.md = v.w.h.md;
	v.fh = EVP_MD_CTX_new();
	if (!v.fh) {
		audit_hasher_free(&v.w.h);
		return -ENOMEM;
	}
	/* A run that starts after export 1 has no link to check its first
	 * entry against: the walk starts at whatever that entry says. */
	v.w.next = from == 1 ? 1 : 0;
	v.w.linked = from == 1;
	memcpy(v.w.prev, AUDIT_ZERO_HASH, sizeof(v.w.prev));
	if (held) {
		const json_t *cp = json_object_get(held, "checkpoint");
		rc = audit_cp_check(cp ? cp : held, k, &v.held, why,
				    sizeof(why));
		if (rc)
			audit_report_add(r, NULL, 0, 0, "your checkpoint: %s",
					 why);
		v.have_held = rc == 0;
		v.held_seen = v.held.seq == 0;
		rc = 0;
	}
	if (to == 0)
		audit_report_add(r, NULL, 0, 0, "%s holds no exports", dir);

	for (uint64_t n = from; n && n <= to; n++) {
		struct digest d = { 0 };
		bool ok = vx_digest(&v, n, &d);
		if (ok && v.w.next == 0)
			v.w.next = d.first_seq;
		vx_file(&v, n, ok ? &d : NULL);
		r->exports++;
		v.prev = d;
		v.prev_ok = ok;
	}
	if (v.have_held && !v.held_seen)
		audit_report_add(r, NULL, 0, v.w.next, "the exports end at seq "
				 "%llu but your checkpoint %llu (%s) pins seq "
				 "%llu: newer exports were removed, or older "
				 "ones put in their place",
				 (unsigned long long)(v.w.next - 1),
				 (unsigned long long)v.held.n, v.held.time,
				 (unsigned long long)v.held.seq);
	if (v.have_held && v.prev_ok && v.prev.cp.n < v.held.n)
		audit_report_add(r, NULL, 0, 0, "the newest export's "
				 "checkpoint is %llu, older than your %llu",
				 (unsigned long long)v.prev.cp.n,
				 (unsigned long long)v.held.n);
	EVP_MD_CTX_free(v.fh);
	audit_hasher_free(&v.w.h);
	return r->nproblems ? AL_E_CHAIN : 0;
}

int audit_verify_exports(const char *dir, const struct audit_pubkey *k,
			 const json_t *held, struct audit_report *r)
{
	uint64_t maxd, maxn;
	int rc = export_scan(dir, &maxd, &maxn);

	memset(r, 0, sizeof(*r));
	if (rc) {
		al_error("audit", NULL, "%s: %s", dir, al_strerror(rc));
		return rc;
	}
	return vx_run(dir, 1, maxn, k, held, r);
}

int audit_verify_export_files(const char *const *paths, size_t npaths,
			      const struct audit_pubkey *k,
			      const json_t *held, struct audit_report *r)
{
	char dir[PATH_MAX] = "", cur[PATH_MAX];
	uint64_t from = 0, to = 0;
	bool digest;

	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < npaths; i++) {
		const char *slash = strrchr(paths[i], '/');
		const char *base = slash ? slash + 1 : paths[i];
		size_t dlen = slash ? (size_t)(slash - paths[i]) : 0;
		uint64_t n = 0;

		if (strlen(base) >= 8)
			n = export_parse_name(base, &digest);
		if (!n || dlen >= sizeof(cur)) {
			al_error("audit", NULL, "%s: not an export file "
				 "(NNNNNNNN.jsonl or NNNNNNNN.digest.json)",
				 paths[i]);
			return AL_E_USAGE;
		}
		if (!slash)
			snprintf(cur, sizeof(cur), ".");
		else if (dlen == 0)
			snprintf(cur, sizeof(cur), "/");
		else
			snprintf(cur, sizeof(cur), "%.*s", (int)dlen, paths[i]);
		if (i && strcmp(cur, dir)) {
			al_error("audit", NULL, "%s: every export file must be "
				 "in one directory (the first is in %s)",
				 paths[i], dir);
			return AL_E_USAGE;
		}
		memcpy(dir, cur, sizeof(dir));
		from = !from || n < from ? n : from;
		to = n > to ? n : to;
	}
	if (!npaths)
		return AL_E_USAGE;
	return vx_run(dir, from, to, k, held, r);
}
