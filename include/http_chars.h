/*
 * http_chars.h - the byte classes of the HTTP grammars (RFC 9110, 3986),
 * shared by the head parser (http_parse.c) and the chunked scanner
 * (http_chunked.c).  Internal to those two.
 */
#ifndef BGPROXY_HTTP_CHARS_H
#define BGPROXY_HTTP_CHARS_H

#include <stdint.h>

/* character classes (bits of http_cclass[]) */
#define C_TCHAR  0x01  /* RFC 9110 tchar */
#define C_VALUE  0x02  /* field-value byte: HTAB SP VCHAR obs-text */
#define C_TARGET 0x04  /* request-target byte: VCHAR */
#define C_HOST   0x08  /* authority byte: unreserved sub-delims ":" "[" "]" "%" */
#define C_HEX    0x10  /* HEXDIG */
#define C_QDTEXT 0x20  /* quoted-string qdtext */

/* generated once from the RFC 9110 / 3986 grammars; 0x7f and CTLs are 0 */
extern const uint8_t http_cclass[256];

#define IS(c, cls) ((http_cclass[(unsigned char)(c)] & (cls)) != 0)
#define IS_OWS(c) ((c) == ' ' || (c) == '\t')

#endif
