/*
 * http_reply.h - responses bgproxy writes itself (http_reply.c).
 */
#ifndef BGPROXY_HTTP_REPLY_H
#define BGPROXY_HTTP_REPLY_H

struct evbuffer;

void http_reply_error(struct evbuffer *out, int status, int close_conn, const char *extra);

#endif
