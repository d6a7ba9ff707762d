/*
 * exchange_retry.c - what an exchange does when its server fails: mark the
 * server (passive health), and before the client saw a byte go again on a
 * fresh connection or once on the stable pool (retry.c decides), else
 * answer 502/503/504.
 */
#include <stdio.h>

#include "exchange.h"
#include "exchange_int.h"
#include "pools.h"
#include "proxy.h"
#include "retry.h"
#include "upstream.h"

/*
 * retry_candidate_failures: a request without a body, of an idempotent
 * method, whose attempt on the candidate failed before any response byte
 * reached the client goes once to the stable pool.  The failed attempt is
 * recorded for the guard first (status: the 502/503/504 the candidate sent,
 * or 0 with ex->err_kind for a connect error, reset or timeout).  Returns 1
 * when the request was sent again.
 */
static enum retry_action
exchange_retry_decide(const struct exchange *ex, enum retry_failure f, int reused)
{
	uint32_t split = atomic_load_explicit(&ex->svc->split, memory_order_acquire);
	struct retry_in in = {
		.failure = f,
		.method = ex->req_method,
		.has_body = ex->req_body != BODY_NONE,
		.req_done = ex->req_done,
		.resp_started = ex->resp_started,
		.reused = reused,
		.attempts = ex->attempts,
		.on_candidate = ex->pool != SPLIT_STABLE(split),
		.retried_stable = ex->retried_stable,
		.overridden = ex->overridden,
		.retry_candidate = service_cfg(ex->svc)->retry_candidate_failures,
	};

	return retry_decide(&in);
}

/* The failed attempt recorded for the guard, then the request sent to the
 * stable pool.  Returns 1 when it went, 0 (nothing changed but the record)
 * when it could not. */
static int
exchange_to_pool(struct exchange *ex, enum pool_id stable, int status)
{
	struct worker *w = ex->w;
	struct server *srv;
	struct stats_svc *ss;
	uint64_t now = proxy_now_us();

	srv = pools_pick(w, ex->svc, stable, now);
	if (srv == NULL)
		return 0;
	ss = worker_stats_svc(w, ex->svc);
	if (ss != NULL)
		stats_record(ss, &w->stats->srv[ex->srv->slot], ex->pool, ex->proto, status,
		    ex->err_kind, 1, now / 1000000, now - ex->t_start);
	if (ex->active_counted)
		STATS_ADD(w->stats->srv[ex->srv->slot].active, -1);
	ex->active_counted = 0;
	log_debug("retrying %s %s on %s after %s failed", ex->method, ex->path, pool_names[stable],
	    pool_names[ex->pool]);
	w->upfail.retries++;
	if (status != 0) {
		/* a gateway error the candidate sent: a failure too */
		w->upfail.failures++;
		snprintf(w->upfail.last, sizeof(w->upfail.last), "server %s (%s): status %d",
		    ex->srv->addr.text, pool_names[ex->pool], status);
	}
	ex->retried_stable = 1;
	ex->err_kind = -1;
	ex->pool = stable;
	ex->srv = srv;
	ex->attempts = 0;
	STATS_INC(w->stats->retries);
	switch (exchange_send_upstream(ex, 0)) {
	case -1:
		return 0;
	case 0:
		(void)upstream_push(ex->up, 0);
		break;
	}
	return 1;       /* sent, or waiting for a place on the stable server */
}

static int
exchange_to_stable(struct exchange *ex, int status)
{
	uint32_t split = atomic_load_explicit(&ex->svc->split, memory_order_acquire);

	return exchange_to_pool(ex, SPLIT_STABLE(split), status);
}

int
exchange_retry_on_stable(struct exchange *ex, enum retry_failure f, int status)
{
	if (exchange_retry_decide(ex, f, 0) != RETRY_STABLE)
		return 0;
	return exchange_to_stable(ex, status);
}

/*
 * ex waits for the first byte of an answer from a server it should not
 * wait on any longer: a request that may be sent again (idempotent,
 * without a body, not routed by the override header, not sent again
 * already, no interim answer yet) goes to a server of pool at once, and
 * the attempt counts as an error (a timeout) of the server it waited on.
 * Returns 1 when it was moved (or, not sendable after all, answered 502:
 * ex may be gone), 0 when it stays.
 */
static int
exchange_move(struct exchange *ex, enum pool_id to, const char *why)
{
	struct upconn *u = ex->up;

	if (ex->state != EX_HEAD || u == NULL || ex->srv == NULL || ex->resp_started ||
	    ex->interim > 0 || !ex->req_done || ex->req_body != BODY_NONE ||
	    !http_method_idempotent(ex->req_method) || ex->overridden || ex->retried_stable)
		return 0;
	/* nobody to take it: it waits where it is */
	if (pools_pick(ex->w, ex->svc, to, proxy_now_us()) == NULL)
		return 0;
	log_info("%s %s moves from %s (%s) to %s before its answer", ex->method, ex->path,
	    ex->srv->addr.text, why, pool_names[to]);
	ex->err_kind = STATS_ERR_TIMEOUT;
	ex->up = NULL;
	upstream_close(u);
	if (!exchange_to_pool(ex, to, 0)) {
		ex->ops->close_after(ex, "no server connection");
		exchange_fail(ex, 502, "cannot connect");
	}
	return 1;
}

int
exchange_move_to_stable(struct exchange *ex, struct service *sv, int pool)
{
	enum pool_id stable;

	if (ex->svc != sv)
		return 0;
	stable = SPLIT_STABLE(atomic_load_explicit(&ex->svc->split, memory_order_acquire));
	if ((int)ex->pool != pool || (int)stable == pool)
		return 0;
	return exchange_move(ex, stable, "its pool was reverted");
}

int
exchange_move_from_down(struct exchange *ex)
{
	enum pool_id stable = SPLIT_STABLE(atomic_load_explicit(&ex->svc->split, memory_order_acquire));
	struct server *srv = ex->srv;
	uint64_t now = proxy_now_us();

	if (srv == NULL || ex->up == NULL || (!atomic_load(&srv->health_down) &&
	    atomic_load(&srv->down_until) <= now))
		return 0;
	/* the candidate's request goes to the stable pool; the stable pool's
	 * to another of its servers */
	return exchange_move(ex, ex->pool != stable ? stable : ex->pool, "marked down");
}

/* Count a connect failure or timeout; the SERVER_PASSIVE_FALL-th in a row
 * takes the server out for the cooldown. */
static void
exchange_server_failed(struct server *srv, const char *kind)
{
	if (atomic_fetch_add_explicit(&srv->fails, 1, memory_order_relaxed) + 1 !=
	    SERVER_PASSIVE_FALL)
		return;
	atomic_store_explicit(&srv->down_until, proxy_now_us() + SERVER_PASSIVE_COOLDOWN_US,
	    memory_order_relaxed);
	atomic_store_explicit(&srv->changed_us, proxy_now_us(), memory_order_relaxed);
	atomic_fetch_add(&rt.down_seq, 1);          /* what waits on it moves */
	atomic_store_explicit(&srv->fails, 0, memory_order_relaxed);
	log_warn("server %s (%s) out of rotation for %llu s after %d failures in a row (last: %s)",
	    srv->addr.text, pool_names[srv->pool],
	    SERVER_PASSIVE_COOLDOWN_US / 1000000, SERVER_PASSIVE_FALL, kind);
}

/*
 * The server connection failed.  Before any response byte reached the
 * client, retry.c decides whether the request goes again: on a new
 * connection (a pooled one the server closed while idle), or once on the
 * stable pool (retry_candidate_failures).
 */
void
exchange_up_failed(struct exchange *ex, enum retry_failure f)
{
	const char *kind = retry_failure_names[f];
	int was_reused = ex->up->reused, status = retry_failure_status(f);
	struct worker *w = ex->w;

	upstream_close(ex->up);
	ex->up = NULL;
	if (ex->resp_started || ex->state != EX_HEAD) {
		if (ex->state == EX_BODY && ex->resp_body == BODY_UNTIL_CLOSE &&
		    f == RETRY_F_CLOSED) {
			exchange_response_done(ex);
			return;
		}
		/* half-way through its response: an error of that server */
		if (status == 504)
			exchange_cut(ex, EX_TERM_SERVER_TIMEOUT, STATS_ERR_TIMEOUT, kind);
		else
			exchange_cut(ex, EX_TERM_SERVER_RESET, STATS_ERR_RESET, kind);
		return;
	}
	if (exchange_retry_decide(ex, f, was_reused) == RETRY_FRESH) {
		log_debug("retrying on a new connection to %s after %s", ex->srv->addr.text,
		    kind);
		switch (exchange_send_upstream(ex, 1)) {
		case 0:
			(void)upstream_push(ex->up, 0);
			return;
		case 1:
			return;         /* waits for a place */
		}
	}
	log_debug("server %s (%s): %s", ex->srv->addr.text, pool_names[ex->pool], kind);
	w->upfail.failures++;
	snprintf(w->upfail.last, sizeof(w->upfail.last), "server %s (%s): %s",
	    ex->srv->addr.text, pool_names[ex->pool], kind);
	if (f == RETRY_F_CONNECT)
		ex->err_kind = STATS_ERR_CONNECT;
	else if (status == 504)
		ex->err_kind = STATS_ERR_TIMEOUT;
	else
		ex->err_kind = STATS_ERR_RESET;
	if (retry_failure_marks_server(f))
		exchange_server_failed(ex->srv, kind);
	if (exchange_retry_on_stable(ex, f, 0))
		return;
	if (!ex->req_done)
		ex->ops->close_after(ex, "the request was cut off by a server failure");
	exchange_fail(ex, status, kind);
}
