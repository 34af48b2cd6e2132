/*
 * model.c - the jobs the console holds (internal.h): rows built from
 * the daemon's summaries and events, the filter, the sort. No drawing
 * and no I/O, so that it can be tested alone.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "console/internal.h"

static const char *const con_states[] = {"queued", "running", "succeeded",
					 "failed", "cancelled", NULL};
static const char *const con_levels[] = {"high", "medium", "low", NULL};

/* Make s inert: invalid UTF-8 and controls replaced, and tabs too
 * (al_sanitize_text keeps them; on a screen they move the cursor). */
static void con_inert(char *s)
{
	al_utf8_repair(s, strlen(s));
	al_sanitize_text(s);
	for (; *s; s++)
		if (*s == '\t')
			*s = ' ';
}

char *con_safe_dup(const char *s)
{
	char *d = strdup(s ? s : "");

	if (d)
		con_inert(d);
	return d;
}

/* Copy a short string from a job into a fixed field, made inert. */
static void safe_copy(char *out, size_t outsz, const char *s)
{
	al_strlcpy(out, s ? s : "", outsz);
	con_inert(out);
}

unsigned con_step(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;

	return n > 0 && n <= CON_STEP_MAX ? (unsigned)n : 0;
}

void con_stage_label(char *out, size_t outsz, const char *stage,
		     bool running, unsigned step, unsigned steps)
{
	const char *name = stage && *stage ? stage : "-";

	if (running && stage && *stage && step && steps >= step)
		snprintf(out, outsz, "%u/%u %s", step, steps, name);
	else if (running && stage && *stage && step && !steps)
		snprintf(out, outsz, "%u/? %s", step, name);
	else
		snprintf(out, outsz, "%s", name);
}

void con_stage_label_json(char *out, size_t outsz, json_t *o,
			  bool running)
{
	char name[32];

	safe_copy(name, sizeof(name),
		  json_string_value(json_object_get(o, "stage")));
	con_stage_label(out, outsz, name, running, con_step(o, "step"),
			con_step(o, "steps"));
}

static const char *const con_col_apis[] = {
#define CON_X_API(e, h, s, api) api,
	CON_COL_TABLE(CON_X_API)
#undef CON_X_API
};

const char *con_col_api(enum con_col c)
{
	return c < CON_COL__COUNT ? con_col_apis[c] : "id";
}

void con_jobs_reset(struct con_jobs *j)
{
	for (size_t i = 0; i < j->n; i++) {
		free(j->v[i].repo);
		free(j->v[i].repo_raw);
	}
	j->n = 0;
	j->next[0] = '\0';
	j->newest[0] = '\0';
	j->end = false;
	j->scanned = 0;
	json_decref(j->cursor);
	j->cursor = NULL;
	free(j->bound.repo);
	free(j->bound.repo_raw);
	j->bound.repo = j->bound.repo_raw = NULL;
	j->has_bound = false;
}

void con_jobs_free(struct con_jobs *j)
{
	con_jobs_reset(j);
	free(j->v);
	j->v = NULL;
	j->cap = 0;
}

static bool word_in(const char *w, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (!strcmp(w, list[i]))
			return true;
	return false;
}

void con_filter_parse(struct con_filter *f, const char *text)
{
	char buf[sizeof(f->text)];
	char *save = NULL, *w;

	memset(f, 0, sizeof(*f));
	al_strlcpy(f->text, text, sizeof(f->text));
	al_strlcpy(buf, text, sizeof(buf));
	for (w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (word_in(w, con_states))
			al_strlcpy(f->state, w, sizeof(f->state));
		else if (word_in(w, con_levels))
			al_strlcpy(f->level, w, sizeof(f->level));
		else if (!f->match[0])
			al_strlcpy(f->match, w, sizeof(f->match));
	}
}

bool con_filter_empty(const struct con_filter *f)
{
	return !f->state[0] && !f->level[0] && !f->match[0];
}

/* A copy of s with ASCII letters lowered, into buf when it fits. */
static char *ascii_lower(const char *s, char *buf, size_t bufsz)
{
	size_t n = strlen(s);
	char *d = n < bufsz ? buf : malloc(n + 1);

	for (size_t i = 0; d && i <= n; i++)
		d[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
	return d;
}

/*
 * strcasestr as the daemon's (sched/index.c) works, in the C locale:
 * ASCII letters in any case, every other byte as itself. The console
 * runs in the operator's locale, whose case rules (a Turkish I, a
 * Latin-1 byte) would make it hold a job the daemon's filter hides or
 * drop one it shows. strstr on lowered copies stays linear.
 */
static bool ascii_casestr(const char *hay, const char *needle)
{
	char hb[512], nb[sizeof(((struct con_filter *)0)->match)];
	char *h = ascii_lower(hay, hb, sizeof(hb));
	char *n = ascii_lower(needle, nb, sizeof(nb));
	bool found = h && n && strstr(h, n);

	if (h != hb)
		free(h);
	if (n != nb)
		free(n);
	return found;
}

bool con_filter_wants(const struct con_filter *f, const struct con_job *job,
		      json_t *names, bool unknown)
{
	/* The daemon looks in the repository as the job has it, not in
	 * the copy made inert for the screen. */
	const char *repo = job->repo_raw ? job->repo_raw : job->repo;
	json_t *v;
	size_t i;

	if (f->state[0] && strcmp(f->state, job->state))
		return false;
	if (f->level[0] && strcmp(f->level, job->level))
		return false;
	if (!f->match[0] || ascii_casestr(repo ? repo : "", f->match) ||
	    ascii_casestr(job->id, f->match))
		return true;
	json_array_foreach(names, i, v)
		if (json_string_value(v) &&
		    ascii_casestr(json_string_value(v), f->match))
			return true;
	return unknown;
}

bool con_jobs_indexed(const struct con_jobs *j)
{
	return !con_filter_empty(&j->filter) || j->sort != CON_COL_ID ||
	       !j->descending;
}

struct con_job *con_jobs_find(struct con_jobs *j, const char *id)
{
	for (size_t i = 0; i < j->n; i++)
		if (!strcmp(j->v[i].id, id))
			return &j->v[i];
	return NULL;
}

static int64_t jint(json_t *o, const char *k, int64_t dflt)
{
	json_t *v = json_object_get(o, k);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

/* Update row from the members of o that are there (summary or event). */
static void job_apply(struct con_job *row, json_t *o)
{
	json_t *v;

	if ((v = json_object_get(o, "state")) && json_is_string(v))
		safe_copy(row->state, sizeof(row->state), json_string_value(v));
	/* A summary carries the place with the stage, or has none yet. */
	if ((v = json_object_get(o, "stage"))) {
		safe_copy(row->stage, sizeof(row->stage), json_string_value(v));
		row->step = con_step(o, "step");
		row->steps = con_step(o, "steps");
	}
	if ((v = json_object_get(o, "level")) && json_is_string(v))
		safe_copy(row->level, sizeof(row->level), json_string_value(v));
	if ((v = json_object_get(o, "score")) && json_is_integer(v))
		row->score = (int)json_integer_value(v);
	if ((v = json_object_get(o, "updates")) && json_is_integer(v))
		row->updates = (int)json_integer_value(v);
	row->created_ms = jint(o, "created_ms", row->created_ms);
	row->finished_ms = jint(o, "finished_ms", row->finished_ms);
	row->changed_ms = jint(o, "changed_ms", row->changed_ms);
}

/* A new row at position at (0..n), from o; NULL if o is no job. */
static struct con_job *job_insert(struct con_jobs *j, size_t at, json_t *o)
{
	const char *id = json_string_value(json_object_get(o, "id"));
	const char *repo;
	struct con_job *row;

	if (!id || strlen(id) != CON_ID_LEN ||
	    strspn(id, "0123456789abcdef") != CON_ID_LEN)
		return NULL;
	if (j->n == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 256;
		struct con_job *v = realloc(j->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		j->v = v;
		j->cap = cap;
	}
	memmove(&j->v[at + 1], &j->v[at], (j->n - at) * sizeof(*j->v));
	row = &j->v[at];
	memset(row, 0, sizeof(*row));
	row->score = row->updates = -1;
	row->created_ms = row->finished_ms = -1;
	memcpy(row->id, id, CON_ID_LEN + 1);
	repo = json_string_value(json_object_get(o, "repo"));
	row->repo = con_safe_dup(repo);
	row->repo_raw = strdup(repo ? repo : "");
	if (!row->repo || !row->repo_raw) {
		free(row->repo);
		free(row->repo_raw);
		memmove(&j->v[at], &j->v[at + 1], (j->n - at) * sizeof(*j->v));
		return NULL;
	}
	j->n++;
	if (strcmp(id, j->newest) > 0)
		memcpy(j->newest, id, CON_ID_LEN + 1);
	row->changed_ms = -1;
	job_apply(row, o);
	if (row->changed_ms < 0)
		row->changed_ms = row->finished_ms > 0 ? row->finished_ms
							: row->created_ms;
	return row;
}

static void job_remove(struct con_jobs *j, struct con_job *row)
{
	size_t at = (size_t)(row - j->v);

	free(row->repo);
	free(row->repo_raw);
	memmove(&j->v[at], &j->v[at + 1], (j->n - at - 1) * sizeof(*j->v));
	j->n--;
}

int con_jobs_add_page(struct con_jobs *j, json_t *summaries)
{
	size_t i;
	json_t *s;

	json_array_foreach(summaries, i, s) {
		const char *id = json_string_value(json_object_get(s, "id"));
		/* A job added by an event while the page was on its way. */
		if (id && con_jobs_find(j, id))
			continue;
		if (!job_insert(j, j->n, s) && id)
			return -ENOMEM;
	}
	return 0;
}

static int cmp_i64(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

static int64_t job_dur(const struct con_job *r)
{
	if (r->created_ms < 0)
		return -1;
	return (r->finished_ms > 0 ? r->finished_ms : INT64_MAX / 2) -
	       r->created_ms;
}

static int col_cmp(enum con_col c, const struct con_job *a,
		   const struct con_job *b)
{
	switch (c) {
	case CON_COL_REPO:
		/* The daemon's order is the bytes' (index.c): the inert
		 * copy would put "\u202e" ('???') before letters. */
		return strcmp(a->repo_raw ? a->repo_raw : a->repo,
			      b->repo_raw ? b->repo_raw : b->repo);
	case CON_COL_STATE:
		return strcmp(a->state, b->state);
	case CON_COL_STAGE:
		return strcmp(a->stage, b->stage);
	case CON_COL_SCORE:
		return cmp_i64(a->score, b->score);
	case CON_COL_UPD:
		return cmp_i64(a->updates, b->updates);
	case CON_COL_DUR:
		return cmp_i64(job_dur(a), job_dur(b));
	case CON_COL_CHANGED:
		return cmp_i64(a->changed_ms, b->changed_ms);
	default:
		return 0;
	}
}

/* The daemon's order (sched/index.h): ties fall back on the id, newest
 * first, so the order is total and the same on both sides. */
static int order_cmp(enum con_col col, bool desc, const struct con_job *a,
		     const struct con_job *b)
{
	int c = col_cmp(col, a, b);

	if (c)
		return desc ? -c : c;
	c = strcmp(a->id, b->id);
	return col == CON_COL_ID && !desc ? c : -c;
}

void con_jobs_set_bound(struct con_jobs *j, const char *id)
{
	struct con_job *row = id ? con_jobs_find(j, id) : NULL;
	char *repo, *raw = NULL;

	if (!row || !(repo = strdup(row->repo)))
		return;
	if (row->repo_raw && !(raw = strdup(row->repo_raw))) {
		free(repo);
		return;
	}
	free(j->bound.repo);
	free(j->bound.repo_raw);
	j->bound = *row;
	j->bound.repo = repo;
	j->bound.repo_raw = raw;
	j->has_bound = true;
}

/* An event, sorted or filtered: hold the job while it belongs. */
static bool event_indexed(struct con_jobs *j, const char *id, json_t *data,
			  int64_t now_ms)
{
	struct con_job *row = con_jobs_find(j, id);
	bool held = row != NULL;

	if (strcmp(id, j->newest) > 0) { /* new since the store was read */
		j->total++;
		memcpy(j->newest, id, CON_ID_LEN + 1);
	}
	if (!row && !(row = job_insert(j, j->n, data)))
		return false;
	if (held)
		job_apply(row, data);
	if (!strcmp(row->state, "queued") || !strcmp(row->state, "running"))
		row->finished_ms = jint(data, "finished_ms", -1);
	if (!json_object_get(data, "changed_ms"))
		row->changed_ms = now_ms;
	/* A held row passed the filter on names the event may not carry
	 * all of; a new one is held only when it is known to pass. */
	if (!con_filter_wants(&j->filter, row, json_object_get(data, "names"),
			      held && json_is_true(json_object_get(
					      data, "names_cut"))) ||
	    (!j->end && (!j->has_bound ||
			 order_cmp(j->sort, j->descending, row, &j->bound) > 0))) {
		job_remove(j, row);
		return held;
	}
	con_jobs_sort(j);
	return true;
}

bool con_jobs_event(struct con_jobs *j, const char *event, json_t *data,
		    int64_t now_ms)
{
	const char *id = json_string_value(json_object_get(data, "id"));
	struct con_job *row;

	if (!id || (strcmp(event, "job.state") && strcmp(event, "job.stage")))
		return false;
	if (con_jobs_indexed(j))
		return event_indexed(j, id, data, now_ms);
	row = con_jobs_find(j, id);
	if (!row) {
		/* Newest first: only a job newer than every one held
		 * belongs at the top; older ones come with pages. */
		int c = strcmp(id, j->newest);
		if (strcmp(event, "job.state") || c <= 0)
			return false;
		j->total++; /* a job the store did not have when read */
		row = job_insert(j, 0, data);
		if (!row)
			return false;
		if (!json_object_get(data, "created_ms"))
			row->created_ms = now_ms;
	}
	job_apply(row, data);
	if (!strcmp(event, "job.state") && strcmp(row->state, "queued") &&
	    strcmp(row->state, "running") && row->finished_ms < 0)
		row->finished_ms = now_ms;
	if (!json_object_get(data, "changed_ms"))
		row->changed_ms = now_ms;
	return true;
}

static enum con_col sort_col;
static bool sort_desc;

static int row_cmp(const void *pa, const void *pb)
{
	return order_cmp(sort_col, sort_desc, pa, pb);
}

void con_jobs_sort(struct con_jobs *j)
{
	sort_col = j->sort;
	sort_desc = j->descending;
	if (j->n > 1)
		qsort(j->v, j->n, sizeof(*j->v), row_cmp);
}

int con_lines_add(struct con_lines *l, enum con_look look, const char *fmt,
		  ...)
{
	va_list ap, again;
	char *text;
	int n;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct con_line *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	va_start(ap, fmt);
	va_copy(again, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	text = n < 0 ? NULL : malloc((size_t)n + 1);
	if (text)
		vsnprintf(text, (size_t)n + 1, fmt, again);
	va_end(again);
	if (!text)
		return -ENOMEM;
	con_inert(text);
	l->v[l->n].text = text;
	l->v[l->n].look = look;
	l->n++;
	return 0;
}

void con_lines_clear(struct con_lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].text);
	l->n = 0;
}
