#include "daemon/joblog.h"

#include <errno.h>
#include <string.h>

#include "base/err.h"
#include "base/jsonx.h"
#include "base/util.h"
#include "sched/sched.h"

#define LOG_KEY_LEN (SCHED_ID_LEN + 4)

static int log_key(uint8_t key[LOG_KEY_LEN], const char *id, uint32_t n)
{
	if (!id || strlen(id) != SCHED_ID_LEN)
		return AL_E_USAGE;
	memcpy(key, id, SCHED_ID_LEN);
	key[SCHED_ID_LEN] = (uint8_t)(n >> 24);
	key[SCHED_ID_LEN + 1] = (uint8_t)(n >> 16);
	key[SCHED_ID_LEN + 2] = (uint8_t)(n >> 8);
	key[SCHED_ID_LEN + 3] = (uint8_t)n;
	return 0;
}

static uint32_t log_key_n(const uint8_t *key)
{
	return (uint32_t)key[SCHED_ID_LEN] << 24 |
	       (uint32_t)key[SCHED_ID_LEN + 1] << 16 |
	       (uint32_t)key[SCHED_ID_LEN + 2] << 8 | key[SCHED_ID_LEN + 3];
}

int dmn_log_put(struct store_txn *txn, const char *id, uint32_t n,
		int64_t time_ms, const char *line)
{
	uint8_t key[LOG_KEY_LEN];
	char text[DMN_LOG_LINE_MAX + 1];
	json_t *v;
	int rc = log_key(key, id, n);

	if (rc)
		return rc;
	/* What a worker sends is data: cut, repaired and made inert. */
	al_strlcpy(text, line ? line : "", sizeof(text));
	al_utf8_repair(text, strlen(text));
	al_sanitize_text(text);
	v = json_pack("{s:I,s:s}", "time", (json_int_t)time_ms, "line", text);
	if (!v)
		return -ENOMEM;
	rc = store_put_json(txn, STORE_DB_JOBLOG, key, sizeof(key), v, 0);
	json_decref(v);
	return rc;
}

int dmn_log_last(struct store_txn *txn, const char *id, uint32_t *n)
{
	struct store_cursor *cur = NULL;
	uint8_t key[LOG_KEY_LEN];
	const void *k;
	size_t klen;
	int rc = log_key(key, id, 1);

	*n = 0;
	if (rc || (rc = store_cursor_open(txn, STORE_DB_JOBLOG, &cur)))
		return rc;
	rc = store_cursor_seek(cur, key, sizeof(key));
	/* Keys only: counting lines unseals none of them. */
	while (rc == 0 && (rc = store_cursor_next(cur, &k, &klen, NULL)) == 0 &&
	       klen == LOG_KEY_LEN && !memcmp(k, id, SCHED_ID_LEN))
		*n = log_key_n(k);
	store_cursor_close(cur);
	return rc == AL_E_NOTFOUND || rc == 0 ? 0 : rc;
}

int dmn_log_read(struct store_txn *txn, const char *id, uint32_t after,
		 unsigned limit, json_t **out, uint32_t *next)
{
	struct store_cursor *cur = NULL;
	uint8_t key[LOG_KEY_LEN];
	const void *k;
	size_t klen;
	json_t *v, *lines = json_array();
	int rc = after == UINT32_MAX ? AL_E_NOTFOUND : log_key(key, id, after + 1);

	*out = NULL;
	*next = after;
	if (limit == 0 || limit > DMN_LOG_READ_MAX)
		limit = DMN_LOG_READ_MAX;
	if (!lines)
		return -ENOMEM;
	if (rc == 0)
		rc = store_cursor_open(txn, STORE_DB_JOBLOG, &cur);
	if (rc == 0)
		rc = store_cursor_seek(cur, key, sizeof(key));
	while (rc == 0 && json_array_size(lines) < limit &&
	       (rc = store_cursor_next(cur, &k, &klen, &v)) == 0 &&
	       klen == LOG_KEY_LEN && !memcmp(k, id, SCHED_ID_LEN)) {
		*next = log_key_n(k);
		json_array_append_new(
			lines, json_pack("{s:I,s:O?,s:O?}", "n",
					 (json_int_t)*next, "time",
					 json_object_get(v, "time"), "line",
					 json_object_get(v, "line")));
	}
	store_cursor_close(cur);
	if (rc && rc != AL_E_NOTFOUND) {
		json_decref(lines);
		return rc;
	}
	*out = lines;
	return 0;
}
