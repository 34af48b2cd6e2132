/*
 * tty.c - THREATS.md "Terminal and ioctl": TIOCSTI pushes bytes into a
 * terminal's input queue as if they were typed, so a payload holding a
 * descriptor to an operator's terminal could run commands in the shell
 * reading it; TIOCLINUX can paste and read a virtual console.
 *
 * Controls: the payload runs in a new session with stdin /dev/null and
 * stdout/stderr a pipe, so it holds no terminal of the host (setsid,
 * stdio steps); /dev/tty fails (no controlling terminal); and the seccomp
 * filter refuses both requests on any descriptor with EPERM, comparing
 * the low 32 bits the kernel reads, so a request number with high bits
 * set is refused too. Aimed at descriptors that are not terminals, the
 * kernel would answer ENOTTY: the EPERM in the line shows it is the
 * filter that refused.
 *
 * With /dev/ptmx inside, the payload also opens a pseudo-terminal, makes
 * it its controlling terminal (where the kernel itself allows TIOCSTI)
 * and checks that nothing injected arrives. Without /dev/ptmx that part
 * prints "skip pty:" with the reason.
 */
#include "attack.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#define HIGH (1UL << 32)

/* ioctl through the raw call, so the request keeps its high bits. */
static long raw_ioctl(int fd, unsigned long req, void *arg)
{
	return syscall(SYS_ioctl, fd, req, arg);
}

static void on_descriptor(int fd, const char *what)
{
	char name[64], c = 'x', sub = 2; /* TIOCL_SETSEL-like subcode */

	snprintf(name, sizeof(name), "TIOCSTI %s", what);
	ATTACK_EXPECT_FAIL(name, raw_ioctl(fd, TIOCSTI, &c));
	snprintf(name, sizeof(name), "TIOCSTI %s (high bits)", what);
	ATTACK_EXPECT_FAIL(name, raw_ioctl(fd, TIOCSTI | HIGH, &c));
	snprintf(name, sizeof(name), "TIOCLINUX %s", what);
	ATTACK_EXPECT_FAIL(name, raw_ioctl(fd, TIOCLINUX, &sub));
	snprintf(name, sizeof(name), "TIOCLINUX %s (high bits)", what);
	ATTACK_EXPECT_FAIL(name, raw_ioctl(fd, TIOCLINUX | HIGH, &sub));
}

/* Inject into a pty we own and check that nothing was queued. */
static void on_pty(void)
{
	int m = open("/dev/ptmx", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	char path[64], buf[16];
	struct termios t;
	int s;

	/* Closing our controlling terminal's master hangs it up. */
	signal(SIGHUP, SIG_IGN);
	if (m < 0) {
		printf("skip pty: /dev/ptmx cannot be opened inside the "
		       "sandbox (%s)\n", strerror(errno));
		return;
	}
	if (grantpt(m) != 0 || unlockpt(m) != 0 ||
	    ptsname_r(m, path, sizeof(path)) != 0) {
		printf("skip pty: the pty pair cannot be set up (%s)\n",
		       strerror(errno));
		close(m);
		return;
	}
	/* Without O_NOCTTY: it becomes our controlling terminal. */
	s = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (s < 0) {
		printf("skip pty: %s cannot be opened (%s)\n", path,
		       strerror(errno));
		close(m);
		return;
	}
	ioctl(s, TIOCSCTTY, 0);
	/* Raw mode: an injected byte is readable without a newline. */
	if (tcgetattr(s, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(s, TCSANOW, &t);
	}
	on_descriptor(s, "pty");
	ATTACK_EXPECT_FAIL("TIOCSTI pty (queued input)",
			   read(s, buf, sizeof(buf)));
	close(s);
	close(m);
}

int main(void)
{
	int on = 1;

	if (raw_ioctl(0, FIONBIO, &on) != 0) {
		printf("BROKEN ioctl FIONBIO: %s\n", strerror(errno));
		return 2;
	}
	printf("allowed ioctl FIONBIO: ok\n");
	on_descriptor(0, "stdin");
	on_descriptor(1, "stdout");
	on_descriptor(2, "stderr");
	ATTACK_EXPECT_FAIL("open /dev/tty",
			   open("/dev/tty", O_RDWR | O_CLOEXEC));
	on_pty();
	return attack_exit();
}
