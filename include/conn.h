/*
 * conn.h - a thin buffered socket for the data path.
 *
 * Why not libevent's bufferevent_socket: per read it asks the kernel how
 * many bytes are waiting (ioctl FIONREAD) and reads at most 4 KiB, and
 * every write adds and removes the write event (two epoll_ctl calls).  Here
 * the read event stays registered, a read takes up to 64 KiB into the
 * input evbuffer, and output is written at once with writev; the write
 * event is only used when the kernel's send buffer is full.  That halves
 * the system calls per proxied request.  (Measured with bench/: see
 * docs/performance.md.)
 *
 * A conn belongs to one event_base (one worker thread).  Callbacks are
 * never called from inside conn_flush() or conn_connect(): only from the
 * conn's own events, so a caller never sees its own state change under it.
 */
#ifndef BGPROXY_CONN_H
#define BGPROXY_CONN_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <openssl/ssl.h>

struct evbuffer;

/* what: for the event callback */
#define CONN_EV_READING   0x01   /* timeout while reading */
#define CONN_EV_WRITING   0x02   /* timeout while writing (or connecting) */
#define CONN_EV_EOF       0x10
#define CONN_EV_ERROR     0x20
#define CONN_EV_TIMEOUT   0x40
#define CONN_EV_HANDSHAKE 0x100  /* TLS handshake done (alone) or failed (with ERROR) */

struct conn;
typedef void (*conn_cb)(struct conn *c, void *arg);
typedef void (*conn_event_cb)(struct conn *c, short what, void *arg);

struct conn {
	evutil_socket_t fd;
	struct event_base *base;
	struct event rev;            /* persistent read event, with the read timeout */
	struct event wev;            /* write / connect event, only while needed */
	struct evbuffer *in;
	struct evbuffer *out;
	conn_cb readcb;              /* new bytes in `in` */
	conn_cb writecb;             /* output drained to <= wlowat by an event-driven write */
	conn_event_cb eventcb;       /* CONN_EV_* */
	void *arg;
	size_t wlowat;
	struct timeval rto, wto;     /* zero: no timeout */
	struct timeval cto;          /* connect timeout */
	size_t rsize;                /* bytes asked for by the next read */
	size_t rmax;                 /* at most this much in `in`: reading pauses there
	                              * until the owner drains it and enables reading */
	int err;                     /* errno of a failed connect/read/write */
	unsigned reading : 1;        /* rev is added */
	unsigned want_read : 1;      /* the owner wants reading (kept across a pause) */
	unsigned writing : 1;        /* wev is added */
	unsigned connecting : 1;     /* connect() in progress */
	unsigned eof : 1;            /* the peer closed its sending side */
	unsigned failed : 1;         /* an error is pending delivery */
	/* TLS (client side of the proxy only) */
	SSL *ssl;                    /* NULL: plain TCP */
	struct evbuffer *tls_wbuf;   /* TLS records written, not yet sent (see conn.c) */
	unsigned hs_done : 1;        /* handshake complete */
	unsigned rd_want_write : 1;  /* SSL_read needs the socket writable */
	unsigned wr_want_read : 1;   /* SSL_write needs the socket readable */
	unsigned tls_end : 2;        /* 1: close_notify/EOF, 2: error, to deliver after the data */
	unsigned tls_hold : 1;       /* conn_flush_hold: records are made, not sent */
	unsigned tls_shut : 1;       /* our close_notify is queued */
	unsigned long tls_err;       /* OpenSSL's error when TLS failed (handshake or read), 0: none */
};

/* Set up c on an open non-blocking socket (connected or accepted).
 * Returns 0, or -1 when out of memory (fd is then not closed). */
int conn_init(struct conn *c, struct event_base *base, evutil_socket_t fd);

/* Start a non-blocking connect of a new socket to sa, bounded by cto (NULL:
 * none).  Returns 0 or -1 with errno when no socket could be made.  A
 * failure arrives as CONN_EV_ERROR|CONN_EV_WRITING, a connect timeout as
 * CONN_EV_TIMEOUT|CONN_EV_WRITING with c->connecting still set; success is
 * silent (reading starts if enabled, pending output is written). */
int conn_connect(struct conn *c, struct event_base *base, const struct sockaddr *sa,
    socklen_t salen, const struct timeval *cto);

/* Close the socket and free the buffers; c itself is the caller's. */
void conn_release(struct conn *c);

void conn_setcb(struct conn *c, conn_cb readcb, conn_cb writecb, conn_event_cb eventcb,
    void *arg);

/* Timeouts: rd applies while reading is enabled and no byte arrives, wr while
 * output is waiting for the socket (and for a connect).  NULL: none. */
void conn_set_timeouts(struct conn *c, const struct timeval *rd, const struct timeval *wr);

void conn_read_enable(struct conn *c);
void conn_read_disable(struct conn *c);

/* Write what is in `out` now, as far as the socket takes it; the rest goes
 * when the socket is writable.  Never calls a callback. */
void conn_flush(struct conn *c);

/* Half-close: no more output from us (after flushing).  With TLS a
 * close_notify goes first. */
void conn_shutdown_write(struct conn *c);

/*
 * TLS: turn what waits in `out` into records but do not send them yet (the
 * caller knows more follows soon: a close_notify, say), so that they leave
 * in one write with it.  The next conn_flush sends.  Plain TCP: conn_flush.
 */
void conn_flush_hold(struct conn *c);

/* TLS: queue our close_notify now (it leaves with the next flush or at
 * release); nothing for plain TCP. */
void conn_close_notify(struct conn *c);

/* Bytes still to go to the peer: `out`, and with TLS the records made of
 * it that the socket has not taken yet.  0 means everything was sent. */
size_t conn_out_pending(const struct conn *c);

/* Flush (hold: conn_flush_hold) and return conn_out_pending: the push of a
 * body's destination (body.h's body_push_fn). */
size_t conn_push_cb(void *arg, int hold);

/*
 * Speak TLS on c (a server side: the handshake is driven by the events;
 * takes ownership of ssl).  The event callback gets CONN_EV_HANDSHAKE when
 * the handshake is done, CONN_EV_ERROR|CONN_EV_HANDSHAKE when it failed;
 * reads and writes carry application data after that.
 */
void conn_start_tls(struct conn *c, SSL *ssl);

#endif
