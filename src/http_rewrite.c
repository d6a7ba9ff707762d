/*
 * http_rewrite.c - the request head bgproxy sends to a server and the
 * response head it sends to a client, built from the parsed heads.
 * Pure: see http_rewrite.h.
 */
#include <string.h>

#include "http_rewrite.h"

#define APPEND(p, str, n) do { memcpy((p), (str), (n)); (p) += (n); } while (0)
#define APPEND_LIT(p, lit) APPEND(p, lit, sizeof(lit) - 1)

/* X-Forwarded-For headers merged into ours, at most */
#define HTTP_REWRITE_MAX_XFF 16

size_t
http_rewrite_request_max(const struct http_msg *m, size_t peer_len)
{
	size_t need = m->head_len + peer_len + 256, i;

	for (i = 0; i < m->nhdr; i++)
		if (m->hdr[i].id == HDR_X_FORWARDED_FOR)
			need += 2;
	if (m->target_form == HTTP_TARGET_ABSOLUTE)
		need += m->authority_len + 8;
	return need;
}

size_t
http_rewrite_request(const struct http_msg *m, struct http_rewrite_req *rq, char *out)
{
	const struct http_header *xff[HTTP_REWRITE_MAX_XFF];
	size_t nxff = 0, i;
	char *p = out;

	rq->reqid = NULL;
	rq->reqid_len = 0;
	APPEND(p, m->method, m->method_len);
	*p++ = ' ';
	APPEND(p, m->path, m->path_len);
	if (m->version_minor == 1)
		APPEND_LIT(p, " HTTP/1.1\r\n");
	else
		APPEND_LIT(p, " HTTP/1.0\r\n");
	if (m->target_form == HTTP_TARGET_ABSOLUTE) {
		/* RFC 9112 3.2.2: the authority of an absolute-form target wins */
		APPEND_LIT(p, "Host: ");
		APPEND(p, m->authority, m->authority_len);
		APPEND_LIT(p, "\r\n");
	}
	for (i = 0; i < m->nhdr; i++) {
		const struct http_header *h = &m->hdr[i];

		if (h->flags & HTTP_HDR_HOP)
			continue;
		switch (h->id) {
		case HDR_X_FORWARDED_FOR:
			if (nxff < HTTP_REWRITE_MAX_XFF && h->value_len > 0)
				xff[nxff++] = h;
			continue;
		case HDR_X_FORWARDED_PROTO:
			continue;
		case HDR_HOST:
			if (m->target_form == HTTP_TARGET_ABSOLUTE)
				continue;
			break;
		case HDR_X_REQUEST_ID:
			if (h->value_len > 0 && rq->reqid == NULL) {
				rq->reqid = h->value;
				rq->reqid_len = h->value_len;
			}
			break;
		default:
			break;
		}
		APPEND(p, h->line, h->line_len);
	}
	APPEND_LIT(p, "X-Forwarded-For: ");
	for (i = 0; i < nxff; i++) {
		APPEND(p, xff[i]->value, xff[i]->value_len);
		APPEND_LIT(p, ", ");
	}
	APPEND(p, rq->peer, rq->peer_len);
	if (rq->tls)
		APPEND_LIT(p, "\r\nX-Forwarded-Proto: https\r\n");
	else
		APPEND_LIT(p, "\r\nX-Forwarded-Proto: http\r\n");
	if (rq->reqid == NULL) {
		APPEND_LIT(p, "X-Request-Id: ");
		APPEND(p, rq->new_reqid, 32);
		APPEND_LIT(p, "\r\n");
		rq->reqid = rq->new_reqid;
		rq->reqid_len = 32;
	}
	if (rq->upgrade)
		APPEND_LIT(p, "Connection: Upgrade\r\nUpgrade: websocket\r\n");
	else if (m->version_minor == 0)
		APPEND_LIT(p, "Connection: keep-alive\r\n");
	APPEND_LIT(p, "\r\n");
	return (size_t)(p - out);
}

int
http_set_cookie_is(const char *val, size_t len, const char *name, size_t name_len)
{
	size_t ns = 0, ne;

	while (ns < len && (val[ns] == ' ' || val[ns] == '\t'))
		ns++;
	for (ne = ns; ne < len && val[ne] != '=' && val[ne] != ';'; ne++)
		;
	if (ne == len || val[ne] != '=')
		return 0;
	while (ne > ns && (val[ne - 1] == ' ' || val[ne - 1] == '\t'))
		ne--;
	return name_len > 0 && ne - ns == name_len && memcmp(val + ns, name, name_len) == 0;
}

size_t
http_rewrite_response_max(const struct http_msg *m)
{
	/* ours: Set-Cookie with a cookie name and key of at most 256 bytes
	 * each, Connection, X-Bgproxy-Pool */
	return m->head_len + 1024;
}

int
http_rewrite_resp_keep(const struct http_msg *m, const struct http_header *h,
    const struct http_rewrite_resp *rs)
{
	if (h->flags & HTTP_HDR_HOP)
		return 0;
	/* RFC 9110 8.6: no Content-Length on a 1xx or 204 */
	if (h->id == HDR_CONTENT_LENGTH && (m->status < 200 || m->status == 204 ||
	    (rs->h2 && m->status == 101)))
		return 0;
	if (rs->h2 && (h->id == HDR_TRANSFER_ENCODING || (m->status == 101 &&
	    http_token_eq(h->name, h->name_len, "sec-websocket-accept"))))
		return 0;
	/* an HTTP/1.0 client gets the body unframed, ended by the close */
	if (!rs->h2 && rs->req_minor == 0 && h->id == HDR_TRANSFER_ENCODING)
		return 0;
	/* our cookie, set by us: the server's would be a second one */
	return !(rs->cookie != NULL && h->id == HDR_OTHER && h->name_len == 10 &&
	    http_token_eq(h->name, h->name_len, "set-cookie") &&
	    http_set_cookie_is(h->value, h->value_len, rs->cookie, rs->cookie_len));
}

size_t
http_rewrite_set_cookie(const struct http_rewrite_resp *rs, char *out)
{
	char *p = out;

	if (rs->cookie == NULL)
		return 0;
	APPEND(p, rs->cookie, rs->cookie_len);
	*p++ = '=';
	APPEND(p, rs->key, rs->key_len);
	APPEND_LIT(p, "; Path=/; HttpOnly; SameSite=Lax");
	return (size_t)(p - out);
}

size_t
http_rewrite_response(const struct http_msg *m, const char *raw,
    const struct http_rewrite_resp *rs, char *out)
{
	const char *line_end = memchr(raw, '\r', m->head_len);
	char *p = out;
	size_t i;

	/* status line: our version, the server's code and reason */
	APPEND_LIT(p, "HTTP/1.1");
	APPEND(p, raw + 8, (size_t)(line_end - raw) - 8);
	APPEND_LIT(p, "\r\n");
	for (i = 0; i < m->nhdr; i++)
		if (http_rewrite_resp_keep(m, &m->hdr[i], rs))
			APPEND(p, m->hdr[i].line, m->hdr[i].line_len);
	if (m->status == 101) {
		APPEND_LIT(p, "Connection: Upgrade\r\nUpgrade: websocket\r\n");
	} else if (m->status >= 200) {
		if (rs->cookie != NULL) {
			APPEND_LIT(p, "Set-Cookie: ");
			p += http_rewrite_set_cookie(rs, p);
			APPEND_LIT(p, "\r\n");
		}
		if (!rs->keepalive)
			APPEND_LIT(p, "Connection: close\r\n");
		else if (rs->req_minor == 0)
			APPEND_LIT(p, "Connection: keep-alive\r\n");
	}
	if (rs->pool != NULL && m->status >= 200) {
		APPEND_LIT(p, "X-Bgproxy-Pool: ");
		APPEND(p, rs->pool, strlen(rs->pool));
		APPEND_LIT(p, "\r\n");
	}
	APPEND_LIT(p, "\r\n");
	return (size_t)(p - out);
}
