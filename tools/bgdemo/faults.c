/*
 * faults.c - bgdemo's fault switches and counters: /__ctl/fail, slow, close,
 * health, reset and stats (the switches tests and the demo flip to watch
 * the guard at work).
 */
#include "bgdemo.h"

/* Deterministic "fraction R of requests fail": request n fails when
 * floor((n+1)*R) > floor(n*R), so rate 0.5 fails every second request. */
bool should_fail(void)
{
	uint64_t ppm = atomic_load_explicit(&g_fail_ppm, memory_order_relaxed);
	if (ppm == 0)
		return false;
	uint64_t n = atomic_fetch_add_explicit(&g_fail_count, 1,
					       memory_order_relaxed);
	return (n + 1) * ppm / 1000000 > n * ppm / 1000000;
}

/* ---- control endpoints ---- */

static bool parse_rate(const char *v, size_t vl, double *out)
{
	char tmp[32];
	char *end;
	if (vl == 0 || vl >= sizeof(tmp))
		return false;
	memcpy(tmp, v, vl);
	tmp[vl] = '\0';
	double d = strtod(tmp, &end);
	if (*end || !(d >= 0.0 && d <= 1.0))
		return false;
	*out = d;
	return true;
}

static void ctl_stats(struct conn *c)
{
	int n = snprintf(c->ctl_body, sizeof(c->ctl_body),
		"{\"name\":\"%s\",\"port\":%d,\"requests\":%llu,"
		"\"connections\":%llu,\"active_connections\":%llu,"
		"\"health_checks\":%llu,\"mirrored\":%llu,\"mirrored_body_bytes\":%llu,"
		"\"mirrored_body_sum\":%llu}\n", g_name_json, g_port,
		(unsigned long long)atomic_load(&g_requests),
		(unsigned long long)atomic_load(&g_conn_seq),
		(unsigned long long)atomic_load(&g_active),
		(unsigned long long)atomic_load(&g_health_checks),
		(unsigned long long)atomic_load(&g_mirrored),
		(unsigned long long)atomic_load(&g_mirrored_body_bytes),
		(unsigned long long)atomic_load(&g_mirrored_body_sum));
	c->req.ctl_len = (size_t)n < sizeof(c->ctl_body) ? (size_t)n
							  : sizeof(c->ctl_body) - 1;
	c->req.ctl_json = true;
}

/* Apply a /__ctl/ request; returns false on a bad parameter. */
static bool ctl_apply(const char *p, size_t pl, const char *q, size_t ql,
		      bool *found)
{
	const char *v;
	size_t vl;
	uint64_t u;
	double rate;
	*found = true;
	if (eq(p, pl, "/__ctl/fail")) {
		if (!qparam(q, ql, "rate", &v, &vl) || !parse_rate(v, vl, &rate))
			return false;
		atomic_store(&g_fail_ppm, (uint64_t)(rate * 1e6 + 0.5));
		atomic_store(&g_fail_count, 0);
	} else if (eq(p, pl, "/__ctl/slow")) {
		if (!qnum(q, ql, "ms", &u))
			return false;
		atomic_store(&g_slow_ms, u);
	} else if (eq(p, pl, "/__ctl/close")) {
		u = 1;
		if (qparam(q, ql, "on", &v, &vl) && (!parse_u64(v, vl, &u) || u > 1))
			return false;
		atomic_store(&g_close_on, u == 1);
	} else if (eq(p, pl, "/__ctl/health")) {
		if (!qnum(q, ql, "ok", &u) || u > 1)
			return false;
		atomic_store(&g_health_bad, u == 0);
	} else if (eq(p, pl, "/__ctl/reset")) {
		atomic_store(&g_fail_ppm, 0);
		atomic_store(&g_slow_ms, 0);
		atomic_store(&g_close_on, false);
		atomic_store(&g_health_bad, false);
	} else {
		*found = false;
	}
	return true;
}

/* Control requests act at head time and are never delayed or failed. */
void ctl_handle(struct conn *c, const struct head *h)
{
	struct req *r = &c->req;
	const char *msg = "ok\n";
	bool found;
	r->ctl_status = 200;
	if (eq(h->path, h->path_len, "/__ctl/stats")) {
		ctl_stats(c);
		return;
	}
	if (!ctl_apply(h->path, h->path_len, h->query, h->query_len, &found)) {
		r->ctl_status = 400;
		msg = "bad parameter\n";
	} else if (!found) {
		r->ctl_status = 404;
		msg = "unknown control\n";
	}
	r->ctl_len = strlen(msg);
	memcpy(c->ctl_body, msg, r->ctl_len);
}
