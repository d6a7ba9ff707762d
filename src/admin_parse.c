/*
 * admin_parse.c - the admin command table; a line into a command and its
 * arguments.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "admin_parse.h"
#include "pct.h"

const struct admin_cmd_spec admin_cmd_table[ACMD_COUNT] = {
#define ADMIN_CMD(id, words, args, min, max, change, ro, fleet, fn, help) \
	{ ACMD_##id, words, args, min, max, change, ro, fleet, help },
#include "admin_cmds.def"
#undef ADMIN_CMD
};

static int
admin_split_words(char *line, char **w, int max)
{
	int n = 0;
	char *p = line;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t')
			*p++ = '\0';
		if (*p == '\0')
			break;
		if (n == max)
			return -1;
		w[n++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
	}
	return n;
}

/* How many words of spec->words match the start of w (0 = no match). */
static int
admin_match(const struct admin_cmd_spec *spec, char *const *w, int n)
{
	const char *t = spec->words;
	int k = 0;

	while (*t != '\0') {
		size_t len = strcspn(t, " ");

		if (k >= n || strlen(w[k]) != len || strncmp(w[k], t, len) != 0)
			return 0;
		k++;
		t += len;
		while (*t == ' ')
			t++;
	}
	return k;
}

/* The first word of commands that have several ("show", "rollout", "set"):
 * err lists them all, "show what? show events [N] | show servers | show nodes |
 * show info".
 * Returns how many there are. */
static int
admin_subcommands(const char *word, char *err, size_t errlen)
{
	size_t i, o = 0, wl = strlen(word);
	int n = 0;

	for (i = 0; i < ACMD_COUNT && o < errlen; i++) {
		const struct admin_cmd_spec *c = &admin_cmd_table[i];

		if (strncmp(c->words, word, wl) != 0 || c->words[wl] != ' ')
			continue;
		o += (size_t)snprintf(err + o, errlen - o, "%s%s%s%s%s", n ? " | " : "",
		    n ? "" : word, n ? "" : " what? ", c->words, c->args[0] ? " " : "");
		if (o < errlen)
			o += (size_t)snprintf(err + o, errlen - o, "%s", c->args);
		n++;
	}
	return n;
}

static int
admin_parse_version(const char *s, long long *v)
{
	long long x = 0;
	const char *p = s;

	if (*p == '\0' || (p[0] == '0' && p[1] != '\0'))
		return -1;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		x = x * 10 + (*p - '0');
		if (x > ADMIN_VERSION_MAX)
			return -1;
	}
	*v = x;
	return 0;
}

int
admin_parse_line(char *line, struct admin_parsed *out, char *err, size_t errlen)
{
	char *w[ADMIN_MAX_WORDS];
	int n, k = 0, kk;
	size_t i;

	memset(out, 0, sizeof(*out));
	out->if_version = -1;
	n = admin_split_words(line, w, ADMIN_MAX_WORDS);
	if (n == -1) {
		snprintf(err, errlen, "too many words (at most %d)", ADMIN_MAX_WORDS);
		return -1;
	}
	/* the prefixes, in either order, each at most once */
	for (;;) {
		if (n > 0 && strcmp(w[0], "json") == 0 && !out->json) {
			out->json = 1;
			memmove(w, w + 1, (size_t)(n - 1) * sizeof(w[0]));
			n--;
		} else if (n > 0 && strcmp(w[0], "in") == 0 && out->service == NULL) {
			if (n < 3) {
				snprintf(err, errlen, "in SERVICE COMMAND: a service and a command "
				    "after in");
				return -1;
			}
			out->service = w[1];
			memmove(w, w + 2, (size_t)(n - 2) * sizeof(w[0]));
			n -= 2;
		} else {
			break;
		}
	}
	if (n == 0) {
		snprintf(err, errlen, "empty command; try help");
		return -1;
	}
	for (i = 0; i + 1 < (size_t)n; i++) {
		if (strcmp(w[i], "if-version") != 0)
			continue;
		if (i + 2 != (size_t)n || admin_parse_version(w[i + 1], &out->if_version) == -1) {
			snprintf(err, errlen, "if-version N must end the command, N a number "
			    "0..%lld", ADMIN_VERSION_MAX);
			out->if_version = -1;
			return -1;
		}
		n -= 2;
		break;
	}
	if (n > 0 && strcmp(w[n - 1], "if-version") == 0) {
		snprintf(err, errlen, "if-version needs a number: if-version N");
		return -1;
	}
	for (i = 0; i < ACMD_COUNT; i++) {
		kk = admin_match(&admin_cmd_table[i], w, n);
		if (kk > k) {
			k = kk;
			out->cmd = &admin_cmd_table[i];
		}
	}
	if (out->cmd == NULL) {
		if (admin_subcommands(w[0], err, errlen) == 0)
			snprintf(err, errlen, "unknown command \"%.64s\"; try help", w[0]);
		return -1;
	}
	if (out->if_version >= 0 && !out->cmd->changes_state) {
		snprintf(err, errlen, "if-version applies only to commands that change state, "
		    "not to %s", out->cmd->words);
		return -1;
	}
	if (n - k < out->cmd->min_args || n - k > out->cmd->max_args) {
		snprintf(err, errlen, "usage: %s%s%s", out->cmd->words, out->cmd->args[0] ? " " : "",
		    out->cmd->args);
		return -1;
	}
	out->argc = n - k;
	memcpy(out->argv, w + k, (size_t)out->argc * sizeof(w[0]));
	return 0;
}

int
admin_parse_percent(const char *s, int *bp)
{
	int v = pct_parse(s, strlen(s), NULL);

	if (v == -1)
		return -1;
	*bp = v;
	return 0;
}

int
admin_parse_pool(const char *s)
{
	if (strcmp(s, "blue") == 0)
		return 0;
	if (strcmp(s, "green") == 0)
		return 1;
	return -1;
}
