/*
 * cmd_config.c - `airlock config show|check`: airlock.conf's settings
 * and whether the file loads. Run on the appliance, they read the file
 * themselves; from the admin shell (cli_daemon_only), they ask the
 * daemon (config.show: the settings it runs with; config.check: the
 * file as it is now), since the admin account cannot read the home.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "job/config.h"

#define CLI_CONFIG_CALL_MS 30000

static const char cli_config_help[] =
	"usage: airlock config show [--json]\n"
	"       airlock config check [--json]\n"
	"\n"
	"show   every setting of HOME/airlock.conf with its value or default.\n"
	"       Files (registry_token_file, registry_ca_file,\n"
	"       admin_keys_file) are named by path; what they hold is never\n"
	"       shown. From the admin shell: the settings airlockd runs\n"
	"       with (an edit is in force after a reload).\n"
	"check  load the file as a start or reload would: \"ok\", or the\n"
	"       file, line and reason of the first problem.\n"
	"\n"
	"Exit status: 0 shown / the file loads, 1 it does not (or the\n"
	"daemon failed), 2 bad usage.\n";

/* One "key = value" line; strings made safe for a terminal. */
static void cli_config_line(const char *key, json_t *v)
{
	char *text = NULL;

	printf("%-26s = ", key);
	if (json_is_string(v)) {
		cli_put(json_string_value(v), 0);
	} else if (json_is_null(v)) {
		printf("(not set)");
	} else {
		text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS |
					     JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
		cli_put(text ? text : "?", 0);
	}
	printf("\n");
	free(text);
}

static int cli_config_show(const char *home, bool json)
{
	json_t *r = NULL, *set, *v;
	const char *key;
	int rc;

	if (cli_daemon_only) {
		if ((rc = cli_call(home, "config.show", NULL,
				   CLI_CONFIG_CALL_MS, &r)))
			return rc;
	} else {
		struct job_config c;
		char why[1024] = "";

		rc = job_config_load(home, &c, why, sizeof(why));
		if (rc == 0)
			r = json_pack("{s:s,s:o}", "home", home, "settings",
				      job_config_json(&c));
		job_config_free(&c);
		if (rc || !r) {
			fprintf(stderr, "airlock config show: %s\n",
				rc ? why : "out of memory");
			return CLI_FAILED;
		}
	}
	if (json) {
		cli_json_out(r);
	} else {
		set = json_object_get(r, "settings");
		json_object_foreach(set, key, v)
			cli_config_line(key, v);
	}
	json_decref(r);
	return CLI_OK;
}

static int cli_config_check(const char *home, bool json)
{
	json_t *r = NULL;
	int rc;

	if (cli_daemon_only) {
		if ((rc = cli_call(home, "config.check", NULL,
				   CLI_CONFIG_CALL_MS, &r)))
			return rc;
	} else {
		struct job_config c;
		char why[1024] = "";

		rc = job_config_load(home, &c, why, sizeof(why));
		job_config_free(&c);
		r = json_pack("{s:b,s:s?}", "ok", rc == 0, "error",
			      rc ? why : NULL);
	}
	if (!r)
		return CLI_FAILED;
	if (json) {
		cli_json_out(r);
	} else if (json_is_true(json_object_get(r, "ok"))) {
		printf("ok\n");
	} else {
		cli_put(cli_str(r, "error"), 0);
		printf("\n");
	}
	rc = json_is_true(json_object_get(r, "ok")) ? CLI_OK : CLI_FAILED;
	json_decref(r);
	return rc;
}

int cli_config(int argc, char **argv, const char *home)
{
	const char *sub = argc > 1 ? argv[1] : "";
	bool json = false;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--help")) {
			fputs(cli_config_help, stdout);
			return CLI_OK;
		} else {
			fprintf(stderr, "airlock config %s: unexpected argument "
				"'%s'\n", sub, argv[i]);
			return CLI_USAGE;
		}
	}
	if (!strcmp(sub, "show"))
		return cli_config_show(home, json);
	if (!strcmp(sub, "check"))
		return cli_config_check(home, json);
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
		fputs(cli_config_help, stdout);
		return CLI_OK;
	}
	fputs(cli_config_help, stderr);
	return CLI_USAGE;
}
