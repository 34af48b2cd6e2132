/*
 * cmd_pushkey.c - `airlock keys export-push`: the SSH key the timed
 * audit export pushes with (audit/timed.h). It is made here, on the
 * machine, by OpenSSH's ssh-keygen run with a fixed argv, and never
 * leaves it; the command prints its public half for the receiver's
 * authorized_keys. Making it is an audit entry written first: no
 * entry, no key.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/checkpoint.h"
#include "audit/timed.h"
#include "base/err.h"
#include "base/fs.h"
#include "cli/cli.h"
#include "store/store.h"

#define PUSHKEY_KEYGEN "/usr/bin/ssh-keygen"

static const char cli_pushkey_help[] =
	"usage: airlock keys export-push\n"
	"\n"
	"Make the SSH key the timed audit export pushes with\n"
	"(export_push_key in airlock.conf, default HOME/export-push/key:\n"
	"ed25519, mode 0600, in a directory of mode 0700), unless it exists,\n"
	"and print the line to add to the receiving account's\n"
	"authorized_keys. Making the key is recorded in the audit log\n"
	"(keys.export-push). See docs/audit.md, \"Pushing exports\".\n"
	"\n"
	"exit status: 0 the key exists, 1 it could not be made or read, 2\n"
	"bad usage.\n";

/* Run ssh-keygen with argv; 0 when it exits with 0. */
static int pushkey_run(char *const argv[])
{
	char *env[] = { "PATH=/usr/bin:/bin", "LC_ALL=C", NULL };
	int status = 0, rc;
	pid_t pid;

	rc = -posix_spawn(&pid, PUSHKEY_KEYGEN, NULL, NULL, argv, env);
	if (rc)
		return rc;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : AL_E_CRYPTO;
}

static int pushkey_audit(const char *home, const char *key)
{
	struct audit_policy pol;
	struct audit_log *log = NULL;
	struct store *st = NULL;
	char actor[32], err[512];
	int rc = audit_policy_load(home, &pol, err, sizeof(err));

	snprintf(actor, sizeof(actor), "uid:%u", (unsigned)getuid());
	if (rc == 0)
		rc = store_open_existing(home, &st);
	if (rc == 0)
		rc = audit_log_open(st, home, &pol, &log);
	if (rc == 0)
		rc = audit_append_now(log, actor, "keys.export-push", key,
				      json_pack("{s:s}", "type", "ed25519"),
				      NULL);
	audit_log_close(log);
	store_close(st);
	return rc;
}

/* Make the key at path; its directory is created 0700. */
static int pushkey_make(const char *home, const char *path)
{
	char dir[PATH_MAX];
	char *argv[] = { PUSHKEY_KEYGEN, "-q", "-t", "ed25519", "-N", "",
			 "-C", "airlock-export-push", "-f", (char *)path,
			 NULL };
	const char *slash = strrchr(path, '/');
	int rc;

	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	rc = pushkey_audit(home, path);
	if (rc) {
		fprintf(stderr, "airlock keys export-push: cannot write the "
			"audit entry (%s): no key made\n", al_strerror(rc));
		return rc;
	}
	rc = dir[0] ? al_mkdir_p(dir, 0700) : 0;
	if (rc == 0)
		rc = pushkey_run(argv);
	if (rc)
		fprintf(stderr, "airlock keys export-push: %s: cannot make "
			"the key: %s\n", path, al_strerror(rc));
	return rc;
}

int cli_keys_export_push(int argc, char **argv, const char *home)
{
	struct audit_timed_cfg c;
	char err[1024] = "", key[1100];
	char *show[] = { PUSHKEY_KEYGEN, "-y", "-f", key, NULL };
	struct stat st;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(cli_pushkey_help, stdout);
			return CLI_OK;
		}
		fprintf(stderr, "airlock keys export-push: unexpected argument "
			"'%s'\n", argv[i]);
		return CLI_USAGE;
	}
	if (audit_timed_load(home, &c, err, sizeof(err))) {
		fprintf(stderr, "airlock keys export-push: %s\n", err);
		return CLI_FAILED;
	}
	if (c.key[0])
		snprintf(key, sizeof(key), "%s", c.key);
	else
		snprintf(key, sizeof(key), "%s/%s", home,
			 AUDIT_PUSH_KEY_DEFAULT);
	if (lstat(key, &st) != 0 && pushkey_make(home, key) != 0)
		return CLI_FAILED;
	if (lstat(key, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 0777) != 0600) {
		fprintf(stderr, "airlock keys export-push: %s: must be a "
			"regular file of uid %u with mode 0600\n", key,
			(unsigned)geteuid());
		return CLI_FAILED;
	}
	/* The receiver's line: restrict takes away every forwarding, the
	 * terminal and the user's rc file from this key. */
	fputs("restrict ", stdout);
	fflush(stdout);
	rc = pushkey_run(show);
	if (rc) {
		fprintf(stderr, "airlock keys export-push: %s: cannot read "
			"the public key\n", key);
		return CLI_FAILED;
	}
	return CLI_OK;
}
