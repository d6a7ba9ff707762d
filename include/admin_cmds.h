/*
 * admin_cmds.h - one admin command's context and the command table's
 * runner (admin_cmds.c), and the handlers that live in files of their own
 * (admin_cluster.c, admin_explain.c).  admin.c reads lines off the socket
 * and hands each here.
 */
#ifndef BGPROXY_ADMIN_CMDS_H
#define BGPROXY_ADMIN_CMDS_H

#include <stddef.h>

#include "state.h"

struct evbuffer;
typedef struct json_t json_t;

#define ADMIN_LINE_MAX 4096

/* One command's context, filled by admin.c, used by the handlers. */
struct admin_ctx {
	struct actor who;
	int json;                 /* answer with one JSON line */
	int readonly;             /* it came on admin.readonly_socket */
	int cmd_id;               /* enum admin_cmd_id of the command running */
	struct service *sv;       /* the service it acts on; NULL: the process (or all) */
	struct evbuffer *body;    /* the text lines after OK */
	json_t *jout;             /* with json: the object after OK (admin.c frees it) */
	char err[1024];           /* ERR reason */
};

/* Run one command line; returns 0 (OK) or -1 (ERR, reason in c->err).
 * *changes_state tells whether the command is one that is audited. */
int admin_cmd_run(struct admin_ctx *c, char *line, int *changes_state);

/* The service line's command acts on (its "in SERVICE", or the one there
 * is); NULL when none (a command about the process, status of all, an
 * error). */
struct service *admin_cmd_line_service(const char *line);

/* 1 when line is a command that changes the fleet's split (with a cluster
 * it waits for etcd: admin.c); 0 for anything else, a bad line too. */
int admin_cmd_for_fleet(const char *line);

/* The help text generated from the command table. */
void admin_cmd_help(struct evbuffer *out);

/* admin_cluster.c: `show nodes`. */
int admin_cmd_show_nodes(struct admin_ctx *c, int argc, char **argv);

/* admin_explain.c: the guard's evidence, per check (`explain`). */
int admin_cmd_explain(struct admin_ctx *c, int argc, char **argv);

#endif
