/*
 * admin_explain.c - `explain`: the guard's evidence, per check.
 *
 * Under guard.method "sequential", for each check that is on: its verdict,
 * the evidence against "within the limit" (the statistic that trips it)
 * and against "beyond it" (the one that lets a step advance), each with the
 * bound it must reach, the observations they rest on, and what the check
 * waits for.  Under "threshold" it says so, with the guard's verdict.
 */
#include <math.h>
#include <stdio.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "admin_cmds.h"
#include "cluster.h"
#include "cluster_rec.h"
#include "config.h"
#include "jsonx.h"
#include "judge.h"
#include "proxy.h"
#include "watch.h"

/* a check's limit as configured, in words */
static double
explain_limit(const struct judge_policy *p, int i)
{
	switch (i) {
	case JUDGE_ERROR_RATE: return p->max_error_rate;
	case JUDGE_ERROR_RATIO: return p->max_error_ratio;
	case JUDGE_ERROR_DELTA: return p->max_error_delta;
	case JUDGE_P99: return p->max_p99_ms;
	default: return p->max_p99_ratio;
	}
}

/* In a fleet: each live node's counts since it began, as it published them
 * (this node's included), for `explain`'s "nodes". */
struct explain_nodes {
	json_t *arr;                  /* json, or NULL */
	struct evbuffer *b;           /* text, or NULL */
};

static void
explain_node(const struct cluster_figs *f, long long age_ms, int self, void *arg)
{
	struct explain_nodes *en = arg;

	(void)age_ms;
	if (!f->has_judged)
		return;
	if (en->arr != NULL)
		json_array_append_new(en->arr, json_pack("{s:s,s:b,s:{s:{s:I,s:I},s:{s:I,s:I}}}",
		    "node", f->node, "self", self, "counts", pool_names[0], "requests",
		    (json_int_t)f->judged[0].requests, "errors", (json_int_t)f->judged[0].errors,
		    pool_names[1], "requests", (json_int_t)f->judged[1].requests, "errors",
		    (json_int_t)f->judged[1].errors));
	if (en->b != NULL)
		evbuffer_add_printf(en->b, "node %s%s: blue %llu of %llu failed, green %llu of %llu "
		    "(since it began)\n", f->node, self ? " (this one)" : "",
		    (unsigned long long)f->judged[0].errors, (unsigned long long)f->judged[0].requests,
		    (unsigned long long)f->judged[1].errors, (unsigned long long)f->judged[1].requests);
}

static const char *
explain_waits(const struct judge_test *t)
{
	switch (t->verdict) {
	case JUDGE_TRIP:
		return "nothing: tripped";
	case JUDGE_CLEAN:
		return "nothing: shown within its limit this step";
	default:
		return "evidence that the candidate is within its limit";
	}
}

int
admin_cmd_explain(struct admin_ctx *c, int argc, char **argv)
{
	struct judge_policy p;
	int cand = 0, stable = 1, on[JUDGE_NCHECKS], i;
	const struct judge *j = watch_judge(c->sv, &p, &cand, &stable);
	enum judge_verdict v;
	uint64_t need;

	(void)argc;
	(void)argv;
	if (j == NULL) {
		const char *why = service_cfg(c->sv)->guard_method != GUARD_SEQUENTIAL ?
		    "guard.method is \"threshold\": the verdict rests on the window's figures" :
		    "not judging: the candidate has no live traffic";

		if (c->json)
			c->jout = json_pack("{s:s,s:f,s:b,s:o,s:o}", "method",
			    guard_method_names[service_cfg(c->sv)->guard_method], "alpha", p.alpha, "judging", 0,
			    "why", jsonx_str(why), "verdict", jsonx_str(watch_verdict(c->sv)));
		else
			evbuffer_add_printf(c->body, "method %s: %s\nverdict %s\n",
			    guard_method_names[service_cfg(c->sv)->guard_method], why, watch_verdict(c->sv));
		return 0;
	}
	judge_checks_on(&p, on);
	v = judge_verdict(j, &p, NULL);
	need = judge_need(j, &p);
	if (c->json) {
		json_t *checks = json_array();

		for (i = 0; checks != NULL && i < JUDGE_NCHECKS; i++) {
			const struct judge_test *t = &j->t[i];
			double tb = judge_threshold(&p, (enum judge_check)i, 1);
			double tw = judge_threshold(&p, (enum judge_check)i, 0);

			json_t *o;

			if (!on[i])
				continue;
			o = json_pack("{s:s,s:f,s:s,s:{s:f,s:f,s:I,s:I},"
			    "s:{s:f,s:f,s:I,s:I},s:s}", "check", judge_check_names[i], "limit",
			    explain_limit(&p, i), "verdict", judge_verdict_names[t->verdict],
			    "beyond", "evidence", exp(judge_bet_log_e(&t->beyond)), "bound", exp(tb),
			    "observations", (json_int_t)t->beyond.n, "ones", (json_int_t)t->beyond.k,
			    "within", "evidence", exp(judge_bet_log_e(&t->within)), "bound", exp(tw),
			    "observations", (json_int_t)t->within.n, "ones", (json_int_t)t->within.k,
			    "waits_for", explain_waits(t));
			/* error_ratio is also clean once the candidate is shown to fail
			 * less than a fifth of max_error_rate (no errors: no ratio) */
			if (o != NULL && i == JUDGE_ERROR_RATIO)
				json_object_set_new(o, "floor", json_pack("{s:f,s:f,s:f,s:I}", "rate",
				    judge_floor_limit(&p), "evidence",
				    exp(judge_bet_log_e(&t->floor)), "bound", exp(tw), "observations",
				    (json_int_t)t->floor.n));
			json_array_append_new(checks, o);
		}
		c->jout = json_pack("{s:s,s:f,s:b,s:s,s:s,s:s,s:I,s:o,s:{s:{s:I,s:I},s:{s:I,s:I}},"
		    "s:o,s:o,s:o}", "method", "sequential", "alpha", p.alpha, "judging", 1,
		    "candidate", pool_names[cand], "stable", pool_names[stable], "verdict",
		    judge_verdict_names[v], "step_requests", (json_int_t)j->step_requests,
		    "need", need == UINT64_MAX || v != JUDGE_INCONCLUSIVE ? json_null() :
		    json_integer((json_int_t)need), "counts", pool_names[cand], "requests",
		    (json_int_t)j->cand_requests, "errors", (json_int_t)j->cand_errors,
		    pool_names[stable], "requests", (json_int_t)j->stable_requests, "errors",
		    (json_int_t)j->stable_errors, "stable_error_rate_low", on[JUDGE_ERROR_DELTA] ?
		    json_real(j->stable_lo) : json_null(), "stable_error_rate_high",
		    on[JUDGE_ERROR_DELTA] ? json_real(j->stable_hi) : json_null(), "checks",
		    checks != NULL ? checks : json_null());
		if (c->jout != NULL)
			json_object_set_new(c->jout, "copies", json_boolean(watch_judge_copies(c->sv)));
		if (cluster_on() && c->jout != NULL) {
			struct explain_nodes en = { json_array(), NULL };

			cluster_nodes_each(explain_node, &en);
			json_object_set_new(c->jout, "nodes", en.arr != NULL ? en.arr : json_null());
		}
		return 0;
	}
	evbuffer_add_printf(c->body, "method sequential, alpha %g: %s%s against %s, %s", p.alpha,
	    pool_names[cand], watch_judge_copies(c->sv) ? " copies (the shadow phase)" : "",
	    pool_names[stable], judge_verdict_names[v]);
	if (v == JUDGE_INCONCLUSIVE && need != UINT64_MAX)
		evbuffer_add_printf(c->body, " (about %llu more %s requests)",
		    (unsigned long long)need, pool_names[cand]);
	evbuffer_add_printf(c->body, "\nsince the rollout began: %s %llu of %llu failed, %s %llu of "
	    "%llu; this step %llu %s requests\n", pool_names[cand],
	    (unsigned long long)j->cand_errors, (unsigned long long)j->cand_requests,
	    pool_names[stable], (unsigned long long)j->stable_errors,
	    (unsigned long long)j->stable_requests, (unsigned long long)j->step_requests,
	    pool_names[cand]);
	for (i = 0; i < JUDGE_NCHECKS; i++) {
		const struct judge_test *t = &j->t[i];
		double tb = judge_threshold(&p, (enum judge_check)i, 1);
		double tw = judge_threshold(&p, (enum judge_check)i, 0);

		if (!on[i])
			continue;
		evbuffer_add_printf(c->body, "%s (limit %g): %s; beyond: evidence %.3g of %.0f "
		    "(%llu observations); within: evidence %.3g of %.0f (%llu this step)",
		    judge_check_names[i], explain_limit(&p, i),
		    judge_verdict_names[t->verdict], exp(judge_bet_log_e(&t->beyond)), exp(tb),
		    (unsigned long long)t->beyond.n, exp(judge_bet_log_e(&t->within)), exp(tw),
		    (unsigned long long)t->within.n);
		if (i == JUDGE_ERROR_RATIO)
			evbuffer_add_printf(c->body, ", or an error rate under %g: evidence %.3g of %.0f "
			    "(%llu requests this step)", judge_floor_limit(&p),
			    exp(judge_bet_log_e(&t->floor)), exp(tw),
			    (unsigned long long)t->floor.n);
		evbuffer_add_printf(c->body, "; waits for %s\n", explain_waits(t));
	}
	if (cluster_on()) {
		struct explain_nodes en = { NULL, c->body };

		cluster_nodes_each(explain_node, &en);
	}
	return 0;
}
