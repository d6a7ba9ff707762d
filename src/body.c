/*
 * body.c - moving framed HTTP/1.1 body bytes: Content-Length, chunked
 * (validated by http_chunked_scan, forwarded verbatim) and until-close
 * bodies, with a high watermark on the destination.
 */
#include <stdint.h>

#include <event2/buffer.h>

#include "body.h"

/*
 * Move framed body bytes from src to dst: at most *left bytes of a
 * Content-Length body, or up to the end of a chunked body (validated by
 * the scanner, forwarded verbatim).  Stops when dst is above the high
 * watermark.  Returns 1 when the body is complete, 0 when more is to come,
 * -1 on a framing error.
 */
int
body_move(struct evbuffer *src, struct evbuffer *dst, enum body_kind kind,
    uint64_t *left, struct http_chunked *ch, uint64_t *moved, size_t high)
{
	struct evbuffer_iovec v[8];
	size_t avail, n;
	int nv, i;
	long r;

	while ((avail = evbuffer_get_length(src)) > 0) {
		size_t room, dlen = evbuffer_get_length(dst);

		if (dlen >= high)
			return 0;
		/* never more than up to the watermark: the rest waits in src */
		room = high - dlen;
		if (avail > room)
			avail = room;
		switch (kind) {
		case BODY_LENGTH:
			n = avail < *left ? avail : (size_t)*left;
			evbuffer_remove_buffer(src, dst, n);
			*left -= n;
			*moved += n;
			if (*left == 0)
				return 1;
			break;
		case BODY_UNTIL_CLOSE:
			*moved += avail;
			evbuffer_remove_buffer(src, dst, avail);
			break;
		case BODY_CHUNKED:
			nv = evbuffer_peek(src, (ssize_t)(avail < 65536 ? avail : 65536), NULL, v, 8);
			if (nv > 8)
				nv = 8;
			n = 0;
			/* a peek's last extent may run past avail: cut it */
			for (i = 0; i < nv && !ch->done && n < avail; i++) {
				r = http_chunked_scan(ch, v[i].iov_base, v[i].iov_len < avail - n ?
				    v[i].iov_len : avail - n);
				if (r < 0)
					return -1;
				n += (size_t)r;
			}
			evbuffer_remove_buffer(src, dst, n);
			*moved += n;
			if (ch->done)
				return 1;
			break;
		case BODY_NONE:
			return 1;
		}
	}
	return kind == BODY_NONE;
}

struct body_unframe_to {
	struct evbuffer *dst;
	uint64_t *moved;
	void (*trailer)(void *arg, const char *p, size_t n);
	void *arg;
};

static void
body_unframe_data(void *arg, const char *p, size_t n)
{
	struct body_unframe_to *to = arg;

	evbuffer_add(to->dst, p, n);
	*to->moved += n;
}

static void
body_unframe_trailer(void *arg, const char *p, size_t n)
{
	struct body_unframe_to *to = arg;

	if (to->trailer != NULL)        /* NULL: the trailers are dropped */
		to->trailer(to->arg, p, n);
}

int
body_unframe(struct evbuffer *src, struct evbuffer *dst, enum body_kind kind,
    uint64_t *left, struct http_chunked *ch, uint64_t *moved, size_t high,
    void (*trailer)(void *arg, const char *p, size_t n), void *arg)
{
	struct body_unframe_to to = { dst, moved, trailer, arg };
	struct evbuffer_iovec v[8];
	size_t avail, used;
	int nv, i;
	long k;

	if (kind != BODY_CHUNKED)
		return body_move(src, dst, kind, left, NULL, moved, high);
	while ((avail = evbuffer_get_length(src)) > 0 && evbuffer_get_length(dst) < high) {
		if (avail > 65536)
			avail = 65536;
		nv = evbuffer_peek(src, (ssize_t)avail, NULL, v, 8);
		if (nv > 8)
			nv = 8;
		used = 0;
		for (i = 0; i < nv && !ch->done && used < avail; i++) {
			k = http_chunked_decode(ch, v[i].iov_base, v[i].iov_len < avail - used ?
			    v[i].iov_len : avail - used, body_unframe_data, body_unframe_trailer, &to);
			if (k < 0)
				return -1;
			used += (size_t)k;
		}
		evbuffer_drain(src, used);
		if (ch->done)
			return 1;
	}
	return 0;
}

void
body_tee_take(struct body_tee *t, struct evbuffer *out, size_t from)
{
	struct evbuffer_ptr at;
	struct evbuffer_iovec v[16];
	size_t len = evbuffer_get_length(out), n;
	int nv, i;

	if (t == NULL || t->buf == NULL || t->over || len <= from)
		return;
	n = len - from;
	if (evbuffer_get_length(t->buf) + n > t->limit) {
		t->over = 1;
		evbuffer_drain(t->buf, evbuffer_get_length(t->buf));
		return;
	}
	if (evbuffer_ptr_set(out, &at, from, EVBUFFER_PTR_SET) == -1) {
		t->over = 1;
		return;
	}
	while (n > 0) {
		size_t got = 0;

		nv = evbuffer_peek(out, (ev_ssize_t)n, &at, v, 16);
		if (nv <= 0)
			break;
		if (nv > 16)
			nv = 16;
		for (i = 0; i < nv && got < n; i++) {
			size_t take = v[i].iov_len < n - got ? v[i].iov_len : n - got;

			evbuffer_add(t->buf, v[i].iov_base, take);
			got += take;
		}
		n -= got;
		/* more than 16 pieces: on from where this peek ended */
		if (n > 0 && evbuffer_ptr_set(out, &at, got, EVBUFFER_PTR_ADD) == -1)
			break;
	}
}

/*
 * Move body bytes from one side's input to the other side's output and
 * push them, again while the push took them and more is waiting: bytes
 * never wait in the input while the output has room (the input's side
 * stops reading when it is full, and nothing else would move them).
 * Returns as body_move.
 */
int
body_move_flush(struct evbuffer *src, struct evbuffer *dst, body_push_fn push, void *arg,
    enum body_kind kind, uint64_t *left, struct http_chunked *ch, uint64_t *moved, size_t high,
    struct body_tee *tee)
{
	size_t before, pending;
	int r;

	for (;;) {
		before = evbuffer_get_length(dst);
		r = body_move(src, dst, kind, left, ch, moved, high);
		body_tee_take(tee, dst, before);
		/* the body's end: what follows (a close_notify) leaves with it */
		pending = push(arg, r == 1);
		if (r != 0 || pending >= high || evbuffer_get_length(src) == 0)
			return r;
	}
}

int
body_tunnel_move(struct evbuffer *src, struct evbuffer *dst, body_push_fn push, void *arg,
    size_t high)
{
	evbuffer_add_buffer(dst, src);
	return push(arg, 0) >= high;
}
