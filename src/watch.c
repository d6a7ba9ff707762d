/*
 * watch.c - the guard on a timer; the rollout timer rides along.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "cluster.h"
#include "guard.h"
#include "health.h"
#include "judge.h"
#include "judge_file.h"
#include "pools.h"
#include "proxy.h"
#include "state.h"
#include "stats.h"
#include "watch.h"
#include "worker.h"

static struct event *watch_ev;
static struct guard_dry watch_dry;    /* what dry run recorded last */
static char watch_verdict_now[600];
static unsigned long long watch_ntrips[GUARD_CHECK_COUNT];
static char watch_dry_now[600];       /* this interval's dry-run verdict, "" = none */
static struct watch_trip watch_last;  /* the last trip that acted */
static unsigned long long watch_paused_version; /* the split a trip paused (on_trip pause) */

/* guard.method "sequential": the judge of the candidate, on its users'
 * requests, or on the copies of the stable pool's while those are all it
 * gets (a rollout's shadow phase): one judgement for the whole rollout */
static struct {
	struct judge j;
	int live;                     /* judging now */
	int copies;                   /* fed the shadow classes this interval */
	enum pool_id cand;
	uint64_t reverts;             /* state_reverts() when it began: a revert ends it */
	long long step_key;           /* the rollout step its "within" tests are for (watch_step_id) */
	struct stats_judged last[STATS_CLASSES];  /* totals at the last interval */
	int have_last;                /* last was taken at the interval before */
	int restore_tried;            /* the file of the process before was looked at */
	uint64_t saved_us;            /* when the evidence was last written */
} watch_seq;

#define WATCH_SEQ_SAVE_US 2000000  /* the evidence is written at most this often */

/* STATE_FILE.judge, or NULL without a state file */
static const char *
watch_seq_path(char *buf, size_t len)
{
	if (rt.cfg->state_file == NULL)
		return NULL;
	snprintf(buf, len, "%s.judge", rt.cfg->state_file);
	return buf;
}

static void
watch_seq_save(void)
{
	char path[4096], err[256];

	if (!watch_seq.live || watch_seq_path(path, sizeof(path)) == NULL)
		return;
	if (judge_file_save(path, &watch_seq.j, (int)watch_seq.cand, watch_seq.step_key, err,
	    sizeof(err)) == -1)
		log_warn("guard: cannot keep the evidence in %s: %s", path, err);
}

/* The judge stopped judging (revert, idle): its evidence is of no use to
 * the next rollout, nor to a restart. */
static void
watch_seq_forget(void)
{
	char path[4096];

	if (watch_seq_path(path, sizeof(path)) != NULL)
		unlink(path);
}

/* Once, at the first interval that judges after the start: the evidence
 * the process before gathered on the same candidate goes on (the bound
 * holds over the whole rollout, not per process). */
static void
watch_seq_restore(enum pool_id cand)
{
	char path[4096], err[256];
	long long key;
	int c, r;

	watch_seq.restore_tried = 1;
	if (watch_seq_path(path, sizeof(path)) == NULL)
		return;
	r = judge_file_load(path, &watch_seq.j, &c, &key, err, sizeof(err));
	if (r == -1)
		log_warn("guard: the evidence in %s is not used: %s", path, err);
	if (r == 0 && c != (int)cand)
		log_info("guard: the evidence in %s was about %s, the candidate now is %s: "
		    "not used", path, pool_names[c & 1], pool_names[cand]);
	if (r != 0 || c != (int)cand)
		return;
	watch_seq.live = 1;
	watch_seq.cand = cand;
	watch_seq.step_key = key;
	watch_seq.reverts = state_reverts();
	log_info("guard: the evidence gathered before the restart goes on (%llu %s requests, "
	    "%llu failed)", (unsigned long long)watch_seq.j.cand_requests, pool_names[cand],
	    (unsigned long long)watch_seq.j.cand_errors);
}

static const enum guard_check watch_seq_kind[JUDGE_NCHECKS] = {
	[JUDGE_ERROR_RATE] = GUARD_CHECK_ERROR_RATE,
	[JUDGE_ERROR_RATIO] = GUARD_CHECK_ERROR_RATIO,
	[JUDGE_ERROR_DELTA] = GUARD_CHECK_ERROR_DELTA,
	[JUDGE_P99] = GUARD_CHECK_P99,
	[JUDGE_P99_RATIO] = GUARD_CHECK_P99_RATIO,
};

static void
watch_seq_policy(struct judge_policy *jp)
{
	const struct config *c = rt.cfg;

	memset(jp, 0, sizeof(*jp));
	jp->alpha = c->guard_alpha;
	jp->max_error_rate = c->guard_max_error_rate > 0 ? c->guard_max_error_rate : 1;
	jp->max_error_ratio = c->guard_max_error_ratio;
	jp->max_error_delta = c->guard_max_error_delta;
	jp->max_p99_ms = c->guard_max_p99_ms;
	jp->max_p99_ratio = c->guard_max_p99_ratio;
}

static void
watch_seq_counts(const struct stats_judged *now, const struct stats_judged *last,
    struct judge_counts *out)
{
#define WATCH_D(a, b) ((a) > (b) ? (a) - (b) : 0)
	out->requests = WATCH_D(now->requests, last->requests);
	out->errors = WATCH_D(now->errors, last->errors);
	out->slow = WATCH_D(now->slow[0], last->slow[0]);
	out->slow_ratio = WATCH_D(now->slow[1], last->slow[1]);
	out->ratio_requests = WATCH_D(now->bound1, last->bound1);
#undef WATCH_D
}

/* The rollout step the judge's "within" tests are for: its index (a
 * shadow phase apart), the same on every node and after a restart (which
 * starts the step's hold again, not its evidence); -1 without a rollout. */
static long long
watch_step_id(void)
{
	const struct split_state *s = state_get();

	if (!s->has_rollout || s->mode == MODE_REVERTED)
		return -1;
	return 2LL * s->step + (s->shadow_bp > 0);
}

/*
 * Feed the judge what this node's candidate and stable pool did since the
 * last interval (copies: the candidate's answers to copies of the stable
 * pool's requests, and the stable answers to the same requests; in a fleet
 * each node judges its own copies).  A new candidate (or traffic to it
 * after none) is a new rollout for the judge; a new rollout step restarts
 * its "within" tests; copies then users (the shadow phase ends) go on in
 * the same judgement.  Then the bounds the data path counts slow requests
 * against.
 */
static enum judge_verdict
watch_seq_feed(enum pool_id cand, enum pool_id stable, int copies,
    const struct stats_window *win, const struct judge_policy *jp, enum judge_check *which)
{
	const struct config *c = rt.cfg;
	struct stats_judged now[STATS_CLASSES], fleet[CONFIG_POOLS], zero[CONFIG_POOLS];
	struct judge_counts jc, js, fc, fs;
	long long key = watch_step_id();
	int p, fresh = 0, cc = copies ? STATS_SHADOW : (int)cand;
	int sc = copies ? STATS_SHADOW_BASE : (int)stable;
	double sp99;

	for (p = 0; p < STATS_CLASSES; p++)
		worker_judged_total(p, &now[p]);
	/* in a fleet, what the other live nodes judged since the last interval */
	cluster_fleet_judged(fleet);
	memset(zero, 0, sizeof(zero));
	if (!watch_seq.restore_tried) {
		watch_seq_restore(cand);
		memcpy(watch_seq.last, now, sizeof(now));
	}
	/* a revert between two intervals (and traffic given again before the
	 * second) ends the judgement too: what follows is a new rollout */
	if (!watch_seq.live || watch_seq.cand != cand || watch_seq.reverts != state_reverts()) {
		fresh = 1;
		judge_init(&watch_seq.j);
		/* the candidate's requests since the interval before count: the
		 * ones between the change that gave it traffic and this interval
		 * too (not after a revert: those were the old rollout's) */
		if (!watch_seq.have_last || watch_seq.reverts != state_reverts())
			memcpy(watch_seq.last, now, sizeof(now));
		watch_seq.reverts = state_reverts();
		watch_seq.live = 1;
		watch_seq.cand = cand;
		watch_seq.step_key = key;
	} else if (key != watch_seq.step_key) {
		judge_step(&watch_seq.j);
		watch_seq.step_key = key;
	}
	/* from copies to users (or back): last holds every class's totals at
	 * the interval before, so the other class counts from there */
	watch_seq.copies = copies;
	watch_seq_counts(&now[cc], &watch_seq.last[cc], &jc);
	watch_seq_counts(&now[sc], &watch_seq.last[sc], &js);
	memcpy(watch_seq.last, now, sizeof(now));
	if (!fresh && !copies) {
		watch_seq_counts(&fleet[cand], &zero[cand], &fc);
		watch_seq_counts(&fleet[stable], &zero[stable], &fs);
		jc.requests += fc.requests;
		jc.errors += fc.errors;
		jc.slow += fc.slow;
		jc.slow_ratio += fc.slow_ratio;
		jc.ratio_requests += fc.ratio_requests;
		js.requests += fs.requests;
		js.errors += fs.errors;
	}
	watch_seq.have_last = 1;
	judge_feed(&watch_seq.j, jp, &jc, &js);
	if (proxy_now_us() - watch_seq.saved_us >= WATCH_SEQ_SAVE_US) {
		watch_seq.saved_us = proxy_now_us();
		watch_seq_save();
	}
	/* the bounds for the next interval's requests */
	sp99 = win[sc].requests >= (uint64_t)(c->guard_min_requests > 0 ?
	    c->guard_min_requests : 1) ? stats_window_quantile_ms(&win[sc], 0.99) : 0;
	stats_set_slow_bounds((uint64_t)c->guard_max_p99_ms * 1000,
	    c->guard_max_p99_ratio > 0 && sp99 > 0 ?
	    (uint64_t)(c->guard_max_p99_ratio * sp99 * 1000) : 0);
	return judge_verdict(&watch_seq.j, jp, which);
}

/* What the judge says while nothing trips, for status. */
static void
watch_seq_clean(const char *cand, const struct judge_policy *jp, enum judge_verdict v)
{
	int on[JUDGE_NCHECKS], i, n = 0;
	char checks[160] = "";
	uint64_t need;

	judge_checks_on(jp, on);
	for (i = 0; i < JUDGE_NCHECKS; i++) {
		if (!on[i] || (v == JUDGE_INCONCLUSIVE &&
		    watch_seq.j.t[i].verdict != JUDGE_INCONCLUSIVE))
			continue;
		snprintf(checks + strlen(checks), sizeof(checks) - strlen(checks), "%s%s",
		    n++ ? ", " : "", judge_check_names[i]);
	}
	if (v == JUDGE_CLEAN) {
		snprintf(watch_verdict_now, sizeof(watch_verdict_now), "clean: %s within every "
		    "limit at %g%% confidence (%s), %llu requests this step", cand,
		    100 * (1 - jp->alpha), checks, (unsigned long long)watch_seq.j.step_requests);
		return;
	}
	need = judge_need(&watch_seq.j, jp);
	if (need == UINT64_MAX)
		snprintf(watch_verdict_now, sizeof(watch_verdict_now), "inconclusive: %s not yet "
		    "shown within %s (%llu requests this step; no estimate of how many more)",
		    cand, checks, (unsigned long long)watch_seq.j.step_requests);
	else
		snprintf(watch_verdict_now, sizeof(watch_verdict_now), "inconclusive: %s not yet "
		    "shown within %s (%llu requests this step; about %llu more)", cand,
		    checks, (unsigned long long)watch_seq.j.step_requests, (unsigned long long)need);
}

static void
watch_figs(const struct stats_window *win, struct guard_figs *f)
{
	f->requests = win->requests;
	f->errors = win->errors;
	f->p99_ms = stats_window_quantile_ms(win, 0.99);
}

/* Candidate servers that pass health checks and are not passively marked. */
static int
watch_healthy(enum pool_id p, uint64_t now_us, int *servers)
{
	struct pool *pl = &pools_current()->pools[p];
	int up = 0;
	size_t i;

	for (i = 0; i < pl->nservers; i++)
		up += !atomic_load(&pl->servers[i]->health_down) &&
		    atomic_load(&pl->servers[i]->down_until) <= now_us;
	*servers = (int)pl->nservers;
	return up;
}

/* What the guard judges: the candidate's requests against the stable
 * pool's, and shadow traffic's copies against the stable answers to the
 * same requests (each class from win, STATS_CLASSES long). */
struct watch_case {
	struct guard_input live, shadow;
	int do_live, do_shadow;
};

static void
watch_fill(struct watch_case *wc, const struct stats_window *win, enum pool_id cand,
    enum pool_id stable)
{
	watch_figs(&win[cand], &wc->live.cand);
	watch_figs(&win[stable], &wc->live.stable);
	watch_figs(&win[STATS_SHADOW], &wc->shadow.cand);
	watch_figs(&win[STATS_SHADOW_BASE], &wc->shadow.stable);
}

/* The first check that trips, live first; the reason says which class. */
static enum guard_check
watch_decide(const struct watch_case *wc, const struct guard_policy *pol, char *reason,
    size_t len)
{
	enum guard_check check = GUARD_CHECK_NONE;
	char why[480];

	if (wc->do_live)
		check = guard_decide(&wc->live, pol, reason, len);
	if (check == GUARD_CHECK_NONE && wc->do_shadow) {
		check = guard_decide(&wc->shadow, pol, why, sizeof(why));
		if (check != GUARD_CHECK_NONE)
			snprintf(reason, len, "shadow copies: %s", why);
	}
	return check;
}

/* The verdict while nothing trips, for status. */
static void
watch_clean(const struct watch_case *wc, const struct guard_policy *pol, int window_s,
    int nodes)
{
	char fleet[48] = "", part[2][200];
	int n = 0;

	if (nodes > 0)
		snprintf(fleet, sizeof(fleet), " (fleet of %d nodes)", nodes + 1);
	if (wc->do_live) {
		if (wc->live.cand.requests < (uint64_t)pol->min_requests)
			snprintf(part[n++], sizeof(part[0]), "clean so far: %llu of %d candidate "
			    "requests in %d s for the rate checks", (unsigned long long)
			    wc->live.cand.requests, pol->min_requests, window_s);
		else
			snprintf(part[n++], sizeof(part[0]), "clean: %llu candidate requests in %d s",
			    (unsigned long long)wc->live.cand.requests, window_s);
	}
	if (wc->do_shadow) {
		const char *what = n ? "shadow clean" : "clean (shadow)";

		if (wc->shadow.cand.requests < (uint64_t)pol->min_requests)
			snprintf(part[n], sizeof(part[0]), "%s so far: %llu of %d copies answered "
			    "in %d s for the rate checks", what,
			    (unsigned long long)wc->shadow.cand.requests, pol->min_requests, window_s);
		else
			snprintf(part[n], sizeof(part[0]), "%s: %llu copies answered in %d s", what,
			    (unsigned long long)wc->shadow.cand.requests, window_s);
		n++;
	}
	snprintf(watch_verdict_now, sizeof(watch_verdict_now), "%s%s%s%s", part[0],
	    n > 1 ? "; " : "", n > 1 ? part[1] : "", fleet);
}

static void
watch_guard(void)
{
	const struct split_state *s = state_get();
	const struct config *c = rt.cfg;
	enum pool_id cand = !s->stable;
	struct guard_policy pol = {
		c->guard_min_requests, c->guard_max_error_rate, c->guard_max_p99_ms,
		c->guard_min_healthy_fraction, c->guard_max_error_delta, c->guard_max_p99_ratio,
		c->guard_max_error_ratio,
	};
	struct actor guard = { ACTOR_GUARD, 0, 0 };
	uint64_t now = proxy_now_us();
	char reason[512], msg[512], copies[40];
	enum guard_check check;
	struct stats_window win[STATS_CLASSES];
	struct watch_case wc;
	int p, nodes = 0, seq_copies;

	memset(&wc, 0, sizeof(wc));
	/* the guard watches whenever the candidate carries traffic: users, or
	 * copies of the stable pool's requests */
	wc.do_live = !(s->candidate_bp == 0 || s->mode == MODE_REVERTED || s->mode == MODE_IDLE);
	wc.do_shadow = atomic_load_explicit(&rt.mirror_bp, memory_order_relaxed) > 0 &&
	    s->mode != MODE_REVERTED;
	/* this node's window; a cluster publishes it every interval */
	if (wc.do_live || wc.do_shadow || cluster_on()) {
		for (p = 0; p < STATS_CLASSES; p++)
			worker_window_sum(p, c->guard_window_s, now, &win[p]);
		cluster_publish(win);
	}
	watch_dry_now[0] = '\0';
	/* the judge's copies: only while they are all the candidate gets */
	seq_copies = c->guard_method == GUARD_SEQUENTIAL && !wc.do_live && wc.do_shadow;
	if (!wc.do_live && !seq_copies) {
		struct stats_judged none[CONFIG_POOLS];

		/* the other nodes' counts of this while are no rollout's */
		cluster_fleet_judged(none);
		if (watch_seq.live || !watch_seq.restore_tried)
			watch_seq_forget();
		watch_seq.restore_tried = 1;
		watch_seq.live = 0;
		state_judge_note(-1, NULL);
		/* the totals now: the requests of a rollout that begins before
		 * the next interval count from here */
		for (p = 0; p < STATS_CLASSES; p++)
			worker_judged_total(p, &watch_seq.last[p]);
		watch_seq.have_last = 1;
		watch_seq.reverts = state_reverts();
	}
	if (!wc.do_live && !wc.do_shadow) {
		snprintf(watch_verdict_now, sizeof(watch_verdict_now),
		    "not watching: %s has no traffic", pool_names[cand]);
		guard_dry_reset(&watch_dry);
		return;
	}
	snprintf(copies, sizeof(copies), "%s copies", pool_names[cand]);
	wc.live.cand_name = pool_names[cand];
	wc.live.stable_name = pool_names[s->stable];
	wc.shadow.cand_name = copies;
	wc.shadow.stable_name = pool_names[s->stable];
	wc.live.window_s = wc.shadow.window_s = c->guard_window_s;
	wc.live.healthy = watch_healthy(cand, now, &wc.live.servers);
	wc.shadow.healthy = wc.live.healthy;
	wc.shadow.servers = wc.live.servers;
	watch_fill(&wc, win, cand, s->stable);
	if (c->guard_method == GUARD_SEQUENTIAL) {
		/* health at once; the rest by the judge: the users' requests, or
		 * the copies while they are all the candidate gets (copies beside
		 * users are not judged: the users' requests are) */
		struct guard_policy hp = { 0 };
		struct judge_policy jp;
		enum judge_check which = JUDGE_ERROR_RATE;
		enum judge_verdict v;
		const char *cn = seq_copies ? copies : pool_names[cand];
		char evidence[640], why[480];

		hp.min_healthy_fraction = c->guard_min_healthy_fraction;
		hp.max_error_rate = 1;
		watch_seq_policy(&jp);
		check = guard_decide(&wc.live, &hp, reason, sizeof(reason));
		v = watch_seq_feed(cand, s->stable, seq_copies, win, &jp, &which);
		if (check == GUARD_CHECK_NONE && v == JUDGE_TRIP) {
			check = watch_seq_kind[which];
			judge_reason(&watch_seq.j, &jp, which, cn, pool_names[s->stable], why,
			    sizeof(why));
			snprintf(reason, sizeof(reason), "%s%s", seq_copies ? "shadow copies: " : "",
			    why);
		}
		judge_evidence(&watch_seq.j, &jp, cn, pool_names[s->stable], evidence,
		    sizeof(evidence));
		state_judge_note(v == JUDGE_CLEAN, evidence);
		if (check == GUARD_CHECK_NONE) {
			watch_seq_clean(cn, &jp, v);
			return;
		}
		goto tripped;
	}
	/* this node's own evidence first: it reverts at once, whatever etcd
	 * does; then the fleet's, the sum over the live nodes */
	check = watch_decide(&wc, &pol, reason, sizeof(reason));
	if (check == GUARD_CHECK_NONE && (nodes = cluster_fleet_add(win)) > 0) {
		watch_fill(&wc, win, cand, s->stable);
		check = watch_decide(&wc, &pol, reason, sizeof(reason));
		if (check != GUARD_CHECK_NONE)
			snprintf(reason + strlen(reason), sizeof(reason) - strlen(reason),
			    ", fleet of %d nodes", nodes + 1);
	}
	if (check == GUARD_CHECK_NONE) {
		watch_clean(&wc, &pol, c->guard_window_s, nodes);
		return;
	}
tripped:
	snprintf(watch_verdict_now, sizeof(watch_verdict_now), "%s%s",
	    c->guard_dry_run ? "would revert: " : "tripped: ", reason);
	if (c->guard_dry_run) {
		snprintf(watch_dry_now, sizeof(watch_dry_now), "would revert %s: %s",
		    pool_names[cand], reason);
		/* once per kind of verdict (and once a minute while it stays), not
		 * every interval: the figures in the text change all the time */
		if (guard_dry_note(&watch_dry, check, now))
			state_event_rec(&guard, "dry_run", NULL, NULL, watch_dry_now, "dry run: %s",
			    watch_dry_now);
		return;
	}
	struct split_state before = *s;
	int r;

	/* a pause holds until an operator acts: the split it paused is not
	 * tripped again (nor counted again) */
	if (c->guard_on_trip == ON_TRIP_PAUSE && watch_paused_version == s->version) {
		snprintf(watch_verdict_now, sizeof(watch_verdict_now), "tripped, paused: %s", reason);
		return;
	}
	watch_ntrips[check]++;
	watch_last.time_ms = clock_wall_ms();
	watch_last.check = check;
	watch_last.action = c->guard_on_trip;
	snprintf(watch_last.reason, sizeof(watch_last.reason), "%s", reason);
	switch (c->guard_on_trip) {
	case ON_TRIP_STEP_BACK:
		r = state_guard_step_back(reason, &guard, msg, sizeof(msg));
		log_warn("guard tripped on %s (step_back): %s: %s", pool_names[cand], reason, msg);
		state_audit_actor(&guard, state_get()->mode == MODE_REVERTED ? "revert" : "step back",
		    r >= 0 ? "OK" : "ERR", reason, &before, state_get());
		break;
	case ON_TRIP_PAUSE:
		r = state_guard_pause(reason, &guard, msg, sizeof(msg));
		watch_paused_version = state_get()->version;
		log_warn("guard tripped on %s (pause): %s: %s", pool_names[cand], reason, msg);
		state_audit_actor(&guard, "pause", r >= 0 ? "OK" : "ERR", reason, &before, state_get());
		break;
	default:
		if (state_revert(reason, &guard, msg, sizeof(msg)) == 0) {
			log_warn("guard reverted %s: %s", pool_names[cand], reason);
			state_audit_actor(&guard, "revert", "OK", reason, &before, state_get());
		}
		break;
	}
	/* a trip the candidate survives (a step back, a pause) begins a new
	 * judgement: the one that tripped would trip again at every interval;
	 * after a revert, traffic the operator gives the candidate again
	 * (even before the next interval) is a new rollout's */
	if (c->guard_on_trip == ON_TRIP_REVERT)
		watch_seq_forget();
	watch_seq.live = 0;
}

const struct judge *
watch_judge(struct judge_policy *p, int *cand, int *stable)
{
	watch_seq_policy(p);
	/* (a revert since the last interval ended the judgement already) */
	if (rt.cfg->guard_method != GUARD_SEQUENTIAL || !watch_seq.live ||
	    watch_seq.reverts != state_reverts())
		return NULL;
	*cand = (int)watch_seq.cand;
	*stable = (int)!watch_seq.cand;
	return &watch_seq.j;
}

int
watch_judge_copies(void)
{
	return watch_seq.live && watch_seq.copies;
}

const struct watch_trip *
watch_last_trip(void)
{
	return watch_last.time_ms != 0 ? &watch_last : NULL;
}

static void
watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = clock_tv_ms(rt.cfg->guard_interval_ms);

	(void)fd;
	(void)what;
	(void)arg;
	watch_guard();
	cluster_tick();
	/* the interval is read each time: a reload may change it */
	evtimer_add(watch_ev, &tv);
}

const char *
watch_dry_verdict(void)
{
	return watch_dry_now;
}

unsigned long long
watch_trips(int check)
{
	return check > 0 && check < GUARD_CHECK_COUNT ? watch_ntrips[check] : 0;
}

const char *
watch_verdict(void)
{
	return watch_verdict_now[0] ? watch_verdict_now : "not evaluated yet";
}

int
watch_start(struct event_base *base, char *err, size_t errlen)
{
	struct timeval tv = { 0, 1000 };

	watch_ev = evtimer_new(base, watch_cb, NULL);
	if (watch_ev == NULL) {
		snprintf(err, errlen, "cannot create the guard timer");
		return -1;
	}
	evtimer_add(watch_ev, &tv);
	return 0;
}

void
watch_stop(void)
{
	if (rt.cfg != NULL && rt.cfg->guard_method == GUARD_SEQUENTIAL)
		watch_seq_save();
	if (watch_ev != NULL)
		event_free(watch_ev);
	watch_ev = NULL;
}
