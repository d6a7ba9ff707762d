/*
 * audit.c - the audit log (see audit.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "clock.h"
#include "jsonx.h"
#include "log.h"

static int audit_fd = -1;

int
audit_open(const char *path, char *err, size_t errlen)
{
	int fd;

	if (path == NULL) {
		audit_close();
		return 0;
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1) {
		snprintf(err, errlen, "cannot open audit log \"%s\": %s", path, strerror(errno));
		return -1;
	}
	audit_close();
	audit_fd = fd;
	return 0;
}

void
audit_close(void)
{
	if (audit_fd != -1)
		close(audit_fd);
	audit_fd = -1;
}

static json_t *
audit_split(const struct audit_split *s)
{
	if (s == NULL)
		return json_null();
	return json_pack("{s:s,s:s,s:f,s:f,s:I}", "stable", s->stable, "state", s->state, "blue",
	    s->blue, "green", s->green, "version", (json_int_t)s->version);
}

void
audit_write(const struct audit_who *who, const char *service, const char *cmd,
    const char *result, const char *evidence, const struct audit_split *before,
    const struct audit_split *after)
{
	char when[CLOCK_ISO_LEN];
	json_t *o;
	char *line;
	size_t len;

	if (audit_fd == -1)
		return;
	clock_iso_now(when, sizeof(when));
	o = json_pack("{s:s,s:i,s:i,s:s,s:o,s:o}", "time", when, "uid", (int)who->uid, "pid",
	    (int)who->pid, "socket", who->socket, "command", jsonx_str(cmd), "result",
	    jsonx_str(result));
	if (o == NULL)
		return;
	if (service != NULL)
		json_object_set_new(o, "service", jsonx_str(service));
	if (evidence != NULL)
		json_object_set_new(o, "evidence", jsonx_str(evidence));
	json_object_set_new(o, "old", audit_split(before));
	json_object_set_new(o, "new", audit_split(after));
	/* JSON_ENSURE_ASCII: a command's odd bytes are escaped, never raw */
	line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (line == NULL)
		return;
	len = strlen(line);
	line[len] = '\n';   /* json_dumps leaves room: the NUL becomes the newline */
	if (write(audit_fd, line, len + 1) == -1)
		log_error("audit log write failed: %s", strerror(errno));
	free(line);
}
