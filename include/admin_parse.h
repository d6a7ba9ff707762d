/*
 * admin_parse.h - the admin command table and the parsing of a command
 * line against it.  Pure: no I/O, no global state besides the constant
 * table, so it is unit-tested and fuzzed on its own.  The commands are the
 * rows of admin_cmds.def; the handlers live in admin_cmds.c, chosen by the
 * command id.
 */
#ifndef BGPROXY_ADMIN_PARSE_H
#define BGPROXY_ADMIN_PARSE_H

#include <stddef.h>

enum admin_cmd_id {
#define ADMIN_CMD(id, words, args, min, max, change, ro, fleet, fn, help) ACMD_##id,
#include "admin_cmds.def"
#undef ADMIN_CMD
	ACMD_COUNT
};

struct admin_cmd_spec {
	enum admin_cmd_id id;
	const char *words;        /* the command's fixed words */
	const char *args;         /* argument synopsis for help and usage errors */
	int min_args, max_args;
	int changes_state;        /* audited; takes a trailing if-version N */
	int readonly_ok;          /* answered on the read-only socket */
	int fleet;                /* with a cluster, waits for the fleet's record */
	const char *help;
};

extern const struct admin_cmd_spec admin_cmd_table[ACMD_COUNT];

#define ADMIN_MAX_WORDS 16

struct admin_parsed {
	const struct admin_cmd_spec *cmd;   /* set once a command matched */
	int json;                           /* the line began with "json " */
	const char *service;                /* "in SERVICE" before the command, NULL none */
	long long if_version;               /* trailing "if-version N", -1 none */
	int argc;
	char *argv[ADMIN_MAX_WORDS];        /* point into the line */
};

#define ADMIN_VERSION_MAX 999999999999999LL

/*
 * Split line (modified in place: separators become NULs) into words, strip
 * a leading "json" and "in SERVICE" (in either order) and a trailing
 * "if-version N" (N 0..10^15; only on a
 * command that changes state), match the longest command and check its
 * argument count.  Returns 0, or -1 with a message in err (out->cmd is set when the
 * command matched but its arguments did not, so callers can audit it).
 */
int admin_parse_line(char *line, struct admin_parsed *out, char *err, size_t errlen);

/* "0".."100" with at most two decimals -> basis points; 0 or -1. */
int admin_parse_percent(const char *s, int *bp);

/* "blue" -> 0, "green" -> 1, anything else -1. */
int admin_parse_pool(const char *s);

#endif
