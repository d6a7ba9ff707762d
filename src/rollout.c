/*
 * rollout.c - the step schedule of a progressive canary: holds, pause,
 * next, bake.  Pure: no globals, no I/O, no allocation.  The control thread
 * owns the struct rollout and applies the share this module answers with.
 *
 * Choices where the contract leaves room:
 *  - Entering the last step (always 100%) starts baking at once: the
 *    candidate has 100% "after the last rollout step", so holding 100% and
 *    then baking at 100% would only wait twice.  Holds gate the steps before.
 *  - Resume and next restart the step's hold timer and request count: a
 *    paused step has not been watched "while the guard is clean" by the
 *    schedule, and an operator who resumes expects a full hold from now.
 *  - rollout_next keeps a paused rollout paused (the operator is gating
 *    step by step); it only moves on to baking when it reaches 100%.
 *  - While paused, rollout_step_left_s reports the full hold: that is what
 *    remains after resume.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "errf.h"
#include "pct.h"
#include "rollout.h"

#define ROLLOUT_HOLD_MAX 86400
#define ROLLOUT_FULL_BP 10000

static const char rollout_msg_none[] = "no rollout is running";
static const char rollout_msg_baking[] = "the rollout is baking at 100%; promote or revert";

/* One step: a percentage 0 < x <= 100, as basis points, or -1. */
static int
rollout_parse_percent(const char *s, size_t len)
{
	int bp = pct_parse(s, len, NULL);

	return bp > 0 ? bp : -1;
}

/* "A,B,C" into out[]; the whole list must be valid or nothing is kept. */
static int
rollout_parse_steps(const char *s, int *out, size_t *n)
{
	int tmp[SPLIT_MAX_STEPS];
	size_t count = 0;
	const char *p = s;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		int bp;

		if (count == SPLIT_MAX_STEPS)
			return -1;
		bp = rollout_parse_percent(p, len);
		if (bp == -1 || (count > 0 && bp <= tmp[count - 1]))
			return -1;
		tmp[count++] = bp;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	if (tmp[count - 1] != ROLLOUT_FULL_BP)
		return -1;
	memcpy(out, tmp, count * sizeof(tmp[0]));
	*n = count;
	return 0;
}

/* Seconds as plain digits (no sign, no blanks), 0..ROLLOUT_HOLD_MAX. */
static int
rollout_parse_hold(const char *s, int *out)
{
	long v = 0;
	size_t i;

	if (s[0] == '\0')
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
		if (v > ROLLOUT_HOLD_MAX)
			return -1;
	}
	*out = (int)v;
	return 0;
}

/*
 * The outputs are written only when every argument is valid, so a refused
 * "rollout start" leaves the caller's defaults as they were.
 */
int
rollout_parse_args(int argc, char **argv, int *steps_bp, size_t *nsteps, int *hold_s,
    int *shadow_bp, char *err, size_t errlen)
{
	int steps[SPLIT_MAX_STEPS], hold = 0, shadow = 0;
	int have_steps = 0, have_hold = 0, have_shadow = 0;
	size_t n = 0;
	int i;

	for (i = 0; i < argc; i += 2) {
		const char *key = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		int is_steps = strcmp(key, "steps") == 0, is_shadow = strcmp(key, "shadow") == 0;
		int *seen = is_steps ? &have_steps : is_shadow ? &have_shadow : &have_hold;

		if (!is_steps && !is_shadow && strcmp(key, "hold") != 0) {
			errf(err, errlen, "unknown rollout option \"%s\"; "
			    "use shadow PERCENT, steps A,B,C and hold SECONDS", key);
			return -1;
		}
		if (*seen) {
			errf(err, errlen, "\"%s\" given twice", key);
			return -1;
		}
		if (val == NULL) {
			errf(err, errlen, "\"%s\" needs a value", key);
			return -1;
		}
		*seen = 1;
		if (is_steps && rollout_parse_steps(val, steps, &n) == -1) {
			errf(err, errlen, "steps must be increasing percentages "
			    "0 < x <= 100 with at most two decimals, ending at 100, "
			    "at most %d, got \"%s\"", SPLIT_MAX_STEPS, val);
			return -1;
		}
		if (is_shadow) {
			shadow = rollout_parse_percent(val, strlen(val));
			if (shadow == -1) {
				errf(err, errlen, "shadow must be a percentage 0 < x <= 100 with at "
				    "most two decimals (the share of the stable pool's requests "
				    "copied), got \"%s\"", val);
				return -1;
			}
			continue;
		}
		if (!is_steps && rollout_parse_hold(val, &hold) == -1) {
			errf(err, errlen, "hold must be 0..%d seconds, got \"%s\"",
			    ROLLOUT_HOLD_MAX, val);
			return -1;
		}
	}
	if (have_steps) {
		memcpy(steps_bp, steps, n * sizeof(steps[0]));
		*nsteps = n;
	}
	if (have_hold)
		*hold_s = hold;
	if (have_shadow && shadow_bp != NULL)
		*shadow_bp = shadow;
	return 0;
}

/* Begin a step (or the bake) at now: both gates count from here.  In the
 * shadow phase that phase begins again (step 0, no bake). */
static void
rollout_enter_step(struct rollout *r, int step, uint64_t now_ms, uint64_t cand_requests)
{
	r->step = r->shadow_bp > 0 ? 0 : step;
	r->step_start_ms = now_ms;
	r->step_start_requests = cand_requests;
	if (r->shadow_bp == 0 && (size_t)step + 1 == r->nsteps) {
		r->phase = RO_BAKING;
		r->bake_start_ms = now_ms;
	}
}

/* Copy the schedule; 0 when it is usable, -1 (and r cleared) otherwise. */
static int
rollout_load(struct rollout *r, int pool, const int *steps_bp, size_t nsteps, int hold_s,
    int min_requests, int bake_s)
{
	rollout_clear(r);
	if (steps_bp == NULL || nsteps == 0 || nsteps > SPLIT_MAX_STEPS)
		return -1;
	r->pool = pool;
	memcpy(r->steps_bp, steps_bp, nsteps * sizeof(steps_bp[0]));
	r->nsteps = nsteps;
	r->hold_s = hold_s > 0 ? hold_s : 0;
	r->min_requests = min_requests > 0 ? min_requests : 0;
	r->bake_s = bake_s > 0 ? bake_s : 0;
	return 0;
}

/*
 * The caller validated the schedule (rollout_parse_args or the config);
 * an empty or oversized one still yields no rollout and RA_NONE rather
 * than an out-of-bounds read.
 */
enum rollout_action
rollout_start(struct rollout *r, int pool, const int *steps_bp, size_t nsteps, int first,
    int hold_s, int min_requests, int bake_s, uint64_t now_ms, uint64_t cand_requests)
{
	if (rollout_load(r, pool, steps_bp, nsteps, hold_s, min_requests, bake_s) == -1)
		return RA_NONE;
	if (first < 0)
		first = 0;
	if ((size_t)first >= nsteps)
		first = (int)nsteps - 1;
	r->phase = RO_RUNNING;
	rollout_enter_step(r, first, now_ms, cand_requests);
	return RA_SET;
}

int
rollout_first_step(const int *steps_bp, size_t nsteps, int cur_bp)
{
	size_t i;

	if (nsteps == 0)
		return 0;
	for (i = 0; i < nsteps; i++)
		if (steps_bp[i] >= cur_bp)
			return (int)i;
	return (int)nsteps - 1;
}

void
rollout_shadow(struct rollout *r, int shadow_bp, uint64_t now_ms, uint64_t cand_requests)
{
	if (r->phase == RO_NONE || shadow_bp <= 0)
		return;
	r->shadow_bp = shadow_bp > ROLLOUT_FULL_BP ? ROLLOUT_FULL_BP : shadow_bp;
	if (r->phase == RO_BAKING)
		r->phase = RO_RUNNING;  /* a one-step rollout: the bake comes after */
	rollout_enter_step(r, 0, now_ms, cand_requests);
}

/* Leave the shadow phase for the first live step. */
static void
rollout_end_shadow(struct rollout *r, uint64_t now_ms, uint64_t cand_requests)
{
	r->shadow_bp = 0;
	rollout_enter_step(r, 0, now_ms, cand_requests);
}

/*
 * The state file keeps the step and the paused/baking flags, not the
 * timers: the monotonic clock of the previous process means nothing here,
 * so every gate starts again from now.  A saved step out of range is
 * clamped to the last step; the last step always means baking.
 */
void
rollout_restore(struct rollout *r, int pool, const int *steps_bp, size_t nsteps, int step,
    int hold_s, int paused, int baking, int min_requests, int bake_s, uint64_t now_ms,
    uint64_t cand_requests)
{
	if (rollout_load(r, pool, steps_bp, nsteps, hold_s, min_requests, bake_s) == -1)
		return;
	if (step < 0)
		step = 0;
	if (baking || (size_t)step >= nsteps)
		step = (int)nsteps - 1;
	r->phase = paused ? RO_PAUSED : RO_RUNNING;
	rollout_enter_step(r, step, now_ms, cand_requests);
}

/* Elapsed since since, 0 if the clock or counter went backwards. */
static uint64_t
rollout_since(uint64_t now, uint64_t since)
{
	return now > since ? now - since : 0;
}

uint64_t
rollout_step_requests(const struct rollout *r, uint64_t cand_requests)
{
	if (r->phase == RO_NONE)
		return 0;
	return rollout_since(cand_requests, r->step_start_requests);
}

/*
 * At most one step per call, so a long stall of the control thread cannot
 * race through several steps without the guard seeing each.  While baking
 * with bake_s passed it answers RA_PROMOTE on every call until the caller
 * promotes and clears.
 */
enum rollout_action
rollout_tick(struct rollout *r, uint64_t now_ms, uint64_t cand_requests)
{
	switch (r->phase) {
	case RO_RUNNING:
		if (rollout_since(now_ms, r->step_start_ms) < (uint64_t)r->hold_s * 1000)
			return RA_NONE;
		if (rollout_since(cand_requests, r->step_start_requests) <
		    (uint64_t)r->min_requests)
			return RA_NONE;
		if (r->shadow_bp > 0)
			rollout_end_shadow(r, now_ms, cand_requests);
		else
			rollout_enter_step(r, r->step + 1, now_ms, cand_requests);
		return RA_SET;
	case RO_BAKING:
		if (r->bake_s > 0 &&
		    rollout_since(now_ms, r->bake_start_ms) >= (uint64_t)r->bake_s * 1000)
			return RA_PROMOTE;
		return RA_NONE;
	case RO_NONE:
	case RO_PAUSED:
		break;
	}
	return RA_NONE;
}

int
rollout_pause(struct rollout *r, char *err, size_t errlen)
{
	switch (r->phase) {
	case RO_RUNNING:
		r->phase = RO_PAUSED;
		return 0;
	case RO_PAUSED:
		errf(err, errlen, "the rollout is already paused");
		return -1;
	case RO_BAKING:
		errf(err, errlen, "%s", rollout_msg_baking);
		return -1;
	case RO_NONE:
		break;
	}
	errf(err, errlen, "%s", rollout_msg_none);
	return -1;
}

int
rollout_resume(struct rollout *r, uint64_t now_ms, uint64_t cand_requests, char *err,
    size_t errlen)
{
	switch (r->phase) {
	case RO_PAUSED:
		r->phase = RO_RUNNING;
		rollout_enter_step(r, r->step, now_ms, cand_requests);
		return 0;
	case RO_RUNNING:
		errf(err, errlen, "the rollout is not paused");
		return -1;
	case RO_BAKING:
		errf(err, errlen, "%s", rollout_msg_baking);
		return -1;
	case RO_NONE:
		break;
	}
	errf(err, errlen, "%s", rollout_msg_none);
	return -1;
}

/* The operator's gate: one step now, whatever the hold; the phase stays. */
enum rollout_action
rollout_next(struct rollout *r, uint64_t now_ms, uint64_t cand_requests, char *err,
    size_t errlen, int *failed)
{
	*failed = 1;
	if (r->phase == RO_NONE) {
		errf(err, errlen, "%s", rollout_msg_none);
		return RA_NONE;
	}
	if (r->phase == RO_BAKING) {
		errf(err, errlen, "%s", rollout_msg_baking);
		return RA_NONE;
	}
	*failed = 0;
	if (r->shadow_bp > 0)
		rollout_end_shadow(r, now_ms, cand_requests);
	else
		rollout_enter_step(r, r->step + 1, now_ms, cand_requests);
	return RA_SET;
}

int
rollout_step_back(struct rollout *r, uint64_t now_ms, uint64_t cand_requests)
{
	/* from the shadow phase or the first live step back is the stable pool */
	if (r->phase == RO_NONE || r->step == 0 || r->shadow_bp > 0)
		return -1;
	/* baking is the last step: back from it is the one before */
	rollout_enter_step(r, r->step - 1, now_ms, cand_requests);
	r->phase = RO_PAUSED;
	return 0;
}

void
rollout_clear(struct rollout *r)
{
	memset(r, 0, sizeof(*r));
	r->phase = RO_NONE;
}

int
rollout_bp(const struct rollout *r)
{
	if (r->phase == RO_NONE || r->nsteps == 0 || r->shadow_bp > 0)
		return 0;
	if (r->phase == RO_BAKING)
		return ROLLOUT_FULL_BP;
	return r->steps_bp[r->step];
}

int
rollout_step_left_s(const struct rollout *r, uint64_t now_ms)
{
	uint64_t hold_ms = (uint64_t)r->hold_s * 1000, elapsed;

	if (r->phase == RO_PAUSED)
		return r->hold_s;
	if (r->phase != RO_RUNNING)
		return 0;
	elapsed = rollout_since(now_ms, r->step_start_ms);
	if (elapsed >= hold_ms)
		return 0;
	return (int)((hold_ms - elapsed + 999) / 1000);
}

int
rollout_mirror_bp(const struct rollout *r)
{
	return r->phase != RO_NONE ? r->shadow_bp : 0;
}
