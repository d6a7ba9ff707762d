/*
 * state_cluster.c - the split's side of a cluster (CONTRACT section 12):
 * staged changes (computed on the real state, kept, the real state put
 * back, made real when etcd took them), the record a node writes, and the
 * records of other nodes applied here.  state.c keeps the split's rules.
 */
#include <stdio.h>
#include <string.h>

#include "persist.h"
#include "proxy.h"
#include "rollout.h"
#include "state.h"
#include "state_int.h"

#define S (*state_core_get())


void
state_stage_begin(struct service *sv, struct state_stage *st)
{
	state_use(sv);
	memset(st, 0, sizeof(*st));
	state_cur()->saved = S;
	state_staging_set(st);
}

void
state_stage_end(struct service *sv, struct state_stage *st)
{
	state_use(sv);
	st->core = S;
	st->core.nreverts = S.nreverts - state_cur()->saved.nreverts;
	st->changed = S.cur.version != state_cur()->saved.cur.version;
	S = state_cur()->saved;
	state_staging_set(NULL);
}

void
state_stage_apply(struct service *sv, const struct state_stage *st)
{
	state_use(sv);
	size_t i;

	state_publish(&st->core.cur);
	S.ro = st->core.ro;
	S.bake_start_ms = st->core.bake_start_ms;
	S.nreverts += st->core.nreverts;
	for (i = 0; i < st->nevents; i++)
		state_event_keep(&st->events[i]);
	for (i = 0; i < st->naudits; i++)
		state_audit_actor(state_cur()->sv, &st->audits[i].who, st->audits[i].what, st->audits[i].result,
		    st->audits[i].msg, &st->audits[i].before, &S.cur);
}

static void
state_record_of(const struct split_state *cur, const struct rollout *ro, uint64_t bake_start_ms,
    struct split_state *p, long long *step_wall_ms, long long *bake_wall_ms)
{
	state_to_persist(cur, p);
	*step_wall_ms = ro->phase != RO_NONE ? state_mono_to_wall(ro->step_start_ms) : 0;
	*bake_wall_ms = ro->phase == RO_BAKING ? state_mono_to_wall(ro->bake_start_ms) :
	    cur->mode == MODE_BAKING ? state_mono_to_wall(bake_start_ms) : 0;
}

void
state_record(struct service *sv, struct split_state *p, long long *step_wall_ms, long long *bake_wall_ms)
{
	state_use(sv);
	state_record_of(&S.cur, &S.ro, S.bake_start_ms, p, step_wall_ms, bake_wall_ms);
}

void
state_stage_record(const struct state_stage *st, struct split_state *p, long long *step_wall_ms,
    long long *bake_wall_ms)
{
	state_record_of(&st->core.cur, &st->core.ro, st->core.bake_start_ms, p, step_wall_ms, bake_wall_ms);
}

int
state_apply_remote(struct service *sv, const struct split_state *p, long long step_wall_ms, long long bake_wall_ms,
    const char *node)
{
	state_use(sv);
	struct actor sys = { ACTOR_SYSTEM, 0, 0 };
	struct split_state s;
	struct rollout old_ro;
	char before[128], after[128];

	state_from_persist(p, &s);
	if (s.version == S.cur.version && memcmp(&s, &S.cur, sizeof(s)) == 0)
		return 0;
	state_describe(&S.cur, before, sizeof(before));
	state_publish(&s);
	old_ro = S.ro;
	rollout_clear(&S.ro);
	if (s.has_rollout && s.mode != MODE_REVERTED) {
		rollout_restore(&S.ro, s.rollout_pool, s.steps_bp, s.nsteps, s.step, s.hold_s,
		    s.mode == MODE_PAUSED, s.mode == MODE_BAKING, state_cfg()->rollout_min_requests,
		    state_cfg()->guard_bake_s, state_now_ms(), state_gate_requests(s.rollout_pool));
		state_restore_shadow(&s);
		/* the same step with the hold it has left, whoever runs the clock */
		if (step_wall_ms > 0)
			S.ro.step_start_ms = state_wall_to_mono(step_wall_ms);
		if (bake_wall_ms > 0 && S.ro.phase == RO_BAKING)
			S.ro.bake_start_ms = state_wall_to_mono(bake_wall_ms);
		/* the step this node is in already (another change of the
		 * split): what it counted in it still counts */
		if (old_ro.phase != RO_NONE && old_ro.step == S.ro.step &&
		    old_ro.shadow_bp == S.ro.shadow_bp &&
		    old_ro.step_start_ms == S.ro.step_start_ms)
			S.ro.step_start_requests = old_ro.step_start_requests;
	}
	S.bake_start_ms = bake_wall_ms > 0 ? state_wall_to_mono(bake_wall_ms) : state_now_ms();
	state_describe(&s, after, sizeof(after));
	state_event_rec(state_cur()->sv, &sys, "sync", before, after, NULL, "split from node %s: %s -> %s, state %s, "
	    "version %llu", node, before, after, state_mode_names[s.mode], s.version);
	return 1;
}

void
state_merge_revert(struct service *sv, const struct split_state *p, const char *node)
{
	state_use(sv);
	struct actor sys = { ACTOR_SYSTEM, 0, 0 };
	struct split_state s, mine = S.cur;
	char after[128];

	/* the fleet's split with this node's revert on top: a revert is never
	 * lost, whatever the fleet did while etcd did not have it */
	state_from_persist(p, &s);
	s.candidate_bp = 0;
	s.mode = MODE_REVERTED;
	s.shadow_bp = 0;
	memcpy(s.last_revert, mine.last_revert, sizeof(s.last_revert));
	s.revert_time_ms = mine.revert_time_ms;
	s.revert_step = mine.revert_step;
	memcpy(s.revert_actor, mine.revert_actor, sizeof(s.revert_actor));
	memcpy(s.revert_reason, mine.revert_reason, sizeof(s.revert_reason));
	s.version = (s.version > mine.version ? s.version : mine.version) + 1;
	state_publish(&s);
	rollout_clear(&S.ro);
	state_describe(&s, after, sizeof(after));
	state_event_rec(state_cur()->sv, &sys, "sync", NULL, after, NULL, "this node's revert kept over version "
	    "%llu from node %s: %s, state reverted, version %llu", p->version, node, after,
	    s.version);
}
