/*
 * store.c - LMDB environment, transactions and sealed JSON records.
 */
#include "store/store.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "seal/seal.h"

/* Room for the databases of DESIGN.md and a few more added later. */
#define STORE_MAX_DBS 16

struct store {
	MDB_env *env;
	MDB_dbi dbi[STORE_DB__COUNT];
	struct seal_key key;
	char dbdir[PATH_MAX];
	bool fresh; /* neither data nor key existed: a new store */
};

struct store_txn {
	struct store *st;
	MDB_txn *txn;
};

struct store_cursor {
	struct store_txn *txn;
	enum store_db db;
	MDB_cursor *cur;
	MDB_cursor_op op;
	json_t *value;
	bool past_end; /* a seek found nothing */
};

static const char *const store_db_names[] = {
#define STORE_X_NAME(e, name) name,
	STORE_DB_TABLE(STORE_X_NAME)
#undef STORE_X_NAME
};

const char *store_db_name(enum store_db db)
{
	if ((unsigned)db >= STORE_DB__COUNT)
		return NULL;
	return store_db_names[db];
}

/*
 * LMDB returns errno values (positive) and its own codes (negative, in
 * its reserved range); map both onto airlock's convention.
 */
static int store_err(int mrc, const char *what)
{
	switch (mrc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return AL_E_NOTFOUND;
	case MDB_KEYEXIST:
		return AL_E_EXISTS;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
		al_error("store", NULL, "%s: %s", what, mdb_strerror(mrc));
		return AL_E_LIMIT;
	default:
		break;
	}
	al_error("store", NULL, "%s: %s", what, mdb_strerror(mrc));
	return mrc > 0 ? -mrc : AL_E_STORE;
}

/* Make (if asked) and check a private directory; symlinks refused. */
static int store_dir(const char *path, bool create)
{
	struct stat st;

	if (create && mkdir(path, 0700) < 0 && errno != EEXIST) {
		al_error("store", NULL, "%s: cannot create directory: %s", path,
			 strerror(errno));
		return -errno;
	}
	if (lstat(path, &st) < 0) {
		int rc = errno == ENOENT ? AL_E_NOTFOUND : -errno;
		al_error("store", NULL, "%s: %s", path, strerror(errno));
		return rc;
	}
	if (!S_ISDIR(st.st_mode)) {
		al_error("store", NULL, "%s: expected a directory, not a "
			 "symlink or file; refusing it", path);
		return AL_E_UNSAFE;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		al_warn("store", NULL, "%s: writable by group or others "
			"(mode %04o); expected 0700", path,
			(unsigned)(st.st_mode & 07777));
	return 0;
}

static int store_exists(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		return 0;
	al_error("store", NULL, "%s: %s", path, strerror(errno));
	return errno == ENOENT ? AL_E_NOTFOUND : -errno;
}

static int store_path(char *out, size_t outsz, const char *home,
		      const char *rel)
{
	if ((size_t)snprintf(out, outsz, "%s/%s", home, rel) >= outsz) {
		al_error("store", NULL, "%s: home path too long", home);
		return -ENAMETOOLONG;
	}
	return 0;
}

/*
 * The data and its key exist together or not at all. A store whose file
 * vanished or was emptied while its key stayed is not a new store: making
 * one would silently restart the audit chain, which is what someone
 * erasing the record wants. A store whose key vanished cannot be opened,
 * and a new key must not be written beside it.
 */
static int store_pair_check(const char *data, const char *keyfile,
			    bool *fresh)
{
	struct stat ds, ks;
	bool have_data = lstat(data, &ds) == 0 && ds.st_size > 0;
	bool have_key = lstat(keyfile, &ks) == 0;

	*fresh = !have_data && !have_key;
	if (have_data && !have_key) {
		al_error("store", NULL, "%s: the data key is missing for an "
			 "existing store; refusing to open it or to make a "
			 "new key", keyfile);
		return AL_E_AUTH;
	}
	if (have_key && !have_data) {
		al_error("store", NULL, "%s is missing or empty but its key "
			 "%s exists: the store was removed or truncated. "
			 "Refusing to start a new audit chain (restore the "
			 "file, or remove the key too to start afresh)",
			 data, keyfile);
		return AL_E_STORE;
	}
	return 0;
}

/* Directories and key, created or merely checked. */
static int store_prepare(struct store *st, const char *home, bool create)
{
	char keys[PATH_MAX], keyfile[PATH_MAX], data[PATH_MAX];
	int rc;

	if (create && (rc = al_mkdir_p(home, 0700)) != 0) {
		al_error("store", NULL, "%s: cannot create home: %s", home,
			 al_strerror(rc));
		return rc;
	}
	if ((rc = store_path(st->dbdir, sizeof(st->dbdir), home, "db")) ||
	    (rc = store_path(keys, sizeof(keys), home, "keys")) ||
	    (rc = store_path(keyfile, sizeof(keyfile), home, "keys/data.key")) ||
	    (rc = store_path(data, sizeof(data), home, "db/data.mdb")))
		return rc;

	if ((rc = store_dir(st->dbdir, create)) ||
	    (rc = store_dir(keys, create)))
		return rc;
	if (!create && ((rc = store_exists(data)) || (rc = store_exists(keyfile))))
		return rc;
	rc = store_pair_check(data, keyfile, &st->fresh);
	if (rc)
		return rc;
	return seal_key_load_or_create(keyfile, &st->key);
}

/*
 * Check a raw meta scalar, writing it when absent: the schema version and
 * the data key id are fixed when the store is created.
 */
static int store_meta_pin(struct store_txn *txn, const char *name,
			  const char *want, int mismatch)
{
	struct al_buf have = { 0 };
	int rc = store_get_raw(txn, STORE_DB_META, name, strlen(name), &have);

	if (rc == AL_E_NOTFOUND && !txn->st->fresh) {
		al_error("store", NULL, "%s: meta %s is missing from an "
			 "existing store: it was replaced or damaged; refusing "
			 "to start a new audit chain", txn->st->dbdir, name);
		rc = AL_E_STORE;
		goto out;
	}
	if (rc == AL_E_NOTFOUND) {
		rc = store_put_raw(txn, STORE_DB_META, name, strlen(name), want,
				   strlen(want));
		goto out;
	}
	if (rc)
		goto out;
	if (have.len != strlen(want) || memcmp(have.p, want, have.len) != 0) {
		al_sanitize_buf(have.p, have.len, false);
		al_error("store", NULL, "%s: meta %s is \"%.*s\", expected "
			 "\"%s\"", txn->st->dbdir, name, (int)have.len, have.p,
			 want);
		rc = mismatch;
	}
out:
	al_buf_free(&have);
	return rc;
}

static int store_init_dbs(struct store *st)
{
	struct store_txn *txn = NULL;
	char ver[16], kid[2 * SEAL_KEY_ID_LEN + 1];
	int rc = store_txn_begin(st, true, &txn);

	if (rc)
		return rc;
	for (int i = 0; i < STORE_DB__COUNT; i++) {
		int mrc = mdb_dbi_open(txn->txn, store_db_names[i], MDB_CREATE,
				       &st->dbi[i]);
		if (mrc) {
			rc = store_err(mrc, store_db_names[i]);
			goto out;
		}
	}

	snprintf(ver, sizeof(ver), "%d", STORE_SCHEMA_VERSION);
	seal_key_id_hex(&st->key, kid);
	rc = store_meta_pin(txn, STORE_META_SCHEMA, ver, AL_E_STORE);
	if (rc == 0)
		rc = store_meta_pin(txn, STORE_META_KEY_ID, kid, AL_E_AUTH);
out:
	if (rc == 0)
		return store_txn_commit(txn);
	store_txn_abort(txn);
	return rc;
}

/*
 * LMDB maps the file and trusts it: pages beyond a truncated file's end
 * fault with SIGBUS on first touch. Compare the size the meta page
 * records with the file before reading any page.
 */
static int store_size_check(struct store *st)
{
	char path[PATH_MAX + 16];
	MDB_envinfo info;
	MDB_stat ms;
	struct stat fs;

	snprintf(path, sizeof(path), "%s/data.mdb", st->dbdir);
	if (mdb_env_info(st->env, &info) || mdb_env_stat(st->env, &ms) ||
	    stat(path, &fs) < 0)
		return AL_E_STORE;
	uint64_t need = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
	if ((uint64_t)fs.st_size < need) {
		al_error("store", NULL, "%s: %lld bytes, but its pages reach "
			 "%llu: the file is truncated (a full disk or a partial "
			 "copy); restore it from a backup", path,
			 (long long)fs.st_size, (unsigned long long)need);
		return AL_E_STORE;
	}
	return 0;
}

/* An exclusive flock on HOME/.store-open.lock; the descriptor or -errno. */
static int store_open_lock(const char *home, bool create)
{
	char path[PATH_MAX];
	int fd;

	struct stat st;

	if (create) {
		int rc = al_mkdir_p(home, 0700);
		if (rc)
			return rc;
	} else if (stat(home, &st) < 0) {
		al_error("store", NULL, "%s: %s", home, strerror(errno));
		return errno == ENOENT ? AL_E_NOTFOUND : -errno;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/.store-open.lock",
			     home) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		int rc = -errno;
		al_error("store", NULL, "%s: %s", path, strerror(errno));
		return rc;
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int rc = -errno;
			close(fd);
			return rc;
		}
	}
	return fd;
}

static int store_open_mode(const char *home, bool create,
			   struct store **out)
{
	struct store *st = NULL;
	int mrc, rc, lockfd = -1;

	*out = NULL;
	if (!home || !*home)
		return AL_E_USAGE;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	/*
	 * Processes opening one home at once serialise here, so that one
	 * never sees the other's key without its data (store_pair_check).
	 */
	lockfd = store_open_lock(home, create);
	if (lockfd < 0) {
		rc = lockfd;
		goto out;
	}
	rc = store_prepare(st, home, create);
	if (rc)
		goto out;

	/*
	 * MDB_NOTLS: read transactions are not bound to thread-local slots,
	 * so a daemon's worker threads can share one environment (see the
	 * header). LMDB opens its files with O_CLOEXEC itself.
	 */
	if ((mrc = mdb_env_create(&st->env)) ||
	    (mrc = mdb_env_set_maxdbs(st->env, STORE_MAX_DBS)) ||
	    (mrc = mdb_env_set_mapsize(st->env, STORE_MAP_SIZE)) ||
	    (mrc = mdb_env_open(st->env, st->dbdir, MDB_NOTLS, 0600))) {
		rc = store_err(mrc, st->dbdir);
		goto out;
	}
	/* Free reader slots left by processes that died mid-read. */
	int dead = 0;
	mdb_reader_check(st->env, &dead);
	if (dead)
		al_warn("store", NULL, "%s: cleared %d stale reader slots",
			st->dbdir, dead);
	rc = store_size_check(st);
	if (rc == 0)
		rc = store_init_dbs(st);
out:
	if (lockfd >= 0)
		close(lockfd); /* releases the flock */
	if (rc) {
		store_close(st);
		return rc;
	}
	*out = st;
	return 0;
}

int store_open(const char *home, struct store **out)
{
	return store_open_mode(home, true, out);
}

int store_open_existing(const char *home, struct store **out)
{
	return store_open_mode(home, false, out);
}

void store_close(struct store *st)
{
	if (!st)
		return;
	if (st->env)
		mdb_env_close(st->env);
	seal_key_wipe(&st->key);
	free(st);
}

void store_key_id_hex(const struct store *st, char *out)
{
	seal_key_id_hex(&st->key, out);
}

int store_txn_begin(struct store *st, bool write, struct store_txn **out)
{
	struct store_txn *txn = calloc(1, sizeof(*txn));
	int mrc;

	*out = NULL;
	if (!txn)
		return -ENOMEM;
	txn->st = st;
	mrc = mdb_txn_begin(st->env, NULL, write ? 0 : MDB_RDONLY, &txn->txn);
	if (mrc) {
		free(txn);
		return store_err(mrc, st->dbdir);
	}
	*out = txn;
	return 0;
}

int store_txn_commit(struct store_txn *txn)
{
	int rc = store_err(mdb_txn_commit(txn->txn), txn->st->dbdir);

	free(txn);
	return rc;
}

void store_txn_abort(struct store_txn *txn)
{
	if (!txn)
		return;
	mdb_txn_abort(txn->txn);
	free(txn);
}

struct store *store_txn_store(struct store_txn *txn)
{
	return txn->st;
}

static int store_check(enum store_db db, size_t keylen)
{
	if ((unsigned)db >= STORE_DB__COUNT)
		return AL_E_USAGE;
	if (keylen == 0 || keylen > STORE_KEY_MAX)
		return AL_E_LIMIT;
	return 0;
}

int store_put_raw(struct store_txn *txn, enum store_db db, const void *key,
		  size_t keylen, const void *val, size_t vallen)
{
	MDB_val k = { keylen, (void *)key }, v = { vallen, (void *)val };
	int rc = store_check(db, keylen);

	if (rc)
		return rc;
	return store_err(mdb_put(txn->txn, txn->st->dbi[db], &k, &v, 0),
			 store_db_names[db]);
}

static int store_get_mdb(struct store_txn *txn, enum store_db db,
			 const void *key, size_t keylen, MDB_val *v)
{
	MDB_val k = { keylen, (void *)key };
	int rc = store_check(db, keylen);
	int mrc;

	if (rc)
		return rc;
	mrc = mdb_get(txn->txn, txn->st->dbi[db], &k, v);
	if (mrc == MDB_NOTFOUND)
		return AL_E_NOTFOUND;
	return store_err(mrc, store_db_names[db]);
}

int store_get_raw(struct store_txn *txn, enum store_db db, const void *key,
		  size_t keylen, struct al_buf *out)
{
	MDB_val v;
	int rc = store_get_mdb(txn, db, key, keylen, &v);

	out->len = 0;
	if (rc)
		return rc;
	return al_buf_append(out, v.mv_data, v.mv_size);
}

int store_del(struct store_txn *txn, enum store_db db, const void *key,
	      size_t keylen)
{
	MDB_val k = { keylen, (void *)key };
	int rc = store_check(db, keylen);
	int mrc;

	if (rc)
		return rc;
	mrc = mdb_del(txn->txn, txn->st->dbi[db], &k, NULL);
	if (mrc == MDB_NOTFOUND)
		return AL_E_NOTFOUND;
	return store_err(mrc, store_db_names[db]);
}

int store_put_sealed(struct store_txn *txn, enum store_db db, const void *key,
		     size_t keylen, const void *plain, size_t len,
		     unsigned flags)
{
	struct al_buf sealed = { 0 };
	MDB_val k = { keylen, (void *)key }, v;
	int rc = store_check(db, keylen);

	if (rc == 0 && len > STORE_VALUE_MAX)
		rc = AL_E_LIMIT;
	if (rc == 0)
		rc = seal_value(&txn->st->key, store_db_names[db], key, keylen,
				plain, len, &sealed);
	if (rc)
		goto out;
	v.mv_size = sealed.len;
	v.mv_data = sealed.p;
	rc = store_err(mdb_put(txn->txn, txn->st->dbi[db], &k, &v,
			       (flags & STORE_NOOVERWRITE) ? MDB_NOOVERWRITE
							   : 0),
		       store_db_names[db]);
out:
	al_buf_free(&sealed);
	return rc;
}

int store_put_json(struct store_txn *txn, enum store_db db, const void *key,
		   size_t keylen, const json_t *value, unsigned flags)
{
	struct al_buf sealed = { 0 };
	char *plain = NULL;
	size_t plen = 0;
	MDB_val k = { keylen, (void *)key }, v;
	int rc = store_check(db, keylen);

	if (rc)
		goto out;
	plain = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS);
	if (!plain) {
		rc = AL_E_PARSE;
		goto out;
	}
	plen = strlen(plain);
	if (plen > STORE_VALUE_MAX) {
		rc = AL_E_LIMIT;
		goto out;
	}

	rc = seal_value(&txn->st->key, store_db_names[db], key, keylen, plain,
			plen, &sealed);
	if (rc)
		goto out;
	v.mv_size = sealed.len;
	v.mv_data = sealed.p;
	rc = store_err(mdb_put(txn->txn, txn->st->dbi[db], &k, &v,
			       (flags & STORE_NOOVERWRITE) ? MDB_NOOVERWRITE
							   : 0),
		       store_db_names[db]);
out:
	if (plain) {
		explicit_bzero(plain, plen);
		free(plain);
	}
	al_buf_free(&sealed);
	return rc;
}

/* Unseal and parse one stored value; the plaintext is wiped after. */
static int store_unseal(struct store *st, enum store_db db, const void *key,
			size_t keylen, const MDB_val *v, json_t **out)
{
	struct al_buf plain = { 0 };
	json_error_t jerr;
	int rc = seal_open(&st->key, store_db_names[db], key, keylen,
			   v->mv_data, v->mv_size, &plain);

	*out = NULL;
	if (rc)
		goto out;
	*out = json_loadb(plain.p, plain.len, JSON_REJECT_DUPLICATES, &jerr);
	if (!*out)
		rc = AL_E_PARSE;
out:
	if (plain.p)
		explicit_bzero(plain.p, plain.cap);
	al_buf_free(&plain);
	return rc;
}

int store_get_json(struct store_txn *txn, enum store_db db, const void *key,
		   size_t keylen, json_t **out)
{
	MDB_val v;
	int rc = store_get_mdb(txn, db, key, keylen, &v);

	*out = NULL;
	if (rc)
		return rc;
	return store_unseal(txn->st, db, key, keylen, &v, out);
}

int store_cursor_open(struct store_txn *txn, enum store_db db,
		      struct store_cursor **out)
{
	struct store_cursor *c;
	int mrc;

	*out = NULL;
	if ((unsigned)db >= STORE_DB__COUNT)
		return AL_E_USAGE;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	mrc = mdb_cursor_open(txn->txn, txn->st->dbi[db], &c->cur);
	if (mrc) {
		free(c);
		return store_err(mrc, store_db_names[db]);
	}
	c->txn = txn;
	c->db = db;
	c->op = MDB_FIRST;
	*out = c;
	return 0;
}

int store_cursor_next(struct store_cursor *cur, const void **key,
		      size_t *keylen, json_t **value)
{
	MDB_val k, v;
	int mrc = cur->past_end ? MDB_NOTFOUND
				: mdb_cursor_get(cur->cur, &k, &v, cur->op);

	json_decref(cur->value);
	cur->value = NULL;
	if (value)
		*value = NULL;
	if (mrc == MDB_NOTFOUND)
		return AL_E_NOTFOUND;
	if (mrc)
		return store_err(mrc, store_db_names[cur->db]);
	cur->op = MDB_NEXT;

	*key = k.mv_data;
	*keylen = k.mv_size;
	if (!value)
		return 0;
	int rc = store_unseal(cur->txn->st, cur->db, k.mv_data, k.mv_size, &v,
			      &cur->value);
	*value = cur->value;
	return rc;
}

int store_cursor_next_plain(struct store_cursor *cur, const void **key,
			    size_t *keylen, struct al_buf *plain)
{
	MDB_val k, v;
	int mrc = cur->past_end ? MDB_NOTFOUND
				: mdb_cursor_get(cur->cur, &k, &v, cur->op);
	int rc;

	plain->len = 0;
	if (mrc == MDB_NOTFOUND)
		return AL_E_NOTFOUND;
	if (mrc)
		return store_err(mrc, store_db_names[cur->db]);
	cur->op = MDB_NEXT;
	*key = k.mv_data;
	*keylen = k.mv_size;
	rc = seal_open(&cur->txn->st->key, store_db_names[cur->db], k.mv_data,
		       k.mv_size, v.mv_data, v.mv_size, plain);
	if (rc)
		plain->len = 0;
	return rc;
}

int store_cursor_seek(struct store_cursor *cur, const void *key,
		      size_t keylen)
{
	MDB_val k = { keylen, (void *)key }, v;
	int mrc = mdb_cursor_get(cur->cur, &k, &v, MDB_SET_RANGE);

	cur->past_end = mrc == MDB_NOTFOUND;
	cur->op = MDB_GET_CURRENT;
	if (mrc && mrc != MDB_NOTFOUND)
		return store_err(mrc, store_db_names[cur->db]);
	return 0;
}

int store_cursor_last(struct store_cursor *cur)
{
	cur->op = MDB_LAST;
	return 0;
}

void store_cursor_close(struct store_cursor *cur)
{
	if (!cur)
		return;
	json_decref(cur->value);
	mdb_cursor_close(cur->cur);
	free(cur);
}

int store_foreach(struct store_txn *txn, enum store_db db,
		  int (*cb)(void *ctx, const void *key, size_t keylen,
			    json_t *value),
		  void *ctx)
{
	struct store_cursor *cur = NULL;
	const void *key = NULL;
	size_t keylen = 0;
	json_t *value;
	int rc = store_cursor_open(txn, db, &cur);

	while (rc == 0) {
		rc = store_cursor_next(cur, &key, &keylen, &value);
		if (rc == 0)
			rc = cb(ctx, key, keylen, value);
	}
	if (rc == AL_E_NOTFOUND)
		rc = 0;
	store_cursor_close(cur);
	return rc;
}
