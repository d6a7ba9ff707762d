/*
 * http_parse.c - strict HTTP/1.x message-head parser and chunked scanner.
 *
 * Strict on purpose: every framing ambiguity that two HTTP implementations
 * could resolve differently (request smuggling) is refused instead of
 * being "repaired".  The head is parsed in a single pass with 256-entry
 * character-class tables; nothing is allocated and only the parts of
 * struct http_msg that are used get written.
 */
#include "http_chars.h"
#include "http_parse.h"

#include <limits.h>
#include <string.h>

/* generated once from the RFC 9110 / 3986 grammars; 0x7f and CTLs are 0 */
const uint8_t http_cclass[256] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  /* 0x00 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  /* 0x10 */
	0x22, 0x2f, 0x06, 0x27, 0x2f, 0x2f, 0x2f, 0x2f, 0x2e, 0x2e, 0x2f, 0x2f, 0x2e, 0x2f, 0x2f, 0x26,  /* 0x20 */
	0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x2e, 0x2e, 0x26, 0x2e, 0x26, 0x26,  /* 0x30 */
	0x26, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f,  /* 0x40 */
	0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2e, 0x06, 0x2e, 0x27, 0x2f,  /* 0x50 */
	0x27, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f,  /* 0x60 */
	0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x26, 0x27, 0x26, 0x2f, 0x00,  /* 0x70 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,  /* 0x80 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,  /* 0x90 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,  /* 0xa0 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,  /* 0xb0 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,  /* 0xc0 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,  /* 0xd0 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,  /* 0xe0 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,  /* 0xf0 */
};

/* absolute-form target with an empty path still needs a path to forward */
static const char http_slash[] = "/";

/* parser state for one call; internal helpers return 1 done, 0 need more
 * bytes, -1 error (m->error set) */
struct http_pstate {
	const unsigned char *b;
	size_t pos;
	size_t end;        /* min(len, limit): the head must end within it */
	size_t len;        /* bytes the caller has */
	size_t maxh;       /* header count limit */
	struct http_msg *m;
	int is_resp;
	int te_seen;       /* a Transfer-Encoding header was seen */
	int ws;            /* an "Upgrade: websocket" was seen */
	int conn_names;    /* Connection nominates names that need marking */
};

static inline unsigned char http_lc(unsigned char c)
{
	return (unsigned)(c - 'A') < 26u ? (unsigned char)(c | 0x20) : c;
}

/* n bytes of s equal lit, which is lower case */
static inline int http_ieq_lower(const unsigned char *s, const char *lit, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (http_lc(s[i]) != (unsigned char)lit[i])
			return 0;
	return 1;
}

int http_token_eq(const char *s, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (lit[i] == '\0')
			return 0;
		if (http_lc((unsigned char)s[i]) != http_lc((unsigned char)lit[i]))
			return 0;
	}
	return lit[i] == '\0';
}

static int http_fail(struct http_pstate *p, int status, const char *why)
{
	/* the proxy answers any unparsable response with 502 Bad Gateway */
	p->m->error_status = p->is_resp ? 502 : status;
	p->m->error = why;
	return HTTP_PARSE_ERROR;
}

/* b[i] is the end of a line; 1 if b[i..i+2) is CRLF */
static int http_eol(struct http_pstate *p, size_t i)
{
	if (p->b[i] == '\n')
		return http_fail(p, 400, "bare LF");
	if (i + 1 == p->end)
		return 0;
	if (p->b[i + 1] != '\n')
		return http_fail(p, 400, "bare CR");
	return 1;
}

/* SWAR: does w hold a byte below lo, 0x7f, or (high) one >= 0x80? */
#define HTTP_ONES  0x0101010101010101ULL
#define HTTP_HIGHS 0x8080808080808080ULL
static inline int http_word_special(uint64_t w, unsigned lo, int high)
{
	uint64_t del = w ^ (HTTP_ONES * 0x7f);
	uint64_t x = ((w - HTTP_ONES * lo) & ~w) | ((del - HTTP_ONES) & ~del);

	if (high)
		x |= w;
	return (x & HTTP_HIGHS) != 0;
}

/* end of the run of cls bytes from i.  Values and targets are most of a
 * head, so skip 8 plain bytes at a time and look closer only at a word
 * holding a control byte (for values HTAB is one, but rare).  target: cls
 * is C_TARGET (0x21-0x7e), else C_VALUE. */
static inline size_t http_scan(const unsigned char *b, size_t i, size_t end, int target)
{
	uint8_t cls = target ? C_TARGET : C_VALUE;

	for (;;) {
		size_t stop;
		while (end - i >= 8) {
			uint64_t w;
			memcpy(&w, b + i, 8);
			if (http_word_special(w, target ? 0x21 : 0x20, target))
				break;
			i += 8;
		}
		stop = end - i >= 8 ? i + 8 : end;
		for (; i < stop; i++)
			if (!IS(b[i], cls))
				return i;
		if (i == end)
			return i;
	}
}

static uint8_t http_method_id(const char *s, size_t n)
{
#define M(lit, id) if (memcmp(s, lit, n) == 0) return id
	switch (n) {
	case 3: M("GET", HTTP_M_GET); M("PUT", HTTP_M_PUT); break;
	case 4: M("HEAD", HTTP_M_HEAD); M("POST", HTTP_M_POST); break;
	case 5: M("PATCH", HTTP_M_PATCH); M("TRACE", HTTP_M_TRACE); break;
	case 6: M("DELETE", HTTP_M_DELETE); break;
	case 7: M("OPTIONS", HTTP_M_OPTIONS); M("CONNECT", HTTP_M_CONNECT); break;
	}
#undef M
	return HTTP_M_OTHER;
}

/* length first, then the first letter, then one case-insensitive compare */
static uint8_t http_hdr_id(const unsigned char *s, size_t n)
{
#define H(lit, id) return http_ieq_lower(s, lit, n) ? id : HDR_OTHER
	unsigned char c = http_lc(s[0]);

	switch (n) {
	case 2: H("te", HDR_TE);
	case 4: H("host", HDR_HOST);
	case 6:
		if (c == 'c')
			H("cookie", HDR_COOKIE);
		H("expect", HDR_EXPECT);
	case 7:
		if (c == 't')
			H("trailer", HDR_TRAILER);
		H("upgrade", HDR_UPGRADE);
	case 10:
		if (c == 'c')
			H("connection", HDR_CONNECTION);
		H("keep-alive", HDR_KEEP_ALIVE);
	case 12: H("x-request-id", HDR_X_REQUEST_ID);
	case 14:
		if (c == 'c')
			H("content-length", HDR_CONTENT_LENGTH);
		H("http2-settings", HDR_HTTP2_SETTINGS);
	case 15: H("x-forwarded-for", HDR_X_FORWARDED_FOR);
	case 16: H("proxy-connection", HDR_PROXY_CONNECTION);
	case 17:
		if (c == 't')
			H("transfer-encoding", HDR_TRANSFER_ENCODING);
		H("x-forwarded-proto", HDR_X_FORWARDED_PROTO);
	case 18: H("proxy-authenticate", HDR_PROXY_AUTHENTICATE);
	case 19: H("proxy-authorization", HDR_PROXY_AUTHORIZATION);
	}
#undef H
	return HDR_OTHER;
}

/* skip up to two empty lines before the request line (RFC 9112 2.2) */
static int http_skip_leading_crlf(struct http_pstate *p)
{
	int r;

	while (p->pos < p->end && (p->b[p->pos] == '\r' || p->b[p->pos] == '\n')) {
		if ((r = http_eol(p, p->pos)) <= 0)
			return r;
		if (p->m->leading_crlf == 2)
			return http_fail(p, 400, "too many empty lines before request line");
		p->m->leading_crlf++;
		p->pos += 2;
	}
	return p->pos < p->end;
}

static int http_hexval_ok(unsigned char c)
{
	return (unsigned)(c - '0') <= 9u || (unsigned)((c | 0x20) - 'a') <= 5u;
}

/*
 * authority = host [":" port] (RFC 3986 3.2.2), non-empty, bytes from the
 * C_HOST set: host is an IP literal "[...]" of hex digits, ":" and "."
 * or a name without ":", "[" or "]"; port is at most 5 digits, up to 65535.
 * need_port: authority-form, where the port is mandatory and non-empty.
 */
static int http_authority_ok(const unsigned char *s, size_t n, int need_port)
{
	size_t i, hend;
	unsigned port = 0;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!IS(s[i], C_HOST))
			return 0;
	if (s[0] == '[') {
		for (hend = 1; hend < n && s[hend] != ']'; hend++)
			if (!http_hexval_ok(s[hend]) && s[hend] != ':' && s[hend] != '.')
				return 0;
		if (hend == n || hend == 1)
			return 0;
		hend++;
	} else {
		for (hend = 0; hend < n && s[hend] != ':'; hend++)
			if (s[hend] == '[' || s[hend] == ']')
				return 0;
		if (hend == 0)
			return 0;
	}
	if (hend == n)
		return !need_port;
	if (s[hend] != ':')
		return 0;
	if (n - hend - 1 > 5 || (need_port && hend + 1 == n))
		return 0;
	for (i = hend + 1; i < n; i++) {
		if ((unsigned)(s[i] - '0') > 9u)
			return 0;
		port = port * 10 + (unsigned)(s[i] - '0');
	}
	return port <= 65535;
}

int http_authority_valid(const char *s, size_t n)
{
	return http_authority_ok((const unsigned char *)s, n, 0);
}

static int http_target_absolute(struct http_pstate *p, const unsigned char *t, size_t n)
{
	struct http_msg *m = p->m;
	size_t i, skip;

	if (n > 7 && http_ieq_lower(t, "http://", 7))
		skip = 7;
	else if (n > 8 && http_ieq_lower(t, "https://", 8))
		skip = 8;
	else
		return http_fail(p, 400, "invalid request target");
	for (i = skip; i < n && t[i] != '/' && t[i] != '?'; i++)
		;
	/* userinfo ("@") and odd bytes are refused by the C_HOST set */
	if (!http_authority_ok(t + skip, i - skip, 0))
		return http_fail(p, 400, "invalid authority in request target");
	m->target_form = HTTP_TARGET_ABSOLUTE;
	m->authority = (const char *)t + skip;
	m->authority_len = i - skip;
	if (i == n) {
		m->path = http_slash;
		m->path_len = 1;
	} else if (t[i] == '/') {
		m->path = (const char *)t + i;
		m->path_len = n - i;
	} else {
		/* "http://a?q": forwarding it needs a "/" inserted; refuse */
		return http_fail(p, 400, "absolute-form target without path");
	}
	return 1;
}

static int http_classify_target(struct http_pstate *p)
{
	struct http_msg *m = p->m;
	const unsigned char *t = (const unsigned char *)m->target;
	size_t n = m->target_len;

	m->path = NULL;
	m->path_len = 0;
	m->authority = NULL;
	m->authority_len = 0;
	if (m->method_id == HTTP_M_CONNECT) {
		if (!http_authority_ok(t, n, 1))
			return http_fail(p, 400, "CONNECT needs an authority-form target");
		m->target_form = HTTP_TARGET_AUTHORITY;
		m->authority = m->target;
		m->authority_len = n;
		return 1;
	}
	if (t[0] == '/') {
		m->target_form = HTTP_TARGET_ORIGIN;
		m->path = m->target;
		m->path_len = n;
		return 1;
	}
	if (n == 1 && t[0] == '*') {
		if (m->method_id != HTTP_M_OPTIONS)
			return http_fail(p, 400, "asterisk target outside OPTIONS");
		m->target_form = HTTP_TARGET_ASTERISK;
		m->path = m->target;
		m->path_len = 1;
		return 1;
	}
	return http_target_absolute(p, t, n);
}

/* b[s..e) is the version of a line that ended in CRLF */
static int http_version(struct http_pstate *p, size_t s, size_t e)
{
	const unsigned char *v = p->b + s;

	if (e - s != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.'
	    || (unsigned)(v[5] - '0') > 9u || (unsigned)(v[7] - '0') > 9u)
		return http_fail(p, 400, "invalid HTTP version");
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return http_fail(p, 505, "unsupported HTTP version");
	p->m->version_minor = v[7] - '0';
	return 1;
}

static int http_parse_request_line(struct http_pstate *p)
{
	struct http_msg *m = p->m;
	const unsigned char *b = p->b;
	size_t s = p->pos, i = s, end = p->end;
	int r;

	while (i < end && IS(b[i], C_TCHAR))
		i++;
	if (i == end)
		return 0;
	if (b[i] != ' ' || i == s)
		return http_fail(p, 400, "invalid method");
	m->method = (const char *)b + s;
	m->method_len = i - s;
	m->method_id = http_method_id(m->method, m->method_len);

	s = ++i;
	i = http_scan(b, i, end, 1);
	if (i == end)
		return 0;
	if (i == s)
		return http_fail(p, 400, "empty request target");
	if (b[i] == '\r' || b[i] == '\n')
		return http_fail(p, 400, "missing HTTP version");
	if (b[i] != ' ')
		return http_fail(p, 400, "invalid character in request target");
	m->target = (const char *)b + s;
	m->target_len = i - s;

	s = ++i;
	while (i < end && IS(b[i], C_TARGET))
		i++;
	if (i == end)
		return 0;
	if (b[i] != '\r' && b[i] != '\n')
		return http_fail(p, 400, "invalid HTTP version");
	if ((r = http_eol(p, i)) <= 0)
		return r;
	if ((r = http_version(p, s, i)) <= 0)
		return r;
	p->pos = i + 2;
	return http_classify_target(p);
}

/* "HTTP/1.x SP 3DIGIT [SP reason] CRLF" */
static int http_parse_status_line(struct http_pstate *p)
{
	static const char ver[] = "HTTP/1.";
	struct http_msg *m = p->m;
	const unsigned char *b = p->b;
	size_t i, end = p->end;
	int r, status = 0;

	for (i = 0; i < 7; i++) {
		if (i == end)
			return 0;
		if (b[i] != (unsigned char)ver[i])
			return http_fail(p, 502, "invalid HTTP version");
	}
	if (end < 9)
		return 0;
	if ((b[7] != '0' && b[7] != '1') || b[8] != ' ')
		return http_fail(p, 502, "invalid HTTP version");
	m->version_minor = b[7] - '0';
	for (i = 9; i < 12; i++) {
		if (i == end)
			return 0;
		if ((unsigned)(b[i] - '0') > 9u)
			return http_fail(p, 502, "invalid status code");
		status = status * 10 + (b[i] - '0');
	}
	if (status < 100 || status > 599)
		return http_fail(p, 502, "invalid status code");
	m->status = status;
	if (i < end && b[i] == ' ')
		while (++i < end && IS(b[i], C_VALUE))
			;
	if (i == end)
		return 0;
	if (b[i] != '\r' && b[i] != '\n')
		return http_fail(p, 502, "invalid character in status line");
	if ((r = http_eol(p, i)) <= 0)
		return r;
	p->pos = i + 2;
	return 1;
}

/* 1-19 DIGITs: 19 digits cannot overflow uint64, so no overflow check */
static int http_content_length(struct http_pstate *p, const struct http_header *h)
{
	struct http_msg *m = p->m;
	const unsigned char *v = (const unsigned char *)h->value;
	uint64_t n = 0;

	if (m->flags & HTTP_F_CONTENT_LENGTH)
		return http_fail(p, 400, "duplicate Content-Length");
	if (h->value_len == 0 || h->value_len > 19)
		return http_fail(p, 400, "invalid Content-Length");
	for (size_t i = 0; i < h->value_len; i++) {
		unsigned d = (unsigned)(v[i] - '0');
		if (d > 9u)
			return http_fail(p, 400, "invalid Content-Length");
		n = n * 10 + d;
	}
	m->content_length = n;
	m->flags |= HTTP_F_CONTENT_LENGTH;
	return 1;
}

/* only a single, bare "chunked" is accepted: any list or other coding is
 * a framing the proxy and the next hop might read differently */
static int http_transfer_encoding(struct http_pstate *p, const struct http_header *h)
{
	struct http_msg *m = p->m;

	if (p->te_seen)
		return http_fail(p, 400, "duplicate Transfer-Encoding");
	p->te_seen = 1;
	if (!http_token_eq(h->value, h->value_len, "chunked"))
		return http_fail(p, 400, "unsupported Transfer-Encoding");
	if (m->version_minor == 0)
		return http_fail(p, 400, "Transfer-Encoding in HTTP/1.0");
	m->flags |= HTTP_F_CHUNKED;
	return 1;
}

static int http_host(struct http_pstate *p, const struct http_header *h)
{
	struct http_msg *m = p->m;
	const unsigned char *v = (const unsigned char *)h->value;

	if (m->host != NULL)
		return http_fail(p, 400, "duplicate Host");
	if (h->value_len == 0 && m->version_minor == 1)
		return http_fail(p, 400, "empty Host");
	if (h->value_len > 0 && !http_authority_ok(v, h->value_len, 0))
		return http_fail(p, 400, "invalid Host");
	m->host = h->value;
	m->host_len = h->value_len;
	return 1;
}

/* calls fn(p, token, len) for each element of a #token list; -1 if the
 * list is not one (empty elements are allowed, RFC 9110 5.6.1) */
static int http_token_list(struct http_pstate *p, const char *v, size_t n,
    int (*fn)(struct http_pstate *, const char *, size_t))
{
	size_t i = 0, s;

	while (i < n) {
		if (v[i] == ',' || IS_OWS(v[i])) {
			i++;
			continue;
		}
		for (s = i; i < n && IS(v[i], C_TCHAR); i++)
			;
		if (i == s)
			return -1;
		if (fn(p, v + s, i - s) < 0)
			return -1;
		while (i < n && IS_OWS(v[i]))
			i++;
		if (i < n && v[i] != ',')
			return -1;
	}
	return 1;
}

static int http_conn_option(struct http_pstate *p, const char *t, size_t n)
{
	struct http_msg *m = p->m;

	if (http_token_eq(t, n, "close"))
		m->flags |= HTTP_F_CONN_CLOSE;
	else if (http_token_eq(t, n, "keep-alive"))
		m->flags |= HTTP_F_CONN_KEEPALIVE;
	else if (http_token_eq(t, n, "upgrade"))
		m->flags |= HTTP_F_CONN_UPGRADE;
	else if (http_token_eq(t, n, "host") || http_token_eq(t, n, "content-length")
	    || http_token_eq(t, n, "transfer-encoding"))
		return http_fail(p, 400, "Connection nominates an end-to-end header");
	else
		p->conn_names = 1;
	return 1;
}

static int http_connection(struct http_pstate *p, const struct http_header *h)
{
	if (http_token_list(p, h->value, h->value_len, http_conn_option) < 0) {
		if (p->m->error == NULL)
			http_fail(p, 400, "invalid Connection token");
		return -1;
	}
	return 1;
}

static int http_known_header(struct http_pstate *p, struct http_header *h)
{
	struct http_msg *m = p->m;

	switch (h->id) {
	case HDR_CONTENT_LENGTH:
		return http_content_length(p, h);
	case HDR_TRANSFER_ENCODING:
		return http_transfer_encoding(p, h);
	case HDR_HOST:
		return p->is_resp ? 1 : http_host(p, h);
	case HDR_CONNECTION:
		h->flags = HTTP_HDR_HOP;
		return http_connection(p, h);
	case HDR_UPGRADE:
		h->flags = HTTP_HDR_HOP;
		m->flags |= HTTP_F_HAS_UPGRADE;
		if (http_token_eq(h->value, h->value_len, "websocket"))
			p->ws = 1;
		return 1;
	case HDR_EXPECT:
		if (!p->is_resp)
			m->flags |= http_token_eq(h->value, h->value_len, "100-continue")
			    ? HTTP_F_EXPECT_CONTINUE : HTTP_F_EXPECT_OTHER;
		return 1;
	case HDR_KEEP_ALIVE:
	case HDR_PROXY_CONNECTION:
	case HDR_TE:
	case HDR_TRAILER:
	case HDR_HTTP2_SETTINGS:
	case HDR_PROXY_AUTHENTICATE:
	case HDR_PROXY_AUTHORIZATION:
		h->flags = HTTP_HDR_HOP;
		return 1;
	}
	return 1;
}

/* one "name: value CRLF" line starting at p->pos (not CR, LF, SP, HTAB) */
static int http_parse_field_line(struct http_pstate *p)
{
	struct http_msg *m = p->m;
	const unsigned char *b = p->b;
	size_t s = p->pos, i = s, end = p->end, vs, ve;
	struct http_header *h;
	int r;

	while (i < end && IS(b[i], C_TCHAR))
		i++;
	if (i == end)
		return 0;
	if (b[i] != ':') {
		if (i == s)
			return http_fail(p, 400, "invalid character in header name");
		if (IS_OWS(b[i]))
			return http_fail(p, 400, "whitespace before colon");
		if (b[i] == '\r' || b[i] == '\n')
			return http_fail(p, 400, "header line without colon");
		return http_fail(p, 400, "invalid character in header name");
	}
	if (i == s)
		return http_fail(p, 400, "empty header name");
	ve = i++;  /* name end, for now */
	while (i < end && IS_OWS(b[i]))
		i++;
	vs = i;
	i = http_scan(b, i, end, 0);
	if (i == end)
		return 0;
	if (b[i] != '\r' && b[i] != '\n')
		return http_fail(p, 400, "invalid character in header value");
	if ((r = http_eol(p, i)) <= 0)
		return r;

	h = &m->hdr[m->nhdr++];
	h->name = (const char *)b + s;
	h->name_len = ve - s;
	ve = i;
	while (ve > vs && IS_OWS(b[ve - 1]))
		ve--;
	h->value = (const char *)b + vs;
	h->value_len = ve - vs;
	h->line = h->name;
	h->line_len = i + 2 - s;
	h->flags = 0;
	h->id = http_hdr_id(b + s, h->name_len);
	p->pos = i + 2;
	return h->id == HDR_OTHER ? 1 : http_known_header(p, h);
}

/* field lines up to and including the empty line */
static int http_parse_fields(struct http_pstate *p)
{
	const unsigned char *b = p->b;
	int r;

	for (;;) {
		if (p->pos == p->end)
			return 0;
		switch (b[p->pos]) {
		case '\r':
		case '\n':
			if ((r = http_eol(p, p->pos)) <= 0)
				return r;
			p->pos += 2;
			return 1;
		case ' ':
		case '\t':
			return http_fail(p, 400, "obs-fold");
		}
		if (p->m->nhdr == p->maxh)
			return http_fail(p, 431, "too many headers");
		if ((r = http_parse_field_line(p)) <= 0)
			return r;
	}
}

/* both sides of any case */
static int http_ieq_n(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (http_lc((unsigned char)a[i]) != http_lc((unsigned char)b[i]))
			return 0;
	return 1;
}

/* a token from a Connection header: that header is hop-by-hop too */
static int http_mark_one(struct http_pstate *p, const char *t, size_t n)
{
	struct http_msg *m = p->m;

	for (size_t i = 0; i < m->nhdr; i++) {
		struct http_header *h = &m->hdr[i];
		if (!(h->flags & HTTP_HDR_HOP) && h->name_len == n && http_ieq_n(h->name, t, n))
			h->flags |= HTTP_HDR_HOP;
	}
	return 1;
}

/* whole head seen: checks that need every header, then hop-by-hop marks */
static int http_finish(struct http_pstate *p)
{
	struct http_msg *m = p->m;

	if ((m->flags & HTTP_F_CHUNKED) && (m->flags & HTTP_F_CONTENT_LENGTH))
		return http_fail(p, 400, "both Content-Length and Transfer-Encoding");
	if (!p->is_resp && m->version_minor == 1 && m->host == NULL)
		return http_fail(p, 400, "missing Host");
	if (p->ws && (m->flags & HTTP_F_CONN_UPGRADE))
		m->flags |= HTTP_F_UPGRADE_WS;
	if (p->conn_names)
		for (size_t i = 0; i < m->nhdr; i++)
			if (m->hdr[i].id == HDR_CONNECTION)
				http_token_list(p, m->hdr[i].value, m->hdr[i].value_len, http_mark_one);
	m->head_len = p->pos;
	return (int)p->pos;
}

static void http_begin(struct http_pstate *p, const char *buf, size_t len,
    const struct http_limits *lim, struct http_msg *m, int is_resp)
{
	size_t max = lim->max_header_bytes < INT_MAX ? lim->max_header_bytes : INT_MAX;

	p->b = (const unsigned char *)buf;
	p->pos = 0;
	p->len = len;
	p->end = len < max ? len : max;
	p->maxh = lim->max_headers < HTTP_MAX_HEADERS_HARD ? lim->max_headers : HTTP_MAX_HEADERS_HARD;
	p->m = m;
	p->is_resp = is_resp;
	p->te_seen = 0;
	p->ws = 0;
	p->conn_names = 0;
	/* not the header array: nhdr says how much of it is valid */
	m->method = NULL;
	m->method_len = 0;
	m->method_id = HTTP_M_OTHER;
	m->target = NULL;
	m->target_len = 0;
	m->target_form = HTTP_TARGET_ORIGIN;
	m->path = NULL;
	m->path_len = 0;
	m->authority = NULL;
	m->authority_len = 0;
	m->status = 0;
	m->version_minor = 0;
	m->content_length = 0;
	m->flags = 0;
	m->host = NULL;
	m->host_len = 0;
	m->nhdr = 0;
	m->head_len = 0;
	m->leading_crlf = 0;
	m->error_status = 0;
	m->error = NULL;
}

/* r from the helpers: 1 complete, 0 need more, -1 error */
static int http_end(struct http_pstate *p, int r)
{
	if (r > 0)
		return http_finish(p);
	if (r < 0)
		return HTTP_PARSE_ERROR;
	/* the head did not end within the limit: no point reading on */
	if (p->len > p->end)
		return http_fail(p, 431, "header section too large");
	return HTTP_PARSE_INCOMPLETE;
}

int http_parse_request(const char *buf, size_t len, const struct http_limits *lim,
    struct http_msg *m)
{
	struct http_pstate p;
	int r;

	http_begin(&p, buf, len, lim, m, 0);
	r = http_skip_leading_crlf(&p);
	if (r > 0)
		r = http_parse_request_line(&p);
	if (r > 0)
		r = http_parse_fields(&p);
	return http_end(&p, r);
}

int http_parse_response(const char *buf, size_t len, const struct http_limits *lim,
    struct http_msg *m)
{
	struct http_pstate p;
	int r;

	http_begin(&p, buf, len, lim, m, 1);
	r = http_parse_status_line(&p);
	if (r > 0)
		r = http_parse_fields(&p);
	return http_end(&p, r);
}
