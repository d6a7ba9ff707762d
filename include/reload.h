/*
 * reload.h - re-read the configuration without risking the running process.
 *
 * The new file is first loaded in a forked child (libconfig 1.5 calls exit()
 * on some inputs, an @include of a directory for one); only a file the child
 * accepted is loaded again here and applied.  Control thread only.
 */
#ifndef BGPROXY_RELOAD_H
#define BGPROXY_RELOAD_H

#include <stddef.h>

#include "state.h"

/* Returns 0 with a summary in msg, or -1 with "FILE:LINE: message" lines
 * (or another reason) in msg; then nothing changed. */
int reload_run(const struct actor *who, char *msg, size_t len);

/* The timer that frees replaced configurations once every worker ticked. */
struct event_base;
int reload_init(struct event_base *base);
void reload_shutdown(void);

/* Refuse what this build cannot run (TLS listeners); FILE:LINE in err. */
struct config;
int reload_check_supported(const struct config *c, char *err, size_t errlen);

#endif
