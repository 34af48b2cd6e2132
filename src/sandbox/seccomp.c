/*
 * seccomp.c - the system call filter every sandboxed process runs under.
 *
 * The filter is built with libseccomp in the parent and handed to the
 * child as a raw BPF program, so that the child (cloned from a process
 * that may have other threads) needs no allocation to load it.
 *
 * Policy for this cut: allow by default, refuse with EPERM the calls
 * that reshape the sandbox (mounts, namespaces, pivot_root), reach into
 * other processes or the kernel (ptrace, process_vm_*, bpf, keyrings,
 * modules, kexec, perf), or are classic exploitation aids (userfaultfd,
 * open_by_handle_at, TIOCSTI). Non-native architectures are killed so
 * that a 32-bit syscall table cannot be used to dodge the rules.
 */
#include "sandbox/internal.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"

/* Refused with EPERM whatever their arguments. */
static const char *const sbx_denied[] = {
	"mount", "umount2", "pivot_root", "chroot", "move_mount",
	"open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
	"mount_setattr", "ptrace", "process_vm_readv", "process_vm_writev",
	"kexec_load", "kexec_file_load", "bpf", "keyctl", "add_key",
	"request_key", "unshare", "setns", "reboot", "init_module",
	"finit_module", "delete_module", "swapon", "swapoff",
	"open_by_handle_at", "name_to_handle_at", "perf_event_open",
	"userfaultfd", "acct", "quotactl", "lookup_dcookie",
	"iopl", "ioperm", "syslog", "personality",
};

/* Any of these in clone()'s flags creates a namespace. */
static const unsigned long sbx_ns_flags[] = {
	CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
	CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
};

static int sbx_seccomp_rules(scmp_filter_ctx ctx)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < AL_ARRAY_LEN(sbx_denied); i++) {
		int nr = seccomp_syscall_resolve_name(sbx_denied[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
	}
	/*
	 * clone3 passes its flags in memory a filter cannot read: make it
	 * look absent so glibc falls back to clone, whose flags we check.
	 */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
				      SCMP_SYS(clone3), 0);
	for (size_t i = 0; rc == 0 && i < AL_ARRAY_LEN(sbx_ns_flags); i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
				      SCMP_SYS(clone), 1,
				      SCMP_A0(SCMP_CMP_MASKED_EQ,
					      sbx_ns_flags[i],
					      sbx_ns_flags[i]));
	/* Faking terminal input would let a payload type into a shell. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
				      SCMP_SYS(ioctl), 1,
				      SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu,
					      TIOCSTI));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
				      SCMP_SYS(ioctl), 1,
				      SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu,
					      TIOCLINUX));
	return rc;
}

/* Export the compiled program through a memfd into a heap buffer. */
static int sbx_seccomp_export(scmp_filter_ctx ctx, struct sock_fprog *prog)
{
	int rc, fd = memfd_create("airlock-seccomp", MFD_CLOEXEC);
	char *buf = NULL;

	if (fd < 0)
		return -errno;
	rc = seccomp_export_bpf(ctx, fd);
	if (rc)
		goto out;
	off_t len = lseek(fd, 0, SEEK_END);
	if (len <= 0 || len % (off_t)sizeof(struct sock_filter) ||
	    len / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
		rc = -EINVAL;
		goto out;
	}
	buf = malloc((size_t)len);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	if (pread(fd, buf, (size_t)len, 0) != len) {
		rc = -EIO;
		goto out;
	}
	prog->filter = (struct sock_filter *)buf;
	prog->len = (unsigned short)(len / (off_t)sizeof(struct sock_filter));
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

int sbx_seccomp_build(struct sock_fprog *prog, const char *job)
{
	int rc;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);

	if (!ctx) {
		al_error(SBX_MOD, job, "step=seccomp seccomp_init failed");
		return AL_E_SANDBOX;
	}
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
			      SCMP_ACT_KILL_PROCESS);
	/* The child sets no_new_privs itself, in its own named step. */
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (rc == 0)
		rc = sbx_seccomp_rules(ctx);
	if (rc == 0)
		rc = sbx_seccomp_export(ctx, prog);
	if (rc)
		al_error(SBX_MOD, job, "step=seccomp building the filter: %s",
			 al_strerror(rc));
	seccomp_release(ctx);
	return rc;
}
