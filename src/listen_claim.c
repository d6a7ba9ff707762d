/*
 * listen_claim.c - one bgproxy per listener address (see listen_claim.h).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "listen_claim.h"

static struct {
	struct config_addr addr;
	int fd;
} claims[CONFIG_MAX_LISTENERS];
static size_t nclaims;

static int
listen_same(const struct config_addr *a, const struct config_addr *b)
{
	return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

/* The abstract name of a: "bgproxy-listen ADDR PORT", the address as the
 * kernel has it (so "[::1]:80" and "[0:0::1]:80" are one).  Returns the
 * length of the sockaddr. */
static socklen_t
listen_name(const struct config_addr *a, struct sockaddr_un *un)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	int n;

	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
	} else if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
	}
	/* sun_path[0] stays NUL: the abstract namespace */
	n = snprintf(un->sun_path + 1, sizeof(un->sun_path) - 1, "bgproxy-listen %s %u", host, port);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/* The name of a, bound: its descriptor, or -1 with errno (EADDRINUSE: another
 * bgproxy has it). */
static int
listen_bind_name(const struct config_addr *a)
{
	struct sockaddr_un un;
	socklen_t len = listen_name(a, &un);
	int fd, e;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&un, len) == -1) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Nobody listens on a: a bind without SO_REUSEPORT succeeds (SO_REUSEADDR
 * lets it past connections in TIME_WAIT, never past a listener). */
static int
listen_port_free(const struct config_addr *a, char *err, size_t errlen)
{
	int fd, one = 1, r = 0;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "%s: socket: %s", a->text, strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1) {
		if (errno == EADDRINUSE) {
			snprintf(err, errlen, "listen address %s is in use by another program", a->text);
			r = 1;
		} else {
			snprintf(err, errlen, "cannot listen on %s: %s", a->text, strerror(errno));
			r = -1;
		}
	}
	close(fd);
	return r;
}

int
listen_held(const struct config_addr *a, char *err, size_t errlen)
{
	size_t i;
	int fd;

	for (i = 0; i < nclaims; i++)
		if (listen_same(&claims[i].addr, a))
			return 0;
	fd = listen_bind_name(a);
	if (fd == -1) {
		if (errno == EADDRINUSE) {
			snprintf(err, errlen, "listen address %s is held by another bgproxy", a->text);
			return 1;
		}
		snprintf(err, errlen, "%s: cannot claim the address: %s", a->text, strerror(errno));
		return -1;
	}
	close(fd);
	return listen_port_free(a, err, errlen);
}

int
listen_claim(const struct config_addr *a, char *err, size_t errlen)
{
	size_t i;
	int fd, r;

	for (i = 0; i < nclaims; i++)
		if (listen_same(&claims[i].addr, a))
			return 0;
	if (nclaims == CONFIG_MAX_LISTENERS) {
		snprintf(err, errlen, "%s: too many listener addresses", a->text);
		return -1;
	}
	fd = listen_bind_name(a);
	if (fd == -1) {
		if (errno == EADDRINUSE)
			snprintf(err, errlen, "listen address %s is held by another bgproxy", a->text);
		else
			snprintf(err, errlen, "%s: cannot claim the address: %s", a->text,
			    strerror(errno));
		return -1;
	}
	r = listen_port_free(a, err, errlen);
	if (r != 0) {
		close(fd);
		return -1;
	}
	claims[nclaims].addr = *a;
	claims[nclaims].fd = fd;
	nclaims++;
	return 0;
}

void
listen_release(const struct config_addr *a)
{
	size_t i;

	for (i = 0; i < nclaims; i++) {
		if (!listen_same(&claims[i].addr, a))
			continue;
		close(claims[i].fd);
		claims[i] = claims[--nclaims];
		return;
	}
}

/*
 * The host's listener lock: a name in the abstract namespace that one
 * process at a time holds while it checks its addresses and binds them, so
 * that two bgproxies started at the same moment on overlapping addresses
 * (0.0.0.0:80 and 127.0.0.1:80: different names, one port) cannot both
 * pass the check before either listens.  Held for milliseconds; waited for
 * up to LISTEN_LOCK_WAIT_MS.
 */
#define LISTEN_LOCK_WAIT_MS 10000

static int listen_lock_fd = -1;

int
listen_lock(char *err, size_t errlen)
{
	struct sockaddr_un un;
	socklen_t len;
	int fd, i;

	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
	    (size_t)snprintf(un.sun_path + 1, sizeof(un.sun_path) - 1, "bgproxy-listen-lock"));
	for (i = 0; i < LISTEN_LOCK_WAIT_MS / 5; i++) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd == -1)
			break;
		if (bind(fd, (struct sockaddr *)&un, len) == 0) {
			listen_lock_fd = fd;
			return 0;
		}
		close(fd);
		if (errno != EADDRINUSE)
			break;
		usleep(5000);
	}
	snprintf(err, errlen, "cannot take the listener lock: %s", errno == EADDRINUSE ?
	    "another bgproxy held it for 10 s" : strerror(errno));
	return -1;
}

void
listen_unlock(void)
{
	if (listen_lock_fd != -1)
		close(listen_lock_fd);
	listen_lock_fd = -1;
}

int
listen_recheck(const struct config_addr *a, char *err, size_t errlen)
{
	return listen_port_free(a, err, errlen) == 0 ? 0 : -1;
}
