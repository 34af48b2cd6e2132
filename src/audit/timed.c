/*
 * timed.c - the timer's export: its airlock.conf keys, its state file,
 * and one run (export when due, then push what is not pushed yet).
 */
#include "audit/timed.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "audit/checkpoint.h"
#include "audit/internal.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "base/util.h"
#include "store/store.h"

/* A state time further ahead than this is a clock set back or an edit. */
#define TIMED_SKEW_MS (5 * 60 * 1000)
#define TIMED_STATE_MAX (16 * 1024)

void audit_timed_init(struct audit_timed_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->interval_ms = (int64_t)AUDIT_EXPORT_INTERVAL_DEFAULT_S * 1000;
	c->port = 22;
}

static int timed_interval(struct audit_timed_cfg *c, const char *v,
			  char *why, size_t whysz)
{
	size_t n = strlen(v);
	uint64_t num, mult = 1;
	char digits[32];

	if (!strcmp(v, "off") || !strcmp(v, "0")) {
		c->interval_ms = 0;
		return 0;
	}
	if (n == 0 || n >= sizeof(digits))
		return -EINVAL;
	memcpy(digits, v, n + 1);
	switch (digits[n - 1]) {
	case 'd': mult = 86400; break;
	case 'h': mult = 3600; break;
	case 'm': mult = 60; break;
	case 's': mult = 1; break;
	default: mult = 0; break;
	}
	if (mult)
		digits[n - 1] = '\0';
	else
		mult = 1;
	if (al_parse_u64(digits, AUDIT_EXPORT_INTERVAL_MAX_S, &num) != 0 ||
	    num * mult < AUDIT_EXPORT_INTERVAL_MIN_S ||
	    num * mult > AUDIT_EXPORT_INTERVAL_MAX_S) {
		snprintf(why, whysz, "an interval of 5m to 7d, a number with "
			 "s, m, h or d, or 0 or off");
		return -ERANGE;
	}
	c->interval_ms = (int64_t)(num * mult) * 1000;
	return 0;
}

static bool timed_user_ok(const char *u, size_t n)
{
	if (n == 0 || n > 32 || !((u[0] >= 'a' && u[0] <= 'z') || u[0] == '_'))
		return false;
	return strspn(u, "abcdefghijklmnopqrstuvwxyz0123456789_.-") >= n;
}

/* A DNS name, an IPv4 address, or [IPv6]: never an option ("-..."). */
static bool timed_host_ok(const char *h, size_t n)
{
	static const char name[] = "abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-";

	if (n == 0 || n > 253)
		return false;
	if (h[0] == '[')
		return n > 2 && h[n - 1] == ']' &&
		       strspn(h + 1, "0123456789abcdefABCDEF:.") == n - 2;
	return h[0] != '-' && h[0] != '.' && strspn(h, name) >= n;
}

/* Absolute, checked characters, no "..", no empty component. */
static bool timed_path_ok(const char *p)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
				 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/";
	size_t n = strlen(p);

	if (p[0] != '/' || n >= 200 || strspn(p, ok) != n ||
	    strstr(p, "//"))
		return false;
	for (const char *s = p; s; s = strchr(s + 1, '/'))
		if (!strncmp(s, "/..", 3) && (s[3] == '/' || s[3] == '\0'))
			return false;
	return true;
}

/* sftp://USER@HOST[:PORT]/PATH, nothing else. */
static int timed_push_url(struct audit_timed_cfg *c, const char *v,
			  char *why, size_t whysz)
{
	const char *u = v + 7, *at, *hp, *slash, *colon;
	uint64_t port = 22;

	snprintf(why, whysz, "sftp://USER@HOST[:PORT]/PATH: a user of "
		 "[a-z_][a-z0-9_.-]*, a host name or address, an absolute "
		 "path of letters, digits and ._-/ without '..'");
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return -EINVAL;
	if (strncmp(v, "sftp://", 7) || strlen(v) >= sizeof(c->push))
		return -EINVAL;
	at = strchr(u, '@');
	slash = strchr(u, '/');
	if (!at || !slash || at > slash || !timed_user_ok(u, (size_t)(at - u)))
		return -EINVAL;
	hp = at + 1;
	colon = hp[0] == '[' ? strchr(hp, ']') : hp;
	if (!colon || colon > slash)
		return -EINVAL;
	colon = memchr(colon, ':', (size_t)(slash - colon));
	if (colon) {
		char num[8];
		size_t pn = (size_t)(slash - colon - 1);
		if (pn == 0 || pn >= sizeof(num))
			return -EINVAL;
		memcpy(num, colon + 1, pn);
		num[pn] = '\0';
		if (al_parse_u64(num, 65535, &port) || port == 0)
			return -EINVAL;
	}
	size_t hn = (size_t)((colon ? colon : slash) - hp);
	if (!timed_host_ok(hp, hn) || hn >= sizeof(c->host) ||
	    !timed_path_ok(slash))
		return -EINVAL;
	memcpy(c->user, u, (size_t)(at - u));
	c->user[at - u] = '\0';
	memcpy(c->host, hp, hn);
	c->host[hn] = '\0';
	c->port = (unsigned)port;
	al_strlcpy(c->path, slash, sizeof(c->path));
	al_strlcpy(c->push, v, sizeof(c->push));
	why[0] = '\0';
	return 0;
}

/*
 * The key and the known hosts file: the characters of a push path only.
 * ssh expands %-tokens and ${VAR} in both names and splits the known
 * hosts name at spaces, so a name with any of those would have
 * push_check_file() vouch for one file and ssh read another.
 */
static int timed_abs_path(char *dst, size_t dstsz, const char *v, char *why,
			  size_t whysz)
{
	if (!timed_path_ok(v) || strstr(v, "/./") ||
	    (strlen(v) >= 2 && !strcmp(v + strlen(v) - 2, "/."))) {
		snprintf(why, whysz, "an absolute path of letters, digits "
			 "and ._-/ without '..' or '.'");
		return -EINVAL;
	}
	return al_strlcpy(dst, v, dstsz) < dstsz ? 0 : -ERANGE;
}

int audit_timed_set(struct audit_timed_cfg *c, const char *key,
		    const char *value, unsigned line, char *why,
		    size_t whysz)
{
	if (!strcmp(key, "export_interval"))
		return timed_interval(c, value, why, whysz);
	if (!strcmp(key, "export_push")) {
		c->push_line = line;
		return timed_push_url(c, value, why, whysz);
	}
	if (!strcmp(key, "export_push_key"))
		return timed_abs_path(c->key, sizeof(c->key), value, why, whysz);
	if (!strcmp(key, "export_push_known_hosts"))
		return timed_abs_path(c->known_hosts, sizeof(c->known_hosts),
				      value, why, whysz);
	return AL_E_NOTFOUND;
}

int audit_timed_finish(struct audit_timed_cfg *c, const char *home,
		       const char *path, char *err, size_t errsz)
{
	if (!c->push[0])
		return 0;
	if (!c->known_hosts[0]) {
		/* Without it ssh would trust whatever key answers first. */
		snprintf(err, errsz, "%s:%u: export_push needs "
			 "export_push_known_hosts (the receiver's host key; "
			 "no key is trusted on first use)", path, c->push_line);
		return AL_E_PARSE;
	}
	if (!c->key[0] &&
	    snprintf(c->key, sizeof(c->key), "%s/%s", home,
		     AUDIT_PUSH_KEY_DEFAULT) >= (int)sizeof(c->key)) {
		snprintf(err, errsz, "%s: home too long for the push key", path);
		return AL_E_PARSE;
	}
	return 0;
}

static int timed_set(void *ctx, const char *k, const char *v,
		     unsigned lineno, char *why, size_t whysz)
{
	return audit_timed_set(ctx, k, v, lineno, why, whysz);
}

int audit_timed_load(const char *home, struct audit_timed_cfg *c, char *err,
		     size_t errsz)
{
	char path[PATH_MAX];
	int rc;

	audit_timed_init(c);
	rc = audit_conf_scan(home, "export_", timed_set, c, path, sizeof(path),
			     err, errsz);
	if (rc)
		return rc;
	return audit_timed_finish(c, home, path, err, errsz);
}

void audit_timed_dest(const struct audit_timed_cfg *c, char *out,
		      size_t outsz)
{
	snprintf(out, outsz, "sftp://%s@%s:%u%s", c->user, c->host, c->port,
		 c->path);
}

/* What HOME/export-state.json says; zeros for what it does not. */
struct timed_state {
	uint64_t last_n;
	int64_t last_ms;        /* 0: no export recorded */
	char push_to[700];
	uint64_t through;
};

static void timed_state_read(const char *home, struct timed_state *s)
{
	char path[PATH_MAX];
	json_t *o = NULL, *le, *pu;
	int rc;

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "%s/" AUDIT_EXPORT_STATE, home);
	rc = al_json_load_file(path, TIMED_STATE_MAX, &o);
	if (rc == AL_E_NOTFOUND || rc == -ENOENT)
		return;
	le = json_object_get(o, "last_export");
	pu = json_object_get(o, "push");
	if (rc || json_integer_value(json_object_get(o, "v")) != 1) {
		al_warn("audit", NULL, "%s: unreadable (%s); exporting now",
			path, al_strerror(rc ? rc : AL_E_PARSE));
		json_decref(o);
		return;
	}
	const char *t = json_string_value(json_object_get(le, "time"));
	const char *to = json_string_value(json_object_get(pu, "to"));
	json_int_t n = json_integer_value(json_object_get(le, "n"));
	json_int_t th = json_integer_value(json_object_get(pu, "through"));
	s->last_ms = t ? audit_parse_time(t) : 0;
	s->last_n = n > 0 ? (uint64_t)n : 0;
	if (s->last_ms < 0)
		s->last_ms = 0;
	if (to && th > 0 && strlen(to) < sizeof(s->push_to)) {
		memcpy(s->push_to, to, strlen(to) + 1);
		s->through = (uint64_t)th;
	}
	json_decref(o);
}

/* Replace the state file atomically (temporary file, fsync, rename). */
static int timed_state_write(const char *home, const struct timed_state *s)
{
	char stamp[32];
	json_t *o;
	char *text = NULL;
	int dfd = -1, rc;

	al_utc_stamp(stamp, sizeof(stamp), s->last_ms);
	o = json_pack("{s:i, s:{s:I, s:s}}", "v", 1, "last_export", "n",
		      (json_int_t)s->last_n, "time", stamp);
	if (o && s->push_to[0])
		json_object_set_new(o, "push", json_pack("{s:s, s:I}", "to",
							 s->push_to, "through",
							 (json_int_t)s->through));
	text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	rc = text ? 0 : -ENOMEM;
	if (rc == 0)
		dfd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rc == 0 && dfd < 0)
		rc = -errno;
	if (rc == 0 && faccessat(dfd, AUDIT_EXPORT_STATE, F_OK,
				 AT_SYMLINK_NOFOLLOW) != 0) {
		int fd = openat(dfd, AUDIT_EXPORT_STATE, O_WRONLY | O_CREAT |
				O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		rc = fd < 0 ? -errno : 0;
		if (fd >= 0)
			close(fd);
	}
	if (rc == 0)
		rc = al_write_beneath(dfd, AUDIT_EXPORT_STATE, text,
				      strlen(text));
	if (rc)
		al_error("audit", NULL, "%s/%s: cannot write: %s", home,
			 AUDIT_EXPORT_STATE, al_strerror(rc));
	if (dfd >= 0)
		close(dfd);
	free(text);
	json_decref(o);
	return rc;
}

static int timed_lock(const char *home, int *fd)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/export-state.lock", home);
	*fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (*fd < 0)
		return -errno;
	while (flock(*fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/*
 * An export the state does not know (made by hand, or through the
 * daemon) is the last export: the interval counts from its digest's
 * time. A digest that cannot be read leaves the state as it is.
 */
static void timed_state_newer(const char *dir, uint64_t newest,
			      struct timed_state *s)
{
	int64_t ms;

	if (newest <= s->last_n || s->last_ms == 0 ||
	    audit_export_time(dir, newest, &ms) != 0)
		return;
	s->last_n = newest;
	s->last_ms = ms;
}

/* Whether an export is due now; *next_ms when the next one is. */
static bool timed_due(const struct audit_timed_cfg *c,
		      const struct timed_state *s, uint64_t newest,
		      int64_t now, int64_t *next_ms)
{
	*next_ms = 0;
	if (c->interval_ms == 0)
		return false;
	if (s->last_ms == 0 || newest == 0) {
		*next_ms = now;
		return true;
	}
	if (s->last_ms > now + TIMED_SKEW_MS) {
		al_warn("audit", NULL, "the last export's recorded time is in "
			"the future (clock set back, or the state file "
			"edited); exporting now");
		*next_ms = now;
		return true;
	}
	*next_ms = s->last_ms + c->interval_ms;
	return now >= *next_ms;
}

/* Append one entry in a transaction of its own; logged on failure. */
static int timed_entry(struct audit_log *log, const char *actor,
		       const char *action, const char *object, json_t *d)
{
	int rc = audit_append_now(log, actor, action, object, d, NULL);

	if (rc)
		al_error("audit", NULL, "cannot write the %s entry: %s",
			 action, al_strerror(rc));
	return rc;
}

static json_t *timed_files(uint64_t from, uint64_t to)
{
	json_t *a = json_array();
	char name[64];

	for (uint64_t n = from; a && n <= to; n++) {
		snprintf(name, sizeof(name), "%08llu.jsonl",
			 (unsigned long long)n);
		json_array_append_new(a, json_string(name));
		snprintf(name, sizeof(name), "%08llu.digest.json",
			 (unsigned long long)n);
		json_array_append_new(a, json_string(name));
	}
	return a;
}

/*
 * Push exports from..to in batches, each between an audit.push.start
 * entry (no entry, no push) and an audit.push entry with its result.
 * Stops at the first failure; s->through says how far it got.
 */
static int timed_push(struct audit_log *log, const char *dir,
		      const struct audit_timed_cfg *c, const char *actor,
		      struct timed_state *s, uint64_t to,
		      struct audit_timed_result *res)
{
	char dest[700], why[256];
	int rc = 0;

	audit_timed_dest(c, dest, sizeof(dest));
	while (rc == 0 && s->through < to) {
		uint64_t a = s->through + 1, b = to;
		if (b - a >= AUDIT_PUSH_BATCH)
			b = a + AUDIT_PUSH_BATCH - 1;
		rc = timed_entry(log, actor, "audit.push.start", dest,
				 json_pack("{s:I, s:I, s:o}", "from",
					   (json_int_t)a, "to", (json_int_t)b,
					   "files", timed_files(a, b)));
		if (rc) {
			snprintf(why, sizeof(why), "no audit entry, no push: %s",
				 al_strerror(rc));
			break;
		}
		why[0] = '\0';
		rc = audit_push(c, dir, a, b, why, sizeof(why));
		int arc = timed_entry(log, actor, "audit.push", dest, json_pack(
			"{s:s, s:I, s:I, s:o, s:s?}", "result",
			rc ? "failed" : "ok", "from", (json_int_t)a, "to",
			(json_int_t)b, "files", timed_files(a, b), "reason",
			rc ? why : NULL));
		if (rc) {
			al_error("audit", NULL, "push failed: exports %llu..%llu "
				 "to %s: %s; retried at the next run",
				 (unsigned long long)a, (unsigned long long)b,
				 dest, why);
			break;
		}
		al_info("audit", NULL, "pushed exports %llu..%llu to %s",
			(unsigned long long)a, (unsigned long long)b, dest);
		res->pushed += b - a + 1;
		s->through = b;
		rc = arc;
	}
	if (rc)
		al_strlcpy(res->push_error, why[0] ? why : al_strerror(rc),
			   sizeof(res->push_error));
	res->push_pending = to - s->through;
	return rc;
}

/* Open the store and the log, export if due, push. */
static int timed_work(const char *home, const struct audit_policy *pol,
		      const struct audit_timed_cfg *c, const char *actor,
		      struct timed_state *s, bool due, uint64_t newest,
		      struct audit_timed_result *res)
{
	char dir[PATH_MAX + 16], dest[700];
	struct audit_log *log = NULL;
	struct store *st = NULL;
	int rc = store_open_existing(home, &st);

	if (rc == 0)
		rc = audit_log_open(st, home, pol, &log);
	if (rc) {
		al_error("audit", NULL, "cannot open the audit log in %s: %s",
			 home, al_strerror(rc));
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s/" AUDIT_EXPORT_DIR, home);
	if (due) {
		rc = audit_export(log, NULL, actor, &res->info);
		if (rc)
			goto out;
		res->exported = true;
		newest = res->info.n;
		s->last_n = res->info.n;
		s->last_ms = al_wall_ms();
		res->next_ms = s->last_ms + c->interval_ms;
		/* Not recording it costs one more export next time. */
		timed_state_write(home, s);
	}
	if (!c->push[0])
		goto out;
	audit_timed_dest(c, dest, sizeof(dest));
	if (strcmp(s->push_to, dest)) {
		/* A new destination gets every export, from the first. */
		al_strlcpy(s->push_to, dest, sizeof(s->push_to));
		s->through = 0;
	}
	if (s->through > newest)
		s->through = 0; /* exports started over: push them again */
	uint64_t before = s->through;
	timed_push(log, dir, c, actor, s, newest, res);
	if (s->through != before)
		timed_state_write(home, s);
out:
	audit_log_close(log);
	store_close(st);
	return rc;
}

int audit_timed_run(const char *home, const struct audit_policy *pol,
		    const struct audit_timed_cfg *c, const char *actor,
		    struct audit_timed_result *res)
{
	char dir[PATH_MAX + 16], dest[700];
	struct timed_state s;
	uint64_t newest = 0;
	bool pending = false;
	int lfd = -1, rc;

	memset(res, 0, sizeof(*res));
	snprintf(dir, sizeof(dir), "%s/" AUDIT_EXPORT_DIR, home);
	rc = timed_lock(home, &lfd);
	if (rc == 0)
		rc = audit_export_newest(dir, &newest);
	if (rc) {
		al_error("audit", NULL, "%s: %s", home, al_strerror(rc));
		goto out;
	}
	timed_state_read(home, &s);
	timed_state_newer(dir, newest, &s);
	res->due = timed_due(c, &s, newest, al_wall_ms(), &res->next_ms);
	if (c->push[0]) {
		audit_timed_dest(c, dest, sizeof(dest));
		pending = newest > 0 &&
			  (strcmp(s.push_to, dest) || s.through != newest);
	}
	if (res->due || pending)
		rc = timed_work(home, pol, c, actor, &s, res->due, newest, res);
out:
	if (lfd >= 0)
		close(lfd);
	return rc;
}
