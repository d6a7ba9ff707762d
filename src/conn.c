/*
 * conn.c - buffered non-blocking socket I/O on an event_base.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <pthread.h>

#include <event2/buffer.h>
#include <openssl/bio.h>
#include <openssl/err.h>

#include "conn.h"

#define CONN_READ_MIN (8 * 1024)
#define CONN_READ_MAX (256 * 1024)
/*
 * What one read takes while other events wait in the loop.  A read of a
 * client's HTTP/2 connection is demultiplexed and fanned out to its
 * streams' servers at once: at 256 KiB a turn, 40 clients uploading made
 * every pass of the loop take 100-200 ms, and a new client waited several
 * passes for its answer (bench/h2_abuse.py: side p99 200 ms, HAProxy's 35).
 * In small bites a pass is short.  A few events waiting (one download: its
 * client's write, its server's read) keep the large reads that make a
 * transfer fast (docs/performance.md, slow readers).
 */
#define CONN_READ_FAIR (16 * 1024)
#define CONN_FAIR_AFTER 8    /* events waiting in the loop */

/* How much this turn of c's read may take. */
static size_t
conn_read_budget(const struct conn *c)
{
	return event_base_get_num_events(c->base, EVENT_BASE_COUNT_ACTIVE) > CONN_FAIR_AFTER ?
	    CONN_READ_FAIR : CONN_READ_MAX;
}

static void conn_read_handler(evutil_socket_t fd, short what, void *arg);
static void conn_write_handler(evutil_socket_t fd, short what, void *arg);

static int
conn_has_rto(const struct conn *c)
{
	return c->rto.tv_sec != 0 || c->rto.tv_usec != 0;
}

static int
conn_has_wto(const struct conn *c)
{
	return c->wto.tv_sec != 0 || c->wto.tv_usec != 0;
}

/*
 * TLS goes through our own BIO: reads come straight from the socket, writes
 * collect in c->tls_wbuf and go out when conn.c says so.  During the
 * handshake every flush OpenSSL asks for is done at once (a flight must
 * leave before we wait for the answer).  Afterwards OpenSSL's flushes are
 * held: the session ticket it writes when the handshake ends waits for the
 * response and leaves in the same write (and segment) with it, instead of
 * costing a write here and a wakeup at the client.  conn_tls_send() sends
 * what waits; every path that wants output gone (a write, a close, a
 * half-close) calls it, and conn_out_pending() counts it as output.
 */
#define CONN_TLS_WBUF_MAX (64 * 1024)  /* records waiting: SSL_write waits above */

static BIO_METHOD *conn_bio_method;
static pthread_once_t conn_bio_once = PTHREAD_ONCE_INIT;

/* Write buf to the socket as far as it takes it.  0: all written or the
 * socket is full; -1: error (c->err set). */
static int
conn_write_buf(struct conn *c, struct evbuffer *buf)
{
	int n;

	while (evbuffer_get_length(buf) > 0) {
		n = evbuffer_write(buf, c->fd);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			c->err = errno;
			return -1;
		}
		if (n == 0)
			return 0;
	}
	return 0;
}

/* Send what waits in tls_wbuf. */
static int
conn_tls_send(struct conn *c)
{
	return c->tls_wbuf != NULL ? conn_write_buf(c, c->tls_wbuf) : 0;
}

static int
conn_bio_write(BIO *b, const char *buf, int len)
{
	struct conn *c = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	if (evbuffer_get_length(c->tls_wbuf) >= CONN_TLS_WBUF_MAX) {
		/* enough waits: SSL_write answers WANT_WRITE, the write event sends */
		BIO_set_retry_write(b);
		return -1;
	}
	if (evbuffer_add(c->tls_wbuf, buf, (size_t)len) == -1)
		return -1;
	return len;
}

static int
conn_bio_read(BIO *b, char *buf, int len)
{
	struct conn *c = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	n = recv(c->fd, buf, (size_t)len, 0);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_read(b);
	return (int)n;
}

static long
conn_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct conn *c = BIO_get_data(b);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		/* after the handshake conn.c decides when records leave; the
		 * TLS 1.3 session ticket is written and flushed at its very end */
		if (c->hs_done || SSL_get_state(c->ssl) == TLS_ST_SW_SESSION_TICKET)
			return 1;
		BIO_clear_retry_flags(b);
		if (conn_tls_send(c) == -1)
			return -1;
		if (evbuffer_get_length(c->tls_wbuf) > 0) {
			BIO_set_retry_write(b);
			return -1;
		}
		return 1;
	case BIO_CTRL_WPENDING:
		return (long)evbuffer_get_length(c->tls_wbuf);
	case BIO_CTRL_PUSH:
	case BIO_CTRL_POP:
		return 0;
	default:
		return 0;
	}
}

static int
conn_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void
conn_bio_make_method(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "bgproxy conn");

	if (m == NULL || BIO_meth_set_write(m, conn_bio_write) != 1 ||
	    BIO_meth_set_read(m, conn_bio_read) != 1 ||
	    BIO_meth_set_ctrl(m, conn_bio_ctrl) != 1 ||
	    BIO_meth_set_create(m, conn_bio_create) != 1) {
		BIO_meth_free(m);
		return;
	}
	conn_bio_method = m;
}

size_t
conn_out_pending(const struct conn *c)
{
	size_t n = c->out != NULL ? evbuffer_get_length(c->out) : 0;

	if (c->tls_wbuf != NULL)
		n += evbuffer_get_length(c->tls_wbuf);
	return n;
}

size_t
conn_push_cb(void *arg, int hold)
{
	struct conn *c = arg;

	if (hold)
		conn_flush_hold(c);
	else
		conn_flush(c);
	return conn_out_pending(c);
}

static int
conn_setup(struct conn *c, struct event_base *base, evutil_socket_t fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->base = base;
	c->rsize = CONN_READ_MIN;
	c->rmax = CONN_READ_MAX;
	c->in = evbuffer_new();
	c->out = evbuffer_new();
	if (c->in == NULL || c->out == NULL) {
		if (c->in != NULL)
			evbuffer_free(c->in);
		if (c->out != NULL)
			evbuffer_free(c->out);
		c->in = c->out = NULL;
		return -1;
	}
	event_assign(&c->rev, base, fd, EV_READ | EV_PERSIST, conn_read_handler, c);
	event_assign(&c->wev, base, fd, EV_WRITE | EV_PERSIST, conn_write_handler, c);
	return 0;
}

int
conn_init(struct conn *c, struct event_base *base, evutil_socket_t fd)
{
	return conn_setup(c, base, fd);
}

int
conn_connect(struct conn *c, struct event_base *base, const struct sockaddr *sa,
    socklen_t salen, const struct timeval *cto)
{
	evutil_socket_t fd;
	int one = 1;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (conn_setup(c, base, fd) == -1) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	c->connecting = 1;
	if (cto != NULL)
		c->cto = *cto;
	if (connect(fd, sa, salen) == -1 && errno != EINPROGRESS) {
		/* reported from the event loop like any other connect failure */
		c->err = errno;
		c->failed = 1;
		event_active(&c->wev, EV_WRITE, 1);
		return 0;
	}
	c->writing = 1;
	event_add(&c->wev, cto != NULL ? &c->cto : NULL);
	return 0;
}

void
conn_release(struct conn *c)
{
	event_del(&c->rev);
	event_del(&c->wev);
	if (c->ssl != NULL) {
		/* best effort close_notify, with whatever still waits; the socket
		 * is non-blocking */
		conn_close_notify(c);
		/* after an error too: an alert OpenSSL wrote goes out */
		(void)conn_tls_send(c);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->tls_wbuf != NULL)
		evbuffer_free(c->tls_wbuf);
	c->tls_wbuf = NULL;
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	if (c->in != NULL)
		evbuffer_free(c->in);
	c->in = NULL;
	if (c->out != NULL)
		evbuffer_free(c->out);
	c->out = NULL;
}

void
conn_setcb(struct conn *c, conn_cb readcb, conn_cb writecb, conn_event_cb eventcb, void *arg)
{
	c->readcb = readcb;
	c->writecb = writecb;
	c->eventcb = eventcb;
	c->arg = arg;
}

void
conn_set_timeouts(struct conn *c, const struct timeval *rd, const struct timeval *wr)
{
	struct timeval zero = { 0, 0 };

	c->rto = rd != NULL ? *rd : zero;
	c->wto = wr != NULL ? *wr : zero;
	/* re-adding an added event only moves its timer: no system call.  But
	 * event_add(ev, NULL) keeps a timer it had: that one must be removed */
	if (c->reading) {
		if (conn_has_rto(c))
			event_add(&c->rev, &c->rto);
		else
			event_remove_timer(&c->rev);
	}
	if (c->writing && !c->connecting) {
		if (conn_has_wto(c))
			event_add(&c->wev, &c->wto);
		else
			event_remove_timer(&c->wev);
	}
}

void
conn_read_enable(struct conn *c)
{
	c->want_read = 1;
	if (c->reading || c->eof || c->connecting)
		return;
	c->reading = 1;
	event_add(&c->rev, conn_has_rto(c) ? &c->rto : NULL);
	/* bytes OpenSSL already holds would never wake the socket's event */
	if (c->ssl != NULL && c->hs_done && (SSL_has_pending(c->ssl) || c->tls_end != 0))
		event_active(&c->rev, EV_READ, 1);
}

void
conn_read_disable(struct conn *c)
{
	c->want_read = 0;
	if (!c->reading)
		return;
	c->reading = 0;
	event_del(&c->rev);
}

/* Write as much as the socket takes.  0: all written or waiting for the
 * socket; -1: error (c->err set). */
/* TLS: one record (at most 16 KiB) per SSL_write. */
static int
conn_tls_write_some(struct conn *c)
{
	size_t len;
	int n;

	/* records go after what waits (a session ticket, or what the socket
	 * did not take); CONN_TLS_WBUF_MAX bounds it, then SSL_write waits */
	while ((len = evbuffer_get_length(c->out)) > 0 && !c->wr_want_read) {
		if (len > 16384)
			len = 16384;
		ERR_clear_error();
		n = SSL_write(c->ssl, evbuffer_pullup(c->out, (ssize_t)len), (int)len);
		if (n > 0) {
			evbuffer_drain(c->out, (size_t)n);
			continue;
		}
		switch (SSL_get_error(c->ssl, n)) {
		case SSL_ERROR_WANT_WRITE:
			/* the write buffer is full: held or not, it must go */
			return conn_tls_send(c);
		case SSL_ERROR_WANT_READ:
			c->wr_want_read = 1;    /* the read handler writes on */
			return conn_tls_send(c);
		default:
			c->err = EPIPE;
			c->tls_end = 2;
			c->tls_err = ERR_peek_error();
			return -1;
		}
	}
	/* the records of this write, and a session ticket waiting, in one go */
	return c->tls_hold ? 0 : conn_tls_send(c);
}

static int
conn_write_some(struct conn *c)
{
	if (c->ssl != NULL)
		return c->hs_done ? conn_tls_write_some(c) : 0;
	return conn_write_buf(c, c->out);
}

static void
conn_want_write(struct conn *c, int want)
{
	if (want && !c->writing) {
		c->writing = 1;
		event_add(&c->wev, conn_has_wto(c) ? &c->wto : NULL);
	} else if (!want && c->writing) {
		c->writing = 0;
		event_del(&c->wev);
	}
}

void
conn_flush(struct conn *c)
{
	if (c->connecting || c->failed || c->fd == -1)
		return;
	if (!c->writing && conn_write_some(c) == -1) {
		/* delivered by the write event, never from inside the caller */
		c->failed = 1;
		event_active(&c->wev, EV_WRITE, 1);
		return;
	}
	conn_want_write(c, conn_out_pending(c) > 0);
}

void
conn_flush_hold(struct conn *c)
{
	int r;

	if (c->ssl == NULL || !c->hs_done || c->tls_wbuf == NULL || c->writing ||
	    c->connecting || c->failed || c->fd == -1) {
		conn_flush(c);
		return;
	}
	/* no write event either: the caller's next conn_flush sends and arms it */
	c->tls_hold = 1;
	r = conn_tls_write_some(c);
	c->tls_hold = 0;
	if (r == -1) {
		c->failed = 1;
		event_active(&c->wev, EV_WRITE, 1);
	}
}

void
conn_close_notify(struct conn *c)
{
	if (c->ssl == NULL || !c->hs_done || c->tls_shut || c->tls_end == 2)
		return;
	c->tls_shut = 1;
	SSL_shutdown(c->ssl);
}

void
conn_shutdown_write(struct conn *c)
{
	if (c->ssl != NULL && c->hs_done) {
		conn_close_notify(c);
		(void)conn_tls_send(c);
	}
	if (c->fd != -1)
		shutdown(c->fd, SHUT_WR);
}

void
conn_start_tls(struct conn *c, SSL *ssl)
{
	BIO *b = NULL;

	pthread_once(&conn_bio_once, conn_bio_make_method);
	c->ssl = ssl;
	if (conn_bio_method != NULL && (c->tls_wbuf = evbuffer_new()) != NULL &&
	    (b = BIO_new(conn_bio_method)) != NULL) {
		BIO_set_data(b, c);
		SSL_set_bio(ssl, b, b);
		return;
	}
	/* without memory for our BIO: OpenSSL's socket BIO does the job */
	if (c->tls_wbuf != NULL)
		evbuffer_free(c->tls_wbuf);
	c->tls_wbuf = NULL;
	SSL_set_fd(ssl, c->fd);
}

/*
 * Drive the handshake.  1: done (the owner was told), 0: in progress,
 * -1: failed (the owner was told and may have freed c: do not touch it).
 */
static int
conn_tls_handshake(struct conn *c)
{
	int r;

	ERR_clear_error();
	r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->hs_done = 1;
		/* a session ticket may wait in tls_wbuf: it leaves with the response */
		conn_want_write(c, evbuffer_get_length(c->out) > 0);
		/* read-ahead may have taken the client's first records with its
		 * Finished: when the handshake ends on the write side nothing else
		 * would read them (the socket is drained) */
		if (SSL_has_pending(c->ssl))
			event_active(&c->rev, EV_READ, 1);
		c->eventcb(c, CONN_EV_HANDSHAKE, c->arg);
		return 1;
	}
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		conn_want_write(c, 0);
		return 0;
	case SSL_ERROR_WANT_WRITE:
		conn_want_write(c, 1);
		return 0;
	default:
		c->err = EPROTO;
		c->tls_end = 2;
		c->tls_err = ERR_peek_error();
		c->eventcb(c, CONN_EV_ERROR | CONN_EV_HANDSHAKE, c->arg);
		return -1;
	}
}

/*
 * TLS reads: SSL_read until it wants more from the socket (a level
 * triggered read event would not fire again for bytes OpenSSL already
 * holds), at most conn_read_budget() per wakeup.  A close or an error found
 * behind data is delivered on the next turn of the loop, after the data.
 */
static void
conn_tls_read(struct conn *c)
{
	struct evbuffer_iovec v;
	size_t total = 0, budget;
	int n;

	if (c->tls_end != 0) {
		c->eof = 1;
		c->reading = 0;
		event_del(&c->rev);
		c->eventcb(c, c->tls_end == 1 ? CONN_EV_EOF | CONN_EV_READING :
		    CONN_EV_ERROR | CONN_EV_READING, c->arg);
		return;
	}
	if (!c->hs_done && conn_tls_handshake(c) <= 0)
		return;
	if (c->wr_want_read) {
		c->wr_want_read = 0;
		if (conn_tls_write_some(c) == 0)
			conn_want_write(c, conn_out_pending(c) > 0);
	}
	budget = conn_read_budget(c);
	while (total < budget) {
		if (evbuffer_reserve_space(c->in, 16384, &v, 1) != 1) {
			c->tls_end = 2;
			break;
		}
		ERR_clear_error();
		n = SSL_read(c->ssl, v.iov_base, (int)v.iov_len);
		if (n > 0) {
			v.iov_len = (size_t)n;
			evbuffer_commit_space(c->in, &v, 1);
			total += (size_t)n;
			continue;
		}
		evbuffer_commit_space(c->in, &v, 0);
		switch (SSL_get_error(c->ssl, n)) {
		case SSL_ERROR_WANT_READ:
			break;
		case SSL_ERROR_WANT_WRITE:
			c->rd_want_write = 1;
			conn_want_write(c, 1);
			break;
		case SSL_ERROR_ZERO_RETURN:
			c->tls_end = 1;
			break;
		case SSL_ERROR_SYSCALL:
			/* a peer that closes without close_notify: EOF */
			c->tls_end = ERR_peek_error() == 0 ? 1 : 2;
			c->tls_err = ERR_peek_error();
			break;
		default:
			/* the reason kept: it is told on the next turn, when the
			 * thread's error queue holds other connections' */
			c->tls_end = 2;
			c->tls_err = ERR_peek_error();
			break;
		}
		break;
	}
	/* records OpenSSL wrote while reading (a refusal of renegotiation,
	 * an answer to a TLS 1.3 KeyUpdate) leave now, not with the next
	 * response: a client waiting for them would wait for ever */
	if (c->hs_done && c->tls_end == 0 && evbuffer_get_length(c->tls_wbuf) > 0 &&
	    !c->writing) {
		if (conn_tls_send(c) == -1)
			c->tls_end = 2;
		else
			conn_want_write(c, conn_out_pending(c) > 0);
	}
	if (c->tls_end != 0 || total >= budget)
		event_active(&c->rev, EV_READ, 1);     /* the rest on the next turn */
	/* a close or error without data is delivered by the activation above */
	if (total > 0)
		c->readcb(c, c->arg);
}

static void
conn_read_handler(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct evbuffer_iovec v[2];
	size_t have, want, fair;
	int nv;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		c->eventcb(c, CONN_EV_TIMEOUT | CONN_EV_READING, c->arg);
		return;
	}
	if (c->ssl != NULL) {
		conn_tls_read(c);
		return;
	}
	have = evbuffer_get_length(c->in);
	if (have >= c->rmax) {
		/* full: the owner drains `in` and enables reading again */
		c->reading = 0;
		event_del(&c->rev);
		return;
	}
	want = c->rsize < c->rmax - have ? c->rsize : c->rmax - have;
	fair = conn_read_budget(c);
	if (want > fair)
		want = fair;
	nv = evbuffer_reserve_space(c->in, (ssize_t)want, v, 2);
	if (nv <= 0) {
		c->err = ENOMEM;
		c->eventcb(c, CONN_EV_ERROR | CONN_EV_READING, c->arg);
		return;
	}
	/* the reservation may be larger than asked for: read no more than want */
	if (v[0].iov_len >= want) {
		v[0].iov_len = want;
		nv = 1;
	} else if (nv == 2 && v[0].iov_len + v[1].iov_len > want) {
		v[1].iov_len = want - v[0].iov_len;
	}
	n = readv(fd, (struct iovec *)v, nv);
	if (n == -1) {
		evbuffer_commit_space(c->in, v, 0);
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		c->err = errno;
		c->eventcb(c, CONN_EV_ERROR | CONN_EV_READING, c->arg);
		return;
	}
	if (n == 0) {
		evbuffer_commit_space(c->in, v, 0);
		c->eof = 1;
		c->reading = 0;
		event_del(&c->rev);
		c->eventcb(c, CONN_EV_EOF | CONN_EV_READING, c->arg);
		return;
	}
	/* a read that filled the space asks for more next time: bodies move in
	 * large reads, small requests do not pay for a large buffer */
	if ((size_t)n == want && want == c->rsize && c->rsize < c->rmax && c->rsize < CONN_READ_MAX)
		c->rsize *= 2;
	if ((size_t)n <= v[0].iov_len) {
		v[0].iov_len = (size_t)n;
		nv = 1;
	} else {
		v[1].iov_len = (size_t)n - v[0].iov_len;
	}
	evbuffer_commit_space(c->in, v, nv);
	c->readcb(c, c->arg);
}

static void
conn_write_handler(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	socklen_t len = sizeof(int);
	int e = 0;

	if (c->failed) {
		conn_want_write(c, 0);
		c->failed = 0;
		c->eventcb(c, CONN_EV_ERROR | CONN_EV_WRITING, c->arg);
		return;
	}
	if (what & EV_TIMEOUT) {
		c->eventcb(c, CONN_EV_TIMEOUT | CONN_EV_WRITING, c->arg);
		return;
	}
	if (c->connecting) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
			e = errno;
		if (e != 0) {
			c->err = e;
			conn_want_write(c, 0);
			c->eventcb(c, CONN_EV_ERROR | CONN_EV_WRITING, c->arg);
			return;
		}
		c->connecting = 0;
		c->writing = 0;         /* re-added below with the write timeout if needed */
		event_del(&c->wev);
		if (c->want_read)
			conn_read_enable(c);
	}
	if (c->ssl != NULL) {
		if (!c->hs_done) {
			if (conn_tls_handshake(c) <= 0)
				return;
		}
		if (c->rd_want_write) {
			/* SSL_read waited for this: read on from the loop */
			c->rd_want_write = 0;
			event_active(&c->rev, EV_READ, 1);
		}
	}
	if (conn_write_some(c) == -1) {
		conn_want_write(c, 0);
		c->eventcb(c, CONN_EV_ERROR | CONN_EV_WRITING, c->arg);
		return;
	}
	conn_want_write(c, conn_out_pending(c) > 0);
	if (conn_out_pending(c) <= c->wlowat && c->writecb != NULL)
		c->writecb(c, c->arg);
}
