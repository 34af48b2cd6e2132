/*
 * resources.c - exhaust what the sandbox is given (THREATS.md
 * "Resources"). One attack per run, named by the one argument:
 *
 *   resources cpu:THREADS    spin THREADS threads for about 2 s, then
 *                            print "cpu_ms=N wall_ms=N"; the test
 *                            compares the two (cgroup CPU quota)
 *   resources fill:FILE      write 1 MiB chunks to FILE until a write
 *                            fails; refused when it fails with ENOSPC or
 *                            EFBIG (workspace volume, RLIMIT_FSIZE)
 *   resources bigfile:FILE   the same with SIGXFSZ ignored, for a file
 *                            past RLIMIT_FSIZE; refused on EFBIG
 *   resources memory         allocate and touch memory until killed
 *                            (memory cgroup: the test expects "oom")
 *   resources inotify:DIR    make inotify instances until refused,
 *                            print "inotify instances N", create
 *                            DIR/ready and hold them until DIR/go
 *                            appears (the test looks at the host's
 *                            own inotify meanwhile)
 *
 * Fork bombs, timeouts with double forks and output floods are made by
 * test_sandbox.c and test_attack_resources.c with the shell.
 */
#include "attack.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *spin(void *arg)
{
	volatile uint64_t n = 0;
	int64_t stop = *(int64_t *)arg;

	while (now_ms(CLOCK_MONOTONIC) < stop)
		for (int i = 0; i < 100000; i++)
			n++;
	return NULL;
}

static int cpu(int threads)
{
	pthread_t th[64];
	int64_t t0 = now_ms(CLOCK_MONOTONIC);
	int64_t c0 = now_ms(CLOCK_PROCESS_CPUTIME_ID);
	int64_t stop = t0 + 2000;

	if (threads < 1 || threads > 64)
		return 2;
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, spin, &stop);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	printf("cpu_ms=%lld wall_ms=%lld\n",
	       (long long)(now_ms(CLOCK_PROCESS_CPUTIME_ID) - c0),
	       (long long)(now_ms(CLOCK_MONOTONIC) - t0));
	return 0;
}

static int fill(const char *path, const char *name)
{
	static char chunk[1 << 20];
	long long total = 0;
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
	int err = 0;

	if (fd < 0) {
		attack_result(name, 0, "test setup: %s: %s", path,
			      strerror(errno));
		return attack_exit();
	}
	memset(chunk, 'd', sizeof(chunk));
	for (;;) {
		ssize_t w = write(fd, chunk, sizeof(chunk));
		if (w < 0) {
			err = errno;
			break;
		}
		total += w;
		/* Far beyond any cap the tests set: the cap did not hold. */
		if (total >= (8LL << 30))
			break;
	}
	if (err == 0 && fsync(fd) != 0)
		err = errno;
	close(fd);
	attack_result(name, err == ENOSPC || err == EFBIG,
		      "stopped after %lld MiB: %s", total >> 20,
		      err ? strerror(err) : "no error");
	return attack_exit();
}

static int memory(void)
{
	size_t step = 16u << 20;

	for (size_t total = 0; total < (64ull << 30); total += step) {
		char *p = mmap(NULL, step, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			break;
		memset(p, 'm', step);
	}
	attack_result("memory-bomb", 0, "never killed");
	return attack_exit();
}

static int inotify_hold(const char *dir)
{
	char ready[256], go[256];
	int n = 0;

	while (n < 100000 && inotify_init1(IN_CLOEXEC) >= 0)
		n++;
	printf("inotify instances %d\n", n);
	fflush(stdout);
	snprintf(ready, sizeof(ready), "%s/ready", dir);
	snprintf(go, sizeof(go), "%s/go", dir);
	int fd = open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	for (int i = 0; i < 1200 && access(go, F_OK) != 0; i++)
		usleep(50000);
	return 0;
}

int main(int argc, char **argv)
{
	const char *a = argc > 1 ? argv[1] : "";

	if (!strncmp(a, "cpu:", 4))
		return cpu((int)strtol(a + 4, NULL, 10));
	if (!strncmp(a, "fill:", 5))
		return fill(a + 5, "disk-fill");
	if (!strncmp(a, "bigfile:", 8)) {
		signal(SIGXFSZ, SIG_IGN);
		return fill(a + 8, "file-size");
	}
	if (!strcmp(a, "memory"))
		return memory();
	if (!strncmp(a, "inotify:", 8))
		return inotify_hold(a + 8);
	return 2;
}
