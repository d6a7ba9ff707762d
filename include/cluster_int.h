/*
 * cluster_int.h - between cluster.c (the control thread's side of the
 * fleet) and cluster_io.c (its two etcd threads).  Nothing else includes
 * it.
 */
#ifndef BGPROXY_CLUSTER_INT_H
#define BGPROXY_CLUSTER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "cluster_rec.h"
#include "etcd.h"

#define CLUSTER_MAX_NODES 64

enum cluster_msg_kind {
	M_RECORD,       /* the record as etcd has it now (value NULL: there is none) */
	M_WRITTEN,      /* our write landed at revision mod */
	M_CONFLICT,     /* our write lost: value/mod is what is there */
	M_FAILED,       /* our write could not be made (err) */
	M_CONN,         /* etcd answers (flag 1) or not (flag 0, err) */
	M_LEADER,       /* this node holds the leader key (flag) */
	M_NODES,        /* the nodes' figures */
};

struct cluster_msg {
	enum cluster_msg_kind kind;
	char *value;
	size_t vlen;
	int64_t mod;
	int flag;
	char err[256];
	struct cluster_figs *nodes;
	size_t nnodes;
	struct cluster_msg *next;
};

/* What the threads work with: set by cluster.c before cluster_io_open,
 * read-only from then on. */
struct cluster_cfg {
	char node[CLUSTER_NODE_MAX];
	char k_split[256], k_leader[256], k_nodes[256], k_me[512];
	int ttl_s, cycle_ms;
};
extern struct cluster_cfg cluster_cs;

/* The etcd handles and the pipe; 0 or -1 with err.  The pipe's read end
 * (cluster_io_fd) is readable when messages wait. */
int cluster_io_open(const struct etcd_opts *o, char *err, size_t errlen);
int cluster_io_fd(void);
/* The writer's handle, for the control thread's first read before the
 * threads run. */
struct etcd *cluster_io_etcd(void);
/* Start the writer and the watcher; 0 or -1 with err. */
int cluster_io_run(char *err, size_t errlen);
/* Stop and join the threads, free what is left. */
void cluster_io_close(void);

/* Every message waiting, oldest first (free each with cluster_msg_free). */
struct cluster_msg *cluster_io_take(void);
void cluster_msg_free(struct cluster_msg *m);
/* The writer compare-and-sets record (taken over) against expect (0: the
 * key must not exist); a job not taken yet is replaced. */
void cluster_io_job(char *record, int64_t expect);
/* The figures the writer publishes next (taken over). */
void cluster_io_figs(char *figs);

#endif
