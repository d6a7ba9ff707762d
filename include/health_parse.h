/*
 * health_parse.h - the verdict of one health check answer.  Pure: bytes in,
 * pass / fail / need more out; tests/fuzz/fuzz_health_parse.c fuzzes it.
 */
#ifndef BGPROXY_HEALTH_PARSE_H
#define BGPROXY_HEALTH_PARSE_H

#include <stddef.h>

#include "http_parse.h"

#define HEALTH_HEAD_MAX 16384     /* an answer head larger than this fails */

enum health_verdict { HEALTH_MORE = 0, HEALTH_PASS = 1, HEALTH_FAIL = 2 };

/*
 * Judge the answer so far, buf[0..len): its head must be a valid HTTP/1.x
 * response head (the same strict parser as for proxied responses, at most
 * HEALTH_HEAD_MAX bytes); a 2xx or 3xx passes, anything else fails.  1xx
 * interim heads are skipped.  On HEALTH_FAIL, why gets the reason ("status
 * 503", "not an HTTP response: invalid status code").  m is scratch.
 */
enum health_verdict health_judge(const char *buf, size_t len, struct http_msg *m, char *why,
    size_t whylen);

/* A final status: 2xx or 3xx passes, else why says "status N". */
enum health_verdict health_status_judge(int status, char *why, size_t whylen);

#endif
