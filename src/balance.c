/*
 * balance.c - smooth weighted round-robin.
 */
#include "balance.h"

int
balance_pick(int *current, const int *weight, const unsigned char *usable, size_t n)
{
	int best = -1, total = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!usable[i] || weight[i] <= 0)
			continue;
		current[i] += weight[i];
		total += weight[i];
		if (best == -1 || current[i] > current[best])
			best = (int)i;
	}
	if (best != -1)
		current[best] -= total;
	return best;
}
