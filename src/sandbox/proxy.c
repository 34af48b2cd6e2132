/*
 * proxy.c - the registry-mode egress proxy.
 *
 * The listening socket lives inside the sandbox's network namespace
 * (sandbox.c creates it there); every outgoing connection is made from
 * the daemon's own namespace, and only to host:port pairs on the allow
 * list. Two request forms are served, which is what npm sends:
 *   CONNECT host:port HTTP/1.1            (a TLS tunnel)
 *   GET http://host:port/path HTTP/1.1    (plain-HTTP registries)
 * Every decision is an event (proxy.allow / proxy.deny, with the reason
 * for a refusal), and so is every tunnel cut by a limit (proxy.cut). A
 * credential for the registry (sbx_spec.auth_*) is added here, to
 * GET and HEAD requests whose target is the registry, and named by its
 * id in one proxy.credential event when the proxy stops. For an https
 * registry (auth_tls) the proxy ends the payload's TLS for a CONNECT
 * to the registry and makes its own to the registry (tls.c), with the
 * same rules for the request inside as for a plain-HTTP one. A
 * connection gets one thread, at most spec->proxy_max_conns at once;
 * more are refused with 503. Absolute-form requests are forwarded with
 * "Connection: close", so one client connection can never carry a
 * second request to another host past the check.
 *
 * Names are resolved here, never in the sandbox, on a thread of their
 * own: a slow resolver delays only the connection that waits for it,
 * and that connection still ends at once when the sandbox is torn down
 * (the lookup thread finishes alone and frees its own state).
 */
#include "sandbox/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"

#define SBX_HEAD_MAX 16384
#define SBX_IO_TIMEOUT_MS 30000
#define SBX_RESOLVE_TIMEOUT_MS 30000

struct sbx_req {
	char method[16];
	char host[256];
	unsigned port;
	const char *path; /* origin-form target (absolute-form only) */
	size_t path_len;
	const char *version; /* "HTTP/1.x" in the request line */
	size_t version_len;
	bool connect;
	unsigned dflt_port; /* of a Host header without one: 80, or 443 */
};

/*
 * One side of a connection the proxy relays: a socket, and the TLS
 * connection on it where the proxy ends or makes TLS (sbx_tls.ops;
 * the socket is then non-blocking).
 */
struct sbx_io {
	int fd;
	void *tls; /* NULL: plain */
	const struct sbx_tls_ops *ops;
	short want; /* the poll event the last read waits for */
};

/* "host", "host:port" or "[v6]:port" into host and port (dflt if none). */
static int sbx_split_hostport(const char *s, size_t len, char *host,
			      size_t hostsz, unsigned dflt, unsigned *port)
{
	const char *end = s + len, *colon;
	uint64_t p = dflt;

	if (len == 0)
		return -EINVAL;
	if (*s == '[') {
		const char *rb = memchr(s, ']', len);
		if (!rb)
			return -EINVAL;
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
		if (!colon && rb + 1 != end)
			return -EINVAL;
		s++;
		len = (size_t)(rb - s);
	} else {
		colon = memchr(s, ':', len);
		if (colon)
			len = (size_t)(colon - s);
	}
	if (colon) {
		char num[8];
		size_t n = (size_t)(end - colon - 1);
		if (n == 0 || n >= sizeof(num))
			return -EINVAL;
		memcpy(num, colon + 1, n);
		num[n] = '\0';
		if (al_parse_u64(num, 65535, &p) || p == 0)
			return -EINVAL;
	}
	if (len == 0 || len >= hostsz)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(c == '.' || c == '-' || c == ':' || c == '_' ||
		      (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' &&
						 (c | 0x20) <= 'z')))
			return -EINVAL;
	}
	memcpy(host, s, len);
	host[len] = '\0';
	*port = (unsigned)p;
	return 0;
}

bool sbx_proxy_allowed(const char *const *allow, const char *host,
		       unsigned port)
{
	for (size_t i = 0; allow && allow[i]; i++) {
		char h[256];
		unsigned p;
		const char *a = allow[i];
		if (sbx_split_hostport(a, strlen(a), h, sizeof(h), 0, &p))
			continue;
		if (strcasecmp(h, host) != 0)
			continue;
		/* An entry without a port allows the two web defaults. */
		if (p == port || (p == 0 && (port == 80 || port == 443)))
			return true;
	}
	return false;
}

/*
 * Parse the request line of head (NUL-terminated). With origin_form
 * (a request inside a TLS connection the proxy ended), the target must
 * be a path; rq's host and port, those of the CONNECT, stay.
 */
static int sbx_parse_request(char *head, struct sbx_req *rq, bool origin_form)
{
	char *sp1 = strchr(head, ' ');
	char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	char *eol = strstr(head, "\r\n");

	if (!sp1 || !sp2 || !eol || sp2 > eol || (size_t)(sp1 - head) >=
						    sizeof(rq->method))
		return -EINVAL;
	memcpy(rq->method, head, (size_t)(sp1 - head));
	rq->method[sp1 - head] = '\0';
	const char *t = sp1 + 1;
	size_t tlen = (size_t)(sp2 - t);
	if (strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
		return -EINVAL;
	rq->version = sp2 + 1;
	rq->version_len = (size_t)(eol - rq->version);
	if (origin_form) {
		if (tlen == 0 || *t != '/' || !strcmp(rq->method, "CONNECT"))
			return -EINVAL;
		rq->path = t;
		rq->path_len = tlen;
		rq->connect = false;
		rq->dflt_port = 443;
		return 0;
	}
	rq->dflt_port = 80;
	if (strcmp(rq->method, "CONNECT") == 0) {
		rq->connect = true;
		return sbx_split_hostport(t, tlen, rq->host, sizeof(rq->host),
					  443, &rq->port);
	}
	if (tlen < 7 || strncasecmp(t, "http://", 7) != 0)
		return -EINVAL;
	t += 7;
	tlen -= 7;
	const char *slash = memchr(t, '/', tlen);
	size_t alen = slash ? (size_t)(slash - t) : tlen;
	rq->path = slash ? slash : "/";
	rq->path_len = slash ? (size_t)(t + tlen - slash) : 1;
	return sbx_split_hostport(t, alen, rq->host, sizeof(rq->host), 80,
				  &rq->port);
}

/*
 * Send all of p without ever blocking for good: a peer that stops
 * reading (a stalled upstream, a payload that never reads) fails the
 * send after SBX_IO_TIMEOUT_MS, and a write on the stop pipe (stop >= 0)
 * ends it at once, so tearing a sandbox down never waits on a socket.
 */
static int sbx_send_all_stop(int fd, int stop, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pf[2] = { { fd, POLLOUT, 0 },
						{ stop, POLLIN, 0 } };
			int r = poll(pf, stop >= 0 ? 2 : 1, SBX_IO_TIMEOUT_MS);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0 || (stop >= 0 && pf[1].revents))
				return -ETIMEDOUT;
			continue;
		}
		if (n <= 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int sbx_send_all(int fd, const char *p, size_t len)
{
	return sbx_send_all_stop(fd, -1, p, len);
}

/* The proxy's own short answer; its length, or 0. */
static size_t sbx_reply_text(char *msg, size_t msgsz, int code,
			     const char *reason, const char *why)
{
	int n = snprintf(msg, msgsz,
			 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
			 code, reason, strlen(why) + 1, why);

	return n > 0 && (size_t)n < msgsz ? (size_t)n : 0;
}

static void sbx_reply(int fd, int code, const char *reason, const char *why)
{
	char msg[512];
	size_t n = sbx_reply_text(msg, sizeof(msg), code, reason, why);

	if (n)
		sbx_send_all(fd, msg, n);
}

/* Wait until fd is ready for ev: 0, -ETIMEDOUT, or -ECANCELED when the
 * sandbox stops. */
static int sbx_wait(struct sbx_proxy *px, int fd, short ev, int ms)
{
	struct pollfd p[2] = { { fd, ev, 0 }, { px->stop[0], POLLIN, 0 } };

	for (;;) {
		int n = poll(p, 2, ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			return -ETIMEDOUT;
		return n < 0 || p[1].revents ? -ECANCELED : 0;
	}
}

/* One read without waiting: > 0 bytes, 0 at the end, -EAGAIN (with
 * io->want), another negative error. */
static ssize_t sbx_io_try(struct sbx_io *io, char *buf, size_t len)
{
	if (io->tls)
		return io->ops->read(io->tls, buf, len, &io->want);

	ssize_t n = recv(io->fd, buf, len, MSG_DONTWAIT);
	if (n >= 0)
		return n;
	io->want = POLLIN;
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
		       ? -EAGAIN
		       : -errno;
}

/* Read what comes within ms: > 0 bytes, 0 at the end, < 0 error. */
static ssize_t sbx_io_read(struct sbx_proxy *px, struct sbx_io *io,
			   char *buf, size_t len, int ms)
{
	for (;;) {
		ssize_t n = sbx_io_try(io, buf, len);
		if (n != -EAGAIN)
			return n;
		int rc = sbx_wait(px, io->fd, io->want, ms);
		if (rc)
			return rc;
	}
}

/* All of p, or an error; never blocks past SBX_IO_TIMEOUT_MS a step,
 * and ends at once when the sandbox stops (sbx_send_all_stop). */
static int sbx_io_write(struct sbx_proxy *px, struct sbx_io *io,
			const char *p, size_t len)
{
	if (!io->tls)
		return sbx_send_all_stop(io->fd, px->stop[0], p, len);
	while (len > 0) {
		short want = POLLOUT;
		ssize_t n = io->ops->write(io->tls, p, len, &want);
		if (n == -EAGAIN) {
			if (sbx_wait(px, io->fd, want, SBX_IO_TIMEOUT_MS))
				return -ETIMEDOUT;
			continue;
		}
		if (n <= 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* No more from us on io: FIN, or TLS close_notify. */
static void sbx_io_shut_wr(struct sbx_io *io)
{
	if (io->tls)
		io->ops->shutdown(io->tls);
	else
		shutdown(io->fd, SHUT_WR);
}

static void sbx_io_reply(struct sbx_proxy *px, struct sbx_io *io, int code,
			 const char *reason, const char *why)
{
	char msg[512];
	size_t n = sbx_reply_text(msg, sizeof(msg), code, reason, why);

	if (n)
		sbx_io_write(px, io, msg, n);
}

/* Read until the blank line ending the head; returns the head length. */
static ssize_t sbx_read_head(struct sbx_proxy *px, struct sbx_io *io,
			     char *buf, size_t *have)
{
	*have = 0;
	while (*have < SBX_HEAD_MAX) {
		ssize_t n = sbx_io_read(px, io, buf + *have,
					SBX_HEAD_MAX - *have,
					SBX_IO_TIMEOUT_MS);
		if (n < 0)
			return n;
		if (n == 0)
			return -EPIPE;
		*have += (size_t)n;
		buf[*have] = '\0';
		char *end = strstr(buf, "\r\n\r\n");
		if (end)
			return end + 4 - buf;
	}
	return -E2BIG;
}

static bool sbx_v4_internal(uint32_t v)
{
	return (v >> 24) == 0 || (v >> 24) == 10 || (v >> 24) == 127 ||
	       (v >> 22) == (100u << 2 | 1) ||      /* 100.64/10, CGNAT */
	       (v >> 16) == (169u << 8 | 254) ||    /* 169.254/16 */
	       (v >> 20) == (172u << 4 | 1) ||      /* 172.16/12 */
	       (v >> 8) == (192u << 16 | 0 << 8 | 0) || /* 192.0.0/24 */
	       (v >> 16) == (192u << 8 | 168) ||    /* 192.168/16 */
	       (v >> 17) == (198u << 7 | 18 >> 1) || /* 198.18/15 */
	       (v >> 28) >= 14;                     /* 224/4, 240/4, bcast */
}

static uint32_t sbx_v4_at(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

/*
 * Addresses a registry name must never lead to: unspecified, loopback,
 * private, shared (CGNAT), link-local (cloud metadata lives at
 * 169.254.169.254 and fe80::), multicast, broadcast and reserved ranges;
 * in IPv6 also unique-local and site-local, and every form that carries
 * an IPv4 address inside (mapped, compatible, NAT64 64:ff9b::/96, 6to4
 * 2002::/16), judged by that IPv4 address. The local-use NAT64 prefix
 * 64:ff9b:1::/48 and the deprecated IPv4-compatible ::/96 are refused
 * whole.
 */
bool sbx_addr_internal(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return sbx_v4_internal(ntohl(
			((const struct sockaddr_in *)sa)->sin_addr.s_addr));
	if (sa->sa_family != AF_INET6)
		return true;

	const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	const uint8_t *b = a->s6_addr;
	static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b };
	static const uint8_t nat64_local[6] = { 0, 0x64, 0xff, 0x9b, 0, 1 };
	static const uint8_t zero[12];

	if (IN6_IS_ADDR_V4MAPPED(a) || memcmp(b, nat64, 12) == 0)
		return sbx_v4_internal(sbx_v4_at(b + 12));
	if (memcmp(b, zero, 12) == 0) /* ::, ::1, and ::a.b.c.d */
		return true;
	if (memcmp(b, nat64_local, 6) == 0)
		return true;
	if (b[0] == 0x20 && b[1] == 0x02) /* 6to4 */
		return sbx_v4_internal(sbx_v4_at(b + 2));
	return IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_SITELOCAL(a) ||
	       IN6_IS_ADDR_MULTICAST(a) ||
	       (b[0] & 0xfe) == 0xfc; /* fc00::/7, unique local */
}

/*
 * One name lookup, shared by the connection that waits for it and the
 * thread that runs getaddrinfo; the last of the two to let go frees it.
 */
struct sbx_lookup {
	atomic_int refs;
	int done[2]; /* the lookup thread writes one byte when finished */
	char host[256], svc[8];
	struct addrinfo *res;
	int gai;
};

static void sbx_lookup_put(struct sbx_lookup *l)
{
	if (atomic_fetch_sub(&l->refs, 1) != 1)
		return;
	if (l->res)
		freeaddrinfo(l->res);
	close(l->done[0]);
	close(l->done[1]);
	free(l);
}

static void *sbx_lookup_main(void *arg)
{
	struct sbx_lookup *l = arg;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };

	l->gai = getaddrinfo(l->host, l->svc, &hints, &l->res);
	if (l->gai != 0)
		l->res = NULL;
	if (write(l->done[1], "d", 1) < 0)
		l->gai = EAI_SYSTEM;
	sbx_lookup_put(l);
	return NULL;
}

/*
 * getaddrinfo on a detached thread, waited for with the stop pipe and a
 * time limit: the blocking resolver never holds up the proxy's teardown.
 * Returns 0 with *out, or -EHOSTUNREACH / -ETIMEDOUT / -ECANCELED.
 */
static int sbx_lookup(struct sbx_proxy *px, const char *host,
		      const char *svc, struct addrinfo **out)
{
	struct sbx_lookup *l = calloc(1, sizeof(*l));
	pthread_attr_t at;
	pthread_t th;
	int rc = -ENOMEM;

	*out = NULL;
	if (!l)
		return rc;
	atomic_init(&l->refs, 2);
	al_strlcpy(l->host, host, sizeof(l->host));
	al_strlcpy(l->svc, svc, sizeof(l->svc));
	if (pipe2(l->done, O_CLOEXEC) != 0) {
		free(l);
		return -errno;
	}
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &at, sbx_lookup_main, l) != 0) {
		atomic_store(&l->refs, 1);
		rc = -EAGAIN;
		goto out;
	}
	struct pollfd p[2] = { { l->done[0], POLLIN, 0 },
			       { px->stop[0], POLLIN, 0 } };
	int n;
	while ((n = poll(p, 2, SBX_RESOLVE_TIMEOUT_MS)) < 0 && errno == EINTR)
		;
	if (n > 0 && p[1].revents)
		rc = -ECANCELED;
	else if (n <= 0)
		rc = -ETIMEDOUT;
	else if (l->gai != 0)
		rc = -EHOSTUNREACH;
	else {
		*out = l->res;
		l->res = NULL;
		rc = 0;
	}
out:
	pthread_attr_destroy(&at);
	sbx_lookup_put(l);
	return rc;
}

/*
 * Resolve host here, never in the sandbox. An IP literal is taken as
 * written: it can only get here by being on the allow list itself, as
 * written (the operator's choice, such as a loopback test registry). A
 * name that resolves only to internal addresses is refused: a registry
 * name pointed at loopback or at a metadata service by DNS must not
 * open a way there. *why says why on failure.
 */
static int sbx_resolve(struct sbx_proxy *px, const char *host,
		       unsigned port, struct addrinfo **out, bool *literal,
		       const char **why)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST };
	unsigned char tmp[sizeof(struct in6_addr)];
	char svc[8];
	int rc;

	*literal = inet_pton(AF_INET, host, tmp) == 1 ||
		   inet_pton(AF_INET6, host, tmp) == 1;
	snprintf(svc, sizeof(svc), "%u", port);
	if (*literal)
		rc = getaddrinfo(host, svc, &hints, out) ? -EHOSTUNREACH : 0;
	else
		rc = sbx_lookup(px, host, svc, out);
	if (rc) {
		*out = NULL;
		*why = rc == -ETIMEDOUT ? "the name did not resolve in time"
		     : rc == -ECANCELED ? "the sandbox ended"
					: "the name does not resolve";
		return rc;
	}
	if (*literal)
		return 0;
	for (struct addrinfo *ai = *out; ai; ai = ai->ai_next)
		if (!sbx_addr_internal(ai->ai_addr))
			return 0;
	freeaddrinfo(*out);
	*out = NULL;
	*why = "the name resolves only to loopback, private, link-local or "
	       "reserved addresses";
	return -EACCES;
}

/*
 * The relay passes each chunk on as it arrives, so a small one (a TLS
 * record, a request line) held back by Nagle's algorithm until the peer
 * acknowledges the previous one costs a round trip, or a delayed-ACK
 * timeout, per exchange. npm's own sockets set TCP_NODELAY too.
 */
static void sbx_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Connect from the daemon's namespace, with a timeout, to the first
 * address that answers (internal ones skipped unless literal). */
static int sbx_dial(struct sbx_proxy *px, const struct addrinfo *res,
		    bool literal)
{
	int fd = -1;

	for (const struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		if (!literal && sbx_addr_internal(ai->ai_addr))
			continue;
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
						   SOCK_NONBLOCK, 0);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 &&
		    errno != EINPROGRESS) {
			close(fd);
			fd = -1;
			continue;
		}
		struct pollfd p[2] = { { fd, POLLOUT, 0 },
				       { px->stop[0], POLLIN, 0 } };
		int err = 0;
		socklen_t el = sizeof(err);
		if (poll(p, 2, SBX_IO_TIMEOUT_MS) <= 0 || p[1].revents ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) || err) {
			close(fd);
			fd = -1;
		}
	}
	if (fd >= 0) {
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		sbx_nodelay(fd);
	}
	return fd >= 0 ? fd : -ECONNREFUSED;
}

/* A tunnel or request ended by a limit: say which, with the job id. */
static void sbx_cut(struct sbx_proxy *px, const char *object,
		    const char *why)
{
	al_warn(SBX_MOD, px->job, "proxy cut %s: %s", object, why);
	al_event(px->events, "proxy.cut", object,
		 json_pack("{s:s?, s:s}", "job", px->job, "reason", why));
}

/* Count n relayed bytes; false once the sandbox's budget is spent. */
static bool sbx_spend(struct sbx_proxy *px, size_t n)
{
	return atomic_fetch_add(&px->bytes, n) + n <= px->max_bytes;
}

/*
 * Copy both ways (or from b to a only) until both sides are done or
 * the sandbox stops; cut the tunnel when it carried nothing for the
 * idle limit or the sandbox's byte budget runs out. A TLS side may hold
 * decrypted bytes that poll cannot see: those are read first.
 */
static void sbx_relay(struct sbx_proxy *px, struct sbx_io *a,
		      struct sbx_io *b, const char *object, bool one_way)
{
	char buf[16384];
	struct sbx_io *io[2] = { a, b };
	/* one_way: nothing more of a's goes to b (the request that got
	 * the credential is the connection's last). */
	bool open_in[2] = { !one_way, true };

	a->want = b->want = POLLIN;
	while (open_in[0] || open_in[1]) {
		bool ready[2];
		for (int i = 0; i < 2; i++)
			ready[i] = open_in[i] && io[i]->tls &&
				   io[i]->ops->pending(io[i]->tls);
		bool buffered = ready[0] || ready[1];
		struct pollfd p[3] = { { open_in[0] ? a->fd : -1, a->want, 0 },
				       { open_in[1] ? b->fd : -1, b->want, 0 },
				       { px->stop[0], POLLIN, 0 } };
		int n = poll(p, 3, buffered ? 0 : px->idle_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 && !buffered)
			sbx_cut(px, object, "idle past the limit");
		if (n < 0 || (n == 0 && !buffered) || p[2].revents)
			return;
		for (int i = 0; i < 2; i++) {
			if (!open_in[i] || (!ready[i] && !p[i].revents))
				continue;
			ssize_t r = sbx_io_try(io[i], buf, sizeof(buf));
			if (r == -EAGAIN)
				continue;
			if (r <= 0) {
				open_in[i] = false;
				sbx_io_shut_wr(io[1 - i]);
				continue;
			}
			if (!sbx_spend(px, (size_t)r)) {
				sbx_cut(px, object, "the sandbox's proxy byte "
					"budget is used up");
				return;
			}
			if (sbx_io_write(px, io[1 - i], buf, (size_t)r))
				return;
		}
	}
}

/*
 * The head for the origin server: origin-form target, no proxy or
 * connection headers, and "Connection: close". With strip_auth, no
 * Authorization header of the client's either; auth (may be NULL) is
 * then the only one.
 */
static int sbx_rewrite_head(const struct sbx_req *rq, const char *head,
			    bool strip_auth, const char *auth,
			    struct al_buf *out)
{
	const char *eol = strstr(head, "\r\n");
	static const char *const drop[] = { "proxy-connection:",
					    "proxy-authorization:",
					    "connection:", "keep-alive:",
					    "host:", "authorization:" };
	size_t ndrop = AL_ARRAY_LEN(drop) - (strip_auth ? 0 : 1);
	bool v6 = strchr(rq->host, ':') != NULL;
	/* Host names the checked destination, never what the client says:
	 * a shared front end must not route to another site. */
	int rc = al_buf_printf(out, "%s %.*s %.*s\r\nHost: %s%s%s:%u",
			       rq->method, (int)rq->path_len, rq->path,
			       (int)rq->version_len, rq->version,
			       v6 ? "[" : "", rq->host, v6 ? "]" : "",
			       rq->port);

	for (const char *l = eol + 2; rc == 0 && strncmp(l, "\r\n", 2);) {
		const char *e = strstr(l, "\r\n");
		bool keep = true;
		for (size_t i = 0; i < ndrop; i++)
			if (strncasecmp(l, drop[i], strlen(drop[i])) == 0)
				keep = false;
		if (keep)
			rc = al_buf_printf(out, "\r\n%.*s", (int)(e - l), l);
		l = e + 2;
	}
	if (rc == 0 && strip_auth && auth)
		rc = al_buf_printf(out, "\r\nAuthorization: %s", auth);
	if (rc == 0)
		rc = al_buf_puts(out, "\r\nConnection: close\r\n\r\n");
	return rc;
}

/* A header's name: a token of RFC 9110 (letters, digits, !#$%&'*+-.^_`|~). */
static bool sbx_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' &&
					  (c | 0x20) <= 'z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A Host header's value must name the target itself. */
static bool sbx_host_matches(const struct sbx_req *rq, const char *v,
			     size_t len)
{
	char host[256];
	unsigned port;

	while (len && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	return sbx_split_hostport(v, len, host, sizeof(host), rq->dflt_port,
				  &port) == 0
	       && !strcasecmp(host, rq->host) && port == rq->port;
}

/*
 * A request for the credential's origin is read strictly before the
 * credential is added, so that the server cannot read it differently
 * from us: every line ends in CRLF (a bare CR or LF might be a line
 * break to the server and not to us), no folded lines, every header a
 * token and a colon, at most one Host and it names the target; and when
 * the credential is added (GET, HEAD), no body, since a Content-Length
 * or Transfer-Encoding could make the server read what follows as a
 * request of its own. NULL, or why the request is refused.
 */
static const char *sbx_head_strict(const struct sbx_req *rq,
				   const char *head, size_t hlen, bool inject)
{
	const char *l = strstr(head, "\r\n") + 2, *end = head + hlen - 2;
	unsigned hosts = 0;

	for (size_t i = 0; i < hlen; i++)
		if ((head[i] == '\r' && head[i + 1] != '\n') ||
		    (head[i] == '\n' && (i == 0 || head[i - 1] != '\r')))
			return "a bare CR or LF in the request head";
	for (const char *e; l < end; l = e + 2) {
		e = strstr(l, "\r\n");
		const char *colon = memchr(l, ':', (size_t)(e - l));
		if (!colon || colon == l)
			return "a header line without a name";
		for (const char *c = l; c < colon; c++)
			if (!sbx_tchar((unsigned char)*c))
				return "a header name that is not a token";
		size_t nl = (size_t)(colon - l);
		if (nl == 4 && !strncasecmp(l, "host", 4) &&
		    (++hosts > 1 || !sbx_host_matches(rq, colon + 1,
						      (size_t)(e - colon - 1))))
			return "the Host header names another destination";
		if (inject && ((nl == 14 && !strncasecmp(l, "content-length",
							 14)) ||
			       (nl == 17 && !strncasecmp(l, "transfer-encoding",
							 17))))
			return "a body on a request that gets the credential";
	}
	return NULL;
}

/* "host:port", an IPv6 literal in brackets: the object of events. */
static void sbx_object(const struct sbx_req *rq, char *out, size_t outsz)
{
	bool v6 = strchr(rq->host, ':') != NULL;

	snprintf(out, outsz, "%s%s%s:%u", v6 ? "[" : "", rq->host,
		 v6 ? "]" : "", rq->port);
}

/*
 * Count one decision, and make it an event (and a log line) only while
 * its kind is under SBX_PROXY_EACH_MAX: a payload can open thousands of
 * connections a second, and every event is a sealed audit entry on the
 * host's disk, outside the job's caps. What is not recorded one by one
 * is summed up by sbx_proxy_summary.
 */
static int sbx_note(struct sbx_proxy *px, bool ok, const char *object,
		    const char *method, const char *why)
{
	struct sbx_proxy_kind *k = NULL;
	bool record = false;

	atomic_fetch_add(ok ? &px->allowed : &px->denied, 1);
	pthread_mutex_lock(&px->mu);
	for (unsigned i = 0; i < px->nkinds && !k; i++) {
		struct sbx_proxy_kind *e = &px->kinds[i];
		if (e->ok == ok && !strcmp(e->object, object) &&
		    !strcmp(e->why, why ? why : ""))
			k = e;
	}
	if (!k && px->nkinds < SBX_PROXY_KINDS_MAX) {
		k = &px->kinds[px->nkinds++];
		k->ok = ok;
		al_strlcpy(k->object, object, sizeof(k->object));
		al_strlcpy(k->method, method ? method : "", sizeof(k->method));
		al_strlcpy(k->why, why ? why : "", sizeof(k->why));
	}
	if (k)
		record = ++k->n <= SBX_PROXY_EACH_MAX;
	else
		px->over[ok ? 1 : 0]++;
	pthread_mutex_unlock(&px->mu);
	if (!record)
		return 0;
	if (ok)
		al_debug(SBX_MOD, px->job, "proxy allow %s", object);
	else
		al_warn(SBX_MOD, px->job, "proxy deny %s: %s", object,
			why ? why : "refused");
	return al_event(px->events, ok ? "proxy.allow" : "proxy.deny", object,
			json_pack("{s:s?, s:s?, s:s?}", "job", px->job,
				  "method", method, "reason", why));
}

/* One event for each kind past its limit, with how many were not
 * recorded one by one; one more for kinds past the distinct cap. */
static void sbx_proxy_summary(struct sbx_proxy *px)
{
	for (unsigned i = 0; i < px->nkinds; i++) {
		const struct sbx_proxy_kind *k = &px->kinds[i];
		if (k->n <= SBX_PROXY_EACH_MAX)
			continue;
		unsigned more = k->n - SBX_PROXY_EACH_MAX;
		al_warn(SBX_MOD, px->job, "proxy %s %s: %u more times",
			k->ok ? "allowed" : "denied", k->object, more);
		al_event(px->events, k->ok ? "proxy.allow" : "proxy.deny",
			 k->object,
			 json_pack("{s:s?, s:s?, s:s?, s:i}", "job", px->job,
				   "method", k->method[0] ? k->method : NULL,
				   "reason", k->why[0] ? k->why : NULL,
				   "repeats", (json_int_t)more));
	}
	for (int ok = 0; ok < 2; ok++) {
		if (!px->over[ok])
			continue;
		al_warn(SBX_MOD, px->job, "proxy %s %u requests to other "
			"destinations", ok ? "allowed" : "denied",
			px->over[ok]);
		al_event(px->events, ok ? "proxy.allow" : "proxy.deny", "other",
			 json_pack("{s:s?, s:s, s:i}", "job", px->job,
				   "reason", "more distinct destinations than "
				   "recorded one by one", "repeats",
				   (json_int_t)px->over[ok]));
	}
}

/* How often the credential was added: one event, naming it by id. */
static void sbx_proxy_auth_summary(struct sbx_proxy *px)
{
	unsigned n = atomic_load(&px->authed);

	if (!px->auth_value)
		return;
	al_info(SBX_MOD, px->job, "proxy added credential=%s to %u "
		"requests for %s", px->auth_id ? px->auth_id : "-", n,
		px->auth_origin);
	al_event(px->events, "proxy.credential", px->auth_origin,
		 json_pack("{s:s?, s:s?, s:i}", "job", px->job, "credential",
			   px->auth_id, "requests", (json_int_t)n));
}

static int sbx_decide(struct sbx_proxy *px, const struct sbx_req *rq,
		      bool ok, const char *why)
{
	char object[300];

	sbx_object(rq, object, sizeof(object));
	return sbx_note(px, ok, object, rq->method, why);
}

static void sbx_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* A TLS handshake on io, waited for with the usual limits; why says
 * what failed. */
static int sbx_io_handshake(struct sbx_proxy *px, struct sbx_io *io,
			    char *why, size_t whysz)
{
	for (;;) {
		short want = POLLIN;
		int rc = io->ops->handshake(io->tls, &want, why, whysz);
		if (rc != -EAGAIN)
			return rc;
		rc = sbx_wait(px, io->fd, want, SBX_IO_TIMEOUT_MS);
		if (rc) {
			snprintf(why, whysz, "%s", rc == -ETIMEDOUT
				 ? "timed out" : "the sandbox ended");
			return rc;
		}
	}
}

/*
 * The one request of a TLS connection the proxy ended (sbx_serve_tls):
 * read and checked like an absolute-form request for the credential's
 * origin, its target a path on the CONNECT's host and port, then sent
 * to the registry over up; the answer, and for a request without the
 * credential what follows it, relayed as is.
 */
static void sbx_serve_inner(struct sbx_proxy *px, const struct sbx_req *crq,
			    struct sbx_io *down, struct sbx_io *up,
			    const char *object)
{
	char *buf = malloc(SBX_HEAD_MAX + 1);
	struct sbx_req rq = *crq;
	struct al_buf fwd = { 0 };
	size_t have = 0;
	const char *bad;

	if (!buf)
		return;
	ssize_t hlen = sbx_read_head(px, down, buf, &have);
	if (hlen < 0)
		goto out;
	if (sbx_parse_request(buf, &rq, true)) {
		sbx_note(px, false, "malformed", NULL, NULL);
		sbx_io_reply(px, down, 400, "Bad Request",
			     "airlock: malformed request");
		goto out;
	}
	bool inject = !strcmp(rq.method, "GET") || !strcmp(rq.method, "HEAD");
	bad = sbx_head_strict(&rq, buf, (size_t)hlen, inject);
	if (bad) {
		sbx_decide(px, &rq, false, bad);
		sbx_io_reply(px, down, 400, "Bad Request",
			     "airlock: request refused");
		goto out;
	}
	if (sbx_rewrite_head(&rq, buf, true, inject ? px->auth_value : NULL,
			     &fwd) ||
	    sbx_io_write(px, up, fwd.p, fwd.len))
		goto out;
	if (inject)
		atomic_fetch_add(&px->authed, 1);
	if (have > (size_t)hlen && !inject &&
	    (!sbx_spend(px, have - (size_t)hlen) ||
	     sbx_io_write(px, up, buf + hlen, have - (size_t)hlen)))
		goto out;
	sbx_relay(px, down, up, object, inject);
out:
	if (fwd.p)
		explicit_bzero(fwd.p, fwd.len); /* may hold the credential */
	al_buf_free(&fwd);
	free(buf);
}

/*
 * A CONNECT to the credential's https origin (sbx_spec.auth_tls): the
 * proxy is the TLS client of the registry and the TLS server of the
 * payload. The registry's side comes first, so that a registry whose
 * certificate or name does not check out gets nothing at all, and the
 * payload a 502 saying so; only then is the CONNECT an allow decision.
 */
static void sbx_serve_tls(struct sbx_proxy *px, const struct sbx_req *rq,
			  int cfd, int ufd)
{
	static const char ok200[] =
		"HTTP/1.1 200 Connection established\r\n\r\n";
	const struct sbx_tls *t = px->auth_tls;
	struct sbx_io up = { ufd, NULL, t->ops, POLLIN };
	struct sbx_io down = { cfd, NULL, t->ops, POLLIN };
	char why[200], reason[240], object[300];

	sbx_object(rq, object, sizeof(object));
	sbx_nonblock(ufd);
	up.tls = t->ops->open(t, ufd, false);
	if (!up.tls)
		snprintf(why, sizeof(why), "cannot start");
	if (!up.tls || sbx_io_handshake(px, &up, why, sizeof(why))) {
		snprintf(reason, sizeof(reason), "the registry's TLS: %s", why);
		sbx_decide(px, rq, false, reason);
		sbx_reply(cfd, 502, "Bad Gateway", "airlock: the registry's "
			  "TLS certificate or name did not check out");
		goto out;
	}
	if (sbx_decide(px, rq, true, NULL) != 0 ||
	    sbx_send_all(cfd, ok200, sizeof(ok200) - 1))
		goto out;
	sbx_nonblock(cfd);
	down.tls = t->ops->open(t, cfd, true);
	if (!down.tls)
		snprintf(why, sizeof(why), "cannot start");
	if (!down.tls || sbx_io_handshake(px, &down, why, sizeof(why))) {
		al_debug(SBX_MOD, px->job, "proxy %s: the sandbox's TLS "
			 "handshake failed: %s", object, why);
		goto out;
	}
	sbx_serve_inner(px, rq, &down, &up, object);
out:
	for (struct sbx_io *io = &up; io; io = io == &up ? &down : NULL)
		if (io->tls) {
			io->ops->shutdown(io->tls);
			io->ops->close(io->tls);
		}
}

static void sbx_serve(struct sbx_proxy *px, int cfd)
{
	char object[300];
	char *buf = malloc(SBX_HEAD_MAX + 1);
	struct sbx_req rq = { 0 };
	struct al_buf fwd = { 0 };
	struct addrinfo *addrs = NULL;
	struct sbx_io down = { cfd, NULL, NULL, POLLIN };
	struct sbx_io up = { -1, NULL, NULL, POLLIN };
	size_t have = 0;
	int ufd = -1;

	if (!buf)
		return;
	ssize_t hlen = sbx_read_head(px, &down, buf, &have);
	if (hlen < 0)
		goto out;
	if (sbx_parse_request(buf, &rq, false)) {
		sbx_note(px, false, "malformed", NULL, NULL);
		sbx_reply(cfd, 400, "Bad Request",
			  "airlock: malformed request");
		goto out;
	}
	const char *why = NULL;
	bool literal = false;
	bool ok = sbx_proxy_allowed(px->allow, rq.host, rq.port);
	/* The credential's origin is decided on the checked target, never
	 * on a header the client wrote. */
	const char *const origin[] = { px->auth_origin, NULL };
	bool at_origin = px->auth_value &&
			 sbx_proxy_allowed(origin, rq.host, rq.port);
	/* An https origin's credential travels inside the proxy's own TLS
	 * only (sbx_serve_tls): a plain request to that host and port
	 * would carry it in clear text, so it is refused outright. */
	bool plain_to_tls = !rq.connect && at_origin && px->auth_tls;
	bool cred = !rq.connect && at_origin && !px->auth_tls;
	/* A CONNECT to an https origin with a credential: the proxy ends
	 * its TLS (sbx_serve_tls); to any other place, a tunnel. */
	bool tls = rq.connect && at_origin && px->auth_tls;
	bool inject = cred && (!strcmp(rq.method, "GET") ||
			       !strcmp(rq.method, "HEAD"));
	if (!ok) {
		why = "not in the allow list";
	} else if (plain_to_tls) {
		why = "plain HTTP to the https registry";
	} else if (cred &&
		   (why = sbx_head_strict(&rq, buf, (size_t)hlen, inject))) {
		sbx_decide(px, &rq, false, why);
		sbx_reply(cfd, 400, "Bad Request", "airlock: request refused");
		goto out;
	} else if (tls && have > (size_t)hlen) {
		/* TLS bytes before the tunnel's answer: npm never sends
		 * them, and the proxy's TLS server starts after it. */
		why = "data before the tunnel was established";
	} else if (atomic_load(&px->bytes) >= px->max_bytes)
		why = "the sandbox's proxy byte budget is used up";
	else
		ok = sbx_resolve(px, rq.host, rq.port, &addrs, &literal,
				 &why) == 0;
	if (why)
		ok = false;
	if ((!ok || !tls) && (sbx_decide(px, &rq, ok, why) != 0 || !ok)) {
		sbx_reply(cfd, 403, "Forbidden",
			  "airlock: destination not allowed");
		goto out;
	}
	ufd = sbx_dial(px, addrs, literal);
	if (ufd < 0) {
		if (tls)
			sbx_decide(px, &rq, false, "cannot connect");
		sbx_reply(cfd, 502, "Bad Gateway", "airlock: cannot connect");
		goto out;
	}
	up.fd = ufd;
	if (tls) {
		sbx_serve_tls(px, &rq, cfd, ufd);
		goto out;
	}
	if (rq.connect) {
		static const char ok200[] =
			"HTTP/1.1 200 Connection established\r\n\r\n";
		if (sbx_send_all(cfd, ok200, sizeof(ok200) - 1))
			goto out;
	} else if (sbx_rewrite_head(&rq, buf, cred,
				    inject ? px->auth_value : NULL, &fwd) ||
		   sbx_send_all_stop(ufd, px->stop[0], fwd.p, fwd.len)) {
		goto out;
	}
	if (inject)
		atomic_fetch_add(&px->authed, 1);
	/* Bytes the client sent after the head (body or TLS hello); after
	 * a request that got the credential, nothing more is sent. */
	if (have > (size_t)hlen && !inject &&
	    (!sbx_spend(px, have - (size_t)hlen) ||
	     sbx_send_all_stop(ufd, px->stop[0], buf + hlen,
			       have - (size_t)hlen)))
		goto out;
	sbx_object(&rq, object, sizeof(object));
	sbx_relay(px, &down, &up, object, inject);
out:
	if (addrs)
		freeaddrinfo(addrs);
	if (ufd >= 0)
		close(ufd);
	if (fwd.p)
		explicit_bzero(fwd.p, fwd.len); /* may hold the credential */
	al_buf_free(&fwd);
	free(buf);
}

static void *sbx_conn_main(void *arg)
{
	struct sbx_proxy_conn *c = arg;

	sbx_serve(c->px, c->cfd);
	close(c->cfd);
	atomic_store(&c->done, true);
	return NULL;
}

/* Join finished connection threads; with all, join every one. */
static void sbx_reap_conns(struct sbx_proxy *px, bool all)
{
	for (unsigned i = 0; i < px->nconns; i++) {
		struct sbx_proxy_conn *c = &px->conns[i];
		if (c->used && (all || atomic_load(&c->done))) {
			pthread_join(c->th, NULL);
			c->used = false;
		}
	}
}

static void sbx_accept_one(struct sbx_proxy *px)
{
	int cfd = accept4(px->lfd, NULL, NULL, SOCK_CLOEXEC);
	struct sbx_proxy_conn *c = NULL;

	if (cfd < 0)
		return;
	sbx_nodelay(cfd);
	sbx_reap_conns(px, false);
	for (unsigned i = 0; i < px->nconns && !c; i++)
		if (!px->conns[i].used)
			c = &px->conns[i];
	if (!c) {
		char why[80];
		snprintf(why, sizeof(why), "more than %u connections at once",
			 px->nconns);
		sbx_note(px, false, "connection", NULL, why);
		sbx_reply(cfd, 503, "Service Unavailable",
			  "airlock: too many connections");
		close(cfd);
		return;
	}
	c->cfd = cfd;
	c->px = px;
	atomic_store(&c->done, false);
	if (pthread_create(&c->th, NULL, sbx_conn_main, c) != 0) {
		sbx_reply(cfd, 503, "Service Unavailable", "airlock: busy");
		close(cfd);
		return;
	}
	c->used = true;
}

static void *sbx_proxy_main(void *arg)
{
	struct sbx_proxy *px = arg;

	for (;;) {
		struct pollfd p[2] = { { px->lfd, POLLIN, 0 },
				       { px->stop[0], POLLIN, 0 } };
		int n = poll(p, 2, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || p[1].revents)
			break;
		if (p[0].revents)
			sbx_accept_one(px);
	}
	/* Every connection thread also polls the stop pipe. */
	sbx_reap_conns(px, true);
	return NULL;
}

int sbx_proxy_start(struct sbx_proxy *px, int lfd,
		    const struct sbx_spec *spec)
{
	int rc;

	memset(px, 0, sizeof(*px));
	px->lfd = lfd;
	px->allow = spec->allow;
	px->job = spec->job_id;
	px->events = spec->events;
	px->max_bytes = spec->proxy_max_bytes;
	px->idle_ms = (int)spec->proxy_idle_s * 1000;
	px->nconns = spec->proxy_max_conns;
	px->auth_origin = spec->auth_origin;
	px->auth_value = spec->auth_origin ? spec->auth_value : NULL;
	px->auth_id = spec->auth_id;
	px->auth_tls = spec->auth_origin ? spec->auth_tls : NULL;
	px->stop[0] = px->stop[1] = -1;
	pthread_mutex_init(&px->mu, NULL);
	px->conns = calloc(px->nconns, sizeof(*px->conns));
	px->kinds = calloc(SBX_PROXY_KINDS_MAX, sizeof(*px->kinds));
	if (!px->conns || !px->kinds) {
		rc = -ENOMEM;
		goto fail;
	}
	if (pipe2(px->stop, O_CLOEXEC) != 0) {
		rc = -errno;
		goto fail;
	}
	rc = -pthread_create(&px->th, NULL, sbx_proxy_main, px);
	if (rc)
		goto fail;
	px->running = true;
	return 0;
fail:
	for (int i = 0; i < 2; i++)
		if (px->stop[i] >= 0)
			close(px->stop[i]);
	free(px->conns);
	px->conns = NULL;
	free(px->kinds);
	px->kinds = NULL;
	pthread_mutex_destroy(&px->mu);
	close(lfd);
	px->lfd = -1;
	return rc;
}

void sbx_proxy_stop(struct sbx_proxy *px)
{
	if (!px->running)
		return;
	/* Never read: the pipe stays readable for every poller. */
	if (write(px->stop[1], "x", 1) < 0)
		al_error(SBX_MOD, px->job, "proxy stop: %s", strerror(errno));
	pthread_join(px->th, NULL);
	sbx_proxy_summary(px);
	sbx_proxy_auth_summary(px);
	close(px->stop[0]);
	close(px->stop[1]);
	close(px->lfd);
	px->lfd = -1;
	free(px->conns);
	px->conns = NULL;
	free(px->kinds);
	px->kinds = NULL;
	pthread_mutex_destroy(&px->mu);
	px->running = false;
}
