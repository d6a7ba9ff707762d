/*
 * views.h - the status and the events as the admin socket, the metrics
 * endpoint (/status.json, /events.json) and the webhooks show them
 * (CONTRACT.md sections 3 and 10).  Control thread.
 */
#ifndef BGPROXY_VIEWS_H
#define BGPROXY_VIEWS_H

#include <stdint.h>

#include "pools.h"
#include "state.h"

struct evbuffer;
struct server;
typedef struct json_t json_t;

/* `json status` (a new reference) and `status` (text lines into b). */
json_t *views_status_object(struct service *sv);
void views_status_text(struct service *sv, struct evbuffer *b);

/* `status` with several services and none named: each on one line (state,
 * split, rollout step, guard verdict); as JSON {"services": [...]}. */
json_t *views_services_object(void);
void views_services_text(struct evbuffer *b);

/* One event as `json show events` lists it (a new reference); the last
 * `want` events, oldest first, as objects (a list) or text lines. */
json_t *views_event_json(const struct state_ev *ev);
json_t *views_events_object(struct service *sv, int want);
void views_events_text(struct service *sv, struct evbuffer *b, int want);

/* The cluster role: {"node","leader","connected","error"}, null without a
 * cluster; and its "cluster ..." line. */
json_t *views_cluster_object(void);
void views_cluster_line(struct evbuffer *b);

/* A server's state in words (up, down, draining, disabled), its totals
 * summed over the workers, and the usable servers of pool p. */
const char *views_server_state(struct server *srv, uint64_t now_us);
void views_server_figures(struct server *srv, long long *active, unsigned long long *req,
    unsigned long long *errs);
int views_servers_up(struct service *sv, enum pool_id p, uint64_t now_us);

/* A share in basis points as a JSON number of percent (5.0, 12.5). */
json_t *views_pct(int bp);

/* Seconds since the proxy started. */
long views_uptime_s(void);

#endif
