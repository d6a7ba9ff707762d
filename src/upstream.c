/*
 * upstream.c - connections to servers: connect with a timeout, and per
 * worker, per server pools of idle keep-alive connections reused across
 * client connections.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "proxy.h"

#define UPSTREAM_IDLE_MAX 512         /* idle connections kept per server per worker */
#define UPSTREAM_IDLE_TIMEOUT_S 30    /* close connections idle longer than this */

static void
upstream_idle_unlink(struct upconn *u)
{
	struct upidle *idle = &u->w->idle[u->srv->pool][u->srv->index];
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

void
upstream_free(struct upconn *u)
{
	if (u->owner == NULL)
		upstream_idle_unlink(u);
	bufferevent_free(u->bev);
	u->bev = NULL;
	free(u);
}

/* An idle connection that becomes readable was closed by the server (or
 * sent bytes it should not have): either way it cannot be reused. */
static void
upstream_idle_readcb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	upstream_free(arg);
}

static void
upstream_idle_eventcb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	upstream_free(arg);
}

void
upstream_release(struct upconn *u)
{
	struct upidle *idle = &u->w->idle[u->srv->pool][u->srv->index];
	struct timeval tv = { UPSTREAM_IDLE_TIMEOUT_S, 0 };

	u->owner = NULL;
	if (idle->n >= UPSTREAM_IDLE_MAX || u->w->draining ||
	    atomic_load_explicit(&u->srv->state, memory_order_relaxed) == SRV_DISABLED) {
		bufferevent_free(u->bev);
		u->bev = NULL;
		free(u);
		return;
	}
	u->reused = 1;
	bufferevent_setcb(u->bev, upstream_idle_readcb, NULL, upstream_idle_eventcb, u);
	bufferevent_set_timeouts(u->bev, &tv, NULL);
	bufferevent_enable(u->bev, EV_READ);
	u->next = idle->head;
	idle->head = u;
	idle->n++;
}

static struct upconn *
upstream_connect(struct worker *w, struct server *srv, char *err, size_t errlen)
{
	const struct config_addr *a = &srv->cfg->addr;
	struct upconn *u;
	evutil_socket_t fd;
	int one = 1;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	u = calloc(1, sizeof(*u));
	if (u == NULL) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	u->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (u->bev == NULL) {
		close(fd);
		free(u);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	u->w = w;
	u->srv = srv;
	/* errors, ECONNREFUSED included, arrive through the event callback */
	if (bufferevent_socket_connect(u->bev, (const struct sockaddr *)&a->ss, (int)a->len) == -1) {
		snprintf(err, errlen, "connect to %s failed", a->text);
		bufferevent_free(u->bev);
		u->bev = NULL;
		free(u);
		return NULL;
	}
	return u;
}

struct upconn *
upstream_get(struct worker *w, struct server *srv, int fresh, char *err, size_t errlen)
{
	struct upidle *idle = &w->idle[srv->pool][srv->index];
	struct upconn *u;

	if (!fresh && idle->head != NULL) {
		u = idle->head;
		idle->head = u->next;
		u->next = NULL;
		idle->n--;
		return u;
	}
	return upstream_connect(w, srv, err, errlen);
}

void
upstream_free_idle(struct worker *w)
{
	size_t p, i;

	for (p = 0; p < CONFIG_POOLS; p++)
		for (i = 0; i < CONFIG_MAX_SERVERS; i++)
			while (w->idle[p][i].head != NULL)
				upstream_free(w->idle[p][i].head);
}
