/*
 * rollout.h - the step schedule of a progressive canary.  Pure: the control
 * thread feeds it the time and the candidate's request count and applies
 * the percentage it answers with (through state.c).
 *
 * A rollout walks steps[0..n-1] (basis points, strictly increasing, the
 * last 10000).  A step is left when it has been held for hold_s seconds AND
 * the candidate got at least min_requests requests during it (both counted
 * from the step's start), unless paused.  After the last step the rollout
 * is complete: the candidate bakes at 100% until promote or, with bake_s >
 * 0, until bake_s clean seconds passed (then it is promoted automatically).
 *
 * A rollout may begin with a shadow phase (shadow_bp > 0): the candidate
 * gets no user (rollout_bp 0) but copies of shadow_bp of the stable pool's
 * requests; the phase is left for steps[0] like a step is left (hold_s and
 * min_requests, the caller counting the copies then), by next, or by
 * a revert.  A step back from it or from steps[0] is a revert.
 */
#ifndef BGPROXY_ROLLOUT_H
#define BGPROXY_ROLLOUT_H

#include <stddef.h>
#include <stdint.h>
#include "split.h"


enum rollout_phase {
	RO_NONE = 0,      /* no rollout */
	RO_RUNNING,       /* stepping */
	RO_PAUSED,        /* holding the current step until resume/next */
	RO_BAKING,        /* at 100% after the last step, waiting for promote or bake_s */
};

struct rollout {
	enum rollout_phase phase;
	int pool;                       /* the candidate being rolled out */
	int steps_bp[SPLIT_MAX_STEPS];
	size_t nsteps;
	int step;                       /* index of the current step */
	int hold_s;
	int min_requests;
	int bake_s;                     /* 0: never auto-promote */
	uint64_t step_start_ms;         /* monotonic ms when the current step began */
	uint64_t step_start_requests;   /* candidate request count when it began */
	uint64_t bake_start_ms;         /* when baking began */
	int shadow_bp;                  /* > 0: in the shadow phase, copying this share */
};

/* what the caller must do after a rollout call */
enum rollout_action {
	RA_NONE = 0,      /* nothing changes */
	RA_SET,           /* set the candidate's share to rollout_bp() */
	RA_PROMOTE,       /* bake_s passed: promote the candidate */
};

/*
 * Parse "rollout start" arguments after POOL: "[shadow PERCENT] [steps
 * A,B,C] [hold SECONDS]" (any order, each at most once).  Percentages 0 <
 * x <= 100 with at most two decimals; steps strictly increasing, the last
 * must be 100; at most SPLIT_MAX_STEPS; hold 0..86400.  Fills
 * steps/nsteps/hold_s/shadow_bp (NULL: not wanted) only for what is
 * given.  0 or -1 with err saying what is allowed.
 */
int rollout_parse_args(int argc, char **argv, int *steps_bp, size_t *nsteps, int *hold_s,
    int *shadow_bp, char *err, size_t errlen);

/* Begin at step first (0 normally; rollout_first_step() after a manual
 * share, so no client moves back).  Returns RA_SET. */
enum rollout_action rollout_start(struct rollout *r, int pool, const int *steps_bp,
    size_t nsteps, int first, int hold_s, int min_requests, int bake_s, uint64_t now_ms,
    uint64_t cand_requests);

/* Put a rollout just started at step 0 (or restored there) into the shadow
 * phase: copies of shadow_bp, no user; its gates count from now.  A paused
 * one stays paused. */
void rollout_shadow(struct rollout *r, int shadow_bp, uint64_t now_ms, uint64_t cand_requests);

/* The share of the stable pool's requests the rollout wants copied now
 * (basis points; 0 outside the shadow phase). */
int rollout_mirror_bp(const struct rollout *r);

/* The index of the first step at or above cur_bp (the candidate's share
 * now); the last step when every step is below it. */
int rollout_first_step(const int *steps_bp, size_t nsteps, int cur_bp);

/* Candidate requests seen in the current step so far. */
uint64_t rollout_step_requests(const struct rollout *r, uint64_t cand_requests);

/* Resume after a restart at the saved step (hold timer starts again). */
void rollout_restore(struct rollout *r, int pool, const int *steps_bp, size_t nsteps, int step,
    int hold_s, int paused, int baking, int min_requests, int bake_s, uint64_t now_ms,
    uint64_t cand_requests);

/* Called often (every guard interval): advance when the step's hold and
 * request count are met; promote after bake_s. */
enum rollout_action rollout_tick(struct rollout *r, uint64_t now_ms, uint64_t cand_requests);

/* Operator gates.  -1 with err when the call makes no sense in this phase
 * (e.g. pause when paused, next when baking); nothing changes then. */
int rollout_pause(struct rollout *r, char *err, size_t errlen);
int rollout_resume(struct rollout *r, uint64_t now_ms, uint64_t cand_requests, char *err,
    size_t errlen);
enum rollout_action rollout_next(struct rollout *r, uint64_t now_ms, uint64_t cand_requests,
    char *err, size_t errlen, int *failed);

/* The guard's step_back: the step before this one (from baking, the one
 * before the last), held (phase paused, both gates count again from now);
 * 0, or -1 at the first step (nothing to go back to: the caller reverts). */
int rollout_step_back(struct rollout *r, uint64_t now_ms, uint64_t cand_requests);

/* End it (abort, revert, promote, a manual weight change). */
void rollout_clear(struct rollout *r);

/* The candidate's share the rollout wants now (basis points). */
int rollout_bp(const struct rollout *r);

/* Seconds left in the current step's hold (0 when met or not running). */
int rollout_step_left_s(const struct rollout *r, uint64_t now_ms);

#endif
