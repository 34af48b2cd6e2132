/*
 * head.c - a cheap look at the log's state for views that refresh often
 * (the console's audit view): the head, the last signed checkpoint and
 * export, and whether the entries since that checkpoint still chain to
 * it. Full verification (verify.c) reads every entry; this reads the
 * entries after the last checkpoint only, at most a bound of them.
 */
#include "audit/internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "audit/export.h"
#include "base/err.h"

/*
 * Walk the entries from seq from to seq to. prev is the hash entry
 * from-1 must have (a checkpoint's head), or NULL when the first entry
 * cannot be linked. Problems go into r.
 */
static int head_walk(struct store_txn *txn, uint64_t from, uint64_t to,
		     const char *prev, struct audit_report *r)
{
	struct audit_walk w = {.next = from, .linked = prev != NULL};
	struct store_cursor *cur = NULL;
	struct al_buf plain = {0};
	struct audit_line e;
	const void *key;
	size_t keylen;
	uint8_t k[8];
	int rc = audit_hasher_init(&w.h);

	memcpy(w.prev, prev ? prev : AUDIT_ZERO_HASH, AUDIT_HASH_HEX_LEN + 1);
	audit_key(from, k);
	if (rc == 0 && (rc = store_cursor_open(txn, STORE_DB_AUDIT, &cur)) == 0)
		rc = store_cursor_seek(cur, k, sizeof(k));
	while (rc == 0 && w.next <= to) {
		rc = store_cursor_next_plain(cur, &key, &keylen, &plain);
		uint64_t kseq = rc == 0 || rc == AL_E_AUTH || rc == AL_E_PARSE
					? audit_key_seq(key, keylen) : 0;
		if (rc == AL_E_AUTH || rc == AL_E_PARSE) {
			r->entries++;
			audit_report_add(r, NULL, 0, kseq ? kseq : w.next,
					 "value fails to unseal (altered, moved "
					 "or sealed with another key)");
			w.next = (kseq ? kseq : w.next) + 1;
			w.linked = false;
			rc = 0;
			continue;
		}
		if (rc)
			break;
		if (kseq > to)
			break;
		if (kseq != w.next) {
			audit_report_add(r, NULL, 0, w.next, "entries %llu to "
					 "%llu are missing (a gap)",
					 (unsigned long long)w.next,
					 (unsigned long long)(kseq - 1));
			w.next = kseq;
			w.linked = false;
		}
		audit_walk_step(&w, r, NULL, 0, kseq, plain.p, plain.len, &e);
		explicit_bzero(plain.p, plain.len);
	}
	if (rc == AL_E_NOTFOUND)
		rc = 0;
	if (rc == 0 && w.next <= to)
		audit_report_add(r, NULL, 0, w.next, "entries %llu to %llu "
				 "are missing (the log ends early)",
				 (unsigned long long)w.next,
				 (unsigned long long)to);
	store_cursor_close(cur);
	if (plain.p)
		explicit_bzero(plain.p, plain.cap);
	al_buf_free(&plain);
	audit_hasher_free(&w.h);
	return rc;
}

/* The last checkpoint, its signature checked with pk, as JSON; *cp
 * filled (n 0 when there is none). Problems go into r. */
static json_t *head_cp(struct store_txn *txn, const struct audit_pubkey *pk,
		       struct audit_cp *cp, struct audit_report *r)
{
	json_t *obj = NULL, *out;
	char why[256];
	int rc = audit_cp_last(txn, cp, &obj);

	if (rc == AL_E_NOTFOUND) {
		memset(cp, 0, sizeof(*cp));
		return json_null();
	}
	if (rc == 0)
		rc = audit_cp_check(obj, pk, cp, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "%s", al_strerror(rc));
	json_decref(obj);
	if (rc) {
		audit_report_add(r, NULL, 0, 0, "the last checkpoint does not "
				 "verify: %s", why);
		memset(cp, 0, sizeof(*cp));
		return json_null();
	}
	if (cp->seq && audit_check_held(txn, cp, "the last checkpoint", why,
					sizeof(why)))
		audit_report_add(r, NULL, 0, cp->seq, "%s", why);
	out = json_pack("{s:I,s:I,s:s,s:I,s:s}", "n", (json_int_t)cp->n, "seq",
			(json_int_t)cp->seq, "time", cp->time, "time_ms",
			(json_int_t)cp->time_ms, "key", cp->key);
	return out ? out : json_null();
}

/* The last export's digest in HOME/export, signature checked. */
static json_t *head_export(const char *home, const struct audit_pubkey *pk,
			   struct audit_report *r)
{
	char dir[PATH_MAX];
	json_t *dg = NULL, *out;
	int rc;

	snprintf(dir, sizeof(dir), "%.4000s/" AUDIT_EXPORT_DIR, home);
	rc = audit_export_last(dir, pk, &dg);
	if (rc == AL_E_NOTFOUND)
		return json_null();
	if (rc) {
		audit_report_add(r, NULL, 0, 0, "the newest export digest in "
				 "%s does not verify (%s)", dir,
				 al_strerror(rc));
		return json_null();
	}
	out = json_pack("{s:O?,s:O?,s:O?,s:O?,s:O?}", "n",
			json_object_get(dg, "n"), "time",
			json_object_get(dg, "time"), "count",
			json_object_get(dg, "count"), "first",
			json_object_get(json_object_get(dg, "first"), "seq"),
			"last",
			json_object_get(json_object_get(dg, "last"), "seq"));
	json_decref(dg);
	return out ? out : json_null();
}

int audit_head_report(struct audit_log *log, uint64_t max_check,
		      json_t **out)
{
	struct audit_report r = {0};
	struct store_txn *txn = NULL;
	struct audit_pubkey *pk = NULL;
	struct audit_cp cp;
	char hash[AUDIT_HASH_HEX_LEN + 1];
	json_t *jcp = NULL, *jex = NULL, *probs = NULL;
	uint64_t seq = 0, from;
	const char *link = AUDIT_ZERO_HASH;
	int rc;

	*out = NULL;
	if ((rc = audit_signer_pubkey(log->signer, &pk)) ||
	    (rc = store_txn_begin(log->st, false, &txn)))
		goto out;
	rc = audit_head(txn, &seq, hash);
	if (rc == AL_E_CHAIN)
		audit_report_add(&r, NULL, 0, seq, "the head in meta does not "
				 "name the last entry with its hash");
	else if (rc)
		goto out;
	jcp = head_cp(txn, pk, &cp, &r);
	/* From the checkpoint, linked to the hash it signed; past the
	 * bound, the newest max_check entries, unlinked at their start. */
	from = cp.seq + 1;
	if (max_check && seq >= from && seq - from + 1 > max_check)
		from = seq - max_check + 1;
	if (from != cp.seq + 1)
		link = NULL;
	else if (cp.seq)
		link = cp.head;
	rc = seq >= from ? head_walk(txn, from, seq, link, &r) : 0;
	if (rc)
		goto out;
	jex = head_export(log->home, pk, &r);
	probs = audit_report_json(&r);
	*out = json_pack("{s:b,s:{s:I,s:s},s:O,s:{s:I,s:I,s:I,s:b},s:O,"
			 "s:I,s:O?}", "ok", r.nproblems == 0, "head", "seq",
			 (json_int_t)seq, "hash", hash, "checkpoint", jcp,
			 "checked", "from", (json_int_t)(seq >= from ? from : 0),
			 "to", (json_int_t)seq, "entries",
			 (json_int_t)(seq >= from ? seq - from + 1 : 0),
			 "linked", from == cp.seq + 1, "export", jex,
			 "nproblems", (json_int_t)r.nproblems, "problems",
			 json_object_get(probs, "problems"));
	if (!*out)
		rc = -ENOMEM;
out:
	json_decref(jcp);
	json_decref(jex);
	json_decref(probs);
	store_txn_abort(txn);
	audit_pubkey_free(pk);
	audit_report_free(&r);
	return rc;
}
