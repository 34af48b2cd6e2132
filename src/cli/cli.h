/*
 * cli.h - the subcommands of the airlock command line. Each takes the
 * arguments after its own name (argv[0] is the subcommand) and the home
 * directory chosen by --home, $AIRLOCK_HOME or the default, and returns
 * the process exit status: 0 success, 1 a failed job or check, 2 bad
 * usage or input (DESIGN.md, "Command line").
 */
#ifndef AL_CLI_CLI_H
#define AL_CLI_CLI_H

#include <stdbool.h>

#define CLI_OK 0
#define CLI_FAILED 1
#define CLI_USAGE 2
/* The admin shell refused the command (docs/admin-shell.md). */
#define CLI_REFUSED 126

int cli_update(int argc, char **argv, const char *home);
int cli_sandbox(int argc, char **argv, const char *home);
int cli_semver(int argc, char **argv, const char *home);
int cli_audit(int argc, char **argv, const char *home);
int cli_keys(int argc, char **argv, const char *home);
int cli_job(int argc, char **argv, const char *home);
int cli_status(int argc, char **argv, const char *home);
int cli_console(int argc, char **argv, const char *home);
int cli_config(int argc, char **argv, const char *home);
int cli_admin_shell(int argc, char **argv, const char *home);
/* keys admin ...: argv[0] is "admin" */
int cli_keys_admin(int argc, char **argv, const char *home);
/* keys export-push: argv[0] is "export-push" */
int cli_keys_export_push(int argc, char **argv, const char *home);

/*
 * Set by the admin shell before it runs a command: every command then
 * goes through the daemon (the admin account can open nothing under the
 * home), never to the store or the configuration file directly.
 */
extern bool cli_daemon_only;

#ifdef AL_CLI_CORE
#include <jansson.h>
/* print.c: records for people, every string made terminal-safe. */
void cli_put(const char *s, int width);
const char *cli_str(json_t *o, const char *key);
void cli_print_summary(json_t *rec);
/*
 * cmd_job.c: one call to the daemon of home (params stolen). On failure
 * the message is on stderr and the exit status is returned: CLI_USAGE
 * for not_found, invalid_params and conflict, else CLI_FAILED.
 */
int cli_call(const char *home, const char *method, json_t *params,
	     int timeout_ms, json_t **result);
/* v as indented JSON with sorted keys, and a newline, on stdout. */
void cli_json_out(json_t *v);
#endif

#endif
