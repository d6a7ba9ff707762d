/*
 * health_count.c - rise/fall counting (see health_count.h).
 */
#include "health_count.h"

enum health_flip
health_count(struct health_count *c, int down, int ok, int rise, int fall)
{
	if (ok) {
		c->passes++;
		c->fails = 0;
		return down && c->passes >= rise ? HEALTH_UP : HEALTH_SAME;
	}
	c->fails++;
	c->passes = 0;
	return !down && c->fails >= fall ? HEALTH_DOWN : HEALTH_SAME;
}
