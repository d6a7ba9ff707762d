/*
 * bgdemo.c - small, fast demo upstream HTTP/1.1 server.
 *
 * Used by the demo, the integration tests and the benchmarks as the thing
 * bgproxy forwards to.  It must never be the bottleneck, so each connection
 * owns plain byte buffers (no allocation per request once a connection is
 * up) and every batch of responses goes out with a single send().  It also
 * has knobs (/__ctl/...) so tests can make it fail, stall or hang up.
 *
 * usage: bgdemo --port PORT [--host 127.0.0.1] --name NAME [--threads N]
 *               [--port-file FILE]
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "http_parse.h"

#define MAX_HEAD      (64u * 1024)          /* larger request heads get 431 */
#define MAX_BODY      (64ull * 1024 * 1024) /* /echo buffers at most this */
#define MAX_WS_FRAME  (64ull * 1024 * 1024)
#define MAX_LINE      4096                  /* chunk-size and trailer lines */
#define READ_CHUNK    (16u * 1024)
#define OUT_LOW       (256u * 1024)         /* refill streams below this */
#define OUT_HIGH      (1024u * 1024)        /* stop serving pipelined requests */
#define IN_HIGH       (1024u * 1024)        /* stop reading while stalled */
#define SHRINK_ABOVE  (256u * 1024)         /* free idle buffers bigger than this */
#define LINGER_MS     2000
#define MAX_THREADS   64
#define FRAME_CHUNKED (-1)                  /* put_head framing: chunked */
#define FRAME_NONE    (-2)                  /* put_head framing: no length */

#define LIT(s) s, (sizeof(s) - 1)

/* ---- global state (shared by all threads, hence atomics) ---- */

static const char *g_name;
static size_t g_name_len;
static char g_name_json[512];
static int g_port;
static char g_xserver[320];          /* "X-Server: NAME:PORT\r\n" */
static size_t g_xserver_len;
static char g_root_body[260];        /* "NAME\n" */
static size_t g_root_len;
static char g_pattern[65536 + 32];   /* /big body: byte i = 'a' + i % 26 */

static atomic_uint_fast64_t g_conn_seq, g_active, g_requests, g_health_checks, g_mirrored;
/* body bytes of the proxy's copies, and the sum of their values (a check
 * that a copy's body is the client's) */
static atomic_uint_fast64_t g_mirrored_body_bytes, g_mirrored_body_sum;
static atomic_uint_fast64_t g_fail_ppm, g_fail_count, g_slow_ms;
static atomic_bool g_close_on, g_health_bad;

/* ---- growable byte buffer: data lives in p[off, len) ---- */

struct buf {
	char *p;
	size_t off, len, cap;
};

static void buf_reserve(struct buf *b, size_t n)
{
	if (b->cap - b->len >= n)
		return;
	if (b->off > 0) {
		/* Compact first: most of the time that frees enough room. */
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->cap - b->len >= n)
			return;
	}
	size_t cap = b->cap ? b->cap : 16384;
	while (cap - b->len < n)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		fprintf(stderr, "bgdemo: out of memory\n");
		abort();
	}
	b->p = p;
	b->cap = cap;
}

static inline size_t buf_used(const struct buf *b)
{
	return b->len - b->off;
}

static inline void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

static void buf_append(struct buf *b, const void *d, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

/* Give memory back after a big echo or stream; keep small buffers. */
static void buf_trim(struct buf *b, bool drop_data)
{
	if (drop_data)
		b->off = b->len = 0;
	if (b->len == 0 && b->cap > SHRINK_ABOVE) {
		free(b->p);
		b->p = NULL;
		b->cap = 0;
	}
}

/* ---- small text helpers ---- */

static char *put_mem(char *o, const void *s, size_t n)
{
	if (n > 0)              /* s may be NULL for an empty value */
		memcpy(o, s, n);
	return o + n;
}

static char *put_u64(char *o, uint64_t v)
{
	char tmp[24];
	int i = 0;
	do {
		tmp[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i)
		*o++ = tmp[--i];
	return o;
}

static char *put_hex(char *o, uint64_t v)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[20];
	int i = 0;
	do {
		tmp[i++] = hex[v & 15];
		v >>= 4;
	} while (v);
	while (i)
		*o++ = tmp[--i];
	return o;
}

static bool is_tchar(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9'))
		return true;
	return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static bool eq_ci(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

static bool eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* Comma-separated, case-insensitive token list membership (Connection...). */
static bool has_token(const char *v, size_t len, const char *tok)
{
	size_t i = 0;
	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t s = i;
		while (i < len && v[i] != ',')
			i++;
		size_t e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s && eq_ci(v + s, e - s, tok))
			return true;
	}
	return false;
}

static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > 18)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* Find NAME=VALUE in a query string; a bare NAME gives an empty value. */
static bool qparam(const char *q, size_t qlen, const char *name,
		   const char **v, size_t *vlen)
{
	size_t nl = strlen(name), i = 0;
	while (i < qlen) {
		size_t s = i;
		while (i < qlen && q[i] != '&')
			i++;
		const char *eqs = memchr(q + s, '=', i - s);
		size_t kl = eqs ? (size_t)(eqs - (q + s)) : i - s;
		if (kl == nl && memcmp(q + s, name, nl) == 0) {
			*v = eqs ? eqs + 1 : q + i;
			*vlen = eqs ? (size_t)(q + i - (eqs + 1)) : 0;
			return true;
		}
		i++;
	}
	return false;
}

static bool qflag(const char *q, size_t qlen, const char *name)
{
	const char *v;
	size_t vl;
	if (!qparam(q, qlen, name, &v, &vl))
		return false;
	return eq(v, vl, "1") || eq(v, vl, "true") || eq(v, vl, "yes");
}

static bool qnum(const char *q, size_t qlen, const char *name, uint64_t *out)
{
	const char *v;
	size_t vl;
	return qparam(q, qlen, name, &v, &vl) && parse_u64(v, vl, out);
}

/* ---- SHA-1 and base64, only for Sec-WebSocket-Accept ---- */

static uint32_t rol32(uint32_t x, int s)
{
	return x << s | x >> (32 - s);
}

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
	uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (int i = 0; i < 80; i++) {
		uint32_t f, k;
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		uint32_t t = rol32(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol32(b, 30);
		b = a;
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

static void sha1(const uint8_t *data, size_t len, uint8_t out[20])
{
	uint32_t h[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476,
			  0xc3d2e1f0 };
	uint8_t tail[128] = { 0 };
	size_t full = len & ~(size_t)63, rest = len - full;
	for (size_t i = 0; i < full; i += 64)
		sha1_block(h, data + i);
	memcpy(tail, data + full, rest);
	tail[rest] = 0x80;
	size_t tlen = rest + 9 <= 64 ? 64 : 128;
	uint64_t bits = (uint64_t)len * 8;
	for (int i = 0; i < 8; i++)
		tail[tlen - 1 - i] = (uint8_t)(bits >> (8 * i));
	for (size_t i = 0; i < tlen; i += 64)
		sha1_block(h, tail + i);
	for (int i = 0; i < 20; i++)
		out[i] = (uint8_t)(h[i / 4] >> (24 - 8 * (i % 4)));
}

static size_t base64(const uint8_t *in, size_t n, char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

/* ---- connections ---- */

enum route {
	R_ROOT, R_HEALTH, R_ECHO, R_HEADERS, R_BIG, R_STATUS, R_SLOW,
	R_WS, R_WS_BAD, R_CTL, R_FAIL, R_BAD_PARAM,
};

enum cstate {
	ST_HEAD,     /* waiting for / parsing a request head */
	ST_BODY,     /* reading a request body */
	ST_DELAY,    /* response held back by a timer */
	ST_STREAM,   /* generating a large response body */
	ST_WS,       /* WebSocket echo after 101 */
	ST_CLOSING,  /* flush what is queued, then close */
	ST_LINGER,   /* write side shut, draining input until EOF or timeout */
};

enum body_mode { B_CL, B_CHUNK_SIZE, B_CHUNK_DATA, B_CHUNK_CRLF, B_TRAILER };
enum src_kind { SRC_BIG, SRC_ECHO };

/* Per-request facts; reset with one memset, so strings live in the conn. */
struct req {
	enum route route;
	int minor;            /* HTTP/1.minor */
	bool is_head, is_get, keep_alive, chunked, expect_continue;
	bool keep_body, opt_chunked, opt_close, normal, ctl_json;
	bool mirrored;        /* X-Bgproxy-Mirror: 1 (a copy from the proxy) */
	int64_t clen;         /* -1: no Content-Length */
	uint64_t num;         /* route parameter: bytes, ms or status code */
	int ctl_status;
	size_t rid_len, xff_len, ctl_len;
};

struct conn {
	struct event_base *base;
	int fd;
	struct event *ev_read, *ev_write, *timer;
	bool rd_on, wr_on, peer_eof, abort;
	enum cstate state;
	struct buf in, out, body;
	struct req req;
	/* body decoding */
	enum body_mode bmode;
	uint64_t body_left;
	/* response streaming */
	enum src_kind src;
	uint64_t src_left, src_pos;
	bool src_chunked;
	char xconn[40];       /* "X-Conn: N\r\n" */
	size_t xconn_len;
	char rid[1024], xff[1024], ctl_body[1024], ws_accept[32];
};

struct head {
	const char *path, *query, *ws_key;
	size_t path_len, query_len, ws_key_len;
	bool upgrade_ws, conn_upgrade, conn_close, conn_keep, has_te;
};

static void drive(struct conn *c);

static void conn_free(struct conn *c)
{
	event_free(c->ev_read);
	event_free(c->ev_write);
	if (c->timer)
		event_free(c->timer);
	close(c->fd);
	free(c->in.p);
	free(c->out.p);
	free(c->body.p);
	atomic_fetch_sub_explicit(&g_active, 1, memory_order_relaxed);
	free(c);
}

static void arm_timer(struct conn *c, uint64_t ms);

/* ---- response writing ---- */

/* Headers every response carries: identity plus echoed request headers. */
static char *put_common(struct conn *c, char *o)
{
	struct req *r = &c->req;
	o = put_mem(o, g_xserver, g_xserver_len);
	o = put_mem(o, c->xconn, c->xconn_len);
	if (r->rid_len) {
		o = put_mem(o, LIT("X-Request-Id: "));
		o = put_mem(o, c->rid, r->rid_len);
		o = put_mem(o, LIT("\r\n"));
	}
	if (r->xff_len) {
		o = put_mem(o, LIT("X-Seen-XFF: "));
		o = put_mem(o, c->xff, r->xff_len);
		o = put_mem(o, LIT("\r\n"));
	}
	return o;
}

/* Queue a response head; clen >= 0 is a Content-Length, else FRAME_*. */
static void put_head(struct conn *c, int status, const char *extra,
		     int64_t clen)
{
	struct req *r = &c->req;
	size_t extra_len = extra ? strlen(extra) : 0;
	const char *rs = http_status_text(status);
	buf_reserve(&c->out, 200 + g_xserver_len + c->xconn_len + r->rid_len +
			     r->xff_len + extra_len);
	char *s = c->out.p + c->out.len, *o = s;
	o = put_mem(o, LIT("HTTP/1.1 "));
	o = put_u64(o, (uint64_t)status);
	*o++ = ' ';
	o = put_mem(o, rs, strlen(rs));
	o = put_mem(o, LIT("\r\n"));
	o = put_common(c, o);
	o = put_mem(o, extra, extra_len);
	if (!r->keep_alive)
		o = put_mem(o, LIT("Connection: close\r\n"));
	else if (r->minor == 0)
		o = put_mem(o, LIT("Connection: keep-alive\r\n"));
	if (clen >= 0) {
		o = put_mem(o, LIT("Content-Length: "));
		o = put_u64(o, (uint64_t)clen);
		o = put_mem(o, LIT("\r\n"));
	} else if (clen == FRAME_CHUNKED) {
		o = put_mem(o, LIT("Transfer-Encoding: chunked\r\n"));
	}
	o = put_mem(o, LIT("\r\n"));
	c->out.len += (size_t)(o - s);
}

static void reply_simple(struct conn *c, int status, const char *extra,
			 const char *body, size_t len)
{
	put_head(c, status, extra, (int64_t)len);
	if (!c->req.is_head)
		buf_append(&c->out, body, len);
}

#define CT_TEXT "Content-Type: text/plain\r\n"
#define CT_BIN  "Content-Type: application/octet-stream\r\n"

/* The request is fully answered: pick what the connection does next. */
static void finish_response(struct conn *c)
{
	if (c->req.route == R_WS)
		c->state = ST_WS;
	else if (!c->req.keep_alive)
		c->state = ST_CLOSING;
	else
		c->state = ST_HEAD;
	buf_trim(&c->body, true);
}

/* Malformed or refused request: answer and close (RFC 9112 says we must). */
static void send_error(struct conn *c, int code)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", code, http_status_text(code));
	c->req.keep_alive = false;
	c->req.route = R_BAD_PARAM;
	reply_simple(c, code, CT_TEXT, body, (size_t)n);
	buf_trim(&c->body, true);
	c->state = ST_CLOSING;
}

static void start_stream(struct conn *c, enum src_kind kind, uint64_t len,
			 bool chunked)
{
	c->src = kind;
	c->src_left = len;
	c->src_pos = 0;
	c->src_chunked = chunked;
	c->state = ST_STREAM;
}

/* Top the output queue up from the streaming source, in bounded pieces so
 * a 1 GB /big never sits in memory. */
static void src_refill(struct conn *c)
{
	while (buf_used(&c->out) < OUT_LOW) {
		size_t max = c->src_chunked ? 16384 : 65536;
		size_t n = c->src_left < max ? (size_t)c->src_left : max;
		if (n == 0) {
			if (c->src_chunked)
				buf_append(&c->out, LIT("0\r\n\r\n"));
			finish_response(c);
			return;
		}
		buf_reserve(&c->out, n + 32);
		char *s = c->out.p + c->out.len, *o = s;
		if (c->src_chunked) {
			o = put_hex(o, n);
			o = put_mem(o, LIT("\r\n"));
		}
		if (c->src == SRC_BIG) {
			o = put_mem(o, g_pattern + c->src_pos % 26, n);
		} else {
			o = put_mem(o, c->body.p + c->body.off, n);
			buf_consume(&c->body, n);
		}
		if (c->src_chunked)
			o = put_mem(o, LIT("\r\n"));
		c->out.len += (size_t)(o - s);
		c->src_left -= n;
		c->src_pos += n;
	}
}

static void reply_echo(struct conn *c)
{
	struct req *r = &c->req;
	size_t len = buf_used(&c->body);
	bool chunked = r->minor == 1 && (r->chunked || r->opt_chunked);
	char extra[128];
	snprintf(extra, sizeof(extra), CT_BIN "X-Body-Length: %zu\r\n", len);
	put_head(c, 200, extra, chunked ? FRAME_CHUNKED : (int64_t)len);
	if (r->is_head)
		finish_response(c);
	else
		start_stream(c, SRC_ECHO, len, chunked);
}

static void reply_big(struct conn *c)
{
	struct req *r = &c->req;
	int64_t framing = (int64_t)r->num;
	bool chunked = false;
	if (r->opt_close) {
		/* Until-close framing: the only length signal is the FIN. */
		r->keep_alive = false;
		framing = FRAME_NONE;
	} else if (r->opt_chunked && r->minor == 1) {
		chunked = true;
		framing = FRAME_CHUNKED;
	}
	put_head(c, 200, CT_BIN, framing);
	if (r->is_head)
		finish_response(c);
	else
		start_stream(c, SRC_BIG, r->num, chunked);
}

static void reply_status(struct conn *c)
{
	int code = (int)c->req.num;
	char body[32];
	if (code < 200 || code == 204 || code == 304) {
		put_head(c, code, NULL, FRAME_NONE);
		return;
	}
	int n = snprintf(body, sizeof(body), "status %d\n", code);
	reply_simple(c, code, CT_TEXT, body, (size_t)n);
}

static void reply_ws(struct conn *c)
{
	struct req *r = &c->req;
	buf_reserve(&c->out, 300 + g_xserver_len + r->rid_len + r->xff_len);
	char *s = c->out.p + c->out.len, *o = s;
	o = put_mem(o, LIT("HTTP/1.1 101 Switching Protocols\r\n"
			   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
			   "Sec-WebSocket-Accept: "));
	o = put_mem(o, c->ws_accept, strlen(c->ws_accept));
	o = put_mem(o, LIT("\r\n"));
	o = put_common(c, o);
	o = put_mem(o, LIT("\r\n"));
	c->out.len += (size_t)(o - s);
}

static void respond(struct conn *c)
{
	struct req *r = &c->req;
	switch (r->route) {
	case R_ROOT:
	case R_SLOW:
		reply_simple(c, 200, CT_TEXT, g_root_body, g_root_len);
		break;
	case R_HEALTH:
		if (atomic_load_explicit(&g_health_bad, memory_order_relaxed))
			reply_simple(c, 503, CT_TEXT, LIT("unhealthy\n"));
		else
			reply_simple(c, 200, CT_TEXT, LIT("ok\n"));
		break;
	case R_FAIL:
		reply_simple(c, 500, CT_TEXT, LIT("fail\n"));
		break;
	case R_HEADERS:
		reply_simple(c, 200, CT_TEXT, c->body.p + c->body.off,
			     buf_used(&c->body));
		break;
	case R_ECHO:
		reply_echo(c);
		return;
	case R_BIG:
		reply_big(c);
		return;
	case R_STATUS:
		reply_status(c);
		break;
	case R_WS:
		reply_ws(c);
		break;
	case R_WS_BAD:
		reply_simple(c, 400, CT_TEXT, LIT("websocket upgrade required\n"));
		break;
	case R_BAD_PARAM:
		reply_simple(c, 400, CT_TEXT, LIT("bad parameter\n"));
		break;
	case R_CTL:
		reply_simple(c, r->ctl_status, r->ctl_json ?
			     "Content-Type: application/json\r\n" : CT_TEXT,
			     c->ctl_body, r->ctl_len);
		break;
	}
	finish_response(c);
}

/* Deterministic "fraction R of requests fail": request n fails when
 * floor((n+1)*R) > floor(n*R), so rate 0.5 fails every second request. */
static bool should_fail(void)
{
	uint64_t ppm = atomic_load_explicit(&g_fail_ppm, memory_order_relaxed);
	if (ppm == 0)
		return false;
	uint64_t n = atomic_fetch_add_explicit(&g_fail_count, 1,
					       memory_order_relaxed);
	return (n + 1) * ppm / 1000000 > n * ppm / 1000000;
}

/* The request (head and body) is complete: answer now or after a delay. */
static void dispatch(struct conn *c)
{
	struct req *r = &c->req;
	uint64_t delay = 0;
	if (r->normal) {
		if (should_fail())
			r->route = R_FAIL;
		delay = atomic_load_explicit(&g_slow_ms, memory_order_relaxed);
	}
	if (r->route == R_SLOW)
		delay += r->num;
	if (delay == 0) {
		respond(c);
		return;
	}
	c->state = ST_DELAY;
	arm_timer(c, delay);
}

/* ---- control endpoints ---- */

static bool parse_rate(const char *v, size_t vl, double *out)
{
	char tmp[32];
	char *end;
	if (vl == 0 || vl >= sizeof(tmp))
		return false;
	memcpy(tmp, v, vl);
	tmp[vl] = '\0';
	double d = strtod(tmp, &end);
	if (*end || !(d >= 0.0 && d <= 1.0))
		return false;
	*out = d;
	return true;
}

static void ctl_stats(struct conn *c)
{
	int n = snprintf(c->ctl_body, sizeof(c->ctl_body),
		"{\"name\":\"%s\",\"port\":%d,\"requests\":%llu,"
		"\"connections\":%llu,\"active_connections\":%llu,"
		"\"health_checks\":%llu,\"mirrored\":%llu,\"mirrored_body_bytes\":%llu,"
		"\"mirrored_body_sum\":%llu}\n", g_name_json, g_port,
		(unsigned long long)atomic_load(&g_requests),
		(unsigned long long)atomic_load(&g_conn_seq),
		(unsigned long long)atomic_load(&g_active),
		(unsigned long long)atomic_load(&g_health_checks),
		(unsigned long long)atomic_load(&g_mirrored),
		(unsigned long long)atomic_load(&g_mirrored_body_bytes),
		(unsigned long long)atomic_load(&g_mirrored_body_sum));
	c->req.ctl_len = (size_t)n < sizeof(c->ctl_body) ? (size_t)n
							  : sizeof(c->ctl_body) - 1;
	c->req.ctl_json = true;
}

/* Apply a /__ctl/ request; returns false on a bad parameter. */
static bool ctl_apply(const char *p, size_t pl, const char *q, size_t ql,
		      bool *found)
{
	const char *v;
	size_t vl;
	uint64_t u;
	double rate;
	*found = true;
	if (eq(p, pl, "/__ctl/fail")) {
		if (!qparam(q, ql, "rate", &v, &vl) || !parse_rate(v, vl, &rate))
			return false;
		atomic_store(&g_fail_ppm, (uint64_t)(rate * 1e6 + 0.5));
		atomic_store(&g_fail_count, 0);
	} else if (eq(p, pl, "/__ctl/slow")) {
		if (!qnum(q, ql, "ms", &u))
			return false;
		atomic_store(&g_slow_ms, u);
	} else if (eq(p, pl, "/__ctl/close")) {
		u = 1;
		if (qparam(q, ql, "on", &v, &vl) && (!parse_u64(v, vl, &u) || u > 1))
			return false;
		atomic_store(&g_close_on, u == 1);
	} else if (eq(p, pl, "/__ctl/health")) {
		if (!qnum(q, ql, "ok", &u) || u > 1)
			return false;
		atomic_store(&g_health_bad, u == 0);
	} else if (eq(p, pl, "/__ctl/reset")) {
		atomic_store(&g_fail_ppm, 0);
		atomic_store(&g_slow_ms, 0);
		atomic_store(&g_close_on, false);
		atomic_store(&g_health_bad, false);
	} else {
		*found = false;
	}
	return true;
}

/* Control requests act at head time and are never delayed or failed. */
static void ctl_handle(struct conn *c, const struct head *h)
{
	struct req *r = &c->req;
	const char *msg = "ok\n";
	bool found;
	r->ctl_status = 200;
	if (eq(h->path, h->path_len, "/__ctl/stats")) {
		ctl_stats(c);
		return;
	}
	if (!ctl_apply(h->path, h->path_len, h->query, h->query_len, &found)) {
		r->ctl_status = 400;
		msg = "bad parameter\n";
	} else if (!found) {
		r->ctl_status = 404;
		msg = "unknown control\n";
	}
	r->ctl_len = strlen(msg);
	memcpy(c->ctl_body, msg, r->ctl_len);
}

/* ---- request head parsing ---- */

static int parse_target(const char *t, size_t tl, struct head *h)
{
	if (tl > 7 && (strncasecmp(t, "http://", 7) == 0 ||
		       strncasecmp(t, "https://", 8) == 0)) {
		/* absolute-form: route on the path part only */
		const char *auth = memchr(t, ':', tl) + 3;
		const char *sl = memchr(auth, '/', (size_t)(t + tl - auth));
		if (!sl) {
			h->path = "/";
			h->path_len = 1;
			h->query = "";
			h->query_len = 0;
			return 0;
		}
		tl -= (size_t)(sl - t);
		t = sl;
	} else if (t[0] != '/' && !(tl == 1 && t[0] == '*')) {
		return 400;
	}
	const char *qm = memchr(t, '?', tl);
	h->path = t;
	h->path_len = qm ? (size_t)(qm - t) : tl;
	h->query = qm ? qm + 1 : t + tl;
	h->query_len = qm ? (size_t)(t + tl - qm - 1) : 0;
	return 0;
}

static int parse_request_line(struct conn *c, const char *p, const char *eol,
			      struct head *h)
{
	struct req *r = &c->req;
	const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
	if (!sp1 || sp1 == p)
		return 400;
	for (const char *q = p; q < sp1; q++)
		if (!is_tchar((unsigned char)*q))
			return 400;
	r->is_head = eq(p, (size_t)(sp1 - p), "HEAD");
	r->is_get = eq(p, (size_t)(sp1 - p), "GET");
	const char *t = sp1 + 1;
	const char *sp2 = memchr(t, ' ', (size_t)(eol - t));
	if (!sp2 || sp2 == t)
		return 400;
	for (const char *q = t; q < sp2; q++)
		if ((unsigned char)*q <= 0x20 || *q == 0x7f)
			return 400;
	const char *v = sp2 + 1;
	size_t vl = (size_t)(eol - v);
	if (vl != 8 || memcmp(v, "HTTP/", 5) != 0)
		return 400;
	if (v[5] != '1' || v[6] != '.' || (v[7] != '0' && v[7] != '1'))
		return v[5] >= '0' && v[5] <= '9' ? 505 : 400;
	r->minor = v[7] - '0';
	return parse_target(t, (size_t)(sp2 - t), h);
}

static void copy_value(char *dst, size_t cap, size_t *len, const char *v,
		       size_t vl)
{
	/* Repeated headers are joined the way a list header would be. */
	if (*len && *len + 2 < cap) {
		memcpy(dst + *len, ", ", 2);
		*len += 2;
	}
	if (vl > cap - *len)
		vl = cap - *len;
	memcpy(dst + *len, v, vl);
	*len += vl;
}

static int header_field(struct conn *c, const char *n, size_t nl,
			const char *v, size_t vl, struct head *h)
{
	struct req *r = &c->req;
	uint64_t u;
	if (eq_ci(n, nl, "content-length")) {
		if (!parse_u64(v, vl, &u))
			return 400;
		if (r->clen >= 0 && (uint64_t)r->clen != u)
			return 400;
		r->clen = (int64_t)u;
	} else if (eq_ci(n, nl, "transfer-encoding")) {
		if (!eq_ci(v, vl, "chunked") || h->has_te)
			return 501;
		h->has_te = true;
		r->chunked = true;
	} else if (eq_ci(n, nl, "connection")) {
		h->conn_close |= has_token(v, vl, "close");
		h->conn_keep |= has_token(v, vl, "keep-alive");
		h->conn_upgrade |= has_token(v, vl, "upgrade");
	} else if (eq_ci(n, nl, "expect")) {
		r->expect_continue |= eq_ci(v, vl, "100-continue");
	} else if (eq_ci(n, nl, "upgrade")) {
		h->upgrade_ws |= has_token(v, vl, "websocket");
	} else if (eq_ci(n, nl, "sec-websocket-key")) {
		h->ws_key = v;
		h->ws_key_len = vl;
	} else if (eq_ci(n, nl, "x-request-id")) {
		copy_value(c->rid, sizeof(c->rid), &r->rid_len, v, vl);
	} else if (eq_ci(n, nl, "x-forwarded-for")) {
		copy_value(c->xff, sizeof(c->xff), &r->xff_len, v, vl);
	} else if (eq_ci(n, nl, "x-bgproxy-mirror")) {
		r->mirrored = eq(v, vl, "1");
	}
	return 0;
}

static int header_line(struct conn *c, const char *line, const char *le,
		       struct head *h)
{
	const char *colon = memchr(line, ':', (size_t)(le - line));
	if (!colon || colon == line)
		return 400;
	/* Also rejects obs-fold and whitespace before the colon. */
	for (const char *q = line; q < colon; q++)
		if (!is_tchar((unsigned char)*q))
			return 400;
	const char *v = colon + 1, *ve = le;
	while (v < ve && (*v == ' ' || *v == '\t'))
		v++;
	while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
		ve--;
	for (const char *q = v; q < ve; q++) {
		unsigned char ch = (unsigned char)*q;
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return 400;
	}
	return header_field(c, line, (size_t)(colon - line), v,
			    (size_t)(ve - v), h);
}

/* p[0, hlen) is a complete head ending in CRLFCRLF.  Returns 0 or a status. */
static int parse_head(struct conn *c, const char *p, size_t hlen,
		      struct head *h)
{
	struct req *r = &c->req;
	const char *end = p + hlen - 2;  /* CR of the terminating empty line */
	const char *eol = memchr(p, '\r', hlen);
	if (eol[1] != '\n')
		return 400;
	int err = parse_request_line(c, p, eol, h);
	for (const char *line = eol + 2; !err && line < end; line = eol + 2) {
		eol = memchr(line, '\r', (size_t)(end + 2 - line));
		if (eol[1] != '\n')
			return 400;
		err = header_line(c, line, eol, h);
	}
	if (err)
		return err;
	if (h->has_te && r->clen >= 0)
		return 400;  /* ambiguous framing: classic smuggling vector */
	if (r->minor == 1)
		r->keep_alive = !h->conn_close;
	else
		r->keep_alive = h->conn_keep && !h->conn_close;
	return 0;
}

static void setup_ws(struct conn *c, const struct head *h)
{
	struct req *r = &c->req;
	uint8_t tmp[160], dig[20];
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	if (!h->upgrade_ws || !h->conn_upgrade || !r->is_get || r->minor != 1 ||
	    h->ws_key_len == 0 || h->ws_key_len > 100) {
		r->route = R_WS_BAD;
		return;
	}
	memcpy(tmp, h->ws_key, h->ws_key_len);
	memcpy(tmp + h->ws_key_len, guid, sizeof(guid) - 1);
	sha1(tmp, h->ws_key_len + sizeof(guid) - 1, dig);
	base64(dig, sizeof(dig), c->ws_accept);
	r->route = R_WS;
}

static void setup_route(struct conn *c, const char *p, size_t hlen,
			const struct head *h)
{
	struct req *r = &c->req;
	const char *path = h->path, *q = h->query;
	size_t pl = h->path_len, ql = h->query_len;
	r->route = R_ROOT;
	if (pl == 1) {
		/* fast path for the benchmark route */
	} else if (eq(path, pl, "/healthz")) {
		r->route = R_HEALTH;
	} else if (eq(path, pl, "/echo")) {
		r->route = R_ECHO;
		r->keep_body = true;
		r->opt_chunked = qflag(q, ql, "chunked");
	} else if (eq(path, pl, "/headers")) {
		r->route = R_HEADERS;
		buf_append(&c->body, p, hlen);
	} else if (eq(path, pl, "/big")) {
		r->route = qnum(q, ql, "n", &r->num) ? R_BIG : R_BAD_PARAM;
		r->opt_chunked = qflag(q, ql, "chunked");
		r->opt_close = qflag(q, ql, "close");
	} else if (eq(path, pl, "/status")) {
		bool ok = qnum(q, ql, "code", &r->num) && r->num >= 100 &&
			  r->num <= 599;
		r->route = ok ? R_STATUS : R_BAD_PARAM;
	} else if (eq(path, pl, "/slow")) {
		const char *v;
		size_t vl;
		/* a missing ms means no delay; a malformed one is an error */
		bool ok = !qparam(q, ql, "ms", &v, &vl) ||
			  parse_u64(v, vl, &r->num);
		r->route = ok ? R_SLOW : R_BAD_PARAM;
	} else if (eq(path, pl, "/ws")) {
		setup_ws(c, h);
	} else if (pl > 7 && memcmp(path, "/__ctl/", 7) == 0) {
		r->route = R_CTL;
		ctl_handle(c, h);
	}
	r->normal = r->route != R_CTL && r->route != R_HEALTH;
}

/* Head parsed and consumed: apply faults, then read a body or dispatch. */
static bool start_request(struct conn *c)
{
	struct req *r = &c->req;
	if (r->route == R_HEALTH)
		atomic_fetch_add_explicit(&g_health_checks, 1, memory_order_relaxed);
	else if (r->route != R_CTL)
		atomic_fetch_add_explicit(&g_requests, 1, memory_order_relaxed);
	if (r->mirrored && r->route != R_CTL)
		atomic_fetch_add_explicit(&g_mirrored, 1, memory_order_relaxed);
	if (r->normal && atomic_load_explicit(&g_close_on, memory_order_relaxed)) {
		c->abort = true;
		return false;
	}
	if (r->keep_body && r->clen > (int64_t)MAX_BODY) {
		send_error(c, 413);
		return true;
	}
	if (!r->chunked && r->clen <= 0) {
		dispatch(c);
		return true;
	}
	if (r->expect_continue && r->minor == 1)
		buf_append(&c->out, LIT("HTTP/1.1 100 Continue\r\n\r\n"));
	c->state = ST_BODY;
	c->bmode = r->chunked ? B_CHUNK_SIZE : B_CL;
	c->body_left = r->chunked ? 0 : (uint64_t)r->clen;
	return true;
}

static bool on_head(struct conn *c)
{
	struct buf *in = &c->in;
	/* Tolerate stray CRLFs between pipelined requests (RFC 9112 2.2). */
	while (buf_used(in) >= 2 && in->p[in->off] == '\r' &&
	       in->p[in->off + 1] == '\n')
		buf_consume(in, 2);
	size_t avail = buf_used(in);
	if (avail == 0)
		return false;
	const char *p = in->p + in->off;
	const char *e = memmem(p, avail < MAX_HEAD ? avail : MAX_HEAD,
			       "\r\n\r\n", 4);
	if (!e) {
		if (avail < MAX_HEAD)
			return false;
		send_error(c, 431);
		return true;
	}
	size_t hlen = (size_t)(e - p) + 4;
	struct head h;
	memset(&h, 0, sizeof(h));
	memset(&c->req, 0, sizeof(c->req));
	c->req.clen = -1;
	c->req.minor = 1;
	int err = parse_head(c, p, hlen, &h);
	if (err) {
		send_error(c, err);
		return true;
	}
	setup_route(c, p, hlen, &h);
	buf_consume(in, hlen);
	return start_request(c);
}

/* ---- request bodies ---- */

/* Move up to `want` body bytes from the input to the sink (or drop them). */
static size_t body_take(struct conn *c, uint64_t want)
{
	size_t n = buf_used(&c->in);
	if (want < n)
		n = (size_t)want;
	if (c->req.keep_body)
		buf_append(&c->body, c->in.p + c->in.off, n);
	if (c->req.mirrored) {
		uint64_t sum = 0;

		for (size_t i = 0; i < n; i++)
			sum += (unsigned char)c->in.p[c->in.off + i];
		atomic_fetch_add_explicit(&g_mirrored_body_bytes, n, memory_order_relaxed);
		atomic_fetch_add_explicit(&g_mirrored_body_sum, sum, memory_order_relaxed);
	}
	buf_consume(&c->in, n);
	return n;
}

/* Returns 1 on a line, 0 when more input is needed, -1 on error. */
static int body_line(struct conn *c, const char **line, size_t *len)
{
	size_t avail = buf_used(&c->in);
	const char *p = c->in.p + c->in.off;
	const char *nl = memchr(p, '\n', avail < MAX_LINE ? avail : MAX_LINE);
	if (!nl)
		return avail >= MAX_LINE ? -1 : 0;
	if (nl == p || nl[-1] != '\r')
		return -1;
	*line = p;
	*len = (size_t)(nl - p) - 1;
	buf_consume(&c->in, *len + 2);
	return 1;
}

static int chunk_size(struct conn *c, const char *l, size_t len)
{
	uint64_t v = 0;
	size_t i = 0;
	for (; i < len; i++) {
		int d = l[i] >= '0' && l[i] <= '9' ? l[i] - '0' :
			l[i] >= 'a' && l[i] <= 'f' ? l[i] - 'a' + 10 :
			l[i] >= 'A' && l[i] <= 'F' ? l[i] - 'A' + 10 : -1;
		if (d < 0)
			break;
		if (i >= 15)
			return 400;
		v = v * 16 + (uint64_t)d;
	}
	if (i == 0 || (i < len && l[i] != ';' && l[i] != ' ' && l[i] != '\t'))
		return 400;
	if (c->req.keep_body && buf_used(&c->body) + v > MAX_BODY)
		return 413;
	c->body_left = v;
	c->bmode = v ? B_CHUNK_DATA : B_TRAILER;
	return 0;
}

/* One step of body decoding; false when more input is needed. */
static bool on_body(struct conn *c)
{
	const char *line;
	size_t len;
	int r, err;
	switch (c->bmode) {
	case B_CL:
	case B_CHUNK_DATA:
		if (c->body_left && !buf_used(&c->in))
			return false;
		c->body_left -= body_take(c, c->body_left);
		if (c->body_left)
			return false;
		if (c->bmode == B_CHUNK_DATA) {
			c->bmode = B_CHUNK_CRLF;
			return true;
		}
		break;
	case B_CHUNK_CRLF:
		if (buf_used(&c->in) < 2)
			return false;
		if (memcmp(c->in.p + c->in.off, "\r\n", 2) != 0) {
			send_error(c, 400);
			return true;
		}
		buf_consume(&c->in, 2);
		c->bmode = B_CHUNK_SIZE;
		return true;
	case B_CHUNK_SIZE:
	case B_TRAILER:
		r = body_line(c, &line, &len);
		if (r <= 0) {
			if (r < 0)
				send_error(c, 400);
			return r < 0;
		}
		if (c->bmode == B_TRAILER) {
			if (len > 0)
				return true;  /* trailer fields are ignored */
			break;
		}
		err = chunk_size(c, line, len);
		if (err)
			send_error(c, err);
		return true;
	}
	dispatch(c);
	return true;
}

/* ---- WebSocket echo ---- */

static void ws_frame(struct conn *c, uint8_t b0, const char *payload,
		     uint64_t len)
{
	char h[10];
	size_t hl = 2;
	h[0] = (char)b0;
	if (len < 126) {
		h[1] = (char)len;
	} else if (len <= 0xffff) {
		h[1] = 126;
		h[2] = (char)(len >> 8);
		h[3] = (char)len;
		hl = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (char)(len >> (56 - 8 * i));
		hl = 10;
	}
	buf_reserve(&c->out, hl + len);
	buf_append(&c->out, h, hl);
	buf_append(&c->out, payload, (size_t)len);
}

static void ws_close(struct conn *c, int code)
{
	char p[2] = { (char)(code >> 8), (char)code };
	ws_frame(c, 0x88, p, 2);
	c->state = ST_CLOSING;
}

/* Parse one frame header; returns header length, 0 if incomplete. */
static size_t ws_header(const uint8_t *p, size_t avail, uint64_t *len)
{
	size_t hl = 2;
	if (avail < 2)
		return 0;
	*len = p[1] & 0x7f;
	if (*len == 126)
		hl = 4;
	else if (*len == 127)
		hl = 10;
	if (p[1] & 0x80)
		hl += 4;
	if (avail < hl)
		return 0;
	if (*len == 126) {
		*len = (uint64_t)p[2] << 8 | p[3];
	} else if (*len == 127) {
		*len = 0;
		for (int i = 0; i < 8; i++)
			*len = *len << 8 | p[2 + i];
	}
	return hl;
}

static bool on_ws(struct conn *c)
{
	uint8_t *p = (uint8_t *)c->in.p + c->in.off;
	size_t avail = buf_used(&c->in);
	uint64_t len;
	size_t hl = ws_header(p, avail, &len);
	if (hl == 0)
		return false;
	uint8_t op = p[0] & 0x0f;
	if (len > MAX_WS_FRAME) {
		ws_close(c, 1009);
		return true;
	}
	if ((p[0] & 0x70) || (op >= 8 && (len > 125 || !(p[0] & 0x80))) ||
	    (op > 2 && op < 8) || op > 10) {
		ws_close(c, 1002);
		return true;
	}
	if (avail < hl + len) {
		buf_reserve(&c->in, hl + (size_t)len - avail);
		return false;
	}
	uint8_t *pl = p + hl;
	if (p[1] & 0x80) {
		const uint8_t *mask = pl - 4;
		for (uint64_t i = 0; i < len; i++)
			pl[i] ^= mask[i & 3];
	}
	if (op == 8) {
		/* Echo the close (with its status code) and hang up. */
		ws_frame(c, 0x88, (char *)pl, len);
		c->state = ST_CLOSING;
	} else if (op == 9) {
		ws_frame(c, 0x8a, (char *)pl, len);
	} else if (op != 10) {
		ws_frame(c, p[0] & 0x8f, (char *)pl, len);
	}
	buf_consume(&c->in, hl + (size_t)len);
	return true;
}

/* ---- I/O driving ---- */

/* Run the request state machine over buffered input.  Returns true when it
 * stopped only because the output queue is full, so the caller knows to
 * come back once it drains. */
static bool process_input(struct conn *c)
{
	while (!c->abort) {
		if (buf_used(&c->out) >= OUT_HIGH)
			return true;
		switch (c->state) {
		case ST_HEAD:
			if (!on_head(c))
				return false;
			break;
		case ST_BODY:
			if (!on_body(c))
				return false;
			break;
		case ST_WS:
			if (!on_ws(c))
				return false;
			break;
		case ST_STREAM:
			src_refill(c);
			if (c->state == ST_STREAM)
				return true;
			break;
		case ST_LINGER:
			c->in.off = c->in.len = 0;
			return false;
		case ST_DELAY:
		case ST_CLOSING:
			return false;
		}
	}
	return false;
}

/* One send() of everything queued.  1: all sent, 0: blocked, -1: error. */
static int flush_out(struct conn *c)
{
	size_t n = buf_used(&c->out);
	if (n == 0)
		return 1;
	ssize_t w = send(c->fd, c->out.p + c->out.off, n, MSG_NOSIGNAL);
	if (w < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	buf_consume(&c->out, (size_t)w);
	return (size_t)w == n;
}

static void set_event(struct event *ev, bool *on, bool want)
{
	if (want == *on)
		return;  /* skip the epoll_ctl when nothing changes */
	if (want)
		event_add(ev, NULL);
	else
		event_del(ev);
	*on = want;
}

static void after_io(struct conn *c, bool more)
{
	if (c->peer_eof && !more) {
		if (c->state == ST_LINGER ||
		    (c->state == ST_HEAD && !buf_used(&c->out) && !buf_used(&c->in))) {
			c->abort = true;
			return;
		}
		if (c->state == ST_HEAD || c->state == ST_BODY || c->state == ST_WS)
			c->state = ST_CLOSING;
	}
	if (c->state == ST_CLOSING && !buf_used(&c->out)) {
		if (c->peer_eof) {
			c->abort = true;
			return;
		}
		/* Lingering close: a reset would destroy the response we just
		 * sent if the client still has request bytes in flight. */
		shutdown(c->fd, SHUT_WR);
		c->state = ST_LINGER;
		c->in.off = c->in.len = 0;
		arm_timer(c, LINGER_MS);
	}
	bool stalled = buf_used(&c->in) >= IN_HIGH && c->state != ST_BODY &&
		       c->state != ST_WS && c->state != ST_LINGER;
	set_event(c->ev_read, &c->rd_on,
		  !c->peer_eof && c->state != ST_CLOSING && !stalled);
	set_event(c->ev_write, &c->wr_on, buf_used(&c->out) > 0 || more);
	if (c->state == ST_HEAD || c->state == ST_WS) {
		buf_trim(&c->in, false);
		buf_trim(&c->out, false);
	}
}

static void drive(struct conn *c)
{
	bool more = false;
	/* Bounded so one fast client streaming /big cannot starve others;
	 * the write event brings us back. */
	for (int i = 0; i < 16 && !c->abort; i++) {
		more = process_input(c);
		if (c->abort)
			break;
		int w = flush_out(c);
		if (w < 0)
			c->abort = true;
		if (w != 1 || !more)
			break;
	}
	if (!c->abort)
		after_io(c, more);
	if (c->abort)
		conn_free(c);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)what;
	buf_reserve(&c->in, READ_CHUNK);
	ssize_t n = recv(fd, c->in.p + c->in.len, c->in.cap - c->in.len, 0);
	if (n > 0) {
		c->in.len += (size_t)n;
	} else if (n == 0) {
		c->peer_eof = true;
	} else if (errno != EAGAIN && errno != EINTR) {
		conn_free(c);
		return;
	}
	drive(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	drive(arg);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	(void)what;
	if (c->state == ST_LINGER) {
		conn_free(c);
		return;
	}
	if (c->state == ST_DELAY)
		respond(c);
	drive(c);
}

static void arm_timer(struct conn *c, uint64_t ms)
{
	struct timeval tv = { .tv_sec = (time_t)(ms / 1000),
			      .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
	if (!c->timer)
		c->timer = evtimer_new(c->base, on_timer, c);
	evtimer_add(c->timer, &tv);
}

static void on_accept(struct evconnlistener *lis, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct event_base *base = arg;
	int one = 1;
	(void)lis;
	(void)sa;
	(void)salen;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->base = base;
	c->fd = fd;
	uint64_t seq = atomic_fetch_add(&g_conn_seq, 1) + 1;
	atomic_fetch_add(&g_active, 1);
	char *o = put_mem(c->xconn, LIT("X-Conn: "));
	o = put_u64(o, seq);
	o = put_mem(o, LIT("\r\n"));
	c->xconn_len = (size_t)(o - c->xconn);
	buf_reserve(&c->in, READ_CHUNK);
	buf_reserve(&c->out, READ_CHUNK);
	c->ev_read = event_new(base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->ev_write = event_new(base, fd, EV_WRITE | EV_PERSIST, on_write, c);
	set_event(c->ev_read, &c->rd_on, true);
}

/* ---- startup ---- */

struct worker {
	struct event_base *base;
	struct evconnlistener *lis;
	int fd;
	pthread_t tid;
};

struct opts {
	const char *host, *name, *port_file;
	int port, threads;
};

static const char usage_text[] =
	"usage: bgdemo --port PORT [--host 127.0.0.1] --name NAME [--threads N]\n"
	"              [--port-file FILE]\n"
	"\n"
	"The demo upstream: answers GET / with \"NAME\\n\" and an X-Server header.\n"
	"  --port PORT        port to listen on (0: any free one)\n"
	"  --host ADDR        address to listen on [127.0.0.1]\n"
	"  --name NAME        the colour it answers with (blue, green, ...)\n"
	"  --threads N        event-loop threads, 1..64 [1]\n"
	"  --port-file FILE   write the port it listens on to FILE\n"
	"\n"
	"Paths:\n"
	"  /                  200 and NAME\n"
	"  /healthz           200 ok (503 while /__ctl/health?ok=0)\n"
	"  /echo              the request body back (?chunked for a chunked answer)\n"
	"  /headers           the request head back\n"
	"  /big?n=BYTES       a body of BYTES (?chunked, ?close)\n"
	"  /status?code=N     answer with status N\n"
	"  /slow?ms=N         answer after N ms\n"
	"  /ws                a WebSocket echo\n"
	"\n"
	"Fault switches, to watch bgproxy's guard at work (GET them, e.g. with curl):\n"
	"  /__ctl/fail?rate=R     answer 500 to a fraction R (0..1) of requests\n"
	"  /__ctl/slow?ms=N       delay every answer by N ms\n"
	"  /__ctl/close[?on=0|1]  close connections instead of answering\n"
	"  /__ctl/health?ok=0|1   make /healthz fail (0) or pass (1)\n"
	"  /__ctl/reset           all of the above off\n"
	"  /__ctl/stats           requests, connections, health checks and copies\n"
	"                         (X-Bgproxy-Mirror: 1) as JSON\n"
	"\n"
	"Example: curl 'http://127.0.0.1:9002/__ctl/fail?rate=0.5' makes green fail half\n"
	"of its requests; with a canary running, bgproxy's guard reverts it.\n";

static void usage(int status)
{
	fputs(usage_text, status == 0 ? stdout : stderr);
	exit(status);
}

static int parse_int(const char *s, int lo, int hi)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < lo || v > hi)
		usage(2);
	return (int)v;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	o->host = "127.0.0.1";
	o->port = -1;
	o->threads = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			usage(0);
		if (i + 1 >= argc)
			usage(2);
		const char *v = argv[++i];
		if (strcmp(a, "--port") == 0)
			o->port = parse_int(v, 0, 65535);
		else if (strcmp(a, "--host") == 0)
			o->host = v;
		else if (strcmp(a, "--name") == 0)
			o->name = v;
		else if (strcmp(a, "--threads") == 0)
			o->threads = parse_int(v, 1, MAX_THREADS);
		else if (strcmp(a, "--port-file") == 0)
			o->port_file = v;
		else
			usage(2);
	}
	if (o->port < 0 || !o->name || !*o->name || strlen(o->name) > 200)
		usage(2);
	for (const char *p = o->name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			usage(2);  /* the name goes into headers verbatim */
}

/* Bind one listening socket; SO_REUSEPORT lets every thread have its own. */
static int listen_on(const struct opts *o, int port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai;
	char ps[16];
	int one = 1;
	snprintf(ps, sizeof(ps), "%d", port);
	int rc = getaddrinfo(o->host, ps, &hints, &ai);
	if (rc) {
		fprintf(stderr, "bgdemo: %s: %s\n", o->host, gai_strerror(rc));
		exit(1);
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (o->threads > 1 &&
	     setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
		fprintf(stderr, "bgdemo: listen %s:%d: %s\n", o->host, port,
			strerror(errno));
		exit(1);
	}
	freeaddrinfo(ai);
	return fd;
}

static int bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Atomic so a polling test never reads a half-written number. */
static void write_port_file(const char *path, int port)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 ||
	    rename(tmp, path) != 0) {
		fprintf(stderr, "bgdemo: port file %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static void init_globals(const char *name, int port)
{
	g_name = name;
	g_name_len = strlen(name);
	g_port = port;
	g_xserver_len = (size_t)snprintf(g_xserver, sizeof(g_xserver),
					 "X-Server: %s:%d\r\n", name, port);
	g_root_len = (size_t)snprintf(g_root_body, sizeof(g_root_body), "%s\n",
				      name);
	size_t j = 0;
	for (const char *p = name; *p && j + 3 < sizeof(g_name_json); p++) {
		if (*p == '"' || *p == '\\')
			g_name_json[j++] = '\\';
		g_name_json[j++] = *p;
	}
	g_name_json[j] = '\0';
	for (size_t i = 0; i < sizeof(g_pattern); i++)
		g_pattern[i] = (char)('a' + i % 26);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopexit(arg, NULL);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	event_base_dispatch(w->base);
	return NULL;
}

static void start_worker(struct worker *w)
{
	w->base = event_base_new();
	if (!w->base)
		exit(1);
	w->lis = evconnlistener_new(w->base, on_accept, w->base,
				    LEV_OPT_CLOSE_ON_FREE, 0, w->fd);
	if (!w->lis) {
		fprintf(stderr, "bgdemo: evconnlistener_new failed\n");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	static struct worker workers[MAX_THREADS];
	parse_args(argc, argv, &o);
	signal(SIGPIPE, SIG_IGN);
	workers[0].fd = listen_on(&o, o.port);
	int port = bound_port(workers[0].fd);
	for (int i = 1; i < o.threads; i++)
		workers[i].fd = listen_on(&o, port);
	init_globals(o.name, port);
	for (int i = 0; i < o.threads; i++)
		start_worker(&workers[i]);
	struct event *sigs[2] = {
		evsignal_new(workers[0].base, SIGTERM, on_signal, workers[0].base),
		evsignal_new(workers[0].base, SIGINT, on_signal, workers[0].base),
	};
	event_add(sigs[0], NULL);
	event_add(sigs[1], NULL);
	/* Keep SIGTERM/SIGINT on the main thread, whose base watches them. */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	for (int i = 1; i < o.threads; i++)
		pthread_create(&workers[i].tid, NULL, worker_main, &workers[i]);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (o.port_file)
		write_port_file(o.port_file, port);
	fprintf(stderr, "bgdemo %s listening on %s:%d\n", o.name, o.host, port);
	event_base_dispatch(workers[0].base);
	if (o.threads > 1)
		_exit(0);  /* other bases cannot be stopped without evthread */
	event_free(sigs[0]);
	event_free(sigs[1]);
	evconnlistener_free(workers[0].lis);
	event_base_free(workers[0].base);
	return 0;
}
