/*
 * etcd.c - a client of etcd v3's JSON gateway (see etcd.h).
 *
 * Every request is a POST of a JSON object to one of the gateway's paths
 * (/v3/kv/range, /v3/kv/txn, /v3/lease/grant, /v3/watch, ...), answered
 * with a JSON object; keys and values travel in base64, 64-bit numbers as
 * strings.  libcurl does HTTP and TLS, jansson the JSON: nothing of either
 * is written here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "etcd.h"

#define ETCD_RESP_MAX (16u << 20)     /* the largest answer read */

struct etcd {
	char *ep[ETCD_MAX_ENDPOINTS];
	size_t nep, cur;
	int timeout_ms;
	char *ca, *cert, *key, *user, *password;
	char *token;                  /* from /v3/auth/authenticate */
	CURL *curl;
};

/* An answer as it arrives. */
struct buf {
	char *p;
	size_t n, cap;
	int over;
};

static char *
dup_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

void
etcd_kv_clear(struct etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

static void
fail(char *err, size_t len, const char *fmt, const char *a, const char *b)
{
	if (err != NULL && len > 0)
		snprintf(err, len, fmt, a != NULL ? a : "", b != NULL ? b : "");
}

/* ---- base64 and numbers -------------------------------------------------- */

static char *
b64(const void *p, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);

	if (out != NULL)
		EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

/* A malloc'd, NUL-terminated decoding of s; *n its length.  NULL when s is
 * not base64. */
static char *
unb64(const char *s, size_t *n)
{
	size_t sl = strlen(s), pad = 0;
	char *out;
	int r;

	if (sl % 4 != 0)
		return NULL;
	if ((out = malloc(sl / 4 * 3 + 1)) == NULL)
		return NULL;
	r = sl == 0 ? 0 : EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)s, (int)sl);
	if (r < 0) {
		free(out);
		return NULL;
	}
	if (sl >= 1 && s[sl - 1] == '=')
		pad++;
	if (sl >= 2 && s[sl - 2] == '=')
		pad++;
	*n = (size_t)r - pad;
	out[*n] = '\0';
	return out;
}

/* The gateway writes int64 as strings ("5"); absent is 0. */
static int64_t
num(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	return 0;
}

static int
kv_from_json(json_t *j, struct etcd_kv *kv)
{
	const char *k = json_string_value(json_object_get(j, "key"));
	const char *v = json_string_value(json_object_get(j, "value"));
	size_t n;

	memset(kv, 0, sizeof(*kv));
	if (k == NULL || (kv->key = unb64(k, &n)) == NULL)
		return -1;
	if ((kv->value = unb64(v != NULL ? v : "", &kv->value_len)) == NULL) {
		etcd_kv_clear(kv);
		return -1;
	}
	kv->create_revision = num(j, "create_revision");
	kv->mod_revision = num(j, "mod_revision");
	kv->lease = num(j, "lease");
	return 0;
}

/* ---- requests ------------------------------------------------------------ */

static size_t
collect(char *p, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;

	if (b->over || b->n + n + 1 > ETCD_RESP_MAX) {
		b->over = 1;
		return n;
	}
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *q;

		while (cap < b->n + n + 1)
			cap *= 2;
		if ((q = realloc(b->p, cap)) == NULL) {
			b->over = 1;
			return n;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

static void
setup(struct etcd *e, const char *url, const char *body, struct curl_slist *hdrs)
{
	CURL *c = e->curl;

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)e->timeout_ms);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (e->ca != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, e->ca);
	if (e->cert != NULL)
		curl_easy_setopt(c, CURLOPT_SSLCERT, e->cert);
	if (e->key != NULL)
		curl_easy_setopt(c, CURLOPT_SSLKEY, e->key);
}

static struct curl_slist *
headers(const struct etcd *e)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	char auth[1024];

	if (h != NULL && e->token != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: %s", e->token);
		h = curl_slist_append(h, auth);
	}
	return h;
}

static int authenticate(struct etcd *e, size_t idx, char *err, size_t len);

/*
 * POST body to path on the current endpoint, else on the next ones.  An
 * endpoint that answered (even with an error of etcd's) ends the search.
 * Returns the answer's JSON (the caller decrefs), or NULL with err.
 */
static json_t *
call(struct etcd *e, const char *path, json_t *req, char *err, size_t len)
{
	char *body = json_dumps(req, JSON_COMPACT), url[512];
	size_t i, idx;
	json_t *ans = NULL;
	int reauth = 0;

	if (body == NULL) {
		fail(err, len, "out of memory%s%s", NULL, NULL);
		return NULL;
	}
	for (i = 0; i < e->nep; i++) {
		struct buf b = { NULL, 0, 0, 0 };
		struct curl_slist *h;
		long code = 0;
		CURLcode rc;

		idx = (e->cur + i) % e->nep;
		if (e->user != NULL && e->token == NULL && authenticate(e, idx, err, len) == -1)
			continue;
		snprintf(url, sizeof(url), "%s%s", e->ep[idx], path);
		h = headers(e);
		setup(e, url, body, h);
		curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)e->timeout_ms);
		curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, collect);
		curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &b);
		rc = curl_easy_perform(e->curl);
		curl_slist_free_all(h);
		curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &code);
		if (rc != CURLE_OK || code == 0) {
			fail(err, len, "etcd %s: %s", e->ep[idx], curl_easy_strerror(rc));
			free(b.p);
			continue;               /* unreachable: the next one */
		}
		e->cur = idx;
		ans = b.over || b.p == NULL ? NULL : json_loads(b.p, 0, NULL);
		free(b.p);
		if (ans == NULL) {
			fail(err, len, "etcd %s: an answer that is not JSON (HTTP %s)", e->ep[idx],
			    code == 200 ? "200" : "error");
			break;
		}
		if (code != 200 || json_object_get(ans, "error") != NULL) {
			const char *m = json_string_value(json_object_get(ans, "error"));

			if (m == NULL)
				m = json_string_value(json_object_get(ans, "message"));
			if (e->user != NULL && !reauth && m != NULL && strstr(m, "auth") != NULL) {
				/* the token expired: once more with a new one */
				free(e->token);
				e->token = NULL;
				reauth = 1;
				json_decref(ans);
				ans = NULL;
				i--;
				continue;
			}
			fail(err, len, "etcd %s: %s", e->ep[idx], m != NULL ? m : "an error");
			json_decref(ans);
			ans = NULL;
		}
		break;
	}
	free(body);
	return ans;
}

static int
authenticate(struct etcd *e, size_t idx, char *err, size_t len)
{
	json_t *req = json_pack("{s:s, s:s}", "name", e->user, "password",
	    e->password != NULL ? e->password : "");
	struct buf b = { NULL, 0, 0, 0 };
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	char *body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL, url[512];
	json_t *ans = NULL;
	const char *tok;
	CURLcode rc;

	json_decref(req);
	if (body == NULL || h == NULL) {
		free(body);
		curl_slist_free_all(h);
		fail(err, len, "out of memory%s%s", NULL, NULL);
		return -1;
	}
	snprintf(url, sizeof(url), "%s/v3/auth/authenticate", e->ep[idx]);
	setup(e, url, body, h);
	curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)e->timeout_ms);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &b);
	rc = curl_easy_perform(e->curl);
	curl_slist_free_all(h);
	free(body);
	if (rc == CURLE_OK && b.p != NULL)
		ans = json_loads(b.p, 0, NULL);
	tok = json_string_value(json_object_get(ans, "token"));
	if (tok == NULL) {
		/* what etcd said, printable and short: "invalid user ID or password" */
		const char *why = json_string_value(json_object_get(ans, "error"));
		char said[160];
		size_t i;

		snprintf(said, sizeof(said), ": %s", why != NULL ? why : rc != CURLE_OK ?
		    curl_easy_strerror(rc) : b.p != NULL ? b.p : "no answer");
		for (i = 0; said[i] != '\0'; i++)
			if ((unsigned char)said[i] < 0x20 || (unsigned char)said[i] > 0x7e)
				said[i] = ' ';
		free(b.p);
		fail(err, len, "etcd %s: authentication failed%s", e->ep[idx], said);
		json_decref(ans);
		return -1;
	}
	free(b.p);
	free(e->token);
	e->token = strdup(tok);
	json_decref(ans);
	return e->token != NULL ? 0 : -1;
}

/* ---- the API ------------------------------------------------------------- */

struct etcd *
etcd_new(const struct etcd_opts *o, char *err, size_t len)
{
	static int inited;
	struct etcd *e;
	size_t i;

	if (o->nendpoints == 0 || o->nendpoints > ETCD_MAX_ENDPOINTS) {
		fail(err, len, "1..16 etcd endpoints%s%s", NULL, NULL);
		return NULL;
	}
	if (!inited) {
		/* the cluster thread starts once, before any other libcurl user */
		curl_global_init(CURL_GLOBAL_DEFAULT);
		inited = 1;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL || (e->curl = curl_easy_init()) == NULL) {
		free(e);
		fail(err, len, "out of memory%s%s", NULL, NULL);
		return NULL;
	}
	for (i = 0; i < o->nendpoints; i++) {
		size_t n = strlen(o->endpoints[i]);

		if ((e->ep[i] = strdup(o->endpoints[i])) == NULL) {
			etcd_free(e);
			fail(err, len, "out of memory%s%s", NULL, NULL);
			return NULL;
		}
		while (n > 0 && e->ep[i][n - 1] == '/')
			e->ep[i][--n] = '\0';
		e->nep++;
	}
	e->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 1000;
	e->ca = dup_or_null(o->ca);
	e->cert = dup_or_null(o->cert);
	e->key = dup_or_null(o->key);
	e->user = dup_or_null(o->user);
	e->password = dup_or_null(o->password);
	return e;
}

void
etcd_free(struct etcd *e)
{
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < e->nep; i++)
		free(e->ep[i]);
	free(e->ca);
	free(e->cert);
	free(e->key);
	free(e->user);
	free(e->password);
	free(e->token);
	if (e->curl != NULL)
		curl_easy_cleanup(e->curl);
	free(e);
}

const char *
etcd_endpoint(const struct etcd *e)
{
	return e->ep[e->cur];
}

int
etcd_get(struct etcd *e, const char *key, struct etcd_kv *kv, int64_t *revision, char *err,
    size_t len)
{
	char *k = b64(key, strlen(key));
	json_t *req = k != NULL ? json_pack("{s:s}", "key", k) : NULL, *ans, *kvs;
	int r = -1;

	free(k);
	memset(kv, 0, sizeof(*kv));
	if (req == NULL) {
		fail(err, len, "out of memory%s%s", NULL, NULL);
		return -1;
	}
	ans = call(e, "/v3/kv/range", req, err, len);
	json_decref(req);
	if (ans == NULL)
		return -1;
	if (revision != NULL)
		*revision = num(json_object_get(ans, "header"), "revision");
	kvs = json_object_get(ans, "kvs");
	if (json_array_size(kvs) == 0)
		r = 0;
	else if (kv_from_json(json_array_get(kvs, 0), kv) == 0)
		r = 1;
	else
		fail(err, len, "etcd: a key or value that is not base64%s%s", NULL, NULL);
	json_decref(ans);
	return r;
}

int
etcd_cas(struct etcd *e, const char *key, const char *value, size_t vlen, int64_t expected_mod,
    int64_t lease, int64_t *new_mod, struct etcd_kv *cur, char *err, size_t len)
{
	char *k = b64(key, strlen(key)), *v = b64(value, vlen), rev[24], ls[24];
	json_t *req = NULL, *ans, *put, *resp, *kvs;
	int r = -1;

	memset(cur, 0, sizeof(*cur));
	snprintf(rev, sizeof(rev), "%lld", (long long)expected_mod);
	snprintf(ls, sizeof(ls), "%lld", (long long)lease);
	if (k != NULL && v != NULL) {
		put = json_pack("{s:s, s:s}", "key", k, "value", v);
		if (put != NULL && lease != 0)
			json_object_set_new(put, "lease", json_string(ls));
		/* expected_mod 0: the key must not exist (its create_revision is 0) */
		req = put == NULL ? NULL : json_pack("{s:[{s:s, s:s, s:s, s:s}], s:[{s:o}], s:[{s:{s:s}}]}",
		    "compare", "key", k, "target", expected_mod == 0 ? "CREATE" : "MOD",
		    "result", "EQUAL", expected_mod == 0 ? "create_revision" : "mod_revision", rev,
		    "success", "request_put", put,
		    "failure", "request_range", "key", k);
	}
	free(k);
	free(v);
	if (req == NULL) {
		fail(err, len, "out of memory%s%s", NULL, NULL);
		return -1;
	}
	ans = call(e, "/v3/kv/txn", req, err, len);
	json_decref(req);
	if (ans == NULL)
		return -1;
	if (json_is_true(json_object_get(ans, "succeeded"))) {
		/* a put's revision is the store's revision after the txn */
		if (new_mod != NULL)
			*new_mod = num(json_object_get(ans, "header"), "revision");
		r = 1;
	} else {
		resp = json_object_get(json_array_get(json_object_get(ans, "responses"), 0),
		    "response_range");
		kvs = json_object_get(resp, "kvs");
		r = 0;
		if (json_array_size(kvs) > 0 && kv_from_json(json_array_get(kvs, 0), cur) != 0) {
			fail(err, len, "etcd: a key or value that is not base64%s%s", NULL, NULL);
			r = -1;
		}
	}
	json_decref(ans);
	return r;
}

int
etcd_put(struct etcd *e, const char *key, const char *value, size_t vlen, int64_t lease,
    char *err, size_t len)
{
	char *k = b64(key, strlen(key)), *v = b64(value, vlen), ls[24];
	json_t *req = k != NULL && v != NULL ? json_pack("{s:s, s:s}", "key", k, "value", v) : NULL;
	json_t *ans;

	free(k);
	free(v);
	if (req == NULL) {
		fail(err, len, "out of memory%s%s", NULL, NULL);
		return -1;
	}
	if (lease != 0) {
		snprintf(ls, sizeof(ls), "%lld", (long long)lease);
		json_object_set_new(req, "lease", json_string(ls));
	}
	ans = call(e, "/v3/kv/put", req, err, len);
	json_decref(req);
	if (ans == NULL)
		return -1;
	json_decref(ans);
	return 0;
}

int
etcd_delete(struct etcd *e, const char *key, char *err, size_t len)
{
	char *k = b64(key, strlen(key));
	json_t *req = k != NULL ? json_pack("{s:s}", "key", k) : NULL, *ans;

	free(k);
	if (req == NULL) {
		fail(err, len, "out of memory%s%s", NULL, NULL);
		return -1;
	}
	ans = call(e, "/v3/kv/deleterange", req, err, len);
	json_decref(req);
	if (ans == NULL)
		return -1;
	json_decref(ans);
	return 0;
}

int
etcd_list(struct etcd *e, const char *prefix, void (*fn)(void *arg, const struct etcd_kv *kv),
    void *arg, char *err, size_t len)
{
	size_t pl = strlen(prefix), i;
	char *end = malloc(pl + 1), *k, *re;
	json_t *req = NULL, *ans, *kvs;
	int n = 0;

	if (end == NULL || pl == 0) {
		free(end);
		fail(err, len, "a prefix is needed%s%s", NULL, NULL);
		return -1;
	}
	/* range_end: the prefix with its last byte one higher */
	memcpy(end, prefix, pl);
	end[pl - 1] = (char)(end[pl - 1] + 1);
	k = b64(prefix, pl);
	re = b64(end, pl);
	free(end);
	if (k != NULL && re != NULL)
		req = json_pack("{s:s, s:s}", "key", k, "range_end", re);
	free(k);
	free(re);
	if (req == NULL) {
		fail(err, len, "out of memory%s%s", NULL, NULL);
		return -1;
	}
	ans = call(e, "/v3/kv/range", req, err, len);
	json_decref(req);
	if (ans == NULL)
		return -1;
	kvs = json_object_get(ans, "kvs");
	for (i = 0; i < json_array_size(kvs); i++) {
		struct etcd_kv kv;

		if (kv_from_json(json_array_get(kvs, i), &kv) != 0)
			continue;
		fn(arg, &kv);
		etcd_kv_clear(&kv);
		n++;
	}
	json_decref(ans);
	return n;
}

int
etcd_lease_grant(struct etcd *e, int ttl_s, int64_t *id, char *err, size_t len)
{
	json_t *req = json_pack("{s:I}", "TTL", (json_int_t)ttl_s), *ans;

	if (req == NULL)
		return -1;
	ans = call(e, "/v3/lease/grant", req, err, len);
	json_decref(req);
	if (ans == NULL)
		return -1;
	*id = num(ans, "ID");
	json_decref(ans);
	if (*id == 0) {
		fail(err, len, "etcd: no lease granted%s%s", NULL, NULL);
		return -1;
	}
	return 0;
}

/* POST {"ID": id} to path; the answer, or NULL (err).  s gets the id as text. */
static json_t *
lease_call(struct etcd *e, const char *path, int64_t id, char s[24], char *err, size_t len)
{
	json_t *req, *ans;

	snprintf(s, 24, "%lld", (long long)id);
	if ((req = json_pack("{s:s}", "ID", s)) == NULL) {
		fail(err, len, "out of memory%s%s", NULL, NULL);
		return NULL;
	}
	ans = call(e, path, req, err, len);
	json_decref(req);
	return ans;
}

int
etcd_lease_keepalive(struct etcd *e, int64_t id, char *err, size_t len)
{
	char s[24];
	json_t *ans = lease_call(e, "/v3/lease/keepalive", id, s, err, len);
	int64_t ttl;

	if (ans == NULL)
		return -1;
	/* a stream of one answer: {"result":{"ID":..,"TTL":..}}; no TTL: gone */
	ttl = num(json_object_get(ans, "result"), "TTL");
	json_decref(ans);
	if (ttl <= 0) {
		fail(err, len, "etcd: lease %s is gone%s", s, NULL);
		return -1;
	}
	return 0;
}

int
etcd_lease_revoke(struct etcd *e, int64_t id, char *err, size_t len)
{
	char s[24];
	json_t *ans = lease_call(e, "/v3/lease/revoke", id, s, err, len);

	if (ans == NULL)
		return -1;
	json_decref(ans);
	return 0;
}

/* ---- watch --------------------------------------------------------------- */

struct watch {
	struct buf b;
	int (*fn)(void *arg, const struct etcd_kv *kv, int deleted);
	void *arg;
	const atomic_int *stop;
	int done;                     /* fn ended it */
	int created;                  /* the server said the watch exists */
};

/* One message of the stream: {"result":{"created":true}} or
 * {"result":{"events":[{"type":"DELETE","kv":{...}}, ...]}}. */
static void
watch_message(struct watch *w, const char *line)
{
	json_t *j = json_loads(line, 0, NULL), *res, *evs;
	size_t i;

	if (j == NULL)
		return;
	res = json_object_get(j, "result");
	if (json_is_true(json_object_get(res, "created")))
		w->created = 1;
	evs = json_object_get(res, "events");
	for (i = 0; !w->done && i < json_array_size(evs); i++) {
		json_t *ev = json_array_get(evs, i);
		const char *type = json_string_value(json_object_get(ev, "type"));
		struct etcd_kv kv;

		if (kv_from_json(json_object_get(ev, "kv"), &kv) != 0)
			continue;
		if (w->fn(w->arg, &kv, type != NULL && strcmp(type, "DELETE") == 0) != 0)
			w->done = 1;
		etcd_kv_clear(&kv);
	}
	json_decref(j);
}

static size_t
watch_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct watch *w = arg;
	size_t n = size * nmemb;
	char *nl;

	collect(p, size, nmemb, &w->b);
	if (w->b.over)
		return 0;               /* a message past 16 MiB: the watch fails */
	/* messages end at a newline (grpc-gateway's stream delimiter) */
	while (!w->done && w->b.p != NULL && (nl = memchr(w->b.p, '\n', w->b.n)) != NULL) {
		*nl = '\0';
		watch_message(w, w->b.p);
		w->b.n -= (size_t)(nl + 1 - w->b.p);
		memmove(w->b.p, nl + 1, w->b.n);
		w->b.p[w->b.n] = '\0';
	}
	return w->done ? 0 : n;
}

static int
watch_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct watch *w = arg;

	(void)a;
	(void)b;
	(void)c;
	(void)d;
	return w->done || (w->stop != NULL && atomic_load(w->stop)) ? 1 : 0;
}

int
etcd_watch(struct etcd *e, const char *key, int64_t from_rev,
    int (*fn)(void *arg, const struct etcd_kv *kv, int deleted), void *arg,
    const atomic_int *stop, char *err, size_t len)
{
	struct watch w = { { NULL, 0, 0, 0 }, fn, arg, stop, 0, 0 };
	char *k = b64(key, strlen(key)), rev[24], url[512], *body = NULL;
	json_t *req = NULL;
	struct curl_slist *h;
	CURLcode rc;

	snprintf(rev, sizeof(rev), "%lld", (long long)from_rev);
	if (k != NULL)
		req = json_pack("{s:{s:s, s:s}}", "create_request", "key", k, "start_revision", rev);
	free(k);
	if (req != NULL)
		body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (body == NULL) {
		fail(err, len, "out of memory%s%s", NULL, NULL);
		return -1;
	}
	if (e->user != NULL && e->token == NULL && authenticate(e, e->cur, err, len) == -1) {
		free(body);
		e->cur = (e->cur + 1) % e->nep;
		return -1;
	}
	snprintf(url, sizeof(url), "%s/v3/watch", e->ep[e->cur]);
	h = headers(e);
	setup(e, url, body, h);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, watch_data);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &w);
	curl_easy_setopt(e->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e->curl, CURLOPT_XFERINFOFUNCTION, watch_progress);
	curl_easy_setopt(e->curl, CURLOPT_XFERINFODATA, &w);
	rc = curl_easy_perform(e->curl);
	curl_slist_free_all(h);
	free(body);
	free(w.b.p);
	if (w.done || (stop != NULL && atomic_load(stop)))
		return 1;
	fail(err, len, "etcd %s: watch ended: %s", e->ep[e->cur],
	    rc == CURLE_OK ? "the server closed it" : curl_easy_strerror(rc));
	/* the next attempt goes to the next endpoint */
	e->cur = (e->cur + 1) % e->nep;
	return -1;
}
