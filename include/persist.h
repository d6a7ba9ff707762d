/*
 * persist.h - the state file that survives a restart (CONTRACT.md section 6).
 *
 * A small line-based text file a human can read and a checksum that catches
 * a torn or hand-edited file:
 *
 *   # bgproxy state; written by bgproxy, do not edit while it runs
 *   version 1
 *   stable blue
 *   candidate_percent 5.00
 *   mode manual
 *   last_revert "error_rate 0.62 > 0.05 over 10s, n=143"     (or: last_revert -)
 *   rollout green steps 1,5,10,25,50,100 step 1 hold 60 paused 0   (or: rollout -)
 *                                    (in a shadow phase the line ends in
 *                                    " shadow 10": the copied share, step 0)
 *   split_version 42                 (optional: files of 0.1.0 before it lack it)
 *   revert_detail 1764680000123 2 "guard" "error_rate 0.62 > 0.05 over 10s, n=143"
 *                                    (optional, after a revert: when in ms, the
 *                                    rollout step 1-based or 0, who, the reason)
 *   checksum 3a1f09c2
 *
 * The checksum is the CRC-32 (IEEE 802.3, as zlib and `gzip` compute it) of
 * every byte before the checksum line, as 8 lower-case hex digits.
 *
 * Every function is thread-safe and keeps no global state; none logs: errors
 * come back in err (always NUL-terminated when errlen > 0).
 */
#ifndef BGPROXY_PERSIST_H
#define BGPROXY_PERSIST_H

#include <stddef.h>
#include <stdint.h>
#include "split.h"

#define PERSIST_MAX_FILE  65536         /* a larger file is corrupt by definition */

/*
 * The record is struct split_state (split.h).  Consistency rules, checked by
 * persist_save, persist_format and persist_parse: idle and reverted have
 * candidate_bp 0; running and paused need a rollout; idle has none; a
 * shadow phase is at step 0, running or paused, the candidate at 0%; the
 * file's "paused" word is 1 exactly when mode is paused.  Without a rollout
 * the rollout_* / steps / step / hold_s fields are ignored on write and
 * zero after a parse.
 */

/*
 * Write st to path atomically: a temporary file in the same directory
 * (path + ".tmp.<pid>"), write, fsync, rename over path, fsync the directory.
 * Returns 0 or -1 with err filled; the old file is then untouched, except when
 * only the final directory fsync failed (err says so: the new file is in place
 * but may not survive a power cut).  Two threads must not save the same path at
 * once (they would share the temporary name); state.c is the only writer.
 */
int persist_save(const char *path, const struct split_state *st, char *err, size_t errlen);

/* Any bytes to path the same way (a temporary file, fsync, rename, fsync
 * the directory): 0, or -1 with err. */
int persist_save_text(const char *path, const char *buf, size_t len, char *err, size_t errlen);

/*
 * Read path.  Returns 0 and fills st; 1 when the file does not exist (st
 * untouched); -1 when it exists but is unreadable or corrupt (st untouched,
 * err says why and where, prefixed with the path).
 */
int persist_load(const char *path, struct split_state *st, char *err, size_t errlen);

/*
 * Parse a state file's bytes (what persist_load uses; exposed for tests and
 * fuzzing).  buf need not be NUL-terminated.  Returns 0 and fills st, or -1
 * with err ("line 4: unknown mode \"foo\"") and st untouched.
 */
int persist_parse(const char *buf, size_t len, struct split_state *st, char *err, size_t errlen);

/*
 * Format st into buf (what persist_save writes), NUL-terminated.  Returns the
 * length without the NUL, or -1 if it does not fit in cap or st breaks a rule
 * above (a file we could not read back must never be written).
 */
int persist_format(const struct split_state *st, char *buf, size_t cap);

/* 0 when st may be written and read back, else -1 with why. */
int persist_check(const struct split_state *st, char *why, size_t whylen);

/* The file's first line, its words for the pools and modes, and its
 * checksum (CRC-32 as zlib computes it, so a file can be checked by hand):
 * what persist_format writes and persist_parse reads. */
#define PERSIST_HEADER "# bgproxy state; written by bgproxy, do not edit while it runs"
extern const char *const persist_pools[2];
extern const char *const persist_modes[6];
uint32_t persist_crc32(const char *buf, size_t len);

/* ---- with a services list: every service's split in one file
 * (persist_svcs.c) ---- */

#define PERSIST_SVCS_HEADER "# bgproxy services state; written by bgproxy, do not edit while it runs"
#define PERSIST_MAX_SVCS_FILE (32 * 1024 * 1024)
#define PERSIST_SVC_NAME_MAX 64

struct persist_svc {
	char name[PERSIST_SVC_NAME_MAX + 1];  /* "": the file of one service */
	struct split_state st;
};

/* The file's bytes for n services (a new *out), or -1 with err. */
int persist_svcs_format(const struct persist_svc *v, size_t n, char **out, size_t *outlen,
    char *err, size_t errlen);

/* A services file's bytes into a new array (*out, *nout), or -1 with err
 * and nothing kept. */
int persist_svcs_parse(const char *buf, size_t len, struct persist_svc **out, size_t *nout,
    char *err, size_t errlen);

/* Read path, either kind of state file (one of one service gives one
 * record named ""): 0, 1 when there is none, -1 when it is corrupt (err
 * prefixed with the path). */
int persist_svcs_load(const char *path, struct persist_svc **out, size_t *nout, char *err,
    size_t errlen);

/* Write n services' splits to path atomically (as persist_save). */
int persist_svcs_save(const char *path, const struct persist_svc *v, size_t n, char *err,
    size_t errlen);

/*
 * Move a corrupt file aside to "<path>.corrupt.<UTC YYYYmmddTHHMMSSZ>" (adding
 * ".1", ".2"... if taken, never overwriting); writes the new name into aside.
 * Returns 0 or -1 with err.
 */
int persist_set_aside(const char *path, char *aside, size_t asidelen, char *err, size_t errlen);

#endif
