/*
 * internal.h - what sched.c and tick.c share: the handle, the queue
 * index keys (schema/lmdb.md, "Scheduler") and record helpers.
 */
#ifndef AL_SCHED_INTERNAL_H
#define AL_SCHED_INTERNAL_H

#include "sched/cron.h"
#include "sched/sched.h"
#include "sched/tz.h"

struct sched_entry {
	char *repo;
	char *spec;
	struct sched_cron cron;
	struct sched_tz *tz;
};

struct sched {
	struct audit_log *log;
	struct store *st;
	struct sched_clock clock;
	unsigned max_attempts;
	int64_t lease_ms, backoff_ms, backoff_max_ms;
	struct sched_entry *sch;
	size_t nsch;
};

/*
 * Queue index keys, raw, in database "queue":
 *   'Q' | 255 - priority (1) | due ms, u64 BE (8) | job id (20)  value ""
 *   'L' | job id (20)                          value: expiry ms, u64 BE
 */
#define SCHED_QKEY_LEN 30
#define SCHED_LKEY_LEN 21

void sched_qkey(uint8_t k[SCHED_QKEY_LEN], unsigned prio, int64_t due_ms,
		const char *id);
void sched_lkey(uint8_t k[SCHED_LKEY_LEN], const char *id);
uint64_t sched_be64(const uint8_t *p);
void sched_put_be64(uint8_t *p, uint64_t v);

/* The caller's txn, or a new write transaction; and its end. */
int sched_tx(struct sched *s, struct store_txn *txn, struct store_txn **use);
int sched_tx_end(struct sched *s, struct store_txn *txn,
		 struct store_txn *use, int rc);

/* The repository record {"url", "sched": {...}} and its blinded key. */
int sched_repo_get(struct sched *s, struct store_txn *txn, const char *url,
		   uint8_t key[32], json_t **rec);
int sched_repo_put(struct store_txn *txn, const uint8_t key[32],
		   json_t *rec);
json_t *sched_member(json_t *rec); /* rec["sched"], borrowed */

/*
 * The repository's queued jobs, rm being its "sched" member: "queued"
 * is an array of job ids, oldest first (a single id in records made
 * before jobs joined by settings). sched_repo_queued returns a new
 * array; the others change rm.
 */
json_t *sched_repo_queued(json_t *rm);
void sched_repo_unqueue(json_t *rm, const char *id);
int sched_repo_enqueue_id(json_t *rm, const char *id);

/* Whether job record rec runs what rq asks for: the same branch, policy
 * and test command (priority, due time and trigger merge on a join). */
bool sched_same_settings(const json_t *rec, const struct sched_request *rq);

int sched_enqueue_rec(struct sched *s, struct store_txn *txn,
		      const struct sched_request *rq, const char *retry_of,
		      char *id, bool *joined);

int64_t sched_jint(const json_t *o, const char *key, int64_t dflt);
const char *sched_jstr(const json_t *o, const char *key);

#endif
