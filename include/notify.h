/*
 * notify.h - webhooks for the events that page a human (CONTRACT section
 * 13): notify = { webhook; events; timeout_ms; }.  The control thread
 * queues, notify.c's own thread POSTs (libcurl), never in the way of a
 * revert or a request.
 */
#ifndef BGPROXY_NOTIFY_H
#define BGPROXY_NOTIFY_H

#include <stddef.h>

#include "config.h"
#include "state.h"

/* Start the thread (it idles without a webhook) and take the events from
 * state.c.  Before any other thread uses libcurl.  0 or -1 with err. */
int notify_start(const struct config *cfg, char *err, size_t errlen);
void notify_stop(void);

/* A reload: the webhook, the events and the timeout of cfg from now on. */
void notify_config(const struct config *cfg);

/* An event as it is recorded (state.c's event hook): queued when its kind
 * is selected. */
void notify_event(struct service *sv, const struct state_ev *ev);

/* Events delivered; events given up (every attempt failed, the queue was
 * full, out of memory). */
unsigned long long notify_sent(void);
unsigned long long notify_failures(void);

#endif
