/*
 * config_pools.c - the pools group of the configuration: servers, health
 * checks, TLS to servers, the protocol (docs/configuration.md, "pools").
 */
#include "config_int.h"

#include <ctype.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- key tables ---- */

const struct config_key config_server_keys[] = {
	KEY(struct config_server, "address", KT_ADDR, 0, 0, 0, NULL, NULL, addr, KF_REQUIRED),
	KEY(struct config_server, "weight", KT_INT, 1, 256, 1, NULL, NULL, weight, 0),
	KEY(struct config_server, "max_connections", KT_INT, 0, 1000000, 0, NULL, NULL,
	    max_connections, 0),
};

const struct config_key config_pool_keys[] = {
	KEY(struct config_pool, "protocol", KT_ENUM, 0, 0, UPPROTO_HTTP1, NULL, upproto_names,
	    protocol, 0),
};

const struct config_key config_uptls_keys[] = {
	KEY(struct config_uptls, "ca", KT_STR, 0, 0, 0, NULL, NULL, ca, KF_NONEMPTY),
	KEY(struct config_uptls, "verify", KT_BOOL, 0, 1, 1, NULL, NULL, verify, 0),
	KEY(struct config_uptls, "sni", KT_STR, 0, 0, 0, "", NULL, sni, 0),
	KEY(struct config_uptls, "cert", KT_STR, 0, 0, 0, "", NULL, cert, 0),
	KEY(struct config_uptls, "key", KT_STR, 0, 0, 0, "", NULL, key, 0),
	KEY(struct config_uptls, "min_version", KT_ENUM, 0, 0, 0, NULL, config_tls_versions,
	    min_tls13, 0),
};

static const char *const health_types[] = { "http", "grpc", NULL };

const struct config_key config_health_keys[] = {
	KEY(struct config_health, "type", KT_ENUM, 0, 0, HEALTH_HTTP, NULL, health_types, type, 0),
	KEY(struct config_health, "grpc_service", KT_STR, 0, 0, 0, "", NULL, grpc_service, 0),
	KEY(struct config_health, "path", KT_STR, 0, 0, 0, "/healthz", NULL, path, KF_URLPATH),
	KEY(struct config_health, "interval_ms", KT_INT, 100, 3600000, 1000, NULL, NULL,
	    interval_ms, 0),
	KEY(struct config_health, "timeout_ms", KT_INT, 10, 60000, 500, NULL, NULL, timeout_ms, 0),
	KEY(struct config_health, "rise", KT_INT, 1, 100, 2, NULL, NULL, rise, 0),
	KEY(struct config_health, "fall", KT_INT, 1, 100, 3, NULL, NULL, fall, 0),
};

const size_t config_nserver_keys = NKEYS(config_server_keys);
const size_t config_npool_keys = NKEYS(config_pool_keys);
const size_t config_nuptls_keys = NKEYS(config_uptls_keys);
const size_t config_nhealth_keys = NKEYS(config_health_keys);

/* ---- pools ---- */

static void sub_health(struct loader *ld, const config_setting_t *s, void *base)
{
	struct config_health *h = &((struct config_pool *)base)->health;
	int before = ld->nerrs;
	char p[256];

	h->enabled = 1;
	config_group(ld, s, "", config_health_keys, config_nhealth_keys, NULL, h);
	if (ld->nerrs == before && h->timeout_ms >= h->interval_ms) {
		setting_path(s, p, sizeof p);
		ld_err(ld, s, "\"%s.timeout_ms\" (%d) must be less than interval_ms (%d)",
		    p, h->timeout_ms, h->interval_ms);
	}
	/* a gRPC service name: printable, under 128 bytes (one frame byte) */
	if (ld->nerrs == before && h->grpc_service != NULL) {
		size_t n = strlen(h->grpc_service);
		int bad = n >= 128;

		for (size_t i = 0; i < n; i++)
			bad |= (unsigned char)h->grpc_service[i] <= 0x20 ||
			    (unsigned char)h->grpc_service[i] >= 0x7f;
		if (bad) {
			setting_path(s, p, sizeof p);
			ld_err(ld, s, "\"%s.grpc_service\" must be a service name (printable, no "
			    "spaces, under 128 bytes), got \"%.200s\"", p, h->grpc_service);
		}
	}
}

static void sub_uptls(struct loader *ld, const config_setting_t *s, void *base)
{
	struct config_uptls *t = &((struct config_pool *)base)->tls;
	int before = ld->nerrs;
	char p[256];

	t->enabled = 1;
	t->line = (int)setting_line(s);
	config_group(ld, s, "", config_uptls_keys, config_nuptls_keys, NULL, t);
	if (ld->nerrs != before)
		return;
	setting_path(s, p, sizeof p);
	if ((t->cert[0] != '\0') != (t->key[0] != '\0'))
		ld_err(ld, s, "\"%s\": a client certificate needs both \"cert\" and \"key\"", p);
	/* the files as for a listener: relative to the file that names them,
	 * readable now (read again at every reload) */
	config_cert_file(ld, s, "ca", "CA", &t->ca);
	if (t->cert[0] != '\0' && t->key[0] != '\0') {
		config_cert_file(ld, s, "cert", "certificate", &t->cert);
		config_cert_file(ld, s, "key", "key", &t->key);
	}
	if (t->sni[0] != '\0' && !config_dns_name_ok(t->sni, 0))
		ld_err(ld, s, "\"%s.sni\" must be a host name, got \"%.200s\"", p, t->sni);
}

static void sub_servers(struct loader *ld, const config_setting_t *s, void *base)
{
	struct config_pool *pool = base;
	int n = group_list(ld, s, "server", CONFIG_MAX_SERVERS);

	if (n <= 0)
		return;
	free(pool->servers);
	pool->nservers = 0;
	pool->servers = calloc((size_t)n, sizeof *pool->servers);
	if (pool->servers == NULL) {
		ld->oom = 1;
		return;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		struct config_server *sv = &pool->servers[pool->nservers++];

		sv->line = (int)setting_line(e);
		keys_default(ld, config_server_keys, config_nserver_keys, sv);
		config_group(ld, e, "", config_server_keys, config_nserver_keys, NULL, sv);
		for (size_t j = 0; j + 1 < pool->nservers; j++)
			if (config_addr_equal(&pool->servers[j].addr, &sv->addr))
				ld_err(ld, e, "duplicate server address \"%s\" in pool \"%s\" "
				    "(first at line %d)", sv->addr.text, pool->name,
				    pool->servers[j].line);
	}
}

static void pool_parse(struct loader *ld, const config_setting_t *s, struct config_pool *pool)
{
	static const struct config_sub subs[] = {
		{ "servers", sub_servers, 1 }, { "health", sub_health, 0 }, { "tls", sub_uptls, 0 },
		{ NULL, NULL, 0 } };

	config_group(ld, s, "", config_pool_keys, config_npool_keys, subs, pool);
}

static void sub_blue(struct loader *ld, const config_setting_t *s, void *base)
{
	pool_parse(ld, s, &((struct config_svc *)base)->pools[POOL_BLUE]);
}

static void sub_green(struct loader *ld, const config_setting_t *s, void *base)
{
	pool_parse(ld, s, &((struct config_svc *)base)->pools[POOL_GREEN]);
}

void config_sub_pools(struct loader *ld, const config_setting_t *s, void *base)
{
	static const struct config_sub subs[] = {
		{ "blue", sub_blue, 1 }, { "green", sub_green, 1 }, { NULL, NULL, 0 } };

	config_group(ld, s, "", NULL, 0, subs, base);
}

