/*
 * jsonx.c - JSON strings from bytes that may not be UTF-8.
 */
#include <stdlib.h>
#include <string.h>

#include "jsonx.h"

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid. */
static size_t
jsonx_utf8_len(const unsigned char *p, size_t n)
{
	size_t len, i;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

json_t *
jsonx_str(const char *s)
{
	const unsigned char *p;
	size_t n, i, o = 0, k;
	char *buf;
	json_t *j;

	if (s == NULL)
		return json_null();
	j = json_string(s);
	if (j != NULL)
		return j;
	/* invalid UTF-8: each bad byte becomes U+FFFD (3 bytes) */
	p = (const unsigned char *)s;
	n = strlen(s);
	buf = malloc(n * 3 + 1);
	if (buf == NULL)
		return json_null();
	for (i = 0; i < n; i += k) {
		k = jsonx_utf8_len(p + i, n - i);
		if (k == 0) {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			k = 1;
		} else {
			memcpy(buf + o, p + i, k);
			o += k;
		}
	}
	buf[o] = '\0';
	j = json_string(buf);
	free(buf);
	return j != NULL ? j : json_null();
}

json_t *
jsonx_str_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? jsonx_str(s) : json_null();
}
