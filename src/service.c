/*
 * service.c - the services at run time (service.h): a slot per name for
 * the life of the process, following the configuration.  Control thread.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"
#include "service.h"
#include "svcmap.h"

/* The map of a configuration's services and, by its index, each one. */
struct svcroute {
	struct svcmap *map;
	size_t n;
	struct service *svc[];
};

static int svc_alloc;           /* slots made; rt.nsvcs of them published */
static struct svcroute *svc_route_pending;   /* made by services_prepare */

/* every service made, by name (open addressing, never removed) */
#define SVC_HASH 32768          /* a power of two above 2 x CONFIG_MAX_SERVICES */
static struct service *svc_hash[SVC_HASH];
static unsigned svc_mark;       /* services_mark's last */

static unsigned
service_hash(const char *name)
{
	uint32_t h = 2166136261u;

	for (; *name != '\0'; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return (h ^ (h >> 15)) & (SVC_HASH - 1);
}

static void
service_route_free(void *p)
{
	struct svcroute *r = p;

	svcmap_free(r->map);
	free(r);
}

struct service *
service_route(const char *host, size_t host_len, const char *target, size_t target_len)
{
	struct svcroute *r = atomic_load_explicit(&rt.route, memory_order_acquire);
	int i = svcmap_lookup(r->map, host, host_len, target, target_len);

	return i < 0 ? NULL : r->svc[i];
}

/* A removed service's own copy of its configuration, once no worker can
 * read it. */
static void
service_free_cfg(void *p)
{
	config_svc_free(p);
	free(p);
}

struct service *
service_made(const char *name)
{
	unsigned i;

	for (i = service_hash(name); svc_hash[i] != NULL; i = (i + 1) & (SVC_HASH - 1))
		if (strcmp(svc_hash[i]->name, name) == 0)
			return svc_hash[i];
	return NULL;
}

struct service *
service_find(const char *name)
{
	struct service *sv = service_made(name);

	return sv != NULL && sv->id < atomic_load(&rt.nsvcs) ? sv : NULL;
}

unsigned
services_mark(const struct config *cfg)
{
	svc_mark++;
	for (size_t i = 0; i < cfg->nsvcs; i++) {
		struct service *sv = service_made(cfg->svcs[i].name);

		if (sv != NULL)
			sv->mark = svc_mark;
	}
	return svc_mark;
}

int
service_count(void)
{
	return atomic_load_explicit(&rt.nsvcs, memory_order_acquire);
}

/* The slot named name among those made (published or not), else a new one. */
static struct service *
service_slot(const char *name, int nworkers)
{
	struct service *sv = service_made(name);

	if (sv != NULL)
		return sv;
	if (svc_alloc == CONFIG_MAX_SERVICES || (sv = calloc(1, sizeof *sv)) == NULL)
		return NULL;
	if ((sv->seen = calloc((size_t)nworkers, sizeof *sv->seen)) == NULL) {
		free(sv);
		return NULL;
	}
	sv->id = svc_alloc;
	snprintf(sv->name, sizeof sv->name, "%s", name);
	{
		unsigned h = service_hash(sv->name);

		while (svc_hash[h] != NULL)
			h = (h + 1) & (SVC_HASH - 1);
		svc_hash[h] = sv;
	}
	atomic_init(&sv->cfg, NULL);
	atomic_init(&sv->split, 0);
	atomic_init(&sv->mirror_bp, 0);
	atomic_init(&sv->removed, 1);   /* until published */
	rt.svcs[svc_alloc++] = sv;
	return sv;
}

int
services_prepare(const struct config *cfg, char *err, size_t errlen)
{
	struct svcroute *r;

	for (size_t i = 0; i < cfg->nsvcs; i++)
		if (service_slot(cfg->svcs[i].name, cfg->workers) == NULL) {
			snprintf(err, errlen, "%s:%d: service \"%s\": out of service slots (%d "
			    "services since start) or memory; restart to add it", cfg->path,
			    cfg->svcs[i].line, cfg->svcs[i].name, svc_alloc);
			return -1;
		}
	r = calloc(1, sizeof *r + cfg->nsvcs * sizeof r->svc[0]);
	if (r == NULL || (r->map = svcmap_build(cfg->svcs, cfg->nsvcs)) == NULL) {
		free(r);
		snprintf(err, errlen, "out of memory for the services' routes");
		return -1;
	}
	r->n = cfg->nsvcs;
	for (size_t i = 0; i < cfg->nsvcs; i++)
		r->svc[i] = service_made(cfg->svcs[i].name);
	if (svc_route_pending != NULL)
		service_route_free(svc_route_pending);
	svc_route_pending = r;
	return 0;
}

/* A removed service's configuration, moved out of the configuration it
 * was in (that one is freed after the reload): it stays valid for the
 * exchanges still on the service. */
static void
service_keep_cfg(struct service *sv)
{
	const struct config_svc *cur = atomic_load(&sv->cfg);
	struct config_svc *own;

	if (cur == NULL || sv->own_cfg != NULL || (own = malloc(sizeof *own)) == NULL)
		return;
	*own = *cur;
	((struct config_svc *)cur)->moved = 1;   /* config_free leaves its members */
	sv->own_cfg = own;
	atomic_store_explicit(&sv->cfg, own, memory_order_release);
}

void
services_publish(const struct config *cfg, void (*retire)(void *p, void (*fn)(void *)))
{
	struct svcroute *old;
	unsigned mark = services_mark(cfg);
	int top = 0;

	for (int i = 0; i < svc_alloc; i++) {
		struct service *sv = rt.svcs[i];

		if (sv->mark != mark) {
			service_keep_cfg(sv);
			atomic_store_explicit(&sv->removed, 1, memory_order_release);
		}
	}
	for (size_t k = 0; k < cfg->nsvcs; k++) {
		const struct config_svc *sc = &cfg->svcs[k];
		struct service *sv = service_made(sc->name);

		atomic_store_explicit(&sv->cfg, sc, memory_order_release);
		if (atomic_load(&sv->removed))
			sv->gen++;      /* added: it begins as its configuration says */
		atomic_store_explicit(&sv->removed, 0, memory_order_release);
		if (sv->own_cfg != NULL) {
			retire(sv->own_cfg, service_free_cfg);
			sv->own_cfg = NULL;
		}
		if (sv->id + 1 > top)
			top = sv->id + 1;
	}
	if (top > atomic_load(&rt.nsvcs))
		atomic_store_explicit(&rt.nsvcs, top, memory_order_release);
	/* the routes last: every service they name is published */
	old = atomic_exchange_explicit(&rt.route, svc_route_pending, memory_order_acq_rel);
	svc_route_pending = NULL;
	if (old != NULL)
		retire(old, service_route_free);
}
