/*
 * joblog.h - the progress lines of daemon jobs, kept in the store.
 *
 * A worker reports what its job does (a stage begins, "install passed
 * in 31.2 s", "test still running (60 s)") over its control socket; the
 * daemon keeps each line sealed in database "job_log" under the job id
 * and the line's number, so that `airlock job logs` and the console can
 * read them back during and after the job. The lines were made terminal-
 * safe by the worker and are again here (a worker is not trusted to have
 * done it). Bounded: DMN_LOG_LINES_MAX lines per job, each cut to
 * DMN_LOG_LINE_MAX bytes; a job that says more gets one last line that
 * counts what was not kept.
 *
 * Key: the job id (SCHED_ID_LEN bytes) then the line number, big-endian
 * u32, from 1. Value: sealed {"time": ms, "line": text}.
 */
#ifndef AL_DAEMON_JOBLOG_H
#define AL_DAEMON_JOBLOG_H

#include <stdint.h>

#include <jansson.h>

#include "store/store.h"

#define DMN_LOG_LINES_MAX 2000
#define DMN_LOG_LINE_MAX 1024
#define DMN_LOG_READ_MAX 5000 /* lines one read returns at most */

/*
 * Append line number n of job id, written at time_ms, inside txn. The
 * text is copied, cut and made inert. Errors of the store.
 */
int dmn_log_put(struct store_txn *txn, const char *id, uint32_t n,
		int64_t time_ms, const char *line);

/* The number of the last line kept for job id (0 when none). */
int dmn_log_last(struct store_txn *txn, const char *id, uint32_t *n);

/*
 * Lines of job id after line number after, at most limit of them
 * (0 or more than DMN_LOG_READ_MAX: DMN_LOG_READ_MAX), into *out (new
 * array of {"n","time","line"}). *next is the number of the last line
 * returned (after, when none).
 */
int dmn_log_read(struct store_txn *txn, const char *id, uint32_t after,
		 unsigned limit, json_t **out, uint32_t *next);

#endif
