/*
 * health_count.h - rise/fall hysteresis of active health checks, apart
 * from their sockets: a server goes down after `fall` failed checks in a
 * row and comes back after `rise` passed ones.  Pure; tests/unit/
 * test_health.c holds it.
 */
#ifndef BGPROXY_HEALTH_COUNT_H
#define BGPROXY_HEALTH_COUNT_H

struct health_count {
	int	passes;		/* checks passed in a row */
	int	fails;		/* checks failed in a row */
};

enum health_flip {
	HEALTH_SAME,	/* no change of state */
	HEALTH_UP,	/* down -> up: `rise` checks passed */
	HEALTH_DOWN	/* up -> down: `fall` checks failed */
};

/* Counts one result for a server that is down (or not) now. */
enum health_flip health_count(struct health_count *c, int down, int ok, int rise, int fall);

#endif
