/*
 * cmd_console.c - `airlock console`: the operator console
 * (src/console, docs/console.md).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "console/console.h"

static void console_usage(FILE *f)
{
	fprintf(f,
		"usage: airlock console [--stats FILE]\n"
		"\n"
		"The daemon's jobs, their detail and the audit log, live, in\n"
		"this terminal (at least 80x24). ? in the console lists the "
		"keys.\n"
		"\n"
		"  --stats FILE  write the time to the first frame and of each\n"
		"                redraw to FILE at exit (bench/console)\n");
}

int cli_console(int argc, char **argv, const char *home)
{
	static const struct option opts[] = {
		{"stats", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct con_opts o = {.home = home};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.stats = optarg;
			break;
		case 'h':
			console_usage(stdout);
			return CLI_OK;
		default:
			console_usage(stderr);
			return CLI_USAGE;
		}
	}
	if (optind != argc) {
		console_usage(stderr);
		return CLI_USAGE;
	}
	return con_run(&o) ? CLI_FAILED : CLI_OK;
}
