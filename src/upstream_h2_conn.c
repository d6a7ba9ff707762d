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

#include "h2_head.h"
#include "h2mem.h"
#include "tls_up.h"
#include "upstream_h2_int.h"

static void h2up_free_conn(struct h2up *h);
static int h2up_body_ready(struct h2ustream *s);

/* ---- the worker's connections ------------------------------------------------ */

struct h2up **
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
void
h2up_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2ustream *s = arg;

	(void)fd;
	(void)what;
	if (s->timing && !s->fixed && s->id > 0) {
		/* restarted by activity since it was armed: the rest of its time */
		uint64_t now = proxy_coarse_us(), idle = now - s->last_us;
		uint64_t span = (uint64_t)s->tv.tv_sec * 1000000 + (uint64_t)s->tv.tv_usec;

		if (idle < span) {
			struct timeval rest = { (time_t)((span - idle) / 1000000),
				(suseconds_t)((span - idle) % 1000000) };

			evtimer_add(&s->timer, &rest);
			return;
		}
	}
	s->timing = 0;
	if (s->fail_why != NULL && !s->told && s->u.ev != NULL) {
		/* a request this server cannot take */
		log_warn("server %s (%s): %s", s->u.srv->addr.text, pool_names[s->u.srv->pool],
		    s->fail_why);
		s->told = 1;
		s->u.ev->bad(s->u.arg, s->fail_why);
		return;
	}
	/* a request that could not even be a stream never reached the server */
	h2up_fail(s, s->id < 0 ? RETRY_F_CONNECT : RETRY_F_TIMEOUT);
}

/* Activity: the timer, when it fires, counts from now (no event_add per
 * frame). */
static void
h2up_timer_restart(struct h2ustream *s)
{
	if (s->timing && !s->fixed)
		s->last_us = proxy_coarse_us();
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
	struct h2up *h = arg;
	struct h2ustream *s = h2up_stream(ng, frame->hd.stream_id);

	/* header blocks never interleave (RFC 9113 6.10): one buffer per
	 * connection holds the one being read */
	h->hlen = 0;
	h->hover = 0;
	if (s != NULL) {
		h2up_timer_restart(s);          /* once per header block */
		if (!s->head_final)
			s->has_length = 0;
	}
	return 0;
}

/* Bytes of the response head being built; one too many for
 * PROXY_RESP_HEAD_MAX marks it too large (judged at its end). */
static void
h2up_hadd(struct h2up *h, const void *p, size_t n)
{
	if (h->hlen + n > h->hcap) {
		size_t cap = h->hcap * 2 > h->hlen + n ? h->hcap * 2 : h->hlen + n;
		char *q;

		if (h->hlen + n > PROXY_RESP_HEAD_MAX + 1 || (q = realloc(h->hbuf, cap)) == NULL) {
			h->hover = 1;
			return;
		}
		h->hbuf = q;
		h->hcap = cap;
	}
	memcpy(h->hbuf + h->hlen, p, n);
	h->hlen += n;
}

/* "name: value\r\n" into the head. */
static void
h2up_head_line(struct h2up *h, const uint8_t *name, size_t nl, const uint8_t *value, size_t vl)
{
	if (h->hlen + nl + vl + 4 > h->hcap) {
		h2up_hadd(h, name, nl);
		h2up_hadd(h, ": ", 2);
		h2up_hadd(h, value, vl);
		h2up_hadd(h, "\r\n", 2);
		return;
	}
	memcpy(h->hbuf + h->hlen, name, nl);
	h->hbuf[h->hlen + nl] = ':';
	h->hbuf[h->hlen + nl + 1] = ' ';
	memcpy(h->hbuf + h->hlen + nl + 2, value, vl);
	h->hbuf[h->hlen + nl + 2 + vl] = '\r';
	h->hbuf[h->hlen + nl + 3 + vl] = '\n';
	h->hlen += nl + vl + 4;
}

/* "name: value\r\n" in one append. */
static void
h2up_add_line(struct evbuffer *b, const uint8_t *name, size_t nl, const uint8_t *value,
    size_t vl)
{
	char line[512];

	if (nl + vl + 4 > sizeof(line)) {
		evbuffer_add(b, name, nl);
		evbuffer_add(b, ": ", 2);
		evbuffer_add(b, value, vl);
		evbuffer_add(b, "\r\n", 2);
		return;
	}
	memcpy(line, name, nl);
	line[nl] = ':';
	line[nl + 1] = ' ';
	memcpy(line + nl + 2, value, vl);
	line[nl + 2 + vl] = '\r';
	line[nl + 3 + vl] = '\n';
	evbuffer_add(b, line, nl + vl + 4);
}

static int
h2up_header_cb(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
    size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *arg)
{
	struct h2up *h = arg;
	struct h2ustream *s = h2up_stream(ng, frame->hd.stream_id);

	(void)flags;
	if (s == NULL)
		return 0;
	if (s->head_final && frame->hd.type == NGHTTP2_HEADERS) {
		/* trailers: HTTP/1.1 trailer lines of the last chunk */
		if (nl == 0 || name[0] == ':')
			return 0;
		if (s->trailers == NULL && (s->trailers = evbuffer_new()) == NULL)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		/* as large as a head may be, no larger: else the stream is reset */
		if (evbuffer_get_length(s->trailers) + nl + vl + 4 > PROXY_RESP_HEAD_MAX)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		h2up_add_line(s->trailers, name, nl, value, vl);
		return 0;
	} else {
		if (nl == 7 && memcmp(name, ":status", 7) == 0) {
			char line[160];
			int st = 0, n;

			/* nghttp2 checked it: three digits */
			for (size_t i = 0; i < vl && i < 3; i++)
				st = st * 10 + (value[i] - '0');
			s->status = st;
			if (s->ws && st == 200) {
				/* the extended CONNECT took: the 101 an HTTP/1.1
				 * client (or the HTTP/2 codec) expects */
				s->ws_open = 1;
				n = snprintf(line, sizeof(line), "HTTP/1.1 101 Switching Protocols\r\n"
				    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
				    "Sec-WebSocket-Accept: %s\r\n", s->ws_accept);
			} else {
				/* "HTTP/1.1 NNN reason\r\n", without printf */
				const char *text = http_status_text(st);
				size_t tl = strlen(text);

				memcpy(line, "HTTP/1.1 ", 9);
				line[9] = (char)('0' + st / 100 % 10);
				line[10] = (char)('0' + st / 10 % 10);
				line[11] = (char)('0' + st % 10);
				line[12] = ' ';
				if (tl > sizeof(line) - 15)
					tl = sizeof(line) - 15;
				memcpy(line + 13, text, tl);
				memcpy(line + 13 + tl, "\r\n", 2);
				n = (int)(15 + tl);
			}
			h2up_hadd(h, line, n > 0 && (size_t)n < sizeof(line) ? (size_t)n : 0);
			return 0;
		}
		if (nl == 0 || name[0] == ':')
			return 0;
		/* nghttp2 gives names in lower case; a client that takes trailers
		 * gets the body chunked, its length left out (nghttp2 still
		 * holds the server to it), so that trailers find a way */
		if (nl == 14 && memcmp(name, "content-length", 14) == 0) {
			/* (a 304's or a 204's length says no body follows) */
			if (s->want_trailers && !s->head_final && s->status != 304 &&
			    s->status != 204)
				return 0;
			s->has_length = 1;
		}
	}
	h2up_head_line(h, name, nl, value, vl);
	return 0;
}

/* A field nghttp2 refused in a server's head (connection-specific, upper
 * case, a bad value...): the stream is reset; the log names the field. */
static int
h2up_invalid_header_cb(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
    size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *arg)
{
	struct h2up *h = arg;
	struct h2ustream *s = h2up_stream(ng, frame->hd.stream_id);
	char shown[64];
	size_t i, n = nl < sizeof(shown) - 1 ? nl : sizeof(shown) - 1;

	if (s != NULL)
		s->bad_field = 1;       /* a protocol error of the server, not a reset */
	(void)value;
	(void)vl;
	(void)flags;
	for (i = 0; i < n; i++)         /* it goes to a log line */
		shown[i] = name[i] >= 0x21 && name[i] < 0x7f ? (char)name[i] : '?';
	shown[n] = '\0';
	log_warn("server %s (%s): an HTTP/2 response field refused on stream %d: \"%s\" "
	    "(not valid in HTTP/2)", h->srv->addr.text, pool_names[h->srv->pool],
	    (int)frame->hd.stream_id, shown);
	return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;     /* RST_STREAM, as nghttp2 would */
}

/* A whole response head: to the exchange as HTTP/1.1 (interim ones too);
 * a body of unknown length goes on chunked. */
static int
h2up_head_done(struct h2ustream *s, int end_stream)
{
	struct http_limits lim = { PROXY_RESP_HEAD_MAX, HTTP_MAX_HEADERS_HARD };
	struct http_msg *m = &s->u.w->msg;
	struct upstream_resp resp;
	struct h2up *h = s->h;
	const char *p = h->hbuf;
	size_t len = h->hlen;
	int r, interim;

	interim = len >= 10 && p[9] == '1' && !(len >= 12 && memcmp(p + 9, "101", 3) == 0);
	/* framing for the HTTP/1.1 view, where the status allows a body */
	if (!interim && !s->has_length && !s->ws_open && !s->u.no_body && s->status != 204 &&
	    s->status != 304) {
		if (end_stream)
			h2up_hadd(h, "content-length: 0\r\n", 19);
		else {
			h2up_hadd(h, "transfer-encoding: chunked\r\n", 28);
			s->resp_chunked = 1;
		}
	}
	h2up_hadd(h, "\r\n", 2);
	p = h->hbuf;
	len = h->hlen;
	r = h->hover ? HTTP_PARSE_ERROR : http_parse_response(p, len, &lim, m);
	if (h->hover)
		m->error = "a head larger than 64 KiB";
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
	h->hlen = 0;
	/* a final head goes to the client now, not with the first DATA (a
	 * gRPC stream's head, a tunnel's 101), as from an HTTP/1.1 server */
	if (!interim && !end_stream)
		return h2up_body_ready(s) == -1 ? -1 : 0;
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
		if (!h->settings_seen && !(frame->hd.flags & NGHTTP2_FLAG_ACK))
			h2up_settings_seen(h);
		break;
	case NGHTTP2_GOAWAY:
		h->goaway = 1;
		break;
	case NGHTTP2_HEADERS:
		if (s == NULL || s->told)
			break;
		if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
			s->resp_ended = 1;
		if (frame->headers.cat == NGHTTP2_HCAT_RESPONSE || !s->head_final) {
			if (h2up_head_done(s, frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == -1)
				break;
		}
		break;
	case NGHTTP2_DATA:
		if (s != NULL && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
			s->resp_ended = 1;
		break;
	default:
		break;
	}
	return 0;
}

static int
h2up_frame_send_cb(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct h2ustream *s;

	(void)arg;
	if (frame->hd.type != NGHTTP2_DATA || (s = h2up_stream(ng, frame->hd.stream_id)) == NULL)
		return 0;
	/* the server's window let bytes go: it is alive */
	if (s->sending)
		h2up_timer_restart(s);
	/* room for more of the client's bytes: told from the loop */
	if (s->payload != NULL && evbuffer_get_length(s->payload) < PROXY_BUF_HIGH)
		s->want_room = 1;
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
	if (s->resp_chunked) {
		char hex[24];
		int n = snprintf(hex, sizeof(hex), "%zx\r\n", len);

		evbuffer_add(s->u.in, hex, (size_t)n);
	}
	evbuffer_add(s->u.in, data, len);
	if (s->resp_chunked)
		evbuffer_add(s->u.in, "\r\n", 2);
	s->unconsumed += len;
	if (h2up_body_ready(s) == 0 && s->ws_open)
		h2up_consume(s);        /* a tunnel reads on while its client takes bytes */
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
	/* a connection whose server refuses its only stream is not kept (a
	 * server that refuses everything would pile them up) */
	if (code == NGHTTP2_REFUSED_STREAM && s->h != NULL && s->h->nstreams == 1)
		s->h->goaway = 1;
	h2up_detach(s);         /* the connection may go before s does */
	if (s->told)
		return 0;
	if (code == NGHTTP2_REFUSED_STREAM) {
		h2up_fail(s, RETRY_F_REFUSED);
		return 0;
	}
	/* a head nghttp2 refused (a field HTTP/2 forbids: connection-specific,
	 * upper case, a bad value or length), or that the server called a
	 * protocol error: the server's protocol error, not a reset */
	if ((s->bad_field || code == NGHTTP2_PROTOCOL_ERROR) && !s->head_final && s->u.ev != NULL) {
		if (!s->bad_field)
			log_warn("server %s (%s): HTTP/2 stream %d: its response head broke HTTP/2 "
			    "(a field or value not valid in HTTP/2, or the server's PROTOCOL_ERROR)",
			    s->u.srv->addr.text, pool_names[s->u.srv->pool], (int)id);
		s->told = 1;
		s->u.ev->bad(s->u.arg, "a response head not valid in HTTP/2");
		return 0;
	}
	/* a response ends with END_STREAM: a reset, even NO_ERROR (RFC 9113
	 * 8.1), before it cuts the response */
	if (code != NGHTTP2_NO_ERROR || !s->head_final || (!s->resp_ended && !s->ws_open)) {
		log_debug("server %s: HTTP/2 stream %d closed (%s)%s", s->u.srv->addr.text, (int)id,
		    nghttp2_http2_strerror(code), !s->head_final ? " before its response head" :
		    !s->resp_ended ? " before its response ended" : "");
		h2up_fail(s, RETRY_F_RESET);
		return 0;
	}
	if (s->ws_open) {
		/* the tunnel's end: what the server sent goes on, then it ends */
		s->u.eof = 1;
		if (h2up_body_ready(s) == 0)
			h2up_fail(s, RETRY_F_CLOSED);
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

/* The client's trailers as a trailing HEADERS (it ends the stream);
 * -1: none. */
static int
h2up_submit_trailers(nghttp2_session *ng, struct h2ustream *s)
{
	struct h2_field f[64];
	nghttp2_nv nva[64];
	size_t n, i, len;
	char *p;

	if (s->req_trailers == NULL || (len = evbuffer_get_length(s->req_trailers)) == 0)
		return -1;
	p = (char *)evbuffer_pullup(s->req_trailers, -1);
	n = p != NULL ? h2_lines_fields(p, len, f, 64) : 0;
	for (i = 0; i < n; i++)
		nva[i] = (nghttp2_nv){ (uint8_t *)f[i].name, (uint8_t *)f[i].value, f[i].name_len,
		    f[i].value_len, NGHTTP2_NV_FLAG_NONE };
	if (n == 0)
		return -1;
	/* nghttp2 copies the fields: the buffer may go */
	return nghttp2_submit_trailer(ng, s->id, nva, n) == 0 ? 0 : -1;
}

/* The request's DATA as the codec's bytes come (NGHTTP2_ERR_DEFERRED until
 * they do). */
ssize_t
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
	if (s->req_end && evbuffer_get_length(s->payload) == 0) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		if (h2up_submit_trailers(ng, s) == 0)
			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
	}
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
	const struct tls_up *t = atomic_load_explicit(&rt.up_tls[srv->pool], memory_order_acquire);
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

