/*
 * audit.h - admin.audit_log: one JSON line per state-changing command (the
 * refused ones included) and per action bgproxy takes by itself (the
 * guard's revert: state_audit_actor).  A line writer: it knows nothing of
 * the split but what it is given.  Written from the control thread only.
 */
#ifndef BGPROXY_AUDIT_H
#define BGPROXY_AUDIT_H

#include <stddef.h>
#include <sys/types.h>

/* Who asked: the peer's credentials and the socket it came through ("-"
 * for bgproxy itself). */
struct audit_who {
	uid_t		 uid;
	pid_t		 pid;
	const char	*socket;
};

/* The split as a line shows it (state.c fills one: state_audit_split). */
struct audit_split {
	const char	*stable;      /* "blue" */
	const char	*state;       /* "idle", "running", ... */
	double		 blue, green; /* percent */
	unsigned long long version;
};

/* Opens (or reopens, for SIGUSR1 and reload) the log at path; NULL closes
 * it.  0, or -1 with err and the old log kept. */
int audit_open(const char *path, char *err, size_t errlen);
void audit_close(void);

/* One line: time, who, the service (NULL: none, with one service or a
 * command about the process), command, result ("OK", "ERR reason"),
 * evidence (may be NULL) and the split before and after (NULL: null). */
void audit_write(const struct audit_who *who, const char *service, const char *cmd,
    const char *result, const char *evidence, const struct audit_split *before,
    const struct audit_split *after);

#endif
