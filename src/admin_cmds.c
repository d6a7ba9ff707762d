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
#include "pools.h"
#include "proxy.h"
#include "reload.h"
#include "state.h"
#include "stats.h"

#define ADMIN_MAX_WORDS 16

struct admin_cmd {
	const char *words;        /* the command's fixed words */
	const char *args;         /* argument synopsis for help and usage errors */
	int min_args, max_args;
	int changes_state;        /* audited */
	const char *help;
	int (*fn)(struct admin_ctx *c, int argc, char **argv);
};

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
admin_parse_pool(struct admin_ctx *c, const char *s, enum pool_id *out)
{
	if (strcmp(s, "blue") == 0)
		*out = POOL_BLUE;
	else if (strcmp(s, "green") == 0)
		*out = POOL_GREEN;
	else
		return admin_err(c, "unknown pool \"%s\"; pools are blue and green", s);
	return 0;
}

/* "0".."100" with at most two decimals -> basis points. */
static int
admin_parse_percent(const char *s, int *bp)
{
	long whole = 0, frac = 0;
	int nd = 0, nf = 0;
	const char *p = s;

	for (; isdigit((unsigned char)*p) && nd < 4; p++, nd++)
		whole = whole * 10 + (*p - '0');
	if (nd == 0)
		return -1;
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p) && nf < 3; p++, nf++)
			frac = frac * 10 + (*p - '0');
		if (nf == 0 || nf > 2)
			return -1;
		if (nf == 1)
			frac *= 10;
	}
	if (*p != '\0' || whole > 100 || (whole == 100 && frac > 0))
		return -1;
	*bp = (int)(whole * 100 + frac);
	return 0;
}

static const char *
admin_server_state(struct server *srv, uint64_t now)
{
	switch (atomic_load(&srv->state)) {
	case SRV_UP:
		return atomic_load(&srv->down_until) > now ? "down" : "up";
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
	struct stats_worker *ws[64];
	struct stats_window win;
	struct pool *pl = &pools_current()->pools[p];
	size_t i;
	int n = rt.nworkers < 64 ? rt.nworkers : 64, k;

	for (k = 0; k < n; k++)
		ws[k] = rt.workers[k].stats;
	stats_window_sum(ws, (size_t)n, p, rt.cfg->guard_window_s, now_us / 1000000, &win);
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
		evbuffer_add_printf(b, "],\"step\":%d,\"hold_s\":%d,\"paused\":%s}", s->step,
		    s->hold_s, s->mode == MODE_PAUSED ? "true" : "false");
	} else {
		evbuffer_add_printf(b, "null");
	}
	evbuffer_add_printf(b, ",\"last_revert\":");
	if (s->last_revert[0] != '\0')
		admin_json_str(b, s->last_revert);
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
	struct stats_worker *ws[64];
	uint64_t now = proxy_now_us();
	int n = rt.nworkers < 64 ? rt.nworkers : 64, k, p;
	char desc[128];

	for (k = 0; k < n; k++)
		ws[k] = rt.workers[k].stats;
	state_describe(s, desc, sizeof(desc));
	evbuffer_add_printf(b, "stable %s\nstate %s\nweights %s\n", pool_names[s->stable],
	    state_mode_names[s->mode], desc);
	if (s->has_rollout)
		evbuffer_add_printf(b, "rollout %s step %d of %zu hold %d s\n",
		    pool_names[s->rollout_pool], s->step + 1, s->nsteps, s->hold_s);
	else
		evbuffer_add_printf(b, "rollout -\n");
	evbuffer_add_printf(b, "last_revert %s\n", s->last_revert[0] ? s->last_revert : "-");
	for (p = 0; p < CONFIG_POOLS; p++) {
		struct stats_window win;

		stats_window_sum(ws, (size_t)n, p, rt.cfg->guard_window_s, now / 1000000, &win);
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
	if (admin_parse_pool(c, argv[0], &pool) == -1)
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
	if (admin_parse_pool(c, argv[0], &pool) == -1)
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
	snprintf(reason, sizeof(reason), "operator revert (uid %d)", (int)c->who.uid);
	if (state_revert(reason, &c->who, msg, sizeof(msg)) == -1)
		return admin_err(c, "%s", msg);
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
admin_cmd_rollout(struct admin_ctx *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return admin_err(c, "rollouts are not available in this release (they come with the "
	    "guard); use set weight, switch, promote and revert");
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
	if (admin_parse_pool(c, argv[0], &pool) == -1)
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
};

static void
admin_event_line(const char *line, void *arg)
{
	struct admin_events_arg *a = arg;

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
	struct admin_events_arg a = { c, 1 };

	(void)argc;
	(void)argv;
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

static int admin_cmd_help_fn(struct admin_ctx *c, int argc, char **argv);

static const struct admin_cmd admin_cmds[] = {
	{ "status", "", 0, 0, 0, "pools, shares, state, rollout, last revert, window figures",
	  admin_cmd_status },
	{ "set weight", "POOL PERCENT", 2, 2, 1,
	  "POOL gets PERCENT (0..100, two decimals), the other pool the rest", admin_cmd_set_weight },
	{ "switch", "POOL", 1, 1, 1, "POOL gets 100% now; the old stable stays the revert target",
	  admin_cmd_switch },
	{ "rollout start", "POOL [steps A,B,C] [hold SECONDS]", 1, 5, 1,
	  "progressive canary (not in this release)", admin_cmd_rollout },
	{ "rollout pause", "", 0, 0, 1, "hold the current step (not in this release)",
	  admin_cmd_rollout },
	{ "rollout resume", "", 0, 0, 1, "go on (not in this release)", admin_cmd_rollout },
	{ "rollout next", "", 0, 0, 1, "advance one step now (not in this release)",
	  admin_cmd_rollout },
	{ "rollout abort", "", 0, 0, 1, "same as revert", admin_cmd_revert },
	{ "promote", "", 0, 0, 1, "the candidate gets 100% and becomes the stable pool",
	  admin_cmd_promote },
	{ "revert", "", 0, 0, 1, "all traffic to the stable pool now (state reverted)",
	  admin_cmd_revert },
	{ "server", "POOL ADDRESS drain|disable|enable", 3, 3, 1,
	  "drain: no new requests; disable: out now; enable: back in", admin_cmd_server },
	{ "show events", "", 0, 0, 0, "the last 100 decisions, oldest first",
	  admin_cmd_show_events },
	{ "show servers", "", 0, 0, 0, "each server: pool, address, state, active, requests, errors",
	  admin_cmd_show_servers },
	{ "reload", "", 0, 0, 1, "re-read the configuration file", admin_cmd_reload },
	{ "help", "", 0, 0, 0, "this list", admin_cmd_help_fn },
};

#define ADMIN_NCMDS (sizeof(admin_cmds) / sizeof(admin_cmds[0]))

void
admin_cmd_help(struct evbuffer *out)
{
	size_t i;
	char syn[128];

	for (i = 0; i < ADMIN_NCMDS; i++) {
		snprintf(syn, sizeof(syn), "%s%s%s", admin_cmds[i].words,
		    admin_cmds[i].args[0] ? " " : "", admin_cmds[i].args);
		evbuffer_add_printf(out, "%-45s %s\n", syn, admin_cmds[i].help);
	}
}

static int
admin_cmd_help_fn(struct admin_ctx *c, int argc, char **argv)
{
	size_t i;

	(void)argc;
	(void)argv;
	if (!c->json) {
		admin_cmd_help(c->body);
		return 0;
	}
	evbuffer_add_printf(c->body, "{\"commands\":[");
	for (i = 0; i < ADMIN_NCMDS; i++) {
		char syn[128];

		snprintf(syn, sizeof(syn), "%s%s%s", admin_cmds[i].words,
		    admin_cmds[i].args[0] ? " " : "", admin_cmds[i].args);
		evbuffer_add_printf(c->body, "%s{\"command\":", i ? "," : "");
		admin_json_str(c->body, syn);
		evbuffer_add_printf(c->body, ",\"help\":");
		admin_json_str(c->body, admin_cmds[i].help);
		evbuffer_add_printf(c->body, "}");
	}
	evbuffer_add_printf(c->body, "]}");
	return 0;
}

/* ---- dispatch -------------------------------------------------------------- */

static int
admin_split_words(char *line, char **w, int max)
{
	int n = 0;
	char *p = line;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t')
			*p++ = '\0';
		if (*p == '\0')
			break;
		if (n == max)
			return -1;
		w[n++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
	}
	return n;
}

/* How many words of cmd->words match the start of w (0 = no match). */
static int
admin_match(const struct admin_cmd *cmd, char **w, int n)
{
	char words[64], *save = NULL, *t;
	int k = 0;

	snprintf(words, sizeof(words), "%s", cmd->words);
	for (t = strtok_r(words, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
		if (k >= n || strcmp(w[k], t) != 0)
			return 0;
		k++;
	}
	return k;
}

int
admin_cmd_run(struct admin_ctx *c, char *line, int *changes_state)
{
	char *w[ADMIN_MAX_WORDS];
	const struct admin_cmd *cmd = NULL;
	int n, k = 0, kk;
	size_t i;

	*changes_state = 0;
	n = admin_split_words(line, w, ADMIN_MAX_WORDS);
	if (n == -1)
		return admin_err(c, "too many words (at most %d)", ADMIN_MAX_WORDS);
	if (n > 0 && strcmp(w[0], "json") == 0) {
		c->json = 1;
		memmove(w, w + 1, (size_t)(n - 1) * sizeof(w[0]));
		n--;
	}
	if (n == 0)
		return admin_err(c, "empty command; try help");
	for (i = 0; i < ADMIN_NCMDS; i++) {
		kk = admin_match(&admin_cmds[i], w, n);
		if (kk > k) {
			k = kk;
			cmd = &admin_cmds[i];
		}
	}
	if (cmd == NULL)
		return admin_err(c, "unknown command \"%s\"; try help", w[0]);
	*changes_state = cmd->changes_state;
	if (n - k < cmd->min_args || n - k > cmd->max_args)
		return admin_err(c, "usage: %s%s%s", cmd->words, cmd->args[0] ? " " : "", cmd->args);
	return cmd->fn(c, n - k, w + k);
}
