/*
 * h2_frames.c - what nghttp2 tells an HTTP/2 connection (h2.c) of its
 * frames: the callbacks (frames sent and received, headers, DATA, a
 * stream's close) and the per-connection budgets they are charged against
 * (resets, control frames, empty frames, window updates: see
 * docs/http2.md), which end an abusive connection with GOAWAY.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include "conn.h"
#include "h2_int.h"
#include "proxy.h"
#include "stats.h"
#include "upstream.h"

/* ---- budgets ----------------------------------------------------------- */

static void
h2_window_roll(struct h2conn *h, uint64_t now)
{
	if (now - h->win_us >= 1000000) {
		h->win_us = now;
		h->win_ctrl = 0;
		h->win_empty = 0;
	}
}

/* One reset charged to the client: its own RST_STREAM, or ours for its
 * fault.  Returns -1 when the budget is spent. */
static int
h2_rst_charge(struct h2conn *h, uint64_t now)
{
	h->rst_tokens += (double)(now - h->rst_us) * H2_RST_RATE / 1e6;
	if (h->rst_tokens > H2_RST_BURST)
		h->rst_tokens = H2_RST_BURST;
	h->rst_us = now;
	return (h->rst_tokens -= 1) < 0 ? -1 : 0;
}

/* Every frame's header as it starts: the budgets that do not need its
 * payload.  Returns nonzero to end the connection. */
static int
h2_on_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *hd, void *arg)
{
	struct h2conn *h = arg;
	uint64_t now = proxy_now_us();

	h2_window_roll(h, now);
	switch (hd->type) {
	case NGHTTP2_SETTINGS:
	case NGHTTP2_PING:
		if (hd->flags & NGHTTP2_FLAG_ACK)
			break;
		/* fall through */
	case NGHTTP2_PRIORITY:
		if (++h->win_ctrl > H2_CTRL_PER_S)
			h->fatal = STATS_GOAWAY_CONTROL_FLOOD;
		break;
	case NGHTTP2_DATA:
		if (hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM) &&
		    ++h->win_empty > H2_EMPTY_PER_S)
			h->fatal = STATS_GOAWAY_EMPTY_FRAMES;
		break;
	case NGHTTP2_HEADERS:
		/* a block without END_HEADERS: CONTINUATION must follow, and
		 * nothing else may come meanwhile: bounded by client_header_ms
		 * (whatever nghttp2 then does with the block) */
		if (!(hd->flags & NGHTTP2_FLAG_END_HEADERS)) {
			h->hdr_open_us = now;
			h2_tick_next(h, now);
		} else {
			h->hdr_open_us = 0;
		}
		if (nghttp2_session_find_stream(ng, hd->stream_id) == NULL) {
			if (h2_ids_never_opened(h, hd->stream_id))
				h2_protocol_error(h, NGHTTP2_PROTOCOL_ERROR);
			else if ((hd->stream_id & 1) && (uint32_t)(hd->stream_id - 1) / 2 + 1 >
			    h->ids_last)
				h2_ids_open(h, hd->stream_id);   /* even if nghttp2 refuses it */
		}
		/* fall through */
	case NGHTTP2_CONTINUATION:
		if (hd->type == NGHTTP2_CONTINUATION && (hd->flags & NGHTTP2_FLAG_END_HEADERS))
			h->hdr_open_us = 0;
		if (hd->length == 0 && !(hd->flags & (NGHTTP2_FLAG_END_HEADERS |
		    NGHTTP2_FLAG_END_STREAM)) && ++h->win_empty > H2_EMPTY_PER_S)
			h->fatal = STATS_GOAWAY_EMPTY_FRAMES;
		break;
	case NGHTTP2_WINDOW_UPDATE:
		if (++h->wu_recv > H2_WU_FREE + H2_WU_PER_DATA * h->data_sent)
			h->fatal = STATS_GOAWAY_CONTROL_FLOOD;
		break;
	case NGHTTP2_RST_STREAM:
		if (h2_rst_charge(h, now) == -1)
			h->fatal = STATS_GOAWAY_RAPID_RESET;
		break;
	}
	return h->fatal >= 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

/* ---- nghttp2 callbacks ------------------------------------------------- */

static ssize_t
h2_send_cb(nghttp2_session *ng, const uint8_t *data, size_t length, int flags, void *arg)
{
	struct h2conn *h = arg;

	(void)ng;
	(void)flags;
	if (conn_out_pending(h->cc) >= H2_OUT_HIGH)
		return NGHTTP2_ERR_WOULDBLOCK;
	if (evbuffer_add(h->cc->out, data, length) != 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	h->out_bytes += length;
	return (ssize_t)length;
}

static int
h2_send_data_cb(nghttp2_session *ng, nghttp2_frame *frame, const uint8_t *framehd,
    size_t length, nghttp2_data_source *source, void *arg)
{
	struct h2conn *h = arg;

	(void)ng;
	(void)frame;
	if (conn_out_pending(h->cc) >= H2_OUT_HIGH)
		return NGHTTP2_ERR_WOULDBLOCK;
	h->data_sent++;
	h->out_bytes += 9 + length;
	h->progress_us = proxy_coarse_us();
	return h2_stream_send_data(source->ptr, framehd, length);
}

static int
h2_on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct h2conn *h = arg;
	struct h2stream *st;

	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	st = h2_stream_new(h, frame->hd.stream_id);
	if (st == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;   /* RST_STREAM INTERNAL_ERROR */
	TAILQ_INSERT_TAIL(&h->streams, st, link);
	h2_ids_open(h, frame->hd.stream_id);
	h->nstreams++;
	h->progress_us = proxy_coarse_us();
	STATS_ADD(h->w->stats->h2_streams_active, 1);
	nghttp2_session_set_stream_user_data(ng, frame->hd.stream_id, st);
	return 0;
}

static int
h2_on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
    size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *arg)
{
	struct h2conn *h = arg;
	struct h2stream *st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);

	(void)flags;
	if (st == NULL || h2s_closed(st) || frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (h2_stream_header(st, name, namelen, value, valuelen,
	    frame->headers.cat == NGHTTP2_HCAT_HEADERS) == -1) {
		h->fatal = STATS_GOAWAY_HEADER_LIST;
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	return 0;
}

static int
h2_on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct h2conn *h = arg;
	struct h2stream *st;

	if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
		size_t i;

		for (i = 0; i < frame->settings.niv; i++)
			if (frame->settings.iv[i].settings_id == NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE)
				h->iws_changed = 1;
		return 0;
	}
	if (frame->hd.type == NGHTTP2_HEADERS)
		h->hdr_open_us = 0;         /* the block is complete */
	if (frame->hd.type == NGHTTP2_DATA && frame->hd.length > 0 &&
	    frame->hd.length == frame->data.padlen &&
	    !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && ++h->win_empty > H2_EMPTY_PER_S) {
		/* padding and nothing else counts as empty */
		h->fatal = STATS_GOAWAY_EMPTY_FRAMES;
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
		return 0;
	st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
	if (st == NULL || h2s_closed(st))
		return 0;
	if (frame->hd.type == NGHTTP2_HEADERS) {
		if (frame->headers.cat == NGHTTP2_HCAT_REQUEST)
			h2_stream_head_done(st, !!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM));
		else if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
			h2_stream_end(st);
		return 0;
	}
	if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
		h2_stream_end(st);
	return 0;
}

static int
h2_on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
    size_t len, void *arg)
{
	struct h2stream *st = nghttp2_session_get_stream_user_data(ng, id);

	(void)flags;
	(void)arg;
	/* the connection's window opens at once; the stream's as the server
	 * takes the bytes (h2_stream.c) */
	nghttp2_session_consume_connection(ng, len);
	if (st == NULL || h2s_closed(st))
		return 0;
	h2_stream_data(st, data, len);
	return 0;
}

static int
h2_on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *arg)
{
	struct h2stream *st = nghttp2_session_get_stream_user_data(ng, id);

	if (st == NULL)
		return 0;
	nghttp2_session_set_stream_user_data(ng, id, NULL);
	if (h2s_closed(st)) {
		/* ours, reset earlier: now it may be freed */
		st->wait_close = 0;
		h2_kick(arg);
		return 0;
	}
	/* nghttp2's own stream error for the client's framing (DATA beyond or
	 * short of its content-length, say) while the body came: a bad body */
	if (code == NGHTTP2_PROTOCOL_ERROR && st->ex_live && st->ex.live &&
	    st->ex.req_body != BODY_NONE && !st->ex.req_done)
		st->ex.term = EX_TERM_BAD_BODY;
	h2_stream_kill(st, 0, code, code == NGHTTP2_NO_ERROR ? "stream closed" : "stream reset");
	return 0;
}

static int
h2_on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct h2conn *h = arg;
	struct h2stream *st;

	switch (frame->hd.type) {
	case NGHTTP2_GOAWAY:
		if (h->goaway_ours > 0)
			h->goaway_ours--;     /* counted when submitted */
		else if (frame->goaway.error_code != NGHTTP2_NO_ERROR)
			STATS_INC(h->w->stats->h2_goaways[STATS_GOAWAY_PROTOCOL]);
		break;
	case NGHTTP2_RST_STREAM:
		/* nghttp2 resets a stream whose window a SETTINGS change took past
		 * 2^31-1; RFC 9113 6.9.2 makes that a connection error */
		if (h->iws_changed && frame->rst_stream.error_code == NGHTTP2_FLOW_CONTROL_ERROR) {
			h2_protocol_error(h, NGHTTP2_FLOW_CONTROL_ERROR);
			h->again = 1;
			break;
		}
		/* a reset for the client's fault costs it as its own would */
		switch (frame->rst_stream.error_code) {
		case NGHTTP2_PROTOCOL_ERROR:
		case NGHTTP2_FLOW_CONTROL_ERROR:
		case NGHTTP2_STREAM_CLOSED:
		case NGHTTP2_FRAME_SIZE_ERROR:
		case NGHTTP2_REFUSED_STREAM:
			/* refusals after our own GOAWAY are not the client's fault */
			if (frame->rst_stream.error_code == NGHTTP2_REFUSED_STREAM && h->shut)
				break;
			if (h2_rst_charge(h, proxy_now_us()) == -1 && h->fatal < 0) {
				h->fatal = STATS_GOAWAY_RAPID_RESET;
				h->again = 1;
			}
			break;
		}
		break;
	case NGHTTP2_HEADERS:
	case NGHTTP2_DATA:
		if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
			break;
		st = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
		if (st != NULL && !h2s_closed(st))
			h2_stream_sent_end(st);
		break;
	}
	return 0;
}

nghttp2_session_callbacks *
h2_callbacks_new(void)
{
	nghttp2_session_callbacks *cb;

	if (nghttp2_session_callbacks_new(&cb) != 0)
		return NULL;
	nghttp2_session_callbacks_set_send_callback(cb, h2_send_cb);
	nghttp2_session_callbacks_set_send_data_callback(cb, h2_send_data_cb);
	nghttp2_session_callbacks_set_on_begin_frame_callback(cb, h2_on_begin_frame);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, h2_on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, h2_on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, h2_on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2_on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2_on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, h2_on_frame_send);
	return cb;
}
