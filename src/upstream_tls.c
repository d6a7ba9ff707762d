/*
 * upstream_tls.c - TLS sessions to servers, for both protocols: each
 * worker keeps the last session of each server (resumption), offered
 * again to a new connection made under the same TLS settings.
 */
#include <openssl/ssl.h>

#include "proxy.h"
#include "tls_up.h"
#include "upstream.h"

/* A session a server gave on one of our connections: kept for the next
 * connection to it (resumption), one per server per worker. */
int
upstream_tls_session(SSL *ssl, SSL_SESSION *sess)
{
	struct upsess_owner *o = SSL_get_app_data(ssl);
	struct upidle *slot;

	if (o == NULL || o->gen == 0)
		return 0;
	slot = &o->w->idle[o->srv->slot];
	if (slot->sess != NULL)
		SSL_SESSION_free(slot->sess);
	slot->sess = sess;
	slot->sess_gen = o->gen;
	return 1;
}

SSL *
upstream_tls_ssl(struct upsess_owner *o, const struct tls_up *t, char *err, size_t errlen)
{
	struct upidle *slot = &o->w->idle[o->srv->slot];
	SSL *ssl = tls_up_ssl(t, o->srv->addr.text, err, errlen);

	if (ssl == NULL)
		return NULL;
	o->gen = t->gen;
	SSL_set_app_data(ssl, o);
	/* only a session verified under this same TLS (a reload may change
	 * what is trusted) */
	if (slot->sess != NULL && slot->sess_gen == t->gen && SSL_SESSION_is_resumable(slot->sess))
		(void)SSL_set_session(ssl, slot->sess);
	return ssl;
}
