/*
 * config_addr.c - listen and server addresses ("host:port", "[v6]:port",
 * "*:port") and the CIDRs of split.override_from.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* strerror_r returning char * */
#endif

#include "config_int.h"

#include <ctype.h>

#include <arpa/inet.h>
#include <errno.h>
#include <libconfig.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- addresses and CIDRs ---- */

static int parse_port(const char *p, in_port_t *port)
{
	size_t n = strlen(p);
	long v;

	if (n == 0 || n > 5 || strspn(p, "0123456789") != n)
		return -1;
	v = strtol(p, NULL, 10);
	if (v < 1 || v > 65535)
		return -1;
	*port = htons((in_port_t)v);
	return 0;
}

static int addr_fill(struct config_addr *a, const char *host, int v6, in_port_t port)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;

	if (v6) {
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return -1;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = port;
		a->len = sizeof *in6;
		return 0;
	}
	if (strcmp(host, "*") == 0)
		host = "0.0.0.0";
	else if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
		return -1;
	in->sin_family = AF_INET;
	in->sin_port = port;
	a->len = sizeof *in;
	return 0;
}

int config_parse_addr(const char *s, struct config_addr *a, char *err, size_t errlen)
{
	char host[128];
	const char *colon, *hs = s;
	size_t hlen;
	int v6 = 0;
	in_port_t port;

	memset(a, 0, sizeof *a);
	if (strlen(s) >= sizeof a->text) {
		snprintf(err, errlen, "address is too long (at most %zu bytes)", sizeof a->text - 1);
		return -1;
	}
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			goto bad;
		hs = s + 1;
		hlen = (size_t)(close - hs);
		colon = close + 1;
		v6 = 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
			goto bad;
		hlen = (size_t)(colon - s);
	}
	memcpy(host, hs, hlen);
	host[hlen] = '\0';
	if (hlen == 0 || addr_fill(a, host, v6, 0) == -1)
		goto bad;
	if (parse_port(colon + 1, &port) == -1) {
		snprintf(err, errlen, "port must be 1..65535, got \"%s\"", colon + 1);
		return -1;
	}
	((struct sockaddr_in *)&a->ss)->sin_port = port;   /* same offset in sockaddr_in6 */
	strcpy(a->text, s);
	return 0;
bad:
	memset(a, 0, sizeof *a);
	snprintf(err, errlen, "bad address \"%s\"; allowed: IPV4:PORT, [IPV6]:PORT, *:PORT "
	    "or localhost:PORT with a numeric IP", s);
	return -1;
}

int config_parse_cidr(const char *s, struct config_cidr *c)
{
	char ip[64];
	const char *slash = strchr(s, '/');
	size_t len = slash ? (size_t)(slash - s) : strlen(s);
	int max;

	memset(c, 0, sizeof *c);
	if (len == 0 || len >= sizeof ip)
		return -1;
	memcpy(ip, s, len);
	ip[len] = '\0';
	if (inet_pton(AF_INET, ip, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, ip, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		return -1;
	}
	c->prefix = max;
	if (slash) {
		size_t n = strlen(slash + 1);
		if (n == 0 || n > 3 || strspn(slash + 1, "0123456789") != n)
			return -1;
		c->prefix = atoi(slash + 1);
		if (c->prefix > max)
			return -1;
	}
	return 0;
}

static int prefix_match(const uint8_t *a, const uint8_t *b, int prefix)
{
	int bytes = prefix / 8, bits = prefix % 8;

	if (memcmp(a, b, (size_t)bytes) != 0)
		return 0;
	if (bits == 0)
		return 1;
	uint8_t mask = (uint8_t)(0xff << (8 - bits));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

/* A v4-mapped v6 peer (dual-stack listener) matches v4 CIDRs too. */
int config_cidr_match(const struct config_cidr *c, size_t n, const struct sockaddr *sa)
{
	const uint8_t *v4 = NULL, *v6 = NULL;

	if (sa->sa_family == AF_INET) {
		v4 = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		v6 = a6->s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6))
			v4 = a6->s6_addr + 12;
	}
	for (size_t i = 0; i < n; i++) {
		if (c[i].family == AF_INET && v4 && prefix_match(c[i].addr, v4, c[i].prefix))
			return 1;
		if (c[i].family == AF_INET6 && v6 && prefix_match(c[i].addr, v6, c[i].prefix))
			return 1;
	}
	return 0;
}

int config_addr_equal(const struct config_addr *a, const struct config_addr *b)
{
	return a->len != 0 && a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

/* A DNS name: labels of letters, digits and '-' (and '_' with underscore),
 * dots between, at most 253 bytes (RFC 1123 2.1). */
int config_dns_name_ok(const char *s, int underscore)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (isalnum(ch) || ch == '-' || (underscore && ch == '_')) {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return 1;
}
