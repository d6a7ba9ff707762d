/*
 * http_reply.h - responses bgproxy writes itself (http_reply.c): one body
 * and one set of header fields, written as HTTP/1.1 here and as an HTTP/2
 * field list by the HTTP/2 codec.
 */
#ifndef BGPROXY_HTTP_REPLY_H
#define BGPROXY_HTTP_REPLY_H

#include <stddef.h>

struct evbuffer;

/* The header fields of our replies besides the status and the length. */
struct http_reply_field {
	const char *name;         /* as HTTP/1.1 writes it (HTTP/2 in lower case) */
	const char *value;
};
#define HTTP_REPLY_NFIELDS 2
extern const struct http_reply_field http_reply_fields[HTTP_REPLY_NFIELDS];

/* The body of a reply with status: "503 Service Unavailable[: extra]\n"
 * into out (len bytes, cut to fit); its length. */
size_t http_reply_body(int status, const char *extra, char *out, size_t len);

/* The whole reply for an HTTP/1.1 client, Connection: close with close_conn;
 * with head_only (the request was a HEAD) without its body. */
void http_reply_error(struct evbuffer *out, int status, int close_conn, const char *extra,
    int head_only);

#endif
