/*
 * main.c - the airlock command line: global options, then one subcommand.
 *
 * Built twice (CMakeLists.txt). `airlock` holds only `sandbox` and
 * `semver`, linked with little and mostly statically, so that starting
 * it costs about what starting /bin/true does: `sandbox run` is the
 * command that starts sandboxes one after another. For every other
 * command it becomes `airlock-core`, the program beside it that holds
 * them all (AL_CLI_CORE defined), with the same pid and arguments.
 * The musl build of `airlock` (tools/musl-cli, AL_CLI_NO_SEMVER defined)
 * holds `sandbox` only and hands `semver` over the same way: it carries
 * no pcre2.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "cli/cli.h"

#define CLI_DEFAULT_HOME "/var/lib/airlock"
#define CLI_CORE_NAME "airlock-core"

/* A command that only airlock-core carries: NULL in `airlock`. */
#ifdef AL_CLI_CORE
#define CLI_IN_CORE(fn) fn
#else
#define CLI_IN_CORE(fn) NULL
#endif
#if defined(AL_CLI_CORE) || !defined(AL_CLI_NO_SEMVER)
#define CLI_SEMVER cli_semver
#else
#define CLI_SEMVER NULL
#endif

extern char **environ;

struct cli_command {
	const char *name;
	/* NULL: run by airlock-core (cli_exec_core) */
	int (*run)(int argc, char **argv, const char *home);
	const char *summary;
};

static const struct cli_command cli_commands[] = {
	{"update", CLI_IN_CORE(cli_update),
	 "run one update job on a repository"},
	{"sandbox", cli_sandbox, "run a command in a sandbox"},
	{"semver", CLI_SEMVER, "npm-compatible version and range checks"},
	{"audit", CLI_IN_CORE(cli_audit),
	 "verify, show, export and sign the audit log"},
	{"keys", CLI_IN_CORE(cli_keys),
	 "rotate the data key, the key ring, admin and export SSH keys"},
	{"job", CLI_IN_CORE(cli_job),
	 "queue, list, show, cancel, retry jobs of the daemon"},
	{"status", CLI_IN_CORE(cli_status), "the daemon's state"},
	{"console", CLI_IN_CORE(cli_console),
	 "the operator console: jobs, detail, audit, live"},
	{"config", CLI_IN_CORE(cli_config),
	 "show airlock.conf's settings, check the file"},
	{"admin-shell", CLI_IN_CORE(cli_admin_shell),
	 "the SSH admin account's shell (sshd's ForceCommand)"},
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
		fprintf(f, "  %-11s %s\n", cli_commands[i].name,
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
 * Copy argv to args (argc + 1 slots) without --home wherever it stands
 * before "--", so every command accepts it in any position; argv stays
 * as it was, for airlock-core. Returns the new argc, or -1.
 */
static int cli_take_home(int argc, char **argv, char **args,
			 const char **home)
{
	int out = 0;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			while (i < argc)
				args[out++] = argv[i++];
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
		args[out++] = argv[i];
	}
	args[out] = NULL;
	return out;
}

/*
 * Become airlock-core, found in the directory of this program's own file
 * (/proc/self/exe, not $PATH or argv[0], which the caller chooses), with
 * the arguments exactly as given: it parses --home and the command again,
 * and as the same process keeps the pid, the signal dispositions, the
 * terminal and the exit status the caller waits for. Returns only on
 * failure, with the exit status.
 */
static int cli_exec_core(char **argv, const char *cmd)
{
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	char *slash;
	size_t len;

	if (n < 0) {
		fprintf(stderr, "airlock: cannot find %s: /proc/self/exe: %s\n",
			CLI_CORE_NAME, strerror(errno));
		return CLI_FAILED;
	}
	path[n] = '\0';
	slash = strrchr(path, '/');
	len = slash ? (size_t)(slash - path) + 1 : 0;
	if (len + sizeof(CLI_CORE_NAME) > sizeof(path)) {
		fprintf(stderr, "airlock: cannot find %s: path too long\n",
			CLI_CORE_NAME);
		return CLI_FAILED;
	}
	memcpy(path + len, CLI_CORE_NAME, sizeof(CLI_CORE_NAME));
	execve(path, argv, environ);
	fprintf(stderr,
		"airlock: cannot run %s: %s (the '%s' command is in that "
		"program, installed beside airlock)\n",
		path, strerror(errno), cmd);
	return CLI_FAILED;
}

/*
 * `sandbox run --image DIR` hashes the image (libcrypto), which only
 * airlock-core carries: airlock itself stays free of libcrypto, which
 * would otherwise have to be linked into it statically (a security fix
 * in the library would then need a rebuild of airlock).
 */
static bool cli_needs_core(int argc, char **args)
{
#ifdef AL_CLI_CORE
	(void)argc;
	(void)args;
	return false;
#else
	if (strcmp(args[0], "sandbox"))
		return false;
	for (int i = 1; i < argc && strcmp(args[i], "--"); i++)
		if (!strcmp(args[i], "--image"))
			return true;
	return false;
#endif
}

static int cli_main(int argc, char **argv, char **args)
{
	const char *home = getenv("AIRLOCK_HOME");

	if (!home || !*home)
		home = CLI_DEFAULT_HOME;
	argc = cli_take_home(argc - 1, argv + 1, args, &home);
	if (argc < 0 || !*home) {
		fprintf(stderr, "airlock: --home needs a directory\n");
		return CLI_USAGE;
	}
	if (argc == 0) {
		cli_usage(stderr);
		return CLI_USAGE;
	}
	if (!strcmp(args[0], "--help") || !strcmp(args[0], "-h") ||
	    !strcmp(args[0], "help")) {
		cli_usage(stdout);
		return CLI_OK;
	}
	if (!strcmp(args[0], "--version")) {
		printf("airlock %s\n", AL_VERSION);
		return CLI_OK;
	}
	for (size_t i = 0; i < sizeof(cli_commands) / sizeof(*cli_commands);
	     i++) {
		if (strcmp(args[0], cli_commands[i].name))
			continue;
		if (!cli_commands[i].run || cli_needs_core(argc, args))
			return cli_exec_core(argv, args[0]);
		return cli_commands[i].run(argc, args, home);
	}
	fprintf(stderr, "airlock: unknown command '%s' (see airlock --help)\n",
		args[0]);
	return CLI_USAGE;
}

int main(int argc, char **argv)
{
	char **args = calloc((size_t)argc + 1, sizeof(*args));
	int rc;

	if (!args) {
		fprintf(stderr, "airlock: out of memory\n");
		return CLI_FAILED;
	}
	rc = cli_main(argc, argv, args);
	free(args);
	return rc;
}
