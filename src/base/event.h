/*
 * event.h - how subsystems report auditable events without depending on
 * the audit module. The job layer connects a sink to the audit log; a
 * NULL emit drops events (tools that run without a home).
 */
#ifndef AL_BASE_EVENT_H
#define AL_BASE_EVENT_H

#include <jansson.h>

struct al_event_sink {
	/*
	 * Record one event. action is a dotted verb ("sandbox.create",
	 * "proxy.deny"), object what it acted on, details a JSON object
	 * whose reference is stolen (may be NULL). Returns 0 or a negative
	 * error; callers treat a failure as fatal for the operation.
	 * May be called from any thread: the sink serialises.
	 */
	int (*emit)(void *ctx, const char *action, const char *object,
		    json_t *details);
	void *ctx;
};

static inline int al_event(const struct al_event_sink *s, const char *action,
			   const char *object, json_t *details)
{
	if (!s || !s->emit) {
		json_decref(details);
		return 0;
	}
	return s->emit(s->ctx, action, object, details);
}

#endif
