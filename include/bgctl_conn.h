/*
 * bgctl_conn.h - bgctl's side of the admin protocol: one connection, kept
 * open across the commands of watch and wait, and the framing of an answer
 * (a first line OK or ERR <reason>, body lines, an empty line).
 */
#ifndef BGPROXY_BGCTL_CONN_H
#define BGPROXY_BGCTL_CONN_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#define BGCTL_ANSWER_MAX	(16u << 20)	/* refuse answers above 16 MB */

/* Set by SIGINT/SIGTERM in the watch loop: waits end early. */
extern volatile sig_atomic_t bgctl_stop;

/* How reading an answer ended. */
enum bgctl_recv {
	BGCTL_RECV_DONE,	/* the empty line arrived */
	BGCTL_RECV_CLOSED,	/* the server closed before the empty line */
	BGCTL_RECV_TIMEOUT,	/* nothing arrived for the timeout */
	BGCTL_RECV_FAIL,	/* read error or answer too large; see err */
	BGCTL_RECV_UNREACHABLE,	/* connect failed; see err */
	BGCTL_RECV_SENDFAIL	/* send failed; see err */
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

/* One admin connection kept open across the commands of watch and wait. */
struct bgctl_conn {
	const char	*c_path;
	int		 c_fd;		/* -1: not connected */
	int		 c_timeout_ms;
};


/* Closes the connection (the next call reconnects). */
void bgctl_conn_close(struct bgctl_conn *c);

/* Sends one line (with its "\n") and reads its answer into a, connecting
 * first when needed.  Any failure closes the connection. */
enum bgctl_recv bgctl_call(struct bgctl_conn *c, const char *line, size_t len,
    struct bgctl_answer *a, char *err, size_t errlen);

/* 1 for "OK", 0 for "ERR ...", -1 for anything else. */
int bgctl_answer_ok(const struct bgctl_answer *a);

/* The first body line as JSON of type (JSON_OBJECT, JSON_ARRAY): a new
 * reference, or NULL with err. */
json_t *bgctl_answer_json(const struct bgctl_answer *a, int type, char *err, size_t errlen);

/* Why a call failed, in words for the operator. */
void bgctl_why(const struct bgctl_conn *c, const struct bgctl_answer *a, enum bgctl_recv how,
    const char *err, char *buf, size_t len);

#endif
