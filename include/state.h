/*
 * state.h - the split: the one place it changes.
 *
 * Only the control thread calls these functions.  Every change is
 * validated, applied with one atomic store of rt.split (workers read it
 * without a lock), persisted to the state file, and recorded as an event
 * with who did it.  The functions that refuse a change return -1 with the
 * reason in err and change nothing.
 */
#ifndef BGPROXY_STATE_H
#define BGPROXY_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "persist.h"
#include "rollout.h"
#include "split.h"

struct service;

extern const char *const state_mode_names[];

/* who changed something, for events and the audit log */
enum actor_kind { ACTOR_OPERATOR = 0, ACTOR_ROLLOUT, ACTOR_GUARD, ACTOR_SYSTEM, ACTOR_HEALTH };
struct actor {
	enum actor_kind kind;
	uid_t uid;
	pid_t pid;
};


/* The current split (control thread). */
const struct split_state *state_get(struct service *sv);

/* The split version from which the guard's window counts (it began afresh
 * then: the candidate got traffic again, or a rollout stepped back). */
unsigned long long state_epoch_version(struct service *sv);

/*
 * At start: with a state file, a valid one wins over the configuration; a
 * corrupt one is set aside and the proxy starts with 100% to split.stable.
 * Publishes the split.  Returns 0, or -1 when the state file cannot be
 * written at all (err).  Messages about the file go to the log.
 */
int state_init(const struct config *cfg, char *err, size_t errlen);

/* After a reload: the state file path may have changed. */
void state_config_changed(const struct config *cfg);

/* Operator commands.  0 on success (msg says what happened) or -1 (err). */
int state_set_weight(struct service *sv, enum pool_id pool, int bp, const struct actor *who, char *msg, size_t len);
int state_switch(struct service *sv, enum pool_id pool, const struct actor *who, char *msg, size_t len);
int state_revert(struct service *sv, const char *reason, const struct actor *who, char *msg, size_t len);

/* The candidate has no user, no copy and no rollout: a revert would
 * change nothing (it answers "(no change)" and keeps the last revert). */
int state_nothing_to_revert(struct service *sv);
int state_promote(struct service *sv, const struct actor *who, char *msg, size_t len);

/* What a guard trip does besides revert (guard.on_trip).  step_back: the
 * rollout's step before, held (from the first step, or without a rollout:
 * state_revert); pause: the rollout holds its step (without a running
 * rollout nothing changes, 1 is returned).  Both record the event with
 * reason as evidence.  0, 1 or -1 as the others. */
int state_guard_step_back(struct service *sv, const char *reason, const struct actor *who, char *msg, size_t len);
int state_guard_pause(struct service *sv, const char *reason, const struct actor *who, char *msg, size_t len);

/* Rollouts (rollout.c does the stepping; this applies and persists it).
 * shadow_bp > 0: a shadow phase first (copies of that share of the stable
 * pool's requests, no user); refused when the candidate has traffic. */
int state_rollout_start(struct service *sv, enum pool_id pool, const int *steps_bp, size_t nsteps, int hold_s,
    int shadow_bp, const struct actor *who, char *msg, size_t len);
int state_rollout_pause(struct service *sv, const struct actor *who, char *msg, size_t len);
int state_rollout_resume(struct service *sv, const struct actor *who, char *msg, size_t len);
int state_rollout_next(struct service *sv, const struct actor *who, char *msg, size_t len);
int state_step_left_s(struct service *sv);

/* Called every guard interval: rollout steps, bake_s promotion. */
void state_tick(struct service *sv);

/*
 * guard.method "sequential": what the judge said this interval of the
 * candidate's live traffic (1 clean, 0 not yet, -1 not judging).  While it
 * is not clean, state_tick does not advance a running step, and after
 * rollout.max_inconclusive_s in one step it pauses the rollout, with an
 * event.  evidence (NULL: none) is the judge's, every check in a line
 * (judge_evidence): the events the guard and the rollout timer record
 * while it is judging carry it.  Control thread.
 */
void state_judge_note(struct service *sv, int clean, const char *evidence);

/* The split as an audit line shows it; and an action of bgproxy itself
 * (the guard, the rollout timer) in the audit log, with its own uid and
 * pid: the command reads "WHAT (by ACTOR)". */
struct audit_split;
void state_audit_split(const struct split_state *s, struct audit_split *out);
void state_audit_actor(struct service *sv, const struct actor *who, const char *what, const char *result,
    const char *evidence, const struct split_state *before, const struct split_state *after);

/* Reverts since start (guard and operator), for the metrics. */
uint64_t state_reverts(struct service *sv);

/*
 * One decision, as `show events` lists it.  kind is a word (start, weight,
 * switch, revert, promote, rollout, step, pause, resume, server, reload,
 * dry_run); from/to say what changed ("" when it is not a change of one
 * thing); evidence is what the guard or a health check saw ("" none).
 */
struct state_ev {
	char time[48];                /* 2026-12-02T10:00:00.123Z */
	const char *kind;             /* a static string */
	char from[128], to[128];
	char actor[64];
	char evidence[1024];
	char text[800];               /* the one-line form: time, what, by whom */
};

/* Record an event in the ring and the log; from, to, evidence may be NULL. */
void state_event_rec(struct service *sv, const struct actor *who, const char *kind, const char *from,
    const char *to, const char *evidence, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* fn gets every event as it is recorded (notify.c); NULL: none. */
void state_set_event_hook(void (*fn)(struct service *sv, const struct state_ev *ev));

/* Events, oldest first: calls fn for each of the last STATE_EVENTS. */
#define STATE_EVENTS 100
void state_events_each(struct service *sv, void (*fn)(const struct state_ev *ev, void *arg), void *arg);

/* What the current rollout step waits for, in words ("" without a running
 * rollout); *left_s and *seen / *need get the figures. */
void state_step_waits(struct service *sv, char *buf, size_t len, int *left_s, unsigned long long *seen,
    unsigned long long *need);

/* "blue 95.00%, green 5.00%" style description of a split. */
void state_describe(const struct split_state *s, char *buf, size_t len);

/* Format the actor ("operator uid 0 pid 123", "guard", "rollout timer"). */
void state_actor_text(const struct actor *who, char *buf, size_t len);

/* ---- the cluster (cluster.c; CONTRACT section 12) ---- */

#define STATE_STAGE_EVENTS 8
#define STATE_STAGE_AUDITS 2

/* an audit line a staged change writes when it is applied */
struct state_audit {
	struct actor who;
	char what[32], result[8], msg[256];
	struct split_state before;
};

/*
 * A change computed but not made: between state_stage_begin and
 * state_stage_end every function above works on the current state as
 * usual, but publishes nothing, writes no file and keeps its events; end
 * puts the state back as it was and keeps the result in st, and
 * state_stage_apply makes it real (once the fleet's record took it).
 */
/* The split's mutable core, the one copy of it: what a staged change
 * computes on and what is put back after (state.c holds it). */
struct state_core {
	struct split_state cur;
	struct rollout ro;            /* the rollout engine's own view */
	uint64_t bake_start_ms;       /* baking after a switch (no rollout) */
	uint64_t nreverts;            /* reverts since start */
};

struct state_stage {
	struct state_core core;       /* (nreverts: the ones the change made) */
	struct state_ev events[STATE_STAGE_EVENTS];
	size_t nevents;
	struct state_audit audits[STATE_STAGE_AUDITS];
	size_t naudits;
	int changed;                  /* the version moved */
};

void state_stage_begin(struct service *sv, struct state_stage *st);
void state_stage_end(struct service *sv, struct state_stage *st);
void state_stage_apply(struct service *sv, const struct state_stage *st);

/* With on, the events recorded until state_batch(0) are not logged (the
 * caller logs them once) and, with a services list, their files are
 * written at each service's next event: one event for every service
 * (a reload's) costs no log line and no fsync per service. */
void state_batch(int on);

/* fn runs after a service's split is published to the workers (the
 * guard looks at once: watch.c); NULL: none. */
void state_set_publish_hook(void (*fn)(struct service *sv));

/* fn runs after every change made outside staging (a revert, what the
 * guard did): the cluster writes it; revert says whether it reverted. */
void state_set_hook(void (*fn)(struct service *sv, int revert));

/* fn(key) is what the other nodes counted toward the gate of the rollout
 * step with that key (rollout.min_requests counts the fleet's); NULL:
 * this node's alone. */
void state_set_fleet_step(uint64_t (*fn)(struct service *sv, long long key));

/* The running rollout step's key (the wall-clock ms it began, as the
 * record carries it; 0 without a rollout) and what this node counted
 * toward its gate. */
long long state_step_key(struct service *sv);
uint64_t state_step_own(struct service *sv);

/* The current split as the record holds it: the state file's fields, and
 * when (wall clock ms) the rollout's step and the baking began (0: none). */
void state_record(struct service *sv, struct split_state *p, long long *step_wall_ms, long long *bake_wall_ms);

void state_stage_record(const struct state_stage *st, struct split_state *p,
    long long *step_wall_ms, long long *bake_wall_ms);

/* A record another node wrote: published as it is (its version too), the
 * rollout continues the same step with the hold it has left.  1 when it
 * changed something, 0 when it is what we have. */
int state_apply_remote(struct service *sv, const struct split_state *p, long long step_wall_ms,
    long long bake_wall_ms, const char *node);

/* The fleet's record p, with the revert this node made while etcd did not
 * have it on top (the revert's fields, state reverted, a version above
 * both), published. */
void state_merge_revert(struct service *sv, const struct split_state *p, const char *node);

#endif
