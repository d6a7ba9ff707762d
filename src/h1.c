/*
 * h1.c - the HTTP/1.1 codec of a client connection (codec.h): framing,
 * keep-alive, the timers of a request (client_timer_ms), Upgrade tunnels,
 * and the codec its exchanges (exchange.c) talk through (struct
 * exchange_ops).  HTTP/1.1 carries one exchange at a time: read a request
 * head, hand it to the exchange, relay its bodies, repeat while keep-alive
 * allows; pipelined requests wait in the input.  After an Upgrade, bytes
 * go both ways.  On an h2c listener the HTTP/2 preface hands the
 * connection to HTTP/2 (client_use_h2).
 *
 * States (h1_set_state is the only writer of s->state; h1_moves says which
 * moves there are):
 *   H1_HEAD      waiting for a request head (header or idle timer armed)
 *   H1_UPSTREAM  the exchange is in flight: its request body may still
 *                stream up, its response come down
 *   H1_TUNNEL    after 101 Switching Protocols: bytes both ways
 *   H1_CLOSING   last response queued: flush it, then close
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "body.h"
#include "client.h"
#include "codec.h"
#include "conn.h"
#include "exchange.h"
#include "h2.h"
#include "http_reply.h"
#include "http_rewrite.h"
#include "proxy.h"
#include "upstream.h"

#define H1_MAGIC 0x5e55101bU
#define H1_CLOSE_LINGER_MS 5000

enum h1_state { H1_HEAD, H1_UPSTREAM, H1_TUNNEL, H1_CLOSING, H1_STATES };
static const char *h1_state_names[H1_STATES] = { "head", "upstream", "tunnel", "closing" };

/* The HTTP/1.1 side of one client connection and its current exchange. */
struct h1 {
	uint32_t magic;
	enum h1_state state;
	struct client *c;             /* the connection (its socket, timer, peer) */
	int in_head_loop;             /* inside h1_read_heads: no recursion */
	int client_eof;               /* client closed its sending side */
	int had_bytes;                /* bytes of a new head have arrived */
	int keepalive;                /* client connection may carry another request */
	int linger;                   /* closing: the client may still be sending */
	int tunnel_shut;              /* the client's half-close went on to the server */
	int served;                   /* a request was read: the preface is no longer possible */
	struct exchange ex;           /* the exchange in progress */
};

static void h1_read_heads(struct h1 *s);
static void h1_tunnel_up(struct h1 *s);
static void h1_tunnel_shut(struct h1 *s);
static const struct exchange_ops h1_exchange_ops;

#define H1_CHECK(s) do { \
	if ((s)->magic != H1_MAGIC) { \
		log_error("%s:%d: bad HTTP/1.1 codec magic", __FILE__, __LINE__); \
		abort(); \
	} \
} while (0)

/* The moves the codec may make; anything else is a bug. */
static const unsigned char h1_moves[H1_STATES][H1_STATES] = {
	/*                 HEAD UPSTREAM TUNNEL CLOSING */
	[H1_HEAD]     = {  1,   1,       0,     1 },
	[H1_UPSTREAM] = {  1,   1,       1,     1 },
	[H1_TUNNEL]   = {  0,   0,       1,     1 },
	[H1_CLOSING]  = {  0,   0,       0,     1 },
};

static void
h1_set_state(struct h1 *s, enum h1_state to)
{
	if (s->state == to)
		return;
	if (!h1_moves[s->state][to])
		log_error("client %p: invalid state change (HTTP/1.1) %s -> %s", (void *)s->c,
		    h1_state_names[s->state], h1_state_names[to]);
	log_debug("client %p: %s -> %s", (void *)s->c, h1_state_names[s->state],
	    h1_state_names[to]);
	s->state = to;
}

/* This connection closes after the current response; why, at debug. */
static void
h1_close_after(struct h1 *s, const char *why)
{
	if (s->keepalive)
		log_debug("client %p: no keep-alive after this response: %s", (void *)s->c, why);
	s->keepalive = 0;
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
h1_reply(struct h1 *s, int status, const char *why)
{
	struct evbuffer *out = s->c->cc.out;
	int keep = s->keepalive && s->ex.req_done && !s->ex.resp_started && !s->c->w->draining &&
	    status >= 500;

	if (s->ex.resp_started) {
		client_close(s->c, why);
		return -1;
	}
	log_debug("reply %d to %s: %s", status, s->c->peer.addr, why);
	http_reply_error(out, status, !keep, NULL, s->ex.live && s->ex.req_method == HTTP_M_HEAD);
	conn_flush(&s->c->cc);
	exchange_replied(&s->ex, status);
	if (!keep)
		h1_close_after(s, "the response ended the connection");
	return 0;
}

static void h1_reset_request(struct h1 *s);

/*
 * H1_CLOSING and the output is flushed.  When the client may still be
 * sending (we answered before reading its whole request), closing now
 * would make the kernel answer its bytes with a reset that can destroy
 * the response before the client reads it: half-close instead, read and
 * discard until the client closes or the linger timer fires.
 */
static void
h1_closing_flushed(struct h1 *s, const char *reason)
{
	if (!s->linger) {
		client_close(s->c, reason);
		return;
	}
	s->linger = 0;
	conn_shutdown_write(&s->c->cc);
	evbuffer_drain(s->c->cc.in, evbuffer_get_length(s->c->cc.in));
	conn_read_enable(&s->c->cc);
	client_timer_ms(s->c, H1_CLOSE_LINGER_MS);
}

/*
 * After a reply of our own: close once it is flushed, or wait for the next
 * request.  Inside the head loop nothing is freed here (the loop goes on or
 * closes when it ends), so callers there may still use s.
 */
static void
h1_after_reply(struct h1 *s)
{
	/* after a half-close, pipelined requests already read are still served */
	if (s->client_eof && evbuffer_get_length(s->c->cc.in) == 0)
		h1_close_after(s, "the client half-closed");
	if (!s->keepalive) {
		h1_set_state(s, H1_CLOSING);
		s->linger = !s->ex.req_done || evbuffer_get_length(s->c->cc.in) > 0;
		/* TLS: the end of the response, and the close_notify, in one write */
		if (!s->linger)
			conn_close_notify(&s->c->cc);
		conn_flush(&s->c->cc);
		conn_read_disable(&s->c->cc);
		client_timer_ms(s->c, H1_CLOSE_LINGER_MS);
		if (!s->in_head_loop && conn_out_pending(&s->c->cc) == 0)
			h1_closing_flushed(s, "closed after reply");
		return;
	}
	conn_flush(&s->c->cc);             /* what conn_flush_hold made */
	h1_reset_request(s);
	h1_set_state(s, H1_HEAD);
	client_timer_ms(s->c, rt.cfg->t_client_idle_ms);
	conn_read_enable(&s->c->cc);
	if (!s->in_head_loop && evbuffer_get_length(s->c->cc.in) > 0)
		h1_read_heads(s);
}

/* ---- request head -------------------------------------------------------- */

static void
h1_reset_request(struct h1 *s)
{
	exchange_reset(&s->ex);
	s->had_bytes = 0;
}

/*
 * A complete request head is at the front of the client's input: its
 * framing and keep-alive here, the rest is the exchange's.  Returns 0 to
 * go on, -1 when the connection is closed or closing.
 */
static int
h1_request(struct h1 *s, const struct http_msg *m, size_t head_len)
{
	struct exchange *ex = &s->ex;
	struct evbuffer *in = s->c->cc.in;

	ex->t_start = proxy_now_us();
	exchange_request_line(ex, m);
	s->keepalive = !s->c->w->draining &&
	    (m->version_minor == 1 ? !(m->flags & HTTP_F_CONN_CLOSE) :
	    !!(m->flags & HTTP_F_CONN_KEEPALIVE));
	if (m->flags & HTTP_F_CHUNKED) {
		ex->req_body = BODY_CHUNKED;
		http_chunked_init(&ex->req_chunk);
	} else if ((m->flags & HTTP_F_CONTENT_LENGTH) && m->content_length > 0) {
		ex->req_body = BODY_LENGTH;
		ex->req_left = m->content_length;
	} else {
		ex->req_body = BODY_NONE;
	}
	ex->req_upgrade = (m->flags & HTTP_F_UPGRADE_WS) && m->method_id == HTTP_M_GET &&
	    m->version_minor == 1;

	if (m->method_id == HTTP_M_CONNECT || m->target_form == HTTP_TARGET_AUTHORITY) {
		evbuffer_drain(in, head_len);
		h1_close_after(s, "CONNECT");
		h1_reply(s, 405, "CONNECT is not supported");
		return -1;
	}
	if (m->flags & HTTP_F_EXPECT_OTHER) {
		evbuffer_drain(in, head_len);
		h1_close_after(s, "an Expect other than 100-continue");
		h1_reply(s, 417, "only 100-continue is supported");
		return -1;
	}
	exchange_prepare(ex, m);
	evbuffer_drain(in, head_len);
	client_timer_off(s->c);
	h1_set_state(s, H1_UPSTREAM);
	/* reading goes on (no epoll_ctl per request): pipelined requests wait
	 * in the input, bounded by the read callback, and a client that goes
	 * away is noticed */
	/* -1: answered at once (503, 502).  s is still here: this runs inside
	 * the head loop, where h1_after_reply frees nothing, and nothing
	 * of a response had gone out, so h1_reply did not close */
	if (exchange_forward(ex) == -1)
		return s->state == H1_HEAD ? 0 : -1;
	return 0;
}

/* Parse and handle every complete request head in the client's input. */
static void
h1_read_heads(struct h1 *s)
{
	struct evbuffer *in = s->c->cc.in;
	struct http_limits lim = { (size_t)rt.cfg->max_header_bytes, (size_t)rt.cfg->max_headers };
	struct http_msg *m = &s->c->w->msg;
	size_t len, want;
	const char *p;
	int r;

	if (s->c->h2c && !s->served && (len = evbuffer_get_length(in)) > 0) {
		p = (const char *)evbuffer_pullup(in, (ssize_t)(len < H2_PREFACE_LEN ? len :
		    H2_PREFACE_LEN));
		r = h2_preface_match(p, len);
		if (r == 0)
			return;         /* a prefix of the preface: wait (header timer runs) */
		/* the HTTP/2 codec takes the connection and reads what is here;
		 * s is gone then (last in the read callback: it may close) */
		if (r == 1 && client_use_h2(s->c, 1) == 0)
			return;
	}
	s->in_head_loop = 1;
	while (s->state == H1_HEAD && (len = evbuffer_get_length(in)) > 0) {
		if (!s->had_bytes) {
			s->had_bytes = 1;
			client_timer_ms(s->c, rt.cfg->t_client_header_ms);
		}
		want = len < lim.max_header_bytes + 8 ? len : lim.max_header_bytes + 8;
		p = (const char *)evbuffer_pullup(in, (ssize_t)want);
		r = http_parse_request(p, want, &lim, m);
		if (r == HTTP_PARSE_INCOMPLETE)
			break;
		s->served = 1;
		if (r == HTTP_PARSE_ERROR) {
			/* its duration in the access line: from when it was refused */
			s->ex.t_start = proxy_now_us();
			h1_close_after(s, "a malformed request");
			log_debug("request from %s refused: %s", s->c->peer.addr, m->error);
			h1_reply(s, m->error_status, m->error);
			break;
		}
		if (h1_request(s, m, (size_t)r) == -1)
			break;
	}
	s->in_head_loop = 0;
	if (s->state == H1_HEAD && s->ex.resp_started)
		h1_after_reply(s);
	else if (s->state == H1_CLOSING &&
	    conn_out_pending(&s->c->cc) == 0)
		h1_closing_flushed(s, "closed after reply");
}

/* ---- the codec: what the exchange asks of this connection ---------------- */

#define EX_H1(ex) ((struct h1 *)(ex)->owner)

/* Build and queue a response head for the client (http_rewrite.c); an
 * interim one only for an HTTP/1.1 client. */
static void
h1_ex_resp_head(struct exchange *ex, const struct http_msg *m, const char *raw)
{
	struct h1 *s = EX_H1(ex);
	int interim = m->status < 200 && m->status != 101;
	struct http_rewrite_resp rs;
	size_t n;

	if (interim && ex->req_minor != 1)
		return;
	/* before the head says keep-alive: an HTTP/1.0 client cannot read chunked */
	if (!interim && ex->req_minor == 0 && ex->resp_body == BODY_CHUNKED)
		h1_close_after(s, "chunked to an HTTP/1.0 client");
	rs = (struct http_rewrite_resp){
		.keepalive = s->keepalive, .req_minor = ex->req_minor,
		.cookie = ex->set_cookie ? service_cfg(ex->svc)->cookie : NULL,
		.cookie_len = ex->set_cookie ? strlen(service_cfg(ex->svc)->cookie) : 0,
		.key = ex->key, .key_len = ROUTE_KEY_LEN,
		.pool = service_cfg(ex->svc)->expose_header ? pool_names[ex->pool] : NULL,
	};
	/* the head is at most PROXY_RESP_HEAD_MAX: the scratch holds it and ours */
	n = http_rewrite_response(m, raw, &rs, s->c->w->scratch);
	evbuffer_add(s->c->cc.out, s->c->w->scratch, n);
	if (interim)
		conn_flush(&s->c->cc);
}

static int
h1_ex_resp_body(struct exchange *ex, struct upconn *up, int all)
{
	struct h1 *s = EX_H1(ex);
	size_t high = all ? SIZE_MAX : PROXY_RESP_HIGH;
	int r;

	if (ex->req_minor == 0 && ex->resp_body == BODY_CHUNKED) {
		/* an HTTP/1.0 client reads no chunked body (RFC 9112 6.1): the
		 * data alone, the close ends it (its head lost Transfer-Encoding) */
		for (;;) {
			r = body_unframe(up->in, s->c->cc.out, BODY_CHUNKED, NULL, &ex->resp_chunk,
			    &ex->resp_bytes, high, NULL, NULL);
			if (r != 0 || conn_push_cb(&s->c->cc, 0) >= high ||
			    evbuffer_get_length(up->in) == 0)
				break;
		}
		if (r == 1)
			(void)conn_push_cb(&s->c->cc, 0);
		return r;
	}
	r = body_move_flush(up->in, s->c->cc.out, conn_push_cb, &s->c->cc, ex->resp_body,
	    &ex->resp_left, &ex->resp_chunk, &ex->resp_bytes, all ? SIZE_MAX : PROXY_RESP_HIGH,
	    NULL);
	/* a chunked body goes on framed: what the log counts is its data */
	if (ex->resp_body == BODY_CHUNKED)
		ex->resp_bytes = ex->resp_chunk.data;
	return r;
}

static int
h1_ex_resp_full(struct exchange *ex)
{
	return conn_out_pending(&EX_H1(ex)->c->cc) >= PROXY_RESP_HIGH;
}

static int
h1_ex_req_body(struct exchange *ex, struct upconn *up)
{
	struct h1 *s = EX_H1(ex);
	uint64_t moved = 0;
	int r;

	r = body_move_flush(s->c->cc.in, up->out, upstream_push_cb, up, ex->req_body, &ex->req_left, &ex->req_chunk, &moved,
	    PROXY_BUF_HIGH, &ex->mirror_tee);
	if (r == -1)
		ex->req_error = ex->req_chunk.error;
	return r;
}

static void
h1_ex_req_flow(struct exchange *ex, int more)
{
	struct h1 *s = EX_H1(ex);

	if (more) {
		conn_read_enable(&s->c->cc);
		client_timer_ms(s->c, rt.cfg->t_client_body_ms);
	} else {
		conn_read_disable(&s->c->cc);   /* the upstream write cb resumes */
		client_timer_off(s->c);
	}
}

static void
h1_ex_req_sent(struct exchange *ex)
{
	struct h1 *s = EX_H1(ex);

	if (s->state == H1_UPSTREAM)
		client_timer_off(s->c);
}

static void
h1_ex_tunnel_start(struct exchange *ex)
{
	struct h1 *s = EX_H1(ex);

	h1_set_state(s, H1_TUNNEL);
	/* what the client sent after its upgrade request goes up now */
	if (evbuffer_get_length(s->c->cc.in) > 0)
		h1_tunnel_up(s);
	conn_read_enable(&s->c->cc);
	/* a client that half-closed before the 101: its FIN goes on too */
	h1_tunnel_shut(s);
}

static void
h1_ex_tunnel_down(struct exchange *ex, struct upconn *up)
{
	struct h1 *s = EX_H1(ex);

	/* toward the client: the response budget, as for any response */
	if (body_tunnel_move(up->in, s->c->cc.out, conn_push_cb, &s->c->cc, PROXY_RESP_HIGH))
		upstream_read(up, 0);   /* the client's write callback resumes */
}

/* The client half-closed its tunnel: the server gets the FIN once the
 * client's last bytes are out to it (the server's write callback,
 * tunnel_room, comes back here until they are). */
static void
h1_tunnel_shut(struct h1 *s)
{
	struct upconn *up = s->ex.up;

	if (!s->client_eof || s->tunnel_shut || evbuffer_get_length(s->c->cc.in) > 0)
		return;
	if (upstream_push(up, 0) > 0)
		return;
	s->tunnel_shut = 1;
	up->proto->shutdown(up);
}

static void
h1_ex_tunnel_room(struct exchange *ex)
{
	struct h1 *s = EX_H1(ex);

	if (!s->client_eof)
		conn_read_enable(&s->c->cc);
	if (evbuffer_get_length(s->c->cc.in) > 0)
		h1_tunnel_up(s);
	h1_tunnel_shut(s);
}

static int
h1_ex_reply(struct exchange *ex, int status, const char *why)
{
	return h1_reply(EX_H1(ex), status, why);
}

static void
h1_ex_close_after(struct exchange *ex, const char *why)
{
	h1_close_after(EX_H1(ex), why);
}

static void
h1_ex_finish(struct exchange *ex)
{
	h1_after_reply(EX_H1(ex));
}

static void
h1_ex_abort(struct exchange *ex, const char *why)
{
	client_close(EX_H1(ex)->c, why);
}

static const struct exchange_ops h1_exchange_ops = {
	.resp_head = h1_ex_resp_head,
	.resp_body = h1_ex_resp_body,
	.resp_full = h1_ex_resp_full,
	.req_body = h1_ex_req_body,
	.req_flow = h1_ex_req_flow,
	.req_sent = h1_ex_req_sent,
	.tunnel_start = h1_ex_tunnel_start,
	.tunnel_down = h1_ex_tunnel_down,
	.tunnel_room = h1_ex_tunnel_room,
	.reply = h1_ex_reply,
	.close_after = h1_ex_close_after,
	.finish = h1_ex_finish,
	.abort = h1_ex_abort,
};

/* ---- callbacks ----------------------------------------------------------- */

/* Tunnel: what the client sent to the server, pausing the client at the
 * watermark (the server's room callback resumes). */
static void
h1_tunnel_up(struct h1 *s)
{
	if (body_tunnel_move(s->c->cc.in, s->ex.up->out, upstream_push_cb, s->ex.up,
	    PROXY_BUF_HIGH))
		conn_read_disable(&s->c->cc);
}

/* ---- the read path: one step per state ---------------------------------- */

/* H1_HEAD: parse request heads (pipelined ones one after the other). */
static void
h1_read_head(struct h1 *s, struct conn *c)
{
	(void)c;
	h1_read_heads(s);
}

/* H1_UPSTREAM: the request body goes on; pipelined bytes wait, bounded. */
static void
h1_read_body(struct h1 *s, struct conn *c)
{
	if (!s->ex.req_done)
		exchange_pump_request(&s->ex);
	else if (evbuffer_get_length(c->in) >= PROXY_BUF_HIGH)
		conn_read_disable(c);
}

/* H1_TUNNEL: bytes to the server as they come. */
static void
h1_read_tunnel(struct h1 *s, struct conn *c)
{
	(void)c;
	h1_tunnel_up(s);
}

/* H1_CLOSING: the last response is queued; what else comes is dropped. */
static void
h1_read_discard(struct h1 *s, struct conn *c)
{
	(void)s;
	evbuffer_drain(c->in, evbuffer_get_length(c->in));
}

static void (*const h1_read_steps[])(struct h1 *, struct conn *) = {
	[H1_HEAD] = h1_read_head,
	[H1_UPSTREAM] = h1_read_body,
	[H1_TUNNEL] = h1_read_tunnel,
	[H1_CLOSING] = h1_read_discard,
};

/* ---- the codec: what the connection asks of HTTP/1.1 --------------------- */

static void
h1_read(void *cd)
{
	struct h1 *s = cd;

	H1_CHECK(s);
	h1_read_steps[s->state](s, &s->c->cc);
}

static void
h1_write(void *cd)
{
	struct h1 *s = cd;
	size_t out = conn_out_pending(&s->c->cc);

	H1_CHECK(s);
	if (s->state == H1_CLOSING) {
		if (out == 0)
			h1_closing_flushed(s, "done");
		return;
	}
	if (out < PROXY_RESP_HIGH)
		exchange_resume_response(&s->ex);
}

static int
h1_event(void *cd, short what)
{
	struct h1 *s = cd;

	H1_CHECK(s);
	if ((what & CONN_EV_EOF) && s->state == H1_UPSTREAM && s->ex.req_done) {
		/* a half-close after a complete request: answer, then close */
		s->client_eof = 1;
		return 1;
	}
	if ((what & CONN_EV_EOF) && s->state == H1_TUNNEL && s->ex.up != NULL) {
		/* pass the half-close on once what the client sent is out; the
		 * server's close ends the tunnel */
		s->client_eof = 1;
		h1_tunnel_shut(s);
		return 1;
	}
	return 0;
}

static void
h1_timeout(void *cd)
{
	struct h1 *s = cd;

	H1_CHECK(s);
	if (s->state == H1_HEAD && s->had_bytes) {
		/* the head's wait: timeouts.client_header_ms */
		uint64_t now = proxy_now_us(), wait = (uint64_t)rt.cfg->t_client_header_ms * 1000;

		s->ex.t_start = now > wait ? now - wait : 0;
		h1_close_after(s, "the request head timed out");
		if (h1_reply(s, 408, "request head not received in time") == 0)
			h1_after_reply(s);
		return;
	}
	if (s->state == H1_UPSTREAM && !s->ex.req_done) {
		exchange_client_body_timeout(&s->ex);
		return;
	}
	client_close(s->c, s->state == H1_HEAD ? "idle timeout" : "linger timeout");
}

static void
h1_end(void *cd, enum exchange_term term)
{
	struct h1 *s = cd;

	s->ex.term = term;
}

/*
 * Graceful stop: an idle connection closes now; a busy one finishes its
 * current request and then closes (its response says Connection: close
 * when the head is not yet sent).
 */
static void
h1_drain(void *cd)
{
	struct h1 *s = cd;

	h1_close_after(s, "draining");
	if (s->state == H1_HEAD && !s->ex.resp_started &&
	    evbuffer_get_length(s->c->cc.in) == 0)
		client_close(s->c, "shutdown");
}

static void
h1_reloaded(void *cd)
{
	(void)cd;                 /* the next request meets the new settings */
}

static void
h1_close_disabled(void *cd)
{
	struct h1 *s = cd;

	if (s->ex.up != NULL && atomic_load_explicit(&s->ex.up->srv->state,
	    memory_order_relaxed) == SRV_DISABLED) {
		s->ex.term = EX_TERM_SHUTDOWN;
		client_close(s->c, "server disabled");
	}
}

static void
h1_close_reverted(void *cd, struct service *sv, int pool)
{
	struct h1 *s = cd;

	if (s->state == H1_TUNNEL && s->ex.svc == sv && (int)s->ex.pool == pool)
		client_close(s->c, "tunnel to a reverted pool");
}

static void
h1_move_reverted(void *cd, struct service *sv, int pool)
{
	struct h1 *s = cd;

	if (s->state == H1_UPSTREAM)
		(void)exchange_move_to_stable(&s->ex, sv, pool);
}

static void
h1_move_from_down(void *cd)
{
	struct h1 *s = cd;

	if (s->state == H1_UPSTREAM)
		(void)exchange_move_from_down(&s->ex);
}

static void
h1_free(void *cd)
{
	struct h1 *s = cd;

	H1_CHECK(s);
	exchange_release(&s->ex);
	s->magic = 0;
	free(s);
}

static void *
h1_open(struct client *c)
{
	struct h1 *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->magic = H1_MAGIC;
	s->c = c;
	exchange_init(&s->ex, c->w, &c->peer, &h1_exchange_ops, s);
	s->state = H1_HEAD;
	s->had_bytes = 1;       /* the first request is bounded by client_header_ms from accept */
	return s;
}

const struct codec_ops h1_codec = {
	.name = "http/1.1",
	.open = h1_open,
	.read = h1_read,
	.write = h1_write,
	.event = h1_event,
	.timeout = h1_timeout,
	.end = h1_end,
	.drain = h1_drain,
	.reloaded = h1_reloaded,
	.close_disabled = h1_close_disabled,
	.close_reverted = h1_close_reverted,
	.move_reverted = h1_move_reverted,
	.move_from_down = h1_move_from_down,
	.free = h1_free,
};
