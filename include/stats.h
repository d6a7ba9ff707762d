/*
 * stats.h - counters and sliding windows, per worker thread.
 *
 * Each worker owns one struct stats_worker (and in it a block per service
 * and per server) and is its only writer: updates
 * are relaxed atomic load+store pairs (no locked instruction, no lock).  The
 * control thread reads every worker's block with relaxed loads and adds
 * them up: totals for the Prometheus metrics, and a sliding window over the
 * last window_s seconds for `status` and the guard.  A reader may see a
 * slot that is being recycled; the figures are statistics, not accounts.
 *
 * Records, decides nothing.
 */
#ifndef BGPROXY_STATS_H
#define BGPROXY_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* request duration histogram buckets for Prometheus, upper bounds in seconds */
#define STATS_PROM_BUCKETS 14
extern const double stats_prom_bounds[STATS_PROM_BUCKETS]; /* 0.0005 .. 10; +Inf implicit */

/* latency buckets of the window: logarithmic, 18 per power of two (each at
 * most 4.0% wide), from 0.05 ms to ~230 s (values outside are clamped to the
 * end buckets) */
#define STATS_LAT_BUCKETS 400

#define STATS_WIN_SLOTS 64     /* ring of slots, each slot_s seconds wide */

/* connect: no connection; timeout: no answer in time (before or in the
 * body); reset: the server closed or reset (before or in the body);
 * protocol: a malformed response head or body */
enum stats_err { STATS_ERR_CONNECT = 0, STATS_ERR_TIMEOUT, STATS_ERR_RESET, STATS_ERR_PROTOCOL,
	STATS_ERR_GRPC,               /* a grpc-status in guard.grpc_error_codes */
	STATS_ERR_KINDS };

#define STATS_GRPC_CODES 17           /* gRPC status codes 0..16 */

/* the client's protocol: bgproxy_requests_total{proto} */
enum stats_proto { STATS_PROTO_H1 = 0, STATS_PROTO_H2, STATS_PROTOS };
extern const char *const stats_proto_names[STATS_PROTOS];  /* "http/1.1", "h2" */

/* why bgproxy sent an HTTP/2 connection GOAWAY: bgproxy_http2_goaways_total{reason} */
enum stats_goaway {
	STATS_GOAWAY_SHUTDOWN = 0,    /* SIGTERM, drain: NO_ERROR, open streams finish */
	STATS_GOAWAY_RELOAD,          /* a reload: the same, the client reconnects */
	STATS_GOAWAY_IDLE,            /* no stream for timeouts.client_idle_ms */
	STATS_GOAWAY_HEADER_TIMEOUT,  /* a header block not complete within client_header_ms */
	STATS_GOAWAY_PROTOCOL,        /* a connection error of RFC 9113 */
	STATS_GOAWAY_RAPID_RESET,     /* streams reset faster than the budget (CVE-2023-44487) */
	STATS_GOAWAY_CONTINUATION,    /* CONTINUATION flood */
	STATS_GOAWAY_HEADER_LIST,     /* a header list far past max_header_list_size (HPACK bomb) */
	STATS_GOAWAY_CONTROL_FLOOD,   /* SETTINGS / PING / PRIORITY / WINDOW_UPDATE flood */
	STATS_GOAWAY_EMPTY_FRAMES,    /* empty DATA or HEADERS without an end */
	STATS_GOAWAY_ZERO_WINDOW,     /* the client never opened its window */
	STATS_GOAWAYS
};
extern const char *const stats_goaway_names[STATS_GOAWAYS];

/* what became of a copy of a stable request (mirror.c) */
enum stats_mirror { STATS_MIRROR_SENT = 0, STATS_MIRROR_SKIPPED, STATS_MIRROR_ERROR,
	STATS_MIRROR_OK, STATS_MIRRORS };
extern const char *const stats_mirror_names[STATS_MIRRORS];  /* "sent", "skipped", ... */

/* The guard's classes of requests: the pools' own (a pool's index), and
 * for shadow traffic the copies' answers from the candidate and the
 * stable pool's answers to the same requests (the copies' baseline). */
enum stats_class { STATS_SHADOW = CONFIG_POOLS, STATS_SHADOW_BASE, STATS_CLASSES };

typedef _Atomic uint64_t stats_ctr;

struct stats_slot {
	stats_ctr stamp;                     /* epoch << 40 | slot index (time / slot_s) */
	stats_ctr requests;
	stats_ctr errors;                    /* 5xx from the server + upstream errors */
	stats_ctr err_kind[STATS_ERR_KINDS];
	stats_ctr status_5xx;
};

/* What the workers share of one service's figures: the epochs its
 * windows count from, and the judge's latency bounds (stats_set_slow_bounds). */
struct stats_shared {
	_Atomic uint32_t epoch;
	_Atomic uint32_t shadow_epoch;   /* the shadow classes' own, added to it */
	_Atomic uint64_t slow_us[2];
};

/* One server's figures in one worker (stats_worker.srv, by server slot). */
struct stats_srv {
	stats_ctr requests;
	stats_ctr errors;
	stats_ctr err_kind[STATS_ERR_KINDS];
	stats_ctr s5xx;                      /* the server's own 5xx (not ours after a failure) */
	/* requests that waited for a place (max_connections), and of those the
	 * ones that waited timeouts.queue_ms in vain */
	stats_ctr queued;
	stats_ctr queue_timeouts;
	stats_ctr cls[6];                    /* by status/100 (1..5) */
	_Atomic int64_t active;
};

/* One service's figures in one worker: its pools' totals and the guard's
 * windows.  Made by the worker on the service's first request. */
struct stats_svc {
	struct stats_shared *sh;
	/* totals since start */
	stats_ctr requests[CONFIG_POOLS][STATS_PROTOS][6]; /* by class: index status/100 (1..5) */
	stats_ctr upstream_errors[CONFIG_POOLS][STATS_ERR_KINDS];
	stats_ctr dur_bucket[CONFIG_POOLS][STATS_PROM_BUCKETS]; /* non-cumulative counts */
	stats_ctr dur_count[CONFIG_POOLS];
	stats_ctr dur_sum_us[CONFIG_POOLS];
	stats_ctr routed[STATS_CLASSES];                 /* requests counted in the window */
	/* of those: failed, and slower than the judge's bounds (stats_set_slow_bounds) */
	stats_ctr routed_err[STATS_CLASSES];
	stats_ctr routed_slow[STATS_CLASSES][2];
	stats_ctr routed_bound1[STATS_CLASSES];  /* requests while the second bound was set */
	stats_ctr mirror[STATS_MIRRORS];
	/* gRPC answers by pool and grpc-status (bgproxy_grpc_responses_total) */
	stats_ctr grpc[CONFIG_POOLS][STATS_GRPC_CODES];
	/* sliding window, per class (override-routed requests are left out) */
	unsigned slot_s;                                  /* seconds per slot, >= 1 */
	struct stats_slot win[STATS_CLASSES][STATS_WIN_SLOTS];
	/* the window's latencies, by bucket, then slot: a request touches the
	 * row of its bucket, so only the rows of the latencies a service sees
	 * take memory (about 40 KiB a busy service, not 220) */
	_Atomic uint32_t lat[STATS_CLASSES][STATS_LAT_BUCKETS][STATS_WIN_SLOTS];
};

/* One worker's figures: its own, each server's, each service's. */
struct stats_worker {
	stats_ctr retries;
	stats_ctr unrouted;           /* requests no service took: 404 (services.md) */
	stats_ctr tls_handshakes;
	stats_ctr tls_handshake_errors;
	_Atomic int64_t h2_streams_active;               /* HTTP/2 streams open now */
	stats_ctr h2_goaways[STATS_GOAWAYS];
	stats_ctr h2_held_pauses;     /* a connection's request bodies reached H2_HELD_MAX */
	struct stats_srv *srv;        /* [nsrv], by server slot */
	size_t nsrv;
	/* by service slot; NULL until the service's first request here */
	struct stats_svc *_Atomic svc[CONFIG_MAX_SERVICES];
};

/* Single-writer increment: a plain load and store, no locked instruction. */
#define STATS_ADD(ctr, n) atomic_store_explicit(&(ctr), \
	atomic_load_explicit(&(ctr), memory_order_relaxed) + (n), memory_order_relaxed)
#define STATS_INC(ctr) STATS_ADD(ctr, 1)
#define STATS_GET(ctr) atomic_load_explicit(&(ctr), memory_order_relaxed)

/* Zero w and give it room for nsrv servers' figures; 0 or -1 (no memory).
 * stats_worker_free gives it back (not w itself). */
int stats_worker_init(struct stats_worker *w, size_t nsrv);
void stats_worker_free(struct stats_worker *w);

/* Tie s (zeroed by its calloc: the pages of the window it never uses stay
 * untouched) to its service's shared part, and set its slot width so
 * STATS_WIN_SLOTS slots cover window_s with room to spare (slot_s =
 * ceil(window_s / (STATS_WIN_SLOTS - 4))). */
void stats_svc_init(struct stats_svc *s, struct stats_shared *sh, int window_s);

/* A new block of service id in worker w, tied to sh, published in
 * w->svc[id] (worker thread); NULL when out of memory. */
struct stats_svc *stats_svc_make(struct stats_worker *w, int id, struct stats_shared *sh,
    int window_s);

/*
 * Record one finished request in the worker's block of its service, and of
 * its server srv (NULL: none) (worker thread only).
 * proto: an enum stats_proto;
 * status: the status sent to the client (0 if none was sent);
 * err_kind: an enum stats_err for an upstream failure, or -1;
 * in_window: 0 for override-routed requests (kept out of the window);
 * now_s: monotonic seconds; dur_us: duration.
 */
void stats_record(struct stats_svc *w, struct stats_srv *srv, int pool, int proto, int status,
    int err_kind, int in_window, uint64_t now_s, uint64_t dur_us);

/* Record one answer in a shadow class's window (STATS_SHADOW: a copy's,
 * its status 0 when it got none; STATS_SHADOW_BASE: the stable answer to a
 * copied request).  Worker thread only; counted in routed[cls] too. */
void stats_record_shadow(struct stats_svc *w, int cls, int status, int err_kind,
    uint64_t now_s, uint64_t dur_us);

/* Start a service's windows afresh (every pool, every worker): requests
 * recorded before this call no longer count, from the next request on.
 * The control thread calls it when the candidate starts getting traffic,
 * so what it did before a revert cannot trip the guard again at once. */
void stats_new_epoch(struct stats_shared *sh);

/* The same for the shadow classes alone: copies start again. */
void stats_new_shadow_epoch(struct stats_shared *sh);

/* The window summed over workers, for one class (a pool or a shadow class). */
struct stats_window {
	uint64_t requests;
	uint64_t errors;
	uint64_t err_kind[STATS_ERR_KINDS];
	uint64_t status_5xx;
	uint32_t lat[STATS_LAT_BUCKETS];
};

/* Sum the last window_s seconds (the current partial slot included) of
 * class pool (an enum pool_id or stats_class) over n worker blocks of one
 * service (NULL ones skipped) at monotonic time now_s. */
void stats_window_sum(struct stats_svc *const *w, size_t n, int pool, int window_s,
    uint64_t now_s, struct stats_window *out);

/* Requests routed to pool by the split (not by the override header) since
 * start, summed over workers: the rollout counts a step's requests with it
 * (and a shadow phase's copies with STATS_SHADOW). */
/* The sequential judge's counts of one class, summed over workers: what the
 * window counts, from the start. */
struct stats_judged {
	uint64_t requests, errors, slow[2];
	uint64_t bound1;              /* requests judged against the second bound */
};
void stats_judged_total(struct stats_svc *const *w, size_t n, int cls,
    struct stats_judged *out);

/* Requests slower than these (us; 0: none) are counted in routed_slow[][0]
 * and [1]: max_p99_ms, and max_p99_ratio x the stable pool's p99.  Set by
 * the control thread, read on every request. */
void stats_set_slow_bounds(struct stats_shared *sh, uint64_t us0, uint64_t us1);

uint64_t stats_routed_total(struct stats_svc *const *w, size_t n, int pool);

/* p-quantile (0..1) of the window's latency in ms (0 when no request). */
double stats_window_quantile_ms(const struct stats_window *win, double p);

/* Error rate errors/requests (0 when no request). */
double stats_window_error_rate(const struct stats_window *win);

/* Latency bucket of a duration, and a bucket's representative value (its
 * midpoint, within 2% of any duration the bucket holds) in ms; exposed for
 * tests. */
int stats_lat_bucket(uint64_t dur_us);
double stats_lat_bucket_ms(int bucket);

#endif
