/* Unit tests for cluster_rec.c: the split record and a node's figures as
 * etcd holds them, round trips and refusals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_rec.h"
#include "test.h"

static struct cluster_rec
sample_rec(void)
{
	struct cluster_rec r;

	memset(&r, 0, sizeof(r));
	r.st.stable = 0;
	r.st.candidate_bp = 500;
	r.st.mode = MODE_RUNNING;
	r.st.has_rollout = 1;
	r.st.rollout_pool = 1;
	r.st.steps_bp[0] = 500;
	r.st.steps_bp[1] = 10000;
	r.st.nsteps = 2;
	r.st.hold_s = 60;
	r.st.version = 42;
	r.st.revert_step = -1;
	snprintf(r.node, sizeof(r.node), "n1");
	r.step_started_ms = 1764680000123LL;
	return r;
}

TEST(record_round_trip)
{
	struct cluster_rec r = sample_rec(), back;
	char err[256], *v = cluster_rec_format(&r);

	CHECK(v != NULL);
	CHECK(strstr(v, "\"node\":\"n1\"") != NULL);
	CHECK(cluster_rec_parse(v, strlen(v), &back, err, sizeof(err)) == 0);
	CHECK_EQ_INT(back.st.candidate_bp, 500);
	CHECK_EQ_INT(back.st.mode, MODE_RUNNING);
	CHECK_EQ_INT(back.st.version, 42);
	CHECK_EQ_INT(back.st.nsteps, 2);
	CHECK_EQ_INT(back.step_started_ms, 1764680000123LL);
	CHECK_EQ_INT(back.bake_started_ms, 0);
	CHECK_STR(back.node, "n1");
	free(v);
}

static const char *
rec_error(const char *text)
{
	static char err[256];
	struct cluster_rec r;

	memset(err, 0, sizeof(err));
	if (cluster_rec_parse(text, strlen(text), &r, err, sizeof(err)) == 0)
		return "(parsed)";
	return err;
}

TEST(record_refusals)
{
	struct cluster_rec r = sample_rec();
	char *v = cluster_rec_format(&r), *p;

	CHECK(strncmp(rec_error("{"), "not JSON", 8) == 0);
	CHECK_STR(rec_error("[1]"), "not a JSON object");
	CHECK_STR(rec_error("{\"state\":1}"), "\"state\" must be a string");
	CHECK(strncmp(rec_error("{\"state\":\"x\",\"node\":\"n1\"}"), "state: ", 7) == 0);
	/* a state whose checksum no longer holds: refused whole */
	p = strstr(v, "candidate_percent 5.00");
	CHECK(p != NULL);
	if (p != NULL) {
		p[18] = '6';
		CHECK(strstr(rec_error(v), "checksum") != NULL);
		p[18] = '5';
	}
	CHECK_STR(rec_error(v), "(parsed)");
	/* a bad node name, a time out of range, a duplicate key */
	p = strstr(v, "\"node\":\"n1\"");
	if (p != NULL) {
		p[9] = ' ';
		CHECK_STR(rec_error(v), "\"node\" must be a node name");
		p[9] = '1';
	}
	p = strstr(v, "\"step_started_ms\":");
	if (p != NULL) {
		p[18] = '-';
		CHECK_STR(rec_error(v), "\"step_started_ms\" must be a time in ms");
	}
	CHECK(strncmp(rec_error("{\"node\":\"a\",\"node\":\"b\"}"), "not JSON", 8) == 0);
	free(v);
}

TEST(figures_round_trip_and_sum)
{
	struct cluster_figs f, back;
	struct stats_window sum;
	char err[256], *v;

	memset(&f, 0, sizeof(f));
	snprintf(f.node, sizeof(f.node), "edge-2");
	f.time_ms = 1764680000000LL;
	f.version = 7;
	f.leader = 1;
	f.win[1].requests = 10;
	f.win[1].errors = 4;
	f.win[1].err_kind[STATS_ERR_TIMEOUT] = 1;
	f.win[1].status_5xx = 3;
	f.win[1].lat[12] = 6;
	f.win[1].lat[399] = 4;
	f.routed[1] = 12345;
	f.started_ms = 1764670000000LL;
	f.step_key = 1764680000123LL;
	f.step_requests = 57;
	v = cluster_figs_format(&f);
	CHECK(v != NULL);
	CHECK(strstr(v, "\"lat\":[[12,6],[399,4]],\"routed\":12345") != NULL);
	CHECK(strstr(v, "\"step\":{\"key\":1764680000123,\"requests\":57}") != NULL);
	CHECK(cluster_figs_parse(v, strlen(v), &back, err, sizeof(err)) == 0);
	CHECK(memcmp(&back, &f, sizeof(f)) == 0);
	memset(&sum, 0, sizeof(sum));
	cluster_figs_add(&sum, &back.win[1]);
	cluster_figs_add(&sum, &back.win[1]);
	CHECK_EQ_INT(sum.requests, 20);
	CHECK_EQ_INT(sum.errors, 8);
	CHECK_EQ_INT(sum.lat[399], 8);
	free(v);
	/* no shadow traffic: no shadow classes sent; with it, both round-trip */
	CHECK(strstr(v = cluster_figs_format(&f), "shadow") == NULL);
	free(v);
	f.win[STATS_SHADOW].requests = 5;
	f.win[STATS_SHADOW].errors = 5;
	f.win[STATS_SHADOW].err_kind[STATS_ERR_CONNECT] = 5;
	f.routed[STATS_SHADOW] = 9;
	f.win[STATS_SHADOW_BASE].requests = 5;
	f.win[STATS_SHADOW_BASE].lat[3] = 5;
	f.routed[STATS_SHADOW_BASE] = 9;
	v = cluster_figs_format(&f);
	CHECK(strstr(v, "\"shadow\":{\"requests\":5,\"errors\":5,\"connect\":5") != NULL);
	CHECK(strstr(v, "\"shadow_base\":{\"requests\":5") != NULL);
	CHECK(cluster_figs_parse(v, strlen(v), &back, err, sizeof(err)) == 0);
	CHECK(memcmp(&back, &f, sizeof(f)) == 0);
	free(v);
}

static const char *
figs_error(const char *pools)
{
	static char err[256], text[1024];
	struct cluster_figs f;

	snprintf(text, sizeof(text), "{\"node\":\"n\",\"time_ms\":1,\"version\":1,\"leader\":false,"
	    "\"pools\":%s}", pools);
	if (cluster_figs_parse(text, strlen(text), &f, err, sizeof(err)) == 0)
		return "(parsed)";
	return err;
}

#define W0 "{\"requests\":1,\"errors\":0,\"connect\":0,\"timeout\":0,\"reset\":0,\"status_5xx\":0," \
	"\"lat\":[],\"routed\":5}"

TEST(figures_refusals)
{
	CHECK_STR(figs_error("{\"blue\":" W0 ",\"green\":" W0 "}"), "(parsed)");
	CHECK_STR(figs_error("{\"blue\":" W0 ",\"green\":" W0 ",\"shadow\":" W0 "}"), "(parsed)");
	CHECK_STR(figs_error("{\"blue\":" W0 ",\"green\":" W0 ",\"shadow\":3}"), "pools.shadow: "
	    "requests, errors, connect, timeout, reset, status_5xx and routed must be counts");
	CHECK_STR(figs_error("{\"blue\":" W0 "}"), "pools.green: requests, errors, connect, "
	    "timeout, reset, status_5xx and routed must be counts");
	CHECK_STR(figs_error("{\"blue\":" W0 ",\"green\":{\"requests\":1,\"errors\":2,\"connect\":0,"
	    "\"timeout\":0,\"reset\":0,\"status_5xx\":0,\"lat\":[],\"routed\":1}}"),
	    "pools.green: more errors than requests");
	CHECK_STR(figs_error("{\"blue\":" W0 ",\"green\":{\"requests\":1,\"errors\":0,\"connect\":0,"
	    "\"timeout\":0,\"reset\":0,\"status_5xx\":0,\"lat\":[[400,1]],\"routed\":1}}"),
	    "pools.green.lat[0] must be [0..399, count]");
	CHECK_STR(figs_error("{\"blue\":" W0 ",\"green\":{\"requests\":-1,\"errors\":0,\"connect\":0,"
	    "\"timeout\":0,\"reset\":0,\"status_5xx\":0,\"lat\":[]}}"), "pools.green: requests, "
	    "errors, connect, timeout, reset, status_5xx and routed must be counts");
}

static const char *
figs_step_error(const char *tail)
{
	static char err[256], text[1024];
	struct cluster_figs f;

	snprintf(text, sizeof(text), "{\"node\":\"n\",\"time_ms\":1,\"version\":1,"
	    "\"leader\":false,\"pools\":{\"blue\":" W0 ",\"green\":" W0 "}%s}", tail);
	if (cluster_figs_parse(text, strlen(text), &f, err, sizeof(err)) == 0) {
		snprintf(err, sizeof(err), "(parsed %lld %lld %llu)", f.started_ms, f.step_key,
		    (unsigned long long)f.step_requests);
		return err;
	}
	return err;
}

TEST(figures_step_count)
{
	/* a node of an earlier release sends neither */
	CHECK_STR(figs_step_error(""), "(parsed 0 0 0)");
	CHECK_STR(figs_step_error(",\"started_ms\":5,\"step\":{\"key\":9,\"requests\":3}"),
	    "(parsed 5 9 3)");
	CHECK_STR(figs_step_error(",\"step\":{\"key\":9,\"requests\":-3}"),
	    "\"step\" must be {\"key\": wall-clock ms, \"requests\": count}");
	CHECK_STR(figs_step_error(",\"step\":[9,3]"),
	    "\"step\" must be {\"key\": wall-clock ms, \"requests\": count}");
	CHECK_STR(figs_step_error(",\"started_ms\":\"x\""), "\"started_ms\" must be a time in ms");
}

#define J0 "{\"requests\":10,\"errors\":2,\"slow\":1,\"slow_ratio\":1,\"bound1\":4}"

TEST(figures_judged)
{
	struct cluster_figs f, back;
	char err[256], *v;

	/* a node of an earlier release sends none */
	CHECK_STR(figs_step_error(""), "(parsed 0 0 0)");
	CHECK_STR(figs_step_error(",\"judged\":{\"blue\":" J0 ",\"green\":" J0 "}"), "(parsed 0 0 0)");
	CHECK_STR(figs_step_error(",\"judged\":{\"blue\":" J0 "}"), "\"judged\".green must hold "
	    "counts requests, errors, slow, slow_ratio, bound1, none above requests");
	CHECK_STR(figs_step_error(",\"judged\":{\"blue\":" J0 ",\"green\":{\"requests\":1,"
	    "\"errors\":2,\"slow\":0,\"slow_ratio\":0,\"bound1\":0}}"), "\"judged\".green must "
	    "hold counts requests, errors, slow, slow_ratio, bound1, none above requests");
	CHECK_STR(figs_step_error(",\"judged\":[]"), "\"judged\" must be an object");
	memset(&f, 0, sizeof(f));
	snprintf(f.node, sizeof(f.node), "n1");
	f.time_ms = 5;
	f.has_judged = 1;
	f.judged[1].requests = 1000;
	f.judged[1].errors = 30;
	f.judged[1].slow[0] = 7;
	f.judged[1].bound1 = 900;
	f.judged[1].slow[1] = 9;
	v = cluster_figs_format(&f);
	CHECK(v != NULL && cluster_figs_parse(v, strlen(v), &back, err, sizeof(err)) == 0);
	CHECK(back.has_judged == 1 && memcmp(back.judged, f.judged, sizeof(f.judged)) == 0);
	free(v);
	f.has_judged = 0;
	v = cluster_figs_format(&f);
	CHECK(v != NULL && strstr(v, "judged") == NULL);
	CHECK(cluster_figs_parse(v, strlen(v), &back, err, sizeof(err)) == 0 && !back.has_judged);
	free(v);
}

int
main(void)
{
	RUN(record_round_trip);
	RUN(record_refusals);
	RUN(figures_round_trip_and_sum);
	RUN(figures_refusals);
	RUN(figures_step_count);
	RUN(figures_judged);
	return test_summary();
}
