/*
 * config.c - libconfig file -> a new, validated struct config.
 *
 * Every scalar key is described once, in a table (path, type, bounds,
 * default, where it goes); the same table sets the defaults, checks the
 * values, lists the allowed keys in "unknown key" errors and frees the
 * strings.  Lists and groups that need more than a table (listen, pools,
 * servers, certificates, override_from, rollout.steps) get small functions.
 *
 * Nothing here has side effects: no sockets, no files written, no globals,
 * no logging.  Errors are collected as "FILE:LINE: message\n" lines so an
 * operator sees all of them at once.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* strerror_r returning char * */
#endif

#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libconfig.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONFIG_MAX_ERRORS 100   /* a fuzzed file must not yield megabytes */
#define CONFIG_MAX_STEPS  ((int)(sizeof(((struct config *)0)->rollout_steps_bp) / sizeof(int)))

/* The state of one config_load call; errors accumulate in errs. */
struct loader {
	const char *path;             /* main file, used when libconfig knows no file */
	char *errs;
	size_t len, cap;
	int nerrs;
	int oom;
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

static const char *const log_levels[] = { "error", "warn", "info", "debug", NULL };
/* the one spelling of the pool names; NULL ends the list for C_ENUM */
const char *const pool_names[CONFIG_POOLS + 1] = { "blue", "green", NULL };
static const char *const tls_versions[] = { "TLSv1.2", "TLSv1.3", NULL };

/* Every scalar key of struct config.  Keep in step with docs/configuration.md. */
static const struct config_key config_keys[] = {
	C_INT("workers", 1, 64, 1, workers),
	C_STR("state_file", NULL, state_file, KF_NONEMPTY),
	C_STR("admin.socket", "/run/bgproxy/admin.sock", admin_socket, KF_NONEMPTY | KF_SUNPATH),
	KEY(struct config, "admin.mode", KT_MODE, 0, 0777, 0600, NULL, NULL, admin_mode, 0),
	C_STR("admin.audit_log", "/var/log/bgproxy/audit.log", admin_audit_log,
	    KF_NONEMPTY | KF_OFF_NULL),
	C_STR("admin.readonly_socket", NULL, admin_readonly_socket, KF_NONEMPTY | KF_SUNPATH),
	KEY(struct config, "admin.readonly_mode", KT_MODE, 0, 0777, 0666, NULL, NULL,
	    admin_readonly_mode, 0),
	KEY(struct config, "metrics.address", KT_ADDR, 0, 0, 0, NULL, NULL, metrics_addr,
	    KF_REQUIRED),
	C_ENUM("split.stable", pool_names, POOL_BLUE, stable),
	KEY(struct config, "split.candidate_percent", KT_BP, 0, 100, 0, NULL, NULL,
	    candidate_bp, 0),
	C_STR("split.cookie", "bgp", cookie, KF_TOKEN),
	C_STR("split.header", "", header, KF_TOKEN),
	C_STR("split.override_header", "X-Bgproxy-Pool", override_header, KF_TOKEN | KF_NONEMPTY),
	C_BOOL("split.retry_candidate_failures", 1, retry_candidate_failures),
	C_BOOL("split.expose_header", 0, expose_header),
	C_INT("guard.interval_ms", 10, 60000, 250, guard_interval_ms),
	C_INT("guard.window_s", 1, 3600, 10, guard_window_s),
	C_INT("guard.min_requests", 0, 1000000, 20, guard_min_requests),
	C_DBL("guard.max_error_rate", 0, 1, 0.05, guard_max_error_rate),
	C_INT("guard.max_p99_ms", 0, 600000, 0, guard_max_p99_ms),
	C_DBL("guard.min_healthy_fraction", 0, 1, 0.5, guard_min_healthy_fraction),
	C_DBL("guard.max_error_delta", 0, 1, 0, guard_max_error_delta),
	C_DBL("guard.max_p99_ratio", 0, 1000, 0, guard_max_p99_ratio),
	C_INT("guard.bake_s", 0, 604800, 0, guard_bake_s),
	C_BOOL("guard.dry_run", 0, guard_dry_run),
	C_INT("rollout.hold_s", 0, 86400, 60, rollout_hold_s),
	/* [guard.min_requests]: -1 until config_cross copies it */
	C_INT("rollout.min_requests", 0, 100000000, -1, rollout_min_requests),
	C_INT("timeouts.client_header_ms", 1, 86400000, 10000, t_client_header_ms),
	C_INT("timeouts.client_idle_ms", 1, 86400000, 60000, t_client_idle_ms),
	C_INT("timeouts.upstream_connect_ms", 1, 86400000, 2000, t_upstream_connect_ms),
	C_INT("timeouts.upstream_response_ms", 1, 86400000, 30000, t_upstream_response_ms),
	C_INT("timeouts.shutdown_ms", 0, 86400000, 10000, t_shutdown_ms),
	C_INT("timeouts.client_body_ms", 1, 86400000, 60000, t_client_body_ms),
	C_INT("timeouts.upstream_idle_ms", 1, 86400000, 30000, t_upstream_idle_ms),
	C_INT("limits.max_connections", 1, 1000000, 10000, max_connections),
	C_INT("limits.max_header_bytes", 1024, 1048576, 16384, max_header_bytes),
	C_INT("limits.max_headers", 1, 256, 100, max_headers),
	C_ENUM("log.level", log_levels, 2, log_level),
	C_STR("log.access", "stderr", log_access, KF_NONEMPTY),
};

static const struct config_key listener_keys[] = {
	KEY(struct config_listener, "address", KT_ADDR, 0, 0, 0, NULL, NULL, addr, KF_REQUIRED),
};

static const struct config_key tls_keys[] = {
	KEY(struct config_listener, "min_version", KT_ENUM, 0, 0, 0, NULL, tls_versions,
	    min_tls13, 0),
};

static const struct config_key cert_keys[] = {
	KEY(struct config_cert, "cert", KT_STR, 0, 0, 0, NULL, NULL, cert,
	    KF_REQUIRED | KF_NONEMPTY),
	KEY(struct config_cert, "key", KT_STR, 0, 0, 0, NULL, NULL, key,
	    KF_REQUIRED | KF_NONEMPTY),
};

static const struct config_key server_keys[] = {
	KEY(struct config_server, "address", KT_ADDR, 0, 0, 0, NULL, NULL, addr, KF_REQUIRED),
	KEY(struct config_server, "weight", KT_INT, 1, 256, 1, NULL, NULL, weight, 0),
};

static const struct config_key health_keys[] = {
	KEY(struct config_health, "path", KT_STR, 0, 0, 0, "/healthz", NULL, path, KF_URLPATH),
	KEY(struct config_health, "interval_ms", KT_INT, 100, 3600000, 1000, NULL, NULL,
	    interval_ms, 0),
	KEY(struct config_health, "timeout_ms", KT_INT, 10, 60000, 500, NULL, NULL, timeout_ms, 0),
	KEY(struct config_health, "rise", KT_INT, 1, 100, 2, NULL, NULL, rise, 0),
	KEY(struct config_health, "fall", KT_INT, 1, 100, 3, NULL, NULL, fall, 0),
};

#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))

/* ---- error collection ---- */

static void ld_append(struct loader *ld, const char *s, size_t n)
{
	if (ld->len + n + 1 > ld->cap) {
		size_t cap = ld->cap ? ld->cap * 2 : 512;
		while (cap < ld->len + n + 1)
			cap *= 2;
		char *p = realloc(ld->errs, cap);
		if (p == NULL) {
			ld->oom = 1;
			return;
		}
		ld->errs = p;
		ld->cap = cap;
	}
	memcpy(ld->errs + ld->len, s, n);
	ld->len += n;
	ld->errs[ld->len] = '\0';
}

/* Add "FILE:LINE: message\n"; file NULL means the main file. */
static void ld_err_at(struct loader *ld, const char *file, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void ld_err_at(struct loader *ld, const char *file, unsigned line, const char *fmt, ...)
{
	char msg[1024];
	int n;
	va_list ap;

	if (++ld->nerrs > CONFIG_MAX_ERRORS + 1)
		return;
	n = snprintf(msg, sizeof msg, "%s:%u: ", file ? file : ld->path, line);
	if (ld->nerrs > CONFIG_MAX_ERRORS) {
		snprintf(msg + n, sizeof msg - n, "too many errors, only the first %d are shown",
		    CONFIG_MAX_ERRORS);
	} else {
		va_start(ap, fmt);
		vsnprintf(msg + n, sizeof msg - n, fmt, ap);
		va_end(ap);
	}
	ld_append(ld, msg, strlen(msg));
	ld_append(ld, "\n", 1);
}

#define ld_err(ld, s, ...) \
	ld_err_at(ld, config_setting_source_file(s), setting_line(s), __VA_ARGS__)

static unsigned setting_line(const config_setting_t *s)
{
	/* the root group has line 0; an error about it is best shown on line 1 */
	unsigned line = config_setting_source_line(s);
	return line ? line : 1;
}

static char *ld_strdup(struct loader *ld, const char *s)
{
	char *p = strdup(s);
	if (p == NULL)
		ld->oom = 1;
	return p;
}

/* ---- naming settings in messages ---- */

/* "pools.blue.servers[0].weight": the path an operator can find in the file. */
static void setting_path(const config_setting_t *s, char *buf, size_t len)
{
	const config_setting_t *parent = config_setting_parent(s);
	size_t n;

	if (parent == NULL) {
		buf[0] = '\0';
		return;
	}
	setting_path(parent, buf, len);
	n = strlen(buf);
	if (config_setting_name(s) != NULL)
		snprintf(buf + n, len - n, "%s%s", n ? "." : "", config_setting_name(s));
	else
		snprintf(buf + n, len - n, "[%d]", config_setting_index(s));
}

static const char *type_name(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:  return "an integer";
	case CONFIG_TYPE_FLOAT:  return "a float";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL:   return "a boolean";
	case CONFIG_TYPE_GROUP:  return "a group";
	case CONFIG_TYPE_ARRAY:  return "an array";
	case CONFIG_TYPE_LIST:   return "a list";
	default:                 return "nothing";
	}
}

static void err_type(struct loader *ld, const config_setting_t *s, const char *want)
{
	char p[256];

	setting_path(s, p, sizeof p);
	ld_err(ld, s, "\"%s\" must be %s, got %s", p, want, type_name(s));
}

static int is_int(const config_setting_t *s)
{
	return config_setting_type(s) == CONFIG_TYPE_INT ||
	    config_setting_type(s) == CONFIG_TYPE_INT64;
}

/* ---- string checks ---- */

static int is_token(const char *s)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (!(ch >= 'a' && ch <= 'z') && !(ch >= 'A' && ch <= 'Z') &&
		    !(ch >= '0' && ch <= '9') && strchr(extra, ch) == NULL)
			return 0;
	}
	return 1;
}

static int has_ctl(const char *s, int space_too)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x20 || ch == 0x7f || (space_too && ch == ' '))
			return 1;
	}
	return 0;
}

/* Returns NULL when v suits the flags, else what is allowed. */
static const char *str_problem(const char *v, int flags)
{
	if ((flags & KF_NONEMPTY) && v[0] == '\0')
		return "must not be empty";
	if (has_ctl(v, 0))
		return "must not contain control characters";
	if ((flags & KF_TOKEN) && !is_token(v))
		return (flags & KF_NONEMPTY) ?
		    "must be a token (letters, digits and !#$%&'*+-.^_`|~)" :
		    "must be \"\" or a token (letters, digits and !#$%&'*+-.^_`|~)";
	/* header and cookie names go into every head bgproxy writes */
	if ((flags & KF_TOKEN) && strlen(v) > CONFIG_TOKEN_MAX)
		return "must be at most 64 bytes";
	if ((flags & KF_URLPATH) && (v[0] != '/' || has_ctl(v, 1)))
		return "must start with \"/\" and contain no spaces";
	if ((flags & KF_SUNPATH) && strlen(v) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return "is too long for a unix socket path (at most 107 bytes)";
	return NULL;
}

/* ---- one scalar per key type ---- */

typedef void (*key_parser)(struct loader *, const struct config_key *,
    const config_setting_t *, void *field, const char *name);

static void parse_int(struct loader *ld, const struct config_key *k,
    const config_setting_t *s, void *field, const char *name)
{
	long long v;

	if (!is_int(s)) {
		err_type(ld, s, "an integer");
		return;
	}
	v = config_setting_get_int64(s);
	if (v < (long long)k->min || v > (long long)k->max) {
		ld_err(ld, s, "\"%s\" must be %.0f..%.0f, got %lld", name, k->min, k->max, v);
		return;
	}
	*(int *)field = (int)v;
}

static int get_number(const config_setting_t *s, double *v)
{
	if (is_int(s))
		*v = (double)config_setting_get_int64(s);
	else if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
		*v = config_setting_get_float(s);
	else
		return -1;
	return 0;
}

static void parse_double(struct loader *ld, const struct config_key *k,
    const config_setting_t *s, void *field, const char *name)
{
	double v;

	if (get_number(s, &v) == -1) {
		err_type(ld, s, "a number");
		return;
	}
	if (!(v >= k->min && v <= k->max)) {   /* also refuses NaN */
		ld_err(ld, s, "\"%s\" must be %g..%g, got %.15g", name, k->min, k->max, v);
		return;
	}
	*(double *)field = v;
}

static void parse_bool(struct loader *ld, const struct config_key *k,
    const config_setting_t *s, void *field, const char *name)
{
	(void)k;
	(void)name;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		err_type(ld, s, "a boolean (true or false)");
		return;
	}
	*(int *)field = config_setting_get_bool(s) ? 1 : 0;
}

static void parse_str(struct loader *ld, const struct config_key *k,
    const config_setting_t *s, void *field, const char *name)
{
	const char *v, *why;
	char **dst = field;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		err_type(ld, s, "a string");
		return;
	}
	v = config_setting_get_string(s);
	if ((why = str_problem(v, k->flags)) != NULL) {
		ld_err(ld, s, "\"%s\" %s, got \"%.200s\"", name, why, v);
		return;
	}
	free(*dst);
	*dst = NULL;
	if ((k->flags & KF_OFF_NULL) && strcmp(v, "off") == 0)
		return;
	*dst = ld_strdup(ld, v);
}

static void parse_enum(struct loader *ld, const struct config_key *k,
    const config_setting_t *s, void *field, const char *name)
{
	char allowed[256] = "";
	const char *v;
	size_t i, n = 0;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		err_type(ld, s, "a string");
		return;
	}
	v = config_setting_get_string(s);
	for (i = 0; k->choices[i] != NULL; i++) {
		if (strcmp(v, k->choices[i]) == 0) {
			*(int *)field = (int)i;
			return;
		}
		n += snprintf(allowed + n, sizeof allowed - n, "%s\"%s\"",
		    i ? ", " : "", k->choices[i]);
	}
	ld_err(ld, s, "\"%s\" must be one of %s, got \"%.200s\"", name, allowed, v);
}

/*
 * libconfig 1.5 reads 0600 as the decimal 600, so a mode written as a number
 * would silently be wrong; only an octal string is accepted.
 */
static void parse_mode(struct loader *ld, const struct config_key *k,
    const config_setting_t *s, void *field, const char *name)
{
	const char *v;
	unsigned long m;
	size_t n;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		ld_err(ld, s, "\"%s\" must be a string of octal digits such as \"0600\" "
		    "(libconfig reads 0600 as decimal), got %s", name, type_name(s));
		return;
	}
	v = config_setting_get_string(s);
	n = strlen(v);
	m = strtoul(v, NULL, 8);
	if (n == 0 || n > 4 || strspn(v, "01234567") != n || m > (unsigned long)k->max) {
		ld_err(ld, s, "\"%s\" must be a string of octal digits \"0000\"..\"0777\", "
		    "got \"%.200s\"", name, v);
		return;
	}
	*(unsigned *)field = (unsigned)m;
}

/* A percentage 0..100 with at most two decimals, as basis points. */
static int percent_bp(double v, double min, double max, int *bp)
{
	double x = v * 100.0;

	if (!(v >= min && v <= max) || fabs(round(x) - x) > 1e-6)
		return -1;
	*bp = (int)llround(x);
	return 0;
}

static void parse_bp(struct loader *ld, const struct config_key *k,
    const config_setting_t *s, void *field, const char *name)
{
	double v;

	if (get_number(s, &v) == -1) {
		err_type(ld, s, "a number");
		return;
	}
	if (percent_bp(v, k->min, k->max, field) == -1)
		ld_err(ld, s, "\"%s\" must be %g..%g with at most two decimals, got %.15g",
		    name, k->min, k->max, v);
}

static void parse_addr(struct loader *ld, const struct config_key *k,
    const config_setting_t *s, void *field, const char *name)
{
	char err[256];

	(void)k;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		err_type(ld, s, "a string \"HOST:PORT\"");
		return;
	}
	if (config_parse_addr(config_setting_get_string(s), field, err, sizeof err) == -1)
		ld_err(ld, s, "\"%s\": %s", name, err);
}

static const key_parser key_parsers[] = {
	[KT_INT] = parse_int, [KT_DOUBLE] = parse_double, [KT_BOOL] = parse_bool,
	[KT_STR] = parse_str, [KT_ENUM] = parse_enum, [KT_MODE] = parse_mode,
	[KT_BP] = parse_bp, [KT_ADDR] = parse_addr,
};

/* ---- the table walk ---- */

static void keys_default(struct loader *ld, const struct config_key *keys, size_t n, void *base)
{
	for (size_t i = 0; i < n; i++) {
		const struct config_key *k = &keys[i];
		char *f = (char *)base + k->off;

		switch (k->type) {
		case KT_INT: case KT_BOOL: case KT_ENUM: case KT_BP:
			*(int *)f = (int)k->def;
			break;
		case KT_MODE:
			*(unsigned *)f = (unsigned)k->def;
			break;
		case KT_DOUBLE:
			*(double *)f = k->def;
			break;
		case KT_STR:
			*(char **)f = k->sdef ? ld_strdup(ld, k->sdef) : NULL;
			break;
		case KT_ADDR:
			memset(f, 0, sizeof(struct config_addr));
			break;
		}
	}
}

static void keys_free(const struct config_key *keys, size_t n, void *base)
{
	for (size_t i = 0; i < n; i++) {
		if (keys[i].type == KT_STR) {
			char **f = (char **)((char *)base + keys[i].off);
			free(*f);
			*f = NULL;
		}
	}
}

/* The member name of k when it lives directly in group prefix, else NULL. */
static const char *key_in(const struct config_key *k, const char *prefix)
{
	size_t plen = strlen(prefix);

	if (plen == 0)
		return strchr(k->path, '.') ? NULL : k->path;
	if (strncmp(k->path, prefix, plen) != 0 || k->path[plen] != '.')
		return NULL;
	return k->path + plen + 1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void allowed_keys(const struct config_key *keys, size_t nkeys, const char *prefix,
    const struct config_sub *subs, char *buf, size_t len)
{
	const char *names[64];
	size_t n = 0, used = 0;

	for (size_t i = 0; i < nkeys && n < 64; i++)
		if (key_in(&keys[i], prefix) != NULL)
			names[n++] = key_in(&keys[i], prefix);
	for (size_t i = 0; subs && subs[i].name && n < 64; i++)
		names[n++] = subs[i].name;
	qsort(names, n, sizeof names[0], cmp_str);
	buf[0] = '\0';
	for (size_t i = 0; i < n && used < len; i++)
		used += snprintf(buf + used, len - used, "%s%s", i ? ", " : "", names[i]);
}

static void err_unknown(struct loader *ld, const config_setting_t *grp, const config_setting_t *m,
    const struct config_key *keys, size_t nkeys, const char *prefix, const struct config_sub *subs)
{
	char allowed[512], where[256];

	allowed_keys(keys, nkeys, prefix, subs, allowed, sizeof allowed);
	setting_path(grp, where, sizeof where);
	if (where[0] == '\0')
		ld_err(ld, m, "unknown key \"%s\" at the top level; allowed: %s",
		    config_setting_name(m), allowed);
	else
		ld_err(ld, m, "unknown key \"%s\" in \"%s\"; allowed: %s",
		    config_setting_name(m), where, allowed);
}

/* A member of grp named by a key or sub: parse it, or say it is unknown. */
static void config_member(struct loader *ld, const config_setting_t *grp, const config_setting_t *m,
    const struct config_key *keys, size_t nkeys, const char *prefix,
    const struct config_sub *subs, void *base)
{
	const char *name = config_setting_name(m);
	char path[256];

	for (size_t i = 0; i < nkeys; i++) {
		const char *kn = key_in(&keys[i], prefix);
		if (kn != NULL && strcmp(kn, name) == 0) {
			setting_path(m, path, sizeof path);
			key_parsers[keys[i].type](ld, &keys[i], m, (char *)base + keys[i].off, path);
			return;
		}
	}
	for (size_t i = 0; subs && subs[i].name; i++) {
		if (strcmp(subs[i].name, name) == 0) {
			subs[i].parse(ld, m, base);
			return;
		}
	}
	err_unknown(ld, grp, m, keys, nkeys, prefix, subs);
}

static void err_missing(struct loader *ld, const config_setting_t *grp, const char *name)
{
	char where[256];

	setting_path(grp, where, sizeof where);
	if (where[0] == '\0')
		ld_err(ld, grp, "missing required key \"%s\" at the top level", name);
	else
		ld_err(ld, grp, "missing required key \"%s\" in \"%s\"", name, where);
}

/*
 * Parse group grp: members named in keys (those under prefix) or in subs
 * (NULL-name terminated, may be NULL); anything else is an unknown key.
 * Returns -1 when grp is not a group at all.
 */
static int config_group(struct loader *ld, const config_setting_t *grp, const char *prefix,
    const struct config_key *keys, size_t nkeys, const struct config_sub *subs, void *base)
{
	int n;

	if (!config_setting_is_group(grp)) {
		err_type(ld, grp, "a group { ... }");
		return -1;
	}
	n = config_setting_length(grp);
	for (int i = 0; i < n; i++)
		config_member(ld, grp, config_setting_get_elem(grp, i), keys, nkeys, prefix, subs, base);
	for (size_t i = 0; i < nkeys; i++) {
		const char *kn = key_in(&keys[i], prefix);
		if (kn && (keys[i].flags & KF_REQUIRED) && !config_setting_get_member(grp, kn))
			err_missing(ld, grp, kn);
	}
	for (size_t i = 0; subs && subs[i].name; i++)
		if (subs[i].required && !config_setting_get_member(grp, subs[i].name))
			err_missing(ld, grp, subs[i].name);
	return 0;
}

/* A list of groups; returns its length or -1 (error given). */
static int group_list(struct loader *ld, const config_setting_t *s, const char *what, int max)
{
	char p[256];
	int n;

	if (!config_setting_is_list(s)) {
		err_type(ld, s, "a list ( { ... }, ... )");
		return -1;
	}
	n = config_setting_length(s);
	setting_path(s, p, sizeof p);
	if (n == 0) {
		ld_err(ld, s, "\"%s\" must list at least one %s", p, what);
		return -1;
	}
	if (n > max) {
		ld_err(ld, s, "\"%s\" lists %d %ss; at most %d are allowed", p, n, what, max);
		return -1;
	}
	return n;
}

/* ---- addresses and CIDRs ---- */

static int parse_port(const char *p, in_port_t *port)
{
	size_t n = strlen(p);
	long v;

	if (n == 0 || n > 5 || strspn(p, "0123456789") != n)
		return -1;
	v = strtol(p, NULL, 10);
	if (v < 1 || v > 65535)
		return -1;
	*port = htons((in_port_t)v);
	return 0;
}

static int addr_fill(struct config_addr *a, const char *host, int v6, in_port_t port)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;

	if (v6) {
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return -1;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = port;
		a->len = sizeof *in6;
		return 0;
	}
	if (strcmp(host, "*") == 0)
		host = "0.0.0.0";
	else if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
		return -1;
	in->sin_family = AF_INET;
	in->sin_port = port;
	a->len = sizeof *in;
	return 0;
}

int config_parse_addr(const char *s, struct config_addr *a, char *err, size_t errlen)
{
	char host[128];
	const char *colon, *hs = s;
	size_t hlen;
	int v6 = 0;
	in_port_t port;

	memset(a, 0, sizeof *a);
	if (strlen(s) >= sizeof a->text) {
		snprintf(err, errlen, "address is too long (at most %zu bytes)", sizeof a->text - 1);
		return -1;
	}
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			goto bad;
		hs = s + 1;
		hlen = (size_t)(close - hs);
		colon = close + 1;
		v6 = 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
			goto bad;
		hlen = (size_t)(colon - s);
	}
	memcpy(host, hs, hlen);
	host[hlen] = '\0';
	if (hlen == 0 || addr_fill(a, host, v6, 0) == -1)
		goto bad;
	if (parse_port(colon + 1, &port) == -1) {
		snprintf(err, errlen, "port must be 1..65535, got \"%s\"", colon + 1);
		return -1;
	}
	((struct sockaddr_in *)&a->ss)->sin_port = port;   /* same offset in sockaddr_in6 */
	strcpy(a->text, s);
	return 0;
bad:
	memset(a, 0, sizeof *a);
	snprintf(err, errlen, "bad address \"%s\"; allowed: IPV4:PORT, [IPV6]:PORT, *:PORT "
	    "or localhost:PORT with a numeric IP", s);
	return -1;
}

static int parse_cidr(const char *s, struct config_cidr *c)
{
	char ip[64];
	const char *slash = strchr(s, '/');
	size_t len = slash ? (size_t)(slash - s) : strlen(s);
	int max;

	memset(c, 0, sizeof *c);
	if (len == 0 || len >= sizeof ip)
		return -1;
	memcpy(ip, s, len);
	ip[len] = '\0';
	if (inet_pton(AF_INET, ip, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, ip, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		return -1;
	}
	c->prefix = max;
	if (slash) {
		size_t n = strlen(slash + 1);
		if (n == 0 || n > 3 || strspn(slash + 1, "0123456789") != n)
			return -1;
		c->prefix = atoi(slash + 1);
		if (c->prefix > max)
			return -1;
	}
	return 0;
}

static int prefix_match(const uint8_t *a, const uint8_t *b, int prefix)
{
	int bytes = prefix / 8, bits = prefix % 8;

	if (memcmp(a, b, (size_t)bytes) != 0)
		return 0;
	if (bits == 0)
		return 1;
	uint8_t mask = (uint8_t)(0xff << (8 - bits));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

/* A v4-mapped v6 peer (dual-stack listener) matches v4 CIDRs too. */
int config_cidr_match(const struct config_cidr *c, size_t n, const struct sockaddr *sa)
{
	const uint8_t *v4 = NULL, *v6 = NULL;

	if (sa->sa_family == AF_INET) {
		v4 = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		v6 = a6->s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6))
			v4 = a6->s6_addr + 12;
	}
	for (size_t i = 0; i < n; i++) {
		if (c[i].family == AF_INET && v4 && prefix_match(c[i].addr, v4, c[i].prefix))
			return 1;
		if (c[i].family == AF_INET6 && v6 && prefix_match(c[i].addr, v6, c[i].prefix))
			return 1;
	}
	return 0;
}

/* ---- dedicated groups and lists ---- */

static void sub_override_from(struct loader *ld, const config_setting_t *s, void *base)
{
	struct config *c = base;
	char p[256];
	int n;

	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		err_type(ld, s, "an array of CIDR strings [ \"127.0.0.0/8\", ... ]");
		return;
	}
	n = config_setting_length(s);
	if (n > CONFIG_MAX_CIDRS) {
		setting_path(s, p, sizeof p);
		ld_err(ld, s, "\"%s\" lists %d CIDRs; at most %d are allowed", p, n, CONFIG_MAX_CIDRS);
		return;
	}
	c->noverride_from = 0;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		setting_path(e, p, sizeof p);
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			err_type(ld, e, "a CIDR string such as \"10.0.0.0/8\"");
		else if (parse_cidr(config_setting_get_string(e), &c->override_from[i]) == -1)
			ld_err(ld, e, "\"%s\" must be a CIDR such as \"10.0.0.0/8\", \"::1/128\" or "
			    "a bare IP, got \"%.200s\"", p, config_setting_get_string(e));
		else
			c->noverride_from++;
	}
	if (c->noverride_from != (size_t)n)
		c->noverride_from = 0;   /* never keep a partial list */
}

/* One step: returns its basis points, or -1 (error given). */
static int rollout_step(struct loader *ld, const config_setting_t *e, int prev)
{
	char p[256];
	double v;
	int bp;

	setting_path(e, p, sizeof p);
	if (get_number(e, &v) == -1) {
		err_type(ld, e, "a number");
		return -1;
	}
	if (percent_bp(v, 0, 100, &bp) == -1 || bp == 0) {
		ld_err(ld, e, "\"%s\" must be above 0 and at most 100 with at most two decimals, "
		    "got %.15g", p, v);
		return -1;
	}
	if (bp <= prev) {
		ld_err(ld, e, "\"%s\" must be above the step before it (%g), got %.15g; steps are "
		    "strictly increasing", p, prev / 100.0, v);
		return -1;
	}
	return bp;
}

static void sub_rollout_steps(struct loader *ld, const config_setting_t *s, void *base)
{
	struct config *c = base;
	int steps[CONFIG_MAX_STEPS], n, prev = 0, bad = 0;

	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		err_type(ld, s, "an array of percentages [ 1, 5, ..., 100 ]");
		return;
	}
	n = config_setting_length(s);
	if (n == 0 || n > CONFIG_MAX_STEPS) {
		ld_err(ld, s, "\"rollout.steps\" must list 1..%d steps, got %d", CONFIG_MAX_STEPS, n);
		return;
	}
	for (int i = 0; i < n; i++) {
		int bp = rollout_step(ld, config_setting_get_elem(s, (unsigned)i), prev);
		if (bp == -1)
			bad = 1;
		else
			steps[i] = prev = bp;
	}
	if (bad)
		return;
	if (prev != 10000) {
		ld_err(ld, s, "\"rollout.steps\" must end with 100, got %g", prev / 100.0);
		return;
	}
	memcpy(c->rollout_steps_bp, steps, sizeof(int) * (size_t)n);
	c->rollout_nsteps = (size_t)n;
}

static void sub_split(struct loader *ld, const config_setting_t *s, void *base)
{
	static const struct config_sub subs[] = {
		{ "override_from", sub_override_from, 0 }, { NULL, NULL, 0 } };
	config_group(ld, s, "split", config_keys, NKEYS(config_keys), subs, base);
}

static void sub_rollout(struct loader *ld, const config_setting_t *s, void *base)
{
	static const struct config_sub subs[] = {
		{ "steps", sub_rollout_steps, 0 }, { NULL, NULL, 0 } };
	config_group(ld, s, "rollout", config_keys, NKEYS(config_keys), subs, base);
}

/* admin, guard, timeouts, limits, log: nothing but table keys. */
static void sub_plain(struct loader *ld, const config_setting_t *s, void *base)
{
	config_group(ld, s, config_setting_name(s), config_keys, NKEYS(config_keys), NULL, base);
}

static void sub_metrics(struct loader *ld, const config_setting_t *s, void *base)
{
	struct config *c = base;
	int before = ld->nerrs;

	config_group(ld, s, "metrics", config_keys, NKEYS(config_keys), NULL, base);
	c->metrics_enabled = ld->nerrs == before;
}

/* ---- TLS certificates ---- */

/* path as written, or joined to the directory of the file that names it. */
static char *resolve_path(struct loader *ld, const config_setting_t *s, const char *path)
{
	const char *file = config_setting_source_file(s) ? config_setting_source_file(s) : ld->path;
	const char *slash = strrchr(file, '/');
	size_t dlen;
	char *r;

	if (path[0] == '/' || slash == NULL)
		return ld_strdup(ld, path);
	dlen = (size_t)(slash - file) + 1;
	r = malloc(dlen + strlen(path) + 1);
	if (r == NULL) {
		ld->oom = 1;
		return NULL;
	}
	memcpy(r, file, dlen);
	strcpy(r + dlen, path);
	return r;
}

/* Resolve *field (named by member name of e) and check it can be read. */
static void cert_file(struct loader *ld, const config_setting_t *e, const char *name,
    const char *what, char **field)
{
	const config_setting_t *s = config_setting_get_member(e, name);
	struct stat st;
	char buf[128];
	char *r;
	int eno = 0;

	if (s == NULL || *field == NULL)
		return;
	if ((r = resolve_path(ld, s, *field)) == NULL)
		return;
	if (access(r, R_OK) == -1 || stat(r, &st) == -1)
		eno = errno;
	else if (S_ISDIR(st.st_mode))
		eno = EISDIR;
	if (eno != 0)
		ld_err(ld, s, "%s file \"%s\" cannot be read: %s", what, *field,
		    strerror_r(eno, buf, sizeof buf));
	free(*field);
	*field = r;
}

static void sub_certificates(struct loader *ld, const config_setting_t *s, void *base)
{
	struct config_listener *l = base;
	int n = group_list(ld, s, "certificate", CONFIG_MAX_CERTS);

	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		struct config_cert *ct = &l->certs[l->ncerts++];

		ct->line = (int)setting_line(e);
		keys_default(ld, cert_keys, NKEYS(cert_keys), ct);
		if (config_group(ld, e, "", cert_keys, NKEYS(cert_keys), NULL, ct) == -1)
			continue;
		cert_file(ld, e, "cert", "certificate", &ct->cert);
		cert_file(ld, e, "key", "key", &ct->key);
	}
}

static void sub_tls(struct loader *ld, const config_setting_t *s, void *base)
{
	static const struct config_sub subs[] = {
		{ "certificates", sub_certificates, 1 }, { NULL, NULL, 0 } };
	struct config_listener *l = base;

	l->tls = 1;
	config_group(ld, s, "", tls_keys, NKEYS(tls_keys), subs, l);
}

/* ---- listen ---- */

static int addr_equal(const struct config_addr *a, const struct config_addr *b)
{
	return a->len != 0 && a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

static void sub_listen(struct loader *ld, const config_setting_t *s, void *base)
{
	static const struct config_sub subs[] = { { "tls", sub_tls, 0 }, { NULL, NULL, 0 } };
	struct config *c = base;
	int n = group_list(ld, s, "listener", CONFIG_MAX_LISTENERS);

	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		struct config_listener *l = &c->listeners[c->nlisteners++];

		l->line = (int)setting_line(e);
		config_group(ld, e, "", listener_keys, NKEYS(listener_keys), subs, l);
		for (size_t j = 0; j + 1 < c->nlisteners; j++)
			if (addr_equal(&c->listeners[j].addr, &l->addr))
				ld_err(ld, e, "duplicate listener address \"%s\" (first at line %d)",
				    l->addr.text, c->listeners[j].line);
	}
}

/* ---- pools ---- */

static void sub_health(struct loader *ld, const config_setting_t *s, void *base)
{
	struct config_health *h = &((struct config_pool *)base)->health;
	int before = ld->nerrs;
	char p[256];

	h->enabled = 1;
	config_group(ld, s, "", health_keys, NKEYS(health_keys), NULL, h);
	if (ld->nerrs == before && h->timeout_ms >= h->interval_ms) {
		setting_path(s, p, sizeof p);
		ld_err(ld, s, "\"%s.timeout_ms\" (%d) must be less than interval_ms (%d)",
		    p, h->timeout_ms, h->interval_ms);
	}
}

static void sub_servers(struct loader *ld, const config_setting_t *s, void *base)
{
	struct config_pool *pool = base;
	int n = group_list(ld, s, "server", CONFIG_MAX_SERVERS);

	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		struct config_server *sv = &pool->servers[pool->nservers++];

		sv->line = (int)setting_line(e);
		keys_default(ld, server_keys, NKEYS(server_keys), sv);
		config_group(ld, e, "", server_keys, NKEYS(server_keys), NULL, sv);
		for (size_t j = 0; j + 1 < pool->nservers; j++)
			if (addr_equal(&pool->servers[j].addr, &sv->addr))
				ld_err(ld, e, "duplicate server address \"%s\" in pool \"%s\" "
				    "(first at line %d)", sv->addr.text, pool->name,
				    pool->servers[j].line);
	}
}

static void pool_parse(struct loader *ld, const config_setting_t *s, struct config_pool *pool)
{
	static const struct config_sub subs[] = {
		{ "servers", sub_servers, 1 }, { "health", sub_health, 0 }, { NULL, NULL, 0 } };

	config_group(ld, s, "", NULL, 0, subs, pool);
}

static void sub_blue(struct loader *ld, const config_setting_t *s, void *base)
{
	pool_parse(ld, s, &((struct config *)base)->pools[POOL_BLUE]);
}

static void sub_green(struct loader *ld, const config_setting_t *s, void *base)
{
	pool_parse(ld, s, &((struct config *)base)->pools[POOL_GREEN]);
}

static void sub_pools(struct loader *ld, const config_setting_t *s, void *base)
{
	static const struct config_sub subs[] = {
		{ "blue", sub_blue, 1 }, { "green", sub_green, 1 }, { NULL, NULL, 0 } };

	config_group(ld, s, "", NULL, 0, subs, base);
}

/* ---- the whole file ---- */

static const struct config_sub root_subs[] = {
	{ "listen", sub_listen, 1 },
	{ "admin", sub_plain, 0 },
	{ "metrics", sub_metrics, 0 },
	{ "pools", sub_pools, 1 },
	{ "split", sub_split, 0 },
	{ "guard", sub_plain, 0 },
	{ "rollout", sub_rollout, 0 },
	{ "timeouts", sub_plain, 0 },
	{ "limits", sub_plain, 0 },
	{ "log", sub_plain, 0 },
	{ NULL, NULL, 0 },
};

static void config_defaults(struct loader *ld, struct config *c)
{
	static const int steps[] = { 100, 500, 1000, 2500, 5000, 10000 };

	keys_default(ld, config_keys, NKEYS(config_keys), c);
	for (int p = 0; p < CONFIG_POOLS; p++) {
		c->pools[p].name = pool_names[p];
		keys_default(ld, health_keys, NKEYS(health_keys), &c->pools[p].health);
	}
	parse_cidr("127.0.0.0/8", &c->override_from[0]);
	parse_cidr("::1/128", &c->override_from[1]);
	c->noverride_from = 2;
	memcpy(c->rollout_steps_bp, steps, sizeof steps);
	c->rollout_nsteps = sizeof steps / sizeof steps[0];
}

/* Checks across groups, once each group is valid on its own. */
static void config_ref(const config_t *cf, const char *key, struct config_ref *r)
{
	const config_setting_t *s = config_lookup(cf, key);
	const char *f;

	r->file = NULL;
	r->line = 0;
	if (s == NULL)
		return;
	f = config_setting_source_file(s);
	r->file = f != NULL ? strdup(f) : NULL;
	r->line = setting_line(s);
}

static void config_cross(struct loader *ld, const config_t *cf, struct config *c)
{
	const config_setting_t *m = config_lookup(cf, "metrics.address");

	/* a step never advances on less evidence than the guard needs */
	if (c->rollout_min_requests < 0)
		c->rollout_min_requests = c->guard_min_requests;
	if (c->admin_readonly_socket != NULL &&
	    strcmp(c->admin_readonly_socket, c->admin_socket) == 0)
		ld_err(ld, config_lookup(cf, "admin.readonly_socket"),
		    "\"admin.readonly_socket\" must differ from \"admin.socket\" (\"%s\")",
		    c->admin_socket);
	config_ref(cf, "admin.socket", &c->ref_admin_socket);
	config_ref(cf, "admin.audit_log", &c->ref_audit_log);
	config_ref(cf, "state_file", &c->ref_state_file);
	config_ref(cf, "log.access", &c->ref_log_access);
	config_ref(cf, "admin.readonly_socket", &c->ref_readonly_socket);
	if (!c->metrics_enabled || m == NULL)
		return;
	for (size_t i = 0; i < c->nlisteners; i++)
		if (addr_equal(&c->listeners[i].addr, &c->metrics_addr))
			ld_err(ld, m, "\"metrics.address\" \"%s\" is also a listener (line %d)",
			    c->metrics_addr.text, c->listeners[i].line);
}

/* The file must be a readable regular file before libconfig sees it. */
static int config_open_check(struct loader *ld, const char *path)
{
	char buf[128];
	struct stat st;
	FILE *f = fopen(path, "r");
	int eno = 0;

	if (f == NULL)
		eno = errno;
	else if (fstat(fileno(f), &st) == -1)
		eno = errno;
	else if (S_ISDIR(st.st_mode))
		eno = EISDIR;
	if (f != NULL)
		fclose(f);
	if (eno == 0)
		return 0;
	ld_err_at(ld, path, 1, "cannot read the configuration: %s", strerror_r(eno, buf, sizeof buf));
	return -1;
}

/*
 * libconfig 1.5 exit()s from inside its scanner when an @include names a
 * directory or an unreadable file, taking the process with it.  Check every
 * @include (a line starting with it, as libconfig's scanner sees it) before
 * libconfig reads anything, and report those as FILE:LINE errors.
 */
static void config_check_includes(struct loader *ld, const char *path, int depth)
{
	char target[4096], buf[128];
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	struct stat st;
	unsigned lineno = 0;
	FILE *f;

	f = fopen(path, "r");
	if (f == NULL)
		return;         /* reported by the caller or by libconfig */
	/* getline: the real length, NUL bytes and all, and no line split in two */
	while ((len = getline(&line, &cap, f)) != -1) {
		const char *p = line, *q, *end = line + len;
		size_t n;

		lineno++;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (end - p < 8 || memcmp(p, "@include", 8) != 0)
			continue;
		p += 8;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == end || *p != '"')
			continue;       /* libconfig reports the syntax */
		/* the name as libconfig reads it: \\ and \" are escapes */
		for (q = p + 1, n = 0; q < end && *q != '"' && *q != '\n' && *q != '\0'; q++) {
			if (*q == '\\') {
				if (q + 1 == end || (q[1] != '\\' && q[1] != '"'))
					break;
				q++;
			}
			if (n < sizeof target - 1)
				target[n++] = *q;
		}
		target[n] = '\0';
		if (q < end && *q == '\0') {
			ld_err_at(ld, path, lineno, "@include: NUL byte in the file name");
			continue;
		}
		if (q < end && *q == '\\') {
			ld_err_at(ld, path, lineno, "@include: only \\\\ and \\\" may follow a "
			    "backslash in the file name");
			continue;
		}
		if (q == end || *q != '"')
			continue;       /* unterminated: libconfig reports the syntax */
		if (stat(target, &st) == -1) {
			ld_err_at(ld, path, lineno, "@include \"%s\": %s", target,
			    strerror_r(errno, buf, sizeof buf));
		} else if (!S_ISREG(st.st_mode)) {
			ld_err_at(ld, path, lineno, "@include \"%s\": not a regular file", target);
		} else if (access(target, R_OK) == -1) {
			ld_err_at(ld, path, lineno, "@include \"%s\": %s", target,
			    strerror_r(errno, buf, sizeof buf));
		} else if (depth >= 10) {
			ld_err_at(ld, path, lineno, "@include \"%s\": includes nested too deeply "
			    "(at most 10)", target);
		} else {
			config_check_includes(ld, target, depth + 1);
		}
	}
	free(line);
	fclose(f);
}

/* libconfig's own words, without saying "syntax error: syntax error" */
static void config_syntax_error(struct loader *ld, const config_t *cf)
{
	const char *text = config_error_text(cf);
	unsigned line = config_error_line(cf) > 0 ? (unsigned)config_error_line(cf) : 1;

	if (text == NULL || strcmp(text, "syntax error") == 0)
		ld_err_at(ld, config_error_file(cf), line, "syntax error");
	else
		ld_err_at(ld, config_error_file(cf), line, "syntax error: %s", text);
}

static void config_parse(struct loader *ld, struct config *c)
{
	config_t cf;

	config_init(&cf);
	if (config_read_file(&cf, ld->path) != CONFIG_TRUE) {
		if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
			ld_err_at(ld, ld->path, 1, "cannot read the configuration");
		else
			config_syntax_error(ld, &cf);
	} else {
		config_group(ld, config_root_setting(&cf), "", config_keys, NKEYS(config_keys),
		    root_subs, c);
		if (ld->nerrs == 0)
			config_cross(ld, &cf, c);
	}
	config_destroy(&cf);
}

struct config *config_load(const char *path, char **errs)
{
	struct loader ld = { .path = path };
	struct config *c;

	*errs = NULL;
	c = calloc(1, sizeof *c);
	if (c == NULL) {
		*errs = strdup("out of memory\n");
		return NULL;
	}
	c->path = ld_strdup(&ld, path);
	config_defaults(&ld, c);
	if (config_open_check(&ld, path) == 0) {
		config_check_includes(&ld, path, 0);
		if (ld.nerrs == 0)
			config_parse(&ld, c);
	}
	if (ld.nerrs == 0 && !ld.oom)
		return c;
	config_free(c);
	if (ld.oom) {
		free(ld.errs);
		ld.errs = strdup("out of memory\n");
	}
	*errs = ld.errs;
	return NULL;
}

void config_free(struct config *c)
{
	if (c == NULL)
		return;
	keys_free(config_keys, NKEYS(config_keys), c);
	for (size_t i = 0; i < c->nlisteners; i++)
		for (size_t j = 0; j < c->listeners[i].ncerts; j++)
			keys_free(cert_keys, NKEYS(cert_keys), &c->listeners[i].certs[j]);
	for (int p = 0; p < CONFIG_POOLS; p++)
		keys_free(health_keys, NKEYS(health_keys), &c->pools[p].health);
	free(c->ref_admin_socket.file);
	free(c->ref_audit_log.file);
	free(c->ref_state_file.file);
	free(c->ref_log_access.file);
	free(c->ref_readonly_socket.file);
	free(c->path);
	c->path = NULL;
	free(c);
}

/* One path's directory: exists, is a directory, this process may create
 * files in it.  Appends a "FILE:LINE: key ..." line to *out on failure. */
static void
config_check_dir(const struct config *c, const char *key, const char *path,
    const struct config_ref *r, char **out, size_t *len)
{
	char dir[4096], why[4600], line[4800];
	const char *slash;
	struct stat st;
	char *p;
	int n;

	if (path == NULL)
		return;
	slash = strrchr(path, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (stat(dir, &st) == -1)
		snprintf(why, sizeof(why), "%s \"%s\": directory %s: %s", key, path, dir,
		    strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		snprintf(why, sizeof(why), "%s \"%s\": %s is not a directory", key, path, dir);
	else if (access(dir, W_OK | X_OK) == -1)
		snprintf(why, sizeof(why), "%s \"%s\": directory %s is not writable by uid %d: %s",
		    key, path, dir, (int)geteuid(), strerror(errno));
	else
		return;
	/* a key left at its default has no line of its own: name the file */
	n = snprintf(line, sizeof(line), "%s:%d: %s%s\n", r->file != NULL ? r->file : c->path,
	    r->file != NULL ? r->line : 1, why, r->file != NULL ? "" : " (the default)");
	if (n < 0)
		n = snprintf(line, sizeof(line), "%s: %s\n", c->path, key);
	if ((size_t)n >= sizeof(line)) {
		line[sizeof(line) - 2] = '\n';	/* cut, but still an error */
		n = (int)sizeof(line) - 1;
	}
	if ((p = realloc(*out, *len + (size_t)n + 1)) == NULL)
		return;
	memcpy(p + *len, line, (size_t)n + 1);
	*out = p;
	*len += (size_t)n;
}

int
config_check_dirs(const struct config *c, char **errs)
{
	char *out = NULL;
	size_t len = 0;
	const char *access_path = c->log_access;

	if (access_path != NULL && (strcmp(access_path, "stderr") == 0 ||
	    strcmp(access_path, "off") == 0))
		access_path = NULL;
	config_check_dir(c, "admin.socket", c->admin_socket, &c->ref_admin_socket, &out, &len);
	config_check_dir(c, "admin.readonly_socket", c->admin_readonly_socket,
	    &c->ref_readonly_socket, &out, &len);
	config_check_dir(c, "admin.audit_log", c->admin_audit_log, &c->ref_audit_log, &out, &len);
	config_check_dir(c, "state_file", c->state_file, &c->ref_state_file, &out, &len);
	config_check_dir(c, "log.access", access_path, &c->ref_log_access, &out, &len);
	*errs = out;
	return out == NULL ? 0 : -1;
}
