/*
 * audit.h - admin.audit_log: one JSON line per state-changing command (the
 * refused ones included) and per action bgproxy takes by itself (the
 * guard's revert).  Written from the control thread only.
 */
#ifndef BGPROXY_AUDIT_H
#define BGPROXY_AUDIT_H

#include <stddef.h>
#include <sys/types.h>

#include "state.h"

/* Who asked: the peer's credentials and the socket it came through ("-"
 * for bgproxy itself). */
struct audit_who {
	uid_t		 uid;
	pid_t		 pid;
	const char	*socket;
};

/* Opens (or reopens, for SIGUSR1 and reload) the log at path; NULL closes
 * it.  0, or -1 with err and the old log kept. */
int audit_open(const char *path, char *err, size_t errlen);
void audit_close(void);

/* One line: time, who, command, result ("OK", "ERR reason"), evidence (may
 * be NULL) and the split before and after. */
void audit_write(const struct audit_who *who, const char *cmd, const char *result,
    const char *evidence, const struct split_state *before, const struct split_state *after);

/* An action of bgproxy itself, with its own uid and pid: the command reads
 * "WHAT (by ACTOR)". */
void audit_actor(const struct actor *who, const char *what, const char *result,
    const char *evidence, const struct split_state *before, const struct split_state *after);

#endif
