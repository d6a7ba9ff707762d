/* Unit tests for http_rewrite.c: the heads bgproxy writes, to the byte. */
#include <stdio.h>
#include <string.h>

#include "http_parse.h"
#include "http_rewrite.h"
#include "test.h"

static struct http_msg m;
static char out[70000];
static const struct http_limits lim = { 65536, 256 };

static const char *
req(const char *head, int tls, int upgrade, const char *peer)
{
	struct http_rewrite_req rq = { peer, strlen(peer), tls, upgrade,
		"0123456789abcdef0123456789abcdef", NULL, 0 };
	size_t n;

	if (http_parse_request(head, strlen(head), &lim, &m) <= 0)
		return "(refused)";
	n = http_rewrite_request(&m, &rq, out);
	CHECK(n <= http_rewrite_request_max(&m, strlen(peer)));
	out[n] = '\0';
	return out;
}

TEST(test_request_origin_form)
{
	CHECK_STR(req("GET /a?b HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n", 0, 0, "10.0.0.1"),
	    "GET /a?b HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-Forwarded-For: 10.0.0.1\r\n"
	    "X-Forwarded-Proto: http\r\nX-Request-Id: 0123456789abcdef0123456789abcdef\r\n\r\n");
}

TEST(test_request_absolute_hop_xff_reqid)
{
	CHECK_STR(req("GET http://example.com:8080/p HTTP/1.1\r\nHost: other\r\n"
	    "Connection: close, X-Gone\r\nX-Gone: 1\r\nKeep-Alive: 5\r\nX-Forwarded-For: 1.1.1.1\r\n"
	    "X-Forwarded-For:\r\nX-Forwarded-For: 2.2.2.2\r\nX-Forwarded-Proto: http\r\n"
	    "X-Request-Id: abc\r\nTE: trailers\r\n\r\n", 1, 0, "::1"),
	    "GET /p HTTP/1.1\r\nHost: example.com:8080\r\nX-Request-Id: abc\r\n"
	    "X-Forwarded-For: 1.1.1.1, 2.2.2.2, ::1\r\nX-Forwarded-Proto: https\r\n\r\n");
}

TEST(test_request_http10_and_upgrade)
{
	CHECK_STR(req("POST /x HTTP/1.0\r\nContent-Length: 3\r\n\r\n", 0, 0, "p"),
	    "POST /x HTTP/1.0\r\nContent-Length: 3\r\nX-Forwarded-For: p\r\n"
	    "X-Forwarded-Proto: http\r\nX-Request-Id: 0123456789abcdef0123456789abcdef\r\n"
	    "Connection: keep-alive\r\n\r\n");
	CHECK_STR(req("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "X-Request-Id: 0123456789012345678901234567890123\r\n\r\n", 0, 1, "p"),
	    "GET /ws HTTP/1.1\r\nHost: h\r\nX-Request-Id: 0123456789012345678901234567890123\r\n"
	    "X-Forwarded-For: p\r\nX-Forwarded-Proto: http\r\n"
	    "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
}

static const char *
resp(const char *head, int keep, int minor, const char *cookie, const char *pool)
{
	struct http_rewrite_resp rs = { keep, minor, cookie, cookie ? strlen(cookie) : 0,
		"KEY", 3, pool, 0 };
	size_t n;

	if (http_parse_response(head, strlen(head), &lim, &m) <= 0)
		return "(refused)";
	n = http_rewrite_response(&m, head, &rs, out);
	CHECK(n <= http_rewrite_response_max(&m));
	out[n] = '\0';
	return out;
}

TEST(test_response_heads)
{
	CHECK_STR(resp("HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n", 1, 1,
	    NULL, NULL), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
	CHECK_STR(resp("HTTP/1.1 200 OK\r\nSet-Cookie: bgp=srv; Path=/\r\nSet-Cookie: s=1\r\n\r\n",
	    0, 0, "bgp", "green"),
	    "HTTP/1.1 200 OK\r\nSet-Cookie: s=1\r\nSet-Cookie: bgp=KEY; Path=/; HttpOnly; "
	    "SameSite=Lax\r\nConnection: close\r\nX-Bgproxy-Pool: green\r\n\r\n");
	CHECK_STR(resp("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", 1, 0, NULL, NULL),
	    "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n");
	/* interim: nothing of ours, no Content-Length */
	CHECK_STR(resp("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\nContent-Length: 0\r\n\r\n", 0, 1,
	    "bgp", "blue"), "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n");
	CHECK_STR(resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n", 0, 1, "bgp", NULL),
	    "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: x\r\n"
	    "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
	/* a reason may be empty */
	CHECK_STR(resp("HTTP/1.1 500 \r\n\r\n", 1, 1, NULL, NULL), "HTTP/1.1 500 \r\n\r\n");
}

TEST(test_set_cookie_is)
{
#define SC(v) v, strlen(v)
	CHECK(http_set_cookie_is(SC("bgp=abc; Path=/"), "bgp", 3));
	CHECK(http_set_cookie_is(SC("  bgp = abc"), "bgp", 3));
	CHECK(http_set_cookie_is(SC("bgp="), "bgp", 3));
	CHECK(!http_set_cookie_is(SC("bgpx=abc"), "bgp", 3));
	CHECK(!http_set_cookie_is(SC("xbgp=abc"), "bgp", 3));
	CHECK(!http_set_cookie_is(SC("BGP=abc"), "bgp", 3));
	CHECK(!http_set_cookie_is(SC("session=1; bgp=abc"), "bgp", 3));
	CHECK(!http_set_cookie_is(SC("bgp; Path=/"), "bgp", 3));
	CHECK(!http_set_cookie_is(SC("bgp"), "bgp", 3));
	CHECK(!http_set_cookie_is(SC(""), "bgp", 3));
	CHECK(!http_set_cookie_is(SC("=abc"), "", 0));
#undef SC
}

/* the one rule, to an HTTP/2 client: no framing headers, the tunnel's
 * 200 without the WebSocket handshake; our Set-Cookie value */
TEST(test_keep_for_h2)
{
	static const char head[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: abc\r\nContent-Length: 0\r\n"
	    "X-App: 1\r\n\r\n";
	static const char chunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "Set-Cookie: bgp=theirs\r\nSet-Cookie: app=1\r\n\r\n";
	struct http_rewrite_resp rs = { .cookie = "bgp", .cookie_len = 3, .key = "KEY",
		.key_len = 3, .h2 = 1 };
	char cv[128];
	size_t i, kept = 0;

	CHECK(http_parse_response(head, strlen(head), &lim, &m) > 0);
	for (i = 0; i < m.nhdr; i++)
		if (http_rewrite_resp_keep(&m, &m.hdr[i], &rs)) {
			kept++;
			CHECK(http_token_eq(m.hdr[i].name, m.hdr[i].name_len, "x-app"));
		}
	CHECK_EQ_INT(kept, 1);
	CHECK(http_parse_response(chunked, strlen(chunked), &lim, &m) > 0);
	kept = 0;
	for (i = 0; i < m.nhdr; i++)
		if (http_rewrite_resp_keep(&m, &m.hdr[i], &rs)) {
			kept++;
			CHECK(m.hdr[i].value_len == 5 && memcmp(m.hdr[i].value, "app=1", 5) == 0);
		}
	CHECK_EQ_INT(kept, 1);
	/* an HTTP/1.1 client keeps the framing header, an HTTP/1.0 one gets
	 * the body unframed */
	rs.h2 = 0;
	rs.req_minor = 1;
	CHECK(http_rewrite_resp_keep(&m, &m.hdr[0], &rs));
	rs.req_minor = 0;
	CHECK(!http_rewrite_resp_keep(&m, &m.hdr[0], &rs));
	CHECK_EQ_INT(http_rewrite_set_cookie(&rs, cv), 39);
	CHECK(memcmp(cv, "bgp=KEY; Path=/; HttpOnly; SameSite=Lax", 39) == 0);
	rs.cookie = NULL;
	CHECK_EQ_INT(http_rewrite_set_cookie(&rs, cv), 0);
}

int
main(void)
{
	RUN(test_request_origin_form);
	RUN(test_request_absolute_hop_xff_reqid);
	RUN(test_request_http10_and_upgrade);
	RUN(test_response_heads);
	RUN(test_set_cookie_is);
	RUN(test_keep_for_h2);
	return test_summary();
}
