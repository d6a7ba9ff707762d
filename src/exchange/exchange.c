/*
 * exchange.c - one request and its response (see exchange.h): route, pick
 * a server, send the request on a pooled or new upstream connection, read
 * the response head (1xx interim ones too) and relay the body through the
 * client connection's codec, retry, mark servers, feed the guard's window,
 * write the access line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "access_log.h"
#include "exchange.h"
#include "exchange_int.h"
#include "http_rewrite.h"
#include "mirror.h"
#include "pools.h"
#include "proxy.h"
#include "retry.h"
#include "upstream.h"

#define EXCHANGE_MAGIC 0xe8c4a11eU

/* a server that sends more interim responses than this is broken */
#define EXCHANGE_MAX_INTERIM 10

#define EXCHANGE_CHECK(ex) do { \
	if ((ex)->magic != EXCHANGE_MAGIC) { \
		log_error("%s:%d: bad exchange magic", __FILE__, __LINE__); \
		abort(); \
	} \
} while (0)

static const struct upstream_events exchange_up_events;
static int exchange_up_body(void *arg);

static const char *const exchange_state_names[] = { "head", "body", "tunnel", "done" };

const char *const exchange_term_names[EX_TERMS] = {
	"-", "done", "replied", "tunnel", "client_abort", "client_timeout", "server_reset",
	"server_timeout", "bad_body", "shutdown",
};

/* The moves an exchange may make; anything else is a bug. */
static const unsigned char exchange_moves[4][4] = {
	/*              HEAD BODY TUNNEL DONE */
	[EX_HEAD]   = {  1,   1,   1,     1 },
	[EX_BODY]   = {  0,   1,   0,     1 },
	[EX_TUNNEL] = {  0,   0,   1,     1 },
	[EX_DONE]   = {  1,   0,   0,     1 },
};

void
exchange_set_state(struct exchange *ex, enum exchange_state to)
{
	if (ex->state == to)
		return;
	if (!exchange_moves[ex->state][to])
		log_error("exchange %p: invalid exchange state change %s -> %s", (void *)ex,
		    exchange_state_names[ex->state], exchange_state_names[to]);
	log_debug("exchange %p: %s -> %s", (void *)ex, exchange_state_names[ex->state],
	    exchange_state_names[to]);
	ex->state = to;
}

void
exchange_init(struct exchange *ex, struct worker *w, const struct exchange_peer *peer,
    const struct exchange_ops *ops, void *owner)
{
	memset(ex, 0, sizeof(*ex));
	ex->magic = EXCHANGE_MAGIC;
	ex->w = w;
	ex->peer = peer;
	ex->ops = ops;
	ex->owner = owner;
	ex->state = EX_DONE;
	exchange_reset(ex);
}

/* A copy with a body: sent now that the body is whole (complete 1), or
 * given up (0); ex->mirrored says whether it counts for the guard. */
static void
exchange_mirror_end(struct exchange *ex, int complete)
{
	if (ex->mirror_tee.buf != NULL)
		ex->mirrored = mirror_tee_end(ex->w, &ex->mirror_tee, ex->svc, ex->mirror_cand, ex->rhead,
		    ex->rhead_len, complete);
}

void
exchange_reset(struct exchange *ex)
{
	exchange_mirror_end(ex, 0);     /* a copy whose body never came whole */
	exchange_set_state(ex, EX_HEAD);
	ex->req_body = BODY_NONE;
	ex->req_left = 0;
	ex->req_error = NULL;
	ex->req_done = 0;
	ex->req_upgrade = 0;
	ex->attempts = 0;
	ex->srv = NULL;
	ex->rhead_oom = 0;
	ex->set_cookie = 0;
	ex->method[0] = '\0';
	ex->path[0] = '\0';
	ex->reqid[0] = '\0';
	ex->resp_status = 0;
	ex->resp_body = BODY_NONE;
	ex->resp_left = 0;
	ex->resp_reusable = 0;
	ex->resp_bytes = 0;
	ex->resp_started = 0;
	ex->err_kind = -1;
	ex->overridden = 0;
	ex->retried_stable = 0;
	ex->client_fault = 0;
	ex->mirrored = 0;
	ex->interim = 0;
	ex->resp_deadline_us = 0;
	ex->up_proto = NULL;
	ex->grpc = 0;
	ex->grpc_status = -1;
	ex->live = 0;
	ex->term = EX_TERM_NONE;
}

static void exchange_rhead_give(struct exchange *ex);

void
exchange_release(struct exchange *ex)
{
	EXCHANGE_CHECK(ex);
	exchange_dequeue(ex);
	/* the codec lets go of an exchange that did not end: its client went */
	exchange_end(ex, ex->term != EX_TERM_NONE ? ex->term : EX_TERM_CLIENT_ABORT);
	if (ex->active_counted)
		STATS_ADD(ex->w->stats->srv[ex->srv->slot].active, -1);
	ex->active_counted = 0;
	if (ex->up != NULL) {
		upstream_close(ex->up);
		ex->up = NULL;
	}
	exchange_mirror_end(ex, 0);
	exchange_rhead_give(ex);
	ex->magic = 0;
}

/* The server failed after its response head went out: the exchange ends
 * as term, an error of that server, and the response is cut. */
void
exchange_cut(struct exchange *ex, enum exchange_term term, int err_kind, const char *why)
{
	struct worker *w = ex->w;

	if (ex->err_kind < 0)
		ex->err_kind = err_kind;
	if (ex->srv != NULL) {
		w->upfail.failures++;
		/* cut to what fits: the reason is the last, shortest part */
		if (snprintf(w->upfail.last, sizeof(w->upfail.last), "server %s (%s): %.40s in "
		    "the body", ex->srv->addr.text, pool_names[ex->pool], why) < 0)
			w->upfail.last[0] = '\0';
	}
	exchange_end(ex, term);
	ex->ops->abort(ex, why);
}

/* Answer with an error of our own and end the exchange.  Returns -1. */
int
exchange_fail(struct exchange *ex, int status, const char *why)
{
	if (ex->ops->reply(ex, status, why) == 0)
		ex->ops->finish(ex);
	return -1;
}

/* ---- the request --------------------------------------------------------- */

/* A worker keeps a few head buffers of the usual size: an HTTP/2 stream's
 * exchange is new each time, its head buffer need not be. */
#define EXCHANGE_RHEAD_KEEP 64
#define EXCHANGE_RHEAD_USUAL 4096

struct rhead_spare {
	struct rhead_spare *next;
};

static void
exchange_rhead_give(struct exchange *ex)
{
	struct worker *w = ex->w;

	if (ex->rhead != NULL && ex->rhead_cap == EXCHANGE_RHEAD_USUAL &&
	    w->rhead_nspare < EXCHANGE_RHEAD_KEEP) {
		struct rhead_spare *sp = (struct rhead_spare *)(void *)ex->rhead;

		sp->next = w->rhead_spare;
		w->rhead_spare = sp;
		w->rhead_nspare++;
	} else {
		free(ex->rhead);
	}
	ex->rhead = NULL;
	ex->rhead_cap = 0;
}

/* At a worker's end. */
void
exchange_rhead_free_spare(struct worker *w)
{
	struct rhead_spare *sp;

	while ((sp = w->rhead_spare) != NULL) {
		w->rhead_spare = sp->next;
		free(sp);
	}
	w->rhead_nspare = 0;
}

static int
exchange_rhead_reserve(struct exchange *ex, size_t need)
{
	char *p;
	size_t cap;

	if (need <= ex->rhead_cap)
		return 0;
	if (ex->rhead == NULL && need <= EXCHANGE_RHEAD_USUAL) {
		struct rhead_spare *sp = ex->w->rhead_spare;

		if (sp != NULL) {
			ex->w->rhead_spare = sp->next;
			ex->w->rhead_nspare--;
			ex->rhead = (char *)sp;
		} else if ((ex->rhead = malloc(EXCHANGE_RHEAD_USUAL)) == NULL) {
			return -1;
		}
		ex->rhead_cap = EXCHANGE_RHEAD_USUAL;
		return 0;
	}
	cap = (need + 1023) & ~(size_t)1023;
	p = realloc(ex->rhead, cap);
	if (p == NULL)
		return -1;
	ex->rhead = p;
	ex->rhead_cap = cap;
	return 0;
}

static void
exchange_make_reqid(struct exchange *ex)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t a = route_rng_next(&ex->w->rng), b = route_rng_next(&ex->w->rng);
	int i;

	for (i = 0; i < 16; i++) {
		ex->reqid[i] = hex[a & 15];
		a >>= 4;
		ex->reqid[16 + i] = hex[b & 15];
		b >>= 4;
	}
	ex->reqid[32] = '\0';
}

/* The head sent upstream (http_rewrite.c), kept in ex->rhead for a retry. */
static int
exchange_build_request(struct exchange *ex, const struct http_msg *m)
{
	const struct exchange_peer *pe = ex->peer;
	struct http_rewrite_req rq = { pe->addr, pe->addr_len, pe->tls, ex->req_upgrade, ex->reqid,
		NULL, 0 };
	size_t n;

	if (exchange_rhead_reserve(ex, http_rewrite_request_max(m, pe->addr_len)) == -1)
		return -1;
	exchange_make_reqid(ex);
	/* (an HTTP/1.0 client reads no chunked answer, trailers or not) */
	ex->req_trailers = m->version_minor >= 1 && http_takes_trailers(m);
	ex->rhead_len = http_rewrite_request(m, &rq, ex->rhead);
	/* the client's id replaces ours (rq.reqid == ex->reqid when it sent none) */
	n = rq.reqid_len < sizeof(ex->reqid) - 1 ? rq.reqid_len : sizeof(ex->reqid) - 1;
	memmove(ex->reqid, rq.reqid, n);
	ex->reqid[n] = '\0';
	return 0;
}

/*
 * Choose the pool (route_decide): the headers give the override value, the
 * cookie's key and the header's key; the split word gives the shares.  A
 * client without a key gets a new one and a Set-Cookie.
 */
static enum pool_id
exchange_route(struct exchange *ex, const struct http_msg *m)
{
	const struct config_svc *c = service_cfg(ex->svc);
	uint32_t split = atomic_load_explicit(&ex->svc->split, memory_order_acquire);
	struct route_names nm = {
		.cookie = c->cookie, .header = c->header, .override = c->override_header,
		.cookie_len = strlen(c->cookie), .header_len = strlen(c->header),
		.override_len = strlen(c->override_header),
	};
	struct route_in in = {
		.stable = SPLIT_STABLE(split), .candidate_bp = SPLIT_BP(split),
		.cookies = nm.cookie_len > 0,
	};
	struct route_out out;

	route_scan(m, &nm, &in);
	in.override_trusted = in.override != -1 && c->noverride_from > 0 &&
	    config_cidr_match(c->override_from, c->noverride_from,
	    (const struct sockaddr *)&ex->peer->sa);
	route_decide(&in, &ex->w->rng, &out);
	ex->overridden = out.why == ROUTE_WHY_OVERRIDE;
	if (out.new_key) {
		memcpy(ex->key, out.key, ROUTE_KEY_LEN);
		ex->set_cookie = 1;
	}
	return (enum pool_id)out.pool;
}

static void
exchange_attach_upstream(struct exchange *ex, struct upconn *u)
{
	ex->up = u;
	u->proto->attach(u, &exchange_up_events, ex);
}

/*
 * The whole request went to the server's output: from now on the server
 * is waited for (upstream_response_ms, restarted by each byte it sends),
 * and the client's body timer has nothing left to time.
 */
static void
exchange_request_sent(struct exchange *ex)
{
	ex->req_done = 1;
	ex->up->proto->timers(ex->up, UPSTREAM_T_WAITING);
	ex->resp_deadline_us = proxy_coarse_us() + (uint64_t)rt.cfg->t_upstream_response_ms * 1000;
	ex->ops->req_sent(ex);
}

/* Send the request head (again, for a retry) on a new or pooled
 * connection, or wait for a place on a full server. */
int
exchange_send_upstream(struct exchange *ex, int fresh)
{
	if (!upstream_slot_take(ex->srv))
		return exchange_enqueue(ex);
	return exchange_connect(ex, fresh);
}

int
exchange_connect(struct exchange *ex, int fresh)
{
	char err[256];
	struct upconn *u;

	u = upstream_get(ex->w, ex->srv, fresh, err, sizeof(err));
	if (u == NULL) {
		upstream_slot_give(ex->w, ex->srv);
		log_warn("server %s: %s", ex->srv->addr.text, err);
		return -1;
	}
	u->slot = 1;
	ex->up_proto = u->proto->name;
	if (ex->attempts++ == 0) {
		STATS_ADD(ex->w->stats->srv[ex->srv->slot].active, 1);
		ex->active_counted = 1;
	} else {
		STATS_INC(ex->w->stats->retries);
	}
	exchange_attach_upstream(ex, u);
	u->proto->send_head(u, ex->rhead, ex->rhead_len,
	    (ex->req_method == HTTP_M_HEAD ? UPSTREAM_NO_BODY : 0) |
	    (ex->req_trailers ? UPSTREAM_TRAILERS : 0));
	if (ex->req_done)
		exchange_request_sent(ex);    /* no body: the head is the whole request */
	else
		u->proto->timers(u, UPSTREAM_T_SENDING);
	return 0;
}

void
exchange_request_line(struct exchange *ex, const struct http_msg *m)
{
	size_t n;

	ex->req_minor = m->version_minor;
	ex->req_method = m->method_id;
	n = m->method_len < sizeof(ex->method) - 1 ? m->method_len : sizeof(ex->method) - 1;
	memcpy(ex->method, m->method, n);
	ex->method[n] = '\0';
	n = m->target_len < sizeof(ex->path) - 1 ? m->target_len : sizeof(ex->path) - 1;
	memcpy(ex->path, m->target, n);
	ex->path[n] = '\0';
	ex->live = 1;
}

void
exchange_prepare(struct exchange *ex, const struct http_msg *m)
{
	ex->svc = service_route(m->host, m->host_len, m->target, m->target_len);
	if (ex->svc == NULL) {
		ex->srv = NULL;         /* exchange_forward answers 404 */
		exchange_make_reqid(ex);
		return;
	}
	ex->pool = exchange_route(ex, m);
	ex->srv = pools_pick(ex->w, ex->svc, ex->pool, ex->t_start);
	if (ex->srv == NULL) {
		/* failover: a pool with no server up sends to the other pool */
		ex->pool = !ex->pool;
		ex->srv = pools_pick(ex->w, ex->svc, ex->pool, ex->t_start);
	}
	ex->rhead_oom = exchange_build_request(ex, m) == -1;
}

int
exchange_forward(struct exchange *ex)
{
	enum pool_id stable;

	ex->req_done = ex->req_body == BODY_NONE;
	if (ex->svc == NULL) {
		STATS_INC(ex->w->stats->unrouted);
		return exchange_fail(ex, 404, "no service takes this host and path");
	}
	if (ex->rhead_oom) {
		ex->ops->close_after(ex, "out of memory");
		ex->srv = NULL;
		return exchange_fail(ex, 503, "out of memory");
	}
	if (ex->srv == NULL)
		return exchange_fail(ex, 503, "no server is up");
	if (exchange_send_upstream(ex, 0) == -1) {
		ex->ops->close_after(ex, "no server connection");
		return exchange_fail(ex, 502, "cannot connect");
	}
	/* shadow traffic (off: all a request pays is one load): a copy for the
	 * candidate, tied to nothing here */
	if (mirror_on(ex->svc)) {
		struct mirror_ask ask = { ex->svc, ex->pool, ex->overridden, ex->req_upgrade, ex->req_method,
			ex->req_body, ex->req_left };

		if (mirror_wanted(ex->w, &ask, &stable)) {
			if (ex->req_body == BODY_NONE) {
				ex->mirrored = mirror_request(ex->w, ex->svc, !stable, ex->rhead, ex->rhead_len,
				    NULL);
			} else {
				/* sent when the body is complete */
				ex->mirror_cand = !stable;
				mirror_tee_begin(ex->w, ex->svc, &ex->mirror_tee);
			}
		}
	}
	if (ex->queued)
		return 0;       /* exchange_queue_run sends it when there is room */
	if (ex->req_done)
		(void)upstream_push(ex->up, 0);
	else
		exchange_pump_request(ex);
	return 0;
}

void
exchange_pump_request(struct exchange *ex)
{
	int r;

	if (ex->up == NULL) {
		ex->ops->req_flow(ex, 0);       /* waiting for a place: nothing reads it */
		return;
	}
	r = ex->ops->req_body(ex, ex->up);
	if (r == -1) {
		/* the server saw part of a bad body: that connection is done */
		upstream_close(ex->up);
		ex->up = NULL;
		ex->ops->close_after(ex, "a malformed request body");
		ex->client_fault = 1;
		ex->term = EX_TERM_BAD_BODY;
		if (ex->resp_started) {
			/* the server answered early: nothing to answer with */
			exchange_end(ex, EX_TERM_BAD_BODY);
			ex->ops->abort(ex, ex->req_error);
			return;
		}
		exchange_fail(ex, 400, ex->req_error);
		return;
	}
	if (r == 1) {
		exchange_mirror_end(ex, 1);
		exchange_request_sent(ex);
		return;
	}
	/* the server slow to take the body: its write timer runs, and the
	 * client's gap is not the client's fault (upstream write cb resumes) */
	ex->ops->req_flow(ex, upstream_pending(ex->up) < PROXY_BUF_HIGH);
}

/*
 * The client let timeouts.client_body_ms pass without a byte of its request
 * body.  The server saw part of a request: that connection cannot be
 * reused.  It is the client's fault: no server failure, not in the guard's
 * window.
 */
void
exchange_client_body_timeout(struct exchange *ex)
{
	log_debug("request body from %s not received in time", ex->peer->addr);
	ex->client_fault = 1;
	ex->term = EX_TERM_CLIENT_TIMEOUT;
	ex->ops->close_after(ex, "the request body timed out");
	if (ex->resp_started) {
		exchange_end(ex, EX_TERM_CLIENT_TIMEOUT);
		ex->ops->abort(ex, "client body timeout");
		return;
	}
	if (ex->up != NULL) {
		upstream_close(ex->up);
		ex->up = NULL;
	}
	exchange_fail(ex, 408, "request body not received in time");
}

/* ---- the response -------------------------------------------------------- */

/* Queue a response head for the client through the codec. */
static void
exchange_send_response_head(struct exchange *ex, const struct http_msg *m, const char *raw)
{
	ex->ops->resp_head(ex, m, raw);
	if (m->status >= 200 || m->status == 101)
		ex->resp_started = 1;
}

static void
exchange_start_tunnel(struct exchange *ex)
{
	exchange_set_state(ex, EX_TUNNEL);
	ex->ops->close_after(ex, "a tunnel");
	exchange_end(ex, EX_TERM_TUNNEL);
	/* tunnels are long-lived: no response timeout on either side */
	ex->up->proto->tunnel(ex->up);
	ex->ops->tunnel_start(ex);
}

/* A final response head: its framing (the server's protocol read it) and
 * the head to the client.  Returns 0, -1 when the exchange let go of the
 * server connection (answered and aborted, or the request went elsewhere). */
static int
exchange_response_head(struct exchange *ex, const struct upstream_resp *r)
{
	const struct http_msg *m = r->m;

	ex->resp_status = m->status;
	if (ex->interim > 0 && ex->req_done)
		ex->up->proto->timers(ex->up, UPSTREAM_T_WAITING);  /* the 1xx deadline is over */
	if (atomic_load_explicit(&ex->srv->fails, memory_order_relaxed) != 0)
		atomic_store_explicit(&ex->srv->fails, 0, memory_order_relaxed);
	if (m->status >= 502 && m->status <= 504) {
		/* the candidate's gateway errors are retried on stable: this
		 * connection's answer is dropped with the connection */
		struct upconn *u = ex->up;

		ex->up = NULL;
		if (exchange_retry_on_stable(ex, RETRY_F_GATEWAY, m->status)) {
			upstream_close(u);
			return -1;
		}
		ex->up = u;
	}
	if (m->status == 101) {
		if (!ex->req_upgrade) {
			ex->err_kind = STATS_ERR_PROTOCOL;
			if (ex->ops->reply(ex, 502, "unexpected 101 from server") == 0)
				ex->ops->abort(ex, "bad response");
			return -1;
		}
		exchange_send_response_head(ex, m, r->raw);
		exchange_start_tunnel(ex);
		return 0;
	}
	ex->resp_body = r->body;
	ex->resp_left = r->length;
	if (r->body == BODY_CHUNKED)
		http_chunked_init(&ex->resp_chunk);
	else if (r->body == BODY_UNTIL_CLOSE)
		ex->ops->close_after(ex, "a response body ended by a close");
	ex->resp_reusable = r->keep;
	/* a trailers-only gRPC answer has its status in the head */
	ex->grpc_status = http_grpc_status(m);
	exchange_send_response_head(ex, m, r->raw);
	exchange_set_state(ex, EX_BODY);
	return 0;
}

/* Relay response body bytes.  Returns 0 while more is to come, -1 when
 * the exchange ended (ex may be gone). */
static int
exchange_pump_response(struct exchange *ex)
{
	int r;

	/* once the server closed, what it sent is all there is: move it all */
	r = ex->ops->resp_body(ex, ex->up, ex->up->eof);
	if (r == -1) {
		exchange_cut(ex, EX_TERM_BAD_BODY, STATS_ERR_PROTOCOL, "bad chunked response body");
		return -1;
	}
	if (r == 1) {
		exchange_response_done(ex);
		return -1;
	}
	/* paused when the client is full (exchange_resume_response resumes);
	 * on again when it paused itself */
	upstream_read(ex->up, !ex->ops->resp_full(ex));
	return 0;
}

void
exchange_resume_response(struct exchange *ex)
{
	if (ex->up == NULL || (ex->state != EX_BODY && ex->state != EX_TUNNEL))
		return;
	upstream_read(ex->up, 1);
	if (evbuffer_get_length(ex->up->in) > 0)
		(void)exchange_up_body(ex);
}

/*
 * An interim (1xx) response: handed to the codec (HTTP/1.1 passes it on
 * to HTTP/1.1 clients without its Content-Length, RFC 9110 8.6), at most
 * EXCHANGE_MAX_INTERIM per request.  It does not restart the response
 * timer: the final head is still due by the deadline set when the request
 * was sent.  Returns 0, or -1 when the exchange was answered or aborted.
 */
static int
exchange_interim(struct exchange *ex, const struct http_msg *m, const char *raw)
{
	uint64_t now;

	if (++ex->interim > EXCHANGE_MAX_INTERIM) {
		log_warn("server %s sent more than %d interim responses", ex->srv->addr.text,
		    EXCHANGE_MAX_INTERIM);
		ex->err_kind = STATS_ERR_PROTOCOL;
		ex->ops->close_after(ex, "too many interim responses");
		if (ex->ops->reply(ex, 502, "too many interim responses from server") == 0)
			ex->ops->abort(ex, "too many interim responses");
		return -1;
	}
	exchange_send_response_head(ex, m, raw);
	if (ex->req_done) {
		now = proxy_now_us();
		ex->up->proto->due(ex->up, ex->resp_deadline_us > now ?
		    ex->resp_deadline_us - now : 1);
	}
	return 0;
}

/* The response is complete: give the server connection back, log, and
 * let the codec go on. */
void
exchange_response_done(struct exchange *ex)
{
	struct upconn *u = ex->up;

	exchange_set_state(ex, EX_DONE);
	ex->up = NULL;
	if (u == NULL)
		;       /* an until-close body: the server already closed */
	else
		upstream_done(u, ex->resp_reusable && ex->req_done);
	if (!ex->req_done)
		ex->ops->close_after(ex, "the response came before the whole request");
	exchange_end(ex, EX_TERM_DONE);
	ex->ops->finish(ex);
}

/* ---- what the server's protocol tells ----------------------------------- */

static int
exchange_up_head(void *arg, const struct upstream_resp *r)
{
	struct exchange *ex = arg;

	EXCHANGE_CHECK(ex);
	if (ex->state != EX_HEAD)
		return 0;
	if (r->m->status >= 100 && r->m->status < 200 && r->m->status != 101)
		return exchange_interim(ex, r->m, r->raw);
	return exchange_response_head(ex, r);
}

static int
exchange_up_body(void *arg)
{
	struct exchange *ex = arg;

	EXCHANGE_CHECK(ex);
	if (ex->state == EX_TUNNEL) {
		ex->ops->tunnel_down(ex, ex->up);
		return 0;
	}
	if (ex->state == EX_BODY)
		return exchange_pump_response(ex);
	return 0;
}

static void
exchange_up_room(void *arg)
{
	struct exchange *ex = arg;

	EXCHANGE_CHECK(ex);
	if (ex->state == EX_TUNNEL)
		ex->ops->tunnel_room(ex);
	else if (ex->state != EX_DONE && !ex->req_done)
		exchange_pump_request(ex);
}

static void
exchange_up_fail(void *arg, enum retry_failure f)
{
	struct exchange *ex = arg;

	EXCHANGE_CHECK(ex);
	if (ex->state == EX_TUNNEL) {
		/* the tunnel's end: what the server sent went on; end like
		 * after any reply */
		upstream_close(ex->up);
		ex->up = NULL;
		exchange_set_state(ex, EX_DONE);
		ex->ops->close_after(ex, "the tunnel's server closed");
		ex->ops->finish(ex);
		return;
	}
	exchange_up_failed(ex, f);
}

static void
exchange_up_bad(void *arg, const char *why)
{
	struct exchange *ex = arg;

	EXCHANGE_CHECK(ex);
	(void)why;      /* logged by the protocol, with the server */
	ex->err_kind = STATS_ERR_PROTOCOL;
	ex->ops->close_after(ex, "a malformed response");
	if (ex->ops->reply(ex, 502, "bad response from server") == 0)
		ex->ops->abort(ex, "bad response");
}

static const struct upstream_events exchange_up_events = {
	.head = exchange_up_head,
	.body = exchange_up_body,
	.room = exchange_up_room,
	.failed = exchange_up_fail,
	.bad = exchange_up_bad,
};
