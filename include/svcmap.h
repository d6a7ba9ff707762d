/*
 * svcmap.h - which service a request goes to (CONTRACT 17), pure.
 *
 * Built once per configuration from its services, immutable after, read
 * by every worker without a lock.  A request goes to the service whose
 * hosts match its host (an exact name before a wildcard "*.example.com",
 * the longest wildcard first; a service without hosts matches every host
 * last), and among those the one with the longest path_prefix its path
 * begins with; "/" matches every request target.  The answer is an index
 * into the configuration's services, -1 when none matches.
 */
#ifndef BGPROXY_SVCMAP_H
#define BGPROXY_SVCMAP_H

#include <stddef.h>

#include "config.h"

struct svcmap;

/* NULL when out of memory. */
struct svcmap *svcmap_build(const struct config_svc *svcs, size_t n);
void svcmap_free(struct svcmap *m);

/*
 * The service for a request: host as the Host field or :authority gives it
 * (any case, a port and a trailing dot allowed; NULL or empty: none), the
 * request target as the request line has it (origin-form "/a?b",
 * absolute-form "http://host/a", whose host then wins over host, "*", or
 * an authority).  Returns an index or -1.
 */
int svcmap_lookup(const struct svcmap *m, const char *host, size_t host_len,
    const char *target, size_t target_len);

/* The host as svcmap_lookup compares it, into out (at least 256 bytes):
 * lowercase, without the port or a trailing dot; its length, or -1 when it
 * is not a host name (then only services without hosts match). */
int svcmap_host_norm(const char *host, size_t len, char *out);

#endif
