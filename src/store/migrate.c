/*
 * migrate.c - bringing an older store up to STORE_SCHEMA_VERSION.
 *
 * Each migration runs inside the write transaction that opens the store
 * and sets schema_version to its target in that same transaction, so it
 * runs once: a crash part-way leaves the store as it was, and the next
 * open simply runs it again. store_setup refuses a version newer than
 * this binary knows before any migration is considered.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "store/internal.h"

#define MIGRATE_V1_KEY_ID "data_key_id"

struct migrate_item {
	enum store_db db;
	struct al_buf key;
	struct al_buf plain;
};

struct migrate_list {
	struct migrate_item *v;
	size_t n, cap;
};

static void migrate_list_free(struct migrate_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i].plain.p)
			explicit_bzero(l->v[i].plain.p, l->v[i].plain.cap);
		al_buf_free(&l->v[i].plain);
		al_buf_free(&l->v[i].key);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static struct migrate_item *migrate_list_add(struct migrate_list *l)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct migrate_item *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		l->v = v;
		l->cap = cap;
	}
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	return &l->v[l->n++];
}

/*
 * Collect every value of db that opens as a format-1 value under the old
 * key. Values that do not are left as they are: raw values (meta
 * scalars, the queue) by design, anything else because it was not
 * sealed by this store and will be refused when read.
 */
static int migrate_collect(struct store_txn *txn, enum store_db db,
			   const struct seal_key *old, struct migrate_list *l)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	struct al_buf plain = { 0 };
	char name[160];
	int mrc = mdb_cursor_open(txn->txn, txn->st->dbi[db], &cur);
	int rc = store_err(mrc, store_db_name(db));

	while (rc == 0 &&
	       (mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
		struct migrate_item *it;
		if (seal_open_v1(old, store_db_name(db), k.mv_data, k.mv_size,
				 v.mv_data, v.mv_size, &plain) != 0) {
			if (db != STORE_DB_META && db != STORE_DB_QUEUE &&
			    db != STORE_DB_CHECKPOINTS) {
				store_rkey_name(db, k.mv_data, k.mv_size, name,
						sizeof(name));
				al_warn("store", NULL, "%s: not a value sealed "
					"by this store; left as it was", name);
			}
			continue;
		}
		it = migrate_list_add(l);
		if (!it) {
			rc = -ENOMEM;
			break;
		}
		it->db = db;
		rc = al_buf_append(&it->key, k.mv_data, k.mv_size);
		if (rc == 0)
			rc = al_buf_append(&it->plain, plain.p, plain.len);
	}
	if (rc == 0 && mrc != MDB_NOTFOUND)
		rc = store_err(mrc, store_db_name(db));
	if (plain.p)
		explicit_bzero(plain.p, plain.cap);
	al_buf_free(&plain);
	mdb_cursor_close(cur);
	return rc;
}

/* The schema 1 data key must be the one the store was made with. */
static int migrate_v1_key(struct store_txn *txn, struct seal_key *old)
{
	char path[PATH_MAX], hex[SEAL_KEY_ID_HEX];
	MDB_val k = { strlen(MIGRATE_V1_KEY_ID), MIGRATE_V1_KEY_ID }, v;
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", txn->st->home,
			     STORE_LEGACY_KEY) >= sizeof(path))
		return -ENAMETOOLONG;
	rc = seal_key_load(path, SEAL_KEY_DATA, old);
	if (rc == -ENOENT)
		al_error("store", NULL, "%s: the data key of this schema 1 "
			 "store is missing; cannot migrate it", path);
	if (rc)
		return rc == -ENOENT ? AL_E_AUTH : rc;
	seal_key_id_hex(old, hex);
	if (mdb_get(txn->txn, txn->st->dbi[STORE_DB_META], &k, &v) != 0 ||
	    v.mv_size != strlen(hex) || memcmp(v.mv_data, hex, v.mv_size)) {
		al_error("store", NULL, "%s: key %s is not the data key this "
			 "store was created with; cannot migrate it", path,
			 hex);
		seal_key_wipe(old);
		return AL_E_AUTH;
	}
	return 0;
}

/*
 * Schema 1 to 2: the single data key file becomes the first key of a
 * ring sealed by a (new) master key, and every sealed value is sealed
 * again in format 2 with a record version and a version entry. The old
 * key file is removed after the commit (store_drop_legacy_key).
 */
static int migrate_1_to_2(struct store_txn *txn)
{
	static const enum store_db dbs[] = {
		STORE_DB_META,  STORE_DB_JOBS,  STORE_DB_QUEUE,
		STORE_DB_REPOS, STORE_DB_AUDIT, STORE_DB_CHECKPOINTS,
	};
	struct store *st = txn->st;
	struct migrate_list l = { 0 };
	struct seal_key old;
	MDB_val k = { strlen(MIGRATE_V1_KEY_ID), MIGRATE_V1_KEY_ID };
	int rc = migrate_v1_key(txn, &old);

	if (rc == 0)
		rc = store_master_get(st, true);
	if (rc == 0)
		rc = seal_ring_init(&st->ring, &old, (uint64_t)al_wall_ms());
	if (rc == 0)
		rc = store_ring_write(txn, &st->ring);
	if (rc)
		goto out;
	store_state_init(txn, st->ring.gen);
	txn->state_dirty = true;

	for (size_t i = 0; rc == 0 && i < AL_ARRAY_LEN(dbs); i++)
		rc = migrate_collect(txn, dbs[i], &old, &l);
	for (size_t i = 0; rc == 0 && i < l.n; i++)
		rc = store_seal_put(txn, l.v[i].db, l.v[i].key.p,
				    l.v[i].key.len, l.v[i].plain.p,
				    l.v[i].plain.len, 0);
	if (rc == 0)
		rc = store_err(mdb_del(txn->txn, st->dbi[STORE_DB_META], &k,
				       NULL), "meta/" MIGRATE_V1_KEY_ID);
	if (rc == 0)
		al_info("store", NULL, "%s: migrated schema 1 to 2: %zu values "
			"sealed again with record versions, key ring made",
			st->dbdir, l.n);
out:
	seal_key_wipe(&old);
	migrate_list_free(&l);
	return rc;
}

struct store_migration {
	int from;
	int (*run)(struct store_txn *txn);
};

static const struct store_migration store_migrations[] = {
	{ 1, migrate_1_to_2 },
};

int store_migrate(struct store_txn *txn, int from)
{
	int ver = from, rc = 0;

	for (size_t i = 0; rc == 0 && i < AL_ARRAY_LEN(store_migrations);
	     i++) {
		if (store_migrations[i].from != ver)
			continue;
		rc = store_migrations[i].run(txn);
		if (rc == 0)
			rc = store_write_schema(txn, ++ver);
	}
	if (rc == 0 && ver != STORE_SCHEMA_VERSION) {
		al_error("store", NULL, "%s: no migration from schema version "
			 "%d", txn->st->dbdir, ver);
		rc = AL_E_STORE;
	}
	if (rc)
		al_error("store", NULL, "%s: migration from schema %d failed: "
			 "%s; the store is unchanged", txn->st->dbdir, from,
			 al_strerror(rc));
	return rc;
}
