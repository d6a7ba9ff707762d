/*
 * admin_cluster.c - what the admin socket says of the fleet (CONTRACT
 * section 12): the cluster role in show info, the fleet's window in
 * status, and show nodes.
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "admin_cmds.h"
#include "cluster.h"
#include "jsonx.h"
#include "proxy.h"
#include "stats.h"
#include "views.h"
#include "worker.h"

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
		    stats_window_error_rate(&all), stats_window_quantile_ms(&all, 0.99), f->version);
		for (p = 0; p < CONFIG_POOLS; p++)
			evbuffer_add_printf(an->b, " %s %llu/%.4f/%.1f", pool_names[p],
			    (unsigned long long)f->win[p].requests, stats_window_error_rate(&f->win[p]),
			    stats_window_quantile_ms(&f->win[p], 0.99));
		evbuffer_add_printf(an->b, "\n");
		return;
	}
	pools = json_object();
	for (p = 0; p < CONFIG_POOLS; p++)
		json_object_set_new(pools, pool_names[p], json_pack("{s:I,s:I,s:f,s:f}", "requests",
		    (json_int_t)f->win[p].requests, "errors", (json_int_t)f->win[p].errors,
		    "error_rate", stats_window_error_rate(&f->win[p]), "p99_ms",
		    stats_window_quantile_ms(&f->win[p], 0.99)));
	json_array_append_new(an->list, json_pack("{s:s,s:b,s:b,s:I,s:I,s:f,s:f,s:I,s:o}", "node",
	    f->node, "self", self, "leader", f->leader, "last_seen_ms", (json_int_t)age_ms,
	    "requests", (json_int_t)all.requests, "error_rate", stats_window_error_rate(&all), "p99_ms",
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
		c->jout = json_pack("{s:o,s:o}", "cluster", views_cluster_object(), "nodes",
		    an.list);
	return 0;
}
