/*
 * guard.c - automatic revert: window figures + health + policy -> hold or
 * revert with the evidence.  Pure: no I/O, no globals, no allocation.
 *
 * Every threshold compares with "strictly greater" (or "strictly less" for
 * health), so a figure exactly at its limit holds.  Floating point must not
 * blur that boundary: 5 errors in 100 requests against 0.05 has to hold.
 * A single IEEE division is correctly rounded, hence monotonic, and maps an
 * exact quotient onto the same double as the configured literal; so each
 * check computes its figure with at most one division of exact integers and
 * never subtracts or multiplies rounded values before comparing.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "errf.h"
#include "guard.h"

/* below this, products of two counts are exact in a double (2^52 < 2^53) */
#define GUARD_EXACT_COUNT (UINT64_C(1) << 26)

typedef int (*guard_check_fn)(const struct guard_input *, const struct guard_policy *,
    char *, size_t);

/* rate and latency figures mean nothing over too few requests, and never over none */
static int
guard_enough(const struct guard_figs *f, const struct guard_policy *pol)
{
	uint64_t min = pol->min_requests > 0 ? (uint64_t)pol->min_requests : 0;

	return f->requests > 0 && f->requests >= min;
}

static double
guard_rate(const struct guard_figs *f)
{
	return f->requests ? (double)f->errors / (double)f->requests : 0.0;
}

static const char *
guard_name(const char *name, const char *fallback)
{
	return name ? name : fallback;
}

/* whatever the request count: a pool with too few live servers is failing */
static int
guard_check_health(const struct guard_input *in, const struct guard_policy *pol,
    char *reason, size_t len)
{
	int healthy = in->healthy > 0 ? in->healthy : 0;

	if (in->servers <= 0)
		return 0;
	if (!((double)healthy / (double)in->servers < pol->min_healthy_fraction))
		return 0;
	errf(reason, len, "healthy %d/%d < %g", healthy, in->servers,
	    pol->min_healthy_fraction);
	return 1;
}

/* Two decimals, or as many more (up to 6) as it takes for the printed
 * value to show that it is above the limit: "0.0504 > 0.05", never
 * "0.05 > 0.05". */
static int
guard_digits(double value, double limit)
{
	char buf[64];
	int d;

	for (d = 2; d < 6; d++) {
		snprintf(buf, sizeof(buf), "%.*f", d, value);
		if (strtod(buf, NULL) > limit)
			break;
	}
	return d;
}

static int
guard_check_error_rate(const struct guard_input *in, const struct guard_policy *pol,
    char *reason, size_t len)
{
	double rate;

	if (!guard_enough(&in->cand, pol))
		return 0;
	rate = guard_rate(&in->cand);
	if (!(rate > pol->max_error_rate))
		return 0;
	errf(reason, len, "error_rate %.*f > %g over %ds, n=%" PRIu64,
	    guard_digits(rate, pol->max_error_rate), rate, pol->max_error_rate, in->window_s,
	    in->cand.requests);
	return 1;
}

static int
guard_check_p99(const struct guard_input *in, const struct guard_policy *pol,
    char *reason, size_t len)
{
	if (pol->max_p99_ms <= 0 || !guard_enough(&in->cand, pol))
		return 0;
	if (!(in->cand.p99_ms > (double)pol->max_p99_ms))
		return 0;
	errf(reason, len, "p99 %.0fms > %dms over %ds, n=%" PRIu64, in->cand.p99_ms,
	    pol->max_p99_ms, in->window_s, in->cand.requests);
	return 1;
}

/*
 * cand_rate - stable_rate as one exact fraction
 * (ce*sn - se*cn) / (cn*sn), divided once, so that 0.07 - 0.05 against 0.02
 * holds.  Counts too large for exact products (never seen in a window)
 * fall back to plain subtraction.
 */
static double
guard_delta(const struct guard_figs *c, const struct guard_figs *s)
{
	uint64_t pos, neg;

	if (c->requests >= GUARD_EXACT_COUNT || s->requests >= GUARD_EXACT_COUNT ||
	    c->errors >= GUARD_EXACT_COUNT || s->errors >= GUARD_EXACT_COUNT)
		return guard_rate(c) - guard_rate(s);
	pos = c->errors * s->requests;
	neg = s->errors * c->requests;
	if (pos >= neg)
		return (double)(pos - neg) / (double)(c->requests * s->requests);
	return -((double)(neg - pos) / (double)(c->requests * s->requests));
}

/* relative: a bad day for every pool is not the canary's fault */
static int
guard_check_error_delta(const struct guard_input *in, const struct guard_policy *pol,
    char *reason, size_t len)
{
	double delta;

	if (pol->max_error_delta <= 0 || !guard_enough(&in->cand, pol) ||
	    !guard_enough(&in->stable, pol))
		return 0;
	delta = guard_delta(&in->cand, &in->stable);
	if (!(delta > pol->max_error_delta))
		return 0;
	errf(reason, len, "error_delta %.*f > %g (%s %.2f, %s %.2f) over %ds",
	    guard_digits(delta, pol->max_error_delta), delta,
	    pol->max_error_delta, guard_name(in->cand_name, "candidate"), guard_rate(&in->cand),
	    guard_name(in->stable_name, "stable"), guard_rate(&in->stable), in->window_s);
	return 1;
}

static int
guard_check_p99_ratio(const struct guard_input *in, const struct guard_policy *pol,
    char *reason, size_t len)
{
	double ratio;

	if (pol->max_p99_ratio <= 0 || !guard_enough(&in->cand, pol) ||
	    !guard_enough(&in->stable, pol))
		return 0;
	/* a stable p99 of 0 gives no scale to compare with */
	if (!(in->stable.p99_ms > 0))
		return 0;
	ratio = in->cand.p99_ms / in->stable.p99_ms;
	if (!(ratio > pol->max_p99_ratio))
		return 0;
	errf(reason, len, "p99_ratio %.2f > %.2f (%s %.0fms, %s %.0fms) over %ds", ratio,
	    pol->max_p99_ratio, guard_name(in->cand_name, "candidate"), in->cand.p99_ms,
	    guard_name(in->stable_name, "stable"), in->stable.p99_ms, in->window_s);
	return 1;
}

/* the candidate's rate against a multiple of the stable pool's:
 * ce/cn > r * se/sn as ce*sn > r * (se*cn), one rounding on each side */
static int
guard_check_error_ratio(const struct guard_input *in, const struct guard_policy *pol,
    char *reason, size_t len)
{
	const struct guard_figs *c = &in->cand, *st = &in->stable;
	char ratio[32];

	if (pol->max_error_ratio <= 0 || c->errors == 0 || !guard_enough(c, pol) ||
	    !guard_enough(st, pol))
		return 0;
	if (!((double)(c->errors * st->requests) > pol->max_error_ratio *
	    (double)(st->errors * c->requests)))
		return 0;
	if (st->errors == 0)
		snprintf(ratio, sizeof(ratio), "inf");
	else
		snprintf(ratio, sizeof(ratio), "%.2f", guard_rate(c) / guard_rate(st));
	errf(reason, len, "error_ratio %s > %.2f (%s %.2f, %s %.2f) over %ds", ratio,
	    pol->max_error_ratio, guard_name(in->cand_name, "candidate"), guard_rate(c),
	    guard_name(in->stable_name, "stable"), guard_rate(st), in->window_s);
	return 1;
}

const char *const guard_check_names[GUARD_CHECK_COUNT] = {
	[GUARD_CHECK_NONE] = "none",
	[GUARD_CHECK_HEALTH] = "health",
	[GUARD_CHECK_ERROR_RATE] = "error_rate",
	[GUARD_CHECK_P99] = "p99",
	[GUARD_CHECK_ERROR_DELTA] = "error_delta",
	[GUARD_CHECK_P99_RATIO] = "p99_ratio",
	[GUARD_CHECK_ERROR_RATIO] = "error_ratio",
};

/* the documented order: the first failing check is the one reported */
static const struct {
	enum guard_check kind;
	guard_check_fn fn;
} guard_checks[] = {
	{ GUARD_CHECK_HEALTH, guard_check_health },
	{ GUARD_CHECK_ERROR_RATE, guard_check_error_rate },
	{ GUARD_CHECK_P99, guard_check_p99 },
	{ GUARD_CHECK_ERROR_DELTA, guard_check_error_delta },
	{ GUARD_CHECK_P99_RATIO, guard_check_p99_ratio },
	{ GUARD_CHECK_ERROR_RATIO, guard_check_error_ratio },
};

/*
 * Decide for one interval.  Takes borrowed input and policy, writes at most
 * len bytes (always NUL-terminated when len > 0) to reason: the first
 * failed check's evidence on GUARD_REVERT, "" on GUARD_HOLD.  Any thread.
 */
enum guard_check
guard_decide(const struct guard_input *in, const struct guard_policy *pol,
    char *reason, size_t len)
{
	size_t i;

	if (reason != NULL && len > 0)
		reason[0] = '\0';
	if (in == NULL || pol == NULL)
		return GUARD_CHECK_NONE;
	for (i = 0; i < sizeof(guard_checks) / sizeof(guard_checks[0]); i++)
		if (guard_checks[i].fn(in, pol, reason, len))
			return guard_checks[i].kind;
	return GUARD_CHECK_NONE;
}

enum guard_verdict
guard_evaluate(const struct guard_input *in, const struct guard_policy *pol,
    char *reason, size_t len)
{
	return guard_decide(in, pol, reason, len) == GUARD_CHECK_NONE ? GUARD_HOLD : GUARD_REVERT;
}

void
guard_dry_reset(struct guard_dry *d)
{
	d->last = GUARD_CHECK_NONE;
	d->last_us = 0;
}

/* A hold in between does not make the same kind news again: a verdict that
 * flaps around its limit would otherwise be recorded at every flap. */
int
guard_dry_note(struct guard_dry *d, enum guard_check check, uint64_t now_us)
{
	if (check == GUARD_CHECK_NONE)
		return 0;
	if (check == d->last && now_us - d->last_us < GUARD_DRY_REPEAT_US)
		return 0;
	d->last = check;
	d->last_us = now_us;
	return 1;
}
