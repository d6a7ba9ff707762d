/*
 * test_http_parse.c - unit tests for the strict HTTP/1.x parser.
 *
 * Every valid head is also fed as every prefix (each in its own exactly
 * sized heap buffer, so ASan sees any read past the end): the parser must
 * answer "incomplete" until the head is whole and the same result after.
 */
#include "http_parse.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

#define LIT(s) s, sizeof(s) - 1

static const struct http_limits lim_std = { 8192, 100 };
static struct http_msg m_whole, m_part;

static int parse(int resp, const char *s, size_t n, const struct http_limits *lim,
    struct http_msg *m)
{
	return resp ? http_parse_response(s, n, lim, m) : http_parse_request(s, n, lim, m);
}

static int same_span(const char *a, size_t an, const char *ab, const char *b, size_t bn,
    const char *bb)
{
	if (a == NULL || b == NULL)
		return a == b;
	if (an != bn || memcmp(a, b, an) != 0)
		return 0;
	/* inside the buffers, at the same offset; a span outside both (the
	 * parser's static "/" path) must be the very same pointer */
	if (a == b)
		return 1;
	if (a >= ab && a < ab + (1 << 20) && b >= bb && b < bb + (1 << 20))
		return a - ab == b - bb;
	return a == b;
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
		    || !same_span(x->name, x->name_len, ab, y->name, y->name_len, bb)
		    || !same_span(x->value, x->value_len, ab, y->value, y->value_len, bb)
		    || !same_span(x->line, x->line_len, ab, y->line, y->line_len, bb))
			return 0;
	}
	return 1;
}

/* parse s whole into m_whole, then every prefix; returns the whole result */
static int parse_split(int resp, const char *s, size_t n)
{
	int whole = parse(resp, s, n, &lim_std, &m_whole);

	for (size_t k = 0; k <= n; k++) {
		char *b = malloc(k ? k : 1);
		int r;
		memcpy(b, s, k);
		r = parse(resp, b, k, &lim_std, &m_part);
		if (whole > 0 && k < (size_t)whole && r != HTTP_PARSE_INCOMPLETE) {
			printf("  prefix %zu of %d gave %d (%s)\n", k, whole, r,
			    m_part.error ? m_part.error : "-");
			test_cur_failed = 1;
		}
		if (whole > 0 && k >= (size_t)whole && (r != whole || !same_msg(&m_whole, s, &m_part, b))) {
			printf("  prefix %zu gave %d, whole %d or fields differ\n", k, r, whole);
			test_cur_failed = 1;
		}
		if (whole <= 0 && r > 0) {
			printf("  prefix %zu of a bad head parsed as %d\n", k, r);
			test_cur_failed = 1;
		}
		free(b);
	}
	return whole;
}

static const struct http_header *hdr(const struct http_msg *m, size_t i)
{
	static const struct http_header none;   /* a failed CHECK, not a crash */

	return i < m->nhdr ? &m->hdr[i] : &none;
}

static int span_is(const char *p, size_t n, const char *lit)
{
	return p != NULL && n == strlen(lit) && memcmp(p, lit, n) == 0;
}

/* ---- valid requests ---- */

TEST(req_get)
{
	static const char s[] = "GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\n"
	    "User-Agent: t/1\r\nAccept: */*\r\n\r\n";
	struct http_msg *m = &m_whole;

	CHECK_EQ_INT(parse_split(0, LIT(s)), sizeof(s) - 1);
	CHECK_EQ_INT(m->method_id, HTTP_M_GET);
	CHECK(span_is(m->method, m->method_len, "GET"));
	CHECK(span_is(m->target, m->target_len, "/index.html?x=1"));
	CHECK(span_is(m->path, m->path_len, "/index.html?x=1"));
	CHECK_EQ_INT(m->target_form, HTTP_TARGET_ORIGIN);
	CHECK_EQ_INT(m->version_minor, 1);
	CHECK(span_is(m->host, m->host_len, "example.com"));
	CHECK_EQ_INT(m->nhdr, 3);
	CHECK_EQ_INT(hdr(m, 0)->id, HDR_HOST);
	CHECK(span_is(hdr(m, 1)->name, hdr(m, 1)->name_len, "User-Agent"));
	CHECK(span_is(hdr(m, 1)->value, hdr(m, 1)->value_len, "t/1"));
	CHECK(span_is(hdr(m, 2)->line, hdr(m, 2)->line_len, "Accept: */*\r\n"));
	CHECK_EQ_INT(m->flags, 0);
	CHECK_EQ_INT(m->head_len, sizeof(s) - 1);
}

TEST(req_post_cl)
{
	static const char head[] = "POST /submit HTTP/1.1\r\nHost: a.b\r\ncontent-length: 11\r\n"
	    "Content-Type: text/plain\r\n\r\n";
	static const char s[] = "POST /submit HTTP/1.1\r\nHost: a.b\r\ncontent-length: 11\r\n"
	    "Content-Type: text/plain\r\n\r\nhello world";
	struct http_msg *m = &m_whole;

	CHECK_EQ_INT(parse_split(0, LIT(s)), sizeof(head) - 1);
	CHECK_EQ_INT(m->method_id, HTTP_M_POST);
	CHECK_EQ_INT(m->flags, HTTP_F_CONTENT_LENGTH);
	CHECK_EQ_INT(m->content_length, 11);
	CHECK_EQ_INT(hdr(m, 1)->id, HDR_CONTENT_LENGTH);
}

TEST(req_post_chunked)
{
	static const char head[] = "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChunKed\r\n\r\n";
	static const char s[] = "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChunKed\r\n\r\n"
	    "5\r\nhello\r\n0\r\n\r\n";
	struct http_msg *m = &m_whole;

	CHECK_EQ_INT(parse_split(0, LIT(s)), sizeof(head) - 1);
	CHECK_EQ_INT(m->flags, HTTP_F_CHUNKED);
	CHECK_EQ_INT(hdr(m, 1)->id, HDR_TRANSFER_ENCODING);
}

TEST(req_http10_no_host)
{
	static const char s[] = "GET / HTTP/1.0\r\n\r\n";
	struct http_msg *m = &m_whole;

	CHECK_EQ_INT(parse_split(0, LIT(s)), sizeof(s) - 1);
	CHECK_EQ_INT(m->version_minor, 0);
	CHECK(m->host == NULL);
	CHECK_EQ_INT(m->nhdr, 0);
}

TEST(req_absolute_form)
{
	static const char s[] = "GET http://Example.com:8080/p?q=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n";
	static const char s2[] = "GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n";
	struct http_msg *m = &m_whole;

	CHECK_EQ_INT(parse_split(0, LIT(s)), sizeof(s) - 1);
	CHECK_EQ_INT(m->target_form, HTTP_TARGET_ABSOLUTE);
	CHECK(span_is(m->authority, m->authority_len, "Example.com:8080"));
	CHECK(span_is(m->path, m->path_len, "/p?q=1"));
	CHECK_EQ_INT(parse_split(0, LIT(s2)), sizeof(s2) - 1);
	CHECK_EQ_INT(m->target_form, HTTP_TARGET_ABSOLUTE);
	CHECK(span_is(m->authority, m->authority_len, "example.com"));
	CHECK(span_is(m->path, m->path_len, "/"));
}

TEST(req_options_asterisk)
{
	static const char s[] = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";

	CHECK_EQ_INT(parse_split(0, LIT(s)), sizeof(s) - 1);
	CHECK_EQ_INT(m_whole.method_id, HTTP_M_OPTIONS);
	CHECK_EQ_INT(m_whole.target_form, HTTP_TARGET_ASTERISK);
}

TEST(req_connect)
{
	static const char s[] = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
	static const char s6[] = "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n";

	CHECK_EQ_INT(parse_split(0, LIT(s)), sizeof(s) - 1);
	CHECK_EQ_INT(m_whole.method_id, HTTP_M_CONNECT);
	CHECK_EQ_INT(m_whole.target_form, HTTP_TARGET_AUTHORITY);
	CHECK(span_is(m_whole.authority, m_whole.authority_len, "example.com:443"));
	CHECK_EQ_INT(parse_split(0, LIT(s6)), sizeof(s6) - 1);
}

/* the Host forms a server may rightly get: names, ports, IP literals */
TEST(req_host_forms)
{
	static const char *const ok[] = {
		"a", "a:80", "a:", "a:65535", "a:0", "example.com:8080", "127.0.0.1:8080",
		"[::1]", "[::1]:8443", "[2001:db8::1]", "[::ffff:127.0.0.1]:80", "xn--bcher-kva.de",
		"a%20b", "a.b-c_d~e!$&'()*+,;=",
	};
	char buf[256];
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", ok[i]);

		if (parse_split(0, buf, (size_t)n) != n)
			printf("  refused Host: %s\n", ok[i]);
		CHECK_EQ_INT(parse_split(0, buf, (size_t)n), n);
	}
}

TEST(req_leading_crlf)
{
	static const char s[] = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
	static const char s1[] = "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";

	CHECK_EQ_INT(parse_split(0, LIT(s)), sizeof(s) - 1);
	CHECK_EQ_INT(m_whole.leading_crlf, 2);
	CHECK(span_is(m_whole.method, m_whole.method_len, "GET"));
	CHECK_EQ_INT(parse_split(0, LIT(s1)), sizeof(s1) - 1);
	CHECK_EQ_INT(m_whole.leading_crlf, 1);
}

TEST(req_obs_text_and_ows)
{
	static const char s[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Name:\t caf\xc3\xa9  x \t\r\n"
	    "X-Empty:\r\nX-Blank:   \r\nX-Q: \"a\\\"b\"\r\n\r\n";
	struct http_msg *m = &m_whole;

	CHECK_EQ_INT(parse_split(0, LIT(s)), sizeof(s) - 1);
	CHECK_EQ_INT(m->nhdr, 5);
	CHECK(span_is(hdr(m, 1)->value, hdr(m, 1)->value_len, "caf\xc3\xa9  x"));
	CHECK_EQ_INT(hdr(m, 2)->value_len, 0);
	CHECK_EQ_INT(hdr(m, 3)->value_len, 0);
	CHECK(span_is(hdr(m, 4)->value, hdr(m, 4)->value_len, "\"a\\\"b\""));
}

/* long targets and values go through the 8-bytes-at-a-time scan */
TEST(req_long_fields)
{
	static const char s[] = "GET /a/very/long/path/0123456789/abcdefghijklmnopqrstuvwxyz?q=~!$&'()*+,;=:@%20\"<>`{|}^ HTTP/1.1\r\n"
	    "Host: a\r\nCookie: wp_ozh_wsa_visits=2; wp_ozh_wsa_visit_lasttime=xxxxxxxxxx;\t__utma=xxxxxxxxx.x\r\n"
	    "User-Agent: Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10.6; ja-JP-mac; rv:1.9.2.3) \xe3\x81\x82\x80\xff   \r\n"
	    "X-Exactly-Eight: 01234567\r\nX-Sixteen: 0123456789abcdef\r\n\r\n";
	struct http_msg *m = &m_whole;

	CHECK_EQ_INT(parse_split(0, LIT(s)), sizeof(s) - 1);
	CHECK(span_is(m->target, m->target_len,
	    "/a/very/long/path/0123456789/abcdefghijklmnopqrstuvwxyz?q=~!$&'()*+,;=:@%20\"<>`{|}^"));
	CHECK_EQ_INT(m->nhdr, 5);
	CHECK(span_is(hdr(m, 1)->value, hdr(m, 1)->value_len,
	    "wp_ozh_wsa_visits=2; wp_ozh_wsa_visit_lasttime=xxxxxxxxxx;\t__utma=xxxxxxxxx.x"));
	CHECK(span_is(hdr(m, 2)->value, hdr(m, 2)->value_len,
	    "Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10.6; ja-JP-mac; rv:1.9.2.3) \xe3\x81\x82\x80\xff"));
	CHECK(span_is(hdr(m, 3)->value, hdr(m, 3)->value_len, "01234567"));
	CHECK(span_is(hdr(m, 4)->value, hdr(m, 4)->value_len, "0123456789abcdef"));
}

TEST(req_websocket)
{
	static const char s[] = "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\n"
	    "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: x\r\n\r\n";
	struct http_msg *m = &m_whole;

	CHECK_EQ_INT(parse_split(0, LIT(s)), sizeof(s) - 1);
	CHECK_EQ_INT(m->flags, HTTP_F_HAS_UPGRADE | HTTP_F_UPGRADE_WS | HTTP_F_CONN_UPGRADE
	    | HTTP_F_CONN_KEEPALIVE);
	CHECK_EQ_INT(hdr(m, 1)->flags, HTTP_HDR_HOP);
	CHECK_EQ_INT(hdr(m, 2)->flags, HTTP_HDR_HOP);
	CHECK_EQ_INT(hdr(m, 3)->flags, 0);
}

TEST(req_upgrade_without_connection)
{
	static const char s[] = "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n";
	static const char h2[] = "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
	    "HTTP2-Settings: AAA\r\n\r\n";

	CHECK_EQ_INT(parse_split(0, LIT(s)), sizeof(s) - 1);
	CHECK_EQ_INT(m_whole.flags, HTTP_F_HAS_UPGRADE);
	CHECK_EQ_INT(parse_split(0, LIT(h2)), sizeof(h2) - 1);
	CHECK_EQ_INT(m_whole.flags, HTTP_F_HAS_UPGRADE | HTTP_F_CONN_UPGRADE);
	CHECK_EQ_INT(hdr(&m_whole, 3)->id, HDR_HTTP2_SETTINGS);
	CHECK_EQ_INT(hdr(&m_whole, 3)->flags, HTTP_HDR_HOP);
}

TEST(req_hop_by_hop)
{
	static const char s[] = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close,, x-foo ,\r\n"
	    "X-FOO: 1\r\nKeep-Alive: timeout=5\r\nCookie: a=b\r\nTE: trailers\r\nTrailer: X\r\n"
	    "Proxy-Connection: keep-alive\r\nProxy-Authorization: b\r\nX-Foo-Bar: 2\r\n\r\n";
	struct http_msg *m = &m_whole;

	CHECK_EQ_INT(parse_split(0, LIT(s)), sizeof(s) - 1);
	CHECK_EQ_INT(m->flags, HTTP_F_CONN_CLOSE);
	CHECK_EQ_INT(hdr(m, 0)->flags, 0);
	CHECK_EQ_INT(hdr(m, 1)->flags, HTTP_HDR_HOP);
	CHECK_EQ_INT(hdr(m, 2)->flags, HTTP_HDR_HOP);
	CHECK_EQ_INT(hdr(m, 3)->flags, HTTP_HDR_HOP);
	CHECK_EQ_INT(hdr(m, 4)->id, HDR_COOKIE);
	CHECK_EQ_INT(hdr(m, 4)->flags, 0);
	CHECK_EQ_INT(hdr(m, 5)->id, HDR_TE);
	CHECK_EQ_INT(hdr(m, 5)->flags, HTTP_HDR_HOP);
	CHECK_EQ_INT(hdr(m, 6)->flags, HTTP_HDR_HOP);
	CHECK_EQ_INT(hdr(m, 7)->id, HDR_PROXY_CONNECTION);
	CHECK_EQ_INT(hdr(m, 7)->flags, HTTP_HDR_HOP);
	CHECK_EQ_INT(hdr(m, 8)->id, HDR_PROXY_AUTHORIZATION);
	CHECK_EQ_INT(hdr(m, 8)->flags, HTTP_HDR_HOP);
	CHECK_EQ_INT(hdr(m, 9)->flags, 0);
}

TEST(req_expect)
{
	static const char s[] = "PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 0\r\n\r\n";
	static const char o[] = "PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 0\r\n\r\n";

	CHECK_EQ_INT(parse_split(0, LIT(s)), sizeof(s) - 1);
	CHECK_EQ_INT(m_whole.flags, HTTP_F_EXPECT_CONTINUE | HTTP_F_CONTENT_LENGTH);
	CHECK_EQ_INT(m_whole.content_length, 0);
	CHECK_EQ_INT(parse_split(0, LIT(o)), sizeof(o) - 1);
	CHECK_EQ_INT(m_whole.flags, HTTP_F_EXPECT_OTHER | HTTP_F_CONTENT_LENGTH);
}

TEST(req_pipelined)
{
	static const char s[] = "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n";
	static const char junk[] = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n\x01\x02 garbage\n";

	CHECK_EQ_INT(parse_split(0, LIT(s)), 28);
	CHECK(span_is(m_whole.target, m_whole.target_len, "/a"));
	CHECK_EQ_INT(parse_split(0, LIT(junk)), 28);
}

TEST(req_ids_and_methods)
{
	static const char s[] = "PATCH / HTTP/1.1\r\nhOST: a\r\nx-forwarded-for: 1\r\nX-Forwarded-Proto: h\r\n"
	    "X-Request-Id: r\r\nProxy-Authenticate: p\r\nX-Other: o\r\nHostx: y\r\n\r\n";
	static const char lower[] = "get / HTTP/1.1\r\nHost: a\r\n\r\n";
	struct http_msg *m = &m_whole;

	CHECK_EQ_INT(parse_split(0, LIT(s)), sizeof(s) - 1);
	CHECK_EQ_INT(m->method_id, HTTP_M_PATCH);
	CHECK_EQ_INT(hdr(m, 0)->id, HDR_HOST);
	CHECK_EQ_INT(hdr(m, 1)->id, HDR_X_FORWARDED_FOR);
	CHECK_EQ_INT(hdr(m, 2)->id, HDR_X_FORWARDED_PROTO);
	CHECK_EQ_INT(hdr(m, 3)->id, HDR_X_REQUEST_ID);
	CHECK_EQ_INT(hdr(m, 4)->id, HDR_PROXY_AUTHENTICATE);
	CHECK_EQ_INT(hdr(m, 4)->flags, HTTP_HDR_HOP);
	CHECK_EQ_INT(hdr(m, 5)->id, HDR_OTHER);
	CHECK_EQ_INT(hdr(m, 6)->id, HDR_OTHER);
	/* methods are case-sensitive: "get" is some other method */
	CHECK_EQ_INT(parse_split(0, LIT(lower)), sizeof(lower) - 1);
	CHECK_EQ_INT(m->method_id, HTTP_M_OTHER);
}

TEST(req_limits_exact)
{
	static const char s[] = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
	struct http_limits lim = { sizeof(s) - 1, 3 };

	/* exactly at both limits is fine, and pipelined bytes beyond do not count */
	CHECK_EQ_INT(http_parse_request(s, sizeof(s) - 1, &lim, &m_whole), sizeof(s) - 1);
	CHECK_EQ_INT(http_parse_request("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\nGET /",
	    sizeof(s) - 1 + 5, &lim, &m_whole), sizeof(s) - 1);
}

/* ---- refused requests ---- */

struct bad_case {
	const char *what;
	const char *s;
	size_t n;
	int status;
};

#define RQ(head) "GET / HTTP/1.1\r\nHost: a\r\n" head "\r\n"
#define BAD(what, s, st) { what, LIT(s), st }

static const struct bad_case bad_requests[] = {
	BAD("CL+TE", RQ("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n"), 400),
	BAD("TE+CL", RQ("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n"), 400),
	BAD("dup CL same value", RQ("Content-Length: 3\r\nContent-Length: 3\r\n"), 400),
	BAD("dup CL different", RQ("Content-Length: 3\r\ncontent-length: 4\r\n"), 400),
	BAD("CL list", RQ("Content-Length: 3, 3\r\n"), 400),
	BAD("CL +3", RQ("Content-Length: +3\r\n"), 400),
	BAD("CL -1", RQ("Content-Length: -1\r\n"), 400),
	BAD("CL 0x3", RQ("Content-Length: 0x3\r\n"), 400),
	BAD("CL overflow", RQ("Content-Length: 18446744073709551616\r\n"), 400),
	BAD("CL 20 digits", RQ("Content-Length: 00000000000000000001\r\n"), 400),
	BAD("CL 1 0", RQ("Content-Length: 1 0\r\n"), 400),
	BAD("CL empty", RQ("Content-Length: \r\n"), 400),
	BAD("CL 3.0", RQ("Content-Length: 3.0\r\n"), 400),
	BAD("TE gzip", RQ("Transfer-Encoding: gzip\r\n"), 400),
	BAD("TE gzip, chunked", RQ("Transfer-Encoding: gzip, chunked\r\n"), 400),
	BAD("TE chunked, chunked", RQ("Transfer-Encoding: chunked, chunked\r\n"), 400),
	BAD("TE identity", RQ("Transfer-Encoding: identity\r\n"), 400),
	BAD("TE quoted", RQ("Transfer-Encoding: \"chunked\"\r\n"), 400),
	BAD("TE xchunked", RQ("Transfer-Encoding: xchunked\r\n"), 400),
	BAD("TE chunked;q", RQ("Transfer-Encoding: chunked;q=1\r\n"), 400),
	BAD("TE vtab", RQ("Transfer-Encoding: chunked\x0b\r\n"), 400),
	BAD("TE folded", RQ("Transfer-Encoding:\r\n chunked\r\n"), 400),
	BAD("TE leading SP line", RQ(" Transfer-Encoding: chunked\r\n"), 400),
	BAD("TE space before colon", RQ("Transfer-Encoding : chunked\r\n"), 400),
	BAD("TE twice", RQ("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), 400),
	BAD("TE on 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
	BAD("obs-fold", RQ("X-A: a\r\n b\r\n"), 400),
	BAD("obs-fold tab", RQ("X-A: a\r\n\tb\r\n"), 400),
	BAD("bare CR in header", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400),
	BAD("bare CR in request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
	BAD("bare CR final", "GET / HTTP/1.1\r\nHost: a\r\n\rX", 400),
	BAD("bare LF everywhere", "GET / HTTP/1.1\nHost: a\n\n", 400),
	BAD("bare LF after header", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400),
	BAD("bare LF final", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400),
	BAD("bare LF leading", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("NUL in value", RQ("X-A: a\0b\r\n"), 400),
	BAD("CTL in value", RQ("X-A: a\x01" "b\r\n"), 400),
	BAD("ESC in value", RQ("X-A: \x1b[0m\r\n"), 400),
	BAD("DEL in value", RQ("X-A: a\x7f\r\n"), 400),
	BAD("NUL deep in long value", RQ("X-A: 0123456789abcdefghijklmnopqrstu\0vwxyz0123456789\r\n"), 400),
	BAD("DEL deep in long value", RQ("X-A: 0123456789abcdefghijklmnopqrstuvw\x7fxyz0123456789\r\n"), 400),
	BAD("US deep in long value", RQ("X-A: 0123456789abcdefghijklmnopqrstuvwxy\x1fz0123456789\r\n"), 400),
	BAD("bare LF deep in long value", RQ("X-A: 0123456789abcdefghijklmnopq\nrstuvwxyz0123456789\r\n"), 400),
	BAD("bare CR deep in long value", RQ("X-A: 0123456789abcdefghijklmnopqrs\rtuvwxyz0123456789\r\n"), 400),
	BAD("space before colon", RQ("X-A : b\r\n"), 400),
	BAD("tab before colon", RQ("X-A\t: b\r\n"), 400),
	BAD("empty name", RQ(": b\r\n"), 400),
	BAD("non-token name (", RQ("X(A): b\r\n"), 400),
	BAD("non-token name @", RQ("X@A: b\r\n"), 400),
	BAD("obs-text name", RQ("X\xc3\xa9: b\r\n"), 400),
	BAD("no colon", RQ("X-A b\r\n"), 400),
	BAD("no colon at EOL", RQ("X-A\r\n"), 400),
	BAD("no Host on 1.1", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 400),
	BAD("two Hosts", RQ("Host: a\r\n"), 400),
	BAD("two Hosts on 1.0", "GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400),
	BAD("empty Host on 1.1", "GET / HTTP/1.1\r\nHost: \r\n\r\n", 400),
	BAD("Host userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
	BAD("Host slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
	BAD("Host space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
	BAD("Host backslash", "GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n", 400),
	BAD("Host port not digits", "GET / HTTP/1.1\r\nHost: a:xx\r\n\r\n", 400),
	BAD("Host port with letter", "GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n", 400),
	BAD("Host port too large", "GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", 400),
	BAD("Host port too long", "GET / HTTP/1.1\r\nHost: a:000080\r\n\r\n", 400),
	BAD("Host two colons", "GET / HTTP/1.1\r\nHost: a:80:81\r\n\r\n", 400),
	BAD("Host only port", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 400),
	BAD("Host bare IPv6", "GET / HTTP/1.1\r\nHost: ::1\r\n\r\n", 400),
	BAD("Host IPv6 unclosed", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
	BAD("Host IPv6 empty", "GET / HTTP/1.1\r\nHost: []\r\n\r\n", 400),
	BAD("Host IPv6 junk after", "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", 400),
	BAD("Host IPv6 bad char", "GET / HTTP/1.1\r\nHost: [::g]\r\n\r\n", 400),
	BAD("Host bracket in name", "GET / HTTP/1.1\r\nHost: a]b\r\n\r\n", 400),
	BAD("absolute bad port", "GET http://a:xx/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("target CTL", "GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("target DEL", "GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("target obs-text", "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("obs-text deep in long target", "GET /0123456789abcdefghijklmnopqrstuvwxyz\x80zz HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("DEL deep in long target", "GET /0123456789abcdefghijklmnopqrstuvw\x7fxyz HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("CR deep in long target", "GET /0123456789abcdefghijklmnopqrstuvwxyz\rzz HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("target tab", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("double SP", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("SP before version end", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
	BAD("HTTP/9.9", "GET / HTTP/9.9\r\nHost: a\r\n\r\n", 505),
	BAD("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
	BAD("HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
	BAD("HTTP/0.9", "GET /\r\n\r\n", 400),
	BAD("lower-case http/1.1", "GET / http/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("HTTP/1.10", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400),
	BAD("HTTP/1", "GET / HTTP/1\r\nHost: a\r\n\r\n", 400),
	BAD("bad method char", "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("empty method", " / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("three leading CRLF", "\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("asterisk with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("CONNECT origin-form", "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("CONNECT without port", "CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("authority-form on GET", "GET a:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("absolute userinfo", "GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("absolute query no path", "GET http://a?x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("absolute empty authority", "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("ftp scheme", "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
	BAD("Connection nominates CL", RQ("Connection: close, Content-Length\r\n"), 400),
	BAD("Connection nominates Host", RQ("Connection: host\r\n"), 400),
	BAD("Connection nominates TE", RQ("Connection: Transfer-Encoding\r\n"), 400),
	BAD("Connection bad token", RQ("Connection: keep alive\r\n"), 400),
	BAD("Connection semicolon", RQ("Connection: a;b\r\n"), 400),
};

TEST(req_rejections)
{
	for (size_t i = 0; i < sizeof(bad_requests) / sizeof(bad_requests[0]); i++) {
		const struct bad_case *c = &bad_requests[i];
		int r;

		test_cur_failed = 0;
		r = parse_split(0, c->s, c->n);
		if (r != HTTP_PARSE_ERROR || m_whole.error_status != c->status || m_whole.error == NULL) {
			printf("  case \"%s\": r=%d status=%d error=%s\n", c->what, r,
			    m_whole.error_status, m_whole.error ? m_whole.error : "(null)");
			test_failed++;
		} else {
			test_passed++;
		}
	}
	test_cur_failed = 0;
}

TEST(req_too_many_headers)
{
	static const char s[] = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
	struct http_limits lim = { 8192, 3 };

	CHECK_EQ_INT(http_parse_request(s, sizeof(s) - 1, &lim, &m_whole), HTTP_PARSE_ERROR);
	CHECK_EQ_INT(m_whole.error_status, 431);
	/* the 4th header line starting is enough to know */
	CHECK_EQ_INT(http_parse_request(s, 40, &lim, &m_whole), HTTP_PARSE_ERROR);
	CHECK_EQ_INT(m_whole.error_status, 431);
	lim.max_headers = 100000;   /* capped at HTTP_MAX_HEADERS_HARD */
	{
		static char big[300 * 8 + 64];
		size_t n = 0;
		n += (size_t)sprintf(big + n, "GET / HTTP/1.1\r\nHost: a\r\n");
		for (int i = 0; i < 300; i++)
			n += (size_t)sprintf(big + n, "X: %03d\r\n", i);
		n += (size_t)sprintf(big + n, "\r\n");
		CHECK_EQ_INT(http_parse_request(big, n, &lim, &m_whole), HTTP_PARSE_ERROR);
		CHECK_EQ_INT(m_whole.error_status, 431);
	}
}

TEST(req_too_many_bytes)
{
	static const char s[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: 0123456789\r\n\r\n";
	struct http_limits lim = { sizeof(s) - 2, 100 };

	CHECK_EQ_INT(http_parse_request(s, sizeof(s) - 1, &lim, &m_whole), HTTP_PARSE_ERROR);
	CHECK_EQ_INT(m_whole.error_status, 431);
	/* incomplete but already over the limit */
	lim.max_header_bytes = 20;
	CHECK_EQ_INT(http_parse_request(s, 21, &lim, &m_whole), HTTP_PARSE_ERROR);
	CHECK_EQ_INT(m_whole.error_status, 431);
	CHECK_EQ_INT(http_parse_request(s, 20, &lim, &m_whole), HTTP_PARSE_INCOMPLETE);
	/* a long request line alone */
	CHECK_EQ_INT(http_parse_request("GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 34, &lim, &m_whole),
	    HTTP_PARSE_ERROR);
	CHECK_EQ_INT(m_whole.error_status, 431);
}

TEST(req_error_strings)
{
	CHECK_EQ_INT(http_parse_request(LIT(RQ("Content-Length: 3\r\nContent-Length: 3\r\n")),
	    &lim_std, &m_whole), HTTP_PARSE_ERROR);
	CHECK_STR(m_whole.error, "duplicate Content-Length");
	CHECK_EQ_INT(http_parse_request(LIT(RQ("X : b\r\n")), &lim_std, &m_whole), HTTP_PARSE_ERROR);
	CHECK_STR(m_whole.error, "whitespace before colon");
	CHECK_EQ_INT(http_parse_request(LIT("GET / HTTP/1.1\r\nX: y\r\n\r\n"), &lim_std, &m_whole),
	    HTTP_PARSE_ERROR);
	CHECK_STR(m_whole.error, "missing Host");
	CHECK_EQ_INT(http_parse_request(LIT(RQ("X: a\r\n b\r\n")), &lim_std, &m_whole), HTTP_PARSE_ERROR);
	CHECK_STR(m_whole.error, "obs-fold");
	CHECK_EQ_INT(http_parse_request(LIT("GET / HTTP/1.1\nHost: a\n\n"), &lim_std, &m_whole),
	    HTTP_PARSE_ERROR);
	CHECK_STR(m_whole.error, "bare LF");
	CHECK_EQ_INT(http_parse_request(LIT(RQ("X: a\0\r\n")), &lim_std, &m_whole), HTTP_PARSE_ERROR);
	CHECK_STR(m_whole.error, "invalid character in header value");
}

/* ---- responses ---- */

TEST(resp_200_cl)
{
	static const char s[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello";
	struct http_msg *m = &m_whole;

	CHECK_EQ_INT(parse_split(1, LIT(s)), sizeof(s) - 1 - 5);
	CHECK_EQ_INT(m->status, 200);
	CHECK_EQ_INT(m->version_minor, 1);
	CHECK_EQ_INT(m->flags, HTTP_F_CONTENT_LENGTH);
	CHECK_EQ_INT(m->content_length, 5);
	CHECK_EQ_INT(m->nhdr, 2);
}

TEST(resp_misc_valid)
{
	static const char s204[] = "HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n";
	static const char s304[] = "HTTP/1.0 304 Not Modified\r\nETag: \"a\"\r\n\r\n";
	static const char s101[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\n\r\n";
	static const char sch[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
	static const char bare[] = "HTTP/1.1 200\r\n\r\n";
	static const char empty_reason[] = "HTTP/1.1 404 \r\n\r\n";
	static const char obs[] = "HTTP/1.1 599 \xc3\xa9t\xc3\xa9\t!\r\nHost: whatever\r\nHost: twice\r\n\r\n";

	CHECK_EQ_INT(parse_split(1, LIT(s204)), sizeof(s204) - 1);
	CHECK_EQ_INT(m_whole.status, 204);
	CHECK_EQ_INT(parse_split(1, LIT(s304)), sizeof(s304) - 1);
	CHECK_EQ_INT(m_whole.status, 304);
	CHECK_EQ_INT(m_whole.version_minor, 0);
	CHECK_EQ_INT(parse_split(1, LIT(s101)), sizeof(s101) - 1);
	CHECK_EQ_INT(m_whole.status, 101);
	CHECK_EQ_INT(m_whole.flags, HTTP_F_HAS_UPGRADE | HTTP_F_CONN_UPGRADE | HTTP_F_UPGRADE_WS);
	CHECK_EQ_INT(parse_split(1, LIT(sch)), sizeof(sch) - 1 - 5);
	CHECK_EQ_INT(m_whole.flags, HTTP_F_CHUNKED);
	CHECK_EQ_INT(parse_split(1, LIT(bare)), sizeof(bare) - 1);
	CHECK_EQ_INT(m_whole.status, 200);
	CHECK_EQ_INT(parse_split(1, LIT(empty_reason)), sizeof(empty_reason) - 1);
	CHECK_EQ_INT(m_whole.status, 404);
	CHECK_EQ_INT(parse_split(1, LIT(obs)), sizeof(obs) - 1);
	CHECK(m_whole.host == NULL);
}

static const struct bad_case bad_responses[] = {
	BAD("dup CL", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 502),
	BAD("CL+TE", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 502),
	BAD("TE gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 502),
	BAD("TE on 1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 502),
	BAD("CL junk", "HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n", 502),
	BAD("status 99", "HTTP/1.1 099 X\r\n\r\n", 502),
	BAD("status 600", "HTTP/1.1 600 X\r\n\r\n", 502),
	BAD("status 2 digits", "HTTP/1.1 20 OK\r\n\r\n", 502),
	BAD("status 4 digits", "HTTP/1.1 2000 OK\r\n\r\n", 502),
	BAD("status letters", "HTTP/1.1 2x0 OK\r\n\r\n", 502),
	BAD("HTTP/2", "HTTP/2 200 OK\r\n\r\n", 502),
	BAD("HTTP/1.2", "HTTP/1.2 200 OK\r\n\r\n", 502),
	BAD("lower-case version", "http/1.1 200 OK\r\n\r\n", 502),
	BAD("double SP", "HTTP/1.1  200 OK\r\n\r\n", 502),
	BAD("bare LF", "HTTP/1.1 200 OK\n\n", 502),
	BAD("CTL in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", 502),
	BAD("obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", 502),
	BAD("space before colon", "HTTP/1.1 200 OK\r\nX : a\r\n\r\n", 502),
	BAD("leading CRLF", "\r\nHTTP/1.1 200 OK\r\n\r\n", 502),
};

TEST(resp_rejections)
{
	for (size_t i = 0; i < sizeof(bad_responses) / sizeof(bad_responses[0]); i++) {
		const struct bad_case *c = &bad_responses[i];
		int r;

		test_cur_failed = 0;
		r = parse_split(1, c->s, c->n);
		if (r != HTTP_PARSE_ERROR || m_whole.error_status != c->status || m_whole.error == NULL) {
			printf("  case \"%s\": r=%d status=%d error=%s\n", c->what, r,
			    m_whole.error_status, m_whole.error ? m_whole.error : "(null)");
			test_failed++;
		} else {
			test_passed++;
		}
	}
	test_cur_failed = 0;
}

/* ---- chunked scanner ---- */

/* scan whole, then one byte at a time; both must agree; returns the total */
static long chunk_both(const char *s, size_t n, int *done)
{
	struct http_chunked a, b;
	long whole, total = 0;

	http_chunked_init(&a);
	whole = http_chunked_scan(&a, s, n);
	http_chunked_init(&b);
	for (size_t i = 0; i < n && !b.done; i++) {
		char *one = malloc(1);
		long r;
		one[0] = s[i];
		r = http_chunked_scan(&b, one, 1);
		free(one);
		if (r < 0) {
			total = -1;
			break;
		}
		total += r;
	}
	if (total != whole || a.done != b.done || (whole < 0) != (a.error != NULL)) {
		printf("  whole %ld (done %d) vs bytewise %ld (done %d)\n", whole, a.done, total, b.done);
		test_cur_failed = 1;
	}
	*done = a.done;
	return whole;
}

TEST(chunked_valid)
{
	static const char s1[] = "5\r\nhello\r\n0\r\n\r\n";
	static const char s2[] = "A;ext=1;e2=\"q\\\"x y\";flag\r\n0123456789\r\n1a\r\n"
	    "abcdefghijklmnopqrstuvwxyz\r\n000\r\nX-T: v\r\nY:\r\n\r\n";
	static const char s3[] = "00000000000000F\r\n0123456789abcde\r\n0;last=\"\"\r\n\r\n";
	int done;

	CHECK_EQ_INT(chunk_both(LIT(s1), &done), sizeof(s1) - 1);
	CHECK(done);
	CHECK_EQ_INT(chunk_both(LIT(s2), &done), sizeof(s2) - 1);
	CHECK(done);
	CHECK_EQ_INT(chunk_both(LIT(s3), &done), sizeof(s3) - 1);
	CHECK(done);
}

/* http_chunked_decode: the data without the framing, the same whether
 * the body comes whole or a byte at a time, and nothing past its end */
struct sink {
	char buf[256];
	size_t n;
};

static void sink_data(void *arg, const char *p, size_t n)
{
	struct sink *k = arg;

	if (k->n + n <= sizeof(k->buf)) {
		memcpy(k->buf + k->n, p, n);
		k->n += n;
	} else {
		k->n = sizeof(k->buf) + 1;      /* overflow: the test fails */
	}
}

static const char *decode_both(const char *s, size_t n, long *used)
{
	static char out[256];
	struct http_chunked a, b;
	struct sink ka = { .n = 0 }, kb = { .n = 0 };
	long total = 0, r;

	http_chunked_init(&a);
	*used = http_chunked_decode(&a, s, n, sink_data, NULL, &ka);
	http_chunked_init(&b);
	for (size_t i = 0; i < n && !b.done; i++) {
		r = http_chunked_decode(&b, s + i, 1, sink_data, NULL, &kb);
		if (r < 0) {
			total = -1;
			break;
		}
		total += r;
	}
	if (total != *used || ka.n != kb.n || ka.n > sizeof(ka.buf) ||
	    memcmp(ka.buf, kb.buf, ka.n) != 0) {
		printf("  whole and bytewise decoding differ\n");
		test_cur_failed = 1;
	}
	memcpy(out, ka.buf, ka.n < sizeof(out) - 1 ? ka.n : sizeof(out) - 1);
	out[ka.n < sizeof(out) - 1 ? ka.n : sizeof(out) - 1] = '\0';
	return out;
}

TEST(chunked_decode_strips_the_framing)
{
	static const char s1[] = "5\r\nhello\r\n6;x=\"a\"\r\n world\r\n0\r\nX-T: v\r\n\r\nNEXT";
	static const char s2[] = "3\r\nabc\r\nZ\r\n";
	long used;

	CHECK_STR(decode_both(LIT(s1), &used), "hello world");
	CHECK_EQ_INT(used, sizeof(s1) - 1 - 4);         /* "NEXT" is not the body's */
	/* data before a framing error was passed on; the error is the scanner's */
	CHECK_STR(decode_both(LIT(s2), &used), "abc");
	CHECK_EQ_INT(used, -1);
}

/* the trailer section's bytes, apart from the data, whole or bytewise */
TEST(chunked_decode_passes_the_trailers)
{
	static const char s[] = "3\r\nabc\r\n0\r\nX-T: v\r\nGrpc-Status: 0\r\n\r\nNEXT";
	struct http_chunked a, b;
	struct sink d = { .n = 0 }, t1 = { .n = 0 }, t2 = { .n = 0 };
	long r;

	http_chunked_init(&a);
	r = http_chunked_decode(&a, s, sizeof(s) - 1, sink_data, sink_data, &d);
	CHECK_EQ_INT(r, sizeof(s) - 1 - 4);
	CHECK(a.done);
	/* data and trailers went to the same sink here: in order */
	CHECK_EQ_INT(d.n, 3 + 26);
	CHECK(memcmp(d.buf, "abcX-T: v\r\nGrpc-Status: 0\r\n\r\n", d.n) == 0);
	http_chunked_init(&b);
	for (size_t i = 0; i < sizeof(s) - 1 && !b.done; i++)
		CHECK(http_chunked_decode(&b, s + i, 1, NULL, sink_data, &t1) >= 0);
	CHECK_EQ_INT(t1.n, 26);
	/* no trailers: only the final CRLF */
	http_chunked_init(&b);
	CHECK_EQ_INT(http_chunked_decode(&b, "0\r\n\r\n", 5, NULL, sink_data, &t2), 5);
	CHECK_EQ_INT(t2.n, 2);
}

TEST(chunked_pipelined_and_partial)
{
	static const char s[] = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
	struct http_chunked c;
	int done;

	CHECK_EQ_INT(chunk_both(LIT(s), &done), 13);
	CHECK(done);
	/* in pieces: not done until the very last LF */
	http_chunked_init(&c);
	CHECK_EQ_INT(http_chunked_scan(&c, s, 5), 5);
	CHECK(!c.done);
	CHECK_EQ_INT(http_chunked_scan(&c, s + 5, 7), 7);
	CHECK(!c.done);
	CHECK_EQ_INT(http_chunked_scan(&c, s + 12, sizeof(s) - 1 - 12), 1);
	CHECK(c.done);
	CHECK_EQ_INT(http_chunked_scan(&c, s + 13, 3), 0);
	/* a huge chunk consumes all data handed over */
	http_chunked_init(&c);
	CHECK_EQ_INT(http_chunked_scan(&c, "fffffffffffffff\r\nxyz", 20), 20);
	CHECK(!c.done);
	/* 15 digits with leading zeros are still a size */
	http_chunked_init(&c);
	CHECK_EQ_INT(http_chunked_scan(&c, "000000000000005\r\nhello\r\n0\r\n\r\n", 29), 29);
	CHECK(c.done);
}

static const struct {
	const char *what;
	const char *s;
	size_t n;
} bad_chunks[] = {
	{ "no CRLF after data", LIT("5\r\nhelloX\r\n0\r\n\r\n") },
	{ "LF only after data", LIT("5\r\nhello\n0\r\n\r\n") },
	{ "bare LF in size line", LIT("5\nhello\r\n0\r\n\r\n") },
	{ "bare CR in size line", LIT("5\rhello\r\n0\r\n\r\n") },
	{ "non-hex", LIT("g\r\n") },
	{ "0x prefix", LIT("0x5\r\nhello\r\n0\r\n\r\n") },
	{ "+5", LIT("+5\r\nhello\r\n0\r\n\r\n") },
	{ "-5", LIT("-5\r\nhello\r\n0\r\n\r\n") },
	{ "leading SP", LIT(" 5\r\nhello\r\n0\r\n\r\n") },
	{ "trailing SP", LIT("5 \r\nhello\r\n0\r\n\r\n") },
	{ "SP before ext", LIT("5 ;a=b\r\nhello\r\n0\r\n\r\n") },
	{ "SP in ext", LIT("5;a =b\r\nhello\r\n0\r\n\r\n") },
	{ "empty ext name", LIT("5;=b\r\nhello\r\n0\r\n\r\n") },
	{ "empty ext value", LIT("5;a=\r\nhello\r\n0\r\n\r\n") },
	{ "unterminated quote", LIT("5;a=\"b\r\nhello\r\n") },
	{ "17 hex digits", LIT("00000000000000005\r\nhello\r\n0\r\n\r\n") },
	{ "16 hex digits", LIT("0000000000000005\r\nhello\r\n0\r\n\r\n") },
	{ "2^64-1", LIT("ffffffffffffffff\r\nhello\r\n0\r\n\r\n") },
	{ "2^63", LIT("8000000000000000\r\nhello\r\n0\r\n\r\n") },
	{ "2^62", LIT("4000000000000000\r\nhello\r\n0\r\n\r\n") },
	{ "empty size", LIT("\r\nhello\r\n") },
	{ "trailer obs-fold", LIT("0\r\nX: a\r\n b\r\n\r\n") },
	{ "trailer space before colon", LIT("0\r\nX : a\r\n\r\n") },
	{ "trailer without colon", LIT("0\r\nX\r\n\r\n") },
	{ "trailer CTL", LIT("0\r\nX: a\x01\r\n\r\n") },
	{ "trailer bare LF", LIT("0\r\nX: a\n\r\n") },
	{ "trailer Content-Length", LIT("0\r\nContent-Length: 50\r\n\r\n") },
	{ "trailer transfer-encoding", LIT("0\r\ntransfer-encoding: chunked\r\n\r\n") },
	{ "trailer Host", LIT("0\r\nX: 1\r\nHOST: b\r\n\r\n") },
	{ "final bare LF", LIT("0\r\n\n") },
	{ "final bare CR", LIT("0\r\n\rX") },
};

TEST(chunked_errors)
{
	for (size_t i = 0; i < sizeof(bad_chunks) / sizeof(bad_chunks[0]); i++) {
		int done;
		long r;

		test_cur_failed = 0;
		r = chunk_both(bad_chunks[i].s, bad_chunks[i].n, &done);
		if (r != -1 || test_cur_failed) {
			printf("  case \"%s\": r=%ld\n", bad_chunks[i].what, r);
			test_failed++;
		} else {
			test_passed++;
		}
	}
	test_cur_failed = 0;
}

TEST(chunked_limits)
{
	static char buf[20000];
	struct http_chunked c;
	size_t n;

	/* a 4096-byte size line is fine, one more byte is not */
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "1;x=", 4);
	memcpy(buf + 4094, "\r\nZ\r\n0\r\n\r\n", 10);
	http_chunked_init(&c);
	CHECK_EQ_INT(http_chunked_scan(&c, buf, 4104), 4104);
	CHECK(c.done);
	memcpy(buf + 4094, "a\r\nZ\r\n0\r\n\r\n", 11);
	http_chunked_init(&c);
	CHECK_EQ_INT(http_chunked_scan(&c, buf, 4105), -1);
	CHECK_STR(c.error, "chunk size line too long");
	/* and the error sticks */
	CHECK_EQ_INT(http_chunked_scan(&c, "0\r\n\r\n", 5), -1);

	/* trailers: 16384 bytes in all (final CRLF included) pass, 16385 fail */
	memcpy(buf, "0\r\n", 3);
	for (n = 3; n + 2 < 3 + 16384; ) {
		size_t line = 3 + 16384 - 2 - n;
		if (line > 1000)
			line = 1000;
		if (line < 5)
			line = 5;
		memset(buf + n, 'v', line);
		memcpy(buf + n, "X:", 2);
		memcpy(buf + n + line - 2, "\r\n", 2);
		n += line;
	}
	memcpy(buf + n, "\r\n", 2);
	n += 2;
	CHECK_EQ_INT(n, 3 + 16384);
	http_chunked_init(&c);
	CHECK_EQ_INT(http_chunked_scan(&c, buf, n), (long)n);
	CHECK(c.done);
	memmove(buf + 4, buf + 3, n - 3);
	buf[3] = 'X';   /* one more byte of trailer name */
	http_chunked_init(&c);
	CHECK_EQ_INT(http_chunked_scan(&c, buf, n + 1), -1);
	CHECK_STR(c.error, "trailer section too large");
}

/* ---- helpers ---- */

TEST(misc_helpers)
{
	CHECK(http_token_eq("Chunked", 7, "chunked"));
	CHECK(http_token_eq("CHUNKED", 7, "chunked"));
	CHECK(!http_token_eq("chunke", 6, "chunked"));
	CHECK(!http_token_eq("chunkedx", 8, "chunked"));
	CHECK(http_token_eq("", 0, ""));
	CHECK(!http_token_eq("a", 1, ""));
	CHECK_STR(http_status_text(200), "OK");
	CHECK_STR(http_status_text(431), "Request Header Fields Too Large");
	CHECK_STR(http_status_text(505), "HTTP Version Not Supported");
	CHECK_STR(http_status_text(502), "Bad Gateway");
	CHECK_STR(http_status_text(299), "Unknown");
}

TEST(te_trailers_in_a_list)
{
	static const char *yes[] = {
		"GET / HTTP/1.1\r\nHost: a\r\nTE: trailers\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nTE: gzip;q=0.5, Trailers\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nTE: deflate\r\nte: trailers;q=1\r\n\r\n",
	};
	static const char *no[] = {
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nTE: gzip\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nTE: trailersx, xtrailers\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX-TE: trailers\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		CHECK(parse(0, yes[i], strlen(yes[i]), &lim_std, &m_whole) > 0);
		CHECK_EQ_INT(http_takes_trailers(&m_whole), 1);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		CHECK(parse(0, no[i], strlen(no[i]), &lim_std, &m_whole) > 0);
		CHECK_EQ_INT(http_takes_trailers(&m_whole), 0);
	}
}

int main(void)
{
	RUN(te_trailers_in_a_list);
	RUN(req_get);
	RUN(req_post_cl);
	RUN(req_post_chunked);
	RUN(req_http10_no_host);
	RUN(req_absolute_form);
	RUN(req_options_asterisk);
	RUN(req_connect);
	RUN(req_host_forms);
	RUN(req_leading_crlf);
	RUN(req_obs_text_and_ows);
	RUN(req_long_fields);
	RUN(req_websocket);
	RUN(req_upgrade_without_connection);
	RUN(req_hop_by_hop);
	RUN(req_expect);
	RUN(req_pipelined);
	RUN(req_ids_and_methods);
	RUN(req_limits_exact);
	RUN(req_rejections);
	RUN(req_too_many_headers);
	RUN(req_too_many_bytes);
	RUN(req_error_strings);
	RUN(resp_200_cl);
	RUN(resp_misc_valid);
	RUN(resp_rejections);
	RUN(chunked_valid);
	RUN(chunked_decode_strips_the_framing);
	RUN(chunked_decode_passes_the_trailers);
	RUN(chunked_pipelined_and_partial);
	RUN(chunked_errors);
	RUN(chunked_limits);
	RUN(misc_helpers);
	return test_summary();
}
