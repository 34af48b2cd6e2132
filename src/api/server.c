/*
 * server.c - the control API's event loop (api.h has the design).
 *
 * One round of the loop: wait on epoll; accept, read and write what is
 * ready; parse and dispatch complete lines (at most API_ROUND_LINES per
 * connection, so a pipelining client cannot starve the others); audit
 * every call of the round in one batch; release the replies; fan out
 * published events; expire slow and idle connections whose timer fell
 * due; free the connections that died during the round. The wait ends
 * at the next timer, or never while no connection has one: an idle
 * server does not wake.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/internal.h"
#include "base/err.h"
#include "base/log.h"

#define API_ROUND_LINES 8
#define API_ACCEPT_BURST 64
/* Timers fire this late at most, so that nearby ones share a wake-up. */
#define API_SWEEP_SLACK_MS 20
#define API_PUBQ_MAX 4096
#define API_IN_MIN 4096

struct api_conn {
	struct api_conn *prev, *next;   /* every live connection */
	struct api_conn *rnext;         /* ready list */
	struct api_conn *dnext;         /* dead list, freed at round end */
	int fd;
	uint32_t ev;                    /* interest registered with epoll */
	struct api_caller caller;
	char *in;
	size_t inlen, incap, scanned;
	struct al_buf out;
	size_t outoff;
	int64_t line_start, last_req, last_write, close_by;
	char topics[API_TOPICS_MAX][API_TOPIC_MAX + 1];
	unsigned ntopics;
	bool subscribed, closing, eof, dead, ready;
	bool midline;                   /* a line is partly sent */
};

/* One call of the current round, its reply held until it is audited. */
struct api_pend {
	struct api_conn *c;
	struct api_caller caller;
	char actor[API_ACTOR_MAX];
	char method[API_METHOD_MAX + 1];
	json_t *id;
	enum api_code code;
	bool audited;
	json_t *topics;                 /* a subscription to start */
	struct al_buf line;
};

struct api_pub {
	struct api_pub *next;
	char topic[API_TOPIC_MAX + 1];
	size_t len;
	char line[];
};

struct api_server {
	struct api_server_opts o;
	struct api_method *methods;
	uid_t *fp_uids;
	char *path;
	int lfd, lock_fd, epfd, evfd, reserve_fd;
	struct api_conn *conns, *ready, *ready_tail, *dead;
	struct api_pend *pend;
	size_t npend, pendcap;
	struct api_stats st;
	int64_t next_sweep, refuse_logged;
	uint64_t refuse_unlogged;
	atomic_bool stop;
	pthread_mutex_t pub_lock;
	struct api_pub *pub_head, *pub_tail;
	size_t npub;
	uint64_t pub_seq, pub_lost;
	/* Connections whose subscription names each topic, for
	 * api_server_subscribers on other threads; under pub_lock. */
	struct {
		char name[API_TOPIC_MAX + 1];
		unsigned n;
	} named[API_NAMED_MAX];
	unsigned nnamed;
};

/* epoll tags for the two descriptors that are not connections. */
static char api_tag_listen, api_tag_wake;

static size_t conn_pending(const struct api_conn *c)
{
	return c->out.len - c->outoff;
}

static void conn_kill(struct api_server *srv, struct api_conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	c->dnext = srv->dead;
	srv->dead = c;
}

/* Interest follows state: read only while the connection can take a
 * request, write only while output waits. */
static void conn_sync(struct api_server *srv, struct api_conn *c)
{
	struct epoll_event ee = { 0 };
	uint32_t want = 0;

	if (c->dead)
		return;
	if (!c->closing && !c->eof && conn_pending(c) <= srv->o.outq_max &&
	    c->inlen <= srv->o.line_max && !c->ready)
		want |= EPOLLIN;
	if (conn_pending(c))
		want |= EPOLLOUT;
	if (want == c->ev)
		return;
	ee.events = want;
	ee.data.ptr = c;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_MOD, c->fd, &ee) != 0)
		conn_kill(srv, c);
	else
		c->ev = want;
}

static void conn_ready(struct api_server *srv, struct api_conn *c)
{
	if (c->ready || c->dead)
		return;
	c->ready = true;
	c->rnext = NULL;
	if (srv->ready_tail)
		srv->ready_tail->rnext = c;
	else
		srv->ready = c;
	srv->ready_tail = c;
}

static bool conn_has_line(const struct api_conn *c)
{
	return c->inlen && memchr(c->in, '\n', c->inlen) != NULL;
}

static void conn_flush(struct api_server *srv, struct api_conn *c)
{
	int64_t now = al_mono_ms();

	while (!c->dead && conn_pending(c)) {
		/* MSG_NOSIGNAL: a peer that vanished is EPIPE, not SIGPIPE. */
		ssize_t n = send(c->fd, c->out.p + c->outoff, conn_pending(c),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			conn_kill(srv, c);
			break;
		}
		c->outoff += (size_t)n;
		c->midline = c->out.p[c->outoff - 1] != '\n';
		c->last_write = now;
	}
	if (!conn_pending(c)) {
		c->out.len = c->outoff = 0;
		if (c->closing || (c->eof && !conn_has_line(c)))
			conn_kill(srv, c);
	} else if (c->outoff > c->out.len / 2) {
		memmove(c->out.p, c->out.p + c->outoff, conn_pending(c));
		c->out.len -= c->outoff;
		c->outoff = 0;
	}
	if (!c->dead && !c->closing && conn_has_line(c) &&
	    conn_pending(c) <= srv->o.outq_max)
		conn_ready(srv, c);
	conn_sync(srv, c);
}

/* Queue bytes; a connection whose output was empty starts its clock. */
static int conn_append(struct api_conn *c, const char *p, size_t len)
{
	if (!conn_pending(c))
		c->last_write = al_mono_ms();
	return al_buf_append(&c->out, p, len);
}

/*
 * End a connection with a last error line: nothing more is read, what is
 * queued is sent, then it is closed (or dropped after write_ms if the
 * peer does not read).
 */
static void conn_close_with(struct api_server *srv, struct api_conn *c,
			    enum api_code code, const char *msg)
{
	struct al_buf line = { 0 };

	if (c->dead || c->closing)
		return;
	al_info("api", NULL, "dropping connection: uid=%u pid=%d reason=%s",
		(unsigned)c->caller.uid, (int)c->caller.pid,
		api_code_name(code));
	srv->st.dropped++;
	c->closing = true;
	c->close_by = al_mono_ms() + srv->o.write_ms;
	if (api_line_error(&line, NULL, code, msg) == 0)
		conn_append(c, line.p, line.len);
	al_buf_free(&line);
	conn_flush(srv, c);
}

/* Count c's named topics in (delta 1) or out (delta -1). */
static void conn_named(struct api_server *srv, const struct api_conn *c,
		       int delta)
{
	pthread_mutex_lock(&srv->pub_lock);
	for (unsigned i = 0; i < c->ntopics; i++) {
		unsigned k = 0;
		while (k < srv->nnamed && strcmp(srv->named[k].name,
						 c->topics[i]))
			k++;
		if (k == srv->nnamed && delta > 0 && k < API_NAMED_MAX) {
			al_strlcpy(srv->named[k].name, c->topics[i],
				   sizeof(srv->named[k].name));
			srv->named[k].n = 0;
			srv->nnamed++;
		}
		if (k < srv->nnamed)
			srv->named[k].n += (unsigned)delta;
	}
	pthread_mutex_unlock(&srv->pub_lock);
}

unsigned api_server_subscribers(struct api_server *srv, const char *topic)
{
	unsigned n = 0;

	pthread_mutex_lock(&srv->pub_lock);
	for (unsigned k = 0; k < srv->nnamed; k++)
		if (!strcmp(srv->named[k].name, topic))
			n = srv->named[k].n;
	pthread_mutex_unlock(&srv->pub_lock);
	return n;
}

static void conn_free(struct api_server *srv, struct api_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->st.conns--;
	if (c->subscribed) {
		srv->st.subscribers--;
		conn_named(srv, c, -1);
	}
	/*
	 * Out of the epoll set before the close: closing removes it only
	 * when no other descriptor shares the open file, and a process
	 * forked meanwhile (a daemon's worker before its exec) holds one;
	 * epoll would then report events for this freed connection.
	 */
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->in);
	al_buf_free(&c->out);
	free(c);
}

/* ---- accepting ---------------------------------------------------- */

static void srv_refuse(struct api_server *srv, int fd, bool mine)
{
	struct al_buf line = { 0 };
	int64_t now = al_mono_ms();

	if (api_line_error(&line, NULL, API_E_BUSY, mine ?
			   "too many connections from your user; close some "
			   "and try again" :
			   "too many connections; try again later") == 0)
		(void)!send(fd, line.p, line.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	al_buf_free(&line);
	close(fd);
	srv->st.refused++;
	srv->refuse_unlogged++;
	/* One line per second at most: a flood must not flood the log. */
	if (now - srv->refuse_logged >= 1000) {
		al_warn("api", NULL, "connection limit reached: max=%u "
			"per_uid=%u refused=%llu", srv->o.max_conns,
			srv->o.max_conns_uid,
			(unsigned long long)srv->refuse_unlogged);
		srv->refuse_logged = now;
		srv->refuse_unlogged = 0;
	}
}

/*
 * Out of descriptors, accept would fail forever and the listener stay
 * ready (a busy loop). The spare descriptor kept for this moment is
 * given up so one pending connection can be accepted and told "busy".
 */
static void srv_shed(struct api_server *srv)
{
	int fd;

	if (srv->reserve_fd < 0)
		return;
	close(srv->reserve_fd);
	fd = accept4(srv->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		srv_refuse(srv, fd, false);
	srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static int srv_add(struct api_server *srv, int fd, const struct ucred *cred)
{
	struct epoll_event ee = { .events = EPOLLIN };
	struct api_conn *c;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = fd;
	c->caller.uid = cred->uid;
	c->caller.gid = cred->gid;
	c->caller.pid = cred->pid;
	c->last_req = c->last_write = al_mono_ms();
	c->ev = EPOLLIN;
	ee.data.ptr = c;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ee) != 0) {
		free(c);
		return -errno;
	}
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->st.conns++;
	srv->st.accepted++;
	return 0;
}

/*
 * Whether a new connection of uid must be refused; *mine says the
 * caller's own share is what is used up. Counting walks the list: at
 * most max_conns entries, once per accepted connection.
 */
static bool srv_full(const struct api_server *srv, uid_t uid, bool *mine)
{
	unsigned n = 0;

	*mine = false;
	if (srv->st.conns >= srv->o.max_conns)
		return true;
	if (uid == 0)
		return false;
	if (srv->st.conns + srv->o.root_reserve >= srv->o.max_conns)
		return true;
	for (const struct api_conn *c = srv->conns; c; c = c->next)
		n += c->caller.uid == uid;
	*mine = n >= srv->o.max_conns_uid;
	return *mine;
}

static void srv_accept(struct api_server *srv)
{
	struct ucred cred;
	socklen_t clen;
	bool mine;

	for (int i = 0; i < API_ACCEPT_BURST; i++) {
		int fd = accept4(srv->lfd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				srv_shed(srv);
				continue;
			}
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				al_warn("api", NULL, "accept: %s",
					strerror(errno));
			return;
		}
		clen = sizeof(cred);
		/* The kernel's view of the peer at connect time; not
		 * forgeable. */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred,
			       &clen) != 0) {
			close(fd);
			continue;
		}
		if (srv_full(srv, cred.uid, &mine)) {
			srv_refuse(srv, fd, mine);
			continue;
		}
		if (srv_add(srv, fd, &cred) != 0)
			close(fd);
	}
}

/* ---- reading ------------------------------------------------------ */

static void conn_read(struct api_server *srv, struct api_conn *c)
{
	size_t room_max = srv->o.line_max + 1;
	ssize_t n;

	if (c->dead || c->closing || c->eof || c->inlen >= room_max)
		return;
	if (c->incap - c->inlen < API_IN_MIN / 2 && c->incap < room_max) {
		size_t cap = c->incap ? c->incap * 2 : API_IN_MIN;
		char *p;

		if (cap > room_max)
			cap = room_max;
		p = realloc(c->in, cap);
		if (!p) {
			conn_close_with(srv, c, API_E_INTERNAL, "out of memory");
			return;
		}
		c->in = p;
		c->incap = cap;
	}

	n = recv(c->fd, c->in + c->inlen, c->incap - c->inlen, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n < 0) {
		conn_kill(srv, c);
		return;
	}
	if (n == 0) {
		/* Half-closed: answer what is complete, then close. */
		c->eof = true;
		if (!conn_has_line(c) && !conn_pending(c))
			conn_kill(srv, c);
		else if (conn_has_line(c))
			conn_ready(srv, c);
		conn_sync(srv, c);
		return;
	}
	if (!c->inlen)
		c->line_start = al_mono_ms();
	c->inlen += (size_t)n;

	if (memchr(c->in + c->scanned, '\n', c->inlen - c->scanned)) {
		conn_ready(srv, c);
	} else if (c->inlen > srv->o.line_max) {
		char msg[API_MSG_MAX];

		snprintf(msg, sizeof(msg), "no newline within %zu bytes",
			 srv->o.line_max);
		conn_close_with(srv, c, API_E_TOO_LONG, msg);
	}
	c->scanned = c->inlen;
	conn_sync(srv, c);
}

/* ---- dispatching -------------------------------------------------- */

static bool srv_fp_allowed(const struct api_server *srv, uid_t uid)
{
	for (size_t i = 0; i < srv->o.nfp_uids; i++)
		if (srv->fp_uids[i] == uid)
			return true;
	return false;
}

static const struct api_method *srv_method(const struct api_server *srv,
					   const char *name)
{
	for (size_t i = 0; i < srv->o.nmethods; i++)
		if (strcmp(srv->methods[i].name, name) == 0)
			return &srv->methods[i];
	return NULL;
}

/* events.subscribe: {"topics": [names]} or {} for every topic. */
static json_t *srv_subscribe(struct api_pend *p, json_t *params,
			     struct api_err *err)
{
	json_t *topics = json_object_get(params, "topics"), *t;
	size_t i;

	if (json_object_size(params) > (topics ? 1u : 0u))
		return api_fail(err, API_E_PARAMS, "only \"topics\" is known");
	if (!topics)
		topics = json_array();
	else if (!json_is_array(topics) ||
		 json_array_size(topics) > API_TOPICS_MAX)
		return api_fail(err, API_E_PARAMS, "topics: an array of at "
				"most %d names", API_TOPICS_MAX);
	else
		json_incref(topics);
	json_array_foreach(topics, i, t) {
		if (!json_is_string(t) ||
		    !api_name_ok(json_string_value(t), API_TOPIC_MAX)) {
			json_decref(topics);
			return api_fail(err, API_E_PARAMS, "topics[%zu] is not "
					"a topic name", i);
		}
	}
	p->topics = topics;
	return json_pack("{s:O}", "topics", topics);
}

static json_t *srv_dispatch(struct api_server *srv, struct api_pend *p,
			    json_t *params, struct api_err *err)
{
	struct api_call call = { srv, &p->caller, p->method, p->actor };
	const struct api_method *m;
	json_t *res;

	if (strcmp(p->method, "ping") == 0)
		return json_pack("{s:b}", "pong", 1);
	if (strcmp(p->method, "events.subscribe") == 0)
		return srv_subscribe(p, params, err);
	m = srv_method(srv, p->method);
	if (!m)
		return api_fail(err, API_E_METHOD, "no method \"%s\"",
				p->method);
	res = m->fn(srv->o.ctx, &call, params, err);
	if (!res && err->code == API_OK)
		api_fail(err, API_E_INTERNAL, "method \"%s\" failed",
			 p->method);
	return res;
}

static struct api_pend *srv_pend_new(struct api_server *srv,
				     struct api_conn *c)
{
	struct api_pend *p;

	if (srv->npend == srv->pendcap) {
		size_t cap = srv->pendcap ? srv->pendcap * 2 : 64;

		p = realloc(srv->pend, cap * sizeof(*p));
		if (!p)
			return NULL;
		srv->pend = p;
		srv->pendcap = cap;
	}
	p = &srv->pend[srv->npend++];
	memset(p, 0, sizeof(*p));
	p->c = c;
	p->caller = c->caller;
	return p;
}

/*
 * One request line. Whatever happens, the line gets exactly one reply
 * line in order; every request object is audited (parse failures are
 * not calls and are only counted).
 */
static int srv_line(struct api_server *srv, struct api_conn *c,
		    const char *line, size_t len)
{
	struct api_err err = { API_OK, "" };
	struct api_pend *p = srv_pend_new(srv, c);
	struct api_req req;
	json_t *res = NULL;
	enum api_code code;

	if (!p)
		return -ENOMEM;
	srv->st.requests++;
	code = api_req_parse(line, len, &req, &err);
	p->audited = json_is_object(req.doc);
	al_strlcpy(p->method, req.method ? req.method : "(invalid)",
		   sizeof(p->method));
	p->id = json_incref(req.id);

	/* Only a trusted uid (the SSH admin shell) may name a key. */
	if (code == API_OK && req.fingerprint) {
		if (srv_fp_allowed(srv, c->caller.uid)) {
			al_strlcpy(p->caller.fingerprint, req.fingerprint,
				   sizeof(p->caller.fingerprint));
		} else {
			api_fail(&err, API_E_FORBIDDEN, "uid %u may not "
				 "assert an SSH key", (unsigned)c->caller.uid);
			code = API_E_FORBIDDEN;
		}
	}
	api_caller_actor(&p->caller, p->actor, sizeof(p->actor));
	if (code == API_OK) {
		res = srv_dispatch(srv, p, req.params, &err);
		code = res ? API_OK : err.code;
	}
	p->code = code;
	if (code == API_OK)
		api_line_result(&p->line, p->id, res);
	else
		api_line_error(&p->line, p->id, code, err.message);
	api_req_free(&req);
	return 0;
}

static void conn_process(struct api_server *srv, struct api_conn *c)
{
	size_t off = 0;
	int n = 0;

	c->ready = false;
	while (n < API_ROUND_LINES && !c->closing) {
		char *nl = memchr(c->in + off, '\n', c->inlen - off);
		size_t len;

		if (!nl)
			break;
		len = (size_t)(nl - (c->in + off));
		if (len > srv->o.line_max) {
			conn_close_with(srv, c, API_E_TOO_LONG,
					"request line over the limit");
			break;
		}
		if (srv_line(srv, c, c->in + off, len) != 0) {
			conn_close_with(srv, c, API_E_INTERNAL,
					"out of memory");
			break;
		}
		off += len + 1;
		n++;
	}
	memmove(c->in, c->in + off, c->inlen - off);
	c->inlen -= off;
	c->scanned = c->inlen;
	c->last_req = al_mono_ms();
	c->line_start = c->inlen ? c->last_req : 0;
}

static void srv_audit(struct api_server *srv)
{
	struct api_audit_rec *recs;
	size_t n = 0;
	int rc;

	if (!srv->o.audit || !srv->npend)
		return;
	recs = calloc(srv->npend, sizeof(*recs));
	for (size_t i = 0; recs && i < srv->npend; i++) {
		struct api_pend *p = &srv->pend[i];

		if (!p->audited)
			continue;
		recs[n++] = (struct api_audit_rec){
			&p->caller, p->actor, p->method,
			api_code_name(p->code), p->id };
	}
	rc = !recs ? -ENOMEM : n ? srv->o.audit(srv->o.audit_ctx, recs, n) : 0;
	free(recs);
	if (rc == 0)
		return;

	/* Fail closed: no audited call's outcome leaves unaudited. */
	al_error("api", NULL, "audit of %zu calls failed: %s", n,
		 al_strerror(rc));
	for (size_t i = 0; i < srv->npend; i++) {
		struct api_pend *p = &srv->pend[i];

		if (!p->audited)
			continue;
		p->line.len = 0;
		json_decref(p->topics);
		p->topics = NULL;
		api_line_error(&p->line, p->id, API_E_AUDIT,
			       "the call could not be audited; its result "
			       "is withheld");
	}
}

static void conn_subscribe(struct api_server *srv, struct api_conn *c,
			   json_t *topics)
{
	size_t i;
	json_t *t;

	if (c->subscribed)
		conn_named(srv, c, -1);
	c->ntopics = 0;
	json_array_foreach(topics, i, t)
		al_strlcpy(c->topics[c->ntopics++], json_string_value(t),
			   sizeof(c->topics[0]));
	if (!c->subscribed)
		srv->st.subscribers++;
	c->subscribed = true;
	conn_named(srv, c, 1);
	if (srv->o.subscribed)
		srv->o.subscribed(srv->o.ctx);
}

static void srv_round(struct api_server *srv)
{
	struct api_conn *c = srv->ready;

	srv->ready = srv->ready_tail = NULL;
	while (c) {
		struct api_conn *next = c->rnext;

		if (!c->dead && !c->closing)
			conn_process(srv, c);
		else
			c->ready = false;
		c = next;
	}
	srv_audit(srv);

	for (size_t i = 0; i < srv->npend; i++) {
		struct api_pend *p = &srv->pend[i];

		if (!p->c->dead && p->line.len &&
		    conn_append(p->c, p->line.p, p->line.len) != 0)
			conn_kill(srv, p->c);
		if (p->topics && !p->c->dead)
			conn_subscribe(srv, p->c, p->topics);
		json_decref(p->topics);
		json_decref(p->id);
		al_buf_free(&p->line);
	}
	for (size_t i = 0; i < srv->npend; i++)
		if (!srv->pend[i].c->dead)
			conn_flush(srv, srv->pend[i].c);
	srv->npend = 0;
}

/* ---- events ------------------------------------------------------- */

static bool conn_wants(const struct api_conn *c, const char *topic)
{
	if (!c->subscribed || c->dead || c->closing)
		return false;
	if (!c->ntopics || !topic[0])
		return true;
	for (unsigned i = 0; i < c->ntopics; i++)
		if (strcmp(c->topics[i], topic) == 0)
			return true;
	return false;
}

/*
 * A subscriber whose queue would pass outq_max is dropped: the loop
 * never waits for a reader, and memory per reader stays bounded. The
 * queue is cut after the line being sent, so the last line the reader
 * sees is a whole error object.
 */
static void conn_event(struct api_server *srv, struct api_conn *c,
		       const char *line, size_t len)
{
	if (conn_pending(c) + len > srv->o.outq_max) {
		char *nl = memchr(c->out.p + c->outoff, '\n', conn_pending(c));

		if (c->midline && nl)
			c->out.len = (size_t)(nl - c->out.p) + 1;
		else
			c->out.len = c->outoff;
		conn_close_with(srv, c, API_E_OVERFLOW, "events were not "
				"read fast enough; re-read state and "
				"subscribe again");
		return;
	}
	if (conn_append(c, line, len) != 0) {
		conn_kill(srv, c);
		return;
	}
	conn_flush(srv, c);
}

static int srv_pub_line(struct al_buf *b, const char *topic,
			const char *event, uint64_t seq, json_t *data)
{
	char stamp[32], *s;
	json_t *o;
	int rc;

	al_utc_stamp(stamp, sizeof(stamp), al_wall_ms());
	o = json_pack("{s:s, s:s, s:I, s:s, s:o}", "event", event, "topic",
		      topic, "seq", (json_int_t)seq, "time", stamp, "data",
		      data ? data : json_object());
	if (!o)
		return -ENOMEM;
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		return -ENOMEM;
	rc = al_buf_puts(b, s);
	if (rc == 0)
		rc = al_buf_append(b, "\n", 1);
	free(s);
	return rc;
}

static void srv_fanout(struct api_server *srv, const char *topic,
		       const char *line, size_t len)
{
	struct api_conn *c = srv->conns;

	for (; c; c = c->next)
		if (conn_wants(c, topic))
			conn_event(srv, c, line, len);
}

static void srv_drain(struct api_server *srv)
{
	struct api_pub *list, *next;
	uint64_t lost, seq;
	uint64_t buf;

	(void)!read(srv->evfd, &buf, sizeof(buf));
	pthread_mutex_lock(&srv->pub_lock);
	list = srv->pub_head;
	srv->pub_head = srv->pub_tail = NULL;
	srv->npub = 0;
	lost = srv->pub_lost;
	srv->pub_lost = 0;
	seq = srv->pub_seq;
	pthread_mutex_unlock(&srv->pub_lock);

	if (lost) {
		struct al_buf b = { 0 };

		if (srv_pub_line(&b, "", "lost", seq, json_pack("{s:I}",
				 "count", (json_int_t)lost)) == 0)
			srv_fanout(srv, "", b.p, b.len);
		al_buf_free(&b);
	}
	for (; list; list = next) {
		next = list->next;
		srv_fanout(srv, list->topic, list->line, list->len);
		free(list);
	}
}

int api_server_publish(struct api_server *srv, const char *topic,
		       const char *event, json_t *data)
{
	struct al_buf b = { 0 };
	struct api_pub *p = NULL;
	uint64_t one = 1;
	int rc = 0;

	if (!api_name_ok(topic, API_TOPIC_MAX) ||
	    !api_name_ok(event, API_METHOD_MAX)) {
		json_decref(data);
		return AL_E_USAGE;
	}
	pthread_mutex_lock(&srv->pub_lock);
	srv->st.events++;
	if (srv->npub >= API_PUBQ_MAX) {
		srv->pub_lost++;
		srv->st.lost++;
		json_decref(data);
		rc = -EAGAIN;
		goto out;
	}
	rc = srv_pub_line(&b, topic, event, ++srv->pub_seq, data);
	p = rc ? NULL : malloc(sizeof(*p) + b.len);
	if (!p) {
		rc = -ENOMEM;
		goto out;
	}
	p->next = NULL;
	al_strlcpy(p->topic, topic, sizeof(p->topic));
	memcpy(p->line, b.p, b.len);
	p->len = b.len;
	if (srv->pub_tail)
		srv->pub_tail->next = p;
	else
		srv->pub_head = p;
	srv->pub_tail = p;
	srv->npub++;
	(void)!write(srv->evfd, &one, sizeof(one));
out:
	pthread_mutex_unlock(&srv->pub_lock);
	al_buf_free(&b);
	return rc;
}

/* ---- timers ------------------------------------------------------- */

/* When connection c's next timer falls due (INT64_MAX: none runs). */
static int64_t conn_due(const struct api_server *srv,
			const struct api_conn *c)
{
	if (c->closing)
		return c->close_by;
	if (conn_pending(c))
		return c->last_write + srv->o.write_ms;
	if (c->line_start)
		return c->line_start + srv->o.line_ms;
	if (!c->subscribed && !c->inlen)
		return c->last_req + srv->o.idle_ms;
	return INT64_MAX;
}

/*
 * Act on the timers that fell due by now; returns when the next one
 * will (INT64_MAX: none), so that an idle server sleeps until then
 * instead of waking on a period.
 */
static int64_t srv_sweep(struct api_server *srv, int64_t now)
{
	int64_t next = INT64_MAX, due;

	for (struct api_conn *c = srv->conns; c; c = c->next) {
		if (c->dead)
			continue;
		due = conn_due(srv, c);
		if (now < due) {
			next = due < next ? due : next;
			continue;
		}
		if (c->closing) {
			conn_kill(srv, c);
		} else if (conn_pending(c)) {
			al_info("api", NULL, "dropping connection: uid=%u "
				"pid=%d reason=not_reading",
				(unsigned)c->caller.uid, (int)c->caller.pid);
			srv->st.dropped++;
			conn_kill(srv, c);
		} else if (c->line_start) {
			conn_close_with(srv, c, API_E_TIMEOUT, "request line "
					"not finished in time");
		} else {
			conn_close_with(srv, c, API_E_TIMEOUT, "idle");
		}
		if (!c->dead && (due = conn_due(srv, c)) < next)
			next = due;
	}
	return next;
}

/* ---- life cycle --------------------------------------------------- */

static int srv_copy(struct api_server *srv, const struct api_server_opts *o)
{
	srv->o = *o;
	if (!srv->o.max_conns)
		srv->o.max_conns = 256;
	if (!srv->o.max_conns_uid)
		srv->o.max_conns_uid = srv->o.max_conns / 4 ? srv->o.max_conns / 4 : 1;
	if (!srv->o.root_reserve)
		srv->o.root_reserve = srv->o.max_conns / 16;
	if (!srv->o.line_max)
		srv->o.line_max = API_LINE_MAX_DEFAULT;
	if (!srv->o.outq_max)
		srv->o.outq_max = 1024 * 1024;
	if (!srv->o.line_ms)
		srv->o.line_ms = 10000;
	if (!srv->o.idle_ms)
		srv->o.idle_ms = 300000;
	if (!srv->o.write_ms)
		srv->o.write_ms = 30000;

	srv->path = strdup(o->path);
	srv->methods = calloc(o->nmethods + 1, sizeof(*srv->methods));
	srv->fp_uids = calloc(o->nfp_uids + 1, sizeof(*srv->fp_uids));
	if (!srv->path || !srv->methods || !srv->fp_uids)
		return -ENOMEM;
	if (o->nmethods)
		memcpy(srv->methods, o->methods,
		       o->nmethods * sizeof(*o->methods));
	if (o->nfp_uids)
		memcpy(srv->fp_uids, o->fp_uids,
		       o->nfp_uids * sizeof(*o->fp_uids));
	for (size_t i = 0; i < o->nmethods; i++) {
		const char *n = o->methods[i].name;

		if (!n || !o->methods[i].fn || !api_name_ok(n, API_METHOD_MAX) ||
		    strcmp(n, "ping") == 0 ||
		    strcmp(n, "events.subscribe") == 0)
			return AL_E_USAGE;
	}
	return 0;
}

static int srv_watch(struct api_server *srv, int fd, void *tag)
{
	struct epoll_event ee = { .events = EPOLLIN, .data.ptr = tag };

	return epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ee) ? -errno : 0;
}

int api_server_new(const struct api_server_opts *opts,
		   struct api_server **out)
{
	struct api_server *srv = calloc(1, sizeof(*srv));
	int rc;

	if (!srv)
		return -ENOMEM;
	srv->lfd = srv->lock_fd = srv->epfd = srv->evfd = -1;
	srv->reserve_fd = -1;
	pthread_mutex_init(&srv->pub_lock, NULL);
	rc = opts->path ? srv_copy(srv, opts) : AL_E_USAGE;
	if (rc)
		goto out;
	rc = api_sock_listen(srv->path, srv->o.gid, &srv->lfd,
			     &srv->lock_fd);
	if (rc)
		goto out;
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	srv->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (srv->epfd < 0 || srv->evfd < 0 || srv->reserve_fd < 0) {
		rc = -errno;
		goto out;
	}
	rc = srv_watch(srv, srv->lfd, &api_tag_listen);
	if (rc == 0)
		rc = srv_watch(srv, srv->evfd, &api_tag_wake);
out:
	if (rc) {
		al_error("api", NULL, "cannot serve %s: %s", opts->path ?
			 opts->path : "(no path)", al_strerror(rc));
		api_server_free(srv);
		srv = NULL;
	}
	*out = srv;
	return rc;
}

static void srv_event(struct api_server *srv, struct epoll_event *e)
{
	struct api_conn *c = e->data.ptr;

	if (e->data.ptr == &api_tag_listen) {
		srv_accept(srv);
		return;
	}
	if (e->data.ptr == &api_tag_wake)
		return; /* drained once per round */
	/* HUP: the peer closed both ways, nothing can reach it anymore. */
	if (e->events & (EPOLLERR | EPOLLHUP)) {
		conn_kill(srv, c);
		return;
	}
	if (e->events & EPOLLOUT)
		conn_flush(srv, c);
	if (e->events & EPOLLIN)
		conn_read(srv, c);
}

/* epoll_wait's timeout: none while work is ready, else the next timer. */
static int srv_timeout(const struct api_server *srv)
{
	int64_t wait;

	if (srv->ready)
		return 0;
	if (srv->next_sweep == INT64_MAX)
		return -1; /* no timer: sleep until something happens */
	wait = srv->next_sweep - al_mono_ms();
	return wait <= 0 ? 0 : wait > INT_MAX ? INT_MAX : (int)wait;
}

int api_server_run(struct api_server *srv)
{
	struct epoll_event evs[64];
	int rc = 0;

	al_info("api", NULL, "serving path=%s max_conns=%u", srv->path,
		srv->o.max_conns);
	while (!atomic_load(&srv->stop)) {
		int n = epoll_wait(srv->epfd, evs, (int)AL_ARRAY_LEN(evs),
				   srv_timeout(srv));

		if (n < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		for (int i = 0; i < n; i++)
			srv_event(srv, &evs[i]);
		srv_round(srv);
		srv_drain(srv);
		/* Timers move with every event: look at them all again
		 * (at most max_conns connections). */
		srv->next_sweep = srv_sweep(srv, al_mono_ms());
		if (srv->next_sweep != INT64_MAX)
			srv->next_sweep += API_SWEEP_SLACK_MS;
		while (srv->dead) {
			struct api_conn *c = srv->dead;

			srv->dead = c->dnext;
			conn_free(srv, c);
		}
	}
	return rc;
}

void api_server_stop(struct api_server *srv)
{
	uint64_t one = 1;

	atomic_store(&srv->stop, true);
	(void)!write(srv->evfd, &one, sizeof(one));
}

void api_server_stats(const struct api_server *srv, struct api_stats *st)
{
	*st = srv->st;
}

void api_server_free(struct api_server *srv)
{
	struct al_buf bye = { 0 };

	if (!srv)
		return;
	api_line_error(&bye, NULL, API_E_SHUTDOWN, NULL);
	while (srv->conns) {
		struct api_conn *c = srv->conns;

		/* Only between lines: a half-sent line stays half-sent. */
		if (bye.len && !conn_pending(c))
			(void)!send(c->fd, bye.p, bye.len,
				    MSG_NOSIGNAL | MSG_DONTWAIT);
		c->subscribed = false;
		conn_free(srv, c);
	}
	al_buf_free(&bye);
	while (srv->pub_head) {
		struct api_pub *p = srv->pub_head;

		srv->pub_head = p->next;
		free(p);
	}
	if (srv->lfd >= 0) {
		close(srv->lfd);
		unlink(srv->path);
	}
	/* The lock file stays: unlinking it would let a starting server
	 * lock a fresh file while another still holds the old one. */
	if (srv->lock_fd >= 0)
		close(srv->lock_fd);
	if (srv->epfd >= 0)
		close(srv->epfd);
	if (srv->evfd >= 0)
		close(srv->evfd);
	if (srv->reserve_fd >= 0)
		close(srv->reserve_fd);
	pthread_mutex_destroy(&srv->pub_lock);
	free(srv->pend);
	free(srv->methods);
	free(srv->fp_uids);
	free(srv->path);
	free(srv);
}
