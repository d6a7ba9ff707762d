/*
 * service.h - one service at run time (CONTRACT 17): a blue/green pair
 * with its own split, taking the requests its match says.
 *
 * A service lives for the whole process in a slot of rt.svcs (like a
 * server in the registry), so an exchange may keep a pointer: a reload
 * that keeps its name keeps the service, one that drops it leaves it
 * without a configuration (cfg NULL: no new requests).  Workers read
 * what changes through atomics: the split word, the share of shadow
 * traffic, the configuration pointer (its part of rt.cfg, freed with it
 * after every worker ticked).
 */
#ifndef BGPROXY_SERVICE_H
#define BGPROXY_SERVICE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "stats.h"

struct poolset;
struct state_svc;
struct watch_svc;
struct tls_up;

/* what one worker did of a service's reverts (its revert_seq) */
struct svc_seen {
	unsigned moved;               /* waiting requests moved to the stable pool */
	unsigned closed;              /* tunnels and idle connections closed */
};

struct service {
	int id;                       /* slot in rt.svcs: fixed for the process */
	char name[CONFIG_SVC_NAME_MAX + 1];
	/* its part of rt.cfg; once removed its own copy (own_cfg) */
	const struct config_svc *_Atomic cfg;
	_Atomic int removed;          /* not in the configuration: no new requests */
	/* grows each time it is added (at start, or by a reload after one
	 * removed it): its split and guard begin again (control thread) */
	unsigned gen;
	unsigned mark;                /* services_mark's (control thread) */
	struct config_svc *own_cfg;   /* control thread */
	/* the split in one word so a request reads it without a lock:
	 * SPLIT_WORD (proxy.h) */
	_Atomic uint32_t split;
	_Atomic int mirror_bp;        /* stable requests copied to the candidate, x100 (mirror.c) */
	/* its pools' members, immutable once published (pools.c), and its
	 * servers by pool and slot (srv->next) */
	struct poolset *_Atomic ps;
	struct server *first[CONFIG_POOLS];
	/* TLS to each pool's servers (tls_up.c), NULL: plain TCP; replaced on
	 * reload like the listeners' (the old one freed after every worker
	 * ticked; connections made from it keep their own references) */
	struct tls_up *_Atomic up_tls[CONFIG_POOLS];
	/* its last revert: the pool, and from when long-lived connections to
	 * it close (after a grace); revert_seq grows with each */
	_Atomic unsigned revert_seq;
	_Atomic int revert_pool;
	_Atomic uint64_t revert_at_us;
	struct svc_seen *seen;        /* [rt.nworkers]: each worker's own */
	struct stats_shared sh;       /* its windows' epochs, the judge's bounds */
	struct state_svc *st;         /* its split's control (state.c; control thread) */
	struct watch_svc *watch;      /* its guard (watch.c; control thread) */
};

/* The service's configuration as a worker reads it (never NULL for a
 * service an exchange routed to: a removed one keeps its last). */
static inline const struct config_svc *
service_cfg(struct service *sv)
{
	return atomic_load_explicit(&sv->cfg, memory_order_acquire);
}

/* The service a request goes to (svcmap.h: host as the Host field or
 * :authority has it, the request target as the request line has it), NULL
 * when no service takes it.  Any thread. */
struct service *service_route(const char *host, size_t host_len, const char *target,
    size_t target_len);

/* The published service named name, NULL if none; the one made for name
 * by services_prepare, published or not (control thread). */
struct service *service_find(const char *name);
struct service *service_made(const char *name);

/* Mark every service cfg names (made by services_prepare): the mark,
 * which sv->mark then equals.  Control thread. */
unsigned services_mark(const struct config *cfg);

/* The services a worker may route to: rt.svcs[0 .. service_count()). */
int service_count(void);

/*
 * A reload in two steps: first a slot for every service of cfg (-1 with a
 * FILE:LINE error when none is left; nothing is published), then, when
 * nothing else can fail, every service points at its part of cfg and
 * those cfg lacks are removed (they keep their last configuration, which
 * is given to retire once they are back).  At start too.
 */
int services_prepare(const struct config *cfg, char *err, size_t errlen);
void services_publish(const struct config *cfg, void (*retire)(void *p, void (*fn)(void *)));

#endif
