/*
 * fuzz_upstream_h2.c - libFuzzer harness for HTTP/2 to servers
 * (upstream_h2.c, upstream_h2_conn.c).
 *
 * The input is what a server sends on a connection bgproxy opened:
 * SETTINGS, HEADERS, DATA, trailers, RST_STREAM, GOAWAY, PING, WINDOW_UPDATE
 * or anything else.  The first byte picks the requests bgproxy has sent on
 * it (a GET, a HEAD, a POST with a length, a chunked POST with trailers, up
 * to three at once); the rest goes through nghttp2's client side with our
 * callbacks, in slices, as reads would deliver it.  A stand-in exchange
 * takes what the seam tells it (heads, body bytes, failures) the way the
 * real one does: it checks each head parses, drains bodies, opens windows,
 * and lets go of its stream when told an end or a failure.  What is left
 * out is the network: conn.c is replaced by buffers.  Every stream must be
 * let go, and the worker's connections must free everything (ASan/LSan).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "conn.h"
#include "http_parse.h"
#include "proxy.h"
#include "tls_up.h"
#include "upstream.h"
#include "upstream_h2_int.h"

#define REQUIRE(x) do { if (!(x)) __builtin_trap(); } while (0)

/* ---- what the module needs of the rest of bgproxy ------------------------ */

struct runtime rt;
const char *const pool_names[CONFIG_POOLS + 1] = { "blue", "green", NULL };
int log_level_cur = -1;

void
log_msg(int level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;
}

uint64_t
proxy_coarse_us(void)
{
	static uint64_t t = 1000000;

	return t += 1000;
}

struct timeval
clock_tv_ms(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	return tv;
}

void upstream_slot_give(struct worker *w, struct server *srv) { (void)w; (void)srv; }

SSL *
upstream_tls_ssl(struct upsess_owner *o, const struct tls_up *t, char *err, size_t errlen)
{
	(void)o;
	(void)t;
	(void)err;
	(void)errlen;
	return NULL;            /* plain TCP only here */
}

void
tls_up_why(SSL *ssl, unsigned long err, char *why, size_t len)
{
	(void)ssl;
	(void)err;
	snprintf(why, len, "-");
}

/* conn.c: buffers, no socket */
static conn_cb cur_read;
static void *cur_arg;

int
conn_connect(struct conn *c, struct event_base *base, const struct sockaddr *sa, socklen_t len,
    const struct timeval *timeout)
{
	(void)base;
	(void)sa;
	(void)len;
	(void)timeout;
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->in = evbuffer_new();
	c->out = evbuffer_new();
	return c->in != NULL && c->out != NULL ? 0 : -1;
}

void
conn_release(struct conn *c)
{
	if (c->in != NULL)
		evbuffer_free(c->in);
	if (c->out != NULL)
		evbuffer_free(c->out);
	c->in = c->out = NULL;
}

void
conn_setcb(struct conn *c, conn_cb readcb, conn_cb writecb, conn_event_cb eventcb, void *arg)
{
	(void)c;
	(void)writecb;
	(void)eventcb;
	cur_read = readcb;
	cur_arg = arg;
}

void conn_set_timeouts(struct conn *c, const struct timeval *rd, const struct timeval *wr)
{ (void)c; (void)rd; (void)wr; }
void conn_read_enable(struct conn *c) { (void)c; }
void conn_start_tls(struct conn *c, SSL *ssl) { (void)c; (void)ssl; }
size_t conn_out_pending(const struct conn *c) { return evbuffer_get_length(c->out); }
void conn_flush(struct conn *c) { evbuffer_drain(c->out, evbuffer_get_length(c->out)); }

/* ---- a stand-in exchange ---------------------------------------------------- */

struct fake_ex {
	struct upconn *u;
	int final;
	int done;
};

static int live;

static void
fake_let_go(struct fake_ex *fx, int clean)
{
	if (fx->u == NULL)
		return;
	fx->u->proto->done(fx->u, clean);
	fx->u = NULL;
	live--;
}

static int
ev_head(void *arg, const struct upstream_resp *r)
{
	struct fake_ex *fx = arg;

	/* what the seam shows is a parsed head, its body's framing one the
	 * exchange knows */
	REQUIRE(r->m != NULL && r->m->status >= 100 && r->m->status <= 999);
	REQUIRE(r->body == BODY_NONE || r->body == BODY_LENGTH || r->body == BODY_CHUNKED);
	if (r->m->status >= 200)
		fx->final = 1;
	if (r->m->status == 418) {      /* the exchange gives up on some heads */
		fake_let_go(fx, 0);
		return -1;
	}
	return 0;
}

static int
ev_body(void *arg)
{
	struct fake_ex *fx = arg;
	struct upconn *u = fx->u;

	if (u == NULL)
		return -1;
	/* the client takes everything: the window opens again */
	evbuffer_drain(u->in, evbuffer_get_length(u->in));
	u->proto->read(u, 1);
	if (u->eof) {
		fake_let_go(fx, 1);
		return -1;
	}
	return 0;
}

static void
ev_room(void *arg)
{
	(void)arg;
}

static void
ev_failed(void *arg, enum retry_failure f)
{
	(void)f;
	fake_let_go(arg, 0);
}

static void
ev_bad(void *arg, const char *why)
{
	(void)why;
	fake_let_go(arg, 0);
}

static const struct upstream_events fake_events = {
	.head = ev_head, .body = ev_body, .room = ev_room, .failed = ev_failed, .bad = ev_bad,
};

/* ---- the harness ---------------------------------------------------------- */

static const char *const requests[] = {
	"GET /a HTTP/1.1\r\nHost: app\r\nAccept: */*\r\n\r\n",
	"HEAD /b HTTP/1.1\r\nHost: app\r\n\r\n",
	"POST /c HTTP/1.1\r\nHost: app\r\nContent-Length: 5\r\n\r\n",
	("POST /d HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Type: application/grpc\r\n\r\n"),
};
static const char *const bodies[] = {
	"", "", "hello", "5\r\nhello\r\n0\r\nX-T: one\r\n\r\n",
};

static struct config cfg;
static struct worker w;
static struct server srv;
static struct service fsvc;     /* the server's (no TLS to it) */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fake_ex fx[3];
	char err[256];
	size_t off, i, n, slice;
	int k;

	if (w.base == NULL) {
		w.base = event_base_new();
		cfg.t_upstream_response_ms = 30000;
		cfg.t_upstream_connect_ms = 2000;
		cfg.t_upstream_idle_ms = 30000;
		atomic_store(&rt.cfg, &cfg);
		srv.svc = &fsvc;
		srv.pool = POOL_BLUE;
		srv.slot = 0;
		rt.srvs[0] = &srv;
		atomic_store(&rt.nsrvs, 1);
		w.idle = calloc(1, sizeof(*w.idle));
		REQUIRE(w.idle != NULL);
		snprintf(srv.addr.text, sizeof(srv.addr.text), "127.0.0.1:1");
	}
	if (size < 1)
		return 0;
	n = 1 + data[0] % 3;
	memset(fx, 0, sizeof(fx));
	for (i = 0; i < n; i++) {
		int r = (data[0] >> (2 + 2 * i)) & 3;

		fx[i].u = upstream_h2_get(&w, &srv, 0, err, sizeof(err));
		REQUIRE(fx[i].u != NULL);
		live++;
		fx[i].u->proto->attach(fx[i].u, &fake_events, &fx[i]);
		fx[i].u->proto->send_head(fx[i].u, requests[r], strlen(requests[r]),
		    (r == 1 ? UPSTREAM_NO_BODY : 0) | (r == 3 ? UPSTREAM_TRAILERS : 0));
		evbuffer_add(fx[i].u->out, bodies[r], strlen(bodies[r]));
		fx[i].u->proto->push(fx[i].u, 0);
		fx[i].u->proto->timers(fx[i].u, r >= 2 ? UPSTREAM_T_SENDING : UPSTREAM_T_WAITING);
	}
	REQUIRE(cur_read != NULL);
	/* the server's bytes, in slices as reads would give them */
	slice = 1 + (size > 1 ? data[1] % 64 : 0) * 16;
	for (off = 1; off < size && live > 0;) {
		struct h2up *h = w.idle[0].h2;
		size_t take = size - off < slice ? size - off : slice;

		if (h == NULL)
			break;          /* the connection failed and went */
		evbuffer_add(h->c.in, data + off, take);
		off += take;
		cur_read(&h->c, cur_arg);
		for (k = 0; k < 4; k++)
			event_base_loop(w.base, EVLOOP_NONBLOCK);
	}
	/* inputs of odd length: the silence timer fires twice (a PING, then no
	 * answer: the connection is dead and its streams are told) */
	if ((size & 1) && w.idle[0].h2 != NULL) {
		struct h2up *h = w.idle[0].h2;

		h->last_rx_us = 0;      /* silent since the start */
		event_active(&h->ping_ev, EV_TIMEOUT, 1);
		event_base_loop(w.base, EVLOOP_NONBLOCK);
		if ((h = w.idle[0].h2) != NULL) {
			event_active(&h->ping_ev, EV_TIMEOUT, 1);
			event_base_loop(w.base, EVLOOP_NONBLOCK);
		}
	}
	/* whatever is still going: the exchange lets go (a client gone) */
	for (i = 0; i < n; i++)
		if (fx[i].u != NULL) {
			fx[i].u->proto->free(fx[i].u);
			fx[i].u = NULL;
			live--;
		}
	for (k = 0; k < 4; k++)
		event_base_loop(w.base, EVLOOP_NONBLOCK);
	upstream_h2_free_all(&w);
	REQUIRE(live == 0);
	REQUIRE(w.idle[0].h2 == NULL);
	return 0;
}
