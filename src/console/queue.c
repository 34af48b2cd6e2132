/*
 * queue.c - the text of the queue view (workers, the queue, schedules)
 * from a `workers` reply, and of the audit view's head from an
 * `audit.head` reply (docs/api.md). Every line goes through
 * con_lines_add, which makes it inert. No drawing, no I/O.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

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

/* The last 8 digits of a job id (its random part), as the table. */
static const char *short_id(const char *id)
{
	size_t n = strlen(id);
	return n > 8 ? id + n - 8 : id;
}

void con_fmt_bytes(char *out, size_t outsz, uint64_t n)
{
	static const char units[] = "KMGT";
	double v = (double)n;
	int u = -1;

	if (n < 1024) {
		snprintf(out, outsz, "%lluB", (unsigned long long)n);
		return;
	}
	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	snprintf(out, outsz, v < 10 && v != (double)(int64_t)v ? "%.1f%c"
							      : "%.0f%c",
		 v, units[u]);
}

/* "2027-01-01 03:30" in local time, and "in 3d" / "in 5m" / "now". */
static void fmt_at(char *out, size_t outsz, int64_t ms, int64_t now_ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char when[32], in[32];
	int64_t left = ms - now_ms;

	if (!localtime_r(&t, &tm) ||
	    !strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm))
		snprintf(when, sizeof(when), "?");
	if (left <= 0)
		snprintf(in, sizeof(in), "due");
	else if (left >= 2 * 86400000)
		snprintf(in, sizeof(in), "%lldd%02lldh",
			 (long long)(left / 86400000),
			 (long long)(left / 3600000 % 24));
	else
		con_fmt_dur(in, sizeof(in), left);
	snprintf(out, outsz, "%s (%s%s)", when, left > 0 ? "in " : "", in);
}

int64_t con_cpu_rate(json_t *w, json_t *prev)
{
	json_t *p, *a = json_object_get(w, "sandbox"), *b;
	size_t i;

	if (!json_is_object(a))
		return -1;
	json_array_foreach(json_object_get(prev, "running"), i, p) {
		if (strcmp(str(p, "id"), str(w, "id")) ||
		    num(p, "pid", -1) != num(w, "pid", -2))
			continue;
		b = json_object_get(p, "sandbox");
		int64_t dt = num(a, "sampled_ms", 0) - num(b, "sampled_ms", 0);
		int64_t du = num(a, "cpu_usec", 0) - num(b, "cpu_usec", 0);
		/* Another sandbox of the worker began meanwhile: its
		 * counter started again from 0. */
		if (!json_is_object(b) || dt <= 0 || du < 0)
			return -1;
		return du / dt; /* usec per ms: milli-CPUs */
	}
	return -1;
}

static void worker_lines(struct con_lines *out, json_t *w, json_t *prev,
			 int64_t now_ms)
{
	json_t *sb = json_object_get(w, "sandbox");
	char stage[64], dur[32], mem[32], max[32], cpu[64];
	int64_t rate = con_cpu_rate(w, prev);

	if (str(w, "stage")[0])
		con_stage_label_json(stage, sizeof(stage), w, true);
	else
		snprintf(stage, sizeof(stage), "starting");
	con_fmt_dur(dur, sizeof(dur), now_ms - num(w, "started_ms", now_ms));
	con_lines_add(out, CON_PLAIN, "  %-9s %-8s  %-22s %8s  attempt %lld%s",
		      str(w, "worker"), short_id(str(w, "id")), stage, dur,
		      (long long)num(w, "attempt", 0),
		      strcmp(str(w, "stop"), "none") ? "  stopping" : "");
	if (!json_is_object(sb)) {
		con_lines_add(out, CON_DIM, "            no sandbox running "
			      "(the worker clones, plans, scores or proposes)");
	} else {
		int64_t lim = num(sb, "cpu_milli", 0);
		uint64_t mb = (uint64_t)num(sb, "mem_bytes", 0);
		uint64_t mm = (uint64_t)num(sb, "mem_max", 0);
		if (rate < 0)
			snprintf(cpu, sizeof(cpu), "cpu  -.-- of %.2f",
				 (double)lim / 1000);
		else
			snprintf(cpu, sizeof(cpu), "cpu %5.2f of %.2f (%lld%%)",
				 (double)rate / 1000, (double)lim / 1000,
				 lim ? (long long)(rate * 100 / lim) : 0ll);
		con_fmt_bytes(mem, sizeof(mem), mb);
		con_fmt_bytes(max, sizeof(max), mm);
		con_lines_add(out, mm && mb * 10 >= mm * 9 ? CON_WARN : CON_PLAIN,
			      "            %-24s  mem %s of %s (%llu%%)  pids %lld "
			      "of %lld", cpu, mem, mm ? max : "no limit",
			      mm ? (unsigned long long)(mb * 100 / mm) : 0ull,
			      (long long)num(sb, "pids", 0),
			      (long long)num(sb, "pids_max", 0));
	}
	con_lines_add(out, CON_DIM, "            %s", str(w, "repo"));
}

static void queued_lines(struct con_lines *out, json_t *res, int64_t now_ms)
{
	json_t *q = json_object_get(res, "queued"), *j;
	size_t i;
	char due[64];

	con_lines_add(out, CON_PLAIN, "%s", "");
	con_lines_add(out, CON_HEAD, "Queued: %lld%s", (long long)num(res,
		      "queued_total", 0), json_array_size(q) <
		      (size_t)num(res, "queued_total", 0) ? " (the first shown)"
							 : "");
	if (json_array_size(q))
		con_lines_add(out, CON_DIM, "  %-8s  %3s  %-33s %-7s %s", "JOB",
			      "PRI", "DUE", "ATTEMPT", "REPOSITORY");
	json_array_foreach(q, i, j) {
		int64_t d = num(j, "due_ms", 0);
		if (d <= now_ms)
			snprintf(due, sizeof(due), "now (when a worker is free)");
		else
			fmt_at(due, sizeof(due), d, now_ms);
		con_lines_add(out, CON_PLAIN, "  %-8s  %3lld  %-33s %7lld %s",
			      short_id(str(j, "id")),
			      (long long)num(j, "priority", 0), due,
			      (long long)num(j, "attempt", 0), str(j, "repo"));
	}
}

static void schedule_lines(struct con_lines *out, json_t *res,
			   int64_t now_ms)
{
	json_t *sc = json_object_get(res, "schedules"), *s;
	size_t i;
	char next[64];

	con_lines_add(out, CON_PLAIN, "%s", "");
	con_lines_add(out, CON_HEAD, "Schedules: %zu", json_array_size(sc));
	if (json_array_size(sc))
		con_lines_add(out, CON_DIM, "  %-33s %-16s %-14s %s", "NEXT",
			      "ZONE", "SPEC", "REPOSITORY");
	json_array_foreach(sc, i, s) {
		if (json_is_integer(json_object_get(s, "next_ms")))
			fmt_at(next, sizeof(next), num(s, "next_ms", 0), now_ms);
		else
			snprintf(next, sizeof(next), "never");
		con_lines_add(out, CON_PLAIN, "  %-33s %-16s %-14s %s", next,
			      str(s, "tz"), str(s, "spec"), str(s, "repo"));
	}
}

void con_queue_build(struct con_lines *out, json_t *res, json_t *prev,
		     int64_t now_ms)
{
	json_t *run = json_object_get(res, "running"), *w;
	size_t i;

	con_lines_clear(out);
	if (!res) {
		con_lines_add(out, CON_DIM, "reading the queue...");
		return;
	}
	con_lines_add(out, CON_HEAD, "Workers: %zu of %lld busy",
		      json_array_size(run), (long long)num(res, "max", 0));
	json_array_foreach(run, i, w)
		worker_lines(out, w, prev, now_ms);
	queued_lines(out, res, now_ms);
	schedule_lines(out, res, now_ms);
}

/* The first problem of a report, for one line. */
static const char *first_problem(json_t *head)
{
	return str(json_array_get(json_object_get(head, "problems"), 0),
		   "what");
}

void con_head_build(struct con_lines *out, json_t *head, int64_t now_ms)
{
	json_t *cp = json_object_get(head, "checkpoint");
	json_t *ex = json_object_get(head, "export");
	json_t *ck = json_object_get(head, "checked");
	json_t *vf = json_object_get(head, "verified");
	char when[64];

	con_lines_clear(out);
	if (!head) {
		con_lines_add(out, CON_DIM, "Chain: reading...");
		return;
	}
	if (json_is_true(json_object_get(head, "ok")) &&
	    json_is_true(json_object_get(ck, "linked")))
		con_lines_add(out, CON_GOOD, "Chain: intact from the last "
			      "checkpoint to the head, seq %lld (%lld entries "
			      "checked)", (long long)num(json_object_get(head,
			      "head"), "seq", 0), (long long)num(ck, "entries", 0));
	else if (json_is_true(json_object_get(head, "ok")))
		con_lines_add(out, CON_GOOD, "Chain: the newest %lld entries, to "
			      "seq %lld, are intact (more since the last "
			      "checkpoint than are checked)",
			      (long long)num(ck, "entries", 0),
			      (long long)num(json_object_get(head, "head"), "seq",
					     0));
	else
		con_lines_add(out, CON_BAD, "Chain: BROKEN (%lld problems): %s",
			      (long long)num(head, "nproblems", 0),
			      first_problem(head));
	if (json_is_object(cp))
		con_lines_add(out, CON_PLAIN, "Last checkpoint: #%lld at seq %lld,"
			      " signed %s, key %s", (long long)num(cp, "n", 0),
			      (long long)num(cp, "seq", 0), str(cp, "time"),
			      str(cp, "key"));
	else
		con_lines_add(out, CON_WARN, "Last checkpoint: none yet");
	if (json_is_object(ex))
		con_lines_add(out, CON_PLAIN, "Last export: #%lld, seq %lld to "
			      "%lld, %s", (long long)num(ex, "n", 0),
			      (long long)num(ex, "first", 0),
			      (long long)num(ex, "last", 0), str(ex, "time"));
	else
		con_lines_add(out, CON_PLAIN, "Last export: none");
	if (json_is_object(vf)) {
		con_fmt_when(when, sizeof(when), num(vf, "time_ms", 0), now_ms);
		con_lines_add(out, json_is_true(json_object_get(vf, "ok"))
				   ? CON_PLAIN : CON_BAD,
			      "Last full verification: %s, %lld entries, %s by %s",
			      json_is_true(json_object_get(vf, "ok")) ? "ok"
								       : "FAILED",
			      (long long)num(vf, "entries", 0), when,
			      str(vf, "actor"));
	} else {
		con_lines_add(out, CON_DIM, "Last full verification: none since "
			      "the daemon started (airlock audit verify)");
	}
}
