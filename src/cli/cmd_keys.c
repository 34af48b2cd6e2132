/*
 * cmd_keys.c - "airlock keys": rotate the data key, show the key ring.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <unistd.h>

#include "api/client.h"
#include "audit/audit.h"
#include "base/err.h"
#include "base/util.h"
#include "cli/cli.h"
#include "store/keys.h"
#include "store/store.h"

/* keys.rotate may wait for the store's writer; keys.status reads it all. */
#define CLI_KEYS_CALL_MS 600000
#define CLI_KEYS_POLL_MS 250

static const char cli_keys_help[] =
	"usage: airlock keys rotate [--batch N] [--wait] [--home DIR]\n"
	"       airlock keys status [--json] [--home DIR]\n"
	"       airlock keys admin list|add|remove ... (keys admin --help)\n"
	"       airlock keys export-push (keys export-push --help)\n"
	"\n"
	"rotate  make a fresh data key current, then seal every stored value\n"
	"        again under it, N values (default 256) per transaction. Old\n"
	"        keys stay in the ring and keep opening old values meanwhile.\n"
	"        When airlockd runs on the home, it does this: the new key is\n"
	"        current when the command returns and the daemon re-seals in\n"
	"        the background (--wait follows it to the end). Otherwise the\n"
	"        command does it, with progress on stderr. If an earlier\n"
	"        rotation was interrupted, it is finished instead and no new\n"
	"        key is made; the daemon resumes one at its start, and any\n"
	"        later airlock command that writes the store finishes it.\n"
	"status  the key ring: each key's id, whether it is current, when it\n"
	"        was made, how many values it has sealed and how many stored\n"
	"        values it seals now; the seal limit; a rotation's progress\n"
	"        and the daemon's re-seal; and the version check of every\n"
	"        sealed record.\n"
	"export-push  make (once) the SSH key the timed audit export pushes\n"
	"        with and print its authorized_keys line for the receiver.\n"
	"\n"
	"The master key (HOME/keys/master.key) seals the key ring; see\n"
	"docs/keys.md for where keys live and how to back them up.\n"
	"\n"
	"options:\n"
	"  --batch N  values per transaction while rotating (1..100000)\n"
	"  --wait     with airlockd: follow the re-seal until it is done\n"
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

/* An integer member of o, 0 when absent. */
static unsigned long long cli_keys_int(json_t *o, const char *name)
{
	return (unsigned long long)json_integer_value(json_object_get(o, name));
}

/* The status as keys.status returns it, for people. */
static void cli_keys_print(json_t *o)
{
	json_t *keys = json_object_get(o, "keys"), *k;
	json_t *dmn = json_object_get(o, "daemon");
	char when[32];
	size_t i;

	printf("%-16s  %-7s  %-20s  %12s  %10s\n", "key", "state", "created",
	       "seals", "values");
	json_array_foreach(keys, i, k) {
		al_utc_date(when, sizeof(when),
			    (int64_t)cli_keys_int(k, "created_ms"));
		printf("%-16s  %-7s  %-20s  %12llu  %10llu\n",
		       json_string_value(json_object_get(k, "id")),
		       json_is_true(json_object_get(k, "current")) ? "current"
								  : "old",
		       when, cli_keys_int(k, "seals"), cli_keys_int(k, "values"));
	}
	printf("seal limit per key: %llu\n", cli_keys_int(o, "seal_limit"));
	if (json_is_true(json_object_get(o, "rotating")))
		printf("rotation to %s under way: %llu of %llu values done; "
		       "%llu still under older keys\n",
		       json_string_value(json_object_get(o, "rotating_to")),
		       cli_keys_int(o, "rotate_done"), cli_keys_int(o, "records"),
		       cli_keys_int(o, "left"));
	if (json_is_true(json_object_get(dmn, "running")))
		printf("re-seal running in airlockd: %llu values per "
		       "transaction, %llu transactions so far\n",
		       cli_keys_int(dmn, "batch"), cli_keys_int(dmn, "batches"));
	else if (dmn)
		printf("re-seal: none running in airlockd\n");
	if (cli_keys_int(o, "problems"))
		printf("version check: %llu problem(s); first: %s\n",
		       cli_keys_int(o, "problems"),
		       json_string_value(json_object_get(o, "problem")));
	else
		printf("version check: %llu sealed records consistent\n",
		       cli_keys_int(o, "records"));
}

/*
 * The daemon of home, when one answers on its socket: then it owns the
 * rotation and these commands go through it. *c stays NULL when no
 * daemon runs (no socket, or nobody listening on it); an error is a
 * daemon that runs but cannot be reached (permissions), said on stderr.
 */
static int cli_keys_daemon(const char *home, struct api_client **c)
{
	char path[PATH_MAX];
	int rc = api_socket_path(home, path, sizeof(path));

	*c = NULL;
	if (rc && !cli_daemon_only)
		return 0; /* no daemon can serve such a home */
	if (rc == 0)
		rc = api_client_connect(path, c);
	/* The admin shell cannot open the store: without the daemon it
	 * has nothing to fall back on. */
	if ((rc == -ENOENT || rc == -ECONNREFUSED) && !cli_daemon_only)
		return 0;
	if (rc)
		fprintf(stderr, "airlock keys: airlockd's socket %s: %s "
			"(a daemon that runs owns the rotation; ask its "
			"operator)\n", path, al_strerror(rc));
	return rc;
}

static int cli_keys_call(struct api_client *c, const char *method,
			 json_t *params, json_t **res)
{
	struct api_err err = { 0 };
	int rc = api_client_call(c, method, params, CLI_KEYS_CALL_MS, res,
				 &err);

	if (rc == -EREMOTEIO) {
		al_sanitize_text(err.message);
		fprintf(stderr, "airlock keys: airlockd: %s\n", err.message);
	} else if (rc) {
		fprintf(stderr, "airlock keys: %s: no answer from airlockd: "
			"%s\n", method, al_strerror(rc));
	}
	return rc;
}

/* --wait: follow the daemon's re-seal until no rotation is under way. */
static int cli_keys_follow(struct api_client *c)
{
	json_t *res = NULL, *cur, *last, *k;
	unsigned long long seen = ~0ULL, unopened = 0;
	const char *key = "";
	size_t i;
	int rc;

	for (;;) {
		json_decref(res);
		rc = cli_keys_call(c, "keys.status",
				   json_pack("{s:b}", "check", 0), &res);
		if (rc) {
			fprintf(stderr, "airlock keys: stopped following; "
				"airlockd resumes the re-seal where it stands "
				"at its next start\n");
			return CLI_FAILED;
		}
		if (!json_is_true(json_object_get(res, "rotating")) &&
		    !json_is_true(json_object_get(
			    json_object_get(res, "daemon"), "running")))
			break;
		if (cli_keys_int(res, "rotate_done") != seen) {
			seen = cli_keys_int(res, "rotate_done");
			cli_keys_progress(NULL, seen,
					  cli_keys_int(res, "records"));
		}
		usleep(CLI_KEYS_POLL_MS * 1000);
	}
	json_array_foreach(json_object_get(res, "keys"), i, cur)
		if (json_is_true(json_object_get(cur, "current")))
			key = json_string_value(json_object_get(cur, "id"));
	last = json_object_get(json_object_get(res, "daemon"), "last");
	k = json_object_get(last, "key");
	if (json_is_string(k) && !strcmp(json_string_value(k), key))
		unopened = cli_keys_int(last, "unopened");
	printf("current key %s; every value sealed under it", key);
	if (unopened)
		printf(" except %llu that did not open (see airlockd's log)",
		       unopened);
	printf("\n");
	json_decref(res);
	return unopened ? CLI_FAILED : CLI_OK;
}

/*
 * Through the daemon: the new key is current when keys.rotate answers
 * (its audit entry names the caller); airlockd re-seals the values in
 * the background.
 */
static int cli_keys_rotate_api(struct api_client *c, uint64_t batch,
			       bool wait)
{
	json_t *res = NULL;
	const char *key;
	int rc = cli_keys_call(c, "keys.rotate",
			       batch ? json_pack("{s:I}", "batch",
						 (json_int_t)batch)
				     : NULL,
			       &res);

	if (rc)
		return CLI_FAILED;
	key = json_string_value(json_object_get(res, "key"));
	if (json_is_true(json_object_get(res, "started")))
		fprintf(stderr, "airlock keys: new current key %s\n", key);
	else
		fprintf(stderr, "airlock keys: a rotation to key %s is under "
			"way already (no new key is made)\n", key);
	if (wait) {
		rc = cli_keys_follow(c);
	} else {
		printf("current key %s; airlockd seals the values under older "
		       "keys again in the background (see `airlock keys "
		       "status`, or use --wait)\n", key);
		rc = CLI_OK;
	}
	json_decref(res);
	return rc;
}

static int cli_keys_status_local(const char *home, json_t **out)
{
	struct store_keys_status *s = calloc(1, sizeof(*s));
	struct store *st = NULL;
	int rc;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	rc = store_open_existing(home, &st);
	if (rc == 0)
		rc = store_keys_status(st, s);
	store_close(st);
	if (rc == 0 && !(*out = store_keys_status_json(s)))
		rc = -ENOMEM;
	if (rc)
		fprintf(stderr, "airlock keys status: cannot read the store in "
			"%s: %s (the log line above says why)\n", home,
			al_strerror(rc));
	free(s);
	return rc;
}

static int cli_keys_status(const char *home, bool json)
{
	struct api_client *c = NULL;
	json_t *o = NULL;
	int rc = cli_keys_daemon(home, &c);

	if (rc == 0 && c)
		rc = cli_keys_call(c, "keys.status", NULL, &o);
	else if (rc == 0)
		rc = cli_keys_status_local(home, &o);
	api_client_close(c);
	if (rc)
		return CLI_FAILED;
	if (json) {
		char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS |
						   JSON_ENSURE_ASCII);
		if (text)
			printf("%s\n", text);
		free(text);
	} else {
		cli_keys_print(o);
	}
	rc = json_is_true(json_object_get(o, "ok")) ? CLI_OK : CLI_FAILED;
	json_decref(o);
	return rc;
}

int cli_keys(int argc, char **argv, const char *home)
{
	bool json = false, wait = false, batch_set = false;
	uint64_t batch = STORE_ROTATE_BATCH;
	struct api_client *c = NULL;
	int rc;
	const char *sub = argc >= 2 ? argv[1] : NULL;

	if (sub && (!strcmp(sub, "--help") || !strcmp(sub, "-h"))) {
		fputs(cli_keys_help, stdout);
		return CLI_OK;
	}
	if (sub && !strcmp(sub, "admin"))
		return cli_keys_admin(argc - 1, argv + 1, home);
	if (sub && !strcmp(sub, "export-push"))
		return cli_keys_export_push(argc - 1, argv + 1, home);
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
		} else if (!strcmp(argv[i], "--wait") &&
			   !strcmp(sub, "rotate")) {
			wait = true;
		} else if (!strcmp(argv[i], "--batch") &&
			   !strcmp(sub, "rotate") && i + 1 < argc) {
			batch_set = true;
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
	if (strcmp(sub, "rotate"))
		return cli_keys_status(home, json);
	if (cli_keys_daemon(home, &c))
		return CLI_FAILED;
	if (!c)
		return cli_keys_rotate(home, (unsigned)batch);
	rc = cli_keys_rotate_api(c, batch_set ? batch : 0, wait);
	api_client_close(c);
	return rc;
}
