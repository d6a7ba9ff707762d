/*
 * cluster_rec.h - what the fleet keeps in etcd (CONTRACT section 12), as
 * bytes: the split record at PREFIX/split and each node's figures at
 * PREFIX/nodes/NODE.  Pure: no I/O, no globals; JSON through jansson.
 *
 * The split record is a JSON object:
 *
 *   {"state":"<the state file's text, checksum and all>",
 *    "node":"n1",                    who wrote it
 *    "step_started_ms":1764680000123, wall clock the rollout step began, 0 none
 *    "bake_started_ms":1764680000123} wall clock baking began, 0 none
 *
 * The state is persist.c's format, parsed by its strict parser: a record
 * a node cannot read back in full is refused, never half applied.
 *
 * A node's figures are its guard window per pool:
 *
 *   {"node":"n1","time_ms":...,"version":42,"leader":true,
 *    "pools":{"blue":{"requests":10,"errors":1,"connect":0,"timeout":0,
 *                     "reset":0,"status_5xx":1,"lat":[[12,3],[40,7]],
 *                     "routed":1234},
 *             "green":{...}},
 *    "started_ms":...,               wall clock this process began
 *    "step":{"key":1764680000123,"requests":57}}
 *
 * "step" is what the node counted toward the rollout's gate in the step
 * whose key (the record's step_started_ms) it names: the fleet's count of
 * a step is the sum of every node's count under the same key, the same
 * figure on every node whenever and in whatever order they applied it.
 * Both are optional (a node of an earlier release has neither).
 *
 * "lat" lists the non-empty latency buckets of stats.h as [index, count].
 */
#ifndef BGPROXY_CLUSTER_REC_H
#define BGPROXY_CLUSTER_REC_H

#include <stddef.h>

#include "cluster_name.h"
#include "persist.h"
#include "stats.h"

#define CLUSTER_REC_MAX 65536         /* a larger value is refused */

struct cluster_rec {
	struct split_state st;
	char node[CLUSTER_NODE_MAX];
	long long step_started_ms;
	long long bake_started_ms;
};

struct cluster_figs {
	char node[CLUSTER_NODE_MAX];
	long long time_ms;
	unsigned long long version;
	int leader;
	/* per guard class: the pools, then the shadow copies and their baseline */
	struct stats_window win[STATS_CLASSES];
	uint64_t routed[STATS_CLASSES]; /* requests (copies) counted since the node began */
	long long started_ms;         /* wall clock the process began: who it is, across restarts */
	long long step_key;           /* the rollout step its count is of (0: none) */
	uint64_t step_requests;       /* what it counted toward that step's gate */
	/* the sequential judge's counts per pool since the node began
	 * (optional: "judged"; has_judged 0 without) */
	struct stats_judged judged[CONFIG_POOLS];
	uint64_t has_judged;         /* (a full word: the struct is compared whole) */
};

/* The record as a malloc'd NUL-terminated string, or NULL (a state
 * persist_check refuses, or out of memory). */
char *cluster_rec_format(const struct cluster_rec *r);

/* 0 and r filled, or -1 with err (r untouched). buf need not end in NUL. */
int cluster_rec_parse(const char *buf, size_t len, struct cluster_rec *r, char *err,
    size_t errlen);

char *cluster_figs_format(const struct cluster_figs *f);
int cluster_figs_parse(const char *buf, size_t len, struct cluster_figs *f, char *err,
    size_t errlen);

/* Add b's windows into a's. */
void cluster_figs_add(struct stats_window *a, const struct stats_window *b);

#endif
