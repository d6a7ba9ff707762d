/*
 * upstream_h1.c - HTTP/1.1 to servers, the first struct upstream_proto
 * (upstream.h): the request head and body go out as they are; response
 * heads are read with the strict parser (interim ones too), the framing of
 * a final head's body decided (RFC 9112 6.3), and what the connection
 * does told to the exchange through its events.
 */
#include <stdio.h>

#include <event2/buffer.h>
#include <openssl/err.h>

#include "conn.h"
#include "http_parse.h"
#include "proxy.h"
#include "tls_up.h"
#include "upstream.h"

static void upstream_h1_readcb(struct conn *, void *);
static void upstream_h1_writecb(struct conn *, void *);
static void upstream_h1_eventcb(struct conn *, short, void *);

static void
upstream_h1_attach(struct upconn *u, const struct upstream_events *ev, void *arg)
{
	u->ev = ev;
	u->arg = arg;
	u->eof = 0;
	u->no_body = 0;
	u->tunnel = 0;
	u->in_body = 0;
	/* a response head may take up to PROXY_RESP_HEAD_MAX; its body is read
	 * in PROXY_RESP_READ pieces */
	u->c.rmax = PROXY_RESP_HEAD_MAX + 1;
	conn_setcb(&u->c, upstream_h1_readcb, upstream_h1_writecb, upstream_h1_eventcb, u);
	conn_read_enable(&u->c);
}

static void
upstream_h1_send_head(struct upconn *u, const char *head, size_t len, unsigned flags)
{
	u->no_body = (flags & UPSTREAM_NO_BODY) != 0;
	evbuffer_add(u->c.out, head, len);
}

static size_t
upstream_h1_push(struct upconn *u, int hold)
{
	return conn_push_cb(&u->c, hold);
}

static size_t
upstream_h1_pending(const struct upconn *u)
{
	return conn_out_pending(&u->c);
}

static void
upstream_h1_read(struct upconn *u, int on)
{
	if (on)
		conn_read_enable(&u->c);
	else
		conn_read_disable(&u->c);
}

static void
upstream_h1_shutdown(struct upconn *u)
{
	conn_shutdown_write(&u->c);
}

static void
upstream_h1_due(struct upconn *u, uint64_t us)
{
	struct timeval tv = { (time_t)(us / 1000000), (suseconds_t)(us % 1000000) };

	conn_set_timeouts(&u->c, &tv, &u->c.wto);
}

static void
upstream_h1_tunnel(struct upconn *u)
{
	u->tunnel = 1;
	/* tunnels are long-lived: no timer on either side */
	upstream_set_timers(u, UPSTREAM_T_NONE);
	u->c.rmax = PROXY_RESP_READ;
	conn_read_enable(&u->c);
}

static void
upstream_h1_done(struct upconn *u, int clean)
{
	/* bytes after the response's end: the connection is not in step */
	if (clean && evbuffer_get_length(u->c.in) == 0)
		upstream_release(u);
	else
		upstream_free(u);
}

/* The framing of a final response's body (RFC 9112 6.3). */
static void
upstream_h1_framing(const struct upconn *u, const struct http_msg *m, struct upstream_resp *r)
{
	r->keep = m->version_minor == 1 ? !(m->flags & HTTP_F_CONN_CLOSE) :
	    !!(m->flags & HTTP_F_CONN_KEEPALIVE);
	r->length = 0;
	if (u->no_body || m->status == 204 || m->status == 304 || m->status == 101) {
		r->body = BODY_NONE;
	} else if (m->flags & HTTP_F_CHUNKED) {
		r->body = BODY_CHUNKED;
	} else if (m->flags & HTTP_F_CONTENT_LENGTH) {
		r->body = m->content_length > 0 ? BODY_LENGTH : BODY_NONE;
		r->length = m->content_length;
	} else {
		r->body = BODY_UNTIL_CLOSE;
		r->keep = 0;
	}
}

/*
 * Response heads (interim ones one after the other), then body bytes for
 * the exchange.  Returns 0 while the connection waits for more, -1 when
 * the exchange let go of it (u may be gone).
 */
static int
upstream_h1_response(struct upconn *u)
{
	struct evbuffer *in = u->c.in;
	struct http_limits lim = { PROXY_RESP_HEAD_MAX, HTTP_MAX_HEADERS_HARD };
	struct http_msg *m = &u->w->msg;
	struct upstream_resp resp;
	size_t len, want;
	const char *p;
	int r, final;

	while (!u->tunnel && !u->in_body && (len = evbuffer_get_length(in)) > 0) {
		want = len < PROXY_RESP_HEAD_MAX + 1 ? len : PROXY_RESP_HEAD_MAX + 1;
		p = (const char *)evbuffer_pullup(in, (ssize_t)want);
		r = http_parse_response(p, want, &lim, m);
		if (r == HTTP_PARSE_INCOMPLETE)
			return 0;
		if (r == HTTP_PARSE_ERROR) {
			log_warn("bad response from %s: %s", u->srv->addr.text, m->error);
			u->ev->bad(u->arg, m->error);
			return -1;
		}
		final = m->status >= 200 || m->status == 101;
		resp.m = m;
		resp.raw = p;
		resp.body = BODY_NONE;
		resp.length = 0;
		resp.keep = 0;
		if (final)
			upstream_h1_framing(u, m, &resp);
		if (u->ev->head(u->arg, &resp) == -1)
			return -1;
		evbuffer_drain(in, (size_t)r);
		if (final && !u->tunnel) {
			u->in_body = 1;
			u->c.rmax = PROXY_RESP_READ;    /* the body, in pieces */
		}
	}
	if (u->tunnel || u->in_body)
		return u->ev->body(u->arg);
	return 0;
}

static void
upstream_h1_readcb(struct conn *c, void *arg)
{
	struct upconn *u = arg;

	(void)c;
	(void)upstream_h1_response(u);
}

static void
upstream_h1_writecb(struct conn *c, void *arg)
{
	struct upconn *u = arg;

	(void)c;
	u->ev->room(u->arg);
}

/* TLS to the server: a handshake that failed (or a close, an error or the
 * time running out before it was done) is a connect error, logged with
 * OpenSSL's reason. */
static int
upstream_h1_handshake(struct upconn *u, struct conn *c, short what)
{
	char why[512];

	if (what == CONN_EV_HANDSHAKE) {
		upstream_hs_done(u);
		return 1;               /* done: the request goes out */
	}
	if (c->ssl == NULL || c->connecting)
		return 0;
	if (c->hs_done) {
		/* TLS 1.3: the client's part of the handshake ends before the
		 * server's verdict on it (a client certificate it refuses)
		 * arrives: an alert on the first read of a new connection is
		 * still the handshake's failure */
		if (u->reused || u->in_body || !(what & (CONN_EV_ERROR | CONN_EV_EOF)) ||
		    evbuffer_get_length(c->in) > 0)
			return 0;
		/* our write may have failed first (the server reset after its
		 * alert): the alert waits in the socket, read it */
		if (c->tls_err == 0 && c->fd != -1) {
			char b;

			ERR_clear_error();
			if (SSL_read(c->ssl, &b, 1) <= 0)
				c->tls_err = ERR_peek_error();
			ERR_clear_error();
		}
		/* without the server's word it may have seen the request: not a
		 * connect error */
		if (c->tls_err == 0)
			return 0;
		tls_up_why(c->ssl, c->tls_err, why, sizeof(why));
	} else if (what & CONN_EV_TIMEOUT) {
		snprintf(why, sizeof(why), "TLS handshake timed out");
	} else if (what & CONN_EV_HANDSHAKE) {
		tls_up_why(c->ssl, c->tls_err, why, sizeof(why));
	} else {
		snprintf(why, sizeof(why), "the server closed during the TLS handshake");
	}
	log_warn("server %s (%s): %s", u->srv->addr.text, pool_names[u->srv->pool], why);
	u->ev->failed(u->arg, (what & CONN_EV_TIMEOUT) ? RETRY_F_CONNECT_TIMEOUT : RETRY_F_CONNECT);
	return 1;
}

static void
upstream_h1_eventcb(struct conn *c, short what, void *arg)
{
	struct upconn *u = arg;

	if (upstream_h1_handshake(u, c, what))
		return;
	if ((what & CONN_EV_EOF) && !u->tunnel) {
		/* bytes that arrived with the FIN still count */
		u->eof = 1;
		if (evbuffer_get_length(c->in) > 0 && upstream_h1_response(u) != 0)
			return;         /* done, closed, or retried on another connection */
		if (!u->tunnel) {
			u->ev->failed(u->arg, RETRY_F_CLOSED);
			return;
		}
		/* a 101 that came with the FIN: the tunnel ends at once */
	}
	if (u->tunnel) {
		/* pass on what the server sent, then the tunnel ends */
		u->eof = 1;
		if (evbuffer_get_length(c->in) > 0 && u->ev->body(u->arg) != 0)
			return;
		u->ev->failed(u->arg, RETRY_F_CLOSED);
		return;
	}
	if (what & CONN_EV_TIMEOUT)
		u->ev->failed(u->arg, c->connecting ? RETRY_F_CONNECT_TIMEOUT : RETRY_F_TIMEOUT);
	else if (c->connecting)
		u->ev->failed(u->arg, RETRY_F_CONNECT);
	else
		u->ev->failed(u->arg, RETRY_F_RESET);
}

static void
upstream_h1_free(struct upconn *u)
{
	upstream_free(u);
}

const struct upstream_proto upstream_h1 = {
	.name = "http/1.1",
	.framed = 1,
	.attach = upstream_h1_attach,
	.send_head = upstream_h1_send_head,
	.push = upstream_h1_push,
	.pending = upstream_h1_pending,
	.read = upstream_h1_read,
	.shutdown = upstream_h1_shutdown,
	.timers = upstream_set_timers,
	.due = upstream_h1_due,
	.tunnel = upstream_h1_tunnel,
	.done = upstream_h1_done,
	.free = upstream_h1_free,
};
