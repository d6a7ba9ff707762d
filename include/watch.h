/*
 * watch.h - the guard's timer on the control thread: every
 * guard.interval_ms it merges the workers' windows, asks guard.c, reverts
 * (or, with dry_run, records what it would have done), then lets the
 * rollout timer advance.
 */
#ifndef BGPROXY_WATCH_H
#define BGPROXY_WATCH_H

struct service;

#include <stddef.h>

struct event_base;

int watch_start(struct event_base *base, char *err, size_t errlen);
void watch_stop(void);

/* Every service has its guard timer running (after a reload added some);
 * -1 with err when one cannot be made. */
int watch_sync(char *err, size_t errlen);

/* With guard.dry_run: what the guard would do now ("would revert green:
 * error_rate 0.62 > 0.05 over 10s, n=143"), "" when it would hold or is
 * not watching.  Control thread. */
const char *watch_dry_verdict(struct service *sv);

/* The guard's last verdict in words ("clean: 143 candidate requests in
 * 10 s", "clean so far: 7 of 20 ...", "tripped: error_rate ...", "not
 * watching: green has no traffic").  Control thread. */
const char *watch_verdict(struct service *sv);

/* Guard trips that reverted, by enum guard_check (index 0 unused); and
 * the wall-clock time of the last revert of any kind (0 = none). */
unsigned long long watch_trips(struct service *sv, int check);

/* The last trip that acted (not dry run): when (wall ms), which check
 * (enum guard_check), its reason, and what guard.on_trip made of it
 * (enum guard_on_trip); NULL before the first.  Control thread. */
struct watch_trip {
	long long time_ms;
	int check;
	int action;
	char reason[512];
};
const struct watch_trip *watch_last_trip(struct service *sv);

/* guard.method "sequential": the judge of the candidate's live traffic and
 * its policy; NULL when it is not judging (another method, or no live
 * traffic at the candidate).  *cand, *stable: the pools.  Control thread. */
struct judge;
struct judge_policy;
const struct judge *watch_judge(struct service *sv, struct judge_policy *p, int *cand,
    int *stable);

/* 1 while the judge is fed the copies of the stable pool's requests (the
 * candidate has no users: a shadow phase), else 0. */
int watch_judge_copies(struct service *sv);

#endif
