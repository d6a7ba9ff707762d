/* Unit tests for admin_parse.c: the command table and line parsing. */
#include <stdio.h>
#include <string.h>

#include "admin_parse.h"
#include "test.h"

static int
parse(const char *text, struct admin_parsed *ap, char *err, size_t errlen)
{
	static char line[8192];

	snprintf(line, sizeof(line), "%s", text);
	return admin_parse_line(line, ap, err, errlen);
}

TEST(test_every_command_parses)
{
	static const char *lines[] = {
		"status", "set weight green 5", "switch blue", "rollout start green",
		"rollout start green steps 1,5,100 hold 30", "rollout pause", "rollout resume",
		"rollout next", "rollout abort", "promote", "revert",
		"server blue 127.0.0.1:9001 drain", "show events", "show servers", "reload", "help", "show info",
	};
	static const enum admin_cmd_id ids[] = {
		ACMD_STATUS, ACMD_SET_WEIGHT, ACMD_SWITCH, ACMD_ROLLOUT_START, ACMD_ROLLOUT_START,
		ACMD_ROLLOUT_PAUSE, ACMD_ROLLOUT_RESUME, ACMD_ROLLOUT_NEXT, ACMD_ROLLOUT_ABORT,
		ACMD_PROMOTE, ACMD_REVERT, ACMD_SERVER, ACMD_SHOW_EVENTS, ACMD_SHOW_SERVERS,
		ACMD_RELOAD, ACMD_HELP, ACMD_SHOW_INFO,
	};
	struct admin_parsed ap;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		CHECK_EQ_INT(parse(lines[i], &ap, err, sizeof(err)), 0);
		CHECK(ap.cmd != NULL && ap.cmd->id == ids[i]);
	}
}

TEST(test_table_ids_match_positions)
{
	size_t i;

	for (i = 0; i < ACMD_COUNT; i++)
		CHECK_EQ_INT(admin_cmd_table[i].id, i);
}

TEST(test_arguments_and_json)
{
	struct admin_parsed ap;
	char err[256];

	CHECK_EQ_INT(parse("  json   set\tweight  green   12.5  ", &ap, err, sizeof(err)), 0);
	CHECK(ap.json);
	CHECK_EQ_INT(ap.argc, 2);
	CHECK_STR(ap.argv[0], "green");
	CHECK_STR(ap.argv[1], "12.5");
}

TEST(test_errors)
{
	struct admin_parsed ap;
	char err[256];

	CHECK_EQ_INT(parse("", &ap, err, sizeof(err)), -1);
	CHECK_STR(err, "empty command; try help");
	CHECK_EQ_INT(parse("json", &ap, err, sizeof(err)), -1);
	CHECK_EQ_INT(parse("frobnicate now", &ap, err, sizeof(err)), -1);
	CHECK_STR(err, "unknown command \"frobnicate\"; try help");
	CHECK(ap.cmd == NULL);
	/* the first word of several commands lists them */
	CHECK_EQ_INT(parse("show", &ap, err, sizeof(err)), -1);
	CHECK_STR(err, "show what? show events [N] | show servers | show nodes | show info");
	CHECK_EQ_INT(parse("json set", &ap, err, sizeof(err)), -1);
	CHECK_STR(err, "set what? set weight POOL PERCENT");
	CHECK_EQ_INT(parse("show bogus", &ap, err, sizeof(err)), -1);
	CHECK_STR(err, "show what? show events [N] | show servers | show nodes | show info");
	CHECK_EQ_INT(parse("sho", &ap, err, sizeof(err)), -1);
	CHECK_STR(err, "unknown command \"sho\"; try help");
	{
		char small[12];

		CHECK_EQ_INT(parse("rollout", &ap, small, sizeof(small)), -1);
		CHECK(strlen(small) == sizeof(small) - 1);
	}
	CHECK_EQ_INT(parse("show events 5", &ap, err, sizeof(err)), 0);
	CHECK_EQ_INT(ap.argc, 1);
	CHECK_EQ_INT(parse("show events 5 6", &ap, err, sizeof(err)), -1);
	CHECK_EQ_INT(parse("set weight green", &ap, err, sizeof(err)), -1);
	CHECK_STR(err, "usage: set weight POOL PERCENT");
	CHECK(ap.cmd != NULL && ap.cmd->changes_state);
	CHECK_EQ_INT(parse("status now", &ap, err, sizeof(err)), -1);
	CHECK_STR(err, "usage: status");
	CHECK_EQ_INT(parse("show", &ap, err, sizeof(err)), -1);
	CHECK_EQ_INT(parse("set weights green 5", &ap, err, sizeof(err)), -1);
	CHECK_EQ_INT(parse("a b c d e f g h i j k l m n o p q", &ap, err, sizeof(err)), -1);
	CHECK_STR(err, "too many words (at most 16)");
}

TEST(test_percent)
{
	static const struct { const char *s; int bp; } good[] = {
		{ "0", 0 }, { "5", 500 }, { "5.5", 550 }, { "5.55", 555 }, { "100", 10000 },
		{ "100.0", 10000 }, { "100.00", 10000 }, { "0.01", 1 }, { "007", 700 },
	};
	static const char *bad[] = {
		"", "-1", "+1", "101", "100.01", "5.555", "5.", ".5", "abc", "1e2", "5 ", " 5",
		"0x10", "1000", "50%",
	};
	size_t i;
	int bp;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		bp = -1;
		CHECK_EQ_INT(admin_parse_percent(good[i].s, &bp), 0);
		CHECK_EQ_INT(bp, good[i].bp);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ_INT(admin_parse_percent(bad[i], &bp), -1);
}

TEST(test_pool)
{
	CHECK_EQ_INT(admin_parse_pool("blue"), 0);
	CHECK_EQ_INT(admin_parse_pool("green"), 1);
	CHECK_EQ_INT(admin_parse_pool("Blue"), -1);
	CHECK_EQ_INT(admin_parse_pool(""), -1);
}

TEST(test_if_version)
{
	struct admin_parsed ap;
	char err[256];

	CHECK_EQ_INT(parse("set weight green 5 if-version 12", &ap, err, sizeof(err)), 0);
	CHECK_EQ_INT(ap.if_version, 12);
	CHECK_EQ_INT(ap.argc, 2);
	CHECK_STR(ap.argv[1], "5");
	CHECK_EQ_INT(parse("json promote if-version 0", &ap, err, sizeof(err)), 0);
	CHECK_EQ_INT(ap.if_version, 0);
	CHECK_EQ_INT(ap.json, 1);
	CHECK_EQ_INT(parse("rollout start green steps 1,100 hold 5 if-version 3", &ap, err,
	    sizeof(err)), 0);
	CHECK_EQ_INT(ap.argc, 5);
	CHECK_EQ_INT(parse("revert", &ap, err, sizeof(err)), 0);
	CHECK_EQ_INT(ap.if_version, -1);
	/* only last, only a plain number, only on commands that change state */
	CHECK_EQ_INT(parse("set weight green if-version 3 5", &ap, err, sizeof(err)), -1);
	CHECK(strstr(err, "if-version N must end the command") != NULL);
	CHECK_EQ_INT(parse("promote if-version", &ap, err, sizeof(err)), -1);
	CHECK(strstr(err, "needs a number") != NULL);
	CHECK_EQ_INT(parse("promote if-version -1", &ap, err, sizeof(err)), -1);
	CHECK_EQ_INT(parse("promote if-version 012", &ap, err, sizeof(err)), -1);
	CHECK_EQ_INT(parse("promote if-version 1000000000000000", &ap, err, sizeof(err)), -1);
	CHECK_EQ_INT(parse("promote if-version 999999999999999", &ap, err, sizeof(err)), 0);
	CHECK_EQ_INT(parse("status if-version 3", &ap, err, sizeof(err)), -1);
	CHECK(strstr(err, "only to commands that change state") != NULL);
	CHECK_EQ_INT(parse("set weight green 5 6 if-version 3", &ap, err, sizeof(err)), -1);
	CHECK(strstr(err, "usage: set weight") != NULL);
}

TEST(test_readonly_commands)
{
	size_t i;

	for (i = 0; i < ACMD_COUNT; i++) {
		const struct admin_cmd_spec *c = &admin_cmd_table[i];
		int ro = strcmp(c->words, "status") == 0 || strncmp(c->words, "show ", 5) == 0 ||
		    strcmp(c->words, "help") == 0 || strcmp(c->words, "explain") == 0;

		CHECK_EQ_INT(c->readonly_ok, ro);
		if (ro)
			CHECK_EQ_INT(c->changes_state, 0);
	}
}

TEST(test_service_prefix)
{
	struct admin_parsed ap;
	char err[256];

	CHECK_EQ_INT(parse("in shop set weight green 5", &ap, err, sizeof(err)), 0);
	CHECK(ap.cmd != NULL && ap.cmd->id == ACMD_SET_WEIGHT);
	CHECK_STR(ap.service, "shop");
	CHECK_EQ_INT(ap.argc, 2);
	/* either order with json, each once */
	CHECK_EQ_INT(parse("json in api status", &ap, err, sizeof(err)), 0);
	CHECK(ap.json && ap.service != NULL && strcmp(ap.service, "api") == 0);
	CHECK_EQ_INT(parse("in api json status", &ap, err, sizeof(err)), 0);
	CHECK(ap.json && ap.service != NULL && strcmp(ap.service, "api") == 0);
	CHECK_EQ_INT(parse("in api set weight green 5 if-version 3", &ap, err, sizeof(err)), 0);
	CHECK_EQ_INT((int)ap.if_version, 3);
	CHECK_EQ_INT(parse("status", &ap, err, sizeof(err)), 0);
	CHECK(ap.service == NULL);
	/* "in" without a service and a command */
	CHECK_EQ_INT(parse("in shop", &ap, err, sizeof(err)), -1);
	CHECK(strstr(err, "in SERVICE COMMAND") != NULL);
	CHECK_EQ_INT(parse("in", &ap, err, sizeof(err)), -1);
	/* a second in is the command's word, unknown */
	CHECK_EQ_INT(parse("in a in b status", &ap, err, sizeof(err)), -1);
}

int
main(void)
{
	RUN(test_every_command_parses);
	RUN(test_table_ids_match_positions);
	RUN(test_arguments_and_json);
	RUN(test_errors);
	RUN(test_percent);
	RUN(test_pool);
	RUN(test_if_version);
	RUN(test_readonly_commands);
	RUN(test_service_prefix);
	return test_summary();
}
