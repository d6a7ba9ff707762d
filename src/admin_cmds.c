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

#include <event2/buffer.h>

#include "admin.h"
#include "admin_parse.h"
#include "rollout.h"
#include "pools.h"
#include "proxy.h"
#include "reload.h"
#include "state.h"
#include "stats.h"
#include "watch.h"

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

/* Append s as a JSON string (with quotes). */
static void
admin_json_str(struct evbuffer *b, const char *s)
{
	char esc[2048];
	size_t n = log_json_escape(esc, sizeof(esc), s, strlen(s));

	evbuffer_add(b, "\"", 1);
	evbuffer_add(b, esc, n);
	evbuffer_add(b, "\"", 1);
}

/* The answer of a command that only says what it did. */
static int
admin_done(struct admin_ctx *c, const char *msg)
{
	if (c->json) {
		evbuffer_add_printf(c->body, "{\"ok\":true,\"message\":");
		admin_json_str(c->body, msg);
		evbuffer_add_printf(c->body, "}");
	} else {
		evbuffer_add_printf(c->body, "%s\n", msg);
	}
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

static const char *
admin_server_state(struct server *srv, uint64_t now)
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
static void
admin_server_figures(struct server *srv, long long *active, unsigned long long *req,
    unsigned long long *errs)
{
	int i;

	*active = 0;
	*req = *errs = 0;
	for (i = 0; i < rt.nworkers; i++) {
		struct stats_worker *sw = rt.workers[i].stats;

		*active += atomic_load_explicit(&sw->srv_active[srv->pool][srv->index],
		    memory_order_relaxed);
		*req += STATS_GET(sw->srv_requests[srv->pool][srv->index]);
		*errs += STATS_GET(sw->srv_errors[srv->pool][srv->index]);
	}
}

static int
admin_servers_up(enum pool_id p, uint64_t now)
{
	int up = 0;
	size_t i;

	for (i = 0; i < pools_current()->pools[p].nservers; i++)
		up += server_usable(pools_current()->pools[p].servers[i], now);
	return up;
}

/* ---- status ---------------------------------------------------------------- */

static void
admin_status_pool_json(struct evbuffer *b, enum pool_id p, uint64_t now_us)
{
	struct stats_window win;
	struct pool *pl = &pools_current()->pools[p];
	size_t i;

	worker_window_sum(p, rt.cfg->guard_window_s, now_us, &win);
	evbuffer_add_printf(b, "\"%s\":{\"servers_up\":%d,\"servers\":%zu,\"requests\":%llu,"
	    "\"error_rate\":%.4f,\"p99_ms\":%.1f,\"server_list\":[", pool_names[p],
	    admin_servers_up(p, now_us), pl->nservers, (unsigned long long)win.requests,
	    stats_window_error_rate(&win), stats_window_quantile_ms(&win, 0.99));
	for (i = 0; i < pl->nservers; i++) {
		struct server *srv = pl->servers[i];
		long long active;
		unsigned long long req, errs;

		admin_server_figures(srv, &active, &req, &errs);
		evbuffer_add_printf(b, "%s{\"address\":", i ? "," : "");
		admin_json_str(b, srv->addr.text);
		evbuffer_add_printf(b, ",\"state\":\"%s\",\"active\":%lld,\"requests\":%llu,"
		    "\"errors\":%llu}", admin_server_state(srv, now_us), active, req, errs);
	}
	evbuffer_add_printf(b, "]}");
}

static void
admin_status_json(struct evbuffer *b)
{
	const struct split_state *s = state_get();
	uint64_t now = proxy_now_us();
	size_t i;

	evbuffer_add_printf(b, "{\"stable\":\"%s\",\"state\":\"%s\","
	    "\"weights\":{\"blue\":%.2f,\"green\":%.2f},\"rollout\":",
	    pool_names[s->stable], state_mode_names[s->mode],
	    (s->stable == POOL_BLUE ? 10000 - s->candidate_bp : s->candidate_bp) / 100.0,
	    (s->stable == POOL_GREEN ? 10000 - s->candidate_bp : s->candidate_bp) / 100.0);
	if (s->has_rollout) {
		evbuffer_add_printf(b, "{\"pool\":\"%s\",\"steps\":[", pool_names[s->rollout_pool]);
		for (i = 0; i < s->nsteps; i++)
			evbuffer_add_printf(b, "%s%g", i ? "," : "", s->steps_bp[i] / 100.0);
		evbuffer_add_printf(b, "],\"step\":%d,\"hold_s\":%d,\"paused\":%s,"
		    "\"step_left_s\":%d}", s->step, s->hold_s, s->mode == MODE_PAUSED ? "true" : "false",
		    state_step_left_s());
	} else {
		evbuffer_add_printf(b, "null");
	}
	evbuffer_add_printf(b, ",\"last_revert\":");
	if (s->last_revert[0] != '\0')
		admin_json_str(b, s->last_revert);
	else
		evbuffer_add_printf(b, "null");
	/* with guard.dry_run: what the guard would do now */
	evbuffer_add_printf(b, ",\"dry_run\":%s,\"dry_run_verdict\":",
	    rt.cfg->guard_dry_run ? "true" : "false");
	if (watch_dry_verdict()[0] != '\0')
		admin_json_str(b, watch_dry_verdict());
	else
		evbuffer_add_printf(b, "null");
	evbuffer_add_printf(b, ",\"window_s\":%d,\"pools\":{", rt.cfg->guard_window_s);
	admin_status_pool_json(b, POOL_BLUE, now);
	evbuffer_add_printf(b, ",");
	admin_status_pool_json(b, POOL_GREEN, now);
	evbuffer_add_printf(b, "}}");
}

/* Text status for socat users: the same facts, one per line. */
static void
admin_status_text(struct evbuffer *b)
{
	const struct split_state *s = state_get();
	uint64_t now = proxy_now_us();
	int p;
	char desc[128];

	state_describe(s, desc, sizeof(desc));
	evbuffer_add_printf(b, "stable %s\nstate %s\nweights %s\n", pool_names[s->stable],
	    state_mode_names[s->mode], desc);
	if (s->has_rollout && s->mode == MODE_REVERTED)
		evbuffer_add_printf(b, "rollout %s reverted at step %d of %zu (%d.%02d%%)\n",
		    pool_names[s->rollout_pool], s->step + 1, s->nsteps, s->steps_bp[s->step] / 100,
		    s->steps_bp[s->step] % 100);
	else if (s->has_rollout)
		evbuffer_add_printf(b, "rollout %s step %d of %zu (%d.%02d%%) hold %d s, %d s left\n",
		    pool_names[s->rollout_pool], s->step + 1, s->nsteps, s->steps_bp[s->step] / 100,
		    s->steps_bp[s->step] % 100, s->hold_s, state_step_left_s());
	else
		evbuffer_add_printf(b, "rollout -\n");
	evbuffer_add_printf(b, "last_revert %s\n", s->last_revert[0] ? s->last_revert : "-");
	if (rt.cfg->guard_dry_run)
		evbuffer_add_printf(b, "dry_run %s\n",
		    watch_dry_verdict()[0] ? watch_dry_verdict() : "-");
	for (p = 0; p < CONFIG_POOLS; p++) {
		struct stats_window win;

		worker_window_sum(p, rt.cfg->guard_window_s, now, &win);
		evbuffer_add_printf(b, "pool %s servers %d/%zu up requests/%ds %llu error_rate %.4f "
		    "p99_ms %.1f\n", pool_names[p], admin_servers_up(p, now),
		    pools_current()->pools[p].nservers, rt.cfg->guard_window_s, (unsigned long long)win.requests,
		    stats_window_error_rate(&win), stats_window_quantile_ms(&win, 0.99));
	}
}

static int
admin_cmd_status(struct admin_ctx *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (c->json)
		admin_status_json(c->body);
	else
		admin_status_text(c->body);
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
	if (state_set_weight(pool, bp, &c->who, msg, sizeof(msg)) == -1)
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
	if (state_switch(pool, &c->who, msg, sizeof(msg)) == -1)
		return admin_err(c, "%s", msg);
	return admin_done(c, msg);
}

static int
admin_cmd_revert(struct admin_ctx *c, int argc, char **argv)
{
	char msg[256], reason[128];

	(void)argc;
	(void)argv;
	enum pool_id cand = !state_get()->stable;

	snprintf(reason, sizeof(reason), "operator revert (uid %d)", (int)c->who.uid);
	if (state_revert(reason, &c->who, msg, sizeof(msg)) == -1)
		return admin_err(c, "%s", msg);
	watch_announce_revert(cand);
	return admin_done(c, msg);
}

static int
admin_cmd_promote(struct admin_ctx *c, int argc, char **argv)
{
	char msg[512];

	(void)argc;
	(void)argv;
	if (state_promote(&c->who, msg, sizeof(msg)) == -1)
		return admin_err(c, "%s", msg);
	return admin_done(c, msg);
}

static int
admin_cmd_rollout_start(struct admin_ctx *c, int argc, char **argv)
{
	enum pool_id pool = POOL_BLUE;
	int steps[ROLLOUT_MAX_STEPS], hold = rt.cfg->rollout_hold_s;
	size_t nsteps = rt.cfg->rollout_nsteps, i;
	char msg[512];

	if (admin_pool_arg(c, argv[0], &pool) == -1)
		return -1;
	for (i = 0; i < nsteps && i < ROLLOUT_MAX_STEPS; i++)
		steps[i] = rt.cfg->rollout_steps_bp[i];
	if (rollout_parse_args(argc - 1, argv + 1, steps, &nsteps, &hold, c->err,
	    sizeof(c->err)) == -1)
		return -1;
	if (state_rollout_start(pool, steps, nsteps, hold, &c->who, msg, sizeof(msg)) == -1)
		return admin_err(c, "%s", msg);
	return admin_done(c, msg);
}

static int
admin_cmd_rollout_gate(struct admin_ctx *c, int (*fn)(const struct actor *, char *, size_t))
{
	char msg[512];

	if (fn(&c->who, msg, sizeof(msg)) == -1)
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
	pl = &pools_current()->pools[pool];
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
	from = atomic_exchange(&srv->state, to);
	if (to == SRV_UP)
		atomic_store(&srv->down_until, 0);
	state_event(&c->who, "server %s %s: %s -> %s", pool_names[pool], srv->addr.text,
	    admin_srv_state_names[from], admin_srv_state_names[to]);
	snprintf(msg, sizeof(msg), "server %s %s %s", pool_names[pool], srv->addr.text,
	    admin_srv_state_names[to]);
	return admin_done(c, msg);
}

static int
admin_cmd_show_servers(struct admin_ctx *c, int argc, char **argv)
{
	uint64_t now = proxy_now_us();
	int p, first = 1;
	size_t i;

	(void)argc;
	(void)argv;
	if (c->json)
		evbuffer_add_printf(c->body, "{\"servers\":[");
	for (p = 0; p < CONFIG_POOLS; p++) {
		for (i = 0; i < pools_current()->pools[p].nservers; i++) {
			struct server *srv = pools_current()->pools[p].servers[i];
			long long active;
			unsigned long long req, errs;

			admin_server_figures(srv, &active, &req, &errs);
			if (c->json) {
				evbuffer_add_printf(c->body, "%s{\"pool\":\"%s\",\"address\":",
				    first ? "" : ",", pool_names[p]);
				admin_json_str(c->body, srv->addr.text);
				evbuffer_add_printf(c->body, ",\"state\":\"%s\",\"active\":%lld,"
				    "\"requests\":%llu,\"errors\":%llu}", admin_server_state(srv, now),
				    active, req, errs);
			} else {
				evbuffer_add_printf(c->body, "%s %s %s active %lld requests %llu "
				    "errors %llu\n", pool_names[p], srv->addr.text,
				    admin_server_state(srv, now), active, req, errs);
			}
			first = 0;
		}
	}
	if (c->json)
		evbuffer_add_printf(c->body, "]}");
	return 0;
}

/* ---- events, reload, help ------------------------------------------------ */

struct admin_events_arg {
	struct admin_ctx *c;
	int first;
	int skip;                     /* events older than the last N */
};

static void
admin_event_count(const char *line, void *arg)
{
	(void)line;
	(*(int *)arg)++;
}

static void
admin_event_line(const char *line, void *arg)
{
	struct admin_events_arg *a = arg;

	if (a->skip > 0) {
		a->skip--;
		return;
	}

	if (a->c->json) {
		evbuffer_add_printf(a->c->body, "%s", a->first ? "" : ",");
		admin_json_str(a->c->body, line);
	} else {
		evbuffer_add_printf(a->c->body, "%s\n", line);
	}
	a->first = 0;
}

static int
admin_cmd_show_events(struct admin_ctx *c, int argc, char **argv)
{
	struct admin_events_arg a = { c, 1, 0 };
	int want = STATE_EVENTS, total = 0;
	char *end;

	if (argc == 1) {
		long n = strtol(argv[0], &end, 10);

		if (*argv[0] < '0' || *argv[0] > '9' || *end != '\0' || n < 1 || n > STATE_EVENTS)
			return admin_err(c, "N must be 1..%d, got \"%.32s\"", STATE_EVENTS, argv[0]);
		want = (int)n;
	}
	state_events_each(admin_event_count, &total);
	a.skip = total > want ? total - want : 0;
	if (c->json)
		evbuffer_add_printf(c->body, "{\"events\":[");
	state_events_each(admin_event_line, &a);
	if (c->json)
		evbuffer_add_printf(c->body, "]}");
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

typedef int (*admin_handler)(struct admin_ctx *c, int argc, char **argv);

static int admin_cmd_help_fn(struct admin_ctx *c, int argc, char **argv);

/* the handler of each command of admin_cmd_table, by id */
static const admin_handler admin_handlers[ACMD_COUNT] = {
	[ACMD_STATUS] = admin_cmd_status,
	[ACMD_SET_WEIGHT] = admin_cmd_set_weight,
	[ACMD_SWITCH] = admin_cmd_switch,
	[ACMD_ROLLOUT_START] = admin_cmd_rollout_start,
	[ACMD_ROLLOUT_PAUSE] = admin_cmd_rollout_pause,
	[ACMD_ROLLOUT_RESUME] = admin_cmd_rollout_resume,
	[ACMD_ROLLOUT_NEXT] = admin_cmd_rollout_next,
	[ACMD_ROLLOUT_ABORT] = admin_cmd_revert,
	[ACMD_PROMOTE] = admin_cmd_promote,
	[ACMD_REVERT] = admin_cmd_revert,
	[ACMD_SERVER] = admin_cmd_server,
	[ACMD_SHOW_EVENTS] = admin_cmd_show_events,
	[ACMD_SHOW_SERVERS] = admin_cmd_show_servers,
	[ACMD_RELOAD] = admin_cmd_reload,
	[ACMD_HELP] = admin_cmd_help_fn,
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
	evbuffer_add_printf(c->body, "{\"commands\":[");
	for (i = 0; i < ACMD_COUNT; i++) {
		admin_synopsis(&admin_cmd_table[i], syn, sizeof(syn));
		evbuffer_add_printf(c->body, "%s{\"command\":", i ? "," : "");
		admin_json_str(c->body, syn);
		evbuffer_add_printf(c->body, ",\"help\":");
		admin_json_str(c->body, admin_cmd_table[i].help);
		evbuffer_add_printf(c->body, "}");
	}
	evbuffer_add_printf(c->body, "]}");
	return 0;
}

int
admin_cmd_run(struct admin_ctx *c, char *line, int *changes_state)
{
	struct admin_parsed ap;
	int r;

	r = admin_parse_line(line, &ap, c->err, sizeof(c->err));
	c->json = ap.json;
	*changes_state = ap.cmd != NULL && ap.cmd->changes_state;
	if (r == -1)
		return -1;
	return admin_handlers[ap.cmd->id](c, ap.argc, ap.argv);
}
