/*
 * client.c - one client connection (struct client): the socket, TLS and
 * its handshake, the choice of codec, the timer the codec arms, and the one
 * teardown.  Every connection starts with the HTTP/1.1 codec (h1.c); ALPN
 * h2, or the preface on an h2c listener, hands it to HTTP/2 (h2/).  What
 * the bytes mean is the codec's (codec.h): nothing here knows a protocol.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "client.h"
#include "codec.h"
#include "h2.h"
#include "upstream.h"

#define CLIENT_MAGIC 0xc11e4701U

#define CLIENT_CHECK(c) do { \
	if ((c)->magic != CLIENT_MAGIC) { \
		log_error("%s:%d: bad client magic", __FILE__, __LINE__); \
		abort(); \
	} \
} while (0)

void
client_timer_ms(struct client *c, int ms)
{
	struct timeval tv = clock_tv_ms(ms);

	evtimer_add(&c->timer, &tv);
}

void
client_timer_off(struct client *c)
{
	evtimer_del(&c->timer);
}

void
client_close(struct client *c, const char *why)
{
	struct worker *w = c->w;

	CLIENT_CHECK(c);
	log_debug("client %p from %s closed: %s", (void *)c, c->peer.addr, why);
	if (c->cd != NULL)
		c->ops->free(c->cd);
	evtimer_del(&c->timer);
	conn_release(&c->cc);
	LIST_REMOVE(c, link);
	c->magic = 0;
	free(c);
	w->client_gone(w);
}

/* The HTTP/2 codec ended the connection. */
static void
client_h2_closed(void *arg, const char *why)
{
	client_close(arg, why);
}

/* The HTTP/2 codec's timer is the connection's one timer. */
static void
client_h2_timer(void *arg, int ms)
{
	client_timer_ms(arg, ms);
}

int
client_use_h2(struct client *c, int read_now)
{
	struct h2_host host = { client_h2_closed, client_h2_timer, c };
	struct h2conn *h;

	/* the HTTP/1.1 codec's timer is over; HTTP/2 arms its own at once */
	evtimer_del(&c->timer);
	h = h2_open(c->w, &c->cc, &c->peer, &host);
	if (h == NULL) {
		log_warn("out of memory for an HTTP/2 connection from %s", c->peer.addr);
		return -1;
	}
	c->ops->free(c->cd);
	c->ops = &h2_codec;
	c->cd = h;
	if (c->w->draining)
		h2_goaway_soon(h);       /* no new streams: GOAWAY at once */
	if (read_now)
		c->ops->read(c->cd);     /* may close */
	return 0;
}

/* A TLS client that chose h2 through ALPN. */
static int
client_alpn_h2(const struct client *c)
{
	const unsigned char *p;
	unsigned int n;

	if (c->cc.ssl == NULL)
		return 0;
	SSL_get0_alpn_selected(c->cc.ssl, &p, &n);
	return n == 2 && memcmp(p, "h2", 2) == 0;
}

/* ---- callbacks ----------------------------------------------------------- */

static void
client_readcb(struct conn *cc, void *arg)
{
	struct client *c = arg;

	(void)cc;
	CLIENT_CHECK(c);
	c->ops->read(c->cd);
}

static void
client_writecb(struct conn *cc, void *arg)
{
	struct client *c = arg;

	(void)cc;
	CLIENT_CHECK(c);
	c->ops->write(c->cd);
}

static void
client_eventcb(struct conn *cc, short what, void *arg)
{
	struct client *c = arg;

	(void)cc;
	CLIENT_CHECK(c);
	if (what & CONN_EV_HANDSHAKE) {
		if (!(what & CONN_EV_ERROR)) {
			STATS_INC(c->w->stats->tls_handshakes);
			/* (the bytes come through the read callback) */
			if (client_alpn_h2(c))
				(void)client_use_h2(c, 0);
			return;
		}
		STATS_INC(c->w->stats->tls_handshake_errors);
		client_close(c, "TLS handshake failed");
		return;
	}
	if (c->ops->event(c->cd, what))
		return;
	if (what & CONN_EV_TIMEOUT) {
		c->ops->end(c->cd, EX_TERM_CLIENT_TIMEOUT);
		client_close(c, "client write timeout");
	} else if (what & CONN_EV_EOF) {
		client_close(c, "client closed");
	} else {
		client_close(c, "client error");
	}
}

static void
client_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)fd;
	(void)what;
	CLIENT_CHECK(c);
	if (c->cc.ssl != NULL && !c->cc.hs_done) {
		/* a handshake that stalls is bounded by client_header_ms too */
		STATS_INC(c->w->stats->tls_handshake_errors);
		client_close(c, "TLS handshake timeout");
		return;
	}
	c->ops->timeout(c->cd);
}

/* ---- life cycle ---------------------------------------------------------- */

void
client_accept(struct worker *w, evutil_socket_t fd, struct sockaddr *sa, int salen, SSL *ssl,
    int h2c, const struct codec_ops *first)
{
	struct client *c;
	struct timeval wtv = clock_tv_ms(rt.cfg->t_client_idle_ms);
	int one = 1;

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		evutil_closesocket(fd);
		SSL_free(ssl);
		w->client_gone(w);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->magic = CLIENT_MAGIC;
	c->w = w;
	c->h2c = h2c && ssl == NULL;
	if (salen > 0 && (size_t)salen <= sizeof(c->peer.sa))
		memcpy(&c->peer.sa, sa, (size_t)salen);
	c->peer.tls = ssl != NULL;
	c->peer.ssl = ssl;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, c->peer.addr,
		    sizeof(c->peer.addr));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, c->peer.addr,
		    sizeof(c->peer.addr));
	else
		snprintf(c->peer.addr, sizeof(c->peer.addr), "unknown");
	c->peer.addr_len = strlen(c->peer.addr);
	if (conn_init(&c->cc, w->base, fd) == -1) {
		evutil_closesocket(fd);
		SSL_free(ssl);
		free(c);
		w->client_gone(w);
		return;
	}
	if (ssl != NULL)
		conn_start_tls(&c->cc, ssl);
	evtimer_assign(&c->timer, w->base, client_timer_cb, c);
	c->ops = first;
	c->cd = first->open(c);
	if (c->cd == NULL) {
		conn_release(&c->cc);
		free(c);
		w->client_gone(w);
		return;
	}
	conn_setcb(&c->cc, client_readcb, client_writecb, client_eventcb, c);
	c->cc.wlowat = PROXY_RESP_HIGH / 2;
	conn_set_timeouts(&c->cc, NULL, &wtv);
	conn_read_enable(&c->cc);
	LIST_INSERT_HEAD(&w->clients, c, link);
	w->nclients++;
	/* the first request is bounded by client_header_ms from accept */
	client_timer_ms(c, rt.cfg->t_client_header_ms);
}

/* ---- the worker's connections -------------------------------------------- */

/*
 * Graceful stop: each codec finishes what runs and takes nothing new (an
 * idle HTTP/1.1 connection closes now, an HTTP/2 one says GOAWAY).
 */
void
client_drain_all(struct worker *w)
{
	struct client *c, *next;

	for (c = LIST_FIRST(&w->clients); c != NULL; c = next) {
		next = LIST_NEXT(c, link);
		CLIENT_CHECK(c);
		c->ops->drain(c->cd);
	}
}

/* After the shutdown deadline: whatever is still open is closed now. */
void
client_close_all(struct worker *w)
{
	struct client *c;

	while ((c = LIST_FIRST(&w->clients)) != NULL) {
		c->ops->end(c->cd, EX_TERM_SHUTDOWN);
		client_close(c, "shutdown deadline");
	}
}

/* Exchanges busy with a server an operator disabled are cut now, and idle
 * connections to it are closed (the worker tick). */
void
client_close_disabled(struct worker *w)
{
	struct client *c, *next;

	for (c = LIST_FIRST(&w->clients); c != NULL; c = next) {
		next = LIST_NEXT(c, link);
		c->ops->close_disabled(c->cd);
	}
	upstream_free_disabled(w);
}

/* After a revert: tunnels to the reverted pool end. */
void
client_close_reverted(struct worker *w, struct service *sv, int pool)
{
	struct client *c, *next;

	for (c = LIST_FIRST(&w->clients); c != NULL; c = next) {
		next = LIST_NEXT(c, link);
		c->ops->close_reverted(c->cd, sv, pool);
	}
}

/* Requests waiting for a first answer from a reverted pool go to the
 * stable pool (exchange_move_to_stable says which may). */
void
client_move_reverted(struct worker *w, struct service *sv, int pool)
{
	struct client *c, *next;

	for (c = LIST_FIRST(&w->clients); c != NULL; c = next) {
		next = LIST_NEXT(c, link);
		c->ops->move_reverted(c->cd, sv, pool);
	}
}

/* Requests waiting for a first answer from a server marked down go
 * elsewhere (exchange_move_from_down says which may). */
void
client_move_from_down(struct worker *w)
{
	struct client *c, *next;

	for (c = LIST_FIRST(&w->clients); c != NULL; c = next) {
		next = LIST_NEXT(c, link);
		c->ops->move_from_down(c->cd);
	}
}

/* After a reload: HTTP/2 connections get GOAWAY (their streams finish),
 * so clients come back under the new settings and certificates. */
void
client_reloaded(struct worker *w)
{
	struct client *c, *next;

	for (c = LIST_FIRST(&w->clients); c != NULL; c = next) {
		next = LIST_NEXT(c, link);
		c->ops->reloaded(c->cd);
	}
}

void
client_log_failures(struct worker *w, uint64_t now_us)
{
	if (w->upfail.failures == 0 || now_us - w->upfail.last_us < 1000000)
		return;
	log_info("worker %d: %u upstream failure(s), %u retried on the stable pool, since the "
	    "last report; last: %s (details at log level debug; bgproxy_retries_total counts "
	    "retries)", w->id, w->upfail.failures, w->upfail.retries, w->upfail.last);
	w->upfail.failures = 0;
	w->upfail.retries = 0;
	w->upfail.last_us = now_us;
}
