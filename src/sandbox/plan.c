/*
 * plan.c - turn a spec into the child's plan: which host paths form the
 * read-only image, the caller's binds (validated), argv and environment,
 * and the seccomp program. Everything is allocated here, in the parent,
 * so that the child allocates nothing (internal.h says why).
 */
#include "sandbox/plan.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/util.h"

#define SBX_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* Top-level host paths of the image; a symlink is recreated as one
 * (merged-/usr hosts), a directory is bound read-only. */
static const char *const sbx_image_top[] = {
	"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
};

/* The minimal /etc: TLS roots, name service and linker configuration,
 * the alternatives links many /usr/bin programs go through. */
static const char *const sbx_image_etc[] = {
	"/etc/ssl", "/etc/ca-certificates", "/etc/ca-certificates.conf",
	"/etc/alternatives", "/etc/ld.so.cache", "/etc/nsswitch.conf",
	"/etc/hosts", "/etc/localtime", "/etc/protocols", "/etc/services",
};

static const char *const sbx_dev_nodes[] = {
	"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
	"/dev/tty",
};

/* First components a caller's bind may not use: they belong to the
 * image, and a bind there would write into the host's own tree. */
static const char *const sbx_reserved[] = {
	"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc",
	"dev", "proc", "sys",
};

/* The variables that point a payload at the proxy (registry mode). */
static const char *const sbx_proxy_vars[] = {
	"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",
	"npm_config_proxy", "npm_config_https_proxy",
};

static int plan_add(struct sbx_plan_store *ps, const char *src,
		    const char *dst, enum sbx_src_kind kind, bool rw, bool dev)
{
	struct sbx_mnt *m;

	if (ps->plan.nmnts == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 32;
		m = realloc(ps->plan.mnts, cap * sizeof(*m));
		if (!m)
			return -ENOMEM;
		ps->plan.mnts = m;
		ps->cap = cap;
	}
	m = &ps->plan.mnts[ps->plan.nmnts];
	m->src = strdup(src);
	m->dst = strdup(dst);
	if (!m->src || !m->dst) {
		free((char *)m->src);
		free((char *)m->dst);
		return -ENOMEM;
	}
	/* "/work/" is "/work": the child takes what follows the last '/'
	 * as the name to mount on. */
	for (size_t n = strlen(m->dst); n > 1 && m->dst[n - 1] == '/'; n--)
		((char *)m->dst)[n - 1] = '\0';
	m->kind = kind;
	m->rw = rw;
	m->dev = dev;
	m->nofollow = false;
	m->fd = -1;
	ps->plan.nmnts++;
	return 0;
}

/* root + p; p itself when root is NULL (the host image). */
static const char *plan_src(char *buf, size_t bufsz, const char *root,
			    const char *p)
{
	if (!root)
		return p;
	if (snprintf(buf, bufsz, "%s%s", root, p) >= (int)bufsz)
		return NULL;
	return buf;
}

/*
 * An image's /etc entry P, resolved inside the image as the sandbox
 * would resolve it: a link in the image (Debian's /etc/localtime is one,
 * absolute) names a path of the image, never of the host. An image is
 * data: a link to /var/lib/airlock or / must not bind the host's own
 * tree into the sandbox. The canonical host path of what it names goes
 * to out, which the child opens again without following links; 1 when
 * P is not in the image (or leads out of it).
 */
static int plan_image_etc(int rootfd, const char *rootreal, const char *p,
			  char *out, size_t outsz, struct stat *st)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT |
					   RESOLVE_NO_MAGICLINKS |
					   RESOLVE_NO_XDEV };
	char proc[64];
	size_t rl = strlen(rootreal);
	ssize_t n;
	int fd, rc = 0;

	fd = (int)syscall(SYS_openat2, rootfd, p + 1, &how, sizeof(how));
	if (fd < 0)
		return errno == ENOENT || errno == EXDEV || errno == ELOOP ||
		       errno == ENOTDIR ? 1 : -errno;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (fstat(fd, st) != 0 ||
	    (n = readlink(proc, out, outsz - 1)) < 0) {
		rc = -errno;
		goto out;
	}
	if ((size_t)n == outsz - 1) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	out[n] = '\0';
	/* RESOLVE_IN_ROOT already keeps it there; said once more. */
	if (strncmp(out, rootreal, rl) || (out[rl] != '/' && rl > 1))
		rc = 1;
out:
	close(fd);
	return rc;
}

/*
 * The system part of the new root, from the host or from an image
 * directory: the top-level paths (a symlink is recreated as one, for
 * merged-/usr layouts; a directory is bound read-only) and the /etc
 * files, which for an image are looked up inside it (plan_image_etc).
 * Device nodes always come from the host.
 */
static int plan_image(struct sbx_plan_store *ps, const char *root)
{
	struct stat st;
	char target[PATH_MAX], buf[PATH_MAX], rootreal[PATH_MAX];
	const char *src;
	int rc = 0, rootfd = -1;

	for (size_t i = 0; rc == 0 && i < AL_ARRAY_LEN(sbx_image_top); i++) {
		const char *p = sbx_image_top[i];
		src = plan_src(buf, sizeof(buf), root, p);
		if (!src)
			return -ENAMETOOLONG;
		if (lstat(src, &st) != 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlink(src, target, sizeof(target) - 1);
			if (n <= 0)
				continue;
			target[n] = '\0';
			rc = plan_add(ps, target, p, SBX_SRC_LINK, false,
				      false);
		} else if (S_ISDIR(st.st_mode)) {
			rc = plan_add(ps, src, p, SBX_SRC_DIR, false, false);
		}
	}
	if (rc == 0 && root) {
		rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (rootfd < 0 || !realpath(root, rootreal)) {
			rc = -errno;
			goto out;
		}
	}
	for (size_t i = 0; rc == 0 && i < AL_ARRAY_LEN(sbx_image_etc); i++) {
		const char *p = sbx_image_etc[i];
		int found;
		if (root) {
			found = plan_image_etc(rootfd, rootreal, p, buf,
					       sizeof(buf), &st);
			if (found < 0) {
				rc = found;
				break;
			}
			src = buf;
		} else {
			src = p;
			found = stat(src, &st) != 0;
		}
		if (found != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			rc = plan_add(ps, src, p, SBX_SRC_DIR, false, false);
		else if (S_ISREG(st.st_mode))
			rc = plan_add(ps, src, p, SBX_SRC_FILE, false, false);
		/* A canonical path: opened again without following links. */
		if (rc == 0 && root && (S_ISDIR(st.st_mode) ||
					S_ISREG(st.st_mode)))
			ps->plan.mnts[ps->plan.nmnts - 1].nofollow = true;
	}
	for (size_t i = 0; rc == 0 && i < AL_ARRAY_LEN(sbx_dev_nodes); i++) {
		const char *p = sbx_dev_nodes[i];
		if (stat(p, &st) != 0 || !S_ISCHR(st.st_mode))
			continue;
		rc = plan_add(ps, p, p, SBX_SRC_FILE, true, true);
	}
out:
	if (rootfd >= 0)
		close(rootfd);
	return rc;
}

/* An absolute, normalised path: no "." or ".." parts, no "//". */
static bool path_clean(const char *p)
{
	if (!p || p[0] != '/' || strlen(p) >= PATH_MAX - 64)
		return false;
	for (const char *s = p; *s; s++) {
		if (*s != '/')
			continue;
		if (s[1] == '/')
			return false;
		if (s[1] == '.' && (s[2] == '/' || s[2] == '\0'))
			return false;
		if (s[1] == '.' && s[2] == '.' && (s[3] == '/' || s[3] == '\0'))
			return false;
	}
	return true;
}

/*
 * Open a caller's bind source from / without following a symlink in any
 * component, and say what it is. The child opens it again the same way
 * (the parent's descriptors are not inherited); if the kind changed in
 * between, the bind fails rather than mounting something else.
 */
static int plan_stat_source(const char *src, struct stat *st)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC,
				.resolve = RESOLVE_NO_SYMLINKS };
	int rc = 0, fd = (int)syscall(SYS_openat2, AT_FDCWD, src, &how,
				      sizeof(how));

	if (fd < 0)
		return -errno;
	if (fstat(fd, st) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int plan_check_bind(const struct sbx_bind *b, const char *job,
			   struct stat *st)
{
	if (!path_clean(b->src) || !path_clean(b->dst) ||
	    strcmp(b->dst, "/") == 0) {
		al_error(SBX_MOD, job, "step=spec bind %s:%s: paths must be "
			 "absolute and normalised, destination not /",
			 b->src ? b->src : "(null)",
			 b->dst ? b->dst : "(null)");
		return -EINVAL;
	}
	for (size_t i = 0; i < AL_ARRAY_LEN(sbx_reserved); i++) {
		size_t n = strlen(sbx_reserved[i]);
		if (strncmp(b->dst + 1, sbx_reserved[i], n) == 0 &&
		    (b->dst[n + 1] == '/' || b->dst[n + 1] == '\0')) {
			al_error(SBX_MOD, job, "step=spec bind destination %s "
				 "is inside the image (/%s)", b->dst,
				 sbx_reserved[i]);
			return -EINVAL;
		}
	}
	int rc = plan_stat_source(b->src, st);
	if (rc) {
		al_error(SBX_MOD, job, "step=spec bind source %s: %s%s",
			 b->src, strerror(-rc), rc == -ELOOP ?
			 " (a component is a symlink, which binds never "
			 "follow)" : "");
		return rc;
	}
	if (!S_ISDIR(st->st_mode) && !S_ISREG(st->st_mode)) {
		al_error(SBX_MOD, job, "step=spec bind source %s is neither "
			 "a directory nor a regular file", b->src);
		return -EINVAL;
	}
	return 0;
}

static int plan_binds(struct sbx_plan_store *ps, const struct sbx_spec *s)
{
	for (size_t i = 0; i < s->nbinds; i++) {
		const struct sbx_bind *b = &s->binds[i];
		struct stat st;
		int rc = plan_check_bind(b, s->job_id, &st);
		if (rc)
			return rc;
		rc = plan_add(ps, b->src, b->dst,
			      S_ISDIR(st.st_mode) ? SBX_SRC_DIR : SBX_SRC_FILE,
			      b->rw, false);
		if (rc)
			return rc;
		ps->plan.mnts[ps->plan.nmnts - 1].nofollow = true;
	}
	return 0;
}

static bool env_is_proxy_var(const char *kv)
{
	for (size_t i = 0; i < AL_ARRAY_LEN(sbx_proxy_vars); i++) {
		size_t n = strlen(sbx_proxy_vars[i]);
		if (strncmp(kv, sbx_proxy_vars[i], n) == 0 && kv[n] == '=')
			return true;
	}
	return false;
}

/* The payload's environment: the spec's, never the caller's own, plus
 * the proxy variables in registry mode (replacing any the spec set). */
static int plan_env(struct sbx_plan_store *ps, const struct sbx_spec *s)
{
	size_t n = 0, k = 0;
	bool reg = s->net == SBX_NET_REGISTRY;

	while (s->env && s->env[n])
		n++;
	ps->env = calloc(n + AL_ARRAY_LEN(sbx_proxy_vars) + 1, sizeof(char *));
	if (!ps->env)
		return -ENOMEM;
	ps->plan.path = SBX_DEFAULT_PATH;
	for (size_t i = 0; i < n; i++) {
		const char *kv = s->env[i];
		if (!strchr(kv, '=') || kv[0] == '=') {
			al_error(SBX_MOD, s->job_id, "step=spec environment "
				 "entry without a name: \"%s\"", kv);
			return -EINVAL;
		}
		if (reg && env_is_proxy_var(kv))
			continue;
		ps->env[k] = strdup(kv);
		if (!ps->env[k])
			return -ENOMEM;
		if (strncmp(kv, "PATH=", 5) == 0)
			ps->plan.path = ps->env[k] + 5;
		k++;
	}
	for (size_t i = 0; reg && i < AL_ARRAY_LEN(sbx_proxy_vars); i++) {
		char kv[96];
		snprintf(kv, sizeof(kv), "%s=http://127.0.0.1:%d",
			 sbx_proxy_vars[i], SBX_PROXY_PORT);
		ps->env[k] = strdup(kv);
		if (!ps->env[k++])
			return -ENOMEM;
	}
	ps->plan.envp = ps->env;
	return 0;
}

/*
 * The payload's argv and workdir, copied: the caller's strings may lie
 * in its own argv or environment area (`airlock sandbox run -- CMD`),
 * which init wipes before it forks the payload.
 */
static int plan_argv(struct sbx_plan_store *ps, const struct sbx_spec *s)
{
	size_t n = 0;

	while (s->argv[n])
		n++;
	ps->argv = calloc(n + 1, sizeof(char *));
	ps->workdir = strdup(s->workdir);
	if (!ps->argv || !ps->workdir)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!(ps->argv[i] = strdup(s->argv[i])))
			return -ENOMEM;
	ps->plan.argv = ps->argv;
	ps->plan.workdir = ps->workdir;
	return 0;
}

/*
 * Where this process keeps its argv and environment strings: fields 48
 * to 51 of /proc/self/stat, counted after the parenthesised name, which
 * may itself hold spaces and parentheses.
 */
static void plan_argv_area(struct sbx_plan *plan)
{
	char buf[2048];
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	/* After ")": field 3 onwards; arg_start is field 48. */
	for (int field = 2; p && field < 48; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%lu %lu %lu %lu", &plan->arg_start,
			 &plan->arg_end, &plan->env_start,
			 &plan->env_end) != 4)
		plan->arg_start = plan->arg_end = plan->env_start =
			plan->env_end = 0;
}

/*
 * The seccomp program, copied into each plan. libseccomp compiled it when
 * airlock was built (gen/seccomp_gen.c): compiling it here cost more than
 * the rest of the plan together, and every `airlock sandbox run` paid it.
 * It depends on nothing in the spec; should it ever, it must be built
 * here again.
 */
static int plan_seccomp(struct sbx_plan *plan)
{
	size_t len = sbx_seccomp_prog_len * sizeof(struct sock_filter);

	plan->seccomp.filter = malloc(len);
	if (!plan->seccomp.filter)
		return -ENOMEM;
	memcpy(plan->seccomp.filter, sbx_seccomp_prog, len);
	plan->seccomp.len = sbx_seccomp_prog_len;
	return 0;
}

int sbx_plan_build(struct sbx_plan_store *ps, const struct sbx_spec *s)
{
	int rc;

	memset(ps, 0, sizeof(*ps));
	ps->plan.tmp_bytes = s->tmp_bytes;
	ps->plan.shm_bytes = SBX_SHM_BYTES;
	ps->plan.fsize = s->disk_bytes;
	ps->plan.hostname = "airlock";
	ps->plan.passwd = "sandbox:x:1000:1000:airlock sandbox:/tmp:/bin/sh\n"
			  "nobody:x:65534:65534:nobody:/nonexistent:"
			  "/usr/sbin/nologin\n";
	ps->plan.group = "sandbox:x:1000:\nnogroup:x:65534:\n";
	plan_argv_area(&ps->plan);
	rc = plan_argv(ps, s);
	if (rc == 0)
		rc = plan_image(ps, s->image);
	if (rc == 0)
		rc = plan_binds(ps, s);
	if (rc == 0)
		rc = plan_env(ps, s);
	if (rc == 0)
		rc = plan_seccomp(&ps->plan);
	if (rc)
		sbx_plan_free(ps);
	return rc;
}

void sbx_plan_free(struct sbx_plan_store *ps)
{
	for (size_t i = 0; i < ps->plan.nmnts; i++) {
		free((char *)ps->plan.mnts[i].src);
		free((char *)ps->plan.mnts[i].dst);
	}
	free(ps->plan.mnts);
	for (size_t i = 0; ps->env && ps->env[i]; i++)
		free(ps->env[i]);
	free(ps->env);
	for (size_t i = 0; ps->argv && ps->argv[i]; i++)
		free(ps->argv[i]);
	free(ps->argv);
	free(ps->workdir);
	free(ps->plan.seccomp.filter);
	memset(ps, 0, sizeof(*ps));
}
