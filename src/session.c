/*
 * session.c - one client connection (struct session) and the exchange on it
 * (struct exchange: one request and its response): read a request head,
 * pick a pool and a server, forward the request, stream the response back,
 * repeat while keep-alive allows; or tunnel bytes both ways after an
 * Upgrade.
 *
 * States (session_set_state is the only writer of s->state):
 *   SS_HEAD      waiting for a request head (header or idle timer armed)
 *   SS_UPSTREAM  a request is with a server: its body may still be
 *                streaming up, the response head or body coming down
 *   SS_TUNNEL    after 101 Switching Protocols: bytes both ways
 *   SS_CLOSING   last response queued: flush it, then close
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event_struct.h>

#include "balance.h"
#include "conn.h"
#include "http_reply.h"
#include "http_rewrite.h"
#include "proxy.h"
#include "retry.h"
#include "session.h"
#include "upstream.h"

#define SESSION_MAGIC 0x5e55101bU
#define SESSION_CLOSE_LINGER_MS 5000

enum session_state { SS_HEAD, SS_UPSTREAM, SS_TUNNEL, SS_CLOSING };
static const char *session_state_names[] = { "head", "upstream", "tunnel", "closing" };

enum body_kind { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_UNTIL_CLOSE };
enum resp_phase { RESP_HEAD, RESP_BODY, RESP_DONE };

/*
 * One request and its response: an exchange.  It owns the route, the
 * server, the upstream connection, the relay state both ways, the retry
 * figures and what the access line says.  HTTP/1.1 carries one exchange at
 * a time on a client connection (pipelined requests wait in the input);
 * the HTTP/2 codec will carry many.
 */
struct exchange {
	struct upconn *up;

	/* the request */
	int req_minor;                /* HTTP/1.<req_minor> */
	uint8_t req_method;
	enum body_kind req_body;
	uint64_t req_left;
	struct http_chunked req_chunk;
	int req_done;                 /* whole request (head + body) sent upstream */
	int req_upgrade;              /* websocket upgrade requested */
	int attempts;
	enum pool_id pool;
	struct server *srv;
	char *rhead;                  /* the rewritten head, kept for a retry */
	size_t rhead_len, rhead_cap;
	char key[ROUTE_KEY_LEN];
	int set_cookie;               /* answer with Set-Cookie: key */
	char method[16];
	char path[256];
	char reqid[129];              /* the client's X-Request-Id (up to 128 bytes kept) or ours */
	uint64_t t_start;

	/* the response */
	enum resp_phase resp_phase;
	int resp_status;
	enum body_kind resp_body;
	uint64_t resp_left;
	struct http_chunked resp_chunk;
	int resp_reusable;            /* upstream may be reused after it */
	uint64_t resp_bytes;
	int resp_started;             /* a response byte went to the client */
	int up_eof;                   /* the server closed the current connection */
	int err_kind;                 /* enum stats_err of a failed attempt, or -1 */
	int overridden;               /* routed by the override header: not in the window */
	int active_counted;           /* counted in the server's active requests */
	int retried_stable;           /* already sent again to the stable pool */
	int client_fault;             /* ended by the client (body timeout): not in the guard's window */
	int interim;                  /* 1xx responses seen for this request */
	uint64_t resp_deadline_us;    /* the final head is due by then (request fully sent) */
};

/* One client connection: the socket, TLS, HTTP/1.1 framing and its
 * current exchange. */
struct session {
	uint32_t magic;
	enum session_state state;
	struct worker *w;
	struct conn cc;               /* the client connection */
	struct event timer;           /* header / idle / linger timer */
	LIST_ENTRY(session) link;     /* worker's list */
	int tls;
	struct sockaddr_storage peer_sa;
	char peer[INET6_ADDRSTRLEN];
	size_t peer_len;
	int in_head_loop;             /* inside session_read_heads: no recursion */
	int client_eof;               /* client closed its sending side */
	int had_bytes;                /* bytes of a new head have arrived */
	int keepalive;                /* client connection may carry another request */
	int linger;                   /* closing: the client may still be sending */
	struct exchange ex;           /* the exchange in progress */
};

/* a server that sends more interim responses than this is broken */
#define SESSION_MAX_INTERIM 10

static void session_client_readcb(struct conn *, void *);
static void session_client_writecb(struct conn *, void *);
static void session_client_eventcb(struct conn *, short, void *);
static void session_up_readcb(struct conn *, void *);
static void session_up_writecb(struct conn *, void *);
static void session_up_eventcb(struct conn *, short, void *);
static void session_read_heads(struct session *s);
static void session_close(struct session *s, const char *reason);
static int session_retry_on_stable(struct session *s, enum retry_failure f, int status);
static void session_tunnel_move(struct session *s, struct conn *from, struct conn *to);

#define SESSION_CHECK(s) do { \
	if ((s)->magic != SESSION_MAGIC) { \
		log_error("%s:%d: bad session magic", __FILE__, __LINE__); \
		abort(); \
	} \
} while (0)

/* The moves a client connection may make; anything else is a bug. */
static const unsigned char session_moves[4][4] = {
	/*                 HEAD UPSTREAM TUNNEL CLOSING */
	[SS_HEAD]     = {  1,   1,       0,     1 },
	[SS_UPSTREAM] = {  1,   1,       1,     1 },
	[SS_TUNNEL]   = {  0,   0,       1,     1 },
	[SS_CLOSING]  = {  0,   0,       0,     1 },
};

static void
session_set_state(struct session *s, enum session_state to)
{
	if (s->state == to)
		return;
	if (!session_moves[s->state][to])
		log_error("session %p: invalid state change %s -> %s", (void *)s,
		    session_state_names[s->state], session_state_names[to]);
	log_debug("session %p: %s -> %s", (void *)s, session_state_names[s->state],
	    session_state_names[to]);
	s->state = to;
}

static const char *const session_resp_names[] = { "head", "body", "done" };

/* The response's phase: head -> body -> done, or head -> done (no body,
 * a tunnel); done -> head for the next request. */
static void
session_set_resp(struct session *s, enum resp_phase to)
{
	if (s->ex.resp_phase == to)
		return;
	if ((s->ex.resp_phase == RESP_BODY && to == RESP_HEAD) ||
	    (s->ex.resp_phase == RESP_DONE && to == RESP_BODY))
		log_error("session %p: invalid response phase change %s -> %s", (void *)s,
		    session_resp_names[s->ex.resp_phase], session_resp_names[to]);
	log_debug("session %p: response %s -> %s", (void *)s, session_resp_names[s->ex.resp_phase],
	    session_resp_names[to]);
	s->ex.resp_phase = to;
}

/* This connection closes after the current response; why, at debug. */
static void
session_close_after(struct session *s, const char *why)
{
	if (s->keepalive)
		log_debug("session %p: no keep-alive after this response: %s", (void *)s, why);
	s->keepalive = 0;
}

static void
session_timer_ms(struct session *s, int ms)
{
	struct timeval tv = clock_tv_ms(ms);

	evtimer_add(&s->timer, &tv);
}

/* ---- access log ---------------------------------------------------------- */

/* The end of a request: counters, the window, the access log. */
static void
session_access_log(struct session *s)
{
	struct worker *w = s->w;
	char line[1536];
	char esc[768];
	size_t n, e;
	double dur_ms;
	uint64_t now = proxy_now_us(), dur = now - s->ex.t_start;

	if (s->ex.srv != NULL) {
		stats_record(w->stats, s->ex.pool, s->ex.srv->index, s->ex.resp_status, s->ex.err_kind,
		    !s->ex.overridden && !s->ex.client_fault, now / 1000000, dur);
		if (s->ex.active_counted) {
			STATS_ADD(w->stats->srv_active[s->ex.pool][s->ex.srv->index], -1);
			s->ex.active_counted = 0;
		}
	}
	if (!log_access_enabled())
		return;
	dur_ms = (double)dur / 1000.0;
	memcpy(line, "{\"time\":\"", 9);
	n = 9 + (size_t)clock_iso_now(line + 9, CLOCK_ISO_LEN);
	n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"client\":\"%s\",\"method\":\"",
	    s->peer);
	e = log_json_escape(esc, sizeof(esc), s->ex.method, strlen(s->ex.method));
	memcpy(line + n, esc, e);
	n += e;
	n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"path\":\"");
	e = log_json_escape(esc, sizeof(esc), s->ex.path, strlen(s->ex.path));
	memcpy(line + n, esc, e);
	n += e;
	/* the client's X-Request-Id may hold any visible byte, quotes too */
	e = log_json_escape(esc, sizeof(esc) - 1, s->ex.reqid, strlen(s->ex.reqid));
	esc[e] = '\0';
	n += (size_t)snprintf(line + n, sizeof(line) - n,
	    "\",\"status\":%d,\"bytes\":%llu,\"pool\":%s%s%s,\"server\":%s%s%s,"
	    "\"duration_ms\":%.3f,\"request_id\":\"%s\",\"tls\":%s}\n",
	    s->ex.resp_status, (unsigned long long)s->ex.resp_bytes,
	    s->ex.srv ? "\"" : "", s->ex.srv ? pool_names[s->ex.pool] : "null", s->ex.srv ? "\"" : "",
	    s->ex.srv ? "\"" : "", s->ex.srv ? s->ex.srv->addr.text : "null", s->ex.srv ? "\"" : "",
	    dur_ms, esc, s->tls ? "true" : "false");
	if (s->tls && n < sizeof(line) - 256) {
		const char *sni = SSL_get_servername(s->cc.ssl, TLSEXT_NAMETYPE_host_name);

		n--;            /* reopen the object: replace "}\n" */
		n--;
		n += (size_t)snprintf(line + n, sizeof(line) - n, ",\"tls_version\":\"%s\",\"sni\":",
		    SSL_get_version(s->cc.ssl));
		if (sni != NULL) {
			e = log_json_escape(esc, 200, sni, strlen(sni));
			n += (size_t)snprintf(line + n, sizeof(line) - n, "\"%.*s\"}\n", (int)e, esc);
		} else {
			n += (size_t)snprintf(line + n, sizeof(line) - n, "null}\n");
		}
	}
	if (n > sizeof(line))
		n = sizeof(line);
	log_buf_append(&w->alog, line, n);
}

/* ---- replies of our own -------------------------------------------------- */

/*
 * Answer the current request with an error of our own.  The connection
 * stays open only when the request was read completely and nothing of a
 * response went out yet.  When a response had already started (a server
 * that answered early) there is nothing to answer with: the connection is
 * closed and freed, and this returns -1 (s is gone); else 0.
 */
static int
session_reply(struct session *s, int status, const char *why)
{
	struct evbuffer *out = s->cc.out;
	int keep = s->keepalive && s->ex.req_done && !s->ex.resp_started && !s->w->draining &&
	    status >= 500;

	if (s->ex.resp_started) {
		session_close(s, why);
		return -1;
	}
	log_debug("reply %d to %s: %s", status, s->peer, why);
	http_reply_error(out, status, !keep, NULL);
	conn_flush(&s->cc);
	s->ex.resp_status = status;
	s->ex.resp_bytes = 0;
	s->ex.resp_started = 1;
	if (s->ex.method[0] == '\0')
		snprintf(s->ex.method, sizeof(s->ex.method), "-");
	session_access_log(s);
	if (!keep)
		session_close_after(s, "the response ended the connection");
	return 0;
}

static void session_reset_request(struct session *s);

/*
 * After a reply of our own: close once it is flushed, or wait for the next
 * request.  Inside the head loop nothing is freed here (the loop goes on or
 * closes when it ends), so callers there may still use s.
 */
/*
 * SS_CLOSING and the output is flushed.  When the client may still be
 * sending (we answered before reading its whole request), closing now
 * would make the kernel answer its bytes with a reset that can destroy
 * the response before the client reads it: half-close instead, read and
 * discard until the client closes or the linger timer fires.
 */
static void
session_closing_flushed(struct session *s, const char *reason)
{
	if (!s->linger) {
		session_close(s, reason);
		return;
	}
	s->linger = 0;
	conn_shutdown_write(&s->cc);
	evbuffer_drain(s->cc.in, evbuffer_get_length(s->cc.in));
	conn_read_enable(&s->cc);
	session_timer_ms(s, SESSION_CLOSE_LINGER_MS);
}

static void
session_after_reply(struct session *s)
{
	/* after a half-close, pipelined requests already read are still served */
	if (s->client_eof && evbuffer_get_length(s->cc.in) == 0)
		session_close_after(s, "the client half-closed");
	if (!s->keepalive) {
		session_set_state(s, SS_CLOSING);
		s->linger = !s->ex.req_done || evbuffer_get_length(s->cc.in) > 0;
		/* TLS: the end of the response, and the close_notify, in one write */
		if (!s->linger)
			conn_close_notify(&s->cc);
		conn_flush(&s->cc);
		conn_read_disable(&s->cc);
		session_timer_ms(s, SESSION_CLOSE_LINGER_MS);
		if (!s->in_head_loop && conn_out_pending(&s->cc) == 0)
			session_closing_flushed(s, "closed after reply");
		return;
	}
	conn_flush(&s->cc);             /* what conn_flush_hold made */
	session_reset_request(s);
	session_set_state(s, SS_HEAD);
	session_timer_ms(s, rt.cfg->t_client_idle_ms);
	conn_read_enable(&s->cc);
	if (!s->in_head_loop && evbuffer_get_length(s->cc.in) > 0)
		session_read_heads(s);
}

/* ---- request head -------------------------------------------------------- */

/* A fresh exchange for the next request; the rewritten-head buffer is kept. */
static void
exchange_reset(struct exchange *ex)
{
	ex->req_body = BODY_NONE;
	ex->req_left = 0;
	ex->req_done = 0;
	ex->req_upgrade = 0;
	ex->attempts = 0;
	ex->srv = NULL;
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
	ex->up_eof = 0;
	ex->err_kind = -1;
	ex->overridden = 0;
	ex->retried_stable = 0;
	ex->client_fault = 0;
	ex->interim = 0;
	ex->resp_deadline_us = 0;
}

static void
session_reset_request(struct session *s)
{
	session_set_resp(s, RESP_HEAD);
	exchange_reset(&s->ex);
	s->had_bytes = 0;
}

static int
session_rhead_reserve(struct session *s, size_t need)
{
	char *p;
	size_t cap;

	if (need <= s->ex.rhead_cap)
		return 0;
	cap = (need + 1023) & ~(size_t)1023;
	p = realloc(s->ex.rhead, cap);
	if (p == NULL)
		return -1;
	s->ex.rhead = p;
	s->ex.rhead_cap = cap;
	return 0;
}


static void
session_make_reqid(struct session *s)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t a = route_rng_next(&s->w->rng), b = route_rng_next(&s->w->rng);
	int i;

	for (i = 0; i < 16; i++) {
		s->ex.reqid[i] = hex[a & 15];
		a >>= 4;
		s->ex.reqid[16 + i] = hex[b & 15];
		b >>= 4;
	}
	s->ex.reqid[32] = '\0';
}

/* The head sent upstream (http_rewrite.c), kept in s->ex.rhead for a retry. */
static int
session_build_request(struct session *s, const struct http_msg *m)
{
	struct http_rewrite_req rq = { s->peer, s->peer_len, s->tls, s->ex.req_upgrade, s->ex.reqid,
		NULL, 0 };
	size_t n;

	if (session_rhead_reserve(s, http_rewrite_request_max(m, s->peer_len)) == -1)
		return -1;
	session_make_reqid(s);
	s->ex.rhead_len = http_rewrite_request(m, &rq, s->ex.rhead);
	/* the client's id replaces ours (rq.reqid == s->ex.reqid when it sent none) */
	n = rq.reqid_len < sizeof(s->ex.reqid) - 1 ? rq.reqid_len : sizeof(s->ex.reqid) - 1;
	memmove(s->ex.reqid, rq.reqid, n);
	s->ex.reqid[n] = '\0';
	return 0;
}

/*
 * Choose the pool (route_decide): the headers give the override value, the
 * cookie's key and the header's key; the split word gives the shares.  A
 * client without a key gets a new one and a Set-Cookie.
 */
static enum pool_id
session_route(struct session *s, const struct http_msg *m, const struct sockaddr *peer)
{
	const struct config *c = rt.cfg;
	uint32_t split = atomic_load_explicit(&rt.split, memory_order_acquire);
	size_t i, cookie_len = strlen(c->cookie);
	size_t header_len = strlen(c->header), ovr_len = strlen(c->override_header);
	struct route_in in = {
		.stable = SPLIT_STABLE(split), .candidate_bp = SPLIT_BP(split), .override = -1,
		.cookies = cookie_len > 0,
	};
	struct route_out out;

	for (i = 0; i < m->nhdr; i++) {
		const struct http_header *h = &m->hdr[i];
		const char *v;
		size_t vl;

		if (h->id == HDR_COOKIE && cookie_len > 0 && in.cookie_key == NULL) {
			if (route_cookie_find(h->value, h->value_len, c->cookie, cookie_len,
			    &v, &vl) && route_key_valid(v, vl)) {
				in.cookie_key = v;
				in.cookie_len = vl;
			}
		} else if (h->id == HDR_OTHER) {
			if (ovr_len > 0 && h->name_len == ovr_len &&
			    http_token_eq(h->name, h->name_len, c->override_header))
				in.override = route_parse_pool(h->value, h->value_len);
			else if (header_len > 0 && h->name_len == header_len &&
			    in.header_key == NULL &&
			    http_token_eq(h->name, h->name_len, c->header) && h->value_len > 0) {
				in.header_key = h->value;
				in.header_len = h->value_len;
			}
		}
	}
	in.override_trusted = in.override != -1 && c->noverride_from > 0 &&
	    config_cidr_match(c->override_from, c->noverride_from, peer);
	route_decide(&in, &s->w->rng, &out);
	s->ex.overridden = out.why == ROUTE_WHY_OVERRIDE;
	if (out.new_key) {
		memcpy(s->ex.key, out.key, ROUTE_KEY_LEN);
		s->ex.set_cookie = 1;
	}
	return (enum pool_id)out.pool;
}

/* A server of the pool that may take a new request, round-robin. */
static struct server *
session_pick_server(struct worker *w, enum pool_id pool, uint64_t now)
{
	struct poolset *ps = atomic_load_explicit(&rt.ps, memory_order_acquire);
	struct pool *p = &ps->pools[pool];
	unsigned char usable[CONFIG_MAX_SERVERS];
	size_t i;
	int k;

	if (w->rr_ps != ps) {
		/* a reload changed the membership: positions mean other servers */
		memset(w->rr_current, 0, sizeof(w->rr_current));
		w->rr_ps = ps;
	}
	for (i = 0; i < p->nservers; i++)
		usable[i] = server_usable(p->servers[i], now);
	k = balance_pick(w->rr_current[pool], p->weights, usable, p->nservers);
	return k == -1 ? NULL : p->servers[k];
}

static void
session_attach_upstream(struct session *s, struct upconn *u)
{
	s->ex.up = u;
	s->ex.up_eof = 0;
	u->owner = s;
	/* a response head may take up to PROXY_RESP_HEAD_MAX; its body is read
	 * in PROXY_RESP_READ pieces (session_response_head) */
	u->c.rmax = PROXY_RESP_HEAD_MAX + 1;
	conn_setcb(&u->c, session_up_readcb, session_up_writecb, session_up_eventcb, s);
	conn_read_enable(&u->c);
}

/*
 * The whole request went to the server's output: from now on the server
 * is waited for (upstream_response_ms, restarted by each byte it sends),
 * and the client's body timer has nothing left to time.
 */
static void
session_request_sent(struct session *s)
{
	s->ex.req_done = 1;
	upstream_set_timers(s->ex.up, UPSTREAM_T_WAITING);
	s->ex.resp_deadline_us = proxy_now_us() + (uint64_t)rt.cfg->t_upstream_response_ms * 1000;
	if (s->state == SS_UPSTREAM)
		evtimer_del(&s->timer);
}

/* Send the request head (again, for a retry) on a new or pooled connection. */
static int
session_send_upstream(struct session *s, int fresh)
{
	char err[256];
	struct upconn *u;

	u = upstream_get(s->w, s->ex.srv, fresh, err, sizeof(err));
	if (u == NULL) {
		log_warn("server %s: %s", s->ex.srv->addr.text, err);
		return -1;
	}
	if (s->ex.attempts++ == 0) {
		STATS_ADD(s->w->stats->srv_active[s->ex.pool][s->ex.srv->index], 1);
		s->ex.active_counted = 1;
	} else {
		STATS_INC(s->w->stats->retries);
	}
	session_attach_upstream(s, u);
	evbuffer_add(u->c.out, s->ex.rhead, s->ex.rhead_len);
	if (s->ex.req_done)
		session_request_sent(s);    /* no body: the head is the whole request */
	else
		upstream_set_timers(u, UPSTREAM_T_SENDING);
	return 0;
}

static void session_pump_request(struct session *s);

/*
 * A complete request head is at the front of the client's input: check it,
 * route it, forward it.  Returns 0 to go on, -1 when the session is closed
 * or closing.
 */
static int
session_request(struct session *s, const struct http_msg *m, size_t head_len)
{
	struct evbuffer *in = s->cc.in;
	size_t n;

	s->ex.t_start = proxy_now_us();
	s->ex.req_minor = m->version_minor;
	s->ex.req_method = m->method_id;
	n = m->method_len < sizeof(s->ex.method) - 1 ? m->method_len : sizeof(s->ex.method) - 1;
	memcpy(s->ex.method, m->method, n);
	s->ex.method[n] = '\0';
	n = m->target_len < sizeof(s->ex.path) - 1 ? m->target_len : sizeof(s->ex.path) - 1;
	memcpy(s->ex.path, m->target, n);
	s->ex.path[n] = '\0';
	s->keepalive = !s->w->draining &&
	    (m->version_minor == 1 ? !(m->flags & HTTP_F_CONN_CLOSE) :
	    !!(m->flags & HTTP_F_CONN_KEEPALIVE));
	if (m->flags & HTTP_F_CHUNKED) {
		s->ex.req_body = BODY_CHUNKED;
		http_chunked_init(&s->ex.req_chunk);
	} else if ((m->flags & HTTP_F_CONTENT_LENGTH) && m->content_length > 0) {
		s->ex.req_body = BODY_LENGTH;
		s->ex.req_left = m->content_length;
	} else {
		s->ex.req_body = BODY_NONE;
	}
	s->ex.req_upgrade = (m->flags & HTTP_F_UPGRADE_WS) && m->method_id == HTTP_M_GET &&
	    m->version_minor == 1;

	if (m->method_id == HTTP_M_CONNECT || m->target_form == HTTP_TARGET_AUTHORITY) {
		evbuffer_drain(in, head_len);
		session_close_after(s, "CONNECT");
		session_reply(s, 405, "CONNECT is not supported");
		return -1;
	}
	if (m->flags & HTTP_F_EXPECT_OTHER) {
		evbuffer_drain(in, head_len);
		session_close_after(s, "an Expect other than 100-continue");
		session_reply(s, 417, "only 100-continue is supported");
		return -1;
	}
	s->ex.pool = session_route(s, m, (struct sockaddr *)&s->peer_sa);
	s->ex.srv = session_pick_server(s->w, s->ex.pool, s->ex.t_start);
	if (s->ex.srv == NULL) {
		/* failover: a pool with no server up sends to the other pool */
		s->ex.pool = !s->ex.pool;
		s->ex.srv = session_pick_server(s->w, s->ex.pool, s->ex.t_start);
	}
	if (session_build_request(s, m) == -1) {
		evbuffer_drain(in, head_len);
		session_close_after(s, "out of memory");
		s->ex.srv = NULL;
		session_reply(s, 503, "out of memory");
		return -1;
	}
	evbuffer_drain(in, head_len);
	if (s->ex.srv == NULL) {
		s->ex.req_done = s->ex.req_body == BODY_NONE;
		if (session_reply(s, 503, "no server is up") == 0)
			session_after_reply(s);
		return s->state == SS_HEAD ? 0 : -1;
	}
	evtimer_del(&s->timer);
	s->ex.req_done = s->ex.req_body == BODY_NONE;
	if (session_send_upstream(s, 0) == -1) {
		session_close_after(s, "no server connection");
		session_reply(s, 502, "cannot connect");
		return -1;
	}
	session_set_state(s, SS_UPSTREAM);
	if (s->ex.req_done) {
		conn_flush(&s->ex.up->c);
	} else {
		session_pump_request(s);
	}
	/* reading goes on (no epoll_ctl per request): pipelined requests wait
	 * in the input, bounded by the read callback, and a client that goes
	 * away is noticed */
	return 0;
}

/* Parse and handle every complete request head in the client's input. */
static void
session_read_heads(struct session *s)
{
	struct evbuffer *in = s->cc.in;
	struct http_limits lim = { (size_t)rt.cfg->max_header_bytes, (size_t)rt.cfg->max_headers };
	struct http_msg *m = &s->w->msg;
	size_t len, want;
	const char *p;
	int r;

	s->in_head_loop = 1;
	while (s->state == SS_HEAD && (len = evbuffer_get_length(in)) > 0) {
		if (!s->had_bytes) {
			s->had_bytes = 1;
			session_timer_ms(s, rt.cfg->t_client_header_ms);
		}
		want = len < lim.max_header_bytes + 8 ? len : lim.max_header_bytes + 8;
		p = (const char *)evbuffer_pullup(in, (ssize_t)want);
		r = http_parse_request(p, want, &lim, m);
		if (r == HTTP_PARSE_INCOMPLETE)
			break;
		if (r == HTTP_PARSE_ERROR) {
			session_close_after(s, "a malformed request");
			log_debug("request from %s refused: %s", s->peer, m->error);
			session_reply(s, m->error_status, m->error);
			break;
		}
		if (session_request(s, m, (size_t)r) == -1)
			break;
	}
	s->in_head_loop = 0;
	if (s->state == SS_HEAD && s->ex.resp_started)
		session_after_reply(s);
	else if (s->state == SS_CLOSING &&
	    conn_out_pending(&s->cc) == 0)
		session_closing_flushed(s, "closed after reply");
}

/* ---- bodies -------------------------------------------------------------- */

/*
 * Move framed body bytes from src to dst: at most *left bytes of a
 * Content-Length body, or up to the end of a chunked body (validated by
 * the scanner, forwarded verbatim).  Stops when dst is above the high
 * watermark.  Returns 1 when the body is complete, 0 when more is to come,
 * -1 on a framing error.
 */
static int
session_move_body(struct evbuffer *src, struct evbuffer *dst, enum body_kind kind,
    uint64_t *left, struct http_chunked *ch, uint64_t *moved, size_t high)
{
	struct evbuffer_iovec v[8];
	size_t avail, n;
	int nv, i;
	long r;

	while ((avail = evbuffer_get_length(src)) > 0) {
		size_t room, dlen = evbuffer_get_length(dst);

		if (dlen >= high)
			return 0;
		/* never more than up to the watermark: the rest waits in src */
		room = high - dlen;
		if (avail > room)
			avail = room;
		switch (kind) {
		case BODY_LENGTH:
			n = avail < *left ? avail : (size_t)*left;
			evbuffer_remove_buffer(src, dst, n);
			*left -= n;
			*moved += n;
			if (*left == 0)
				return 1;
			break;
		case BODY_UNTIL_CLOSE:
			*moved += avail;
			evbuffer_remove_buffer(src, dst, avail);
			break;
		case BODY_CHUNKED:
			nv = evbuffer_peek(src, (ssize_t)(avail < 65536 ? avail : 65536), NULL, v, 8);
			if (nv > 8)
				nv = 8;
			n = 0;
			for (i = 0; i < nv && !ch->done; i++) {
				r = http_chunked_scan(ch, v[i].iov_base, v[i].iov_len);
				if (r < 0)
					return -1;
				n += (size_t)r;
			}
			evbuffer_remove_buffer(src, dst, n);
			*moved += n;
			if (ch->done)
				return 1;
			break;
		case BODY_NONE:
			return 1;
		}
	}
	return kind == BODY_NONE;
}

/*
 * Move body bytes from one side's input to the other side's output and
 * write them, again while the write took them and more is waiting: bytes
 * never wait in the input while the output has room (the input's conn
 * stops reading when it is full, and nothing else would move them).
 * Returns as session_move_body.
 */
static int
session_move_flush(struct conn *from, struct conn *to, enum body_kind kind, uint64_t *left,
    struct http_chunked *ch, uint64_t *moved, size_t high)
{
	int r;

	for (;;) {
		r = session_move_body(from->in, to->out, kind, left, ch, moved, high);
		/* the body's end: what follows (a close_notify) leaves with it */
		if (r == 1)
			conn_flush_hold(to);
		else
			conn_flush(to);
		if (r != 0 || conn_out_pending(to) >= high ||
		    evbuffer_get_length(from->in) == 0)
			return r;
	}
}

static void
session_pump_request(struct session *s)
{
	struct evbuffer *out = s->ex.up->c.out;
	uint64_t moved = 0;
	int r;

	r = session_move_flush(&s->cc, &s->ex.up->c, s->ex.req_body, &s->ex.req_left, &s->ex.req_chunk,
	    &moved, PROXY_BUF_HIGH);
	if (r == -1) {
		/* the server saw part of a bad body: that connection is done */
		upstream_free(s->ex.up);
		s->ex.up = NULL;
		session_close_after(s, "a malformed request body");
		if (session_reply(s, 400, s->ex.req_chunk.error) == 0)
			session_after_reply(s);
		return;
	}
	if (r == 1) {
		session_request_sent(s);
		return;
	}
	if (evbuffer_get_length(out) >= PROXY_BUF_HIGH) {
		/* the server is slow to take the body: its write timer runs, and
		 * the client's gap is not the client's fault */
		conn_read_disable(&s->cc);   /* upstream write cb resumes */
		evtimer_del(&s->timer);
	} else {
		conn_read_enable(&s->cc);
		session_timer_ms(s, rt.cfg->t_client_body_ms);
	}
}

/*
 * The client let timeouts.client_body_ms pass without a byte of its request
 * body.  The server saw part of a request: that connection cannot be
 * reused.  It is the client's fault: no server failure, not in the guard's
 * window.
 */
static void
session_client_body_timeout(struct session *s)
{
	log_debug("request body from %s not received in time", s->peer);
	s->ex.client_fault = 1;
	session_close_after(s, "the request body timed out");
	if (s->ex.resp_started) {
		session_close(s, "client body timeout");
		return;
	}
	if (s->ex.up != NULL) {
		upstream_free(s->ex.up);
		s->ex.up = NULL;
	}
	if (session_reply(s, 408, "request body not received in time") == 0)
		session_after_reply(s);
}

/* ---- response ------------------------------------------------------------ */

static void session_response_done(struct session *s);

/* Build and queue the response head for the client (http_rewrite.c). */
static void
session_send_response_head(struct session *s, const struct http_msg *m, const char *raw)
{
	struct http_rewrite_resp rs = {
		.keepalive = s->keepalive, .req_minor = s->ex.req_minor,
		.cookie = s->ex.set_cookie ? rt.cfg->cookie : NULL,
		.cookie_len = s->ex.set_cookie ? strlen(rt.cfg->cookie) : 0,
		.key = s->ex.key, .key_len = ROUTE_KEY_LEN,
		.pool = rt.cfg->expose_header ? pool_names[s->ex.pool] : NULL,
	};
	size_t n;

	/* the head is at most PROXY_RESP_HEAD_MAX: the scratch holds it and ours */
	n = http_rewrite_response(m, raw, &rs, s->w->scratch);
	evbuffer_add(s->cc.out, s->w->scratch, n);
	if (m->status >= 200 || m->status == 101)
		s->ex.resp_started = 1;
}

static void
session_start_tunnel(struct session *s)
{
	session_set_state(s, SS_TUNNEL);
	session_close_after(s, "a tunnel");
	session_set_resp(s, RESP_DONE);
	session_access_log(s);
	/* what the client sent after its upgrade request goes up now */
	if (evbuffer_get_length(s->cc.in) > 0)
		session_tunnel_move(s, &s->cc, &s->ex.up->c);
	/* tunnels are long-lived: no response timeout on either side */
	upstream_set_timers(s->ex.up, UPSTREAM_T_NONE);
	s->ex.up->c.rmax = PROXY_RESP_READ;
	conn_read_enable(&s->cc);
	conn_read_enable(&s->ex.up->c);
}

/* Decide the framing of a response and send its head.  Returns 0, -1 on
 * a bad response, or 1 when the request went elsewhere (retry). */
static int
session_response_head(struct session *s, const struct http_msg *m, const char *raw)
{
	int upstream_keep = m->version_minor == 1 ? !(m->flags & HTTP_F_CONN_CLOSE) :
	    !!(m->flags & HTTP_F_CONN_KEEPALIVE);

	s->ex.resp_status = m->status;
	if (s->ex.interim > 0 && s->ex.req_done)
		upstream_set_timers(s->ex.up, UPSTREAM_T_WAITING);  /* the 1xx deadline is over */
	if (atomic_load_explicit(&s->ex.srv->fails, memory_order_relaxed) != 0)
		atomic_store_explicit(&s->ex.srv->fails, 0, memory_order_relaxed);
	if (m->status >= 502 && m->status <= 504) {
		/* the candidate's gateway errors are retried on stable: this
		 * connection's answer is dropped with the connection */
		struct upconn *u = s->ex.up;

		s->ex.up = NULL;
		if (session_retry_on_stable(s, RETRY_F_GATEWAY, m->status)) {
			upstream_free(u);
			return 1;
		}
		s->ex.up = u;
	}
	if (m->status == 101) {
		if (!s->ex.req_upgrade) {
			session_reply(s, 502, "unexpected 101 from server");
			return -1;
		}
		session_send_response_head(s, m, raw);
		session_start_tunnel(s);
		return 0;
	}
	if (s->ex.req_method == HTTP_M_HEAD || m->status == 204 || m->status == 304) {
		s->ex.resp_body = BODY_NONE;
	} else if (m->flags & HTTP_F_CHUNKED) {
		s->ex.resp_body = BODY_CHUNKED;
		http_chunked_init(&s->ex.resp_chunk);
	} else if (m->flags & HTTP_F_CONTENT_LENGTH) {
		s->ex.resp_body = m->content_length > 0 ? BODY_LENGTH : BODY_NONE;
		s->ex.resp_left = m->content_length;
	} else {
		s->ex.resp_body = BODY_UNTIL_CLOSE;
		upstream_keep = 0;
		session_close_after(s, "a response body ended by a close");
	}
	if (s->ex.req_minor == 0 && s->ex.resp_body == BODY_CHUNKED)
		session_close_after(s, "chunked to an HTTP/1.0 client");
	s->ex.resp_reusable = upstream_keep;
	session_send_response_head(s, m, raw);
	session_set_resp(s, RESP_BODY);
	s->ex.up->c.rmax = PROXY_RESP_READ;
	return 0;
}

static void
session_pump_response(struct session *s)
{
	int r;

	/* once the server closed, what it sent is all there is: move it all */
	r = session_move_flush(&s->ex.up->c, &s->cc, s->ex.resp_body, &s->ex.resp_left, &s->ex.resp_chunk,
	    &s->ex.resp_bytes, s->ex.up_eof ? SIZE_MAX : PROXY_RESP_HIGH);
	if (r == -1) {
		session_close(s, "bad chunked response body");
		return;
	}
	if (r == 1) {
		session_response_done(s);
		return;
	}
	if (conn_out_pending(&s->cc) >= PROXY_RESP_HIGH)
		conn_read_disable(&s->ex.up->c);  /* client write cb resumes */
	else
		conn_read_enable(&s->ex.up->c);   /* it may have paused itself when full */
}

/*
 * An interim (1xx) response: passed on to HTTP/1.1 clients without its
 * Content-Length (RFC 9110 8.6: none on a 1xx), at most SESSION_MAX_INTERIM
 * per request.  It does not restart the response timer: the final head is
 * still due by the deadline set when the request was sent.  Returns 0, or
 * -1 when the session was answered or closed.
 */
static int
session_interim(struct session *s, const struct http_msg *m, const char *raw, size_t len)
{
	uint64_t now, left;
	struct timeval tv;

	if (++s->ex.interim > SESSION_MAX_INTERIM) {
		log_warn("server %s sent more than %d interim responses", s->ex.srv->addr.text,
		    SESSION_MAX_INTERIM);
		session_close_after(s, "too many interim responses");
		if (session_reply(s, 502, "too many interim responses from server") == 0 &&
		    s->state != SS_CLOSING)
			session_close(s, "too many interim responses");
		return -1;
	}
	if (s->ex.req_minor == 1) {
		session_send_response_head(s, m, raw);
		conn_flush(&s->cc);
	}
	evbuffer_drain(s->ex.up->c.in, len);
	if (s->ex.req_done) {
		now = proxy_now_us();
		left = s->ex.resp_deadline_us > now ? s->ex.resp_deadline_us - now : 1;
		tv.tv_sec = (time_t)(left / 1000000);
		tv.tv_usec = (suseconds_t)(left % 1000000);
		conn_set_timeouts(&s->ex.up->c, &tv, &s->ex.up->c.wto);
	}
	return 0;
}

/* Read response heads (skipping 1xx interim ones) and body bytes. */
static void
session_read_response(struct session *s)
{
	struct evbuffer *in = s->ex.up->c.in;
	struct http_limits lim = { PROXY_RESP_HEAD_MAX, HTTP_MAX_HEADERS_HARD };
	struct http_msg *m = &s->w->msg;
	size_t len, want;
	const char *p;
	int r;

	while (s->ex.resp_phase == RESP_HEAD && (len = evbuffer_get_length(in)) > 0) {
		want = len < PROXY_RESP_HEAD_MAX + 1 ? len : PROXY_RESP_HEAD_MAX + 1;
		p = (const char *)evbuffer_pullup(in, (ssize_t)want);
		r = http_parse_response(p, want, &lim, m);
		if (r == HTTP_PARSE_INCOMPLETE)
			return;
		if (r == HTTP_PARSE_ERROR) {
			log_warn("bad response from %s: %s", s->ex.srv->addr.text, m->error);
			session_close_after(s, "a malformed response");
			if (session_reply(s, 502, "bad response from server") == 0 &&
			    s->state != SS_CLOSING)
				session_close(s, "bad response");
			return;
		}
		if (m->status >= 100 && m->status < 200 && m->status != 101) {
			if (session_interim(s, m, p, (size_t)r) == -1)
				return;
			continue;
		}
		switch (session_response_head(s, m, p)) {
		case -1:
			evbuffer_drain(in, (size_t)r);
			if (s->state != SS_CLOSING)
				session_close(s, "bad response");
			return;
		case 1:
			return;         /* retried elsewhere: `in` is gone with its connection */
		}
		evbuffer_drain(in, (size_t)r);
	}
	if (s->state == SS_TUNNEL) {
		session_tunnel_move(s, &s->ex.up->c, &s->cc);
		return;
	}
	if (s->ex.resp_phase == RESP_BODY)
		session_pump_response(s);
}

/* The response is complete: give the server connection back, log, and
 * take the next request or close. */
static void
session_response_done(struct session *s)
{
	struct upconn *u = s->ex.up;

	session_set_resp(s, RESP_DONE);
	s->ex.up = NULL;
	if (u == NULL)
		;       /* an until-close body: the server already closed */
	else if (s->ex.resp_reusable && s->ex.req_done && evbuffer_get_length(u->c.in) == 0)
		upstream_release(u);
	else
		upstream_free(u);
	if (!s->ex.req_done)
		session_close_after(s, "the response came before the whole request");
	session_access_log(s);
	session_after_reply(s);
}

/*
 * retry_candidate_failures: a request without a body, of an idempotent
 * method, whose attempt on the candidate failed before any response byte
 * reached the client goes once to the stable pool.  The failed attempt is
 * recorded for the guard first (status: the 502/503/504 the candidate sent,
 * or 0 with s->ex.err_kind for a connect error, reset or timeout).  Returns 1
 * when the request was sent again.
 */
static enum retry_action
session_retry_decide(const struct session *s, enum retry_failure f, int reused)
{
	uint32_t split = atomic_load_explicit(&rt.split, memory_order_acquire);
	struct retry_in in = {
		.failure = f,
		.method = s->ex.req_method,
		.has_body = s->ex.req_body != BODY_NONE,
		.req_done = s->ex.req_done,
		.resp_started = s->ex.resp_started,
		.reused = reused,
		.attempts = s->ex.attempts,
		.on_candidate = s->ex.pool != SPLIT_STABLE(split),
		.retried_stable = s->ex.retried_stable,
		.overridden = s->ex.overridden,
		.retry_candidate = rt.cfg->retry_candidate_failures,
	};

	return retry_decide(&in);
}

static int
session_retry_on_stable(struct session *s, enum retry_failure f, int status)
{
	uint32_t split = atomic_load_explicit(&rt.split, memory_order_acquire);
	enum pool_id stable = SPLIT_STABLE(split);
	struct server *srv;
	uint64_t now = proxy_now_us();

	if (session_retry_decide(s, f, 0) != RETRY_STABLE)
		return 0;
	srv = session_pick_server(s->w, stable, now);
	if (srv == NULL)
		return 0;
	stats_record(s->w->stats, s->ex.pool, s->ex.srv->index, status, s->ex.err_kind, 1, now / 1000000,
	    now - s->ex.t_start);
	if (s->ex.active_counted)
		STATS_ADD(s->w->stats->srv_active[s->ex.pool][s->ex.srv->index], -1);
	s->ex.active_counted = 0;
	log_debug("retrying %s %s on %s after %s failed", s->ex.method, s->ex.path, pool_names[stable],
	    pool_names[s->ex.pool]);
	s->w->upfail.retries++;
	if (status != 0) {
		/* a gateway error the candidate sent: a failure too */
		s->w->upfail.failures++;
		snprintf(s->w->upfail.last, sizeof(s->w->upfail.last), "server %s (%s): status %d",
		    s->ex.srv->addr.text, pool_names[s->ex.pool], status);
	}
	s->ex.retried_stable = 1;
	s->ex.err_kind = -1;
	s->ex.pool = stable;
	s->ex.srv = srv;
	s->ex.attempts = 0;
	STATS_INC(s->w->stats->retries);
	if (session_send_upstream(s, 0) == -1)
		return 0;
	conn_flush(&s->ex.up->c);
	return 1;
}

/* Count a connect failure or timeout; the SERVER_PASSIVE_FALL-th in a row
 * takes the server out for the cooldown. */
static void
session_server_failed(struct server *srv, const char *kind)
{
	if (atomic_fetch_add_explicit(&srv->fails, 1, memory_order_relaxed) + 1 !=
	    SERVER_PASSIVE_FALL)
		return;
	atomic_store_explicit(&srv->down_until, proxy_now_us() + SERVER_PASSIVE_COOLDOWN_US,
	    memory_order_relaxed);
	atomic_store_explicit(&srv->fails, 0, memory_order_relaxed);
	log_warn("server %s (%s) out of rotation for %llu s after %d failures in a row (last: %s)",
	    srv->addr.text, pool_names[srv->pool],
	    SERVER_PASSIVE_COOLDOWN_US / 1000000, SERVER_PASSIVE_FALL, kind);
}

/*
 * The server connection failed.  Before any response byte reached the
 * client, retry.c decides whether the request goes again: on a new
 * connection (a pooled one the server closed while idle), or once on the
 * stable pool (retry_candidate_failures).
 */
static void
session_up_failed(struct session *s, enum retry_failure f)
{
	const char *kind = retry_failure_names[f];
	int was_reused = s->ex.up->reused, status = retry_failure_status(f);

	upstream_free(s->ex.up);
	s->ex.up = NULL;
	if (s->ex.resp_started || s->ex.resp_phase != RESP_HEAD) {
		if (s->ex.resp_phase == RESP_BODY && s->ex.resp_body == BODY_UNTIL_CLOSE &&
		    f == RETRY_F_CLOSED) {
			session_response_done(s);
			return;
		}
		session_close(s, kind);
		return;
	}
	if (session_retry_decide(s, f, was_reused) == RETRY_FRESH) {
		log_debug("retrying on a new connection to %s after %s", s->ex.srv->addr.text,
		    kind);
		if (session_send_upstream(s, 1) == 0) {
			conn_flush(&s->ex.up->c);
			return;
		}
	}
	log_debug("server %s (%s): %s", s->ex.srv->addr.text, pool_names[s->ex.pool], kind);
	s->w->upfail.failures++;
	snprintf(s->w->upfail.last, sizeof(s->w->upfail.last), "server %s (%s): %s",
	    s->ex.srv->addr.text, pool_names[s->ex.pool], kind);
	if (f == RETRY_F_CONNECT)
		s->ex.err_kind = STATS_ERR_CONNECT;
	else if (status == 504)
		s->ex.err_kind = STATS_ERR_TIMEOUT;
	else
		s->ex.err_kind = STATS_ERR_RESET;
	if (retry_failure_marks_server(f))
		session_server_failed(s->ex.srv, kind);
	if (session_retry_on_stable(s, f, 0))
		return;
	if (!s->ex.req_done)
		session_close_after(s, "the request was cut off by a server failure");
	if (session_reply(s, status, kind) == 0)
		session_after_reply(s);
}

/* ---- callbacks ----------------------------------------------------------- */

/* Tunnel: move what one side sent to the other, pausing at the watermark. */
static void
session_tunnel_move(struct session *s, struct conn *from, struct conn *to)
{
	/* toward the client: the response budget, as for any response */
	size_t high = to == &s->cc ? PROXY_RESP_HIGH : PROXY_BUF_HIGH;

	evbuffer_add_buffer(to->out, from->in);
	conn_flush(to);
	if (conn_out_pending(to) >= high)
		conn_read_disable(from);
}

/* ---- the read path: one step per state ---------------------------------- */

/* SS_HEAD: parse request heads (pipelined ones one after the other). */
static void
session_read_head(struct session *s, struct conn *c)
{
	(void)c;
	session_read_heads(s);
}

/* SS_UPSTREAM: the request body goes on; pipelined bytes wait, bounded. */
static void
session_read_body(struct session *s, struct conn *c)
{
	if (!s->ex.req_done)
		session_pump_request(s);
	else if (evbuffer_get_length(c->in) >= PROXY_BUF_HIGH)
		conn_read_disable(c);
}

/* SS_TUNNEL: bytes to the server as they come. */
static void
session_read_tunnel(struct session *s, struct conn *c)
{
	session_tunnel_move(s, c, &s->ex.up->c);
}

/* SS_CLOSING: the last response is queued; what else comes is dropped. */
static void
session_read_discard(struct session *s, struct conn *c)
{
	(void)s;
	evbuffer_drain(c->in, evbuffer_get_length(c->in));
}

static void (*const session_read_steps[])(struct session *, struct conn *) = {
	[SS_HEAD] = session_read_head,
	[SS_UPSTREAM] = session_read_body,
	[SS_TUNNEL] = session_read_tunnel,
	[SS_CLOSING] = session_read_discard,
};

static void
session_client_readcb(struct conn *c, void *arg)
{
	struct session *s = arg;

	SESSION_CHECK(s);
	session_read_steps[s->state](s, c);
}

static void
session_client_writecb(struct conn *c, void *arg)
{
	struct session *s = arg;
	size_t out = conn_out_pending(c);

	SESSION_CHECK(s);
	if (s->state == SS_CLOSING) {
		if (out == 0)
			session_closing_flushed(s, "done");
		return;
	}
	if (s->ex.up != NULL && (s->state == SS_TUNNEL || s->ex.resp_phase == RESP_BODY) &&
	    out < PROXY_RESP_HIGH) {
		conn_read_enable(&s->ex.up->c);
		if (evbuffer_get_length(s->ex.up->c.in) > 0)
			session_up_readcb(&s->ex.up->c, s);
	}
}

static void
session_client_eventcb(struct conn *c, short what, void *arg)
{
	struct session *s = arg;

	SESSION_CHECK(s);
	if (what & CONN_EV_HANDSHAKE) {
		if (!(what & CONN_EV_ERROR)) {
			STATS_INC(s->w->stats->tls_handshakes);
			return;
		}
		STATS_INC(s->w->stats->tls_handshake_errors);
		session_close(s, "TLS handshake failed");
		return;
	}
	if ((what & CONN_EV_EOF) && s->state == SS_UPSTREAM && s->ex.req_done) {
		/* a half-close after a complete request: answer, then close */
		s->client_eof = 1;
		return;
	}
	if ((what & CONN_EV_EOF) && s->state == SS_TUNNEL && s->ex.up != NULL) {
		/* pass the half-close on; the server's close ends the tunnel */
		conn_flush(&s->ex.up->c);
		conn_shutdown_write(&s->ex.up->c);
		return;
	}
	if (what & CONN_EV_TIMEOUT)
		session_close(s, "client write timeout");
	else if (what & CONN_EV_EOF)
		session_close(s, "client closed");
	else
		session_close(s, "client error");
	(void)c;
}

static void
session_up_readcb(struct conn *c, void *arg)
{
	struct session *s = arg;

	SESSION_CHECK(s);
	if (s->state == SS_TUNNEL) {
		session_tunnel_move(s, c, &s->cc);
		return;
	}
	session_read_response(s);
}

static void
session_up_writecb(struct conn *c, void *arg)
{
	struct session *s = arg;

	SESSION_CHECK(s);
	if (s->state == SS_UPSTREAM && !s->ex.req_done) {
		session_pump_request(s);
	} else if (s->state == SS_TUNNEL) {
		conn_read_enable(&s->cc);
		if (evbuffer_get_length(s->cc.in) > 0)
			session_client_readcb(&s->cc, s);
	}
	(void)c;
}

static void
session_up_eventcb(struct conn *c, short what, void *arg)
{
	struct session *s = arg;

	SESSION_CHECK(s);
	if (s->state == SS_TUNNEL) {
		/* flush what the server sent, then close like after any reply */
		evbuffer_add_buffer(s->cc.out, c->in);
		upstream_free(s->ex.up);
		s->ex.up = NULL;
		conn_flush(&s->cc);
		session_close_after(s, "the tunnel's server closed");
		session_after_reply(s);
		return;
	}
	if (what & CONN_EV_EOF) {
		struct upconn *u = s->ex.up;

		/* bytes that arrived with the FIN still count */
		s->ex.up_eof = 1;
		if (evbuffer_get_length(c->in) > 0)
			session_read_response(s);
		if (s->ex.up != u || s->state != SS_UPSTREAM)
			return;         /* done, closed, or retried on another connection */
		session_up_failed(s, RETRY_F_CLOSED);
	} else if (what & CONN_EV_TIMEOUT) {
		if (c->connecting)
			session_up_failed(s, RETRY_F_CONNECT_TIMEOUT);
		else
			session_up_failed(s, RETRY_F_TIMEOUT);
	} else if (c->connecting) {
		session_up_failed(s, RETRY_F_CONNECT);
	} else {
		session_up_failed(s, RETRY_F_RESET);
	}
}

static void
session_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	(void)fd;
	(void)what;
	SESSION_CHECK(s);
	if (s->cc.ssl != NULL && !s->cc.hs_done) {
		/* a handshake that stalls is bounded by client_header_ms too */
		STATS_INC(s->w->stats->tls_handshake_errors);
		session_close(s, "TLS handshake timeout");
		return;
	}
	if (s->state == SS_HEAD && s->had_bytes) {
		session_close_after(s, "the request head timed out");
		if (session_reply(s, 408, "request head not received in time") == 0)
			session_after_reply(s);
		return;
	}
	if (s->state == SS_UPSTREAM && !s->ex.req_done) {
		session_client_body_timeout(s);
		return;
	}
	session_close(s, s->state == SS_HEAD ? "idle timeout" : "linger timeout");
}

/* ---- life cycle ---------------------------------------------------------- */

void
session_accept(struct worker *w, evutil_socket_t fd, struct sockaddr *sa, int salen, SSL *ssl)
{
	struct session *s;
	struct timeval wtv = clock_tv_ms(rt.cfg->t_client_idle_ms);
	int one = 1;

	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		evutil_closesocket(fd);
		SSL_free(ssl);
		w->session_gone(w);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->magic = SESSION_MAGIC;
	s->w = w;
	if (salen > 0 && (size_t)salen <= sizeof(s->peer_sa))
		memcpy(&s->peer_sa, sa, (size_t)salen);
	s->tls = ssl != NULL;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, s->peer, sizeof(s->peer));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, s->peer, sizeof(s->peer));
	else
		snprintf(s->peer, sizeof(s->peer), "unknown");
	s->peer_len = strlen(s->peer);
	if (conn_init(&s->cc, w->base, fd) == -1) {
		evutil_closesocket(fd);
		SSL_free(ssl);
		free(s);
		w->session_gone(w);
		return;
	}
	if (ssl != NULL)
		conn_start_tls(&s->cc, ssl);
	evtimer_assign(&s->timer, w->base, session_timer_cb, s);
	conn_setcb(&s->cc, session_client_readcb, session_client_writecb, session_client_eventcb, s);
	s->cc.wlowat = PROXY_RESP_HIGH / 2;
	conn_set_timeouts(&s->cc, NULL, &wtv);
	conn_read_enable(&s->cc);
	LIST_INSERT_HEAD(&w->sessions, s, link);
	w->nsessions++;
	session_reset_request(s);
	session_set_state(s, SS_HEAD);
	session_timer_ms(s, rt.cfg->t_client_header_ms);
	s->had_bytes = 1;       /* the first request is bounded by client_header_ms from accept */
}

static void
session_close(struct session *s, const char *reason)
{
	struct worker *w = s->w;

	SESSION_CHECK(s);
	log_debug("session %p from %s closed: %s", (void *)s, s->peer, reason);
	if (s->ex.active_counted)
		STATS_ADD(w->stats->srv_active[s->ex.pool][s->ex.srv->index], -1);
	if (s->ex.up != NULL) {
		upstream_free(s->ex.up);
		s->ex.up = NULL;
	}
	evtimer_del(&s->timer);
	conn_release(&s->cc);
	LIST_REMOVE(s, link);
	free(s->ex.rhead);
	s->ex.rhead = NULL;
	s->magic = 0;
	free(s);
	w->session_gone(w);
}

/*
 * Graceful stop: an idle connection closes now; a busy one finishes its
 * current request and then closes (its response says Connection: close
 * when the head is not yet sent).
 */
void
session_drain_all(struct worker *w)
{
	struct session *s, *next;

	for (s = LIST_FIRST(&w->sessions); s != NULL; s = next) {
		next = LIST_NEXT(s, link);
		SESSION_CHECK(s);
		session_close_after(s, "draining");
		if (s->state == SS_HEAD && !s->ex.resp_started &&
		    evbuffer_get_length(s->cc.in) == 0)
			session_close(s, "shutdown");
	}
}

/* After the shutdown deadline: whatever is still open is closed now. */
void
session_close_all(struct worker *w)
{
	while (!LIST_EMPTY(&w->sessions))
		session_close(LIST_FIRST(&w->sessions), "shutdown deadline");
}

/* Sessions busy with a server an operator disabled are cut now, and idle
 * connections to it are closed (called from the worker tick). */
void
session_close_disabled(struct worker *w)
{
	struct session *s, *next;

	for (s = LIST_FIRST(&w->sessions); s != NULL; s = next) {
		next = LIST_NEXT(s, link);
		if (s->ex.up != NULL && atomic_load_explicit(&s->ex.up->srv->state,
		    memory_order_relaxed) == SRV_DISABLED)
			session_close(s, "server disabled");
	}
	upstream_free_disabled(w);
}

void
session_log_failures(struct worker *w, uint64_t now_us)
{
	if (w->upfail.failures == 0 || now_us - w->upfail.last_us < 1000000)
		return;
	log_info("worker %d: %u upstream failure(s), %u retried on the stable pool, since the "
	    "last report; last: %s (details at log level debug; bgproxy_retries_total counts "
	    "retries)", w->id, w->upfail.failures, w->upfail.retries, w->upfail.last);
	w->upfail.failures = 0;
	w->upfail.retries = 0;
	w->upfail.last_us = now_us;
}

/* After a revert: tunnels to the reverted pool end. */
void
session_close_reverted(struct worker *w, int pool)
{
	struct session *s, *next;

	for (s = LIST_FIRST(&w->sessions); s != NULL; s = next) {
		next = LIST_NEXT(s, link);
		if (s->state == SS_TUNNEL && (int)s->ex.pool == pool)
			session_close(s, "tunnel to a reverted pool");
	}
}
