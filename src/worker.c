/*
 * worker.c - event-loop threads.  Each worker binds every listener with
 * SO_REUSEPORT (the kernel spreads connections), accepts, pauses accepting
 * at limits.max_connections or on EMFILE instead of spinning, flushes its
 * access-log buffer, applies listener changes from a reload, and drains on
 * request from the control thread.
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "h2mem.h"
#include "mirror.h"
#include "proxy.h"
#include "client.h"
#include "codec.h"
#include "exchange.h"
#include "tls.h"
#include "upstream.h"
#include "worker.h"

#define WORKER_TICK_MS 100
#define WORKER_BACKLOG 1024
#define WORKER_LISTEN_FLAGS (LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE | \
	LEV_OPT_REUSEABLE_PORT)

static void
worker_pause_accept(struct worker *w)
{
	size_t i;

	if (w->accept_paused)
		return;
	for (i = 0; i < w->nlis; i++)
		evconnlistener_disable(w->lis[i].l);
	w->accept_paused = 1;
}

static void
worker_resume_accept(struct worker *w)
{
	size_t i;

	if (!w->accept_paused || w->draining)
		return;
	if (atomic_load(&rt.conns_active) >= rt.cfg->max_connections)
		return;
	for (i = 0; i < w->nlis; i++)
		evconnlistener_enable(w->lis[i].l);
	w->accept_paused = 0;
}

/* listen[].h2c of the listener on addr, in the configuration now. */
static int
worker_h2c(const struct config_addr *addr)
{
	const struct config *c = rt.cfg;
	size_t i;

	for (i = 0; i < c->nlisteners; i++)
		if (c->listeners[i].addr.len == addr->len &&
		    memcmp(&c->listeners[i].addr.ss, &addr->ss, addr->len) == 0)
			return c->listeners[i].h2c;
	return 0;
}

static void
worker_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	struct worker *w = arg;
	struct tls_ctxset *set = NULL;
	SSL *ssl = NULL;
	size_t i;
	int h2c = 0;

	for (i = 0; i < w->nlis; i++) {
		if (w->lis[i].l != l)
			continue;
		if (w->lis[i].tls)
			set = proxy_tls_set(&w->lis[i].addr);
		else
			h2c = worker_h2c(&w->lis[i].addr);
	}
	if (set != NULL && (ssl = tls_ssl_new(set)) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	if (atomic_fetch_add(&rt.conns_active, 1) + 1 >= rt.cfg->max_connections)
		worker_pause_accept(w);
	client_accept(w, fd, sa, salen, ssl, h2c, &h1_codec);
}

static void
worker_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct worker *w = arg;
	int e = EVUTIL_SOCKET_ERROR();

	(void)l;
	/* EMFILE/ENFILE/ENOBUFS: out of descriptors or memory.  Stop accepting
	 * and let the tick try again, rather than spin on a ready socket. */
	log_warn("accept: %s; pausing accept for %d ms", evutil_socket_error_to_string(e),
	    WORKER_TICK_MS);
	worker_pause_accept(w);
}

/* The TLS contexts of the listener on addr (NULL if none). */
struct tls_ctxset *
proxy_tls_set(const struct config_addr *addr)
{
	int i;

	for (i = 0; i < rt.ntls; i++)
		if (rt.tls[i].addr.len == addr->len &&
		    memcmp(&rt.tls[i].addr.ss, &addr->ss, addr->len) == 0)
			return atomic_load_explicit(&rt.tls[i].set, memory_order_acquire);
	return NULL;
}

/*
 * A worker's loop looks for new events after every WORKER_DISPATCH_MAX
 * callbacks: a callback that activates itself again (a TLS read with more
 * records waiting, a stream with more to do) runs again in the same pass
 * of the loop, and under many such connections one pass could run for
 * seconds with nobody else accepted or read.
 */
#define WORKER_DISPATCH_MAX 32

static struct event_base *
worker_base_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *b;

	if (cfg == NULL)
		return NULL;
	if (event_config_set_max_dispatch_interval(cfg, NULL, WORKER_DISPATCH_MAX, 0) != 0) {
		event_config_free(cfg);
		return event_base_new();
	}
	b = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return b;
}

evutil_socket_t
worker_bind(const struct config_addr *a, char *err, size_t errlen)
{
	evutil_socket_t fd;
	int one = 1;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* SO_KEEPALIVE is inherited by accepted clients: dead peers go away */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) == -1 ||
	    bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1 ||
	    listen(fd, WORKER_BACKLOG) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Add a listener on an already bound and listening socket (takes fd;
 * backlog 0 tells libevent not to call listen() again). */
static int
worker_add_listener(struct worker *w, const struct wlistener *tmpl, evutil_socket_t fd)
{
	struct wlistener *wl;

	if (w->nlis == CONFIG_MAX_LISTENERS) {
		evutil_closesocket(fd);
		return -1;
	}
	wl = &w->lis[w->nlis];
	*wl = *tmpl;
	wl->l = evconnlistener_new(w->base, worker_accept_cb, w, WORKER_LISTEN_FLAGS, 0, fd);
	if (wl->l == NULL) {
		evutil_closesocket(fd);
		return -1;
	}
	evconnlistener_set_error_cb(wl->l, worker_accept_error_cb);
	if (w->accept_paused)
		evconnlistener_disable(wl->l);
	w->nlis++;
	return 0;
}

static void
worker_remove_listener(struct worker *w, const struct config_addr *a)
{
	size_t i;

	for (i = 0; i < w->nlis; i++) {
		if (w->lis[i].addr.len == a->len && memcmp(&w->lis[i].addr.ss, &a->ss, a->len) == 0) {
			evconnlistener_free(w->lis[i].l);
			w->lis[i] = w->lis[--w->nlis];
			return;
		}
	}
}

static void
worker_client_gone(struct worker *w)
{
	atomic_fetch_sub(&rt.conns_active, 1);
	w->nclients--;
	if (w->accept_paused)
		worker_resume_accept(w);
	if (w->draining && w->nclients == 0)
		event_base_loopexit(w->base, NULL);
}

/* After a revert and its grace period: no WebSocket tunnel and no idle
 * server connection stays with the reverted pool.  Requests still waiting
 * for an answer from it go to the stable pool at once. */
static void
worker_after_revert(struct worker *w)
{
	unsigned seq = atomic_load(&rt.revert_seq);
	uint64_t now = proxy_now_us();
	int i, pending = 0;

	if (atomic_load(&rt.down_seq) != w->down_seen) {
		w->down_seen = atomic_load(&rt.down_seq);
		client_move_from_down(w);
	}
	if (seq == w->revert_seen && !w->revert_pending)
		return;
	/* which services reverted (rt.revert_seq only says some did) */
	w->revert_seen = seq;
	for (i = 0; i < service_count(); i++) {
		struct service *sv = rt.svcs[i];
		struct svc_seen *sn = &sv->seen[w->id];
		unsigned s = atomic_load(&sv->revert_seq);
		int pool;

		if (s == sn->closed)
			continue;
		pool = atomic_load(&sv->revert_pool);
		if (s != sn->moved) {
			sn->moved = s;
			client_move_reverted(w, sv, pool);
		}
		if (now < atomic_load(&sv->revert_at_us)) {
			pending = 1;
			continue;
		}
		sn->closed = s;
		client_close_reverted(w, sv, pool);
		upstream_free_pool(w, sv, pool);
	}
	w->revert_pending = pending;
}

/* After connections that held much were freed (WORKER_TRIM_BYTES since the
 * last time, at most once a second): the allocator keeps freed memory for
 * reuse, and an operator would see a proxy that only grows after each
 * burst of abusive clients. */
#define WORKER_TRIM_BYTES (4 * 1024 * 1024)

static void
worker_trim(struct worker *w)
{
	uint64_t now = proxy_now_us();

	if (w->freed_big < WORKER_TRIM_BYTES || now - w->trimmed_us < 1000000)
		return;
	w->freed_big = 0;
	w->trimmed_us = now;
	malloc_trim(0);
}

static void
worker_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	log_buf_flush(&w->alog);
	client_log_failures(w, proxy_now_us());
	if (w->accept_paused)
		worker_resume_accept(w);
	/* "server ... disable", or a server a reload removed: out now */
	client_close_disabled(w);
	worker_after_revert(w);
	/* requests waiting for a place another worker freed, or whose time
	 * to wait is up */
	if (!TAILQ_EMPTY(&w->queue))
		exchange_queue_run(w);
	worker_trim(w);
	/* nothing of this worker's from before this point is still in use:
	 * a reload may now free what it replaced */
	atomic_fetch_add_explicit(&w->epoch, 1, memory_order_release);
}

/* A place on a server freed in this worker: what waits for it goes on. */
static void
worker_queue_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	exchange_queue_run(arg);
}

static void
worker_drain_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	log_warn("worker %d: %ld connection(s) still busy after shutdown_ms; closing them",
	    w->id, w->nclients);
	event_base_loopbreak(w->base);
}

static void
worker_start_drain(struct worker *w)
{
	struct timeval tv = clock_tv_ms(rt.cfg->t_shutdown_ms);
	size_t i;

	w->draining = 1;
	for (i = 0; i < w->nlis; i++) {
		evconnlistener_free(w->lis[i].l);
		w->lis[i].l = NULL;
	}
	w->nlis = 0;
	upstream_free_idle(w);
	w->drain_deadline = evtimer_new(w->base, worker_drain_deadline_cb, w);
	evtimer_add(w->drain_deadline, &tv);
	client_drain_all(w);
	if (w->nclients == 0)
		event_base_loopexit(w->base, NULL);
}

/* Returns 1 when a change (a reload's) was applied. */
static int
worker_apply_change(struct worker *w)
{
	struct lis_change *chg;
	size_t i;

	pthread_mutex_lock(&w->chg_lock);
	chg = w->chg;
	w->chg = NULL;
	pthread_mutex_unlock(&w->chg_lock);
	if (chg == NULL)
		return 0;
	for (i = 0; i < chg->nrem; i++)
		worker_remove_listener(w, &chg->rem[i]);
	for (i = 0; i < chg->nadd; i++) {
		if (w->draining)
			evutil_closesocket(chg->add_fd[i]);
		else if (worker_add_listener(w, &chg->add[i], chg->add_fd[i]) == -1)
			log_error("worker %d: cannot add listener %s", w->id, chg->add[i].addr.text);
	}
	free(chg);
	return 1;
}

static void
worker_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	uint64_t v;

	(void)what;
	if (read(fd, &v, sizeof(v)) == -1 && errno != EAGAIN)
		log_warn("worker %d: eventfd read: %s", w->id, strerror(errno));
	/* a reload's change: HTTP/2 clients reconnect under the new config */
	if (worker_apply_change(w) && !w->draining)
		client_reloaded(w);
	if (!w->draining && atomic_load(&rt.draining))
		worker_start_drain(w);
}

static void
worker_notify(struct worker *w)
{
	uint64_t one = 1;

	if (write(w->notify_fd, &one, sizeof(one)) == -1)
		log_warn("worker %d: eventfd write: %s", w->id, strerror(errno));
}

void
worker_post_change(struct worker *w, struct lis_change *chg)
{
	struct lis_change *old;

	pthread_mutex_lock(&w->chg_lock);
	old = w->chg;
	w->chg = chg;
	pthread_mutex_unlock(&w->chg_lock);
	if (old != NULL) {
		/* not applied yet: its sockets would leak */
		size_t i;

		for (i = 0; i < old->nadd; i++)
			evutil_closesocket(old->add_fd[i]);
		free(old);
	}
	worker_notify(w);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	event_base_dispatch(w->base);
	/* what is left after the deadline is closed now */
	client_close_all(w);
	upstream_free_idle(w);
	mirror_close_all(w);
	exchange_rhead_free_spare(w);
	h2mem_thread_end();
	log_buf_flush(&w->alog);
	atomic_store(&w->done, 1);
	return NULL;
}

static int
worker_init(struct worker *w, int id, char *err, size_t errlen)
{
	struct timeval tick = { 0, WORKER_TICK_MS * 1000 };
	struct timespec ts;
	size_t i;

	w->id = id;
	w->client_gone = worker_client_gone;
	w->notify_fd = -1;
	pthread_mutex_init(&w->chg_lock, NULL);
	w->stats = calloc(1, sizeof(*w->stats));
	/* by server slot; calloc: the pages of slots never used stay untouched */
	w->idle = calloc(PROXY_MAX_SERVERS, sizeof(*w->idle));
	if (w->stats == NULL || w->idle == NULL ||
	    stats_worker_init(w->stats, PROXY_MAX_SERVERS) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->base = worker_base_new();
	if (w->base == NULL) {
		snprintf(err, errlen, "cannot create event base");
		return -1;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	route_rng_seed(&w->rng, ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
	    ((uint64_t)getpid() << 40) ^ (uint64_t)(id + 1) * 0x9e3779b97f4a7c15ULL);
	for (i = 0; i < rt.cfg->nlisteners; i++) {
		const struct config_listener *cl = &rt.cfg->listeners[i];
		struct wlistener *wl = &w->lis[i];

		evutil_socket_t fd;
		char why[256];

		wl->addr = cl->addr;
		wl->tls = cl->tls;
		if ((fd = worker_bind(&cl->addr, why, sizeof(why))) == -1) {
			snprintf(err, errlen, "%s:%d: cannot listen on %s: %s", rt.cfg->path, cl->line,
			    cl->addr.text, why);
			return -1;
		}
		wl->l = evconnlistener_new(w->base, worker_accept_cb, w, WORKER_LISTEN_FLAGS, 0, fd);
		if (wl->l == NULL) {
			evutil_closesocket(fd);
			snprintf(err, errlen, "%s:%d: cannot listen on %s: %s", rt.cfg->path, cl->line,
			    cl->addr.text, strerror(errno));
			return -1;
		}
		evconnlistener_set_error_cb(wl->l, worker_accept_error_cb);
		w->nlis++;
	}
	w->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->notify_fd == -1) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -1;
	}
	w->notify_ev = event_new(w->base, w->notify_fd, EV_READ | EV_PERSIST, worker_notify_cb, w);
	w->tick = event_new(w->base, -1, EV_PERSIST, worker_tick_cb, w);
	TAILQ_INIT(&w->queue);
	w->queue_ev = event_new(w->base, -1, 0, worker_queue_cb, w);
	if (w->notify_ev == NULL || w->tick == NULL || w->queue_ev == NULL) {
		snprintf(err, errlen, "cannot create events");
		return -1;
	}
	event_add(w->notify_ev, NULL);
	event_add(w->tick, &tick);
	return 0;
}

int
worker_start_all(char *err, size_t errlen)
{
	int i;

	rt.nworkers = rt.cfg->workers;
	rt.workers = calloc((size_t)rt.nworkers, sizeof(struct worker));
	if (rt.workers == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* bind everything before any thread runs, so a bad address fails the start */
	for (i = 0; i < rt.nworkers; i++)
		if (worker_init(&rt.workers[i], i, err, errlen) == -1)
			return -1;
	for (i = 0; i < rt.nworkers; i++) {
		if (pthread_create(&rt.workers[i].thread, NULL, worker_main, &rt.workers[i]) != 0) {
			snprintf(err, errlen, "cannot start worker thread %d", i);
			rt.nworkers = i;        /* join only what runs */
			return -1;
		}
	}
	return 0;
}

void
worker_drain_all(void)
{
	int i;

	atomic_store(&rt.draining, 1);
	for (i = 0; i < rt.nworkers; i++)
		worker_notify(&rt.workers[i]);
}

/* Every running worker's block of service sv (NULL where it had no request
 * yet), for the sums the control thread makes; returns how many (none
 * before the workers start). */
size_t
worker_svc_blocks(struct service *sv, struct stats_svc **ws)
{
	int i;

	for (i = 0; i < rt.nworkers && rt.workers != NULL; i++)
		ws[i] = rt.workers[i].stats != NULL ?
		    atomic_load_explicit(&rt.workers[i].stats->svc[sv->id], memory_order_acquire) : NULL;
	return rt.workers != NULL ? (size_t)rt.nworkers : 0;
}

void
worker_window_sum(struct service *sv, int pool, int window_s, uint64_t now_us,
    struct stats_window *out)
{
	struct stats_svc *ws[64];

	stats_window_sum(ws, worker_svc_blocks(sv, ws), pool, window_s, now_us / 1000000, out);
}

void
worker_judged_total(struct service *sv, int cls, struct stats_judged *out)
{
	struct stats_svc *ws[64];

	stats_judged_total(ws, worker_svc_blocks(sv, ws), cls, out);
}

uint64_t
worker_routed_total(struct service *sv, int pool)
{
	struct stats_svc *ws[64];

	return stats_routed_total(ws, worker_svc_blocks(sv, ws), pool);
}

int
worker_all_done(void)
{
	int i;

	for (i = 0; i < rt.nworkers; i++)
		if (!atomic_load(&rt.workers[i].done))
			return 0;
	return 1;
}

void
worker_join_all(void)
{
	int i;

	for (i = 0; i < rt.nworkers; i++)
		pthread_join(rt.workers[i].thread, NULL);
}

void
worker_free_all(void)
{
	int i;
	size_t j;

	if (rt.workers == NULL)
		return;
	for (i = 0; i < rt.cfg->workers; i++) {
		struct worker *w = &rt.workers[i];

		for (j = 0; j < w->nlis; j++)
			if (w->lis[j].l != NULL)
				evconnlistener_free(w->lis[j].l);
		w->nlis = 0;
		if (w->chg != NULL) {
			for (j = 0; j < w->chg->nadd; j++)
				evutil_closesocket(w->chg->add_fd[j]);
			free(w->chg);
			w->chg = NULL;
		}
		if (w->tick != NULL)
			event_free(w->tick);
		if (w->queue_ev != NULL)
			event_free(w->queue_ev);
		w->queue_ev = NULL;
		if (w->notify_ev != NULL)
			event_free(w->notify_ev);
		if (w->drain_deadline != NULL)
			event_free(w->drain_deadline);
		if (w->notify_fd != -1)
			close(w->notify_fd);
		if (w->base != NULL)
			event_base_free(w->base);
		pthread_mutex_destroy(&w->chg_lock);
		if (w->stats != NULL)
			stats_worker_free(w->stats);
		free(w->stats);
		w->stats = NULL;
		free(w->idle);
		w->idle = NULL;
	}
	free(rt.workers);
	rt.workers = NULL;
}
