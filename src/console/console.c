/*
 * console.c - the console's loop (console.h): one thread that sleeps in
 * poll(2) on the terminal and the daemon's connection, and wakes for a
 * key, an event, a resize, or (only while something on screen ticks or
 * the daemon is away) a one-second timer. Nothing is polled from the
 * daemon: jobs and audit entries come as events after one read at
 * connect time, and older jobs page by page as the operator scrolls.
 */
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include <ncurses.h>

#include "base/err.h"
#include "base/util.h"
#include "console/internal.h"

static volatile sig_atomic_t con_stop;

static void on_stop(int sig)
{
	(void)sig;
	con_stop = 1;
}

static void set_msg(struct con *k, bool bad, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_msg(struct con *k, bool bad, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(k->msg, sizeof(k->msg), fmt, ap);
	va_end(ap);
	/* A message may quote a daemon's error, which may quote a job. */
	al_utf8_repair(k->msg, strlen(k->msg));
	al_sanitize_text(k->msg);
	k->msg_bad = bad;
	k->dirty = true;
}

static void conn_drop(struct con *k, int rc)
{
	api_client_close(k->c);
	k->c = NULL;
	k->up = false;
	k->q_subscribed = false;
	snprintf(k->down_why, sizeof(k->down_why), "%s", al_strerror(rc));
	k->retry_at = al_mono_ms() + 1000;
	k->dirty = true;
}

/*
 * One call. A transport error means the daemon went away: the
 * connection is dropped and the next round tries to connect again.
 */
static int call(struct con *k, const char *method, json_t *params,
		json_t **res)
{
	struct api_err err;
	int rc;

	*res = NULL;
	if (!k->up) {
		json_decref(params);
		return -ENOTCONN;
	}
	rc = api_client_call(k->c, method, params, CON_CALL_MS, res, &err);
	if (rc == -EREMOTEIO)
		set_msg(k, true, "%s: %s", method, err.message);
	else if (rc)
		conn_drop(k, rc);
	return rc;
}

/* job.page's parameters for the next page (the first after a reset). */
static json_t *page_params(struct con_jobs *j)
{
	json_t *p = json_pack("{s:i}", "limit", CON_PAGE);

	if (!p)
		return NULL;
	if (con_jobs_indexed(j)) {
		/* The daemon sorts and filters every job (its index); the
		 * cursor says where the last page ended. */
		json_object_set_new(p, "sort",
				    json_string(con_col_api(j->sort)));
		json_object_set_new(p, "desc", json_boolean(j->descending));
		if (j->cursor)
			json_object_set(p, "from", j->cursor);
	} else if (j->next[0]) {
		json_object_set_new(p, "before", json_string(j->next));
	}
	if (j->filter.state[0])
		json_object_set_new(p, "state", json_string(j->filter.state));
	if (j->filter.level[0])
		json_object_set_new(p, "level", json_string(j->filter.level));
	if (j->filter.match[0])
		json_object_set_new(p, "match", json_string(j->filter.match));
	return p;
}

/* A page of the newest-first walk: where it goes on, what it saw. */
static void page_walked(struct con_jobs *j, json_t *res)
{
	json_t *next = json_object_get(res, "newest");

	if (json_is_string(next) && strcmp(json_string_value(next), j->newest) > 0)
		al_strlcpy(j->newest, json_string_value(next), sizeof(j->newest));
	next = json_object_get(res, "next");
	al_strlcpy(j->next, json_is_string(next) ? json_string_value(next) : "",
		   sizeof(j->next));
	j->end = !json_is_string(next);
	j->scanned += (size_t)json_integer_value(json_object_get(res, "scanned"));
}

/* A sorted or filtered page: its cursor, and its last row as the end of
 * what is held (events add and drop jobs up to it). */
static void page_indexed(struct con_jobs *j, json_t *res)
{
	json_t *jobs = json_object_get(res, "jobs");
	json_t *last = json_array_get(jobs, json_array_size(jobs) - 1);
	json_t *next = json_object_get(res, "next");

	json_decref(j->cursor);
	j->cursor = json_is_array(next) ? json_incref(next) : NULL;
	j->end = !j->cursor;
	if (last)
		con_jobs_set_bound(j, json_string_value(json_object_get(last,
									"id")));
	con_jobs_sort(j);
}

static void load_page(struct con *k)
{
	struct con_jobs *j = &k->jobs;
	json_t *p = page_params(j), *res = NULL;

	if (!p)
		return;
	if (call(k, "job.page", p, &res)) {
		k->want_more = false;
		return;
	}
	if (con_jobs_add_page(j, json_object_get(res, "jobs")))
		set_msg(k, true, "out of memory");
	if (con_jobs_indexed(j))
		page_indexed(j, res);
	else
		page_walked(j, res);
	j->total = (size_t)json_integer_value(json_object_get(res, "total"));
	json_decref(res);
	k->dirty = true;
}

/* Whether the jobs view needs the next page: the selection is within
 * two screens of the end of what is held. */
static void want_more(struct con *k)
{
	size_t rows = (size_t)(con_body_rows() > 0 ? con_body_rows() : 1);

	k->want_more = !k->jobs.end && k->up && k->sel + 2 * rows >= k->jobs.n;
}

static void detail_build(struct con *k)
{
	if (k->det_rec)
		con_detail_build(&k->det, k->det_rec, k->det_log, k->utf8,
				 al_wall_ms());
	if (k->det_follow) {
		size_t rows = (size_t)con_body_rows();
		k->det_top = k->det.n > rows ? k->det.n - rows : 0;
	}
	k->dirty = true;
}

/* Read the record and the log of the job the detail view shows. */
static void detail_load(struct con *k)
{
	json_t *rec = NULL, *log = NULL;

	if (call(k, "job.show", json_pack("{s:s}", "id", k->det_id), &rec))
		return;
	if (call(k, "job.logs", json_pack("{s:s,s:i}", "id", k->det_id,
					  "limit", 5000), &log) == 0) {
		json_decref(k->det_log);
		k->det_log = json_incref(json_object_get(log, "lines"));
		while (json_array_size(k->det_log) > CON_LOG_KEEP)
			json_array_remove(k->det_log, 0);
	}
	json_decref(log);
	json_decref(k->det_rec);
	k->det_rec = rec;
	if (!k->det_log)
		k->det_log = json_array();
	detail_build(k);
}

static void audit_add(struct con *k, json_t *e)
{
	int64_t seq = json_integer_value(json_object_get(e, "seq"));
	const char *obj = json_string_value(json_object_get(e, "object"));

	if (seq <= k->aud_seq)
		return;
	k->aud_seq = seq;
	con_lines_add(&k->aud, CON_PLAIN, "%8lld  %s  %-18s %-18s %s",
		      (long long)seq,
		      json_string_value(json_object_get(e, "time"))
			      ? json_string_value(json_object_get(e, "time")) : "",
		      json_string_value(json_object_get(e, "actor"))
			      ? json_string_value(json_object_get(e, "actor")) : "",
		      json_string_value(json_object_get(e, "action"))
			      ? json_string_value(json_object_get(e, "action")) : "",
		      obj ? obj : "");
	if (k->aud.n > CON_AUDIT_KEEP) {
		free(k->aud.v[0].text);
		memmove(&k->aud.v[0], &k->aud.v[1],
			(k->aud.n - 1) * sizeof(*k->aud.v));
		k->aud.n--;
	}
	/* Newest first: keep what the operator looks at in place. */
	if (k->aud_top > 0)
		k->aud_top++;
	k->dirty = true;
}

static void audit_load(struct con *k)
{
	json_t *res = NULL, *e;
	size_t i;

	if (call(k, "audit.tail", json_pack("{s:i}", "limit", 200), &res))
		return;
	con_lines_clear(&k->aud);
	k->aud_seq = 0;
	k->aud_top = 0;
	json_t *list = json_object_get(res, "entries");
	for (i = json_array_size(list); i-- > 0;) {
		e = json_array_get(list, i);
		audit_add(k, e);
	}
	k->aud_top = 0;
	json_decref(res);
}

/*
 * The workers view lives on the daemon's "workers" samples: subscribed
 * to while the view is shown (the daemon samples only then), so that
 * no call, and no audit entry, is made per refresh. One subscribe call
 * on the way in and one on the way out.
 */
static void queue_subscribe(struct con *k, bool want)
{
	static const char *const topics[] = {"job", "audit", "workers"};
	struct api_err err;
	int rc;

	if (!k->up || k->q_subscribed == want)
		return;
	rc = api_client_subscribe(k->c, topics, want ? 3 : 2, CON_CALL_MS,
				  &err);
	if (rc == -EREMOTEIO) {
		set_msg(k, true, "events.subscribe: %s", err.message);
		return;
	}
	if (rc) {
		conn_drop(k, rc);
		return;
	}
	k->q_subscribed = want;
}

static void queue_sample(struct con *k, json_t *data)
{
	json_decref(k->q_prev);
	k->q_prev = k->q_res;
	k->q_res = json_incref(data);
	con_queue_build(&k->q, k->q_res, k->q_prev, al_wall_ms());
	k->dirty = true;
}

/* The audit view's head: the chain's state, checkpoint and export. */
static void head_load(struct con *k)
{
	json_t *res = NULL;

	k->head_due = 0;
	k->head_last = al_mono_ms();
	if (call(k, "audit.head", json_object(), &res))
		return;
	json_decref(k->head);
	k->head = res;
	con_head_build(&k->head_lines, k->head, al_wall_ms());
	k->dirty = true;
}

/* Read a view again soon: at once, or CON_EVENT_MS after the last
 * read, so that a burst of events costs one call. */
static void due_soon(int64_t *due, int64_t last)
{
	int64_t at = last + CON_EVENT_MS, now = al_mono_ms();

	if (at < now)
		at = now;
	if (!*due || at < *due)
		*due = at;
}

/* Read everything shown again: after connecting, or lost events. */
static void reload(struct con *k)
{
	con_jobs_reset(&k->jobs);
	k->sel = k->top = 0;
	load_page(k);
	audit_load(k);
	if (k->det_id[0])
		detail_load(k);
	if (k->view == CON_V_AUDIT)
		k->head_due = al_mono_ms();
	want_more(k);
}

static void conn_try(struct con *k)
{
	static const char *const topics[] = {"job", "audit", "workers"};
	bool queue = k->view == CON_V_QUEUE;
	struct api_err err;
	int rc = api_client_connect(k->sock, &k->c);

	if (rc == 0)
		rc = api_client_subscribe(k->c, topics, queue ? 3 : 2,
					  CON_CALL_MS, &err);
	k->q_subscribed = rc == 0 && queue;
	if (rc) {
		if (rc == -EREMOTEIO)
			rc = -ECONNREFUSED;
		conn_drop(k, rc);
		return;
	}
	k->up = true;
	k->msg[0] = '\0';
	reload(k);
}

static void on_event(struct con *k, json_t *ev)
{
	const char *name = json_string_value(json_object_get(ev, "event"));
	json_t *data = json_object_get(ev, "data");
	const char *id = json_string_value(json_object_get(data, "id"));
	char sel[CON_ID_LEN + 1] = "";

	if (!name)
		return;
	if (!strcmp(name, "lost")) {
		reload(k);
		return;
	}
	if (!strcmp(name, "audit.entry")) {
		audit_add(k, data);
		/* Not for the calls of views that refresh themselves: each
		 * call is an entry, and would call again. */
		if (k->view == CON_V_AUDIT &&
		    !(!strcmp(json_string_value(json_object_get(data, "action"))
			      ?: "", "api.call") &&
		      (!strcmp(json_string_value(json_object_get(data, "object"))
			       ?: "", "audit.head") ||
		       !strcmp(json_string_value(json_object_get(data, "object"))
			       ?: "", "workers"))))
			due_soon(&k->head_due, k->head_last);
		return;
	}
	if (!strcmp(name, "job.log")) {
		json_t *last = json_array_get(k->det_log,
					      json_array_size(k->det_log) - 1);
		if (!id || strcmp(id, k->det_id) ||
		    json_integer_value(json_object_get(data, "n")) <=
			    json_integer_value(json_object_get(last, "n")))
			return;
		json_array_append(k->det_log, data);
		if (json_array_size(k->det_log) > CON_LOG_KEEP)
			json_array_remove(k->det_log, 0);
		detail_build(k);
		return;
	}
	if (!strcmp(name, "workers")) {
		if (k->view == CON_V_QUEUE)
			queue_sample(k, data);
		return;
	}
	if (k->sel < k->jobs.n)
		memcpy(sel, k->jobs.v[k->sel].id, sizeof(sel));
	if (con_jobs_event(&k->jobs, name, data, al_wall_ms())) {
		/* Stay on the job selected, wherever it moved; at the top,
		 * stay at the top. */
		for (size_t i = 0; sel[0] && k->sel > 0 && i < k->jobs.n; i++)
			if (!strcmp(k->jobs.v[i].id, sel))
				k->sel = i;
		k->dirty = true;
	}
	if (id && !strcmp(id, k->det_id))
		detail_load(k);
}

/* Events the client holds, and any the socket has: without blocking. */
static void drain(struct con *k, bool readable)
{
	struct api_err err;
	json_t *ev;
	int rc;

	while (k->up) {
		rc = api_client_next(k->c, readable ? 50 : 0, &ev, &err);
		readable = false;
		if (rc == -ETIMEDOUT)
			break;
		if (rc) {
			conn_drop(k, rc == -EREMOTEIO ? -ECONNRESET : rc);
			break;
		}
		on_event(k, ev);
		json_decref(ev);
	}
}

static const struct con_job *selected(struct con *k)
{
	return k->sel < k->jobs.n ? &k->jobs.v[k->sel] : NULL;
}

static void ask(struct con *k, enum con_action act)
{
	const char *id = k->view == CON_V_DETAIL ? k->det_id
			 : selected(k)            ? selected(k)->id
						  : NULL;

	if (act == CON_A_ROTATE || act == CON_A_EXPORT) {
		k->confirm_id[0] = '\0';
		k->confirm = act;
		k->prompt = CON_P_CONFIRM;
		set_msg(k, false, "%s? y to confirm, any other key to keep "
			"things as they are", act == CON_A_ROTATE
			? "Rotate the store's keys (a new current key; values "
			  "are sealed again in the background)"
			: "Export the audit log to HOME/export");
		return;
	}
	if (!id || !id[0])
		return;
	memcpy(k->confirm_id, id, sizeof(k->confirm_id));
	k->confirm = act;
	k->prompt = CON_P_CONFIRM;
	set_msg(k, false, "%s job %s? y to confirm, any other key to keep it",
		act == CON_A_CANCEL ? "Cancel" : "Retry", id);
}

/* Rotation and export: audited under the operator by the daemon. */
static void confirmed_log(struct con *k)
{
	bool rotate = k->confirm == CON_A_ROTATE;
	json_t *res = NULL;

	if (call(k, rotate ? "keys.rotate" : "audit.export", json_object(),
		 &res))
		return;
	if (rotate && json_is_true(json_object_get(res, "started")))
		set_msg(k, false, "keys rotated: key %s is current; the values "
			"are sealed again in the background",
			json_string_value(json_object_get(res, "key")) ?: "?");
	else if (rotate)
		set_msg(k, false, "a rotation to key %s is under way already: "
			"nothing changed",
			json_string_value(json_object_get(res, "key")) ?: "?");
	else
		set_msg(k, false, "export %lld written: seq %lld to %lld in %s",
			(long long)json_integer_value(json_object_get(res, "n")),
			(long long)json_integer_value(json_object_get(res,
								      "first")),
			(long long)json_integer_value(json_object_get(res, "last")),
			json_string_value(json_object_get(res, "file")) ?: "?");
	json_decref(res);
	k->head_due = al_mono_ms();
}

static void confirmed(struct con *k)
{
	bool cancel = k->confirm == CON_A_CANCEL;
	json_t *res = NULL;

	if (k->confirm == CON_A_ROTATE || k->confirm == CON_A_EXPORT) {
		confirmed_log(k);
		return;
	}
	if (call(k, cancel ? "job.cancel" : "job.retry",
		 json_pack("{s:s}", "id", k->confirm_id), &res))
		return;
	if (cancel)
		set_msg(k, false, "job %s: cancel requested, state %s",
			k->confirm_id,
			json_string_value(json_object_get(res, "state"))
				? json_string_value(json_object_get(res, "state"))
				: "?");
	else
		set_msg(k, false, "job %s queued again as %s", k->confirm_id,
			json_string_value(json_object_get(res, "id"))
				? json_string_value(json_object_get(res, "id"))
				: "?");
	json_decref(res);
}

/* Move a view's position by delta lines within n lines. */
static void scroll_pos(size_t *pos, long delta, size_t n)
{
	long p = (long)*pos + delta;

	if (p >= (long)n)
		p = (long)n - 1;
	if (p < 0)
		p = 0;
	*pos = (size_t)p;
}

static void move_by(struct con *k, long delta)
{
	size_t rows = (size_t)con_body_rows();

	if (k->view == CON_V_JOBS) {
		scroll_pos(&k->sel, delta, k->jobs.n);
		want_more(k);
	} else if (k->view == CON_V_DETAIL) {
		scroll_pos(&k->det_top, delta, k->det.n);
		k->det_follow = k->det_top + rows >= k->det.n;
	} else if (k->view == CON_V_AUDIT) {
		scroll_pos(&k->aud_top, delta, k->aud.n);
	} else if (k->view == CON_V_QUEUE) {
		scroll_pos(&k->q_top, delta, k->q.n);
	} else {
		scroll_pos(&k->help_top, delta, 40);
	}
}

static void open_detail(struct con *k)
{
	const struct con_job *j = selected(k);

	if (!j)
		return;
	memcpy(k->det_id, j->id, sizeof(k->det_id));
	/* The log is followed while the job runs; an ended job opens at
	 * its summary. */
	k->det_follow = !strcmp(j->state, "running") ||
			!strcmp(j->state, "queued");
	k->det_top = 0;
	json_decref(k->det_rec);
	json_decref(k->det_log);
	k->det_rec = k->det_log = NULL;
	con_lines_clear(&k->det);
	k->view = CON_V_DETAIL;
	detail_load(k);
}

static void set_filter(struct con *k)
{
	con_filter_parse(&k->jobs.filter, k->input);
	con_jobs_reset(&k->jobs);
	k->sel = k->top = 0;
	k->want_more = k->up;
}

static void act(struct con *k, enum con_action a)
{
	long page = con_body_rows() > 1 ? con_body_rows() - 1 : 1;

	switch (a) {
	case CON_A_UP: move_by(k, -1); break;
	case CON_A_DOWN: move_by(k, 1); break;
	case CON_A_PGUP: move_by(k, -page); break;
	case CON_A_PGDN: move_by(k, page); break;
	case CON_A_TOP: move_by(k, -(long)1e9); break;
	case CON_A_END:
		move_by(k, (long)1e9);
		if (k->view == CON_V_DETAIL) {
			k->det_follow = true;
			detail_build(k);
		}
		break;
	case CON_A_OPEN: open_detail(k); break;
	case CON_A_FILTER:
		/* A new filter each time; Esc keeps the one there is. */
		k->input[0] = '\0';
		k->prompt = CON_P_FILTER;
		break;
	case CON_A_SORT:
	case CON_A_RSORT:
		if (a == CON_A_SORT) {
			k->jobs.sort = (k->jobs.sort + 1) % CON_COL__COUNT;
			k->jobs.descending = k->jobs.sort != CON_COL_REPO &&
					     k->jobs.sort != CON_COL_STATE &&
					     k->jobs.sort != CON_COL_STAGE;
		} else {
			k->jobs.descending = !k->jobs.descending;
		}
		/* The daemon sorts every job: read the first page again. */
		con_jobs_reset(&k->jobs);
		k->sel = k->top = 0;
		k->want_more = k->up;
		break;
	case CON_A_CANCEL:
	case CON_A_RETRY:
	case CON_A_ROTATE:
	case CON_A_EXPORT: ask(k, a); break;
	case CON_A_AUDIT:
		k->back = k->view == CON_V_QUEUE ? k->back : k->view;
		k->view = CON_V_AUDIT;
		k->aud_top = 0;
		k->head_due = al_mono_ms();
		break;
	case CON_A_QUEUE:
		k->back = k->view == CON_V_AUDIT ? k->back : k->view;
		k->view = CON_V_QUEUE;
		k->q_top = 0;
		break;
	case CON_A_HELP:
		if (k->view != CON_V_HELP)
			k->back = k->view;
		k->view = CON_V_HELP;
		k->help_top = 0;
		break;
	case CON_A_REDRAW:
		clearok(curscr, TRUE);
		if (k->up)
			reload(k);
		break;
	case CON_A_BACK:
		if (k->view == CON_V_JOBS)
			k->quit = true;
		else if (k->view == CON_V_DETAIL || k->back == k->view)
			k->view = CON_V_JOBS;
		else
			k->view = k->back;
		if (k->view == CON_V_JOBS)
			k->det_id[0] = '\0';
		break;
	case CON_A_QUIT: k->quit = true; break;
	default: break;
	}
	k->dirty = true;
}

/* A key typed into the filter prompt. */
static void prompt_key(struct con *k, int ret, wint_t ch)
{
	size_t len = strlen(k->input);

	if (ret == KEY_CODE_YES && ch != KEY_BACKSPACE && ch != KEY_ENTER)
		return;
	if (ch == 27) {
		k->prompt = CON_P_NONE;
	} else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
		k->prompt = CON_P_NONE;
		set_filter(k);
	} else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
		while (len > 0 && ((unsigned char)k->input[--len] & 0xc0) == 0x80)
			;
		k->input[len] = '\0';
	} else if (ch >= 0x20 && ch != 0x7f) {
		char mb[MB_LEN_MAX];
		mbstate_t st;
		memset(&st, 0, sizeof(st));
		size_t n = wcrtomb(mb, (wchar_t)ch, &st);
		if (n != (size_t)-1 && len + n < sizeof(k->input)) {
			memcpy(k->input + len, mb, n);
			k->input[len + n] = '\0';
		}
	}
	k->dirty = true;
}

static void on_key(struct con *k, int ret, wint_t ch)
{
	if (ret == KEY_CODE_YES && ch == KEY_RESIZE) {
		clearok(curscr, TRUE);
		want_more(k);
		if (k->view == CON_V_DETAIL)
			detail_build(k);
		k->dirty = true;
		return;
	}
	if (k->prompt == CON_P_FILTER) {
		prompt_key(k, ret, ch);
		return;
	}
	if (k->prompt == CON_P_CONFIRM) {
		k->prompt = CON_P_NONE;
		if (ret == OK && (ch == 'y' || ch == 'Y'))
			confirmed(k);
		else if (k->confirm_id[0])
			set_msg(k, false, "kept job %s", k->confirm_id);
		else
			set_msg(k, false, "nothing done");
		return;
	}
	if (ret == OK && ch == '\r')
		ch = '\n';
	k->msg[0] = '\0';
	for (size_t i = 0; i < con_nkeys; i++) {
		const struct con_keydef *d = &con_keys[i];
		if ((d->key[0] == (int)ch || (d->key[1] && d->key[1] == (int)ch)) &&
		    (d->views & k->view)) {
			act(k, d->act);
			return;
		}
	}
}

static void keys(struct con *k)
{
	wint_t ch;
	int ret;

	while ((ret = get_wch(&ch)) != ERR)
		on_key(k, ret, ch);
}

/* Keep the selection on screen. */
static void place(struct con *k)
{
	size_t rows = (size_t)(con_body_rows() > 0 ? con_body_rows() : 1);

	if (k->sel >= k->jobs.n)
		k->sel = k->jobs.n ? k->jobs.n - 1 : 0;
	if (k->sel < k->top)
		k->top = k->sel;
	if (k->sel >= k->top + rows)
		k->top = k->sel - rows + 1;
}

/* Something on screen changes with the clock: a running job's time. */
static bool ticking(struct con *k)
{
	size_t rows = (size_t)con_body_rows();

	if (k->view == CON_V_DETAIL)
		return k->det_rec &&
		       !strcmp(json_string_value(json_object_get(k->det_rec,
								 "state"))
				       ?: "", "running");
	if (k->view != CON_V_JOBS)
		return false;
	for (size_t i = k->top; i < k->jobs.n && i < k->top + rows; i++)
		if (!strcmp(k->jobs.v[i].state, "running"))
			return true;
	return false;
}

static void frame(struct con *k)
{
	int64_t t0 = al_mono_ms();
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	place(k);
	con_draw(k);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 +
		    (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	if (k->first_frame_ms < 0 && (k->jobs.n || k->jobs.end || !k->up))
		k->first_frame_ms = (double)(t0 - k->start_ms) + ms;
	else if (k->frames && k->nframes < CON_STATS_MAX)
		k->frames[k->nframes++] = ms;
	k->dirty = false;
}

/* The monotonic ms the shown view wants to be read again at; 0: none. */
static int64_t view_due(struct con *k)
{
	if (k->view == CON_V_AUDIT)
		return k->head_due;
	return 0;
}

static int poll_timeout(struct con *k)
{
	int64_t due = view_due(k), t = ticking(k) ? 1000 : -1;

	if (k->want_more)
		return 0;
	if (!k->up) {
		int64_t left = k->retry_at - al_mono_ms();
		return left < 0 ? 0 : (int)left;
	}
	if (due) {
		due -= al_mono_ms();
		if (due < 0)
			due = 0;
		if (t < 0 || due < t)
			t = due;
	}
	return (int)t;
}

static void loop(struct con *k)
{
	while (!k->quit && !con_stop) {
		struct pollfd pfd[2] = {{0, POLLIN, 0}, {-1, POLLIN, 0}};
		int n;

		if (!k->up && al_mono_ms() >= k->retry_at)
			conn_try(k);
		drain(k, false);
		if (k->want_more) {
			load_page(k);
			want_more(k);
		}
		queue_subscribe(k, k->view == CON_V_QUEUE);
		if (k->up && view_due(k) && al_mono_ms() >= view_due(k))
			head_load(k);
		if (k->dirty)
			frame(k);
		if (k->up)
			pfd[1].fd = api_client_fd(k->c);
		n = poll(pfd, 2, poll_timeout(k));
		if (n < 0 && errno != EINTR)
			break;
		/* EINTR is also a resize: ncurses then has KEY_RESIZE. */
		keys(k);
		if (n > 0 && k->up && (pfd[1].revents & (POLLIN | POLLHUP |
							  POLLERR)))
			drain(k, true);
		if (n == 0)
			k->dirty = true;
	}
}

static int write_stats(struct con *k)
{
	FILE *f = fopen(k->o->stats, "we");
	double max = 0, sum = 0;

	if (!f)
		return -errno;
	for (size_t i = 0; i < k->nframes; i++) {
		sum += k->frames[i];
		if (k->frames[i] > max)
			max = k->frames[i];
	}
	fprintf(f, "first_frame_ms %.3f\nredraws %zu\n", k->first_frame_ms,
		k->nframes);
	for (size_t i = 0; i < k->nframes; i++)
		fprintf(f, "redraw_ms %.3f\n", k->frames[i]);
	fprintf(f, "redraw_mean_ms %.3f\nredraw_max_ms %.3f\n",
		k->nframes ? sum / (double)k->nframes : 0.0, max);
	return fclose(f) ? -errno : 0;
}

static void signals(void)
{
	struct sigaction sa = {.sa_handler = on_stop};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/*
 * The screen is the console's: whatever a library would log to stderr
 * goes to /dev/null while curses owns the terminal (STYLE.md: the
 * console never writes logs to its own screen).
 */
static int quiet_stderr(void)
{
	int saved = dup(2), null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (saved >= 0 && null >= 0)
		dup2(null, 2);
	if (null >= 0)
		close(null);
	return saved;
}

int con_run(const struct con_opts *o)
{
	struct con k = {.o = o, .view = CON_V_JOBS, .back = CON_V_JOBS,
			.first_frame_ms = -1};
	int rc = 0, saved;

	k.start_ms = al_mono_ms();
	k.jobs.sort = CON_COL_ID;
	k.jobs.descending = true;
	if ((rc = api_socket_path(o->home, k.sock, sizeof(k.sock)))) {
		fprintf(stderr, "airlock console: %s/%s: the path is too long "
			"for a socket\n", o->home, API_SOCKET_NAME);
		return rc;
	}
	if (!isatty(0) || !isatty(1)) {
		fprintf(stderr, "airlock console: needs a terminal\n");
		return AL_E_USAGE;
	}
	if (o->stats && !(k.frames = calloc(CON_STATS_MAX, sizeof(double))))
		return -ENOMEM;
	setlocale(LC_ALL, "");
	k.utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");
	con_text_init(k.utf8);
	signals();
	set_escdelay(25);
	saved = quiet_stderr();
	initscr();
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	con_draw_init_colors(&k);
	k.dirty = true;
	conn_try(&k);
	loop(&k);
	endwin();
	if (saved >= 0) {
		dup2(saved, 2);
		close(saved);
	}
	if (o->stats && (rc = write_stats(&k)))
		fprintf(stderr, "airlock console: %s: %s\n", o->stats,
			al_strerror(rc));
	api_client_close(k.c);
	con_jobs_free(&k.jobs);
	con_lines_clear(&k.det);
	con_lines_clear(&k.aud);
	con_lines_clear(&k.q);
	con_lines_clear(&k.head_lines);
	free(k.det.v);
	free(k.aud.v);
	free(k.q.v);
	free(k.head_lines.v);
	json_decref(k.q_res);
	json_decref(k.q_prev);
	json_decref(k.head);
	json_decref(k.det_rec);
	json_decref(k.det_log);
	free(k.frames);
	return rc;
}
