/*
 * verify.c - verifying the log in the store, and the report every
 * verifier fills: each problem with its position, the walk going on
 * past it so that intact entries are still checked and counted.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "audit/export.h"
#include "audit/internal.h"
#include "base/err.h"
#include "base/log.h"

void audit_report_add(struct audit_report *r, const char *file,
		      uint64_t line, uint64_t seq, const char *fmt, ...)
{
	struct audit_problem *p;
	va_list ap;

	r->nproblems++;
	if (r->nkept >= AUDIT_PROBLEMS_MAX)
		return;
	if (!r->problems) {
		r->problems = calloc(AUDIT_PROBLEMS_MAX, sizeof(*p));
		if (!r->problems)
			return;
	}
	p = &r->problems[r->nkept++];
	p->seq = seq;
	p->line = line;
	al_strlcpy(p->file, file ? file : "", sizeof(p->file));
	va_start(ap, fmt);
	vsnprintf(p->what, sizeof(p->what), fmt, ap);
	va_end(ap);
	al_sanitize_text(p->what);
}

void audit_report_free(struct audit_report *r)
{
	free(r->problems);
	memset(r, 0, sizeof(*r));
}

json_t *audit_report_json(const struct audit_report *r)
{
	json_t *o, *arr = json_array();

	for (size_t i = 0; arr && i < r->nkept; i++) {
		const struct audit_problem *p = &r->problems[i];
		json_t *j = json_pack("{s:s}", "what", p->what);
		if (!j)
			continue;
		json_object_set_new(j, "seq", p->seq ? json_integer(
					(json_int_t)p->seq) : json_null());
		if (p->file[0]) {
			json_object_set_new(j, "file", json_string(p->file));
			json_object_set_new(j, "line", p->line ? json_integer(
					(json_int_t)p->line) : json_null());
		}
		json_array_append_new(arr, j);
	}
	uint64_t first = 0;
	for (size_t i = 0; i < r->nkept; i++)
		if (r->problems[i].seq &&
		    (!first || r->problems[i].seq < first))
			first = r->problems[i].seq;
	o = json_pack("{s:o, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
		      "broken_at", first ? json_integer((json_int_t)first)
					 : json_null(), "ok",
		      r->nproblems == 0, "entries", (json_int_t)r->entries,
		      "intact", (json_int_t)r->intact, "last_seq",
		      (json_int_t)r->last_seq, "checkpoints",
		      (json_int_t)r->checkpoints, "exports",
		      (json_int_t)r->exports, "problem_count",
		      (json_int_t)r->nproblems, "problems", arr);
	return o;
}

void audit_report_print(FILE *f, const struct audit_report *r)
{
	for (size_t i = 0; i < r->nkept; i++) {
		const struct audit_problem *p = &r->problems[i];
		if (p->file[0] && p->line)
			fprintf(f, "%s:%llu ", p->file,
				(unsigned long long)p->line);
		else if (p->file[0])
			fprintf(f, "%s ", p->file);
		if (p->seq)
			fprintf(f, "seq %llu: ", (unsigned long long)p->seq);
		fprintf(f, "%s\n", p->what);
	}
	if (r->nproblems > r->nkept)
		fprintf(f, "... and %llu more problems\n",
			(unsigned long long)(r->nproblems - r->nkept));
	fprintf(f, "%s: %llu entries checked, %llu intact, %llu checkpoints",
		r->nproblems ? "FAILED" : "OK",
		(unsigned long long)r->entries, (unsigned long long)r->intact,
		(unsigned long long)r->checkpoints);
	if (r->exports)
		fprintf(f, ", %llu exports", (unsigned long long)r->exports);
	fprintf(f, "; %llu problems\n", (unsigned long long)r->nproblems);
}

/*
 * Entries arrive in order; each is checked on its own (form, hash) and
 * against the walk (seq, link). After a bad entry the link is unknown,
 * so the next entry is checked on its own and the walk resumes from its
 * hash: one altered entry is reported once and loses none after it.
 */
bool audit_walk_step(struct audit_walk *w, struct audit_report *r,
		     const char *file, uint64_t line, uint64_t keyseq,
		     const char *p, size_t len, struct audit_line *e)
{
	const char *why = audit_line_check(p, len, e, &w->h);

	return audit_walk_apply(w, r, file, line, keyseq, why, e);
}

bool audit_walk_apply(struct audit_walk *w, struct audit_report *r,
		      const char *file, uint64_t line, uint64_t keyseq,
		      const char *why, const struct audit_line *e)
{
	uint64_t before = r->nproblems;

	r->entries++;
	/* next 0: a walk that starts wherever its first entry says. */
	if (!why && w->next == 0)
		w->next = e->seq;
	if (why) {
		audit_report_add(r, file, line, keyseq ? keyseq : w->next,
				 "%s", why);
		if (keyseq || w->next)
			w->next = (keyseq ? keyseq : w->next) + 1;
		w->linked = false;
		return false;
	}
	if (keyseq && e->seq != keyseq)
		audit_report_add(r, file, line, keyseq, "seq member %llu "
				 "differs from its record key",
				 (unsigned long long)e->seq);
	if (e->seq > w->next) {
		audit_report_add(r, file, line, w->next, "entries %llu to %llu "
				 "are missing (deleted, or lines moved)",
				 (unsigned long long)w->next,
				 (unsigned long long)(e->seq - 1));
		w->linked = false;
	} else if (e->seq < w->next) {
		audit_report_add(r, file, line, e->seq, "seq %llu again after "
				 "%llu (an entry inserted, duplicated or moved)",
				 (unsigned long long)e->seq,
				 (unsigned long long)(w->next - 1));
		return false; /* the walk stays where it was */
	} else if (w->linked && memcmp(e->prev, w->prev, 64) != 0) {
		audit_report_add(r, file, line, e->seq, "prev does not match "
				 "the hash of entry %llu",
				 (unsigned long long)(e->seq - 1));
	}
	if (!e->hash_ok)
		audit_report_add(r, file, line, e->seq, "hash does not match "
				 "the entry's contents");
	w->next = e->seq + 1;
	memcpy(w->prev, e->hash, AUDIT_HASH_HEX_LEN);
	w->prev[AUDIT_HASH_HEX_LEN] = '\0';
	w->linked = true;
	if (r->nproblems != before)
		return false;
	r->intact++;
	r->last_seq = e->seq;
	return true;
}

/* A place a signed checkpoint pins: the entry at seq must hash to head. */
struct pin {
	uint64_t seq;
	uint64_t n;
	char head[AUDIT_HASH_HEX_LEN + 1];
	char time[32];
};

struct pins {
	struct pin *v;
	size_t n, cap;
};

static int pins_add(struct pins *ps, const struct audit_cp *cp)
{
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 64;
		struct pin *v = realloc(ps->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ps->v = v;
		ps->cap = cap;
	}
	ps->v[ps->n].seq = cp->seq;
	ps->v[ps->n].n = cp->n;
	memcpy(ps->v[ps->n].head, cp->head, sizeof(cp->head));
	memcpy(ps->v[ps->n].time, cp->time, sizeof(cp->time));
	ps->n++;
	return 0;
}

static int pin_cmp(const void *a, const void *b)
{
	const struct pin *x = a, *y = b;

	return (x->seq > y->seq) - (x->seq < y->seq);
}

/*
 * The checkpoints are read in chunks of CP_CHUNK. Checking one's form
 * and Ed25519 signature (most of the work) depends on it alone, so a
 * second thread, when the process may use two CPUs, checks the odd
 * ones of each chunk while the first checks the even ones; then the
 * first applies the chunk in order (numbering, links, pins), and the
 * report is the one a single walk gives.
 */
#define CP_CHUNK 32

struct cp_item {
	uint64_t n;          /* from the record's key */
	int rc;              /* reading the record */
	int crc;             /* audit_cp_check's; AL_E_PARSE if not JSON */
	bool json;
	struct al_buf raw;
	struct audit_cp cp;
	char why[256];
};

struct cp_par {
	const struct audit_pubkey *pk;
	struct cp_item it[CP_CHUNK];
	size_t n;                 /* items in the chunk */
	bool threaded;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t posted, checked; /* chunks; under mu */
	bool done;                /* under mu */
};

static void cp_check_item(const struct audit_pubkey *pk, struct cp_item *it)
{
	json_t *o = json_loadb(it->raw.p, it->raw.len, JSON_REJECT_DUPLICATES,
			       NULL);

	it->json = o != NULL;
	it->crc = o ? audit_cp_check(o, pk, &it->cp, it->why,
				     sizeof(it->why))
		    : AL_E_PARSE;
	json_decref(o);
}

/* Check the items from first on, every step-th, that were read. */
static void cp_check_items(struct cp_par *c, size_t n, size_t first,
			   size_t step)
{
	for (size_t i = first; i < n; i += step)
		if (c->it[i].rc == 0)
			cp_check_item(c->pk, &c->it[i]);
}

static void *cp_helper(void *arg)
{
	struct cp_par *c = arg;
	uint64_t seen = 0;
	bool done;
	size_t n;

	for (;;) {
		pthread_mutex_lock(&c->mu);
		while (c->posted == seen && !c->done)
			pthread_cond_wait(&c->cv, &c->mu);
		done = c->posted == seen;
		n = c->n;
		seen = c->posted;
		pthread_mutex_unlock(&c->mu);
		if (done)
			break;
		cp_check_items(c, n, 1, 2);
		pthread_mutex_lock(&c->mu);
		c->checked = seen;
		pthread_cond_broadcast(&c->cv);
		pthread_mutex_unlock(&c->mu);
	}
	return NULL;
}

/* Have the chunk's items checked: half here, half by the helper. */
static void cp_check_chunk(struct cp_par *c)
{
	if (!c->threaded || c->n < 2) {
		cp_check_items(c, c->n, 0, 1);
		return;
	}
	pthread_mutex_lock(&c->mu);
	c->posted++;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	cp_check_items(c, c->n, 0, 2);
	pthread_mutex_lock(&c->mu);
	while (c->checked != c->posted)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
}

static void cp_par_start(struct cp_par *c)
{
	if (!audit_par_wanted() || pthread_mutex_init(&c->mu, NULL) != 0)
		return;
	if (pthread_cond_init(&c->cv, NULL) != 0)
		goto no_cv;
	if (audit_par_start(&c->th, cp_helper, c) == 0) {
		c->threaded = true;
		return;
	}
	pthread_cond_destroy(&c->cv);
no_cv:
	pthread_mutex_destroy(&c->mu);
}

static void cp_par_stop(struct cp_par *c)
{
	if (c->threaded) {
		pthread_mutex_lock(&c->mu);
		c->done = true;
		pthread_cond_broadcast(&c->cv);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->th, NULL);
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mu);
	}
	for (size_t i = 0; i < CP_CHUNK; i++)
		al_buf_free(&c->it[i].raw);
}

/*
 * Read the next chunk of checkpoints. *end is set (with the cursor's
 * answer) once no more follow; an item whose record cannot be read is
 * the chunk's last.
 */
static void cp_read_chunk(struct store_txn *txn, struct store_cursor *cur,
			  struct cp_par *c, int *end)
{
	const void *key;
	size_t keylen;

	c->n = 0;
	while (c->n < CP_CHUNK && !*end) {
		struct cp_item *it = &c->it[c->n];
		int rc = store_cursor_next(cur, &key, &keylen, NULL);
		if (rc) {
			*end = rc;
			break;
		}
		c->n++;
		it->n = audit_key_seq(key, keylen);
		it->rc = store_get_raw(txn, STORE_DB_CHECKPOINTS, key, keylen,
				       &it->raw);
		if (it->rc)
			break;
	}
}

/* Walk the checkpoints database: numbering, signature, links. */
static int verify_cps(struct store_txn *txn, const struct audit_pubkey *pk,
		      struct pins *ps, struct audit_report *r)
{
	struct store_cursor *cur = NULL;
	struct audit_cp prev = { 0 };
	struct cp_par *c = calloc(1, sizeof(*c));
	bool linked = true;
	uint64_t expect = 1;
	int end = 0;
	int rc = c ? store_cursor_open(txn, STORE_DB_CHECKPOINTS, &cur)
		   : -ENOMEM;

	if (rc)
		goto out;
	c->pk = pk;
	cp_par_start(c);
	memcpy(prev.hash, AUDIT_ZERO_HASH, sizeof(prev.hash));
	while (rc == 0 && !end) {
		cp_read_chunk(txn, cur, c, &end);
		cp_check_chunk(c);
		for (size_t i = 0; rc == 0 && i < c->n; i++) {
			struct cp_item *it = &c->it[i];
			uint64_t n = it->n;
			struct audit_cp *cp = &it->cp;

			if (n != expect)
				audit_report_add(r, NULL, 0, 0, "checkpoint "
						 "%llu: checkpoints %llu to %llu "
						 "are missing",
						 (unsigned long long)n,
						 (unsigned long long)expect,
						 (unsigned long long)(n - 1));
			linked = linked && n == expect;
			expect = n + 1;
			if ((rc = it->rc) != 0)
				break;
			if (it->crc) {
				audit_report_add(r, NULL, 0, 0, "checkpoint "
						 "%llu: %s",
						 (unsigned long long)n,
						 it->json ? it->why
							  : "not JSON");
				linked = false;
				continue;
			}
			r->checkpoints++;
			if (cp->n != n)
				audit_report_add(r, NULL, 0, cp->seq,
						 "checkpoint stored as %llu says "
						 "it is %llu",
						 (unsigned long long)n,
						 (unsigned long long)cp->n);
			else if (linked && strcmp(cp->prev, prev.hash) != 0)
				audit_report_add(r, NULL, 0, cp->seq,
						 "checkpoint %llu does not link "
						 "to checkpoint %llu",
						 (unsigned long long)n,
						 (unsigned long long)(n - 1));
			else if (linked && cp->seq < prev.seq)
				audit_report_add(r, NULL, 0, cp->seq,
						 "checkpoint %llu pins an "
						 "earlier seq than checkpoint "
						 "%llu", (unsigned long long)n,
						 (unsigned long long)(n - 1));
			rc = pins_add(ps, cp);
			prev = *cp;
			linked = true;
		}
	}
	if (rc == 0 && end != AL_E_NOTFOUND)
		rc = end;
	cp_par_stop(c);
out:
	store_cursor_close(cur);
	free(c);
	return rc;
}

/* Compare the entry at seq (hash) with every pin at that seq. */
static void verify_pins_at(struct pins *ps, size_t *pi, uint64_t seq,
			   const char *hash, uint64_t *good,
			   struct audit_report *r)
{
	while (*pi < ps->n && ps->v[*pi].seq < seq)
		(*pi)++;
	for (; *pi < ps->n && ps->v[*pi].seq == seq; (*pi)++) {
		const struct pin *p = &ps->v[*pi];
		if (memcmp(p->head, hash, AUDIT_HASH_HEX_LEN) == 0) {
			*good = seq;
			continue;
		}
		audit_report_add(r, NULL, 0, *good + 1, "entries %llu to %llu "
				 "were rewritten: entry %llu does not have the "
				 "hash checkpoint %llu (%s) signed, though the "
				 "chain may look whole (a re-chained forgery)",
				 (unsigned long long)(*good + 1),
				 (unsigned long long)seq,
				 (unsigned long long)seq,
				 (unsigned long long)p->n, p->time);
	}
}

/* The head in meta must name the last entry with its hash. */
static void verify_head(struct store_txn *txn, uint64_t last,
			const char *hash, struct audit_report *r)
{
	json_t *head = NULL;
	int rc = store_get_json(txn, STORE_DB_META, AUDIT_META_HEAD,
				strlen(AUDIT_META_HEAD), &head);
	json_int_t hseq = json_integer_value(json_object_get(head, "seq"));
	const char *hh = json_string_value(json_object_get(head, "hash"));

	if (rc == AL_E_NOTFOUND && last == 0)
		goto out;
	if (rc || hseq < 1 || !hh)
		audit_report_add(r, NULL, 0, 1, "head in meta is missing or "
				 "unreadable (%s)", al_strerror(rc));
	else if ((uint64_t)hseq != last)
		audit_report_add(r, NULL, 0,
				 ((uint64_t)hseq < last ? (uint64_t)hseq : last)
					 + 1,
				 "head names seq %lld but the log ends at seq "
				 "%llu", (long long)hseq,
				 (unsigned long long)last);
	else if (strcmp(hh, hash) != 0)
		audit_report_add(r, NULL, 0, last, "head hash differs from "
				 "entry %llu", (unsigned long long)last);
out:
	json_decref(head);
}

/*
 * The entries of the store, opened and checked in blocks by one or two
 * lanes, then applied to the walk in key order (verify_entries).
 *
 * Opening a sealed entry, checking its form and hashing it depend on
 * that entry alone; what depends on the entries before it (seq, link,
 * the checkpoints' pins, the report) is cheap and stays on the first
 * thread, in key order, so the report is the one a single walk gives,
 * problem for problem.
 *
 * The audit database is cut into key ranges, "blocks": block 0 holds
 * every key below that of seq VS_SPAN + 1, block j the keys from that
 * of seq j * VS_SPAN + 1 up to the next block's, whatever their length.
 * With two lanes, lane 0 (the first thread) opens the even blocks and
 * lane 1 (a second thread, with its own read transaction on the same
 * snapshot) the odd ones, each through its own cursor bounded to the
 * block; every key lies in exactly one block, so together they open
 * each record once. After a block a lane peeks at the next record's key
 * and goes to the block that holds it, so a gap of any size in the keys
 * costs one seek, and the walk goes from block to block the same way.
 *
 * Memory is bounded: a block is handed over in parts of at most
 * VS_PART entries (a whole block of 8-byte keys fits in one), and lane
 * 1 runs at most VS_RING parts ahead (under 1 MiB of slots). It sleeps
 * when the ring is full and is woken when it is half empty, so that the
 * latency of waking a thread hides behind the parts still queued. Each
 * entry's plaintext is wiped in its lane as soon as it is checked:
 * what the walk needs (seq, prev, hash) is copied into the slot first.
 */
#define VS_SPAN 256
#define VS_PART (VS_SPAN + 16)
#define VS_RING 16
#define VS_KEEP_BYTES (8 * 1024)
/* The last block: the first key of the next would pass UINT64_MAX. */
#define VS_JMAX ((UINT64_MAX - 1) / VS_SPAN)

struct vs_slot {
	int rc;          /* store_cursor_next_plain's answer */
	bool stepped;    /* the cursor reached a record (rc is about it) */
	uint64_t kseq;   /* the record key's seq, 0 if it is not one */
	const char *why; /* audit_line_check's, for rc 0 and kseq != 0 */
	struct audit_line e;  /* prev and hash point to the copies below */
	char prev[AUDIT_HASH_HEX_LEN];
	char hash[AUDIT_HASH_HEX_LEN];
};

struct vs_part {
	uint64_t j;      /* the block its records lie in */
	size_t n;
	bool first;      /* the block's first part */
	bool last;       /* its last slot ends the walk */
	bool done;       /* the block's last part */
	bool more;       /* done, and a record follows: in block next */
	uint64_t next;
	struct vs_slot s[VS_PART];
};

struct vs_lane {
	struct store_cursor *cur;
	struct audit_hasher h;
	struct al_buf plain;  /* the entry being checked, wiped after */
	uint64_t id, lanes;   /* it opens blocks j with j % lanes == id */
	uint64_t j;           /* the block it opens next */
	bool placed;          /* the cursor is at block j's start */
	bool inblock;         /* a part of block j was filled, not its last */
	bool over;            /* no record at or after block j */
};

struct vs_src {
	struct vs_lane lane[2];
	size_t nlanes;
	struct vs_part *own;      /* lane 0's part */
	struct vs_part *ring;     /* lane 1's, VS_RING of them */
	struct vs_part *at;       /* the part being read, or NULL */
	size_t pos;               /* its next slot */
	uint64_t j;               /* the block being read */
	bool over;                /* no block is left to read */
	bool threaded;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t filled, emptied;
	size_t nfull;             /* filled, not yet read; under mu */
	size_t wi, ri;            /* parts being written and read */
	bool stop;                /* the reader is done; under mu */
	bool quit;                /* lane 1 has stopped; under mu */
};

/* The first key of block j; false for block 0 and past the last. */
static bool vs_start(uint64_t j, uint8_t key[8])
{
	if (j == 0 || j > VS_JMAX)
		return false;
	audit_key(j * VS_SPAN + 1, key);
	return true;
}

/*
 * The block a key lies in, whatever its length: that of the seq its
 * first 8 bytes spell (padded with zeros). Blocks start at seqs one
 * past a multiple of 256, so a shorter key, which sorts just before
 * the key it pads to (whose seq ends in a zero byte), and a longer one,
 * which sorts just after the key it starts with, both lie in the same
 * block as that key.
 */
_Static_assert(VS_SPAN % 256 == 0, "blocks must start at seqs 256k + 1");
static uint64_t vs_block_of(const void *key, size_t keylen)
{
	const uint8_t *k = key;
	uint64_t v = 0;

	for (size_t i = 0; i < 8; i++)
		v = (v << 8) | (i < keylen ? k[i] : 0);
	return v ? (v - 1) / VS_SPAN : 0;
}

/*
 * Where the walk ends: on a cursor that fails to step, or on a record
 * whose failure it does not report and pass.
 */
static bool vs_ends(const struct vs_slot *sl)
{
	return (sl->rc && !sl->stepped) ||
	       (sl->rc && sl->rc != AL_E_AUTH && sl->rc != AL_E_PARSE &&
		sl->kseq != 0);
}

/* Put the lane's cursor at block j's start, bounded by its end. */
static int vs_place(struct vs_lane *l)
{
	uint8_t b[8];
	int rc = 0;

	if (!l->placed && vs_start(l->j, b))
		rc = store_cursor_seek(l->cur, b, sizeof(b));
	l->placed = true;
	if (rc == 0)
		rc = store_cursor_bound(l->cur, b,
					vs_start(l->j + 1, b) ? sizeof(b) : 0);
	return rc;
}

/* Block j is read: find the next record's block, and the lane's next. */
static int vs_advance(struct vs_lane *l, struct vs_part *p)
{
	const void *key = NULL;
	size_t keylen = 0;
	int rc = store_cursor_peek(l->cur, &key, &keylen);

	p->done = true;
	if (rc == AL_E_NOTFOUND) {
		l->over = true;
		return 0;
	}
	if (rc)
		return rc;
	p->more = true;
	p->next = vs_block_of(key, keylen);
	l->j = p->next + (l->id + l->lanes - p->next % l->lanes) % l->lanes;
	l->placed = l->j == p->next;
	l->over = l->j > VS_JMAX;
	return 0;
}

/* Check an opened entry on its own, keep what the walk needs, wipe it. */
static void vs_check(struct vs_lane *l, struct vs_slot *sl)
{
	struct al_buf *p = &l->plain;

	sl->why = NULL;
	memset(&sl->e, 0, sizeof(sl->e));
	if (sl->rc == 0 && sl->kseq != 0) {
		sl->why = audit_line_check(p->p, p->len, &sl->e, &l->h);
		if (sl->e.prev)
			sl->e.prev = memcpy(sl->prev, sl->e.prev,
					    sizeof(sl->prev));
		if (sl->e.hash)
			sl->e.hash = memcpy(sl->hash, sl->e.hash,
					    sizeof(sl->hash));
	}
	if (p->p)
		explicit_bzero(p->p, p->cap > VS_KEEP_BYTES ? p->cap : p->len);
	if (p->cap > VS_KEEP_BYTES)
		al_buf_free(p);
	p->len = 0;
}

/* Open and check the lane's next records, to its block's end at most. */
static void vs_fill(struct vs_lane *l, struct vs_part *p)
{
	int rc = vs_place(l);

	p->j = l->j;
	p->n = 0;
	p->first = !l->inblock;
	p->last = p->done = p->more = false;
	while (rc == 0 && p->n < VS_PART && !p->last) {
		struct vs_slot *sl = &p->s[p->n];
		const void *key = NULL;
		size_t keylen = 0;
		int src = store_cursor_next_plain(l->cur, &key, &keylen,
						  &l->plain);

		if (src == AL_E_NOTFOUND) {
			rc = vs_advance(l, p);
			break;
		}
		p->n++;
		sl->rc = src;
		sl->stepped = key != NULL;
		sl->kseq = key ? audit_key_seq(key, keylen) : 0;
		vs_check(l, sl);
		p->last = vs_ends(sl);
	}
	if (rc) {
		/* A seek or a look ahead failed: the walk ends there. */
		p->s[p->n] = (struct vs_slot){ .rc = rc };
		p->n++;
		p->last = true;
	}
	l->inblock = !p->done && !p->last;
}

static void *vs_produce(void *arg)
{
	struct vs_src *s = arg;
	struct vs_lane *l = &s->lane[1];
	struct vs_part *p;
	bool end;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		if (s->nfull == VS_RING)
			while (s->nfull > VS_RING / 2 && !s->stop)
				pthread_cond_wait(&s->emptied, &s->mu);
		p = s->stop ? NULL : &s->ring[s->wi];
		pthread_mutex_unlock(&s->mu);
		if (!p)
			break;
		/* A block without records is not handed over. */
		do
			vs_fill(l, p);
		while (p->n == 0 && p->first && !p->last && !l->over);
		if (p->n == 0 && p->first && !p->last)
			break;
		end = p->last || (p->done && l->over);
		pthread_mutex_lock(&s->mu);
		s->wi = (s->wi + 1) % VS_RING;
		s->nfull++;
		pthread_cond_signal(&s->filled);
		pthread_mutex_unlock(&s->mu);
		if (end)
			break;
	}
	pthread_mutex_lock(&s->mu);
	s->quit = true;
	pthread_cond_signal(&s->filled);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static int vs_lane_open(struct vs_lane *l, struct store_txn *txn,
			uint64_t id, uint64_t lanes)
{
	int rc = audit_hasher_init(&l->h);

	l->id = id;
	l->lanes = lanes;
	l->j = id;
	l->placed = id == 0; /* a new cursor starts at the first record */
	if (rc == 0)
		rc = store_cursor_open(txn, STORE_DB_AUDIT, &l->cur);
	return rc;
}

static void vs_lane_close(struct vs_lane *l)
{
	store_cursor_close(l->cur);
	l->cur = NULL;
	audit_hasher_free(&l->h);
	if (l->plain.p)
		explicit_bzero(l->plain.p, l->plain.cap);
	al_buf_free(&l->plain);
}

/* Start lane 1 on its own transaction; false leaves the walk on one. */
static bool vs_start_lane(struct vs_src *s, struct store_txn *two)
{
	s->ring = calloc(VS_RING, sizeof(*s->ring));
	if (!s->ring || vs_lane_open(&s->lane[1], two, 1, 2) != 0)
		goto no_lane;
	if (pthread_mutex_init(&s->mu, NULL) != 0)
		goto no_lane;
	if (pthread_cond_init(&s->filled, NULL) != 0)
		goto no_filled;
	if (pthread_cond_init(&s->emptied, NULL) != 0)
		goto no_emptied;
	s->lane[0].lanes = 2;
	s->nlanes = 2;
	if (audit_par_start(&s->th, vs_produce, s) == 0)
		return true;
	s->lane[0].lanes = 1;
	s->nlanes = 1;
	pthread_cond_destroy(&s->emptied);
no_emptied:
	pthread_cond_destroy(&s->filled);
no_filled:
	pthread_mutex_destroy(&s->mu);
no_lane:
	vs_lane_close(&s->lane[1]);
	free(s->ring);
	s->ring = NULL;
	return false;
}

/*
 * Lane 0 on txn; lane 1 on two, if given (the same snapshot): each
 * cursor is its own thread's until vs_close (store.h: a transaction
 * serves one thread at a time). The walk starts at the first record's
 * block.
 */
static int vs_open(struct vs_src *s, struct store_txn *txn,
		   struct store_txn *two)
{
	const void *key = NULL;
	size_t keylen = 0;
	int rc;

	memset(s, 0, sizeof(*s));
	s->nlanes = 1;
	s->own = calloc(1, sizeof(*s->own));
	if (!s->own)
		return -ENOMEM;
	rc = vs_lane_open(&s->lane[0], txn, 0, 1);
	if (rc == 0)
		rc = store_cursor_peek(s->lane[0].cur, &key, &keylen);
	if (rc == AL_E_NOTFOUND) {
		s->over = true;
		return 0;
	}
	if (rc)
		return rc;
	s->j = vs_block_of(key, keylen);
	if (two)
		s->threaded = vs_start_lane(s, two);
	return 0;
}

/* Lane 1's next part, which must be of block j. */
static int vs_take(struct vs_src *s, struct vs_part **out)
{
	pthread_mutex_lock(&s->mu);
	while (s->nfull == 0 && !s->quit)
		pthread_cond_wait(&s->filled, &s->mu);
	*out = s->nfull ? &s->ring[s->ri] : NULL;
	pthread_mutex_unlock(&s->mu);
	/* A seek of lane 1's that failed in a block without records. */
	if (*out && (*out)->j != s->j && (*out)->last)
		return (*out)->s[(*out)->n - 1].rc;
	/* Both lanes read one snapshot, so they agree on every block. */
	if (!*out || (*out)->j != s->j) {
		al_error("audit", NULL, "verifier lanes disagree at block %llu "
			 "of the audit log", (unsigned long long)s->j);
		return AL_E_STORE;
	}
	return 0;
}

/* Done with the part being read. */
static void vs_release(struct vs_src *s)
{
	if (s->at != s->own) {
		pthread_mutex_lock(&s->mu);
		s->nfull--;
		s->ri = (s->ri + 1) % VS_RING;
		/* Lane 1 sleeps on a full ring and wakes half empty. */
		if (s->nfull == VS_RING / 2)
			pthread_cond_signal(&s->emptied);
		pthread_mutex_unlock(&s->mu);
	}
	s->at = NULL;
}

/*
 * The next record in key order; NULL after the last, or after one that
 * ends the walk, or with *rc set when the lanes cannot go on.
 */
static struct vs_slot *vs_next(struct vs_src *s, int *rc)
{
	struct vs_lane *l = &s->lane[0];

	while (!(s->at && s->pos < s->at->n)) {
		if (s->at) {
			struct vs_part p = { .last = s->at->last,
					     .done = s->at->done,
					     .more = s->at->more,
					     .next = s->at->next };
			vs_release(s);
			if (p.last || (p.done && !p.more))
				s->over = true;
			else if (p.done)
				s->j = p.next;
		}
		if (s->over)
			return NULL;
		s->pos = 0;
		if (s->j % s->nlanes == 0) {
			if (l->j != s->j) {
				l->j = s->j;
				l->placed = false;
			}
			vs_fill(l, s->own);
			s->at = s->own;
		} else if ((*rc = vs_take(s, &s->at)) != 0) {
			return NULL;
		}
	}
	return &s->at->s[s->pos++];
}

/* Stop and join lane 1, then close both lanes. */
static void vs_close(struct vs_src *s)
{
	if (s->threaded) {
		pthread_mutex_lock(&s->mu);
		s->stop = true;
		pthread_cond_signal(&s->emptied);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->th, NULL);
		pthread_cond_destroy(&s->filled);
		pthread_cond_destroy(&s->emptied);
		pthread_mutex_destroy(&s->mu);
		vs_lane_close(&s->lane[1]);
	}
	vs_lane_close(&s->lane[0]);
	free(s->own);
	free(s->ring);
	memset(s, 0, sizeof(*s));
}

/* Walk every entry in key order; two lanes when two is given. */
static int verify_entries(struct store_txn *txn, struct store_txn *two,
			  struct pins *ps, struct audit_report *r,
			  uint64_t *last, char hash[AUDIT_HASH_HEX_LEN + 1])
{
	struct audit_walk w = { .next = 1, .linked = true };
	struct vs_src src = { 0 };
	struct vs_slot *sl;
	uint64_t good = 0;
	size_t pi = 0;
	int rc = vs_open(&src, txn, two);

	memcpy(w.prev, AUDIT_ZERO_HASH, sizeof(w.prev));
	memcpy(hash, AUDIT_ZERO_HASH, AUDIT_HASH_HEX_LEN + 1);
	*last = 0;
	while (rc == 0 && (sl = vs_next(&src, &rc)) != NULL) {
		uint64_t kseq = sl->kseq;
		rc = sl->rc;
		if (rc && !sl->stepped)
			break;
		if (rc == AL_E_AUTH || rc == AL_E_PARSE || kseq == 0) {
			r->entries++;
			audit_report_add(r, NULL, 0, kseq ? kseq : w.next,
					 kseq ? "value fails to unseal (altered, "
						"moved from another slot, or "
						"sealed with another key)"
					      : "record key is not a seq");
			if (kseq > w.next)
				audit_report_add(r, NULL, 0, w.next, "entries "
						 "%llu to %llu are missing",
						 (unsigned long long)w.next,
						 (unsigned long long)(kseq - 1));
			w.next = (kseq ? kseq : w.next) + 1;
			w.linked = false;
			rc = 0;
			continue;
		}
		if (rc)
			break;
		if (kseq > w.next) {
			audit_report_add(r, NULL, 0, w.next, "entries %llu to "
					 "%llu are missing (a gap)",
					 (unsigned long long)w.next,
					 (unsigned long long)(kseq - 1));
			w.next = kseq;
			w.linked = false;
		}
		/* A checkpoint pins the record at its seq, whatever the
		 * record says about itself. */
		audit_walk_apply(&w, r, NULL, 0, kseq, sl->why, &sl->e);
		if (sl->e.hash)
			verify_pins_at(ps, &pi, kseq, sl->e.hash, &good, r);
	}
	*last = w.next - 1;
	memcpy(hash, w.prev, AUDIT_HASH_HEX_LEN + 1);
	vs_close(&src);
	return rc;
}

/* One checkpoint held outside the store: signature, then the store. */
static void verify_held(struct store_txn *txn, const struct audit_pubkey *pk,
			const json_t *o, const char *label, uint64_t last,
			struct audit_report *r)
{
	struct audit_cp held;
	char why[512];

	if (audit_cp_check(o, pk, &held, why, sizeof(why)) != 0) {
		audit_report_add(r, NULL, 0, 0, "%s: %s", label, why);
		return;
	}
	if (audit_check_held(txn, &held, label, why, sizeof(why)) != 0)
		audit_report_add(r, NULL, 0,
				 held.seq > last ? last + 1 : held.seq, "%s",
				 why);
}

static void verify_outside(struct store_txn *txn, const char *home,
			   const struct audit_pubkey *pk, uint64_t last,
			   struct audit_report *r)
{
	char dir[PATH_MAX + 16], label[PATH_MAX + 64];
	json_t *o = NULL;
	int rc;

	if (audit_anchor_read(home, &o) == 0) {
		snprintf(label, sizeof(label), "the anchor %s/"
			 AUDIT_ANCHOR_FILE, home);
		verify_held(txn, pk, o, label, last, r);
	}
	json_decref(o);
	o = NULL;
	snprintf(dir, sizeof(dir), "%s/" AUDIT_EXPORT_DIR, home);
	rc = audit_export_last(dir, pk, &o);
	if (rc == 0) {
		snprintf(label, sizeof(label), "the last export in %s", dir);
		verify_held(txn, pk, json_object_get(o, "checkpoint"), label,
			    last, r);
	} else if (rc != AL_E_NOTFOUND) {
		audit_report_add(r, NULL, 0, 0, "the newest digest in %s does "
				 "not verify (%s)", dir, al_strerror(rc));
	}
	json_decref(o);
}

/*
 * Read transactions for the walk: two on one snapshot when a second
 * thread is wanted (each lane reads through its own), else one. LMDB
 * gives a new read transaction the newest commit, so a writer (the
 * daemon) that commits between the two begins puts them on different
 * snapshots, and the lanes would then disagree on what the log holds:
 * both begin again, and after a few tries the walk keeps one lane.
 */
#define VS_TXN_TRIES 4

int (*audit_txn_begin)(struct store *st, bool write,
		       struct store_txn **out) = store_txn_begin;

static int verify_txns(struct store *st, struct store_txn **txn,
		       struct store_txn **two)
{
	int rc = audit_txn_begin(st, false, txn);

	*two = NULL;
	for (int i = 0; rc == 0 && audit_par_wanted() && i < VS_TXN_TRIES;
	     i++) {
		if (audit_txn_begin(st, false, two) != 0) {
			*two = NULL;
			break;
		}
		if (store_txn_snapshot(*txn) == store_txn_snapshot(*two))
			break;
		store_txn_abort(*two);
		store_txn_abort(*txn);
		*two = *txn = NULL;
		rc = audit_txn_begin(st, false, txn);
	}
	if (rc == 0 && audit_par_wanted() && !*two)
		al_info("audit", NULL, "verifying the log on one thread: "
			"no second read transaction on the same snapshot");
	return rc;
}

static int verify_run(struct store *st, const struct audit_pubkey *pk,
		      const struct audit_verify_opts *o, bool cps,
		      struct audit_report *r)
{
	char hash[AUDIT_HASH_HEX_LEN + 1];
	struct store_txn *txn = NULL, *two = NULL;
	struct pins ps = { 0 };
	uint64_t last = 0;
	int rc = verify_txns(st, &txn, &two);

	if (rc == 0 && cps)
		rc = verify_cps(txn, pk, &ps, r);
	if (rc)
		goto out;
	if (ps.n)
		qsort(ps.v, ps.n, sizeof(*ps.v), pin_cmp);
	rc = verify_entries(txn, two, &ps, r, &last, hash);
	if (rc)
		goto out;
	verify_head(txn, last, hash, r);
	for (size_t i = 0; i < ps.n; i++)
		if (ps.v[i].seq > last)
			audit_report_add(r, NULL, 0, last + 1, "checkpoint %llu "
					 "(%s) pins seq %llu but the log ends at "
					 "%llu: the newest entries were removed",
					 (unsigned long long)ps.v[i].n,
					 ps.v[i].time,
					 (unsigned long long)ps.v[i].seq,
					 (unsigned long long)last);
	if (cps && o && o->home)
		verify_outside(txn, o->home, pk, last, r);
	if (cps && o && o->checkpoint)
		verify_held(txn, pk, o->checkpoint, "the auditor's checkpoint",
			    last, r);
out:
	store_txn_abort(two);
	store_txn_abort(txn);
	free(ps.v);
	if (rc)
		return rc;
	return r->nproblems ? AL_E_CHAIN : 0;
}

int audit_verify_store(struct store *st, const struct audit_verify_opts *o,
		       struct audit_report *r)
{
	struct audit_signer *s = NULL;
	struct audit_pubkey *own = NULL;
	const struct audit_pubkey *pk = o ? o->pubkey : NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	if (!pk && o && o->home &&
	    audit_signer_load(o->home, false, &s) == 0 &&
	    audit_signer_pubkey(s, &own) == 0)
		pk = own;
	audit_signer_free(s);
	rc = verify_run(st, pk, o, true, r);
	/*
	 * Without a key, checkpoints were checked for form only. A log that
	 * has none (made before checkpoints existed, and never exported)
	 * has nothing a key could check.
	 */
	if (!pk && r->checkpoints + r->exports > 0) {
		audit_report_add(r, NULL, 0, 0, "no public key: checkpoint "
				 "signatures cannot be checked (give --pubkey, "
				 "or restore the signing key)");
		if (rc == 0)
			rc = AL_E_CHAIN;
	}
	audit_pubkey_free(own);
	return rc;
}

int audit_verify(struct store *st, uint64_t *count, uint64_t *bad_seq)
{
	struct audit_report r = { 0 };
	int rc = verify_run(st, NULL, NULL, false, &r);

	*count = r.intact;
	*bad_seq = 0;
	if (rc == AL_E_CHAIN) {
		*bad_seq = r.problems ? r.problems[0].seq : 1;
		for (size_t i = 0; i < r.nkept; i++)
			if (r.problems[i].seq && r.problems[i].seq < *bad_seq)
				*bad_seq = r.problems[i].seq;
		*count = *bad_seq - 1;
		al_warn("audit", NULL, "chain broken at seq %llu: %s",
			(unsigned long long)*bad_seq,
			r.problems ? r.problems[0].what : "?");
	}
	audit_report_free(&r);
	return rc;
}
