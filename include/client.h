/*
 * client.h - client connections on a worker (client.c): the socket, TLS,
 * the choice of codec (ALPN h2, or the preface on an h2c listener), one
 * timer, one teardown with a reason.  The protocol is the codec's
 * (codec.h); this is the host a codec is given.
 */
#ifndef BGPROXY_CLIENT_H
#define BGPROXY_CLIENT_H

#include <sys/queue.h>

#include <event2/event_struct.h>

#include "conn.h"
#include "exchange.h"
#include "proxy.h"

struct codec_ops;

struct client {
	uint32_t magic;
	struct worker *w;
	struct conn cc;               /* the socket (and TLS) */
	struct event timer;           /* the codec's timer (client_timer_ms) */
	LIST_ENTRY(client) link;      /* the worker's list */
	struct exchange_peer peer;
	int h2c;                      /* the listener takes HTTP/2 with prior knowledge */
	const struct codec_ops *ops;  /* the protocol */
	void *cd;                     /* ... and its state */
};

/* ssl: NULL for plain HTTP; the client owns it.  h2c: a plain listener
 * that takes HTTP/2 with prior knowledge (listen[].h2c).  first: the codec
 * the connection starts with (h1_codec; it may hand over to HTTP/2). */
void client_accept(struct worker *w, evutil_socket_t fd, struct sockaddr *sa, int salen,
    SSL *ssl, int h2c, const struct codec_ops *first);

/* The codec's timer: fires its timeout op after ms; client_timer_off
 * stops it.  The TLS handshake is timed by the same timer. */
void client_timer_ms(struct client *c, int ms);
void client_timer_off(struct client *c);

/* Close the connection and free it with its codec; why at debug. */
void client_close(struct client *c, const char *why);

/*
 * The connection speaks HTTP/2 from here on: the HTTP/1.1 codec that found
 * the preface (or the ALPN choice) is freed, and with read_now the bytes
 * already in the input go to HTTP/2 at once.  0; -1 when out of memory
 * (the codec stays).  After 0 the caller touches nothing of its old codec;
 * with read_now, nothing of c either (it may have closed).
 */
int client_use_h2(struct client *c, int read_now);

/* The worker's connections, through their codecs (see codec.h). */
void client_drain_all(struct worker *w);
void client_close_all(struct worker *w);
void client_close_disabled(struct worker *w);
void client_close_reverted(struct worker *w, struct service *sv, int pool);
void client_move_reverted(struct worker *w, struct service *sv, int pool);
void client_move_from_down(struct worker *w);
void client_reloaded(struct worker *w);

/* At most once a second: one info line summing up the upstream failures
 * and retries logged at debug since the last one (worker tick). */
void client_log_failures(struct worker *w, uint64_t now_us);

#endif
