/*
 * http_reply.c - responses bgproxy writes itself (400 408 431 502 503 504
 * ...): a status line, a short plain-text body saying what went wrong.
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "http_parse.h"
#include "http_reply.h"
#include "proxy.h"

void
http_reply_error(struct evbuffer *out, int status, int close_conn, const char *extra)
{
	char buf[1024];
	char body[512];
	int blen, n;

	blen = snprintf(body, sizeof(body), "%d %s%s%s\n", status, http_status_text(status),
	    extra != NULL ? ": " : "", extra != NULL ? extra : "");
	if (blen < 0 || blen >= (int)sizeof(body))
		blen = (int)strlen(body);
	n = snprintf(buf, sizeof(buf),
	    "HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Length: %d\r\n"
	    "Cache-Control: no-store\r\n"
	    "%s"
	    "\r\n",
	    status, http_status_text(status), blen, close_conn ? "Connection: close\r\n" : "");
	evbuffer_add(out, buf, (size_t)n);
	evbuffer_add(out, body, (size_t)blen);
}
