/*
 * listen_claim.h - one bgproxy per listener address (listen_claim.c).
 *
 * Workers share each listener with SO_REUSEPORT, so the kernel would let a
 * second bgproxy bind the same address and serve part of the traffic with
 * its own split.  A process claims each of its listener addresses before it
 * binds them: a name of its own in the abstract socket namespace (held
 * while the process lives, gone with it, even after kill -9), then a bind
 * without SO_REUSEPORT proves nobody else listens there.  Control thread.
 */
#ifndef BGPROXY_LISTEN_CLAIM_H
#define BGPROXY_LISTEN_CLAIM_H

#include <stddef.h>

#include "config.h"

/* Claim a for this process: 0 (claimed, or ours already), or -1 with err
 * naming the address and who holds it. */
int listen_claim(const struct config_addr *a, char *err, size_t errlen);

/* The host's listener lock, held while a process checks its addresses and
 * binds them (two bgproxies started at once on overlapping addresses: one
 * wins).  0, or -1 with err after waiting 10 s. */
int listen_lock(char *err, size_t errlen);
void listen_unlock(void);

/* Under the lock, just before binding: nobody listens on a. */
int listen_recheck(const struct config_addr *a, char *err, size_t errlen);

/* Give a claim up (a listener a reload removed). */
void listen_release(const struct config_addr *a);

/* Whether another process holds a: 0 no, 1 yes (err says who: another
 * bgproxy, or another program), -1 the check itself failed (err). */
int listen_held(const struct config_addr *a, char *err, size_t errlen);

#endif
