/*
 * adminkeys.c - the admin account's authorized keys file, which sshd
 * reads for that account (AuthorizedKeysFile in appliance/sshd/
 * airlock-admin.conf) and the daemon alone writes (docs/admin-shell.md,
 * "Admin keys").
 *
 * The file belongs to the daemon's user (root on the appliance), mode
 * 0644, in a directory only that user can write: the admin account
 * reads it through sshd but can neither change it nor swap it. Every
 * line airlock writes is "restrict,pty TYPE KEY COMMENT": restrict
 * turns off every forwarding, agent, X11 and user rc, pty gives the
 * console its terminal. Lines written by hand are kept as they are;
 * `keys admin list` says which keys lack restrict.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/sshkey.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/util.h"
#include "daemon/daemon.h"

#define AK_FILE_MAX (1 << 20)
#define AK_KEYS_MAX 1000
#define AK_COMMENT_MAX 64

/* One line of the file. */
struct ak_line {
	char *text;          /* as in the file, without its newline */
	bool key;            /* a key of an accepted type, parsed */
	bool restricted;     /* its options hold "restrict" */
	struct api_sshkey k;
	char comment[AK_COMMENT_MAX + 1];
};

struct ak_file {
	char path[1024];
	int dirfd;
	const char *base;    /* in path */
	struct ak_line *v;
	size_t n, nkeys;
};

static void ak_free(struct ak_file *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->v[i].text);
	free(f->v);
	if (f->dirfd >= 0)
		close(f->dirfd);
	f->v = NULL;
	f->n = f->nkeys = 0;
	f->dirfd = -1;
}

/* Whether the comma-separated options (quotes respected) hold name. */
static bool ak_has_option(const char *opts, size_t len, const char *name)
{
	size_t nl = strlen(name), start = 0;
	bool q = false;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && opts[i] == '"')
			q = !q;
		if (i < len && (q || opts[i] != ','))
			continue;
		if (i - start == nl && !strncmp(opts + start, name, nl))
			return true;
		start = i + 1;
	}
	return false;
}

/*
 * Parse one line as sshd reads an authorized_keys line: optional
 * options (double quotes may hold spaces), type, base64, comment. A line
 * that is no key of an accepted type stays a plain line.
 */
static void ak_parse_line(struct ak_line *l)
{
	char buf[16384];
	char *p = buf, *opts = NULL, *type, *b64, *sp;
	size_t olen = 0;
	char why[128];

	if (al_strlcpy(buf, l->text, sizeof(buf)) >= sizeof(buf))
		return;
	p += strspn(p, " \t");
	if (!*p || *p == '#')
		return;
	sp = p + strcspn(p, " \t");
	if (!*sp)
		return;
	*sp = '\0';
	if (!api_sshkey_type_ok(p)) {
		bool q = false;

		*sp = ' ';
		opts = p;
		for (; *p && (q || (*p != ' ' && *p != '\t')); p++)
			if (*p == '"' && (p == opts || p[-1] != '\\'))
				q = !q;
		olen = (size_t)(p - opts);
		p += strspn(p, " \t");
		sp = p + strcspn(p, " \t");
		if (!*sp)
			return;
		*sp = '\0';
	}
	type = p;
	b64 = sp + 1 + strspn(sp + 1, " \t");
	sp = b64 + strcspn(b64, " \t");
	if (*sp)
		*sp++ = '\0';
	if (api_sshkey_parse(type, b64, &l->k, why, sizeof(why)))
		return;
	l->key = true;
	l->restricted = opts && ak_has_option(opts, olen, "restrict");
	sp += strspn(sp, " \t");
	al_strlcpy(l->comment, sp, sizeof(l->comment));
}

/*
 * sshd's StrictModes and ours: the directory and the file belong to
 * root or to the daemon's user and nobody else may write them, or the
 * admin account (or anyone) could put a key of their own there.
 */
static bool ak_owner_ok(const struct stat *st)
{
	return (st->st_uid == 0 || st->st_uid == geteuid()) &&
	       !(st->st_mode & 022);
}

static int ak_open_dir(struct ak_file *f, char *why, size_t whysz)
{
	char dir[1024];
	char *slash = strrchr(f->path, '/');
	struct stat st;

	memcpy(dir, f->path, (size_t)(slash - f->path));
	dir[slash - f->path] = '\0';
	f->base = slash + 1;
	f->dirfd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->dirfd < 0) {
		snprintf(why, whysz, "%s: %s", dir, strerror(errno));
		return -errno;
	}
	if (fstat(f->dirfd, &st) || !ak_owner_ok(&st)) {
		snprintf(why, whysz, "%s: the directory must belong to root "
			 "and be writable by nobody else (sshd refuses it "
			 "too)", dir);
		return AL_E_UNSAFE;
	}
	return 0;
}

static int ak_add_line(struct ak_file *f, const char *s, size_t len)
{
	struct ak_line *v = realloc(f->v, (f->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	f->v = v;
	memset(&v[f->n], 0, sizeof(v[f->n]));
	v[f->n].text = strndup(s, len);
	if (!v[f->n].text)
		return -ENOMEM;
	ak_parse_line(&v[f->n]);
	f->nkeys += v[f->n].key;
	f->n++;
	return 0;
}

/* Read the configured file (absent: no keys). */
static int ak_load(struct daemon *d, struct ak_file *f, char *why,
		   size_t whysz)
{
	struct al_buf b = {0};
	struct stat st;
	int fd = -1, rc;

	memset(f, 0, sizeof(*f));
	f->dirfd = -1;
	pthread_rwlock_rdlock(&d->sched_lock);
	al_strlcpy(f->path, d->cfg.admin_keys_file, sizeof(f->path));
	pthread_rwlock_unlock(&d->sched_lock);
	if (!f->path[0]) {
		snprintf(why, whysz, "no admin_keys_file in airlock.conf");
		return AL_E_NOTFOUND;
	}
	if ((rc = ak_open_dir(f, why, whysz)))
		goto out;
	fd = openat(f->dirfd, f->base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		goto out;
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    !ak_owner_ok(&st)) {
		snprintf(why, whysz, "%s: not a regular file of root's that "
			 "only root may write", f->path);
		rc = AL_E_UNSAFE;
		goto out;
	}
	if ((rc = al_read_beneath(f->dirfd, f->base, AK_FILE_MAX, &b))) {
		snprintf(why, whysz, "%s: %s", f->path, al_strerror(rc));
		goto out;
	}
	for (char *p = b.p, *nl; rc == 0 && p && *p; p = nl ? nl + 1 : NULL) {
		nl = strchr(p, '\n');
		rc = ak_add_line(f, p, nl ? (size_t)(nl - p) : strlen(p));
	}
out:
	if (fd >= 0)
		close(fd);
	al_buf_free(&b);
	return rc;
}

/* Replace the file with the lines, atomically, and make it durable. */
static int ak_store(struct ak_file *f)
{
	struct al_buf b = {0};
	int rc = al_buf_puts(&b, "");

	for (size_t i = 0; rc == 0 && i < f->n; i++)
		if (f->v[i].text)
			rc = al_buf_printf(&b, "%s\n", f->v[i].text);
	if (rc == 0)
		rc = al_write_beneath(f->dirfd, f->base, b.p, b.len);
	if (rc == 0 && fsync(f->dirfd) < 0)
		rc = -errno;
	al_buf_free(&b);
	return rc;
}

/* Adding and removing keys gives or takes a login over SSH: only root,
 * the daemon's user, or an administrator through the admin shell. */
static bool ak_may_change(const struct api_call *call)
{
	return call->caller->fingerprint[0] || call->caller->uid == 0 ||
	       call->caller->uid == geteuid();
}

static json_t *ak_fail(struct api_err *err, int rc, const char *why)
{
	return api_fail(err, rc == AL_E_NOTFOUND ? API_E_CONFLICT
						 : API_E_INTERNAL,
			"admin keys: %s", why);
}

static json_t *ak_line_json(const struct ak_line *l, size_t lineno)
{
	return json_pack("{s:s,s:s,s:s,s:b,s:I}", "fingerprint",
			 l->k.fingerprint, "type", l->k.type, "comment",
			 l->comment, "restricted", l->restricted, "line",
			 (json_int_t)lineno);
}

json_t *dmn_m_admin_keys_list(void *ctx, const struct api_call *call,
			      json_t *params, struct api_err *err)
{
	struct ak_file f;
	json_t *keys = json_array(), *out = NULL;
	size_t other = 0;
	char why[512] = "";
	int rc;

	(void)call;
	if (json_object_size(params)) {
		api_fail(err, API_E_PARAMS, "admin.keys.list takes no "
			 "parameters");
		goto done;
	}
	if ((rc = ak_load(ctx, &f, why, sizeof(why)))) {
		ak_fail(err, rc, why);
		goto done;
	}
	for (size_t i = 0; i < f.n; i++) {
		const char *t = f.v[i].text + strspn(f.v[i].text, " \t");
		if (f.v[i].key)
			json_array_append_new(keys, ak_line_json(&f.v[i], i + 1));
		else if (*t && *t != '#')
			other++;
	}
	out = json_pack("{s:s,s:O,s:I}", "file", f.path, "keys", keys,
			"other_lines", (json_int_t)other);
done:
	ak_free(&f);
	json_decref(keys);
	return out;
}

/* A comment names the key in lists and logs: a short plain word. */
static bool ak_comment_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= AK_COMMENT_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789._@+-") == n;
}

/*
 * The entry comes before the change: a key whose addition cannot be
 * audited is not added. A file that then cannot be written gets an
 * entry of its own saying so.
 */
static int ak_change(struct daemon *d, const struct api_call *call,
		     struct ak_file *f, const char *action,
		     const struct ak_line *l, struct api_err *err)
{
	int rc = audit_append_now(d->log, call->actor, action,
				  l->k.fingerprint,
				  json_pack("{s:s,s:s,s:s}", "type", l->k.type,
					    "comment", l->comment, "file",
					    f->path),
				  NULL);

	if (rc) {
		api_fail(err, API_E_AUDIT, "the change could not be audited: "
			 "%s; nothing changed", al_strerror(rc));
		return rc;
	}
	dmn_poke(d);
	if ((rc = ak_store(f)) == 0) {
		al_info("admin", NULL, "%s key=%s comment=%s file=%s", action,
			l->k.fingerprint, l->comment, f->path);
		return 0;
	}
	audit_append_now(d->log, call->actor, "admin.keys.error",
			 l->k.fingerprint,
			 json_pack("{s:s,s:s}", "action", action, "error",
				   al_strerror(rc)),
			 NULL);
	al_error("admin", NULL, "%s: cannot write %s: %s", action, f->path,
		 al_strerror(rc));
	api_fail(err, API_E_INTERNAL, "cannot write %s: %s", f->path,
		 al_strerror(rc));
	return rc;
}

json_t *dmn_m_admin_keys_add(void *ctx, const struct api_call *call,
			     json_t *params, struct api_err *err)
{
	const char *type = json_string_value(json_object_get(params, "type"));
	const char *key = json_string_value(json_object_get(params, "key"));
	const char *comment =
		json_string_value(json_object_get(params, "comment"));
	struct ak_file f = {.dirfd = -1};
	struct ak_line nl = {0};
	char why[512] = "", text[API_SSHKEY_B64_MAX + 256];
	json_t *out = NULL;
	int rc;

	if (!ak_may_change(call)) {
		api_fail(err, API_E_FORBIDDEN, "only root or the admin shell "
			 "may add admin keys");
		goto done;
	}
	if (json_object_size(params) != 3 || !type || !key || !comment ||
	    !ak_comment_ok(comment)) {
		api_fail(err, API_E_PARAMS, "admin.keys.add needs 'type', "
			 "'key' and 'comment' (1 to %d letters, digits or "
			 "._@+-) and nothing else", AK_COMMENT_MAX);
		goto done;
	}
	if (api_sshkey_parse(type, key, &nl.k, why, sizeof(why))) {
		api_fail(err, API_E_PARAMS, "%s", why);
		goto done;
	}
	al_strlcpy(nl.comment, comment, sizeof(nl.comment));
	if ((rc = ak_load(ctx, &f, why, sizeof(why)))) {
		ak_fail(err, rc, why);
		goto done;
	}
	for (size_t i = 0; i < f.n; i++)
		if (f.v[i].key &&
		    !strcmp(f.v[i].k.fingerprint, nl.k.fingerprint)) {
			api_fail(err, API_E_CONFLICT, "key %s is there already "
				 "(line %zu, '%s')", nl.k.fingerprint, i + 1,
				 f.v[i].comment);
			goto done;
		}
	if (f.nkeys >= AK_KEYS_MAX) {
		api_fail(err, API_E_CONFLICT, "%d admin keys at most",
			 AK_KEYS_MAX);
		goto done;
	}
	snprintf(text, sizeof(text), "restrict,pty %s %s %s", type, key,
		 comment);
	if (ak_add_line(&f, text, strlen(text))) {
		api_fail(err, API_E_INTERNAL, "out of memory");
		goto done;
	}
	if (ak_change(ctx, call, &f, "admin.keys.add", &nl, err) == 0)
		out = json_pack("{s:s,s:s,s:s,s:I}", "fingerprint",
				nl.k.fingerprint, "type", nl.k.type, "comment",
				nl.comment, "keys", (json_int_t)f.nkeys);
done:
	ak_free(&f);
	return out;
}

/* The one key line named by fingerprint or comment; SIZE_MAX if none. */
static size_t ak_find(const struct ak_file *f, const char *name,
		      struct api_err *err)
{
	size_t hit = SIZE_MAX, n = 0;

	for (size_t i = 0; i < f->n; i++)
		if (f->v[i].key && (!strcmp(f->v[i].k.fingerprint, name) ||
				    !strcmp(f->v[i].comment, name))) {
			hit = i;
			n++;
		}
	if (n == 0)
		api_fail(err, API_E_NOTFOUND, "no admin key '%.100s' (name its "
			 "fingerprint or comment; keys admin list)", name);
	else if (n > 1)
		api_fail(err, API_E_CONFLICT, "%zu keys match '%.100s': name "
			 "the fingerprint", n, name);
	return n == 1 ? hit : SIZE_MAX;
}

json_t *dmn_m_admin_keys_remove(void *ctx, const struct api_call *call,
				json_t *params, struct api_err *err)
{
	const char *name = json_string_value(json_object_get(params, "key"));
	json_t *force = json_object_get(params, "force");
	struct ak_file f = {.dirfd = -1};
	struct ak_line gone;
	char why[512] = "";
	json_t *out = NULL;
	size_t i;
	int rc;

	if (!ak_may_change(call)) {
		api_fail(err, API_E_FORBIDDEN, "only root or the admin shell "
			 "may remove admin keys");
		goto done;
	}
	if (!name || (force && !json_is_boolean(force)) ||
	    json_object_size(params) != (force ? 2u : 1u)) {
		api_fail(err, API_E_PARAMS, "admin.keys.remove needs 'key' (a "
			 "fingerprint or comment) and optionally 'force'");
		goto done;
	}
	if ((rc = ak_load(ctx, &f, why, sizeof(why)))) {
		ak_fail(err, rc, why);
		goto done;
	}
	if ((i = ak_find(&f, name, err)) == SIZE_MAX)
		goto done;
	/* Without a key nobody can log in to add one again. */
	if (f.nkeys == 1 && !json_is_true(force)) {
		api_fail(err, API_E_CONFLICT, "%s is the last admin key: "
			 "without it nobody can log in as the admin (force "
			 "to remove it anyway)", f.v[i].k.fingerprint);
		goto done;
	}
	gone = f.v[i];
	f.v[i].text = NULL; /* ak_store skips it; freed below */
	f.nkeys--;
	if (ak_change(ctx, call, &f, "admin.keys.remove", &gone, err) == 0)
		out = json_pack("{s:s,s:s,s:I}", "fingerprint",
				gone.k.fingerprint, "comment", gone.comment,
				"keys", (json_int_t)f.nkeys);
	free(gone.text);
done:
	ak_free(&f);
	return out;
}
