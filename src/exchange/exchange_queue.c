/*
 * exchange_queue.c - requests that wait for a place on a server
 * (servers[].max_connections, as HAProxy's maxconn): a request that finds
 * its server full waits in its worker's queue, oldest first, for at most
 * timeouts.queue_ms, then gets 503.  A connection of the same worker that
 * leaves its request runs the queue at the next turn of the loop
 * (w->queue_ev); a place freed in another worker is seen at this worker's
 * next tick (100 ms).  While a request waits nothing of its body is read.
 */
#include <event2/event.h>

#include "exchange.h"
#include "exchange_int.h"
#include "proxy.h"
#include "upstream.h"

int
exchange_enqueue(struct exchange *ex)
{
	struct worker *w = ex->w;

	ex->queued = 1;
	ex->queue_until_us = proxy_now_us() + (uint64_t)rt.cfg->t_queue_ms * 1000;
	TAILQ_INSERT_TAIL(&w->queue, ex, qlink);
	atomic_fetch_add_explicit(&ex->srv->queued, 1, memory_order_relaxed);
	STATS_INC(w->stats->srv[ex->srv->slot].queued);
	log_debug("%s %s waits for a place on %s (max_connections %d)", ex->method, ex->path,
	    ex->srv->addr.text, atomic_load_explicit(&ex->srv->maxconn, memory_order_relaxed));
	/* no body is read while nothing could take it */
	if (!ex->req_done)
		ex->ops->req_flow(ex, 0);
	return 1;
}

void
exchange_dequeue(struct exchange *ex)
{
	if (!ex->queued)
		return;
	TAILQ_REMOVE(&ex->w->queue, ex, qlink);
	ex->queued = 0;
	atomic_fetch_sub_explicit(&ex->srv->queued, 1, memory_order_relaxed);
}

/* The first request that may go now (its server has a place: taken) or
 * whose time is up; NULL when none. */
static struct exchange *
exchange_queue_next(struct worker *w, uint64_t now, int *expired)
{
	struct exchange *ex;

	TAILQ_FOREACH(ex, &w->queue, qlink) {
		if (upstream_slot_take(ex->srv)) {
			*expired = 0;
			return ex;
		}
		if (ex->queue_until_us <= now) {
			*expired = 1;
			return ex;
		}
	}
	return NULL;
}

void
exchange_queue_run(struct worker *w)
{
	uint64_t now = proxy_now_us();
	struct exchange *ex;
	int expired, r;

	/* one at a time from the head: going on may end other requests of
	 * the queue (their client connection closed) */
	while ((ex = exchange_queue_next(w, now, &expired)) != NULL) {
		exchange_dequeue(ex);
		if (expired) {
			STATS_INC(w->stats->srv[ex->srv->slot].queue_timeouts);
			if (!ex->req_done)
				ex->ops->close_after(ex, "the request body was never read");
			(void)exchange_fail(ex, 503, "no connection to the server was free in time");
			continue;
		}
		r = exchange_connect(ex, 0);
		if (r == -1) {
			ex->ops->close_after(ex, "no server connection");
			(void)exchange_fail(ex, 502, "cannot connect");
			continue;
		}
		if (ex->req_done)
			(void)upstream_push(ex->up, 0);
		else
			exchange_pump_request(ex);
	}
}
