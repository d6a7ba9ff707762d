/*
 * proxy.h - the runtime shared by the data-path modules: servers, pools,
 * the split, worker threads, client connections and upstream connections.
 *
 * Threading: every worker thread owns an event_base, its listeners, its
 * client connections and its idle upstream connections; nothing of those
 * is touched by another thread.  What all workers read is either an atomic (the split
 * word, server states) or published through an atomic pointer and never
 * changed afterwards (the configuration, the pool membership): a reload
 * publishes new ones and frees the old ones only after every worker has
 * passed its next tick (see reload.c).  Servers themselves live for the
 * whole process in a registry of slots, so a connection may keep a pointer.
 *
 * Types only: the functions of the modules are in worker.h, client.h,
 * upstream.h and http_reply.h.
 */
#ifndef BGPROXY_PROXY_H
#define BGPROXY_PROXY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "clock.h"
#include "config.h"
#include "conn.h"
#include "http_parse.h"
#include "log.h"
#include "route.h"
#include "service.h"
#include "stats.h"

struct tls_ctxset;

/* a server's operator state, set from the admin socket; workers only read
 * it.  Health (health_down) and passive marks (down_until) are apart. */
enum server_state {
	SRV_UP = 0,       /* takes new requests */
	SRV_DOWN,         /* unused as an operator state; "down" is shown from health */
	SRV_DRAINING,     /* operator drain: no new requests, in-flight finish */
	SRV_DISABLED,     /* operator disable: out now */
};

struct server {
	struct service *svc;          /* whose pool it is in */
	enum pool_id pool;
	int slot;                     /* in rt.srvs and the workers' arrays: fixed for the process */
	struct server *next;          /* the service's servers of the same pool, by slot */
	struct config_addr addr;      /* a copy: outlives the configuration it came from */
	_Atomic int removed;          /* no longer in the configuration: no new requests */
	_Atomic int state;            /* enum server_state: the operator's say (up, draining, disabled) */
	_Atomic int health_down;      /* failing active health checks (health.c) */
	_Atomic int fails;            /* consecutive connect failures and timeouts */
	_Atomic uint64_t down_until;  /* passive mark: no new requests before this (monotonic us) */
	_Atomic uint64_t changed_us;  /* when its state (as show servers says it) last changed */
	/* the last active health check (control thread: health.c writes, the
	 * admin socket reads) */
	/* servers[].max_connections: requests at once on connections to it
	 * (all workers), and those waiting for one (exchange.c's queues) */
	_Atomic int maxconn;          /* 0: no limit */
	_Atomic int busy;
	_Atomic int queued;
	struct hcheck *check;         /* its active check (health.c), NULL: none */
	int check_ok;                 /* 1 passed, 0 failed, -1 none yet */
	uint64_t check_us;            /* when (monotonic us) */
	char check_why[96];           /* why it failed */
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
	    !atomic_load_explicit(&srv->health_down, memory_order_relaxed) &&
	    atomic_load_explicit(&srv->down_until, memory_order_relaxed) <= now &&
	    !atomic_load_explicit(&srv->removed, memory_order_relaxed);
}

/* A pool's members in configuration order; immutable once published
 * (the arrays live in the poolset's own block). */
struct pool {
	struct server **servers;
	int *weights;
	int *maxconn;
	size_t nservers;
};

struct poolset {
	struct pool pools[CONFIG_POOLS];
};


/*
 * The split in one atomic word so a request reads it without a lock:
 * bits 0..13 the candidate's share in basis points (0..10000), bit 16 the
 * stable pool.
 */
#define SPLIT_WORD(stable, bp) (((uint32_t)(stable) << 16) | (uint32_t)(bp))
#define SPLIT_STABLE(w)        ((enum pool_id)(((w) >> 16) & 1))
#define SPLIT_BP(w)            ((int)((w) & 0x3fff))

/* different servers (of every service) one process can track */
#define PROXY_MAX_SERVERS 65536

struct h2up;
struct hcheck;
struct svcroute;

struct runtime {
	struct config *_Atomic cfg;                /* the running configuration */
	struct poolset *_Atomic ps;                /* the running pool membership */
	/* the server registry, by slot: every service's servers, each made
	 * once for the process (pools.c); a worker may read the first nsrvs */
	struct server *srvs[PROXY_MAX_SERVERS];
	_Atomic int nsrvs;
	/* the services by slot (service.h); nsvcs slots used, never fewer */
	struct service *svcs[CONFIG_MAX_SERVICES];
	_Atomic int nsvcs;
	struct svcroute *_Atomic route;   /* which service a request goes to (service.c) */
	_Atomic long conns_active;    /* client connections, all workers */
	_Atomic int draining;         /* SIGTERM seen */
	/* grows with every revert of any service (the service says which
	 * pool and when), for closing long-lived connections to that pool */
	_Atomic unsigned revert_seq;
	_Atomic unsigned down_seq;    /* grows when a server is marked down */
	uint64_t started_us;          /* proxy_now_us() at the start (show info's uptime) */
	int nworkers;
	struct worker *workers;
	/* TLS contexts by listener address; the control thread replaces a set
	 * on reload (the old one is freed after every worker ticked) */
	struct {
		struct config_addr addr;
		struct tls_ctxset *_Atomic set;
	} tls[CONFIG_MAX_LISTENERS * 2];
	_Atomic int ntls;
};

extern struct runtime rt;

#define PROXY_REVERT_GRACE_US 1000000ULL  /* tunnels to a reverted pool live this long */
#define PROXY_BUF_HIGH (256 * 1024)   /* output above this: stop reading the other side */
/* Response data one client connection may hold while its client does not
 * read: at most PROXY_RESP_HIGH waiting for the client plus one server read
 * of at most PROXY_RESP_READ, 64 KiB in all (HAProxy holds 2 x 16 KiB,
 * nginx 8 x 8 KiB).  Reads from servers arrive in ~16 KiB pieces on
 * loopback anyway, so large downloads lose nothing (bench/slow_readers.py). */
#define PROXY_RESP_HIGH (32 * 1024)
#define PROXY_RESP_READ (32 * 1024)
#define PROXY_RESP_HEAD_MAX 65536     /* response head limit */

struct upconn;
struct client;
struct exchange;

/* what a worker keeps of one server (w->idle[srv->slot]): its idle
 * keep-alive connections, its last TLS session, its HTTP/2 connections,
 * its place in the round-robin */
struct upidle {
	struct upconn *head;          /* LIFO: the most recently used first */
	int n;
	/* TLS: the server's last session, to resume with (of that pool TLS) */
	SSL_SESSION *sess;
	uint64_t sess_gen;            /* the tls_up it came with (tls_up.gen) */
	struct h2up *h2;              /* HTTP/2 connections to it (upstream_h2.c) */
	int rr;                       /* its current weight in the worker's round-robin (pools.c) */
};

/* one listening socket of a worker */
struct wlistener {
	struct evconnlistener *l;
	struct config_addr addr;
	int tls;
};

/* listeners a reload adds (sockets already bound by the control thread) and
 * removes, handed to one worker */
struct lis_change {
	size_t nadd, nrem;
	struct wlistener add[CONFIG_MAX_LISTENERS];   /* l unset; fd in add_fd */
	evutil_socket_t add_fd[CONFIG_MAX_LISTENERS];
	struct config_addr rem[CONFIG_MAX_LISTENERS];
};

struct mirror;

struct worker {
	int id;
	/* a client connection of this worker ended (client.c reports up
	 * through it: client.c does not call into worker.c) */
	void (*client_gone)(struct worker *w);
	pthread_t thread;
	struct event_base *base;
	struct wlistener lis[CONFIG_MAX_LISTENERS];
	size_t nlis;
	int accept_paused;            /* listeners disabled by max_connections or EMFILE */
	struct event *tick;           /* 100 ms housekeeping */
	struct event *notify_ev;      /* eventfd: drain or a listener change */
	int notify_fd;
	pthread_mutex_t chg_lock;     /* guards chg, set by the control thread */
	struct lis_change *chg;
	_Atomic uint64_t epoch;       /* ticks passed: a reload frees old data after one */
	unsigned revert_seen;         /* rt.revert_seq whose reverts are all acted on */
	int revert_pending;           /* a revert's grace is not over yet */
	unsigned down_seen;           /* rt.down_seq whose waiting requests moved */
	size_t freed_big;             /* bytes large connections gave back since the last trim */
	size_t h2_held;               /* request body bytes its HTTP/2 connections hold (h2.c) */
	uint64_t trimmed_us;          /* when the allocator last gave memory back to the system */
	int mirrors;                  /* copies to the candidate in flight (mirror.c) */
	struct mirror *mirror_list;   /* those copies */
	int draining;
	struct event *drain_deadline;
	LIST_HEAD(client_list, client) clients;  /* all live client connections, for drain */
	long nclients;
	struct log_buf alog;
	struct route_rng rng;
	struct upidle *idle;          /* [PROXY_MAX_SERVERS], by server slot */
	/* HTTP/2 streams to servers kept for the next requests (upstream_h2.c):
	 * a stream's struct and buffers are made once, not per request */
	void *h2up_spare;
	int h2up_nspare;
	/* request head buffers kept for the next exchanges (exchange.c) */
	void *rhead_spare;
	int rhead_nspare;
	/* requests waiting for a server at its max_connections (exchange.c),
	 * oldest first; queue_ev runs them when a connection of this worker
	 * frees a place, the tick when another worker's does or time is up */
	TAILQ_HEAD(, exchange) queue;
	struct event *queue_ev;
	struct stats_worker *stats;   /* this worker's counters and windows */
	_Atomic int done;             /* the event loop has ended */
	/* upstream failures and retries since the last summary line: each is
	 * logged at debug, and at most one info line a second sums them up */
	struct {
		unsigned failures;        /* failed attempts (connect, reset, timeout, closed) */
		unsigned retries;         /* of those, sent again to the stable pool */
		uint64_t last_us;         /* when the last summary was logged */
		char last[160];           /* the last failure, for the summary */
	} upfail;
	struct http_msg msg;          /* parse scratch, valid during one callback */
	char scratch[PROXY_RESP_HEAD_MAX + 8192]; /* head building scratch */
};

/* The worker's figures of service sv, made on its first request (NULL:
 * out of memory, nothing is counted).  Worker thread. */
static inline struct stats_svc *
worker_stats_svc(struct worker *w, struct service *sv)
{
	struct stats_svc *s = atomic_load_explicit(&w->stats->svc[sv->id], memory_order_relaxed);

	return s != NULL ? s : stats_svc_make(w->stats, sv->id, &sv->sh,
	    service_cfg(sv)->guard_window_s);
}

#endif
