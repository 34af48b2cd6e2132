/*
 * cmd_adminkeys.c - `airlock keys admin`: the keys that may log in to
 * the SSH admin account, kept by the daemon in airlock.conf's
 * admin_keys_file (docs/admin-shell.md, "Admin keys"). Every change goes
 * through the daemon, which audits it under the caller.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"

#define CLI_AK_CALL_MS 30000

static const char cli_ak_help[] =
	"usage: airlock keys admin list [--json]\n"
	"       airlock keys admin add TYPE KEY NAME\n"
	"       airlock keys admin remove FINGERPRINT|NAME [--force]\n"
	"\n"
	"The SSH keys that log in as the admin account, whose every login\n"
	"runs the admin shell (docs/admin-shell.md). airlockd keeps them in\n"
	"the file airlock.conf's admin_keys_file names, each line written\n"
	"as \"restrict,pty TYPE KEY NAME\".\n"
	"\n"
	"list    fingerprint (as ssh-keygen -lf prints it), type, name, and\n"
	"        whether the line lacks restrict (a line written by hand)\n"
	"add     TYPE KEY NAME as in a .pub file: `keys admin add $(cat\n"
	"        alice.pub)`. Types: ssh-ed25519, ecdsa-sha2-nistp256/384/\n"
	"        521, ssh-rsa, sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-\n"
	"        nistp256@openssh.com. NAME: 1 to 64 of A-Z a-z 0-9 . _ @ + -.\n"
	"        A key that is there already is refused.\n"
	"remove  by fingerprint, or by name when one key has it. The last\n"
	"        key is removed only with --force (then nobody logs in).\n"
	"\n"
	"Adding and removing: root, airlockd's user, or the admin shell;\n"
	"listing: anyone who may use the daemon's socket.\n"
	"Exit status: 0 done, 1 the daemon failed or cannot be reached,\n"
	"2 bad usage, a duplicate, an unknown key or the last key.\n";

static int cli_ak_list(const char *home, bool json)
{
	json_t *r = NULL, *k;
	size_t i;
	int rc = cli_call(home, "admin.keys.list", NULL, CLI_AK_CALL_MS, &r);

	if (rc)
		return rc;
	if (json) {
		cli_json_out(r);
		json_decref(r);
		return CLI_OK;
	}
	printf("%s\n", cli_str(r, "file"));
	json_array_foreach(json_object_get(r, "keys"), i, k) {
		printf("%-50s  %-20s  ", cli_str(k, "fingerprint"),
		       cli_str(k, "type"));
		cli_put(cli_str(k, "comment"), 0);
		if (!json_is_true(json_object_get(k, "restricted")))
			printf("  (no restrict: line %lld, written by hand)",
			       json_integer_value(json_object_get(k, "line")));
		printf("\n");
	}
	if (json_integer_value(json_object_get(r, "other_lines")))
		printf("%lld other line(s) that are no key of an accepted "
		       "type\n",
		       json_integer_value(json_object_get(r, "other_lines")));
	json_decref(r);
	return CLI_OK;
}

static int cli_ak_change(const char *home, const char *method,
			 json_t *params)
{
	json_t *r = NULL;
	int rc = cli_call(home, method, params, CLI_AK_CALL_MS, &r);

	if (rc)
		return rc;
	printf("%s %s (", strcmp(method, "admin.keys.add") ? "removed"
							   : "added",
	       cli_str(r, "fingerprint"));
	cli_put(cli_str(r, "comment"), 0);
	printf("); %lld admin key(s) now\n",
	       json_integer_value(json_object_get(r, "keys")));
	json_decref(r);
	return CLI_OK;
}

int cli_keys_admin(int argc, char **argv, const char *home)
{
	const char *sub = argc > 1 ? argv[1] : "";
	bool json = false, force = false;
	const char *ops[4];
	int nops = 0;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--help")) {
			fputs(cli_ak_help, stdout);
			return CLI_OK;
		} else if (!strcmp(argv[i], "--json") && !strcmp(sub, "list")) {
			json = true;
		} else if (!strcmp(argv[i], "--force") &&
			   !strcmp(sub, "remove")) {
			force = true;
		} else if (argv[i][0] == '-' || nops == 3) {
			fprintf(stderr, "airlock keys admin %s: unexpected "
				"argument '%s'\n", sub, argv[i]);
			return CLI_USAGE;
		} else {
			ops[nops++] = argv[i];
		}
	}
	if (!strcmp(sub, "list") && nops == 0)
		return cli_ak_list(home, json);
	if (!strcmp(sub, "add") && nops == 3)
		return cli_ak_change(home, "admin.keys.add",
				     json_pack("{s:s,s:s,s:s}", "type", ops[0],
					       "key", ops[1], "comment",
					       ops[2]));
	if (!strcmp(sub, "remove") && nops == 1)
		return cli_ak_change(home, "admin.keys.remove",
				     force ? json_pack("{s:s,s:b}", "key",
						       ops[0], "force", 1)
					   : json_pack("{s:s}", "key", ops[0]));
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
		fputs(cli_ak_help, stdout);
		return CLI_OK;
	}
	fputs(cli_ak_help, stderr);
	return CLI_USAGE;
}
