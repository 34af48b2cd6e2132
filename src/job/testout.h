/*
 * testout.h - what a test runner's output says: how many tests ran,
 * passed and failed, and the names of the failing ones.
 *
 * Understands TAP (tape, node --test, tap), node's spec reporter,
 * mocha and jest (testout.c lists the forms). Output is hostile data:
 * names are bounded, sanitised for terminals, and at most
 * TESTOUT_MAX_NAMES are kept.
 */
#ifndef AL_JOB_TESTOUT_H
#define AL_JOB_TESTOUT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define TESTOUT_MAX_NAMES 20
#define TESTOUT_NAME_MAX 200

struct testout {
	bool known;     /* a recognised runner summary was found */
	long ran;       /* -1 when unknown */
	long passed;
	long failed;
	size_t nfailing;
	char failing[TESTOUT_MAX_NAMES][TESTOUT_NAME_MAX];
};

/*
 * Remove terminal control sequences from buf in place: CSI (ESC [ ...,
 * also as U+009B), OSC, DCS and similar strings (up to BEL or ESC \),
 * and two-byte ESC sequences. Other bytes stay, newlines included;
 * lone control characters are left for al_sanitize_buf. Returns the new
 * length.
 */
size_t testout_strip_controls(char *buf, size_t len);

/* Scan len bytes of output (need not be NUL-terminated). */
void testout_parse(const char *out, size_t len, struct testout *t);

/* {"ran":..,"passed":..,"failed":..,"failing":[..]} or null if unknown. */
json_t *testout_json(const struct testout *t);

#endif
