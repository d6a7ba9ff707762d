/*
 * codec.h - the seam between a client connection (client.c) and the
 * protocol it speaks: the ops a client codec implements (HTTP/1.1 in h1.c,
 * HTTP/2 in h2/h2.c), each given the codec's own pointer.  The connection
 * knows no protocol: it reads, writes, times and tears down, and walks its
 * codec through drain, reload, revert and the operator's server states
 * through these ops.
 *
 * A codec closes its connection with client_close (client.h); an op that
 * may close says so, and the caller then touches nothing of either.
 */
#ifndef BGPROXY_CODEC_H
#define BGPROXY_CODEC_H

#include "exchange.h"

struct client;

struct codec_ops {
	const char *name;                /* "http/1.1", "h2" */
	/* The codec's state for a new connection c (the codec a connection
	 * starts with); NULL when out of memory. */
	void *(*open)(struct client *c);
	/* bytes arrived in the connection's input (may close) */
	void (*read)(void *cd);
	/* the connection's output drained below its low mark (may close) */
	void (*write)(void *cd);
	/* an EOF, an error or the write timeout on the connection (what:
	 * CONN_EV_*): 1 when the codec took it (a half-close it goes on
	 * with, or it closed the connection itself), 0 to let it close */
	int (*event)(void *cd, short what);
	/* the client's timer (client_timer_ms) fired (may close) */
	void (*timeout)(void *cd);
	/* the connection goes now: the exchanges still live end as term */
	void (*end)(void *cd, enum exchange_term term);
	/* a graceful stop: finish what runs, take nothing new (may close) */
	void (*drain)(void *cd);
	/* a reload was applied (may close) */
	void (*reloaded)(void *cd);
	/* exchanges with a server an operator disabled are cut (may close) */
	void (*close_disabled)(void *cd);
	/* tunnels to pool (reverted) end (may close) */
	void (*close_reverted)(void *cd, struct service *sv, int pool);
	/* requests waiting for a first answer from pool (reverted) go to the
	 * stable pool, or from a server marked down elsewhere */
	void (*move_reverted)(void *cd, struct service *sv, int pool);
	void (*move_from_down)(void *cd);
	/* the codec's memory, and its exchanges' (from client_close) */
	void (*free)(void *cd);
};

/* HTTP/1.1 (h1.c), the codec every connection starts with (the worker
 * gives it to client_accept); HTTP/2 (h2/h2_codec.c, opened by
 * client_use_h2 on a connection that has one already). */
extern const struct codec_ops h1_codec;
extern const struct codec_ops h2_codec;

#endif
