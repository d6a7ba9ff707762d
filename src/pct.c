/*
 * pct.c - percentages in basis points (see pct.h).
 */
#include <stdio.h>

#include "pct.h"

int
pct_parse(const char *s, size_t len, int *decimals)
{
	int whole = 0, frac = 0, nw = 0, nf = 0;
	size_t i = 0;

	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, nw++) {
		whole = whole * 10 + (s[i] - '0');
		if (whole > 100)
			return -1;	/* also keeps long strings from overflowing */
	}
	if (nw == 0)
		return -1;
	if (i < len && s[i] == '.') {
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, nf++) {
			if (nf == 2)
				return -1;
			frac = frac * 10 + (s[i] - '0');
		}
		if (nf == 0)
			return -1;
	}
	if (i != len)
		return -1;
	if (nf == 1)
		frac *= 10;		/* "2.5" is 250 basis points */
	if (whole * 100 + frac > PCT_FULL_BP)
		return -1;
	if (decimals != NULL)
		*decimals = nf;
	return whole * 100 + frac;
}

void
pct_format(int bp, char *buf, size_t len)
{
	if (bp % 100 == 0)
		snprintf(buf, len, "%d", bp / 100);
	else if (bp % 10 == 0)
		snprintf(buf, len, "%d.%d", bp / 100, bp % 100 / 10);
	else
		snprintf(buf, len, "%d.%02d", bp / 100, bp % 100);
}
