/*
 * cluster_name.h - what a cluster node may be called: 1..63 bytes of
 * A-Z a-z 0-9 . _ - (it is part of etcd keys and of the figures).  Used by
 * the configuration and by the records peers write.
 */
#ifndef BGPROXY_CLUSTER_NAME_H
#define BGPROXY_CLUSTER_NAME_H

#include <string.h>

#define CLUSTER_NODE_MAX 64           /* a node name's bytes, NUL included */

static inline int
cluster_node_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n >= CLUSTER_NODE_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

#endif
