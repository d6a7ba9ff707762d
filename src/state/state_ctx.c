/*
 * state_ctx.c - which service the state functions act on (state_use) and
 * what they share beside it: the state file's name, whether services are
 * being started or a batch of events recorded.  Below state.c,
 * state_rollout.c, state_cluster.c and state_events.c.  Control thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"
#include "state.h"
#include "state_int.h"
#include "stats.h"

static struct state_svc *X;             /* the service acted on */
static const char *state_path;          /* borrowed from the running config */
static int state_starting;              /* services are being started */
static int state_batching;              /* state_batch */

static struct state_svc *
state_svc_new(struct service *sv)
{
	struct state_svc *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return NULL;
	st->sv = sv;
	st->judged = -1;
	return st;
}

/* A service a reload removed, then added again: its split, events and
 * figures begin afresh (in the same struct: pointers to it stay good). */
void
state_svc_forget(struct state_svc *st)
{
	struct service *sv = st->sv;

	for (int i = 0; i < STATE_EVENTS; i++)
		free(st->events[i]);
	memset(st, 0, sizeof(*st));
	st->sv = sv;
	st->judged = -1;
	stats_new_epoch(&sv->sh);
	stats_new_shadow_epoch(&sv->sh);
}

const char *
state_file(void)
{
	return state_path;
}

void
state_file_set(const char *path)
{
	state_path = path;
}

int
state_is_starting(void)
{
	return state_starting;
}

void
state_starting_set(int on)
{
	state_starting = on;
}

int
state_is_loading(void)
{
	return state_starting || state_batching;
}

int
state_is_batching(void)
{
	return state_batching;
}

void
state_batch(int on)
{
	state_batching = on;
}

void
state_use(struct service *sv)
{
	if (sv->st == NULL && (sv->st = state_svc_new(sv)) == NULL) {
		log_error("out of memory for the state of service %s", sv->name);
		abort();
	}
	X = sv->st;
}

struct state_svc *
state_cur(void)
{
	return X;
}

const struct config_svc *
state_cfg(void)
{
	return service_cfg(X->sv);
}

struct state_core *
state_core_get(void)
{
	return &X->core;
}

struct state_stage *
state_staging_get(void)
{
	return X->staging;
}

void
state_judge_ev_set(const char *evidence)
{
	snprintf(X->judge_ev, sizeof(X->judge_ev), "%s", evidence != NULL ? evidence : "");
}

void
state_staging_set(struct state_stage *st)
{
	X->staging = st;
}
