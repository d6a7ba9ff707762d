/*
 * config_fleet.c - the configuration's cluster and notify groups (CONTRACT
 * sections 12 and 13): the etcd endpoints and the node's name and keys, the
 * webhook and its events, checked beyond what the key table does.
 */
#include "config_int.h"
#include "cluster_name.h"

#include <libconfig.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- cluster ---- */

/* Any byte below 0x21 or DEL. */
static int blank_or_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return 1;
	return 0;
}

/* "http://host:port" or "https://host:port", nothing after the port. */
static int etcd_url_ok(const char *v)
{
	const char *h = strncmp(v, "http://", 7) == 0 ? v + 7 :
	    strncmp(v, "https://", 8) == 0 ? v + 8 : NULL;
	const char *colon;
	char *end;
	long port;

	if (h == NULL || *h == '\0' || blank_or_ctl(v))
		return 0;
	colon = strrchr(h, ':');
	if (colon == NULL || colon == h || strchr(h, '/') != NULL)
		return 0;
	port = strtol(colon + 1, &end, 10);
	return *end == '\0' && colon[1] != '\0' && port >= 1 && port <= 65535;
}

static void sub_cluster_etcd(struct loader *ld, const config_setting_t *s, void *base)
{
	struct config *c = base;
	int n;

	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		err_type(ld, s, "an array of etcd endpoints [ \"http://127.0.0.1:2379\", ... ]");
		return;
	}
	n = config_setting_length(s);
	if (n == 0 || n > CONFIG_MAX_ETCD) {
		ld_err(ld, s, "\"cluster.etcd\" must list 1..%d endpoints, got %d", CONFIG_MAX_ETCD,
		    n);
		return;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);

		if (v == NULL || !etcd_url_ok(v)) {
			ld_err(ld, e, "\"cluster.etcd\" entries are \"http://HOST:PORT\" or "
			    "\"https://HOST:PORT\"%s%s%s", v != NULL ? ", not \"" : "",
			    v != NULL ? v : "", v != NULL ? "\"" : "");
			return;
		}
	}
	for (int i = 0; i < n; i++)
		c->cluster_etcd[i] = ld_strdup(ld,
		    config_setting_get_string(config_setting_get_elem(s, (unsigned)i)));
	c->cluster_netcd = (size_t)n;
}

static void sub_cluster_tls(struct loader *ld, const config_setting_t *s, void *base)
{
	config_group(ld, s, "cluster.tls", config_keys, config_nkeys, NULL, base);
}

void config_sub_cluster(struct loader *ld, const config_setting_t *s, void *base)
{
	static const struct config_sub subs[] = {
		{ "etcd", sub_cluster_etcd, 1 }, { "tls", sub_cluster_tls, 0 }, { NULL, NULL, 0 } };
	struct config *c = base;
	char host[256];

	config_group(ld, s, "cluster", config_keys, config_nkeys, subs, base);
	if (c->cluster_node != NULL && c->cluster_node[0] == '\0' &&
	    gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		host[strcspn(host, ".")] = '\0';
		free(c->cluster_node);
		c->cluster_node = ld_strdup(ld, host);
	}
	if (c->cluster_node != NULL && !cluster_node_ok(c->cluster_node))
		ld_err(ld, config_setting_get_member(s, "node") ? config_setting_get_member(s,
		    "node") : s, "\"cluster.node\" \"%s\" must be 1..63 of A-Z a-z 0-9 . _ -",
		    c->cluster_node);
	if (c->cluster_prefix != NULL && (c->cluster_prefix[0] != '/' ||
	    c->cluster_prefix[strlen(c->cluster_prefix) - 1] == '/' ||
	    blank_or_ctl(c->cluster_prefix) || strlen(c->cluster_prefix) > 200))
		ld_err(ld, config_setting_get_member(s, "prefix") ? config_setting_get_member(s,
		    "prefix") : s, "\"cluster.prefix\" \"%s\" must start with / and not end with "
		    "it, without spaces, at most 200 bytes", c->cluster_prefix);
	if ((c->cluster_tls_cert == NULL) != (c->cluster_tls_key == NULL))
		ld_err(ld, s, "\"cluster.tls.cert\" and \"cluster.tls.key\" go together");
	if ((c->cluster_user == NULL) != (c->cluster_password == NULL))
		ld_err(ld, s, "\"cluster.user\" and \"cluster.password\" go together");
}

/* ---- notify ---- */

static void sub_notify_events(struct loader *ld, const config_setting_t *s, void *base)
{
	struct config *c = base;
	unsigned bits = 0, bit;
	int n, k;

	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		err_type(ld, s, "an array of event kinds [ \"revert\", \"promote\", ... ]");
		return;
	}
	n = config_setting_length(s);
	if (n == 0) {
		ld_err(ld, s, "\"notify.events\" must name at least one of revert, promote, step, "
		    "pause, trip");
		return;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);

		for (k = 0; v != NULL && notify_event_names[k] != NULL &&
		    strcmp(v, notify_event_names[k]) != 0; k++)
			;
		if (v == NULL || notify_event_names[k] == NULL) {
			ld_err(ld, e, "\"notify.events\" entries are revert, promote, step, pause or "
			    "trip%s%s%s", v != NULL ? ", not \"" : "", v != NULL ? v : "",
			    v != NULL ? "\"" : "");
			return;
		}
		bit = 1u << k;
		if (bits & bit) {
			ld_err(ld, e, "\"notify.events\" names \"%s\" twice", v);
			return;
		}
		bits |= bit;
	}
	c->notify_events = bits;
}

void config_sub_notify(struct loader *ld, const config_setting_t *s, void *base)
{
	static const struct config_sub subs[] = {
		{ "events", sub_notify_events, 0 }, { NULL, NULL, 0 } };
	struct config *c = base;
	const char *u;

	c->notify_events = NOTIFY_EV_ALL;
	config_group(ld, s, "notify", config_keys, config_nkeys, subs, base);
	u = c->notify_webhook;
	if (u != NULL && ((strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) ||
	    blank_or_ctl(u) || u[strncmp(u, "http://", 7) == 0 ? 7 : 8] == '\0'))
		ld_err(ld, config_setting_get_member(s, "webhook"), "\"notify.webhook\" must be an "
		    "http:// or https:// URL without spaces, got \"%s\"", u);
}
