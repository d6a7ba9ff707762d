/*
 * http_words.c - the protocol's words bgproxy, its demo upstream and its
 * tests share: the reason phrase of a status, and which methods may be
 * sent again.  Pure.
 */
#include <string.h>

#include "http_parse.h"

const char *http_status_text(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 102: return "Processing";
	case 103: return "Early Hints";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	}
	return "Unknown";
}

int
http_method_idempotent(int m)
{
	return m == HTTP_M_GET || m == HTTP_M_HEAD || m == HTTP_M_OPTIONS || m == HTTP_M_TRACE ||
	    m == HTTP_M_PUT || m == HTTP_M_DELETE;
}

/* "0".."16": the code, else -1 */
static int
http_grpc_code(const char *v, size_t n)
{
	int code = 0;

	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' || v[n - 1] == '\n'))
		n--;
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	if (n == 0 || n > 2)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		code = code * 10 + (v[i] - '0');
	}
	return code <= 16 ? code : -1;
}

int
http_grpc_status(const struct http_msg *m)
{
	for (size_t i = 0; i < m->nhdr; i++)
		if (http_token_eq(m->hdr[i].name, m->hdr[i].name_len, "grpc-status"))
			return http_grpc_code(m->hdr[i].value, m->hdr[i].value_len);
	return -1;
}

int
http_grpc_status_line(const char *p, size_t n)
{
	const char *colon = memchr(p, ':', n);

	if (colon == NULL || !http_token_eq(p, (size_t)(colon - p), "grpc-status"))
		return -1;
	return http_grpc_code(colon + 1, n - (size_t)(colon + 1 - p));
}

int
http_is_grpc(const struct http_msg *m)
{
	for (size_t i = 0; i < m->nhdr; i++) {
		const struct http_header *h = &m->hdr[i];

		if (!http_token_eq(h->name, h->name_len, "content-type"))
			continue;
		/* application/grpc, then the end, "+" (a format) or ";" */
		return h->value_len >= 16 && http_token_eq(h->value, 16, "application/grpc") &&
		    (h->value_len == 16 || h->value[16] == '+' || h->value[16] == ';');
	}
	return 0;
}

int
http_takes_trailers(const struct http_msg *m)
{
	for (size_t i = 0; i < m->nhdr; i++) {
		const struct http_header *h = &m->hdr[i];
		size_t k = 0, s, e;

		if (h->id != HDR_TE)
			continue;
		/* a list of "token [; params]" */
		while (k < h->value_len) {
			while (k < h->value_len && (h->value[k] == ' ' || h->value[k] == '\t' ||
			    h->value[k] == ','))
				k++;
			s = k;
			while (k < h->value_len && h->value[k] != ',' && h->value[k] != ';' &&
			    h->value[k] != ' ' && h->value[k] != '\t')
				k++;
			e = k;
			if (e > s && http_token_eq(h->value + s, e - s, "trailers"))
				return 1;
			while (k < h->value_len && h->value[k] != ',')
				k++;
		}
	}
	return 0;
}

int
http_grpc_for_status(int status)
{
	switch (status) {
	case 400: return 13;
	case 401: return 16;
	case 403: return 7;
	case 404: return 12;
	case 429: case 502: case 503: case 504: return 14;
	default: return 2;
	}
}
