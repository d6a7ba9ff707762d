/*
 * notify.c - the events that page a human (CONTRACT section 13): each
 * selected event is POSTed to notify.webhook as the JSON object `json show
 * events` has for it.
 *
 * The control thread only queues (notify_event is called from state.c's
 * event hook, a copy of the JSON into a bounded queue, nothing that waits);
 * one thread of this module POSTs with libcurl, in order, each attempt
 * bounded by notify.timeout_ms, retried with back-off.  A webhook that is
 * down or hangs delays nothing but the next notification: a revert never
 * waits for it.  What could not be delivered is logged and counted.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "views.h"
#include "log.h"
#include "notify.h"
#include "proxy.h"

#define NOTIFY_QUEUE_MAX 256          /* events waiting; more are dropped (and counted) */
#define NOTIFY_TRIES 5                /* attempts per event */
#define NOTIFY_BACKOFF_MS 250         /* before the second attempt, doubling */

struct notify_item {
	char *json;
	char kind[16];
	struct notify_item *next;
};

static pthread_mutex_t nt_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t nt_cv = PTHREAD_COND_INITIALIZER;
static struct notify_item *nt_head, **nt_tail = &nt_head;
static size_t nt_len;
static char *nt_url;                  /* under nt_mu: a reload may change it */
static int nt_timeout_ms;
static unsigned nt_events;
static int nt_stopping;
static pthread_t nt_thread;
static int nt_running;
static atomic_ullong nt_sent, nt_failed;

unsigned long long
notify_sent(void)
{
	return atomic_load(&nt_sent);
}

unsigned long long
notify_failures(void)
{
	return atomic_load(&nt_failed);
}

/* The event's bit, and whether the guard made it (a trip). */
static unsigned
notify_bits(const struct state_ev *ev)
{
	static const char *const kinds[] = { "revert", "promote", "step", "pause" };
	unsigned bits = 0;
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(ev->kind, kinds[i]) == 0)
			bits = 1u << i;
	/* what the guard did on a trip (revert, step back, pause) is a trip too */
	if (bits != 0 && bits != NOTIFY_EV_PROMOTE && strcmp(ev->actor, "guard") == 0)
		bits |= NOTIFY_EV_TRIP;
	return bits;
}

void
notify_event(struct service *sv, const struct state_ev *ev)
{
	struct notify_item *it;
	json_t *j;
	char *s;
	int skip, full;

	pthread_mutex_lock(&nt_mu);
	skip = nt_url == NULL || (notify_bits(ev) & nt_events) == 0;
	pthread_mutex_unlock(&nt_mu);
	if (skip)
		return;
	j = views_event_json(ev);
	/* with a services list the event says whose it is */
	if (j != NULL && rt.cfg != NULL && rt.cfg->services)
		json_object_set_new(j, "service", json_string(sv->name));
	s = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	it = s != NULL ? calloc(1, sizeof(*it)) : NULL;
	if (it == NULL) {
		free(s);
		atomic_fetch_add(&nt_failed, 1);
		log_error("notify: out of memory: the %s event is not sent", ev->kind);
		return;
	}
	it->json = s;
	snprintf(it->kind, sizeof(it->kind), "%s", ev->kind);
	pthread_mutex_lock(&nt_mu);
	full = nt_len >= NOTIFY_QUEUE_MAX;
	if (!full) {
		*nt_tail = it;
		nt_tail = &it->next;
		nt_len++;
		pthread_cond_signal(&nt_cv);
	}
	pthread_mutex_unlock(&nt_mu);
	if (full) {
		atomic_fetch_add(&nt_failed, 1);
		log_error("notify: %d events wait for the webhook already: the %s event is dropped",
		    NOTIFY_QUEUE_MAX, it->kind);
		free(it->json);
		free(it);
	}
}

/* The answer's body is not needed. */
static size_t
notify_discard(char *p, size_t size, size_t nmemb, void *arg)
{
	(void)p;
	(void)arg;
	return size * nmemb;
}

/* One attempt: 0 on a 2xx answer, else -1 with why. */
static int
notify_post(CURL *c, const char *url, int timeout_ms, const char *json, char *why, size_t len)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	long code = 0;
	CURLcode rc;

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, notify_discard);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "bgproxy/" BGPROXY_VERSION);
	rc = curl_easy_perform(c);
	curl_slist_free_all(h);
	if (rc != CURLE_OK) {
		snprintf(why, len, "%s", curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || code > 299) {
		snprintf(why, len, "HTTP %ld", code);
		return -1;
	}
	return 0;
}

/* Wait ms or until stopping; returns nt_stopping. */
static int
notify_nap(int ms)
{
	struct timespec ts = clock_deadline_ms(ms);
	int stop;

	pthread_mutex_lock(&nt_mu);
	while (!nt_stopping && pthread_cond_timedwait(&nt_cv, &nt_mu, &ts) == 0)
		;
	stop = nt_stopping;
	pthread_mutex_unlock(&nt_mu);
	return stop;
}

static void *
notify_main(void *arg)
{
	CURL *c = curl_easy_init();
	struct notify_item *it;
	char why[256], url[2048];
	int tries, timeout_ms, ok;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&nt_mu);
		while (!nt_stopping && nt_head == NULL)
			pthread_cond_wait(&nt_cv, &nt_mu);
		if (nt_stopping) {
			pthread_mutex_unlock(&nt_mu);
			break;
		}
		it = nt_head;
		snprintf(url, sizeof(url), "%s", nt_url != NULL ? nt_url : "");
		timeout_ms = nt_timeout_ms;
		pthread_mutex_unlock(&nt_mu);
		ok = 0;
		for (tries = 0; c != NULL && url[0] != '\0' && tries < NOTIFY_TRIES; tries++) {
			if (tries > 0 && notify_nap(NOTIFY_BACKOFF_MS << (tries - 1)))
				break;
			if (notify_post(c, url, timeout_ms, it->json, why, sizeof(why)) == 0) {
				ok = 1;
				break;
			}
			log_warn("notify: %s event to %s: %s (attempt %d of %d)", it->kind, url, why,
			    tries + 1, NOTIFY_TRIES);
		}
		if (ok) {
			atomic_fetch_add(&nt_sent, 1);
		} else {
			atomic_fetch_add(&nt_failed, 1);
			log_error("notify: the %s event was not delivered to %s", it->kind, url);
		}
		pthread_mutex_lock(&nt_mu);
		nt_head = it->next;
		if (nt_head == NULL)
			nt_tail = &nt_head;
		nt_len--;
		pthread_mutex_unlock(&nt_mu);
		free(it->json);
		free(it);
	}
	curl_easy_cleanup(c);
	return NULL;
}

void
notify_config(const struct config *cfg)
{
	char *url = cfg->notify_webhook != NULL ? strdup(cfg->notify_webhook) : NULL;

	pthread_mutex_lock(&nt_mu);
	free(nt_url);
	nt_url = url;
	nt_events = cfg->notify_events;
	nt_timeout_ms = cfg->notify_timeout_ms;
	pthread_mutex_unlock(&nt_mu);
}

int
notify_start(const struct config *cfg, char *err, size_t errlen)
{
	/* libcurl's global set-up, before its first user thread (etcd.c does
	 * the same; calling it twice is counted by libcurl) */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	notify_config(cfg);
	if (pthread_create(&nt_thread, NULL, notify_main, NULL) != 0) {
		snprintf(err, errlen, "notify: cannot start its thread");
		return -1;
	}
	nt_running = 1;
	state_set_event_hook(notify_event);
	return 0;
}

void
notify_stop(void)
{
	struct notify_item *it, *next;

	state_set_event_hook(NULL);
	pthread_mutex_lock(&nt_mu);
	nt_stopping = 1;
	pthread_cond_broadcast(&nt_cv);
	pthread_mutex_unlock(&nt_mu);
	if (nt_running)
		pthread_join(nt_thread, NULL);
	nt_running = 0;
	for (it = nt_head; it != NULL; it = next) {
		next = it->next;
		free(it->json);
		free(it);
	}
	nt_head = NULL;
	nt_tail = &nt_head;
	nt_len = 0;
	free(nt_url);
	nt_url = NULL;
}
