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

#endif
