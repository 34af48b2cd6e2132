/*
 * par.c - whether and how the verifiers use a second thread (internal.h
 * says what each one runs there).
 */
#include <errno.h>
#include <sched.h>

#include "audit/internal.h"
#include "base/err.h"
#include "base/log.h"

enum audit_par audit_par_mode = AUDIT_PAR_AUTO;

static int par_pthread_start(pthread_t *th, void *(*fn)(void *), void *arg)
{
	return -pthread_create(th, NULL, fn, arg);
}

int (*audit_thread_start)(pthread_t *th, void *(*fn)(void *),
			  void *arg) = par_pthread_start;

/*
 * The affinity mask, not the machine's count: a daemon pinned to one
 * CPU (a cpuset, taskset) gains nothing from a second thread and pays
 * for the hand-overs between them.
 */
bool audit_par_wanted(void)
{
	cpu_set_t set;

	if (audit_par_mode != AUDIT_PAR_AUTO)
		return audit_par_mode == AUDIT_PAR_ON;
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return false;
	return CPU_COUNT(&set) >= 2;
}

int audit_par_start(pthread_t *th, void *(*fn)(void *), void *arg)
{
	int rc = audit_thread_start(th, fn, arg);

	if (rc)
		al_warn("audit", NULL, "cannot start a verifier thread (%s): "
			"verifying on one thread", al_strerror(rc));
	return rc;
}
