/*
 * admin.h - the admin socket: a Unix stream socket speaking the line
 * protocol of contract section 3, peer credentials (the audit log is
 * audit.c).  Runs on
 * the control thread's event_base.
 */
#ifndef BGPROXY_ADMIN_H
#define BGPROXY_ADMIN_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

struct event_base;

#define ADMIN_MAX_CLIENTS 64

/* Create the socket (admin.mode), the read-only socket when configured
 * (admin.readonly_mode) and the audit log.  0 or -1 with err. */
int admin_start(struct event_base *base, const struct config *cfg, char *err, size_t errlen);

/* Close the socket (unlinks it) and every admin connection. */
void admin_stop(void);

#endif
