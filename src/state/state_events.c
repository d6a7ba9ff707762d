/*
 * state_events.c - each service's last events (`show events`): recorded
 * (or kept with a staged change), logged, told to the event hook (the
 * webhooks), and kept beside the state file to survive a restart.  Acts
 * on the service state.c acts on (state_use).
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "events_file.h"
#include "proxy.h"
#include "state.h"
#include "state_int.h"

#define X (state_cur())
#define S (X->core)

static void (*state_ev_hook)(struct service *sv, const struct state_ev *ev); /* every event (notify.c) */

void
state_set_event_hook(void (*fn)(struct service *sv, const struct state_ev *ev))
{
	state_ev_hook = fn;
}

static void state_events_persist(void);

/* The ring's next slot, made when first needed (NULL: no memory). */
static struct state_ev *
state_ev_slot(void)
{
	struct state_ev **e = &X->events[X->nevents % STATE_EVENTS];

	if (*e == NULL)
		*e = malloc(sizeof(**e));
	return *e;
}

/* The events file of the service acted on: beside the state file, one
 * per service with a services list (STATE_FILE.events.NAME). */
static int
state_events_path(char *path, size_t len)
{
	int n;

	if (state_file() == NULL)
		return -1;
	if (rt.cfg != NULL && rt.cfg->services)
		n = snprintf(path, len, "%s.events.%s", state_file(), X->sv->name);
	else
		n = snprintf(path, len, "%s.events", state_file());
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

void
state_event_rec(struct service *sv, const struct actor *who, const char *kind, const char *from, const char *to,
    const char *evidence, const char *fmt, ...)
{
	state_use(sv);
	struct state_ev *ev;
	char what[512], when[64], actor[64];
	va_list ap;

	if (X->staging != NULL) {
		if (X->staging->nevents == STATE_STAGE_EVENTS)
			return;
		ev = &X->staging->events[X->staging->nevents++];
	} else if ((ev = state_ev_slot()) == NULL) {
		return;                 /* out of memory: history, not the split */
	}

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	snprintf(ev->from, sizeof(ev->from), "%s", from != NULL ? from : "");
	snprintf(ev->to, sizeof(ev->to), "%s", to != NULL ? to : "");
	snprintf(ev->evidence, sizeof(ev->evidence), "%s", evidence != NULL ? evidence : "");
	/* what the guard and the rollout timer do under the sequential guard
	 * rests on the judge's evidence of every check: the event carries it */
	if ((who->kind == ACTOR_GUARD || who->kind == ACTOR_ROLLOUT) && X->judge_ev[0] != '\0') {
		size_t at = strlen(ev->evidence);

		snprintf(ev->evidence + at, sizeof(ev->evidence) - at, "%sjudge: %s",
		    at > 0 ? " | " : "", X->judge_ev);
	}
	state_actor_text(who, actor, sizeof(actor));
	memcpy(ev->actor, actor, sizeof(ev->actor));
	clock_iso_now(when, sizeof(when));
	snprintf(ev->time, sizeof(ev->time), "%.47s", when);
	snprintf(ev->text, sizeof(ev->text), "%.47s %s by %.63s", when, what, actor);
	if (X->staging != NULL)
		return;
	X->nevents++;
	if (state_is_batching())
		;               /* the caller logs it once for all */
	else if (rt.cfg != NULL && rt.cfg->services)
		log_info("event: %s: %s by %s", X->sv->name, what, actor);
	else
		log_info("event: %s by %s", what, actor);
	state_events_persist();
	if (state_ev_hook != NULL)
		state_ev_hook(X->sv, ev);
}

/* The ring beside the state file (STATE_FILE.events), oldest first, so
 * what happened is still there after a restart.  A failure is logged and
 * changes nothing else: events are history, not the split. */
static void
state_events_persist(void)
{
	struct state_ev *evs;
	unsigned first = X->nevents > STATE_EVENTS ? X->nevents - STATE_EVENTS : 0, i;
	char path[PATH_MAX], err[512];

	/* with a services list, at start (or when a reload adds services)
	 * each file is written at its service's next event: a thousand
	 * services must not wait for two thousand fsyncs */
	if ((state_is_loading() && rt.cfg->services) ||
	    state_events_path(path, sizeof(path)) == -1)
		return;
	evs = malloc(sizeof(*evs) * STATE_EVENTS);
	if (evs == NULL)
		return;
	for (i = first; i < X->nevents; i++)
		evs[i - first] = *X->events[i % STATE_EVENTS];
	if (events_save(path, evs, X->nevents - first, S.cur.version, err,
	    sizeof(err)) == -1)
		log_warn("events not kept: %s", err);
	free(evs);
}

/* The events of the last run, into the ring before this one's first; the
 * version they were written at (X->events_version). */
/* The service acted on is gone: its events file too. */
void
state_events_forget(void)
{
	char path[PATH_MAX];

	if (state_events_path(path, sizeof(path)) == 0)
		(void)unlink(path);
}

void
state_events_restore(void)
{
	struct state_ev *evs;
	char path[PATH_MAX], err[512];
	int n, i;

	if (state_events_path(path, sizeof(path)) == -1)
		return;
	evs = calloc(STATE_EVENTS, sizeof(*evs));
	if (evs == NULL)
		return;
	n = events_load(path, evs, STATE_EVENTS, &X->events_version, err, sizeof(err));
	if (n == -1)
		log_warn("the events of the last run are not read (%s): they begin afresh", err);
	for (i = 0; i < n; i++) {
		struct state_ev *e = state_ev_slot();

		if (e == NULL)
			break;
		*e = evs[i];
		X->nevents++;
	}
	free(evs);
}

/* A staged event into the ring, as if recorded now. */
void
state_event_keep(const struct state_ev *ev)
{
	const char *what = strchr(ev->text, ' ');  /* the text without its time */
	struct state_ev *e = state_ev_slot();

	if (e == NULL)
		return;
	*e = *ev;
	X->nevents++;
	log_info("event: %s", what != NULL ? what + 1 : ev->text);
	state_events_persist();
	if (state_ev_hook != NULL)
		state_ev_hook(X->sv, e);
}

void
state_events_each(struct service *sv, void (*fn)(const struct state_ev *ev, void *arg), void *arg)
{
	state_use(sv);
	unsigned first = X->nevents > STATE_EVENTS ? X->nevents - STATE_EVENTS : 0;
	unsigned i;

	for (i = first; i < X->nevents; i++)
		fn(X->events[i % STATE_EVENTS], arg);
}

