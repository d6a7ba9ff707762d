/*
 * events_file.h - the split's events kept beside the state file
 * (STATE_FILE.events), so show events, the web view and rollout wait see
 * what happened before a restart.  JSON through jansson:
 *
 *   {"version":42,
 *    "events":[{"time":"...","kind":"revert","from":"...","to":"...",
 *               "actor":"...","evidence":"...","text":"..."}, ...]}
 *
 * "version" is the split's version when it was written: a state file that
 * is lost or damaged cannot take the version back below it.
 *
 * oldest first, at most STATE_EVENTS.  Pure but for the file itself.
 */
#ifndef BGPROXY_EVENTS_FILE_H
#define BGPROXY_EVENTS_FILE_H

#include <stddef.h>

#include "state.h"

/* The events as a malloc'd NUL-terminated JSON text, or NULL. */
char *events_format(const struct state_ev *evs, size_t n, unsigned long long version);

/* Parse buf into out (at most max): the number read, or -1 with err.  An
 * event of a kind this release does not know keeps the kind "event". */
int events_parse(const char *buf, size_t len, struct state_ev *out, size_t max,
    unsigned long long *version, char *err, size_t errlen);

/* Write / read the file at path (a missing file is 0 events). */
int events_save(const char *path, const struct state_ev *evs, size_t n,
    unsigned long long version, char *err, size_t errlen);
int events_load(const char *path, struct state_ev *out, size_t max, unsigned long long *version,
    char *err, size_t errlen);

#endif
