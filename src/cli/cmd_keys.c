/*
 * cmd_keys.c - "airlock keys": rotate the data key, show the key ring.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <unistd.h>

#include "audit/audit.h"
#include "base/err.h"
#include "base/util.h"
#include "cli/cli.h"
#include "store/keys.h"
#include "store/store.h"

static const char cli_keys_help[] =
	"usage: airlock keys rotate [--batch N] [--home DIR]\n"
	"       airlock keys status [--json] [--home DIR]\n"
	"\n"
	"rotate  make a fresh data key current, then seal every stored value\n"
	"        again under it, N values (default 256) per transaction, with\n"
	"        progress on stderr. Old keys stay in the ring and keep\n"
	"        opening old values meanwhile. If an earlier rotation was\n"
	"        interrupted, it is finished instead and no new key is made;\n"
	"        any later airlock command that writes the store also\n"
	"        finishes it.\n"
	"status  the key ring: each key's id, whether it is current, when it\n"
	"        was made, how many values it has sealed and how many stored\n"
	"        values it seals now; the seal limit; a rotation's progress;\n"
	"        and the version check of every sealed record.\n"
	"\n"
	"The master key (HOME/keys/master.key) seals the key ring; see\n"
	"docs/keys.md for where keys live and how to back them up.\n"
	"\n"
	"options:\n"
	"  --batch N  values per transaction while rotating (1..100000)\n"
	"  --json     status as one JSON document on stdout\n"
	"  --help     this text\n"
	"\n"
	"exit status: 0 done / consistent, 1 the store could not be opened,\n"
	"a rotation failed, or the version check found a problem, 2 bad\n"
	"usage.\n";

static int cli_keys_progress(void *ctx, uint64_t done, uint64_t total)
{
	fprintf(stderr, "airlock keys: sealed again %llu of %llu values\n",
		(unsigned long long)done, (unsigned long long)total);
	return 0;
}

/*
 * A rotation is an operation like any other: its start is in the audit
 * log before a key changes (a log that cannot take the entry refuses the
 * rotation), its end with the key it made current.
 */
static int cli_keys_audit(struct audit_log *log, const char *action,
			  json_t *details)
{
	char actor[32];

	snprintf(actor, sizeof(actor), "uid:%u", (unsigned)getuid());
	return audit_append_now(log, actor, action, "data-key", details, NULL);
}

static int cli_keys_rotate(const char *home, unsigned batch)
{
	struct store_opts o = { .create = false, .resume = false };
	struct store *st = NULL;
	struct audit_log *log = NULL;
	char id[SEAL_KEY_ID_HEX], from[SEAL_KEY_ID_HEX];
	uint64_t failed = 0;
	bool resuming = false;
	int rc = store_open_opts(home, &o, &st);

	if (rc == 0)
		rc = audit_log_open(st, home, NULL, &log);
	if (rc == 0)
		rc = store_keys_rotating(st, &resuming);
	if (rc == 0) {
		store_key_id_hex(st, from);
		rc = cli_keys_audit(log, "keys.rotate.start",
				    json_pack("{s:s, s:b}", "from", from,
					      "resuming", resuming));
	}
	if (rc == 0 && resuming)
		fprintf(stderr, "airlock keys: finishing an interrupted "
			"rotation (no new key is made)\n");
	else if (rc == 0)
		rc = store_keys_rotate_begin(st, id);
	if (rc == 0 && !resuming)
		fprintf(stderr, "airlock keys: new current key %s\n", id);
	if (rc == 0)
		rc = store_keys_rotate_run(st, batch, cli_keys_progress, NULL,
					   &failed);
	if (rc == 0) {
		store_key_id_hex(st, id);
		rc = cli_keys_audit(log, "keys.rotate.done",
				    json_pack("{s:s, s:I}", "key", id,
					      "unopened", (json_int_t)failed));
	}
	if (rc == 0) {
		printf("current key %s; every value sealed under it", id);
		if (failed)
			printf(" except %llu that did not open (see the log)",
			       (unsigned long long)failed);
		printf("\n");
	}
	audit_log_close(log);
	store_close(st);
	if (rc)
		fprintf(stderr, "airlock keys rotate: %s (the log line above "
			"says why)\n", al_strerror(rc));
	return rc || failed ? CLI_FAILED : CLI_OK;
}

static json_t *cli_keys_json(const struct store_keys_status *s)
{
	json_t *keys = json_array(), *o;

	for (size_t i = 0; keys && i < s->n; i++) {
		const struct store_key_info *k = &s->keys[i];
		json_array_append_new(
			keys, json_pack("{s:s, s:b, s:I, s:I, s:I}", "id",
					k->id, "current", k->current,
					"created_ms", (json_int_t)k->created_ms,
					"seals", (json_int_t)k->seals,
					"values", (json_int_t)k->values));
	}
	o = json_pack("{s:o, s:I, s:I, s:b, s:I, s:b}", "keys", keys,
		      "seal_limit", (json_int_t)s->seal_limit, "records",
		      (json_int_t)s->records, "rotating", s->rotating,
		      "rotate_done", (json_int_t)s->rotate_done, "ok",
		      s->problems == 0);
	if (o && s->rotating)
		json_object_set_new(o, "rotating_to",
				    json_string(s->rotating_to));
	if (o && s->problems) {
		json_object_set_new(o, "problems",
				    json_integer(s->problems));
		json_object_set_new(o, "problem", json_string(s->problem));
	}
	return o;
}

static void cli_keys_print(const struct store_keys_status *s)
{
	char when[32];

	printf("%-16s  %-7s  %-20s  %12s  %10s\n", "key", "state", "created",
	       "seals", "values");
	for (size_t i = 0; i < s->n; i++) {
		const struct store_key_info *k = &s->keys[i];
		al_utc_date(when, sizeof(when), (int64_t)k->created_ms);
		printf("%-16s  %-7s  %-20s  %12llu  %10llu\n", k->id,
		       k->current ? "current" : "old", when,
		       (unsigned long long)k->seals,
		       (unsigned long long)k->values);
	}
	printf("seal limit per key: %llu\n", (unsigned long long)s->seal_limit);
	if (s->rotating)
		printf("rotation to %s under way: %llu of %llu values done\n",
		       s->rotating_to, (unsigned long long)s->rotate_done,
		       (unsigned long long)s->records);
	if (s->problems)
		printf("version check: %d problem(s); first: %s\n",
		       s->problems, s->problem);
	else
		printf("version check: %llu sealed records consistent\n",
		       (unsigned long long)s->records);
}

static int cli_keys_status(const char *home, bool json)
{
	struct store_keys_status *s = calloc(1, sizeof(*s));
	struct store *st = NULL;
	int rc;

	if (!s)
		return CLI_FAILED;
	rc = store_open_existing(home, &st);
	if (rc == 0)
		rc = store_keys_status(st, s);
	store_close(st);
	if (rc) {
		fprintf(stderr, "airlock keys status: cannot read the store in "
			"%s: %s (the log line above says why)\n", home,
			al_strerror(rc));
	} else if (json) {
		json_t *o = cli_keys_json(s);
		char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS)
			       : NULL;
		if (text)
			printf("%s\n", text);
		free(text);
		json_decref(o);
	} else {
		cli_keys_print(s);
	}
	rc = rc || s->problems ? CLI_FAILED : CLI_OK;
	free(s);
	return rc;
}

int cli_keys(int argc, char **argv, const char *home)
{
	bool json = false;
	uint64_t batch = STORE_ROTATE_BATCH;
	const char *sub = argc >= 2 ? argv[1] : NULL;

	if (sub && (!strcmp(sub, "--help") || !strcmp(sub, "-h"))) {
		fputs(cli_keys_help, stdout);
		return CLI_OK;
	}
	if (!sub || (strcmp(sub, "rotate") && strcmp(sub, "status"))) {
		if (!sub)
			fputs(cli_keys_help, stderr);
		else
			fprintf(stderr, "airlock keys: unknown subcommand '%s' "
				"(see airlock keys --help)\n", sub);
		return CLI_USAGE;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(cli_keys_help, stdout);
			return CLI_OK;
		} else if (!strcmp(argv[i], "--json") &&
			   !strcmp(sub, "status")) {
			json = true;
		} else if (!strcmp(argv[i], "--batch") &&
			   !strcmp(sub, "rotate") && i + 1 < argc) {
			if (al_parse_u64(argv[++i], 100000, &batch) || !batch) {
				fprintf(stderr, "airlock keys rotate: --batch "
					"takes 1..100000\n");
				return CLI_USAGE;
			}
		} else {
			fprintf(stderr, "airlock keys %s: unexpected argument "
				"'%s'\n", sub, argv[i]);
			return CLI_USAGE;
		}
	}
	if (!strcmp(sub, "rotate"))
		return cli_keys_rotate(home, (unsigned)batch);
	return cli_keys_status(home, json);
}
