/*
 * util.h - small bounded helpers shared by every subsystem: time, text
 * sanitising, number parsing, randomness and a growable byte buffer.
 */
#ifndef AL_BASE_UTIL_H
#define AL_BASE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Milliseconds since the epoch (wall clock) and since boot (monotonic). */
int64_t al_wall_ms(void);
int64_t al_mono_ms(void);
/* "2026-12-04T16:08:27.123Z" into out (at least 25 bytes). */
void al_utc_stamp(char *out, size_t outsz, int64_t wall_ms);
/* "2026-12-04" into out (at least 11 bytes). */
void al_utc_date(char *out, size_t outsz, int64_t wall_ms);

/*
 * Replace, in place, every byte that could drive a terminal: C0 controls
 * other than tab and newline, DEL, UTF-8 encoded C1 controls, the
 * bidirectional overrides, isolates and marks that reorder text on
 * screen, and the Unicode line and paragraph separators. Used on every
 * string that came from a job before it reaches a terminal or log.
 */
void al_sanitize_text(char *s);
/* The same on a buffer of len bytes; newlines kept if keep_nl. */
void al_sanitize_buf(char *s, size_t len, bool keep_nl);
/* Whether al_sanitize_buf(s, len, false) would leave s as it is. */
bool al_text_safe(const char *s, size_t len);

/*
 * Replace, in place, every byte that is not part of a well-formed UTF-8
 * sequence with '?', so the text can go into JSON and terminals.
 */
void al_utf8_repair(char *s, size_t len);
/* Whether the len bytes at s are well-formed UTF-8 throughout. */
bool al_utf8_valid(const char *s, size_t len);

/* Copy at most outsz-1 bytes and terminate; returns strlen(src). */
size_t al_strlcpy(char *out, const char *src, size_t outsz);

/* Whole-string decimal parse with range check; -EINVAL or -ERANGE. */
int al_parse_u64(const char *s, uint64_t max, uint64_t *out);
/* "512", "512K", "512M", "2G" (binary units) into bytes. */
int al_parse_size(const char *s, uint64_t *out);

/* Fill buf from the kernel's CSPRNG; 0 or a negative errno. */
int al_random(void *buf, size_t len);
/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void al_hex(char *out, const void *in, size_t len);

/* A growable buffer, always NUL-terminated when p is not NULL. */
struct al_buf {
	char *p;
	size_t len;
	size_t cap;
};

/* Room for extra more bytes (and the NUL) without changing len. */
int al_buf_reserve(struct al_buf *b, size_t extra);
int al_buf_append(struct al_buf *b, const void *data, size_t len);
int al_buf_puts(struct al_buf *b, const char *s);
int al_buf_printf(struct al_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void al_buf_free(struct al_buf *b);

/* Read a whole regular file (at most max bytes) into b; -EFBIG past max. */
int al_read_file(const char *path, size_t max, struct al_buf *b);

#endif
