/*
 * workers.c - the daemon's side of its workers: lease a job, start a
 * worker process for it, follow what it reports, keep its lease alive,
 * stop it on request or at its deadline, and end its lease when it died
 * without doing so itself. Main thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"
#include "daemon/daemon.h"
#include "daemon/joblog.h"
#include "job/job.h"
#include "job/steps.h"

extern char **environ;

static const char *const dmn_stop_names[] = {
#define DMN_X_NAME(e, name) name,
	DMN_STOP_TABLE(DMN_X_NAME)
#undef DMN_X_NAME
};

const char *dmn_stop_name(enum dmn_stop s)
{
	return (unsigned)s < AL_ARRAY_LEN(dmn_stop_names) ? dmn_stop_names[s]
							 : NULL;
}

int dmn_stop_parse(const char *name)
{
	for (size_t i = 0; name && i < AL_ARRAY_LEN(dmn_stop_names); i++)
		if (!strcmp(name, dmn_stop_names[i]))
			return (int)i;
	return -1;
}

struct dmn_worker *dmn_worker_by_id(struct daemon *d, const char *id)
{
	for (unsigned i = 0; i < d->nslots; i++)
		if (d->workers[i].used && !strcmp(d->workers[i].id, id))
			return &d->workers[i];
	return NULL;
}

static struct dmn_worker *worker_free_slot(struct daemon *d)
{
	for (unsigned i = 0; i < d->nslots; i++)
		if (!d->workers[i].used)
			return &d->workers[i];
	return NULL;
}

/*
 * In the child between fork and exec: async-signal-safe calls only
 * (the daemon has other threads, whose locks may be held at the fork).
 * The worker gets the control socket on 3 and the daemon's lock on 4;
 * every other descriptor is closed at exec. It dies with the daemon.
 */
static void __attribute__((noreturn))
worker_exec(const struct daemon *d, int sock, pid_t parent, char **argv)
{
	sigset_t none;
	int s, lk, ex, null;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* The daemon may have died before the line above. */
	if (getppid() != parent)
		_exit(127);
	/* The daemon blocks signals for its signalfd; the mask would
	 * survive exec. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	s = fcntl(sock, F_DUPFD_CLOEXEC, 10);
	lk = fcntl(d->lock_fd, F_DUPFD_CLOEXEC, 10);
	ex = fcntl(d->exe_fd, F_DUPFD_CLOEXEC, 10);
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (s < 0 || lk < 0 || ex < 0 || null < 0 || dup2(null, 0) < 0 ||
	    dup2(s, 3) < 0 || dup2(lk, 4) < 0)
		_exit(127);
	syscall(SYS_close_range, 5u, ~0u, CLOSE_RANGE_CLOEXEC);
	syscall(SYS_execveat, ex, "", argv, environ, AT_EMPTY_PATH);
	_exit(127);
}

static int worker_spawn(struct daemon *d, struct dmn_worker *w,
			const struct sched_lease *l)
{
	char attempt[16];
	char *argv[] = {"airlockd", "--worker", "--home", (char *)d->home,
			"--job", (char *)l->id, "--attempt", attempt, NULL,
			NULL, NULL, NULL, NULL, NULL, NULL};
	struct epoll_event ev = {.events = EPOLLIN};
	pid_t parent = getpid(), pid;
	int sv[2];

	snprintf(attempt, sizeof(attempt), "%u", l->attempt);
	/* The job runs on the image mounted now: verified again first if
	 * the file changed since. */
	dmn_image_refresh(d);
	if (d->img) {
		argv[8] = "--image-file";
		argv[9] = d->img->p.file;
		argv[10] = "--image-digest";
		argv[11] = d->img->p.digest;
		argv[12] = "--image-root";
		argv[13] = d->img->p.root;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid == 0)
		worker_exec(d, sv[1], parent, argv);
	close(sv[1]);
	if (pid < 0) {
		int rc = -errno;
		close(sv[0]);
		return rc;
	}
	*w = (struct dmn_worker){.used = true, .slot = w->slot, .pid = pid,
				 .sock = sv[0], .attempt = l->attempt,
				 .started_ms = al_wall_ms(),
				 .deadline_mono = al_mono_ms() +
						  (int64_t)d->cfg.job_timeout *
							  1000};
	memcpy(w->id, l->id, sizeof(w->id));
	w->img = d->img;
	if (w->img)
		w->img->users++;
	ev.data.ptr = w;
	if (epoll_ctl(d->ep, EPOLL_CTL_ADD, w->sock, &ev) < 0)
		al_warn("daemon", w->id, "cannot watch worker-%u: %s", w->slot,
			strerror(errno));
	return 0;
}

/* Go on numbering the job's log lines where an earlier attempt left off. */
static void worker_log_resume(struct daemon *d, struct dmn_worker *w)
{
	struct store_txn *txn = NULL;

	if (store_txn_begin(d->st, false, &txn) == 0) {
		dmn_log_last(txn, w->id, &w->log_n);
		store_txn_abort(txn);
	}
	if (w->log_n >= DMN_LOG_LINES_MAX)
		w->log_dropped = 1; /* no room left: count, keep none */
}

int dmn_workers_fill(struct daemon *d)
{
	struct sched_lease l;
	struct dmn_worker *w;
	char name[32];
	int rc = 0;

	while (!atomic_load(&d->stopping) &&
	       atomic_load(&d->running) < d->max_workers &&
	       (w = worker_free_slot(d))) {
		snprintf(name, sizeof(name), "worker-%u", w->slot);
		rc = sched_lease(d->sched, NULL, name, &l);
		if (rc)
			break;
		json_decref(l.record);
		rc = worker_spawn(d, w, &l);
		if (rc) {
			al_error("daemon", l.id, "cannot start a worker: %s",
				 al_strerror(rc));
			sched_complete(d->sched, NULL, l.id, l.attempt,
				       SCHED_OUT_RETRY,
				       "the worker process could not be started",
				       NULL);
			break;
		}
		worker_log_resume(d, w);
		atomic_fetch_add(&d->running, 1);
		d->jobs_started++;
		al_info("daemon", w->id, "job leased to worker-%u pid=%ld "
			"attempt=%u", w->slot, (long)w->pid, w->attempt);
		dmn_publish_state(d, w->id);
	}
	return rc == AL_E_NOTFOUND ? 0 : rc;
}

void dmn_worker_stop(struct daemon *d, struct dmn_worker *w,
		     enum dmn_stop why)
{
	char msg[64];
	int n;

	if (w->stop != DMN_STOP_NONE)
		return;
	w->stop = why;
	w->kill_mono = al_mono_ms() + DMN_STOP_GRACE_MS;
	n = snprintf(msg, sizeof(msg), "{\"stop\":\"%s\"}", dmn_stop_name(why));
	/* The message, not a signal: a signal could overtake it and the
	 * worker would take a cancel for a shutdown. */
	if (w->sock < 0 || send(w->sock, msg, (size_t)n,
				MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		kill(w->pid, SIGTERM);
	al_info("daemon", w->id, "asked worker-%u to stop reason=%s", w->slot,
		dmn_stop_name(why));
}

void dmn_workers_stop_all(struct daemon *d, enum dmn_stop why)
{
	for (unsigned i = 0; i < d->nslots; i++)
		if (d->workers[i].used)
			dmn_worker_stop(d, &d->workers[i], why);
}

/* A step the worker sent (m's key): 1..JOB_STEPS_MAX, else 0 (none). */
static unsigned worker_step(const json_t *m, const char *key)
{
	json_t *v = json_object_get(m, key);
	json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;

	return n > 0 && n <= JOB_STEPS_MAX ? (unsigned)n : 0;
}

/*
 * A stage change: recorded by the scheduler (job.stage), published. Its
 * place comes with it ({"stage", "step", "steps"}); a step the worker
 * did not send, or one past the total, is recorded as none.
 */
static void worker_stage(struct daemon *d, struct dmn_worker *w,
			 const char *stage, const json_t *m)
{
	struct sched_stage st = {.name = w->stage,
				 .step = worker_step(m, "step"),
				 .steps = worker_step(m, "steps")};
	int rc;

	if (st.steps && st.step > st.steps)
		st.step = st.steps = 0;
	al_strlcpy(w->stage, stage, sizeof(w->stage));
	al_sanitize_text(w->stage);
	w->step = st.step;
	w->steps = st.steps;
	rc = sched_heartbeat(d->sched, NULL, w->id, w->attempt, &st, NULL,
			     NULL);
	if (rc && rc != AL_E_STALE)
		al_warn("daemon", w->id, "cannot record stage %s: %s",
			w->stage, al_strerror(rc));
	/* The whole summary, read again: the worker may have stored its
	 * plan or score since the last event, and the index follows. */
	dmn_publish_rec(d, "job.stage", w->id);
}

/* Keep a progress line (bounded) in txn and publish it. */
static void worker_line(struct daemon *d, struct store_txn *txn,
			struct dmn_worker *w, const char *line)
{
	int64_t now = al_wall_ms();

	if (w->log_n >= DMN_LOG_LINES_MAX) {
		w->log_dropped++;
		return;
	}
	if (txn && dmn_log_put(txn, w->id, w->log_n + 1, now, line) == 0)
		w->log_n++;
	dmn_publish_job(d, "job.log",
			json_pack("{s:s,s:I,s:I,s:s}", "id", w->id, "n",
				  (json_int_t)w->log_n, "time",
				  (json_int_t)now, "line", line));
}

static void worker_close_sock(struct daemon *d, struct dmn_worker *w)
{
	if (w->sock < 0)
		return;
	epoll_ctl(d->ep, EPOLL_CTL_DEL, w->sock, NULL);
	close(w->sock);
	w->sock = -1;
}

/*
 * Everything the worker sent so far. Lines of one burst share a write
 * transaction (they carry no audit entry: they are output, not
 * operations); stage changes go through the scheduler.
 */
void dmn_worker_readable(struct daemon *d, struct dmn_worker *w)
{
	char buf[DMN_MSG_MAX + 1];
	struct store_txn *txn = NULL;
	bool eof = false;

	for (int i = 0; i < 256 && w->sock >= 0; i++) {
		ssize_t n = recv(w->sock, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			eof = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
			break;
		}
		json_t *m = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES,
				       NULL);
		const char *stage = json_string_value(json_object_get(m,
								      "stage"));
		const char *line = json_string_value(json_object_get(m, "line"));
		if (stage && *stage) {
			if (txn && store_txn_commit(txn))
				al_warn("daemon", w->id, "progress lines lost");
			txn = NULL;
			worker_stage(d, w, stage, m);
		} else if (line) {
			if (!txn && store_txn_begin(d->st, true, &txn))
				txn = NULL;
			worker_line(d, txn, w, line);
		}
		json_decref(m);
	}
	if (txn && store_txn_commit(txn))
		al_warn("daemon", w->id, "progress lines could not be stored");
	if (eof)
		worker_close_sock(d, w);
}

/* How the daemon ends a lease the worker left open when it died. */
static enum sched_outcome worker_outcome(const struct dmn_worker *w,
					 int status, char *why, size_t whysz)
{
	switch (w->stop) {
	case DMN_STOP_CANCEL:
		snprintf(why, whysz, "cancelled on request");
		return SCHED_OUT_CANCELLED;
	case DMN_STOP_SHUTDOWN:
		snprintf(why, whysz, "the daemon stopped while the job ran");
		return SCHED_OUT_REQUEUE;
	case DMN_STOP_TIMEOUT:
		snprintf(why, whysz, "the job ran longer than job_timeout and "
			 "was stopped");
		return SCHED_OUT_FAILED;
	default:
		break;
	}
	if (WIFSIGNALED(status))
		snprintf(why, whysz, "the worker was killed by signal %d (%s)",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(why, whysz, "the worker exited with status %d before "
			 "the job ended", WEXITSTATUS(status));
	return SCHED_OUT_RETRY;
}

static void worker_ended(struct daemon *d, struct dmn_worker *w, int status)
{
	char why[256];
	enum sched_outcome out = worker_outcome(w, status, why, sizeof(why));
	bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	int rc;

	dmn_worker_readable(d, w);
	worker_close_sock(d, w);
	if (w->log_dropped) {
		struct store_txn *txn = NULL;
		char line[96];
		snprintf(line, sizeof(line), "(%u more lines were not kept)",
			 w->log_dropped);
		w->log_dropped = 0;
		w->log_n = w->log_n < DMN_LOG_LINES_MAX ? w->log_n
							: DMN_LOG_LINES_MAX - 1;
		if (store_txn_begin(d->st, true, &txn) == 0) {
			worker_line(d, txn, w, line);
			store_txn_commit(txn);
		}
	}
	/* AL_E_STALE: the worker ended the lease itself, as it should. */
	rc = sched_complete(d->sched, NULL, w->id, w->attempt, out, why, NULL);
	if (rc == 0)
		al_warn("daemon", w->id, "worker-%u pid=%ld ended the job "
			"early: %s", w->slot, (long)w->pid, why);
	else if (rc != AL_E_STALE)
		al_error("daemon", w->id, "cannot end the lease of worker-%u: "
			 "%s", w->slot, al_strerror(rc));
	/* What a killed worker left (workspace, volume, cgroups) goes now,
	 * not at the next start. */
	if (!clean || rc == 0)
		job_sweep_home(d->home);
	al_info("daemon", w->id, "worker-%u pid=%ld exited %s=%d", w->slot,
		(long)w->pid, WIFSIGNALED(status) ? "signal" : "status",
		WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	dmn_publish_state(d, w->id);
	dmn_image_put(d, w->img);
	w->img = NULL;
	w->used = false;
	w->pid = 0;
	atomic_fetch_sub(&d->running, 1);
}

void dmn_workers_reap(struct daemon *d)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (unsigned i = 0; i < d->nslots; i++) {
			struct dmn_worker *w = &d->workers[i];
			if (w->used && w->pid == pid) {
				worker_ended(d, w, status);
				break;
			}
		}
	}
}

/*
 * Heartbeat every running job's lease in one transaction, and learn of
 * cancels asked for meanwhile (also through the API, which pokes us).
 * 0 once every live worker's lease is renewed (none running counts).
 */
int dmn_workers_beat(struct daemon *d)
{
	struct store_txn *txn = NULL;
	int rc;

	if (atomic_load(&d->running) == 0)
		return 0;
	if ((rc = sched_begin(d->sched, &txn))) {
		al_warn("daemon", NULL, "heartbeat: %s", al_strerror(rc));
		return rc;
	}
	for (unsigned i = 0; i < d->nslots && rc == 0; i++) {
		struct dmn_worker *w = &d->workers[i];
		bool cancel = false;
		if (!w->used)
			continue;
		rc = sched_heartbeat(d->sched, txn, w->id, w->attempt, NULL,
				     NULL, &cancel);
		if (rc == AL_E_STALE || rc == AL_E_NOTFOUND)
			rc = 0; /* it just ended its lease */
		if (rc == 0 && cancel)
			dmn_worker_stop(d, w, DMN_STOP_CANCEL);
	}
	if (rc) {
		store_txn_abort(txn);
		al_warn("daemon", NULL, "heartbeat: %s", al_strerror(rc));
		return rc;
	}
	if ((rc = sched_commit(d->sched, txn)))
		al_warn("daemon", NULL, "heartbeat commit: %s",
			al_strerror(rc));
	return rc;
}

/*
 * End the leases that expired: call right after dmn_workers_beat
 * succeeded. Every live worker's lease was just renewed, so a lease
 * that expired anyway has no worker: its end could not be stored when
 * the worker stopped (a full disk), and without this the job would
 * stay "running", its repository blocked, until the next start.
 */
void dmn_workers_orphans(struct daemon *d)
{
	unsigned n = 0;
	int rc = sched_requeue_expired(d->sched, NULL, false, &n);

	if (rc)
		al_warn("daemon", NULL, "cannot end expired leases: %s",
			al_strerror(rc));
	else if (n) {
		al_warn("daemon", NULL, "ended %u lease%s that no worker "
			"held", n, n == 1 ? "" : "s");
		/* Those jobs changed without a record passing through
		 * dmn_jobs_changed: their index rows are stale, so the
		 * next sorted or filtered page builds the index anew. */
		pthread_mutex_lock(&d->ix_lock);
		if (d->ix || d->ix_building)
			d->ix_lost = true;
		pthread_mutex_unlock(&d->ix_lock);
	}
}

void dmn_workers_deadlines(struct daemon *d, int64_t now)
{
	for (unsigned i = 0; i < d->nslots; i++) {
		struct dmn_worker *w = &d->workers[i];
		if (!w->used)
			continue;
		if (w->stop == DMN_STOP_NONE && now >= w->deadline_mono) {
			al_warn("daemon", w->id, "job ran past job_timeout "
				"(%u s)", d->cfg.job_timeout);
			dmn_worker_stop(d, w, DMN_STOP_TIMEOUT);
		} else if (w->kill_mono && now >= w->kill_mono) {
			al_warn("daemon", w->id, "worker-%u pid=%ld did not stop "
				"within %d s; killing it", w->slot, (long)w->pid,
				DMN_STOP_GRACE_MS / 1000);
			kill(w->pid, SIGKILL);
			w->kill_mono = 0;
		}
	}
}

int64_t dmn_workers_next_deadline(const struct daemon *d)
{
	int64_t best = INT64_MAX;

	for (unsigned i = 0; i < d->nslots; i++) {
		const struct dmn_worker *w = &d->workers[i];
		int64_t t = !w->used ? INT64_MAX
			    : w->stop == DMN_STOP_NONE ? w->deadline_mono
			    : w->kill_mono ? w->kill_mono
					   : INT64_MAX;
		if (t < best)
			best = t;
	}
	return best;
}
