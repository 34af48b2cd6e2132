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
	uint64_t before = r->nproblems;
	const char *why = audit_line_check(p, len, e, &w->h);

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

/* Walk the checkpoints database: numbering, signature, links. */
static int verify_cps(struct store_txn *txn, const struct audit_pubkey *pk,
		      struct pins *ps, struct audit_report *r)
{
	struct store_cursor *cur = NULL;
	struct audit_cp cp, prev = { 0 };
	struct al_buf raw = { 0 };
	bool linked = true;
	uint64_t expect = 1;
	const void *key;
	size_t keylen;
	char why[256];
	int rc = store_cursor_open(txn, STORE_DB_CHECKPOINTS, &cur);

	memcpy(prev.hash, AUDIT_ZERO_HASH, sizeof(prev.hash));
	while (rc == 0 &&
	       (rc = store_cursor_next(cur, &key, &keylen, NULL)) == 0) {
		uint64_t n = audit_key_seq(key, keylen);
		json_t *o = NULL;

		if (n != expect)
			audit_report_add(r, NULL, 0, 0, "checkpoint %llu: "
					 "checkpoints %llu to %llu are missing",
					 (unsigned long long)n,
					 (unsigned long long)expect,
					 (unsigned long long)(n - 1));
		linked = linked && n == expect;
		expect = n + 1;
		rc = store_get_raw(txn, STORE_DB_CHECKPOINTS, key, keylen,
				   &raw);
		if (rc)
			break;
		o = json_loadb(raw.p, raw.len, JSON_REJECT_DUPLICATES, NULL);
		rc = o ? audit_cp_check(o, pk, &cp, why, sizeof(why))
		       : AL_E_PARSE;
		json_decref(o);
		if (rc) {
			audit_report_add(r, NULL, 0, 0, "checkpoint %llu: %s",
					 (unsigned long long)n,
					 o ? why : "not JSON");
			linked = false;
			rc = 0;
			continue;
		}
		r->checkpoints++;
		if (cp.n != n)
			audit_report_add(r, NULL, 0, cp.seq, "checkpoint stored "
					 "as %llu says it is %llu",
					 (unsigned long long)n,
					 (unsigned long long)cp.n);
		else if (linked && strcmp(cp.prev, prev.hash) != 0)
			audit_report_add(r, NULL, 0, cp.seq, "checkpoint %llu "
					 "does not link to checkpoint %llu",
					 (unsigned long long)n,
					 (unsigned long long)(n - 1));
		else if (linked && cp.seq < prev.seq)
			audit_report_add(r, NULL, 0, cp.seq, "checkpoint %llu "
					 "pins an earlier seq than checkpoint "
					 "%llu", (unsigned long long)n,
					 (unsigned long long)(n - 1));
		rc = pins_add(ps, &cp);
		prev = cp;
		linked = true;
	}
	store_cursor_close(cur);
	al_buf_free(&raw);
	return rc == AL_E_NOTFOUND ? 0 : rc;
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
 * The entries of the store as the walk below takes them: opened in key
 * order, in blocks, either by a second thread that runs ahead (a ring
 * of VS_BLOCKS blocks) or by the walk itself one block at a time. The
 * opens are independent of each other; the checks that follow are
 * not, so they stay on one thread, in order, and see exactly what a
 * walk on one thread would: the same records, answers and end.
 *
 * Memory is bounded: a block closes at VS_BLOCK entries or once it
 * holds VS_BLOCK_BYTES of plaintext, so at most VS_BLOCKS blocks, each
 * that much and one entry more, are open at once. The walk wipes each
 * entry's plaintext as soon as it is checked, and a slot's buffer that
 * grew past VS_KEEP_BYTES is wiped and released before reuse.
 */
#define VS_BLOCK 256
#define VS_BLOCKS 4
#define VS_BLOCK_BYTES (128 * 1024)
#define VS_KEEP_BYTES (8 * 1024)

struct vs_slot {
	int rc;          /* store_cursor_next_plain's answer */
	bool stepped;    /* the cursor reached a record (rc is about it) */
	uint64_t kseq;   /* the record key's seq, 0 if it is not one */
	struct al_buf plain;
};

struct vs_block {
	struct vs_slot s[VS_BLOCK];
	size_t n;
	bool last;       /* its last slot ends the walk */
};

struct vs_src {
	struct store_cursor *cur; /* the producer's alone while it runs */
	struct vs_block *b;       /* VS_BLOCKS of them */
	struct vs_block *at;      /* the block being read, or NULL */
	size_t pos;               /* the next slot of at */
	bool threaded;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t filled, emptied;
	size_t nfull;             /* filled, not yet read; under mu */
	size_t wi, ri;            /* blocks being written and read */
	bool stop;                /* the reader is done; under mu */
};

/*
 * Where the walk ends: past the last record, on a cursor that fails to
 * step, or on a record whose failure it does not report and pass.
 */
static bool vs_ends(const struct vs_slot *sl)
{
	return sl->rc == AL_E_NOTFOUND || (sl->rc && !sl->stepped) ||
	       (sl->rc && sl->rc != AL_E_AUTH && sl->rc != AL_E_PARSE &&
		sl->kseq != 0);
}

static void vs_fill(struct store_cursor *cur, struct vs_block *b)
{
	size_t bytes = 0;

	b->n = 0;
	b->last = false;
	while (!b->last && b->n < VS_BLOCK && bytes < VS_BLOCK_BYTES) {
		struct vs_slot *sl = &b->s[b->n++];
		const void *key = NULL;
		size_t keylen = 0;

		sl->rc = store_cursor_next_plain(cur, &key, &keylen,
						 &sl->plain);
		sl->stepped = key != NULL;
		sl->kseq = key ? audit_key_seq(key, keylen) : 0;
		bytes += sl->plain.len;
		b->last = vs_ends(sl);
	}
}

static void *vs_produce(void *arg)
{
	struct vs_src *s = arg;
	struct vs_block *b;
	bool last;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (s->nfull == VS_BLOCKS && !s->stop)
			pthread_cond_wait(&s->emptied, &s->mu);
		b = s->stop ? NULL : &s->b[s->wi];
		pthread_mutex_unlock(&s->mu);
		if (!b)
			break;
		vs_fill(s->cur, b);
		last = b->last; /* b is the reader's once handed over */
		pthread_mutex_lock(&s->mu);
		s->wi = (s->wi + 1) % VS_BLOCKS;
		s->nfull++;
		pthread_cond_signal(&s->filled);
		pthread_mutex_unlock(&s->mu);
		if (last)
			break;
	}
	return NULL;
}

/* Wipe what the block's slots held; drop buffers grown large. */
static void vs_wipe(struct vs_block *b, bool all)
{
	for (size_t i = 0; i < VS_BLOCK; i++) {
		struct al_buf *p = &b->s[i].plain;
		if (!p->p)
			continue;
		if (all || p->cap > VS_KEEP_BYTES) {
			explicit_bzero(p->p, p->cap);
			al_buf_free(p);
		} else {
			explicit_bzero(p->p, p->len);
			p->len = 0;
		}
	}
}

/*
 * The cursor is handed to the producer for the whole walk: the caller
 * does not touch the transaction until vs_close (store.h: a read
 * transaction is used by one thread at a time).
 */
static int vs_open(struct vs_src *s, struct store_cursor *cur)
{
	memset(s, 0, sizeof(*s));
	s->cur = cur;
	s->b = calloc(VS_BLOCKS, sizeof(*s->b));
	if (!s->b)
		return -ENOMEM;
	/* Without a second thread the walk fills one block at a time. */
	if (!audit_par_wanted() || pthread_mutex_init(&s->mu, NULL) != 0)
		return 0;
	if (pthread_cond_init(&s->filled, NULL) != 0)
		goto no_filled;
	if (pthread_cond_init(&s->emptied, NULL) != 0)
		goto no_emptied;
	if (audit_par_start(&s->th, vs_produce, s) != 0)
		goto no_thread;
	s->threaded = true;
	return 0;
no_thread:
	pthread_cond_destroy(&s->emptied);
no_emptied:
	pthread_cond_destroy(&s->filled);
no_filled:
	pthread_mutex_destroy(&s->mu);
	return 0;
}

/* The next record in key order; NULL after the one that ends the walk. */
static struct vs_slot *vs_next(struct vs_src *s)
{
	if (s->at && s->pos < s->at->n)
		return &s->at->s[s->pos++];
	if (s->at) {
		bool last = s->at->last;
		vs_wipe(s->at, false);
		if (s->threaded) {
			pthread_mutex_lock(&s->mu);
			s->nfull--;
			s->ri = (s->ri + 1) % VS_BLOCKS;
			pthread_cond_signal(&s->emptied);
			pthread_mutex_unlock(&s->mu);
		}
		s->at = NULL;
		if (last)
			return NULL;
	}
	if (s->threaded) {
		pthread_mutex_lock(&s->mu);
		while (s->nfull == 0)
			pthread_cond_wait(&s->filled, &s->mu);
		s->at = &s->b[s->ri];
		pthread_mutex_unlock(&s->mu);
	} else {
		s->at = &s->b[0];
		vs_fill(s->cur, s->at);
	}
	s->pos = 0;
	return &s->at->s[s->pos++];
}

/* Stop and join the producer, then wipe and free every block. */
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
	}
	for (size_t i = 0; s->b && i < VS_BLOCKS; i++)
		vs_wipe(&s->b[i], true);
	free(s->b);
	s->b = NULL;
}

/* Walk every entry in key order. */
static int verify_entries(struct store_txn *txn, struct pins *ps,
			  struct audit_report *r, uint64_t *last,
			  char hash[AUDIT_HASH_HEX_LEN + 1])
{
	struct audit_walk w = { .next = 1, .linked = true };
	struct store_cursor *cur = NULL;
	struct vs_src src = { 0 };
	struct vs_slot *sl;
	struct audit_line e;
	uint64_t good = 0;
	size_t pi = 0;
	int rc = audit_hasher_init(&w.h);

	memcpy(w.prev, AUDIT_ZERO_HASH, sizeof(w.prev));
	memcpy(hash, AUDIT_ZERO_HASH, AUDIT_HASH_HEX_LEN + 1);
	*last = 0;
	if (rc == 0)
		rc = store_cursor_open(txn, STORE_DB_AUDIT, &cur);
	if (rc == 0)
		rc = vs_open(&src, cur);
	while (rc == 0 && (sl = vs_next(&src)) != NULL) {
		uint64_t kseq = sl->kseq;
		rc = sl->rc;
		if (rc == AL_E_NOTFOUND || (rc && !sl->stepped))
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
		audit_walk_step(&w, r, NULL, 0, kseq, sl->plain.p,
				sl->plain.len, &e);
		if (e.hash)
			verify_pins_at(ps, &pi, kseq, e.hash, &good, r);
		explicit_bzero(sl->plain.p, sl->plain.len);
		sl->plain.len = 0;
	}
	if (rc == AL_E_NOTFOUND)
		rc = 0;
	*last = w.next - 1;
	memcpy(hash, w.prev, AUDIT_HASH_HEX_LEN + 1);
	vs_close(&src);
	store_cursor_close(cur);
	audit_hasher_free(&w.h);
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

static int verify_run(struct store *st, const struct audit_pubkey *pk,
		      const struct audit_verify_opts *o, bool cps,
		      struct audit_report *r)
{
	char hash[AUDIT_HASH_HEX_LEN + 1];
	struct store_txn *txn = NULL;
	struct pins ps = { 0 };
	uint64_t last = 0;
	int rc = store_txn_begin(st, false, &txn);

	if (rc == 0 && cps)
		rc = verify_cps(txn, pk, &ps, r);
	if (rc)
		goto out;
	if (ps.n)
		qsort(ps.v, ps.n, sizeof(*ps.v), pin_cmp);
	rc = verify_entries(txn, &ps, r, &last, hash);
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
