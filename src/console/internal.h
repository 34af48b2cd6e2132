/*
 * internal.h - what the console's modules share: the jobs it holds (a
 * window of the daemon's, model.c), the connection (conn.c), drawing
 * (draw.c, text.c) and the key table (keys.c).
 */
#ifndef AL_CONSOLE_INTERNAL_H
#define AL_CONSOLE_INTERNAL_H

#include <stdbool.h>
#include <wchar.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api/client.h"
#include "console/console.h"

#define CON_ID_LEN 20
#define CON_MIN_COLS 80
#define CON_MIN_LINES 24
#define CON_PAGE 200       /* jobs asked for per call */
#define CON_CALL_MS 10000  /* wait for a reply at most */
#define CON_LOG_KEEP 2000  /* log lines kept for the detail view */
#define CON_AUDIT_KEEP 1000
#define CON_QUEUE_MS 2000  /* the queue view's refresh while jobs run */
#define CON_EVENT_MS 500   /* refreshes caused by events, at most this often */
#define CON_STEP_MAX 9999  /* a stage's place past this is taken for none
			    * (a job counts a few hundred at most) */

/* X(enum, header, sort key help, job.page's sort): the jobs table's
 * columns. */
#define CON_COL_TABLE(X)                                                   \
	X(CON_COL_ID, "ID", "creation (the id)", "id")                         \
	X(CON_COL_REPO, "REPOSITORY", "repository", "repo")                    \
	X(CON_COL_STATE, "STATE", "state", "state")                            \
	X(CON_COL_STAGE, "STAGE", "current stage", "stage")                    \
	X(CON_COL_SCORE, "SCORE", "confidence score", "score")                 \
	X(CON_COL_UPD, "UPD", "number of updates", "updates")                  \
	X(CON_COL_DUR, "DURATION", "duration", "duration")                     \
	X(CON_COL_CHANGED, "CHANGED", "last change", "changed")

enum con_col {
#define CON_X_ENUM(e, h, s, api) e,
	CON_COL_TABLE(CON_X_ENUM)
#undef CON_X_ENUM
	CON_COL__COUNT
};

/* One row of the jobs table: a job summary, every string terminal-safe. */
struct con_job {
	char id[CON_ID_LEN + 1];
	char *repo;     /* made inert: what is drawn */
	char *repo_raw; /* as the daemon has it: what sorts and filters */
	char state[12];
	char stage[32];
	unsigned step, steps; /* the stage's place; 0: not known */
	char level[8];
	int score;   /* -1: none yet */
	int updates; /* -1: not planned yet */
	int64_t created_ms, finished_ms, changed_ms;
};

/* The filter typed after '/': state and level words, and any text. */
struct con_filter {
	char text[128]; /* as typed, shown in the title */
	char state[12];
	char level[8];
	char match[128];
};

/*
 * The jobs the console holds: the first pages, in the table's order, the
 * operator has scrolled through (the daemon holds the rest). Newest
 * first without a filter, the daemon's walk: next is where the following
 * page starts; "" once the walk reached the oldest job. Sorted or
 * filtered (con_jobs_indexed), pages of the daemon's index of every job:
 * cursor is where the following page starts, and bound a copy of the
 * last row read, the end of what is held: a job an event brings in or
 * changes is held while it passes the filter and sorts before bound.
 */
struct con_jobs {
	struct con_job *v;
	size_t n, cap;
	char next[CON_ID_LEN + 1];
	json_t *cursor;
	struct con_job bound;
	bool has_bound;
	/* The newest id in the store as far as the console knows (pages
	 * say, events raise it), held or left out by the filter. */
	char newest[CON_ID_LEN + 1];
	bool end;
	size_t total;  /* jobs in the daemon's store */
	size_t scanned; /* records the daemon examined for this filter */
	enum con_col sort;
	bool descending;
	struct con_filter filter;
};

/* model.c */
void con_jobs_reset(struct con_jobs *j);
void con_jobs_free(struct con_jobs *j);
/* Parse text into f: words that name a state or a level filter on it. */
void con_filter_parse(struct con_filter *f, const char *text);
bool con_filter_empty(const struct con_filter *f);
/* Whether job passes f. names (may be NULL): the names the text may be
 * found in (an event's "names"); unknown: whether a text found in none
 * of them passes anyway, for names the event left out. */
bool con_filter_wants(const struct con_filter *f, const struct con_job *job,
		      json_t *names, bool unknown);
/* Whether the daemon's index pages are needed: a filter, or an order
 * other than newest first. */
bool con_jobs_indexed(const struct con_jobs *j);
/* job.page's name of column c. */
const char *con_col_api(enum con_col c);
/* The last row of a page just added becomes the bound (indexed). */
void con_jobs_set_bound(struct con_jobs *j, const char *id);
/* Add the summaries of a job.page reply (array); keeps the order. */
int con_jobs_add_page(struct con_jobs *j, json_t *summaries);
/* Apply a job.state or job.stage event; true if a row changed. Newest
 * first without a filter: a job not held yet and newer than every held
 * one is added at the top. Indexed: a job is held, added or dropped as
 * it passes the filter and sorts before the bound (or all is held). */
bool con_jobs_event(struct con_jobs *j, const char *event, json_t *data,
		    int64_t now_ms);
void con_jobs_sort(struct con_jobs *j);
struct con_job *con_jobs_find(struct con_jobs *j, const char *id);
/* A copy of s with every character that could drive a terminal
 * replaced (al_sanitize_text after al_utf8_repair); NULL on ENOMEM. */
char *con_safe_dup(const char *s);
/*
 * A stage as the views show it: while the job runs, its place among the
 * stages the job will run first, so that a narrow column cuts the name
 * rather than the place: "5/9 install", "1/? clone" before the plan is
 * known (src/job/steps.h); otherwise, or without a place (a record from
 * before places were kept), the name alone; "-" for none. stage must be
 * terminal-safe already.
 */
void con_stage_label(char *out, size_t outsz, const char *stage,
		     bool running, unsigned step, unsigned steps);
/* o's step or steps as the daemon sends it: 1..CON_STEP_MAX, else 0. */
unsigned con_step(json_t *o, const char *key);
/* The label from o's "stage", "step" and "steps" (a worker of the
 * workers view, a record's "sched"), made terminal-safe. */
void con_stage_label_json(char *out, size_t outsz, json_t *o,
			  bool running);

/* One line of the audit view. */
struct con_audit {
	int64_t seq;
	char *text; /* "seq time actor action object", terminal-safe */
};

/* A line of the detail view: text (terminal-safe) and its look. */
enum con_look { CON_PLAIN, CON_HEAD, CON_GOOD, CON_WARN, CON_BAD, CON_DIM };
struct con_line {
	char *text;
	enum con_look look;
};
struct con_lines {
	struct con_line *v;
	size_t n, cap;
};
int con_lines_add(struct con_lines *l, enum con_look look, const char *fmt,
		  ...) __attribute__((format(printf, 3, 4)));
void con_lines_clear(struct con_lines *l);

/* detail.c: the detail view's lines from a job record and its log. */
void con_detail_build(struct con_lines *out, json_t *rec, json_t *log,
		      bool utf8, int64_t now_ms);

/*
 * queue.c: the queue view's lines from a workers reply (docs/api.md),
 * with CPU rates from the reply before it (prev, may be NULL), and the
 * audit view's head lines from an audit.head reply (NULL: not read).
 */
void con_queue_build(struct con_lines *out, json_t *res, json_t *prev,
		     int64_t now_ms);
/* CPU use of worker w since the same worker in prev, in milli-CPUs;
 * -1 without two readings of the same sandbox. */
int64_t con_cpu_rate(json_t *w, json_t *prev);
void con_head_build(struct con_lines *out, json_t *head, int64_t now_ms);
/* "512M", "3.1G": bytes for a narrow column. */
void con_fmt_bytes(char *out, size_t outsz, uint64_t n);

/* text.c: terminal-safe drawing. */
void con_text_init(bool utf8);
/* Draw s at (y, x) in at most width columns; returns columns used. */
int con_text(int y, int x, int width, const char *s);
/* A character con_text draws as '?': controls, bidi reordering,
 * invisible format characters, anything not printable. */
bool con_wc_unsafe(wchar_t wc);
/* The same, aligned right in width columns. */
void con_text_right(int y, int x, int width, const char *s);
/* "1h02m", "12.3s": a duration for a narrow column. */
void con_fmt_dur(char *out, size_t outsz, int64_t ms);
/* "14:03:27" today, "12-04 14:03" before: local time of a change. */
void con_fmt_when(char *out, size_t outsz, int64_t ms, int64_t now_ms);

/* X(action, views, keys label, help, key, other key): the key map; the
 * help view lists it, so the two cannot drift. */
#define CON_KEY_TABLE(X)                                                   \
	X(CON_A_UP, CON_V_ALL, "Up k", "move up", KEY_UP, 'k')                 \
	X(CON_A_DOWN, CON_V_ALL, "Down j", "move down", KEY_DOWN, 'j')         \
	X(CON_A_PGUP, CON_V_ALL, "PgUp b", "page up", KEY_PPAGE, 'b')          \
	X(CON_A_PGDN, CON_V_ALL, "PgDn Space", "page down", KEY_NPAGE, ' ')    \
	X(CON_A_TOP, CON_V_ALL, "Home g", "first line", KEY_HOME, 'g')         \
	X(CON_A_END, CON_V_ALL, "End G",                                       \
	  "last line (detail: follow the log again)", KEY_END, 'G')            \
	X(CON_A_OPEN, CON_V_JOBS, "Enter", "open the job's detail", '\n',      \
	  KEY_ENTER)                                                           \
	X(CON_A_FILTER, CON_V_JOBS, "/",                                       \
	  "filter: state, level, text in id, repo, package, test", '/', 0)    \
	X(CON_A_SORT, CON_V_JOBS, "s", "sort by the next column", 's', 0)      \
	X(CON_A_RSORT, CON_V_JOBS, "S", "reverse the sort", 'S', 0)            \
	X(CON_A_CANCEL, CON_V_JOBS | CON_V_DETAIL, "c",                        \
	  "cancel the job (asks first)", 'c', 0)                               \
	X(CON_A_RETRY, CON_V_JOBS | CON_V_DETAIL, "r",                         \
	  "retry a failed or cancelled job (asks first)", 'r', 0)              \
	X(CON_A_AUDIT, CON_V_JOBS | CON_V_DETAIL | CON_V_QUEUE, "a Tab",       \
	  "the audit log, following, and its chain's state", 'a', '\t')        \
	X(CON_A_QUEUE, CON_V_JOBS | CON_V_DETAIL | CON_V_AUDIT, "w",           \
	  "workers with their CPU and memory, the queue, schedules", 'w', 0)   \
	X(CON_A_ROTATE, CON_V_AUDIT, "R",                                      \
	  "rotate the store's keys (asks first)", 'R', 0)                      \
	X(CON_A_EXPORT, CON_V_AUDIT, "E",                                      \
	  "export the audit log to HOME/export (asks first)", 'E', 0)         \
	X(CON_A_HELP, CON_V_ALL, "?", "this help", '?', 0)                     \
	X(CON_A_REDRAW, CON_V_ALL, "Ctrl-L", "redraw and read everything "     \
	  "again", 12, 0)                                                      \
	X(CON_A_BACK, CON_V_ALL, "q Esc",                                      \
	  "back to the jobs; in the jobs view, quit", 'q', 27)                 \
	X(CON_A_QUIT, CON_V_ALL, "Q", "quit", 'Q', 0)

enum con_view {
	CON_V_JOBS = 1,
	CON_V_DETAIL = 2,
	CON_V_AUDIT = 4,
	CON_V_HELP = 8,
	CON_V_QUEUE = 16,
	CON_V_ALL = 31
};

enum con_action {
	CON_A_NONE,
#define CON_X_ACT(a, v, l, h, k1, k2) a,
	CON_KEY_TABLE(CON_X_ACT)
#undef CON_X_ACT
};

struct con_keydef {
	enum con_action act;
	unsigned views;
	const char *label, *help;
	int key[2];
};
extern const struct con_keydef con_keys[];
extern const size_t con_nkeys;

enum con_prompt { CON_P_NONE, CON_P_FILTER, CON_P_CONFIRM };

#define CON_STATS_MAX 20000

/* The console's whole state: one instance, one thread. */
struct con {
	const struct con_opts *o;
	char sock[128];
	struct api_client *c;
	bool up;
	int64_t retry_at;  /* monotonic ms of the next connect attempt */
	char down_why[160];
	bool utf8, color;
	enum con_view view, back;
	bool quit, dirty;

	struct con_jobs jobs;
	size_t sel, top;
	bool want_more;

	char det_id[CON_ID_LEN + 1];
	json_t *det_rec, *det_log;
	struct con_lines det;
	size_t det_top;
	bool det_follow;

	struct con_lines aud; /* oldest first; drawn newest first */
	int64_t aud_seq;
	size_t aud_top, help_top;
	/* The audit view's head (audit.head) and when to read it again
	 * (monotonic ms; 0: not due). */
	json_t *head;
	struct con_lines head_lines;
	int64_t head_due, head_last;

	/* The queue view: the last two "workers" samples (events of that
	 * topic, subscribed to only while the view is shown), its lines. */
	json_t *q_res, *q_prev;
	struct con_lines q;
	size_t q_top;
	bool q_subscribed;

	enum con_prompt prompt;
	char input[128];
	enum con_action confirm;
	char confirm_id[CON_ID_LEN + 1];
	char msg[256];
	bool msg_bad;

	int64_t start_ms;
	double first_frame_ms;
	double *frames;
	size_t nframes;
};

/* draw.c */
void con_draw(struct con *k);
void con_draw_init_colors(struct con *k);
/* Rows the current view scrolls in. */
int con_body_rows(void);

#endif
