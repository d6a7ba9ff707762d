/*
 * judge_file.h - the sequential guard's evidence kept across a restart
 * (STATE_FILE.judge), so that the bound on a false trip holds over the
 * whole rollout and not per process.
 *
 * One JSON object: {"layout": JUDGE_FILE_LAYOUT, "size": sizeof(struct
 * judge), "cand": "green", "step_key": N, "judge": "<hex of the struct>"}.
 * A file of another layout or size (another build), or one whose numbers
 * are not a judge's (judge_valid), is refused: the judge then starts again.
 */
#ifndef BGPROXY_JUDGE_FILE_H
#define BGPROXY_JUDGE_FILE_H

#include <stddef.h>

#include "judge.h"

#define JUDGE_FILE_LAYOUT 2

/* Atomically; 0 or -1 with err. */
int judge_file_save(const char *path, const struct judge *j, int cand, long long step_key,
    char *err, size_t errlen);

/* 0: loaded; 1: no file; -1: a file that is not usable (err says why). */
int judge_file_load(const char *path, struct judge *j, int *cand, long long *step_key,
    char *err, size_t errlen);

/* The parse alone, of a file's text (the fuzzer's entry). */
int judge_file_parse(const char *text, size_t len, struct judge *j, int *cand,
    long long *step_key, char *err, size_t errlen);

#endif
