/*
 * persist_svcs.c - the state file with a services list (CONTRACT 17): every
 * service's split in one file, written at once, so a restart finds them
 * all as they were together.
 *
 *   # bgproxy services state; written by bgproxy, do not edit while it runs
 *   service shop 312
 *   <312 bytes: the service's split as a state file of its own (persist.h)>
 *   service api 298
 *   <...>
 *   checksum 3a1f09c2
 *
 * Each block is checked as a state file on its own (its header and
 * checksum too); the last checksum covers every byte before it.  Without
 * a services list the file is persist.h's, as before.  Pure but for the
 * file functions at the end.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* strerror_r returning char * */
#endif

#include "errf.h"
#include "persist.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the largest block a split formats to, with room */
#define PERSIST_BLOCK_MAX 4096

static int
persist_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > PERSIST_SVC_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return 0;
	return 1;
}

int
persist_svcs_format(const struct persist_svc *v, size_t n, char **out, size_t *outlen,
    char *err, size_t errlen)
{
	size_t cap = sizeof(PERSIST_SVCS_HEADER) + 32 + n * (PERSIST_BLOCK_MAX + 96), len = 0;
	char *buf = malloc(cap), block[PERSIST_BLOCK_MAX];
	int k;

	if (buf == NULL)
		return errf(err, errlen, "out of memory");
	len = (size_t)snprintf(buf, cap, "%s\n", PERSIST_SVCS_HEADER);
	for (size_t i = 0; i < n; i++) {
		if (!persist_name_ok(v[i].name, strlen(v[i].name))) {
			free(buf);
			return errf(err, errlen, "service name \"%.80s\" cannot be written", v[i].name);
		}
		if ((k = persist_format(&v[i].st, block, sizeof block)) < 0) {
			free(buf);
			return errf(err, errlen, "service %s: its split breaks a rule of the file",
			    v[i].name);
		}
		len += (size_t)snprintf(buf + len, cap - len, "service %s %d\n", v[i].name, k);
		memcpy(buf + len, block, (size_t)k);
		len += (size_t)k;
	}
	len += (size_t)snprintf(buf + len, cap - len, "checksum %08x\n",
	    (unsigned)persist_crc32(buf, len));
	*out = buf;
	*outlen = len;
	return 0;
}

/* The line at p (up to its newline, which must be there): its length. */
static int
persist_line(const char *p, const char *end, size_t *n)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	if (nl == NULL)
		return -1;
	*n = (size_t)(nl - p);
	return 0;
}

int
persist_svcs_parse(const char *buf, size_t len, struct persist_svc **out, size_t *nout,
    char *err, size_t errlen)
{
	const char *p = buf, *end, *ck;
	struct persist_svc *v = NULL;
	size_t n = 0, hl = strlen(PERSIST_SVCS_HEADER), ln;
	char why[384];
	unsigned want;

	*out = NULL;
	*nout = 0;
	if (len > PERSIST_MAX_SVCS_FILE)
		return errf(err, errlen, "larger than %d bytes", PERSIST_MAX_SVCS_FILE);
	if (len < hl + 1 || memcmp(buf, PERSIST_SVCS_HEADER, hl) != 0 || buf[hl] != '\n')
		return errf(err, errlen, "line 1: not a services state file");
	/* the checksum: the last line, over everything before it */
	if (buf[len - 1] != '\n')
		return errf(err, errlen, "truncated: no checksum line");
	for (ck = buf + len - 1; ck > buf && ck[-1] != '\n'; ck--)
		;
	/* (buf is not NUL-terminated: read the 8 digits by hand) */
	if ((size_t)(buf + len - ck) != 18 || memcmp(ck, "checksum ", 9) != 0)
		return errf(err, errlen, "truncated: no checksum line");
	want = 0;
	for (int i = 9; i < 17; i++) {
		char c = ck[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return errf(err, errlen, "truncated: no checksum line");
		want = want << 4 | (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
	}
	if (persist_crc32(buf, (size_t)(ck - buf)) != want)
		return errf(err, errlen, "checksum mismatch");
	end = ck;
	p = buf + hl + 1;
	while (p < end) {
		const char *name, *sp;
		char *num_end;
		unsigned long k;
		struct persist_svc *nv;
		size_t nl;

		if (persist_line(p, end, &ln) == -1 || ln < 10 || memcmp(p, "service ", 8) != 0)
			goto bad;
		name = p + 8;
		sp = memchr(name, ' ', ln - 8);
		if (sp == NULL)
			goto bad;
		nl = (size_t)(sp - name);
		if (sp[1] < '0' || sp[1] > '9')
			goto bad;       /* digits alone: no sign, no second space */
		k = strtoul(sp + 1, &num_end, 10);
		if (!persist_name_ok(name, nl) || num_end != p + ln || k == 0 ||
		    k > PERSIST_BLOCK_MAX || (size_t)(end - (p + ln + 1)) < k)
			goto bad;
		for (size_t i = 0; i < n; i++)
			if (strlen(v[i].name) == nl && memcmp(v[i].name, name, nl) == 0) {
				free(v);
				return errf(err, errlen, "service %.*s is in the file twice", (int)nl,
				    name);
			}
		if ((nv = realloc(v, (n + 1) * sizeof(*v))) == NULL) {
			free(v);
			return errf(err, errlen, "out of memory");
		}
		v = nv;
		memcpy(v[n].name, name, nl);
		v[n].name[nl] = '\0';
		if (persist_parse(p + ln + 1, k, &v[n].st, why, sizeof why) == -1) {
			errf(err, errlen, "service %s: %s", v[n].name, why);
			free(v);
			return -1;
		}
		n++;
		p += ln + 1 + k;
	}
	*out = v;
	*nout = n;
	return 0;
bad:
	free(v);
	return errf(err, errlen, "a block does not begin with \"service NAME LENGTH\"");
}
