/*
 * tls.c - SSL_CTX per certificate of a listener, SNI selection, certificate
 * names, session resumption with rotated in-memory ticket keys, OpenSSL
 * error strings.
 *
 * Defaults are what an auditor accepts today: TLS 1.2 and 1.3 only, ECDHE
 * with AEAD ciphers for 1.2, no renegotiation, no compression.  Nothing here
 * logs; errors go back as "FILE:LINE: message".
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"

#define TLS_CIPHERS_12 \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS_CIPHERS_13 \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS          "X25519:P-256:P-384"
#define TLS_SID_CTX         "bgproxy"
#define TLS_CACHE_SIZE      20000
#define TLS_SESSION_TIMEOUT 300
#define TLS_MAX_NAMES       256      /* per certificate; more is not a real certificate */

/* Ticket keys: a new one every 12 hours encrypts; the two before it still
 * decrypt, so a ticket stays usable for at least 24 hours of rotation. */
#define TLS_TICKET_KEYS     3
#define TLS_TICKET_ROTATE_S (12 * 3600)

struct tls_cert {
	SSL_CTX *tc_ctx;
	char **tc_names;                  /* lower-cased, malloc'd */
	size_t tc_nnames;
};

/*
 * The set is owned by its default (first) SSL_CTX through ex_data: every SSL
 * made by tls_ssl_new holds a reference to that context, so the SNI callback
 * can read the set as long as any connection from it lives.
 */
struct tls_ctxset {
	unsigned char ts_alpn[16];        /* listen[].tls.alpn, wire format */
	size_t ts_alpn_len;
	size_t ts_n;
	struct tls_cert ts_certs[];
};

struct tls_ticket_key {
	unsigned char tk_name[16];
	unsigned char tk_aes[32];         /* AES-256-CBC */
	unsigned char tk_hmac[32];        /* HMAC-SHA256 */
	time_t tk_created;                /* CLOCK_MONOTONIC seconds */
};

/* Process-wide so tickets survive a certificate reload; handshakes run on
 * every worker thread, hence the mutex. */
static struct {
	pthread_mutex_t lock;
	struct tls_ticket_key keys[TLS_TICKET_KEYS];
	size_t nkeys;
	size_t newest;
} tls_ring = { .lock = PTHREAD_MUTEX_INITIALIZER };

static pthread_once_t tls_ex_once = PTHREAD_ONCE_INIT;
static int tls_ex_index = -1;

/* ---- OpenSSL errors ---------------------------------------------------- */

void
tls_errors(char *buf, size_t len)
{
	const char *data;
	unsigned long e;
	size_t used = 0;
	char one[512], line[800];
	int flags;

	if (len > 0)
		buf[0] = '\0';
	/* error strings are loaded by the first SSL_CTX_new; be sure anyway */
	OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
	/* Drain everything, even past a full buffer, so no stale error is
	 * reported later against an unrelated call. */
	while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
		ERR_error_string_n(e, one, sizeof(one));
		if ((flags & ERR_TXT_STRING) && data != NULL && data[0] != '\0')
			snprintf(line, sizeof(line), "%s%s (%s)", used ? "; " : "", one, data);
		else
			snprintf(line, sizeof(line), "%s%s", used ? "; " : "", one);
		if (used + 1 < len) {
			snprintf(buf + used, len - used, "%s", line);
			used += strlen(buf + used);
		}
	}
}

/* ---- names ------------------------------------------------------------- */

int
tls_name_match(const char *pattern, const char *host)
{
	const char *dot;

	if (pattern == NULL || host == NULL || *pattern == '\0' || *host == '\0' ||
	    strchr(host, '*') != NULL)
		return 0;
	if (strchr(pattern, '*') == NULL)
		return strcasecmp(pattern, host) == 0;
	/* Only "*.rest" with at least two labels in rest: "*" alone, "*.com",
	 * "a*.b.c" or "*.*.b.c" are never honoured. */
	if (pattern[0] != '*' || pattern[1] != '.' || strchr(pattern + 1, '*') != NULL ||
	    strchr(pattern + 2, '.') == NULL)
		return 0;
	dot = strchr(host, '.');
	if (dot == NULL || dot == host)
		return 0;
	return strcasecmp(dot, pattern + 1) == 0;
}

static int
tls_names_add(struct tls_cert *tc, const unsigned char *s, int len)
{
	char *copy, **grown;
	int i;

	if (len <= 0 || memchr(s, '\0', (size_t)len) != NULL || tc->tc_nnames >= TLS_MAX_NAMES)
		return 0;     /* an embedded NUL is an attack, not a name */
	if ((copy = malloc((size_t)len + 1)) == NULL)
		return -1;
	for (i = 0; i < len; i++)
		copy[i] = (char)tolower(s[i]);
	copy[len] = '\0';
	grown = realloc(tc->tc_names, (tc->tc_nnames + 1) * sizeof(*grown));
	if (grown == NULL) {
		free(copy);
		return -1;
	}
	tc->tc_names = grown;
	tc->tc_names[tc->tc_nnames++] = copy;
	return 0;
}

/* The subject CN counts only for a certificate without any SAN DNS name,
 * as RFC 6125 says; the last CN is the most specific one. */
static int
tls_names_cn(struct tls_cert *tc, X509 *x)
{
	X509_NAME *subj = X509_get_subject_name(x);
	unsigned char *utf8 = NULL;
	int i, last = -1, len, rc;

	while ((i = X509_NAME_get_index_by_NID(subj, NID_commonName, last)) >= 0)
		last = i;
	if (last < 0)
		return 0;
	len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, last)));
	if (len < 0)
		return 0;
	rc = tls_names_add(tc, utf8, len);
	OPENSSL_free(utf8);
	return rc;
}

static int
tls_names_load(struct tls_cert *tc, X509 *x)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int i, rc = 0, ndns = 0;

	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens) && rc == 0; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		if (g->type != GEN_DNS)
			continue;
		ndns++;
		rc = tls_names_add(tc, ASN1_STRING_get0_data(g->d.dNSName),
		    ASN1_STRING_length(g->d.dNSName));
	}
	GENERAL_NAMES_free(gens);
	if (rc == 0 && ndns == 0)
		rc = tls_names_cn(tc, x);
	return rc;
}

/* ---- session tickets --------------------------------------------------- */

static time_t
tls_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* With the ring locked: make a new newest key when there is none or it is
 * 12 hours old.  A RAND failure keeps the old keys (-1 only when none). */
static int
tls_ring_rotate_locked(time_t now)
{
	struct tls_ticket_key k;
	size_t slot;

	if (tls_ring.nkeys > 0 &&
	    now - tls_ring.keys[tls_ring.newest].tk_created < TLS_TICKET_ROTATE_S)
		return 0;
	if (RAND_bytes(k.tk_name, sizeof(k.tk_name)) != 1 ||
	    RAND_priv_bytes(k.tk_aes, sizeof(k.tk_aes)) != 1 ||
	    RAND_priv_bytes(k.tk_hmac, sizeof(k.tk_hmac)) != 1) {
		OPENSSL_cleanse(&k, sizeof(k));
		return tls_ring.nkeys > 0 ? 0 : -1;
	}
	k.tk_created = now;
	slot = tls_ring.nkeys == 0 ? 0 : (tls_ring.newest + 1) % TLS_TICKET_KEYS;
	tls_ring.keys[slot] = k;
	tls_ring.newest = slot;
	if (tls_ring.nkeys < TLS_TICKET_KEYS)
		tls_ring.nkeys++;
	OPENSSL_cleanse(&k, sizeof(k));
	return 0;
}

/* Copy the key to use out of the ring, so no crypto runs under the lock.
 * enc: the newest; else the key named name, if still young enough.
 * Returns 1 (newest), 2 (an older key: renew the ticket), 0 (not found),
 * -1 (no key could be made). */
static int
tls_ring_get(int enc, const unsigned char *name, struct tls_ticket_key *out)
{
	time_t now = tls_now();
	int rc = 0;
	size_t i;

	pthread_mutex_lock(&tls_ring.lock);
	if (tls_ring_rotate_locked(now) == -1) {
		rc = -1;
	} else if (enc) {
		*out = tls_ring.keys[tls_ring.newest];
		rc = 1;
	} else {
		for (i = 0; i < tls_ring.nkeys && rc == 0; i++) {
			const struct tls_ticket_key *k = &tls_ring.keys[i];

			if (memcmp(k->tk_name, name, sizeof(k->tk_name)) != 0 ||
			    now - k->tk_created >= TLS_TICKET_KEYS * TLS_TICKET_ROTATE_S)
				continue;
			*out = *k;
			rc = i == tls_ring.newest ? 1 : 2;
		}
	}
	pthread_mutex_unlock(&tls_ring.lock);
	return rc;
}

static int
tls_ticket_mac_key(EVP_MAC_CTX *hctx, unsigned char *key)
{
	OSSL_PARAM params[3];

	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, 32);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	return EVP_MAC_CTX_set_params(hctx, params) == 1 ? 0 : -1;
}

/* OpenSSL's ticket hook (TLS 1.2 tickets and TLS 1.3 stateless sessions). */
static int
tls_ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	const EVP_CIPHER *cipher = EVP_aes_256_cbc();
	struct tls_ticket_key k;
	int rc, ok;

	rc = tls_ring_get(enc, key_name, &k);
	if (rc <= 0)
		return rc;    /* 0 on decrypt: unknown key, full handshake */
	if (enc) {
		memcpy(key_name, k.tk_name, sizeof(k.tk_name));
		ok = RAND_bytes(iv, EVP_CIPHER_get_iv_length(cipher)) == 1 &&
		    EVP_EncryptInit_ex(cctx, cipher, NULL, k.tk_aes, iv) == 1;
	} else {
		ok = EVP_DecryptInit_ex(cctx, cipher, NULL, k.tk_aes, iv) == 1;
	}
	ok = ok && tls_ticket_mac_key(hctx, k.tk_hmac) == 0;
	OPENSSL_cleanse(&k, sizeof(k));
	if (!ok)
		return -1;
	/* TLS 1.3: a resumed session gets a fresh ticket (2 = "renew").  A
	 * ticket is meant for one use (RFC 8446 C.4), and a client that keeps
	 * resuming - browsers, and wrk, which reuses its SSL - would otherwise
	 * be left without one after its first resumption, and pay a full
	 * handshake every other connection. */
	if (!enc && SSL_version(ssl) == TLS1_3_VERSION)
		return 2;
	return rc;
}

/* ---- handshake callbacks ----------------------------------------------- */

/* The first of our protocols (listen[].tls.alpn, in our order) that the
 * client offers.  A client that offers none of them carries on without
 * ALPN rather than failing: it speaks HTTP/1.1, which every listener does. */
static int
tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	const struct tls_ctxset *set = arg;
	size_t k = 0;

	(void)ssl;
	while (k < set->ts_alpn_len) {
		unsigned int m = set->ts_alpn[k], i = 0;

		while (i < inlen) {
			unsigned int n = in[i];

			if (n == 0 || n > inlen - i - 1)
				break;    /* malformed: OpenSSL checks too, be safe anyway */
			if (n == m && memcmp(in + i + 1, set->ts_alpn + k + 1, n) == 0) {
				*out = in + i + 1;
				*outlen = (unsigned char)n;
				return SSL_TLSEXT_ERR_OK;
			}
			i += n + 1;
		}
		k += m + 1;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

/* Pick the first certificate with a matching name; otherwise keep the
 * default.  Never fails the handshake: an unknown name gets the default. */
static int
tls_sni_cb(SSL *ssl, int *alert, void *arg)
{
	const struct tls_ctxset *set = arg;
	const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	size_t i, j;

	(void)alert;
	if (host == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	for (i = 0; i < set->ts_n; i++) {
		const struct tls_cert *tc = &set->ts_certs[i];

		for (j = 0; j < tc->tc_nnames; j++) {
			if (!tls_name_match(tc->tc_names[j], host))
				continue;
			if (i > 0 && SSL_set_SSL_CTX(ssl, tc->tc_ctx) == NULL)
				return SSL_TLSEXT_ERR_NOACK;
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_NOACK;
}

/* ---- contexts ---------------------------------------------------------- */

/* Keys must never prompt on a terminal: an encrypted key simply fails. */
static int
tls_no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static void
tls_fail(char *err, size_t errlen, const char *cfgpath, int line, const char *what,
    const char *path)
{
	char oerr[1024];

	tls_errors(oerr, sizeof(oerr));
	snprintf(err, errlen, "%s:%d: %s \"%s\": %s", cfgpath, line, what, path,
	    oerr[0] ? oerr : "unknown OpenSSL error");
}

/* Everything but the certificate: protocol, ciphers, options, sessions. */
static int
tls_ctx_settings(SSL_CTX *ctx, const struct config_listener *l)
{
	uint64_t opts = SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION;

#ifdef SSL_OP_NO_CLIENT_RENEGOTIATION
	opts |= SSL_OP_NO_CLIENT_RENEGOTIATION;
#endif
	SSL_CTX_set_options(ctx, opts);
	/* Partial writes and moving buffers suit libevent's bufferevents;
	 * released buffers keep idle keep-alive connections small. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_default_passwd_cb(ctx, tls_no_password);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	/* one TLS 1.3 ticket (OpenSSL sends two by default): a client resumes
	 * with one, and every ticket is one more write and one more read for
	 * the client per handshake; read-ahead takes a whole segment from the
	 * socket at once instead of a header and a body per record */
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_sess_set_cache_size(ctx, TLS_CACHE_SIZE);
	SSL_CTX_set_timeout(ctx, TLS_SESSION_TIMEOUT);
	if (SSL_CTX_set_min_proto_version(ctx, l->min_tls13 ? TLS1_3_VERSION : TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, TLS_CIPHERS_13) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1 ||
	    /* the same id context and ticket keys everywhere: a session resumes
	     * whichever certificate SNI picked, and across reloads */
	    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)TLS_SID_CTX,
	        sizeof(TLS_SID_CTX) - 1) != 1 ||
	    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_ticket_cb) != 1)
		return -1;
	return 0;
}

/* The key is read by hand so a mismatch gets its own message (OpenSSL would
 * refuse it inside SSL_CTX_use_PrivateKey_file with a vaguer one). */
static int
tls_ctx_key(SSL_CTX *ctx, const struct config_cert *c, const char *cfgpath, char *err,
    size_t errlen)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	EVP_PKEY *pkey = NULL;
	BIO *bio;
	int rc = -1;

	if ((bio = BIO_new_file(c->key, "r")) != NULL)
		pkey = PEM_read_bio_PrivateKey(bio, NULL, tls_no_password, NULL);
	BIO_free(bio);
	if (pkey == NULL) {
		tls_fail(err, errlen, cfgpath, c->line, "key", c->key);
		return -1;
	}
	if (x == NULL || EVP_PKEY_eq(X509_get0_pubkey(x), pkey) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "%s:%d: key \"%s\" does not match certificate \"%s\"",
		    cfgpath, c->line, c->key, c->cert);
	} else if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "%s:%d: key \"%s\" does not match certificate \"%s\"",
		    cfgpath, c->line, c->key, c->cert);
	} else {
		rc = 0;
	}
	EVP_PKEY_free(pkey);
	return rc;
}

static SSL_CTX *
tls_ctx_new(const struct config_listener *l, const struct config_cert *c, const char *cfgpath,
    char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL || tls_ctx_settings(ctx, l) == -1) {
		tls_fail(err, errlen, cfgpath, c->line, "TLS settings for certificate", c->cert);
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* leaf first, then the chain the clients need */
	if (SSL_CTX_use_certificate_chain_file(ctx, c->cert) != 1) {
		tls_fail(err, errlen, cfgpath, c->line, "certificate", c->cert);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (tls_ctx_key(ctx, c, cfgpath, err, errlen) == -1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* ---- the set ----------------------------------------------------------- */

/* Frees everything but the first context (its owner, being freed or never
 * attached). */
static void
tls_set_destroy(struct tls_ctxset *set)
{
	size_t i, j;

	for (i = 0; i < set->ts_n; i++) {
		struct tls_cert *tc = &set->ts_certs[i];

		for (j = 0; j < tc->tc_nnames; j++)
			free(tc->tc_names[j]);
		free(tc->tc_names);
		tc->tc_names = NULL;
		if (i > 0)
			SSL_CTX_free(tc->tc_ctx);
		tc->tc_ctx = NULL;
	}
	free(set);
}

/* ex_data free hook: the first context's last reference is gone. */
static void
tls_set_exfree(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (ptr != NULL)
		tls_set_destroy(ptr);
}

static void
tls_ex_init(void)
{
	tls_ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, tls_set_exfree);
}

static int
tls_set_fill(struct tls_ctxset *set, const struct config_listener *l, const char *cfgpath,
    char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < set->ts_n; i++) {
		struct tls_cert *tc = &set->ts_certs[i];

		tc->tc_ctx = tls_ctx_new(l, &l->certs[i], cfgpath, err, errlen);
		if (tc->tc_ctx == NULL)
			return -1;
		if (tls_names_load(tc, SSL_CTX_get0_certificate(tc->tc_ctx)) == -1) {
			snprintf(err, errlen, "%s:%d: certificate \"%s\": out of memory",
			    cfgpath, l->certs[i].line, l->certs[i].cert);
			return -1;
		}
	}
	return 0;
}

struct tls_ctxset *
tls_ctxset_load(const struct config_listener *l, const char *cfgpath, char *err, size_t errlen)
{
	struct tls_ctxset *set;
	SSL_CTX *first;

	if (l->ncerts == 0 || l->ncerts > CONFIG_MAX_CERTS) {
		snprintf(err, errlen, "%s:%d: tls needs 1..%d certificates", cfgpath, l->line,
		    CONFIG_MAX_CERTS);
		return NULL;
	}
	pthread_once(&tls_ex_once, tls_ex_init);
	ERR_clear_error();    /* only our own errors go into messages */
	if ((set = calloc(1, sizeof(*set) + l->ncerts * sizeof(set->ts_certs[0]))) == NULL) {
		snprintf(err, errlen, "%s:%d: out of memory", cfgpath, l->line);
		return NULL;
	}
	set->ts_n = l->ncerts;
	memcpy(set->ts_alpn, l->alpn, l->alpn_len <= sizeof(set->ts_alpn) ? l->alpn_len : 0);
	set->ts_alpn_len = l->alpn_len <= sizeof(set->ts_alpn) ? l->alpn_len : 0;
	if (tls_set_fill(set, l, cfgpath, err, errlen) == -1)
		goto fail;
	for (size_t i = 0; i < set->ts_n; i++)
		SSL_CTX_set_alpn_select_cb(set->ts_certs[i].tc_ctx, tls_alpn_cb, set);
	first = set->ts_certs[0].tc_ctx;
	if (tls_ex_index < 0 || SSL_CTX_set_ex_data(first, tls_ex_index, set) != 1) {
		tls_fail(err, errlen, cfgpath, l->line, "TLS listener", l->addr.text);
		goto fail;
	}
	SSL_CTX_set_tlsext_servername_callback(first, tls_sni_cb);
	SSL_CTX_set_tlsext_servername_arg(first, set);
	return set;
fail:
	first = set->ts_certs[0].tc_ctx;
	tls_set_destroy(set);
	SSL_CTX_free(first);
	return NULL;
}

void
tls_ctxset_free(struct tls_ctxset *set)
{
	/* drops the set's reference; the set goes with the last connection */
	if (set != NULL)
		SSL_CTX_free(set->ts_certs[0].tc_ctx);
}

SSL *
tls_ssl_new(struct tls_ctxset *set)
{
	SSL *ssl = SSL_new(set->ts_certs[0].tc_ctx);

	if (ssl != NULL)
		SSL_set_accept_state(ssl);
	return ssl;
}

size_t
tls_ctxset_names(const struct tls_ctxset *set, size_t i, const char **names, size_t max)
{
	const struct tls_cert *tc;
	size_t j;

	if (i >= set->ts_n)
		return 0;
	tc = &set->ts_certs[i];
	for (j = 0; j < tc->tc_nnames && j < max; j++)
		names[j] = tc->tc_names[j];
	return j;
}

size_t
tls_ctxset_count(const struct tls_ctxset *set)
{
	return set->ts_n;
}
