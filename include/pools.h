/*
 * pools.h - the server registry (slots fixed for the life of the process)
 * and each service's published pool membership.  Control thread only,
 * except that workers read a service's published poolset (sv->ps).
 */
#ifndef BGPROXY_POOLS_H
#define BGPROXY_POOLS_H

#include <stddef.h>

#include <stdint.h>

#include "config.h"

struct poolset;
struct server;
struct service;
struct worker;

/* A new poolset for each service of cfg (in its order; services_prepare
 * made the services), finding or making registry slots.  NULL with a
 * FILE:LINE error when the registry is full. */
struct poolset **pools_build(const struct config *cfg, char *err, size_t errlen);

/* What pools_build made, when it is not published after all. */
void pools_free_built(struct poolset **pss, size_t n);

/* Mark each service's servers removed or not as its new poolset says
 * (a service cfg lacks: all removed), then publish them; the old ones go
 * to retire (freed once no worker can read them).  Frees pss itself. */
void pools_publish(const struct config *cfg, struct poolset **pss,
    void (*retire)(void *p, void (*fn)(void *)));

/* What publishing pss would do: servers added and removed (before
 * pools_publish). */
void pools_count_changes(const struct config *cfg, struct poolset **pss, int *added,
    int *removed);

/* At the end: every poolset and server. */
void pools_free_all(void);

struct poolset *pools_current(struct service *sv);

/* A server of the service's pool that may take a new request (health,
 * drain, marks), round-robin by weight over the worker's current weights
 * (w->idle[].rr); NULL when none.  Worker thread. */
struct server *pools_pick(struct worker *w, struct service *sv, enum pool_id pool, uint64_t now);

#endif
