/*
 * admin_cmds.c - the admin command table {words, args, help, handler} and
 * the handlers.  Shared code checks the argument count; a handler says
 * exactly what is wrong and changes nothing when it refuses.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "admin_cmds.h"
#include "admin_parse.h"
#include "clock.h"
#include "cluster.h"
#include "guard.h"
#include "jsonx.h"
#include "pools.h"
#include "proxy.h"
#include "reload.h"
#include "rollout.h"
#include "state.h"
#include "stats.h"
#include "views.h"
#include "watch.h"
#include "worker.h"

/* ---- helpers ------------------------------------------------------------- */

static int
admin_err(struct admin_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
admin_err(struct admin_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return -1;
}

/* The answer of a command that only says what it did. */
static int
admin_done(struct admin_ctx *c, const char *msg)
{
	if (c->json)
		c->jout = json_pack("{s:b,s:o}", "ok", 1, "message", jsonx_str(msg));
	else
		evbuffer_add_printf(c->body, "%s\n", msg);
	return 0;
}


static int
admin_pool_arg(struct admin_ctx *c, const char *s, enum pool_id *out)
{
	int p = admin_parse_pool(s);

	if (p == -1)
		return admin_err(c, "unknown pool \"%s\"; pools are blue and green", s);
	*out = (enum pool_id)p;
	return 0;
}

static int
admin_cmd_status(struct admin_ctx *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (c->sv == NULL) {
		/* several services and none named: one line each */
		if (c->json)
			c->jout = views_services_object();
		else
			views_services_text(c->body);
		return 0;
	}
	if (c->json)
		c->jout = views_status_object(c->sv);
	else
		views_status_text(c->sv, c->body);
	return 0;
}

/* ---- split changes ------------------------------------------------------- */

static int
admin_cmd_set_weight(struct admin_ctx *c, int argc, char **argv)
{
	enum pool_id pool = POOL_BLUE;
	char msg[256];
	int bp;

	(void)argc;
	if (admin_pool_arg(c, argv[0], &pool) == -1)
		return -1;
	if (admin_parse_percent(argv[1], &bp) == -1)
		return admin_err(c, "weight must be 0..100 with at most two decimals, got \"%s\"",
		    argv[1]);
	if (state_set_weight(c->sv, pool, bp, &c->who, msg, sizeof(msg)) == -1)
		return admin_err(c, "%s", msg);
	return admin_done(c, msg);
}

static int
admin_cmd_switch(struct admin_ctx *c, int argc, char **argv)
{
	enum pool_id pool = POOL_BLUE;
	char msg[256];

	(void)argc;
	if (admin_pool_arg(c, argv[0], &pool) == -1)
		return -1;
	if (state_switch(c->sv, pool, &c->who, msg, sizeof(msg)) == -1)
		return admin_err(c, "%s", msg);
	return admin_done(c, msg);
}

static int
admin_cmd_revert(struct admin_ctx *c, int argc, char **argv)
{
	char msg[256], reason[128];

	(void)argc;
	(void)argv;
	if (c->cmd_id == ACMD_ROLLOUT_ABORT && !state_nothing_to_revert(c->sv) &&
	    (!state_get(c->sv)->has_rollout || state_get(c->sv)->mode == MODE_REVERTED)) {
		/* a split set by hand is not a rollout: abort leaves it */
		return admin_done(c, "no rollout to abort (no change)");
	}
	snprintf(reason, sizeof(reason), "operator revert (uid %d)", (int)c->who.uid);
	if (state_revert(c->sv, reason, &c->who, msg, sizeof(msg)) == -1)
		return admin_err(c, "%s", msg);
	return admin_done(c, msg);
}

static int
admin_cmd_promote(struct admin_ctx *c, int argc, char **argv)
{
	char msg[512];

	(void)argc;
	(void)argv;
	if (state_promote(c->sv, &c->who, msg, sizeof(msg)) == -1)
		return admin_err(c, "%s", msg);
	return admin_done(c, msg);
}

static int
admin_cmd_rollout_start(struct admin_ctx *c, int argc, char **argv)
{
	enum pool_id pool = POOL_BLUE;
	int steps[SPLIT_MAX_STEPS], hold = service_cfg(c->sv)->rollout_hold_s, shadow = 0;
	size_t nsteps = service_cfg(c->sv)->rollout_nsteps, i;
	char msg[512];

	if (admin_pool_arg(c, argv[0], &pool) == -1)
		return -1;
	for (i = 0; i < nsteps && i < SPLIT_MAX_STEPS; i++)
		steps[i] = service_cfg(c->sv)->rollout_steps_bp[i];
	if (rollout_parse_args(argc - 1, argv + 1, steps, &nsteps, &hold, &shadow, c->err,
	    sizeof(c->err)) == -1)
		return -1;
	if (state_rollout_start(c->sv, pool, steps, nsteps, hold, shadow, &c->who, msg, sizeof(msg)) == -1)
		return admin_err(c, "%s", msg);
	return admin_done(c, msg);
}

static int
admin_cmd_rollout_gate(struct admin_ctx *c,
    int (*fn)(struct service *, const struct actor *, char *, size_t))
{
	char msg[512];

	if (fn(c->sv, &c->who, msg, sizeof(msg)) == -1)
		return admin_err(c, "%s", msg);
	return admin_done(c, msg);
}

static int
admin_cmd_rollout_pause(struct admin_ctx *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return admin_cmd_rollout_gate(c, state_rollout_pause);
}

static int
admin_cmd_rollout_resume(struct admin_ctx *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return admin_cmd_rollout_gate(c, state_rollout_resume);
}

static int
admin_cmd_rollout_next(struct admin_ctx *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return admin_cmd_rollout_gate(c, state_rollout_next);
}

/* ---- servers --------------------------------------------------------------- */

static const char *const admin_srv_state_names[] = { "up", "down", "draining", "disabled" };

static int
admin_cmd_server(struct admin_ctx *c, int argc, char **argv)
{
	enum pool_id pool = POOL_BLUE;
	struct pool *pl;
	struct server *srv = NULL;
	int to, from;
	size_t i;
	char msg[256];

	(void)argc;
	if (admin_pool_arg(c, argv[0], &pool) == -1)
		return -1;
	if (strcmp(argv[2], "drain") == 0)
		to = SRV_DRAINING;
	else if (strcmp(argv[2], "disable") == 0)
		to = SRV_DISABLED;
	else if (strcmp(argv[2], "enable") == 0)
		to = SRV_UP;
	else
		return admin_err(c, "unknown server action \"%s\"; use drain, disable or enable",
		    argv[2]);
	pl = &pools_current(c->sv)->pools[pool];
	for (i = 0; i < pl->nservers; i++)
		if (strcmp(pl->servers[i]->addr.text, argv[1]) == 0)
			srv = pl->servers[i];
	if (srv == NULL) {
		char list[1024] = "";
		size_t off = 0;

		for (i = 0; i < pl->nservers && off < sizeof(list) - 64; i++)
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "",
			    pl->servers[i]->addr.text);
		return admin_err(c, "no server %s in pool %s; its servers are %s", argv[1],
		    pool_names[pool], list);
	}
	if (atomic_load(&srv->state) == to && (to != SRV_UP || atomic_load(&srv->down_until) == 0)) {
		snprintf(msg, sizeof(msg), "server %s %s is %s already (no change)", pool_names[pool],
		    srv->addr.text, admin_srv_state_names[to]);
		return admin_done(c, msg);
	}
	from = atomic_exchange(&srv->state, to);
	if (to == SRV_UP)
		atomic_store(&srv->down_until, 0);
	atomic_store(&srv->changed_us, proxy_now_us());
	if (from == to)         /* up, but out of rotation by a passive mark */
		state_event_rec(c->sv, &c->who, "server", admin_srv_state_names[from],
		    admin_srv_state_names[to], NULL, "server %s %s: %s, its passive mark cleared "
		    "(back in rotation)", pool_names[pool], srv->addr.text, admin_srv_state_names[to]);
	else
		state_event_rec(c->sv, &c->who, "server", admin_srv_state_names[from],
		    admin_srv_state_names[to], NULL, "server %s %s: %s -> %s", pool_names[pool],
		    srv->addr.text, admin_srv_state_names[from], admin_srv_state_names[to]);
	snprintf(msg, sizeof(msg), "server %s %s %s", pool_names[pool], srv->addr.text,
	    admin_srv_state_names[to]);
	return admin_done(c, msg);
}

static int
admin_cmd_show_servers(struct admin_ctx *c, int argc, char **argv)
{
	static const char *const kinds[STATS_ERR_KINDS] = { "connect", "timeout", "reset",
		"protocol", "grpc" };
	uint64_t now = proxy_now_us();
	json_t *list = c->json ? json_array() : NULL;
	int p, k, w;
	size_t i;

	(void)argc;
	(void)argv;
	for (p = 0; p < CONFIG_POOLS; p++) {
		for (i = 0; i < pools_current(c->sv)->pools[p].nservers; i++) {
			struct server *srv = pools_current(c->sv)->pools[p].servers[i];
			const char *state = views_server_state(srv, now);
			uint64_t since = atomic_load(&srv->changed_us), until;
			unsigned long long req, errs, by[STATS_ERR_KINDS] = { 0 }, s5 = 0;
			long long active, since_s, check_s;
			char check[160] = "", errs_txt[160];
			json_t *jcheck = NULL, *jby;

			views_server_figures(srv, &active, &req, &errs);
			for (w = 0; w < rt.nworkers; w++) {
				struct stats_worker *sw = rt.workers[w].stats;

				for (k = 0; k < STATS_ERR_KINDS; k++)
					by[k] += STATS_GET(sw->srv[srv->slot].err_kind[k]);
				s5 += STATS_GET(sw->srv[srv->slot].s5xx);
			}
			/* a passive mark that ran out: up again since then */
			until = atomic_load(&srv->down_until);
			if (until > since && until <= now)
				since = until;
			since_s = now > since ? (long long)((now - since) / 1000000) : 0;
			check_s = srv->check_ok >= 0 && now > srv->check_us ?
			    (long long)((now - srv->check_us) / 1000000) : 0;
			if (srv->check_ok >= 0) {
				snprintf(check, sizeof(check), " check %s%s%s (%lld s ago)",
				    srv->check_ok ? "ok" : "failed", srv->check_ok ? "" : ": ",
				    srv->check_ok ? "" : srv->check_why, check_s);
				if (c->json)
					jcheck = json_pack("{s:b,s:I,s:o}", "ok", srv->check_ok,
					    "age_s", (json_int_t)check_s, "why", srv->check_ok ?
					    json_null() : jsonx_str(srv->check_why));
			}
			snprintf(errs_txt, sizeof(errs_txt), "5xx %llu %s %llu %s %llu %s %llu %s %llu",
			    s5, kinds[0], by[0], kinds[1], by[1], kinds[2], by[2], kinds[3], by[3]);
			/* gRPC errors, once there are any */
			if (by[STATS_ERR_GRPC] > 0)
				snprintf(errs_txt + strlen(errs_txt), sizeof(errs_txt) - strlen(errs_txt),
				    " grpc %llu", by[STATS_ERR_GRPC]);
			if (c->json) {
				jby = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "5xx", (json_int_t)s5,
				    kinds[0], (json_int_t)by[0], kinds[1], (json_int_t)by[1], kinds[2],
				    (json_int_t)by[2], kinds[3], (json_int_t)by[3], kinds[4],
				    (json_int_t)by[4]);
				json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:o,"
				    "s:o}", "pool", pool_names[p], "address", srv->addr.text, "state",
				    state, "active", (json_int_t)active, "requests", (json_int_t)req,
				    "errors", (json_int_t)errs, "state_s", (json_int_t)since_s,
				    "errors_by", jby, "check", jcheck != NULL ? jcheck : json_null()));
				/* max_connections, when set: the limit and who waits */
				json_object_set_new(json_array_get(list, json_array_size(list) - 1),
				    "max_connections", json_integer(atomic_load(&srv->maxconn)));
				json_object_set_new(json_array_get(list, json_array_size(list) - 1),
				    "queued", json_integer(atomic_load(&srv->queued)));
			} else {
				char lim[64] = "";

				if (atomic_load(&srv->maxconn) > 0)
					snprintf(lim, sizeof(lim), " of %d queued %d",
					    atomic_load(&srv->maxconn), atomic_load(&srv->queued));
				evbuffer_add_printf(c->body, "%s %s %s active %lld%s requests %llu "
				    "errors %llu (%s) for %lld s%s\n", pool_names[p], srv->addr.text,
				    state, active, lim, req, errs, errs_txt, since_s, check);
			}
		}
	}
	if (c->json)
		c->jout = json_pack("{s:o}", "servers", list);
	return 0;
}

/* ---- events, reload, help ------------------------------------------------ */

static int
admin_cmd_show_events(struct admin_ctx *c, int argc, char **argv)
{
	int want = STATE_EVENTS;
	char *end;

	if (argc == 1) {
		long n = strtol(argv[0], &end, 10);

		if (*argv[0] < '0' || *argv[0] > '9' || *end != '\0' || n < 1 || n > STATE_EVENTS)
			return admin_err(c, "N must be 1..%d, got \"%.32s\"", STATE_EVENTS, argv[0]);
		want = (int)n;
	}
	if (c->json) {
		c->jout = views_events_object(c->sv, want);
		return 0;
	}
	views_events_text(c->sv, c->body, want);
	return 0;
}

static int
admin_cmd_reload(struct admin_ctx *c, int argc, char **argv)
{
	char msg[4096];

	(void)argc;
	(void)argv;
	if (reload_run(&c->who, msg, sizeof(msg)) == -1)
		return admin_err(c, "%s", msg);
	return admin_done(c, msg);
}

static int
admin_cmd_show_info(struct admin_ctx *c, int argc, char **argv)
{
	const struct config *cfg = rt.cfg;
	long up = views_uptime_s();
	long conns = atomic_load(&rt.conns_active);
	/* of the one service there is (0 with several) */
	unsigned long long ver = c->sv != NULL ? state_get(c->sv)->version : 0;
	json_t *lis;
	size_t i;

	(void)argc;
	(void)argv;
	if (c->json) {
		c->jout = json_pack("{s:s,s:i,s:I,s:i,s:o,s:I,s:o,s:o,s:o,s:I}", "version",
		    BGPROXY_VERSION, "pid", (int)getpid(), "uptime_s", (json_int_t)up,
		    "workers", rt.nworkers, "config", jsonx_str(cfg->path), "connections",
		    (json_int_t)conns, "state_file", jsonx_str(cfg->state_file),
		    "admin_socket", jsonx_str(cfg->admin_socket),
		    "readonly_socket", jsonx_str(cfg->admin_readonly_socket),
		    "split_version", (json_int_t)ver);
		json_object_set_new(c->jout, "cluster", views_cluster_object());
		lis = json_array();
		for (i = 0; lis != NULL && i < cfg->nlisteners; i++)
			json_array_append_new(lis, json_string(cfg->listeners[i].addr.text));
		json_object_set_new(c->jout, "listeners", lis != NULL ? lis : json_null());
		return 0;
	}
	evbuffer_add_printf(c->body, "version %s\npid %d\nuptime_s %ld\nworkers %d\nconfig %s\n"
	    "connections %ld\nstate_file %s\nadmin_socket %s\nreadonly_socket %s\n"
	    "split_version %llu\n", BGPROXY_VERSION, (int)getpid(), up, rt.nworkers,
	    cfg->path, conns, cfg->state_file ? cfg->state_file : "-", cfg->admin_socket,
	    cfg->admin_readonly_socket ? cfg->admin_readonly_socket : "-", ver);
	evbuffer_add_printf(c->body, "listeners");
	for (i = 0; i < cfg->nlisteners; i++)
		evbuffer_add_printf(c->body, " %s", cfg->listeners[i].addr.text);
	evbuffer_add_printf(c->body, "\n");
	views_cluster_line(c->body);
	return 0;
}

typedef int (*admin_handler)(struct admin_ctx *c, int argc, char **argv);

static int admin_cmd_help_fn(struct admin_ctx *c, int argc, char **argv);

/* the handler of each command of admin_cmd_table, by id */
static const admin_handler admin_handlers[ACMD_COUNT] = {
#define ADMIN_CMD(id, words, args, min, max, change, ro, fleet, fn, help) [ACMD_##id] = fn,
#include "admin_cmds.def"
#undef ADMIN_CMD
};

static void
admin_synopsis(const struct admin_cmd_spec *spec, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", spec->words, spec->args[0] ? " " : "", spec->args);
}

void
admin_cmd_help(struct evbuffer *out)
{
	char syn[128];
	size_t i;

	for (i = 0; i < ACMD_COUNT; i++) {
		admin_synopsis(&admin_cmd_table[i], syn, sizeof(syn));
		/* a synopsis wider than the column: the help on the next line */
		if (strlen(syn) > 45)
			evbuffer_add_printf(out, "%s\n%-45s %s\n", syn, "", admin_cmd_table[i].help);
		else
			evbuffer_add_printf(out, "%-45s %s\n", syn, admin_cmd_table[i].help);
	}
}

static int
admin_cmd_help_fn(struct admin_ctx *c, int argc, char **argv)
{
	char syn[128];
	size_t i;

	(void)argc;
	(void)argv;
	if (!c->json) {
		admin_cmd_help(c->body);
		return 0;
	}
	json_t *list = json_array();

	for (i = 0; i < ACMD_COUNT; i++) {
		admin_synopsis(&admin_cmd_table[i], syn, sizeof(syn));
		json_array_append_new(list, json_pack("{s:s,s:s}", "command", syn, "help",
		    admin_cmd_table[i].help));
	}
	c->jout = json_pack("{s:o}", "commands", list);
	return 0;
}

/* The commands about the process, not a split: they take no service. */
static int
admin_cmd_global(enum admin_cmd_id id)
{
	return id == ACMD_HELP || id == ACMD_RELOAD || id == ACMD_SHOW_INFO ||
	    id == ACMD_SHOW_NODES;
}

/* The names of the services, "shop, api", into buf. */
static void
admin_service_names(char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < service_count() && off + 4 < len; i++) {
		if (atomic_load(&rt.svcs[i]->removed))
			continue;
		off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "",
		    rt.svcs[i]->name);
	}
	if (off + 4 >= len && len > 4)
		snprintf(buf + len - 4, 4, "...");
}

/* The one service there is, NULL with several. */
static struct service *
admin_only_service(void)
{
	struct service *one = NULL;

	for (int i = 0; i < service_count(); i++) {
		if (atomic_load(&rt.svcs[i]->removed))
			continue;
		if (one != NULL)
			return NULL;
		one = rt.svcs[i];
	}
	return one;
}

/* The service the command acts on (c->sv): its "in SERVICE", else the
 * one there is; with several, a command about a split must name it
 * (status alone lists them all). */
static int
admin_cmd_service(struct admin_ctx *c, const struct admin_parsed *ap)
{
	char names[512];

	c->sv = NULL;
	if (ap->service != NULL) {
		c->sv = service_find(ap->service);
		if (c->sv == NULL || atomic_load(&c->sv->removed)) {
			admin_service_names(names, sizeof(names));
			c->sv = NULL;
			return admin_err(c, "no service \"%.64s\"; services: %s", ap->service, names);
		}
		if (admin_cmd_global(ap->cmd->id))
			return admin_err(c, "%s is about the whole process, not one service: leave "
			    "out \"in %s\"", ap->cmd->words, c->sv->name);
		return 0;
	}
	c->sv = admin_only_service();
	if (c->sv != NULL || admin_cmd_global(ap->cmd->id) || ap->cmd->id == ACMD_STATUS)
		return 0;
	admin_service_names(names, sizeof(names));
	return admin_err(c, "which service? %s", names);
}

int
admin_cmd_run(struct admin_ctx *c, char *line, int *changes_state)
{
	struct admin_parsed ap;
	int r;

	r = admin_parse_line(line, &ap, c->err, sizeof(c->err));
	c->json = ap.json;
	*changes_state = ap.cmd != NULL && ap.cmd->changes_state;
	/* the read-only socket answers only what changes nothing */
	if (c->readonly && (ap.cmd == NULL || !ap.cmd->readonly_ok) &&
	    (r == 0 || ap.cmd != NULL))
		return admin_err(c, "read-only socket");
	if (r == -1)
		return -1;
	if (admin_cmd_service(c, &ap) == -1)
		return -1;
	if (ap.if_version >= 0 && (unsigned long long)ap.if_version != state_get(c->sv)->version)
		return admin_err(c, "%sversion is %llu, not %lld", cluster_on() ? "conflict: " : "",
		    state_get(c->sv)->version, ap.if_version);
	c->cmd_id = (int)ap.cmd->id;
	return admin_handlers[ap.cmd->id](c, ap.argc, ap.argv);
}

struct service *
admin_cmd_line_service(const char *line)
{
	char buf[ADMIN_LINE_MAX + 1];
	struct admin_parsed ap;
	struct admin_ctx c;

	snprintf(buf, sizeof(buf), "%s", line);
	if (admin_parse_line(buf, &ap, NULL, 0) == -1 || ap.cmd == NULL)
		return NULL;
	memset(&c, 0, sizeof(c));
	return admin_cmd_service(&c, &ap) == 0 ? c.sv : NULL;
}

int
admin_cmd_for_fleet(const char *line)
{
	char buf[ADMIN_LINE_MAX + 1];
	struct admin_parsed ap;

	snprintf(buf, sizeof(buf), "%s", line);
	if (admin_parse_line(buf, &ap, NULL, 0) == -1 || ap.cmd == NULL)
		return 0;
	return ap.cmd->fleet;
}
