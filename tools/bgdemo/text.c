/*
 * text.c - bgdemo's byte buffers, number, token and query helpers, and SHA-1 and
 * base64 for Sec-WebSocket-Accept.
 */
#include "bgdemo.h"

/* ---- growable byte buffer: data lives in p[off, len) ---- */

void buf_reserve(struct buf *b, size_t n)
{
	if (b->cap - b->len >= n)
		return;
	if (b->off > 0) {
		/* Compact first: most of the time that frees enough room. */
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->cap - b->len >= n)
			return;
	}
	size_t cap = b->cap ? b->cap : 16384;
	while (cap - b->len < n)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		fprintf(stderr, "bgdemo: out of memory\n");
		abort();
	}
	b->p = p;
	b->cap = cap;
}

void buf_append(struct buf *b, const void *d, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

/* Give memory back after a big echo or stream; keep small buffers. */
void buf_trim(struct buf *b, bool drop_data)
{
	if (drop_data)
		b->off = b->len = 0;
	if (b->len == 0 && b->cap > SHRINK_ABOVE) {
		free(b->p);
		b->p = NULL;
		b->cap = 0;
	}
}

/* ---- small text helpers ---- */

char *put_mem(char *o, const void *s, size_t n)
{
	if (n > 0)              /* s may be NULL for an empty value */
		memcpy(o, s, n);
	return o + n;
}

char *put_u64(char *o, uint64_t v)
{
	char tmp[24];
	int i = 0;
	do {
		tmp[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i)
		*o++ = tmp[--i];
	return o;
}

char *put_hex(char *o, uint64_t v)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[20];
	int i = 0;
	do {
		tmp[i++] = hex[v & 15];
		v >>= 4;
	} while (v);
	while (i)
		*o++ = tmp[--i];
	return o;
}

bool is_tchar(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9'))
		return true;
	return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

bool eq_ci(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

bool eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* Comma-separated, case-insensitive token list membership (Connection...). */
bool has_token(const char *v, size_t len, const char *tok)
{
	size_t i = 0;
	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t s = i;
		while (i < len && v[i] != ',')
			i++;
		size_t e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s && eq_ci(v + s, e - s, tok))
			return true;
	}
	return false;
}

bool parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > 18)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* Find NAME=VALUE in a query string; a bare NAME gives an empty value. */
bool qparam(const char *q, size_t qlen, const char *name,
		   const char **v, size_t *vlen)
{
	size_t nl = strlen(name), i = 0;
	while (i < qlen) {
		size_t s = i;
		while (i < qlen && q[i] != '&')
			i++;
		const char *eqs = memchr(q + s, '=', i - s);
		size_t kl = eqs ? (size_t)(eqs - (q + s)) : i - s;
		if (kl == nl && memcmp(q + s, name, nl) == 0) {
			*v = eqs ? eqs + 1 : q + i;
			*vlen = eqs ? (size_t)(q + i - (eqs + 1)) : 0;
			return true;
		}
		i++;
	}
	return false;
}

bool qflag(const char *q, size_t qlen, const char *name)
{
	const char *v;
	size_t vl;
	if (!qparam(q, qlen, name, &v, &vl))
		return false;
	return eq(v, vl, "1") || eq(v, vl, "true") || eq(v, vl, "yes");
}

bool qnum(const char *q, size_t qlen, const char *name, uint64_t *out)
{
	const char *v;
	size_t vl;
	return qparam(q, qlen, name, &v, &vl) && parse_u64(v, vl, out);
}

/* ---- SHA-1 and base64, only for Sec-WebSocket-Accept ---- */

static uint32_t rol32(uint32_t x, int s)
{
	return x << s | x >> (32 - s);
}

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
	uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (int i = 0; i < 80; i++) {
		uint32_t f, k;
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		uint32_t t = rol32(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol32(b, 30);
		b = a;
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

void sha1(const uint8_t *data, size_t len, uint8_t out[20])
{
	uint32_t h[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476,
			  0xc3d2e1f0 };
	uint8_t tail[128] = { 0 };
	size_t full = len & ~(size_t)63, rest = len - full;
	for (size_t i = 0; i < full; i += 64)
		sha1_block(h, data + i);
	memcpy(tail, data + full, rest);
	tail[rest] = 0x80;
	size_t tlen = rest + 9 <= 64 ? 64 : 128;
	uint64_t bits = (uint64_t)len * 8;
	for (int i = 0; i < 8; i++)
		tail[tlen - 1 - i] = (uint8_t)(bits >> (8 * i));
	for (size_t i = 0; i < tlen; i += 64)
		sha1_block(h, tail + i);
	for (int i = 0; i < 20; i++)
		out[i] = (uint8_t)(h[i / 4] >> (24 - 8 * (i % 4)));
}

size_t base64(const uint8_t *in, size_t n, char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}
