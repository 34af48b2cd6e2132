/*
 * internal.h - pieces of the sandbox shared between its files: cgroups,
 * the in-sandbox setup plan and the egress proxy. Not for other modules.
 */
#ifndef AL_SANDBOX_INTERNAL_H
#define AL_SANDBOX_INTERNAL_H

#include <limits.h>
#include <linux/filter.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "base/util.h"
#include "sandbox/sandbox.h"

#define SBX_MOD "sandbox"

/* The payload's rlimits (docs/sandbox.md says why these values). */
#define SBX_RLIMIT_NOFILE 8192
#define SBX_RLIMIT_MEMLOCK (64u << 10)
#define SBX_RLIMIT_SIGPENDING 1024
/* inotify per sandbox (child.c, step inotify-limits): node and test
 * runners use one instance per process that watches, one watch per path */
#define SBX_INOTIFY_INSTANCES 32
#define SBX_INOTIFY_WATCHES 16384
#define SBX_STR_(x) #x
#define SBX_STR(x) SBX_STR_(x)
/* Size of the sandbox's /dev/shm tmpfs. */
#define SBX_SHM_BYTES (64u << 20)

/* ---- cgroups (cgroup.c) ---- */

enum sbx_cg_ctrl { SBX_CG_MEMORY, SBX_CG_PIDS, SBX_CG_CPU, SBX_CG_N };

struct sbx_cg {
	int version; /* 1 or 2; 0 before sbx_cg_create() */
	/* v1: one directory per controller; v2: all three equal. */
	char dir[SBX_CG_N][1024];
	bool made[SBX_CG_N];
	/* v1: each controller's "tasks" file, open for writing, through
	 * which the child moves itself in (cgroup.c says why); -1 on
	 * v2 and once closed. */
	int join_fd[SBX_CG_N];
	/* The counters sbx_cg_read_stats reads, opened while the sandbox
	 * runs (sbx_cg_open_stats) so the read at its end walks no path;
	 * -1 when not open. */
	int stat_fd[4];
	/* v2: the sandbox's cgroup directory, which the child is cloned
	 * straight into (CLONE_INTO_CGROUP); -1 on v1 and once closed. */
	int dir_fd;
	/* v2: the child was born in the cgroup; nothing to attach. */
	bool born_in;
};

struct sbx_cg_stats {
	uint64_t mem_peak;
	unsigned pids_peak;
	uint64_t oom_kills;
	uint64_t pids_max_hits;
};

/* Which cgroup layout the host has: 2 (unified), 1 (v1 or hybrid). */
int sbx_cg_detect(char *why, size_t whysz);
/* Nothing made, no descriptor open: what sbx_cg_destroy may always see. */
void sbx_cg_clear(struct sbx_cg *cg);
/* Make the sandbox's cgroups under the caller's own and set limits. */
int sbx_cg_create(struct sbx_cg *cg, const struct sbx_spec *spec);
/*
 * Move pid (not yet running the payload) into every cgroup. On v1 this
 * does nothing: the child moves itself through cg->join_fd (cgroup.c
 * says why) as its first step, before anything else can run; nor on v2
 * when the child was cloned into the cgroup (cg->born_in).
 */
int sbx_cg_attach(const struct sbx_cg *cg, pid_t pid);
/* Close the join descriptors (the caller's copies); idempotent. */
void sbx_cg_close_join(struct sbx_cg *cg);
/* SIGKILL every process in the cgroups (v2 cgroup.kill where present). */
void sbx_cg_kill(const struct sbx_cg *cg);
/* Open the counters' files ahead of sbx_cg_read_stats; best effort. */
void sbx_cg_open_stats(struct sbx_cg *cg);
/* Read peak usage and limit-hit counters; missing files leave zeros. */
void sbx_cg_read_stats(const struct sbx_cg *cg, struct sbx_cg_stats *st);
/* Kill what is left, wait for the cgroups to empty, remove them. */
int sbx_cg_destroy(struct sbx_cg *cg, const char *job);

/* ---- volumes (disk.c) ---- */

/* Less room than this left on a writable bind counts as "full". */
#define SBX_DISK_SLACK (1u << 20)

/* Has fd's filesystem room left for the payload (not root)? */
bool sbx_disk_has_room(int fd);

/*
 * Attach fd to a free loop device with lo_flags (LO_FLAGS_*); the open
 * device is returned and its name written to dev. LOOP_CONFIGURE, or on
 * a kernel without it (before 5.8) LOOP_SET_FD and LOOP_SET_STATUS64.
 */
int sbx_loop_attach(int fd, unsigned lo_flags, char *dev, size_t devsz);
/* Its fallback on an open loop device; exposed for unit tests. */
int sbx_loop_set_fd(int loopfd, int fd, unsigned lo_flags);

/* ---- images (image.c, packed.c) ---- */

/*
 * dir and every directory above it owned by root and writable by root
 * only; above dir (and at dir itself unless top) a sticky directory may
 * be shared. 0, or AL_E_SANDBOX with the offending path in why.
 */
int sbx_image_ancestors(const char *dir, bool top, char *why, size_t whysz);

/* ---- what the sandbox's init does (child.c) ---- */

enum sbx_src_kind { SBX_SRC_DIR, SBX_SRC_FILE, SBX_SRC_LINK };

/* One entry of the new root: a bind of a host path or a symlink. */
struct sbx_mnt {
	const char *src;   /* host path (bind) or link target (symlink) */
	const char *dst;   /* absolute path inside */
	enum sbx_src_kind kind;
	bool rw;
	bool dev;          /* device node: keep dev, add noexec */
	bool nofollow;     /* a caller's bind: no symlink in src */
	int fd;            /* O_PATH, opened inside the new mount ns */
};

/*
 * Everything the child needs, computed by the parent before clone so
 * that the child allocates nothing: it may be cloned from a threaded
 * process whose allocator locks are held by other threads.
 */
struct sbx_plan {
	struct sbx_mnt *mnts;
	size_t nmnts;
	const char *passwd, *group, *hostname;
	char *const *argv;
	char *const *envp;
	const char *path;     /* PATH used to resolve argv[0] */
	const char *workdir;
	size_t tmp_bytes;
	size_t shm_bytes;
	uint64_t fsize;       /* RLIMIT_FSIZE of the payload */
	struct sock_fprog seccomp;
	/* One byte when the id maps (and v2 cgroup) are in place, one more
	 * when the network is; EOF means the parent died. */
	int go_r;
	int err_w;    /* "step\terrno" on failure; EOF at exec */
	int status_w; /* init reports the payload's wait status */
	int out_w;    /* payload's stdout and stderr */
	int watch_w;  /* netwatch: where init says which descriptor its
		       * listener is; -1: no watch */
	int watch_fd; /* init's listener until the parent has its copy */
	int proc_cover; /* init: the empty directory under /proc, detached */
	/* v1 cgroups to join ("tasks" files, -1 for none); see cgroup.c. */
	int cg_join[SBX_CG_N];
	/* The caller's argv and environment strings, which init (a copy of
	 * the caller that never execs) wipes from its own memory. */
	unsigned long arg_start, arg_end, env_start, env_end;
};

/* The child side of clone: never returns. */
__attribute__((noreturn)) void sbx_child_main(struct sbx_plan *plan);

/* Build the seccomp program; caller frees prog->filter. */
int sbx_seccomp_build(struct sock_fprog *prog, const char *job);

/* That program, built when airlock was built (gen/seccomp_gen.c). */
extern const struct sock_filter sbx_seccomp_prog[];
extern const unsigned short sbx_seccomp_prog_len;

/* ---- the proxy's TLS end for a credential (tls.c) ---- */

/*
 * What the proxy does with a TLS connection, through this table only:
 * proxy.c then references no libssl symbol, and a program that never
 * calls sbx_tls_create (the thin airlock, which runs sandboxes with a
 * proxy) links no libssl. Connections are on non-blocking sockets:
 * handshake, read and write return -EAGAIN with *want set to the poll
 * event to wait for (POLLIN or POLLOUT, either way round); read returns
 * 0 at the peer's close_notify; other errors are negative.
 */
struct sbx_tls_ops {
	/* server: the payload's side, with the leaf; else the registry's
	 * side, checking its certificate and name. NULL on failure. */
	void *(*open)(const struct sbx_tls *t, int fd, bool server);
	int (*handshake)(void *c, short *want, char *why, size_t whysz);
	ssize_t (*read)(void *c, void *buf, size_t len, short *want);
	ssize_t (*write)(void *c, const void *buf, size_t len, short *want);
	bool (*pending)(void *c); /* decrypted bytes wait in the buffer */
	void (*shutdown)(void *c); /* send close_notify, once */
	void (*close)(void *c);
};

struct sbx_tls {
	const struct sbx_tls_ops *ops;
	void *server;   /* SSL_CTX: the leaf and its key */
	void *client;   /* SSL_CTX: the registry's trust */
	char host[256]; /* the registry host, as in the origin */
	bool ip;        /* host is an address literal */
	char *ca_pem;   /* the CA's certificate */
};

struct x509_st;
struct evp_pkey_st;
/*
 * For unit tests: a new CA (EC P-256, valid_s seconds, name constraints
 * naming host only) and its key; a leaf for host issued by a CA. 0 or
 * an error; the caller frees what it gets.
 */
int sbx_tls_make_ca(const char *host, bool ip, long valid_s,
		    struct x509_st **ca, struct evp_pkey_st **key);
int sbx_tls_issue(struct x509_st *ca, struct evp_pkey_st *ca_key,
		  const char *host, bool ip, long valid_s,
		  struct x509_st **leaf, struct evp_pkey_st **leaf_key);

/* ---- egress proxy (proxy.c) ---- */

struct sbx_proxy_conn {
	pthread_t th;
	bool used;
	atomic_bool done;
	int cfd;
	struct sbx_proxy *px;
};

/* One distinct decision of the proxy and how often it was made. */
struct sbx_proxy_kind {
	bool ok;
	char object[300];
	char method[16];
	char why[128];
	unsigned n;
};

struct sbx_proxy {
	int lfd;
	int stop[2];
	pthread_t th;
	bool running;
	const char *const *allow;
	const char *job;
	const struct al_event_sink *events;
	atomic_uint allowed, denied;
	pthread_mutex_t mu;           /* guards kinds, nkinds, over */
	struct sbx_proxy_kind *kinds; /* SBX_PROXY_KINDS_MAX slots */
	unsigned nkinds;
	unsigned over[2]; /* decisions past the distinct cap: deny, allow */
	atomic_uint_fast64_t bytes;
	uint64_t max_bytes;
	int idle_ms;
	unsigned nconns;
	struct sbx_proxy_conn *conns; /* nconns slots */
	const char *auth_origin, *auth_value, *auth_id; /* sbx_spec */
	const struct sbx_tls *auth_tls;                  /* sbx_spec */
	atomic_uint authed; /* requests the credential was added to */
};

/*
 * Serve the proxy on lfd (a listening socket inside the sandbox's
 * network namespace; ownership passes to px, even on error) from a new
 * thread, with spec's allow list, limits, job id and event sink.
 */
int sbx_proxy_start(struct sbx_proxy *px, int lfd,
		    const struct sbx_spec *spec);
/* Stop accepting, close every connection, join every thread. */
void sbx_proxy_stop(struct sbx_proxy *px);
/* Is host:port allowed by the list? Exposed for unit tests. */
bool sbx_proxy_allowed(const char *const *allow, const char *host,
		       unsigned port);
/* Must a registry name never lead to this address? For unit tests. */
bool sbx_addr_internal(const struct sockaddr *sa);

/* ---- recording direct connection attempts (netwatch.c) ---- */

struct sbx_netwatch {
	int listener; /* the seccomp notification fd */
	int stop[2];
	pthread_t th;
	bool running;
	const char *job;
	const struct al_event_sink *events;
	pthread_mutex_t mu;
	char seen[SBX_NET_ATTEMPTS_MAX][SBX_NET_ADDR_LEN];
	unsigned nseen, total;
};

/*
 * Supervise the notifications on listener (init's, which the payload
 * inherits; ownership passes to nw, even on error) from a new thread.
 */
int sbx_netwatch_start(struct sbx_netwatch *nw, int listener,
		       const char *job, const struct al_event_sink *events);
/* Stop and join the thread; copy what was recorded into res. */
void sbx_netwatch_stop(struct sbx_netwatch *nw, struct sbx_result *res);
/*
 * init's step: install the notifying filter, which the payload will
 * inherit, keep its listener in plan->watch_fd and say its number to the
 * parent over plan->watch_w (then closed). No allocation.
 */
int sbx_netwatch_install(struct sbx_plan *plan);

#endif
