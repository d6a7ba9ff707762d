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
