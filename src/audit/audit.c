/*
 * audit.c - appending to and verifying the hash-chained audit log.
 */
#include "audit/audit.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/err.h"
#include "base/log.h"

#define AUDIT_ZERO_HASH                                                    \
	"0000000000000000000000000000000000000000000000000000000000000000"

/* Member names of an entry; verification refuses any other member. */
static const char *const audit_members[] = {
	"action", "actor", "details", "hash", "object", "prev", "seq", "time",
};

void audit_key(uint64_t seq, uint8_t key[8])
{
	for (int i = 7; i >= 0; i--) {
		key[i] = (uint8_t)(seq & 0xff);
		seq >>= 8;
	}
}

static uint64_t audit_key_seq(const uint8_t key[8])
{
	uint64_t seq = 0;

	for (int i = 0; i < 8; i++)
		seq = (seq << 8) | key[i];
	return seq;
}

/*
 * Refuse what has no single canonical spelling: real numbers (their
 * shortest decimal form differs between libraries) and member names with
 * an embedded NUL (they sort differently as C strings). Depth is capped
 * so a hostile details object cannot exhaust the stack.
 */
static int audit_check_value(const json_t *v, int depth)
{
	const char *name;
	json_t *item;
	size_t i;

	if (depth > AUDIT_DEPTH_MAX)
		return AL_E_LIMIT;
	switch (json_typeof(v)) {
	case JSON_REAL:
		return AL_E_PARSE;
	case JSON_ARRAY:
		json_array_foreach(v, i, item) {
			int rc = audit_check_value(item, depth + 1);
			if (rc)
				return rc;
		}
		return 0;
	case JSON_OBJECT:
		for (void *it = json_object_iter((json_t *)v); it;
		     it = json_object_iter_next((json_t *)v, it)) {
			name = json_object_iter_key(it);
			if (strlen(name) != json_object_iter_key_len(it))
				return AL_E_PARSE;
			int rc = audit_check_value(json_object_iter_value(it),
						   depth + 1);
			if (rc)
				return rc;
		}
		return 0;
	default:
		return 0;
	}
}

int audit_canonical(const json_t *entry, struct al_buf *out)
{
	json_t *copy = NULL;
	char *text = NULL;
	int rc;

	out->len = 0;
	if (!json_is_object(entry))
		return AL_E_PARSE;
	rc = audit_check_value(entry, 0);
	if (rc)
		goto out;
	copy = json_copy((json_t *)entry);
	if (!copy) {
		rc = -ENOMEM;
		goto out;
	}
	json_object_del(copy, "hash");

	text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text) {
		rc = -ENOMEM;
		goto out;
	}
	if (strlen(text) > AUDIT_ENTRY_MAX) {
		rc = AL_E_LIMIT;
		goto out;
	}
	rc = al_buf_puts(out, text);
out:
	free(text);
	json_decref(copy);
	return rc;
}

int audit_entry_hash(const json_t *entry, char hex[AUDIT_HASH_HEX_LEN + 1])
{
	struct al_buf canon = { 0 };
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	int rc = audit_canonical(entry, &canon);

	if (rc)
		goto out;
	if (EVP_Digest(canon.p, canon.len, md, &mdlen, EVP_sha256(), NULL) !=
		    1 ||
	    mdlen != AUDIT_HASH_HEX_LEN / 2) {
		rc = AL_E_CRYPTO;
		goto out;
	}
	al_hex(hex, md, mdlen);
out:
	al_buf_free(&canon);
	return rc;
}

static bool audit_is_hash(const json_t *v)
{
	const char *s = json_string_value(v);

	if (!s || json_string_length(v) != AUDIT_HASH_HEX_LEN)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/* The shape of a stored entry; NULL if it is right, else the reason. */
static const char *audit_shape(const json_t *e)
{
	if (!json_is_object(e))
		return "not a JSON object";
	if (json_object_size(e) != AL_ARRAY_LEN(audit_members))
		return "wrong set of members";
	for (size_t i = 0; i < AL_ARRAY_LEN(audit_members); i++)
		if (!json_object_get(e, audit_members[i]))
			return "wrong set of members";
	if (!json_is_integer(json_object_get(e, "seq")) ||
	    json_integer_value(json_object_get(e, "seq")) < 1)
		return "seq is not a positive integer";
	if (!json_is_string(json_object_get(e, "time")) ||
	    !json_is_string(json_object_get(e, "actor")) ||
	    !json_is_string(json_object_get(e, "action")) ||
	    !json_is_string(json_object_get(e, "object")))
		return "time, actor, action or object is not a string";
	const char *t = json_string_value(json_object_get(e, "time"));
	if (strlen(t) != 24 || t[10] != 'T' || t[23] != 'Z')
		return "time is not an ISO 8601 UTC stamp with milliseconds";
	if (!json_is_object(json_object_get(e, "details")))
		return "details is not an object";
	if (!audit_is_hash(json_object_get(e, "prev")) ||
	    !audit_is_hash(json_object_get(e, "hash")))
		return "prev or hash is not 64 lower-case hex digits";
	return NULL;
}

/*
 * Read the head and make sure it names the last entry. seq 0 and the
 * zero hash when the log is empty (no head and no entry 1).
 */
static int audit_head(struct store_txn *txn, uint64_t *seq,
		      char hash[AUDIT_HASH_HEX_LEN + 1])
{
	json_t *head = NULL, *last = NULL;
	uint8_t key[8];
	int rc = store_get_json(txn, STORE_DB_META, AUDIT_META_HEAD,
				strlen(AUDIT_META_HEAD), &head);

	if (rc == AL_E_NOTFOUND) {
		*seq = 0;
		memcpy(hash, AUDIT_ZERO_HASH, AUDIT_HASH_HEX_LEN + 1);
		audit_key(1, key);
		rc = store_get_json(txn, STORE_DB_AUDIT, key, 8, &last);
		rc = rc == AL_E_NOTFOUND ? 0 : AL_E_CHAIN;
		goto out;
	}
	if (rc)
		goto out;

	json_int_t hseq = json_integer_value(json_object_get(head, "seq"));
	if (hseq < 1 || !audit_is_hash(json_object_get(head, "hash"))) {
		rc = AL_E_CHAIN;
		goto out;
	}
	*seq = (uint64_t)hseq;
	memcpy(hash, json_string_value(json_object_get(head, "hash")),
	       AUDIT_HASH_HEX_LEN + 1);

	audit_key(*seq, key);
	rc = store_get_json(txn, STORE_DB_AUDIT, key, 8, &last);
	if (rc == AL_E_NOTFOUND ||
	    (rc == 0 && !json_equal(json_object_get(last, "hash"),
				    json_object_get(head, "hash"))))
		rc = AL_E_CHAIN;
out:
	if (rc == AL_E_CHAIN)
		al_error("audit", NULL, "head in meta does not match the last "
			 "entry; refusing to append (run audit verify)");
	json_decref(head);
	json_decref(last);
	return rc;
}

static int audit_check_field(const char *s, size_t max)
{
	if (!s || !*s)
		return AL_E_USAGE;
	return strlen(s) > max ? AL_E_LIMIT : 0;
}

static json_t *audit_build(uint64_t seq, const char *actor,
			   const char *action, const char *object,
			   json_t *details, const char *prev)
{
	char stamp[32];

	al_utc_stamp(stamp, sizeof(stamp), al_wall_ms());
	/* "o" steals details; a NULL from an invalid string frees it. */
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:o, s:s}", "seq",
			 (json_int_t)seq, "time", stamp, "actor", actor,
			 "action", action, "object", object, "details",
			 details, "prev", prev);
}

int audit_append(struct store_txn *txn, const char *actor, const char *action,
		 const char *object, json_t *details, uint64_t *seq_out)
{
	char prev[AUDIT_HASH_HEX_LEN + 1], hash[AUDIT_HASH_HEX_LEN + 1];
	json_t *entry = NULL, *head = NULL;
	uint64_t seq;
	uint8_t key[8];
	int rc;

	if (!details)
		details = json_object();
	if (!details)
		return -ENOMEM;
	if (!json_is_object(details))
		rc = AL_E_USAGE;
	else if (!(rc = audit_check_field(actor, AUDIT_NAME_MAX)) &&
		 !(rc = audit_check_field(action, AUDIT_NAME_MAX)))
		rc = audit_check_field(object, AUDIT_OBJECT_MAX);
	if (rc == 0)
		rc = audit_head(txn, &seq, prev);
	if (rc) {
		json_decref(details);
		goto out;
	}

	entry = audit_build(seq + 1, actor, action, object, details, prev);
	if (!entry) {
		rc = AL_E_PARSE;
		goto out;
	}
	rc = audit_entry_hash(entry, hash);
	if (rc)
		goto out;
	json_object_set_new(entry, "hash", json_string(hash));

	audit_key(seq + 1, key);
	rc = store_put_json(txn, STORE_DB_AUDIT, key, 8, entry,
			    STORE_NOOVERWRITE);
	if (rc)
		goto out;
	head = json_pack("{s:I, s:s}", "seq", (json_int_t)(seq + 1), "hash",
			 hash);
	rc = head ? store_put_json(txn, STORE_DB_META, AUDIT_META_HEAD,
				   strlen(AUDIT_META_HEAD), head, 0)
		  : -ENOMEM;
	if (rc == 0 && seq_out)
		*seq_out = seq + 1;
out:
	if (rc)
		al_error("audit", NULL, "cannot append %s entry: %s",
			 action ? action : "(null)", al_strerror(rc));
	json_decref(entry);
	json_decref(head);
	return rc;
}

int audit_append_now(struct store *st, const char *actor, const char *action,
		     const char *object, json_t *details, uint64_t *seq_out)
{
	struct store_txn *txn = NULL;
	int rc = store_txn_begin(st, true, &txn);

	if (rc) {
		json_decref(details);
		return rc;
	}
	rc = audit_append(txn, actor, action, object, details, seq_out);
	if (rc) {
		store_txn_abort(txn);
		return rc;
	}
	return store_txn_commit(txn);
}

/* Check one entry against its key and the previous hash. */
static const char *audit_check_entry(const json_t *e, uint64_t seq,
				     const char *prev)
{
	char hash[AUDIT_HASH_HEX_LEN + 1];
	const char *why = audit_shape(e);

	if (why)
		return why;
	if ((uint64_t)json_integer_value(json_object_get(e, "seq")) != seq)
		return "seq member differs from its record key";
	if (strcmp(json_string_value(json_object_get(e, "prev")), prev) != 0)
		return "prev does not match the previous entry's hash";
	if (audit_entry_hash(e, hash) != 0)
		return "entry has no canonical form";
	if (strcmp(json_string_value(json_object_get(e, "hash")), hash) != 0)
		return "hash does not match the entry's contents";
	return NULL;
}

/* Compare the head with the last entry walked (seq last, hash prev). */
static int audit_verify_head(struct store_txn *txn, uint64_t last,
			     const char *prev, uint64_t *bad_seq)
{
	json_t *head = NULL;
	json_int_t hseq = 0;
	int rc = store_get_json(txn, STORE_DB_META, AUDIT_META_HEAD,
				strlen(AUDIT_META_HEAD), &head);

	if (rc == AL_E_NOTFOUND && last == 0)
		return 0;
	if (rc == 0 && audit_is_hash(json_object_get(head, "hash")))
		hseq = json_integer_value(json_object_get(head, "seq"));
	if (hseq < 1) {
		al_warn("audit", NULL, "head in meta is missing or unreadable "
			"(%s)", al_strerror(rc));
		*bad_seq = 1;
		rc = AL_E_CHAIN;
	} else if ((uint64_t)hseq != last) {
		al_warn("audit", NULL, "head names seq %lld but the log ends at "
			"seq %llu", (long long)hseq, (unsigned long long)last);
		*bad_seq = ((uint64_t)hseq < last ? (uint64_t)hseq : last) + 1;
		rc = AL_E_CHAIN;
	} else if (strcmp(json_string_value(json_object_get(head, "hash")),
			  prev) != 0) {
		al_warn("audit", NULL, "head hash differs from entry %llu",
			(unsigned long long)last);
		*bad_seq = last;
		rc = AL_E_CHAIN;
	} else {
		rc = 0;
	}
	json_decref(head);
	return rc;
}

int audit_verify(struct store *st, uint64_t *count, uint64_t *bad_seq)
{
	char prev[AUDIT_HASH_HEX_LEN + 1] = AUDIT_ZERO_HASH;
	struct store_txn *txn = NULL;
	struct store_cursor *cur = NULL;
	const char *why = NULL;
	uint64_t next = 1;
	const void *key;
	size_t keylen;
	json_t *e;
	int rc;

	*count = 0;
	*bad_seq = 0;
	rc = store_txn_begin(st, false, &txn);
	if (rc == 0)
		rc = store_cursor_open(txn, STORE_DB_AUDIT, &cur);

	while (rc == 0) {
		rc = store_cursor_next(cur, &key, &keylen, &e);
		if (rc == AL_E_NOTFOUND) {
			rc = 0;
			break;
		}
		if (rc != 0 && rc != AL_E_AUTH && rc != AL_E_PARSE)
			goto out;

		if (keylen != 8 || audit_key_seq(key) != next)
			why = "entry missing (gap, or a record key that is not "
			      "the next seq)";
		else if (rc)
			why = "value fails to unseal or parse";
		else
			why = audit_check_entry(e, next, prev);
		if (why) {
			al_warn("audit", NULL, "chain broken at seq %llu: %s",
				(unsigned long long)next, why);
			*bad_seq = next;
			rc = AL_E_CHAIN;
			goto out;
		}

		memcpy(prev, json_string_value(json_object_get(e, "hash")),
		       sizeof(prev));
		*count = next++;
	}
	if (rc == 0)
		rc = audit_verify_head(txn, next - 1, prev, bad_seq);
out:
	store_cursor_close(cur);
	store_txn_abort(txn);
	return rc;
}

static int audit_sink_emit(void *ctx, const char *action, const char *object,
			   json_t *details)
{
	struct audit_sink *s = ctx;
	int rc;

	if (!details)
		details = json_object();
	pthread_mutex_lock(&s->lock);
	if (s->job[0] && json_is_object(details))
		json_object_set_new(details, "job", json_string(s->job));
	rc = audit_append_now(s->st, "system", action, object, details, NULL);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int audit_sink_init(struct audit_sink *s, struct store *st, const char *job)
{
	memset(s, 0, sizeof(*s));
	s->st = st;
	if (job)
		al_strlcpy(s->job, job, sizeof(s->job));
	return -pthread_mutex_init(&s->lock, NULL);
}

void audit_sink_set_job(struct audit_sink *s, const char *job)
{
	pthread_mutex_lock(&s->lock);
	al_strlcpy(s->job, job ? job : "", sizeof(s->job));
	pthread_mutex_unlock(&s->lock);
}

void audit_sink_destroy(struct audit_sink *s)
{
	pthread_mutex_destroy(&s->lock);
}

struct al_event_sink audit_event_sink(struct audit_sink *s)
{
	return (struct al_event_sink){ .emit = audit_sink_emit, .ctx = s };
}
