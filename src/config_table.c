/*
 * config_table.c - the table engine of the configuration loader: error
 * collection with FILE:LINE, naming settings in messages, one parser per
 * key type, defaults, unknown and missing keys, group and list walks.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* strerror_r returning char * */
#endif

#include "config_int.h"

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

/* the one spelling of the pool names; NULL ends the list for C_ENUM */
const char *const pool_names[CONFIG_POOLS + 1] = { "blue", "green", NULL };
const char *const config_tls_versions[] = { "TLSv1.2", "TLSv1.3", NULL };
const char *const upproto_names[] = { "http/1.1", "h2", NULL };
const char *const guard_on_trip_names[] = { "revert", "step_back", "pause", NULL };
const char *const guard_method_names[] = { "threshold", "sequential", NULL };
const char *const notify_event_names[] = { "revert", "promote", "step", "pause", "trip", NULL };

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

void ld_err_at(struct loader *ld, const char *file, unsigned line, const char *fmt, ...)
{
	char msg[1024];
	int n;
	va_list ap;

	if (++ld->nerrs > CONFIG_MAX_ERRORS + 1)
		return;
	/* line 0: about the file as a whole (it cannot be read), no line */
	if (line == 0)
		n = snprintf(msg, sizeof msg, "%s: ", file ? file : ld->path);
	else
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


unsigned setting_line(const config_setting_t *s)
{
	/* the root group has line 0; an error about it is best shown on line 1 */
	unsigned line = config_setting_source_line(s);
	return line ? line : 1;
}

char *ld_strdup(struct loader *ld, const char *s)
{
	char *p = strdup(s);
	if (p == NULL)
		ld->oom = 1;
	return p;
}

/* ---- naming settings in messages ---- */

/* "pools.blue.servers[0].weight": the path an operator can find in the file. */
void setting_path(const config_setting_t *s, char *buf, size_t len)
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

void err_type(struct loader *ld, const config_setting_t *s, const char *want)
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

int get_number(const config_setting_t *s, double *v)
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
int percent_bp(double v, double min, double max, int *bp)
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

void keys_default(struct loader *ld, const struct config_key *keys, size_t n, void *base)
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

void keys_free(const struct config_key *keys, size_t n, void *base)
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
	if (strncmp(k->path, prefix, plen) != 0 || k->path[plen] != '.' ||
	    strchr(k->path + plen + 1, '.') != NULL)   /* a member of a group below */
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
int config_group(struct loader *ld, const config_setting_t *grp, const char *prefix,
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
int group_list(struct loader *ld, const config_setting_t *s, const char *what, int max)
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
