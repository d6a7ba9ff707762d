/* libFuzzer harness for the cookie parser and key checks of route.c. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
	return 0;
}
