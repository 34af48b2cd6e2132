/*
 * store.c - LMDB environment, opening and start-up checks, transactions,
 * map growth, and sealed JSON records.
 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "store/internal.h"
#include "store/keys.h"

/* Room for the databases of DESIGN.md and a few more added later. */
#define STORE_MAX_DBS 16
/*
 * Free room a write transaction should find in the map: twice the
 * largest value (a value rewritten is copied before the old pages are
 * freed) plus slack for the tree pages and version entries it touches.
 */
#define STORE_HEADROOM (2 * STORE_VALUE_MAX + ((size_t)1 << 20))

/* How much of a record a walk asks the CPU to load ahead. */
#define STORE_PREFETCH_MAX 2048

struct store_cursor {
	struct store_txn *txn;
	enum store_db db;
	MDB_cursor *cur;
	MDB_cursor_op op;
	MDB_cursor_op back; /* the next store_cursor_prev's step */
	json_t *value;
	bool past_end; /* a seek found nothing */
	/*
	 * Read-only walks look up each record's version entry with a
	 * second cursor that steps along "versions" beside the first: the
	 * entries of one database lie in the same order as its records,
	 * so the next entry is almost always the one wanted, and stepping
	 * to it is much cheaper than a lookup from the root. A step that
	 * lands elsewhere falls back to the lookup, so the answer is the
	 * same either way.
	 */
	MDB_cursor *vcur;
	bool vcur_on; /* vcur sits on an entry */
	/*
	 * Read-only walks also step one record ahead and ask the CPU to
	 * load it while the caller works on the current one: records come
	 * back in key order, but LMDB lays out a page's records from its
	 * end, so the hardware's own prefetching does not see a stream, and
	 * a record's bytes otherwise arrive one cache miss at a time. A
	 * read-only transaction's values stay where they are until it ends.
	 */
	bool ahead;
	int ahead_rc;
	MDB_val ak, av;
	/* store_cursor_bound: steps stop before this key (0: no bound). */
	size_t boundlen;
	uint8_t bound[STORE_KEY_MAX];
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
int store_err(int mrc, const char *what)
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

void store_rkey_name(enum store_db db, const void *key, size_t keylen,
		     char *out, size_t outsz)
{
	const uint8_t *k = key;
	char hex[2 * 32 + 1];
	bool text = keylen > 0 && keylen <= 64;

	if (db == STORE_DB_AUDIT && keylen == 8) {
		snprintf(out, outsz, "audit seq %llu",
			 (unsigned long long)store_get_be64(k));
		return;
	}
	for (size_t i = 0; text && i < keylen; i++)
		text = k[i] > 0x20 && k[i] < 0x7f;
	if (text) {
		snprintf(out, outsz, "%s/%.*s", store_db_name(db), (int)keylen,
			 (const char *)k);
		return;
	}
	al_hex(hex, k, keylen < 32 ? keylen : 32);
	snprintf(out, outsz, "%s/0x%s%s", store_db_name(db), hex,
		 keylen > 32 ? "..." : "");
}

/*
 * Make (if asked) and check a private directory; symlinks refused. keys/
 * must not be writable by anyone else: whoever can write there can
 * replace the master key file or plant one for a new store.
 */
static int store_dir(const char *path, bool create, bool strict)
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
	if (!(st.st_mode & (S_IWGRP | S_IWOTH)))
		return 0;
	if (strict) {
		al_error("store", NULL, "%s: writable by group or others (mode "
			 "%04o); expected 0700, refusing it", path,
			 (unsigned)(st.st_mode & 07777));
		return AL_E_UNSAFE;
	}
	al_warn("store", NULL, "%s: writable by group or others (mode %04o); "
		"expected 0700", path, (unsigned)(st.st_mode & 07777));
	return 0;
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
 * The data and its keys exist together or not at all. A store whose file
 * vanished or was emptied while a key stayed is not a new store: making
 * one would silently restart the audit chain, which is what someone
 * erasing the record wants. A store whose keys vanished cannot be
 * opened, and no new key may be written beside it.
 */
static int store_pair_check(struct store *st, bool create)
{
	char data[PATH_MAX], master[PATH_MAX], legacy[PATH_MAX];
	struct stat sb;
	bool have_data, have_master, have_legacy;
	int rc;

	if ((rc = store_path(data, sizeof(data), st->home, "db/data.mdb")) ||
	    (rc = store_path(master, sizeof(master), st->home,
			     STORE_MASTER_KEY)) ||
	    (rc = store_path(legacy, sizeof(legacy), st->home,
			     STORE_LEGACY_KEY)))
		return rc;
	have_data = lstat(data, &sb) == 0 && sb.st_size > 0;
	have_master = lstat(master, &sb) == 0;
	have_legacy = lstat(legacy, &sb) == 0;

	if (!have_data && (have_master || have_legacy)) {
		al_error("store", NULL, "%s is missing or empty but its key "
			 "%s exists: the store was removed or truncated. "
			 "Refusing to start a new audit chain (restore the "
			 "file, or remove the keys too to start afresh)", data,
			 have_master ? master : legacy);
		return AL_E_STORE;
	}
	if (!have_data && !create) {
		al_error("store", NULL, "%s: no store here", data);
		return AL_E_NOTFOUND;
	}
	if (have_data && !have_master && !have_legacy) {
		al_error("store", NULL, "%s: the master key is missing for an "
			 "existing store; refusing to open it or to make a new "
			 "key (restore the key file from its backup)", master);
		return AL_E_AUTH;
	}
	st->fresh = !have_data;
	return 0;
}

/* Directories and the check that data and keys go together. */
static int store_prepare(struct store *st, bool create)
{
	char keys[PATH_MAX];
	int rc;

	if (create && (rc = al_mkdir_p(st->home, 0700)) != 0) {
		al_error("store", NULL, "%s: cannot create home: %s", st->home,
			 al_strerror(rc));
		return rc;
	}
	if ((rc = store_path(st->dbdir, sizeof(st->dbdir), st->home, "db")) ||
	    (rc = store_path(keys, sizeof(keys), st->home, "keys")))
		return rc;
	if ((rc = store_dir(st->dbdir, create, false)) ||
	    (rc = store_dir(keys, create, true)))
		return rc;
	return store_pair_check(st, create);
}

/*
 * Load the master key. It is created only for a new store or one being
 * migrated (may_create); for an existing store a missing key stops the
 * open: a new key could not open the ring, and writing one would hide
 * that the real key was lost.
 */
int store_master_get(struct store *st, bool may_create)
{
	char path[PATH_MAX];
	int rc = store_path(path, sizeof(path), st->home, STORE_MASTER_KEY);

	if (rc)
		return rc;
	rc = seal_key_load(path, SEAL_KEY_MASTER, &st->master);
	if (rc == -ENOENT && may_create) {
		rc = seal_key_create(path, SEAL_KEY_MASTER, &st->master);
		st->master_created = rc == 0;
	} else if (rc == -ENOENT) {
		al_error("store", NULL, "%s: the master key is missing; it "
			 "seals this store's key ring, so the store cannot be "
			 "opened without it (restore it from its backup)",
			 path);
		rc = AL_E_AUTH;
	}
	return rc;
}

int store_ring_write(struct store_txn *txn, const struct seal_ring *r)
{
	struct al_buf sealed = { 0 };
	MDB_val k = { strlen(STORE_META_KEYRING), STORE_META_KEYRING }, v;
	int rc = seal_ring_wrap(r, &txn->st->master, &sealed);

	if (rc == 0) {
		v = (MDB_val){ sealed.len, sealed.p };
		rc = store_err(mdb_put(txn->txn, txn->st->dbi[STORE_DB_META],
				       &k, &v, 0), "meta/keyring");
	}
	al_buf_free(&sealed);
	return rc;
}

/* Read the ring as this transaction sees it and adopt it if newer. */
int store_ring_reload(struct store_txn *txn)
{
	struct store *st = txn->st;
	struct seal_ring *r = calloc(1, sizeof(*r));
	MDB_val k = { strlen(STORE_META_KEYRING), STORE_META_KEYRING }, v;
	char have[SEAL_KEY_ID_HEX], want[SEAL_KEY_ID_HEX];
	struct seal_header h;
	int wrong = 0, mrc, rc;

	if (!r)
		return -ENOMEM;
	mrc = mdb_get(txn->txn, st->dbi[STORE_DB_META], &k, &v);
	if (mrc == MDB_NOTFOUND) {
		al_error("store", NULL, "%s: meta keyring is missing: the "
			 "store was damaged or its meta records replaced",
			 st->dbdir);
		rc = AL_E_STORE;
		goto out;
	}
	if ((rc = store_err(mrc, "meta/keyring")))
		goto out;

	rc = seal_ring_unwrap(&st->master, v.mv_data, v.mv_size, r, &wrong);
	if (rc && wrong && seal_peek(v.mv_data, v.mv_size, &h) == 0) {
		al_hex(want, h.id, SEAL_KEY_ID_LEN);
		seal_key_id_hex(&st->master, have);
		al_error("store", NULL, "%s/%s: wrong master key: it has id %s "
			 "but this store's key ring is sealed by key %s; "
			 "nothing was changed", st->home, STORE_MASTER_KEY,
			 have, want);
	} else if (rc) {
		al_error("store", NULL, "%s: meta keyring does not open with "
			 "the master key (%s): altered or damaged", st->dbdir,
			 al_strerror(rc));
	}
	if (rc) {
		rc = rc == AL_E_PARSE ? AL_E_STORE : rc;
		goto out;
	}
	pthread_mutex_lock(&st->lock);
	if (r->gen >= st->ring.gen)
		st->ring = *r;
	pthread_mutex_unlock(&st->lock);
out:
	seal_ring_wipe(r);
	free(r);
	return rc;
}

int store_ring_key(struct store_txn *txn, const uint8_t *id,
		   struct seal_key *k)
{
	struct store *st = txn->st;
	const struct seal_ring_key *rk;
	int rc = AL_E_AUTH;

	for (int pass = 0; pass < 2 && rc == AL_E_AUTH; pass++) {
		if (pass == 1 && store_ring_reload(txn) != 0)
			break;
		pthread_mutex_lock(&st->lock);
		rk = seal_ring_find(&st->ring, id);
		if (rk) {
			*k = rk->k;
			rc = 0;
		}
		pthread_mutex_unlock(&st->lock);
	}
	return rc;
}

static int store_read_schema(struct store_txn *txn, int *ver)
{
	MDB_val k = { strlen(STORE_META_SCHEMA), STORE_META_SCHEMA }, v;
	char text[16];
	uint64_t n = 0;
	int mrc = mdb_get(txn->txn, txn->st->dbi[STORE_DB_META], &k, &v);

	*ver = 0;
	if (mrc == MDB_NOTFOUND)
		return 0;
	if (mrc)
		return store_err(mrc, "meta/schema_version");
	if (v.mv_size == 0 || v.mv_size >= sizeof(text))
		goto bad;
	memcpy(text, v.mv_data, v.mv_size);
	text[v.mv_size] = '\0';
	if (al_parse_u64(text, 1000000, &n) != 0 || n == 0)
		goto bad;
	*ver = (int)n;
	return 0;
bad:
	al_error("store", NULL, "%s: meta schema_version is not a positive "
		 "decimal number; refusing the store", txn->st->dbdir);
	return AL_E_STORE;
}

int store_write_schema(struct store_txn *txn, int ver)
{
	char text[16];
	MDB_val k = { strlen(STORE_META_SCHEMA), STORE_META_SCHEMA }, v;

	snprintf(text, sizeof(text), "%d", ver);
	v = (MDB_val){ strlen(text), text };
	return store_err(mdb_put(txn->txn, txn->st->dbi[STORE_DB_META], &k, &v,
				 0), "meta/schema_version");
}

/* A new store: master key, key ring, state and schema version. */
static int store_create_new(struct store_txn *txn)
{
	struct store *st = txn->st;
	int rc = store_master_get(st, true);

	if (rc == 0)
		rc = seal_ring_init(&st->ring, NULL, (uint64_t)al_wall_ms());
	if (rc == 0)
		rc = store_ring_write(txn, &st->ring);
	if (rc)
		return rc;
	store_state_init(txn, st->ring.gen);
	txn->state_dirty = true;
	return store_write_schema(txn, STORE_SCHEMA_VERSION);
}

/* An existing store of this schema: the master key must open the ring. */
static int store_load_existing(struct store_txn *txn)
{
	int rc = store_master_get(txn->st, false);

	if (rc == 0)
		rc = store_ring_reload(txn);
	if (rc == 0)
		rc = store_state_get(txn);
	return rc;
}

/*
 * After a migration (or a crash just after one) the schema 1 key file is
 * still there in plain: its key now lives in the ring, sealed by the
 * master key, so the unwrapped copy goes.
 */
static void store_drop_legacy_key(struct store *st)
{
	char path[PATH_MAX];
	struct seal_key k;
	bool known;

	if (store_path(path, sizeof(path), st->home, STORE_LEGACY_KEY) ||
	    seal_key_load(path, SEAL_KEY_DATA, &k) != 0)
		return;
	pthread_mutex_lock(&st->lock);
	known = seal_ring_find(&st->ring, k.id) != NULL;
	pthread_mutex_unlock(&st->lock);
	seal_key_wipe(&k);
	if (!known) {
		al_warn("store", NULL, "%s: not a key of this store's ring; "
			"left in place", path);
		return;
	}
	if (unlink(path) == 0)
		al_info("store", NULL, "removed %s: its key is in the key ring "
			"now, sealed by the master key", path);
}

static int store_open_dbis(struct store_txn *txn)
{
	for (int i = 0; i < STORE_DB__COUNT; i++) {
		int mrc = mdb_dbi_open(txn->txn, store_db_names[i], MDB_CREATE,
				       &txn->st->dbi[i]);
		if (mrc)
			return store_err(mrc, store_db_names[i]);
	}
	return 0;
}

/*
 * Databases, schema and keys in one write transaction. On any failure it
 * is aborted, so a refused open (wrong master key, newer schema) leaves
 * the store exactly as it was.
 */
static int store_setup(struct store *st)
{
	struct store_txn *txn = NULL;
	int ver = 0;
	int rc = store_txn_begin(st, true, &txn);

	if (rc)
		return rc;
	rc = store_open_dbis(txn);
	if (rc == 0)
		rc = store_read_schema(txn, &ver);
	if (rc)
		goto out;

	if (ver == 0 && !st->fresh) {
		al_error("store", NULL, "%s: meta schema_version is missing from "
			 "an existing store: it was replaced or damaged; "
			 "refusing to start a new audit chain", st->dbdir);
		rc = AL_E_STORE;
	} else if (ver == 0) {
		rc = store_create_new(txn);
	} else if (ver > STORE_SCHEMA_VERSION) {
		al_error("store", NULL, "%s: schema version %d is newer than "
			 "this airlock knows (%d); refusing to open it (run a "
			 "newer airlock)", st->dbdir, ver, STORE_SCHEMA_VERSION);
		rc = AL_E_STORE;
	} else if (ver < STORE_SCHEMA_VERSION) {
		rc = store_migrate(txn, ver);
	} else {
		rc = store_load_existing(txn);
	}
out:
	if (rc == 0)
		return store_txn_commit(txn);
	store_txn_abort(txn);
	return rc;
}

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

static int store_open_env(struct store *st)
{
	size_t map = st->opts.map_size ? st->opts.map_size : STORE_MAP_SIZE;
	int mrc;

	/*
	 * MDB_NOTLS: read transactions are not bound to thread-local slots,
	 * so a daemon's worker threads can share one environment (see the
	 * header). LMDB opens its files with O_CLOEXEC itself.
	 */
	if ((mrc = mdb_env_create(&st->env)) ||
	    (mrc = mdb_env_set_maxdbs(st->env, STORE_MAX_DBS)) ||
	    (mrc = mdb_env_set_mapsize(st->env, map)) ||
	    (mrc = mdb_env_open(st->env, st->dbdir, MDB_NOTLS, 0600)))
		return store_err(mrc, st->dbdir);

	/*
	 * A process that died inside a read transaction leaves its reader
	 * slot taken; LMDB then keeps every page that reader could see, and
	 * the file grows without bound. Free the slots of dead processes.
	 */
	mrc = mdb_reader_check(st->env, &st->stale_readers);
	if (mrc)
		return store_err(mrc, st->dbdir);
	if (st->stale_readers)
		al_warn("store", NULL, "%s: cleared %d stale reader slots of "
			"dead processes", st->dbdir, st->stale_readers);
	return store_size_check(st);
}

int store_open_opts(const char *home, const struct store_opts *o,
		    struct store **out)
{
	struct store *st = NULL;
	char path[PATH_MAX];
	bool rotating = false;
	int rc, lockfd = -1;

	*out = NULL;
	if (!home || !*home || strlen(home) >= PATH_MAX)
		return AL_E_USAGE;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->opts = *o;
	if (!st->opts.seal_limit)
		st->opts.seal_limit = STORE_SEAL_LIMIT;
	al_strlcpy(st->home, home, sizeof(st->home));
	rc = -pthread_mutex_init(&st->lock, NULL);
	if (rc)
		goto out;
	st->lock_init = true;

	/*
	 * Processes opening one home at once serialise here, so that one
	 * never sees the other's key without its data (store_pair_check).
	 */
	lockfd = store_open_lock(home, o->create);
	if (lockfd < 0) {
		rc = lockfd;
		goto out;
	}
	rc = store_prepare(st, o->create);
	if (rc == 0)
		rc = store_open_env(st);
	if (rc == 0)
		rc = store_setup(st);
	if (rc == 0)
		store_drop_legacy_key(st);
	/* A refused open leaves no new key behind (nothing changed). */
	if (rc && st->master_created && !store_path(path, sizeof(path),
						    home, STORE_MASTER_KEY))
		unlink(path);
out:
	if (lockfd >= 0)
		close(lockfd); /* releases the flock */
	if (rc == 0 && o->resume)
		rc = store_keys_rotating(st, &rotating);
	if (rc == 0 && rotating) {
		al_info("store", NULL, "%s: resuming an interrupted key "
			"rotation", st->dbdir);
		rc = store_keys_rotate_run(st, STORE_ROTATE_BATCH, NULL, NULL,
					   NULL);
	}
	if (rc) {
		store_close(st);
		return rc;
	}
	*out = st;
	return 0;
}

int store_open(const char *home, struct store **out)
{
	struct store_opts o = { .create = true, .resume = true };

	return store_open_opts(home, &o, out);
}

int store_open_existing(const char *home, struct store **out)
{
	struct store_opts o = { .create = false, .resume = false };

	return store_open_opts(home, &o, out);
}

void store_close(struct store *st)
{
	if (!st)
		return;
	if (st->env)
		mdb_env_close(st->env);
	seal_key_wipe(&st->master);
	seal_ring_wipe(&st->ring);
	if (st->lock_init)
		pthread_mutex_destroy(&st->lock);
	explicit_bzero(st, sizeof(*st));
	free(st);
}

void store_key_id_hex(struct store *st, char *out)
{
	pthread_mutex_lock(&st->lock);
	seal_key_id_hex(seal_ring_current(&st->ring), out);
	pthread_mutex_unlock(&st->lock);
}

size_t store_map_size(struct store *st)
{
	MDB_envinfo info;

	if (mdb_env_info(st->env, &info))
		return 0;
	return info.me_mapsize;
}

int store_stale_readers(const struct store *st)
{
	return st->stale_readers;
}

int store_blind_key(struct store *st, enum store_db db, const void *name,
		    size_t namelen, uint8_t out[32])
{
	uint8_t ikey[SEAL_KEY_LEN];
	struct al_buf msg = { 0 };
	uint8_t dbn = (uint8_t)db;
	int rc;

	if ((unsigned)db >= STORE_DB__COUNT)
		return AL_E_USAGE;
	rc = al_buf_append(&msg, "airlock blind v1", 16);
	if (rc == 0)
		rc = al_buf_append(&msg, &dbn, 1);
	if (rc == 0)
		rc = al_buf_append(&msg, name, namelen);
	pthread_mutex_lock(&st->lock);
	memcpy(ikey, st->ring.index_key, sizeof(ikey));
	pthread_mutex_unlock(&st->lock);
	if (rc == 0)
		rc = seal_hmac(ikey, msg.p, msg.len, out);
	explicit_bzero(ikey, sizeof(ikey));
	if (msg.p)
		explicit_bzero(msg.p, msg.cap);
	al_buf_free(&msg);
	return rc;
}

/*
 * Grow the map before a write transaction that might not fit: when less
 * than a headroom is left (or the last commit found the map full), double
 * it, or more if that leaves too little. LMDB allows this only while the
 * process has no transaction open, so a busy process grows at its next
 * quiet moment instead; a transaction still finding the map full fails
 * with AL_E_LIMIT and the next one grows first.
 */
static void store_grow(struct store *st)
{
	MDB_envinfo info;
	MDB_stat ms;
	size_t used, map, room, want;

	if (mdb_env_info(st->env, &info) || mdb_env_stat(st->env, &ms))
		return;
	used = (info.me_last_pgno + 1) * (size_t)ms.ms_psize;
	map = info.me_mapsize;
	room = map / 8 > STORE_HEADROOM ? map / 8 : STORE_HEADROOM;
	pthread_mutex_lock(&st->lock);
	if ((map > used && map - used >= room && !st->grow_next) ||
	    st->active > 0)
		goto out;
	want = map * 2 > used + room * 2 ? map * 2 : used + room * 2;
	want = (want + ms.ms_psize - 1) / ms.ms_psize * ms.ms_psize;
	if (mdb_env_set_mapsize(st->env, want) == 0) {
		al_info("store", NULL, "%s: map grown from %zu to %zu bytes "
			"(%zu in use)", st->dbdir, map, want, used);
		st->grow_next = false;
	}
out:
	pthread_mutex_unlock(&st->lock);
}

static void store_txn_done(struct store *st)
{
	pthread_mutex_lock(&st->lock);
	st->active--;
	pthread_mutex_unlock(&st->lock);
}

int store_txn_begin(struct store *st, bool write, struct store_txn **out)
{
	struct store_txn *txn = calloc(1, sizeof(*txn));
	int mrc;

	*out = NULL;
	if (!txn)
		return -ENOMEM;
	txn->st = st;
	txn->write = write;
	if (write)
		store_grow(st);
	for (int tries = 0;; tries++) {
		pthread_mutex_lock(&st->lock);
		st->active++;
		pthread_mutex_unlock(&st->lock);
		mrc = mdb_txn_begin(st->env, NULL, write ? 0 : MDB_RDONLY,
				    &txn->txn);
		if (mrc != MDB_MAP_RESIZED || tries > 0)
			break;
		/* Another process grew the map past ours: adopt its size. */
		pthread_mutex_lock(&st->lock);
		st->active--;
		if (st->active == 0)
			mdb_env_set_mapsize(st->env, 0);
		pthread_mutex_unlock(&st->lock);
	}
	if (mrc) {
		store_txn_done(st);
		free(txn);
		return store_err(mrc, st->dbdir);
	}
	*out = txn;
	return 0;
}

/*
 * A transaction that changed the ring and did not commit puts the old
 * ring back, so no later seal uses a key that never reached the disk.
 */
static void store_txn_free(struct store_txn *txn, bool committed)
{
	if (txn->ring_prev) {
		if (!committed) {
			pthread_mutex_lock(&txn->st->lock);
			txn->st->ring = *txn->ring_prev;
			pthread_mutex_unlock(&txn->st->lock);
		}
		seal_ring_wipe(txn->ring_prev);
		free(txn->ring_prev);
	}
	store_txn_done(txn->st);
	seal_ctx_free(txn->sctx[0]);
	seal_ctx_free(txn->sctx[1]);
	seal_mac_free(txn->vmac);
	al_buf_free(&txn->sealbuf);
	explicit_bzero(&txn->state, sizeof(txn->state));
	free(txn);
}

int store_txn_commit(struct store_txn *txn)
{
	struct store *st = txn->st;
	int mrc, rc = txn->state_dirty ? store_state_save(txn) : 0;

	if (rc) {
		mdb_txn_abort(txn->txn);
		store_txn_free(txn, false);
		return rc;
	}
	mrc = mdb_txn_commit(txn->txn);
	if (mrc == MDB_MAP_FULL) {
		pthread_mutex_lock(&st->lock);
		st->grow_next = true;
		pthread_mutex_unlock(&st->lock);
	}
	rc = store_err(mrc, st->dbdir);
	store_txn_free(txn, rc == 0);
	return rc;
}

void store_txn_abort(struct store_txn *txn)
{
	if (!txn)
		return;
	mdb_txn_abort(txn->txn);
	store_txn_free(txn, false);
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

/* The ring and the state are written by the store alone. */
static int store_check_write(enum store_db db, const void *key,
			     size_t keylen)
{
	int rc = store_check(db, keylen);

	if (rc || db != STORE_DB_META)
		return rc;
	if ((keylen == strlen(STORE_META_KEYRING) &&
	     !memcmp(key, STORE_META_KEYRING, keylen)) ||
	    (keylen == strlen(STORE_META_STATE) &&
	     !memcmp(key, STORE_META_STATE, keylen)))
		return AL_E_USAGE;
	return 0;
}

/* mdb_put, noting a full map so the next write transaction grows it. */
static int store_mdb_put(struct store_txn *txn, enum store_db db,
			 MDB_val *k, MDB_val *v, unsigned flags)
{
	int mrc = mdb_put(txn->txn, txn->st->dbi[db], k, v, flags);

	if (mrc == MDB_MAP_FULL) {
		pthread_mutex_lock(&txn->st->lock);
		txn->st->grow_next = true;
		pthread_mutex_unlock(&txn->st->lock);
	}
	return store_err(mrc, store_db_names[db]);
}

int store_put_raw(struct store_txn *txn, enum store_db db, const void *key,
		  size_t keylen, const void *val, size_t vallen)
{
	MDB_val k = { keylen, (void *)key }, v = { vallen, (void *)val };
	int rc = store_check_write(db, key, keylen);

	if (rc)
		return rc;
	return store_mdb_put(txn, db, &k, &v, 0);
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

/* Step cur's versions cursor to vkey (see struct store_cursor). */
static int store_vcur_step(struct store_cursor *cur, const uint8_t *vkey,
			   size_t vlen, MDB_val *v)
{
	MDB_val k;
	int mrc = MDB_NOTFOUND;

	if (cur->vcur_on)
		mrc = mdb_cursor_get(cur->vcur, &k, v, MDB_NEXT);
	if (mrc == 0 && (k.mv_size != vlen || memcmp(k.mv_data, vkey, vlen)))
		mrc = MDB_NOTFOUND;
	if (mrc == MDB_NOTFOUND) {
		k = (MDB_val){ vlen, (void *)vkey };
		mrc = mdb_cursor_get(cur->vcur, &k, v, MDB_SET_KEY);
	}
	cur->vcur_on = mrc == 0;
	return mrc;
}

/*
 * The version entry of (db, key): 0 and *ver, or AL_E_NOTFOUND. Through
 * cur's versions cursor when cur is given and the transaction only
 * reads; a lookup from the root otherwise.
 */
static int store_version_walk(struct store_txn *txn,
			      struct store_cursor *cur, const uint8_t *vkey,
			      size_t vlen, uint64_t *ver)
{
	MDB_dbi dbi = txn->st->dbi[STORE_DB_VERSIONS];
	MDB_val k = { vlen, (void *)vkey }, v;
	int mrc;

	if (cur && !txn->write && !cur->vcur &&
	    mdb_cursor_open(txn->txn, dbi, &cur->vcur) != 0)
		cur->vcur = NULL;
	if (cur && !txn->write && cur->vcur)
		mrc = store_vcur_step(cur, vkey, vlen, &v);
	else
		mrc = mdb_get(txn->txn, dbi, &k, &v);
	if (mrc == MDB_NOTFOUND)
		return AL_E_NOTFOUND;
	if (mrc)
		return store_err(mrc, "versions");
	if (v.mv_size != 8) {
		al_error("store", NULL, "versions: entry of %zu bytes, expected "
			 "8", v.mv_size);
		return AL_E_STORE;
	}
	*ver = store_get_be64(v.mv_data);
	return 0;
}

/* The version entry of (db, key): 0 and *ver, or AL_E_NOTFOUND. */
static int store_version_get(struct store_txn *txn, const uint8_t *vkey,
			     size_t vlen, uint64_t *ver)
{
	return store_version_walk(txn, NULL, vkey, vlen, ver);
}

/*
 * Set (ver != 0) or drop the version entry, keeping the digest in step.
 * Setting tries to insert first: for a new record (every audit entry)
 * that is one tree descent, and when the entry exists LMDB hands back
 * its old version to take out of the digest before it is replaced.
 */
static int store_version_set(struct store_txn *txn, enum store_db db,
			     const void *key, size_t keylen, uint64_t ver)
{
	uint8_t vkey[STORE_VKEY_MAX], vb[8], ikey[SEAL_KEY_LEN];
	size_t vlen;
	uint64_t old = 0;
	MDB_val k, v = { 8, vb };
	int rc;

	store_vkey(db, key, keylen, vkey, &vlen);
	k = (MDB_val){ vlen, vkey };
	pthread_mutex_lock(&txn->st->lock);
	memcpy(ikey, txn->st->ring.index_key, sizeof(ikey));
	pthread_mutex_unlock(&txn->st->lock);

	if (ver) {
		store_be64(vb, ver);
		rc = store_mdb_put(txn, STORE_DB_VERSIONS, &k, &v,
				   MDB_NOOVERWRITE);
		if (rc == AL_E_EXISTS && v.mv_size != 8) {
			al_error("store", NULL, "versions: entry of %zu bytes, "
				 "expected 8", v.mv_size);
			rc = AL_E_STORE;
		} else if (rc == AL_E_EXISTS) {
			old = store_get_be64(v.mv_data);
			v = (MDB_val){ 8, vb };
			rc = store_mdb_put(txn, STORE_DB_VERSIONS, &k, &v, 0);
		}
	} else {
		rc = store_version_get(txn, vkey, vlen, &old);
		if (rc == 0)
			rc = store_err(mdb_del(txn->txn,
					       txn->st->dbi[STORE_DB_VERSIONS],
					       &k, NULL), "versions");
		else if (rc == AL_E_NOTFOUND)
			rc = 0;
	}
	if (rc == 0 && old)
		rc = store_digest_flip(txn, ikey, vkey, vlen, old,
				       txn->state.digest);
	if (rc == 0 && ver)
		rc = store_digest_flip(txn, ikey, vkey, vlen, ver,
				       txn->state.digest);
	explicit_bzero(ikey, sizeof(ikey));
	if (old || ver)
		txn->state_dirty = true;
	return rc;
}

int store_del(struct store_txn *txn, enum store_db db, const void *key,
	      size_t keylen)
{
	MDB_val k = { keylen, (void *)key };
	int rc = store_check_write(db, key, keylen);
	int mrc;

	if (rc)
		return rc;
	mrc = mdb_del(txn->txn, txn->st->dbi[db], &k, NULL);
	if (mrc == MDB_NOTFOUND)
		return AL_E_NOTFOUND;
	rc = store_err(mrc, store_db_names[db]);
	if (rc == 0)
		rc = store_state_get(txn);
	if (rc == 0)
		rc = store_version_set(txn, db, key, keylen, 0);
	return rc;
}

/*
 * When the current key has made its allowed number of seals, retire it
 * before it makes one more: a fresh key becomes current and a rotation
 * re-seals what the old one sealed (NIST SP 800-38D's bound for random
 * nonces is far above the limit; see STORE_SEAL_LIMIT).
 */
int store_seal_limit(struct store_txn *txn)
{
	struct store *st = txn->st;
	char oldid[SEAL_KEY_ID_HEX], newid[SEAL_KEY_ID_HEX];
	uint8_t id[SEAL_KEY_ID_LEN];
	uint64_t *n;
	int rc;

	pthread_mutex_lock(&st->lock);
	memcpy(id, seal_ring_current(&st->ring)->id, sizeof(id));
	pthread_mutex_unlock(&st->lock);
	n = store_state_seals(&txn->state, id);
	if (!n)
		return AL_E_LIMIT;
	if (*n < st->opts.seal_limit)
		return 0;
	al_hex(oldid, id, sizeof(id));
	rc = store_rotate_start(txn, false, newid);
	if (rc == 0)
		al_info("store", NULL, "data key %s made %llu seals (limit "
			"%llu): retired, new current key %s", oldid,
			(unsigned long long)*n,
			(unsigned long long)st->opts.seal_limit, newid);
	return rc;
}

/*
 * The context this transaction already set up for key id, or NULL. A
 * read-only walk finds its key here without the ring's lock, which two
 * threads walking one store (each in its own transaction) would
 * otherwise take and pass back and forth for every value. The key was
 * in the ring when this transaction first used it, and the snapshot's
 * values sealed under it stay what they were.
 */
static struct seal_ctx *store_txn_seal_ctx_of(struct store_txn *txn,
					      const uint8_t *id)
{
	for (int i = 0; i < 2; i++)
		if (txn->sctx[i] &&
		    !memcmp(seal_ctx_id(txn->sctx[i]), id, SEAL_KEY_ID_LEN))
			return txn->sctx[i];
	return NULL;
}

int store_txn_seal_ctx(struct store_txn *txn, const struct seal_key *k,
		       struct seal_ctx **out)
{
	struct seal_ctx **slot = NULL;
	int rc;

	for (int i = 0; i < 2; i++) {
		if (txn->sctx[i] &&
		    !memcmp(seal_ctx_id(txn->sctx[i]), k->id,
			    SEAL_KEY_ID_LEN)) {
			*out = txn->sctx[i];
			return 0;
		}
		if (!txn->sctx[i] && !slot)
			slot = &txn->sctx[i];
	}
	if (!slot) {
		slot = &txn->sctx[1];
		seal_ctx_free(*slot);
		*slot = NULL;
	}
	rc = seal_ctx_new(k, slot);
	*out = *slot;
	return rc;
}

int store_seal_put(struct store_txn *txn, enum store_db db, const void *key,
		   size_t keylen, const void *plain, size_t plen,
		   unsigned flags)
{
	struct store *st = txn->st;
	struct seal_ctx *sc = NULL;
	struct seal_key k;
	MDB_val mk = { keylen, (void *)key }, mv;
	uint64_t ver, *count;
	unsigned mflags = 0;
	int rc = store_check(db, keylen);

	memset(&k, 0, sizeof(k));
	if (rc == 0)
		rc = store_state_get(txn);
	if (rc == 0)
		rc = store_seal_limit(txn);
	if (rc)
		goto out;
	pthread_mutex_lock(&st->lock);
	k = *seal_ring_current(&st->ring);
	pthread_mutex_unlock(&st->lock);
	count = store_state_seals(&txn->state, k.id);
	if (!count) {
		rc = AL_E_LIMIT;
		goto out;
	}
	rc = store_txn_seal_ctx(txn, &k, &sc);
	if (rc)
		goto out;

	/* Counted before sealing: a seal that fails still used a nonce. */
	(*count)++;
	ver = ++txn->state.gen;
	txn->state_dirty = true;
	rc = seal_ctx_seal(sc, store_db_names[db], key, keylen, ver, plain,
			   plen, &txn->sealbuf);
	if (rc)
		goto out;
	mv = (MDB_val){ txn->sealbuf.len, txn->sealbuf.p };
	if (flags & STORE_NOOVERWRITE)
		mflags |= MDB_NOOVERWRITE;
	if (flags & STORE_APPEND)
		mflags |= MDB_APPEND;
	rc = store_mdb_put(txn, db, &mk, &mv, mflags);
	if (rc == 0)
		rc = store_version_set(txn, db, key, keylen, ver);
out:
	seal_key_wipe(&k);
	return rc;
}

int store_put_sealed(struct store_txn *txn, enum store_db db, const void *key,
		     size_t keylen, const void *plain, size_t len,
		     unsigned flags)
{
	int rc = store_check_write(db, key, keylen);

	if (rc == 0 && db == STORE_DB_VERSIONS)
		rc = AL_E_USAGE;
	if (rc == 0 && len > STORE_VALUE_MAX)
		rc = AL_E_LIMIT;
	if (rc == 0)
		rc = store_seal_put(txn, db, key, keylen, plain, len, flags);
	return rc;
}

int store_put_json(struct store_txn *txn, enum store_db db, const void *key,
		   size_t keylen, const json_t *value, unsigned flags)
{
	char *plain = NULL;
	size_t plen = 0;
	int rc = store_check_write(db, key, keylen);

	if (rc == 0 && db == STORE_DB_VERSIONS)
		rc = AL_E_USAGE;
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
	rc = store_seal_put(txn, db, key, keylen, plain, plen, flags);
out:
	if (plain) {
		explicit_bzero(plain, plen);
		free(plain);
	}
	return rc;
}

int store_unseal_plain(struct store_txn *txn, enum store_db db,
		       const void *key, size_t keylen, const MDB_val *v,
		       struct al_buf *out, struct store_cursor *walk)
{
	char name[160], idhex[SEAL_KEY_ID_HEX];
	uint8_t vkey[STORE_VKEY_MAX];
	struct seal_ctx *sc = NULL;
	struct seal_header h;
	struct seal_key k;
	uint64_t ver = 0, cur = 0;
	size_t vlen;
	int rc = seal_peek(v->mv_data, v->mv_size, &h);

	memset(&k, 0, sizeof(k));
	/* The record's printable name is made only for a message. */
	name[0] = '\0';
	if (rc || h.format != SEAL_VERSION) {
		store_rkey_name(db, key, keylen, name, sizeof(name));
		al_error("store", NULL, "%s: not a sealed value of format %d",
			 name, SEAL_VERSION);
		rc = AL_E_PARSE;
		goto out;
	}
	sc = txn->write ? NULL : store_txn_seal_ctx_of(txn, h.id);
	rc = sc ? 0 : store_ring_key(txn, h.id, &k);
	if (rc) {
		store_rkey_name(db, key, keylen, name, sizeof(name));
		al_hex(idhex, h.id, SEAL_KEY_ID_LEN);
		al_error("store", NULL, "%s: sealed under key %s, which is not "
			 "in the key ring", name, idhex);
		goto out;
	}
	if (!sc)
		rc = store_txn_seal_ctx(txn, &k, &sc);
	if (rc == 0)
		rc = seal_ctx_open(sc, store_db_names[db], key, keylen,
				   v->mv_data, v->mv_size, out, &ver);
	if (rc == AL_E_AUTH) {
		store_rkey_name(db, key, keylen, name, sizeof(name));
		al_error("store", NULL, "%s: sealed value does not "
			 "authenticate: altered, or moved here from another "
			 "record", name);
	}
	if (rc)
		goto out;

	store_vkey(db, key, keylen, vkey, &vlen);
	rc = store_version_walk(txn, walk, vkey, vlen, &cur);
	if (rc == AL_E_NOTFOUND) {
		store_rkey_name(db, key, keylen, name, sizeof(name));
		al_error("store", NULL, "%s: no version entry for this record: "
			 "its entry was removed or the value planted", name);
		rc = AL_E_AUTH;
	} else if (rc == 0 && cur != ver) {
		store_rkey_name(db, key, keylen, name, sizeof(name));
		al_error("store", NULL, "%s: value is version %llu but the "
			 "record is at version %llu: %s", name,
			 (unsigned long long)ver, (unsigned long long)cur,
			 ver < cur ? "an older value was written back (replay)"
				   : "its version entry was rolled back");
		rc = AL_E_STALE;
	}
out:
	seal_key_wipe(&k);
	if (rc && out->p) {
		explicit_bzero(out->p, out->cap);
		out->len = 0;
	}
	return rc;
}

/* Unseal and parse one stored value; the plaintext is wiped after. */
static int store_unseal(struct store_txn *txn, enum store_db db,
			const void *key, size_t keylen, const MDB_val *v,
			json_t **out)
{
	struct al_buf plain = { 0 };
	json_error_t jerr;
	int rc = store_unseal_plain(txn, db, key, keylen, v, &plain, NULL);

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
	return store_unseal(txn, db, key, keylen, &v, out);
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
	c->back = MDB_LAST;
	*out = c;
	return 0;
}

/* LMDB's default order: bytes, then the shorter key first. */
static int store_keycmp(const MDB_val *k, const uint8_t *b, size_t blen)
{
	size_t n = k->mv_size < blen ? k->mv_size : blen;
	int c = n ? memcmp(k->mv_data, b, n) : 0;

	if (c)
		return c;
	return (k->mv_size > blen) - (k->mv_size < blen);
}

/* The next record of the walk (see struct store_cursor). */
static int store_cursor_step(struct store_cursor *cur, MDB_val *k, MDB_val *v)
{
	const char *p;
	int mrc;

	if (cur->ahead) {
		cur->ahead = false;
		*k = cur->ak;
		*v = cur->av;
		mrc = cur->ahead_rc;
	} else {
		mrc = cur->past_end ? MDB_NOTFOUND
				    : mdb_cursor_get(cur->cur, k, v, cur->op);
	}
	if (mrc)
		return mrc;
	if (cur->boundlen && store_keycmp(k, cur->bound, cur->boundlen) >= 0) {
		/* Left as the next record: the cursor sits on it. */
		cur->ahead = true;
		cur->ak = *k;
		cur->av = *v;
		cur->ahead_rc = 0;
		return MDB_NOTFOUND;
	}
	cur->op = MDB_NEXT;
	if (cur->txn->write)
		return 0;
	cur->ahead_rc = mdb_cursor_get(cur->cur, &cur->ak, &cur->av, MDB_NEXT);
	cur->ahead = true;
	p = cur->av.mv_data;
	for (size_t off = 0; cur->ahead_rc == 0 && off < cur->av.mv_size &&
			     off < STORE_PREFETCH_MAX; off += 64)
		__builtin_prefetch(p + off);
	return 0;
}

int store_cursor_next(struct store_cursor *cur, const void **key,
		      size_t *keylen, json_t **value)
{
	MDB_val k, v;
	int mrc = store_cursor_step(cur, &k, &v);

	json_decref(cur->value);
	cur->value = NULL;
	if (value)
		*value = NULL;
	if (mrc == MDB_NOTFOUND)
		return AL_E_NOTFOUND;
	if (mrc)
		return store_err(mrc, store_db_names[cur->db]);

	*key = k.mv_data;
	*keylen = k.mv_size;
	if (!value)
		return 0;
	int rc = store_unseal(cur->txn, cur->db, k.mv_data, k.mv_size, &v,
			      &cur->value);
	*value = cur->value;
	return rc;
}

int store_cursor_next_plain(struct store_cursor *cur, const void **key,
			    size_t *keylen, struct al_buf *plain)
{
	MDB_val k, v;
	int mrc = store_cursor_step(cur, &k, &v);
	int rc;

	plain->len = 0;
	if (mrc == MDB_NOTFOUND)
		return AL_E_NOTFOUND;
	if (mrc)
		return store_err(mrc, store_db_names[cur->db]);
	*key = k.mv_data;
	*keylen = k.mv_size;
	rc = store_unseal_plain(cur->txn, cur->db, k.mv_data, k.mv_size, &v,
				plain, cur);
	if (rc)
		plain->len = 0;
	return rc;
}

int store_cursor_seek(struct store_cursor *cur, const void *key,
		      size_t keylen)
{
	MDB_val k = { keylen, (void *)key }, v;
	int mrc = mdb_cursor_get(cur->cur, &k, &v, MDB_SET_RANGE);

	cur->ahead = false;
	cur->past_end = mrc == MDB_NOTFOUND;
	cur->op = MDB_GET_CURRENT;
	cur->back = cur->past_end ? MDB_LAST : MDB_PREV;
	if (mrc && mrc != MDB_NOTFOUND)
		return store_err(mrc, store_db_names[cur->db]);
	return 0;
}

int store_cursor_bound(struct store_cursor *cur, const void *key,
		       size_t keylen)
{
	if (keylen > STORE_KEY_MAX || cur->txn->write)
		return AL_E_USAGE;
	if (keylen)
		memcpy(cur->bound, key, keylen);
	cur->boundlen = keylen;
	return 0;
}

int store_cursor_peek(struct store_cursor *cur, const void **key,
		      size_t *keylen)
{
	if (!cur->ahead) {
		cur->ahead_rc = cur->past_end
				? MDB_NOTFOUND
				: mdb_cursor_get(cur->cur, &cur->ak, &cur->av,
						 cur->op);
		cur->ahead = true;
		/* The step that takes it reads on from there. */
		cur->op = MDB_NEXT;
	}
	if (cur->ahead_rc == MDB_NOTFOUND)
		return AL_E_NOTFOUND;
	if (cur->ahead_rc)
		return store_err(cur->ahead_rc, store_db_names[cur->db]);
	*key = cur->ak.mv_data;
	*keylen = cur->ak.mv_size;
	return 0;
}

uint64_t store_txn_snapshot(struct store_txn *txn)
{
	return (uint64_t)mdb_txn_id(txn->txn);
}

int store_cursor_prev(struct store_cursor *cur, const void **key,
		      size_t *keylen, json_t **value)
{
	MDB_val k, v;
	int mrc = mdb_cursor_get(cur->cur, &k, &v, cur->back);

	json_decref(cur->value);
	cur->value = NULL;
	if (value)
		*value = NULL;
	if (mrc == MDB_NOTFOUND)
		return AL_E_NOTFOUND;
	if (mrc)
		return store_err(mrc, store_db_names[cur->db]);
	cur->back = MDB_PREV;

	*key = k.mv_data;
	*keylen = k.mv_size;
	if (!value)
		return 0;
	int rc = store_unseal(cur->txn, cur->db, k.mv_data, k.mv_size, &v,
			      &cur->value);
	*value = cur->value;
	return rc;
}

int store_count(struct store_txn *txn, enum store_db db, size_t *n)
{
	MDB_stat ms;

	if ((unsigned)db >= STORE_DB__COUNT)
		return AL_E_USAGE;
	if (mdb_stat(txn->txn, txn->st->dbi[db], &ms))
		return AL_E_STORE;
	*n = ms.ms_entries;
	return 0;
}

int store_cursor_last(struct store_cursor *cur)
{
	cur->ahead = false;
	cur->op = MDB_LAST;
	return 0;
}

void store_cursor_close(struct store_cursor *cur)
{
	if (!cur)
		return;
	json_decref(cur->value);
	if (cur->vcur)
		mdb_cursor_close(cur->vcur);
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
