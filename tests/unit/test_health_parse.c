/* Unit tests for health_parse.c: which answers pass a health check. */
#include <string.h>

#include "health_parse.h"
#include "test.h"

static struct http_msg m;
static char why[128];

static int
judge(const char *s)
{
	why[0] = '\0';
	return health_judge(s, strlen(s), &m, why, sizeof(why));
}

TEST(test_pass_and_fail_by_status)
{
	CHECK_EQ_INT(judge("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), HEALTH_PASS);
	CHECK_EQ_INT(judge("HTTP/1.0 204 \r\n\r\n"), HEALTH_PASS);
	CHECK_EQ_INT(judge("HTTP/1.1 302 Found\r\nLocation: /\r\n\r\n"), HEALTH_PASS);
	CHECK_EQ_INT(judge("HTTP/1.1 399 X\r\n\r\n"), HEALTH_PASS);
	CHECK_EQ_INT(judge("HTTP/1.1 400 Bad\r\n\r\n"), HEALTH_FAIL);
	CHECK_STR(why, "status 400");
	CHECK_EQ_INT(judge("HTTP/1.1 503 Service Unavailable\r\n\r\n"), HEALTH_FAIL);
	CHECK_STR(why, "status 503");
	CHECK_EQ_INT(judge("HTTP/1.1 101 Switching\r\n\r\n"), HEALTH_FAIL);
	CHECK_STR(why, "status 101");
	/* interim heads are skipped */
	CHECK_EQ_INT(judge("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"), HEALTH_PASS);
	CHECK_EQ_INT(judge("HTTP/1.1 103 Hints\r\n\r\nHTTP/1.1 500 E\r\n\r\n"), HEALTH_FAIL);
	CHECK_EQ_INT(judge("HTTP/1.1 103 Hints\r\n\r\nHTTP/1.1 2"), HEALTH_MORE);
}

TEST(test_need_more)
{
	CHECK_EQ_INT(judge(""), HEALTH_MORE);
	CHECK_EQ_INT(judge("HTTP/1.1 200 OK\r\n"), HEALTH_MORE);
	CHECK_EQ_INT(judge("HTTP/1.1 200 OK\r\nX: y\r\n"), HEALTH_MORE);
	CHECK_EQ_INT(judge("HTTP/1."), HEALTH_MORE);
}

/* what the old sscanf("%3d") check let pass */
TEST(test_strict_status_line)
{
	static const char *const bad[] = {
		"HTTP/1.1  200 OK\r\n\r\n", "HTTP/1.1 +20 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 099 OK\r\n\r\n", "HTTP/1.1 600 OK\r\n\r\n",
		"HTTP/2.0 200 OK\r\n\r\n", "http/1.1 200 OK\r\n\r\n", "HTTP/1.1 200 OK\n\n",
		"HTTP/1.1 200 O\x01K\r\n\r\n", "SSH-2.0-OpenSSH\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ_INT(judge(bad[i]), HEALTH_FAIL);
		CHECK(strncmp(why, "not an HTTP response: ", 22) == 0);
	}
}

TEST(test_head_too_large)
{
	static char big[HEALTH_HEAD_MAX + 64];

	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
	memset(big + 20, 'a', sizeof(big) - 21);
	CHECK_EQ_INT(health_judge(big, sizeof(big) - 1, &m, why, sizeof(why)), HEALTH_FAIL);
}

int
main(void)
{
	RUN(test_pass_and_fail_by_status);
	RUN(test_need_more);
	RUN(test_strict_status_line);
	RUN(test_head_too_large);
	return test_summary();
}
