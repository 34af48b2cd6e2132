/*
 * netwatch.c - record where a payload tried to connect outside.
 *
 * The control is the network namespace: the payload's holds only lo
 * (and, in registry mode, the proxy's socket on it), so nothing it does
 * can reach another machine or a service of the host. This file only
 * makes the attempts visible, for the job's failure report ("the test
 * stage tried to reach 203.0.113.5:443") and the audit log.
 *
 * A second seccomp filter, stacked with the main one (the strictest
 * answer of all filters wins, so it cannot loosen anything), hands
 * connect, sendto with an address, sendmsg and sendmmsg to a thread of
 * the parent (SECCOMP_RET_USER_NOTIF). That thread reads the address
 * from the payload's memory. Loopback and non-IP families (Unix, netlink)
 * go on unchanged (SECCOMP_USER_NOTIF_FLAG_CONTINUE): they stay inside
 * the sandbox's own namespaces. Every other destination is answered
 * with ENETUNREACH, what the empty namespace would have said, and
 * recorded as "ADDR:PORT", each once, at most SBX_NET_ATTEMPTS_MAX.
 *
 * CONTINUE makes the kernel read the address again from memory the
 * payload controls, so a second thread can swap it after we looked:
 * that is why this is a record and not a control. A call that slips
 * past the record still meets the empty namespace.
 */
#include "sandbox/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"

#if defined(__x86_64__)
#define SBX_AUDIT_ARCH AUDIT_ARCH_X86_64
#define SBX_X32_BIT 0x40000000u
#elif defined(__aarch64__)
#define SBX_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "netwatch: add this architecture's audit arch"
#endif

#define SBX_MMSG_MAX 16 /* sendmmsg entries looked at per call */
#define SBX_SIN6_LEN_MIN 24 /* SIN6_LEN_RFC2133 in the kernel */

#define LD_ABS(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define JEQ(k, t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define SD_ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))

/*
 * The filter. A foreign architecture is left to the main filter, which
 * kills it. On x86_64 the x32 forms of the four calls are refused as
 * absent (ENOSYS): their structures differ and no payload of ours uses
 * x32. sendto without an address (a connected socket) is not our
 * business. Offsets of the 64-bit argument halves assume little endian.
 */
static const struct sock_filter sbx_watch_filter[] = {
	LD_ABS(offsetof(struct seccomp_data, arch)),
	JEQ(SBX_AUDIT_ARCH, 1, 0),
	RET(SECCOMP_RET_ALLOW),
	LD_ABS(offsetof(struct seccomp_data, nr)),
	JEQ(__NR_connect, 5, 0),  /* -> notify */
	JEQ(__NR_sendmsg, 4, 0),  /* -> notify */
	JEQ(__NR_sendmmsg, 3, 0), /* -> notify */
	JEQ(__NR_sendto, 3, 0),   /* -> the address check */
#ifdef SBX_X32_BIT
	BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, SBX_X32_BIT, 8, 0), /* -> x32 */
#else
	RET(SECCOMP_RET_ALLOW), /* keeps the jump offsets above the same */
#endif
	RET(SECCOMP_RET_ALLOW),
	RET(SECCOMP_RET_USER_NOTIF),
	/* sendto: notify when dest_addr (args[4]) is not NULL */
	LD_ABS(SD_ARG_LO(4)),
	JEQ(0, 0, 2),
	LD_ABS(SD_ARG_LO(4) + 4),
	JEQ(0, 1, 0),
	RET(SECCOMP_RET_USER_NOTIF),
	RET(SECCOMP_RET_ALLOW),
#ifdef SBX_X32_BIT
	/* x32: the same four calls are refused, the rest allowed here */
	JEQ(SBX_X32_BIT | 42, 4, 0),  /* connect */
	JEQ(SBX_X32_BIT | 44, 3, 0),  /* sendto */
	JEQ(SBX_X32_BIT | 518, 2, 0), /* sendmsg */
	JEQ(SBX_X32_BIT | 538, 1, 0), /* sendmmsg */
	RET(SECCOMP_RET_ALLOW),
	RET(SECCOMP_RET_ERRNO | ENOSYS),
#endif
};

/* ---- in init, before the payload exists ---- */

int sbx_netwatch_install(struct sbx_plan *plan)
{
	struct sock_fprog prog = {
		.len = (unsigned short)AL_ARRAY_LEN(sbx_watch_filter),
		.filter = (struct sock_filter *)sbx_watch_filter,
	};
	int lfd, rc = 0;

	if (plan->watch_w < 0)
		return 0;
	/* init holds CAP_SYS_ADMIN in its own user namespace here, which
	 * is what lets it install a filter before no_new_privs. */
	lfd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
			   SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	if (lfd < 0)
		return -errno;
	/*
	 * sendmsg would now wait for a supervisor that has no listener yet,
	 * so the parent takes the descriptor itself (pidfd_getfd on init):
	 * we only say which number it has, and go on building the root.
	 * The parent has its copy before it lets us past wait-for-network,
	 * where we close ours, before the payload is forked: with it, the
	 * payload could answer its own notifications.
	 */
	if (write(plan->watch_w, &lfd, sizeof(lfd)) != (ssize_t)sizeof(lfd))
		rc = -errno;
	close(plan->watch_w);
	plan->watch_w = -1;
	if (rc)
		close(lfd);
	else
		plan->watch_fd = lfd;
	return rc;
}

/* ---- the supervisor, a thread of the parent ---- */

/* Read len bytes at addr in pid's memory; false if it is not there. */
static bool sbx_peek(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { buf, len };
	struct iovec remote = { (void *)(uintptr_t)addr, len };

	return process_vm_readv(pid, &local, 1, &remote, 1, 0) ==
	       (ssize_t)len;
}

/* A destination inside the sandbox: loopback or the unspecified address
 * (both mean this namespace's lo), or not an internet address at all. */
static bool sbx_local(const struct sockaddr_storage *ss, socklen_t len)
{
	if (len < sizeof(sa_family_t))
		return true;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;
		uint32_t v = ntohl(a->sin_addr.s_addr);
		return len < sizeof(*a) || (v >> 24) == 127 || v == 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;
		const struct in6_addr *i = &a->sin6_addr;
		/* The kernel takes 24 bytes (RFC 2133, without the scope
		 * id) as a whole IPv6 address; shorter is EINVAL. ss was
		 * zeroed, so the missing scope id reads as 0. */
		if (len < SBX_SIN6_LEN_MIN)
			return true;
		if (IN6_IS_ADDR_V4MAPPED(i))
			return i->s6_addr[12] == 127 ||
			       !memcmp(i->s6_addr + 12, "\0\0\0\0", 4);
		return IN6_IS_ADDR_LOOPBACK(i) || IN6_IS_ADDR_UNSPECIFIED(i);
	}
	return true;
}

static void sbx_format(const struct sockaddr_storage *ss, char *out,
		       size_t outsz)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(out, outsz, "%s:%u", ip, ntohs(a->sin_port));
	} else {
		const struct sockaddr_in6 *a = (const void *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		snprintf(out, outsz, "[%s]:%u", ip, ntohs(a->sin6_port));
	}
}

/*
 * Read the address at (addr, len) of the target; true if it points
 * outside. An address we cannot read is left to the kernel, which fails
 * the call itself (EFAULT).
 */
static bool sbx_outside(pid_t pid, uint64_t addr, uint64_t len,
			struct sockaddr_storage *ss)
{
	socklen_t n = len > sizeof(*ss) ? sizeof(*ss) : (socklen_t)len;

	memset(ss, 0, sizeof(*ss));
	if (addr == 0 || n == 0 || !sbx_peek(pid, addr, ss, n))
		return false;
	return !sbx_local(ss, n);
}

/* Find the destination of one notified call; true if outside. */
static bool sbx_classify(const struct seccomp_notif *req,
			 struct sockaddr_storage *ss)
{
	const __u64 *a = req->data.args;
	pid_t pid = (pid_t)req->pid;

	switch (req->data.nr) {
	case __NR_connect:
		return sbx_outside(pid, a[1], a[2], ss);
	case __NR_sendto:
		return sbx_outside(pid, a[4], a[5], ss);
	case __NR_sendmsg: {
		struct msghdr mh;
		return sbx_peek(pid, a[1], &mh, sizeof(mh)) &&
		       sbx_outside(pid, (uintptr_t)mh.msg_name,
				   mh.msg_namelen, ss);
	}
	case __NR_sendmmsg: {
		struct mmsghdr mm[SBX_MMSG_MAX];
		size_t n = a[2] < SBX_MMSG_MAX ? (size_t)a[2] : SBX_MMSG_MAX;
		if (n == 0 || !sbx_peek(pid, a[1], mm, n * sizeof(mm[0])))
			return false;
		for (size_t i = 0; i < n; i++)
			if (sbx_outside(pid, (uintptr_t)mm[i].msg_hdr.msg_name,
					mm[i].msg_hdr.msg_namelen, ss))
				return true;
		return false;
	}
	default:
		return false;
	}
}

static const char *sbx_call_name(int nr)
{
	switch (nr) {
	case __NR_connect: return "connect";
	case __NR_sendto: return "sendto";
	case __NR_sendmsg: return "sendmsg";
	case __NR_sendmmsg: return "sendmmsg";
	default: return "?";
	}
}

/* Remember addr once; an event for each new one, so the audit log gets
 * at most SBX_NET_ATTEMPTS_MAX entries however often the payload tries. */
static void sbx_record(struct sbx_netwatch *nw, const char *addr, int nr)
{
	bool fresh = true;

	pthread_mutex_lock(&nw->mu);
	nw->total++;
	for (unsigned i = 0; i < nw->nseen && fresh; i++)
		fresh = strcmp(nw->seen[i], addr) != 0;
	if (fresh && nw->nseen < SBX_NET_ATTEMPTS_MAX)
		al_strlcpy(nw->seen[nw->nseen++], addr, SBX_NET_ADDR_LEN);
	else
		fresh = false;
	pthread_mutex_unlock(&nw->mu);
	if (!fresh)
		return;
	al_warn(SBX_MOD, nw->job, "payload tried to reach %s (%s), refused",
		addr, sbx_call_name(nr));
	al_event(nw->events, "net.refused", addr,
		 json_pack("{s:s?, s:s, s:s}", "job", nw->job, "call",
			   sbx_call_name(nr), "reason",
			   "the sandbox has no network outside"));
}

/* Answer one notification. */
static void sbx_answer(struct sbx_netwatch *nw, struct seccomp_notif *req,
		       struct seccomp_notif_resp *resp, size_t respsz)
{
	struct sockaddr_storage ss;
	bool out = sbx_classify(req, &ss);

	memset(resp, 0, respsz);
	resp->id = req->id;
	/* The memory we read is the target's only while it still waits in
	 * this call: a dead target's pid may have been reused. */
	if (ioctl(nw->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) != 0)
		return;
	if (out) {
		char addr[SBX_NET_ADDR_LEN];
		sbx_format(&ss, addr, sizeof(addr));
		sbx_record(nw, addr, req->data.nr);
		resp->error = -ENETUNREACH;
	} else {
		resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	}
	/* ENOENT: the target was killed meanwhile; nothing to answer. */
	ioctl(nw->listener, SECCOMP_IOCTL_NOTIF_SEND, resp);
}

/* Wait for fd or the stop pipe: fd's poll events, 0 when told to stop. */
static short sbx_watch_wait(struct sbx_netwatch *nw, int fd)
{
	for (;;) {
		struct pollfd p[2] = { { fd, POLLIN, 0 },
				       { nw->stop[0], POLLIN, 0 } };
		int n = poll(p, 2, -1);
		if (n < 0 && errno == EINTR)
			continue;
		return n > 0 && !p[1].revents ? p[0].revents : 0;
	}
}

static void *sbx_watch_main(void *arg)
{
	struct sbx_netwatch *nw = arg;
	struct seccomp_notif_sizes sz = { 0 };
	struct seccomp_notif *req = NULL;
	struct seccomp_notif_resp *resp = NULL;
	size_t reqsz = 0, respsz = 0;

	/* The kernel's structures may be larger than our headers' ones. */
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz) == 0) {
		reqsz = sz.seccomp_notif > sizeof(*req) ? sz.seccomp_notif
							  : sizeof(*req);
		respsz = sz.seccomp_notif_resp > sizeof(*resp)
				 ? sz.seccomp_notif_resp
				 : sizeof(*resp);
		req = calloc(1, reqsz);
		resp = calloc(1, respsz);
	}
	/* Without POLLIN the listener hung up: every process under the
	 * filter is gone, and each receive would fail with ENOENT at once,
	 * a busy loop until the caller's teardown told us to stop. */
	while (req && resp && nw->listener >= 0 &&
	       (sbx_watch_wait(nw, nw->listener) & POLLIN)) {
		memset(req, 0, reqsz);
		if (ioctl(nw->listener, SECCOMP_IOCTL_NOTIF_RECV, req) != 0) {
			/* ENOENT: the target died before we read it. Other
			 * errors: every target is gone (POLLHUP). */
			if (errno == ENOENT || errno == EINTR)
				continue;
			break;
		}
		sbx_answer(nw, req, resp, respsz);
	}
	/* Calls still waiting fail (ENOSYS) instead of hanging. */
	if (nw->listener >= 0)
		close(nw->listener);
	nw->listener = -1;
	free(req);
	free(resp);
	return NULL;
}

int sbx_netwatch_start(struct sbx_netwatch *nw, int listener,
		       const char *job, const struct al_event_sink *events)
{
	int rc;

	memset(nw, 0, sizeof(*nw));
	nw->listener = listener;
	nw->job = job;
	nw->events = events;
	nw->stop[0] = nw->stop[1] = -1;
	pthread_mutex_init(&nw->mu, NULL);
	if (pipe2(nw->stop, O_CLOEXEC) != 0) {
		rc = -errno;
		goto fail;
	}
	rc = -pthread_create(&nw->th, NULL, sbx_watch_main, nw);
	if (rc)
		goto fail;
	nw->running = true;
	return 0;
fail:
	for (int i = 0; i < 2; i++)
		if (nw->stop[i] >= 0)
			close(nw->stop[i]);
	close(listener);
	nw->listener = -1;
	pthread_mutex_destroy(&nw->mu);
	return rc;
}

void sbx_netwatch_stop(struct sbx_netwatch *nw, struct sbx_result *res)
{
	if (!nw->running)
		return;
	/* Never read: the pipe stays readable for the thread's polls. */
	if (write(nw->stop[1], "x", 1) < 0)
		al_error(SBX_MOD, nw->job, "netwatch stop: %s",
			 strerror(errno));
	pthread_join(nw->th, NULL);
	close(nw->stop[0]);
	close(nw->stop[1]);
	memcpy(res->net_attempts, nw->seen, sizeof(nw->seen));
	res->n_net_attempts = nw->nseen;
	res->net_attempts_total = nw->total;
	pthread_mutex_destroy(&nw->mu);
	nw->running = false;
}
