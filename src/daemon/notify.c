/*
 * notify.c - tell systemd how the daemon is doing (Type=notify units):
 * one datagram to the socket in $NOTIFY_SOCKET, "READY=1" once the
 * control socket listens, "RELOADING=1" and "STOPPING=1" around the
 * changes. The protocol is a single sendmsg (sd_notify(3) documents
 * it), so airlockd needs no libsystemd; without $NOTIFY_SOCKET (not
 * started by systemd) nothing is sent.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "daemon/daemon.h"

void dmn_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char msg[256];
	size_t plen;
	int fd, n;

	if (!path || !*path)
		return;
	plen = strlen(path);
	/* An absolute path, or '@' for Linux's abstract namespace. */
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, plen);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	n = snprintf(msg, sizeof(msg), "%s", state);
	if (!strcmp(state, "RELOADING=1")) {
		/* systemd 253 wants the time the reload began with it. */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		n = snprintf(msg, sizeof(msg), "%s\nMONOTONIC_USEC=%lld", state,
			     (long long)ts.tv_sec * 1000000 +
				     ts.tv_nsec / 1000);
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen)) <
	    0)
		al_debug("daemon", NULL, "notify %s: %s", state,
			 strerror(errno));
	close(fd);
}
