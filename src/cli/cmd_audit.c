/*
 * cmd_audit.c - "airlock audit": check the audit log held in the store.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit/audit.h"
#include "base/err.h"
#include "cli/cli.h"
#include "store/store.h"

static const char cli_audit_help[] =
	"usage: airlock audit verify [--json] [--home DIR]\n"
	"       airlock audit show [--job ID] [--home DIR]\n"
	"\n"
	"verify  walk the audit log from its first entry: check every\n"
	"        entry's seal, hash, link to the previous entry and sequence\n"
	"        number, and that the recorded head names the last entry.\n"
	"show    print the entries, oldest first, one JSON object a line\n"
	"        (non-ASCII and control characters escaped, so the\n"
	"        output is safe for a terminal); --job ID keeps the entries\n"
	"        whose details.job is ID. Does not check the chain: run\n"
	"        verify for that.\n"
	"\n"
	"options:\n"
	"  --json   print {\"ok\":..,\"count\":..,\"broken_at\":..} on stdout\n"
	"  --help   this text\n"
	"\n"
	"exit status: 0 the chain is intact, 1 it is broken or cannot be\n"
	"read, 2 bad usage.\n";

static void cli_audit_json(bool ok, uint64_t count, uint64_t broken,
			   const char *error)
{
	json_t *o = json_pack("{s:b, s:I, s:o}", "ok", ok, "count",
			      (json_int_t)count, "broken_at",
			      broken ? json_integer((json_int_t)broken)
				     : json_null());
	char *s;

	if (o && error)
		json_object_set_new(o, "error", json_string(error));
	s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (s)
		printf("%s\n", s);
	free(s);
	json_decref(o);
}

static int cli_audit_verify(const char *home, bool json)
{
	struct store *st = NULL;
	uint64_t count = 0, bad = 0;
	char msg[512];
	int rc = store_open_existing(home, &st);

	if (rc) {
		snprintf(msg, sizeof(msg), "cannot open the store in %s: %s",
			 home, al_strerror(rc));
		goto out;
	}
	rc = audit_verify(st, &count, &bad);
	if (rc && rc != AL_E_CHAIN)
		snprintf(msg, sizeof(msg), "cannot read the audit log in %s: "
			 "%s", home, al_strerror(rc));
out:
	store_close(st);
	if (rc && rc != AL_E_CHAIN)
		fprintf(stderr, "airlock audit: %s\n", msg);
	if (json)
		cli_audit_json(rc == 0, count, bad,
			       rc && rc != AL_E_CHAIN ? msg : NULL);
	else if (rc == 0)
		printf("OK: %llu entries\n", (unsigned long long)count);
	else if (rc == AL_E_CHAIN)
		printf("audit chain broken at seq %llu\n",
		       (unsigned long long)bad);
	return rc ? CLI_FAILED : CLI_OK;
}

/* Every entry (of one job) as a line of escaped JSON. */
static int cli_audit_show(const char *home, const char *job)
{
	struct store *st = NULL;
	struct store_txn *txn = NULL;
	struct store_cursor *cur = NULL;
	const void *key;
	size_t keylen;
	json_t *e;
	int rc = store_open_existing(home, &st);

	if (rc == 0)
		rc = store_txn_begin(st, false, &txn);
	if (rc == 0)
		rc = store_cursor_open(txn, STORE_DB_AUDIT, &cur);
	while (rc == 0 && (rc = store_cursor_next(cur, &key, &keylen, &e)) !=
				  AL_E_NOTFOUND) {
		if (rc)
			break;
		const char *ej = json_string_value(json_object_get(
			json_object_get(e, "details"), "job"));
		if (job && (!ej || strcmp(ej, job)))
			continue;
		char *line = json_dumps(e, JSON_COMPACT | JSON_ENSURE_ASCII |
					   JSON_SORT_KEYS);
		if (!line) {
			rc = -ENOMEM;
			break;
		}
		printf("%s\n", line);
		free(line);
	}
	if (rc == AL_E_NOTFOUND)
		rc = 0;
	store_cursor_close(cur);
	store_txn_abort(txn);
	store_close(st);
	if (rc)
		fprintf(stderr, "airlock audit show: cannot read the audit log "
			"in %s: %s\n", home, al_strerror(rc));
	return rc ? CLI_FAILED : CLI_OK;
}

int cli_audit(int argc, char **argv, const char *home)
{
	bool json = false;

	if (argc >= 2 && (!strcmp(argv[1], "--help") ||
			  !strcmp(argv[1], "-h"))) {
		fputs(cli_audit_help, stdout);
		return CLI_OK;
	}
	if (argc >= 2 && !strcmp(argv[1], "show")) {
		if (argc == 2)
			return cli_audit_show(home, NULL);
		if (argc == 4 && !strcmp(argv[2], "--job"))
			return cli_audit_show(home, argv[3]);
		fprintf(stderr, "airlock audit show: expected [--job ID]\n");
		return CLI_USAGE;
	}
	if (argc < 2 || strcmp(argv[1], "verify") != 0) {
		if (argc < 2)
			fputs(cli_audit_help, stderr);
		else
			fprintf(stderr, "airlock audit: unknown subcommand "
				"'%s' (see airlock audit --help)\n", argv[1]);
		return CLI_USAGE;
	}

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--help") ||
			   !strcmp(argv[i], "-h")) {
			fputs(cli_audit_help, stdout);
			return CLI_OK;
		} else {
			fprintf(stderr, "airlock audit verify: unexpected "
				"argument '%s'\n", argv[i]);
			return CLI_USAGE;
		}
	}
	return cli_audit_verify(home, json);
}
