/*
 * test_attack_resources.c - THREATS.md "Resources", run as real sandbox
 * payloads (root needed): a busy loop on many threads, a disk filler on
 * a capped volume, past RLIMIT_FSIZE and in /tmp, a memory bomb next to a
 * process that must survive it, and a 10 GiB stream to stdout. The fork
 * bomb and the SIGTERM-ignoring double fork at the time limit are in
 * test_sandbox.c. Every test checks that the host is as it was: no
 * mount, loop device or sandbox cgroup left. No test asserts a
 * duration: the CPU test compares CPU time with wall time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attack_run.h"
#include "base/fs.h"
#include "base/util.h"
#include "sandbox/internal.h"
#include "sandbox/sandbox.h"

static void host_unchanged(const struct attack_host *h)
{
	char why[256];

	if (attack_host_changed(h, why, sizeof(why)))
		fail_msg("host changed: %s", why);
}

/* Run the cpu attack; return its CPU time over wall time, in percent. */
static long cpu_percent(unsigned cpus_milli)
{
	struct sbx_spec s;
	struct sbx_result r;
	long long cpu = -1, wall = -1;

	attack_spec(&s);
	s.cpus_milli = cpus_milli;
	assert_int_equal(attack_run(&s, "resources", "cpu:4", &r), 0);
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(sscanf(r.output, "cpu_ms=%lld wall_ms=%lld", &cpu,
				&wall), 2);
	printf("cpus_milli=%u: %s", cpus_milli, r.output);
	sbx_result_free(&r);
	assert_true(wall > 0 && cpu >= 0);
	return (long)(cpu * 100 / wall);
}

/*
 * Four spinning threads get the CPU quota, not the machine: CPU time
 * over wall time stays near the limit. Margins are generous (scheduling
 * slack). A tenth of a CPU tells the quota apart from a busy host: even
 * on a host loaded many times over its cores, four unconfined threads
 * get far more than 20% of one.
 */
static void test_busy_loop_gets_its_quota(void **state)
{
	struct attack_host host;

	attack_host_snapshot(&host);
	assert_true(cpu_percent(1000) <= 125);
	assert_true(cpu_percent(100) <= 20);
	host_unchanged(&host);
}

static char *make_dir(uid_t uid)
{
	char *dir = attack_dir("/tmp", uid);

	assert_non_null(dir);
	return dir;
}

/*
 * A writable bind on a 64 MiB volume: the filler gets ENOSPC at the cap,
 * the result says the disk was full, and a payload that fails because of
 * it gets kill reason "disk". The daemon (root) can still write there
 * afterwards (blocks reserved for root), and removing the volume leaves
 * no mount and no loop device.
 */
static void test_disk_filler_stops_at_the_cap(void **state)
{
	struct attack_host host;
	struct sbx_spec s;
	struct sbx_result r;
	struct stat st;
	char path[512];
	char *dir = make_dir(SBX_DEFAULT_UID);
	struct sbx_bind binds[] = { { dir, "/work", true } };
	const char *argv[] = { "/bin/sh", "-c",
			       "dd if=/dev/zero of=/work/more bs=1M", NULL };

	attack_host_snapshot(&host);
	assert_int_equal(sbx_disk_create(dir, 64u << 20, "attack"), 0);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_uid, SBX_DEFAULT_UID);

	attack_spec(&s);
	s.binds = binds;
	s.nbinds = 1;
	assert_int_equal(attack_run(&s, "resources", "fill:/work/fill", &r),
			 0);
	printf("%s", r.output);
	assert_int_equal(r.exit_code, 0);
	assert_non_null(strstr(r.output, "refused disk-fill: stopped after "));
	assert_non_null(strstr(r.output, "No space left on device"));
	assert_true(r.disk_full);
	assert_int_equal(r.kill, SBX_KILL_NONE); /* it exited 0 */
	sbx_result_free(&r);
	snprintf(path, sizeof(path), "%s/fill", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size <= (64 << 20));

	/* A real tool failing on ENOSPC: kill reason "disk". */
	s.argv = argv;
	assert_int_equal(sbx_run(&s, &r), 0);
	assert_int_not_equal(r.exit_code, 0);
	assert_int_equal(r.kill, SBX_KILL_DISK);
	assert_string_equal(sbx_kill_name(r.kill), "disk");
	sbx_result_free(&r);

	/* root's reserve: the daemon can still write its files. */
	snprintf(path, sizeof(path), "%s/daemon-note", dir);
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "ok\n", 3), 3);
	assert_int_equal(close(fd), 0);

	assert_int_equal(sbx_disk_remove(dir, "attack"), 0);
	/* The loop device clears itself once unmounted; give it a moment
	 * (a bounded wait for the kernel, not a timing assertion). */
	for (int i = 0; i < 50 && attack_count_loops() != host.loops; i++)
		usleep(100 * 1000);
	host_unchanged(&host);
}

/*
 * No single file may outgrow disk_bytes, even on a filesystem without a
 * cap (RLIMIT_FSIZE): with SIGXFSZ ignored the write fails with EFBIG;
 * with the default action the payload dies of SIGXFSZ, kill reason
 * "disk".
 */
static void test_file_size_limit(void **state)
{
	struct attack_host host;
	struct sbx_spec s;
	struct sbx_result r;
	const char *argv[] = { "/bin/sh", "-c",
			       "exec head -c 32M /dev/zero > /tmp/big", NULL };

	attack_host_snapshot(&host);
	attack_spec(&s);
	s.disk_bytes = 8u << 20;
	assert_int_equal(attack_run(&s, "resources", "bigfile:/tmp/big", &r),
			 0);
	printf("%s", r.output);
	assert_int_equal(r.exit_code, 0);
	assert_non_null(strstr(r.output, "refused file-size: stopped after "
				       "8 MiB: File too large"));
	sbx_result_free(&r);

	s.argv = argv;
	assert_int_equal(sbx_run(&s, &r), 0);
	assert_int_equal(r.signal, SIGXFSZ);
	assert_int_equal(r.kill, SBX_KILL_DISK);
	sbx_result_free(&r);
	host_unchanged(&host);
}

/* The N of "stopped after N MiB" in r's output, or -1. */
static long fill_mib(const struct sbx_result *r)
{
	const char *p = r->output ? strstr(r->output, "stopped after ") : NULL;

	return p ? strtol(p + strlen("stopped after "), NULL, 10) : -1;
}

/*
 * /tmp is capped at tmp_bytes: a filler stops with ENOSPC there, not at
 * the memory limit or RLIMIT_FSIZE, both far above it. (/dev/shm has a
 * cap of its own, test_attack_privileges.)
 */
static void test_tmp_filler_stops_at_the_cap(void **state)
{
	struct attack_host host;
	struct sbx_spec s;
	struct sbx_result r;

	(void)state;
	attack_host_snapshot(&host);
	attack_spec(&s);
	s.tmp_bytes = 48u << 20;
	assert_int_equal(attack_run(&s, "resources", "fill:/tmp/fill", &r),
			 0);
	printf("%s", r.output);
	assert_int_equal(r.exit_code, 0);
	assert_non_null(strstr(r.output, "refused disk-fill: stopped after "));
	assert_non_null(strstr(r.output, "No space left on device"));
	assert_true(fill_mib(&r) >= 40 && fill_mib(&r) <= 48);
	sbx_result_free(&r);
	host_unchanged(&host);
}

static pid_t witness = -1;

/* The witness process goes even when the test failed. */
static int witness_cleanup(void **state)
{
	if (witness > 0) {
		kill(witness, SIGKILL);
		waitpid(witness, NULL, 0);
	}
	witness = -1;
	return 0;
}

/* A memory bomb is killed for memory; a process beside it lives on. */
static void test_memory_bomb_kills_only_itself(void **state)
{
	struct attack_host host;
	struct sbx_spec s;
	struct sbx_result r;
	int st = 0;

	witness = fork();

	if (witness == 0) {
		pause();
		_exit(0);
	}
	assert_true(witness > 0);
	attack_host_snapshot(&host);
	attack_spec(&s);
	s.mem_bytes = 64u << 20;
	assert_int_equal(attack_run(&s, "resources", "memory", &r), 0);
	assert_int_equal(r.kill, SBX_KILL_OOM);
	assert_int_equal(r.signal, SIGKILL);
	assert_null(strstr(r.output ? r.output : "", "ESCAPED"));
	sbx_result_free(&r);
	assert_int_equal(waitpid(witness, &st, WNOHANG), 0);
	assert_int_equal(kill(witness, SIGKILL), 0);
	assert_int_equal(waitpid(witness, &st, 0), witness);
	witness = -1;
	host_unchanged(&host);
}

/* 10 GiB to stdout: all counted, only the cap kept. */
struct inotify_peer {
	const char *dir;
	int host_errno; /* 0: the host could still make an instance */
};

/* Wait for the payload to hold all it can, then try on the host. */
static void *inotify_peer_main(void *arg)
{
	struct inotify_peer *p = arg;
	char ready[512], go[512];

	snprintf(ready, sizeof(ready), "%s/ready", p->dir);
	snprintf(go, sizeof(go), "%s/go", p->dir);
	p->host_errno = ETIMEDOUT;
	for (int i = 0; i < 1200 && access(ready, F_OK) != 0; i++)
		usleep(50000);
	if (access(ready, F_OK) == 0) {
		int fd = inotify_init1(IN_CLOEXEC);
		p->host_errno = fd < 0 ? errno : 0;
		if (fd >= 0)
			close(fd);
	}
	int g = open(go, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (g >= 0)
		close(g);
	return NULL;
}

/*
 * inotify instances are charged to the user that made the sandbox's
 * user namespace too, the daemon's root, whose host-wide limit the
 * host's services share: a payload must get only its own share, and
 * root must still be able to make instances while it holds them.
 */
static void test_inotify_share_is_capped(void **state)
{
	struct sbx_spec s;
	struct sbx_result r;
	char *dir = make_dir(SBX_DEFAULT_UID);
	char arg[512];
	struct sbx_bind binds[] = { { dir, "/work", true } };
	struct inotify_peer peer = { dir, 0 };
	pthread_t th;

	attack_spec(&s);
	s.binds = binds;
	s.nbinds = 1;
	snprintf(arg, sizeof(arg), "inotify:/work");
	assert_int_equal(pthread_create(&th, NULL, inotify_peer_main, &peer),
			 0);
	assert_int_equal(attack_run(&s, "resources", arg, &r), 0);
	pthread_join(th, NULL);
	printf("%s", r.output);
	const char *p = r.output ? strstr(r.output, "inotify instances ")
				 : NULL;
	assert_non_null(p);
	long n = strtol(p + 18, NULL, 10);
	assert_true(n > 0 && n <= SBX_INOTIFY_INSTANCES);
	assert_int_equal(peer.host_errno, 0);
	sbx_result_free(&r);
}

static void test_stdout_flood_is_cut(void **state)
{
	struct attack_host host;
	struct sbx_spec s;
	struct sbx_result r;
	const char *argv[] = { "/bin/sh", "-c", "head -c 10G /dev/zero",
			       NULL };

	attack_host_snapshot(&host);
	attack_spec(&s);
	s.argv = argv;
	s.timeout_s = 600;
	assert_int_equal(sbx_run(&s, &r), 0);
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(r.output_total, 10ull << 30);
	assert_true(r.truncated);
	assert_true(r.output_len < (1u << 20) + 128);
	sbx_result_free(&r);
	host_unchanged(&host);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_busy_loop_gets_its_quota),
		cmocka_unit_test_teardown(test_disk_filler_stops_at_the_cap,
					  attack_cleanup),
		cmocka_unit_test(test_file_size_limit),
		cmocka_unit_test(test_tmp_filler_stops_at_the_cap),
		cmocka_unit_test_teardown(test_memory_bomb_kills_only_itself,
					  witness_cleanup),
		cmocka_unit_test(test_stdout_flood_is_cut),
		cmocka_unit_test_teardown(test_inotify_share_is_capped,
					  attack_cleanup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
