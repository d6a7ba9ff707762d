/*
 * log.h - the error log (levels, one line each, to stderr) and the access
 * log (one JSON object a line, buffered per worker thread).
 */
#ifndef BGPROXY_LOG_H
#define BGPROXY_LOG_H

#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern int log_level_cur;

#define log_enabled(lvl) ((lvl) <= log_level_cur)

/* Thread-safe; one write(2) per line. */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  do { if (log_enabled(LOG_INFO)) log_msg(LOG_INFO, __VA_ARGS__); } while (0)
#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

/*
 * Open the access log: a path (appended to), "stderr" or "off".  Returns 0
 * or -1 with err filled.  Called from the main thread before workers start,
 * and again (same spec) on SIGUSR1 to reopen a rotated file.
 */
int log_access_open(const char *spec, char *err, size_t errlen);
int log_access_enabled(void);

/* A per-thread buffer for access-log lines; flushed when nearly full and
 * by the owner's timer, so the hot path makes no syscall per request. */
struct log_buf {
	char data[65536];
	size_t len;
};

/* Append one complete line (ending in '\n') to b, flushing first if needed. */
void log_buf_append(struct log_buf *b, const char *line, size_t len);
void log_buf_flush(struct log_buf *b);

/* Append s to out as a JSON string body (no quotes), escaping as needed;
 * returns bytes written, never more than cap. */
size_t log_json_escape(char *out, size_t cap, const char *s, size_t n);

#endif
