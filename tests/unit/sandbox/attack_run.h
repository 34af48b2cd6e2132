/*
 * attack_run.h - run one of tests/attacks/ as a sandbox payload, for the
 * test_attack_*.c files. Included by one test file each, so static.
 */
#ifndef AL_TEST_ATTACK_RUN_H
#define AL_TEST_ATTACK_RUN_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/sandbox.h"

static const char *const attack_env[] = { "PATH=/usr/bin:/bin",
					  "HOME=/tmp", "LANG=C", NULL };

/* A spec with the defaults every attack starts from; tests may adjust. */
static inline void attack_spec(struct sbx_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->env = attack_env;
	s->host_uid = SBX_DEFAULT_UID;
	s->host_gid = SBX_DEFAULT_GID;
	s->stream_fd = -1;
	s->timeout_s = 120; /* a safety net, never asserted */
	s->job_id = "attack";
}

/*
 * Run /attacks/NAME [ARG] in a sandbox made from s, with the attacks
 * directory bound read-only, plus s's own binds. Returns sbx_run's
 * result; r holds the payload's output and status.
 */
static inline int attack_run(struct sbx_spec *s, const char *name, const char *arg,
		      struct sbx_result *r)
{
	const char *dir = getenv("AL_ATTACKS_DIR");
	char prog[256];
	const char *argv[] = { prog, arg, NULL };
	struct sbx_bind binds[8];
	const struct sbx_bind *old = s->binds;
	size_t n = s->nbinds;
	int rc;

	if (!dir || n >= 8)
		return -EINVAL;
	snprintf(prog, sizeof(prog), "/attacks/%s", name);
	if (n) /* s->binds may be NULL, which memcpy may not get */
		memcpy(binds, s->binds, n * sizeof(*binds));
	binds[n] = (struct sbx_bind){ .src = dir, .dst = "/attacks" };
	s->binds = binds;
	s->nbinds = n + 1;
	s->argv = argv;
	rc = sbx_run(s, r);
	s->binds = old;
	s->nbinds = n;
	s->argv = NULL;
	return rc;
}

/* Did the payload's output contain line-start text? */
static inline int attack_said(const struct sbx_result *r, const char *text)
{
	return r->output && strstr(r->output, text) != NULL;
}

#endif
