/*
 * cluster.c - one split for a fleet of nodes, through etcd v3 (see
 * cluster.h and docs/cluster.md).
 *
 * Three parties:
 *  - the control thread owns everything in `cl`: the revision of the
 *    record our split came from, the writes waiting their turn (one at a
 *    time), the fleet's figures, the leader role;
 *  - the writer thread (cluster_io.c) does every etcd request but the
 *    watch: the record's compare-and-set, the lease, the leader key, the
 *    figures;
 *  - the watch thread (cluster_io.c) follows the record.
 * The threads hand their results to the control thread as messages
 * through a pipe (cluster_int.h); the control thread hands the writer its
 * job.  Neither thread touches the split: only the control thread does,
 * through state.c.
 *
 * A revert never waits: it is made here at once (state.c calls our hook)
 * and written after, against whatever the fleet did meanwhile, until etcd
 * has it.  Every other change waits for its write.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "cluster.h"
#include "cluster_int.h"
#include "log.h"
#include "proxy.h"
#include "worker.h"

/* ---- the control thread's ----------------------------------------------------- */


#define CL_SVC (cluster_svc())

struct service *
cluster_svc(void)
{
	/* a fleet is of one service (config_svc.c refuses a cluster beside a
	 * services list): the default one, the first made */
	return rt.svcs[0];
}

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
	/* what each process of the fleet counted toward a rollout step's
	 * gate, kept past its lease (a node that died still counted) and
	 * never going back; a restarted node is another process */
	struct cluster_step {
		char node[CLUSTER_NODE_MAX];
		long long started_ms, key;
		uint64_t requests;
	} steps[2 * CLUSTER_MAX_NODES];
	size_t nsteps;
	long long started_ms;         /* this process */
	char unsynced_path[PATH_MAX];  /* "" without a state file */
	char why[256];
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
	return cluster_cs.node;
}

const char *
cluster_why(void)
{
	return cl.why;
}

/* ---- the control thread: records in, writes out ------------------------------------ */

static void cluster_next(void);

/* Hand the writer a record to compare-and-set against cl.mod. */
static int
cluster_send(const struct split_state *p, long long step_ms, long long bake_ms)
{
	struct cluster_rec rec;
	char *v;

	memset(&rec, 0, sizeof(rec));
	rec.st = *p;
	snprintf(rec.node, sizeof(rec.node), "%s", cluster_cs.node);
	rec.step_started_ms = step_ms;
	rec.bake_started_ms = bake_ms;
	v = cluster_rec_format(&rec);
	if (v == NULL)
		return -1;
	cluster_io_job(v, cl.mod);
	return 0;
}

/* The record holds the revert this node made (the same time and actor). */
static int
cluster_has_our_revert(const struct split_state *p)
{
	const struct split_state *me = state_get(CL_SVC);

	return me->revert_time_ms != 0 && p->revert_time_ms == me->revert_time_ms &&
	    strcmp(p->revert_actor, me->revert_actor) == 0;
}

/*
 * A revert etcd does not have survives a restart: a file beside the state
 * file says so (state_file + ".unsynced", holding the revert's time), and
 * the next start puts the revert on top of etcd's record.
 */
static void
cluster_unsynced(int on)
{
	char tmp[PATH_MAX + 16];
	FILE *f;

	if (cl.unsynced_path[0] == '\0')
		return;
	if (!on) {
		if (unlink(cl.unsynced_path) == -1 && errno != ENOENT)
			log_error("cluster: cannot remove %s: %s", cl.unsynced_path, strerror(errno));
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", cl.unsynced_path);
	f = fopen(tmp, "w");
	if (f == NULL || fprintf(f, "revert %lld\n", state_get(CL_SVC)->revert_time_ms) < 0 ||
	    fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0 ||
	    rename(tmp, cl.unsynced_path) != 0) {
		log_error("cluster: cannot write %s (a revert etcd does not have yet would not "
		    "survive a restart): %s", cl.unsynced_path, strerror(errno));
		if (f != NULL)
			fclose(f);
	}
}

/* At start: a revert the last run could not write, still the state's. */
static int
cluster_unsynced_at_start(void)
{
	long long ms = 0;
	FILE *f;
	int ok;

	if (cl.unsynced_path[0] == '\0' || (f = fopen(cl.unsynced_path, "r")) == NULL)
		return 0;
	ok = fscanf(f, "revert %lld", &ms) == 1;
	fclose(f);
	if (ok && ms != 0 && state_get(CL_SVC)->mode == MODE_REVERTED &&
	    state_get(CL_SVC)->revert_time_ms == ms)
		return 1;
	cluster_unsynced(0);          /* stale: the state moved on */
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
			log_warn("cluster: %s holds no split; writing this node's", cluster_cs.k_split);
		cl.mod = 0;
		cl.dirty = 1;
		cl.dirty_gen++;
		return;
	}
	cl.mod = mod;
	if (cluster_rec_parse(value, vlen, &rec, err, sizeof(err)) == -1) {
		log_error("cluster: the record at %s (revision %lld) is unreadable (%s); writing this "
		    "node's split over it", cluster_cs.k_split, (long long)mod, err);
		cl.dirty = 1;
		cl.dirty_gen++;
		return;
	}
	/* a record that carries our revert (its time and who) has it already,
	 * whatever happened since: etcd took our write even if we did not hear */
	if (cl.revert_pending && !cluster_has_our_revert(&rec.st)) {
		state_merge_revert(CL_SVC, &rec.st, rec.node);
		cl.dirty = 1;
		cl.dirty_gen++;
		cluster_unsynced(1);
		return;
	}
	/* the fleet's split is ours now */
	if (cl.revert_pending)
		cluster_unsynced(0);
	cl.dirty = cl.revert_pending = 0;
	state_apply_remote(CL_SVC, &rec.st, rec.step_started_ms, rec.bake_started_ms, rec.node);
}

static void
cluster_msg_record(struct cluster_msg *m)
{
	if (m->mod != 0 && m->mod <= cl.mod)
		return;               /* what we have, or older (a "none" read before our create) */
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
		if (cl.dirty_gen == cl.busy_gen) {
			if (cl.revert_pending)
				cluster_unsynced(0);
			cl.dirty = cl.revert_pending = 0;
		}
	} else if (rq != NULL) {
		if (cl.revert_pending) {
			/* a revert came while it was out: the fleet gets the revert on
			 * top of what was written */
			struct split_state p;
			long long sm, bm;

			state_stage_record(&rq->st, &p, &sm, &bm);
			state_merge_revert(CL_SVC, &p, cluster_cs.node);
		} else {
			state_stage_apply(CL_SVC, &rq->st);
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
	if (rq != NULL && rq != &cl_dirty_req && rq->done != NULL) {
		char why[400];

		/* a request that timed out may still have been carried out */
		snprintf(why, sizeof(why), "etcd did not confirm the write, it may still have "
		    "taken it (status will tell): %s", m->err);
		rq->done(rq, m->kind == M_CONFLICT ? 0 : -1, m->kind == M_CONFLICT ?
		    "another node changed the split first" : why);
	}
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
		log_info("cluster: etcd answers again (node %s)", cluster_cs.node);
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

/*
 * The listing's step counts into cl.steps: one entry per process, its
 * count only growing within a step.  A full table gives up the place of
 * a process counting another step than the one running here, else the
 * smallest count of it.
 */
static void
cluster_count_steps(void)
{
	long long cur = state_step_key(CL_SVC);
	size_t i, k, pick;

	for (i = 0; i < cl.nnodes; i++) {
		const struct cluster_figs *f = &cl.nodes[i];
		struct cluster_step *e;

		if (strcmp(f->node, cluster_cs.node) == 0 || f->step_key == 0)
			continue;
		for (k = 0; k < cl.nsteps; k++)
			if (strcmp(cl.steps[k].node, f->node) == 0 &&
			    cl.steps[k].started_ms == f->started_ms)
				break;
		if (k == cl.nsteps && cl.nsteps < sizeof(cl.steps) / sizeof(cl.steps[0])) {
			cl.nsteps++;
		} else if (k == cl.nsteps) {
			for (pick = 0, k = 0; k < cl.nsteps; k++) {
				if (cl.steps[k].key != cur) {
					pick = k;
					break;
				}
				if (cl.steps[k].requests < cl.steps[pick].requests)
					pick = k;
			}
			k = pick;
			memset(&cl.steps[k], 0, sizeof(cl.steps[k]));
		}
		e = &cl.steps[k];
		if (e->key != f->step_key || strcmp(e->node, f->node) != 0) {
			snprintf(e->node, sizeof(e->node), "%s", f->node);
			e->started_ms = f->started_ms;
			e->key = f->step_key;
			e->requests = 0;
		}
		if (f->step_requests > e->requests)
			e->requests = f->step_requests;
	}
}

/* What the other processes counted in the step with key. */
static uint64_t
cluster_fleet_step(struct service *sv, long long key)
{
	uint64_t n = 0;
	size_t k;

	(void)sv;               /* the fleet's one service */
	for (k = 0; key != 0 && k < cl.nsteps; k++)
		if (cl.steps[k].key == key)
			n += cl.steps[k].requests;
	return n;
}

static void
cluster_pipe_cb(evutil_socket_t fd, short what, void *arg)
{
	struct cluster_msg *m, *next;

	(void)fd;
	(void)what;
	(void)arg;
	for (m = cluster_io_take(); m != NULL; m = next) {
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
				log_info("cluster: node %s %s the rollout clock", cluster_cs.node,
				    m->flag ? "now runs" : "no longer runs");
			cl.leader = m->flag;
			break;
		case M_NODES:
			cl.nnodes = m->nnodes;
			memcpy(cl.nodes, m->nodes, m->nnodes * sizeof(cl.nodes[0]));
			cl.nodes_at_us = proxy_now_us();
			cluster_count_steps();
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
	struct split_state p;
	long long sm, bm;

	if (!cl.on || cl.busy != NULL || !cl.connected)
		return;
	if (cl.dirty) {
		state_record(CL_SVC, &p, &sm, &bm);
		if (cluster_send(&p, sm, bm) == 0) {
			cl.busy = &cl_dirty_req;
			cl.busy_gen = cl.dirty_gen;
		}
		return;
	}
	/* prepare may answer at once, and what the answer sets off may have
	 * sent a write meanwhile: busy is looked at every time */
	while (cl.busy == NULL && (rq = TAILQ_FIRST(&cl.queue)) != NULL) {
		TAILQ_REMOVE(&cl.queue, rq, link);
		if (rq == &cl_tick_req)
			cl_tick_queued = 0;
		if (rq->prepare(rq) == -1)
			continue;
		state_stage_record(&rq->st, &p, &sm, &bm);
		if (cl.busy != NULL) {
			/* a write went out from inside prepare's answer: this one waits */
			TAILQ_INSERT_HEAD(&cl.queue, rq, link);
			return;
		}
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

/* state.c made a change outside staging (a revert, what the guard did):
 * etcd must get it.  A revert goes over whatever the fleet wrote; another
 * change that loses the race gives way (the guard judges the new split). */
static void
cluster_local_change(struct service *sv, int revert)
{
	(void)sv;               /* the fleet's one service */
	cl.dirty = 1;
	if (revert) {
		cl.revert_pending = 1;
		cluster_unsynced(1);
	}
	cl.dirty_gen++;
	cluster_next();
}

/* ---- the rollout clock and the figures ------------------------------------------------ */

static int
cluster_tick_prepare(struct cluster_req *rq)
{
	state_stage_begin(CL_SVC, &rq->st);
	state_tick(CL_SVC);
	state_stage_end(CL_SVC, &rq->st);
	return rq->st.changed ? 0 : -1;
}

void
cluster_tick(struct service *sv)
{
	if (!cl.on) {
		state_tick(sv);
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
cluster_publish(const struct stats_window win[STATS_CLASSES])
{
	struct cluster_figs f;
	char *v;
	int p;

	if (!cl.on)
		return;
	memset(&f, 0, sizeof(f));
	snprintf(f.node, sizeof(f.node), "%s", cluster_cs.node);
	f.time_ms = clock_wall_ms();
	f.version = state_get(CL_SVC)->version;
	f.leader = cl.leader;
	memcpy(f.win, win, sizeof(f.win));
	for (p = 0; p < STATS_CLASSES; p++)
		f.routed[p] = worker_routed_total(CL_SVC, p);
	f.started_ms = cl.started_ms;
	f.step_key = state_step_key(CL_SVC);
	f.step_requests = f.step_key != 0 ? state_step_own(CL_SVC) : 0;
	for (p = 0; p < CONFIG_POOLS; p++)
		worker_judged_total(CL_SVC, p, &f.judged[p]);
	f.has_judged = 1;
	v = cluster_figs_format(&f);
	if (v == NULL)
		return;
	cluster_io_figs(v);
}

/* The listing is fresh enough to count: etcd answered within ttl_s. */
static int
cluster_nodes_fresh(void)
{
	return cl.nodes_at_us != 0 &&
	    proxy_now_us() - cl.nodes_at_us < (uint64_t)cluster_cs.ttl_s * 1000000;
}

int
cluster_fleet_add(struct stats_window win[STATS_CLASSES])
{
	size_t i;
	int p, n = 0;

	if (!cl.on || !cluster_nodes_fresh())
		return 0;
	for (i = 0; i < cl.nnodes; i++) {
		if (strcmp(cl.nodes[i].node, cluster_cs.node) == 0)
			continue;
		/* figures from before the window here began afresh (a step
		 * back, say) judge a split that is gone */
		if (cl.nodes[i].version < state_epoch_version(CL_SVC))
			continue;
		for (p = 0; p < STATS_CLASSES; p++)
			cluster_figs_add(&win[p], &cl.nodes[i].win[p]);
		n++;
	}
	return n;
}

/* what cluster_fleet_judged saw of each node last */
static struct {
	char node[CLUSTER_NODE_MAX];
	long long started_ms;
	struct stats_judged last[CONFIG_POOLS];
	int used;
} cl_judged[CLUSTER_MAX_NODES];

#define CL_D(a, b) ((a) > (b) ? (a) - (b) : 0)

int
cluster_fleet_judged(struct stats_judged delta[CONFIG_POOLS])
{
	size_t i, k;
	int p, n = 0;

	memset(delta, 0, sizeof(*delta) * CONFIG_POOLS);
	if (!cl.on || !cluster_nodes_fresh())
		return 0;
	for (i = 0; i < cl.nnodes; i++) {
		const struct cluster_figs *f = &cl.nodes[i];
		size_t free_slot = CLUSTER_MAX_NODES;

		if (strcmp(f->node, cluster_cs.node) == 0 || !f->has_judged)
			continue;
		for (k = 0; k < CLUSTER_MAX_NODES; k++) {
			if (cl_judged[k].used && strcmp(cl_judged[k].node, f->node) == 0)
				break;
			if (!cl_judged[k].used && free_slot == CLUSTER_MAX_NODES)
				free_slot = k;
		}
		if (k == CLUSTER_MAX_NODES) {
			if (free_slot == CLUSTER_MAX_NODES)
				continue;
			k = free_slot;
			cl_judged[k].used = 1;
			snprintf(cl_judged[k].node, sizeof(cl_judged[k].node), "%s", f->node);
			cl_judged[k].started_ms = f->started_ms;
			memcpy(cl_judged[k].last, f->judged, sizeof(f->judged));
			continue;
		}
		if (cl_judged[k].started_ms != f->started_ms) {
			/* it restarted: its counters began again */
			cl_judged[k].started_ms = f->started_ms;
			memcpy(cl_judged[k].last, f->judged, sizeof(f->judged));
			continue;
		}
		for (p = 0; p < CONFIG_POOLS; p++) {
			const struct stats_judged *a = &f->judged[p], *b = &cl_judged[k].last[p];

			delta[p].requests += CL_D(a->requests, b->requests);
			delta[p].errors += CL_D(a->errors, b->errors);
			delta[p].slow[0] += CL_D(a->slow[0], b->slow[0]);
			delta[p].slow[1] += CL_D(a->slow[1], b->slow[1]);
			delta[p].bound1 += CL_D(a->bound1, b->bound1);
		}
		memcpy(cl_judged[k].last, f->judged, sizeof(f->judged));
		n++;
	}
	return n;
}

void
cluster_nodes_each(void (*fn)(const struct cluster_figs *f, long long age_ms, int self,
    void *arg), void *arg)
{
	long long now = clock_wall_ms();
	size_t i;

	if (!cl.on || !cluster_nodes_fresh())
		return;
	for (i = 0; i < cl.nnodes; i++)
		fn(&cl.nodes[i], now > cl.nodes[i].time_ms ? now - cl.nodes[i].time_ms : 0,
		    strcmp(cl.nodes[i].node, cluster_cs.node) == 0, arg);
}

/* ---- start and stop ------------------------------------------------------------------- */

static int
cluster_keys(const struct config *cfg, char *err, size_t errlen)
{
	int n = 0;

	snprintf(cluster_cs.node, sizeof(cluster_cs.node), "%s", cfg->cluster_node);
	n |= snprintf(cluster_cs.k_split, sizeof(cluster_cs.k_split), "%s/split", cfg->cluster_prefix) >=
	    (int)sizeof(cluster_cs.k_split);
	n |= snprintf(cluster_cs.k_leader, sizeof(cluster_cs.k_leader), "%s/leader", cfg->cluster_prefix) >=
	    (int)sizeof(cluster_cs.k_leader);
	n |= snprintf(cluster_cs.k_nodes, sizeof(cluster_cs.k_nodes), "%s/nodes/", cfg->cluster_prefix) >=
	    (int)sizeof(cluster_cs.k_nodes);
	n |= snprintf(cluster_cs.k_me, sizeof(cluster_cs.k_me), "%s%s", cluster_cs.k_nodes, cluster_cs.node) >=
	    (int)sizeof(cluster_cs.k_me);
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
	r = etcd_get(cluster_io_etcd(), cluster_cs.k_split, &kv, NULL, err, sizeof(err));
	if (r == -1) {
		snprintf(cl.why, sizeof(cl.why), "%s", err);
		log_error("CLUSTER: etcd is unreachable at start (%s): serving the split of the state "
		    "file or the configuration until it answers", err);
		return;
	}
	cl.connected = 1;
	if (r == 0) {
		log_info("cluster: %s holds no split yet; this node's becomes the fleet's",
		    cluster_cs.k_split);
		cluster_adopt(NULL, 0, 0);
	} else {
		log_info("cluster: the split at %s (revision %lld) replaces the state file's",
		    cluster_cs.k_split, (long long)kv.mod_revision);
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
	cluster_cs.ttl_s = cfg->cluster_ttl_s;
	cluster_cs.cycle_ms = (&cfg->svcs[0])->guard_interval_ms < 100 ? 100 :
	    (&cfg->svcs[0])->guard_interval_ms > 500 ? 500 : (&cfg->svcs[0])->guard_interval_ms;
	if (cluster_io_open(&o, err, errlen) == -1)
		goto fail;
	cl.ev = event_new(base, cluster_io_fd(), EV_READ | EV_PERSIST, cluster_pipe_cb, NULL);
	if (cl.ev == NULL || event_add(cl.ev, NULL) == -1) {
		snprintf(err, errlen, "cluster: cannot watch its pipe");
		goto fail;
	}
	cl_tick_req.prepare = cluster_tick_prepare;
	cl.on = 1;
	if (cfg->state_file != NULL)
		snprintf(cl.unsynced_path, sizeof(cl.unsynced_path), "%s.unsynced", cfg->state_file);
	if (cluster_unsynced_at_start()) {
		log_warn("cluster: the revert of the last run (%s) is not in etcd yet: it goes on top "
		    "of the fleet's split", state_get(CL_SVC)->last_revert);
		cl.dirty = cl.revert_pending = 1;
	}
	cluster_first_read();
	state_set_hook(cluster_local_change);
	cl.started_ms = clock_wall_ms();
	state_set_fleet_step(cluster_fleet_step);
	if (cluster_io_run(err, errlen) == -1)
		goto fail;
	cluster_next();
	log_info("cluster: node %s, etcd %s%s, prefix %s, ttl %d s", cluster_cs.node, cfg->cluster_etcd[0],
	    cfg->cluster_netcd > 1 ? " (and others)" : "", cfg->cluster_prefix, cluster_cs.ttl_s);
	return 0;
fail:
	cluster_stop();
	return -1;
}

void
cluster_stop(void)
{
	if (cl.ev != NULL)
		event_free(cl.ev);
	cl.ev = NULL;
	cluster_io_close();
	state_set_hook(NULL);
	state_set_fleet_step(NULL);
	cl.on = 0;
}
