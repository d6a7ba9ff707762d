/*
 * config.c - libconfig file -> a new, validated struct config.
 *
 * Every scalar key is described once, in a table (path, type, bounds,
 * default, where it goes); the same table sets the defaults, checks the
 * values, lists the allowed keys in "unknown key" errors and frees the
 * strings.  Lists and groups that need more than a table (listen, pools,
 * servers, certificates, override_from, rollout.steps) get small functions;
 * the cluster and notify groups are in config_fleet.c.
 *
 * Nothing here has side effects: no sockets, no files written, no globals,
 * no logging.  Errors are collected as "FILE:LINE: message\n" lines so an
 * operator sees all of them at once.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* strerror_r returning char * */
#endif

#include "config_int.h"

#include <arpa/inet.h>
#include <ctype.h>
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

static const char *const log_levels[] = { "error", "warn", "info", "debug", NULL };
/* Every scalar key of struct config.  Keep in step with docs/configuration.md. */
const struct config_key config_keys[] = {
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
	C_INT("timeouts.client_header_ms", 1, 86400000, 10000, t_client_header_ms),
	C_INT("timeouts.client_idle_ms", 1, 86400000, 60000, t_client_idle_ms),
	C_INT("timeouts.upstream_connect_ms", 1, 86400000, 2000, t_upstream_connect_ms),
	C_INT("timeouts.upstream_response_ms", 1, 86400000, 30000, t_upstream_response_ms),
	C_INT("timeouts.shutdown_ms", 0, 86400000, 10000, t_shutdown_ms),
	C_INT("timeouts.client_body_ms", 1, 86400000, 60000, t_client_body_ms),
	C_INT("timeouts.upstream_idle_ms", 1, 86400000, 30000, t_upstream_idle_ms),
	C_INT("timeouts.queue_ms", 1, 86400000, 1000, t_queue_ms),
	C_INT("limits.max_connections", 1, 1000000, 10000, max_connections),
	C_INT("limits.max_header_bytes", 1024, 1048576, 16384, max_header_bytes),
	C_INT("limits.max_headers", 1, 256, 100, max_headers),
	C_INT("limits.mirror_inflight", 1, 100000, 100, mirror_inflight),
	C_INT("limits.mirror_body_bytes", 0, 16777216, 65536, mirror_body_bytes),
	C_INT("http2.max_concurrent_streams", 1, 10000, 100, h2_max_streams),
	C_INT("http2.initial_window_size", 1024, 2147483647, 65535, h2_window),
	C_INT("http2.max_header_list_size", 1024, 1048576, 16384, h2_max_header_list),
	C_STR("cluster.prefix", "/bgproxy/default", cluster_prefix, KF_NONEMPTY),
	C_STR("cluster.node", "", cluster_node, 0),
	C_INT("cluster.ttl_s", 1, 3600, 5, cluster_ttl_s),
	C_INT("cluster.timeout_ms", 100, 60000, 1000, cluster_timeout_ms),
	C_STR("cluster.user", NULL, cluster_user, KF_NONEMPTY),
	C_STR("cluster.password", NULL, cluster_password, 0),
	C_STR("cluster.tls.ca", NULL, cluster_tls_ca, KF_NONEMPTY),
	C_STR("cluster.tls.cert", NULL, cluster_tls_cert, KF_NONEMPTY),
	C_STR("cluster.tls.key", NULL, cluster_tls_key, KF_NONEMPTY),
	C_STR("notify.webhook", NULL, notify_webhook, KF_REQUIRED | KF_NONEMPTY),
	C_INT("notify.timeout_ms", 100, 60000, 2000, notify_timeout_ms),
	C_ENUM("log.level", log_levels, 2, log_level),
	C_STR("log.access", "stderr", log_access, KF_NONEMPTY),
};
const size_t config_nkeys = NKEYS(config_keys);


static const struct config_key listener_keys[] = {
	KEY(struct config_listener, "address", KT_ADDR, 0, 0, 0, NULL, NULL, addr, KF_REQUIRED),
	KEY(struct config_listener, "h2c", KT_BOOL, 0, 1, 0, NULL, NULL, h2c, 0),
};

static const struct config_key tls_keys[] = {
	KEY(struct config_listener, "min_version", KT_ENUM, 0, 0, 0, NULL, config_tls_versions,
	    min_tls13, 0),
};

static const struct config_key cert_keys[] = {
	KEY(struct config_cert, "cert", KT_STR, 0, 0, 0, NULL, NULL, cert,
	    KF_REQUIRED | KF_NONEMPTY),
	KEY(struct config_cert, "key", KT_STR, 0, 0, 0, NULL, NULL, key,
	    KF_REQUIRED | KF_NONEMPTY),
};

/* admin, timeouts, limits, log: nothing but table keys. */
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
		config_cert_file(ld, e, "cert", "certificate", &ct->cert);
		config_cert_file(ld, e, "key", "key", &ct->key);
	}
}

/* The protocols ALPN offers, in order of preference: "h2", "http/1.1". */
static void sub_alpn(struct loader *ld, const config_setting_t *s, void *base)
{
	static const char *const protos[] = { "h2", "http/1.1" };
	struct config_listener *l = base;
	unsigned char wire[sizeof(l->alpn)];
	size_t len = 0, k;
	int n, seen[2] = { 0, 0 };

	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		err_type(ld, s, "an array of protocol names [ \"h2\", \"http/1.1\" ]");
		return;
	}
	n = config_setting_length(s);
	if (n == 0) {
		ld_err(ld, s, "\"tls.alpn\" must name at least one protocol (\"h2\", \"http/1.1\")");
		return;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);

		for (k = 0; v != NULL && k < 2 && strcmp(v, protos[k]) != 0; k++)
			;
		if (v == NULL || k == 2) {
			ld_err(ld, e, "\"tls.alpn\" entries are \"h2\" or \"http/1.1\"%s%s%s",
			    v != NULL ? ", not \"" : "", v != NULL ? v : "", v != NULL ? "\"" : "");
			return;
		}
		if (seen[k]++) {
			ld_err(ld, e, "\"tls.alpn\" names \"%s\" twice", v);
			return;
		}
		wire[len++] = (unsigned char)strlen(v);
		memcpy(wire + len, v, strlen(v));
		len += strlen(v);
	}
	memcpy(l->alpn, wire, len);
	l->alpn_len = len;
}

static void sub_tls(struct loader *ld, const config_setting_t *s, void *base)
{
	static const struct config_sub subs[] = {
		{ "certificates", sub_certificates, 1 }, { "alpn", sub_alpn, 0 },
		{ NULL, NULL, 0 } };
	struct config_listener *l = base;

	l->tls = 1;
	config_group(ld, s, "", tls_keys, NKEYS(tls_keys), subs, l);
}

/* ---- listen ---- */


static void sub_listen(struct loader *ld, const config_setting_t *s, void *base)
{
	static const struct config_sub subs[] = { { "tls", sub_tls, 0 }, { NULL, NULL, 0 } };
	struct config *c = base;
	int n = group_list(ld, s, "listener", CONFIG_MAX_LISTENERS);

	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		struct config_listener *l = &c->listeners[c->nlisteners++];

		l->line = (int)setting_line(e);
		/* the default offer: h2 first, then http/1.1 */
		memcpy(l->alpn, "\x02h2\x08http/1.1", 12);
		l->alpn_len = 12;
		config_group(ld, e, "", listener_keys, NKEYS(listener_keys), subs, l);
		if (l->tls && l->h2c)
			ld_err(ld, e, "\"h2c\" is for a plain listener; a TLS listener offers h2 "
			    "through \"tls.alpn\"");
		for (size_t j = 0; j + 1 < c->nlisteners; j++)
			if (config_addr_equal(&c->listeners[j].addr, &l->addr))
				ld_err(ld, e, "duplicate listener address \"%s\" (first at line %d)",
				    l->addr.text, c->listeners[j].line);
	}
}

/* ---- the whole file ---- */

/* the top-level groups of a service go to the template (config_svc.c) */
static void root_pools(struct loader *ld, const config_setting_t *s, void *base)
{
	(void)base;
	config_sub_pools(ld, s, ld->tmpl);
}

static void root_split(struct loader *ld, const config_setting_t *s, void *base)
{
	(void)base;
	config_sub_split(ld, s, ld->tmpl);
}

static void root_guard(struct loader *ld, const config_setting_t *s, void *base)
{
	(void)base;
	config_sub_guard(ld, s, ld->tmpl);
}

static void root_rollout(struct loader *ld, const config_setting_t *s, void *base)
{
	(void)base;
	config_sub_rollout(ld, s, ld->tmpl);
}

static void root_services(struct loader *ld, const config_setting_t *s, void *base)
{
	(void)base;
	ld->services = s;
}

static const struct config_sub root_subs[] = {
	{ "listen", sub_listen, 1 },
	{ "admin", sub_plain, 0 },
	{ "metrics", sub_metrics, 0 },
	{ "pools", root_pools, 0 },
	{ "split", root_split, 0 },
	{ "guard", root_guard, 0 },
	{ "rollout", root_rollout, 0 },
	{ "services", root_services, 0 },
	{ "timeouts", sub_plain, 0 },
	{ "limits", sub_plain, 0 },
	{ "log", sub_plain, 0 },
	{ "http2", sub_plain, 0 },
	{ "cluster", config_sub_cluster, 0 },
	{ "notify", config_sub_notify, 0 },
	{ NULL, NULL, 0 },
};

static void config_defaults(struct loader *ld, struct config *c)
{
	keys_default(ld, config_keys, NKEYS(config_keys), c);
	ld->tmpl = calloc(1, sizeof *ld->tmpl);
	if (ld->tmpl == NULL) {
		ld->oom = 1;
		return;
	}
	config_svc_defaults(ld, ld->tmpl);
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
		if (config_addr_equal(&c->listeners[i].addr, &c->metrics_addr))
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
	ld_err_at(ld, path, 0, "cannot read the configuration: %s", strerror_r(eno, buf, sizeof buf));
	return -1;
}

/*
 * The files on the current @include chain (to refuse a cycle) and how many
 * includes the whole configuration has opened: a file that includes another
 * twice, nested ten deep, would otherwise be read 2^10 times here and again
 * by libconfig.
 */
#define INCLUDE_DEPTH_MAX 10
#define INCLUDE_FILES_MAX 256

struct include_walk {
	dev_t dev[INCLUDE_DEPTH_MAX + 1];
	ino_t ino[INCLUDE_DEPTH_MAX + 1];
	int depth;
	unsigned files;
};

static int include_on_chain(const struct include_walk *w, const struct stat *st)
{
	int i;

	for (i = 0; i < w->depth; i++)
		if (w->dev[i] == st->st_dev && w->ino[i] == st->st_ino)
			return 1;
	return 0;
}

/*
 * libconfig 1.5 exit()s from inside its scanner when an @include names a
 * directory or an unreadable file, taking the process with it.  Check every
 * @include (a line starting with it, as libconfig's scanner sees it) before
 * libconfig reads anything, and report those as FILE:LINE errors.
 */
static void config_check_includes(struct loader *ld, const char *path,
    struct include_walk *w)
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
	if (fstat(fileno(f), &st) == -1) {
		fclose(f);
		return;
	}
	w->dev[w->depth] = st.st_dev;
	w->ino[w->depth] = st.st_ino;
	w->depth++;
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
		} else if (include_on_chain(w, &st)) {
			ld_err_at(ld, path, lineno, "@include \"%s\": the file includes itself "
			    "(directly or through the files it includes)", target);
		} else if (w->depth > INCLUDE_DEPTH_MAX) {
			ld_err_at(ld, path, lineno, "@include \"%s\": includes nested too deeply "
			    "(at most %d)", target, INCLUDE_DEPTH_MAX);
		} else if (w->files >= INCLUDE_FILES_MAX) {
			ld_err_at(ld, path, lineno, "@include \"%s\": too many included files "
			    "(at most %d in all)", target, INCLUDE_FILES_MAX);
		} else {
			w->files++;
			config_check_includes(ld, target, w);
		}
		if (w->files >= INCLUDE_FILES_MAX && ld->nerrs > 0)
			break;  /* one error is enough; do not walk the rest */
	}
	w->depth--;
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
			ld_err_at(ld, ld->path, 0, "cannot read the configuration");
		else
			config_syntax_error(ld, &cf);
	} else {
		config_group(ld, config_root_setting(&cf), "", config_keys, NKEYS(config_keys),
		    root_subs, c);
		if (!ld->oom)
			config_services(ld, c, config_lookup(&cf, "pools"));
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
		struct include_walk walk = { .depth = 0 };

		config_check_includes(&ld, path, &walk);
		if (ld.nerrs == 0)
			config_parse(&ld, c);
	}
	config_svc_free(ld.tmpl);
	free(ld.tmpl);
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
	for (size_t i = 0; i < c->nsvcs; i++)
		if (!c->svcs[i].moved)
			config_svc_free(&c->svcs[i]);
	free(c->svcs);
	free(c->by_name);
	for (size_t i = 0; i < c->cluster_netcd; i++)
		free(c->cluster_etcd[i]);
	free(c->ref_admin_socket.file);
	free(c->ref_audit_log.file);
	free(c->ref_state_file.file);
	free(c->ref_log_access.file);
	free(c->ref_readonly_socket.file);
	free(c->path);
	c->path = NULL;
	free(c);
}
