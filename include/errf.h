/*
 * errf.h - the one "format a reason into the caller's buffer" helper of
 * the pure modules (rollout, persist, guard), which return their errors in
 * (char *err, size_t errlen) pairs.
 */
#ifndef BGPROXY_ERRF_H
#define BGPROXY_ERRF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline int errf(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fills buf when there is one (NULL or len 0: nothing); returns -1, so a
 * caller can `return errf(err, errlen, ...)`. */
static inline int
errf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || len == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return -1;
}

#endif
