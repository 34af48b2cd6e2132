/*
 * Schedule expressions and time zones: golden parses, hostile specs
 * with the column they fail at, next slots in UTC and across Europe/
 * Berlin's clock changes (from the system's tzdata), the POSIX rule
 * beyond the zone file's table, and zone names and files that must be
 * refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/fs.h"
#include "base/util.h"
#include "sched/cron.h"
#include "sched/tz.h"

/* "2026-03-29T01:00" (UTC) in ms. */
static int64_t utc(const char *s)
{
	struct tm tm = {0};

	assert_non_null(strptime(s, "%Y-%m-%dT%H:%M", &tm));
	return (int64_t)timegm(&tm) * 1000;
}

static struct sched_tz *zone(const char *name)
{
	struct sched_tz *z = NULL;

	assert_int_equal(sched_tz_load(NULL, name, &z), 0);
	return z;
}

static void parse_ok(const char *spec, struct sched_cron *c)
{
	char err[256] = "";
	int rc = sched_cron_parse(spec, c, err, sizeof(err));

	if (rc)
		fail_msg("'%s': %s", spec, err);
}

static void parse_bad(const char *spec, const char *want)
{
	struct sched_cron c;
	char err[256] = "";

	assert_int_equal(sched_cron_parse(spec, &c, err, sizeof(err)),
			 AL_E_PARSE);
	if (!strstr(err, want))
		fail_msg("'%s': got '%s', want '%s'", spec, err, want);
}

static void test_parse_golden(void **state)
{
	struct sched_cron c;

	parse_ok("*/15 9-17 * * mon-fri", &c);
	assert_true(c.minute == (1ull | 1ull << 15 | 1ull << 30 | 1ull << 45));
	assert_int_equal(c.hour, 0x3fe00);
	assert_int_equal(c.dow, 0x3e);
	assert_true(c.dom_star && !c.dow_star);

	parse_ok("5/20 0 1,15 JAN,jul *", &c);
	assert_true(c.minute == (1ull << 5 | 1ull << 25 | 1ull << 45));
	assert_int_equal(c.dom, 1u << 1 | 1u << 15);
	assert_int_equal(c.month, 1u << 1 | 1u << 7);

	parse_ok("0 0 * * 7", &c); /* 7 is Sunday too */
	assert_int_equal(c.dow, 1);
	parse_ok("0 0 * * 5-7", &c);
	assert_int_equal(c.dow, 1 | 1 << 5 | 1 << 6);
	parse_ok("  0   3  *  *  *  ", &c);
	assert_int_equal(c.hour, 1u << 3);

	struct sched_cron w;
	parse_ok("@weekly", &c);
	parse_ok("0 0 * * 0", &w);
	assert_memory_equal(&c, &w, sizeof(c));
	parse_ok("weekly mon 06:00", &c);
	parse_ok("0 6 * * 1", &w);
	assert_memory_equal(&c, &w, sizeof(c));
	parse_ok("Weekly Mon,Thu 6:05", &c);
	parse_ok("5 6 * * 1,4", &w);
	assert_memory_equal(&c, &w, sizeof(c));
	parse_ok("daily 23:59", &c);
	parse_ok("59 23 * * *", &w);
	assert_memory_equal(&c, &w, sizeof(c));
	parse_ok("monthly 1 02:00", &c);
	parse_ok("0 2 1 * *", &w);
	assert_memory_equal(&c, &w, sizeof(c));
	parse_ok("hourly", &c);
	parse_ok("@hourly", &w);
	assert_memory_equal(&c, &w, sizeof(c));
	parse_ok("@midnight", &c);
	parse_ok("@daily", &w);
	assert_memory_equal(&c, &w, sizeof(c));
	parse_ok("@annually", &c);
}

static void test_parse_hostile(void **state)
{
	char longspec[400];

	parse_bad("", "column 1: empty schedule");
	parse_bad("* * * *", "column 8: expected 5 fields");
	parse_bad("* * * * * *", "column 11: expected 5 fields");
	parse_bad("60 * * * *", "column 1: 60 is out of range for minute");
	parse_bad("0 24 * * *", "column 3: 24 is out of range for hour");
	parse_bad("0 0 0 * *", "column 5: 0 is out of range for day of month");
	parse_bad("0 0 * 13 *", "column 7: 13 is out of range for month");
	parse_bad("0 0 * * mnn", "column 9: 'mnn' is not a day of week "
				 "(0-7 or sun-sat)");
	parse_bad("0 0 * foo *", "column 7: 'foo' is not a month");
	parse_bad("0 0 * * monday", "column 9: 'monday' is not a day of week");
	parse_bad("5-3 * * * *", "column 1: range 5-3 of minute runs "
				 "backwards");
	parse_bad("*/0 * * * *", "column 3: step of minute must be 1 to 59");
	parse_bad("*/99 * * * *", "step of minute");
	parse_bad("1, * * * *", "column 3: a minute is missing after ','");
	parse_bad("1;2 * * * *", "column 2: unexpected ';'");
	parse_bad("-1 * * * *", "column 1: '-' is not a minute");
	parse_bad("weekly mon 6:0", "column 12: expected a time of day");
	parse_bad("weekly mon 24:00", "column 12: expected a time of day");
	parse_bad("weekly xyz 06:00", "column 8: 'xyz' is not a day of week");
	parse_bad("weekly 06:00", "expected 'weekly DAY HH:MM'");
	parse_bad("daily", "column 6: expected 'daily HH:MM'");
	parse_bad("hourly 5", "column 8: 'hourly' takes nothing more");
	parse_bad("@fortnightly", "column 1: unknown name '@fortnightly'");
	parse_bad("@daily 5", "column 8: nothing may follow @daily");
	parse_bad("0 0 * * \x1b[2J", "is not a day of week");
	memset(longspec, '1', sizeof(longspec) - 1);
	longspec[sizeof(longspec) - 1] = '\0';
	parse_bad(longspec, "column 257: longer than 256 bytes");
}

static int64_t next(const char *spec, struct sched_tz *z, int64_t after)
{
	struct sched_cron c;
	int64_t out = 0;

	parse_ok(spec, &c);
	assert_int_equal(sched_cron_next(&c, z, after, &out), 0);
	return out;
}

static void test_next_utc(void **state)
{
	struct sched_tz *z = zone("UTC");

	assert_int_equal(next("*/15 * * * *", z, utc("2026-01-01T00:00")),
			 utc("2026-01-01T00:15"));
	/* Strictly after: a slot at "after" itself is not returned. */
	assert_int_equal(next("0 6 * * *", z, utc("2026-01-01T06:00")),
			 utc("2026-01-02T06:00"));
	assert_int_equal(next("0 6 * * *", z, utc("2026-01-01T06:00") - 1),
			 utc("2026-01-01T06:00"));
	/* 2026-01-01 is a Thursday. */
	assert_int_equal(next("weekly mon 06:00", z, utc("2026-01-01T12:00")),
			 utc("2026-01-05T06:00"));
	assert_int_equal(next("0 0 29 2 *", z, utc("2026-01-01T00:00")),
			 utc("2028-02-29T00:00"));
	/* Both day fields restricted: the 13th or a Friday (the 2nd). */
	assert_int_equal(next("0 0 13 * fri", z, utc("2026-01-01T12:00")),
			 utc("2026-01-02T00:00"));
	assert_int_equal(next("0 0 13 * fri", z, utc("2026-01-09T12:00")),
			 utc("2026-01-13T00:00"));
	/* Only the day of month restricted: Fridays do not count. */
	assert_int_equal(next("0 0 13 * *", z, utc("2026-01-01T12:00")),
			 utc("2026-01-13T00:00"));
	assert_int_equal(next("@yearly", z, utc("2026-06-01T00:00")),
			 utc("2027-01-01T00:00"));

	struct sched_cron c;
	int64_t out;
	parse_ok("0 0 30 2 *", &c);
	assert_int_equal(sched_cron_next(&c, z, utc("2026-01-01T00:00"), &out),
			 AL_E_NOTFOUND);
	sched_tz_free(z);
}

/*
 * Europe/Berlin: CET (+1) to CEST (+2) at 01:00 UTC on the last Sunday
 * of March (2026-03-29: 02:00 local does not exist), back at 01:00 UTC
 * on the last Sunday of October (2026-10-25: 02:00-03:00 local happens
 * twice).
 */
static void test_dst_berlin(void **state)
{
	struct sched_tz *z = zone("Europe/Berlin");
	int64_t t;

	assert_int_equal(sched_tz_offset(z, utc("2026-03-29T00:59") / 1000),
			 3600);
	assert_int_equal(sched_tz_offset(z, utc("2026-03-29T01:00") / 1000),
			 7200);

	/* Spring forward: 02:00 does not exist; it runs at the change
	 * (03:00 CEST = 01:00 UTC), once, and the next day as usual. */
	t = next("0 2 * * *", z, utc("2026-03-28T12:00"));
	assert_int_equal(t, utc("2026-03-29T01:00"));
	t = next("0 2 * * *", z, t);
	assert_int_equal(t, utc("2026-03-30T00:00"));
	/* The day before, still CET. */
	assert_int_equal(next("0 2 * * *", z, utc("2026-03-27T12:00")),
			 utc("2026-03-28T01:00"));
	t = next("weekly sun 02:30", z, utc("2026-03-28T12:00"));
	assert_int_equal(t, utc("2026-03-29T01:00"));
	assert_int_equal(next("weekly sun 02:30", z, t),
			 utc("2026-04-05T00:30"));
	/* 03:00 the same night is a real time, at the same instant. */
	assert_int_equal(next("0 3 * * *", z, utc("2026-03-28T12:00")),
			 utc("2026-03-29T01:00"));

	/* Fall back: 02:00 and 02:30 happen twice; each runs once, the
	 * first time (CEST), and not again an hour later. */
	t = next("0 2 * * *", z, utc("2026-10-24T12:00"));
	assert_int_equal(t, utc("2026-10-25T00:00"));
	t = next("0 2 * * *", z, t);
	assert_int_equal(t, utc("2026-10-26T01:00"));
	t = next("weekly sun 02:30", z, utc("2026-10-24T12:00"));
	assert_int_equal(t, utc("2026-10-25T00:30"));
	t = next("weekly sun 02:30", z, t);
	assert_int_equal(t, utc("2026-11-01T01:30"));
	/* Asked from inside the repeated hour (02:45 CET, the second
	 * time): the 02:30 slot is over. */
	assert_int_equal(next("weekly sun 02:30", z, utc("2026-10-25T01:45")),
			 utc("2026-11-01T01:30"));
	/* Hourly across the repeated hour: 02:30 once, then 03:30 CET. */
	t = next("30 * * * *", z, utc("2026-10-25T00:30"));
	assert_int_equal(t, utc("2026-10-25T02:30"));
	sched_tz_free(z);
}

/* Past the file's last transition (2037) the footer's rule decides. */
static void test_dst_footer_rule(void **state)
{
	struct sched_tz *z = zone("Europe/Berlin");
	struct sched_tz *syd = zone("Australia/Sydney");

	/* Last Sunday of March 2040 is the 25th. */
	assert_int_equal(next("0 2 * * *", z, utc("2040-03-24T12:00")),
			 utc("2040-03-25T01:00"));
	assert_int_equal(next("0 2 * * *", z, utc("2040-10-27T12:00")),
			 utc("2040-10-28T00:00"));
	/* Southern hemisphere: daylight time spans the new year. */
	assert_int_equal(sched_tz_offset(syd, utc("2040-01-15T00:00") / 1000),
			 11 * 3600);
	assert_int_equal(sched_tz_offset(syd, utc("2040-07-15T00:00") / 1000),
			 10 * 3600);
	sched_tz_free(syd);
	sched_tz_free(z);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void test_zone_hostile(void **state)
{
	struct sched_tz *z = NULL;
	char dir[] = "/tmp/al-tz-XXXXXX", path[128];
	struct al_buf real = {0};

	/* Names that would leave TZDIR. */
	assert_int_equal(sched_tz_load(NULL, "../../etc/passwd", &z),
			 AL_E_USAGE);
	assert_int_equal(sched_tz_load(NULL, "/etc/passwd", &z), AL_E_USAGE);
	assert_int_equal(sched_tz_load(NULL, "Europe/../../etc/passwd", &z),
			 AL_E_USAGE);
	assert_int_equal(sched_tz_load(NULL, "Europe/./Berlin", &z),
			 AL_E_USAGE);
	assert_int_equal(sched_tz_load(NULL, "Europe//Berlin", &z),
			 AL_E_USAGE);
	assert_int_equal(sched_tz_load(NULL, "", &z), AL_E_USAGE);
	assert_int_equal(sched_tz_load(NULL, "Europe/Berlin\n", &z),
			 AL_E_USAGE);
	assert_int_equal(sched_tz_load(NULL, "Nowhere/Atlantis", &z),
			 AL_E_NOTFOUND);
	assert_int_equal(sched_tz_load(NULL, "Europe", &z), AL_E_NOTFOUND);
	assert_null(z);

	/* Forged files in a TZDIR of our own: truncated, bad magic, a
	 * transition table out of order, a type index out of range. */
	assert_non_null(mkdtemp(dir));
	assert_int_equal(al_read_file("/usr/share/zoneinfo/Europe/Berlin",
				      1 << 20, &real), 0);
	snprintf(path, sizeof(path), "%s/Good", dir);
	write_file(path, real.p, real.len);
	assert_int_equal(sched_tz_load(dir, "Good", &z), 0);
	sched_tz_free(z);
	z = NULL;

	snprintf(path, sizeof(path), "%s/Short", dir);
	write_file(path, real.p, 100);
	assert_int_equal(sched_tz_load(dir, "Short", &z), AL_E_PARSE);
	snprintf(path, sizeof(path), "%s/NoFooter", dir);
	write_file(path, real.p, real.len - 10);
	assert_int_equal(sched_tz_load(dir, "NoFooter", &z), AL_E_PARSE);

	real.p[0] = 'X';
	snprintf(path, sizeof(path), "%s/Magic", dir);
	write_file(path, real.p, real.len);
	assert_int_equal(sched_tz_load(dir, "Magic", &z), AL_E_PARSE);
	real.p[0] = 'T';

	/* The 64-bit block starts after the version 1 block (RFC 8536
	 * section 3: counts at offset 20); swap two of its transition
	 * times so they run backwards. */
	const unsigned char *h = (const unsigned char *)real.p;
	uint32_t cnt[6];
	for (int i = 0; i < 6; i++)
		cnt[i] = (uint32_t)h[20 + 4 * i] << 24 |
			 (uint32_t)h[21 + 4 * i] << 16 |
			 (uint32_t)h[22 + 4 * i] << 8 | h[23 + 4 * i];
	/* isut, isstd, leap, time, type, chars */
	size_t v1 = 44 + 5 * cnt[3] + 6 * cnt[4] + cnt[5] + 8 * cnt[2] +
		    cnt[1] + cnt[0];
	unsigned char *t64 = (unsigned char *)real.p + v1 + 44;
	assert_memory_equal(real.p + v1, "TZif", 4);
	unsigned char tmp[8];
	memcpy(tmp, t64, 8);
	memcpy(t64, t64 + 8, 8);
	memcpy(t64 + 8, tmp, 8);
	snprintf(path, sizeof(path), "%s/Order", dir);
	write_file(path, real.p, real.len);
	assert_int_equal(sched_tz_load(dir, "Order", &z), AL_E_PARSE);
	memcpy(t64 + 8, t64, 8);
	memcpy(t64, tmp, 8);

	snprintf(path, sizeof(path), "%s/Footer", dir);
	memcpy(real.p + real.len - 8, "XX,M13.", 7);
	write_file(path, real.p, real.len);
	assert_int_equal(sched_tz_load(dir, "Footer", &z), AL_E_PARSE);
	assert_null(z);

	al_buf_free(&real);
	al_rm_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_golden),
		cmocka_unit_test(test_parse_hostile),
		cmocka_unit_test(test_next_utc),
		cmocka_unit_test(test_dst_berlin),
		cmocka_unit_test(test_dst_footer_rule),
		cmocka_unit_test(test_zone_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
