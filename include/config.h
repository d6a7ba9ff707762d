/*
 * config.h - the validated configuration.
 *
 * config_load() turns a libconfig file into a freshly allocated struct
 * config, or collects every error as "FILE:LINE: message" lines.  It has no
 * side effects (no sockets, no files written, nothing global), so -t, start
 * and reload share it.  A struct config is immutable once loaded and may be
 * read by any thread.
 */
#ifndef BGPROXY_CONFIG_H
#define BGPROXY_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "split.h"

#define CONFIG_MAX_LISTENERS 64
#define CONFIG_MAX_SERVERS   256
#define CONFIG_MAX_CERTS     64
#define CONFIG_MAX_CIDRS     64
#define CONFIG_POOLS         2      /* blue, green */
#define CONFIG_MAX_ETCD      16     /* cluster.etcd endpoints */
#define CONFIG_MAX_SERVICES  10000  /* services, each a blue/green pair */
#define CONFIG_MAX_HOSTS     256    /* match.hosts of one service */

/* notify.events: the kinds of events POSTed to notify.webhook */
enum { NOTIFY_EV_REVERT = 1, NOTIFY_EV_PROMOTE = 2, NOTIFY_EV_STEP = 4, NOTIFY_EV_PAUSE = 8,
	NOTIFY_EV_TRIP = 16, NOTIFY_EV_ALL = 31 };
extern const char *const notify_event_names[];  /* by bit: "revert", "promote", "step", ... */

/* guard.on_trip: what a trip does */
enum guard_on_trip { ON_TRIP_REVERT = 0, ON_TRIP_STEP_BACK, ON_TRIP_PAUSE };
extern const char *const guard_on_trip_names[];  /* "revert", "step_back", "pause" */
enum guard_method { GUARD_THRESHOLD = 0, GUARD_SEQUENTIAL };
extern const char *const guard_method_names[];   /* "threshold", "sequential" */

/* "blue", "green" (indexed by enum pool_id), then NULL */
extern const char *const pool_names[CONFIG_POOLS + 1];


struct config_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[128];               /* as written in the file, e.g. "127.0.0.1:8080", "[::1]:80" */
};

struct config_cert {
	char *cert;                   /* path, resolved relative to the config file's directory */
	char *key;
	int line;                     /* line of the certificate entry, for later errors */
};

struct config_listener {
	struct config_addr addr;
	int tls;                      /* a tls group is present */
	struct config_cert certs[CONFIG_MAX_CERTS];
	size_t ncerts;
	int min_tls13;                /* min_version = "TLSv1.3" */
	/* tls.alpn in the order given, as the ALPN wire list (length-prefixed
	 * names) [h2, http/1.1] */
	unsigned char alpn[16];
	size_t alpn_len;
	int h2c;                      /* HTTP/2 with prior knowledge on a plain listener [0] */
	int line;
};

struct config_server {
	struct config_addr addr;
	int weight;                   /* 1..256 [1] */
	int max_connections;          /* requests at once on connections to it, 0: no limit [0] */
	int line;
};

enum config_health_type { HEALTH_HTTP = 0, HEALTH_GRPC };

struct config_health {
	int enabled;                  /* a health group is present */
	int type;                     /* enum config_health_type ["http"] */
	char *grpc_service;           /* health.type grpc: the service asked about [""] */
	char *path;                   /* ["/healthz"] */
	int interval_ms;              /* 100..3600000 [1000] */
	int timeout_ms;               /* 10..60000 [500], < interval_ms */
	int rise;                     /* 1..100 [2] */
	int fall;                     /* 1..100 [3] */
};

/* The protocol a pool's servers speak (pools.X.protocol). */
enum config_upproto { UPPROTO_HTTP1 = 0, UPPROTO_H2 };
extern const char *const upproto_names[];        /* "http/1.1", "h2" */

/* TLS to a pool's servers (pools.X.tls; docs/upstreams.md). */
struct config_uptls {
	int enabled;                  /* a tls group is present */
	char *ca;                     /* PEM CA bundle; NULL: the system's CAs */
	int verify;                   /* check the chain and the name [1] */
	char *sni;                    /* name sent and checked; "" (or NULL): the host part */
	char *cert;                   /* client certificate chain for mTLS; "": none */
	char *key;                    /* its key */
	int min_tls13;                /* min_version: 0 TLSv1.2, 1 TLSv1.3 */
	int line;
};

struct config_pool {
	const char *name;             /* "blue" or "green" (static) */
	struct config_server *servers;  /* nservers of them */
	size_t nservers;
	struct config_health health;
	int protocol;                 /* enum config_upproto ["http/1.1"] */
	struct config_uptls tls;
};

struct config_cidr {
	int family;                   /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	int prefix;
};

/* One service: a blue/green pair with its own split, guard and rollout,
 * and what requests it takes (CONTRACT 17). */
struct config_svc {
	char *name;                   /* ["default" without a services list] */
	char **hosts;                 /* match.hosts, lowercase; "*.example.com" a wildcard */
	size_t nhosts;                /* 0: every host */
	char *path_prefix;            /* match.path_prefix ["/"] */
	int line;                     /* of its entry in services (0: the default) */
	int moved;                    /* its members now belong to a removed service's copy */

	struct config_pool pools[CONFIG_POOLS];

	/* split */
	enum pool_id stable;          /* ["blue"] */
	int candidate_bp;             /* candidate_percent x 100, 0..10000 [0] */
	char *cookie;                 /* "" disables ["bgp"] */
	char *header;                 /* "" disables [""] */
	char *override_header;        /* ["X-Bgproxy-Pool"] */
	struct config_cidr override_from[CONFIG_MAX_CIDRS];
	size_t noverride_from;        /* [127.0.0.0/8, ::1/128] */
	int retry_candidate_failures; /* [1] */
	int expose_header;            /* [0] */
	int mirror_bp;                /* mirror_percent x 100: stable requests copied to the candidate [0] */

	/* guard */
	int guard_interval_ms;        /* 10..60000 [250] */
	int guard_window_s;           /* 1..3600 [10] */
	int guard_min_requests;       /* 0..1000000 [20] */
	double guard_max_error_rate;  /* 0..1 [0.05] */
	int guard_max_p99_ms;         /* 0..600000, 0 = off [0] */
	double guard_min_healthy_fraction; /* 0..1 [0.5] */
	double guard_max_error_delta; /* 0..1, 0 = off [0] */
	double guard_max_p99_ratio;   /* 0..1000, 0 = off [0] */
	int guard_bake_s;             /* 0..604800 [0] */
	int guard_dry_run;            /* [0] */
	int guard_on_trip;            /* enum guard_on_trip ["revert"] */
	int guard_method;             /* enum guard_method ["sequential"] */
	unsigned grpc_error_mask;     /* guard.grpc_error_codes: bit per gRPC status counted as an error */
	double guard_alpha;           /* 0.0001..0.5 [0.01] */
	double guard_max_error_ratio; /* 0..1000, 0 = off [1.5 sequential, 0 threshold] */

	/* rollout */
	int rollout_steps_bp[SPLIT_MAX_STEPS];     /* percentages x 100, strictly increasing, last = 10000 [1,5,10,25,50,100] */
	size_t rollout_nsteps;
	int rollout_hold_s;           /* 0..86400 [60] */
	int rollout_min_requests;     /* 0..100000000 [0] */
	int rollout_max_inconclusive_s; /* 0..604800, 0 = never [600] */

};

struct config {
	char *path;                   /* the file loaded */
	int workers;                  /* 1..64 [1] */
	char *state_file;             /* NULL: state not kept */

	struct config_listener listeners[CONFIG_MAX_LISTENERS];
	size_t nlisteners;            /* at least 1 */

	char *admin_socket;           /* ["/run/bgproxy/admin.sock"] */
	unsigned admin_mode;          /* parsed from an octal string ["0600"] */
	char *admin_audit_log;        /* NULL: no audit log ["/var/log/bgproxy/audit.log"] */
	char *admin_readonly_socket;  /* NULL: none [none] */
	unsigned admin_readonly_mode; /* ["0666"] */

	int metrics_enabled;          /* a metrics group with an address is present */
	struct config_addr metrics_addr;

	/* the services (CONTRACT 17): without a services list, one named
	 * "default" made of the top-level pools, split, guard and rollout */
	struct config_svc *svcs;
	size_t nsvcs;
	const struct config_svc **by_name;  /* svcs sorted by name (config_svc_named) */
	int services;                 /* a services list was given */

	/* timeouts, all in ms */
	int t_client_header_ms;       /* [10000] */
	int t_client_idle_ms;         /* [60000] */
	int t_upstream_connect_ms;    /* [2000] */
	int t_upstream_response_ms;   /* [30000] from the request fully sent, restarted by each byte */
	int t_client_body_ms;         /* [60000] longest gap between two reads of a request body */
	int t_upstream_idle_ms;       /* [30000] a pooled idle server connection lives this long */
	int t_queue_ms;               /* [1000] a request waits this long for a server at max_connections */
	int t_shutdown_ms;            /* [10000] */

	/* limits */
	int max_connections;          /* 1..1000000 [10000] */
	int max_header_bytes;         /* 1024..1048576 [16384] */
	int max_headers;              /* 1..256 [100] */
	int mirror_inflight;          /* copies in flight per worker 1..100000 [100] */
	int mirror_body_bytes;        /* a copy's request body at most 0..16 MiB [65536] */

	/* http2 */
	int h2_max_streams;           /* max_concurrent_streams 1..10000 [100] */
	int h2_window;                /* initial_window_size 1024..2147483647 [65535] */
	int h2_max_header_list;       /* max_header_list_size 1024..1048576 [16384] */

	/* cluster (CONTRACT section 12); cluster_netcd 0: a single node */
	char *cluster_etcd[CONFIG_MAX_ETCD]; /* etcd v3 endpoints, http:// or https:// */
	size_t cluster_netcd;
	char *cluster_prefix;         /* ["/bgproxy/default"] */
	char *cluster_node;           /* this node's name ["": the host name] */
	int cluster_ttl_s;            /* lease of the node's figures 1..3600 [5] */
	int cluster_timeout_ms;       /* one etcd request 100..60000 [1000] */
	char *cluster_user, *cluster_password; /* etcd authentication [none] */
	char *cluster_tls_ca, *cluster_tls_cert, *cluster_tls_key; /* [none] */

	/* notify (CONTRACT section 13); notify_webhook NULL: none */
	char *notify_webhook;         /* http:// or https:// URL */
	unsigned notify_events;       /* NOTIFY_EV_* bits [all] */
	int notify_timeout_ms;        /* one attempt 100..60000 [2000] */

	/* log */
	int log_level;                /* LOG_* of log.h: 0 error, 1 warn, 2 info, 3 debug ["info"] */
	char *log_access;             /* path, "stderr" or "off" ["stderr"] */

	/* where the file paths whose directories must exist were set: for
	 * config_check_dirs (file NULL: the key was not given, a default) */
	struct config_ref {
		char *file;
		int line;
	} ref_admin_socket, ref_audit_log, ref_state_file, ref_log_access, ref_readonly_socket;
};

/*
 * The directories of admin.socket, admin.readonly_socket, admin.audit_log,
 * state_file and log.access (a path) must exist and be writable by this
 * process (bgproxy -t and the start).  Returns 0, or -1 and a malloc'd
 * "FILE:LINE: key \"PATH\": directory DIR ...\n" list in *errs.
 */
int config_check_dirs(const struct config *c, char **errs);

/*
 * Load and validate path.  On success returns a new struct config (free it
 * with config_free) and leaves *errs NULL.  On failure returns NULL and sets
 * *errs to a malloc'd string of one or more "FILE:LINE: message\n" lines
 * (caller frees).  Collects every error it can before failing.
 */
struct config *config_load(const char *path, char **errs);

/* split.cookie, split.header and split.override_header are tokens of at most this */
#define CONFIG_TOKEN_MAX 64

/* a service's name is at most this long */
#define CONFIG_SVC_NAME_MAX 64

/*
 * The same, safe from libconfig: path is first loaded in a forked child
 * (config_check.c), and only a file the child accepted is loaded here.  A
 * child that libconfig made exit or crash gives one "FILE:1: ..." line.
 * For -t, start and reload; the fuzz harness and unit tests use config_load.
 */
struct config *config_load_checked(const char *path, char **errs);

void config_free(struct config *c);

/* The service of c named name, NULL if none (a binary search). */
const struct config_svc *config_svc_named(const struct config *c, const char *name);

/* Free what a service's configuration holds (not c itself). */
void config_svc_free(struct config_svc *c);

/* What a reload changes of the scalar keys: "guard.max_error_rate 0.05 ->
 * 0.1, ..." into buf (passwords only as "(changed)"); returns how many. */
size_t config_diff(const struct config *a, const struct config *b, char *buf, size_t len);

/* Parse "host:port", "[v6]:port" or "*:port" into a; returns 0 or -1 (err filled). */
int config_parse_addr(const char *s, struct config_addr *a, char *err, size_t errlen);

/* 1 if the address sa matches any of the CIDRs. */
int config_cidr_match(const struct config_cidr *c, size_t n, const struct sockaddr *sa);

#endif
