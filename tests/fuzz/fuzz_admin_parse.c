/* libFuzzer harness for the admin command parser (admin_parse.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[4097], err[256];
	struct admin_parsed ap;
	int bp, i;

	if (size > 4096)
		size = 4096;
	memcpy(line, data, size);
	line[size] = '\0';
	if (admin_parse_line(line, &ap, err, sizeof(err)) == 0) {
		if (ap.cmd == NULL || ap.argc < ap.cmd->min_args || ap.argc > ap.cmd->max_args)
			abort();
		for (i = 0; i < ap.argc; i++)
			if (ap.argv[i] < line || ap.argv[i] >= line + size || ap.argv[i][0] == '\0')
				abort();
	} else if (err[0] == '\0') {
		abort();
	}
	memcpy(line, data, size);
	line[size] = '\0';
	if (admin_parse_percent(line, &bp) == 0 && (bp < 0 || bp > 10000))
		abort();
	return 0;
}
