/*
 * main.c - options (-c, -t, -V), signals, wiring, run, teardown.
 *
 * The main thread owns no sockets of the data path: it loads the
 * configuration, starts the worker threads and then waits for signals
 * with sigwait(), so no signal handler ever runs inside a worker.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <libconfig.h>
#include <openssl/crypto.h>
#include <systemd/sd-daemon.h>

#include "admin.h"
#include "audit.h"
#include "cluster.h"
#include "health.h"
#include "listen_claim.h"
#include "metrics.h"
#include "notify.h"
#include "pools.h"
#include "proxy.h"
#include "reload.h"
#include "state.h"
#include "watch.h"
#include "worker.h"

#ifndef BGPROXY_VERSION
#define BGPROXY_VERSION "0.0.0"
#endif

struct runtime rt;

static void
main_usage(FILE *f)
{
	fprintf(f,
	    "usage: bgproxy -c FILE        run the proxy in the foreground\n"
	    "       bgproxy -t -c FILE     check the configuration (and the directories of its\n"
	    "                              sockets, logs and state file) and exit\n"
	    "       bgproxy -V, --version  print versions and exit\n"
	    "       bgproxy -h, --help     this text\n"
	    "Signals: HUP reloads, TERM/INT stop gracefully, USR1 reopens the logs.\n"
	    "Under systemd (Type=notify) READY=1 is sent once every listener is bound.\n"
	    "See bgproxy(8), bgproxy.conf(5), bgctl(8).\n");
}

static void
main_versions(void)
{
	printf("bgproxy %s\n", BGPROXY_VERSION);
	printf("libevent %s\n", event_get_version());
	printf("%s\n", OpenSSL_version(OPENSSL_VERSION));
	printf("libconfig %d.%d.%d\n", LIBCONFIG_VER_MAJOR, LIBCONFIG_VER_MINOR,
	    LIBCONFIG_VER_REVISION);
}

/* ---- the control thread ---------------------------------------------------- */

static struct event_base *main_base;

/* At start nothing can read what a service no longer needs: freed now. */
static void
main_retire_now(void *p, void (*fn)(void *))
{
	fn(p);
}
static struct event *main_stop_poll;

static int main_recheck_listeners(char *err, size_t errlen);

static void
main_stop_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (worker_all_done())
		event_base_loopexit(main_base, NULL);
}

static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct timeval poll = { 0, 20000 };
	struct actor sys = { ACTOR_SYSTEM, 0, 0 };
	char err[4096];

	(void)what;
	(void)arg;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (atomic_load(&rt.draining))
			return;
		log_info("%s: stopping gracefully (up to %d ms)", strsignal((int)sig),
		    rt.cfg->t_shutdown_ms);
		sd_notify(0, "STOPPING=1\nSTATUS=stopping: finishing in-flight requests");
		worker_drain_all();
		evtimer_add(main_stop_poll, &poll);
		break;
	case SIGHUP:
		/* a refusal is logged (warn) by reload_run */
		(void)reload_run(&sys, err, sizeof(err));
		break;
	case SIGUSR1: {
		/* each log on its own: one that cannot reopen keeps the other going */
		int bad = 0;

		if (log_access_open(rt.cfg->log_access, err, sizeof(err)) == -1) {
			log_error("%s", err);
			bad = 1;
		}
		if (audit_open(rt.cfg->admin_audit_log, err, sizeof(err)) == -1) {
			log_error("%s", err);
			bad = 1;
		}
		if (!bad)
			log_info("log files reopened");
		break;
	}
	}
}

static int
main_run(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	struct event *sev[4];
	char err[1024];
	sigset_t set;
	size_t i;
	int rc = 1;

	sigemptyset(&set);
	for (i = 0; i < 4; i++)
		sigaddset(&set, sigs[i]);
	/* workers inherit a mask that blocks them: signals reach this thread only */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	main_base = event_base_new();
	if (main_base == NULL) {
		log_error("cannot create the control event base");
		return 1;
	}
	if (state_init(rt.cfg, err, sizeof(err)) == -1) {
		log_error("%s", err);
		goto out;
	}
	/* the webhooks first: libcurl is set up before the cluster's threads
	 * use it; with a cluster, etcd's split wins over the state file, before
	 * traffic */
	if (notify_start(rt.cfg, err, sizeof(err)) == -1 ||
	    cluster_start(main_base, rt.cfg, err, sizeof(err)) == -1) {
		log_error("%s", err);
		notify_stop();
		goto out;
	}
	/* the admin socket exists before traffic flows: whoever sees the port
	 * open can steer at once (commands wait for the loop to run) */
	rt.started_us = proxy_now_us();
	if (admin_start(main_base, rt.cfg, err, sizeof(err)) == -1 ||
	    metrics_start(main_base, rt.cfg, err, sizeof(err)) == -1) {
		log_error("%s", err);
		admin_stop();
		metrics_stop();
		cluster_stop();
		notify_stop();
		goto out;
	}
	/* the check and the bind under the host's listener lock: a bgproxy
	 * started at the same moment on an overlapping address finds ours */
	if (listen_lock(err, sizeof(err)) == -1 || main_recheck_listeners(err, sizeof(err)) == -1 ||
	    worker_start_all(err, sizeof(err)) == -1) {
		listen_unlock();
		log_error("%s", err);
		admin_stop();
		metrics_stop();
		cluster_stop();
		notify_stop();
		goto out;
	}
	listen_unlock();
	if (reload_init(main_base) == -1 ||
	    health_start(main_base, err, sizeof(err)) == -1 ||
	    watch_start(main_base, err, sizeof(err)) == -1) {
		log_error("%s", err);
		worker_drain_all();
		worker_join_all();
		admin_stop();
		metrics_stop();
		cluster_stop();
		notify_stop();
		goto out;
	}
	for (i = 0; i < 4; i++) {
		sev[i] = evsignal_new(main_base, sigs[i], main_signal_cb, NULL);
		evsignal_add(sev[i], NULL);
	}
	main_stop_poll = event_new(main_base, -1, EV_PERSIST, main_stop_poll_cb, NULL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	/* every listener is bound (worker_start_all binds them all before any
	 * thread runs) and the admin socket exists: ready */
	sd_notifyf(0, "READY=1\nMAINPID=%d\nSTATUS=serving: %zu listener(s), %d worker(s)",
	    (int)getpid(), rt.cfg->nlisteners, rt.nworkers);
	log_info("bgproxy %s started: %zu listener(s), %d worker(s), admin %s%s%s",
	    BGPROXY_VERSION, rt.cfg->nlisteners, rt.nworkers, rt.cfg->admin_socket,
	    rt.cfg->metrics_enabled ? ", metrics " : "",
	    rt.cfg->metrics_enabled ? rt.cfg->metrics_addr.text : "");

	event_base_dispatch(main_base);

	worker_join_all();
	cluster_stop();
	notify_stop();
	watch_stop();
	health_stop();
	admin_stop();
	metrics_stop();
	reload_shutdown();
	for (i = 0; i < 4; i++)
		event_free(sev[i]);
	event_free(main_stop_poll);
	log_info("stopped");
	rc = 0;
out:
	worker_free_all();
	event_base_free(main_base);
	main_base = NULL;
	return rc;
}

/* Every listener address still free (under the listener lock). */
static int
main_recheck_listeners(char *err, size_t errlen)
{
	char why[512];
	size_t i;

	for (i = 0; i < rt.cfg->nlisteners; i++) {
		if (listen_recheck(&rt.cfg->listeners[i].addr, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "%s:%d: %s", rt.cfg->path, rt.cfg->listeners[i].line, why);
			return -1;
		}
	}
	return 0;
}

/*
 * The listener addresses the bgproxy answering on c's admin socket holds
 * (its `json show info`), into held[] (at most max); how many, or -1 when
 * nothing answers there.
 */
static int
main_admin_listeners(const struct config *c, struct config_addr *held, int max)
{
	struct sockaddr_un un;
	struct timeval tv = { 2, 0 };
	char buf[65536], err[256];
	size_t len = 0;
	ssize_t n;
	json_t *o, *lis, *v;
	int fd, count = 0;
	size_t i;

	if (c->admin_socket == NULL || strlen(c->admin_socket) >= sizeof(un.sun_path))
		return -1;
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	memcpy(un.sun_path, c->admin_socket, strlen(c->admin_socket));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&un, sizeof(un)) == -1 ||
	    write(fd, "json show info\n", 15) != 15) {
		close(fd);
		return -1;
	}
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
		len += (size_t)n;
		if (len >= 2 && buf[len - 1] == '\n' && buf[len - 2] == '\n')
			break;
	}
	close(fd);
	buf[len] = '\0';
	/* "OK\n{...}\n\n" */
	if (strncmp(buf, "OK\n", 3) != 0 || (o = json_loads(buf + 3, JSON_DISABLE_EOF_CHECK,
	    NULL)) == NULL)
		return 0;
	lis = json_object_get(o, "listeners");
	json_array_foreach(lis, i, v) {
		if (count < max && json_is_string(v) &&
		    config_parse_addr(json_string_value(v), &held[count], err, sizeof(err)) == 0)
			count++;
	}
	json_decref(o);
	return count;
}

/*
 * -t: every listener address is free, or held by the bgproxy that answers
 * on this file's admin socket (checking the file a running bgproxy will
 * reload).  Held by anything else: the start would fail, and so does -t.
 * Returns how many are held by others.
 */
static int
main_check_listeners(const struct config *c)
{
	struct config_addr held[CONFIG_MAX_LISTENERS];
	char err[512];
	size_t i;
	int bad = 0, r, nheld = -2, k, ours;

	for (i = 0; i < c->nlisteners; i++) {
		const struct config_addr *a = &c->listeners[i].addr;

		r = listen_held(a, err, sizeof(err));
		if (r == 0)
			continue;
		/* held by the bgproxy of this very file (checking it before its
		 * reload): only the addresses that process says it listens on */
		if (r == 1 && nheld == -2)
			nheld = main_admin_listeners(c, held, CONFIG_MAX_LISTENERS);
		for (ours = 0, k = 0; r == 1 && k < nheld; k++)
			if (held[k].len == a->len && memcmp(&held[k].ss, &a->ss, a->len) == 0)
				ours = 1;
		if (ours) {
			printf("note: %s, the one answering on %s: a reload of it applies this file\n",
			    err, c->admin_socket);
			continue;
		}
		fprintf(stderr, "%s:%d: %s\n", c->path, c->listeners[i].line, err);
		bad++;
	}
	return bad;
}

int
main(int argc, char **argv)
{
	const char *path = NULL;
	char *errs = NULL;
	char err[512];
	int test_only = 0, ch, rc;
	size_t i;
	struct poolset **ps;
	struct tls_ctxset *tls[CONFIG_MAX_LISTENERS];

	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};

	while ((ch = getopt_long(argc, argv, "c:tVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test_only = 1;
			break;
		case 'V':
			main_versions();
			return 0;
		case 'h':
			main_usage(stdout);
			return 0;
		default:
			main_usage(stderr);
			return 1;
		}
	}
	if (path == NULL || optind != argc) {
		main_usage(stderr);
		return 1;
	}
	rt.cfg = config_load_checked(path, &errs);
	if (rt.cfg == NULL) {
		fputs(errs, stderr);
		free(errs);
		return 1;
	}
	/* the services first: what is made for them (TLS to their servers,
	 * their pools) hangs on them */
	if (services_prepare(rt.cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		config_free(rt.cfg);
		return 1;
	}
	services_publish(rt.cfg, main_retire_now);
	/* certificates are part of the configuration: -t checks them too */
	if (reload_tls_prepare(rt.cfg, tls, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		config_free(rt.cfg);
		return 1;
	}
	reload_tls_publish(rt.cfg, tls);
	/* the directories it will write to: what -t accepts, starts */
	if (config_check_dirs(rt.cfg, &errs) == -1) {
		fputs(errs, stderr);
		free(errs);
		reload_tls_free_all();
		config_free(rt.cfg);
		return 1;
	}
	if (test_only) {
		int bad = main_check_listeners(rt.cfg);

		reload_tls_free_all();
		if (!bad)
			printf("configuration OK\n");
		config_free(rt.cfg);
		return bad ? 1 : 0;
	}
	/* one bgproxy per listener address: claimed before anything is
	 * touched (the state file, the admin socket, etcd) */
	for (i = 0; i < rt.cfg->nlisteners; i++) {
		if (listen_claim(&rt.cfg->listeners[i].addr, err, sizeof(err)) == -1) {
			fprintf(stderr, "%s:%d: %s\n", rt.cfg->path, rt.cfg->listeners[i].line, err);
			reload_tls_free_all();
			config_free(rt.cfg);
			return 1;
		}
	}
	log_level_cur = rt.cfg->log_level;
	if (log_access_open(rt.cfg->log_access, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		reload_tls_free_all();
		config_free(rt.cfg);
		return 1;
	}
	ps = pools_build(rt.cfg, err, sizeof(err));
	if (ps == NULL) {
		fprintf(stderr, "%s\n", err);
		reload_tls_free_all();
		config_free(rt.cfg);
		return 1;
	}
	pools_publish(rt.cfg, ps, main_retire_now);
	rc = main_run();
	reload_tls_free_all();
	pools_free_all();
	config_free(rt.cfg);
	rt.cfg = NULL;
	return rc;
}
