/*
 * svcmap.c - which service a request goes to (svcmap.h): a hash of the
 * exact host names, a hash of the wildcards' suffixes, and the services
 * that take every host; each entry lists its services longest
 * path_prefix first.  Pure: no I/O, no globals.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "svcmap.h"

struct svcmap_route {
	const char *prefix;           /* the configuration's string */
	size_t len;
	int svc;
};

/* a host (or a wildcard's suffix) and its services, longest prefix first */
struct svcmap_entry {
	char *host;                   /* NULL: an empty slot */
	size_t host_len;
	struct svcmap_route *routes;
	size_t nroutes;
};

struct svcmap_table {
	struct svcmap_entry *slots;
	size_t mask;                  /* slots - 1, a power of two less one */
	size_t n;
};

struct svcmap {
	struct svcmap_table exact, wild;
	struct svcmap_entry any;      /* the services without hosts */
	int only;                     /* one service for everything: its index, else -1 */
	int has_wild;
};

static uint64_t
svcmap_hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h ^ (h >> 29);
}

static struct svcmap_entry *
svcmap_find(const struct svcmap_table *t, const char *host, size_t len)
{
	size_t i;

	if (t->n == 0)
		return NULL;
	for (i = svcmap_hash(host, len) & t->mask; t->slots[i].host != NULL; i = (i + 1) & t->mask)
		if (t->slots[i].host_len == len && memcmp(t->slots[i].host, host, len) == 0)
			return &t->slots[i];
	return NULL;
}

/* The entry for host, made if new (the table has room: sized before). */
static struct svcmap_entry *
svcmap_put(struct svcmap_table *t, const char *host)
{
	size_t len = strlen(host), i;

	for (i = svcmap_hash(host, len) & t->mask; t->slots[i].host != NULL; i = (i + 1) & t->mask)
		if (t->slots[i].host_len == len && memcmp(t->slots[i].host, host, len) == 0)
			return &t->slots[i];
	if ((t->slots[i].host = strdup(host)) == NULL)
		return NULL;
	t->slots[i].host_len = len;
	t->n++;
	return &t->slots[i];
}

static int
svcmap_add_route(struct svcmap_entry *e, const char *prefix, int svc)
{
	struct svcmap_route *r = realloc(e->routes, (e->nroutes + 1) * sizeof *r);
	size_t len = strlen(prefix), i;

	if (r == NULL)
		return -1;
	e->routes = r;
	/* longest first; of equal length the earlier service first */
	for (i = e->nroutes; i > 0 && r[i - 1].len < len; i--)
		r[i] = r[i - 1];
	r[i] = (struct svcmap_route){ prefix, len, svc };
	e->nroutes++;
	return 0;
}

static int
svcmap_table_init(struct svcmap_table *t, size_t entries)
{
	size_t n = 8;

	while (n < entries * 2)
		n <<= 1;
	t->slots = calloc(n, sizeof *t->slots);
	t->mask = n - 1;
	t->n = 0;
	return t->slots == NULL ? -1 : 0;
}

static void
svcmap_entry_free(struct svcmap_entry *e)
{
	free(e->host);
	free(e->routes);
}

void
svcmap_free(struct svcmap *m)
{
	struct svcmap_table *t[2];

	if (m == NULL)
		return;
	t[0] = &m->exact;
	t[1] = &m->wild;
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; t[k]->slots != NULL && i <= t[k]->mask; i++)
			svcmap_entry_free(&t[k]->slots[i]);
		free(t[k]->slots);
	}
	free(m->any.routes);
	free(m);
}

struct svcmap *
svcmap_build(const struct config_svc *svcs, size_t n)
{
	struct svcmap *m = calloc(1, sizeof *m);
	size_t nexact = 0, nwild = 0;

	if (m == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		for (size_t h = 0; h < svcs[i].nhosts; h++)
			*(svcs[i].hosts[h][0] == '*' ? &nwild : &nexact) += 1;
	if (svcmap_table_init(&m->exact, nexact) == -1 ||
	    svcmap_table_init(&m->wild, nwild) == -1)
		goto fail;
	m->has_wild = nwild > 0;
	for (size_t i = 0; i < n; i++) {
		const char *prefix = svcs[i].path_prefix != NULL ? svcs[i].path_prefix : "/";

		if (svcs[i].nhosts == 0 && svcmap_add_route(&m->any, prefix, (int)i) == -1)
			goto fail;
		for (size_t h = 0; h < svcs[i].nhosts; h++) {
			const char *host = svcs[i].hosts[h];
			struct svcmap_entry *e = host[0] == '*' ? svcmap_put(&m->wild, host + 2) :
			    svcmap_put(&m->exact, host);

			if (e == NULL || svcmap_add_route(e, prefix, (int)i) == -1)
				goto fail;
		}
	}
	/* one service taking every request: no lookup at all */
	m->only = n == 1 && svcs[0].nhosts == 0 && m->any.nroutes == 1 &&
	    m->any.routes[0].len == 1 ? 0 : -1;
	return m;
fail:
	svcmap_free(m);
	return NULL;
}

int
svcmap_host_norm(const char *host, size_t len, char *out)
{
	size_t n = 0;

	if (host == NULL || len == 0)
		return -1;
	if (host[0] == '[')
		return -1;              /* an IPv6 literal: no service names one */
	for (size_t i = 0; i < len && host[i] != ':'; i++) {
		unsigned char c = (unsigned char)host[i];

		if (n == 253 || c <= ' ' || c == '/' || c >= 0x7f)
			return -1;
		out[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	if (n > 0 && out[n - 1] == '.')
		n--;
	if (n == 0)
		return -1;
	out[n] = '\0';
	return (int)n;
}

/* The path's first route in e (longest prefix first), else -1. */
static int
svcmap_route_of(const struct svcmap_entry *e, const char *path, size_t len)
{
	for (size_t i = 0; i < e->nroutes; i++) {
		const struct svcmap_route *r = &e->routes[i];

		if (r->len == 1 || (len >= r->len && memcmp(path, r->prefix, r->len) == 0))
			return r->svc;
	}
	return -1;
}

int
svcmap_lookup(const struct svcmap *m, const char *host, size_t host_len,
    const char *target, size_t target_len)
{
	const char *path = target;
	size_t plen = target_len;
	const struct svcmap_entry *e;
	char h[256];
	int hl, svc;

	if (m->only >= 0)
		return m->only;
	/* absolute-form: its authority is the host (RFC 9112 3.2.2) */
	/* (the scheme in any case, as the parser reads it) */
	if (target_len > 7 && (strncasecmp(target, "http://", 7) == 0 ||
	    (target_len > 8 && strncasecmp(target, "https://", 8) == 0))) {
		const char *a = target + (target[4] == ':' ? 7 : 8), *end = target + target_len;
		const char *slash = memchr(a, '/', (size_t)(end - a));

		host = a;
		host_len = (size_t)((slash != NULL ? slash : end) - a);
		path = slash != NULL ? slash : "/";
		plen = slash != NULL ? (size_t)(end - slash) : 1;
	}
	hl = svcmap_host_norm(host, host_len, h);
	if (hl > 0) {
		if ((e = svcmap_find(&m->exact, h, (size_t)hl)) != NULL &&
		    (svc = svcmap_route_of(e, path, plen)) >= 0)
			return svc;
		/* wildcards: the longest suffix first */
		for (int i = 0; m->has_wild && i < hl; i++) {
			if (h[i] != '.')
				continue;
			if ((e = svcmap_find(&m->wild, h + i + 1, (size_t)(hl - i - 1))) != NULL &&
			    (svc = svcmap_route_of(e, path, plen)) >= 0)
				return svc;
		}
	}
	return svcmap_route_of(&m->any, path, plen);
}
