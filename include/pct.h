/*
 * pct.h - percentages as the operator writes them ("5", "2.5", "12.25"):
 * digits with at most two decimals, 0..100, held as basis points (1% =
 * 100).  One parser for the admin commands, rollout steps and the state
 * file; callers add their own range or form (steps > 0, the state file's
 * exactly two decimals).
 */
#ifndef BGPROXY_PCT_H
#define BGPROXY_PCT_H

#include <stddef.h>

#define PCT_FULL_BP 10000

/*
 * s[0..len) as basis points 0..PCT_FULL_BP, or -1 when it is not digits,
 * optionally a dot and one or two digits, or above 100.  *decimals (may be
 * NULL) gets the number of digits after the dot.
 */
int pct_parse(const char *s, size_t len, int *decimals);

/* bp as the shortest form that reads back the same: "5", "2.5", "12.25". */
void pct_format(int bp, char *buf, size_t len);

#endif
