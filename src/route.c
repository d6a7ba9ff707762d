/*
 * route.c - pool choice: sticky key -> bucket, cookie lookup, keys.
 */
#include <string.h>

#include "http_parse.h"
#include "route.h"

/*
 * FNV-1a over the key, then a murmur3-style finalizer so that similar keys
 * spread evenly over the buckets.  Fixed constants, never seeded: the
 * contract promises the same bucket for the same key on every instance.
 */
uint32_t
route_bucket(const char *key, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return (uint32_t)(h % ROUTE_BUCKETS);
}

static int
route_is_cookie_octet(unsigned char c)
{
	/* RFC 6265 cookie-octet: %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E */
	return c == 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a) ||
	    (c >= 0x3c && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

int
route_key_valid(const char *key, size_t len)
{
	size_t i;

	if (len == 0 || len > 128)
		return 0;
	for (i = 0; i < len; i++)
		if (!route_is_cookie_octet((unsigned char)key[i]))
			return 0;
	return 1;
}

int
route_cookie_find(const char *hdr, size_t len, const char *name, size_t name_len,
    const char **val, size_t *vlen)
{
	size_t i = 0;

	while (i < len) {
		size_t ns, ne, vs, ve;

		while (i < len && (hdr[i] == ' ' || hdr[i] == '\t' || hdr[i] == ';'))
			i++;
		ns = i;
		while (i < len && hdr[i] != '=' && hdr[i] != ';')
			i++;
		ne = i;
		while (ne > ns && (hdr[ne - 1] == ' ' || hdr[ne - 1] == '\t'))
			ne--;
		if (i >= len || hdr[i] == ';')
			continue;       /* a pair without '=' is ignored */
		i++;
		vs = i;
		while (i < len && hdr[i] != ';')
			i++;
		ve = i;
		while (vs < ve && (hdr[vs] == ' ' || hdr[vs] == '\t'))
			vs++;
		while (ve > vs && (hdr[ve - 1] == ' ' || hdr[ve - 1] == '\t'))
			ve--;
		if (ve - vs >= 2 && hdr[vs] == '"' && hdr[ve - 1] == '"') {
			vs++;
			ve--;
		}
		if (ne - ns == name_len && memcmp(hdr + ns, name, name_len) == 0) {
			*val = hdr + vs;
			*vlen = ve - vs;
			return 1;
		}
	}
	return 0;
}

void
route_new_key(char *out, uint64_t r1, uint64_t r2)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	int i;

	for (i = 0; i < 11; i++) {
		out[i] = b64[r1 & 63];
		r1 >>= 6;
	}
	for (i = 11; i < ROUTE_KEY_LEN; i++) {
		out[i] = b64[r2 & 63];
		r2 >>= 6;
	}
}

int
route_parse_pool(const char *v, size_t n)
{
	if (n == 4 && strncasecmp(v, "blue", 4) == 0)
		return 0;
	if (n == 5 && strncasecmp(v, "green", 5) == 0)
		return 1;
	return -1;
}

static inline uint64_t
route_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void
route_rng_seed(struct route_rng *r, uint64_t seed)
{
	int i;

	/* splitmix64 expands one seed into the four state words */
	for (i = 0; i < 4; i++) {
		uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		r->s[i] = z ^ (z >> 31);
	}
}

uint64_t
route_rng_next(struct route_rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = route_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = route_rotl(s[3], 45);
	return res;
}

const char *const route_why_names[] = {
	[ROUTE_WHY_OVERRIDE] = "override",
	[ROUTE_WHY_COOKIE] = "cookie",
	[ROUTE_WHY_HEADER] = "header",
	[ROUTE_WHY_NEW_KEY] = "new key",
	[ROUTE_WHY_COIN] = "coin",
};

void
route_decide(const struct route_in *in, struct route_rng *rng, struct route_out *out)
{
	const char *key = in->cookie_key;
	size_t klen = in->cookie_len;
	int stable = in->stable ? 1 : 0;

	out->new_key = 0;
	if (in->override != -1 && in->override_trusted) {
		out->pool = in->override;
		out->why = ROUTE_WHY_OVERRIDE;
		return;
	}
	out->why = ROUTE_WHY_COOKIE;
	if (key == NULL && in->header_key != NULL) {
		key = in->header_key;
		klen = in->header_len;
		out->why = ROUTE_WHY_HEADER;
	}
	if (key == NULL && in->cookies) {
		route_new_key(out->key, route_rng_next(rng), route_rng_next(rng));
		key = out->key;
		klen = ROUTE_KEY_LEN;
		out->new_key = 1;
		out->why = ROUTE_WHY_NEW_KEY;
	}
	if (key == NULL) {
		out->why = ROUTE_WHY_COIN;
		out->pool = (route_rng_next(rng) % ROUTE_BUCKETS) < (uint64_t)in->candidate_bp ?
		    !stable : stable;
		return;
	}
	out->pool = route_bucket_is_candidate(route_bucket(key, klen), in->candidate_bp) ?
	    !stable : stable;
}

void
route_scan(const struct http_msg *m, const struct route_names *nm, struct route_in *in)
{
	size_t i;

	in->override = -1;
	in->cookie_key = in->header_key = NULL;
	in->cookie_len = in->header_len = 0;
	for (i = 0; i < m->nhdr; i++) {
		const struct http_header *h = &m->hdr[i];
		const char *v;
		size_t vl;

		if (h->id == HDR_COOKIE && nm->cookie_len > 0 && in->cookie_key == NULL) {
			if (route_cookie_find(h->value, h->value_len, nm->cookie, nm->cookie_len,
			    &v, &vl) && route_key_valid(v, vl)) {
				in->cookie_key = v;
				in->cookie_len = vl;
			}
		} else if (h->id == HDR_OTHER) {
			if (nm->override_len > 0 && h->name_len == nm->override_len &&
			    http_token_eq(h->name, h->name_len, nm->override))
				in->override = route_parse_pool(h->value, h->value_len);
			else if (nm->header_len > 0 && h->name_len == nm->header_len &&
			    in->header_key == NULL &&
			    http_token_eq(h->name, h->name_len, nm->header) && h->value_len > 0) {
				in->header_key = h->value;
				in->header_len = h->value_len;
			}
		}
	}
}
