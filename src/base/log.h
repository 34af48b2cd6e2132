/*
 * log.h - the one logging entry point.
 *
 * One line per event on stderr:
 *   2026-12-04T16:08:27.123Z I module [job] message key=value
 * Messages are data-safe: control characters in the formatted text are
 * replaced before the line is written, so a string taken from a job
 * cannot move a terminal's cursor. Never pass secrets or source code.
 */
#ifndef AL_BASE_LOG_H
#define AL_BASE_LOG_H

#define AL_LOG_LEVELS(X)                                                   \
	X(AL_LOG_DEBUG, 'D', "debug")                                          \
	X(AL_LOG_INFO, 'I', "info")                                            \
	X(AL_LOG_WARN, 'W', "warn")                                            \
	X(AL_LOG_ERROR, 'E', "error")

enum al_log_level {
#define AL_X_LEVEL(name, letter, word) name,
	AL_LOG_LEVELS(AL_X_LEVEL)
#undef AL_X_LEVEL
};

/* Lines below level are dropped. Default AL_LOG_INFO, or $AIRLOCK_LOG. */
void al_log_set_level(enum al_log_level level);
/*
 * A process that works for one job (an airlockd worker) names it once:
 * lines logged without a job id then carry this one, so the lines of
 * the modules that do not know the job (vcs, npm, sandbox) can be
 * found by it. NULL clears it. Call before other threads start.
 */
void al_log_set_job(const char *job);
/* Parse "debug", "info", "warn", "error"; -1 if unknown. */
int al_log_level_parse(const char *word);

void al_log(enum al_log_level level, const char *module, const char *job,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define al_debug(mod, job, ...) al_log(AL_LOG_DEBUG, mod, job, __VA_ARGS__)
#define al_info(mod, job, ...) al_log(AL_LOG_INFO, mod, job, __VA_ARGS__)
#define al_warn(mod, job, ...) al_log(AL_LOG_WARN, mod, job, __VA_ARGS__)
#define al_error(mod, job, ...) al_log(AL_LOG_ERROR, mod, job, __VA_ARGS__)

#endif
