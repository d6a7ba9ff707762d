/*
 * events_file.c - the split's events beside the state file (see
 * events_file.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "errf.h"
#include "events_file.h"
#include "persist.h"

#define EVENTS_FILE_MAX (1024 * 1024)   /* a larger file is refused */

/* The kinds state.c records: an event read back points at the same static
 * strings. */
static const char *const events_kinds[] = {
	"start", "weight", "switch", "revert", "promote", "rollout", "step", "pause", "resume",
	"server", "reload", "sync", "dry_run", "shadow", "event", NULL,
};

static const char *
events_kind(const char *k)
{
	size_t i;

	for (i = 0; events_kinds[i] != NULL; i++)
		if (strcmp(events_kinds[i], k) == 0)
			return events_kinds[i];
	return "event";
}

char *
events_format(const struct state_ev *evs, size_t n, unsigned long long version)
{
	json_t *list = json_array(), *o;
	char *out;
	size_t i;

	for (i = 0; list != NULL && i < n; i++) {
		const struct state_ev *e = &evs[i];

		if (json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "time",
		    e->time, "kind", e->kind != NULL ? e->kind : "event", "from", e->from, "to",
		    e->to, "actor", e->actor, "evidence", e->evidence, "text", e->text)) == -1) {
			json_decref(list);
			return NULL;
		}
	}
	o = json_pack("{s:I,s:o}", "version", (json_int_t)version, "events", list);
	if (o == NULL)
		return NULL;
	out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return out;
}

/* A string member copied into dst (cut to its size), or -1.  Control
 * characters become '?': the text goes to terminals (show events). */
static int
events_str(json_t *o, const char *key, char *dst, size_t len)
{
	const char *s = json_string_value(json_object_get(o, key));
	char *p;

	if (s == NULL)
		return -1;
	snprintf(dst, len, "%s", s);
	for (p = dst; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return 0;
}

int
events_parse(const char *buf, size_t len, struct state_ev *out, size_t max,
    unsigned long long *version, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je), *list, *e;
	size_t i, n, first;
	char kind[32];

	if (o == NULL)
		return errf(err, errlen, "not JSON: %s (line %d)", je.text, je.line);
	*version = 0;
	if (json_is_integer(json_object_get(o, "version")) &&
	    json_integer_value(json_object_get(o, "version")) > 0)
		*version = (unsigned long long)json_integer_value(json_object_get(o, "version"));
	list = json_object_get(o, "events");
	if (!json_is_array(list)) {
		json_decref(o);
		return errf(err, errlen, "\"events\" must be a list");
	}
	n = json_array_size(list);
	/* the newest max of them */
	first = n > max ? n - max : 0;
	for (i = first; i < n; i++) {
		struct state_ev *ev = &out[i - first];

		e = json_array_get(list, i);
		memset(ev, 0, sizeof(*ev));
		if (!json_is_object(e) || events_str(e, "time", ev->time, sizeof(ev->time)) == -1 ||
		    events_str(e, "kind", kind, sizeof(kind)) == -1 ||
		    events_str(e, "from", ev->from, sizeof(ev->from)) == -1 ||
		    events_str(e, "to", ev->to, sizeof(ev->to)) == -1 ||
		    events_str(e, "actor", ev->actor, sizeof(ev->actor)) == -1 ||
		    events_str(e, "evidence", ev->evidence, sizeof(ev->evidence)) == -1 ||
		    events_str(e, "text", ev->text, sizeof(ev->text)) == -1) {
			json_decref(o);
			return errf(err, errlen, "events[%zu]: time, kind, from, to, actor, evidence "
			    "and text must be strings", i);
		}
		ev->kind = events_kind(kind);
	}
	json_decref(o);
	return (int)(n - first);
}

int
events_save(const char *path, const struct state_ev *evs, size_t n, unsigned long long version,
    char *err, size_t errlen)
{
	char *text = events_format(evs, n, version);
	int r;

	if (text == NULL)
		return errf(err, errlen, "out of memory for the events of %s", path);
	r = persist_save_text(path, text, strlen(text), err, errlen);
	free(text);
	return r;
}

int
events_load(const char *path, struct state_ev *out, size_t max, unsigned long long *version,
    char *err, size_t errlen)
{
	struct stat st;
	char *buf;
	ssize_t got;
	size_t len = 0;
	int fd, r;

	/* not blocking: a FIFO put there must not hang the start */
	*version = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd == -1) {
		if (errno == ENOENT)
			return 0;
		return errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size > EVENTS_FILE_MAX) {
		close(fd);
		return errf(err, errlen, "%s is not a regular file of at most %d bytes", path,
		    EVENTS_FILE_MAX);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return errf(err, errlen, "out of memory reading %s", path);
	}
	while (len < (size_t)st.st_size && (got = read(fd, buf + len, (size_t)st.st_size - len)) > 0)
		len += (size_t)got;
	close(fd);
	r = events_parse(buf, len, out, max, version, err, errlen);
	free(buf);
	return r;
}
