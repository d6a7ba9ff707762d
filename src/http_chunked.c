/*
 * http_chunked.c - the chunked transfer-coding scanner (RFC 9112 7.1): a
 * byte-at-a-time state machine over chunk sizes, extensions, data and
 * trailers, strict in the same way as the head parser (http_parse.c).
 */
#include <limits.h>
#include <string.h>

#include "http_chars.h"
#include "http_parse.h"

#define HTTP_CHUNK_LINE_MAX    4096
#define HTTP_CHUNK_TRAILER_MAX 16384

/* chunked scanner states; the size-line states come first and the
 * trailer states last so a range check says which byte budget applies */
enum {
	CK_SIZE = 0,       /* hex digits */
	CK_EXT_START,      /* after ';': extension name */
	CK_EXT_NAME,
	CK_EXT_VAL_START,  /* after '=' */
	CK_EXT_TOKEN,
	CK_EXT_QS,         /* inside a quoted-string */
	CK_EXT_QS_ESC,     /* after a backslash */
	CK_EXT_QS_END,     /* after the closing quote */
	CK_SIZE_LF,        /* size line CR seen */
	CK_DATA,
	CK_DATA_CR,
	CK_DATA_LF,
	CK_TR_START,       /* start of a trailer line (or the final CRLF) */
	CK_TR_NAME,
	CK_TR_VALUE,
	CK_TR_LF,
	CK_FINAL_LF,
	CK_DONE,
	CK_ERROR,
};

void http_chunked_init(struct http_chunked *c)
{
	c->state = CK_SIZE;
	c->remaining = 0;
	c->line_bytes = 0;
	c->trailer_bytes = 0;
	c->ndigits = 0;
	c->done = 0;
	c->data = 0;
	c->error = NULL;
}

static long http_ck_fail(struct http_chunked *c, const char *why)
{
	c->state = CK_ERROR;
	c->error = why;
	return -1;
}

static inline unsigned http_hexval(unsigned char ch)
{
	return ch <= '9' ? (unsigned)(ch - '0') : (unsigned)((ch | 0x20) - 'a' + 10);
}

/* after a complete size line (or its extension): end it or go on */
static inline int http_ck_ext_next(unsigned char ch)
{
	if (ch == ';')
		return CK_EXT_START;
	if (ch == '\r')
		return CK_SIZE_LF;
	return CK_ERROR;
}

/* one byte of a chunk-size line; returns the next state or CK_ERROR */
static inline int http_ck_size_byte(struct http_chunked *c, unsigned char ch)
{
	switch (c->state) {
	case CK_SIZE:
		if (IS(ch, C_HEX)) {
			/* at most 15 digits (< 2^60): a server that reads sizes as
			 * signed 64-bit never sees a negative one (as HAProxy, nginx) */
			if (c->ndigits == HTTP_CHUNK_MAX_DIGITS)
				return CK_ERROR;
			c->remaining = (c->remaining << 4) | http_hexval(ch);
			c->ndigits++;
			return CK_SIZE;
		}
		return c->ndigits == 0 ? CK_ERROR : http_ck_ext_next(ch);
	case CK_EXT_START:
		return IS(ch, C_TCHAR) ? CK_EXT_NAME : CK_ERROR;
	case CK_EXT_NAME:
		if (IS(ch, C_TCHAR))
			return CK_EXT_NAME;
		return ch == '=' ? CK_EXT_VAL_START : http_ck_ext_next(ch);
	case CK_EXT_VAL_START:
		if (ch == '"')
			return CK_EXT_QS;
		return IS(ch, C_TCHAR) ? CK_EXT_TOKEN : CK_ERROR;
	case CK_EXT_TOKEN:
		return IS(ch, C_TCHAR) ? CK_EXT_TOKEN : http_ck_ext_next(ch);
	case CK_EXT_QS:
		if (ch == '"')
			return CK_EXT_QS_END;
		if (ch == '\\')
			return CK_EXT_QS_ESC;
		return IS(ch, C_QDTEXT) ? CK_EXT_QS : CK_ERROR;
	case CK_EXT_QS_ESC:
		return IS(ch, C_VALUE) ? CK_EXT_QS : CK_ERROR;
	case CK_EXT_QS_END:
		return http_ck_ext_next(ch);
	case CK_SIZE_LF:
		if (ch != '\n')
			return CK_ERROR;
		c->line_bytes = 0;
		c->ndigits = 0;
		return c->remaining == 0 ? CK_TR_START : CK_DATA;
	}
	return CK_ERROR;
}

static int http_ck_trailer_forbidden(const struct http_chunked *c)
{
	static const char *const names[] = { "content-length", "transfer-encoding", "host" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (c->tname_len == strlen(names[i]) && memcmp(c->tname, names[i], c->tname_len) == 0)
			return 1;
	return 0;
}

/* one byte of the trailer section; returns the next state or CK_ERROR */
static inline int http_ck_trailer_byte(struct http_chunked *c, unsigned char ch)
{
	switch (c->state) {
	case CK_TR_START:
		if (ch == '\r')
			return CK_FINAL_LF;
		c->tname_len = 0;
		/* FALLTHROUGH: the first byte of a name */
		__attribute__((fallthrough));
	case CK_TR_NAME:
		if (IS(ch, C_TCHAR)) {
			if (c->tname_len < sizeof(c->tname))
				c->tname[c->tname_len] = (char)(ch | 0x20);
			c->tname_len++;
			return CK_TR_NAME;
		}
		if (ch != ':')
			return CK_ERROR;
		/* a framing field in the trailers could be merged into the head by
		 * a later hop: refused like the head would refuse it */
		if (http_ck_trailer_forbidden(c))
			return CK_ERROR;
		return CK_TR_VALUE;
	case CK_TR_VALUE:
		if (IS(ch, C_VALUE))
			return CK_TR_VALUE;
		return ch == '\r' ? CK_TR_LF : CK_ERROR;
	case CK_TR_LF:
		return ch == '\n' ? CK_TR_START : CK_ERROR;
	case CK_FINAL_LF:
		if (ch != '\n')
			return CK_ERROR;
		c->done = 1;
		return CK_DONE;
	}
	return CK_ERROR;
}

/* a short reason for the byte that moved state s to CK_ERROR */
static const char *http_ck_why(int s, unsigned char ch)
{
	if (ch == '\n' && s != CK_SIZE_LF && s != CK_DATA_LF && s != CK_TR_LF && s != CK_FINAL_LF)
		return "bare LF";
	switch (s) {
	case CK_SIZE:
		return IS(ch, C_HEX) ? "chunk size too large" : "invalid chunk size";
	case CK_SIZE_LF:
	case CK_TR_LF:
	case CK_FINAL_LF:
		return "bare CR";
	case CK_DATA_CR:
	case CK_DATA_LF:
		return "missing CRLF after chunk data";
	case CK_TR_START:
	case CK_TR_NAME:
		if (ch == ':')
			return "framing field in trailer";
		return IS_OWS(ch) ? "whitespace in trailer name" : "invalid trailer field";
	case CK_TR_VALUE:
		return "invalid character in trailer value";
	}
	return "invalid chunk extension";
}

long http_chunked_scan(struct http_chunked *c, const char *buf, size_t len)
{
	return http_chunked_decode(c, buf, len, NULL, NULL, NULL);
}

long http_chunked_decode(struct http_chunked *c, const char *buf, size_t len,
    void (*data)(void *arg, const char *p, size_t n),
    void (*trailer)(void *arg, const char *p, size_t n), void *arg)
{
	const unsigned char *b = (const unsigned char *)buf;
	size_t i = 0;
	int next;

	if (c->state == CK_ERROR)
		return -1;
	while (i < len && c->state != CK_DONE) {
		int s = c->state;
		if (s == CK_DATA) {
			/* the data itself is opaque: skip it in one step */
			size_t n = len - i;
			if (n > c->remaining)
				n = (size_t)c->remaining;
			if (data != NULL && n > 0)
				data(arg, buf + i, n);
			i += n;
			c->remaining -= n;
			c->data += n;
			if (c->remaining == 0)
				c->state = CK_DATA_CR;
			continue;
		}
		if (s < CK_DATA) {
			if (++c->line_bytes > HTTP_CHUNK_LINE_MAX)
				return http_ck_fail(c, "chunk size line too long");
			next = http_ck_size_byte(c, b[i]);
		} else if (s >= CK_TR_START) {
			if (++c->trailer_bytes > HTTP_CHUNK_TRAILER_MAX)
				return http_ck_fail(c, "trailer section too large");
			next = http_ck_trailer_byte(c, b[i]);
			if (trailer != NULL && next != CK_ERROR)
				trailer(arg, buf + i, 1);
		} else if (s == CK_DATA_CR) {
			next = b[i] == '\r' ? CK_DATA_LF : CK_ERROR;
		} else {
			next = b[i] == '\n' ? CK_SIZE : CK_ERROR;
		}
		if (next == CK_ERROR)
			return http_ck_fail(c, http_ck_why(s, b[i]));
		c->state = next;
		i++;
	}
	return (long)i;
}
