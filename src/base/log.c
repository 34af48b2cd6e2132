#include "base/log.h"
#include "base/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int al_log_level = -1;
static char al_log_job[64];

static const char al_log_letters[] = {
#define AL_X_LETTER(name, letter, word) letter,
	AL_LOG_LEVELS(AL_X_LETTER)
#undef AL_X_LETTER
};

static const char *const al_log_words[] = {
#define AL_X_WORD(name, letter, word) word,
	AL_LOG_LEVELS(AL_X_WORD)
#undef AL_X_WORD
};

void al_log_set_level(enum al_log_level level)
{
	al_log_level = (int)level;
}

void al_log_set_job(const char *job)
{
	al_strlcpy(al_log_job, job ? job : "", sizeof(al_log_job));
}

int al_log_level_parse(const char *word)
{
	for (size_t i = 0; i < sizeof(al_log_words) / sizeof(*al_log_words);
	     i++)
		if (word && strcmp(word, al_log_words[i]) == 0)
			return (int)i;
	return -1;
}

static int al_log_threshold(void)
{
	if (al_log_level < 0) {
		int lv = al_log_level_parse(getenv("AIRLOCK_LOG"));
		al_log_level = lv >= 0 ? lv : AL_LOG_INFO;
	}
	return al_log_level;
}

void al_log(enum al_log_level level, const char *module, const char *job,
	    const char *fmt, ...)
{
	char msg[1024], stamp[32], line[1200];
	va_list ap;

	if ((int)level < al_log_threshold())
		return;
	if (!job && al_log_job[0])
		job = al_log_job;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* A line is UTF-8 whatever it quotes (a config key, a cut-off
	 * character): log readers and JSON shippers choke on stray bytes. */
	al_utf8_repair(msg, strlen(msg));
	al_sanitize_text(msg);

	al_utc_stamp(stamp, sizeof(stamp), al_wall_ms());
	int n = snprintf(line, sizeof(line), "%s %c %s%s%s%s %s\n", stamp,
			 al_log_letters[level], module, job ? " [" : "",
			 job ? job : "", job ? "]" : "", msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		/* Cut, but still one line: the next record starts fresh. */
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* One write per line so concurrent writers do not interleave. */
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}
