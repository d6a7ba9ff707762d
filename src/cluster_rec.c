/*
 * cluster_rec.c - the split record and a node's figures as etcd holds
 * them (see cluster_rec.h).  Pure: everything a peer wrote is checked here
 * before the control thread sees it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cluster_rec.h"
#include "errf.h"

#define CLUSTER_MS_MAX 999999999999999LL

/* the guard classes' names under "pools": the two pools, then shadow
 * traffic's (optional: a node from before it sends none) */
static const char *const cluster_pools[STATS_CLASSES] = { "blue", "green", "shadow",
	"shadow_base" };

char *
cluster_rec_format(const struct cluster_rec *r)
{
	char state[8192];
	json_t *o;
	char *out;

	if (persist_format(&r->st, state, sizeof(state)) == -1)
		return NULL;
	o = json_pack("{s:s,s:s,s:I,s:I}", "state", state, "node", r->node, "step_started_ms",
	    (json_int_t)r->step_started_ms, "bake_started_ms", (json_int_t)r->bake_started_ms);
	if (o == NULL)
		return NULL;
	out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return out;
}

/* A wall-clock time in ms, 0..CLUSTER_MS_MAX. */
static int
cluster_ms(json_t *o, const char *key, long long *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > CLUSTER_MS_MAX)
		return errf(err, errlen, "\"%s\" must be a time in ms", key);
	*out = (long long)json_integer_value(v);
	return 0;
}

static int
cluster_name(json_t *o, char *out, char *err, size_t errlen)
{
	const char *s = json_string_value(json_object_get(o, "node"));

	if (s == NULL || !cluster_node_ok(s))
		return errf(err, errlen, "\"node\" must be a node name");
	snprintf(out, CLUSTER_NODE_MAX, "%s", s);
	return 0;
}

static json_t *
cluster_load(const char *buf, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o;

	if (len > CLUSTER_REC_MAX) {
		errf(err, errlen, "%zu bytes, more than %d", len, CLUSTER_REC_MAX);
		return NULL;
	}
	o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (o == NULL) {
		errf(err, errlen, "not JSON: %s", je.text);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		errf(err, errlen, "not a JSON object");
		return NULL;
	}
	return o;
}

int
cluster_rec_parse(const char *buf, size_t len, struct cluster_rec *r, char *err, size_t errlen)
{
	struct cluster_rec n;
	json_t *o = cluster_load(buf, len, err, errlen), *st;
	char perr[256];
	int rc = -1;

	if (o == NULL)
		return -1;
	memset(&n, 0, sizeof(n));
	st = json_object_get(o, "state");
	if (!json_is_string(st)) {
		errf(err, errlen, "\"state\" must be a string");
		goto out;
	}
	if (persist_parse(json_string_value(st), json_string_length(st), &n.st, perr,
	    sizeof(perr)) == -1) {
		errf(err, errlen, "state: %s", perr);
		goto out;
	}
	if (cluster_name(o, n.node, err, errlen) == -1 ||
	    cluster_ms(o, "step_started_ms", &n.step_started_ms, err, errlen) == -1 ||
	    cluster_ms(o, "bake_started_ms", &n.bake_started_ms, err, errlen) == -1)
		goto out;
	*r = n;
	rc = 0;
out:
	json_decref(o);
	return rc;
}

/* ---- a node's figures ------------------------------------------------------ */

static json_t *
cluster_win_json(const struct stats_window *w, uint64_t routed)
{
	json_t *lat = json_array();
	size_t i;

	for (i = 0; lat != NULL && i < STATS_LAT_BUCKETS; i++)
		if (w->lat[i] != 0)
			json_array_append_new(lat, json_pack("[I,I]", (json_int_t)i,
			    (json_int_t)w->lat[i]));
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:I}", "requests",
	    (json_int_t)w->requests, "errors", (json_int_t)w->errors, "connect",
	    (json_int_t)w->err_kind[STATS_ERR_CONNECT], "timeout",
	    (json_int_t)w->err_kind[STATS_ERR_TIMEOUT], "reset",
	    (json_int_t)w->err_kind[STATS_ERR_RESET], "protocol",
	    (json_int_t)w->err_kind[STATS_ERR_PROTOCOL], "grpc",
	    (json_int_t)w->err_kind[STATS_ERR_GRPC], "status_5xx", (json_int_t)w->status_5xx,
	    "lat", lat, "routed", (json_int_t)routed);
}

char *
cluster_figs_format(const struct cluster_figs *f)
{
	json_t *pools = json_object(), *o;
	char *out;
	int p;

	for (p = 0; pools != NULL && p < STATS_CLASSES; p++)
		if (p < CONFIG_POOLS || f->win[p].requests != 0 || f->routed[p] != 0)
			json_object_set_new(pools, cluster_pools[p], cluster_win_json(&f->win[p],
			    f->routed[p]));
	o = json_pack("{s:s,s:I,s:I,s:b,s:o,s:I,s:{s:I,s:I}}", "node", f->node, "time_ms",
	    (json_int_t)f->time_ms, "version", (json_int_t)f->version, "leader", f->leader, "pools",
	    pools, "started_ms", (json_int_t)f->started_ms, "step", "key", (json_int_t)f->step_key,
	    "requests", (json_int_t)f->step_requests);
	if (o == NULL)
		return NULL;
	if (f->has_judged) {
		json_t *j = json_object();

		for (p = 0; j != NULL && p < CONFIG_POOLS; p++)
			json_object_set_new(j, cluster_pools[p], json_pack("{s:I,s:I,s:I,s:I,s:I}",
			    "requests", (json_int_t)f->judged[p].requests, "errors",
			    (json_int_t)f->judged[p].errors, "slow", (json_int_t)f->judged[p].slow[0],
			    "slow_ratio", (json_int_t)f->judged[p].slow[1], "bound1",
			    (json_int_t)f->judged[p].bound1));
		json_object_set_new(o, "judged", j != NULL ? j : json_null());
	}
	out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return out;
}

/* A count: a non-negative integer below 2^53 (what any JSON reader keeps). */
static int
cluster_count(json_t *o, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > (json_int_t)1 << 53)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* "judged": {"blue": {...}, "green": {...}}, optional; each count at most
 * its requests */
static int
cluster_judged_parse(json_t *j, struct cluster_figs *n, char *err, size_t errlen)
{
	int p;

	if (j == NULL)
		return 0;
	if (!json_is_object(j))
		return errf(err, errlen, "\"judged\" must be an object");
	for (p = 0; p < CONFIG_POOLS; p++) {
		json_t *o = json_object_get(j, cluster_pools[p]);
		struct stats_judged *d = &n->judged[p];

		if (!json_is_object(o) || cluster_count(o, "requests", &d->requests) == -1 ||
		    cluster_count(o, "errors", &d->errors) == -1 ||
		    cluster_count(o, "slow", &d->slow[0]) == -1 ||
		    cluster_count(o, "slow_ratio", &d->slow[1]) == -1 ||
		    cluster_count(o, "bound1", &d->bound1) == -1 || d->errors > d->requests ||
		    d->slow[0] > d->requests || d->bound1 > d->requests || d->slow[1] > d->bound1)
			return errf(err, errlen, "\"judged\".%s must hold counts requests, errors, "
			    "slow, slow_ratio, bound1, none above requests", cluster_pools[p]);
	}
	n->has_judged = 1;
	return 0;
}

static int
cluster_win_parse(json_t *o, struct stats_window *w, uint64_t *routed, const char *pool,
    char *err, size_t errlen)
{
	json_t *lat, *e;
	uint64_t idx, n;
	size_t i;

	if (!json_is_object(o) || cluster_count(o, "requests", &w->requests) == -1 ||
	    cluster_count(o, "errors", &w->errors) == -1 ||
	    cluster_count(o, "connect", &w->err_kind[STATS_ERR_CONNECT]) == -1 ||
	    cluster_count(o, "timeout", &w->err_kind[STATS_ERR_TIMEOUT]) == -1 ||
	    cluster_count(o, "reset", &w->err_kind[STATS_ERR_RESET]) == -1 ||
	    cluster_count(o, "status_5xx", &w->status_5xx) == -1 ||
	    cluster_count(o, "routed", routed) == -1)
		return errf(err, errlen, "pools.%s: requests, errors, connect, timeout, reset, "
		    "status_5xx and routed must be counts", pool);
	/* optional: a node of an earlier release does not send it */
	if (json_object_get(o, "protocol") != NULL &&
	    cluster_count(o, "protocol", &w->err_kind[STATS_ERR_PROTOCOL]) == -1)
		return errf(err, errlen, "pools.%s: protocol must be a count", pool);
	if (json_object_get(o, "grpc") != NULL &&
	    cluster_count(o, "grpc", &w->err_kind[STATS_ERR_GRPC]) == -1)
		return errf(err, errlen, "pools.%s: grpc must be a count", pool);
	if (w->errors > w->requests)
		return errf(err, errlen, "pools.%s: more errors than requests", pool);
	lat = json_object_get(o, "lat");
	if (!json_is_array(lat) || json_array_size(lat) > STATS_LAT_BUCKETS)
		return errf(err, errlen, "pools.%s.lat must be a list of [bucket, count]", pool);
	json_array_foreach(lat, i, e) {
		json_t *a = json_array_get(e, 0), *b = json_array_get(e, 1);

		if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_integer(a) ||
		    !json_is_integer(b) || json_integer_value(a) < 0 ||
		    json_integer_value(a) >= STATS_LAT_BUCKETS || json_integer_value(b) < 0 ||
		    json_integer_value(b) > UINT32_MAX)
			return errf(err, errlen, "pools.%s.lat[%zu] must be [0..%d, count]", pool, i,
			    STATS_LAT_BUCKETS - 1);
		idx = (uint64_t)json_integer_value(a);
		n = (uint64_t)json_integer_value(b);
		w->lat[idx] = (uint32_t)n;
	}
	return 0;
}

int
cluster_figs_parse(const char *buf, size_t len, struct cluster_figs *f, char *err, size_t errlen)
{
	struct cluster_figs n;
	json_t *o = cluster_load(buf, len, err, errlen), *pools, *lead, *step;
	uint64_t v;
	int p, rc = -1;

	if (o == NULL)
		return -1;
	memset(&n, 0, sizeof(n));
	if (cluster_name(o, n.node, err, errlen) == -1 ||
	    cluster_ms(o, "time_ms", &n.time_ms, err, errlen) == -1)
		goto out;
	if (cluster_count(o, "version", &v) == -1) {
		errf(err, errlen, "\"version\" must be a count");
		goto out;
	}
	n.version = v;
	lead = json_object_get(o, "leader");
	if (!json_is_boolean(lead)) {
		errf(err, errlen, "\"leader\" must be true or false");
		goto out;
	}
	n.leader = json_is_true(lead);
	pools = json_object_get(o, "pools");
	if (!json_is_object(pools)) {
		errf(err, errlen, "\"pools\" must be an object");
		goto out;
	}
	for (p = 0; p < STATS_CLASSES; p++) {
		json_t *w = json_object_get(pools, cluster_pools[p]);

		if (w == NULL && p >= CONFIG_POOLS)
			continue;     /* no shadow traffic on that node */
		if (cluster_win_parse(w, &n.win[p], &n.routed[p], cluster_pools[p], err,
		    errlen) == -1)
			goto out;
	}
	if (json_object_get(o, "started_ms") != NULL &&
	    cluster_ms(o, "started_ms", &n.started_ms, err, errlen) == -1)
		goto out;
	step = json_object_get(o, "step");
	if (step != NULL && (!json_is_object(step) ||
	    cluster_ms(step, "key", &n.step_key, err, errlen) == -1 ||
	    cluster_count(step, "requests", &n.step_requests) == -1)) {
		errf(err, errlen, "\"step\" must be {\"key\": wall-clock ms, \"requests\": count}");
		goto out;
	}
	if (cluster_judged_parse(json_object_get(o, "judged"), &n, err, errlen) == -1)
		goto out;
	*f = n;
	rc = 0;
out:
	json_decref(o);
	return rc;
}

void
cluster_figs_add(struct stats_window *a, const struct stats_window *b)
{
	size_t i;

	a->requests += b->requests;
	a->errors += b->errors;
	for (i = 0; i < STATS_ERR_KINDS; i++)
		a->err_kind[i] += b->err_kind[i];
	a->status_5xx += b->status_5xx;
	for (i = 0; i < STATS_LAT_BUCKETS; i++)
		a->lat[i] = a->lat[i] > UINT32_MAX - b->lat[i] ? UINT32_MAX : a->lat[i] + b->lat[i];
}
