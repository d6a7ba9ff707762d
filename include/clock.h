/*
 * clock.h - the time helpers every module needs: the monotonic clock,
 * milliseconds as a struct timeval, and UTC timestamps for logs.
 */
#ifndef BGPROXY_CLOCK_H
#define BGPROXY_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>

/* Monotonic microseconds. */
uint64_t proxy_now_us(void);
/* The same clock read coarsely (its last tick, a few ms behind at most) and
 * cheaply: for deadlines and progress marks of a millisecond's grain, not
 * for durations that are measured. */
uint64_t proxy_coarse_us(void);

/* ms milliseconds as a timeval (for evtimer_add, bufferevent timeouts). */
struct timeval clock_tv_ms(int ms);

/* The wall clock now as "2026-12-02T14:00:00.123Z" (24 bytes); returns the
 * length written (buf of at least CLOCK_ISO_LEN bytes). */
#define CLOCK_ISO_LEN 32
int clock_iso_now(char *buf, size_t len);

/* ms milliseconds from now on CLOCK_REALTIME: a pthread_cond_timedwait
 * deadline. */
struct timespec clock_deadline_ms(int ms);

/* The wall clock now in milliseconds since the epoch. */
long long clock_wall_ms(void);

#endif
