/*
 * exchange_end.c - the exchange's one end: whatever ended it (a response
 * whole, our own reply, a tunnel, the client or the server going away, a
 * timeout, a broken body, a shutdown), exchange_end records it once: the
 * counters, the guard's window and judged counts, the stable answer a
 * copy is judged against, and the access line.  Every codec ends its
 * exchanges here (exchange_end, exchange_replied).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <event2/buffer.h>
#include "access_log.h"
#include "conn.h"
#include "exchange.h"
#include "exchange_int.h"
#include "http_rewrite.h"
#include "mirror.h"
#include "pools.h"
#include "proxy.h"
#include "retry.h"
#include "upstream.h"

/* ---- access log ---------------------------------------------------------- */

/* The end of a request: counters, the window, the access log. */
static void
exchange_access_log(struct exchange *ex)
{
	struct worker *w = ex->w;
	const struct exchange_peer *pe = ex->peer;
	char line[ACCESS_LINE_MAX], now_iso[CLOCK_ISO_LEN];
	uint64_t now = proxy_now_us(), dur = now - ex->t_start;
	struct access_line a;
	struct stats_svc *ss = ex->srv != NULL ? worker_stats_svc(w, ex->svc) : NULL;

	/* a gRPC answer: counted by its status; one in guard.grpc_error_codes
	 * is an error of the server (HTTP said 200) */
	if (ex->grpc_status >= 0 && ex->grpc_status < STATS_GRPC_CODES && ex->srv != NULL) {
		if (ss != NULL)
			STATS_INC(ss->grpc[ex->pool][ex->grpc_status]);
		if (((service_cfg(ex->svc)->grpc_error_mask >> ex->grpc_status) & 1) && ex->err_kind < 0 &&
		    !ex->client_fault)
			ex->err_kind = STATS_ERR_GRPC;
	}
	/* a request the client gave up on before it went to a server is in
	 * no server's figures */
	if (ex->srv != NULL && !(ex->attempts == 0 && ex->client_fault)) {
		if (ss != NULL)
			stats_record(ss, &w->stats->srv[ex->srv->slot], ex->pool, ex->proto,
			    ex->resp_status, ex->err_kind, !ex->overridden && !ex->client_fault,
			    now / 1000000, dur);
		/* the stable pool's answer to a copied request: what the
		 * copies are judged against */
		if (ss != NULL && ex->mirrored && !ex->client_fault)
			stats_record_shadow(ss, STATS_SHADOW_BASE, ex->resp_status, ex->err_kind,
			    now / 1000000, dur);
		if (ex->active_counted) {
			STATS_ADD(w->stats->srv[ex->srv->slot].active, -1);
			ex->active_counted = 0;
		}
	}
	if (!log_access_enabled())
		return;
	clock_iso_now(now_iso, sizeof(now_iso));
	a = (struct access_line){
		.time = now_iso, .client = pe->addr, .method = ex->method, .path = ex->path,
		.status = ex->resp_status, .bytes = ex->resp_bytes,
		.service = ex->svc != NULL ? ex->svc->name : NULL,
		.pool = ex->srv != NULL ? pool_names[ex->pool] : NULL,
		.server = ex->srv != NULL ? ex->srv->addr.text : NULL,
		.term = exchange_term_names[ex->term],
		.upstream_proto = ex->up_proto,
		.has_grpc = ex->grpc_status >= 0, .grpc_status = ex->grpc_status,
		.duration_ms = (double)dur / 1000.0, .request_id = ex->reqid,
		.proto = stats_proto_names[ex->proto], .tls = pe->tls,
	};
	if (pe->tls && pe->ssl != NULL) {
		a.tls_version = SSL_get_version(pe->ssl);
		a.sni = SSL_get_servername(pe->ssl, TLSEXT_NAMETYPE_host_name);
	}
	log_buf_append(&w->alog, line, access_log_format(&a, line));
}

void
exchange_end(struct exchange *ex, enum exchange_term term)
{
	if (!ex->live)
		return;
	ex->live = 0;
	ex->term = term;
	switch (term) {
	case EX_TERM_CLIENT_ABORT:
	case EX_TERM_CLIENT_TIMEOUT:
	case EX_TERM_SHUTDOWN:
		/* not the server's doing: not in the guard's window */
		ex->client_fault = 1;
		break;
	case EX_TERM_SERVER_RESET:
		if (ex->err_kind < 0)
			ex->err_kind = STATS_ERR_RESET;
		break;
	case EX_TERM_SERVER_TIMEOUT:
		if (ex->err_kind < 0)
			ex->err_kind = STATS_ERR_TIMEOUT;
		break;
	case EX_TERM_BAD_BODY:
		/* the server's malformed body carries its error; else the client's */
		if (ex->err_kind < 0)
			ex->client_fault = 1;
		break;
	default:
		break;
	}
	if (ex->method[0] == '\0')
		snprintf(ex->method, sizeof(ex->method), "-");
	exchange_access_log(ex);
}

void
exchange_replied(struct exchange *ex, int status)
{
	ex->resp_status = status;
	ex->resp_bytes = 0;
	ex->resp_started = 1;
	/* a reply before any request head was read (a bad head) ends one too */
	if (!ex->live && ex->term == EX_TERM_NONE)
		ex->live = 1;
	exchange_end(ex, ex->term != EX_TERM_NONE ? ex->term : EX_TERM_REPLIED);
}

