/*
 * fuzz_h2.c - libFuzzer harness for the HTTP/2 codec (h2.c, h2_stream.c).
 *
 * The input is what a client sends after the connection preface: frames,
 * or anything else.  It goes through the real codec - nghttp2 with our
 * callbacks and budgets, the header list into an HTTP/1.1 head, request
 * bodies, the response path with DATA, trailers and our own replies - on a
 * real event_base.  What is left out is the network: the client socket
 * takes every byte at once, and the exchange (exchange.c) is replaced by
 * one that answers each request at once in one of several ways, chosen by
 * its path, through the same struct exchange_ops a real one uses.  Every
 * stream must end, and the connection must free everything (ASan/LSan).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "conn.h"
#include "exchange.h"
#include "h2.h"
#include "http_parse.h"
#include "proxy.h"
#include "stats.h"
#include "upstream.h"

#define REQUIRE(x) do { if (!(x)) __builtin_trap(); } while (0)

/* ---- what the codec needs of the rest of bgproxy ------------------------- */

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
proxy_now_us(void)
{
	static uint64_t t = 1000000;

	return t += 1000;
}

uint64_t
proxy_coarse_us(void)
{
	return proxy_now_us();
}

struct timeval
clock_tv_ms(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	return tv;
}

/* the client's socket takes everything */
size_t conn_out_pending(const struct conn *c) { return evbuffer_get_length(c->out); }
void conn_flush(struct conn *c) { evbuffer_drain(c->out, evbuffer_get_length(c->out)); }
void conn_flush_hold(struct conn *c) { conn_flush(c); }
void conn_read_enable(struct conn *c) { (void)c; }
void conn_read_disable(struct conn *c) { (void)c; }
void conn_shutdown_write(struct conn *c) { (void)c; }

/* ---- an exchange that answers at once ------------------------------------- */

/* the "server" side of every exchange: takes everything at once */
static size_t
fake_push(struct upconn *u, int hold)
{
	(void)hold;
	evbuffer_drain(u->out, evbuffer_get_length(u->out));
	return 0;
}

static size_t fake_pending(const struct upconn *u) { return evbuffer_get_length(u->out); }
static void fake_read(struct upconn *u, int on) { (void)u; (void)on; }
static void fake_shutdown(struct upconn *u) { (void)u; }

static const struct upstream_proto fake_proto = {
	.name = "fake", .framed = 1, .push = fake_push, .pending = fake_pending,
	.read = fake_read, .shutdown = fake_shutdown,
};
static struct upconn fake_up = { .proto = &fake_proto };
static int live_exchanges;

void
exchange_init(struct exchange *ex, struct worker *w, const struct exchange_peer *peer,
    const struct exchange_ops *ops, void *owner)
{
	memset(ex, 0, sizeof(*ex));
	ex->magic = 1;
	ex->w = w;
	ex->peer = peer;
	ex->ops = ops;
	ex->owner = owner;
	ex->state = EX_HEAD;
	live_exchanges++;
}

void exchange_reset(struct exchange *ex) { (void)ex; }

void
exchange_release(struct exchange *ex)
{
	REQUIRE(ex->magic == 1);
	ex->magic = 0;
	live_exchanges--;
}

void exchange_set_state(struct exchange *ex, enum exchange_state to) { ex->state = to; }

void
exchange_request_line(struct exchange *ex, const struct http_msg *m)
{
	size_t n = m->target_len < sizeof(ex->path) - 1 ? m->target_len : sizeof(ex->path) - 1;

	ex->req_minor = m->version_minor;
	ex->req_method = m->method_id;
	memcpy(ex->path, m->target, n);
	ex->path[n] = '\0';
}

/* the one service every stream goes to */
static struct config_svc fsc;
static struct service fsvc = { .name = "default" };

void
exchange_prepare(struct exchange *ex, const struct http_msg *m)
{
	/* what the codec made of the header list parses as a request */
	REQUIRE(m->method_len > 0 && m->head_len > 0);
	ex->svc = rt.svcs[0];
	ex->pool = POOL_BLUE;
}

void
exchange_replied(struct exchange *ex, int status)
{
	ex->resp_status = status;
	ex->resp_started = 1;
}

/* the exchange's end, and what a revert or a server marked down moves:
 * the codec's side of them only */
void
exchange_end(struct exchange *ex, enum exchange_term term)
{
	REQUIRE(ex->magic == 1);
	ex->live = 0;
	ex->term = term;
}

int exchange_move_to_stable(struct exchange *ex, struct service *sv, int pool)
{
	(void)ex;
	(void)sv;
	(void)pool;
	return 0;
}
int exchange_move_from_down(struct exchange *ex) { (void)ex; return 0; }

static void
respond(struct exchange *ex, const char *raw, enum body_kind kind, uint64_t len)
{
	static struct http_msg m;
	struct http_limits lim = { 65536, HTTP_MAX_HEADERS_HARD };
	int r, k;

	evbuffer_drain(fake_up.in, evbuffer_get_length(fake_up.in));
	evbuffer_add(fake_up.in, raw, strlen(raw));
	r = http_parse_response(raw, strlen(raw), &lim, &m);
	REQUIRE(r > 0);
	ex->resp_status = m.status;
	ex->resp_body = ex->req_method == HTTP_M_HEAD ? BODY_NONE : kind;
	ex->resp_left = len;
	http_chunked_init(&ex->resp_chunk);
	ex->ops->resp_head(ex, &m, raw);
	ex->resp_started = 1;
	ex->state = EX_BODY;
	evbuffer_drain(fake_up.in, (size_t)r);
	k = ex->ops->resp_body(ex, &fake_up, 1);
	if (k == -1) {
		ex->ops->abort(ex, "bad body");
		return;
	}
	ex->state = EX_DONE;
	ex->ops->finish(ex);
}

int
exchange_forward(struct exchange *ex)
{
	unsigned hsh = 0;
	size_t i;

	ex->req_done = ex->req_body == BODY_NONE;
	for (i = 0; ex->path[i] != '\0'; i++)
		hsh = hsh * 31 + (unsigned char)ex->path[i];
	switch (hsh % 6) {
	case 0:
		respond(ex, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello", BODY_LENGTH, 5);
		return -1;
	case 1:
		respond(ex, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nSet-Cookie: bgp=x\r\n\r\n"
		    "5\r\nhello\r\n0\r\nGrpc-Status: 0\r\n\r\n", BODY_CHUNKED, 0);
		return -1;
	case 2:
		if (ex->ops->reply(ex, 503, "no server") == 0)
			ex->ops->finish(ex);
		return -1;
	case 3:
		respond(ex, "HTTP/1.1 204 No Content\r\n\r\n", BODY_NONE, 0);
		return -1;
	case 4:
		/* a response that waits for the whole request body */
		if (!ex->req_done)
			ex->ops->req_body(ex, &fake_up);
		return 0;
	default:
		ex->ops->abort(ex, "server failed");
		return -1;
	}
}

void
exchange_pump_request(struct exchange *ex)
{
	int r = ex->ops->req_body(ex, &fake_up);

	evbuffer_drain(fake_up.out, evbuffer_get_length(fake_up.out));
	if (r == -1) {
		if (ex->ops->reply(ex, 400, "bad body") == 0)
			ex->ops->finish(ex);
		return;
	}
	if (r == 1) {
		ex->req_done = 1;
		ex->ops->req_sent(ex);
		respond(ex, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", BODY_LENGTH, 2);
		return;
	}
	ex->ops->req_flow(ex, 1);
}

void exchange_resume_response(struct exchange *ex) { (void)ex; }

void
exchange_client_body_timeout(struct exchange *ex)
{
	if (ex->ops->reply(ex, 408, "timeout") == 0)
		ex->ops->finish(ex);
}

/* ---- the harness ---------------------------------------------------------- */

static struct config cfg;
static struct worker w;
static struct stats_worker stats;
static int closed;
static struct h2conn *cur;

/* the client connection's timer: the harness has none (h2_timeout is
 * driven below) */
static void
on_timer(void *arg, int ms)
{
	(void)arg;
	(void)ms;
}

static void
on_closed(void *arg, const char *why)
{
	(void)arg;
	(void)why;
	closed = 1;
	h2_free(cur);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct exchange_peer peer = { .addr = "127.0.0.1", .addr_len = 9 };
	struct conn cc;
	struct h2_host host = { on_closed, on_timer, NULL };
	struct h2conn *h;
	int i;

	if (w.base == NULL) {
		w.base = event_base_new();
		w.stats = &stats;
		cfg.h2_max_streams = 100;
		cfg.h2_window = 65535;
		cfg.h2_max_header_list = 16384;
		cfg.max_headers = 100;
		cfg.t_client_idle_ms = 60000;
		cfg.t_client_body_ms = 60000;
		fsc.cookie = (char *)"bgp";
		fsc.header = (char *)"";
		fsc.override_header = (char *)"X-Bgproxy-Pool";
		fsc.expose_header = 1;
		fsc.name = (char *)"default";
		cfg.svcs = &fsc;
		cfg.nsvcs = 1;
		atomic_store(&fsvc.cfg, &fsc);
		rt.svcs[0] = &fsvc;
		atomic_store(&rt.nsvcs, 1);
		atomic_store(&rt.cfg, &cfg);
		fake_up.in = evbuffer_new();
		fake_up.out = evbuffer_new();
	}
	memset(&cc, 0, sizeof(cc));
	cc.in = evbuffer_new();
	cc.out = evbuffer_new();
	evbuffer_add(cc.in, H2_PREFACE, H2_PREFACE_LEN);
	evbuffer_add(cc.in, data, size);
	closed = 0;
	h = cur = h2_open(&w, &cc, &peer, &host);
	REQUIRE(h != NULL);
	if (h2_read(h) == 0) {
		/* the kicks and the streams' work, as the loop would run them */
		for (i = 0; i < 8 && !closed; i++)
			event_base_loop(w.base, EVLOOP_NONBLOCK);
		/* and once the timer, as if it fired */
		if (!closed && h2_timeout(h) == 0)
			for (i = 0; i < 4 && !closed; i++)
				event_base_loop(w.base, EVLOOP_NONBLOCK);
		if (!closed)
			h2_free(h);
	}
	REQUIRE(live_exchanges == 0);
	evbuffer_free(cc.in);
	evbuffer_free(cc.out);
	return 0;
}
