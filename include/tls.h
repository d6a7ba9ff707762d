/*
 * tls.h - TLS contexts for a listener: one SSL_CTX per certificate, SNI
 * picks the certificate whose names match (SAN DNS entries, wildcards
 * "*.example.com" included; the subject CN only when there is no SAN), the
 * first one otherwise.  Modern defaults only (see tls.c).
 *
 * Loading never logs; errors are "FILE:LINE: message" with the line of the
 * certificate entry in the configuration.  A loaded set is immutable and
 * may be used by any thread; SSL objects made from it keep their own
 * references, so the set may be freed while connections made from it live.
 */
#ifndef BGPROXY_TLS_H
#define BGPROXY_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "config.h"

struct tls_ctxset;

/* Build the contexts of listener l (cfgpath: the configuration file, for
 * error messages).  NULL with err filled when a certificate or key cannot
 * be read, does not parse, or the key does not match its certificate. */
struct tls_ctxset *tls_ctxset_load(const struct config_listener *l, const char *cfgpath,
    char *err, size_t errlen);

void tls_ctxset_free(struct tls_ctxset *set);

/* A new server-side SSL for one accepted connection (no fd attached yet).
 * NULL when out of memory. */
SSL *tls_ssl_new(struct tls_ctxset *set);

/* Names of the certificate i (for tests and logs): fills up to max names,
 * returns the count. */
size_t tls_ctxset_names(const struct tls_ctxset *set, size_t i, const char **names, size_t max);
size_t tls_ctxset_count(const struct tls_ctxset *set);

/* Does host (a SNI name) match pattern (a certificate name, maybe
 * "*.example.com")?  Case-insensitive; a wildcard covers exactly one label. */
int tls_name_match(const char *pattern, const char *host);

/* Drain the OpenSSL error queue into buf ("; "-separated). */
void tls_errors(char *buf, size_t len);

#endif
