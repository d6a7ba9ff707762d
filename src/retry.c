/*
 * retry.c - the retry policy (see retry.h).
 */
#include "http_parse.h"
#include "retry.h"

const char *const retry_failure_names[RETRY_F_COUNT] = {
	[RETRY_F_CONNECT] = "connect",
	[RETRY_F_CONNECT_TIMEOUT] = "connect timeout",
	[RETRY_F_RESET] = "reset",
	[RETRY_F_CLOSED] = "closed",
	[RETRY_F_TIMEOUT] = "timeout",
	[RETRY_F_GATEWAY] = "status",
	[RETRY_F_REFUSED] = "refused",
};

int
retry_failure_status(enum retry_failure f)
{
	return f == RETRY_F_CONNECT_TIMEOUT || f == RETRY_F_TIMEOUT ? 504 : 502;
}

int
retry_failure_marks_server(enum retry_failure f)
{
	return f == RETRY_F_CONNECT || f == RETRY_F_CONNECT_TIMEOUT || f == RETRY_F_TIMEOUT;
}

enum retry_action
retry_decide(const struct retry_in *in)
{
	/* only a request that can be sent again as it was, and only before
	 * the client saw any of an answer */
	if (in->resp_started || in->has_body || !in->req_done)
		return RETRY_NONE;
	/* HTTP/2: a stream the server refused or never took (RFC 9113 8.7):
	 * whatever its method, on a new connection */
	if (in->failure == RETRY_F_REFUSED && in->attempts < RETRY_FRESH_MAX)
		return RETRY_FRESH;
	if (!http_method_idempotent(in->method))
		return RETRY_NONE;
	/* a pooled connection the server closed while idle: the request never
	 * reached it, so the same server on a new connection */
	if (in->reused && in->attempts < RETRY_FRESH_MAX &&
	    (in->failure == RETRY_F_CLOSED || in->failure == RETRY_F_RESET))
		return RETRY_FRESH;
	/* retry_candidate_failures: the candidate failed, stable answers once */
	if (in->retry_candidate && in->on_candidate && !in->retried_stable && !in->overridden)
		return RETRY_STABLE;
	return RETRY_NONE;
}
