/*
 * health.c - active health checks on timers; rise/fall hysteresis; reports
 * state changes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "health.h"
#include "health_count.h"
#include "health_grpc.h"
#include "health_parse.h"
#include "pools.h"
#include "proxy.h"
#include "state.h"
#include "tls_up.h"

#define HEALTH_MAGIC 0x4ea17400U

struct hcheck {
	uint32_t magic;
	struct server *srv;
	struct bufferevent *bev;     /* the check in progress, or NULL */
	struct bufferevent *sock;    /* TLS: the socket under bev's filter (freed with it) */
	struct health_grpc *grpc;    /* health.type grpc: its HTTP/2 stream */
	struct event timer;          /* next check, or the running check's deadline */
	int running;
	struct health_count count;   /* passes and fails in a row */
	int seen;                    /* still in the configuration (during a sync) */
	struct hcheck *next;
};

static struct event_base *health_base;
static struct hcheck *health_checks;

static const struct config_health *
health_cfg(const struct hcheck *h)
{
	return &service_cfg(h->srv->svc)->pools[h->srv->pool].health;
}

static void health_timer_cb(evutil_socket_t fd, short what, void *arg);

/* A check's pointer from a callback, checked: a freed or foreign one is a bug. */
static struct hcheck *
health_of(void *arg)
{
	struct hcheck *h = arg;

	if (h == NULL || h->magic != HEALTH_MAGIC) {
		log_error("bad health check magic");
		abort();
	}
	return h;
}

static void
health_schedule(struct hcheck *h, int ms)
{
	struct timeval tv = clock_tv_ms(ms);

	evtimer_add(&h->timer, &tv);
}

/* One result: count it, flip the state when rise/fall says so. */
static void
health_result(struct hcheck *h, int ok, const char *why)
{
	const struct config_health *hc = health_cfg(h);
	struct actor who = { ACTOR_HEALTH, 0, 0 };
	int down = atomic_load(&h->srv->health_down);

	if (h->bev != NULL) {
		bufferevent_free(h->bev);       /* and the socket under a TLS filter */
		h->bev = NULL;
	}
	h->sock = NULL;
	health_grpc_free(h->grpc);
	h->grpc = NULL;
	h->running = 0;
	h->srv->check_ok = ok;
	h->srv->check_us = proxy_now_us();
	snprintf(h->srv->check_why, sizeof(h->srv->check_why), "%s", ok ? "" : why);
	switch (health_count(&h->count, down, ok, hc->rise, hc->fall)) {
	case HEALTH_UP:
		atomic_store(&h->srv->changed_us, proxy_now_us());
		atomic_store(&h->srv->health_down, 0);
		state_event_rec(h->srv->svc, &who, "server", "down", "up", NULL,
		    "server %s %s: down -> up (%d check(s) passed)",
		    pool_names[h->srv->pool], h->srv->addr.text, h->count.passes);
		break;
	case HEALTH_DOWN:
		atomic_store(&h->srv->changed_us, proxy_now_us());
		atomic_store(&h->srv->health_down, 1);
		atomic_fetch_add(&rt.down_seq, 1);   /* what waits on it moves */
		state_event_rec(h->srv->svc, &who, "server", "up", "down", why,
		    "server %s %s: up -> down (%d check(s) failed, last: %s)",
		    pool_names[h->srv->pool], h->srv->addr.text, h->count.fails, why);
		break;
	case HEALTH_SAME:
		if (!ok)
			log_debug("health check of %s failed: %s", h->srv->addr.text, why);
		break;
	}
	health_schedule(h, hc->interval_ms);
}

static void
health_readcb(struct bufferevent *bev, void *arg)
{
	static struct http_msg msg;       /* scratch: the control thread only */
	struct hcheck *h = health_of(arg);
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	enum health_verdict v;
	char why[128];
	const char *p;

	if (h->grpc != NULL) {
		v = health_grpc_read(h->grpc, why, sizeof(why));
	} else {
		if (len > HEALTH_HEAD_MAX + 1)
			len = HEALTH_HEAD_MAX + 1;
		p = (const char *)evbuffer_pullup(in, (ssize_t)len);
		v = health_judge(p, len, &msg, why, sizeof(why));
	}
	switch (v) {
	case HEALTH_MORE:
		return;
	case HEALTH_PASS:
		health_result(h, 1, NULL);
		return;
	case HEALTH_FAIL:
		health_result(h, 0, why);
		return;
	}
}

static void
health_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct hcheck *h = health_of(arg);

	if (what & BEV_EVENT_CONNECTED) {
		/* an HTTP/2 check writes once the connection (and its TLS) is
		 * up: written before, OpenSSL's bufferevent could leave the
		 * answer unread */
		if (h->grpc != NULL && health_grpc_connected(h->grpc) == -1)
			health_result(h, 0, "HTTP/2: cannot send");
		return;
	}
	/* TLS: the handshake's reason (a certificate refused, a protocol) */
	if ((what & BEV_EVENT_ERROR) && bufferevent_openssl_get_ssl(bev) != NULL) {
		unsigned long e = bufferevent_get_openssl_error(bev);

		if (e != 0 || SSL_get_verify_result(bufferevent_openssl_get_ssl(bev)) != X509_V_OK) {
			char why[512];

			while (bufferevent_get_openssl_error(bev) != 0)
				;       /* the first error says it */
			tls_up_why(bufferevent_openssl_get_ssl(bev), e, why, sizeof(why));
			health_result(h, 0, why);
			return;
		}
	}
	if ((what & BEV_EVENT_EOF) && h->grpc != NULL) {
		char why[160];
		enum health_verdict v = health_grpc_eof(h->grpc, why, sizeof(why));

		health_result(h, v == HEALTH_PASS, why);
		return;
	}
	if (what & BEV_EVENT_EOF)
		health_result(h, 0, "closed before answering");
	else
		health_result(h, 0, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

static void
health_begin(struct hcheck *h)
{
	const struct config_health *hc = health_cfg(h);
	const struct config_addr *a = &h->srv->addr;
	/* the pool's TLS, as its data connections (the control thread: a
	 * reload replaces it here too, never under this call) */
	const struct tls_up *t = atomic_load_explicit(&h->srv->svc->up_tls[h->srv->pool],
	    memory_order_acquire);
	int h2 = hc->type == HEALTH_GRPC ||
	    service_cfg(h->srv->svc)->pools[h->srv->pool].protocol == UPPROTO_H2;
	char err[256];
	SSL *ssl = NULL;

	if (t != NULL && (ssl = tls_up_ssl(t, a->text, err, sizeof(err))) == NULL) {
		log_warn("health check of %s: %s", a->text, err);
		health_schedule(h, hc->interval_ms);
		return;
	}
	/* gRPC is HTTP/2, and so is a pool's that speaks it: asked for by ALPN
	 * over TLS */
	if (ssl != NULL && h2)
		(void)SSL_set_alpn_protos(ssl, (const unsigned char *)"\x02h2", 3);
	/* TLS as a filter over a socket bufferevent: OpenSSL's socket
	 * bufferevent could leave an HTTP/2 answer unread after the 0.5-RTT
	 * SETTINGS that came with the handshake (a check timed out now and
	 * then) */
	h->sock = NULL;
	if (ssl != NULL) {
		h->sock = bufferevent_socket_new(health_base, -1, BEV_OPT_CLOSE_ON_FREE);
		h->bev = h->sock != NULL ? bufferevent_openssl_filter_new(health_base, h->sock, ssl,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE) : NULL;
		if (h->bev == NULL && h->sock != NULL) {
			bufferevent_free(h->sock);
			h->sock = NULL;
		}
	} else {
		h->bev = bufferevent_socket_new(health_base, -1, BEV_OPT_CLOSE_ON_FREE);
	}
	if (h->bev == NULL) {
		if (ssl != NULL)
			SSL_free(ssl);
		health_schedule(h, hc->interval_ms);
		return;
	}
	/* a server that closes without close_notify after its answer: an EOF */
	if (ssl != NULL)
		bufferevent_openssl_set_allow_dirty_shutdown(h->bev, 1);
	h->running = 1;
	bufferevent_setcb(h->bev, health_readcb, NULL, health_eventcb, h);
	bufferevent_enable(h->bev, EV_READ | EV_WRITE);
	if (hc->type == HEALTH_GRPC) {
		h->grpc = health_grpc_start(h->bev, a->text, hc->grpc_service != NULL ?
		    hc->grpc_service : "", ssl != NULL);
		if (h->grpc == NULL) {
			health_result(h, 0, "out of memory");
			return;
		}
	} else if (h2) {
		h->grpc = health_h2_get_start(h->bev, a->text, hc->path, ssl != NULL);
		if (h->grpc == NULL) {
			health_result(h, 0, "out of memory");
			return;
		}
	} else {
		evbuffer_add_printf(bufferevent_get_output(h->bev),
		    "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: bgproxy-health\r\n"
		    "Connection: close\r\n\r\n", hc->path, a->text);
	}
	/* the whole check, connect included, must finish within timeout_ms */
	health_schedule(h, hc->timeout_ms);
	if (bufferevent_socket_connect(h->sock != NULL ? h->sock : h->bev,
	    (const struct sockaddr *)&a->ss, (int)a->len) == -1)
		health_result(h, 0, "connect failed");
}

static void
health_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hcheck *h = health_of(arg);

	(void)fd;
	(void)what;
	if (h->running)
		health_result(h, 0, "timeout");
	else
		health_begin(h);
}

static void
health_free(struct hcheck *h)
{
	evtimer_del(&h->timer);
	if (h->bev != NULL)
		bufferevent_free(h->bev);
	h->bev = NULL;
	h->sock = NULL;
	health_grpc_free(h->grpc);
	h->grpc = NULL;
	if (h->srv->check == h)
		h->srv->check = NULL;
	h->magic = 0;
	free(h);
}

/* The checks of one service's servers, made or found seen. */
static void
health_sync_service(struct service *sv)
{
	struct poolset *ps = pools_current(sv);
	struct hcheck *h;
	int p;
	size_t i;

	if (ps == NULL || atomic_load(&sv->removed))
		return;
	for (p = 0; p < CONFIG_POOLS; p++) {
		const struct config_health *hc = &service_cfg(sv)->pools[p].health;
		size_t n = ps->pools[p].nservers;

		for (i = 0; i < n; i++) {
			struct server *srv = ps->pools[p].servers[i];

			if (!hc->enabled) {
				/* without checks a server is never down by health */
				atomic_store(&srv->health_down, 0);
				continue;
			}
			h = srv->check;
			if (h != NULL) {
				h->seen = 1;
				continue;
			}
			h = calloc(1, sizeof(*h));
			if (h == NULL)
				continue;
			h->magic = HEALTH_MAGIC;
			h->srv = srv;
			srv->check = h;
			h->seen = 1;
			evtimer_assign(&h->timer, health_base, health_timer_cb, h);
			h->next = health_checks;
			health_checks = h;
			/* spread the pool's checks evenly over one interval */
			health_schedule(h, (int)((long)hc->interval_ms * (long)i / (long)n));
		}
	}
}

void
health_sync(void)
{
	struct hcheck *h, **pp;

	for (h = health_checks; h != NULL; h = h->next)
		h->seen = 0;
	for (int s = 0; s < service_count(); s++)
		health_sync_service(rt.svcs[s]);
	for (pp = &health_checks; (h = *pp) != NULL;) {
		if (h->seen) {
			pp = &h->next;
			continue;
		}
		*pp = h->next;
		atomic_store(&h->srv->health_down, 0);
		health_free(h);
	}
}

int
health_start(struct event_base *base, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	health_base = base;
	health_sync();
	return 0;
}

void
health_stop(void)
{
	while (health_checks != NULL) {
		struct hcheck *h = health_checks;

		health_checks = h->next;
		health_free(h);
	}
}
