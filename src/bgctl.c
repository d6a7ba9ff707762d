/*
 * bgctl.c - the operator's client for the bgproxy admin socket.
 *
 * bgctl [-s SOCKET] [--json] COMMAND [ARGS...] sends the words as one line,
 * reads one answer (first line "OK" or "ERR <reason>", body lines, an empty
 * line) and maps it to an exit status: 0 OK, 1 ERR or a usage error, 2 when
 * the socket cannot be reached, the answer times out or is broken.
 *
 * "bgctl status" asks for "json status" and renders it for humans, so the
 * server keeps a single status implementation. That is why a small strict
 * JSON reader lives here: bgctl links nothing but libc.
 */
#include <errno.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef BGPROXY_VERSION
#define BGPROXY_VERSION "0.0.0"
#endif

#define BGCTL_DEFAULT_SOCKET	"/run/bgproxy/admin.sock"
#define BGCTL_CMD_MAX		4096		/* the server's line limit */
#define BGCTL_ANSWER_MAX	(16u << 20)	/* refuse answers above 16 MB */
#define BGCTL_TIMEOUT_MS	10000		/* silence that ends the wait */
#define BGCTL_JSON_DEPTH	64
#define BGCTL_JSON_NODES	1000000
#define BGCTL_BAR		16		/* share bar width, keeps rows < 80 */

enum bgctl_exit {
	BGCTL_EXIT_OK = 0,	/* the server answered OK */
	BGCTL_EXIT_ERR = 1,	/* the server answered ERR, or a usage error */
	BGCTL_EXIT_FAIL = 2	/* unreachable, timeout, broken answer */
};

struct bgctl_opts {
	const char	*o_socket;
	bool		 o_json;
	bool		 o_status;	/* plain "status": fetch JSON, render */
	char		*o_line;	/* the line to send, without "\n" */
	size_t		 o_len;
	int		 o_timeout_ms;
	int		 o_nwords;	/* command words left after the options */
};

/* How reading an answer ended. */
enum bgctl_recv {
	BGCTL_RECV_DONE,	/* the empty line arrived */
	BGCTL_RECV_CLOSED,	/* the server closed before the empty line */
	BGCTL_RECV_TIMEOUT,	/* nothing arrived for the timeout */
	BGCTL_RECV_FAIL		/* read error or answer too large; see err */
};

struct bgctl_answer {
	char	*a_buf;
	size_t	 a_len;
	size_t	 a_cap;
	size_t	 a_scan;	/* next byte to look at for '\n' */
	size_t	 a_line;	/* start of the line being scanned */
	size_t	 a_first_end;	/* end of the first line (no "\r\n"), 0: none yet */
	size_t	 a_body;	/* start of the body, after the first line */
	size_t	 a_body_end;	/* start of the closing empty line */
	bool	 a_have_first;
};

enum bgctl_jtype {
	BGCTL_J_NULL,
	BGCTL_J_FALSE,
	BGCTL_J_TRUE,
	BGCTL_J_NUM,
	BGCTL_J_STR,
	BGCTL_J_ARR,
	BGCTL_J_OBJ
};

/* One JSON value; arrays and objects chain their children by j_next. */
struct bgctl_json {
	enum bgctl_jtype	 j_type;
	double			 j_num;
	char			*j_str;		/* BGCTL_J_STR: UTF-8, no NUL inside */
	char			*j_key;		/* member name when inside an object */
	struct bgctl_json	*j_child;
	struct bgctl_json	*j_next;
};

struct bgctl_jparser {
	const char	*jp_start;
	const char	*jp_p;
	const char	*jp_end;
	int		 jp_depth;
	size_t		 jp_nodes;
	char		 jp_err[96];
};

static struct bgctl_json *bgctl_json_value(struct bgctl_jparser *);

/* ---------------------------------------------------------------- options */

static void
bgctl_usage(FILE *f)
{
	fprintf(f,
	    "usage: bgctl [-s SOCKET] [--json] COMMAND [ARGS...]\n"
	    "       bgctl -h | -V\n"
	    "\n"
	    "Sends one command to the bgproxy admin socket and prints the answer.\n"
	    "  -s, --socket PATH  the admin socket (default: $BGPROXY_SOCKET,\n"
	    "                     else " BGCTL_DEFAULT_SOCKET ")\n"
	    "      --json         ask for the JSON answer and print it unchanged\n"
	    "  -h, --help         print this help\n"
	    "  -V, --version      print the version\n"
	    "Options may go before or after the command. Commands (\"bgctl help\" asks\n"
	    "the server):\n"
	    "  status | show servers | show events [N] | help | reload\n"
	    "  set weight POOL PERCENT | switch POOL | promote | revert\n"
	    "  rollout start POOL [steps A,B,C] [hold SECONDS]\n"
	    "  rollout pause | resume | next | abort\n"
	    "  server POOL ADDRESS drain | disable | enable\n"
	    "Exit status: 0 OK, 1 ERR or usage error, 2 socket unreachable, timeout\n"
	    "or broken answer.\n");
}

/* Joins the words with single spaces; refuses what cannot be one line. */
static int
bgctl_join(struct bgctl_opts *o, char **words, int nwords, char *err, size_t errlen)
{
	const char *prefix = o->o_json || o->o_status ? "json " : "";
	size_t len = strlen(prefix), off;
	int i;

	for (i = 0; i < nwords; i++)
		len += strlen(words[i]) + 1;
	if ((o->o_line = malloc(len + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	off = (size_t)snprintf(o->o_line, len + 1, "%s", prefix);
	for (i = 0; i < nwords; i++)
		off += (size_t)snprintf(o->o_line + off, len + 1 - off, "%s%s",
		    i ? " " : "", words[i]);
	o->o_len = off;
	if (strpbrk(o->o_line, "\r\n") != NULL) {
		snprintf(err, errlen, "the command must not contain a line break");
		return -1;
	}
	if (o->o_len > BGCTL_CMD_MAX) {
		snprintf(err, errlen, "the command is %zu bytes, at most %d are allowed",
		    o->o_len, BGCTL_CMD_MAX);
		return -1;
	}
	return 0;
}

/* A test hook: BGCTL_TIMEOUT_MS shortens the wait; bad values are ignored. */
static int
bgctl_timeout_ms(void)
{
	const char *s = getenv("BGCTL_TIMEOUT_MS");
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return BGCTL_TIMEOUT_MS;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0 || v > 3600000)
		return BGCTL_TIMEOUT_MS;
	return (int)v;
}

/*
 * Options after the command ("bgctl status --json", "bgctl show events -s
 * SOCK"): --json, -s/--socket are taken out of the words wherever they
 * stand; "--" ends them.  Any other word starting with "-" stays a word
 * ("set weight green -1" is the server's to refuse).  Compacts argv from
 * optind in place; o->o_nwords is what is left.  -1 on a missing value.
 */
static int
bgctl_late_options(int argc, char **argv, struct bgctl_opts *o)
{
	int i, n = optind, opts = 1;

	for (i = optind; i < argc; i++) {
		const char *a = argv[i];

		if (opts && strcmp(a, "--") == 0) {
			opts = 0;
		} else if (opts && strcmp(a, "--json") == 0) {
			o->o_json = true;
		} else if (opts && (strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0)) {
			if (i + 1 == argc) {
				fprintf(stderr, "bgctl: %s needs a socket path\n", a);
				return -1;
			}
			o->o_socket = argv[++i];
		} else if (opts && strncmp(a, "--socket=", 9) == 0) {
			o->o_socket = a + 9;
		} else {
			argv[n++] = argv[i];
		}
	}
	o->o_nwords = n - optind;
	return 0;
}

/* Returns -1 to go on, else the exit status main should return. */
static int
bgctl_options(int argc, char **argv, struct bgctl_opts *o)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	char err[128];
	int c, first;

	/* "+": stop at the first word, so "set weight green -1" stays intact */
	while ((c = getopt_long(argc, argv, "+s:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 's': o->o_socket = optarg; break;
		case 'j': o->o_json = true; break;
		case 'h': bgctl_usage(stdout); return BGCTL_EXIT_OK;
		case 'V': printf("bgctl %s\n", BGPROXY_VERSION); return BGCTL_EXIT_OK;
		default: bgctl_usage(stderr); return BGCTL_EXIT_ERR;
		}
	}
	if (bgctl_late_options(argc, argv, o) == -1) {
		bgctl_usage(stderr);
		return BGCTL_EXIT_ERR;
	}
	argc = o->o_nwords + optind;
	if (o->o_socket == NULL || *o->o_socket == '\0')
		o->o_socket = getenv("BGPROXY_SOCKET");
	if (o->o_socket == NULL || *o->o_socket == '\0')
		o->o_socket = BGCTL_DEFAULT_SOCKET;
	for (first = optind; first < argc && argv[first][strspn(argv[first], " \t")] == '\0';)
		first++;
	if (first == argc) {
		fprintf(stderr, "bgctl: no command given\n");
		bgctl_usage(stderr);
		return BGCTL_EXIT_ERR;
	}
	o->o_status = !o->o_json && argc - optind == 1 && strcmp(argv[optind], "status") == 0;
	if (bgctl_join(o, argv + optind, argc - optind, err, sizeof(err)) == -1) {
		fprintf(stderr, "bgctl: %s\n", err);
		free(o->o_line);
		o->o_line = NULL;
		return BGCTL_EXIT_ERR;
	}
	o->o_timeout_ms = bgctl_timeout_ms();
	return -1;
}

/* ------------------------------------------------------------- the socket */

/* Waits for events on fd; returns 1 ready, 0 timeout, -1 error (errno). */
static int
bgctl_wait(int fd, short events, int timeout_ms)
{
	struct timespec start, now;
	struct pollfd pfd = { .fd = fd, .events = events };
	long spent;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		spent = (now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000;
		if (spent >= timeout_ms)
			return 0;
		r = poll(&pfd, 1, (int)(timeout_ms - spent));
		if (r == -1 && errno == EINTR)
			continue;	/* resume with what is left of the timeout */
		return r > 0 ? 1 : r;
	}
}

static int
bgctl_connect(const char *path, int timeout_ms, char *err, size_t errlen)
{
	struct sockaddr_un addr;
	socklen_t sl = sizeof(int);
	int fd, soerr = 0;

	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, errlen, "the path is longer than %zu bytes",
		    sizeof(addr.sun_path) - 1);
		return -1;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
		return fd;
	/* an interrupted connect goes on in the background: wait for its end */
	if (errno == EINTR && bgctl_wait(fd, POLLOUT, timeout_ms) == 1 &&
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
		return fd;
	snprintf(err, errlen, "%s", strerror(soerr ? soerr : errno));
	close(fd);
	return -1;
}

static int
bgctl_send(int fd, const char *buf, size_t len, int timeout_ms, char *err, size_t errlen)
{
	ssize_t n;
	int r;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((r = bgctl_wait(fd, POLLOUT, timeout_ms)) != 1) {
				snprintf(err, errlen, "%s", r == 0 ? "timed out" : strerror(errno));
				return -1;
			}
			continue;
		}
		if (n == -1) {
			snprintf(err, errlen, "%s", strerror(errno));
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Looks at the new bytes for line ends; true once the empty line came. */
static bool
bgctl_answer_scan(struct bgctl_answer *a)
{
	char *nl;
	size_t end;

	while (a->a_scan < a->a_len &&
	    (nl = memchr(a->a_buf + a->a_scan, '\n', a->a_len - a->a_scan)) != NULL) {
		end = (size_t)(nl - a->a_buf);
		a->a_scan = end + 1;
		if (end > a->a_line && a->a_buf[end - 1] == '\r')
			end--;	/* tolerate CRLF framing */
		if (!a->a_have_first && end == a->a_line) {
			/* an empty first line is broken; stop here, bgctl_finish says so */
			a->a_have_first = true;
			return true;
		}
		if (!a->a_have_first) {
			a->a_have_first = true;
			a->a_first_end = end;
			a->a_body = a->a_scan;
		} else if (end == a->a_line) {
			a->a_body_end = a->a_line;
			return true;
		}
		a->a_line = a->a_scan;
	}
	a->a_scan = a->a_len;
	return false;
}

static int
bgctl_answer_grow(struct bgctl_answer *a, char *err, size_t errlen)
{
	size_t cap = a->a_cap ? a->a_cap * 2 : 4096;
	char *p;

	if (a->a_cap >= BGCTL_ANSWER_MAX) {
		snprintf(err, errlen, "the answer is larger than %u MB", BGCTL_ANSWER_MAX >> 20);
		return -1;
	}
	if (cap > BGCTL_ANSWER_MAX)
		cap = BGCTL_ANSWER_MAX;
	/* one spare byte keeps the buffer NUL-terminated for the JSON reader */
	if ((p = realloc(a->a_buf, cap + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	a->a_buf = p;
	a->a_cap = cap;
	return 0;
}

/* Reads until the empty line; the server may keep the connection open. */
static enum bgctl_recv
bgctl_recv(int fd, int timeout_ms, struct bgctl_answer *a, char *err, size_t errlen)
{
	ssize_t n;
	int r;

	for (;;) {
		if (a->a_len == a->a_cap && bgctl_answer_grow(a, err, errlen) == -1)
			return BGCTL_RECV_FAIL;
		if ((r = bgctl_wait(fd, POLLIN, timeout_ms)) == 0)
			return BGCTL_RECV_TIMEOUT;
		if (r == -1) {
			snprintf(err, errlen, "%s", strerror(errno));
			return BGCTL_RECV_FAIL;
		}
		n = read(fd, a->a_buf + a->a_len, a->a_cap - a->a_len);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n == 0 || (n == -1 && errno == ECONNRESET))
			return BGCTL_RECV_CLOSED;
		if (n == -1) {
			snprintf(err, errlen, "%s", strerror(errno));
			return BGCTL_RECV_FAIL;
		}
		a->a_len += (size_t)n;
		a->a_buf[a->a_len] = '\0';
		if (bgctl_answer_scan(a))
			return BGCTL_RECV_DONE;
	}
}

/* --------------------------------------------------------- the JSON reader */

static void
bgctl_json_free(struct bgctl_json *j)
{
	struct bgctl_json *next;

	for (; j != NULL; j = next) {
		next = j->j_next;
		bgctl_json_free(j->j_child);	/* depth is bounded by the parser */
		free(j->j_str);
		free(j->j_key);
		free(j);
	}
}

static void *
bgctl_json_fail(struct bgctl_jparser *jp, const char *what)
{
	if (jp->jp_err[0] == '\0')
		snprintf(jp->jp_err, sizeof(jp->jp_err), "%s at byte %td", what,
		    jp->jp_p - jp->jp_start);
	return NULL;
}

static struct bgctl_json *
bgctl_json_node(struct bgctl_jparser *jp, enum bgctl_jtype type)
{
	struct bgctl_json *j;

	if (++jp->jp_nodes > BGCTL_JSON_NODES)
		return bgctl_json_fail(jp, "too many values");
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return bgctl_json_fail(jp, "out of memory");
	j->j_type = type;
	return j;
}

static void
bgctl_json_ws(struct bgctl_jparser *jp)
{
	while (jp->jp_p < jp->jp_end && (*jp->jp_p == ' ' || *jp->jp_p == '\t' ||
	    *jp->jp_p == '\r' || *jp->jp_p == '\n'))
		jp->jp_p++;
}

/* Length of the valid UTF-8 sequence at p (no overlongs, no surrogates), 0 if bad. */
static size_t
bgctl_utf8_len(const unsigned char *p, const unsigned char *end)
{
	size_t n, i;
	unsigned long cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static size_t
bgctl_utf8_put(char *out, unsigned long cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Four hex digits after "\u"; -1 when they are not there. */
static long
bgctl_json_hex4(struct bgctl_jparser *jp)
{
	long v = 0;
	int i;
	char c;

	if (jp->jp_end - jp->jp_p < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		c = *jp->jp_p++;
		if (c >= '0' && c <= '9')
			v = v * 16 + (c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v = v * 16 + ((c | 0x20) - 'a' + 10);
		else
			return -1;
	}
	return v;
}

/* \uXXXX, with surrogate pairs joined; lone surrogates and \u0000 refused. */
static int
bgctl_json_uescape(struct bgctl_jparser *jp, unsigned long *cp)
{
	long hi, lo;

	if ((hi = bgctl_json_hex4(jp)) < 0)
		return -1;
	if (hi >= 0xdc00 && hi <= 0xdfff)
		return -1;
	if (hi >= 0xd800 && hi <= 0xdbff) {
		if (jp->jp_end - jp->jp_p < 2 || jp->jp_p[0] != '\\' || jp->jp_p[1] != 'u')
			return -1;
		jp->jp_p += 2;
		if ((lo = bgctl_json_hex4(jp)) < 0xdc00 || lo > 0xdfff)
			return -1;
		hi = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
	}
	*cp = (unsigned long)hi;
	return hi == 0 ? -1 : 0;
}

/* One escape after the backslash; returns the bytes written to out, 0 if bad. */
static size_t
bgctl_json_escape(struct bgctl_jparser *jp, char *out)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e;
	unsigned long cp;

	if (jp->jp_p >= jp->jp_end)
		return 0;
	if (*jp->jp_p == 'u') {
		jp->jp_p++;
		return bgctl_json_uescape(jp, &cp) == -1 ? 0 : bgctl_utf8_put(out, cp);
	}
	if (*jp->jp_p == '\0' || (e = strchr(from, *jp->jp_p)) == NULL)
		return 0;
	jp->jp_p++;
	*out = to[e - from];
	return 1;
}

/* A string at the opening quote; returns it malloc'd. Escapes never grow. */
static char *
bgctl_json_string(struct bgctl_jparser *jp)
{
	const char *q = ++jp->jp_p;
	size_t o = 0, n;
	char *out;

	while (q < jp->jp_end && *q != '"')
		q += *q == '\\' && q + 1 < jp->jp_end ? 2 : 1;
	if (q >= jp->jp_end)
		return bgctl_json_fail(jp, "unterminated string");
	if ((out = malloc((size_t)(q - jp->jp_p) + 1)) == NULL)
		return bgctl_json_fail(jp, "out of memory");
	/* a bad escape may stop right at the quote, so failure is a flag */
	for (n = 1; n > 0 && jp->jp_p < q; o += n) {
		unsigned char c = (unsigned char)*jp->jp_p;

		if (c == '\\') {
			jp->jp_p++;
			n = bgctl_json_escape(jp, out + o);
		} else if (c < 0x20) {
			n = 0;
		} else if ((n = bgctl_utf8_len((const unsigned char *)jp->jp_p,
		    (const unsigned char *)q)) > 0) {
			memcpy(out + o, jp->jp_p, n);
			jp->jp_p += n;
		}
	}
	if (n == 0 || jp->jp_p != q) {
		free(out);
		return bgctl_json_fail(jp, "bad character or escape in string");
	}
	jp->jp_p++;
	out[o] = '\0';
	return out;
}

static size_t
bgctl_json_digits(const char *p, const char *end)
{
	const char *s = p;

	while (p < end && *p >= '0' && *p <= '9')
		p++;
	return (size_t)(p - s);
}

/* The JSON number grammar checked by hand, then strtod on a copy. */
static struct bgctl_json *
bgctl_json_number(struct bgctl_jparser *jp)
{
	const char *s = jp->jp_p, *p = s, *end = jp->jp_end;
	struct bgctl_json *j;
	char tmp[128];
	size_t d;

	if (p < end && *p == '-')
		p++;
	if ((d = bgctl_json_digits(p, end)) == 0 || (d > 1 && *p == '0'))
		return bgctl_json_fail(jp, "bad number");
	p += d;
	if (p < end && *p == '.') {
		if ((d = bgctl_json_digits(++p, end)) == 0)
			return bgctl_json_fail(jp, "bad number");
		p += d;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if ((d = bgctl_json_digits(p, end)) == 0)
			return bgctl_json_fail(jp, "bad number");
		p += d;
	}
	if ((size_t)(p - s) >= sizeof(tmp))
		return bgctl_json_fail(jp, "number too long");
	memcpy(tmp, s, (size_t)(p - s));
	tmp[p - s] = '\0';
	if ((j = bgctl_json_node(jp, BGCTL_J_NUM)) == NULL)
		return NULL;
	j->j_num = strtod(tmp, NULL);
	jp->jp_p = p;
	if (!isfinite(j->j_num)) {
		free(j);
		return bgctl_json_fail(jp, "number out of range");
	}
	return j;
}

static struct bgctl_json *
bgctl_json_literal(struct bgctl_jparser *jp)
{
	static const struct { const char *word; enum bgctl_jtype type; } lits[] = {
		{ "null", BGCTL_J_NULL }, { "true", BGCTL_J_TRUE }, { "false", BGCTL_J_FALSE }
	};
	size_t i, n;

	for (i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
		n = strlen(lits[i].word);
		if ((size_t)(jp->jp_end - jp->jp_p) >= n &&
		    memcmp(jp->jp_p, lits[i].word, n) == 0) {
			jp->jp_p += n;
			return bgctl_json_node(jp, lits[i].type);
		}
	}
	return bgctl_json_fail(jp, "unexpected character");
}

/* One member "key": value, with the key kept on the value node. */
static struct bgctl_json *
bgctl_json_member(struct bgctl_jparser *jp)
{
	struct bgctl_json *v;
	char *key;

	bgctl_json_ws(jp);
	if (jp->jp_p >= jp->jp_end || *jp->jp_p != '"')
		return bgctl_json_fail(jp, "expected a member name");
	if ((key = bgctl_json_string(jp)) == NULL)
		return NULL;
	bgctl_json_ws(jp);
	if (jp->jp_p >= jp->jp_end || *jp->jp_p != ':') {
		free(key);
		return bgctl_json_fail(jp, "expected ':'");
	}
	jp->jp_p++;
	if ((v = bgctl_json_value(jp)) == NULL) {
		free(key);
		return NULL;
	}
	v->j_key = key;
	return v;
}

/* An array or object at its opening bracket: elements until close. */
static struct bgctl_json *
bgctl_json_container(struct bgctl_jparser *jp, enum bgctl_jtype type)
{
	const char close = type == BGCTL_J_OBJ ? '}' : ']';
	struct bgctl_json *j, *v, **tail;

	if (++jp->jp_depth > BGCTL_JSON_DEPTH)
		return bgctl_json_fail(jp, "nested too deep");
	if ((j = bgctl_json_node(jp, type)) == NULL)
		return NULL;
	tail = &j->j_child;
	jp->jp_p++;
	bgctl_json_ws(jp);
	if (jp->jp_p < jp->jp_end && *jp->jp_p == close)
		goto done;
	for (;;) {
		v = type == BGCTL_J_OBJ ? bgctl_json_member(jp) : bgctl_json_value(jp);
		if (v == NULL)
			break;
		*tail = v;
		tail = &v->j_next;
		bgctl_json_ws(jp);
		if (jp->jp_p < jp->jp_end && *jp->jp_p == ',') {
			jp->jp_p++;
			continue;
		}
		if (jp->jp_p < jp->jp_end && *jp->jp_p == close)
			goto done;
		bgctl_json_fail(jp, type == BGCTL_J_OBJ ? "expected ',' or '}'" :
		    "expected ',' or ']'");
		break;
	}
	bgctl_json_free(j);
	return NULL;
done:
	jp->jp_p++;
	jp->jp_depth--;
	return j;
}

static struct bgctl_json *
bgctl_json_value(struct bgctl_jparser *jp)
{
	struct bgctl_json *j;
	char *s;

	bgctl_json_ws(jp);
	if (jp->jp_p >= jp->jp_end)
		return bgctl_json_fail(jp, "unexpected end");
	switch (*jp->jp_p) {
	case '{':
		return bgctl_json_container(jp, BGCTL_J_OBJ);
	case '[':
		return bgctl_json_container(jp, BGCTL_J_ARR);
	case '"':
		if ((s = bgctl_json_string(jp)) == NULL)
			return NULL;
		if ((j = bgctl_json_node(jp, BGCTL_J_STR)) == NULL)
			free(s);
		else
			j->j_str = s;
		return j;
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		return bgctl_json_number(jp);
	default:
		return bgctl_json_literal(jp);
	}
}

/*
 * Parses exactly one JSON value spanning [s, s + len), whitespace aside.
 * Returns a tree the caller frees with bgctl_json_free, or NULL with err set.
 */
static struct bgctl_json *
bgctl_json_parse(const char *s, size_t len, char *err, size_t errlen)
{
	struct bgctl_jparser jp = { .jp_start = s, .jp_p = s, .jp_end = s + len };
	struct bgctl_json *j;

	if ((j = bgctl_json_value(&jp)) != NULL) {
		bgctl_json_ws(&jp);
		if (jp.jp_p != jp.jp_end) {
			bgctl_json_fail(&jp, "trailing data");
			bgctl_json_free(j);
			j = NULL;
		}
	}
	if (j == NULL)
		snprintf(err, errlen, "%s", jp.jp_err);
	return j;
}

static const struct bgctl_json *
bgctl_json_get(const struct bgctl_json *obj, const char *key)
{
	const struct bgctl_json *m;

	if (obj == NULL || obj->j_type != BGCTL_J_OBJ)
		return NULL;
	for (m = obj->j_child; m != NULL; m = m->j_next)
		if (strcmp(m->j_key, key) == 0)
			return m;
	return NULL;
}

static bool
bgctl_json_num(const struct bgctl_json *j, double *out)
{
	if (j == NULL || j->j_type != BGCTL_J_NUM)
		return false;
	*out = j->j_num;
	return true;
}

static const char *
bgctl_json_str(const struct bgctl_json *j)
{
	return j != NULL && j->j_type == BGCTL_J_STR ? j->j_str : NULL;
}

/* -------------------------------------------------------- status rendering */

/* Copies s for the terminal: control bytes become '?', cut at a char edge. */
static const char *
bgctl_safe(const char *s, char *buf, size_t len)
{
	size_t i;

	if (s == NULL)
		return "-";
	for (i = 0; s[i] != '\0' && i + 1 < len; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (s[i] != '\0')
		while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80)
			i--;
	buf[i] = '\0';
	return buf;
}

/* printf of a number member, or "-" when it is missing or not a number. */
static const char *
bgctl_fmt(const struct bgctl_json *obj, const char *key, const char *fmt, double scale,
    char *buf, size_t len)
{
	double v;

	if (!bgctl_json_num(bgctl_json_get(obj, key), &v))
		return "-";
	snprintf(buf, len, fmt, v * scale);
	return buf;
}

static bool
bgctl_utf8_term(void)
{
	const char *cs;

	if (!isatty(STDOUT_FILENO) || setlocale(LC_CTYPE, "") == NULL)
		return false;
	cs = nl_langinfo(CODESET);
	return cs != NULL && strcmp(cs, "UTF-8") == 0;
}

/* A share bar; any nonzero share shows at least one cell, below 100% one empty. */
static void
bgctl_bar(bool have, double pct, bool utf8, char *buf, size_t len)
{
	const char *on = utf8 ? "\u2588" : "#", *off = utf8 ? "\u2591" : ".";
	int fill = have ? (int)(pct / 100.0 * BGCTL_BAR + 0.5) : 0, i;
	size_t o = 0;

	if (have && pct > 0 && fill < 1)
		fill = 1;
	if (have && pct < 100 && fill > BGCTL_BAR - 1)
		fill = BGCTL_BAR - 1;
	for (i = 0; i < BGCTL_BAR; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s", i < fill ? on : off);
}

/* "green step 2/6 (10%), 42 s left, paused", "green reverted at step 2/6
 * (10%)" (the rollout ended in a revert: no clock runs) or "-". */
static void
bgctl_rollout_text(const struct bgctl_json *r, bool reverted, char *buf, size_t len)
{
	const struct bgctl_json *steps = bgctl_json_get(r, "steps"), *s;
	char name[64], pct[32] = "?";
	double step = -1, left, nsteps = 0;
	size_t o;

	if (r == NULL || r->j_type != BGCTL_J_OBJ) {
		snprintf(buf, len, "-");
		return;
	}
	bgctl_json_num(bgctl_json_get(r, "step"), &step);
	for (s = steps != NULL && steps->j_type == BGCTL_J_ARR ? steps->j_child : NULL;
	    s != NULL; s = s->j_next, nsteps++)
		if (nsteps == step && s->j_type == BGCTL_J_NUM)
			snprintf(pct, sizeof(pct), "%g%%", s->j_num);
	o = (size_t)snprintf(buf, len, "%s %sstep ",
	    bgctl_safe(bgctl_json_str(bgctl_json_get(r, "pool")), name, sizeof(name)),
	    reverted ? "reverted at " : "");
	if (step >= 0)
		o += (size_t)snprintf(buf + o, len - o, "%.0f/%.0f (%s)", step + 1, nsteps, pct);
	else
		o += (size_t)snprintf(buf + o, len - o, "?");
	if (reverted)
		return;
	if (o < len && bgctl_json_num(bgctl_json_get(r, "step_left_s"), &left))
		o += (size_t)snprintf(buf + o, len - o, ", %.0f s left", left);
	if (o < len && bgctl_json_get(r, "paused") != NULL &&
	    bgctl_json_get(r, "paused")->j_type == BGCTL_J_TRUE)
		snprintf(buf + o, len - o, ", paused");
}

static void
bgctl_render_head(const struct bgctl_json *root)
{
	char stable[64], state[64], rollout[256], why[1024], head[160];
	int n;

	n = snprintf(head, sizeof(head), "bgproxy  stable %s  state %s",
	    bgctl_safe(bgctl_json_str(bgctl_json_get(root, "stable")), stable, sizeof(stable)),
	    bgctl_safe(bgctl_json_str(bgctl_json_get(root, "state")), state, sizeof(state)));
	bgctl_rollout_text(bgctl_json_get(root, "rollout"), strcmp(state, "reverted") == 0,
	    rollout, sizeof(rollout));
	/* the rollout goes on its own line when the head would pass 80 columns */
	printf("%s%srollout %s\n", head,
	    (size_t)n + 10 + strlen(rollout) > 80 ? "\n" : "  ", rollout);
	printf("last revert: %s\n", bgctl_safe(bgctl_json_str(bgctl_json_get(root,
	    "last_revert")), why, sizeof(why)));
	if (bgctl_json_get(root, "dry_run") != NULL &&
	    bgctl_json_get(root, "dry_run")->j_type == BGCTL_J_TRUE)
		printf("dry run: %s\n", bgctl_safe(bgctl_json_str(bgctl_json_get(root,
		    "dry_run_verdict")), why, sizeof(why)));
}

static void
bgctl_render_pool(const struct bgctl_json *pool, const char *name, double weight,
    bool have_weight, bool utf8, bool stable)
{
	char bar[BGCTL_BAR * 3 + 1], pct[16] = "-", servers[80], b1[32], b2[32], b3[32], b4[32];
	double req = 0;
	/* rates and latency over no request are no figures: "-", not 0 */
	bool none = bgctl_json_num(bgctl_json_get(pool, "requests"), &req) && req == 0;

	bgctl_bar(have_weight, weight, utf8, bar, sizeof(bar));
	if (have_weight)
		snprintf(pct, sizeof(pct), "%.2f%%", weight);
	snprintf(servers, sizeof(servers), "%s/%s up",
	    bgctl_fmt(pool, "servers_up", "%.0f", 1, b1, sizeof(b1)),
	    bgctl_fmt(pool, "servers", "%.0f", 1, b2, sizeof(b2)));
	printf("%-7s%s %7s  %-10s %8s %7s", name, bar, pct, servers,
	    bgctl_fmt(pool, "requests", "%.0f", 1, b3, sizeof(b3)),
	    none ? "-" : bgctl_fmt(pool, "error_rate", "%.2f%%", 100, b4, sizeof(b4)));
	printf(" %10s%s\n", none ? "-" : bgctl_fmt(pool, "p99_ms", "%.1f ms", 1, b1, sizeof(b1)),
	    stable ? "  stable" : "");
}

/* The pools in the server's order; the weights alone when pools are missing. */
static void
bgctl_render_pools(const struct bgctl_json *root, bool utf8)
{
	const struct bgctl_json *pools = bgctl_json_get(root, "pools");
	const struct bgctl_json *weights = bgctl_json_get(root, "weights"), *p;
	const char *stable = bgctl_json_str(bgctl_json_get(root, "stable"));
	char label[32], name[64], safe[60];
	double win, w = 0;
	bool have;

	if (pools == NULL || pools->j_type != BGCTL_J_OBJ)
		pools = weights != NULL && weights->j_type == BGCTL_J_OBJ ? weights : NULL;
	if (pools == NULL)
		return;
	if (bgctl_json_num(bgctl_json_get(root, "window_s"), &win))
		snprintf(label, sizeof(label), "req/%gs", win);
	else
		snprintf(label, sizeof(label), "requests");
	printf("\n%-7s%-*s  %-10s %8s %7s %10s\n", "pool", BGCTL_BAR + 8, "share", "servers",
	    label, "errors", "p99");
	for (p = pools->j_child; p != NULL; p = p->j_next) {
		have = bgctl_json_num(bgctl_json_get(weights, p->j_key), &w);
		snprintf(name, sizeof(name), "%s", bgctl_safe(p->j_key, safe, sizeof(safe)));
		bgctl_render_pool(p == weights ? NULL : p, name, w, have, utf8,
		    stable != NULL && strcmp(stable, p->j_key) == 0);
	}
}

static void
bgctl_render_servers(const struct bgctl_json *root)
{
	const struct bgctl_json *pools = bgctl_json_get(root, "pools"), *p, *list, *s;
	char name[64], addr[128], st[32], b1[32], b2[32], b3[32];
	bool first = true;

	for (p = pools != NULL && pools->j_type == BGCTL_J_OBJ ? pools->j_child : NULL;
	    p != NULL; p = p->j_next) {
		list = bgctl_json_get(p, "server_list");
		if (list == NULL || list->j_type != BGCTL_J_ARR)
			continue;
		for (s = list->j_child; s != NULL; s = s->j_next, first = false) {
			printf("%s%-7s%-16s %-9s active %-4s requests %-6s errors %s\n",
			    first ? "\n" : "", bgctl_safe(p->j_key, name, sizeof(name)),
			    bgctl_safe(bgctl_json_str(bgctl_json_get(s, "address")), addr,
			    sizeof(addr)),
			    bgctl_safe(bgctl_json_str(bgctl_json_get(s, "state")), st, sizeof(st)),
			    bgctl_fmt(s, "active", "%.0f", 1, b1, sizeof(b1)),
			    bgctl_fmt(s, "requests", "%.0f", 1, b2, sizeof(b2)),
			    bgctl_fmt(s, "errors", "%.0f", 1, b3, sizeof(b3)));
		}
	}
}

/* The human view of "json status"; an unreadable answer is printed raw. */
static int
bgctl_status(const char *line, size_t len)
{
	struct bgctl_json *root;
	char err[128];

	if ((root = bgctl_json_parse(line, len, err, sizeof(err))) == NULL ||
	    root->j_type != BGCTL_J_OBJ) {
		fprintf(stderr, "bgctl: warning: cannot read the status answer (%s); "
		    "printing it as it came\n", root ? "not a JSON object" : err);
		fwrite(line, 1, len, stdout);
		putchar('\n');
		bgctl_json_free(root);
		return BGCTL_EXIT_OK;
	}
	bgctl_render_head(root);
	bgctl_render_pools(root, bgctl_utf8_term());
	bgctl_render_servers(root);
	bgctl_json_free(root);
	return BGCTL_EXIT_OK;
}

/* ------------------------------------------------------------------ output */

/* The answer is complete and its first line is OK or ERR: print it. */
static int
bgctl_output(const struct bgctl_opts *o, const struct bgctl_answer *a, bool ok)
{
	const char *body = a->a_buf + a->a_body, *nl;
	size_t blen = a->a_body_end - a->a_body;

	if (ok && o->o_status) {
		if (blen == 0) {
			fprintf(stderr, "bgctl: warning: the status answer has no JSON line\n");
			return BGCTL_EXIT_OK;
		}
		nl = memchr(body, '\n', blen);
		return bgctl_status(body, (size_t)(nl - body));
	}
	if (ok || (o->o_json && blen > 0)) {
		fwrite(body, 1, blen, stdout);
		return ok ? BGCTL_EXIT_OK : BGCTL_EXIT_ERR;
	}
	if (a->a_first_end > 4)
		fprintf(stderr, "error: %.*s\n", (int)(a->a_first_end - 4), a->a_buf + 4);
	else
		fprintf(stderr, "error: (the server gave no reason)\n");
	if (!o->o_status)	/* the JSON body of a failed status says it again */
		fwrite(body, 1, blen, stderr);
	return BGCTL_EXIT_ERR;
}

/* Checks the first line and hands over; broken answers end with status 2. */
static int
bgctl_finish(const struct bgctl_opts *o, struct bgctl_answer *a, enum bgctl_recv how,
    const char *err)
{
	const char *f = a->a_buf;
	size_t fl = a->a_first_end;

	if (how == BGCTL_RECV_DONE && fl == 2 && memcmp(f, "OK", 2) == 0)
		return bgctl_output(o, a, true);
	if (how == BGCTL_RECV_DONE && fl >= 3 && memcmp(f, "ERR", 3) == 0 &&
	    (fl == 3 || f[3] == ' '))
		return bgctl_output(o, a, false);
	/* whatever arrived may help the operator understand what went wrong */
	if (a->a_len > 0) {
		fwrite(a->a_buf, 1, a->a_len, stdout);
		if (a->a_buf[a->a_len - 1] != '\n')
			putchar('\n');
	}
	if (how == BGCTL_RECV_DONE)
		fprintf(stderr, "bgctl: broken answer from %s: the first line is neither "
		    "OK nor ERR\n", o->o_socket);
	else if (how == BGCTL_RECV_CLOSED)
		fprintf(stderr, "bgctl: connection closed before the end of the answer\n");
	else if (how == BGCTL_RECV_TIMEOUT)
		fprintf(stderr, "bgctl: no answer from %s within %d ms\n", o->o_socket,
		    o->o_timeout_ms);
	else
		fprintf(stderr, "bgctl: cannot read from %s: %s\n", o->o_socket, err);
	return BGCTL_EXIT_FAIL;
}

int
main(int argc, char **argv)
{
	struct bgctl_opts o = { 0 };
	struct bgctl_answer a = { 0 };
	enum bgctl_recv how;
	char err[256] = "";
	int fd, rc;

	if ((rc = bgctl_options(argc, argv, &o)) != -1)
		return rc;
	/* a server that goes away must give us EPIPE, not kill us silently */
	signal(SIGPIPE, SIG_IGN);
	if ((fd = bgctl_connect(o.o_socket, o.o_timeout_ms, err, sizeof(err))) == -1) {
		fprintf(stderr, "bgctl: cannot reach %s: %s\n", o.o_socket, err);
		free(o.o_line);
		return BGCTL_EXIT_FAIL;
	}
	o.o_line[o.o_len] = '\n';	/* bgctl_join left room for it */
	if (bgctl_send(fd, o.o_line, o.o_len + 1, o.o_timeout_ms, err, sizeof(err)) == -1) {
		fprintf(stderr, "bgctl: cannot send to %s: %s\n", o.o_socket, err);
		rc = BGCTL_EXIT_FAIL;
	} else {
		how = bgctl_recv(fd, o.o_timeout_ms, &a, err, sizeof(err));
		rc = bgctl_finish(&o, &a, how, err);
	}
	close(fd);
	free(o.o_line);
	free(a.a_buf);
	/* a closed pipe downstream (bgctl ... | head) is the reader's choice */
	if ((fflush(stdout) == EOF || ferror(stdout)) && errno != EPIPE) {
		fprintf(stderr, "bgctl: cannot write the answer: %s\n", strerror(errno));
		return BGCTL_EXIT_FAIL;
	}
	return rc;
}
