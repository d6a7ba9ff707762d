/*
 * upstream_h2.c - HTTP/2 to servers (pools.X.protocol = "h2"), the second
 * struct upstream_proto (upstream.h), on libnghttp2's client side.
 *
 * Each worker keeps, per server, a few HTTP/2 connections (prior knowledge
 * over TCP, ALPN h2 over the pool's TLS); a request is one stream on one
 * of them with room under the server's SETTINGS_MAX_CONCURRENT_STREAMS.
 * The exchange and the client codecs see what they see of an HTTP/1.1
 * server: the request's HTTP/1.1 head and framed body go into u->out and
 * are read here into HEADERS and DATA (chunks decoded, the last chunk's
 * trailers into a trailing HEADERS); the response comes back into u->in as
 * an HTTP/1.1 head with a chunked body, the server's trailers in the last
 * chunk's trailer section (gRPC's grpc-status).  Flow control follows the
 * client: a stream's window opens only as its client takes the bytes.
 *
 * GOAWAY: streams above its last stream id never reached the server and
 * are told REFUSED (sent again on a new connection); REFUSED_STREAM the
 * same.  An idle connection closes after timeouts.upstream_idle_ms.
 */
#include <pthread.h>
#include <stdio.h>
#include <strings.h>
#include <sys/queue.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>

#include "conn.h"
#include "http_parse.h"
#include "proxy.h"
#include "tls_up.h"
#include "upstream.h"

#define H2UP_MAGIC 0x4832c0deU
#define H2UP_WINDOW (256 * 1024)      /* a stream's window: what one response may hold here */
#define H2UP_CONN_WINDOW (16 * 1024 * 1024)
#define H2UP_MAX_NV (HTTP_MAX_HEADERS_HARD + 8)

struct h2ustream;

/* One HTTP/2 connection to a server. */
struct h2up {
	uint32_t magic;
	struct conn c;
	nghttp2_session *ng;
	struct worker *w;
	struct server *srv;
	uint64_t tls_gen;
	int nstreams;
	uint32_t max_streams;         /* the server's, until it says: 100 */
	int goaway;                   /* no new streams on it */
	int dead;                     /* failed or closing: freed with its last stream */
	int in_cb;
	int tls;
	struct h2up *next;            /* the worker's connections to srv */
	TAILQ_HEAD(, h2ustream) streams;
	struct event hs_timer;        /* TLS: connect and handshake within upstream_connect_ms */
	int hs_armed;
};

/* One request: the seam's upconn and what the stream needs. */
struct h2ustream {
	struct upconn u;              /* first: the exchange holds this */
	struct h2up *h;
	int32_t id;                   /* 0: not submitted yet */
	struct evbuffer *payload;     /* the request's DATA, unframed */
	enum body_kind req_kind;      /* the framing of what the codec writes to u->out */
	uint64_t req_left;
	struct http_chunked req_chunk;
	int req_end;                  /* all of the request's DATA is in payload */
	int deferred;                 /* the data provider waits for more */
	struct evbuffer *head;        /* the response head being built */
	int head_final;               /* a final head went to the exchange */
	int resp_chunked;             /* the body goes to u->in chunked */
	uint64_t unconsumed;          /* DATA bytes given to u->in, window not opened yet */
	struct evbuffer *trailers;    /* the server's trailers, as HTTP/1.1 lines */
	int closed;                   /* nghttp2 closed the stream */
	uint32_t close_code;
	int told;                     /* the exchange was told the end or a failure */
	struct event timer;           /* the response's time (timers, due) */
	struct timeval tv;            /* restarted by every frame of the response */
	int timing;
	TAILQ_ENTRY(h2ustream) link;  /* the connection's streams, while attached */
};

#define H2S(u) ((struct h2ustream *)(u))

static void h2up_free_conn(struct h2up *h);
static void h2up_kick(struct h2up *h);

/* ---- the worker's connections ------------------------------------------------ */

static struct h2up **
h2up_list(struct worker *w, struct server *srv)
{
	return (struct h2up **)&w->idle[srv->pool][srv->index].h2;
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
static void
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
		idle = clock_tv_ms(rt.cfg->t_upstream_idle_ms);
		conn_set_timeouts(&h->c, &idle, NULL);
	}
}

/* ---- telling the exchange ------------------------------------------------------- */

static void
h2up_fail(struct h2ustream *s, enum retry_failure f)
{
	if (s->told || s->u.ev == NULL)
		return;
	s->told = 1;
	s->u.ev->failed(s->u.arg, f);      /* the exchange lets go of s */
}

/* The response's time: restarted by every frame that comes. */
static void
h2up_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2ustream *s = arg;

	(void)fd;
	(void)what;
	s->timing = 0;
	/* a request that could not even be a stream never reached the server */
	h2up_fail(s, s->id < 0 ? RETRY_F_CONNECT : RETRY_F_TIMEOUT);
}

static void
h2up_timer_restart(struct h2ustream *s)
{
	if (s->timing)
		evtimer_add(&s->timer, &s->tv);
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

static struct h2ustream *
h2up_stream(nghttp2_session *ng, int32_t id)
{
	return id > 0 ? nghttp2_session_get_stream_user_data(ng, id) : NULL;
}

static int
h2up_begin_headers_cb(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct h2ustream *s = h2up_stream(ng, frame->hd.stream_id);

	(void)arg;
	if (s != NULL && s->head != NULL)
		evbuffer_drain(s->head, evbuffer_get_length(s->head));
	return 0;
}

static int
h2up_header_cb(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
    size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *arg)
{
	struct h2ustream *s = h2up_stream(ng, frame->hd.stream_id);
	struct evbuffer *b;

	(void)flags;
	(void)arg;
	if (s == NULL)
		return 0;
	h2up_timer_restart(s);
	if (s->head_final && frame->hd.type == NGHTTP2_HEADERS) {
		/* trailers: HTTP/1.1 trailer lines of the last chunk */
		if (nl == 0 || name[0] == ':')
			return 0;
		if (s->trailers == NULL && (s->trailers = evbuffer_new()) == NULL)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		b = s->trailers;
	} else {
		b = s->head;
		if (nl == 7 && memcmp(name, ":status", 7) == 0) {
			int st = 0;

			for (size_t i = 0; i < vl && i < 3; i++)
				st = st * 10 + (value[i] - '0');
			evbuffer_add_printf(b, "HTTP/1.1 %.*s %s\r\n", (int)vl, (const char *)value,
			    http_status_text(st));
			return 0;
		}
		if (nl == 0 || name[0] == ':')
			return 0;
	}
	evbuffer_add(b, name, nl);
	evbuffer_add(b, ": ", 2);
	evbuffer_add(b, value, vl);
	evbuffer_add(b, "\r\n", 2);
	return 0;
}

/* Whether the head built so far has a content-length line. */
static int
h2up_has_length(struct evbuffer *head)
{
	size_t len = evbuffer_get_length(head), i;
	const char *p = (const char *)evbuffer_pullup(head, (ssize_t)len);

	for (i = 0; i + 15 <= len; i++)
		if ((i == 0 || p[i - 1] == '\n') && strncasecmp(p + i, "content-length:", 15) == 0)
			return 1;
	return 0;
}

/* A whole response head: to the exchange as HTTP/1.1 (interim ones too);
 * a body of unknown length goes on chunked. */
static int
h2up_head_done(struct h2ustream *s, int end_stream)
{
	struct http_limits lim = { PROXY_RESP_HEAD_MAX, HTTP_MAX_HEADERS_HARD };
	struct http_msg *m = &s->u.w->msg;
	struct upstream_resp resp;
	size_t len;
	const char *p;
	int r, interim;

	len = evbuffer_get_length(s->head);
	p = (const char *)evbuffer_pullup(s->head, (ssize_t)(len < 13 ? len : 13));
	interim = len >= 10 && p[9] == '1' && !(len >= 12 && memcmp(p + 9, "101", 3) == 0);
	if (!interim && !h2up_has_length(s->head)) {
		if (end_stream)
			evbuffer_add(s->head, "content-length: 0\r\n", 19);
		else {
			evbuffer_add(s->head, "transfer-encoding: chunked\r\n", 28);
			s->resp_chunked = 1;
		}
	}
	evbuffer_add(s->head, "\r\n", 2);
	len = evbuffer_get_length(s->head);
	p = (const char *)evbuffer_pullup(s->head, (ssize_t)len);
	r = http_parse_response(p, len, &lim, m);
	if (r <= 0) {
		log_warn("server %s: an HTTP/2 response head that does not parse: %s",
		    s->u.srv->addr.text, r == HTTP_PARSE_ERROR ? m->error : "incomplete");
		if (!s->told) {
			s->told = 1;
			s->u.ev->bad(s->u.arg, "a response head that does not parse");
		}
		return -1;
	}
	resp.m = m;
	resp.raw = p;
	resp.keep = 1;
	resp.length = 0;
	resp.body = BODY_NONE;
	if (!interim) {
		s->head_final = 1;
		if (m->status == 101 || s->u.no_body || m->status == 204 || m->status == 304) {
			s->resp_chunked = 0;
		} else if (s->resp_chunked) {
			resp.body = BODY_CHUNKED;
		} else if (m->flags & HTTP_F_CONTENT_LENGTH) {
			resp.body = m->content_length > 0 ? BODY_LENGTH : BODY_NONE;
			resp.length = m->content_length;
		}
		s->u.in_body = 1;
	}
	if (s->u.ev->head(s->u.arg, &resp) == -1)
		return -1;      /* the exchange let go of s */
	evbuffer_drain(s->head, evbuffer_get_length(s->head));
	return 0;
}

/* Response body bytes the exchange may take, or the end: tell it. */
static int
h2up_body_ready(struct h2ustream *s)
{
	if (s->told)
		return -1;
	return s->u.ev->body(s->u.arg);
}

static int
h2up_frame_recv_cb(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct h2up *h = arg;
	struct h2ustream *s = h2up_stream(ng, frame->hd.stream_id);

	switch (frame->hd.type) {
	case NGHTTP2_SETTINGS:
		h->max_streams = nghttp2_session_get_remote_settings(ng,
		    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
		break;
	case NGHTTP2_GOAWAY:
		h->goaway = 1;
		break;
	case NGHTTP2_HEADERS:
		if (s == NULL || s->told)
			break;
		if (frame->headers.cat == NGHTTP2_HCAT_RESPONSE || !s->head_final) {
			if (h2up_head_done(s, frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == -1)
				break;
		}
		break;
	default:
		break;
	}
	return 0;
}

static int
h2up_data_cb(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
    void *arg)
{
	struct h2ustream *s = h2up_stream(ng, id);

	(void)flags;
	(void)arg;
	if (s == NULL || s->told || len == 0)
		return 0;
	h2up_timer_restart(s);
	if (s->resp_chunked)
		evbuffer_add_printf(s->u.in, "%zx\r\n", len);
	evbuffer_add(s->u.in, data, len);
	if (s->resp_chunked)
		evbuffer_add(s->u.in, "\r\n", 2);
	s->unconsumed += len;
	(void)h2up_body_ready(s);
	return 0;
}

static int
h2up_stream_close_cb(nghttp2_session *ng, int32_t id, uint32_t code, void *arg)
{
	struct h2ustream *s = h2up_stream(ng, id);

	(void)arg;
	if (s == NULL)
		return 0;
	nghttp2_session_set_stream_user_data(ng, id, NULL);
	s->closed = 1;
	s->close_code = code;
	h2up_detach(s);         /* the connection may go before s does */
	if (s->told)
		return 0;
	if (code == NGHTTP2_REFUSED_STREAM) {
		h2up_fail(s, RETRY_F_REFUSED);
		return 0;
	}
	if (code != NGHTTP2_NO_ERROR || !s->head_final) {
		log_debug("server %s: HTTP/2 stream %d closed (%s)%s", s->u.srv->addr.text, (int)id,
		    nghttp2_http2_strerror(code), s->head_final ? "" : " before its response head");
		h2up_fail(s, RETRY_F_RESET);
		return 0;
	}
	/* the response's end: the last chunk with the trailers */
	if (s->resp_chunked) {
		evbuffer_add(s->u.in, "0\r\n", 3);
		if (s->trailers != NULL)
			evbuffer_add_buffer(s->u.in, s->trailers);
		evbuffer_add(s->u.in, "\r\n", 2);
	}
	s->u.eof = 1;
	(void)h2up_body_ready(s);
	return 0;
}

/* The request's DATA as the codec's bytes come (NGHTTP2_ERR_DEFERRED until
 * they do). */
static ssize_t
h2up_read_cb(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
    nghttp2_data_source *src, void *arg)
{
	struct h2ustream *s = src->ptr;
	size_t n = evbuffer_get_length(s->payload);

	(void)ng;
	(void)id;
	(void)arg;
	if (n == 0 && !s->req_end) {
		s->deferred = 1;
		return NGHTTP2_ERR_DEFERRED;
	}
	if (n > len)
		n = len;
	evbuffer_remove(s->payload, buf, n);
	if (s->req_end && evbuffer_get_length(s->payload) == 0)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
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
			nghttp2_session_callbacks_set_on_frame_recv_callback(h2up_callbacks,
			    h2up_frame_recv_cb);
			nghttp2_session_callbacks_set_on_data_chunk_recv_callback(h2up_callbacks,
			    h2up_data_cb);
			nghttp2_session_callbacks_set_on_stream_close_callback(h2up_callbacks,
			    h2up_stream_close_cb);
			/* windows open as clients take the bytes */
			nghttp2_option_set_no_auto_window_update(h2up_options, 1);
		}
	}
	pthread_mutex_unlock(&h2up_lock);
	return rv;
}

/* Everything nghttp2 has to send, then out. */
static void
h2up_kick(struct h2up *h)
{
	if (h->dead || h->in_cb)
		return;
	h->in_cb = 1;
	if (nghttp2_session_send(h->ng) != 0)
		h->dead = 1;
	h->in_cb = 0;
	conn_flush(&h->c);
}

/* The connection failed: every stream is told, then it goes. */
static void
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

static void
h2up_readcb(struct conn *c, void *arg)
{
	struct h2up *h = arg;
	size_t len = evbuffer_get_length(c->in);
	ssize_t r;

	h->in_cb = 1;
	r = nghttp2_session_mem_recv(h->ng, evbuffer_pullup(c->in, (ssize_t)len), len);
	h->in_cb = 0;
	if (r < 0) {
		log_warn("server %s: HTTP/2: %s", h->srv->addr.text, nghttp2_strerror((int)r));
		h2up_conn_failed(h, RETRY_F_RESET);
		return;
	}
	evbuffer_drain(c->in, (size_t)r);
	h2up_kick(h);
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
			log_warn("server %s (%s): TLS handshake chose no h2 (ALPN %.*s)",
			    h->srv->addr.text, pool_names[h->srv->pool], (int)n, n ? (const char *)p :
			    "none");
			h2up_conn_failed(h, RETRY_F_CONNECT);
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

static struct h2up *
h2up_connect(struct worker *w, struct server *srv, char *err, size_t errlen)
{
	const struct config_addr *a = &srv->addr;
	const struct tls_up *t = atomic_load_explicit(&rt.up_tls[srv->pool], memory_order_acquire);
	struct timeval cto = clock_tv_ms(rt.cfg->t_upstream_connect_ms);
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2UP_WINDOW },
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
	if (nghttp2_session_client_new2(&h->ng, h2up_callbacks, h, h2up_options) != 0) {
		free(h);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (conn_connect(&h->c, w->base, (const struct sockaddr *)&a->ss, a->len, &cto) == -1) {
		snprintf(err, errlen, "cannot connect to %s: %s", a->text, strerror(errno));
		nghttp2_session_del(h->ng);
		free(h);
		return NULL;
	}
	if (t != NULL) {
		SSL *ssl = tls_up_ssl(t, a->text, err, errlen);

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
	if (t == NULL)
		h2up_kick(h);
	return h;
}

/* ---- the seam ------------------------------------------------------------------------ */

struct upconn *
upstream_h2_get(struct worker *w, struct server *srv, int fresh, char *err, size_t errlen)
{
	const struct tls_up *t = atomic_load_explicit(&rt.up_tls[srv->pool], memory_order_acquire);
	uint64_t gen = t != NULL ? t->gen : 0;
	struct h2ustream *s;
	struct h2up *h;

	for (h = fresh ? NULL : *h2up_list(w, srv); h != NULL; h = h->next)
		if (!h->dead && !h->goaway && h->tls_gen == gen &&
		    (uint32_t)h->nstreams < h->max_streams)
			break;
	if (h == NULL && (h = h2up_connect(w, srv, err, errlen)) == NULL)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL || (s->u.in = evbuffer_new()) == NULL ||
	    (s->u.out = evbuffer_new()) == NULL || (s->payload = evbuffer_new()) == NULL ||
	    (s->head = evbuffer_new()) == NULL) {
		if (s != NULL) {
			if (s->u.in != NULL)
				evbuffer_free(s->u.in);
			if (s->u.out != NULL)
				evbuffer_free(s->u.out);
			if (s->payload != NULL)
				evbuffer_free(s->payload);
			free(s);
		}
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->u.proto = &upstream_h2;
	s->u.w = w;
	s->u.srv = srv;
	s->u.c.fd = -1;
	s->h = h;
	h->nstreams++;
	TAILQ_INSERT_TAIL(&h->streams, s, link);
	conn_set_timeouts(&h->c, NULL, NULL);    /* busy: the streams keep time */
	evtimer_assign(&s->timer, w->base, h2up_timer_cb, s);
	return &s->u;
}

static void
h2up_attach(struct upconn *u, const struct upstream_events *ev, void *arg)
{
	u->ev = ev;
	u->arg = arg;
}

static void
h2up_send_head(struct upconn *u, const char *head, size_t len, int no_body)
{
	struct h2ustream *s = H2S(u);
	struct http_limits lim = { len, HTTP_MAX_HEADERS_HARD };
	struct http_msg *m = &u->w->msg;
	nghttp2_nv nva[H2UP_MAX_NV];
	nghttp2_data_provider prd;
	size_t n = 0, i;
	char *sp = u->w->scratch;
	int32_t id;

	u->no_body = no_body;
	if (s->h == NULL || s->h->dead || http_parse_request(head, len, &lim, m) <= 0) {
		s->id = -1;
		return;         /* push tells the failure */
	}
#define NVX(nm, nl, v, vl) (nghttp2_nv){ (uint8_t *)(nm), (uint8_t *)(v), (nl), (vl), \
	NGHTTP2_NV_FLAG_NONE }
	nva[n++] = NVX(":method", 7, m->method, m->method_len);
	nva[n++] = NVX(":scheme", 7, s->h->tls ? "https" : "http", s->h->tls ? 5 : 4);
	nva[n++] = NVX(":authority", 10, m->host != NULL ? m->host : u->srv->addr.text,
	    m->host != NULL ? m->host_len : strlen(u->srv->addr.text));
	nva[n++] = NVX(":path", 5, m->target, m->target_len);
	/* bgproxy takes trailers (gRPC servers want to be told: RFC 9113
	 * 8.2.2 lets TE say only this) */
	nva[n++] = NVX("te", 2, "trailers", 8);
	for (i = 0; i < m->nhdr && n < H2UP_MAX_NV; i++) {
		const struct http_header *f = &m->hdr[i];

		/* what HTTP/2 carries elsewhere or forbids (RFC 9113 8.2.2) */
		if ((f->flags & HTTP_HDR_HOP) || http_token_eq(f->name, f->name_len, "host") ||
		    http_token_eq(f->name, f->name_len, "transfer-encoding") ||
		    http_token_eq(f->name, f->name_len, "connection") ||
		    http_token_eq(f->name, f->name_len, "upgrade"))
			continue;
		if (http_token_eq(f->name, f->name_len, "te"))
			continue;
		/* names in lower case (RFC 9113 8.2.1), into the worker's scratch:
		 * nghttp2 copies them at submit */
		if (sp + f->name_len > u->w->scratch + sizeof(u->w->scratch))
			break;
		for (size_t k = 0; k < f->name_len; k++)
			sp[k] = f->name[k] >= 'A' && f->name[k] <= 'Z' ? (char)(f->name[k] + 32) :
			    f->name[k];
		nva[n++] = NVX(sp, f->name_len, f->value, f->value_len);
		sp += f->name_len;
	}
	if (m->flags & HTTP_F_CHUNKED) {
		s->req_kind = BODY_CHUNKED;
		http_chunked_init(&s->req_chunk);
	} else if ((m->flags & HTTP_F_CONTENT_LENGTH) && m->content_length > 0) {
		s->req_kind = BODY_LENGTH;
		s->req_left = m->content_length;
	} else {
		s->req_kind = BODY_NONE;
		s->req_end = 1;
	}
	prd.source.ptr = s;
	prd.read_callback = h2up_read_cb;
	id = nghttp2_submit_request(s->h->ng, NULL, nva, n, s->req_kind == BODY_NONE ? NULL : &prd,
	    s);
	s->id = id > 0 ? id : -1;
}

/* The request body the codec wrote (framed as its head said) into DATA. */
static void
h2up_take_body(struct h2ustream *s)
{
	struct evbuffer *out = s->u.out;
	size_t n;

	if (s->req_end) {
		evbuffer_drain(out, evbuffer_get_length(out));
		return;
	}
	if (s->req_kind == BODY_LENGTH) {
		n = evbuffer_get_length(out);
		if (n > s->req_left)
			n = (size_t)s->req_left;
		evbuffer_remove_buffer(out, s->payload, n);
		s->req_left -= n;
		s->req_end = s->req_left == 0;
	} else if (s->req_kind == BODY_CHUNKED) {
		uint64_t moved = 0;
		int r = body_unframe(out, s->payload, BODY_CHUNKED, NULL, &s->req_chunk, &moved, SIZE_MAX,
		    NULL, NULL);

		/* the client's trailers are not passed on (gRPC clients send none) */
		if (r != 0)
			s->req_end = 1;
	}
	if (s->deferred && (evbuffer_get_length(s->payload) > 0 || s->req_end)) {
		s->deferred = 0;
		nghttp2_session_resume_data(s->h->ng, s->id);
	}
}

static size_t
h2up_push(struct upconn *u, int hold)
{
	struct h2ustream *s = H2S(u);

	(void)hold;
	if (s->h == NULL || s->id < 0) {
		if (!s->told && s->u.ev != NULL) {
			/* no stream: the exchange hears it at the next turn, not
			 * under its own call (the timer, at once) */
			struct timeval now = { 0, 0 };

			evtimer_add(&s->timer, &now);
		}
		return 0;
	}
	h2up_take_body(s);
	h2up_kick(s->h);
	return evbuffer_get_length(u->out) + evbuffer_get_length(s->payload);
}

static size_t
h2up_pending(const struct upconn *u)
{
	const struct h2ustream *s = (const struct h2ustream *)u;

	return evbuffer_get_length(u->out) + evbuffer_get_length(s->payload);
}

/* Open the stream's window by what the client took of the response. */
static void
h2up_consume(struct h2ustream *s)
{
	size_t left = evbuffer_get_length(s->u.in);
	uint64_t take;

	if (s->h == NULL || s->closed || s->unconsumed <= left)
		return;
	take = s->unconsumed - left;
	s->unconsumed -= take;
	nghttp2_session_consume(s->h->ng, s->id, (size_t)take);
	h2up_kick(s->h);
}

static void
h2up_read(struct upconn *u, int on)
{
	if (on)
		h2up_consume(H2S(u));
}

static void
h2up_shutdown(struct upconn *u)
{
	(void)u;        /* no tunnels over HTTP/2 to servers */
}

static void
h2up_timers(struct upconn *u, enum upstream_timers which)
{
	struct h2ustream *s = H2S(u);

	if (which == UPSTREAM_T_WAITING) {
		s->tv = clock_tv_ms(rt.cfg->t_upstream_response_ms);
		s->timing = 1;
		evtimer_add(&s->timer, &s->tv);
	} else if (s->timing) {
		evtimer_del(&s->timer);
		s->timing = 0;
	}
}

static void
h2up_due(struct upconn *u, uint64_t us)
{
	struct h2ustream *s = H2S(u);

	s->tv.tv_sec = (time_t)(us / 1000000);
	s->tv.tv_usec = (suseconds_t)(us % 1000000);
	s->timing = 1;
	evtimer_add(&s->timer, &s->tv);
}

static void
h2up_tunnel(struct upconn *u)
{
	(void)u;
}

/* The exchange is done with u.  whole: its response came whole and its
 * request went whole (nghttp2 closes the stream with the END_STREAM it is
 * reading); else the server is told to stop (RST_STREAM CANCEL). */
static void
h2up_release_stream(struct upconn *u, int whole)
{
	struct h2ustream *s = H2S(u);
	struct h2up *h = s->h;

	evtimer_del(&s->timer);
	if (h != NULL && !s->closed && s->id > 0) {
		nghttp2_session_set_stream_user_data(h->ng, s->id, NULL);
		/* resetting a stream that is ending anyway would only spend the
		 * server's budget of resets (a rapid-reset guard closes on it) */
		if (!whole)
			nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
	}
	h2up_detach(s);
	if (h != NULL)
		h2up_kick(h);
	if (u->slot) {
		u->slot = 0;
		upstream_slot_give(u->w, u->srv);
	}
	evbuffer_free(u->in);
	evbuffer_free(u->out);
	evbuffer_free(s->payload);
	evbuffer_free(s->head);
	if (s->trailers != NULL)
		evbuffer_free(s->trailers);
	free(s);
}

static void
h2up_free_stream(struct upconn *u)
{
	h2up_release_stream(u, 0);
}

static void
h2up_done(struct upconn *u, int clean)
{
	/* the connection goes on either way */
	h2up_release_stream(u, clean && H2S(u)->req_end);
}

const struct upstream_proto upstream_h2 = {
	.name = "h2",
	.framed = 1,
	.attach = h2up_attach,
	.send_head = h2up_send_head,
	.push = h2up_push,
	.pending = h2up_pending,
	.read = h2up_read,
	.shutdown = h2up_shutdown,
	.timers = h2up_timers,
	.due = h2up_due,
	.tunnel = h2up_tunnel,
	.done = h2up_done,
	.free = h2up_free_stream,
};

/* At a worker's end: its HTTP/2 connections to servers go. */
void
upstream_h2_free_all(struct worker *w)
{
	int p, i;

	for (p = 0; p < CONFIG_POOLS; p++)
		for (i = 0; i < CONFIG_MAX_SERVERS; i++) {
			struct h2up *h;

			while ((h = w->idle[p][i].h2) != NULL)
				h2up_conn_failed(h, RETRY_F_RESET);
		}
}
