/*
 * daemon.h - airlockd: the scheduler's loop, its workers and the
 * control API, under one home (docs/daemon.md).
 *
 * Processes. The daemon is one process with two threads: the main
 * thread runs the loop below; the API thread runs the control API's
 * server (src/api), whose handlers (methods.c) read and change the
 * queue through the scheduler. Each running job is a worker process:
 * airlockd itself, executed again from the file it was started from
 * (an open descriptor, so an upgrade in place does not mix versions),
 * with --worker. A worker opens the store on its own, runs the job
 * (src/job) under the lease the daemon took for it, and ends the lease
 * itself in the transaction that stores the job's last record, so a
 * finished job is never run again however the processes die.
 *
 * Lifetime. A worker dies with the daemon (PR_SET_PDEATHSIG), and its
 * sandboxes die with it. Workers inherit the daemon's lock on
 * HOME/airlockd.lock, so a new daemon cannot start (and find their
 * leases abandoned) before the last worker of the old one is gone: no
 * job runs twice at once.
 *
 * The main loop waits in epoll for: signals (signalfd: TERM and INT
 * stop, HUP reloads airlock.conf, CHLD reaps workers), an eventfd the
 * API thread writes after changing the queue, and each worker's control
 * socket (stage changes and progress lines); its timeout is the
 * earliest of the scheduler's next wake-up, a heartbeat, a checkpoint
 * look and a worker's deadline. With nothing queued or running and no
 * schedule near, it wakes once a minute, for the checkpoint policy.
 * While a key rotation's re-seal is under way (rotate.c), each round
 * also runs one batch of it, and the loop does not sleep between them;
 * likewise one step of a retention run (prune.c: at start-up, hourly,
 * and after a reload).
 */
#ifndef AL_DAEMON_DAEMON_H
#define AL_DAEMON_DAEMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <jansson.h>

#include "api/api.h"
#include "audit/audit.h"
#include "job/config.h"
#include "sandbox/sandbox.h"
#include "sched/index.h"
#include "sched/sched.h"
#include "store/store.h"

#define DMN_LOCK_NAME "airlockd.lock"
/* Messages on a worker's control socket (SOCK_SEQPACKET), both ways. */
#define DMN_MSG_MAX 8192
/* A worker asked to stop has this long before SIGKILL. */
#define DMN_STOP_GRACE_MS 60000
/* How long a new daemon waits for the last workers of a dead one. */
#define DMN_LOCK_WAIT_MS 30000
/* Read new audit entries for subscribers this often while jobs run. */
#define DMN_TAIL_MS 1000
/* Take a due checkpoint at least this often (airlock.conf's minutes). */
#define DMN_CHECKPOINT_MS 60000
/* While someone subscribes to "workers": a sample this often while jobs
 * run, and after a job changed at most this often. */
#define DMN_SAMPLE_MS 2000
#define DMN_SAMPLE_EVENT_MS 500
/* The jobs' summary index is dropped after this long without a sorted
 * or filtered page (views.c). */
#define DMN_INDEX_IDLE_MS (10 * 60 * 1000)
/* Jobs changed while the index is being built, replayed after it. */
#define DMN_INDEX_PENDING 256

/* X(enum, name): why the daemon asked a worker to stop. */
#define DMN_STOP_TABLE(X)                                                  \
	X(DMN_STOP_NONE, "none")                                               \
	X(DMN_STOP_CANCEL, "cancel")                                           \
	X(DMN_STOP_SHUTDOWN, "shutdown")                                       \
	X(DMN_STOP_TIMEOUT, "timeout")

enum dmn_stop {
#define DMN_X_ENUM(e, name) e,
	DMN_STOP_TABLE(DMN_X_ENUM)
#undef DMN_X_ENUM
};
const char *dmn_stop_name(enum dmn_stop s);
int dmn_stop_parse(const char *name);

/* One slot for a running job. */
struct dmn_worker {
	bool used;
	unsigned slot;           /* "worker-<slot>", from 1 */
	pid_t pid;
	int sock;                /* the daemon's end of the control socket */
	char id[SCHED_ID_LEN + 1];
	unsigned attempt;
	char stage[32];
	unsigned step, steps;    /* the stage's place (sched_stage); 0 */
	int64_t started_ms;      /* wall clock */
	int64_t deadline_mono;   /* job_timeout */
	int64_t kill_mono;       /* SIGKILL at, once asked to stop; 0 */
	enum dmn_stop stop;
	uint32_t log_n;          /* lines kept */
	uint32_t log_dropped;    /* lines past DMN_LOG_LINES_MAX */
	struct dmn_image *img;   /* the image its job was given; NULL */
};

/*
 * The packed image (image.c) the daemon verified and mounted once, for
 * every job's sandboxes: at start, on a reload, and before a job when
 * the file changed since. One that was replaced stays mounted until the
 * last worker started on it has ended.
 */
struct dmn_image {
	struct sbx_packed p;
	unsigned users;          /* running workers started on it */
	struct dmn_image *next;  /* in daemon img_retired */
};

/* The file a verification refused, as it was then: not hashed again
 * for every job until it or the setting changes. */
struct dmn_image_refusal {
	bool set;
	char file[1024];
	char pin[80];
	struct stat st;
};

struct dmn_reseal;
struct dmn_prune;

/* What the API thread may know of a running worker (views.c). */
struct dmn_wview {
	unsigned slot;
	pid_t pid;
	char id[SCHED_ID_LEN + 1];
	unsigned attempt;
	char stage[32];
	unsigned step, steps;
	int64_t started_ms;
	enum dmn_stop stop;
};

struct daemon {
	const char *home;
	char sock_path[108];
	int lock_fd;             /* flock held; inherited by the workers */
	int exe_fd;              /* this program, for the workers */
	int ep, sig_fd, wake_fd;
	struct job_config cfg;
	struct store *st;
	struct audit_log *log;
	/* The API thread uses sched under the read lock; a reload swaps
	 * it under the write lock. */
	pthread_rwlock_t sched_lock;
	struct sched *sched;
	struct api_server *api;
	struct dmn_reseal *reseal; /* rotate.c */
	struct dmn_prune *prune;   /* prune.c */
	pthread_t api_thread;
	bool api_up;
	struct dmn_image *img;   /* current packed image; NULL: none */
	struct dmn_image *img_retired;
	struct dmn_image_refusal img_refused;
	struct dmn_worker *workers;
	unsigned nslots;         /* allocated */
	unsigned max_workers;    /* configured */
	atomic_uint running;
	atomic_bool stopping;
	bool stop_logged;
	int64_t started_ms;
	int64_t started_mono;
	uint64_t audit_seen;     /* last audit seq published */
	int64_t next_beat_mono;
	int64_t next_cp_mono;
	uint64_t jobs_started;
	uint64_t reloads;
	/* views.c: a copy of the workers for the API thread, and the
	 * result of the last audit.verify; under view_lock. */
	pthread_mutex_t view_lock;
	struct dmn_wview *wview;
	unsigned nwview;
	json_t *last_verify;
	/* views.c: the jobs' summary index for sorted and filtered pages
	 * (sched/index.h), built ahead when a console opens
	 * (dmn_index_warm) or by the first such page, kept current by
	 * every job event, dropped when unused; under ix_lock. While the
	 * API thread builds it (without the lock), changed jobs are noted
	 * in ix_pending and read again once it is in place. */
	pthread_mutex_t ix_lock;
	struct sched_index *ix;
	bool ix_building, ix_lost;
	char (*ix_pending)[SCHED_ID_LEN + 1];
	size_t ix_npending;
	int64_t ix_used_mono;
	/* A build started ahead of need (dmn_index_warm) on ix_thread;
	 * ix_done wakes whoever waits for a build to end. */
	pthread_cond_t ix_done;
	pthread_t ix_thread;
	bool ix_thread_started, ix_thread_ended;
	/* views.c: the "workers" topic, sampled by the main thread only
	 * while a connection subscribes to it. */
	atomic_bool wv_dirty;    /* a job changed since the last sample */
	atomic_uint wv_gen;      /* subscriptions started or changed */
	unsigned wv_gen_seen;    /* wv_gen at the last sample */
	int64_t wv_last_mono;    /* the last sample */
};

/* The actor of the daemon's own entries. */
#define DMN_ACTOR "system"

/* daemon.c */
int dmn_run(const char *home);
/* From the API thread: look at the queue again soon. */
void dmn_poke(struct daemon *d);
/* Publish a job event (data stolen); safe from any thread. */
void dmn_publish_job(struct daemon *d, const char *event, json_t *data);
/* Job id's summary (sched_index_summary) as event (job.state, job.stage),
 * after the index and the workers topic learned of the change. */
void dmn_publish_rec(struct daemon *d, const char *event, const char *id);
/* The same as a job.state event. */
void dmn_publish_state(struct daemon *d, const char *id);

/* workers.c, on the main thread */
int dmn_workers_fill(struct daemon *d);
void dmn_worker_readable(struct daemon *d, struct dmn_worker *w);
void dmn_workers_reap(struct daemon *d);
int dmn_workers_beat(struct daemon *d);
void dmn_workers_orphans(struct daemon *d);
void dmn_workers_deadlines(struct daemon *d, int64_t now_mono);
void dmn_workers_stop_all(struct daemon *d, enum dmn_stop why);
int64_t dmn_workers_next_deadline(const struct daemon *d);
struct dmn_worker *dmn_worker_by_id(struct daemon *d, const char *id);
void dmn_worker_stop(struct daemon *d, struct dmn_worker *w,
		     enum dmn_stop why);

/*
 * rotate.c: the re-seal after a key rotation. init, round, next and free
 * on the main thread: round runs the next batch when one is due, next
 * is the monotonic ms it is due at (INT64_MAX: nothing to do).
 */
int dmn_reseal_init(struct daemon *d);
/* The first retry delay AIRLOCK_TEST_BACKOFF_MS asks for (10 ms up to
 * the default), 0 for the default; say: log that it is in force (or
 * ignored). The daemon and its workers both end leases, so both ask. */
int64_t dmn_test_backoff_ms(bool say);
/* The seal limit AIRLOCK_TEST_SEAL_LIMIT asks for, 0 for the default. */
uint64_t dmn_reseal_seal_limit(void);
void dmn_reseal_round(struct daemon *d);
int64_t dmn_reseal_next(const struct daemon *d);
void dmn_reseal_free(struct daemon *d);
/*
 * From the API thread. keys.rotate: a new current key and its audit
 * entry (actor) in one transaction, unless a rotation is under way;
 * batch (0: default) values per transaction. keys.status: the store's
 * key status (check: with the walk and version check) and the daemon's
 * re-seal. NULL with err set on failure.
 */
json_t *dmn_keys_rotate(struct daemon *d, const char *actor, unsigned batch,
			struct api_err *err);
json_t *dmn_keys_status(struct daemon *d, bool check, struct api_err *err);

/*
 * prune.c: retention (job_retention_days, job_retention_max), on the
 * main thread: a run at start-up, then hourly, and soon after a reload
 * (kick); round runs one bounded step of a run that is due, next is the
 * monotonic ms one is due at (0 while a run is under way, INT64_MAX
 * while stopping).
 */
int dmn_prune_init(struct daemon *d);
void dmn_prune_round(struct daemon *d, int64_t now_mono);
int64_t dmn_prune_next(const struct daemon *d);
void dmn_prune_kick(struct daemon *d);
void dmn_prune_free(struct daemon *d);

/*
 * views.c: what the views of an operator (the console) ask for. The
 * main thread copies its workers for the API thread after each round
 * (dmn_views_update); the API thread's methods read the copy, the
 * sandboxes' cgroups and the store. dmn_views_verified keeps the last
 * audit.verify result (report as audit_report_json, borrowed).
 */
/* Start building the job index on a thread of its own if it is not
 * there, so that the first sorted or filtered page finds it ready (the
 * console calls job.page when it opens); dmn_index_join waits for that
 * thread (before the scheduler is closed). */
void dmn_index_warm(struct daemon *d);
void dmn_index_join(struct daemon *d);

/* Every member of params must be one of names (NULL-terminated);
 * false with err set (invalid_params) otherwise. */
bool dmn_params_known(json_t *params, const char *const *names,
		      struct api_err *err);

int dmn_views_init(struct daemon *d);
void dmn_views_update(struct daemon *d);
void dmn_views_free(struct daemon *d);
void dmn_views_verified(struct daemon *d, const char *actor,
			const json_t *report);
json_t *dmn_m_workers(void *ctx, const struct api_call *call,
		      json_t *params, struct api_err *err);
json_t *dmn_m_audit_head(void *ctx, const struct api_call *call,
			 json_t *params, struct api_err *err);
/*
 * A sorted or filtered page of every job (sched_index_page), building
 * the index first if there is none; on the API thread. NULL with err
 * set on failure (a bad cursor is invalid_params).
 */
json_t *dmn_jobs_page(struct daemon *d, const struct sched_index_query *q,
		      struct api_err *err);
/* Job record rec changed at now_ms (wall): its row, if there is an
 * index, follows; from any thread. */
void dmn_jobs_changed(struct daemon *d, const json_t *rec, int64_t now_ms);
/*
 * The main thread, after each round: publish a "workers" sample if a
 * subscriber wants one (a new subscriber, a job changed, or every
 * DMN_SAMPLE_MS while jobs run), and drop an unused index.
 * dmn_views_next is the monotonic ms the next sample is due (INT64_MAX:
 * none); dmn_views_subscribed is the API server's hook.
 */
void dmn_views_round(struct daemon *d, int64_t now_mono);
int64_t dmn_views_next(struct daemon *d, int64_t now_mono);
void dmn_views_subscribed(void *ctx);

/*
 * admin.c: the SSH admin shell's session report (admin.session, only
 * from a caller whose SSH key the server accepted), audit.pubkey,
 * config.show and config.check. adminkeys.c: the admin account's
 * authorized keys file (admin.keys.list, .add, .remove; adding and
 * removing only for root, the daemon's user or the admin shell).
 */
json_t *dmn_m_admin_session(void *ctx, const struct api_call *call,
			    json_t *params, struct api_err *err);
json_t *dmn_m_audit_pubkey(void *ctx, const struct api_call *call,
			   json_t *params, struct api_err *err);
json_t *dmn_m_config_show(void *ctx, const struct api_call *call,
			  json_t *params, struct api_err *err);
json_t *dmn_m_config_check(void *ctx, const struct api_call *call,
			   json_t *params, struct api_err *err);
json_t *dmn_m_admin_keys_list(void *ctx, const struct api_call *call,
			      json_t *params, struct api_err *err);
json_t *dmn_m_admin_keys_add(void *ctx, const struct api_call *call,
			     json_t *params, struct api_err *err);
json_t *dmn_m_admin_keys_remove(void *ctx, const struct api_call *call,
				json_t *params, struct api_err *err);

/* methods.c: the control API's method table. */
extern const struct api_method dmn_methods[];
extern const size_t dmn_nmethods;

/* child.c: the worker process (airlockd --worker). */
/*
 * image.c: make the mounted packed image match airlock.conf's image and
 * image_digest (verify and mount, or unmount, as needed; a file changed
 * since it was verified is verified again). At start, after a reload and
 * before each worker starts. A refusal is logged; d->img is then NULL,
 * and the worker's job verifies the file itself and fails with why.
 */
void dmn_image_refresh(struct daemon *d);
/* A worker started on img has ended. */
void dmn_image_put(struct daemon *d, struct dmn_image *img);
/* At stop: unmount every image (lazily where a sandbox still uses it). */
void dmn_image_free_all(struct daemon *d);

int dmn_worker_main(const char *home, const char *id, unsigned attempt,
		    const struct sbx_packed *image);

/* notify.c: sd_notify(3)'s protocol, without libsystemd. */
void dmn_notify(const char *state);

#endif
