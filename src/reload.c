/*
 * reload.c - re-read the configuration without risking the running process.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "audit.h"
#include "health.h"
#include "metrics.h"
#include "pools.h"
#include "proxy.h"
#include "notify.h"
#include "listen_claim.h"
#include "reload.h"
#include "tls.h"
#include "tls_up.h"
#include "upstream.h"
#include "watch.h"
#include "worker.h"

/* ---- freeing what a reload replaced -------------------------------------- */

struct retired {
	void *ptr;
	void (*free_fn)(void *);
	uint64_t *epochs;           /* each worker's epoch when it was retired */
	struct retired *next;
};

static struct retired *reload_retired;
static struct event *reload_reap_ev;

static void
reload_free_config(void *p)
{
	config_free(p);
}

/* Free ptr once every worker has ticked since now. */
static void
reload_retire(void *ptr, void (*free_fn)(void *))
{
	struct retired *r = calloc(1, sizeof(*r));
	int i;

	if (r != NULL)
		r->epochs = calloc((size_t)rt.nworkers, sizeof(uint64_t));
	if (r == NULL || r->epochs == NULL) {
		/* without memory to track it, keeping it is the safe choice */
		log_error("reload: out of memory; keeping the old configuration in memory");
		free(r);
		return;
	}
	r->ptr = ptr;
	r->free_fn = free_fn;
	for (i = 0; i < rt.nworkers; i++)
		r->epochs[i] = atomic_load_explicit(&rt.workers[i].epoch, memory_order_acquire);
	r->next = reload_retired;
	reload_retired = r;
}

static void
reload_reap(int force)
{
	struct retired **pp = &reload_retired, *r;
	int i, quiet;

	while ((r = *pp) != NULL) {
		quiet = 1;
		for (i = 0; i < rt.nworkers && !force; i++)
			if (!atomic_load(&rt.workers[i].done) &&
			    atomic_load_explicit(&rt.workers[i].epoch, memory_order_acquire) <=
			    r->epochs[i])
				quiet = 0;
		if (!quiet) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		r->free_fn(r->ptr);
		free(r->epochs);
		free(r);
	}
}

static void
reload_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	reload_reap(0);
}

int
reload_init(struct event_base *base)
{
	struct timeval tv = { 0, 100000 };

	reload_reap_ev = event_new(base, -1, EV_PERSIST, reload_reap_cb, NULL);
	if (reload_reap_ev == NULL)
		return -1;
	event_add(reload_reap_ev, &tv);
	return 0;
}

void
reload_shutdown(void)
{
	if (reload_reap_ev != NULL)
		event_free(reload_reap_ev);
	reload_reap_ev = NULL;
	reload_reap(1);
}

/* ---- checks ------------------------------------------------------------------ */

/* ---- TLS contexts --------------------------------------------------------- */

static void
reload_free_tls(void *p)
{
	tls_ctxset_free(p);
}

/* TLS to each service's pools' servers, made with the listeners' (one
 * reload, one control thread: prepared, then published or dropped), by
 * the new configuration's service and pool. */
static struct tls_up **reload_up_pending;
static size_t reload_up_n;

static void
reload_free_uptls(void *p)
{
	tls_up_free(p);
}

static void
reload_uptls_drop(void)
{
	for (size_t i = 0; i < reload_up_n; i++)
		tls_up_free(reload_up_pending[i]);
	free(reload_up_pending);
	reload_up_pending = NULL;
	reload_up_n = 0;
}

/* Load every TLS listener's certificates (sets[i] for listener i; NULL for
 * plain ones) and each pool's TLS to its servers (its CA, client
 * certificate and key read again).  -1 with FILE:LINE in err, and nothing
 * kept, when any fails: a typo in one certificate never takes HTTPS down. */
int
reload_tls_prepare(const struct config *c, struct tls_ctxset **sets, char *err, size_t errlen)
{
	size_t i, k;

	reload_uptls_drop();
	reload_up_pending = calloc(c->nsvcs * CONFIG_POOLS, sizeof(*reload_up_pending));
	if (reload_up_pending == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	reload_up_n = c->nsvcs * CONFIG_POOLS;
	for (i = 0; i < reload_up_n; i++) {
		if (tls_up_new(c->path, &c->svcs[i / CONFIG_POOLS].pools[i % CONFIG_POOLS],
		    upstream_tls_session, &reload_up_pending[i], err, errlen) == -1) {
			reload_uptls_drop();
			return -1;
		}
	}

	for (i = 0; i < c->nlisteners; i++) {
		sets[i] = NULL;
		if (!c->listeners[i].tls)
			continue;
		sets[i] = tls_ctxset_load(&c->listeners[i], c->path, err, errlen);
		if (sets[i] == NULL) {
			for (k = 0; k < i; k++)
				tls_ctxset_free(sets[k]);
			reload_uptls_drop();
			return -1;
		}
	}
	return 0;
}

/* Publish prepared sets; the replaced ones are freed after every worker
 * ticked (connections made from them keep their own references). */
void
reload_tls_publish(const struct config *c, struct tls_ctxset **sets)
{
	struct tls_up *oldup;
	size_t i;
	int k, n;

	/* each service of c has its slot (services_prepare) */
	for (i = 0; i < reload_up_n; i++) {
		struct service *sv = service_made(c->svcs[i / CONFIG_POOLS].name);

		oldup = atomic_exchange_explicit(&sv->up_tls[i % CONFIG_POOLS], reload_up_pending[i],
		    memory_order_acq_rel);
		reload_up_pending[i] = NULL;
		if (oldup != NULL && rt.workers != NULL)
			reload_retire(oldup, reload_free_uptls);
		else
			tls_up_free(oldup);
	}
	reload_uptls_drop();

	for (i = 0; i < c->nlisteners; i++) {
		const struct config_addr *a = &c->listeners[i].addr;
		struct tls_ctxset *old;

		if (sets[i] == NULL)
			continue;
		n = atomic_load(&rt.ntls);
		for (k = 0; k < n; k++)
			if (rt.tls[k].addr.len == a->len && memcmp(&rt.tls[k].addr.ss, &a->ss,
			    a->len) == 0)
				break;
		if (k == n) {
			if (n == (int)(sizeof(rt.tls) / sizeof(rt.tls[0]))) {
				log_error("too many TLS listener addresses since start; %s keeps its "
				    "old certificates", a->text);
				tls_ctxset_free(sets[i]);
				continue;
			}
			rt.tls[k].addr = *a;
			atomic_store(&rt.tls[k].set, NULL);
			atomic_store_explicit(&rt.ntls, n + 1, memory_order_release);
		}
		old = atomic_exchange_explicit(&rt.tls[k].set, sets[i], memory_order_acq_rel);
		if (old != NULL) {
			if (rt.workers != NULL)
				reload_retire(old, reload_free_tls);
			else
				tls_ctxset_free(old);
		}
	}
}

/* At exit, after the workers are gone. */
void
reload_tls_free_all(void)
{
	int k;

	for (k = 0; k < atomic_load(&rt.ntls); k++) {
		tls_ctxset_free(atomic_exchange(&rt.tls[k].set, NULL));
	}
	atomic_store(&rt.ntls, 0);
	for (k = 0; k < atomic_load(&rt.nsvcs); k++)
		for (int p = 0; p < CONFIG_POOLS; p++)
			tls_up_free(atomic_exchange(&rt.svcs[k]->up_tls[p], NULL));
	reload_uptls_drop();
}

/* Whether the configuration names TLS files (listeners' certificates, the
 * pools' CA and client certificates): a reload has read them again, even
 * when no setting changed. */
static int
reload_tls_files(const struct config *c)
{
	size_t i;
	int p;

	for (i = 0; i < c->nlisteners; i++)
		if (c->listeners[i].tls)
			return 1;
	for (i = 0; i < c->nsvcs; i++)
		for (p = 0; p < CONFIG_POOLS; p++)
			if (c->svcs[i].pools[p].tls.enabled)
				return 1;
	return 0;
}

static int
reload_str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The cluster's threads hold its settings from the start. */
static int
reload_same_cluster(const struct config *old, const struct config *c)
{
	size_t i;

	if (c->cluster_netcd != old->cluster_netcd)
		return 0;
	for (i = 0; i < c->cluster_netcd; i++)
		if (strcmp(c->cluster_etcd[i], old->cluster_etcd[i]) != 0)
			return 0;
	return c->cluster_netcd == 0 || (reload_str_eq(c->cluster_prefix, old->cluster_prefix) &&
	    reload_str_eq(c->cluster_node, old->cluster_node) &&
	    c->cluster_ttl_s == old->cluster_ttl_s &&
	    c->cluster_timeout_ms == old->cluster_timeout_ms &&
	    reload_str_eq(c->cluster_user, old->cluster_user) &&
	    reload_str_eq(c->cluster_password, old->cluster_password) &&
	    reload_str_eq(c->cluster_tls_ca, old->cluster_tls_ca) &&
	    reload_str_eq(c->cluster_tls_cert, old->cluster_tls_cert) &&
	    reload_str_eq(c->cluster_tls_key, old->cluster_tls_key));
}

/* What a running process cannot take over without a restart. */
static int
reload_check_restart_only(const struct config *old, const struct config *c, char *err,
    size_t errlen)
{
	if (c->workers != old->workers) {
		snprintf(err, errlen, "%s: workers cannot change on reload (%d -> %d); restart "
		    "bgproxy to apply it", c->path, old->workers, c->workers);
		return -1;
	}
	if (strcmp(c->admin_socket, old->admin_socket) != 0 || c->admin_mode != old->admin_mode) {
		snprintf(err, errlen, "%s: admin.socket and admin.mode cannot change on reload; "
		    "restart bgproxy to apply them", c->path);
		return -1;
	}
	/* the mode matters only for a socket there is */
	if ((c->admin_readonly_socket == NULL) != (old->admin_readonly_socket == NULL) ||
	    (c->admin_readonly_socket != NULL &&
	    (strcmp(c->admin_readonly_socket, old->admin_readonly_socket) != 0 ||
	    c->admin_readonly_mode != old->admin_readonly_mode))) {
		snprintf(err, errlen, "%s: admin.readonly_socket and admin.readonly_mode cannot "
		    "change on reload; restart bgproxy to apply them", c->path);
		return -1;
	}
	if (!reload_same_cluster(old, c)) {
		snprintf(err, errlen, "%s: the cluster section cannot change on reload; restart "
		    "bgproxy to apply it", c->path);
		return -1;
	}
	return 0;
}

/* ---- listeners ------------------------------------------------------------- */

static int
reload_same_addr(const struct config_addr *a, const struct config_addr *b)
{
	return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

static int
reload_has_listener(const struct config *c, const struct config_addr *a)
{
	size_t i;

	for (i = 0; i < c->nlisteners; i++)
		if (reload_same_addr(&c->listeners[i].addr, a))
			return 1;
	return 0;
}

static void
reload_free_changes(struct lis_change **chg, int n)
{
	int i;
	size_t k;

	for (i = 0; i < n; i++) {
		if (chg[i] == NULL)
			continue;
		for (k = 0; k < chg[i]->nadd; k++)
			close(chg[i]->add_fd[k]);
		free(chg[i]);
		chg[i] = NULL;
	}
}

/* The claims of from's listener addresses that keep has not: given up (a
 * refused reload's new ones, a committed reload's removed ones). */
static void
reload_release_claims(const struct config *keep, const struct config *from)
{
	size_t i;

	for (i = 0; i < from->nlisteners; i++)
		if (!reload_has_listener(keep, &from->listeners[i].addr))
			listen_release(&from->listeners[i].addr);
}

/* One change per worker: new listeners bound now (so a busy port fails the
 * reload before anything changed), old ones to close.  Counts in *nadd and *nrem. */
static int
reload_listener_changes(const struct config *old, const struct config *c,
    struct lis_change **chg, size_t *nadd, size_t *nrem, char *err, size_t errlen)
{
	char e[256];
	size_t i;
	int w;

	*nadd = *nrem = 0;
	for (w = 0; w < rt.nworkers; w++) {
		chg[w] = calloc(1, sizeof(**chg));
		if (chg[w] == NULL) {
			snprintf(err, errlen, "out of memory");
			reload_free_changes(chg, rt.nworkers);
			return -1;
		}
	}
	/* new addresses are checked and bound under the host's listener lock */
	if (listen_lock(err, errlen) == -1) {
		reload_free_changes(chg, rt.nworkers);
		return -1;
	}
	for (i = 0; i < c->nlisteners; i++) {
		const struct config_listener *cl = &c->listeners[i];

		if (reload_has_listener(old, &cl->addr))
			continue;
		/* a new address: nobody else may hold it (another bgproxy) */
		if (listen_claim(&cl->addr, e, sizeof(e)) == -1) {
			listen_unlock();
			snprintf(err, errlen, "%s:%d: %s", c->path, cl->line, e);
			reload_free_changes(chg, rt.nworkers);
			reload_release_claims(old, c);
			return -1;
		}
		for (w = 0; w < rt.nworkers; w++) {
			struct lis_change *x = chg[w];
			evutil_socket_t fd = worker_bind(&cl->addr, e, sizeof(e));

			if (fd == -1) {
				listen_unlock();
				snprintf(err, errlen, "%s:%d: cannot listen on %s: %s", c->path, cl->line,
				    cl->addr.text, e);
				reload_free_changes(chg, rt.nworkers);
				reload_release_claims(old, c);
				return -1;
			}
			x->add[x->nadd].addr = cl->addr;
			x->add[x->nadd].tls = cl->tls;
			x->add_fd[x->nadd] = fd;
			x->nadd++;
		}
		(*nadd)++;
	}
	listen_unlock();
	for (i = 0; i < old->nlisteners; i++) {
		if (reload_has_listener(c, &old->listeners[i].addr))
			continue;
		for (w = 0; w < rt.nworkers; w++)
			chg[w]->rem[chg[w]->nrem++] = old->listeners[i].addr;
		(*nrem)++;
	}
	return 0;
}

/* ---- reload ------------------------------------------------------------------ */

static void
reload_tls_drop(const struct config *c, struct tls_ctxset **sets)
{
	size_t i;

	for (i = 0; i < c->nlisteners; i++)
		tls_ctxset_free(sets[i]);
	reload_uptls_drop();
}

/* Append ", what" to buf at *off (as far as it fits). */
static void
reload_say(char *buf, size_t len, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
reload_say(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off + 4 >= len)
		return;
	if (*off > 0) {
		buf[(*off)++] = ',';
		buf[(*off)++] = ' ';
	}
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off = (size_t)n >= len - *off ? len - 1 : *off + (size_t)n;
}

static const struct config_server *
reload_find_server(const struct config_pool *p, const struct config_addr *a)
{
	size_t i;

	for (i = 0; i < p->nservers; i++)
		if (p->servers[i].addr.len == a->len &&
		    memcmp(&p->servers[i].addr.ss, &a->ss, a->len) == 0)
			return &p->servers[i];
	return NULL;
}

static const struct config_listener *
reload_find_listener(const struct config *c, const struct config_addr *a)
{
	size_t i;

	for (i = 0; i < c->nlisteners; i++)
		if (c->listeners[i].addr.len == a->len &&
		    memcmp(&c->listeners[i].addr.ss, &a->ss, a->len) == 0)
			return &c->listeners[i];
	return NULL;
}

/* The servers and listeners a reload adds, removes or changes, by name:
 * "+blue 127.0.0.1:9003, blue 127.0.0.1:9001 weight 1 -> 5, +listen
 * 127.0.0.1:8443, listen 127.0.0.1:8080 h2c false -> true". */
static void
reload_describe(const struct config *a, const struct config *b, char *buf, size_t len)
{
	const struct config_server *s;
	const struct config_listener *l;
	size_t off = 0, i;
	int p;

	buf[0] = '\0';
	for (size_t k = 0; k < b->nsvcs; k++) {
		const struct config_svc *nb = &b->svcs[k], *na = config_svc_named(a, nb->name);
		/* "shop: " before a server of a service with a services list */
		char pre[CONFIG_SVC_NAME_MAX + 3] = "";

		if (na == NULL)
			continue;       /* a service added: config_diff names it */
		if (b->services)
			snprintf(pre, sizeof(pre), "%s: ", nb->name);
		for (p = 0; p < CONFIG_POOLS; p++) {
			for (i = 0; i < nb->pools[p].nservers; i++) {
				const struct config_server *n = &nb->pools[p].servers[i];

				s = reload_find_server(&na->pools[p], &n->addr);
				if (s == NULL)
					reload_say(buf, len, &off, "%s+%s %s", pre, pool_names[p],
					    n->addr.text);
				else if (s->weight != n->weight)
					reload_say(buf, len, &off, "%s%s %s weight %d -> %d", pre,
					    pool_names[p], n->addr.text, s->weight, n->weight);
			}
			for (i = 0; i < na->pools[p].nservers; i++)
				if (reload_find_server(&nb->pools[p], &na->pools[p].servers[i].addr) == NULL)
					reload_say(buf, len, &off, "%s-%s %s", pre, pool_names[p],
					    na->pools[p].servers[i].addr.text);
		}
	}
	for (i = 0; i < b->nlisteners; i++) {
		const struct config_listener *n = &b->listeners[i];

		l = reload_find_listener(a, &n->addr);
		if (l == NULL) {
			reload_say(buf, len, &off, "+listen %s", n->addr.text);
			continue;
		}
		if (l->h2c != n->h2c)
			reload_say(buf, len, &off, "listen %s h2c %s -> %s", n->addr.text,
			    l->h2c ? "true" : "false", n->h2c ? "true" : "false");
		if (l->tls != n->tls || l->ncerts != n->ncerts || l->min_tls13 != n->min_tls13 ||
		    l->alpn_len != n->alpn_len || memcmp(l->alpn, n->alpn, n->alpn_len) != 0)
			reload_say(buf, len, &off, "listen %s tls changed", n->addr.text);
	}
	for (i = 0; i < a->nlisteners; i++)
		if (reload_find_listener(b, &a->listeners[i].addr) == NULL)
			reload_say(buf, len, &off, "-listen %s", a->listeners[i].addr.text);
}

/* Logs and audit log follow the new file names; failures are reported but
 * do not undo the reload (traffic already follows the new configuration). */
static void
reload_reopen_logs(const struct config *old, const struct config *c)
{
	char err[512];

	log_level_cur = c->log_level;
	if (strcmp(old->log_access, c->log_access) != 0 &&
	    log_access_open(c->log_access, err, sizeof(err)) == -1)
		log_error("reload: %s", err);
	if ((old->admin_audit_log == NULL) != (c->admin_audit_log == NULL) ||
	    (c->admin_audit_log != NULL && strcmp(old->admin_audit_log, c->admin_audit_log) != 0)) {
		if (audit_open(c->admin_audit_log, err, sizeof(err)) == -1)
			log_error("reload: %s", err);
	}
}

static int reload_apply(const struct actor *who, char *msg, size_t len);

int
reload_run(const struct actor *who, char *msg, size_t len)
{
	struct timespec ts;
	int r;

	/* systemd (Type=notify) sees the reload from start to end; without
	 * NOTIFY_SOCKET sd_notify does nothing */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
	r = reload_apply(who, msg, len);
	if (r == -1)
		log_warn("reload refused, the running configuration stays: %s", msg);
	sd_notifyf(0, "READY=1\nSTATUS=%s", r == 0 ? "serving; configuration reloaded" :
	    "serving; the last reload was refused, the running configuration stays");
	return r;
}

static int
reload_apply(const struct actor *who, char *msg, size_t len)
{
	struct config *old = rt.cfg, *c;
	struct poolset **ps;
	struct lis_change *chg[CONFIG_MAX_LISTENERS > 64 ? CONFIG_MAX_LISTENERS : 64];
	struct tls_ctxset *tls[CONFIG_MAX_LISTENERS];
	size_t nadd, nrem, nkeys;
	char *errs = NULL, changed[768], named[768], errbuf[256];
	int added, removed, i;

	c = config_load_checked(old->path, &errs);
	if (c == NULL) {
		size_t n;

		snprintf(msg, len, "%s", errs != NULL ? errs : "configuration not loaded");
		free(errs);
		/* one line per error, without the last newline */
		for (n = strlen(msg); n > 0 && msg[n - 1] == '\n'; )
			msg[--n] = '\0';
		return -1;
	}
	if (reload_check_restart_only(old, c, msg, len) == -1)
		goto fail;
	if (reload_tls_prepare(c, tls, msg, len) == -1)
		goto fail;
	ps = services_prepare(c, msg, len) == -1 ? NULL : pools_build(c, msg, len);
	if (ps == NULL) {
		reload_tls_drop(c, tls);
		goto fail;
	}
	if (reload_listener_changes(old, c, chg, &nadd, &nrem, msg, len) == -1) {
		reload_tls_drop(c, tls);
		pools_free_built(ps, c->nsvcs);
		goto fail;
	}
	if (metrics_restart(c, msg, len) == -1) {
		reload_free_changes(chg, rt.nworkers);
		reload_release_claims(old, c);
		reload_tls_drop(c, tls);
		pools_free_built(ps, c->nsvcs);
		goto fail;
	}

	/* commit: nothing below can fail; certificates first, so a listener
	 * a reload adds has its contexts before it accepts */
	reload_tls_publish(c, tls);
	pools_count_changes(c, ps, &added, &removed);
	services_publish(c, reload_retire);
	pools_publish(c, ps, reload_retire);
	atomic_store_explicit(&rt.cfg, c, memory_order_release);
	for (i = 0; i < rt.nworkers; i++) {
		worker_post_change(&rt.workers[i], chg[i]);
		chg[i] = NULL;
	}
	reload_release_claims(c, old);
	reload_reopen_logs(old, c);
	state_config_changed(c);
	if (watch_sync(errbuf, sizeof(errbuf)) == -1)
		log_error("reload: %s", errbuf);
	notify_config(c);
	health_sync();
	nkeys = config_diff(old, c, changed, sizeof(changed));
	reload_describe(old, c, named, sizeof(named));
	snprintf(msg, len, "reloaded %s: %d server(s) added, %d removed; %zu listener(s) added, "
	    "%zu removed%s%s%s%s%s", c->path, added, removed, nadd, nrem, named[0] ? ": " : "",
	    named, nkeys ? "; changed: " : named[0] ? "" : "; no setting changed", changed,
	    reload_tls_files(c) ? "; certificates and CA files read again" : "");
	/* every service's history has the reload (logged once, each events
	 * file written at its service's next event) */
	if (c->services)
		log_info("event: every service: %s", msg);
	state_batch(c->services);
	for (i = 0; i < service_count(); i++)
		if (!atomic_load(&rt.svcs[i]->removed))
			state_event_rec(rt.svcs[i], who, "reload", NULL, NULL, NULL, "%s", msg);
	state_batch(0);
	reload_retire(old, reload_free_config);
	return 0;
fail:
	config_free(c);
	return -1;
}
