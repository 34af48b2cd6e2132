/*
 * audit.c - the canonical form, appending (one entry, a batch, or many
 * threads' entries through the group-committing sink).
 */
#include "audit/audit.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "audit/internal.h"
#include "base/err.h"
#include "base/log.h"

void audit_key(uint64_t seq, uint8_t key[8])
{
	for (int i = 7; i >= 0; i--) {
		key[i] = (uint8_t)(seq & 0xff);
		seq >>= 8;
	}
}

uint64_t audit_key_seq(const void *key, size_t keylen)
{
	const uint8_t *k = key;
	uint64_t seq = 0;

	if (keylen != 8)
		return 0;
	for (int i = 0; i < 8; i++)
		seq = (seq << 8) | k[i];
	return seq;
}

/*
 * Refuse what has no single canonical spelling: real numbers (their
 * shortest decimal form differs between libraries) and member names with
 * an embedded NUL (they sort differently as C strings). Depth is capped
 * so a hostile details object cannot exhaust the stack.
 */
int audit_check_json(const json_t *v, int depth)
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
			int rc = audit_check_json(item, depth + 1);
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
			int rc = audit_check_json(json_object_iter_value(it),
						   depth + 1);
			if (rc)
				return rc;
		}
		return 0;
	default:
		return 0;
	}
}

/* Decimal digits of v, without printf. */
static int audit_put_u64(struct al_buf *b, uint64_t v)
{
	char d[20];
	size_t n = 0;

	do {
		d[sizeof(d) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return al_buf_append(b, d + sizeof(d) - n, n);
}

static int audit_put_int(struct al_buf *b, json_int_t v)
{
	int rc = 0;

	if (v >= 0)
		return audit_put_u64(b, (uint64_t)v);
	rc = al_buf_append(b, "-", 1);
	/* -(v + 1) + 1 stays in range for the most negative value. */
	return rc ? rc : audit_put_u64(b, (uint64_t)(-(v + 1)) + 1);
}

struct audit_member {
	const char *name;
	size_t len;
	json_t *value;
};

static int audit_member_cmp(const void *a, const void *b)
{
	const struct audit_member *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* Members in canonical order: the bytes of their names (no NUL in a
 * name, checked here, so strcmp's unsigned order is that order). */
static int audit_json_object(struct al_buf *b, const json_t *v, int depth)
{
	struct audit_member few[16], *m = few;
	size_t n = json_object_size(v), i = 0;
	int rc = 0;

	if (n > AL_ARRAY_LEN(few) && !(m = calloc(n, sizeof(*m))))
		return -ENOMEM;
	for (void *it = json_object_iter((json_t *)v); it && i < n;
	     it = json_object_iter_next((json_t *)v, it), i++) {
		m[i].name = json_object_iter_key(it);
		m[i].len = json_object_iter_key_len(it);
		m[i].value = json_object_iter_value(it);
		if (strlen(m[i].name) != m[i].len)
			rc = AL_E_PARSE;
	}
	if (rc == 0 && n > 1)
		qsort(m, i, sizeof(*m), audit_member_cmp);
	if (rc == 0)
		rc = al_buf_append(b, "{", 1);
	for (size_t k = 0; rc == 0 && k < i; k++) {
		if (k && (rc = al_buf_append(b, ",", 1)))
			break;
		if ((rc = audit_json_stringn(b, m[k].name, m[k].len)) ||
		    (rc = al_buf_append(b, ":", 1)))
			break;
		rc = audit_json_value(b, m[k].value, depth + 1);
	}
	if (rc == 0)
		rc = al_buf_append(b, "}", 1);
	if (m != few)
		free(m);
	return rc;
}

int audit_json_value(struct al_buf *b, const json_t *v, int depth)
{
	int rc = 0;

	if (depth > AUDIT_DEPTH_MAX)
		return AL_E_LIMIT;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return audit_json_object(b, v, depth);
	case JSON_ARRAY:
		rc = al_buf_append(b, "[", 1);
		for (size_t i = 0; rc == 0 && i < json_array_size(v); i++) {
			if (i && (rc = al_buf_append(b, ",", 1)))
				break;
			rc = audit_json_value(b, json_array_get(v, i),
					      depth + 1);
		}
		return rc ? rc : al_buf_append(b, "]", 1);
	case JSON_STRING:
		/* A NUL would be written as \u0000, which readers refuse by
		 * default (jansson does: the next append could not read the
		 * head entry back). */
		if (memchr(json_string_value(v), '\0', json_string_length(v)))
			return AL_E_PARSE;
		return audit_json_stringn(b, json_string_value(v),
					  json_string_length(v));
	case JSON_INTEGER:
		return audit_put_int(b, json_integer_value(v));
	case JSON_TRUE:
		return al_buf_append(b, "true", 4);
	case JSON_FALSE:
		return al_buf_append(b, "false", 5);
	case JSON_NULL:
		return al_buf_append(b, "null", 4);
	default:
		return AL_E_PARSE; /* JSON_REAL: no single spelling */
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
	rc = audit_check_json(entry, 0);
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

/*
 * Read the head and make sure it names the last entry. seq 0 and the
 * zero hash when the log is empty (no head and no entry 1).
 */
int audit_head(struct store_txn *txn, uint64_t *seq,
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

#define AUDIT_HASH_MEMBER ",\"hash\":\""
/* Room the "hash" member takes: ,"hash":"<64 hex>" */
#define AUDIT_HASH_SLOT (sizeof(AUDIT_HASH_MEMBER) - 1 + AUDIT_HASH_HEX_LEN + 1)

/*
 * One entry's bytes as stored, written directly in the member order the
 * canonical form fixes: {action, actor, details, hash, object, prev,
 * seq, time}, with the hash member's room left blank at *cut (its
 * AUDIT_HASH_SLOT bytes are not hashed and are filled in after).
 */
static int audit_render(struct al_buf *b, size_t *cut,
			const struct audit_rec *r, uint64_t seq,
			const char *prev, const char *stamp)
{
	int rc;

	b->len = 0;
	if ((rc = al_buf_append(b, "{\"action\":", 10)) ||
	    (rc = audit_json_string(b, r->action)) ||
	    (rc = al_buf_append(b, ",\"actor\":", 9)) ||
	    (rc = audit_json_string(b, r->actor)) ||
	    (rc = al_buf_append(b, ",\"details\":", 11)))
		return rc;
	if (r->details)
		rc = audit_json_value(b, r->details, 1);
	else
		rc = al_buf_append(b, "{}", 2);
	if (rc)
		return rc;
	*cut = b->len;
	if ((rc = al_buf_reserve(b, AUDIT_HASH_SLOT)))
		return rc;
	b->len += AUDIT_HASH_SLOT;
	if ((rc = al_buf_append(b, ",\"object\":", 10)) ||
	    (rc = audit_json_string(b, r->object)) ||
	    (rc = al_buf_append(b, ",\"prev\":\"", 9)) ||
	    (rc = al_buf_append(b, prev, AUDIT_HASH_HEX_LEN)) ||
	    (rc = al_buf_append(b, "\",\"seq\":", 8)) ||
	    (rc = audit_put_u64(b, seq)) ||
	    (rc = al_buf_append(b, ",\"time\":\"", 9)) ||
	    (rc = al_buf_puts(b, stamp)) ||
	    (rc = al_buf_append(b, "\"}", 2)))
		return rc;
	return b->len - AUDIT_HASH_SLOT > AUDIT_ENTRY_MAX ? AL_E_LIMIT : 0;
}

/* Field checks; details are checked while they are encoded. */
static int audit_check_rec(const struct audit_rec *r)
{
	int rc;

	if (r->details && !json_is_object(r->details))
		return AL_E_USAGE;
	if ((rc = audit_check_field(r->actor, AUDIT_NAME_MAX)) ||
	    (rc = audit_check_field(r->action, AUDIT_NAME_MAX)) ||
	    (rc = audit_check_field(r->object, AUDIT_OBJECT_MAX)))
		return rc;
	return 0;
}

/*
 * Write one entry at seq after prev; on success prev becomes its hash.
 * The bytes sealed are exactly the canonical form with "hash" in its
 * place, so verifiers can check them without re-encoding.
 */
static int audit_put_one(struct audit_log *log, struct store_txn *txn,
			 const struct audit_rec *r, uint64_t seq,
			 char prev[AUDIT_HASH_HEX_LEN + 1], const char *stamp,
			 struct al_buf *out)
{
	char hash[AUDIT_HASH_HEX_LEN + 1];
	uint8_t key[8];
	size_t cut = 0, rest;
	int rc = audit_check_rec(r);

	if (rc == 0)
		rc = audit_render(out, &cut, r, seq, prev, stamp);
	if (rc)
		return rc;
	rest = cut + AUDIT_HASH_SLOT;
	rc = audit_hasher_hex(&log->hasher, out->p, cut, out->p + rest,
			      out->len - rest, hash);
	if (rc)
		return rc;
	memcpy(out->p + cut, AUDIT_HASH_MEMBER, sizeof(AUDIT_HASH_MEMBER) - 1);
	memcpy(out->p + cut + sizeof(AUDIT_HASH_MEMBER) - 1, hash,
	       AUDIT_HASH_HEX_LEN);
	out->p[rest - 1] = '"';

	audit_key(seq, key);
	/* Sequence numbers only rise: LMDB appends and fills its pages. */
	rc = store_put_sealed(txn, STORE_DB_AUDIT, key, 8, out->p, out->len,
			      STORE_APPEND);
	if (rc == 0)
		memcpy(prev, hash, sizeof(hash));
	return rc;
}

/* After appending up to head: write a checkpoint if the policy says. */
static int audit_maybe_checkpoint(struct audit_log *log,
				  struct store_txn *txn, uint64_t head,
				  const char *hash)
{
	struct audit_cp last;
	int rc = audit_cp_last(txn, &last, NULL);

	if (rc && rc != AL_E_NOTFOUND)
		return rc;
	if (!audit_cp_due(&log->pol, rc ? NULL : &last, head, al_wall_ms()))
		return 0;
	rc = audit_cp_write(txn, log->signer, rc ? NULL : &last, head, hash,
			    NULL);
	if (rc == 0)
		atomic_store(&log->cp_dirty, true);
	return rc;
}

static int audit_append_recs(struct audit_log *log, struct store_txn *txn,
			     struct audit_rec *recs, size_t n,
			     uint64_t *first_seq)
{
	char prev[AUDIT_HASH_HEX_LEN + 1], stamp[32];
	struct al_buf out = { 0 };
	json_t *head = NULL;
	uint64_t seq = 0;
	size_t i = 0;
	int rc = audit_head(txn, &seq, prev);

	al_utc_stamp(stamp, sizeof(stamp), al_wall_ms());
	for (i = 0; rc == 0 && i < n; i++)
		rc = audit_put_one(log, txn, &recs[i], seq + 1 + i, prev,
				   stamp, &out);
	if (rc) {
		if (i > 0)
			i--;
		goto out;
	}

	seq += n;
	head = json_pack("{s:I, s:s}", "seq", (json_int_t)seq, "hash", prev);
	rc = head ? store_put_json(txn, STORE_DB_META, AUDIT_META_HEAD,
				   strlen(AUDIT_META_HEAD), head, 0)
		  : -ENOMEM;
	if (rc == 0)
		rc = audit_maybe_checkpoint(log, txn, seq, prev);
	if (rc == 0 && first_seq)
		*first_seq = seq - n + 1;
out:
	if (rc && n)
		al_error("audit", NULL, "cannot append %s entry: %s",
			 recs[i < n ? i : 0].action ? recs[i < n ? i : 0].action
						    : "(null)",
			 al_strerror(rc));
	for (size_t k = 0; k < n; k++) {
		json_decref(recs[k].details);
		recs[k].details = NULL;
	}
	json_decref(head);
	al_buf_free(&out);
	return rc;
}

int audit_append(struct audit_log *log, struct store_txn *txn,
		 const char *actor, const char *action, const char *object,
		 json_t *details, uint64_t *seq_out)
{
	struct audit_rec r = { actor, action, object, details };

	return audit_append_recs(log, txn, &r, 1, seq_out);
}

int audit_commit(struct audit_log *log, struct store_txn *txn)
{
	int rc = store_txn_commit(txn);

	if (rc == 0 && atomic_load(&log->cp_dirty))
		audit_log_sync_anchor(log);
	return rc;
}

int audit_append_batch(struct audit_log *log, struct audit_rec *recs,
		       size_t n, uint64_t *first_seq)
{
	struct store_txn *txn = NULL;
	int rc = store_txn_begin(log->st, true, &txn);

	if (rc) {
		for (size_t k = 0; k < n; k++)
			json_decref(recs[k].details);
		return rc;
	}
	rc = audit_append_recs(log, txn, recs, n, first_seq);
	if (rc) {
		store_txn_abort(txn);
		return rc;
	}
	return audit_commit(log, txn);
}

int audit_append_now(struct audit_log *log, const char *actor,
		     const char *action, const char *object, json_t *details,
		     uint64_t *seq_out)
{
	struct audit_rec r = { actor, action, object, details };

	return audit_append_batch(log, &r, 1, seq_out);
}

struct audit_sink_item {
	struct audit_sink_item *next;
	struct audit_rec rec;
	int rc;
	bool done;
};

/* The leader's part: commit everything queued, in one transaction. */
static void audit_sink_lead(struct audit_sink *s)
{
	struct audit_sink_item *batch, *it;
	struct audit_rec *recs;
	size_t n = 0, i = 0;
	int rc;

	/*
	 * The emitters of the last commit were just woken and are about to
	 * queue their next entries: yielding once before taking the queue
	 * lets them join this commit instead of waiting for the next one
	 * (about a microsecond against the commit's fsyncs).
	 */
	s->committing = true;
	pthread_mutex_unlock(&s->lock);
	sched_yield();
	pthread_mutex_lock(&s->lock);
	batch = s->head;
	s->head = s->tail = NULL;
	pthread_mutex_unlock(&s->lock);

	for (it = batch; it; it = it->next)
		n++;
	recs = calloc(n, sizeof(*recs));
	if (recs) {
		for (it = batch; it; it = it->next)
			recs[i++] = it->rec;
		rc = audit_append_batch(s->log, recs, n, NULL);
	} else {
		for (it = batch; it; it = it->next)
			json_decref(it->rec.details);
		rc = -ENOMEM;
	}
	free(recs);

	pthread_mutex_lock(&s->lock);
	for (it = batch; it; it = it->next) {
		it->rc = rc;
		it->done = true;
	}
	s->batches++;
	s->committing = false;
	pthread_cond_broadcast(&s->done);
}

static int audit_sink_emit(void *ctx, const char *action, const char *object,
			   json_t *details)
{
	struct audit_sink *s = ctx;
	struct audit_sink_item item = { 0 };

	if (!details)
		details = json_object();
	pthread_mutex_lock(&s->lock);
	if (s->job[0] && json_is_object(details))
		json_object_set_new(details, "job", json_string(s->job));
	item.rec = (struct audit_rec){ s->actor, action, object, details };
	if (s->tail)
		s->tail->next = &item;
	else
		s->head = &item;
	s->tail = &item;

	while (!item.done) {
		if (!s->committing)
			audit_sink_lead(s);
		else
			pthread_cond_wait(&s->done, &s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return item.rc;
}

int audit_sink_init(struct audit_sink *s, struct audit_log *log,
		    const char *actor, const char *job)
{
	int rc;

	memset(s, 0, sizeof(*s));
	s->log = log;
	al_strlcpy(s->actor, actor ? actor : "system", sizeof(s->actor));
	if (job)
		al_strlcpy(s->job, job, sizeof(s->job));
	rc = pthread_mutex_init(&s->lock, NULL);
	if (rc)
		return -rc;
	rc = pthread_cond_init(&s->done, NULL);
	if (rc) {
		pthread_mutex_destroy(&s->lock);
		return -rc;
	}
	return 0;
}

void audit_sink_set_job(struct audit_sink *s, const char *job)
{
	pthread_mutex_lock(&s->lock);
	al_strlcpy(s->job, job ? job : "", sizeof(s->job));
	pthread_mutex_unlock(&s->lock);
}

void audit_sink_destroy(struct audit_sink *s)
{
	pthread_cond_destroy(&s->done);
	pthread_mutex_destroy(&s->lock);
}

struct al_event_sink audit_event_sink(struct audit_sink *s)
{
	return (struct al_event_sink){ .emit = audit_sink_emit, .ctx = s };
}
