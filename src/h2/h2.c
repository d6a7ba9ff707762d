/*
 * h2.c - one HTTP/2 client connection (see h2.h): the nghttp2 session,
 * its frame callbacks, the budgets that end an abusive connection with
 * GOAWAY, and the loop that moves the connection on.
 *
 * The loop (h2_run) is the only place that calls nghttp2_session_send and
 * frees streams, and it runs only at the top of an entry point: a read, a
 * drained output, a timer, or the kick event that the streams' exchanges
 * raise from their upstream callbacks.  So nothing is freed under a
 * caller, and nghttp2 is never entered from inside itself.  What a stream
 * has to do after a frame (forward its request, move body bytes, read
 * more of its response) waits in h->todo for that loop: a HEADERS reset
 * in the same read never reaches a server (CVE-2023-44487 costs a parse).
 *
 * Budgets (each breach: GOAWAY ENHANCE_YOUR_CALM, the connection ends,
 * bgproxy_http2_goaways_total{reason} counts it):
 *   RST_STREAM from the client      token bucket, H2_RST_BURST, H2_RST_RATE/s
 *   SETTINGS, PING, PRIORITY        H2_CTRL_PER_S per second
 *   empty DATA/HEADERS, no end      H2_EMPTY_PER_S per second
 *   WINDOW_UPDATE                   H2_WU_FREE + H2_WU_PER_DATA per DATA frame sent
 *   CONTINUATION                    nghttp2's max_continuations
 *   ACKs we owe (SETTINGS, PING)    nghttp2's max_outbound_ack
 *   header list size                H2_HEADER_BOMB_FACTOR x max_header_list_size
 *   a window that never opens       timeouts.client_idle_ms without DATA sent
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "conn.h"
#include "h2_int.h"
#include "h2mem.h"
#include "proxy.h"
#include "stats.h"
#include "upstream.h"


int
h2_preface_match(const char *p, size_t n)
{
	size_t k = n < H2_PREFACE_LEN ? n : H2_PREFACE_LEN;

	if (memcmp(p, H2_PREFACE, k) != 0)
		return -1;
	return n >= H2_PREFACE_LEN ? 1 : 0;
}

/* ---- the loop ---------------------------------------------------------- */

static void
h2_kick_cb(evutil_socket_t fd, short what, void *arg);

/* The request body bytes h holds: its streams' DATA not yet with a
 * server, and what waits in their servers' output; the worker's total
 * follows. */
static size_t
h2_held(struct h2conn *h)
{
	const struct h2stream *st;
	size_t n = 0;

	TAILQ_FOREACH(st, &h->streams, link) {
		n += evbuffer_get_length(st->reqbuf);
		if (st->ex_live && st->ex.up != NULL && (!st->ex.req_done || st->tunnel))
			n += upstream_pending(st->ex.up);
	}
	h->w->h2_held = h->w->h2_held - h->held_last + n;
	h->held_last = n;
	return n;
}

/*
 * While the client is not read (its bodies over their bound, or it does
 * not read what we send) its FIN or reset is not seen either: every 200 ms
 * the socket's state says whether it went (a FIN: CLOSE_WAIT; a reset: an error), and then the connection
 * ends with its streams, as when it is read.  A client that half-closes an
 * HTTP/2 connection can send no WINDOW_UPDATE any more: it is gone too.
 */
#define H2_PEER_CHECK_MS 200

/* While not read: has the client gone?  1 when it did. */
static int
h2_peer_gone(const struct h2conn *h, int *err)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	socklen_t elen = sizeof(*err);

	*err = 0;
	return (getsockopt(h->cc->fd, SOL_SOCKET, SO_ERROR, err, &elen) == 0 && *err != 0) ||
	    (getsockopt(h->cc->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	    ti.tcpi_state != TCP_ESTABLISHED);
}

/* The host's one timer, to fire in ms. */
static void
h2_tick_ms(struct h2conn *h, int ms)
{
	h->tick_due_us = proxy_now_us() + (uint64_t)ms * 1000;
	h->host.timer(h->host.arg, ms);
}

/* The timer fires by due (µs) at the latest; the closing's bound stays. */
void
h2_tick_by(struct h2conn *h, uint64_t due)
{
	uint64_t now = proxy_now_us(), left;

	if (h->ending == H2_END_FLUSH || (h->tick_due_us != 0 && h->tick_due_us <= due))
		return;
	left = due > now ? due - now : 0;
	h2_tick_ms(h, left >= 1000 ? (int)((left + 999) / 1000) : 1);
}

static void
h2_peer_watch(struct h2conn *h)
{
	h2_tick_by(h, proxy_now_us() + H2_PEER_CHECK_MS * 1000);
}

/* What h may hold before its client is not read: less while the worker
 * as a whole holds too much. */
static size_t
h2_held_max(const struct h2conn *h)
{
	return h->w->h2_held > H2_WORKER_HELD_MAX ? H2_HELD_TIGHT : H2_HELD_MAX;
}

void
h2_kick(struct h2conn *h)
{
	if (h->in_run) {
		h->again = 1;
		return;
	}
	if (!h->kicked) {
		h->kicked = 1;
		event_active(&h->kick, EV_TIMEOUT, 0);
	}
}

void
h2_todo(struct h2stream *st, unsigned what)
{
	struct h2conn *h = st->h;

	if (h2s_closed(st))
		return;
	if (st->todo == 0)
		TAILQ_INSERT_TAIL(&h->todo, st, todo_link);
	st->todo |= what;
	h2_kick(h);
}

/* A stream is over for nghttp2 or for us: out of the lists that do work,
 * freed by the loop. */
void
h2_stream_dead(struct h2stream *st)
{
	struct h2conn *h = st->h;

	if (h2s_closed(st))
		return;
	h2s_set(st, H2S_CLOSED);
	if (st->todo != 0)
		TAILQ_REMOVE(&h->todo, st, todo_link);
	st->todo = 0;
	TAILQ_REMOVE(&h->streams, st, link);
	TAILQ_INSERT_TAIL(&h->dead, st, link);
	h->nstreams--;
	h->progress_us = proxy_now_us();
	STATS_ADD(h->w->stats->h2_streams_active, -1);
	h2_kick(h);
}

static const char *const h2_end_names[H2_END_STATES] = { "open", "goaway", "now", "flush" };

/* The moves of a connection's end; anything else is a bug. */
static const unsigned char h2_end_moves[H2_END_STATES][H2_END_STATES] = {
	/*                   NONE GOAWAY NOW FLUSH */
	[H2_END_NONE]   = {  1,   1,     1,  1 },
	[H2_END_GOAWAY] = {  0,   1,     1,  1 },
	[H2_END_NOW]    = {  0,   0,     1,  0 },
	[H2_END_FLUSH]  = {  0,   0,     1,  1 },
};

void
h2_end_set(struct h2conn *h, enum h2_end to)
{
	if (h->ending == to)
		return;
	if (!h2_end_moves[h->ending][to])
		log_error("h2 %p: invalid state change (connection end) %s -> %s", (void *)h,
		    h2_end_names[h->ending], h2_end_names[to]);
	log_debug("h2 %p: end %s -> %s", (void *)h, h2_end_names[h->ending], h2_end_names[to]);
	h->ending = to;
}

/* End the connection: GOAWAY with code, counted under reason. */
void
h2_goaway(struct h2conn *h, int reason, uint32_t code, const char *why)
{
	if (h->ending)
		return;
	h2_end_set(h, H2_END_GOAWAY);
	h->why = why;
	STATS_INC(h->w->stats->h2_goaways[reason]);
	h->goaway_ours++;
	log_debug("h2 %p from %s: GOAWAY %s: %s", (void *)h, h->peer->addr,
	    nghttp2_http2_strerror(code), why);
	if (nghttp2_session_terminate_session(h->ng, code) != 0)
		h->goaway_ours--;
	conn_read_disable(h->cc);
}

static const char *const h2_fatal_why[STATS_GOAWAYS] = {
	[STATS_GOAWAY_PROTOCOL] = "a protocol error",
	[STATS_GOAWAY_RAPID_RESET] = "streams reset too fast (rapid reset)",
	[STATS_GOAWAY_CONTINUATION] = "too many CONTINUATION frames",
	[STATS_GOAWAY_HEADER_LIST] = "a header list far past max_header_list_size",
	[STATS_GOAWAY_CONTROL_FLOOD] = "a flood of control frames",
	[STATS_GOAWAY_EMPTY_FRAMES] = "a flood of empty frames",
	[STATS_GOAWAY_ZERO_WINDOW] = "the client's window stayed closed",
	[STATS_GOAWAY_HEADER_TIMEOUT] = "a header block not complete in time",
};

void
h2_fatal_goaway(struct h2conn *h, int reason)
{
	uint32_t code = h->fatal_code != 0 ? (uint32_t)h->fatal_code :
	    reason == STATS_GOAWAY_PROTOCOL || reason == STATS_GOAWAY_HEADER_TIMEOUT ?
	    NGHTTP2_PROTOCOL_ERROR : NGHTTP2_ENHANCE_YOUR_CALM;

	h->fatal_code = 0;
	h2_goaway(h, reason, code, h2_fatal_why[reason]);
}

/* A connection error of RFC 9113 that nghttp2 leaves to us. */
void
h2_protocol_error(struct h2conn *h, uint32_t code)
{
	h->fatal = STATS_GOAWAY_PROTOCOL;
	h->fatal_code = (int)code;
}

/* ---- client stream ids ------------------------------------------------- */

#define H2_IDS_WORD(i) (h->ids[((i) % H2_IDS_BITS) / 64])
#define H2_IDS_BIT(i) (1ULL << ((i) % 64))

void
h2_ids_open(struct h2conn *h, int32_t id)
{
	uint32_t i = (uint32_t)(id - 1) / 2, k;

	if (i + 1 > h->ids_last) {
		if (i + 1 - h->ids_last >= H2_IDS_BITS)
			memset(h->ids, 0, sizeof(h->ids));
		else
			for (k = h->ids_last; k < i; k++)
				H2_IDS_WORD(k) &= ~H2_IDS_BIT(k);   /* skipped: never opened */
		h->ids_last = i + 1;
	}
	H2_IDS_WORD(i) |= H2_IDS_BIT(i);
}

/* A HEADERS on a client id below the highest opened that was never opened
 * itself (within the ids remembered): RFC 9113 5.1.1. */
int
h2_ids_never_opened(const struct h2conn *h, int32_t id)
{
	uint32_t i = (uint32_t)(id - 1) / 2;

	if (id <= 0 || (id & 1) == 0 || i + 1 >= h->ids_last || h->ids_last - i > H2_IDS_BITS)
		return 0;
	return !(H2_IDS_WORD(i) & H2_IDS_BIT(i));
}


/* Everything nghttp2 has to send, as far as the client's output takes it. */
static void
h2_send(struct h2conn *h)
{
	int rv;

	if (h->send_failed || conn_out_pending(h->cc) >= H2_OUT_HIGH)
		return;
	h->in_cb = 1;
	rv = nghttp2_session_send(h->ng);
	h->in_cb = 0;
	h->iws_changed = 0;
	if (rv != 0) {
		log_debug("h2 %p: send: %s", (void *)h, nghttp2_strerror(rv));
		h->why = "nghttp2 send failed";
		h->send_failed = 1;
		h2_end_set(h, H2_END_NOW);
	}
	conn_flush(h->cc);
}

/*
 * One turn: what the streams wait to do, then everything nghttp2 has to
 * send, again while that made more work; then free the dead streams and
 * see whether the connection is over.  Returns -1 when it was closed.
 */
static int
h2_run(struct h2conn *h)
{
	TAILQ_HEAD(, h2stream) wait;
	struct h2stream *st, *next;
	uint64_t before;
	int rounds, held = 0;

	if (h->in_run) {
		h->again = 1;
		return 0;
	}
	h->in_run = 1;
	for (rounds = 0; rounds < 64; rounds++) {
		h->again = 0;
		/* what nghttp2 queued goes first: a stream it reset for the
		 * client's fault closes before it could reach a server; while
		 * the output is too full for that, new streams wait */
		h2_send(h);
		held = conn_out_pending(h->cc) >= H2_OUT_HIGH;
		TAILQ_INIT(&wait);
		while ((st = TAILQ_FIRST(&h->todo)) != NULL) {
			unsigned what = st->todo;

			TAILQ_REMOVE(&h->todo, st, todo_link);
			if (held && (what & H2_TODO_START)) {
				TAILQ_INSERT_TAIL(&wait, st, todo_link);
				continue;
			}
			st->todo = 0;
			h2_stream_run(st, what);
		}
		while ((st = TAILQ_FIRST(&wait)) != NULL) {
			TAILQ_REMOVE(&wait, st, todo_link);
			TAILQ_INSERT_TAIL(&h->todo, st, todo_link);
		}
		if (h->fatal >= 0) {
			h2_fatal_goaway(h, h->fatal);
			h->fatal = -1;
		}
		before = h->out_bytes;
		h2_send(h);
		/* the socket took it all while nghttp2 had more: go on */
		if (h->ending != H2_END_NOW && h->out_bytes != before &&
		    nghttp2_session_want_write(h->ng) && conn_out_pending(h->cc) < H2_OUT_HIGH)
			h->again = 1;
		if (!h->again && (TAILQ_EMPTY(&h->todo) || held))
			break;
	}
	h->in_run = 0;
	/* streams held for a full output go on when it drains (h2_write) */
	if (h->again || (!TAILQ_EMPTY(&h->todo) && conn_out_pending(h->cc) < H2_OUT_HIGH))
		h2_kick(h);
	for (st = TAILQ_FIRST(&h->dead); st != NULL; st = next) {
		next = TAILQ_NEXT(st, link);
		if (st->wait_close)
			continue;
		TAILQ_REMOVE(&h->dead, st, link);
		h2_stream_free(st);
	}
	if (h->ending == H2_END_NOW || (!nghttp2_session_want_read(h->ng) &&
	    !nghttp2_session_want_write(h->ng))) {
		/* over: the GOAWAY (if any) leaves first, bounded by the tick */
		if (h->ending == H2_END_NOW || conn_out_pending(h->cc) == 0) {
			h->host.closed(h->host.arg, h->why != NULL ? h->why : "HTTP/2 connection over");
			return -1;
		}
		if (h->ending != H2_END_FLUSH) {
			h2_end_set(h, H2_END_FLUSH);
			conn_read_disable(h->cc);
			h2_tick_ms(h, 5000);
		}
		return 0;
	}
	/* request bodies over their bound: the client is not read until the
	 * servers took half of it (the held bytes only go down from here) */
	/* (counted at every turn: the worker's total stays close to true) */
	if (h2_held(h) < h2_held_max(h) / 2 && h->held_paused) {
		h->held_paused = 0;
		if (evbuffer_get_length(h->cc->in) > 0) {
			h->resume_input = 1;
			h2_kick(h);
		}
	}
	/* a client that does not read does not get more read from it */
	if (conn_out_pending(h->cc) >= H2_OUT_HIGH || h->ending || h->held_paused) {
		conn_read_disable(h->cc);
		if (!h->ending)
			h2_peer_watch(h);
	} else {
		/* a header block's time does not run while we did not read */
		if (!h->cc->want_read && h->hdr_open_us != 0)
			h->hdr_open_us = proxy_now_us();
		conn_read_enable(h->cc);
	}
	return 0;
}

static void
h2_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct h2conn *h = arg;

	(void)fd;
	(void)what;
	h->kicked = 0;
	if (h->resume_input) {
		/* what waited in the input while the bodies were over their bound */
		h->resume_input = 0;
		h2_read(h);
		return;
	}
	h2_run(h);
}

/* A stream whose client let timeouts.client_body_ms pass in its body:
 * the exchange answers 408 or ends.  One at a time, the list may change. */
static void
h2_body_timeouts(struct h2conn *h, uint64_t now)
{
	struct h2stream *st;

	for (;;) {
		TAILQ_FOREACH(st, &h->streams, link)
			if (st->body_due_us != 0 && st->body_due_us <= now)
				break;
		if (st == NULL)
			return;
		st->body_due_us = 0;
		if (!h2s_closed(st) && !h2s_finished(st) && !st->ex.req_done)
			exchange_client_body_timeout(&st->ex);
	}
}

/* The connection's timer: the end of a closing connection, a client not
 * read that went, the streams' body times, a header block's time, idle (no
 * stream for client_idle_ms) and zero window (response bytes wait, no DATA
 * sent for client_idle_ms). */
int
h2_timeout(struct h2conn *h)
{
	uint64_t now = proxy_now_us(), idle = (uint64_t)rt.cfg->t_client_idle_ms * 1000;
	struct h2stream *st;
	int pending = 0, err;

	h->tick_due_us = 0;
	if (h->ending == H2_END_FLUSH) {
		h->host.closed(h->host.arg, h->why != NULL ? h->why : "HTTP/2 connection over");
		return -1;
	}
	if (!h->cc->want_read && !h->ending && h2_peer_gone(h, &err)) {
		h->host.closed(h->host.arg, err != 0 ? "client error while not read" :
		    "client closed while not read");
		return -1;
	}
	if (h->nstreams == 0) {
		/* an idle connection keeps no spare streams */
		while ((st = TAILQ_FIRST(&h->spare)) != NULL) {
			TAILQ_REMOVE(&h->spare, st, link);
			h2_stream_release(st);
			h->nspare--;
		}
	}
	h2_body_timeouts(h, now);
	TAILQ_FOREACH(st, &h->streams, link)
		if (h2_stream_has_pending(st)) {
			pending = 1;
			break;
		}
	if (h->hdr_open_us != 0 && h->cc->want_read &&
	    now - h->hdr_open_us >= (uint64_t)rt.cfg->t_client_header_ms * 1000) {
		/* nothing else may come on the connection before the block ends */
		h2_fatal_goaway(h, STATS_GOAWAY_HEADER_TIMEOUT);
	} else if (now - h->progress_us >= idle) {
		if (h->nstreams == 0) {
			h2_goaway(h, STATS_GOAWAY_IDLE, NGHTTP2_NO_ERROR, "idle timeout");
		} else if (pending) {
			/* the client too slow to take its responses */
			h2_end_streams(h, EX_TERM_CLIENT_TIMEOUT);
			h2_fatal_goaway(h, STATS_GOAWAY_ZERO_WINDOW);
			h2_end_set(h, H2_END_NOW);  /* its output will not drain: close now */
		}
	}
	if (!h->ending)
		h2_tick_next(h, now);
	return h2_run(h);
}

/* The tick's next look: when the idle time or a header block's time would
 * be up (at least 100 ms on), a stream's body time, or the next check on a
 * client not read. */
void
h2_tick_next(struct h2conn *h, uint64_t now)
{
	uint64_t idle = (uint64_t)rt.cfg->t_client_idle_ms * 1000, since = now - h->progress_us;
	uint64_t next = since < idle ? idle - since : 0, left;
	struct h2stream *st;

	if (h->hdr_open_us != 0) {
		uint64_t lim = (uint64_t)rt.cfg->t_client_header_ms * 1000, open = now - h->hdr_open_us;

		left = open < lim ? lim - open : 0;
		if (left < next)
			next = left;
	}
	if (next < 100000)
		next = 100000;
	if (!h->cc->want_read && next > H2_PEER_CHECK_MS * 1000)
		next = H2_PEER_CHECK_MS * 1000;
	TAILQ_FOREACH(st, &h->streams, link) {
		if (st->body_due_us == 0)
			continue;
		left = st->body_due_us > now ? st->body_due_us - now : 0;
		if (left < next)
			next = left;
	}
	h2_tick_ms(h, next >= 1000 ? (int)((next + 999) / 1000) : 1);
}

/* ---- life cycle -------------------------------------------------------- */

static nghttp2_session_callbacks *h2_callbacks;
static nghttp2_option *h2_options;

static int
h2_setup_once(void)
{
	nghttp2_session_callbacks *cb;

	if (h2_callbacks != NULL)
		return 0;
	if ((cb = h2_callbacks_new()) == NULL)
		return -1;
	if (nghttp2_option_new(&h2_options) != 0) {
		nghttp2_session_callbacks_del(cb);
		return -1;
	}
	nghttp2_option_set_no_auto_window_update(h2_options, 1);
	/* our own budgets come first; nghttp2's stay as a backstop */
	nghttp2_option_set_stream_reset_rate_limit(h2_options, 4 * H2_RST_BURST, 4 * H2_RST_RATE);
	nghttp2_option_set_max_continuations(h2_options, 8);
	nghttp2_option_set_max_outbound_ack(h2_options, 1000);
	nghttp2_option_set_max_settings(h2_options, 32);
	/* closed streams are kept (as many as MAX_CONCURRENT_STREAMS, then the
	 * oldest go): DATA or HEADERS on a stream the client reset or that
	 * ended both ways is a STREAM_CLOSED error (RFC 9113 5.1), frames on
	 * one we reset are ignored; nghttp2 can tell them apart only while it
	 * keeps them */
	h2_callbacks = cb;
	return 0;
}

/* Worker threads start before any connection: the first h2_open of each
 * may race to set up; a mutex keeps it simple. */
static pthread_mutex_t h2_setup_lock = PTHREAD_MUTEX_INITIALIZER;

struct h2conn *
h2_open(struct worker *w, struct conn *cc, const struct exchange_peer *peer,
    const struct h2_host *host)
{
	const struct config *c = rt.cfg;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)c->h2_max_streams },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, (uint32_t)c->h2_window },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)c->h2_max_header_list },
		{ NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1 },
	};
	struct h2conn *h;
	int rv;

	pthread_mutex_lock(&h2_setup_lock);
	rv = h2_setup_once();
	pthread_mutex_unlock(&h2_setup_lock);
	if (rv != 0 || (h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->magic = H2_MAGIC;
	h->w = w;
	h->cc = cc;
	h->peer = peer;
	h->host = *host;
	h->fatal = -1;
	h->rst_tokens = H2_RST_BURST;
	h->rst_us = h->win_us = h->progress_us = proxy_now_us();
	TAILQ_INIT(&h->streams);
	TAILQ_INIT(&h->todo);
	TAILQ_INIT(&h->dead);
	TAILQ_INIT(&h->spare);
	if (nghttp2_session_server_new3(&h->ng, h2_callbacks, h, h2_options, h2mem()) != 0) {
		free(h);
		return NULL;
	}
	if (nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0 ||
	    nghttp2_session_set_local_window_size(h->ng, NGHTTP2_FLAG_NONE, 0,
	    H2_CONN_WINDOW) != 0) {
		nghttp2_session_del(h->ng);
		free(h);
		return NULL;
	}
	event_assign(&h->kick, w->base, -1, 0, h2_kick_cb, h);
	h2_tick_ms(h, c->t_client_idle_ms);
	h2_kick(h);             /* the server preface (SETTINGS) goes out soon */
	return h;
}

void
h2_free(struct h2conn *h)
{
	struct h2stream *st;

	if (h == NULL)
		return;
	/* nghttp2_session_del calls no close callback: end the streams here */
	while ((st = TAILQ_FIRST(&h->streams)) != NULL)
		h2_stream_kill(st, 0, NGHTTP2_CANCEL, "connection closed");
	nghttp2_session_del(h->ng);
	while ((st = TAILQ_FIRST(&h->dead)) != NULL) {
		TAILQ_REMOVE(&h->dead, st, link);
		h2_stream_free(st);
	}
	while ((st = TAILQ_FIRST(&h->spare)) != NULL) {
		TAILQ_REMOVE(&h->spare, st, link);
		h2_stream_release(st);
	}
	event_del(&h->kick);
	/* the host's timer is the host's: it stops it when it frees */
	/* the worker gives memory back to the system after large teardowns */
	h->w->freed_big += h->held_peak;
	h->w->h2_held -= h->held_last;
	h->magic = 0;
	free(h);
}

int
h2_read(struct h2conn *h)
{
	struct evbuffer *in = h->cc->in;
	struct evbuffer_iovec v;
	ssize_t n;

	while (!h->ending && !h->held_paused && evbuffer_get_length(in) > 0) {
		size_t held = h2_held(h);

		if (held > h->held_peak)
			h->held_peak = held;
		if (held >= h2_held_max(h)) {
			/* the rest waits in the input, and the socket is not read */
			h->held_paused = 1;
			STATS_INC(h->w->stats->h2_held_pauses);
			break;
		}
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		h->in_cb = 1;
		n = nghttp2_session_mem_recv(h->ng, v.iov_base, v.iov_len);
		h->in_cb = 0;
		if (n < 0) {
			int reason = h->fatal >= 0 ? h->fatal : STATS_GOAWAY_PROTOCOL;

			if (n == NGHTTP2_ERR_FLOODED)
				reason = STATS_GOAWAY_CONTROL_FLOOD;
			else if (n == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS)
				reason = STATS_GOAWAY_CONTINUATION;
			h->fatal = -1;
			log_debug("h2 %p from %s: input: %s", (void *)h, h->peer->addr,
			    nghttp2_strerror((int)n));
			h2_fatal_goaway(h, reason);
			/* not HTTP/2 at all: the GOAWAY may go, then the close */
			if (n == NGHTTP2_ERR_BAD_CLIENT_MAGIC || !nghttp2_session_want_write(h->ng))
				h2_end_set(h, H2_END_NOW);
			break;
		}
		evbuffer_drain(in, (size_t)n);
	}
	if (h->ending)
		evbuffer_drain(in, evbuffer_get_length(in));
	return h2_run(h);
}

int
h2_write(struct h2conn *h)
{
	return h2_run(h);
}

static int
h2_submit_shutdown(struct h2conn *h, int reload)
{
	int32_t last = nghttp2_session_get_last_proc_stream_id(h->ng);

	if (h->shut || h->ending)
		return -1;
	h->shut = 1;
	h->shut_last = last;
	STATS_INC(h->w->stats->h2_goaways[reload ? STATS_GOAWAY_RELOAD : STATS_GOAWAY_SHUTDOWN]);
	h->goaway_ours++;
	if (nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR, NULL, 0) != 0)
		h->goaway_ours--;
	h->why = reload ? "reload" : "shutdown";
	return 0;
}

int
h2_shutdown(struct h2conn *h, int reload)
{
	if (h2_submit_shutdown(h, reload) == -1)
		return 0;
	return h2_run(h);
}

void
h2_goaway_soon(struct h2conn *h)
{
	if (h2_submit_shutdown(h, 0) == 0)
		h2_kick(h);
}

int
h2_close_disabled(struct h2conn *h)
{
	struct h2stream *st, *next;

	for (st = TAILQ_FIRST(&h->streams); st != NULL; st = next) {
		next = TAILQ_NEXT(st, link);
		if (st->ex.up != NULL && atomic_load_explicit(&st->ex.up->srv->state,
		    memory_order_relaxed) == SRV_DISABLED) {
			st->ex.term = EX_TERM_SHUTDOWN;
			h2_stream_kill(st, 1, NGHTTP2_CANCEL, "server disabled");
		}
	}
	return h2_run(h);
}

void
h2_end_streams(struct h2conn *h, enum exchange_term term)
{
	struct h2stream *st;

	TAILQ_FOREACH(st, &h->streams, link)
		if (st->ex_live)
			exchange_end(&st->ex, term);
}

int
h2_move_reverted(struct h2conn *h, struct service *sv, int pool)
{
	struct h2stream *st, *next;

	for (st = TAILQ_FIRST(&h->streams); st != NULL; st = next) {
		next = TAILQ_NEXT(st, link);
		if (st->ex_live && !h2s_closed(st))
			(void)exchange_move_to_stable(&st->ex, sv, pool);
	}
	return h2_run(h);
}

int
h2_move_from_down(struct h2conn *h)
{
	struct h2stream *st, *next;

	for (st = TAILQ_FIRST(&h->streams); st != NULL; st = next) {
		next = TAILQ_NEXT(st, link);
		if (st->ex_live && !h2s_closed(st))
			(void)exchange_move_from_down(&st->ex);
	}
	return h2_run(h);
}

int
h2_close_reverted(struct h2conn *h, struct service *sv, int pool)
{
	struct h2stream *st, *next;

	for (st = TAILQ_FIRST(&h->streams); st != NULL; st = next) {
		next = TAILQ_NEXT(st, link);
		if (st->tunnel && st->ex.state == EX_TUNNEL && st->ex.svc == sv &&
		    (int)st->ex.pool == pool)
			h2_stream_kill(st, 1, NGHTTP2_CANCEL, "tunnel to a reverted pool");
	}
	return h2_run(h);
}

int
h2_nstreams(const struct h2conn *h)
{
	return h->nstreams;
}
