/*
 * views.c - what the proxy says of itself, for whoever asks: the status
 * (the split, the rollout, the guard, the pools, shadow traffic, the fleet)
 * and the events, as JSON objects and as text lines, and the servers'
 * figures.  The admin commands, the metrics endpoint's /status.json and
 * /events.json and the webhooks all read them here, so each fact is
 * written once.  Control thread.
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "clock.h"
#include "cluster.h"
#include "guard.h"
#include "jsonx.h"
#include "pools.h"
#include "proxy.h"
#include "state.h"
#include "stats.h"
#include "views.h"
#include "watch.h"
#include "worker.h"

static json_t *views_fleet_object(void);
static void views_fleet_text(struct evbuffer *b);

/* Percentages as numbers with two decimals at most (5.0, 12.5). */
json_t *
views_pct(int bp)
{
	return json_real(bp / 100.0);
}

const char *
views_server_state(struct server *srv, uint64_t now)
{
	switch (atomic_load(&srv->state)) {
	case SRV_UP:
		return atomic_load(&srv->down_until) > now || atomic_load(&srv->health_down) ?
		    "down" : "up";
	case SRV_DOWN:
		return "down";
	case SRV_DRAINING:
		return "draining";
	case SRV_DISABLED:
		return "disabled";
	}
	return "unknown";
}

/* Per-server totals summed over the workers. */
void
views_server_figures(struct server *srv, long long *active, unsigned long long *req,
    unsigned long long *errs)
{
	int i;

	*active = 0;
	*req = *errs = 0;
	for (i = 0; i < rt.nworkers; i++) {
		struct stats_worker *sw = rt.workers[i].stats;

		*active += atomic_load_explicit(&sw->srv[srv->slot].active, memory_order_relaxed);
		*req += STATS_GET(sw->srv[srv->slot].requests);
		*errs += STATS_GET(sw->srv[srv->slot].errors);
	}
}

int
views_servers_up(struct service *sv, enum pool_id p, uint64_t now)
{
	int up = 0;
	size_t i;

	for (i = 0; i < pools_current(sv)->pools[p].nservers; i++)
		up += server_usable(pools_current(sv)->pools[p].servers[i], now);
	return up;
}

/* ---- status ---------------------------------------------------------------- */

static json_t *
views_status_pool(struct service *sv, enum pool_id p, uint64_t now_us)
{
	struct stats_window win;
	struct pool *pl = &pools_current(sv)->pools[p];
	json_t *list = json_array();
	size_t i;

	worker_window_sum(sv, p, service_cfg(sv)->guard_window_s, now_us, &win);
	for (i = 0; i < pl->nservers; i++) {
		struct server *srv = pl->servers[i];
		long long active;
		unsigned long long req, errs;

		views_server_figures(srv, &active, &req, &errs);
		json_array_append_new(list, json_pack("{s:s,s:s,s:I,s:I,s:I}", "address",
		    srv->addr.text, "state", views_server_state(srv, now_us), "active",
		    (json_int_t)active, "requests", (json_int_t)req, "errors", (json_int_t)errs));
	}
	return json_pack("{s:i,s:i,s:I,s:f,s:f,s:o}", "servers_up", views_servers_up(sv, p, now_us),
	    "servers", (int)pl->nservers, "requests", (json_int_t)win.requests,
	    "error_rate", stats_window_error_rate(&win),
	    "p99_ms", stats_window_quantile_ms(&win, 0.99), "server_list", list);
}

/* Shadow traffic's window: the share copied now, the copies' answers and
 * the stable answers to the same requests; null while nothing is copied
 * and the window is empty. */
static json_t *
views_status_shadow(struct service *sv, uint64_t now_us)
{
	struct stats_window cp, base;
	int bp = atomic_load_explicit(&rt.svcs[0]->mirror_bp, memory_order_relaxed);

	worker_window_sum(sv, STATS_SHADOW, service_cfg(sv)->guard_window_s, now_us, &cp);
	worker_window_sum(sv, STATS_SHADOW_BASE, service_cfg(sv)->guard_window_s, now_us, &base);
	if (bp == 0 && cp.requests == 0 && base.requests == 0)
		return json_null();
	return json_pack("{s:o,s:{s:I,s:f,s:f},s:{s:I,s:f,s:f}}", "percent", views_pct(bp),
	    "copies", "requests", (json_int_t)cp.requests, "error_rate",
	    stats_window_error_rate(&cp), "p99_ms", stats_window_quantile_ms(&cp, 0.99),
	    "stable", "requests", (json_int_t)base.requests, "error_rate",
	    stats_window_error_rate(&base), "p99_ms", stats_window_quantile_ms(&base, 0.99));
}

static json_t *
views_status_rollout(struct service *sv, const struct split_state *s)
{
	json_t *steps;
	char waits[256];
	int left;
	unsigned long long seen, need;
	size_t i;

	/* after a revert no rollout is running: its step is in last_revert */
	if (!s->has_rollout || s->mode == MODE_REVERTED)
		return json_null();
	steps = json_array();
	for (i = 0; i < s->nsteps; i++)
		json_array_append_new(steps, views_pct(s->steps_bp[i]));
	state_step_waits(sv, waits, sizeof(waits), &left, &seen, &need);
	/* shadow: the share copied in the shadow phase (step 0 waits after it) */
	return json_pack("{s:s,s:o,s:i,s:o,s:i,s:b,s:i,s:I,s:I,s:o}", "pool",
	    pool_names[s->rollout_pool], "steps", steps, "step", s->step, "shadow",
	    s->shadow_bp > 0 ? views_pct(s->shadow_bp) : json_null(), "hold_s", s->hold_s,
	    "paused", s->mode == MODE_PAUSED, "step_left_s", left, "step_requests",
	    (json_int_t)seen, "min_requests", (json_int_t)need, "waiting_for", jsonx_str(waits));
}

static json_t *
views_status_guard(struct service *sv)
{
	return json_pack("{s:o,s:b,s:s,s:i,s:i,s:i,s:f,s:i,s:f,s:f,s:f,s:i,s:s,s:f,s:f,s:i}",
	    "verdict", jsonx_str(watch_verdict(sv)), "dry_run", service_cfg(sv)->guard_dry_run, "on_trip",
	    guard_on_trip_names[service_cfg(sv)->guard_on_trip], "interval_ms", service_cfg(sv)->guard_interval_ms,
	    "window_s", service_cfg(sv)->guard_window_s, "min_requests", service_cfg(sv)->guard_min_requests,
	    "max_error_rate", service_cfg(sv)->guard_max_error_rate, "max_p99_ms", service_cfg(sv)->guard_max_p99_ms,
	    "min_healthy_fraction", service_cfg(sv)->guard_min_healthy_fraction,
	    "max_error_delta", service_cfg(sv)->guard_max_error_delta, "max_p99_ratio", service_cfg(sv)->guard_max_p99_ratio,
	    "bake_s", service_cfg(sv)->guard_bake_s, "method", guard_method_names[service_cfg(sv)->guard_method],
	    "alpha", service_cfg(sv)->guard_alpha, "max_error_ratio", service_cfg(sv)->guard_max_error_ratio,
	    "max_inconclusive_s", service_cfg(sv)->rollout_max_inconclusive_s);
}

/* What the guard's last trip was and what it did; null before one. */
static json_t *
views_last_trip(struct service *sv)
{
	const struct watch_trip *t = watch_last_trip(sv);

	if (t == NULL)
		return json_null();
	return json_pack("{s:I,s:s,s:o,s:s}", "time_ms", (json_int_t)t->time_ms, "check",
	    guard_check_names[t->check], "reason", jsonx_str(t->reason), "action",
	    guard_on_trip_names[t->action]);
}

json_t *
views_status_object(struct service *sv)
{
	const struct split_state *s = state_get(sv);
	uint64_t now = proxy_now_us();
	int blue = s->stable == POOL_BLUE ? 10000 - s->candidate_bp : s->candidate_bp;
	json_t *detail = json_null(), *o;

	if (s->last_revert[0] != '\0') {
		long long age = s->revert_time_ms ? (clock_wall_ms() - s->revert_time_ms) / 1000 : -1;

		/* the reason alone; after a restart only last_revert's words are
		 * left.  current: the split is still the revert's (state
		 * reverted); once anything else was done it is history */
		detail = json_pack("{s:o,s:o,s:o,s:o,s:o,s:b}", "reason", jsonx_str(s->revert_reason[0] ?
		    s->revert_reason : s->last_revert),
		    "time_ms", s->revert_time_ms ? json_integer(s->revert_time_ms) : json_null(),
		    "actor", jsonx_str_or_null(s->revert_actor),
		    "step", s->revert_step >= 0 ? json_integer(s->revert_step) : json_null(),
		    "age_s", age >= 0 ? json_integer(age) : json_null(),
		    "current", s->mode == MODE_REVERTED);
	}
	o = json_pack("{s:I,s:s,s:s,s:{s:o,s:o},s:o,s:o,s:o,s:b,s:o,s:i,s:o,s:o,s:o,s:o}",
	    "version", (json_int_t)s->version, "stable", pool_names[s->stable],
	    "state", state_mode_names[s->mode],
	    "weights", "blue", views_pct(blue), "green", views_pct(10000 - blue),
	    "rollout", views_status_rollout(sv, s),
	    "last_revert", jsonx_str_or_null(s->last_revert),
	    "last_revert_detail", detail,
	    /* with guard.dry_run: what the guard would do now */
	    "dry_run", service_cfg(sv)->guard_dry_run,
	    "dry_run_verdict", jsonx_str_or_null(watch_dry_verdict(sv)),
	    "window_s", service_cfg(sv)->guard_window_s,
	    "guard", views_status_guard(sv),
	    "pools", json_pack("{s:o,s:o}", "blue", views_status_pool(sv, POOL_BLUE, now), "green",
	    views_status_pool(sv, POOL_GREEN, now)),
	    "cluster", views_fleet_object(),
	    "last_trip", views_last_trip(sv));
	if (o != NULL)
		json_object_set_new(o, "shadow", views_status_shadow(sv, now));
	/* with a services list: whose status it is */
	if (o != NULL && rt.cfg->services)
		json_object_set_new(o, "service", json_string(sv->name));
	return o;
}

/* One service's line of the list: its split and where it stands. */
static json_t *
views_service_brief(struct service *sv)
{
	const struct split_state *s = state_get(sv);
	int blue = s->stable == POOL_BLUE ? 10000 - s->candidate_bp : s->candidate_bp;
	int live = s->has_rollout && s->mode != MODE_REVERTED;

	return json_pack("{s:s,s:I,s:s,s:s,s:{s:o,s:o},s:o,s:o,s:o,s:s}", "name", sv->name,
	    "version", (json_int_t)s->version, "stable", pool_names[s->stable],
	    "state", state_mode_names[s->mode], "weights", "blue", views_pct(blue),
	    "green", views_pct(10000 - blue),
	    "rollout_pool", live ? json_string(pool_names[s->rollout_pool]) : json_null(),
	    "rollout_step", live ? json_integer(s->step) : json_null(),
	    "last_revert", jsonx_str_or_null(s->last_revert), "guard", watch_verdict(sv));
}

json_t *
views_services_object(void)
{
	json_t *list = json_array();

	for (int i = 0; list != NULL && i < service_count(); i++)
		if (!atomic_load(&rt.svcs[i]->removed))
			json_array_append_new(list, views_service_brief(rt.svcs[i]));
	return json_pack("{s:o}", "services", list != NULL ? list : json_null());
}

void
views_services_text(struct evbuffer *b)
{
	for (int i = 0; i < service_count(); i++) {
		struct service *sv = rt.svcs[i];
		const struct split_state *s;
		char desc[128], step[48] = "-";

		if (atomic_load(&sv->removed))
			continue;
		s = state_get(sv);
		state_describe(s, desc, sizeof(desc));
		if (s->has_rollout && s->mode != MODE_REVERTED)
			snprintf(step, sizeof(step), "%s %d/%zu", pool_names[s->rollout_pool],
			    s->step + 1, s->nsteps);
		evbuffer_add_printf(b, "%s state %s, %s, stable %s, rollout %s, guard %s\n", sv->name,
		    state_mode_names[s->mode], desc, pool_names[s->stable], step, watch_verdict(sv));
	}
}

static void
views_shadow_text(struct service *sv, struct evbuffer *b, uint64_t now)
{
	struct stats_window cp, base;
	int bp = atomic_load_explicit(&rt.svcs[0]->mirror_bp, memory_order_relaxed);

	worker_window_sum(sv, STATS_SHADOW, service_cfg(sv)->guard_window_s, now, &cp);
	worker_window_sum(sv, STATS_SHADOW_BASE, service_cfg(sv)->guard_window_s, now, &base);
	if (bp == 0 && cp.requests == 0 && base.requests == 0)
		return;
	evbuffer_add_printf(b, "shadow %d.%02d%% copies/%ds %llu error_rate %.4f p99_ms %.1f, "
	    "stable answers %llu error_rate %.4f p99_ms %.1f\n", bp / 100, bp % 100,
	    service_cfg(sv)->guard_window_s, (unsigned long long)cp.requests, stats_window_error_rate(&cp),
	    stats_window_quantile_ms(&cp, 0.99), (unsigned long long)base.requests,
	    stats_window_error_rate(&base), stats_window_quantile_ms(&base, 0.99));
}

/* Text status for socat users: the same facts, one per line. */
void
views_status_text(struct service *sv, struct evbuffer *b)
{
	const struct split_state *s = state_get(sv);
	uint64_t now = proxy_now_us();
	int p, left;
	unsigned long long seen, need;
	char desc[128], waits[256];

	state_describe(s, desc, sizeof(desc));
	evbuffer_add_printf(b, "version %llu\nstable %s\nstate %s\nweights %s\n", s->version,
	    pool_names[s->stable], state_mode_names[s->mode], desc);
	if (s->has_rollout && s->mode == MODE_REVERTED && s->revert_time_ms != 0 &&
	    s->revert_step < 0)
		evbuffer_add_printf(b, "rollout %s reverted in its shadow phase (no user)\n",
		    pool_names[s->rollout_pool]);
	else if (s->has_rollout && s->mode == MODE_REVERTED)
		evbuffer_add_printf(b, "rollout %s reverted at step %d of %zu (%d.%02d%%)\n",
		    pool_names[s->rollout_pool], s->step + 1, s->nsteps, s->steps_bp[s->step] / 100,
		    s->steps_bp[s->step] % 100);
	else if (s->has_rollout && s->shadow_bp > 0)
		evbuffer_add_printf(b, "rollout %s shadow phase (copies of %d.%02d%%, then step 1 of "
		    "%zu) hold %d s, %d s left\n", pool_names[s->rollout_pool], s->shadow_bp / 100,
		    s->shadow_bp % 100, s->nsteps, s->hold_s, state_step_left_s(sv));
	else if (s->has_rollout)
		evbuffer_add_printf(b, "rollout %s step %d of %zu (%d.%02d%%) hold %d s, %d s left\n",
		    pool_names[s->rollout_pool], s->step + 1, s->nsteps, s->steps_bp[s->step] / 100,
		    s->steps_bp[s->step] % 100, s->hold_s, state_step_left_s(sv));
	else
		evbuffer_add_printf(b, "rollout -\n");
	if (s->has_rollout && s->mode != MODE_REVERTED) {
		state_step_waits(sv, waits, sizeof(waits), &left, &seen, &need);
		evbuffer_add_printf(b, "waiting_for %s\n", waits);
	}
	evbuffer_add_printf(b, "guard %s\n", watch_verdict(sv));
	if (watch_last_trip(sv) != NULL)
		evbuffer_add_printf(b, "last_trip %s: %s (%s)\n",
		    guard_on_trip_names[watch_last_trip(sv)->action],
		    guard_check_names[watch_last_trip(sv)->check], watch_last_trip(sv)->reason);
	evbuffer_add_printf(b, "last_revert %s\n", s->last_revert[0] ? s->last_revert : "-");
	if (service_cfg(sv)->guard_dry_run)
		evbuffer_add_printf(b, "dry_run %s\n",
		    watch_dry_verdict(sv)[0] ? watch_dry_verdict(sv) : "-");
	for (p = 0; p < CONFIG_POOLS; p++) {
		struct stats_window win;

		worker_window_sum(sv, p, service_cfg(sv)->guard_window_s, now, &win);
		evbuffer_add_printf(b, "pool %s servers %d/%zu up requests/%ds %llu error_rate %.4f "
		    "p99_ms %.1f\n", pool_names[p], views_servers_up(sv, p, now),
		    pools_current(sv)->pools[p].nservers, service_cfg(sv)->guard_window_s, (unsigned long long)win.requests,
		    stats_window_error_rate(&win), stats_window_quantile_ms(&win, 0.99));
	}
	views_shadow_text(sv, b, now);
	views_fleet_text(b);
}

struct views_events_arg {
	struct evbuffer *text;        /* the text form, or */
	json_t *list;                 /* the objects */
	int skip;                     /* events older than the last N */
};

static void
views_event_count(const struct state_ev *ev, void *arg)
{
	(void)ev;
	(*(int *)arg)++;
}

static void
views_event_one(const struct state_ev *ev, void *arg)
{
	struct views_events_arg *a = arg;

	if (a->skip > 0) {
		a->skip--;
		return;
	}
	if (a->list != NULL)
		json_array_append_new(a->list, views_event_json(ev));
	else
		evbuffer_add_printf(a->text, "%s\n", ev->text);
}

json_t *
views_event_json(const struct state_ev *ev)
{
	return json_pack("{s:s,s:s,s:o,s:o,s:s,s:o,s:o}", "time", ev->time, "kind", ev->kind,
	    "from", jsonx_str_or_null(ev->from), "to", jsonx_str_or_null(ev->to), "actor",
	    ev->actor, "evidence", jsonx_str_or_null(ev->evidence), "text", jsonx_str(ev->text));
}

void
views_events_text(struct service *sv, struct evbuffer *b, int want)
{
	struct views_events_arg a = { b, NULL, 0 };
	int total = 0;

	state_events_each(sv, views_event_count, &total);
	a.skip = total > want ? total - want : 0;
	state_events_each(sv, views_event_one, &a);
}

json_t *
views_events_object(struct service *sv, int want)
{
	struct views_events_arg a = { NULL, json_array(), 0 };
	int total = 0;

	state_events_each(sv, views_event_count, &total);
	a.skip = total > want ? total - want : 0;
	state_events_each(sv, views_event_one, &a);
	return a.list;   /* contract section 10: a list of event objects */
}

/* {"node":"n1","leader":true,"connected":true}, null without a cluster */
json_t *
views_cluster_object(void)
{
	if (!cluster_on())
		return json_null();
	return json_pack("{s:s,s:b,s:b,s:o}", "node", cluster_node(), "leader", cluster_leader(),
	    "connected", cluster_connected(), "error", jsonx_str_or_null(cluster_why()));
}

/* "cluster node n1 leader connected" / "cluster -" */
void
views_cluster_line(struct evbuffer *b)
{
	if (!cluster_on()) {
		evbuffer_add_printf(b, "cluster -\n");
		return;
	}
	evbuffer_add_printf(b, "cluster node %s %s %s%s%s\n", cluster_node(),
	    cluster_leader() ? "leader" : "follower",
	    cluster_connected() ? "connected" : "UNREACHABLE",
	    cluster_connected() || !cluster_why()[0] ? "" : ": ", cluster_connected() ? "" :
	    cluster_why());
}


/* The fleet's window, this node's included; the number of nodes in it. */
static int
views_fleet_windows(struct stats_window win[STATS_CLASSES])
{
	uint64_t now = proxy_now_us();
	int p;

	for (p = 0; p < STATS_CLASSES; p++)
		worker_window_sum(cluster_svc(), p, service_cfg(cluster_svc())->guard_window_s, now,
		    &win[p]);
	return cluster_fleet_add(win) + 1;
}

/* status with a cluster: the role and the fleet's window. */
static json_t *
views_fleet_object(void)
{
	struct stats_window win[STATS_CLASSES];
	json_t *o;
	int p, n;

	if (!cluster_on())
		return json_null();
	n = views_fleet_windows(win);
	o = json_pack("{s:s,s:b,s:b,s:o,s:i}", "node", cluster_node(), "leader", cluster_leader(),
	    "connected", cluster_connected(), "error", jsonx_str_or_null(cluster_why()), "nodes", n);
	for (p = 0; p < CONFIG_POOLS; p++)
		json_object_set_new(o, pool_names[p], json_pack("{s:I,s:I,s:f,s:f}", "requests",
		    (json_int_t)win[p].requests, "errors", (json_int_t)win[p].errors, "error_rate",
		    stats_window_error_rate(&win[p]), "p99_ms", stats_window_quantile_ms(&win[p], 0.99)));
	return o;
}

static void
views_fleet_text(struct evbuffer *b)
{
	struct stats_window win[STATS_CLASSES];
	int p, n;

	views_cluster_line(b);
	if (!cluster_on())
		return;
	n = views_fleet_windows(win);
	for (p = 0; p < CONFIG_POOLS; p++)
		evbuffer_add_printf(b, "fleet %s nodes %d requests/%ds %llu error_rate %.4f p99_ms "
		    "%.1f\n", pool_names[p], n, service_cfg(cluster_svc())->guard_window_s,
		    (unsigned long long)win[p].requests, stats_window_error_rate(&win[p]),
		    stats_window_quantile_ms(&win[p], 0.99));
}


long
views_uptime_s(void)
{
	return (long)((proxy_now_us() - rt.started_us) / 1000000);
}
