/*
 * cmd_audit.c - "airlock audit": verify the log in the store, export it,
 * verify exports offline, take checkpoints, print the public key, show
 * entries.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "audit/audit.h"
#include "audit/checkpoint.h"
#include "audit/export.h"
#include "audit/timed.h"
#include "base/err.h"
#include "base/fs.h"
#include "cli/cli.h"
#include "store/store.h"

static const char cli_audit_help[] =
	"usage: airlock audit verify [--pubkey PEM] [--checkpoint FILE] "
	"[--json]\n"
	"       airlock audit export [--out DIR] [--json]\n"
	"       airlock audit export --scheduled [--json]\n"
	"       airlock audit verify-export DIR|FILE... --pubkey PEM "
	"[--checkpoint FILE] [--json]\n"
	"       airlock audit checkpoint [--if-due] [--json]\n"
	"       airlock audit pubkey [--out FILE]\n"
	"       airlock audit show [--job ID]\n"
	"\n"
	"verify         check the log in the store (HOME/db): every entry's\n"
	"               seal, form, hash, link and sequence number, the head,\n"
	"               every signed checkpoint and the entry it pins, and\n"
	"               that the store has reached the anchor file and the\n"
	"               last export (caught: altered, deleted, inserted or\n"
	"               swapped entries, a re-chained suffix, truncation,\n"
	"               rollback). It goes on past a problem and reports each\n"
	"               one by sequence number.\n"
	"export         write the entries since the last export to\n"
	"               DIR/NNNNNNNN.jsonl with a signed DIR/NNNNNNNN.digest\n"
	"               .json (file hash, first and last entry, previous\n"
	"               digest's hash, a fresh checkpoint). DIR defaults to\n"
	"               HOME/export. The range is verified before it is signed.\n"
	"  --scheduled  what the timer runs: export into HOME/export only\n"
	"               when the last export there is export_interval old\n"
	"               (airlock.conf; one export then covers everything\n"
	"               since, however long the machine was off), then push\n"
	"               every export not pushed yet to export_push over SFTP\n"
	"               (a failed push is retried by the next run). Both are\n"
	"               recorded in HOME/export-state.json. Exit status 1\n"
	"               when the export or a push failed.\n"
	"verify-export  check exports offline with nothing but the public key:\n"
	"               a directory (every export from 00000001 on), or export\n"
	"               files (NNNNNNNN.jsonl or .digest.json, one directory):\n"
	"               every export from the lowest number named to the\n"
	"               highest. Reports file, line and seq of each problem.\n"
	"checkpoint     sign a checkpoint over the head now (with --if-due:\n"
	"               only if airlock.conf's audit_checkpoint_entries or\n"
	"               audit_checkpoint_minutes say one is due) and print it:\n"
	"               keep it, and give it later as --checkpoint to catch a\n"
	"               truncated or rolled-back log.\n"
	"pubkey         print the PEM public key of the audit signing key,\n"
	"               the one thing an auditor needs.\n"
	"show           print the entries, oldest first, one JSON object a\n"
	"               line (non-ASCII and control characters escaped, so\n"
	"               the output is safe for a terminal); --job ID keeps\n"
	"               the entries whose details.job is ID. Checks nothing:\n"
	"               run verify for that.\n"
	"\n"
	"options:\n"
	"  --pubkey PEM       the auditor's copy of the public key (verify:\n"
	"                     defaults to the appliance's own key file)\n"
	"  --checkpoint FILE  a checkpoint or export digest kept from earlier:\n"
	"                     the log must still contain what it pins\n"
	"  --out DIR|FILE     where export writes / where pubkey writes\n"
	"  --json             one JSON document on stdout\n"
	"  --help             this text\n"
	"\n"
	"Writing commands (export, checkpoint) refuse a store that is behind\n"
	"its anchor file or its last export. See docs/audit.md.\n"
	"exit status: 0 all checks passed, 1 a check failed or the command\n"
	"could not run, 2 bad usage.\n";

struct cli_audit_args {
	const char *cmd;
	const char *pubkey;
	const char *checkpoint;
	const char *out;
	const char *dir;       /* the first operand */
	const char **operands; /* verify-export: all of them */
	size_t noperands;
	bool json;
	bool if_due;
	bool scheduled;
};

static void cli_audit_print_json(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS |
					    JSON_ENSURE_ASCII)
		    : NULL;

	if (s)
		printf("%s\n", s);
	free(s);
	json_decref(o);
}

static int cli_audit_fail(const struct cli_audit_args *a, const char *msg)
{
	fprintf(stderr, "airlock audit %s: %s\n", a->cmd, msg);
	if (a->json)
		cli_audit_print_json(json_pack("{s:b, s:s}", "ok", 0, "error",
					       msg));
	return CLI_FAILED;
}

static int cli_audit_result(const struct cli_audit_args *a,
			    struct audit_report *r, int rc)
{
	char msg[256];

	if (rc && rc != AL_E_CHAIN) {
		snprintf(msg, sizeof(msg), "verification stopped: %s",
			 al_strerror(rc));
		audit_report_free(r);
		return cli_audit_fail(a, msg);
	}
	if (a->json)
		cli_audit_print_json(audit_report_json(r));
	else
		audit_report_print(stdout, r);
	audit_report_free(r);
	return rc ? CLI_FAILED : CLI_OK;
}

/* A checkpoint or digest the auditor kept; NULL on failure (printed). */
static json_t *cli_audit_held(const struct cli_audit_args *a)
{
	struct al_buf b = { 0 };
	json_t *o = NULL;
	int rc = al_read_file(a->checkpoint, AUDIT_DIGEST_MAX, &b);

	if (rc == 0)
		o = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, NULL);
	if (!o)
		fprintf(stderr, "airlock audit %s: %s: not a readable JSON "
			"checkpoint (%s)\n", a->cmd, a->checkpoint,
			al_strerror(rc ? rc : AL_E_PARSE));
	al_buf_free(&b);
	return o;
}

static int cli_audit_verify(const struct cli_audit_args *a, const char *home)
{
	struct audit_verify_opts o = { .home = home };
	struct audit_report r = { 0 };
	struct store *st = NULL;
	json_t *held = NULL;
	char msg[512];
	int rc = 0;

	if (a->pubkey && audit_pubkey_load(a->pubkey, &o.pubkey) != 0)
		return cli_audit_fail(a, "cannot read the public key");
	if (a->checkpoint && !(held = cli_audit_held(a))) {
		audit_pubkey_free(o.pubkey);
		return CLI_USAGE;
	}
	o.checkpoint = held;
	rc = store_open_existing(home, &st);
	if (rc) {
		snprintf(msg, sizeof(msg), "cannot open the store in %s: %s",
			 home, al_strerror(rc));
		rc = cli_audit_fail(a, msg);
		goto out;
	}
	rc = cli_audit_result(a, &r, audit_verify_store(st, &o, &r));
out:
	store_close(st);
	json_decref(held);
	audit_pubkey_free(o.pubkey);
	return rc;
}

/*
 * verify-export's operands: one directory, or export files only. *dir
 * is true for a directory. CLI_USAGE (printed) for a mix, or for an
 * operand that is neither.
 */
static int cli_audit_operands(const struct cli_audit_args *a, bool *dir)
{
	struct stat st;

	*dir = false;
	for (size_t i = 0; i < a->noperands; i++) {
		if (stat(a->operands[i], &st) < 0) {
			fprintf(stderr, "airlock audit verify-export: %s: %s\n",
				a->operands[i], strerror(errno));
			return CLI_USAGE;
		}
		if (S_ISDIR(st.st_mode) && a->noperands == 1) {
			*dir = true;
		} else if (!S_ISREG(st.st_mode)) {
			fprintf(stderr, "airlock audit verify-export: %s: give "
				"one directory, or export files\n",
				a->operands[i]);
			return CLI_USAGE;
		}
	}
	return CLI_OK;
}

static int cli_audit_verify_export(const struct cli_audit_args *a)
{
	struct audit_pubkey *k = NULL;
	struct audit_report r = { 0 };
	json_t *held = NULL;
	bool dir = false;
	int rc;

	if (audit_pubkey_load(a->pubkey, &k) != 0)
		return cli_audit_fail(a, "cannot read the public key");
	if (a->checkpoint && !(held = cli_audit_held(a))) {
		audit_pubkey_free(k);
		return CLI_USAGE;
	}
	rc = cli_audit_operands(a, &dir);
	if (rc == CLI_OK && dir)
		rc = audit_verify_exports(a->dir, k, held, &r);
	else if (rc == CLI_OK)
		rc = audit_verify_export_files(a->operands, a->noperands, k,
					       held, &r);
	else
		rc = AL_E_USAGE;
	/* A name that is not an export file's is bad usage (logged). */
	if (rc == AL_E_USAGE) {
		audit_report_free(&r);
		rc = CLI_USAGE;
	} else {
		rc = cli_audit_result(a, &r, rc);
	}
	json_decref(held);
	audit_pubkey_free(k);
	return rc;
}

/* Open the store and the log for writing (refused when rolled back). */
static int cli_audit_writer(const struct cli_audit_args *a, const char *home,
			    struct store **st, struct audit_log **log)
{
	struct audit_policy pol;
	char msg[512], err[512] = "";
	int rc = audit_policy_load(home, &pol, err, sizeof(err));

	*st = NULL;
	*log = NULL;
	if (rc)
		return cli_audit_fail(a, err);
	rc = store_open_existing(home, st);
	if (rc == 0)
		rc = audit_log_open(*st, home, &pol, log);
	if (rc == 0)
		return CLI_OK;
	snprintf(msg, sizeof(msg), "cannot open the audit log in %s for "
		 "writing: %s%s", home, al_strerror(rc),
		 rc == AL_E_ROLLBACK ? " (the log line above names the "
				       "checkpoint it is behind)" : "");
	store_close(*st);
	*st = NULL;
	return cli_audit_fail(a, msg);
}

static void cli_audit_actor(char *out, size_t outsz)
{
	snprintf(out, outsz, "uid:%u", (unsigned)getuid());
}

static int cli_audit_export(const struct cli_audit_args *a, const char *home)
{
	struct audit_export_info info;
	struct audit_log *log = NULL;
	struct store *st = NULL;
	char actor[32], msg[256];
	int rc = cli_audit_writer(a, home, &st, &log);

	if (rc)
		return rc;
	cli_audit_actor(actor, sizeof(actor));
	rc = audit_export(log, a->out, actor, &info);
	audit_log_close(log);
	store_close(st);
	if (rc) {
		snprintf(msg, sizeof(msg), "export failed: %s (the log line "
			 "above says why)", al_strerror(rc));
		return cli_audit_fail(a, msg);
	}
	if (a->json)
		cli_audit_print_json(json_pack("{s:b, s:I, s:I, s:I, s:s, s:s}",
					       "ok", 1, "n", (json_int_t)info.n,
					       "first", (json_int_t)info.first,
					       "last", (json_int_t)info.last,
					       "file", info.file, "digest",
					       info.digest));
	else
		printf("export %llu: seq %llu to %llu in %s and %s\n",
		       (unsigned long long)info.n,
		       (unsigned long long)info.first,
		       (unsigned long long)info.last, info.file, info.digest);
	return CLI_OK;
}

static void cli_audit_scheduled_print(const struct cli_audit_args *a,
				      const struct audit_timed_cfg *c,
				      const struct audit_timed_result *r)
{
	char next[32] = "", dest[700] = "";

	if (r->next_ms)
		al_utc_stamp(next, sizeof(next), r->next_ms);
	if (c->push[0])
		audit_timed_dest(c, dest, sizeof(dest));
	if (a->json) {
		cli_audit_print_json(json_pack(
			"{s:b, s:b, s:b, s:o?, s:s?, s:s?, s:I, s:I, s:s?}",
			"ok", !r->push_error[0], "due", r->due, "exported",
			r->exported, "n",
			r->exported ? json_integer((json_int_t)r->info.n)
				    : NULL,
			"next", next[0] ? next : NULL, "push",
			dest[0] ? dest : NULL, "pushed", (json_int_t)r->pushed,
			"push_pending", (json_int_t)r->push_pending,
			"push_error", r->push_error[0] ? r->push_error : NULL));
		return;
	}
	if (r->exported)
		printf("export %llu: seq %llu to %llu in %s and %s\n",
		       (unsigned long long)r->info.n,
		       (unsigned long long)r->info.first,
		       (unsigned long long)r->info.last, r->info.file,
		       r->info.digest);
	else if (!c->interval_ms)
		printf("timed exports are off (export_interval)\n");
	else
		printf("no export due (the next at %s)\n", next);
	if (r->pushed)
		printf("pushed %llu export(s) to %s\n",
		       (unsigned long long)r->pushed, dest);
	if (r->push_error[0])
		printf("push to %s failed: %s; %llu export(s) left for the "
		       "next run\n", dest, r->push_error,
		       (unsigned long long)r->push_pending);
}

static int cli_audit_scheduled(const struct cli_audit_args *a,
			       const char *home)
{
	struct audit_timed_result r;
	struct audit_timed_cfg c;
	struct audit_policy pol;
	char actor[32], err[1024] = "";
	int rc = audit_policy_load(home, &pol, err, sizeof(err));

	if (rc == 0)
		rc = audit_timed_load(home, &c, err, sizeof(err));
	if (rc)
		return cli_audit_fail(a, err);
	cli_audit_actor(actor, sizeof(actor));
	rc = audit_timed_run(home, &pol, &c, actor, &r);
	if (rc) {
		snprintf(err, sizeof(err), "export failed: %s (the log line "
			 "above says why)", al_strerror(rc));
		return cli_audit_fail(a, err);
	}
	cli_audit_scheduled_print(a, &c, &r);
	return r.push_error[0] ? CLI_FAILED : CLI_OK;
}

static int cli_audit_checkpoint(const struct cli_audit_args *a,
				const char *home)
{
	struct audit_log *log = NULL;
	struct store *st = NULL;
	json_t *cp = NULL;
	bool taken = false;
	char msg[256];
	int rc = cli_audit_writer(a, home, &st, &log);

	if (rc)
		return rc;
	rc = audit_checkpoint(log, !a->if_due, &taken, &cp);
	audit_log_close(log);
	store_close(st);
	if (rc) {
		snprintf(msg, sizeof(msg), "cannot take a checkpoint: %s",
			 al_strerror(rc));
		return cli_audit_fail(a, msg);
	}
	if (a->json)
		cli_audit_print_json(json_pack("{s:b, s:b, s:o}", "ok", 1,
					       "taken", taken, "checkpoint",
					       cp ? cp : json_null()));
	else if (cp)
		cli_audit_print_json(cp);
	else
		printf("no checkpoint due\n");
	return CLI_OK;
}

static int cli_audit_pubkey(const struct cli_audit_args *a, const char *home)
{
	struct audit_signer *s = NULL;
	struct audit_pubkey *k = NULL;
	struct al_buf pem = { 0 };
	int rc = audit_signer_load(home, false, &s);

	if (rc == 0)
		rc = audit_signer_pubkey(s, &k);
	if (rc == 0)
		rc = audit_pubkey_pem(k, &pem);
	audit_signer_free(s);
	audit_pubkey_free(k);
	if (rc) {
		al_buf_free(&pem);
		return cli_audit_fail(a, rc == AL_E_NOTFOUND
				      ? "no audit signing key yet (it is made "
					"with the first entry)"
				      : "cannot read the audit signing key");
	}
	if (a->out) {
		FILE *f = fopen(a->out, "wx");
		rc = !f || fwrite(pem.p, 1, pem.len, f) != pem.len;
		if (f && fclose(f) != 0)
			rc = 1;
		if (rc) {
			al_buf_free(&pem);
			return cli_audit_fail(a, "cannot create the --out file "
					      "(it must not exist yet)");
		}
	} else {
		fwrite(pem.p, 1, pem.len, stdout);
	}
	al_buf_free(&pem);
	return CLI_OK;
}

/* Options; returns CLI_OK or CLI_USAGE (message printed). */
static int cli_audit_parse(int argc, char **argv, struct cli_audit_args *a)
{
	for (int i = 2; i < argc; i++) {
		const char *o = argv[i];
		const char **val = !strcmp(o, "--pubkey") ? &a->pubkey
				   : !strcmp(o, "--checkpoint") ? &a->checkpoint
				   : !strcmp(o, "--out") ? &a->out : NULL;
		if (val) {
			if (i + 1 >= argc) {
				fprintf(stderr, "airlock audit %s: %s needs a "
					"value\n", a->cmd, o);
				return CLI_USAGE;
			}
			*val = argv[++i];
		} else if (!strcmp(o, "--json")) {
			a->json = true;
		} else if (!strcmp(o, "--if-due")) {
			a->if_due = true;
		} else if (!strcmp(o, "--scheduled")) {
			a->scheduled = true;
		} else if (o[0] != '-' && !strcmp(a->cmd, "verify-export")) {
			a->operands[a->noperands++] = o;
			a->dir = a->operands[0];
		} else if (o[0] != '-' && !a->dir) {
			a->dir = o;
		} else {
			fprintf(stderr, "airlock audit %s: unexpected argument "
				"'%s'\n", a->cmd, o);
			return CLI_USAGE;
		}
	}
	return CLI_OK;
}

/* Which options each subcommand takes. */
static bool cli_audit_allowed(const struct cli_audit_args *a)
{
	const char *c = a->cmd;
	bool ve = !strcmp(c, "verify-export");

	if (a->dir && !ve)
		return false;
	if (a->pubkey && strcmp(c, "verify") && !ve)
		return false;
	if (a->checkpoint && strcmp(c, "verify") && !ve)
		return false;
	if (a->out && strcmp(c, "export") && strcmp(c, "pubkey"))
		return false;
	if (a->if_due && strcmp(c, "checkpoint"))
		return false;
	if (a->scheduled && (strcmp(c, "export") || a->out))
		return false;
	if (a->json && !strcmp(c, "pubkey"))
		return false;
	return !ve || (a->dir && a->pubkey);
}

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

static int cli_audit_run(const struct cli_audit_args *a, const char *home);

int cli_audit(int argc, char **argv, const char *home)
{
	static const char *const cmds[] = { "verify", "export",
					    "verify-export", "checkpoint",
					    "pubkey" };
	struct cli_audit_args a = { 0 };
	bool known = false;
	int rc;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(cli_audit_help, stdout);
			return CLI_OK;
		}
	if (argc < 2) {
		fputs(cli_audit_help, stderr);
		return CLI_USAGE;
	}
	if (!strcmp(argv[1], "show")) {
		if (argc == 2)
			return cli_audit_show(home, NULL);
		if (argc == 4 && !strcmp(argv[2], "--job"))
			return cli_audit_show(home, argv[3]);
		fprintf(stderr, "airlock audit show: expected [--job ID]\n");
		return CLI_USAGE;
	}
	for (size_t i = 0; i < AL_ARRAY_LEN(cmds); i++)
		known = known || !strcmp(argv[1], cmds[i]);
	if (!known) {
		fprintf(stderr, "airlock audit: unknown subcommand '%s' (see "
			"airlock audit --help)\n", argv[1]);
		return CLI_USAGE;
	}
	a.cmd = argv[1];
	a.operands = calloc((size_t)argc, sizeof(*a.operands));
	if (!a.operands)
		return CLI_FAILED;
	rc = cli_audit_parse(argc, argv, &a);
	if (rc == CLI_OK)
		rc = cli_audit_run(&a, home);
	free(a.operands);
	return rc;
}

static int cli_audit_run(const struct cli_audit_args *a, const char *home)
{
	if (!cli_audit_allowed(a)) {
		fprintf(stderr, "airlock audit %s: wrong options (see airlock "
			"audit --help)\n", a->cmd);
		return CLI_USAGE;
	}
	if (!strcmp(a->cmd, "verify"))
		return cli_audit_verify(a, home);
	if (!strcmp(a->cmd, "verify-export"))
		return cli_audit_verify_export(a);
	if (!strcmp(a->cmd, "export") && a->scheduled)
		return cli_audit_scheduled(a, home);
	if (!strcmp(a->cmd, "export"))
		return cli_audit_export(a, home);
	if (!strcmp(a->cmd, "checkpoint"))
		return cli_audit_checkpoint(a, home);
	return cli_audit_pubkey(a, home);
}
