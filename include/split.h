/*
 * split.h - the split's types, one set for all its forms: the split as the
 * state module holds it (state.h), its record on disk and in etcd
 * (persist.h, cluster_rec.h), and the steps a rollout may have in the
 * configuration (config.h) and the rollout engine (rollout.h).  Types
 * only, no module behind it.
 */
#ifndef BGPROXY_SPLIT_H
#define BGPROXY_SPLIT_H

#include <stddef.h>

#define SPLIT_MAX_STEPS 32        /* steps of a rollout, at most */

enum pool_id { POOL_BLUE = 0, POOL_GREEN = 1 };

enum split_mode {
	MODE_IDLE = 0,    /* the candidate has 0% */
	MODE_MANUAL,      /* an operator's set weight gives the candidate traffic */
	MODE_RUNNING,     /* a rollout steps through its percentages */
	MODE_PAUSED,      /* a rollout holds its step */
	MODE_BAKING,      /* the candidate has 100% (switch or last step), waiting for promote */
	MODE_REVERTED,    /* everything went back to stable; stays until an operator acts */
};

/*
 * The split: the state module's (state_get), and what the state file and
 * the fleet's record hold of it (persist.h says which fields must agree).
 */
struct split_state {
	enum pool_id stable;
	int candidate_bp;             /* the candidate's share x 100, 0..10000 */
	enum split_mode mode;
	char last_revert[512];        /* "" = none; no control characters */
	/* the rollout, as rollout.c drives it (persisted, shown in status) */
	int has_rollout;
	enum pool_id rollout_pool;
	int steps_bp[SPLIT_MAX_STEPS]; /* strictly increasing, 1..10000, last 10000 */
	size_t nsteps;                /* 1..SPLIT_MAX_STEPS with a rollout */
	int step;                     /* index into steps_bp */
	int hold_s;                   /* 0..86400 */
	int shadow_bp;                /* > 0: the rollout's shadow phase copies this share (step 0) */
	/* grows with every change of the split (persisted): if-version; 0..10^15,
	 * 0 from a file that has none */
	unsigned long long version;
	/* the last revert, for the record (last_revert has it in words too) */
	long long revert_time_ms;     /* wall clock, 0 = none or unknown */
	int revert_step;              /* rollout step index at the revert, -1 none */
	char revert_actor[64];        /* no control characters */
	char revert_reason[320];      /* what tripped, alone; no control characters */
};

#endif
