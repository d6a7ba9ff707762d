/*
 * admin.c - the admin socket: Unix stream socket, line framing (at most
 * ADMIN_LINE_MAX bytes, no NUL), peer credentials; each state-changing
 * command goes to the audit log (audit.c).
 *
 * A slow, idle or hostile admin client can hold at most one of
 * ADMIN_MAX_CLIENTS slots for ADMIN_IDLE_S seconds and never blocks the
 * workers: this runs on the control thread.  When every slot is taken, the
 * client idle the longest is closed to make room, so idle connections never
 * lock the operator out.  A client that writes commands and does not read
 * the answers is no longer read once ADMIN_OUT_MAX of answers wait for it
 * (what it sends stays in the kernel), and is closed when that lasts
 * ADMIN_STALL_S.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <jansson.h>

#include "admin.h"
#include "admin_cmds.h"
#include "audit.h"
#include "cluster.h"
#include "jsonx.h"
#include "log.h"
#include "proxy.h"

#define ADMIN_IDLE_S 30
#define ADMIN_OUT_MAX (1024 * 1024)   /* stop reading commands while more is queued */
#define ADMIN_IN_MAX (2 * ADMIN_LINE_MAX + 2)  /* bytes read ahead of the command run */
#define ADMIN_STALL_S 5              /* over ADMIN_OUT_MAX this long: closed */

struct admin_client {
	struct bufferevent *bev;
	LIST_ENTRY(admin_client) link;
	struct event *stall;          /* armed while the output is over ADMIN_OUT_MAX */
	uint64_t last_us;             /* the last command or accept (monotonic) */
	uid_t uid;
	pid_t pid;
	int closing;                  /* answer queued, close when flushed */
	int readonly;                 /* accepted on admin.readonly_socket */
	int stalled;                  /* reading stopped: the output is over ADMIN_OUT_MAX */
	struct admin_op *pending;     /* a command waiting for the fleet's record */
	int eof;                      /* the client finished sending meanwhile */
};

/*
 * With a cluster, a command that changes the split is answered once etcd
 * took it: the client's next lines wait meanwhile.  A client that goes
 * away does not cancel it (it was given); only the answer is dropped.
 */
struct admin_op {
	struct cluster_req rq;
	struct admin_client *cl;      /* NULL once the client went */
	char line[ADMIN_LINE_MAX + 1];
	struct admin_ctx c;           /* the last attempt's answer */
	struct service *sv;           /* the fleet's one service */
	struct split_state before;
	struct audit_who who;
	int tries;
};

#define ADMIN_FLEET_TRIES 5           /* lost races before ERR conflict */

static struct evconnlistener *admin_listener, *admin_ro_listener;
static LIST_HEAD(, admin_client) admin_clients = LIST_HEAD_INITIALIZER(admin_clients);
static int admin_nclients;
static char admin_path[108], admin_ro_path[108];
/* An operator's command in the audit log: its service's split before it
 * and now (none for a command about the process, or status of all). */
static void
admin_audit(const struct audit_who *who, struct service *sv, const char *line,
    const char *result, const struct split_state *before)
{
	struct audit_split b, a;

	if (sv == NULL) {
		audit_write(who, NULL, line, result, NULL, NULL, NULL);
		return;
	}
	state_audit_split(before, &b);
	state_audit_split(state_get(sv), &a);
	audit_write(who, rt.cfg->services ? sv->name : NULL, line, result, NULL, &b, &a);
}

/* ---- clients --------------------------------------------------------------- */

static void
admin_client_free(struct admin_client *cl)
{
	if (cl->pending != NULL)
		cl->pending->cl = NULL;
	LIST_REMOVE(cl, link);
	bufferevent_free(cl->bev);
	cl->bev = NULL;
	if (cl->stall != NULL)
		event_free(cl->stall);
	cl->stall = NULL;
	free(cl);
	admin_nclients--;
}

static void
admin_stall_cb(evutil_socket_t fd, short what, void *arg)
{
	struct admin_client *cl = arg;

	(void)fd;
	(void)what;
	log_info("admin (uid %d pid %d): closed, its answers were not read for %d s",
	    (int)cl->uid, (int)cl->pid, ADMIN_STALL_S);
	admin_client_free(cl);
}

/* Over ADMIN_OUT_MAX: stop reading (the kernel holds what it sends) and
 * start the stall clock; under it again: read on. */
static void
admin_set_stalled(struct admin_client *cl, int stalled)
{
	struct timeval tv = { ADMIN_STALL_S, 0 };

	if (cl->stalled == stalled)
		return;
	cl->stalled = stalled;
	if (stalled) {
		bufferevent_disable(cl->bev, EV_READ);
		evtimer_add(cl->stall, &tv);
	} else {
		evtimer_del(cl->stall);
		if (!cl->closing)
			bufferevent_enable(cl->bev, EV_READ);
	}
}

static void
admin_reply(struct admin_client *cl, int ok, struct admin_ctx *c)
{
	struct evbuffer *out = bufferevent_get_output(cl->bev);

	char *js = NULL;

	if (ok && c->json) {
		if (c->jout == NULL)   /* a handler that had nothing to say, or out of memory */
			c->jout = json_pack("{s:b}", "ok", 1);
		js = c->jout != NULL ? json_dumps(c->jout, JSON_COMPACT | JSON_PRESERVE_ORDER) :
		    NULL;
		if (js == NULL) {
			ok = 0;
			snprintf(c->err, sizeof(c->err), "out of memory writing the answer");
		}
	}
	if (ok) {
		evbuffer_add(out, "OK\n", 3);
		if (c->json)
			evbuffer_add_printf(out, "%s\n", js);
		else
			evbuffer_add_buffer(out, c->body);
	} else {
		evbuffer_add_printf(out, "ERR %s\n", c->err);
		if (c->json) {
			json_t *e = json_pack("{s:b,s:o}", "ok", 0, "error", jsonx_str(c->err));

			js = e != NULL ? json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
			json_decref(e);
			evbuffer_add_printf(out, "%s\n", js != NULL ? js :
			    "{\"ok\":false,\"error\":\"out of memory\"}");
		}
	}
	free(js);
	evbuffer_add(out, "\n", 1);
}

static void admin_readcb(struct bufferevent *bev, void *arg);

static void
admin_op_reset(struct admin_op *op)
{
	if (op->c.body != NULL)
		evbuffer_free(op->c.body);
	json_decref(op->c.jout);
	memset(&op->c, 0, sizeof(op->c));
	op->c.who.kind = ACTOR_OPERATOR;
	op->c.who.uid = op->who.uid;
	op->c.who.pid = op->who.pid;
	/* what admin_cmd_run would say, for an answer given without it */
	op->c.json = strncmp(op->line, "json ", 5) == 0;
	op->c.body = evbuffer_new();
}

/* The answer, the audit line, and the client reads on. */
static void
admin_op_finish(struct admin_op *op, int ok)
{
	struct admin_client *cl = op->cl;
	char res[sizeof(op->c.err) + 8];

	if (!ok && op->c.err[0] == '\0')
		snprintf(op->c.err, sizeof(op->c.err), "out of memory");
	if (cl != NULL) {
		cl->pending = NULL;
		if (op->c.body != NULL)
			admin_reply(cl, ok, &op->c);
	}
	snprintf(res, sizeof(res), "%s%s", ok ? "OK" : "ERR ", ok ? "" : op->c.err);
	admin_audit(&op->who, op->sv, op->line, res, &op->before);
	if (!ok)
		log_info("admin (uid %d pid %d): \"%s\" refused: %s", (int)op->who.uid,
		    (int)op->who.pid, op->line, op->c.err);
	if (op->c.body != NULL)
		evbuffer_free(op->c.body);
	json_decref(op->c.jout);
	free(op);
	/* the lines that waited behind it are read from the loop, not from
	 * here: this may run inside cluster.c, and a client's pipelined
	 * commands must not pile up on the stack */
	if (cl != NULL && !cl->closing && !cl->stalled)
		bufferevent_trigger(cl->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS |
		    BEV_TRIG_DEFER_CALLBACKS);
}

/* Its turn: the command runs on the current split, staged. */
static int
admin_op_prepare(struct cluster_req *rq)
{
	struct admin_op *op = rq->arg;
	char buf[ADMIN_LINE_MAX + 1];
	int changes, r;

	admin_op_reset(op);
	if (op->c.body == NULL) {
		admin_op_finish(op, 0);
		return -1;
	}
	if (!cluster_connected()) {
		snprintf(op->c.err, sizeof(op->c.err), "cluster unreachable: %s; only revert works "
		    "until etcd answers", cluster_why()[0] ? cluster_why() : "etcd does not answer");
		admin_op_finish(op, 0);
		return -1;
	}
	memcpy(buf, op->line, sizeof(buf));
	state_stage_begin(op->sv, &rq->st);
	r = admin_cmd_run(&op->c, buf, &changes);
	state_stage_end(op->sv, &rq->st);
	if (r == -1 || !rq->st.changed) {
		admin_op_finish(op, r == 0);
		return -1;
	}
	return 0;
}

static void
admin_op_done(struct cluster_req *rq, int result, const char *err)
{
	struct admin_op *op = rq->arg;

	if (result == 1) {
		admin_op_finish(op, 1);
		return;
	}
	if (result == 0 && ++op->tries < ADMIN_FLEET_TRIES) {
		cluster_submit(&op->rq);      /* again, on what the other node wrote */
		return;
	}
	if (result == 0)
		snprintf(op->c.err, sizeof(op->c.err), "conflict: other nodes changed the split "
		    "first %d times; try again", op->tries);
	else
		snprintf(op->c.err, sizeof(op->c.err), "cluster unreachable: %s; only revert works "
		    "until etcd answers", err != NULL ? err : "etcd does not answer");
	admin_op_finish(op, 0);
}

/* A change of the fleet's split: answered when etcd has it. */
static void
admin_op_start(struct admin_client *cl, const char *line, size_t len)
{
	struct admin_op *op = calloc(1, sizeof(*op));

	if (op == NULL) {
		bufferevent_write(cl->bev, "ERR out of memory\n\n", 19);
		return;
	}
	op->cl = cl;
	memcpy(op->line, line, len);
	op->line[len] = '\0';
	/* a fleet command names a split: the line resolves to its service */
	op->sv = admin_cmd_line_service(op->line);
	if (op->sv == NULL) {
		free(op);
		bufferevent_write(cl->bev, "ERR which service?\n\n", 21);
		return;
	}
	op->before = *state_get(op->sv);
	op->who.uid = cl->uid;
	op->who.pid = cl->pid;
	op->who.socket = cl->readonly ? admin_ro_path : admin_path;
	op->rq.prepare = admin_op_prepare;
	op->rq.done = admin_op_done;
	op->rq.arg = op;
	admin_op_reset(op);
	cl->pending = op;
	cluster_submit(&op->rq);
}

static void
admin_run_line(struct admin_client *cl, char *line, size_t len)
{
	struct admin_ctx c;
	struct split_state before;
	struct service *sv;
	char copy[ADMIN_LINE_MAX + 1];
	int changes, ok;

	memset(&c, 0, sizeof(c));
	c.who.kind = ACTOR_OPERATOR;
	c.who.uid = cl->uid;
	c.who.pid = cl->pid;
	c.readonly = cl->readonly;
	c.body = evbuffer_new();
	if (c.body == NULL)
		return;
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	memcpy(copy, line, len);      /* len <= ADMIN_LINE_MAX */
	copy[len] = '\0';
	/* the split the audit line shows: the command's service's */
	sv = memchr(line, '\0', len) == NULL ? admin_cmd_line_service(copy) : NULL;
	if (sv != NULL)
		before = *state_get(sv);
	if (memchr(line, '\0', len) != NULL) {
		snprintf(c.err, sizeof(c.err), "NUL byte in command");
		ok = 0;
		changes = 0;
	} else if (cluster_on() && !cl->readonly && admin_cmd_for_fleet(copy)) {
		evbuffer_free(c.body);
		admin_op_start(cl, copy, len);
		return;
	} else {
		ok = admin_cmd_run(&c, line, &changes) == 0;
	}
	admin_reply(cl, ok, &c);
	if (changes) {
		char res[sizeof(c.err) + 8];

		snprintf(res, sizeof(res), "%s%s", ok ? "OK" : "ERR ", ok ? "" : c.err);
		struct audit_who who = { cl->uid, cl->pid, cl->readonly ? admin_ro_path :
		    admin_path };

		admin_audit(&who, sv, copy, res, &before);
	}
	if (!ok)
		log_info("admin%s (uid %d pid %d): \"%s\" refused: %s", cl->readonly ?
		    " read-only" : "", (int)cl->uid, (int)cl->pid, copy, c.err);
	evbuffer_free(c.body);
	json_decref(c.jout);
}

static void
admin_readcb(struct bufferevent *bev, void *arg)
{
	struct admin_client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr eol;
	char line[ADMIN_LINE_MAX + 2];
	size_t len;

	while (!cl->closing && cl->pending == NULL) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) > ADMIN_OUT_MAX) {
			admin_set_stalled(cl, 1);  /* the write callback reads on */
			return;
		}
		eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
		if (eol.pos == -1 && cl->eof && evbuffer_get_length(in) > 0 &&
		    evbuffer_get_length(in) <= ADMIN_LINE_MAX) {
			/* the client ended its sending side after a last line
			 * without its newline (printf status | socat): a line too */
			len = evbuffer_get_length(in);
			evbuffer_remove(in, line, len);
			line[len] = '\0';
			cl->last_us = proxy_now_us();
			admin_run_line(cl, line, len);
			continue;
		}
		if (eol.pos == -1) {
			if (evbuffer_get_length(in) > ADMIN_LINE_MAX) {
				evbuffer_add_printf(bufferevent_get_output(bev),
				    "ERR line too long (at most %d bytes)\n\n", ADMIN_LINE_MAX);
				cl->closing = 1;
				bufferevent_disable(bev, EV_READ);
			}
			break;
		}
		len = (size_t)eol.pos;
		if (len > ADMIN_LINE_MAX) {
			evbuffer_drain(in, len + 1);
			evbuffer_add_printf(bufferevent_get_output(bev),
			    "ERR line too long (at most %d bytes)\n\n", ADMIN_LINE_MAX);
			continue;
		}
		evbuffer_remove(in, line, len + 1);
		line[len] = '\0';
		cl->last_us = proxy_now_us();
		admin_run_line(cl, line, len);
	}
	/* the client said all it had to say while a command waited: now that
	 * every line is answered, close once the answers are out */
	if (cl->eof && cl->pending == NULL && !cl->closing) {
		cl->closing = 1;
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			admin_client_free(cl);
	}
}

static void
admin_writecb(struct bufferevent *bev, void *arg)
{
	struct admin_client *cl = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0 && cl->closing) {
		admin_client_free(cl);
		return;
	}
	if (cl->stalled && evbuffer_get_length(bufferevent_get_output(bev)) <= ADMIN_OUT_MAX / 2)
		admin_set_stalled(cl, 0);
	if (!cl->stalled && evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		admin_readcb(bev, cl);
}

static void
admin_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct admin_client *cl = arg;

	if ((what & BEV_EVENT_EOF) && !cl->closing) {
		/* the client finished sending: every line is still answered
		 * (after the one that waits for etcd, if one does), then the
		 * connection closes once the answers are out */
		cl->eof = 1;
		bufferevent_disable(bev, EV_READ);
		if (cl->pending == NULL)
			admin_readcb(bev, cl);   /* may free cl */
		return;
	}
	if ((what & BEV_EVENT_EOF) && evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
		/* the client finished sending (socat): answer, then close */
		cl->closing = 1;
		bufferevent_disable(bev, EV_READ);
		return;
	}
	admin_client_free(cl);
}

/* Every slot is taken: close the client idle the longest (nothing of ours
 * waiting for it to read).  -1 when every client is busy. */
static int
admin_evict_idle(void)
{
	struct admin_client *cl, *victim = NULL;

	LIST_FOREACH(cl, &admin_clients, link) {
		if (cl->closing || cl->pending != NULL ||
		    evbuffer_get_length(bufferevent_get_output(cl->bev)) > 0)
			continue;
		if (victim == NULL || cl->last_us < victim->last_us)
			victim = cl;
	}
	if (victim == NULL)
		return -1;
	log_info("admin (uid %d pid %d): idle connection closed to make room",
	    (int)victim->uid, (int)victim->pid);
	admin_client_free(victim);
	return 0;
}

static void
admin_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	struct event_base *base = evconnlistener_get_base(l);
	struct admin_client *cl;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct timeval idle = { ADMIN_IDLE_S, 0 };

	(void)sa;
	(void)salen;
	if (admin_nclients >= ADMIN_MAX_CLIENTS && admin_evict_idle() == -1) {
		static const char busy[] = "ERR too many admin connections\n\n";

		/* best effort: the client is turned away either way */
		(void)!write(fd, busy, sizeof(busy) - 1);
		close(fd);
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (cl == NULL) {
		close(fd);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0) {
		cl->uid = cred.uid;
		cl->pid = cred.pid;
	} else {
		cl->uid = (uid_t)-1;
		cl->pid = -1;
	}
	cl->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	cl->stall = evtimer_new(base, admin_stall_cb, cl);
	if (cl->bev == NULL || cl->stall == NULL) {
		if (cl->bev != NULL)
			bufferevent_free(cl->bev);
		else
			close(fd);
		if (cl->stall != NULL)
			event_free(cl->stall);
		free(cl);
		return;
	}
	cl->last_us = proxy_now_us();
	cl->readonly = arg != NULL;
	bufferevent_setcb(cl->bev, admin_readcb, admin_writecb, admin_eventcb, cl);
	/* what is read ahead of the commands run is bounded too */
	bufferevent_setwatermark(cl->bev, EV_READ, 0, ADMIN_IN_MAX);
	bufferevent_set_timeouts(cl->bev, &idle, &idle);
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
	LIST_INSERT_HEAD(&admin_clients, cl, link);
	admin_nclients++;
}

static int
admin_parse_mode(unsigned mode)
{
	return (int)(mode & 0777);
}

/* Bind the Unix socket at path with mode; a socket left by a crashed run
 * is replaced, anything else is refused. */
static struct evconnlistener *
admin_listen(struct event_base *base, const char *path, unsigned mode, int readonly,
    char *err, size_t errlen)
{
	struct evconnlistener *l;
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	evutil_socket_t fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "admin socket path %s exists and is not a socket", path);
			return NULL;
		}
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd != -1 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			close(fd);
			snprintf(err, errlen, "admin socket %s is in use by another process", path);
			return NULL;
		}
		if (fd != -1)
			close(fd);
		unlink(path);
	}
	/* created with the configured mode from the start: no window where a
	 * wider mode lets someone connect */
	old = umask((mode_t)(~admin_parse_mode(mode) & 0777));
	/* the read-only listener's arg is non-NULL: its clients are marked */
	l = evconnlistener_new_bind(base, admin_accept_cb, readonly ? (void *)"ro" : NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16, (struct sockaddr *)&sun,
	    (int)sizeof(sun));
	umask(old);
	if (l == NULL) {
		snprintf(err, errlen, "cannot create admin socket %s: %s", path, strerror(errno));
		return NULL;
	}
	chmod(path, (mode_t)admin_parse_mode(mode));
	return l;
}

int
admin_start(struct event_base *base, const struct config *cfg, char *err, size_t errlen)
{
	if (audit_open(cfg->admin_audit_log, err, errlen) == -1)
		return -1;
	admin_listener = admin_listen(base, cfg->admin_socket, cfg->admin_mode, 0, err, errlen);
	if (admin_listener == NULL)
		return -1;
	snprintf(admin_path, sizeof(admin_path), "%s", cfg->admin_socket);
	if (cfg->admin_readonly_socket != NULL) {
		admin_ro_listener = admin_listen(base, cfg->admin_readonly_socket,
		    cfg->admin_readonly_mode, 1, err, errlen);
		if (admin_ro_listener == NULL)
			return -1;   /* admin_stop() closes the first */
		snprintf(admin_ro_path, sizeof(admin_ro_path), "%s", cfg->admin_readonly_socket);
	}
	return 0;
}

void
admin_stop(void)
{
	while (!LIST_EMPTY(&admin_clients))
		admin_client_free(LIST_FIRST(&admin_clients));
	if (admin_listener != NULL) {
		evconnlistener_free(admin_listener);
		admin_listener = NULL;
		unlink(admin_path);
	}
	if (admin_ro_listener != NULL) {
		evconnlistener_free(admin_ro_listener);
		admin_ro_listener = NULL;
		unlink(admin_ro_path);
	}
	audit_close();
}
