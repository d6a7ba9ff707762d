/*
 * fuzz_health_parse.c - libFuzzer harness for the health check's verdict.
 *
 * Beyond "no crash": the verdict agrees with the strict response parser
 * (a pass is a 2xx/3xx final head it accepts), and a verdict on any prefix
 * is "need more" or the same as on the whole answer.
 */
#include "health_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(x) do { if (!(x)) __builtin_trap(); } while (0)

static struct http_msg m, m2;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[128], why2[128];
	enum health_verdict v, vp;
	char *b = malloc(size ? size : 1);
	size_t cut;

	if (b == NULL)
		return 0;
	memcpy(b, data, size);
	v = health_judge(b, size, &m, why, sizeof(why));
	if (v == HEALTH_PASS)
		REQUIRE(m.status >= 200 && m.status < 400);
	if (v == HEALTH_FAIL)
		REQUIRE(why[0] != '\0');
	cut = size ? (size_t)data[0] % (size + 1) : 0;
	vp = health_judge(b, cut, &m2, why2, sizeof(why2));
	REQUIRE(vp == HEALTH_MORE || vp == v);
	free(b);
	return 0;
}
