/*
 * session.c - one client connection speaking HTTP/1.1 (struct session):
 * the socket, TLS, the framing, timers and keep-alive, and the codec its
 * exchanges (exchange.c) talk through (struct exchange_ops).  HTTP/1.1
 * carries one exchange at a time: read a request head, hand it to the
 * exchange, relay its bodies, repeat while keep-alive allows; pipelined
 * requests wait in the input.  After an Upgrade, bytes go both ways.
 *
 * States (session_set_state is the only writer of s->state):
 *   SS_HEAD      waiting for a request head (header or idle timer armed)
 *   SS_UPSTREAM  the exchange is in flight: its request body may still
 *                stream up, its response come down
 *   SS_TUNNEL    after 101 Switching Protocols: bytes both ways
 *   SS_CLOSING   last response queued: flush it, then close
 *   SS_H2        HTTP/2 (ALPN h2, or the preface on an h2c listener): the
 *                codec of h2.c has the connection, its streams the exchanges
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event_struct.h>

#include "body.h"
#include "conn.h"
#include "exchange.h"
#include "h2.h"
#include "http_reply.h"
#include "http_rewrite.h"
#include "proxy.h"
#include "session.h"
#include "upstream.h"

#define SESSION_MAGIC 0x5e55101bU
#define SESSION_CLOSE_LINGER_MS 5000

enum session_state { SS_HEAD, SS_UPSTREAM, SS_TUNNEL, SS_CLOSING, SS_H2 };
static const char *session_state_names[] = { "head", "upstream", "tunnel", "closing", "h2" };

/* One client connection: the socket, TLS, HTTP/1.1 framing and its
 * current exchange. */
struct session {
	uint32_t magic;
	enum session_state state;
	struct worker *w;
	struct conn cc;               /* the client connection */
	struct event timer;           /* header / idle / body / linger timer */
	LIST_ENTRY(session) link;     /* worker's list */
	struct exchange_peer peer;
	int in_head_loop;             /* inside session_read_heads: no recursion */
	int client_eof;               /* client closed its sending side */
	int had_bytes;                /* bytes of a new head have arrived */
	int keepalive;                /* client connection may carry another request */
	int linger;                   /* closing: the client may still be sending */
	int tunnel_shut;              /* the client's half-close went on to the server */
	int h2c;                      /* the listener takes HTTP/2 with prior knowledge */
	int served;                   /* a request was read: the preface is no longer possible */
	struct h2conn *h2;            /* SS_H2: the HTTP/2 codec */
	struct exchange ex;           /* the exchange in progress (HTTP/1.1) */
};

static void session_client_readcb(struct conn *, void *);
static void session_client_writecb(struct conn *, void *);
static void session_client_eventcb(struct conn *, short, void *);
static void session_read_heads(struct session *s);
static void session_close(struct session *s, const char *reason);
static void session_tunnel_move(struct session *s, struct conn *from, struct conn *to);
static void session_tunnel_shut(struct session *s);
static const struct exchange_ops session_h1_ops;

#define SESSION_CHECK(s) do { \
	if ((s)->magic != SESSION_MAGIC) { \
		log_error("%s:%d: bad session magic", __FILE__, __LINE__); \
		abort(); \
	} \
} while (0)

/* The moves a client connection may make; anything else is a bug. */
static const unsigned char session_moves[5][5] = {
	/*                 HEAD UPSTREAM TUNNEL CLOSING H2 */
	[SS_HEAD]     = {  1,   1,       0,     1,      1 },
	[SS_UPSTREAM] = {  1,   1,       1,     1,      0 },
	[SS_TUNNEL]   = {  0,   0,       1,     1,      0 },
	[SS_CLOSING]  = {  0,   0,       0,     1,      0 },
	[SS_H2]       = {  0,   0,       0,     0,      1 },
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
	log_debug("reply %d to %s: %s", status, s->peer.addr, why);
	http_reply_error(out, status, !keep, NULL);
	conn_flush(&s->cc);
	exchange_replied(&s->ex, status);
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

/* ---- HTTP/2 --------------------------------------------------------------- */

static void
session_h2_closed(void *arg, const char *why)
{
	session_close(arg, why);
}

/*
 * The connection speaks HTTP/2 from here on; the codec's loop runs at the
 * next turn (our SETTINGS go out then), and the bytes come through the read
 * callback.  Called from the handshake event and from the head loop, where
 * nothing may be freed: it closes nothing itself.  Returns -1 when out of
 * memory (the session stays an HTTP/1.1 one, which the client's frames
 * will not satisfy).
 */
static int
session_to_h2(struct session *s)
{
	s->h2 = h2_open(s->w, &s->cc, &s->peer, session_h2_closed, s);
	if (s->h2 == NULL) {
		log_warn("out of memory for an HTTP/2 connection from %s", s->peer.addr);
		return -1;
	}
	evtimer_del(&s->timer);
	session_set_state(s, SS_H2);
	if (s->w->draining)
		h2_goaway_soon(s->h2);   /* no new streams: GOAWAY at once */
	return 0;
}

/* A TLS client that chose h2 through ALPN. */
static int
session_alpn_h2(const struct session *s)
{
	const unsigned char *p;
	unsigned int n;

	if (s->cc.ssl == NULL)
		return 0;
	SSL_get0_alpn_selected(s->cc.ssl, &p, &n);
	return n == 2 && memcmp(p, "h2", 2) == 0;
}

/* ---- request head -------------------------------------------------------- */

static void
session_reset_request(struct session *s)
{
	exchange_reset(&s->ex);
	s->had_bytes = 0;
}

/*
 * A complete request head is at the front of the client's input: its
 * framing and keep-alive here, the rest is the exchange's.  Returns 0 to
 * go on, -1 when the session is closed or closing.
 */
static int
session_request(struct session *s, const struct http_msg *m, size_t head_len)
{
	struct exchange *ex = &s->ex;
	struct evbuffer *in = s->cc.in;

	ex->t_start = proxy_now_us();
	exchange_request_line(ex, m);
	s->keepalive = !s->w->draining &&
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
	exchange_prepare(ex, m);
	evbuffer_drain(in, head_len);
	evtimer_del(&s->timer);
	session_set_state(s, SS_UPSTREAM);
	/* reading goes on (no epoll_ctl per request): pipelined requests wait
	 * in the input, bounded by the read callback, and a client that goes
	 * away is noticed */
	/* -1: answered at once (503, 502).  s is still here: this runs inside
	 * the head loop, where session_after_reply frees nothing, and nothing
	 * of a response had gone out, so session_reply did not close */
	if (exchange_forward(ex) == -1)
		return s->state == SS_HEAD ? 0 : -1;
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

	if (s->h2c && !s->served && (len = evbuffer_get_length(in)) > 0) {
		p = (const char *)evbuffer_pullup(in, (ssize_t)(len < H2_PREFACE_LEN ? len :
		    H2_PREFACE_LEN));
		r = h2_preface_match(p, len);
		if (r == 0)
			return;         /* a prefix of the preface: wait (header timer runs) */
		if (r == 1 && session_to_h2(s) == 0) {
			h2_read(s->h2);  /* last in the read callback: may close */
			return;
		}
	}
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
		s->served = 1;
		if (r == HTTP_PARSE_ERROR) {
			session_close_after(s, "a malformed request");
			log_debug("request from %s refused: %s", s->peer.addr, m->error);
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

/* ---- the codec: what the exchange asks of this connection ---------------- */

#define EX_SESSION(ex) ((struct session *)(ex)->owner)

/* Build and queue a response head for the client (http_rewrite.c); an
 * interim one only for an HTTP/1.1 client. */
static void
h1_resp_head(struct exchange *ex, const struct http_msg *m, const char *raw)
{
	struct session *s = EX_SESSION(ex);
	int interim = m->status < 200 && m->status != 101;
	struct http_rewrite_resp rs;
	size_t n;

	if (interim && ex->req_minor != 1)
		return;
	/* before the head says keep-alive: an HTTP/1.0 client cannot read chunked */
	if (!interim && ex->req_minor == 0 && ex->resp_body == BODY_CHUNKED)
		session_close_after(s, "chunked to an HTTP/1.0 client");
	rs = (struct http_rewrite_resp){
		.keepalive = s->keepalive, .req_minor = ex->req_minor,
		.cookie = ex->set_cookie ? rt.cfg->cookie : NULL,
		.cookie_len = ex->set_cookie ? strlen(rt.cfg->cookie) : 0,
		.key = ex->key, .key_len = ROUTE_KEY_LEN,
		.pool = rt.cfg->expose_header ? pool_names[ex->pool] : NULL,
	};
	/* the head is at most PROXY_RESP_HEAD_MAX: the scratch holds it and ours */
	n = http_rewrite_response(m, raw, &rs, s->w->scratch);
	evbuffer_add(s->cc.out, s->w->scratch, n);
	if (interim)
		conn_flush(&s->cc);
}

static int
h1_resp_body(struct exchange *ex, struct conn *up, int all)
{
	struct session *s = EX_SESSION(ex);

	return body_move_flush(up, &s->cc, ex->resp_body, &ex->resp_left, &ex->resp_chunk,
	    &ex->resp_bytes, all ? SIZE_MAX : PROXY_RESP_HIGH, NULL);
}

static int
h1_resp_full(struct exchange *ex)
{
	return conn_out_pending(&EX_SESSION(ex)->cc) >= PROXY_RESP_HIGH;
}

static int
h1_req_body(struct exchange *ex, struct conn *up)
{
	struct session *s = EX_SESSION(ex);
	uint64_t moved = 0;
	int r;

	r = body_move_flush(&s->cc, up, ex->req_body, &ex->req_left, &ex->req_chunk, &moved,
	    PROXY_BUF_HIGH, &ex->mirror_tee);
	if (r == -1)
		ex->req_error = ex->req_chunk.error;
	return r;
}

static void
h1_req_flow(struct exchange *ex, int more)
{
	struct session *s = EX_SESSION(ex);

	if (more) {
		conn_read_enable(&s->cc);
		session_timer_ms(s, rt.cfg->t_client_body_ms);
	} else {
		conn_read_disable(&s->cc);   /* the upstream write cb resumes */
		evtimer_del(&s->timer);
	}
}

static void
h1_req_sent(struct exchange *ex)
{
	struct session *s = EX_SESSION(ex);

	if (s->state == SS_UPSTREAM)
		evtimer_del(&s->timer);
}

static void
h1_tunnel_start(struct exchange *ex)
{
	struct session *s = EX_SESSION(ex);

	session_set_state(s, SS_TUNNEL);
	/* what the client sent after its upgrade request goes up now */
	if (evbuffer_get_length(s->cc.in) > 0)
		session_tunnel_move(s, &s->cc, &ex->up->c);
	conn_read_enable(&s->cc);
	/* a client that half-closed before the 101: its FIN goes on too */
	session_tunnel_shut(s);
}

static void
h1_tunnel_down(struct exchange *ex, struct conn *up)
{
	struct session *s = EX_SESSION(ex);

	session_tunnel_move(s, up, &s->cc);
}

/* The client half-closed its tunnel: the server gets the FIN once the
 * client's last bytes are out to it (the server's write callback,
 * tunnel_room, comes back here until they are). */
static void
session_tunnel_shut(struct session *s)
{
	struct conn *up = &s->ex.up->c;

	if (!s->client_eof || s->tunnel_shut || evbuffer_get_length(s->cc.in) > 0)
		return;
	conn_flush(up);
	if (conn_out_pending(up) > 0)
		return;
	s->tunnel_shut = 1;
	conn_shutdown_write(up);
}

static void
h1_tunnel_room(struct exchange *ex)
{
	struct session *s = EX_SESSION(ex);

	if (!s->client_eof)
		conn_read_enable(&s->cc);
	if (evbuffer_get_length(s->cc.in) > 0)
		session_tunnel_move(s, &s->cc, &ex->up->c);
	session_tunnel_shut(s);
}

static int
h1_reply(struct exchange *ex, int status, const char *why)
{
	return session_reply(EX_SESSION(ex), status, why);
}

static void
h1_close_after(struct exchange *ex, const char *why)
{
	session_close_after(EX_SESSION(ex), why);
}

static void
h1_finish(struct exchange *ex)
{
	session_after_reply(EX_SESSION(ex));
}

static void
h1_abort(struct exchange *ex, const char *why)
{
	session_close(EX_SESSION(ex), why);
}

static const struct exchange_ops session_h1_ops = {
	.resp_head = h1_resp_head,
	.resp_body = h1_resp_body,
	.resp_full = h1_resp_full,
	.req_body = h1_req_body,
	.req_flow = h1_req_flow,
	.req_sent = h1_req_sent,
	.tunnel_start = h1_tunnel_start,
	.tunnel_down = h1_tunnel_down,
	.tunnel_room = h1_tunnel_room,
	.reply = h1_reply,
	.close_after = h1_close_after,
	.finish = h1_finish,
	.abort = h1_abort,
};

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
		exchange_pump_request(&s->ex);
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

/* SS_H2: frames, to the codec. */
static void
session_read_h2(struct session *s, struct conn *c)
{
	(void)c;
	h2_read(s->h2);
}

static void (*const session_read_steps[])(struct session *, struct conn *) = {
	[SS_HEAD] = session_read_head,
	[SS_UPSTREAM] = session_read_body,
	[SS_TUNNEL] = session_read_tunnel,
	[SS_CLOSING] = session_read_discard,
	[SS_H2] = session_read_h2,
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
	if (s->state == SS_H2) {
		h2_write(s->h2);
		return;
	}
	if (s->state == SS_CLOSING) {
		if (out == 0)
			session_closing_flushed(s, "done");
		return;
	}
	if (out < PROXY_RESP_HIGH)
		exchange_resume_response(&s->ex);
}

static void
session_client_eventcb(struct conn *c, short what, void *arg)
{
	struct session *s = arg;

	SESSION_CHECK(s);
	if (what & CONN_EV_HANDSHAKE) {
		if (!(what & CONN_EV_ERROR)) {
			STATS_INC(s->w->stats->tls_handshakes);
			if (session_alpn_h2(s))
				session_to_h2(s);
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
		/* pass the half-close on once what the client sent is out; the
		 * server's close ends the tunnel */
		s->client_eof = 1;
		session_tunnel_shut(s);
		return;
	}
	if (s->state == SS_H2 && (what & CONN_EV_EOF) && !(what & CONN_EV_ERROR)) {
		/* frames that came with the FIN still count, then it ends */
		if (evbuffer_get_length(s->cc.in) > 0 && h2_read(s->h2) == -1)
			return;
	}
	if (what & CONN_EV_TIMEOUT) {
		s->ex.term = EX_TERM_CLIENT_TIMEOUT;
		if (s->h2 != NULL)
			h2_end_streams(s->h2, EX_TERM_CLIENT_TIMEOUT);
		session_close(s, "client write timeout");
	}
	else if (what & CONN_EV_EOF)
		session_close(s, "client closed");
	else
		session_close(s, "client error");
	(void)c;
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
		exchange_client_body_timeout(&s->ex);
		return;
	}
	session_close(s, s->state == SS_HEAD ? "idle timeout" : "linger timeout");
}

/* ---- life cycle ---------------------------------------------------------- */

void
session_accept(struct worker *w, evutil_socket_t fd, struct sockaddr *sa, int salen, SSL *ssl,
    int h2c)
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
	s->h2c = h2c && ssl == NULL;
	if (salen > 0 && (size_t)salen <= sizeof(s->peer.sa))
		memcpy(&s->peer.sa, sa, (size_t)salen);
	s->peer.tls = ssl != NULL;
	s->peer.ssl = ssl;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, s->peer.addr,
		    sizeof(s->peer.addr));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, s->peer.addr,
		    sizeof(s->peer.addr));
	else
		snprintf(s->peer.addr, sizeof(s->peer.addr), "unknown");
	s->peer.addr_len = strlen(s->peer.addr);
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
	exchange_init(&s->ex, w, &s->peer, &session_h1_ops, s);
	s->had_bytes = 0;
	session_set_state(s, SS_HEAD);
	session_timer_ms(s, rt.cfg->t_client_header_ms);
	s->had_bytes = 1;       /* the first request is bounded by client_header_ms from accept */
}

static void
session_close(struct session *s, const char *reason)
{
	struct worker *w = s->w;

	SESSION_CHECK(s);
	log_debug("session %p from %s closed: %s", (void *)s, s->peer.addr, reason);
	if (s->h2 != NULL)
		h2_free(s->h2);
	exchange_release(&s->ex);
	evtimer_del(&s->timer);
	conn_release(&s->cc);
	LIST_REMOVE(s, link);
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
		if (s->state == SS_H2) {
			h2_shutdown(s->h2, 0);
			continue;
		}
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
	struct session *s;

	while ((s = LIST_FIRST(&w->sessions)) != NULL) {
		s->ex.term = EX_TERM_SHUTDOWN;
		if (s->h2 != NULL)
			h2_end_streams(s->h2, EX_TERM_SHUTDOWN);
		session_close(s, "shutdown deadline");
	}
}

/* Sessions busy with a server an operator disabled are cut now, and idle
 * connections to it are closed (called from the worker tick). */
void
session_close_disabled(struct worker *w)
{
	struct session *s, *next;

	for (s = LIST_FIRST(&w->sessions); s != NULL; s = next) {
		next = LIST_NEXT(s, link);
		if (s->state == SS_H2) {
			h2_close_disabled(s->h2);
			continue;
		}
		if (s->ex.up != NULL && atomic_load_explicit(&s->ex.up->srv->state,
		    memory_order_relaxed) == SRV_DISABLED) {
			s->ex.term = EX_TERM_SHUTDOWN;
			session_close(s, "server disabled");
		}
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
		if (s->state == SS_H2)
			h2_close_reverted(s->h2, pool);
		else if (s->state == SS_TUNNEL && (int)s->ex.pool == pool)
			session_close(s, "tunnel to a reverted pool");
	}
}

/* Requests waiting for a first answer from a reverted pool go to the
 * stable pool (exchange_move_to_stable says which may). */
void
session_move_reverted(struct worker *w, int pool)
{
	struct session *s, *next;

	for (s = LIST_FIRST(&w->sessions); s != NULL; s = next) {
		next = LIST_NEXT(s, link);
		if (s->state == SS_H2)
			h2_move_reverted(s->h2, pool);
		else if (s->state == SS_UPSTREAM)
			(void)exchange_move_to_stable(&s->ex, pool);
	}
}

/* Requests waiting for a first answer from a server marked down go
 * elsewhere (exchange_move_from_down says which may). */
void
session_move_from_down(struct worker *w)
{
	struct session *s, *next;

	for (s = LIST_FIRST(&w->sessions); s != NULL; s = next) {
		next = LIST_NEXT(s, link);
		if (s->state == SS_H2)
			h2_move_from_down(s->h2);
		else if (s->state == SS_UPSTREAM)
			(void)exchange_move_from_down(&s->ex);
	}
}

/* After a reload: HTTP/2 connections get GOAWAY (their streams finish),
 * so clients come back under the new settings and certificates. */
void
session_reloaded(struct worker *w)
{
	struct session *s, *next;

	for (s = LIST_FIRST(&w->sessions); s != NULL; s = next) {
		next = LIST_NEXT(s, link);
		if (s->state == SS_H2)
			h2_shutdown(s->h2, 1);
	}
}
