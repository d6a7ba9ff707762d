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
#include "state.h"

struct event_base;
struct evbuffer;
typedef struct json_t json_t;

#define ADMIN_LINE_MAX 4096
#define ADMIN_MAX_CLIENTS 64

/* Create the socket (admin.mode), the read-only socket when configured
 * (admin.readonly_mode) and the audit log.  0 or -1 with err. */
int admin_start(struct event_base *base, const struct config *cfg, char *err, size_t errlen);

/* Close the socket (unlinks it) and every admin connection. */
void admin_stop(void);


/* One command's context, filled by admin.c, used by the handlers. */
struct admin_ctx {
	struct actor who;
	int json;                 /* answer with one JSON line */
	int readonly;             /* it came on admin.readonly_socket */
	int cmd_id;               /* enum admin_cmd_id of the command running */
	struct evbuffer *body;    /* the text lines after OK */
	json_t *jout;             /* with json: the object after OK (admin.c frees it) */
	char err[1024];           /* ERR reason */
};

/* The answers of `json status` (an object) and `json show events` (a list
 * of the last `want` event objects, oldest first), also served as
 * /status.json and /events.json.  New references. */
json_t *admin_status_object(void);
/* One event as `json show events` lists it (a new reference). */
json_t *admin_event_json(const struct state_ev *ev);
json_t *admin_events_object(int want);

/* Seconds since the proxy started (show info). */
long admin_uptime_s(void);

/* Run one command line; returns 0 (OK) or -1 (ERR, reason in c->err).
 * *changes_state tells whether the command is one that is audited. */
int admin_cmd_run(struct admin_ctx *c, char *line, int *changes_state);

/* 1 when line is a command that changes the fleet's split (with a cluster
 * it waits for etcd: admin.c); 0 for anything else, a bad line too. */
int admin_cmd_for_fleet(const char *line);

/* admin_cluster.c: the cluster in show info ({"node","leader","connected"},
 * null without one; a "cluster ..." line), the fleet's window in status,
 * and show nodes. */
json_t *admin_cluster_object(void);
void admin_cluster_line(struct evbuffer *b);
json_t *admin_fleet_object(void);
void admin_fleet_text(struct evbuffer *b);
int admin_cmd_show_nodes(struct admin_ctx *c, int argc, char **argv);

/* admin_explain.c: the guard's evidence, per check (`explain`). */
int admin_cmd_explain(struct admin_ctx *c, int argc, char **argv);

/* The help text generated from the command table. */
void admin_cmd_help(struct evbuffer *out);

#endif
