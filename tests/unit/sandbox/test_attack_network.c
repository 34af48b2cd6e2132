/*
 * test_attack_network.c - THREATS.md "Network", with tests/attacks/
 * network.c as the payload of real sandboxes.
 *
 * none mode: host services on loopback (IPv4 and IPv6), on the host's
 * other addresses, on an abstract Unix socket and on a Unix socket in
 * the filesystem are unreachable, and the host listeners see nothing;
 * outside destinations are refused and recorded (net_attempts and a
 * net.refused event with the job id).
 *
 * registry mode: the proxy refuses names not on the list, IP literals,
 * loopback, private and link-local ranges, and names on the list that
 * resolve to them. That last part runs in a child in private mount and
 * network namespaces, with its own /etc/hosts, so no resolver outside
 * is asked and no packet can leave the machine even if a check fails.
 *
 * Then the proxy's limits: connections at once, bytes, idle time; and
 * the registry credential the proxy adds on the way out: only to GET and
 * HEAD requests whose target is the registry, in place of any the
 * payload sent, never to another destination whatever the Host header
 * says, never to a request smuggled behind it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "base/util.h"
#include "sandbox/internal.h"
#include "sandbox/sandbox.h"

#include "attack_run.h"

/* ---- helpers ---- */

/* Run /attacks/network with argv[1..]; r holds the result. */
static int run_network(struct sbx_spec *s, const char *const *args,
		       struct sbx_result *r)
{
	const char *dir = getenv("AL_ATTACKS_DIR");
	const char *argv[24] = { "/attacks/network" };
	struct sbx_bind b = { .src = dir, .dst = "/attacks" };
	size_t n = 1;
	int rc;

	if (!dir)
		return -EINVAL;
	for (; args[n - 1] && n < 23; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	s->binds = &b;
	s->nbinds = 1;
	s->argv = argv;
	rc = sbx_run(s, r);
	s->binds = NULL;
	s->nbinds = 0;
	s->argv = NULL;
	return rc;
}

static bool attempted(const struct sbx_result *r, const char *addr)
{
	for (unsigned i = 0; i < r->n_net_attempts; i++)
		if (strcmp(r->net_attempts[i], addr) == 0)
			return true;
	return false;
}

/* A listening socket of the host; nothing may ever connect to it. */
static int listen_on(int family, const void *addr, unsigned *port)
{
	struct sockaddr_storage ss = { .ss_family = (sa_family_t)family };
	socklen_t len;
	int one = 1, fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		memcpy(&a->sin_addr, addr, 4);
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		memcpy(&a->sin6_addr, addr, 16);
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		len = sizeof(*a);
	}
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					: ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

static int listen_unix(const char *path, bool abstract)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memcpy(sa.sun_path + (abstract ? 1 : 0), path, n);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa,
			      (socklen_t)(offsetof(struct sockaddr_un,
						   sun_path) + n +
					  (abstract ? 1 : 0))), 0);
	if (!abstract)
		assert_int_equal(chmod(path, 0777), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

/* Nobody connected: no pending connection on the listener. */
static bool untouched(int lfd)
{
	struct pollfd p = { lfd, POLLIN, 0 };

	return poll(&p, 1, 0) == 0;
}

/* The host's first IPv4 address that is not loopback, if any. */
static bool host_ipv4(struct in_addr *out)
{
	struct ifaddrs *ifs, *i;
	bool found = false;

	if (getifaddrs(&ifs) != 0)
		return false;
	for (i = ifs; i && !found; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
		    (i->ifa_flags & IFF_LOOPBACK))
			continue;
		*out = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
		found = true;
	}
	freeifaddrs(ifs);
	return found;
}

struct events {
	pthread_mutex_t mu;
	char log[16384];
};

static int remember(void *ctx, const char *action, const char *object,
		    json_t *details)
{
	struct events *ev = ctx;
	char line[512];
	const char *job = json_string_value(json_object_get(details, "job"));
	const char *why = json_string_value(json_object_get(details,
							    "reason"));

	snprintf(line, sizeof(line), "%s %s job=%s reason=%s\n", action,
		 object, job ? job : "-", why ? why : "-");
	pthread_mutex_lock(&ev->mu);
	size_t len = strlen(ev->log);
	al_strlcpy(ev->log + len, line, sizeof(ev->log) - len);
	pthread_mutex_unlock(&ev->mu);
	json_decref(details);
	return 0;
}

/* ---- none mode ---- */

static void test_none_reaches_nothing_and_records(void **state)
{
	struct events ev = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct al_event_sink sink = { remember, &ev };
	struct in_addr lo4 = { htonl(INADDR_LOOPBACK) }, any4 = { 0 }, me;
	unsigned p4, p6, pany;
	char dir[] = "/tmp/airlock-net-XXXXXX", upath[128], abs[64];
	char t[8][160];
	struct sbx_spec s;
	struct sbx_result r;

	int l4 = listen_on(AF_INET, &lo4, &p4);
	int l6 = listen_on(AF_INET6, &in6addr_loopback, &p6);
	int lany = listen_on(AF_INET, &any4, &pany);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0755), 0);
	snprintf(upath, sizeof(upath), "%s/sock", dir);
	snprintf(abs, sizeof(abs), "airlock-attack-%d", (int)getpid());
	int lu = listen_unix(upath, false);
	int la = listen_unix(abs, true);
	bool have_ip = host_ipv4(&me);
	char ip[INET_ADDRSTRLEN] = "192.0.2.1";
	if (have_ip)
		inet_ntop(AF_INET, &me, ip, sizeof(ip));

	snprintf(t[0], sizeof(t[0]), "tcp:127.0.0.1:%u", p4);
	snprintf(t[1], sizeof(t[1]), "tcp:[::1]:%u", p6);
	snprintf(t[2], sizeof(t[2]), "tcp:%s:%u", ip, pany);
	snprintf(t[3], sizeof(t[3]), "abstract:%s", abs);
	snprintf(t[4], sizeof(t[4]), "unix:%s", upath);
	snprintf(t[5], sizeof(t[5]), "tcp:[::ffff:203.0.113.9]:80");
	const char *args[] = { "direct", t[0], t[1], t[2], t[3], t[4], t[5],
			       "tcp:203.0.113.5:443", "udp:198.51.100.1:53",
			       "udpmsg:[2001:db8::1]:53",
			       "thread:192.0.2.77:22",
			       "tcp24:[2001:db8::24]:443", NULL };

	attack_spec(&s);
	s.events = &sink;
	assert_int_equal(run_network(&s, args, &r), 0);
	print_message("%s", r.output);
	assert_int_equal(r.exit_code, 0);
	assert_false(attack_said(&r, "ESCAPED"));

	/* Outside destinations: refused and recorded, each once. */
	char host_any[80];
	snprintf(host_any, sizeof(host_any), "%s:%u", ip, pany);
	assert_true(attempted(&r, host_any));
	assert_true(attempted(&r, "203.0.113.5:443"));
	assert_true(attempted(&r, "198.51.100.1:53"));
	assert_true(attempted(&r, "[2001:db8::1]:53"));
	assert_true(attempted(&r, "[::ffff:203.0.113.9]:80"));
	assert_true(attempted(&r, "192.0.2.77:22"));
	/* The kernel takes a 24-byte IPv6 address (RFC 2133, no scope
	 * id): it must not pass as "too short to be outside". */
	assert_true(attempted(&r, "[2001:db8::24]:443"));
	assert_int_equal(r.n_net_attempts, 7);
	assert_int_equal(r.net_attempts_total, 7);
	assert_non_null(strstr(ev.log, "net.refused 203.0.113.5:443 "
				       "job=attack"));
	/* The sandbox's own loopback is not "outside": not recorded. */
	assert_non_null(strstr(r.output, "refused tcp:127.0.0.1:"));
	json_t *j = sbx_result_json(&r);
	assert_int_equal(json_array_size(json_object_get(j, "net_attempts")),
			 7);
	json_decref(j);
	sbx_result_free(&r);

	/* None of the host's listeners saw a connection. */
	assert_true(untouched(l4));
	assert_true(untouched(l6));
	assert_true(untouched(lany));
	assert_true(untouched(lu));
	assert_true(untouched(la));
	close(l4);
	close(l6);
	close(lany);
	close(lu);
	close(la);
	unlink(upath);
	rmdir(dir);
}

/* The record is bounded: a payload that tries many addresses leaves at
 * most SBX_NET_ATTEMPTS_MAX entries (and events), and the total. */
static void test_none_record_is_bounded(void **state)
{
	char t[40][40];
	const char *args[23] = { "direct" };
	struct sbx_spec s;
	struct sbx_result r;

	for (int i = 0; i < 21; i++) {
		snprintf(t[i], sizeof(t[i]), "udp:203.0.113.%d:53", i + 1);
		args[i + 1] = t[i];
	}
	args[22] = NULL;
	attack_spec(&s);
	assert_int_equal(run_network(&s, args, &r), 0);
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(r.n_net_attempts, SBX_NET_ATTEMPTS_MAX);
	assert_int_equal(r.net_attempts_total, 21);
	sbx_result_free(&r);
}

/* ---- registry mode, in private mount and network namespaces ---- */

static const char fake_hosts[] =
	"127.0.0.1 localhost\n"
	"198.51.100.7 good.test\n"
	"10.0.0.1 private.test\n"
	"169.254.169.254 meta.test\n"
	"127.0.0.1 loop.test\n"
	"100.64.0.1 cgnat.test\n"
	"fd00::1 ula.test\n"
	"fe80::1 linklocal.test\n"
	"::ffff:10.0.0.1 mapped.test\n"
	"64:ff9b::a00:1 nat64.test\n"
	"198.51.100.7 notlisted.test\n";

static int fail_count;

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "check failed line %d: %s\n",      \
				__LINE__, #cond);                          \
			fail_count++;                                      \
		}                                                          \
	} while (0)

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t n = strlen(text);

	if (fd < 0)
		return -1;
	int rc = write(fd, text, n) == (ssize_t)n ? 0 : -1;
	close(fd);
	return rc;
}

/* Bind text over an /etc file in this (private) mount namespace. */
static int over(const char *dir, const char *name, const char *text)
{
	char src[256], dst[64];

	snprintf(src, sizeof(src), "%s/%s", dir, name);
	snprintf(dst, sizeof(dst), "/etc/%s", name);
	if (write_file(src, text) != 0)
		return -1;
	return mount(src, dst, NULL, MS_BIND, NULL);
}

/* lo up with 198.51.100.7 added: "good.test" is local to this netns. */
static int net_up(void)
{
	struct ifreq ifr = { 0 };
	struct sockaddr_in *a = (struct sockaddr_in *)&ifr.ifr_addr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;

	al_strlcpy(ifr.ifr_name, "lo", sizeof(ifr.ifr_name));
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0)
		rc = -1;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0)
		rc = -1;
	memset(&ifr, 0, sizeof(ifr));
	al_strlcpy(ifr.ifr_name, "lo:1", sizeof(ifr.ifr_name));
	a->sin_family = AF_INET;
	inet_pton(AF_INET, "198.51.100.7", &a->sin_addr);
	if (ioctl(fd, SIOCSIFADDR, &ifr) != 0)
		rc = -1;
	close(fd);
	return rc;
}

/* Accept and answer CONNECT-tunnelled bytes with "pong" until stop. */
struct pong {
	int lfd, stop[2];
	atomic_int conns;
	pthread_t th;
};

static void *pong_main(void *arg)
{
	struct pong *p = arg;

	for (;;) {
		struct pollfd f[2] = { { p->lfd, POLLIN, 0 },
				       { p->stop[0], POLLIN, 0 } };
		if (poll(f, 2, -1) < 0 || f[1].revents)
			break;
		int c = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		atomic_fetch_add(&p->conns, 1);
		close(c);
	}
	return NULL;
}

static int registry_child(const char *tmp)
{
	struct events ev = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct al_event_sink sink = { remember, &ev };
	struct in_addr good, lo4 = { htonl(INADDR_LOOPBACK) };
	struct pong pg = { 0 };
	unsigned gport, lport;
	char a[12][64], t[16][80];
	char want[160];
	struct sbx_spec s;
	struct sbx_result r;

	if (unshare(CLONE_NEWNS | CLONE_NEWNET) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    over(tmp, "hosts", fake_hosts) != 0 ||
	    over(tmp, "nsswitch.conf", "hosts: files dns\n") != 0 ||
	    over(tmp, "resolv.conf", "nameserver 127.0.0.1\n"
		 "options timeout:30 attempts:1\n") != 0 ||
	    net_up() != 0) {
		perror("namespace setup");
		return 3;
	}
	/* A name server that takes queries and never answers: a lookup of
	 * a name not in the hosts file hangs for 30 s. */
	int dns = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in dsa = { .sin_family = AF_INET,
				   .sin_port = htons(53),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (dns < 0 || bind(dns, (struct sockaddr *)&dsa, sizeof(dsa)) != 0)
		return 3;
	inet_pton(AF_INET, "198.51.100.7", &good);
	pg.lfd = listen_on(AF_INET, &good, &gport);
	int lloop = listen_on(AF_INET, &lo4, &lport);
	if (pipe2(pg.stop, O_CLOEXEC) != 0 ||
	    pthread_create(&pg.th, NULL, pong_main, &pg) != 0)
		return 3;

	snprintf(a[0], 64, "good.test:%u", gport);
	snprintf(a[1], 64, "loop.test:%u", lport);
	const char *allow[] = { a[0], a[1], "private.test:443",
				"meta.test:80", "cgnat.test:443",
				"ula.test:443", "linklocal.test:443",
				"mapped.test:443", "nat64.test:443",
				"slow.test:443", NULL };
	snprintf(t[0], 80, "ok:good.test:%u", gport);
	snprintf(t[1], 80, "loop.test:%u", lport);
	snprintf(t[2], 80, "127.0.0.1:%u", lport);
	snprintf(t[3], 80, "[::1]:%u", lport);
	snprintf(t[4], 80, "198.51.100.7:%u", gport); /* literal, unlisted */
	snprintf(t[5], 80, "notlisted.test:%u", gport);
	const char *args[] = { "proxy", "bg:slow.test:443", t[0], t[1], t[2], t[3], t[4], t[5],
			       "private.test:443", "meta.test:80",
			       "http://meta.test/latest/meta-data/",
			       "http://169.254.169.254/latest/meta-data/",
			       "cgnat.test:443", "ula.test:443",
			       "linklocal.test:443", "mapped.test:443",
			       "nat64.test:443", "10.0.0.1:443", NULL };

	attack_spec(&s);
	s.net = SBX_NET_REGISTRY;
	s.allow = allow;
	s.events = &sink;
	CHECK(run_network(&s, args, &r) == 0);
	fprintf(stderr, "%s%s", r.output ? r.output : "", ev.log);
	CHECK(r.exit_code == 0);
	CHECK(!attack_said(&r, "ESCAPED"));
	/* The control case: a listed name with a public address works. */
	CHECK(attack_said(&r, "reached good.test"));
	CHECK(atomic_load(&pg.conns) == 1);
	CHECK(r.proxy_allowed == 1);
	CHECK(r.proxy_denied == 16);
	/* The hanging lookup held up neither the other requests (all
	 * answered above) nor the teardown: it was abandoned, not waited
	 * for (waiting would have ended in "does not resolve"). */
	CHECK(strstr(ev.log, "proxy.deny slow.test:443 job=attack "
			     "reason=the sandbox ended") != NULL);
	struct pollfd dp = { dns, POLLIN, 0 };
	CHECK(poll(&dp, 1, 0) == 1); /* the query did arrive */
	snprintf(want, sizeof(want), "proxy.deny [::1]:%u job=attack "
		 "reason=not in the allow list", lport);
	CHECK(strstr(ev.log, want) != NULL);
	/* Listed names refused after resolution, with the reason. */
	static const char *const resolved[] = {
		"private.test:443", "meta.test:80", "cgnat.test:443",
		"ula.test:443", "linklocal.test:443", "mapped.test:443",
		"nat64.test:443",
	};
	for (size_t i = 0; i < AL_ARRAY_LEN(resolved); i++) {
		snprintf(want, sizeof(want), "proxy.deny %s job=attack "
			 "reason=the name resolves only to", resolved[i]);
		CHECK(strstr(ev.log, want) != NULL);
	}
	snprintf(want, sizeof(want), "proxy.deny loop.test:%u job=attack "
		 "reason=the name resolves only to", lport);
	CHECK(strstr(ev.log, want) != NULL);
	/* Unlisted names and literals: refused by the list. */
	snprintf(want, sizeof(want), "proxy.deny 127.0.0.1:%u job=attack "
		 "reason=not in the allow list", lport);
	CHECK(strstr(ev.log, want) != NULL);
	CHECK(strstr(ev.log, "proxy.deny 169.254.169.254:80 job=attack "
			     "reason=not in the allow list") != NULL);
	CHECK(strstr(ev.log, "proxy.deny 10.0.0.1:443 job=attack "
			     "reason=not in the allow list") != NULL);
	snprintf(want, sizeof(want), "proxy.allow good.test:%u job=attack",
		 gport);
	CHECK(strstr(ev.log, want) != NULL);
	/* The host's loopback service never saw a connection. */
	CHECK(untouched(lloop));
	sbx_result_free(&r);

	if (write(pg.stop[1], "x", 1) != 1)
		fail_count++;
	pthread_join(pg.th, NULL);
	close(pg.lfd);
	close(lloop);
	close(dns);
	return fail_count ? 1 : 0;
}

static void test_registry_refuses_internal_destinations(void **state)
{
	char tmp[] = "/tmp/airlock-nethosts-XXXXXX";
	int st = 0;

	assert_non_null(mkdtemp(tmp));
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(registry_child(tmp));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	char path[128];
	for (const char *n = "hosts"; n;
	     n = !strcmp(n, "hosts") ? "nsswitch.conf"
	       : !strcmp(n, "nsswitch.conf") ? "resolv.conf" : NULL) {
		snprintf(path, sizeof(path), "%s/%s", tmp, n);
		unlink(path);
	}
	rmdir(tmp);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_address_ranges(void **state)
{
	static const char *const internal[] = {
		"0.0.0.0", "10.1.2.3", "100.64.0.1", "100.127.255.255",
		"127.0.0.53", "169.254.169.254", "172.16.0.1", "172.31.9.9",
		"192.0.0.8", "192.168.1.1", "198.18.0.1", "198.19.255.1",
		"224.0.0.1", "239.1.1.1", "240.0.0.1", "255.255.255.255",
		"::", "::1", "::10.0.0.1", "::ffff:10.0.0.1",
		"::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe",
		"64:ff9b:1::1", "2002:a00:1::1", "fc00::1", "fdff::1",
		"fe80::1", "fec0::1", "ff02::1",
	};
	static const char *const outside[] = {
		"1.1.1.1", "100.63.255.255", "100.128.0.1", "172.15.0.1",
		"172.32.0.1", "192.0.2.1", "198.51.100.7", "203.0.113.5",
		"2001:db8::1", "2606:4700::1111", "::ffff:8.8.8.8",
		"64:ff9b::808:808", "2002:808:808::1",
	};

	for (int pass = 0; pass < 2; pass++) {
		const char *const *list = pass ? outside : internal;
		size_t n = pass ? AL_ARRAY_LEN(outside) : AL_ARRAY_LEN(internal);
		for (size_t i = 0; i < n; i++) {
			struct sockaddr_storage ss = { 0 };
			struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
			struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
			if (inet_pton(AF_INET, list[i], &a4->sin_addr) == 1) {
				ss.ss_family = AF_INET;
			} else {
				assert_int_equal(inet_pton(AF_INET6, list[i],
							   &a6->sin6_addr), 1);
				ss.ss_family = AF_INET6;
			}
			if (sbx_addr_internal((struct sockaddr *)&ss) != !pass)
				fail_msg("%s should be %s", list[i],
					 pass ? "outside" : "internal");
		}
	}
}

/* ---- the proxy's limits ---- */

/* A loopback server that sends size bytes to whoever connects; with
 * size 0 it holds connections open and silent until stopped. */
struct blob {
	int lfd, stop[2];
	unsigned port;
	size_t size;
	int held[8];
	int nheld;
	pthread_t th;
};

static void *blob_main(void *arg)
{
	struct blob *b = arg;
	char buf[16384];

	memset(buf, 'b', sizeof(buf));
	for (;;) {
		struct pollfd f[2] = { { b->lfd, POLLIN, 0 },
				       { b->stop[0], POLLIN, 0 } };
		if (poll(f, 2, -1) < 0 || f[1].revents)
			break;
		int c = accept4(b->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		if (b->size == 0 && b->nheld < 8) {
			b->held[b->nheld++] = c;
			continue;
		}
		for (size_t sent = 0; sent < b->size;) {
			size_t k = b->size - sent < sizeof(buf)
					   ? b->size - sent : sizeof(buf);
			ssize_t w = send(c, buf, k, MSG_NOSIGNAL);
			if (w <= 0)
				break;
			sent += (size_t)w;
		}
		close(c);
	}
	return NULL;
}

static void blob_start(struct blob *b, size_t size)
{
	struct in_addr lo4 = { htonl(INADDR_LOOPBACK) };

	memset(b, 0, sizeof(*b));
	b->size = size;
	b->lfd = listen_on(AF_INET, &lo4, &b->port);
	assert_int_equal(pipe2(b->stop, O_CLOEXEC), 0);
	assert_int_equal(pthread_create(&b->th, NULL, blob_main, b), 0);
}

static void blob_stop(struct blob *b)
{
	assert_int_equal(write(b->stop[1], "x", 1), 1);
	pthread_join(b->th, NULL);
	for (int i = 0; i < b->nheld; i++)
		close(b->held[i]);
	close(b->lfd);
	close(b->stop[0]);
	close(b->stop[1]);
}

static void run_bash(struct sbx_spec *s, const char *script,
		     struct sbx_result *r)
{
	const char *argv[] = { "bash", "-c", script, NULL };

	s->argv = argv;
	assert_int_equal(sbx_run(s, r), 0);
	s->argv = NULL;
}

static void test_proxy_connection_limit(void **state)
{
	struct events ev = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct al_event_sink sink = { remember, &ev };
	char script[512];
	struct sbx_spec s;
	struct sbx_result r;

	/* Two connections held open, a third is refused with 503 (which
	 * comes without a request: the proxy answers at accept). */
	snprintf(script, sizeof(script),
		 "exec 3<>/dev/tcp/127.0.0.1/3128 4<>/dev/tcp/127.0.0.1/3128; "
		 "sleep 0.3; exec 5<>/dev/tcp/127.0.0.1/3128; "
		 "head -n 1 <&5");
	const char *allow[] = { "127.0.0.1:1", NULL };
	attack_spec(&s);
	s.net = SBX_NET_REGISTRY;
	s.allow = allow;
	s.events = &sink;
	s.proxy_max_conns = 2;
	run_bash(&s, script, &r);
	assert_non_null(strstr(r.output, "503 Service Unavailable"));
	assert_non_null(strstr(ev.log, "proxy.deny connection job=attack "
				       "reason=more than 2 connections"));
	sbx_result_free(&r);
}

static void test_proxy_byte_budget(void **state)
{
	struct events ev = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct al_event_sink sink = { remember, &ev };
	struct blob b;
	char script[768], allow1[64], want[128];
	struct sbx_spec s;
	struct sbx_result r;

	/* 1 MiB offered, 64 KiB allowed: the tunnel is cut, and a second
	 * request is refused outright. */
	blob_start(&b, 1u << 20);
	snprintf(allow1, sizeof(allow1), "127.0.0.1:%u", b.port);
	snprintf(script, sizeof(script),
		 "exec 3<>/dev/tcp/127.0.0.1/3128; "
		 "printf 'CONNECT 127.0.0.1:%u HTTP/1.1\\r\\n\\r\\n' >&3; "
		 "echo got $(cat <&3 | wc -c); "
		 "exec 4<>/dev/tcp/127.0.0.1/3128; "
		 "printf 'CONNECT 127.0.0.1:%u HTTP/1.1\\r\\n\\r\\n' >&4; "
		 "head -n 1 <&4", b.port, b.port);
	const char *allow[] = { allow1, NULL };
	attack_spec(&s);
	s.net = SBX_NET_REGISTRY;
	s.allow = allow;
	s.events = &sink;
	s.proxy_max_bytes = 64 << 10;
	run_bash(&s, script, &r);
	print_message("%s", r.output);
	long got = strtol(strstr(r.output, "got ") + 4, NULL, 10);
	assert_true(got < (128 << 10));
	assert_non_null(strstr(r.output, "403 Forbidden"));
	snprintf(want, sizeof(want), "proxy.cut 127.0.0.1:%u job=attack "
		 "reason=the sandbox's proxy byte budget is used up", b.port);
	assert_non_null(strstr(ev.log, want));
	snprintf(want, sizeof(want), "proxy.deny 127.0.0.1:%u job=attack "
		 "reason=the sandbox's proxy byte budget is used up", b.port);
	assert_non_null(strstr(ev.log, want));
	assert_true(r.proxy_bytes <= (64 << 10) + 16384);
	sbx_result_free(&r);
	blob_stop(&b);
}

/* Counts proxy.deny events; keeps the repeats of evil.test and "other". */
struct tally {
	pthread_mutex_t mu;
	unsigned deny;
	long long evil_repeats, other_repeats;
};

static int tally(void *ctx, const char *action, const char *object,
		 json_t *details)
{
	struct tally *t = ctx;
	json_t *rep = json_object_get(details, "repeats");

	pthread_mutex_lock(&t->mu);
	if (!strcmp(action, "proxy.deny")) {
		t->deny++;
		if (rep && !strcmp(object, "evil.test:443"))
			t->evil_repeats = json_integer_value(rep);
		if (rep && !strcmp(object, "other"))
			t->other_repeats = json_integer_value(rep);
	}
	pthread_mutex_unlock(&t->mu);
	json_decref(details);
	return 0;
}

/* A payload looping on refused requests (one name, then many names)
 * leaves a bounded number of audit events, each a sealed entry on the
 * host's disk; the rest are counted in summary events and the result. */
static void test_proxy_record_is_bounded(void **state)
{
	struct tally t = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct al_event_sink sink = { tally, &t };
	const char *allow[] = { "127.0.0.1:1", NULL };
	const char *script =
		"ask() { exec 3<>/dev/tcp/127.0.0.1/3128; "
		"printf 'CONNECT %s HTTP/1.1\r\n\r\n' \"$1\" >&3; "
		"head -c 12 <&3 >/dev/null; exec 3<&-; }; "
		"for i in $(seq 300); do ask evil.test:443; done; "
		"for i in $(seq 100); do ask d$i.test:443; done; echo done";
	struct sbx_spec s;
	struct sbx_result r;

	attack_spec(&s);
	s.net = SBX_NET_REGISTRY;
	s.allow = allow;
	s.events = &sink;
	run_bash(&s, script, &r);
	assert_non_null(strstr(r.output, "done"));
	assert_int_equal(r.proxy_denied, 400);
	/* 32 of evil.test, 63 other names once each, two summaries. */
	assert_int_equal(t.deny, SBX_PROXY_EACH_MAX + SBX_PROXY_KINDS_MAX -
					 1 + 2);
	assert_int_equal(t.evil_repeats, 300 - SBX_PROXY_EACH_MAX);
	assert_int_equal(t.other_repeats, 100 - (SBX_PROXY_KINDS_MAX - 1));
	sbx_result_free(&r);
}

static void test_proxy_idle_cut(void **state)
{
	struct events ev = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct al_event_sink sink = { remember, &ev };
	struct blob b;
	char script[512], allow1[64], want[128];
	struct sbx_spec s;
	struct sbx_result r;

	/* A server that accepts and stays silent, a client that only
	 * waits: the proxy cuts the tunnel and says why. */
	blob_start(&b, 0);
	snprintf(allow1, sizeof(allow1), "127.0.0.1:%u", b.port);
	snprintf(script, sizeof(script),
		 "exec 3<>/dev/tcp/127.0.0.1/3128; "
		 "printf 'CONNECT 127.0.0.1:%u HTTP/1.1\\r\\n\\r\\n' >&3; "
		 "cat <&3 >/dev/null; echo closed", b.port);
	const char *allow[] = { allow1, NULL };
	attack_spec(&s);
	s.net = SBX_NET_REGISTRY;
	s.allow = allow;
	s.events = &sink;
	s.proxy_idle_s = 1;
	run_bash(&s, script, &r);
	assert_non_null(strstr(r.output, "closed"));
	sbx_result_free(&r);
	blob_stop(&b);
	snprintf(want, sizeof(want), "proxy.cut 127.0.0.1:%u job=attack "
		 "reason=idle past the limit", b.port);
	assert_non_null(strstr(ev.log, want));
}

/* ---- the registry credential ---- */

/* A loopback server that records every connection's bytes, answers
 * "ok" to the first request of each, and reads on for a moment to catch
 * anything sent behind it. */
struct recorder {
	int lfd, stop[2];
	unsigned port;
	pthread_t th;
	pthread_mutex_t mu;
	SSL_CTX *tls; /* a TLS server with this context; NULL: plain */
	char log[32768];
};

static void rec_conn(struct recorder *rc, int c)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
				 "Connection: close\r\n\r\nok";
	char buf[8192];
	size_t len = 0;
	bool answered = false;
	SSL *ssl = NULL;

	if (rc->tls) {
		struct timeval tv = { 5, 0 };
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		ssl = SSL_new(rc->tls);
		SSL_set_fd(ssl, c);
		if (SSL_accept(ssl) != 1) {
			len = (size_t)snprintf(buf, sizeof(buf), "(no TLS)");
			goto out;
		}
	}
	for (;;) {
		struct pollfd p = { c, POLLIN, 0 };
		if ((!ssl || SSL_pending(ssl) == 0) &&
		    poll(&p, 1, answered ? 300 : 5000) <= 0)
			break;
		ssize_t n = ssl ? SSL_read(ssl, buf + len,
					   (int)(sizeof(buf) - 1 - len))
				: recv(c, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (!answered && strstr(buf, "\r\n\r\n")) {
			if (ssl)
				SSL_write(ssl, ok, sizeof(ok) - 1);
			else
				send(c, ok, sizeof(ok) - 1, MSG_NOSIGNAL);
			answered = true;
		}
		if (len == sizeof(buf) - 1)
			break;
	}
out:
	if (ssl) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
		ERR_clear_error();
	}
	buf[len] = '\0';
	pthread_mutex_lock(&rc->mu);
	size_t used = strlen(rc->log);
	snprintf(rc->log + used, sizeof(rc->log) - used, "%s\n=====\n", buf);
	pthread_mutex_unlock(&rc->mu);
}

static void *rec_main(void *arg)
{
	struct recorder *rc = arg;

	for (;;) {
		struct pollfd f[2] = { { rc->lfd, POLLIN, 0 },
				       { rc->stop[0], POLLIN, 0 } };
		if (poll(f, 2, -1) < 0 || f[1].revents)
			break;
		int c = accept4(rc->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		rec_conn(rc, c);
		close(c);
	}
	return NULL;
}

static void rec_start(struct recorder *rc, const char *addr)
{
	struct in_addr a;

	memset(rc, 0, sizeof(*rc));
	pthread_mutex_init(&rc->mu, NULL);
	assert_int_equal(inet_pton(AF_INET, addr, &a), 1);
	rc->lfd = listen_on(AF_INET, &a, &rc->port);
	assert_int_equal(pipe2(rc->stop, O_CLOEXEC), 0);
	assert_int_equal(pthread_create(&rc->th, NULL, rec_main, rc), 0);
}

static void rec_stop(struct recorder *rc)
{
	assert_int_equal(write(rc->stop[1], "x", 1), 1);
	pthread_join(rc->th, NULL);
	close(rc->lfd);
	close(rc->stop[0]);
	close(rc->stop[1]);
	pthread_mutex_destroy(&rc->mu);
}

/* The recorded connection whose bytes hold what, or NULL. */
static char *rec_find(struct recorder *rc, const char *what, char *out,
		      size_t outsz)
{
	char *hit = strstr(rc->log, what);

	if (!hit)
		return NULL;
	char *start = hit;
	while (start > rc->log && strncmp(start, "\n=====\n", 7))
		start--;
	char *end = strstr(hit, "\n=====\n");
	snprintf(out, outsz, "%.*s", (int)(end - start), start);
	return out;
}

#define CRED_SECRET "s3cret-registry-T0ken"

static void test_proxy_credential(void **state)
{
	struct events ev = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct al_event_sink sink = { remember, &ev };
	struct recorder reg, other;
	char script[4096], allow1[64], allow2[64], want[160], seg[8192];
	struct sbx_spec s;
	struct sbx_result r;

	rec_start(&reg, "127.0.0.1");
	rec_start(&other, "127.0.0.2");
	snprintf(allow1, sizeof(allow1), "127.0.0.1:%u", reg.port);
	snprintf(allow2, sizeof(allow2), "127.0.0.2:%u", other.port);
	const char *allow[] = { allow1, allow2, NULL };
	const char *R = allow1, *O = allow2;
	snprintf(script, sizeof(script),
		 "req() { exec 3<>/dev/tcp/127.0.0.1/3128; printf '%%b' \"$1\" "
		 ">&3; echo \"[$(head -n 1 <&3 | tr -d '\\r')]\"; "
		 "exec 3<&-; }\n"
		 /* 1: its own Authorization is replaced */
		 "req 'GET http://%s/one HTTP/1.1\\r\\nHost: %s\\r\\n"
		 "Authorization: Bearer sandbox-own\\r\\n\\r\\n'\n"
		 /* 2: another destination with the registry's Host */
		 "req 'GET http://%s/two HTTP/1.1\\r\\nHost: %s\\r\\n\\r\\n'\n"
		 /* 3: the registry with another Host */
		 "req 'GET http://%s/three HTTP/1.1\\r\\nHost: %s\\r\\n"
		 "\\r\\n'\n"
		 /* 4: a request smuggled behind one that gets it */
		 "req 'GET http://%s/four HTTP/1.1\\r\\nHost: %s\\r\\n\\r\\n"
		 "GET /smuggled HTTP/1.1\\r\\nHost: %s\\r\\n\\r\\n'\n"
		 /* 4b: the same, sent a moment later */
		 "exec 3<>/dev/tcp/127.0.0.1/3128; printf '%%b' 'GET http://%s/"
		 "fourb HTTP/1.1\\r\\n\\r\\n' >&3; sleep 0.1; printf '%%b' 'GET "
		 "/smuggledb HTTP/1.1\\r\\n\\r\\n' >&3; cat <&3 >/dev/null; "
		 "exec 3<&-\n"
		 /* 5: a bare LF to slip a header past the proxy */
		 "req 'GET http://%s/five HTTP/1.1\\r\\nX-A: 1\\nAuthorization:"
		 " Bearer evil\\r\\n\\r\\n'\n"
		 /* 6: a write method: forwarded, without any credential */
		 "req 'POST http://%s/six HTTP/1.1\\r\\nHost: %s\\r\\n"
		 "Authorization: Bearer sandbox-own\\r\\n"
		 "Content-Length: 4\\r\\n\\r\\nbody'\n"
		 /* 7: a GET with a body */
		 "req 'GET http://%s/seven HTTP/1.1\\r\\nContent-Length: 5"
		 "\\r\\n\\r\\nhello'\n"
		 /* 8: a tunnel carries what the payload wrote, nothing more */
		 "exec 3<>/dev/tcp/127.0.0.1/3128; printf '%%b' 'CONNECT %s "
		 "HTTP/1.1\\r\\n\\r\\nGET /eight HTTP/1.1\\r\\nHost: %s"
		 "\\r\\n\\r\\n' >&3; cat <&3 >/dev/null; echo done\n",
		 R, R, O, R, R, O, R, R, R, R, R, R, R, R, R, R);
	attack_spec(&s);
	s.net = SBX_NET_REGISTRY;
	s.allow = allow;
	s.events = &sink;
	s.auth_origin = allow1;
	s.auth_value = "Bearer " CRED_SECRET;
	s.auth_id = "sha256:0123456789abcdef";
	run_bash(&s, script, &r);
	rec_stop(&reg);
	rec_stop(&other);
	print_message("%s\n--- registry:\n%s--- other:\n%s", r.output,
		      reg.log, other.log);

	/* The payload got answers, never the credential. */
	assert_non_null(strstr(r.output, "[HTTP/1.1 200 OK]"));
	assert_non_null(strstr(r.output, "[HTTP/1.1 400 Bad Request]"));
	assert_non_null(strstr(r.output, "done"));
	assert_null(strstr(r.output, CRED_SECRET));
	/* 1 and 4: the credential, once, and not the payload's own. */
	assert_non_null(rec_find(&reg, "GET /one ", seg, sizeof(seg)));
	assert_non_null(strstr(seg, "\r\nAuthorization: Bearer " CRED_SECRET
				    "\r\n"));
	assert_null(strstr(seg, "sandbox-own"));
	assert_null(strstr(strstr(seg, "Authorization:") + 1,
			   "Authorization:"));
	assert_non_null(rec_find(&reg, "GET /four ", seg, sizeof(seg)));
	assert_non_null(strstr(seg, CRED_SECRET));
	assert_non_null(rec_find(&reg, "GET /fourb ", seg, sizeof(seg)));
	assert_non_null(strstr(seg, CRED_SECRET));
	assert_null(strstr(reg.log, "/smuggled"));
	/* 2: the other destination gets nothing of it. */
	assert_non_null(strstr(other.log, "GET /two "));
	assert_null(strstr(other.log, CRED_SECRET));
	/* 3, 5, 7: refused, never sent. */
	assert_null(strstr(reg.log, "/three"));
	assert_null(strstr(reg.log, "/five"));
	assert_null(strstr(reg.log, "/seven"));
	/* 6: forwarded without any credential; 8: the tunnel as written. */
	assert_non_null(rec_find(&reg, "POST /six ", seg, sizeof(seg)));
	assert_null(strcasestr(seg, "Authorization"));
	assert_non_null(rec_find(&reg, "GET /eight ", seg, sizeof(seg)));
	assert_null(strstr(seg, CRED_SECRET));

	snprintf(want, sizeof(want), "proxy.deny %s job=attack reason=the "
		 "Host header names another destination", R);
	assert_non_null(strstr(ev.log, want));
	snprintf(want, sizeof(want), "proxy.deny %s job=attack reason=a "
		 "bare CR or LF in the request head", R);
	assert_non_null(strstr(ev.log, want));
	snprintf(want, sizeof(want), "proxy.deny %s job=attack reason=a "
		 "body on a request that gets the credential", R);
	assert_non_null(strstr(ev.log, want));
	snprintf(want, sizeof(want), "proxy.credential %s job=attack", R);
	assert_non_null(strstr(ev.log, want));
	assert_null(strstr(ev.log, CRED_SECRET));
	sbx_result_free(&r);
}

/* ---- the registry credential over TLS ---- */

/* A TLS server context with cert and key (borrowed). */
static SSL_CTX *tls_server(X509 *cert, EVP_PKEY *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_use_certificate(ctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
	return ctx;
}

static void write_cert(const char *path, X509 *cert)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, cert), 1);
	assert_int_equal(fclose(f), 0);
}

/*
 * The registry's own CA (the one the proxy is told to trust, as
 * registry_ca_file would) and a certificate of it for 127.0.0.1; the
 * job's CA comes from sbx_tls_create. dir holds reg-ca.pem for the
 * proxy and job-ca.pem, bound into the sandbox at /ca.
 */
struct tls_fixture {
	char dir[64], reg_ca[96], job_ca[96];
	X509 *ca, *leaf;
	EVP_PKEY *ca_key, *leaf_key;
	struct sbx_tls *job;
};

static void tls_fixture_make(struct tls_fixture *f, unsigned port)
{
	char origin[64], err[256];

	memset(f, 0, sizeof(*f));
	al_strlcpy(f->dir, "/tmp/airlock-tls-XXXXXX", sizeof(f->dir));
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(chmod(f->dir, 0755), 0);
	snprintf(f->reg_ca, sizeof(f->reg_ca), "%s/reg-ca.pem", f->dir);
	snprintf(f->job_ca, sizeof(f->job_ca), "%s/job-ca.pem", f->dir);
	assert_int_equal(sbx_tls_make_ca("127.0.0.1", true, 3600, &f->ca,
					 &f->ca_key), 0);
	assert_int_equal(sbx_tls_issue(f->ca, f->ca_key, "127.0.0.1", true,
				       3600, &f->leaf, &f->leaf_key), 0);
	write_cert(f->reg_ca, f->ca);
	snprintf(origin, sizeof(origin), "127.0.0.1:%u", port);
	assert_int_equal(sbx_tls_create(origin, f->reg_ca, 3600, &f->job,
					 err, sizeof(err)), 0);
	FILE *o = fopen(f->job_ca, "w");
	assert_non_null(o);
	fputs(sbx_tls_ca_pem(f->job), o);
	assert_int_equal(fclose(o), 0);
}

static void tls_fixture_free(struct tls_fixture *f)
{
	unlink(f->reg_ca);
	unlink(f->job_ca);
	rmdir(f->dir);
	X509_free(f->ca);
	X509_free(f->leaf);
	EVP_PKEY_free(f->ca_key);
	EVP_PKEY_free(f->leaf_key);
	sbx_tls_free(f->job);
}

/* curl in the sandbox, through the proxy (HTTPS_PROXY), trusting the
 * job's CA only; prints the body and " [CODE]". */
#define CURL "curl -sS --max-time 20 --cacert /ca/job-ca.pem " \
	     "-w ' [%%{http_code}]\\n' "

static void test_proxy_credential_tls(void **state)
{
	struct events ev = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct al_event_sink sink = { remember, &ev };
	struct recorder reg, other;
	struct tls_fixture f;
	char script[4096], allow1[64], allow2[64], want[200], seg[8192];
	struct sbx_spec s;
	struct sbx_result r;

	rec_start(&reg, "127.0.0.1");
	rec_start(&other, "127.0.0.2");
	tls_fixture_make(&f, reg.port);
	reg.tls = tls_server(f.leaf, f.leaf_key);
	snprintf(allow1, sizeof(allow1), "127.0.0.1:%u", reg.port);
	snprintf(allow2, sizeof(allow2), "127.0.0.2:%u", other.port);
	const char *allow[] = { allow1, allow2, NULL };
	const char *R = allow1, *O = allow2;
	struct sbx_bind bind = { .src = f.dir, .dst = "/ca" };
	snprintf(script, sizeof(script),
		 /* 1: its own Authorization is replaced */
		 CURL "-H 'Authorization: Bearer sandbox-own' https://%s/one\n"
		 /* 2: the registry with another Host */
		 CURL "-H 'Host: %s' https://%s/two\n"
		 /* 3: an absolute-form target to another place */
		 CURL "--request-target http://%s/three https://%s/\n"
		 /* 4: a write method: forwarded, without any credential */
		 CURL "-H 'Authorization: Bearer sandbox-own' -d body "
		 "https://%s/four\n"
		 /* 5: a CONNECT to another place stays a tunnel and
		  * carries what the payload wrote, nothing more */
		 "curl -sS --max-time 20 -p -w ' [%%{http_code}]\\n' "
		 "-H 'Host: %s' http://%s/five\n"
		 /* 6: a request smuggled behind one that gets it */
		 "printf 'GET /six HTTP/1.1\\r\\nHost: %s\\r\\n\\r\\n"
		 "GET /smuggled HTTP/1.1\\r\\nHost: %s\\r\\n\\r\\n' | "
		 "timeout 10 openssl s_client -quiet -CAfile /ca/job-ca.pem "
		 "-verify_return_error -proxy 127.0.0.1:3128 -connect %s "
		 "2>&1 | head -n 1; echo done\n"
		 /* 7: plain HTTP to the https registry's host and port:
		  * with the credential it would go out in clear text */
		 "curl -sS --max-time 20 -w ' [%%{http_code}]\\n' "
		 "http://%s/seven\n",
		 R, O, R, O, R, R, R, O, R, R, R, R);
	attack_spec(&s);
	s.net = SBX_NET_REGISTRY;
	s.allow = allow;
	s.events = &sink;
	s.binds = &bind;
	s.nbinds = 1;
	s.auth_origin = allow1;
	s.auth_value = "Bearer " CRED_SECRET;
	s.auth_id = "sha256:0123456789abcdef";
	s.auth_tls = f.job;
	run_bash(&s, script, &r);
	rec_stop(&reg);
	rec_stop(&other);
	print_message("%s\n--- registry:\n%s--- other:\n%s--- events:\n%s",
		      r.output, reg.log, other.log, ev.log);

	/* 1: the credential, once, in place of the payload's own, over
	 * the proxy's own TLS to the registry. */
	assert_non_null(strstr(r.output, "ok [200]"));
	assert_null(strstr(r.output, CRED_SECRET));
	assert_non_null(rec_find(&reg, "GET /one ", seg, sizeof(seg)));
	assert_non_null(strstr(seg, "\r\nAuthorization: Bearer " CRED_SECRET
				    "\r\n"));
	assert_null(strstr(seg, "sandbox-own"));
	assert_null(strstr(strstr(seg, "Authorization:") + 1,
			   "Authorization:"));
	/* 2, 3: refused, never sent. */
	assert_non_null(strstr(r.output, "airlock: request refused\n [400]"));
	assert_non_null(strstr(r.output,
			       "airlock: malformed request\n [400]"));
	assert_null(strstr(reg.log, "/two"));
	assert_null(strstr(reg.log, "/three"));
	/* 4: forwarded without any credential. */
	assert_non_null(rec_find(&reg, "POST /four ", seg, sizeof(seg)));
	assert_null(strcasestr(seg, "Authorization"));
	/* 5: the other destination gets nothing of it. */
	assert_non_null(strstr(other.log, "GET /five "));
	assert_null(strstr(other.log, CRED_SECRET));
	/* 6: the first request only. */
	assert_non_null(rec_find(&reg, "GET /six ", seg, sizeof(seg)));
	assert_non_null(strstr(seg, CRED_SECRET));
	assert_null(strstr(reg.log, "/smuggled"));
	assert_non_null(strstr(r.output, "done"));
	/* 7: refused before anything is sent. */
	assert_non_null(strstr(r.output, "destination not allowed\n [403]"));
	assert_null(strstr(reg.log, "/seven"));
	snprintf(want, sizeof(want), "proxy.deny %s job=attack reason=plain "
		 "HTTP to the https registry", R);
	assert_non_null(strstr(ev.log, want));

	snprintf(want, sizeof(want), "proxy.deny %s job=attack reason=the "
		 "Host header names another destination", R);
	assert_non_null(strstr(ev.log, want));
	assert_non_null(strstr(ev.log, "proxy.deny malformed job=attack"));
	snprintf(want, sizeof(want), "proxy.credential %s job=attack", R);
	assert_non_null(strstr(ev.log, want));
	assert_null(strstr(ev.log, CRED_SECRET));
	sbx_result_free(&r);
	SSL_CTX_free(reg.tls);
	tls_fixture_free(&f);
}

/*
 * The proxy's TLS to the registry checks the registry: a certificate of
 * a CA it was not told to trust, one of the right CA for another
 * address, or the job's own certificate (its CA is the payload's to
 * trust, never the proxy's) each end the CONNECT with 502 and a
 * proxy.deny that says why, before anything is sent.
 */
static void test_proxy_tls_checks_registry(void **state)
{
	struct tls_fixture f;
	X509 *other_ca, *foreign, *wrong_host;
	EVP_PKEY *other_key, *foreign_key, *wrong_key;
	unsigned port;
	int lfd;

	/* The port is known before the fixture: one listener for all. */
	struct in_addr lo = { htonl(INADDR_LOOPBACK) };
	lfd = listen_on(AF_INET, &lo, &port);
	tls_fixture_make(&f, port);
	assert_int_equal(sbx_tls_make_ca("127.0.0.1", true, 3600, &other_ca,
					 &other_key), 0);
	assert_int_equal(sbx_tls_issue(other_ca, other_key, "127.0.0.1", true,
				       3600, &foreign, &foreign_key), 0);
	assert_int_equal(sbx_tls_issue(f.ca, f.ca_key, "127.0.0.2", true,
				       3600, &wrong_host, &wrong_key), 0);
	struct {
		X509 *cert;
		EVP_PKEY *key;
		const char *why;
	} cases[] = {
		{ foreign, foreign_key, "unable to get local issuer" },
		{ wrong_host, wrong_key, "IP address mismatch" },
		{ SSL_CTX_get0_certificate(f.job->server),
		  SSL_CTX_get0_privatekey(f.job->server),
		  "unable to get local issuer" },
	};

	for (size_t i = 0; i < AL_ARRAY_LEN(cases); i++) {
		struct events ev = { .mu = PTHREAD_MUTEX_INITIALIZER };
		struct al_event_sink sink = { remember, &ev };
		struct recorder reg;
		char script[512], allow1[64], want[200];
		struct sbx_spec s;
		struct sbx_result r;

		memset(&reg, 0, sizeof(reg));
		pthread_mutex_init(&reg.mu, NULL);
		reg.lfd = dup(lfd);
		reg.port = port;
		reg.tls = tls_server(cases[i].cert, cases[i].key);
		assert_int_equal(pipe2(reg.stop, O_CLOEXEC), 0);
		assert_int_equal(pthread_create(&reg.th, NULL, rec_main, &reg),
				 0);
		snprintf(allow1, sizeof(allow1), "127.0.0.1:%u", port);
		const char *allow[] = { allow1, NULL };
		struct sbx_bind bind = { .src = f.dir, .dst = "/ca" };
		snprintf(script, sizeof(script),
			 CURL "https://%s/x 2>&1; echo done\n", allow1);
		attack_spec(&s);
		s.net = SBX_NET_REGISTRY;
		s.allow = allow;
		s.events = &sink;
		s.binds = &bind;
		s.nbinds = 1;
		s.auth_origin = allow1;
		s.auth_value = "Bearer " CRED_SECRET;
		s.auth_id = "sha256:0123456789abcdef";
		s.auth_tls = f.job;
		run_bash(&s, script, &r);
		rec_stop(&reg);
		print_message("case %zu: %s\n--- registry:\n%s--- events:\n%s",
			      i, r.output, reg.log, ev.log);
		assert_non_null(strstr(r.output, "done"));
		assert_non_null(strstr(r.output, "502"));
		assert_null(strstr(r.output, "ok ["));
		assert_null(strstr(reg.log, "GET"));
		assert_null(strstr(reg.log, CRED_SECRET));
		snprintf(want, sizeof(want), "proxy.deny %s job=attack "
			 "reason=the registry's TLS: certificate verify "
			 "failed: %s", allow1, cases[i].why);
		assert_non_null(strstr(ev.log, want));
		assert_null(strstr(ev.log, "proxy.allow"));
		sbx_result_free(&r);
		SSL_CTX_free(reg.tls);
	}
	close(lfd);
	X509_free(other_ca);
	X509_free(foreign);
	X509_free(wrong_host);
	EVP_PKEY_free(other_key);
	EVP_PKEY_free(foreign_key);
	EVP_PKEY_free(wrong_key);
	tls_fixture_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_address_ranges),
		cmocka_unit_test(test_none_reaches_nothing_and_records),
		cmocka_unit_test(test_none_record_is_bounded),
		cmocka_unit_test(test_registry_refuses_internal_destinations),
		cmocka_unit_test(test_proxy_connection_limit),
		cmocka_unit_test(test_proxy_byte_budget),
		cmocka_unit_test(test_proxy_idle_cut),
		cmocka_unit_test(test_proxy_record_is_bounded),
		cmocka_unit_test(test_proxy_credential),
		cmocka_unit_test(test_proxy_credential_tls),
		cmocka_unit_test(test_proxy_tls_checks_registry),
	};

	if (geteuid() != 0 || !getenv("AL_ATTACKS_DIR")) {
		fprintf(stderr, "needs root and AL_ATTACKS_DIR\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
