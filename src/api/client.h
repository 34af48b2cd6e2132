/*
 * client.h - the control API's client side, for the command line and
 * the console: one connection, calls answered in order, and a stream of
 * events after a subscription. Not thread-safe: one thread per client.
 *
 * Every call returns 0 with a result, -EREMOTEIO when the server answered
 * with an error (err holds its code and message; a connection-level
 * error such as "busy", "timeout" or "overflow" also closes the
 * connection), or a transport error: -ETIMEDOUT, -ECONNRESET or -EPIPE
 * (the server went away), AL_E_PARSE (a reply that is not a reply),
 * AL_E_LIMIT (a reply line over API_CLIENT_LINE_MAX).
 */
#ifndef AL_API_CLIENT_H
#define AL_API_CLIENT_H

#include <stddef.h>

#include <jansson.h>

#include "api/api.h"

#define API_CLIENT_LINE_MAX (16 * 1024 * 1024)
#define API_SOCKET_NAME "airlockd.sock" /* under HOME */

struct api_client;

/*
 * The socket path of home into out: -ENAMETOOLONG when it would not fit
 * a Unix socket address (the server refuses such a home too).
 */
int api_socket_path(const char *home, char *out, size_t outsz);

/* Connect to the server at path. 0, or a negative errno. */
int api_client_connect(const char *path, struct api_client **out);
void api_client_close(struct api_client *c);
/* For poll(2) in an event loop (the console); readable means call
 * api_client_next. */
int api_client_fd(const struct api_client *c);

/*
 * Name the SSH key the admin shell authenticated ("SHA256:..."), sent
 * with every later call. The server accepts it only from the uids it
 * trusts to say so (docs/api.md, "Callers"). AL_E_USAGE if malformed.
 */
int api_client_set_fingerprint(struct api_client *c, const char *fp);

/*
 * The same for every client this process connects from now on: the
 * admin shell sets it once, before it runs a command, so that each
 * connection the command makes (the console's reconnections too) names
 * the key. Not thread-safe: call before any other thread connects.
 */
int api_client_default_fingerprint(const char *fp);

/*
 * Call method with params (stolen; NULL means {}) and wait up to
 * timeout_ms for the reply. On 0, *result is a new reference. Events
 * that arrive meanwhile are kept for api_client_next.
 */
int api_client_call(struct api_client *c, const char *method,
		    json_t *params, int timeout_ms, json_t **result,
		    struct api_err *err);

/* Subscribe to topics (n == 0: every topic); events follow. */
int api_client_subscribe(struct api_client *c, const char *const *topics,
			 size_t n, int timeout_ms, struct api_err *err);

/*
 * The next event object ({"event","topic","seq","time","data"}), waiting
 * up to timeout_ms (-1 forever). -ETIMEDOUT when none came.
 */
int api_client_next(struct api_client *c, int timeout_ms, json_t **event,
		    struct api_err *err);

#endif
