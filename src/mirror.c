/*
 * mirror.c - shadow traffic (CONTRACT section 13, split.mirror_percent): a
 * copy of a stable request goes to a candidate server; its answer is read
 * and thrown away.  The client's response comes from the stable pool only
 * and never waits for the copy: a copy is a connection of its own on the
 * worker's loop, with nothing tied to the exchange it came from.
 *
 * A copy carries X-Bgproxy-Mirror: 1 (so the candidate can avoid side
 * effects) and Connection: close; a request body up to
 * limits.mirror_body_bytes goes with it, copied as it leaves for the
 * stable server (body_tee), the copy sent once the body is complete.  Its
 * result is counted (sent, skipped, error, ok) and judged by the guard
 * (stats class STATS_SHADOW).  At most limits.mirror_inflight copies per
 * worker are in flight; beyond that, and for a request this module does
 * not copy, the copy is skipped and counted.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "conn.h"
#include "body.h"
#include "http_parse.h"
#include "log.h"
#include "mirror.h"
#include "pools.h"
#include "proxy.h"
#include "stats.h"

struct mirror {
	struct conn c;
	struct worker *w;
	struct service *svc;          /* the copied request's */
	struct mirror *next, **prevp;  /* w->mirror_list */
	uint64_t t_start;             /* when the copy was sent (proxy_now_us) */
	size_t got;                   /* response bytes read */
	int status;                   /* the final answer's, once its head is read */
	int body;                     /* the final head is over: the rest is thrown away */
};

static const char mirror_hdr[] = "X-Bgproxy-Mirror: 1\r\n";
static const char mirror_ka[] = "\r\nConnection: keep-alive\r\n";   /* http_rewrite.c's */
static const char mirror_close[] = "\r\nConnection: close\r\n";

static void
mirror_count(struct worker *w, struct service *sv, enum stats_mirror r)
{
	struct stats_svc *ss = worker_stats_svc(w, sv);

	if (ss != NULL)
		STATS_INC(ss->mirror[r]);
}

/* A copy is over.  Its answer (status 0: none, err_kind an enum stats_err
 * or -1) goes into the guard's shadow class, unless the worker gave it up
 * (judge 0). */
static void
mirror_end(struct mirror *m, enum stats_mirror r, int status, int err_kind, int judge)
{
	uint64_t now = proxy_now_us();

	struct stats_svc *ss = worker_stats_svc(m->w, m->svc);

	if (judge && ss != NULL)
		stats_record_shadow(ss, STATS_SHADOW, status, err_kind, now / 1000000,
		    now - m->t_start);
	mirror_count(m->w, m->svc, r);
	m->w->mirrors--;
	*m->prevp = m->next;
	if (m->next != NULL)
		m->next->prevp = m->prevp;
	conn_release(&m->c);
	free(m);
}

/*
 * The answer's head, read with the strict parser a live response meets
 * (http_parse_response): an interim one (1xx, 100 Continue to a copied
 * body, 103) is followed by the final head, whose status counts; what
 * comes after that is thrown away as it comes.  A head the parser refuses
 * is a protocol error, as for a live request, and ends the copy.
 */
static void
mirror_readcb(struct conn *c, void *arg)
{
	struct mirror *m = arg;
	struct http_limits lim = { PROXY_RESP_HEAD_MAX, HTTP_MAX_HEADERS_HARD };
	struct http_msg *msg = &m->w->msg;
	size_t len, want;
	const char *p;
	int r;

	while (!m->body && (len = evbuffer_get_length(c->in)) > 0) {
		want = len < PROXY_RESP_HEAD_MAX + 1 ? len : PROXY_RESP_HEAD_MAX + 1;
		p = (const char *)evbuffer_pullup(c->in, (ssize_t)want);
		r = http_parse_response(p, want, &lim, msg);
		if (r == HTTP_PARSE_INCOMPLETE)
			return;           /* (the parser refuses a head past its limit) */
		if (r == HTTP_PARSE_ERROR) {
			mirror_end(m, STATS_MIRROR_ERROR, 0, STATS_ERR_PROTOCOL, 1);
			return;
		}
		m->got += (size_t)r;
		evbuffer_drain(c->in, (size_t)r);
		if (msg->status >= 200 || msg->status == 101) {
			m->status = msg->status;
			m->body = 1;
		}
	}
	len = evbuffer_get_length(c->in);
	m->got += len;
	evbuffer_drain(c->in, len);
}

static void
mirror_writecb(struct conn *c, void *arg)
{
	(void)c;
	(void)arg;
}

static void
mirror_eventcb(struct conn *c, short what, void *arg)
{
	struct mirror *m = arg;
	int st;

	if (what & CONN_EV_EOF) {
		/* Connection: close: the answer ends with the connection; one
		 * that ends before its final head was reset */
		st = m->status;
		if (st < 200)
			st = 0;           /* no final answer */
		mirror_end(m, st >= 200 && st < 500 ? STATS_MIRROR_OK : STATS_MIRROR_ERROR, st,
		    st == 0 ? STATS_ERR_RESET : -1, 1);
		return;
	}
	/* refused, reset, timed out: judged like the same fault of a live request */
	mirror_end(m, STATS_MIRROR_ERROR, 0, (what & CONN_EV_TIMEOUT) ? STATS_ERR_TIMEOUT :
	    c->connecting ? STATS_ERR_CONNECT : STATS_ERR_RESET, 1);
}

/* A copy that failed before it left (no candidate server up, no socket):
 * counted, and the guard hears of it like a refused connection. */
static int
mirror_failed_now(struct worker *w, struct service *sv)
{
	struct stats_svc *ss = worker_stats_svc(w, sv);

	mirror_count(w, sv, STATS_MIRROR_ERROR);
	if (ss != NULL)
		stats_record_shadow(ss, STATS_SHADOW, 0, STATS_ERR_CONNECT,
		    proxy_now_us() / 1000000, 0);
	return 1;
}

int
mirror_request(struct worker *w, struct service *sv, enum pool_id cand, const char *head, size_t len,
    struct evbuffer *body)
{
	const struct config *cfg = rt.cfg;
	struct timeval cto = clock_tv_ms(cfg->t_upstream_connect_ms);
	struct timeval rto = clock_tv_ms(cfg->t_upstream_response_ms);
	struct server *srv;
	struct mirror *m;
	const struct config_addr *a;
	const char *ka, *rest;

	if (w->mirrors >= cfg->mirror_inflight) {
		mirror_count(w, sv, STATS_MIRROR_SKIPPED);
		return 0;
	}
	srv = pools_pick(w, sv, cand, proxy_now_us());
	/* the head ends in an empty line; the copy's two lines go before it */
	if (srv == NULL || len < 4 || memcmp(head + len - 4, "\r\n\r\n", 4) != 0) {
		if (srv != NULL) {
			mirror_count(w, sv, STATS_MIRROR_SKIPPED);
			return 0;
		}
		return mirror_failed_now(w, sv);   /* no candidate server up */
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		mirror_count(w, sv, STATS_MIRROR_SKIPPED);
		return 0;
	}
	m->w = w;
	m->svc = sv;
	m->t_start = proxy_now_us();
	a = &srv->addr;
	if (conn_connect(&m->c, w->base, (const struct sockaddr *)&a->ss, a->len, &cto) == -1) {
		free(m);
		return mirror_failed_now(w, sv);
	}
	w->mirrors++;
	m->next = w->mirror_list;
	if (m->next != NULL)
		m->next->prevp = &m->next;
	m->prevp = &w->mirror_list;
	w->mirror_list = m;
	mirror_count(w, sv, STATS_MIRROR_SENT);
	conn_setcb(&m->c, mirror_readcb, mirror_writecb, mirror_eventcb, m);
	conn_set_timeouts(&m->c, &rto, &rto);
	/* the head as the stable server got it, but the copy's connection
	 * closes after the answer (its end is the answer's end) */
	ka = memmem(head, len, mirror_ka, sizeof(mirror_ka) - 1);
	if (ka != NULL) {
		evbuffer_add(m->c.out, head, (size_t)(ka - head));
		evbuffer_add(m->c.out, mirror_close, sizeof(mirror_close) - 1);
		rest = ka + sizeof(mirror_ka) - 1;
		evbuffer_add(m->c.out, rest, (size_t)(head + len - 2 - rest));
	} else {
		evbuffer_add(m->c.out, head, len - 2);
		evbuffer_add(m->c.out, mirror_close + 2, sizeof(mirror_close) - 3);
	}
	evbuffer_add(m->c.out, mirror_hdr, sizeof(mirror_hdr) - 1);
	evbuffer_add(m->c.out, "\r\n", 2);
	if (body != NULL)
		evbuffer_add_buffer(m->c.out, body);   /* framed as the stable server got it */
	conn_flush(&m->c);
	conn_read_enable(&m->c);
	return 1;
}

static int
cfg_body_limit(void)
{
	return rt.cfg->mirror_body_bytes;
}

int
mirror_wanted(struct worker *w, const struct mirror_ask *ex, enum pool_id *stable)
{
	int bp = atomic_load_explicit(&ex->svc->mirror_bp, memory_order_relaxed);

	if (bp <= 0)
		return 0;             /* off (the caller asks mirror_on first) */
	*stable = SPLIT_STABLE(atomic_load_explicit(&ex->svc->split, memory_order_relaxed));
	if (ex->pool != *stable || ex->overridden || ex->upgrade)
		return 0;
	if (route_rng_next(&w->rng) % 10000 >= (uint64_t)bp)
		return 0;
	if (!http_method_idempotent(ex->method))
		return 0;             /* not idempotent: never copied, not counted */
	/* a body longer than limits.mirror_body_bytes is not copied (a chunked
	 * one is given up when it grows past it) */
	if (ex->body != BODY_NONE && (cfg_body_limit() == 0 ||
	    (ex->body == BODY_LENGTH && ex->body_left > (uint64_t)cfg_body_limit()))) {
		mirror_count(w, ex->svc, STATS_MIRROR_SKIPPED);
		return 0;
	}
	return 1;
}

void
mirror_tee_begin(struct worker *w, struct service *sv, struct body_tee *t)
{
	t->buf = evbuffer_new();
	t->limit = (size_t)cfg_body_limit();
	t->over = 0;
	if (t->buf == NULL)
		mirror_count(w, sv, STATS_MIRROR_SKIPPED);
}

int
mirror_tee_end(struct worker *w, struct body_tee *t, struct service *sv, enum pool_id cand, const char *head,
    size_t len, int complete)
{
	int sent = 0;

	if (t->buf == NULL)
		return 0;
	if (complete && !t->over)
		sent = mirror_request(w, sv, cand, head, len, t->buf);
	else
		mirror_count(w, sv, STATS_MIRROR_SKIPPED);   /* too long, or never complete */
	evbuffer_free(t->buf);
	t->buf = NULL;
	return sent;
}

void
mirror_close_all(struct worker *w)
{
	while (w->mirror_list != NULL)
		mirror_end(w->mirror_list, STATS_MIRROR_ERROR, 0, -1, 0);
}
