/* libFuzzer harness for the cookie parser, the key checks, the scan of a
 * request head and the route decision of route.c. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "http_parse.h"
#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *h = (const char *)data;
	const char *v;
	size_t n;

	if (route_cookie_find(h, size, "bgp", 3, &v, &n)) {
		if (v < h || v + n > h + size)
			__builtin_trap();
		(void)route_key_valid(v, n);
	}
	(void)route_bucket(h, size);
	(void)route_parse_pool(h, size);

	/* the decision over inputs taken from the bytes: a pool, always */
	if (size >= 4) {
		struct route_rng rng;
		struct route_out out;
		struct route_in in = {
			.stable = data[0] & 1,
			.candidate_bp = (int)(((unsigned)data[1] << 8 | data[2]) % 10001),
			.override = (data[3] & 3) == 3 ? -1 : (data[3] & 1),
			.override_trusted = (data[3] >> 2) & 1,
			.cookie_key = (data[3] & 8) ? h + 4 : NULL,
			.cookie_len = size - 4,
			.header_key = (data[3] & 16) ? h + 4 : NULL,
			.header_len = size - 4,
			.cookies = (data[3] >> 5) & 1,
		};

		route_rng_seed(&rng, size);
		route_decide(&in, &rng, &out);
		if (out.pool != 0 && out.pool != 1)
			__builtin_trap();
		if (in.candidate_bp == 0 && out.why != ROUTE_WHY_OVERRIDE && out.pool != in.stable)
			__builtin_trap();
		if (in.candidate_bp == 10000 && out.why != ROUTE_WHY_OVERRIDE &&
		    out.pool == in.stable)
			__builtin_trap();
	}
	/* the bytes as a request head: what the scan takes points into it */
	{
		static struct http_msg m;
		struct http_limits lim = { 65536, 100 };
		struct route_names nm = { "bgp", "X-Key", "X-Bgproxy-Pool", 3, 5, 14 };
		struct route_in in = { 0 };

		if (http_parse_request(h, size, &lim, &m) > 0) {
			route_scan(&m, &nm, &in);
			if (in.override < -1 || in.override > 1)
				__builtin_trap();
			if (in.cookie_key != NULL && (in.cookie_key < h ||
			    in.cookie_key + in.cookie_len > h + size || !route_key_valid(in.cookie_key,
			    in.cookie_len)))
				__builtin_trap();
			if (in.header_key != NULL && (in.header_key < h ||
			    in.header_key + in.header_len > h + size || in.header_len == 0))
				__builtin_trap();
		}
	}
	return 0;
}
