/*
 * http_parse.h - strict, incremental HTTP/1.x message-head parser and
 * chunked-body scanner.
 *
 * Never touches libevent, never allocates, never logs: bytes in, a parsed
 * head or "need more" or an error out.  That keeps it fuzzable and unit
 * testable.  All pointers in the results point into the caller's buffer
 * and are valid as long as that buffer is.
 *
 * "Incremental" means: the caller hands the whole head-so-far every time
 * more bytes arrive; the parser answers HTTP_PARSE_INCOMPLETE until the
 * head is complete.  A valid head split at any byte boundary gives the
 * same result as the head handed over in one piece.
 */
#ifndef BGPROXY_HTTP_PARSE_H
#define BGPROXY_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEADERS_HARD 256   /* capacity of struct http_msg.hdr */

/* return values of http_parse_request / http_parse_response (>0: head length) */
#define HTTP_PARSE_INCOMPLETE 0
#define HTTP_PARSE_ERROR      (-1)  /* see msg->error / msg->status */

/* well-known header names, so the proxy never compares strings twice */
enum http_hdr_id {
	HDR_OTHER = 0,
	HDR_HOST,
	HDR_CONTENT_LENGTH,
	HDR_TRANSFER_ENCODING,
	HDR_CONNECTION,
	HDR_KEEP_ALIVE,
	HDR_PROXY_CONNECTION,
	HDR_TE,
	HDR_TRAILER,
	HDR_UPGRADE,
	HDR_EXPECT,
	HDR_COOKIE,
	HDR_X_FORWARDED_FOR,
	HDR_X_FORWARDED_PROTO,
	HDR_X_REQUEST_ID,
	HDR_HTTP2_SETTINGS,
	HDR_PROXY_AUTHENTICATE,
	HDR_PROXY_AUTHORIZATION,
};

/* http_header.flags */
#define HTTP_HDR_HOP 0x1   /* hop-by-hop: a fixed hop-by-hop name or named in Connection */

struct http_header {
	const char *name;       /* not NUL-terminated */
	size_t name_len;
	const char *value;      /* leading/trailing OWS stripped */
	size_t value_len;
	const char *line;       /* start of the raw line ("Name: value") */
	size_t line_len;        /* raw line length including its CRLF */
	uint8_t id;             /* enum http_hdr_id */
	uint8_t flags;          /* HTTP_HDR_* */
};

enum http_target_form {
	HTTP_TARGET_ORIGIN = 0,   /* "/path?query" */
	HTTP_TARGET_ABSOLUTE,     /* "http://authority/path" */
	HTTP_TARGET_AUTHORITY,    /* "host:port" (CONNECT only) */
	HTTP_TARGET_ASTERISK,     /* "*" (OPTIONS only) */
};

/* http_msg.flags */
#define HTTP_F_CHUNKED        0x001  /* Transfer-Encoding: chunked (the only one accepted) */
#define HTTP_F_CONTENT_LENGTH 0x002  /* a valid Content-Length is present (see content_length) */
#define HTTP_F_CONN_CLOSE     0x004  /* Connection: close */
#define HTTP_F_CONN_KEEPALIVE 0x008  /* Connection: keep-alive */
#define HTTP_F_CONN_UPGRADE   0x010  /* Connection: upgrade */
#define HTTP_F_UPGRADE_WS     0x020  /* Upgrade: websocket (and Connection: upgrade) */
#define HTTP_F_EXPECT_CONTINUE 0x040 /* Expect: 100-continue */
#define HTTP_F_EXPECT_OTHER   0x080  /* an Expect other than 100-continue */
#define HTTP_F_HAS_UPGRADE    0x100  /* an Upgrade header is present (any protocol) */

enum http_method {
	HTTP_M_OTHER = 0, HTTP_M_GET, HTTP_M_HEAD, HTTP_M_POST, HTTP_M_PUT,
	HTTP_M_DELETE, HTTP_M_OPTIONS, HTTP_M_TRACE, HTTP_M_CONNECT, HTTP_M_PATCH,
};

/* 1 for the idempotent methods, GET, HEAD, OPTIONS, TRACE, PUT, DELETE
 * (RFC 9110 9.2.2): what may be sent again (a retry) or twice (a copy). */
int http_method_idempotent(int method);


struct http_msg {
	/* request line (requests only) */
	const char *method;  size_t method_len;  uint8_t method_id; /* enum http_method */
	const char *target;  size_t target_len;  uint8_t target_form;
	const char *path;    size_t path_len;    /* origin-form part; for absolute-form the part after the authority ("/" if empty) */
	const char *authority; size_t authority_len; /* absolute-form only */
	/* status line (responses only) */
	int status;
	/* both */
	int version_minor;              /* HTTP/1.<version_minor>, 0 or 1 */
	uint64_t content_length;        /* valid when HTTP_F_CONTENT_LENGTH */
	unsigned flags;                 /* HTTP_F_* */
	const char *host; size_t host_len;   /* the Host value (requests), NULL if none */
	size_t nhdr;
	struct http_header hdr[HTTP_MAX_HEADERS_HARD];
	size_t head_len;                /* bytes of the head, final CRLF included */
	size_t leading_crlf;            /* empty lines skipped before the request line */
	/* on HTTP_PARSE_ERROR */
	int error_status;               /* 400, 431 (too large / too many headers), 501 (unsupported TE), 505 (version) */
	const char *error;              /* static string saying what was wrong */
};

struct http_limits {
	size_t max_header_bytes;  /* whole head incl. request line; over it: 431 */
	size_t max_headers;       /* header count; over it: 431; capped at HTTP_MAX_HEADERS_HARD */
};

/*
 * Parse a request head from buf[0..len).  Returns the head length (>0) when
 * complete, HTTP_PARSE_INCOMPLETE when more bytes are needed (and the head
 * so far is not already over the limits), or HTTP_PARSE_ERROR with
 * m->error_status and m->error filled in.  Up to two leading empty lines
 * (CRLF) are skipped (RFC 9112 2.2) and counted in m->leading_crlf and the
 * returned length.
 */
int http_parse_request(const char *buf, size_t len, const struct http_limits *lim,
    struct http_msg *m);

/* host [":" port] as a Host header or an absolute target's authority
 * must be (RFC 3986 3.2.2, as http_parse_request checks it). */
int http_authority_valid(const char *s, size_t n);

/* Same for a response head (status line instead of request line). 1xx
 * responses are returned like any other; the caller loops. */
int http_parse_response(const char *buf, size_t len, const struct http_limits *lim,
    struct http_msg *m);

/* Incremental chunked-body scanner.  The bytes are forwarded verbatim by
 * the caller; the scanner only validates framing and finds the end.  A
 * chunk size has at most HTTP_CHUNK_MAX_DIGITS hex digits (leading zeros
 * count), so every size forwarded is below 2^60. */
#define HTTP_CHUNK_MAX_DIGITS 15
struct http_chunked {
	int state;               /* private */
	uint64_t remaining;      /* private: data bytes left in the current chunk */
	size_t line_bytes;       /* private: bytes in the current size/trailer line */
	size_t trailer_bytes;    /* private */
	unsigned ndigits;        /* private */
	char tname[24];          /* private: current trailer name, lower case */
	size_t tname_len;        /* private */
	int done;                /* set once the last chunk and trailer section are complete */
	uint64_t data;           /* data bytes so far (the body without its framing) */
	const char *error;       /* set on error */
};

void http_chunked_init(struct http_chunked *c);

/*
 * Scan buf[0..len).  Returns the number of bytes that belong to the body
 * (<= len; fewer than len only when the body ended inside buf, then c->done
 * is set), or -1 on a framing error (c->error says what).  Chunk sizes are
 * plain hex digits only (no "0x", no sign, no whitespace), at most 15
 * digits; extensions are ";" token ["=" (token | quoted-string)] and a size
 * line is at most 4096 bytes; every line ends in CRLF (a bare LF or CR is an
 * error); trailer fields follow the header-field rules, at most 16384 bytes
 * of trailers in all, and never Content-Length, Transfer-Encoding or Host.
 */
long http_chunked_scan(struct http_chunked *c, const char *buf, size_t len);

/*
 * The same scan, and each piece of chunk data (the body without its
 * framing) handed to data(arg, p, n) in order, as it is passed: what a
 * hop that re-frames the body (HTTP/2 DATA frames) sends on.  Each byte
 * of the trailer section ("name: value" CRLF lines and the final CRLF,
 * checked) goes to trailer(arg, p, n) when it is not NULL.  The return
 * value and errors are http_chunked_scan's.
 */
long http_chunked_decode(struct http_chunked *c, const char *buf, size_t len,
    void (*data)(void *arg, const char *p, size_t n),
    void (*trailer)(void *arg, const char *p, size_t n), void *arg);

/* Status text for a code ("OK", "Bad Request", ...); "Unknown" otherwise. */
const char *http_status_text(int status);

/* Case-insensitive comparison of a length-delimited string with a C string. */
int http_token_eq(const char *s, size_t n, const char *lit);

/* gRPC (http_words.c): the grpc-status of a head (-1: none, or not a code
 * 0..16), of one "name: value" trailer line, and whether a request's
 * content-type is gRPC's (application/grpc, application/grpc+proto...). */
int http_grpc_status(const struct http_msg *m);
int http_grpc_status_line(const char *p, size_t n);
int http_is_grpc(const struct http_msg *m);
/* A TE field lists "trailers": the client takes trailers (RFC 9110 10.1.4). */
int http_takes_trailers(const struct http_msg *m);

/* The gRPC status bgproxy answers with for its own HTTP status (the
 * mapping of the gRPC docs: 400 INTERNAL, 401 UNAUTHENTICATED, 403
 * PERMISSION_DENIED, 404 UNIMPLEMENTED, 429 and 502..504 UNAVAILABLE, other
 * UNKNOWN). */
int http_grpc_for_status(int status);

#endif
