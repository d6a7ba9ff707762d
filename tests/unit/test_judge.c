/* Unit tests for judge.c: the bets, each check both ways, steps, and a small
 * run of the simulator in bench/ (a fixed seed: the same figures every run). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "judge.h"
#include "test.h"

#define JUDGE_SIM_NO_MAIN
#include "../../bench/judge_sim.c"

static struct judge_policy
defaults(void)
{
	struct judge_policy p = { .alpha = 0.01, .max_error_rate = 0.05, .max_error_ratio = 1.5 };

	return p;
}

static struct judge_counts
counts(uint64_t requests, uint64_t errors)
{
	struct judge_counts c = { .requests = requests, .errors = errors };

	return c;
}

/* data exactly at the limit never make a bet grow */
TEST(test_bet_at_the_limit_does_not_grow)
{
	struct judge_bet b;
	int i;

	judge_bet_init(&b, 100);
	CHECK(fabs(judge_bet_log_e(&b) - log(JUDGE_FIRST_WEIGHT)) < 1e-12);
	for (i = 0; i < 1000; i++)
		judge_bet_feed(&b, 20, 1, 0.05);
	CHECK(judge_bet_log_e(&b) <= 0);
	CHECK_EQ_INT(b.n, 20000);
	CHECK_EQ_INT(b.k, 1000);
}

/* ones only: the bet grows with every one, fast */
TEST(test_bet_grows_on_ones)
{
	struct judge_bet b;
	double last = 0;
	int i;

	judge_bet_init(&b, 100);
	for (i = 0; i < 5; i++) {
		judge_bet_feed(&b, 1, 1, 0.05);
		CHECK(judge_bet_log_e(&b) > last);
		last = judge_bet_log_e(&b);
	}
	CHECK(last > log(2 / 0.01));
}

/* nonsense is ignored: no observations, a limit outside (0, 1) */
TEST(test_bet_ignores_nonsense)
{
	struct judge_bet b;

	judge_bet_init(&b, 100);
	judge_bet_feed(&b, 0, 0, 0.05);
	judge_bet_feed(&b, 10, 10, 0);
	judge_bet_feed(&b, 10, 10, 1);
	judge_bet_feed(&b, 10, 10, NAN);
	CHECK_EQ_INT(b.n, 0);
	judge_bet_feed(&b, 3, 7, 0.5);     /* more ones than observations: all ones */
	CHECK_EQ_INT(b.k, 3);
}

/* CONTRACT 15: a candidate failing every request is reverted within 10 of
 * its requests at the defaults, at any traffic rate: here one candidate
 * request in each feed, 99 stable ones that all succeed */
TEST(test_failing_every_request_trips_within_ten)
{
	struct judge_policy p = defaults();
	struct judge j;
	struct judge_counts c = counts(1, 1), s = counts(99, 0);
	enum judge_check which = JUDGE_NCHECKS;
	int n;

	judge_init(&j);
	for (n = 1; n <= 10; n++) {
		judge_feed(&j, &p, &c, &s);
		if (judge_verdict(&j, &p, &which) == JUDGE_TRIP)
			break;
	}
	CHECK(n <= 10);
	CHECK_EQ_INT(which, JUDGE_ERROR_RATE);
	/* and its own rate alone, the ratio off */
	p.max_error_ratio = 0;
	judge_init(&j);
	for (n = 1; n <= 10; n++) {
		judge_feed(&j, &p, &c, &s);
		if (judge_verdict(&j, &p, &which) == JUDGE_TRIP)
			break;
	}
	CHECK(n <= 10);
	CHECK_EQ_INT(which, JUDGE_ERROR_RATE);
	p = defaults();
	/* and at one request a minute (a feed with no requests in between) */
	judge_init(&j);
	for (n = 1; n <= 10; n++) {
		struct judge_counts none = counts(0, 0);

		judge_feed(&j, &p, &none, &none);
		judge_feed(&j, &p, &c, &none);
		if (judge_verdict(&j, &p, NULL) == JUDGE_TRIP)
			break;
	}
	CHECK(n <= 10);
}

/* a trip stays: the verdict does not come back */
TEST(test_trip_is_kept)
{
	struct judge_policy p = defaults();
	struct judge j;
	struct judge_counts c = counts(10, 10), s = counts(90, 0), good = counts(1000, 0);
	int i;

	judge_init(&j);
	judge_feed(&j, &p, &c, &s);
	CHECK_EQ_INT(judge_verdict(&j, &p, NULL), JUDGE_TRIP);
	for (i = 0; i < 100; i++)
		judge_feed(&j, &p, &good, &good);
	CHECK_EQ_INT(judge_verdict(&j, &p, NULL), JUDGE_TRIP);
	judge_step(&j);
	CHECK_EQ_INT(judge_verdict(&j, &p, NULL), JUDGE_TRIP);
	judge_init(&j);
	CHECK_EQ_INT(judge_verdict(&j, &p, NULL), JUDGE_INCONCLUSIVE);
}

/* the ratio: the candidate's share of errors far above its share of
 * requests trips it, though its own rate (4%) is within max_error_rate */
TEST(test_ratio_trips_within_the_rate)
{
	struct judge_policy p = defaults();
	struct judge j;
	struct judge_counts c = counts(25, 1), s = counts(475, 1);  /* 4% against 0.2% */
	enum judge_check which = JUDGE_NCHECKS;
	int i;

	judge_init(&j);
	for (i = 0; i < 200 && judge_verdict(&j, &p, &which) != JUDGE_TRIP; i++)
		judge_feed(&j, &p, &c, &s);
	CHECK_EQ_INT(judge_verdict(&j, &p, NULL), JUDGE_TRIP);
	CHECK_EQ_INT(which, JUDGE_ERROR_RATIO);
	/* with the ratio off the same data are inconclusive or clean, never a trip */
	p.max_error_ratio = 0;
	judge_init(&j);
	for (i = 0; i < 200; i++)
		judge_feed(&j, &p, &c, &s);
	CHECK(judge_verdict(&j, &p, NULL) != JUDGE_TRIP);
}

/* the ratio compares errors within the exposure they came from: errors
 * wait until both pools had JUDGE_RATIO_BATCH requests */
TEST(test_ratio_waits_for_both_pools)
{
	struct judge_policy p = defaults();
	struct judge j;
	struct judge_counts c = counts(1, 0), s = counts(0, 0), s1 = counts(1, 1);
	int i;

	p.max_error_rate = 1;         /* the ratio alone */
	judge_init(&j);
	for (i = 0; i < JUDGE_RATIO_BATCH; i++)
		judge_feed(&j, &p, &c, &s);
	CHECK_EQ_INT(j.t[JUDGE_ERROR_RATIO].beyond.n, 0);
	CHECK_EQ_INT(j.pend_cand.requests, JUDGE_RATIO_BATCH);
	for (i = 0; i < JUDGE_RATIO_BATCH - 1; i++)
		judge_feed(&j, &p, &s, &s1);
	CHECK_EQ_INT(j.t[JUDGE_ERROR_RATIO].beyond.n, 0);
	judge_feed(&j, &p, &s, &s1);
	CHECK_EQ_INT(j.t[JUDGE_ERROR_RATIO].beyond.n, JUDGE_RATIO_BATCH);
	CHECK_EQ_INT(j.t[JUDGE_ERROR_RATIO].beyond.k, 0);
	CHECK_EQ_INT(j.pend_cand.requests, 0);
	CHECK_EQ_INT(j.pend_stable.requests, 0);
}

/* equal pools: clean in time, by the rate and by the ratio's floor, never a trip */
TEST(test_equal_pools_come_clean)
{
	struct judge_policy p = defaults();
	struct judge j;
	struct judge_counts c = counts(10, 0), s = counts(90, 0);
	int i;

	judge_init(&j);
	CHECK_EQ_INT(judge_need(&j, &p), UINT64_MAX);   /* nothing seen: no estimate */
	for (i = 0; i < 2000 && judge_verdict(&j, &p, NULL) != JUDGE_CLEAN; i++) {
		judge_feed(&j, &p, &c, &s);
		if (i == 20)
			CHECK(judge_need(&j, &p) > 0 && judge_need(&j, &p) < 10000);
	}
	CHECK_EQ_INT(judge_verdict(&j, &p, NULL), JUDGE_CLEAN);
	CHECK_EQ_INT(judge_need(&j, &p), 0);
	CHECK(j.step_requests < 2000);
	/* a new step asks for its own evidence */
	judge_step(&j);
	CHECK_EQ_INT(judge_verdict(&j, &p, NULL), JUDGE_INCONCLUSIVE);
	CHECK_EQ_INT(j.step_requests, 0);
	CHECK_EQ_INT(j.t[JUDGE_ERROR_RATE].within.n, 0);
	CHECK(j.t[JUDGE_ERROR_RATE].beyond.n > 0);
}

/* a candidate exactly at a limit is never shown within it */
TEST(test_at_the_limit_stays_inconclusive)
{
	struct judge_policy p = defaults();
	struct judge j;
	struct judge_counts c = counts(20, 1), s = counts(20, 1);
	int i;

	p.max_error_ratio = 0;
	judge_init(&j);
	for (i = 0; i < 5000; i++)
		judge_feed(&j, &p, &c, &s);
	CHECK_EQ_INT(judge_verdict(&j, &p, NULL), JUDGE_INCONCLUSIVE);
	CHECK_EQ_INT(judge_need(&j, &p), UINT64_MAX);
}

/* the latency checks: shares above a bound, against 1% */
TEST(test_p99_checks)
{
	struct judge_policy p = defaults();
	struct judge j;
	struct judge_counts c = { .requests = 50, .slow = 5 }, s = counts(50, 0);
	enum judge_check which = JUDGE_NCHECKS;
	int on[JUDGE_NCHECKS], i;

	p.max_error_rate = 1;
	p.max_error_ratio = 0;
	p.max_p99_ms = 300;
	CHECK_EQ_INT(judge_checks_on(&p, on), 1);
	CHECK(fabs(judge_threshold(&p, JUDGE_P99, 1) - log(100.0)) < 1e-9);
	CHECK(fabs(judge_threshold(&p, JUDGE_P99, 0) - log(100.0)) < 1e-9);
	judge_init(&j);
	for (i = 0; i < 100 && judge_verdict(&j, &p, &which) != JUDGE_TRIP; i++)
		judge_feed(&j, &p, &c, &s);
	CHECK_EQ_INT(which, JUDGE_P99);
	p.max_p99_ms = 0;
	p.max_p99_ratio = 1.5;
	c.slow = 0;
	c.slow_ratio = 5;
	c.ratio_requests = 0;             /* no bound known yet: nothing judged */
	judge_init(&j);
	for (i = 0; i < 100; i++)
		judge_feed(&j, &p, &c, &s);
	CHECK_EQ_INT(j.t[JUDGE_P99_RATIO].beyond.n, 0);
	c.ratio_requests = 50;
	judge_init(&j);
	for (i = 0; i < 100 && judge_verdict(&j, &p, &which) != JUDGE_TRIP; i++)
		judge_feed(&j, &p, &c, &s);
	CHECK_EQ_INT(which, JUDGE_P99_RATIO);
}

/* the stable pool's bounds close in on its rate and always hold it */
TEST(test_stable_bounds)
{
	struct judge_policy p = { .alpha = 0.01, .max_error_rate = 1, .max_error_delta = 0.02 };
	struct judge j;
	struct judge_counts c = counts(0, 0), s = counts(100, 1);
	int i;

	judge_init(&j);
	CHECK(j.stable_hi == 1 && j.stable_lo == 0);
	for (i = 0; i < 1000; i++) {
		judge_feed(&j, &p, &c, &s);
		CHECK(j.stable_lo <= 0.01 && j.stable_hi >= 0.01);
	}
	CHECK(j.stable_hi < 0.02);
	CHECK(j.stable_lo > 0.005);
}

/* error_delta: 10% against 1% + 0.02 trips; 1% against 1% comes clean */
TEST(test_error_delta)
{
	struct judge_policy p = { .alpha = 0.01, .max_error_rate = 1, .max_error_delta = 0.02 };
	struct judge j;
	struct judge_counts bad = counts(10, 1), good = counts(100, 1), s = counts(100, 1);
	enum judge_check which = JUDGE_NCHECKS;
	int i;

	judge_init(&j);
	for (i = 0; i < 2000 && judge_verdict(&j, &p, &which) != JUDGE_TRIP; i++)
		judge_feed(&j, &p, &bad, &s);
	CHECK_EQ_INT(judge_verdict(&j, &p, NULL), JUDGE_TRIP);
	CHECK_EQ_INT(which, JUDGE_ERROR_DELTA);
	judge_init(&j);
	for (i = 0; i < 3000 && judge_verdict(&j, &p, NULL) == JUDGE_INCONCLUSIVE; i++)
		judge_feed(&j, &p, &good, &s);
	CHECK_EQ_INT(judge_verdict(&j, &p, NULL), JUDGE_CLEAN);
	for (i = 0; i < 3000; i++)
		judge_feed(&j, &p, &good, &s);
	CHECK(judge_verdict(&j, &p, NULL) != JUDGE_TRIP);
}

/* a candidate that fails every request after a long clean history is
 * caught in about as few of its requests as at the start (CONTRACT 15:
 * within 10), by the recent bettors; the same for one slow every time */
TEST(test_late_total_failure_within_ten)
{
	static const uint64_t history[] = { 3000, 100000, 1000000 };
	struct judge_policy p = defaults();
	struct judge_counts clean = counts(25, 0), bad = counts(1, 1), s = counts(100, 1);
	struct judge j;
	enum judge_check which = JUDGE_NCHECKS;
	char reason[512];
	size_t h;
	int i, n;

	for (h = 0; h < sizeof(history) / sizeof(history[0]); h++) {
		judge_init(&j);
		for (i = 0; i < (int)(history[h] / 25); i++)
			judge_feed(&j, &p, &clean, &s);
		CHECK_EQ_INT(judge_verdict(&j, &p, NULL), JUDGE_CLEAN);
		for (n = 0; n < 100 && judge_verdict(&j, &p, NULL) != JUDGE_TRIP; n++)
			judge_feed(&j, &p, &bad, &s);
		fprintf(stderr, "  after %llu clean requests: tripped after %d failures\n",
		    (unsigned long long)history[h], n);
		CHECK(n <= 10);
	}
	/* slow: every request above max_p99_ms after a clean history */
	p.max_p99_ms = 100;
	judge_init(&j);
	for (i = 0; i < 4000; i++)
		judge_feed(&j, &p, &clean, &s);
	bad.errors = 0;
	bad.slow = 1;
	for (n = 0; n < 100 && judge_verdict(&j, &p, &which) != JUDGE_TRIP; n++)
		judge_feed(&j, &p, &bad, &s);
	CHECK(n <= 10);
	/* its reason counts the slow requests */
	CHECK_EQ_INT(which, JUDGE_P99);
	judge_reason(&j, &p, which, "green", "blue", reason, sizeof(reason));
	CHECK(strstr(reason, "p99 beyond its limit: evidence ") == reason);
	CHECK(strstr(reason, "green 8 of 100008 slower than max_p99_ms") != NULL ||
	    strstr(reason, " slower than max_p99_ms, green 0 of ") != NULL);
}

/* the threshold is log(checks on / alpha) */
TEST(test_threshold_counts_the_checks_on)
{
	struct judge_policy p = defaults();
	int on[JUDGE_NCHECKS];

	CHECK_EQ_INT(judge_checks_on(&p, on), 2);
	/* a trip: error_rate a tenth of alpha, error_ratio nine tenths */
	CHECK(fabs(judge_threshold(&p, JUDGE_ERROR_RATE, 1) - log(1000.0)) < 1e-9);
	CHECK(fabs(judge_threshold(&p, JUDGE_ERROR_RATIO, 1) - log(1000.0 / 9)) < 1e-9);
	/* clean: alpha shared evenly */
	CHECK(fabs(judge_threshold(&p, JUDGE_ERROR_RATE, 0) - log(200.0)) < 1e-9);
	CHECK(fabs(judge_threshold(&p, JUDGE_ERROR_RATIO, 0) - log(200.0)) < 1e-9);
	/* the shares of alpha add up to alpha */
	{
		int is_on[JUDGE_NCHECKS], i;
		double sum = 0;

		judge_checks_on(&p, is_on);
		for (i = 0; i < JUDGE_NCHECKS; i++)
			if (is_on[i])
				sum += exp(-judge_threshold(&p, (enum judge_check)i, 1));
		CHECK(fabs(sum - p.alpha) < 1e-12);
	}
	p.max_p99_ms = 100;
	p.max_p99_ratio = 2;
	CHECK_EQ_INT(judge_checks_on(&p, on), 4);
	p.alpha = 0.05;
	CHECK(fabs(judge_threshold(&p, JUDGE_ERROR_RATE, 0) - log(80.0)) < 1e-9);
	CHECK(fabs(judge_threshold(&p, JUDGE_ERROR_RATE, 1) - log(28 / 0.05)) < 1e-9);
	p.max_error_delta = 0.01;
	CHECK_EQ_INT(judge_checks_on(&p, on), 5);
}

/* an event's evidence names every check that is on, its verdict and both
 * statistics against their bounds, and fits the event's field */
TEST(test_evidence_names_every_check)
{
	struct judge_policy p = defaults();
	struct judge j;
	struct judge_counts bad = counts(1, 1), s = counts(100, 1);
	char buf[1024];
	int i;

	judge_init(&j);
	for (i = 0; i < 20 && judge_verdict(&j, &p, NULL) != JUDGE_TRIP; i++)
		judge_feed(&j, &p, &bad, &s);
	judge_evidence(&j, &p, "green", "blue", buf, sizeof(buf));
	CHECK(strstr(buf, "alpha 0.01; ") == buf);
	CHECK(strstr(buf, "green 4 of 4 failed, blue 4 of 400") != NULL);
	CHECK(strstr(buf, "; error_rate trip: beyond ") != NULL);
	CHECK(strstr(buf, "; error_ratio ") != NULL);
	CHECK(strstr(buf, "error_delta") == NULL);
	CHECK(strstr(buf, "of 1e+03, within ") != NULL);
	p.max_error_delta = 0.01;
	p.max_p99_ms = 100;
	p.max_p99_ratio = 2;
	judge_evidence(&j, &p, "green", "blue", buf, sizeof(buf));
	CHECK(strstr(buf, "; p99_ratio inconclusive: beyond ") != NULL);
	CHECK(strlen(buf) < 600);
	/* a short buffer is cut, never overrun */
	judge_evidence(&j, &p, "green", "blue", buf, 40);
	CHECK_EQ_INT(strlen(buf), 39);
}

/* the simulator, small: equal pools never trip (the bound is 1% and the
 * seed is fixed), the threshold guard does; regressions are caught */
TEST(test_simulator_small)
{
	struct sim_figures fj, ft, fo;

	sim_run(sim_find("equal_4pct"), 60, 7, &fj, &ft, NULL);
	CHECK_EQ_INT(fj.trips, 0);
	CHECK(ft.trips > 30);
	sim_run(sim_find("up5_at10"), 60, 7, &fj, &ft, &fo);
	CHECK_EQ_INT(fj.trips, 60);
	CHECK(fj.median > 0 && fj.median < 20000);
	/* the oracle knows the rates: the judge never needs fewer requests */
	CHECK_EQ_INT(fo.rollouts, 60);
	CHECK_EQ_INT(fo.trips, 60);
	CHECK(fo.median > 0 && fo.median < fj.median && fo.p95 < fj.p95);
	/* no oracle where the pools are equal */
	sim_run(sim_find("equal_1pct"), 2, 7, &fj, &ft, &fo);
	CHECK_EQ_INT(fo.rollouts, 0);
	sim_run(sim_find("all_fail_at1"), 60, 7, &fj, &ft, NULL);
	CHECK_EQ_INT(fj.trips, 60);
	CHECK(fj.p95 < 2000);
}

int
main(void)
{
	RUN(test_bet_at_the_limit_does_not_grow);
	RUN(test_bet_grows_on_ones);
	RUN(test_bet_ignores_nonsense);
	RUN(test_failing_every_request_trips_within_ten);
	RUN(test_trip_is_kept);
	RUN(test_ratio_trips_within_the_rate);
	RUN(test_ratio_waits_for_both_pools);
	RUN(test_equal_pools_come_clean);
	RUN(test_at_the_limit_stays_inconclusive);
	RUN(test_p99_checks);
	RUN(test_stable_bounds);
	RUN(test_error_delta);
	RUN(test_threshold_counts_the_checks_on);
	RUN(test_late_total_failure_within_ten);
	RUN(test_evidence_names_every_check);
	RUN(test_simulator_small);
	return test_summary();
}
