/*
 * access_log.h - one JSON line of the access log (access_log.c).
 */
#ifndef BGPROXY_ACCESS_LOG_H
#define BGPROXY_ACCESS_LOG_H

#include <stddef.h>
#include <stdint.h>

/* What one line says; NULL strings are written as null (service, pool,
 * server, sni) or left out (tls_version: no TLS fields at all). */
struct access_line {
	const char *time;             /* ISO 8601, clock_iso_now */
	const char *client;
	const char *method;
	const char *path;
	int status;
	uint64_t bytes;
	const char *service;          /* the service the request went to */
	const char *pool;
	const char *server;
	const char *term;             /* how the exchange ended (NULL: left out) */
	const char *upstream_proto;   /* what its server spoke (NULL: no server reached, left out) */
	int has_grpc;                 /* a gRPC answer: grpc_status is written */
	int grpc_status;
	double duration_ms;
	const char *request_id;
	const char *proto;            /* "http/1.1", "h2" (NULL: "http/1.1") */
	int tls;
	const char *tls_version;
	const char *sni;
};

/* The longest line access_log_format writes: every field at its longest
 * escaped form fits, so a line is always whole JSON. */
#define ACCESS_LINE_MAX 4096

/* Format a as one JSON object and a newline into out (ACCESS_LINE_MAX
 * bytes); every string is escaped.  Returns the length. */
size_t access_log_format(const struct access_line *a, char out[ACCESS_LINE_MAX]);

#endif
