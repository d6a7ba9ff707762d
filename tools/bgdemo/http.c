/*
 * http.c - bgdemo's reading of a request: the head (routes, headers, the query)
 * and the body (Content-Length or chunked).
 */
#include "bgdemo.h"

/* ---- request head parsing ---- */

static int parse_target(const char *t, size_t tl, struct head *h)
{
	if (tl > 7 && (strncasecmp(t, "http://", 7) == 0 ||
		       strncasecmp(t, "https://", 8) == 0)) {
		/* absolute-form: route on the path part only */
		const char *auth = memchr(t, ':', tl) + 3;
		const char *sl = memchr(auth, '/', (size_t)(t + tl - auth));
		if (!sl) {
			h->path = "/";
			h->path_len = 1;
			h->query = "";
			h->query_len = 0;
			return 0;
		}
		tl -= (size_t)(sl - t);
		t = sl;
	} else if (t[0] != '/' && !(tl == 1 && t[0] == '*')) {
		return 400;
	}
	const char *qm = memchr(t, '?', tl);
	h->path = t;
	h->path_len = qm ? (size_t)(qm - t) : tl;
	h->query = qm ? qm + 1 : t + tl;
	h->query_len = qm ? (size_t)(t + tl - qm - 1) : 0;
	return 0;
}

static int parse_request_line(struct conn *c, const char *p, const char *eol,
			      struct head *h)
{
	struct req *r = &c->req;
	const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
	if (!sp1 || sp1 == p)
		return 400;
	for (const char *q = p; q < sp1; q++)
		if (!is_tchar((unsigned char)*q))
			return 400;
	r->is_head = eq(p, (size_t)(sp1 - p), "HEAD");
	r->is_get = eq(p, (size_t)(sp1 - p), "GET");
	const char *t = sp1 + 1;
	const char *sp2 = memchr(t, ' ', (size_t)(eol - t));
	if (!sp2 || sp2 == t)
		return 400;
	for (const char *q = t; q < sp2; q++)
		if ((unsigned char)*q <= 0x20 || *q == 0x7f)
			return 400;
	const char *v = sp2 + 1;
	size_t vl = (size_t)(eol - v);
	if (vl != 8 || memcmp(v, "HTTP/", 5) != 0)
		return 400;
	if (v[5] != '1' || v[6] != '.' || (v[7] != '0' && v[7] != '1'))
		return v[5] >= '0' && v[5] <= '9' ? 505 : 400;
	r->minor = v[7] - '0';
	return parse_target(t, (size_t)(sp2 - t), h);
}

static void copy_value(char *dst, size_t cap, size_t *len, const char *v,
		       size_t vl)
{
	/* Repeated headers are joined the way a list header would be. */
	if (*len && *len + 2 < cap) {
		memcpy(dst + *len, ", ", 2);
		*len += 2;
	}
	if (vl > cap - *len)
		vl = cap - *len;
	memcpy(dst + *len, v, vl);
	*len += vl;
}

static int header_field(struct conn *c, const char *n, size_t nl,
			const char *v, size_t vl, struct head *h)
{
	struct req *r = &c->req;
	uint64_t u;
	if (eq_ci(n, nl, "content-length")) {
		if (!parse_u64(v, vl, &u))
			return 400;
		if (r->clen >= 0 && (uint64_t)r->clen != u)
			return 400;
		r->clen = (int64_t)u;
	} else if (eq_ci(n, nl, "transfer-encoding")) {
		if (!eq_ci(v, vl, "chunked") || h->has_te)
			return 501;
		h->has_te = true;
		r->chunked = true;
	} else if (eq_ci(n, nl, "connection")) {
		h->conn_close |= has_token(v, vl, "close");
		h->conn_keep |= has_token(v, vl, "keep-alive");
		h->conn_upgrade |= has_token(v, vl, "upgrade");
	} else if (eq_ci(n, nl, "expect")) {
		r->expect_continue |= eq_ci(v, vl, "100-continue");
	} else if (eq_ci(n, nl, "upgrade")) {
		h->upgrade_ws |= has_token(v, vl, "websocket");
	} else if (eq_ci(n, nl, "sec-websocket-key")) {
		h->ws_key = v;
		h->ws_key_len = vl;
	} else if (eq_ci(n, nl, "x-request-id")) {
		copy_value(c->rid, sizeof(c->rid), &r->rid_len, v, vl);
	} else if (eq_ci(n, nl, "x-forwarded-for")) {
		copy_value(c->xff, sizeof(c->xff), &r->xff_len, v, vl);
	} else if (eq_ci(n, nl, "x-bgproxy-mirror")) {
		r->mirrored = eq(v, vl, "1");
	}
	return 0;
}

static int header_line(struct conn *c, const char *line, const char *le,
		       struct head *h)
{
	const char *colon = memchr(line, ':', (size_t)(le - line));
	if (!colon || colon == line)
		return 400;
	/* Also rejects obs-fold and whitespace before the colon. */
	for (const char *q = line; q < colon; q++)
		if (!is_tchar((unsigned char)*q))
			return 400;
	const char *v = colon + 1, *ve = le;
	while (v < ve && (*v == ' ' || *v == '\t'))
		v++;
	while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
		ve--;
	for (const char *q = v; q < ve; q++) {
		unsigned char ch = (unsigned char)*q;
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return 400;
	}
	return header_field(c, line, (size_t)(colon - line), v,
			    (size_t)(ve - v), h);
}

/* p[0, hlen) is a complete head ending in CRLFCRLF.  Returns 0 or a status. */
static int parse_head(struct conn *c, const char *p, size_t hlen,
		      struct head *h)
{
	struct req *r = &c->req;
	const char *end = p + hlen - 2;  /* CR of the terminating empty line */
	const char *eol = memchr(p, '\r', hlen);
	if (eol[1] != '\n')
		return 400;
	int err = parse_request_line(c, p, eol, h);
	for (const char *line = eol + 2; !err && line < end; line = eol + 2) {
		eol = memchr(line, '\r', (size_t)(end + 2 - line));
		if (eol[1] != '\n')
			return 400;
		err = header_line(c, line, eol, h);
	}
	if (err)
		return err;
	if (h->has_te && r->clen >= 0)
		return 400;  /* ambiguous framing: classic smuggling vector */
	if (r->minor == 1)
		r->keep_alive = !h->conn_close;
	else
		r->keep_alive = h->conn_keep && !h->conn_close;
	return 0;
}

static void setup_ws(struct conn *c, const struct head *h)
{
	struct req *r = &c->req;
	uint8_t tmp[160], dig[20];
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	if (!h->upgrade_ws || !h->conn_upgrade || !r->is_get || r->minor != 1 ||
	    h->ws_key_len == 0 || h->ws_key_len > 100) {
		r->route = R_WS_BAD;
		return;
	}
	memcpy(tmp, h->ws_key, h->ws_key_len);
	memcpy(tmp + h->ws_key_len, guid, sizeof(guid) - 1);
	sha1(tmp, h->ws_key_len + sizeof(guid) - 1, dig);
	base64(dig, sizeof(dig), c->ws_accept);
	r->route = R_WS;
}

static void setup_route(struct conn *c, const char *p, size_t hlen,
			const struct head *h)
{
	struct req *r = &c->req;
	const char *path = h->path, *q = h->query;
	size_t pl = h->path_len, ql = h->query_len;
	r->route = R_ROOT;
	if (pl == 1) {
		/* fast path for the benchmark route */
	} else if (eq(path, pl, "/healthz")) {
		r->route = R_HEALTH;
	} else if (eq(path, pl, "/echo")) {
		r->route = R_ECHO;
		r->keep_body = true;
		r->opt_chunked = qflag(q, ql, "chunked");
	} else if (eq(path, pl, "/headers")) {
		r->route = R_HEADERS;
		buf_append(&c->body, p, hlen);
	} else if (eq(path, pl, "/big")) {
		r->route = qnum(q, ql, "n", &r->num) ? R_BIG : R_BAD_PARAM;
		r->opt_chunked = qflag(q, ql, "chunked");
		r->opt_close = qflag(q, ql, "close");
	} else if (eq(path, pl, "/status")) {
		bool ok = qnum(q, ql, "code", &r->num) && r->num >= 100 &&
			  r->num <= 599;
		r->route = ok ? R_STATUS : R_BAD_PARAM;
	} else if (eq(path, pl, "/slow")) {
		const char *v;
		size_t vl;
		/* a missing ms means no delay; a malformed one is an error */
		bool ok = !qparam(q, ql, "ms", &v, &vl) ||
			  parse_u64(v, vl, &r->num);
		r->route = ok ? R_SLOW : R_BAD_PARAM;
	} else if (eq(path, pl, "/ws")) {
		setup_ws(c, h);
	} else if (pl > 7 && memcmp(path, "/__ctl/", 7) == 0) {
		r->route = R_CTL;
		ctl_handle(c, h);
	}
	r->normal = r->route != R_CTL && r->route != R_HEALTH;
}

/* Head parsed and consumed: apply faults, then read a body or dispatch. */
static bool start_request(struct conn *c)
{
	struct req *r = &c->req;
	if (r->route == R_HEALTH)
		atomic_fetch_add_explicit(&g_health_checks, 1, memory_order_relaxed);
	else if (r->route != R_CTL)
		atomic_fetch_add_explicit(&g_requests, 1, memory_order_relaxed);
	if (r->mirrored && r->route != R_CTL)
		atomic_fetch_add_explicit(&g_mirrored, 1, memory_order_relaxed);
	if (r->normal && atomic_load_explicit(&g_close_on, memory_order_relaxed)) {
		c->abort = true;
		return false;
	}
	if (r->keep_body && r->clen > (int64_t)MAX_BODY) {
		send_error(c, 413);
		return true;
	}
	if (!r->chunked && r->clen <= 0) {
		dispatch(c);
		return true;
	}
	if (r->expect_continue && r->minor == 1)
		buf_append(&c->out, LIT("HTTP/1.1 100 Continue\r\n\r\n"));
	c->state = ST_BODY;
	c->bmode = r->chunked ? B_CHUNK_SIZE : B_CL;
	c->body_left = r->chunked ? 0 : (uint64_t)r->clen;
	return true;
}

bool on_head(struct conn *c)
{
	struct buf *in = &c->in;
	/* Tolerate stray CRLFs between pipelined requests (RFC 9112 2.2). */
	while (buf_used(in) >= 2 && in->p[in->off] == '\r' &&
	       in->p[in->off + 1] == '\n')
		buf_consume(in, 2);
	size_t avail = buf_used(in);
	if (avail == 0)
		return false;
	const char *p = in->p + in->off;
	const char *e = memmem(p, avail < MAX_HEAD ? avail : MAX_HEAD,
			       "\r\n\r\n", 4);
	if (!e) {
		if (avail < MAX_HEAD)
			return false;
		send_error(c, 431);
		return true;
	}
	size_t hlen = (size_t)(e - p) + 4;
	struct head h;
	memset(&h, 0, sizeof(h));
	memset(&c->req, 0, sizeof(c->req));
	c->req.clen = -1;
	c->req.minor = 1;
	int err = parse_head(c, p, hlen, &h);
	if (err) {
		send_error(c, err);
		return true;
	}
	setup_route(c, p, hlen, &h);
	buf_consume(in, hlen);
	return start_request(c);
}

/* ---- request bodies ---- */

/* Move up to `want` body bytes from the input to the sink (or drop them). */
static size_t body_take(struct conn *c, uint64_t want)
{
	size_t n = buf_used(&c->in);
	if (want < n)
		n = (size_t)want;
	if (c->req.keep_body)
		buf_append(&c->body, c->in.p + c->in.off, n);
	if (c->req.mirrored) {
		uint64_t sum = 0;

		for (size_t i = 0; i < n; i++)
			sum += (unsigned char)c->in.p[c->in.off + i];
		atomic_fetch_add_explicit(&g_mirrored_body_bytes, n, memory_order_relaxed);
		atomic_fetch_add_explicit(&g_mirrored_body_sum, sum, memory_order_relaxed);
	}
	buf_consume(&c->in, n);
	return n;
}

/* Returns 1 on a line, 0 when more input is needed, -1 on error. */
static int body_line(struct conn *c, const char **line, size_t *len)
{
	size_t avail = buf_used(&c->in);
	const char *p = c->in.p + c->in.off;
	const char *nl = memchr(p, '\n', avail < MAX_LINE ? avail : MAX_LINE);
	if (!nl)
		return avail >= MAX_LINE ? -1 : 0;
	if (nl == p || nl[-1] != '\r')
		return -1;
	*line = p;
	*len = (size_t)(nl - p) - 1;
	buf_consume(&c->in, *len + 2);
	return 1;
}

static int chunk_size(struct conn *c, const char *l, size_t len)
{
	uint64_t v = 0;
	size_t i = 0;
	for (; i < len; i++) {
		int d = l[i] >= '0' && l[i] <= '9' ? l[i] - '0' :
			l[i] >= 'a' && l[i] <= 'f' ? l[i] - 'a' + 10 :
			l[i] >= 'A' && l[i] <= 'F' ? l[i] - 'A' + 10 : -1;
		if (d < 0)
			break;
		if (i >= 15)
			return 400;
		v = v * 16 + (uint64_t)d;
	}
	if (i == 0 || (i < len && l[i] != ';' && l[i] != ' ' && l[i] != '\t'))
		return 400;
	if (c->req.keep_body && buf_used(&c->body) + v > MAX_BODY)
		return 413;
	c->body_left = v;
	c->bmode = v ? B_CHUNK_DATA : B_TRAILER;
	return 0;
}

/* One step of body decoding; false when more input is needed. */
bool on_body(struct conn *c)
{
	const char *line;
	size_t len;
	int r, err;
	switch (c->bmode) {
	case B_CL:
	case B_CHUNK_DATA:
		if (c->body_left && !buf_used(&c->in))
			return false;
		c->body_left -= body_take(c, c->body_left);
		if (c->body_left)
			return false;
		if (c->bmode == B_CHUNK_DATA) {
			c->bmode = B_CHUNK_CRLF;
			return true;
		}
		break;
	case B_CHUNK_CRLF:
		if (buf_used(&c->in) < 2)
			return false;
		if (memcmp(c->in.p + c->in.off, "\r\n", 2) != 0) {
			send_error(c, 400);
			return true;
		}
		buf_consume(&c->in, 2);
		c->bmode = B_CHUNK_SIZE;
		return true;
	case B_CHUNK_SIZE:
	case B_TRAILER:
		r = body_line(c, &line, &len);
		if (r <= 0) {
			if (r < 0)
				send_error(c, 400);
			return r < 0;
		}
		if (c->bmode == B_TRAILER) {
			if (len > 0)
				return true;  /* trailer fields are ignored */
			break;
		}
		err = chunk_size(c, line, len);
		if (err)
			send_error(c, err);
		return true;
	}
	dispatch(c);
	return true;
}
