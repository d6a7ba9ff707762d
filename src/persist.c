/*
 * persist.c - the state file's format: its rules and strict parse (the
 * writing is persist_format.c; the file operations, atomic save and set
 * aside, are persist_file.c).
 *
 * The parser is strict on purpose: the file is only ever written by
 * persist_format, so anything else is damage (a torn write, a full disk, a
 * hand edit) and the caller must fall back to the configuration rather than
 * guess.  The checksum is verified before any field is looked at, so a
 * flipped byte reads as "checksum mismatch", not as a puzzling field error.
 *
 * No globals (the CRC table is constant), no logging, no allocation except
 * the read buffer of persist_load.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* strerror_r returning char *, renameat2 */
#endif

#include "errf.h"
#include "pct.h"
#include "persist.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *const persist_pools[2] = { "blue", "green" };
const char *const persist_modes[6] = {
	"idle", "manual", "running", "paused", "baking", "reverted"
};

/* CRC-32, IEEE 802.3 reflected polynomial 0xedb88320: the one zlib, gzip and
 * Python's zlib.crc32 compute, so an operator can check a file by hand. */
static const uint32_t persist_crc_table[256] = {
	0x00000000U, 0x77073096U, 0xee0e612cU, 0x990951baU, 0x076dc419U, 0x706af48fU,
	0xe963a535U, 0x9e6495a3U, 0x0edb8832U, 0x79dcb8a4U, 0xe0d5e91eU, 0x97d2d988U,
	0x09b64c2bU, 0x7eb17cbdU, 0xe7b82d07U, 0x90bf1d91U, 0x1db71064U, 0x6ab020f2U,
	0xf3b97148U, 0x84be41deU, 0x1adad47dU, 0x6ddde4ebU, 0xf4d4b551U, 0x83d385c7U,
	0x136c9856U, 0x646ba8c0U, 0xfd62f97aU, 0x8a65c9ecU, 0x14015c4fU, 0x63066cd9U,
	0xfa0f3d63U, 0x8d080df5U, 0x3b6e20c8U, 0x4c69105eU, 0xd56041e4U, 0xa2677172U,
	0x3c03e4d1U, 0x4b04d447U, 0xd20d85fdU, 0xa50ab56bU, 0x35b5a8faU, 0x42b2986cU,
	0xdbbbc9d6U, 0xacbcf940U, 0x32d86ce3U, 0x45df5c75U, 0xdcd60dcfU, 0xabd13d59U,
	0x26d930acU, 0x51de003aU, 0xc8d75180U, 0xbfd06116U, 0x21b4f4b5U, 0x56b3c423U,
	0xcfba9599U, 0xb8bda50fU, 0x2802b89eU, 0x5f058808U, 0xc60cd9b2U, 0xb10be924U,
	0x2f6f7c87U, 0x58684c11U, 0xc1611dabU, 0xb6662d3dU, 0x76dc4190U, 0x01db7106U,
	0x98d220bcU, 0xefd5102aU, 0x71b18589U, 0x06b6b51fU, 0x9fbfe4a5U, 0xe8b8d433U,
	0x7807c9a2U, 0x0f00f934U, 0x9609a88eU, 0xe10e9818U, 0x7f6a0dbbU, 0x086d3d2dU,
	0x91646c97U, 0xe6635c01U, 0x6b6b51f4U, 0x1c6c6162U, 0x856530d8U, 0xf262004eU,
	0x6c0695edU, 0x1b01a57bU, 0x8208f4c1U, 0xf50fc457U, 0x65b0d9c6U, 0x12b7e950U,
	0x8bbeb8eaU, 0xfcb9887cU, 0x62dd1ddfU, 0x15da2d49U, 0x8cd37cf3U, 0xfbd44c65U,
	0x4db26158U, 0x3ab551ceU, 0xa3bc0074U, 0xd4bb30e2U, 0x4adfa541U, 0x3dd895d7U,
	0xa4d1c46dU, 0xd3d6f4fbU, 0x4369e96aU, 0x346ed9fcU, 0xad678846U, 0xda60b8d0U,
	0x44042d73U, 0x33031de5U, 0xaa0a4c5fU, 0xdd0d7cc9U, 0x5005713cU, 0x270241aaU,
	0xbe0b1010U, 0xc90c2086U, 0x5768b525U, 0x206f85b3U, 0xb966d409U, 0xce61e49fU,
	0x5edef90eU, 0x29d9c998U, 0xb0d09822U, 0xc7d7a8b4U, 0x59b33d17U, 0x2eb40d81U,
	0xb7bd5c3bU, 0xc0ba6cadU, 0xedb88320U, 0x9abfb3b6U, 0x03b6e20cU, 0x74b1d29aU,
	0xead54739U, 0x9dd277afU, 0x04db2615U, 0x73dc1683U, 0xe3630b12U, 0x94643b84U,
	0x0d6d6a3eU, 0x7a6a5aa8U, 0xe40ecf0bU, 0x9309ff9dU, 0x0a00ae27U, 0x7d079eb1U,
	0xf00f9344U, 0x8708a3d2U, 0x1e01f268U, 0x6906c2feU, 0xf762575dU, 0x806567cbU,
	0x196c3671U, 0x6e6b06e7U, 0xfed41b76U, 0x89d32be0U, 0x10da7a5aU, 0x67dd4accU,
	0xf9b9df6fU, 0x8ebeeff9U, 0x17b7be43U, 0x60b08ed5U, 0xd6d6a3e8U, 0xa1d1937eU,
	0x38d8c2c4U, 0x4fdff252U, 0xd1bb67f1U, 0xa6bc5767U, 0x3fb506ddU, 0x48b2364bU,
	0xd80d2bdaU, 0xaf0a1b4cU, 0x36034af6U, 0x41047a60U, 0xdf60efc3U, 0xa867df55U,
	0x316e8eefU, 0x4669be79U, 0xcb61b38cU, 0xbc66831aU, 0x256fd2a0U, 0x5268e236U,
	0xcc0c7795U, 0xbb0b4703U, 0x220216b9U, 0x5505262fU, 0xc5ba3bbeU, 0xb2bd0b28U,
	0x2bb45a92U, 0x5cb36a04U, 0xc2d7ffa7U, 0xb5d0cf31U, 0x2cd99e8bU, 0x5bdeae1dU,
	0x9b64c2b0U, 0xec63f226U, 0x756aa39cU, 0x026d930aU, 0x9c0906a9U, 0xeb0e363fU,
	0x72076785U, 0x05005713U, 0x95bf4a82U, 0xe2b87a14U, 0x7bb12baeU, 0x0cb61b38U,
	0x92d28e9bU, 0xe5d5be0dU, 0x7cdcefb7U, 0x0bdbdf21U, 0x86d3d2d4U, 0xf1d4e242U,
	0x68ddb3f8U, 0x1fda836eU, 0x81be16cdU, 0xf6b9265bU, 0x6fb077e1U, 0x18b74777U,
	0x88085ae6U, 0xff0f6a70U, 0x66063bcaU, 0x11010b5cU, 0x8f659effU, 0xf862ae69U,
	0x616bffd3U, 0x166ccf45U, 0xa00ae278U, 0xd70dd2eeU, 0x4e048354U, 0x3903b3c2U,
	0xa7672661U, 0xd06016f7U, 0x4969474dU, 0x3e6e77dbU, 0xaed16a4aU, 0xd9d65adcU,
	0x40df0b66U, 0x37d83bf0U, 0xa9bcae53U, 0xdebb9ec5U, 0x47b2cf7fU, 0x30b5ffe9U,
	0xbdbdf21cU, 0xcabac28aU, 0x53b39330U, 0x24b4a3a6U, 0xbad03605U, 0xcdd70693U,
	0x54de5729U, 0x23d967bfU, 0xb3667a2eU, 0xc4614ab8U, 0x5d681b02U, 0x2a6f2b94U,
	0xb40bbe37U, 0xc30c8ea1U, 0x5a05df1bU, 0x2d02ef8dU,
};

uint32_t
persist_crc32(const char *buf, size_t len)
{
	uint32_t c = 0xffffffffU;
	size_t i;

	for (i = 0; i < len; i++)
		c = persist_crc_table[(c ^ (unsigned char)buf[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffU;
}

static int
persist_is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* 1 when s is not a NUL-terminated string of at most cap - 1 bytes
 * without control characters. */
static int
persist_text_bad(const char *s, size_t cap)
{
	size_t i, n = strnlen(s, cap);

	if (n == cap)
		return 1;
	for (i = 0; i < n; i++)
		if (persist_is_ctl((unsigned char)s[i]))
			return 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Consistency: one function, so format, save and parse agree.         */

static int
persist_check_rollout(const struct split_state *st, char *why, size_t whylen)
{
	size_t i;

	if ((int)st->rollout_pool != 0 && (int)st->rollout_pool != 1)
		return errf(why, whylen, "rollout pool %d is not 0 or 1", st->rollout_pool);
	if (st->nsteps < 1 || st->nsteps > SPLIT_MAX_STEPS)
		return errf(why, whylen, "%zu rollout steps, want 1..%d", st->nsteps,
		    SPLIT_MAX_STEPS);
	for (i = 0; i < st->nsteps; i++) {
		int prev = i ? st->steps_bp[i - 1] : 0;

		if (st->steps_bp[i] <= prev || st->steps_bp[i] > 10000)
			return errf(why, whylen, "rollout steps must increase strictly "
			    "within 0.01..100");
	}
	if (st->steps_bp[st->nsteps - 1] != 10000)
		return errf(why, whylen, "the last rollout step must be 100");
	if (st->step < 0 || (size_t)st->step >= st->nsteps)
		return errf(why, whylen, "step index %d out of range (%zu steps)",
		    st->step, st->nsteps);
	if (st->hold_s < 0 || st->hold_s > 86400)
		return errf(why, whylen, "hold %d out of range 0..86400", st->hold_s);
	if (st->mode == MODE_IDLE)
		return errf(why, whylen, "mode idle with a rollout");
	if (st->shadow_bp != 0 && (st->shadow_bp < 0 || st->shadow_bp > 10000 || st->step != 0 ||
	    st->candidate_bp != 0 || (st->mode != MODE_RUNNING && st->mode != MODE_PAUSED)))
		return errf(why, whylen, "a shadow phase (%d) is at step 0, running or paused, "
		    "with the candidate at 0%%", st->shadow_bp);
	return 0;
}

int
persist_check(const struct split_state *st, char *why, size_t whylen)
{
	size_t i, n = strnlen(st->last_revert, sizeof st->last_revert);

	if ((int)st->stable != 0 && (int)st->stable != 1)
		return errf(why, whylen, "stable pool %d is not 0 or 1", st->stable);
	if (st->candidate_bp < 0 || st->candidate_bp > 10000)
		return errf(why, whylen, "candidate share %d out of range 0..10000",
		    st->candidate_bp);
	if (st->mode < MODE_IDLE || st->mode > MODE_REVERTED)
		return errf(why, whylen, "unknown mode %d", st->mode);
	if (n == sizeof st->last_revert)
		return errf(why, whylen, "last_revert is not NUL-terminated");
	for (i = 0; i < n; i++)
		if (persist_is_ctl((unsigned char)st->last_revert[i]))
			return errf(why, whylen, "last_revert has a control character");
	if (st->revert_time_ms != 0 && (st->revert_time_ms < 0 ||
	    st->revert_time_ms > 999999999999999LL || st->revert_step < -1 ||
	    st->revert_step >= SPLIT_MAX_STEPS ||
	    persist_text_bad(st->revert_actor, sizeof st->revert_actor) ||
	    persist_text_bad(st->revert_reason, sizeof st->revert_reason)))
		return errf(why, whylen, "bad revert detail");
	if ((st->mode == MODE_IDLE || st->mode == MODE_REVERTED) && st->candidate_bp != 0)
		return errf(why, whylen, "mode %s with the candidate at %d.%02d%%",
		    persist_modes[st->mode], st->candidate_bp / 100, st->candidate_bp % 100);
	if (st->has_rollout != 0 && st->has_rollout != 1)
		return errf(why, whylen, "has_rollout %d is not 0 or 1", st->has_rollout);
	if (!st->has_rollout && (st->mode == MODE_RUNNING || st->mode == MODE_PAUSED))
		return errf(why, whylen, "mode %s without a rollout",
		    persist_modes[st->mode]);
	return st->has_rollout ? persist_check_rollout(st, why, whylen) : 0;
}

/* ------------------------------------------------------------------ */
/* Parsing: a cursor over one line [p, e).                             */

struct persist_lex {
	const char *p, *e;      /* the rest of the current line, without '\n' */
	int line;
	char *err;
	size_t errlen;
	int paused;             /* the rollout line's "paused" word */
};

/* Quote bytes for an error message: printable as is, others as \xNN, cut at 40. */
static void
persist_quote(const char *s, size_t n, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < n && i < 40 && o + 5 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (persist_is_ctl(c) || c >= 0x80 || c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	if (i < n && o + 4 < outlen)
		o += (size_t)snprintf(out + o, outlen - o, "...");
	out[o] = '\0';
}

/* "line N: <what> \"<token>\"<tail>" and -1, for the token [s, s+n). */
static int
persist_bad(struct persist_lex *lx, const char *what, const char *s, size_t n, const char *tail)
{
	char q[208];

	persist_quote(s, n, q, sizeof q);
	errf(lx->err, lx->errlen, "line %d: %s \"%s\"%s", lx->line, what, q, tail);
	return -1;
}

/* The next word: up to a space or the end of the line. */
static size_t
persist_word(const struct persist_lex *lx)
{
	const char *q = lx->p;

	while (q < lx->e && *q != ' ')
		q++;
	return (size_t)(q - lx->p);
}

/* Consume exactly lit (e.g. " step ") or fail naming what was expected. */
static int
persist_expect(struct persist_lex *lx, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(lx->e - lx->p) >= n && memcmp(lx->p, lit, n) == 0) {
		lx->p += n;
		return 0;
	}
	return errf(lx->err, lx->errlen, "line %d: expected \"%s\"", lx->line, lit);
}

/* Index of the word in names[] and consume it, or -1 with "unknown <what>". */
static int
persist_name(struct persist_lex *lx, const char *const *names, size_t nnames, const char *what)
{
	size_t i, n = persist_word(lx);

	for (i = 0; i < nnames; i++) {
		if (strlen(names[i]) == n && memcmp(names[i], lx->p, n) == 0) {
			lx->p += n;
			return (int)i;
		}
	}
	return persist_bad(lx, what, lx->p, n, "");
}

/* Digits without a leading zero (except "0"), value <= max; advances lx->p. */
static int
persist_uint(struct persist_lex *lx, long max, long *v)
{
	const char *s = lx->p;
	long x = 0;

	while (lx->p < lx->e && *lx->p >= '0' && *lx->p <= '9') {
		x = x * 10 + (*lx->p - '0');
		lx->p++;
		if (x > max)
			return -1;
	}
	if (lx->p == s || (s[0] == '0' && lx->p - s > 1))
		return -1;
	*v = x;
	return 0;
}

/*
 * A percentage 0..100 with exactly two decimals (exact2) or with none, one
 * or two (steps); stored as basis points.  Advances lx->p; -1 on any fault.
 */
static int
persist_pct(struct persist_lex *lx, int exact2, int *bp)
{
	const char *s = lx->p;
	int decimals;

	while (lx->p < lx->e && ((*lx->p >= '0' && *lx->p <= '9') || *lx->p == '.'))
		lx->p++;
	/* the file is written by us: the canonical form only ("05" never) */
	if (lx->p - s > 1 && s[0] == '0' && s[1] != '.')
		return -1;
	if ((*bp = pct_parse(s, (size_t)(lx->p - s), &decimals)) == -1)
		return -1;
	return exact2 && decimals != 2 ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* One function per line, in file order; each consumes its whole line. */

typedef int (*persist_line_fn)(struct persist_lex *, struct split_state *);

static int
persist_l_header(struct persist_lex *lx, struct split_state *st)
{
	(void)st;
	if ((size_t)(lx->e - lx->p) != strlen(PERSIST_HEADER) ||
	    memcmp(lx->p, PERSIST_HEADER, strlen(PERSIST_HEADER)) != 0)
		return persist_bad(lx, "not a bgproxy state file: first line is",
		    lx->p, (size_t)(lx->e - lx->p), "");
	lx->p = lx->e;
	return 0;
}

static int
persist_l_version(struct persist_lex *lx, struct split_state *st)
{
	(void)st;
	if (lx->e - lx->p != 1 || *lx->p != '1')
		return persist_bad(lx, "unsupported version", lx->p, (size_t)(lx->e - lx->p),
		    " (this bgproxy reads version 1)");
	lx->p = lx->e;
	return 0;
}

static int
persist_l_stable(struct persist_lex *lx, struct split_state *st)
{
	int p = persist_name(lx, persist_pools, 2, "unknown pool");

	if (p == -1)
		return -1;
	st->stable = (enum pool_id)p;
	return 0;
}

static int
persist_l_percent(struct persist_lex *lx, struct split_state *st)
{
	const char *s = lx->p;

	if (persist_pct(lx, 1, &st->candidate_bp) == -1 || lx->p != lx->e)
		return persist_bad(lx, "bad candidate_percent", s, (size_t)(lx->e - s),
		    " (want 0.00..100.00 with exactly two decimals)");
	return 0;
}

static int
persist_l_mode(struct persist_lex *lx, struct split_state *st)
{
	int m = persist_name(lx, persist_modes, 6, "unknown mode");

	if (m == -1)
		return -1;
	st->mode = (enum split_mode)m;
	return 0;
}

/* A quoted string (only \" and \\ escapes, no control characters) into
 * buf of cap bytes; what names the field in errors. */
static int
persist_qstring(struct persist_lex *lx, char *buf, size_t cap, const char *what)
{
	size_t n = 0;

	if (persist_expect(lx, "\"") == -1)
		return -1;
	while (lx->p < lx->e && *lx->p != '"') {
		unsigned char c = (unsigned char)*lx->p++;
		char msg[64];

		if (c == '\\') {
			if (lx->p == lx->e || (*lx->p != '"' && *lx->p != '\\')) {
				snprintf(msg, sizeof msg, "bad escape in %s", what);
				return persist_bad(lx, msg, lx->p - 1, lx->p < lx->e ? 2 : 1,
				    " (only \\\" and \\\\)");
			}
			c = (unsigned char)*lx->p++;
		} else if (persist_is_ctl(c)) {
			snprintf(msg, sizeof msg, "control character in %s", what);
			return persist_bad(lx, msg, lx->p - 1, 1, "");
		}
		if (n == cap - 1)
			return errf(lx->err, lx->errlen, "line %d: %s longer than %zu bytes",
			    lx->line, what, cap - 1);
		buf[n++] = (char)c;
	}
	if (lx->p == lx->e)
		return errf(lx->err, lx->errlen, "line %d: unterminated %s string", lx->line,
		    what);
	lx->p++;
	buf[n] = '\0';
	return 0;
}

/* "-" or a quoted string. */
static int
persist_l_revert(struct persist_lex *lx, struct split_state *st)
{
	if (lx->e - lx->p == 1 && *lx->p == '-') {
		lx->p = lx->e;
		return 0;
	}
	if (persist_qstring(lx, st->last_revert, sizeof st->last_revert, "last_revert") == -1)
		return -1;
	if (st->last_revert[0] == '\0')
		return errf(lx->err, lx->errlen, "line %d: empty last_revert "
		    "(no reason is written -)", lx->line);
	return 0;
}

static int
persist_steps(struct persist_lex *lx, struct split_state *st)
{
	const char *s = lx->p;
	size_t n = persist_word(lx);
	int bp;

	st->nsteps = 0;
	for (;;) {
		if (st->nsteps == SPLIT_MAX_STEPS || persist_pct(lx, 0, &bp) == -1 ||
		    bp <= (st->nsteps ? st->steps_bp[st->nsteps - 1] : 0))
			break;
		st->steps_bp[st->nsteps++] = bp;
		if (lx->p == s + n && bp == 10000)
			return 0;
		if (lx->p == s + n || *lx->p != ',')
			break;
		lx->p++;
	}
	return persist_bad(lx, "bad steps", s, n, " (want at most 32 strictly increasing "
	    "percentages, up to two decimals, ending at 100)");
}

static int
persist_l_rollout(struct persist_lex *lx, struct split_state *st)
{
	const char *s;
	int pool;
	long v;

	if (lx->e - lx->p == 1 && *lx->p == '-') {
		lx->p = lx->e;
		return 0;
	}
	st->has_rollout = 1;
	if ((pool = persist_name(lx, persist_pools, 2, "unknown pool")) == -1 ||
	    persist_expect(lx, " steps ") == -1)
		return -1;
	st->rollout_pool = (enum pool_id)pool;
	if (persist_steps(lx, st) == -1 || persist_expect(lx, " step ") == -1)
		return -1;
	s = lx->p;
	if (persist_uint(lx, SPLIT_MAX_STEPS, &v) == -1 || (size_t)v >= st->nsteps)
		return persist_bad(lx, "step index", s, persist_word(lx) + (size_t)(lx->p - s),
		    " out of range");
	st->step = (int)v;
	if (persist_expect(lx, " hold ") == -1)
		return -1;
	s = lx->p;
	if (persist_uint(lx, 86400, &v) == -1)
		return persist_bad(lx, "bad hold", s, persist_word(lx) + (size_t)(lx->p - s),
		    " (want 0..86400 seconds)");
	st->hold_s = (int)v;
	if (persist_expect(lx, " paused ") == -1)
		return -1;
	s = lx->p;
	if (persist_uint(lx, 1, &v) == -1)
		return persist_bad(lx, "bad paused", s, persist_word(lx) + (size_t)(lx->p - s),
		    " (want 0 or 1)");
	lx->paused = (int)v;
	/* a shadow phase: its share (files from before it lack the words) */
	if (lx->e - lx->p > 8 && memcmp(lx->p, " shadow ", 8) == 0) {
		lx->p += 8;
		s = lx->p;
		if (persist_pct(lx, 0, &st->shadow_bp) == -1 || st->shadow_bp <= 0)
			return persist_bad(lx, "bad shadow", s, persist_word(lx) +
			    (size_t)(lx->p - s), " (want a percentage 0.01..100)");
	}
	return 0;
}

static const struct {
	const char *key;        /* NULL: the line has no key (the header) */
	persist_line_fn fn;
} persist_lines[] = {
	{ NULL, persist_l_header },
	{ "version", persist_l_version },
	{ "stable", persist_l_stable },
	{ "candidate_percent", persist_l_percent },
	{ "mode", persist_l_mode },
	{ "last_revert", persist_l_revert },
	{ "rollout", persist_l_rollout },
};
#define PERSIST_NLINES (sizeof persist_lines / sizeof persist_lines[0])

/* Match "key " at the start of the line; explain an unknown or misplaced key. */
static int
persist_key(struct persist_lex *lx, size_t idx)
{
	const char *key = persist_lines[idx].key;
	size_t i, n = persist_word(lx), kn = strlen(key);
	char tail[64];

	if (n == kn && memcmp(lx->p, key, kn) == 0 && lx->p + n < lx->e) {
		lx->p += n + 1;
		return 0;
	}
	if (n == kn && memcmp(lx->p, key, kn) == 0)
		return errf(lx->err, lx->errlen, "line %d: %s has no value",
		    lx->line, key);
	for (i = 1; i < PERSIST_NLINES; i++)
		if (strlen(persist_lines[i].key) == n && memcmp(lx->p, persist_lines[i].key, n) == 0)
			break;
	snprintf(tail, sizeof tail, " (expected \"%s\")", key);
	return persist_bad(lx, i < PERSIST_NLINES ? "out of order key" : "unknown key",
	    lx->p, n, tail);
}

/* The optional revert_detail line: MS STEP1 "ACTOR" "REASON". */
static int
persist_detail(struct persist_lex *lx, const char *end, struct split_state *st)
{
	static const char kw[] = "revert_detail ";
	const char *q = lx->e + 1, *qe = memchr(q, '\n', (size_t)(end - q));
	long ms, step;

	if (qe == NULL || (size_t)(qe - q) <= sizeof(kw) - 1 || memcmp(q, kw, sizeof(kw) - 1) != 0)
		return 0;
	lx->line++;
	lx->p = q + sizeof(kw) - 1;
	lx->e = qe;
	if (persist_uint(lx, 999999999999999L, &ms) == -1 || ms == 0 ||
	    persist_expect(lx, " ") == -1 || persist_uint(lx, SPLIT_MAX_STEPS, &step) == -1 ||
	    persist_expect(lx, " ") == -1)
		return persist_bad(lx, "bad revert_detail", q + sizeof(kw) - 1,
		    (size_t)(qe - q) - (sizeof(kw) - 1), " (want MS STEP \"ACTOR\" \"REASON\")");
	if (persist_qstring(lx, st->revert_actor, sizeof st->revert_actor, "revert actor") == -1 ||
	    persist_expect(lx, " ") == -1 ||
	    persist_qstring(lx, st->revert_reason, sizeof st->revert_reason, "revert reason") == -1)
		return -1;
	if (lx->p != lx->e)
		return persist_bad(lx, "unexpected", lx->p, (size_t)(lx->e - lx->p),
		    " at the end of the line");
	st->revert_time_ms = ms;
	st->revert_step = (int)step - 1;
	return 0;
}

/* Parse the checksummed content [buf, buf+len), every line ending in '\n'. */
static int
persist_content(const char *buf, size_t len, struct split_state *st, char *err, size_t errlen)
{
	struct persist_lex lx = { buf, buf, 0, err, errlen, 0 };
	const char *end = buf + len;
	size_t i;

	for (i = 0; i < PERSIST_NLINES; i++) {
		lx.p = i == 0 ? buf : lx.e + 1;
		lx.e = memchr(lx.p, '\n', (size_t)(end - lx.p));
		if (lx.e == NULL)   /* the content ends early: every content line ends in '\n' */
			return errf(err, errlen, "truncated: no %s line",
			    persist_lines[i].key ? persist_lines[i].key : "header");
		lx.line = (int)i + 1;
		if (persist_lines[i].key != NULL && persist_key(&lx, i) == -1)
			return -1;
		if (persist_lines[i].fn(&lx, st) == -1)
			return -1;
		if (lx.p != lx.e)
			return persist_bad(&lx, "unexpected", lx.p, (size_t)(lx.e - lx.p),
			    " at the end of the line");
	}
	/* the optional line(s) after rollout */
	if (lx.e + 1 != end) {
		const char *q = lx.e + 1, *qe = memchr(q, '\n', (size_t)(end - q));
		static const char kw[] = "split_version ";
		long v;

		if (qe != NULL && (size_t)(qe - q) > sizeof(kw) - 1 &&
		    memcmp(q, kw, sizeof(kw) - 1) == 0) {
			lx.line++;
			lx.p = q + sizeof(kw) - 1;
			lx.e = qe;
			if (persist_uint(&lx, 999999999999999L, &v) == -1 || lx.p != lx.e)
				return persist_bad(&lx, "bad split_version", q + sizeof(kw) - 1,
				    (size_t)(qe - q) - (sizeof(kw) - 1), " (want 0..10^15)");
			st->version = (unsigned long long)v;
		}
	}
	if (lx.e + 1 != end && persist_detail(&lx, end, st) == -1)
		return -1;
	/* the word says what the mode says (a file that disagrees was edited) */
	if (st->has_rollout && lx.paused != (st->mode == MODE_PAUSED))
		return errf(err, errlen, "inconsistent state: rollout paused %d with mode %s",
		    lx.paused, persist_modes[st->mode]);
	if (lx.e + 1 != end) {
		lx.line++;
		lx.p = lx.e + 1;
		lx.e = memchr(lx.p, '\n', (size_t)(end - lx.p));
		return persist_bad(&lx, "unknown key", lx.p, persist_word(&lx),
		    " (the checksum line must follow rollout)");
	}
	return 0;
}

/* Bytes no line may hold; found first, with their line, because a NUL or a
 * CRLF conversion is the likeliest damage and deserves a plain message. */
static int
persist_scan(const char *buf, size_t len, char *err, size_t errlen)
{
	size_t i;
	int line = 1;

	for (i = 0; i < len; i++) {
		if (buf[i] == '\n')
			line++;
		else if (buf[i] == '\0')
			return errf(err, errlen, "line %d: NUL byte", line);
		else if (buf[i] == '\r')
			return errf(err, errlen, "line %d: carriage return (CRLF line "
			    "endings are not allowed)", line);
	}
	return 0;
}

static int
persist_line_of(const char *buf, const char *at)
{
	int line = 1;

	for (; buf < at; buf++)
		line += *buf == '\n';
	return line;
}

/*
 * Find the checksum line, which must be the last line, and verify it.
 * Returns the length of the checksummed content, or -1 with err.
 */
static long
persist_verify(const char *buf, size_t len, char *err, size_t errlen)
{
	const char *end = buf + len, *ls = end - 1, *h, *nl;
	char q[64];
	uint32_t want = 0, got;
	int i;

	while (ls > buf && ls[-1] != '\n')
		ls--;
	if (end[-1] != '\n' || (size_t)(end - ls) < 9 || memcmp(ls, "checksum ", 9) != 0) {
		for (h = buf; (nl = memchr(h, '\n', (size_t)(end - h))) != NULL; h = nl + 1)
			if (nl - h >= 9 && memcmp(h, "checksum ", 9) == 0)
				return errf(err, errlen, "line %d: trailing data after the "
				    "checksum line", persist_line_of(buf, h) + 1);
		if (end[-1] != '\n' && (size_t)(end - ls) >= 8 && memcmp(ls, "checksum", 8) == 0)
			return errf(err, errlen, "truncated: the checksum line has no "
			    "newline");
		return errf(err, errlen, "truncated: no checksum line");
	}
	h = ls + 9;
	for (i = 0; i < 8 && h + i < end - 1; i++) {
		char c = h[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			break;
		want = want << 4 | (uint32_t)(c <= '9' ? c - '0' : c - 'a' + 10);
	}
	if (i != 8 || h + 8 != end - 1) {
		persist_quote(h, (size_t)(end - 1 - h), q, sizeof q);
		return errf(err, errlen, "line %d: bad checksum \"%s\" (want 8 "
		    "lower-case hex digits)", persist_line_of(buf, ls), q);
	}
	got = persist_crc32(buf, (size_t)(ls - buf));
	if (got != want)
		return errf(err, errlen, "checksum mismatch (file says %08x, content "
		    "gives %08x)", (unsigned)want, (unsigned)got);
	return (long)(ls - buf);
}

int
persist_parse(const char *buf, size_t len, struct split_state *st, char *err, size_t errlen)
{
	struct split_state tmp;
	char why[256];
	long n;

	if (len == 0)
		return errf(err, errlen, "empty file");
	if (len > PERSIST_MAX_FILE)
		return errf(err, errlen, "file too large (%zu bytes, at most %d)",
		    len, PERSIST_MAX_FILE);
	if (persist_scan(buf, len, err, errlen) == -1 ||
	    (n = persist_verify(buf, len, err, errlen)) == -1)
		return -1;
	memset(&tmp, 0, sizeof tmp);
	if (persist_content(buf, (size_t)n, &tmp, err, errlen) == -1)
		return -1;
	if (persist_check(&tmp, why, sizeof why) == -1)
		return errf(err, errlen, "inconsistent state: %s", why);
	*st = tmp;
	return 0;
}
