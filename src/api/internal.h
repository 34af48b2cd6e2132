/*
 * internal.h - what the server's files share: request parsing and reply
 * lines (proto.c), the listening socket (sock.c).
 */
#ifndef AL_API_INTERNAL_H
#define AL_API_INTERNAL_H

#include "api/api.h"
#include "base/util.h"

/*
 * Whether the JSON text p[0..len) nests at most max arrays and objects
 * deep. Scans bytes (strings and escapes skipped) so a hostile line is
 * refused before a recursive parser sees it.
 */
bool api_depth_ok(const char *p, size_t len, int max);

/* A request, parsed and checked; every pointer borrows from doc. */
struct api_req {
	json_t *doc;
	json_t *id;          /* NULL when absent */
	const char *method;  /* NULL when invalid */
	json_t *params;      /* an object */
	const char *fingerprint; /* NULL when absent */
};

/*
 * Parse one line (without its newline) into req. On failure returns the
 * error code with a message in err; req->id and req->method are kept
 * when they could be read, so the reply can echo the id and the audit
 * entry name the method. req_free releases req->doc.
 */
enum api_code api_req_parse(const char *line, size_t len,
			    struct api_req *req, struct api_err *err);
void api_req_free(struct api_req *req);

/* Whether s is a valid method or topic name. */
bool api_name_ok(const char *s, size_t max);
/* Whether s looks like an OpenSSH fingerprint ("SHA256:" + base64). */
bool api_fp_ok(const char *s);

/*
 * Reply lines, newline-terminated, appended to out: {"id":..,"result":..}
 * and {"id":..,"error":{"code","message"}}. id may be NULL (null).
 * result is stolen. 0 or -ENOMEM.
 */
int api_line_result(struct al_buf *out, const json_t *id, json_t *result);
int api_line_error(struct al_buf *out, const json_t *id, enum api_code code,
		   const char *message);

/*
 * Create the listening socket (api_server_new's contract). *lock_fd
 * holds the flock on PATH.lock for the server's life.
 */
int api_sock_listen(const char *path, gid_t gid, int *fd_out, int *lock_fd);

#endif
