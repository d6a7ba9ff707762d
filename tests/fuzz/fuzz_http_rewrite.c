/*
 * fuzz_http_rewrite.c - libFuzzer harness for the heads bgproxy writes.
 *
 * The first input byte picks the rewrite options; the rest is parsed as a
 * request and as a response.  Whatever the strict parser accepts is
 * rewritten as bgproxy forwards it, and the result must parse back under the
 * same parser, whole, to the same method, target (in origin form), version,
 * framing and end-to-end headers in the same order, with bgproxy's own
 * headers exactly once: canonical forwarding, so no server or client can
 * read a forwarded head differently from bgproxy.
 */
#include "http_parse.h"
#include "http_rewrite.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(x) do { if (!(x)) __builtin_trap(); } while (0)

static struct http_msg m1, m2;
static char out[1 << 20];

static int span_eq(const char *a, size_t an, const char *b, size_t bn)
{
	return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static int header_is(const struct http_header *h, const char *name)
{
	return http_token_eq(h->name, h->name_len, name);
}

/* m2's headers hold m1's kept ones in order; returns how many of m2's
 * headers are not m1's (ours) */
static size_t check_kept(int (*kept)(const struct http_header *, const void *), const void *arg)
{
	size_t i, j = 0, extra = 0;

	for (i = 0; i < m1.nhdr; i++) {
		if (!kept(&m1.hdr[i], arg))
			continue;
		/* skip ours until the next kept one of the client's */
		while (j < m2.nhdr && !(span_eq(m2.hdr[j].name, m2.hdr[j].name_len, m1.hdr[i].name,
		    m1.hdr[i].name_len) && span_eq(m2.hdr[j].value, m2.hdr[j].value_len,
		    m1.hdr[i].value, m1.hdr[i].value_len))) {
			j++;
			extra++;
		}
		REQUIRE(j < m2.nhdr);
		j++;
	}
	return extra + (m2.nhdr - j);
}

static int req_kept(const struct http_header *h, const void *arg)
{
	const struct http_msg *m = arg;

	if (h->flags & HTTP_HDR_HOP)
		return 0;
	if (h->id == HDR_X_FORWARDED_FOR || h->id == HDR_X_FORWARDED_PROTO)
		return 0;
	return !(h->id == HDR_HOST && m->target_form == HTTP_TARGET_ABSOLUTE);
}

static void fuzz_request(const char *b, size_t n, uint8_t opt)
{
	struct http_limits lim = { 1 + (opt & 0x40 ? 65535 : 16383), opt & 0x80 ? 256 : 100 };
	struct http_limits big = { sizeof(out), HTTP_MAX_HEADERS_HARD };
	struct http_rewrite_req rq = { "192.0.2.1", 9, opt & 1, 0,
		"0123456789abcdef0123456789abcdef", NULL, 0 };
	size_t len, i, xff = 0, xfp = 0, rid1 = 0, rid2 = 0;
	int r;

	if (http_parse_request(b, n, &lim, &m1) <= 0)
		return;
	if (m1.method_id == HTTP_M_CONNECT || m1.target_form == HTTP_TARGET_AUTHORITY)
		return;                 /* answered 405, never forwarded */
	if (m1.nhdr > HTTP_MAX_HEADERS_HARD - 6)
		return;                 /* ours would not fit the reparse */
	rq.upgrade = (m1.flags & HTTP_F_UPGRADE_WS) && m1.method_id == HTTP_M_GET &&
	    m1.version_minor == 1;
	len = http_rewrite_request(&m1, &rq, out);
	REQUIRE(len <= http_rewrite_request_max(&m1, rq.peer_len));
	r = http_parse_request(out, len, &big, &m2);
	REQUIRE(r > 0 && (size_t)r == len);
	REQUIRE(span_eq(m2.method, m2.method_len, m1.method, m1.method_len));
	REQUIRE(m2.target_form == HTTP_TARGET_ORIGIN || m2.target_form == HTTP_TARGET_ASTERISK);
	REQUIRE(span_eq(m2.target, m2.target_len, m1.path, m1.path_len));
	REQUIRE(m2.version_minor == m1.version_minor);
	REQUIRE((m2.flags & (HTTP_F_CHUNKED | HTTP_F_CONTENT_LENGTH)) ==
	    (m1.flags & (HTTP_F_CHUNKED | HTTP_F_CONTENT_LENGTH)));
	REQUIRE(!(m1.flags & HTTP_F_CONTENT_LENGTH) || m2.content_length == m1.content_length);
	if (m1.target_form == HTTP_TARGET_ABSOLUTE)
		REQUIRE(span_eq(m2.host, m2.host_len, m1.authority, m1.authority_len));
	else
		REQUIRE((m1.host == NULL && m2.host == NULL) ||
		    span_eq(m2.host, m2.host_len, m1.host, m1.host_len));
	REQUIRE(!!(m2.flags & HTTP_F_UPGRADE_WS) == rq.upgrade);
	REQUIRE(!(m2.flags & HTTP_F_CONN_CLOSE));
	for (i = 0; i < m1.nhdr; i++)
		rid1 += m1.hdr[i].id == HDR_X_REQUEST_ID && !(m1.hdr[i].flags & HTTP_HDR_HOP) &&
		    m1.hdr[i].value_len > 0;
	for (i = 0; i < m2.nhdr; i++) {
		xff += m2.hdr[i].id == HDR_X_FORWARDED_FOR;
		xfp += m2.hdr[i].id == HDR_X_FORWARDED_PROTO;
		rid2 += m2.hdr[i].id == HDR_X_REQUEST_ID && m2.hdr[i].value_len > 0;
		REQUIRE(!(m2.hdr[i].flags & HTTP_HDR_HOP) || m2.hdr[i].id == HDR_CONNECTION ||
		    m2.hdr[i].id == HDR_UPGRADE);
	}
	REQUIRE(xff == 1 && xfp == 1);
	REQUIRE(rid2 == (rid1 ? rid1 : 1));
	REQUIRE(rq.reqid != NULL && rq.reqid_len > 0);
	/* ours: XFF, XFP, maybe X-Request-Id, Connection (+ Upgrade), the Host
	 * of an absolute target */
	REQUIRE(check_kept(req_kept, &m1) <= 6);
}

struct resp_opts {
	const struct http_rewrite_resp *rs;
};

static int resp_kept(const struct http_header *h, const void *arg)
{
	const struct resp_opts *o = arg;

	if (h->flags & HTTP_HDR_HOP)
		return 0;
	if (h->id == HDR_CONTENT_LENGTH && (m1.status < 200 || m1.status == 204))
		return 0;
	/* an HTTP/1.0 client gets a chunked body unframed */
	if (h->id == HDR_TRANSFER_ENCODING && o->rs->req_minor == 0)
		return 0;
	return !(o->rs->cookie != NULL && header_is(h, "set-cookie") &&
	    http_set_cookie_is(h->value, h->value_len, o->rs->cookie, o->rs->cookie_len));
}

static void fuzz_response(const char *b, size_t n, uint8_t opt)
{
	struct http_limits lim = { 65536, HTTP_MAX_HEADERS_HARD - 8 };
	struct http_limits big = { sizeof(out), HTTP_MAX_HEADERS_HARD };
	struct http_rewrite_resp rs = { opt & 2, opt & 4 ? 1 : 0, opt & 8 ? "bgp" : NULL, 3,
		"0123456789abcdefghijkl", 22, opt & 16 ? "green" : NULL };
	struct resp_opts o = { &rs };
	size_t len;
	int r;

	if (http_parse_response(b, n, &lim, &m1) <= 0)
		return;
	len = http_rewrite_response(&m1, b, &rs, out);
	REQUIRE(len <= http_rewrite_response_max(&m1));
	r = http_parse_response(out, len, &big, &m2);
	REQUIRE(r > 0 && (size_t)r == len);
	REQUIRE(m2.status == m1.status && m2.version_minor == 1);
	/* chunked stays for an HTTP/1.1 client; an HTTP/1.0 one gets the data */
	REQUIRE(!!(m2.flags & HTTP_F_CHUNKED) == (!!(m1.flags & HTTP_F_CHUNKED) && rs.req_minor == 1));
	if (m1.status >= 200 && m1.status != 204) {
		REQUIRE(!!(m2.flags & HTTP_F_CONTENT_LENGTH) == !!(m1.flags & HTTP_F_CONTENT_LENGTH));
		REQUIRE(!(m1.flags & HTTP_F_CONTENT_LENGTH) ||
		    m2.content_length == m1.content_length);
	} else {
		REQUIRE(!(m2.flags & HTTP_F_CONTENT_LENGTH));
	}
	if (m1.status >= 200 && !rs.keepalive)
		REQUIRE(m2.flags & HTTP_F_CONN_CLOSE);
	/* ours: Set-Cookie, Connection, X-Bgproxy-Pool, or Connection + Upgrade */
	REQUIRE(check_kept(resp_kept, &o) <= 3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *b;

	if (size < 1)
		return 0;
	b = malloc(size - 1 + 1);
	if (b == NULL)
		return 0;
	memcpy(b, data + 1, size - 1);
	fuzz_request(b, size - 1, data[0]);
	fuzz_response(b, size - 1, data[0]);
	free(b);
	return 0;
}
