/*
 * proxy.h - the runtime shared by the data-path modules: servers, pools,
 * the split, worker threads, client sessions and upstream connections.
 *
 * Threading: every worker thread owns an event_base, its listeners, its
 * sessions and its idle upstream connections; nothing of those is touched
 * by another thread.  What all workers read (servers, the split word, the
 * config) is either immutable while they run or an atomic.
 */
#ifndef BGPROXY_PROXY_H
#define BGPROXY_PROXY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "config.h"
#include "conn.h"
#include "http_parse.h"
#include "log.h"
#include "route.h"
#include "stats.h"

/* a server's state; the health checker and the admin socket change it
 * (later releases); workers only read it */
enum server_state {
	SRV_UP = 0,       /* takes new requests */
	SRV_DOWN,         /* failed health checks: no new requests */
	SRV_DRAINING,     /* operator drain: no new requests, in-flight finish */
	SRV_DISABLED,     /* operator disable: out now */
};

struct server {
	const struct config_server *cfg;
	enum pool_id pool;
	int index;                    /* in its pool */
	_Atomic int state;            /* enum server_state */
	_Atomic int fails;            /* consecutive connect failures and timeouts */
	_Atomic uint64_t down_until;  /* passive mark: no new requests before this (monotonic us) */
};

/* Passive marking: this many consecutive connect failures or timeouts take a
 * server out of rotation for the cooldown; then it gets requests again and
 * the first success clears the count. */
#define SERVER_PASSIVE_FALL 3
#define SERVER_PASSIVE_COOLDOWN_US (10ULL * 1000000)

/* May the server take a new request at monotonic time now (us)? */
static inline int
server_usable(struct server *srv, uint64_t now)
{
	return atomic_load_explicit(&srv->state, memory_order_relaxed) == SRV_UP &&
	    atomic_load_explicit(&srv->down_until, memory_order_relaxed) <= now;
}

struct pool {
	const char *name;
	struct server servers[CONFIG_MAX_SERVERS];
	int weights[CONFIG_MAX_SERVERS];
	size_t nservers;
};

/*
 * The split in one atomic word so a request reads it without a lock:
 * bits 0..13 the candidate's share in basis points (0..10000), bit 16 the
 * stable pool.
 */
#define SPLIT_WORD(stable, bp) (((uint32_t)(stable) << 16) | (uint32_t)(bp))
#define SPLIT_STABLE(w)        ((enum pool_id)(((w) >> 16) & 1))
#define SPLIT_BP(w)            ((int)((w) & 0x3fff))

struct runtime {
	struct config *cfg;
	struct pool pools[CONFIG_POOLS];
	_Atomic uint32_t split;
	_Atomic long conns_active;    /* client connections, all workers */
	_Atomic int draining;         /* SIGTERM seen */
	int nworkers;
	struct worker *workers;
};

extern struct runtime rt;

#define PROXY_BUF_HIGH (256 * 1024)   /* output above this: stop reading the other side */
#define PROXY_RESP_HEAD_MAX 65536     /* response head limit */

struct upconn;
struct session;

/* idle keep-alive connections to one server, owned by one worker */
struct upidle {
	struct upconn *head;          /* LIFO: the most recently used first */
	int n;
};

struct worker {
	int id;
	pthread_t thread;
	struct event_base *base;
	struct evconnlistener *listeners[CONFIG_MAX_LISTENERS];
	size_t nlisteners;
	int accept_paused;            /* listeners disabled by max_connections or EMFILE */
	struct event *tick;           /* 100 ms housekeeping */
	struct event *notify_ev;      /* eventfd: the main thread asks us to drain */
	int notify_fd;
	int draining;
	struct event *drain_deadline;
	struct session *sessions;     /* all live sessions, for drain */
	long nsessions;
	struct log_buf alog;
	struct route_rng rng;
	int rr_current[CONFIG_POOLS][CONFIG_MAX_SERVERS];
	struct upidle idle[CONFIG_POOLS][CONFIG_MAX_SERVERS];
	struct stats_worker *stats;   /* this worker's counters and windows */
	_Atomic int done;             /* the event loop has ended */
	struct http_msg msg;          /* parse scratch, valid during one callback */
	char scratch[PROXY_RESP_HEAD_MAX + 8192]; /* head building scratch */
};

/* worker.c */
int worker_start_all(char *err, size_t errlen);
void worker_drain_all(void);
void worker_join_all(void);
void worker_free_all(void);
int worker_all_done(void);
void worker_session_gone(struct worker *w);

/* session.c */
void session_accept(struct worker *w, evutil_socket_t fd, struct sockaddr *sa, int salen,
    int tls);
void session_drain_all(struct worker *w);
void session_close_all(struct worker *w);
void session_close_disabled(struct worker *w);

/* upstream.c */
struct upconn *upstream_get(struct worker *w, struct server *srv, int fresh, char *err,
    size_t errlen);
void upstream_release(struct upconn *u);
void upstream_free(struct upconn *u);
void upstream_free_idle(struct worker *w);
void upstream_free_disabled(struct worker *w);

struct upconn {
	struct conn c;
	struct worker *w;
	struct server *srv;
	struct session *owner;        /* NULL while idle */
	struct upconn *next;          /* idle list link */
	int reused;                   /* served a request before */
};

/* http_reply.c */
struct evbuffer;
void http_reply_error(struct evbuffer *out, int status, int close_conn, const char *extra);

/* monotonic microseconds */
uint64_t proxy_now_us(void);

#endif
