/*
 * config_svc.c - a service's groups in the configuration (CONTRACT 17):
 * split, guard, rollout and match (its pools are config_pools.c's), and the
 * services list.  Without a services list the top-level pools, split,
 * guard and rollout are the one service "default"; with one, each entry
 * starts from the top-level split, guard and rollout (its defaults) and
 * has its own pools.
 */
#include "config_int.h"

#include <ctype.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- dedicated groups and lists ---- */

static void sub_override_from(struct loader *ld, const config_setting_t *s, void *base)
{
	struct config_svc *c = base;
	char p[256];
	int n;

	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		err_type(ld, s, "an array of CIDR strings [ \"127.0.0.0/8\", ... ]");
		return;
	}
	n = config_setting_length(s);
	if (n > CONFIG_MAX_CIDRS) {
		setting_path(s, p, sizeof p);
		ld_err(ld, s, "\"%s\" lists %d CIDRs; at most %d are allowed", p, n, CONFIG_MAX_CIDRS);
		return;
	}
	c->noverride_from = 0;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		setting_path(e, p, sizeof p);
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			err_type(ld, e, "a CIDR string such as \"10.0.0.0/8\"");
		else if (config_parse_cidr(config_setting_get_string(e), &c->override_from[i]) == -1)
			ld_err(ld, e, "\"%s\" must be a CIDR such as \"10.0.0.0/8\", \"::1/128\" or "
			    "a bare IP, got \"%.200s\"", p, config_setting_get_string(e));
		else
			c->noverride_from++;
	}
	if (c->noverride_from != (size_t)n)
		c->noverride_from = 0;   /* never keep a partial list */
}

/* One step: returns its basis points, or -1 (error given). */
static int rollout_step(struct loader *ld, const config_setting_t *e, int prev)
{
	char p[256];
	double v;
	int bp;

	setting_path(e, p, sizeof p);
	if (get_number(e, &v) == -1) {
		err_type(ld, e, "a number");
		return -1;
	}
	if (percent_bp(v, 0, 100, &bp) == -1 || bp == 0) {
		ld_err(ld, e, "\"%s\" must be above 0 and at most 100 with at most two decimals, "
		    "got %.15g", p, v);
		return -1;
	}
	if (bp <= prev) {
		ld_err(ld, e, "\"%s\" must be above the step before it (%g), got %.15g; steps are "
		    "strictly increasing", p, prev / 100.0, v);
		return -1;
	}
	return bp;
}

static void sub_rollout_steps(struct loader *ld, const config_setting_t *s, void *base)
{
	struct config_svc *c = base;
	int steps[SPLIT_MAX_STEPS], n, prev = 0, bad = 0;

	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		err_type(ld, s, "an array of percentages [ 1, 5, ..., 100 ]");
		return;
	}
	n = config_setting_length(s);
	if (n == 0 || n > SPLIT_MAX_STEPS) {
		ld_err(ld, s, "\"rollout.steps\" must list 1..%d steps, got %d", SPLIT_MAX_STEPS, n);
		return;
	}
	for (int i = 0; i < n; i++) {
		int bp = rollout_step(ld, config_setting_get_elem(s, (unsigned)i), prev);
		if (bp == -1)
			bad = 1;
		else
			steps[i] = prev = bp;
	}
	if (bad)
		return;
	if (prev != 10000) {
		ld_err(ld, s, "\"rollout.steps\" must end with 100, got %g", prev / 100.0);
		return;
	}
	memcpy(c->rollout_steps_bp, steps, sizeof(int) * (size_t)n);
	c->rollout_nsteps = (size_t)n;
}

void config_sub_split(struct loader *ld, const config_setting_t *s, void *base)
{
	static const struct config_sub subs[] = {
		{ "override_from", sub_override_from, 0 }, { NULL, NULL, 0 } };
	config_group(ld, s, "split", config_svc_keys, config_nsvc_keys, subs, base);
}

void config_sub_rollout(struct loader *ld, const config_setting_t *s, void *base)
{
	static const struct config_sub subs[] = {
		{ "steps", sub_rollout_steps, 0 }, { NULL, NULL, 0 } };
	config_group(ld, s, "rollout", config_svc_keys, config_nsvc_keys, subs, base);
}

/* guard.grpc_error_codes: gRPC status codes 0..16, each at most once. */
static void sub_grpc_codes(struct loader *ld, const config_setting_t *s, void *base)
{
	struct config_svc *c = base;
	unsigned mask = 0;
	int n, bad = 0;

	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		err_type(ld, s, "an array of gRPC status codes [ 2, 4, 12, 13, 14, 15 ]");
		return;
	}
	n = config_setting_length(s);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		int v;

		if (config_setting_type(e) != CONFIG_TYPE_INT ||
		    (v = config_setting_get_int(e)) < 0 || v > 16) {
			ld_err(ld, e, "\"guard.grpc_error_codes\" lists gRPC status codes 0..16");
			bad = 1;
		} else if (mask & (1u << v)) {
			ld_err(ld, e, "\"guard.grpc_error_codes\" lists %d twice", v);
			bad = 1;
		} else {
			mask |= 1u << v;
		}
	}
	if (!bad)
		c->grpc_error_mask = mask;
}

void config_sub_guard(struct loader *ld, const config_setting_t *s, void *base)
{
	static const struct config_sub subs[] = {
		{ "grpc_error_codes", sub_grpc_codes, 0 }, { NULL, NULL, 0 } };
	config_group(ld, s, "guard", config_svc_keys, config_nsvc_keys, subs, base);
}

#define S_INT(p, lo, hi, d, f)   KEY(struct config_svc, p, KT_INT, lo, hi, d, NULL, NULL, f, 0)
#define S_DBL(p, lo, hi, d, f)   KEY(struct config_svc, p, KT_DOUBLE, lo, hi, d, NULL, NULL, f, 0)
#define S_BOOL(p, d, f)          KEY(struct config_svc, p, KT_BOOL, 0, 1, d, NULL, NULL, f, 0)
#define S_STR(p, sd, f, fl)      KEY(struct config_svc, p, KT_STR, 0, 0, 0, sd, NULL, f, fl)
#define S_ENUM(p, ch, d, f)      KEY(struct config_svc, p, KT_ENUM, 0, 0, d, NULL, ch, f, 0)

/* Every scalar key of a service (struct config_svc): at the top level
 * they are the default service's, or every service's defaults. */
const struct config_key config_svc_keys[] = {
	S_ENUM("split.stable", pool_names, POOL_BLUE, stable),
	KEY(struct config_svc, "split.candidate_percent", KT_BP, 0, 100, 0, NULL, NULL,
	    candidate_bp, 0),
	S_STR("split.cookie", "bgp", cookie, KF_TOKEN),
	S_STR("split.header", "", header, KF_TOKEN),
	S_STR("split.override_header", "X-Bgproxy-Pool", override_header, KF_TOKEN | KF_NONEMPTY),
	S_BOOL("split.retry_candidate_failures", 1, retry_candidate_failures),
	S_BOOL("split.expose_header", 0, expose_header),
	KEY(struct config_svc, "split.mirror_percent", KT_BP, 0, 100, 0, NULL, NULL, mirror_bp, 0),
	S_INT("guard.interval_ms", 10, 60000, 250, guard_interval_ms),
	S_INT("guard.window_s", 1, 3600, 10, guard_window_s),
	S_INT("guard.min_requests", 0, 1000000, 20, guard_min_requests),
	S_DBL("guard.max_error_rate", 0, 1, 0.05, guard_max_error_rate),
	S_INT("guard.max_p99_ms", 0, 600000, 0, guard_max_p99_ms),
	S_DBL("guard.min_healthy_fraction", 0, 1, 0.5, guard_min_healthy_fraction),
	S_DBL("guard.max_error_delta", 0, 1, 0, guard_max_error_delta),
	S_DBL("guard.max_p99_ratio", 0, 1000, 0, guard_max_p99_ratio),
	S_INT("guard.bake_s", 0, 604800, 0, guard_bake_s),
	S_BOOL("guard.dry_run", 0, guard_dry_run),
	S_ENUM("guard.on_trip", guard_on_trip_names, 0, guard_on_trip),
	S_ENUM("guard.method", guard_method_names, GUARD_SEQUENTIAL, guard_method),
	S_DBL("guard.alpha", 0.0001, 0.5, 0.01, guard_alpha),
	/* [1.5 with "sequential", 0 with "threshold"]: -1 until config_cross */
	S_DBL("guard.max_error_ratio", 0, 1000, -1, guard_max_error_ratio),
	S_INT("rollout.hold_s", 0, 86400, 60, rollout_hold_s),
	/* [guard.min_requests]: -1 until config_cross copies it */
	S_INT("rollout.min_requests", 0, 100000000, -1, rollout_min_requests),
	S_INT("rollout.max_inconclusive_s", 0, 604800, 600, rollout_max_inconclusive_s),
	S_STR("name", NULL, name, KF_REQUIRED | KF_NONEMPTY),
	S_STR("match.path_prefix", "/", path_prefix, KF_URLPATH),
};
const size_t config_nsvc_keys = NKEYS(config_svc_keys);

/* ---- match ---- */

/* "shop.example.com", "*.example.com" or an IPv4 address; lowercased in
 * place.  A DNS name, '_' allowed in its labels. */
static int svc_host_ok(char *h)
{
	for (char *q = h; *q != '\0'; q++)
		*q = (char)tolower((unsigned char)*q);
	return config_dns_name_ok(h[0] == '*' && h[1] == '.' ? h + 2 : h, 1);
}

static void sub_hosts(struct loader *ld, const config_setting_t *s, void *base)
{
	struct config_svc *c = base;
	char p[256];
	int n;

	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		err_type(ld, s, "an array of host names [ \"shop.example.com\", \"*.shop.example.com\" ]");
		return;
	}
	n = config_setting_length(s);
	setting_path(s, p, sizeof p);
	if (n == 0 || n > CONFIG_MAX_HOSTS) {
		ld_err(ld, s, "\"%s\" must list 1..%d host names, got %d (leave it out to match "
		    "every host)", p, CONFIG_MAX_HOSTS, n);
		return;
	}
	c->hosts = calloc((size_t)n, sizeof(char *));
	if (c->hosts == NULL) {
		ld->oom = 1;
		return;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		char *h;

		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			err_type(ld, e, "a host name such as \"shop.example.com\"");
			continue;
		}
		if ((h = ld_strdup(ld, config_setting_get_string(e))) == NULL)
			return;
		if (!svc_host_ok(h)) {
			ld_err(ld, e, "\"%s\" must be a host name such as \"shop.example.com\" or a "
			    "wildcard such as \"*.example.com\", got \"%.200s\"", p,
			    config_setting_get_string(e));
			free(h);
			continue;
		}
		for (size_t j = 0; j < c->nhosts; j++)
			if (strcmp(c->hosts[j], h) == 0) {
				ld_err(ld, e, "\"%s\" lists \"%s\" twice", p, h);
				free(h);
				h = NULL;
				break;
			}
		if (h != NULL)
			c->hosts[c->nhosts++] = h;
	}
}

static void sub_match(struct loader *ld, const config_setting_t *s, void *base)
{
	static const struct config_sub subs[] = {
		{ "hosts", sub_hosts, 0 }, { NULL, NULL, 0 } };

	config_group(ld, s, "match", config_svc_keys, config_nsvc_keys, subs, base);
}

/* ---- one service ---- */

void config_svc_defaults(struct loader *ld, struct config_svc *c)
{
	static const int steps[] = { 100, 500, 1000, 2500, 5000, 10000 };

	keys_default(ld, config_svc_keys, config_nsvc_keys, c);
	for (int p = 0; p < CONFIG_POOLS; p++) {
		c->pools[p].name = pool_names[p];
		keys_default(ld, config_health_keys, config_nhealth_keys, &c->pools[p].health);
		keys_default(ld, config_pool_keys, config_npool_keys, &c->pools[p]);
		keys_default(ld, config_uptls_keys, config_nuptls_keys, &c->pools[p].tls);
	}
	config_parse_cidr("127.0.0.0/8", &c->override_from[0]);
	config_parse_cidr("::1/128", &c->override_from[1]);
	c->noverride_from = 2;
	memcpy(c->rollout_steps_bp, steps, sizeof steps);
	c->rollout_nsteps = sizeof steps / sizeof steps[0];
	/* UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE,
	 * DATA_LOSS: the server's failures, not the caller's */
	c->grpc_error_mask = 1u << 2 | 1u << 4 | 1u << 12 | 1u << 13 | 1u << 14 | 1u << 15;
}

void config_svc_free(struct config_svc *c)
{
	if (c == NULL)
		return;
	keys_free(config_svc_keys, config_nsvc_keys, c);
	for (int p = 0; p < CONFIG_POOLS; p++) {
		keys_free(config_health_keys, config_nhealth_keys, &c->pools[p].health);
		keys_free(config_uptls_keys, config_nuptls_keys, &c->pools[p].tls);
		free(c->pools[p].servers);
		c->pools[p].servers = NULL;
	}
	for (size_t i = 0; i < c->nhosts; i++)
		free(c->hosts[i]);
	free(c->hosts);
	c->hosts = NULL;
}

/* dst as the top-level split, guard and rollout say (tmpl), with no
 * pools and no match yet. */
static void svc_from_template(struct loader *ld, struct config_svc *dst,
    const struct config_svc *tmpl)
{
	*dst = *tmpl;
	for (size_t i = 0; i < config_nsvc_keys; i++) {
		char **f = (char **)((char *)dst + config_svc_keys[i].off);

		if (config_svc_keys[i].type == KT_STR && *f != NULL)
			*f = ld_strdup(ld, *f);
	}
	dst->hosts = NULL;
	dst->nhosts = 0;
	dst->name = NULL;
	for (int p = 0; p < CONFIG_POOLS; p++) {
		memset(&dst->pools[p], 0, sizeof dst->pools[p]);
		dst->pools[p].name = pool_names[p];
		keys_default(ld, config_health_keys, config_nhealth_keys, &dst->pools[p].health);
		keys_default(ld, config_pool_keys, config_npool_keys, &dst->pools[p]);
		keys_default(ld, config_uptls_keys, config_nuptls_keys, &dst->pools[p].tls);
	}
}

/* What one key's default depends on another's: settled once the service
 * is whole. */
void config_svc_cross(struct config_svc *c)
{
	/* a step never advances on less evidence than the guard needs */
	if (c->rollout_min_requests < 0)
		c->rollout_min_requests = c->guard_min_requests;
	if (c->guard_max_error_ratio < 0)
		c->guard_max_error_ratio = c->guard_method == GUARD_SEQUENTIAL ? 1.5 : 0;
}

/* A service's name: it is a metrics label, an etcd key, a word in admin
 * commands. */
static int svc_name_ok(const char *s)
{
	size_t n = strlen(s);

	/* (a file name beside the state file: never "." or "..") */
	if (n == 0 || n > CONFIG_SVC_NAME_MAX || !isalnum((unsigned char)s[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return 0;
	return 1;
}

static void sub_svc_pools(struct loader *ld, const config_setting_t *s, void *base)
{
	config_sub_pools(ld, s, base);
}

static void svc_parse(struct loader *ld, const config_setting_t *e, struct config_svc *c)
{
	static const struct config_sub subs[] = {
		{ "match", sub_match, 0 }, { "pools", sub_svc_pools, 1 },
		{ "split", config_sub_split, 0 }, { "guard", config_sub_guard, 0 },
		{ "rollout", config_sub_rollout, 0 }, { NULL, NULL, 0 } };
	const config_setting_t *n = config_setting_get_member(e, "name");
	int before = ld->nerrs;

	c->line = (int)setting_line(e);
	config_group(ld, e, "", config_svc_keys, config_nsvc_keys, subs, c);
	if (ld->nerrs == before && !svc_name_ok(c->name))
		ld_err(ld, n, "\"services[].name\" must be 1..%d letters, digits, '-', '_' or '.', "
		    "beginning with a letter or digit, got \"%.200s\"", CONFIG_SVC_NAME_MAX, c->name);
	config_svc_cross(c);
}

/* What two services must not share: a name, or a host (or none: every
 * host) with a path_prefix.  Sorted, so that each pair of the same is
 * found next to each other: n log n for ten thousand services. */
struct svc_key {
	const char *a, *b;            /* name and ""; or host ("" for none) and prefix */
	size_t svc;
};

static int
svc_key_cmp(const void *x, const void *y)
{
	const struct svc_key *p = x, *q = y;
	int r = strcmp(p->a, q->a);

	if (r == 0)
		r = strcmp(p->b, q->b);
	if (r == 0)
		r = p->svc < q->svc ? -1 : p->svc > q->svc;
	return r;
}

/* Two services that would take the same requests, or that have one name. */
static void svc_overlap(struct loader *ld, const config_setting_t *list,
    const struct config_svc *svcs, size_t n)
{
	struct svc_key *k;
	size_t nk = 0, i;

	for (i = 0; i < n; i++)
		nk += 1 + (svcs[i].nhosts > 0 ? svcs[i].nhosts : 1);
	if ((k = calloc(nk, sizeof *k)) == NULL) {
		ld->oom = 1;
		return;
	}
	nk = 0;
	for (i = 0; i < n; i++)
		k[nk++] = (struct svc_key){ svcs[i].name, "", i };
	qsort(k, nk, sizeof *k, svc_key_cmp);
	for (i = 1; i < nk; i++)
		if (strcmp(k[i].a, k[i - 1].a) == 0)
			ld_err(ld, config_setting_get_elem(list, (unsigned)k[i].svc),
			    "service \"%s\" is named twice (first at line %d)", k[i].a,
			    svcs[k[i - 1].svc].line);
	nk = 0;
	for (i = 0; i < n; i++) {
		if (svcs[i].nhosts == 0)
			k[nk++] = (struct svc_key){ "", svcs[i].path_prefix, i };
		for (size_t h = 0; h < svcs[i].nhosts; h++)
			k[nk++] = (struct svc_key){ svcs[i].hosts[h], svcs[i].path_prefix, i };
	}
	qsort(k, nk, sizeof *k, svc_key_cmp);
	for (i = 1; i < nk; i++) {
		const struct config_svc *x = &svcs[k[i - 1].svc], *y = &svcs[k[i].svc];
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)k[i].svc);

		if (strcmp(k[i].a, k[i - 1].a) != 0 || strcmp(k[i].b, k[i - 1].b) != 0)
			continue;
		if (k[i].a[0] == '\0')
			ld_err(ld, e, "services \"%s\" and \"%s\" (line %d) both match every "
			    "host with path_prefix \"%s\"", x->name, y->name, x->line, y->path_prefix);
		else
			ld_err(ld, e, "service \"%s\" matches host \"%s\" with path_prefix \"%s\", "
			    "as service \"%s\" (line %d) does", y->name, k[i].a, y->path_prefix,
			    x->name, x->line);
	}
	free(k);
}

static int
svc_ptr_cmp(const void *x, const void *y)
{
	return strcmp((*(const struct config_svc *const *)x)->name,
	    (*(const struct config_svc *const *)y)->name);
}

/* c->by_name: the services sorted by name, for config_svc_named. */
static void
svc_index(struct loader *ld, struct config *c)
{
	c->by_name = calloc(c->nsvcs, sizeof *c->by_name);
	if (c->by_name == NULL) {
		ld->oom = 1;
		return;
	}
	for (size_t i = 0; i < c->nsvcs; i++)
		c->by_name[i] = &c->svcs[i];
	qsort(c->by_name, c->nsvcs, sizeof *c->by_name, svc_ptr_cmp);
}

const struct config_svc *
config_svc_named(const struct config *c, const char *name)
{
	struct config_svc key = { .name = (char *)name };
	const struct config_svc *kp = &key, *const *r;

	if (c->by_name == NULL)
		return NULL;
	r = bsearch(&kp, c->by_name, c->nsvcs, sizeof *c->by_name, svc_ptr_cmp);
	return r != NULL ? *r : NULL;
}

/*
 * After the top level is read: the services list (ld->services), each
 * entry from the template ld->tmpl, into c->svcs; without one, the
 * template is the service "default".
 */
void config_services(struct loader *ld, struct config *c, const config_setting_t *pools)
{
	const config_setting_t *list = ld->services;
	struct config_svc *tmpl = ld->tmpl;
	int n;

	if (list == NULL) {
		if (pools == NULL) {
			ld_err_at(ld, ld->path, 1, "missing required key \"pools\" at the top level");
			return;
		}
		if ((tmpl->name = ld_strdup(ld, "default")) == NULL)
			return;
		config_svc_cross(tmpl);
		c->svcs = tmpl;
		c->nsvcs = 1;
		ld->tmpl = NULL;
		svc_index(ld, c);
		return;
	}
	c->services = 1;
	if (c->cluster_netcd > 0) {
		ld_err(ld, list, "a cluster (a fleet of nodes) keeps one service's split for now: "
		    "leave out the services list or the cluster group");
		return;
	}
	if (pools != NULL) {
		ld_err(ld, pools, "\"pools\" belongs in each service when there is a \"services\" "
		    "list (line %d)", (int)setting_line(list));
		return;
	}
	if (!config_setting_is_list(list)) {
		err_type(ld, list, "a list of services ( { name = \"shop\"; pools = { ... }; }, ... )");
		return;
	}
	n = config_setting_length(list);
	if (n == 0 || n > CONFIG_MAX_SERVICES) {
		ld_err(ld, list, "\"services\" must list 1..%d services, got %d", CONFIG_MAX_SERVICES, n);
		return;
	}
	c->svcs = calloc((size_t)n, sizeof *c->svcs);
	if (c->svcs == NULL) {
		ld->oom = 1;
		return;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);

		svc_from_template(ld, &c->svcs[i], tmpl);
		c->nsvcs++;
		if (!config_setting_is_group(e)) {
			err_type(ld, e, "a service { name = \"shop\"; pools = { ... }; }");
			continue;
		}
		svc_parse(ld, e, &c->svcs[i]);
	}
	if (ld->nerrs == 0)
		svc_overlap(ld, list, c->svcs, c->nsvcs);
	if (ld->nerrs == 0)
		svc_index(ld, c);
}
