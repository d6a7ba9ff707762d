/*
 * libFuzzer harness for the state file parser of persist.c.
 *
 * Each input is parsed twice: as is, and with its last line rewritten to the
 * correct checksum (a fuzzer cannot guess a CRC, and without the fix-up it
 * would never get past persist_verify).  Whenever a parse succeeds, the
 * state must format back within PERSIST_MAX_FILE, parse again to the same
 * state, and format to the same bytes (the format is a fixed point).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "persist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Bitwise CRC-32 (IEEE), independent of the table in persist.c. */
static uint32_t
fuzz_crc32(const char *s, size_t n)
{
	uint32_t c = 0xffffffffU;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		c ^= (unsigned char)s[i];
		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0xedb88320U : c >> 1;
	}
	return ~c;
}

static int
fuzz_state_eq(const struct split_state *a, const struct split_state *b)
{
	return a->stable == b->stable && a->candidate_bp == b->candidate_bp &&
	    a->mode == b->mode && strcmp(a->last_revert, b->last_revert) == 0 &&
	    a->has_rollout == b->has_rollout && a->rollout_pool == b->rollout_pool &&
	    a->nsteps == b->nsteps && a->nsteps <= SPLIT_MAX_STEPS &&
	    memcmp(a->steps_bp, b->steps_bp, a->nsteps * sizeof a->steps_bp[0]) == 0 &&
	    a->step == b->step && a->hold_s == b->hold_s;
}

static void
fuzz_one(const char *buf, size_t len)
{
	static char out1[PERSIST_MAX_FILE + 1], out2[PERSIST_MAX_FILE + 1];
	struct split_state a, b;
	char err[512];
	int n1, n2;

	err[0] = '\0';
	if (persist_parse(buf, len, &a, err, sizeof err) != 0) {
		if (err[0] == '\0' || memchr(err, '\0', sizeof err) == NULL)
			__builtin_trap();       /* a failure must say why */
		return;
	}
	n1 = persist_format(&a, out1, sizeof out1);
	if (n1 <= 0 || n1 > PERSIST_MAX_FILE)
		__builtin_trap();
	if (persist_parse(out1, (size_t)n1, &b, err, sizeof err) != 0 || !fuzz_state_eq(&a, &b))
		__builtin_trap();
	n2 = persist_format(&b, out2, sizeof out2);
	if (n2 != n1 || memcmp(out1, out2, (size_t)n1) != 0)
		__builtin_trap();
}

/* The same input as a state file of many services: every block read back
 * as written, the file written again the same. */
static void
fuzz_svcs(const char *buf, size_t len)
{
	struct persist_svc *a = NULL, *b = NULL;
	size_t na, nb, l1, l2;
	char err[512], *out1 = NULL, *out2 = NULL;

	err[0] = '\0';
	if (persist_svcs_parse(buf, len, &a, &na, err, sizeof err) != 0) {
		if (err[0] == '\0' || a != NULL)
			__builtin_trap();
		return;
	}
	if (persist_svcs_format(a, na, &out1, &l1, err, sizeof err) != 0 ||
	    persist_svcs_parse(out1, l1, &b, &nb, err, sizeof err) != 0 || nb != na)
		__builtin_trap();
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i].name, b[i].name) != 0 || !fuzz_state_eq(&a[i].st, &b[i].st))
			__builtin_trap();
	if (persist_svcs_format(b, nb, &out2, &l2, err, sizeof err) != 0 || l2 != l1 ||
	    memcmp(out1, out2, l1) != 0)
		__builtin_trap();
	free(a);
	free(b);
	free(out1);
	free(out2);
}

/* A copy of the input whose last line is "checksum <crc of what precedes>". */
static void
fuzz_fixed(const uint8_t *data, size_t size)
{
	size_t ls = size;
	char *buf;

	while (ls > 0 && data[ls - 1] != '\n')
		ls--;
	buf = malloc(ls + 19);
	if (buf == NULL)
		return;
	memcpy(buf, data, ls);
	snprintf(buf + ls, 19, "checksum %08x\n", (unsigned)fuzz_crc32(buf, ls));
	fuzz_one(buf, ls + 18);
	fuzz_svcs(buf, ls + 18);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_one((const char *)data, size);
	fuzz_svcs((const char *)data, size);
	fuzz_fixed(data, size);
	return 0;
}
