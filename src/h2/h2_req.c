/*
 * h2_req.c - an HTTP/2 stream's request head: its header list as it
 * arrives (bounded by http2.max_header_list_size), then, whole, made into a
 * head the exchange takes (h2_head.c, then the strict parser), or refused
 * with an answer of our own; an extended CONNECT (RFC 8441) becomes a
 * WebSocket upgrade for the server.
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

/* ---- the request head ---------------------------------------------------- */

static int
h2_name_is(const uint8_t *p, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

/*
 * One field of the header list (or of the trailers).  Returns -1 when the
 * list is far past the limit (the connection ends), else 0; past the
 * limit itself the stream is answered 431 when the list is complete.
 */
int
h2_stream_header(struct h2stream *st, const uint8_t *name, size_t nl, const uint8_t *value,
    size_t vl, int trailer)
{
	size_t limit = (size_t)rt.cfg->h2_max_header_list, need;

	st->hdr_bytes += nl + vl + 32;
	if (st->hdr_bytes > limit * H2_HEADER_BOMB_FACTOR)
		return -1;
	if (st->hdr_bytes > limit)
		st->too_large = 1;
	if (st->too_large)
		return 0;
	if (trailer) {
		/* forwarded as HTTP/1.1 trailer lines (a chunked body only);
		 * framing and routing fields never (RFC 9110 6.5.1) */
		if (nl == 0 || name[0] == ':' || h2_name_is(name, nl, "content-length") ||
		    h2_name_is(name, nl, "transfer-encoding") || h2_name_is(name, nl, "host") ||
		    h2_name_is(name, nl, "te") || h2_name_is(name, nl, "trailer") ||
		    h2_name_is(name, nl, "connection"))
			return 0;
		if (st->req_trailers == NULL && (st->req_trailers = evbuffer_new()) == NULL)
			return 0;
		evbuffer_add(st->req_trailers, name, nl);
		evbuffer_add(st->req_trailers, ": ", 2);
		evbuffer_add(st->req_trailers, value, vl);
		evbuffer_add(st->req_trailers, "\r\n", 2);
		return 0;
	}
	if (h2_name_is(name, nl, ":protocol"))
		st->protocol = 1;
	need = st->flen + nl + vl;
	if (need > st->fcap) {
		size_t cap = st->fcap ? st->fcap : 512;
		char *p;

		while (cap < need)
			cap *= 2;
		if ((p = realloc(st->fbuf, cap)) == NULL) {
			st->too_large = 1;
			return 0;
		}
		st->fbuf = p;
		st->fcap = cap;
	}
	if (st->nfld == st->fldcap) {
		size_t cap = st->fldcap ? st->fldcap * 2 : 16;
		struct h2_fld *p = realloc(st->fld, cap * sizeof(*p));

		if (p == NULL) {
			st->too_large = 1;
			return 0;
		}
		st->fld = p;
		st->fldcap = cap;
	}
	st->fld[st->nfld] = (struct h2_fld){ (uint32_t)st->flen, (uint32_t)nl,
		(uint32_t)(st->flen + nl), (uint32_t)vl };
	memcpy(st->fbuf + st->flen, name, nl);
	memcpy(st->fbuf + st->flen + nl, value, vl);
	st->flen = need;
	st->nfld++;
	return 0;
}

/* An answer of our own before the exchange started (431, 405, 400...). */
static void
h2_stream_refuse(struct h2stream *st, int status, const char *why)
{
	st->ex.ops->reply(&st->ex, status, why);
	h2s_set(st, H2S_FINISHED);
}

/* 16 random bytes in base64: the Sec-WebSocket-Key the server gets for an
 * extended CONNECT (the client sends none over HTTP/2). */
static int
h2_ws_key(char out[25])
{
	unsigned char raw[16];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	return EVP_EncodeBlock((unsigned char *)out, raw, sizeof(raw)) == 24 ? 0 : -1;
}

/*
 * The HTTP/1.1 head made of a stream's header list (r says its framing),
 * read by the strict parser like any client's head: the exchange gets its
 * request, or the stream its refusal.
 */
static void
h2_stream_request(struct h2stream *st, const char *head, long n, const struct h2_req *r)
{
	struct exchange *ex = &st->ex;
	struct http_msg *m = &st->h->w->msg;
	struct http_limits lim = { (size_t)n, (size_t)rt.cfg->max_headers };
	int pr;

	pr = http_parse_request(head, (size_t)n, &lim, m);
	if (pr != (int)n) {
		h2_stream_refuse(st, pr == HTTP_PARSE_ERROR ? m->error_status : 400,
		    pr == HTTP_PARSE_ERROR ? m->error : "a request head that does not parse");
		return;
	}
	exchange_request_line(ex, m);
	ex->grpc = http_is_grpc(m);
	if (r->has_length && r->length > 0) {
		ex->req_body = BODY_LENGTH;
		ex->req_left = r->length;
	} else if (r->chunked) {
		ex->req_body = BODY_CHUNKED;
	} else {
		ex->req_body = BODY_NONE;
	}
	ex->req_upgrade = r->websocket;
	st->tunnel = r->websocket;
	/* the access line names the client's method (an extended CONNECT),
	 * not the GET of its HTTP/1.1 view */
	if (r->websocket)
		memcpy(ex->method, "CONNECT", sizeof("CONNECT"));
	if (m->flags & HTTP_F_EXPECT_OTHER) {
		h2_stream_refuse(st, 417, "only 100-continue is supported");
		return;
	}
	exchange_prepare(ex, m);
	h2s_set(st, H2S_READY);
	h2_todo(st, H2_TODO_START);
}

/*
 * The whole header list is here: make it the HTTP/1.1 head (h2_head.c) and
 * hand it to h2_stream_request; the exchange is forwarded at the loop's
 * next turn (H2_TODO_START), unless the client resets it first.
 */
void
h2_stream_head_done(struct h2stream *st, int end_stream)
{
	struct worker *w = st->h->w;
	struct h2_field fstack[64], *f;
	struct h2_req r;
	char key[25], *head;
	size_t i, cap;
	long n;

	st->req_end = end_stream;
	if (st->h->shut && st->id > st->h->shut_last) {
		/* after our GOAWAY: the client may send it again elsewhere */
		h2_stream_kill(st, 1, NGHTTP2_REFUSED_STREAM, "after GOAWAY");
		return;
	}
	if (st->too_large) {
		h2_stream_refuse(st, 431, "the header list is larger than max_header_list_size");
		return;
	}
	if (st->protocol && h2_ws_key(key) == -1) {
		h2_stream_kill(st, 1, NGHTTP2_INTERNAL_ERROR, "no random bytes for a WebSocket key");
		return;
	}
	/* the usual list fits on the stack and its head in the worker's
	 * scratch (free between callbacks); a long one is allocated */
	f = st->nfld <= 64 ? fstack : calloc(st->nfld, sizeof(*f));
	cap = H2_HEAD_MAX(st->flen, st->nfld);
	head = cap <= sizeof(w->scratch) ? w->scratch : malloc(cap);
	if (f == NULL || head == NULL) {
		h2_stream_kill(st, 1, NGHTTP2_INTERNAL_ERROR, "out of memory");
	} else {
		for (i = 0; i < st->nfld; i++)
			f[i] = (struct h2_field){ st->fbuf + st->fld[i].no, st->fld[i].nl,
				st->fbuf + st->fld[i].vo, st->fld[i].vl };
		n = h2_request_head(f, st->nfld, end_stream, st->protocol ? key : NULL, &r, head,
		    cap);
		if (n >= 0) {
			h2_stream_request(st, head, n, &r);
		} else {
			log_debug("h2 stream %d from %s refused: %s", (int)st->id,
			    st->h->peer->addr, r.error);
			if (r.status != 0)
				h2_stream_refuse(st, r.status, r.error);
			else
				h2_stream_kill(st, 1, NGHTTP2_PROTOCOL_ERROR, r.error);
		}
	}
	if (f != fstack)
		free(f);
	if (head != w->scratch)
		free(head);
	st->flen = 0;           /* small storage stays for a spare's next list */
	st->nfld = 0;
	if (st->fcap > 4096) {
		free(st->fbuf);
		st->fbuf = NULL;
		st->fcap = 0;
	}
}
