/*
 * regcache.c - the registry client's ETag cache in LMDB (see
 * regcache.h). A record is sealed JSON {"etag": text, "body": text}
 * under the client's key (document kind and URL).
 */
#include "job/regcache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"

static int rc_get(void *ctx, const char *key, char **etag,
		  struct al_buf *body)
{
	struct store_txn *txn = NULL;
	json_t *v = NULL, *e, *b;
	size_t klen = strlen(key);
	int rc;

	if (klen == 0 || klen > STORE_KEY_MAX)
		return AL_E_NOTFOUND;
	rc = store_txn_begin(ctx, false, &txn);
	if (!rc)
		rc = store_get_json(txn, STORE_DB_REGCACHE, key, klen, &v);
	store_txn_abort(txn);
	if (rc)
		goto out;
	e = json_object_get(v, "etag");
	b = json_object_get(v, "body");
	rc = AL_E_PARSE;
	if (!json_is_string(e) || !json_is_string(b))
		goto out;
	rc = -ENOMEM;
	*etag = strdup(json_string_value(e));
	if (*etag && !al_buf_append(body, json_string_value(b),
				    json_string_length(b)))
		rc = 0;
out:
	if (rc && rc != AL_E_NOTFOUND)
		al_warn("job", NULL, "registry cache: cannot read an entry: "
			"%s", al_strerror(rc));
	json_decref(v);
	return rc;
}

/* A full cache is emptied: simple, bounded, and a cache may forget. */
static int rc_make_room(struct store_txn *txn)
{
	struct store_cursor *cur = NULL;
	struct al_buf keys = { 0 };
	size_t n = 0, off = 0;
	const void *k;
	size_t kl;
	int rc = store_cursor_open(txn, STORE_DB_REGCACHE, &cur);

	while (!rc && (rc = store_cursor_next(cur, &k, &kl, NULL)) == 0) {
		/* Keys are copied (length, bytes): deleting under an open
		 * cursor would move it. */
		if (al_buf_append(&keys, &kl, sizeof(kl)) ||
		    al_buf_append(&keys, k, kl))
			rc = -ENOMEM;
		n++;
	}
	store_cursor_close(cur);
	if (rc != AL_E_NOTFOUND)
		goto out;
	rc = 0;
	while (n >= JOB_REGCACHE_MAX_ENTRIES && !rc && off < keys.len) {
		memcpy(&kl, keys.p + off, sizeof(kl));
		rc = store_del(txn, STORE_DB_REGCACHE, keys.p + off + sizeof(kl),
			       kl);
		off += sizeof(kl) + kl;
	}
	if (!rc && n >= JOB_REGCACHE_MAX_ENTRIES)
		al_info("job", NULL, "registry cache emptied entries=%zu", n);
out:
	al_buf_free(&keys);
	return rc;
}

static int rc_put(void *ctx, const char *key, const char *etag,
		  const char *body, size_t len)
{
	struct store_txn *txn = NULL;
	size_t klen = strlen(key);
	json_t *v = NULL;
	int rc = 0;

	if (klen == 0 || klen > STORE_KEY_MAX || len > JOB_REGCACHE_MAX_BODY)
		return 0;
	rc = -ENOMEM;
	v = json_pack("{s:s, s:s%}", "etag", etag, "body", body, len);
	if (!v)
		goto out;
	rc = store_txn_begin(ctx, true, &txn);
	if (!rc)
		rc = rc_make_room(txn);
	if (!rc)
		rc = store_put_json(txn, STORE_DB_REGCACHE, key, klen, v, 0);
	if (!rc) {
		rc = store_txn_commit(txn);
		txn = NULL;
	}
out:
	store_txn_abort(txn);
	json_decref(v);
	if (rc)
		al_warn("job", NULL, "registry cache: cannot keep an entry: "
			"%s", al_strerror(rc));
	return rc;
}

void job_regcache(struct store *st, struct npm_registry_cache *out)
{
	out->ctx = st;
	out->get = rc_get;
	out->put = rc_put;
}
