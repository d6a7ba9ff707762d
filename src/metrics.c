/*
 * metrics.c - the Prometheus and /healthz listener.
 *
 * Anyone who reaches metrics.address can connect, so idle connections must
 * never lock out the scraper or a health probe: a client must send its
 * request head within timeouts.client_header_ms (from accept, or from the
 * first byte after a keep-alive response), and when all METRICS_MAX_CLIENTS
 * slots are taken the client idle the longest is closed to make room.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <jansson.h>

#include "views.h"
#include "cluster.h"
#include "guard.h"
#include "judge.h"
#include "http_parse.h"
#include "metrics.h"
#include "notify.h"
#include "pools.h"
#include "proxy.h"
#include "state.h"
#include "stats.h"
#include "worker.h"
#include "watch.h"
#include "webview.h"

#define METRICS_IDLE_S 30
#define METRICS_MAX_CLIENTS 32
#define METRICS_IN_MAX 32768         /* a head is at most 16 KiB: read no further ahead */

struct metrics_client {
	struct bufferevent *bev;
	LIST_ENTRY(metrics_client) link;
	struct event *timer;          /* head timer, or keep-alive idle timer */
	uint64_t last_us;             /* accept or the last response (monotonic) */
	int waiting;                  /* keep-alive: no byte of the next request yet */
	struct http_msg msg;          /* parse scratch */
};

static struct evconnlistener *metrics_listener;
static LIST_HEAD(, metrics_client) metrics_clients = LIST_HEAD_INITIALIZER(metrics_clients);
static int metrics_nclients;

static const char *const metrics_err_kinds[STATS_ERR_KINDS] = { "connect", "timeout", "reset",
	"protocol", "grpc" };

static uint64_t
metrics_sum(size_t off)
{
	uint64_t t = 0;
	int i;

	for (i = 0; i < rt.nworkers; i++)
		t += atomic_load_explicit((stats_ctr *)((char *)rt.workers[i].stats + off),
		    memory_order_relaxed);
	return t;
}

#define SUM(field) metrics_sum(offsetof(struct stats_worker, field))

/* A service's counter (its block in each worker that has one). */
static uint64_t
metrics_sum_svc(struct service *sv, size_t off)
{
	struct stats_svc *ws[64];
	size_t n = worker_svc_blocks(sv, ws);
	uint64_t t = 0;

	for (size_t i = 0; i < n; i++)
		if (ws[i] != NULL)
			t += atomic_load_explicit((stats_ctr *)((char *)ws[i] + off),
			    memory_order_relaxed);
	return t;
}

#define SUM_SVC(sv, field) metrics_sum_svc(sv, offsetof(struct stats_svc, field))

/* A server's counter, by its registry slot (which a reload keeps). */
static uint64_t
metrics_sum_srv(int slot, size_t off)
{
	uint64_t t = 0;

	for (int i = 0; i < rt.nworkers; i++)
		t += atomic_load_explicit((stats_ctr *)((char *)&rt.workers[i].stats->srv[slot] + off),
		    memory_order_relaxed);
	return t;
}

#define SUM_SRV(slot, field) metrics_sum_srv(slot, offsetof(struct stats_srv, field))

static void
metrics_head(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A metric of one sample without labels. */
static void
metrics_one(struct evbuffer *b, const char *name, const char *type, const char *help,
    unsigned long long v)
{
	metrics_head(b, name, type, help);
	evbuffer_add_printf(b, "%s %llu\n", name, v);
}

/*
 * The services a family is shown for, and each one's label: with a
 * services list `service="shop",` before the family's own labels (and
 * `{service="shop"}` where it has none); without one, no label at all, as
 * before services existed.
 */
#define METRICS_FOR_SVC(i, sv) \
	for ((i) = 0; (i) < service_count(); (i)++) \
		if (((sv) = rt.svcs[(i)]), atomic_load(&(sv)->removed)) {} else

static const char *
metrics_lbl(struct service *sv, char *buf, size_t len)
{
	if (!rt.cfg->services)
		return "";
	snprintf(buf, len, "service=\"%s\",", sv->name);
	return buf;
}

/* `{service="shop"}` or "" for a family without labels of its own. */
static const char *
metrics_lbl_alone(struct service *sv, char *buf, size_t len)
{
	if (!rt.cfg->services)
		return "";
	snprintf(buf, len, "{service=\"%s\"}", sv->name);
	return buf;
}

static void
metrics_http2(struct evbuffer *b)
{
	struct service *sv;
	int64_t active = 0;
	char l[96];
	int i, k;

	for (i = 0; i < rt.nworkers; i++)
		active += atomic_load_explicit(&rt.workers[i].stats->h2_streams_active,
		    memory_order_relaxed);
	metrics_head(b, "bgproxy_http2_streams_active", "gauge", "Open HTTP/2 client streams.");
	evbuffer_add_printf(b, "bgproxy_http2_streams_active %lld\n",
	    (long long)(active > 0 ? active : 0));
	metrics_head(b, "bgproxy_http2_goaways_total", "counter",
	    "GOAWAY frames bgproxy sent to HTTP/2 clients, by reason.");
	for (i = 0; i < STATS_GOAWAYS; i++)
		evbuffer_add_printf(b, "bgproxy_http2_goaways_total{reason=\"%s\"} %llu\n",
		    stats_goaway_names[i], (unsigned long long)SUM(h2_goaways[i]));
	metrics_one(b, "bgproxy_http2_held_pauses_total", "counter",
	    "Times an HTTP/2 client was not read because its request bodies held 1 MiB.",
	    (unsigned long long)SUM(h2_held_pauses));
	metrics_head(b, "bgproxy_mirror_requests_total", "counter",
	    "Copies of stable requests to the candidate (split.mirror_percent), by result.");
	METRICS_FOR_SVC(k, sv)
		for (i = 0; i < STATS_MIRRORS; i++)
			evbuffer_add_printf(b, "bgproxy_mirror_requests_total{%sresult=\"%s\"} %llu\n",
			    metrics_lbl(sv, l, sizeof(l)), stats_mirror_names[i],
			    (unsigned long long)SUM_SVC(sv, mirror[i]));
}

static void
metrics_requests(struct evbuffer *b)
{
	struct service *sv;
	char l[96];
	int p, k, pr, i;

	metrics_head(b, "bgproxy_requests_total", "counter",
	    "Requests answered, by pool, status class and the client's protocol.");
	METRICS_FOR_SVC(i, sv)
		for (p = 0; p < CONFIG_POOLS; p++)
			for (pr = 0; pr < STATS_PROTOS; pr++)
				for (k = 1; k <= 5; k++)
					evbuffer_add_printf(b, "bgproxy_requests_total{%spool=\"%s\","
					    "class=\"%dxx\",proto=\"%s\"} %llu\n",
					    metrics_lbl(sv, l, sizeof(l)), pool_names[p], k,
					    stats_proto_names[pr],
					    (unsigned long long)SUM_SVC(sv, requests[p][pr][k]));
	metrics_head(b, "bgproxy_upstream_errors_total", "counter",
	    "Failed attempts to get a response from a server, by pool and kind.");
	METRICS_FOR_SVC(i, sv)
		for (p = 0; p < CONFIG_POOLS; p++)
			for (k = 0; k < STATS_ERR_KINDS; k++)
				evbuffer_add_printf(b, "bgproxy_upstream_errors_total{%spool=\"%s\","
				    "kind=\"%s\"} %llu\n", metrics_lbl(sv, l, sizeof(l)), pool_names[p],
				    metrics_err_kinds[k],
				    (unsigned long long)SUM_SVC(sv, upstream_errors[p][k]));
	metrics_head(b, "bgproxy_grpc_responses_total", "counter",
	    "gRPC answers (a grpc-status in the head or the trailers), by pool and grpc-status.");
	METRICS_FOR_SVC(i, sv) {
		uint64_t v[CONFIG_POOLS][STATS_GRPC_CODES], any = 0;

		for (p = 0; p < CONFIG_POOLS; p++)
			for (k = 0; k < STATS_GRPC_CODES; k++)
				any += v[p][k] = SUM_SVC(sv, grpc[p][k]);
		/* with a services list only a service that answered gRPC has
		 * these 34 series (a thousand services of HTTP would add 34,000) */
		if (any == 0 && rt.cfg->services)
			continue;
		for (p = 0; p < CONFIG_POOLS; p++)
			for (k = 0; k < STATS_GRPC_CODES; k++)
				evbuffer_add_printf(b, "bgproxy_grpc_responses_total{%spool=\"%s\","
				    "code=\"%d\"} %llu\n", metrics_lbl(sv, l, sizeof(l)), pool_names[p], k,
				    (unsigned long long)v[p][k]);
	}
}

static void
metrics_durations(struct evbuffer *b)
{
	struct service *sv;
	char l[96];
	int p, k, i;

	metrics_head(b, "bgproxy_request_duration_seconds", "histogram",
	    "Time from the request head to the end of the response, by pool.");
	METRICS_FOR_SVC(i, sv)
		for (p = 0; p < CONFIG_POOLS; p++) {
			const char *lb = metrics_lbl(sv, l, sizeof(l));
			uint64_t cum = 0;

			for (k = 0; k < STATS_PROM_BUCKETS; k++) {
				cum += SUM_SVC(sv, dur_bucket[p][k]);
				evbuffer_add_printf(b, "bgproxy_request_duration_seconds_bucket{%s"
				    "pool=\"%s\",le=\"%g\"} %llu\n", lb, pool_names[p],
				    stats_prom_bounds[k], (unsigned long long)cum);
			}
			evbuffer_add_printf(b, "bgproxy_request_duration_seconds_bucket{%spool=\"%s\","
			    "le=\"+Inf\"} %llu\n", lb, pool_names[p],
			    (unsigned long long)SUM_SVC(sv, dur_count[p]));
			evbuffer_add_printf(b, "bgproxy_request_duration_seconds_sum{%spool=\"%s\"} "
			    "%.6f\n", lb, pool_names[p], SUM_SVC(sv, dur_sum_us[p]) / 1e6);
			evbuffer_add_printf(b, "bgproxy_request_duration_seconds_count{%spool=\"%s\"} "
			    "%llu\n", lb, pool_names[p], (unsigned long long)SUM_SVC(sv, dur_count[p]));
		}
}

/* One gauge or counter per server of every service: what(srv, now). */
static void
metrics_servers(struct evbuffer *b, const char *name, const char *type, const char *help,
    unsigned long long (*what)(struct server *srv, uint64_t now))
{
	uint64_t now = proxy_now_us();
	struct service *sv;
	char l[96];
	int i, p;

	metrics_head(b, name, type, help);
	METRICS_FOR_SVC(i, sv)
		for (p = 0; p < CONFIG_POOLS; p++) {
			struct pool *pl = &pools_current(sv)->pools[p];

			for (size_t k = 0; k < pl->nservers; k++)
				evbuffer_add_printf(b, "%s{%spool=\"%s\",server=\"%s\"} %llu\n", name,
				    metrics_lbl(sv, l, sizeof(l)), pool_names[p],
				    pl->servers[k]->addr.text, what(pl->servers[k], now));
		}
}

static unsigned long long
metrics_srv_up(struct server *srv, uint64_t now)
{
	return (unsigned long long)server_usable(srv, now);
}

static unsigned long long
metrics_srv_queue(struct server *srv, uint64_t now)
{
	(void)now;
	return (unsigned long long)atomic_load(&srv->queued);
}

static unsigned long long
metrics_srv_queued(struct server *srv, uint64_t now)
{
	(void)now;
	return (unsigned long long)SUM_SRV(srv->slot, queued);
}

static unsigned long long
metrics_srv_queue_timeouts(struct server *srv, uint64_t now)
{
	(void)now;
	return (unsigned long long)SUM_SRV(srv->slot, queue_timeouts);
}

static void
metrics_pools(struct evbuffer *b)
{
	struct service *sv;
	char l[96];
	int p, i, k;

	metrics_head(b, "bgproxy_pool_weight_percent", "gauge", "Share of new requests, percent.");
	METRICS_FOR_SVC(i, sv) {
		const struct split_state *s = state_get(sv);

		for (p = 0; p < CONFIG_POOLS; p++)
			evbuffer_add_printf(b, "bgproxy_pool_weight_percent{%spool=\"%s\"} %.2f\n",
			    metrics_lbl(sv, l, sizeof(l)), pool_names[p], (p == (int)s->stable ?
			    10000 - s->candidate_bp : s->candidate_bp) / 100.0);
	}
	metrics_head(b, "bgproxy_pool_stable", "gauge", "1 for the stable pool.");
	METRICS_FOR_SVC(i, sv)
		for (p = 0; p < CONFIG_POOLS; p++)
			evbuffer_add_printf(b, "bgproxy_pool_stable{%spool=\"%s\"} %d\n",
			    metrics_lbl(sv, l, sizeof(l)), pool_names[p], p == (int)state_get(sv)->stable);
	metrics_servers(b, "bgproxy_server_up", "gauge",
	    "1 when the server takes new requests (up, not passively marked down).", metrics_srv_up);
	metrics_servers(b, "bgproxy_server_queue", "gauge",
	    "Requests waiting now for a place on the server (servers[].max_connections).",
	    metrics_srv_queue);
	metrics_servers(b, "bgproxy_server_queued_total", "counter",
	    "Requests that waited for a place on the server (servers[].max_connections).",
	    metrics_srv_queued);
	metrics_servers(b, "bgproxy_server_queue_timeouts_total", "counter",
	    "Requests answered 503 after waiting timeouts.queue_ms for a place on the server.",
	    metrics_srv_queue_timeouts);
	metrics_head(b, "bgproxy_server_requests_total", "counter",
	    "Requests answered, by server and status class.");
	METRICS_FOR_SVC(i, sv)
		for (p = 0; p < CONFIG_POOLS; p++) {
			struct pool *pl = &pools_current(sv)->pools[p];

			for (size_t n = 0; n < pl->nservers; n++)
				for (k = 1; k <= 5; k++)
					evbuffer_add_printf(b, "bgproxy_server_requests_total{%spool=\"%s\","
					    "server=\"%s\",class=\"%dxx\"} %llu\n",
					    metrics_lbl(sv, l, sizeof(l)), pool_names[p],
					    pl->servers[n]->addr.text, k,
					    (unsigned long long)SUM_SRV(pl->servers[n]->slot, cls[k]));
		}
}

static void
metrics_misc(struct evbuffer *b)
{
	struct service *sv;
	char l[96];
	int k, i;

	if (cluster_on()) {
		metrics_one(b, "bgproxy_cluster_connected", "gauge",
		    "1 while etcd answers this node, 0 while it cannot reach any endpoint.",
		    cluster_connected() != 0);
		metrics_one(b, "bgproxy_cluster_leader", "gauge",
		    "1 while this node holds the leader key and runs the rollout clock.",
		    cluster_leader() != 0);
	}
	metrics_one(b, "bgproxy_notify_sent_total", "counter",
	    "Events delivered to notify.webhook.", notify_sent());
	metrics_one(b, "bgproxy_notify_failures_total", "counter",
	    "Events not delivered to notify.webhook (every attempt failed, or the queue was full).",
	    notify_failures());
	metrics_head(b, "bgproxy_reverts_total", "counter",
	    "Reverts to the stable pool, by the guard or an operator.");
	METRICS_FOR_SVC(i, sv)
		evbuffer_add_printf(b, "bgproxy_reverts_total%s %llu\n",
		    metrics_lbl_alone(sv, l, sizeof(l)), (unsigned long long)state_reverts(sv));
	metrics_head(b, "bgproxy_last_revert_timestamp_seconds", "gauge",
	    "Unix time of the last revert; 0 when there was none since the state began.");
	METRICS_FOR_SVC(i, sv)
		evbuffer_add_printf(b, "bgproxy_last_revert_timestamp_seconds%s %.3f\n",
		    metrics_lbl_alone(sv, l, sizeof(l)), state_get(sv)->revert_time_ms / 1000.0);
	metrics_head(b, "bgproxy_guard_trips_total", "counter",
	    "Guard trips that reverted the candidate, by the check that tripped.");
	METRICS_FOR_SVC(i, sv)
		for (k = 1; k < GUARD_CHECK_COUNT; k++)
			evbuffer_add_printf(b, "bgproxy_guard_trips_total{%scheck=\"%s\"} %llu\n",
			    metrics_lbl(sv, l, sizeof(l)), guard_check_names[k], watch_trips(sv, k));
	metrics_head(b, "bgproxy_guard_evidence", "gauge",
	    "guard.method sequential: the evidence that the candidate is beyond each "
	    "limit that is on (it trips at the bound explain shows); 0 while not judging.");
	METRICS_FOR_SVC(i, sv) {
		struct judge_policy jp;
		int jc, js, on[JUDGE_NCHECKS];
		const struct judge *j = watch_judge(sv, &jp, &jc, &js);

		judge_checks_on(&jp, on);
		for (k = 0; k < JUDGE_NCHECKS; k++)
			evbuffer_add_printf(b, "bgproxy_guard_evidence{%scheck=\"%s\"} %.6g\n",
			    metrics_lbl(sv, l, sizeof(l)), judge_check_names[k], j != NULL && on[k] ?
			    exp(judge_bet_log_e(&j->t[k].beyond)) : 0.0);
	}
	metrics_head(b, "bgproxy_state", "gauge", "1 for the split's current state.");
	METRICS_FOR_SVC(i, sv)
		for (k = 0; k <= MODE_REVERTED; k++)
			evbuffer_add_printf(b, "bgproxy_state{%sstate=\"%s\"} %d\n",
			    metrics_lbl(sv, l, sizeof(l)), state_mode_names[k],
			    (int)state_get(sv)->mode == k);
	metrics_head(b, "bgproxy_split_version", "gauge",
	    "The split's version (grows with every change; if-version).");
	METRICS_FOR_SVC(i, sv)
		evbuffer_add_printf(b, "bgproxy_split_version%s %llu\n",
		    metrics_lbl_alone(sv, l, sizeof(l)), state_get(sv)->version);
	metrics_head(b, "bgproxy_build_info", "gauge", "Always 1; the version in a label.");
	evbuffer_add_printf(b, "bgproxy_build_info{version=\"%s\"} 1\n", BGPROXY_VERSION);
	metrics_head(b, "bgproxy_rollout_step", "gauge",
	    "Index of the current rollout step; -1 without a rollout.");
	METRICS_FOR_SVC(i, sv) {
		const struct split_state *s = state_get(sv);

		evbuffer_add_printf(b, "bgproxy_rollout_step%s %d\n",
		    metrics_lbl_alone(sv, l, sizeof(l)),
		    s->has_rollout && s->mode != MODE_REVERTED ? s->step : -1);
	}
	metrics_head(b, "bgproxy_connections_active", "gauge", "Open client connections.");
	evbuffer_add_printf(b, "bgproxy_connections_active %ld\n", atomic_load(&rt.conns_active));
	metrics_one(b, "bgproxy_tls_handshakes_total", "counter", "Completed TLS handshakes.",
	    SUM(tls_handshakes));
	metrics_one(b, "bgproxy_tls_handshake_errors_total", "counter", "Failed TLS handshakes.",
	    SUM(tls_handshake_errors));
	metrics_one(b, "bgproxy_retries_total", "counter",
	    "Requests sent again after a failed attempt.", SUM(retries));
	metrics_one(b, "bgproxy_unrouted_requests_total", "counter",
	    "Requests no service took (404): their host and path match no service's.",
	    SUM(unrouted));
	metrics_http2(b);
}

/* The request's path without its query. */
static size_t
metrics_path_len(const struct http_msg *m)
{
	const char *q = memchr(m->path, '?', m->path_len);

	return q != NULL ? (size_t)(q - m->path) : m->path_len;
}

/* The web view's JSON: with one service its status and events as
 * before; with several, /status.json lists them and ?service=NAME (on
 * both) picks one. */
static json_t *
metrics_view(const char *path, size_t len, int *code)
{
	const char *q = memchr(path, '?', len), *end = path + len, *p;
	size_t plen = q != NULL ? (size_t)(q - path) : len;
	int status = http_token_eq(path, plen, "/status.json");
	struct service *sv = NULL, *one = NULL;
	int i, n = 0, named = 0;

	*code = 200;
	METRICS_FOR_SVC(i, one)
		n++;
	for (i = 0; i < service_count() && n == 1; i++)
		if (!atomic_load(&rt.svcs[i]->removed))
			sv = rt.svcs[i];
	/* service=NAME among the query's parameters */
	for (p = q != NULL ? q + 1 : end; p < end && !named; ) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *pe = amp != NULL ? amp : end;
		char name[CONFIG_SVC_NAME_MAX + 1];
		size_t nl = (size_t)(pe - p);

		if (nl >= 8 && memcmp(p, "service=", 8) == 0) {
			named = 1;
			nl -= 8;
			sv = NULL;
			if (nl <= CONFIG_SVC_NAME_MAX) {
				memcpy(name, p + 8, nl);
				name[nl] = '\0';
				sv = service_find(name);
			}
			if (sv == NULL || atomic_load(&sv->removed)) {
				*code = 404;
				return json_pack("{s:s}", "error", "no such service");
			}
		}
		p = pe + 1;
	}
	if (sv == NULL && !status) {
		*code = 404;
		return json_pack("{s:s}", "error", "which service? /events.json?service=NAME");
	}
	if (sv == NULL)
		return views_services_object();
	return status ? views_status_object(sv) : views_events_object(sv, 20);
}

void
metrics_render(struct evbuffer *out)
{
	metrics_requests(out);
	metrics_durations(out);
	metrics_pools(out);
	metrics_misc(out);
}

/* ---- the listener ---------------------------------------------------------- */

static void
metrics_reply(struct bufferevent *bev, int status, const char *ctype, struct evbuffer *body,
    int close_conn, int head)
{
	struct evbuffer *out = bufferevent_get_output(bev);

	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-store\r\n%s\r\n", status, http_status_text(status), ctype,
	    evbuffer_get_length(body), close_conn ? "Connection: close\r\n" : "");
	/* HEAD: the same head, no body */
	if (head)
		evbuffer_drain(body, evbuffer_get_length(body));
	else
		evbuffer_add_buffer(out, body);
}

static void
metrics_free(struct metrics_client *mc)
{
	LIST_REMOVE(mc, link);
	bufferevent_free(mc->bev);
	mc->bev = NULL;
	if (mc->timer != NULL)
		event_free(mc->timer);
	mc->timer = NULL;
	free(mc);
	metrics_nclients--;
}

static void
metrics_timer_arm(struct metrics_client *mc, int ms)
{
	struct timeval tv = clock_tv_ms(ms);

	evtimer_add(mc->timer, &tv);
}

/* no full head in time, or idle on keep-alive for too long */
static void
metrics_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	metrics_free(arg);
}

/* Every slot is taken: close the client idle the longest (no answer of ours
 * waiting for it).  -1 when every client is busy. */
static int
metrics_evict_idle(void)
{
	struct metrics_client *mc, *victim = NULL;

	LIST_FOREACH(mc, &metrics_clients, link) {
		if (evbuffer_get_length(bufferevent_get_output(mc->bev)) > 0)
			continue;
		if (victim == NULL || mc->last_us < victim->last_us)
			victim = mc;
	}
	if (victim == NULL)
		return -1;
	metrics_free(victim);
	return 0;
}

static void
metrics_readcb(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	struct http_limits lim = { 16384, 100 };
	struct metrics_client *mc = arg;
	struct http_msg *m = &mc->msg;
	struct evbuffer *body;
	size_t len;
	const char *p;
	int r, keep, head;

	if (mc->waiting && evbuffer_get_length(in) > 0) {
		/* a new request began: its head is due in client_header_ms */
		mc->waiting = 0;
		metrics_timer_arm(mc, rt.cfg->t_client_header_ms);
	}
	while ((len = evbuffer_get_length(in)) > 0) {
		if (len > 16400)
			len = 16400;
		p = (const char *)evbuffer_pullup(in, (ssize_t)len);
		r = http_parse_request(p, len, &lim, m);
		if (r == HTTP_PARSE_INCOMPLETE)
			return;
		body = evbuffer_new();
		if (body == NULL)
			return;
		if (r == HTTP_PARSE_ERROR) {
			evbuffer_add_printf(body, "%s\n", m->error);
			metrics_reply(bev, m->error_status, "text/plain", body, 1, 0);
			evbuffer_free(body);
			bufferevent_disable(bev, EV_READ);
			evbuffer_drain(in, evbuffer_get_length(in));
			return;
		}
		head = m->method_id == HTTP_M_HEAD;
		keep = m->version_minor == 1 && !(m->flags & HTTP_F_CONN_CLOSE) &&
		    !(m->flags & (HTTP_F_CHUNKED | HTTP_F_CONTENT_LENGTH));
		if (m->method_id != HTTP_M_GET && m->method_id != HTTP_M_HEAD) {
			evbuffer_add_printf(body, "only GET\n");
			metrics_reply(bev, 405, "text/plain", body, !keep, head);
		} else if (http_token_eq(m->path, m->path_len, "/metrics")) {
			metrics_render(body);
			metrics_reply(bev, 200, "text/plain; version=0.0.4; charset=utf-8", body, !keep, head);
		} else if (http_token_eq(m->path, m->path_len, "/")) {
			evbuffer_add(body, webview_html, webview_html_len);
			metrics_reply(bev, 200, "text/html; charset=utf-8", body, !keep, head);
		} else if (http_token_eq(m->path, metrics_path_len(m), "/status.json") ||
		    http_token_eq(m->path, metrics_path_len(m), "/events.json")) {
			int code;
			json_t *o = metrics_view(m->path, m->path_len, &code);
			char *js = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

			json_decref(o);
			if (js != NULL) {
				evbuffer_add_printf(body, "%s\n", js);
				metrics_reply(bev, code, "application/json", body, !keep, head);
			} else {
				evbuffer_add_printf(body, "out of memory\n");
				metrics_reply(bev, 500, "text/plain", body, !keep, head);
			}
			free(js);
		} else if (http_token_eq(m->path, m->path_len, "/healthz")) {
			int ok = !atomic_load(&rt.draining);

			evbuffer_add_printf(body, ok ? "ok\n" : "stopping\n");
			metrics_reply(bev, ok ? 200 : 503, "text/plain", body, !keep, head);
		} else {
			evbuffer_add_printf(body, "not found; try /, /metrics, /status.json, /events.json or /healthz\n");
			metrics_reply(bev, 404, "text/plain", body, !keep, head);
		}
		evbuffer_free(body);
		evbuffer_drain(in, (size_t)r);
		mc->last_us = proxy_now_us();
		if (!keep) {
			bufferevent_disable(bev, EV_READ);
			evbuffer_drain(in, evbuffer_get_length(in));
			evtimer_del(mc->timer);  /* the write timeout bounds the rest */
			return;
		}
		if (evbuffer_get_length(in) == 0) {
			mc->waiting = 1;
			metrics_timer_arm(mc, METRICS_IDLE_S * 1000);
		} else {
			metrics_timer_arm(mc, rt.cfg->t_client_header_ms);
		}
	}
}

static void
metrics_writecb(struct bufferevent *bev, void *arg)
{
	if (!(bufferevent_get_enabled(bev) & EV_READ) &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		metrics_free(arg);
}

static void
metrics_eventcb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	metrics_free(arg);
}

static void
metrics_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	struct metrics_client *mc;
	struct timeval idle = { METRICS_IDLE_S, 0 };

	(void)sa;
	(void)salen;
	(void)arg;
	if (metrics_nclients >= METRICS_MAX_CLIENTS && metrics_evict_idle() == -1) {
		evutil_closesocket(fd);
		return;
	}
	mc = calloc(1, sizeof(*mc));
	if (mc == NULL) {
		evutil_closesocket(fd);
		return;
	}
	mc->bev = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
	mc->timer = evtimer_new(evconnlistener_get_base(l), metrics_timer_cb, mc);
	if (mc->bev == NULL || mc->timer == NULL) {
		if (mc->bev != NULL)
			bufferevent_free(mc->bev);
		else
			evutil_closesocket(fd);
		if (mc->timer != NULL)
			event_free(mc->timer);
		free(mc);
		return;
	}
	mc->last_us = proxy_now_us();
	LIST_INSERT_HEAD(&metrics_clients, mc, link);
	metrics_nclients++;
	bufferevent_setcb(mc->bev, metrics_readcb, metrics_writecb, metrics_eventcb, mc);
	/* reads are timed by mc->timer; a scraper that does not read its
	 * answer is bounded by the write timeout */
	bufferevent_set_timeouts(mc->bev, NULL, &idle);
	bufferevent_setwatermark(mc->bev, EV_READ, 0, METRICS_IN_MAX);
	bufferevent_enable(mc->bev, EV_READ | EV_WRITE);
	metrics_timer_arm(mc, rt.cfg->t_client_header_ms);
}

static struct event_base *metrics_base;
static struct config_addr metrics_addr;     /* where metrics_listener listens */

static struct evconnlistener *
metrics_listen(const struct config *cfg, char *err, size_t errlen)
{
	struct evconnlistener *l;

	l = evconnlistener_new_bind(metrics_base, metrics_accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE, 64,
	    (const struct sockaddr *)&cfg->metrics_addr.ss, (int)cfg->metrics_addr.len);
	if (l == NULL)
		snprintf(err, errlen, "cannot listen for metrics on %s: %s", cfg->metrics_addr.text,
		    strerror(errno));
	return l;
}

int
metrics_start(struct event_base *base, const struct config *cfg, char *err, size_t errlen)
{
	metrics_base = base;
	if (!cfg->metrics_enabled)
		return 0;
	metrics_listener = metrics_listen(cfg, err, errlen);
	if (metrics_listener == NULL)
		return -1;
	metrics_addr = cfg->metrics_addr;
	return 0;
}

int
metrics_restart(const struct config *cfg, char *err, size_t errlen)
{
	struct evconnlistener *l = NULL;

	if (metrics_listener != NULL && cfg->metrics_enabled &&
	    metrics_addr.len == cfg->metrics_addr.len &&
	    memcmp(&metrics_addr.ss, &cfg->metrics_addr.ss, metrics_addr.len) == 0)
		return 0;               /* unchanged: scrapes in progress go on */
	if (cfg->metrics_enabled) {
		l = metrics_listen(cfg, err, errlen);
		if (l == NULL)
			return -1;
	}
	if (metrics_listener != NULL)
		evconnlistener_free(metrics_listener);
	metrics_listener = l;
	metrics_addr = cfg->metrics_addr;
	return 0;
}

void
metrics_stop(void)
{
	while (!LIST_EMPTY(&metrics_clients))
		metrics_free(LIST_FIRST(&metrics_clients));
	if (metrics_listener != NULL)
		evconnlistener_free(metrics_listener);
	metrics_listener = NULL;
}
