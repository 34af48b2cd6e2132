/*
 * admin.c - what the SSH admin shell (docs/admin-shell.md) asks of the
 * daemon besides the job and key methods: recording its sessions, the
 * audit signing key's public half, and the configuration. The shell
 * runs as the admin account, which can read nothing under the home, so
 * everything it shows comes through here, and every session is written
 * by the daemon, under the key's fingerprint, before the shell acts.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "audit/checkpoint.h"
#include "base/err.h"
#include "base/log.h"
#include "base/util.h"
#include "daemon/daemon.h"

#define ADM_COMMAND_MAX 2048
#define ADM_ARGV_MAX 32
#define ADM_ARG_MAX 1024
#define ADM_REASON_MAX 256
#define ADM_CLIENT_MAX 128

/* A string member of at most max bytes; absent is fine unless need. */
static bool adm_str(json_t *params, const char *name, size_t max, bool need,
		    const char **out, struct api_err *err)
{
	json_t *v = json_object_get(params, name);

	*out = NULL;
	if ((!v || json_is_null(v)) && !need)
		return true;
	if (!json_is_string(v) || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		api_fail(err, API_E_PARAMS, "'%s' must be a string of at most "
			 "%zu bytes", name, max);
		return false;
	}
	*out = json_string_value(v);
	return true;
}

/* argv: an array of 1 to ADM_ARGV_MAX strings, or absent. */
static bool adm_argv(json_t *params, json_t **out, struct api_err *err)
{
	json_t *a = json_object_get(params, "argv"), *s;
	size_t i;

	*out = NULL;
	if (!a || json_is_null(a))
		return true;
	if (!json_is_array(a) || json_array_size(a) == 0 ||
	    json_array_size(a) > ADM_ARGV_MAX)
		goto bad;
	json_array_foreach(a, i, s)
		if (!json_is_string(s) || json_string_length(s) == 0 ||
		    json_string_length(s) > ADM_ARG_MAX)
			goto bad;
	*out = a;
	return true;
bad:
	api_fail(err, API_E_PARAMS, "'argv' must be 1 to %d strings of 1 to "
		 "%d bytes", ADM_ARGV_MAX, ADM_ARG_MAX);
	return false;
}

/* SSH_CONNECTION's first two fields: an address and a port. */
static bool adm_client_ok(const char *s)
{
	return s && *s &&
	       strspn(s, "0123456789abcdefABCDEF.:% ") == strlen(s);
}

/*
 * admin.session: the admin shell reports a login and what it will do
 * with it (a command it allows, or why it refuses). Only an SSH key the
 * server accepted from the admin account (the caller's fingerprint) can
 * report one: from anyone else a session would be a forged login.
 */
json_t *dmn_m_admin_session(void *ctx, const struct api_call *call,
			    json_t *params, struct api_err *err)
{
	static const char *const names[] = {"command", "argv", "tty",
					    "client", "key_type", "verdict",
					    "reason", NULL};
	struct daemon *d = ctx;
	const char *command, *client, *key_type, *verdict, *reason;
	json_t *argv, *tty = json_object_get(params, "tty");
	struct audit_rec recs[2];
	char what[40] = "";
	uint64_t seq = 0;
	bool ok;
	int rc;

	if (!call->caller->fingerprint[0])
		return api_fail(err, API_E_FORBIDDEN, "only the admin shell "
				"reports sessions (the admin account naming "
				"the session's SSH key)");
	if (!dmn_params_known(params, names, err) ||
	    !adm_str(params, "command", ADM_COMMAND_MAX, false, &command,
		     err) ||
	    !adm_argv(params, &argv, err) ||
	    !adm_str(params, "client", ADM_CLIENT_MAX, true, &client, err) ||
	    !adm_str(params, "key_type", 64, true, &key_type, err) ||
	    !adm_str(params, "verdict", 16, true, &verdict, err) ||
	    !adm_str(params, "reason", ADM_REASON_MAX, false, &reason, err))
		return NULL;
	ok = !strcmp(verdict, "allowed");
	if (!json_is_boolean(tty) || !adm_client_ok(client) ||
	    (!ok && strcmp(verdict, "refused")) || (ok && !argv) ||
	    (!ok && !reason))
		return api_fail(err, API_E_PARAMS, "a session needs 'tty' "
				"(boolean), 'client' (address and port), "
				"'verdict' allowed (with 'argv') or refused "
				"(with 'reason')");

	recs[0] = (struct audit_rec){call->actor, "admin.login", "ssh",
				     json_pack("{s:s,s:O,s:s}", "client",
					       client, "tty", tty, "key_type",
					       key_type)};
	if (ok)
		recs[1] = (struct audit_rec){
			call->actor, "admin.command",
			json_string_value(json_array_get(argv, 0)),
			json_pack("{s:O,s:O}", "argv", argv, "tty", tty)};
	else
		recs[1] = (struct audit_rec){
			call->actor, "admin.refuse", "admin-shell",
			json_pack("{s:s?,s:s,s:O}", "command", command,
				  "reason", reason, "tty", tty)};
	rc = audit_append_batch(d->log, recs, 2, &seq);
	if (rc)
		return api_fail(err, API_E_AUDIT, "the session could not be "
				"audited: %s", al_strerror(rc));
	dmn_poke(d);

	if (ok)
		al_strlcpy(what, json_string_value(json_array_get(argv, 0)),
			   sizeof(what));
	al_utf8_repair(what, strlen(what));
	al_sanitize_text(what);
	al_info("admin", NULL, "admin session key=%s client=%s tty=%s "
		"verdict=%s command=%s", call->caller->fingerprint, client,
		json_is_true(tty) ? "yes" : "no", verdict, ok ? what : "-");
	return json_pack("{s:I}", "session", (json_int_t)seq);
}

/* audit.pubkey: what `airlock audit pubkey` prints, for the shell. */
json_t *dmn_m_audit_pubkey(void *ctx, const struct api_call *call,
			   json_t *params, struct api_err *err)
{
	struct daemon *d = ctx;
	struct audit_signer *s = NULL;
	struct audit_pubkey *k = NULL;
	struct al_buf pem = {0};
	json_t *out = NULL;
	int rc;

	(void)call;
	if (!dmn_params_known(params, (const char *const[]){NULL}, err))
		return NULL;
	rc = audit_signer_load(d->home, false, &s);
	if (rc == 0)
		rc = audit_signer_pubkey(s, &k);
	if (rc == 0)
		rc = audit_pubkey_pem(k, &pem);
	if (rc == 0)
		out = json_pack("{s:s%,s:s}", "pem", pem.p, pem.len, "key_id",
				audit_pubkey_key_id(k));
	else
		api_fail(err, rc == AL_E_NOTFOUND ? API_E_NOTFOUND
						  : API_E_INTERNAL,
			 "the audit signing key: %s", al_strerror(rc));
	audit_signer_free(s);
	audit_pubkey_free(k);
	al_buf_free(&pem);
	return out;
}

/*
 * config.show: the settings the daemon runs with (a file edited since
 * the last start or reload is not in force yet; config.check reads it).
 */
json_t *dmn_m_config_show(void *ctx, const struct api_call *call,
			  json_t *params, struct api_err *err)
{
	struct daemon *d = ctx;
	json_t *set;

	(void)call;
	if (!dmn_params_known(params, (const char *const[]){NULL}, err))
		return NULL;
	pthread_rwlock_rdlock(&d->sched_lock);
	set = job_config_json(&d->cfg);
	pthread_rwlock_unlock(&d->sched_lock);
	if (!set)
		return api_fail(err, API_E_INTERNAL, "out of memory");
	return json_pack("{s:s,s:o}", "home", d->home, "settings", set);
}

/* config.check: would HOME/airlock.conf load now (as a reload would)? */
json_t *dmn_m_config_check(void *ctx, const struct api_call *call,
			   json_t *params, struct api_err *err)
{
	struct daemon *d = ctx;
	struct job_config c;
	char why[1024] = "";
	int rc;

	(void)call;
	if (!dmn_params_known(params, (const char *const[]){NULL}, err))
		return NULL;
	rc = job_config_load(d->home, &c, why, sizeof(why));
	job_config_free(&c);
	al_utf8_repair(why, strlen(why));
	return json_pack("{s:b,s:s?}", "ok", rc == 0, "error",
			 rc ? why : NULL);
}
