/*
 * exchange_int.h - what exchange.c and exchange_retry.c share; not for
 * other modules (they use exchange.h).
 */
#ifndef BGPROXY_EXCHANGE_INT_H
#define BGPROXY_EXCHANGE_INT_H

#include "exchange.h"
#include "retry.h"

/* exchange.c */
/* Send the request head on a pooled or new connection: 0, -1 when none
 * could be had, 1 when the server is full and the request waits for a
 * place (exchange_queue.c). */
int exchange_send_upstream(struct exchange *ex, int fresh);
/* The same with the server's place already taken: 0 or -1 (the place
 * given back). */
int exchange_connect(struct exchange *ex, int fresh);
int exchange_fail(struct exchange *ex, int status, const char *why);
void exchange_response_done(struct exchange *ex);
/* The server failed after its response head went out: the exchange ends as
 * term (an error of that server, err_kind), the response is cut. */
void exchange_cut(struct exchange *ex, enum exchange_term term, int err_kind, const char *why);

/* exchange_queue.c */
int exchange_enqueue(struct exchange *ex);
void exchange_dequeue(struct exchange *ex);

/* exchange_retry.c */
/* Returns 1 when the request went again to the stable pool. */
int exchange_retry_on_stable(struct exchange *ex, enum retry_failure f, int status);
/* The server connection failed (f): retry, answer or abort. */
void exchange_up_failed(struct exchange *ex, enum retry_failure f);

#endif
