/*
 * health_grpc.c - health checks over HTTP/2 (see health_grpc.h): the gRPC
 * Health Checking Protocol, and an HTTP GET to a pool whose servers speak
 * HTTP/2, on libnghttp2's client side.  The control thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <nghttp2/nghttp2.h>

#include "health_grpc.h"

#define HEALTH_GRPC_PATH "/grpc.health.v1.Health/Check"
#define HEALTH_GRPC_MSG_MAX 256      /* a HealthCheckResponse is a few bytes */

struct health_grpc {
	nghttp2_session *ng;
	struct bufferevent *bev;
	int32_t sid;
	unsigned char req[5 + 2 + 128];  /* the gRPC frame of the request */
	size_t req_len, req_off;
	int http_status;
	int grpc_status;                 /* -1: none yet */
	char grpc_message[128];
	unsigned char msg[HEALTH_GRPC_MSG_MAX];
	size_t msg_len;
	int get;                         /* an HTTP GET: judged by its final status */
	int closed;                      /* the stream is over */
	uint32_t close_code;             /* its RST_STREAM code, 0: none */
};

/* ---- the verdict ------------------------------------------------------------ */

static const char *const health_grpc_serving[] = {
	"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN",
};

enum health_verdict
health_grpc_judge(int http_status, int grpc_status, const char *grpc_message,
    const unsigned char *msg, size_t len, char *why, size_t whylen)
{
	size_t i, n;
	uint64_t v;
	int shift, end;

	if (http_status != 200) {
		snprintf(why, whylen, "HTTP status %d", http_status);
		return HEALTH_FAIL;
	}
	if (grpc_status == -1) {
		snprintf(why, whylen, "no grpc-status");
		return HEALTH_FAIL;
	}
	if (grpc_status != 0) {
		snprintf(why, whylen, "grpc-status %d%s%.100s", grpc_status,
		    grpc_message[0] ? ": " : "", grpc_message);
		return HEALTH_FAIL;
	}
	/* one uncompressed message: flag 0, a 4-byte length, the protobuf */
	if (len < 5 || msg[0] != 0 ||
	    (n = ((size_t)msg[1] << 24) | ((size_t)msg[2] << 16) | ((size_t)msg[3] << 8) | msg[4]) !=
	    len - 5) {
		snprintf(why, whylen, "not one uncompressed gRPC message");
		return HEALTH_FAIL;
	}
	/* HealthCheckResponse { ServingStatus status = 1; }: the field is a
	 * varint with tag 0x08; absent means 0 (UNKNOWN) */
	v = 0;
	for (i = 5; i < len; ) {
		unsigned char tag = msg[i++];

		if (tag != 0x08) {
			snprintf(why, whylen, "an unexpected field in the answer (tag 0x%02x)", tag);
			return HEALTH_FAIL;
		}
		for (v = 0, shift = 0, end = 0; i < len && shift < 64 && !end; shift += 7) {
			v |= (uint64_t)(msg[i] & 0x7f) << shift;
			end = !(msg[i++] & 0x80);
		}
		if (!end) {
			snprintf(why, whylen, "a broken status in the answer");
			return HEALTH_FAIL;
		}
	}
	if (v == 1)
		return HEALTH_PASS;
	snprintf(why, whylen, "status %s", v < 4 ? health_grpc_serving[v] : "out of range");
	return HEALTH_FAIL;
}

/* ---- nghttp2's callbacks -------------------------------------------------- */

static ssize_t
health_grpc_send_cb(nghttp2_session *ng, const uint8_t *data, size_t len, int flags, void *arg)
{
	struct health_grpc *g = arg;

	(void)ng;
	(void)flags;
	if (bufferevent_write(g->bev, data, len) == -1)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return (ssize_t)len;
}

static int
health_grpc_header_cb(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
    size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *arg)
{
	struct health_grpc *g = arg;
	char num[16];

	(void)ng;
	(void)flags;
	if (frame->hd.stream_id != g->sid)
		return 0;
	if (nl == 7 && memcmp(name, ":status", 7) == 0 && vl < sizeof(num)) {
		memcpy(num, value, vl);
		num[vl] = '\0';
		g->http_status = atoi(num);     /* a final one follows an interim one */
	} else if (nl == 11 && memcmp(name, "grpc-status", 11) == 0 && vl < sizeof(num)) {
		memcpy(num, value, vl);
		num[vl] = '\0';
		g->grpc_status = atoi(num);
	} else if (nl == 12 && memcmp(name, "grpc-message", 12) == 0) {
		size_t n = vl < sizeof(g->grpc_message) - 1 ? vl : sizeof(g->grpc_message) - 1;

		for (size_t i = 0; i < n; i++)      /* it goes to a log line */
			g->grpc_message[i] = value[i] >= 0x20 && value[i] < 0x7f ? (char)value[i] : '?';
		g->grpc_message[n] = '\0';
	}
	return 0;
}

static int
health_grpc_data_cb(nghttp2_session *ng, uint8_t flags, int32_t sid, const uint8_t *data,
    size_t len, void *arg)
{
	struct health_grpc *g = arg;

	(void)ng;
	(void)flags;
	if (sid != g->sid)
		return 0;
	if (g->msg_len + len > sizeof(g->msg))
		len = sizeof(g->msg) - g->msg_len;   /* too long is judged as broken */
	memcpy(g->msg + g->msg_len, data, len);
	g->msg_len += len;
	return 0;
}

static int
health_grpc_close_cb(nghttp2_session *ng, int32_t sid, uint32_t code, void *arg)
{
	struct health_grpc *g = arg;

	(void)ng;
	if (sid == g->sid) {
		g->closed = 1;
		g->close_code = code;
	}
	return 0;
}

static ssize_t
health_grpc_body_cb(nghttp2_session *ng, int32_t sid, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct health_grpc *g = arg;
	size_t n = g->req_len - g->req_off;

	(void)ng;
	(void)sid;
	(void)src;
	if (n > len)
		n = len;
	memcpy(buf, g->req + g->req_off, n);
	g->req_off += n;
	if (g->req_off == g->req_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* ---- the check ------------------------------------------------------------- */

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), \
	NGHTTP2_NV_FLAG_NO_COPY_NAME }

/* A session on bev with one request submitted (prd: its body, or none). */
static int
health_h2_submit(struct health_grpc *g, const nghttp2_nv *nva, size_t n,
    const nghttp2_data_provider *prd)
{
	nghttp2_session_callbacks *cb;

	if (nghttp2_session_callbacks_new(&cb) != 0)
		return -1;
	nghttp2_session_callbacks_set_send_callback(cb, health_grpc_send_cb);
	nghttp2_session_callbacks_set_on_header_callback(cb, health_grpc_header_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, health_grpc_data_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, health_grpc_close_cb);
	if (nghttp2_session_client_new(&g->ng, cb, g) != 0) {
		nghttp2_session_callbacks_del(cb);
		return -1;
	}
	nghttp2_session_callbacks_del(cb);
	if (nghttp2_submit_settings(g->ng, NGHTTP2_FLAG_NONE, NULL, 0) != 0 ||
	    (g->sid = nghttp2_submit_request(g->ng, NULL, nva, n, prd, NULL)) < 0)
		return -1;
	return 0;
}

int
health_grpc_connected(struct health_grpc *g)
{
	return nghttp2_session_send(g->ng) == 0 ? 0 : -1;
}

struct health_grpc *
health_grpc_start(struct bufferevent *bev, const char *authority, const char *service, int tls)
{
	size_t sl = strlen(service);
	nghttp2_data_provider prd;
	struct health_grpc *g;
	nghttp2_nv nva[] = {
		NV(":method", "POST"), NV(":scheme", tls ? "https" : "http"),
		NV(":path", HEALTH_GRPC_PATH), NV(":authority", authority),
		NV("content-type", "application/grpc"), NV("te", "trailers"),
		NV("user-agent", "bgproxy-health"),
	};

	/* a name under 128 bytes keeps its length one varint byte */
	if (sl >= 128 || (g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	g->bev = bev;
	g->grpc_status = -1;
	/* HealthCheckRequest { string service = 1; } in one gRPC frame */
	g->req_len = 5 + (sl > 0 ? 2 + sl : 0);
	g->req[4] = (unsigned char)(g->req_len - 5);
	if (sl > 0) {
		g->req[5] = 0x0a;
		g->req[6] = (unsigned char)sl;   /* < 128 bytes is one varint byte */
		memcpy(g->req + 7, service, sl);
	}
	prd.source.ptr = NULL;
	prd.read_callback = health_grpc_body_cb;
	if (health_h2_submit(g, nva, sizeof(nva) / sizeof(nva[0]), &prd) == -1) {
		health_grpc_free(g);
		return NULL;
	}
	return g;
}

struct health_grpc *
health_h2_get_start(struct bufferevent *bev, const char *authority, const char *path, int tls)
{
	struct health_grpc *g;
	nghttp2_nv nva[] = {
		NV(":method", "GET"), NV(":scheme", tls ? "https" : "http"),
		NV(":path", path), NV(":authority", authority),
		NV("user-agent", "bgproxy-health"),
	};

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	g->bev = bev;
	g->get = 1;
	g->grpc_status = -1;
	if (health_h2_submit(g, nva, sizeof(nva) / sizeof(nva[0]), NULL) == -1) {
		health_grpc_free(g);
		return NULL;
	}
	return g;
}

static enum health_verdict
health_grpc_verdict(struct health_grpc *g, char *why, size_t whylen)
{
	if (g->get && g->http_status >= 200)
		return health_status_judge(g->http_status, why, whylen);
	if (g->close_code != 0) {
		snprintf(why, whylen, "the stream was reset (%s)", nghttp2_http2_strerror(g->close_code));
		return HEALTH_FAIL;
	}
	return health_grpc_judge(g->http_status, g->grpc_status, g->grpc_message, g->msg,
	    g->msg_len, why, whylen);
}

enum health_verdict
health_grpc_read(struct health_grpc *g, char *why, size_t whylen)
{
	struct evbuffer *in = bufferevent_get_input(g->bev);
	size_t len = evbuffer_get_length(in);
	ssize_t r;

	r = nghttp2_session_mem_recv(g->ng, evbuffer_pullup(in, (ssize_t)len), len);
	evbuffer_drain(in, len);
	if (r < 0) {
		snprintf(why, whylen, "HTTP/2: %s", nghttp2_strerror((int)r));
		return HEALTH_FAIL;
	}
	/* a GET is judged by its final head, as over HTTP/1.1 */
	if (g->closed || (g->get && g->http_status >= 200))
		return health_grpc_verdict(g, why, whylen);
	if (nghttp2_session_send(g->ng) != 0) {
		snprintf(why, whylen, "HTTP/2: cannot send");
		return HEALTH_FAIL;
	}
	return HEALTH_MORE;
}

enum health_verdict
health_grpc_eof(struct health_grpc *g, char *why, size_t whylen)
{
	if (g->closed || (g->get && g->http_status >= 200))
		return health_grpc_verdict(g, why, whylen);
	snprintf(why, whylen, g->get ? "closed before answering (is it an HTTP/2 server?)" :
	    "closed before answering (is it an HTTP/2 gRPC server?)");
	return HEALTH_FAIL;
}

void
health_grpc_free(struct health_grpc *g)
{
	if (g == NULL)
		return;
	nghttp2_session_del(g->ng);
	free(g);
}
