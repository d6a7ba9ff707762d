/* Unit tests for route.c: buckets, shares, stickiness, monotonic ramp, cookies. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "http_parse.h"
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

/* the routing inputs of a parsed head: the first valid cookie key, the
 * first non-empty key header, the override header's pool */
TEST(test_scan)
{
	static struct http_msg m;
	struct http_limits lim = { 65536, 100 };
	struct route_names nm = { "bgp", "X-Key", "X-Bgproxy-Pool", 3, 5, 14 };
	struct route_in in = { .override = 7 };
	static const char head[] = "GET / HTTP/1.1\r\nHost: a\r\nCookie: x=1; bgp=a\\b\r\n"
	    "Cookie: bgp=k17\r\nx-key: \r\nX-KEY: user42\r\nx-bgproxy-pool: green\r\n\r\n";
	static const char none[] = "GET / HTTP/1.1\r\nHost: a\r\nCookie: other=1\r\n\r\n";

	CHECK(http_parse_request(head, sizeof(head) - 1, &lim, &m) > 0);
	route_scan(&m, &nm, &in);
	CHECK(in.cookie_key != NULL && in.cookie_len == 3 && memcmp(in.cookie_key, "k17", 3) == 0);
	CHECK(in.header_key != NULL && in.header_len == 6 &&
	    memcmp(in.header_key, "user42", 6) == 0);
	CHECK_EQ_INT(in.override, 1);
	/* nothing there: no key, no override; names not configured: not read */
	CHECK(http_parse_request(none, sizeof(none) - 1, &lim, &m) > 0);
	route_scan(&m, &nm, &in);
	CHECK(in.cookie_key == NULL && in.header_key == NULL);
	CHECK_EQ_INT(in.override, -1);
	nm.cookie_len = nm.header_len = nm.override_len = 0;
	CHECK(http_parse_request(head, sizeof(head) - 1, &lim, &m) > 0);
	route_scan(&m, &nm, &in);
	CHECK(in.cookie_key == NULL && in.header_key == NULL);
	CHECK_EQ_INT(in.override, -1);
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

/* A key of bucket below (or at and above) 500: the candidate at 5% gets it (or not). */
static void
key_in(int below, char *buf, size_t *len)
{
	int i;

	for (i = 0;; i++) {
		*len = (size_t)snprintf(buf, 32, "k%d", i);
		if ((route_bucket(buf, *len) < 500) == below)
			return;
	}
}

TEST(test_decide_order)
{
	struct route_rng r;
	struct route_out o;
	char cand[32], stab[32];
	size_t cl, sl;
	struct route_in in = { .stable = 0, .candidate_bp = 500, .override = -1, .cookies = 1 };

	route_rng_seed(&r, 7);
	key_in(1, cand, &cl);
	key_in(0, stab, &sl);
	/* the cookie's key decides by its bucket */
	in.cookie_key = cand;
	in.cookie_len = cl;
	route_decide(&in, &r, &o);
	CHECK_EQ_INT(o.pool, 1);
	CHECK_EQ_INT(o.why, ROUTE_WHY_COOKIE);
	CHECK(!o.new_key);
	/* the cookie wins over the header */
	in.header_key = stab;
	in.header_len = sl;
	route_decide(&in, &r, &o);
	CHECK_EQ_INT(o.pool, 1);
	in.cookie_key = NULL;
	route_decide(&in, &r, &o);
	CHECK_EQ_INT(o.pool, 0);
	CHECK_EQ_INT(o.why, ROUTE_WHY_HEADER);
	/* stable green: the candidate is blue */
	in.stable = 1;
	route_decide(&in, &r, &o);
	CHECK_EQ_INT(o.pool, 1);
	in.header_key = cand;
	in.header_len = cl;
	route_decide(&in, &r, &o);
	CHECK_EQ_INT(o.pool, 0);
	/* an override counts only from a trusted peer, and then over any key */
	in.override = 1;
	route_decide(&in, &r, &o);
	CHECK_EQ_INT(o.pool, 0);
	CHECK_EQ_INT(o.why, ROUTE_WHY_HEADER);
	in.override_trusted = 1;
	route_decide(&in, &r, &o);
	CHECK_EQ_INT(o.pool, 1);
	CHECK_EQ_INT(o.why, ROUTE_WHY_OVERRIDE);
	CHECK(!o.new_key);
}

TEST(test_decide_new_key_and_coin)
{
	struct route_rng r;
	struct route_out o, again;
	struct route_in in = { .stable = 0, .candidate_bp = 2500, .override = -1, .cookies = 1 };
	int i, cand = 0;

	route_rng_seed(&r, 9);
	route_decide(&in, &r, &o);
	CHECK(o.new_key);
	CHECK_EQ_INT(o.why, ROUTE_WHY_NEW_KEY);
	CHECK(route_key_valid(o.key, ROUTE_KEY_LEN));
	/* the new key, sent back, keeps the client where it went */
	in.cookie_key = o.key;
	in.cookie_len = ROUTE_KEY_LEN;
	route_decide(&in, &r, &again);
	CHECK_EQ_INT(again.pool, o.pool);
	CHECK(!again.new_key);
	/* no cookie configured and no key: a coin with the candidate's odds */
	in.cookie_key = NULL;
	in.cookies = 0;
	for (i = 0; i < 10000; i++) {
		route_decide(&in, &r, &o);
		CHECK(!o.new_key);
		cand += o.pool == 1;
	}
	CHECK_EQ_INT(o.why, ROUTE_WHY_COIN);
	CHECK(cand > 2300 && cand < 2700);
	/* 0% and 100% are certain */
	in.candidate_bp = 0;
	route_decide(&in, &r, &o);
	CHECK_EQ_INT(o.pool, 0);
	in.candidate_bp = 10000;
	route_decide(&in, &r, &o);
	CHECK_EQ_INT(o.pool, 1);
	CHECK_STR(route_why_names[ROUTE_WHY_NEW_KEY], "new key");
}

int
main(void)
{
	RUN(test_bucket_fixed);
	RUN(test_bucket_uniform);
	RUN(test_shares_within_tolerance);
	RUN(test_monotonic_ramp);
	RUN(test_scan);
	RUN(test_cookie_find);
	RUN(test_key_valid);
	RUN(test_parse_pool);
	RUN(test_rng_keys_differ);
	RUN(test_decide_order);
	RUN(test_decide_new_key_and_coin);
	return test_summary();
}
