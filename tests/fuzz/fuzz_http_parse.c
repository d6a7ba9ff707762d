/*
 * fuzz_http_parse.c - libFuzzer harness for the HTTP/1.x parser.
 *
 * The first input byte picks the limits; the rest is parsed as a request,
 * as a response and as a chunked body.  Beyond "no crash", it checks the
 * contract: results point into the buffer, a head parsed from any prefix
 * is "incomplete" or identical to the whole parse, and the chunked
 * scanner gives the same answer however the input is split.  Every parse
 * gets its own exactly sized heap copy so ASan catches reads past the end.
 */
#include "http_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(x) do { if (!(x)) __builtin_trap(); } while (0)

static struct http_msg m_whole, m_part;

static const char *const known_names[] = {
	[HDR_HOST] = "host", [HDR_CONTENT_LENGTH] = "content-length",
	[HDR_TRANSFER_ENCODING] = "transfer-encoding", [HDR_CONNECTION] = "connection",
	[HDR_KEEP_ALIVE] = "keep-alive", [HDR_PROXY_CONNECTION] = "proxy-connection",
	[HDR_TE] = "te", [HDR_TRAILER] = "trailer", [HDR_UPGRADE] = "upgrade",
	[HDR_EXPECT] = "expect", [HDR_COOKIE] = "cookie",
	[HDR_X_FORWARDED_FOR] = "x-forwarded-for", [HDR_X_FORWARDED_PROTO] = "x-forwarded-proto",
	[HDR_X_REQUEST_ID] = "x-request-id", [HDR_HTTP2_SETTINGS] = "http2-settings",
	[HDR_PROXY_AUTHENTICATE] = "proxy-authenticate",
	[HDR_PROXY_AUTHORIZATION] = "proxy-authorization",
};
#define NKNOWN (sizeof(known_names) / sizeof(known_names[0]))

static int inside(const char *p, size_t n, const char *b, size_t bn)
{
	uintptr_t off = (uintptr_t)p - (uintptr_t)b;

	return p != NULL && off <= bn && n <= bn - off;
}

static uint8_t expected_id(const char *name, size_t n)
{
	for (size_t i = 1; i < NKNOWN; i++)
		if (http_token_eq(name, n, known_names[i]))
			return (uint8_t)i;
	return HDR_OTHER;
}

/* the grammar, written out the slow and obvious way to check the tables */
static int is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
	    || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int is_value_byte(unsigned char c)
{
	return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f);
}

static void check_field_bytes(const struct http_header *h)
{
	const unsigned char *l = (const unsigned char *)h->line;

	for (size_t i = 0; i < h->name_len; i++)
		REQUIRE(is_tchar(l[i]));
	for (size_t i = h->name_len + 1; i < h->line_len - 2; i++)
		REQUIRE(is_value_byte(l[i]));
	if (h->value_len > 0) {
		REQUIRE(h->value[0] != ' ' && h->value[0] != '\t');
		REQUIRE(h->value[h->value_len - 1] != ' ' && h->value[h->value_len - 1] != '\t');
	}
}

static void check_success(int resp, const struct http_msg *m, const char *b, size_t n,
    int r, const struct http_limits *lim)
{
	size_t maxh = lim->max_headers < HTTP_MAX_HEADERS_HARD ? lim->max_headers : HTTP_MAX_HEADERS_HARD;

	REQUIRE((size_t)r <= n && m->head_len == (size_t)r && m->head_len <= lim->max_header_bytes);
	REQUIRE(m->head_len >= 4 && memcmp(b + m->head_len - 4, "\r\n\r\n", 4) == 0);
	REQUIRE(m->nhdr <= maxh);
	REQUIRE(m->version_minor == 0 || m->version_minor == 1);
	if (resp) {
		REQUIRE(m->status >= 100 && m->status <= 599);
	} else {
		REQUIRE(inside(m->method, m->method_len, b, m->head_len) && m->method_len > 0);
		REQUIRE(inside(m->target, m->target_len, b, m->head_len) && m->target_len > 0);
		REQUIRE(m->host == NULL || inside(m->host, m->host_len, b, m->head_len));
		REQUIRE(m->version_minor == 0 || m->host != NULL);
		REQUIRE(m->authority == NULL || inside(m->authority, m->authority_len, b, m->head_len));
		REQUIRE(m->path == NULL || (m->path_len == 1 && m->path[0] == '/')
		    || inside(m->path, m->path_len, b, m->head_len));
		REQUIRE(m->leading_crlf <= 2);
		for (size_t i = 0; i < m->target_len; i++)
			REQUIRE((unsigned char)m->target[i] >= 0x21 && (unsigned char)m->target[i] <= 0x7e);
		for (size_t i = 0; i < m->method_len; i++)
			REQUIRE(is_tchar((unsigned char)m->method[i]));
	}
	REQUIRE(!((m->flags & HTTP_F_CHUNKED) && (m->flags & HTTP_F_CONTENT_LENGTH)));
	for (size_t i = 0; i < m->nhdr; i++) {
		const struct http_header *h = &m->hdr[i];
		REQUIRE(inside(h->line, h->line_len, b, m->head_len));
		REQUIRE(h->name == h->line && h->name_len > 0 && h->name_len < h->line_len);
		REQUIRE(h->name[h->name_len] == ':');
		REQUIRE(h->value >= h->name + h->name_len + 1);
		REQUIRE(h->value + h->value_len <= h->line + h->line_len - 2);
		REQUIRE(memcmp(h->line + h->line_len - 2, "\r\n", 2) == 0);
		REQUIRE(memchr(h->line, '\n', h->line_len - 1) == NULL);
		REQUIRE(memchr(h->line, '\r', h->line_len - 2) == NULL);
		REQUIRE(h->id == expected_id(h->name, h->name_len));
		check_field_bytes(h);
	}
}

static int same_span(const char *a, size_t an, const char *ab, const char *b, size_t bn,
    const char *bb)
{
	if (a == NULL || b == NULL)
		return a == b;
	if (an != bn || memcmp(a, b, an) != 0)
		return 0;
	if ((uintptr_t)a - (uintptr_t)ab < (uintptr_t)1 << 24)
		return (uintptr_t)a - (uintptr_t)ab == (uintptr_t)b - (uintptr_t)bb;
	return 1;   /* the static "/" path */
}

static int same_msg(const struct http_msg *a, const char *ab, const struct http_msg *b,
    const char *bb)
{
	if (a->head_len != b->head_len || a->nhdr != b->nhdr || a->flags != b->flags
	    || a->content_length != b->content_length || a->version_minor != b->version_minor
	    || a->status != b->status || a->method_id != b->method_id
	    || a->target_form != b->target_form || a->leading_crlf != b->leading_crlf)
		return 0;
	if (!same_span(a->method, a->method_len, ab, b->method, b->method_len, bb)
	    || !same_span(a->target, a->target_len, ab, b->target, b->target_len, bb)
	    || !same_span(a->path, a->path_len, ab, b->path, b->path_len, bb)
	    || !same_span(a->authority, a->authority_len, ab, b->authority, b->authority_len, bb)
	    || !same_span(a->host, a->host_len, ab, b->host, b->host_len, bb))
		return 0;
	for (size_t i = 0; i < a->nhdr; i++) {
		const struct http_header *x = &a->hdr[i], *y = &b->hdr[i];
		if (x->id != y->id || x->flags != y->flags
		    || !same_span(x->line, x->line_len, ab, y->line, y->line_len, bb)
		    || !same_span(x->value, x->value_len, ab, y->value, y->value_len, bb))
			return 0;
	}
	return 1;
}

static int parse(int resp, const char *b, size_t n, const struct http_limits *lim,
    struct http_msg *m)
{
	return resp ? http_parse_response(b, n, lim, m) : http_parse_request(b, n, lim, m);
}

static void check_prefix(int resp, const char *whole_buf, size_t k, int whole,
    const struct http_limits *lim)
{
	char *b = malloc(k ? k : 1);
	int r;

	memcpy(b, whole_buf, k);
	r = parse(resp, b, k, lim, &m_part);
	if (whole > 0 && k < (size_t)whole)
		REQUIRE(r == HTTP_PARSE_INCOMPLETE);
	else if (whole > 0)
		REQUIRE(r == whole && same_msg(&m_whole, whole_buf, &m_part, b));
	else if (whole == HTTP_PARSE_INCOMPLETE)
		REQUIRE(r == HTTP_PARSE_INCOMPLETE);
	else
		REQUIRE(r <= 0);
	if (r == HTTP_PARSE_ERROR)
		REQUIRE(m_part.error != NULL);
	free(b);
}

static void fuzz_head(int resp, const char *b, size_t n, const struct http_limits *lim)
{
	int whole = parse(resp, b, n, lim, &m_whole);
	size_t cuts[8];

	if (whole > 0) {
		check_success(resp, &m_whole, b, n, whole, lim);
	} else if (whole == HTTP_PARSE_ERROR) {
		REQUIRE(m_whole.error != NULL);
		if (resp)
			REQUIRE(m_whole.error_status == 502);
		else
			REQUIRE(m_whole.error_status == 400 || m_whole.error_status == 431
			    || m_whole.error_status == 505);
	} else {
		REQUIRE(whole == HTTP_PARSE_INCOMPLETE && n <= lim->max_header_bytes);
	}
	cuts[0] = 0;
	cuts[1] = 1;
	cuts[2] = n / 3;
	cuts[3] = n / 2;
	cuts[4] = n ? n - 1 : 0;
	cuts[5] = whole > 0 ? (size_t)whole - 1 : n;
	cuts[6] = whole > 0 ? (size_t)whole : n;
	cuts[7] = whole > 0 ? (size_t)whole + 1 : n;
	for (size_t i = 0; i < 8; i++)
		if (cuts[i] <= n)
			check_prefix(resp, b, cuts[i], whole, lim);
}

/* the chunked scanner over pieces ending at the given cuts */
static long chunk_pieces(const char *b, size_t n, const size_t *cuts, size_t ncuts, int *done)
{
	struct http_chunked c;
	size_t at = 0;
	long total = 0;

	http_chunked_init(&c);
	for (size_t i = 0; i <= ncuts && !c.done; i++) {
		size_t to = i < ncuts ? cuts[i] : n;
		long r;
		if (to < at || to > n)
			continue;
		r = http_chunked_scan(&c, b + at, to - at);
		if (r < 0) {
			REQUIRE(c.error != NULL);
			return -1;
		}
		REQUIRE((size_t)r <= to - at);
		REQUIRE(c.done || (size_t)r == to - at);
		total += r;
		at = to;
	}
	*done = c.done;
	return total;
}

static void fuzz_chunked(const char *b, size_t n)
{
	size_t cuts[3] = { n / 4, n / 2, n / 2 + 1 };
	int done_whole = 0, done_split = 0, done_bytes = 0;
	long whole = chunk_pieces(b, n, NULL, 0, &done_whole);
	long split = chunk_pieces(b, n, cuts, 3, &done_split);

	REQUIRE(whole <= (long)n);
	REQUIRE(split == whole && done_split == done_whole);
	if (n <= 2048) {
		/* one byte at a time */
		struct http_chunked c;
		long total = 0;
		http_chunked_init(&c);
		for (size_t i = 0; i < n && !c.done; i++) {
			long r = http_chunked_scan(&c, b + i, 1);
			if (r < 0) {
				total = -1;
				break;
			}
			total += r;
		}
		done_bytes = c.done;
		REQUIRE(total == whole && done_bytes == done_whole);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_limits lim;
	char *b;
	size_t n;

	if (size == 0)
		return 0;
	/* low nibble: head byte limit, high nibble: header count limit */
	lim.max_header_bytes = (data[0] & 0x0f) ? (size_t)(data[0] & 0x0f) * 61 : 65536;
	lim.max_headers = (data[0] >> 4) ? (size_t)(data[0] >> 4) * 2 : 100000;
	n = size - 1;
	b = malloc(n ? n : 1);
	memcpy(b, data + 1, n);
	fuzz_head(0, b, n, &lim);
	fuzz_head(1, b, n, &lim);
	fuzz_chunked(b, n);
	free(b);
	return 0;
}
