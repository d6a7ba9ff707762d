/*
 * cluster_io.c - the fleet's two etcd threads (see cluster.c for the
 * whole).  The writer does every request but the watch, in a cycle of
 * cluster_cluster_cs.cycle_ms: the record's compare-and-set the control thread
 * asked for, the node's lease and its keep-alive, the leader key, this
 * node's figures, the listing of the others', and a read of the record
 * every second in case the watch missed something.  The watcher follows
 * the record.  Both block in etcd.c and post what they learn as messages;
 * a byte on the pipe wakes the control loop.
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

#include "cluster_int.h"
#include "log.h"
#include "proxy.h"

#define CLUSTER_BACKOFF_MAX_MS 2000
#define CLUSTER_READ_EVERY_MS 1000    /* the writer reads the record this often */

struct cluster_cfg cluster_cs;

/* ---- shared with the threads (cl_mu) ---------------------------------------- */

static pthread_mutex_t cl_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cl_cv = PTHREAD_COND_INITIALIZER;
static struct cluster_msg *cl_in, **cl_in_tail = &cl_in;
static char *cl_job;                  /* the record to write, NULL none */
static int64_t cl_job_expect;         /* the revision it replaces, 0: none */
static char *cl_figs;                 /* this node's figures to publish, NULL none */
static atomic_int cl_stopping;        /* read by etcd_watch too */
static int cl_pipe[2] = { -1, -1 };

static struct etcd *cl_ew, *cl_ewatch;   /* the writer's, the watcher's */
static pthread_t cl_writer_t, cl_watcher_t;
static int cl_nthreads;

/* ---- messages ------------------------------------------------------------------ */

void
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

/* The record kv holds (NULL: none, as of store revision rev) as a message
 * of kind; mod is the revision either way, so an old "none" is known old. */
static void
cluster_post_kv(enum cluster_msg_kind kind, const struct etcd_kv *kv, int64_t rev)
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
	} else {
		m->mod = rev;
	}
	cluster_post(m);
}

/* Sleep up to ms, or less when stopping (or, with job, when a job comes). */
static void
cluster_nap(int ms, int for_job)
{
	struct timespec ts = clock_deadline_ms(ms);

	pthread_mutex_lock(&cl_mu);
	while (!atomic_load(&cl_stopping) && !(for_job && cl_job != NULL))
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
	r = etcd_cas(cl_ew, cluster_cs.k_split, job, strlen(job), expect, 0, &mod, &cur, err, sizeof(err));
	free(job);
	if (r == 1)
		cluster_post_simple(M_WRITTEN, 0, mod, NULL);
	else if (r == 0)
		cluster_post_kv(M_CONFLICT, cur.mod_revision != 0 ? &cur : NULL, 0);
	else
		cluster_post_simple(M_FAILED, 0, 0, err);
	etcd_kv_clear(&cur);
	return r == -1 ? -1 : 0;
}

static void *
cluster_writer(void *arg)
{
	int64_t lease = 0, rev;
	uint64_t ka_at = 0, read_at = 0, now;
	int leader = 0, conn = -1, ok, backoff = 100, r;
	char err[256] = "", *figs;
	struct cluster_list list;
	struct etcd_kv kv;

	(void)arg;
	while (!atomic_load(&cl_stopping)) {
		ok = 1;
		err[0] = '\0';
		now = proxy_now_us() / 1000;
		if (cluster_write_job() == -1) {
			ok = 0;
			snprintf(err, sizeof(err), "%s", "the record could not be written");
		}
		if (ok && lease == 0) {
			if (etcd_lease_grant(cl_ew, cluster_cs.ttl_s, &lease, err, sizeof(err)) == -1) {
				lease = 0;
				ok = 0;
			}
			ka_at = now;
		} else if (ok && now - ka_at >= (uint64_t)cluster_cs.ttl_s * 1000 / 3) {
			if (etcd_lease_keepalive(cl_ew, lease, err, sizeof(err)) == -1) {
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
			r = etcd_cas(cl_ew, cluster_cs.k_leader, cluster_cs.node, strlen(cluster_cs.node), 0, lease, NULL, &kv,
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
		if (ok && figs != NULL && etcd_put(cl_ew, cluster_cs.k_me, figs, strlen(figs), lease, err,
		    sizeof(err)) == -1)
			ok = 0;
		free(figs);
		if (ok) {
			list.n = 0;
			list.v = calloc(CLUSTER_MAX_NODES, sizeof(*list.v));
			if (list.v != NULL && etcd_list(cl_ew, cluster_cs.k_nodes, cluster_list_one, &list, err,
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
			rev = 0;
			r = etcd_get(cl_ew, cluster_cs.k_split, &kv, &rev, err, sizeof(err));
			if (r == -1)
				ok = 0;
			else
				cluster_post_kv(M_RECORD, r == 1 ? &kv : NULL, rev);
			etcd_kv_clear(&kv);
			read_at = now;
		}
		if (ok != conn) {
			conn = ok;
			cluster_post_simple(M_CONN, ok, 0, err);
		}
		if (ok) {
			backoff = 100;
			cluster_nap(cluster_cs.cycle_ms, 1);
		} else {
			cluster_nap(backoff, 1);
			backoff = backoff * 2 > CLUSTER_BACKOFF_MAX_MS ? CLUSTER_BACKOFF_MAX_MS :
			    backoff * 2;
		}
	}
	/* leaving: the figures and the leader key go at once, not after ttl_s */
	if (lease != 0)
		etcd_lease_revoke(cl_ew, lease, err, sizeof(err));
	return NULL;
}

/* ---- the watch thread --------------------------------------------------------------- */

static int
cluster_watch_one(void *arg, const struct etcd_kv *kv, int deleted)
{
	(void)arg;
	cluster_post_kv(M_RECORD, deleted ? NULL : kv, kv->mod_revision);
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
	while (!atomic_load(&cl_stopping)) {
		memset(&kv, 0, sizeof(kv));
		rev = 0;
		r = etcd_get(cl_ewatch, cluster_cs.k_split, &kv, &rev, err, sizeof(err));
		if (r != -1)
			cluster_post_kv(M_RECORD, r == 1 ? &kv : NULL, rev);
		etcd_kv_clear(&kv);
		if (r != -1 && etcd_watch(cl_ewatch, cluster_cs.k_split, rev + 1, cluster_watch_one, NULL,
		    &cl_stopping, err, sizeof(err)) == 1)
			break;
		if (atomic_load(&cl_stopping))
			break;
		log_debug("cluster: watch: %s; again in %d ms", err, backoff);
		cluster_nap(backoff, 0);
		backoff = backoff * 2 > CLUSTER_BACKOFF_MAX_MS ? CLUSTER_BACKOFF_MAX_MS : backoff * 2;
	}
	return NULL;
}


/* ---- the control thread's calls ------------------------------------------------------ */

int
cluster_io_open(const struct etcd_opts *o, char *err, size_t errlen)
{
	cl_ew = etcd_new(o, err, errlen);
	cl_ewatch = cl_ew != NULL ? etcd_new(o, err, errlen) : NULL;
	if (cl_ewatch == NULL)
		return -1;
	if (pipe2(cl_pipe, O_NONBLOCK | O_CLOEXEC) == -1) {
		snprintf(err, errlen, "cluster: pipe: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int
cluster_io_fd(void)
{
	return cl_pipe[0];
}

struct etcd *
cluster_io_etcd(void)
{
	return cl_ew;
}

int
cluster_io_run(char *err, size_t errlen)
{
	if (pthread_create(&cl_writer_t, NULL, cluster_writer, NULL) != 0) {
		snprintf(err, errlen, "cluster: cannot start its thread");
		return -1;
	}
	cl_nthreads = 1;
	if (pthread_create(&cl_watcher_t, NULL, cluster_watcher, NULL) != 0) {
		snprintf(err, errlen, "cluster: cannot start its watch thread");
		return -1;
	}
	cl_nthreads = 2;
	return 0;
}

struct cluster_msg *
cluster_io_take(void)
{
	struct cluster_msg *m;
	char buf[64];

	while (read(cl_pipe[0], buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&cl_mu);
	m = cl_in;
	cl_in = NULL;
	cl_in_tail = &cl_in;
	pthread_mutex_unlock(&cl_mu);
	return m;
}

void
cluster_io_job(char *record, int64_t expect)
{
	pthread_mutex_lock(&cl_mu);
	free(cl_job);
	cl_job = record;
	cl_job_expect = expect;
	pthread_cond_broadcast(&cl_cv);
	pthread_mutex_unlock(&cl_mu);
}

void
cluster_io_figs(char *figs)
{
	pthread_mutex_lock(&cl_mu);
	free(cl_figs);
	cl_figs = figs;
	pthread_mutex_unlock(&cl_mu);
}

void
cluster_io_close(void)
{
	struct cluster_msg *m, *next;

	pthread_mutex_lock(&cl_mu);
	atomic_store(&cl_stopping, 1);
	pthread_cond_broadcast(&cl_cv);
	pthread_mutex_unlock(&cl_mu);
	if (cl_nthreads > 1)
		pthread_join(cl_watcher_t, NULL);
	if (cl_nthreads > 0)
		pthread_join(cl_writer_t, NULL);
	cl_nthreads = 0;
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
	etcd_free(cl_ew);
	etcd_free(cl_ewatch);
	cl_ew = cl_ewatch = NULL;
}
