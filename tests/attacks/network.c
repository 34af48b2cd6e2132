/*
 * network.c - THREATS.md "Network": reach something outside the sandbox.
 *
 *   network direct TARGET...
 *     Connect straight to each TARGET, bypassing any proxy:
 *       tcp:ADDR:PORT      TCP connect (ADDR IPv4, or [IPv6])
 *       tcp24:[V6]:PORT    the same with the 24-byte IPv6 address of
 *                          RFC 2133 (no scope id), which the kernel
 *                          accepts
 *       udp:ADDR:PORT      a datagram with sendto
 *       udpmsg:ADDR:PORT   a datagram with sendmsg and an address
 *       thread:ADDR:PORT   TCP connect from a second thread
 *       abstract:NAME      an abstract Unix socket
 *       unix:PATH          a Unix socket in the filesystem
 *     Stopped by the empty network namespace (only lo; abstract sockets
 *     belong to the namespace; host paths are not in the new root).
 *     netwatch records the outside ones; the test checks the record.
 *
 *   network proxy TARGET...
 *     Ask the registry-mode proxy on 127.0.0.1:3128 for each TARGET:
 *       HOST:PORT          CONNECT HOST:PORT
 *       http://HOST/PATH   an absolute-form GET
 *       ok:HOST:PORT       CONNECT that must succeed (the control case)
 *       bg:HOST:PORT       CONNECT left waiting, never read (a lookup
 *                          that hangs must not hold up the others)
 *     Stopped by the proxy's allow list and its address checks after
 *     resolution; the test checks the proxy.deny events and reasons.
 *
 * Every attempt prints "refused NAME: ..." or "ESCAPED NAME: ...".
 */
#include "attack.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* "ADDR:PORT" or "[V6]:PORT" into a sockaddr; 0 or -1. */
static int parse_addr(const char *s, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	size_t n;

	if (!colon || (n = (size_t)(colon - s)) >= sizeof(host))
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		host[n - 1] = '\0';
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
		*len = sizeof(*a);
		return inet_pton(AF_INET6, host + 1, &a->sin6_addr) == 1 ? 0
									 : -1;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
	*len = sizeof(*a);
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

static int tcp_connect(const char *target, int short6)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, rc;

	if (parse_addr(target, &ss, &len))
		return errno = EINVAL, -1;
	if (short6 && ss.ss_family == AF_INET6)
		len = 24; /* SIN6_LEN_RFC2133 */
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	rc = connect(fd, (struct sockaddr *)&ss, len);
	close(fd);
	return rc;
}

static int udp_send(const char *target, int use_msg)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char one = 'x';
	struct iovec iov = { &one, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fd;
	ssize_t n;

	if (parse_addr(target, &ss, &len))
		return errno = EINVAL, -1;
	fd = socket(ss.ss_family, SOCK_DGRAM, 0);
	if (fd < 0)
		return -1;
	mh.msg_name = &ss;
	mh.msg_namelen = len;
	n = use_msg ? sendmsg(fd, &mh, 0)
		    : sendto(fd, &one, 1, 0, (struct sockaddr *)&ss, len);
	close(fd);
	return n < 0 ? -1 : 0;
}

struct thread_try {
	const char *target;
	int rc, err;
};

static void *thread_main(void *arg)
{
	struct thread_try *t = arg;

	t->rc = tcp_connect(t->target, 0);
	t->err = errno;
	return NULL;
}

static int unix_connect(const char *name, int abstract)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(name);
	int fd, rc;

	if (n + 2 > sizeof(sa.sun_path))
		return errno = EINVAL, -1;
	memcpy(sa.sun_path + (abstract ? 1 : 0), name, n);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	rc = connect(fd, (struct sockaddr *)&sa,
		     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
				 (abstract ? 1 : 0)));
	close(fd);
	return rc;
}

static void direct(const char *arg)
{
	const char *colon = strchr(arg, ':');
	const char *what = colon ? colon + 1 : "";
	size_t kind = colon ? (size_t)(colon - arg) : 0;

	if (!strncmp(arg, "tcp", kind) && kind == 3) {
		ATTACK_EXPECT_FAIL(arg, tcp_connect(what, 0));
	} else if (!strncmp(arg, "tcp24", kind) && kind == 5) {
		ATTACK_EXPECT_FAIL(arg, tcp_connect(what, 1));
	} else if (!strncmp(arg, "udp", kind) && kind == 3) {
		ATTACK_EXPECT_FAIL(arg, udp_send(what, 0));
	} else if (!strncmp(arg, "udpmsg", kind) && kind == 6) {
		ATTACK_EXPECT_FAIL(arg, udp_send(what, 1));
	} else if (!strncmp(arg, "thread", kind) && kind == 6) {
		struct thread_try t = { what, 0, 0 };
		pthread_t th;
		if (pthread_create(&th, NULL, thread_main, &t) != 0) {
			attack_result(arg, 0, "no thread");
			return;
		}
		pthread_join(th, NULL);
		errno = t.err;
		ATTACK_EXPECT_FAIL(arg, t.rc);
	} else if (!strncmp(arg, "abstract", kind) && kind == 8) {
		ATTACK_EXPECT_FAIL(arg, unix_connect(what, 1));
	} else if (!strncmp(arg, "unix", kind) && kind == 4) {
		ATTACK_EXPECT_FAIL(arg, unix_connect(what, 0));
	} else {
		attack_result(arg, 0, "unknown target kind");
	}
}

/* Ask the proxy; the status code of its answer, or -1. With no_wait,
 * leave the request pending (the descriptor stays open until exit). */
static int proxy_ask(const char *req, int no_wait)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(3128),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char buf[512];
	size_t have = 0;
	int code = -1, fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		goto out;
	if (no_wait)
		return 0;
	while (have < sizeof(buf) - 1 && !memchr(buf, '\n', have)) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	buf[have] = '\0';
	if (!strncmp(buf, "HTTP/1.1 ", 9))
		code = (int)strtol(buf + 9, NULL, 10);
out:
	if (fd >= 0)
		close(fd);
	return code;
}

static void proxy(const char *arg)
{
	char req[600];
	int must_pass = !strncmp(arg, "ok:", 3);
	int no_wait = !strncmp(arg, "bg:", 3);
	const char *t = must_pass || no_wait ? arg + 3 : arg;

	if (!strncmp(t, "http://", 7))
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n",
			 t);
	else
		snprintf(req, sizeof(req), "CONNECT %s HTTP/1.1\r\n\r\n", t);
	int code = proxy_ask(req, no_wait);
	if (no_wait)
		printf("pending %s\n", t);
	else if (must_pass)
		printf("%s %s: %d\n", code == 200 ? "reached" : "UNREACHED", t,
		       code);
	else
		/* Only a refusal counts: 502 would mean the proxy tried. */
		attack_result(t, code == 403, "proxy answered %d", code);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[1], "direct"))
			direct(argv[i]);
		else if (!strcmp(argv[1], "proxy"))
			proxy(argv[i]);
		else
			return 2;
	}
	return attack_exit();
}
