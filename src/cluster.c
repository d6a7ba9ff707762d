/*
 * cluster.c - one split for a fleet of nodes, through etcd v3 (see
 * cluster.h and docs/cluster.md).
 *
 * Three parties:
 *  - the control thread owns everything in `cl`: the revision of the
 *    record our split came from, the writes waiting their turn (one at a
 *    time), the fleet's figures, the leader role;
 *  - the writer thread does every write and the periodic work: the
 *    compare-and-set of the record, the node's lease and its keep-alive,
 *    the leader key, this node's figures, the listing of the others', and a
 *    read of the record every second in case the watch missed something;
 *  - the watch thread follows the record and hands each change over.
 * The threads hand their results to the control thread as messages
 * through a pipe; the control thread hands the writer its job under the
 * mutex.  Neither thread touches the split: only the control thread does,
 * through state.c.
 *
 * A revert never waits: it is made here at once (state.c calls our hook)
 * and written after, against whatever the fleet did meanwhile, until etcd
 * has it.  Every other change waits for its write.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "cluster.h"
#include "etcd.h"
#include "log.h"
#include "proxy.h"

#define CLUSTER_MAX_NODES 64
#define CLUSTER_BACKOFF_MAX_MS 2000
#define CLUSTER_READ_EVERY_MS 1000    /* the writer reads the record this often */

enum cluster_msg_kind {
	M_RECORD,       /* the record as etcd has it now (value NULL: there is none) */
	M_WRITTEN,      /* our write landed at revision mod */
	M_CONFLICT,     /* our write lost: value/mod is what is there */
	M_FAILED,       /* our write could not be made (err) */
	M_CONN,         /* etcd answers (flag 1) or not (flag 0, err) */
	M_LEADER,       /* this node holds the leader key (flag) */
	M_NODES,        /* the nodes' figures */
};

struct cluster_msg {
	enum cluster_msg_kind kind;
	char *value;
	size_t vlen;
	int64_t mod;
	int flag;
	char err[256];
	struct cluster_figs *nodes;
	size_t nnodes;
	struct cluster_msg *next;
};

/* ---- shared with the threads (cl_mu) ---------------------------------------- */

static pthread_mutex_t cl_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cl_cv = PTHREAD_COND_INITIALIZER;
static struct cluster_msg *cl_in, **cl_in_tail = &cl_in;
static char *cl_job;                  /* the record to write, NULL none */
static int64_t cl_job_expect;         /* the revision it replaces, 0: none */
static char *cl_figs;                 /* this node's figures to publish, NULL none */
static volatile int cl_stopping;      /* read by etcd_watch too */
static int cl_pipe[2] = { -1, -1 };

/* set at start, read-only while the threads run */
static struct {
	char node[CLUSTER_NODE_MAX];
	char k_split[256], k_leader[256], k_nodes[256], k_me[512];
	int ttl_s, cycle_ms;
	struct etcd *ew, *ewatch;
} cs;

/* ---- the control thread's ----------------------------------------------------- */

static struct {
	int on;
	int64_t mod;                  /* the record our split is (0: none known) */
	int connected, leader;
	int dirty;                    /* etcd must get our split (none there, a local change) */
	int revert_pending;           /* of which a revert, that goes over whatever is there */
	unsigned dirty_gen;           /* grows with every local change */
	struct cluster_req *busy;     /* the request whose write is out */
	unsigned busy_gen;            /* dirty_gen when the dirty write went out */
	TAILQ_HEAD(, cluster_req) queue;
	struct event *ev;
	struct cluster_figs nodes[CLUSTER_MAX_NODES];
	size_t nnodes;
	uint64_t nodes_at_us;         /* when the listing came */
	char why[256];
	pthread_t writer, watcher;
	int nthreads;
} cl;

static struct cluster_req cl_dirty_req;   /* the write of a local change */
static struct cluster_req cl_tick_req;    /* the rollout clock's step */
static int cl_tick_queued;

int
cluster_on(void)
{
	return cl.on;
}

int
cluster_connected(void)
{
	return cl.connected;
}

int
cluster_leader(void)
{
	return cl.leader;
}

const char *
cluster_node(void)
{
	return cs.node;
}

const char *
cluster_why(void)
{
	return cl.why;
}

static long long
cluster_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- messages ------------------------------------------------------------------ */

static void
cluster_msg_free(struct cluster_msg *m)
{
	free(m->value);
	free(m->nodes);
	free(m);
}

/* From a thread: queue m and wake the control loop. */
static void
cluster_post(struct cluster_msg *m)
{
	char one = 1;

	m->next = NULL;
	pthread_mutex_lock(&cl_mu);
	*cl_in_tail = m;
	cl_in_tail = &m->next;
	pthread_mutex_unlock(&cl_mu);
	/* a full pipe already holds a wake-up */
	if (write(cl_pipe[1], &one, 1) == -1 && errno != EAGAIN)
		log_error("cluster: cannot wake the control loop: %s", strerror(errno));
}

static struct cluster_msg *
cluster_msg_new(enum cluster_msg_kind kind)
{
	struct cluster_msg *m = calloc(1, sizeof(*m));

	if (m != NULL)
		m->kind = kind;
	return m;
}

static void
cluster_post_simple(enum cluster_msg_kind kind, int flag, int64_t mod, const char *err)
{
	struct cluster_msg *m = cluster_msg_new(kind);

	if (m == NULL)
		return;
	m->flag = flag;
	m->mod = mod;
	snprintf(m->err, sizeof(m->err), "%s", err != NULL ? err : "");
	cluster_post(m);
}

/* The record kv holds (NULL: none) as a message of kind. */
static void
cluster_post_kv(enum cluster_msg_kind kind, const struct etcd_kv *kv)
{
	struct cluster_msg *m = cluster_msg_new(kind);

	if (m == NULL)
		return;
	if (kv != NULL && kv->value != NULL) {
		m->value = malloc(kv->value_len + 1);
		if (m->value == NULL) {
			free(m);
			return;
		}
		memcpy(m->value, kv->value, kv->value_len);
		m->value[kv->value_len] = '\0';
		m->vlen = kv->value_len;
		m->mod = kv->mod_revision;
	}
	cluster_post(m);
}

/* Sleep up to ms, or less when stopping (or, with job, when a job comes). */
static void
cluster_nap(int ms, int for_job)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&cl_mu);
	while (!cl_stopping && !(for_job && cl_job != NULL))
		if (pthread_cond_timedwait(&cl_cv, &cl_mu, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&cl_mu);
}

/* ---- the writer thread ----------------------------------------------------------- */

struct cluster_list {
	struct cluster_figs *v;
	size_t n;
};

static void
cluster_list_one(void *arg, const struct etcd_kv *kv)
{
	struct cluster_list *l = arg;
	char err[256];

	if (l->n == CLUSTER_MAX_NODES || kv->value == NULL)
		return;
	if (cluster_figs_parse(kv->value, kv->value_len, &l->v[l->n], err, sizeof(err)) == 0)
		l->n++;
}

/* The write the control thread asked for, if any.  -1: etcd failed. */
static int
cluster_write_job(void)
{
	struct etcd_kv cur;
	char *job, err[256];
	int64_t expect, mod = 0;
	int r;

	pthread_mutex_lock(&cl_mu);
	job = cl_job;
	expect = cl_job_expect;
	cl_job = NULL;
	pthread_mutex_unlock(&cl_mu);
	if (job == NULL)
		return 0;
	memset(&cur, 0, sizeof(cur));
	r = etcd_cas(cs.ew, cs.k_split, job, strlen(job), expect, 0, &mod, &cur, err, sizeof(err));
	free(job);
	if (r == 1)
		cluster_post_simple(M_WRITTEN, 0, mod, NULL);
	else if (r == 0)
		cluster_post_kv(M_CONFLICT, cur.mod_revision != 0 ? &cur : NULL);
	else
		cluster_post_simple(M_FAILED, 0, 0, err);
	etcd_kv_clear(&cur);
	return r == -1 ? -1 : 0;
}

static void *
cluster_writer(void *arg)
{
	int64_t lease = 0;
	uint64_t ka_at = 0, read_at = 0, now;
	int leader = 0, conn = -1, ok, backoff = 100, r;
	char err[256] = "", *figs;
	struct cluster_list list;
	struct etcd_kv kv;

	(void)arg;
	while (!cl_stopping) {
		ok = 1;
		err[0] = '\0';
		now = proxy_now_us() / 1000;
		if (cluster_write_job() == -1) {
			ok = 0;
			snprintf(err, sizeof(err), "%s", "the record could not be written");
		}
		if (ok && lease == 0) {
			if (etcd_lease_grant(cs.ew, cs.ttl_s, &lease, err, sizeof(err)) == -1) {
				lease = 0;
				ok = 0;
			}
			ka_at = now;
		} else if (ok && now - ka_at >= (uint64_t)cs.ttl_s * 1000 / 3) {
			if (etcd_lease_keepalive(cs.ew, lease, err, sizeof(err)) == -1) {
				/* gone or unreachable: a new lease, a new election */
				lease = 0;
				ok = 0;
			}
			ka_at = now;
		}
		if (leader && lease == 0) {
			leader = 0;
			cluster_post_simple(M_LEADER, 0, 0, NULL);
		}
		if (ok && !leader) {
			memset(&kv, 0, sizeof(kv));
			r = etcd_cas(cs.ew, cs.k_leader, cs.node, strlen(cs.node), 0, lease, NULL, &kv,
			    err, sizeof(err));
			etcd_kv_clear(&kv);
			if (r == -1) {
				ok = 0;
			} else if (r == 1) {
				leader = 1;
				cluster_post_simple(M_LEADER, 1, 0, NULL);
			}
		}
		pthread_mutex_lock(&cl_mu);
		figs = cl_figs;
		cl_figs = NULL;
		pthread_mutex_unlock(&cl_mu);
		if (ok && figs != NULL && etcd_put(cs.ew, cs.k_me, figs, strlen(figs), lease, err,
		    sizeof(err)) == -1)
			ok = 0;
		free(figs);
		if (ok) {
			list.n = 0;
			list.v = calloc(CLUSTER_MAX_NODES, sizeof(*list.v));
			if (list.v != NULL && etcd_list(cs.ew, cs.k_nodes, cluster_list_one, &list, err,
			    sizeof(err)) == -1) {
				ok = 0;
				free(list.v);
			} else if (list.v != NULL) {
				struct cluster_msg *m = cluster_msg_new(M_NODES);

				if (m != NULL) {
					m->nodes = list.v;
					m->nnodes = list.n;
					cluster_post(m);
				} else {
					free(list.v);
				}
			}
		}
		if (ok && now - read_at >= CLUSTER_READ_EVERY_MS) {
			memset(&kv, 0, sizeof(kv));
			r = etcd_get(cs.ew, cs.k_split, &kv, NULL, err, sizeof(err));
			if (r == -1)
				ok = 0;
			else
				cluster_post_kv(M_RECORD, r == 1 ? &kv : NULL);
			etcd_kv_clear(&kv);
			read_at = now;
		}
		if (ok != conn) {
			conn = ok;
			cluster_post_simple(M_CONN, ok, 0, err);
		}
		if (ok) {
			backoff = 100;
			cluster_nap(cs.cycle_ms, 1);
		} else {
			cluster_nap(backoff, 1);
			backoff = backoff * 2 > CLUSTER_BACKOFF_MAX_MS ? CLUSTER_BACKOFF_MAX_MS :
			    backoff * 2;
		}
	}
	/* leaving: the figures and the leader key go at once, not after ttl_s */
	if (lease != 0)
		etcd_lease_revoke(cs.ew, lease, err, sizeof(err));
	return NULL;
}

/* ---- the watch thread --------------------------------------------------------------- */

static int
cluster_watch_one(void *arg, const struct etcd_kv *kv, int deleted)
{
	(void)arg;
	cluster_post_kv(M_RECORD, deleted ? NULL : kv);
	return 0;
}

static void *
cluster_watcher(void *arg)
{
	struct etcd_kv kv;
	int64_t rev;
	char err[256];
	int backoff = 100, r;

	(void)arg;
	while (!cl_stopping) {
		memset(&kv, 0, sizeof(kv));
		rev = 0;
		r = etcd_get(cs.ewatch, cs.k_split, &kv, &rev, err, sizeof(err));
		if (r != -1)
			cluster_post_kv(M_RECORD, r == 1 ? &kv : NULL);
		etcd_kv_clear(&kv);
		if (r != -1 && etcd_watch(cs.ewatch, cs.k_split, rev + 1, cluster_watch_one, NULL,
		    &cl_stopping, err, sizeof(err)) == 1)
			break;
		if (cl_stopping)
			break;
		log_debug("cluster: watch: %s; again in %d ms", err, backoff);
		cluster_nap(backoff, 0);
		backoff = backoff * 2 > CLUSTER_BACKOFF_MAX_MS ? CLUSTER_BACKOFF_MAX_MS : backoff * 2;
	}
	return NULL;
}

/* ---- the control thread: records in, writes out ------------------------------------ */

static void cluster_next(void);

/* Hand the writer a record to compare-and-set against cl.mod. */
static int
cluster_send(const struct persist_state *p, long long step_ms, long long bake_ms)
{
	struct cluster_rec rec;
	char *v;

	memset(&rec, 0, sizeof(rec));
	rec.st = *p;
	snprintf(rec.node, sizeof(rec.node), "%s", cs.node);
	rec.step_started_ms = step_ms;
	rec.bake_started_ms = bake_ms;
	v = cluster_rec_format(&rec);
	if (v == NULL)
		return -1;
	pthread_mutex_lock(&cl_mu);
	free(cl_job);
	cl_job = v;
	cl_job_expect = cl.mod;
	pthread_cond_broadcast(&cl_cv);
	pthread_mutex_unlock(&cl_mu);
	return 0;
}

/* A record from etcd (value NULL: there is none) becomes our split,
 * unless this node has a revert etcd does not have: that goes on top. */
static void
cluster_adopt(const char *value, size_t vlen, int64_t mod)
{
	struct cluster_rec rec;
	char err[256];

	if (value == NULL) {
		/* nothing there (or it was deleted): ours is the record */
		if (cl.mod != 0 || !cl.dirty)
			log_warn("cluster: %s holds no split; writing this node's", cs.k_split);
		cl.mod = 0;
		cl.dirty = 1;
		cl.dirty_gen++;
		return;
	}
	cl.mod = mod;
	if (cluster_rec_parse(value, vlen, &rec, err, sizeof(err)) == -1) {
		log_error("cluster: the record at %s (revision %lld) is unreadable (%s); writing this "
		    "node's split over it", cs.k_split, (long long)mod, err);
		cl.dirty = 1;
		cl.dirty_gen++;
		return;
	}
	if (cl.revert_pending && rec.st.mode != PERSIST_REVERTED) {
		state_merge_revert(&rec.st, rec.node);
		cl.dirty = 1;
		cl.dirty_gen++;
		return;
	}
	/* the fleet's split is ours now (reverted already, if we had a revert) */
	cl.dirty = cl.revert_pending = 0;
	state_apply_remote(&rec.st, rec.step_started_ms, rec.bake_started_ms, rec.node);
}

static void
cluster_msg_record(struct cluster_msg *m)
{
	if (m->value != NULL && m->mod <= cl.mod)
		return;               /* what we have, or older */
	if (m->value == NULL && cl.mod == 0 && cl.dirty)
		return;               /* known: nothing there, ours is on its way */
	if (cl.busy != NULL)
		return;               /* the write's answer tells; the next read repeats it */
	cluster_adopt(m->value, m->vlen, m->mod);
	cluster_next();
}

static void
cluster_msg_written(struct cluster_msg *m)
{
	struct cluster_req *rq = cl.busy;

	cl.busy = NULL;
	cl.mod = m->mod;
	if (rq == &cl_dirty_req) {
		if (cl.dirty_gen == cl.busy_gen)
			cl.dirty = cl.revert_pending = 0;
	} else if (rq != NULL) {
		if (cl.revert_pending) {
			/* a revert came while it was out: the fleet gets the revert on
			 * top of what was written */
			struct persist_state p;
			long long sm, bm;

			state_stage_record(&rq->st, &p, &sm, &bm);
			state_merge_revert(&p, cs.node);
		} else {
			state_stage_apply(&rq->st);
		}
		if (rq->done != NULL)
			rq->done(rq, 1, NULL);
	}
	cluster_next();
}

static void
cluster_msg_lost(struct cluster_msg *m)
{
	struct cluster_req *rq = cl.busy;

	cl.busy = NULL;
	if (m->kind == M_CONFLICT) {
		cluster_adopt(m->value, m->vlen, m->mod);
	} else {
		snprintf(cl.why, sizeof(cl.why), "%s", m->err);
		log_warn("cluster: the split could not be written: %s", m->err);
	}
	if (rq != NULL && rq != &cl_dirty_req && rq->done != NULL)
		rq->done(rq, m->kind == M_CONFLICT ? 0 : -1, m->kind == M_CONFLICT ?
		    "another node changed the split first" : m->err);
	cluster_next();
}

static void
cluster_msg_conn(struct cluster_msg *m)
{
	struct cluster_req *rq;

	if (m->flag == cl.connected)
		return;
	cl.connected = m->flag;
	if (m->flag) {
		log_info("cluster: etcd answers again (node %s)", cs.node);
		cl.why[0] = '\0';
		cluster_next();
		return;
	}
	snprintf(cl.why, sizeof(cl.why), "%s", m->err);
	log_error("CLUSTER: etcd is unreachable (%s): serving the split this node has; only "
	    "revert works until etcd answers", m->err);
	/* what waits would wait for nothing */
	while ((rq = TAILQ_FIRST(&cl.queue)) != NULL) {
		TAILQ_REMOVE(&cl.queue, rq, link);
		if (rq == &cl_tick_req)
			cl_tick_queued = 0;
		else if (rq->done != NULL)
			rq->done(rq, -1, m->err);
	}
}

static void
cluster_pipe_cb(evutil_socket_t fd, short what, void *arg)
{
	struct cluster_msg *m, *next;
	char buf[64];

	(void)what;
	(void)arg;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&cl_mu);
	m = cl_in;
	cl_in = NULL;
	cl_in_tail = &cl_in;
	pthread_mutex_unlock(&cl_mu);
	for (; m != NULL; m = next) {
		next = m->next;
		switch (m->kind) {
		case M_RECORD:
			cluster_msg_record(m);
			break;
		case M_WRITTEN:
			cluster_msg_written(m);
			break;
		case M_CONFLICT:
		case M_FAILED:
			cluster_msg_lost(m);
			break;
		case M_CONN:
			cluster_msg_conn(m);
			break;
		case M_LEADER:
			if (cl.leader != m->flag)
				log_info("cluster: node %s %s the rollout clock", cs.node,
				    m->flag ? "now runs" : "no longer runs");
			cl.leader = m->flag;
			break;
		case M_NODES:
			cl.nnodes = m->nnodes;
			memcpy(cl.nodes, m->nodes, m->nnodes * sizeof(cl.nodes[0]));
			cl.nodes_at_us = proxy_now_us();
			break;
		}
		cluster_msg_free(m);
	}
}

/* The next write, if none is out: a local change first, then the queue. */
static void
cluster_next(void)
{
	struct cluster_req *rq;
	struct persist_state p;
	long long sm, bm;

	if (!cl.on || cl.busy != NULL || !cl.connected)
		return;
	if (cl.dirty) {
		state_record(&p, &sm, &bm);
		if (cluster_send(&p, sm, bm) == 0) {
			cl.busy = &cl_dirty_req;
			cl.busy_gen = cl.dirty_gen;
		}
		return;
	}
	while ((rq = TAILQ_FIRST(&cl.queue)) != NULL) {
		TAILQ_REMOVE(&cl.queue, rq, link);
		if (rq == &cl_tick_req)
			cl_tick_queued = 0;
		if (rq->prepare(rq) == -1)
			continue;
		state_stage_record(&rq->st, &p, &sm, &bm);
		if (cluster_send(&p, sm, bm) == -1) {
			if (rq->done != NULL)
				rq->done(rq, -1, "the split could not be made into a record");
			continue;
		}
		cl.busy = rq;
		return;
	}
}

void
cluster_submit(struct cluster_req *rq)
{
	if (!cl.connected) {
		/* nothing would take it: refused now, not after a wait */
		if (rq == &cl_tick_req)
			cl_tick_queued = 0;
		else if (rq->done != NULL)
			rq->done(rq, -1, cl.why[0] ? cl.why : "etcd does not answer");
		return;
	}
	TAILQ_INSERT_TAIL(&cl.queue, rq, link);
	cluster_next();
}

void
cluster_cancel(struct cluster_req *rq)
{
	struct cluster_req *q;

	TAILQ_FOREACH(q, &cl.queue, link)
		if (q == rq) {
			TAILQ_REMOVE(&cl.queue, rq, link);
			return;
		}
	if (cl.busy == rq) {
		/* its write is out: the answer still applies it, done is not called */
		rq->done = NULL;
	}
}

/* state.c made a change outside staging (a revert): etcd must get it. */
static void
cluster_local_change(void)
{
	cl.dirty = cl.revert_pending = 1;
	cl.dirty_gen++;
	cluster_next();
}

/* ---- the rollout clock and the figures ------------------------------------------------ */

static int
cluster_tick_prepare(struct cluster_req *rq)
{
	state_stage_begin(&rq->st);
	state_tick();
	state_stage_end(&rq->st);
	return rq->st.changed ? 0 : -1;
}

void
cluster_tick(void)
{
	if (!cl.on) {
		state_tick();
		return;
	}
	/* one clock for the fleet: the leader's, and only while etcd can take
	 * what it does */
	if (!cl.leader || !cl.connected || cl_tick_queued || cl.busy == &cl_tick_req)
		return;
	cl_tick_queued = 1;
	cluster_submit(&cl_tick_req);
}

void
cluster_publish(const struct stats_window win[CONFIG_POOLS])
{
	struct cluster_figs f;
	char *v;

	if (!cl.on)
		return;
	memset(&f, 0, sizeof(f));
	snprintf(f.node, sizeof(f.node), "%s", cs.node);
	f.time_ms = cluster_wall_ms();
	f.version = state_get()->version;
	f.leader = cl.leader;
	memcpy(f.win, win, sizeof(f.win));
	v = cluster_figs_format(&f);
	if (v == NULL)
		return;
	pthread_mutex_lock(&cl_mu);
	free(cl_figs);
	cl_figs = v;
	pthread_mutex_unlock(&cl_mu);
}

/* The listing is fresh enough to count: etcd answered within ttl_s. */
static int
cluster_nodes_fresh(void)
{
	return cl.nodes_at_us != 0 &&
	    proxy_now_us() - cl.nodes_at_us < (uint64_t)cs.ttl_s * 1000000;
}

int
cluster_fleet_add(struct stats_window win[CONFIG_POOLS])
{
	size_t i;
	int p, n = 0;

	if (!cl.on || !cluster_nodes_fresh())
		return 0;
	for (i = 0; i < cl.nnodes; i++) {
		if (strcmp(cl.nodes[i].node, cs.node) == 0)
			continue;
		for (p = 0; p < CONFIG_POOLS; p++)
			cluster_figs_add(&win[p], &cl.nodes[i].win[p]);
		n++;
	}
	return n;
}

void
cluster_nodes_each(void (*fn)(const struct cluster_figs *f, long long age_ms, int self,
    void *arg), void *arg)
{
	long long now = cluster_wall_ms();
	size_t i;

	if (!cl.on || !cluster_nodes_fresh())
		return;
	for (i = 0; i < cl.nnodes; i++)
		fn(&cl.nodes[i], now > cl.nodes[i].time_ms ? now - cl.nodes[i].time_ms : 0,
		    strcmp(cl.nodes[i].node, cs.node) == 0, arg);
}

/* ---- start and stop ------------------------------------------------------------------- */

static int
cluster_keys(const struct config *cfg, char *err, size_t errlen)
{
	int n = 0;

	snprintf(cs.node, sizeof(cs.node), "%s", cfg->cluster_node);
	n |= snprintf(cs.k_split, sizeof(cs.k_split), "%s/split", cfg->cluster_prefix) >=
	    (int)sizeof(cs.k_split);
	n |= snprintf(cs.k_leader, sizeof(cs.k_leader), "%s/leader", cfg->cluster_prefix) >=
	    (int)sizeof(cs.k_leader);
	n |= snprintf(cs.k_nodes, sizeof(cs.k_nodes), "%s/nodes/", cfg->cluster_prefix) >=
	    (int)sizeof(cs.k_nodes);
	n |= snprintf(cs.k_me, sizeof(cs.k_me), "%s%s", cs.k_nodes, cs.node) >=
	    (int)sizeof(cs.k_me);
	if (n) {
		snprintf(err, errlen, "cluster.prefix \"%s\" is too long", cfg->cluster_prefix);
		return -1;
	}
	return 0;
}

/* The first read, before traffic: etcd wins over the state file. */
static void
cluster_first_read(void)
{
	struct etcd_kv kv;
	char err[256];
	int r;

	memset(&kv, 0, sizeof(kv));
	r = etcd_get(cs.ew, cs.k_split, &kv, NULL, err, sizeof(err));
	if (r == -1) {
		snprintf(cl.why, sizeof(cl.why), "%s", err);
		log_error("CLUSTER: etcd is unreachable at start (%s): serving the split of the state "
		    "file or the configuration until it answers", err);
		return;
	}
	cl.connected = 1;
	if (r == 0) {
		log_info("cluster: %s holds no split yet; this node's becomes the fleet's",
		    cs.k_split);
		cluster_adopt(NULL, 0, 0);
	} else {
		log_info("cluster: the split at %s (revision %lld) replaces the state file's",
		    cs.k_split, (long long)kv.mod_revision);
		cluster_adopt(kv.value, kv.value_len, kv.mod_revision);
	}
	etcd_kv_clear(&kv);
}

int
cluster_start(struct event_base *base, const struct config *cfg, char *err, size_t errlen)
{
	struct etcd_opts o = {
		(const char *const *)cfg->cluster_etcd, cfg->cluster_netcd, cfg->cluster_timeout_ms,
		cfg->cluster_tls_ca, cfg->cluster_tls_cert, cfg->cluster_tls_key,
		cfg->cluster_user, cfg->cluster_password,
	};

	TAILQ_INIT(&cl.queue);
	if (cfg->cluster_netcd == 0)
		return 0;
	if (cluster_keys(cfg, err, errlen) == -1)
		return -1;
	cs.ttl_s = cfg->cluster_ttl_s;
	cs.cycle_ms = cfg->guard_interval_ms < 100 ? 100 :
	    cfg->guard_interval_ms > 500 ? 500 : cfg->guard_interval_ms;
	cs.ew = etcd_new(&o, err, errlen);
	cs.ewatch = cs.ew != NULL ? etcd_new(&o, err, errlen) : NULL;
	if (cs.ewatch == NULL)
		goto fail;
	if (pipe2(cl_pipe, O_NONBLOCK | O_CLOEXEC) == -1) {
		snprintf(err, errlen, "cluster: pipe: %s", strerror(errno));
		goto fail;
	}
	cl.ev = event_new(base, cl_pipe[0], EV_READ | EV_PERSIST, cluster_pipe_cb, NULL);
	if (cl.ev == NULL || event_add(cl.ev, NULL) == -1) {
		snprintf(err, errlen, "cluster: cannot watch its pipe");
		goto fail;
	}
	cl_tick_req.prepare = cluster_tick_prepare;
	cl.on = 1;
	cluster_first_read();
	state_set_hook(cluster_local_change);
	if (pthread_create(&cl.writer, NULL, cluster_writer, NULL) != 0) {
		snprintf(err, errlen, "cluster: cannot start its thread");
		goto fail;
	}
	cl.nthreads = 1;
	if (pthread_create(&cl.watcher, NULL, cluster_watcher, NULL) != 0) {
		snprintf(err, errlen, "cluster: cannot start its watch thread");
		goto fail;
	}
	cl.nthreads = 2;
	cluster_next();
	log_info("cluster: node %s, etcd %s%s, prefix %s, ttl %d s", cs.node, cfg->cluster_etcd[0],
	    cfg->cluster_netcd > 1 ? " (and others)" : "", cfg->cluster_prefix, cs.ttl_s);
	return 0;
fail:
	cluster_stop();
	return -1;
}

void
cluster_stop(void)
{
	struct cluster_msg *m, *next;

	pthread_mutex_lock(&cl_mu);
	cl_stopping = 1;
	pthread_cond_broadcast(&cl_cv);
	pthread_mutex_unlock(&cl_mu);
	if (cl.nthreads > 1)
		pthread_join(cl.watcher, NULL);
	if (cl.nthreads > 0)
		pthread_join(cl.writer, NULL);
	cl.nthreads = 0;
	state_set_hook(NULL);
	if (cl.ev != NULL)
		event_free(cl.ev);
	cl.ev = NULL;
	for (m = cl_in; m != NULL; m = next) {
		next = m->next;
		cluster_msg_free(m);
	}
	cl_in = NULL;
	cl_in_tail = &cl_in;
	free(cl_job);
	free(cl_figs);
	cl_job = cl_figs = NULL;
	if (cl_pipe[0] != -1) {
		close(cl_pipe[0]);
		close(cl_pipe[1]);
	}
	cl_pipe[0] = cl_pipe[1] = -1;
	etcd_free(cs.ew);
	etcd_free(cs.ewatch);
	cs.ew = cs.ewatch = NULL;
	cl.on = 0;
}
