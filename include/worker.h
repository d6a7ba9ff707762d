/*
 * worker.h - the worker threads (worker.c): start, drain, listener changes, the
 * figures the control thread sums.
 */
#ifndef BGPROXY_WORKER_H
#define BGPROXY_WORKER_H

#include "proxy.h"

int worker_start_all(char *err, size_t errlen);
/* A listening socket on a (SO_REUSEPORT, non-blocking): every worker binds
 * its own, at start and when a reload adds a listener.  -1 with err. */
evutil_socket_t worker_bind(const struct config_addr *a, char *err, size_t errlen);
void worker_drain_all(void);
void worker_join_all(void);
void worker_free_all(void);
int worker_all_done(void);
/* A service's windows and routed-request totals, summed over the workers
 * (control thread; workers is at most 64, the bound of the workers key);
 * every worker's block of it (NULL: none yet) into ws, how many. */
void worker_window_sum(struct service *sv, int pool, int window_s, uint64_t now_us,
    struct stats_window *out);
/* The sequential judge's counts of a class, over every worker (stats.h). */
void worker_judged_total(struct service *sv, int cls, struct stats_judged *out);
uint64_t worker_routed_total(struct service *sv, int pool);
size_t worker_svc_blocks(struct service *sv, struct stats_svc **ws);
/* The TLS contexts of the listener on addr (NULL if none); any thread. */
struct tls_ctxset *proxy_tls_set(const struct config_addr *addr);
/* Hand a listener change to worker w (control thread; takes ownership). */
void worker_post_change(struct worker *w, struct lis_change *chg);

#endif
