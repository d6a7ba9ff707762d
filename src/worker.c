/*
 * worker.c - event-loop threads.  Each worker binds every listener with
 * SO_REUSEPORT (the kernel spreads connections), accepts, pauses accepting
 * at limits.max_connections or on EMFILE instead of spinning, flushes its
 * access-log buffer, and drains on request from the main thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "proxy.h"

#define WORKER_TICK_MS 100

static void
worker_pause_accept(struct worker *w)
{
	size_t i;

	if (w->accept_paused)
		return;
	for (i = 0; i < w->nlisteners; i++)
		evconnlistener_disable(w->listeners[i]);
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
	for (i = 0; i < w->nlisteners; i++)
		evconnlistener_enable(w->listeners[i]);
	w->accept_paused = 0;
}

static void
worker_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	struct worker *w = arg;
	const struct config_listener *cl = NULL;
	size_t i;

	for (i = 0; i < w->nlisteners; i++)
		if (w->listeners[i] == l)
			cl = &rt.cfg->listeners[i];
	if (atomic_fetch_add(&rt.conns_active, 1) + 1 >= rt.cfg->max_connections)
		worker_pause_accept(w);
	session_accept(w, fd, sa, salen, cl != NULL && cl->tls);
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

void
worker_session_gone(struct worker *w)
{
	atomic_fetch_sub(&rt.conns_active, 1);
	w->nsessions--;
	if (w->accept_paused)
		worker_resume_accept(w);
	if (w->draining && w->nsessions == 0)
		event_base_loopexit(w->base, NULL);
}

static void
worker_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	log_buf_flush(&w->alog);
	if (w->accept_paused)
		worker_resume_accept(w);
	/* "server ... disable" from the admin socket: out now */
	session_close_disabled(w);
}

static void
worker_drain_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	log_warn("worker %d: %ld connection(s) still busy after shutdown_ms; closing them",
	    w->id, w->nsessions);
	event_base_loopbreak(w->base);
}

static void
worker_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct timeval tv = { rt.cfg->t_shutdown_ms / 1000, (rt.cfg->t_shutdown_ms % 1000) * 1000 };
	uint64_t v;
	size_t i;

	(void)what;
	if (read(fd, &v, sizeof(v)) == -1 && errno != EAGAIN)
		log_warn("worker %d: eventfd read: %s", w->id, strerror(errno));
	if (w->draining || !atomic_load(&rt.draining))
		return;
	w->draining = 1;
	for (i = 0; i < w->nlisteners; i++) {
		evconnlistener_free(w->listeners[i]);
		w->listeners[i] = NULL;
	}
	w->nlisteners = 0;
	upstream_free_idle(w);
	w->drain_deadline = evtimer_new(w->base, worker_drain_deadline_cb, w);
	evtimer_add(w->drain_deadline, &tv);
	session_drain_all(w);
	if (w->nsessions == 0)
		event_base_loopexit(w->base, NULL);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	event_base_dispatch(w->base);
	/* what is left after the deadline is closed by freeing the base's users */
	session_close_all(w);
	upstream_free_idle(w);
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
	w->notify_fd = -1;
	w->stats = calloc(1, sizeof(*w->stats));
	if (w->stats == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	stats_worker_init(w->stats, rt.cfg->guard_window_s);
	w->base = event_base_new();
	if (w->base == NULL) {
		snprintf(err, errlen, "cannot create event base");
		return -1;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	route_rng_seed(&w->rng, ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
	    ((uint64_t)getpid() << 40) ^ (uint64_t)(id + 1) * 0x9e3779b97f4a7c15ULL);
	for (i = 0; i < rt.cfg->nlisteners; i++) {
		const struct config_listener *cl = &rt.cfg->listeners[i];

		w->listeners[i] = evconnlistener_new_bind(w->base, worker_accept_cb, w,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE |
		    LEV_OPT_REUSEABLE_PORT, 1024, (const struct sockaddr *)&cl->addr.ss,
		    (int)cl->addr.len);
		if (w->listeners[i] == NULL) {
			snprintf(err, errlen, "%s:%d: cannot listen on %s: %s", rt.cfg->path, cl->line,
			    cl->addr.text, strerror(errno));
			return -1;
		}
		evconnlistener_set_error_cb(w->listeners[i], worker_accept_error_cb);
		w->nlisteners++;
	}
	w->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->notify_fd == -1) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -1;
	}
	w->notify_ev = event_new(w->base, w->notify_fd, EV_READ | EV_PERSIST, worker_notify_cb, w);
	w->tick = event_new(w->base, -1, EV_PERSIST, worker_tick_cb, w);
	if (w->notify_ev == NULL || w->tick == NULL) {
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
			return -1;
		}
	}
	return 0;
}

void
worker_drain_all(void)
{
	uint64_t one = 1;
	int i;

	atomic_store(&rt.draining, 1);
	for (i = 0; i < rt.nworkers; i++)
		if (write(rt.workers[i].notify_fd, &one, sizeof(one)) == -1)
			log_warn("worker %d: eventfd write: %s", i, strerror(errno));
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

	for (i = 0; i < rt.nworkers; i++) {
		struct worker *w = &rt.workers[i];

		for (j = 0; j < w->nlisteners; j++)
			evconnlistener_free(w->listeners[j]);
		if (w->tick != NULL)
			event_free(w->tick);
		if (w->notify_ev != NULL)
			event_free(w->notify_ev);
		if (w->drain_deadline != NULL)
			event_free(w->drain_deadline);
		if (w->notify_fd != -1)
			close(w->notify_fd);
		if (w->base != NULL)
			event_base_free(w->base);
		free(w->stats);
		w->stats = NULL;
	}
	free(rt.workers);
	rt.workers = NULL;
}
