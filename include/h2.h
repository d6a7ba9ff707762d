/*
 * h2.h - the HTTP/2 codec of a client connection (src/h2/).
 *
 * A client connection that negotiated "h2" through ALPN, or that starts
 * with the HTTP/2 preface on a listener with h2c = true, is handed here by
 * client.c (client_use_h2; h2_codec.c is its ops).  libnghttp2 does the
 * framing, HPACK and flow control; each stream is an exchange (exchange.c)
 * like an HTTP/1.1 request, with its own upstream connection.  The client
 * connection keeps the socket (struct conn);
 * this codec never frees it: when the connection is over it calls the
 * closed callback, from the top of one of its entry points only, and the
 * entry point returns -1 (h is gone then).
 */
#ifndef BGPROXY_H2_H
#define BGPROXY_H2_H

#include <stddef.h>

#include "exchange.h"

struct h2conn;
struct worker;
struct conn;
struct exchange_peer;

/* The client connection preface (RFC 9113 3.4), 24 bytes. */
#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24

/* 1: p starts with the whole preface; 0: p is a prefix of it (wait for
 * more); -1: it is not HTTP/2. */
int h2_preface_match(const char *p, size_t n);

/*
 * What the client connection gives its HTTP/2 codec: the end (closed, from
 * the top of an entry point only) and its one timer (timer: fire h2_timeout
 * in ms, again armed replaces; the connection's client_timer_ms).
 */
struct h2_host {
	void (*closed)(void *arg, const char *why);
	void (*timer)(void *arg, int ms);
	void *arg;
};

/* Take over an open client connection (bytes already in cc->in are the
 * start of its HTTP/2 input: h2_read them).  Its loop runs at the next turn
 * of the event loop: our SETTINGS go out then.  NULL when out of memory. */
struct h2conn *h2_open(struct worker *w, struct conn *cc, const struct exchange_peer *peer,
    const struct h2_host *host);

/* Entry points, from the client connection's callbacks (h2_codec.c).  Each
 * returns 0, or -1 when the connection was closed (closed() ran: h and the
 * client connection are gone). */
int h2_read(struct h2conn *h);           /* new bytes in cc->in */
int h2_write(struct h2conn *h);          /* cc's output drained */
/* The host's timer fired: the idle, header-block, zero-window and closing
 * times, the check on a client not read, the streams' body times. */
int h2_timeout(struct h2conn *h);
/* The client closed or the socket failed: every stream ends now. */
void h2_free(struct h2conn *h);

/* GOAWAY with the last stream id: no new streams, open ones finish (a
 * drain, SIGTERM); reload: the same, after a reload.  Return as above. */
int h2_shutdown(struct h2conn *h, int reload);
/* The same GOAWAY, sent at the next turn (from where nothing may close). */
void h2_goaway_soon(struct h2conn *h);
/* Streams whose server an operator disabled are reset. */
int h2_close_disabled(struct h2conn *h);
/* WebSocket streams tunnelled to pool (reverted) are reset. */
int h2_close_reverted(struct h2conn *h, struct service *sv, int pool);
/* Streams waiting for a first answer from pool (reverted) go to the stable
 * pool (exchange_move_to_stable). */
int h2_move_reverted(struct h2conn *h, struct service *sv, int pool);
/* Streams waiting for a first answer from a server marked down go elsewhere. */
int h2_move_from_down(struct h2conn *h);
/* Every stream's exchange still live ends as term (the connection goes). */
void h2_end_streams(struct h2conn *h, enum exchange_term term);
/* Streams open now (for bookkeeping and tests). */
int h2_nstreams(const struct h2conn *h);

#endif
