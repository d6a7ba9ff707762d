/*
 * jsonx.h - small helpers over jansson for the admin socket's JSON.
 */
#ifndef BGPROXY_JSONX_H
#define BGPROXY_JSONX_H

#include <jansson.h>

/* A JSON string of s, which may hold any bytes: invalid UTF-8 sequences
 * become U+FFFD, so a hostile command line still gives valid JSON.  NULL s
 * gives null. */
json_t *jsonx_str(const char *s);

/* The same, but "" gives null too. */
json_t *jsonx_str_or_null(const char *s);

#endif
