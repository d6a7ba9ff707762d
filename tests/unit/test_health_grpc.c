/*
 * test_health_grpc.c - the verdict on a gRPC Health/Check answer.
 */
#include <string.h>

#include "health_grpc.h"
#include "test.h"

static enum health_verdict
judge(int http, int grpc, const char *gmsg, const char *msg, size_t len, char *why)
{
	return health_grpc_judge(http, grpc, gmsg, (const unsigned char *)msg, len, why, 160);
}

TEST(serving_passes_anything_else_fails_with_why)
{
	char why[160];

	CHECK_EQ_INT(judge(200, 0, "", "\0\0\0\0\2\x08\x01", 7, why), HEALTH_PASS);
	CHECK_EQ_INT(judge(200, 0, "", "\0\0\0\0\2\x08\x02", 7, why), HEALTH_FAIL);
	CHECK_STR(why, "status NOT_SERVING");
	CHECK_EQ_INT(judge(200, 0, "", "\0\0\0\0\2\x08\x03", 7, why), HEALTH_FAIL);
	CHECK_STR(why, "status SERVICE_UNKNOWN");
	/* no field: status 0, UNKNOWN */
	CHECK_EQ_INT(judge(200, 0, "", "\0\0\0\0\0", 5, why), HEALTH_FAIL);
	CHECK_STR(why, "status UNKNOWN");
	CHECK_EQ_INT(judge(200, 0, "", "\0\0\0\0\2\x08\x7f", 7, why), HEALTH_FAIL);
	CHECK_STR(why, "status out of range");
}

TEST(the_transport_and_grpc_status_come_first)
{
	char why[160];

	CHECK_EQ_INT(judge(503, 0, "", "\0\0\0\0\2\x08\x01", 7, why), HEALTH_FAIL);
	CHECK_STR(why, "HTTP status 503");
	CHECK_EQ_INT(judge(200, -1, "", "\0\0\0\0\2\x08\x01", 7, why), HEALTH_FAIL);
	CHECK_STR(why, "no grpc-status");
	CHECK_EQ_INT(judge(200, 12, "unknown method", "", 0, why), HEALTH_FAIL);
	CHECK_STR(why, "grpc-status 12: unknown method");
}

TEST(broken_messages_fail)
{
	char why[160];

	/* compressed, a length that lies, short, another field */
	CHECK_EQ_INT(judge(200, 0, "", "\1\0\0\0\2\x08\x01", 7, why), HEALTH_FAIL);
	CHECK_EQ_INT(judge(200, 0, "", "\0\0\0\0\3\x08\x01", 7, why), HEALTH_FAIL);
	CHECK_EQ_INT(judge(200, 0, "", "\0\0\0", 3, why), HEALTH_FAIL);
	CHECK_EQ_INT(judge(200, 0, "", "\0\0\0\0\2\x10\x01", 7, why), HEALTH_FAIL);
	CHECK(strstr(why, "unexpected field") != NULL);
	/* a varint cut short */
	CHECK_EQ_INT(judge(200, 0, "", "\0\0\0\0\2\x08\x81", 7, why), HEALTH_FAIL);
	CHECK_STR(why, "a broken status in the answer");
}

int
main(void)
{
	RUN(serving_passes_anything_else_fails_with_why);
	RUN(the_transport_and_grpc_status_come_first);
	RUN(broken_messages_fail);
	return test_summary();
}
