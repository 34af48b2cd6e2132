/*
 * vcs.c - libgit2 set-up and the callbacks that clone and push share:
 * credentials, progress, remote messages and push results.
 */
#include <errno.h>
#include <git2.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"
#include "vcs/vcs.h"
#include "vcs/vcs_cb.h"
#include "vcs/vcs_int.h"

static uint64_t fetch_limit = VCS_DEFAULT_FETCH_LIMIT;

void vcs_set_fetch_limit(uint64_t bytes)
{
	fetch_limit = bytes ? bytes : VCS_DEFAULT_FETCH_LIMIT;
}

uint64_t vcs__fetch_limit(void)
{
	return fetch_limit;
}

int vcs_init(void)
{
	static const int levels[] = {
		GIT_CONFIG_LEVEL_PROGRAMDATA, GIT_CONFIG_LEVEL_SYSTEM,
		GIT_CONFIG_LEVEL_XDG, GIT_CONFIG_LEVEL_GLOBAL,
	};
	size_t i;

	if (git_libgit2_init() < 0)
		return AL_E_GIT;

	/* An empty search path means no file at that level: the operator's
	 * ~/.gitconfig or /etc/gitconfig cannot rewrite a job's URL, add a
	 * proxy or credential helper, or change how checkout writes. */
	for (i = 0; i < AL_ARRAY_LEN(levels); i++) {
		if (git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, levels[i],
				     "") < 0)
			goto fail;
	}
	/* Objects are checked against their ids when read and written, so a
	 * corrupted or planted object cannot pass for another. */
	if (git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 1) < 0 ||
	    git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 1) < 0)
		goto fail;
	return 0;
fail:
	git_libgit2_shutdown();
	return AL_E_GIT;
}

void vcs_shutdown(void)
{
	git_libgit2_shutdown();
}

int vcs_branch_name_ok(const char *name)
{
	int valid = 0;

	if (!name || !*name || name[0] == '-')
		return 0;
	if (git_branch_name_is_valid(&valid, name) < 0)
		return 0;
	return valid;
}

int vcs__cb_init(struct vcs_cb *cb, const char *url,
		 const struct vcs_cred *cred)
{
	memset(cb, 0, sizeof(*cb));
	cb->cred = cred;
	cb->limit = fetch_limit;
	if (vcs__url_kind(url) == VCS_URL_HTTP)
		return vcs__url_origin(url, cb->origin, sizeof(cb->origin));
	return 0;
}

void vcs__cb_free(struct vcs_cb *cb)
{
	al_buf_free(&cb->remote_msg);
}

/*
 * libgit2 asks again after every 401. The same credentials are offered
 * twice at most (one retry, for a server that dropped the first try),
 * then the attempt ends with a clear "authentication failed" instead of
 * looping. Credentials go only to the origin the job named: a redirect
 * or a rewritten URL cannot collect the token.
 */
static int cb_credentials(git_credential **out, const char *url,
			  const char *user_from_url, unsigned int allowed,
			  void *payload)
{
	struct vcs_cb *cb = payload;
	char origin[VCS_URL_MAX];

	if (!(allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) || !cb->cred ||
	    !cb->cred->secret || !*cb->cred->secret) {
		cb->no_cred = 1;
		return GIT_EUSER;
	}
	if (vcs__url_origin(url, origin, sizeof(origin)) < 0 ||
	    strcmp(origin, cb->origin) != 0) {
		cb->wrong_origin = 1;
		return GIT_EUSER;
	}
	if (++cb->attempts > 2) {
		cb->auth_failed = 1;
		return GIT_EUSER;
	}
	return git_credential_userpass_plaintext_new(
		out, cb->cred->username ? cb->cred->username : "",
		cb->cred->secret);
}

volatile sig_atomic_t vcs_cancel;

static int cb_transfer(const git_indexer_progress *st, void *payload)
{
	struct vcs_cb *cb = payload;
	int64_t now = al_mono_ms();

	if (vcs_cancel)
		return -1;
	if ((uint64_t)st->received_bytes > cb->limit) {
		cb->over_limit = 1;
		return -1;
	}
	if (now - cb->last_log_ms >= 5000 ||
	    st->received_objects == st->total_objects) {
		cb->last_log_ms = now;
		al_debug("vcs", NULL, "fetch objects=%u/%u bytes=%zu",
			 st->received_objects, st->total_objects,
			 st->received_bytes);
	}
	return 0;
}

/* Text a remote sends on its side band ("remote: ..."): hook output,
 * rejection reasons. Kept, bounded, to explain a failure. */
static int cb_sideband(const char *str, int len, void *payload)
{
	struct vcs_cb *cb = payload;
	size_t room;

	if (len <= 0 || cb->remote_msg.len >= VCS_REMOTE_MSG_MAX)
		return 0;
	room = VCS_REMOTE_MSG_MAX - cb->remote_msg.len;
	if ((size_t)len > room)
		len = (int)room;
	if (al_buf_append(&cb->remote_msg, str, (size_t)len) < 0)
		return 0;
	return 0;
}

static int cb_push_ref(const char *refname, const char *status, void *data)
{
	struct vcs_cb *cb = data;

	if (status && !cb->rejected[0])
		vcs__seterr(cb->rejected, sizeof(cb->rejected), "%s: %s",
			    refname, status);
	return 0;
}

void vcs__cb_wire(struct vcs_cb *cb, git_remote_callbacks *rc)
{
	rc->credentials = cb_credentials;
	rc->transfer_progress = cb_transfer;
	rc->sideband_progress = cb_sideband;
	rc->push_update_reference = cb_push_ref;
	rc->payload = cb;
}

/* The remote's own words, one line, safe for a terminal. */
const char *vcs__cb_remote_text(struct vcs_cb *cb)
{
	size_t i;

	if (!cb->remote_msg.p)
		return "";
	for (i = 0; i < cb->remote_msg.len; i++)
		if (cb->remote_msg.p[i] == '\n' || cb->remote_msg.p[i] == '\r')
			cb->remote_msg.p[i] = ' ';
	al_sanitize_text(cb->remote_msg.p);
	return cb->remote_msg.p;
}

/*
 * Whether libgit2's failure is the network's or the server's and may
 * pass: no connection (refused, timed out, unreachable), no name
 * resolution, a connection that broke, an HTTP 5xx or 429. libgit2 (1.5)
 * tells these apart only by its error class and message; a server's own
 * refusal (401, 403, 404, a remote error line) and whatever else stays
 * final. docs/scheduler.md, "Retries", has the table.
 */
static bool vcs__transient(const git_error *ge)
{
	static const char *const net[] = {
		"failed to connect to ", "failed to resolve address for ",
		"error receiving data from socket", "error sending data",
		"could not read from socket", "could not write to socket",
	};
	static const char http[] = "unexpected http status code: ";
	long code;

	if (!ge || !ge->message)
		return false;
	if (ge->klass == GIT_ERROR_OS || ge->klass == GIT_ERROR_NET)
		for (size_t i = 0; i < AL_ARRAY_LEN(net); i++)
			if (!strncmp(ge->message, net[i], strlen(net[i])))
				return true;
	if (ge->klass != GIT_ERROR_HTTP ||
	    strncmp(ge->message, http, sizeof(http) - 1))
		return false;
	code = strtol(ge->message + sizeof(http) - 1, NULL, 10);
	return code == 429 || (code >= 500 && code <= 599);
}

int vcs__fail(struct vcs_cb *cb, int rc, const char *what, const char *url,
	      char *err, size_t errsz)
{
	const git_error *ge = git_error_last();
	const char *gmsg = ge && ge->message ? ge->message : "unknown error";

	if (vcs_cancel) {
		vcs__seterr(err, errsz, "%s %s: cancelled", what, url);
		return AL_E_INTERRUPTED;
	}
	if (cb && cb->over_limit) {
		vcs__seterr(err, errsz, "%s %s: repository exceeds the "
			    "limit of %llu bytes", what, url,
			    (unsigned long long)cb->limit);
		return AL_E_LIMIT;
	}
	if (cb && cb->auth_failed) {
		vcs__seterr(err, errsz, "%s %s: authentication failed: the "
			    "server rejected the credentials of user '%s'",
			    what, url, cb->cred->username);
		return -EACCES;
	}
	if (cb && cb->no_cred) {
		vcs__seterr(err, errsz, "%s %s: authentication failed: the "
			    "server asks for credentials and none were given "
			    "(AIRLOCK_GIT_TOKEN)", what, url);
		return -EACCES;
	}
	if (cb && cb->wrong_origin) {
		vcs__seterr(err, errsz, "%s %s: authentication failed: "
			    "credentials were requested for another server "
			    "and withheld", what, url);
		return -EACCES;
	}
	vcs__seterr(err, errsz, "%s %s: %s (libgit2 error %d)", what, url,
		    gmsg, rc);
	return vcs__transient(ge) ? AL_E_UNAVAILABLE : AL_E_GIT;
}
