/*
 * cluster.h - a fleet of bgproxy nodes with one split, through etcd v3
 * (CONTRACT section 12).  The control thread's side: the record's
 * revision, the writes waiting for etcd, the fleet's figures, the leader
 * role.  Two threads of cluster.c do the talking (etcd.c, blocking); they
 * hand results to the control loop through a pipe, so nothing here ever
 * waits for etcd, and no worker ever sees any of it.
 *
 * Without a cluster section every function is a no-op (cluster_on() 0).
 */
#ifndef BGPROXY_CLUSTER_H
#define BGPROXY_CLUSTER_H

struct service;

#include <stddef.h>
#include <sys/queue.h>

#include "cluster_rec.h"
#include "config.h"
#include "state.h"

struct event_base;

/*
 * After state_init, before traffic: connect, read the record (etcd wins
 * over the state file) or create it from ours, start the threads.  etcd
 * unreachable is not an error (the node serves its split and reconnects);
 * 0, or -1 with err on what cannot work at all (bad TLS files, no memory).
 */
int cluster_start(struct event_base *base, const struct config *cfg, char *err, size_t errlen);
void cluster_stop(void);

int cluster_on(void);
int cluster_connected(void);      /* the last etcd request answered */
int cluster_leader(void);         /* this node runs the rollout clock */
const char *cluster_node(void);
const char *cluster_why(void);    /* the last etcd error, "" none */

/*
 * A change of the split the fleet must agree on.  When it is this
 * request's turn (one write at a time, in order), prepare stages the
 * change against the current split into rq->st: 0 write it, -1 nothing to
 * write (prepare has answered).  The record is compare-and-set against the
 * revision our split came from; then done gets 1 (written, the change
 * applied here), 0 (another node changed it first: its split is applied
 * here; the caller may submit again) or -1 (etcd unreachable, err).
 */
struct cluster_req {
	int (*prepare)(struct cluster_req *rq);
	void (*done)(struct cluster_req *rq, int result, const char *err);
	void *arg;
	struct state_stage st;
	TAILQ_ENTRY(cluster_req) link;
};

void cluster_submit(struct cluster_req *rq);

/* Every guard interval: the rollout clock (the leader only, written
 * through etcd), and this node's figures for the others.  Without a
 * cluster: state_tick() of service sv. */
void cluster_tick(struct service *sv);

/* The service a fleet's split is (the one service "default"). */
struct service *cluster_svc(void);
void cluster_publish(const struct stats_window win[STATS_CLASSES]);

/* The other live nodes' windows added into win (this node's not included);
 * the number of nodes added. */
int cluster_fleet_add(struct stats_window win[STATS_CLASSES]);

/* The sequential judge's counts of the other live nodes since the last
 * call, per pool, into delta (zeroed first): each node's growth since it
 * was last seen, so that a node missing from a listing for a while is
 * neither lost nor counted twice; a node seen for the first time (or that
 * restarted) counts from then.  The number of nodes it came from. */
int cluster_fleet_judged(struct stats_judged delta[CONFIG_POOLS]);

/* Every node the last listing showed, this one included (fn gets each,
 * age_ms: since it published). */
void cluster_nodes_each(void (*fn)(const struct cluster_figs *f, long long age_ms, int self,
    void *arg), void *arg);

#endif
