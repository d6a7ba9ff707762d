/*
 * upstream_h2_int.h - what the two files of HTTP/2 to servers share
 * (upstream_h2.c: the seam's ops; upstream_h2_conn.c: the connections and
 * nghttp2's callbacks).  Not for other modules: they use upstream.h.
 */
#ifndef BGPROXY_UPSTREAM_H2_INT_H
#define BGPROXY_UPSTREAM_H2_INT_H

#include <sys/queue.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <nghttp2/nghttp2.h>

#include "conn.h"
#include "http_parse.h"
#include "proxy.h"
#include "upstream.h"

#define H2UP_MAGIC 0x4832c0deU
#define H2UP_WINDOW (256 * 1024)      /* a stream's window: what one response may hold here */
#define H2UP_CONN_WINDOW (16 * 1024 * 1024)
#define H2UP_MAX_NV (HTTP_MAX_HEADERS_HARD + 8)
#define H2UP_SPARE 256                /* streams a worker keeps for reuse */
#define H2UP_HEAD_START 2048          /* a connection's head buffer, grown as needed */

struct h2ustream;

/* One HTTP/2 connection to a server. */
struct h2up {
	uint32_t magic;
	struct conn c;
	nghttp2_session *ng;
	struct worker *w;
	struct server *srv;
	uint64_t tls_gen;
	struct upsess_owner sess;     /* TLS: whose sessions it makes (resumption) */
	int nstreams;
	uint32_t max_streams;         /* the server's, until it says: 100 */
	int goaway;                   /* no new streams on it */
	int dead;                     /* failed or closing: freed with its last stream */
	int settings_seen;            /* the server's first SETTINGS came */
	int in_cb;
	int tls;
	struct h2up *next;            /* the worker's connections to srv */
	TAILQ_HEAD(, h2ustream) streams;
	struct event hs_timer;        /* TLS: connect and handshake within upstream_connect_ms */
	int hs_armed;
	/* a response head being built, as HTTP/1.1 (one header block at a
	 * time: they never interleave) */
	char *hbuf;
	size_t hlen, hcap;
	int hover;                    /* it grew past PROXY_RESP_HEAD_MAX */
	struct event ping_ev;         /* silence from the server: a PING; no answer: dead */
	int ping_out;
	int fail_pending;             /* failed: goes from the loop (ping_ev, at once) */
	enum retry_failure fail_kind;
	uint64_t last_rx_us;          /* the last read (coarse clock) */
	uint64_t ping_sent_us;        /* the PING out since */
	uint64_t idle_since_us;       /* no stream on it since (nstreams == 0) */
	uint64_t rx_count, rx_at_ping; /* reads, and their count when the PING left */
	struct event flush_ev;        /* the frames of this turn go out together */
	int flush_armed;
};

/* One request: the seam's upconn and what the stream needs. */
struct h2ustream {
	struct upconn u;              /* first: the exchange holds this */
	struct h2up *h;
	int32_t id;                   /* 0: not submitted yet */
	struct evbuffer *payload;     /* the request's DATA, unframed (NULL: no body) */
	enum body_kind req_kind;      /* the framing of what the codec writes to u->out */
	uint64_t req_left;
	struct http_chunked req_chunk;
	int req_end;                  /* all of the request's DATA is in payload */
	struct evbuffer *req_trailers; /* the client's trailers, as HTTP/1.1 lines */
	int deferred;                 /* the data provider waits for more */
	int has_length;               /* the response head has a content-length */
	int status;                   /* the :status of the head being read */
	int resp_ended;               /* END_STREAM came (HEADERS or DATA) */
	int bad_field;                /* nghttp2 refused a field of the response */
	int want_trailers;            /* the client takes trailers: no length, chunked */
	int ws;                       /* a WebSocket: an extended CONNECT (RFC 8441) */
	int ws_open;                  /* its 200 came: a 101 for the exchange, then a tunnel */
	char ws_accept[29];           /* Sec-WebSocket-Accept of the client's key */
	char *held;                   /* a head waiting for the server's SETTINGS */
	size_t held_len;
	const char *fail_why;         /* a request the server cannot take: why */
	int want_room;                /* DATA left: the exchange may give more */
	int head_final;               /* a final head went to the exchange */
	int resp_chunked;             /* the body goes to u->in chunked */
	uint64_t unconsumed;          /* DATA bytes given to u->in, window not opened yet */
	struct evbuffer *trailers;    /* the server's trailers, as HTTP/1.1 lines */
	int closed;                   /* nghttp2 closed the stream */
	uint32_t close_code;
	int told;                     /* the exchange was told the end or a failure */
	struct event timer;           /* the response's time (timers, due) */
	struct timeval tv;            /* restarted by every frame of the response */
	int timing;
	int fixed;                    /* a deadline (due): activity does not move it */
	uint64_t last_us;             /* the last activity (coarse clock) */
	int sending;                  /* the request's body goes: time only what waits for the server */
	TAILQ_ENTRY(h2ustream) link;  /* the connection's streams, while attached */
	struct h2ustream *spare_next; /* the worker's kept streams */
};

#define H2S(u) ((struct h2ustream *)(u))

/* upstream_h2_recv.c: nghttp2's receiving callbacks */
int h2up_begin_headers_cb(nghttp2_session *ng, const nghttp2_frame *frame, void *arg);
int h2up_header_cb(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
    size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *arg);
int h2up_invalid_header_cb(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
    size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *arg);
int h2up_frame_recv_cb(nghttp2_session *ng, const nghttp2_frame *frame, void *arg);
int h2up_frame_send_cb(nghttp2_session *ng, const nghttp2_frame *frame, void *arg);
int h2up_data_cb(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
    void *arg);
int h2up_stream_close_cb(nghttp2_session *ng, int32_t id, uint32_t code, void *arg);
/* The exchange is told a failure (once). */
void h2up_fail(struct h2ustream *s, enum retry_failure f);

/* upstream_h2_conn.c */
struct h2up **h2up_list(struct worker *w, struct server *srv);
struct h2up *h2up_connect(struct worker *w, struct server *srv, char *err, size_t errlen);
/* Everything nghttp2 has to send, then out. */
void h2up_kick(struct h2up *h);
/* The connection failed: every stream is told, then it goes. */
void h2up_conn_failed(struct h2up *h, enum retry_failure f);
/* s leaves its connection; an idle one closes after upstream_idle_ms. */
void h2up_detach(struct h2ustream *s);
/* A stream's response timer (and the deferred telling of a stream that
 * could not be made). */
void h2up_timer_cb(evutil_socket_t fd, short what, void *arg);
/* The request body's timer: runs while bytes wait for the server's
 * window, restarted by each DATA that leaves. */
void h2up_send_timer(struct h2ustream *s);
/* Open s's window by what its client took of the response. */
void h2up_consume(struct h2ustream *s);
/* The silence timer, armed once at the connection's start. */
void h2up_ping_start(struct h2up *h);
/* Its next look: a PING's answer, silence, an idle connection's end. */
void h2up_ping_next(struct h2up *h, uint64_t now);
/* The server's first SETTINGS: heads that waited for them go. */
void h2up_settings_seen(struct h2up *h);
/* The request's DATA provider. */
ssize_t h2up_read_cb(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
    nghttp2_data_source *src, void *arg);

#endif
