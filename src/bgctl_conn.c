/*
 * bgctl_conn.c - connect, send, read one answer (see bgctl_conn.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bgctl_conn.h"

volatile sig_atomic_t bgctl_stop;

/* Waits for events on fd; returns 1 ready, 0 timeout, -1 error (errno). */
static int
bgctl_wait(int fd, short events, int timeout_ms)
{
	struct timespec start, now;
	struct pollfd pfd = { .fd = fd, .events = events };
	long spent;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		spent = (now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000;
		if (spent >= timeout_ms)
			return 0;
		r = poll(&pfd, 1, (int)(timeout_ms - spent));
		if (r == -1 && errno == EINTR && !bgctl_stop)
			continue;	/* resume with what is left of the timeout */
		return r > 0 ? 1 : r;
	}
}

static int
bgctl_connect(const char *path, int timeout_ms, char *err, size_t errlen)
{
	struct sockaddr_un addr;
	socklen_t sl = sizeof(int);
	int fd, soerr = 0;

	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, errlen, "the path is longer than %zu bytes",
		    sizeof(addr.sun_path) - 1);
		return -1;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
		return fd;
	/* an interrupted connect goes on in the background: wait for its end */
	if (errno == EINTR && bgctl_wait(fd, POLLOUT, timeout_ms) == 1 &&
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
		return fd;
	snprintf(err, errlen, "%s", strerror(soerr ? soerr : errno));
	close(fd);
	return -1;
}

static int
bgctl_send(int fd, const char *buf, size_t len, int timeout_ms, char *err, size_t errlen)
{
	ssize_t n;
	int r;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((r = bgctl_wait(fd, POLLOUT, timeout_ms)) != 1) {
				snprintf(err, errlen, "%s", r == 0 ? "timed out" : strerror(errno));
				return -1;
			}
			continue;
		}
		if (n == -1) {
			snprintf(err, errlen, "%s", strerror(errno));
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Looks at the new bytes for line ends; true once the empty line came. */
static bool
bgctl_answer_scan(struct bgctl_answer *a)
{
	char *nl;
	size_t end;

	while (a->a_scan < a->a_len &&
	    (nl = memchr(a->a_buf + a->a_scan, '\n', a->a_len - a->a_scan)) != NULL) {
		end = (size_t)(nl - a->a_buf);
		a->a_scan = end + 1;
		if (end > a->a_line && a->a_buf[end - 1] == '\r')
			end--;	/* tolerate CRLF framing */
		if (!a->a_have_first && end == a->a_line) {
			/* an empty first line is broken; stop here, bgctl_finish says so */
			a->a_have_first = true;
			return true;
		}
		if (!a->a_have_first) {
			a->a_have_first = true;
			a->a_first_end = end;
			a->a_body = a->a_scan;
		} else if (end == a->a_line) {
			a->a_body_end = a->a_line;
			return true;
		}
		a->a_line = a->a_scan;
	}
	a->a_scan = a->a_len;
	return false;
}

static int
bgctl_answer_grow(struct bgctl_answer *a, char *err, size_t errlen)
{
	size_t cap = a->a_cap ? a->a_cap * 2 : 4096;
	char *p;

	if (a->a_cap >= BGCTL_ANSWER_MAX) {
		snprintf(err, errlen, "the answer is larger than %u MB", BGCTL_ANSWER_MAX >> 20);
		return -1;
	}
	if (cap > BGCTL_ANSWER_MAX)
		cap = BGCTL_ANSWER_MAX;
	/* one spare byte keeps the buffer NUL-terminated for the JSON reader */
	if ((p = realloc(a->a_buf, cap + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	a->a_buf = p;
	a->a_cap = cap;
	return 0;
}

/* Reads until the empty line; the server may keep the connection open. */
static enum bgctl_recv
bgctl_recv(int fd, int timeout_ms, struct bgctl_answer *a, char *err, size_t errlen)
{
	ssize_t n;
	int r;

	for (;;) {
		if (a->a_len == a->a_cap && bgctl_answer_grow(a, err, errlen) == -1)
			return BGCTL_RECV_FAIL;
		if ((r = bgctl_wait(fd, POLLIN, timeout_ms)) == 0)
			return BGCTL_RECV_TIMEOUT;
		if (r == -1) {
			snprintf(err, errlen, "%s", strerror(errno));
			return BGCTL_RECV_FAIL;
		}
		n = read(fd, a->a_buf + a->a_len, a->a_cap - a->a_len);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n == 0 || (n == -1 && errno == ECONNRESET))
			return BGCTL_RECV_CLOSED;
		if (n == -1) {
			snprintf(err, errlen, "%s", strerror(errno));
			return BGCTL_RECV_FAIL;
		}
		a->a_len += (size_t)n;
		a->a_buf[a->a_len] = '\0';
		if (bgctl_answer_scan(a))
			return BGCTL_RECV_DONE;
	}
}


/* Forgets the last answer, keeping its buffer. */
static void
bgctl_answer_reset(struct bgctl_answer *a)
{
	char *buf = a->a_buf;
	size_t cap = a->a_cap;

	memset(a, 0, sizeof(*a));
	a->a_buf = buf;
	a->a_cap = cap;
}

void
bgctl_conn_close(struct bgctl_conn *c)
{
	if (c->c_fd != -1)
		close(c->c_fd);
	c->c_fd = -1;
}

/*
 * Sends one line (with its "\n") and reads its answer, connecting first
 * when needed.  Any failure closes the connection: the next call starts
 * a fresh one (the server closes idle admin connections).
 */
enum bgctl_recv
bgctl_call(struct bgctl_conn *c, const char *line, size_t len, struct bgctl_answer *a,
    char *err, size_t errlen)
{
	enum bgctl_recv how;
	int reused, tries;

	for (tries = 0; tries < 2; tries++) {
		bgctl_answer_reset(a);
		reused = c->c_fd != -1;
		if (!reused &&
		    (c->c_fd = bgctl_connect(c->c_path, c->c_timeout_ms, err, errlen)) == -1)
			return BGCTL_RECV_UNREACHABLE;
		if (bgctl_send(c->c_fd, line, len, c->c_timeout_ms, err, errlen) == -1) {
			how = BGCTL_RECV_SENDFAIL;
		} else {
			how = bgctl_recv(c->c_fd, c->c_timeout_ms, a, err, errlen);
			if (how == BGCTL_RECV_DONE)
				return how;
		}
		bgctl_conn_close(c);
		/* a kept connection the server closed while idle: once more on a new one */
		if (!reused || a->a_len > 0 || bgctl_stop ||
		    (how != BGCTL_RECV_SENDFAIL && how != BGCTL_RECV_CLOSED))
			break;
	}
	return how;
}

/* 1 for "OK", 0 for "ERR ...", -1 for anything else. */
int
bgctl_answer_ok(const struct bgctl_answer *a)
{
	const char *f = a->a_buf;
	size_t fl = a->a_first_end;

	if (fl == 2 && memcmp(f, "OK", 2) == 0)
		return 1;
	if (fl >= 3 && memcmp(f, "ERR", 3) == 0 && (fl == 3 || f[3] == ' '))
		return 0;
	return -1;
}

/* The first body line of an answer, as JSON; NULL with err when it is none. */
json_t *
bgctl_answer_json(const struct bgctl_answer *a, int type, char *err, size_t errlen)
{
	const char *body = a->a_buf + a->a_body, *nl;
	size_t blen = a->a_body_end - a->a_body;
	json_error_t je;
	json_t *j;

	if (blen == 0) {
		snprintf(err, errlen, "the answer has no JSON line");
		return NULL;
	}
	nl = memchr(body, '\n', blen);
	if ((j = json_loadb(body, (size_t)(nl - body), JSON_REJECT_DUPLICATES, &je)) == NULL) {
		snprintf(err, errlen, "%s", je.text);
		return NULL;
	}
	if (json_typeof(j) != (json_type)type) {
		snprintf(err, errlen, "not a JSON %s", type == JSON_ARRAY ? "list" : "object");
		json_decref(j);
		return NULL;
	}
	return j;
}

/* Why a call failed, for the operator. */
void
bgctl_why(const struct bgctl_conn *c, const struct bgctl_answer *a, enum bgctl_recv how,
    const char *err, char *buf, size_t len)
{
	switch (how) {
	case BGCTL_RECV_UNREACHABLE:
		snprintf(buf, len, "cannot reach %s: %s", c->c_path, err);
		break;
	case BGCTL_RECV_SENDFAIL:
		snprintf(buf, len, "cannot send to %s: %s", c->c_path, err);
		break;
	case BGCTL_RECV_CLOSED:
		snprintf(buf, len, "connection closed before the end of the answer");
		break;
	case BGCTL_RECV_TIMEOUT:
		snprintf(buf, len, "no answer from %s within %d ms", c->c_path, c->c_timeout_ms);
		break;
	case BGCTL_RECV_FAIL:
		snprintf(buf, len, "cannot read from %s: %s", c->c_path, err);
		break;
	case BGCTL_RECV_DONE:
		if (bgctl_answer_ok(a) == 0)
			snprintf(buf, len, "error: %.*s", (int)(a->a_first_end > 4 ?
			    a->a_first_end - 4 : 0), a->a_buf + 4);
		else
			snprintf(buf, len, "broken answer from %s: %s", c->c_path, err[0] ? err :
			    "the first line is neither OK nor ERR");
		break;
	}
}
