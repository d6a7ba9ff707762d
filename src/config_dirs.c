/*
 * config_dirs.c - the directories a configuration writes to (admin
 * sockets, audit log, state file, access log) exist and are writable: what
 * bgproxy -t accepts, starts.
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

/* ---- files a configuration names ---- */

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
void config_cert_file(struct loader *ld, const config_setting_t *e, const char *name,
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
