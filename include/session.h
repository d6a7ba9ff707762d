/*
 * session.h - client connections on a worker (session.c).
 */
#ifndef BGPROXY_SESSION_H
#define BGPROXY_SESSION_H

#include "proxy.h"

/* ssl: NULL for plain HTTP; the session owns it.  h2c: a plain listener
 * that takes HTTP/2 with prior knowledge (listen[].h2c). */
void session_accept(struct worker *w, evutil_socket_t fd, struct sockaddr *sa, int salen,
    SSL *ssl, int h2c);
void session_drain_all(struct worker *w);
void session_close_all(struct worker *w);
void session_close_disabled(struct worker *w);
void session_close_reverted(struct worker *w, int pool);
/* Requests waiting for a first answer from pool (reverted) go to the stable pool. */
void session_move_reverted(struct worker *w, int pool);
/* Requests waiting for a first answer from a server marked down go elsewhere. */
void session_move_from_down(struct worker *w);
void session_reloaded(struct worker *w);
/* At most once a second: one info line summing up the upstream failures
 * and retries logged at debug since the last one (worker tick). */
void session_log_failures(struct worker *w, uint64_t now_us);

#endif
