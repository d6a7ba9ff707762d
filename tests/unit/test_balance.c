/* Unit tests for balance.c: smooth weighted round-robin. */
#include <string.h>

#include "balance.h"
#include "test.h"

TEST(test_equal_weights_alternate)
{
	int cur[3] = { 0 }, w[3] = { 1, 1, 1 };
	unsigned char up[3] = { 1, 1, 1 };
	int i, seen[3] = { 0 };

	for (i = 0; i < 9; i++)
		seen[balance_pick(cur, w, up, 3)]++;
	CHECK(seen[0] == 3 && seen[1] == 3 && seen[2] == 3);
}

TEST(test_smooth_interleave)
{
	int cur[3] = { 0 }, w[3] = { 5, 1, 1 };
	unsigned char up[3] = { 1, 1, 1 };
	int seq[7], i;
	static const int want[7] = { 0, 0, 1, 0, 2, 0, 0 };

	for (i = 0; i < 7; i++)
		seq[i] = balance_pick(cur, w, up, 3);
	for (i = 0; i < 7; i++)
		CHECK_EQ_INT(seq[i], want[i]);
}

TEST(test_weights_respected_over_time)
{
	int cur[2] = { 0 }, w[2] = { 3, 1 };
	unsigned char up[2] = { 1, 1 };
	int i, seen[2] = { 0 };

	for (i = 0; i < 4000; i++)
		seen[balance_pick(cur, w, up, 2)]++;
	CHECK_EQ_INT(seen[0], 3000);
	CHECK_EQ_INT(seen[1], 1000);
}

TEST(test_skips_unusable)
{
	int cur[3] = { 0 }, w[3] = { 1, 1, 1 };
	unsigned char up[3] = { 1, 0, 1 };
	int i;

	for (i = 0; i < 10; i++)
		CHECK(balance_pick(cur, w, up, 3) != 1);
	up[0] = up[2] = 0;
	CHECK_EQ_INT(balance_pick(cur, w, up, 3), -1);
	CHECK_EQ_INT(balance_pick(cur, w, up, 0), -1);
}

TEST(test_server_comes_back)
{
	int cur[2] = { 0 }, w[2] = { 1, 1 };
	unsigned char up[2] = { 1, 0 };
	int i, seen[2] = { 0 };

	for (i = 0; i < 5; i++)
		balance_pick(cur, w, up, 2);
	up[1] = 1;
	for (i = 0; i < 100; i++)
		seen[balance_pick(cur, w, up, 2)]++;
	CHECK(seen[0] >= 48 && seen[0] <= 52);
}

int
main(void)
{
	RUN(test_equal_weights_alternate);
	RUN(test_smooth_interleave);
	RUN(test_weights_respected_over_time);
	RUN(test_skips_unusable);
	RUN(test_server_comes_back);
	return test_summary();
}
