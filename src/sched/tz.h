/*
 * tz.h - time zones read from the system's tzdata (TZif files).
 *
 * Why not localtime_r with TZ set: choosing a zone that way means
 * setenv("TZ") and tzset(), which change process-wide state that every
 * other thread's localtime, mktime and getenv read without a lock (the
 * daemon runs proxy, reaper and audit threads, and libcurl and libgit2
 * call getenv). A mutex of ours would not cover their calls. So the
 * scheduler parses the zone file itself (RFC 8536: version 1 to 4, the
 * 64-bit block, and the POSIX TZ rule in the footer for instants after
 * the last transition) into an immutable table that any thread may
 * read. Leap-second tables ("right/" zones) are ignored: schedules are
 * in civil time.
 *
 * Zones come from TZDIR (sched_opts.tzdir, else $TZDIR, else
 * /usr/share/zoneinfo). "UTC" needs no file.
 */
#ifndef AL_SCHED_TZ_H
#define AL_SCHED_TZ_H

#include <stdint.h>

#define SCHED_TZDIR_DEFAULT "/usr/share/zoneinfo"
#define SCHED_TZ_NAME_MAX 64

struct sched_tz;

/*
 * Load zone name ("Europe/Berlin", "UTC") from tzdir (NULL = default).
 * The name is checked before it becomes a path: 1 to SCHED_TZ_NAME_MAX
 * bytes of letters, digits, '/', '_', '-', '+', no leading '/', no "."
 * or ".." component, so a schedule line cannot make the daemon read an
 * arbitrary file. Returns 0, AL_E_USAGE (bad name), AL_E_NOTFOUND (no
 * such zone), AL_E_PARSE (not a TZif file or a footer rule this parser
 * cannot read), or a negative errno.
 */
int sched_tz_load(const char *tzdir, const char *name, struct sched_tz **out);
void sched_tz_free(struct sched_tz *z);
const char *sched_tz_name(const struct sched_tz *z);

/* Offset from UTC, in seconds east, in force at t (seconds since epoch). */
int32_t sched_tz_offset(const struct sched_tz *z, int64_t t);

/*
 * The instant at which the local wall time local_s (seconds since the
 * epoch as if the local clock were UTC) happens. Ambiguous times (the
 * repeated hour when clocks go back) give the first occurrence; times
 * that do not exist (the hour skipped when clocks go forward) give the
 * instant the clocks changed, so a slot in the gap runs right after it.
 */
int64_t sched_tz_resolve(const struct sched_tz *z, int64_t local_s);

/* Civil calendar helpers (proleptic Gregorian), days since 1970-01-01. */
int64_t sched_days_from_civil(int64_t y, unsigned m, unsigned d);
void sched_civil_from_days(int64_t days, int64_t *y, unsigned *m,
			   unsigned *d);

#endif
