/*
 * health_parse.c - the verdict of one health check answer.  Pure.
 */
#include <stdio.h>

#include "health_parse.h"

enum health_verdict
health_judge(const char *buf, size_t len, struct http_msg *m, char *why, size_t whylen)
{
	static const struct http_limits lim = { HEALTH_HEAD_MAX, 100 };
	size_t off = 0;
	int r;

	for (;;) {
		r = http_parse_response(buf + off, len - off, &lim, m);
		if (r == HTTP_PARSE_INCOMPLETE)
			return HEALTH_MORE;
		if (r == HTTP_PARSE_ERROR) {
			snprintf(why, whylen, "not an HTTP response: %s", m->error);
			return HEALTH_FAIL;
		}
		if (m->status >= 200 || m->status == 101)
			break;
		off += (size_t)r;           /* an interim head: the final one follows */
	}
	return health_status_judge(m->status, why, whylen);
}

enum health_verdict
health_status_judge(int status, char *why, size_t whylen)
{
	if (status >= 200 && status < 400)
		return HEALTH_PASS;
	snprintf(why, whylen, "status %d", status);
	return HEALTH_FAIL;
}
