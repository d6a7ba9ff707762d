/* Unit tests for judge_file.c: the judge's evidence written and read back,
 * and every way a file is refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "judge_file.h"
#include "test.h"

static char path[64];

/* a judge that has seen something */
static void
fed(struct judge *j)
{
	struct judge_policy p = { .alpha = 0.01, .max_error_rate = 0.05, .max_error_ratio = 1.5,
	    .max_error_delta = 0.02 };
	struct judge_counts c = { .requests = 25, .errors = 1 }, s = { .requests = 475, .errors = 4 };
	int i;

	judge_init(j);
	for (i = 0; i < 300; i++)
		judge_feed(j, &p, &c, &s);
	judge_step(j);
	judge_feed(j, &p, &c, &s);
}

TEST(test_round_trip)
{
	struct judge a, b;
	char err[256];
	long long key = 0;
	int cand = -1;

	fed(&a);
	CHECK(judge_valid(&a));
	CHECK_EQ_INT(judge_file_save(path, &a, 1, 1234567890123LL, err, sizeof(err)), 0);
	memset(&b, 0, sizeof(b));
	CHECK_EQ_INT(judge_file_load(path, &b, &cand, &key, err, sizeof(err)), 0);
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	CHECK_EQ_INT(cand, 1);
	CHECK(key == 1234567890123LL);
	unlink(path);
	CHECK_EQ_INT(judge_file_load(path, &b, &cand, &key, err, sizeof(err)), 1);
}

static int
parse(const char *text)
{
	struct judge j;
	char err[256];
	long long key;
	int cand;

	return judge_file_parse(text, strlen(text), &j, &cand, &key, err, sizeof(err));
}

/* a text saved from a, with one change made to it */
static char *
saved(const struct judge *a, const char *from, const char *to)
{
	static char buf[1 << 20];
	char err[256], *at;
	FILE *f;
	size_t n;

	judge_file_save(path, a, 0, 7, err, sizeof(err));
	f = fopen(path, "r");
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (from != NULL && (at = strstr(buf, from)) != NULL) {
		memmove(at + strlen(to), at + strlen(from), strlen(at + strlen(from)) + 1);
		memcpy(at, to, strlen(to));
	}
	return buf;
}

TEST(test_refused)
{
	struct judge a;

	fed(&a);
	CHECK_EQ_INT(parse(saved(&a, NULL, NULL)), 0);
	CHECK_EQ_INT(parse("not json"), -1);
	CHECK_EQ_INT(parse("{}"), -1);
	CHECK_EQ_INT(parse(saved(&a, "\"layout\":2", "\"layout\":3")), -1);
	CHECK_EQ_INT(parse(saved(&a, "\"cand\":\"blue\"", "\"cand\":\"red\"")), -1);
	CHECK_EQ_INT(parse(saved(&a, "\"judge\":\"", "\"judge\":\"zz")), -1);
	CHECK_EQ_INT(parse(saved(&a, "\"judge\":\"", "\"judge\":\"0")), -1);  /* odd length */
	/* a NaN where a wealth should be: the numbers are not a judge's */
	a.t[JUDGE_ERROR_RATE].beyond.lw[0][0] = NAN;
	CHECK(!judge_valid(&a));
	CHECK_EQ_INT(parse(saved(&a, NULL, NULL)), -1);
	fed(&a);
	a.t[JUDGE_ERROR_RATIO].verdict = 7;
	CHECK_EQ_INT(parse(saved(&a, NULL, NULL)), -1);
	fed(&a);
	a.stable_lo = 0.5;
	a.stable_hi = 0.1;
	CHECK_EQ_INT(parse(saved(&a, NULL, NULL)), -1);
	fed(&a);
	a.t[JUDGE_P99].within.k = a.t[JUDGE_P99].within.n + 1;
	CHECK_EQ_INT(parse(saved(&a, NULL, NULL)), -1);
	unlink(path);
}

int
main(void)
{
	snprintf(path, sizeof(path), "/tmp/bgp-judge-test-%ld", (long)getpid());
	RUN(test_round_trip);
	RUN(test_refused);
	return test_summary();
}
