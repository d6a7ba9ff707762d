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
#include <unistd.h>

#include <event2/event.h>
#include <libconfig.h>
#include <openssl/crypto.h>

#include "proxy.h"

#ifndef BGPROXY_VERSION
#define BGPROXY_VERSION "0.0.0"
#endif

struct runtime rt;

static void
main_usage(FILE *f)
{
	fprintf(f,
	    "usage: bgproxy -c FILE        run the proxy in the foreground\n"
	    "       bgproxy -t -c FILE     check the configuration and exit\n"
	    "       bgproxy -V             print versions and exit\n");
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

/* Servers and pools of the data path, from the configuration. */
static void
main_build_pools(const struct config *c)
{
	int p;
	size_t i;

	for (p = 0; p < CONFIG_POOLS; p++) {
		struct pool *pl = &rt.pools[p];

		pl->name = p == POOL_BLUE ? "blue" : "green";
		pl->nservers = c->pools[p].nservers;
		for (i = 0; i < pl->nservers; i++) {
			pl->servers[i].cfg = &c->pools[p].servers[i];
			pl->servers[i].pool = (enum pool_id)p;
			pl->servers[i].index = (int)i;
			atomic_init(&pl->servers[i].state, SRV_UP);
			atomic_init(&pl->servers[i].fails, 0);
			atomic_init(&pl->servers[i].down_until, 0);
			pl->weights[i] = c->pools[p].servers[i].weight;
		}
	}
	atomic_store(&rt.split, SPLIT_WORD(c->stable, c->candidate_bp));
}

/* What this release cannot do yet is refused loudly, never ignored. */
static int
main_check_supported(const struct config *c)
{
	size_t i;

	for (i = 0; i < c->nlisteners; i++) {
		if (c->listeners[i].tls) {
			fprintf(stderr, "%s:%d: TLS listeners are not supported by this build yet "
			    "(TLS termination lands in a later release)\n", c->path,
			    c->listeners[i].line);
			return -1;
		}
	}
	return 0;
}

static int
main_run(void)
{
	char err[512];
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	/* blocked before the workers start, so they inherit the mask */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (worker_start_all(err, sizeof(err)) == -1) {
		log_error("%s", err);
		return 1;
	}
	log_info("bgproxy %s started: %zu listener(s), %d worker(s), stable %s, %s %.2f%%",
	    BGPROXY_VERSION, rt.cfg->nlisteners, rt.nworkers,
	    rt.pools[rt.cfg->stable].name, rt.pools[!rt.cfg->stable].name,
	    rt.cfg->candidate_bp / 100.0);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("%s: stopping gracefully (up to %d ms)", strsignal(sig),
			    rt.cfg->t_shutdown_ms);
			break;
		}
		if (sig == SIGUSR1) {
			if (log_access_open(rt.cfg->log_access, err, sizeof(err)) == -1)
				log_error("%s", err);
			else
				log_info("access log reopened");
		} else if (sig == SIGHUP) {
			log_warn("SIGHUP: configuration reload is not supported by this build yet; "
			    "the running configuration stays");
		}
	}
	worker_drain_all();
	worker_join_all();
	worker_free_all();
	log_info("stopped");
	return 0;
}

int
main(int argc, char **argv)
{
	const char *path = NULL;
	char *errs = NULL;
	char err[512];
	int test_only = 0, ch, rc;

	while ((ch = getopt(argc, argv, "c:tVh")) != -1) {
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
	rt.cfg = config_load(path, &errs);
	if (rt.cfg == NULL) {
		fputs(errs, stderr);
		free(errs);
		return 1;
	}
	if (main_check_supported(rt.cfg) == -1) {
		config_free(rt.cfg);
		return 1;
	}
	if (test_only) {
		printf("configuration OK\n");
		config_free(rt.cfg);
		return 0;
	}
	log_level_cur = rt.cfg->log_level;
	if (log_access_open(rt.cfg->log_access, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		config_free(rt.cfg);
		return 1;
	}
	main_build_pools(rt.cfg);
	rc = main_run();
	config_free(rt.cfg);
	rt.cfg = NULL;
	return rc;
}
