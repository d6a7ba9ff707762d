/*
 * upstream.h - connections to servers and their per-worker idle pools (upstream.c).
 */
#ifndef BGPROXY_UPSTREAM_H
#define BGPROXY_UPSTREAM_H

#include "proxy.h"

/*
 * The timers of a server connection, by what it is doing (docs/http.md):
 *   IDLE     in the pool: closed after timeouts.upstream_idle_ms
 *   SENDING  the request is still going up (the client may be slow): no
 *            response timer; the server must take our bytes within
 *            upstream_response_ms
 *   WAITING  the request is fully sent: upstream_response_ms for the
 *            response, restarted by every byte received
 *   NONE     a tunnel: long-lived, no timer
 */
enum upstream_timers { UPSTREAM_T_IDLE, UPSTREAM_T_SENDING, UPSTREAM_T_WAITING, UPSTREAM_T_NONE };
void upstream_set_timers(struct upconn *u, enum upstream_timers which);
/* A connection to srv, pooled unless fresh; the caller sets its timers
 * (SENDING or, for a request without a body, WAITING). */
struct upconn *upstream_get(struct worker *w, struct server *srv, int fresh, char *err,
    size_t errlen);
void upstream_release(struct upconn *u);
void upstream_free(struct upconn *u);
void upstream_free_idle(struct worker *w);
void upstream_free_disabled(struct worker *w);
void upstream_free_pool(struct worker *w, int pool);

struct upconn {
	struct conn c;
	struct worker *w;
	struct server *srv;
	struct exchange *owner;       /* NULL while idle */
	struct upconn *next;          /* idle list link */
	int reused;                   /* served a request before */
};

#endif
