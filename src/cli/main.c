/*
 * main.c - the airlock command line: global options, then one subcommand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "cli/cli.h"

#define CLI_DEFAULT_HOME "/var/lib/airlock"

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv, const char *home);
	const char *summary;
};

static const struct cli_command cli_commands[] = {
	{"update", cli_update, "run one update job on a repository"},
	{"sandbox", cli_sandbox, "run a command in a sandbox"},
	{"semver", cli_semver, "npm-compatible version and range checks"},
	{"audit", cli_audit, "verify, show, export and sign the audit log"},
	{"keys", cli_keys, "rotate the data key, show the key ring"},
};

static void cli_usage(FILE *f)
{
	fprintf(f,
		"usage: airlock [--home DIR] COMMAND [ARGS...]\n"
		"\n"
		"Keeps npm projects' dependencies current without trusting "
		"the code it runs.\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(cli_commands) / sizeof(*cli_commands);
	     i++)
		fprintf(f, "  %-9s %s\n", cli_commands[i].name,
			cli_commands[i].summary);
	fprintf(f,
		"\noptions:\n"
		"  --home DIR  state directory (default: $AIRLOCK_HOME, "
		"else " CLI_DEFAULT_HOME ")\n"
		"  --version   print the version\n"
		"  --help      this text; COMMAND --help for a command's\n"
		"\nenvironment: AIRLOCK_LOG=debug|info|warn|error, "
		"AIRLOCK_GIT_USER, AIRLOCK_GIT_TOKEN\n");
}

/*
 * Take --home out of argv wherever it stands before "--", so every
 * command accepts it in any position. Returns the new argc, or -1.
 */
static int cli_take_home(int argc, char **argv, const char **home)
{
	int out = 0;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			while (i < argc)
				argv[out++] = argv[i++];
			break;
		}
		if (!strcmp(argv[i], "--home")) {
			if (i + 1 >= argc)
				return -1;
			*home = argv[++i];
			continue;
		}
		if (!strncmp(argv[i], "--home=", 7)) {
			*home = argv[i] + 7;
			continue;
		}
		argv[out++] = argv[i];
	}
	argv[out] = NULL;
	return out;
}

int main(int argc, char **argv)
{
	const char *home = getenv("AIRLOCK_HOME");

	if (!home || !*home)
		home = CLI_DEFAULT_HOME;
	argc = cli_take_home(argc - 1, argv + 1, &home);
	argv++;
	if (argc < 0 || !*home) {
		fprintf(stderr, "airlock: --home needs a directory\n");
		return CLI_USAGE;
	}
	if (argc == 0) {
		cli_usage(stderr);
		return CLI_USAGE;
	}
	if (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h") ||
	    !strcmp(argv[0], "help")) {
		cli_usage(stdout);
		return CLI_OK;
	}
	if (!strcmp(argv[0], "--version")) {
		printf("airlock %s\n", AL_VERSION);
		return CLI_OK;
	}
	for (size_t i = 0; i < sizeof(cli_commands) / sizeof(*cli_commands);
	     i++)
		if (!strcmp(argv[0], cli_commands[i].name))
			return cli_commands[i].run(argc, argv, home);
	fprintf(stderr, "airlock: unknown command '%s' (see airlock --help)\n",
		argv[0]);
	return CLI_USAGE;
}
