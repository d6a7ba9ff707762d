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

#include <event2/buffer.h>

#include "conn.h"

#define CONN_READ_MIN (8 * 1024)
#define CONN_READ_MAX (256 * 1024)

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

static int
conn_setup(struct conn *c, struct event_base *base, evutil_socket_t fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->base = base;
	c->rsize = CONN_READ_MIN;
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
	/* re-adding an added event only moves its timer: no system call */
	if (c->reading)
		event_add(&c->rev, conn_has_rto(c) ? &c->rto : NULL);
	if (c->writing && !c->connecting)
		event_add(&c->wev, conn_has_wto(c) ? &c->wto : NULL);
}

void
conn_read_enable(struct conn *c)
{
	c->want_read = 1;
	if (c->reading || c->eof || c->connecting)
		return;
	c->reading = 1;
	event_add(&c->rev, conn_has_rto(c) ? &c->rto : NULL);
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
static int
conn_write_some(struct conn *c)
{
	int n;

	while (evbuffer_get_length(c->out) > 0) {
		n = evbuffer_write(c->out, c->fd);
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
	conn_want_write(c, evbuffer_get_length(c->out) > 0);
}

void
conn_shutdown_write(struct conn *c)
{
	if (c->fd != -1)
		shutdown(c->fd, SHUT_WR);
}

static void
conn_read_handler(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct evbuffer_iovec v[2];
	int nv;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		c->eventcb(c, CONN_EV_TIMEOUT | CONN_EV_READING, c->arg);
		return;
	}
	nv = evbuffer_reserve_space(c->in, (ssize_t)c->rsize, v, 2);
	if (nv <= 0) {
		c->err = ENOMEM;
		c->eventcb(c, CONN_EV_ERROR | CONN_EV_READING, c->arg);
		return;
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
	if ((size_t)n == c->rsize && c->rsize < CONN_READ_MAX)
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
	if (conn_write_some(c) == -1) {
		conn_want_write(c, 0);
		c->eventcb(c, CONN_EV_ERROR | CONN_EV_WRITING, c->arg);
		return;
	}
	conn_want_write(c, evbuffer_get_length(c->out) > 0);
	if (evbuffer_get_length(c->out) <= c->wlowat && c->writecb != NULL)
		c->writecb(c, c->arg);
}
