/*
 * h2_head.c - an HTTP/2 request's header list as an HTTP/1.1 head (see
 * h2_head.h).  Pure: no I/O, no globals.
 */
#include <string.h>

#include "h2_head.h"
#include "http_chars.h"
#include "http_parse.h"

/* A bounded writer into the caller's buffer. */
struct out {
	char *p;
	size_t n, cap;
	int full;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->full || n > o->cap - o->n) {
		o->full = 1;
		return;
	}
	memcpy(o->p + o->n, s, n);
	o->n += n;
}

static void
puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* a equals the literal b (its length known at compile time: the compare
 * is a few instructions, once per field and name on every request) */
#define eq(a, an, b) ((an) == sizeof(b) - 1 && memcmp((a), (b), sizeof(b) - 1) == 0)

/* Case-insensitive equality of two byte strings. */
static int
eq_nocase(const char *a, size_t an, const char *b, size_t bn)
{
	size_t i;

	if (an != bn)
		return 0;
	for (i = 0; i < an; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y + 32);
		if (x != y)
			return 0;
	}
	return 1;
}

/* RFC 9113 8.2.1: a name is lowercase tchars; a value has no CR, LF or
 * NUL and no leading or trailing whitespace. */
static const char *
check_field(const struct h2_field *f, int pseudo)
{
	size_t i;

	for (i = pseudo; i < f->name_len; i++) {
		unsigned char c = (unsigned char)f->name[i];

		if (c >= 'A' && c <= 'Z')
			return "an uppercase header name";
		if (!IS(c, C_TCHAR))
			return "a header name with a byte outside tchar";
	}
	if (f->name_len == (size_t)pseudo)
		return "an empty header name";
	for (i = 0; i < f->value_len; i++)
		if (!IS(f->value[i], C_VALUE))
			return "a header value with a control byte";
	if (f->value_len > 0 && (IS_OWS(f->value[0]) || IS_OWS(f->value[f->value_len - 1])))
		return "a header value with leading or trailing whitespace";
	return NULL;
}

/* Headers HTTP/2 forbids (RFC 9113 8.2.2). */
static int
connection_specific(const struct h2_field *f)
{
	return eq(f->name, f->name_len, "connection") || eq(f->name, f->name_len, "keep-alive") ||
	    eq(f->name, f->name_len, "proxy-connection") ||
	    eq(f->name, f->name_len, "transfer-encoding") || eq(f->name, f->name_len, "upgrade");
}

/* A content-length value: digits only, below 2^62. */
static int
parse_length(const char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;

	if (n == 0 || n > 18)
		return -1;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return 0;
}

enum { P_METHOD, P_SCHEME, P_AUTHORITY, P_PATH, P_PROTOCOL, P_COUNT };

static int
pseudo_index(const struct h2_field *f)
{
	if (eq(f->name, f->name_len, ":method"))
		return P_METHOD;
	if (eq(f->name, f->name_len, ":scheme"))
		return P_SCHEME;
	if (eq(f->name, f->name_len, ":authority"))
		return P_AUTHORITY;
	if (eq(f->name, f->name_len, ":path"))
		return P_PATH;
	if (eq(f->name, f->name_len, ":protocol"))
		return P_PROTOCOL;
	return -1;
}

/* An authority as the HTTP/1.1 parser wants a Host (RFC 3986 3.2.2). */
static int
host_chars(const struct h2_field *f)
{
	return http_authority_valid(f->value, f->value_len);
}

static long
fail(struct h2_req *r, const char *why)
{
	r->error = why;
	return -1;
}

long
h2_request_head(const struct h2_field *f, size_t n, int end_stream, const char *ws_key,
    struct h2_req *r, char *out, size_t cap)
{
	const struct h2_field *ps[P_COUNT] = { NULL };
	const struct h2_field *host = NULL;
	struct out o = { out, 0, cap, 0 };
	int regular = 0, connect, ncookie = 0;
	size_t i;
	const char *why;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < n; i++) {
		int pseudo = f[i].name_len > 0 && f[i].name[0] == ':', k;

		if ((why = check_field(&f[i], pseudo)) != NULL)
			return fail(r, why);
		if (pseudo) {
			if (regular)
				return fail(r, "a pseudo-header after a regular header");
			if ((k = pseudo_index(&f[i])) == -1)
				return fail(r, "an unknown pseudo-header");
			if (ps[k] != NULL)
				return fail(r, "a pseudo-header twice");
			ps[k] = &f[i];
			continue;
		}
		regular = 1;
		if (connection_specific(&f[i]))
			return fail(r, "a connection-specific header");
		if (eq(f[i].name, f[i].name_len, "te") &&
		    !eq_nocase(f[i].value, f[i].value_len, "trailers", 8))
			return fail(r, "te other than trailers");
		if (eq(f[i].name, f[i].name_len, "host")) {
			if (host != NULL)
				return fail(r, "host twice");
			host = &f[i];
		} else if (eq(f[i].name, f[i].name_len, "content-length")) {
			uint64_t len;

			if (parse_length(f[i].value, f[i].value_len, &len) == -1)
				return fail(r, "a bad content-length");
			if (r->has_length && len != r->length)
				return fail(r, "content-length values that disagree");
			r->has_length = 1;
			r->length = len;
		} else if (eq(f[i].name, f[i].name_len, "cookie")) {
			ncookie++;
		}
	}
	if (ps[P_METHOD] == NULL || ps[P_METHOD]->value_len == 0)
		return fail(r, "no :method");
	connect = eq(ps[P_METHOD]->value, ps[P_METHOD]->value_len, "CONNECT");
	if (ps[P_PROTOCOL] != NULL) {
		/* RFC 8441: extended CONNECT, all four pseudo-headers */
		if (!connect)
			return fail(r, ":protocol without CONNECT");
		if (!eq(ps[P_PROTOCOL]->value, ps[P_PROTOCOL]->value_len, "websocket"))
			return fail(r, "a :protocol other than websocket");
		if (ps[P_SCHEME] == NULL || ps[P_PATH] == NULL || ps[P_AUTHORITY] == NULL)
			return fail(r, "an extended CONNECT without :scheme, :path or :authority");
		if (ws_key == NULL || strlen(ws_key) != 24)
			return fail(r, "no WebSocket key");
		r->websocket = 1;
	} else if (connect) {
		/* RFC 9113 8.5: only :method and :authority */
		if (ps[P_SCHEME] != NULL || ps[P_PATH] != NULL)
			return fail(r, "CONNECT with :scheme or :path");
		if (ps[P_AUTHORITY] == NULL || ps[P_AUTHORITY]->value_len == 0)
			return fail(r, "CONNECT without :authority");
		/* well formed, and not served: answered 405 as over HTTP/1.1 */
		r->status = 405;
		return fail(r, "CONNECT is not supported");
	} else {
		if (ps[P_SCHEME] == NULL || ps[P_PATH] == NULL)
			return fail(r, "no :scheme or :path");
		if (ps[P_PATH]->value_len == 0)
			return fail(r, "an empty :path");
	}
	for (i = 0; i < ps[P_METHOD]->value_len; i++)
		if (!IS(ps[P_METHOD]->value[i], C_TCHAR))
			return fail(r, "a :method that is not a token");
	if (ps[P_AUTHORITY] != NULL && !host_chars(ps[P_AUTHORITY]))
		return fail(r, "an :authority with a byte outside a host");
	if (host != NULL && !host_chars(host))
		return fail(r, "a host with a byte outside a host");
	if (ps[P_SCHEME] != NULL && !eq(ps[P_SCHEME]->value, ps[P_SCHEME]->value_len, "https") &&
	    !eq(ps[P_SCHEME]->value, ps[P_SCHEME]->value_len, "http"))
		return fail(r, "a :scheme other than http or https");
	if (ps[P_PATH] != NULL && ps[P_PATH]->value_len == 0)
		return fail(r, "an empty :path");
	if (ps[P_PATH] != NULL && ps[P_PATH]->value[0] != '/' &&
	    !(eq(ps[P_PATH]->value, ps[P_PATH]->value_len, "*") &&
	    eq(ps[P_METHOD]->value, ps[P_METHOD]->value_len, "OPTIONS")))
		return fail(r, "a :path that is not absolute");
	for (i = 0; ps[P_PATH] != NULL && i < ps[P_PATH]->value_len; i++)
		if (!IS(ps[P_PATH]->value[i], C_TARGET))
			return fail(r, "a :path with a byte outside the request-target");
	if (ps[P_AUTHORITY] != NULL && host != NULL &&
	    !eq_nocase(ps[P_AUTHORITY]->value, ps[P_AUTHORITY]->value_len, host->value,
	    host->value_len))
		return fail(r, ":authority and host disagree");
	if (ps[P_AUTHORITY] == NULL && host == NULL)
		return fail(r, "no :authority or host");
	if (ps[P_AUTHORITY] != NULL && ps[P_AUTHORITY]->value_len == 0 && host == NULL)
		return fail(r, "an empty :authority");
	if (end_stream && r->has_length && r->length > 0)
		return fail(r, "content-length disagrees with the DATA");
	if (r->websocket)
		r->has_length = 0;      /* a tunnel: what follows is its bytes */
	r->chunked = !end_stream && !r->has_length && !r->websocket;

	/* the request line */
	if (r->websocket) {
		puts_(&o, "GET ");
	} else {
		put(&o, ps[P_METHOD]->value, ps[P_METHOD]->value_len);
		puts_(&o, " ");
	}
	put(&o, ps[P_PATH]->value, ps[P_PATH]->value_len);
	puts_(&o, " HTTP/1.1\r\nhost: ");
	if (ps[P_AUTHORITY] != NULL && ps[P_AUTHORITY]->value_len > 0)
		put(&o, ps[P_AUTHORITY]->value, ps[P_AUTHORITY]->value_len);
	else
		put(&o, host->value, host->value_len);
	puts_(&o, "\r\n");
	for (i = 0; i < n; i++) {
		if (f[i].name[0] == ':' || eq(f[i].name, f[i].name_len, "host") ||
		    eq(f[i].name, f[i].name_len, "cookie") ||
		    eq(f[i].name, f[i].name_len, "content-length") ||
		    (r->websocket && eq(f[i].name, f[i].name_len, "sec-websocket-key")))
			continue;
		put(&o, f[i].name, f[i].name_len);
		puts_(&o, ": ");
		put(&o, f[i].value, f[i].value_len);
		puts_(&o, "\r\n");
	}
	if (ncookie > 0) {
		/* RFC 9113 8.2.3: the crumbs are one header again, "; " apart */
		int first = 1;

		puts_(&o, "cookie: ");
		for (i = 0; i < n; i++) {
			if (!eq(f[i].name, f[i].name_len, "cookie"))
				continue;
			if (!first)
				puts_(&o, "; ");
			put(&o, f[i].value, f[i].value_len);
			first = 0;
		}
		puts_(&o, "\r\n");
	}
	if (r->websocket) {
		puts_(&o, "upgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-key: ");
		put(&o, ws_key, 24);
		puts_(&o, "\r\n");
	} else if (r->has_length) {
		char num[24];
		size_t k = sizeof(num);
		uint64_t x = r->length;

		do {
			num[--k] = (char)('0' + x % 10);
			x /= 10;
		} while (x > 0);
		puts_(&o, "content-length: ");
		put(&o, num + k, sizeof(num) - k);
		puts_(&o, "\r\n");
	} else if (r->chunked) {
		puts_(&o, "transfer-encoding: chunked\r\n");
	}
	puts_(&o, "\r\n");
	if (o.full)
		return fail(r, "a header list too large");
	return (long)o.n;
}

size_t
h2_lines_fields(char *p, size_t len, struct h2_field *f, size_t max)
{
	size_t n = 0, i = 0;

	while (i < len && n < max) {
		char *eol = memchr(p + i, '\n', len - i), *colon;
		size_t ll = eol != NULL ? (size_t)(eol - (p + i)) : len - i, next = i + ll + 1, vs, k;

		if (ll > 0 && p[i + ll - 1] == '\r')
			ll--;
		if (ll == 0)
			break;
		colon = memchr(p + i, ':', ll);
		if (colon != NULL && colon != p + i) {
			struct h2_field *x = &f[n];

			x->name = p + i;
			x->name_len = (size_t)(colon - (p + i));
			for (k = 0; k < x->name_len; k++)
				if (p[i + k] >= 'A' && p[i + k] <= 'Z')
					p[i + k] = (char)(p[i + k] + 32);
			vs = x->name_len + 1;
			while (vs < ll && IS_OWS(p[i + vs]))
				vs++;
			while (ll > vs && IS_OWS(p[i + ll - 1]))
				ll--;
			x->value = p + i + vs;
			x->value_len = ll - vs;
			if (!connection_specific(x) && !eq(x->name, x->name_len, "te"))
				n++;
		}
		i = next;
	}
	return n;
}
