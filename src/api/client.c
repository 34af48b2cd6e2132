/*
 * client.c - the control API client (client.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/client.h"
#include "api/internal.h"
#include "base/err.h"

struct api_client {
	int fd;
	char *in;
	size_t inlen, incap;
	json_int_t next_id;
	char fingerprint[API_FP_MAX];
	json_t *events; /* an array used as a queue */
};

/* api_client_default_fingerprint's key; "" for none. */
static char client_default_fp[API_FP_MAX];

int api_socket_path(const char *home, char *out, size_t outsz)
{
	size_t lim = sizeof(((struct sockaddr_un *)0)->sun_path);
	int n = snprintf(out, outsz, "%s/%s", home, API_SOCKET_NAME);

	if (n < 0 || (size_t)n >= outsz || (size_t)n >= lim)
		return -ENAMETOOLONG;
	return 0;
}

int api_client_connect(const char *path, struct api_client **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct api_client *c;
	int rc = 0;

	*out = NULL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->events = json_array();
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!c->events || c->fd < 0) {
		rc = c->fd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		rc = -errno;
	al_strlcpy(c->fingerprint, client_default_fp, sizeof(c->fingerprint));
out:
	if (rc)
		api_client_close(c);
	else
		*out = c;
	return rc;
}

void api_client_close(struct api_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	json_decref(c->events);
	free(c->in);
	free(c);
}

int api_client_fd(const struct api_client *c)
{
	return c->fd;
}

int api_client_set_fingerprint(struct api_client *c, const char *fp)
{
	if (!api_fp_ok(fp))
		return AL_E_USAGE;
	al_strlcpy(c->fingerprint, fp, sizeof(c->fingerprint));
	return 0;
}

int api_client_default_fingerprint(const char *fp)
{
	if (!api_fp_ok(fp))
		return AL_E_USAGE;
	al_strlcpy(client_default_fp, fp, sizeof(client_default_fp));
	return 0;
}

static int client_send(struct api_client *c, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The next line of the stream, parsed; waits up to timeout_ms. */
static int client_line(struct api_client *c, int timeout_ms, json_t **out)
{
	int64_t until = timeout_ms < 0 ? -1 : al_mono_ms() + timeout_ms;

	for (;;) {
		char *nl = c->inlen ? memchr(c->in, '\n', c->inlen) : NULL;
		struct pollfd pfd = { c->fd, POLLIN, 0 };
		ssize_t n;
		int wait;

		if (nl) {
			size_t len = (size_t)(nl - c->in);

			*out = json_loadb(c->in, len, 0, NULL);
			memmove(c->in, nl + 1, c->inlen - len - 1);
			c->inlen -= len + 1;
			return *out ? 0 : AL_E_PARSE;
		}
		if (c->inlen >= API_CLIENT_LINE_MAX)
			return AL_E_LIMIT;
		if (c->incap - c->inlen < 4096) {
			size_t cap = c->incap ? c->incap * 2 : 8192;
			char *p = realloc(c->in, cap);

			if (!p)
				return -ENOMEM;
			c->in = p;
			c->incap = cap;
		}
		wait = until < 0 ? -1 : (int)(until - al_mono_ms());
		if (until >= 0 && wait <= 0)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, wait);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		n = recv(c->fd, c->in + c->inlen, c->incap - c->inlen, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		c->inlen += (size_t)n;
	}
}

static int client_error(const json_t *line, struct api_err *err)
{
	json_t *e = json_object_get(line, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));

	err->code = API_E_INTERNAL;
	for (int i = 0; code && i < API__CODES; i++)
		if (strcmp(code, api_code_name((enum api_code)i)) == 0)
			err->code = (enum api_code)i;
	al_strlcpy(err->message, msg ? msg : "", sizeof(err->message));
	return -EREMOTEIO;
}

static int client_request(struct api_client *c, const char *method,
			  json_t *params, json_int_t id)
{
	json_t *req = json_pack("{s:I, s:s, s:o}", "id", id, "method", method,
				"params", params ? params : json_object());
	char *s = NULL;
	int rc = -ENOMEM;

	if (!req)
		goto out;
	if (c->fingerprint[0] &&
	    json_object_set_new(req, "ssh_key_fingerprint",
				json_string(c->fingerprint)))
		goto out;
	s = json_dumps(req, JSON_COMPACT);
	if (!s)
		goto out;
	rc = client_send(c, s, strlen(s));
	if (rc == 0)
		rc = client_send(c, "\n", 1);
out:
	free(s);
	json_decref(req);
	return rc;
}

int api_client_call(struct api_client *c, const char *method,
		    json_t *params, int timeout_ms, json_t **result,
		    struct api_err *err)
{
	json_int_t id = ++c->next_id;
	json_t *line = NULL;
	int rc;

	*result = NULL;
	err->code = API_OK;
	err->message[0] = '\0';
	rc = client_request(c, method, params, id);
	while (rc == 0) {
		json_t *rid;

		rc = client_line(c, timeout_ms, &line);
		if (rc)
			break;
		if (json_object_get(line, "event")) {
			rc = json_array_append_new(c->events, line) ? -ENOMEM
								   : 0;
			line = NULL;
			continue;
		}
		rid = json_object_get(line, "id");
		if (json_object_get(line, "error") &&
		    (json_is_null(rid) || json_integer_value(rid) == id)) {
			rc = client_error(line, err);
		} else if (json_integer_value(rid) != id ||
			   !json_object_get(line, "result")) {
			rc = AL_E_PARSE;
		} else {
			*result = json_incref(json_object_get(line, "result"));
		}
		break;
	}
	json_decref(line);
	return rc;
}

int api_client_subscribe(struct api_client *c, const char *const *topics,
			 size_t n, int timeout_ms, struct api_err *err)
{
	json_t *arr = json_array(), *res = NULL;
	int rc;

	for (size_t i = 0; arr && i < n; i++)
		if (json_array_append_new(arr, json_string(topics[i]))) {
			json_decref(arr);
			arr = NULL;
		}
	if (!arr)
		return -ENOMEM;
	rc = api_client_call(c, "events.subscribe",
			     json_pack("{s:o}", "topics", arr), timeout_ms,
			     &res, err);
	json_decref(res);
	return rc;
}

int api_client_next(struct api_client *c, int timeout_ms, json_t **event,
		    struct api_err *err)
{
	json_t *line = NULL;
	int rc;

	*event = NULL;
	if (json_array_size(c->events)) {
		*event = json_incref(json_array_get(c->events, 0));
		json_array_remove(c->events, 0);
		return 0;
	}
	rc = client_line(c, timeout_ms, &line);
	if (rc)
		return rc;
	if (json_object_get(line, "event")) {
		*event = line;
		return 0;
	}
	rc = json_object_get(line, "error") ? client_error(line, err)
					    : AL_E_PARSE;
	json_decref(line);
	return rc;
}
