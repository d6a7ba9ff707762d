/*
 * test_rollout.c - the rollout schedule: argument parsing, every command in
 * every phase, the hold and request gates, baking and restarts.
 */
#include <string.h>

#include "rollout.h"
#include "test.h"

static const int six[] = { 100, 500, 1000, 2500, 5000, 10000 };

/* 1,5,10,25,50,100 held 30 s, started at t = 1000 ms with 7 requests seen. */
static void
start_six(struct rollout *r, int min_requests, int bake_s)
{
	memset(r, 0xa5, sizeof(*r));	/* start must not rely on a cleared struct */
	rollout_start(r, 1, six, 6, 0, 30, min_requests, bake_s, 1000, 7);
}

/* a rollout advanced to the last step before 100% and so baking since t */
static void
start_baking(struct rollout *r, int bake_s, uint64_t *t)
{
	static const int two[] = { 5000, 10000 };

	rollout_start(r, 1, two, 2, 0, 10, 0, bake_s, 0, 0);
	*t = 10000;
	rollout_tick(r, *t, 0);
}

static int
parse(const char *a0, const char *a1, const char *a2, const char *a3, int *steps,
    size_t *n, int *hold, char *err)
{
	char *argv[4] = { (char *)a0, (char *)a1, (char *)a2, (char *)a3 };
	int argc = a0 == NULL ? 0 : a1 == NULL ? 1 : a2 == NULL ? 2 : a3 == NULL ? 3 : 4;

	return rollout_parse_args(argc, argv, steps, n, hold, NULL, err, 256);
}

/* parse "steps VALUE" and report only success */
static int
steps_ok(const char *v)
{
	int steps[SPLIT_MAX_STEPS], hold = 0;
	size_t n = 0;
	char err[256];

	return parse("steps", v, NULL, NULL, steps, &n, &hold, err) == 0;
}

static int
hold_ok(const char *v, int *hold)
{
	int steps[SPLIT_MAX_STEPS];
	size_t n = 0;
	char err[256];

	return parse("hold", v, NULL, NULL, steps, &n, hold, err) == 0;
}

TEST(parse_nothing_keeps_defaults)
{
	int steps[SPLIT_MAX_STEPS] = { 42 }, hold = 60;
	size_t n = 1;
	char err[256] = "";

	CHECK_EQ_INT(parse(NULL, NULL, NULL, NULL, steps, &n, &hold, err), 0);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(steps[0], 42);
	CHECK_EQ_INT(hold, 60);
}

TEST(parse_steps_and_hold)
{
	int steps[SPLIT_MAX_STEPS], hold = 60;
	size_t n = 0;
	char err[256];

	CHECK_EQ_INT(parse("steps", "1,5,10,25,50,100", "hold", "30", steps, &n, &hold, err), 0);
	CHECK_EQ_INT(n, 6);
	CHECK(memcmp(steps, six, sizeof(six)) == 0);
	CHECK_EQ_INT(hold, 30);
}

TEST(parse_hold_before_steps)
{
	int steps[SPLIT_MAX_STEPS], hold = 60;
	size_t n = 0;
	char err[256];

	CHECK_EQ_INT(parse("hold", "0", "steps", "50,100", steps, &n, &hold, err), 0);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(steps[0], 5000);
	CHECK_EQ_INT(steps[1], 10000);
	CHECK_EQ_INT(hold, 0);
}

TEST(parse_only_one_keyword_fills_only_it)
{
	int steps[SPLIT_MAX_STEPS] = { 42 }, hold = 60;
	size_t n = 1;
	char err[256];

	CHECK_EQ_INT(parse("hold", "5", NULL, NULL, steps, &n, &hold, err), 0);
	CHECK_EQ_INT(hold, 5);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(steps[0], 42);
	CHECK_EQ_INT(parse("steps", "100", NULL, NULL, steps, &n, &hold, err), 0);
	CHECK_EQ_INT(hold, 5);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(steps[0], 10000);
}

TEST(parse_decimals)
{
	int steps[SPLIT_MAX_STEPS], hold = 0;
	size_t n = 0;
	char err[256];

	CHECK_EQ_INT(parse("steps", "0.01,0.5,2.5,33.33,99.99,100.00", NULL, NULL, steps, &n,
	    &hold, err), 0);
	CHECK_EQ_INT(n, 6);
	CHECK_EQ_INT(steps[0], 1);
	CHECK_EQ_INT(steps[1], 50);
	CHECK_EQ_INT(steps[2], 250);
	CHECK_EQ_INT(steps[3], 3333);
	CHECK_EQ_INT(steps[4], 9999);
	CHECK_EQ_INT(steps[5], 10000);
	CHECK(steps_ok("100"));
	CHECK(steps_ok("005,100"));
}

TEST(parse_bad_percentages)
{
	CHECK(!steps_ok("2.555,100"));		/* three decimals */
	CHECK(!steps_ok("0,100"));
	CHECK(!steps_ok("0.00,100"));
	CHECK(!steps_ok("100.01"));
	CHECK(!steps_ok("50,101"));
	CHECK(!steps_ok("1000"));
	CHECK(!steps_ok(""));
	CHECK(!steps_ok("1,,100"));
	CHECK(!steps_ok("1,100,"));
	CHECK(!steps_ok(",1,100"));
	CHECK(!steps_ok(".5,100"));
	CHECK(!steps_ok("5.,100"));
	CHECK(!steps_ok("1.2.3,100"));
	CHECK(!steps_ok("-1,100"));
	CHECK(!steps_ok("+1,100"));
	CHECK(!steps_ok(" 1,100"));
	CHECK(!steps_ok("1e1,100"));
	CHECK(!steps_ok("1;100"));
	CHECK(!steps_ok("00000000000000000000000000001,99999999999999999999999,100"));
}

TEST(parse_not_increasing)
{
	int steps[SPLIT_MAX_STEPS] = { 42 }, hold = 0;
	size_t n = 1;
	char err[256];

	CHECK_EQ_INT(parse("steps", "5,1,100", NULL, NULL, steps, &n, &hold, err), -1);
	CHECK_STR(err, "steps must be increasing percentages 0 < x <= 100 with at most two "
	    "decimals, ending at 100, at most 32, got \"5,1,100\"");
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(steps[0], 42);
	CHECK(!steps_ok("5,5,100"));
	CHECK(!steps_ok("5,100,100"));
	CHECK(!steps_ok("2.5,2.50,100"));
}

TEST(parse_last_not_100)
{
	CHECK(!steps_ok("1,5,50"));
	CHECK(!steps_ok("99.99"));
	CHECK(steps_ok("99.99,100"));
}

TEST(parse_at_most_32_steps)
{
	char buf[256];
	size_t len = 0;
	int i;

	/* 1,2,...,31,100 is 32 steps; one more in front makes 33 */
	for (i = 1; i <= 31; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%d,", i);
	snprintf(buf + len, sizeof(buf) - len, "100");
	CHECK(steps_ok(buf));
	memmove(buf + 4, buf, strlen(buf) + 1);
	memcpy(buf, "0.5,", 4);
	CHECK(!steps_ok(buf));
}

TEST(parse_duplicate_keyword)
{
	int steps[SPLIT_MAX_STEPS] = { 42 }, hold = 60;
	size_t n = 1;
	char err[256];

	CHECK_EQ_INT(parse("hold", "5", "hold", "6", steps, &n, &hold, err), -1);
	CHECK_STR(err, "\"hold\" given twice");
	CHECK_EQ_INT(hold, 60);
	CHECK_EQ_INT(parse("steps", "100", "steps", "50,100", steps, &n, &hold, err), -1);
	CHECK_STR(err, "\"steps\" given twice");
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(steps[0], 42);
}

TEST(parse_missing_value)
{
	int steps[SPLIT_MAX_STEPS] = { 42 }, hold = 60;
	size_t n = 1;
	char err[256];

	CHECK_EQ_INT(parse("steps", NULL, NULL, NULL, steps, &n, &hold, err), -1);
	CHECK_STR(err, "\"steps\" needs a value");
	CHECK_EQ_INT(parse("steps", "100", "hold", NULL, steps, &n, &hold, err), -1);
	CHECK_STR(err, "\"hold\" needs a value");
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(steps[0], 42);
	CHECK_EQ_INT(hold, 60);
}

TEST(parse_unknown_keyword)
{
	int steps[SPLIT_MAX_STEPS], hold = 60;
	size_t n = 0;
	char err[256];

	CHECK_EQ_INT(parse("foo", "1", NULL, NULL, steps, &n, &hold, err), -1);
	CHECK_STR(err, "unknown rollout option \"foo\"; use shadow PERCENT, steps A,B,C and hold SECONDS");
	CHECK_EQ_INT(parse("hold", "5", "STEPS", "100", steps, &n, &hold, err), -1);
	CHECK_STR(err, "unknown rollout option \"STEPS\"; use shadow PERCENT, steps A,B,C and hold SECONDS");
	CHECK_EQ_INT(hold, 60);
}

TEST(parse_hold_bounds)
{
	int steps[SPLIT_MAX_STEPS], hold = 60;
	size_t n = 0;
	char err[256];

	CHECK(hold_ok("0", &hold));
	CHECK_EQ_INT(hold, 0);
	CHECK(hold_ok("86400", &hold));
	CHECK_EQ_INT(hold, 86400);
	hold = 60;
	CHECK(!hold_ok("86401", &hold));
	CHECK(!hold_ok("", &hold));
	CHECK(!hold_ok("1.5", &hold));
	CHECK(!hold_ok("+5", &hold));
	CHECK(!hold_ok("5s", &hold));
	CHECK(!hold_ok("99999999999999999999999", &hold));
	CHECK_EQ_INT(hold, 60);
	CHECK_EQ_INT(parse("hold", "-3", NULL, NULL, steps, &n, &hold, err), -1);
	CHECK_STR(err, "hold must be 0..86400 seconds, got \"-3\"");
}

TEST(parse_error_writes_nothing)
{
	int steps[SPLIT_MAX_STEPS] = { 42 }, hold = 60;
	size_t n = 1;
	char err[256];

	/* a good steps value followed by a bad hold: steps stay as they were */
	CHECK_EQ_INT(parse("steps", "50,100", "hold", "x", steps, &n, &hold, err), -1);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(steps[0], 42);
	CHECK_EQ_INT(parse("hold", "5", "steps", "50", steps, &n, &hold, err), -1);
	CHECK_EQ_INT(hold, 60);
	/* a NULL or empty err buffer is tolerated */
	CHECK_EQ_INT(rollout_parse_args(1, (char *[]){ "x" }, steps, &n, &hold, NULL, NULL, 0), -1);
}

TEST(start_enters_step_zero)
{
	struct rollout r;

	start_six(&r, 3, 0);
	CHECK_EQ_INT(r.phase, RO_RUNNING);
	CHECK_EQ_INT(r.pool, 1);
	CHECK_EQ_INT(r.step, 0);
	CHECK_EQ_INT(r.nsteps, 6);
	CHECK_EQ_INT(r.hold_s, 30);
	CHECK_EQ_INT(r.min_requests, 3);
	CHECK_EQ_INT(r.step_start_ms, 1000);
	CHECK_EQ_INT(r.step_start_requests, 7);
	CHECK_EQ_INT(rollout_bp(&r), 100);
	CHECK_EQ_INT(rollout_start(&r, 0, six, 6, 0, 30, 0, 0, 5, 5), RA_SET);
	CHECK_EQ_INT(r.pool, 0);
}

TEST(start_at_100_bakes_at_once)
{
	struct rollout r;
	static const int hundred[] = { 10000 };

	CHECK_EQ_INT(rollout_start(&r, 1, hundred, 1, 0, 30, 0, 5, 2000, 0), RA_SET);
	CHECK_EQ_INT(r.phase, RO_BAKING);
	CHECK_EQ_INT(r.bake_start_ms, 2000);
	CHECK_EQ_INT(rollout_bp(&r), 10000);
	CHECK_EQ_INT(rollout_tick(&r, 6999, 0), RA_NONE);
	CHECK_EQ_INT(rollout_tick(&r, 7000, 0), RA_PROMOTE);
}

TEST(start_refuses_unusable_schedule)
{
	struct rollout r;
	int many[SPLIT_MAX_STEPS + 1] = { 0 };

	CHECK_EQ_INT(rollout_start(&r, 1, six, 0, 0, 30, 0, 0, 0, 0), RA_NONE);
	CHECK_EQ_INT(r.phase, RO_NONE);
	CHECK_EQ_INT(rollout_start(&r, 1, many, SPLIT_MAX_STEPS + 1, 0, 30, 0, 0, 0, 0), RA_NONE);
	CHECK_EQ_INT(r.phase, RO_NONE);
	CHECK_EQ_INT(rollout_bp(&r), 0);
}

TEST(none_phase_commands)
{
	struct rollout r, before;
	char err[128];
	int failed = 0;

	rollout_clear(&r);
	before = r;
	CHECK_EQ_INT(rollout_tick(&r, 1u << 30, 1000), RA_NONE);
	CHECK_EQ_INT(rollout_pause(&r, err, sizeof(err)), -1);
	CHECK_STR(err, "no rollout is running");
	CHECK_EQ_INT(rollout_resume(&r, 5, 5, err, sizeof(err)), -1);
	CHECK_STR(err, "no rollout is running");
	CHECK_EQ_INT(rollout_next(&r, 5, 5, err, sizeof(err), &failed), RA_NONE);
	CHECK_EQ_INT(failed, 1);
	CHECK_STR(err, "no rollout is running");
	CHECK_EQ_INT(rollout_bp(&r), 0);
	CHECK_EQ_INT(rollout_step_left_s(&r, 5), 0);
	rollout_clear(&r);
	CHECK(memcmp(&r, &before, sizeof(r)) == 0);
}

TEST(tick_waits_for_hold)
{
	struct rollout r;

	start_six(&r, 0, 0);
	CHECK_EQ_INT(rollout_tick(&r, 1000, 7), RA_NONE);
	CHECK_EQ_INT(rollout_tick(&r, 30999, 100), RA_NONE);
	CHECK_EQ_INT(r.step, 0);
	CHECK_EQ_INT(rollout_tick(&r, 31000, 100), RA_SET);
	CHECK_EQ_INT(r.step, 1);
	CHECK_EQ_INT(rollout_bp(&r), 500);
	CHECK_EQ_INT(r.step_start_ms, 31000);
	CHECK_EQ_INT(r.step_start_requests, 100);
	/* the next step's hold counts from its own start */
	CHECK_EQ_INT(rollout_tick(&r, 60999, 100), RA_NONE);
	CHECK_EQ_INT(rollout_tick(&r, 61000, 100), RA_SET);
	CHECK_EQ_INT(r.step, 2);
}

TEST(tick_waits_for_requests)
{
	struct rollout r;

	start_six(&r, 10, 0);
	CHECK_EQ_INT(rollout_tick(&r, 31000, 16), RA_NONE);	/* 9 since the start */
	CHECK_EQ_INT(rollout_tick(&r, 500000, 16), RA_NONE);
	CHECK_EQ_INT(r.step, 0);
	CHECK_EQ_INT(rollout_tick(&r, 500001, 17), RA_SET);
	CHECK_EQ_INT(r.step, 1);
	/* a counter that went backwards (a reset) never counts as traffic */
	CHECK_EQ_INT(rollout_tick(&r, 900000, 3), RA_NONE);
}

TEST(requests_count_from_step_start)
{
	struct rollout r;

	start_six(&r, 10, 0);
	/* 100 requests during step 0: step 1 must still see 10 of its own */
	CHECK_EQ_INT(rollout_tick(&r, 31000, 107), RA_SET);
	CHECK_EQ_INT(rollout_tick(&r, 61000, 116), RA_NONE);
	CHECK_EQ_INT(r.step, 1);
	CHECK_EQ_INT(rollout_tick(&r, 61000, 117), RA_SET);
	CHECK_EQ_INT(r.step, 2);
}

TEST(full_walk_reaches_baking)
{
	struct rollout r;
	int shares[8], n = 0, i;
	uint64_t t = 1000;

	start_six(&r, 0, 0);
	shares[n++] = rollout_bp(&r);
	for (i = 0; i < 1000 && r.phase == RO_RUNNING; i++) {
		t += 1000;
		if (rollout_tick(&r, t, 0) == RA_SET)
			shares[n++] = rollout_bp(&r);
	}
	CHECK_EQ_INT(r.phase, RO_BAKING);
	CHECK_EQ_INT(n, 6);
	for (i = 0; i < 6 && i < n; i++)
		CHECK_EQ_INT(shares[i], six[i]);
	CHECK_EQ_INT(t, 1000 + 5 * 30000);	/* five holds; 100% itself is not held */
	CHECK_EQ_INT(r.bake_start_ms, t);
	CHECK_EQ_INT(r.step, 5);
	CHECK_EQ_INT(rollout_tick(&r, t + 10000000, 0), RA_NONE);	/* bake_s = 0 */
}

TEST(one_step_per_tick)
{
	struct rollout r;

	start_six(&r, 0, 0);
	/* the control thread stalled for an hour: still one step at a time */
	CHECK_EQ_INT(rollout_tick(&r, 3600000, 7), RA_SET);
	CHECK_EQ_INT(r.step, 1);
	CHECK_EQ_INT(rollout_tick(&r, 3600000, 7), RA_NONE);
	CHECK_EQ_INT(r.step, 1);
}

TEST(hold_zero_advances_every_tick)
{
	struct rollout r;

	rollout_start(&r, 1, six, 6, 0, 0, 0, 0, 0, 0);
	CHECK_EQ_INT(rollout_tick(&r, 0, 0), RA_SET);
	CHECK_EQ_INT(r.step, 1);
	CHECK_EQ_INT(rollout_step_left_s(&r, 0), 0);
}

TEST(pause_in_every_phase)
{
	struct rollout r, before;
	char err[128];
	uint64_t t;

	start_six(&r, 0, 0);
	CHECK_EQ_INT(rollout_pause(&r, err, sizeof(err)), 0);
	CHECK_EQ_INT(r.phase, RO_PAUSED);
	before = r;
	CHECK_EQ_INT(rollout_pause(&r, err, sizeof(err)), -1);
	CHECK_STR(err, "the rollout is already paused");
	CHECK(memcmp(&r, &before, sizeof(r)) == 0);
	start_baking(&r, 0, &t);
	before = r;
	CHECK_EQ_INT(rollout_pause(&r, err, sizeof(err)), -1);
	CHECK_STR(err, "the rollout is baking at 100%; promote or revert");
	CHECK(memcmp(&r, &before, sizeof(r)) == 0);
	CHECK_EQ_INT(rollout_pause(&r, NULL, 0), -1);
}

TEST(paused_never_advances)
{
	struct rollout r;

	start_six(&r, 0, 0);
	rollout_pause(&r, NULL, 0);
	CHECK_EQ_INT(rollout_tick(&r, 31000, 1000), RA_NONE);
	CHECK_EQ_INT(rollout_tick(&r, 100000000, 100000), RA_NONE);
	CHECK_EQ_INT(r.step, 0);
	CHECK_EQ_INT(rollout_bp(&r), 100);
	CHECK_EQ_INT(rollout_step_left_s(&r, 100000000), 30);
}

TEST(resume_restarts_hold)
{
	struct rollout r;
	char err[128];

	start_six(&r, 5, 0);
	rollout_pause(&r, err, sizeof(err));
	CHECK_EQ_INT(rollout_resume(&r, 50000, 20, err, sizeof(err)), 0);
	CHECK_EQ_INT(r.phase, RO_RUNNING);
	CHECK_EQ_INT(r.step, 0);
	CHECK_EQ_INT(r.step_start_ms, 50000);
	CHECK_EQ_INT(r.step_start_requests, 20);
	/* the time and requests before the pause no longer count */
	CHECK_EQ_INT(rollout_tick(&r, 79999, 100), RA_NONE);
	CHECK_EQ_INT(rollout_tick(&r, 80000, 24), RA_NONE);
	CHECK_EQ_INT(rollout_tick(&r, 80000, 25), RA_SET);
	CHECK_EQ_INT(r.step, 1);
}

TEST(resume_in_wrong_phase)
{
	struct rollout r, before;
	char err[128];
	uint64_t t;

	start_six(&r, 0, 0);
	before = r;
	CHECK_EQ_INT(rollout_resume(&r, 9000, 9, err, sizeof(err)), -1);
	CHECK_STR(err, "the rollout is not paused");
	CHECK(memcmp(&r, &before, sizeof(r)) == 0);
	start_baking(&r, 0, &t);
	before = r;
	CHECK_EQ_INT(rollout_resume(&r, 9000, 9, err, sizeof(err)), -1);
	CHECK_STR(err, "the rollout is baking at 100%; promote or revert");
	CHECK(memcmp(&r, &before, sizeof(r)) == 0);
}

TEST(next_while_running)
{
	struct rollout r;
	char err[128];
	int failed = 1;

	start_six(&r, 100, 0);
	CHECK_EQ_INT(rollout_next(&r, 2000, 8, err, sizeof(err), &failed), RA_SET);
	CHECK_EQ_INT(failed, 0);
	CHECK_EQ_INT(r.phase, RO_RUNNING);
	CHECK_EQ_INT(r.step, 1);
	CHECK_EQ_INT(rollout_bp(&r), 500);
	CHECK_EQ_INT(r.step_start_ms, 2000);
	CHECK_EQ_INT(r.step_start_requests, 8);
}

TEST(next_while_paused_stays_paused)
{
	struct rollout r;
	char err[128];
	int failed = 1;

	start_six(&r, 0, 0);
	rollout_pause(&r, err, sizeof(err));
	CHECK_EQ_INT(rollout_next(&r, 2000, 8, err, sizeof(err), &failed), RA_SET);
	CHECK_EQ_INT(failed, 0);
	CHECK_EQ_INT(r.phase, RO_PAUSED);
	CHECK_EQ_INT(r.step, 1);
	CHECK_EQ_INT(rollout_tick(&r, 1000000, 8), RA_NONE);
	CHECK_EQ_INT(r.step, 1);
}

TEST(next_into_last_step_bakes)
{
	struct rollout r;
	char err[128];
	int failed, i;

	start_six(&r, 0, 0);
	rollout_pause(&r, err, sizeof(err));
	for (i = 1; i <= 5; i++) {
		CHECK_EQ_INT(rollout_next(&r, 2000 + (uint64_t)i, 8, err, sizeof(err), &failed),
		    RA_SET);
		CHECK_EQ_INT(rollout_bp(&r), six[i]);
	}
	CHECK_EQ_INT(r.phase, RO_BAKING);
	CHECK_EQ_INT(r.bake_start_ms, 2005);
}

TEST(next_refused_when_baking)
{
	struct rollout r, before;
	char err[128];
	int failed = 0;
	uint64_t t;

	start_baking(&r, 0, &t);
	before = r;
	CHECK_EQ_INT(rollout_next(&r, t + 1, 9, err, sizeof(err), &failed), RA_NONE);
	CHECK_EQ_INT(failed, 1);
	CHECK_STR(err, "the rollout is baking at 100%; promote or revert");
	CHECK(memcmp(&r, &before, sizeof(r)) == 0);
}

TEST(bake_promotes_after_bake_s)
{
	struct rollout r;
	uint64_t t;

	start_baking(&r, 60, &t);
	CHECK_EQ_INT(r.phase, RO_BAKING);
	CHECK_EQ_INT(rollout_bp(&r), 10000);
	CHECK_EQ_INT(rollout_tick(&r, t + 59999, 0), RA_NONE);
	CHECK_EQ_INT(rollout_tick(&r, t + 60000, 0), RA_PROMOTE);
	/* it keeps asking until the caller promotes and clears */
	CHECK_EQ_INT(rollout_tick(&r, t + 60250, 0), RA_PROMOTE);
	rollout_clear(&r);
	CHECK_EQ_INT(r.phase, RO_NONE);
	CHECK_EQ_INT(rollout_tick(&r, t + 60500, 0), RA_NONE);
}

TEST(bake_zero_never_promotes)
{
	struct rollout r;
	uint64_t t;

	start_baking(&r, 0, &t);
	CHECK_EQ_INT(rollout_tick(&r, t, 0), RA_NONE);
	CHECK_EQ_INT(rollout_tick(&r, UINT64_MAX / 2, 1000000), RA_NONE);
	CHECK_EQ_INT(r.phase, RO_BAKING);
	CHECK_EQ_INT(rollout_step_left_s(&r, t), 0);
}

TEST(clear_in_every_phase)
{
	struct rollout r;
	uint64_t t;

	start_six(&r, 0, 0);
	rollout_clear(&r);
	CHECK_EQ_INT(r.phase, RO_NONE);
	CHECK_EQ_INT(rollout_bp(&r), 0);
	start_six(&r, 0, 0);
	rollout_pause(&r, NULL, 0);
	rollout_clear(&r);
	CHECK_EQ_INT(r.phase, RO_NONE);
	CHECK_EQ_INT(rollout_bp(&r), 0);
	start_baking(&r, 5, &t);
	rollout_clear(&r);
	CHECK_EQ_INT(r.phase, RO_NONE);
	CHECK_EQ_INT(rollout_bp(&r), 0);
	CHECK_EQ_INT(rollout_tick(&r, t + 10000, 0), RA_NONE);
}

TEST(restore_running_at_step_k)
{
	struct rollout r;

	memset(&r, 0xa5, sizeof(r));
	rollout_restore(&r, 1, six, 6, 3, 30, 0, 0, 0, 0, 500, 40);
	CHECK_EQ_INT(r.phase, RO_RUNNING);
	CHECK_EQ_INT(r.step, 3);
	CHECK_EQ_INT(rollout_bp(&r), 2500);
	CHECK_EQ_INT(rollout_step_left_s(&r, 500), 30);
	/* the hold starts again at the restart */
	CHECK_EQ_INT(rollout_tick(&r, 30499, 40), RA_NONE);
	CHECK_EQ_INT(rollout_tick(&r, 30500, 40), RA_SET);
	CHECK_EQ_INT(r.step, 4);
}

TEST(restore_paused_at_step_k)
{
	struct rollout r;
	char err[128];

	rollout_restore(&r, 1, six, 6, 2, 30, 1, 0, 5, 0, 500, 40);
	CHECK_EQ_INT(r.phase, RO_PAUSED);
	CHECK_EQ_INT(r.step, 2);
	CHECK_EQ_INT(rollout_bp(&r), 1000);
	CHECK_EQ_INT(rollout_tick(&r, 10000000, 1000), RA_NONE);
	CHECK_EQ_INT(rollout_resume(&r, 20000, 50, err, sizeof(err)), 0);
	CHECK_EQ_INT(rollout_tick(&r, 50000, 54), RA_NONE);
	CHECK_EQ_INT(rollout_tick(&r, 50000, 55), RA_SET);
	CHECK_EQ_INT(r.step, 3);
}

TEST(restore_baking)
{
	struct rollout r;

	rollout_restore(&r, 1, six, 6, 5, 30, 0, 1, 0, 60, 7000, 0);
	CHECK_EQ_INT(r.phase, RO_BAKING);
	CHECK_EQ_INT(r.step, 5);
	CHECK_EQ_INT(rollout_bp(&r), 10000);
	CHECK_EQ_INT(r.bake_start_ms, 7000);	/* the bake timer starts again too */
	CHECK_EQ_INT(rollout_tick(&r, 66999, 0), RA_NONE);
	CHECK_EQ_INT(rollout_tick(&r, 67000, 0), RA_PROMOTE);
}

TEST(restore_odd_state_files)
{
	struct rollout r;

	/* baking wins over paused, and baking means the last step */
	rollout_restore(&r, 1, six, 6, 2, 30, 1, 1, 0, 0, 0, 0);
	CHECK_EQ_INT(r.phase, RO_BAKING);
	CHECK_EQ_INT(r.step, 5);
	/* the last step is baking even if the flag was lost */
	rollout_restore(&r, 1, six, 6, 5, 30, 1, 0, 0, 0, 0, 0);
	CHECK_EQ_INT(r.phase, RO_BAKING);
	/* out-of-range steps are clamped, never read out of bounds */
	rollout_restore(&r, 1, six, 6, 99, 30, 0, 0, 0, 0, 0, 0);
	CHECK_EQ_INT(r.step, 5);
	rollout_restore(&r, 1, six, 6, -4, 30, 0, 0, 0, 0, 0, 0);
	CHECK_EQ_INT(r.phase, RO_RUNNING);
	CHECK_EQ_INT(r.step, 0);
	rollout_restore(&r, 1, six, 0, 0, 30, 0, 0, 0, 0, 0, 0);
	CHECK_EQ_INT(r.phase, RO_NONE);
}

TEST(step_left_seconds)
{
	struct rollout r;

	start_six(&r, 0, 0);
	CHECK_EQ_INT(rollout_step_left_s(&r, 1000), 30);
	CHECK_EQ_INT(rollout_step_left_s(&r, 1001), 30);	/* rounded up */
	CHECK_EQ_INT(rollout_step_left_s(&r, 2000), 29);
	CHECK_EQ_INT(rollout_step_left_s(&r, 30999), 1);
	CHECK_EQ_INT(rollout_step_left_s(&r, 31000), 0);
	CHECK_EQ_INT(rollout_step_left_s(&r, 99000), 0);
	CHECK_EQ_INT(rollout_step_left_s(&r, 0), 30);		/* clock behind the start */
}

/* rollout start after a manual share: the first step at or above it */
TEST(first_step_at_or_above_current_share)
{
	static const int steps6[] = { 100, 500, 1000, 2500, 5000, 10000 };

	CHECK_EQ_INT(rollout_first_step(steps6, 6, 0), 0);
	CHECK_EQ_INT(rollout_first_step(steps6, 6, 100), 0);
	CHECK_EQ_INT(rollout_first_step(steps6, 6, 101), 1);
	CHECK_EQ_INT(rollout_first_step(steps6, 6, 2000), 3);
	CHECK_EQ_INT(rollout_first_step(steps6, 6, 2500), 3);
	CHECK_EQ_INT(rollout_first_step(steps6, 6, 10000), 5);
	CHECK_EQ_INT(rollout_first_step(steps6, 0, 10000), 0);
}

TEST(start_at_a_later_step_and_count_its_requests)
{
	struct rollout r;

	CHECK_EQ_INT(rollout_start(&r, 1, six, 6, 3, 30, 20, 0, 1000, 50), RA_SET);
	CHECK_EQ_INT(r.step, 3);
	CHECK_EQ_INT(rollout_bp(&r), 2500);
	CHECK_EQ_INT(rollout_step_requests(&r, 50), 0);
	CHECK_EQ_INT(rollout_step_requests(&r, 63), 13);
	CHECK_EQ_INT(rollout_step_requests(&r, 10), 0);    /* counter went backwards */
	/* a start index past the end clamps to the last step: baking */
	CHECK_EQ_INT(rollout_start(&r, 1, six, 6, 9, 30, 20, 0, 1000, 50), RA_SET);
	CHECK_EQ_INT(r.phase, RO_BAKING);
	rollout_clear(&r);
	CHECK_EQ_INT(rollout_step_requests(&r, 99), 0);
}

TEST(step_back_holds_the_step_before)
{
	struct rollout r;

	rollout_start(&r, 1, six, 6, 0, 30, 10, 0, 1000, 50);
	CHECK_EQ_INT(rollout_step_back(&r, 2000, 60), -1);   /* the first step: nothing before */
	CHECK_EQ_INT(r.phase, RO_RUNNING);
	rollout_next(&r, 3000, 70, NULL, 0, &(int){ 0 });
	rollout_next(&r, 3000, 70, NULL, 0, &(int){ 0 });
	CHECK_EQ_INT(r.step, 2);
	CHECK_EQ_INT(rollout_step_back(&r, 4000, 80), 0);
	CHECK_EQ_INT(r.step, 1);
	CHECK_EQ_INT(r.phase, RO_PAUSED);
	CHECK_EQ_INT(rollout_bp(&r), six[1]);
	CHECK_EQ_INT(r.step_start_ms, 4000);
	CHECK_EQ_INT(rollout_step_requests(&r, 85), 5);
	/* from baking at 100%: the step before the last */
	rollout_start(&r, 1, six, 6, 5, 30, 10, 0, 1000, 50);
	CHECK_EQ_INT(r.phase, RO_BAKING);
	CHECK_EQ_INT(rollout_step_back(&r, 2000, 60), 0);
	CHECK_EQ_INT(r.step, 4);
	CHECK_EQ_INT(r.phase, RO_PAUSED);
	CHECK_EQ_INT(rollout_bp(&r), six[4]);
	rollout_clear(&r);
	CHECK_EQ_INT(rollout_step_back(&r, 2000, 60), -1);
}

TEST(parse_shadow)
{
	int steps[SPLIT_MAX_STEPS] = { 0 }, hold = 7, shadow = 0;
	size_t n = 0;
	char err[256];
	char *ok[] = { "shadow", "12.5", "hold", "30" };
	char *zero[] = { "shadow", "0" };
	char *big[] = { "shadow", "100.01" };

	CHECK_EQ_INT(rollout_parse_args(4, ok, steps, &n, &hold, &shadow, err, 256), 0);
	CHECK_EQ_INT(shadow, 1250);
	CHECK_EQ_INT(hold, 30);
	CHECK_EQ_INT((int)n, 0);
	shadow = 3;
	CHECK_EQ_INT(rollout_parse_args(2, zero, steps, &n, &hold, &shadow, err, 256), -1);
	CHECK(strstr(err, "shadow must be a percentage") != NULL);
	CHECK_EQ_INT(rollout_parse_args(2, big, steps, &n, &hold, &shadow, err, 256), -1);
	CHECK_EQ_INT(shadow, 3);	/* a refused line writes nothing */
}

TEST(shadow_phase_then_first_step)
{
	struct rollout r;
	int failed;

	start_six(&r, 10, 0);
	rollout_shadow(&r, 500, 2000, 7);
	CHECK_EQ_INT(r.phase, RO_RUNNING);
	CHECK_EQ_INT(r.step, 0);
	CHECK_EQ_INT(rollout_bp(&r), 0);		/* no user */
	CHECK_EQ_INT(rollout_mirror_bp(&r), 500);
	/* the hold and the count (of copies) gate the phase like a step */
	CHECK_EQ_INT(rollout_tick(&r, 31999, 100), RA_NONE);
	CHECK_EQ_INT(rollout_tick(&r, 32000, 16), RA_NONE);
	CHECK_EQ_INT(rollout_tick(&r, 32000, 17), RA_SET);
	CHECK_EQ_INT(r.step, 0);
	CHECK_EQ_INT(rollout_bp(&r), six[0]);
	CHECK_EQ_INT(rollout_mirror_bp(&r), 0);
	CHECK_EQ_INT(r.step_start_ms, 32000);
	CHECK_EQ_INT(rollout_step_requests(&r, 20), 3);
	/* next from the phase: the first live step, paused stays paused */
	start_six(&r, 0, 0);
	rollout_shadow(&r, 10000, 1000, 0);
	CHECK_EQ_INT(rollout_pause(&r, NULL, 0), 0);
	CHECK_EQ_INT(rollout_next(&r, 5000, 0, NULL, 0, &failed), RA_SET);
	CHECK_EQ_INT(failed, 0);
	CHECK_EQ_INT(r.phase, RO_PAUSED);
	CHECK_EQ_INT(r.step, 0);
	CHECK_EQ_INT(rollout_bp(&r), six[0]);
}

TEST(shadow_phase_step_back_and_one_step)
{
	static const int hundred[] = { 10000 };
	struct rollout r;

	/* back from the phase, or from the first live step after it: revert */
	start_six(&r, 0, 0);
	rollout_shadow(&r, 100, 1000, 0);
	CHECK_EQ_INT(rollout_step_back(&r, 2000, 0), -1);
	CHECK_EQ_INT(rollout_tick(&r, 40000, 0), RA_SET);
	CHECK_EQ_INT(rollout_step_back(&r, 41000, 0), -1);
	/* a rollout straight to 100% copies first, then bakes */
	rollout_start(&r, 1, hundred, 1, 0, 5, 0, 0, 0, 0);
	CHECK_EQ_INT(r.phase, RO_BAKING);
	rollout_shadow(&r, 2000, 0, 0);
	CHECK_EQ_INT(r.phase, RO_RUNNING);
	CHECK_EQ_INT(rollout_bp(&r), 0);
	CHECK_EQ_INT(rollout_step_left_s(&r, 1000), 4);
	CHECK_EQ_INT(rollout_tick(&r, 5000, 0), RA_SET);
	CHECK_EQ_INT(r.phase, RO_BAKING);
	CHECK_EQ_INT(rollout_bp(&r), 10000);
	/* resume in the phase starts its hold again, still without a user */
	start_six(&r, 0, 0);
	rollout_shadow(&r, 100, 1000, 0);
	CHECK_EQ_INT(rollout_pause(&r, NULL, 0), 0);
	CHECK_EQ_INT(rollout_resume(&r, 9000, 0, NULL, 0), 0);
	CHECK_EQ_INT(r.step_start_ms, 9000);
	CHECK_EQ_INT(rollout_bp(&r), 0);
	CHECK_EQ_INT(rollout_mirror_bp(&r), 100);
	/* no rollout, no shadow */
	rollout_clear(&r);
	rollout_shadow(&r, 100, 0, 0);
	CHECK_EQ_INT(rollout_mirror_bp(&r), 0);
}

int
main(void)
{
	RUN(parse_nothing_keeps_defaults);
	RUN(parse_steps_and_hold);
	RUN(parse_hold_before_steps);
	RUN(parse_only_one_keyword_fills_only_it);
	RUN(parse_decimals);
	RUN(parse_bad_percentages);
	RUN(parse_not_increasing);
	RUN(parse_last_not_100);
	RUN(parse_at_most_32_steps);
	RUN(parse_duplicate_keyword);
	RUN(parse_missing_value);
	RUN(parse_unknown_keyword);
	RUN(parse_hold_bounds);
	RUN(parse_error_writes_nothing);
	RUN(start_enters_step_zero);
	RUN(start_at_100_bakes_at_once);
	RUN(start_refuses_unusable_schedule);
	RUN(none_phase_commands);
	RUN(tick_waits_for_hold);
	RUN(tick_waits_for_requests);
	RUN(requests_count_from_step_start);
	RUN(full_walk_reaches_baking);
	RUN(one_step_per_tick);
	RUN(hold_zero_advances_every_tick);
	RUN(pause_in_every_phase);
	RUN(paused_never_advances);
	RUN(resume_restarts_hold);
	RUN(resume_in_wrong_phase);
	RUN(next_while_running);
	RUN(next_while_paused_stays_paused);
	RUN(next_into_last_step_bakes);
	RUN(next_refused_when_baking);
	RUN(bake_promotes_after_bake_s);
	RUN(bake_zero_never_promotes);
	RUN(clear_in_every_phase);
	RUN(restore_running_at_step_k);
	RUN(restore_paused_at_step_k);
	RUN(restore_baking);
	RUN(restore_odd_state_files);
	RUN(step_left_seconds);
	RUN(first_step_at_or_above_current_share);
	RUN(start_at_a_later_step_and_count_its_requests);
	RUN(step_back_holds_the_step_before);
	RUN(parse_shadow);
	RUN(shadow_phase_then_first_step);
	RUN(shadow_phase_step_back_and_one_step);
	return test_summary();
}
