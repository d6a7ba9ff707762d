/*
 * test_body.c - moving body bytes between buffers (body.c): framed as they
 * are, without their framing, a tunnel's, with the destination's push.
 */
#include <string.h>

#include <event2/buffer.h>

#include "body.h"
#include "test.h"

/* what a buffer holds, as a C string (tests keep them small) */
static const char *
text(struct evbuffer *b)
{
	static char out[4096];
	size_t n = evbuffer_get_length(b);

	if (n >= sizeof(out))
		n = sizeof(out) - 1;
	evbuffer_copyout(b, out, n);
	out[n] = '\0';
	return out;
}

static char trailers[512];

static void
keep_trailer(void *arg, const char *p, size_t n)
{
	size_t have = strlen(trailers);

	(void)arg;
	if (have + n < sizeof(trailers)) {
		memcpy(trailers + have, p, n);
		trailers[have + n] = '\0';
	}
}

TEST(unframe_decodes_chunks_and_hands_over_trailers)
{
	struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
	struct http_chunked ch;
	uint64_t left = 0, moved = 0;
	const char *in = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\ngrpc-status: 0\r\n\r\nNEXT";

	http_chunked_init(&ch);
	trailers[0] = '\0';
	/* byte by byte: every split of the framing */
	for (size_t i = 0; i < strlen(in) - 4; i++) {
		evbuffer_add(src, in + i, 1);
		CHECK_EQ_INT(body_unframe(src, dst, BODY_CHUNKED, &left, &ch, &moved, 1 << 20,
		    keep_trailer, NULL), i == strlen(in) - 5 ? 1 : 0);
	}
	CHECK_STR(text(dst), "hello world");
	CHECK_EQ_INT((int)moved, 11);
	CHECK(strstr(trailers, "grpc-status: 0\r\n") != NULL);
	/* what follows the body stays */
	evbuffer_add(src, "NEXT", 4);
	CHECK_EQ_INT((int)evbuffer_get_length(src), 4);
	evbuffer_free(src);
	evbuffer_free(dst);
}

TEST(unframe_refuses_a_broken_chunk)
{
	struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
	struct http_chunked ch;
	uint64_t left = 0, moved = 0;

	http_chunked_init(&ch);
	evbuffer_add(src, "zz\r\nhello\r\n", 11);
	CHECK_EQ_INT(body_unframe(src, dst, BODY_CHUNKED, &left, &ch, &moved, 1 << 20,
	    keep_trailer, NULL), -1);
	CHECK(ch.error != NULL);
	evbuffer_free(src);
	evbuffer_free(dst);
}

TEST(unframe_moves_a_length_body_up_to_the_watermark)
{
	struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
	uint64_t left = 10, moved = 0;

	evbuffer_add(src, "0123456789tail", 14);
	CHECK_EQ_INT(body_unframe(src, dst, BODY_LENGTH, &left, NULL, &moved, 4, NULL, NULL), 0);
	CHECK_STR(text(dst), "0123");
	evbuffer_drain(dst, 4);
	CHECK_EQ_INT(body_unframe(src, dst, BODY_LENGTH, &left, NULL, &moved, 100, NULL, NULL), 1);
	CHECK_STR(text(dst), "456789");
	CHECK_EQ_INT((int)moved, 10);
	CHECK_STR(text(src), "tail");
	evbuffer_free(src);
	evbuffer_free(dst);
}

/* a destination whose peer takes `takes` bytes a push */
struct sink {
	struct evbuffer *out, *peer;
	size_t takes;
	int pushes, holds;
};

static size_t
sink_push(void *arg, int hold)
{
	struct sink *s = arg;
	size_t n = evbuffer_get_length(s->out);

	if (n > s->takes)
		n = s->takes;
	evbuffer_remove_buffer(s->out, s->peer, n);
	s->pushes++;
	s->holds += hold;
	return evbuffer_get_length(s->out);
}

TEST(move_flush_pushes_while_the_peer_takes_and_tees)
{
	struct evbuffer *src = evbuffer_new();
	struct sink s = { evbuffer_new(), evbuffer_new(), 3, 0, 0 };
	struct body_tee tee = { evbuffer_new(), 100, 0 };
	struct http_chunked ch;
	uint64_t left = 0, moved = 0;

	http_chunked_init(&ch);
	evbuffer_add(src, "3\r\nabc\r\n0\r\n\r\n", 13);
	/* a high mark of 4: the bytes go in pieces, pushed each time */
	CHECK_EQ_INT(body_move_flush(src, s.out, sink_push, &s, BODY_CHUNKED, &left, &ch, &moved,
	    4, &tee), 1);
	CHECK(s.pushes >= 3);
	CHECK_EQ_INT(s.holds, 1);       /* the end goes out with what follows */
	CHECK_STR(text(tee.buf), "3\r\nabc\r\n0\r\n\r\n");
	evbuffer_add_buffer(s.peer, s.out);
	CHECK_STR(text(s.peer), "3\r\nabc\r\n0\r\n\r\n");
	evbuffer_free(src);
	evbuffer_free(s.out);
	evbuffer_free(s.peer);
	evbuffer_free(tee.buf);
}

TEST(tunnel_move_says_when_to_pause)
{
	struct evbuffer *src = evbuffer_new();
	struct sink s = { evbuffer_new(), evbuffer_new(), 2, 0, 0 };

	evbuffer_add(src, "abcdef", 6);
	CHECK_EQ_INT(body_tunnel_move(src, s.out, sink_push, &s, 4), 1);   /* 4 wait */
	CHECK_EQ_INT((int)evbuffer_get_length(src), 0);
	CHECK_EQ_INT(body_tunnel_move(src, s.out, sink_push, &s, 4), 0);   /* 2 wait */
	evbuffer_free(src);
	evbuffer_free(s.out);
	evbuffer_free(s.peer);
}

int
main(void)
{
	RUN(unframe_decodes_chunks_and_hands_over_trailers);
	RUN(unframe_refuses_a_broken_chunk);
	RUN(unframe_moves_a_length_body_up_to_the_watermark);
	RUN(move_flush_pushes_while_the_peer_takes_and_tees);
	RUN(tunnel_move_says_when_to_pause);
	return test_summary();
}
