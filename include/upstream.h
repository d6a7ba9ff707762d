/*
 * upstream.h - the seam between an exchange and its server: connections to
 * servers, their per-worker idle pools (upstream.c), and the protocol the
 * server speaks (HTTP/1.1 today: upstream_h1.c).
 *
 * Downward, the exchange asks the server's protocol through struct
 * upstream_proto: send a request head, push body bytes, pause or resume the
 * response, time it, open a tunnel, give the connection back or close it.
 * Upward, the protocol tells the exchange through struct upstream_events
 * what came: a response head (interim ones too), body or tunnel bytes,
 * room for more of the request, a failure, a malformed response.  The
 * exchange knows no wire format of the server side, and this side knows no
 * exchange: a protocol for servers that speak HTTP/2 is a new
 * upstream_proto, not a fork of the exchange.
 *
 * Body bytes pass through u->in (the response) and u->out (the request),
 * framed as the protocol's `framed` says: an HTTP/1.1 server's bytes carry
 * their HTTP/1.1 framing (Content-Length, chunked, until close), as the
 * head it sent or was sent says.
 */
#ifndef BGPROXY_UPSTREAM_H
#define BGPROXY_UPSTREAM_H

#include "body.h"
#include "proxy.h"
#include "retry.h"

struct upconn;
struct tls_up;

/*
 * The timers of a server connection, by what it is doing (docs/http.md):
 *   IDLE     in the pool: closed after timeouts.upstream_idle_ms
 *   SENDING  the request is still going up (the client may be slow): no
 *            response timer; the server must take our bytes within
 *            upstream_response_ms
 *   WAITING  the request is fully sent: upstream_response_ms for the
 *            response, restarted by every byte received
 *   NONE     a tunnel: long-lived, no timer
 */
/* send_head's flags */
#define UPSTREAM_NO_BODY 1u   /* the response carries no body whatever its head says (HEAD) */
#define UPSTREAM_TRAILERS 2u  /* the client takes trailers (TE: trailers): keep a way for them */

enum upstream_timers { UPSTREAM_T_IDLE, UPSTREAM_T_SENDING, UPSTREAM_T_WAITING, UPSTREAM_T_NONE };

/* A response head as the server's protocol read it. */
struct upstream_resp {
	const struct http_msg *m;     /* its parse: status, version, fields */
	const char *raw;              /* its bytes, HTTP/1.1 text */
	enum body_kind body;          /* how its body comes in u->in (final heads) */
	uint64_t length;              /* BODY_LENGTH: the body's bytes */
	int keep;                     /* the connection may carry another request after it */
};

/*
 * What the server's protocol tells the exchange, arg being the exchange's.
 * head and body return 0 to go on, -1 when the exchange let go of the
 * connection (it ended, went to another connection, or closed it: u may be
 * gone and the protocol touches nothing more).
 */
struct upstream_events {
	/* A response head: interim (1xx but 101) or final. */
	int (*head)(void *arg, const struct upstream_resp *r);
	/* Response body or tunnel bytes wait in u->in; u->eof when the
	 * server closed after them. */
	int (*body)(void *arg);
	/* The request side drained: room for more body or tunnel bytes. */
	void (*room)(void *arg);
	/* The connection failed (closed, reset, timed out, no connect); in a
	 * tunnel, its end.  The exchange lets go of u. */
	void (*failed)(void *arg, enum retry_failure f);
	/* The server's answer broke the protocol (logged with why); the
	 * exchange lets go of u. */
	void (*bad)(void *arg, const char *why);
};

struct upstream_proto {
	const char *name;             /* "http/1.1" */
	int framed;                   /* body bytes carry HTTP/1.1 framing */
	/* Tie u to an exchange's events; reading starts. */
	void (*attach)(struct upconn *u, const struct upstream_events *ev, void *arg);
	/* The request head goes out (not yet written: push does); flags of
	 * UPSTREAM_NO_BODY, UPSTREAM_TRAILERS. */
	void (*send_head)(struct upconn *u, const char *head, size_t len, unsigned flags);
	/* Write what waits in u->out (hold: made ready, sent with what
	 * follows); returns the bytes still to go. */
	size_t (*push)(struct upconn *u, int hold);
	/* Bytes still to go to the server. */
	size_t (*pending)(const struct upconn *u);
	/* Read the response on (1) or pause it (0): the client is full. */
	void (*read)(struct upconn *u, int on);
	/* The request is over in this direction (a tunnel's half-close). */
	void (*shutdown)(struct upconn *u);
	void (*timers)(struct upconn *u, enum upstream_timers which);
	/* The response (head) is due within us microseconds, however many
	 * bytes come before it. */
	void (*due)(struct upconn *u, uint64_t us);
	/* After a 101: bytes both ways from now on, no timers. */
	void (*tunnel)(struct upconn *u);
	/* The exchange is done with u: kept for the next request when its
	 * response ended clean, closed otherwise. */
	void (*done)(struct upconn *u, int clean);
	/* Closed now (bytes the server never took: a reset). */
	void (*free)(struct upconn *u);
};

extern const struct upstream_proto upstream_h1;
extern const struct upstream_proto upstream_h2;

/* HTTP/2 to srv (upstream_h2.c): a stream on one of the worker's
 * connections to it with room, or on a new one; and, at a worker's end,
 * its connections closed. */
struct upconn *upstream_h2_get(struct worker *w, struct server *srv, int fresh, char *err,
    size_t errlen);
void upstream_h2_free_all(struct worker *w);
/* Connections to one server go: idle now, busy ones after their streams. */
void upstream_h2_drain(struct worker *w, struct server *srv);

/* Whose sessions a TLS connection to a server makes (its SSL's app data):
 * kept per server and worker, offered again for resumption. */
struct upsess_owner {
	struct worker *w;
	struct server *srv;
	uint64_t gen;                 /* the pool's TLS it was made under (tls_up.gen) */
};

/* The SSL of a new connection to o->srv under t (SNI, the name to verify),
 * the worker's last session for it offered when made under the same t. */
SSL *upstream_tls_ssl(struct upsess_owner *o, const struct tls_up *t, char *err, size_t errlen);

struct upconn {
	struct conn c;
	const struct upstream_proto *proto;
	struct evbuffer *in;          /* the response's bytes */
	struct evbuffer *out;         /* the request's bytes */
	struct worker *w;
	struct server *srv;
	const struct upstream_events *ev;
	void *arg;                    /* the exchange's; NULL while idle */
	struct upconn *next;          /* idle list link */
	int reused;                   /* served a request before */
	int eof;                      /* the server closed after what u->in holds */
	int no_body;                  /* the response has no body (HEAD) */
	int tunnel;                   /* after a 101: bytes both ways */
	int in_body;                  /* a final head came: body bytes follow */
	uint64_t tls_gen;             /* the pool's TLS it speaks (tls_up.gen), 0: plain TCP */
	int slot;                     /* holds a place of srv's max_connections */
	struct upsess_owner sess;     /* TLS: whose sessions it makes */
	/* TLS: connect and handshake within timeouts.upstream_connect_ms, however
	 * slowly the server sends its part (armed from the connect on) */
	struct event hs_timer;
	int hs_armed;
};

/* A connection to srv, pooled unless fresh, in the protocol srv speaks;
 * the caller attaches it and sets its timers (SENDING or, for a request
 * without a body, WAITING). */
struct upconn *upstream_get(struct worker *w, struct server *srv, int fresh, char *err,
    size_t errlen);

static inline size_t
upstream_push(struct upconn *u, int hold)
{
	return u->proto->push(u, hold);
}

static inline size_t
upstream_pending(const struct upconn *u)
{
	return u->proto->pending(u);
}

static inline void
upstream_read(struct upconn *u, int on)
{
	u->proto->read(u, on);
}

/* The exchange is done with u (upstream_proto.done); closed now (.free). */
static inline void
upstream_done(struct upconn *u, int clean)
{
	u->proto->done(u, clean);
}

static inline void
upstream_close(struct upconn *u)
{
	u->proto->free(u);
}

/*
 * A request's place on srv's connections (servers[].max_connections): 1
 * when it may have a connection (the caller sets u->slot = 1 on the one it
 * gets, or gives the place back), 0 when the server is full.  A place is
 * given back when its connection leaves the request (release or free);
 * requests queued in that worker then run (w->queue_ev).
 */
int upstream_slot_take(struct server *srv);
void upstream_slot_give(struct worker *w, struct server *srv);

/* The TLS handshake is over (done, or the connection goes): its timer stops. */
void upstream_hs_done(struct upconn *u);

/* The new-session callback of a pool's TLS (tls_up_new): the server's
 * session kept for resumption. */
int upstream_tls_session(SSL *ssl, SSL_SESSION *sess);

/* body_move_flush's push for a server connection (arg: the upconn). */
size_t upstream_push_cb(void *arg, int hold);

/* The pool, for the protocols (upstream.c). */
void upstream_release(struct upconn *u);
void upstream_free(struct upconn *u);
void upstream_set_timers(struct upconn *u, enum upstream_timers which);
void upstream_free_idle(struct worker *w);
void upstream_free_disabled(struct worker *w);
void upstream_free_pool(struct worker *w, struct service *sv, int pool);

#endif
