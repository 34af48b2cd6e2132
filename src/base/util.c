#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t al_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t al_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void al_utc_stamp(char *out, size_t outsz, int64_t wall_ms)
{
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (int)(wall_ms % 1000));
}

void al_utc_date(char *out, size_t outsz, int64_t wall_ms)
{
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	snprintf(out, outsz, "%04d-%02d-%02d", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday);
}

/*
 * The length of the sequence at u[i] that could drive a terminal, 0 when
 * there is none: a C0 control other than tab (and newline if keep_nl),
 * DEL, a C1 control as UTF-8 (U+0080..U+009F, e.g. CSI), one of the
 * bidirectional overrides and isolates (U+202A..U+202E, U+2066..U+2069)
 * or marks (U+200E, U+200F, U+061C), which reorder what follows them on
 * screen so that a name could display as something else, or the line
 * and paragraph separators (U+2028, U+2029), which some terminals and
 * log viewers break lines at.
 */
static size_t unsafe_at(const unsigned char *u, size_t i, size_t len,
			bool keep_nl)
{
	if (u[i] == '\t' || (keep_nl && u[i] == '\n'))
		return 0;
	if (u[i] < 0x20 || u[i] == 0x7f)
		return 1;
	if (u[i] == 0xc2 && i + 1 < len && u[i + 1] >= 0x80 &&
	    u[i + 1] <= 0x9f)
		return 2;
	if (u[i] == 0xd8 && i + 1 < len && u[i + 1] == 0x9c)
		return 2;
	if (u[i] == 0xe2 && i + 2 < len &&
	    ((u[i + 1] == 0x80 && u[i + 2] >= 0xa8 && u[i + 2] <= 0xae) ||
	     (u[i + 1] == 0x80 && (u[i + 2] == 0x8e || u[i + 2] == 0x8f)) ||
	     (u[i + 1] == 0x81 && u[i + 2] >= 0xa6 && u[i + 2] <= 0xa9)))
		return 3;
	return 0;
}

void al_sanitize_buf(char *s, size_t len, bool keep_nl)
{
	unsigned char *u = (unsigned char *)s;

	for (size_t i = 0; i < len; i++) {
		size_t n = unsafe_at(u, i, len, keep_nl);

		memset(u + i, '?', n);
		if (n)
			i += n - 1;
	}
}

bool al_text_safe(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < len; i++)
		if (unsafe_at(u, i, len, false))
			return false;
	return true;
}

void al_sanitize_text(char *s)
{
	al_sanitize_buf(s, strlen(s), false);
}

static size_t al_utf8_len(const unsigned char *u, size_t left)
{
	size_t n;
	unsigned min;

	if (u[0] < 0x80)
		return 1;
	if (u[0] >= 0xc2 && u[0] <= 0xdf)
		n = 2, min = 0x80;
	else if (u[0] >= 0xe0 && u[0] <= 0xef)
		n = 3, min = 0x800;
	else if (u[0] >= 0xf0 && u[0] <= 0xf4)
		n = 4, min = 0x10000;
	else
		return 0;
	if (n > left)
		return 0;
	unsigned cp = u[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (u[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

bool al_utf8_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0, n; i < len; i += n)
		if ((n = al_utf8_len(u + i, len - i)) == 0)
			return false;
	return true;
}

void al_utf8_repair(char *s, size_t len)
{
	unsigned char *u = (unsigned char *)s;

	for (size_t i = 0; i < len;) {
		size_t n = al_utf8_len(u + i, len - i);
		if (n == 0) {
			u[i++] = '?';
			continue;
		}
		i += n;
	}
}

size_t al_strlcpy(char *out, const char *src, size_t outsz)
{
	size_t n = strlen(src);

	if (outsz) {
		size_t c = n < outsz - 1 ? n : outsz - 1;
		memcpy(out, src, c);
		out[c] = '\0';
	}
	return n;
}

int al_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int al_parse_size(const char *s, uint64_t *out)
{
	char num[32];
	size_t n = s ? strlen(s) : 0;
	unsigned shift = 0;

	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n + 1);
	switch (num[n - 1]) {
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	default: break;
	}
	if (shift)
		num[n - 1] = '\0';

	uint64_t v;
	int rc = al_parse_u64(num, UINT64_MAX >> shift, &v);
	if (rc == 0)
		*out = v << shift;
	return rc;
}

int al_random(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void al_hex(char *out, const void *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *u = in;

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[u[i] >> 4];
		out[2 * i + 1] = digits[u[i] & 15];
	}
	out[2 * len] = '\0';
}

int al_buf_reserve(struct al_buf *b, size_t extra)
{
	if (extra > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int al_buf_append(struct al_buf *b, const void *data, size_t len)
{
	int rc = al_buf_reserve(b, len);
	if (rc)
		return rc;
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return 0;
}

int al_buf_puts(struct al_buf *b, const char *s)
{
	return al_buf_append(b, s, strlen(s));
}

int al_buf_printf(struct al_buf *b, const char *fmt, ...)
{
	va_list ap, ap2;
	int rc;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		rc = -EINVAL;
		goto out;
	}
	rc = al_buf_reserve(b, (size_t)n);
	if (rc)
		goto out;
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap2);
	b->len += (size_t)n;
out:
	va_end(ap2);
	return rc;
}

void al_buf_free(struct al_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

int al_read_file(const char *path, size_t max, struct al_buf *b)
{
	char chunk[65536];
	int rc = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		if (b->len + (size_t)n > max) {
			rc = -EFBIG;
			break;
		}
		rc = al_buf_append(b, chunk, (size_t)n);
		if (rc)
			break;
	}
	close(fd);
	return rc;
}
