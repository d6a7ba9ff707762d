/*
 * fuzz_config.c - libFuzzer harness for config_load.
 *
 * config_load reads a path, so each input is written to one temporary file
 * made once per process and rewritten in place.  @include lines are fed
 * too: config_load checks every included name (with libconfig's escapes)
 * before libconfig opens it, and that check is what is fuzzed here.  The
 * harness makes a small tree to include (a file, a directory, a nested
 * include) under FUZZ_INC_DIR; the seeds in tests/fuzz/corpus/config name
 * it.  Only names under /proc, /sys and /dev are skipped: there a regular
 * file can fail to read, and libconfig's scanner then exit()s - contained
 * for -t, start and reload by config_load_checked's child process (an
 * integration test includes /proc/self/mem).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_path[] = "/tmp/bgproxy-fuzz-config-XXXXXX";
static int fuzz_fd = -1;

#define FUZZ_INC_DIR "/tmp/bgproxy-fuzz-inc"

static void fuzz_put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return;
	fputs(text, f);
	fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	mkdir(FUZZ_INC_DIR, 0755);
	mkdir(FUZZ_INC_DIR "/dir", 0755);
	mkdir(FUZZ_INC_DIR "/a\"b", 0755);
	fuzz_put(FUZZ_INC_DIR "/a\\", "workers = 2;\n");
	fuzz_put(FUZZ_INC_DIR "/pools.conf",
	    "pools = { blue = { servers = ( { address = \"127.0.0.1:1\"; } ); };\n"
	    "          green = { servers = ( { address = \"127.0.0.1:2\"; } ); }; };\n");
	fuzz_put(FUZZ_INC_DIR "/nested.conf", "@include \"" FUZZ_INC_DIR "/pools.conf\"\n");
	fuzz_put(FUZZ_INC_DIR "/self.conf", "@include \"" FUZZ_INC_DIR "/self.conf\"\n");
	return 0;
}

static int fuzz_reaches_special(const uint8_t *data, size_t size)
{
	static const char *const dirs[] = { "/proc", "/sys", "/dev" };
	size_t i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (memmem(data, size, dirs[i], strlen(dirs[i])) != NULL)
			return 1;
	return 0;
}

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

	if (fuzz_reaches_special(data, size) || fuzz_write(data, size) == -1)
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
