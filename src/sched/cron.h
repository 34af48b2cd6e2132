/*
 * cron.h - when a repository's schedule fires.
 *
 * Two spellings, both in the zone the schedule names:
 *
 *   5-field cron    MIN HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK
 *                   each field '*', a value, a range a-b, any of these
 *                   with a step "/n" ('*' with "/15" is every 15th; a
 *                   single value a with a step runs from a to the
 *                   end), or a comma list of these; months jan..dec
 *                   and weekdays sun..sat by name (any case); day of
 *                   week 0 and 7 are Sunday. When both day fields are
 *                   restricted (neither starts with '*'), a day
 *                   matching either one fires, as in Vixie cron.
 *   @hourly @daily @midnight @weekly @monthly @yearly @annually
 *   words           hourly | daily HH:MM | weekly DAY[,DAY...] HH:MM |
 *                   monthly N HH:MM      e.g. "weekly mon 06:00"
 *
 * Clock changes: a slot in the hour skipped when clocks go forward runs
 * at the change (02:30 on the spring-forward night runs at 03:00); a
 * slot in the hour repeated when clocks go back runs once, the first
 * time (sched_tz_resolve).
 */
#ifndef AL_SCHED_CRON_H
#define AL_SCHED_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/tz.h"

#define SCHED_CRON_SPEC_MAX 256

struct sched_cron {
	uint64_t minute; /* bit n: minute n */
	uint32_t hour;
	uint32_t dom;    /* bit 1..31 */
	uint16_t month;  /* bit 1..12 */
	uint8_t dow;     /* bit 0..6, Sunday = 0 */
	bool dom_star, dow_star;
};

/*
 * Parse spec into c. On a bad spec returns AL_E_PARSE with err set to
 * "column N: what was wrong" (N counts bytes of spec from 1), e.g.
 * "column 9: 'mnn' is not a day of week (0-7 or sun-sat)".
 */
int sched_cron_parse(const char *spec, struct sched_cron *c, char *err,
		     size_t errsz);

/*
 * The first slot strictly after after_ms (ms since the epoch) in zone z,
 * into *out_ms (a whole minute). AL_E_NOTFOUND if no slot comes within
 * eight years (a spec such as "0 0 30 2 *" never fires).
 */
int sched_cron_next(const struct sched_cron *c, const struct sched_tz *z,
		    int64_t after_ms, int64_t *out_ms);

#endif
