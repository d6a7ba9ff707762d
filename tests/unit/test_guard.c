/* Unit tests for guard.c: each check, its boundaries, its reason text, the order. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "guard.h"
#include "test.h"

/* a healthy canary and stable pool, every check on */
static struct guard_input
base_input(void)
{
	struct guard_input in = {
		.cand_name = "green", .stable_name = "blue",
		.cand = { .requests = 143, .errors = 0, .p99_ms = 10 },
		.stable = { .requests = 143, .errors = 0, .p99_ms = 10 },
		.servers = 2, .healthy = 2, .window_s = 10,
	};
	return in;
}

static struct guard_policy
base_policy(void)
{
	struct guard_policy pol = {
		.min_requests = 10, .max_error_rate = 0.05, .max_p99_ms = 500,
		.min_healthy_fraction = 0.5, .max_error_delta = 0.02, .max_p99_ratio = 2.0,
	};
	return pol;
}

/* every check off but the health fraction 0 and an error rate no pool can exceed */
static struct guard_policy
off_policy(void)
{
	struct guard_policy pol = { .min_requests = 10, .max_error_rate = 1.0 };
	return pol;
}

static char reason[256];

static enum guard_verdict
eval(const struct guard_input *in, const struct guard_policy *pol)
{
	memset(reason, 'x', sizeof(reason));
	return guard_evaluate(in, pol, reason, sizeof(reason));
}

/* the printed rate always shows it is above the limit */
TEST(test_rate_printed_above_limit)
{
	struct guard_input in = base_input();
	struct guard_policy pol = off_policy();

	pol.max_error_rate = 0.05;
	in.cand.requests = 1000;
	in.cand.errors = 51;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	CHECK_STR(reason, "error_rate 0.051 > 0.05 over 10s, n=1000");
	in.cand.errors = 620;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	CHECK_STR(reason, "error_rate 0.62 > 0.05 over 10s, n=1000");
}

TEST(test_all_good_holds)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	CHECK_STR(reason, "");
}

TEST(test_health_trips_with_zero_requests)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	in.cand.requests = 0;
	in.cand.p99_ms = 0;
	in.healthy = 0;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	CHECK_STR(reason, "healthy 0/2 < 0.5");
}

TEST(test_health_fraction_format)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	in.servers = 4;
	in.healthy = 0;
	pol.min_healthy_fraction = 0.25;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	CHECK_STR(reason, "healthy 0/4 < 0.25");
	in.servers = 3;
	in.healthy = 2;
	pol.min_healthy_fraction = 1;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	CHECK_STR(reason, "healthy 2/3 < 1");
}

TEST(test_health_at_fraction_holds)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	in.healthy = 1;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	in.servers = 4;
	pol.min_healthy_fraction = 0.25;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	CHECK_STR(reason, "");
}

TEST(test_health_no_servers_does_not_trip)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	in.servers = 0;
	in.healthy = 0;
	pol.min_healthy_fraction = 1;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	CHECK_STR(reason, "");
}

TEST(test_error_rate_trips)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	in.cand.errors = 89;	/* 0.622 */
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	CHECK_STR(reason, "error_rate 0.62 > 0.05 over 10s, n=143");
	pol.max_error_rate = 0.1;
	in.window_s = 30;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	CHECK_STR(reason, "error_rate 0.62 > 0.1 over 30s, n=143");
}

TEST(test_error_rate_at_limit_holds)
{
	struct guard_input in = base_input();
	struct guard_policy pol = off_policy();
	const double limits[] = { 0.05, 0.1, 0.3, 0.01, 0.07 };
	uint64_t n;
	size_t i;

	/* errors exactly limit x requests, for many request counts: never trips */
	for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		pol.max_error_rate = limits[i];
		for (n = 100; n <= 100000; n += 100) {
			in.cand.requests = n;
			in.cand.errors = n * (uint64_t)(limits[i] * 100 + 0.5) / 100;
			CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
			in.cand.errors++;
			CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
		}
	}
	in.cand.requests = 100;
	in.cand.errors = 5;
	pol.max_error_rate = 0.05;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	CHECK_STR(reason, "");
}

TEST(test_min_requests_boundary)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	in.cand.requests = 9;
	in.cand.errors = 9;
	in.cand.p99_ms = 10000;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	CHECK_STR(reason, "");
	in.cand.requests = 10;
	in.cand.errors = 10;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	CHECK_STR(reason, "error_rate 1.00 > 0.05 over 10s, n=10");
}

TEST(test_min_requests_zero_never_with_none)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	pol.min_requests = 0;
	in.cand.requests = 0;
	in.cand.errors = 0;
	in.cand.p99_ms = 0;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	/* errors without requests (cannot happen) still never divide by zero */
	in.cand.errors = 3;
	in.cand.p99_ms = 9999;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	in.cand.requests = 1;
	in.cand.errors = 1;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	CHECK_STR(reason, "error_rate 1.00 > 0.05 over 10s, n=1");
}

TEST(test_error_rate_zero_limit)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	pol.max_error_rate = 0;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	in.cand.errors = 1;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	CHECK_STR(reason, "error_rate 0.01 > 0 over 10s, n=143");
}

TEST(test_p99_trips)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	in.cand.p99_ms = 812.3;
	pol.max_p99_ratio = 0;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	CHECK_STR(reason, "p99 812ms > 500ms over 10s, n=143");
}

TEST(test_p99_at_limit_holds)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	pol.max_p99_ratio = 0;
	in.cand.p99_ms = 500;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	in.cand.p99_ms = 500.01;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
}

TEST(test_p99_off_and_needs_min_requests)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	pol.max_p99_ratio = 0;
	pol.max_p99_ms = 0;
	in.cand.p99_ms = 99999;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	pol.max_p99_ms = 500;
	in.cand.requests = 9;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	in.cand.requests = 10;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	CHECK_STR(reason, "p99 99999ms > 500ms over 10s, n=10");
}

TEST(test_error_delta_bad_day_everywhere_holds)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	pol.max_error_rate = 0.5;
	in.cand.requests = in.stable.requests = 100;
	in.cand.errors = in.stable.errors = 30;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	CHECK_STR(reason, "");
}

TEST(test_error_delta_trips)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	pol.max_error_rate = 0.5;
	in.cand.requests = in.stable.requests = 100;
	in.cand.errors = 9;
	in.stable.errors = 1;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	CHECK_STR(reason, "error_delta 0.08 > 0.02 (green 0.09, blue 0.01) over 10s");
	/* a bad day everywhere, and the canary still worse by more than the delta */
	in.cand.errors = 33;
	in.stable.errors = 30;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	CHECK_STR(reason, "error_delta 0.03 > 0.02 (green 0.33, blue 0.30) over 10s");
}

TEST(test_error_delta_at_limit_holds)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	/* 0.07 - 0.05 is 0.020000000000000004 in naive doubles */
	pol.max_error_rate = 0.5;
	in.cand.requests = in.stable.requests = 100;
	in.cand.errors = 7;
	in.stable.errors = 5;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	in.cand.requests = 200;
	in.cand.errors = 14;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	in.cand.errors = 15;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	/* a canary better than stable never trips */
	in.cand.errors = 0;
	in.stable.errors = 50;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
}

TEST(test_error_delta_needs_both_pools)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	pol.max_error_rate = 0.5;
	in.cand.requests = 100;
	in.cand.errors = 40;
	in.stable.requests = 9;
	in.stable.errors = 0;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	in.stable.requests = 0;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	pol.min_requests = 0;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	in.stable.requests = 10;
	pol.min_requests = 10;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	CHECK_STR(reason, "error_delta 0.40 > 0.02 (green 0.40, blue 0.00) over 10s");
}

TEST(test_error_delta_off)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	pol.max_error_rate = 0.5;
	pol.max_error_delta = 0;
	in.cand.errors = 70;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
}

TEST(test_p99_ratio_trips)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	in.cand.p99_ms = 31;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	CHECK_STR(reason, "p99_ratio 3.10 > 2.00 (green 31ms, blue 10ms) over 10s");
}

TEST(test_p99_ratio_at_limit_holds)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	in.cand.p99_ms = 20;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	pol.max_p99_ratio = 1.5;
	in.cand.p99_ms = 15;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	in.cand.p99_ms = 15.01;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
}

TEST(test_p99_ratio_stable_zero_never_divides)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	in.stable.p99_ms = 0;
	in.cand.p99_ms = 400;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	in.cand.p99_ms = 0;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	CHECK_STR(reason, "");
}

TEST(test_p99_ratio_needs_both_pools_and_is_off_at_zero)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	in.cand.p99_ms = 100;
	in.stable.requests = 9;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	in.stable.requests = 10;
	in.cand.requests = 9;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	in.cand.requests = 10;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	pol.max_p99_ratio = 0;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
}

TEST(test_order_first_failure_reported)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	/* everything fails: health is reported */
	in.healthy = 0;
	in.cand.errors = 100;
	in.cand.p99_ms = 900;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	CHECK_STR(reason, "healthy 0/2 < 0.5");
	in.healthy = 2;
	CHECK_STR((eval(&in, &pol), reason), "error_rate 0.70 > 0.05 over 10s, n=143");
	pol.max_error_rate = 0.9;
	CHECK_STR((eval(&in, &pol), reason), "p99 900ms > 500ms over 10s, n=143");
	pol.max_p99_ms = 0;
	CHECK_STR((eval(&in, &pol), reason),
	    "error_delta 0.70 > 0.02 (green 0.70, blue 0.00) over 10s");
	pol.max_error_delta = 0;
	CHECK_STR((eval(&in, &pol), reason),
	    "p99_ratio 90.00 > 2.00 (green 900ms, blue 10ms) over 10s");
}

TEST(test_only_one_check_on)
{
	struct guard_input in = base_input();
	struct guard_policy pol = off_policy();

	in.healthy = 0;
	in.cand.errors = 143;
	in.cand.p99_ms = 5000;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	pol.max_p99_ratio = 2;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	CHECK_STR(reason, "p99_ratio 500.00 > 2.00 (green 5000ms, blue 10ms) over 10s");
	pol.max_p99_ratio = 0;
	pol.max_error_delta = 0.5;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	CHECK_STR(reason, "error_delta 1.00 > 0.5 (green 1.00, blue 0.00) over 10s");
	pol.max_error_delta = 0;
	pol.max_p99_ms = 1000;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	CHECK_STR(reason, "p99 5000ms > 1000ms over 10s, n=143");
}

TEST(test_names_come_from_input)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	in.cand_name = "blue";
	in.stable_name = "green";
	in.cand.p99_ms = 40;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	CHECK_STR(reason, "p99_ratio 4.00 > 2.00 (blue 40ms, green 10ms) over 10s");
}

TEST(test_reason_buffer_edges)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();
	char small[8];

	in.healthy = 0;
	memset(small, 'x', sizeof(small));
	CHECK_EQ_INT(guard_evaluate(&in, &pol, small, sizeof(small)), GUARD_REVERT);
	CHECK_STR(small, "healthy");
	memset(small, 'x', sizeof(small));
	CHECK_EQ_INT(guard_evaluate(&in, &pol, small, 0), GUARD_REVERT);
	CHECK(small[0] == 'x');
	CHECK_EQ_INT(guard_evaluate(&in, &pol, NULL, 0), GUARD_REVERT);
	in.healthy = 2;
	memset(small, 'x', sizeof(small));
	CHECK_EQ_INT(guard_evaluate(&in, &pol, small, sizeof(small)), GUARD_HOLD);
	CHECK_STR(small, "");
}

/* guard_decide names the check whose reason it wrote, in the documented order */
TEST(test_decide_names_the_check)
{
	struct guard_input in = base_input();
	struct guard_policy pol = base_policy();

	CHECK_EQ_INT(guard_decide(&in, &pol, reason, sizeof(reason)), GUARD_CHECK_NONE);
	CHECK_STR(reason, "");
	in.healthy = 0;
	in.cand.errors = 100;
	in.cand.p99_ms = 900;
	CHECK_EQ_INT(guard_decide(&in, &pol, reason, sizeof(reason)), GUARD_CHECK_HEALTH);
	in.healthy = 2;
	CHECK_EQ_INT(guard_decide(&in, &pol, reason, sizeof(reason)), GUARD_CHECK_ERROR_RATE);
	pol.max_error_rate = 0.9;
	CHECK_EQ_INT(guard_decide(&in, &pol, reason, sizeof(reason)), GUARD_CHECK_P99);
	pol.max_p99_ms = 0;
	CHECK_EQ_INT(guard_decide(&in, &pol, reason, sizeof(reason)), GUARD_CHECK_ERROR_DELTA);
	pol.max_error_delta = 0;
	CHECK_EQ_INT(guard_decide(&in, &pol, reason, sizeof(reason)), GUARD_CHECK_P99_RATIO);
	CHECK_STR(reason, "p99_ratio 90.00 > 2.00 (green 900ms, blue 10ms) over 10s");
	CHECK_STR(guard_check_names[GUARD_CHECK_P99_RATIO], "p99_ratio");
	CHECK_STR(guard_check_names[GUARD_CHECK_ERROR_RATE], "error_rate");
	CHECK_STR(guard_check_names[GUARD_CHECK_NONE], "none");
}

/* the same kind of verdict with other figures is not news; another kind is */
TEST(test_dry_run_recorded_once_per_kind)
{
	struct guard_dry d;
	uint64_t t = 5000000;

	guard_dry_reset(&d);
	CHECK_EQ_INT(guard_dry_note(&d, GUARD_CHECK_NONE, t), 0);
	CHECK_EQ_INT(guard_dry_note(&d, GUARD_CHECK_ERROR_RATE, t), 1);
	/* every later interval: n= and the rate move, the kind does not */
	CHECK_EQ_INT(guard_dry_note(&d, GUARD_CHECK_ERROR_RATE, t + 250000), 0);
	CHECK_EQ_INT(guard_dry_note(&d, GUARD_CHECK_ERROR_RATE, t + 59999999), 0);
	/* a hold in between does not make the same kind news (flapping) */
	CHECK_EQ_INT(guard_dry_note(&d, GUARD_CHECK_NONE, t + 30000000), 0);
	CHECK_EQ_INT(guard_dry_note(&d, GUARD_CHECK_ERROR_RATE, t + 30250000), 0);
	/* another kind is recorded at once, and so is the first again after it */
	CHECK_EQ_INT(guard_dry_note(&d, GUARD_CHECK_P99, t + 40000000), 1);
	CHECK_EQ_INT(guard_dry_note(&d, GUARD_CHECK_P99, t + 40250000), 0);
	CHECK_EQ_INT(guard_dry_note(&d, GUARD_CHECK_ERROR_RATE, t + 41000000), 1);
	/* a verdict that stays is recorded again once a minute */
	CHECK_EQ_INT(guard_dry_note(&d, GUARD_CHECK_ERROR_RATE, t + 41000000 + GUARD_DRY_REPEAT_US - 1), 0);
	CHECK_EQ_INT(guard_dry_note(&d, GUARD_CHECK_ERROR_RATE, t + 41000000 + GUARD_DRY_REPEAT_US), 1);
	/* the guard stopped watching: the next trip is news */
	guard_dry_reset(&d);
	CHECK_EQ_INT(guard_dry_note(&d, GUARD_CHECK_ERROR_RATE, t + 41000000 + GUARD_DRY_REPEAT_US + 1), 1);
}

/* the error ratio: the candidate's rate against a multiple of the stable pool's */
TEST(test_error_ratio)
{
	struct guard_input in = base_input();
	struct guard_policy pol = off_policy();

	pol.max_error_ratio = 1.5;
	in.cand.requests = 100;
	in.cand.errors = 6;
	in.stable.requests = 1000;
	in.stable.errors = 40;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);       /* 1.5 x exactly: holds */
	in.cand.errors = 7;
	CHECK_EQ_INT(guard_decide(&in, &pol, reason, sizeof(reason)), GUARD_CHECK_ERROR_RATIO);
	CHECK_STR(reason, "error_ratio 1.75 > 1.50 (green 0.07, blue 0.04) over 10s");
	in.stable.errors = 0;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_REVERT);
	CHECK_STR(reason, "error_ratio inf > 1.50 (green 0.07, blue 0.00) over 10s");
	in.cand.errors = 0;                               /* nothing to compare */
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	in.cand.errors = 7;
	in.stable.requests = 5;                           /* below min_requests */
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	in.stable.requests = 1000;
	pol.max_error_ratio = 0;
	CHECK_EQ_INT(eval(&in, &pol), GUARD_HOLD);
	CHECK_STR(guard_check_names[GUARD_CHECK_ERROR_RATIO], "error_ratio");
}

int
main(void)
{
	RUN(test_all_good_holds);
	RUN(test_rate_printed_above_limit);
	RUN(test_health_trips_with_zero_requests);
	RUN(test_health_fraction_format);
	RUN(test_health_at_fraction_holds);
	RUN(test_health_no_servers_does_not_trip);
	RUN(test_error_rate_trips);
	RUN(test_error_rate_at_limit_holds);
	RUN(test_min_requests_boundary);
	RUN(test_min_requests_zero_never_with_none);
	RUN(test_error_rate_zero_limit);
	RUN(test_p99_trips);
	RUN(test_p99_at_limit_holds);
	RUN(test_p99_off_and_needs_min_requests);
	RUN(test_error_delta_bad_day_everywhere_holds);
	RUN(test_error_delta_trips);
	RUN(test_error_delta_at_limit_holds);
	RUN(test_error_delta_needs_both_pools);
	RUN(test_error_delta_off);
	RUN(test_p99_ratio_trips);
	RUN(test_p99_ratio_at_limit_holds);
	RUN(test_p99_ratio_stable_zero_never_divides);
	RUN(test_p99_ratio_needs_both_pools_and_is_off_at_zero);
	RUN(test_order_first_failure_reported);
	RUN(test_only_one_check_on);
	RUN(test_names_come_from_input);
	RUN(test_reason_buffer_edges);
	RUN(test_decide_names_the_check);
	RUN(test_dry_run_recorded_once_per_kind);
	RUN(test_error_ratio);
	return test_summary();
}
