/*
 * config_int.h - what the parts of the configuration loader share (internal
 * to config.c, config_table.c, config_addr.c, config_dirs.c and
 * config_fleet.c): the
 * loader's state, the key tables' types and the table engine.
 */
#ifndef BGPROXY_CONFIG_INT_H
#define BGPROXY_CONFIG_INT_H

#include <libconfig.h>
#include <stddef.h>

#include "config.h"

#define CONFIG_MAX_ERRORS 100   /* a fuzzed file must not yield megabytes */

/* The state of one config_load call; errors accumulate in errs. */
struct loader {
	const char *path;             /* main file, used when libconfig knows no file */
	char *errs;
	size_t len, cap;
	int nerrs;
	int oom;
	/* the top-level pools, split, guard and rollout: the service "default",
	 * or every service's defaults (config_svc.c) */
	struct config_svc *tmpl;
	const config_setting_t *services;   /* the services list, read last */
};

enum key_type {
	KT_INT,                       /* int, integer in the file */
	KT_DOUBLE,                    /* double, integer or float in the file */
	KT_BOOL,                      /* int 0/1, true/false in the file */
	KT_STR,                       /* char *, strdup'd */
	KT_ENUM,                      /* int index into choices, string in the file */
	KT_MODE,                      /* unsigned, octal string in the file */
	KT_BP,                        /* int, a percentage x 100 with two decimals */
	KT_ADDR,                      /* struct config_addr */
};

enum key_flags {
	KF_REQUIRED = 1 << 0,         /* must be present when its group is */
	KF_NONEMPTY = 1 << 1,         /* string must not be "" */
	KF_TOKEN    = 1 << 2,         /* string is "" or an RFC 9110 token */
	KF_URLPATH  = 1 << 3,         /* string starts with '/', no spaces */
	KF_SUNPATH  = 1 << 4,         /* string fits in sun_path */
	KF_OFF_NULL = 1 << 5,         /* "off" is stored as NULL */
};

struct config_key {
	const char *path;             /* dotted, relative to the table's struct */
	enum key_type type;
	double min, max;              /* KT_INT, KT_DOUBLE; KT_BP in percent */
	double def;                   /* KT_INT, KT_DOUBLE, KT_BOOL, KT_ENUM, KT_BP, KT_MODE */
	const char *sdef;             /* KT_STR; NULL: no default */
	const char *const *choices;   /* KT_ENUM, NULL terminated */
	size_t off;                   /* offset into the table's struct */
	int flags;
};

/* A group member handled by a function rather than by the key table. */
struct config_sub {
	const char *name;
	void (*parse)(struct loader *ld, const config_setting_t *s, void *base);
	int required;
};

#define KEY(st, p, t, lo, hi, d, sd, ch, f, fl) \
	{ p, t, lo, hi, d, sd, ch, offsetof(st, f), fl }
#define C_INT(p, lo, hi, d, f)   KEY(struct config, p, KT_INT, lo, hi, d, NULL, NULL, f, 0)
#define C_DBL(p, lo, hi, d, f)   KEY(struct config, p, KT_DOUBLE, lo, hi, d, NULL, NULL, f, 0)
#define C_BOOL(p, d, f)          KEY(struct config, p, KT_BOOL, 0, 1, d, NULL, NULL, f, 0)
#define C_STR(p, sd, f, fl)      KEY(struct config, p, KT_STR, 0, 0, 0, sd, NULL, f, fl)
#define C_ENUM(p, ch, d, f)      KEY(struct config, p, KT_ENUM, 0, 0, d, NULL, ch, f, 0)

#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))

/* ---- the table engine (config_table.c) ---- */

/* Add "FILE:LINE: message\n"; file NULL means the main file. */
void ld_err_at(struct loader *ld, const char *file, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define ld_err(ld, s, ...) \
	ld_err_at(ld, config_setting_source_file(s), setting_line(s), __VA_ARGS__)
unsigned setting_line(const config_setting_t *s);
char *ld_strdup(struct loader *ld, const char *s);
void setting_path(const config_setting_t *s, char *buf, size_t len);
void err_type(struct loader *ld, const config_setting_t *s, const char *want);
int get_number(const config_setting_t *s, double *v);
int percent_bp(double v, double min, double max, int *bp);
void keys_default(struct loader *ld, const struct config_key *keys, size_t n, void *base);
void keys_free(const struct config_key *keys, size_t n, void *base);
int config_group(struct loader *ld, const config_setting_t *grp, const char *prefix,
    const struct config_key *keys, size_t nkeys, const struct config_sub *subs, void *base);
int group_list(struct loader *ld, const config_setting_t *s, const char *what, int max);

/* ---- the key table (config.c) and the groups beyond it ---- */

extern const struct config_key config_keys[];   /* every scalar key of struct config */
extern const size_t config_nkeys;
extern const struct config_key config_svc_keys[]; /* every scalar key of a service */
extern const size_t config_nsvc_keys;

/* config.c, for the groups in other files: TLS versions by name; two
 * addresses the same; a file named by member `name` of e resolved against
 * the file that names it and checked readable (what names it in errors). */
extern const char *const config_tls_versions[];
int config_addr_equal(const struct config_addr *a, const struct config_addr *b);
void config_cert_file(struct loader *ld, const config_setting_t *e, const char *name,
    const char *what, char **field);

/* The pools group (config_pools.c) and its key tables (config.c sets
 * their defaults and frees their strings). */
void config_sub_pools(struct loader *ld, const config_setting_t *s, void *base);
extern const struct config_key config_server_keys[], config_pool_keys[],
    config_uptls_keys[], config_health_keys[];
extern const size_t config_nserver_keys, config_npool_keys, config_nuptls_keys,
    config_nhealth_keys;

/* A service's groups and the services list (config_svc.c): defaults,
 * the split, guard and rollout groups (base: a struct config_svc), the
 * defaults one key takes from another, the list read after the top level
 * (pools: the top-level pools group, NULL if none), and freeing one. */
void config_svc_defaults(struct loader *ld, struct config_svc *c);
void config_sub_split(struct loader *ld, const config_setting_t *s, void *base);
void config_sub_guard(struct loader *ld, const config_setting_t *s, void *base);
void config_sub_rollout(struct loader *ld, const config_setting_t *s, void *base);
void config_svc_cross(struct config_svc *c);
void config_services(struct loader *ld, struct config *c, const config_setting_t *pools);

/* The cluster and notify groups (config_fleet.c). */
void config_sub_cluster(struct loader *ld, const config_setting_t *s, void *base);
void config_sub_notify(struct loader *ld, const config_setting_t *s, void *base);

/* ---- addresses (config_addr.c) ---- */

int config_parse_cidr(const char *s, struct config_cidr *c);

/* A DNS name (labels of letters, digits, '-', and '_' with underscore). */
int config_dns_name_ok(const char *s, int underscore);

#endif
