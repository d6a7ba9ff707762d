/*
 * libFuzzer harness for the events file parser of events_file.c.
 *
 * Whatever parses must format back and parse again to the same events
 * (the kinds mapped to the static strings, every field within its size).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "events_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct state_ev a[8], b[8];
	char err[256], *text;
	unsigned long long v1, v2;
	int n, m, i;

	n = events_parse((const char *)data, size, a, 8, &v1, err, sizeof(err));
	if (n < 0)
		return 0;
	if (n > 8)
		abort();
	text = events_format(a, (size_t)n, v1);
	if (text == NULL)
		return 0;
	m = events_parse(text, strlen(text), b, 8, &v2, err, sizeof(err));
	if (m != n || v1 != v2)
		abort();
	for (i = 0; i < n; i++)
		if (strcmp(a[i].text, b[i].text) != 0 || strcmp(a[i].evidence, b[i].evidence) != 0 ||
		    a[i].kind != b[i].kind)
			abort();
	free(text);
	return 0;
}
