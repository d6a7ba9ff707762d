/*
 * main.c - bgdemo, a small, fast demo upstream HTTP/1.1 server.
 *
 * Used by the demo, the integration tests and the benchmarks as the thing
 * bgproxy forwards to.  It must never be the bottleneck, so each connection
 * owns plain byte buffers (no allocation per request once a connection is
 * up) and every batch of responses goes out with a single send().  It also
 * has knobs (/__ctl/...) so tests can make it fail, stall or hang up.
 *
 * The files: text.c (buffers, helpers), http.c (reading a request),
 * serve.c (answering it, I/O), faults.c (the switches and counters).
 *
 * usage: bgdemo --port PORT [--host 127.0.0.1] --name NAME [--threads N]
 *               [--port-file FILE]
 */
#include "bgdemo.h"

/* ---- global state (shared by all threads, hence atomics) ---- */

const char *g_name;
size_t g_name_len;
char g_name_json[512];
int g_port;
char g_xserver[320];          /* "X-Server: NAME:PORT\r\n" */
size_t g_xserver_len;
char g_root_body[260];        /* "NAME\n" */
size_t g_root_len;
char g_pattern[65536 + 32];   /* /big body: byte i = 'a' + i % 26 */

atomic_uint_fast64_t g_conn_seq, g_active, g_requests, g_health_checks, g_mirrored;
/* body bytes of the proxy's copies, and the sum of their values (a check
 * that a copy's body is the client's) */
atomic_uint_fast64_t g_mirrored_body_bytes, g_mirrored_body_sum;
atomic_uint_fast64_t g_fail_ppm, g_fail_count, g_slow_ms;
atomic_bool g_close_on, g_health_bad;

/* ---- startup ---- */

struct worker {
	struct event_base *base;
	struct evconnlistener *lis;
	int fd;
	pthread_t tid;
};

struct opts {
	const char *host, *name, *port_file;
	int port, threads;
};

static const char usage_text[] =
	"usage: bgdemo --port PORT [--host 127.0.0.1] --name NAME [--threads N]\n"
	"              [--port-file FILE]\n"
	"\n"
	"The demo upstream: answers GET / with \"NAME\\n\" and an X-Server header.\n"
	"  --port PORT        port to listen on (0: any free one)\n"
	"  --host ADDR        address to listen on [127.0.0.1]\n"
	"  --name NAME        the colour it answers with (blue, green, ...)\n"
	"  --threads N        event-loop threads, 1..64 [1]\n"
	"  --port-file FILE   write the port it listens on to FILE\n"
	"\n"
	"Paths:\n"
	"  /                  200 and NAME\n"
	"  /healthz           200 ok (503 while /__ctl/health?ok=0)\n"
	"  /echo              the request body back (?chunked for a chunked answer)\n"
	"  /headers           the request head back\n"
	"  /big?n=BYTES       a body of BYTES (?chunked, ?close)\n"
	"  /status?code=N     answer with status N\n"
	"  /slow?ms=N         answer after N ms\n"
	"  /ws                a WebSocket echo\n"
	"\n"
	"Fault switches, to watch bgproxy's guard at work (GET them, e.g. with curl):\n"
	"  /__ctl/fail?rate=R     answer 500 to a fraction R (0..1) of requests\n"
	"  /__ctl/slow?ms=N       delay every answer by N ms\n"
	"  /__ctl/close[?on=0|1]  close connections instead of answering\n"
	"  /__ctl/health?ok=0|1   make /healthz fail (0) or pass (1)\n"
	"  /__ctl/reset           all of the above off\n"
	"  /__ctl/stats           requests, connections, health checks and copies\n"
	"                         (X-Bgproxy-Mirror: 1) as JSON\n"
	"\n"
	"Example: curl 'http://127.0.0.1:9002/__ctl/fail?rate=0.5' makes green fail half\n"
	"of its requests; with a canary running, bgproxy's guard reverts it.\n";

static void usage(int status)
{
	fputs(usage_text, status == 0 ? stdout : stderr);
	exit(status);
}

static int parse_int(const char *s, int lo, int hi)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < lo || v > hi)
		usage(2);
	return (int)v;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	o->host = "127.0.0.1";
	o->port = -1;
	o->threads = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			usage(0);
		if (i + 1 >= argc)
			usage(2);
		const char *v = argv[++i];
		if (strcmp(a, "--port") == 0)
			o->port = parse_int(v, 0, 65535);
		else if (strcmp(a, "--host") == 0)
			o->host = v;
		else if (strcmp(a, "--name") == 0)
			o->name = v;
		else if (strcmp(a, "--threads") == 0)
			o->threads = parse_int(v, 1, MAX_THREADS);
		else if (strcmp(a, "--port-file") == 0)
			o->port_file = v;
		else
			usage(2);
	}
	if (o->port < 0 || !o->name || !*o->name || strlen(o->name) > 200)
		usage(2);
	for (const char *p = o->name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			usage(2);  /* the name goes into headers verbatim */
}

/* Bind one listening socket; SO_REUSEPORT lets every thread have its own. */
static int listen_on(const struct opts *o, int port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai;
	char ps[16];
	int one = 1;
	snprintf(ps, sizeof(ps), "%d", port);
	int rc = getaddrinfo(o->host, ps, &hints, &ai);
	if (rc) {
		fprintf(stderr, "bgdemo: %s: %s\n", o->host, gai_strerror(rc));
		exit(1);
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (o->threads > 1 &&
	     setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
		fprintf(stderr, "bgdemo: listen %s:%d: %s\n", o->host, port,
			strerror(errno));
		exit(1);
	}
	freeaddrinfo(ai);
	return fd;
}

static int bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Atomic so a polling test never reads a half-written number. */
static void write_port_file(const char *path, int port)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 ||
	    rename(tmp, path) != 0) {
		fprintf(stderr, "bgdemo: port file %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static void init_globals(const char *name, int port)
{
	g_name = name;
	g_name_len = strlen(name);
	g_port = port;
	g_xserver_len = (size_t)snprintf(g_xserver, sizeof(g_xserver),
					 "X-Server: %s:%d\r\n", name, port);
	g_root_len = (size_t)snprintf(g_root_body, sizeof(g_root_body), "%s\n",
				      name);
	size_t j = 0;
	for (const char *p = name; *p && j + 3 < sizeof(g_name_json); p++) {
		if (*p == '"' || *p == '\\')
			g_name_json[j++] = '\\';
		g_name_json[j++] = *p;
	}
	g_name_json[j] = '\0';
	for (size_t i = 0; i < sizeof(g_pattern); i++)
		g_pattern[i] = (char)('a' + i % 26);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopexit(arg, NULL);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	event_base_dispatch(w->base);
	return NULL;
}

static void start_worker(struct worker *w)
{
	w->base = event_base_new();
	if (!w->base)
		exit(1);
	w->lis = evconnlistener_new(w->base, on_accept, w->base,
				    LEV_OPT_CLOSE_ON_FREE, 0, w->fd);
	if (!w->lis) {
		fprintf(stderr, "bgdemo: evconnlistener_new failed\n");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	static struct worker workers[MAX_THREADS];
	parse_args(argc, argv, &o);
	signal(SIGPIPE, SIG_IGN);
	workers[0].fd = listen_on(&o, o.port);
	int port = bound_port(workers[0].fd);
	for (int i = 1; i < o.threads; i++)
		workers[i].fd = listen_on(&o, port);
	init_globals(o.name, port);
	for (int i = 0; i < o.threads; i++)
		start_worker(&workers[i]);
	struct event *sigs[2] = {
		evsignal_new(workers[0].base, SIGTERM, on_signal, workers[0].base),
		evsignal_new(workers[0].base, SIGINT, on_signal, workers[0].base),
	};
	event_add(sigs[0], NULL);
	event_add(sigs[1], NULL);
	/* Keep SIGTERM/SIGINT on the main thread, whose base watches them. */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	for (int i = 1; i < o.threads; i++)
		pthread_create(&workers[i].tid, NULL, worker_main, &workers[i]);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (o.port_file)
		write_port_file(o.port_file, port);
	fprintf(stderr, "bgdemo %s listening on %s:%d\n", o.name, o.host, port);
	event_base_dispatch(workers[0].base);
	if (o.threads > 1)
		_exit(0);  /* other bases cannot be stopped without evthread */
	event_free(sigs[0]);
	event_free(sigs[1]);
	evconnlistener_free(workers[0].lis);
	event_base_free(workers[0].base);
	return 0;
}
