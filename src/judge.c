/*
 * judge.c - the sequential guard (judge.h): tests by betting, per check.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "judge.h"

const char *const judge_check_names[JUDGE_NCHECKS] = {
	"error_rate", "error_ratio", "error_delta", "p99", "p99_ratio",
};

const char *const judge_verdict_names[3] = { "inconclusive", "clean", "trip" };

/* the stakes (lambda x limit); the bounds on the stable pool's rate bet
 * on small excesses too (1% against a grid rate of 0.2%: 0.008) */
static const double judge_stakes[JUDGE_GRID] = { 0.03, 0.1, 0.3, 0.7 };
static const double judge_stakes_fine[JUDGE_GRID_FINE] = { 0.003, 0.01, 0.03, 0.1, 0.3, 0.7 };

static int
judge_bet_grid(const struct judge_bet *b, const double **stakes)
{
	*stakes = b->fine ? judge_stakes_fine : judge_stakes;
	return b->fine ? JUDGE_GRID_FINE : JUDGE_GRID;
}

void
judge_bet_init(struct judge_bet *b, double memory)
{
	int e;

	memset(b, 0, sizeof(*b));
	b->memory = memory;
	for (e = 0; e < JUDGE_EPOCHS; e++)
		b->lweight[e] = -INFINITY;
	b->lweight[0] = log(JUDGE_FIRST_WEIGHT);
	b->epochs = 1;
	b->recent_lw = -INFINITY;
}

void
judge_bet_init_recent(struct judge_bet *b, double memory, double share)
{
	judge_bet_init(b, memory);
	b->recent = share;
}

/* log(exp(a) + exp(b)) */
static double
judge_logaddexp(double a, double b)
{
	double hi = a > b ? a : b;

	if (isinf(hi) && hi < 0)
		return hi;
	return hi + log(exp(a - hi) + exp(b - hi));
}

static double
judge_recent_g(double n)
{
	return 1.0 / (1.0 + n / JUDGE_RECENT_SCALE);
}

/* the k-th epoch after the first holds (1 - first) / (k (k + 1)) */
static void
judge_bet_new_epoch(struct judge_bet *b)
{
	double k = (double)b->epochs, worst = INFINITY, lw;
	int e, g, slot = -1;

	for (e = 0; e < JUDGE_EPOCHS && slot < 0; e++)
		if (isinf(b->lweight[e]))
			slot = e;
	if (slot < 0) {
		/* full: the poorest goes (never the first: it is the only one
		 * that saw everything) */
		for (e = 1; e < JUDGE_EPOCHS; e++) {
			double m = -INFINITY;

			for (g = 0; g < JUDGE_GRID_FINE; g++)
				if (b->lw[e][g] > m)
					m = b->lw[e][g];
			lw = b->lweight[e] + m;
			if (lw < worst) {
				worst = lw;
				slot = e;
			}
		}
	}
	for (g = 0; g < JUDGE_GRID_FINE; g++)
		b->lw[slot][g] = 0;
	b->lweight[slot] = log1p(-JUDGE_FIRST_WEIGHT) - log(k) - log(k + 1);
	b->epochs++;
}

void
judge_bet_feed(struct judge_bet *b, uint64_t n, uint64_t k, double limit)
{
	const double *stakes;
	int e, g, ng = judge_bet_grid(b, &stakes);

	if (n == 0 || !(limit > 0 && limit < 1))
		return;
	if (k > n)
		k = n;
	for (e = 0; e < JUDGE_EPOCHS; e++) {
		if (isinf(b->lweight[e]))
			continue;
		for (g = 0; g < ng; g++) {
			double lambda = stakes[g] / limit;

			b->lw[e][g] += (double)k * log1p(lambda * (1 - limit)) +
			    (double)(n - k) * log1p(-lambda * limit);
		}
	}
	if (b->recent > 0) {
		double lambda = JUDGE_RECENT_STAKE / limit;
		double w = judge_recent_g((double)b->n) - judge_recent_g((double)(b->n + n));

		/* a bettor starts now (weight w), and every one bets on this feed */
		b->recent_lw = judge_logaddexp(b->recent_lw, log(w)) +
		    (double)k * log1p(lambda * (1 - limit)) + (double)(n - k) * log1p(-lambda * limit);
	}
	b->n += n;
	b->k += k;
	b->limit = limit;
	b->since += (double)n;
	if (b->since >= b->memory) {
		b->since = 0;
		judge_bet_new_epoch(b);
	}
}

double
judge_bet_log_e(const struct judge_bet *b)
{
	const double *stakes;
	double hi = -INFINITY, sum = 0;
	int e, g, ng = judge_bet_grid(b, &stakes);

	for (e = 0; e < JUDGE_EPOCHS; e++)
		for (g = 0; g < ng; g++)
			if (!isinf(b->lweight[e]) && b->lweight[e] + b->lw[e][g] > hi)
				hi = b->lweight[e] + b->lw[e][g];
	for (e = 0; e < JUDGE_EPOCHS; e++)
		for (g = 0; g < ng; g++)
			if (!isinf(b->lweight[e]))
				sum += exp(b->lweight[e] + b->lw[e][g] - hi);
	/* (the shares of epochs not started yet, or dropped, are left out:
	 * the e-value is only lower for it) */
	if (!(b->recent > 0))
		return hi + log(sum / ng);
	/* the grid's share of the stake, and the recent bettors' */
	return judge_logaddexp(log1p(-b->recent) + hi + log(sum / ng),
	    log(b->recent) + b->recent_lw);
}

int
judge_checks_on(const struct judge_policy *p, int on[JUDGE_NCHECKS])
{
	int n = 0, i;

	on[JUDGE_ERROR_RATE] = p->max_error_rate > 0 && p->max_error_rate < 1;
	on[JUDGE_ERROR_RATIO] = p->max_error_ratio > 0;
	on[JUDGE_ERROR_DELTA] = p->max_error_delta > 0;
	on[JUDGE_P99] = p->max_p99_ms > 0;
	on[JUDGE_P99_RATIO] = p->max_p99_ratio > 0;
	for (i = 0; i < JUDGE_NCHECKS; i++)
		n += on[i];
	return n;
}

/* Each check's share of alpha for a trip, in parts: error_rate is there
 * for a candidate that fails a large share of its requests, which shows in
 * a few of them (a smaller share costs it about one request), while the
 * comparisons need all the evidence they can get (in simulation, 1% -> 5%
 * errors at 5% weight: 5,975 requests, median, against 6,525 with equal
 * shares). */
static const double judge_parts[JUDGE_NCHECKS] = {
	[JUDGE_ERROR_RATE] = 1, [JUDGE_ERROR_RATIO] = 9, [JUDGE_ERROR_DELTA] = 9,
	[JUDGE_P99] = 9, [JUDGE_P99_RATIO] = 9,
};

double
judge_threshold(const struct judge_policy *p, enum judge_check c, int beyond)
{
	int on[JUDGE_NCHECKS], i, n = judge_checks_on(p, on);
	double parts = 0, t;

	if ((int)c < 0 || c >= JUDGE_NCHECKS)
		return INFINITY;
	if (beyond) {
		for (i = 0; i < JUDGE_NCHECKS; i++)
			parts += on[i] || i == (int)c ? judge_parts[i] : 0;
		t = log(parts / (judge_parts[c] * p->alpha));
	} else {
		t = log((n > 0 ? n : 1) / p->alpha);
	}
	/* error_delta: half for the bounds on the stable pool's rate */
	return c == JUDGE_ERROR_DELTA ? t + log(2.0) : t;
}

static double
judge_memory(int check, int which)
{
	/* the ratio's observations are errors; the floor's are requests */
	return check == JUDGE_ERROR_RATIO && which != 2 ? JUDGE_MEMORY_ERRORS :
	    JUDGE_MEMORY_REQUESTS;
}

void
judge_init(struct judge *j)
{
	int i;

	memset(j, 0, sizeof(*j));
	for (i = 0; i < JUDGE_NCHECKS; i++) {
		/* the shares against a fixed limit: a candidate that fails (or
		 * slows) every request late in a rollout is caught at once */
		/* (the contract's "within 10 requests" is error_rate's: it holds
		 * half; the latency checks a quarter, the rest for a slower one) */
		if (i == JUDGE_ERROR_RATE)
			judge_bet_init_recent(&j->t[i].beyond, judge_memory(i, 0), 0.5);
		else if (i == JUDGE_P99 || i == JUDGE_P99_RATIO)
			judge_bet_init_recent(&j->t[i].beyond, judge_memory(i, 0), 0.25);
		else
			judge_bet_init(&j->t[i].beyond, judge_memory(i, 0));
		judge_bet_init(&j->t[i].within, judge_memory(i, 1));
		judge_bet_init(&j->t[i].floor, judge_memory(i, 2));
	}
	for (i = 0; i < JUDGE_CS_GRID; i++) {
		judge_bet_init(&j->st_below[i], JUDGE_MEMORY_REQUESTS);
		judge_bet_init(&j->st_above[i], JUDGE_MEMORY_REQUESTS);
		j->st_below[i].fine = j->st_above[i].fine = 1;
	}
	j->stable_hi = 1;
	j->stable_lo = 0;
}

void
judge_step(struct judge *j)
{
	int i;

	j->step_requests = 0;
	for (i = 0; i < JUDGE_NCHECKS; i++) {
		judge_bet_init(&j->t[i].within, judge_memory(i, 1));
		judge_bet_init(&j->t[i].floor, judge_memory(i, 2));
		if (j->t[i].verdict == JUDGE_CLEAN)
			j->t[i].verdict = JUDGE_INCONCLUSIVE;
	}
}

/* a share of n observations with k ones, judged both ways against limit */
static void
judge_feed_share(struct judge_test *t, uint64_t n, uint64_t k, double limit)
{
	judge_bet_feed(&t->beyond, n, k, limit);
	judge_bet_feed(&t->within, n, n - k, 1 - limit);
}

double
judge_floor_limit(const struct judge_policy *p)
{
	double m = p->max_error_rate > 0 && p->max_error_rate < 1 ? p->max_error_rate : 0.05;

	return JUDGE_RATIO_FLOOR * m;
}

static void
judge_add(struct judge_counts *to, const struct judge_counts *c)
{
	to->requests += c->requests;
	to->errors += c->errors;
	to->slow += c->slow;
	to->slow_ratio += c->slow_ratio;
}

/* the grid of the stable pool's bounds: 0.05% to 50%, evenly in log */
static double
judge_cs_rate(int i)
{
	return 0.0005 * pow(1000.0, (double)i / (JUDGE_CS_GRID - 1));
}

/*
 * The stable pool's n requests, k failed: each grid rate's two tests, then
 * the bounds.  The upper bound is the lowest rate m such that "rate >= m'"
 * was refuted for every grid rate m' >= m: were it below the true rate, the
 * test at the grid rate just under the true rate (a true hypothesis) would
 * have been refuted, which happens with chance at most a.  The lower bound
 * likewise.
 */
static void
judge_cs_feed(struct judge *j, uint64_t n, uint64_t k, double thr)
{
	int i;

	if (n == 0)
		return;
	for (i = 0; i < JUDGE_CS_GRID; i++) {
		double m = judge_cs_rate(i);

		judge_bet_feed(&j->st_below[i], n, n - k, 1 - m);
		judge_bet_feed(&j->st_above[i], n, k, m);
		if (judge_bet_log_e(&j->st_below[i]) >= thr)
			j->st_below_done[i] = 1;
		if (judge_bet_log_e(&j->st_above[i]) >= thr)
			j->st_above_done[i] = 1;
	}
	j->stable_hi = 1;
	for (i = JUDGE_CS_GRID - 1; i >= 0 && j->st_below_done[i]; i--)
		j->stable_hi = judge_cs_rate(i);
	j->stable_lo = 0;
	for (i = 0; i < JUDGE_CS_GRID && j->st_above_done[i]; i++)
		j->stable_lo = judge_cs_rate(i);
}

void
judge_feed(struct judge *j, const struct judge_policy *p, const struct judge_counts *cand,
    const struct judge_counts *stable)
{
	int on[JUDGE_NCHECKS], i;
	uint64_t nc = cand->requests;

	judge_checks_on(p, on);
	j->cand_requests += nc;
	j->stable_requests += stable->requests;
	j->cand_errors += cand->errors < nc ? cand->errors : nc;
	j->stable_errors += stable->errors < stable->requests ? stable->errors : stable->requests;
	j->step_requests += nc;
	if (nc + stable->requests > 0)
		j->last_share = (double)nc / (double)(nc + stable->requests);
	if (on[JUDGE_ERROR_RATE])
		judge_feed_share(&j->t[JUDGE_ERROR_RATE], nc, cand->errors < nc ? cand->errors : nc,
		    p->max_error_rate);
	if (on[JUDGE_ERROR_RATIO]) {
		struct judge_counts *pc = &j->pend_cand, *ps = &j->pend_stable;

		judge_add(pc, cand);
		judge_add(ps, stable);
		judge_bet_feed(&j->t[JUDGE_ERROR_RATIO].floor, nc, nc - (cand->errors < nc ?
		    cand->errors : nc), 1 - judge_floor_limit(p));
		if (pc->requests >= JUDGE_RATIO_BATCH && ps->requests >= JUDGE_RATIO_BATCH) {
			double s = (double)pc->requests / (double)(pc->requests + ps->requests);
			double rs = p->max_error_ratio * s;
			uint64_t ec = pc->errors < pc->requests ? pc->errors : pc->requests;
			uint64_t es = ps->errors < ps->requests ? ps->errors : ps->requests;

			if (ec + es > 0)
				judge_feed_share(&j->t[JUDGE_ERROR_RATIO], ec + es, ec,
				    rs / (rs + 1 - s));
			memset(pc, 0, sizeof(*pc));
			memset(ps, 0, sizeof(*ps));
		}
	}
	if (on[JUDGE_ERROR_DELTA]) {
		/* the bounds from before this feed: the stakes are set before
		 * the outcomes they bet on are seen */
		struct judge_test *t = &j->t[JUDGE_ERROR_DELTA];
		uint64_t ec = cand->errors < nc ? cand->errors : nc;
		uint64_t ns = stable->requests;
		uint64_t es = stable->errors < ns ? stable->errors : ns;
		double hi = j->stable_hi + p->max_error_delta;
		double lo = j->stable_lo + p->max_error_delta;

		if (hi < 1)
			judge_bet_feed(&t->beyond, nc, ec, hi);
		if (lo < 1)
			judge_bet_feed(&t->within, nc, nc - ec, 1 - lo);
		judge_cs_feed(j, ns, es, judge_threshold(p, JUDGE_ERROR_DELTA, 1));
	}
	if (on[JUDGE_P99])
		judge_feed_share(&j->t[JUDGE_P99], nc, cand->slow < nc ? cand->slow : nc,
		    JUDGE_P99_SHARE);
	if (on[JUDGE_P99_RATIO]) {
		uint64_t nr = cand->ratio_requests < nc ? cand->ratio_requests : nc;

		judge_feed_share(&j->t[JUDGE_P99_RATIO], nr,
		    cand->slow_ratio < nr ? cand->slow_ratio : nr, JUDGE_P99_SHARE);
	}
	for (i = 0; i < JUDGE_NCHECKS; i++) {
		struct judge_test *t = &j->t[i];
		double th = judge_threshold(p, (enum judge_check)i, 0);

		if (!on[i] || t->verdict == JUDGE_TRIP)
			continue;
		if (judge_bet_log_e(&t->beyond) >= judge_threshold(p, (enum judge_check)i, 1))
			t->verdict = JUDGE_TRIP;
		else if (t->verdict != JUDGE_CLEAN &&
		    (judge_bet_log_e(&t->within) >= th ||
		    (i == JUDGE_ERROR_RATIO && judge_bet_log_e(&t->floor) >= th)))
			t->verdict = JUDGE_CLEAN;
	}
}

enum judge_verdict
judge_verdict(const struct judge *j, const struct judge_policy *p, enum judge_check *which)
{
	int on[JUDGE_NCHECKS], i, clean = 1;

	judge_checks_on(p, on);
	for (i = 0; i < JUDGE_NCHECKS; i++) {
		if (!on[i])
			continue;
		if (j->t[i].verdict == JUDGE_TRIP) {
			if (which != NULL)
				*which = (enum judge_check)i;
			return JUDGE_TRIP;
		}
		if (j->t[i].verdict != JUDGE_CLEAN)
			clean = 0;
	}
	return clean ? JUDGE_CLEAN : JUDGE_INCONCLUSIVE;
}

void
judge_reason(const struct judge *j, const struct judge_policy *p, enum judge_check c,
    const char *cand, const char *stable, char *buf, size_t len)
{
	double thr;
	const struct judge_bet *b;
	size_t at;

	if ((int)c < 0 || c >= JUDGE_NCHECKS) {
		snprintf(buf, len, "?");
		return;
	}
	thr = judge_threshold(p, c, 1);
	b = &j->t[c].beyond;
	snprintf(buf, len, "%s beyond its limit: evidence %.4g >= %.0f (alpha %g); ",
	    judge_check_names[c], exp(judge_bet_log_e(b)), exp(thr), p->alpha);
	at = strlen(buf);
	/* a latency check's evidence is the requests slower than its bound */
	if (c == JUDGE_P99 || c == JUDGE_P99_RATIO)
		snprintf(buf + at, len - at, "%s %llu of %llu slower than %s, ", cand,
		    (unsigned long long)b->k, (unsigned long long)b->n, c == JUDGE_P99 ?
		    "max_p99_ms" : "max_p99_ratio x the stable p99");
	at = strlen(buf);
	snprintf(buf + at, len - at, "%s %llu of %llu failed, %s %llu of %llu, since the "
	    "rollout began", cand, (unsigned long long)j->cand_errors,
	    (unsigned long long)j->cand_requests, stable, (unsigned long long)j->stable_errors,
	    (unsigned long long)j->stable_requests);
}

void
judge_evidence(const struct judge *j, const struct judge_policy *p, const char *cand,
    const char *stable, char *buf, size_t len)
{
	int on[JUDGE_NCHECKS], i;
	size_t at;

	if (len == 0)
		return;
	judge_checks_on(p, on);
	snprintf(buf, len, "alpha %g; since the rollout began %s %llu of %llu failed, %s %llu of "
	    "%llu", p->alpha, cand, (unsigned long long)j->cand_errors,
	    (unsigned long long)j->cand_requests, stable, (unsigned long long)j->stable_errors,
	    (unsigned long long)j->stable_requests);
	for (i = 0; i < JUDGE_NCHECKS; i++) {
		const struct judge_test *t = &j->t[i];

		if (!on[i])
			continue;
		at = strlen(buf);
		snprintf(buf + at, len - at, "; %s %s: beyond %.3g of %.3g, within %.3g of %.3g",
		    judge_check_names[i], judge_verdict_names[t->verdict],
		    exp(judge_bet_log_e(&t->beyond)), exp(judge_threshold(p, (enum judge_check)i, 1)),
		    exp(judge_bet_log_e(&t->within)), exp(judge_threshold(p, (enum judge_check)i, 0)));
	}
}

static int
judge_bet_valid(const struct judge_bet *b)
{
	int e, g;

	if (!(b->memory > 0) || !(b->since >= 0) || !(b->limit >= 0 && b->limit < 1) ||
	    b->k > b->n || b->epochs < 1 || (b->fine != 0 && b->fine != 1) ||
	    !(b->recent >= 0 && b->recent < 1) || isnan(b->recent_lw) ||
	    (isinf(b->recent_lw) && b->recent_lw > 0) || (b->recent == 0 && !isinf(b->recent_lw)))
		return 0;
	for (e = 0; e < JUDGE_EPOCHS; e++) {
		if (isnan(b->lweight[e]) || b->lweight[e] > 0 || (isinf(b->lweight[e]) && e == 0))
			return 0;
		for (g = 0; g < JUDGE_GRID_FINE; g++)
			if (!isfinite(b->lw[e][g]))
				return 0;
	}
	return 1;
}

int
judge_valid(const struct judge *j)
{
	int i;

	for (i = 0; i < JUDGE_NCHECKS; i++)
		if (!judge_bet_valid(&j->t[i].beyond) || !judge_bet_valid(&j->t[i].within) ||
		    !judge_bet_valid(&j->t[i].floor) || (unsigned)j->t[i].verdict > JUDGE_TRIP)
			return 0;
	for (i = 0; i < JUDGE_CS_GRID; i++)
		if (!judge_bet_valid(&j->st_below[i]) || !judge_bet_valid(&j->st_above[i]) ||
		    j->st_below_done[i] > 1 || j->st_above_done[i] > 1)
			return 0;
	return j->stable_lo >= 0 && j->stable_hi <= 1 && j->stable_lo <= j->stable_hi &&
	    j->last_share >= 0 && j->last_share <= 1 && j->cand_errors <= j->cand_requests &&
	    j->stable_errors <= j->stable_requests && j->step_requests <= j->cand_requests;
}

/* Bernoulli KL(q || l): a bettor's best growth per observation */
static double
judge_kl(double q, double l)
{
	double a = q > 0 ? q * log(q / l) : 0;
	double b = q < 1 ? (1 - q) * log((1 - q) / (1 - l)) : 0;

	return a + b;
}

/* observations b still needs to reach thr, at its share so far */
static double
judge_bet_need(const struct judge_bet *b, double thr)
{
	double q, g = thr - judge_bet_log_e(b);

	if (g <= 0)
		return 0;
	/* fewer observations say too little of the share to be worth a
	 * number; the share is taken half an observation toward the limit */
	if (b->n < 50 || b->limit <= 0)
		return INFINITY;
	q = ((double)b->k + 0.5 * b->limit) / ((double)b->n + 0.5);
	if (q <= b->limit)
		return INFINITY;
	return g / judge_kl(q, b->limit);
}

uint64_t
judge_need(const struct judge *j, const struct judge_policy *p)
{
	int on[JUDGE_NCHECKS], i;
	double worst = 0;

	judge_checks_on(p, on);
	for (i = 0; i < JUDGE_NCHECKS; i++) {
		const struct judge_test *t = &j->t[i];
		double need;

		if (!on[i] || t->verdict != JUDGE_INCONCLUSIVE)
			continue;
		double thr = judge_threshold(p, (enum judge_check)i, 0);

		need = judge_bet_need(&t->within, thr);
		if (i == JUDGE_ERROR_RATIO) {
			/* observations are errors: per candidate request, the errors
			 * of both pools that come with it */
			const struct judge_bet *w = &t->within;
			double per = j->cand_requests > 0 && w->n > 0 ?
			    (double)w->n / (double)j->step_requests : 0;
			double fl = judge_bet_need(&t->floor, thr);

			need = per > 0 ? need / per : INFINITY;
			if (fl < need)
				need = fl;
		}
		if (need > worst)
			worst = need;
	}
	if (isinf(worst) || worst > 1e12)
		return UINT64_MAX;
	return (uint64_t)ceil(worst);
}
