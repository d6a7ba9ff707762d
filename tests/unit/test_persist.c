/*
 * test_persist.c - the state file: round trips, every kind of damage, the
 * atomic save and moving a corrupt file aside.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist.h"
#include "test.h"

#define HEADER "# bgproxy state; written by bgproxy, do not edit while it runs\n"

/* The example of the contract; its checksum comes from Python's zlib.crc32,
 * so the file format is checkable with stock tools. */
#define EXAMPLE_BODY HEADER "version 1\nstable blue\ncandidate_percent 5.00\nmode running\n" \
	"last_revert \"error_rate 0.62 > 0.05 over 10s, n=143\"\n" \
	"rollout green steps 1,5,10,25,50,100 step 1 hold 60 paused 0\n"
#define EXAMPLE EXAMPLE_BODY "checksum 8accb008\n"

/* A second, bitwise CRC-32, so the table in persist.c is checked independently. */
static uint32_t
slow_crc32(const char *s, size_t n)
{
	uint32_t c = 0xffffffffU;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		c ^= (unsigned char)s[i];
		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0xedb88320U : c >> 1;
	}
	return ~c;
}

/* body + a correct checksum line: for damage the checksum must not hide. */
static size_t
sign(const char *body, size_t len, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%.*schecksum %08x\n", (int)len, body,
	    (unsigned)slow_crc32(body, len));

	return (size_t)n;
}

static int
state_eq(const struct split_state *a, const struct split_state *b)
{
	return a->stable == b->stable && a->candidate_bp == b->candidate_bp &&
	    a->mode == b->mode && strcmp(a->last_revert, b->last_revert) == 0 &&
	    a->has_rollout == b->has_rollout && a->rollout_pool == b->rollout_pool &&
	    a->nsteps == b->nsteps &&
	    memcmp(a->steps_bp, b->steps_bp, a->nsteps * sizeof a->steps_bp[0]) == 0 &&
	    a->step == b->step && a->hold_s == b->hold_s;
}

static struct split_state
st_idle(void)
{
	struct split_state st;

	memset(&st, 0, sizeof st);
	st.stable = 1;
	return st;
}

static struct split_state
st_manual5(void)
{
	struct split_state st = st_idle();

	st.stable = 0;
	st.mode = MODE_MANUAL;
	st.candidate_bp = 500;
	return st;
}

static struct split_state
st_running(void)
{
	static const int steps[] = { 1, 250, 1000, 2550, 5000, 10000 };
	struct split_state st = st_idle();

	st.stable = 0;
	st.mode = MODE_RUNNING;
	st.candidate_bp = 250;
	st.has_rollout = 1;
	st.rollout_pool = 1;
	memcpy(st.steps_bp, steps, sizeof steps);
	st.nsteps = sizeof steps / sizeof steps[0];
	st.step = 1;
	st.hold_s = 60;
	return st;
}

static struct split_state
st_reverted(void)
{
	struct split_state st = st_running();

	st.mode = MODE_REVERTED;
	st.candidate_bp = 0;
	snprintf(st.last_revert, sizeof st.last_revert,
	    "p99 \"slow\" at C:\\path\\ 812ms > 500ms, n=90 \\\"");
	return st;
}

/* Parse must fail with a message containing want, and leave st alone. */
static int
parse_fails(const char *buf, size_t len, const char *want)
{
	struct split_state st;
	char err[512] = "";
	int rc;

	memset(&st, 0x5a, sizeof st);
	rc = persist_parse(buf, len, &st, err, sizeof err);
	if (rc != -1 || strstr(err, want) == NULL || ((unsigned char *)&st)[0] != 0x5a) {
		printf("  parse gave %d, err \"%s\", wanted \"%s\"\n", rc, err, want);
		return 0;
	}
	return 1;
}

/* Sign body, then expect the parse to fail with want. */
static int
signed_fails(const char *body, const char *want)
{
	char buf[4096];

	return parse_fails(buf, sign(body, strlen(body), buf, sizeof buf), want);
}

static char tmpdir[64];

static void
tmpdir_make(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/bgp_persist_XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
}

static void
tmpdir_clean(void)
{
	char p[512];
	struct dirent *de;
	DIR *d = opendir(tmpdir);

	while (d != NULL && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", tmpdir, de->d_name);
		unlink(p);
	}
	if (d != NULL)
		closedir(d);
	rmdir(tmpdir);
}

static int
dir_count(void)
{
	struct dirent *de;
	DIR *d = opendir(tmpdir);
	int n = 0;

	while (d != NULL && (de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	if (d != NULL)
		closedir(d);
	return n;
}

static void
write_file(const char *path, const char *s, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(s, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
}

TEST(test_crc_matches_zlib)
{
	struct split_state st;
	char err[256] = "";

	CHECK_EQ_INT(slow_crc32("123456789", 9), 0xcbf43926U);
	CHECK_EQ_INT(persist_parse(EXAMPLE, strlen(EXAMPLE), &st, err, sizeof err), 0);
	CHECK_STR(err, "");
	CHECK_EQ_INT(st.stable, 0);
	CHECK_EQ_INT(st.candidate_bp, 500);
	CHECK_EQ_INT(st.mode, MODE_RUNNING);
	CHECK_STR(st.last_revert, "error_rate 0.62 > 0.05 over 10s, n=143");
	CHECK_EQ_INT(st.has_rollout, 1);
	CHECK_EQ_INT(st.rollout_pool, 1);
	CHECK_EQ_INT(st.nsteps, 6);
	CHECK_EQ_INT(st.steps_bp[0], 100);
	CHECK_EQ_INT(st.steps_bp[5], 10000);
	CHECK_EQ_INT(st.step, 1);
	CHECK_EQ_INT(st.hold_s, 60);
	CHECK(st.mode != MODE_PAUSED);
}

TEST(test_format_is_readable)
{
	struct split_state st = st_manual5();
	char buf[4096];
	int n;

	n = persist_format(&st, buf, sizeof buf);
	CHECK(n > 0);
	CHECK_EQ_INT(strlen(buf), n);
#define MANUAL5 HEADER "version 1\nstable blue\ncandidate_percent 5.00\nmode manual\n" \
	"last_revert -\nrollout -\nsplit_version 0\nchecksum "
	CHECK(strncmp(buf, MANUAL5, sizeof MANUAL5 - 1) == 0);
	CHECK_EQ_INT(n, sizeof MANUAL5 - 1 + 9);
	st = st_running();
	n = persist_format(&st, buf, sizeof buf);
	CHECK(strstr(buf, "\nrollout green steps 0.01,2.5,10,25.5,50,100 step 1 hold 60 "
	    "paused 0\n") != NULL);
	CHECK_EQ_INT(persist_format(&st, buf, 50), -1);
	CHECK_EQ_INT(persist_format(&st, buf, (size_t)n), -1);     /* no room for the NUL */
	CHECK_EQ_INT(persist_format(&st, buf, (size_t)n + 1), n);
}

TEST(test_round_trips)
{
	struct split_state in[4], out;
	char buf[4096], err[256];
	size_t i;
	int n;

	in[0] = st_idle();
	in[1] = st_manual5();
	in[2] = st_running();
	in[3] = st_reverted();
	for (i = 0; i < 4; i++) {
		err[0] = '\0';
		memset(&out, 0x77, sizeof out);
		n = persist_format(&in[i], buf, sizeof buf);
		CHECK(n > 0);
		CHECK_EQ_INT(persist_parse(buf, (size_t)n, &out, err, sizeof err), 0);
		CHECK_STR(err, "");
		CHECK(state_eq(&in[i], &out));
	}
	CHECK(strstr(buf, "last_revert \"p99 \\\"slow\\\" at C:\\\\path\\\\ 812ms > 500ms, "
	    "n=90 \\\\\\\"\"\n") != NULL);
}

TEST(test_round_trip_extremes)
{
	struct split_state in = st_running(), out;
	char buf[4096], err[256] = "";
	size_t i;
	int n;

	in.mode = MODE_PAUSED;
	in.nsteps = SPLIT_MAX_STEPS;
	for (i = 0; i < SPLIT_MAX_STEPS; i++)
		in.steps_bp[i] = (int)(10000 - (SPLIT_MAX_STEPS - 1 - i) * 7);
	in.step = SPLIT_MAX_STEPS - 1;
	in.hold_s = 86400;
	in.candidate_bp = 10000;
	memset(in.last_revert, '\\', sizeof in.last_revert - 1);
	in.last_revert[sizeof in.last_revert - 1] = '\0';
	n = persist_format(&in, buf, sizeof buf);
	CHECK(n > 0);
	CHECK_EQ_INT(persist_parse(buf, (size_t)n, &out, err, sizeof err), 0);
	CHECK_STR(err, "");
	CHECK(state_eq(&in, &out));
}

TEST(test_format_refuses_invalid)
{
	struct split_state st;
	char buf[4096];

	st = st_manual5();
	st.candidate_bp = 10001;
	CHECK_EQ_INT(persist_format(&st, buf, sizeof buf), -1);
	st = st_reverted();
	st.candidate_bp = 100;
	CHECK_EQ_INT(persist_format(&st, buf, sizeof buf), -1);
	st = st_running();
	st.has_rollout = 0;
	CHECK_EQ_INT(persist_format(&st, buf, sizeof buf), -1);
	st = st_running();
	st.steps_bp[2] = st.steps_bp[1];
	CHECK_EQ_INT(persist_format(&st, buf, sizeof buf), -1);
	st = st_manual5();
	strcpy(st.last_revert, "tab\there");
	CHECK_EQ_INT(persist_format(&st, buf, sizeof buf), -1);
	st = st_manual5();
	memset(st.last_revert, 'x', sizeof st.last_revert);
	CHECK_EQ_INT(persist_format(&st, buf, sizeof buf), -1);
}

TEST(test_corrupt_bytes)
{
	char buf[4096];
	size_t n = strlen(EXAMPLE);

	memcpy(buf, EXAMPLE, n);
	buf[strlen(HEADER) + 30] ^= 0x01;               /* a flipped bit in "candidate_percent" */
	CHECK(parse_fails(buf, n, "checksum mismatch (file says 8accb008, content gives "));
	memcpy(buf, EXAMPLE, n);
	buf[n - 3] = '3';                               /* a changed checksum digit */
	CHECK(parse_fails(buf, n, "checksum mismatch"));
	memcpy(buf, EXAMPLE, n);
	buf[40] = '\0';
	CHECK(parse_fails(buf, n, "line 1: NUL byte"));
	CHECK(parse_fails(EXAMPLE, 0, "empty file"));
	CHECK(parse_fails(EXAMPLE, strlen(EXAMPLE_BODY), "truncated: no checksum line"));
	CHECK(parse_fails(EXAMPLE, 100, "truncated: no checksum line"));
	CHECK(parse_fails(EXAMPLE, n - 1, "truncated: the checksum line has no newline"));
	CHECK(parse_fails(EXAMPLE, n - 4, "truncated"));
	CHECK(parse_fails(EXAMPLE "\n", n + 1, "line 9: trailing data after the checksum line"));
	CHECK(parse_fails(EXAMPLE "x", n + 1, "line 9: trailing data after the checksum line"));
	CHECK(parse_fails(EXAMPLE "checksum 8accb008\n", n + 18, "checksum mismatch"));
	CHECK(parse_fails(EXAMPLE_BODY "checksum 8ACCB008\n", n, "line 8: bad checksum \"8ACCB008\""));
	CHECK(parse_fails(EXAMPLE_BODY "checksum 8accb00\n", n - 1, "line 8: bad checksum"));
	CHECK(parse_fails(EXAMPLE_BODY "checksum  8accb008\n", n + 1, "line 8: bad checksum"));
}

TEST(test_crlf)
{
	char body[4096], buf[4096];
	const char *s;
	size_t o = 0;

	for (s = EXAMPLE_BODY; *s != '\0'; s++) {
		if (*s == '\n')
			body[o++] = '\r';
		body[o++] = *s;
	}
	CHECK(parse_fails(buf, sign(body, o, buf, sizeof buf),
	    "line 1: carriage return (CRLF line endings are not allowed)"));
}

TEST(test_oversize)
{
	size_t n = PERSIST_MAX_FILE + 1;
	char *big = malloc(n);

	CHECK(big != NULL);
	if (big == NULL)
		return;
	memset(big, '#', n);
	CHECK(parse_fails(big, n, "file too large (65537 bytes, at most 65536)"));
	free(big);
}

TEST(test_bad_fields)
{
	CHECK(signed_fails("# bgproxy state\nversion 1\n", "line 1: not a bgproxy state file"));
	CHECK(signed_fails(HEADER "version 2\n", "line 2: unsupported version \"2\""));
	CHECK(signed_fails(HEADER "version 1\nstable red\n", "line 3: unknown pool \"red\""));
	CHECK(signed_fails(HEADER "version 1\ncolour blue\n",
	    "line 3: unknown key \"colour\" (expected \"stable\")"));
	CHECK(signed_fails(HEADER "version 1\nmode idle\n",
	    "line 3: out of order key \"mode\" (expected \"stable\")"));
	CHECK(signed_fails(HEADER "version 1\nstable  blue\n", "line 3: unknown pool \"\""));
	CHECK(signed_fails(HEADER "version 1\nstable blue \n", "line 3: unexpected \" \""));
	CHECK(signed_fails(HEADER "version 1\nstable\n", "line 3: stable has no value"));
	CHECK(signed_fails(HEADER "version 1\nstable blue\n", "truncated: no candidate_percent line"));
	CHECK(signed_fails(HEADER, "truncated: no version line"));
	CHECK(signed_fails("", "truncated: no header line"));
}

#define TO_PERCENT HEADER "version 1\nstable green\n"
#define TO_MODE TO_PERCENT "candidate_percent 0.00\n"
#define TO_REVERT TO_MODE "mode manual\n"
#define TO_ROLLOUT TO_REVERT "last_revert -\n"

TEST(test_bad_percent)
{
	CHECK(signed_fails(TO_PERCENT "candidate_percent 100.01\n",
	    "line 4: bad candidate_percent \"100.01\" (want 0.00..100.00 with exactly two decimals)"));
	CHECK(signed_fails(TO_PERCENT "candidate_percent 101.00\n", "bad candidate_percent"));
	CHECK(signed_fails(TO_PERCENT "candidate_percent 5.000\n", "line 4: bad candidate_percent \"5.000\""));
	CHECK(signed_fails(TO_PERCENT "candidate_percent 5.0\n", "line 4: bad candidate_percent"));
	CHECK(signed_fails(TO_PERCENT "candidate_percent 5\n", "line 4: bad candidate_percent"));
	CHECK(signed_fails(TO_PERCENT "candidate_percent 05.00\n", "line 4: bad candidate_percent"));
	CHECK(signed_fails(TO_PERCENT "candidate_percent -1.00\n", "line 4: bad candidate_percent"));
	CHECK(signed_fails(TO_PERCENT "candidate_percent .50\n", "line 4: bad candidate_percent"));
	CHECK(signed_fails(TO_PERCENT "candidate_percent 99999999999999999999.00\n",
	    "line 4: bad candidate_percent"));
}

TEST(test_bad_mode_and_revert)
{
	CHECK(signed_fails(TO_MODE "mode foo\n", "line 5: unknown mode \"foo\""));
	CHECK(signed_fails(TO_MODE "mode Idle\n", "line 5: unknown mode \"Idle\""));
	CHECK(signed_fails(TO_REVERT "last_revert \"a\\nb\"\n",
	    "line 6: bad escape in last_revert \"\\x5cn\""));
	CHECK(signed_fails(TO_REVERT "last_revert \"a\tb\"\n",
	    "line 6: control character in last_revert \"\\x09\""));
	CHECK(signed_fails(TO_REVERT "last_revert \"abc\n", "line 6: unterminated last_revert"));
	CHECK(signed_fails(TO_REVERT "last_revert \"abc\\\"\n", "line 6: unterminated last_revert"));
	CHECK(signed_fails(TO_REVERT "last_revert \"a\" b\n", "line 6: unexpected \" b\""));
	CHECK(signed_fails(TO_REVERT "last_revert \"\"\n", "line 6: empty last_revert"));
	CHECK(signed_fails(TO_REVERT "last_revert abc\n", "line 6: expected \"\"\""));
	CHECK(signed_fails(TO_REVERT "last_revert -x\n", "line 6: expected"));
}

TEST(test_long_revert)
{
	struct split_state st;
	char body[4096], buf[4096], err[256];
	int n;

	n = snprintf(body, sizeof body, TO_REVERT "last_revert \"%0511d\"\nrollout -\n", 0);
	CHECK(n > 0 && (size_t)n < sizeof body);
	CHECK_EQ_INT(persist_parse(buf, sign(body, (size_t)n, buf, sizeof buf), &st, err,
	    sizeof err), 0);
	CHECK_EQ_INT(strlen(st.last_revert), 511);
	n = snprintf(body, sizeof body, TO_REVERT "last_revert \"%0512d\"\nrollout -\n", 0);
	CHECK(signed_fails(body, "line 6: last_revert longer than 511 bytes"));
}

TEST(test_bad_rollout)
{
	CHECK(signed_fails(TO_ROLLOUT "rollout red steps 1,100 step 0 hold 1 paused 0\n",
	    "line 7: unknown pool \"red\""));
	CHECK(signed_fails(TO_ROLLOUT "rollout green steps 5,1,100 step 0 hold 1 paused 0\n",
	    "line 7: bad steps \"5,1,100\""));
	CHECK(signed_fails(TO_ROLLOUT "rollout green steps 1,5,50 step 0 hold 1 paused 0\n",
	    "line 7: bad steps \"1,5,50\""));
	CHECK(signed_fails(TO_ROLLOUT "rollout green steps 1,5,5,100 step 0 hold 1 paused 0\n",
	    "bad steps"));
	CHECK(signed_fails(TO_ROLLOUT "rollout green steps 0,100 step 0 hold 1 paused 0\n",
	    "bad steps"));
	CHECK(signed_fails(TO_ROLLOUT "rollout green steps 1,,100 step 0 hold 1 paused 0\n",
	    "bad steps"));
	CHECK(signed_fails(TO_ROLLOUT "rollout green steps 1,100, step 0 hold 1 paused 0\n",
	    "bad steps"));
	CHECK(signed_fails(TO_ROLLOUT "rollout green steps 2.555,100 step 0 hold 1 paused 0\n",
	    "bad steps"));
	CHECK(signed_fails(TO_ROLLOUT "rollout green steps 1,101 step 0 hold 1 paused 0\n",
	    "bad steps"));
	CHECK(signed_fails(TO_ROLLOUT "rollout green steps 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,"
	    "16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,100 step 0 hold 1 paused 0\n",
	    "bad steps"));
	CHECK(signed_fails(TO_ROLLOUT "rollout green steps 1,100 step 2 hold 1 paused 0\n",
	    "line 7: step index \"2\" out of range"));
	CHECK(signed_fails(TO_ROLLOUT "rollout green steps 1,100 step 99999 hold 1 paused 0\n",
	    "line 7: step index \"99999\" out of range"));
	CHECK(signed_fails(TO_ROLLOUT "rollout green steps 1,100 step 0 hold 86401 paused 0\n",
	    "line 7: bad hold \"86401\""));
	CHECK(signed_fails(TO_ROLLOUT "rollout green steps 1,100 step 0 hold 1 paused 2\n",
	    "line 7: bad paused \"2\""));
	CHECK(signed_fails(TO_ROLLOUT "rollout green steps 1,100 step 0 hold 1\n",
	    "line 7: expected \" paused \""));
	CHECK(signed_fails(TO_ROLLOUT "rollout green stepz 1,100 step 0 hold 1 paused 0\n",
	    "line 7: expected \" steps \""));
	CHECK(signed_fails(TO_ROLLOUT "rollout green steps 1,100 step 0 hold 1 paused 0 x\n",
	    "line 7: unexpected \" x\""));
	CHECK(signed_fails(TO_ROLLOUT "rollout -\nextra 1\n", "line 8: unknown key \"extra\""));
}

TEST(test_inconsistent)
{
	CHECK(signed_fails(TO_PERCENT "candidate_percent 5.00\nmode reverted\nlast_revert -\n"
	    "rollout -\n", "inconsistent state: mode reverted with the candidate at 5.00%"));
	CHECK(signed_fails(TO_PERCENT "candidate_percent 0.00\nmode running\nlast_revert -\n"
	    "rollout -\n", "inconsistent state: mode running without a rollout"));
	CHECK(signed_fails(TO_PERCENT "candidate_percent 0.00\nmode idle\nlast_revert -\n"
	    "rollout green steps 100 step 0 hold 0 paused 0\n", "inconsistent state: mode idle "
	    "with a rollout"));
	CHECK(signed_fails(TO_PERCENT "candidate_percent 1.00\nmode running\nlast_revert -\n"
	    "rollout green steps 1,100 step 0 hold 0 paused 1\n", "inconsistent state: "
	    "rollout paused 1 with mode running"));
	CHECK(signed_fails(TO_PERCENT "candidate_percent 1.00\nmode paused\nlast_revert -\n"
	    "rollout green steps 1,100 step 0 hold 0 paused 0\n", "inconsistent state"));
}

TEST(test_load_missing_and_corrupt)
{
	struct split_state st = st_manual5(), before = st;
	char path[128], err[512] = "";

	tmpdir_make();
	snprintf(path, sizeof path, "%s/state", tmpdir);
	CHECK_EQ_INT(persist_load(path, &st, err, sizeof err), 1);
	CHECK(state_eq(&st, &before));
	write_file(path, EXAMPLE, strlen(EXAMPLE) - 5);
	CHECK_EQ_INT(persist_load(path, &st, err, sizeof err), -1);
	CHECK(strncmp(err, path, strlen(path)) == 0);
	CHECK(strstr(err, ": truncated") != NULL);
	CHECK(state_eq(&st, &before));
	CHECK_EQ_INT(persist_load(tmpdir, &st, err, sizeof err), -1);
	CHECK(strstr(err, "not a regular file") != NULL);
	write_file(path, EXAMPLE, strlen(EXAMPLE));
	CHECK_EQ_INT(persist_load(path, &st, err, sizeof err), 0);
	CHECK_EQ_INT(st.mode, MODE_RUNNING);
	CHECK_EQ_INT(unlink(path), 0);
	CHECK_EQ_INT(mkfifo(path, 0600), 0);    /* must not block waiting for a writer */
	CHECK_EQ_INT(persist_load(path, &st, err, sizeof err), -1);
	CHECK(strstr(err, "not a regular file") != NULL);
	tmpdir_clean();
}

TEST(test_save_replaces)
{
	struct split_state in = st_running(), out;
	char path[128], stale[160], err[512] = "";
	struct stat sb;

	tmpdir_make();
	snprintf(path, sizeof path, "%s/state", tmpdir);
	write_file(path, "old junk\n", 9);
	snprintf(stale, sizeof stale, "%s.tmp.%ld", path, (long)getpid());
	write_file(stale, "stale temp\n", 11);
	CHECK_EQ_INT(persist_save(path, &in, err, sizeof err), 0);
	CHECK_STR(err, "");
	CHECK_EQ_INT(dir_count(), 1);
	CHECK_EQ_INT(stat(path, &sb), 0);
	CHECK_EQ_INT(sb.st_mode & 0777, 0640 & ~0022 & 0777);
	CHECK_EQ_INT(persist_load(path, &out, err, sizeof err), 0);
	CHECK(state_eq(&in, &out));
	in = st_reverted();
	CHECK_EQ_INT(persist_save(path, &in, err, sizeof err), 0);
	CHECK_EQ_INT(persist_load(path, &out, err, sizeof err), 0);
	CHECK(state_eq(&in, &out));
	CHECK_EQ_INT(dir_count(), 1);
	tmpdir_clean();
}

TEST(test_save_relative_path)
{
	struct split_state in = st_manual5(), out;
	char cwd[512], err[512] = "";

	tmpdir_make();
	CHECK(getcwd(cwd, sizeof cwd) != NULL);
	CHECK_EQ_INT(chdir(tmpdir), 0);
	CHECK_EQ_INT(persist_save("state", &in, err, sizeof err), 0);
	CHECK_EQ_INT(persist_load("state", &out, err, sizeof err), 0);
	CHECK(state_eq(&in, &out));
	CHECK_EQ_INT(chdir(cwd), 0);
	CHECK_EQ_INT(dir_count(), 1);
	tmpdir_clean();
}

TEST(test_save_failures)
{
	struct split_state in = st_manual5();
	char path[128], err[512] = "";

	tmpdir_make();
	snprintf(path, sizeof path, "%s/missing/state", tmpdir);
	CHECK_EQ_INT(persist_save(path, &in, err, sizeof err), -1);
	CHECK(strstr(err, "cannot create") != NULL);
	CHECK(strstr(err, "No such file or directory") != NULL);
	in.candidate_bp = 20000;
	snprintf(path, sizeof path, "%s/state", tmpdir);
	err[0] = '\0';
	CHECK_EQ_INT(persist_save(path, &in, err, sizeof err), -1);
	CHECK(strstr(err, "refusing to write an invalid state") != NULL);
	CHECK_EQ_INT(dir_count(), 0);
	/* a directory in the way of the rename: the temp file must not stay */
	CHECK_EQ_INT(mkdir(path, 0755), 0);
	in = st_manual5();
	CHECK_EQ_INT(persist_save(path, &in, err, sizeof err), -1);
	CHECK(strstr(err, "cannot rename") != NULL);
	CHECK_EQ_INT(dir_count(), 1);
	rmdir(path);
	tmpdir_clean();
}

TEST(test_set_aside)
{
	char path[128], a1[256], a2[256], err[512] = "";
	int tries, ok = 0;
	size_t n;

	tmpdir_make();
	snprintf(path, sizeof path, "%s/state", tmpdir);
	CHECK_EQ_INT(persist_set_aside(path, a1, sizeof a1, err, sizeof err), -1);
	CHECK(strstr(err, "No such file") != NULL);
	/* two calls in the same second: the second adds ".1"; retry if the clock ticked */
	for (tries = 0; tries < 5 && !ok; tries++) {
		write_file(path, "bad 1\n", 6);
		CHECK_EQ_INT(persist_set_aside(path, a1, sizeof a1, err, sizeof err), 0);
		write_file(path, "bad 2\n", 6);
		CHECK_EQ_INT(persist_set_aside(path, a2, sizeof a2, err, sizeof err), 0);
		n = strlen(a1);
		ok = strncmp(a2, a1, n) == 0 && strcmp(a2 + n, ".1") == 0;
	}
	CHECK(ok);
	CHECK(strncmp(a1, path, strlen(path)) == 0);
	CHECK(strncmp(a1 + strlen(path), ".corrupt.", 9) == 0);
	n = strlen(path) + 9;
	CHECK_EQ_INT(strlen(a1 + n), 16);               /* YYYYmmddTHHMMSSZ */
	CHECK(a1[n + 8] == 'T' && a1[n + 15] == 'Z');
	CHECK(access(path, F_OK) == -1 && errno == ENOENT);
	CHECK(access(a1, F_OK) == 0 && access(a2, F_OK) == 0);
	write_file(path, "bad 3\n", 6);
	CHECK_EQ_INT(persist_set_aside(path, a2, 10, err, sizeof err), -1);
	CHECK(strstr(err, "too long") != NULL);
	CHECK(access(path, F_OK) == 0);
	tmpdir_clean();
}

/* split_version (if-version) survives a restart; a file written before it
 * existed (no such line) reads as version 0 */
#define SIGNED(body) sign(body, sizeof(body) - 1, file, sizeof file)

TEST(test_split_version_round_trip_and_old_files)
{
	struct split_state st = st_manual5(), back;
	char buf[4096], file[4096], err[256];
	int n;

	st.version = 42;
	n = persist_format(&st, buf, sizeof buf);
	CHECK(n > 0);
	CHECK(strstr(buf, "\nsplit_version 42\n") != NULL);
	memset(&back, 0, sizeof back);
	CHECK_EQ_INT(persist_parse(buf, (size_t)n, &back, err, sizeof err), 0);
	CHECK_EQ_INT(back.version, 42);
	SIGNED(HEADER "version 1\nstable blue\ncandidate_percent 5.00\n"
	    "mode manual\nlast_revert -\nrollout -\n");
	back.version = 7;
	CHECK_EQ_INT(persist_parse(file, strlen(file), &back, err, sizeof err), 0);
	CHECK_EQ_INT(back.version, 0);
	CHECK_EQ_INT(back.candidate_bp, 500);
	SIGNED(HEADER "version 1\nstable blue\ncandidate_percent 5.00\n"
	    "mode manual\nlast_revert -\nrollout -\nsplit_version x1\n");
	CHECK_EQ_INT(persist_parse(file, strlen(file), &back, err, sizeof err), -1);
	CHECK(strstr(err, "bad split_version") != NULL);
	SIGNED(HEADER "version 1\nstable blue\ncandidate_percent 5.00\n"
	    "mode manual\nlast_revert -\nrollout -\nsplit_version 1\nsplit_version 2\n");
	CHECK_EQ_INT(persist_parse(file, strlen(file), &back, err, sizeof err), -1);
}

/* a rollout's shadow phase: " shadow PCT" at the end of the rollout line */
TEST(test_shadow_round_trip_and_rules)
{
	struct split_state st, back;
	char buf[4096], err[256];
	int n;

	memset(&st, 0, sizeof st);
	st.stable = 0;
	st.mode = MODE_RUNNING;
	st.has_rollout = 1;
	st.rollout_pool = 1;
	st.steps_bp[0] = 500;
	st.steps_bp[1] = 10000;
	st.nsteps = 2;
	st.hold_s = 60;
	st.shadow_bp = 1250;
	st.revert_step = -1;
	n = persist_format(&st, buf, sizeof buf);
	CHECK(n > 0);
	CHECK(strstr(buf, "\nrollout green steps 5,100 step 0 hold 60 paused 0 shadow 12.5\n") !=
	    NULL);
	memset(&back, 0, sizeof back);
	CHECK_EQ_INT(persist_parse(buf, (size_t)n, &back, err, sizeof err), 0);
	CHECK_EQ_INT(back.shadow_bp, 1250);
	CHECK_EQ_INT(back.candidate_bp, 0);
	/* only at step 0, running or paused, the candidate at 0% */
	st.candidate_bp = 500;
	CHECK_EQ_INT(persist_format(&st, buf, sizeof buf), -1);
	st.candidate_bp = 0;
	st.mode = MODE_BAKING;
	CHECK_EQ_INT(persist_format(&st, buf, sizeof buf), -1);
	st.mode = MODE_RUNNING;
	st.step = 1;
	CHECK_EQ_INT(persist_format(&st, buf, sizeof buf), -1);
	CHECK(signed_fails(HEADER "version 1\nstable blue\ncandidate_percent 0.00\nmode running\n"
	    "last_revert -\nrollout green steps 5,100 step 0 hold 1 paused 0 shadow 0\n",
	    "line 7: bad shadow \"0\""));
	CHECK(signed_fails(HEADER "version 1\nstable blue\ncandidate_percent 0.00\nmode running\n"
	    "last_revert -\nrollout green steps 5,100 step 0 hold 1 paused 0 shadow 101\n",
	    "bad shadow"));
	CHECK(signed_fails(HEADER "version 1\nstable blue\ncandidate_percent 5.00\nmode running\n"
	    "last_revert -\nrollout green steps 5,100 step 0 hold 1 paused 0 shadow 10\n",
	    "shadow phase"));
	CHECK(signed_fails(HEADER "version 1\nstable blue\ncandidate_percent 0.00\nmode running\n"
	    "last_revert -\nrollout green steps 5,100 step 0 hold 1 paused 0 shadow 10 x\n",
	    "unexpected"));
}

/* the last revert's record (time, step, actor, reason) survives a restart */
TEST(test_revert_detail_round_trip)
{
	struct split_state st = st_manual5(), back;
	char buf[4096], file[4096], err[256];
	int n;

	st.candidate_bp = 0;
	st.mode = MODE_REVERTED;
	snprintf(st.last_revert, sizeof st.last_revert, "p99 900ms > 500ms (by guard at x)");
	st.revert_time_ms = 1764680000123LL;
	st.revert_step = 2;
	snprintf(st.revert_actor, sizeof st.revert_actor, "guard");
	snprintf(st.revert_reason, sizeof st.revert_reason, "p99 \"900ms\" > 500ms \\ n=40");
	n = persist_format(&st, buf, sizeof buf);
	CHECK(n > 0);
	CHECK(strstr(buf, "\nrevert_detail 1764680000123 3 \"guard\" "
	    "\"p99 \\\"900ms\\\" > 500ms \\\\ n=40\"\n") != NULL);
	memset(&back, 0, sizeof back);
	CHECK_EQ_INT(persist_parse(buf, (size_t)n, &back, err, sizeof err), 0);
	CHECK_EQ_INT(back.revert_time_ms, 1764680000123LL);
	CHECK_EQ_INT(back.revert_step, 2);
	CHECK_STR(back.revert_actor, "guard");
	CHECK_STR(back.revert_reason, st.revert_reason);
	/* no revert: no line; a step of 0 is "not in a rollout" */
	st.revert_time_ms = 0;
	n = persist_format(&st, buf, sizeof buf);
	CHECK(n > 0 && strstr(buf, "revert_detail") == NULL);
	SIGNED(HEADER "version 1\nstable blue\ncandidate_percent 0.00\nmode reverted\n"
	    "last_revert \"x\"\nrollout -\nsplit_version 3\nrevert_detail 5 0 \"a b\" \"r\"\n");
	CHECK_EQ_INT(persist_parse(file, strlen(file), &back, err, sizeof err), 0);
	CHECK_EQ_INT(back.revert_step, -1);
	CHECK_STR(back.revert_actor, "a b");
	/* malformed: refused, with the line */
	SIGNED(HEADER "version 1\nstable blue\ncandidate_percent 0.00\nmode reverted\n"
	    "last_revert \"x\"\nrollout -\nsplit_version 3\nrevert_detail 5 0 guard \"r\"\n");
	CHECK_EQ_INT(persist_parse(file, strlen(file), &back, err, sizeof err), -1);
	SIGNED(HEADER "version 1\nstable blue\ncandidate_percent 0.00\nmode reverted\n"
	    "last_revert \"x\"\nrollout -\nsplit_version 3\nrevert_detail 0 0 \"a\" \"r\"\n");
	CHECK_EQ_INT(persist_parse(file, strlen(file), &back, err, sizeof err), -1);
	CHECK(strstr(err, "bad revert_detail") != NULL);
	if (strstr(err, "bad revert_detail") == NULL)
		printf("  err: %s\n", err);
	SIGNED(HEADER "version 1\nstable blue\ncandidate_percent 0.00\nmode reverted\n"
	    "last_revert \"x\"\nrollout -\nsplit_version 3\nrevert_detail 5 0 \"a\" \"r\" x\n");
	CHECK_EQ_INT(persist_parse(file, strlen(file), &back, err, sizeof err), -1);
	/* an actor with a control character is never written */
	st.revert_time_ms = 5;
	st.revert_actor[0] = '\t';
	CHECK_EQ_INT(persist_format(&st, buf, sizeof buf), -1);
}

/* the file of many services: every split back, each by its name; a
 * changed byte, a bad block, a name twice: refused */
TEST(test_services_file)
{
	struct persist_svc v[3], *back = NULL;
	size_t n = 0, len;
	char *buf = NULL, err[384] = "";

	memset(v, 0, sizeof v);
	snprintf(v[0].name, sizeof v[0].name, "shop");
	v[0].st = st_manual5();
	snprintf(v[1].name, sizeof v[1].name, "api.v2");
	v[1].st = st_running();
	snprintf(v[2].name, sizeof v[2].name, "old_one");
	v[2].st = st_reverted();
	CHECK_EQ_INT(persist_svcs_format(v, 3, &buf, &len, err, sizeof err), 0);
	if (buf == NULL)
		return;
	CHECK(strncmp(buf, PERSIST_SVCS_HEADER "\nservice shop ", strlen(PERSIST_SVCS_HEADER) + 14)
	    == 0);
	CHECK_EQ_INT(persist_svcs_parse(buf, len, &back, &n, err, sizeof err), 0);
	CHECK_EQ_INT((int)n, 3);
	for (size_t i = 0; back != NULL && i < n && i < 3; i++) {
		CHECK_STR(back[i].name, v[i].name);
		CHECK(state_eq(&back[i].st, &v[i].st));
	}
	free(back);
	back = NULL;
	/* a byte changed: the checksum */
	buf[strlen(PERSIST_SVCS_HEADER) + 10] ^= 1;
	CHECK_EQ_INT(persist_svcs_parse(buf, len, &back, &n, err, sizeof err), -1);
	CHECK(back == NULL);
	buf[strlen(PERSIST_SVCS_HEADER) + 10] ^= 1;
	/* cut short */
	CHECK_EQ_INT(persist_svcs_parse(buf, len - 3, &back, &n, err, sizeof err), -1);
	/* not a services file */
	CHECK_EQ_INT(persist_svcs_parse("x\n", 2, &back, &n, err, sizeof err), -1);
	free(buf);
	/* a name twice */
	snprintf(v[1].name, sizeof v[1].name, "shop");
	CHECK_EQ_INT(persist_svcs_format(v, 2, &buf, &len, err, sizeof err), 0);
	CHECK_EQ_INT(persist_svcs_parse(buf, len, &back, &n, err, sizeof err), -1);
	CHECK(strstr(err, "twice") != NULL);
	free(buf);
	/* a name that cannot be written */
	snprintf(v[1].name, sizeof v[1].name, "a b");
	CHECK_EQ_INT(persist_svcs_format(v, 2, &buf, &len, err, sizeof err), -1);
	/* none at all is a valid file */
	CHECK_EQ_INT(persist_svcs_format(v, 0, &buf, &len, err, sizeof err), 0);
	CHECK_EQ_INT(persist_svcs_parse(buf, len, &back, &n, err, sizeof err), 0);
	CHECK_EQ_INT((int)n, 0);
	free(back);
	free(buf);
}

int
main(void)
{
	umask(022);
	RUN(test_crc_matches_zlib);
	RUN(test_split_version_round_trip_and_old_files);
	RUN(test_revert_detail_round_trip);
	RUN(test_format_is_readable);
	RUN(test_round_trips);
	RUN(test_services_file);
	RUN(test_round_trip_extremes);
	RUN(test_format_refuses_invalid);
	RUN(test_corrupt_bytes);
	RUN(test_crlf);
	RUN(test_oversize);
	RUN(test_bad_fields);
	RUN(test_bad_percent);
	RUN(test_bad_mode_and_revert);
	RUN(test_long_revert);
	RUN(test_bad_rollout);
	RUN(test_inconsistent);
	RUN(test_load_missing_and_corrupt);
	RUN(test_save_replaces);
	RUN(test_save_relative_path);
	RUN(test_save_failures);
	RUN(test_set_aside);
	RUN(test_shadow_round_trip_and_rules);
	return test_summary();
}
