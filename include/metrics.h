/*
 * metrics.h - GET /metrics (Prometheus text format 0.0.4) and GET /healthz
 * on metrics.address, served by the control thread.  Counters are kept per
 * worker (stats.h) and summed here, when scraped.
 */
#ifndef BGPROXY_METRICS_H
#define BGPROXY_METRICS_H

#include <stddef.h>

#include "config.h"

struct event_base;
struct evbuffer;

int metrics_start(struct event_base *base, const struct config *cfg, char *err, size_t errlen);
void metrics_stop(void);

/* After a reload: listen on the new address (the old one is closed only
 * when the new one works).  0 or -1 with err; nothing changed on error. */
int metrics_restart(const struct config *cfg, char *err, size_t errlen);

/* Render every metric into out (exposed for tests). */
void metrics_render(struct evbuffer *out);

#endif
