/*
 * test.h - the smallest unit-test harness that does the job.
 *
 *   TEST(name) { CHECK(expr); CHECK_EQ_INT(a, b); CHECK_STR(a, b); }
 *   int main(void) { RUN(name); ...; return test_summary(); }
 *
 * Each test prints "ok NAME" or "FAIL NAME (file:line: expr)"; the last line
 * is "N passed, N failed" which scripts/test.sh adds up.
 */
#ifndef BGPROXY_TEST_H
#define BGPROXY_TEST_H

#include <stdio.h>
#include <string.h>

static int test_passed, test_failed, test_cur_failed;

#define TEST(name) static void name(void)

#define CHECK(expr) do { \
	if (!(expr)) { \
		printf("  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #expr); \
		test_cur_failed = 1; \
	} \
} while (0)

#define CHECK_EQ_INT(a, b) do { \
	long long _a = (long long)(a), _b = (long long)(b); \
	if (_a != _b) { \
		printf("  %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a, _a, #b, _b); \
		test_cur_failed = 1; \
	} \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *_a = (a), *_b = (b); \
	if (_a == NULL || _b == NULL || strcmp(_a, _b) != 0) { \
		printf("  %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a, \
		    _a ? _a : "(null)", _b ? _b : "(null)"); \
		test_cur_failed = 1; \
	} \
} while (0)

#define RUN(name) do { \
	test_cur_failed = 0; \
	name(); \
	if (test_cur_failed) { test_failed++; printf("FAIL %s\n", #name); } \
	else { test_passed++; printf("ok %s\n", #name); } \
} while (0)

static inline int test_summary(void)
{
	printf("%d passed, %d failed\n", test_passed, test_failed);
	return test_failed ? 1 : 0;
}

#endif
