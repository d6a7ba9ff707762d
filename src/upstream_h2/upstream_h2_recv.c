/*
 * upstream_h2_recv.c - HTTP/2 to servers, what comes from the server
 * (see upstream_h2.c): nghttp2's receiving callbacks, the response head
 * built as HTTP/1.1, DATA chunked into the stream's input, the streams'
 * ends and failures told to the exchange, and the request's DATA provider.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "h2_head.h"
#include "upstream_h2_int.h"

static int h2up_body_ready(struct h2ustream *s);

/* ---- telling the exchange ------------------------------------------------------- */

void
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

static struct h2ustream *
h2up_stream(nghttp2_session *ng, int32_t id)
{
	return id > 0 ? nghttp2_session_get_stream_user_data(ng, id) : NULL;
}

int
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

int
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
int
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

int
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

int
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

int
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

int
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

