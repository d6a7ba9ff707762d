/*
 * etcd_probe.c - drives etcd.c from the command line, for the integration
 * tests of the client against a real etcd cluster (never installed).
 *
 *   etcd_probe ENDPOINTS get KEY            -> "found MOD VALUE" | "absent"
 *   etcd_probe ENDPOINTS cas KEY VALUE MOD  -> "ok NEWMOD" | "conflict MOD VALUE"
 *   etcd_probe ENDPOINTS put KEY VALUE [LEASE]
 *   etcd_probe ENDPOINTS list PREFIX        -> "KEY VALUE" lines
 *   etcd_probe ENDPOINTS grant TTL          -> "lease ID"
 *   etcd_probe ENDPOINTS keepalive ID
 *   etcd_probe ENDPOINTS watch KEY REV N    -> N lines "put MOD VALUE" | "delete"
 *
 * ENDPOINTS: comma-separated.  Env ETCD_USER, ETCD_PASSWORD, ETCD_CA,
 * ETCD_CERT, ETCD_KEY.  Prints "endpoint URL" last; exit 0, or 1 with the
 * error on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.h"

static int left;

static int
on_event(void *arg, const struct etcd_kv *kv, int deleted)
{
	(void)arg;
	if (deleted)
		printf("delete %s\n", kv->key);
	else
		printf("put %lld %s\n", (long long)kv->mod_revision, kv->value);
	fflush(stdout);
	return --left <= 0;
}

static void
on_kv(void *arg, const struct etcd_kv *kv)
{
	(void)arg;
	printf("%s %s\n", kv->key, kv->value);
}

int
main(int argc, char **argv)
{
	const char *eps[ETCD_MAX_ENDPOINTS];
	struct etcd_opts o = { eps, 0, 2000, getenv("ETCD_CA"), getenv("ETCD_CERT"),
		getenv("ETCD_KEY"), getenv("ETCD_USER"), getenv("ETCD_PASSWORD") };
	struct etcd_kv kv;
	struct etcd *e;
	char err[512] = "", *list, *tok;
	int64_t mod = 0, id = 0;
	int r = -1;

	if (argc < 3)
		return 2;
	list = strdup(argv[1]);
	for (tok = strtok(list, ","); tok != NULL && o.nendpoints < ETCD_MAX_ENDPOINTS;
	    tok = strtok(NULL, ","))
		eps[o.nendpoints++] = tok;
	if ((e = etcd_new(&o, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		free(list);
		return 1;
	}
	if (strcmp(argv[2], "get") == 0 && argc == 4) {
		r = etcd_get(e, argv[3], &kv, NULL, err, sizeof(err));
		if (r == 1)
			printf("found %lld %s\n", (long long)kv.mod_revision, kv.value);
		else if (r == 0)
			printf("absent\n");
		etcd_kv_clear(&kv);
	} else if (strcmp(argv[2], "cas") == 0 && argc == 6) {
		r = etcd_cas(e, argv[3], argv[4], strlen(argv[4]), strtoll(argv[5], NULL, 10), 0,
		    &mod, &kv, err, sizeof(err));
		if (r == 1)
			printf("ok %lld\n", (long long)mod);
		else if (r == 0)
			printf("conflict %lld %s\n", (long long)kv.mod_revision,
			    kv.value != NULL ? kv.value : "");
		etcd_kv_clear(&kv);
	} else if (strcmp(argv[2], "put") == 0 && (argc == 5 || argc == 6)) {
		r = etcd_put(e, argv[3], argv[4], strlen(argv[4]),
		    argc == 6 ? strtoll(argv[5], NULL, 10) : 0, err, sizeof(err));
	} else if (strcmp(argv[2], "list") == 0 && argc == 4) {
		r = etcd_list(e, argv[3], on_kv, NULL, err, sizeof(err));
	} else if (strcmp(argv[2], "grant") == 0 && argc == 4) {
		r = etcd_lease_grant(e, atoi(argv[3]), &id, err, sizeof(err));
		if (r == 0)
			printf("lease %lld\n", (long long)id);
	} else if (strcmp(argv[2], "keepalive") == 0 && argc == 4) {
		r = etcd_lease_keepalive(e, strtoll(argv[3], NULL, 10), err, sizeof(err));
	} else if (strcmp(argv[2], "watch") == 0 && argc == 6) {
		left = atoi(argv[5]);
		r = etcd_watch(e, argv[3], strtoll(argv[4], NULL, 10), on_event, NULL, NULL, err,
		    sizeof(err));
	} else {
		fprintf(stderr, "usage: see the comment at the top of etcd_probe.c\n");
		etcd_free(e);
		free(list);
		return 2;
	}
	if (r < 0) {
		fprintf(stderr, "%s\n", err);
		etcd_free(e);
		free(list);
		return 1;
	}
	printf("endpoint %s\n", etcd_endpoint(e));
	etcd_free(e);
	free(list);
	return 0;
}
