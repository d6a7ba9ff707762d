/*
 * bgctl_view.h - what bgctl shows of "json status": the one-shot status,
 * the frames of "status --watch" and the progress of "rollout wait".
 *
 * Pure: each function reads a decoded answer and writes text; none of them
 * talks to the socket, so tests/unit/test_bgctl_view.c drives them.
 * Strings from the server are printed with control bytes replaced, and a
 * missing or mistyped key prints "-", never a crash.
 */
#ifndef BGPROXY_BGCTL_VIEW_H
#define BGPROXY_BGCTL_VIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* "bgctl status": head, pools, servers.  utf8 picks the bar's cells. */
void bgctl_view_status(FILE *f, json_t *status, bool utf8);

/*
 * One frame of "bgctl status --watch": the head with the version and the
 * time `clock`, the rollout's steps with the current one in brackets and
 * what it waits for, the guard's verdict and thresholds, pools, servers
 * and events (the object of "json show events N", may be NULL).
 */
void bgctl_view_frame(FILE *f, json_t *status, json_t *events, const char *clock,
    bool utf8);

/* The outcome of "bgctl rollout wait" so far. */
enum bgctl_wait_state {
	BGCTL_WAIT_GOING,	/* a rollout is under way */
	BGCTL_WAIT_BAKING,	/* the candidate has 100%: baking until a promote */
	BGCTL_WAIT_PROMOTED,	/* the candidate became the stable pool */
	BGCTL_WAIT_REVERTED,	/* the guard or an operator reverted */
	BGCTL_WAIT_NONE		/* nothing to wait for, or it ended otherwise */
};

struct bgctl_wait {
	char	w_pool[32];	/* the candidate waited for; "" before the first status */
	char	w_key[64];	/* state and step: the line is worth printing when it changes */
	char	w_line[640];	/* "green step 2 of 6 (5%): waits for ...", "reverted: WHY" */
};

/* Reads one status into w (zeroed before the first call). */
enum bgctl_wait_state bgctl_view_wait(json_t *status, struct bgctl_wait *w);

#endif
