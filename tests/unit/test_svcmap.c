/* Unit tests for svcmap.c: which service a request goes to. */
#include <stdio.h>
#include <string.h>

#include "svcmap.h"
#include "test.h"

/* a service of hosts (NULL-ended, or none) and a prefix */
static void
svc(struct config_svc *s, const char *name, char **hosts, size_t nhosts, const char *prefix)
{
	memset(s, 0, sizeof *s);
	s->name = (char *)name;
	s->hosts = hosts;
	s->nhosts = nhosts;
	s->path_prefix = (char *)prefix;
}

static int
look(const struct svcmap *m, const char *host, const char *target)
{
	return svcmap_lookup(m, host, host ? strlen(host) : 0, target, strlen(target));
}

TEST(test_one_default)
{
	struct config_svc s[1];
	struct svcmap *m;

	svc(&s[0], "default", NULL, 0, "/");
	m = svcmap_build(s, 1);
	CHECK(m != NULL);
	CHECK_EQ_INT(look(m, "anything", "/x"), 0);
	CHECK_EQ_INT(look(m, NULL, "*"), 0);
	CHECK_EQ_INT(look(m, "h", "example.com:443"), 0);
	svcmap_free(m);
}

TEST(test_hosts_then_prefix)
{
	static char *shop[] = { "shop.example.com", "*.shop.example.com" };
	static char *api[] = { "api.example.com" };
	static char *wide[] = { "*.example.com" };
	struct config_svc s[6];
	struct svcmap *m;

	svc(&s[0], "shop", shop, 2, "/");
	svc(&s[1], "api", api, 1, "/");
	svc(&s[2], "api-v2", api, 1, "/v2/");
	svc(&s[3], "wide", wide, 1, "/");
	svc(&s[4], "static", NULL, 0, "/static");
	svc(&s[5], "rest", NULL, 0, "/");
	m = svcmap_build(s, 6);
	CHECK(m != NULL);
	/* exact, any case, a port, a trailing dot */
	CHECK_EQ_INT(look(m, "shop.example.com", "/cart"), 0);
	CHECK_EQ_INT(look(m, "SHOP.Example.COM:8443", "/cart"), 0);
	CHECK_EQ_INT(look(m, "shop.example.com.", "/"), 0);
	/* the longest prefix of the host's services */
	CHECK_EQ_INT(look(m, "api.example.com", "/v2/users"), 2);
	CHECK_EQ_INT(look(m, "api.example.com", "/v2"), 1);
	CHECK_EQ_INT(look(m, "api.example.com", "/v1/users?x=/v2/"), 1);
	/* exact before wildcard, the longest wildcard first */
	CHECK_EQ_INT(look(m, "a.shop.example.com", "/"), 0);
	CHECK_EQ_INT(look(m, "a.b.shop.example.com", "/"), 0);
	CHECK_EQ_INT(look(m, "www.example.com", "/"), 3);
	CHECK_EQ_INT(look(m, "x.api.example.com", "/"), 3);
	/* a wildcard does not match its own suffix */
	CHECK_EQ_INT(look(m, "example.com", "/static/a.css"), 4);
	CHECK_EQ_INT(look(m, "example.com", "/index.html"), 5);
	/* no host, an IPv6 literal, a bad host: only the hostless */
	CHECK_EQ_INT(look(m, NULL, "/static/x"), 4);
	CHECK_EQ_INT(look(m, "[::1]:80", "/"), 5);
	CHECK_EQ_INT(look(m, "a b", "/"), 5);
	/* absolute-form: its authority wins over Host */
	CHECK_EQ_INT(look(m, "www.example.com", "http://api.example.com/v2/x"), 2);
	CHECK_EQ_INT(look(m, "api.example.com", "https://shop.example.com"), 0);
	/* the scheme in any case: the parser's absolute-form too */
	CHECK_EQ_INT(look(m, "api.example.com", "HTTP://SHOP.example.com/x"), 0);
	CHECK_EQ_INT(look(m, "shop.example.com", "HttpS://api.example.com/v2/"), 2);
	svcmap_free(m);
}

TEST(test_none_matches)
{
	static char *api[] = { "api.example.com" };
	struct config_svc s[2];
	struct svcmap *m;

	svc(&s[0], "api", api, 1, "/api/");
	svc(&s[1], "docs", NULL, 0, "/docs");
	m = svcmap_build(s, 2);
	CHECK(m != NULL);
	CHECK_EQ_INT(look(m, "api.example.com", "/api/x"), 0);
	CHECK_EQ_INT(look(m, "api.example.com", "/docs/x"), 1);
	CHECK_EQ_INT(look(m, "api.example.com", "/other"), -1);
	CHECK_EQ_INT(look(m, "other.example.com", "/api/x"), -1);
	CHECK_EQ_INT(look(m, "other.example.com", "*"), -1);
	CHECK_EQ_INT(look(m, NULL, "/docsx"), 1);   /* a prefix, not a segment */
	svcmap_free(m);
}

TEST(test_many_services)
{
	static char names[1000][32];
	static char *hosts[1000][1];
	static struct config_svc s[1000];
	struct svcmap *m;
	char h[64];
	int bad = 0;

	for (int i = 0; i < 1000; i++) {
		snprintf(names[i], sizeof names[i], "svc%d.example.com", i);
		hosts[i][0] = names[i];
		svc(&s[i], names[i], hosts[i], 1, "/");
	}
	m = svcmap_build(s, 1000);
	CHECK(m != NULL);
	for (int i = 0; i < 1000; i++) {
		snprintf(h, sizeof h, "SVC%d.example.com:80", i);
		bad += look(m, h, "/") != i;
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(look(m, "svc1000.example.com", "/"), -1);
	svcmap_free(m);
}

TEST(test_host_norm)
{
	char out[256];

	CHECK_EQ_INT(svcmap_host_norm("A.B:1", 5, out), 3);
	CHECK_STR(out, "a.b");
	CHECK_EQ_INT(svcmap_host_norm(":80", 3, out), -1);
	CHECK_EQ_INT(svcmap_host_norm(".", 1, out), -1);
	CHECK_EQ_INT(svcmap_host_norm("a\x01", 2, out), -1);
}

int
main(void)
{
	RUN(test_one_default);
	RUN(test_hosts_then_prefix);
	RUN(test_none_matches);
	RUN(test_many_services);
	RUN(test_host_norm);
	return test_summary();
}
