/*
 * test_retry.c - the retry policy: which failed attempts go again, where.
 */
#include "http_parse.h"
#include "retry.h"
#include "test.h"

/* A GET without a body, sent whole, on the candidate, retries enabled. */
static struct retry_in
base(enum retry_failure f)
{
	struct retry_in in = {
		.failure = f, .method = HTTP_M_GET, .req_done = 1, .on_candidate = 1,
		.retry_candidate = 1,
	};

	return in;
}

TEST(candidate_failures_go_to_stable_once)
{
	enum retry_failure f;
	struct retry_in in;

	for (f = 0; f < RETRY_F_COUNT; f++) {
		if (f == RETRY_F_REFUSED)
			continue;       /* its own rule: refused_streams_go_again_fresh */
		in = base(f);
		CHECK_EQ_INT(retry_decide(&in), RETRY_STABLE);
		in.retried_stable = 1;
		CHECK_EQ_INT(retry_decide(&in), RETRY_NONE);
	}
	in = base(RETRY_F_GATEWAY);
	in.on_candidate = 0;		/* stable failing has nowhere else to go */
	CHECK_EQ_INT(retry_decide(&in), RETRY_NONE);
	in = base(RETRY_F_CONNECT);
	in.overridden = 1;		/* the override header pins the pool */
	CHECK_EQ_INT(retry_decide(&in), RETRY_NONE);
	in = base(RETRY_F_CONNECT);
	in.retry_candidate = 0;		/* retry_candidate_failures = false */
	CHECK_EQ_INT(retry_decide(&in), RETRY_NONE);
}

TEST(only_what_can_be_replayed_before_the_client_saw_anything)
{
	struct retry_in in = base(RETRY_F_RESET);

	in.has_body = 1;
	CHECK_EQ_INT(retry_decide(&in), RETRY_NONE);
	in = base(RETRY_F_RESET);
	in.req_done = 0;		/* still sending: the rest is not kept */
	CHECK_EQ_INT(retry_decide(&in), RETRY_NONE);
	in = base(RETRY_F_CLOSED);
	in.resp_started = 1;		/* bytes reached the client */
	in.reused = 1;
	CHECK_EQ_INT(retry_decide(&in), RETRY_NONE);
	in = base(RETRY_F_TIMEOUT);
	in.method = HTTP_M_POST;
	CHECK_EQ_INT(retry_decide(&in), RETRY_NONE);
	in.method = HTTP_M_OTHER;
	CHECK_EQ_INT(retry_decide(&in), RETRY_NONE);
	in.method = HTTP_M_DELETE;
	CHECK_EQ_INT(retry_decide(&in), RETRY_STABLE);
}

TEST(a_pooled_connection_closed_while_idle_goes_fresh_first)
{
	struct retry_in in = base(RETRY_F_CLOSED);

	in.reused = 1;
	CHECK_EQ_INT(retry_decide(&in), RETRY_FRESH);
	in.failure = RETRY_F_RESET;
	CHECK_EQ_INT(retry_decide(&in), RETRY_FRESH);
	in.on_candidate = 0;		/* on stable too */
	CHECK_EQ_INT(retry_decide(&in), RETRY_FRESH);
	in.attempts = RETRY_FRESH_MAX;	/* enough: then nothing on stable */
	CHECK_EQ_INT(retry_decide(&in), RETRY_NONE);
	in.on_candidate = 1;		/* and stable for the candidate */
	CHECK_EQ_INT(retry_decide(&in), RETRY_STABLE);
	/* a timeout or a refused connect is no stale connection */
	in = base(RETRY_F_TIMEOUT);
	in.reused = 1;
	CHECK_EQ_INT(retry_decide(&in), RETRY_STABLE);
	in = base(RETRY_F_CONNECT);
	in.reused = 1;
	in.on_candidate = 0;
	CHECK_EQ_INT(retry_decide(&in), RETRY_NONE);
}

TEST(failure_status_and_marking)
{
	CHECK_EQ_INT(retry_failure_status(RETRY_F_CONNECT), 502);
	CHECK_EQ_INT(retry_failure_status(RETRY_F_RESET), 502);
	CHECK_EQ_INT(retry_failure_status(RETRY_F_CLOSED), 502);
	CHECK_EQ_INT(retry_failure_status(RETRY_F_CONNECT_TIMEOUT), 504);
	CHECK_EQ_INT(retry_failure_status(RETRY_F_TIMEOUT), 504);
	CHECK(retry_failure_marks_server(RETRY_F_CONNECT));
	CHECK(retry_failure_marks_server(RETRY_F_CONNECT_TIMEOUT));
	CHECK(retry_failure_marks_server(RETRY_F_TIMEOUT));
	CHECK(!retry_failure_marks_server(RETRY_F_RESET));
	CHECK(!retry_failure_marks_server(RETRY_F_CLOSED));
	CHECK_STR(retry_failure_names[RETRY_F_CONNECT_TIMEOUT], "connect timeout");
}

TEST(refused_streams_go_again_fresh)
{
	struct retry_in in = base(RETRY_F_REFUSED);

	/* the server never processed it: whatever the method */
	in.method = HTTP_M_POST;
	CHECK_EQ_INT(retry_decide(&in), RETRY_FRESH);
	in.attempts = 99;
	CHECK(retry_decide(&in) != RETRY_FRESH);
	in = base(RETRY_F_REFUSED);
	in.has_body = 1;		/* its body is gone: nothing to send again */
	CHECK_EQ_INT(retry_decide(&in), RETRY_NONE);
	in = base(RETRY_F_REFUSED);
	in.resp_started = 1;
	CHECK_EQ_INT(retry_decide(&in), RETRY_NONE);
	CHECK_STR(retry_failure_names[RETRY_F_REFUSED], "refused");
}

int
main(void)
{
	RUN(candidate_failures_go_to_stable_once);
	RUN(only_what_can_be_replayed_before_the_client_saw_anything);
	RUN(a_pooled_connection_closed_while_idle_goes_fresh_first);
	RUN(failure_status_and_marking);
	RUN(refused_streams_go_again_fresh);
	return test_summary();
}
