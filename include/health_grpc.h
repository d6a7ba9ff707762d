/*
 * health_grpc.h - health checks over HTTP/2 (health_grpc.c): the gRPC
 * Health Checking Protocol (health.type = "grpc"), and the HTTP check of a
 * pool whose servers speak HTTP/2.  One HTTP/2 stream on a connection
 * of its own (prior knowledge over TCP, ALPN h2 over the pool's TLS),
 * `POST /grpc.health.v1.Health/Check` with the service named by
 * health.grpc_service ("" : the server as a whole); an answer of HTTP 200,
 * grpc-status 0 and status SERVING passes, anything else fails and says why.
 */
#ifndef BGPROXY_HEALTH_GRPC_H
#define BGPROXY_HEALTH_GRPC_H

#include <stddef.h>

#include <event2/bufferevent.h>

#include "health_parse.h"

struct health_grpc;

/* A check on bev (its connect may still be under way: what is written
 * waits), the request queued.  authority: the :authority sent; tls: the
 * :scheme is https.  NULL when out of memory. */
struct health_grpc *health_grpc_start(struct bufferevent *bev, const char *authority,
    const char *service, int tls);

/* Bytes arrived in bev's input: HEALTH_MORE, or HEALTH_PASS / HEALTH_FAIL
 * with why (as health_judge). */
enum health_verdict health_grpc_read(struct health_grpc *g, char *why, size_t whylen);

/* The server closed: the verdict if the answer was whole, else a failure. */
enum health_verdict health_grpc_eof(struct health_grpc *g, char *why, size_t whylen);

/* An HTTP GET of path over HTTP/2 (a pool whose servers speak it): a final
 * 2xx or 3xx passes, as health_judge over HTTP/1.1.  Read, ended and freed
 * as a gRPC check. */
struct health_grpc *health_h2_get_start(struct bufferevent *bev, const char *authority,
    const char *path, int tls);

/* The connection (and its TLS handshake) is up: the request goes. */
int health_grpc_connected(struct health_grpc *g);

void health_grpc_free(struct health_grpc *g);

/*
 * The verdict on a Health/Check answer (pure, for tests): HTTP status,
 * grpc-status (-1: none came), grpc-message, and the response message as
 * it came in DATA (the 5-byte gRPC prefix first).
 */
enum health_verdict health_grpc_judge(int http_status, int grpc_status, const char *grpc_message,
    const unsigned char *msg, size_t len, char *why, size_t whylen);

#endif
