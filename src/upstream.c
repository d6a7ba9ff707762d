/*
 * upstream.c - connections to servers: connect with a timeout, and per
 * worker, per server pools of idle keep-alive connections reused across
 * client connections.  What goes over them is the protocol's
 * (upstream_h1.c).
 */
#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "conn.h"
#include "proxy.h"
#include "tls_up.h"
#include "upstream.h"

#define UPSTREAM_IDLE_MAX 512         /* idle connections kept per server per worker */

static void
upstream_idle_unlink(struct upconn *u)
{
	struct upidle *idle = &u->w->idle[u->srv->slot];
	struct upconn **pp;

	for (pp = &idle->head; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == u) {
			*pp = u->next;
			u->next = NULL;
			idle->n--;
			return;
		}
	}
}

/* The connection leaves its request: the place it held is free. */
static void
upstream_unslot(struct upconn *u)
{
	if (!u->slot)
		return;
	u->slot = 0;
	upstream_slot_give(u->w, u->srv);
}

void
upstream_free(struct upconn *u)
{
	struct linger lg = { 1, 0 };
	int queued = 0;

	if (u->arg == NULL)
		upstream_idle_unlink(u);
	upstream_unslot(u);
	upstream_hs_done(u);
	/* bytes the server never took (a request cut off, a server that does
	 * not read): a reset, not a close that keeps them queued in the kernel
	 * for minutes */
	if (u->c.fd != -1 && (evbuffer_get_length(u->c.out) > 0 ||
	    (ioctl(u->c.fd, SIOCOUTQ, &queued) == 0 && queued > 0)))
		(void)setsockopt(u->c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	conn_release(&u->c);
	free(u);
}

/* An idle connection that becomes readable was closed by the server (or
 * sent bytes it should not have): either way it cannot be reused. */
static void
upstream_idle_readcb(struct conn *c, void *arg)
{
	(void)c;
	upstream_free(arg);
}

/* closed by the server, an error, or idle for longer than the read timeout */
static void
upstream_idle_eventcb(struct conn *c, short what, void *arg)
{
	(void)c;
	(void)what;
	upstream_free(arg);
}

void
upstream_release(struct upconn *u)
{
	struct upidle *idle = &u->w->idle[u->srv->slot];

	u->arg = NULL;
	u->ev = NULL;
	upstream_unslot(u);
	if (idle->n >= UPSTREAM_IDLE_MAX || u->w->draining ||
	    atomic_load_explicit(&u->srv->state, memory_order_relaxed) == SRV_DISABLED ||
	    atomic_load_explicit(&u->srv->removed, memory_order_relaxed)) {
		conn_release(&u->c);
		free(u);
		return;
	}
	u->reused = 1;
	/* idle in the pool: its own timer, not what is left of the last
	 * response's; a write timer has nothing to guard */
	upstream_set_timers(u, UPSTREAM_T_IDLE);
	conn_setcb(&u->c, upstream_idle_readcb, NULL, upstream_idle_eventcb, u);
	u->next = idle->head;
	idle->head = u;
	idle->n++;
}

void
upstream_set_timers(struct upconn *u, enum upstream_timers which)
{
	const struct config *cfg = rt.cfg;
	struct timeval idle = clock_tv_ms(cfg->t_upstream_idle_ms);
	struct timeval resp = clock_tv_ms(cfg->t_upstream_response_ms);

	switch (which) {
	case UPSTREAM_T_IDLE:
		conn_set_timeouts(&u->c, &idle, NULL);
		break;
	case UPSTREAM_T_SENDING:
		conn_set_timeouts(&u->c, NULL, &resp);
		break;
	case UPSTREAM_T_WAITING:
		conn_set_timeouts(&u->c, &resp, &resp);
		break;
	case UPSTREAM_T_NONE:
		conn_set_timeouts(&u->c, NULL, NULL);
		break;
	}
}

void
upstream_hs_done(struct upconn *u)
{
	if (u->hs_armed)
		evtimer_del(&u->hs_timer);
	u->hs_armed = 0;
}

/* The connect and the TLS handshake took upstream_connect_ms: a connect
 * timeout, told to the protocol as one (the request waits no longer). */
static void
upstream_hs_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upconn *u = arg;

	(void)fd;
	(void)what;
	u->hs_armed = 0;
	if (u->c.hs_done || u->c.eventcb == NULL)
		return;
	u->c.eventcb(&u->c, CONN_EV_TIMEOUT | CONN_EV_WRITING, u->c.arg);
}

/* TLS on u toward its server, when its pool speaks it: the SSL with its
 * SNI and name to verify, the server's last session offered. */
static int
upstream_tls(struct upconn *u, const struct tls_up *t, char *err, size_t errlen)
{
	struct timeval cto = clock_tv_ms(rt.cfg->t_upstream_connect_ms);

	SSL *ssl;

	u->sess.w = u->w;
	u->sess.srv = u->srv;
	if ((ssl = upstream_tls_ssl(&u->sess, t, err, errlen)) == NULL)
		return -1;
	u->tls_gen = t->gen;
	conn_start_tls(&u->c, ssl);
	evtimer_assign(&u->hs_timer, u->w->base, upstream_hs_timeout_cb, u);
	evtimer_add(&u->hs_timer, &cto);
	u->hs_armed = 1;
	return 0;
}

static struct upconn *
upstream_connect(struct worker *w, struct server *srv, char *err, size_t errlen)
{
	const struct config_addr *a = &srv->addr;
	struct timeval cto = clock_tv_ms(rt.cfg->t_upstream_connect_ms);
	const struct tls_up *t = atomic_load_explicit(&srv->svc->up_tls[srv->pool], memory_order_acquire);
	struct upconn *u;

	u = calloc(1, sizeof(*u));
	if (u == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (conn_connect(&u->c, w->base, (const struct sockaddr *)&a->ss, a->len, &cto) == -1) {
		snprintf(err, errlen, "cannot connect to %s: %s", a->text, strerror(errno));
		free(u);
		return NULL;
	}
	u->c.wlowat = PROXY_BUF_HIGH / 2;
	u->w = w;
	u->srv = srv;
	if (t != NULL && upstream_tls(u, t, err, errlen) == -1) {
		conn_release(&u->c);
		free(u);
		return NULL;
	}
	u->proto = &upstream_h1;
	u->in = u->c.in;
	u->out = u->c.out;
	return u;
}

struct upconn *
upstream_get(struct worker *w, struct server *srv, int fresh, char *err, size_t errlen)
{
	struct upidle *idle = &w->idle[srv->slot];
	const struct tls_up *t = atomic_load_explicit(&srv->svc->up_tls[srv->pool], memory_order_acquire);
	uint64_t gen = t != NULL ? t->gen : 0;
	struct upconn *u;

	if (service_cfg(srv->svc)->pools[srv->pool].protocol == UPPROTO_H2)
		return upstream_h2_get(w, srv, fresh, err, errlen);

	/* an idle connection made under the pool's TLS before a reload goes:
	 * what is trusted, sent or presented may have changed */
	while (!fresh && idle->head != NULL && idle->head->tls_gen != gen)
		upstream_free(idle->head);
	if (!fresh && idle->head != NULL) {
		u = idle->head;
		idle->head = u->next;
		u->next = NULL;
		idle->n--;
	} else if ((u = upstream_connect(w, srv, err, errlen)) == NULL) {
		return NULL;
	}
	return u;
}

void
upstream_free_idle(struct worker *w)
{
	int i, n = atomic_load(&rt.nsrvs);

	upstream_h2_free_all(w);
	for (i = 0; w->idle != NULL && i < n; i++) {
		while (w->idle[i].head != NULL)
			upstream_free(w->idle[i].head);
		if (w->idle[i].sess != NULL)
			SSL_SESSION_free(w->idle[i].sess);
		w->idle[i].sess = NULL;
	}
}

/* Close idle connections to servers an operator disabled or a reload removed. */
void
upstream_free_disabled(struct worker *w)
{
	int i, n = atomic_load_explicit(&rt.nsrvs, memory_order_acquire);

	for (i = 0; i < n; i++) {
		struct server *srv = rt.srvs[i];

		if (atomic_load_explicit(&srv->state, memory_order_relaxed) != SRV_DISABLED &&
		    !atomic_load_explicit(&srv->removed, memory_order_relaxed))
			continue;
		while (w->idle[i].head != NULL)
			upstream_free(w->idle[i].head);
		upstream_h2_drain(w, srv);
	}
}

/* Close every idle connection to the servers of the service's pool
 * (after a revert). */
void
upstream_free_pool(struct worker *w, struct service *sv, int pool)
{
	for (struct server *srv = sv->first[pool]; srv != NULL; srv = srv->next) {
		while (w->idle[srv->slot].head != NULL)
			upstream_free(w->idle[srv->slot].head);
		upstream_h2_drain(w, srv);
	}
}

size_t
upstream_push_cb(void *arg, int hold)
{
	return upstream_push(arg, hold);
}
