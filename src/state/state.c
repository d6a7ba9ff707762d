/*
 * state.c - the split: validate, apply atomically, persist, record the event.
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
#include "persist.h"
#include "proxy.h"
#include "rollout.h"
#include "state.h"
#include "state_int.h"
#include "worker.h"

const char *const state_mode_names[] = {
	"idle", "manual", "running", "paused", "baking", "reverted",
};

#define X (state_cur())
#define S (X->core)

static void (*state_hook)(struct service *sv, int revert); /* a local change the cluster must write */
static uint64_t (*state_fleet_step)(struct service *sv, long long key); /* the others' count of a step */
static void (*state_publish_hook)(struct service *sv); /* a split was published (watch.c) */

void
state_set_hook(void (*fn)(struct service *sv, int revert))
{
	state_hook = fn;
}

void
state_set_publish_hook(void (*fn)(struct service *sv))
{
	state_publish_hook = fn;
}

void
state_set_fleet_step(uint64_t (*fn)(struct service *sv, long long key))
{
	state_fleet_step = fn;
}

uint64_t
state_reverts(struct service *sv)
{
	state_use(sv);
	return S.nreverts;
}

const struct split_state *
state_get(struct service *sv)
{
	state_use(sv);
	return &S.cur;
}

void
state_describe(const struct split_state *s, char *buf, size_t len)
{
	int stable_bp = 10000 - s->candidate_bp;

	snprintf(buf, len, "%s %d.%02d%%, %s %d.%02d%%", pool_names[s->stable],
	    stable_bp / 100, stable_bp % 100, pool_names[!s->stable],
	    s->candidate_bp / 100, s->candidate_bp % 100);
}

void
state_actor_text(const struct actor *who, char *buf, size_t len)
{
	switch (who->kind) {
	case ACTOR_OPERATOR:
		snprintf(buf, len, "operator uid %d pid %d", (int)who->uid, (int)who->pid);
		break;
	case ACTOR_ROLLOUT:
		snprintf(buf, len, "rollout timer");
		break;
	case ACTOR_GUARD:
		snprintf(buf, len, "guard");
		break;
	case ACTOR_SYSTEM:
		snprintf(buf, len, "bgproxy");
		break;
	case ACTOR_HEALTH:
		snprintf(buf, len, "health check");
		break;
	}
}

void
state_audit_split(const struct split_state *s, struct audit_split *out)
{
	int blue = s->stable == POOL_BLUE ? 10000 - s->candidate_bp : s->candidate_bp;

	out->stable = pool_names[s->stable];
	out->state = state_mode_names[s->mode];
	out->blue = blue / 100.0;
	out->green = (10000 - blue) / 100.0;
	out->version = s->version;
}

void
state_audit_actor(struct service *sv, const struct actor *who, const char *what, const char *result,
    const char *evidence, const struct split_state *before, const struct split_state *after)
{
	state_use(sv);
	struct audit_who self = { getuid(), getpid(), "-" };
	struct audit_split b, a;
	char actor[64], cmd[600];

	int many = rt.cfg != NULL && rt.cfg->services;

	state_actor_text(who, actor, sizeof(actor));
	/* with a services list the command names its service, as an operator's does */
	snprintf(cmd, sizeof(cmd), "%s%s%s%s (by %s)", many ? "in " : "", many ? sv->name : "",
	    many ? " " : "", what, actor);
	state_audit_split(before, &b);
	state_audit_split(after, &a);
	audit_write(&self, many ? sv->name : NULL, cmd, result, evidence, &b, &a);
}

/* The split as its record is written: the shadow share only where a
 * rollout is in its shadow phase. */
void
state_to_persist(const struct split_state *s, struct split_state *p)
{
	*p = *s;
	p->shadow_bp = s->has_rollout && (s->mode == MODE_RUNNING || s->mode == MODE_PAUSED) ?
	    s->shadow_bp : 0;
}

/* The split from a record: no shadow share without a rollout, no revert
 * step without a revert's time. */
void
state_from_persist(const struct split_state *p, struct split_state *s)
{
	*s = *p;
	s->shadow_bp = p->has_rollout ? p->shadow_bp : 0;
	s->revert_step = p->revert_time_ms != 0 ? p->revert_step : -1;
}

/* A revert tells the workers, so connections kept to the candidate are
 * closed once the grace is over. */
static void
state_announce_revert(int pool)
{
	struct service *sv = X->sv;

	atomic_store(&sv->revert_pool, pool);
	atomic_store(&sv->revert_at_us, proxy_now_us() + PROXY_REVERT_GRACE_US);
	atomic_fetch_add(&sv->revert_seq, 1);
	atomic_fetch_add(&rt.revert_seq, 1);
}

static void
state_new_epoch(const struct split_state *next)
{
	stats_new_epoch(&X->sv->sh);
	X->epoch_ver = next->version;
}

unsigned long long
state_epoch_version(struct service *sv)
{
	state_use(sv);
	return X->epoch_ver;
}

/* The share of the stable pool's requests copied to the candidate: the
 * shadow phase's, else split.mirror_percent; none after a revert (until an
 * operator gives the candidate traffic or copies again). */
static void
state_mirror_apply(const struct config *cfg, int phase_begins)
{
	int bp = S.cur.shadow_bp > 0 ? S.cur.shadow_bp :
	    S.cur.mode == MODE_REVERTED ? 0 : state_cfg()->mirror_bp;

	/* copies start (again), or a shadow phase begins: what copies did
	 * before must not trip it at once */
	if (bp > 0 && (phase_begins ||
	    atomic_load_explicit(&X->sv->mirror_bp, memory_order_relaxed) == 0))
		stats_new_shadow_epoch(&X->sv->sh);
	atomic_store_explicit(&X->sv->mirror_bp, bp, memory_order_relaxed);
}

/* (state_is_starting: at start and when a reload adds services the file
 * is written once, after all of them) */
/* Every service's split into the state file (with a services list), or
 * the one service's as before.  A failed write is logged loudly. */
static void
state_save(void)
{
	struct persist_svc *v;
	size_t k = 0;
	int n = service_count(), r;
	char err[512];

	if (state_file() == NULL || state_is_starting())
		return;
	if ((v = calloc((size_t)n + 1, sizeof(*v))) == NULL) {
		log_error("state file %s not written: out of memory", state_file());
		return;
	}
	for (int i = 0; i < n; i++) {
		struct service *sv = rt.svcs[i];

		if (atomic_load(&sv->removed) || sv->st == NULL || !sv->st->started)
			continue;
		snprintf(v[k].name, sizeof(v[k].name), "%s", sv->name);
		/* a staged change is not the split yet: the real one is written */
		state_to_persist(sv->st->staging != NULL ? &sv->st->saved.cur : &sv->st->core.cur,
		    &v[k].st);
		k++;
	}
	if (rt.cfg != NULL && !rt.cfg->services && k == 1)
		r = persist_save(state_file(), &v[0].st, err, sizeof(err));
	else
		r = persist_svcs_save(state_file(), v, k, err, sizeof(err));
	if (r == -1)
		log_error("state file %s not written: %s", state_file(), err);
	free(v);
}

/* Publish next (its version as it is) to the workers, then persist.  A
 * failed write is logged loudly but does not undo the change: traffic must
 * follow the operator.  While staging, only S.cur changes. */
void
state_publish(const struct split_state *next)
{
	int reverted = next->mode == MODE_REVERTED && (S.cur.mode != MODE_REVERTED ||
	    next->revert_time_ms != S.cur.revert_time_ms);
	enum pool_id cand = !S.cur.stable;
	int phase_begins = next->shadow_bp > 0 && S.cur.shadow_bp == 0;

	if (X->staging != NULL) {
		S.cur = *next;
		return;
	}
	/* when the candidate starts to get traffic again (after idle or a
	 * revert, or a new candidate after promote), what it did before must
	 * not trip the guard at once */
	if (next->candidate_bp > 0 && (S.cur.candidate_bp == 0 ||
	    S.cur.mode == MODE_REVERTED || next->stable != S.cur.stable))
		state_new_epoch(next);
	/* a step back (a guard's here or on another node): the step below is
	 * judged on what it does from now on */
	else if (next->has_rollout && S.cur.has_rollout && next->stable == S.cur.stable &&
	    next->rollout_pool == S.cur.rollout_pool && next->step < S.cur.step)
		state_new_epoch(next);

	S.cur = *next;
	atomic_store_explicit(&X->sv->split, SPLIT_WORD(S.cur.stable, S.cur.candidate_bp),
	    memory_order_release);
	state_mirror_apply(rt.cfg, phase_begins);
	if (reverted)
		state_announce_revert(cand);
	state_save();
	if (state_publish_hook != NULL)
		state_publish_hook(X->sv);
}

/* A change made here: the next version, published; a change made outside
 * staging is one the cluster (if any) must write. */
void
state_commit(const struct split_state *next)
{
	struct split_state n = *next;

	n.version = S.cur.version + 1;
	/* only a running or paused rollout has a shadow phase */
	if (!n.has_rollout || (n.mode != MODE_RUNNING && n.mode != MODE_PAUSED))
		n.shadow_bp = 0;
	state_publish(&n);
	if (X->staging == NULL && state_hook != NULL)
		state_hook(X->sv, n.mode == MODE_REVERTED);
}

/* The monotonic clock from a base far enough back that any wall-clock
 * time a record carries (a step begun before this host booted, say) maps
 * onto it without going below zero. */
#define STATE_MONO_BASE_MS 1000000000000ULL

uint64_t
state_now_ms(void)
{
	return proxy_now_us() / 1000 + STATE_MONO_BASE_MS;
}

/*
 * A monotonic ms of ours as wall clock, and back, through one offset (wall
 * minus monotonic) so that the two are exact inverses: a record's step
 * time read here and written again is the same number, and so is the
 * step's key.  The offset is taken again only when the wall clock was
 * stepped (by more than a second): slewing never changes it.
 */
static long long state_wall_offset;
static int state_wall_offset_set;

static long long
state_offset(void)
{
	long long off = clock_wall_ms() - (long long)state_now_ms();

	if (!state_wall_offset_set || off - state_wall_offset > 1000 ||
	    state_wall_offset - off > 1000) {
		state_wall_offset = off;
		state_wall_offset_set = 1;
	}
	return state_wall_offset;
}

long long
state_mono_to_wall(uint64_t mono_ms)
{
	return (long long)mono_ms + state_offset();
}

uint64_t
state_wall_to_mono(long long wall_ms)
{
	long long m = wall_ms - state_offset();

	/* before this host's monotonic clock began: as long ago as can be */
	return m > 0 ? (uint64_t)m : 0;
}

/* What a rollout's gate (rollout.min_requests) counts for pool on this
 * node: its requests, plus the copies answered while in a shadow phase
 * (they are added up as they come, so the count never goes back when it
 * ends). */
uint64_t
state_gate_requests(enum pool_id pool)
{
	uint64_t copies = worker_routed_total(X->sv, STATS_SHADOW);

	if (S.ro.shadow_bp > 0 && copies > X->shadow_seen)
		X->shadow_acc += copies - X->shadow_seen;
	X->shadow_seen = copies;
	return worker_routed_total(X->sv, pool) + X->shadow_acc;
}

long long
state_step_key(struct service *sv)
{
	state_use(sv);
	return S.ro.phase != RO_NONE ? state_mono_to_wall(S.ro.step_start_ms) : 0;
}


uint64_t
state_step_own(struct service *sv)
{
	state_use(sv);
	return rollout_step_requests(&S.ro, state_gate_requests(state_ro_pool()));
}

/* A step began with this node's count alone (a node counts from when it
 * applied the step); the others' counts of the same step are added. */
uint64_t
state_gate_total(enum pool_id pool)
{
	uint64_t own = state_gate_requests(pool);

	if (state_fleet_step == NULL || S.ro.phase == RO_NONE)
		return own;
	return own + state_fleet_step(X->sv, state_step_key(X->sv));
}

enum pool_id
state_ro_pool(void)
{
	return S.ro.pool ? POOL_GREEN : POOL_BLUE;
}

/* A restored rollout in its shadow phase goes on copying (paused or not). */
void
state_restore_shadow(const struct split_state *s)
{
	if (s->shadow_bp <= 0)
		return;
	rollout_shadow(&S.ro, s->shadow_bp, state_now_ms(), state_gate_requests(s->rollout_pool));
	if (s->mode == MODE_PAUSED && S.ro.phase == RO_RUNNING)
		rollout_pause(&S.ro, NULL, 0);
}

/* The split's rollout fields and mode from the engine. */
void
state_from_rollout(struct split_state *n)
{
	n->has_rollout = S.ro.phase != RO_NONE;
	n->shadow_bp = 0;
	if (!n->has_rollout)
		return;
	n->rollout_pool = S.ro.pool ? POOL_GREEN : POOL_BLUE;
	memcpy(n->steps_bp, S.ro.steps_bp, sizeof(n->steps_bp));
	n->nsteps = S.ro.nsteps;
	n->step = S.ro.step;
	n->hold_s = S.ro.hold_s;
	n->shadow_bp = rollout_mirror_bp(&S.ro);
	n->candidate_bp = rollout_bp(&S.ro);
	n->mode = S.ro.phase == RO_PAUSED ? MODE_PAUSED :
	    S.ro.phase == RO_BAKING ? MODE_BAKING : MODE_RUNNING;
}

/* The split of the service acted on, at start or when a reload adds it:
 * its record in the state file (rec, NULL: none), else its configuration. */
static void
state_svc_start(const struct split_state *rec, int corrupt)
{
	const struct config_svc *sc = state_cfg();
	struct split_state s;
	struct actor sys = { ACTOR_SYSTEM, 0, 0 };
	char desc[128];

	memset(&s, 0, sizeof(s));
	s.revert_step = -1;
	s.stable = sc->stable;
	/* after a corrupt state file: 100% to the stable pool, whatever the
	 * configuration's share says (the file had the last word) */
	s.candidate_bp = corrupt ? 0 : sc->candidate_bp;
	s.mode = s.candidate_bp > 0 ? MODE_MANUAL : MODE_IDLE;
	state_events_restore();
	if (rec != NULL) {
		state_from_persist(rec, &s);
		state_describe(&s, desc, sizeof(desc));
		if (rt.cfg->services)
			log_info("state of service %s restored from %s: %s, %s", X->sv->name,
			    state_file(), desc, state_mode_names[s.mode]);
		else
			log_info("state restored from %s: %s, %s", state_file(), desc,
			    state_mode_names[s.mode]);
	}
	if (s.has_rollout && s.mode != MODE_REVERTED) {
		/* a rollout resumes at its step; the hold timer starts again */
		rollout_restore(&S.ro, s.rollout_pool, s.steps_bp, s.nsteps, s.step, s.hold_s,
		    s.mode == MODE_PAUSED, s.mode == MODE_BAKING, sc->rollout_min_requests,
		    sc->guard_bake_s, state_now_ms(), state_gate_requests(s.rollout_pool));
		state_restore_shadow(&s);
	}
	S.bake_start_ms = state_now_ms();
	/* the version goes on from the state file's (or, lost or damaged, the
	 * events file's): never back to 1 */
	if (X->events_version > s.version)
		s.version = X->events_version;
	S.cur.version = s.version;
	state_commit(&s);
	state_describe(&s, desc, sizeof(desc));
	state_event_rec(X->sv, &sys, "start", NULL, desc, NULL, "start: %s, %s", desc,
	    state_mode_names[s.mode]);
}

/* The record of sv in what the state file held ("": the file of one
 * service, which is the service "default"'s). */
static const struct split_state *
state_rec_of(const struct service *sv, const struct persist_svc *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, sv->name) == 0 ||
		    (v[i].name[0] == '\0' && strcmp(sv->name, "default") == 0))
			return &v[i].st;
	return NULL;
}

/* Every service that has no split yet gets one (recs: the state file's). */
static void
state_start_new(const struct persist_svc *recs, size_t nrecs, int corrupt)
{
	state_starting_set(1);
	for (int i = 0; i < service_count(); i++) {
		struct service *sv = rt.svcs[i];

		if (atomic_load(&sv->removed) ||
		    (sv->st != NULL && sv->st->started && sv->st->gen == sv->gen))
			continue;
		/* added back by a reload: what it had before is not its split */
		if (sv->st != NULL && sv->st->started)
			state_svc_forget(sv->st);
		state_use(sv);
		X->started = 1;
		X->gen = sv->gen;
		state_svc_start(state_rec_of(sv, recs, nrecs), corrupt);
	}
	state_starting_set(0);
	state_save();
}

int
state_init(const struct config *cfg, char *err, size_t errlen)
{
	struct persist_svc *recs = NULL;
	size_t nrecs = 0;
	char aside[1024], perr[512];
	int r = 0;

	state_file_set(cfg->state_file);
	if (state_file() != NULL) {
		r = persist_svcs_load(state_file(), &recs, &nrecs, perr, sizeof(perr));
		if (r == -1) {
			if (persist_set_aside(state_file(), aside, sizeof(aside), err, errlen) == -1)
				return -1;
			log_error("STATE FILE %s IS CORRUPT (%s): kept aside as %s; starting with "
			    "100%% to %s", state_file(), perr, aside, cfg->services ?
			    "each service's split.stable" : pool_names[cfg->svcs[0].stable]);
		}
	}
	/* a split the file kept for a service the configuration no longer has */
	for (size_t i = 0; i < nrecs; i++) {
		struct service *sv = service_find(recs[i].name[0] ? recs[i].name : "default");

		if (sv == NULL || atomic_load(&sv->removed))
			log_warn("state file %s: service %s is not in the configuration: its split "
			    "is dropped", state_file(), recs[i].name[0] ? recs[i].name : "default");
	}
	state_start_new(recs, nrecs, r == -1);
	free(recs);
	return 0;
}

void
state_config_changed(const struct config *cfg)
{
	state_file_set(cfg->state_file);
	/* services the reload removed: their history goes with their split
	 * (added back, they begin afresh) */
	for (int i = 0; i < service_count(); i++) {
		struct service *sv = rt.svcs[i];

		if (atomic_load(&sv->removed) && sv->st != NULL && sv->st->started) {
			state_use(sv);
			state_events_forget();
		}
	}
	/* services the reload added begin as their configuration says */
	state_start_new(NULL, 0, 0);
	for (int i = 0; i < service_count(); i++) {
		if (atomic_load(&rt.svcs[i]->removed) || rt.svcs[i]->st == NULL)
			continue;
		state_use(rt.svcs[i]);
		state_mirror_apply(cfg, 0);
	}
}

/* next changes nothing the split says (its version aside): msg says so. */
static int
state_no_change(const struct split_state *next, char *msg, size_t len)
{
	struct split_state a = S.cur, b = *next;
	char now[128];

	a.version = b.version = 0;
	if (memcmp(&a, &b, sizeof(a)) != 0 || S.ro.phase != RO_NONE)
		return 0;
	state_describe(&S.cur, now, sizeof(now));
	snprintf(msg, len, "%s (no change)", now);
	return 1;
}

int
state_set_weight(struct service *sv, enum pool_id pool, int bp, const struct actor *who, char *msg, size_t len)
{
	state_use(sv);
	struct split_state n = S.cur;
	char before[128], after[128];

	if (bp < 0 || bp > 10000) {
		snprintf(msg, len, "weight must be 0..100 with at most two decimals");
		return -1;
	}
	n.candidate_bp = pool == n.stable ? 10000 - bp : bp;
	n.mode = n.candidate_bp > 0 ? MODE_MANUAL : MODE_IDLE;
	n.has_rollout = 0;
	if (state_no_change(&n, msg, len))
		return 0;
	rollout_clear(&S.ro);
	state_describe(&S.cur, before, sizeof(before));
	state_describe(&n, after, sizeof(after));
	state_commit(&n);
	state_event_rec(X->sv, who, "weight", before, after, NULL, "weight %s -> %s, state %s", before,
	    after, state_mode_names[n.mode]);
	snprintf(msg, len, "%s", after);
	return 0;
}

int
state_switch(struct service *sv, enum pool_id pool, const struct actor *who, char *msg, size_t len)
{
	state_use(sv);
	struct split_state n = S.cur;
	char before[128], after[128];

	/* the pool that has every user already, and nothing running */
	if (!S.cur.has_rollout && (pool == n.stable ? n.candidate_bp == 0 :
	    n.candidate_bp == 10000 && n.mode == MODE_BAKING)) {
		state_describe(&S.cur, before, sizeof(before));
		snprintf(msg, len, "%s has 100%% already: %s (no change)", pool_names[pool], before);
		return 0;
	}
	n.has_rollout = 0;
	rollout_clear(&S.ro);
	S.bake_start_ms = state_now_ms();
	if (pool == n.stable) {
		n.candidate_bp = 0;
		n.mode = MODE_IDLE;
	} else {
		/* the old stable stays the revert target until promote */
		n.candidate_bp = 10000;
		n.mode = MODE_BAKING;
	}
	state_describe(&S.cur, before, sizeof(before));
	state_describe(&n, after, sizeof(after));
	state_commit(&n);
	state_event_rec(X->sv, who, "switch", before, after, NULL, "switch to %s: %s -> %s, state %s",
	    pool_names[pool], before, after, state_mode_names[n.mode]);
	snprintf(msg, len, "%s (stable stays %s until promote)", after,
	    pool_names[n.stable]);
	return 0;
}

int
state_nothing_to_revert(struct service *sv)
{
	state_use(sv);
	return S.cur.candidate_bp == 0 && S.cur.shadow_bp == 0 &&
	    (!S.cur.has_rollout || S.cur.mode == MODE_REVERTED);
}

int
state_revert(struct service *sv, const char *reason, const struct actor *who, char *msg, size_t len)
{
	state_use(sv);
	struct split_state n = S.cur;
	char before[128], after[128], at[64], step[96] = "";
	struct timespec ts;
	struct tm tm;

	if (state_nothing_to_revert(X->sv)) {
		/* the last revert, its reason and its evidence stay as they are */
		state_describe(&S.cur, before, sizeof(before));
		snprintf(msg, len, "%s: nothing to revert (no change)", before);
		return 0;
	}
	n.candidate_bp = 0;
	n.mode = MODE_REVERTED;
	/* the rollout's position stays in the state for the record, stopped */
	rollout_clear(&S.ro);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n.revert_time_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	state_actor_text(who, n.revert_actor, sizeof(n.revert_actor));
	snprintf(n.revert_reason, sizeof(n.revert_reason), "%.300s", reason);
	n.revert_step = -1;
	if (S.cur.shadow_bp > 0) {
		/* before any user: the copies told */
		snprintf(step, sizeof(step), ", rollout of %s in its shadow phase (copies of "
		    "%d.%02d%%, no user)", pool_names[S.cur.rollout_pool],
		    S.cur.shadow_bp / 100, S.cur.shadow_bp % 100);
	} else if (S.cur.has_rollout && S.cur.mode != MODE_REVERTED) {
		n.revert_step = S.cur.step;
		snprintf(step, sizeof(step), ", rollout of %s at step %d of %zu (%d.%02d%%)",
		    pool_names[S.cur.rollout_pool], S.cur.step + 1, S.cur.nsteps,
		    S.cur.steps_bp[S.cur.step] / 100, S.cur.steps_bp[S.cur.step] % 100);
	}
	/* the reason first (what tripped), then when, who and where */
	snprintf(n.last_revert, sizeof(n.last_revert), "%.300s (by %s at %s%s)", reason,
	    n.revert_actor, at, step);
	state_describe(&S.cur, before, sizeof(before));
	state_describe(&n, after, sizeof(after));
	state_commit(&n);
	S.nreverts++;
	state_event_rec(X->sv, who, "revert", before, after, reason, "revert: %s -> %s: %s", before, after,
	    reason);
	snprintf(msg, len, "%s", after);
	return 0;
}

int
state_promote(struct service *sv, const struct actor *who, char *msg, size_t len)
{
	state_use(sv);
	struct split_state n = S.cur;
	enum pool_id cand = !S.cur.stable;
	char before[128], after[128];

	if (S.cur.mode == MODE_REVERTED) {
		snprintf(msg, len, "cannot promote %s: it was reverted (%s); give it traffic again "
		    "with set weight, switch or rollout start first", pool_names[cand],
		    S.cur.last_revert);
		return -1;
	}
	if (S.cur.candidate_bp == 0) {
		snprintf(msg, len, "cannot promote %s: it has no traffic (state %s)",
		    pool_names[cand], state_mode_names[S.cur.mode]);
		return -1;
	}
	n.stable = cand;
	n.candidate_bp = 0;
	n.mode = MODE_IDLE;
	n.has_rollout = 0;
	rollout_clear(&S.ro);
	state_describe(&S.cur, before, sizeof(before));
	state_commit(&n);
	snprintf(after, sizeof(after), "%s stable 100.00%%", pool_names[cand]);
	state_event_rec(X->sv, who, "promote", before, after, NULL,
	    "promote: %s is now the stable pool with 100%%", pool_names[cand]);
	snprintf(msg, len, "%s is stable with 100%%", pool_names[cand]);
	return 0;
}
