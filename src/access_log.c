/*
 * access_log.c - one JSON line of the access log: what an exchange did,
 * each string escaped (log_json_escape), the line bounded.
 */
#include <stdio.h>
#include <string.h>

#include "access_log.h"
#include "log.h"

/* Append s escaped (at most esc_cap bytes of escaped text) as a JSON string. */
static size_t
put_str(char *out, size_t n, size_t cap, const char *s, size_t esc_cap)
{
	char esc[768];
	size_t e;

	if (esc_cap > sizeof(esc))
		esc_cap = sizeof(esc);
	e = log_json_escape(esc, esc_cap, s, strlen(s));
	if (n + e + 2 >= cap)
		return n;
	out[n++] = '"';
	memcpy(out + n, esc, e);
	n += e;
	out[n++] = '"';
	return n;
}

/* Append s as put_str does, or null for NULL. */
static size_t
put_str_or_null(char *out, size_t n, size_t cap, const char *s, size_t esc_cap)
{
	if (s != NULL)
		return put_str(out, n, cap, s, esc_cap);
	if (n + 5 < cap) {
		memcpy(out + n, "null", 4);
		n += 4;
	}
	return n;
}

/* Append literal text, as far as it fits. */
static size_t
put_lit(char *out, size_t n, size_t cap, const char *lit)
{
	size_t l = strlen(lit);

	if (n + l >= cap)
		return n;
	memcpy(out + n, lit, l);
	return n + l;
}

size_t
access_log_format(const struct access_line *a, char out[ACCESS_LINE_MAX])
{
	const size_t cap = ACCESS_LINE_MAX - 2;   /* room for "}\n" */
	char num[96];
	size_t n = 0;

	n = put_lit(out, n, cap, "{\"time\":");
	n = put_str(out, n, cap, a->time, 64);
	n = put_lit(out, n, cap, ",\"client\":");
	n = put_str(out, n, cap, a->client, 128);
	n = put_lit(out, n, cap, ",\"method\":");
	n = put_str(out, n, cap, a->method, 96);
	n = put_lit(out, n, cap, ",\"path\":");
	n = put_str(out, n, cap, a->path, 768);
	snprintf(num, sizeof(num), ",\"status\":%d,\"bytes\":%llu,\"service\":", a->status,
	    (unsigned long long)a->bytes);
	n = put_lit(out, n, cap, num);
	n = put_str_or_null(out, n, cap, a->service, 64);
	n = put_lit(out, n, cap, ",\"pool\":");
	n = put_str_or_null(out, n, cap, a->pool, 16);
	n = put_lit(out, n, cap, ",\"server\":");
	n = put_str_or_null(out, n, cap, a->server, 128);
	if (a->term != NULL) {
		n = put_lit(out, n, cap, ",\"term\":");
		n = put_str(out, n, cap, a->term, 32);
	}
	if (a->upstream_proto != NULL) {
		n = put_lit(out, n, cap, ",\"upstream_proto\":");
		n = put_str(out, n, cap, a->upstream_proto, 16);
	}
	if (a->has_grpc) {
		snprintf(num, sizeof(num), ",\"grpc_status\":%d", a->grpc_status);
		n = put_lit(out, n, cap, num);
	}
	snprintf(num, sizeof(num), ",\"duration_ms\":%.3f,\"request_id\":", a->duration_ms);
	n = put_lit(out, n, cap, num);
	n = put_str(out, n, cap, a->request_id, 767);
	n = put_lit(out, n, cap, ",\"proto\":");
	n = put_str(out, n, cap, a->proto != NULL ? a->proto : "http/1.1", 16);
	n = put_lit(out, n, cap, a->tls ? ",\"tls\":true" : ",\"tls\":false");
	if (a->tls && a->tls_version != NULL) {
		n = put_lit(out, n, cap, ",\"tls_version\":");
		n = put_str(out, n, cap, a->tls_version, 32);
		n = put_lit(out, n, cap, ",\"sni\":");
		n = put_str_or_null(out, n, cap, a->sni, 200);
	}
	out[n++] = '}';
	out[n++] = '\n';
	return n;
}
