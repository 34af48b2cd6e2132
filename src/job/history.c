/*
 * history.c - the update history in LMDB (see history.h). A record is
 * sealed JSON {"name","version","runs":[{"job","repo","from","result",
 * "ms"}]}, oldest run first.
 */
#include "job/history.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/util.h"
#include "sched/sched.h"

/* The record key: blinded "name@version". */
static int hist_key(struct store_txn *txn, const char *name,
		    const char *version, uint8_t key[32])
{
	struct al_buf b = { 0 };
	int rc = al_buf_printf(&b, "%s@%s", name, version);

	if (rc == 0)
		rc = store_blind_key(store_txn_store(txn), STORE_DB_HISTORY,
				     b.p, b.len, key);
	al_buf_free(&b);
	return rc;
}

/* A repository's id in a record: the first 16 bytes of its blinded key,
 * in hex. Every spelling of one repository (sched_repo_norm) gives the
 * same id; the id gives no URL. */
static int hist_repo_id(struct store_txn *txn, const char *repo,
			char out[33])
{
	char id[SCHED_REPO_MAX + 1];
	uint8_t k[32];
	int rc = sched_repo_norm(repo, true, id, sizeof(id));

	if (rc == 0)
		rc = store_blind_key(store_txn_store(txn), STORE_DB_REPOS, id,
				     strlen(id), k);

	for (int i = 0; rc == 0 && i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", k[i]);
	return rc;
}

int job_history_get(struct store_txn *txn, const char *name,
		    const char *version, const char *repo,
		    struct job_history_seen *out)
{
	char me[33], seen[JOB_HISTORY_RUNS][33];
	uint8_t key[32];
	json_t *rec = NULL, *run;
	size_t i, nseen = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = hist_key(txn, name, version, key);
	if (rc == 0)
		rc = hist_repo_id(txn, repo, me);
	if (rc == 0)
		rc = store_get_json(txn, STORE_DB_HISTORY, key, sizeof(key),
				    &rec);
	if (rc)
		return rc == AL_E_NOTFOUND ? 0 : rc;
	json_array_foreach(json_object_get(rec, "runs"), i, run) {
		const char *r = json_string_value(json_object_get(run,
								  "result"));
		const char *id = json_string_value(json_object_get(run,
								   "repo"));
		bool passed = r && !strcmp(r, "passed");

		if (passed)
			out->passed++;
		else if (r && !strcmp(r, "failed"))
			out->failed++;
		if (!passed || !id || strlen(id) != 32 || !strcmp(id, me))
			continue;
		bool dup = false;
		for (size_t k = 0; k < nseen && !dup; k++)
			dup = !strcmp(seen[k], id);
		if (!dup && nseen < JOB_HISTORY_RUNS)
			al_strlcpy(seen[nseen++], id, sizeof(seen[0]));
	}
	out->other_repos = (unsigned)nseen;
	json_decref(rec);
	return 0;
}

int job_history_add(struct store_txn *txn, const char *name,
		    const char *from, const char *version, const char *repo,
		    const char *job, const char *result, int64_t ms)
{
	char id[33];
	uint8_t key[32];
	json_t *rec = NULL, *runs;
	int rc = hist_key(txn, name, version, key);

	if (rc == 0)
		rc = hist_repo_id(txn, repo, id);
	if (rc == 0)
		rc = store_get_json(txn, STORE_DB_HISTORY, key, sizeof(key),
				    &rec);
	if (rc == AL_E_NOTFOUND) {
		rec = json_pack("{s:s,s:s,s:[]}", "name", name, "version",
				version, "runs");
		rc = rec ? 0 : -ENOMEM;
	}
	if (rc)
		goto out;
	runs = json_object_get(rec, "runs");
	if (!json_is_array(runs)) {
		runs = json_array();
		json_object_set_new(rec, "runs", runs);
	}
	while (json_array_size(runs) >= JOB_HISTORY_RUNS)
		json_array_remove(runs, 0);
	rc = -ENOMEM;
	if (json_array_append_new(runs,
				  json_pack("{s:s,s:s,s:s,s:s,s:I}", "job", job,
					    "repo", id, "from", from ? from : "",
					    "result", result, "ms",
					    (json_int_t)ms)))
		goto out;
	rc = store_put_json(txn, STORE_DB_HISTORY, key, sizeof(key), rec, 0);
out:
	json_decref(rec);
	return rc;
}
