/*
 * libFuzzer harness for the judge file parser of judge_file.c.
 *
 * Whatever parses must be a judge judge_valid accepts, and must feed and
 * judge without trouble (no NaN from its numbers).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "judge_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct judge j;
	struct judge_policy p = { .alpha = 0.01, .max_error_rate = 0.05, .max_error_ratio = 1.5,
	    .max_error_delta = 0.02, .max_p99_ms = 100, .max_p99_ratio = 2 };
	struct judge_counts c = { 30, 3, 1, 1, 30 }, s = { 30, 1, 0, 0, 0 };
	char err[256];
	long long key;
	int cand, i;

	if (judge_file_parse((const char *)data, size, &j, &cand, &key, err, sizeof(err)) != 0)
		return 0;
	if (!judge_valid(&j) || (cand != 0 && cand != 1))
		abort();
	judge_feed(&j, &p, &c, &s);
	for (i = 0; i < JUDGE_NCHECKS; i++)
		if (isnan(judge_bet_log_e(&j.t[i].beyond)))
			abort();
	(void)judge_verdict(&j, &p, NULL);
	(void)judge_need(&j, &p);
	return 0;
}
