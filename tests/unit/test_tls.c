/*
 * test_tls.c - certificate loading, names, SNI, ALPN, protocol floors and
 * session resumption, with certificates made at test time by the openssl
 * command line and real handshakes over a socketpair in this process.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "test.h"
#include "tls.h"

#define CFG "/etc/bgproxy/test.conf"

static char tdir[] = "/tmp/bgproxy-tls.XXXXXX";
static int certs_ok;

/* ---- fixtures ---------------------------------------------------------- */

static const char *
tpath(const char *name)
{
	static char buf[8][256];
	static int n;

	n = (n + 1) % 8;
	snprintf(buf[n], sizeof(buf[n]), "%s/%s", tdir, name);
	return buf[n];
}

static int
sh(const char *fmt, const char *arg)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), fmt, arg, arg, arg, arg, arg, arg);
	return system(cmd);
}

/* ec: ECDSA P-256 with SANs; rsa: RSA 2048, CN only; chain: a leaf signed
 * by a tiny CA, the file holding leaf then CA; garbage: not PEM at all. */
static int
make_certs(void)
{
	static const char *const cmds[] = {
		"cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		    "-keyout ec.key -out ec.pem -days 2 -subj /CN=ec.test "
		    "-addext 'subjectAltName=DNS:a.test,DNS:*.wild.test' >/dev/null 2>&1",
		"cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.pem "
		    "-days 2 -subj /CN=cn.test >/dev/null 2>&1",
		"cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		    "-keyout ca.key -out ca.pem -days 2 -subj /CN=tiny-ca >/dev/null 2>&1",
		"cd %s && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		    "-keyout leaf.key -out leaf.csr -subj /CN=leaf.test >/dev/null 2>&1",
		"cd %s && printf 'subjectAltName=DNS:chain.test\\nbasicConstraints=CA:FALSE\\n' > ext.cnf"
		    " && openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -set_serial 2 "
		    "-days 2 -extfile ext.cnf -out leaf.pem >/dev/null 2>&1"
		    " && cat leaf.pem ca.pem > chain.pem",
		"cd %s && echo 'this is not a certificate' > garbage.pem",
	};
	size_t i;

	if (mkdtemp(tdir) == NULL)
		return -1;
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (sh(cmds[i], tdir) != 0) {
			printf("  command failed: %s\n", cmds[i]);
			return -1;
		}
	return 0;
}

static void
listener_set(struct config_listener *l, int min13, const char *const *pairs, size_t n)
{
	size_t i;

	memset(l, 0, sizeof(*l));
	snprintf(l->addr.text, sizeof(l->addr.text), "127.0.0.1:8443");
	l->tls = 1;
	l->min_tls13 = min13;
	l->line = 3;
	for (i = 0; i < n; i++) {
		l->certs[i].cert = (char *)pairs[2 * i];
		l->certs[i].key = (char *)pairs[2 * i + 1];
		l->certs[i].line = (int)(10 + i);
	}
	l->ncerts = n;
	memcpy(l->alpn, "\x02h2\x08http/1.1", 12);    /* the default */
	l->alpn_len = 12;
}

/* The usual set: ec (default), rsa, chain. */
static struct tls_ctxset *
load_three(int min13)
{
	static char p[6][256];
	const char *pairs[6];
	struct config_listener l;
	char err[2048] = "";
	struct tls_ctxset *set;
	int i;

	snprintf(p[0], sizeof(p[0]), "%s", tpath("ec.pem"));
	snprintf(p[1], sizeof(p[1]), "%s", tpath("ec.key"));
	snprintf(p[2], sizeof(p[2]), "%s", tpath("rsa.pem"));
	snprintf(p[3], sizeof(p[3]), "%s", tpath("rsa.key"));
	snprintf(p[4], sizeof(p[4]), "%s", tpath("chain.pem"));
	snprintf(p[5], sizeof(p[5]), "%s", tpath("leaf.key"));
	for (i = 0; i < 6; i++)
		pairs[i] = p[i];
	listener_set(&l, min13, pairs, 3);
	set = tls_ctxset_load(&l, CFG, err, sizeof(err));
	if (set == NULL)
		printf("  load failed: %s\n", err);
	return set;
}

/* The ec pair with an ALPN list of our own (wire format). */
static struct tls_ctxset *
load_alpn(const char *wire)
{
	static char p[2][256];
	const char *pairs[2];
	struct config_listener l;
	char err[2048] = "";

	snprintf(p[0], sizeof(p[0]), "%s", tpath("ec.pem"));
	snprintf(p[1], sizeof(p[1]), "%s", tpath("ec.key"));
	pairs[0] = p[0];
	pairs[1] = p[1];
	listener_set(&l, 0, pairs, 1);
	l.alpn_len = strlen(wire);
	memcpy(l.alpn, wire, l.alpn_len);
	return tls_ctxset_load(&l, CFG, err, sizeof(err));
}

/* Load a single pair; returns the set or NULL with err. */
static struct tls_ctxset *
load_one(const char *cert, const char *key, char *err, size_t errlen)
{
	const char *pairs[2] = { cert, key };
	struct config_listener l;

	listener_set(&l, 0, pairs, 1);
	return tls_ctxset_load(&l, CFG, err, errlen);
}

/* ---- handshakes -------------------------------------------------------- */

struct hs {
	SSL *c, *s;
	int fds[2];
	int cok, sok;           /* handshake completed */
	unsigned long serr;     /* first server-side OpenSSL error */
};

static SSL_CTX *
client_ctx(int minv, int maxv)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	SSL_CTX_set_min_proto_version(ctx, minv);
	SSL_CTX_set_max_proto_version(ctx, maxv);
	if (maxv != 0 && maxv < TLS1_2_VERSION) {
		/* let the old client try for real, so the server is the one refusing */
		SSL_CTX_set_security_level(ctx, 0);
		SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
	}
	SSL_CTX_load_verify_locations(ctx, tpath("ca.pem"), NULL);
	return ctx;
}

/* One step of one side: 1 done, 0 wants more, -1 failed. */
static int
hs_step(SSL *ssl, unsigned long *first_err)
{
	int r = SSL_do_handshake(ssl), e;

	if (r == 1)
		return 1;
	e = SSL_get_error(ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	if (first_err != NULL && *first_err == 0)
		*first_err = ERR_peek_error();
	ERR_clear_error();
	return -1;
}

static int
hs_run(struct hs *h, struct tls_ctxset *set, SSL_CTX *cctx, const char *sni,
    const char *alpn, SSL_SESSION *sess)
{
	int i, cr = 0, sr = 0;

	memset(h, 0, sizeof(*h));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, h->fds) == -1)
		return -1;
	fcntl(h->fds[0], F_SETFL, O_NONBLOCK);
	fcntl(h->fds[1], F_SETFL, O_NONBLOCK);
	h->s = tls_ssl_new(set);
	h->c = SSL_new(cctx);
	SSL_set_fd(h->s, h->fds[0]);
	SSL_set_fd(h->c, h->fds[1]);
	SSL_set_connect_state(h->c);
	if (sni != NULL)
		SSL_set_tlsext_host_name(h->c, sni);
	if (alpn != NULL)
		SSL_set_alpn_protos(h->c, (const unsigned char *)alpn, (unsigned)strlen(alpn));
	if (sess != NULL)
		SSL_set_session(h->c, sess);
	for (i = 0; i < 200 && (cr != 1 || sr != 1) && cr != -1 && sr != -1; i++) {
		if (cr == 0)
			cr = hs_step(h->c, NULL);
		if (sr == 0)
			sr = hs_step(h->s, &h->serr);
	}
	h->cok = cr == 1;
	h->sok = sr == 1;
	return h->cok && h->sok ? 0 : -1;
}

/* Server sends a few bytes, the client reads them: in TLS 1.3 this is what
 * brings the session tickets to the client. */
static int
hs_exchange(struct hs *h)
{
	char buf[16];
	int i, n = -1;

	if (SSL_write(h->s, "ping", 4) != 4)
		return -1;
	for (i = 0; i < 100 && n <= 0; i++)
		n = SSL_read(h->c, buf, sizeof(buf));
	return n == 4 && memcmp(buf, "ping", 4) == 0 ? 0 : -1;
}

static void
hs_close(struct hs *h)
{
	/* a clean shutdown keeps the sessions resumable */
	if (h->cok)
		SSL_shutdown(h->c);
	if (h->sok)
		SSL_shutdown(h->s);
	SSL_free(h->c);
	SSL_free(h->s);
	close(h->fds[0]);
	close(h->fds[1]);
	ERR_clear_error();
}

/* The subject CN the client saw, or "". */
static const char *
peer_cn(SSL *c)
{
	static char cn[128];
	X509 *x = SSL_get0_peer_certificate(c);

	cn[0] = '\0';
	if (x != NULL)
		X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
	return cn;
}

/* ---- tests ------------------------------------------------------------- */

TEST(test_name_match)
{
	static const struct { const char *pat, *host; int want; } t[] = {
		{ "a.test", "a.test", 1 },
		{ "a.test", "A.TeSt", 1 },
		{ "A.TEST", "a.test", 1 },
		{ "a.test", "b.test", 0 },
		{ "a.test", "a.test.evil", 0 },
		{ "a.test", "xa.test", 0 },
		{ "*.example.com", "a.example.com", 1 },
		{ "*.example.com", "WWW.Example.COM", 1 },
		{ "*.EXAMPLE.com", "www.example.com", 1 },
		{ "*.example.com", "example.com", 0 },
		{ "*.example.com", ".example.com", 0 },
		{ "*.example.com", "a.b.example.com", 0 },
		{ "*.example.com", "a.example.org", 0 },
		{ "*.example.com", "aexample.com", 0 },
		{ "*.example.com", "*.example.com", 0 },
		{ "*", "a", 0 },
		{ "*.com", "example.com", 0 },
		{ "a*.example.com", "ab.example.com", 0 },
		{ "*a.example.com", "ba.example.com", 0 },
		{ "*.*.example.com", "a.b.example.com", 0 },
		{ "a.*.example.com", "a.b.example.com", 0 },
		{ "www.*.com", "www.x.com", 0 },
		{ "*example.com", "xexample.com", 0 },
		{ "", "", 0 },
		{ "a.test", "", 0 },
		{ "", "a.test", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int got = tls_name_match(t[i].pat, t[i].host);

		if (got != t[i].want)
			printf("  tls_name_match(\"%s\", \"%s\") = %d\n", t[i].pat, t[i].host, got);
		CHECK_EQ_INT(got, t[i].want);
	}
	CHECK_EQ_INT(tls_name_match(NULL, "a"), 0);
	CHECK_EQ_INT(tls_name_match("a", NULL), 0);
}

TEST(test_load_names)
{
	struct tls_ctxset *set = load_three(0);
	const char *names[8];
	size_t n;

	CHECK(set != NULL);
	if (set == NULL)
		return;
	CHECK_EQ_INT(tls_ctxset_count(set), 3);
	n = tls_ctxset_names(set, 0, names, 8);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK_STR(names[0], "a.test");
		CHECK_STR(names[1], "*.wild.test");
	}
	n = tls_ctxset_names(set, 1, names, 8);
	CHECK_EQ_INT(n, 1);
	if (n == 1)
		CHECK_STR(names[0], "cn.test");     /* no SAN: the CN */
	n = tls_ctxset_names(set, 2, names, 8);
	CHECK_EQ_INT(n, 1);
	if (n == 1)
		CHECK_STR(names[0], "chain.test");  /* SAN wins over CN=leaf.test */
	CHECK_EQ_INT(tls_ctxset_names(set, 0, names, 1), 1);
	CHECK_EQ_INT(tls_ctxset_names(set, 3, names, 8), 0);
	tls_ctxset_free(set);
}

TEST(test_key_mismatch)
{
	char err[2048], want[2048];
	struct tls_ctxset *set;

	/* same key type, other key */
	set = load_one(tpath("ec.pem"), tpath("leaf.key"), err, sizeof(err));
	CHECK(set == NULL);
	snprintf(want, sizeof(want), CFG ":10: key \"%s\" does not match certificate \"%s\"",
	    tpath("leaf.key"), tpath("ec.pem"));
	CHECK_STR(err, want);
	/* other key type */
	set = load_one(tpath("ec.pem"), tpath("rsa.key"), err, sizeof(err));
	CHECK(set == NULL);
	snprintf(want, sizeof(want), CFG ":10: key \"%s\" does not match certificate \"%s\"",
	    tpath("rsa.key"), tpath("ec.pem"));
	CHECK_STR(err, want);
	CHECK_EQ_INT(ERR_peek_error(), 0);
}

TEST(test_second_cert_fails)
{
	const char *pairs[4] = { tpath("ec.pem"), tpath("ec.key"), tpath("rsa.pem"),
	    tpath("ec.key") };
	struct config_listener l;
	char err[2048] = "", want[2048];

	/* the first context was built; it must be freed (LeakSanitizer) */
	listener_set(&l, 0, pairs, 2);
	CHECK(tls_ctxset_load(&l, CFG, err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want), CFG ":11: key \"%s\" does not match certificate \"%s\"",
	    tpath("ec.key"), tpath("rsa.pem"));
	CHECK_STR(err, want);
	l.ncerts = 0;
	CHECK(tls_ctxset_load(&l, CFG, err, sizeof(err)) == NULL);
	CHECK(strncmp(err, CFG ":3: ", strlen(CFG ":3: ")) == 0);
}

static int
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

TEST(test_bad_cert)
{
	char err[2048], want[2048];

	CHECK(load_one(tpath("missing.pem"), tpath("ec.key"), err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want), CFG ":10: certificate \"%s\": error:", tpath("missing.pem"));
	CHECK(starts_with(err, want));
	CHECK(strstr(err, "No such file") != NULL || strstr(err, "no such file") != NULL);

	CHECK(load_one(tpath("garbage.pem"), tpath("ec.key"), err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want), CFG ":10: certificate \"%s\": error:", tpath("garbage.pem"));
	CHECK(starts_with(err, want));
	CHECK(strstr(err, "no start line") != NULL);

	CHECK(load_one(tpath("ec.pem"), tpath("missing.key"), err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want), CFG ":10: key \"%s\": error:", tpath("missing.key"));
	CHECK(starts_with(err, want));

	CHECK(load_one(tpath("ec.pem"), tpath("garbage.pem"), err, sizeof(err)) == NULL);
	snprintf(want, sizeof(want), CFG ":10: key \"%s\": error:", tpath("garbage.pem"));
	CHECK(starts_with(err, want));
	if (!starts_with(err, want))
		printf("  got: %s\n", err);
	CHECK_EQ_INT(ERR_peek_error(), 0);
}

TEST(test_errors)
{
	char buf[512], small[8 + 4];

	ERR_clear_error();
	tls_errors(buf, sizeof(buf));
	CHECK_STR(buf, "");
	ERR_raise(ERR_LIB_SSL, SSL_R_UNSUPPORTED_PROTOCOL);
	ERR_raise(ERR_LIB_SSL, SSL_R_NO_SHARED_CIPHER);
	tls_errors(buf, sizeof(buf));
	if (strstr(buf, "unsupported protocol; ") == NULL)
		printf("  got: %s\n", buf);
	CHECK(strstr(buf, "unsupported protocol; ") != NULL);
	CHECK(strstr(buf, "no shared cipher") != NULL);
	CHECK_EQ_INT(ERR_peek_error(), 0);

	/* a tiny buffer: truncated, terminated, nothing past it, queue drained */
	memset(small, 'Z', sizeof(small));
	ERR_raise(ERR_LIB_SSL, SSL_R_UNSUPPORTED_PROTOCOL);
	ERR_raise(ERR_LIB_SSL, SSL_R_NO_SHARED_CIPHER);
	tls_errors(small, 8);
	CHECK_EQ_INT(strlen(small), 7);
	CHECK(memcmp(small + 8, "ZZZZ", 4) == 0);
	CHECK_EQ_INT(ERR_peek_error(), 0);
	ERR_raise(ERR_LIB_SSL, SSL_R_UNSUPPORTED_PROTOCOL);
	tls_errors(small, 0);
	CHECK_EQ_INT(ERR_peek_error(), 0);
}

TEST(test_sni)
{
	static const struct { const char *sni, *cn; } t[] = {
		{ "x.wild.test", "ec.test" },
		{ "a.test", "ec.test" },
		{ "CN.TEST", "cn.test" },
		{ "cn.test", "cn.test" },
		{ "chain.test", "leaf.test" },
		{ "unknown.example", "ec.test" },
		{ "y.x.wild.test", "ec.test" },
		{ NULL, "ec.test" },
	};
	struct tls_ctxset *set = load_three(0);
	SSL_CTX *cctx = client_ctx(0, 0);
	struct hs h;
	size_t i;

	CHECK(set != NULL);
	if (set == NULL)
		return;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		CHECK_EQ_INT(hs_run(&h, set, cctx, t[i].sni, NULL, NULL), 0);
		CHECK_STR(peer_cn(h.c), t[i].cn);
		if (strcmp(t[i].cn, "leaf.test") == 0) {
			/* the chain is served and verifies against the tiny CA */
			CHECK_EQ_INT(sk_X509_num(SSL_get_peer_cert_chain(h.c)), 2);
			CHECK_EQ_INT(SSL_get_verify_result(h.c), X509_V_OK);
		}
		hs_close(&h);
	}
	/* an RSA certificate through TLS 1.2 as well */
	SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
	CHECK_EQ_INT(hs_run(&h, set, cctx, "cn.test", NULL, NULL), 0);
	CHECK_STR(peer_cn(h.c), "cn.test");
	CHECK_STR(SSL_get_cipher_name(h.c), "ECDHE-RSA-AES128-GCM-SHA256");
	hs_close(&h);
	SSL_CTX_free(cctx);
	tls_ctxset_free(set);
}

TEST(test_alpn)
{
	struct tls_ctxset *set = load_three(0);
	SSL_CTX *cctx = client_ctx(0, 0);
	const unsigned char *p;
	unsigned int n;
	struct hs h;

	if (set == NULL) {
		CHECK(set != NULL);
		SSL_CTX_free(cctx);
		return;
	}
	/* the default offer: h2 first, whatever the client's order */
	CHECK_EQ_INT(hs_run(&h, set, cctx, "a.test", "\x02h2\x08http/1.1", NULL), 0);
	SSL_get0_alpn_selected(h.c, &p, &n);
	CHECK(n == 2 && memcmp(p, "h2", 2) == 0);
	hs_close(&h);
	CHECK_EQ_INT(hs_run(&h, set, cctx, "cn.test", "\x08http/1.1\x02h2", NULL), 0);
	SSL_get0_alpn_selected(h.c, &p, &n);
	CHECK(n == 2 && memcmp(p, "h2", 2) == 0);
	hs_close(&h);
	CHECK_EQ_INT(hs_run(&h, set, cctx, "a.test", "\x08http/1.1", NULL), 0);
	SSL_get0_alpn_selected(h.c, &p, &n);
	CHECK(n == 8 && memcmp(p, "http/1.1", 8) == 0);
	hs_close(&h);
	/* nothing in common: no ALPN, the handshake goes on */
	CHECK_EQ_INT(hs_run(&h, set, cctx, "cn.test", "\x06spdy/3", NULL), 0);
	SSL_get0_alpn_selected(h.c, &p, &n);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(hs_exchange(&h), 0);
	hs_close(&h);

	CHECK_EQ_INT(hs_run(&h, set, cctx, NULL, NULL, NULL), 0);
	SSL_get0_alpn_selected(h.c, &p, &n);
	CHECK_EQ_INT(n, 0);
	hs_close(&h);
	tls_ctxset_free(set);

	/* tls.alpn = [ "http/1.1" ]: a client offering only h2 gets no ALPN */
	set = load_alpn("\x08http/1.1");
	CHECK(set != NULL);
	if (set != NULL) {
		CHECK_EQ_INT(hs_run(&h, set, cctx, "a.test", "\x02h2", NULL), 0);
		SSL_get0_alpn_selected(h.c, &p, &n);
		CHECK_EQ_INT(n, 0);
		hs_close(&h);
		CHECK_EQ_INT(hs_run(&h, set, cctx, "a.test", "\x02h2\x08http/1.1", NULL), 0);
		SSL_get0_alpn_selected(h.c, &p, &n);
		CHECK(n == 8 && memcmp(p, "http/1.1", 8) == 0);
		hs_close(&h);
		tls_ctxset_free(set);
	}
	SSL_CTX_free(cctx);
}

TEST(test_versions)
{
	struct tls_ctxset *set = load_three(0), *set13 = load_three(1);
	SSL_CTX *c11 = client_ctx(0, TLS1_1_VERSION), *c12 = client_ctx(0, TLS1_2_VERSION);
	SSL_CTX *cany = client_ctx(0, 0);
	struct hs h;

	CHECK(set != NULL && set13 != NULL);
	if (set != NULL) {
		CHECK_EQ_INT(hs_run(&h, set, c11, "a.test", NULL, NULL), -1);
		CHECK_EQ_INT(ERR_GET_REASON(h.serr), SSL_R_UNSUPPORTED_PROTOCOL);
		hs_close(&h);
		CHECK_EQ_INT(hs_run(&h, set, c12, "a.test", NULL, NULL), 0);
		CHECK_EQ_INT(SSL_version(h.c), TLS1_2_VERSION);
		CHECK_STR(SSL_get_cipher_name(h.c), "ECDHE-ECDSA-AES128-GCM-SHA256");
		hs_close(&h);
	}
	if (set13 != NULL) {
		CHECK_EQ_INT(hs_run(&h, set13, c12, "a.test", NULL, NULL), -1);
		CHECK_EQ_INT(ERR_GET_REASON(h.serr), SSL_R_UNSUPPORTED_PROTOCOL);
		hs_close(&h);
		CHECK_EQ_INT(hs_run(&h, set13, cany, "cn.test", NULL, NULL), 0);
		CHECK_EQ_INT(SSL_version(h.c), TLS1_3_VERSION);
		CHECK_STR(peer_cn(h.c), "cn.test");
		hs_close(&h);
	}
	SSL_CTX_free(c11);
	SSL_CTX_free(c12);
	SSL_CTX_free(cany);
	tls_ctxset_free(set);
	tls_ctxset_free(set13);
}

TEST(test_weak_ciphers_refused)
{
	struct tls_ctxset *set = load_three(0);
	SSL_CTX *cctx = client_ctx(0, TLS1_2_VERSION);
	struct hs h;

	/* RSA key exchange and CBC: a TLS 1.2 client offering only those */
	SSL_CTX_set_cipher_list(cctx, "AES128-SHA256:AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA256");
	if (set != NULL) {
		CHECK_EQ_INT(hs_run(&h, set, cctx, "cn.test", NULL, NULL), -1);
		CHECK_EQ_INT(ERR_GET_REASON(h.serr), SSL_R_NO_SHARED_CIPHER);
		hs_close(&h);
	}
	CHECK(set != NULL);
	SSL_CTX_free(cctx);
	tls_ctxset_free(set);
}

/* First handshake with set a, second resuming its session with set b. */
static void
check_resume(struct tls_ctxset *a, struct tls_ctxset *b, SSL_CTX *cctx, const char *sni,
    int version)
{
	SSL_SESSION *sess;
	struct hs h;

	CHECK_EQ_INT(hs_run(&h, a, cctx, sni, NULL, NULL), 0);
	CHECK_EQ_INT(SSL_version(h.c), version);
	CHECK_EQ_INT(SSL_session_reused(h.c), 0);
	CHECK_EQ_INT(hs_exchange(&h), 0);
	sess = SSL_get1_session(h.c);
	hs_close(&h);
	CHECK(sess != NULL && SSL_SESSION_is_resumable(sess));

	CHECK_EQ_INT(hs_run(&h, b, cctx, sni, NULL, sess), 0);
	CHECK_EQ_INT(SSL_session_reused(h.c), 1);
	CHECK_EQ_INT(SSL_session_reused(h.s), 1);
	CHECK_STR(peer_cn(h.c), strcmp(sni, "cn.test") == 0 ? "cn.test" : "ec.test");
	hs_close(&h);
	SSL_SESSION_free(sess);
}

TEST(test_resume)
{
	struct tls_ctxset *set = load_three(0), *reloaded = load_three(0);
	SSL_CTX *c12 = client_ctx(0, TLS1_2_VERSION), *c13 = client_ctx(TLS1_3_VERSION, 0);
	SSL_CTX *cache12 = client_ctx(0, TLS1_2_VERSION);

	CHECK(set != NULL && reloaded != NULL);
	if (set != NULL && reloaded != NULL) {
		check_resume(set, set, c12, "a.test", TLS1_2_VERSION);
		check_resume(set, set, c12, "cn.test", TLS1_2_VERSION);
		check_resume(set, set, c13, "a.test", TLS1_3_VERSION);
		check_resume(set, set, c13, "cn.test", TLS1_3_VERSION);
		/* no tickets: the server's session cache */
		SSL_CTX_set_options(cache12, SSL_OP_NO_TICKET);
		check_resume(set, set, cache12, "cn.test", TLS1_2_VERSION);
		/* tickets outlive a certificate reload: the key ring is shared */
		check_resume(set, reloaded, c12, "x.wild.test", TLS1_2_VERSION);
		check_resume(set, reloaded, c13, "cn.test", TLS1_3_VERSION);
	}
	SSL_CTX_free(c12);
	SSL_CTX_free(c13);
	SSL_CTX_free(cache12);
	tls_ctxset_free(set);
	tls_ctxset_free(reloaded);
}

TEST(test_ssl_outlives_set)
{
	struct tls_ctxset *set = load_three(0);
	SSL_CTX *cctx = client_ctx(0, 0);
	struct hs h;
	SSL *s;
	int fds[2], i, cr = 0, sr = 0;

	CHECK(set != NULL);
	if (set == NULL) {
		SSL_CTX_free(cctx);
		return;
	}
	/* a reload frees the set while a connection is still in its handshake */
	s = tls_ssl_new(set);
	tls_ctxset_free(set);
	memset(&h, 0, sizeof(h));
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	h.s = s;
	h.c = SSL_new(cctx);
	h.fds[0] = fds[0];
	h.fds[1] = fds[1];
	SSL_set_fd(h.s, fds[0]);
	SSL_set_fd(h.c, fds[1]);
	SSL_set_connect_state(h.c);
	SSL_set_tlsext_host_name(h.c, "cn.test");
	for (i = 0; i < 200 && (cr != 1 || sr != 1) && cr != -1 && sr != -1; i++) {
		if (cr == 0)
			cr = hs_step(h.c, NULL);
		if (sr == 0)
			sr = hs_step(h.s, NULL);
	}
	h.cok = cr == 1;
	h.sok = sr == 1;
	CHECK(h.cok && h.sok);
	CHECK_STR(peer_cn(h.c), "cn.test");
	hs_close(&h);
	SSL_CTX_free(cctx);
}

int
main(void)
{
	RUN(test_name_match);
	RUN(test_errors);
	certs_ok = make_certs() == 0;
	if (!certs_ok) {
		printf("FAIL make_certs (is the openssl command installed?)\n");
		test_failed++;
	} else {
		RUN(test_load_names);
		RUN(test_key_mismatch);
		RUN(test_second_cert_fails);
		RUN(test_bad_cert);
		RUN(test_sni);
		RUN(test_alpn);
		RUN(test_versions);
		RUN(test_weak_ciphers_refused);
		RUN(test_resume);
		RUN(test_ssl_outlives_set);
	}
	if (tdir[strlen(tdir) - 1] != 'X')
		sh("rm -rf '%s'", tdir);
	return test_summary();
}
