/*
 * http_rewrite.h - the heads bgproxy writes: a client's request head as it
 * goes to a server, a server's response head as it goes to the client.
 *
 * Pure: no I/O, no globals, no allocation; the caller gives a buffer of at
 * least the size the *_max functions say.  tests/fuzz/fuzz_http_rewrite.c
 * checks that every head the request parser accepts comes out as a head the
 * same strict parser reads back to the same method, target, headers and
 * framing, and the same for responses.
 */
#ifndef BGPROXY_HTTP_REWRITE_H
#define BGPROXY_HTTP_REWRITE_H

#include <stddef.h>

#include "http_parse.h"

/* what the request head gets besides the client's end-to-end headers */
struct http_rewrite_req {
	const char *peer;         /* the client's address, for X-Forwarded-For */
	size_t peer_len;
	int tls;                  /* X-Forwarded-Proto: https, else http */
	int upgrade;              /* a WebSocket upgrade goes on: Connection/Upgrade */
	const char *new_reqid;    /* 32 characters, used when the client sent no X-Request-Id */
	/* out: the X-Request-Id the request carries (the client's or new_reqid) */
	const char *reqid;
	size_t reqid_len;
};

/* Bytes http_rewrite_request may write for m and a peer of peer_len. */
size_t http_rewrite_request_max(const struct http_msg *m, size_t peer_len);

/*
 * Write the head sent upstream to out: the request line in origin form
 * (an absolute-form target becomes its path, its authority the Host), the
 * client's headers minus hop-by-hop ones, X-Forwarded-For (the client's
 * list with peer appended), X-Forwarded-Proto, X-Request-Id when absent,
 * Connection for HTTP/1.0 and upgrades.  A client's (non-empty)
 * X-Request-Id is kept and named in rq->reqid; only without one is
 * new_reqid added.  Returns the length written.
 */
size_t http_rewrite_request(const struct http_msg *m, struct http_rewrite_req *rq, char *out);

/* what the response head gets */
struct http_rewrite_resp {
	int keepalive;            /* the client connection goes on after it */
	int req_minor;            /* the request's HTTP/1.<minor> */
	const char *cookie;       /* set the stickiness cookie cookie=key (NULL: not) */
	size_t cookie_len;
	const char *key;
	size_t key_len;
	const char *pool;         /* X-Bgproxy-Pool: pool (NULL: not exposed) */
	int h2;                   /* the client speaks HTTP/2 (a field list, no framing headers) */
};

/*
 * 1 when a Set-Cookie header value sets cookie `name` (the name before the
 * first "=", spaces around it ignored, case-sensitive as cookie names are).
 */
int http_set_cookie_is(const char *val, size_t len, const char *name, size_t name_len);

/*
 * The one rule of which of the server's header fields the client gets, for
 * either protocol: not the hop-by-hop ones, no Content-Length on a 1xx or
 * 204, not the server's Set-Cookie for the cookie bgproxy sets; to an
 * HTTP/2 client (rs->h2) no Transfer-Encoding either, and on a 101 (the
 * tunnel's 200 there) no Content-Length or Sec-WebSocket-Accept.
 */
int http_rewrite_resp_keep(const struct http_msg *m, const struct http_header *h,
    const struct http_rewrite_resp *rs);

/*
 * Ours, on a final head (2xx..5xx): the stickiness cookie's Set-Cookie
 * value into out (at least rs->cookie_len + rs->key_len + 40 bytes), its
 * length, 0 when bgproxy sets none; X-Bgproxy-Pool is rs->pool.
 */
size_t http_rewrite_set_cookie(const struct http_rewrite_resp *rs, char *out);

/* Bytes http_rewrite_response may write for m (cookie name and key of at
 * most 256 bytes each). */
size_t http_rewrite_response_max(const struct http_msg *m);

/*
 * Write the head sent to the client for the server's head m (raw: its
 * bytes): "HTTP/1.1" with the server's code and reason, its headers minus
 * hop-by-hop ones, a Content-Length on a 1xx or 204, and (when bgproxy sets
 * its own cookie) the server's Set-Cookie for that cookie; then ours:
 * Connection/Upgrade for a 101; for a final (2xx..5xx) head Set-Cookie,
 * Connection: close or keep-alive, X-Bgproxy-Pool; nothing for an interim
 * 1xx.  Returns the length written.
 */
size_t http_rewrite_response(const struct http_msg *m, const char *raw,
    const struct http_rewrite_resp *rs, char *out);

#endif
