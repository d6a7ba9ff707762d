/*
 * admin_cluster.c - what the admin socket says of the fleet (CONTRACT
 * section 12): the cluster role in show info, the fleet's window in
 * status, and show nodes.
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "admin.h"
#include "cluster.h"
#include "jsonx.h"
#include "proxy.h"
#include "stats.h"
#include "worker.h"

/* {"node":"n1","leader":true,"connected":true}, null without a cluster */
json_t *
admin_cluster_object(void)
{
	if (!cluster_on())
		return json_null();
	return json_pack("{s:s,s:b,s:b,s:o}", "node", cluster_node(), "leader", cluster_leader(),
	    "connected", cluster_connected(), "error", jsonx_str_or_null(cluster_why()));
}

/* "cluster node n1 leader connected" / "cluster -" */
void
admin_cluster_line(struct evbuffer *b)
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

static double
admin_win_rate(const struct stats_window *w)
{
	return w->requests ? (double)w->errors / (double)w->requests : 0.0;
}

struct admin_nodes {
	struct evbuffer *b;
	json_t *list;
};

static void
admin_node_one(const struct cluster_figs *f, long long age_ms, int self, void *arg)
{
	struct admin_nodes *an = arg;
	struct stats_window all = f->win[POOL_BLUE];
	json_t *pools;
	int p;

	cluster_figs_add(&all, &f->win[POOL_GREEN]);
	if (an->list == NULL) {
		evbuffer_add_printf(an->b, "%s%s%s last_seen_ms %lld requests %llu error_rate %.4f "
		    "p99_ms %.1f version %llu", f->node, self ? " (this node)" : "",
		    f->leader ? " leader" : "", age_ms, (unsigned long long)all.requests,
		    admin_win_rate(&all), stats_window_quantile_ms(&all, 0.99), f->version);
		for (p = 0; p < CONFIG_POOLS; p++)
			evbuffer_add_printf(an->b, " %s %llu/%.4f/%.1f", pool_names[p],
			    (unsigned long long)f->win[p].requests, admin_win_rate(&f->win[p]),
			    stats_window_quantile_ms(&f->win[p], 0.99));
		evbuffer_add_printf(an->b, "\n");
		return;
	}
	pools = json_object();
	for (p = 0; p < CONFIG_POOLS; p++)
		json_object_set_new(pools, pool_names[p], json_pack("{s:I,s:I,s:f,s:f}", "requests",
		    (json_int_t)f->win[p].requests, "errors", (json_int_t)f->win[p].errors,
		    "error_rate", admin_win_rate(&f->win[p]), "p99_ms",
		    stats_window_quantile_ms(&f->win[p], 0.99)));
	json_array_append_new(an->list, json_pack("{s:s,s:b,s:b,s:I,s:I,s:f,s:f,s:I,s:o}", "node",
	    f->node, "self", self, "leader", f->leader, "last_seen_ms", (json_int_t)age_ms,
	    "requests", (json_int_t)all.requests, "error_rate", admin_win_rate(&all), "p99_ms",
	    stats_window_quantile_ms(&all, 0.99), "version", (json_int_t)f->version, "pools",
	    pools));
}

int
admin_cmd_show_nodes(struct admin_ctx *c, int argc, char **argv)
{
	struct admin_nodes an = { c->body, NULL };

	(void)argc;
	(void)argv;
	if (!cluster_on())
	{
		snprintf(c->err, sizeof(c->err), "no cluster: this node is alone (no cluster "
		    "section in %s)", rt.cfg->path);
		return -1;
	}
	if (c->json)
		an.list = json_array();
	cluster_nodes_each(admin_node_one, &an);
	if (c->json)
		c->jout = json_pack("{s:o,s:o}", "cluster", admin_cluster_object(), "nodes",
		    an.list);
	return 0;
}

/* The fleet's window, this node's included; the number of nodes in it. */
static int
admin_fleet_windows(struct stats_window win[STATS_CLASSES])
{
	uint64_t now = proxy_now_us();
	int p;

	for (p = 0; p < STATS_CLASSES; p++)
		worker_window_sum(p, rt.cfg->guard_window_s, now, &win[p]);
	return cluster_fleet_add(win) + 1;
}

/* status with a cluster: the role and the fleet's window. */
json_t *
admin_fleet_object(void)
{
	struct stats_window win[STATS_CLASSES];
	json_t *o;
	int p, n;

	if (!cluster_on())
		return json_null();
	n = admin_fleet_windows(win);
	o = json_pack("{s:s,s:b,s:b,s:o,s:i}", "node", cluster_node(), "leader", cluster_leader(),
	    "connected", cluster_connected(), "error", jsonx_str_or_null(cluster_why()), "nodes", n);
	for (p = 0; p < CONFIG_POOLS; p++)
		json_object_set_new(o, pool_names[p], json_pack("{s:I,s:I,s:f,s:f}", "requests",
		    (json_int_t)win[p].requests, "errors", (json_int_t)win[p].errors, "error_rate",
		    admin_win_rate(&win[p]), "p99_ms", stats_window_quantile_ms(&win[p], 0.99)));
	return o;
}

void
admin_fleet_text(struct evbuffer *b)
{
	struct stats_window win[STATS_CLASSES];
	int p, n;

	admin_cluster_line(b);
	if (!cluster_on())
		return;
	n = admin_fleet_windows(win);
	for (p = 0; p < CONFIG_POOLS; p++)
		evbuffer_add_printf(b, "fleet %s nodes %d requests/%ds %llu error_rate %.4f p99_ms "
		    "%.1f\n", pool_names[p], n, rt.cfg->guard_window_s,
		    (unsigned long long)win[p].requests, admin_win_rate(&win[p]),
		    stats_window_quantile_ms(&win[p], 0.99));
}

