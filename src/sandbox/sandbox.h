/*
 * sandbox.h - run an untrusted command under every control airlock has.
 *
 * sbx_run() starts the payload in fresh user, mount, pid, net, ipc, uts
 * and cgroup namespaces, rooted (pivot_root) in a read-only image of the
 * host's /usr and a minimal /etc, with only the caller's rw binds and a
 * size-capped /tmp writable, no capabilities, no_new_privs, a seccomp
 * filter and cgroup limits; it waits for it with a wall-clock limit,
 * captures a bounded copy of its output, and tears everything down.
 * docs/sandbox.md lists the steps in order and what each defends against.
 *
 * The caller must be root (it writes uid maps and creates cgroups) and
 * should refuse to run jobs when sbx_check_host() says the host cannot
 * provide the controls, rather than run them weaker.
 */
#ifndef AL_SANDBOX_SANDBOX_H
#define AL_SANDBOX_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include "base/event.h"

/*
 * The unprivileged host ids that sandboxed code maps to by default. No
 * account, file or process on the host should own them; callers chown
 * the workspace to them before the run.
 */
#define SBX_DEFAULT_UID 64000
#define SBX_DEFAULT_GID 64000
/* The single id the payload has inside its user namespace. */
#define SBX_INSIDE_UID 1000
#define SBX_INSIDE_GID 1000
/*
 * Registry mode: the proxy listens on 127.0.0.1:SBX_PROXY_PORT inside the
 * sandbox's own network namespace, which holds nothing else, so a fixed
 * port cannot collide.
 */
#define SBX_PROXY_PORT 3128
/*
 * The proxy's record per sandbox: each distinct decision (allow or deny,
 * host:port, reason) gets an event for its first SBX_PROXY_EACH_MAX
 * occurrences, at most SBX_PROXY_KINDS_MAX distinct ones; the rest are
 * counted and summed up in one event each when the proxy stops. A payload
 * that loops on refused requests cannot grow the audit log without end.
 */
#define SBX_PROXY_EACH_MAX 32
#define SBX_PROXY_KINDS_MAX 64

/* Defaults of the proxy's limits (struct sbx_spec). */
#define SBX_PROXY_DEFAULT_CONNS 64
#define SBX_PROXY_MAX_CONNS 1024
#define SBX_PROXY_DEFAULT_BYTES (4ull << 30)
#define SBX_PROXY_DEFAULT_IDLE_S 300
/* Outside destinations a payload tried, kept per sandbox (sbx_result). */
#define SBX_NET_ATTEMPTS_MAX 16
#define SBX_NET_ADDR_LEN 56 /* "[v6 address]:port" and its NUL */

enum sbx_net {
	SBX_NET_NONE,     /* empty namespace, only lo (up) */
	SBX_NET_REGISTRY, /* empty namespace plus the allow-listing proxy */
};

struct sbx_bind {
	const char *src; /* host path, absolute; must exist */
	const char *dst; /* path inside, absolute, not under /usr, /etc... */
	bool rw;         /* read-only unless set */
};

struct sbx_spec {
	/* argv[0] is resolved through PATH (from env, else a default). */
	const char *const *argv;
	/* "K=V" list: the only environment the payload gets. May be NULL. */
	const char *const *env;
	const char *workdir; /* cwd inside; NULL means "/tmp" */
	const struct sbx_bind *binds;
	size_t nbinds;
	enum sbx_net net;
	/* Registry mode: "host:port" or "host" (ports 80 and 443). */
	const char *const *allow;
	uint64_t mem_bytes;  /* 0: 512 MiB */
	unsigned cpus_milli; /* 0: 1000 (one CPU) */
	unsigned pids;       /* 0: 256 */
	unsigned timeout_s;  /* 0: 600 */
	size_t output_cap;   /* bytes of stdout+stderr kept; 0: 1 MiB */
	uid_t host_uid;      /* ids outside that the payload maps to */
	gid_t host_gid;
	const char *job_id;                 /* logs and events; may be NULL */
	const struct al_event_sink *events; /* may be NULL */
	int stream_fd; /* >= 0: output also copied here live, sanitised */
	size_t tmp_bytes; /* size of the tmpfs /tmp; 0: 256 MiB */
	/*
	 * The system the payload sees: NULL binds the host's own /usr, /lib
	 * links and a few /etc files (development); else an image directory
	 * holding the same paths, checked and named by sbx_image_digest().
	 */
	const char *image;
	/*
	 * The workspace cap; 0: SBX_DEFAULT_DISK. No file the payload
	 * writes may grow beyond it (RLIMIT_FSIZE, SIGXFSZ). The total a
	 * payload can write into a writable bind is capped by the kernel
	 * when the bind lies on a volume made by sbx_disk_create() of this
	 * size, as the update job's trees do; on other filesystems only the
	 * per-file limit applies.
	 */
	uint64_t disk_bytes;
	/* Registry mode limits. Concurrent client connections (0: 64, at
	 * most SBX_PROXY_MAX_CONNS; more are refused with 503); bytes
	 * relayed both ways over the whole sandbox (0: 4 GiB; past it,
	 * tunnels are cut and requests refused); seconds a tunnel may carry
	 * nothing before it is cut (0: 300). */
	unsigned proxy_max_conns;
	uint64_t proxy_max_bytes;
	unsigned proxy_idle_s;
	/*
	 * Registry mode: a credential the proxy adds on the way out, so
	 * that the payload never holds it. auth_origin is "host:port" (an
	 * IPv6 literal in brackets), one of allow; auth_value is the whole
	 * Authorization value ("Bearer TOKEN"); auth_id names it in logs
	 * and events. The proxy adds it to GET and HEAD requests whose
	 * target is auth_origin (plain HTTP, or inside TLS it ended: see
	 * auth_tls), after removing any
	 * Authorization the payload sent; requests for auth_origin are
	 * parsed strictly and served one per connection (docs/sandbox.md).
	 * All NULL: no credential.
	 */
	const char *auth_origin;
	const char *auth_value;
	const char *auth_id;
	/*
	 * auth_origin is an https origin: the proxy ends the payload's TLS
	 * for a CONNECT to it with this object's certificate (the payload
	 * must trust sbx_tls_ca_pem()), reads the requests inside under the
	 * rules above, and sends them on over a TLS connection of its own
	 * that checks the registry's real certificate. NULL: a CONNECT to
	 * auth_origin is a tunnel and gets no credential. Borrowed.
	 */
	const struct sbx_tls *auth_tls;
};

#define SBX_DEFAULT_DISK (4ull << 30)

/*
 * The proxy's TLS end for a credential on an https origin (tls.c).
 *
 * sbx_tls_create makes a CA of its own (EC P-256, valid from a minute
 * ago for valid_s seconds, name constraints that name origin's host
 * only), has it sign one certificate for origin's host ("host:port",
 * an IPv6 literal in brackets; a name or an address), and destroys the
 * CA's private key before it returns: it exists in memory only, for
 * that one signature. The registry is checked against ca_file (PEM),
 * or the system's roots when NULL, and against its host name or
 * address. Returns 0, -EINVAL (bad origin), -ENOMEM or AL_E_CRYPTO,
 * with a message in err (naming ca_file when it cannot be loaded).
 * Free with sbx_tls_free (the leaf's key goes with it) after the last
 * sandbox that uses it.
 */
struct sbx_tls;
int sbx_tls_create(const char *origin, const char *ca_file, long valid_s,
		   struct sbx_tls **out, char *err, size_t errsz);
/* The CA's certificate, PEM: what the payload is told to trust. */
const char *sbx_tls_ca_pem(const struct sbx_tls *t);
void sbx_tls_free(struct sbx_tls *t);

/* X(name, word): why the sandbox ended the payload, if it did. */
#define SBX_KILL_TABLE(X)                                                  \
	X(SBX_KILL_NONE, "none")                                           \
	X(SBX_KILL_TIMEOUT, "timeout")                                     \
	X(SBX_KILL_OOM, "oom")                                             \
	X(SBX_KILL_PIDS, "pids")                                           \
	X(SBX_KILL_SIGNAL, "signal")                                       \
	X(SBX_KILL_CANCEL, "cancel")                                       \
	X(SBX_KILL_DISK, "disk")

enum sbx_kill {
#define SBX_X_ENUM(name, word) name,
	SBX_KILL_TABLE(SBX_X_ENUM)
#undef SBX_X_ENUM
};

struct sbx_result {
	int exit_code;     /* payload's exit status, or 128+signal */
	int signal;        /* signal that ended the payload, 0 if none */
	enum sbx_kill kill;
	/*
	 * NUL-terminated raw bytes: all of the output when it fit in
	 * output_cap; else its first quarter, a line saying how many bytes
	 * were cut, and its last three quarters.
	 */
	char *output;
	size_t output_len;
	uint64_t output_total; /* bytes the payload wrote, kept or not */
	bool truncated;
	int64_t wall_ms, user_ms, sys_ms;
	uint64_t mem_peak;  /* bytes, from the memory cgroup */
	unsigned pids_peak; /* from the pids cgroup */
	bool pids_limit_hit;
	/*
	 * A writable bind or /tmp had no room left for the payload at some
	 * point of the run (sampled each supervision tick and at the end),
	 * or a file hit the size limit (SIGXFSZ).
	 */
	bool disk_full;
	unsigned proxy_allowed, proxy_denied; /* registry mode */
	uint64_t proxy_bytes; /* relayed by the proxy, both ways */
	/*
	 * Destinations outside the sandbox that the payload tried to reach
	 * directly (connect, or a datagram sent with an address), refused
	 * and recorded: "203.0.113.5:443", "[2001:db8::1]:53". Each once,
	 * in the order first seen, at most SBX_NET_ATTEMPTS_MAX;
	 * net_attempts_total counts every refused call.
	 */
	char net_attempts[SBX_NET_ATTEMPTS_MAX][SBX_NET_ADDR_LEN];
	unsigned n_net_attempts;
	unsigned net_attempts_total;
};

/*
 * Run spec->argv in a new sandbox and wait for it. Returns 0 if the
 * payload ran, whatever its exit (see res->exit_code and res->kill), or a
 * negative error if the sandbox could not be set up, after logging which
 * step failed and why. res is filled on 0 and must be released with
 * sbx_result_free(); on error it holds nothing to free. Every process,
 * cgroup and proxy thread is gone when sbx_run returns. Safe to call from
 * several threads at once.
 *
 * Errors: -EINVAL (bad spec), AL_E_SANDBOX (a setup step failed),
 * AL_E_INTERRUPTED (sbx_cancel_all() before the payload started), or a
 * negative errno from a system call.
 */
int sbx_run(const struct sbx_spec *spec, struct sbx_result *res);

void sbx_result_free(struct sbx_result *res);

/*
 * The result as a new JSON object: exit_code, signal, kill_reason,
 * wall_ms, user_ms, sys_ms, mem_peak, pids_peak, pids_limit_hit, disk_full,
 * output_bytes, output_total, truncated, proxy_allowed, proxy_denied,
 * proxy_bytes, net_attempts (array of "ADDR:PORT"), net_attempts_total.
 * The output itself is not included (see sbx_output_text()).
 */
json_t *sbx_result_json(const struct sbx_result *res);

/*
 * A copy of the captured output that is safe for a terminal, a log and
 * JSON: control characters and malformed UTF-8 replaced by '?'. Caller
 * frees; NULL if out of memory.
 */
char *sbx_output_text(const struct sbx_result *res);

/* "none", "timeout", ...; "unknown" for a value outside the table. */
const char *sbx_kill_name(enum sbx_kill kill);

/*
 * Make dir (an existing directory, owned and moded as the caller wants
 * the volume's root to be) the mount point of a new, empty, size-capped
 * filesystem of bytes (at least 16 MiB): ext4 in a sparse image on a
 * loop device, mounted nosuid,nodev. What was in dir is hidden until
 * sbx_disk_remove(). Needs root, /dev/loop-control and mkfs.ext4
 * (e2fsprogs). Returns 0 or a negative error, logged.
 */
int sbx_disk_create(const char *dir, uint64_t bytes, const char *job);

/*
 * Unmount a volume made by sbx_disk_create(): its contents and the loop
 * device go with it (lazily if a file on it is still open). 0 when dir
 * is not a mount point. Symlinks in dir are not followed.
 */
int sbx_disk_remove(const char *dir, const char *job);

/*
 * Can this host provide every control? Returns 0, or nonzero with a
 * reason in why (user namespaces, seccomp, cgroup controllers, root).
 * Callers refuse to run jobs rather than run them weaker.
 */
int sbx_check_host(char *why, size_t whysz);

/*
 * Check an image directory (every entry, and every directory above it,
 * owned by root and writable by root only; no device nodes, FIFOs or
 * sockets) and write its digest, "sha256:" and 64 hex digits, to out
 * (outsz >= 72). The digest covers names, types, modes, owners, sizes,
 * contents and link targets, not times. Returns 0, -EINVAL, or
 * AL_E_SANDBOX after logging the offending path.
 */
int sbx_image_digest(const char *dir, char *out, size_t outsz,
		     const char *job);

/*
 * A packed image: one read-only squashfs file holding the same tree as
 * an image directory, named by the SHA-256 of its bytes and mounted
 * read-only (nosuid, nodev) from a read-only loop device under
 * SBX_IMAGE_RUN, where the mount point is the image root for sbx_spec's
 * image. The mount point's name is "<16 hex of the digest>-<pid>-<n>":
 * sbx_image_sweep() knows by the pid whose mount outlived its process.
 */
#define SBX_IMAGE_RUN "/run/airlock/image"

struct sbx_packed {
	char file[1024];  /* the file, as configured */
	char digest[80];  /* "sha256:" and the hex of the file's bytes */
	char root[128];   /* its mount point: the image root */
	int fd;           /* the file, held open; -1 when not ours */
	dev_t dev;        /* what the file was when it was verified */
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

/*
 * Does path name a packed image rather than an image directory? True for
 * anything that is not a directory (without following a symlink), so a
 * symlink or a device is refused by sbx_packed_open, not taken for a
 * directory; and for a path that does not exist, which sbx_packed_open
 * then reports as missing.
 */
bool sbx_image_packed(const char *path);

/*
 * Verify file and mount it: the file and every directory above it owned
 * by root and writable by root only (as for an image directory), opened
 * O_NOFOLLOW, a squashfs superblock that the file's size holds whole, the
 * SHA-256 of its bytes read from that descriptor equal to pin (when pin
 * is not NULL or ""), then attached read-only from the same descriptor to
 * a loop device that clears itself and mounted at p->root. Needs root.
 * Returns 0, or AL_E_SANDBOX (refused) or a negative errno with a
 * one-line reason naming the file in why, also logged; nothing is left
 * mounted or attached then. Undo with sbx_packed_close().
 */
int sbx_packed_open(const char *file, const char *pin, struct sbx_packed *p,
		    char *why, size_t whysz, const char *job);

/*
 * Has the file changed since sbx_packed_open verified it (the held
 * descriptor's or the path's device, inode, size, mtime or ctime)? Then
 * the mount may no longer show the bytes of p->digest: open it again.
 */
bool sbx_packed_changed(const struct sbx_packed *p);

/* Unmount p->root (lazily if a sandbox still uses it), remove it and
 * close the file; the loop device clears itself. Idempotent. */
void sbx_packed_close(struct sbx_packed *p, const char *job);

/*
 * Unmount and remove the mount points under SBX_IMAGE_RUN whose process
 * is gone (killed before it could close them). Returns how many.
 */
int sbx_image_sweep(void);

/*
 * Ask every running sbx_run() in this process to kill its sandbox and
 * return (kill reason "cancel"). Async-signal-safe: call it from a
 * SIGINT or SIGTERM handler. Sandboxes started afterwards are refused
 * until sbx_cancel_reset(). Returns 0.
 */
int sbx_cancel_all(void);
void sbx_cancel_reset(void);

/*
 * Remove the cgroups of sandboxes whose creating process died without
 * cleaning up (killed with SIGKILL): airlock-sbx-<pid>-* where no process
 * <pid> exists. Processes still inside are killed first. Returns how many
 * were removed. Call at start-up.
 */
int sbx_sweep(void);

/*
 * What the sandboxes of one process use right now, against their limits,
 * read from their cgroups: those named airlock-sbx-<creator>-*, looked up
 * where sbx_run puts them for a process in the caller's own cgroup (a
 * child it forked, such as a daemon's worker). Summed over the sandboxes
 * found (a process runs them one after the other, so usually one). A
 * limit of 0 means none. cpu_usec is CPU time used so far: cpu.stat on
 * v2, cpuacct.usage where v1 mounts cpuacct with cpu, else the CPU time
 * of the processes in the cgroup and of the children they reaped (from
 * /proc; time of a process that already left without being reaped
 * inside is missed). A rate needs two readings.
 */
struct sbx_usage {
	unsigned sandboxes;   /* cgroups found; 0: nothing else is set */
	uint64_t mem_bytes;   /* memory charged now */
	uint64_t mem_max;
	uint64_t cpu_usec;
	unsigned cpu_milli;   /* quota / period, in milli-CPUs */
	unsigned pids;
	unsigned pids_max;
};
/* Returns 0 (with u->sandboxes 0 when none runs), or -ENOTSUP without
 * usable cgroups. Reads only; safe on any thread. */
int sbx_usage_of(pid_t creator, struct sbx_usage *u);

#endif
