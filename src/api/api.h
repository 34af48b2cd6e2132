/*
 * api.h - the control API server: newline-delimited JSON over a Unix
 * socket under the home (docs/api.md is the protocol, schema/api-*.json
 * its shapes).
 *
 * The server knows no job or audit logic. It accepts connections,
 * identifies each caller (SO_PEERCRED, plus an SSH key fingerprint that
 * only trusted uids may assert), frames and parses requests under
 * limits, dispatches them to a method table the daemon registers, has
 * every call audited through a hook before its reply leaves, and streams
 * published events to subscribers.
 *
 * One thread runs everything (api_server_run): an epoll loop over
 * non-blocking sockets. Handlers are short (a store read or a queue
 * insert, under LMDB's single writer anyway), so a pool would add locks
 * to every connection's state without adding throughput; what a pool
 * would buy -- overlapping the audit fsync -- the loop gets by auditing
 * every request it handled in one round as one batch (one durable commit)
 * before it releases their replies. Only api_server_publish and
 * api_server_stop may be called from other threads.
 *
 * Hostile clients are contained per connection: a bounded line buffer
 * (line_too_long, then close), a deadline for finishing a started line
 * (slowloris), an idle timeout, a bounded output queue (a subscriber
 * that falls behind is dropped with an "overflow" error line; a client
 * that does not read its replies stops being read), a connection limit
 * answered with "busy", and MSG_NOSIGNAL so a vanished peer is an error
 * code rather than a signal.
 */
#ifndef AL_API_API_H
#define AL_API_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

/* X(name, wire code, text): the error codes of replies and events. */
#define API_ERR_TABLE(X)                                                   \
	X(API_OK, "ok", "success")                                             \
	X(API_E_PARSE, "parse_error", "the line is not valid JSON")            \
	X(API_E_INVALID, "invalid_request", "not a valid request object")      \
	X(API_E_TOO_LONG, "line_too_long", "the line exceeds the line limit")  \
	X(API_E_TOO_DEEP, "too_deep", "the request nests too deeply")          \
	X(API_E_METHOD, "unknown_method", "no such method")                    \
	X(API_E_PARAMS, "invalid_params", "the parameters are not valid")      \
	X(API_E_FORBIDDEN, "forbidden", "the caller may not do this")          \
	X(API_E_NOTFOUND, "not_found", "no such object")                       \
	X(API_E_CONFLICT, "conflict", "the object is not in a fitting state")  \
	X(API_E_BUSY, "busy", "too many connections")                          \
	X(API_E_TIMEOUT, "timeout", "the connection was too slow or idle")     \
	X(API_E_OVERFLOW, "overflow", "the reader fell behind its events")     \
	X(API_E_AUDIT, "audit_failed", "the call could not be audited")        \
	X(API_E_SHUTDOWN, "shutting_down", "the daemon is stopping")           \
	X(API_E_INTERNAL, "internal", "internal error")

enum api_code {
#define API_X_ENUM(name, code, text) name,
	API_ERR_TABLE(API_X_ENUM)
#undef API_X_ENUM
	API__CODES
};

/* The wire name ("parse_error") and the default text of code. */
const char *api_code_name(enum api_code code);
const char *api_code_text(enum api_code code);

/* Protocol limits (docs/api.md, "Limits"). */
#define API_LINE_MAX_DEFAULT (64 * 1024)
#define API_DEPTH_MAX 32          /* nesting of a request */
#define API_METHOD_MAX 64         /* method name bytes */
#define API_ID_MAX 128            /* bytes of a string id */
#define API_FP_MAX 96             /* bytes of an SSH key fingerprint */
#define API_ACTOR_MAX 128
#define API_TOPIC_MAX 32
#define API_TOPICS_MAX 8          /* per subscription */
#define API_NAMED_MAX 32          /* topics api_server_subscribers counts */
#define API_MSG_MAX 256           /* bytes of an error message */

/* Who is calling: the kernel's word, plus an asserted SSH key. */
struct api_caller {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char fingerprint[API_FP_MAX]; /* "" unless asserted and allowed */
};

/*
 * The audit actor of a caller into out: the SSH key fingerprint when
 * one was accepted ("SHA256:..."), else "uid:N".
 */
void api_caller_actor(const struct api_caller *c, char *out, size_t outsz);

struct api_err {
	enum api_code code;
	char message[API_MSG_MAX];
};

/* Set err's code and printf-formatted message; returns NULL for handlers. */
json_t *api_fail(struct api_err *err, enum api_code code, const char *fmt,
		 ...) __attribute__((format(printf, 3, 4)));

struct api_server;

/* One call as a handler sees it. */
struct api_call {
	struct api_server *server;
	const struct api_caller *caller;
	const char *method;
	const char *actor; /* api_caller_actor, for the handler's own entries */
};

/*
 * A method handler. params is the request's "params" (an object; {} when
 * absent), borrowed. Returns a new reference to the result (any JSON
 * value), or NULL with err set (a NULL without a code is "internal").
 * Runs on the server's thread: it must not block for long, and a state
 * change it makes should carry its own audit entry in the same store
 * transaction (the per-call entry is written after the handler returns).
 */
typedef json_t *(*api_handler)(void *ctx, const struct api_call *call,
			       json_t *params, struct api_err *err);

struct api_method {
	const char *name; /* [a-z][a-z0-9_.]*, at most API_METHOD_MAX */
	api_handler fn;
};

/*
 * The audit hook gets every call the server handled in one loop round;
 * it must write all entries durably (or none) before returning 0. A
 * failure withholds every reply of the batch: each becomes an
 * "audit_failed" error, and a subscription in the batch does not start.
 */
struct api_audit_rec {
	const struct api_caller *caller;
	const char *actor;
	const char *method;   /* "(invalid)" when the request had none */
	const char *result;   /* "ok" or the error's wire code */
	const json_t *id;     /* the request id, or NULL */
};
typedef int (*api_audit_fn)(void *ctx, const struct api_audit_rec *recs,
			    size_t n);

/*
 * Adapter to the audit log (src/audit): ctx is a struct audit_log *.
 * Each record becomes one entry, action "api.call", object the method,
 * details {result, uid, gid, pid[, id][, ssh_key_fingerprint]}, all in
 * one group commit.
 */
int api_audit_to_log(void *ctx, const struct api_audit_rec *recs, size_t n);

struct api_server_opts {
	const char *path;      /* socket path, fits sockaddr_un */
	gid_t gid;             /* socket group; (gid_t)-1 keeps ours */
	const struct api_method *methods;
	size_t nmethods;
	void *ctx;             /* handed to every handler */
	api_audit_fn audit;    /* NULL: calls are not audited (tests only) */
	void *audit_ctx;
	/* uids whose connections may assert ssh_key_fingerprint */
	const uid_t *fp_uids;
	size_t nfp_uids;
	/* limits; 0 means the default in brackets */
	unsigned max_conns;    /* [256] open connections */
	/* [max_conns / 4] open connections of one caller uid other than
	 * root, and [max_conns / 16] kept for root alone: one member of
	 * the socket's group cannot take every slot, nor lock out root
	 * (the console on the appliance's screen, the admin's sudo). */
	unsigned max_conns_uid;
	unsigned root_reserve;
	size_t line_max;       /* [64 KiB] bytes of one request line */
	size_t outq_max;       /* [1 MiB] queued output per connection */
	int line_ms;           /* [10 s] to finish a started line */
	int idle_ms;           /* [300 s] without a request, unsubscribed */
	int write_ms;          /* [30 s] queued output without progress */
	/* NULL, or called (with ctx, on the server's thread) after a
	 * subscription starts or changes its topics: a publisher that
	 * samples only while someone listens can look again. */
	void (*subscribed)(void *ctx);
};

/*
 * Check the socket path, take HOME-side lock "PATH.lock", remove a stale
 * socket (one nobody answers on), refuse if a live server answers,
 * create the socket mode 0660 with group opts->gid, and listen. The
 * method table is copied; "ping" and "events.subscribe" are built in and
 * cannot be registered. Returns 0 or:
 *   -ENAMETOOLONG  path does not fit a Unix socket address
 *   AL_E_EXISTS    another server holds the lock or answers on path
 *   AL_E_UNSAFE    path exists and is not a socket, or its directory is
 *                  writable by others (a socket there could be swapped)
 *   AL_E_USAGE     bad options or method table
 *   a negative errno from the socket calls
 */
int api_server_new(const struct api_server_opts *opts,
		   struct api_server **out);

/* Serve until api_server_stop. 0, or a negative errno from epoll. */
int api_server_run(struct api_server *srv);

/* From any thread (async-signal-safe): make api_server_run return. */
void api_server_stop(struct api_server *srv);

/*
 * From any thread: queue an event for subscribers of topic. data is
 * stolen (NULL means {}). The queue between threads is bounded; when it
 * is full the event is dropped, -EAGAIN returned, and subscribers later
 * get a "lost" event with the count, so they know to re-read state.
 */
int api_server_publish(struct api_server *srv, const char *topic,
		       const char *event, json_t *data);

/*
 * From any thread: how many connections subscribe naming topic (a
 * subscription to every topic, without names, is not counted), so that
 * a publisher can sample what costs something only while it is wanted.
 */
unsigned api_server_subscribers(struct api_server *srv, const char *topic);

/* Counters, read on the server's thread (a "status" handler). */
struct api_stats {
	unsigned conns;
	unsigned subscribers;
	uint64_t accepted;
	uint64_t refused;   /* "busy" */
	uint64_t dropped;   /* closed for a limit, timeout or overflow */
	uint64_t requests;
	uint64_t events;    /* published */
	uint64_t lost;      /* events dropped at the cross-thread queue */
};
void api_server_stats(const struct api_server *srv, struct api_stats *st);

/* Close every connection, remove the socket and its lock. NULL ignored. */
void api_server_free(struct api_server *srv);

#endif
