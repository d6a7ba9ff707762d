/*
 * retry.h - what to do when an attempt at the upstream fails: nothing,
 * the same server again on a fresh connection, or the stable pool.  Pure:
 * the caller describes the request and the failure, retry_decide answers;
 * tests/unit/test_retry.c holds the policy.
 */
#ifndef BGPROXY_RETRY_H
#define BGPROXY_RETRY_H

/* How an attempt failed. */
enum retry_failure {
	RETRY_F_CONNECT,		/* the connect failed */
	RETRY_F_CONNECT_TIMEOUT,	/* the connect did not finish in time */
	RETRY_F_RESET,			/* the connection was reset */
	RETRY_F_CLOSED,			/* closed before a whole response */
	RETRY_F_TIMEOUT,		/* no response in timeouts.upstream_response_ms */
	RETRY_F_GATEWAY,		/* the server answered 502, 503 or 504 */
	RETRY_F_REFUSED,		/* HTTP/2: the server never processed it (REFUSED_STREAM, GOAWAY) */
	RETRY_F_COUNT
};

/* "connect", "connect timeout", "reset", "closed", "timeout", "status" */
extern const char *const retry_failure_names[RETRY_F_COUNT];

enum retry_action {
	RETRY_NONE,	/* answer the client with the failure */
	RETRY_FRESH,	/* the same server on a new connection */
	RETRY_STABLE	/* once more, on the stable pool */
};

struct retry_in {
	enum retry_failure	failure;
	int	method;		/* enum http_method */
	int	has_body;	/* the request has a body (it cannot be replayed) */
	int	req_done;	/* the whole request went to the server */
	int	resp_started;	/* a response byte already went to the client */
	int	reused;		/* the failed connection came from the idle pool */
	int	attempts;	/* fresh-connection attempts so far */
	int	on_candidate;	/* the attempt went to the candidate pool */
	int	retried_stable;	/* the request already went to stable once */
	int	overridden;	/* pinned by the override header: no other pool */
	int	retry_candidate; /* retry_candidate_failures is on */
};

#define RETRY_FRESH_MAX 3	/* fresh-connection attempts per request */

enum retry_action retry_decide(const struct retry_in *in);

/* The status a client gets for this failure (502 or 504). */
int retry_failure_status(enum retry_failure f);

/* Whether the failure counts against the server for passive marking:
 * connect failures and timeouts (a reset may be the client's doing). */
int retry_failure_marks_server(enum retry_failure f);

#endif
