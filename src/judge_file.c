/*
 * judge_file.c - the sequential guard's evidence across a restart
 * (judge_file.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "errf.h"
#include "judge_file.h"
#include "persist.h"

#define JUDGE_FILE_MAX (4 * sizeof(struct judge) + 4096)

int
judge_file_save(const char *path, const struct judge *j, int cand, long long step_key,
    char *err, size_t errlen)
{
	static const char hexd[] = "0123456789abcdef";
	const unsigned char *b = (const unsigned char *)j;
	char *hex = malloc(2 * sizeof(*j) + 1), *text;
	json_t *o;
	size_t i;
	int r;

	if (hex == NULL)
		return errf(err, errlen, "out of memory");
	for (i = 0; i < sizeof(*j); i++) {
		hex[2 * i] = hexd[b[i] >> 4];
		hex[2 * i + 1] = hexd[b[i] & 15];
	}
	hex[2 * sizeof(*j)] = '\0';
	o = json_pack("{s:i,s:I,s:s,s:I,s:s}", "layout", JUDGE_FILE_LAYOUT, "size",
	    (json_int_t)sizeof(*j), "cand", cand ? "green" : "blue", "step_key",
	    (json_int_t)step_key, "judge", hex);
	free(hex);
	text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text == NULL)
		return errf(err, errlen, "out of memory");
	r = persist_save_text(path, text, strlen(text), err, errlen);
	free(text);
	return r;
}

static int
judge_file_unhex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
judge_file_parse(const char *text, size_t len, struct judge *j, int *cand,
    long long *step_key, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o = json_loadb(text, len, 0, &je);
	json_int_t layout = 0, size = 0, key = 0;
	const char *c = NULL, *hex = NULL;
	struct judge tmp;
	unsigned char *b = (unsigned char *)&tmp;
	size_t i;
	int r = -1;

	if (o == NULL)
		return errf(err, errlen, "not JSON: %s", je.text);
	if (json_unpack(o, "{s:I,s:I,s:s,s:I,s:s}", "layout", &layout, "size", &size, "cand", &c,
	    "step_key", &key, "judge", &hex) != 0) {
		errf(err, errlen, "not a judge's record");
		goto out;
	}
	if (layout != JUDGE_FILE_LAYOUT || size != (json_int_t)sizeof(tmp)) {
		errf(err, errlen, "written by another build (layout %lld, size %lld)",
		    (long long)layout, (long long)size);
		goto out;
	}
	if (strcmp(c, "blue") != 0 && strcmp(c, "green") != 0) {
		errf(err, errlen, "no pool \"%s\"", c);
		goto out;
	}
	if (strlen(hex) != 2 * sizeof(tmp)) {
		errf(err, errlen, "the judge is %zu characters, not %zu", strlen(hex), 2 * sizeof(tmp));
		goto out;
	}
	for (i = 0; i < sizeof(tmp); i++) {
		int hi = judge_file_unhex(hex[2 * i]), lo = judge_file_unhex(hex[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			errf(err, errlen, "the judge is not hex");
			goto out;
		}
		b[i] = (unsigned char)(hi << 4 | lo);
	}
	if (!judge_valid(&tmp)) {
		errf(err, errlen, "the numbers are not a judge's");
		goto out;
	}
	*j = tmp;
	*cand = strcmp(c, "green") == 0;
	*step_key = (long long)key;
	r = 0;
out:
	json_decref(o);
	return r;
}

int
judge_file_load(const char *path, struct judge *j, int *cand, long long *step_key,
    char *err, size_t errlen)
{
	char *buf;
	ssize_t n;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd == -1)
		return errno == ENOENT ? 1 : errf(err, errlen, "cannot open %s: %s", path,
		    strerror(errno));
	buf = malloc(JUDGE_FILE_MAX);
	if (buf == NULL) {
		close(fd);
		return errf(err, errlen, "out of memory");
	}
	while (len < JUDGE_FILE_MAX && (n = read(fd, buf + len, JUDGE_FILE_MAX - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (len == JUDGE_FILE_MAX) {
		free(buf);
		return errf(err, errlen, "%s is too large", path);
	}
	r = judge_file_parse(buf, len, j, cand, step_key, err, errlen);
	free(buf);
	return r;
}
