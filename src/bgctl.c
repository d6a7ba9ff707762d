/*
 * bgctl.c - the operator's client for the bgproxy admin socket.
 *
 * bgctl [-s SOCKET] [--json] [--if-version N] COMMAND [ARGS...] sends the
 * words as one line, reads one answer (first line "OK" or "ERR <reason>",
 * body lines, an empty line) and maps it to an exit status: 0 OK, 1 ERR or
 * a usage error, 2 when the socket cannot be reached, the answer times out
 * or is broken.
 *
 * Three commands live here rather than in the server:
 *  - "status" asks for "json status" and renders it for humans, so the
 *    server keeps a single status implementation;
 *  - "status --watch" redraws that view in place every interval (one frame
 *    per interval when stdout is no terminal);
 *  - "rollout wait" polls until the rollout ends: 0 promoted, 1 reverted or
 *    ended otherwise, 3 timed out (2 stays "cannot reach the socket").
 * JSON is read with jansson; the views are in bgctl_view.c.
 */
#include <errno.h>
#include <jansson.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "admin_parse.h"
#include "bgctl_conn.h"
#include "bgctl_view.h"

#ifndef BGPROXY_VERSION
#define BGPROXY_VERSION "0.0.0"
#endif

#define BGCTL_DEFAULT_SOCKET	"/run/bgproxy/admin.sock"
#define BGCTL_CMD_MAX		4096		/* the server's line limit */
#define BGCTL_TIMEOUT_MS	10000		/* silence that ends the wait */
#define BGCTL_WATCH_EVENTS	5		/* events in a watch frame */
#define BGCTL_WAIT_POLL_MS	250		/* rollout wait asks this often */

enum bgctl_exit {
	BGCTL_EXIT_OK = 0,	/* the server answered OK; promoted */
	BGCTL_EXIT_ERR = 1,	/* the server answered ERR, a usage error; reverted */
	BGCTL_EXIT_FAIL = 2,	/* unreachable, timeout, broken answer */
	BGCTL_EXIT_TIMEOUT = 3	/* rollout wait --timeout ran out */
};

enum bgctl_cmd {
	BGCTL_CMD_PLAIN,	/* send the words, print the answer */
	BGCTL_CMD_STATUS,	/* "status": json status, rendered */
	BGCTL_CMD_WATCH,	/* "status --watch" */
	BGCTL_CMD_WAIT		/* "rollout wait" */
};

struct bgctl_opts {
	const char	*o_socket;
	const char	*o_service;	/* -S: "in SERVICE" before the command */
	char		 o_prefix[96];	/* "json in shop " for the lines bgctl makes itself */
	bool		 o_json;
	bool		 o_watch;
	double		 o_interval_s;	/* --interval, 0: not given */
	double		 o_wait_s;	/* --timeout, 0: not given (wait for ever) */
	bool		 o_until_baking; /* --until baking: done once the candidate has 100% */
	const char	*o_until;	/* --until as given */
	const char	*o_if_version;
	enum bgctl_cmd	 o_cmd;
	char		*o_line;	/* the line to send, without "\n" */
	size_t		 o_len;
	int		 o_timeout_ms;
	int		 o_nwords;	/* command words left after the options */
};

/* ---------------------------------------------------------------- options */

/*
 * The commands, from the admin command table (admin_cmds.def) and bgctl's
 * own: "  WORDS ARGS" lines for the usage, or with grammar one line each,
 * "WORDS<TAB>ARGS<TAB>change|-", that the bash completion reads (--commands).
 */
static void
bgctl_commands(FILE *f, int grammar)
{
	size_t i;

	for (i = 0; i < ACMD_COUNT; i++) {
		const struct admin_cmd_spec *c = &admin_cmd_table[i];

		if (grammar)
			fprintf(f, "%s\t%s\t%s\n", c->words, c->args, c->changes_state ? "change" : "-");
		else
			fprintf(f, "  %s%s%s\n", c->words, c->args[0] ? " " : "", c->args);
	}
	/* bgctl's own (its usage line is above): it asks status until the
	 * rollout ends */
	if (grammar)
		fprintf(f, "rollout wait\t\t-\n");
}

static void
bgctl_usage(FILE *f)
{
	fprintf(f,
	    "usage: bgctl [-s SOCKET] [-S SERVICE] [--json] [--if-version N] COMMAND [ARGS...]\n"
	    "       bgctl status --watch [--interval SECONDS]\n"
	    "       bgctl rollout wait [--until promoted|baking] [--timeout SECONDS]\n"
	    "       bgctl -h | -V\n"
	    "\n"
	    "Sends one command to the bgproxy admin socket and prints the answer.\n"
	    "  -s, --socket PATH     the admin socket (default: $BGPROXY_SOCKET,\n"
	    "                        else " BGCTL_DEFAULT_SOCKET ")\n"
	    "  -S, --service NAME    the service the command is about (with several;\n"
	    "                        status without it lists every service)\n"
	    "      --json            ask for the JSON answer and print it unchanged\n"
	    "      --if-version N    refuse the change unless the split's version is N\n"
	    "      --watch           with status: redraw the view every interval\n"
	    "      --interval S      seconds between frames (default 1)\n"
	    "      --timeout S       with rollout wait: give up after S seconds\n"
	    "      --until WHAT      with rollout wait: promoted (the default) or baking\n"
	    "                        (done once the candidate has 100%%)\n"
	    "  -h, --help            print this help\n"
	    "  -V, --version         print the version\n"
	    "      --commands        print the commands' grammar (for the completion)\n"
	    "Options may go before or after the command; \"--\" ends them. Commands\n"
	    "(\"bgctl help\" asks the server what each does):\n");
	bgctl_commands(f, 0);
	fprintf(f,
	    "Exit status: 0 OK (rollout wait: promoted, or baking with --until baking),\n"
	    "1 ERR or usage error (rollout wait: reverted or ended otherwise),\n"
	    "2 socket unreachable, timeout or broken answer, 3 rollout wait timed out.\n");
}

/* Joins the words with single spaces; refuses what cannot be one line. */
static int
bgctl_join(struct bgctl_opts *o, char **words, int nwords, char *err, size_t errlen)
{
	const char *prefix = o->o_json || o->o_cmd != BGCTL_CMD_PLAIN ? "json " : "";
	size_t len = strlen(prefix) + 1, off;
	int i;

	/* -S: the service before the command, in the lines bgctl makes too */
	snprintf(o->o_prefix, sizeof(o->o_prefix), "%s%s%s", o->o_service ? "in " : "",
	    o->o_service ? o->o_service : "", o->o_service ? " " : "");
	len += strlen(o->o_prefix);
	for (i = 0; i < nwords; i++)
		len += strlen(words[i]) + 1;
	if (o->o_if_version != NULL)
		len += strlen(" if-version ") + strlen(o->o_if_version);
	if ((o->o_line = malloc(len + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	off = (size_t)snprintf(o->o_line, len + 1, "%s%s", prefix, o->o_prefix);
	for (i = 0; i < nwords; i++)
		off += (size_t)snprintf(o->o_line + off, len + 1 - off, "%s%s",
		    i ? " " : "", words[i]);
	if (o->o_if_version != NULL)
		off += (size_t)snprintf(o->o_line + off, len + 1 - off, " if-version %s",
		    o->o_if_version);
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

/* Seconds from "1", "0.5": a finite number in [lo, hi], else -1. */
static int
bgctl_seconds(const char *opt, const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(v) || v < lo || v > hi) {
		fprintf(stderr, "bgctl: %s takes a number of seconds from %g to %.0f, got \"%s\"\n",
		    opt, lo, hi, s);
		return -1;
	}
	*out = v;
	return 0;
}

/* --if-version N: the digits the server compares with its version. */
static int
bgctl_version_arg(const char *s)
{
	size_t n = strspn(s, "0123456789");

	/* the server's form: no leading zero */
	if (n == 0 || n > 15 || s[n] != '\0' || (n > 1 && s[0] == '0')) {
		fprintf(stderr, "bgctl: --if-version takes the version number from status, "
		    "got \"%s\"\n", s);
		return -1;
	}
	return 0;
}

/*
 * An option that takes a value, as "--name VALUE" or "--name=VALUE" (and
 * "-sPATH" for -s): NULL when argv[*i] is not this option, else the value
 * (advancing *i), or "" with *missing set when the value is missing.
 */
static const char *
bgctl_value(int argc, char **argv, int *i, const char *lng, const char *shrt, bool *missing)
{
	const char *a = argv[*i];
	size_t n = strlen(lng);

	if (strcmp(a, lng) == 0 || (shrt != NULL && strcmp(a, shrt) == 0)) {
		if (*i + 1 == argc) {
			fprintf(stderr, "bgctl: %s needs a value\n", a);
			*missing = true;
			return "";
		}
		return argv[++*i];
	}
	if (strncmp(a, lng, n) == 0 && a[n] == '=')
		return a + n + 1;
	if (shrt != NULL && strncmp(a, shrt, 2) == 0 && a[2] != '\0')
		return a + 2;
	return NULL;
}

/*
 * Takes the options out of the words wherever they stand ("bgctl status
 * --json", "bgctl show events -s SOCK"); "--" ends them.  Before the first
 * command word an unknown option is an error; after it a word starting
 * with "-" stays a word ("set weight green -1" is the server's to refuse).
 * Compacts argv from 1 in place; o->o_nwords is what is left.  Returns -1
 * to go on, else the exit status.
 */
static int
bgctl_scan(int argc, char **argv, struct bgctl_opts *o)
{
	const char *v;
	bool missing = false, opts = true;
	int i, n = 1;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!opts || a[0] != '-' || a[1] == '\0') {
			argv[n++] = argv[i];
		} else if (strcmp(a, "--") == 0) {
			opts = false;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			bgctl_usage(stdout);
			return BGCTL_EXIT_OK;
		} else if (strcmp(a, "--commands") == 0) {
			bgctl_commands(stdout, 1);
			return BGCTL_EXIT_OK;
		} else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			printf("bgctl %s\n", BGPROXY_VERSION);
			return BGCTL_EXIT_OK;
		} else if (strcmp(a, "--json") == 0) {
			o->o_json = true;
		} else if (strcmp(a, "--watch") == 0) {
			o->o_watch = true;
		} else if ((v = bgctl_value(argc, argv, &i, "--socket", "-s", &missing)) != NULL) {
			if (missing)
				return BGCTL_EXIT_ERR;
			o->o_socket = v;
		} else if ((v = bgctl_value(argc, argv, &i, "--service", "-S", &missing)) != NULL) {
			if (missing)
				return BGCTL_EXIT_ERR;
			if (*v == '\0' || strlen(v) > 64 || strspn(v, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != strlen(v)) {
				fprintf(stderr, "bgctl: -S takes a service name (letters, digits, "
				    "'-', '_', '.'), got \"%s\"\n", v);
				return BGCTL_EXIT_ERR;
			}
			o->o_service = v;
		} else if ((v = bgctl_value(argc, argv, &i, "--interval", NULL, &missing)) != NULL) {
			if (missing || bgctl_seconds("--interval", v, 0.1, 3600, &o->o_interval_s))
				return BGCTL_EXIT_ERR;
		} else if ((v = bgctl_value(argc, argv, &i, "--timeout", NULL, &missing)) != NULL) {
			if (missing || bgctl_seconds("--timeout", v, 0.001, 1e7, &o->o_wait_s))
				return BGCTL_EXIT_ERR;
		} else if ((v = bgctl_value(argc, argv, &i, "--until", NULL, &missing)) != NULL) {
			if (missing)
				return BGCTL_EXIT_ERR;
			if (strcmp(v, "baking") != 0 && strcmp(v, "promoted") != 0) {
				fprintf(stderr, "bgctl: --until takes promoted or baking, got \"%s\"\n",
				    v);
				return BGCTL_EXIT_ERR;
			}
			o->o_until = v;
			o->o_until_baking = strcmp(v, "baking") == 0;
		} else if ((v = bgctl_value(argc, argv, &i, "--if-version", NULL, &missing)) !=
		    NULL) {
			if (missing || bgctl_version_arg(v) == -1)
				return BGCTL_EXIT_ERR;
			o->o_if_version = v;
		} else if (n == 1) {
			fprintf(stderr, "bgctl: unknown option %s\n", a);
			bgctl_usage(stderr);
			return BGCTL_EXIT_ERR;
		} else {
			argv[n++] = argv[i];
		}
	}
	o->o_nwords = n - 1;
	return -1;
}

/* Which command runs here, and the options that only go with some. */
static int
bgctl_classify(struct bgctl_opts *o, char **words, int nwords)
{
	bool status = nwords == 1 && strcmp(words[0], "status") == 0;
	bool wait = nwords == 2 && strcmp(words[0], "rollout") == 0 &&
	    strcmp(words[1], "wait") == 0;
	const char *bad = NULL;

	if (o->o_watch && !status)
		bad = "--watch goes with status";
	else if (o->o_interval_s > 0 && !o->o_watch)
		bad = "--interval goes with status --watch";
	else if (o->o_wait_s > 0 && !wait)
		bad = "--timeout goes with rollout wait";
	else if (o->o_until != NULL && !wait)
		bad = "--until goes with rollout wait";
	else if (o->o_if_version != NULL && (status || wait))
		bad = "--if-version goes with a command that changes the split";
	else if (wait && o->o_json)
		bad = "--json does not go with rollout wait; its exit status is the answer";
	if (bad != NULL) {
		fprintf(stderr, "bgctl: %s\n", bad);
		return -1;
	}
	if (o->o_watch)
		o->o_cmd = BGCTL_CMD_WATCH;
	else if (wait)
		o->o_cmd = BGCTL_CMD_WAIT;
	else if (status && !o->o_json)
		o->o_cmd = BGCTL_CMD_STATUS;
	if (o->o_cmd == BGCTL_CMD_WAIT)
		o->o_nwords = 1;	/* the line sent is "json status" */
	return 0;
}

/* Returns -1 to go on, else the exit status main should return. */
static int
bgctl_options(int argc, char **argv, struct bgctl_opts *o)
{
	static char status_word[] = "status";
	char err[128], **words = argv + 1;
	int rc, first;

	if ((rc = bgctl_scan(argc, argv, o)) != -1)
		return rc;
	if (o->o_socket == NULL || *o->o_socket == '\0')
		o->o_socket = getenv("BGPROXY_SOCKET");
	if (o->o_socket == NULL || *o->o_socket == '\0')
		o->o_socket = BGCTL_DEFAULT_SOCKET;
	for (first = 0; first < o->o_nwords && words[first][strspn(words[first], " \t")] == '\0';)
		first++;
	if (first == o->o_nwords) {
		fprintf(stderr, "bgctl: no command given\n");
		bgctl_usage(stderr);
		return BGCTL_EXIT_ERR;
	}
	if (bgctl_classify(o, words, o->o_nwords) == -1)
		return BGCTL_EXIT_ERR;
	if (o->o_cmd == BGCTL_CMD_WAIT)
		words[0] = status_word;
	if (bgctl_join(o, words, o->o_nwords, err, sizeof(err)) == -1) {
		fprintf(stderr, "bgctl: %s\n", err);
		free(o->o_line);
		o->o_line = NULL;
		return BGCTL_EXIT_ERR;
	}
	o->o_timeout_ms = bgctl_timeout_ms();
	return -1;
}

/* ------------------------------------------------------------- the socket */
/* ------------------------------------------------------------------ output */

static bool
bgctl_utf8_term(void)
{
	const char *cs;

	if (!isatty(STDOUT_FILENO) || setlocale(LC_CTYPE, "") == NULL)
		return false;
	cs = nl_langinfo(CODESET);
	return cs != NULL && strcmp(cs, "UTF-8") == 0;
}

/* The human view of "json status"; an unreadable answer is printed raw. */
static int
bgctl_status(const struct bgctl_answer *a)
{
	const char *body = a->a_buf + a->a_body, *nl;
	size_t blen = a->a_body_end - a->a_body;
	char err[200];
	json_t *st;

	if (blen == 0) {
		fprintf(stderr, "bgctl: warning: the status answer has no JSON line\n");
		return BGCTL_EXIT_OK;
	}
	if ((st = bgctl_answer_json(a, JSON_OBJECT, err, sizeof(err))) == NULL) {
		nl = memchr(body, '\n', blen);
		fprintf(stderr, "bgctl: warning: cannot read the status answer (%s); "
		    "printing it as it came\n", err);
		fwrite(body, 1, (size_t)(nl - body), stdout);
		putchar('\n');
		return BGCTL_EXIT_OK;
	}
	bgctl_view_status(stdout, st, bgctl_utf8_term());
	json_decref(st);
	return BGCTL_EXIT_OK;
}

/* The answer is complete and its first line is OK or ERR: print it. */
static int
bgctl_output(const struct bgctl_opts *o, const struct bgctl_answer *a, bool ok)
{
	const char *body = a->a_buf + a->a_body;
	size_t blen = a->a_body_end - a->a_body;

	if (ok && o->o_cmd == BGCTL_CMD_STATUS)
		return bgctl_status(a);
	if (ok || (o->o_json && blen > 0)) {
		fwrite(body, 1, blen, stdout);
		return ok ? BGCTL_EXIT_OK : BGCTL_EXIT_ERR;
	}
	if (a->a_first_end > 4)
		fprintf(stderr, "error: %.*s\n", (int)(a->a_first_end - 4), a->a_buf + 4);
	else
		fprintf(stderr, "error: (the server gave no reason)\n");
	if (o->o_cmd != BGCTL_CMD_STATUS)	/* the JSON body of a failed status says it again */
		fwrite(body, 1, blen, stderr);
	return BGCTL_EXIT_ERR;
}

/* Checks the first line and hands over; broken answers end with status 2. */
static int
bgctl_finish(const struct bgctl_opts *o, const struct bgctl_conn *c, struct bgctl_answer *a,
    enum bgctl_recv how, const char *err)
{
	char why[512];
	int ok = how == BGCTL_RECV_DONE ? bgctl_answer_ok(a) : -1;

	if (ok != -1)
		return bgctl_output(o, a, ok == 1);
	/* whatever arrived may help the operator understand what went wrong */
	if (a->a_len > 0 && how != BGCTL_RECV_UNREACHABLE) {
		fwrite(a->a_buf, 1, a->a_len, stdout);
		if (a->a_buf[a->a_len - 1] != '\n')
			putchar('\n');
	}
	bgctl_why(c, a, how, err, why, sizeof(why));
	fprintf(stderr, "bgctl: %s\n", why);
	return BGCTL_EXIT_FAIL;
}

/* ------------------------------------------------------- watch and wait */

static void
bgctl_on_signal(int sig)
{
	(void)sig;
	bgctl_stop = 1;
}

/* SIGINT and SIGTERM end the loops cleanly (without SA_RESTART: poll wakes). */
static void
bgctl_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = bgctl_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static double
bgctl_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps up to s seconds; a signal cuts it short. */
static void
bgctl_sleep(double s)
{
	struct timespec ts;

	if (s <= 0 || bgctl_stop)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

/* Fetches "json status" and, when events is not NULL, the last events. */
static json_t *
bgctl_fetch(struct bgctl_conn *c, struct bgctl_answer *a, const char *line, const char *prefix,
    json_t **events, char *why, size_t whylen)
{
	char ev_line[160], err[256] = "";
	enum bgctl_recv how;
	json_t *st;

	how = bgctl_call(c, line, strlen(line), a, err, sizeof(err));
	if (how != BGCTL_RECV_DONE || bgctl_answer_ok(a) != 1 ||
	    (st = bgctl_answer_json(a, JSON_OBJECT, err, sizeof(err))) == NULL) {
		bgctl_why(c, a, how, err, why, whylen);
		return NULL;
	}
	/* a list of services has no events of its own */
	if (events != NULL && json_object_get(st, "services") != NULL)
		*events = NULL;
	else if (events != NULL) {
		*events = NULL;
		snprintf(ev_line, sizeof(ev_line), "json %sshow events 5\n", prefix);
		how = bgctl_call(c, ev_line, strlen(ev_line), a, err, sizeof(err));
		/* a status without its events is still worth showing */
		if (how == BGCTL_RECV_DONE && bgctl_answer_ok(a) == 1)
			*events = bgctl_answer_json(a, JSON_ARRAY, err, sizeof(err));
	}
	return st;
}

/*
 * Writes a frame to a terminal in place: from the top left, each line cut
 * to the width and cleared to its end, no more lines than fit, the rest of
 * the screen cleared.  Columns are counted as UTF-8 characters.
 */
static void
bgctl_paint(const char *frame, size_t len)
{
	struct winsize ws;
	int cols = 80, rows = 24, row = 0, col;
	const char *p = frame, *end = frame + len, *nl;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
		cols = ws.ws_col;
		rows = ws.ws_row;
	}
	fputs("\033[H", stdout);
	while (p < end && row < rows - 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		for (col = 0; p < nl; p++) {
			if (((unsigned char)*p & 0xc0) != 0x80 && ++col > cols)
				break;
			putchar(*p);
		}
		while (p < nl && ((unsigned char)*p & 0xc0) == 0x80)
			p++;
		fputs("\033[K\n", stdout);
		p = nl + 1;
		row++;
	}
	fputs("\033[J", stdout);
}

static int
bgctl_watch(const struct bgctl_opts *o, struct bgctl_conn *c)
{
	double interval = o->o_interval_s > 0 ? o->o_interval_s : 1.0, next;
	bool tty = isatty(STDOUT_FILENO), utf8 = bgctl_utf8_term();
	struct bgctl_answer a = { 0 };
	char line[160], why[512], clock[32];
	json_t *st, *events = NULL;
	char *frame = NULL;
	size_t flen = 0;
	FILE *f;
	time_t t;

	snprintf(line, sizeof(line), "json %sstatus\n", o->o_prefix);
	bgctl_catch_signals();
	if (tty)
		fputs("\033[?25l\033[2J", stdout);	/* hide the cursor, clear */
	while (!bgctl_stop) {
		next = bgctl_now_s() + interval;
		t = time(NULL);
		strftime(clock, sizeof(clock), "%Y-%m-%d %H:%M:%S", localtime(&t));
		if ((f = open_memstream(&frame, &flen)) == NULL)
			break;
		if (o->o_json) {
			if ((st = bgctl_fetch(c, &a, line, o->o_prefix, NULL, why, sizeof(why))) != NULL)
				fwrite(a.a_buf + a.a_body, 1, a.a_body_end - a.a_body, f);
		} else if ((st = bgctl_fetch(c, &a, line, o->o_prefix, &events, why,
		    sizeof(why))) != NULL) {
			bgctl_view_frame(f, st, events, clock, utf8);
		}
		if (st == NULL)
			fprintf(o->o_json ? stderr : f, "%s  bgctl: %s (trying again every %g s)\n",
			    clock, why, interval);
		fclose(f);
		if (bgctl_stop) {	/* Ctrl-C during the fetch: keep the last good frame */
			free(frame);
			frame = NULL;
			json_decref(st);
			json_decref(events);
			break;
		}
		if (tty)
			bgctl_paint(frame, flen);
		else
			fprintf(stdout, "%s%s", frame, o->o_json ? "" : "\n");
		if (fflush(stdout) == EOF || ferror(stdout)) {
			/* the reader went away (bgctl status --watch | head): done */
			free(frame);
			json_decref(st);
			json_decref(events);
			free(a.a_buf);
			return errno == EPIPE ? BGCTL_EXIT_OK : BGCTL_EXIT_FAIL;
		}
		free(frame);
		frame = NULL;
		json_decref(st);
		json_decref(events);
		events = NULL;
		bgctl_sleep(next - bgctl_now_s());
	}
	if (tty)
		fputs("\033[?25h\n", stdout);	/* the cursor back */
	free(a.a_buf);
	return BGCTL_EXIT_OK;
}

/* "bgctl: which service? shop, api (-S NAME)" from a list of services. */
static void
bgctl_which_service(json_t *st)
{
	json_t *list = json_object_get(st, "services"), *e;
	size_t i;

	fprintf(stderr, "bgctl: which service?");
	json_array_foreach(list, i, e) {
		const char *n = json_string_value(json_object_get(e, "name"));

		if (n != NULL && strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789-_.") == strlen(n))
			fprintf(stderr, "%s %s", i ? "," : "", n);
	}
	fprintf(stderr, " (-S NAME)\n");
}

/* Polls the status until the rollout ends or the time runs out. */
static int
bgctl_rollout_wait(const struct bgctl_opts *o, struct bgctl_conn *c)
{
	struct bgctl_answer a = { 0 };
	struct bgctl_wait w = { 0 };
	char why[512] = "", printed[sizeof(w.w_key)] = "", line[160];
	double deadline = o->o_wait_s > 0 ? bgctl_now_s() + o->o_wait_s : 0;
	enum bgctl_wait_state ws = BGCTL_WAIT_GOING;
	bool reached = false;
	json_t *st;
	int rc = -1;

	snprintf(line, sizeof(line), "json %sstatus\n", o->o_prefix);
	while (rc == -1) {
		if ((st = bgctl_fetch(c, &a, line, o->o_prefix, NULL, why, sizeof(why))) != NULL) {
			reached = true;
			if (json_object_get(st, "services") != NULL) {
				/* several services and none named: a rollout is one's */
				bgctl_which_service(st);
				json_decref(st);
				rc = BGCTL_EXIT_ERR;
				break;
			}
			ws = bgctl_view_wait(st, &w);
			json_decref(st);
			if (strcmp(printed, w.w_key) != 0 ||
			    (ws != BGCTL_WAIT_GOING && ws != BGCTL_WAIT_BAKING)) {
				printf("%s\n", w.w_line);
				fflush(stdout);
				snprintf(printed, sizeof(printed), "%s", w.w_key);
			}
		} else if (!reached) {
			/* never reached: the server is not there, as for any command */
			fprintf(stderr, "bgctl: %s\n", why);
			rc = BGCTL_EXIT_FAIL;
			break;
		}
		if (st != NULL && (ws == BGCTL_WAIT_PROMOTED ||
		    (ws == BGCTL_WAIT_BAKING && o->o_until_baking)))
			rc = BGCTL_EXIT_OK;
		else if (st != NULL && ws == BGCTL_WAIT_REVERTED)
			rc = BGCTL_EXIT_ERR;
		else if (st != NULL && ws == BGCTL_WAIT_NONE)
			rc = BGCTL_EXIT_ERR;
		else if (deadline > 0 && bgctl_now_s() >= deadline) {
			fprintf(stderr, "bgctl: rollout wait timed out after %g s%s%s\n", o->o_wait_s,
			    st == NULL ? "; last try: " : "", st == NULL ? why : "");
			rc = BGCTL_EXIT_TIMEOUT;
		} else {
			double left = deadline > 0 ? deadline - bgctl_now_s() : 1;

			bgctl_sleep(left < BGCTL_WAIT_POLL_MS / 1000.0 ? left :
			    BGCTL_WAIT_POLL_MS / 1000.0);
		}
	}
	free(a.a_buf);
	return rc;
}

int
main(int argc, char **argv)
{
	struct bgctl_opts o = { 0 };
	struct bgctl_answer a = { 0 };
	struct bgctl_conn c = { NULL, -1, 0 };
	enum bgctl_recv how;
	char err[256] = "";
	int rc;

	if ((rc = bgctl_options(argc, argv, &o)) != -1)
		return rc;
	/* a server that goes away must give us EPIPE, not kill us silently */
	signal(SIGPIPE, SIG_IGN);
	c.c_path = o.o_socket;
	c.c_timeout_ms = o.o_timeout_ms;
	o.o_line[o.o_len] = '\n';	/* bgctl_join left room for it */
	if (o.o_cmd == BGCTL_CMD_WATCH) {
		rc = bgctl_watch(&o, &c);
	} else if (o.o_cmd == BGCTL_CMD_WAIT) {
		rc = bgctl_rollout_wait(&o, &c);
	} else {
		how = bgctl_call(&c, o.o_line, o.o_len + 1, &a, err, sizeof(err));
		rc = bgctl_finish(&o, &c, &a, how, err);
	}
	bgctl_conn_close(&c);
	free(o.o_line);
	free(a.a_buf);
	/* a closed pipe downstream (bgctl ... | head) is the reader's choice;
	 * the watch loop has looked at its own writes */
	if (o.o_cmd != BGCTL_CMD_WATCH && (fflush(stdout) == EOF || ferror(stdout))) {
		int e = errno;

		if (e != EPIPE) {
			fprintf(stderr, "bgctl: cannot write the answer: %s\n", strerror(e));
			return BGCTL_EXIT_FAIL;
		}
	}
	return rc;
}
