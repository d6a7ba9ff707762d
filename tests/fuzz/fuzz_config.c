/*
 * fuzz_config.c - libFuzzer harness for config_load.
 *
 * config_load reads a path, so each input is written to one temporary file
 * made once per process and rewritten in place.  Inputs with '@' are
 * skipped: libconfig 1.5 follows @include (a directory or a missing file
 * can make it exit() or misbehave), which is libconfig's problem and is
 * contained at reload by validating in a child process.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_path[] = "/tmp/bgproxy-fuzz-config-XXXXXX";
static int fuzz_fd = -1;

static void fuzz_cleanup(void)
{
	if (fuzz_fd != -1)
		unlink(fuzz_path);
}

static int fuzz_write(const uint8_t *data, size_t size)
{
	if (fuzz_fd == -1) {
		fuzz_fd = mkstemp(fuzz_path);
		if (fuzz_fd == -1)
			abort();
		atexit(fuzz_cleanup);
	}
	if (ftruncate(fuzz_fd, 0) == -1 || pwrite(fuzz_fd, data, size, 0) != (ssize_t)size)
		return -1;
	return 0;
}

/*
 * libconfig 1.5 leaks its string buffer on some syntax errors (an
 * unterminated string); that is not ours to fix, so LeakSanitizer ignores
 * allocations made inside libconfig.  Leaks in bgproxy code still fail.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *errs = NULL;
	struct config *c;

	if (memchr(data, '@', size) != NULL || fuzz_write(data, size) == -1)
		return 0;
	c = config_load(fuzz_path, &errs);
	if ((c == NULL) == (errs == NULL))
		abort();        /* exactly one of a config and errors */
	if (errs != NULL && (errs[0] == '\0' || errs[strlen(errs) - 1] != '\n'))
		abort();        /* errors are whole lines */
	config_free(c);
	free(errs);
	return 0;
}
