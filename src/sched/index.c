/*
 * index.c - the jobs' summary index (index.h): rows in id order, shared
 * strings in a hash table with reference counts, and pages selected in
 * one pass through a bounded heap.
 */
#include "sched/index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/util.h"
#include "sched/internal.h"

static const char *const ix_cols[] = {
#define SCHED_X_COLNAME(e, name) name,
	SCHED_COL_TABLE(SCHED_X_COLNAME)
#undef SCHED_X_COLNAME
};

static const char *const ix_levels[] = {"high", "medium", "low"};

int sched_col_parse(const char *name)
{
	for (size_t i = 0; name && i < SCHED_COL__COUNT; i++)
		if (!strcmp(name, ix_cols[i]))
			return (int)i;
	return -1;
}

const char *sched_col_name(enum sched_col c)
{
	return c < SCHED_COL__COUNT ? ix_cols[c] : NULL;
}

/* A string shared by the rows that hold it. */
struct ix_str {
	struct ix_str *next;
	uint32_t hash, refs;
	size_t len;
	char s[]; /* len bytes, then a NUL */
};

/* One job. created_ms is also in the id, but not to the ms of a clock
 * that was set back; the record's is what the other views show. */
struct ix_row {
	char id[SCHED_ID_LEN];
	int8_t state;    /* enum sched_state, -1: unknown */
	int8_t level;    /* into ix_levels, -1: none */
	int16_t score;   /* -1: none */
	int32_t updates; /* -1: not planned */
	uint16_t step, steps; /* the stage's place (sched_stage); 0: none */
	int64_t created_ms, finished_ms, changed_ms;
	struct ix_str *repo, *stage;
	struct ix_str *names; /* NUL-separated; NULL: none */
};

struct sched_index {
	struct ix_row *rows; /* by id */
	size_t n, cap;
	struct ix_str **buckets;
	size_t nbuckets, nstr, str_bytes;
	uint64_t key[2]; /* the string table's hash key, random */
};

#define IX_BUCKETS0 1024

int sched_index_new(struct sched_index **out)
{
	struct sched_index *ix = calloc(1, sizeof(*ix));

	if (ix && !(ix->buckets = calloc(IX_BUCKETS0, sizeof(*ix->buckets)))) {
		free(ix);
		ix = NULL;
	}
	*out = ix;
	if (!ix)
		return -ENOMEM;
	ix->nbuckets = IX_BUCKETS0;
	if (al_random(ix->key, sizeof(ix->key))) {
		sched_index_free(ix);
		*out = NULL;
		return -EIO;
	}
	return 0;
}

void sched_index_free(struct sched_index *ix)
{
	if (!ix)
		return;
	for (size_t i = 0; i < ix->nbuckets; i++) {
		struct ix_str *e = ix->buckets[i], *next;
		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(ix->buckets);
	free(ix->rows);
	free(ix);
}

size_t sched_index_count(const struct sched_index *ix)
{
	return ix ? ix->n : 0;
}

size_t sched_index_bytes(const struct sched_index *ix)
{
	if (!ix)
		return 0;
	return sizeof(*ix) + ix->cap * sizeof(*ix->rows) +
	       ix->nbuckets * sizeof(*ix->buckets) + ix->str_bytes;
}

size_t sched_index_chain_max(const struct sched_index *ix)
{
	size_t max = 0;

	for (size_t i = 0; ix && i < ix->nbuckets; i++) {
		size_t n = 0;
		for (const struct ix_str *e = ix->buckets[i]; e; e = e->next)
			n++;
		if (n > max)
			max = n;
	}
	return max;
}

/* ---- shared strings ------------------------------------------------- */

/*
 * SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input
 * PRF", 2012) under the index's random key. The strings are a
 * caller's repository URLs and a hostile project's test and package
 * names: with a public hash (FNV-1a was here) they can be chosen to
 * share a bucket, and every intern then walks them all, n^2 to build.
 */
#define IX_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define IX_SIPROUND                                                        \
	do {                                                               \
		v0 += v1; v1 = IX_ROTL(v1, 13); v1 ^= v0;                  \
		v0 = IX_ROTL(v0, 32);                                      \
		v2 += v3; v3 = IX_ROTL(v3, 16); v3 ^= v2;                  \
		v0 += v3; v3 = IX_ROTL(v3, 21); v3 ^= v0;                  \
		v2 += v1; v1 = IX_ROTL(v1, 17); v1 ^= v2;                  \
		v2 = IX_ROTL(v2, 32);                                      \
	} while (0)

static uint64_t ix_siphash(const uint64_t key[2], const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	uint64_t v0 = key[0] ^ 0x736f6d6570736575ull;
	uint64_t v1 = key[1] ^ 0x646f72616e646f6dull;
	uint64_t v2 = key[0] ^ 0x6c7967656e657261ull;
	uint64_t v3 = key[1] ^ 0x7465646279746573ull;
	uint64_t m;
	size_t i, j;

	for (i = 0; i + 8 <= len; i += 8) {
		for (m = 0, j = 0; j < 8; j++)
			m |= (uint64_t)u[i + j] << (8 * j);
		v3 ^= m;
		IX_SIPROUND;
		IX_SIPROUND;
		v0 ^= m;
	}
	for (m = (uint64_t)len << 56, j = 0; i + j < len; j++)
		m |= (uint64_t)u[i + j] << (8 * j);
	v3 ^= m;
	IX_SIPROUND;
	IX_SIPROUND;
	v0 ^= m;
	v2 ^= 0xff;
	for (j = 0; j < 4; j++)
		IX_SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint32_t ix_hash(const struct sched_index *ix, const char *s,
			size_t len)
{
	return (uint32_t)ix_siphash(ix->key, s, len);
}

static void ix_grow(struct sched_index *ix)
{
	size_t nb = ix->nbuckets * 2;
	struct ix_str **b = calloc(nb, sizeof(*b));

	/* Without room the chains only get longer: still correct. */
	if (!b)
		return;
	for (size_t i = 0; i < ix->nbuckets; i++) {
		struct ix_str *e = ix->buckets[i], *next;
		for (; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(ix->buckets);
	ix->buckets = b;
	ix->nbuckets = nb;
}

/* A reference to the shared copy of s (len bytes); NULL on ENOMEM. */
static struct ix_str *ix_intern(struct sched_index *ix, const char *s,
				size_t len)
{
	uint32_t h = ix_hash(ix, s, len);
	struct ix_str *e = ix->buckets[h & (ix->nbuckets - 1)];

	for (; e; e = e->next)
		if (e->hash == h && e->len == len && !memcmp(e->s, s, len)) {
			e->refs++;
			return e;
		}
	if (!(e = malloc(sizeof(*e) + len + 1)))
		return NULL;
	e->hash = h;
	e->refs = 1;
	e->len = len;
	memcpy(e->s, s, len);
	e->s[len] = '\0';
	e->next = ix->buckets[h & (ix->nbuckets - 1)];
	ix->buckets[h & (ix->nbuckets - 1)] = e;
	ix->str_bytes += sizeof(*e) + len + 1;
	if (++ix->nstr > 2 * ix->nbuckets)
		ix_grow(ix);
	return e;
}

static void ix_release(struct sched_index *ix, struct ix_str *e)
{
	struct ix_str **p;

	if (!e || --e->refs)
		return;
	for (p = &ix->buckets[e->hash & (ix->nbuckets - 1)]; *p != e;
	     p = &(*p)->next)
		;
	*p = e->next;
	ix->nstr--;
	ix->str_bytes -= sizeof(*e) + e->len + 1;
	free(e);
}

/* ---- rows from records ---------------------------------------------- */

/*
 * The names a text filter looks in: planned updates, then failing
 * tests, each once, into b as NUL-separated strings, at most
 * SCHED_NAMES_MAX and SCHED_NAMES_BYTES. True when some were cut.
 */
static bool ix_names(const json_t *rec, char *b, size_t *len)
{
	json_t *ups = json_object_get(json_object_get(rec, "plan"), "updates");
	json_t *fails = json_object_get(json_object_get(rec, "report"),
					"failures");
	json_t *v, *f, *t;
	size_t i, k, n = 0;
	bool cut = false;

	*len = 0;
#define IX_ADD(str)                                                        \
	do {                                                               \
		const char *s_ = (str);                                    \
		size_t l_ = s_ ? strlen(s_) : 0;                           \
		if (!s_ || !l_)                                            \
			break;                                             \
		if (n == SCHED_NAMES_MAX ||                                \
		    *len + l_ + 1 > SCHED_NAMES_BYTES) {                   \
			cut = true;                                        \
			break;                                             \
		}                                                          \
		memcpy(b + *len, s_, l_ + 1);                              \
		*len += l_ + 1;                                            \
		n++;                                                       \
	} while (0)
	json_array_foreach(ups, i, v)
		IX_ADD(sched_jstr(v, "name"));
	json_array_foreach(fails, i, f)
		json_array_foreach(json_object_get(json_object_get(f, "tests"),
						   "failing"), k, t)
			IX_ADD(json_string_value(t));
#undef IX_ADD
	return cut;
}

static int ix_level(const char *name)
{
	for (int i = 0; name && i < (int)AL_ARRAY_LEN(ix_levels); i++)
		if (!strcmp(name, ix_levels[i]))
			return i;
	return -1;
}

static bool ix_id_ok(const char *id)
{
	return id && strlen(id) == SCHED_ID_LEN &&
	       strspn(id, "0123456789abcdef") == SCHED_ID_LEN;
}

static int64_t ix_changed(const json_t *rec)
{
	int64_t t = sched_jint(rec, "created_ms", 0), u;

	if ((u = sched_jint(rec, "started_ms", 0)) > t)
		t = u;
	if ((u = sched_jint(rec, "finished_ms", 0)) > t)
		t = u;
	return t;
}

/* A stage's step or total from the scheduler's member; 0 when it has
 * none (records from before steps were kept) or one out of range. */
static uint16_t ix_step(const json_t *m, const char *key)
{
	int64_t v = sched_jint(m, key, 0);

	return v > 0 && v <= UINT16_MAX ? (uint16_t)v : 0;
}

/* Fill r from rec; its strings are new references. */
static int ix_fill(struct sched_index *ix, struct ix_row *r, const json_t *rec,
		   int64_t changed_ms)
{
	const json_t *m = json_object_get(rec, "sched");
	const json_t *score = json_object_get(rec, "score");
	const json_t *ups = json_object_get(json_object_get(rec, "plan"),
					    "updates");
	const char *repo = sched_jstr(rec, "repo") ?: "";
	const char *stage = sched_jstr(m, "stage") ?: "";
	char names[SCHED_NAMES_BYTES];
	size_t nlen;

	memcpy(r->id, sched_jstr(rec, "id"), SCHED_ID_LEN);
	r->state = (int8_t)sched_state_parse(sched_jstr(rec, "state"));
	r->level = (int8_t)ix_level(sched_jstr(score, "level"));
	r->score = json_is_integer(json_object_get(score, "value"))
		   ? (int16_t)sched_jint(score, "value", -1) : -1;
	r->updates = json_is_array(ups) ? (int32_t)json_array_size(ups) : -1;
	r->step = ix_step(m, "step");
	r->steps = ix_step(m, "steps");
	r->created_ms = sched_jint(rec, "created_ms", -1);
	r->finished_ms = sched_jint(rec, "finished_ms", -1);
	r->changed_ms = changed_ms ? changed_ms : ix_changed(rec);
	ix_names(rec, names, &nlen);
	r->repo = ix_intern(ix, repo, strlen(repo));
	r->stage = ix_intern(ix, stage, strlen(stage));
	r->names = nlen ? ix_intern(ix, names, nlen) : NULL;
	if (r->repo && r->stage && (r->names || !nlen))
		return 0;
	ix_release(ix, r->repo);
	ix_release(ix, r->stage);
	ix_release(ix, r->names);
	return -ENOMEM;
}

/* Where id is, or would go, in the rows. */
static size_t ix_find(const struct sched_index *ix, const char *id,
		      bool *found)
{
	size_t lo = 0, hi = ix->n;

	/* New jobs are the newest: look at the end first. */
	if (ix->n && memcmp(ix->rows[ix->n - 1].id, id, SCHED_ID_LEN) < 0) {
		*found = false;
		return ix->n;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(ix->rows[mid].id, id, SCHED_ID_LEN);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

int sched_index_put(struct sched_index *ix, const json_t *rec,
		    int64_t changed_ms)
{
	const char *id = sched_jstr(rec, "id");
	struct ix_row r;
	bool found;
	size_t at;
	int rc;

	if (!ix_id_ok(id))
		return AL_E_PARSE;
	if ((rc = ix_fill(ix, &r, rec, changed_ms)))
		return rc;
	at = ix_find(ix, id, &found);
	if (found) {
		ix_release(ix, ix->rows[at].repo);
		ix_release(ix, ix->rows[at].stage);
		ix_release(ix, ix->rows[at].names);
		ix->rows[at] = r;
		return 0;
	}
	if (ix->n == ix->cap) {
		size_t cap = ix->cap ? ix->cap + ix->cap / 2 : 1024;
		struct ix_row *v = realloc(ix->rows, cap * sizeof(*v));
		if (!v) {
			ix_release(ix, r.repo);
			ix_release(ix, r.stage);
			ix_release(ix, r.names);
			return -ENOMEM;
		}
		ix->rows = v;
		ix->cap = cap;
	}
	memmove(&ix->rows[at + 1], &ix->rows[at],
		(ix->n - at) * sizeof(*ix->rows));
	ix->rows[at] = r;
	ix->n++;
	return 0;
}

int sched_index_build(struct sched *s, struct sched_index **out)
{
	struct sched_index *ix = NULL;
	struct store_txn *txn = NULL;
	struct store_cursor *cur = NULL;
	const void *key;
	size_t klen;
	json_t *rec;
	int rc;

	*out = NULL;
	if ((rc = sched_index_new(&ix)) ||
	    (rc = store_txn_begin(s->st, false, &txn)) ||
	    (rc = store_cursor_open(txn, STORE_DB_JOBS, &cur)))
		goto out;
	for (;;) {
		rec = NULL;
		rc = store_cursor_next(cur, &key, &klen, &rec);
		if (rc == AL_E_NOTFOUND) {
			rc = 0;
			break;
		}
		/* A record that does not unseal is left out, as in pages
		 * (the store logs it). */
		if (rc && rc != AL_E_AUTH && rc != AL_E_PARSE && rc != AL_E_STALE)
			goto out;
		/* rec is the cursor's, valid until the next step. */
		rc = rec ? sched_index_put(ix, rec, 0) : 0;
		if (rc && rc != AL_E_PARSE)
			goto out;
		rc = 0;
	}
	/* Growth left up to half again as many rows: room for the jobs
	 * to come, not for half the store. */
	if (ix->cap > ix->n + 1024) {
		struct ix_row *v = realloc(ix->rows,
					   (ix->n + 1024) * sizeof(*v));
		if (v) {
			ix->rows = v;
			ix->cap = ix->n + 1024;
		}
	}
	*out = ix;
	ix = NULL;
out:
	store_cursor_close(cur);
	store_txn_abort(txn);
	sched_index_free(ix);
	return rc;
}

/* ---- pages ---------------------------------------------------------- */

/* A row's place in an order: its key in column col and its id. */
struct ix_key {
	int64_t i;
	const char *s;
	char id[SCHED_ID_LEN];
};

static bool ix_col_str(enum sched_col c)
{
	return c == SCHED_COL_REPO || c == SCHED_COL_STATE ||
	       c == SCHED_COL_STAGE;
}

static void ix_key_of(const struct ix_row *r, enum sched_col c,
		      struct ix_key *k)
{
	k->i = 0;
	k->s = NULL;
	memcpy(k->id, r->id, SCHED_ID_LEN);
	switch (c) {
	case SCHED_COL_REPO: k->s = r->repo->s; break;
	case SCHED_COL_STAGE: k->s = r->stage->s; break;
	case SCHED_COL_STATE: k->s = sched_state_name(r->state) ?: ""; break;
	case SCHED_COL_SCORE: k->i = r->score; break;
	case SCHED_COL_UPDATES: k->i = r->updates; break;
	case SCHED_COL_CHANGED: k->i = r->changed_ms; break;
	case SCHED_COL_DURATION:
		/* Not ended: longer than every ended job, so the key does
		 * not change while it runs (the cursor stays valid). */
		k->i = (r->finished_ms > 0 ? r->finished_ms : INT64_MAX / 2) -
		       r->created_ms;
		break;
	default: break;
	}
}

static int ix_cmp(const struct sched_index_query *q, const struct ix_key *a,
		  const struct ix_key *b)
{
	int c = 0;

	if (ix_col_str(q->col))
		c = strcmp(a->s, b->s);
	else if (q->col != SCHED_COL_ID)
		c = a->i < b->i ? -1 : a->i > b->i;
	if (c)
		return q->desc ? -c : c;
	c = memcmp(a->id, b->id, SCHED_ID_LEN);
	return q->col == SCHED_COL_ID && !q->desc ? c : -c;
}

/* The cursor [key, id] as a key of column q->col. */
static int ix_cursor(const struct sched_index_query *q, struct ix_key *k)
{
	const json_t *v = json_array_get(q->from, 0);
	const char *id = json_string_value(json_array_get(q->from, 1));

	if (!json_is_array(q->from) || json_array_size(q->from) != 2 ||
	    !ix_id_ok(id))
		return AL_E_USAGE;
	memcpy(k->id, id, SCHED_ID_LEN);
	k->i = 0;
	k->s = NULL;
	if (ix_col_str(q->col) && json_is_string(v))
		k->s = json_string_value(v);
	else if (q->col != SCHED_COL_ID && !ix_col_str(q->col) &&
		 json_is_integer(v))
		k->i = json_integer_value(v);
	else if (q->col != SCHED_COL_ID || !json_is_null(v))
		return AL_E_USAGE;
	return 0;
}

static bool ix_has(const char *hay, size_t len, const char *needle)
{
	for (size_t off = 0; off < len; off += strlen(hay + off) + 1)
		if (strcasestr(hay + off, needle))
			return true;
	return false;
}

static bool ix_wants(const struct sched_index_query *q, const struct ix_row *r)
{
	char id[SCHED_ID_LEN + 1];

	if (q->state >= 0 && r->state != q->state)
		return false;
	if (q->level && (r->level < 0 || strcmp(ix_levels[r->level], q->level)))
		return false;
	if (!q->match)
		return true;
	memcpy(id, r->id, SCHED_ID_LEN);
	id[SCHED_ID_LEN] = '\0';
	return strcasestr(id, q->match) || strcasestr(r->repo->s, q->match) ||
	       (r->names && ix_has(r->names->s, r->names->len, q->match));
}

/* A max-heap of the best rows so far: the root is the one to drop. */
struct ix_heap {
	const struct sched_index_query *q;
	const struct ix_row **v;
	struct ix_key *k;
	size_t n;
};

static void ix_swap(struct ix_heap *h, size_t a, size_t b)
{
	const struct ix_row *r = h->v[a];
	struct ix_key k = h->k[a];

	h->v[a] = h->v[b];
	h->k[a] = h->k[b];
	h->v[b] = r;
	h->k[b] = k;
}

static void ix_down(struct ix_heap *h, size_t i, size_t n)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && ix_cmp(h->q, &h->k[l], &h->k[m]) > 0)
			m = l;
		if (r < n && ix_cmp(h->q, &h->k[r], &h->k[m]) > 0)
			m = r;
		if (m == i)
			return;
		ix_swap(h, i, m);
		i = m;
	}
}

static void ix_offer(struct ix_heap *h, const struct ix_row *r,
		     const struct ix_key *k, size_t limit)
{
	size_t i;

	if (h->n == limit) {
		if (ix_cmp(h->q, k, &h->k[0]) >= 0)
			return;
		h->v[0] = r;
		h->k[0] = *k;
		ix_down(h, 0, h->n);
		return;
	}
	i = h->n++;
	h->v[i] = r;
	h->k[i] = *k;
	while (i > 0 && ix_cmp(h->q, &h->k[i], &h->k[(i - 1) / 2]) > 0) {
		ix_swap(h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static json_t *ix_row_json(const struct ix_row *r)
{
	json_t *o = json_pack("{s:s%,s:s,s:s,s:s,s:I,s:I}", "id", r->id,
			      (size_t)SCHED_ID_LEN, "repo", r->repo->s, "state",
			      sched_state_name(r->state) ?: "", "stage",
			      r->stage->s, "created_ms",
			      (json_int_t)r->created_ms, "changed_ms",
			      (json_int_t)r->changed_ms);

	if (o && r->score >= 0)
		json_object_set_new(o, "score", json_integer(r->score));
	if (o && r->level >= 0)
		json_object_set_new(o, "level", json_string(ix_levels[r->level]));
	if (o && r->updates >= 0)
		json_object_set_new(o, "updates", json_integer(r->updates));
	if (o && r->finished_ms > 0)
		json_object_set_new(o, "finished_ms",
				    json_integer(r->finished_ms));
	if (o && r->step)
		json_object_set_new(o, "step", json_integer(r->step));
	if (o && r->steps)
		json_object_set_new(o, "steps", json_integer(r->steps));
	return o;
}

static json_t *ix_key_json(const struct sched_index_query *q,
			   const struct ix_key *k)
{
	json_t *key = ix_col_str(q->col) ? json_string(k->s)
		      : q->col == SCHED_COL_ID ? json_null()
					       : json_integer(k->i);

	return json_pack("[o,s%]", key, k->id, (size_t)SCHED_ID_LEN);
}

int sched_index_page(const struct sched_index *ix,
		     const struct sched_index_query *q, json_t **out)
{
	struct ix_heap h = {.q = q};
	struct ix_key from, k;
	json_t *jobs = NULL, *next = NULL;
	size_t matched = 0, after = 0, n;
	int rc = 0;

	*out = NULL;
	if (q->limit == 0 || q->limit > SCHED_PAGE_MAX ||
	    q->col >= SCHED_COL__COUNT || (q->from && ix_cursor(q, &from)))
		return AL_E_USAGE;
	h.v = calloc(q->limit, sizeof(*h.v));
	h.k = calloc(q->limit, sizeof(*h.k));
	if (!h.v || !h.k || !(jobs = json_array())) {
		rc = -ENOMEM;
		goto out;
	}
	/* Newest first: ties go to the newer job, so in the usual orders
	 * the heap fills with its winners early and later rows lose at
	 * the root, with one comparison. */
	for (size_t i = ix->n; i-- > 0;) {
		const struct ix_row *r = &ix->rows[i];
		if (!ix_wants(q, r))
			continue;
		matched++;
		ix_key_of(r, q->col, &k);
		if (q->from && ix_cmp(q, &k, &from) <= 0)
			continue;
		after++;
		ix_offer(&h, r, &k, q->limit);
	}
	/* Pop the largest to the end: the heap's array becomes the page,
	 * in order. */
	for (n = h.n; n > 1; n--) {
		ix_swap(&h, 0, n - 1);
		ix_down(&h, 0, n - 1);
	}
	for (size_t i = 0; i < h.n && rc == 0; i++)
		if (json_array_append_new(jobs, ix_row_json(h.v[i])))
			rc = -ENOMEM;
	if (rc == 0 && after > h.n && !(next = ix_key_json(q, &h.k[h.n - 1])))
		rc = -ENOMEM;
	if (rc == 0 && !(*out = json_pack("{s:O,s:o,s:I,s:I}", "jobs", jobs,
					  "next", next ? next : json_null(),
					  "matched", (json_int_t)matched,
					  "total", (json_int_t)ix->n)))
		rc = -ENOMEM;
out:
	json_decref(jobs);
	free(h.v);
	free(h.k);
	return rc;
}

json_t *sched_index_summary(const json_t *rec, int64_t changed_ms)
{
	const json_t *m = json_object_get(rec, "sched");
	const json_t *score = json_object_get(rec, "score");
	const json_t *ups = json_object_get(json_object_get(rec, "plan"),
					    "updates");
	char names[SCHED_NAMES_BYTES];
	size_t len;
	bool cut = ix_names(rec, names, &len);
	json_t *o = json_pack("{s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,"
			      "s:O?,s:I,s:[]}", "id", json_object_get(rec, "id"),
			      "repo", json_object_get(rec, "repo"), "state",
			      json_object_get(rec, "state"), "stage",
			      json_object_get(m, "stage"), "attempt",
			      json_object_get(m, "attempt"), "reason",
			      json_object_get(m, "reason"), "created_ms",
			      json_object_get(rec, "created_ms"), "started_ms",
			      json_object_get(rec, "started_ms"), "finished_ms",
			      json_object_get(rec, "finished_ms"), "score",
			      json_object_get(score, "value"), "changed_ms",
			      (json_int_t)(changed_ms ? changed_ms
						      : ix_changed(rec)),
			      "names");

	if (!o)
		return NULL;
	if (json_is_string(json_object_get(score, "level")))
		json_object_set(o, "level", json_object_get(score, "level"));
	if (json_is_array(ups))
		json_object_set_new(o, "updates",
				    json_integer((json_int_t)json_array_size(ups)));
	if (ix_step(m, "step"))
		json_object_set(o, "step", json_object_get(m, "step"));
	if (ix_step(m, "steps"))
		json_object_set(o, "steps", json_object_get(m, "steps"));
	for (size_t off = 0; off < len; off += strlen(names + off) + 1)
		json_array_append_new(json_object_get(o, "names"),
				      json_string(names + off));
	if (cut)
		json_object_set_new(o, "names_cut", json_true());
	return o;
}
