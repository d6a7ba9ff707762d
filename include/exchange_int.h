/*
 * exchange_int.h - what exchange.c and exchange_retry.c share; not for
 * other modules (they use exchange.h).
 */
#ifndef BGPROXY_EXCHANGE_INT_H
#define BGPROXY_EXCHANGE_INT_H

#include "exchange.h"
#include "retry.h"

/* exchange.c */
int exchange_send_upstream(struct exchange *ex, int fresh);
int exchange_fail(struct exchange *ex, int status, const char *why);
void exchange_response_done(struct exchange *ex);
/* The server failed after its response head went out: the exchange ends as
 * term (an error of that server, err_kind), the response is cut. */
void exchange_cut(struct exchange *ex, enum exchange_term term, int err_kind, const char *why);

/* exchange_retry.c */
/* Returns 1 when the request went again to the stable pool. */
int exchange_retry_on_stable(struct exchange *ex, enum retry_failure f, int status);
/* The server connection failed (f): retry, answer or abort. */
void exchange_up_failed(struct exchange *ex, enum retry_failure f);

#endif
