/*
 * test_h2_head.c - HTTP/2 header lists as HTTP/1.1 heads: what comes out,
 * what RFC 9113 / RFC 8441 make a stream error, and that every head built
 * is one the strict HTTP/1.1 parser reads whole.
 */
#include <stdlib.h>
#include <string.h>

#include "h2_head.h"
#include "http_parse.h"
#include "test.h"

#define F(n, v) { n, sizeof(n) - 1, v, sizeof(v) - 1 }
#define NF(a) (sizeof(a) / sizeof((a)[0]))

static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";

static char out[4096];

/* The head of fields, NUL-terminated in out, or NULL with the error in *why. */
static const char *
head(const struct h2_field *f, size_t n, int end_stream, struct h2_req *r)
{
	long len = h2_request_head(f, n, end_stream, key, r, out, sizeof(out) - 1);

	if (len < 0)
		return NULL;
	out[len] = '\0';
	return out;
}

/* The error for fields, or "(accepted)". */
static const char *
error_of(const struct h2_field *f, size_t n, int end_stream)
{
	struct h2_req r;

	if (head(f, n, end_stream, &r) != NULL)
		return "(accepted)";
	return r.error;
}

/* The strict parser reads the whole head; returns its flags or -1. */
static long
parses(const char *h, struct http_msg *m)
{
	struct http_limits lim = { 65536, 100 };
	int r = http_parse_request(h, strlen(h), &lim, m);

	return r == (int)strlen(h) ? (long)m->flags : -1;
}

TEST(get_becomes_a_request_line_and_host)
{
	struct h2_field f[] = {
		F(":method", "GET"), F(":scheme", "https"), F(":authority", "shop.example"),
		F(":path", "/a?b=1"), F("accept", "*/*"), F("te", "trailers"),
	};
	struct h2_req r;
	struct http_msg m;

	/* te: trailers stays (the client takes trailers); the parser marks it
	 * hop-by-hop, so that it goes no further than bgproxy */
	CHECK_STR(head(f, NF(f), 1, &r),
	    "GET /a?b=1 HTTP/1.1\r\nhost: shop.example\r\naccept: */*\r\nte: trailers\r\n\r\n");
	CHECK(!r.chunked && !r.has_length && !r.websocket);
	CHECK(parses(out, &m) != -1);
	CHECK(http_takes_trailers(&m));
	CHECK(m.hdr[2].flags & HTTP_HDR_HOP);
}

TEST(bodies_get_a_length_or_chunked)
{
	struct h2_field f[] = {
		F(":method", "POST"), F(":scheme", "http"), F(":authority", "a"), F(":path", "/"),
		F("content-length", "12"),
	};
	struct h2_field g[] = {
		F(":method", "POST"), F(":scheme", "http"), F(":authority", "a"), F(":path", "/"),
	};
	struct h2_req r;
	struct http_msg m;

	CHECK_STR(head(f, NF(f), 0, &r), "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 12\r\n\r\n");
	CHECK(r.has_length && r.length == 12 && !r.chunked);
	CHECK((parses(out, &m) & HTTP_F_CONTENT_LENGTH) && m.content_length == 12);
	CHECK_STR(head(g, NF(g), 0, &r), "POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n");
	CHECK(r.chunked);
	CHECK(parses(out, &m) & HTTP_F_CHUNKED);
	/* END_STREAM on HEADERS: no body at all */
	CHECK_STR(head(g, NF(g), 1, &r), "POST / HTTP/1.1\r\nhost: a\r\n\r\n");
	CHECK(!r.chunked);
}

TEST(cookie_crumbs_are_joined_and_host_stands_in)
{
	struct h2_field f[] = {
		F(":method", "GET"), F(":scheme", "https"), F(":path", "/"), F("cookie", "a=1"),
		F("host", "h.example:8443"), F("cookie", "bgp=k1"), F("x-y", "z"),
	};
	struct h2_req r;
	struct http_msg m;

	CHECK_STR(head(f, NF(f), 1, &r), "GET / HTTP/1.1\r\nhost: h.example:8443\r\nx-y: z\r\n"
	    "cookie: a=1; bgp=k1\r\n\r\n");
	CHECK(parses(out, &m) != -1);
}

TEST(what_http2_forbids_is_a_stream_error)
{
#define BASE F(":method", "GET"), F(":scheme", "https"), F(":authority", "a"), F(":path", "/")
	struct h2_field up[] = { BASE, F("Accept", "x") };
	struct h2_field conn[] = { BASE, F("connection", "keep-alive") };
	struct h2_field te[] = { BASE, F("te", "gzip") };
	struct h2_field tenc[] = { BASE, F("transfer-encoding", "chunked") };
	struct h2_field upg[] = { BASE, F("upgrade", "websocket") };
	struct h2_field late[] = { F(":method", "GET"), F("accept", "x"), F(":path", "/"),
		F(":scheme", "https"), F(":authority", "a") };
	struct h2_field unknown[] = { BASE, F(":status", "200") };
	struct h2_field twice[] = { BASE, F(":path", "/b") };
	struct h2_field nomethod[] = { F(":scheme", "https"), F(":authority", "a"), F(":path", "/") };
	struct h2_field nopath[] = { F(":method", "GET"), F(":scheme", "https"), F(":authority", "a") };
	struct h2_field emptypath[] = { F(":method", "GET"), F(":scheme", "https"),
		F(":authority", "a"), F(":path", "") };
	struct h2_field relpath[] = { F(":method", "GET"), F(":scheme", "https"),
		F(":authority", "a"), F(":path", "x") };
	struct h2_field disagree[] = { BASE, F("host", "b") };
	struct h2_field nohost[] = { F(":method", "GET"), F(":scheme", "https"), F(":path", "/") };
	struct h2_field cr[] = { BASE, F("x", "a\rb") };
	struct h2_field lead[] = { BASE, F("x", " a") };
	struct h2_field cl2[] = { BASE, F("content-length", "1"), F("content-length", "2") };
	struct h2_field clbad[] = { BASE, F("content-length", "1x") };
	struct h2_field clend[] = { BASE, F("content-length", "5") };
	struct h2_field scheme[] = { F(":method", "GET"), F(":scheme", "ftp"), F(":authority", "a"),
		F(":path", "/") };
	struct h2_field method[] = { F(":method", "G T"), F(":scheme", "https"),
		F(":authority", "a"), F(":path", "/") };
	struct h2_field emptyname[] = { BASE, F("", "x") };

	CHECK_STR(error_of(up, NF(up), 1), "an uppercase header name");
	CHECK_STR(error_of(conn, NF(conn), 1), "a connection-specific header");
	CHECK_STR(error_of(te, NF(te), 1), "te other than trailers");
	CHECK_STR(error_of(tenc, NF(tenc), 1), "a connection-specific header");
	CHECK_STR(error_of(upg, NF(upg), 1), "a connection-specific header");
	CHECK_STR(error_of(late, NF(late), 1), "a pseudo-header after a regular header");
	CHECK_STR(error_of(unknown, NF(unknown), 1), "an unknown pseudo-header");
	CHECK_STR(error_of(twice, NF(twice), 1), "a pseudo-header twice");
	CHECK_STR(error_of(nomethod, NF(nomethod), 1), "no :method");
	CHECK_STR(error_of(nopath, NF(nopath), 1), "no :scheme or :path");
	CHECK_STR(error_of(emptypath, NF(emptypath), 1), "an empty :path");
	CHECK_STR(error_of(relpath, NF(relpath), 1), "a :path that is not absolute");
	CHECK_STR(error_of(disagree, NF(disagree), 1), ":authority and host disagree");
	CHECK_STR(error_of(nohost, NF(nohost), 1), "no :authority or host");
	CHECK_STR(error_of(cr, NF(cr), 1), "a header value with a control byte");
	CHECK_STR(error_of(lead, NF(lead), 1), "a header value with leading or trailing whitespace");
	CHECK_STR(error_of(cl2, NF(cl2), 0), "content-length values that disagree");
	CHECK_STR(error_of(clbad, NF(clbad), 0), "a bad content-length");
	CHECK_STR(error_of(clend, NF(clend), 1), "content-length disagrees with the DATA");
	CHECK_STR(error_of(clend, NF(clend), 0), "(accepted)");
	CHECK_STR(error_of(scheme, NF(scheme), 1), "a :scheme other than http or https");
	CHECK_STR(error_of(method, NF(method), 1), "a :method that is not a token");
	CHECK_STR(error_of(emptyname, NF(emptyname), 1), "an empty header name");
#undef BASE
}

TEST(connect_and_extended_connect)
{
	struct h2_field plain[] = { F(":method", "CONNECT"), F(":authority", "a.example:443") };
	struct h2_field withpath[] = { F(":method", "CONNECT"), F(":authority", "a:1"),
		F(":path", "/") };
	struct h2_field ws[] = { F(":method", "CONNECT"), F(":protocol", "websocket"),
		F(":scheme", "https"), F(":authority", "a"), F(":path", "/chat"),
		F("sec-websocket-version", "13"), F("sec-websocket-key", "ignored") };
	struct h2_field other[] = { F(":method", "CONNECT"), F(":protocol", "mqtt"),
		F(":scheme", "https"), F(":authority", "a"), F(":path", "/") };
	struct h2_field proto_get[] = { F(":method", "GET"), F(":protocol", "websocket"),
		F(":scheme", "https"), F(":authority", "a"), F(":path", "/") };
	struct h2_field ws_nopath[] = { F(":method", "CONNECT"), F(":protocol", "websocket"),
		F(":scheme", "https"), F(":authority", "a") };
	struct h2_req r;
	struct http_msg m;

	/* plain CONNECT is well formed and not served: answered 405, as over HTTP/1.1 */
	CHECK(head(plain, NF(plain), 0, &r) == NULL);
	CHECK_STR(r.error, "CONNECT is not supported");
	CHECK_EQ_INT(r.status, 405);
	CHECK(head(withpath, NF(withpath), 0, &r) == NULL && r.status == 0);
	CHECK_STR(error_of(withpath, NF(withpath), 0), "CONNECT with :scheme or :path");
	CHECK_STR(head(ws, NF(ws), 0, &r), "GET /chat HTTP/1.1\r\nhost: a\r\nsec-websocket-version: 13\r\n"
	    "upgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
	CHECK(r.websocket && !r.chunked);
	CHECK(parses(out, &m) & HTTP_F_UPGRADE_WS);
	CHECK_STR(error_of(other, NF(other), 0), "a :protocol other than websocket");
	CHECK_STR(error_of(proto_get, NF(proto_get), 0), ":protocol without CONNECT");
	CHECK_STR(error_of(ws_nopath, NF(ws_nopath), 0),
	    "an extended CONNECT without :scheme, :path or :authority");
}

TEST(a_small_buffer_is_an_error_not_an_overflow)
{
	struct h2_field f[] = {
		F(":method", "GET"), F(":scheme", "https"), F(":authority", "a"), F(":path", "/x"),
	};
	char small[24];
	struct h2_req r;

	memset(small, 'Z', sizeof(small));
	CHECK_EQ_INT(h2_request_head(f, NF(f), 1, key, &r, small, 16), -1);
	CHECK_STR(r.error, "a header list too large");
	CHECK(small[16] == 'Z');
}

int
main(void)
{
	RUN(get_becomes_a_request_line_and_host);
	RUN(bodies_get_a_length_or_chunked);
	RUN(cookie_crumbs_are_joined_and_host_stands_in);
	RUN(what_http2_forbids_is_a_stream_error);
	RUN(connect_and_extended_connect);
	RUN(a_small_buffer_is_an_error_not_an_overflow);
	return test_summary();
}
