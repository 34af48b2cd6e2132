/*
 * daemon.c - airlockd's start-up, main loop, reload and shutdown
 * (daemon.h has the picture; docs/daemon.md the operator's view).
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/client.h"
#include "audit/checkpoint.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/util.h"
#include "job/job.h"
#include "sandbox/sandbox.h"

/* epoll tags for the daemon's own descriptors (workers use their slot). */
static char dmn_tag_sig, dmn_tag_wake;

void dmn_poke(struct daemon *d)
{
	uint64_t one = 1;

	if (write(d->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		al_debug("daemon", NULL, "wake: %s", strerror(errno));
}

void dmn_publish_job(struct daemon *d, const char *event, json_t *data)
{
	if (d->api)
		api_server_publish(d->api, "job", event, data);
	else
		json_decref(data);
}

/* Called with the sched read lock held, or from the main thread. */
void dmn_publish_rec(struct daemon *d, const char *event, const char *id)
{
	int64_t now = al_wall_ms();
	json_t *rec = NULL;

	if (sched_show(d->sched, id, &rec))
		return;
	dmn_jobs_changed(d, rec, now);
	atomic_store(&d->wv_dirty, true);
	dmn_publish_job(d, event, sched_index_summary(rec, now));
	json_decref(rec);
}

void dmn_publish_state(struct daemon *d, const char *id)
{
	dmn_publish_rec(d, "job.state", id);
}

/* An entry of the daemon's own, in a transaction of its own. */
static int dmn_audit(struct daemon *d, const char *action, const char *object,
		     json_t *details)
{
	int rc = audit_append_now(d->log, DMN_ACTOR, action, object, details,
				  NULL);
	if (rc)
		al_error("daemon", NULL, "cannot write audit entry %s: %s",
			 action, al_strerror(rc));
	return rc;
}

/*
 * Whether pid is a live process: a daemon killed a moment ago stays a
 * zombie until its parent reaps it, and kill() still finds it then.
 */
static bool dmn_pid_alive(long pid)
{
	char path[64], stat[256];
	const char *state;
	ssize_t n;
	int fd;

	if (pid <= 0 || kill((pid_t)pid, 0) < 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno != ENOENT;
	n = read(fd, stat, sizeof(stat) - 1);
	close(fd);
	if (n <= 0)
		return true;
	stat[n] = '\0';
	/* "pid (comm) S ...": the state follows the last ')'. */
	state = strrchr(stat, ')');
	return !state || state[1] != ' ' || (state[2] != 'Z' && state[2] != 'X');
}

/*
 * HOME/airlockd.lock: one daemon per home, and none while workers of a
 * dead one still run (they hold the same lock, inherited). The file
 * names the pid that took it, for the message. A daemon refused here
 * leaves the file as it found it: the pid in it is the holder's.
 */
static int dmn_lock(struct daemon *d)
{
	char path[4200], pidtxt[32];
	int64_t give_up = al_mono_ms() + DMN_LOCK_WAIT_MS;
	bool told = false;
	int n;

	snprintf(path, sizeof(path), "%s/" DMN_LOCK_NAME, d->home);
	d->lock_fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (d->lock_fd < 0) {
		al_error("daemon", NULL, "%s: cannot open: %s", path,
			 strerror(errno));
		return -errno;
	}
	while (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		long holder = 0;
		n = (int)pread(d->lock_fd, pidtxt, sizeof(pidtxt) - 1, 0);
		pidtxt[n > 0 ? n : 0] = '\0';
		holder = strtol(pidtxt, NULL, 10);
		if (dmn_pid_alive(holder)) {
			al_error("daemon", NULL, "another airlockd (pid %ld) "
				 "runs on %s; refusing to start a second one",
				 holder, d->home);
			goto refused;
		}
		if (al_mono_ms() > give_up) {
			al_error("daemon", NULL, "%s is still held by workers of "
				 "an airlockd (pid %ld) that is gone; not "
				 "starting while they run", path, holder);
			goto refused;
		}
		if (!told)
			al_warn("daemon", NULL, "waiting for the workers of the "
				"previous airlockd (pid %ld) to exit", holder);
		told = true;
		usleep(100 * 1000);
	}
	n = snprintf(pidtxt, sizeof(pidtxt), "%ld\n", (long)getpid());
	if (ftruncate(d->lock_fd, 0) < 0 ||
	    pwrite(d->lock_fd, pidtxt, (size_t)n, 0) != n)
		al_warn("daemon", NULL, "%s: cannot record our pid", path);
	return 0;
refused:
	/* Not ours: dmn_finish must not clear the holder's pid. */
	close(d->lock_fd);
	d->lock_fd = -1;
	return AL_E_EXISTS;
}

static int dmn_home(struct daemon *d)
{
	char err[4300];
	struct stat st;

	if (mkdir(d->home, 0700) < 0 && errno != EEXIST) {
		snprintf(err, sizeof(err), "%s: cannot create: %s", d->home,
			 strerror(errno));
		al_error("daemon", NULL, "%s", err);
		return -errno;
	}
	if (lstat(d->home, &st) < 0 || !S_ISDIR(st.st_mode)) {
		al_error("daemon", NULL, "%s: not a directory (a symlink is "
			 "refused)", d->home);
		return AL_E_UNSAFE;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		al_error("daemon", NULL, "%s: writable by group or others "
			 "(mode %04o); expected 0700 or 0710", d->home,
			 (unsigned)(st.st_mode & 07777));
		return AL_E_UNSAFE;
	}
	return 0;
}

/*
 * HOME is the daemon's state directory: 0700 and the daemon's own
 * group, or, with socket_group, 0710 and that group, so that its
 * members reach HOME/airlockd.sock (search, not read, and nothing
 * below). A home made 0755, or left 0710 to a group after socket_group
 * was removed, would let others list the keys, the store and the jobs'
 * workspaces by name: it is set right, with a warning line.
 */
static void dmn_home_mode(struct daemon *d)
{
	gid_t gid = d->cfg.socket_gid == (gid_t)-1 ? getegid()
						   : d->cfg.socket_gid;
	mode_t want = d->cfg.socket_gid == (gid_t)-1 ? 0700 : 0710;
	struct stat st;

	if (stat(d->home, &st) < 0) {
		al_warn("daemon", NULL, "%s: %s", d->home, strerror(errno));
		return;
	}
	if ((st.st_mode & 07777) == want && st.st_gid == gid)
		return;
	if (chown(d->home, (uid_t)-1, gid) < 0 || chmod(d->home, want) < 0) {
		al_warn("daemon", NULL, "%s: cannot set mode %04o and group %u "
			"(it is mode %04o, group %u): %s", d->home,
			(unsigned)want, (unsigned)gid,
			(unsigned)(st.st_mode & 07777), (unsigned)st.st_gid,
			strerror(errno));
		return;
	}
	/* Opening the home to socket_group is what was asked for; taking
	 * anything away is news to the operator. */
	if (st.st_mode & 0077 & ~want)
		al_warn("daemon", NULL, "%s was mode %04o, group %u; set to "
			"%04o, group %u: the daemon's state directory is %s",
			d->home, (unsigned)(st.st_mode & 07777),
			(unsigned)st.st_gid, (unsigned)want, (unsigned)gid,
			want == 0700 ? "its own (no socket_group in "
				       "airlock.conf)"
				     : "searchable by socket_group only");
}

/*
 * airlock.conf names the registry and the token file: readable by
 * others, or by a group other than the daemon's (socket_group's members
 * reach HOME), it tells them where the secrets are. A warning, not a
 * refusal: homes made with umask 022 start as they did.
 */
static void dmn_conf_check(struct daemon *d)
{
	char path[4200];
	struct stat st;

	snprintf(path, sizeof(path), "%s/airlock.conf", d->home);
	if (stat(path, &st) < 0)
		return;
	if ((st.st_mode & S_IROTH) ||
	    ((st.st_mode & S_IRGRP) && st.st_gid != getegid()))
		al_warn("daemon", NULL, "%s is readable by %s (mode %04o, "
			"group %u): it names the registry and the token file; "
			"chmod 0600 it", path,
			st.st_mode & S_IROTH ? "others" : "its group",
			(unsigned)(st.st_mode & 07777), (unsigned)st.st_gid);
}

/* Bounds of AIRLOCK_TEST_BACKOFF_MS: never longer than the default. */
#define DMN_TEST_BACKOFF_MIN 10

int64_t dmn_test_backoff_ms(bool say)
{
	const char *env = getenv("AIRLOCK_TEST_BACKOFF_MS");
	uint64_t n = 0;

	if (!env || !*env)
		return 0;
	if (al_parse_u64(env, SCHED_DEFAULT_BACKOFF_MS, &n) ||
	    n < DMN_TEST_BACKOFF_MIN) {
		if (say)
			al_warn("daemon", NULL, "AIRLOCK_TEST_BACKOFF_MS='%.32s' "
				"is not a number from %d to %d: ignored", env,
				DMN_TEST_BACKOFF_MIN, SCHED_DEFAULT_BACKOFF_MS);
		return 0;
	}
	if (say)
		al_warn("daemon", NULL, "AIRLOCK_TEST_BACKOFF_MS: a retry waits "
			"%llu ms before jitter, not %d s (for tests)",
			(unsigned long long)n, SCHED_DEFAULT_BACKOFF_MS / 1000);
	return (int64_t)n;
}

static int dmn_sched_open(struct daemon *d, const struct job_config *c,
			  struct sched **out)
{
	struct sched_schedule *sch = NULL;
	struct sched_opts o = {.backoff_ms = dmn_test_backoff_ms(!d->sched)};
	int rc = job_config_schedules(c, &sch);

	if (rc)
		return rc;
	o.schedules = sch;
	o.nschedules = c->nschedules;
	rc = sched_open(d->log, &o, out);
	free(sch);
	return rc;
}

static unsigned dmn_max_workers(const struct job_config *c)
{
	return c->workers ? c->workers
			  : sched_host_workers(c->cpus_milli, c->memory);
}

static int dmn_api_audit(void *ctx, const struct api_audit_rec *recs,
			 size_t n)
{
	struct daemon *d = ctx;
	int rc = api_audit_to_log(d->log, recs, n);

	/* Subscribers to "audit" see these entries at the next round. */
	dmn_poke(d);
	return rc;
}

static void *dmn_api_main(void *arg)
{
	struct daemon *d = arg;
	int rc = api_server_run(d->api);

	if (rc)
		al_error("daemon", NULL, "the control API stopped: %s",
			 al_strerror(rc));
	return NULL;
}

static int dmn_api_start(struct daemon *d)
{
	struct api_server_opts o = {
		.path = d->sock_path,
		.gid = d->cfg.socket_gid,
		.methods = dmn_methods,
		.nmethods = dmn_nmethods,
		.ctx = d,
		.audit = dmn_api_audit,
		.audit_ctx = d,
		.subscribed = dmn_views_subscribed,
	};
	int rc;

	/* The admin shell's account, and it alone, may name the SSH key a
	 * call comes from (docs/admin-shell.md). */
	if (d->cfg.admin_uid != (uid_t)-1) {
		o.fp_uids = &d->cfg.admin_uid;
		o.nfp_uids = 1;
	}
	if ((rc = api_server_new(&o, &d->api)))
		return rc;
	rc = -pthread_create(&d->api_thread, NULL, dmn_api_main, d);
	d->api_up = rc == 0;
	return rc;
}

/* Before anything is made in the home: the socket's path must fit. */
static int dmn_sock_path(struct daemon *d)
{
	int rc = api_socket_path(d->home, d->sock_path, sizeof(d->sock_path));

	if (rc)
		al_error("daemon", NULL, "%s: the socket path would be too long "
			 "for a Unix socket; choose a shorter home", d->home);
	return rc;
}

static int dmn_fds(struct daemon *d)
{
	struct epoll_event ev = {.events = EPOLLIN};
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	/* Blocked in every thread (the API thread is made after this). */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	d->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->ep = epoll_create1(EPOLL_CLOEXEC);
	d->exe_fd = open("/proc/self/exe", O_PATH | O_CLOEXEC);
	if (d->sig_fd < 0 || d->wake_fd < 0 || d->ep < 0 || d->exe_fd < 0)
		return -errno;
	ev.data.ptr = &dmn_tag_sig;
	if (epoll_ctl(d->ep, EPOLL_CTL_ADD, d->sig_fd, &ev) < 0)
		return -errno;
	ev.data.ptr = &dmn_tag_wake;
	if (epoll_ctl(d->ep, EPOLL_CTL_ADD, d->wake_fd, &ev) < 0)
		return -errno;
	return 0;
}

/* The newest audit seq, 0 for an empty log. */
static uint64_t dmn_audit_head(struct daemon *d)
{
	struct store_txn *txn = NULL;
	struct store_cursor *cur = NULL;
	const void *k;
	size_t klen;
	uint64_t seq = 0;

	if (store_txn_begin(d->st, false, &txn))
		return 0;
	if (store_cursor_open(txn, STORE_DB_AUDIT, &cur) == 0 &&
	    store_cursor_last(cur) == 0 &&
	    store_cursor_next(cur, &k, &klen, NULL) == 0 && klen == 8)
		for (size_t i = 0; i < 8; i++)
			seq = seq << 8 | ((const uint8_t *)k)[i];
	store_cursor_close(cur);
	store_txn_abort(txn);
	return seq;
}

/*
 * Publish the entries appended since the last look (by the daemon, the
 * API thread and the workers alike) to "audit" subscribers, at most a
 * bounded number per round.
 */
static void dmn_audit_tail(struct daemon *d)
{
	struct store_txn *txn = NULL;
	struct store_cursor *cur = NULL;
	uint8_t key[8];
	const void *k;
	size_t klen;
	json_t *e;

	if (store_txn_begin(d->st, false, &txn))
		return;
	audit_key(d->audit_seen + 1, key);
	if (store_cursor_open(txn, STORE_DB_AUDIT, &cur) == 0 &&
	    store_cursor_seek(cur, key, sizeof(key)) == 0)
		for (int i = 0; i < 512 &&
				store_cursor_next(cur, &k, &klen, &e) == 0;
		     i++) {
			d->audit_seen = (uint64_t)json_integer_value(
				json_object_get(e, "seq"));
			api_server_publish(
				d->api, "audit", "audit.entry",
				json_pack("{s:O?,s:O?,s:O?,s:O?,s:O?}", "seq",
					  json_object_get(e, "seq"), "time",
					  json_object_get(e, "time"), "actor",
					  json_object_get(e, "actor"),
					  "action",
					  json_object_get(e, "action"),
					  "object",
					  json_object_get(e, "object")));
		}
	store_cursor_close(cur);
	store_txn_abort(txn);
}

static int dmn_start(struct daemon *d)
{
	struct store_opts so = {.create = true, .resume = false};
	char err[1024] = "";
	unsigned requeued = 0;
	int swept, rc;

	if ((rc = dmn_home(d)) || (rc = dmn_sock_path(d)) ||
	    (rc = dmn_lock(d)))
		return rc;
	if ((rc = job_config_load(d->home, &d->cfg, err, sizeof(err)))) {
		al_error("daemon", NULL, "%s", err);
		return rc;
	}
	dmn_home_mode(d);
	dmn_conf_check(d);
	if (sbx_check_host(err, sizeof(err))) {
		al_error("daemon", NULL, "this host cannot give jobs their "
			 "sandbox, so no job would be safe here: %s", err);
		return AL_E_SANDBOX;
	}
	if ((rc = dmn_fds(d))) {
		al_error("daemon", NULL, "cannot set up the event loop: %s",
			 al_strerror(rc));
		return rc;
	}
	/* An interrupted rotation is resumed in the background (rotate.c),
	 * not here before the daemon serves. */
	so.seal_limit = dmn_reseal_seal_limit();
	if ((rc = store_open_opts(d->home, &so, &d->st))) {
		al_error("daemon", NULL, "cannot open the store under %s: %s "
			 "(the line above says why)", d->home, al_strerror(rc));
		return rc;
	}
	if ((rc = audit_log_open(d->st, d->home, &d->cfg.audit, &d->log))) {
		al_error("daemon", NULL, "the audit log under %s refuses "
			 "writing: %s (the line above says why)", d->home,
			 al_strerror(rc));
		return rc;
	}
	if ((rc = dmn_sched_open(d, &d->cfg, &d->sched)) ||
	    (rc = dmn_reseal_init(d)) || (rc = dmn_prune_init(d)))
		return rc;

	/* What a crash left: workspaces, volumes, cgroups, image mounts,
	 * leases. */
	swept = job_sweep_home(d->home);
	dmn_image_refresh(d);
	if ((rc = sched_requeue_expired(d->sched, NULL, true, &requeued))) {
		al_error("daemon", NULL, "cannot recover the jobs of the "
			 "previous run: %s", al_strerror(rc));
		return rc;
	}
	d->max_workers = dmn_max_workers(&d->cfg);
	d->workers = calloc(SCHED_WORKERS_MAX, sizeof(*d->workers));
	if (!d->workers)
		return -ENOMEM;
	d->nslots = SCHED_WORKERS_MAX;
	for (unsigned i = 0; i < d->nslots; i++)
		d->workers[i] = (struct dmn_worker){.slot = i + 1, .sock = -1};

	rc = dmn_audit(d, "daemon.start", d->home,
		       json_pack("{s:I,s:s,s:i,s:i,s:i,s:I}", "pid",
				 (json_int_t)getpid(), "version", AL_VERSION,
				 "workers", (int)d->max_workers, "requeued",
				 (int)requeued, "workspaces_removed",
				 swept > 0 ? swept : 0, "schedules",
				 (json_int_t)d->cfg.nschedules));
	if (rc == 0 && (rc = dmn_api_start(d)))
		al_error("daemon", NULL, "cannot serve the control API on %s: "
			 "%s", d->sock_path, al_strerror(rc));
	if (rc)
		return rc;
	d->audit_seen = dmn_audit_head(d);
	d->started_ms = al_wall_ms();
	d->started_mono = al_mono_ms();
	al_info("daemon", NULL, "airlockd %s ready home=%s socket=%s "
		"workers=%u requeued=%u schedules=%zu pid=%ld", AL_VERSION,
		d->home, d->sock_path, d->max_workers, requeued,
		d->cfg.nschedules, (long)getpid());
	dmn_notify("READY=1");
	return 0;
}

/*
 * SIGHUP: read airlock.conf again. A file that does not load leaves the
 * running configuration in force, and says which line and why. Jobs
 * already running keep the settings they started with.
 */
static void dmn_reload(struct daemon *d)
{
	struct job_config nc;
	struct sched *ns = NULL, *old;
	char err[1024] = "";
	int rc;

	dmn_notify("RELOADING=1");
	rc = job_config_load(d->home, &nc, err, sizeof(err));
	if (rc == 0 && (rc = dmn_sched_open(d, &nc, &ns)))
		snprintf(err, sizeof(err), "the schedules do not load: %s "
			 "(the line above says why)", al_strerror(rc));
	if (rc) {
		/* The text may quote a key that is not UTF-8. */
		al_utf8_repair(err, strlen(err));
		al_error("daemon", NULL, "reload refused, the running "
			 "configuration stays in force: %s", err);
		dmn_audit(d, "config.reload", "airlock.conf",
			  json_pack("{s:s,s:s}", "result", "refused", "error",
				    err));
		job_config_free(&nc);
		dmn_notify("READY=1");
		return;
	}
	if (nc.socket_gid != d->cfg.socket_gid)
		al_warn("daemon", NULL, "socket_group changes take effect at "
			"the next start");
	if (nc.admin_uid != d->cfg.admin_uid)
		al_warn("daemon", NULL, "admin_user changes take effect at "
			"the next start");
	dmn_conf_check(d);
	pthread_rwlock_wrlock(&d->sched_lock);
	old = d->sched;
	d->sched = ns;
	job_config_free(&d->cfg);
	d->cfg = nc;
	d->max_workers = dmn_max_workers(&d->cfg);
	pthread_rwlock_unlock(&d->sched_lock);
	sched_close(old);
	dmn_image_refresh(d);
	/* The retention keys may have changed: a run soon, not in an hour. */
	dmn_prune_kick(d);
	d->reloads++;
	dmn_audit(d, "config.reload", "airlock.conf",
		  json_pack("{s:s,s:i,s:I}", "result", "ok", "workers",
			    (int)d->max_workers, "schedules",
			    (json_int_t)d->cfg.nschedules));
	al_info("daemon", NULL, "configuration reloaded workers=%u "
		"schedules=%zu", d->max_workers, d->cfg.nschedules);
	dmn_notify("READY=1");
}

static void dmn_begin_stop(struct daemon *d, int sig)
{
	if (atomic_load(&d->stopping)) {
		/* Asked twice: do not wait for the workers' clean-up. */
		al_warn("daemon", NULL, "signal %d again: killing the workers",
			sig);
		for (unsigned i = 0; i < d->nslots; i++)
			if (d->workers[i].used)
				d->workers[i].kill_mono = al_mono_ms();
		return;
	}
	atomic_store(&d->stopping, true);
	dmn_notify("STOPPING=1");
	al_info("daemon", NULL, "stopping on signal %d running=%u", sig,
		atomic_load(&d->running));
	dmn_workers_stop_all(d, DMN_STOP_SHUTDOWN);
}

static void dmn_signals(struct daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->sig_fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			dmn_begin_stop(d, (int)si.ssi_signo);
			break;
		case SIGHUP:
			dmn_reload(d);
			break;
		default: /* SIGCHLD: reaped below */
			break;
		}
	}
}

static void dmn_tick(struct daemon *d)
{
	json_t *fired = NULL, *f;
	size_t i;

	if (d->cfg.nschedules == 0)
		return;
	if (sched_tick(d->sched, NULL, &fired)) {
		al_warn("daemon", NULL, "schedules could not be ticked");
		return;
	}
	json_array_foreach(fired, i, f)
		dmn_publish_state(d, json_string_value(json_object_get(f, "id")));
	json_decref(fired);
}

static void dmn_checkpoint(struct daemon *d)
{
	bool taken = false;
	int rc = audit_checkpoint(d->log, false, &taken, NULL);

	if (rc)
		al_error("daemon", NULL, "checkpoint: %s", al_strerror(rc));
	else if (taken)
		al_info("daemon", NULL, "audit checkpoint signed");
}

/* ms until the earliest thing the loop must do, for epoll_wait. */
static int dmn_timeout(struct daemon *d, int64_t now, int64_t *wake_wall)
{
	int64_t at = d->next_cp_mono, t;

	if (atomic_load(&d->running)) {
		if (d->next_beat_mono < at)
			at = d->next_beat_mono;
		if (now + DMN_TAIL_MS < at)
			at = now + DMN_TAIL_MS;
	}
	if ((t = dmn_workers_next_deadline(d)) < at)
		at = t;
	if ((t = dmn_reseal_next(d)) < at)
		at = t;
	if ((t = dmn_prune_next(d)) < at)
		at = t;
	if ((t = dmn_views_next(d, now)) < at)
		at = t;
	*wake_wall = INT64_MAX;
	if (!atomic_load(&d->stopping) &&
	    sched_next_wakeup(d->sched, wake_wall) == 0 &&
	    *wake_wall != INT64_MAX) {
		t = now + (*wake_wall - al_wall_ms());
		/* Past already (a lease that heartbeats could not renew):
		 * look again in a second rather than spin. */
		if (t <= now)
			t = now + 1000;
		if (t < at)
			at = t;
	}
	t = at - now;
	return t < 0 ? 0 : t > 3600000 ? 3600000 : (int)t;
}

static int dmn_loop(struct daemon *d)
{
	struct epoll_event evs[32];
	int64_t wake_wall = 0, lease_ms = SCHED_DEFAULT_LEASE_MS;

	d->next_cp_mono = al_mono_ms() + DMN_CHECKPOINT_MS;
	dmn_tick(d);
	while (!atomic_load(&d->stopping) || atomic_load(&d->running) > 0) {
		int64_t now = al_mono_ms();
		bool poked = false, wake_due;
		int n = epoll_wait(d->ep, evs, 32, dmn_timeout(d, now,
							       &wake_wall));
		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			uint64_t v;
			if (p == &dmn_tag_sig) {
				dmn_signals(d);
			} else if (p == &dmn_tag_wake) {
				poked = read(d->wake_fd, &v, sizeof(v)) > 0;
			} else {
				dmn_worker_readable(d, p);
			}
		}
		dmn_workers_reap(d);
		now = al_mono_ms();
		dmn_workers_deadlines(d, now);
		/* A lease expiry is among the wake-ups: once the live leases
		 * are renewed, the expired ones are orphans. */
		wake_due = wake_wall != INT64_MAX && al_wall_ms() >= wake_wall;
		if (poked || wake_due || now >= d->next_beat_mono) {
			/* A poke may be a cancel: heartbeats learn of it. */
			if (dmn_workers_beat(d) == 0 &&
			    (wake_due || now >= d->next_beat_mono))
				dmn_workers_orphans(d);
			d->next_beat_mono = now + lease_ms / 3;
		}
		if (!atomic_load(&d->stopping)) {
			if (wake_due)
				dmn_tick(d);
			dmn_workers_fill(d);
		}
		dmn_reseal_round(d);
		dmn_prune_round(d, now);
		if (now >= d->next_cp_mono) {
			dmn_checkpoint(d);
			d->next_cp_mono = now + DMN_CHECKPOINT_MS;
		}
		dmn_audit_tail(d);
		dmn_views_update(d);
		dmn_views_round(d, al_mono_ms());
	}
	return 0;
}

static void dmn_finish(struct daemon *d, int rc)
{
	if (d->log && d->api_up)
		dmn_audit(d, "daemon.stop", d->home,
			  json_pack("{s:I,s:s,s:I}", "pid",
				    (json_int_t)getpid(), "result",
				    rc ? al_strerror(rc) : "ok", "jobs_started",
				    (json_int_t)d->jobs_started));
	if (d->api_up) {
		api_server_stop(d->api);
		pthread_join(d->api_thread, NULL);
	}
	api_server_free(d->api);
	dmn_index_join(d);
	dmn_reseal_free(d);
	dmn_prune_free(d);
	sched_close(d->sched);
	audit_log_close(d->log);
	if (d->st)
		store_close(d->st);
	dmn_image_free_all(d);
	job_config_free(&d->cfg);
	free(d->workers);
	int fds[] = {d->ep, d->sig_fd, d->wake_fd, d->exe_fd};
	for (size_t i = 0; i < AL_ARRAY_LEN(fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (d->lock_fd >= 0) {
		/* The pid in it is ours no more. */
		if (ftruncate(d->lock_fd, 0) < 0)
			al_debug("daemon", NULL, "lock file: %s",
				 strerror(errno));
		close(d->lock_fd);
	}
	if (rc == 0)
		al_info("daemon", NULL, "stopped");
}

int dmn_run(const char *home)
{
	struct daemon d = {.home = home, .lock_fd = -1, .exe_fd = -1,
			   .ep = -1, .sig_fd = -1, .wake_fd = -1};
	int rc;

	pthread_rwlock_init(&d.sched_lock, NULL);
	rc = dmn_views_init(&d);
	if (rc == 0)
		rc = dmn_start(&d);
	if (rc == 0)
		rc = dmn_loop(&d);
	dmn_finish(&d, rc);
	dmn_views_free(&d);
	pthread_rwlock_destroy(&d.sched_lock);
	return rc;
}
