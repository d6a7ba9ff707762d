/*
 * test_bgctl_view.c - bgctl's views of "json status": the watch frame and
 * the states of "rollout wait", from hand-written answers.
 */
#include <stdlib.h>

#include "bgctl_view.h"
#include "test.h"

static const char *status_running =
    "{\"version\":7,\"stable\":\"blue\",\"state\":\"running\","
    "\"weights\":{\"blue\":95.0,\"green\":5.0},"
    "\"rollout\":{\"pool\":\"green\",\"steps\":[1,5,25,100],\"step\":1,\"hold_s\":60,"
    "\"paused\":false,\"step_left_s\":42,\"step_requests\":12,\"min_requests\":100,"
    "\"waiting_for\":\"42 s and 88 more candidate request(s) (12 of 100)\"},"
    "\"last_revert\":null,\"window_s\":30,"
    "\"guard\":{\"verdict\":\"clean so far\",\"dry_run\":false,\"interval_ms\":500,"
    "\"window_s\":30,\"min_requests\":100,\"max_error_rate\":0.05,\"max_p99_ms\":500,"
    "\"min_healthy_fraction\":0.5,\"max_error_delta\":0,\"max_p99_ratio\":2,\"bake_s\":0},"
    "\"pools\":{\"blue\":{\"servers_up\":1,\"servers\":1,\"requests\":10,\"error_rate\":0,"
    "\"p99_ms\":1.5,\"server_list\":[{\"address\":\"127.0.0.1:1\",\"state\":\"up\","
    "\"active\":0,\"requests\":10,\"errors\":0}]},"
    "\"green\":{\"servers_up\":1,\"servers\":1,\"requests\":0,\"error_rate\":0,\"p99_ms\":0}}}";

static json_t *
load(const char *s)
{
	json_error_t e;
	json_t *j = json_loads(s, 0, &e);

	if (j == NULL)
		printf("  bad test JSON: %s\n", e.text);
	return j;
}

/* Renders a frame into a string the caller frees. */
static char *
frame(json_t *st, json_t *ev)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	bgctl_view_frame(f, st, ev, "2026-12-02 10:00:00", false);
	fclose(f);
	return buf;
}

TEST(frame_marks_the_current_step_and_says_what_it_waits_for)
{
	json_t *st = load(status_running);
	json_t *ev = load("[{\"text\":\"2026 rollout of green\\u0007 started\"}]");
	char *s = frame(st, ev), *line;

	CHECK(strstr(s, "bgproxy  stable blue  state running  version 7  2026-12-02 10:00:00\n")
	    == s);
	CHECK(strstr(s, "rollout green  1% [5%] 25% 100%  step 2 of 4, hold 60 s\n") != NULL);
	CHECK(strstr(s, "  waits for: 42 s and 88 more candidate request(s) (12 of 100)\n") != NULL);
	CHECK(strstr(s, "guard: clean so far\n") != NULL);
	CHECK(strstr(s, "  errors <= 5.00%, p99 <= 500 ms, healthy >= 50%, min 100 requests in "
	    "30 s\n  p99 ratio <= 2\n") != NULL);
	CHECK(strstr(s, "delta") == NULL);	/* a check that is off is not shown */
	CHECK(strstr(s, "127.0.0.1:1") != NULL);
	/* control bytes from the server never reach the terminal */
	CHECK(strstr(s, "rollout of green? started") != NULL);
	for (line = s; *line; line = strchr(line, '\n') + 1)
		if (strchr(line, '\n') - line > 80)
			printf("  a line of %d columns: %.*s\n", (int)(strchr(line, '\n') - line),
			    (int)(strchr(line, '\n') - line), line), test_cur_failed = 1;
	free(s);
	json_decref(st);
	json_decref(ev);
}

TEST(frame_shows_a_shadow_phase_and_its_copies)
{
	json_t *st = load("{\"version\":3,\"stable\":\"blue\",\"state\":\"running\","
	    "\"weights\":{\"blue\":100.0,\"green\":0.0},"
	    "\"rollout\":{\"pool\":\"green\",\"steps\":[1,5,100],\"step\":0,\"shadow\":10.0,"
	    "\"hold_s\":60,\"paused\":false,\"step_left_s\":42,"
	    "\"waiting_for\":\"42 s (copies answered 96 of 20)\"},"
	    "\"shadow\":{\"percent\":10.0,\"copies\":{\"requests\":96,\"error_rate\":0.0625,"
	    "\"p99_ms\":3.1},\"stable\":{\"requests\":0,\"error_rate\":0,\"p99_ms\":0}}}");
	char *s = frame(st, NULL);

	CHECK(strstr(s, "rollout green  [shadow 10%] 1% 5% 100%, hold 60 s\n") != NULL);
	CHECK(strstr(s, "\nshadow 10%: copies 96, 6.25% errors, p99 3.1 ms\n"
	    "  the stable answers to them 0, - errors, p99 -\n") != NULL);
	free(s);
	/* bgctl status: the rollout in one line */
	{
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);

		bgctl_view_status(f, st, false);
		fclose(f);
		CHECK(strstr(buf, "green shadow (copies of 10%), 42 s left") != NULL);
		/* why the step stays: the rollout's waiting_for */
		CHECK(strstr(buf, "\nwaits for: 42 s (copies answered 96 of 20)\n") != NULL);
		free(buf);
	}
	json_decref(st);
}

/* bgctl status says what the guard says (why a step is inconclusive) */
TEST(status_shows_the_guard_verdict)
{
	json_t *st = load("{\"version\":3,\"stable\":\"blue\",\"state\":\"running\","
	    "\"guard\":{\"verdict\":\"inconclusive: green not yet shown within error_rate "
	    "(12 requests this step; about 500 more)\"}}");
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	bgctl_view_status(f, st, false);
	fclose(f);
	CHECK(strstr(buf, "\nguard: inconclusive: green not yet shown within error_rate (12 "
	    "requests this step; about 500 more)\n") != NULL);
	CHECK(strstr(buf, "waits for") == NULL);
	free(buf);
	json_decref(st);
}

TEST(frame_tolerates_a_bare_status)
{
	json_t *st = load("{\"state\":3,\"rollout\":[1],\"guard\":\"x\"}");
	char *s = frame(st, NULL);

	CHECK(strstr(s, "bgproxy  stable -  state -  version -") == s);
	CHECK(strstr(s, "rollout -\n") != NULL);
	CHECK(strstr(s, "events") == NULL);
	free(s);
	json_decref(st);
}

TEST(frame_says_off_for_checks_that_are_off)
{
	json_t *st = load("{\"version\":3,\"guard\":{\"verdict\":\"v\",\"max_error_rate\":0.05,"
	    "\"max_p99_ms\":0,\"min_healthy_fraction\":0,\"min_requests\":20,\"window_s\":10}}");
	char *s = frame(st, NULL);

	CHECK(strstr(s, "  errors <= 5.00%, p99 off, healthy off, min 20 requests in 10 s\n") !=
	    NULL);
	free(s);
	json_decref(st);
}

static enum bgctl_wait_state
wait_on(const char *json, struct bgctl_wait *w)
{
	json_t *st = load(json);
	enum bgctl_wait_state r = bgctl_view_wait(st, w);

	json_decref(st);
	return r;
}

TEST(wait_follows_a_rollout_to_its_promote)
{
	struct bgctl_wait w = { 0 };
	char key[sizeof(w.w_key)];

	CHECK_EQ_INT(wait_on(status_running, &w), BGCTL_WAIT_GOING);
	CHECK_STR(w.w_pool, "green");
	CHECK_STR(w.w_line, "green step 2 of 4 (5%): waits for 42 s and 88 more candidate "
	    "request(s) (12 of 100)");
	snprintf(key, sizeof(key), "%s", w.w_key);
	CHECK_EQ_INT(wait_on("{\"stable\":\"blue\",\"state\":\"baking\",\"rollout\":{\"pool\":"
	    "\"green\",\"steps\":[1,100],\"step\":1,\"waiting_for\":\"baking: promote\"}}", &w),
	    BGCTL_WAIT_BAKING);
	CHECK(strcmp(key, w.w_key) != 0);
	CHECK_STR(w.w_line, "green has 100%: baking: promote");
	CHECK_EQ_INT(wait_on("{\"stable\":\"green\",\"state\":\"idle\",\"rollout\":null}", &w),
	    BGCTL_WAIT_PROMOTED);
	CHECK_STR(w.w_line, "green promoted: it is the stable pool");
}

TEST(wait_ends_in_a_revert_or_otherwise)
{
	struct bgctl_wait w = { 0 };

	CHECK_EQ_INT(wait_on("{\"stable\":\"blue\",\"state\":\"reverted\",\"last_revert\":"
	    "\"error_rate 1 > 0.05\"}", &w), BGCTL_WAIT_REVERTED);
	CHECK_STR(w.w_line, "reverted: error_rate 1 > 0.05");
	memset(&w, 0, sizeof(w));
	CHECK_EQ_INT(wait_on("{\"stable\":\"blue\",\"state\":\"idle\"}", &w), BGCTL_WAIT_NONE);
	CHECK_STR(w.w_line, "no rollout to wait for (state idle)");
	/* after a switch the candidate is the pool that is not stable */
	memset(&w, 0, sizeof(w));
	CHECK_EQ_INT(wait_on("{\"stable\":\"blue\",\"state\":\"baking\",\"rollout\":null}", &w),
	    BGCTL_WAIT_BAKING);
	CHECK_STR(w.w_pool, "green");
	/* an operator's set weight 0 ends it without a promote */
	CHECK_EQ_INT(wait_on("{\"stable\":\"blue\",\"state\":\"idle\"}", &w), BGCTL_WAIT_NONE);
	CHECK_STR(w.w_line, "the rollout of green ended without a promote (state idle, stable "
	    "blue)");
	CHECK_EQ_INT(wait_on("{\"stable\":\"blue\",\"state\":\"manual\"}", &w), BGCTL_WAIT_NONE);
}

int
main(void)
{
	RUN(frame_marks_the_current_step_and_says_what_it_waits_for);
	RUN(frame_shows_a_shadow_phase_and_its_copies);
	RUN(status_shows_the_guard_verdict);
	RUN(frame_tolerates_a_bare_status);
	RUN(frame_says_off_for_checks_that_are_off);
	RUN(wait_follows_a_rollout_to_its_promote);
	RUN(wait_ends_in_a_revert_or_otherwise);
	return test_summary();
}
