/*
 * state_rollout.c - the split's rollouts: start, pause, resume, next; what
 * a guard trip does to one (a step back, a pause); what a running step
 * waits for, and the rollout timer that advances it (under the sequential
 * guard only on the judge's "clean", pausing after
 * rollout.max_inconclusive_s) and promotes after the bake.  The split's
 * rules and its one copy are state.c's (state_core_get).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "audit.h"
#include "events_file.h"
#include "persist.h"
#include "proxy.h"
#include "rollout.h"
#include "state.h"
#include "state_int.h"
#include "worker.h"

#define S (*state_core_get())


/* ---- what a guard trip does (guard.on_trip) --------------------------------------- */

int
state_guard_step_back(struct service *sv, const char *reason, const struct actor *who, char *msg, size_t len)
{
	state_use(sv);
	struct split_state n = S.cur;
	char before[128], after[128], why[480];
	int from = S.ro.step;

	if (S.ro.phase == RO_NONE || rollout_step_back(&S.ro, state_now_ms(),
	    state_gate_requests(state_ro_pool())) == -1) {
		/* from the first step (or without a rollout) back is the stable pool */
		snprintf(why, sizeof(why), "%.300s (step_back from the first step: revert)", reason);
		return state_revert(state_cur()->sv, why, who, msg, len);
	}
	state_from_rollout(&n);
	state_describe(&S.cur, before, sizeof(before));
	state_describe(&n, after, sizeof(after));
	state_commit(&n);    /* a new guard window: see state_publish */
	state_event_rec(state_cur()->sv, who, "step", before, after, reason, "guard stepped back: step %d -> %d of "
	    "%zu, %s, held (rollout resume to go on): %s", from + 1, n.step + 1, n.nsteps, after,
	    reason);
	snprintf(msg, len, "stepped back to step %d of %zu, %s, paused", n.step + 1, n.nsteps,
	    after);
	return 0;
}

int
state_guard_pause(struct service *sv, const char *reason, const struct actor *who, char *msg, size_t len)
{
	state_use(sv);
	struct split_state n = S.cur;
	char now[128];

	state_describe(&S.cur, now, sizeof(now));
	if (S.ro.phase != RO_RUNNING) {
		/* nothing moves on its own: the candidate keeps what it has */
		state_event_rec(state_cur()->sv, who, "pause", now, now, reason, "guard paused: %s stays (%s, state "
		    "%s): %s", now, S.ro.phase == RO_NONE ? "no rollout" : "the rollout holds",
		    state_mode_names[S.cur.mode], reason);
		snprintf(msg, len, "%s stays, state %s", now, state_mode_names[S.cur.mode]);
		return 1;
	}
	rollout_pause(&S.ro, NULL, 0);
	state_from_rollout(&n);
	state_commit(&n);
	state_event_rec(state_cur()->sv, who, "pause", now, now, reason, "guard paused the rollout at step %d of "
	    "%zu, %s (rollout resume, next or revert): %s", n.step + 1, n.nsteps, now, reason);
	snprintf(msg, len, "paused at step %d of %zu, %s", n.step + 1, n.nsteps, now);
	return 0;
}

/* ---- rollouts ---------------------------------------------------------------- */

int
state_rollout_start(struct service *sv, enum pool_id pool, const int *steps_bp, size_t nsteps, int hold_s,
    int shadow_bp, const struct actor *who, char *msg, size_t len)
{
	state_use(sv);
	struct split_state n = S.cur;
	char before[128], after[128], at[160];
	int cur_bp, first;

	if (pool == S.cur.stable) {
		snprintf(msg, len, "%s is the stable pool; a rollout moves traffic to the other one "
		    "(%s)", pool_names[pool], pool_names[!pool]);
		return -1;
	}
	if (S.ro.phase != RO_NONE) {
		snprintf(msg, len, "a rollout of %s is in progress (step %d of %zu, %s); abort or "
		    "promote it first", pool_names[S.ro.pool ? POOL_GREEN : POOL_BLUE],
		    S.ro.step + 1, S.ro.nsteps, state_mode_names[S.cur.mode]);
		return -1;
	}
	/* begin at the first step at or above the share the candidate has
	 * now, so no client it holds moves back (a reverted one has none) */
	cur_bp = S.cur.mode == MODE_REVERTED ? 0 : S.cur.candidate_bp;
	if (shadow_bp > 0 && cur_bp > 0) {
		snprintf(msg, len, "a shadow phase comes before any user: %s has %d.%02d%% now; "
		    "set weight %s 0 first, or start without shadow", pool_names[pool],
		    cur_bp / 100, cur_bp % 100, pool_names[pool]);
		return -1;
	}
	first = rollout_first_step(steps_bp, nsteps, cur_bp);
	rollout_start(&S.ro, pool, steps_bp, nsteps, first, hold_s,
	    state_cfg()->rollout_min_requests, state_cfg()->guard_bake_s, state_now_ms(),
	    state_gate_requests(pool));
	if (shadow_bp > 0)
		rollout_shadow(&S.ro, shadow_bp, state_now_ms(), state_gate_requests(pool));
	state_from_rollout(&n);
	state_describe(&S.cur, before, sizeof(before));
	state_commit(&n);
	state_describe(&n, after, sizeof(after));
	if (shadow_bp > 0)
		snprintf(at, sizeof(at), "shadow phase, copies of %d.%02d%% of %s's requests, then "
		    "%zu steps", shadow_bp / 100, shadow_bp % 100, pool_names[n.stable], nsteps);
	else
		snprintf(at, sizeof(at), "step %d of %zu, %s", first + 1, nsteps, after);
	state_event_rec(state_cur()->sv, who, "rollout", before, after, NULL, "rollout of %s started: %s, hold %d s",
	    pool_names[pool], at, hold_s);
	snprintf(msg, len, "rollout of %s started: %s", pool_names[pool], after);
	return 0;
}

static int
state_rollout_gate(int r, const struct actor *who, const char *kind, const char *what,
    char *msg, size_t len)
{
	struct split_state n = S.cur;
	char before[128], after[128], at[48];

	if (r == -1)
		return -1;
	state_from_rollout(&n);
	state_describe(&S.cur, before, sizeof(before));
	state_commit(&n);
	state_describe(&n, after, sizeof(after));
	if (n.shadow_bp > 0)
		snprintf(at, sizeof(at), "shadow phase");
	else
		snprintf(at, sizeof(at), "step %d of %zu", n.step + 1, n.nsteps);
	state_event_rec(state_cur()->sv, who, kind, before, after, NULL, "rollout %s: %s, %s, state %s", what, at,
	    after, state_mode_names[n.mode]);
	snprintf(msg, len, "%s, %s, state %s", at, after, state_mode_names[n.mode]);
	return 0;
}

int
state_rollout_pause(struct service *sv, const struct actor *who, char *msg, size_t len)
{
	state_use(sv);
	if (S.ro.phase == RO_PAUSED) {
		snprintf(msg, len, "the rollout is paused already (no change)");
		return 0;
	}
	return state_rollout_gate(rollout_pause(&S.ro, msg, len), who, "pause", "paused",
	    msg, len);
}

int
state_rollout_resume(struct service *sv, const struct actor *who, char *msg, size_t len)
{
	state_use(sv);
	if (S.ro.phase == RO_RUNNING) {
		snprintf(msg, len, "the rollout is running already (no change)");
		return 0;
	}
	return state_rollout_gate(rollout_resume(&S.ro, state_now_ms(),
	    state_gate_requests(state_ro_pool()), msg, len), who, "resume",
	    "resumed", msg, len);
}

int
state_rollout_next(struct service *sv, const struct actor *who, char *msg, size_t len)
{
	state_use(sv);
	int failed = 0;

	rollout_next(&S.ro, state_now_ms(),
	    state_gate_requests(state_ro_pool()), msg, len, &failed);
	return state_rollout_gate(failed ? -1 : 0, who, "step", "advanced", msg, len);
}

int
state_step_left_s(struct service *sv)
{
	state_use(sv);
	return rollout_step_left_s(&S.ro, state_now_ms());
}

void
state_step_waits(struct service *sv, char *buf, size_t len, int *left_s, unsigned long long *seen,
    unsigned long long *need)
{
	state_use(sv);
	uint64_t cand = state_gate_total(state_ro_pool());
	const char *what;

	*left_s = 0;
	*seen = *need = 0;
	buf[0] = '\0';
	switch (S.ro.phase) {
	case RO_NONE:
		return;
	case RO_PAUSED:
		/* a resume begins the step again: its whole hold and count */
		*left_s = S.ro.hold_s;
		*need = (unsigned long long)S.ro.min_requests;
		snprintf(buf, len, "paused: rollout resume (then %d s and %llu %s) or rollout next",
		    *left_s, *need, S.ro.shadow_bp > 0 ? "copies answered" :
		    "candidate request(s)");
		return;
	case RO_BAKING:
		if (S.ro.bake_s > 0) {
			uint64_t done = (state_now_ms() - S.ro.bake_start_ms) / 1000;

			*left_s = done >= (uint64_t)S.ro.bake_s ? 0 : S.ro.bake_s - (int)done;
			snprintf(buf, len, "baking: promote, or %d s more clean for the automatic "
			    "promote", *left_s);
		} else {
			snprintf(buf, len, "baking: promote");
		}
		return;
	case RO_RUNNING:
		break;
	}
	*left_s = rollout_step_left_s(&S.ro, state_now_ms());
	*seen = rollout_step_requests(&S.ro, cand);
	*need = (unsigned long long)S.ro.min_requests;
	/* in the shadow phase the gate counts the copies answered */
	what = S.ro.shadow_bp > 0 ? "copies answered" : "candidate request(s)";
	if (*left_s > 0 && *seen < *need)
		snprintf(buf, len, "%d s and %llu more %s (%llu of %llu)", *left_s, *need - *seen,
		    what, *seen, *need);
	else if (*left_s > 0)
		snprintf(buf, len, "%d s (%s %llu of %llu)", *left_s, what, *seen, *need);
	else if (*seen < *need)
		snprintf(buf, len, "%llu more %s (%llu of %llu)", *need - *seen, what, *seen, *need);
	else if (state_cfg()->guard_method == GUARD_SEQUENTIAL && state_cur()->judged != 1)
		snprintf(buf, len, "the evidence that the candidate is within every limit "
		    "(guard: inconclusive)");
	else
		snprintf(buf, len, "the next guard interval");
}

/* The audit line of what the timer did: written now, or with a staged
 * change when it is applied (not when etcd refused it). */
static void
state_audit(const struct actor *who, const char *what, const char *result, const char *msg,
    const struct split_state *before)
{
	struct state_audit *a;

	if (state_staging_get() == NULL) {
		state_audit_actor(state_cur()->sv, who, what, result, msg, before, &S.cur);
		return;
	}
	if (state_staging_get()->naudits == STATE_STAGE_AUDITS)
		return;
	a = &state_staging_get()->audits[state_staging_get()->naudits++];
	a->who = *who;
	snprintf(a->what, sizeof(a->what), "%s", what);
	snprintf(a->result, sizeof(a->result), "%s", result);
	snprintf(a->msg, sizeof(a->msg), "%s", msg);
	a->before = *before;
}

void
state_judge_note(struct service *sv, int clean, const char *evidence)
{
	state_use(sv);
	state_cur()->judged = clean;
	state_judge_ev_set(clean >= 0 ? evidence : NULL);
}

/* Under the sequential guard a running step (a shadow phase too: the judge
 * is fed its copies) moves only on the judge's "clean"; 1 when the step
 * must wait (and it may have been paused for waiting too long). */
static int
state_step_unjudged(const struct actor *who)
{
	uint64_t now = state_now_ms(), ran;
	char reason[200], msg[256];

	if (state_cfg()->guard_method != GUARD_SEQUENTIAL || S.ro.phase != RO_RUNNING ||
	    state_cur()->judged == 1)
		return 0;
	ran = now > S.ro.step_start_ms ? now - S.ro.step_start_ms : 0;
	if (state_cfg()->rollout_max_inconclusive_s > 0 &&
	    ran >= (uint64_t)state_cfg()->rollout_max_inconclusive_s * 1000) {
		struct split_state before = S.cur;

		snprintf(reason, sizeof(reason), "step inconclusive for %d s "
		    "(rollout.max_inconclusive_s): the evidence never showed the candidate "
		    "within every limit", state_cfg()->rollout_max_inconclusive_s);
		state_guard_pause(state_cur()->sv, reason, who, msg, sizeof(msg));
		state_audit(who, "pause", "OK", reason, &before);
	}
	return 1;
}

/* The rollout timer: advance steps, and promote after guard.bake_s.  What
 * the timer changes is audited like an operator's command. */
void
state_tick(struct service *sv)
{
	state_use(sv);
	struct actor timer = { ACTOR_ROLLOUT, 0, 0 };
	struct split_state before = S.cur;
	uint64_t now = state_now_ms();
	char msg[256];
	enum rollout_action a;
	int r;

	if (S.ro.phase != RO_NONE) {
		if (state_step_unjudged(&timer))
			return;
		a = rollout_tick(&S.ro, now, state_gate_total(state_ro_pool()));
		if (a == RA_SET) {
			r = state_rollout_gate(0, &timer, "step", "step", msg, sizeof(msg));
			state_audit(&timer, "rollout step", r == 0 ? "OK" : "ERR", msg, &before);
		} else if (a == RA_PROMOTE) {
			r = state_promote(state_cur()->sv, &timer, msg, sizeof(msg));
			state_audit(&timer, "promote", r == 0 ? "OK" : "ERR", msg, &before);
		}
		return;
	}
	if (S.cur.mode == MODE_BAKING && state_cfg()->guard_bake_s > 0 &&
	    now - S.bake_start_ms >= (uint64_t)state_cfg()->guard_bake_s * 1000) {
		r = state_promote(state_cur()->sv, &timer, msg, sizeof(msg));
		state_audit(&timer, "promote", r == 0 ? "OK" : "ERR", msg, &before);
	}
}
