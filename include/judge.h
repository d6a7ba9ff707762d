/*
 * judge.h - the sequential guard: counts in, verdict and evidence out,
 * with a stated bound on the chance of a false trip (CONTRACT.md section 15).
 *
 * Each limit is judged by two tests of a share of 0/1 observations
 * against a limit: "beyond" (the share is above the limit: trip) and
 * "within" (below: clean).  A test is a bet against its null hypothesis
 * (a test supermartingale): wealth starts at 1 and each observation x
 * multiplies it by 1 + lambda * (x - limit), lambda >= 0 fixed before
 * the observation is seen.  Under the null its expected factor is at most
 * 1, so by Ville's inequality the chance that the wealth ever reaches 1/a
 * is at most a, however often one looks.  The stake is shared (a mixture,
 * itself such a test):
 *   - between JUDGE_GRID stakes lambda = c / limit, c from 0.03 (a share
 *     a little above the limit, seen over many observations) to 0.7 (a
 *     candidate that fails every request, caught in a few);
 *   - between bettors started at different times: the one from the start
 *     holds JUDGE_FIRST_WEIGHT, and a new one starts every
 *     JUDGE_MEMORY_* observations with a share that falls as
 *     1 / (k (k + 1)).  After a long clean stretch the early bettors have
 *     lost their stake; a fault that starts late meets a fresh one.  At
 *     most JUDGE_EPOCHS are kept: the poorest is dropped (which can only
 *     lower the e-value: the bound holds).
 * The e-value of a test is their weighted mean wealth.
 *
 * The checks (the candidate's counts; the stable pool's for the ratio):
 *   error_rate   share of the candidate's requests that fail, against
 *                max_error_rate;
 *   error_ratio  share of all errors that are the candidate's, against
 *                the share they would have if its error rate were
 *                max_error_ratio x the stable pool's (Lindon et al.:
 *                conditioned on the errors, the daily cycle both pools
 *                share cancels): rho*s / (rho*s + 1 - s), s the
 *                candidate's share of requests in that batch;
 *   error_delta  share of the candidate's requests that fail, against the
 *                stable pool's rate plus max_error_delta: for "beyond"
 *                the stable pool's upper bound, for "within" its lower
 *                bound, each a confidence sequence that holds at every
 *                moment; the check's share of alpha is split in two, half
 *                for the bounds and half for the bets;
 *   p99          share of the candidate's requests slower than
 *                max_p99_ms, against 1 %;
 *   p99_ratio    share slower than max_p99_ratio x the stable pool's p99
 *                (the caller counts them against its current figure),
 *                against 1 %.
 * A check trips when its "beyond" e-value reaches 1 / its share of alpha
 * (judge_threshold: a union bound over the checks that are on), so that
 * over a whole rollout of a candidate within every limit the chance of any
 * trip is at most alpha.
 * The "within" tests restart at every step (judge_step): a step is clean
 * when every check's "within" e-value reached checks/alpha during it.
 * The ratio check is also clean once the candidate is shown to fail less
 * than JUDGE_RATIO_FLOOR x max_error_rate: with (almost) no errors on
 * either side no ratio can be shown, and none matters.
 *
 * Pure: no I/O, no clock, no globals.  Fed with counts since the last
 * feed, it replays a recorded run to the same decisions.
 */
#ifndef BGPROXY_JUDGE_H
#define BGPROXY_JUDGE_H

#include <stddef.h>
#include <stdint.h>

#define JUDGE_GRID 4              /* stakes in the mixture */
#define JUDGE_GRID_FINE 6         /* ... of the bounds on the stable pool's rate */
#define JUDGE_EPOCHS 6            /* bettors started at different times, kept at once */
#ifndef JUDGE_FIRST_WEIGHT
#define JUDGE_FIRST_WEIGHT 0.7    /* the share of the stake the bettor from the start holds */
#endif
#define JUDGE_MEMORY_REQUESTS 2000.0 /* a new bettor starts every this many requests */
#define JUDGE_MEMORY_ERRORS 100.0 /* ... or errors (the ratio check) */
#define JUDGE_RATIO_FLOOR 0.2     /* see above */
#ifndef JUDGE_RATIO_BATCH
#define JUDGE_RATIO_BATCH 20      /* requests of each pool in one comparison, at least */
#endif
#define JUDGE_P99_SHARE 0.01      /* the share a p99 limit allows above it */
#define JUDGE_RECENT_STAKE 0.9    /* the recent bettors' stake (x limit) */
#define JUDGE_RECENT_SCALE 1000.0 /* their weights: 1 / (1 + N / this), N observations before */

/* one test of "the share is above limit" */
struct judge_bet {
	/* log wealth per epoch and stake; an epoch's start, its weight */
	double lw[JUDGE_EPOCHS][JUDGE_GRID_FINE];
	double lweight[JUDGE_EPOCHS];  /* log of its share of the stake; -INFINITY: unused */
	unsigned epochs;          /* epochs started so far (the next one's number) */
	double memory;            /* observations between epochs */
	double since;             /* observations since the last epoch began */
	double limit;             /* the limit of the last feed */
	uint64_t n, k;            /* observations and ones since the test began */
	int fine;                 /* the finer stakes (JUDGE_GRID_FINE) */
	/* recent: that share of the stake goes to bettors started at every feed, each
	 * at JUDGE_RECENT_STAKE, the one started after N observations with
	 * weight 1/(1 + N/S) - 1/(1 + (N + n)/S) (the weights of all of them
	 * add up to at most 1; their sum kept in one number): a candidate
	 * that fails every request after a long clean history meets a bettor
	 * that has lost nothing to it, and is caught in about as few requests
	 * as at the start (the grid's bettors lost their stakes to the clean
	 * history; its epochs start only every JUDGE_MEMORY_* observations) */
	double recent;            /* 0: none */
	double recent_lw;         /* log of the recent bettors' wealth; -INFINITY: none yet */
};

void judge_bet_init(struct judge_bet *b, double memory);
/* The same, with share of the stake on the recent bettors (see above). */
void judge_bet_init_recent(struct judge_bet *b, double memory, double share);
/* n observations, k of them ones, each against limit (0 < limit < 1) */
void judge_bet_feed(struct judge_bet *b, uint64_t n, uint64_t k, double limit);
/* log of the e-value (log JUDGE_FIRST_WEIGHT at the start) */
double judge_bet_log_e(const struct judge_bet *b);

enum judge_check {
	JUDGE_ERROR_RATE = 0,
	JUDGE_ERROR_RATIO,
	JUDGE_ERROR_DELTA,
	JUDGE_P99,
	JUDGE_P99_RATIO,
	JUDGE_NCHECKS
};
extern const char *const judge_check_names[JUDGE_NCHECKS];

enum judge_verdict { JUDGE_INCONCLUSIVE = 0, JUDGE_CLEAN, JUDGE_TRIP };
extern const char *const judge_verdict_names[3];

struct judge_policy {
	double alpha;             /* (0, 0.5] */
	double max_error_rate;    /* (0, 1): error_rate; >= 1: off */
	double max_error_ratio;   /* 0 = off */
	double max_error_delta;   /* 0 = off */
	int max_p99_ms;           /* 0 = off */
	double max_p99_ratio;     /* 0 = off */
};

/* one pool's counts since the last feed */
struct judge_counts {
	uint64_t requests;
	uint64_t errors;
	uint64_t slow;            /* slower than max_p99_ms (candidate) */
	uint64_t slow_ratio;      /* slower than max_p99_ratio x the stable p99 (candidate) */
	uint64_t ratio_requests;  /* requests judged against that bound (it is not known
	                           * before the stable pool has a p99) */
};

struct judge_test {
	struct judge_bet beyond;  /* for the whole rollout */
	struct judge_bet within;  /* for the current step */
	struct judge_bet floor;   /* error_ratio only: within JUDGE_RATIO_FLOOR x max_error_rate */
	enum judge_verdict verdict;
};

#define JUDGE_CS_GRID 48          /* rates the stable pool's bounds are told from */

struct judge {
	struct judge_test t[JUDGE_NCHECKS];
	/* error_delta: bounds on the stable pool's error rate that hold at
	 * every moment (a confidence sequence), from tests of "its rate is at
	 * least / at most m" for m on a grid from 0.05% to 50% */
	struct judge_bet st_below[JUDGE_CS_GRID];  /* against "rate >= m" */
	struct judge_bet st_above[JUDGE_CS_GRID];  /* against "rate <= m" */
	unsigned char st_below_done[JUDGE_CS_GRID], st_above_done[JUDGE_CS_GRID];
	double stable_hi, stable_lo;               /* the bounds now */
	/* the ratio check waits for a batch in which both pools had
	 * JUDGE_RATIO_BATCH requests: errors are compared within the exposure
	 * they came from, and a share of requests taken over a handful of
	 * them is mostly noise (in simulation: 1% -> 2.5% at 5% weight was
	 * caught in 112,000 requests, p95, against 155,000 comparing each
	 * feed).  A candidate failing every request is caught by its own
	 * rate meanwhile. */
	struct judge_counts pend_cand, pend_stable;
	uint64_t cand_requests, stable_requests;  /* since the rollout began */
	uint64_t cand_errors, stable_errors;
	uint64_t step_requests;                   /* the candidate's, since the step began */
	double last_share;                        /* the candidate's share in the last feed */
};

/* A new rollout: every test from the start. */
void judge_init(struct judge *j);
/* A new step: the "within" tests start again (the "beyond" ones go on). */
void judge_step(struct judge *j);
/* Counts since the last feed; then the verdict of every check (judge_verdict). */
void judge_feed(struct judge *j, const struct judge_policy *p, const struct judge_counts *cand,
    const struct judge_counts *stable);

/* The error rate below which error_ratio is clean too (JUDGE_RATIO_FLOOR x
 * max_error_rate, or x 0.05 with error_rate off). */
double judge_floor_limit(const struct judge_policy *p);

/* Checks that are on under p. */
int judge_checks_on(const struct judge_policy *p, int on[JUDGE_NCHECKS]);

/*
 * The log of the e-value check c must reach: beyond (a trip) at its share
 * of alpha (error_rate 1 part, every other check that is on 9: with the
 * defaults error_rate alpha/10, error_ratio 9 alpha/10); within (clean) at
 * alpha / the checks that are on.  error_delta's is doubled (half of its
 * share for the bounds on the stable pool's rate).
 */
double judge_threshold(const struct judge_policy *p, enum judge_check c, int beyond);

/* The overall verdict: TRIP if a check tripped (first in check order into
 * *which), CLEAN if every check that is on is clean, else INCONCLUSIVE. */
enum judge_verdict judge_verdict(const struct judge *j, const struct judge_policy *p,
    enum judge_check *which);

/* The evidence of check c in words, for a trip's reason: its e-value
 * against the threshold, alpha, and the counts since the rollout began. */
void judge_reason(const struct judge *j, const struct judge_policy *p, enum judge_check c,
    const char *cand, const char *stable, char *buf, size_t len);

/* Every check that is on, in one line for an event: alpha, the counts
 * since the rollout began, and per check its verdict with both statistics
 * against their bounds ("error_rate trip: beyond 1.2e+03 >= 1e+03, within
 * 0.3 of 2e+02"). */
void judge_evidence(const struct judge *j, const struct judge_policy *p, const char *cand,
    const char *stable, char *buf, size_t len);

/* 1 when every number in j is one a judge can hold (a judge read back
 * from a file is checked before it is used), else 0. */
int judge_valid(const struct judge *j);

/* About how many more candidate requests the checks still inconclusive
 * need, at the shares seen so far (0: none inconclusive; UINT64_MAX: no
 * estimate, the data so far point the other way or are too few). */
uint64_t judge_need(const struct judge *j, const struct judge_policy *p);

#endif
