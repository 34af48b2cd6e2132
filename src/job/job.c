#include "job/job.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/util.h"
#include "job/config.h"
#include "job/history.h"
#include "job/regcache.h"
#include "job/score.h"
#include "job/signals.h"
#include "job/steps.h"
#include "job/testout.h"
#include "npm/lockfile.h"
#include "npm/manifest.h"
#include "npm/plan.h"
#include "npm/registry.h"
#include "npm/semver.h"
#include "job/regtoken.h"
#include "sandbox/sandbox.h"
#include "store/store.h"
#include "vcs/vcs.h"

#define JOB_EXCERPT_BYTES 4096
#define JOB_SANDBOX_HOME "/home/airlock"
#define JOB_SANDBOX_TREE "/work"
/* What the sandboxes' npm trusts for an https registry (job_regtls). */
#define JOB_SANDBOX_CA "/airlock/registry-ca.pem"
#define JOB_ACTOR_MAX 160 /* an audit actor: "uid:N", "SHA256:..." */

volatile sig_atomic_t job_cancel_requested;

/* Everything one job holds while it runs. */
struct job {
	const struct job_opts *o;
	struct job_config cfg;
	struct store *store;
	struct audit_log *alog;
	struct audit_sink sink;  /* group-commits events from all threads */
	bool sink_up;
	pthread_mutex_t audit_lock;
	struct al_event_sink events;
	char id[24];
	char short_id[9];
	char ws[4096];          /* HOME/work/<id> */
	char url[2048];         /* the repository URL without credentials */
	char allow[300];        /* registry host:port for the proxy */
	char image_digest[80];  /* of the configured image; "" for host */
	const char *image_root; /* the sandboxes' system; NULL: the host */
	const char *image_format; /* "tree" or "squashfs" */
	struct sbx_packed packed; /* a packed image this job mounted */
	struct vcs_cred cred;   /* borrows from env_cred and url_cred */
	struct vcs_cred env_cred;
	struct vcs_url_cred url_cred;
	const char *cred_source; /* "environment" or "url", for the log */
	struct job_regtoken regtoken; /* id "" when none configured */
	struct sbx_tls *regtls; /* the proxy's TLS end, https + token */
	bool regca;             /* HOME/work/<id>/registry-ca.pem is there */
	json_t *record;
	json_t *stages;
	int64_t started_ms;
	int64_t npm_ms;         /* time spent inside sandboxes */
	struct score_input sin;
	json_t *failure;        /* the failing stages, for the report */
	json_t *isolation;      /* culprits and what is proposed */
	struct npm_plan proposed; /* after isolation: the updates that
				   * passed (shallow copies of the plan's) */
	struct job_signals sig; /* registry facts for the score */
	pthread_t reaper;       /* removes the baseline tree early */
	bool reaping;
	char reap_path[4200];
	int reap_rc;
	atomic_bool audit_failed; /* an entry could not be written: stop;
				   * set from proxy threads too */
	bool sandbox_failed;    /* a sandbox could not be set up */
	bool lock_failed;       /* the lockfile refresh failed: the tree
				 * holds no lockfile worth proposing */
	bool build;             /* package.json has a "build" script: it
				 * runs, with no network, before the tests */
	int lock_fd;            /* flock on HOME/work/<id>.lock while alive */
	/* Groups (docs/update-job.md, "Groups"): each is tested and
	 * proposed on its own, one after the other. */
	const char *group;      /* the group under way ("all", ...) */
	unsigned group_i;       /* its place in the plan's groups, from 0 */
	struct job_steps steps; /* the stage under way among those the job
				 * runs, for views */
	bool multi;             /* several groups: stages and failures
				 * name their group */
	json_t *grec;           /* the group's entry in record "groups" */
	json_t *groups;         /* record "groups" */
	unsigned groups_failed; /* groups whose update failed */
	int propose_rc;         /* the first proposal that failed */
};

void job_cancel_from_signal(void)
{
	job_cancel_requested = 1;
	npm_registry_cancel = 1;
	vcs_cancel = 1;
	sbx_cancel_all();
}

/* Set with job_cancel_requested: the stop is a failure, not a cancel. */
static volatile sig_atomic_t job_timed_out;

void job_timeout_from_signal(void)
{
	job_timed_out = 1;
	job_cancel_from_signal();
}

static void job_actor(const struct job *j, char *out, size_t outsz)
{
	if (j->o->worker && j->o->worker->actor)
		al_strlcpy(out, j->o->worker->actor, outsz);
	else
		snprintf(out, outsz, "uid:%u", (unsigned)getuid());
}

/* The audit sink: every event carries the job id; one writer at a time. */
static int job_emit(void *ctx, const char *action, const char *object,
		    json_t *details)
{
	struct job *j = ctx;
	struct al_event_sink sink;
	int rc;

	if (!j->sink_up) {
		json_decref(details);
		j->audit_failed = true;
		return AL_E_STORE;
	}
	sink = audit_event_sink(&j->sink);
	rc = al_event(&sink, action, object, details);
	if (rc) {
		/* No operation goes on without its entry (DESIGN.md). */
		j->audit_failed = true;
		al_error("job", j->id, "audit append failed action=%s: %s",
			 action, al_strerror(rc));
	}
	return rc;
}

/* True when the job must not start anything new. */
static bool job_stopping(const struct job *j)
{
	return job_cancel_requested || j->audit_failed;
}

static void job_progress(struct job *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void job_progress(struct job *j, const char *fmt, ...)
{
	const struct job_worker *w = j->o->worker;
	char line[512];
	va_list ap;

	if (!j->o->progress && !w)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	al_sanitize_text(line);
	if (w && w->progress)
		w->progress(w->ctx, line);
	if (j->o->progress)
		fprintf(stderr, "airlock: %s\n", line);
}

/*
 * Store the record and its audit entry in one transaction, so that the
 * record never changes without the log saying so.
 */
static int job_save(struct job *j, const char *action)
{
	struct store_txn *txn = NULL;
	char actor[JOB_ACTOR_MAX];
	int rc;

	job_actor(j, actor, sizeof(actor));
	pthread_mutex_lock(&j->audit_lock);
	rc = store_txn_begin(j->store, true, &txn);
	/* A worker's record goes through the scheduler, which keeps its
	 * own members and refuses a lease that is no longer ours. */
	if (rc == 0 && j->o->worker)
		rc = j->o->worker->save(j->o->worker->ctx, txn, j->record,
					action);
	else if (rc == 0)
		rc = store_put_json(txn, STORE_DB_JOBS, j->id, strlen(j->id),
				    j->record, 0);
	if (rc == 0 && !j->o->worker)
		rc = audit_append(j->alog, txn, actor, action, j->id,
				  json_pack("{s:s,s:O}", "job", j->id, "state",
					    json_object_get(j->record,
							    "state")),
				  NULL);
	if (rc == 0)
		rc = audit_commit(j->alog, txn);
	else
		store_txn_abort(txn);
	pthread_mutex_unlock(&j->audit_lock);
	if (rc == 0 && j->o->worker && j->o->worker->saved)
		j->o->worker->saved(j->o->worker->ctx, action);
	if (rc) {
		/* Nothing goes on that its record cannot show. */
		j->audit_failed = true;
		al_error("job", j->id, "cannot store job record: %s",
			 al_strerror(rc));
	}
	return rc;
}

static void job_make_id(struct job *j)
{
	uint32_t rnd = 0;

	if (j->o->worker) {
		al_strlcpy(j->id, j->o->worker->id, sizeof(j->id));
		al_strlcpy(j->short_id, j->id + strlen(j->id) -
				(strlen(j->id) > 8 ? 8 : strlen(j->id)),
			   sizeof(j->short_id));
		return;
	}
	if (al_random(&rnd, sizeof(rnd)))
		rnd = (uint32_t)al_mono_ms() ^ (uint32_t)getpid();
	snprintf(j->short_id, sizeof(j->short_id), "%08x", rnd);
	snprintf(j->id, sizeof(j->id), "%012llx%s",
		 (unsigned long long)j->started_ms, j->short_id);
}

/* Stage bookkeeping: one JSON object per stage, in order. */
static json_t *job_stage_begin(struct job *j, const char *name)
{
	json_t *st = json_pack("{s:s,s:s,s:I}", "name", name, "result",
			       "running", "started_ms",
			       (json_int_t)al_wall_ms());

	if (j->multi && j->group)
		json_object_set_new(st, "group", json_string(j->group));
	json_array_append_new(j->stages, st);
	job_steps_begin(&j->steps, name, j->group_i);
	if (j->o->worker && j->o->worker->stage)
		j->o->worker->stage(j->o->worker->ctx, name, j->steps.step,
				    j->steps.steps);
	job_progress(j, "%s ...", name);
	job_emit(j, "stage.start", name, NULL);
	return st;
}

static void job_stage_end(struct job *j, json_t *st, const char *result,
			  const char *why)
{
	const char *name = json_string_value(json_object_get(st, "name"));
	int64_t t0 = json_integer_value(json_object_get(st, "started_ms"));
	int64_t ms = al_wall_ms() - t0;

	json_object_set_new(st, "result", json_string(result));
	json_object_set_new(st, "duration_ms", json_integer(ms));
	if (why)
		json_object_set_new(st, "reason", al_json_text(why, 1024));
	job_emit(j, "stage.end", name,
		 json_pack("{s:s,s:I}", "result", result, "duration_ms",
			   (json_int_t)ms));
	job_progress(j, "%s %s in %.1f s%s%s", name, result, ms / 1000.0,
		     why ? ": " : "", why ? why : "");
	/* Whoever watches a daemon's job sees each stage as it ends. */
	if (j->o->worker)
		job_save(j, "job.progress");
}

static void job_stage_skip(struct job *j, const char *name, const char *why)
{
	json_t *st = json_pack("{s:s,s:s,s:s,s:i}", "name", name, "result",
			       "skipped", "reason", why, "duration_ms", 0);

	if (j->multi && j->group)
		json_object_set_new(st, "group", json_string(j->group));
	json_array_append_new(j->stages, st);
	job_progress(j, "%s skipped: %s", name, why);
}

/* Why a sandboxed stage failed, in words for the report. */
static void job_sbx_reason(const struct job *j, int rc,
			   const struct sbx_result *r, char *out, size_t n)
{
	if (rc)
		snprintf(out, n, "sandbox could not start: %s",
			 al_strerror(rc));
	else if (r->kill == SBX_KILL_OOM)
		snprintf(out, n, "out of memory (limit %llu MiB)",
			 (unsigned long long)(j->cfg.memory >> 20));
	else if (r->kill == SBX_KILL_TIMEOUT)
		snprintf(out, n, "time limit reached");
	else if (r->kill == SBX_KILL_CANCEL)
		snprintf(out, n, "cancelled");
	else if (r->kill == SBX_KILL_PIDS || r->pids_limit_hit)
		snprintf(out, n, "process limit reached (%u)", j->cfg.pids);
	else if (r->kill == SBX_KILL_DISK)
		snprintf(out, n, "workspace full (limit %llu MiB)",
			 (unsigned long long)(j->cfg.disk >> 20));
	else if (r->signal)
		snprintf(out, n, "killed by signal %d", r->signal);
	else
		snprintf(out, n, "exit code %d", r->exit_code);
}

/*
 * The tail of a stage's output, from a line start, safe for terminals:
 * escape sequences are removed (so colours do not leave "[31m" behind)
 * and every other control character is replaced.
 */
static json_t *job_excerpt(const struct sbx_result *r)
{
	const char *p = r->output ? r->output : "";
	size_t len = r->output_len;

	if (len > JOB_EXCERPT_BYTES) {
		p += len - JOB_EXCERPT_BYTES;
		len = JOB_EXCERPT_BYTES;
		const char *nl = memchr(p, '\n', len);
		if (nl) {
			len -= (size_t)(nl + 1 - p);
			p = nl + 1;
		}
	}
	char *copy = malloc(len + 1);
	if (!copy)
		return json_string("");
	memcpy(copy, p, len);
	len = testout_strip_controls(copy, len);
	json_t *v = al_json_bytes(copy, len);
	free(copy);
	return v;
}

static int job_sandbox(struct job *j, const char *tree, enum sbx_net net,
		       const char *const *argv, unsigned timeout,
		       struct sbx_result *res)
{
	char npm_home[4200], registry[600], ca[4200];

	snprintf(npm_home, sizeof(npm_home), "%s/npm-home", j->ws);
	snprintf(ca, sizeof(ca), "%s/registry-ca.pem", j->ws);
	snprintf(registry, sizeof(registry), "npm_config_registry=%s",
		 j->cfg.registry);
	const struct sbx_bind binds[] = {
		{tree, JOB_SANDBOX_TREE, true},
		{npm_home, JOB_SANDBOX_HOME, true},
		{ca, JOB_SANDBOX_CA, false},
	};
	/* The whole environment of sandboxed code: nothing is inherited. */
	const char *const env[] = {
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" JOB_SANDBOX_HOME,
		"LANG=C.UTF-8",
		"CI=true",
		"NO_COLOR=1",
		"TERM=dumb",
		registry,
		"npm_config_cache=" JOB_SANDBOX_HOME "/.npm",
		"npm_config_update_notifier=false",
		"npm_config_fund=false",
		"npm_config_audit=false",
		"npm_config_progress=false",
		/* npm's own trust, not node's (NODE_EXTRA_CA_CERTS): the
		 * registry, the one place npm can reach, is all it needs. */
		j->regca ? "npm_config_cafile=" JOB_SANDBOX_CA : NULL,
		NULL,
	};
	const char *const allow[] = {j->allow, NULL};
	bool tok = j->regtoken.id[0] != '\0';
	struct sbx_spec spec = {
		.argv = argv,
		.env = env,
		.workdir = JOB_SANDBOX_TREE,
		.binds = binds,
		.nbinds = AL_ARRAY_LEN(binds) - (j->regca ? 0 : 1),
		.net = net,
		.allow = allow,
		.mem_bytes = j->cfg.memory,
		.cpus_milli = j->cfg.cpus_milli,
		.pids = j->cfg.pids,
		.timeout_s = timeout,
		.disk_bytes = j->cfg.disk,
		.host_uid = j->cfg.sandbox_uid,
		.host_gid = j->cfg.sandbox_gid,
		.job_id = j->id,
		.events = &j->events,
		.stream_fd = -1,
		.image = j->image_root,
		/* npm is given no token: the proxy adds it on the way out. */
		.auth_origin = tok ? j->allow : NULL,
		.auth_value = tok ? j->regtoken.header : NULL,
		.auth_id = tok ? j->regtoken.id : NULL,
		.auth_tls = tok ? j->regtls : NULL,
	};
	int64_t t0 = al_mono_ms();
	int rc = sbx_run(&spec, res);
	j->npm_ms += al_mono_ms() - t0;
	if (rc && rc != AL_E_INTERRUPTED)
		j->sandbox_failed = true;
	return rc;
}

/* Record a failing stage for the failure report, in the order they fail. */
static void job_note_failure(struct job *j, const char *stage,
			     const char *why, const struct sbx_result *r,
			     const struct testout *t)
{
	json_t *f = json_pack("{s:s,s:o}", "stage", stage, "reason",
			      al_json_text(why, 1024));

	if (j->multi && j->group)
		json_object_set_new(f, "group", json_string(j->group));
	if (t && t->known)
		json_object_set_new(f, "tests", testout_json(t));
	if (r)
		json_object_set_new(f, "log_excerpt", job_excerpt(r));
	/* Where the stage tried to go past the sandbox's network: often
	 * the reason a test fails in a sandbox and passes on a laptop. */
	if (r && r->n_net_attempts) {
		json_t *tried = json_array();
		for (unsigned i = 0; i < r->n_net_attempts; i++)
			json_array_append_new(
				tried, json_string(r->net_attempts[i]));
		json_object_set_new(f, "net_attempts", tried);
	}
	if (!j->failure)
		j->failure = json_array();
	json_array_append_new(j->failure, f);
}

/*
 * Mark the last failure as one that may pass: the git server or the
 * registry could not be reached or kept failing (AL_E_UNAVAILABLE, as
 * src/vcs and src/npm/registry.c classify them). A worker ends the
 * lease of such a job with a retry (docs/scheduler.md, "Retries").
 */
static void job_note_transient(struct job *j, int rc)
{
	json_t *f = json_array_get(j->failure,
				   json_array_size(j->failure) - 1);

	if (rc == AL_E_UNAVAILABLE && f)
		json_object_set_new(f, "transient", json_true());
}

/* npm's error code in its output ("npm error code ERESOLVE"), or "". */
static void job_npm_code(const struct sbx_result *r, char *out, size_t n)
{
	static const char key[] = "npm error code ";
	const char *p = r->output, *end = p ? p + r->output_len : NULL;

	out[0] = '\0';
	while (p && p < end) {
		const char *hit = memmem(p, (size_t)(end - p), key,
					 sizeof(key) - 1);
		size_t len;

		if (!hit)
			break;
		hit += sizeof(key) - 1;
		len = strspn(hit, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
		if (len && len < n && hit + len <= end) {
			memcpy(out, hit, len);
			out[len] = '\0';
			return;
		}
		p = hit;
	}
}

static const char *job_npm_code_words(const char *code)
{
	if (!strcmp(code, "ERESOLVE"))
		return "peer dependency conflict: the update needs a peer "
		       "range it does not fit (nothing is forced)";
	if (!strcmp(code, "ETARGET"))
		return "no matching version: a dependency names a version "
		       "that was never published (candidate broken)";
	if (!strcmp(code, "E404"))
		return "a package is not in the registry";
	return "npm failed";
}

/* An npm failure's reason gets npm's error code in words, so that the
 * report says "peer dependency conflict" rather than "exit code 1". */
static void job_npm_why(int rc, const struct sbx_result *r, char *why,
			size_t n)
{
	char code[32];
	size_t len = strlen(why);

	if (rc || !r->exit_code || r->signal || r->kill != SBX_KILL_NONE)
		return;
	job_npm_code(r, code, sizeof(code));
	if (code[0])
		snprintf(why + len, n - len, ": npm %s (%s)", code,
			 job_npm_code_words(code));
}

/* A line every JOB_TICK_S while a long stage runs, so a person watching
 * knows it is not stuck. */
#define JOB_TICK_S 30

struct job_ticker {
	struct job *j;
	const char *name;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
};

static void *job_tick_main(void *arg)
{
	struct job_ticker *t = arg;
	struct timespec when;
	int elapsed = 0;

	pthread_mutex_lock(&t->mu);
	clock_gettime(CLOCK_REALTIME, &when);
	while (!t->done) {
		when.tv_sec += JOB_TICK_S;
		if (pthread_cond_timedwait(&t->cv, &t->mu, &when) == 0 ||
		    t->done)
			continue;
		elapsed += JOB_TICK_S;
		job_progress(t->j, "%s still running (%d s)", t->name,
			     elapsed);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

static bool job_tick_start(struct job_ticker *t, struct job *j,
			   const char *name)
{
	*t = (struct job_ticker){.j = j, .name = name};
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	return (j->o->progress || j->o->worker) &&
	       pthread_create(&t->th, NULL, job_tick_main, t) == 0;
}

static void job_tick_stop(struct job_ticker *t, bool started)
{
	if (started) {
		pthread_mutex_lock(&t->mu);
		t->done = true;
		pthread_cond_signal(&t->cv);
		pthread_mutex_unlock(&t->mu);
		pthread_join(t->th, NULL);
	}
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
}

/*
 * One sandboxed stage, recorded with its resource use; the test count
 * goes to *ran when ran is not NULL (a test stage).
 */
static enum score_outcome job_sandbox_stage(struct job *j, const char *name,
					    const char *tree, enum sbx_net net,
					    const char *const *argv,
					    unsigned timeout, long *ran)
{
	char why[256];
	struct sbx_result r = {0};
	struct testout t;
	struct job_ticker tick;
	json_t *st = job_stage_begin(j, name);
	bool ticking = job_tick_start(&tick, j, name);
	int rc = job_sandbox(j, tree, net, argv, timeout, &r);

	job_tick_stop(&tick, ticking);
	if (rc == 0)
		json_object_set_new(st, "sandbox", sbx_result_json(&r));
	if (ran) {
		testout_parse(r.output ? r.output : "", r.output_len, &t);
		json_object_set_new(st, "tests", testout_json(&t));
		*ran = t.known ? t.ran : -1;
	}
	bool ok = rc == 0 && r.exit_code == 0 && r.signal == 0 &&
		  r.kill == SBX_KILL_NONE;
	job_sbx_reason(j, rc, &r, why, sizeof(why));
	job_npm_why(rc, &r, why, sizeof(why));
	if (!ok)
		job_note_failure(j, name, why, &r, ran ? &t : NULL);
	job_stage_end(j, st, ok ? "passed" : "failed", ok ? NULL : why);
	sbx_result_free(&r);
	return ok ? SCORE_PASSED : SCORE_FAILED;
}

/* The build step, when package.json has a "build" script. */
static const char *const job_build_argv[] = {"npm", "run", "build", NULL};

/*
 * Install in a registry-only sandbox, then build (if the project has a
 * build script) and test with no network, on one tree. Outcomes go to
 * *inst and *test (a failed build counts as failed tests), the test
 * count to *ran.
 */
static void job_run_tree(struct job *j, const char *label, const char *tree,
			 bool ci, enum score_outcome *inst,
			 enum score_outcome *test, long *ran)
{
	/* After a lockfile refresh the update installs with npm ci: it
	 * fails when the lockfile does not match package.json, so a lock
	 * that the next install would reject is never proposed. */
	static const char *const ci_argv[] = {
		"npm", "ci", "--no-audit", "--no-fund", NULL};
	static const char *const npm_install_argv[] = {
		"npm", "install", "--no-audit", "--no-fund", NULL};
	const char *const *install_argv = ci ? ci_argv : npm_install_argv;
	const char *test_cmd = j->o->test_cmd ? j->o->test_cmd : "npm test";
	const char *const test_argv[] = {"/bin/sh", "-c", test_cmd, NULL};
	enum score_outcome build = SCORE_PASSED;
	char name[64];

	*test = SCORE_NOT_RUN;
	*ran = -1;
	snprintf(name, sizeof(name), "%sinstall", label);
	*inst = job_sandbox_stage(j, name, tree, SBX_NET_REGISTRY,
				  install_argv, j->cfg.install_timeout, NULL);

	/* A build that fails fails the tree as a failing test would:
	 * nothing that does not build is proposed. */
	snprintf(name, sizeof(name), "%sbuild", label);
	if (j->build && *inst == SCORE_PASSED && !job_stopping(j))
		build = job_sandbox_stage(j, name, tree, SBX_NET_NONE,
					  job_build_argv, j->cfg.test_timeout,
					  NULL);
	if (build != SCORE_PASSED)
		*test = SCORE_FAILED;

	snprintf(name, sizeof(name), "%stest", label);
	if (*inst != SCORE_PASSED || build != SCORE_PASSED || job_stopping(j))
		job_stage_skip(j, name, *inst != SCORE_PASSED ? "install failed"
					: build != SCORE_PASSED ? "build failed"
								: "job stopping");
	else
		*test = job_sandbox_stage(j, name, tree, SBX_NET_NONE,
					  test_argv, j->cfg.test_timeout, ran);
}

/* The registry's Authorization value, or NULL without a token. */
static const char *job_regauth(const struct job *j)
{
	return j->regtoken.id[0] ? j->regtoken.header : NULL;
}

/* registry_ca_file, or NULL for the system's roots. */
static const char *job_regca(const struct job *j)
{
	return j->cfg.registry_ca_file[0] ? j->cfg.registry_ca_file : NULL;
}

/* "https://host[:port]/path" -> "host:port" for the proxy's allow list. */
static int job_registry_allow(const char *url, char *out, size_t outsz)
{
	bool tls = strncmp(url, "https://", 8) == 0;
	const char *h = url + (tls ? 8 : 7);

	if (!tls && strncmp(url, "http://", 7))
		return AL_E_PARSE;
	size_t n = strcspn(h, "/?#");
	if (n == 0 || n >= outsz || memchr(h, '@', n))
		return AL_E_PARSE;
	/* A bracketed IPv6 literal keeps its brackets; the port follows. */
	const char *colon = memrchr(h, ':', n);
	const char *rb = memrchr(h, ']', n);
	bool has_port = colon && (!rb || colon > rb);
	snprintf(out, outsz, "%.*s%s", (int)n, h,
		 has_port ? "" : (tls ? ":443" : ":80"));
	return 0;
}

static int job_clone(struct job *j)
{
	char path[4200], err[512];
	json_t *st = job_stage_begin(j, "clone");

	/* No entry, no operation: the clone waits for its stage entry. */
	if (j->audit_failed) {
		job_stage_end(j, st, "failed", "audit log not writable");
		return AL_E_JOB;
	}
	snprintf(path, sizeof(path), "%s/repo", j->ws);
	int rc = vcs_clone(j->url, &j->cred, path, j->o->branch, err,
			   sizeof(err));
	job_emit(j, "vcs.clone", j->url,
		 json_pack("{s:s}", "result", rc ? "failed" : "ok"));
	if (rc) {
		job_note_failure(j, "clone", err, NULL, NULL);
		job_note_transient(j, rc);
	}
	job_stage_end(j, st, rc ? "failed" : "passed", rc ? err : NULL);
	return rc;
}

/*
 * A directory of the workspace (repo, baseline, update), opened beneath
 * it without following a symlink: the name is ours, but what it holds
 * may have been written by a sandbox. A descriptor or a negative errno.
 */
static int job_ws_open(struct job *j, const char *name)
{
	int ws = open(j->ws, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int fd = ws < 0 ? -errno
			: al_open_beneath(ws, name, O_RDONLY | O_DIRECTORY, 0);

	if (ws >= 0)
		close(ws);
	return fd;
}

/* The first skip for a registry error, for the stage's reason. */
static const char *job_registry_error(const struct npm_plan *plan)
{
	static const char pre[] = "registry error: ";

	for (size_t i = 0; i < plan->nskips; i++)
		if (plan->skips[i].reason &&
		    !strncmp(plan->skips[i].reason, pre, sizeof(pre) - 1))
			return plan->skips[i].reason + sizeof(pre) - 1;
	return NULL;
}

/* The plan in the record: updates, skips, lockfile and notes. */
static json_t *job_plan_json(const struct npm_plan *plan,
			     const struct npm_project *pj)
{
	json_t *o = npm_plan_json(plan), *notes = json_array();

	for (size_t i = 0; i < pj->nnotes; i++)
		json_array_append_new(notes, al_json_text(pj->notes[i], 1024));
	json_object_set_new(o, "notes", notes);
	json_object_set_new(o, "lockfile",
			    pj->has_lock
				    ? json_pack("{s:s,s:i}", "path",
						NPM_LOCK_NAME, "version",
						pj->lock.version)
				    : json_null());
	return o;
}

/*
 * The version of the Node that runs the project's tests, into out
 * ("20.1.0"): `node --version` in a sandbox of the job's image, with no
 * network and nothing of the repository. "" when it cannot be told; the
 * plan then holds no candidate's engines.node against it. The plan asks
 * only when a candidate names engines (npm_rules.node_probe), so a job
 * with nothing to update starts no sandbox.
 */
static void job_node_version(void *ctx, char *out, size_t outsz)
{
	struct job *j = ctx;
	static const char *const argv[] = {"node", "--version", NULL};
	static const char *const env[] = {"PATH=/usr/local/bin:/usr/bin:/bin",
					  "HOME=/tmp", "LANG=C.UTF-8", NULL};
	struct sbx_spec spec = {
		.argv = argv, .env = env, .net = SBX_NET_NONE,
		.mem_bytes = j->cfg.memory, .pids = j->cfg.pids,
		.timeout_s = 60, .output_cap = 256,
		.host_uid = j->cfg.sandbox_uid, .host_gid = j->cfg.sandbox_gid,
		.job_id = j->id, .events = &j->events, .stream_fd = -1,
		.image = j->image_root,
	};
	struct sbx_result r = {0};
	struct npm_version v;
	char text[64] = "";
	int rc = sbx_run(&spec, &r);

	out[0] = '\0';
	if (rc == 0 && r.exit_code == 0 && !r.signal && r.output &&
	    r.output_len < sizeof(text)) {
		memcpy(text, r.output, r.output_len);
		text[strcspn(text, "\r\n")] = '\0';
		if (npm_version_parse(text, 0, &v) == 0 && !v.pre[0])
			npm_version_format(&v, out, outsz);
	}
	if (!out[0])
		al_warn("job", j->id, "the Node version of the image is "
			"unknown (node --version: %s, exit %d): engines.node "
			"is not held against it", rc ? al_strerror(rc) : "ran",
			r.exit_code);
	sbx_result_free(&r);
}

/* Read the project (package.json, workspaces, lockfile) from the
 * daemon-only clone and plan the updates. */
static int job_plan(struct job *j, struct npm_plan *plan,
		    struct npm_project *pj)
{
	char err[512] = "";
	struct npm_registry_cache cache;
	struct npm_registry_opts ro = { .url = j->cfg.registry,
					.cache = &cache,
					.auth = job_regauth(j),
					.ca_file = job_regca(j) };
	struct npm_rules rules;
	bool own = job_config_rules(&j->cfg, j->url, j->o->policy, &rules);
	int dfd = -1, rc;
	json_t *st = job_stage_begin(j, "plan"), *pj_json;

	dfd = job_ws_open(j, "repo");
	rc = dfd < 0 ? dfd : npm_project_load(dfd, pj, err, sizeof(err));
	if (dfd < 0)
		snprintf(err, sizeof(err), "repo: %s", al_strerror(rc));
	if (rc)
		goto out;
	job_regcache(j->store, &cache);
	rules.node_probe = job_node_version;
	rules.node_ctx = j;
	rc = npm_plan_workspace_rules(&ro, pj, &rules, plan, err,
				      sizeof(err));
	if (rc || job_cancel_requested)
		goto out;
	/* The rules the plan's reasons name, and whether this repository
	 * has its own [repo] section in airlock.conf. */
	pj_json = job_plan_json(plan, pj);
	json_object_set_new(pj_json, "rules", npm_rules_json(&rules));
	json_object_set_new(pj_json, "rules_source",
			    json_string(own ? "repository" : "global"));
	/* What else the candidates were held to: the image's Node and the
	 * repository's .npmrc cooldown, when there is one. */
	json_object_set_new(pj_json, "node", plan->node[0]
				     ? json_string(plan->node) : json_null());
	json_object_set_new(pj_json, "npmrc",
			    json_pack("{s:s?,s:s?}", "min-release-age",
				      pj->npmrc.age[0] ? pj->npmrc.age : NULL,
				      "before", pj->npmrc.before[0]
						? pj->npmrc.before : NULL));
	json_object_set_new(j->record, "plan", pj_json);
	if (plan->nregistry_errors && plan->nupdates == 0) {
		/* Silence from the registry is not "up to date". */
		snprintf(err, sizeof(err), "the registry could not tell about "
			 "%zu dependenc%s (see Skipped)%s%s",
			 plan->nregistry_errors,
			 plan->nregistry_errors == 1 ? "y" : "ies",
			 job_registry_error(plan) ? ": " : "",
			 job_registry_error(plan) ? job_registry_error(plan)
						  : "");
		/* Only a registry that was down for all of them is worth
		 * a later try; a refusal stays a refusal. */
		rc = plan->nregistry_unavailable == plan->nregistry_errors
			     ? AL_E_UNAVAILABLE
			     : AL_E_REGISTRY;
		goto out;
	}
	job_emit(j, "plan", "package.json",
		 json_pack("{s:i,s:i,s:i,s:b}", "updates", (int)plan->nupdates,
			   "skipped", (int)plan->nskips, "files",
			   (int)pj->nfiles, "lockfile", pj->has_lock));
out:
	if (rc) {
		job_note_failure(j, "plan", err, NULL, NULL);
		job_note_transient(j, rc);
	}
	job_stage_end(j, st,
		      rc ? "failed" : job_cancel_requested ? "cancelled"
							 : "passed",
		      rc ? err : NULL);
	if (dfd >= 0)
		close(dfd);
	return rc;
}

static void *job_reap_main(void *arg)
{
	struct job *j = arg;

	j->reap_rc = al_rm_tree(j->reap_path);
	return NULL;
}

/*
 * Start removing a tree nobody needs any more while the job goes on.
 * Deleting what npm wrote is slow on some disks (online discard), so the
 * baseline goes while the update installs. Falls back to nothing: the
 * final job_destroy removes whatever is left.
 */
static void job_reap_early(struct job *j, const char *name)
{
	snprintf(j->reap_path, sizeof(j->reap_path), "%s/%s", j->ws, name);
	j->reaping = pthread_create(&j->reaper, NULL, job_reap_main, j) == 0;
}

/*
 * The sandboxes never see the clone we push from: each gets its own local
 * clone, so sandboxed code cannot plant hooks or config in the repository
 * that later talks to the remote with the token. This makes the
 * baseline's and npm's home; each group gets its update tree later
 * (job_group_tree).
 */
static int job_prepare_trees(struct job *j, char *why, size_t whysz)
{
	const char *const trees[] = {"baseline", "npm-home"};
	char src[4200], dst[4200], err[512];
	int rc;

	snprintf(src, sizeof(src), "%s/repo", j->ws);
	snprintf(dst, sizeof(dst), "%s/baseline", j->ws);
	rc = vcs_clone(src, NULL, dst, NULL, err, sizeof(err));
	if (rc)
		snprintf(why, whysz, "local clone baseline: %s", err);
	snprintf(dst, sizeof(dst), "%s/npm-home", j->ws);
	if (rc == 0 && mkdir(dst, 0700) < 0) {
		rc = -errno;
		snprintf(why, whysz, "npm-home: %s", al_strerror(rc));
	}
	/* The owner changes before any sandbox runs: the walk refuses
	 * what a checkout cannot make (hard links, mount points). */
	for (size_t i = 0; i < 2 && rc == 0; i++) {
		snprintf(dst, sizeof(dst), "%s/%s", j->ws, trees[i]);
		rc = al_chown_tree(dst, j->cfg.sandbox_uid,
				   j->cfg.sandbox_gid, err, sizeof(err));
		if (rc)
			snprintf(why, whysz, "changing the owner of %s/%s: %s",
				 trees[i], err, al_strerror(rc));
	}
	if (rc)
		al_error("job", j->id, "preparing sandbox trees: %s", why);
	return rc;
}

/*
 * The group's update tree: a fresh local clone of the repository's
 * commit (the last group's tree goes first) with the group's rewritten
 * package.json files, which the clone we commit from gets too. Files
 * another group rewrote there are never committed with this group: a
 * commit takes only the paths this group changed.
 */
static int job_group_tree(struct job *j, const struct npm_project *pj,
			  char *why, size_t whysz)
{
	char src[4200], dst[4200], err[512];
	int rc;

	snprintf(src, sizeof(src), "%s/repo", j->ws);
	snprintf(dst, sizeof(dst), "%s/update", j->ws);
	rc = al_rm_tree(dst);
	if (rc && rc != -ENOENT) {
		snprintf(why, whysz, "removing the last group's tree: %s",
			 al_strerror(rc));
		return rc;
	}
	rc = vcs_clone(src, NULL, dst, NULL, err, sizeof(err));
	if (rc)
		snprintf(why, whysz, "local clone update: %s", err);
	/* Every rewritten package.json (the root's, workspace members'),
	 * written beneath the tree: never through a link. */
	for (size_t i = 0; i < 2 && rc == 0; i++) {
		const char *tree = i ? "repo" : "update";
		int dfd = job_ws_open(j, tree);

		for (size_t f = 0; dfd >= 0 && rc == 0 && f < pj->nfiles;
		     f++) {
			const struct npm_project_file *pf = &pj->files[f];

			if (!pf->changed)
				continue;
			rc = al_write_beneath(dfd, pf->path, pf->out.p,
					      pf->out.len);
			if (rc)
				snprintf(why, whysz, "writing %s/%s: %s", tree,
					 pf->path, al_strerror(rc));
		}
		if (dfd < 0) {
			rc = dfd;
			snprintf(why, whysz, "%s: %s", tree, al_strerror(rc));
		}
		if (dfd >= 0)
			close(dfd);
	}
	if (rc == 0) {
		rc = al_chown_tree(dst, j->cfg.sandbox_uid, j->cfg.sandbox_gid,
				   err, sizeof(err));
		if (rc)
			snprintf(why, whysz, "changing the owner of update/%s: "
				 "%s", err, al_strerror(rc));
	}
	if (rc)
		al_error("job", j->id, "preparing the update tree: %s", why);
	return rc;
}

/* The updates proposed: the isolated subset, else the whole plan. */
static const struct npm_plan *job_proposed(const struct job *j,
					   const struct npm_plan *p)
{
	return j->proposed.updates ? &j->proposed : p;
}

static void job_commit_message(struct job *j, const struct npm_plan *p,
			       const struct score *s, struct al_buf *msg)
{
	al_buf_printf(msg, "Update %zu npm dependenc%s\n\n", p->nupdates,
		      p->nupdates == 1 ? "y" : "ies");
	for (size_t i = 0; i < p->nupdates; i++) {
		const struct npm_update *u = &p->updates[i];
		if (u->kind == NPM_KIND_LOCKFILE)
			al_buf_printf(msg, "- %s: %s -> %s in %s (lockfile "
				      "only, %s, %s)\n", u->name,
				      u->locked ? u->locked : "?", u->version,
				      NPM_LOCK_NAME, npm_bump_name(u->bump),
				      u->file);
		else
			al_buf_printf(msg, "- %s: %s -> %s (%s, %s, %s%s%s)\n",
				      u->name, u->from, u->to,
				      npm_bump_name(u->bump),
				      npm_section_name(u->section), u->file,
				      u->kind == NPM_KIND_WIDEN ? ", widened"
								: "",
				      u->note ? "; " : "");
		if (u->note)
			al_buf_printf(msg, "  note: %s\n", u->note);
	}
	json_t *culprits = json_object_get(j->isolation, "culprits"), *c;
	size_t i;
	if (j->proposed.updates && json_array_size(culprits))
		al_buf_printf(msg, "\nLeft out, they broke the build or "
			      "tests when tried apart:\n");
	json_array_foreach(culprits, i, c)
		if (j->proposed.updates)
			al_buf_printf(msg, "- %s %s: %s\n",
				      json_string_value(json_object_get(c,
								"name")),
				      json_string_value(json_object_get(c,
								"to")),
				      json_string_value(json_object_get(c,
								"reason")));
	if (strcmp(j->group, "all"))
		al_buf_printf(msg, "\nGroup: %s", j->group);
	al_buf_printf(msg, "\nConfidence: %d (%s)\nairlock job: %s\n",
		      s->value, s->level, j->id);
}

#define JOB_GIT_EMAIL "airlock@localhost"

/*
 * The branch of the group under way: its stable name (npm_group_branch),
 * with "-N" when an earlier group of this job has the same one, or for
 * group "all" one of this job's own. Returns 1 for a stable name.
 */
static int job_branch(struct job *j, char *out, size_t outsz)
{
	char date[16];
	int stable = npm_group_branch(j->group, out, outsz);
	json_t *g;
	size_t i, n = 1;

	if (stable <= 0) {
		al_utc_date(date, sizeof(date), j->started_ms);
		snprintf(out, outsz, "airlock/%s-%s", date, j->short_id);
		return 0;
	}
	json_array_foreach(j->groups, i, g) {
		const char *name = json_string_value(json_object_get(g, "name"));
		char other[320];

		if (g == j->grec)
			break;
		if (name && npm_group_branch(name, other, sizeof(other)) > 0 &&
		    !strcmp(other, out))
			n++;
	}
	if (n > 1 && strlen(out) + 8 < outsz)
		snprintf(out + strlen(out), outsz - strlen(out), "-%zu", n);
	return 1;
}

/*
 * Push the group's commit. A group's stable branch is compared with what
 * the remote has: left alone when its tree is the same or when someone
 * else made or rebased its tip, replaced (forced) when it is airlock's
 * own older proposal, created when there is none. *action says which.
 */
static int job_push(struct job *j, const char *repo, const char *branch,
		    bool stable, char *commit, const char **action,
		    char *err, size_t errsz)
{
	enum vcs_branch_state bs = VCS_BRANCH_NONE;
	char tip[41] = "";
	int rc = 0;

	if (stable)
		rc = vcs_branch_state(repo, branch, commit, JOB_GIT_EMAIL, &bs,
				      tip, err, errsz);
	*action = bs == VCS_BRANCH_SAME    ? "unchanged"
		  : bs == VCS_BRANCH_OURS    ? "updated"
		  : bs == VCS_BRANCH_FOREIGN ? "kept"
					     : "created";
	if (rc == 0 && (bs == VCS_BRANCH_NONE || bs == VCS_BRANCH_OURS))
		rc = vcs_push_branch(repo, j->url, &j->cred, branch,
				     bs == VCS_BRANCH_OURS, err, errsz);
	/* What the branch holds after this job: the remote's own tip
	 * when it was left alone. */
	if (rc == 0 && tip[0] && (bs == VCS_BRANCH_SAME ||
				  bs == VCS_BRANCH_FOREIGN))
		memcpy(commit, tip, sizeof(tip));
	job_emit(j, "vcs.push", j->url,
		 json_pack("{s:s,s:s,s:s,s:s}", "branch", branch, "commit",
			   commit, "action", *action, "result",
			   rc ? "failed" : "ok"));
	if (rc == 0 && strcmp(*action, "created"))
		al_info("job", j->id, "branch %s %s (remote: %s)", branch,
			*action, vcs_branch_state_name(bs));
	return rc;
}

static int job_propose(struct job *j, const struct npm_plan *p,
		       const struct npm_project *pj, const struct score *s)
{
	const char **paths = calloc(pj->nfiles + 2, sizeof(*paths));
	const char *action = "created";
	size_t npaths = 0;
	char branch[320], repo[4200], commit[41] = "", err[512];
	struct al_buf msg = {0};
	json_t *st = job_stage_begin(j, "propose"), *prop;
	int stable = job_branch(j, branch, sizeof(branch));

	snprintf(repo, sizeof(repo), "%s/repo", j->ws);
	json_object_set_new(j->grec, "branch", json_string(branch));
	job_commit_message(j, job_proposed(j, p), s, &msg);

	/* What is committed: the rewritten package.json files and the
	 * refreshed lockfile, nothing else of the tree. */
	for (size_t i = 0; paths && i < pj->nfiles; i++)
		if (pj->files[i].changed)
			paths[npaths++] = pj->files[i].path;
	if (paths && pj->has_lock)
		paths[npaths++] = NPM_LOCK_NAME;

	int rc = j->audit_failed ? AL_E_JOB : paths ? 0 : -ENOMEM;

	if (rc)
		snprintf(err, sizeof(err), "%s", j->audit_failed
			 ? "audit log not writable" : "out of memory");
	if (rc == 0)
		rc = vcs_commit_branch(repo, branch, msg.p, paths, npaths,
				       "airlock", JOB_GIT_EMAIL, commit, err,
				       sizeof(err));
	if (rc == 0)
		rc = job_push(j, repo, branch, stable > 0, commit, &action,
			      err, sizeof(err));
	prop = json_pack("{s:s,s:s,s:b,s:s}", "branch", branch, "commit",
			 commit, "pushed", rc == 0 && (!strcmp(action, "created")
						      || !strcmp(action,
								 "updated")),
			 "action", rc ? "failed" : action);
	json_object_set(j->grec, "proposal", prop);
	/* The record's own proposal is the first group's. */
	if (!json_object_get(j->record, "proposal"))
		json_object_set(j->record, "proposal", prop);
	json_decref(prop);
	if (rc)
		job_note_failure(j, "propose", err, NULL, NULL);
	job_stage_end(j, st, rc ? "failed" : "passed",
		      rc ? err
			 : !strcmp(action, "unchanged")
				   ? "the branch already holds this update"
			 : !strcmp(action, "kept")
				   ? "the branch has a commit by someone else: "
				     "left alone"
				   : NULL);
	al_buf_free(&msg);
	free(paths);
	return rc;
}

/*
 * Culprit isolation (DESIGN.md, "Failure report"). When the group of
 * updates fails where the baseline passed, updates are tried apart, each
 * trial a fresh local clone with only some of the ranges raised,
 * installed and tested like the update tree, and the halves that fail
 * are split again until single updates are named. The updates that
 * passed apart are tried together once more and, when that passes, are
 * what is proposed. Everything stops when the next trial would not fit
 * in isolate_budget (airlock.conf); what was not told apart by then is
 * "unresolved" and not proposed.
 */
enum iso_mark {
	ISO_UNTRIED = 0,
	ISO_CLEAN,      /* passed in a trial without the culprits */
	ISO_CULPRIT,    /* failed alone */
	ISO_TOGETHER,   /* each half passed, the set failed: an interaction */
	ISO_UNRESOLVED, /* the budget ran out first */
};

struct job_iso {
	struct job *j;
	const struct npm_plan *p;
	const struct al_buf *orig; /* package.json as the repository has it */
	int64_t t0, budget_ms, cost_ms;
	unsigned seq;
	enum iso_mark *mark;
	json_t **why;      /* per update: the trial that named it a culprit */
	json_t *trials;    /* stage "isolate" -> "trials" */
	enum score_outcome v_install, v_test; /* the final, verifying trial */
	long v_ran;
};

/* The trial's tree and the manifest with only set[0..n) raised. */
static int job_trial_tree(struct job_iso *x, const size_t *set, size_t n,
			  const char *name, char *why, size_t whysz)
{
	struct job *j = x->j;
	struct npm_edit *e = calloc(n + 1, sizeof(*e));
	struct al_buf text = {0};
	char src[4200], dst[4200], err[512];
	int dfd = -1, rc = e ? 0 : -ENOMEM;

	for (size_t i = 0; e && i < n; i++) {
		const struct npm_update *u = &x->p->updates[set[i]];
		e[i] = (struct npm_edit){u->section, u->name, u->to, NULL};
	}
	if (rc == 0)
		rc = npm_manifest_rewrite(x->orig->p, x->orig->len, e, n, &text,
					  err, sizeof(err));
	if (rc)
		snprintf(why, whysz, "package.json for the trial: %s",
			 rc == -ENOMEM ? "out of memory" : err);
	snprintf(src, sizeof(src), "%s/repo", j->ws);
	snprintf(dst, sizeof(dst), "%s/%s", j->ws, name);
	if (rc == 0) {
		rc = vcs_clone(src, NULL, dst, NULL, err, sizeof(err));
		if (rc)
			snprintf(why, whysz, "local clone %s: %s", name, err);
	}
	if (rc == 0) {
		dfd = job_ws_open(j, name);
		rc = dfd < 0 ? dfd
			     : al_write_beneath(dfd, "package.json", text.p,
						text.len);
		if (rc)
			snprintf(why, whysz, "writing %s/package.json: %s",
				 name, al_strerror(rc));
	}
	if (rc == 0) {
		rc = al_chown_tree(dst, j->cfg.sandbox_uid, j->cfg.sandbox_gid,
				   err, sizeof(err));
		if (rc)
			snprintf(why, whysz, "changing the owner of %s/%.300s: %s",
				 name, err, al_strerror(rc));
	}
	if (dfd >= 0)
		close(dfd);
	al_buf_free(&text);
	free(e);
	return rc;
}

/* Names of the updates in set, for the record. */
static json_t *job_iso_names(const struct job_iso *x, const size_t *set,
			     size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a,
				      json_string(x->p->updates[set[i]].name));
	return a;
}

/*
 * Install and test set[0..n) alone. 1 when it failed, 0 when it passed,
 * -1 when it was not run (no time left, the job is stopping, or the
 * trial could not be set up).
 */
static int job_iso_try(struct job_iso *x, const size_t *set, size_t n)
{
	/* The same commands as the update tree (job_run_tree). */
	static const char *const install_argv[] = {
		"npm", "install", "--no-audit", "--no-fund", NULL};
	struct job *j = x->j;
	const char *test_cmd = j->o->test_cmd ? j->o->test_cmd : "npm test";
	const char *const test_argv[] = {"/bin/sh", "-c", test_cmd, NULL};
	char name[32], tree[4200], why[512] = "";
	struct sbx_result r = {0};
	struct testout t = {.ran = -1};
	enum score_outcome inst = SCORE_NOT_RUN, test = SCORE_NOT_RUN;
	int64_t t0 = al_mono_ms();
	int rc;

	if (job_stopping(j) || j->sandbox_failed ||
	    t0 - x->t0 + x->cost_ms > x->budget_ms)
		return -1;
	snprintf(name, sizeof(name), "trial-%u", ++x->seq);
	snprintf(tree, sizeof(tree), "%s/%s", j->ws, name);
	job_progress(j, "isolate: trial %u with %zu of %zu updates", x->seq,
		     n, x->p->nupdates);
	rc = job_trial_tree(x, set, n, name, why, sizeof(why));
	if (rc == 0) {
		rc = job_sandbox(j, tree, SBX_NET_REGISTRY, install_argv,
				 j->cfg.install_timeout, &r);
		bool ok = rc == 0 && r.exit_code == 0 && r.signal == 0 &&
			  r.kill == SBX_KILL_NONE;
		inst = ok ? SCORE_PASSED : SCORE_FAILED;
		if (!ok)
			job_sbx_reason(j, rc, &r, why, sizeof(why));
		sbx_result_free(&r);
		memset(&r, 0, sizeof(r));
	}
	if (rc == 0 && inst == SCORE_PASSED && j->build && !job_stopping(j)) {
		rc = job_sandbox(j, tree, SBX_NET_NONE, job_build_argv,
				 j->cfg.test_timeout, &r);
		if (rc == 0 && (r.exit_code || r.signal ||
				r.kill != SBX_KILL_NONE)) {
			test = SCORE_FAILED;
			job_sbx_reason(j, rc, &r, why, sizeof(why));
		}
		sbx_result_free(&r);
		memset(&r, 0, sizeof(r));
	}
	if (rc == 0 && inst == SCORE_PASSED && test == SCORE_NOT_RUN &&
	    !job_stopping(j)) {
		rc = job_sandbox(j, tree, SBX_NET_NONE, test_argv,
				 j->cfg.test_timeout, &r);
		testout_parse(r.output ? r.output : "", r.output_len, &t);
		bool ok = rc == 0 && r.exit_code == 0 && r.signal == 0 &&
			  r.kill == SBX_KILL_NONE;
		test = ok ? SCORE_PASSED : SCORE_FAILED;
		if (!ok)
			job_sbx_reason(j, rc, &r, why, sizeof(why));
		sbx_result_free(&r);
	}
	/* A trial tree goes at once: the next one needs the room. */
	int rm = al_rm_tree(tree);
	if (rm && rm != -ENOENT)
		al_warn("job", j->id, "removing %s: %s", name,
			al_strerror(rm));
	int64_t ms = al_mono_ms() - t0;
	x->cost_ms = ms;
	/* A trial that could not be set up or was cut short tells nothing
	 * about the updates. */
	bool told = rc == 0 && !job_stopping(j) &&
		    (inst == SCORE_FAILED || test != SCORE_NOT_RUN);
	bool failed = inst == SCORE_FAILED || test == SCORE_FAILED;
	json_t *tr = json_pack("{s:i,s:o,s:s,s:I}", "trial", (int)x->seq,
			       "updates", job_iso_names(x, set, n), "result",
			       !told ? "not run" : failed ? "failed" : "passed",
			       "duration_ms", (json_int_t)ms);
	if (why[0])
		json_object_set_new(tr, "reason", al_json_text(why, 512));
	if (t.known)
		json_object_set_new(tr, "tests", testout_json(&t));
	json_array_append_new(x->trials, tr);
	job_emit(j, "isolate.trial", j->id,
		 json_pack("{s:i,s:i,s:s}", "trial", (int)x->seq, "updates",
			   (int)n, "result",
			   !told ? "not run" : failed ? "failed" : "passed"));
	if (!told)
		return -1;
	x->v_install = inst;
	x->v_test = test;
	x->v_ran = t.known ? t.ran : -1;
	if (failed && n == 1) {
		json_decref(x->why[set[0]]);
		x->why[set[0]] = json_pack("{s:s,s:o}", "stage",
					   inst == SCORE_FAILED ? "install"
								: "test",
					   "reason", al_json_text(why, 512));
		if (t.known && x->why[set[0]])
			json_object_set_new(x->why[set[0]], "tests",
					    testout_json(&t));
	}
	return failed ? 1 : 0;
}

static void job_iso_mark(struct job_iso *x, const size_t *set, size_t n,
			 enum iso_mark m)
{
	for (size_t i = 0; i < n; i++)
		x->mark[set[i]] = m;
}

/* set[0..n) is known to fail: name the updates that make it fail. */
static void job_iso_split(struct job_iso *x, size_t *set, size_t n)
{
	size_t h = n / 2;
	int fa, fb;

	if (n == 1) {
		x->mark[set[0]] = ISO_CULPRIT;
		return;
	}
	fa = job_iso_try(x, set, h);
	if (fa < 0) {
		job_iso_mark(x, set, n, ISO_UNRESOLVED);
		return;
	}
	if (fa)
		job_iso_split(x, set, h);
	else
		job_iso_mark(x, set, h, ISO_CLEAN);
	fb = job_iso_try(x, set + h, n - h);
	if (fb < 0) {
		job_iso_mark(x, set + h, n - h, ISO_UNRESOLVED);
		return;
	}
	if (fb)
		job_iso_split(x, set + h, n - h);
	else
		job_iso_mark(x, set + h, n - h, ISO_CLEAN);
	/* Both halves pass alone and fail together: no single culprit. */
	if (!fa && !fb)
		job_iso_mark(x, set, n, ISO_TOGETHER);
}

/* The report's isolation part, and the proposed subset in j->proposed. */
static void job_iso_report(struct job_iso *x, const size_t *clean,
			   size_t nclean, bool verified)
{
	static const char *const reasons[] = {
		[ISO_CULPRIT] = "fails alone",
		[ISO_TOGETHER] = "fails only together with the others marked "
				 "so; each half passed alone",
		[ISO_UNRESOLVED] = "not told apart within isolate_budget",
	};
	struct job *j = x->j;
	json_t *culprits = json_array(), *unresolved = json_array();

	for (size_t i = 0; i < x->p->nupdates; i++) {
		const struct npm_update *u = &x->p->updates[i];
		enum iso_mark m = x->mark[i];
		if (m == ISO_UNRESOLVED || m == ISO_UNTRIED) {
			json_array_append_new(unresolved, json_string(u->name));
			continue;
		}
		if (m != ISO_CULPRIT && m != ISO_TOGETHER)
			continue;
		json_t *c = json_pack("{s:s,s:s,s:s}", "name", u->name, "to",
				      u->version, "reason", reasons[m]);
		if (x->why[i])
			json_object_set(c, "trial", x->why[i]);
		json_array_append_new(culprits, c);
		al_info("job", j->id, "culprit: %s %s", u->name, u->version);
	}
	json_t *rep = json_pack("{s:s,s:i,s:o,s:o,s:o}", "result",
				verified ? "isolated" : "not isolated",
				"trials", (int)x->seq, "culprits", culprits,
				"unresolved", unresolved, "proposed",
				verified ? job_iso_names(x, clean, nclean)
					 : json_array());
	json_decref(j->isolation);
	j->isolation = rep;
}

/*
 * Trials rewrite the root package.json's ranges: isolation applies when
 * every update is such a range (not a workspace member's, an override's
 * or a lockfile-only move).
 */
static bool job_iso_applies(const struct npm_plan *p)
{
	for (size_t i = 0; i < p->nupdates; i++) {
		const struct npm_update *u = &p->updates[i];
		if (u->kind == NPM_KIND_LOCKFILE || u->path ||
		    strcmp(u->file, "package.json"))
			return false;
	}
	return true;
}

/*
 * Run the isolation when the update failed and the baseline passed.
 * On success j->proposed holds the updates that still make a branch,
 * repo/package.json has only their ranges raised, and j->sin the
 * verifying trial's outcome.
 */
static void job_isolate(struct job *j, const struct npm_plan *p,
			const struct al_buf *orig, int64_t group_ms)
{
	struct job_iso x = {.j = j, .p = p, .orig = orig};
	size_t n = p->nupdates, nclean = 0;
	size_t *set = calloc(n + 1, sizeof(*set));
	size_t *clean = calloc(n + 1, sizeof(*clean));
	bool verified = false;
	json_t *st;

	x.mark = calloc(n + 1, sizeof(*x.mark));
	x.why = calloc(n + 1, sizeof(*x.why));
	if (!set || !clean || !x.mark || !x.why)
		goto out;
	if (n == 1) {
		/* The only update is the culprit; the failure above says
		 * how it failed. */
		x.mark[0] = ISO_CULPRIT;
		job_iso_report(&x, NULL, 0, false);
		json_object_set_new(j->isolation, "result",
				    json_string("single update"));
		goto out;
	}
	st = job_stage_begin(j, "isolate");
	x.trials = json_array();
	json_object_set_new(st, "trials", json_incref(x.trials));
	x.t0 = al_mono_ms();
	x.budget_ms = (int64_t)j->cfg.isolate_budget * 1000;
	x.cost_ms = group_ms;
	for (size_t i = 0; i < n; i++)
		set[i] = i;
	job_iso_split(&x, set, n);
	for (size_t i = 0; i < n; i++)
		if (x.mark[i] == ISO_CLEAN)
			clean[nclean++] = i;
	/* What passed in parts must pass together before it is proposed;
	 * a trial of exactly this set that passed already says so. */
	if (nclean) {
		json_t *names = job_iso_names(&x, clean, nclean), *tr;
		size_t k;
		json_array_foreach(x.trials, k, tr) {
			const char *res = json_string_value(
				json_object_get(tr, "result"));
			if (!verified && res && !strcmp(res, "passed") &&
			    json_equal(json_object_get(tr, "updates"),
				       names)) {
				json_t *ran = json_object_get(
					json_object_get(tr, "tests"), "ran");
				verified = true;
				x.v_install = x.v_test = SCORE_PASSED;
				x.v_ran = json_is_integer(ran)
						  ? (long)json_integer_value(ran)
						  : -1;
			}
		}
		json_decref(names);
		if (!verified)
			verified = job_iso_try(&x, clean, nclean) == 0;
	}
	if (verified) {
		int dfd = job_ws_open(j, "repo");
		char err[512];
		struct al_buf text = {0};
		struct npm_edit *e = calloc(nclean + 1, sizeof(*e));
		int rc = e ? 0 : -ENOMEM;
		for (size_t i = 0; e && i < nclean; i++) {
			const struct npm_update *u = &p->updates[clean[i]];
			e[i] = (struct npm_edit){u->section, u->name, u->to, NULL};
		}
		if (rc == 0)
			rc = npm_manifest_rewrite(orig->p, orig->len, e, nclean,
						  &text, err, sizeof(err));
		if (rc == 0)
			rc = dfd < 0 ? dfd
				     : al_write_beneath(dfd, "package.json",
							text.p, text.len);
		if (dfd >= 0)
			close(dfd);
		al_buf_free(&text);
		free(e);
		verified = rc == 0;
	}
	if (verified) {
		j->proposed.updates = calloc(nclean, sizeof(*p->updates));
		for (size_t i = 0; j->proposed.updates && i < nclean; i++)
			j->proposed.updates[j->proposed.nupdates++] =
				p->updates[clean[i]];
		verified = j->proposed.updates != NULL;
	}
	if (verified) {
		j->sin.install = x.v_install;
		j->sin.test = x.v_test;
		j->sin.tests_ran = x.v_ran;
	}
	job_iso_report(&x, clean, nclean, verified);
	job_stage_end(j, st, verified ? "passed" : "failed",
		      verified ? NULL
			       : "no part of the updates passed that could "
				 "be proposed");
out:
	for (size_t i = 0; x.why && i < n; i++)
		json_decref(x.why[i]);
	json_decref(x.trials);
	free(x.why);
	free(x.mark);
	free(set);
	free(clean);
}

/* Whether update i of p is in the proposal. */
static bool job_is_proposed(const struct job *j, const struct npm_plan *p,
			    size_t i)
{
	const struct npm_plan *q = job_proposed(j, p);

	for (size_t k = 0; k < q->nupdates; k++)
		if (q->updates[k].name == p->updates[i].name)
			return true;
	return false;
}

/*
 * The score stage: the registry's signals for every update, this
 * appliance's history of each, and the score of what is proposed. The
 * score goes into the record with every factor and the facts behind it.
 */
static void job_score(struct job *j, const struct npm_plan *p,
		      struct score *s)
{
	struct npm_registry_cache cache;
	struct npm_registry_opts ro = {.url = j->cfg.registry,
				       .cache = &cache,
				       .auth = job_regauth(j),
				       .ca_file = job_regca(j)};
	struct store_txn *txn = NULL;
	struct score_update *mine = calloc(p->nupdates + 1, sizeof(*mine));
	const char **left = calloc(p->nupdates + 1, sizeof(*left));
	size_t nmine = 0, nleft = 0;
	json_t *st = job_stage_begin(j, "score"), *facts = json_array();
	int rc;

	job_regcache(j->store, &cache);
	rc = job_signals_fetch(&ro, p, al_wall_ms(), &j->sig);
	if (rc == 0 && store_txn_begin(j->store, false, &txn) == 0) {
		for (size_t i = 0; i < j->sig.n; i++) {
			struct job_history_seen h;
			struct score_update *u = &j->sig.u[i];
			if (!u->to || job_history_get(txn, u->name, u->to,
						      j->url, &h))
				continue;
			u->hist_passed = h.passed;
			u->hist_failed = h.failed;
			u->hist_other_repos = h.other_repos;
		}
		store_txn_abort(txn);
	}
	for (size_t i = 0; rc == 0 && mine && left && i < j->sig.n; i++) {
		if (job_is_proposed(j, p, i))
			mine[nmine++] = j->sig.u[i];
		else
			left[nleft++] = p->updates[i].name;
	}
	j->sin.updates = mine;
	j->sin.nupdates = nmine;
	j->sin.left_out = left;
	j->sin.nleft_out = nleft;
	score_compute(&j->sin, s);
	for (size_t i = 0; i < nmine; i++)
		json_array_append_new(facts, job_signals_json(&mine[i]));
	json_t *sj = score_json(s);
	json_object_set_new(sj, "updates", facts);
	/* The record's own score is its weakest group's. */
	json_t *top = json_object_get(j->record, "score");
	if (!top || s->value < json_integer_value(json_object_get(top,
								  "value")))
		json_object_set(j->record, "score", sj);
	json_object_set_new(j->grec, "score", sj);
	job_emit(j, "score", j->id,
		 json_pack("{s:i,s:s}", "value", s->value, "level",
			   s->level));
	j->sin.updates = NULL;
	j->sin.left_out = NULL;
	free(mine);
	free(left);
	job_stage_end(j, st, rc ? "failed" : "passed",
		      rc ? "out of memory" : NULL);
}

/*
 * Remember how each update fared, for later jobs' scores: only where
 * the outcome is the update's own (the baseline passed; a group that
 * failed counts only for the culprits isolation named and the updates
 * proposed after it). One transaction with its audit entry.
 */
static void job_history_record(struct job *j, const struct npm_plan *p)
{
	bool base_ok = j->sin.base_install == SCORE_PASSED &&
		       j->sin.base_test == SCORE_PASSED;
	bool passed = j->sin.install == SCORE_PASSED &&
		      j->sin.test == SCORE_PASSED;
	json_t *culprits = json_object_get(j->isolation, "culprits");
	struct store_txn *txn = NULL;
	char actor[JOB_ACTOR_MAX];
	int rc, n = 0;

	if (!base_ok || job_stopping(j) || j->sandbox_failed ||
	    (!passed && !json_array_size(culprits)))
		return;
	job_actor(j, actor, sizeof(actor));
	pthread_mutex_lock(&j->audit_lock);
	rc = store_txn_begin(j->store, true, &txn);
	for (size_t i = 0; rc == 0 && i < p->nupdates; i++) {
		const struct npm_update *u = &p->updates[i];
		const char *result = NULL, *why;
		json_t *c;
		size_t k;

		if (passed && job_is_proposed(j, p, i))
			result = "passed";
		json_array_foreach(culprits, k, c) {
			why = json_string_value(json_object_get(c, "reason"));
			/* An interaction blames no single update. */
			if (!strcmp(json_string_value(json_object_get(c,
						"name")), u->name) &&
			    why && !strncmp(why, "fails alone", 11))
				result = "failed";
		}
		if (!result)
			continue;
		rc = job_history_add(txn, u->name, j->sig.n > i
						 ? j->sig.u[i].from : NULL,
				     u->version, j->url, j->id, result,
				     al_wall_ms());
		n++;
	}
	if (rc == 0)
		rc = audit_append(j->alog, txn, actor, "history.record", j->id,
				  json_pack("{s:s,s:i}", "job", j->id,
					    "updates", n),
				  NULL);
	if (rc == 0)
		rc = audit_commit(j->alog, txn);
	else
		store_txn_abort(txn);
	pthread_mutex_unlock(&j->audit_lock);
	if (rc)
		al_warn("job", j->id, "cannot record the update history: %s",
			al_strerror(rc));
}

/* package.json as the repository has it, before the plan's rewrite. */
static int job_read_original(struct job *j, struct al_buf *out, char *why,
			     size_t whysz)
{
	int dfd = job_ws_open(j, "repo");
	int rc = dfd < 0 ? dfd
			 : al_read_beneath(dfd, "package.json",
					   NPM_MANIFEST_MAX_SIZE, out);

	if (dfd >= 0)
		close(dfd);
	if (rc)
		snprintf(why, whysz, "package.json: %s", al_strerror(rc));
	return rc;
}

/* The lockfile the refresh wrote, checked against the plan, and copied
 * into the clone that is committed. */
static int job_lock_take(struct job *j, const struct npm_plan *p,
			 const struct npm_project *pj, char *why, size_t n)
{
	struct al_buf text = {0};
	struct npm_lock lk = {0};
	char err[512];
	int dfd = job_ws_open(j, "update"), rc;

	/* Written by npm in the sandbox: read it beneath the tree, never
	 * through a link it may have planted, and bounded. */
	rc = dfd < 0 ? dfd
		     : al_read_beneath(dfd, NPM_LOCK_NAME, NPM_LOCK_MAX_SIZE,
				       &text);
	if (dfd >= 0)
		close(dfd);
	if (rc) {
		snprintf(why, n, "%s after the refresh: %s%s", NPM_LOCK_NAME,
			 al_strerror(rc), rc == -ELOOP || rc == -EXDEV
			 ? " (a symlink is refused)" : "");
		goto out;
	}
	rc = npm_lock_parse(text.p, text.len, &lk, err, sizeof(err));
	if (rc) {
		snprintf(why, n, "after the refresh: %s", err);
		goto out;
	}
	if (lk.version != pj->lock.version) {
		snprintf(why, n, "npm changed lockfileVersion %d to %d",
			 pj->lock.version, lk.version);
		rc = AL_E_JOB;
		goto out;
	}
	for (size_t i = 0; i < p->nupdates && rc == 0; i++) {
		const struct npm_update *u = &p->updates[i];
		const char *dir = "";
		const char *got;

		/* A widened peer range installs nothing. */
		if ((u->kind == NPM_KIND_WIDEN &&
		     u->section == NPM_SEC_PEER) || u->path)
			continue;
		for (size_t f = 0; f < pj->nfiles; f++)
			if (!strcmp(pj->files[f].path, u->file))
				dir = pj->files[f].dir;
		got = npm_lock_version_of(&lk, dir, u->name);
		if (!got || strcmp(got, u->version)) {
			snprintf(why, n, "%s locks %s at %s, the plan chose "
				 "%s", NPM_LOCK_NAME, u->name,
				 got ? got : "nothing", u->version);
			rc = AL_E_JOB;
		}
	}
	dfd = rc ? -1 : job_ws_open(j, "repo");
	if (rc == 0)
		rc = dfd < 0 ? dfd
			     : al_write_beneath(dfd, NPM_LOCK_NAME, text.p,
						text.len);
	if (dfd >= 0)
		close(dfd);
	if (rc && !why[0])
		snprintf(why, n, "writing repo/%s: %s", NPM_LOCK_NAME,
			 al_strerror(rc));
out:
	npm_lock_free(&lk);
	al_buf_free(&text);
	return rc;
}

/* One npm run of the lockfile refresh; 0 when it passed. */
static int job_lock_run(struct job *j, const char *tree,
			const char *const *argv, char *why, size_t n,
			struct sbx_result *r)
{
	int rc = job_sandbox(j, tree, SBX_NET_REGISTRY, argv,
			     j->cfg.install_timeout, r);
	bool ok = rc == 0 && r->exit_code == 0 && r->signal == 0 &&
		  r->kill == SBX_KILL_NONE;

	if (ok)
		return 0;
	job_sbx_reason(j, rc, r, why, n);
	snprintf(why + strlen(why), n - strlen(why), " (npm %s)", argv[1]);
	job_npm_why(rc, r, why, n);
	return rc ? rc : AL_E_JOB;
}

/*
 * Refresh package-lock.json in the update tree, in a registry-only
 * sandbox with scripts off (--package-lock-only runs none anyway; the
 * flag says so twice): first for the rewritten package.json files, then
 * `npm update NAME` for the lockfile-only updates of each file. The
 * lockfile keeps its version. Returns the stage's outcome.
 */
static enum score_outcome job_lockfile(struct job *j, const struct npm_plan *p,
				       const struct npm_project *pj)
{
	char tree[4200], why[1024] = "", lv[32];
	struct sbx_result r = {0};
	struct al_buf ws = {0};
	const char **argv = calloc(p->nupdates + 12, sizeof(*argv));
	bool changed = false;
	int rc = argv ? 0 : -ENOMEM;
	json_t *st = job_stage_begin(j, "lockfile");

	snprintf(tree, sizeof(tree), "%s/update", j->ws);
	snprintf(lv, sizeof(lv), "--lockfile-version=%d", pj->lock.version);
	for (size_t f = 0; f < pj->nfiles; f++)
		changed |= pj->files[f].changed;
	if (rc == 0 && changed) {
		const char *const inst[] = {"npm", "install",
			"--package-lock-only", "--ignore-scripts", "--no-audit",
			"--no-fund", lv, NULL};
		rc = job_lock_run(j, tree, inst, why, sizeof(why), &r);
	}
	for (size_t f = 0; rc == 0 && f < pj->nfiles; f++) {
		size_t a = 0, names = 0;

		argv[a++] = "npm";
		argv[a++] = "update";
		argv[a++] = "--package-lock-only";
		argv[a++] = "--ignore-scripts";
		argv[a++] = "--no-audit";
		argv[a++] = "--no-fund";
		argv[a++] = lv;
		ws.len = 0;
		if (pj->files[f].dir[0]) {
			al_buf_printf(&ws, "--workspace=%s", pj->files[f].dir);
			argv[a++] = ws.p;
		}
		for (size_t i = 0; i < p->nupdates; i++) {
			const struct npm_update *u = &p->updates[i];
			/* A widened range still admits the locked
			 * version: npm update moves it to the new one.
			 * A name reaches npm's argv only when it is a
			 * package name: never an option. */
			bool moves = u->kind == NPM_KIND_LOCKFILE ||
				     (u->kind == NPM_KIND_WIDEN &&
				      u->section != NPM_SEC_PEER);
			if (!moves || strcmp(u->file, pj->files[f].path) ||
			    !npm_name_valid(u->name) || u->name[0] == '-')
				continue;
			argv[a++] = u->name;
			names++;
		}
		argv[a] = NULL;
		if (!names)
			continue;
		sbx_result_free(&r);
		memset(&r, 0, sizeof(r));
		rc = job_lock_run(j, tree, argv, why, sizeof(why), &r);
	}
	if (rc == 0)
		rc = job_lock_take(j, p, pj, why, sizeof(why));
	if (rc && !why[0])
		snprintf(why, sizeof(why), "%s", al_strerror(rc));
	if (r.output || r.exit_code || r.signal)
		json_object_set_new(st, "sandbox", sbx_result_json(&r));
	if (rc)
		job_note_failure(j, "lockfile", why, r.output ? &r : NULL,
				 NULL);
	job_emit(j, "lockfile.refresh", NPM_LOCK_NAME,
		 json_pack("{s:s,s:i}", "result", rc ? "failed" : "ok",
			   "version", pj->lock.version));
	job_stage_end(j, st, rc ? "failed" : "passed", rc ? why : NULL);
	sbx_result_free(&r);
	al_buf_free(&ws);
	free(argv);
	return rc ? SCORE_FAILED : SCORE_PASSED;
}

/* Does the root package.json name a non-empty "build" script? */
static bool job_has_build(const struct npm_project *pj)
{
	const struct al_buf *t = pj->nfiles ? &pj->files[0].text : NULL;
	/* The plan parsed it already; a BOM is all jansson would mind. */
	size_t bom = t && t->len >= 3 && !memcmp(t->p, "\xef\xbb\xbf", 3) ? 3
									    : 0;
	json_t *m = t ? json_loadb(t->p + bom, t->len - bom, 0, NULL) : NULL;
	const char *b = json_string_value(
		json_object_get(json_object_get(m, "scripts"), "build"));
	bool has = b && *b;

	json_decref(m);
	return has;
}

/*
 * One group's update tree, after the baseline: lockfile refresh,
 * install, build and test, culprit isolation, score and history.
 */
static void job_group_test(struct job *j, const struct npm_plan *p,
			   const struct npm_project *pj,
			   const struct al_buf *orig, struct score *s)
{
	char tree[4200];

	/* A project with a lockfile gets it refreshed before the update
	 * installs; one without gets none created. */
	if (!job_stopping(j) && pj->has_lock &&
	    job_lockfile(j, p, pj) != SCORE_PASSED) {
		j->lock_failed = true;
		j->sin.install = SCORE_FAILED;
		job_stage_skip(j, "install", "lockfile refresh failed");
		job_stage_skip(j, "test", "lockfile refresh failed");
	} else if (!job_stopping(j)) {
		int64_t t0 = al_mono_ms();
		snprintf(tree, sizeof(tree), "%s/update", j->ws);
		job_run_tree(j, "", tree, pj->has_lock, &j->sin.install,
			     &j->sin.test, &j->sin.tests_ran);
		/* npm ci refused the refreshed lockfile (edge case 25: npm
		 * can write one its next install rejects): nothing worth
		 * proposing. */
		if (pj->has_lock && j->sin.install == SCORE_FAILED)
			j->lock_failed = true;
		/* Culprits can be told only against a passing baseline, and
		 * trials rewrite the root manifest only. */
		if ((j->sin.install == SCORE_FAILED ||
		     j->sin.test == SCORE_FAILED) && !j->lock_failed &&
		    j->sin.base_install == SCORE_PASSED &&
		    j->sin.base_test == SCORE_PASSED && !job_stopping(j) &&
		    !j->sandbox_failed && job_iso_applies(p) &&
		    (j->cfg.isolate_budget > 0 || p->nupdates == 1))
			job_isolate(j, p, orig, al_mono_ms() - t0);
	}
	if (job_stopping(j))
		return;
	job_score(j, p, s);
	job_history_record(j, p);
}

/* Forget what the last group left: its outcomes, proposal, signals. */
static void job_group_reset(struct job *j)
{
	j->sin.install = j->sin.test = SCORE_NOT_RUN;
	j->sin.tests_ran = -1;
	free(j->proposed.updates);
	memset(&j->proposed, 0, sizeof(j->proposed));
	job_signals_free(&j->sig);
	json_decref(j->isolation);
	j->isolation = NULL;
	j->lock_failed = false;
}

static const char *job_outcome_name(enum score_outcome o)
{
	return o == SCORE_PASSED ? "passed" : o == SCORE_FAILED ? "failed"
								: "not run";
}

/* The group's entry in the record gets its outcome. */
static void job_group_end(struct job *j, bool ran)
{
	bool failed = j->sin.install == SCORE_FAILED ||
		      j->sin.test == SCORE_FAILED;

	if (failed)
		j->groups_failed++;
	json_object_set_new(j->grec, "result",
			    json_string(!ran ? "not run"
					: failed ? "failed"
					: j->sin.test == SCORE_PASSED ? "passed"
								      : "not run"));
	json_object_set_new(j->grec, "install",
			    json_string(job_outcome_name(j->sin.install)));
	json_object_set_new(j->grec, "test",
			    json_string(job_outcome_name(j->sin.test)));
	if (j->isolation)
		json_object_set(j->grec, "isolation", j->isolation);
	/* With several groups, each group's isolation is its own; the
	 * report keeps the failures, each naming its group. */
	if (j->multi) {
		json_decref(j->isolation);
		j->isolation = NULL;
	}
}

/*
 * One group, from its tree to its proposal. p is the whole plan;
 * the group's own updates become a plan of their own (shallow copies).
 * Returns 0, or an error that stops the job (its tree could not be
 * made).
 */
static int job_group(struct job *j, const struct npm_plan *p,
		     struct npm_project *pj, const char *group,
		     const struct al_buf *orig, struct score *s)
{
	struct npm_plan gp = {0};
	json_t *names = json_array();
	char why[1024] = "";
	int rc = 0;

	gp.updates = calloc(p->nupdates + 1, sizeof(*gp.updates));
	for (size_t i = 0; gp.updates && i < p->nupdates; i++)
		if (!strcmp(p->updates[i].group, group)) {
			gp.updates[gp.nupdates++] = p->updates[i];
			json_array_append_new(names,
					      json_string(p->updates[i].name));
		}
	j->group = group;
	job_group_reset(j);
	j->grec = json_pack("{s:s,s:o}", "name", group, "updates", names);
	json_array_append_new(j->groups, j->grec);
	if (!gp.updates || !j->grec) {
		rc = -ENOMEM;
		snprintf(why, sizeof(why), "out of memory");
	}
	if (j->multi)
		job_progress(j, "group %s: %zu update%s", group, gp.nupdates,
			     gp.nupdates == 1 ? "" : "s");
	if (rc == 0)
		rc = npm_project_rewrite(pj, p, group, why, sizeof(why));
	if (rc == 0)
		rc = job_group_tree(j, pj, why, sizeof(why));
	if (rc) {
		job_note_failure(j, "prepare", why[0] ? why : al_strerror(rc),
				 NULL, NULL);
		goto out;
	}
	job_group_test(j, &gp, pj, orig, s);
	/* Nothing is proposed that was not really installed and tested. */
	if (!job_stopping(j) && !j->sandbox_failed && !j->lock_failed) {
		int prc = job_propose(j, &gp, pj, s);
		if (prc && !j->propose_rc)
			j->propose_rc = prc;
	}
out:
	job_group_end(j, rc == 0 && !job_stopping(j));
	free(gp.updates);
	return rc;
}

/*
 * The sandboxed part, once there is something to update: the baseline
 * once, then each group (npm_plan_groups' order) on its own tree.
 */
static int job_evaluate(struct job *j, const struct npm_plan *p,
			struct npm_project *pj, struct score *s)
{
	const char *groups[NPM_RULES_GROUPS_MAX];
	size_t n = npm_plan_groups(p, groups, NPM_RULES_GROUPS_MAX);
	char tree[4200], why[1024];
	struct al_buf orig = {0};
	int rc = job_read_original(j, &orig, why, sizeof(why));

	if (rc == 0)
		rc = job_prepare_trees(j, why, sizeof(why));
	if (rc) {
		job_note_failure(j, "prepare", why, NULL, NULL);
		al_buf_free(&orig);
		return rc;
	}
	j->build = job_has_build(pj);
	job_steps_plan(&j->steps, j->build, pj->has_lock, (unsigned)n);
	snprintf(tree, sizeof(tree), "%s/baseline", j->ws);
	job_run_tree(j, "baseline-", tree, false, &j->sin.base_install,
		     &j->sin.base_test, &j->sin.base_tests_ran);
	job_reap_early(j, "baseline");
	j->multi = n > 1;
	for (size_t g = 0; g < n && rc == 0 && !job_stopping(j) &&
			   !j->sandbox_failed; g++) {
		j->group_i = (unsigned)g;
		rc = job_group(j, p, pj, groups[g], &orig, s);
	}
	al_buf_free(&orig);
	return rc ? rc : j->propose_rc;
}

static const char *job_state(struct job *j, int rc)
{
	json_t *prop = json_object_get(j->record, "proposal");
	bool pushed = json_is_true(json_object_get(prop, "pushed"));

	/* A cancel that came after the push changes nothing. */
	if (job_cancel_requested && !pushed)
		return job_timed_out ? "failed" : "cancelled";
	/* One failing group fails the job; the others' branches are
	 * pushed all the same (docs/update-job.md, "Groups"). */
	if (rc || j->audit_failed || j->sandbox_failed || j->groups_failed ||
	    j->sin.install == SCORE_FAILED ||
	    j->sin.test == SCORE_FAILED)
		return "failed";
	return "succeeded";
}

/* Close the record: state, timing, report; store it; audit the end. */
static void job_finish(struct job *j, int rc)
{
	const char *state = job_state(j, rc);
	int64_t total = al_wall_ms() - j->started_ms;
	char why[128];

	if (job_timed_out && !strcmp(state, "failed")) {
		snprintf(why, sizeof(why), "the job ran longer than "
			 "job_timeout (%u s) and was stopped",
			 j->cfg.job_timeout);
		if (!j->failure)
			j->failure = json_array();
		/* First: the report leads with why the job stopped. */
		json_array_insert_new(j->failure, 0,
				      json_pack("{s:s,s:s}", "stage", "job",
						"reason", why));
	}

	json_object_set_new(j->record, "state", json_string(state));
	json_object_set_new(j->record, "finished_ms",
			    json_integer(al_wall_ms()));
	json_object_set_new(
		j->record, "timing",
		json_pack("{s:I,s:I,s:I}", "total_ms", (json_int_t)total,
			  "sandbox_ms", (json_int_t)j->npm_ms, "overhead_ms",
			  (json_int_t)(total - j->npm_ms)));
	json_t *report = j->failure || j->isolation ? json_object() : NULL;
	if (j->failure)
		json_object_set(report, "failures", j->failure);
	if (j->isolation)
		json_object_set(report, "isolation", j->isolation);
	json_object_set_new(j->record, "report",
			    report ? report : json_null());
	job_save(j, "job.end");
	al_info("job", j->id, "job ended state=%s total_ms=%lld", state,
		(long long)total);
}

/* Remove the workspace; no symlink inside it is ever followed. */
static void job_destroy(struct job *j)
{
	int64_t t0 = al_mono_ms();

	if (j->reaping) {
		pthread_join(j->reaper, NULL);
		j->reaping = false;
		if (j->reap_rc)
			al_warn("job", j->id, "early removal of %s: %s",
				j->reap_path, al_strerror(j->reap_rc));
	}
	int rc = sbx_disk_remove(j->ws, j->id);

	if (rc == 0)
		rc = al_rm_tree(j->ws);
	al_debug("job", j->id, "workspace removed ms=%lld",
		 (long long)(al_mono_ms() - t0));
	job_emit(j, "workspace.destroy", j->id,
		 json_pack("{s:s}", "result", rc ? "failed" : "ok"));
	if (rc)
		al_error("job", j->id, "cannot remove workspace %s: %s",
			 j->ws, al_strerror(rc));
}

/* A workspace is stale when nobody holds its lock: its job died. */
static bool job_lock_free(int workfd, const char *lockname)
{
	int fd = openat(workfd, lockname, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	bool free_ = fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0;

	if (fd >= 0)
		close(fd);
	return free_;
}

/*
 * Remove what jobs killed outright (SIGKILL, power loss) left in work/:
 * their workspaces hold customer source and must not outlive the job.
 * A live job holds the flock on work/<id>.lock, made before its
 * directory, so a directory whose lock is free or absent is stale.
 */
static int job_sweep(const char *work)
{
	int removed = 0;
	char lock[64];
	int workfd = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = workfd >= 0 ? fdopendir(dup(workfd)) : NULL;

	for (struct dirent *e; d && (e = readdir(d));) {
		size_t n = strlen(e->d_name);
		if (n != 20 || strspn(e->d_name, "0123456789abcdef") != n)
			continue;
		snprintf(lock, sizeof(lock), "%.20s.lock", e->d_name);
		if (faccessat(workfd, lock, F_OK, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !job_lock_free(workfd, lock))
			continue;
		char path[4200];
		snprintf(path, sizeof(path), "%s/%s", work, e->d_name);
		int rc = sbx_disk_remove(path, e->d_name);
		if (rc == 0)
			rc = al_rm_tree_at(workfd, e->d_name);
		unlinkat(workfd, lock, 0);
		if (rc)
			al_error("job", e->d_name, "cannot remove the workspace "
				 "of a job that did not finish: %s",
				 al_strerror(rc));
		else
			al_warn("job", e->d_name, "removed the workspace of a "
				"job that did not finish");
		removed++;
	}
	if (d)
		closedir(d);
	if (workfd >= 0)
		close(workfd);
	int n = sbx_sweep();
	if (n)
		al_warn("job", NULL, "removed %d stale sandbox cgroups", n);
	sbx_image_sweep();
	return removed;
}

int job_sweep_home(const char *home)
{
	char work[4096];

	if (snprintf(work, sizeof(work), "%s/work", home) >= (int)sizeof(work))
		return -ENAMETOOLONG;
	return job_sweep(work);
}

/*
 * Take this job's lock before its workspace exists: made under a
 * temporary name, locked, then renamed, so a sweeping process never
 * finds it unlocked.
 */
static int job_lock(struct job *j, const char *work)
{
	char tmp[4200], path[4200];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/.%s.lock.tmp", work, j->id);
	snprintf(path, sizeof(path), "%s/%s.lock", work, j->id);
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX) < 0 || rename(tmp, path) < 0) {
		int rc = -errno;
		unlink(tmp);
		close(fd);
		return rc;
	}
	j->lock_fd = fd;
	return 0;
}

static void job_unlock(struct job *j)
{
	char path[4200];

	if (j->lock_fd < 0)
		return;
	snprintf(path, sizeof(path), "%s/work/%s.lock", j->o->home, j->id);
	unlink(path);
	close(j->lock_fd);
	j->lock_fd = -1;
}

/* The parent of HOME must exist: a typo must not make a new store. */
static int job_check_home(const char *home, char *err, size_t errsz)
{
	char parent[4096];
	struct stat st;

	al_strlcpy(parent, home, sizeof(parent));
	char *slash = strrchr(parent, '/');
	if (!slash)
		return 0;
	if (slash == parent)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (stat(parent, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	snprintf(err, errsz, "--home %s: its parent directory %s does not "
		 "exist", home, parent);
	return -ENOENT;
}

/* The repository argument: a URL, or a path that must exist. */
static int job_repo(struct job *j, char *err, size_t errsz)
{
	char local[4096];
	const char *repo = j->o->repo;
	int rc;

	if (!strstr(repo, "://")) {
		if (!realpath(repo, local)) {
			rc = -errno;
			snprintf(err, errsz, "repository path '%s': %s", repo,
				 strerror(errno));
			return rc;
		}
		repo = local;
	}
	vcs_cred_from_env(&j->env_cred);
	rc = vcs_url_split(repo, j->url, sizeof(j->url), &j->url_cred);
	vcs_cred_pick(&j->cred, &j->env_cred, &j->url_cred);
	j->cred_source = j->cred.secret == j->env_cred.secret ? "environment"
							       : "url";
	if (rc)
		snprintf(err, errsz, "repository '%s': %s", repo,
			 al_strerror(rc));
	return rc;
}

/*
 * A packed image: the one the caller mounted (the daemon's, verified
 * when it started or reloaded, or since the file last changed) when
 * airlock.conf still names that file; else the job verifies and mounts
 * it for itself, and job_run unmounts it at the end.
 */
static int job_image_packed(struct job *j, char *err, size_t errsz)
{
	const struct sbx_packed *given = j->o->image;
	const char *pin = j->cfg.image_digest;
	char why[1400];
	int rc = 0;

	j->image_format = "squashfs";
	if (given && given->root[0] && !strcmp(given->file, j->cfg.image)) {
		if (pin[0] && strcmp(pin, given->digest)) {
			snprintf(err, errsz, "the image %s has digest %s, but "
				 "airlock.conf pins %s", given->file,
				 given->digest, pin);
			return AL_E_SANDBOX;
		}
		al_strlcpy(j->image_digest, given->digest,
			   sizeof(j->image_digest));
		j->image_root = given->root;
		return 0;
	}
	rc = sbx_packed_open(j->cfg.image, pin, &j->packed, why, sizeof(why),
			     j->id);
	if (rc) {
		snprintf(err, errsz, "the image was refused: %s", why);
		return AL_E_SANDBOX;
	}
	al_strlcpy(j->image_digest, j->packed.digest, sizeof(j->image_digest));
	j->image_root = j->packed.root;
	return 0;
}

/*
 * Name the configured image by its digest (which also checks that only
 * root can change it) and hold it to the pinned digest, if any: a job
 * must not run on a system nobody reviewed.
 */
static int job_image(struct job *j, char *err, size_t errsz)
{
	const char *pin = j->cfg.image_digest;
	int rc;

	if (!j->cfg.image[0]) {
		if (pin[0]) {
			snprintf(err, errsz, "airlock.conf pins image_digest "
				 "but sets no image");
			return AL_E_SANDBOX;
		}
		return 0;
	}
	if (sbx_image_packed(j->cfg.image))
		return job_image_packed(j, err, errsz);
	j->image_format = "tree";
	rc = sbx_image_digest(j->cfg.image, j->image_digest,
			      sizeof(j->image_digest), j->id);
	if (rc) {
		snprintf(err, errsz, "the image %s was refused (the log line "
			 "above says why)", j->cfg.image);
		return AL_E_SANDBOX;
	}
	if (pin[0] && strcmp(pin, j->image_digest)) {
		snprintf(err, errsz, "the image %s has digest %s, but "
			 "airlock.conf pins %s", j->cfg.image, j->image_digest,
			 pin);
		return AL_E_SANDBOX;
	}
	j->image_root = j->cfg.image;
	return 0;
}

/*
 * What the install sandboxes' npm trusts for an https registry, written
 * to HOME/work/<id>/registry-ca.pem and bound read-only at
 * JOB_SANDBOX_CA. With a registry token: the certificate of a CA made
 * for this job (sbx_tls_create), whose key is gone before this returns,
 * for the proxy that ends npm's TLS to add the token; it is valid for
 * the job's time limit and an hour more, and names the registry host
 * only. Without a token: registry_ca_file, if set, so that npm trusts
 * what the registry client trusts. Nothing for an http registry.
 */
static int job_regtls(struct job *j, char *err, size_t errsz)
{
	const char *ca = job_regca(j);
	struct al_buf copy = {0};
	const char *pem;
	char path[4200];
	int rc, fd;

	if (strncmp(j->cfg.registry, "https://", 8) ||
	    (!j->regtoken.id[0] && !ca))
		return 0;
	if (j->regtoken.id[0]) {
		rc = sbx_tls_create(j->allow, ca, (long)j->cfg.job_timeout + 3600,
				    &j->regtls, err, errsz);
		if (rc)
			return rc;
		pem = sbx_tls_ca_pem(j->regtls);
	} else {
		rc = al_read_file(ca, 1u << 20, &copy);
		if (rc) {
			snprintf(err, errsz, "registry_ca_file %s: %s", ca,
				 al_strerror(rc));
			return rc;
		}
		rc = al_buf_puts(&copy, "");
		pem = copy.p;
	}
	snprintf(path, sizeof(path), "%s/registry-ca.pem", j->ws);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0644);
	rc = rc ? rc : fd < 0 ? -errno : al_write_all(fd, pem, strlen(pem));
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc)
		snprintf(err, errsz, "cannot write %s: %s", path,
			 al_strerror(rc));
	j->regca = rc == 0;
	al_buf_free(&copy);
	return rc;
}

static int job_setup(struct job *j, char *err, size_t errsz)
{
	char work[4096];
	int rc = job_check_home(j->o->home, err, errsz);

	if (rc == 0)
		rc = job_config_load(j->o->home, &j->cfg, err, errsz);
	if (rc)
		return rc;
	rc = job_registry_allow(j->cfg.registry, j->allow, sizeof(j->allow));
	if (rc) {
		snprintf(err, errsz, "the registry URL in %s/airlock.conf is "
			 "not http(s)://host[:port]/", j->o->home);
		return rc;
	}
	if (j->cfg.registry_token_file[0]) {
		rc = job_regtoken_load(j->cfg.registry_token_file,
				       &j->regtoken, err, errsz);
		if (rc)
			return rc;
	}
	if (sbx_check_host(err, errsz))
		return AL_E_SANDBOX;
	rc = job_image(j, err, errsz);
	if (rc)
		return rc;
	if (j->o->worker) {
		j->store = j->o->worker->store;
		j->alog = j->o->worker->alog;
	}
	rc = j->store ? 0 : store_open(j->o->home, &j->store);
	if (rc) {
		snprintf(err, errsz, "cannot open the store under %s: %s "
			 "(the log line above says why)", j->o->home,
			 al_strerror(rc));
		return rc;
	}
	rc = j->alog ? 0 : audit_log_open(j->store, j->o->home, &j->cfg.audit,
					  &j->alog);
	if (rc == 0) {
		char actor[JOB_ACTOR_MAX];
		job_actor(j, actor, sizeof(actor));
		rc = audit_sink_init(&j->sink, j->alog, actor, j->id);
		j->sink_up = rc == 0;
	}
	if (rc) {
		snprintf(err, errsz, "the audit log under %s refuses writing: "
			 "%s (the log line above says why; no job runs without "
			 "its entries)", j->o->home, al_strerror(rc));
		return rc;
	}
	snprintf(work, sizeof(work), "%s/work", j->o->home);
	rc = al_mkdir_p(work, 0700);
	if (rc == 0)
		job_sweep(work);
	if (rc == 0)
		rc = job_repo(j, err, errsz);
	if (rc)
		return rc;
	rc = job_lock(j, work);
	if (rc == 0 && snprintf(j->ws, sizeof(j->ws), "%s/%s", work, j->id) &&
	    mkdir(j->ws, 0700) < 0)
		rc = -errno;
	/* Everything the job and its sandboxes write lives on a volume of
	 * cfg.disk bytes: a payload that fills it fills only its own job. */
	if (rc == 0)
		rc = sbx_disk_create(j->ws, j->cfg.disk, j->id);
	if (rc)
		snprintf(err, errsz, "cannot create workspace under %s: %s",
			 work, al_strerror(rc));
	return rc ? rc : job_regtls(j, err, errsz);
}

/*
 * What the job runs with, in the log: the configuration it read and the
 * credential it took into use (its source, never its value). The
 * credential is dropped at the end of the job (token.revoke).
 */
static void job_audit_setup(struct job *j)
{
	const struct job_config *c = &j->cfg;

	job_emit(j, "config.load", "airlock.conf",
		 json_pack("{s:s,s:I,s:i,s:i,s:i,s:i,s:I,s:I}", "registry",
			   c->registry, "memory", (json_int_t)c->memory,
			   "cpus_milli", (int)c->cpus_milli, "pids",
			   (int)c->pids, "install_timeout",
			   (int)c->install_timeout, "test_timeout",
			   (int)c->test_timeout, "audit_checkpoint_entries",
			   (json_int_t)c->audit.every_n,
			   "audit_checkpoint_minutes",
			   (json_int_t)(c->audit.every_ms / 60000)));
	if (j->cred.secret)
		job_emit(j, "token.issue", j->url,
			 json_pack("{s:s}", "source", j->cred_source));
	if (j->regtoken.id[0])
		job_emit(j, "token.issue", c->registry,
			 json_pack("{s:s,s:s}", "source", "registry_token_file",
				   "id", j->regtoken.id));
}

static json_t *job_new_record(struct job *j)
{
	json_t *image = j->cfg.image[0]
				? json_pack("{s:s,s:s,s:s}", "name",
					    j->cfg.image, "digest",
					    j->image_digest, "format",
					    j->image_format)
				: json_pack("{s:s}", "name", "host");

	return json_pack("{s:i,s:s,s:s,s:s*,s:s,s:s,s:s,s:I,s:I,s:o}",
			 "schema", 1, "id", j->id, "repo", j->url, "branch",
			 j->o->branch, "policy", npm_policy_name(j->o->policy),
			 "test_cmd",
			 j->o->test_cmd ? j->o->test_cmd : "npm test",
			 "registry", j->cfg.registry, "created_ms",
			 (json_int_t)j->started_ms, "started_ms",
			 (json_int_t)j->started_ms, "image", image);
}

int job_run(const struct job_opts *o, json_t **record, char *err,
	    size_t errsz)
{
	struct job j = {.o = o, .lock_fd = -1, .packed = {.fd = -1}};
	struct npm_plan plan = {0};
	struct npm_project proj = {0};
	struct score s = {0};
	bool vcs_up = false;
	int rc;

	*record = NULL;
	j.started_ms = al_wall_ms();
	j.events = (struct al_event_sink){.emit = job_emit, .ctx = &j};
	j.stages = json_array();
	j.groups = json_array();
	pthread_mutex_init(&j.audit_lock, NULL);
	job_make_id(&j);
	rc = vcs_init();
	if (rc) {
		snprintf(err, errsz, "cannot initialise libgit2");
		goto out;
	}
	vcs_up = true;
	rc = job_setup(&j, err, errsz);
	if (rc)
		goto out;

	j.record = job_new_record(&j);
	json_object_set_new(j.record, "state", json_string("running"));
	json_object_set(j.record, "stages", j.stages);
	al_info("job", j.id, "job started repo=%s", j.url);
	rc = job_save(&j, "job.start");
	if (rc) {
		snprintf(err, errsz, "cannot record the job: %s",
			 al_strerror(rc));
		goto destroy;
	}

	job_audit_setup(&j);
	rc = job_clone(&j);
	if (rc == 0 && !job_stopping(&j))
		rc = job_plan(&j, &plan, &proj);
	if (rc == 0 && !job_stopping(&j) && plan.nupdates == 0)
		job_progress(&j, "nothing to update");
	if (rc == 0 && !job_stopping(&j) && plan.nupdates > 0) {
		json_object_set(j.record, "groups", j.groups);
		rc = job_evaluate(&j, &plan, &proj, &s);
	}
	if (rc == 0 && j.audit_failed)
		job_note_failure(&j, "audit", "the audit log could not be "
				 "written; the job stopped", NULL, NULL);

destroy:
	job_destroy(&j);
	if (j.cred.secret)
		job_emit(&j, "token.revoke", j.url,
			 json_pack("{s:s}", "source", j.cred_source));
	if (j.regtoken.id[0])
		job_emit(&j, "token.revoke", j.cfg.registry,
			 json_pack("{s:s,s:s}", "source", "registry_token_file",
				   "id", j.regtoken.id));
	job_finish(&j, rc);
	*record = json_incref(j.record);
	rc = 0;
out:
	job_unlock(&j);
	/* After job_destroy: no sandbox of the job uses the image now. */
	sbx_packed_close(&j.packed, j.id);
	if (j.sink_up)
		audit_sink_destroy(&j.sink);
	if (!o->worker) {
		audit_log_close(j.alog);
		if (j.store)
			store_close(j.store);
	}
	job_config_free(&j.cfg);
	vcs_url_cred_wipe(&j.url_cred);
	job_regtoken_wipe(&j.regtoken);
	sbx_tls_free(j.regtls);
	if (vcs_up)
		vcs_shutdown();
	npm_plan_free(&plan);
	npm_project_free(&proj);
	json_decref(j.record);
	json_decref(j.stages);
	json_decref(j.groups);
	json_decref(j.failure);
	json_decref(j.isolation);
	free(j.proposed.updates);
	job_signals_free(&j.sig);
	pthread_mutex_destroy(&j.audit_lock);
	return rc;
}
