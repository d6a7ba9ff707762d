/*
 * stats.c - per-worker counters and sliding windows.
 *
 * stats_record() runs once per request on the worker's hot path, so it does
 * integer work only: no division by a variable it can avoid, no log(), no
 * lock, no allocation.  Readers (metrics, status, the guard) sum the blocks
 * of all workers with relaxed loads.
 *
 * Window latency buckets: 18 logarithmic buckets per power of two of the
 * duration in microseconds, i.e. each bucket is 2^(1/18) = 1.0393 times as
 * wide as the one before (3.9% wide, 4.0% at most once the boundaries are
 * snapped to a 1/1024 grid of the mantissa).  The bucket of a duration is
 * found from the position of its highest set bit (the power of two) and its
 * next 10 bits (the mantissa): a 64-entry table gives the sub-bucket of the
 * mantissa's top 6 bits, and one compare against the next boundary finishes
 * the job, because a 1/64 cell is narrower than a bucket and so holds at most
 * one boundary.  Bucket 0 is the one holding 50 us (everything shorter is
 * clamped into it); the last bucket starts at ~230 s.
 */
#include <stdlib.h>
#include <string.h>

#include "stats.h"

const char *const stats_proto_names[STATS_PROTOS] = { "http/1.1", "h2" };
const char *const stats_mirror_names[STATS_MIRRORS] = { "sent", "skipped", "error", "ok" };

const char *const stats_goaway_names[STATS_GOAWAYS] = {
	"shutdown", "reload", "idle", "header_timeout", "protocol_error", "rapid_reset", "continuation_flood",
	"header_list", "control_flood", "empty_frames", "zero_window",
};

const double stats_prom_bounds[STATS_PROM_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

/* the same bounds in microseconds, padded to 16 for a branch-free search */
static const uint64_t stats_prom_us[16] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, UINT64_MAX, UINT64_MAX,
};

#define STATS_LAT_SUB    18     /* buckets per power of two */
#define STATS_LAT_MBITS  10     /* mantissa bits the boundaries are snapped to */
#define STATS_LAT_FIRST  101    /* raw index (exponent * 18 + sub) of 50 us */
#define STATS_LAT_MIN_US 50
#define STATS_LAT_MAX_US (UINT64_C(1) << 40) /* keeps v << 10 from overflowing */

/* sub-bucket s starts at mantissa ceil(1024 * (2^(s/18) - 1)) / 1024;
 * tests/unit/test_stats.c checks the width and accuracy of every bucket */
static const uint16_t stats_lat_thr[STATS_LAT_SUB + 1] = {
	0, 41, 82, 126, 171, 218, 267, 317, 370, 425, 482, 541, 602, 666, 732, 801, 873, 947,
	1024,
};

/* sub-bucket holding the start of each 1/64 cell of the mantissa */
static const uint8_t stats_lat_cell[64] = {
	0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5,
	5, 6, 6, 6, 7, 7, 7, 7, 8, 8, 8, 9, 9, 9, 9, 10,
	10, 10, 11, 11, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14,
	14, 14, 14, 15, 15, 15, 15, 16, 16, 16, 16, 16, 17, 17, 17, 17,
};

int stats_lat_bucket(uint64_t dur_us)
{
	uint64_t v = dur_us;

	if (v < STATS_LAT_MIN_US)
		v = STATS_LAT_MIN_US;
	if (v > STATS_LAT_MAX_US)
		v = STATS_LAT_MAX_US;
	/* shifting up first gives every value at least 10 bits below its top bit */
	v <<= STATS_LAT_MBITS;
	int top = 63 - __builtin_clzll(v);
	unsigned mant = (unsigned)(v >> (top - STATS_LAT_MBITS)) & 1023;
	unsigned sub = stats_lat_cell[mant >> 4];
	sub += mant >= stats_lat_thr[sub + 1];
	int b = (top - STATS_LAT_MBITS) * STATS_LAT_SUB + (int)sub - STATS_LAT_FIRST;
	return b < STATS_LAT_BUCKETS ? b : STATS_LAT_BUCKETS - 1;
}

/* lower bound of raw bucket r (exponent * 18 + sub) in microseconds */
static double stats_lat_lower_us(int r)
{
	int e = r / STATS_LAT_SUB;
	int s = r % STATS_LAT_SUB;

	return (double)(UINT64_C(1) << e) * (1024 + stats_lat_thr[s]) / 1024.0;
}

/*
 * The midpoint of the bucket: a value read from it is then within half a
 * bucket (2%) of any duration it holds, where the upper bound would be off
 * by up to a whole bucket (4%).
 */
double stats_lat_bucket_ms(int bucket)
{
	if (bucket < 0)
		bucket = 0;
	if (bucket >= STATS_LAT_BUCKETS)
		bucket = STATS_LAT_BUCKETS - 1;
	int r = bucket + STATS_LAT_FIRST;
	return (stats_lat_lower_us(r) + stats_lat_lower_us(r + 1)) / 2.0 / 1000.0;
}

int stats_worker_init(struct stats_worker *w, size_t nsrv)
{
	memset(w, 0, sizeof(*w));
	/* calloc: pages of slots never used are never touched */
	w->srv = calloc(nsrv, sizeof(*w->srv));
	w->nsrv = w->srv != NULL ? nsrv : 0;
	return w->srv != NULL ? 0 : -1;
}

void stats_worker_free(struct stats_worker *w)
{
	free(w->srv);
	w->srv = NULL;
	w->nsrv = 0;
	for (size_t i = 0; i < CONFIG_MAX_SERVICES; i++) {
		free(atomic_load(&w->svc[i]));
		atomic_store(&w->svc[i], NULL);
	}
}

struct stats_svc *stats_svc_make(struct stats_worker *w, int id, struct stats_shared *sh,
    int window_s)
{
	/* calloc: the window's pages it never uses stay untouched */
	struct stats_svc *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	stats_svc_init(s, sh, window_s);
	atomic_store_explicit(&w->svc[id], s, memory_order_release);
	return s;
}

void stats_svc_init(struct stats_svc *w, struct stats_shared *sh, int window_s)
{
	unsigned span = STATS_WIN_SLOTS - 4; /* 4 spare slots: a reader never races the recycling */
	w->sh = sh;
	w->slot_s = window_s > 0 ? ((unsigned)window_s + span - 1) / span : 1;
}

/*
 * Index of the first Prometheus bound >= dur_us; 14 or 15 means +Inf.  The
 * masks keep the compiler from turning a step into a branch, which random
 * durations would mispredict half of the time (3 ns a request).
 */
static unsigned stats_prom_bucket(uint64_t dur_us)
{
	unsigned i = 0;

	i += 8 & -(unsigned)(stats_prom_us[i + 7] < dur_us);
	i += 4 & -(unsigned)(stats_prom_us[i + 3] < dur_us);
	i += 2 & -(unsigned)(stats_prom_us[i + 1] < dur_us);
	i += 1 & -(unsigned)(stats_prom_us[i] < dur_us);
	return i;
}

/* Zero slot i of class cls the ring is about to reuse, then claim it for
 * stamp.  A latency that is 0 already is not written: a row no request
 * ever touched stays an untouched page. */
static void stats_slot_reset(struct stats_svc *w, int cls, unsigned i, uint64_t stamp)
{
	struct stats_slot *sl = &w->win[cls][i];

	atomic_store_explicit(&sl->requests, 0, memory_order_relaxed);
	atomic_store_explicit(&sl->errors, 0, memory_order_relaxed);
	for (int k = 0; k < STATS_ERR_KINDS; k++)
		atomic_store_explicit(&sl->err_kind[k], 0, memory_order_relaxed);
	atomic_store_explicit(&sl->status_5xx, 0, memory_order_relaxed);
	for (int b = 0; b < STATS_LAT_BUCKETS; b++)
		if (atomic_load_explicit(&w->lat[cls][b][i], memory_order_relaxed) != 0)
			atomic_store_explicit(&w->lat[cls][b][i], 0, memory_order_relaxed);
	/* release: a reader that sees the new stamp sees the zeroes too */
	atomic_store_explicit(&sl->stamp, stamp, memory_order_release);
}

/* A service's epoch is bumped when its window must start afresh (see
 * stats.h); it is part of every slot's stamp, so older slots stop counting
 * at once, mid-second too. */
void stats_new_epoch(struct stats_shared *sh)
{
	atomic_fetch_add_explicit(&sh->epoch, 1, memory_order_release);
}

void stats_new_shadow_epoch(struct stats_shared *sh)
{
	atomic_fetch_add_explicit(&sh->shadow_epoch, 1, memory_order_release);
}

static inline uint64_t stats_stamp(const struct stats_shared *sh, int cls, uint64_t idx)
{
	uint64_t e = atomic_load_explicit(&sh->epoch, memory_order_acquire);

	if (cls >= STATS_SHADOW)
		e += atomic_load_explicit(&sh->shadow_epoch, memory_order_acquire);
	return ((e & 0xffffff) << 40) | (idx & (((uint64_t)1 << 40) - 1));
}

void stats_set_slow_bounds(struct stats_shared *sh, uint64_t us0, uint64_t us1)
{
	atomic_store_explicit(&sh->slow_us[0], us0, memory_order_relaxed);
	atomic_store_explicit(&sh->slow_us[1], us1, memory_order_relaxed);
}

/* what the sequential judge counts of a request the window counts */
static void stats_record_judged(struct stats_svc *w, int cls, int is_err, uint64_t dur_us)
{
	uint64_t b0 = atomic_load_explicit(&w->sh->slow_us[0], memory_order_relaxed);
	uint64_t b1 = atomic_load_explicit(&w->sh->slow_us[1], memory_order_relaxed);

	if (is_err)
		STATS_INC(w->routed_err[cls]);
	if (b0 > 0 && dur_us > b0)
		STATS_INC(w->routed_slow[cls][0]);
	if (b1 > 0) {
		STATS_INC(w->routed_bound1[cls]);
		if (dur_us > b1)
			STATS_INC(w->routed_slow[cls][1]);
	}
}

static void stats_record_window(struct stats_svc *w, int pool, int is_err, int status,
    int err_kind, uint64_t now_s, uint64_t dur_us)
{
	/* windows up to a minute have 1 s slots: skip a 64-bit division then */
	uint64_t idx = w->slot_s == 1 ? now_s : now_s / w->slot_s;
	uint64_t stamp = stats_stamp(w->sh, pool, idx);
	unsigned i = (unsigned)(idx % STATS_WIN_SLOTS);
	struct stats_slot *sl = &w->win[pool][i];

	if (STATS_GET(sl->stamp) != stamp)
		stats_slot_reset(w, pool, i, stamp);
	STATS_INC(sl->requests);
	if (is_err)
		STATS_INC(sl->errors);
	if (err_kind >= 0)
		STATS_INC(sl->err_kind[err_kind]);
	if (status >= 500 && status <= 599)
		STATS_INC(sl->status_5xx);
	STATS_INC(w->lat[pool][stats_lat_bucket(dur_us)][i]);
}

/*
 * Worker thread only.  An upstream failure normally reaches the client as a
 * 502/504 made by the proxy: the caller passes both, and it is one error.
 * A request with no response (status 0) is left out of requests[] (it has
 * no class) but its error kind, duration and window entry still count.
 */
void stats_record(struct stats_svc *w, struct stats_srv *srv, int pool, int proto, int status,
    int err_kind, int in_window, uint64_t now_s, uint64_t dur_us)
{
	if (pool < 0 || pool >= CONFIG_POOLS)
		return;
	if (proto < 0 || proto >= STATS_PROTOS)
		proto = STATS_PROTO_H1;
	if (err_kind >= STATS_ERR_KINDS)
		err_kind = -1;
	int is_err = status >= 500 || err_kind >= 0;
	int cls = status / 100;

	if (cls >= 1 && cls <= 5)
		STATS_INC(w->requests[pool][proto][cls]);
	if (err_kind >= 0)
		STATS_INC(w->upstream_errors[pool][err_kind]);
	unsigned pb = stats_prom_bucket(dur_us);
	if (pb < STATS_PROM_BUCKETS)
		STATS_INC(w->dur_bucket[pool][pb]);
	STATS_INC(w->dur_count[pool]);
	STATS_ADD(w->dur_sum_us[pool], dur_us);
	if (srv != NULL) {
		STATS_INC(srv->requests);
		if (cls >= 1 && cls <= 5)
			STATS_INC(srv->cls[cls]);
		if (is_err)
			STATS_INC(srv->errors);
		if (err_kind >= 0)
			STATS_INC(srv->err_kind[err_kind]);
		else if (status >= 500)
			STATS_INC(srv->s5xx);
	}
	if (in_window) {
		STATS_INC(w->routed[pool]);
		stats_record_judged(w, pool, is_err, dur_us);
		stats_record_window(w, pool, is_err, status, err_kind, now_s, dur_us);
	}
}

void stats_record_shadow(struct stats_svc *w, int cls, int status, int err_kind,
    uint64_t now_s, uint64_t dur_us)
{
	if (cls != STATS_SHADOW && cls != STATS_SHADOW_BASE)
		return;
	if (err_kind >= STATS_ERR_KINDS)
		err_kind = -1;
	int is_err = status >= 500 || err_kind >= 0 || status == 0;

	STATS_INC(w->routed[cls]);
	stats_record_judged(w, cls, is_err, dur_us);
	stats_record_window(w, cls, is_err, status, err_kind, now_s, dur_us);
}

void stats_judged_total(struct stats_svc *const *w, size_t n, int cls,
    struct stats_judged *out)
{
	memset(out, 0, sizeof(*out));
	if (cls < 0 || cls >= STATS_CLASSES)
		return;
	for (size_t i = 0; i < n; i++) {
		if (w[i] == NULL)
			continue;
		out->requests += STATS_GET(w[i]->routed[cls]);
		out->errors += STATS_GET(w[i]->routed_err[cls]);
		out->slow[0] += STATS_GET(w[i]->routed_slow[cls][0]);
		out->slow[1] += STATS_GET(w[i]->routed_slow[cls][1]);
		out->bound1 += STATS_GET(w[i]->routed_bound1[cls]);
	}
}

uint64_t stats_routed_total(struct stats_svc *const *w, size_t n, int pool)
{
	uint64_t t = 0;

	if (pool < 0 || pool >= STATS_CLASSES)
		return 0;

	for (size_t i = 0; i < n; i++)
		if (w[i] != NULL)
			t += STATS_GET(w[i]->routed[pool]);
	return t;
}

/* Add one worker's slot i of class cls to out if it still holds stamp. */
static void stats_slot_add(const struct stats_svc *w, int cls, unsigned i, uint64_t stamp,
    struct stats_window *out)
{
	const struct stats_slot *sl = &w->win[cls][i];

	if (atomic_load_explicit(&sl->stamp, memory_order_acquire) != stamp)
		return;
	out->requests += STATS_GET(sl->requests);
	out->errors += STATS_GET(sl->errors);
	for (int k = 0; k < STATS_ERR_KINDS; k++)
		out->err_kind[k] += STATS_GET(sl->err_kind[k]);
	out->status_5xx += STATS_GET(sl->status_5xx);
	for (int b = 0; b < STATS_LAT_BUCKETS; b++)
		out->lat[b] += STATS_GET(w->lat[cls][b][i]);
}

/*
 * Any thread.  Takes the slots that overlap the last window_s seconds, the
 * current partial one included, by their stamps: a slot the ring has not
 * reached lately holds an older stamp and is skipped.
 */
void stats_window_sum(struct stats_svc *const *w, size_t n, int pool, int window_s,
    uint64_t now_s, struct stats_window *out)
{
	memset(out, 0, sizeof(*out));
	if (pool < 0 || pool >= STATS_CLASSES)
		return;
	uint64_t win = window_s > 0 ? (uint64_t)window_s : 1;
	for (size_t i = 0; i < n; i++) {
		if (w[i] == NULL)
			continue;
		uint64_t slot_s = w[i]->slot_s ? w[i]->slot_s : 1;
		uint64_t cur = now_s / slot_s;
		uint64_t count = (win + slot_s - 1) / slot_s;
		if (count > STATS_WIN_SLOTS)
			count = STATS_WIN_SLOTS; /* the ring holds no more than that */
		if (count > cur + 1)
			count = cur + 1;
		for (uint64_t st = cur + 1 - count; st <= cur; st++)
			stats_slot_add(w[i], pool, (unsigned)(st % STATS_WIN_SLOTS),
			    stats_stamp(w[i]->sh, pool, st), out);
	}
}

/* Any thread.  The representative value of the bucket at rank ceil(p * n). */
double stats_window_quantile_ms(const struct stats_window *win, double p)
{
	uint64_t n = 0;

	/* the buckets, not requests, so a racing reader still finds its rank */
	for (int b = 0; b < STATS_LAT_BUCKETS; b++)
		n += win->lat[b];
	if (n == 0)
		return 0;
	if (p < 0)
		p = 0;
	if (p > 1)
		p = 1;
	double r = p * (double)n;
	uint64_t rank = (uint64_t)r;
	if ((double)rank < r)
		rank++;
	if (rank < 1)
		rank = 1;
	uint64_t cum = 0;
	for (int b = 0; b < STATS_LAT_BUCKETS; b++) {
		cum += win->lat[b];
		if (cum >= rank)
			return stats_lat_bucket_ms(b);
	}
	return stats_lat_bucket_ms(STATS_LAT_BUCKETS - 1);
}

double stats_window_error_rate(const struct stats_window *win)
{
	if (win->requests == 0)
		return 0;
	return (double)win->errors / (double)win->requests;
}
