/*
 * guard.h - automatic revert: window figures + health + policy -> hold or
 * revert with a reason that carries the evidence.  Pure: no I/O, no
 * globals; the control thread calls it every guard.interval_ms.
 */
#ifndef BGPROXY_GUARD_H
#define BGPROXY_GUARD_H

#include <stddef.h>
#include <stdint.h>

/* one pool's figures over the guard window */
struct guard_figs {
	uint64_t requests;        /* requests in the window (override-routed left out) */
	uint64_t errors;          /* 5xx from the server + connect errors, resets, timeouts */
	double p99_ms;            /* 0 when no request */
};

struct guard_input {
	const char *cand_name;    /* "green", for the reason text */
	const char *stable_name;
	struct guard_figs cand;
	struct guard_figs stable;
	int servers;              /* the candidate's servers */
	int healthy;              /* of those, passing health checks (and not passively marked) */
	int window_s;
};

struct guard_policy {
	int min_requests;             /* rate and latency checks need this many requests */
	double max_error_rate;        /* trip when cand errors/requests > this */
	int max_p99_ms;               /* 0 = off; trip when cand p99 > this */
	double min_healthy_fraction;  /* trip when healthy/servers < this (any request count) */
	double max_error_delta;       /* 0 = off; cand rate - stable rate > this, both >= min_requests */
	double max_p99_ratio;         /* 0 = off; cand p99 > this x stable p99, both >= min_requests */
	double max_error_ratio;       /* 0 = off; cand rate > this x stable rate, both >= min_requests */
};

enum guard_verdict { GUARD_HOLD = 0, GUARD_REVERT = 1 };

/* which check tripped: the kind of a verdict, apart from its figures */
enum guard_check {
	GUARD_CHECK_NONE = 0,     /* hold */
	GUARD_CHECK_HEALTH,       /* min_healthy_fraction */
	GUARD_CHECK_ERROR_RATE,   /* max_error_rate */
	GUARD_CHECK_P99,          /* max_p99_ms */
	GUARD_CHECK_ERROR_DELTA,  /* max_error_delta */
	GUARD_CHECK_P99_RATIO,    /* max_p99_ratio */
	GUARD_CHECK_ERROR_RATIO,  /* max_error_ratio */
	GUARD_CHECK_COUNT
};

/* "health", "error_rate", "p99", "error_delta", "p99_ratio", "error_ratio" ("none" for hold) */
extern const char *const guard_check_names[GUARD_CHECK_COUNT];

/*
 * Decide.  On GUARD_REVERT, reason gets the first failed check with its
 * evidence, in these exact shapes:
 *   "healthy 0/2 < 0.5"
 *   "error_rate 0.62 > 0.05 over 10s, n=143"
 *   "p99 812ms > 500ms over 10s, n=143"
 *   "error_delta 0.08 > 0.02 (green 0.09, blue 0.01) over 10s"
 *   "p99_ratio 3.10 > 2.00 (green 31ms, blue 10ms) over 10s"
 *   "error_ratio 3.20 > 1.50 (green 0.08, blue 0.03) over 10s" ("inf" when
 *   the stable pool had no error)
 * Checks run in that order.  On GUARD_HOLD reason is "".
 */
enum guard_verdict guard_evaluate(const struct guard_input *in, const struct guard_policy *pol,
    char *reason, size_t len);

/* The same decision, saying which check tripped (GUARD_CHECK_NONE: hold). */
enum guard_check guard_decide(const struct guard_input *in, const struct guard_policy *pol,
    char *reason, size_t len);

/*
 * Dry run: a verdict that stays the same for many intervals is recorded
 * once, not every interval, although its figures (n=, the rate) change.
 * guard_dry_note says whether the verdict of this interval is to be
 * recorded: when its kind differs from the last one recorded, or when the
 * same kind has gone GUARD_DRY_REPEAT_US without a record.  A hold is never
 * recorded.  guard_dry_reset forgets the last record (the guard stopped
 * watching: the next trip is news).  Pure; the caller owns the struct.
 */
#define GUARD_DRY_REPEAT_US (60ULL * 1000000)
struct guard_dry {
	enum guard_check last;    /* kind of the last recorded verdict; NONE = nothing yet */
	uint64_t last_us;         /* when it was recorded (monotonic us) */
};
void guard_dry_reset(struct guard_dry *d);
int guard_dry_note(struct guard_dry *d, enum guard_check check, uint64_t now_us);

#endif
