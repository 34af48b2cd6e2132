/*
 * cmd_job.c - `airlock job ...` and `airlock status`: clients of the
 * daemon's control API (docs/api.md). Each command is one call, but
 * `job logs --follow`, which also subscribes to the job's events.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/client.h"
#include "base/err.h"
#include "base/util.h"
#include "cli/cli.h"

#define CLI_CALL_MS 30000
/* Verifying or exporting a large log takes longer than a plain call. */
#define CLI_LONG_CALL_MS 600000

static const char cli_job_help[] =
	"usage: airlock job COMMAND [ARGS...] [--json] [--home DIR]\n"
	"\n"
	"Talk to the daemon (airlockd) over HOME/airlockd.sock.\n"
	"\n"
	"  enqueue REPO [--branch B] [--policy patch|minor|major]\n"
	"               [--test-cmd CMD] [--priority 0-255]\n"
	"                    queue an update job (a request joins a job\n"
	"                    queued for the repository with the same branch,\n"
	"                    policy and test command)\n"
	"  list [--state S] [--limit N]\n"
	"                    jobs, newest first (S: queued, running, succeeded,\n"
	"                    failed, cancelled or all; default all, 50 shown);\n"
	"                    AGE since the job was queued, TOOK from its start\n"
	"                    to its end (or until now)\n"
	"  show ID           a job's record: stages, updates, score, report\n"
	"  cancel ID         cancel a queued job, or stop a running one\n"
	"  retry ID          queue a failed or cancelled job again\n"
	"  logs ID [--follow]\n"
	"                    the job's progress lines; --follow waits for new\n"
	"                    ones until the job ends, then prints\n"
	"                    \"-- job ID STATE\"\n"
	"\n"
	"  --json            print the daemon's answer as JSON\n"
	"Exit status: 0 done, 1 the daemon failed or cannot be reached,\n"
	"2 bad usage, or no such job, or a job in the wrong state.\n";

static const char cli_status_help[] =
	"usage: airlock status [--json] [--home DIR]\n"
	"\n"
	"The daemon's state: version, uptime, workers busy, queued and\n"
	"running jobs, control API connections.\n";

struct cli_job_args {
	const char *home;
	const char *cmd;
	const char *operand;
	const char *branch;
	const char *policy;
	const char *test_cmd;
	const char *state;
	long priority;
	long limit;
	bool json;
	bool follow;
};

static int cli_connect(const char *home, struct api_client **c)
{
	char path[PATH_MAX];
	int rc = api_socket_path(home, path, sizeof(path));

	if (rc == 0)
		rc = api_client_connect(path, c);
	if (rc == -EACCES || rc == -EPERM)
		/* The daemon may well run: this user is not let in. */
		fprintf(stderr, "airlock: not allowed to use airlockd's socket "
			"%s: %s (it is open to root and to the group named by "
			"socket_group in airlock.conf)\n", path,
			al_strerror(rc));
	else if (rc)
		fprintf(stderr, "airlock: cannot reach airlockd at %s: %s (is "
			"the daemon running on this home? `systemctl status "
			"airlockd`, or `airlockd --home %s`)\n", path,
			al_strerror(rc), home);
	return rc;
}

int cli_call(const char *home, const char *method, json_t *params,
		    int timeout_ms, json_t **result)
{
	struct api_client *c = NULL;
	struct api_err err = {0};
	int rc;

	*result = NULL;
	if (cli_connect(home, &c)) {
		json_decref(params);
		return CLI_FAILED;
	}
	rc = api_client_call(c, method, params, timeout_ms, result, &err);
	api_client_close(c);
	if (rc == -EREMOTEIO) {
		al_sanitize_text(err.message);
		fprintf(stderr, "airlock: %s\n", err.message);
		return err.code == API_E_NOTFOUND || err.code == API_E_PARAMS ||
				       err.code == API_E_CONFLICT
			       ? CLI_USAGE
			       : CLI_FAILED;
	}
	if (rc) {
		fprintf(stderr, "airlock: %s: no answer from airlockd: %s\n",
			method, al_strerror(rc));
		return CLI_FAILED;
	}
	return CLI_OK;
}

/*
 * JSON for a terminal: everything past ASCII as \u escapes. A job's
 * record holds text from outside (a repository's URL, a test command)
 * that may carry C1 controls (U+009B is CSI) or bidirectional
 * overrides; raw, they would act on the terminal of whoever reads it,
 * also through the SSH admin shell, which passes stdout on as it is.
 */
void cli_json_out(json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_SORT_KEYS |
				      JSON_ENSURE_ASCII);
	printf("\n");
}

static void cli_time(char *out, size_t outsz, json_t *ms)
{
	time_t t = (time_t)(json_integer_value(ms) / 1000);
	struct tm tm;

	if (!json_is_integer(ms) || !gmtime_r(&t, &tm))
		snprintf(out, outsz, "-");
	else
		strftime(out, outsz, "%Y-%m-%d %H:%M:%S", &tm);
}

/* A span of ms in at most 6 columns: 42s, 3m07s, 5h02m, 12d04h. */
static void cli_span(char *out, size_t outsz, int64_t ms)
{
	long long s = ms < 0 ? 0 : (long long)(ms / 1000);

	if (s < 60)
		snprintf(out, outsz, "%llds", s);
	else if (s < 3600)
		snprintf(out, outsz, "%lldm%02llds", s / 60, s % 60);
	else if (s < 100 * 3600)
		snprintf(out, outsz, "%lldh%02lldm", s / 3600, s / 60 % 60);
	else
		snprintf(out, outsz, "%lldd%02lldh", s / 86400, s / 3600 % 24);
}

/* An age in at most 4 columns: 42s, 17m, 5h, 12d. */
static void cli_age(char *out, size_t outsz, json_t *from, int64_t now)
{
	long long s;

	if (!json_is_integer(from)) {
		snprintf(out, outsz, "-");
		return;
	}
	s = (long long)((now - json_integer_value(from)) / 1000);
	s = s < 0 ? 0 : s;
	if (s < 60)
		snprintf(out, outsz, "%llds", s);
	else if (s < 3600)
		snprintf(out, outsz, "%lldm", s / 60);
	else if (s < 48 * 3600)
		snprintf(out, outsz, "%lldh", s / 3600);
	else
		snprintf(out, outsz, "%lldd", s / 86400);
}

/*
 * One row of `job list`, within 80 columns: the repository is cut to
 * what is left, keeping its end (owner and name), with "...".
 */
#define CLI_LIST_WIDTH 80
#define CLI_LIST_FIXED 66 /* the columns before REPOSITORY */

static void cli_job_row(json_t *j, int64_t now)
{
	char age[16], took[16], score[16], ups[16], stage[32];
	char repo[1024];
	json_t *started = json_object_get(j, "started_ms");
	json_t *finished = json_object_get(j, "finished_ms");
	const char *st = cli_str(j, "stage");
	size_t n, room = CLI_LIST_WIDTH - CLI_LIST_FIXED;

	cli_age(age, sizeof(age), json_object_get(j, "created_ms"), now);
	if (!json_is_integer(started))
		snprintf(took, sizeof(took), "-");
	else
		cli_span(took, sizeof(took),
			 (json_is_integer(finished) ? json_integer_value(finished)
						    : now) -
				 json_integer_value(started));
	if (json_is_integer(json_object_get(j, "score")))
		snprintf(score, sizeof(score), "%lld",
			 json_integer_value(json_object_get(j, "score")));
	else
		snprintf(score, sizeof(score), "-");
	if (json_is_integer(json_object_get(j, "updates")))
		snprintf(ups, sizeof(ups), "%lld",
			 json_integer_value(json_object_get(j, "updates")));
	else
		snprintf(ups, sizeof(ups), "-");
	/* "baseline-install" and the like: the tree, shortened. */
	snprintf(stage, sizeof(stage), "%s%s",
		 strncmp(st, "baseline-", 9) ? "" : "base-",
		 *st ? st + (strncmp(st, "baseline-", 9) ? 0 : 9) : "-");
	al_sanitize_text(stage);
	al_strlcpy(repo, cli_str(j, "repo"), sizeof(repo));
	al_sanitize_text(repo);
	n = strlen(repo);
	char *shown = n > room ? repo + n - (room - 3) : repo;
	al_utf8_repair(shown, strlen(shown)); /* a character cut in two */
	printf("%-20s %-9s %-12.12s %5s %3s %4s %6s %s%s\n", cli_str(j, "id"),
	       cli_str(j, "state"), stage, score, ups, age, took,
	       n > room ? "..." : "", shown);
}

static int cli_job_list(const struct cli_job_args *a)
{
	json_t *params = json_object(), *res = NULL, *jobs;
	long limit = a->limit >= 0 ? a->limit : 50;
	int rc;

	if (a->state)
		json_object_set_new(params, "state", json_string(a->state));
	json_object_set_new(params, "limit", json_integer(limit));
	if ((rc = cli_call(a->home, "job.list", params, CLI_CALL_MS, &res)))
		return rc;
	jobs = json_object_get(res, "jobs");
	if (a->json) {
		cli_json_out(res);
	} else if (json_array_size(jobs) == 0) {
		printf("no jobs%s%s\n", a->state ? " in state " : "",
		       a->state ? a->state : "");
	} else {
		int64_t now = al_wall_ms();
		printf("%-20s %-9s %-12s %5s %3s %4s %6s %s\n", "ID", "STATE",
		       "STAGE", "SCORE", "UPD", "AGE", "TOOK", "REPOSITORY");
		/* The daemon lists oldest first; people want the newest. */
		for (size_t i = json_array_size(jobs); i > 0; i--)
			cli_job_row(json_array_get(jobs, i - 1), now);
	}
	json_decref(res);
	return CLI_OK;
}

static int cli_job_enqueue(const struct cli_job_args *a)
{
	char abs[PATH_MAX];
	const char *repo = a->operand;
	json_t *res = NULL, *params;
	int rc;

	/* A path means the caller's path: the daemon runs elsewhere. */
	if (!strstr(repo, "://")) {
		if (!realpath(repo, abs)) {
			fprintf(stderr, "airlock job enqueue: repository path "
				"'%s': %s\n", repo, strerror(errno));
			return CLI_USAGE;
		}
		repo = abs;
	}
	params = json_pack("{s:s}", "repo", repo);
	if (a->branch)
		json_object_set_new(params, "branch", json_string(a->branch));
	if (a->policy)
		json_object_set_new(params, "policy", json_string(a->policy));
	if (a->test_cmd)
		json_object_set_new(params, "test_cmd",
				    json_string(a->test_cmd));
	if (a->priority >= 0)
		json_object_set_new(params, "priority",
				    json_integer(a->priority));
	if ((rc = cli_call(a->home, "job.enqueue", params, CLI_CALL_MS, &res)))
		return rc;
	if (a->json)
		cli_json_out(res);
	else
		printf("%s job %s\n",
		       json_is_true(json_object_get(res, "joined"))
			       ? "joined the queued"
			       : "queued",
		       cli_str(res, "id"));
	json_decref(res);
	return CLI_OK;
}

/* A running job's stage in 16 columns, its place first ("5/9 install",
 * "1/? clone" before the plan is known), as the console shows it. */
static void cli_put_stage(json_t *j)
{
	json_int_t step = json_integer_value(json_object_get(j, "step"));
	json_int_t steps = json_integer_value(json_object_get(j, "steps"));
	const char *st = *cli_str(j, "stage") ? cli_str(j, "stage") : "-";
	char buf[64];

	if (step > 0 && steps >= step && steps < 10000)
		snprintf(buf, sizeof(buf), "%lld/%lld %s", (long long)step,
			 (long long)steps, st);
	else if (step > 0 && step < 10000 && steps == 0)
		snprintf(buf, sizeof(buf), "%lld/? %s", (long long)step, st);
	else
		snprintf(buf, sizeof(buf), "%s", st);
	cli_put(buf, 16);
}

/* " (stage install, step 5 of 9)": the running stage and its place
 * among the stages this job runs, the total once the plan is known. */
static void cli_job_stage(json_t *m)
{
	json_int_t step = json_integer_value(json_object_get(m, "step"));
	json_int_t steps = json_integer_value(json_object_get(m, "steps"));

	printf(" (stage ");
	cli_put(cli_str(m, "stage"), 0);
	if (step > 0 && steps >= step)
		printf(", step %lld of %lld", (long long)step,
		       (long long)steps);
	else if (step > 0 && steps == 0)
		printf(", step %lld", (long long)step);
	printf(")");
}

static void cli_job_header(json_t *rec)
{
	json_t *m = json_object_get(rec, "sched");
	char created[32];

	cli_time(created, sizeof(created), json_object_get(rec, "created_ms"));
	printf("job %s: %s", cli_str(rec, "id"), cli_str(rec, "state"));
	if (*cli_str(m, "stage") && !strcmp(cli_str(rec, "state"), "running"))
		cli_job_stage(m);
	printf("\ncreated %s UTC, attempt %lld of %lld, trigger %s\n",
	       created, json_integer_value(json_object_get(m, "attempt")),
	       json_integer_value(json_object_get(m, "max_attempts")) +
		       json_integer_value(json_object_get(m, "requeues")),
	       cli_str(m, "trigger"));
	if (*cli_str(m, "reason")) {
		printf("reason: ");
		cli_put(cli_str(m, "reason"), 0);
		printf("\n");
	}
	if (json_is_true(json_object_get(m, "cancel")))
		printf("cancel requested\n");
	printf("\n");
}

static int cli_job_id_call(const struct cli_job_args *a, const char *method,
			   json_t **res)
{
	return cli_call(a->home, method,
			json_pack("{s:s}", "id", a->operand), CLI_CALL_MS, res);
}

static int cli_job_show(const struct cli_job_args *a)
{
	json_t *rec = NULL;
	int rc = cli_job_id_call(a, "job.show", &rec);

	if (rc)
		return rc;
	if (a->json) {
		cli_json_out(rec);
	} else {
		cli_job_header(rec);
		cli_print_summary(rec);
		printf("\n");
	}
	json_decref(rec);
	return CLI_OK;
}

static int cli_job_cancel_retry(const struct cli_job_args *a)
{
	bool cancel = !strcmp(a->cmd, "cancel");
	json_t *res = NULL;
	int rc = cli_job_id_call(a, cancel ? "job.cancel" : "job.retry", &res);

	if (rc)
		return rc;
	if (a->json)
		cli_json_out(res);
	else if (cancel && !strcmp(cli_str(res, "state"), "running"))
		printf("job %s: cancel requested; the job stops now\n",
		       a->operand);
	else if (cancel)
		printf("job %s: %s\n", a->operand, cli_str(res, "state"));
	else
		printf("job %s queued as job %s\n", a->operand,
		       cli_str(res, "id"));
	json_decref(res);
	return CLI_OK;
}

static void cli_log_line(json_t *l, bool json)
{
	char when[40];
	time_t t;
	struct tm tm;
	int64_t ms = json_integer_value(json_object_get(l, "time"));

	if (json) {
		json_dumpf(l, stdout, JSON_COMPACT | JSON_SORT_KEYS |
					      JSON_ENSURE_ASCII);
		printf("\n");
		return;
	}
	t = (time_t)(ms / 1000);
	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
	else
		snprintf(when, sizeof(when), "-");
	printf("%s.%03lld  ", when, (long long)(ms % 1000));
	cli_put(cli_str(l, "line"), 0);
	printf("\n");
}

static bool cli_final(const char *state)
{
	return !strcmp(state, "succeeded") || !strcmp(state, "failed") ||
	       !strcmp(state, "cancelled");
}

/* Print lines after *last; the job's state into state. */
static int cli_logs_page(struct api_client *c, const struct cli_job_args *a,
			 uint32_t *last, char *state, size_t statesz)
{
	struct api_err err = {0};
	json_t *res = NULL, *l;
	size_t i;
	int rc;

	do {
		rc = api_client_call(c, "job.logs",
				     json_pack("{s:s,s:I}", "id", a->operand,
					       "after", (json_int_t)*last),
				     CLI_CALL_MS, &res, &err);
		if (rc == -EREMOTEIO) {
			al_sanitize_text(err.message);
			fprintf(stderr, "airlock: %s\n", err.message);
			return err.code == API_E_NOTFOUND ||
					       err.code == API_E_PARAMS
				       ? CLI_USAGE
				       : CLI_FAILED;
		}
		if (rc) {
			fprintf(stderr, "airlock: job.logs: %s\n",
				al_strerror(rc));
			return CLI_FAILED;
		}
		json_array_foreach(json_object_get(res, "lines"), i, l)
			cli_log_line(l, a->json);
		al_strlcpy(state, cli_str(res, "state"), statesz);
		bool more = json_array_size(json_object_get(res, "lines")) > 0;
		*last = (uint32_t)json_integer_value(json_object_get(res,
								     "next"));
		json_decref(res);
		res = NULL;
		if (!more)
			break;
	} while (1);
	fflush(stdout);
	return CLI_OK;
}

/*
 * The job's lines so far, then (--follow) new ones as the daemon
 * publishes them, until the job ends. Subscribing first and reading
 * the backlog after loses no line between the two.
 */
static int cli_job_logs(const struct cli_job_args *a)
{
	static const char *const topics[] = {"job"};
	struct api_client *c = NULL;
	struct api_err err = {0};
	char state[32] = "";
	uint32_t last = 0;
	json_t *ev = NULL;
	int rc;

	if (cli_connect(a->home, &c))
		return CLI_FAILED;
	if (a->follow &&
	    api_client_subscribe(c, topics, 1, CLI_CALL_MS, &err) != 0) {
		fprintf(stderr, "airlock: cannot follow the job: %s\n",
			err.message);
		api_client_close(c);
		return CLI_FAILED;
	}
	rc = cli_logs_page(c, a, &last, state, sizeof(state));
	while (rc == CLI_OK && a->follow && !cli_final(state)) {
		int e = api_client_next(c, -1, &ev, &err);
		if (e) {
			fprintf(stderr, "airlock: the daemon went away while "
				"following the job (%s)\n", e == -EREMOTEIO
				? err.message : al_strerror(e));
			rc = CLI_FAILED;
			break;
		}
		json_t *data = json_object_get(ev, "data");
		const char *name = cli_str(ev, "event");
		if (!strcmp(cli_str(data, "id"), a->operand) &&
		    (!strcmp(name, "job.log") || !strcmp(name, "job.state")))
			rc = cli_logs_page(c, a, &last, state, sizeof(state));
		else if (!strcmp(name, "lost"))
			rc = cli_logs_page(c, a, &last, state, sizeof(state));
		json_decref(ev);
		ev = NULL;
	}
	/* Say why the lines stopped: the job ended. */
	if (rc == CLI_OK && a->follow && !a->json)
		printf("-- job %s %s\n", a->operand, state);
	api_client_close(c);
	return rc;
}

static int cli_job_args(int argc, char **argv, struct cli_job_args *a)
{
	static const struct option opts[] = {
		{"branch", required_argument, NULL, 'b'},
		{"policy", required_argument, NULL, 'p'},
		{"test-cmd", required_argument, NULL, 't'},
		{"priority", required_argument, NULL, 'P'},
		{"state", required_argument, NULL, 's'},
		{"limit", required_argument, NULL, 'l'},
		{"follow", no_argument, NULL, 'f'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint64_t n;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b': a->branch = optarg; break;
		case 'p': a->policy = optarg; break;
		case 't': a->test_cmd = optarg; break;
		case 's': a->state = optarg; break;
		case 'f': a->follow = true; break;
		case 'j': a->json = true; break;
		case 'h': fputs(cli_job_help, stdout); return -1;
		case 'P':
		case 'l':
			if (al_parse_u64(optarg, c == 'P' ? 255 : 1000000,
					 &n)) {
				fprintf(stderr, "airlock job: --%s takes a "
					"number (%s)\n", c == 'P' ? "priority"
					: "limit", c == 'P' ? "0 to 255"
					: "0 for all");
				return CLI_USAGE;
			}
			if (c == 'P')
				a->priority = (long)n;
			else
				a->limit = (long)n;
			break;
		default: fputs(cli_job_help, stderr); return CLI_USAGE;
		}
	}
	if (optind >= argc) {
		fputs(cli_job_help, stderr);
		return CLI_USAGE;
	}
	a->cmd = argv[optind++];
	if (optind < argc)
		a->operand = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "airlock job %s: unexpected argument '%s'\n",
			a->cmd, argv[optind]);
		return CLI_USAGE;
	}
	return 0;
}

int cli_job(int argc, char **argv, const char *home)
{
	struct cli_job_args a = {.home = home, .priority = -1, .limit = -1};
	int rc = cli_job_args(argc, argv, &a);
	bool wants_operand;

	if (rc)
		return rc < 0 ? CLI_OK : rc;
	wants_operand = strcmp(a.cmd, "list") != 0;
	if (wants_operand != (a.operand != NULL)) {
		fprintf(stderr, "airlock job %s: %s\n", a.cmd,
			wants_operand ? "missing its operand (see airlock job "
					"--help)"
				      : "takes no operand");
		return CLI_USAGE;
	}
	if (!strcmp(a.cmd, "list"))
		return cli_job_list(&a);
	if (!strcmp(a.cmd, "enqueue"))
		return cli_job_enqueue(&a);
	if (!strcmp(a.cmd, "show"))
		return cli_job_show(&a);
	if (!strcmp(a.cmd, "cancel") || !strcmp(a.cmd, "retry"))
		return cli_job_cancel_retry(&a);
	if (!strcmp(a.cmd, "logs"))
		return cli_job_logs(&a);
	fprintf(stderr, "airlock job: unknown command '%s' (enqueue, list, "
		"show, cancel, retry, logs)\n", a.cmd);
	return CLI_USAGE;
}

int cli_status(int argc, char **argv, const char *home)
{
	json_t *res = NULL, *w, *q, *j;
	size_t i;
	int rc;

	for (int k = 1; k < argc; k++) {
		if (!strcmp(argv[k], "--help")) {
			fputs(cli_status_help, stdout);
			return CLI_OK;
		}
		if (strcmp(argv[k], "--json")) {
			fputs(cli_status_help, stderr);
			return CLI_USAGE;
		}
	}
	if ((rc = cli_call(home, "status", NULL, CLI_CALL_MS, &res)))
		return rc;
	if (argc > 1) {
		cli_json_out(res);
		json_decref(res);
		return CLI_OK;
	}
	w = json_object_get(res, "workers");
	q = json_object_get(res, "queue");
	printf("airlockd %s, pid %lld, up %llds, home %s\n",
	       cli_str(res, "version"),
	       json_integer_value(json_object_get(res, "pid")),
	       json_integer_value(json_object_get(res, "uptime_s")),
	       cli_str(res, "home"));
	printf("workers: %lld of %lld busy; %lld jobs queued; %lld "
	       "schedules\n",
	       json_integer_value(json_object_get(w, "running")),
	       json_integer_value(json_object_get(w, "max")),
	       json_integer_value(json_object_get(q, "queued")),
	       json_integer_value(json_object_get(res, "schedules")));
	json_array_foreach(json_object_get(q, "running"), i, j) {
		printf("  running %s  ", cli_str(j, "id"));
		cli_put_stage(j);
		printf("  ");
		cli_put(cli_str(j, "repo"), 0);
		printf("\n");
	}
	json_decref(res);
	return CLI_OK;
}
