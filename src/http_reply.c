/*
 * http_reply.c - responses bgproxy writes itself (400 408 431 502 503 504
 * ...): a status, a short plain-text body saying what went wrong, and the
 * same few header fields for either protocol.
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "http_parse.h"
#include "http_reply.h"
#include "proxy.h"

const struct http_reply_field http_reply_fields[HTTP_REPLY_NFIELDS] = {
	{ "Content-Type", "text/plain" },
	{ "Cache-Control", "no-store" },
};

size_t
http_reply_body(int status, const char *extra, char *out, size_t len)
{
	int n;

	if (len == 0)
		return 0;
	n = snprintf(out, len, "%d %s%s%s\n", status, http_status_text(status),
	    extra != NULL ? ": " : "", extra != NULL ? extra : "");
	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : len - 1;
}

void
http_reply_error(struct evbuffer *out, int status, int close_conn, const char *extra,
    int head_only)
{
	char body[512];
	size_t blen = http_reply_body(status, extra, body, sizeof(body));
	int i;

	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status, http_status_text(status));
	for (i = 0; i < HTTP_REPLY_NFIELDS; i++)
		evbuffer_add_printf(out, "%s: %s\r\n", http_reply_fields[i].name,
		    http_reply_fields[i].value);
	evbuffer_add_printf(out, "Content-Length: %zu\r\n%s\r\n", blen,
	    close_conn ? "Connection: close\r\n" : "");
	/* the answer to a HEAD: its head, the length it would have */
	if (!head_only)
		evbuffer_add(out, body, blen);
}
