/*
 * bench_audit - how fast the audit log appends and verifies.
 *
 *   bench_audit DIR [ENTRIES]
 *
 * DIR must not exist; it becomes a scratch home and is removed at the
 * end. Every append below is sealed, chained and durable: each commit
 * is LMDB's default, which fsyncs before returning (the store never
 * opens LMDB with MDB_NOSYNC, so there is no faster, non-durable mode
 * to report). Prints one "name value unit" line per measure.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>

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
 * The hash limit for the same bytes: SHA-256 over each stored entry's
 * canonical bytes (the line less its hash member), with the context
 * reused as the verifier does, timed in this run.
 */
static void bench_hash_limit(struct store *st, double *rate, double *bytes)
{
	struct store_txn *txn;
	struct store_cursor *cur;
	struct al_buf plain = { 0 }, all = { 0 };
	struct audit_hasher h;
	size_t *len = NULL, n = 0, cap = 0;
	const void *key;
	size_t keylen;
	char hex[AUDIT_HASH_HEX_LEN + 1];
	double t0;

	store_txn_begin(st, false, &txn);
	store_cursor_open(txn, STORE_DB_AUDIT, &cur);
	while (store_cursor_next_plain(cur, &key, &keylen, &plain) == 0) {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			len = realloc(len, cap * sizeof(*len));
		}
		/* ",\"hash\":\"<64>\"" is 74 bytes the hash does not cover */
		len[n++] = plain.len - 74;
		al_buf_append(&all, plain.p, plain.len - 74);
	}
	store_cursor_close(cur);
	store_txn_abort(txn);
	audit_hasher_init(&h);
	t0 = now_s();
	for (size_t i = 0, off = 0; i < n; off += len[i++])
		audit_hasher_hex(&h, all.p + off, len[i], NULL, 0, hex);
	t0 = now_s() - t0;
	*rate = (double)n / t0;
	*bytes = (double)all.len / (double)n;
	audit_hasher_free(&h);
	al_buf_free(&plain);
	al_buf_free(&all);
	free(len);
}

/*
 * The hash limit for the same bytes, in the same run: SHA-256 over the
 * whole export file once, as one stream (what `openssl speed` measures
 * with large blocks). Verification must hash every byte of the file for
 * its digest and again, less each line's hash member, for the entry
 * hashes; so about 1.8x this is the floor, before any checking.
 */
static void bench_file_hash(const char *dir, uint64_t entries, double vt)
{
	char path[4300];
	struct al_buf b = { 0 };
	struct audit_hasher h;
	char hex[AUDIT_HASH_HEX_LEN + 1];
	double t0, best = 1e9;

	snprintf(path, sizeof(path), "%s/00000001.jsonl", dir);
	if (al_read_file(path, (size_t)1 << 32, &b) || audit_hasher_init(&h))
		die(path, AL_E_STORE);
	for (int i = 0; i < 3; i++) {
		t0 = now_s();
		audit_hasher_hex(&h, b.p, b.len, NULL, 0, hex);
		t0 = now_s() - t0;
		best = t0 < best ? t0 : best;
	}
	printf("export_bytes %zu\n", b.len);
	printf("sha256_file_once %.0f MB/s (%.0f entries/s)\n",
	       (double)b.len / best / 1e6, (double)entries / best);
	printf("verify_export / sha256_file_once = %.2f (time ratio)\n",
	       vt / best);
	audit_hasher_free(&h);
	al_buf_free(&b);
}

int main(int argc, char **argv)
{
	size_t total = argc > 2 ? strtoul(argv[2], NULL, 10) : 200000;
	struct audit_policy pol = { AUDIT_DEFAULT_EVERY_N, 0 };
	struct audit_verify_opts vo = { .home = argv[1] };
	struct audit_export_info info;
	struct audit_report r;
	struct audit_pubkey *pk;
	struct audit_signer *sg;
	struct audit_log *log;
	struct store *st;
	char dir[4200];
	uint64_t batches = 0;
	double t0, hash_rate, avg;
	int rc;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_audit DIR [ENTRIES]\n");
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

	t0 = now_s();
	rc = audit_verify_store(st, &vo, &r);
	t0 = now_s() - t0;
	if (rc)
		die("verify", rc);
	printf("verify_store %.0f entries/s (%llu entries)\n",
	       (double)r.entries / t0, (unsigned long long)r.entries);
	audit_report_free(&r);

	bench_hash_limit(st, &hash_rate, &avg);
	printf("sha256_same_bytes %.0f entries/s (avg %.0f bytes)\n",
	       hash_rate, avg);
	printf("entry_bytes_avg %.0f\n", avg);

	snprintf(dir, sizeof(dir), "%s/export", argv[1]);
	if ((rc = audit_export(log, dir, "uid:0", &info)))
		die("export", rc);
	audit_signer_load(argv[1], false, &sg);
	audit_signer_pubkey(sg, &pk);
	t0 = now_s();
	rc = audit_verify_exports(dir, pk, NULL, &r);
	t0 = now_s() - t0;
	if (rc)
		die("verify-export", rc);
	printf("verify_export %.0f entries/s (%llu entries)\n",
	       (double)r.entries / t0, (unsigned long long)r.entries);
	bench_file_hash(dir, r.entries, t0);
	audit_report_free(&r);
	audit_pubkey_free(pk);
	audit_signer_free(sg);
	audit_log_close(log);
	store_close(st);
	al_rm_tree(argv[1]);
	return 0;
}
