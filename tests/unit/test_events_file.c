/*
 * test_events_file.c - the events kept beside the state file: round trip,
 * the newest kept, kinds read back as the static strings, refusals, and
 * the file itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events_file.h"
#include "test.h"

static unsigned long long ver;

static struct state_ev
ev(const char *kind, int i)
{
	struct state_ev e;

	memset(&e, 0, sizeof(e));
	e.kind = kind;
	snprintf(e.time, sizeof(e.time), "2026-12-07T10:00:%02d.000Z", i % 60);
	snprintf(e.from, sizeof(e.from), "blue 90.00%%, green 10.00%%");
	snprintf(e.to, sizeof(e.to), "blue 100.00%%, green 0.00%%");
	snprintf(e.actor, sizeof(e.actor), "guard");
	snprintf(e.evidence, sizeof(e.evidence), "error_rate 0.62 > 0.05 \"quoted\"\n%d", i);
	snprintf(e.text, sizeof(e.text), "%s revert %d by guard", e.time, i);
	return e;
}

TEST(round_trip)
{
	struct state_ev in[3], out[3];
	char err[256], *text;
	int n, i;

	in[0] = ev("revert", 0);
	in[1] = ev("sync", 1);
	in[2] = ev("some_future_kind", 2);
	text = events_format(in, 3, 42);
	CHECK(text != NULL);
	n = events_parse(text, strlen(text), out, 3, &ver, err, sizeof(err));
	CHECK_EQ_INT(n, 3);
	CHECK_EQ_INT(ver, 42);
	for (i = 0; i < 3; i++) {
		CHECK_STR(out[i].time, in[i].time);
		CHECK_STR(out[i].text, in[i].text);
	}
	/* control characters come back as '?' (the evidence had a newline) */
	CHECK(strchr(out[0].evidence, '\n') == NULL && strstr(out[0].evidence, "\"quoted\"?0"));
	/* kinds come back as state.c's static strings, unknown ones as "event" */
	CHECK_STR(out[0].kind, "revert");
	CHECK_STR(out[1].kind, "sync");
	CHECK_STR(out[2].kind, "event");
	free(text);
}

TEST(the_newest_are_kept)
{
	struct state_ev in[10], out[4];
	char err[256], *text;
	int i;

	for (i = 0; i < 10; i++)
		in[i] = ev("step", i);
	text = events_format(in, 10, 7);
	CHECK_EQ_INT(events_parse(text, strlen(text), out, 4, &ver, err, sizeof(err)), 4);
	CHECK_STR(out[0].text, in[6].text);
	CHECK_STR(out[3].text, in[9].text);
	free(text);
}

static const char *
refusal(const char *text)
{
	static char err[256];
	struct state_ev out[4];

	if (events_parse(text, strlen(text), out, 4, &ver, err, sizeof(err)) >= 0)
		return "(parsed)";
	return err;
}

TEST(refusals)
{
	CHECK_STR(refusal("{\"events\":[]}"), "(parsed)");
	CHECK_STR(refusal("{\"events\":{}}"), "\"events\" must be a list");
	CHECK_STR(refusal("{\"events\":[{\"time\":1}]}"), "events[0]: time, kind, from, to, "
	    "actor, evidence and text must be strings");
	CHECK(strncmp(refusal("{\"events\":["), "not JSON", 8) == 0);
	CHECK(strncmp(refusal("{\"events\":[],\"events\":[]}"), "not JSON", 8) == 0);
}

TEST(the_file)
{
	char dir[] = "/tmp/bgp-events-XXXXXX", path[256], err[256];
	struct state_ev in[2], out[2];
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/state.events", dir);
	/* no file yet: no events */
	CHECK_EQ_INT(events_load(path, out, 2, &ver, err, sizeof(err)), 0);
	in[0] = ev("start", 0);
	in[1] = ev("revert", 1);
	CHECK_EQ_INT(events_save(path, in, 2, 99, err, sizeof(err)), 0);
	CHECK_EQ_INT(events_load(path, out, 2, &ver, err, sizeof(err)), 2);
	CHECK_STR(out[1].text, in[1].text);
	CHECK_EQ_INT(ver, 99);
	/* damage is reported, not taken */
	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("{\"events\":[{\"time\":", f);
	fclose(f);
	CHECK_EQ_INT(events_load(path, out, 2, &ver, err, sizeof(err)), -1);
	unlink(path);
	/* a FIFO there is refused at once, not waited on */
	CHECK(mkfifo(path, 0600) == 0);
	CHECK_EQ_INT(events_load(path, out, 2, &ver, err, sizeof(err)), -1);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	RUN(round_trip);
	RUN(the_newest_are_kept);
	RUN(refusals);
	RUN(the_file);
	return test_summary();
}
