/*
 * pools.c - the server registry and pool membership.
 *
 * A server keeps its slot (and so its counters, its idle connections and
 * its operator state) for the life of the process: a reload that keeps an
 * address keeps the server; one that drops it marks it removed (in-flight
 * requests finish, no new ones); one that brings it back revives it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"
#include "pools.h"
#include "proxy.h"


static int
pools_same_addr(const struct config_addr *a, const struct config_addr *b)
{
	return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

/* The slot of addr in pool p, allocating one if needed; -1 when full. */
static struct server *
pools_slot(enum pool_id p, const struct config_addr *addr)
{
	struct server *srv;
	int i;

	for (i = 0; i < rt.nslots[p]; i++)
		if (pools_same_addr(&rt.servers[p][i].addr, addr))
			return &rt.servers[p][i];
	if (rt.nslots[p] == CONFIG_MAX_SERVERS)
		return NULL;
	srv = &rt.servers[p][rt.nslots[p]];
	srv->pool = p;
	srv->index = rt.nslots[p];
	srv->addr = *addr;
	atomic_init(&srv->removed, 1);  /* until published */
	atomic_init(&srv->state, SRV_UP);
	atomic_init(&srv->health_down, 0);
	atomic_init(&srv->fails, 0);
	atomic_init(&srv->down_until, 0);
	atomic_init(&srv->changed_us, proxy_now_us());
	atomic_init(&srv->maxconn, 0);
	atomic_init(&srv->busy, 0);
	atomic_init(&srv->queued, 0);
	srv->check_ok = -1;
	rt.nslots[p]++;
	return srv;
}

struct poolset *
pools_build(const struct config *cfg, char *err, size_t errlen)
{
	struct poolset *ps = calloc(1, sizeof(*ps));
	int p;
	size_t i;

	if (ps == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (p = 0; p < CONFIG_POOLS; p++) {
		struct pool *pl = &ps->pools[p];

		for (i = 0; i < cfg->pools[p].nservers; i++) {
			const struct config_server *cs = &cfg->pools[p].servers[i];
			struct server *srv = pools_slot((enum pool_id)p, &cs->addr);

			if (srv == NULL) {
				snprintf(err, errlen, "%s:%d: pool %s has had %d different servers since "
				    "start, the most one process can track; restart to add %s",
				    cfg->path, cs->line, pool_names[p], CONFIG_MAX_SERVERS,
				    cs->addr.text);
				free(ps);
				return NULL;
			}
			pl->servers[pl->nservers] = srv;
			pl->weights[pl->nservers] = cs->weight;
			pl->maxconn[pl->nservers] = cs->max_connections;
			pl->nservers++;
		}
	}
	return ps;
}

void
pools_publish(struct poolset *ps)
{
	int p, i;
	size_t k;

	for (p = 0; p < CONFIG_POOLS; p++) {
		for (i = 0; i < rt.nslots[p]; i++) {
			struct server *srv = &rt.servers[p][i];
			int in = 0;

			for (k = 0; k < ps->pools[p].nservers; k++) {
				if (ps->pools[p].servers[k] != srv)
					continue;
				in = 1;
				atomic_store(&srv->maxconn, ps->pools[p].maxconn[k]);
			}
			atomic_store(&srv->removed, !in);
		}
	}
	atomic_store_explicit(&rt.ps, ps, memory_order_release);
}

/* The membership as the control thread sees it. */
struct poolset *
pools_current(void)
{
	return atomic_load_explicit(&rt.ps, memory_order_acquire);
}

/* A server of the pool that may take a new request, round-robin. */
struct server *
pools_pick(struct worker *w, enum pool_id pool, uint64_t now)
{
	struct poolset *ps = atomic_load_explicit(&rt.ps, memory_order_acquire);
	struct pool *p = &ps->pools[pool];
	unsigned char usable[CONFIG_MAX_SERVERS];
	size_t i;
	int k;

	if (w->rr_ps != ps) {
		/* a reload changed the membership: positions mean other servers */
		memset(w->rr_current, 0, sizeof(w->rr_current));
		w->rr_ps = ps;
	}
	for (i = 0; i < p->nservers; i++)
		usable[i] = server_usable(p->servers[i], now);
	k = balance_pick(w->rr_current[pool], p->weights, usable, p->nservers);
	return k == -1 ? NULL : p->servers[k];
}
