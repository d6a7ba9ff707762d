/*
 * upstream_h2_conn.c - HTTP/2 to servers, its connections (see
 * upstream_h2.c): connect (prior knowledge, or ALPN h2 over the pool's
 * TLS), nghttp2's client callbacks, the response head built as HTTP/1.1,
 * DATA chunked into the stream's input, the streams' ends and failures.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <openssl/err.h>

#include "h2mem.h"
#include "tls_up.h"
#include "upstream_h2_int.h"

static void h2up_free_conn(struct h2up *h);

/* ---- the worker's connections ------------------------------------------------ */

struct h2up **
h2up_list(struct worker *w, struct server *srv)
{
	return (struct h2up **)&w->idle[srv->slot].h2;
}

static void
h2up_unlink(struct h2up *h)
{
	struct h2up **pp;

	for (pp = h2up_list(h->w, h->srv); *pp != NULL; pp = &(*pp)->next)
		if (*pp == h) {
			*pp = h->next;
			return;
		}
}

/* s leaves its connection (closed by nghttp2, or freed); an idle
 * connection closes after timeouts.upstream_idle_ms. */
void
h2up_detach(struct h2ustream *s)
{
	struct h2up *h = s->h;
	struct timeval idle;

	if (h == NULL)
		return;
	TAILQ_REMOVE(&h->streams, s, link);
	h->nstreams--;
	s->h = NULL;
	if (h->nstreams == 0 && !h->dead) {
		if (h->goaway) {
			/* going away (drained, or the server's GOAWAY): closed at
			 * once, from the loop */
			idle = clock_tv_ms(1);
			conn_set_timeouts(&h->c, &idle, NULL);
		} else {
			/* idle: the connection's timer closes it after
			 * upstream_idle_ms (not a read timeout: a PING's answer
			 * would restart that) */
			h->idle_since_us = proxy_coarse_us();
			h2up_ping_next(h, h->idle_since_us);
		}
	}
}

/* ---- nghttp2's callbacks ------------------------------------------------------------ */

static ssize_t
h2up_send_cb(nghttp2_session *ng, const uint8_t *data, size_t len, int flags, void *arg)
{
	struct h2up *h = arg;

	(void)ng;
	(void)flags;
	if (conn_out_pending(&h->c) >= PROXY_BUF_HIGH)
		return NGHTTP2_ERR_WOULDBLOCK;
	evbuffer_add(h->c.out, data, len);
	return (ssize_t)len;
}

/* ---- the connection ---------------------------------------------------------------- */

static nghttp2_session_callbacks *h2up_callbacks;
static nghttp2_option *h2up_options;
static pthread_mutex_t h2up_lock = PTHREAD_MUTEX_INITIALIZER;

static int
h2up_setup(void)
{
	int rv = 0;

	pthread_mutex_lock(&h2up_lock);
	if (h2up_callbacks == NULL) {
		if (nghttp2_session_callbacks_new(&h2up_callbacks) != 0 ||
		    nghttp2_option_new(&h2up_options) != 0) {
			rv = -1;
		} else {
			nghttp2_session_callbacks_set_send_callback(h2up_callbacks, h2up_send_cb);
			nghttp2_session_callbacks_set_on_begin_headers_callback(h2up_callbacks,
			    h2up_begin_headers_cb);
			nghttp2_session_callbacks_set_on_header_callback(h2up_callbacks, h2up_header_cb);
			nghttp2_session_callbacks_set_on_invalid_header_callback(h2up_callbacks,
			    h2up_invalid_header_cb);
			nghttp2_session_callbacks_set_on_frame_recv_callback(h2up_callbacks,
			    h2up_frame_recv_cb);
			nghttp2_session_callbacks_set_on_data_chunk_recv_callback(h2up_callbacks,
			    h2up_data_cb);
			nghttp2_session_callbacks_set_on_stream_close_callback(h2up_callbacks,
			    h2up_stream_close_cb);
			nghttp2_session_callbacks_set_on_frame_send_callback(h2up_callbacks,
			    h2up_frame_send_cb);
			/* windows open as clients take the bytes */
			nghttp2_option_set_no_auto_window_update(h2up_options, 1);
			/* until the server's SETTINGS say how many streams it takes,
			 * one: the others wait in nghttp2 (a server of one stream at
			 * a time would refuse them, and those with a body cannot go
			 * again) */
			nghttp2_option_set_peer_max_concurrent_streams(h2up_options, 1);
		}
	}
	pthread_mutex_unlock(&h2up_lock);
	return rv;
}

static void
h2up_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2up *h = arg;

	struct h2ustream *s;

	(void)fd;
	(void)what;
	h->flush_armed = 0;
	conn_flush(&h->c);
	/* streams whose DATA left: the exchange may pass more of the client's
	 * body (a callback may end streams: the walk starts over) */
	for (s = TAILQ_FIRST(&h->streams); s != NULL; ) {
		if (!s->want_room) {
			s = TAILQ_NEXT(s, link);
			continue;
		}
		s->want_room = 0;
		if (!s->told && s->u.ev != NULL)
			s->u.ev->room(s->u.arg);
		s = TAILQ_FIRST(&h->streams);
	}
}

/* Everything nghttp2 has to send, then out -- at the end of this turn of
 * the loop: the HEADERS of every request that arrived in the same turn
 * leave in one write (one write per stream cost more than the rest of the
 * path). */
void
h2up_kick(struct h2up *h)
{
	if (h->dead || h->in_cb)
		return;
	h->in_cb = 1;
	if (nghttp2_session_send(h->ng) != 0)
		h->dead = 1;
	h->in_cb = 0;
	if (!h->flush_armed && conn_out_pending(&h->c) > 0) {
		h->flush_armed = 1;
		event_active(&h->flush_ev, EV_WRITE, 1);
	}
}

/* The connection failed: every stream is told, then it goes. */
void
h2up_conn_failed(struct h2up *h, enum retry_failure f)
{
	struct h2ustream *s;

	if (h->magic != H2UP_MAGIC)
		return;
	h->dead = 1;
	h2up_unlink(h);
	/* streams still there: each detached, then its exchange told (it lets
	 * go of the stream) */
	while ((s = TAILQ_FIRST(&h->streams)) != NULL) {
		if (s->id > 0)
			nghttp2_session_set_stream_user_data(h->ng, s->id, NULL);
		s->closed = 1;
		h2up_detach(s);
		h2up_fail(s, f);
	}
	h2up_free_conn(h);
}

/* Silence from the server for half of upstream_response_ms: a PING; no
 * answer within upstream_connect_ms: the connection is dead (a server
 * that went away without a word, a path that drops everything), closed
 * before a request waits its whole response time on it. */
static uint64_t
h2up_quiet_us(void)
{
	uint64_t q = (uint64_t)rt.cfg->t_upstream_response_ms * 500;

	return q > 1000 ? q : 1000;
}

static void
h2up_ping_arm_us(struct h2up *h, uint64_t us)
{
	struct timeval tv = { (time_t)(us / 1000000), (suseconds_t)(us % 1000000) };

	evtimer_add(&h->ping_ev, &tv);
}

/* Armed once: a read only notes its time (h2up_readcb), the timer looks at
 * it when it fires. */
void
h2up_ping_start(struct h2up *h)
{
	h->last_rx_us = h->idle_since_us = proxy_coarse_us();
	h2up_ping_arm_us(h, h2up_quiet_us());
}

/* The connection fails from the loop, not under the call that found it
 * (conn.c may still use the connection after its callback). */
static void
h2up_fail_later(struct h2up *h, enum retry_failure f)
{
	struct timeval now = { 0, 0 };

	h->dead = 1;
	h->fail_pending = 1;
	h->fail_kind = f;
	evtimer_add(&h->ping_ev, &now);
}

/* When the connection's timer looks next: the PING's answer due, the
 * silence long enough for a PING, an idle connection's end. */
void
h2up_ping_next(struct h2up *h, uint64_t now)
{
	uint64_t at = h->ping_out ? h->ping_sent_us + (uint64_t)rt.cfg->t_upstream_connect_ms * 1000 :
	    h->last_rx_us + h2up_quiet_us();

	if (h->nstreams == 0 && !h->goaway) {
		uint64_t idle_at = h->idle_since_us + (uint64_t)rt.cfg->t_upstream_idle_ms * 1000;

		if (idle_at < at)
			at = idle_at;
	}
	h2up_ping_arm_us(h, at > now ? at - now : 0);
}

static void
h2up_ping_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2up *h = arg;
	uint64_t now = proxy_coarse_us();

	(void)fd;
	(void)what;
	if (h->fail_pending) {
		h2up_conn_failed(h, h->fail_kind);
		return;
	}
	if (h->ping_out && h->rx_count != h->rx_at_ping) {
		h->ping_out = 0;                /* whatever came answered for the peer */
	} else if (h->ping_out &&
	    now >= h->ping_sent_us + (uint64_t)rt.cfg->t_upstream_connect_ms * 1000) {
		log_warn("server %s (%s): HTTP/2 connection silent, no answer to a PING within %d ms: "
		    "closed with %d stream(s)", h->srv->addr.text, pool_names[h->srv->pool],
		    rt.cfg->t_upstream_connect_ms, h->nstreams);
		h2up_conn_failed(h, RETRY_F_TIMEOUT);
		return;
	}
	/* idle for upstream_idle_ms (a PING's answer does not count) */
	if (h->nstreams == 0 && !h->goaway &&
	    now - h->idle_since_us >= (uint64_t)rt.cfg->t_upstream_idle_ms * 1000) {
		log_debug("server %s: an idle HTTP/2 connection closed", h->srv->addr.text);
		h2up_conn_failed(h, RETRY_F_CLOSED);
		return;
	}
	/* silent that long (and past its handshake, which has its own timer):
	 * a PING */
	if (!h->ping_out && now - h->last_rx_us >= h2up_quiet_us() && (h->c.hs_done || !h->tls)) {
		if (nghttp2_submit_ping(h->ng, NGHTTP2_FLAG_NONE, NULL) != 0) {
			h2up_conn_failed(h, RETRY_F_RESET);
			return;
		}
		h->ping_out = 1;
		h->ping_sent_us = now;
		h->rx_at_ping = h->rx_count;
		h2up_kick(h);
	}
	if (!h->ping_out && now - h->last_rx_us >= h2up_quiet_us())
		h->last_rx_us = now;            /* (a handshake under way: look again later) */
	h2up_ping_next(h, now);
}

static void
h2up_readcb(struct conn *c, void *arg)
{
	struct h2up *h = arg;
	size_t len = evbuffer_get_length(c->in);
	ssize_t r;

	if (h->fail_pending) {
		evbuffer_drain(c->in, len);     /* going: nothing more is read */
		return;
	}
	h->in_cb = 1;
	r = nghttp2_session_mem_recv(h->ng, evbuffer_pullup(c->in, (ssize_t)len), len);
	h->in_cb = 0;
	if (r < 0) {
		log_warn("server %s: HTTP/2: %s", h->srv->addr.text, nghttp2_strerror((int)r));
		h2up_conn_failed(h, RETRY_F_RESET);
		return;
	}
	evbuffer_drain(c->in, (size_t)r);
	if (r > 0) {
		h->rx_count++;          /* the silence timer reads these */
		h->last_rx_us = proxy_coarse_us();
	}
	h2up_kick(h);
	if (!h->dead && !nghttp2_session_want_read(h->ng) && !nghttp2_session_want_write(h->ng)) {
		/* nghttp2 ended the session (what came is not HTTP/2, or broke
		 * it): its streams fail now, not at their timers */
		log_warn("server %s (%s): HTTP/2 session ended by a protocol error (does it speak "
		    "HTTP/2?)", h->srv->addr.text, pool_names[h->srv->pool]);
		h2up_conn_failed(h, RETRY_F_RESET);
		return;
	}
	if (h->dead || (h->goaway && h->nstreams == 0))
		h2up_conn_failed(h, RETRY_F_CLOSED);
}

static void
h2up_writecb(struct conn *c, void *arg)
{
	(void)c;
	h2up_kick(arg);
}

static void
h2up_eventcb(struct conn *c, short what, void *arg)
{
	struct h2up *h = arg;
	char why[512];

	if (what == CONN_EV_HANDSHAKE) {
		const unsigned char *p;
		unsigned int n;

		if (h->hs_armed)
			evtimer_del(&h->hs_timer);
		h->hs_armed = 0;
		SSL_get0_alpn_selected(c->ssl, &p, &n);
		if (n != 2 || memcmp(p, "h2", 2) != 0) {
			log_warn("server %s (%s): TLS handshake chose no h2 (ALPN %.*s): does it "
			    "speak HTTP/2?", h->srv->addr.text, pool_names[h->srv->pool],
			    n ? (int)n : 4, n ? (const char *)p : "none");
			/* not under conn.c's own call: it goes on reading */
			h2up_fail_later(h, RETRY_F_CONNECT);
			return;
		}
		h2up_kick(h);
		return;
	}
	if (c->ssl != NULL && !c->hs_done && !c->connecting) {
		if (what & CONN_EV_TIMEOUT)
			snprintf(why, sizeof(why), "TLS handshake timed out");
		else
			tls_up_why(c->ssl, c->tls_err, why, sizeof(why));
		log_warn("server %s (%s): %s", h->srv->addr.text, pool_names[h->srv->pool], why);
		h2up_conn_failed(h, (what & CONN_EV_TIMEOUT) ? RETRY_F_CONNECT_TIMEOUT :
		    RETRY_F_CONNECT);
		return;
	}
	log_debug("server %s: HTTP/2 connection %s%s%s (%s), %d stream(s)", h->srv->addr.text,
	    (what & CONN_EV_EOF) ? "closed" : "", (what & CONN_EV_ERROR) ? "failed" : "",
	    (what & CONN_EV_TIMEOUT) ? "timed out" : "", c->err ? strerror(c->err) : "-",
	    h->nstreams);
	if (what & CONN_EV_TIMEOUT)
		h2up_conn_failed(h, c->connecting ? RETRY_F_CONNECT_TIMEOUT : RETRY_F_TIMEOUT);
	else if (c->connecting)
		h2up_conn_failed(h, RETRY_F_CONNECT);
	else
		h2up_conn_failed(h, (what & CONN_EV_EOF) ? RETRY_F_CLOSED : RETRY_F_RESET);
}

static void
h2up_free_conn(struct h2up *h)
{
	if (h->hs_armed)
		evtimer_del(&h->hs_timer);
	event_del(&h->flush_ev);
	evtimer_del(&h->ping_ev);
	free(h->hbuf);
	h->magic = 0;
	nghttp2_session_del(h->ng);
	conn_release(&h->c);
	free(h);
}

static void
h2up_hs_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2up *h = arg;

	(void)fd;
	(void)what;
	h->hs_armed = 0;
	if (h->c.hs_done)
		return;
	log_warn("server %s (%s): TLS handshake timed out", h->srv->addr.text,
	    pool_names[h->srv->pool]);
	h2up_conn_failed(h, RETRY_F_CONNECT_TIMEOUT);
}

struct h2up *
h2up_connect(struct worker *w, struct server *srv, char *err, size_t errlen)
{
	const struct config_addr *a = &srv->addr;
	const struct tls_up *t = atomic_load_explicit(&srv->svc->up_tls[srv->pool], memory_order_acquire);
	struct timeval cto = clock_tv_ms(rt.cfg->t_upstream_connect_ms);
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2UP_WINDOW },
		/* streams are not weighed against each other (RFC 9218 2.1):
		 * nghttp2 keeps no priority tree and no closed streams for it */
		{ NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1 },
		/* what a head may be here (PROXY_RESP_HEAD_MAX) */
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, PROXY_RESP_HEAD_MAX },
	};
	struct h2up *h;

	if (h2up_setup() == -1 || (h = calloc(1, sizeof(*h))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->magic = H2UP_MAGIC;
	h->w = w;
	h->srv = srv;
	h->max_streams = 100;
	TAILQ_INIT(&h->streams);
	event_assign(&h->flush_ev, w->base, -1, 0, h2up_flush_cb, h);
	evtimer_assign(&h->ping_ev, w->base, h2up_ping_cb, h);
	h->hcap = H2UP_HEAD_START;
	if ((h->hbuf = malloc(H2UP_HEAD_START)) == NULL ||
	    nghttp2_session_client_new3(&h->ng, h2up_callbacks, h, h2up_options, h2mem()) != 0) {
		free(h->hbuf);
		free(h);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (conn_connect(&h->c, w->base, (const struct sockaddr *)&a->ss, a->len, &cto) == -1) {
		snprintf(err, errlen, "cannot connect to %s: %s", a->text, strerror(errno));
		nghttp2_session_del(h->ng);
		free(h->hbuf);
		free(h);
		return NULL;
	}
	if (t != NULL) {
		SSL *ssl;

		h->sess.w = w;
		h->sess.srv = srv;
		ssl = upstream_tls_ssl(&h->sess, t, err, errlen);

		if (ssl == NULL) {
			h2up_free_conn(h);
			return NULL;
		}
		(void)SSL_set_alpn_protos(ssl, (const unsigned char *)"\x02h2", 3);
		conn_start_tls(&h->c, ssl);
		h->tls = 1;
		h->tls_gen = t->gen;
		/* however slowly the server sends its part of the handshake */
		evtimer_assign(&h->hs_timer, w->base, h2up_hs_timeout_cb, h);
		evtimer_add(&h->hs_timer, &cto);
		h->hs_armed = 1;
	}
	conn_setcb(&h->c, h2up_readcb, h2up_writecb, h2up_eventcb, h);
	conn_read_enable(&h->c);
	nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
	/* the connection's window is the streams' together: each stream's own
	 * (opened as its client takes bytes) is what bounds the memory */
	(void)nghttp2_session_set_local_window_size(h->ng, NGHTTP2_FLAG_NONE, 0, H2UP_CONN_WINDOW);
	h->next = *h2up_list(w, srv);
	*h2up_list(w, srv) = h;
	h2up_ping_start(h);
	if (t == NULL)
		h2up_kick(h);
	return h;
}

