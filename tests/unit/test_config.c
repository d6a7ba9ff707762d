/*
 * test_config.c - config_load: the example file, defaults, every error kind
 * with its exact "FILE:LINE: message", addresses and CIDR matching.
 *
 * Run from the repository root, or set BGPROXY_SRCDIR to it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Three lines that make a file valid; error tests put their lines first. */
#define MINIMAL \
	"listen = ( { address = \"127.0.0.1:8080\"; } );\n" MIN_POOLS
#define MIN_POOLS \
	"pools = { blue = { servers = ( { address = \"127.0.0.1:9001\"; } ); };\n" \
	"          green = { servers = ( { address = \"127.0.0.1:9002\"; } ); }; };\n"

static char tmp_path[64];

/* Write text to a fresh temporary file named in tmp_path. */
static void write_tmp(const char *text)
{
	strcpy(tmp_path, "/tmp/bgproxy-test-XXXXXX");
	int fd = mkstemp(tmp_path);
	if (fd == -1 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		perror("test_config: temporary file");
	if (fd != -1)
		close(fd);
}

static struct config *load_text(const char *text, char **errs)
{
	write_tmp(text);
	struct config *c = config_load(tmp_path, errs);
	unlink(tmp_path);
	return c;
}

/* The errors of text, with the temporary file name replaced by "F". */
static char *errors_of(const char *text)
{
	static char out[8192];
	char *errs = NULL, *p;
	struct config *c = load_text(text, &errs);
	size_t plen = strlen(tmp_path), n = 0;

	config_free(c);
	if (errs == NULL)
		return "(no error)";
	for (p = errs; *p && n + 2 < sizeof out; ) {
		if (strncmp(p, tmp_path, plen) == 0) {
			out[n++] = 'F';
			p += plen;
		} else {
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	free(errs);
	return out;
}

/* Write text to dir/name. */
static void put_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

/* A cycle of @include is refused at once; a file including another twice,
 * nested deep, is bounded by a total of included files, not walked 2^depth
 * times; a plain chain of includes still loads. */
TEST(include_cycles_and_fan_out)
{
	char dir[] = "/tmp/bgproxy-inc-XXXXXX", name[32], text[1024], path[256];
	int i;

	if (mkdtemp(dir) == NULL) {
		CHECK(0);
		return;
	}
	snprintf(text, sizeof text, "@include \"%s/self.conf\"\n", dir);
	put_file(dir, "self.conf", text);
	snprintf(text, sizeof text, "@include \"%s/self.conf\"\n" MINIMAL, dir);
	CHECK(strstr(errors_of(text), "self.conf:1: @include \"") != NULL);
	CHECK(strstr(errors_of(text), "self.conf\": the file includes itself") != NULL);

	snprintf(text, sizeof text, "@include \"%s/b.conf\"\n", dir);
	put_file(dir, "a.conf", text);
	snprintf(text, sizeof text, "@include \"%s/a.conf\"\n", dir);
	put_file(dir, "b.conf", text);
	snprintf(text, sizeof text, "@include \"%s/a.conf\"\n" MINIMAL, dir);
	CHECK(strstr(errors_of(text), "b.conf:1: @include \"") != NULL);
	CHECK(strstr(errors_of(text), "a.conf\": the file includes itself") != NULL);

	/* f0 includes f1 twice, f1 includes f2 twice, ... f9 is empty */
	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof name, "f%d.conf", i);
		if (i == 9)
			text[0] = '\0';
		else
			snprintf(text, sizeof text, "@include \"%s/f%d.conf\"\n"
			    "@include \"%s/f%d.conf\"\n", dir, i + 1, dir, i + 1);
		put_file(dir, name, text);
	}
	snprintf(text, sizeof text, "@include \"%s/f0.conf\"\n" MINIMAL, dir);
	CHECK(strstr(errors_of(text), "too many included files (at most 256 in all)") != NULL);

	/* a chain of three: loads */
	snprintf(text, sizeof text, "@include \"%s/c2.conf\"\n", dir);
	put_file(dir, "c1.conf", text);
	put_file(dir, "c2.conf", MIN_POOLS);
	snprintf(text, sizeof text, "listen = ( { address = \"127.0.0.1:8080\"; } );\n"
	    "@include \"%s/c1.conf\"\n", dir);
	CHECK_STR(errors_of(text), "(no error)");

	static const char *const names[] = { "self.conf", "a.conf", "b.conf", "c1.conf",
		"c2.conf", "f0.conf", "f1.conf", "f2.conf", "f3.conf", "f4.conf", "f5.conf",
		"f6.conf", "f7.conf", "f8.conf", "f9.conf" };
	for (i = 0; i < (int)(sizeof names / sizeof names[0]); i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

/* @include names as libconfig reads them: \\ and \" are escapes, a file
 * named by the raw text never stands in for the one libconfig opens */
TEST(include_names_with_escapes)
{
	char dir[] = "/tmp/bgproxy-inc-XXXXXX", p1[128], p2[128], text[512];
	FILE *f;

	if (mkdtemp(dir) == NULL) {
		CHECK(0);
		return;
	}
	/* a file named by the raw text a\ and a directory named a"b */
	snprintf(p1, sizeof p1, "%s/a\\", dir);
	snprintf(p2, sizeof p2, "%s/a\"b", dir);
	f = fopen(p1, "w");
	CHECK(f != NULL);
	if (f != NULL)
		fclose(f);
	CHECK(mkdir(p2, 0700) == 0);
	snprintf(text, sizeof text, "@include \"%s/a\\\"b\"\n" MINIMAL, dir);
	CHECK(strstr(errors_of(text), "\": not a regular file") != NULL);
	CHECK(strstr(errors_of(text), "/a\"b\"") != NULL);
	/* a\\ is the file a\: it is read */
	snprintf(text, sizeof text, "@include \"%s/a\\\\\"\n" MINIMAL, dir);
	CHECK_STR(errors_of(text), "(no error)");
	/* another escape, a NUL byte */
	snprintf(text, sizeof text, "@include \"%s/a\\tb\"\n" MINIMAL, dir);
	CHECK_STR(errors_of(text), "F:1: @include: only \\\\ and \\\" may follow a backslash in "
	    "the file name\n");
	{
		static const char nul[] = "@include \"/tmp\0/x\"\n";
		char *errs = NULL;
		struct config *c;
		int fd;

		strcpy(tmp_path, "/tmp/bgproxy-test-XXXXXX");
		fd = mkstemp(tmp_path);
		CHECK(fd != -1 && write(fd, nul, sizeof nul - 1) == (ssize_t)(sizeof nul - 1));
		close(fd);
		c = config_load(tmp_path, &errs);
		unlink(tmp_path);
		CHECK(c == NULL && errs != NULL && strstr(errs, ":1: @include: NUL byte") != NULL);
		config_free(c);
		free(errs);
	}
	unlink(p1);
	rmdir(p2);
	rmdir(dir);
}

TEST(example_loads)
{
	const char *dir = getenv("BGPROXY_SRCDIR");
	char path[1024], *errs = NULL;

	snprintf(path, sizeof path, "%s%sconfig/bgproxy.conf", dir ? dir : "", dir ? "/" : "");
	struct config *c = config_load(path, &errs);
	CHECK(c != NULL);
	CHECK(errs == NULL);
	if (errs)
		printf("  %s", errs);
	if (c == NULL)
		return;
	CHECK_EQ_INT(c->nlisteners, 1);
	CHECK_STR(c->listeners[0].addr.text, "127.0.0.1:8080");
	CHECK_EQ_INT(c->metrics_enabled, 1);
	CHECK_STR(c->metrics_addr.text, "127.0.0.1:9100");
	CHECK_STR(c->admin_socket, "/tmp/bgproxy-demo.sock");
	CHECK_EQ_INT(c->admin_mode, 0600);
	CHECK_EQ_INT(c->svcs[0].pools[POOL_BLUE].health.enabled, 1);
	CHECK_EQ_INT(c->svcs[0].pools[POOL_GREEN].nservers, 1);
	config_free(c);
}

TEST(minimal_defaults)
{
	char *errs = NULL;
	struct config *c = load_text(MINIMAL, &errs);
	static const int steps[] = { 100, 500, 1000, 2500, 5000, 10000 };

	CHECK(c != NULL);
	if (c == NULL) {
		printf("  %s", errs);
		free(errs);
		return;
	}
	CHECK_EQ_INT(c->workers, 1);
	CHECK(c->state_file == NULL);
	CHECK_STR(c->admin_socket, "/run/bgproxy/admin.sock");
	CHECK_EQ_INT(c->admin_mode, 0600);
	CHECK_STR(c->admin_audit_log, "/var/log/bgproxy/audit.log");
	CHECK_EQ_INT(c->metrics_enabled, 0);
	CHECK_STR(c->svcs[0].pools[POOL_BLUE].name, "blue");
	CHECK_EQ_INT(c->svcs[0].pools[POOL_BLUE].servers[0].weight, 1);
	CHECK_EQ_INT(c->svcs[0].pools[POOL_BLUE].health.enabled, 0);
	CHECK_STR(c->svcs[0].pools[POOL_GREEN].health.path, "/healthz");
	CHECK_EQ_INT(c->svcs[0].pools[POOL_GREEN].health.interval_ms, 1000);
	CHECK_EQ_INT(c->svcs[0].pools[POOL_GREEN].health.timeout_ms, 500);
	CHECK_EQ_INT(c->svcs[0].pools[POOL_GREEN].health.rise, 2);
	CHECK_EQ_INT(c->svcs[0].pools[POOL_GREEN].health.fall, 3);
	CHECK_EQ_INT(c->svcs[0].stable, POOL_BLUE);
	CHECK_EQ_INT(c->svcs[0].candidate_bp, 0);
	CHECK_STR(c->svcs[0].cookie, "bgp");
	CHECK_STR(c->svcs[0].header, "");
	CHECK_STR(c->svcs[0].override_header, "X-Bgproxy-Pool");
	CHECK_EQ_INT(c->svcs[0].noverride_from, 2);
	CHECK_EQ_INT(c->svcs[0].retry_candidate_failures, 1);
	CHECK_EQ_INT(c->svcs[0].expose_header, 0);
	CHECK_EQ_INT(c->svcs[0].guard_interval_ms, 250);
	CHECK_EQ_INT(c->svcs[0].guard_window_s, 10);
	CHECK_EQ_INT(c->svcs[0].guard_min_requests, 20);
	CHECK(c->svcs[0].guard_max_error_rate == 0.05);
	CHECK_EQ_INT(c->svcs[0].guard_max_p99_ms, 0);
	CHECK(c->svcs[0].guard_min_healthy_fraction == 0.5);
	CHECK(c->svcs[0].guard_max_error_delta == 0.0);
	CHECK(c->svcs[0].guard_max_p99_ratio == 0.0);
	CHECK_EQ_INT(c->svcs[0].guard_bake_s, 0);
	CHECK_EQ_INT(c->svcs[0].guard_dry_run, 0);
	CHECK_EQ_INT(c->svcs[0].rollout_nsteps, 6);
	CHECK(memcmp(c->svcs[0].rollout_steps_bp, steps, sizeof steps) == 0);
	CHECK_EQ_INT(c->svcs[0].rollout_hold_s, 60);
	CHECK_EQ_INT(c->svcs[0].rollout_min_requests, 20);   /* guard.min_requests */
	CHECK_EQ_INT(c->t_client_header_ms, 10000);
	CHECK_EQ_INT(c->t_client_idle_ms, 60000);
	CHECK_EQ_INT(c->t_upstream_connect_ms, 2000);
	CHECK_EQ_INT(c->t_upstream_response_ms, 30000);
	CHECK_EQ_INT(c->t_client_body_ms, 60000);
	CHECK_EQ_INT(c->t_upstream_idle_ms, 30000);
	CHECK_EQ_INT(c->t_shutdown_ms, 10000);
	CHECK_EQ_INT(c->max_connections, 10000);
	CHECK_EQ_INT(c->max_header_bytes, 16384);
	CHECK_EQ_INT(c->max_headers, 100);
	CHECK_EQ_INT(c->log_level, 2);
	CHECK_STR(c->log_access, "stderr");
	config_free(c);
}

TEST(values_are_read)
{
	char *errs = NULL;
	struct config *c = load_text(
	    "workers = 4; state_file = \"/tmp/s\";\n"
	    "admin = { mode = \"660\"; audit_log = \"off\"; };\n"
	    "split = { stable = \"green\"; candidate_percent = 12.5; cookie = \"\";\n"
	    "  header = \"X-User-Id\"; override_from = []; expose_header = true; };\n"
	    "rollout = { steps = ( 0.5, 12.25, 100 ); };\n"
	    "log = { level = \"debug\"; };\n"
	    "guard = { max_error_rate = 1; };\n" MINIMAL, &errs);

	CHECK(c != NULL);
	if (c == NULL) {
		printf("  %s", errs);
		free(errs);
		return;
	}
	CHECK_EQ_INT(c->workers, 4);
	CHECK_STR(c->state_file, "/tmp/s");
	CHECK_EQ_INT(c->admin_mode, 0660);
	CHECK(c->admin_audit_log == NULL);
	CHECK_EQ_INT(c->svcs[0].stable, POOL_GREEN);
	CHECK_EQ_INT(c->svcs[0].candidate_bp, 1250);
	CHECK_STR(c->svcs[0].cookie, "");
	CHECK_STR(c->svcs[0].header, "X-User-Id");
	CHECK_EQ_INT(c->svcs[0].noverride_from, 0);
	CHECK_EQ_INT(c->svcs[0].expose_header, 1);
	CHECK_EQ_INT(c->svcs[0].rollout_nsteps, 3);
	CHECK_EQ_INT(c->svcs[0].rollout_steps_bp[0], 50);
	CHECK_EQ_INT(c->svcs[0].rollout_steps_bp[1], 1225);
	CHECK_EQ_INT(c->svcs[0].rollout_steps_bp[2], 10000);
	CHECK_EQ_INT(c->log_level, 3);
	CHECK(c->svcs[0].guard_max_error_rate == 1.0);
	config_free(c);
}

TEST(percent_int_and_float_agree)
{
	char *e1 = NULL, *e2 = NULL;
	struct config *a = load_text("split = { candidate_percent = 20; };\n" MINIMAL, &e1);
	struct config *b = load_text("split = { candidate_percent = 20.0; };\n" MINIMAL, &e2);

	CHECK(a != NULL && b != NULL);
	if (a && b) {
		CHECK_EQ_INT(a->svcs[0].candidate_bp, 2000);
		CHECK_EQ_INT(b->svcs[0].candidate_bp, 2000);
	}
	config_free(a);
	config_free(b);
	free(e1);
	free(e2);
}

TEST(error_unknown_top_key)
{
	CHECK_STR(errors_of("workers = 2;\nfoo = 1;\n" MINIMAL),
	    "F:2: unknown key \"foo\" at the top level; allowed: admin, cluster, guard, http2, limits, listen, log, "
	    "metrics, notify, pools, rollout, services, split, state_file, timeouts, workers\n");
}

TEST(error_unknown_nested_key)
{
	CHECK_STR(errors_of("timeouts = {\n  client_idle_ms = 5;\n  foo = 1;\n};\n" MINIMAL),
	    "F:3: unknown key \"foo\" in \"timeouts\"; allowed: client_body_ms, client_header_ms, "
	    "client_idle_ms, queue_ms, shutdown_ms, upstream_connect_ms, upstream_idle_ms, "
	    "upstream_response_ms\n");
	CHECK_STR(errors_of("listen = ( { address = \"127.0.0.1:1\";\n  port = 2; } );\n"
	    "pools = { blue = { servers = ( { address = \"127.0.0.1:9001\"; } ); };\n"
	    "  green = { servers = ( { address = \"127.0.0.1:9002\"; wait = 1; } ); }; };\n"),
	    "F:2: unknown key \"port\" in \"listen[0]\"; allowed: address, h2c, tls\n"
	    "F:4: unknown key \"wait\" in \"pools.green.servers[0]\"; allowed: address, max_connections, weight\n");
}

TEST(error_wrong_type)
{
	CHECK_STR(errors_of("workers = \"4\";\n" MINIMAL),
	    "F:1: \"workers\" must be an integer, got a string\n");
	CHECK_STR(errors_of("split = { expose_header = 1; };\n" MINIMAL),
	    "F:1: \"split.expose_header\" must be a boolean (true or false), got an integer\n");
	CHECK_STR(errors_of("limits = 5;\n" MINIMAL),
	    "F:1: \"limits\" must be a group { ... }, got an integer\n");
}

TEST(error_out_of_range)
{
	CHECK_STR(errors_of("workers = 0;\n" MINIMAL),
	    "F:1: \"workers\" must be 1..64, got 0\n");
	CHECK_STR(errors_of("\nguard = { max_error_rate = 1.5; };\n" MINIMAL),
	    "F:2: \"guard.max_error_rate\" must be 0..1, got 1.5\n");
	CHECK_STR(errors_of("split = { candidate_percent = 100.001; };\n" MINIMAL),
	    "F:1: \"split.candidate_percent\" must be 0..100 with at most two decimals, "
	    "got 100.001\n");
	CHECK_STR(errors_of("split = { candidate_percent = 10.125; };\n" MINIMAL),
	    "F:1: \"split.candidate_percent\" must be 0..100 with at most two decimals, "
	    "got 10.125\n");
}

TEST(error_admin_mode)
{
	CHECK_STR(errors_of("admin = { mode = 0600; };\n" MINIMAL),
	    "F:1: \"admin.mode\" must be a string of octal digits such as \"0600\" "
	    "(libconfig reads 0600 as decimal), got an integer\n");
	CHECK_STR(errors_of("admin = { mode = \"0680\"; };\n" MINIMAL),
	    "F:1: \"admin.mode\" must be a string of octal digits \"0000\"..\"0777\", "
	    "got \"0680\"\n");
	CHECK_STR(errors_of("admin = { mode = \"1777\"; };\n" MINIMAL),
	    "F:1: \"admin.mode\" must be a string of octal digits \"0000\"..\"0777\", "
	    "got \"1777\"\n");
}

TEST(error_addresses)
{
	CHECK_STR(errors_of("listen = ( { address = \"example.com:80\"; } );\n"
	    "pools = { blue = { servers = ( { address = \"127.0.0.1:9001\"; } ); };\n"
	    "  green = { servers = ( { address = \"::1:80\"; } ); }; };\n"),
	    "F:1: \"listen[0].address\": bad address \"example.com:80\"; allowed: IPV4:PORT, "
	    "[IPV6]:PORT, *:PORT or localhost:PORT with a numeric IP\n"
	    "F:3: \"pools.green.servers[0].address\": bad address \"::1:80\"; allowed: IPV4:PORT, "
	    "[IPV6]:PORT, *:PORT or localhost:PORT with a numeric IP\n");
	CHECK_STR(errors_of("listen = ( { address = \"*:65536\"; } );\n"
	    "pools = { blue = { servers = ( { address = \"127.0.0.1:0\"; } ); };\n"
	    "  green = { servers = ( { address = \"[::1]:x\"; } ); }; };\n"),
	    "F:1: \"listen[0].address\": port must be 1..65535, got \"65536\"\n"
	    "F:2: \"pools.blue.servers[0].address\": port must be 1..65535, got \"0\"\n"
	    "F:3: \"pools.green.servers[0].address\": port must be 1..65535, got \"x\"\n");
}

TEST(error_duplicates)
{
	CHECK_STR(errors_of("listen = ( { address = \"127.0.0.1:80\"; },\n"
	    "  { address = \"localhost:80\"; } );\n"
	    "pools = { blue = { servers = ( { address = \"[::1]:1\"; },\n"
	    "  { address = \"[0::1]:1\"; } ); };\n"
	    "  green = { servers = ( { address = \"127.0.0.1:9002\"; } ); }; };\n"),
	    "F:2: duplicate listener address \"localhost:80\" (first at line 1)\n"
	    "F:4: duplicate server address \"[0::1]:1\" in pool \"blue\" (first at line 3)\n");
}

TEST(error_pools)
{
	CHECK_STR(errors_of("listen = ( { address = \"127.0.0.1:80\"; } );\n"
	    "pools = {\n  blue = { servers = (); };\n"
	    "  green = { servers = ( { address = \"127.0.0.1:9002\"; } ); };\n"
	    "  red = { };\n};\n"),
	    "F:3: \"pools.blue.servers\" must list at least one server\n"
	    "F:5: unknown key \"red\" in \"pools\"; allowed: blue, green\n");
	CHECK_STR(errors_of("listen = ( { address = \"127.0.0.1:80\"; } );\n"
	    "pools = {\n  blue = { servers = ( { address = \"127.0.0.1:9001\"; } ); };\n};\n"),
	    "F:2: missing required key \"green\" in \"pools\"\n");
	CHECK_STR(errors_of("listen = ( { address = \"127.0.0.1:80\"; } );\n"
	    "pools = {\n  blue = { health = { }; };\n"
	    "  green = { servers = ( { address = \"127.0.0.1:9002\"; } );\n"
	    "    health = { interval_ms = 200; timeout_ms = 200; }; }; };\n"),
	    "F:3: missing required key \"servers\" in \"pools.blue\"\n"
	    "F:5: \"pools.green.health.timeout_ms\" (200) must be less than interval_ms (200)\n");
	CHECK_STR(errors_of("workers = 1;\n"),
	    "F:1: missing required key \"listen\" at the top level\n"
	    "F:1: missing required key \"pools\" at the top level\n");
}

TEST(error_cidr)
{
	CHECK_STR(errors_of("split = {\n  override_from = [ \"10.0.0.0/8\", \"10.0.0.0/33\",\n"
	    "    \"::1/129\", \"bad\", \"10.0.0.0/\" ]; };\n" MINIMAL),
	    "F:2: \"split.override_from[1]\" must be a CIDR such as \"10.0.0.0/8\", \"::1/128\" "
	    "or a bare IP, got \"10.0.0.0/33\"\n"
	    "F:3: \"split.override_from[2]\" must be a CIDR such as \"10.0.0.0/8\", \"::1/128\" "
	    "or a bare IP, got \"::1/129\"\n"
	    "F:3: \"split.override_from[3]\" must be a CIDR such as \"10.0.0.0/8\", \"::1/128\" "
	    "or a bare IP, got \"bad\"\n"
	    "F:3: \"split.override_from[4]\" must be a CIDR such as \"10.0.0.0/8\", \"::1/128\" "
	    "or a bare IP, got \"10.0.0.0/\"\n");
}

TEST(error_rollout_steps)
{
	CHECK_STR(errors_of("rollout = { steps = [ 1, 5, 5, 100 ]; };\n" MINIMAL),
	    "F:1: \"rollout.steps[2]\" must be above the step before it (5), got 5; "
	    "steps are strictly increasing\n");
	CHECK_STR(errors_of("rollout = { steps = [ 1, 5, 50 ]; };\n" MINIMAL),
	    "F:1: \"rollout.steps\" must end with 100, got 50\n");
	CHECK_STR(errors_of("rollout = { steps = [ 1.125, 100.0 ]; };\n" MINIMAL),
	    "F:1: \"rollout.steps[0]\" must be above 0 and at most 100 with at most two "
	    "decimals, got 1.125\n");
	CHECK_STR(errors_of("rollout = { steps = [ 0, 100 ]; };\n" MINIMAL),
	    "F:1: \"rollout.steps[0]\" must be above 0 and at most 100 with at most two "
	    "decimals, got 0\n");
	CHECK_STR(errors_of("rollout = { steps = [ ]; };\n" MINIMAL),
	    "F:1: \"rollout.steps\" must list 1..32 steps, got 0\n");
}

TEST(error_strings)
{
	CHECK_STR(errors_of("split = { cookie = \"a b\"; };\n" MINIMAL),
	    "F:1: \"split.cookie\" must be \"\" or a token (letters, digits and "
	    "!#$%&'*+-.^_`|~), got \"a b\"\n");
	/* names that go into every head are bounded */
	CHECK_STR(errors_of("split = { cookie = \"" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "\"; };\n"
	    MINIMAL), "(no error)");
	CHECK(strstr(errors_of("split = { header = \"" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "\"; };\n" MINIMAL), "F:1: \"split.header\" must be at most 64 bytes") != NULL);
	CHECK_STR(errors_of("log = { level = \"loud\"; };\n" MINIMAL),
	    "F:1: \"log.level\" must be one of \"error\", \"warn\", \"info\", \"debug\", "
	    "got \"loud\"\n");
	CHECK_STR(errors_of(MINIMAL "pools = 1;\n"),
	    "F:4: syntax error: duplicate setting name\n");
}

TEST(error_syntax)
{
	CHECK_STR(errors_of("workers = 1;\n\ntimeouts = { client_idle_ms = ; };\n" MINIMAL),
	    "F:3: syntax error\n");
}

TEST(error_missing_file)
{
	char *errs = NULL;
	struct config *c = config_load("/nonexistent/bgproxy.conf", &errs);

	CHECK(c == NULL);
	CHECK_STR(errs, "/nonexistent/bgproxy.conf: cannot read the configuration: "
	    "No such file or directory\n");
	free(errs);
}

TEST(errors_all_reported)
{
	CHECK_STR(errors_of("workers = 65;\nfoo = 1;\nlimits = { max_headers = 0; };\n"
	    "admin = { mode = 600; };\n" MINIMAL),
	    "F:1: \"workers\" must be 1..64, got 65\n"
	    "F:2: unknown key \"foo\" at the top level; allowed: admin, cluster, guard, http2, limits, listen, log, "
	    "metrics, notify, pools, rollout, services, split, state_file, timeouts, workers\n"
	    "F:3: \"limits.max_headers\" must be 1..256, got 0\n"
	    "F:4: \"admin.mode\" must be a string of octal digits such as \"0600\" "
	    "(libconfig reads 0600 as decimal), got an integer\n");
}

TEST(tls_certificates)
{
	char dir[] = "/tmp/bgproxy-tls-XXXXXX", cert[128], conf[128], *errs = NULL;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(cert, sizeof cert, "%s/site.pem", dir);
	snprintf(conf, sizeof conf, "%s/b.conf", dir);
	f = fopen(cert, "w");
	fputs("x\n", f);
	fclose(f);
	f = fopen(conf, "w");
	fputs("listen = ( { address = \"[::]:8443\";\n"
	    "  tls = { certificates = ( { cert = \"site.pem\";\n"
	    "    key = \"site.key\"; } ); min_version = \"TLSv1.3\"; }; } );\n"
	    MIN_POOLS, f);
	fclose(f);
	struct config *c = config_load(conf, &errs);
	CHECK(c == NULL);
	char want[512];
	snprintf(want, sizeof want, "%s:3: key file \"site.key\" cannot be read: "
	    "No such file or directory\n", conf);
	CHECK_STR(errs, want);
	free(errs);
	errs = NULL;
	snprintf(cert, sizeof cert, "%s/site.key", dir);
	f = fopen(cert, "w");
	fclose(f);
	c = config_load(conf, &errs);
	CHECK(c != NULL);
	if (c != NULL) {
		CHECK_EQ_INT(c->listeners[0].tls, 1);
		CHECK_EQ_INT(c->listeners[0].min_tls13, 1);
		CHECK_EQ_INT(c->listeners[0].ncerts, 1);
		snprintf(want, sizeof want, "%s/site.pem", dir);
		CHECK_STR(c->listeners[0].certs[0].cert, want);
		CHECK_EQ_INT(c->listeners[0].certs[0].line, 2);
		CHECK_EQ_INT(c->listeners[0].addr.ss.ss_family, AF_INET6);
	}
	config_free(c);
	free(errs);
	unlink(cert);
	snprintf(cert, sizeof cert, "%s/site.pem", dir);
	unlink(cert);
	unlink(conf);
	rmdir(dir);
}

TEST(parse_addr_forms)
{
	struct config_addr a;
	char err[256];

	CHECK_EQ_INT(config_parse_addr("*:80", &a, err, sizeof err), 0);
	CHECK_EQ_INT(a.ss.ss_family, AF_INET);
	CHECK_EQ_INT(((struct sockaddr_in *)&a.ss)->sin_addr.s_addr, htonl(INADDR_ANY));
	CHECK_EQ_INT(ntohs(((struct sockaddr_in *)&a.ss)->sin_port), 80);
	CHECK_EQ_INT(a.len, sizeof(struct sockaddr_in));
	CHECK_STR(a.text, "*:80");
	CHECK_EQ_INT(config_parse_addr("localhost:8080", &a, err, sizeof err), 0);
	CHECK_EQ_INT(((struct sockaddr_in *)&a.ss)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	CHECK_EQ_INT(config_parse_addr("[::1]:65535", &a, err, sizeof err), 0);
	CHECK_EQ_INT(a.ss.ss_family, AF_INET6);
	CHECK_EQ_INT(a.len, sizeof(struct sockaddr_in6));
	CHECK_EQ_INT(ntohs(((struct sockaddr_in6 *)&a.ss)->sin6_port), 65535);
	CHECK_EQ_INT(config_parse_addr("10.1.2.3:1", &a, err, sizeof err), 0);
	CHECK_EQ_INT(config_parse_addr("10.1.2.3", &a, err, sizeof err), -1);
	CHECK_EQ_INT(config_parse_addr(":80", &a, err, sizeof err), -1);
	CHECK_EQ_INT(config_parse_addr("[]:80", &a, err, sizeof err), -1);
	CHECK_EQ_INT(config_parse_addr("[::1]80", &a, err, sizeof err), -1);
	CHECK_EQ_INT(config_parse_addr("[1.2.3.4]:80", &a, err, sizeof err), -1);
	CHECK_EQ_INT(config_parse_addr("1.2.3.4:+80", &a, err, sizeof err), -1);
	CHECK_EQ_INT(config_parse_addr("1.2.3.4:080000", &a, err, sizeof err), -1);
	CHECK_EQ_INT(config_parse_addr("01.2.3.4:80", &a, err, sizeof err), -1);
}

static struct sockaddr_storage sa_of(const char *ip)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof ss);
	if (strchr(ip, ':')) {
		ss.ss_family = AF_INET6;
		inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr);
	} else {
		ss.ss_family = AF_INET;
		inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr);
	}
	return ss;
}

static int match(const struct config_cidr *c, size_t n, const char *ip)
{
	struct sockaddr_storage ss = sa_of(ip);

	return config_cidr_match(c, n, (struct sockaddr *)&ss);
}

TEST(cidr_match)
{
	char *errs = NULL;
	struct config *c = load_text("split = { override_from = [ \"10.0.0.0/8\", "
	    "\"192.168.1.7\", \"2001:db8::/32\", \"::1\", \"172.16.0.0/12\" ]; };\n" MINIMAL, &errs);

	CHECK(c != NULL);
	if (c == NULL) {
		free(errs);
		return;
	}
	CHECK_EQ_INT(c->svcs[0].noverride_from, 5);
	CHECK_EQ_INT(match(c->svcs[0].override_from, c->svcs[0].noverride_from, "10.255.0.1"), 1);
	CHECK_EQ_INT(match(c->svcs[0].override_from, c->svcs[0].noverride_from, "11.0.0.1"), 0);
	CHECK_EQ_INT(match(c->svcs[0].override_from, c->svcs[0].noverride_from, "192.168.1.7"), 1);
	CHECK_EQ_INT(match(c->svcs[0].override_from, c->svcs[0].noverride_from, "192.168.1.8"), 0);
	CHECK_EQ_INT(match(c->svcs[0].override_from, c->svcs[0].noverride_from, "172.31.255.255"), 1);
	CHECK_EQ_INT(match(c->svcs[0].override_from, c->svcs[0].noverride_from, "172.32.0.0"), 0);
	CHECK_EQ_INT(match(c->svcs[0].override_from, c->svcs[0].noverride_from, "2001:db8:ffff::1"), 1);
	CHECK_EQ_INT(match(c->svcs[0].override_from, c->svcs[0].noverride_from, "2001:db9::1"), 0);
	CHECK_EQ_INT(match(c->svcs[0].override_from, c->svcs[0].noverride_from, "::1"), 1);
	CHECK_EQ_INT(match(c->svcs[0].override_from, c->svcs[0].noverride_from, "::2"), 0);
	CHECK_EQ_INT(match(c->svcs[0].override_from, c->svcs[0].noverride_from, "::ffff:10.1.1.1"), 1);
	CHECK_EQ_INT(match(c->svcs[0].override_from, c->svcs[0].noverride_from, "::ffff:11.1.1.1"), 0);
	CHECK_EQ_INT(match(c->svcs[0].override_from, 0, "10.1.1.1"), 0);
	config_free(c);
}

TEST(default_override_from)
{
	char *errs = NULL;
	struct config *c = load_text(MINIMAL, &errs);

	CHECK(c != NULL);
	if (c == NULL) {
		free(errs);
		return;
	}
	CHECK_EQ_INT(match(c->svcs[0].override_from, c->svcs[0].noverride_from, "127.1.2.3"), 1);
	CHECK_EQ_INT(match(c->svcs[0].override_from, c->svcs[0].noverride_from, "::1"), 1);
	CHECK_EQ_INT(match(c->svcs[0].override_from, c->svcs[0].noverride_from, "10.0.0.1"), 0);
	config_free(c);
}

/* rollout.min_requests follows guard.min_requests unless it is given */
TEST(rollout_min_requests_follows_guard)
{
	char *errs = NULL;
	struct config *c = load_text("guard = { min_requests = 7; };\n" MINIMAL, &errs);

	CHECK(c != NULL);
	if (c != NULL)
		CHECK_EQ_INT(c->svcs[0].rollout_min_requests, 7);
	config_free(c);
	c = load_text("guard = { min_requests = 7; };\nrollout = { min_requests = 0; };\n"
	    MINIMAL, &errs);
	CHECK(c != NULL);
	if (c != NULL)
		CHECK_EQ_INT(c->svcs[0].rollout_min_requests, 0);
	config_free(c);
}

TEST(readonly_socket_keys)
{
	char *errs = NULL;
	struct config *c = load_text("admin = { socket = \"/tmp/a.sock\"; readonly_socket = "
	    "\"/tmp/b.sock\"; readonly_mode = \"0644\"; };\n" MINIMAL, &errs);

	CHECK(c != NULL);
	if (c != NULL) {
		CHECK_STR(c->admin_readonly_socket, "/tmp/b.sock");
		CHECK_EQ_INT(c->admin_readonly_mode, 0644);
	}
	config_free(c);
	c = load_text(MINIMAL, &errs);
	CHECK(c != NULL);
	if (c != NULL) {
		CHECK(c->admin_readonly_socket == NULL);
		CHECK_EQ_INT(c->admin_readonly_mode, 0666);
	}
	config_free(c);
	CHECK_STR(errors_of("admin = { socket = \"/tmp/a.sock\"; readonly_socket = "
	    "\"/tmp/a.sock\"; };\n" MINIMAL), "F:1: \"admin.readonly_socket\" must differ from "
	    "\"admin.socket\" (\"/tmp/a.sock\")\n");
}

/* -t: the directories the proxy writes to, named with the key's line */
TEST(check_dirs_names_key_and_line)
{
	char *errs = NULL;
	struct config *c = load_text("listen = ( { address = \"127.0.0.1:8080\"; } );\n"
	    "admin = { socket = \"/tmp/a.sock\";\n audit_log = \"/nonexistent-bgp/audit.log\"; };\n"
	    "state_file = \"/tmp\";\n" MIN_POOLS "log = { access = \"stderr\"; };\n", &errs);

	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK_EQ_INT(config_check_dirs(c, &errs), -1);
	CHECK(errs != NULL && strstr(errs, ":3: admin.audit_log \"/nonexistent-bgp/audit.log\": "
	    "directory /nonexistent-bgp: No such file or directory\n") != NULL);
	CHECK(errs != NULL && strstr(errs, "admin.socket") == NULL);
	CHECK(errs != NULL && strstr(errs, "state_file") == NULL);
	free(errs);
	errs = NULL;
	config_free(c);
	c = load_text("admin = { socket = \"/tmp/a.sock\"; audit_log = \"off\"; };\n"
	    "log = { access = \"/tmp/x/y/access.log\"; };\n" MINIMAL, &errs);
	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK_EQ_INT(config_check_dirs(c, &errs), -1);
	CHECK(errs != NULL && strstr(errs, ":2: log.access") != NULL);
	free(errs);
	errs = NULL;
	config_free(c);
	c = load_text("admin = { socket = \"/tmp/a.sock\"; audit_log = \"/tmp/a.log\"; };\n"
	    MINIMAL, &errs);
	CHECK(c != NULL);
	if (c != NULL)
		CHECK_EQ_INT(config_check_dirs(c, &errs), 0);
	config_free(c);
}

TEST(guard_on_trip)
{
	struct config *c;
	char *errs = NULL;

	c = load_text(MINIMAL, &errs);
	CHECK(c != NULL && c->svcs[0].guard_on_trip == ON_TRIP_REVERT);
	config_free(c);
	c = load_text("guard = { on_trip = \"step_back\"; };\n" MINIMAL, &errs);
	CHECK(c != NULL && c->svcs[0].guard_on_trip == ON_TRIP_STEP_BACK);
	config_free(c);
	CHECK(strstr(errors_of("guard = { on_trip = \"retreat\"; };\n" MINIMAL),
	    "\"guard.on_trip\"") != NULL);
	free(errs);
}

TEST(guard_method)
{
	struct config *c;
	char *errs = NULL;

	c = load_text(MINIMAL, &errs);
	CHECK(c != NULL && c->svcs[0].guard_method == GUARD_SEQUENTIAL);
	CHECK(c != NULL && c->svcs[0].guard_alpha == 0.01);
	CHECK(c != NULL && c->svcs[0].guard_max_error_ratio == 1.5);
	CHECK(c != NULL && c->svcs[0].rollout_max_inconclusive_s == 600);
	config_free(c);
	c = load_text("guard = { method = \"threshold\"; };\n" MINIMAL, &errs);
	CHECK(c != NULL && c->svcs[0].guard_method == GUARD_THRESHOLD);
	CHECK(c != NULL && c->svcs[0].guard_max_error_ratio == 0);
	config_free(c);
	c = load_text("guard = { method = \"sequential\"; alpha = 0.05; };\n"
	    "rollout = { max_inconclusive_s = 0; };\n" MINIMAL, &errs);
	CHECK(c != NULL && c->svcs[0].guard_method == GUARD_SEQUENTIAL);
	CHECK(c != NULL && c->svcs[0].guard_alpha == 0.05);
	CHECK(c != NULL && c->svcs[0].guard_max_error_ratio == 1.5);
	CHECK(c != NULL && c->svcs[0].rollout_max_inconclusive_s == 0);
	config_free(c);
	c = load_text("guard = { method = \"sequential\"; max_error_ratio = 0; };\n" MINIMAL, &errs);
	CHECK(c != NULL && c->svcs[0].guard_max_error_ratio == 0);
	config_free(c);
	c = load_text("guard = { method = \"threshold\"; max_error_ratio = 2.5; };\n" MINIMAL,
	    &errs);
	CHECK(c != NULL && c->svcs[0].guard_max_error_ratio == 2.5);
	config_free(c);
	CHECK(strstr(errors_of("guard = { method = \"bayes\"; };\n" MINIMAL),
	    "\"guard.method\"") != NULL);
	CHECK(strstr(errors_of("guard = { alpha = 0.0; };\n" MINIMAL), "\"guard.alpha\"") != NULL);
	CHECK(strstr(errors_of("guard = { alpha = 0.6; };\n" MINIMAL), "\"guard.alpha\"") != NULL);
	CHECK(strstr(errors_of("guard = { max_error_ratio = -1.0; };\n" MINIMAL),
	    "\"guard.max_error_ratio\"") != NULL);
	CHECK(strstr(errors_of("rollout = { max_inconclusive_s = -5; };\n" MINIMAL),
	    "\"rollout.max_inconclusive_s\"") != NULL);
	free(errs);
}

TEST(cluster_keys)
{
	struct config *c;
	char *errs = NULL;

	c = load_text(MINIMAL, &errs);
	CHECK(c != NULL && c->cluster_netcd == 0);
	config_free(c);
	c = load_text("cluster = { etcd = [ \"http://127.0.0.1:2379\", \"https://[::1]:2379\" ]; "
	    "node = \"edge-1\"; ttl_s = 3; tls = { ca = \"/x/ca.pem\"; cert = \"/x/c.pem\"; "
	    "key = \"/x/k.pem\"; }; };\n" MINIMAL, &errs);
	CHECK(c != NULL);
	if (c != NULL) {
		CHECK_EQ_INT(c->cluster_netcd, 2);
		CHECK_STR(c->cluster_etcd[1], "https://[::1]:2379");
		CHECK_STR(c->cluster_prefix, "/bgproxy/default");
		CHECK_STR(c->cluster_node, "edge-1");
		CHECK_EQ_INT(c->cluster_ttl_s, 3);
		CHECK_EQ_INT(c->cluster_timeout_ms, 1000);
		CHECK_STR(c->cluster_tls_key, "/x/k.pem");
		CHECK(c->cluster_user == NULL);
	}
	config_free(c);
	free(errs);
	/* the node defaults to the host name */
	c = load_text("cluster = { etcd = [ \"http://127.0.0.1:2379\" ]; };\n" MINIMAL, &errs);
	CHECK(c != NULL && c->cluster_node != NULL && c->cluster_node[0] != '\0');
	config_free(c);
	CHECK_STR(errors_of("cluster = { prefix = \"/a\"; };\n" MINIMAL),
	    "F:1: missing required key \"etcd\" in \"cluster\"\n");
	CHECK_STR(errors_of("cluster = { etcd = [ \"127.0.0.1:2379\" ]; };\n" MINIMAL),
	    "F:1: \"cluster.etcd\" entries are \"http://HOST:PORT\" or \"https://HOST:PORT\", "
	    "not \"127.0.0.1:2379\"\n");
	CHECK_STR(errors_of("cluster = { etcd = [ ]; };\n" MINIMAL),
	    "F:1: \"cluster.etcd\" must list 1..16 endpoints, got 0\n");
	CHECK_STR(errors_of("cluster = { etcd = [ \"http://h:1\" ]; node = \"a b\"; };\n" MINIMAL),
	    "F:1: \"cluster.node\" \"a b\" must be 1..63 of A-Z a-z 0-9 . _ -\n");
	CHECK_STR(errors_of("cluster = { etcd = [ \"http://h:1\" ]; prefix = \"x/\"; };\n" MINIMAL),
	    "F:1: \"cluster.prefix\" \"x/\" must start with / and not end with it, without "
	    "spaces, at most 200 bytes\n");
	CHECK_STR(errors_of("cluster = { etcd = [ \"http://h:1\" ]; user = \"u\"; };\n" MINIMAL),
	    "F:1: \"cluster.user\" and \"cluster.password\" go together\n");
	CHECK_STR(errors_of("cluster = { etcd = [ \"http://h:1\" ]; tls = { cert = \"c\"; }; };\n"
	    MINIMAL), "F:1: \"cluster.tls.cert\" and \"cluster.tls.key\" go together\n");
	CHECK_STR(errors_of("cluster = { etcd = [ \"http://h:1\" ]; ttl_s = 0; };\n" MINIMAL),
	    "F:1: \"cluster.ttl_s\" must be 1..3600, got 0\n");
	CHECK_STR(errors_of("cluster = { etcd = [ \"http://h:1\" ]; tls = { foo = 1; }; };\n"
	    MINIMAL), "F:1: unknown key \"foo\" in \"cluster.tls\"; allowed: ca, cert, key\n");
}

#define SVC_POOLS \
	"pools = { blue = { servers = ( { address = \"127.0.0.1:9001\"; } ); };\n" \
	"          green = { servers = ( { address = \"127.0.0.1:9002\"; } ); }; };"

TEST(services)
{
	char *errs = NULL;
	struct config *c;

	/* no services list: one service "default" */
	c = load_text(MINIMAL, &errs);
	CHECK(c != NULL && c->nsvcs == 1 && !c->services);
	if (c != NULL) {
		CHECK_STR(c->svcs[0].name, "default");
		CHECK_EQ_INT((int)c->svcs[0].nhosts, 0);
		CHECK_STR(c->svcs[0].path_prefix, "/");
	}
	config_free(c);
	/* a list: the top-level split, guard and rollout are every service's defaults */
	c = load_text("listen = ( { address = \"127.0.0.1:8080\"; } );\n"
	    "guard = { max_error_rate = 0.2; min_requests = 7; };\n"
	    "split = { cookie = \"k\"; };\n"
	    "services = (\n"
	    "  { name = \"shop\"; match = { hosts = [ \"Shop.Example.com\", \"*.shop.example.com\" ]; };\n"
	    "    " SVC_POOLS "\n"
	    "    guard = { max_error_rate = 0.1; }; },\n"
	    "  { name = \"api\"; match = { path_prefix = \"/api/\"; }; " SVC_POOLS
	    " split = { candidate_percent = 5; }; rollout = { hold_s = 9; }; }\n"
	    ");\n", &errs);
	CHECK(c != NULL);
	if (c == NULL) {
		fprintf(stderr, "%s", errs);
		free(errs);
		return;
	}
	CHECK(c->services && c->nsvcs == 2);
	CHECK_STR(c->svcs[0].name, "shop");
	CHECK_EQ_INT((int)c->svcs[0].nhosts, 2);
	CHECK_STR(c->svcs[0].hosts[0], "shop.example.com");
	CHECK(c->svcs[0].guard_max_error_rate == 0.1);
	CHECK_EQ_INT(c->svcs[0].guard_min_requests, 7);
	CHECK_EQ_INT(c->svcs[0].rollout_min_requests, 7);
	CHECK_STR(c->svcs[0].cookie, "k");
	CHECK_STR(c->svcs[1].path_prefix, "/api/");
	CHECK(c->svcs[1].guard_max_error_rate == 0.2);
	CHECK_EQ_INT(c->svcs[1].candidate_bp, 500);
	CHECK_EQ_INT(c->svcs[1].rollout_hold_s, 9);
	CHECK_STR(c->svcs[1].cookie, "k");
	CHECK_EQ_INT((int)c->svcs[1].pools[POOL_GREEN].nservers, 1);
	config_free(c);
}

TEST(services_errors)
{
	CHECK_STR(errors_of("listen = ( { address = \"127.0.0.1:8080\"; } );\n"
	    "services = ( );\n"), "F:2: \"services\" must list 1..10000 services, got 0\n");
	CHECK_STR(errors_of("listen = ( { address = \"127.0.0.1:8080\"; } );\n"
	    "services = ( { " SVC_POOLS " } );\n"),
	    "F:2: missing required key \"name\" in \"services[0]\"\n");
	CHECK_STR(errors_of("listen = ( { address = \"127.0.0.1:8080\"; } );\n" MIN_POOLS
	    "services = ( { name = \"a\"; " SVC_POOLS " } );\n"),
	    "F:2: \"pools\" belongs in each service when there is a \"services\" list (line 4)\n");
	CHECK_STR(errors_of("listen = ( { address = \"127.0.0.1:8080\"; } );\n"
	    "services = ( { name = \"a\"; " SVC_POOLS " },\n"
	    "  { name = \"b\"; " SVC_POOLS " } );\n"),
	    "F:4: services \"a\" and \"b\" (line 2) both match every host with path_prefix \"/\"\n");
	CHECK_STR(errors_of("listen = ( { address = \"127.0.0.1:8080\"; } );\n"
	    "services = ( { name = \"a\"; match = { hosts = [ \"x..y\" ]; }; " SVC_POOLS " } );\n"),
	    "F:2: \"services[0].match.hosts\" must be a host name such as \"shop.example.com\" or "
	    "a wildcard such as \"*.example.com\", got \"x..y\"\n");
}

int main(void)
{
	RUN(example_loads);
	RUN(minimal_defaults);
	RUN(rollout_min_requests_follows_guard);
	RUN(readonly_socket_keys);
	RUN(check_dirs_names_key_and_line);
	RUN(values_are_read);
	RUN(percent_int_and_float_agree);
	RUN(error_unknown_top_key);
	RUN(error_unknown_nested_key);
	RUN(error_wrong_type);
	RUN(error_out_of_range);
	RUN(error_admin_mode);
	RUN(error_addresses);
	RUN(error_duplicates);
	RUN(error_pools);
	RUN(error_cidr);
	RUN(error_rollout_steps);
	RUN(error_strings);
	RUN(error_syntax);
	RUN(error_missing_file);
	RUN(errors_all_reported);
	RUN(tls_certificates);
	RUN(parse_addr_forms);
	RUN(cidr_match);
	RUN(default_override_from);
	RUN(include_names_with_escapes);
	RUN(include_cycles_and_fan_out);
	RUN(cluster_keys);
	RUN(services);
	RUN(services_errors);
	RUN(guard_on_trip);
	RUN(guard_method);
	return test_summary();
}
