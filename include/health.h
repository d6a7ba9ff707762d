/*
 * health.h - active health checks, run by the control thread.
 *
 * Every server of a pool with a `health` group gets an HTTP/1.1 GET of
 * health.path with a Host header every interval_ms; a 2xx or 3xx answer
 * within timeout_ms passes, anything else fails.  `fall` failures in a row
 * take the server down (srv->health_down), `rise` passes in a row bring it
 * back.  Servers start up: traffic flows from the first second, and a
 * server that is down at start is out after `fall` intervals (documented
 * in docs/health.md).  Checks of one pool are spread evenly over the
 * interval so they never all fire at once.
 */
#ifndef BGPROXY_HEALTH_H
#define BGPROXY_HEALTH_H

#include <stddef.h>

struct event_base;

int health_start(struct event_base *base, char *err, size_t errlen);

/* After a reload: checkers follow the new pools and health settings; a
 * server that stays keeps its counts and state. */
void health_sync(void);

void health_stop(void);

#endif
