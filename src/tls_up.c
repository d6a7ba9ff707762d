/*
 * tls_up.c - TLS to servers (see tls_up.h): the client context of a pool
 * and one SSL per connection.  Modern defaults as toward clients (tls.c):
 * TLS 1.2 or 1.3, ECDHE with AEAD ciphers only, no renegotiation.
 */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"
#include "tls_up.h"

#define TLS_UP_CIPHERS_12 \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS_UP_CIPHERS_13 \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

static _Atomic uint64_t tls_up_gens;

static int
tls_up_no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static int
tls_up_fail(char *err, size_t errlen, const char *cfgpath, int line, const char *what,
    const char *path)
{
	char oerr[1024];

	tls_errors(oerr, sizeof(oerr));
	snprintf(err, errlen, "%s:%d: %s \"%s\": %s", cfgpath, line, what, path,
	    oerr[0] ? oerr : "unknown OpenSSL error");
	return -1;
}

/* The client certificate and its key (mTLS); the key must match. */
static int
tls_up_client_cert(SSL_CTX *ctx, const struct config_uptls *t, const char *cfgpath, char *err,
    size_t errlen)
{
	int mismatch = 0;

	if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1)
		return tls_up_fail(err, errlen, cfgpath, t->line, "client certificate", t->cert);

	ERR_clear_error();
	if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1) {
		/* a key that reads but is not the certificate's: said plainly */
		if (ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH)
			return tls_up_fail(err, errlen, cfgpath, t->line, "client key", t->key);
		mismatch = 1;
	}
	if (mismatch || SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "%s:%d: client key \"%s\" does not match certificate \"%s\"",
		    cfgpath, t->line, t->key, t->cert);
		return -1;
	}
	return 0;
}

static int
tls_up_ctx(const char *path, const struct config_pool *pl, int (*new_session)(SSL *, SSL_SESSION *),
    SSL_CTX **out, char *err, size_t errlen)
{
	const struct config_uptls *t = &pl->tls;
	/* ALPN: what the pool's servers speak */
	static const unsigned char alpn_h1[] = "\x08http/1.1";
	SSL_CTX *ctx;

	*out = NULL;
	if (!t->enabled)
		return 0;
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(err, errlen, "%s:%d: out of memory for TLS to pool %s", path, t->line,
		    pl->name);
		return -1;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_default_passwd_cb(ctx, tls_up_no_password);
	SSL_CTX_set_read_ahead(ctx, 1);
	if (SSL_CTX_set_min_proto_version(ctx, t->min_tls13 ? TLS1_3_VERSION : TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS_UP_CIPHERS_12) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, TLS_UP_CIPHERS_13) != 1 ||
	    SSL_CTX_set_alpn_protos(ctx, alpn_h1, sizeof(alpn_h1) - 1) != 0) {
		SSL_CTX_free(ctx);
		return tls_up_fail(err, errlen, path, t->line, "settings for pool",
		    pl->name);
	}
	/* the server's chain against ca, else the system's CAs */
	SSL_CTX_set_verify(ctx, t->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	if (t->ca != NULL && SSL_CTX_load_verify_locations(ctx, t->ca, NULL) != 1) {
		SSL_CTX_free(ctx);
		return tls_up_fail(err, errlen, path, t->line, "CA", t->ca);
	}
	if (t->ca == NULL && t->verify && SSL_CTX_set_default_verify_paths(ctx) != 1) {
		SSL_CTX_free(ctx);
		return tls_up_fail(err, errlen, path, t->line, "the system's CAs for pool",
		    pl->name);
	}
	if (t->cert != NULL && t->cert[0] != '\0' && tls_up_client_cert(ctx, t, path, err,
	    errlen) == -1) {
		SSL_CTX_free(ctx);
		return -1;
	}
	/* sessions kept by the caller, per server (resumption) */
	if (new_session != NULL) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
		    SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ctx, new_session);
	}
	*out = ctx;
	return 0;
}

int
tls_up_new(const char *path, const struct config_pool *pl, int (*new_session)(SSL *, SSL_SESSION *),
    struct tls_up **out, char *err, size_t errlen)
{
	const struct config_uptls *t = &pl->tls;
	struct tls_up *u;
	SSL_CTX *ctx;

	*out = NULL;
	if (tls_up_ctx(path, pl, new_session, &ctx, err, errlen) == -1 || ctx == NULL)
		return ctx == NULL && t->enabled ? -1 : 0;
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		SSL_CTX_free(ctx);
		snprintf(err, errlen, "%s:%d: out of memory for TLS to pool %s", path, t->line,
		    pl->name);
		return -1;
	}
	u->ctx = ctx;
	u->gen = atomic_fetch_add(&tls_up_gens, 1) + 1;
	u->verify = t->verify;
	snprintf(u->sni, sizeof(u->sni), "%s", t->sni != NULL ? t->sni : "");
	*out = u;
	return 0;
}

void
tls_up_free(struct tls_up *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

int
tls_up_host(const char *addr_text, char *out, size_t outlen)
{
	const char *colon = strrchr(addr_text, ':');
	size_t n = colon != NULL ? (size_t)(colon - addr_text) : strlen(addr_text);
	unsigned char buf[16];

	if (n >= 2 && addr_text[0] == '[' && addr_text[n - 1] == ']') {
		addr_text++;
		n -= 2;
	}
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, addr_text, n);
	out[n] = '\0';
	return inet_pton(AF_INET, out, buf) == 1 || inet_pton(AF_INET6, out, buf) == 1;
}

SSL *
tls_up_ssl(const struct tls_up *t, const char *addr_text, char *err, size_t errlen)
{
	char host[128];
	const char *name;
	int ip;
	SSL *ssl;

	if ((ssl = SSL_new(t->ctx)) == NULL) {
		snprintf(err, errlen, "out of memory for TLS");
		return NULL;
	}
	SSL_set_connect_state(ssl);
	ip = tls_up_host(addr_text, host, sizeof(host));
	name = t->sni[0] != '\0' ? t->sni : host;
	if (name == host && ip) {
		/* no SNI with an IP (RFC 6066 3): the certificate names the IP */
		if (t->verify && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1)
			goto fail;
	} else {
		if (SSL_set_tlsext_host_name(ssl, name) != 1)
			goto fail;
		if (t->verify && SSL_set1_host(ssl, name) != 1)
			goto fail;
	}
	return ssl;
fail:
	tls_errors(err, errlen);
	SSL_free(ssl);
	return NULL;
}

void
tls_up_why(SSL *ssl, unsigned long err, char *buf, size_t len)
{
	long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
	char q[512];

	if (err != 0) {
		ERR_error_string_n(err, q, sizeof(q));
		ERR_clear_error();
	} else {
		tls_errors(q, sizeof(q));
	}
	if (v != X509_V_OK)
		snprintf(buf, len, "certificate verify failed: %s", X509_verify_cert_error_string(v));
	else
		snprintf(buf, len, "TLS handshake failed: %s", q[0] ? q : "the server closed");
}
