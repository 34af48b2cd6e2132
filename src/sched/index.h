/*
 * index.h - a summary index of every job, in memory only, for views
 * that sort or filter the whole store (the console's jobs table,
 * docs/api.md "Sorted and filtered pages").
 *
 * One compact row per job: id, repository, state, stage, score and
 * level, updates planned, creation, end and last change, and the names
 * a text filter looks in (planned updates, failing tests). Strings are
 * shared between rows (a repository's many jobs hold one copy). Nothing
 * of it is ever written anywhere: it is built from the sealed records
 * and dropped with the process, so no plaintext reaches the disk.
 *
 * A page is one pass over the rows: those that pass the filter and sort
 * after the cursor are kept in a bounded heap of the page's size, so a
 * page costs O(rows x log limit) whatever the order, and nothing is kept
 * between calls that a change could make stale.
 *
 * Not thread-safe: the caller serialises every call (the daemon holds
 * one mutex around it).
 */
#ifndef AL_SCHED_INDEX_H
#define AL_SCHED_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sched/sched.h"

/* X(enum, name): the columns a page sorts by, as the API spells them. */
#define SCHED_COL_TABLE(X)                                                 \
	X(SCHED_COL_ID, "id")                                                  \
	X(SCHED_COL_REPO, "repo")                                              \
	X(SCHED_COL_STATE, "state")                                            \
	X(SCHED_COL_STAGE, "stage")                                            \
	X(SCHED_COL_SCORE, "score")                                            \
	X(SCHED_COL_UPDATES, "updates")                                        \
	X(SCHED_COL_DURATION, "duration")                                      \
	X(SCHED_COL_CHANGED, "changed")

enum sched_col {
#define SCHED_X_COL(e, name) e,
	SCHED_COL_TABLE(SCHED_X_COL)
#undef SCHED_X_COL
	SCHED_COL__COUNT
};

/* The column named name, or -1. */
int sched_col_parse(const char *name);
const char *sched_col_name(enum sched_col c);

/* Names an event or a row carries at most for the text filter. */
#define SCHED_NAMES_MAX 64
#define SCHED_NAMES_BYTES 4096

struct sched_index;

int sched_index_new(struct sched_index **out);
void sched_index_free(struct sched_index *ix);

/*
 * A new index of every job in the store of s, read in one read
 * transaction (every record unsealed once). Records that fail to
 * unseal are left out. -ENOMEM or the store's errors.
 */
int sched_index_build(struct sched *s, struct sched_index **out);

/*
 * Add or replace the row of job record rec. changed_ms is when it
 * changed (0: the latest of its creation, start and end). AL_E_PARSE
 * for a record without a valid id, -ENOMEM.
 */
int sched_index_put(struct sched_index *ix, const json_t *rec,
		    int64_t changed_ms);

size_t sched_index_count(const struct sched_index *ix);
/* Heap bytes the index holds (rows and shared strings). */
size_t sched_index_bytes(const struct sched_index *ix);
/* The longest chain of the shared strings' table (its buckets are
 * chosen by a hash keyed at random per index, so that no input can
 * crowd one): for tests and the build's log line. */
size_t sched_index_chain_max(const struct sched_index *ix);

/*
 * The order: by col (descending with desc), ties newest first (by id);
 * SCHED_COL_ID orders by id alone. Duration is end minus creation, and
 * a job that has not ended sorts as longer than any that has (the
 * earlier created first). A job without a score or updates sorts below
 * every one with them.
 */
struct sched_index_query {
	enum sched_col col;
	bool desc;
	int state;         /* -1: any */
	const char *level; /* NULL: any */
	const char *match; /* any case, in the id, the repository, a name */
	const json_t *from; /* a previous page's "next"; NULL: the start */
	size_t limit;      /* 1..SCHED_PAGE_MAX */
};

/*
 * *out (new reference): {"jobs": [rows, see sched_index_summary],
 * "next": the cursor of the following page ([key, id]) or null at the
 * end, "matched": jobs that pass the filter, "total": jobs indexed}.
 * The cursor holds the last row's key, not its place: jobs added or
 * changed between calls neither repeat nor skip the others.
 * AL_E_USAGE for a bad limit or cursor, -ENOMEM.
 */
int sched_index_page(const struct sched_index *ix,
		     const struct sched_index_query *q, json_t **out);

/*
 * What views show of job record rec (new reference): {"id", "repo",
 * "state", "stage", "step", "steps", "attempt", "reason", "score",
 * "level", "updates", "created_ms", "started_ms", "finished_ms",
 * "changed_ms", "names"} (the members the record has; step and steps
 * once the worker said, see sched_stage), names being the planned updates' and the
 * failing tests' names, at most SCHED_NAMES_MAX of them and
 * SCHED_NAMES_BYTES in all, with "names_cut": true when some were left
 * out. The daemon's job.state and job.stage events carry it.
 */
json_t *sched_index_summary(const json_t *rec, int64_t changed_ms);

#endif
