/*
 * h2_stream.c - one HTTP/2 stream as an exchange: its header list into
 * the HTTP/1.1 head the server gets (h2_head.c, then the strict parser),
 * DATA frames into the request body, the server's response into HEADERS,
 * DATA and trailers, and the codec (struct exchange_ops) its exchange
 * talks through.
 *
 * Flow control follows the server: a stream's receive window opens only
 * by the bytes the server's connection took (nghttp2_session_consume_
 * stream), so a slow server closes the client's window instead of filling
 * our memory; the response goes out with nghttp2's deferred data, at most
 * PROXY_RESP_HIGH bytes waiting per stream, the server read again as the
 * client's window lets them go.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "conn.h"
#include "h2_head.h"
#include "h2_int.h"
#include "http_parse.h"
#include "http_reply.h"
#include "http_rewrite.h"
#include "proxy.h"
#include "stats.h"
#include "upstream.h"

#define EX_STREAM(ex) ((struct h2stream *)(ex)->owner)
#define H2_MAX_NV (HTTP_MAX_HEADERS_HARD + 8)

static const struct exchange_ops h2_ops;

/* A stream: a spare one of the connection's (its buffers kept), or new. */
struct h2stream *
h2_stream_new(struct h2conn *h, int32_t id)
{
	struct h2stream *st = TAILQ_FIRST(&h->spare);

	if (st != NULL) {
		struct evbuffer *rq = st->reqbuf, *rs = st->respbuf;
		char *fbuf = st->fbuf;
		size_t fcap = st->fcap, fldcap = st->fldcap;
		struct h2_fld *fld = st->fld;

		TAILQ_REMOVE(&h->spare, st, link);
		h->nspare--;
		memset(st, 0, sizeof(*st));
		st->reqbuf = rq;
		st->respbuf = rs;
		st->fbuf = fbuf;
		st->fcap = fcap;
		st->fld = fld;
		st->fldcap = fldcap;
	} else {
		if ((st = calloc(1, sizeof(*st))) == NULL)
			return NULL;
		st->reqbuf = evbuffer_new();
		st->respbuf = evbuffer_new();
		if (st->reqbuf == NULL || st->respbuf == NULL) {
			h2_stream_release(st);
			return NULL;
		}
	}
	st->h = h;
	st->id = id;
	exchange_init(&st->ex, h->w, h->peer, &h2_ops, st);
	st->ex.proto = STATS_PROTO_H2;
	st->ex.t_start = proxy_now_us();
	st->ex_live = 1;
	st->body_due_us = 0;
	return st;
}

/* The memory of a stream, for good. */
void
h2_stream_release(struct h2stream *st)
{
	if (st->reqbuf != NULL)
		evbuffer_free(st->reqbuf);
	if (st->respbuf != NULL)
		evbuffer_free(st->respbuf);
	free(st->fbuf);
	free(st->fld);
	free(st);
}

/* A stream is over: its exchange released; kept as a spare (buffers
 * emptied, small header storage kept) or freed. */
void
h2_stream_free(struct h2stream *st)
{
	struct h2conn *h = st->h;

	st->body_due_us = 0;
	if (st->ex_live)
		exchange_release(&st->ex);
	if (st->trailers != NULL)
		evbuffer_free(st->trailers);
	if (st->req_trailers != NULL)
		evbuffer_free(st->req_trailers);
	st->trailers = st->req_trailers = NULL;
	if (h->nspare < H2_SPARE_MAX && st->fcap <= 4096 && st->fldcap <= 64) {
		evbuffer_drain(st->reqbuf, evbuffer_get_length(st->reqbuf));
		evbuffer_drain(st->respbuf, evbuffer_get_length(st->respbuf));
		TAILQ_INSERT_HEAD(&h->spare, st, link);
		h->nspare++;
		return;
	}
	h2_stream_release(st);
}

void
h2_stream_kill(struct h2stream *st, int rst, uint32_t code, const char *why)
{
	struct h2conn *h = st->h;

	if (h2s_closed(st))
		return;
	log_debug("h2 %p stream %d: %s", (void *)h, (int)st->id, why);
	/* until nghttp2 closes the stream (our RST sent) it may still call the
	 * data provider: the stream stays allocated until then */
	if (rst && nghttp2_session_find_stream(h->ng, st->id) != NULL) {
		st->wait_close = 1;
		if (nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, st->id, code) != 0) {
			/* out of memory: the stream would never close; the
			 * connection ends and frees it */
			h->why = "out of memory for RST_STREAM";
			h2_end_set(h, H2_END_NOW);
		}
	} else {
		nghttp2_session_set_stream_user_data(h->ng, st->id, NULL);
	}
	st->body_due_us = 0;
	if (st->ex_live) {
		exchange_release(&st->ex);
		st->ex_live = 0;
	}
	h2s_set(st, H2S_FINISHED);
	h2_stream_dead(st);
}

static const char *const h2s_phase_names[H2S_PHASES] = { "headers", "ready", "forwarded",
	"finished", "closed" };

void
h2s_set(struct h2stream *st, enum h2s_phase to)
{
	if ((int)to < 0 || to >= H2S_PHASES) {
		log_error("h2 stream %d: invalid state change %s -> %d", (int)st->id,
		    h2s_phase_names[st->phase], (int)to);
		return;
	}
	if (to <= st->phase)
		return;
	log_debug("h2 stream %d: %s -> %s", (int)st->id, h2s_phase_names[st->phase],
	    h2s_phase_names[to]);
	st->phase = to;
}

int
h2_stream_has_pending(const struct h2stream *st)
{
	return st->resp_submitted && (evbuffer_get_length(st->respbuf) > 0 || st->resp_eof);
}

/* More response bytes (or their end) for a stream nghttp2 put aside. */
static void
h2_stream_resume(struct h2stream *st)
{
	if (st->deferred && st->resp_submitted && !h2s_closed(st)) {
		st->deferred = 0;
		nghttp2_session_resume_data(st->h->ng, st->id);
	}
	h2_kick(st->h);
}

/* ---- the request body ---------------------------------------------------- */

void
h2_stream_data(struct h2stream *st, const uint8_t *p, size_t n)
{
	if (h2s_finished(st) || (st->ex.req_done && !st->tunnel)) {
		/* nobody takes it: the window opens again at once */
		nghttp2_session_consume_stream(st->h->ng, st->id, n);
		return;
	}
	evbuffer_add(st->reqbuf, p, n);
	if (h2s_started(st))
		h2_todo(st, H2_TODO_PUMP);
}

void
h2_stream_end(struct h2stream *st)
{
	st->req_end = 1;
	if (h2s_started(st))
		h2_todo(st, H2_TODO_PUMP);
}

/* Tunnel: the client's DATA to the server, as the server takes it. */
static void
h2_tunnel_up(struct h2stream *st)
{
	struct upconn *up = st->ex.up;
	size_t pending, n;

	/* again while the socket takes it all: its write callback comes only
	 * when it could not */
	while ((n = evbuffer_get_length(st->reqbuf)) > 0 &&
	    (pending = upstream_pending(up)) < H2_UP_OUT_MAX) {
		if (n > H2_UP_OUT_MAX - pending)
			n = H2_UP_OUT_MAX - pending;
		evbuffer_remove_buffer(st->reqbuf, up->out, n);
		nghttp2_session_consume_stream(st->h->ng, st->id, n);
		h2_kick(st->h);
		(void)upstream_push(up, 0);
	}
	/* the client's end goes on once its last bytes are out (the server's
	 * write callback, tunnel_room, comes back here when they are) */
	if (upstream_push(up, 0) == 0 && st->req_end && evbuffer_get_length(st->reqbuf) == 0 &&
	    !st->up_shut) {
		st->up_shut = 1;
		up->proto->shutdown(up);     /* the server's close ends the tunnel */
	}
}

/* The server has room: move request body bytes up (framed as the head
 * said: Content-Length, or chunked with the client's trailers at the end). */
static int h2_req_move(struct exchange *ex, struct upconn *up);

/* Again while the server's socket takes everything: its write callback
 * comes only when it could not, and the client's window opens only by what
 * moved. */
static int
h2_req_body(struct exchange *ex, struct upconn *up)
{
	struct h2stream *st = EX_STREAM(ex);
	int r;

	do {
		r = h2_req_move(ex, up);
	} while (r == 0 && evbuffer_get_length(st->reqbuf) > 0 &&
	    upstream_pending(up) < H2_UP_OUT_MAX);
	return r;
}

static int
h2_req_move(struct exchange *ex, struct upconn *up)
{
	struct h2stream *st = EX_STREAM(ex);
	size_t pending = upstream_pending(up), n = evbuffer_get_length(st->reqbuf);
	size_t before = evbuffer_get_length(up->out);
	int done = 0;

	if (pending < H2_UP_OUT_MAX && n > H2_UP_OUT_MAX - pending)
		n = H2_UP_OUT_MAX - pending;
	else if (pending >= H2_UP_OUT_MAX)
		n = 0;
	if (ex->req_body == BODY_LENGTH) {
		if (n > ex->req_left)
			n = (size_t)ex->req_left;
		evbuffer_remove_buffer(st->reqbuf, up->out, n);
		ex->req_left -= n;
		done = ex->req_left == 0;
		if (!done && st->req_end && evbuffer_get_length(st->reqbuf) == 0) {
			/* nghttp2 checks content-length against the DATA: a bug */
			ex->req_error = "a request body shorter than its content-length";
			return -1;
		}
	} else {
		if (n > 0) {
			evbuffer_add_printf(up->out, "%zx\r\n", n);
			evbuffer_remove_buffer(st->reqbuf, up->out, n);
			evbuffer_add(up->out, "\r\n", 2);
		}
		if (st->req_end && evbuffer_get_length(st->reqbuf) == 0) {
			evbuffer_add(up->out, "0\r\n", 3);
			if (st->req_trailers != NULL)
				evbuffer_add_buffer(up->out, st->req_trailers);
			evbuffer_add(up->out, "\r\n", 2);
			done = 1;
		}
	}
	if (n > 0) {
		nghttp2_session_consume_stream(st->h->ng, st->id, n);
		h2_kick(st->h);
	}
	/* shadow traffic's copy of the body, as the server gets it */
	body_tee_take(&ex->mirror_tee, up->out, before);
	(void)upstream_push(up, 0);
	return done;
}

static void
h2_req_flow(struct exchange *ex, int more)
{
	struct h2stream *st = EX_STREAM(ex);

	/* the client's time runs only while we wait for it: with its bytes
	 * still held here, the server is the one that is slow (its window
	 * opens only as they move) */
	if (more && !st->req_end && evbuffer_get_length(st->reqbuf) == 0) {
		st->body_due_us = proxy_now_us() + (uint64_t)rt.cfg->t_client_body_ms * 1000;
		h2_tick_by(st->h, st->body_due_us);
	} else {
		st->body_due_us = 0;
	}
}

static void
h2_req_sent(struct exchange *ex)
{
	struct h2stream *st = EX_STREAM(ex);

	st->body_due_us = 0;
}

/* ---- the loop's work for a stream ------------------------------------------ */

void
h2_stream_run(struct h2stream *st, unsigned what)
{
	struct exchange *ex = &st->ex;

	if (h2s_closed(st))
		return;
	if (what & H2_TODO_START) {
		h2s_set(st, H2S_FORWARDED);
		if (exchange_forward(ex) == -1 || h2s_closed(st))
			return;
	}
	if ((what & H2_TODO_PUMP) && !h2s_finished(st) && ex->up != NULL) {
		if (ex->state == EX_TUNNEL)
			h2_tunnel_up(st);
		else if (!ex->req_done)
			exchange_pump_request(ex);
		if (h2s_closed(st))
			return;
	}
	if ((what & H2_TODO_RESUME) && !h2s_finished(st))
		exchange_resume_response(ex);
}

/* Our END_STREAM went out while the client still sends: it may stop
 * (RFC 9113 8.1: RST_STREAM NO_ERROR after a complete response). */
void
h2_stream_sent_end(struct h2stream *st)
{
	if (!st->req_end)
		nghttp2_submit_rst_stream(st->h->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
}

/* ---- the response ---------------------------------------------------------- */

#define NV(n, nl, v, vl) ((nghttp2_nv){ (uint8_t *)(n), (uint8_t *)(v), (nl), (vl), \
	NGHTTP2_NV_FLAG_NONE })
#define NV_LIT(n, v, vl) NV(n, sizeof(n) - 1, v, vl)

/* A field name as HTTP/2 writes it, in lower case, into dst (n bytes). */
static void
h2_lower(char *dst, const char *src, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++)
		dst[k] = (char)(src[k] >= 'A' && src[k] <= 'Z' ? src[k] + 32 : src[k]);
}

/* Trailer lines of a chunked response ("Name: value" CRLF ..., CRLF) as
 * HTTP/2 trailers (names in lower case), submitted after the last DATA. */
static int
h2_submit_trailers(struct h2stream *st)
{
	struct h2_field f[64];
	nghttp2_nv nva[64];
	size_t n, i, len = evbuffer_get_length(st->trailers);
	char *p = (char *)evbuffer_pullup(st->trailers, -1);

	n = p != NULL ? h2_lines_fields(p, len, f, 64) : 0;
	for (i = 0; i < n; i++)
		nva[i] = NV(f[i].name, f[i].name_len, f[i].value, f[i].value_len);
	if (n == 0)
		return -1;
	return nghttp2_submit_trailer(st->h->ng, st->id, nva, n) == 0 ? 0 : -1;
}

ssize_t
h2_stream_read_cb(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
    uint32_t *flags, nghttp2_data_source *source, void *arg)
{
	struct h2stream *st = source->ptr;
	size_t avail = evbuffer_get_length(st->respbuf), n = avail < length ? avail : length;

	(void)ng;
	(void)id;
	(void)buf;
	(void)arg;
	if (h2s_closed(st))
		return NGHTTP2_ERR_DEFERRED;  /* reset by us: the RST ends it */
	if (n == 0 && !st->resp_eof) {
		st->deferred = 1;
		return NGHTTP2_ERR_DEFERRED;
	}
	*flags |= NGHTTP2_DATA_FLAG_NO_COPY;
	if (st->resp_eof && n == avail) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		if (st->trailers != NULL && evbuffer_get_length(st->trailers) > 2 &&
		    h2_submit_trailers(st) == 0)
			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
	}
	return (ssize_t)n;
}

int
h2_stream_send_data(struct h2stream *st, const uint8_t *framehd, size_t length)
{
	struct evbuffer *out = st->h->cc->out;

	if (evbuffer_add(out, framehd, 9) != 0 ||
	    evbuffer_remove_buffer(st->respbuf, out, length) != (int)length)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if (!h2s_finished(st) && evbuffer_get_length(st->respbuf) < PROXY_RESP_HIGH)
		h2_todo(st, H2_TODO_RESUME);
	return 0;
}

/* A response head for the client: interim ones as non-final HEADERS, a
 * 101 to an extended CONNECT as 200 (RFC 8441), hop-by-hop fields and
 * framing left out, names in lower case; our cookie and pool header as
 * over HTTP/1.1 (http_rewrite.c). */
static void
h2_resp_head(struct exchange *ex, const struct http_msg *m, const char *raw)
{
	struct h2stream *st = EX_STREAM(ex);
	struct h2conn *h = st->h;
	char *sp = ex->w->scratch, status[8];
	int interim = m->status < 200 && m->status != 101, rv, code;
	size_t n = 0, i, len;
	/* the same rule as an HTTP/1.1 client's head (http_rewrite.c) */
	struct http_rewrite_resp rs = {
		.cookie = ex->set_cookie ? service_cfg(ex->svc)->cookie : NULL,
		.cookie_len = ex->set_cookie ? strlen(service_cfg(ex->svc)->cookie) : 0,
		.key = ex->key, .key_len = ROUTE_KEY_LEN,
		.pool = service_cfg(ex->svc)->expose_header ? pool_names[ex->pool] : NULL, .h2 = 1,
	};
	nghttp2_nv nva[H2_MAX_NV];
	nghttp2_data_provider prd = { .source.ptr = st, .read_callback = h2_stream_read_cb };

	(void)raw;
	code = m->status == 101 ? 200 :
	    /* RFC 8441: a 2xx opens the tunnel; a server that ignored the
	     * upgrade and answered 2xx did not open one */
	    st->tunnel && m->status >= 200 && m->status < 300 ? 502 : m->status;
	if (code != m->status && code == 502)
		ex->resp_status = 502;      /* logged and counted as what the client got */
	status[0] = (char)('0' + code / 100 % 10);
	status[1] = (char)('0' + code / 10 % 10);
	status[2] = (char)('0' + code % 10);
	status[3] = '\0';
	nva[n++] = NV_LIT(":status", status, strlen(status));
	for (i = 0; i < m->nhdr && n < H2_MAX_NV - 3; i++) {
		const struct http_header *hd = &m->hdr[i];

		if (!http_rewrite_resp_keep(m, hd, &rs))
			continue;
		h2_lower(sp, hd->name, hd->name_len);
		nva[n++] = NV(sp, hd->name_len, hd->value, hd->value_len);
		sp += hd->name_len;
	}
	if (!interim && (len = http_rewrite_set_cookie(&rs, sp)) > 0) {
		nva[n++] = NV_LIT("set-cookie", sp, len);
		sp += len;
	}
	if (!interim && rs.pool != NULL)
		nva[n++] = NV_LIT("x-bgproxy-pool", rs.pool, strlen(rs.pool));
	if (interim) {
		rv = nghttp2_submit_headers(h->ng, NGHTTP2_FLAG_NONE, st->id, NULL, nva, n, NULL);
	} else {
		rv = nghttp2_submit_response(h->ng, st->id, nva, n,
		    ex->resp_body == BODY_NONE && m->status != 101 ? NULL : &prd);
		st->resp_submitted = rv == 0;
	}
	if (rv != 0)
		log_debug("h2 stream %d: response head: %s", (int)st->id, nghttp2_strerror(rv));
	h2_kick(h);
}

static void
h2_resp_trailer(void *arg, const char *p, size_t n)
{
	struct h2stream *st = arg;

	if (st->trailers == NULL && (st->trailers = evbuffer_new()) == NULL)
		return;
	evbuffer_add(st->trailers, p, n);
}

/* gRPC's verdict comes in the trailers: the whole section is here. */
static void
h2_resp_grpc_status(struct h2stream *st)
{
	size_t len = evbuffer_get_length(st->trailers), i, start = 0;
	const char *p = (const char *)evbuffer_pullup(st->trailers, (ssize_t)len);
	int code;

	for (i = 0; p != NULL && i < len; i++) {
		if (p[i] != '\n')
			continue;
		if ((code = http_grpc_status_line(p + start, i + 1 - start)) >= 0)
			st->ex.grpc_status = code;
		start = i + 1;
	}
}

/* The server's body bytes into the stream's DATA, without their HTTP/1.1
 * framing (the trailers kept for HEADERS), up to PROXY_RESP_HIGH waiting. */
static int
h2_resp_body(struct exchange *ex, struct upconn *up, int all)
{
	struct h2stream *st = EX_STREAM(ex);
	size_t high = all ? SIZE_MAX : PROXY_RESP_HIGH, before = evbuffer_get_length(st->respbuf);
	uint64_t moved = 0;
	int r;

	r = body_unframe(up->in, st->respbuf, ex->resp_body, &ex->resp_left, &ex->resp_chunk,
	    &moved, high, h2_resp_trailer, st);
	ex->resp_bytes += moved;
	if (r == -1)
		return -1;
	if (r == 1 && st->trailers != NULL)
		h2_resp_grpc_status(st);
	if (r == 1 || evbuffer_get_length(st->respbuf) != before)
		h2_stream_resume(st);
	return r;
}

static int
h2_resp_full(struct exchange *ex)
{
	return evbuffer_get_length(EX_STREAM(ex)->respbuf) >= PROXY_RESP_HIGH;
}

/* ---- tunnels (WebSocket over extended CONNECT) ------------------------------ */

static void
h2_tunnel_start(struct exchange *ex)
{
	h2_todo(EX_STREAM(ex), H2_TODO_PUMP);
}

static void
h2_tunnel_down(struct exchange *ex, struct upconn *up)
{
	struct h2stream *st = EX_STREAM(ex);

	evbuffer_add_buffer(st->respbuf, up->in);
	if (evbuffer_get_length(st->respbuf) >= PROXY_RESP_HIGH)
		upstream_read(up, 0);      /* resumed as DATA frames take it */
	h2_stream_resume(st);
}

static void
h2_tunnel_room(struct exchange *ex)
{
	h2_todo(EX_STREAM(ex), H2_TODO_PUMP);
}

/* ---- answers of our own, the end --------------------------------------------- */

/*
 * Our own answer to a gRPC client: what gRPC clients understand, HTTP 200
 * with the gRPC status in a trailers-only HEADERS (503, 502, 504:
 * UNAVAILABLE; see http_grpc_for_status) and why in grpc-message (our
 * reasons are plain ASCII; a % would be escaped).
 */
static int
h2_reply_grpc(struct exchange *ex, int status, const char *why)
{
	struct h2stream *st = EX_STREAM(ex);
	struct h2conn *h = st->h;
	char code[8], msg[256];
	size_t n = 0;
	int g = http_grpc_for_status(status);
	nghttp2_nv nva[4];

	snprintf(code, sizeof(code), "%d", g);
	for (const char *p = why; *p != '\0' && n + 4 < sizeof(msg); p++) {
		unsigned char c = (unsigned char)*p;

		if (c >= 0x20 && c < 0x7f && c != '%') {
			msg[n++] = (char)c;
		} else {
			snprintf(msg + n, 4, "%%%02X", c);
			n += 3;
		}
	}
	msg[n] = '\0';
	nva[0] = NV_LIT(":status", "200", 3);
	nva[1] = NV_LIT("content-type", "application/grpc", 16);
	nva[2] = NV_LIT("grpc-status", code, strlen(code));
	nva[3] = NV_LIT("grpc-message", msg, n);
	if (nghttp2_submit_response(h->ng, st->id, nva, 4, NULL) != 0) {
		h2_stream_kill(st, 1, NGHTTP2_INTERNAL_ERROR, "cannot submit a response");
		return -1;
	}
	st->resp_submitted = 1;
	st->replied = 1;
	ex->grpc_status = g;
	exchange_replied(ex, 200);
	h2_kick(h);
	return 0;
}

static int
h2_reply(struct exchange *ex, int status, const char *why)
{
	struct h2stream *st = EX_STREAM(ex);
	struct h2conn *h = st->h;
	char body[512], len[24], *sp = ex->w->scratch;
	size_t blen, n = 0;
	int i;
	nghttp2_nv nva[HTTP_REPLY_NFIELDS + 2];
	nghttp2_data_provider prd = { .source.ptr = st, .read_callback = h2_stream_read_cb };

	if (ex->resp_started || st->resp_submitted) {
		/* a response had begun: nothing to answer with but a reset */
		h2_stream_kill(st, 1, NGHTTP2_INTERNAL_ERROR, why);
		return -1;
	}
	log_debug("reply %d to %s stream %d: %s", status, h->peer->addr, (int)st->id, why);
	if (ex->grpc)
		return h2_reply_grpc(ex, status, why);
	/* the reply an HTTP/1.1 client gets (http_reply.c), as a field list */
	blen = http_reply_body(status, NULL, body, sizeof(body));
	snprintf(len, sizeof(len), "%zu", blen);
	snprintf(sp, 8, "%d", status);
	nva[n++] = NV_LIT(":status", sp, strlen(sp));
	sp += 8;
	for (i = 0; i < HTTP_REPLY_NFIELDS; i++) {
		const char *nm = http_reply_fields[i].name;
		size_t nl = strlen(nm);

		h2_lower(sp, nm, nl);
		nva[n++] = NV(sp, nl, http_reply_fields[i].value, strlen(http_reply_fields[i].value));
		sp += nl;
	}
	nva[n++] = NV_LIT("content-length", len, strlen(len));
	evbuffer_drain(st->respbuf, evbuffer_get_length(st->respbuf));
	evbuffer_add(st->respbuf, body, blen);
	st->resp_eof = 1;
	if (nghttp2_submit_response(h->ng, st->id, nva, n, ex->req_method == HTTP_M_HEAD ? NULL :
	    &prd) != 0) {
		h2_stream_kill(st, 1, NGHTTP2_INTERNAL_ERROR, "cannot submit a response");
		return -1;
	}
	st->resp_submitted = 1;
	st->replied = 1;
	exchange_replied(ex, status);
	h2_kick(h);
	return 0;
}

static void
h2_close_after(struct exchange *ex, const char *why)
{
	/* the connection carries other streams: only this one ends */
	(void)ex;
	(void)why;
}

static void
h2_finish(struct exchange *ex)
{
	struct h2stream *st = EX_STREAM(ex);

	h2s_set(st, H2S_FINISHED);
	st->body_due_us = 0;
	if (!st->resp_submitted) {
		h2_stream_kill(st, 1, NGHTTP2_INTERNAL_ERROR, "no response");
		return;
	}
	st->resp_eof = 1;
	h2_stream_resume(st);
}

static void
h2_abort(struct exchange *ex, const char *why)
{
	struct h2stream *st = EX_STREAM(ex);

	if (st->replied) {
		/* our answer (a 502) is out or on its way: let it finish; the
		 * server connection goes now */
		log_debug("h2 stream %d: %s (answered)", (int)st->id, why);
		if (st->ex_live) {
			exchange_release(&st->ex);
			st->ex_live = 0;
		}
		h2s_set(st, H2S_FINISHED);
		h2_stream_resume(st);
		return;
	}
	h2_stream_kill(st, 1, NGHTTP2_INTERNAL_ERROR, why);
}

static const struct exchange_ops h2_ops = {
	.resp_head = h2_resp_head,
	.resp_body = h2_resp_body,
	.resp_full = h2_resp_full,
	.req_body = h2_req_body,
	.req_flow = h2_req_flow,
	.req_sent = h2_req_sent,
	.tunnel_start = h2_tunnel_start,
	.tunnel_down = h2_tunnel_down,
	.tunnel_room = h2_tunnel_room,
	.reply = h2_reply,
	.close_after = h2_close_after,
	.finish = h2_finish,
	.abort = h2_abort,
};
