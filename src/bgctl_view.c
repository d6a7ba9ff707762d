/*
 * bgctl_view.c - bgctl's views of "json status" (see bgctl_view.h).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bgctl_view.h"

#define VIEW_BAR	16	/* share bar width, keeps rows < 80 */

/* ---------------------------------------------------------------- reading */

static const char *
view_str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static bool
view_num(json_t *o, const char *key, double *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_number(v))
		return false;
	*out = json_number_value(v);
	return true;
}

static bool
view_true(json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

/* Copies s for the terminal: control bytes become '?', cut at a char edge. */
static const char *
view_safe(const char *s, char *buf, size_t len)
{
	size_t i;

	if (s == NULL)
		s = "-";	/* into buf too: callers may read buf */
	for (i = 0; s[i] != '\0' && i + 1 < len; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (s[i] != '\0')
		while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80)
			i--;
	buf[i] = '\0';
	return buf;
}

/* printf of a number member, or "-" when it is missing or not a number. */
static const char *
view_fmt(json_t *obj, const char *key, const char *fmt, double scale, char *buf, size_t len)
{
	double v;

	if (!view_num(obj, key, &v))
		return "-";
	snprintf(buf, len, fmt, v * scale);
	return buf;
}

/* "5%", "0.5%", "12.25%" */
static void
view_pct(double v, char *buf, size_t len)
{
	snprintf(buf, len, "%g%%", v);
}

/* ------------------------------------------------------------------ pieces */

/* A share bar; any nonzero share shows at least one cell, below 100% one empty. */
static void
view_bar(bool have, double pct, bool utf8, char *buf, size_t len)
{
	const char *on = utf8 ? "\u2588" : "#", *off = utf8 ? "\u2591" : ".";
	int fill = have ? (int)(pct / 100.0 * VIEW_BAR + 0.5) : 0, i;
	size_t o = 0;

	if (have && pct > 0 && fill < 1)
		fill = 1;
	if (have && pct < 100 && fill > VIEW_BAR - 1)
		fill = VIEW_BAR - 1;
	buf[0] = '\0';
	for (i = 0; i < VIEW_BAR && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s", i < fill ? on : off);
}

/* The step index and count of a rollout object; false when it has none. */
static bool
view_step(json_t *r, double *step, size_t *nsteps, char *pct, size_t pctlen)
{
	json_t *steps = json_object_get(r, "steps"), *s;

	snprintf(pct, pctlen, "?");
	*nsteps = json_array_size(steps);
	if (!view_num(r, "step", step))
		return false;
	s = json_array_get(steps, (size_t)(*step >= 0 ? *step : 0));
	if (*step >= 0 && json_is_number(s))
		view_pct(json_number_value(s), pct, pctlen);
	return *step >= 0;
}

/* "green step 2/6 (10%), 42 s left, paused", "green reverted at step 2/6
 * (10%)" (the rollout ended in a revert: no clock runs) or "-". */
static void
view_rollout_text(json_t *r, bool reverted, char *buf, size_t len)
{
	char name[64], pct[32];
	double step, left;
	size_t nsteps, o;

	if (!json_is_object(r)) {
		snprintf(buf, len, "-");
		return;
	}
	if (!reverted && view_num(r, "shadow", &left)) {
		/* the shadow phase: copies, no user yet */
		view_pct(left, pct, sizeof(pct));
		o = (size_t)snprintf(buf, len, "%s shadow (copies of %s)",
		    view_safe(view_str(r, "pool"), name, sizeof(name)), pct);
	} else {
		o = (size_t)snprintf(buf, len, "%s %sstep ", view_safe(view_str(r, "pool"), name,
		    sizeof(name)), reverted ? "reverted at " : "");
		if (o < len && view_step(r, &step, &nsteps, pct, sizeof(pct)))
			o += (size_t)snprintf(buf + o, len - o, "%.0f/%zu (%s)", step + 1, nsteps,
			    pct);
		else if (o < len)
			o += (size_t)snprintf(buf + o, len - o, "?");
	}
	if (reverted)
		return;
	if (o < len && view_num(r, "step_left_s", &left))
		o += (size_t)snprintf(buf + o, len - o, ", %.0f s left", left);
	if (o < len && view_true(r, "paused"))
		snprintf(buf + o, len - o, ", paused");
}

/* "3 s", "5 min", "2 h", "4 d": an age at a glance. */
static void
view_age(double s, char *buf, size_t len)
{
	if (s < 120)
		snprintf(buf, len, "%.0f s", s);
	else if (s < 7200)
		snprintf(buf, len, "%.0f min", s / 60);
	else if (s < 172800)
		snprintf(buf, len, "%.0f h", s / 3600);
	else
		snprintf(buf, len, "%.0f d", s / 86400);
}

/* The last revert: with its age; once the split moved on, as history. */
static void
view_last_revert(FILE *f, json_t *st)
{
	json_t *d = json_object_get(st, "last_revert_detail");
	char why[512], age[32] = "", ago[48] = "";
	double a;

	view_safe(view_str(st, "last_revert"), why, sizeof(why));
	if (json_is_object(d) && view_num(d, "age_s", &a)) {
		view_age(a, age, sizeof(age));
		snprintf(ago, sizeof(ago), "%s ago", age);
	}
	if (json_is_object(d) && json_is_false(json_object_get(d, "current")))
		fprintf(f, "last revert (earlier%s%s): %s\n", ago[0] ? ", " : "", ago, why);
	else if (ago[0])
		fprintf(f, "last revert: %s (%s)\n", why, ago);
	else
		fprintf(f, "last revert: %s\n", why);
}

static void
view_head(FILE *f, json_t *st)
{
	char stable[64], state[64], rollout[256], why[1024], head[160], b[72], svc[80];
	json_t *r, *g;
	int n;

	/* with a services list the status is one service's: its name */
	if (view_str(st, "service") != NULL)
		snprintf(svc, sizeof(svc), "service %s", view_safe(view_str(st, "service"), b,
		    sizeof(b)));
	else
		snprintf(svc, sizeof(svc), "bgproxy");
	n = snprintf(head, sizeof(head), "%s  stable %s  state %s  version %s", svc,
	    view_safe(view_str(st, "stable"), stable, sizeof(stable)),
	    view_safe(view_str(st, "state"), state, sizeof(state)),
	    view_fmt(st, "version", "%.0f", 1, b, sizeof(b)));
	view_rollout_text(json_object_get(st, "rollout"), strcmp(state, "reverted") == 0,
	    rollout, sizeof(rollout));
	/* the rollout goes on its own line when the head would pass 80 columns */
	fprintf(f, "%s%srollout %s\n", head,
	    (size_t)n + 10 + strlen(rollout) > 80 ? "\n" : "  ", rollout);
	/* why a step stays where it is, and what the guard says now */
	r = json_object_get(st, "rollout");
	if (json_is_object(r) && view_str(r, "waiting_for") != NULL)
		fprintf(f, "waits for: %s\n", view_safe(view_str(r, "waiting_for"), why,
		    sizeof(why)));
	g = json_object_get(st, "guard");
	if (json_is_object(g) && view_str(g, "verdict") != NULL)
		fprintf(f, "guard: %s\n", view_safe(view_str(g, "verdict"), why, sizeof(why)));
	view_last_revert(f, st);
	if (view_true(st, "dry_run"))
		fprintf(f, "dry run: %s\n", view_safe(view_str(st, "dry_run_verdict"), why,
		    sizeof(why)));
}

static void
view_pool(FILE *f, json_t *pool, const char *name, double weight, bool have_weight, bool utf8,
    bool stable)
{
	char bar[VIEW_BAR * 3 + 1], pct[16] = "-", servers[80], b1[32], b2[32], b3[32], b4[32];
	double req = 0;
	/* rates and latency over no request are no figures: "-", not 0 */
	bool none = view_num(pool, "requests", &req) && req == 0;

	view_bar(have_weight, weight, utf8, bar, sizeof(bar));
	if (have_weight)
		snprintf(pct, sizeof(pct), "%.2f%%", weight);
	snprintf(servers, sizeof(servers), "%s/%s up",
	    view_fmt(pool, "servers_up", "%.0f", 1, b1, sizeof(b1)),
	    view_fmt(pool, "servers", "%.0f", 1, b2, sizeof(b2)));
	fprintf(f, "%-7s%s %7s  %-10s %8s %7s", name, bar, pct, servers,
	    view_fmt(pool, "requests", "%.0f", 1, b3, sizeof(b3)),
	    none ? "-" : view_fmt(pool, "error_rate", "%.2f%%", 100, b4, sizeof(b4)));
	fprintf(f, " %10s%s\n", none ? "-" : view_fmt(pool, "p99_ms", "%.1f ms", 1, b1,
	    sizeof(b1)), stable ? "  stable" : "");
}

/* The pools in the server's order; the weights alone when pools are missing. */
static void
view_pools(FILE *f, json_t *st, bool utf8)
{
	json_t *pools = json_object_get(st, "pools"), *weights = json_object_get(st, "weights");
	json_t *p;
	const char *stable = view_str(st, "stable"), *key;
	char label[32], safe[60];
	double win, w;
	bool have;

	if (!json_is_object(pools))
		pools = json_is_object(weights) ? weights : NULL;
	if (pools == NULL)
		return;
	if (view_num(st, "window_s", &win))
		snprintf(label, sizeof(label), "req/%gs", win);
	else
		snprintf(label, sizeof(label), "requests");
	fprintf(f, "\n%-7s%-*s  %-10s %8s %7s %10s\n", "pool", VIEW_BAR + 8, "share", "servers",
	    label, "errors", "p99");
	json_object_foreach(pools, key, p) {
		w = 0;
		have = view_num(weights, key, &w);
		view_pool(f, pools == weights ? NULL : p, view_safe(key, safe, sizeof(safe)), w,
		    have, utf8, stable != NULL && strcmp(stable, key) == 0);
	}
}

/* "shadow 10%: copies 96, 0.00% errors, p99 3.1 ms" and "  the stable
 * answers to them 96, ..." while shadow traffic has figures. */
static void
view_shadow(FILE *f, json_t *st)
{
	json_t *sh = json_object_get(st, "shadow"), *side[2];
	char pct[32], b[3][32];
	double v, req;
	int i;

	if (!json_is_object(sh))
		return;
	side[0] = json_object_get(sh, "copies");
	side[1] = json_object_get(sh, "stable");
	view_pct(view_num(sh, "percent", &v) ? v : 0, pct, sizeof(pct));
	fprintf(f, "\nshadow %s:", pct);
	for (i = 0; i < 2; i++) {
		bool none = !view_num(side[i], "requests", &req) || req == 0;

		fprintf(f, "%s %s, %s errors, p99 %s\n", i ? "  the stable answers to them" :
		    " copies", view_fmt(side[i], "requests", "%.0f", 1, b[0], sizeof(b[0])),
		    none ? "-" : view_fmt(side[i], "error_rate", "%.2f%%", 100, b[1], sizeof(b[1])),
		    none ? "-" : view_fmt(side[i], "p99_ms", "%.1f ms", 1, b[2], sizeof(b[2])));
	}
}

static void
view_servers(FILE *f, json_t *st)
{
	json_t *pools = json_object_get(st, "pools"), *p, *s;
	const char *key;
	char name[64], addr[128], state[32], b1[32], b2[32], b3[32];
	bool first = true;
	size_t i;

	if (!json_is_object(pools))
		return;
	json_object_foreach(pools, key, p) {
		json_array_foreach(json_object_get(p, "server_list"), i, s) {
			fprintf(f, "%s%-7s%-16s %-9s active %-4s requests %-6s errors %s\n",
			    first ? "\n" : "", view_safe(key, name, sizeof(name)),
			    view_safe(view_str(s, "address"), addr, sizeof(addr)),
			    view_safe(view_str(s, "state"), state, sizeof(state)),
			    view_fmt(s, "active", "%.0f", 1, b1, sizeof(b1)),
			    view_fmt(s, "requests", "%.0f", 1, b2, sizeof(b2)),
			    view_fmt(s, "errors", "%.0f", 1, b3, sizeof(b3)));
			first = false;
		}
	}
}

/* status with several services and none named: one line each. */
static bool
view_services(FILE *f, json_t *st)
{
	json_t *list = json_object_get(st, "services"), *s;
	char name[80], state[32], stable[32], step[96], guard[640], b[16], g[16];
	size_t i;

	if (!json_is_array(list))
		return false;
	fprintf(f, "%-20s %-9s %-6s %7s %7s  %-10s %s\n", "SERVICE", "STATE", "STABLE", "BLUE",
	    "GREEN", "ROLLOUT", "GUARD");
	json_array_foreach(list, i, s) {
		json_t *w = json_object_get(s, "weights");
		double step_i;

		if (view_num(s, "rollout_step", &step_i))
			snprintf(step, sizeof(step), "%s %.0f",
			    view_safe(view_str(s, "rollout_pool"), name, sizeof(name)), step_i + 1);
		else
			snprintf(step, sizeof(step), "-");
		fprintf(f, "%-20s %-9s %-6s %7s %7s  %-10s %s\n",
		    view_safe(view_str(s, "name"), name, sizeof(name)),
		    view_safe(view_str(s, "state"), state, sizeof(state)),
		    view_safe(view_str(s, "stable"), stable, sizeof(stable)),
		    view_fmt(w, "blue", "%.2f%%", 1, b, sizeof(b)),
		    view_fmt(w, "green", "%.2f%%", 1, g, sizeof(g)), step,
		    view_safe(view_str(s, "guard"), guard, sizeof(guard)));
	}
	return true;
}

void
bgctl_view_status(FILE *f, json_t *st, bool utf8)
{
	if (view_services(f, st))
		return;
	view_head(f, st);
	view_pools(f, st, utf8);
	view_shadow(f, st);
	view_servers(f, st);
}

/* ------------------------------------------------------------ watch frames */

/* "rollout green  1% [5%] 10% 25% 50% 100%  hold 60 s" and what the step
 * waits for; after a switch (no rollout object) what the bake waits for. */
static void
view_frame_rollout(FILE *f, json_t *st)
{
	json_t *r = json_object_get(st, "rollout"), *s;
	char name[64], pct[32], why[512];
	double step = -1, hold, shadow;
	size_t i, nsteps;

	if (!json_is_object(r)) {
		fprintf(f, "rollout -\n");
		return;
	}
	view_step(r, &step, &nsteps, pct, sizeof(pct));
	fprintf(f, "rollout %s ", view_safe(view_str(r, "pool"), name, sizeof(name)));
	if (view_num(r, "shadow", &shadow)) {
		/* in the shadow phase no step is current yet */
		view_pct(shadow, pct, sizeof(pct));
		fprintf(f, " [shadow %s]", pct);
		step = -1;
	}
	json_array_foreach(json_object_get(r, "steps"), i, s) {
		view_pct(json_number_value(s), pct, sizeof(pct));
		fprintf(f, " %s%s%s", (double)i == step ? "[" : "", pct,
		    (double)i == step ? "]" : "");
	}
	if (step >= 0)
		fprintf(f, "  step %.0f of %zu", step + 1, nsteps);
	if (view_num(r, "hold_s", &hold))
		fprintf(f, ", hold %.0f s", hold);
	fprintf(f, "%s\n", view_true(r, "paused") ? ", paused" : "");
	fprintf(f, "  waits for: %s\n", view_safe(view_str(r, "waiting_for"), why, sizeof(why)));
}

/* "guard: clean so far ..." and the thresholds it holds the candidate to. */
static void
view_frame_guard(FILE *f, json_t *st)
{
	json_t *g = json_object_get(st, "guard");
	char why[640], b[6][32];
	const char *sep;
	double v;

	if (!json_is_object(g))
		return;
	fprintf(f, "guard%s: %s\n", view_true(g, "dry_run") ? " (dry run)" : "",
	    view_safe(view_str(g, "verdict"), why, sizeof(why)));
	/* a threshold of 0 is a check that is off */
	fprintf(f, "  errors <= %s, p99 %s%s, healthy %s%s, min %s requests in %s",
	    view_fmt(g, "max_error_rate", "%.2f%%", 100, b[0], sizeof(b[0])),
	    view_num(g, "max_p99_ms", &v) && v == 0 ? "off" : "<= ",
	    view_num(g, "max_p99_ms", &v) && v == 0 ? "" :
	    view_fmt(g, "max_p99_ms", "%g ms", 1, b[1], sizeof(b[1])),
	    view_num(g, "min_healthy_fraction", &v) && v == 0 ? "off" : ">= ",
	    view_num(g, "min_healthy_fraction", &v) && v == 0 ? "" :
	    view_fmt(g, "min_healthy_fraction", "%g%%", 100, b[2], sizeof(b[2])),
	    view_fmt(g, "min_requests", "%.0f", 1, b[3], sizeof(b[3])),
	    view_fmt(g, "window_s", "%g s", 1, b[4], sizeof(b[4])));
	fprintf(f, "\n");
	/* the comparisons with stable and the bake, when they are on */
	sep = "  ";
	if (view_num(g, "max_error_delta", &v) && v > 0) {
		fprintf(f, "%serror delta <= %s", sep, view_fmt(g, "max_error_delta", "%.2f%%", 100,
		    b[5], sizeof(b[5])));
		sep = ", ";
	}
	if (view_num(g, "max_p99_ratio", &v) && v > 0) {
		fprintf(f, "%sp99 ratio <= %g", sep, v);
		sep = ", ";
	}
	if (view_num(g, "bake_s", &v) && v > 0) {
		fprintf(f, "%sbake %g s", sep, v);
		sep = ", ";
	}
	if (strcmp(sep, ", ") == 0)
		fprintf(f, "\n");
}

static void
view_frame_events(FILE *f, json_t *events)
{
	/* the list itself; {"events": [...]} from servers before 0.1.0's end */
	json_t *list = json_is_array(events) ? events : json_object_get(events, "events"), *e;
	char text[1024];
	size_t i;

	if (!json_is_array(list))
		return;
	fprintf(f, "\nevents\n");
	if (json_array_size(list) == 0)
		fprintf(f, "  (none yet)\n");
	json_array_foreach(list, i, e)
		fprintf(f, "  %s\n", view_safe(view_str(e, "text"), text, sizeof(text)));
}

void
bgctl_view_frame(FILE *f, json_t *st, json_t *events, const char *clock, bool utf8)
{
	char stable[64], state[64], b[32], name[72];

	if (json_object_get(st, "services") != NULL) {
		fprintf(f, "bgproxy  %s  (bgctl -S SERVICE status --watch: one of them)\n\n", clock);
		view_services(f, st);
		return;
	}
	if (view_str(st, "service") != NULL)
		fprintf(f, "service %s  ", view_safe(view_str(st, "service"), name, sizeof(name)));
	else
		fprintf(f, "bgproxy  ");
	fprintf(f, "stable %s  state %s  version %s  %s\n",
	    view_safe(view_str(st, "stable"), stable, sizeof(stable)),
	    view_safe(view_str(st, "state"), state, sizeof(state)),
	    view_fmt(st, "version", "%.0f", 1, b, sizeof(b)), clock);
	view_frame_rollout(f, st);
	view_frame_guard(f, st);
	view_last_revert(f, st);
	view_pools(f, st, utf8);
	view_shadow(f, st);
	view_servers(f, st);
	view_frame_events(f, events);
}

/* ------------------------------------------------------------ rollout wait */

static bool
view_is(const char *s, const char *want)
{
	return s != NULL && strcmp(s, want) == 0;
}

enum bgctl_wait_state
bgctl_view_wait(json_t *st, struct bgctl_wait *w)
{
	const char *state = view_str(st, "state"), *stable = view_str(st, "stable");
	json_t *r = json_object_get(st, "rollout");
	char name[64], pct[32], why[512], sstate[32];
	double step = -1;
	size_t nsteps = 0;
	bool going = view_is(state, "running") || view_is(state, "paused") ||
	    view_is(state, "baking");

	view_safe(state, sstate, sizeof(sstate));
	if (w->w_pool[0] == '\0' && going) {
		/* a rollout names its pool; after a switch the candidate is the other one */
		const char *p = view_str(r, "pool");

		if (p == NULL && stable != NULL)
			p = strcmp(stable, "blue") == 0 ? "green" : "blue";
		view_safe(p, w->w_pool, sizeof(w->w_pool));
	}
	if (view_is(state, "reverted")) {
		snprintf(w->w_key, sizeof(w->w_key), "reverted");
		snprintf(w->w_line, sizeof(w->w_line), "reverted: %s",
		    view_safe(view_str(st, "last_revert"), why, sizeof(why)));
		return BGCTL_WAIT_REVERTED;
	}
	if (!going) {
		snprintf(w->w_key, sizeof(w->w_key), "%s", sstate);
		if (w->w_pool[0] != '\0' && view_is(state, "idle") && view_is(stable, w->w_pool)) {
			snprintf(w->w_line, sizeof(w->w_line), "%s promoted: it is the stable pool",
			    w->w_pool);
			return BGCTL_WAIT_PROMOTED;
		}
		if (w->w_pool[0] != '\0')
			snprintf(w->w_line, sizeof(w->w_line), "the rollout of %s ended without a "
			    "promote (state %s, stable %s)", w->w_pool, sstate,
			    view_safe(stable, name, sizeof(name)));
		else
			snprintf(w->w_line, sizeof(w->w_line), "no rollout to wait for (state %s)",
			    sstate);
		return BGCTL_WAIT_NONE;
	}
	if (json_is_object(r) && view_step(r, &step, &nsteps, pct, sizeof(pct)) &&
	    !view_is(state, "baking")) {
		snprintf(w->w_key, sizeof(w->w_key), "%s %.0f", sstate, step);
		snprintf(w->w_line, sizeof(w->w_line), "%s step %.0f of %zu (%s)%s: waits for %s",
		    w->w_pool, step + 1, nsteps, pct, view_is(state, "paused") ? ", paused" : "",
		    view_safe(view_str(r, "waiting_for"), why, sizeof(why)));
	} else {
		snprintf(w->w_key, sizeof(w->w_key), "%s", sstate);
		snprintf(w->w_line, sizeof(w->w_line), "%s has 100%%: %s", w->w_pool,
		    json_is_object(r) ? view_safe(view_str(r, "waiting_for"), why, sizeof(why)) :
		    "baking: promote");
		if (view_is(state, "baking"))
			return BGCTL_WAIT_BAKING;
	}
	return BGCTL_WAIT_GOING;
}
