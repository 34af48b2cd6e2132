/*
 * draw.c - the screen: a title line, the view, a message line and a key
 * line. Each frame is drawn whole into ncurses' virtual screen, which
 * sends the terminal only what changed; only the visible rows are
 * formatted, however many jobs the daemon holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ncurses.h>

#include "base/util.h"
#include "console/internal.h"

enum { PAIR_GOOD = 1, PAIR_WARN, PAIR_BAD, PAIR_RUN, PAIR_BAR };

static bool draw_color;

void con_draw_init_colors(struct con *k)
{
	k->color = false;
	if (getenv("NO_COLOR") && *getenv("NO_COLOR"))
		return;
	if (!has_colors() || start_color() == ERR || COLORS < 8)
		return;
	use_default_colors();
	init_pair(PAIR_GOOD, COLOR_GREEN, -1);
	init_pair(PAIR_WARN, COLOR_YELLOW, -1);
	init_pair(PAIR_BAD, COLOR_RED, -1);
	init_pair(PAIR_RUN, COLOR_CYAN, -1);
	init_pair(PAIR_BAR, COLOR_BLACK, COLOR_CYAN);
	k->color = true;
}

/* The look of a thing: colour where there is colour, else attributes
 * that monochrome terminals have (the text says it in words anyway). */
static attr_t look_attr(enum con_look l)
{
	switch (l) {
	case CON_HEAD:
		return A_BOLD;
	case CON_GOOD:
		return draw_color ? COLOR_PAIR(PAIR_GOOD) : A_NORMAL;
	case CON_WARN:
		return draw_color ? COLOR_PAIR(PAIR_WARN) : A_BOLD;
	case CON_BAD:
		return draw_color ? COLOR_PAIR(PAIR_BAD) | A_BOLD
				  : A_BOLD | A_UNDERLINE;
	case CON_DIM:
		return A_DIM;
	default:
		return A_NORMAL;
	}
}

static enum con_look level_look(const char *level)
{
	if (!strcmp(level, "high"))
		return CON_GOOD;
	if (!strcmp(level, "medium"))
		return CON_WARN;
	return level[0] ? CON_BAD : CON_PLAIN;
}

static enum con_look state_look(const char *st)
{
	if (!strcmp(st, "failed"))
		return CON_BAD;
	if (!strcmp(st, "succeeded"))
		return CON_GOOD;
	if (!strcmp(st, "cancelled"))
		return CON_DIM;
	return CON_PLAIN;
}

int con_body_rows(void)
{
	return LINES - 4;
}

/* Column widths of the jobs table for this terminal's width. */
static void col_widths(int w[CON_COL__COUNT])
{
	bool wide = COLS >= 120;
	int fixed = 0;

	w[CON_COL_ID] = wide ? CON_ID_LEN : 8;
	w[CON_COL_STATE] = 9;
	w[CON_COL_STAGE] = wide ? 18 : 10;
	w[CON_COL_SCORE] = 10;
	w[CON_COL_UPD] = 3;
	w[CON_COL_DUR] = 8;
	w[CON_COL_CHANGED] = 8;
	for (int c = 0; c < CON_COL__COUNT; c++)
		if (c != CON_COL_REPO)
			fixed += w[c] + 1;
	w[CON_COL_REPO] = COLS - fixed - 1;
	if (w[CON_COL_REPO] > 80)
		w[CON_COL_REPO] = 80;
}

static const char *const col_names[] = {
#define CON_X_NAME(e, h, s, api) h,
	CON_COL_TABLE(CON_X_NAME)
#undef CON_X_NAME
};

/* The end of a long repository URL says more than its start. */
static void draw_repo(int y, int x, int width, const char *repo, bool utf8)
{
	int len = (int)strlen(repo);

	if (len <= width) {
		con_text(y, x, width, repo);
		return;
	}
	int mark = con_text(y, x, 2, utf8 ? "\xe2\x80\xa6" : "..");
	/* Forward to a UTF-8 boundary. */
	const char *tail = repo + len - (width - mark);
	while (*tail && ((unsigned char)*tail & 0xc0) == 0x80)
		tail++;
	con_text(y, x + mark, width - mark, tail);
}

/* A running job's stage with its place first (con_stage_label). */
static void draw_stage(int y, int x, int width, const struct con_job *j)
{
	char buf[64];

	con_stage_label(buf, sizeof(buf), j->stage,
			!strcmp(j->state, "running"), j->step, j->steps);
	con_text(y, x, width, buf);
}

static void draw_job(struct con *k, int y, const struct con_job *j,
		     const int w[CON_COL__COUNT], bool sel, int64_t now)
{
	char buf[64];
	int x = 1;
	attr_t base = sel ? A_REVERSE : A_NORMAL;

	attrset(base);
	mvhline(y, 0, ' ', COLS);
	con_text(y, x, w[CON_COL_ID],
		 j->id + (w[CON_COL_ID] < CON_ID_LEN ? CON_ID_LEN - 8 : 0));
	x += w[CON_COL_ID] + 1;
	draw_repo(y, x, w[CON_COL_REPO], j->repo, k->utf8);
	x += w[CON_COL_REPO] + 1;
	attrset(base | look_attr(state_look(j->state)));
	con_text(y, x, w[CON_COL_STATE], j->state);
	attrset(base);
	x += w[CON_COL_STATE] + 1;
	draw_stage(y, x, w[CON_COL_STAGE], j);
	x += w[CON_COL_STAGE] + 1;
	if (j->score >= 0)
		snprintf(buf, sizeof(buf), "%3d %s", j->score, j->level);
	else
		snprintf(buf, sizeof(buf), "  -");
	attrset(base | look_attr(level_look(j->level)));
	con_text(y, x, w[CON_COL_SCORE], buf);
	attrset(base);
	x += w[CON_COL_SCORE] + 1;
	snprintf(buf, sizeof(buf), "%d", j->updates);
	con_text_right(y, x, w[CON_COL_UPD], j->updates >= 0 ? buf : "-");
	x += w[CON_COL_UPD] + 1;
	con_fmt_dur(buf, sizeof(buf),
		    j->created_ms < 0 ? -1
				      : (j->finished_ms > 0 ? j->finished_ms
							    : now) -
						j->created_ms);
	con_text_right(y, x, w[CON_COL_DUR], buf);
	x += w[CON_COL_DUR] + 1;
	con_fmt_when(buf, sizeof(buf), j->changed_ms, now);
	con_text(y, x, w[CON_COL_CHANGED], buf);
	attrset(A_NORMAL);
}

static void draw_jobs(struct con *k, int64_t now)
{
	int w[CON_COL__COUNT], x = 1, rows = con_body_rows();
	const struct con_jobs *jb = &k->jobs;

	col_widths(w);
	attrset(A_BOLD | A_UNDERLINE);
	mvhline(1, 0, ' ', COLS);
	for (int c = 0; c < CON_COL__COUNT; c++) {
		char h[32];
		snprintf(h, sizeof(h), "%s%s", col_names[c],
			 c == (int)jb->sort ? (jb->descending ? "v" : "^") : "");
		con_text(1, x, w[c], h);
		x += w[c] + 1;
	}
	attrset(A_NORMAL);
	for (int r = 0; r < rows && k->top + (size_t)r < jb->n; r++)
		draw_job(k, 2 + r, &jb->v[k->top + (size_t)r], w,
			 k->top + (size_t)r == k->sel, now);
	if (jb->n == 0)
		con_text(3, 2, COLS - 4,
			 k->want_more ? "reading jobs..."
				      : con_filter_empty(&jb->filter)
					? "no jobs"
					: "no jobs match the filter");
}

/* Lines of a text view from top, in rows lines from screen line y;
 * reversed: newest (last) first. */
static void draw_lines_at(const struct con_lines *l, size_t top,
			  bool reversed, int y, int rows)
{
	for (int r = 0; r < rows && top + (size_t)r < l->n; r++) {
		size_t i = top + (size_t)r;
		const struct con_line *ln = &l->v[reversed ? l->n - 1 - i : i];
		attrset(look_attr(ln->look));
		con_text(y + r, 1, COLS - 2, ln->text);
	}
	attrset(A_NORMAL);
}

static void draw_lines(const struct con_lines *l, size_t top, bool reversed)
{
	draw_lines_at(l, top, reversed, 1, con_body_rows());
}

/* The audit view: the chain's state on top, the entries beneath. */
static void draw_audit(struct con *k)
{
	int head = (int)k->head_lines.n + 1;
	char cols[128];

	draw_lines_at(&k->head_lines, 0, false, 1, head - 1);
	attrset(A_BOLD | A_UNDERLINE);
	mvhline(head, 0, ' ', COLS);
	snprintf(cols, sizeof(cols), "%8s  %-24s  %-18s %-18s %s", "SEQ",
		 "TIME", "ACTOR", "ACTION", "OBJECT");
	con_text(head, 1, COLS - 2, cols);
	attrset(A_NORMAL);
	draw_lines_at(&k->aud, k->aud_top, true, head + 1,
		      con_body_rows() - head);
}

/* The views a key works in, in words. */
static const char *views_text(unsigned v, char *buf, size_t sz)
{
	static const struct { unsigned v; const char *name; } names[] = {
		{CON_V_JOBS, "jobs"}, {CON_V_DETAIL, "detail"},
		{CON_V_AUDIT, "audit"}, {CON_V_QUEUE, "workers"}};

	if (v == CON_V_ALL)
		return "everywhere";
	buf[0] = '\0';
	for (size_t i = 0; i < AL_ARRAY_LEN(names); i++)
		if (v & names[i].v)
			snprintf(buf + strlen(buf), sz - strlen(buf), "%s%s",
				 buf[0] ? ", " : "", names[i].name);
	return buf;
}

static void draw_help(struct con *k)
{
	struct con_lines l = {0};
	char vbuf[64];

	con_lines_add(&l, CON_HEAD, "Keys");
	for (size_t i = 0; i < con_nkeys; i++) {
		const struct con_keydef *d = &con_keys[i];
		con_lines_add(&l, CON_PLAIN, "  %-11s %-22s %s", d->label,
			      views_text(d->views, vbuf, sizeof(vbuf)),
			      d->help);
	}
	con_lines_add(&l, CON_PLAIN, "%s", "");
	con_lines_add(&l, CON_PLAIN, "Columns: id (its last 8 digits below "
		      "120 columns), repository, state, stage,");
	con_lines_add(&l, CON_PLAIN, "score and level, updates, duration, "
		      "last change.");
	con_lines_add(&l, CON_PLAIN, "Sort and filter cover every job: the "
		      "daemon orders and filters them.");
	if (k->help_top >= l.n)
		k->help_top = l.n ? l.n - 1 : 0;
	draw_lines(&l, k->help_top, false);
	con_lines_clear(&l);
	free(l.v);
}

static void draw_title(struct con *k)
{
	char buf[320];
	const char *what = k->view == CON_V_DETAIL ? "job"
			   : k->view == CON_V_AUDIT ? "audit log"
			   : k->view == CON_V_HELP  ? "help"
			   : k->view == CON_V_QUEUE ? "workers, queue and schedules"
						    : "jobs";

	if (k->view == CON_V_JOBS)
		snprintf(buf, sizeof(buf), " airlock console - jobs: %zu of %zu"
			 "%s  sort: %s%s%s%s", k->jobs.n, k->jobs.total,
			 k->jobs.end ? "" : "+",
			 col_names[k->jobs.sort],
			 k->jobs.descending ? " (descending)" : "",
			 k->jobs.filter.text[0] ? "  filter: " : "",
			 k->jobs.filter.text);
	else
		snprintf(buf, sizeof(buf), " airlock console - %s", what);
	attrset(draw_color ? COLOR_PAIR(PAIR_BAR) : A_REVERSE);
	mvhline(0, 0, ' ', COLS);
	con_text(0, 0, COLS - 14, buf);
	con_text_right(0, COLS - 14, 13, k->up ? "connected" : "DISCONNECTED");
	attrset(A_NORMAL);
}

static void draw_bottom(struct con *k)
{
	char buf[300];

	mvhline(LINES - 2, 0, ' ', COLS);
	if (k->prompt == CON_P_FILTER) {
		snprintf(buf, sizeof(buf), "filter: %s", k->input);
		attrset(A_BOLD);
		int n = con_text(LINES - 2, 0, COLS - 1, buf);
		attrset(A_NORMAL);
		move(LINES - 2, n);
	} else if (k->prompt == CON_P_CONFIRM) {
		attrset(A_BOLD);
		con_text(LINES - 2, 0, COLS - 1, k->msg);
	} else if (!k->up) {
		attrset(look_attr(CON_BAD));
		snprintf(buf, sizeof(buf), "airlockd is not answering (%s): "
			 "reconnecting when it is back", k->down_why);
		con_text(LINES - 2, 0, COLS - 1, buf);
	} else if (k->msg[0]) {
		attrset(k->msg_bad ? look_attr(CON_BAD) : A_NORMAL);
		con_text(LINES - 2, 0, COLS - 1, k->msg);
	}
	attrset(A_REVERSE);
	mvhline(LINES - 1, 0, ' ', COLS);
	con_text(LINES - 1, 0, COLS,
		 k->view == CON_V_JOBS
			 ? " ? help  Enter open  / filter  s sort  c cancel  "
			   "w workers  a audit  q quit"
		 : k->view == CON_V_AUDIT
			 ? " ? help  arrows scroll  R rotate keys  E export  "
			   "w workers  q back  Q quit"
		 : k->view == CON_V_QUEUE
			 ? " ? help  arrows scroll  a audit  q back  Q quit"
			 : " ? help  arrows scroll  c cancel  r retry  "
			   "q back  Q quit");
	attrset(A_NORMAL);
}

void con_draw(struct con *k)
{
	int64_t now = al_wall_ms();

	draw_color = k->color;
	erase();
	if (COLS < CON_MIN_COLS || LINES < CON_MIN_LINES) {
		char buf[128];
		snprintf(buf, sizeof(buf), "airlock console needs at least "
			 "%dx%d; this terminal is %dx%d", CON_MIN_COLS,
			 CON_MIN_LINES, COLS, LINES);
		con_text(LINES / 2, 0, COLS, buf);
		curs_set(0);
		refresh();
		return;
	}
	draw_title(k);
	if (k->view == CON_V_JOBS)
		draw_jobs(k, now);
	else if (k->view == CON_V_DETAIL)
		draw_lines(&k->det, k->det_top, false);
	else if (k->view == CON_V_AUDIT)
		draw_audit(k);
	else if (k->view == CON_V_QUEUE)
		draw_lines(&k->q, k->q_top, false);
	else
		draw_help(k);
	draw_bottom(k);
	curs_set(k->prompt == CON_P_FILTER ? 1 : 0);
	refresh();
}
