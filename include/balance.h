/*
 * balance.h - which server in a pool: smooth weighted round-robin (the
 * interleaving nginx uses: weights 5,1,1 give a a b a c a a, not a a a a a
 * b c) over the servers that may take requests.  Pure; the state is the
 * caller's, one per worker thread so no lock is needed.
 */
#ifndef BGPROXY_BALANCE_H
#define BGPROXY_BALANCE_H

#include <stddef.h>

/*
 * Pick among n servers: weight[i] > 0 and usable[i] != 0 are candidates.
 * current[] (n entries, zero at start) is the running state.  Returns the
 * index picked or -1 when no server is usable.
 */
int balance_pick(int *current, const int *weight, const unsigned char *usable, size_t n);

#endif
