/*
 * state_int.h - what state.c and state_cluster.c share, and nothing else
 * includes: the split's core through one accessor (no global), and the few
 * steps both make (publish, persist form, the clocks).  Control thread.
 */
#ifndef BGPROXY_STATE_INT_H
#define BGPROXY_STATE_INT_H

#include <stdint.h>

#include "persist.h"
#include "rollout.h"
#include "state.h"

/* One service's split and what goes with it: the state functions act on
 * one at a time, the one the public function was given (state_use). */
struct state_svc {
	struct service *sv;
	struct state_core core;       /* the split, the rollout, the bake clock, reverts */
	/* the last STATE_EVENTS events, each made when first needed */
	struct state_ev *events[STATE_EVENTS];
	unsigned nevents;             /* total recorded; ring index = n % STATE_EVENTS */
	unsigned long long events_version; /* the version the last run's events were written at */
	struct state_stage *staging;  /* a staged change in progress (NULL: none) */
	char judge_ev[640];           /* the judge's evidence (state_judge_note; "" none) */
	/* the split version at which the guard's window last began afresh: a
	 * cluster counts another node's figures only from then on */
	unsigned long long epoch_ver;
	uint64_t shadow_seen, shadow_acc;  /* copies answered, for a shadow phase's gate */
	int judged;                   /* state_judge_note: 1 clean, 0 not yet, -1 not judging */
	struct state_core saved;      /* the real core while staging (state_cluster.c) */
	int started;                  /* its split began (state file or configuration) */
	unsigned gen;                 /* ... when the service was added this time (sv->gen) */
};

/* Act on sv's split from now on (every public state function begins so);
 * the service acted on and its configuration. */
void state_use(struct service *sv);
struct state_svc *state_cur(void);
const struct config_svc *state_cfg(void);

/* The split's core (of the service acted on); a staged change in progress
 * (NULL: none): while one is, a change touches the core only. */
struct state_core *state_core_get(void);
void state_staging_set(struct state_stage *st);
struct state_stage *state_staging_get(void);

/* state.c, for state_rollout.c: a change made (published, persisted, the
 * cluster told); the split's rollout fields and mode from the engine; the
 * rollout's pool; the judge's evidence that the guard's and the timer's
 * events carry (NULL: none). */
void state_commit(const struct split_state *next);
void state_from_rollout(struct split_state *n);
enum pool_id state_ro_pool(void);
void state_judge_ev_set(const char *evidence);

/* Publish next (its version as it is) to the workers, then persist; while
 * staging only state_cur changes. */
void state_publish(const struct split_state *next);

/* The state file (NULL: none), as the running configuration names it;
 * 1 while services are started (the file is written once after), and
 * while they are or a batch of events is recorded (state_ctx.c). */
const char *state_file(void);
void state_file_set(const char *path);
int state_is_starting(void);
void state_starting_set(int on);
int state_is_loading(void);

/* A service a reload removed, then added again: its split, events and
 * figures begin afresh (in the same struct). */
void state_svc_forget(struct state_svc *st);
int state_is_batching(void);

/* The last run's events of the service acted on, into its ring
 * (state_events.c). */
void state_events_restore(void);
void state_events_forget(void);

/* Keep a recorded event in the ring (and tell the event hook). */
void state_event_keep(const struct state_ev *ev);

void state_to_persist(const struct split_state *s, struct split_state *p);
void state_from_persist(const struct split_state *p, struct split_state *s);

/* Monotonic ms. */
uint64_t state_now_ms(void);

/* A monotonic ms of ours as wall clock, and back: exact inverses of each
 * other (one offset), so a step's key reads the same on every node. */
long long state_mono_to_wall(uint64_t mono_ms);
uint64_t state_wall_to_mono(long long wall_ms);

/* What a rollout's gate counts for pool on this node (requests; copies in
 * a shadow phase): a step begins with it. */
uint64_t state_gate_requests(enum pool_id pool);

/* The same with what the other nodes counted in the running step: what
 * the gate is judged on. */
uint64_t state_gate_total(enum pool_id pool);

/* A restored rollout in its shadow phase goes on copying (paused or not). */
void state_restore_shadow(const struct split_state *s);

#endif
