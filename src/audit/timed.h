/*
 * timed.h - the audit export on a timer, and its push to an auditor.
 *
 * A timer (appliance/systemd/airlock-audit-export.timer) runs
 * `airlock audit export --scheduled` every few minutes. Each run
 * exports only when the last export into HOME/export is at least
 * export_interval old, and then pushes every export not yet pushed to
 * export_push over SFTP. Both facts live in HOME/export-state.json,
 * not in systemd's timer state, so they survive on an appliance whose
 * root file system is read-only and whose units cannot be edited:
 *
 *   {"v":1,"last_export":{"n":N,"time":"2026-12-05T03:00:00.000Z"},
 *    "push":{"to":"sftp://user@host:22/path","through":M}}
 *
 * "through" is the highest export number the destination "to" holds;
 * a failed push leaves it, so the next run pushes the same files
 * again. An export newer than "n" (made by hand or through the daemon)
 * is the last export, at the time its digest names. A state file that
 * is missing, malformed, or whose time lies
 * in the future means "export now": editing it can only make the next
 * export come sooner, never hold exports back. docs/audit.md is the
 * operator's page.
 *
 * airlock.conf keys (any other key is left to the job's loader):
 *   export_interval = 1h | 30m | 2d | 3600s | 0 | off
 *                     300 s to 7 days; 0 or off: no timed exports
 *   export_push = sftp://USER@HOST[:PORT]/PATH
 *   export_push_key = PATH          (default HOME/export-push/key)
 *   export_push_known_hosts = PATH  (required with export_push)
 */
#ifndef AL_AUDIT_TIMED_H
#define AL_AUDIT_TIMED_H

#include <stdbool.h>
#include <stdint.h>

#include "audit/audit.h"
#include "audit/export.h"

#define AUDIT_EXPORT_INTERVAL_DEFAULT_S 3600
/* The timer's period: a shorter interval could not be honoured. */
#define AUDIT_EXPORT_INTERVAL_MIN_S 300
#define AUDIT_EXPORT_INTERVAL_MAX_S (7 * 86400)
#define AUDIT_EXPORT_STATE "export-state.json"
#define AUDIT_PUSH_KEY_DEFAULT "export-push/key"
/* A push that takes longer is killed and counts as failed. */
#define AUDIT_PUSH_TIMEOUT_S 300
/* Exports per sftp session (and per audit.push entry). */
#define AUDIT_PUSH_BATCH 100

struct audit_timed_cfg {
	int64_t interval_ms;   /* 0: timed exports off */
	char push[600];        /* the URL as written; "" when none */
	char user[33];
	char host[256];        /* as sftp takes it: name, IPv4 or [IPv6] */
	unsigned port;
	char path[256];        /* absolute, checked characters only */
	char key[1024];        /* absolute; "" until audit_timed_finish */
	char known_hosts[1024];
	unsigned push_line;    /* the line of export_push, for messages */
};

void audit_timed_init(struct audit_timed_cfg *c);

/*
 * One export_* key of airlock.conf. Returns 0, AL_E_NOTFOUND for a key
 * that is not one of these, or -EINVAL/-ERANGE with the reason in why.
 * export_push is parsed strictly: sftp://, a user of [a-z_][a-z0-9_.-]*,
 * a host name, IPv4 or bracketed IPv6 address (nothing starting with
 * '-'), a port of 1 to 65535, and an absolute path of letters, digits
 * and "._-/" without "..": nothing that sftp or ssh could read as an
 * option or a command.
 */
int audit_timed_set(struct audit_timed_cfg *c, const char *key,
		    const char *value, unsigned line, char *why,
		    size_t whysz);

/*
 * After the last key: the default key path under home, and the checks
 * across keys (export_push needs export_push_known_hosts). AL_E_PARSE
 * with a message naming the line of export_push.
 */
int audit_timed_finish(struct audit_timed_cfg *c, const char *home,
		       const char *path, char *err, size_t errsz);

/* Only the export_* keys of HOME/airlock.conf, then audit_timed_finish. */
int audit_timed_load(const char *home, struct audit_timed_cfg *c, char *err,
		     size_t errsz);

/* "sftp://user@host:port/path" with the port always written. */
void audit_timed_dest(const struct audit_timed_cfg *c, char *out,
		      size_t outsz);

struct audit_timed_result {
	bool due;              /* an export was due */
	bool exported;
	struct audit_export_info info;
	int64_t next_ms;       /* when the next export is due; 0: off */
	uint64_t pushed;       /* exports pushed in this run */
	uint64_t push_pending; /* exports left unpushed (a push failed) */
	char push_error[256];  /* why the push failed, "" if it did not */
};

/*
 * One run of the timer, with the log's policy pol and the actor for
 * the entries: export if due, then push what is not pushed yet. Opens
 * the store only when there is something to do. Serialised with other
 * runs by a lock on HOME/export-state.lock. Every push is preceded by
 * an audit.push.start entry (no entry, no push) and followed by an
 * audit.push entry with its result, and logged. Returns 0 when the
 * export (if due) was written; a failed push is not an error here but
 * is in res (push_error, push_pending): the next run retries it.
 */
int audit_timed_run(const char *home, const struct audit_policy *pol,
		    const struct audit_timed_cfg *c, const char *actor,
		    struct audit_timed_result *res);

/*
 * Push exports from..to of dir (their .jsonl and .digest.json, in that
 * order each) with OpenSSH's sftp: a child with a fixed argv and
 * environment, no shell, batch mode, only the configured key, no
 * agent, no forwarding, no connection sharing, host keys only from
 * export_push_known_hosts, killed after AUDIT_PUSH_TIMEOUT_S. Every
 * file goes up under a temporary name and is renamed into place. The
 * key must be a regular file of this user with mode 0600, and the
 * known hosts file one of this user writable by nobody else
 * (AL_E_UNSAFE otherwise). 0, or an error with the reason in why.
 */
int audit_push(const struct audit_timed_cfg *c, const char *dir,
	       uint64_t from, uint64_t to, char *why, size_t whysz);

#endif
