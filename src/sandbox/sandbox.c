/*
 * sandbox.c - sbx_run(): the parent's side of a sandbox.
 *
 * In order: validate the spec and prepare the plan (plan.c); make the
 * pipes and the cgroups; clone the child into new namespaces (on cgroup
 * v2 into its cgroup too; it blocks until released); write its id maps,
 * move it into the cgroups where it was not born in them, bring
 * its loopback up and, in registry mode, open the proxy's socket inside
 * its network namespace; release it; then supervise: capture output,
 * enforce the wall clock, honour cancellation, reap, measure, and tear
 * everything down on every path.
 */
#include "sandbox/plan.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
/* OPEN_TREE_*, MOVE_MOUNT_*: glibc's sys/mount.h includes this, musl's not */
#include <linux/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"

#define SBX_NS_FLAGS                                                       \
	(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET |       \
	 CLONE_NEWIPC | CLONE_NEWUTS)

/* clone3's arguments (linux/sched.h, which clashes with sched.h). */
struct sbx_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack,
		stack_size, tls, set_tid, set_tid_size, cgroup;
};
#define SBX_CLONE_INTO_CGROUP 0x200000000ULL

static volatile sig_atomic_t sbx_cancelled;

static const char *const sbx_kill_names[] = {
#define SBX_X_NAME(name, word) word,
	SBX_KILL_TABLE(SBX_X_NAME)
#undef SBX_X_NAME
};

const char *sbx_kill_name(enum sbx_kill kill)
{
	if ((unsigned)kill >= AL_ARRAY_LEN(sbx_kill_names))
		return "unknown";
	return sbx_kill_names[kill];
}

int sbx_cancel_all(void)
{
	sbx_cancelled = 1;
	return 0;
}

void sbx_cancel_reset(void)
{
	sbx_cancelled = 0;
}

void sbx_result_free(struct sbx_result *res)
{
	free(res->output);
	res->output = NULL;
	res->output_len = 0;
}

json_t *sbx_result_json(const struct sbx_result *r)
{
	json_t *tried = json_array();

	for (unsigned i = 0; tried && i < r->n_net_attempts; i++)
		json_array_append_new(tried, json_string(r->net_attempts[i]));
	return json_pack("{s:i, s:i, s:s, s:I, s:I, s:I, s:I, s:i, s:b, "
			 "s:b, s:I, s:I, s:b, s:i, s:i, s:I, s:o, s:i}",
			 "exit_code", r->exit_code, "signal", r->signal,
			 "kill_reason", sbx_kill_name(r->kill),
			 "wall_ms", (json_int_t)r->wall_ms,
			 "user_ms", (json_int_t)r->user_ms,
			 "sys_ms", (json_int_t)r->sys_ms,
			 "mem_peak", (json_int_t)r->mem_peak,
			 "pids_peak", (int)r->pids_peak,
			 "pids_limit_hit", r->pids_limit_hit,
			 "disk_full", r->disk_full,
			 "output_bytes", (json_int_t)r->output_len,
			 "output_total", (json_int_t)r->output_total,
			 "truncated", r->truncated,
			 "proxy_allowed", (int)r->proxy_allowed,
			 "proxy_denied", (int)r->proxy_denied,
			 "proxy_bytes", (json_int_t)r->proxy_bytes,
			 "net_attempts", tried,
			 "net_attempts_total", (int)r->net_attempts_total);
}

char *sbx_output_text(const struct sbx_result *res)
{
	size_t len = res->output_len;
	char *t = malloc(len + 1);

	if (!t)
		return NULL;
	if (len)
		memcpy(t, res->output, len);
	t[len] = '\0';
	al_utf8_repair(t, len);
	/* NUL bytes would cut the string short: make them visible. */
	al_sanitize_buf(t, len, true);
	return t;
}

/* ---- setup of the child from outside ---- */

static int sbx_write_proc(pid_t pid, const char *file, const char *text)
{
	char path[64];
	int rc = 0;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len)
		rc = -errno;
	close(fd);
	return rc;
}

/*
 * Map the single inside id to the unprivileged host ids, and deny
 * setgroups so that no host group can be kept or gained inside.
 */
static int sbx_write_maps(pid_t pid, const struct sbx_spec *s)
{
	char map[64];
	int rc = sbx_write_proc(pid, "setgroups", "deny");

	snprintf(map, sizeof(map), "%d %u 1\n", SBX_INSIDE_UID,
		 (unsigned)s->host_uid);
	if (rc == 0)
		rc = sbx_write_proc(pid, "uid_map", map);
	snprintf(map, sizeof(map), "%d %u 1\n", SBX_INSIDE_GID,
		 (unsigned)s->host_gid);
	if (rc == 0)
		rc = sbx_write_proc(pid, "gid_map", map);
	return rc;
}

struct sbx_netns_job {
	pid_t pid;
	bool listen;
	int lfd;
	int rc;
};

static int sbx_lo_up(void)
{
	struct ifreq ifr = { 0 };
	int rc = 0, fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	al_strlcpy(ifr.ifr_name, "lo", sizeof(ifr.ifr_name));
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0)
		rc = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (rc == 0 && ioctl(fd, SIOCSIFFLAGS, &ifr) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int sbx_listen_local(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(SBX_PROXY_PORT),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(fd, 128) != 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/*
 * Runs on its own thread: a network namespace switch is per thread, so
 * the rest of the process never leaves its own namespace. Sockets keep
 * the namespace they were created in, which is how the proxy listens
 * inside the sandbox while connecting out from ours.
 */
static void *sbx_netns_main(void *arg)
{
	struct sbx_netns_job *j = arg;
	char path[64];
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int target;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)j->pid);
	target = open(path, O_RDONLY | O_CLOEXEC);
	j->lfd = -1;
	if (self < 0 || target < 0 || setns(target, CLONE_NEWNET) != 0) {
		j->rc = -errno;
		goto out;
	}
	j->rc = sbx_lo_up();
	if (j->rc == 0 && j->listen) {
		j->lfd = sbx_listen_local();
		j->rc = j->lfd < 0 ? j->lfd : 0;
	}
	if (setns(self, CLONE_NEWNET) != 0)
		j->rc = j->rc ? j->rc : -errno;
out:
	if (self >= 0)
		close(self);
	if (target >= 0)
		close(target);
	return NULL;
}

static int sbx_net_setup(pid_t pid, bool listen, int *lfd)
{
	struct sbx_netns_job j = { .pid = pid, .listen = listen, .lfd = -1 };
	pthread_t th;
	int rc = pthread_create(&th, NULL, sbx_netns_main, &j);

	if (rc)
		return -rc;
	pthread_join(th, NULL);
	if (j.rc && j.lfd >= 0) {
		close(j.lfd);
		j.lfd = -1;
	}
	*lfd = j.lfd;
	return j.rc;
}

/* ---- supervision ---- */

#define SBX_READ_CHUNK 65536

struct sbx_run_ctx {
	struct sbx_spec s;
	struct sbx_plan_store ps;
	struct sbx_cg cg;
	struct sbx_proxy px;
	struct sbx_netwatch nw;
	pid_t pid;
	int pidfd;
	int go[2], err[2], status[2], out[2];
	int watch[2]; /* init says which descriptor its listener is */
	char errmsg[256];
	size_t errlen;
	bool setup_failed;
	bool killed;
	/* init's report of the payload's status, and the cgroup counters
	 * read right after it, while init exits (sbx_take_status) */
	bool have_status;
	int payload_status;
	struct sbx_cg_stats st;
	int64_t t0;
	int64_t disk_ms;      /* last look at the writable filesystems */
	struct al_buf outbuf; /* the head of the output */
	char *tail;           /* a ring of the latest output past the head */
	size_t tail_cap, tail_len, tail_pos;
	char carry[4];        /* an unfinished UTF-8 sequence for the stream */
	size_t carry_len;
};

static void sbx_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void sbx_kill_tree(struct sbx_run_ctx *c)
{
	if (c->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, c->pidfd, SIGKILL, NULL, 0);
	else if (c->pid > 0)
		kill(c->pid, SIGKILL);
	sbx_cg_kill(&c->cg);
	c->killed = true;
}

/*
 * Copy a chunk to the live stream, made safe for a terminal. A UTF-8
 * sequence cut by the chunk's end waits for the next chunk, so a C1
 * control or bidi override split across two writes is still caught; a
 * byte that is not UTF-8 becomes '?'. A reader that does not keep up
 * loses output instead of stalling the supervisor: the time limit and
 * cancellation are checked between reads, never while a write blocks.
 * False once the stream is broken.
 */
static bool sbx_stream(struct sbx_run_ctx *c, const char *p, size_t n)
{
	char tmp[SBX_READ_CHUNK + sizeof(c->carry)];
	size_t len = c->carry_len, cut;

	memcpy(tmp, c->carry, len);
	memcpy(tmp + len, p, n);
	len += n;
	cut = len;
	for (size_t back = 1; back <= 3 && back <= len; back++) {
		unsigned char b = (unsigned char)tmp[len - back];
		if ((b & 0xc0) == 0x80)
			continue;
		size_t need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
		if (need > back)
			cut = len - back;
		break;
	}
	c->carry_len = len - cut;
	memcpy(c->carry, tmp + cut, c->carry_len);
	al_utf8_repair(tmp, cut);
	al_sanitize_buf(tmp, cut, true);

	for (size_t off = 0; off < cut;) {
		struct pollfd pf = { c->s.stream_fd, POLLOUT, 0 };
		int r = poll(&pf, 1, 50);
		if (r < 0 && errno == EINTR)
			continue;
		if (r > 0 && (pf.revents & (POLLERR | POLLHUP | POLLNVAL)))
			return false;
		if (r <= 0)
			return true; /* slow reader: this chunk is not shown */
		/* At most PIPE_BUF after POLLOUT, so the write cannot block. */
		size_t k = cut - off < PIPE_BUF ? cut - off : PIPE_BUF;
		ssize_t w = write(c->s.stream_fd, tmp + off, k);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		off += (size_t)w;
	}
	return true;
}

/*
 * Keep the first quarter of output_cap as it came and a ring of the
 * latest three quarters: a test runner's summary comes at the end, so
 * the end must survive a flood, and so must the start (the command).
 */
static void sbx_capture(struct sbx_run_ctx *c, struct sbx_result *res,
			const char *p, size_t n)
{
	size_t head_cap = c->s.output_cap / 4;
	size_t room = head_cap - c->outbuf.len;
	size_t keep = n < room ? n : room;

	if (keep && al_buf_append(&c->outbuf, p, keep) != 0)
		res->truncated = true;
	p += keep;
	n -= keep;
	if (n == 0)
		return;
	if (!c->tail) {
		c->tail_cap = c->s.output_cap - head_cap;
		c->tail = malloc(c->tail_cap);
		if (!c->tail) {
			res->truncated = true;
			return;
		}
	}
	if (n > c->tail_cap) {
		p += n - c->tail_cap;
		n = c->tail_cap;
	}
	while (n) {
		size_t k = c->tail_cap - c->tail_pos;
		k = n < k ? n : k;
		memcpy(c->tail + c->tail_pos, p, k);
		c->tail_pos = (c->tail_pos + k) % c->tail_cap;
		c->tail_len = c->tail_len + k > c->tail_cap ? c->tail_cap
							    : c->tail_len + k;
		p += k;
		n -= k;
	}
}

/* Head, a marker for what was cut, then the ring in order. */
static int sbx_capture_finish(struct sbx_run_ctx *c, struct sbx_result *res)
{
	int rc = 0;
	uint64_t kept = c->outbuf.len + c->tail_len;

	if (res->output_total > kept) {
		res->truncated = true;
		rc = al_buf_printf(&c->outbuf,
				   "\n[airlock: %llu bytes of output cut "
				   "here]\n",
				   (unsigned long long)(res->output_total -
							kept));
	}
	if (rc == 0 && c->tail && c->tail_len == c->tail_cap)
		rc = al_buf_append(&c->outbuf, c->tail + c->tail_pos,
				   c->tail_cap - c->tail_pos);
	if (rc == 0 && c->tail_len)
		rc = al_buf_append(&c->outbuf, c->tail,
				   c->tail_len == c->tail_cap ? c->tail_pos
							      : c->tail_len);
	if (rc == 0 && !c->outbuf.p)
		rc = al_buf_append(&c->outbuf, "", 0);
	free(c->tail);
	c->tail = NULL;
	return rc;
}

/* Read what the pipe has; returns false at EOF. */
static bool sbx_take_output(struct sbx_run_ctx *c, struct sbx_result *res)
{
	char buf[SBX_READ_CHUNK];
	ssize_t n = read(c->out[0], buf, sizeof(buf));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	res->output_total += (uint64_t)n;
	sbx_capture(c, res, buf, (size_t)n);
	/* A reader that went away stops the copy, not the capture. */
	if (c->s.stream_fd >= 0 && !sbx_stream(c, buf, (size_t)n))
		c->s.stream_fd = -1;
	return true;
}

/* The error pipe: a setup failure report, or EOF once exec happened. */
static void sbx_take_error(struct sbx_run_ctx *c)
{
	size_t room = sizeof(c->errmsg) - 1 - c->errlen;
	ssize_t n = read(c->err[0], c->errmsg + c->errlen, room);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0 || room == 0) {
		sbx_close(&c->err[0]);
		return;
	}
	c->errlen += (size_t)n;
	c->errmsg[c->errlen] = '\0';
	if (!c->setup_failed) {
		c->setup_failed = true;
		sbx_kill_tree(c);
	}
}

/*
 * Note whether a writable bind or the sandbox's /tmp ran out of room, so
 * a payload that fails on ENOSPC (and may delete its files before it
 * exits) gets the cause recorded. The bind sources are opened as the
 * plan checked them, never through a symlink.
 */
static void sbx_disk_sample(struct sbx_run_ctx *c, struct sbx_result *res)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC,
				.resolve = RESOLVE_NO_SYMLINKS };
	char tmp[64];

	for (size_t i = 0; !res->disk_full && i <= c->s.nbinds; i++) {
		int fd;
		if (i == c->s.nbinds) {
			snprintf(tmp, sizeof(tmp), "/proc/%d/root/tmp",
				 (int)c->pid);
			fd = c->pid > 0 ? open(tmp, O_PATH | O_CLOEXEC) : -1;
		} else if (c->s.binds[i].rw) {
			fd = (int)syscall(SYS_openat2, AT_FDCWD,
					  c->s.binds[i].src, &how,
					  sizeof(how));
		} else {
			continue;
		}
		if (fd < 0)
			continue;
		res->disk_full = !sbx_disk_has_room(fd);
		close(fd);
	}
}

/*
 * init writes the payload's wait status just before it exits. The
 * kernel then tears the sandbox's namespaces down in init's exit, which
 * takes a while: read the cgroup counters meanwhile (the payload is
 * done; what it left behind dies with init) instead of after it.
 */
static void sbx_take_status(struct sbx_run_ctx *c)
{
	ssize_t n = read(c->status[0], &c->payload_status,
			 sizeof(c->payload_status));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	c->have_status = n == (ssize_t)sizeof(c->payload_status);
	if (c->have_status)
		sbx_cg_read_stats(&c->cg, &c->st);
	sbx_close(&c->status[0]);
}

/* Poll until init exits, killing on timeout or cancellation. */
static void sbx_supervise(struct sbx_run_ctx *c, struct sbx_result *res)
{
	int64_t deadline = c->t0 + (int64_t)c->s.timeout_s * 1000;
	bool out_open = true;

	for (;;) {
		struct pollfd p[4] = { { c->pidfd, POLLIN, 0 },
				       { out_open ? c->out[0] : -1, POLLIN, 0 },
				       { c->err[0], POLLIN, 0 },
				       { c->status[0], POLLIN, 0 } };
		int64_t now = al_mono_ms();
		if (!c->killed && sbx_cancelled) {
			res->kill = SBX_KILL_CANCEL;
			sbx_kill_tree(c);
		} else if (!c->killed && now >= deadline) {
			res->kill = SBX_KILL_TIMEOUT;
			sbx_kill_tree(c);
		}
		/* A short tick: cancellation is a flag, not a wakeup. */
		int wait = 100;
		if (!c->killed && deadline - now < wait)
			wait = (int)(deadline - now);
		int n = poll(p, 4, wait < 0 ? 0 : wait);
		if (n < 0 && errno != EINTR) {
			/* Cannot watch it any more: do not let it run on. */
			if (!c->killed)
				sbx_kill_tree(c);
			break;
		}
		if (now - c->disk_ms >= 100) {
			c->disk_ms = now;
			sbx_disk_sample(c, res);
		}
		if (n <= 0)
			continue;
		if (p[1].revents)
			out_open = sbx_take_output(c, res);
		if (p[2].revents)
			sbx_take_error(c);
		if (p[3].revents)
			sbx_take_status(c);
		if (p[0].revents)
			break;
	}
}

/* After init is gone, its pipe ends are closed: read to EOF (bounded). */
static void sbx_drain(struct sbx_run_ctx *c, struct sbx_result *res)
{
	int64_t stop = al_mono_ms() + 5000;

	while (al_mono_ms() < stop) {
		struct pollfd p = { c->out[0], POLLIN, 0 };
		if (poll(&p, 1, 200) <= 0 && !(p.revents))
			continue;
		if (!sbx_take_output(c, res))
			break;
	}
	while (c->err[0] >= 0) {
		struct pollfd p = { c->err[0], POLLIN, 0 };
		if (poll(&p, 1, 200) <= 0)
			break;
		sbx_take_error(c);
	}
}

static int64_t tv_ms(struct timeval tv)
{
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Wait for init and translate statuses and counters into res. */
static void sbx_collect(struct sbx_run_ctx *c, struct sbx_result *res)
{
	struct rusage ru = { 0 };
	bool counted = c->have_status; /* sbx_take_status read them */
	int ist = 0;

	sbx_disk_sample(c, res);
	while (wait4(c->pid, &ist, __WALL, &ru) < 0 && errno == EINTR)
		;
	res->wall_ms = al_mono_ms() - c->t0;
	res->user_ms = tv_ms(ru.ru_utime);
	res->sys_ms = tv_ms(ru.ru_stime);
	c->pid = -1;
	sbx_drain(c, res);

	if (!c->have_status && c->status[0] >= 0)
		c->have_status = read(c->status[0], &c->payload_status,
				      sizeof(c->payload_status)) ==
				 (ssize_t)sizeof(c->payload_status);
	int wst = c->have_status ? c->payload_status : ist;
	if (WIFEXITED(wst)) {
		res->exit_code = WEXITSTATUS(wst);
	} else if (WIFSIGNALED(wst)) {
		res->signal = WTERMSIG(wst);
		res->exit_code = 128 + res->signal;
	}

	if (!counted)
		sbx_cg_read_stats(&c->cg, &c->st);
	res->mem_peak = c->st.mem_peak;
	res->pids_peak = c->st.pids_peak;
	res->pids_limit_hit = c->st.pids_max_hits > 0;
	if (res->kill != SBX_KILL_NONE)
		return;
	if (c->st.oom_kills > 0)
		res->kill = SBX_KILL_OOM;
	else if (res->pids_limit_hit && res->exit_code != 0)
		res->kill = SBX_KILL_PIDS;
	else if (res->signal == SIGXFSZ ||
		 (res->disk_full && res->exit_code != 0))
		res->kill = SBX_KILL_DISK;
	else if (res->signal)
		res->kill = SBX_KILL_SIGNAL;
}

/*
 * A raw clone without a new stack behaves like fork, but creates the
 * namespaces atomically with the process. On cgroup v2 the child is
 * created inside the sandbox's cgroup (clone3, CLONE_INTO_CGROUP,
 * Linux 5.7): no process of the sandbox ever exists outside it, and no
 * write to cgroup.procs is needed, which takes the kernel's global
 * thread-group lock and waits for an RCU grace period (cgroup.c). A
 * kernel or a seccomp policy around us without clone3 (ENOSYS) gets the
 * plain clone, and the caller moves the child (sbx_cg_attach). See
 * docs/sandbox.md on why this is safe under ASan and in a threaded
 * caller. Returns like fork.
 */
static pid_t sbx_clone(struct sbx_cg *cg)
{
	struct sbx_clone_args a = {
		.flags = SBX_NS_FLAGS | SBX_CLONE_INTO_CGROUP,
		.exit_signal = SIGCHLD,
		.cgroup = (uint64_t)cg->dir_fd,
	};

	if (cg->dir_fd >= 0) {
		pid_t pid = (pid_t)syscall(SYS_clone3, &a, sizeof(a));
		if (pid >= 0)
			cg->born_in = true;
		if (pid >= 0 || errno != ENOSYS)
			return pid;
	}
	return (pid_t)syscall(SYS_clone, SBX_NS_FLAGS | SIGCHLD, 0, 0, 0, 0);
}

/* ---- the run ---- */

static int sbx_defaults(const struct sbx_spec *in, struct sbx_spec *s)
{
	*s = *in;
	if (!s->argv || !s->argv[0] || !s->argv[0][0]) {
		al_error(SBX_MOD, in->job_id, "step=spec no command to run");
		return -EINVAL;
	}
	if (s->net != SBX_NET_NONE && s->net != SBX_NET_REGISTRY) {
		al_error(SBX_MOD, in->job_id, "step=spec unknown network mode");
		return -EINVAL;
	}
	if (s->host_uid == 0 || s->host_gid == 0) {
		al_error(SBX_MOD, in->job_id, "step=spec host uid/gid 0 "
			 "would map the payload to root");
		return -EINVAL;
	}
	s->mem_bytes = s->mem_bytes ? s->mem_bytes : 512ull << 20;
	s->cpus_milli = s->cpus_milli ? s->cpus_milli : 1000;
	s->pids = s->pids ? s->pids : 256;
	s->timeout_s = s->timeout_s ? s->timeout_s : 600;
	s->output_cap = s->output_cap ? s->output_cap : 1u << 20;
	s->tmp_bytes = s->tmp_bytes ? s->tmp_bytes : 256u << 20;
	s->disk_bytes = s->disk_bytes ? s->disk_bytes : SBX_DEFAULT_DISK;
	s->workdir = s->workdir ? s->workdir : "/tmp";
	s->proxy_max_conns = s->proxy_max_conns ? s->proxy_max_conns
						: SBX_PROXY_DEFAULT_CONNS;
	s->proxy_max_bytes = s->proxy_max_bytes ? s->proxy_max_bytes
						: SBX_PROXY_DEFAULT_BYTES;
	s->proxy_idle_s = s->proxy_idle_s ? s->proxy_idle_s
					  : SBX_PROXY_DEFAULT_IDLE_S;
	if (s->proxy_max_conns > SBX_PROXY_MAX_CONNS ||
	    s->proxy_idle_s > 86400) {
		al_error(SBX_MOD, in->job_id, "step=spec proxy limits out of "
			 "range (connections %u, at most %u; idle %u s, at "
			 "most 86400)", s->proxy_max_conns,
			 SBX_PROXY_MAX_CONNS, s->proxy_idle_s);
		return -EINVAL;
	}
	if (s->workdir[0] != '/') {
		al_error(SBX_MOD, in->job_id, "step=spec workdir %s is not "
			 "absolute", s->workdir);
		return -EINVAL;
	}
	return 0;
}

/*
 * The go channel is a socket pair, not a pipe: a child that failed a
 * step has closed its end, and a write to a pipe without a reader would
 * raise SIGPIPE in the caller (whose default kills it); send() with
 * MSG_NOSIGNAL just fails with EPIPE.
 */
static int sbx_pipes(struct sbx_run_ctx *c)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c->go) ||
	    pipe2(c->err, O_CLOEXEC) ||
	    pipe2(c->status, O_CLOEXEC) || pipe2(c->out, O_CLOEXEC) ||
	    pipe2(c->watch, O_CLOEXEC))
		return -errno;
	fcntl(c->out[0], F_SETFL, O_NONBLOCK);
	fcntl(c->status[0], F_SETFL, O_NONBLOCK);
	return 0;
}

/* Tell the child to go on; false if it could not be told. */
static int sbx_release(struct sbx_run_ctx *c, char what)
{
	while (send(c->go[1], &what, 1, MSG_NOSIGNAL) != 1)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/*
 * What the child must wait for before it builds its root: id maps, and
 * on cgroup v2 the cgroup (on v1 it joins by itself, see cgroup.c).
 */
static int sbx_prepare_ids(struct sbx_run_ctx *c)
{
	const char *job = c->s.job_id;
	int rc;

	c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
	rc = c->pidfd < 0 ? -errno : 0;
	if (rc) {
		al_error(SBX_MOD, job, "step=pidfd %s", al_strerror(rc));
		return rc;
	}
	rc = sbx_write_maps(c->pid, &c->s);
	if (rc) {
		al_error(SBX_MOD, job, "step=id-maps %s", al_strerror(rc));
		return rc;
	}
	rc = sbx_cg_attach(&c->cg, c->pid);
	if (rc)
		al_error(SBX_MOD, job, "step=cgroup-attach %s",
			 al_strerror(rc));
	return rc;
}

/*
 * init's netwatch listener (netwatch.c): init writes its descriptor
 * number as soon as the filter is in, and we copy it out of init with
 * pidfd_getfd. EOF means init failed a step before (it says which on the
 * error pipe). Waits no longer than the run may last, and not past a
 * cancellation.
 */
static int sbx_take_listener(struct sbx_run_ctx *c, int *listener)
{
	int64_t deadline = c->t0 + (int64_t)c->s.timeout_s * 1000;
	int num = -1;
	ssize_t n;

	for (;;) {
		struct pollfd p = { c->watch[0], POLLIN, 0 };
		int64_t left = deadline - al_mono_ms();
		if (sbx_cancelled)
			return AL_E_INTERRUPTED;
		if (left <= 0)
			return -ETIMEDOUT;
		int r = poll(&p, 1, left < 100 ? (int)left : 100);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0)
			break;
	}
	do
		n = read(c->watch[0], &num, sizeof(num));
	while (n < 0 && errno == EINTR);
	sbx_close(&c->watch[0]);
	if (n != (ssize_t)sizeof(num) || num < 0)
		return n < 0 ? -errno : -EPIPE;
	*listener = (int)syscall(SYS_pidfd_getfd, c->pidfd, num, 0);
	return *listener < 0 ? -errno : 0;
}

/*
 * Loopback and, in registry mode, the proxy: done while the child
 * builds its root, which needs neither; it waits for them, and for us
 * to hold the netwatch listener, before it starts the payload.
 */
static int sbx_prepare_net(struct sbx_run_ctx *c)
{
	const char *job = c->s.job_id;
	int lfd = -1, listener = -1, rc;

	rc = sbx_net_setup(c->pid, c->s.net == SBX_NET_REGISTRY, &lfd);
	if (rc) {
		al_error(SBX_MOD, job, "step=network %s", al_strerror(rc));
		return rc;
	}
	if (lfd >= 0) {
		rc = sbx_proxy_start(&c->px, lfd, &c->s);
		if (rc) {
			al_error(SBX_MOD, job, "step=proxy %s",
				 al_strerror(rc));
			return rc;
		}
	}
	rc = sbx_take_listener(c, &listener);
	if (rc) {
		al_error(SBX_MOD, job, "step=netwatch listener %s",
			 al_strerror(rc));
		return rc;
	}
	rc = sbx_netwatch_start(&c->nw, listener, job, c->s.events);
	if (rc)
		al_error(SBX_MOD, job, "step=netwatch %s", al_strerror(rc));
	return rc;
}

static int sbx_event(struct sbx_run_ctx *c, const char *action,
		     json_t *details)
{
	if (details && c->s.job_id)
		json_object_set_new(details, "job", json_string(c->s.job_id));
	return al_event(c->s.events, action, c->cg.dir[0], details);
}

static json_t *sbx_create_details(const struct sbx_spec *s)
{
	return json_pack("{s:s, s:I, s:i, s:i, s:i, s:s}", "net",
			 s->net == SBX_NET_REGISTRY ? "registry" : "none",
			 "mem_bytes", (json_int_t)s->mem_bytes, "cpus_milli",
			 (int)s->cpus_milli, "pids", (int)s->pids, "timeout_s",
			 (int)s->timeout_s, "argv0", s->argv[0]);
}

static void sbx_report_setup_error(struct sbx_run_ctx *c)
{
	char *tab = strchr(c->errmsg, '\t');
	int err = tab ? (int)strtol(tab + 1, NULL, 10) : 0;

	if (tab)
		*tab = '\0';
	al_error(SBX_MOD, c->s.job_id,
		 "step=%s failed inside the sandbox: %s (command %s)",
		 c->errmsg, err ? strerror(err) : "unknown error",
		 c->s.argv[0]);
}

/*
 * A child that failed a step before it was released (joining its v1
 * cgroups, say) has reported why on the error pipe; the caller's own
 * failure (the maps of a process that is gone) would hide the reason.
 */
static void sbx_report_early(struct sbx_run_ctx *c)
{
	struct pollfd p = { c->err[0], POLLIN, 0 };

	if (c->err[0] >= 0 && poll(&p, 1, 0) == 1)
		sbx_take_error(c);
	if (c->setup_failed)
		sbx_report_setup_error(c);
}

static void sbx_teardown(struct sbx_run_ctx *c, struct sbx_result *res)
{
	if (c->px.running) {
		sbx_proxy_stop(&c->px);
		res->proxy_allowed = atomic_load(&c->px.allowed);
		res->proxy_denied = atomic_load(&c->px.denied);
		res->proxy_bytes = atomic_load(&c->px.bytes);
	}
	if (c->pid > 0) {
		sbx_kill_tree(c);
		while (waitpid(c->pid, NULL, __WALL) < 0 && errno == EINTR)
			;
		c->pid = -1;
	}
	sbx_netwatch_stop(&c->nw, res);
	sbx_cg_destroy(&c->cg, c->s.job_id);
	sbx_close(&c->pidfd);
	for (int i = 0; i < 2; i++) {
		sbx_close(&c->go[i]);
		sbx_close(&c->err[i]);
		sbx_close(&c->status[i]);
		sbx_close(&c->out[i]);
		sbx_close(&c->watch[i]);
	}
	sbx_plan_free(&c->ps);
}

int sbx_run(const struct sbx_spec *spec, struct sbx_result *res)
{
	struct sbx_run_ctx c = { .pid = -1, .pidfd = -1,
				 .go = { -1, -1 }, .err = { -1, -1 },
				 .status = { -1, -1 }, .out = { -1, -1 },
				 .watch = { -1, -1 } };
	int rc;

	/* The teardown may see it before sbx_cg_create: no descriptor 0. */
	sbx_cg_clear(&c.cg);
	memset(res, 0, sizeof(*res));
	rc = sbx_defaults(spec, &c.s);
	if (rc == 0 && sbx_cancelled)
		rc = AL_E_INTERRUPTED;
	if (rc == 0)
		rc = sbx_plan_build(&c.ps, &c.s);
	if (rc == 0 && (rc = sbx_pipes(&c)) != 0)
		al_error(SBX_MOD, spec->job_id, "step=pipes %s",
			 al_strerror(rc));
	if (rc == 0)
		rc = sbx_cg_create(&c.cg, &c.s);
	if (rc == 0)
		rc = sbx_event(&c, "sandbox.create",
			       sbx_create_details(&c.s));
	if (rc)
		goto out;

	c.ps.plan.go_r = c.go[0];
	c.ps.plan.err_w = c.err[1];
	c.ps.plan.status_w = c.status[1];
	c.ps.plan.out_w = c.out[1];
	c.ps.plan.watch_w = c.watch[1];
	c.ps.plan.watch_fd = -1;
	c.ps.plan.proc_cover = -1;
	memcpy(c.ps.plan.cg_join, c.cg.join_fd, sizeof(c.ps.plan.cg_join));
	c.t0 = al_mono_ms();
	c.pid = sbx_clone(&c.cg);
	if (c.pid == 0) {
		close(c.go[1]);
		close(c.err[0]);
		close(c.status[0]);
		close(c.out[0]);
		close(c.watch[0]);
		sbx_child_main(&c.ps.plan);
	}
	if (c.pid < 0) {
		rc = -errno;
		al_error(SBX_MOD, spec->job_id, "step=clone %s",
			 al_strerror(rc));
		goto destroyed;
	}
	sbx_close(&c.go[0]);
	sbx_close(&c.err[1]);
	sbx_close(&c.status[1]);
	sbx_close(&c.out[1]);
	sbx_close(&c.watch[1]);
	sbx_cg_close_join(&c.cg);

	rc = sbx_prepare_ids(&c);
	if (rc == 0)
		rc = sbx_release(&c, 'g');
	if (rc == 0)
		rc = sbx_prepare_net(&c);
	if (rc == 0)
		rc = sbx_release(&c, 'n');
	/* While init builds the root: the end of the run then only reads. */
	if (rc == 0)
		sbx_cg_open_stats(&c.cg);
	if (rc) {
		sbx_report_early(&c);
		/* What init said failed matters, not what that did to us
		 * (its listener or its socket gone with it). */
		rc = rc == -EINVAL || rc == -ENOENT || c.setup_failed
			     ? AL_E_SANDBOX : rc;
		goto destroyed;
	}
	sbx_close(&c.go[1]);

	sbx_supervise(&c, res);
	sbx_collect(&c, res);
	if (c.setup_failed) {
		sbx_report_setup_error(&c);
		rc = AL_E_SANDBOX;
	}
destroyed:
	sbx_event(&c, "sandbox.destroy",
		  json_pack("{s:i, s:s, s:I}", "exit_code", res->exit_code,
			    "kill_reason", sbx_kill_name(res->kill),
			    "wall_ms", (json_int_t)res->wall_ms));
out:
	sbx_teardown(&c, res);
	if (rc == 0) {
		if (sbx_capture_finish(&c, res) != 0)
			rc = -ENOMEM;
		res->output = c.outbuf.p;
		res->output_len = c.outbuf.len;
		c.outbuf.p = NULL;
	}
	al_buf_free(&c.outbuf);
	free(c.tail);
	if (rc == 0)
		al_info(SBX_MOD, spec->job_id,
			"sandbox done exit=%d signal=%d kill=%s wall_ms=%lld "
			"output=%llu proxy_allowed=%u proxy_denied=%u "
			"net_refused=%u",
			res->exit_code, res->signal,
			sbx_kill_name(res->kill), (long long)res->wall_ms,
			(unsigned long long)res->output_total,
			res->proxy_allowed, res->proxy_denied,
			res->net_attempts_total);
	return rc;
}

/* ---- host check ---- */

static int sbx_read_long(const char *path, long *v)
{
	struct al_buf b = { 0 };
	int rc = al_read_file(path, 64, &b);

	if (rc == 0)
		*v = strtol(b.p ? b.p : "", NULL, 10);
	al_buf_free(&b);
	return rc;
}

/*
 * Kernel interfaces the setup steps rely on, each probed harmlessly: a
 * kernel without one would fail that step at every run, so say which at
 * once (and refuse), rather than let jobs fail one by one.
 */
static int probe_openat2(void)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC,
				.resolve = RESOLVE_NO_SYMLINKS };
	int fd = (int)syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof(how));

	return fd < 0 ? -errno : close(fd);
}

static int probe_close_range(void)
{
	/* An empty range above every descriptor: closes nothing. */
	return syscall(SYS_close_range, ~0U - 1, ~0U - 1, 0) ? -errno : 0;
}

static int probe_pidfd(void)
{
	int fd = (int)syscall(SYS_pidfd_open, getpid(), 0), rc = 0;

	if (fd < 0)
		return -errno;
	/* pidfd_getfd with a descriptor we do not have: EBADF, not ENOSYS. */
	if (syscall(SYS_pidfd_getfd, fd, -1, 0) < 0 && errno == ENOSYS)
		rc = -ENOSYS;
	close(fd);
	return rc;
}

static int probe_new_mount_api(void)
{
	int fd = (int)syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLOEXEC);

	if (fd < 0)
		return -errno;
	close(fd);
	/* Invalid on purpose: EINVAL or EFAULT says the call exists. */
	if (syscall(SYS_mount_setattr, -1, "", 0, NULL, 0) < 0 &&
	    errno == ENOSYS)
		return -ENOSYS;
	return 0;
}

static int probe_seccomp_notify(void)
{
	struct seccomp_notif_sizes sz;

	return syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz) ? -errno
								      : 0;
}

static const struct {
	const char *what;
	int (*probe)(void);
} sbx_kernel_needs[] = {
	{ "openat2 with RESOLVE_NO_SYMLINKS (Linux 5.6)", probe_openat2 },
	{ "close_range (Linux 5.9)", probe_close_range },
	{ "pidfd_open and pidfd_getfd (Linux 5.6)", probe_pidfd },
	{ "open_tree and mount_setattr (Linux 5.12)", probe_new_mount_api },
	{ "seccomp user notification (Linux 5.0)", probe_seccomp_notify },
};

/* Can the kernel give us every namespace at once? Try it. */
static int sbx_try_namespaces(void)
{
	int st = 0;
	pid_t pid = (pid_t)syscall(SYS_clone, SBX_NS_FLAGS | CLONE_NEWCGROUP |
					      SIGCHLD, 0, 0, 0, 0);

	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return -errno;
	while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -ECHILD;
}

int sbx_check_host(char *why, size_t whysz)
{
	long v = 0;
	int rc;

	if (geteuid() != 0) {
		snprintf(why, whysz, "sandboxes need root (uid maps, cgroups)");
		return 1;
	}
	if (sbx_read_long("/proc/sys/user/max_user_namespaces", &v) == 0 &&
	    v <= 0) {
		snprintf(why, whysz, "user namespaces are disabled "
			 "(user.max_user_namespaces=0)");
		return 1;
	}
	rc = sbx_try_namespaces();
	if (rc) {
		snprintf(why, whysz, "cannot create user, mount, pid, net, "
			 "ipc, uts and cgroup namespaces: %s", strerror(-rc));
		return 1;
	}
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0) {
		snprintf(why, whysz, "seccomp is not available: %s",
			 strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < AL_ARRAY_LEN(sbx_kernel_needs); i++) {
		rc = sbx_kernel_needs[i].probe();
		if (rc) {
			snprintf(why, whysz, "the kernel lacks %s: %s",
				 sbx_kernel_needs[i].what, strerror(-rc));
			return 1;
		}
	}
	if (sbx_cg_detect(why, whysz) < 0)
		return 1;
	return 0;
}
