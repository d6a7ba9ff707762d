/* Unit tests for route.c: buckets, shares, stickiness, monotonic ramp, cookies. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "route.h"
#include "test.h"

static void
make_key(char *buf, int i)
{
	snprintf(buf, 32, "user-%08d", i);
}

TEST(test_bucket_fixed)
{
	/* the hash is part of the contract: these values must never change */
	uint32_t a = route_bucket("abc", 3), b = route_bucket("abc", 3);

	CHECK_EQ_INT(a, b);
	CHECK(a < ROUTE_BUCKETS);
	CHECK_EQ_INT(route_bucket("", 0), route_bucket("", 0));
	CHECK(route_bucket("abc", 3) != route_bucket("abd", 3) ||
	    route_bucket("abc", 3) != route_bucket("abe", 3));
}

TEST(test_bucket_uniform)
{
	static int hist[10];
	char key[32];
	int i;

	memset(hist, 0, sizeof(hist));
	for (i = 0; i < 100000; i++) {
		make_key(key, i);
		hist[route_bucket(key, strlen(key)) / 1000]++;
	}
	for (i = 0; i < 10; i++)
		CHECK(hist[i] > 9500 && hist[i] < 10500);
}

TEST(test_shares_within_tolerance)
{
	static const int bps[] = { 100, 500, 1000, 2500, 5000, 9000 };
	char key[32];
	size_t k;
	int i;

	for (k = 0; k < sizeof(bps) / sizeof(bps[0]); k++) {
		int cand = 0;

		for (i = 0; i < 50000; i++) {
			make_key(key, i);
			cand += route_bucket_is_candidate(route_bucket(key, strlen(key)), bps[k]);
		}
		/* expected share +- 0.6 percentage points */
		CHECK(cand > 50000 * (bps[k] - 60) / 10000 && cand < 50000 * (bps[k] + 60) / 10000);
	}
}

TEST(test_monotonic_ramp)
{
	static const int steps[] = { 0, 100, 500, 1000, 2500, 5000, 10000 };
	char key[32];
	int i;
	size_t k;

	for (i = 0; i < 20000; i++) {
		uint32_t b;

		make_key(key, i);
		b = route_bucket(key, strlen(key));
		for (k = 1; k < sizeof(steps) / sizeof(steps[0]); k++) {
			/* once on the candidate, a higher share keeps it there */
			if (route_bucket_is_candidate(b, steps[k - 1]))
				CHECK(route_bucket_is_candidate(b, steps[k]));
		}
	}
	CHECK(!route_bucket_is_candidate(0, 0));
	CHECK(route_bucket_is_candidate(9999, 10000));
}

TEST(test_cookie_find)
{
	const char *v;
	size_t n;
	const char *h1 = "a=1; bgp=KEY123; c=3";
	const char *h2 = "bgpx=no; xbgp=no";
	const char *h3 = "bgp=\"quoted\"";
	const char *h4 = "  bgp = spaced ;";
	const char *h5 = "novalue; bgp=";

	CHECK(route_cookie_find(h1, strlen(h1), "bgp", 3, &v, &n));
	CHECK(n == 6 && memcmp(v, "KEY123", 6) == 0);
	CHECK(!route_cookie_find(h2, strlen(h2), "bgp", 3, &v, &n));
	CHECK(route_cookie_find(h3, strlen(h3), "bgp", 3, &v, &n));
	CHECK(n == 6 && memcmp(v, "quoted", 6) == 0);
	CHECK(route_cookie_find(h4, strlen(h4), "bgp", 3, &v, &n));
	CHECK(n == 6 && memcmp(v, "spaced", 6) == 0);
	CHECK(route_cookie_find(h5, strlen(h5), "bgp", 3, &v, &n));
	CHECK_EQ_INT(n, 0);
	CHECK(!route_key_valid(v, n));
}

TEST(test_key_valid)
{
	char k[ROUTE_KEY_LEN];

	route_new_key(k, 0x0123456789abcdefULL, 0xfedcba9876543210ULL);
	CHECK(route_key_valid(k, sizeof(k)));
	CHECK(!route_key_valid("a b", 3));
	CHECK(!route_key_valid("a;b", 3));
	CHECK(!route_key_valid("a\"b", 3));
	CHECK(route_key_valid("abc-_.", 6));
}

TEST(test_parse_pool)
{
	CHECK_EQ_INT(route_parse_pool("blue", 4), 0);
	CHECK_EQ_INT(route_parse_pool("GREEN", 5), 1);
	CHECK_EQ_INT(route_parse_pool("red", 3), -1);
	CHECK_EQ_INT(route_parse_pool("blu", 3), -1);
}

TEST(test_rng_keys_differ)
{
	struct route_rng r;
	char a[ROUTE_KEY_LEN], b[ROUTE_KEY_LEN];

	route_rng_seed(&r, 42);
	route_new_key(a, route_rng_next(&r), route_rng_next(&r));
	route_new_key(b, route_rng_next(&r), route_rng_next(&r));
	CHECK(memcmp(a, b, sizeof(a)) != 0);
}

int
main(void)
{
	RUN(test_bucket_fixed);
	RUN(test_bucket_uniform);
	RUN(test_shares_within_tolerance);
	RUN(test_monotonic_ramp);
	RUN(test_cookie_find);
	RUN(test_key_valid);
	RUN(test_parse_pool);
	RUN(test_rng_keys_differ);
	return test_summary();
}
