/*
 * h2_int.h - what h2.c (the connection) and h2_stream.c (a stream as an
 * exchange) share.  Not for other modules: they use h2.h.
 */
#ifndef BGPROXY_H2_INT_H
#define BGPROXY_H2_INT_H

#include <stdint.h>
#include <sys/queue.h>

#include <event2/event_struct.h>
#include <nghttp2/nghttp2.h>

#include "exchange.h"
#include "h2.h"

/* Output to the client above this: nghttp2 is told to wait (WOULDBLOCK)
 * and the client's input is not read until it drains. */
#define H2_OUT_HIGH (64 * 1024)
/* Request body bytes a connection holds (its streams' DATA not yet with a
 * server, and what waits in their servers' output): above H2_HELD_MAX the
 * client is not read (TCP holds the rest), below half of it again.  A
 * stream moves at most H2_UP_OUT_MAX into its server's output. */
#define H2_HELD_MAX (1024 * 1024)
/* The worker's budget over all its connections: above it, each connection
 * is held to H2_HELD_TIGHT (new bodies wait while the worker is full). */
#define H2_WORKER_HELD_MAX (128 * 1024 * 1024)
#define H2_HELD_TIGHT (64 * 1024)
#define H2_UP_OUT_MAX (64 * 1024)
/* A header list this many times past http2.max_header_list_size, once
 * decompressed, is an attack (an HPACK bomb): the connection ends. */
#define H2_HEADER_BOMB_FACTOR 4
/* The connection's receive window: opened again as soon as bytes arrive
 * (each stream's own window holds its unforwarded bytes). */
#define H2_CONN_WINDOW (16 * 1024 * 1024)
/* Budgets per connection (see docs/http2.md). */
#define H2_RST_BURST 200              /* client resets: token bucket burst... */
#define H2_RST_RATE 100               /* ...refilled per second; our resets for the
                                       * client's faults draw on it too */
#define H2_CTRL_PER_S 500             /* SETTINGS, PING, PRIORITY per second */
#define H2_EMPTY_PER_S 100            /* empty DATA / HEADERS frames without an end, per second */
#define H2_WU_FREE 1000               /* WINDOW_UPDATEs allowed beyond... */
#define H2_WU_PER_DATA 4              /* ...this many per DATA frame sent */

#define H2_IDS_BITS 4096
#define H2_SPARE_MAX 16               /* freed streams a connection keeps for reuse */

/* What a stream waits to do at the next turn of the connection's loop. */
enum {
	H2_TODO_START = 1u << 0,      /* its request head is ready: forward it */
	H2_TODO_PUMP = 1u << 1,       /* request body bytes (or its end) to move up */
	H2_TODO_RESUME = 1u << 2,     /* room for more response bytes */
};

struct h2conn;

/* How a connection ends; h2_end_set is the only writer and checks each
 * move against its table (h2.c). */
enum h2_end {
	H2_END_NONE = 0,              /* open */
	H2_END_GOAWAY,                /* GOAWAY out: close once it is flushed */
	H2_END_NOW,                   /* close at the end of this turn */
	H2_END_FLUSH,                 /* over: what is queued leaves, bounded by the tick */
	H2_END_STATES
};

/* Where a stream is; h2s_set is the only writer, forward only (a refusal
 * skips to FINISHED, the client's reset to CLOSED from anywhere). */
enum h2s_phase {
	H2S_HEADERS = 0,              /* its header list arrives */
	H2S_READY,                    /* its request head is whole: to be forwarded */
	H2S_FORWARDED,                /* its exchange has the request */
	H2S_FINISHED,                 /* the exchange is over (answered, refused or aborted) */
	H2S_CLOSED,                   /* over for nghttp2 or for us: out of the working lists,
	                               * freed by the loop (wait_close: our RST not out yet) */
	H2S_PHASES
};

struct h2stream {
	struct exchange ex;
	enum h2s_phase phase;
	struct h2conn *h;
	int32_t id;
	TAILQ_ENTRY(h2stream) link;   /* h->streams, or h->dead once closed */
	TAILQ_ENTRY(h2stream) todo_link;
	unsigned todo;                /* H2_TODO_*, in h->todo when nonzero */
	struct evbuffer *reqbuf;      /* DATA from the client not yet with the server */
	struct evbuffer *respbuf;     /* response body bytes for DATA frames */
	struct evbuffer *trailers;    /* the server's chunked trailer section, raw */
	struct evbuffer *req_trailers; /* the client's trailers as HTTP/1.1 lines */
	/* the request's header list while it arrives: names and values in
	 * fbuf, offsets in fld */
	char *fbuf;
	size_t flen, fcap;
	struct h2_fld { uint32_t no, nl, vo, vl; } *fld;
	size_t nfld, fldcap;
	size_t hdr_bytes;             /* RFC 9113 6.5.2 size of the list so far */
	uint64_t body_due_us;         /* timeouts.client_body_ms runs out then (0: not timed) */
	unsigned ex_live : 1;         /* ex holds resources: exchange_release at the end */
	unsigned req_end : 1;         /* the client's END_STREAM came */
	unsigned resp_submitted : 1;  /* a final response head is with nghttp2 */
	unsigned resp_eof : 1;        /* respbuf holds the body's end */
	unsigned deferred : 1;        /* nghttp2 waits for resume_data */
	unsigned too_large : 1;       /* the header list passed max_header_list_size */
	unsigned protocol : 1;        /* a :protocol pseudo-header came */
	unsigned tunnel : 1;          /* extended CONNECT (WebSocket) */
	unsigned up_shut : 1;         /* the tunnel's client end was passed on */
	unsigned wait_close : 1;      /* dead, but nghttp2 still knows it (our RST not out yet) */
	unsigned replied : 1;         /* our own answer is submitted */
};

#define H2_MAGIC 0x68326332U     /* struct h2conn's, checked by h2_codec.c */

struct h2conn {
	uint32_t magic;
	struct worker *w;
	struct conn *cc;
	const struct exchange_peer *peer;
	nghttp2_session *ng;
	struct h2_host host;          /* the client connection: closed, timer */
	TAILQ_HEAD(, h2stream) streams, todo, dead;
	TAILQ_HEAD(, h2stream) spare; /* freed streams kept for the next ones, with buffers */
	int nspare;
	int nstreams;
	struct event kick;            /* a turn of the loop soon (ops from upstream events) */
	uint64_t tick_due_us;         /* the host's timer fires then (0: not armed) */
	int in_run, again, kicked;
	int in_cb;                    /* inside nghttp2 (mem_recv / send) */
	int fatal;                    /* enum stats_goaway to end with, or -1 */
	enum h2_end ending;           /* how the connection ends (h2_end_set) */
	int send_failed;
	int shut;                     /* a graceful GOAWAY was submitted... */
	int32_t shut_last;            /* ...with this last stream id: later streams are refused */
	uint64_t hdr_open_us;         /* a header block began then and is not complete (0: none) */
	int goaway_ours;              /* GOAWAYs we submitted (counted at submit) */
	const char *why;              /* why it ends */
	uint64_t progress_us;         /* last DATA sent or stream opened/closed */
	uint64_t win_us;              /* start of the current one-second budget */
	unsigned win_ctrl, win_empty;
	double rst_tokens;
	uint64_t rst_us;
	uint64_t data_sent, wu_recv;
	uint64_t out_bytes;           /* bytes handed to the client's output */
	int fatal_code;               /* the GOAWAY code of h->fatal (0: by the reason) */
	int iws_changed;              /* a SETTINGS changed INITIAL_WINDOW_SIZE: see h2_run */
	int held_paused;              /* request bodies over H2_HELD_MAX: the client is not read */
	size_t held_peak;             /* the most request body bytes it held */
	size_t held_last;             /* what it held at the last count (in w->h2_held) */
	int resume_input;             /* read what waits in the input at the next kick */
	/* client stream ids opened lately (bit (id-1)/2 mod H2_IDS_BITS), to
	 * tell a HEADERS on an id never opened (PROTOCOL_ERROR) from one on a
	 * stream that was closed (ignored, RFC 9113 5.1) */
	uint64_t ids[H2_IDS_BITS / 64];
	uint32_t ids_last;            /* (id-1)/2 of the highest id opened, + 1 (0: none) */
};

/* h2.c for h2_stream.c */
void h2_kick(struct h2conn *h);
void h2_todo(struct h2stream *st, unsigned what);
void h2_stream_dead(struct h2stream *st);

/* h2_stream.c for h2.c */
struct h2stream *h2_stream_new(struct h2conn *h, int32_t id);
void h2_stream_free(struct h2stream *st);
void h2_stream_release(struct h2stream *st);
int h2_stream_header(struct h2stream *st, const uint8_t *name, size_t nl, const uint8_t *value,
    size_t vl, int trailer);
void h2_stream_head_done(struct h2stream *st, int end_stream);
void h2_stream_data(struct h2stream *st, const uint8_t *p, size_t n);
void h2_stream_end(struct h2stream *st);
void h2_stream_run(struct h2stream *st, unsigned what);
void h2_stream_sent_end(struct h2stream *st);
/* the data provider's read callback (source.ptr is the stream) */
ssize_t h2_stream_read_cb(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
    uint32_t *flags, nghttp2_data_source *source, void *arg);
int h2_stream_send_data(struct h2stream *st, const uint8_t *framehd, size_t length);
/* The stream ends now: its exchange released, RST_STREAM code sent when
 * rst (nghttp2 has not closed it itself), freed by the loop. */
void h2_stream_kill(struct h2stream *st, int rst, uint32_t code, const char *why);
int h2_stream_has_pending(const struct h2stream *st);

/* The stream moves on to `to` (never back: a move to where it is, or
 * behind, changes nothing); and what its phase says. */
void h2s_set(struct h2stream *st, enum h2s_phase to);
#define h2s_started(st) ((st)->phase >= H2S_FORWARDED)
#define h2s_finished(st) ((st)->phase >= H2S_FINISHED)
#define h2s_closed(st) ((st)->phase == H2S_CLOSED)

/* h2.c, for h2_frames.c: GOAWAY with code counted under reason (why the
 * connection ends); the same for a fatal reason (enum stats_goaway); a
 * PROTOCOL_ERROR of the client's; the client's stream ids seen; the tick's
 * next look. */
void h2_goaway(struct h2conn *h, int reason, uint32_t code, const char *why);
void h2_fatal_goaway(struct h2conn *h, int reason);
void h2_protocol_error(struct h2conn *h, uint32_t code);
void h2_ids_open(struct h2conn *h, int32_t id);
int h2_ids_never_opened(const struct h2conn *h, int32_t id);
void h2_tick_next(struct h2conn *h, uint64_t now);
/* The host's timer fires by due (µs) at the latest. */
void h2_tick_by(struct h2conn *h, uint64_t due);

/* h2_frames.c: nghttp2's callbacks for a connection (NULL: out of memory). */
nghttp2_session_callbacks *h2_callbacks_new(void);

/* The connection's end moves to `to` (a move its table does not allow is
 * logged as an invalid state change and made anyway). */
void h2_end_set(struct h2conn *h, enum h2_end to);

#endif
