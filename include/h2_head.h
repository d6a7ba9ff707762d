/*
 * h2_head.h - an HTTP/2 request's header list as the HTTP/1.1 head sent
 * upstream (h2_head.c, pure).
 *
 * The HTTP/2 codec (issue 12) hands the decoded header list of a stream
 * here; what comes out is an HTTP/1.1 request head that the strict parser
 * (http_parse.c) then reads like any client's, so routing, rewriting and
 * every HTTP/1.1 check apply to both protocols the same way.  What HTTP/2
 * forbids is refused here first (RFC 9113 8.2, 8.3; RFC 8441 for
 * WebSocket): such a stream is reset, never forwarded.
 */
#ifndef BGPROXY_H2_HEAD_H
#define BGPROXY_H2_HEAD_H

#include <stddef.h>
#include <stdint.h>

struct h2_field {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* What the head says about the stream's body and kind. */
struct h2_req {
	int has_length;               /* a content-length came: DATA must match it */
	uint64_t length;
	int chunked;                  /* a body of unknown length: chunked upstream */
	int websocket;                /* extended CONNECT, :protocol websocket (RFC 8441) */
	const char *error;            /* why the stream is refused */
	int status;                   /* 0: a stream error (RST_STREAM PROTOCOL_ERROR);
	                               * else the status to answer with (405 CONNECT) */
};

/* The longest head h2_request_head writes for fields of total size n
 * (names and values), with cnt fields. */
#define H2_HEAD_MAX(n, cnt) ((n) + 6 * (cnt) + 256)

/*
 * Build the HTTP/1.1 head of a request stream from its fields (in the
 * order received).  end_stream: HEADERS carried END_STREAM (no body).
 * ws_key: 24 characters of base64 for Sec-WebSocket-Key when the stream is
 * an extended CONNECT (ignored otherwise).  Writes at most cap bytes to
 * out; returns the length, or -1 with r->error set.
 */
long h2_request_head(const struct h2_field *f, size_t n, int end_stream, const char *ws_key,
    struct h2_req *r, char *out, size_t cap);

/*
 * HTTP/1.1 field lines ("Name: value" CRLF ..., up to an empty line or the
 * end) as HTTP/2 fields: names lowered in place (RFC 9113 8.2.1), values
 * without their surrounding whitespace; what HTTP/2 forbids (connection-
 * specific fields, te, a pseudo-header's colon) left out.  At most max;
 * returns the count.  What trailers of a chunked body become.
 */
size_t h2_lines_fields(char *p, size_t len, struct h2_field *f, size_t max);

#endif
