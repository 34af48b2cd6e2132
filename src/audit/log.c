/*
 * log.c - the writer's handle: its signing key and policy, and the
 * refusal to write on a store that is behind what already left it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/export.h"
#include "audit/internal.h"
#include "base/err.h"
#include "base/log.h"

struct store *audit_log_store(struct audit_log *log)
{
	return log->st;
}

int audit_check_held(struct store_txn *txn, const struct audit_cp *held,
		     const char *label, char *why, size_t whysz)
{
	struct audit_cp mine, last;
	json_t *e = NULL;
	uint8_t key[8];
	int rc = audit_cp_get(txn, held->n, &mine, NULL);

	if (rc == AL_E_NOTFOUND) {
		bool any = audit_cp_last(txn, &last, NULL) == 0;
		snprintf(why, whysz, "the store's newest checkpoint is n=%llu "
			 "(seq %llu) but %s holds n=%llu (seq %llu, %s): the "
			 "store was rolled back or truncated",
			 any ? (unsigned long long)last.n : 0ull,
			 any ? (unsigned long long)last.seq : 0ull, label,
			 (unsigned long long)held->n,
			 (unsigned long long)held->seq, held->time);
		return AL_E_ROLLBACK;
	}
	if (rc == 0 && strcmp(mine.hash, held->hash) != 0) {
		snprintf(why, whysz, "checkpoint n=%llu in the store differs "
			 "from the one %s holds: the store was replaced or "
			 "rewritten", (unsigned long long)held->n, label);
		return AL_E_ROLLBACK;
	}
	if (rc) {
		snprintf(why, whysz, "checkpoint n=%llu cannot be read from "
			 "the store (%s)", (unsigned long long)held->n,
			 al_strerror(rc));
		return AL_E_ROLLBACK;
	}
	if (held->seq == 0)
		return 0;
	audit_key(held->seq, key);
	rc = store_get_json(txn, STORE_DB_AUDIT, key, 8, &e);
	if (rc || strcmp(json_string_value(json_object_get(e, "hash")) ?: "",
			 held->head) != 0) {
		snprintf(why, whysz, "entry %llu, pinned by checkpoint n=%llu "
			 "that %s holds, is %s in the store: it was truncated or "
			 "rewritten", (unsigned long long)held->seq,
			 (unsigned long long)held->n, label,
			 rc == AL_E_NOTFOUND ? "missing" : "different");
		rc = AL_E_ROLLBACK;
	}
	json_decref(e);
	return rc;
}

/*
 * Check one checkpoint held outside (its signature first: a stray file
 * must not be able to block the writer on its own say-so).
 */
static int log_check_outside(struct audit_log *log, struct store_txn *txn,
			     const struct audit_pubkey *pk, const json_t *cpo,
			     const char *label)
{
	struct audit_cp held;
	char why[512];
	int rc = audit_cp_check(cpo, pk, &held, why, sizeof(why));

	if (rc) {
		al_error("audit", NULL, "%s does not verify with this "
			 "appliance's audit key (%s); refusing to write until it "
			 "is explained (docs/audit.md)", label, why);
		return rc;
	}
	rc = audit_check_held(txn, &held, label, why, sizeof(why));
	if (rc)
		al_error("audit", NULL, "%s; refusing to write to the audit "
			 "log in %s/db. Restore the newest copy of the store "
			 "(docs/audit.md, \"Rollback\")", why, log->home);
	return rc;
}

/* The anchor file and the last export: has the store reached them? */
static int log_outside(struct audit_log *log, struct store_txn *txn)
{
	char dir[PATH_MAX + 16], label[PATH_MAX + 64];
	struct audit_pubkey *pk = NULL;
	json_t *anchor = NULL, *digest = NULL;
	int rc = audit_signer_pubkey(log->signer, &pk);

	if (rc)
		return rc;
	rc = audit_anchor_read(log->home, &anchor);
	if (rc == 0) {
		snprintf(label, sizeof(label), "%s/" AUDIT_ANCHOR_FILE,
			 log->home);
		rc = log_check_outside(log, txn, pk, anchor, label);
	} else if (rc == AL_E_NOTFOUND) {
		rc = 0;
	}
	if (rc)
		goto out;

	snprintf(dir, sizeof(dir), "%s/" AUDIT_EXPORT_DIR, log->home);
	rc = audit_export_last(dir, pk, &digest);
	if (rc == 0) {
		snprintf(label, sizeof(label), "the last export in %s", dir);
		rc = log_check_outside(log, txn, pk,
				       json_object_get(digest, "checkpoint"),
				       label);
	} else if (rc == AL_E_NOTFOUND) {
		rc = 0;
	} else {
		al_error("audit", NULL, "%s: the newest export digest does not "
			 "verify (%s); refusing to write", dir,
			 al_strerror(rc));
	}
out:
	json_decref(anchor);
	json_decref(digest);
	audit_pubkey_free(pk);
	return rc;
}

/* The key must be the one the checkpoints were signed with. */
static int log_key(struct audit_log *log, struct store_txn *txn)
{
	struct audit_cp last;
	int rc = audit_cp_last(txn, &last, NULL);
	bool have_cp = rc == 0;

	if (rc && rc != AL_E_NOTFOUND)
		return rc;
	rc = audit_signer_load(log->home, !have_cp, &log->signer);
	if (rc == AL_E_NOTFOUND) {
		al_error("audit", NULL, "%s/" AUDIT_KEY_FILE " is missing but "
			 "the store holds %llu checkpoints signed with key %s: "
			 "restore the key (a new one would let anyone re-sign "
			 "the log)", log->home, (unsigned long long)last.n,
			 last.key);
		return AL_E_AUTH;
	}
	if (rc == 0 && have_cp &&
	    strcmp(last.key, audit_signer_key_id(log->signer)) != 0) {
		al_error("audit", NULL, "%s/" AUDIT_KEY_FILE " has key id %s "
			 "but checkpoint %llu was signed with %s: the key was "
			 "replaced; refusing to write", log->home,
			 audit_signer_key_id(log->signer),
			 (unsigned long long)last.n, last.key);
		rc = AL_E_AUTH;
	}
	return rc;
}

int audit_log_open(struct store *st, const char *home,
		   const struct audit_policy *pol, struct audit_log **out)
{
	struct audit_log *log = calloc(1, sizeof(*log));
	struct store_txn *txn = NULL;
	int rc;

	*out = NULL;
	if (!log)
		return -ENOMEM;
	log->st = st;
	log->pol = pol ? *pol
		       : (struct audit_policy){ AUDIT_DEFAULT_EVERY_N,
						(int64_t)AUDIT_DEFAULT_EVERY_MIN *
							60000 };
	if (al_strlcpy(log->home, home, sizeof(log->home)) >=
	    sizeof(log->home)) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	rc = audit_hasher_init(&log->hasher);
	if (rc == 0)
		rc = store_txn_begin(st, false, &txn);
	if (rc == 0)
		rc = log_key(log, txn);
	if (rc == 0)
		rc = log_outside(log, txn);
	store_txn_abort(txn);
	if (rc == 0)
		rc = audit_checkpoint(log, false, NULL, NULL);
out:
	if (rc) {
		audit_log_close(log);
		return rc;
	}
	*out = log;
	return 0;
}

void audit_log_sync_anchor(struct audit_log *log)
{
	struct store_txn *txn = NULL;
	struct audit_cp last, held;
	json_t *cp = NULL, *anchor = NULL;
	char why[64];

	atomic_store(&log->cp_dirty, false);
	if (store_txn_begin(log->st, false, &txn) != 0)
		return;
	if (audit_cp_last(txn, &last, &cp) != 0)
		goto out;
	/* Never move the anchor backwards (another process may have
	 * written a newer one meanwhile). */
	if (audit_anchor_read(log->home, &anchor) == 0 &&
	    audit_cp_check(anchor, NULL, &held, why, sizeof(why)) == 0 &&
	    held.n >= last.n)
		goto out;
	audit_anchor_write(log->home, cp);
out:
	store_txn_abort(txn);
	json_decref(cp);
	json_decref(anchor);
}

void audit_log_close(struct audit_log *log)
{
	if (!log)
		return;
	if (log->signer)
		audit_log_sync_anchor(log);
	audit_signer_free(log->signer);
	audit_hasher_free(&log->hasher);
	free(log);
}

int audit_checkpoint(struct audit_log *log, bool force, bool *taken,
		     json_t **out)
{
	char hash[AUDIT_HASH_HEX_LEN + 1];
	struct store_txn *txn = NULL;
	struct audit_cp last;
	uint64_t seq;
	bool due = false;
	int rc = store_txn_begin(log->st, true, &txn);

	if (out)
		*out = NULL;
	if (rc)
		return rc;
	rc = audit_head(txn, &seq, hash);
	if (rc == 0)
		rc = audit_cp_last(txn, &last, NULL);
	if (rc == 0 || rc == AL_E_NOTFOUND) {
		due = force || audit_cp_due(&log->pol, rc ? NULL : &last, seq,
					    al_wall_ms());
		if (due)
			rc = audit_cp_write(txn, log->signer,
					    rc ? NULL : &last, seq, hash, out);
		else
			rc = 0;
	}
	if (rc == 0 && due) {
		atomic_store(&log->cp_dirty, true);
		rc = audit_commit(log, txn);
	} else {
		store_txn_abort(txn);
	}
	if (taken)
		*taken = rc == 0 && due;
	return rc;
}
