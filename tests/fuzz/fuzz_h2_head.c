/*
 * fuzz_h2_head.c - libFuzzer harness for h2_request_head.
 *
 * The input is a header list as HTTP/2 hands it over (already decoded, so
 * any byte may be in a name or value): fields separated by '\n', a name
 * and its value by the first NUL; the first byte's low bit is END_STREAM.
 * Whatever h2_request_head accepts must be an HTTP/1.1 head that the
 * strict parser reads whole, with the framing h2_request_head said (a
 * length, chunked, a WebSocket upgrade or none) - so no stream reaches a
 * server as something other than what bgproxy routed and counted.
 */
#include "h2_head.h"
#include "http_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(x) do { if (!(x)) __builtin_trap(); } while (0)
#define MAX_FIELDS 64

static char out[1 << 16];
static struct http_msg m;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";
	struct h2_field f[MAX_FIELDS];
	struct http_limits lim = { sizeof(out), HTTP_MAX_HEADERS_HARD };
	struct h2_req r;
	const char *p, *end, *nl, *nul;
	size_t n = 0;
	int end_stream;
	long len;

	if (size < 1)
		return 0;
	end_stream = data[0] & 1;
	p = (const char *)data + 1;
	end = (const char *)data + size;
	while (p < end && n < MAX_FIELDS) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		nul = memchr(p, '\0', (size_t)(nl - p));
		if (nul == NULL)
			nul = nl;
		f[n].name = p;
		f[n].name_len = (size_t)(nul - p);
		f[n].value = nul < nl ? nul + 1 : nl;
		f[n].value_len = (size_t)(nl - f[n].value);
		n++;
		p = nl + 1;
	}
	len = h2_request_head(f, n, end_stream, key, &r, out, sizeof(out));
	if (len < 0) {
		REQUIRE(r.error != NULL);
		return 0;
	}
	REQUIRE((size_t)len <= H2_HEAD_MAX(size, n));
	REQUIRE(http_parse_request(out, (size_t)len, &lim, &m) == len);
	if (r.websocket) {
		REQUIRE(m.flags & HTTP_F_UPGRADE_WS);
	} else if (r.chunked) {
		REQUIRE(m.flags & HTTP_F_CHUNKED);
		REQUIRE(!(m.flags & HTTP_F_CONTENT_LENGTH));
	} else if (r.has_length) {
		REQUIRE((m.flags & HTTP_F_CONTENT_LENGTH) && m.content_length == r.length);
		REQUIRE(!(m.flags & HTTP_F_CHUNKED));
	} else {
		REQUIRE(!(m.flags & (HTTP_F_CHUNKED | HTTP_F_CONTENT_LENGTH)));
	}
	return 0;
}
