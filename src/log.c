/*
 * log.c - error log and access log.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

int log_level_cur = LOG_INFO;

static const char *log_level_names[] = { "error", "warn", "info", "debug" };

/* -1: off.  The descriptor number never changes once open: a reopen dup2()s
 * the new file onto it, so workers never see a closed or reused fd. */
static int log_access_fd = -1;

void
log_msg(int level, const char *fmt, ...)
{
	char line[2048], msg[2048];
	va_list ap;
	int n, m, i;

	if (level > log_level_cur)
		return;
	n = clock_iso_now(line, sizeof(line));
	n += snprintf(line + n, sizeof(line) - n, " bgproxy[%d]: %s: ", (int)getpid(),
	    log_level_names[level]);
	va_start(ap, fmt);
	m = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	if (m > (int)sizeof(msg) - 1)
		m = sizeof(msg) - 1;
	/* one line, whatever the message holds: a control byte (an admin
	 * line's, a peer's) is written as \xNN, never raw to a terminal or a
	 * log reader */
	for (i = 0; i < m && n < (int)sizeof(line) - 6; i++) {
		unsigned char ch = (unsigned char)msg[i];

		if (ch < 0x20 || ch == 0x7f)
			n += snprintf(line + n, sizeof(line) - n, "\\x%02x", ch);
		else
			line[n++] = (char)ch;
	}
	line[n++] = '\n';
	/* one write per line keeps lines from different threads whole */
	if (write(STDERR_FILENO, line, n) == -1)
		return;
}

int
log_access_open(const char *spec, char *err, size_t errlen)
{
	int fd;

	if (spec == NULL || strcmp(spec, "off") == 0) {
		log_access_fd = -1;
		return 0;
	}
	if (strcmp(spec, "stderr") == 0) {
		log_access_fd = STDERR_FILENO;
		return 0;
	}
	fd = open(spec, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1) {
		snprintf(err, errlen, "cannot open access log \"%s\": %s", spec, strerror(errno));
		return -1;
	}
	if (log_access_fd == -1 || log_access_fd == STDERR_FILENO) {
		log_access_fd = fd;
		return 0;
	}
	if (dup2(fd, log_access_fd) == -1) {
		snprintf(err, errlen, "cannot reopen access log \"%s\": %s", spec, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int
log_access_enabled(void)
{
	return log_access_fd != -1;
}

void
log_buf_flush(struct log_buf *b)
{
	size_t off = 0;
	ssize_t n;

	while (off < b->len && log_access_fd != -1) {
		n = write(log_access_fd, b->data + off, b->len - off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			break;          /* a full disk must not stop traffic */
		}
		off += (size_t)n;
	}
	b->len = 0;
}

void
log_buf_append(struct log_buf *b, const char *line, size_t len)
{
	if (log_access_fd == -1)
		return;
	if (b->len + len > sizeof(b->data))
		log_buf_flush(b);
	if (len > sizeof(b->data))
		len = sizeof(b->data);
	memcpy(b->data + b->len, line, len);
	b->len += len;
}

size_t
log_json_escape(char *out, size_t cap, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			if (o + 2 > cap)
				break;
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			if (o + 6 > cap)
				break;
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[c >> 4];
			out[o + 5] = hex[c & 15];
			o += 6;
		} else {
			if (o + 1 > cap)
				break;
			out[o++] = (char)c;
		}
	}
	return o;
}
