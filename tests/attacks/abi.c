/*
 * abi.c - THREATS.md "System calls" through the other entry points of an
 * x86_64 kernel: the 32-bit one (int 0x80, the i386 table) and the x32
 * one (numbers with bit 30 set). A filter written for the x86_64 table
 * means nothing there: i386 mount is 21, x86_64's access. The seccomp
 * filter must kill the process on any such call, before the kernel looks
 * at the number.
 *
 * Each attempt runs in a forked child, so that one program can make them
 * all; the line says how the child ended: "refused int80 mount: killed
 * by SIGSYS", or ESCAPED with the call's return value. Calls include a
 * harmless one (getpid) and a number beyond every table, because the
 * rule is about the entry point, not the call.
 *
 * The i386 and x32 numbers are from the kernel's uapi headers
 * (asm/unistd_32.h, asm/unistd_x32.h); both cannot be included next to
 * the native one.
 */
#include "attack.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef __x86_64__

#define X32_BIT 0x40000000L

static const struct {
	const char *name;
	long i386, x32;
} calls[] = {
	{ "getpid", 20, 39 },
	{ "mount", 21, 165 },
	{ "umount2", 52, 166 },
	{ "pivot_root", 217, 155 },
	{ "chroot", 61, 161 },
	{ "setns", 346, 308 },
	{ "unshare", 310, 272 },
	{ "clone", 120, 56 },
	{ "fsopen", 430, 430 },
	{ "fsconfig", 431, 431 },
	{ "fsmount", 432, 432 },
	{ "move_mount", 429, 429 },
	{ "open_tree", 428, 428 },
	{ "fspick", 433, 433 },
	{ "mount_setattr", 442, 442 },
	{ "bpf", 357, 321 },
	{ "keyctl", 288, 250 },
	{ "add_key", 286, 248 },
	{ "ptrace", 26, 521 },
	{ "process_vm_writev", 348, 540 },
	{ "kexec_load", 283, 528 },
	{ "init_module", 128, 175 },
	{ "perf_event_open", 336, 298 },
	{ "userfaultfd", 374, 323 },
	{ "io_uring_setup", 425, 425 },
	{ "ioctl", 54, 514 },
	{ "socket", 359, 41 },
	{ "beyond the table", 1000, 1000 },
};

/* An i386 system call from 64-bit code; the arguments are zero. */
static long int80(long nr)
{
	long ret;

	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(0L), "c"(0L), "d"(0L), "S"(0L),
			   "D"(0L)
			 : "memory");
	return ret;
}

/* An x32 system call: the native instruction, the x32 bit set. */
static long x32(long nr)
{
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr | X32_BIT), "D"(0L), "S"(0L), "d"(0L)
			 : "rcx", "r11", "memory");
	return ret;
}

/* Run one call in a child; only death by SIGSYS counts as refused. */
static void attempt(const char *abi, const char *name, long nr,
		    long (*call)(long))
{
	char label[64];
	int st = 0;
	pid_t pid = fork();

	if (pid == 0) {
		long r = call(nr);
		/* Still alive: pass the return value's low bits up. */
		_exit((int)(r & 0xff));
	}
	snprintf(label, sizeof(label), "%s %s", abi, name);
	if (pid < 0) {
		attack_result(label, 0, "fork failed: %s", strerror(errno));
		return;
	}
	waitpid(pid, &st, 0);
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS)
		attack_result(label, 1, "killed by SIGSYS");
	else if (WIFSIGNALED(st))
		attack_result(label, 0, "died of signal %d, not SIGSYS",
			      WTERMSIG(st));
	else
		attack_result(label, 0, "not killed, returned (low byte) %d",
			      WEXITSTATUS(st));
}

int main(void)
{
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		attempt("int80", calls[i].name, calls[i].i386, int80);
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		attempt("x32", calls[i].name, calls[i].x32, x32);
	return attack_exit();
}

#else

int main(void)
{
	printf("skip abi: only x86_64 has the int 0x80 and x32 entries\n");
	return 0;
}

#endif
