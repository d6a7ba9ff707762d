/*
 * route.h - which pool a request goes to.  Pure: no I/O, no globals.
 *
 * A client key (the stickiness cookie or the configured header) is hashed
 * with a fixed, unseeded hash to a bucket 0..9999; the candidate pool gets
 * the request when bucket < candidate_bp (percent x 100).  Because the hash
 * never changes, every bgproxy of a fleet and every restart puts a key in
 * the same bucket, and raising the percentage only ever moves clients from
 * stable to candidate (never back).
 */
#ifndef BGPROXY_ROUTE_H
#define BGPROXY_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#define ROUTE_BUCKETS 10000
#define ROUTE_KEY_LEN 22          /* length of keys route_new_key() makes */

/* Bucket 0..9999 of a key. */
uint32_t route_bucket(const char *key, size_t len);

/* 1 when the bucket belongs to the candidate at candidate_bp (0..10000). */
static inline int
route_bucket_is_candidate(uint32_t bucket, int candidate_bp)
{
	return bucket < (uint32_t)candidate_bp;
}

/*
 * Find cookie `name` in a Cookie header value.  Returns 1 and sets *val and *vlen
 * to its (unquoted) value, or 0 when absent.
 */
int route_cookie_find(const char *hdr, size_t len, const char *name, size_t name_len,
    const char **val, size_t *vlen);

/* A key is usable when it is 1..128 cookie-octets (RFC 6265). */
int route_key_valid(const char *key, size_t len);

/* Write a fresh ROUTE_KEY_LEN-char key made of base64url characters from
 * two random 64-bit words; out must hold ROUTE_KEY_LEN bytes (no NUL). */
void route_new_key(char *out, uint64_t r1, uint64_t r2);

/* Parse an override header value ("blue" / "green", any case).  Returns the
 * pool id (0 blue, 1 green) or -1. */
int route_parse_pool(const char *v, size_t n);

/* xoshiro256** - fast per-thread PRNG for keys, request ids, random routing. */
struct route_rng { uint64_t s[4]; };
void route_rng_seed(struct route_rng *r, uint64_t seed);
uint64_t route_rng_next(struct route_rng *r);

/* What a request brings to the route decision, found in its headers. */
struct route_in {
	int		 stable;		/* 0 blue, 1 green (the split word) */
	int		 candidate_bp;		/* 0..10000 (the split word) */
	int		 override;		/* pool named by the override header, -1 none */
	int		 override_trusted;	/* the peer is in split.override_from */
	const char	*cookie_key;		/* a valid key from the cookie, or NULL */
	size_t		 cookie_len;
	const char	*header_key;		/* the split.header value, or NULL */
	size_t		 header_len;
	int		 cookies;		/* split.cookie is set: keyless clients get one */
};

/* The names the routing inputs are read under (split.cookie, split.header,
 * split.override_header; a length of 0: not configured). */
struct route_names {
	const char	*cookie, *header, *override;
	size_t		 cookie_len, header_len, override_len;
};

struct http_msg;

/*
 * The routing inputs of a parsed request head: the first valid key of the
 * cookie, the first non-empty split.header value, the pool the override
 * header names (-1 none; the last one counts).  Fills those fields of in
 * and leaves the others; the values point into m's buffer.
 */
void route_scan(const struct http_msg *m, const struct route_names *nm, struct route_in *in);

enum route_why {
	ROUTE_WHY_OVERRIDE,	/* the override header from a trusted peer */
	ROUTE_WHY_COOKIE,	/* the sticky key of the cookie */
	ROUTE_WHY_HEADER,	/* the key of split.header */
	ROUTE_WHY_NEW_KEY,	/* no key: a new one, sent back as Set-Cookie */
	ROUTE_WHY_COIN		/* no key and no cookie: a coin weighted by the split */
};

struct route_out {
	int		pool;
	enum route_why	why;
	int		new_key;		/* answer with Set-Cookie: key */
	char		key[ROUTE_KEY_LEN];	/* the new key (no NUL) when new_key */
};

/*
 * The pool of a request: the override header from a trusted peer, else the
 * cookie's key, else the header's key, else a new key (with cookies on),
 * else a coin; a key's bucket decides against candidate_bp.  rng is drawn
 * only for a new key or the coin.  Failover (a pool with no usable server)
 * is the caller's: it knows the servers.
 */
void route_decide(const struct route_in *in, struct route_rng *rng, struct route_out *out);

/* "override", "cookie", "header", "new key", "coin" */
extern const char *const route_why_names[];

#endif
