/*
 * tls_up.h - TLS to servers (tls_up.c): one client context per pool with
 * a tls group (pools.X.tls), made at start and again at every reload (its
 * certificates re-read), and one SSL per connection with the name it sends
 * (SNI) and checks.  Verification is on unless the pool says verify =
 * false: the chain against `ca` (else the system's CAs) and the name (the
 * pool's `sni`, else the host part of the server's address; an address
 * that is an IP is checked as an IP and sends no SNI, RFC 6066 3).
 *
 * Loading never logs; errors are "FILE:LINE: message" with the line of the
 * pool's tls group.  A context is immutable and may be used by any thread;
 * SSL objects keep their own reference to it.
 */
#ifndef BGPROXY_TLS_UP_H
#define BGPROXY_TLS_UP_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "config.h"

/* A pool's TLS: its context and what each connection sends and checks. */
struct tls_up {
	SSL_CTX *ctx;
	uint64_t gen;                 /* this load's number (never 0, never again) */
	int verify;
	char sni[256];                /* "": the server's host part */
};

/*
 * The TLS to the servers of pool pl (errors name the file path; without a
 * tls group: *out NULL, 0 returned).
 * new_session: called with each session a server gives (for resumption: it
 * keeps the session and returns 1, or returns 0).  -1 with err when a file
 * cannot be read or does not parse, or the key does not match the
 * certificate.
 */
int tls_up_new(const char *path, const struct config_pool *pl, int (*new_session)(SSL *, SSL_SESSION *),
    struct tls_up **out, char *err, size_t errlen);
void tls_up_free(struct tls_up *t);

/*
 * An SSL in the connect state for one connection to a server of the pool
 * (addr_text: the server's "host:port"), with its SNI and the name or IP
 * to verify.  NULL with err when out of memory.
 */
SSL *tls_up_ssl(const struct tls_up *t, const char *addr_text, char *err, size_t errlen);

/* Why a handshake with a server failed, in OpenSSL's words: the verify
 * result when the certificate was refused, else err (the error kept when
 * it happened; 0: the thread's error queue now). */
void tls_up_why(SSL *ssl, unsigned long err, char *buf, size_t len);

/* The host part of "host:port" / "[v6]:port" into out; 1 when it is an IP. */
int tls_up_host(const char *addr_text, char *out, size_t outlen);

#endif
