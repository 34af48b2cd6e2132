/*
 * cli.h - the subcommands of the airlock command line. Each takes the
 * arguments after its own name (argv[0] is the subcommand) and the home
 * directory chosen by --home, $AIRLOCK_HOME or the default, and returns
 * the process exit status: 0 success, 1 a failed job or check, 2 bad
 * usage or input (DESIGN.md, "Command line").
 */
#ifndef AL_CLI_CLI_H
#define AL_CLI_CLI_H

#define CLI_OK 0
#define CLI_FAILED 1
#define CLI_USAGE 2

int cli_update(int argc, char **argv, const char *home);
int cli_sandbox(int argc, char **argv, const char *home);
int cli_semver(int argc, char **argv, const char *home);
int cli_audit(int argc, char **argv, const char *home);
int cli_keys(int argc, char **argv, const char *home);
int cli_job(int argc, char **argv, const char *home);
int cli_status(int argc, char **argv, const char *home);
int cli_console(int argc, char **argv, const char *home);

#ifdef AL_CLI_CORE
#include <jansson.h>
/* print.c: records for people, every string made terminal-safe. */
void cli_put(const char *s, int width);
const char *cli_str(json_t *o, const char *key);
void cli_print_summary(json_t *rec);
#endif

#endif
