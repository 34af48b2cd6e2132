/*
 * bench_audit - how fast the audit log appends and verifies.
 *
 *   bench_audit DIR [ENTRIES [ROUNDS]]
 *
 * DIR must not exist; it becomes a scratch home and is removed at the
 * end. Every append below is sealed, chained and durable: each commit
 * is LMDB's default, which fsyncs before returning (the store never
 * opens LMDB with MDB_NOSYNC, so there is no faster, non-durable mode
 * to report). Prints one "name value unit" line per measure.
 *
 * Verification is then timed ROUNDS times (default 5), each round
 * next to its hash limits, two ways: wall-clock time, which is what a
 * caller waits and what the verifiers' second thread shortens, and CPU
 * time of the whole process (both verifier threads; nothing else runs
 * in it then), which is the work done and what a verifier waiting for
 * a core on a shared machine does not inflate. The hash limits are one
 * thread's, timed both ways too. Each round also verifies on one
 * thread, for comparison under the same load. The medians and the
 * spread of the ratios are printed at the end.
 */
/* The hash limit uses the one-call SHA-256 the verifier uses (line.c). */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "audit/checkpoint.h"
#include "audit/export.h"
#include "audit/internal.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of every thread of the process. */
static double proc_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A span of time measured both ways. */
struct span {
	double wall, cpu;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median, fewest and most of n values (sorted in place). */
static void spread(double *v, size_t n, const char *name, const char *unit)
{
	qsort(v, n, sizeof(*v), cmp_double);
	printf("%s %.2f %s median of %zu (%.2f to %.2f)\n", name,
	       n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, unit, n, v[0],
	       v[n - 1]);
}

/* An entry shaped like a stage end of a real job. */
static json_t *details(uint64_t i)
{
	return json_pack("{s:s, s:s, s:I, s:s}", "job",
			 "019b2f7a1c3e4d5f6a7b", "result", i % 7 ? "ok"
								 : "failed",
			 "duration_ms", (json_int_t)(i * 37 % 100000), "stage",
			 "install");
}

static void fill(struct audit_rec *recs, size_t n, uint64_t base)
{
	for (size_t i = 0; i < n; i++)
		recs[i] = (struct audit_rec){ "uid:0", "stage.end",
					      "019b2f7a1c3e4d5f6a7b",
					      details(base + i) };
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_audit: %s: %s\n", what, al_strerror(rc));
	exit(1);
}

static double bench_batch(struct audit_log *log, size_t total, size_t batch)
{
	struct audit_rec *recs = calloc(batch, sizeof(*recs));
	double t0 = now_s();
	int rc;

	for (size_t done = 0; done < total; done += batch) {
		fill(recs, batch, done);
		rc = audit_append_batch(log, recs, batch, NULL);
		if (rc)
			die("append", rc);
	}
	free(recs);
	return (double)total / (now_s() - t0);
}

struct emitter {
	struct audit_sink *sink;
	size_t n;
};

static void *emit_loop(void *arg)
{
	struct emitter *e = arg;
	struct al_event_sink s = audit_event_sink(e->sink);

	for (size_t i = 0; i < e->n; i++)
		if (al_event(&s, "proxy.allow", "registry.test:443",
			     details(i)))
			die("emit", AL_E_STORE);
	return NULL;
}

static double bench_sink(struct audit_log *log, int threads, size_t each,
			 uint64_t *batches)
{
	struct audit_sink sink;
	struct emitter em = { &sink, each };
	pthread_t th[64];

	if (threads > 64)
		threads = 64;
	double t0;

	audit_sink_init(&sink, log, NULL, NULL);
	t0 = now_s();
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, emit_loop, &em);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	t0 = now_s() - t0;
	*batches = sink.batches;
	audit_sink_destroy(&sink);
	return (double)(threads * each) / t0;
}

/*
 * The bytes verification hashes, in memory: each stored entry's hashed
 * bytes (the line less its hash member) one after the other, and the
 * export file.
 */
struct same_bytes {
	struct al_buf all;   /* the entries' hashed bytes */
	size_t *len;         /* each entry's share of all */
	size_t n;
	struct al_buf file;  /* the export file */
};

static void same_bytes_load(struct store *st, const char *dir,
			    struct same_bytes *sb)
{
	struct store_txn *txn;
	struct store_cursor *cur;
	struct al_buf plain = { 0 };
	char path[4300];
	const void *key;
	size_t keylen, cap = 0;

	store_txn_begin(st, false, &txn);
	store_cursor_open(txn, STORE_DB_AUDIT, &cur);
	while (store_cursor_next_plain(cur, &key, &keylen, &plain) == 0) {
		if (sb->n == cap) {
			cap = cap ? cap * 2 : 4096;
			sb->len = realloc(sb->len, cap * sizeof(*sb->len));
		}
		/* ",\"hash\":\"<64>\"" is 74 bytes the hash does not cover */
		sb->len[sb->n++] = plain.len - 74;
		al_buf_append(&sb->all, plain.p, plain.len - 74);
	}
	store_cursor_close(cur);
	store_txn_abort(txn);
	al_buf_free(&plain);
	snprintf(path, sizeof(path), "%s/00000001.jsonl", dir);
	if (al_read_file(path, (size_t)1 << 32, &sb->file))
		die(path, AL_E_STORE);
}

/*
 * SHA-256 over each entry's hashed bytes, one message per entry, with
 * the same one-call functions the verifier uses (the fastest way to
 * hash them here), on this thread.
 */
static struct span sha_entries(const struct same_bytes *sb)
{
	unsigned char dig[SHA256_DIGEST_LENGTH];
	struct span t = { now_s(), cpu_s() };
	SHA256_CTX c;

	/* Not SHA256(): 3.0 made it fetch the algorithm on every call. */
	for (size_t i = 0, off = 0; i < sb->n; off += sb->len[i++]) {
		SHA256_Init(&c);
		SHA256_Update(&c, sb->all.p + off, sb->len[i]);
		SHA256_Final(dig, &c);
	}
	return (struct span){ now_s() - t.wall, cpu_s() - t.cpu };
}

/* SHA-256 over the export file once, as one stream, on this thread. */
static struct span sha_file(const struct same_bytes *sb)
{
	unsigned char dig[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	struct span t = { now_s(), cpu_s() };

	if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(c, sb->file.p, sb->file.len) != 1 ||
	    EVP_DigestFinal_ex(c, dig, &n) != 1)
		die("SHA-256", AL_E_CRYPTO);
	t = (struct span){ now_s() - t.wall, cpu_s() - t.cpu };
	EVP_MD_CTX_free(c);
	return t;
}

static struct span span_start(void)
{
	return (struct span){ now_s(), proc_cpu_s() };
}

static struct span span_end(struct span t)
{
	return (struct span){ now_s() - t.wall, proc_cpu_s() - t.cpu };
}

/*
 * ROUNDS rounds of: verify the store, hash its entries' bytes, verify
 * the export, hash the export file once; each verifier's time is put
 * against the hash of its own bytes in the same round.
 */
/* One verification round's measures: rates and ratios, wall and CPU. */
enum { M_SW, M_SC, M_SWR, M_SCR, M_XW, M_XC, M_XWR, M_XCR, M__N };
static const char *const m_names[M__N][2] = {
	{ "verify_store", "entries/s (wall)" },
	{ "verify_store_cpu", "entries/CPU s" },
	{ "verify_store_over_sha256_same_bytes", "x (wall)" },
	{ "verify_store_over_sha256_same_bytes_cpu", "x (CPU)" },
	{ "verify_export", "entries/s (wall)" },
	{ "verify_export_cpu", "entries/CPU s" },
	{ "verify_export_over_sha256_file_once", "x (wall)" },
	{ "verify_export_over_sha256_file_once_cpu", "x (CPU)" },
};

static uint64_t bench_round(struct store *st, const char *home,
			    const char *dir, const struct audit_pubkey *pk,
			    const struct same_bytes *sb, double m[M__N])
{
	struct audit_verify_opts vo = { .home = home };
	struct audit_report r;
	struct span ts, tx, h;
	uint64_t entries;
	int rc;

	ts = span_start();
	rc = audit_verify_store(st, &vo, &r);
	ts = span_end(ts);
	if (rc)
		die("verify", rc);
	entries = r.entries;
	audit_report_free(&r);
	h = sha_entries(sb);
	m[M_SW] = (double)entries / ts.wall;
	m[M_SC] = (double)entries / ts.cpu;
	m[M_SWR] = ts.wall / h.wall;
	m[M_SCR] = ts.cpu / h.cpu;

	tx = span_start();
	rc = audit_verify_exports(dir, pk, NULL, &r);
	tx = span_end(tx);
	if (rc)
		die("verify-export", rc);
	audit_report_free(&r);
	h = sha_file(sb);
	m[M_XW] = (double)entries / tx.wall;
	m[M_XC] = (double)entries / tx.cpu;
	m[M_XWR] = tx.wall / h.wall;
	m[M_XCR] = tx.cpu / h.cpu;
	return entries;
}

/*
 * Each round verifies twice: on one thread (the "_1thread" measures),
 * then as the verifiers choose (a second thread when the process may
 * use two CPUs), so the two are compared under the same load.
 */
static void bench_verify(struct store *st, const char *home, const char *dir,
			 const struct audit_pubkey *pk, int rounds)
{
	struct same_bytes sb = { 0 };
	double *v = calloc((size_t)rounds * M__N * 2, sizeof(*v));
	char name[128];
	uint64_t entries = 0;

	same_bytes_load(st, dir, &sb);
	printf("entry_bytes_avg %.0f\n", (double)sb.all.len / (double)sb.n);
	printf("export_bytes %zu\n", sb.file.len);
	for (int i = 0; i < rounds; i++) {
		double one[M__N], two[M__N];
		audit_par_mode = AUDIT_PAR_OFF;
		bench_round(st, home, dir, pk, &sb, one);
		audit_par_mode = AUDIT_PAR_AUTO;
		entries = bench_round(st, home, dir, pk, &sb, two);
		for (int k = 0; k < M__N; k++) {
			v[(size_t)k * rounds + i] = two[k];
			v[(size_t)(M__N + k) * rounds + i] = one[k];
		}
		printf("round %d: verify_store %.0f entries/s wall (%.0f per "
		       "CPU second), %.2fx wall and %.2fx CPU of the same "
		       "bytes' SHA-256 (one thread: %.2fx, %.2fx); "
		       "verify_export %.0f entries/s wall (%.0f per CPU "
		       "second), %.2fx wall and %.2fx CPU of the file's "
		       "SHA-256 (one thread: %.2fx, %.2fx)\n", i + 1,
		       two[M_SW], two[M_SC], two[M_SWR], two[M_SCR],
		       one[M_SWR], one[M_SCR], two[M_XW], two[M_XC],
		       two[M_XWR], two[M_XCR], one[M_XWR], one[M_XCR]);
	}
	printf("entries %llu\n", (unsigned long long)entries);
	for (int k = 0; k < 2 * M__N; k++) {
		snprintf(name, sizeof(name), "%s%s", m_names[k % M__N][0],
			 k < M__N ? "" : "_1thread");
		spread(v + (size_t)k * rounds, (size_t)rounds, name,
		       m_names[k % M__N][1]);
	}
	printf("sha256_same_bytes %.0f entries/s (one more pass, CPU)\n",
	       (double)sb.n / sha_entries(&sb).cpu);
	printf("sha256_file_once %.0f MB/s (one more pass, CPU)\n",
	       (double)sb.file.len / sha_file(&sb).cpu / 1e6);
	al_buf_free(&sb.all);
	al_buf_free(&sb.file);
	free(sb.len);
	free(v);
}

int main(int argc, char **argv)
{
	size_t total = argc > 2 ? strtoul(argv[2], NULL, 10) : 200000;
	long rounds = argc > 3 ? strtol(argv[3], NULL, 10) : 5;
	struct audit_policy pol = { AUDIT_DEFAULT_EVERY_N, 0 };
	struct audit_export_info info;
	struct audit_pubkey *pk;
	struct audit_signer *sg;
	struct audit_log *log;
	struct store *st;
	char dir[4200];
	uint64_t batches = 0;
	double t0;
	int rc;

	if (argc < 2 || rounds < 1 || rounds > 1000) {
		fprintf(stderr, "usage: bench_audit DIR [ENTRIES [ROUNDS]]\n");
		return 2;
	}
	if ((rc = store_open(argv[1], &st)) ||
	    (rc = audit_log_open(st, argv[1], &pol, &log)))
		die(argv[1], rc);
	al_log_set_level(AL_LOG_WARN);

	t0 = now_s();
	for (int i = 0; i < 500; i++)
		if ((rc = audit_append_now(log, "uid:0", "stage.end", "x",
					   details(i), NULL)))
			die("append", rc);
	printf("append_single_durable %.0f entries/s\n", 500 / (now_s() - t0));
	printf("append_batch_100_durable %.0f entries/s\n",
	       bench_batch(log, 20000, 100));
	printf("append_batch_1000_durable %.0f entries/s\n",
	       bench_batch(log, total, 1000));
	printf("append_batch_10000_durable %.0f entries/s\n",
	       bench_batch(log, 50000, 10000));
	printf("append_sink_4_threads_durable %.0f entries/s\n",
	       bench_sink(log, 4, 1000, &batches));
	printf("append_sink_4_threads_commits %llu for 4000 entries\n",
	       (unsigned long long)batches);
	printf("append_sink_32_threads_durable %.0f entries/s\n",
	       bench_sink(log, 32, 300, &batches));
	printf("append_sink_32_threads_commits %llu for 9600 entries\n",
	       (unsigned long long)batches);

	snprintf(dir, sizeof(dir), "%s/export", argv[1]);
	if ((rc = audit_export(log, dir, "uid:0", &info)))
		die("export", rc);
	audit_signer_load(argv[1], false, &sg);
	audit_signer_pubkey(sg, &pk);
	bench_verify(st, argv[1], dir, pk, (int)rounds);
	audit_pubkey_free(pk);
	audit_signer_free(sg);
	audit_log_close(log);
	store_close(st);
	al_rm_tree(argv[1]);
	return 0;
}
