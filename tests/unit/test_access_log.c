/*
 * test_access_log.c - the access log's JSON line: every field, escaping,
 * null pool and server, the TLS fields, and whole JSON at the longest.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "access_log.h"
#include "test.h"

static struct access_line
plain(void)
{
	struct access_line a = {
		.time = "2026-12-02T19:00:00.123Z", .client = "127.0.0.1", .method = "GET",
		.path = "/a?b=c", .status = 200, .bytes = 1234, .service = "shop", .pool = "green",
		.server = "127.0.0.1:9002", .term = "server_reset", .duration_ms = 1.5,
		.request_id = "abc",
	};

	return a;
}

/* Parse a line: one object, ending in one newline. */
static json_t *
parse(const char *line, size_t n)
{
	json_error_t err;

	if (n == 0 || line[n - 1] != '\n' || memchr(line, '\n', n - 1) != NULL)
		return NULL;
	return json_loadb(line, n - 1, 0, &err);
}

TEST(every_field_in_order)
{
	char out[ACCESS_LINE_MAX];
	struct access_line a = plain();
	size_t n = access_log_format(&a, out);

	out[n] = '\0';
	CHECK_STR(out, "{\"time\":\"2026-12-02T19:00:00.123Z\",\"client\":\"127.0.0.1\","
	    "\"method\":\"GET\",\"path\":\"/a?b=c\",\"status\":200,\"bytes\":1234,"
	    "\"service\":\"shop\",\"pool\":\"green\",\"server\":\"127.0.0.1:9002\",\"term\":\"server_reset\","
	    "\"duration_ms\":1.500,\"request_id\":\"abc\",\"proto\":\"http/1.1\",\"tls\":false}\n");
	/* no term: left out */
	a.term = NULL;
	n = access_log_format(&a, out);
	out[n] = '\0';
	CHECK(strstr(out, "term") == NULL);
	/* what the server spoke, after term, when a server was reached */
	a = plain();
	a.upstream_proto = "http/1.1";
	n = access_log_format(&a, out);
	out[n] = '\0';
	CHECK(strstr(out, "\"term\":\"server_reset\",\"upstream_proto\":\"http/1.1\","
	    "\"duration_ms\"") != NULL);
}

TEST(no_server_is_null_and_tls_fields_follow_tls)
{
	char out[ACCESS_LINE_MAX];
	struct access_line a = plain();
	json_t *j;
	size_t n;

	a.service = NULL;             /* no service matched: a 404 */
	a.pool = NULL;
	a.server = NULL;
	a.tls = 1;
	a.tls_version = "TLSv1.3";
	n = access_log_format(&a, out);
	j = parse(out, n);
	CHECK(j != NULL);
	if (j == NULL)
		return;
	CHECK(json_is_null(json_object_get(j, "service")));
	CHECK(json_is_null(json_object_get(j, "pool")));
	CHECK(json_is_null(json_object_get(j, "server")));
	CHECK(json_is_true(json_object_get(j, "tls")));
	CHECK_STR(json_string_value(json_object_get(j, "tls_version")), "TLSv1.3");
	CHECK(json_is_null(json_object_get(j, "sni")));
	json_decref(j);

	a.sni = "shop.example";
	n = access_log_format(&a, out);
	j = parse(out, n);
	CHECK(j != NULL);
	CHECK_STR(json_string_value(json_object_get(j, "sni")), "shop.example");
	json_decref(j);

	/* TLS without a version known: no TLS fields */
	a.tls_version = NULL;
	n = access_log_format(&a, out);
	j = parse(out, n);
	CHECK(j != NULL && json_object_get(j, "sni") == NULL);
	json_decref(j);
}

/* Quotes, backslashes, control and non-ASCII bytes in what the client
 * chose (path, method, request id, SNI) stay inside their strings. */
TEST(client_bytes_are_escaped)
{
	char out[ACCESS_LINE_MAX];
	struct access_line a = plain();
	json_t *j;
	size_t n;

	a.path = "/\"x\\y\x01\x7f\xff";
	a.request_id = "a\"},\"status\":999,\"x\":\"";
	a.method = "G\nET";
	n = access_log_format(&a, out);
	j = parse(out, n);
	CHECK(j != NULL);
	if (j == NULL)
		return;
	CHECK_EQ_INT(json_integer_value(json_object_get(j, "status")), 200);
	CHECK_STR(json_string_value(json_object_get(j, "request_id")), "a\"},\"status\":999,\"x\":\"");
	CHECK_STR(json_string_value(json_object_get(j, "method")), "G\nET");
	json_decref(j);
}

/* The longest fields there are (a 255-byte path of bytes escaped six-fold,
 * a 128-byte id of quotes, a long SNI) still make one whole JSON line. */
TEST(longest_fields_stay_whole_json)
{
	char out[ACCESS_LINE_MAX], path[256], id[129], sni[256], srv[128];
	struct access_line a = plain();
	json_t *j;
	size_t n;

	memset(path, 0x01, sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	memset(id, '"', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	memset(sni, '\\', sizeof(sni) - 1);
	sni[sizeof(sni) - 1] = '\0';
	memset(srv, 'x', sizeof(srv) - 1);
	srv[sizeof(srv) - 1] = '\0';
	a.path = path;
	a.request_id = id;
	a.server = srv;
	a.tls = 1;
	a.tls_version = "TLSv1.2";
	a.sni = sni;
	a.bytes = (uint64_t)1 << 62;  /* jansson reads signed 64-bit integers */
	a.status = 599;
	a.upstream_proto = "http/1.1";
	n = access_log_format(&a, out);
	CHECK(n <= ACCESS_LINE_MAX);
	j = parse(out, n);
	CHECK(j != NULL);
	if (j == NULL)
		return;
	CHECK_EQ_INT(strlen(json_string_value(json_object_get(j, "request_id"))), 128);
	json_decref(j);
}

int
main(void)
{
	RUN(every_field_in_order);
	RUN(no_server_is_null_and_tls_fields_follow_tls);
	RUN(client_bytes_are_escaped);
	RUN(longest_fields_stay_whole_json);
	return test_summary();
}
