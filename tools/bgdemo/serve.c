/*
 * serve.c - a connection of bgdemo: its responses, WebSocket echo and I/O
 * (every batch of responses in one send()).
 */
#include "bgdemo.h"

static void arm_timer(struct conn *c, uint64_t ms);

static void conn_free(struct conn *c)
{
	event_free(c->ev_read);
	event_free(c->ev_write);
	if (c->timer)
		event_free(c->timer);
	close(c->fd);
	free(c->in.p);
	free(c->out.p);
	free(c->body.p);
	atomic_fetch_sub_explicit(&g_active, 1, memory_order_relaxed);
	free(c);
}

/* ---- response writing ---- */

/* Headers every response carries: identity plus echoed request headers. */
static char *put_common(struct conn *c, char *o)
{
	struct req *r = &c->req;
	o = put_mem(o, g_xserver, g_xserver_len);
	o = put_mem(o, c->xconn, c->xconn_len);
	if (r->rid_len) {
		o = put_mem(o, LIT("X-Request-Id: "));
		o = put_mem(o, c->rid, r->rid_len);
		o = put_mem(o, LIT("\r\n"));
	}
	if (r->xff_len) {
		o = put_mem(o, LIT("X-Seen-XFF: "));
		o = put_mem(o, c->xff, r->xff_len);
		o = put_mem(o, LIT("\r\n"));
	}
	return o;
}

/* Queue a response head; clen >= 0 is a Content-Length, else FRAME_*. */
static void put_head(struct conn *c, int status, const char *extra,
		     int64_t clen)
{
	struct req *r = &c->req;
	size_t extra_len = extra ? strlen(extra) : 0;
	const char *rs = http_status_text(status);
	buf_reserve(&c->out, 200 + g_xserver_len + c->xconn_len + r->rid_len +
			     r->xff_len + extra_len);
	char *s = c->out.p + c->out.len, *o = s;
	o = put_mem(o, LIT("HTTP/1.1 "));
	o = put_u64(o, (uint64_t)status);
	*o++ = ' ';
	o = put_mem(o, rs, strlen(rs));
	o = put_mem(o, LIT("\r\n"));
	o = put_common(c, o);
	o = put_mem(o, extra, extra_len);
	if (!r->keep_alive)
		o = put_mem(o, LIT("Connection: close\r\n"));
	else if (r->minor == 0)
		o = put_mem(o, LIT("Connection: keep-alive\r\n"));
	if (clen >= 0) {
		o = put_mem(o, LIT("Content-Length: "));
		o = put_u64(o, (uint64_t)clen);
		o = put_mem(o, LIT("\r\n"));
	} else if (clen == FRAME_CHUNKED) {
		o = put_mem(o, LIT("Transfer-Encoding: chunked\r\n"));
	}
	o = put_mem(o, LIT("\r\n"));
	c->out.len += (size_t)(o - s);
}

static void reply_simple(struct conn *c, int status, const char *extra,
			 const char *body, size_t len)
{
	put_head(c, status, extra, (int64_t)len);
	if (!c->req.is_head)
		buf_append(&c->out, body, len);
}

#define CT_TEXT "Content-Type: text/plain\r\n"
#define CT_BIN  "Content-Type: application/octet-stream\r\n"

/* The request is fully answered: pick what the connection does next. */
static void finish_response(struct conn *c)
{
	if (c->req.route == R_WS)
		c->state = ST_WS;
	else if (!c->req.keep_alive)
		c->state = ST_CLOSING;
	else
		c->state = ST_HEAD;
	buf_trim(&c->body, true);
}

/* Malformed or refused request: answer and close (RFC 9112 says we must). */
void send_error(struct conn *c, int code)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", code, http_status_text(code));
	c->req.keep_alive = false;
	c->req.route = R_BAD_PARAM;
	reply_simple(c, code, CT_TEXT, body, (size_t)n);
	buf_trim(&c->body, true);
	c->state = ST_CLOSING;
}

static void start_stream(struct conn *c, enum src_kind kind, uint64_t len,
			 bool chunked)
{
	c->src = kind;
	c->src_left = len;
	c->src_pos = 0;
	c->src_chunked = chunked;
	c->state = ST_STREAM;
}

/* Top the output queue up from the streaming source, in bounded pieces so
 * a 1 GB /big never sits in memory. */
static void src_refill(struct conn *c)
{
	while (buf_used(&c->out) < OUT_LOW) {
		size_t max = c->src_chunked ? 16384 : 65536;
		size_t n = c->src_left < max ? (size_t)c->src_left : max;
		if (n == 0) {
			if (c->src_chunked)
				buf_append(&c->out, LIT("0\r\n\r\n"));
			finish_response(c);
			return;
		}
		buf_reserve(&c->out, n + 32);
		char *s = c->out.p + c->out.len, *o = s;
		if (c->src_chunked) {
			o = put_hex(o, n);
			o = put_mem(o, LIT("\r\n"));
		}
		if (c->src == SRC_BIG) {
			o = put_mem(o, g_pattern + c->src_pos % 26, n);
		} else {
			o = put_mem(o, c->body.p + c->body.off, n);
			buf_consume(&c->body, n);
		}
		if (c->src_chunked)
			o = put_mem(o, LIT("\r\n"));
		c->out.len += (size_t)(o - s);
		c->src_left -= n;
		c->src_pos += n;
	}
}

static void reply_echo(struct conn *c)
{
	struct req *r = &c->req;
	size_t len = buf_used(&c->body);
	bool chunked = r->minor == 1 && (r->chunked || r->opt_chunked);
	char extra[128];
	snprintf(extra, sizeof(extra), CT_BIN "X-Body-Length: %zu\r\n", len);
	put_head(c, 200, extra, chunked ? FRAME_CHUNKED : (int64_t)len);
	if (r->is_head)
		finish_response(c);
	else
		start_stream(c, SRC_ECHO, len, chunked);
}

static void reply_big(struct conn *c)
{
	struct req *r = &c->req;
	int64_t framing = (int64_t)r->num;
	bool chunked = false;
	if (r->opt_close) {
		/* Until-close framing: the only length signal is the FIN. */
		r->keep_alive = false;
		framing = FRAME_NONE;
	} else if (r->opt_chunked && r->minor == 1) {
		chunked = true;
		framing = FRAME_CHUNKED;
	}
	put_head(c, 200, CT_BIN, framing);
	if (r->is_head)
		finish_response(c);
	else
		start_stream(c, SRC_BIG, r->num, chunked);
}

static void reply_status(struct conn *c)
{
	int code = (int)c->req.num;
	char body[32];
	if (code < 200 || code == 204 || code == 304) {
		put_head(c, code, NULL, FRAME_NONE);
		return;
	}
	int n = snprintf(body, sizeof(body), "status %d\n", code);
	reply_simple(c, code, CT_TEXT, body, (size_t)n);
}

static void reply_ws(struct conn *c)
{
	struct req *r = &c->req;
	buf_reserve(&c->out, 300 + g_xserver_len + r->rid_len + r->xff_len);
	char *s = c->out.p + c->out.len, *o = s;
	o = put_mem(o, LIT("HTTP/1.1 101 Switching Protocols\r\n"
			   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
			   "Sec-WebSocket-Accept: "));
	o = put_mem(o, c->ws_accept, strlen(c->ws_accept));
	o = put_mem(o, LIT("\r\n"));
	o = put_common(c, o);
	o = put_mem(o, LIT("\r\n"));
	c->out.len += (size_t)(o - s);
}

static void respond(struct conn *c)
{
	struct req *r = &c->req;
	switch (r->route) {
	case R_ROOT:
	case R_SLOW:
		reply_simple(c, 200, CT_TEXT, g_root_body, g_root_len);
		break;
	case R_HEALTH:
		if (atomic_load_explicit(&g_health_bad, memory_order_relaxed))
			reply_simple(c, 503, CT_TEXT, LIT("unhealthy\n"));
		else
			reply_simple(c, 200, CT_TEXT, LIT("ok\n"));
		break;
	case R_FAIL:
		reply_simple(c, 500, CT_TEXT, LIT("fail\n"));
		break;
	case R_HEADERS:
		reply_simple(c, 200, CT_TEXT, c->body.p + c->body.off,
			     buf_used(&c->body));
		break;
	case R_ECHO:
		reply_echo(c);
		return;
	case R_BIG:
		reply_big(c);
		return;
	case R_STATUS:
		reply_status(c);
		break;
	case R_WS:
		reply_ws(c);
		break;
	case R_WS_BAD:
		reply_simple(c, 400, CT_TEXT, LIT("websocket upgrade required\n"));
		break;
	case R_BAD_PARAM:
		reply_simple(c, 400, CT_TEXT, LIT("bad parameter\n"));
		break;
	case R_CTL:
		reply_simple(c, r->ctl_status, r->ctl_json ?
			     "Content-Type: application/json\r\n" : CT_TEXT,
			     c->ctl_body, r->ctl_len);
		break;
	}
	finish_response(c);
}

/* The request (head and body) is complete: answer now or after a delay. */
void dispatch(struct conn *c)
{
	struct req *r = &c->req;
	uint64_t delay = 0;
	if (r->normal) {
		if (should_fail())
			r->route = R_FAIL;
		delay = atomic_load_explicit(&g_slow_ms, memory_order_relaxed);
	}
	if (r->route == R_SLOW)
		delay += r->num;
	if (delay == 0) {
		respond(c);
		return;
	}
	c->state = ST_DELAY;
	arm_timer(c, delay);
}

/* ---- WebSocket echo ---- */

static void ws_frame(struct conn *c, uint8_t b0, const char *payload,
		     uint64_t len)
{
	char h[10];
	size_t hl = 2;
	h[0] = (char)b0;
	if (len < 126) {
		h[1] = (char)len;
	} else if (len <= 0xffff) {
		h[1] = 126;
		h[2] = (char)(len >> 8);
		h[3] = (char)len;
		hl = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (char)(len >> (56 - 8 * i));
		hl = 10;
	}
	buf_reserve(&c->out, hl + len);
	buf_append(&c->out, h, hl);
	buf_append(&c->out, payload, (size_t)len);
}

static void ws_close(struct conn *c, int code)
{
	char p[2] = { (char)(code >> 8), (char)code };
	ws_frame(c, 0x88, p, 2);
	c->state = ST_CLOSING;
}

/* Parse one frame header; returns header length, 0 if incomplete. */
static size_t ws_header(const uint8_t *p, size_t avail, uint64_t *len)
{
	size_t hl = 2;
	if (avail < 2)
		return 0;
	*len = p[1] & 0x7f;
	if (*len == 126)
		hl = 4;
	else if (*len == 127)
		hl = 10;
	if (p[1] & 0x80)
		hl += 4;
	if (avail < hl)
		return 0;
	if (*len == 126) {
		*len = (uint64_t)p[2] << 8 | p[3];
	} else if (*len == 127) {
		*len = 0;
		for (int i = 0; i < 8; i++)
			*len = *len << 8 | p[2 + i];
	}
	return hl;
}

static bool on_ws(struct conn *c)
{
	uint8_t *p = (uint8_t *)c->in.p + c->in.off;
	size_t avail = buf_used(&c->in);
	uint64_t len;
	size_t hl = ws_header(p, avail, &len);
	if (hl == 0)
		return false;
	uint8_t op = p[0] & 0x0f;
	if (len > MAX_WS_FRAME) {
		ws_close(c, 1009);
		return true;
	}
	if ((p[0] & 0x70) || (op >= 8 && (len > 125 || !(p[0] & 0x80))) ||
	    (op > 2 && op < 8) || op > 10) {
		ws_close(c, 1002);
		return true;
	}
	if (avail < hl + len) {
		buf_reserve(&c->in, hl + (size_t)len - avail);
		return false;
	}
	uint8_t *pl = p + hl;
	if (p[1] & 0x80) {
		const uint8_t *mask = pl - 4;
		for (uint64_t i = 0; i < len; i++)
			pl[i] ^= mask[i & 3];
	}
	if (op == 8) {
		/* Echo the close (with its status code) and hang up. */
		ws_frame(c, 0x88, (char *)pl, len);
		c->state = ST_CLOSING;
	} else if (op == 9) {
		ws_frame(c, 0x8a, (char *)pl, len);
	} else if (op != 10) {
		ws_frame(c, p[0] & 0x8f, (char *)pl, len);
	}
	buf_consume(&c->in, hl + (size_t)len);
	return true;
}

/* ---- I/O driving ---- */

/* Run the request state machine over buffered input.  Returns true when it
 * stopped only because the output queue is full, so the caller knows to
 * come back once it drains. */
static bool process_input(struct conn *c)
{
	while (!c->abort) {
		if (buf_used(&c->out) >= OUT_HIGH)
			return true;
		switch (c->state) {
		case ST_HEAD:
			if (!on_head(c))
				return false;
			break;
		case ST_BODY:
			if (!on_body(c))
				return false;
			break;
		case ST_WS:
			if (!on_ws(c))
				return false;
			break;
		case ST_STREAM:
			src_refill(c);
			if (c->state == ST_STREAM)
				return true;
			break;
		case ST_LINGER:
			c->in.off = c->in.len = 0;
			return false;
		case ST_DELAY:
		case ST_CLOSING:
			return false;
		}
	}
	return false;
}

/* One send() of everything queued.  1: all sent, 0: blocked, -1: error. */
static int flush_out(struct conn *c)
{
	size_t n = buf_used(&c->out);
	if (n == 0)
		return 1;
	ssize_t w = send(c->fd, c->out.p + c->out.off, n, MSG_NOSIGNAL);
	if (w < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	buf_consume(&c->out, (size_t)w);
	return (size_t)w == n;
}

static void set_event(struct event *ev, bool *on, bool want)
{
	if (want == *on)
		return;  /* skip the epoll_ctl when nothing changes */
	if (want)
		event_add(ev, NULL);
	else
		event_del(ev);
	*on = want;
}

static void after_io(struct conn *c, bool more)
{
	if (c->peer_eof && !more) {
		if (c->state == ST_LINGER ||
		    (c->state == ST_HEAD && !buf_used(&c->out) && !buf_used(&c->in))) {
			c->abort = true;
			return;
		}
		if (c->state == ST_HEAD || c->state == ST_BODY || c->state == ST_WS)
			c->state = ST_CLOSING;
	}
	if (c->state == ST_CLOSING && !buf_used(&c->out)) {
		if (c->peer_eof) {
			c->abort = true;
			return;
		}
		/* Lingering close: a reset would destroy the response we just
		 * sent if the client still has request bytes in flight. */
		shutdown(c->fd, SHUT_WR);
		c->state = ST_LINGER;
		c->in.off = c->in.len = 0;
		arm_timer(c, LINGER_MS);
	}
	bool stalled = buf_used(&c->in) >= IN_HIGH && c->state != ST_BODY &&
		       c->state != ST_WS && c->state != ST_LINGER;
	set_event(c->ev_read, &c->rd_on,
		  !c->peer_eof && c->state != ST_CLOSING && !stalled);
	set_event(c->ev_write, &c->wr_on, buf_used(&c->out) > 0 || more);
	if (c->state == ST_HEAD || c->state == ST_WS) {
		buf_trim(&c->in, false);
		buf_trim(&c->out, false);
	}
}

static void drive(struct conn *c)
{
	bool more = false;
	/* Bounded so one fast client streaming /big cannot starve others;
	 * the write event brings us back. */
	for (int i = 0; i < 16 && !c->abort; i++) {
		more = process_input(c);
		if (c->abort)
			break;
		int w = flush_out(c);
		if (w < 0)
			c->abort = true;
		if (w != 1 || !more)
			break;
	}
	if (!c->abort)
		after_io(c, more);
	if (c->abort)
		conn_free(c);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)what;
	buf_reserve(&c->in, READ_CHUNK);
	ssize_t n = recv(fd, c->in.p + c->in.len, c->in.cap - c->in.len, 0);
	if (n > 0) {
		c->in.len += (size_t)n;
	} else if (n == 0) {
		c->peer_eof = true;
	} else if (errno != EAGAIN && errno != EINTR) {
		conn_free(c);
		return;
	}
	drive(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	drive(arg);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	(void)what;
	if (c->state == ST_LINGER) {
		conn_free(c);
		return;
	}
	if (c->state == ST_DELAY)
		respond(c);
	drive(c);
}

static void arm_timer(struct conn *c, uint64_t ms)
{
	struct timeval tv = { .tv_sec = (time_t)(ms / 1000),
			      .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
	if (!c->timer)
		c->timer = evtimer_new(c->base, on_timer, c);
	evtimer_add(c->timer, &tv);
}

void on_accept(struct evconnlistener *lis, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct event_base *base = arg;
	int one = 1;
	(void)lis;
	(void)sa;
	(void)salen;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->base = base;
	c->fd = fd;
	uint64_t seq = atomic_fetch_add(&g_conn_seq, 1) + 1;
	atomic_fetch_add(&g_active, 1);
	char *o = put_mem(c->xconn, LIT("X-Conn: "));
	o = put_u64(o, seq);
	o = put_mem(o, LIT("\r\n"));
	c->xconn_len = (size_t)(o - c->xconn);
	buf_reserve(&c->in, READ_CHUNK);
	buf_reserve(&c->out, READ_CHUNK);
	c->ev_read = event_new(base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->ev_write = event_new(base, fd, EV_WRITE | EV_PERSIST, on_write, c);
	set_event(c->ev_read, &c->rd_on, true);
}
