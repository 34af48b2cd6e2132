/*
 * detail.c - the job detail view's text, from the job record
 * (schema/job-record.schema.json) and the lines of job.logs: summary,
 * score with its factors, stage timeline, updates, failure report, log.
 * Every line goes through con_lines_add, which makes it inert.
 */
#include <stdio.h>
#include <string.h>

#include "console/internal.h"

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static int64_t num(json_t *o, const char *key, int64_t dflt)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

static enum con_look level_look(const char *level)
{
	if (!strcmp(level, "high"))
		return CON_GOOD;
	if (!strcmp(level, "medium"))
		return CON_WARN;
	return CON_BAD;
}

static enum con_look result_look(const char *r)
{
	if (!strcmp(r, "passed") || !strcmp(r, "succeeded"))
		return CON_GOOD;
	if (!strcmp(r, "failed") || !strcmp(r, "error"))
		return CON_BAD;
	return CON_PLAIN;
}

static void head(struct con_lines *out, json_t *rec, int64_t now)
{
	json_t *m = json_object_get(rec, "sched");
	int64_t c = num(rec, "created_ms", -1), f = num(rec, "finished_ms", -1);
	char dur[32];
	bool running = !strcmp(str(rec, "state"), "running");
	unsigned step = con_step(m, "step"), steps = con_step(m, "steps");

	con_fmt_dur(dur, sizeof(dur), c < 0 ? -1 : (f > 0 ? f : now) - c);
	con_lines_add(out, CON_HEAD, "Job %s  %s  attempt %lld  trigger %s",
		      str(rec, "id"), str(rec, "state"),
		      (long long)num(m, "attempt", 0), str(m, "trigger"));
	con_lines_add(out, CON_PLAIN, "Repository  %s", str(rec, "repo"));
	con_lines_add(out, CON_PLAIN, "Branch      %s   policy %s",
		      json_is_string(json_object_get(rec, "branch"))
			      ? str(rec, "branch") : "(default)",
		      json_is_string(json_object_get(rec, "policy"))
			      ? str(rec, "policy") : "(default)");
	con_lines_add(out, CON_PLAIN, "Duration    %s%s", dur,
		      f > 0 ? "" : " so far");
	if (json_is_string(json_object_get(m, "stage")) && running &&
	    step && steps >= step)
		con_lines_add(out, CON_PLAIN, "Stage       %s (step %u of the "
			      "%u this job runs)", str(m, "stage"), step,
			      steps);
	else if (json_is_string(json_object_get(m, "stage")) && running &&
		 step && !steps)
		con_lines_add(out, CON_PLAIN, "Stage       %s (step %u; how "
			      "many follow is known after the plan)",
			      str(m, "stage"), step);
	else if (json_is_string(json_object_get(m, "stage")))
		con_lines_add(out, CON_PLAIN, "Stage       %s",
			      str(m, "stage"));
	if (json_is_string(json_object_get(m, "reason")))
		con_lines_add(out, CON_WARN, "Reason      %s", str(m, "reason"));
	if (json_is_string(json_object_get(m, "retry_of")))
		con_lines_add(out, CON_PLAIN, "Retry of    %s",
			      str(m, "retry_of"));
}

static void score(struct con_lines *out, json_t *rec)
{
	json_t *sc = json_object_get(rec, "score"), *f;
	size_t i;

	if (!json_is_object(sc))
		return;
	con_lines_add(out, CON_PLAIN, "%s", "");
	con_lines_add(out, level_look(str(sc, "level")), "Score %lld (%s)",
		      (long long)num(sc, "value", 0), str(sc, "level"));
	json_array_foreach(json_object_get(sc, "factors"), i, f)
		con_lines_add(out, num(f, "effect", 0) < 0 ? CON_WARN : CON_PLAIN,
			      "  %+4lld  %-22s %s", (long long)num(f, "effect", 0),
			      str(f, "name"), str(f, "detail"));
}

static void stages(struct con_lines *out, json_t *rec)
{
	json_t *st = json_object_get(rec, "stages"), *s;
	size_t i;
	char dur[32];

	if (!json_array_size(st))
		return;
	con_lines_add(out, CON_PLAIN, "%s", "");
	con_lines_add(out, CON_HEAD, "Stages");
	json_array_foreach(st, i, s) {
		json_t *t = json_object_get(s, "tests");
		char tests[64] = "";

		con_fmt_dur(dur, sizeof(dur), num(s, "duration_ms", -1));
		if (json_is_object(t))
			snprintf(tests, sizeof(tests), "  tests %lld/%lld passed",
				 (long long)num(t, "passed", 0),
				 (long long)num(t, "ran", 0));
		con_lines_add(out, result_look(str(s, "result")),
			      "  %-16s %-8s %8s%s%s%s", str(s, "name"),
			      str(s, "result"), dur, tests,
			      json_object_get(s, "reason") ? "  " : "",
			      str(s, "reason"));
	}
}

/* The release age of update name, from the score's facts. */
static void update_age(json_t *rec, const char *name, char *out, size_t sz)
{
	json_t *ups = json_object_get(json_object_get(rec, "score"), "updates");
	json_t *u;
	size_t i;

	snprintf(out, sz, "-");
	json_array_foreach(ups, i, u) {
		int64_t age = num(json_object_get(u, "signals"), "age_ms", -1);
		if (strcmp(str(u, "name"), name) || age < 0)
			continue;
		if (age >= 86400000)
			snprintf(out, sz, "%lldd", (long long)(age / 86400000));
		else
			snprintf(out, sz, "%lldh", (long long)(age / 3600000));
		return;
	}
}

static void updates(struct con_lines *out, json_t *rec, bool utf8)
{
	json_t *ups = json_object_get(json_object_get(rec, "plan"), "updates");
	json_t *u;
	size_t i;
	char age[16];

	if (!json_is_array(ups))
		return;
	con_lines_add(out, CON_PLAIN, "%s", "");
	con_lines_add(out, CON_HEAD, "Updates (%zu)   name, old %s new, bump, "
		      "kind, release age", json_array_size(ups),
		      utf8 ? "\xe2\x86\x92" : "->");
	json_array_foreach(ups, i, u) {
		bool lock = !strcmp(str(u, "kind"), "lockfile-only");
		update_age(rec, str(u, "name"), age, sizeof(age));
		con_lines_add(out, CON_PLAIN, "  %-28s %-12s %s %-12s %-6s %-13s %s",
			      str(u, "name"),
			      lock ? str(u, "locked") : str(u, "from"),
			      utf8 ? "\xe2\x86\x92" : "->",
			      lock ? str(u, "version") : str(u, "to"),
			      str(u, "bump"), str(u, "kind"), age);
	}
}

static void excerpt(struct con_lines *out, const char *text)
{
	char buf[4200];
	char *save = NULL, *line;

	snprintf(buf, sizeof(buf), "%s", text);
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		con_lines_add(out, CON_DIM, "      %s", line);
}

static void report(struct con_lines *out, json_t *rec)
{
	json_t *rep = json_object_get(rec, "report"), *f, *t;
	json_t *iso = json_object_get(rep, "isolation"), *c;
	size_t i, k;

	if (!json_is_object(rep))
		return;
	con_lines_add(out, CON_PLAIN, "%s", "");
	con_lines_add(out, CON_HEAD, "Failure report");
	json_array_foreach(json_object_get(rep, "failures"), i, f) {
		con_lines_add(out, CON_BAD, "  %s: %s", str(f, "stage"),
			      str(f, "reason"));
		json_array_foreach(json_object_get(json_object_get(f, "tests"),
						   "failing"), k, t)
			con_lines_add(out, CON_BAD, "    failing: %s",
				      json_string_value(t) ? json_string_value(t)
							   : "");
		if (json_is_string(json_object_get(f, "log_excerpt"))) {
			con_lines_add(out, CON_PLAIN, "    log excerpt:");
			excerpt(out, str(f, "log_excerpt"));
		}
	}
	if (json_is_object(iso)) {
		con_lines_add(out, CON_PLAIN, "  isolation: %s after %lld trials",
			      str(iso, "result"), (long long)num(iso, "trials", 0));
		json_array_foreach(json_object_get(iso, "culprits"), i, c)
			con_lines_add(out, CON_BAD, "    culprit %s %s: %s",
				      str(c, "name"), str(c, "to"),
				      str(c, "reason"));
	}
}

static void logs(struct con_lines *out, json_t *log, bool running)
{
	json_t *l;
	size_t i;

	con_lines_add(out, CON_PLAIN, "%s", "");
	con_lines_add(out, CON_HEAD, "Log (%zu lines%s)", json_array_size(log),
		      running ? ", following" : "");
	json_array_foreach(log, i, l)
		con_lines_add(out, CON_PLAIN, "  %5lld  %s",
			      (long long)num(l, "n", 0), str(l, "line"));
}

void con_detail_build(struct con_lines *out, json_t *rec, json_t *log,
		      bool utf8, int64_t now_ms)
{
	const char *state = str(rec, "state");

	con_lines_clear(out);
	head(out, rec, now_ms);
	score(out, rec);
	stages(out, rec);
	updates(out, rec, utf8);
	report(out, rec);
	logs(out, log, !strcmp(state, "running") || !strcmp(state, "queued"));
}
