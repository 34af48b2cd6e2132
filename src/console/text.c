/*
 * text.c - putting strings on the screen so that none can drive the
 * terminal. Strings reach here sanitised already (con_safe_dup); this is
 * the second line: each character is decoded and only printable ones of
 * known width are drawn, so a byte the first pass missed (an 8-bit C1
 * control, an invalid sequence, a zero-width joiner trick) becomes '?'
 * instead of reaching the terminal. Without a UTF-8 locale every byte
 * outside printable ASCII becomes '?'.
 */
#include <string.h>
#include <time.h>
#include <wchar.h>
#include <wctype.h>

#include <ncurses.h>

#include "console/internal.h"

static bool text_utf8;

void con_text_init(bool utf8)
{
	text_utf8 = utf8;
}

/* Characters that must not reach a terminal, even if printable. */
bool con_wc_unsafe(wchar_t wc)
{
	if (wc < 0x20 || (wc >= 0x7f && wc < 0xa0))
		return true;
	/* Bidirectional embeddings, overrides and isolates reorder text. */
	if ((wc >= 0x202a && wc <= 0x202e) || (wc >= 0x2066 && wc <= 0x2069))
		return true;
	/* Invisible format characters make two names look the same or
	 * carry hidden text: soft hyphen, Arabic letter mark, Mongolian
	 * vowel separator, zero-width space to right-to-left mark, word
	 * joiner to invisible plus, byte order mark, tag characters. */
	if (wc == 0xad || wc == 0x61c || wc == 0x180e ||
	    (wc >= 0x200b && wc <= 0x200f) || (wc >= 0x2060 && wc <= 0x2064) ||
	    wc == 0xfeff || (wc >= 0xe0000 && wc <= 0xe007f))
		return true;
	return !iswprint((wint_t)wc);
}

/* Decode s into at most width columns of safe characters. */
static size_t text_wide(const char *s, int width, wchar_t *out, size_t max,
			int *cols)
{
	mbstate_t st;
	size_t n = 0, left = strlen(s);

	memset(&st, 0, sizeof(st));
	*cols = 0;
	while (left && n < max) {
		wchar_t wc;
		size_t k = mbrtowc(&wc, s, left, &st);
		int w;

		if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
			memset(&st, 0, sizeof(st));
			k = 1;
			wc = L'?';
		}
		if (con_wc_unsafe(wc) || (w = wcwidth(wc)) < 0)
			wc = L'?', w = 1;
		if (*cols + w > width)
			break;
		out[n++] = wc;
		*cols += w;
		s += k;
		left -= k;
	}
	return n;
}

int con_text(int y, int x, int width, const char *s)
{
	int cols = 0;

	if (width <= 0 || !s)
		return 0;
	if (text_utf8) {
		wchar_t buf[512];
		size_t n = text_wide(s, width, buf,
				     sizeof(buf) / sizeof(*buf), &cols);
		mvaddnwstr(y, x, buf, (int)n);
		return cols;
	}
	char buf[512];
	for (; s[cols] && cols < width && cols < (int)sizeof(buf) - 1; cols++) {
		unsigned char c = (unsigned char)s[cols];
		buf[cols] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	mvaddnstr(y, x, buf, cols);
	return cols;
}

void con_text_right(int y, int x, int width, const char *s)
{
	int len = (int)strlen(s);

	if (len < width)
		x += width - len;
	con_text(y, x, width, s);
}

void con_fmt_dur(char *out, size_t outsz, int64_t ms)
{
	if (ms < 0) {
		snprintf(out, outsz, "-");
		return;
	}
	if (ms < 10000)
		snprintf(out, outsz, "%.1fs", (double)ms / 1000);
	else if (ms < 3600000)
		snprintf(out, outsz, "%lldm%02llds", (long long)(ms / 60000),
			 (long long)(ms / 1000 % 60));
	else
		snprintf(out, outsz, "%lldh%02lldm", (long long)(ms / 3600000),
			 (long long)(ms / 60000 % 60));
}

void con_fmt_when(char *out, size_t outsz, int64_t ms, int64_t now_ms)
{
	time_t t = (time_t)(ms / 1000), now = (time_t)(now_ms / 1000);
	struct tm tm, tn;

	if (ms <= 0 || !localtime_r(&t, &tm) || !localtime_r(&now, &tn)) {
		snprintf(out, outsz, "-");
		return;
	}
	if (tm.tm_year == tn.tm_year && tm.tm_yday == tn.tm_yday)
		strftime(out, outsz, "%H:%M:%S", &tm);
	else
		strftime(out, outsz, "%m-%d %H:%M", &tm);
}
