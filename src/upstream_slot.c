/*
 * upstream_slot.c - a request's place on a server's connections
 * (servers[].max_connections), for both protocols to servers: taken before
 * a connection or a stream is had, given back when it leaves its request;
 * what waits in the worker then runs (exchange_queue.c via w->queue_ev).
 */
#include <event2/event.h>

#include "proxy.h"
#include "upstream.h"

int
upstream_slot_take(struct server *srv)
{
	int max = atomic_load_explicit(&srv->maxconn, memory_order_relaxed), b;

	b = atomic_load_explicit(&srv->busy, memory_order_relaxed);
	do {
		if (max > 0 && b >= max)
			return 0;
	} while (!atomic_compare_exchange_weak_explicit(&srv->busy, &b, b + 1,
	    memory_order_relaxed, memory_order_relaxed));
	return 1;
}

void
upstream_slot_give(struct worker *w, struct server *srv)
{
	atomic_fetch_sub_explicit(&srv->busy, 1, memory_order_relaxed);
	/* what waits in this worker runs at the next turn of its loop */
	if (atomic_load_explicit(&srv->queued, memory_order_relaxed) > 0 && w->queue_ev != NULL)
		event_active(w->queue_ev, EV_READ, 1);
}
