/*
 * console.h - `airlock console`: the operator's full-screen view of the
 * daemon (docs/console.md). It talks to airlockd over the control API
 * only (src/api/client.h): jobs page by page, events by subscription,
 * cancel and retry as calls audited under the operator's uid.
 */
#ifndef AL_CONSOLE_CONSOLE_H
#define AL_CONSOLE_CONSOLE_H

struct con_opts {
	const char *home;  /* the daemon's home (its socket is there) */
	const char *stats; /* NULL, or a file for frame times at exit */
};

/*
 * Run the console on the controlling terminal until the operator quits
 * or a TERM, INT or HUP arrives. Returns 0, or an error with a message
 * on stderr (not a terminal, a home whose socket path is too long, no
 * memory). A daemon that is not there is not an error: the console says
 * so and connects when it comes.
 */
int con_run(const struct con_opts *o);

#endif
