/*
 * etcd.h - a client of etcd v3's JSON gateway (etcd.c), on libcurl and
 * jansson: get, compare-and-set, put with a lease, prefix listing, leases
 * and their keep-alive, and a watch.
 *
 * For the cluster mode (CONTRACT section 12; issue 13).  Every call blocks
 * up to the timeout: it runs on the cluster's own thread, never on a worker
 * or in the control loop.  One struct etcd is used by one thread at a time.
 * Several endpoints: a call that cannot reach the current one tries the
 * next ones, and stays on the first that answers.  Keys and values are
 * bytes; the gateway's base64 is this module's business.
 */
#ifndef BGPROXY_ETCD_H
#define BGPROXY_ETCD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define ETCD_MAX_ENDPOINTS 16

struct etcd;

struct etcd_opts {
	const char *const *endpoints;   /* "http://127.0.0.1:2379", "https://..." */
	size_t nendpoints;
	int timeout_ms;                 /* per request (a watch: per connection attempt) */
	const char *ca, *cert, *key;    /* TLS files, NULL: none / the system's CAs */
	const char *user, *password;    /* etcd authentication, NULL: none */
};

/* One key as etcd holds it (value malloc'd, NUL-terminated for text). */
struct etcd_kv {
	char *key;
	char *value;
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t lease;
};

void etcd_kv_clear(struct etcd_kv *kv);

/* NULL with err on a bad option or out of memory. */
struct etcd *etcd_new(const struct etcd_opts *o, char *err, size_t len);
void etcd_free(struct etcd *e);
/* The endpoint the last call used. */
const char *etcd_endpoint(const struct etcd *e);

/* Returns 1 (found, kv filled), 0 (no such key) or -1 (err).  revision:
 * the store's revision at the read (may be NULL). */
int etcd_get(struct etcd *e, const char *key, struct etcd_kv *kv, int64_t *revision,
    char *err, size_t len);

/*
 * Put value at key if its mod_revision is still expected_mod (0: if the key
 * does not exist).  lease: 0 or a lease id.  Returns 1 (written; *new_mod
 * gets its mod_revision), 0 (someone else changed it first: cur gets what
 * is there now, cur->mod_revision 0 when it is gone) or -1 (err).
 */
int etcd_cas(struct etcd *e, const char *key, const char *value, size_t vlen,
    int64_t expected_mod, int64_t lease, int64_t *new_mod, struct etcd_kv *cur,
    char *err, size_t len);

/* Unconditional put / delete.  0 or -1 (err). */
int etcd_put(struct etcd *e, const char *key, const char *value, size_t vlen, int64_t lease,
    char *err, size_t len);
int etcd_delete(struct etcd *e, const char *key, char *err, size_t len);

/* Every key under prefix, to fn in key order.  The count, or -1 (err). */
int etcd_list(struct etcd *e, const char *prefix,
    void (*fn)(void *arg, const struct etcd_kv *kv), void *arg, char *err, size_t len);

/* Leases.  0 or -1 (err); keepalive -1 also when the lease is gone. */
int etcd_lease_grant(struct etcd *e, int ttl_s, int64_t *id, char *err, size_t len);
int etcd_lease_keepalive(struct etcd *e, int64_t id, char *err, size_t len);
int etcd_lease_revoke(struct etcd *e, int64_t id, char *err, size_t len);

/*
 * Watch key from revision from_rev (0: from now): fn gets each change
 * (deleted: the key went; kv has its key and, for a put, value and
 * revisions) until fn returns nonzero, *stop becomes nonzero (checked at
 * least every 100 ms), or the connection fails.  Returns 1 (fn or stop
 * ended it), or -1 (err: the caller reconnects, with the revision after
 * the last change it saw).
 */
int etcd_watch(struct etcd *e, const char *key, int64_t from_rev,
    int (*fn)(void *arg, const struct etcd_kv *kv, int deleted), void *arg,
    const atomic_int *stop, char *err, size_t len);

#endif
