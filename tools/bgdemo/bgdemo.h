/*
 * bgdemo.h - what the files of bgdemo share: the demo upstream's
 * connection, request and buffers, its global switches and counters.
 */
#ifndef BGDEMO_H
#define BGDEMO_H

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "http_parse.h"

#define MAX_HEAD      (64u * 1024)          /* larger request heads get 431 */
#define MAX_BODY      (64ull * 1024 * 1024) /* /echo buffers at most this */
#define MAX_WS_FRAME  (64ull * 1024 * 1024)
#define MAX_LINE      4096                  /* chunk-size and trailer lines */
#define READ_CHUNK    (16u * 1024)
#define OUT_LOW       (256u * 1024)         /* refill streams below this */
#define OUT_HIGH      (1024u * 1024)        /* stop serving pipelined requests */
#define IN_HIGH       (1024u * 1024)        /* stop reading while stalled */
#define SHRINK_ABOVE  (256u * 1024)         /* free idle buffers bigger than this */
#define LINGER_MS     2000
#define MAX_THREADS   64
#define FRAME_CHUNKED (-1)                  /* put_head framing: chunked */
#define FRAME_NONE    (-2)                  /* put_head framing: no length */

#define LIT(s) s, (sizeof(s) - 1)

/* ---- global state (main.c; shared by all threads, hence atomics) ---- */

extern const char *g_name;
extern size_t g_name_len;
extern char g_name_json[512];
extern int g_port;
extern char g_xserver[320];
extern size_t g_xserver_len;
extern char g_root_body[260];
extern size_t g_root_len;
extern char g_pattern[65536 + 32];
extern atomic_uint_fast64_t g_conn_seq, g_active, g_requests, g_health_checks, g_mirrored;
extern atomic_uint_fast64_t g_mirrored_body_bytes, g_mirrored_body_sum;
extern atomic_uint_fast64_t g_fail_ppm, g_fail_count, g_slow_ms;
extern atomic_bool g_close_on, g_health_bad;

struct buf {
	char *p;
	size_t off, len, cap;
};

static inline size_t buf_used(const struct buf *b)
{
	return b->len - b->off;
}

static inline void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}


/* ---- connections ---- */

enum route {
	R_ROOT, R_HEALTH, R_ECHO, R_HEADERS, R_BIG, R_STATUS, R_SLOW,
	R_WS, R_WS_BAD, R_CTL, R_FAIL, R_BAD_PARAM,
};

enum cstate {
	ST_HEAD,     /* waiting for / parsing a request head */
	ST_BODY,     /* reading a request body */
	ST_DELAY,    /* response held back by a timer */
	ST_STREAM,   /* generating a large response body */
	ST_WS,       /* WebSocket echo after 101 */
	ST_CLOSING,  /* flush what is queued, then close */
	ST_LINGER,   /* write side shut, draining input until EOF or timeout */
};

enum body_mode { B_CL, B_CHUNK_SIZE, B_CHUNK_DATA, B_CHUNK_CRLF, B_TRAILER };
enum src_kind { SRC_BIG, SRC_ECHO };

/* Per-request facts; reset with one memset, so strings live in the conn. */
struct req {
	enum route route;
	int minor;            /* HTTP/1.minor */
	bool is_head, is_get, keep_alive, chunked, expect_continue;
	bool keep_body, opt_chunked, opt_close, normal, ctl_json;
	bool mirrored;        /* X-Bgproxy-Mirror: 1 (a copy from the proxy) */
	int64_t clen;         /* -1: no Content-Length */
	uint64_t num;         /* route parameter: bytes, ms or status code */
	int ctl_status;
	size_t rid_len, xff_len, ctl_len;
};

struct conn {
	struct event_base *base;
	int fd;
	struct event *ev_read, *ev_write, *timer;
	bool rd_on, wr_on, peer_eof, abort;
	enum cstate state;
	struct buf in, out, body;
	struct req req;
	/* body decoding */
	enum body_mode bmode;
	uint64_t body_left;
	/* response streaming */
	enum src_kind src;
	uint64_t src_left, src_pos;
	bool src_chunked;
	char xconn[40];       /* "X-Conn: N\r\n" */
	size_t xconn_len;
	char rid[1024], xff[1024], ctl_body[1024], ws_accept[32];
};

struct head {
	const char *path, *query, *ws_key;
	size_t path_len, query_len, ws_key_len;
	bool upgrade_ws, conn_upgrade, conn_close, conn_keep, has_te;
};

/* text.c */
void buf_reserve(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *d, size_t n);
void buf_trim(struct buf *b, bool drop_data);
char *put_mem(char *o, const void *s, size_t n);
char *put_u64(char *o, uint64_t v);
char *put_hex(char *o, uint64_t v);
bool is_tchar(unsigned char ch);
bool eq_ci(const char *s, size_t n, const char *lit);
bool eq(const char *s, size_t n, const char *lit);
bool has_token(const char *v, size_t len, const char *tok);
bool parse_u64(const char *s, size_t n, uint64_t *out);
bool qparam(const char *q, size_t qlen, const char *name, const char **v, size_t *vlen);
bool qflag(const char *q, size_t qlen, const char *name);
bool qnum(const char *q, size_t qlen, const char *name, uint64_t *out);
void sha1(const uint8_t *data, size_t len, uint8_t out[20]);
size_t base64(const uint8_t *in, size_t n, char *out);
/* serve.c */
void send_error(struct conn *c, int code);
void dispatch(struct conn *c);
void on_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg);
/* http.c */
bool on_head(struct conn *c);
bool on_body(struct conn *c);
/* faults.c */
bool should_fail(void);
void ctl_handle(struct conn *c, const struct head *h);

#endif
