/*
 * test_health.c - rise/fall hysteresis of the active health checks.
 */
#include "health_count.h"
#include "test.h"

TEST(fall_failed_checks_in_a_row_take_it_down)
{
	struct health_count c = { 0, 0 };

	CHECK_EQ_INT(health_count(&c, 0, 0, 2, 3), HEALTH_SAME);
	CHECK_EQ_INT(health_count(&c, 0, 0, 2, 3), HEALTH_SAME);
	CHECK_EQ_INT(health_count(&c, 0, 1, 2, 3), HEALTH_SAME);	/* a pass starts over */
	CHECK_EQ_INT(c.fails, 0);
	CHECK_EQ_INT(health_count(&c, 0, 0, 2, 3), HEALTH_SAME);
	CHECK_EQ_INT(health_count(&c, 0, 0, 2, 3), HEALTH_SAME);
	CHECK_EQ_INT(health_count(&c, 0, 0, 2, 3), HEALTH_DOWN);
	CHECK_EQ_INT(c.fails, 3);
	/* down already: more failures change nothing */
	CHECK_EQ_INT(health_count(&c, 1, 0, 2, 3), HEALTH_SAME);
}

TEST(rise_passed_checks_in_a_row_bring_it_back)
{
	struct health_count c = { 0, 5 };

	CHECK_EQ_INT(health_count(&c, 1, 1, 2, 3), HEALTH_SAME);
	CHECK_EQ_INT(c.fails, 0);
	CHECK_EQ_INT(health_count(&c, 1, 0, 2, 3), HEALTH_SAME);	/* a failure starts over */
	CHECK_EQ_INT(health_count(&c, 1, 1, 2, 3), HEALTH_SAME);
	CHECK_EQ_INT(health_count(&c, 1, 1, 2, 3), HEALTH_UP);
	CHECK_EQ_INT(c.passes, 2);
	CHECK_EQ_INT(health_count(&c, 0, 1, 2, 3), HEALTH_SAME);	/* up stays up */
}

TEST(rise_and_fall_of_one_flip_at_once)
{
	struct health_count c = { 0, 0 };

	CHECK_EQ_INT(health_count(&c, 0, 0, 1, 1), HEALTH_DOWN);
	CHECK_EQ_INT(health_count(&c, 1, 1, 1, 1), HEALTH_UP);
	CHECK_EQ_INT(health_count(&c, 0, 0, 1, 1), HEALTH_DOWN);
}

int
main(void)
{
	RUN(fall_failed_checks_in_a_row_take_it_down);
	RUN(rise_passed_checks_in_a_row_bring_it_back);
	RUN(rise_and_fall_of_one_flip_at_once);
	return test_summary();
}
