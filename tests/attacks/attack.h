/*
 * attack.h - shared by the attack programs in tests/attacks/.
 *
 * Each program is run as the payload of a real sandbox by a test under
 * tests/unit/sandbox/ (test_attack_*.c), with this build's attacks
 * directory bound read-only at /attacks. A program makes one or more
 * attempts; each attempt prints one line, "refused NAME: reason" or
 * "ESCAPED NAME: what happened", and the program exits 0 only when every
 * attempt was refused. The tests check the exit status and the lines, and
 * then that the host is unchanged.
 *
 * The programs are built static and without sanitizers: they must run in
 * the sandbox's minimal root under its memory limit, and they make raw
 * system calls a sanitizer would intercept.
 */
#ifndef AL_ATTACK_H
#define AL_ATTACK_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int attack_escapes __attribute__((unused));

/* Record an attempt: ok is true when the sandbox refused it. */
__attribute__((format(printf, 3, 4), unused)) static void
attack_result(const char *name, int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s %s: ", ok ? "refused" : "ESCAPED", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		attack_escapes++;
}

/*
 * The usual case: a system call that must fail. CALL is evaluated once,
 * before errno is read.
 */
#define ATTACK_EXPECT_FAIL(name, call)                                     \
	do {                                                               \
		long attack_rc_ = (long)(call);                            \
		int attack_err_ = errno;                                   \
		if (attack_rc_ < 0)                                        \
			attack_result((name), 1, "%s",                     \
				      strerror(attack_err_));              \
		else                                                       \
			attack_result((name), 0, "returned %ld",           \
				      attack_rc_);                         \
	} while (0)

static inline int attack_exit(void)
{
	return attack_escapes ? 1 : 0;
}

#endif
