/*
 * mirror.h - shadow traffic: copies of stable requests to the candidate
 * (mirror.c; CONTRACT section 13).  Worker side; nothing here waits.
 */
#ifndef BGPROXY_MIRROR_H
#define BGPROXY_MIRROR_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>

#include "proxy.h"

struct body_tee;

/* What decides whether a request is copied (exchange.c fills it). */
struct mirror_ask {
	struct service *svc;          /* the request's service */
	enum pool_id pool;            /* where it is routed */
	int overridden;               /* by the override header */
	int upgrade;                  /* an Upgrade request */
	int method;                   /* enum http_method */
	int body;                     /* enum body_kind */
	uint64_t body_left;           /* with BODY_LENGTH: its length */
};

/* Shadow traffic is on for the service (its mirror_bp > 0): one relaxed load. */
static inline int
mirror_on(struct service *sv)
{
	return atomic_load_explicit(&sv->mirror_bp, memory_order_relaxed) > 0;
}

/* Whether a request (routed, its head built) is to be copied: its service's mirror_bp
 * share of the stable pool's idempotent requests (http_method_idempotent),
 * not upgrades, not routed by the override header, with no body or one of
 * at most limits.mirror_body_bytes (a longer one is counted as skipped).
 * *stable gets the stable pool when it answers 1. */
int mirror_wanted(struct worker *w, const struct mirror_ask *a, enum pool_id *stable);

/* Send a copy of the request head (as the stable server got it) to a
 * server of cand; its answer is read and thrown away, its result counted
 * and judged (stats class STATS_SHADOW).  1 when the copy counts for the
 * guard (sent, or failed at once: no server up, no socket), so the stable
 * answer is to be recorded as its baseline; 0 when it was skipped. */
int mirror_request(struct worker *w, struct service *sv, enum pool_id cand, const char *head, size_t len,
    struct evbuffer *body);

/* A copy of a request with a body: begin copying the body as it leaves
 * (into t), and at its end (complete 0: the exchange ended first) send the
 * copy of head and the body to cand, or count it as skipped; the end
 * answers as mirror_request (0 too when nothing was begun). */
void mirror_tee_begin(struct worker *w, struct service *sv, struct body_tee *t);
int mirror_tee_end(struct worker *w, struct body_tee *t, struct service *sv, enum pool_id cand, const char *head,
    size_t len, int complete);

/* The worker's loop ended: the copies still out are given up. */
void mirror_close_all(struct worker *w);

#endif
