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
#include <stdio.h>
#include <sys/queue.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "conn.h"
#include "http_parse.h"
#include "proxy.h"
#include "tls_up.h"
#include "upstream.h"
#include "upstream_h2_int.h"

/* ---- the seam ------------------------------------------------------------------------ */

struct upconn *
upstream_h2_get(struct worker *w, struct server *srv, int fresh, char *err, size_t errlen)
{
	const struct tls_up *t = atomic_load_explicit(&srv->svc->up_tls[srv->pool], memory_order_acquire);
	uint64_t gen = t != NULL ? t->gen : 0;
	struct h2ustream *s;
	struct h2up *h;

	for (h = fresh ? NULL : *h2up_list(w, srv); h != NULL; h = h->next)
		if (!h->dead && !h->goaway && h->tls_gen == gen &&
		    (uint32_t)h->nstreams < h->max_streams)
			break;
	if (h == NULL && (h = h2up_connect(w, srv, err, errlen)) == NULL)
		return NULL;
	if ((s = w->h2up_spare) != NULL) {
		/* a kept one: its buffers are empty, the rest starts over */
		struct evbuffer *in = s->u.in, *out = s->u.out;

		w->h2up_spare = s->spare_next;
		w->h2up_nspare--;
		memset(s, 0, sizeof(*s));
		s->u.in = in;
		s->u.out = out;
	} else if ((s = calloc(1, sizeof(*s))) == NULL || (s->u.in = evbuffer_new()) == NULL ||
	    (s->u.out = evbuffer_new()) == NULL) {
		if (s != NULL) {
			if (s->u.in != NULL)
				evbuffer_free(s->u.in);
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

/* Sec-WebSocket-Accept for a client's key (RFC 6455 4.2.2): what an
 * HTTP/1.1 client checks in the 101 that an HTTP/2 server's 200 becomes. */
static int
h2up_ws_accept(const char *key, size_t len, char out[29])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char md[SHA_DIGEST_LENGTH];
	char buf[128 + sizeof(guid)];

	if (len == 0 || len > 128)
		return -1;
	memcpy(buf, key, len);
	memcpy(buf + len, guid, sizeof(guid) - 1);
	if (EVP_Digest(buf, len + sizeof(guid) - 1, md, NULL, EVP_sha1(), NULL) != 1)
		return -1;
	return EVP_EncodeBlock((unsigned char *)out, md, sizeof(md)) == 28 ? 0 : -1;
}

/* The parts of a request head HTTP/2 needs. */
struct h2up_req {
	const char *method, *target, *host, *ws_key;
	size_t method_len, target_len, host_len, ws_key_len;
	int chunked, ws;
	int has_length;
	uint64_t length;
};

/* name (n bytes) is lit, in any case */
static int
h2up_is(const char *name, size_t n, const char *lit, size_t ln)
{
	return n == ln && strncasecmp(name, lit, n) == 0;
}

/*
 * The head the exchange wrote (http_rewrite_request: the request line,
 * lines the strict parser accepted, bgproxy's own) split into its fields,
 * without validating it again: names lowered into out[], what HTTP/2
 * carries elsewhere or forbids (RFC 9113 8.2.2) left out, the framing and
 * the host noted in r.  Returns the number of fields, -1 when the head is
 * not one bgproxy writes.
 */
static long
h2up_split(const char *p, size_t len, struct h2up_req *r, nghttp2_nv *out, size_t max,
    char *lower, size_t lower_len)
{
	const char *end = p + len, *eol, *sp, *colon;
	size_t n = 0, used = 0;

	memset(r, 0, sizeof(*r));
	/* METHOD SP target SP HTTP/1.x CRLF */
	if ((eol = memchr(p, '\n', len)) == NULL || (sp = memchr(p, ' ', (size_t)(eol - p))) == NULL)
		return -1;
	r->method = p;
	r->method_len = (size_t)(sp - p);
	r->target = sp + 1;
	if ((sp = memchr(r->target, ' ', (size_t)(eol - r->target))) == NULL)
		return -1;
	r->target_len = (size_t)(sp - r->target);
	for (p = eol + 1; p < end && *p != '\r' && *p != '\n'; p = eol + 1) {
		const char *v, *ve;
		size_t nl, k;

		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL ||
		    (colon = memchr(p, ':', (size_t)(eol - p))) == NULL)
			return -1;
		nl = (size_t)(colon - p);
		for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = eol; ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			;
		switch (nl) {
		case 2:
			if (h2up_is(p, nl, "te", 2))
				continue;
			break;
		case 4:
			if (h2up_is(p, nl, "host", 4)) {
				if (r->host == NULL) {
					r->host = v;
					r->host_len = (size_t)(ve - v);
				}
				continue;
			}
			break;
		case 7:
			if (h2up_is(p, nl, "upgrade", 7)) {
				r->ws = h2up_is(v, (size_t)(ve - v), "websocket", 9);
				continue;
			}
			break;
		case 10:
			if (h2up_is(p, nl, "connection", 10) || h2up_is(p, nl, "keep-alive", 10))
				continue;
			break;
		case 14:
			if (h2up_is(p, nl, "content-length", 14)) {
				const char *d;

				r->has_length = 1;
				for (r->length = 0, d = v; d < ve && *d >= '0' && *d <= '9'; d++)
					r->length = r->length * 10 + (uint64_t)(*d - '0');
			}
			break;
		case 16:
			if (h2up_is(p, nl, "proxy-connection", 16))
				continue;
			break;
		case 17:
			if (h2up_is(p, nl, "transfer-encoding", 17)) {
				/* the strict parser took it: chunked is its last coding */
				r->chunked = 1;
				continue;
			}
			if (h2up_is(p, nl, "sec-websocket-key", 17)) {
				r->ws_key = v;
				r->ws_key_len = (size_t)(ve - v);
			}
			break;
		default:
			break;
		}
		if (n == max || used + nl > lower_len)
			return -1;
		/* names in lower case (RFC 9113 8.2.1) */
		for (k = 0; k < nl; k++)
			lower[used + k] = p[k] >= 'A' && p[k] <= 'Z' ? (char)(p[k] + 32) : p[k];
		out[n++] = (nghttp2_nv){ (uint8_t *)lower + used, (uint8_t *)v, nl, (size_t)(ve - v),
			/* a new value each time: kept out of the table */
			nl == 12 && memcmp(lower + used, "x-request-id", 12) == 0 ?
			    NGHTTP2_NV_FLAG_NO_INDEX : NGHTTP2_NV_FLAG_NONE };
		used += nl;
	}
	return (long)n;
}

/* The request as a stream: HEADERS (and a data provider for its body, or
 * for a WebSocket's bytes: an extended CONNECT, RFC 8441). */
static void
h2up_submit(struct h2ustream *s, const char *head, size_t len)
{
	struct upconn *u = &s->u;
	nghttp2_nv nva[H2UP_MAX_NV];
	nghttp2_data_provider prd;
	struct h2up_req r;
	size_t n = 0, i;
	long nf;
	int32_t id;

	s->id = -1;             /* push tells a failure */
	/* the pseudo-headers first, the fields after them */
	nf = h2up_split(head, len, &r, nva + 6, H2UP_MAX_NV - 6, u->w->scratch,
	    sizeof(u->w->scratch));
	if (nf < 0)
		return;
	if (r.ws && nghttp2_session_get_remote_settings(s->h->ng,
	    NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) != 1) {
		s->fail_why = "the server does not take WebSocket over HTTP/2 "
		    "(no SETTINGS_ENABLE_CONNECT_PROTOCOL)";
		return;
	}
#define NVX(nm, nl, v, vl) (nghttp2_nv){ (uint8_t *)(nm), (uint8_t *)(v), (nl), (vl), \
	NGHTTP2_NV_FLAG_NONE }
	if (r.ws) {
		nva[n++] = NVX(":method", 7, "CONNECT", 7);
		nva[n++] = NVX(":protocol", 9, "websocket", 9);
	} else {
		nva[n++] = NVX(":method", 7, r.method, r.method_len);
	}
	nva[n++] = NVX(":scheme", 7, s->h->tls ? "https" : "http", s->h->tls ? 5 : 4);
	nva[n++] = NVX(":authority", 10, r.host != NULL ? r.host : u->srv->addr.text,
	    r.host != NULL ? r.host_len : strlen(u->srv->addr.text));
	nva[n++] = NVX(":path", 5, r.target, r.target_len);
	/* bgproxy takes trailers (gRPC servers want to be told: RFC 9113
	 * 8.2.2 lets TE say only this) */
	if (!r.ws)
		nva[n++] = NVX("te", 2, "trailers", 8);
	/* the fields, moved up behind the pseudo-headers */
	for (i = 0; i < (size_t)nf; i++) {
		if (r.ws && nva[6 + i].namelen == 17 &&
		    memcmp(nva[6 + i].name, "sec-websocket-key", 17) == 0)
			continue;       /* not sent over HTTP/2 (RFC 8441 5) */
		nva[n++] = nva[6 + i];
	}
	if (r.ws) {
		/* the accept the client checks is made here */
		if (r.ws_key == NULL || h2up_ws_accept(r.ws_key, r.ws_key_len, s->ws_accept) == -1) {
			s->fail_why = "a WebSocket request without a usable Sec-WebSocket-Key";
			return;
		}
		s->ws = 1;
		s->req_kind = BODY_UNTIL_CLOSE;     /* the tunnel's bytes, until a half-close */
	} else if (r.chunked) {
		s->req_kind = BODY_CHUNKED;
		http_chunked_init(&s->req_chunk);
	} else if (r.has_length && r.length > 0) {
		s->req_kind = BODY_LENGTH;
		s->req_left = r.length;
	} else {
		s->req_kind = BODY_NONE;
		s->req_end = 1;
	}
	/* the DATA's buffer only for a request with a body */
	if (s->req_kind != BODY_NONE && (s->payload = evbuffer_new()) == NULL)
		return;
	prd.source.ptr = s;
	prd.read_callback = h2up_read_cb;
	id = nghttp2_submit_request(s->h->ng, NULL, nva, n, s->req_kind == BODY_NONE ? NULL : &prd,
	    s);
	s->id = id > 0 ? id : -1;
}

static void
h2up_send_head(struct upconn *u, const char *head, size_t len, unsigned flags)
{
	struct h2ustream *s = H2S(u);

	u->no_body = (flags & UPSTREAM_NO_BODY) != 0;
	/* an answer with a length and trailers reaches such a client chunked */
	s->want_trailers = (flags & UPSTREAM_TRAILERS) && !u->no_body;
	if (s->h == NULL || s->h->dead) {
		s->id = -1;
		return;
	}
	/* a WebSocket (the rewrite's own Upgrade line says it) needs the
	 * server's SETTINGS (may it take an extended CONNECT?): on a new
	 * connection its head waits for them */
	if (!s->h->settings_seen && memmem(head, len, "\r\nUpgrade: websocket\r\n", 22) != NULL &&
	    (s->held = malloc(len)) != NULL) {
		memcpy(s->held, head, len);
		s->held_len = len;
		return;
	}
	h2up_submit(s, head, len);
}

/* The server's first SETTINGS came: the heads that waited for them go. */
void
h2up_settings_seen(struct h2up *h)
{
	struct h2ustream *s;

	h->settings_seen = 1;
	TAILQ_FOREACH(s, &h->streams, link) {
		if (s->held == NULL)
			continue;
		h2up_submit(s, s->held, s->held_len);
		free(s->held);
		s->held = NULL;
		if (s->id < 0 && !s->told) {
			struct timeval now = { 0, 0 };

			evtimer_add(&s->timer, &now);   /* told from the loop */
		}
	}
}

/* A byte of the client's trailer section: kept for a trailing HEADERS. */
static void
h2up_req_trailer(void *arg, const char *p, size_t n)
{
	struct h2ustream *s = arg;

	if (s->req_trailers == NULL && (s->req_trailers = evbuffer_new()) == NULL)
		return;
	evbuffer_add(s->req_trailers, p, n);
}

/* The request body the codec wrote (framed as its head said) into DATA. */
static void
h2up_take_body(struct h2ustream *s)
{
	struct evbuffer *out = s->u.out;
	size_t n;

	if (s->req_end || s->payload == NULL) {
		if (s->held == NULL)    /* (a held head's bytes wait for it) */
			evbuffer_drain(out, evbuffer_get_length(out));
		return;
	}
	if (s->req_kind == BODY_UNTIL_CLOSE) {
		evbuffer_add_buffer(s->payload, out);   /* a tunnel's bytes as they are */
	} else if (s->req_kind == BODY_LENGTH) {
		n = evbuffer_get_length(out);
		if (n > s->req_left)
			n = (size_t)s->req_left;
		evbuffer_remove_buffer(out, s->payload, n);
		s->req_left -= n;
		s->req_end = s->req_left == 0;
	} else if (s->req_kind == BODY_CHUNKED) {
		uint64_t moved = 0;
		int r = body_unframe(out, s->payload, BODY_CHUNKED, NULL, &s->req_chunk, &moved, SIZE_MAX,
		    h2up_req_trailer, s);

		if (r != 0)
			s->req_end = 1;
	}
	if (s->deferred && s->id > 0 && (evbuffer_get_length(s->payload) > 0 || s->req_end)) {
		s->deferred = 0;
		nghttp2_session_resume_data(s->h->ng, s->id);
	}
}

static size_t
h2up_pending(const struct upconn *u)
{
	const struct h2ustream *s = (const struct h2ustream *)u;

	return evbuffer_get_length(u->out) + (s->payload != NULL ?
	    evbuffer_get_length(s->payload) : 0);
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
	h2up_send_timer(s);
	return h2up_pending(u);
}


/* Open the stream's window by what the client took of the response. */
void
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

/* The client half-closed its tunnel: END_STREAM after its last bytes. */
static void
h2up_shutdown(struct upconn *u)
{
	struct h2ustream *s = H2S(u);

	if (s->req_kind != BODY_UNTIL_CLOSE || s->req_end || s->h == NULL || s->id <= 0)
		return;
	s->req_end = 1;
	if (s->deferred) {
		s->deferred = 0;
		nghttp2_session_resume_data(s->h->ng, s->id);
	}
	h2up_kick(s->h);
}

/* The stream's timer: tv from now; fixed, a deadline activity does not
 * move (else h2up_timer_restart's activity does). */
static void
h2up_timer_arm(struct h2ustream *s, struct timeval tv, int fixed)
{
	s->tv = tv;
	s->fixed = fixed;
	s->timing = 1;
	s->last_us = proxy_coarse_us();
	evtimer_add(&s->timer, &tv);
}

static void
h2up_timers(struct upconn *u, enum upstream_timers which)
{
	struct h2ustream *s = H2S(u);

	s->sending = which == UPSTREAM_T_SENDING;
	if (which == UPSTREAM_T_WAITING) {
		h2up_timer_arm(s, clock_tv_ms(rt.cfg->t_upstream_response_ms), 0);
	} else if (which == UPSTREAM_T_SENDING) {
		h2up_send_timer(s);
	} else if (s->timing) {
		evtimer_del(&s->timer);
		s->timing = 0;
	}
}

/* While the body goes, a server is timed only when bytes wait for its
 * window (a slow client is not the server's fault): upstream_response_ms,
 * restarted by every DATA frame that leaves (h2up_frame_send_cb). */
void
h2up_send_timer(struct h2ustream *s)
{
	if (!s->sending || s->told)
		return;
	if (h2up_pending(&s->u) > 0) {
		if (!s->timing)
			h2up_timer_arm(s, clock_tv_ms(rt.cfg->t_upstream_response_ms), 0);
	} else if (s->timing) {
		evtimer_del(&s->timer);
		s->timing = 0;
	}
}

static void
h2up_due(struct upconn *u, uint64_t us)
{
	struct timeval tv = { (time_t)(us / 1000000), (suseconds_t)(us % 1000000) };

	/* a deadline: frames before it do not move it */
	h2up_timer_arm(H2S(u), tv, 1);
}

/* After the 101 (the server's 200 to an extended CONNECT): no timers, as
 * for any tunnel. */
static void
h2up_tunnel(struct upconn *u)
{
	struct h2ustream *s = H2S(u);

	u->tunnel = 1;
	s->sending = 0;
	if (s->timing) {
		evtimer_del(&s->timer);
		s->timing = 0;
	}
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
	if (s->payload != NULL)
		evbuffer_free(s->payload);
	if (s->trailers != NULL)
		evbuffer_free(s->trailers);
	if (s->req_trailers != NULL)
		evbuffer_free(s->req_trailers);
	free(s->held);
	/* kept for the next request, a bounded few per worker */
	if (u->w->h2up_nspare < H2UP_SPARE) {
		struct worker *w = u->w;

		evbuffer_drain(u->in, evbuffer_get_length(u->in));
		evbuffer_drain(u->out, evbuffer_get_length(u->out));
		s->spare_next = w->h2up_spare;
		w->h2up_spare = s;
		w->h2up_nspare++;
		return;
	}
	evbuffer_free(u->in);
	evbuffer_free(u->out);
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

/* The worker's HTTP/2 connections to one server go: idle ones now, busy
 * ones once their streams are over (no new stream on them; a GOAWAY tells
 * the server). */
void
upstream_h2_drain(struct worker *w, struct server *srv)
{
	struct h2up *h = w->idle[srv->slot].h2, *next;

	for (; h != NULL; h = next) {
		next = h->next;
		if (h->nstreams == 0) {
			/* a GOAWAY says it, best effort, then the connection goes */
			if (!h->dead && nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE,
			    nghttp2_session_get_last_proc_stream_id(h->ng), NGHTTP2_NO_ERROR, NULL,
			    0) == 0 && nghttp2_session_send(h->ng) == 0)
				conn_flush(&h->c);
			h2up_conn_failed(h, RETRY_F_CLOSED);
		} else if (!h->goaway) {
			h->goaway = 1;
			(void)nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE,
			    nghttp2_session_get_last_proc_stream_id(h->ng), NGHTTP2_NO_ERROR, NULL, 0);
			h2up_kick(h);
		}
	}
}

/* At a worker's end: its HTTP/2 connections to servers go. */
void
upstream_h2_free_all(struct worker *w)
{
	int i, n = atomic_load(&rt.nsrvs);
	struct h2up *h;

	for (i = 0; w->idle != NULL && i < n; i++)
		while ((h = w->idle[i].h2) != NULL)
			h2up_conn_failed(h, RETRY_F_RESET);
	while (w->h2up_spare != NULL) {
		struct h2ustream *s = w->h2up_spare;

		w->h2up_spare = s->spare_next;
		evbuffer_free(s->u.in);
		evbuffer_free(s->u.out);
		free(s);
	}
	w->h2up_nspare = 0;
}
