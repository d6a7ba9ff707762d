/*
 * body.h - moving framed HTTP/1.1 body bytes between two buffers (body.c).
 */
#ifndef BGPROXY_BODY_H
#define BGPROXY_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "http_parse.h"

struct evbuffer;

/* How a body is framed (in either direction, on the HTTP/1.1 side). */
enum body_kind { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_UNTIL_CLOSE };

/*
 * Move framed body bytes from src to dst: at most *left bytes of a
 * Content-Length body, or up to the end of a chunked body (validated by
 * the scanner ch, forwarded verbatim), or all of a body ended by a close;
 * never past the point where dst holds `high` bytes.  *moved counts the
 * bytes moved.  Returns 1 when the body is complete, 0 when more is to
 * come, -1 on a framing error (ch->error says which).
 */
int body_move(struct evbuffer *src, struct evbuffer *dst, enum body_kind kind,
    uint64_t *left, struct http_chunked *ch, uint64_t *moved, size_t high);

/*
 * The same, without the HTTP/1.1 framing: the data of a Content-Length
 * body or of one ended by a close, or a chunked body decoded (ch), its
 * trailer lines (each with its CRLF) handed to trailer(arg, line, len).
 * What an HTTP/2 peer gets of an HTTP/1.1 body.  Returns as body_move.
 */
int body_unframe(struct evbuffer *src, struct evbuffer *dst, enum body_kind kind,
    uint64_t *left, struct http_chunked *ch, uint64_t *moved, size_t high,
    void (*trailer)(void *arg, const char *p, size_t n), void *arg);

/*
 * A copy of the body bytes as they leave for the server (shadow traffic's
 * copy of a request body), up to limit bytes: beyond them the copy is given
 * up (over set, buf emptied).  buf NULL: no copy.
 */
struct body_tee {
	struct evbuffer *buf;
	size_t limit;
	int over;
};

/* Copy what out holds from offset `from` to its end into t (NULL: none). */
void body_tee_take(struct body_tee *t, struct evbuffer *out, size_t from);

/*
 * Pushes what waits in a destination toward its peer (hold: make it ready,
 * it leaves with what follows); returns the bytes still to go.  A client
 * connection's is conn_push_cb (conn.h), a server's upstream_push_cb.
 */
typedef size_t (*body_push_fn)(void *arg, int hold);

/*
 * body_move from src to dst, pushing dst as it goes, again while the push
 * took the bytes and more is waiting: bytes never wait in src while dst's
 * peer has room.  What is moved is copied into tee too (NULL: no copy).
 * Returns as body_move.
 */
int body_move_flush(struct evbuffer *src, struct evbuffer *dst, body_push_fn push, void *arg,
    enum body_kind kind, uint64_t *left, struct http_chunked *ch, uint64_t *moved, size_t high,
    struct body_tee *tee);
/*
 * A tunnel's bytes: all of src into dst, pushed.  Returns 1 when dst's peer
 * holds `high` bytes or more: the source is to pause until it drains.
 */
int body_tunnel_move(struct evbuffer *src, struct evbuffer *dst, body_push_fn push, void *arg,
    size_t high);

#endif
