/*
 * proto.c - framing-independent protocol pieces: the request checks and
 * the reply lines. docs/api.md is the contract these implement.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"

static const char *const api_names[] = {
#define API_X_NAME(name, code, text) code,
	API_ERR_TABLE(API_X_NAME)
#undef API_X_NAME
};

static const char *const api_texts[] = {
#define API_X_TEXT(name, code, text) text,
	API_ERR_TABLE(API_X_TEXT)
#undef API_X_TEXT
};

const char *api_code_name(enum api_code code)
{
	if ((unsigned)code >= API__CODES)
		code = API_E_INTERNAL;
	return api_names[code];
}

const char *api_code_text(enum api_code code)
{
	if ((unsigned)code >= API__CODES)
		code = API_E_INTERNAL;
	return api_texts[code];
}

json_t *api_fail(struct api_err *err, enum api_code code, const char *fmt,
		 ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return NULL;
}

void api_caller_actor(const struct api_caller *c, char *out, size_t outsz)
{
	if (c->fingerprint[0])
		snprintf(out, outsz, "%s", c->fingerprint);
	else
		snprintf(out, outsz, "uid:%u", (unsigned)c->uid);
}

/*
 * jansson's parser recurses once per level and stops at 2048; the limit
 * here is far lower so that no request can make the daemon build (and
 * later walk) deep trees, and it is checked before any allocation.
 */
bool api_depth_ok(const char *p, size_t len, int max)
{
	bool in_str = false;
	int depth = 0;

	for (size_t i = 0; i < len; i++) {
		char ch = p[i];

		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = false;
			continue;
		}
		if (ch == '"')
			in_str = true;
		else if (ch == '[' || ch == '{') {
			if (++depth > max)
				return false;
		} else if (ch == ']' || ch == '}')
			depth--;
	}
	return true;
}

bool api_name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '_' || ch == '.'))
			return false;
	}
	return true;
}

/* OpenSSH prints SHA256 fingerprints as unpadded base64 (43 chars). */
bool api_fp_ok(const char *s)
{
	const char *b = s + 7;
	size_t n;

	if (strncmp(s, "SHA256:", 7) != 0)
		return false;
	n = strlen(b);
	if (n != 43)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = b[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '+' || ch == '/'))
			return false;
	}
	return true;
}

static bool api_id_ok(const json_t *id)
{
	if (json_is_integer(id))
		return true;
	return json_is_string(id) && json_string_length(id) <= API_ID_MAX;
}

static const char *const api_members[] = {
	"id", "method", "params", "ssh_key_fingerprint",
};

static enum api_code api_req_members(struct api_req *req,
				     struct api_err *err)
{
	const char *key;
	json_t *v;

	json_object_foreach(req->doc, key, v) {
		bool known = false;

		for (size_t i = 0; i < AL_ARRAY_LEN(api_members); i++)
			known |= strcmp(key, api_members[i]) == 0;
		if (!known) {
			api_fail(err, API_E_INVALID, "unknown member in request");
			return API_E_INVALID;
		}
	}
	return API_OK;
}

enum api_code api_req_parse(const char *line, size_t len,
			    struct api_req *req, struct api_err *err)
{
	json_error_t jerr;
	json_t *id, *m, *fp;

	memset(req, 0, sizeof(*req));
	if (!api_depth_ok(line, len, API_DEPTH_MAX)) {
		api_fail(err, API_E_TOO_DEEP, "nesting deeper than %d",
			 API_DEPTH_MAX);
		return API_E_TOO_DEEP;
	}
	req->doc = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
			      &jerr);
	if (!req->doc) {
		api_fail(err, API_E_PARSE, "invalid JSON at column %d: %s",
			 jerr.column, jerr.text);
		return API_E_PARSE;
	}
	if (!json_is_object(req->doc)) {
		api_fail(err, API_E_INVALID, "a request is a JSON object");
		return API_E_INVALID;
	}

	id = json_object_get(req->doc, "id");
	if (id && !json_is_null(id)) {
		if (!api_id_ok(id)) {
			api_fail(err, API_E_INVALID, "id must be an integer or "
				 "a string of at most %d bytes", API_ID_MAX);
			return API_E_INVALID;
		}
		req->id = id;
	}
	m = json_object_get(req->doc, "method");
	if (!json_is_string(m) || !api_name_ok(json_string_value(m),
						 API_METHOD_MAX)) {
		api_fail(err, API_E_INVALID, "method must be a name like "
			 "\"job.list\"");
		return API_E_INVALID;
	}
	req->method = json_string_value(m);
	if (api_req_members(req, err) != API_OK)
		return API_E_INVALID;

	req->params = json_object_get(req->doc, "params");
	if (!req->params) {
		req->params = json_object();
		if (!req->params ||
		    json_object_set_new(req->doc, "params", req->params)) {
			api_fail(err, API_E_INTERNAL, "out of memory");
			return API_E_INTERNAL;
		}
	} else if (!json_is_object(req->params)) {
		api_fail(err, API_E_PARAMS, "params must be an object");
		return API_E_PARAMS;
	}
	fp = json_object_get(req->doc, "ssh_key_fingerprint");
	if (fp) {
		if (!json_is_string(fp) || !api_fp_ok(json_string_value(fp))) {
			api_fail(err, API_E_INVALID, "ssh_key_fingerprint must "
				 "be \"SHA256:\" and 43 base64 characters");
			return API_E_INVALID;
		}
		req->fingerprint = json_string_value(fp);
	}
	return API_OK;
}

void api_req_free(struct api_req *req)
{
	json_decref(req->doc);
	memset(req, 0, sizeof(*req));
}

static int api_line(struct al_buf *out, json_t *obj)
{
	char *s;
	int rc;

	if (!obj)
		return -ENOMEM;
	s = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!s)
		return -ENOMEM;
	rc = al_buf_puts(out, s);
	if (rc == 0)
		rc = al_buf_append(out, "\n", 1);
	free(s);
	return rc;
}

int api_line_result(struct al_buf *out, const json_t *id, json_t *result)
{
	json_t *id_copy = id ? json_deep_copy(id) : json_null();

	return api_line(out, json_pack("{s:o, s:o}", "id", id_copy, "result",
				       result ? result : json_null()));
}

int api_line_error(struct al_buf *out, const json_t *id, enum api_code code,
		   const char *message)
{
	json_t *id_copy = id ? json_deep_copy(id) : json_null();
	json_t *msg = message && message[0] ? json_string(message) : NULL;

	/* A handler's message may quote input that is not UTF-8. */
	if (!msg)
		msg = json_string(api_code_text(code));
	return api_line(out, json_pack("{s:o, s:{s:s, s:o}}", "id", id_copy,
				       "error", "code", api_code_name(code),
				       "message", msg));
}
