/*
 * judge_sim.c - simulated rollouts through the guard's own code
 * (src/judge.c, the sequential method; src/guard.c, the threshold one).
 *
 *   build/judge_sim [--rollouts N] [--seed S] [--scenario NAME]
 *
 * Each scenario runs N simulated rollouts (default 1000) of two pools with
 * given error rates and latencies, fed to the judge in ticks as the guard
 * is fed (guard.interval_ms 250 at 100 requests/s: 25 requests a tick),
 * and prints for each method: the share of rollouts that tripped, and the
 * median and p95 of the total requests (both pools) until the trip.  For
 * equal pools every trip is false; their rollout walks the steps 1, 5, 10,
 * 25, 50 % with 40,000 requests each (200,000 in all), the judge told of
 * every step.  The others hold one weight until a trip or 1,000,000
 * requests.  A fixed seed gives the same figures on every machine.
 *
 * The threshold guard looks at a 10 s window (40 ticks) with today's
 * defaults (min_requests 20, max_error_rate 0.05; p99 checks with a ratio
 * of 1.5 in the p99 scenario), every tick.
 *
 * "oracle" is a yardstick, not a guard: Wald's sequential probability
 * ratio test told both pools' true rates, testing the candidate at exactly
 * max_error_ratio x the stable pool's rate (or a 1% share above 1.5 x the
 * stable pool's true p99) against its true rate, with the whole alpha.  No
 * test with the same bound that must find the alternative from the data
 * needs fewer requests on average; its figures are how close to the least
 * possible the judge comes.  (Shown where a fault is there from the start.)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "judge.h"

#define SIM_TICK 25               /* requests a tick */
#define SIM_WINDOW 40             /* the threshold guard's window, in ticks */
#define SIM_CAP 1000000ULL        /* requests a detection scenario runs at most */

struct sim_rng { uint64_t s; };

static uint64_t
sim_next(struct sim_rng *r)
{
	/* splitmix64 */
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double
sim_unif(struct sim_rng *r)
{
	return (double)(sim_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static double
sim_normal(struct sim_rng *r)
{
	double u = sim_unif(r), v = sim_unif(r);

	return sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

struct sim_scenario {
	const char *name;
	const char *what;
	double weight;            /* candidate share, 0..1; 0: the equal-pools schedule */
	double p_stable, p_cand;  /* error rates */
	double p_cand_late;       /* from `late` requests on (0: none) */
	uint64_t late;
	double lat_scale;         /* candidate latency x this (1: same) */
	int latency;              /* 1: judge p99 (max_p99_ratio 1.5) */
};

static const struct sim_scenario sim_scenarios[] = {
	{ "equal_1pct", "equal pools, 1% errors, steps 1-5-10-25-50%", 0, 0.01, 0.01, 0, 0, 1, 0 },
	{ "equal_4pct", "equal pools, 4% errors, steps 1-5-10-25-50%", 0, 0.04, 0.04, 0, 0, 1, 0 },
	{ "equal_5pct", "equal pools, 5% errors, steps 1-5-10-25-50%", 0, 0.05, 0.05, 0, 0, 1, 0 },
	{ "up5_at1", "1% -> 5% errors at 1% weight", 0.01, 0.01, 0.05, 0, 0, 1, 0 },
	{ "up5_at5", "1% -> 5% errors at 5% weight", 0.05, 0.01, 0.05, 0, 0, 1, 0 },
	{ "up5_at10", "1% -> 5% errors at 10% weight", 0.10, 0.01, 0.05, 0, 0, 1, 0 },
	{ "up2.5_at5", "1% -> 2.5% errors at 5% weight", 0.05, 0.01, 0.025, 0, 0, 1, 0 },
	{ "all_fail_at1", "candidate fails every request at 1% weight", 0.01, 0.01, 1.0, 0, 0, 1, 0 },
	{ "p99_doubled", "candidate p99 doubled at 5% weight (max_p99_ratio 1.5)", 0.05, 0.01, 0.01,
	  0, 0, 2, 1 },
	{ "late_fault", "1% -> 5% at 5% weight after 50,000 clean requests", 0.05, 0.01, 0.01, 0.05,
	  50000, 1, 0 },
	{ "late_fault_1m", "1% -> 5% at 5% weight after 1,000,000 clean requests", 0.05, 0.01, 0.01,
	  0.05, 1000000, 1, 0 },
};

#define SIM_NSCEN (sizeof(sim_scenarios) / sizeof(sim_scenarios[0]))

static double sim_ratio = 1.5;   /* max_error_ratio (--max-error-ratio) */

/* lognormal latencies: median 20 ms, sigma 0.5 */
#define SIM_LAT_MU log(20.0)
#define SIM_LAT_SIGMA 0.5

static double
sim_lat_p99(void)
{
	return exp(SIM_LAT_MU + 2.3263 * SIM_LAT_SIGMA);
}

struct sim_result {
	int trips;
	uint64_t *at;             /* requests until each trip (after `late` for a late fault) */
	int n;
};

struct sim_tick {
	struct judge_counts c, s;
	double c_lat[SIM_TICK], s_lat[SIM_TICK];
	int nlat_c, nlat_s;
};

static void
sim_tick(struct sim_rng *r, const struct sim_scenario *sc, double weight, uint64_t done,
    struct sim_tick *t)
{
	double p_cand = sc->late > 0 && done >= sc->late ? sc->p_cand_late : sc->p_cand;
	double slow_ms = 1.5 * sim_lat_p99();
	int i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < SIM_TICK; i++) {
		int cand = sim_unif(r) < weight;
		struct judge_counts *k = cand ? &t->c : &t->s;
		double p = cand ? p_cand : sc->p_stable;

		k->requests++;
		if (sim_unif(r) < p)
			k->errors++;
		if (sc->latency) {
			double ms = exp(SIM_LAT_MU + SIM_LAT_SIGMA * sim_normal(r)) *
			    (cand ? sc->lat_scale : 1);

			if (cand) {
				t->c_lat[t->nlat_c++] = ms;
				k->ratio_requests++;
				if (ms > slow_ms)
					k->slow_ratio++;
			} else {
				t->s_lat[t->nlat_s++] = ms;
			}
		}
	}
}

/* the equal-pools schedule: 40,000 requests at each step */
static const double sim_steps[] = { 0.01, 0.05, 0.10, 0.25, 0.50 };
#define SIM_STEP_REQ 40000ULL

static void
sim_policy(const struct sim_scenario *sc, struct judge_policy *jp, struct guard_policy *gp)
{
	memset(jp, 0, sizeof(*jp));
	jp->alpha = 0.01;
	jp->max_error_rate = 0.05;
	jp->max_error_ratio = sim_ratio;
	jp->max_p99_ratio = sc->latency ? 1.5 : 0;
	memset(gp, 0, sizeof(*gp));
	gp->min_requests = 20;
	gp->max_error_rate = 0.05;
	gp->min_healthy_fraction = 0.5;
	gp->max_p99_ratio = sc->latency ? 1.5 : 0;
}

static int
sim_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double
sim_pct(double *v, int n, double q)
{
	int i = (int)ceil(q * n) - 1;

	return v[i < 0 ? 0 : i];
}

static int
sim_cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* the threshold guard over its window of ticks */
struct sim_window {
	struct judge_counts c[SIM_WINDOW], s[SIM_WINDOW];
	double c_lat[SIM_WINDOW][SIM_TICK], s_lat[SIM_WINDOW][SIM_TICK];
	int nc[SIM_WINDOW], ns[SIM_WINDOW];
	int pos, full;
};

static double
sim_window_p99(double (*lat)[SIM_TICK], const int *n, int ticks)
{
	static double all[SIM_WINDOW * SIM_TICK];
	int i, j, m = 0;

	for (i = 0; i < ticks; i++)
		for (j = 0; j < n[i]; j++)
			all[m++] = lat[i][j];
	if (m == 0)
		return 0;
	qsort(all, (size_t)m, sizeof(double), sim_cmp_d);
	return sim_pct(all, m, 0.99);
}

static int
sim_threshold_trips(struct sim_window *w, const struct sim_tick *t, const struct guard_policy *gp,
    int latency)
{
	struct guard_input in = { .cand_name = "green", .stable_name = "blue", .servers = 1,
	    .healthy = 1, .window_s = 10 };
	char reason[128];
	int i, ticks;

	w->c[w->pos] = t->c;
	w->s[w->pos] = t->s;
	memcpy(w->c_lat[w->pos], t->c_lat, sizeof(t->c_lat));
	memcpy(w->s_lat[w->pos], t->s_lat, sizeof(t->s_lat));
	w->nc[w->pos] = t->nlat_c;
	w->ns[w->pos] = t->nlat_s;
	w->pos = (w->pos + 1) % SIM_WINDOW;
	if (w->pos == 0)
		w->full = 1;
	ticks = w->full ? SIM_WINDOW : w->pos;
	for (i = 0; i < ticks; i++) {
		in.cand.requests += w->c[i].requests;
		in.cand.errors += w->c[i].errors;
		in.stable.requests += w->s[i].requests;
		in.stable.errors += w->s[i].errors;
	}
	if (latency) {
		in.cand.p99_ms = sim_window_p99(w->c_lat, w->nc, ticks);
		in.stable.p99_ms = sim_window_p99(w->s_lat, w->ns, ticks);
	}
	return guard_decide(&in, gp, reason, sizeof(reason)) != GUARD_CHECK_NONE;
}

/* The oracle's log-likelihood ratio per candidate observation: a one
 * (an error, or a slow request) and a zero; 0 when it has none to run. */
static int
sim_oracle_llr(const struct sim_scenario *sc, double *one, double *zero)
{
	double l, q;

	if (sc->weight == 0 || sc->late > 0)
		return 0;
	if (sc->latency) {
		/* the share of the candidate's requests above 1.5 x the stable
		 * pool's true p99, against 1% */
		l = 0.01;
		q = 0.5 * erfc((log(1.5 / sc->lat_scale) / SIM_LAT_SIGMA + 2.3263) / sqrt(2.0));
	} else {
		l = sim_ratio * sc->p_stable;
		q = sc->p_cand;
		if (l > 0.05)
			l = 0.05;
	}
	if (!(q > l) || q >= 1) {
		*one = q >= 1 ? log(1 / l) : 0;
		*zero = q >= 1 ? -INFINITY : 0;
		return q >= 1;
	}
	*one = log(q / l);
	*zero = log((1 - q) / (1 - l));
	return 1;
}

/*
 * One rollout by each method.  Returns through *at_j / *at_t / *at_o the
 * requests until the trip (0: none).
 */
static void
sim_rollout(struct sim_rng *r, const struct sim_scenario *sc, uint64_t *at_j, uint64_t *at_t,
    uint64_t *at_o)
{
	double one = 0, zero = 0, llr = 0;
	int oracle = sim_oracle_llr(sc, &one, &zero);
	static struct sim_window w;
	struct judge j;
	struct judge_policy jp;
	struct guard_policy gp;
	struct sim_tick t;
	uint64_t done = 0, cap = sc->weight > 0 ? sc->late + SIM_CAP : SIM_STEP_REQ * 5;
	int step = -1;

	sim_policy(sc, &jp, &gp);
	judge_init(&j);
	memset(&w, 0, sizeof(w));
	*at_j = *at_t = *at_o = 0;
	while (done < cap && (*at_j == 0 || *at_t == 0 || (oracle && *at_o == 0))) {
		double weight = sc->weight;

		if (weight == 0) {
			int s = (int)(done / SIM_STEP_REQ);

			if (s != step) {
				step = s;
				judge_step(&j);
			}
			weight = sim_steps[s];
		}
		sim_tick(r, sc, weight, done, &t);
		done += SIM_TICK;
		if (*at_j == 0) {
			judge_feed(&j, &jp, &t.c, &t.s);
			if (judge_verdict(&j, &jp, NULL) == JUDGE_TRIP)
				*at_j = done;
		}
		if (*at_t == 0 && sim_threshold_trips(&w, &t, &gp, sc->latency))
			*at_t = done;
		if (oracle && *at_o == 0) {
			uint64_t n = sc->latency ? t.c.ratio_requests : t.c.requests;
			uint64_t k = sc->latency ? t.c.slow_ratio : t.c.errors;

			/* (a zero is impossible when every request fails) */
			llr += (double)k * one + (n > k ? (double)(n - k) * zero : 0);
			if (llr >= log(1 / jp.alpha))
				*at_o = done;
		}
	}
	/* a late fault counts from its start; a trip before it is false */
	if (sc->late > 0) {
		*at_j = *at_j == 0 ? 0 : *at_j <= sc->late ? UINT64_MAX : *at_j - sc->late;
		*at_t = *at_t == 0 ? 0 : *at_t <= sc->late ? UINT64_MAX : *at_t - sc->late;
	}
}

struct sim_figures {
	int rollouts, trips, early;  /* early: trips before a late fault began */
	uint64_t median, p95;        /* requests to the trip, over the rollouts that tripped */
};

static void
sim_figures(uint64_t *at, int n, struct sim_figures *f)
{
	uint64_t *v = malloc(sizeof(uint64_t) * (size_t)n);
	int i, m = 0;

	memset(f, 0, sizeof(*f));
	f->rollouts = n;
	for (i = 0; i < n; i++) {
		if (at[i] == UINT64_MAX)
			f->early++;
		else if (at[i] != 0)
			v[m++] = at[i];
	}
	f->trips = m + f->early;
	if (m > 0) {
		qsort(v, (size_t)m, sizeof(uint64_t), sim_cmp_u64);
		f->median = v[(m - 1) / 2];
		f->p95 = v[(int)ceil(0.95 * m) - 1];
	}
	free(v);
}

/* Run one scenario; the judge's figures, the threshold guard's and the
 * oracle's (fo may be NULL; its rollouts 0 when it has none to run). */
static void
sim_run(const struct sim_scenario *sc, int rollouts, uint64_t seed, struct sim_figures *fj,
    struct sim_figures *ft, struct sim_figures *fo)
{
	struct sim_rng r = { seed };
	uint64_t *aj = calloc((size_t)rollouts, sizeof(uint64_t));
	uint64_t *at = calloc((size_t)rollouts, sizeof(uint64_t));
	uint64_t *ao = calloc((size_t)rollouts, sizeof(uint64_t));
	double one, zero;
	int i;

	for (i = 0; i < rollouts; i++)
		sim_rollout(&r, sc, &aj[i], &at[i], &ao[i]);
	sim_figures(aj, rollouts, fj);
	sim_figures(at, rollouts, ft);
	if (fo != NULL) {
		sim_figures(ao, rollouts, fo);
		if (!sim_oracle_llr(sc, &one, &zero))
			fo->rollouts = 0;
	}
	free(aj);
	free(at);
	free(ao);
}

static const struct sim_scenario *
sim_find(const char *name)
{
	size_t i;

	for (i = 0; i < SIM_NSCEN; i++)
		if (strcmp(sim_scenarios[i].name, name) == 0)
			return &sim_scenarios[i];
	return NULL;
}

#ifndef JUDGE_SIM_NO_MAIN
static void
sim_print(const char *method, const struct sim_figures *f)
{
	printf("  %-10s tripped %5.1f%%", method, 100.0 * f->trips / f->rollouts);
	if (f->early > 0)
		printf(" (%d before the fault)", f->early);
	if (f->trips > f->early)
		printf("   requests to trip: median %8llu  p95 %8llu", (unsigned long long)f->median,
		    (unsigned long long)f->p95);
	printf("\n");
}

int
main(int argc, char **argv)
{
	int rollouts = 1000, i;
	uint64_t seed = 1;
	const char *only = NULL;
	size_t s;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rollouts") == 0 && i + 1 < argc)
			rollouts = atoi(argv[++i]);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--scenario") == 0 && i + 1 < argc)
			only = argv[++i];
		else if (strcmp(argv[i], "--max-error-ratio") == 0 && i + 1 < argc)
			sim_ratio = atof(argv[++i]);
		else {
			fprintf(stderr, "usage: judge_sim [--rollouts N] [--seed S] [--scenario NAME] "
			    "[--max-error-ratio R]\n");
			return 2;
		}
	}
	if (!(sim_ratio > 0 && sim_ratio <= 1000)) {
		fprintf(stderr, "judge_sim: --max-error-ratio must be above 0, at most 1000\n");
		return 2;
	}
	if (rollouts < 1) {
		fprintf(stderr, "judge_sim: --rollouts must be at least 1\n");
		return 2;
	}
	if (only != NULL && sim_find(only) == NULL) {
		fprintf(stderr, "judge_sim: no scenario %s\n", only);
		return 2;
	}
	printf("%d rollouts a scenario, seed %llu; alpha 0.01, max_error_rate 0.05, "
	    "max_error_ratio %g\n", rollouts, (unsigned long long)seed, sim_ratio);
	for (s = 0; s < SIM_NSCEN; s++) {
		struct sim_figures fj, ft, fo;

		if (only != NULL && strcmp(only, sim_scenarios[s].name) != 0)
			continue;
		sim_run(&sim_scenarios[s], rollouts, seed + s, &fj, &ft, &fo);
		printf("%s: %s\n", sim_scenarios[s].name, sim_scenarios[s].what);
		sim_print("sequential", &fj);
		sim_print("threshold", &ft);
		if (fo.rollouts > 0)
			sim_print("oracle", &fo);
		fflush(stdout);
	}
	return 0;
}
#endif
