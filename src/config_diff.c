/*
 * config_diff.c - what a reload changes, in words: every scalar key of the
 * top level and of each service (by name), a pool's settings and its
 * servers' limits, services added and removed ("guard.max_error_rate 0.05
 * -> 0.1, shop.pools.blue.health.path /healthz -> /ready, api (service
 * added)").  Servers added and removed and their weights are the reload's
 * own words (reload.c).
 */
#include "config_int.h"

#include <stdio.h>
#include <string.h>

/* One key's value as text (a password is never shown). */
static void
key_text(const struct config_key *k, const void *base, char *buf, size_t len)
{
	const char *p = (const char *)base + k->off;
	int v;

	switch (k->type) {
	case KT_INT:
		snprintf(buf, len, "%d", *(const int *)p);
		break;
	case KT_BOOL:
		snprintf(buf, len, "%s", *(const int *)p ? "true" : "false");
		break;
	case KT_ENUM:
		v = *(const int *)p;
		snprintf(buf, len, "%s", v >= 0 ? k->choices[v] : "?");
		break;
	case KT_BP:
		v = *(const int *)p;
		snprintf(buf, len, "%d.%02d", v / 100, v % 100);
		break;
	case KT_MODE:
		snprintf(buf, len, "%04o", *(const unsigned *)p);
		break;
	case KT_DOUBLE:
		snprintf(buf, len, "%g", *(const double *)p);
		break;
	case KT_STR:
		snprintf(buf, len, "%s", *(char *const *)p != NULL ? *(char *const *)p : "(none)");
		break;
	case KT_ADDR:
		snprintf(buf, len, "%s", ((const struct config_addr *)p)->text[0] ?
		    ((const struct config_addr *)p)->text : "(none)");
		break;
	}
}

/* The diff's growing text and count. */
struct diff_out {
	char *buf;
	size_t len, off, n;
	int full;
};

static void
diff_add(struct diff_out *d, const char *prefix, const char *path, const char *x, const char *y)
{
	int w;

	d->n++;
	if (d->full)
		return;
	if (strstr(path, "password") != NULL)
		w = snprintf(d->buf + d->off, d->len - d->off, "%s%s%s (changed)", d->off ? ", " : "",
		    prefix, path);
	else if (x == NULL)
		w = snprintf(d->buf + d->off, d->len - d->off, "%s%s%s", d->off ? ", " : "", prefix,
		    path);
	else
		w = snprintf(d->buf + d->off, d->len - d->off, "%s%s%s %s -> %s", d->off ? ", " : "",
		    prefix, path, x, y);
	if (w < 0 || (size_t)w >= d->len - d->off) {
		/* what does not fit is counted, not shown */
		d->buf[d->off] = '\0';
		snprintf(d->buf + d->off, d->len - d->off, "%s...", d->off ? ", " : "");
		d->full = 1;
		return;
	}
	d->off += (size_t)w;
}

static void
diff_keys(struct diff_out *d, const char *prefix, const struct config_key *keys, size_t n,
    const void *a, const void *b)
{
	char x[160], y[160];

	for (size_t i = 0; i < n; i++) {
		key_text(&keys[i], a, x, sizeof(x));
		key_text(&keys[i], b, y, sizeof(y));
		if (strcmp(x, y) != 0)
			diff_add(d, prefix, keys[i].path, x, y);
	}
}

/* A pool's settings and its servers' (servers come and go in the reload's
 * own count). */
static void
diff_pool(struct diff_out *d, const char *svc, const struct config_pool *a,
    const struct config_pool *b)
{
	char pre[256];

	snprintf(pre, sizeof(pre), "%spools.%s.", svc, b->name);
	diff_keys(d, pre, config_pool_keys, config_npool_keys, a, b);
	if (a->health.enabled != b->health.enabled)
		diff_add(d, pre, b->health.enabled ? "health (added)" : "health (removed)", NULL, NULL);
	else if (b->health.enabled) {
		snprintf(pre, sizeof(pre), "%spools.%s.health.", svc, b->name);
		diff_keys(d, pre, config_health_keys, config_nhealth_keys, &a->health, &b->health);
	}
	snprintf(pre, sizeof(pre), "%spools.%s.", svc, b->name);
	if (a->tls.enabled != b->tls.enabled)
		diff_add(d, pre, b->tls.enabled ? "tls (added)" : "tls (removed)", NULL, NULL);
	else if (b->tls.enabled) {
		snprintf(pre, sizeof(pre), "%spools.%s.tls.", svc, b->name);
		diff_keys(d, pre, config_uptls_keys, config_nuptls_keys, &a->tls, &b->tls);
	}
	for (size_t i = 0; i < b->nservers; i++)
		for (size_t k = 0; k < a->nservers; k++) {
			if (!config_addr_equal(&a->servers[k].addr, &b->servers[i].addr))
				continue;
			snprintf(pre, sizeof(pre), "%spools.%s.servers[%s].", svc, b->name,
			    b->servers[i].addr.text);
			/* (a weight is the reload's own words: "blue ADDR weight 1 -> 5") */
			if (a->servers[k].max_connections != b->servers[i].max_connections)
				diff_keys(d, pre, config_server_keys + 2, 1, &a->servers[k],
				    &b->servers[i]);
		}
}

/* A service's settings (prefix "NAME." with a services list, else none). */
static void
diff_svc(struct diff_out *d, const char *pre, const struct config_svc *a,
    const struct config_svc *b)
{
	int same = a->nhosts == b->nhosts;

	diff_keys(d, pre, config_svc_keys, config_nsvc_keys, a, b);
	for (size_t i = 0; same && i < a->nhosts; i++)
		same = strcmp(a->hosts[i], b->hosts[i]) == 0;
	if (!same)
		diff_add(d, pre, "match.hosts (changed)", NULL, NULL);
	for (int p = 0; p < CONFIG_POOLS; p++)
		diff_pool(d, pre, &a->pools[p], &b->pools[p]);
}

size_t
config_diff(const struct config *a, const struct config *b, char *buf, size_t len)
{
	struct diff_out d = { buf, len, 0, 0, len == 0 };
	char pre[CONFIG_SVC_NAME_MAX + 2];

	if (len > 0)
		buf[0] = '\0';
	diff_keys(&d, "", config_keys, config_nkeys, a, b);
	for (size_t i = 0; i < b->nsvcs; i++) {
		const struct config_svc *old = config_svc_named(a, b->svcs[i].name);
		snprintf(pre, sizeof(pre), "%s.", b->svcs[i].name);
		if (old == NULL)
			diff_add(&d, b->svcs[i].name, " (service added)", NULL, NULL);
		else
			diff_svc(&d, b->services ? pre : "", old, &b->svcs[i]);
	}
	for (size_t k = 0; k < a->nsvcs; k++) {
		int kept = config_svc_named(b, a->svcs[k].name) != NULL;

		if (!kept)
			diff_add(&d, a->svcs[k].name, " (service removed)", NULL, NULL);
	}
	return d.n;
}
