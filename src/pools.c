/*
 * pools.c - the server registry and each service's pool membership.
 *
 * A server keeps its slot (and so its counters, its idle connections and
 * its operator state) for the life of the process: a reload that keeps an
 * address in a service's pool keeps the server; one that drops it marks it
 * removed (in-flight requests finish, no new ones); one that brings it
 * back revives it.  The same address in two services (or two pools) is
 * two servers: each has its own state and figures.
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

/* The server of addr in pool p of sv, made if new; NULL when the registry
 * is full or out of memory. */
static struct server *
pools_slot(struct service *sv, enum pool_id p, const struct config_addr *addr)
{
	struct server *srv, **tail = &sv->first[p];
	int slot = atomic_load(&rt.nsrvs);

	for (srv = sv->first[p]; srv != NULL; srv = srv->next) {
		if (pools_same_addr(&srv->addr, addr))
			return srv;
		tail = &srv->next;
	}
	if (slot == PROXY_MAX_SERVERS || (srv = calloc(1, sizeof *srv)) == NULL)
		return NULL;
	srv->svc = sv;
	srv->pool = p;
	srv->slot = slot;
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
	*tail = srv;
	rt.srvs[slot] = srv;
	atomic_store_explicit(&rt.nsrvs, slot + 1, memory_order_release);
	return srv;
}

/* One block: the poolset, then each pool's servers, weights, limits. */
static struct poolset *
pools_alloc(const struct config_svc *sc)
{
	size_t n = sc->pools[0].nservers + sc->pools[1].nservers;
	struct poolset *ps = calloc(1, sizeof *ps + n * (sizeof(struct server *) + 2 * sizeof(int)));
	struct server **srvs;
	int *ints;

	if (ps == NULL)
		return NULL;
	srvs = (struct server **)(void *)(ps + 1);
	ints = (int *)(void *)(srvs + n);
	for (int p = 0; p < CONFIG_POOLS; p++) {
		ps->pools[p].servers = srvs;
		ps->pools[p].weights = ints;
		ps->pools[p].maxconn = ints + n;
		srvs += sc->pools[p].nservers;
		ints += sc->pools[p].nservers;
	}
	return ps;
}

void
pools_free_built(struct poolset **pss, size_t n)
{
	if (pss == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(pss[i]);
	free(pss);
}

struct poolset **
pools_build(const struct config *cfg, char *err, size_t errlen)
{
	struct poolset **pss = calloc(cfg->nsvcs, sizeof *pss);

	if (pss == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t s = 0; s < cfg->nsvcs; s++) {
		const struct config_svc *sc = &cfg->svcs[s];
		struct service *sv = service_made(sc->name);
		struct poolset *ps = pools_alloc(sc);

		pss[s] = ps;
		if (ps == NULL || sv == NULL) {
			snprintf(err, errlen, "out of memory");
			pools_free_built(pss, cfg->nsvcs);
			return NULL;
		}
		for (int p = 0; p < CONFIG_POOLS; p++) {
			struct pool *pl = &ps->pools[p];

			for (size_t i = 0; i < sc->pools[p].nservers; i++) {
				const struct config_server *cs = &sc->pools[p].servers[i];
				struct server *srv = pools_slot(sv, (enum pool_id)p, &cs->addr);

				if (srv == NULL) {
					snprintf(err, errlen, "%s:%d: %d different servers have been "
					    "configured since start, the most one process can track "
					    "(or out of memory); restart to add %s", cfg->path, cs->line,
					    PROXY_MAX_SERVERS, cs->addr.text);
					pools_free_built(pss, cfg->nsvcs);
					return NULL;
				}
				pl->servers[pl->nservers] = srv;
				pl->weights[pl->nservers] = cs->weight;
				pl->maxconn[pl->nservers] = cs->max_connections;
				pl->nservers++;
			}
		}
	}
	return pss;
}

/* Servers in b and not in a (either may be NULL: none). */
static int
pools_new_in(const struct poolset *a, const struct poolset *b)
{
	int n = 0;

	for (int p = 0; b != NULL && p < CONFIG_POOLS; p++)
		for (size_t i = 0; i < b->pools[p].nservers; i++) {
			int found = 0;

			for (size_t k = 0; a != NULL && k < a->pools[p].nservers; k++)
				found |= a->pools[p].servers[k] == b->pools[p].servers[i];
			n += !found;
		}
	return n;
}

void
pools_count_changes(const struct config *cfg, struct poolset **pss, int *added, int *removed)
{
	int n = atomic_load(&rt.nsvcs);
	unsigned mark;

	*added = *removed = 0;
	for (size_t s = 0; s < cfg->nsvcs; s++) {
		struct poolset *old = pools_current(service_made(cfg->svcs[s].name));

		*added += pools_new_in(old, pss[s]);
		*removed += pools_new_in(pss[s], old);
	}
	/* the services cfg drops take their servers with them */
	mark = services_mark(cfg);
	for (int i = 0; i < n; i++) {
		int kept = rt.svcs[i]->mark == mark;

		if (!kept && !atomic_load(&rt.svcs[i]->removed))
			*removed += pools_new_in(NULL, pools_current(rt.svcs[i]));
	}
}

/* sv's servers marked removed or not as ps says (NULL: all removed). */
static void
pools_mark(struct service *sv, const struct poolset *ps)
{
	for (int p = 0; p < CONFIG_POOLS; p++) {
		for (struct server *srv = sv->first[p]; srv != NULL; srv = srv->next) {
			int in = 0;

			for (size_t k = 0; ps != NULL && k < ps->pools[p].nservers; k++) {
				if (ps->pools[p].servers[k] != srv)
					continue;
				in = 1;
				atomic_store(&srv->maxconn, ps->pools[p].maxconn[k]);
			}
			atomic_store(&srv->removed, !in);
		}
	}
}

void
pools_publish(const struct config *cfg, struct poolset **pss,
    void (*retire)(void *p, void (*fn)(void *)))
{
	int n = atomic_load(&rt.nsvcs);

	for (size_t s = 0; s < cfg->nsvcs; s++) {
		struct service *sv = service_made(cfg->svcs[s].name);
		struct poolset *old;

		pools_mark(sv, pss[s]);
		old = atomic_exchange_explicit(&sv->ps, pss[s], memory_order_acq_rel);
		if (old != NULL)
			retire(old, free);
	}
	free(pss);
	/* a service the configuration dropped: its servers take nothing new */
	for (int i = 0; i < n; i++)
		if (atomic_load(&rt.svcs[i]->removed))
			pools_mark(rt.svcs[i], NULL);
}

void
pools_free_all(void)
{
	for (int i = 0; i < atomic_load(&rt.nsvcs); i++)
		free(atomic_exchange(&rt.svcs[i]->ps, NULL));
	for (int i = 0; i < atomic_load(&rt.nsrvs); i++) {
		free(rt.srvs[i]);
		rt.srvs[i] = NULL;
	}
	atomic_store(&rt.nsrvs, 0);
}

/* The membership of sv as the control thread sees it. */
struct poolset *
pools_current(struct service *sv)
{
	return atomic_load_explicit(&sv->ps, memory_order_acquire);
}

/* A server of the service's pool that may take a new request, round-robin
 * by weight over the worker's current weights (kept per server). */
struct server *
pools_pick(struct worker *w, struct service *sv, enum pool_id pool, uint64_t now)
{
	struct poolset *ps = atomic_load_explicit(&sv->ps, memory_order_acquire);
	struct pool *p;
	unsigned char usable[CONFIG_MAX_SERVERS];
	int cur[CONFIG_MAX_SERVERS], k;
	size_t i;

	if (ps == NULL)
		return NULL;
	p = &ps->pools[pool];
	for (i = 0; i < p->nservers; i++) {
		usable[i] = server_usable(p->servers[i], now);
		cur[i] = w->idle[p->servers[i]->slot].rr;
	}
	k = balance_pick(cur, p->weights, usable, p->nservers);
	for (i = 0; i < p->nservers; i++)
		w->idle[p->servers[i]->slot].rr = cur[i];
	return k == -1 ? NULL : p->servers[k];
}
