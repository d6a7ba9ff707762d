/*
 * test_stats.c - latency buckets, quantiles, windows, counters of stats.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stats.h"
#include "test.h"

#define MS 1000 /* microseconds */

/* one service's shared part, and the servers' figures of the one worker
 * of a test (by pool and index) */
static struct stats_shared test_sh;
static struct stats_srv test_srv[CONFIG_POOLS][CONFIG_MAX_SERVERS];

#define SRV(pool, i) ((i) >= 0 ? &test_srv[pool][i] : NULL)

static struct stats_svc *new_worker(int window_s)
{
	struct stats_svc *w = calloc(1, sizeof(*w));

	if (w == NULL)
		abort();
	memset(test_srv, 0, sizeof(test_srv));
	stats_svc_init(w, &test_sh, window_s);
	return w;
}

static void sum1(struct stats_svc *w, int pool, int window_s, uint64_t now_s,
    struct stats_window *out)
{
	struct stats_svc *ws[1] = { w };

	stats_window_sum(ws, 1, pool, window_s, now_s, out);
}

/* deterministic generator, so a failure reproduces */
static uint64_t rng_state = 88172645463325252ULL;

static double rng_unit(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}

static double rel_err(double got, double want)
{
	return fabs(got - want) / want;
}

/* first integer duration whose bucket is >= b (the bucket function is monotonic) */
static uint64_t bucket_start(int b)
{
	uint64_t lo = 0, hi = UINT64_C(1) << 32;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (stats_lat_bucket(mid) >= b)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

TEST(lat_bucket_ends)
{
	CHECK_EQ_INT(stats_lat_bucket(0), 0);
	CHECK_EQ_INT(stats_lat_bucket(1), 0);
	CHECK_EQ_INT(stats_lat_bucket(50), 0);
	CHECK(stats_lat_bucket(52) > 0);
	CHECK(stats_lat_bucket(200000000) < STATS_LAT_BUCKETS - 1);
	CHECK_EQ_INT(stats_lat_bucket(UINT64_MAX), STATS_LAT_BUCKETS - 1);
	CHECK_EQ_INT(stats_lat_bucket(UINT64_C(1) << 50), STATS_LAT_BUCKETS - 1);
	CHECK(fabs(stats_lat_bucket_ms(0) - 0.05) < 0.002);
}

TEST(lat_bucket_monotonic)
{
	int prev = 0;

	for (uint64_t v = 0; v < 200000; v++) {
		int b = stats_lat_bucket(v);
		CHECK(b == prev || b == prev + 1);
		prev = b;
	}
	for (double v = 200000; v < 3e8; v *= 1.001) {
		int b = stats_lat_bucket((uint64_t)v);
		CHECK(b >= prev && b <= prev + 1);
		prev = b;
	}
	for (int b = 1; b < STATS_LAT_BUCKETS; b++)
		CHECK(stats_lat_bucket_ms(b) > stats_lat_bucket_ms(b - 1));
}

TEST(lat_bucket_width)
{
	double worst = 0;

	/* real widths, read from the midpoints: m(b+1)/m(b) averages two buckets */
	for (int b = 1; b < STATS_LAT_BUCKETS; b++) {
		double r = stats_lat_bucket_ms(b) / stats_lat_bucket_ms(b - 1) - 1;
		CHECK(r > 0.03 && r < 0.05);
	}
	/* integer widths, where integers are fine enough to show them (>= 1 ms) */
	for (int b = 1; b < STATS_LAT_BUCKETS - 1; b++) {
		uint64_t lo = bucket_start(b), hi = bucket_start(b + 1);
		if (lo < 1000)
			continue;
		double r = (double)(hi - lo) / (double)lo;
		if (r > worst)
			worst = r;
		CHECK(r < 0.05);
	}
	CHECK(worst > 0.035);
	printf("# widest bucket %.2f%%\n", worst * 100);
}

TEST(lat_bucket_accuracy)
{
	/* any duration in range reads back within half a bucket */
	for (uint64_t v = 50; v < 100000; v++)
		CHECK(rel_err(stats_lat_bucket_ms(stats_lat_bucket(v)), v / 1000.0) < 0.021);
	for (double v = 100000; v < 2.2e8; v *= 1.0007) {
		uint64_t u = (uint64_t)v;
		CHECK(rel_err(stats_lat_bucket_ms(stats_lat_bucket(u)), u / 1000.0) < 0.021);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* record the samples in one window and compare p50/p99/p999 with the exact ones */
static int check_quantiles(uint64_t *us, size_t n)
{
	static const double ps[] = { 0.5, 0.99, 0.999 };
	struct stats_svc *w = new_worker(10);
	struct stats_window win;
	int ok = 1;

	for (size_t i = 0; i < n; i++)
		stats_record(w, SRV(1, 0), 1, 0, 200, -1, 1, 1000, us[i]);
	sum1(w, 1, 10, 1000, &win);
	qsort(us, n, sizeof(*us), cmp_u64);
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		size_t rank = (size_t)ceil(ps[i] * (double)n);
		double exact = us[rank - 1] / 1000.0;
		double got = stats_window_quantile_ms(&win, ps[i]);
		if (rel_err(got, exact) > 0.05) {
			printf("  p%g: got %.3f ms, exact %.3f ms\n", ps[i] * 100, got, exact);
			ok = 0;
		}
	}
	free(w);
	return ok;
}

#define NSAMPLES 200000

TEST(quantile_uniform)
{
	static uint64_t us[NSAMPLES];

	for (size_t i = 0; i < NSAMPLES; i++)
		us[i] = (uint64_t)(MS + rng_unit() * 999 * MS);
	CHECK(check_quantiles(us, NSAMPLES));
}

TEST(quantile_exponential)
{
	static uint64_t us[NSAMPLES];

	for (size_t i = 0; i < NSAMPLES; i++)
		us[i] = (uint64_t)(100 + -log(1 - rng_unit()) * 40 * MS);
	CHECK(check_quantiles(us, NSAMPLES));
}

TEST(quantile_bimodal)
{
	static uint64_t us[NSAMPLES];

	/* 97% fast around 4 ms, 3% slow around 800 ms: p99 and p999 in the slow mode */
	for (size_t i = 0; i < NSAMPLES; i++) {
		double base = rng_unit() < 0.97 ? 4 * MS : 800 * MS;
		us[i] = (uint64_t)(base * (0.8 + 0.4 * rng_unit()));
	}
	CHECK(check_quantiles(us, NSAMPLES));
}

TEST(quantile_constant)
{
	static uint64_t us[1000];

	for (size_t i = 0; i < 1000; i++)
		us[i] = 123456;
	CHECK(check_quantiles(us, 1000));
	us[0] = 60 * 1000000; /* one minute, well inside the range */
	CHECK(check_quantiles(us, 1));
}

TEST(quantile_empty)
{
	struct stats_window win;

	memset(&win, 0, sizeof(win));
	CHECK(stats_window_quantile_ms(&win, 0.99) == 0);
	CHECK(stats_window_error_rate(&win) == 0);
}

TEST(window_two_workers)
{
	struct stats_svc *a = new_worker(10), *b = new_worker(10);
	struct stats_svc *ws[2] = { a, b };
	struct stats_window win;

	for (int i = 0; i < 30; i++)
		stats_record(a, SRV(1, 0), 1, 0, 200, -1, 1, 500 + i % 3, 2 * MS);
	for (int i = 0; i < 10; i++)
		stats_record(b, SRV(1, 1), 1, 0, 503, -1, 1, 502, 2 * MS);
	stats_record(b, SRV(0, 1), 0, 0, 200, -1, 1, 502, 2 * MS); /* other pool */
	stats_window_sum(ws, 2, 1, 10, 502, &win);
	CHECK_EQ_INT(win.requests, 40);
	CHECK_EQ_INT(win.errors, 10);
	CHECK_EQ_INT(win.status_5xx, 10);
	CHECK(fabs(stats_window_error_rate(&win) - 0.25) < 1e-9);
	CHECK(rel_err(stats_window_quantile_ms(&win, 0.99), 2.0) < 0.03);
	stats_window_sum(ws, 2, 0, 10, 502, &win);
	CHECK_EQ_INT(win.requests, 1);
	free(a);
	free(b);
}

TEST(window_expiry)
{
	struct stats_svc *w = new_worker(10);
	struct stats_window win;

	CHECK_EQ_INT(w->slot_s, 1);
	stats_record(w, SRV(0, 0), 0, 0, 200, -1, 1, 100, MS);
	stats_record(w, SRV(0, 0), 0, 0, 200, -1, 1, 105, MS);
	sum1(w, 0, 10, 105, &win);
	CHECK_EQ_INT(win.requests, 2); /* the current partial slot counts */
	sum1(w, 0, 10, 109, &win);
	CHECK_EQ_INT(win.requests, 2);
	sum1(w, 0, 10, 110, &win);
	CHECK_EQ_INT(win.requests, 1); /* second 100 has left the window */
	sum1(w, 0, 10, 115, &win);
	CHECK_EQ_INT(win.requests, 0);
	/* a slot left alone for a whole turn of the ring is stale, not counted */
	sum1(w, 0, 10, 100 + STATS_WIN_SLOTS, &win);
	CHECK_EQ_INT(win.requests, 0);
	/* reusing it after the wrap-around drops the old data */
	stats_record(w, SRV(0, 0), 0, 0, 200, -1, 1, 100 + STATS_WIN_SLOTS, 5 * MS);
	sum1(w, 0, 10, 100 + STATS_WIN_SLOTS, &win);
	CHECK_EQ_INT(win.requests, 1);
	CHECK(rel_err(stats_window_quantile_ms(&win, 0.5), 5.0) < 0.03);
	free(w);
}

TEST(window_early_time)
{
	struct stats_svc *w = new_worker(10);
	struct stats_window win;

	/* now_s smaller than the window: no underflow of the first slot */
	stats_record(w, SRV(0, 0), 0, 0, 200, -1, 1, 0, MS);
	stats_record(w, SRV(0, 0), 0, 0, 200, -1, 1, 3, MS);
	sum1(w, 0, 10, 3, &win);
	CHECK_EQ_INT(win.requests, 2);
	sum1(w, 0, 10, 10, &win);
	CHECK_EQ_INT(win.requests, 1);
	free(w);
}

/*
 * One request at t0: it stays in the window at least window_s - slot_s + 1
 * seconds (window_s when t0 starts a slot), and leaves when its slot is
 * ceil(window_s / slot_s) slots behind the current one.
 */
static void check_window_size(int window_s, unsigned slot_s, uint64_t t0)
{
	struct stats_svc *w = new_worker(window_s);
	struct stats_window win;
	uint64_t out = (t0 / slot_s + (window_s + slot_s - 1) / slot_s) * slot_s;

	CHECK_EQ_INT(w->slot_s, slot_s);
	stats_record(w, SRV(1, 0), 1, 0, 200, -1, 1, t0, MS);
	sum1(w, 1, window_s, t0, &win);
	CHECK_EQ_INT(win.requests, 1);
	sum1(w, 1, window_s, t0 + window_s - slot_s, &win);
	CHECK_EQ_INT(win.requests, 1);
	sum1(w, 1, window_s, out - 1, &win);
	CHECK_EQ_INT(win.requests, 1);
	sum1(w, 1, window_s, out, &win);
	CHECK_EQ_INT(win.requests, 0);
	/* a window of traffic, one request a second: all of it when t0 starts a
	 * slot, else all from the first slot of the window on */
	memset(w, 0, sizeof(*w));
	stats_svc_init(w, &test_sh, window_s);
	uint64_t end = t0 + (uint64_t)window_s;
	for (uint64_t t = t0; t < end; t++)
		stats_record(w, SRV(1, 0), 1, 0, 200, -1, 1, t, MS);
	sum1(w, 1, window_s, end - 1, &win);
	uint64_t first = ((end - 1) / slot_s + 1 - (window_s + slot_s - 1) / slot_s) * slot_s;
	CHECK_EQ_INT(win.requests, end - (first > t0 ? first : t0));
	if (t0 % slot_s == 0)
		CHECK_EQ_INT(win.requests, window_s);
	free(w);
}

TEST(window_sizes)
{
	check_window_size(1, 1, 1000);
	check_window_size(10, 1, 1000);
	check_window_size(60, 1, 1200);
	check_window_size(61, 2, 1200);
	check_window_size(61, 2, 1201);
	check_window_size(3600, 60, 7230);
	check_window_size(3600, 60, 7200);
	check_window_size(86400, 1440, 86400 * 3);
}

TEST(errors_counted_once)
{
	struct stats_svc *w = new_worker(10);
	struct stats_window win;

	stats_record(w, SRV(1, 0), 1, 0, 200, -1, 1, 50, MS);
	stats_record(w, SRV(1, 0), 1, 0, 404, -1, 1, 50, MS);
	stats_record(w, SRV(1, 0), 1, 0, 503, -1, 1, 50, MS);                /* 5xx from the server */
	stats_record(w, SRV(1, 0), 1, 0, 502, STATS_ERR_CONNECT, 1, 50, MS); /* proxy's 502 */
	stats_record(w, SRV(1, 0), 1, 0, 504, STATS_ERR_TIMEOUT, 1, 50, MS); /* proxy's 504 */
	stats_record(w, SRV(1, 0), 1, 0, 0, STATS_ERR_RESET, 1, 50, MS);     /* nothing sent */
	sum1(w, 1, 10, 50, &win);
	CHECK_EQ_INT(win.requests, 6);
	CHECK_EQ_INT(win.errors, 4);
	CHECK_EQ_INT(win.status_5xx, 3);
	CHECK_EQ_INT(win.err_kind[STATS_ERR_CONNECT], 1);
	CHECK_EQ_INT(win.err_kind[STATS_ERR_TIMEOUT], 1);
	CHECK_EQ_INT(win.err_kind[STATS_ERR_RESET], 1);
	CHECK(fabs(stats_window_error_rate(&win) - 4.0 / 6) < 1e-9);
	/* totals: status 0 has no class, but its error kind counts */
	CHECK_EQ_INT(STATS_GET(w->requests[1][0][2]), 1);
	CHECK_EQ_INT(STATS_GET(w->requests[1][0][4]), 1);
	CHECK_EQ_INT(STATS_GET(w->requests[1][0][5]), 3);
	CHECK_EQ_INT(STATS_GET(w->requests[1][0][0]), 0);
	CHECK_EQ_INT(STATS_GET(w->upstream_errors[1][STATS_ERR_CONNECT]), 1);
	CHECK_EQ_INT(STATS_GET(w->upstream_errors[1][STATS_ERR_TIMEOUT]), 1);
	CHECK_EQ_INT(STATS_GET(w->upstream_errors[1][STATS_ERR_RESET]), 1);
	CHECK_EQ_INT(STATS_GET(w->dur_count[1]), 6);
	free(w);
}

TEST(override_out_of_window)
{
	struct stats_svc *w = new_worker(10);
	struct stats_window win;

	stats_record(w, SRV(1, 2), 1, 0, 500, -1, 0, 50, MS);
	stats_record(w, SRV(1, 2), 1, 0, 200, -1, 0, 50, MS);
	sum1(w, 1, 10, 50, &win);
	CHECK_EQ_INT(win.requests, 0);
	CHECK_EQ_INT(win.errors, 0);
	CHECK_EQ_INT(STATS_GET(w->requests[1][0][5]), 1);
	CHECK_EQ_INT(STATS_GET(w->requests[1][0][2]), 1);
	CHECK_EQ_INT(STATS_GET(test_srv[1][2].requests), 2);
	CHECK_EQ_INT(STATS_GET(w->dur_count[1]), 2);
	free(w);
}

TEST(prom_buckets)
{
	struct stats_svc *w = new_worker(10);

	CHECK(stats_prom_bounds[0] == 0.0005);
	CHECK(stats_prom_bounds[STATS_PROM_BUCKETS - 1] == 10);
	stats_record(w, SRV(0, 0), 0, 0, 200, -1, 1, 1, 700);      /* 0.7 ms */
	stats_record(w, SRV(0, 0), 0, 0, 200, -1, 1, 1, 500);      /* on the bound: le is inclusive */
	stats_record(w, SRV(0, 0), 0, 0, 200, -1, 1, 1, 0);
	stats_record(w, SRV(0, 0), 0, 0, 200, -1, 1, 1, 10000000); /* 10 s exactly */
	stats_record(w, SRV(0, 0), 0, 0, 200, -1, 1, 1, 10000001); /* +Inf only */
	stats_record(w, SRV(0, 0), 0, 0, 200, -1, 1, 1, 3000000);  /* 3 s */
	CHECK_EQ_INT(STATS_GET(w->dur_bucket[0][0]), 2);
	CHECK_EQ_INT(STATS_GET(w->dur_bucket[0][1]), 1);
	CHECK_EQ_INT(STATS_GET(w->dur_bucket[0][12]), 1);
	CHECK_EQ_INT(STATS_GET(w->dur_bucket[0][13]), 1);
	uint64_t in_buckets = 0;
	for (int i = 0; i < STATS_PROM_BUCKETS; i++)
		in_buckets += STATS_GET(w->dur_bucket[0][i]);
	CHECK_EQ_INT(in_buckets, 5);
	CHECK_EQ_INT(STATS_GET(w->dur_count[0]), 6);
	CHECK_EQ_INT(STATS_GET(w->dur_sum_us[0]), 700 + 500 + 10000000 + 10000001 + 3000000);
	CHECK_EQ_INT(STATS_GET(w->dur_count[1]), 0);
	free(w);
}

TEST(prom_every_bound)
{
	struct stats_svc *w = new_worker(10);

	/* each bound lands in its own bucket, one microsecond more in the next */
	for (int i = 0; i < STATS_PROM_BUCKETS; i++) {
		uint64_t us = (uint64_t)llround(stats_prom_bounds[i] * 1e6);
		stats_record(w, SRV(0, -1), 0, 0, 200, -1, 1, 1, us);
		stats_record(w, SRV(0, -1), 0, 0, 200, -1, 1, 1, us + 1);
	}
	CHECK_EQ_INT(STATS_GET(w->dur_bucket[0][0]), 1);
	for (int i = 1; i < STATS_PROM_BUCKETS; i++)
		CHECK_EQ_INT(STATS_GET(w->dur_bucket[0][i]), 2);
	CHECK_EQ_INT(STATS_GET(w->dur_count[0]), 2 * STATS_PROM_BUCKETS);
	free(w);
}

/* stats_new_epoch: what came before stops counting at once, mid-slot too */
TEST(new_epoch_starts_afresh)
{
	struct stats_svc *w = new_worker(10);
	struct stats_window win;
	int i;

	for (i = 0; i < 10; i++)
		stats_record(w, SRV(1, 0), 1, 0, 500, -1, 1, 1000, 5 * MS);
	sum1(w, 1, 10, 1000, &win);
	CHECK_EQ_INT(win.requests, 10);
	CHECK_EQ_INT(win.errors, 10);
	stats_new_epoch(&test_sh);
	sum1(w, 1, 10, 1000, &win);
	CHECK_EQ_INT(win.requests, 0);
	stats_record(w, SRV(1, 0), 1, 0, 200, -1, 1, 1000, 5 * MS);
	sum1(w, 1, 10, 1000, &win);
	CHECK_EQ_INT(win.requests, 1);
	CHECK_EQ_INT(win.errors, 0);
	/* totals are not windows: they keep counting */
	CHECK_EQ_INT(STATS_GET(w->requests[1][0][5]), 10);
	free(w);
}

TEST(per_server)
{
	struct stats_svc *w = new_worker(10);

	stats_record(w, SRV(0, 3), 0, 0, 200, -1, 1, 1, MS);
	stats_record(w, SRV(0, 3), 0, 0, 502, STATS_ERR_CONNECT, 1, 1, MS);
	stats_record(w, SRV(0, 3), 0, 0, 500, -1, 1, 1, MS);
	stats_record(w, SRV(1, 3), 1, 0, 200, -1, 1, 1, MS);
	stats_record(w, SRV(0, CONFIG_MAX_SERVERS - 1), 0, 0, 200, -1, 1, 1, MS);
	stats_record(w, SRV(0, -1), 0, 0, 503, -1, 1, 1, MS); /* no server was picked */
	CHECK_EQ_INT(STATS_GET(test_srv[0][3].requests), 3);
	CHECK_EQ_INT(STATS_GET(test_srv[0][3].errors), 2);
	CHECK_EQ_INT(STATS_GET(test_srv[1][3].requests), 1);
	CHECK_EQ_INT(STATS_GET(test_srv[1][3].errors), 0);
	CHECK_EQ_INT(STATS_GET(test_srv[0][CONFIG_MAX_SERVERS - 1].requests), 1);
	uint64_t total = 0;
	for (int i = 0; i < CONFIG_MAX_SERVERS; i++)
		total += STATS_GET(test_srv[0][i].requests);
	CHECK_EQ_INT(total, 4);
	CHECK_EQ_INT(STATS_GET(w->requests[0][0][5]), 3);
	free(w);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* not asserted: prints the cost of one stats_record */
TEST(bench_record)
{
	enum { N = 10000000, MIX = 4096 };
	static uint64_t dur[MIX];
	static int status[MIX], kind[MIX];
	struct stats_svc *w = new_worker(10);

	for (int i = 0; i < MIX; i++) {
		dur[i] = (uint64_t)(200 + -log(1 - rng_unit()) * 20 * MS);
		status[i] = i % 50 == 0 ? 502 : 200;
		kind[i] = i % 50 == 0 ? STATS_ERR_CONNECT : -1;
	}
	double t0 = now_ns();
	for (uint32_t i = 0; i < N; i++) {
		int j = i & (MIX - 1);
		stats_record(w, SRV(i & 1, (int)(i & 7)), i & 1, 0, status[j], kind[j], 1, 1000 + (i >> 17), dur[j]);
	}
	double ns = (now_ns() - t0) / N;
	printf("# stats_record: %.2f ns/call over %d calls\n", ns, N);
	CHECK_EQ_INT(STATS_GET(w->dur_count[0]) + STATS_GET(w->dur_count[1]), N);
	free(w);
}

int main(void)
{
	RUN(lat_bucket_ends);
	RUN(lat_bucket_monotonic);
	RUN(lat_bucket_width);
	RUN(lat_bucket_accuracy);
	RUN(quantile_uniform);
	RUN(quantile_exponential);
	RUN(quantile_bimodal);
	RUN(quantile_constant);
	RUN(quantile_empty);
	RUN(window_two_workers);
	RUN(window_expiry);
	RUN(window_early_time);
	RUN(window_sizes);
	RUN(errors_counted_once);
	RUN(override_out_of_window);
	RUN(prom_buckets);
	RUN(prom_every_bound);
	RUN(new_epoch_starts_afresh);
	RUN(per_server);
	RUN(bench_record);
	return test_summary();
}
