/*
 * cmd_admin.c - `airlock admin-shell`: what every SSH login of the admin
 * account runs (sshd's ForceCommand; docs/admin-shell.md).
 *
 * No shell ever runs. The command the client asked for arrives in
 * SSH_ORIGINAL_COMMAND as one string; it is split into words here
 * (quotes are taken, every other shell metacharacter refused), and the
 * words must be one of the commands of sh_cmds, with only its options
 * and operands of the expected form. The key sshd accepted comes from
 * the file SSH_USER_AUTH names (ExposeAuthInfo), and its fingerprint is
 * named on every call to the daemon: the daemon trusts it from the admin
 * account alone, and its audit entries then name the key, not the uid.
 *
 * Before anything runs, the login and the verdict (the command, or why
 * it is refused) go to the daemon as admin.session, which audits them;
 * a session the daemon does not take runs nothing. A refusal while the
 * daemon is down is said on stderr but cannot be audited.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "api/client.h"
#include "api/sshkey.h"
#include "base/err.h"
#include "base/util.h"
#include "cli/cli.h"
#include "sched/sched.h"

#define SH_COMMAND_MAX 2048
#define SH_TOKENS_MAX 32
#define SH_WORD_MAX 1024 /* the daemon's limit on a word of argv */
#define SH_CALL_MS 30000
#define SH_LONG_CALL_MS 600000

bool cli_daemon_only;

struct sh;

/* One allowed command: its words, options ("--name" a flag, "--name N"
 * a number, "--name S" a word, "--name T" any text) and operands. */
enum sh_operand { SH_NONE, SH_JOB, SH_URL, SH_WORDS };

struct sh_cmd {
	const char *words;
	const char *opts[6];
	unsigned nops;
	enum sh_operand op;
	int (*run)(struct sh *s);
	const char *help;
};

struct sh {
	const char *home;
	char buf[SH_COMMAND_MAX + SH_TOKENS_MAX + 1];
	char *tok[SH_TOKENS_MAX + 1];
	size_t ntok;
	const struct sh_cmd *cmd;
	size_t nwords;          /* tokens that name the command */
	bool tty;
	struct api_sshkey key;
	char client[128];
	char why[256];
};

static int sh_run_status(struct sh *s);
static int sh_run_job(struct sh *s);
static int sh_run_console(struct sh *s);
static int sh_run_audit(struct sh *s);
static int sh_run_keys(struct sh *s);
static int sh_run_keys_admin(struct sh *s);
static int sh_run_config(struct sh *s);
static int sh_run_version(struct sh *s);
static int sh_run_help(struct sh *s);

static const struct sh_cmd sh_cmds[] = {
	{"status", {"--json"}, 0, SH_NONE, sh_run_status,
	 "the daemon's state"},
	{"jobs", {"--state S", "--limit N", "--json"}, 0, SH_NONE, sh_run_job,
	 "the jobs, newest first"},
	{"show", {"--json"}, 1, SH_JOB, sh_run_job, "ID: a job's record"},
	{"enqueue", {"--branch T", "--policy S", "--test-cmd T",
		     "--priority N", "--json"}, 1, SH_URL, sh_run_job,
	 "URL: queue an update of an http(s) repository"},
	{"cancel", {"--json"}, 1, SH_JOB, sh_run_job, "ID: cancel a job"},
	{"retry", {"--json"}, 1, SH_JOB, sh_run_job, "ID: queue it again"},
	{"logs", {"--follow", "--json"}, 1, SH_JOB, sh_run_job,
	 "ID: a job's progress lines"},
	{"console", {NULL}, 0, SH_NONE, sh_run_console,
	 "the operator console (needs ssh -t, or no command)"},
	{"audit verify", {"--json"}, 0, SH_NONE, sh_run_audit,
	 "check the whole audit log"},
	{"audit export", {"--json"}, 0, SH_NONE, sh_run_audit,
	 "export the log to the daemon's export directory"},
	{"audit public-key", {NULL}, 0, SH_NONE, sh_run_audit,
	 "the audit signing key's public half (PEM)"},
	{"audit pubkey", {NULL}, 0, SH_NONE, sh_run_audit,
	 "the same"},
	{"keys status", {"--json"}, 0, SH_NONE, sh_run_keys,
	 "the data key ring"},
	{"keys rotate", {"--batch N", "--wait"}, 0, SH_NONE, sh_run_keys,
	 "make a new data key current"},
	{"keys admin list", {"--json"}, 0, SH_NONE, sh_run_keys_admin,
	 "the admin keys"},
	{"keys admin add", {NULL}, 3, SH_WORDS, sh_run_keys_admin,
	 "TYPE KEY NAME: let a key log in as the admin"},
	{"keys admin remove", {"--force"}, 1, SH_WORDS, sh_run_keys_admin,
	 "FINGERPRINT|NAME: take a key's login away"},
	{"config show", {"--json"}, 0, SH_NONE, sh_run_config,
	 "the settings in force"},
	{"config check", {"--json"}, 0, SH_NONE, sh_run_config,
	 "whether airlock.conf loads as it is now"},
	{"version", {NULL}, 0, SH_NONE, sh_run_version, "airlock's version"},
	{"help", {NULL}, 0, SH_NONE, sh_run_help, "this list"},
};

/* ---- words ---------------------------------------------------------- */

/*
 * Characters a shell would act on. None of them is taken outside
 * quotes: the user may believe a shell runs, and a refusal tells them
 * none does. Inside double quotes a shell still expands $, ` and \.
 */
static const char sh_meta[] = ";&|<>()$`\\*?[]{}~#!^";

static int sh_refuse(struct sh *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int sh_refuse(struct sh *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	/* A word quoted with %.64s, or the reason cut at its size, may end
	 * inside a character: the report would not be UTF-8, the daemon
	 * could not take it, and the refusal would go unrecorded. */
	al_utf8_repair(s->why, strlen(s->why));
	return AL_E_USAGE;
}

/* Split cmd into s->tok; 0, or AL_E_USAGE with s->why. */
static int sh_split(struct sh *s, const char *cmd)
{
	char *out = s->buf, q = 0;
	bool in_word = false;

	if (strlen(cmd) > SH_COMMAND_MAX)
		return sh_refuse(s, "the command is longer than %d bytes",
				 SH_COMMAND_MAX);
	if (!al_utf8_valid(cmd, strlen(cmd)))
		return sh_refuse(s, "the command is not UTF-8");
	for (const char *p = cmd;; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch && (ch < 0x20 || ch == 0x7f) && !(ch == '\t' && !q))
			return sh_refuse(s, "the command holds a control "
					 "character");
		if (q && !ch)
			return sh_refuse(s, "a quote (%c) is not closed", q);
		if (q == '"' && (ch == '$' || ch == '`' || ch == '\\'))
			return sh_refuse(s, "'%c' inside double quotes (no "
					 "shell runs here to expand it)", ch);
		if (q && ch == (unsigned char)q) {
			q = 0;
			continue;
		}
		if (!q && (ch == '\'' || ch == '"')) {
			q = (char)ch;
			if (!in_word) {
				if (s->ntok == SH_TOKENS_MAX)
					goto too_many;
				s->tok[s->ntok++] = out;
				in_word = true;
			}
			continue;
		}
		if (!q && (!ch || ch == ' ' || ch == '\t')) {
			if (in_word) {
				*out++ = '\0';
				in_word = false;
				if (!*s->tok[s->ntok - 1])
					return sh_refuse(s, "an empty word");
				/* Longer, the daemon would not take the report
				 * of the command: refused here, it is audited. */
				if (strlen(s->tok[s->ntok - 1]) > SH_WORD_MAX)
					return sh_refuse(s, "a word is longer than "
							 "%d bytes", SH_WORD_MAX);
			}
			if (!ch)
				break;
			continue;
		}
		if (!q && strchr(sh_meta, ch))
			return sh_refuse(s, "the command holds '%c': shell "
					 "syntax is refused (no shell runs "
					 "here)", ch);
		if (!in_word) {
			if (s->ntok == SH_TOKENS_MAX)
				goto too_many;
			s->tok[s->ntok++] = out;
			in_word = true;
		}
		*out++ = (char)ch;
	}
	s->tok[s->ntok] = NULL;
	return 0;
too_many:
	return sh_refuse(s, "more than %d words", SH_TOKENS_MAX);
}

/* The command whose words begin the tokens (the longest that fits). */
static const struct sh_cmd *sh_find(struct sh *s)
{
	const struct sh_cmd *best = NULL;
	size_t bestn = 0;

	for (size_t i = 0; i < AL_ARRAY_LEN(sh_cmds); i++) {
		const char *w = sh_cmds[i].words;
		size_t n = 0;

		while (*w && n < s->ntok) {
			size_t l = strcspn(w, " ");
			if (strlen(s->tok[n]) != l || strncmp(s->tok[n], w, l))
				break;
			n++;
			w += l + (w[l] == ' ');
		}
		if (!*w && n > bestn) {
			best = &sh_cmds[i];
			bestn = n;
		}
	}
	s->nwords = bestn;
	return best;
}

static bool sh_value_ok(char kind, const char *v)
{
	size_t n = strlen(v);

	if (kind == 'N')
		return n >= 1 && n <= 7 && strspn(v, "0123456789") == n;
	if (kind == 'S')
		return n >= 1 && n <= 16 &&
		       strspn(v, "abcdefghijklmnopqrstuvwxyz") == n;
	return n >= 1;
}

/* The option named by tok in c's list ("--name" or "--name K"). */
static const char *sh_opt(const struct sh_cmd *c, const char *tok)
{
	for (size_t i = 0; i < AL_ARRAY_LEN(c->opts) && c->opts[i]; i++) {
		size_t l = strcspn(c->opts[i], " ");
		if (strlen(tok) == l && !strncmp(c->opts[i], tok, l))
			return c->opts[i];
	}
	return NULL;
}

/*
 * An operand's form. Paths are never operands: a URL must be http(s)
 * (a file: URL or a local path would have the daemon read or push to
 * the appliance's own files for a remote caller).
 */
static int sh_operand_ok(struct sh *s, const char *v)
{
	const struct sh_cmd *c = s->cmd;

	if (v[0] == '-')
		return sh_refuse(s, "%s: unknown option '%.40s'", c->words, v);
	if (c->op == SH_JOB && (strlen(v) != SCHED_ID_LEN ||
				strspn(v, "0123456789abcdef") != SCHED_ID_LEN))
		return sh_refuse(s, "%s: '%.40s' is not a job id", c->words, v);
	if (c->op == SH_URL && strncmp(v, "https://", 8) &&
	    strncmp(v, "http://", 7))
		return sh_refuse(s, "%s: only http:// and https:// "
				 "repositories are taken here (no local paths "
				 "or file: URLs)", c->words);
	return 0;
}

/* Options and operands of the command found; 0 or AL_E_USAGE. */
static int sh_check_args(struct sh *s)
{
	const struct sh_cmd *c = s->cmd;
	unsigned nops = 0;
	int rc;

	for (size_t i = s->nwords; i < s->ntok; i++) {
		const char *t = s->tok[i], *o = sh_opt(c, t);

		if (o && o[strcspn(o, " ")] == ' ') {
			char kind = o[strlen(o) - 1];
			if (i + 1 >= s->ntok || !sh_value_ok(kind, s->tok[i + 1]))
				return sh_refuse(s, "%s: %s takes %s", c->words,
						 t, kind == 'N' ? "a number" :
						 kind == 'S' ? "a word" : "a "
						 "value");
			i++;
		} else if (!o) {
			if ((rc = sh_operand_ok(s, t)))
				return rc;
			nops++;
		}
	}
	if (nops != c->nops)
		return sh_refuse(s, "%s takes %u operand%s, not %u (help lists "
				 "the commands)", c->words, c->nops,
				 c->nops == 1 ? "" : "s", nops);
	return 0;
}

/*
 * What the session runs, or why not (s->why). A terminal is for the
 * console only: with any other command it would be a way around the
 * shell's own output (and sshd cannot give it to one command only).
 */
static int sh_decide(struct sh *s, const char *cmd)
{
	int rc;

	if (!cmd || !cmd[strspn(cmd, " \t")]) {
		if (!s->tty)
			return sh_refuse(s, "no command and no terminal: name a "
					 "command (help lists them)");
		cmd = "console";
	}
	if ((rc = sh_split(s, cmd)))
		return rc;
	s->cmd = sh_find(s);
	if (!s->cmd)
		return sh_refuse(s, "'%.64s' is not a command of the admin "
				 "shell (help lists them)", s->tok[0]);
	if ((rc = sh_check_args(s)))
		return rc;
	if (s->tty && s->cmd->run != sh_run_console)
		return sh_refuse(s, "a terminal was asked for '%s': only the "
				 "console gets one (ssh without -t)",
				 s->cmd->words);
	if (!s->tty && s->cmd->run == sh_run_console)
		return sh_refuse(s, "the console needs a terminal (ssh -t)");
	return 0;
}

/* ---- the record ------------------------------------------------------ */

/*
 * in with the user:password@ part of every URL replaced by "***@": a
 * refused command is recorded as typed, and a token typed into a URL
 * must not reach the audit log (or its exports) with it.
 */
static void sh_redact(const char *in, char *out, size_t outsz)
{
	size_t o = 0;

	while (*in && o + 1 < outsz) {
		const char *sep = strstr(in, "://"), *auth, *at = NULL;
		size_t n = sep ? (size_t)(sep - in) + 3 : strlen(in);

		n = n < outsz - 1 - o ? n : outsz - 1 - o;
		memcpy(out + o, in, n);
		o += n;
		in += n;
		if (!sep || o + 1 >= outsz)
			break;
		auth = in;
		for (const char *p = auth; *p && !strchr("/?# \t'\"", *p); p++)
			if (*p == '@')
				at = p;
		if (at && o + 4 >= outsz)
			break; /* no room for "***": copy none of the secret */
		if (at) {
			memcpy(out + o, "***", 3);
			o += 3;
			in = at;
		}
	}
	out[o] = '\0';
}

/* SSH_CONNECTION's client address and port. */
static int sh_client(struct sh *s)
{
	const char *c = getenv("SSH_CONNECTION");
	size_t a, p;

	if (!c)
		return AL_E_USAGE;
	a = strcspn(c, " ");
	p = c[a] ? strcspn(c + a + 1, " ") : 0;
	if (!a || !p || a + 1 + p >= sizeof(s->client))
		return AL_E_USAGE;
	memcpy(s->client, c, a + 1 + p);
	s->client[a + 1 + p] = '\0';
	return strspn(s->client, "0123456789abcdefABCDEF.:% ") ==
			       strlen(s->client)
		       ? 0
		       : AL_E_USAGE;
}

static json_t *sh_session_params(struct sh *s, const char *cmd, int verdict)
{
	char red[SH_COMMAND_MAX + 1];
	json_t *p, *argv = NULL;

	if (verdict == 0) {
		argv = json_array();
		for (size_t i = 0; argv && i < s->ntok; i++) {
			sh_redact(s->tok[i], red, sizeof(red));
			json_array_append_new(argv, json_string(red));
		}
	}
	red[0] = '\0';
	if (cmd)
		sh_redact(cmd, red, sizeof(red));
	/* A command that is not UTF-8 is recorded as such, not as bytes
	 * the log would refuse. */
	if (cmd && !al_utf8_valid(red, strlen(red)))
		al_strlcpy(red, "(not UTF-8)", sizeof(red));
	p = json_pack("{s:s?,s:o?,s:b,s:s,s:s,s:s}", "command",
		      cmd ? red : NULL, "argv", argv, "tty", s->tty, "client",
		      s->client, "key_type", s->key.type, "verdict",
		      verdict ? "refused" : "allowed");
	if (p && verdict)
		json_object_set_new(p, "reason", json_string(s->why));
	return p;
}

/*
 * admin.session: the daemon audits the login with the verdict. 0 when
 * it did; otherwise the caller says why and runs nothing.
 */
static int sh_report(struct sh *s, const char *cmd, int verdict)
{
	char path[PATH_MAX];
	struct api_client *c = NULL;
	struct api_err err = {0};
	json_t *res = NULL;
	int rc = api_socket_path(s->home, path, sizeof(path));

	if (rc == 0)
		rc = api_client_connect(path, &c);
	if (rc) {
		fprintf(stderr, "airlock admin shell: airlockd is not running "
			"or not reachable (%s: %s): this %s is not in the "
			"audit log%s\n", path, al_strerror(rc),
			verdict ? "refusal" : "login",
			verdict ? "" : ", and nothing can be done without it");
		return rc;
	}
	rc = api_client_call(c, "admin.session",
			     sh_session_params(s, cmd, verdict), SH_CALL_MS,
			     &res, &err);
	api_client_close(c);
	json_decref(res);
	if (rc == -EREMOTEIO) {
		al_sanitize_text(err.message);
		fprintf(stderr, "airlock admin shell: airlockd did not record "
			"this login: %s\n", err.message);
	} else if (rc) {
		fprintf(stderr, "airlock admin shell: airlockd did not answer "
			"(%s): this login may not be in the audit log\n",
			al_strerror(rc));
	}
	return rc;
}

/* ---- running --------------------------------------------------------- */

/* argv for a command of the command line: prefix, then the tokens after
 * the command's words. */
static int sh_exec(struct sh *s, const char *const *prefix,
		   int (*fn)(int, char **, const char *))
{
	char *argv[SH_TOKENS_MAX + 8];
	int n = 0;

	for (; *prefix; prefix++)
		argv[n++] = (char *)*prefix;
	for (size_t i = s->nwords; i < s->ntok; i++)
		argv[n++] = s->tok[i];
	argv[n] = NULL;
	return fn(n, argv, s->home);
}

static int sh_run_status(struct sh *s)
{
	return sh_exec(s, (const char *const[]){"status", NULL}, cli_status);
}

static int sh_run_job(struct sh *s)
{
	const char *sub = strcmp(s->tok[0], "jobs") ? s->tok[0] : "list";

	return sh_exec(s, (const char *const[]){"job", sub, NULL}, cli_job);
}

static int sh_run_console(struct sh *s)
{
	return sh_exec(s, (const char *const[]){"console", NULL},
		       cli_console);
}

static int sh_run_keys(struct sh *s)
{
	return sh_exec(s, (const char *const[]){"keys", s->tok[1], NULL},
		       cli_keys);
}

static int sh_run_keys_admin(struct sh *s)
{
	return sh_exec(s, (const char *const[]){"admin", s->tok[2], NULL},
		       cli_keys_admin);
}

static int sh_run_config(struct sh *s)
{
	return sh_exec(s, (const char *const[]){"config", s->tok[1], NULL},
		       cli_config);
}

static int sh_run_version(struct sh *s)
{
	(void)s;
	printf("airlock %s\n", AL_VERSION);
	return CLI_OK;
}

static int sh_run_help(struct sh *s)
{
	(void)s;
	printf("airlock admin shell: one command per login, no shell.\n\n");
	for (size_t i = 0; i < AL_ARRAY_LEN(sh_cmds); i++) {
		const struct sh_cmd *c = &sh_cmds[i];
		char opts[128] = "";

		for (size_t j = 0; j < AL_ARRAY_LEN(c->opts) && c->opts[j]; j++)
			snprintf(opts + strlen(opts), sizeof(opts) - strlen(opts),
				 " [%s]", c->opts[j]);
		printf("  %s%s\n      %s\n", c->words, opts, c->help);
	}
	printf("\nN: a number, S: a word, T: any text (quote it). Exit "
	       "status %d: refused.\n", CLI_REFUSED);
	return CLI_OK;
}

/* audit verify: the daemon's report, for people or as JSON. */
static int sh_audit_verify(struct sh *s, bool json)
{
	json_t *r = NULL, *pr;
	size_t i;
	int rc = cli_call(s->home, "audit.verify", NULL, SH_LONG_CALL_MS, &r);

	if (rc)
		return rc;
	if (json) {
		cli_json_out(r);
	} else {
		json_array_foreach(json_object_get(r, "problems"), i, pr) {
			printf("seq %lld: ", json_integer_value(
						     json_object_get(pr, "seq")));
			cli_put(cli_str(pr, "what"), 0);
			printf("\n");
		}
		printf("%s: %lld entries checked, %lld intact\n",
		       json_is_true(json_object_get(r, "ok")) ? "ok" : "FAILED",
		       json_integer_value(json_object_get(r, "entries")),
		       json_integer_value(json_object_get(r, "intact")));
	}
	rc = json_is_true(json_object_get(r, "ok")) ? CLI_OK : CLI_FAILED;
	json_decref(r);
	return rc;
}

static int sh_run_audit(struct sh *s)
{
	bool json = s->ntok > 2 && !strcmp(s->tok[2], "--json");
	const char *sub = s->tok[1];
	json_t *r = NULL;
	int rc;

	if (!strcmp(sub, "verify"))
		return sh_audit_verify(s, json);
	rc = cli_call(s->home, strcmp(sub, "export") ? "audit.pubkey"
						      : "audit.export",
		      NULL, SH_LONG_CALL_MS, &r);
	if (rc)
		return rc;
	if (strcmp(sub, "export"))
		fputs(cli_str(r, "pem"), stdout);
	else if (json)
		cli_json_out(r);
	else
		printf("export %lld: entries %lld to %lld in %s (signed digest "
		       "%s), in the daemon's export directory\n", json_integer_value(json_object_get(r, "n")),
		       json_integer_value(json_object_get(r, "first")),
		       json_integer_value(json_object_get(r, "last")),
		       cli_str(r, "file"), cli_str(r, "digest"));
	json_decref(r);
	return CLI_OK;
}

int cli_admin_shell(int argc, char **argv, const char *home)
{
	const char *cmd = getenv("SSH_ORIGINAL_COMMAND");
	const char *auth = getenv("SSH_USER_AUTH");
	struct sh *s = calloc(1, sizeof(*s));
	int verdict, rc = CLI_FAILED;

	if (!s)
		return CLI_FAILED;
	s->home = home;
	if (argc > 1) {
		fprintf(stderr, "airlock admin-shell: takes no arguments (the "
			"command comes from SSH_ORIGINAL_COMMAND)\n");
		rc = CLI_USAGE;
		goto out;
	}
	(void)argv;
	if (!auth || sh_client(s)) {
		fprintf(stderr, "airlock admin-shell: run by sshd as the admin "
			"account's ForceCommand, with ExposeAuthInfo yes "
			"(SSH_USER_AUTH or SSH_CONNECTION is missing)\n");
		goto out;
	}
	if (api_sshkey_from_auth_info(auth, &s->key, s->why, sizeof(s->why)) ||
	    api_client_default_fingerprint(s->key.fingerprint)) {
		fprintf(stderr, "airlock admin shell: no usable key for this "
			"session: %s\n", s->why);
		goto out;
	}
	s->tty = isatty(0) || isatty(1) || getenv("SSH_TTY");
	verdict = sh_decide(s, cmd);
	if (verdict)
		fprintf(stderr, "airlock admin shell: refused: %s\n", s->why);
	if (sh_report(s, cmd, verdict)) {
		rc = verdict ? CLI_REFUSED : CLI_FAILED;
		goto out;
	}
	if (verdict) {
		rc = CLI_REFUSED;
		goto out;
	}
	cli_daemon_only = true;
	rc = s->cmd->run(s);
out:
	free(s);
	return rc;
}
