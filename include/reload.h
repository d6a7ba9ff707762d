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

/* TLS contexts of every TLS listener of c: load them all (sets[i] per
 * listener, NULL for plain ones; -1 with FILE:LINE in err and nothing kept
 * when one fails), publish them (the control thread; replaced sets are
 * freed once every worker ticked), and free them all at exit. */
struct config;
struct tls_ctxset;
int reload_tls_prepare(const struct config *c, struct tls_ctxset **sets, char *err,
    size_t errlen);
void reload_tls_publish(const struct config *c, struct tls_ctxset **sets);
void reload_tls_free_all(void);

#endif
