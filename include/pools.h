/*
 * pools.h - the server registry (slots fixed for the life of the process)
 * and the published pool membership.  Control thread only, except that
 * workers read the published poolset through rt.ps.
 */
#ifndef BGPROXY_POOLS_H
#define BGPROXY_POOLS_H

#include <stddef.h>

#include <stdint.h>

#include "config.h"

struct poolset;
struct server;
struct worker;

/* A new poolset for cfg, finding or allocating registry slots.  NULL with a
 * FILE:LINE error when a pool has no slot left. */
struct poolset *pools_build(const struct config *cfg, char *err, size_t errlen);

/* Mark the registry's servers removed or not as ps says, then publish ps. */
void pools_publish(struct poolset *ps);

struct poolset *pools_current(void);

/* A server of pool that may take a new request (health, drain, marks),
 * round-robin by weight over the worker's positions (w->rr_current, begun
 * again when a reload changed the membership); NULL when none.  Worker
 * thread. */
struct server *pools_pick(struct worker *w, enum pool_id pool, uint64_t now);

#endif
