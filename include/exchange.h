/*
 * exchange.h - one request and its response (exchange.c), apart from the
 * client connection that carries it.
 *
 * An exchange routes its request, picks a server, takes an upstream
 * connection from the pool, sends the request, reads the response, retries
 * on a fresh connection or on the stable pool, feeds the guard's figures
 * and writes the access line.  It never touches the client's socket: what
 * goes to or comes from the client passes through the codec of the client
 * connection, struct exchange_ops.  The HTTP/1.1 codec (h1.c) carries
 * one exchange at a time; a codec may carry many (each exchange is its own
 * object with its own upstream connection and callbacks).
 *
 * States (exchange_set_state is the only writer of ex->state):
 *   EX_HEAD    the request goes to a server; its response head is awaited
 *   EX_BODY    the response body is relayed to the client
 *   EX_TUNNEL  after 101 Switching Protocols: bytes both ways
 *   EX_DONE    over; exchange_reset makes it EX_HEAD for the next request
 */
#ifndef BGPROXY_EXCHANGE_H
#define BGPROXY_EXCHANGE_H

#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <openssl/ssl.h>

#include "body.h"
#include "proxy.h"

struct exchange;
struct upconn;

enum exchange_state { EX_HEAD, EX_BODY, EX_TUNNEL, EX_DONE };

/*
 * How an exchange ended: the access line's "term" (docs/http.md).  Every
 * exchange whose request head was read ends exactly once, in exchange_end,
 * whatever ended it: that writes its access line and adds it to the
 * guard's figures.  A server's failure after its head went out counts as
 * an error of that server and pool, as before the head; what the client
 * did (went away, too slow, a bad body) is not the server's fault.
 */
enum exchange_term {
	EX_TERM_NONE = 0,
	EX_TERM_DONE,                 /* the response went out whole */
	EX_TERM_REPLIED,              /* our own reply (4xx, 5xx) */
	EX_TERM_TUNNEL,               /* 101: a tunnel follows */
	EX_TERM_CLIENT_ABORT,         /* the client went away (closed, reset the stream) */
	EX_TERM_CLIENT_TIMEOUT,       /* the client too slow: its body, or reading ours */
	EX_TERM_SERVER_RESET,         /* the server closed or reset in its response */
	EX_TERM_SERVER_TIMEOUT,       /* the server went quiet in its response */
	EX_TERM_BAD_BODY,             /* a body broke its framing (the request's or the response's) */
	EX_TERM_SHUTDOWN,             /* cut by bgproxy itself (stopping, a tunnel to a reverted pool) */
	EX_TERMS
};

extern const char *const exchange_term_names[EX_TERMS];

/* Who sent the request: the client connection's, shared by its exchanges. */
struct exchange_peer {
	struct sockaddr_storage sa;
	char addr[INET6_ADDRSTRLEN];  /* text, for headers and the access line */
	size_t addr_len;
	int tls;
	SSL *ssl;                     /* for the access line's TLS fields */
};

/*
 * The codec of the client connection, as the exchange sees it.  Every call
 * may end the exchange (abort, finish, and reply when it returns -1 free
 * it): the exchange returns at once after those.
 */
struct exchange_ops {
	/* Queue a response head for the client (a 1xx interim one too); raw
	 * is the server's head, m its parse. */
	void (*resp_head)(struct exchange *ex, const struct http_msg *m, const char *raw);
	/* Move response body bytes from the server's input (up->in) toward
	 * the client, framed as ex->resp_body.  all: the server closed, move
	 * everything.  Returns 1 at the body's end, 0 for more, -1 on a
	 * framing error. */
	int (*resp_body)(struct exchange *ex, struct upconn *up, int all);
	/* The client side holds as much of the response as it may. */
	int (*resp_full)(struct exchange *ex);
	/* Move request body bytes from the client into the server's output
	 * (up->out, pushed with upstream_push).  Returns 1 at the body's end,
	 * 0 for more, -1 on a framing error (ex->req_error says which). */
	int (*req_body)(struct exchange *ex, struct upconn *up);
	/* more: the server takes the body, read on (client body timer runs);
	 * 0: the server is slow, stop reading the client (no timer). */
	void (*req_flow)(struct exchange *ex, int more);
	/* The whole request is with the server: the client timer stops. */
	void (*req_sent)(struct exchange *ex);
	/* The tunnel is open (the 101 is queued); bytes from the server
	 * (tunnel_down) and room at the server (tunnel_room) for the client. */
	void (*tunnel_start)(struct exchange *ex);
	void (*tunnel_down)(struct exchange *ex, struct upconn *up);
	void (*tunnel_room)(struct exchange *ex);
	/* Our own error response.  Returns 0, or -1 when the client
	 * connection is gone (a response had started: nothing to answer with). */
	int (*reply)(struct exchange *ex, int status, const char *why);
	/* No other request after this one on this client connection. */
	void (*close_after)(struct exchange *ex, const char *why);
	/* The exchange is over, its response with the client. */
	void (*finish)(struct exchange *ex);
	/* The exchange cannot go on: its response cannot be completed. */
	void (*abort)(struct exchange *ex, const char *why);
};

struct exchange {
	uint32_t magic;
	enum exchange_state state;
	struct worker *w;
	const struct exchange_peer *peer;
	const struct exchange_ops *ops;
	void *owner;                  /* the codec's own object */
	int proto;                    /* enum stats_proto of the client connection */
	struct upconn *up;

	/* the request */
	int req_minor;                /* HTTP/1.<req_minor> */
	uint8_t req_method;
	enum body_kind req_body;
	uint64_t req_left;
	struct http_chunked req_chunk;
	const char *req_error;        /* why req_body failed */
	int req_done;                 /* whole request (head + body) sent upstream */
	int req_upgrade;              /* websocket upgrade requested */
	int req_trailers;             /* the client takes trailers (TE: trailers) */
	int attempts;
	struct service *svc;          /* the service the request went to (never NULL once routed) */
	enum pool_id pool;
	struct server *srv;
	char *rhead;                  /* the rewritten head, kept for a retry */
	size_t rhead_len, rhead_cap;
	int rhead_oom;                /* the head could not be built */
	char key[ROUTE_KEY_LEN];
	int set_cookie;               /* answer with Set-Cookie: key */
	char method[16];
	char path[256];
	char reqid[129];              /* the client's X-Request-Id (up to 128 bytes kept) or ours */
	uint64_t t_start;

	/* the response */
	int resp_status;
	enum body_kind resp_body;
	uint64_t resp_left;
	struct http_chunked resp_chunk;
	int resp_reusable;            /* upstream may be reused after it */
	uint64_t resp_bytes;
	int resp_started;             /* a response byte went to the client */
	int err_kind;                 /* enum stats_err of a failed attempt, or -1 */
	int overridden;               /* routed by the override header: not in the window */
	int active_counted;           /* counted in the server's active requests */
	int retried_stable;           /* already sent again to the stable pool */
	int client_fault;             /* ended by the client (body timeout): not in the guard's window */
	int mirrored;                 /* a copy went to the candidate: the answer is its baseline */
	struct body_tee mirror_tee;   /* the copy's body as it leaves (buf NULL: no copy waits) */
	enum pool_id mirror_cand;     /* where that copy goes once the body is complete */
	int interim;                  /* 1xx responses seen for this request */
	int live;                     /* a request head was read: the exchange must end */
	enum exchange_term term;      /* how it ended, or (before) how a reply ends it */
	uint64_t resp_deadline_us;    /* the final head is due by then (request fully sent) */
	const char *up_proto;         /* what its server spoke (upstream_proto.name), NULL: none yet */
	int grpc;                     /* the client asked for gRPC: our own replies are gRPC's */
	int grpc_status;              /* the answer's grpc-status (head or trailers), -1: none */
	/* waiting for a place on srv (max_connections: exchange_queue.c) */
	int queued;
	uint64_t queue_until_us;
	TAILQ_ENTRY(exchange) qlink;
};

/* A new exchange of a client connection (its memory is the caller's). */
void exchange_init(struct exchange *ex, struct worker *w, const struct exchange_peer *peer,
    const struct exchange_ops *ops, void *owner);
/* Ready for the next request; the rewritten-head buffer is kept. */
void exchange_reset(struct exchange *ex);
/* Its upstream connection and counters given back, its memory the
 * caller's; one still live ends as ex->term, else as a client abort. */
void exchange_release(struct exchange *ex);
/* A worker's kept request head buffers go (its end). */
void exchange_rhead_free_spare(struct worker *w);
void exchange_set_state(struct exchange *ex, enum exchange_state to);

/* The request line's part of a parsed head: req_minor, req_method, and
 * method and path (cut to their buffers) for the access line. */
void exchange_request_line(struct exchange *ex, const struct http_msg *m);

/*
 * A request head: the codec has set t_start, method, path, req_minor,
 * req_method, req_body (req_left, req_chunk) and req_upgrade.  Route it,
 * pick a server and build the head for it (m is not needed afterwards).
 * Then exchange_forward sends it, or answers 502/503 itself when that
 * fails.  exchange_forward returns 0 while the exchange goes on, -1 when
 * it ended (answered; the client connection may be gone).
 */
void exchange_prepare(struct exchange *ex, const struct http_msg *m);
int exchange_forward(struct exchange *ex);

/* The worker's queue: requests waiting for a place on a server
 * (max_connections) go on when one frees, those that waited
 * timeouts.queue_ms get 503 (exchange_queue.c; from w->queue_ev and the
 * worker's tick). */
void exchange_queue_run(struct worker *w);

/* The client has more request body bytes. */
void exchange_pump_request(struct exchange *ex);
/* The client has room for more response bytes. */
void exchange_resume_response(struct exchange *ex);
/* The client let timeouts.client_body_ms pass in its request body. */
void exchange_client_body_timeout(struct exchange *ex);
/* The split reverted away from pool: ex, waiting for the first byte of an
 * answer from it, goes to the stable pool at once when it may be sent
 * again (idempotent, no body); 1 when it was moved (or, unable to be
 * sent, answered 502: ex may be gone); 0 when ex is not sv's. */
int exchange_move_to_stable(struct exchange *ex, struct service *sv, int pool);

/* The same for a request waiting on a server marked down (a health check,
 * passive marking): a candidate's goes to the stable pool, the stable
 * pool's to another of its servers. */
int exchange_move_from_down(struct exchange *ex);

/* Our own reply went to the client: the exchange ends (as replied, or as
 * ex->term when that was set before the reply). */
void exchange_replied(struct exchange *ex, int status);

/* The exchange ends as term (nothing when it ended already or never
 * began): its access line and its figures.  Codecs call it when the client
 * ends it; exchange_release ends a live one as a client abort. */
void exchange_end(struct exchange *ex, enum exchange_term term);

#endif
