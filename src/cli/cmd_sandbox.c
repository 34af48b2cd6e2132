/*
 * cmd_sandbox.c - `airlock sandbox run`: one command under the same
 * sandbox the update job uses, for operators and tests.
 *
 * Without --json the payload's output goes to stdout as it comes, with
 * terminal control sequences replaced by '?' (the payload is untrusted
 * and must not drive the operator's terminal), and the exit status is
 * the payload's (128+N if it died from signal N). With --json, one JSON
 * document: the result fields and the captured output as a string.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/err.h"
#include "base/util.h"
#include "cli/cli.h"
#include "sandbox/sandbox.h"

#define SBX_CLI_MAX_LIST 64

static const char sandbox_help[] =
	"usage: airlock sandbox run [OPTIONS] -- ARGV...\n"
	"\n"
	"Run ARGV in a sandbox: fresh user, mount, pid, net, ipc, uts and\n"
	"cgroup namespaces; a read-only root made of the host's /usr and a\n"
	"minimal /etc; no capabilities; a seccomp filter; cgroup limits.\n"
	"The payload runs as uid/gid 64000 on the host (1000 inside) with an\n"
	"empty environment apart from PATH=/usr/local/bin:/usr/bin:/bin,\n"
	"HOME=/tmp and LANG=C.UTF-8. Must be run as root.\n"
	"\n"
	"options:\n"
	"  --net none|registry  network (default none: loopback only).\n"
	"                       registry: an HTTP proxy inside the sandbox\n"
	"                       (HTTP_PROXY, HTTPS_PROXY, npm_config_proxy\n"
	"                       are set) that reaches only --allow entries.\n"
	"  --allow HOST[:PORT]  a destination the proxy allows; repeatable,\n"
	"                       required with --net registry. Without a\n"
	"                       port, 80 and 443 are allowed.\n"
	"  --proxy-conns N      registry: connections at once (default 64,\n"
	"                       at most 1024; more get 503)\n"
	"  --proxy-bytes SIZE   registry: bytes the proxy relays for the\n"
	"                       whole run, both ways (default 4G); past it\n"
	"                       tunnels are cut and requests refused\n"
	"  --proxy-idle SEC     registry: a tunnel silent this long is cut\n"
	"                       (default 300)\n"
	"  --mem SIZE           memory limit, e.g. 512M, 2G (default 512M)\n"
	"  --cpus N             CPU limit, e.g. 1 or 0.5 (default 1)\n"
	"  --pids N             process limit (default 256)\n"
	"  --timeout SEC        wall-clock limit (default 600)\n"
	"  --disk SIZE          no file the payload writes may grow beyond\n"
	"                       SIZE (default 4G; SIGXFSZ, kill reason\n"
	"                       disk). The total written is capped only on\n"
	"                       airlock volumes, as the update job's trees\n"
	"                       are; a plain --bind directory is not.\n"
	"  --bind SRC:DST[:rw]  bind host path SRC at DST, read-only unless\n"
	"                       :rw; repeatable. DST may not be under /usr,\n"
	"                       /etc, /dev, /proc, /sys or the /lib and\n"
	"                       /bin links. A writable SRC must be\n"
	"                       writable by uid 64000. No component of SRC\n"
	"                       may be a symlink.\n"
	"  --workdir DIR        working directory inside (default /tmp)\n"
	"  --image DIR|FILE     use DIR's usr/, bin, lib links and etc/\n"
	"                       files instead of the host's; DIR must be\n"
	"                       root's alone. Or FILE, a squashfs image of\n"
	"                       such a tree (root's alone, no symlink): it\n"
	"                       is hashed, mounted read-only under\n"
	"                       " SBX_IMAGE_RUN " for the run and unmounted\n"
	"                       after. Its digest (of the tree, or of\n"
	"                       FILE's bytes) is logged and, with --json,\n"
	"                       printed as \"image_digest\".\n"
	"  --json               print one JSON document with the result and\n"
	"                       the captured output (beyond 1 MiB, its\n"
	"                       first 256 KiB and last 768 KiB are kept)\n"
	"  --help               this text\n"
	"\n"
	"Every proxy decision, and every direct connection attempt to an\n"
	"address outside the sandbox (refused: \"network unreachable\"), is\n"
	"logged; --json lists the attempts as net_attempts.\n"
	"\n"
	"Output without --json streams to stdout, control characters\n"
	"replaced by '?'. Exit status: the payload's, 128+N if signal N\n"
	"ended it (a time, memory or pid limit kills with SIGKILL: 137);\n"
	"1 if the sandbox could not be set up; 2 on bad usage.\n";

static const char *const sbx_cli_env[] = {
	"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8",
	NULL,
};

struct sbx_cli {
	struct sbx_spec spec;
	struct sbx_bind binds[SBX_CLI_MAX_LIST];
	char *bind_text[SBX_CLI_MAX_LIST];
	const char *allow[SBX_CLI_MAX_LIST + 1];
	size_t nallow;
	bool json;
	struct sbx_packed packed; /* --image FILE, mounted for the run */
};

static int sandbox_usage(const char *why, const char *what)
{
	fprintf(stderr, "airlock sandbox: %s%s%s\n"
		"(see airlock sandbox run --help)\n", why, what ? ": " : "",
		what ? what : "");
	return CLI_USAGE;
}

/* "0.5", "1", "2.25" CPUs into thousandths; at most 3 decimals. */
static int parse_cpus(const char *s, unsigned *milli)
{
	uint64_t whole = 0, frac = 0;
	char buf[32];
	char *dot;

	if (al_strlcpy(buf, s, sizeof(buf)) >= sizeof(buf))
		return -EINVAL;
	dot = strchr(buf, '.');
	if (dot) {
		*dot = '\0';
		size_t n = strlen(dot + 1);
		if (n == 0 || n > 3 || al_parse_u64(dot + 1, 999, &frac))
			return -EINVAL;
		for (; n < 3; n++)
			frac *= 10;
	}
	if (al_parse_u64(buf, 1024, &whole))
		return -EINVAL;
	if (whole * 1000 + frac == 0)
		return -EINVAL;
	*milli = (unsigned)(whole * 1000 + frac);
	return 0;
}

/* SRC:DST or SRC:DST:rw (or :ro); the text is copied and split. */
static int parse_bind(struct sbx_cli *c, const char *arg)
{
	size_t i = c->spec.nbinds;
	char *t, *colon, *mode;

	if (i >= SBX_CLI_MAX_LIST)
		return -E2BIG;
	t = strdup(arg);
	if (!t)
		return -ENOMEM;
	c->bind_text[i] = t;
	colon = strchr(t, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	mode = strchr(colon + 1, ':');
	if (mode) {
		*mode++ = '\0';
		if (strcmp(mode, "rw") && strcmp(mode, "ro"))
			return -EINVAL;
	}
	if (!*t || !colon[1])
		return -EINVAL;
	c->binds[i] = (struct sbx_bind){ t, colon + 1,
					 mode && !strcmp(mode, "rw") };
	c->spec.nbinds++;
	return 0;
}

static int parse_u(const char *s, uint64_t max, unsigned *out)
{
	uint64_t v;

	if (al_parse_u64(s, max, &v) || v == 0)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* Parse options up to "--"; returns the index of ARGV[0] or -1. */
static int parse_args(struct sbx_cli *c, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool has = true;
		int bad = 0;

		if (!strcmp(o, "--")) {
			if (i + 1 < argc)
				return i + 1;
			sandbox_usage("no command after --", NULL);
			return -1;
		}
		if (!strcmp(o, "--json")) {
			c->json = true;
			continue;
		}
		if (!strncmp(o, "--", 2) && !v) {
			sandbox_usage("option needs a value", o);
			return -1;
		}
		if (!strcmp(o, "--net")) {
			if (!strcmp(v, "none"))
				c->spec.net = SBX_NET_NONE;
			else if (!strcmp(v, "registry"))
				c->spec.net = SBX_NET_REGISTRY;
			else
				bad = 1;
		} else if (!strcmp(o, "--allow")) {
			if (c->nallow >= SBX_CLI_MAX_LIST || !*v)
				bad = 1;
			else
				c->allow[c->nallow++] = v;
		} else if (!strcmp(o, "--proxy-conns")) {
			bad = parse_u(v, SBX_PROXY_MAX_CONNS,
				      &c->spec.proxy_max_conns);
		} else if (!strcmp(o, "--proxy-bytes")) {
			bad = al_parse_size(v, &c->spec.proxy_max_bytes) ||
			      c->spec.proxy_max_bytes == 0;
		} else if (!strcmp(o, "--proxy-idle")) {
			bad = parse_u(v, 86400, &c->spec.proxy_idle_s);
		} else if (!strcmp(o, "--mem")) {
			bad = al_parse_size(v, &c->spec.mem_bytes) ||
			      c->spec.mem_bytes < (4u << 20);
		} else if (!strcmp(o, "--cpus")) {
			bad = parse_cpus(v, &c->spec.cpus_milli);
		} else if (!strcmp(o, "--pids")) {
			bad = parse_u(v, 1u << 20, &c->spec.pids);
		} else if (!strcmp(o, "--disk")) {
			bad = al_parse_size(v, &c->spec.disk_bytes) ||
			      c->spec.disk_bytes < (1u << 20);
		} else if (!strcmp(o, "--timeout")) {
			bad = parse_u(v, 7 * 86400, &c->spec.timeout_s);
		} else if (!strcmp(o, "--bind")) {
			bad = parse_bind(c, v);
		} else if (!strcmp(o, "--workdir")) {
			c->spec.workdir = v;
			bad = v[0] != '/';
		} else if (!strcmp(o, "--image")) {
			c->spec.image = v;
			bad = v[0] != '/';
		} else {
			has = false;
		}
		if (!has) {
			sandbox_usage("unknown option", o);
			return -1;
		}
		if (bad) {
			fprintf(stderr, "airlock sandbox: bad value for %s: "
				"\"%s\"\n", o, v);
			sandbox_usage("invalid option value", o);
			return -1;
		}
		i++;
	}
	sandbox_usage("missing -- before the command", NULL);
	return -1;
}

/* --json: the result and the output, sanitised, as one document. */
static int print_json(const struct sbx_result *r, const char *digest)
{
	json_t *j = sbx_result_json(r);
	char *text = sbx_output_text(r);
	int rc = -ENOMEM;

	if (j && digest[0])
		json_object_set_new(j, "image_digest", json_string(digest));
	if (j && text &&
	    json_object_set_new(j, "output", json_string(text)) == 0 &&
	    json_dumpf(j, stdout, JSON_INDENT(2)) == 0) {
		fputc('\n', stdout);
		rc = 0;
	}
	json_decref(j);
	free(text);
	return rc;
}

/* Ctrl-C or a termination request tears the sandbox down. */
static void sandbox_on_signal(int sig)
{
	(void)sig;
	sbx_cancel_all();
}

static void sandbox_signals(void)
{
	struct sigaction sa = { .sa_handler = sandbox_on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* `airlock sandbox run -- cmd | head` must not kill us mid-run. */
	signal(SIGPIPE, SIG_IGN);
}

static int sandbox_run(struct sbx_cli *c, int argc, char **argv)
{
	struct sbx_result r;
	char why[PATH_MAX + 256], digest[80] = "";
	int first = parse_args(c, argc, argv), rc;

	if (first < 0)
		return CLI_USAGE;
	if (c->spec.net == SBX_NET_REGISTRY && c->nallow == 0)
		return sandbox_usage("--net registry needs at least one "
				     "--allow HOST:PORT", NULL);
	if (c->spec.net == SBX_NET_NONE && c->nallow > 0)
		return sandbox_usage("--allow only applies to --net "
				     "registry", NULL);
#ifdef AL_CLI_CORE
	if (c->spec.image && sbx_image_packed(c->spec.image)) {
		sbx_image_sweep();
		if (sbx_packed_open(c->spec.image, NULL, &c->packed, why,
				    sizeof(why), NULL)) {
			fprintf(stderr, "airlock sandbox: the image was "
				"refused: %s\n", why);
			return CLI_FAILED;
		}
		c->spec.image = c->packed.root;
		snprintf(digest, sizeof(digest), "%s", c->packed.digest);
	} else if (c->spec.image && sbx_image_digest(c->spec.image, digest,
						     sizeof(digest), NULL)) {
		fprintf(stderr, "airlock sandbox: the image %s was refused (the "
			"log line above says why)\n", c->spec.image);
		return CLI_FAILED;
	}
#endif
	c->spec.argv = (const char *const *)argv + first;
	c->spec.env = sbx_cli_env;
	c->spec.binds = c->binds;
	c->spec.allow = c->allow;
	c->spec.host_uid = SBX_DEFAULT_UID;
	c->spec.host_gid = SBX_DEFAULT_GID;
	c->spec.stream_fd = c->json ? -1 : STDOUT_FILENO;
	fflush(stdout);
	sandbox_signals();
	rc = sbx_run(&c->spec, &r);
	/*
	 * sbx_run fails closed at the first control it cannot set up, so
	 * the host check (which probes namespaces by creating them, a
	 * millisecond) runs only to explain a failure.
	 */
	if (rc && rc != -EINVAL && rc != AL_E_INTERRUPTED &&
	    sbx_check_host(why, sizeof(why)) != 0) {
		fprintf(stderr, "airlock sandbox: this host cannot provide "
			"the sandbox: %s\n", why);
		return CLI_FAILED;
	}
	if (rc) {
		fprintf(stderr, "airlock sandbox: %s\n", al_strerror(rc));
		return CLI_FAILED;
	}
	if (c->json && print_json(&r, digest) != 0)
		rc = -ENOMEM;
	if (!c->json && r.kill != SBX_KILL_NONE)
		fprintf(stderr, "airlock sandbox: payload ended: %s\n",
			sbx_kill_name(r.kill));
	for (unsigned i = 0; !c->json && i < r.n_net_attempts; i++)
		fprintf(stderr, "airlock sandbox: the payload tried to reach "
			"%s (refused)\n", r.net_attempts[i]);
	int status = r.exit_code;
	sbx_result_free(&r);
	return rc ? CLI_FAILED : status;
}

int cli_sandbox(int argc, char **argv, const char *home)
{
	struct sbx_cli c;
	int rc;

	(void)home;
	memset(&c, 0, sizeof(c));
	c.spec.stream_fd = -1;
	if (argc >= 2 && (!strcmp(argv[1], "--help") ||
			  !strcmp(argv[1], "-h"))) {
		fputs(sandbox_help, stdout);
		return CLI_OK;
	}
	for (int i = 2; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(sandbox_help, stdout);
			return CLI_OK;
		}
	}
	if (argc < 2 || strcmp(argv[1], "run") != 0)
		return sandbox_usage("expected \"run\"", argc >= 2 ? argv[1] :
				     NULL);
	c.packed.fd = -1;
	rc = sandbox_run(&c, argc - 2, argv + 2);
#ifdef AL_CLI_CORE
	sbx_packed_close(&c.packed, NULL);
#endif
	for (size_t i = 0; i < SBX_CLI_MAX_LIST; i++)
		free(c.bind_text[i]);
	return rc;
}
