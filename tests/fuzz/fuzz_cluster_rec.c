/*
 * libFuzzer harness for cluster_rec.c: what another node wrote to etcd,
 * read as a split record and as a node's figures.  Whatever parses must
 * format back and parse again to the same thing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cluster_rec r, r2;
	struct cluster_figs f, f2;
	char err[256], *v;

	if (cluster_rec_parse((const char *)data, size, &r, err, sizeof(err)) == 0) {
		v = cluster_rec_format(&r);
		if (v == NULL)
			abort();
		if (cluster_rec_parse(v, strlen(v), &r2, err, sizeof(err)) != 0 ||
		    memcmp(&r.st, &r2.st, sizeof(r.st)) != 0 || strcmp(r.node, r2.node) != 0 ||
		    r.step_started_ms != r2.step_started_ms || r.bake_started_ms != r2.bake_started_ms)
			abort();
		free(v);
	}
	if (cluster_figs_parse((const char *)data, size, &f, err, sizeof(err)) == 0) {
		v = cluster_figs_format(&f);
		if (v == NULL)
			abort();
		if (cluster_figs_parse(v, strlen(v), &f2, err, sizeof(err)) != 0 ||
		    memcmp(&f, &f2, sizeof(f)) != 0)
			abort();
		free(v);
	}
	return 0;
}
