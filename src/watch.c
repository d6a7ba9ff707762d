/*
 * watch.c - the guard on a timer; the rollout timer rides along.
 */
#include <stdio.h>
#include <stdlib.h>
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

struct watch_svc;
static struct watch_svc *W;

/* "shop's " before a pool in the log with a services list, else "". */
static const char *watch_of(void);
static void watch_seq_mem(void);

/* guard.method "sequential": the judge of the candidate, on its users'
 * requests, or on the copies of the stable pool's while those are all it
 * gets (a rollout's shadow phase): one judgement for the whole rollout */
struct watch_seq {
	struct judge *j;              /* made when it first judges (45 KiB: not for every service) */
	int live;                     /* judging now */
	int copies;                   /* fed the shadow classes this interval */
	enum pool_id cand;
	uint64_t reverts;             /* state_reverts() when it began: a revert ends it */
	long long step_key;           /* the rollout step its "within" tests are for (watch_step_id) */
	struct stats_judged last[STATS_CLASSES];  /* totals at the last interval */
	int have_last;                /* last was taken at the interval before */
	int restore_tried;            /* the file of the process before was looked at */
	uint64_t saved_us;            /* when the evidence was last written */
};

/* One service's guard: its timer, what it said and did. */
struct watch_svc {
	struct service *sv;
	struct event *ev;
	struct guard_dry dry;         /* what dry run recorded last */
	char verdict_now[600];
	unsigned long long ntrips[GUARD_CHECK_COUNT];
	char dry_now[600];            /* this interval's dry-run verdict, "" = none */
	struct watch_trip last;       /* the last trip that acted */
	unsigned long long paused_version; /* the split a trip paused (on_trip pause) */
	struct watch_seq seq;
	unsigned gen;                 /* sv->gen it is of: added again, it begins again */
	int quiet;                    /* nothing to watch: checked every WATCH_QUIET_MS */
};

/* A service with nothing to watch (no candidate traffic, no copies, no
 * rollout) and no fleet is checked this often; a change of its split
 * wakes its guard at once (watch_kick).  A thousand idle services then
 * cost the control thread next to nothing. */
#define WATCH_QUIET_MS 5000

static struct event_base *watch_base;

static const char *
watch_of(void)
{
	static char buf[CONFIG_SVC_NAME_MAX + 8];

	if (!rt.cfg->services)
		return "";
	snprintf(buf, sizeof(buf), "%s's ", W->sv->name);
	return buf;
}

#define WATCH_SEQ_SAVE_US 2000000  /* the evidence is written at most this often */

/* STATE_FILE.judge (STATE_FILE.judge.NAME with a services list), or NULL
 * without a state file */
static const char *
watch_seq_path(char *buf, size_t len)
{
	if (rt.cfg->state_file == NULL)
		return NULL;
	if (rt.cfg->services)
		snprintf(buf, len, "%s.judge.%s", rt.cfg->state_file, W->sv->name);
	else
		snprintf(buf, len, "%s.judge", rt.cfg->state_file);
	return buf;
}

static void
watch_seq_save(void)
{
	char path[4096], err[256];

	if (!W->seq.live || watch_seq_path(path, sizeof(path)) == NULL)
		return;
	if (judge_file_save(path, W->seq.j, (int)W->seq.cand, W->seq.step_key, err,
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

	W->seq.restore_tried = 1;
	if (watch_seq_path(path, sizeof(path)) == NULL)
		return;
	watch_seq_mem();
	r = judge_file_load(path, W->seq.j, &c, &key, err, sizeof(err));
	if (r == -1)
		log_warn("guard: the evidence in %s is not used: %s", path, err);
	if (r == 0 && c != (int)cand)
		log_info("guard: the evidence in %s was about %s, the candidate now is %s: "
		    "not used", path, pool_names[c & 1], pool_names[cand]);
	if (r != 0 || c != (int)cand)
		return;
	W->seq.live = 1;
	W->seq.cand = cand;
	W->seq.step_key = key;
	W->seq.reverts = state_reverts(W->sv);
	log_info("guard: the evidence gathered before the restart goes on (%llu %s requests, "
	    "%llu failed)", (unsigned long long)W->seq.j->cand_requests, pool_names[cand],
	    (unsigned long long)W->seq.j->cand_errors);
}

/* The judge of the service acted on, made when first needed. */
static void
watch_seq_mem(void)
{
	if (W->seq.j == NULL && (W->seq.j = calloc(1, sizeof(*W->seq.j))) == NULL) {
		log_error("out of memory for the guard's judge of service %s", W->sv->name);
		abort();
	}
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

	memset(jp, 0, sizeof(*jp));
	jp->alpha = service_cfg(W->sv)->guard_alpha;
	jp->max_error_rate = service_cfg(W->sv)->guard_max_error_rate > 0 ? service_cfg(W->sv)->guard_max_error_rate : 1;
	jp->max_error_ratio = service_cfg(W->sv)->guard_max_error_ratio;
	jp->max_error_delta = service_cfg(W->sv)->guard_max_error_delta;
	jp->max_p99_ms = service_cfg(W->sv)->guard_max_p99_ms;
	jp->max_p99_ratio = service_cfg(W->sv)->guard_max_p99_ratio;
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
	const struct split_state *s = state_get(W->sv);

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
	struct stats_judged now[STATS_CLASSES], fleet[CONFIG_POOLS], zero[CONFIG_POOLS];
	struct judge_counts jc, js, fc, fs;
	long long key = watch_step_id();
	int p, fresh = 0, cc = copies ? STATS_SHADOW : (int)cand;
	int sc = copies ? STATS_SHADOW_BASE : (int)stable;
	double sp99;

	for (p = 0; p < STATS_CLASSES; p++)
		worker_judged_total(W->sv, p, &now[p]);
	/* in a fleet, what the other live nodes judged since the last interval */
	cluster_fleet_judged(fleet);
	memset(zero, 0, sizeof(zero));
	if (!W->seq.restore_tried) {
		watch_seq_restore(cand);
		memcpy(W->seq.last, now, sizeof(now));
	}
	/* a revert between two intervals (and traffic given again before the
	 * second) ends the judgement too: what follows is a new rollout */
	if (!W->seq.live || W->seq.cand != cand || W->seq.reverts != state_reverts(W->sv)) {
		fresh = 1;
		watch_seq_mem();
		judge_init(W->seq.j);
		/* the candidate's requests since the interval before count: the
		 * ones between the change that gave it traffic and this interval
		 * too (not after a revert: those were the old rollout's) */
		if (!W->seq.have_last || W->seq.reverts != state_reverts(W->sv))
			memcpy(W->seq.last, now, sizeof(now));
		W->seq.reverts = state_reverts(W->sv);
		W->seq.live = 1;
		W->seq.cand = cand;
		W->seq.step_key = key;
	} else if (key != W->seq.step_key) {
		judge_step(W->seq.j);
		W->seq.step_key = key;
	}
	/* from copies to users (or back): last holds every class's totals at
	 * the interval before, so the other class counts from there */
	W->seq.copies = copies;
	watch_seq_counts(&now[cc], &W->seq.last[cc], &jc);
	watch_seq_counts(&now[sc], &W->seq.last[sc], &js);
	memcpy(W->seq.last, now, sizeof(now));
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
	W->seq.have_last = 1;
	judge_feed(W->seq.j, jp, &jc, &js);
	if (proxy_now_us() - W->seq.saved_us >= WATCH_SEQ_SAVE_US) {
		W->seq.saved_us = proxy_now_us();
		watch_seq_save();
	}
	/* the bounds for the next interval's requests */
	sp99 = win[sc].requests >= (uint64_t)(service_cfg(W->sv)->guard_min_requests > 0 ?
	    service_cfg(W->sv)->guard_min_requests : 1) ? stats_window_quantile_ms(&win[sc], 0.99) : 0;
	stats_set_slow_bounds(&W->sv->sh, (uint64_t)service_cfg(W->sv)->guard_max_p99_ms * 1000,
	    service_cfg(W->sv)->guard_max_p99_ratio > 0 && sp99 > 0 ?
	    (uint64_t)(service_cfg(W->sv)->guard_max_p99_ratio * sp99 * 1000) : 0);
	return judge_verdict(W->seq.j, jp, which);
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
		    W->seq.j->t[i].verdict != JUDGE_INCONCLUSIVE))
			continue;
		snprintf(checks + strlen(checks), sizeof(checks) - strlen(checks), "%s%s",
		    n++ ? ", " : "", judge_check_names[i]);
	}
	if (v == JUDGE_CLEAN) {
		snprintf(W->verdict_now, sizeof(W->verdict_now), "clean: %s within every "
		    "limit at %g%% confidence (%s), %llu requests this step", cand,
		    100 * (1 - jp->alpha), checks, (unsigned long long)W->seq.j->step_requests);
		return;
	}
	need = judge_need(W->seq.j, jp);
	if (need == UINT64_MAX)
		snprintf(W->verdict_now, sizeof(W->verdict_now), "inconclusive: %s not yet "
		    "shown within %s (%llu requests this step; no estimate of how many more)",
		    cand, checks, (unsigned long long)W->seq.j->step_requests);
	else
		snprintf(W->verdict_now, sizeof(W->verdict_now), "inconclusive: %s not yet "
		    "shown within %s (%llu requests this step; about %llu more)", cand,
		    checks, (unsigned long long)W->seq.j->step_requests, (unsigned long long)need);
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
	struct pool *pl = &pools_current(W->sv)->pools[p];
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
	snprintf(W->verdict_now, sizeof(W->verdict_now), "%s%s%s%s", part[0],
	    n > 1 ? "; " : "", n > 1 ? part[1] : "", fleet);
}

static void
watch_guard(void)
{
	const struct split_state *s = state_get(W->sv);
	enum pool_id cand = !s->stable;
	struct guard_policy pol = {
		service_cfg(W->sv)->guard_min_requests, service_cfg(W->sv)->guard_max_error_rate, service_cfg(W->sv)->guard_max_p99_ms,
		service_cfg(W->sv)->guard_min_healthy_fraction, service_cfg(W->sv)->guard_max_error_delta, service_cfg(W->sv)->guard_max_p99_ratio,
		service_cfg(W->sv)->guard_max_error_ratio,
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
	wc.do_shadow = atomic_load_explicit(&W->sv->mirror_bp, memory_order_relaxed) > 0 &&
	    s->mode != MODE_REVERTED;
	/* this node's window; a cluster publishes it every interval */
	if (wc.do_live || wc.do_shadow || cluster_on()) {
		for (p = 0; p < STATS_CLASSES; p++)
			worker_window_sum(W->sv, p, service_cfg(W->sv)->guard_window_s, now, &win[p]);
		cluster_publish(win);
	}
	W->dry_now[0] = '\0';
	/* the judge's copies: only while they are all the candidate gets */
	seq_copies = service_cfg(W->sv)->guard_method == GUARD_SEQUENTIAL && !wc.do_live && wc.do_shadow;
	if (!wc.do_live && !seq_copies) {
		struct stats_judged none[CONFIG_POOLS];

		/* the other nodes' counts of this while are no rollout's */
		cluster_fleet_judged(none);
		if (W->seq.live || !W->seq.restore_tried)
			watch_seq_forget();
		W->seq.restore_tried = 1;
		W->seq.live = 0;
		state_judge_note(W->sv, -1, NULL);
		/* the totals now: the requests of a rollout that begins before
		 * the next interval count from here */
		for (p = 0; p < STATS_CLASSES; p++)
			worker_judged_total(W->sv, p, &W->seq.last[p]);
		W->seq.have_last = 1;
		W->seq.reverts = state_reverts(W->sv);
	}
	if (!wc.do_live && !wc.do_shadow) {
		snprintf(W->verdict_now, sizeof(W->verdict_now),
		    "not watching: %s has no traffic", pool_names[cand]);
		guard_dry_reset(&W->dry);
		W->quiet = !cluster_on() && !s->has_rollout;
		return;
	}
	W->quiet = 0;
	snprintf(copies, sizeof(copies), "%s copies", pool_names[cand]);
	wc.live.cand_name = pool_names[cand];
	wc.live.stable_name = pool_names[s->stable];
	wc.shadow.cand_name = copies;
	wc.shadow.stable_name = pool_names[s->stable];
	wc.live.window_s = wc.shadow.window_s = service_cfg(W->sv)->guard_window_s;
	wc.live.healthy = watch_healthy(cand, now, &wc.live.servers);
	wc.shadow.healthy = wc.live.healthy;
	wc.shadow.servers = wc.live.servers;
	watch_fill(&wc, win, cand, s->stable);
	if (service_cfg(W->sv)->guard_method == GUARD_SEQUENTIAL) {
		/* health at once; the rest by the judge: the users' requests, or
		 * the copies while they are all the candidate gets (copies beside
		 * users are not judged: the users' requests are) */
		struct guard_policy hp = { 0 };
		struct judge_policy jp;
		enum judge_check which = JUDGE_ERROR_RATE;
		enum judge_verdict v;
		const char *cn = seq_copies ? copies : pool_names[cand];
		char evidence[640], why[480];

		hp.min_healthy_fraction = service_cfg(W->sv)->guard_min_healthy_fraction;
		hp.max_error_rate = 1;
		watch_seq_policy(&jp);
		check = guard_decide(&wc.live, &hp, reason, sizeof(reason));
		v = watch_seq_feed(cand, s->stable, seq_copies, win, &jp, &which);
		if (check == GUARD_CHECK_NONE && v == JUDGE_TRIP) {
			check = watch_seq_kind[which];
			judge_reason(W->seq.j, &jp, which, cn, pool_names[s->stable], why,
			    sizeof(why));
			snprintf(reason, sizeof(reason), "%s%s", seq_copies ? "shadow copies: " : "",
			    why);
		}
		judge_evidence(W->seq.j, &jp, cn, pool_names[s->stable], evidence,
		    sizeof(evidence));
		state_judge_note(W->sv, v == JUDGE_CLEAN, evidence);
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
		watch_clean(&wc, &pol, service_cfg(W->sv)->guard_window_s, nodes);
		return;
	}
tripped:
	snprintf(W->verdict_now, sizeof(W->verdict_now), "%s%s",
	    service_cfg(W->sv)->guard_dry_run ? "would revert: " : "tripped: ", reason);
	if (service_cfg(W->sv)->guard_dry_run) {
		snprintf(W->dry_now, sizeof(W->dry_now), "would revert %s: %s",
		    pool_names[cand], reason);
		/* once per kind of verdict (and once a minute while it stays), not
		 * every interval: the figures in the text change all the time */
		if (guard_dry_note(&W->dry, check, now))
			state_event_rec(W->sv, &guard, "dry_run", NULL, NULL, W->dry_now, "dry run: %s",
			    W->dry_now);
		return;
	}
	struct split_state before = *s;
	int r;

	/* a pause holds until an operator acts: the split it paused is not
	 * tripped again (nor counted again) */
	if (service_cfg(W->sv)->guard_on_trip == ON_TRIP_PAUSE && W->paused_version == s->version) {
		snprintf(W->verdict_now, sizeof(W->verdict_now), "tripped, paused: %s", reason);
		return;
	}
	W->ntrips[check]++;
	W->last.time_ms = clock_wall_ms();
	W->last.check = check;
	W->last.action = service_cfg(W->sv)->guard_on_trip;
	snprintf(W->last.reason, sizeof(W->last.reason), "%s", reason);
	switch (service_cfg(W->sv)->guard_on_trip) {
	case ON_TRIP_STEP_BACK:
		r = state_guard_step_back(W->sv, reason, &guard, msg, sizeof(msg));
		log_warn("guard tripped on %s%s (step_back): %s: %s", watch_of(), pool_names[cand],
		    reason, msg);
		state_audit_actor(W->sv, &guard, state_get(W->sv)->mode == MODE_REVERTED ? "revert" : "step back",
		    r >= 0 ? "OK" : "ERR", reason, &before, state_get(W->sv));
		break;
	case ON_TRIP_PAUSE:
		r = state_guard_pause(W->sv, reason, &guard, msg, sizeof(msg));
		W->paused_version = state_get(W->sv)->version;
		log_warn("guard tripped on %s%s (pause): %s: %s", watch_of(), pool_names[cand], reason,
		    msg);
		state_audit_actor(W->sv, &guard, "pause", r >= 0 ? "OK" : "ERR", reason, &before, state_get(W->sv));
		break;
	default:
		if (state_revert(W->sv, reason, &guard, msg, sizeof(msg)) == 0) {
			log_warn("guard reverted %s%s: %s", watch_of(), pool_names[cand], reason);
			state_audit_actor(W->sv, &guard, "revert", "OK", reason, &before, state_get(W->sv));
		}
		break;
	}
	/* a trip the candidate survives (a step back, a pause) begins a new
	 * judgement: the one that tripped would trip again at every interval;
	 * after a revert, traffic the operator gives the candidate again
	 * (even before the next interval) is a new rollout's */
	if (service_cfg(W->sv)->guard_on_trip == ON_TRIP_REVERT)
		watch_seq_forget();
	W->seq.live = 0;
}

/* Act on sv's guard (made when first needed). */
static int
watch_use(struct service *sv)
{
	if (sv->watch == NULL) {
		struct watch_svc *w = calloc(1, sizeof(*w));

		if (w == NULL)
			return -1;
		w->sv = sv;
		sv->watch = w;
	}
	W = sv->watch;
	return 0;
}

const struct judge *
watch_judge(struct service *sv, struct judge_policy *p, int *cand, int *stable)
{
	if (watch_use(sv) == -1)
		return NULL;
	watch_seq_policy(p);
	/* (a revert since the last interval ended the judgement already) */
	if (service_cfg(W->sv)->guard_method != GUARD_SEQUENTIAL || !W->seq.live ||
	    W->seq.reverts != state_reverts(W->sv))
		return NULL;
	*cand = (int)W->seq.cand;
	*stable = (int)!W->seq.cand;
	return W->seq.j;
}

int
watch_judge_copies(struct service *sv)
{
	return sv->watch != NULL && sv->watch->seq.live && sv->watch->seq.copies;
}

const struct watch_trip *
watch_last_trip(struct service *sv)
{
	return sv->watch != NULL && sv->watch->last.time_ms != 0 ? &sv->watch->last : NULL;
}

static void
watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct service *sv = arg;
	struct timeval tv;

	(void)fd;
	(void)what;
	if (atomic_load(&sv->removed))
		return;         /* its timer stops; watch_sync starts it again */
	if (watch_use(sv) == 0)
		watch_guard();
	cluster_tick(sv);
	/* the interval is read each time: a reload may change it */
	tv = clock_tv_ms(sv->watch->quiet && service_cfg(sv)->guard_interval_ms < WATCH_QUIET_MS ?
	    WATCH_QUIET_MS : service_cfg(sv)->guard_interval_ms);
	evtimer_add(sv->watch->ev, &tv);
}

/* A split changed: a quiet guard looks at once, its counts from now. */
static void
watch_kick(struct service *sv)
{
	struct timeval now = { 0, 0 };
	struct watch_svc *w = sv->watch;

	if (w == NULL || !w->quiet || w->ev == NULL)
		return;
	w->quiet = 0;
	w->seq.have_last = 0;
	evtimer_del(w->ev);
	evtimer_add(w->ev, &now);
}

const char *
watch_dry_verdict(struct service *sv)
{
	return sv->watch != NULL ? sv->watch->dry_now : "";
}

unsigned long long
watch_trips(struct service *sv, int check)
{
	return sv->watch != NULL && check > 0 && check < GUARD_CHECK_COUNT ?
	    sv->watch->ntrips[check] : 0;
}

const char *
watch_verdict(struct service *sv)
{
	return sv->watch != NULL && sv->watch->verdict_now[0] ? sv->watch->verdict_now :
	    "not evaluated yet";
}

/* A service added again by a reload: a new guard, not the old evidence
 * (its timer stays). */
static void
watch_renew(struct service *sv)
{
	struct event *ev = W->ev;
	struct judge *j = W->seq.j;
	int again = W->gen != 0;

	memset(W, 0, sizeof(*W));
	W->sv = sv;
	W->ev = ev;
	W->seq.j = j;             /* (judge_init when it judges again) */
	W->gen = sv->gen;
	if (again) {
		W->seq.restore_tried = 1;
		watch_seq_forget();
	}
}

int
watch_sync(char *err, size_t errlen)
{
	struct timeval tv = { 0, 1000 };

	for (int i = 0; i < service_count(); i++) {
		struct service *sv = rt.svcs[i];

		if (atomic_load(&sv->removed)) {
			/* gone: the evidence about it too */
			if (sv->watch != NULL) {
				W = sv->watch;
				W->seq.live = 0;
				watch_seq_forget();
			}
			continue;
		}
		if (watch_use(sv) == -1 || (W->ev == NULL &&
		    (W->ev = evtimer_new(watch_base, watch_cb, sv)) == NULL)) {
			snprintf(err, errlen, "cannot create the guard timer of service %s", sv->name);
			return -1;
		}
		if (W->gen != sv->gen)
			watch_renew(sv);
		if (!evtimer_pending(W->ev, NULL))
			evtimer_add(W->ev, &tv);
	}
	return 0;
}

int
watch_start(struct event_base *base, char *err, size_t errlen)
{
	watch_base = base;
	state_set_publish_hook(watch_kick);
	return watch_sync(err, errlen);
}

void
watch_stop(void)
{
	state_set_publish_hook(NULL);
	for (int i = 0; i < service_count(); i++) {
		struct service *sv = rt.svcs[i];

		if (sv->watch == NULL)
			continue;
		W = sv->watch;
		if (rt.cfg != NULL && service_cfg(sv)->guard_method == GUARD_SEQUENTIAL)
			watch_seq_save();
		if (W->ev != NULL)
			event_free(W->ev);
		W->ev = NULL;
	}
}
