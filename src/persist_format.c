/*
 * persist_format.c - the state file's text, as persist_parse reads it
 * back (persist.c): a header, one line per fact, a checksum of the lines
 * before it.  Pure.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pct.h"
#include "persist.h"

/* ------------------------------------------------------------------ */
/* Formatting                                                          */

struct persist_out {
	char *buf;
	size_t cap, len;
	int full;               /* something did not fit */
};

static void persist_put(struct persist_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
persist_put(struct persist_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->full = 1;
		return;
	}
	o->len += (size_t)n;
}

/* A step as short as it reads naturally: 100, 2.5, 0.25. */
static void
persist_put_step(struct persist_out *o, int bp)
{
	char buf[16];

	pct_format(bp, buf, sizeof(buf));
	persist_put(o, "%s", buf);
}

/* "s" with \" and \\ escaped. */
static void
persist_put_quoted(struct persist_out *o, const char *s)
{
	persist_put(o, "\"");
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			persist_put(o, "\\%c", *s);
		else
			persist_put(o, "%c", *s);
	}
	persist_put(o, "\"");
}

static void
persist_put_revert(struct persist_out *o, const char *s)
{
	if (*s == '\0') {
		persist_put(o, "last_revert -\n");
		return;
	}
	persist_put(o, "last_revert ");
	persist_put_quoted(o, s);
	persist_put(o, "\n");
}

static void
persist_put_rollout(struct persist_out *o, const struct split_state *st)
{
	size_t i;

	if (!st->has_rollout) {
		persist_put(o, "rollout -\n");
		return;
	}
	persist_put(o, "rollout %s steps ", persist_pools[st->rollout_pool]);
	for (i = 0; i < st->nsteps; i++) {
		if (i > 0)
			persist_put(o, ",");
		persist_put_step(o, st->steps_bp[i]);
	}
	persist_put(o, " step %d hold %d paused %d", st->step, st->hold_s, st->mode == MODE_PAUSED);
	if (st->shadow_bp > 0) {
		persist_put(o, " shadow ");
		persist_put_step(o, st->shadow_bp);
	}
	persist_put(o, "\n");
}

int
persist_format(const struct split_state *st, char *buf, size_t cap)
{
	struct persist_out o = { buf, cap, 0, 0 };

	if (cap == 0 || cap > INT_MAX || persist_check(st, NULL, 0) == -1)
		return -1;
	persist_put(&o, "%s\nversion 1\nstable %s\ncandidate_percent %d.%02d\nmode %s\n",
	    PERSIST_HEADER, persist_pools[st->stable], st->candidate_bp / 100,
	    st->candidate_bp % 100, persist_modes[st->mode]);
	persist_put_revert(&o, st->last_revert);
	persist_put_rollout(&o, st);
	persist_put(&o, "split_version %llu\n", st->version);
	if (st->revert_time_ms != 0) {
		persist_put(&o, "revert_detail %lld %d ", st->revert_time_ms, st->revert_step + 1);
		persist_put_quoted(&o, st->revert_actor);
		persist_put(&o, " ");
		persist_put_quoted(&o, st->revert_reason);
		persist_put(&o, "\n");
	}
	if (!o.full)
		persist_put(&o, "checksum %08x\n", (unsigned)persist_crc32(o.buf, o.len));
	return o.full ? -1 : (int)o.len;
}

