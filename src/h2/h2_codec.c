/*
 * h2_codec.c - HTTP/2 as a client codec (codec.h): what the connection
 * (client.c) asks of it, on the entry points of h2.c.  Each entry may close
 * the connection (h2's closed callback, then client_close): nothing is
 * touched after it.
 */
#include <stdlib.h>

#include <event2/buffer.h>

#include "codec.h"
#include "conn.h"
#include "h2.h"
#include "h2_int.h"
#include "log.h"

#define H2_CODEC(cd) h2_codec_check(cd)

/* The codec's pointer, checked: a freed or foreign one is a bug. */
static struct h2conn *
h2_codec_check(void *cd)
{
	struct h2conn *h = cd;

	if (h == NULL || h->magic != H2_MAGIC) {
		log_error("bad HTTP/2 connection magic");
		abort();
	}
	return h;
}

static void
h2c_read(void *cd)
{
	(void)h2_read(H2_CODEC(cd));
}

static void
h2c_write(void *cd)
{
	(void)h2_write(H2_CODEC(cd));
}

static int
h2c_event(void *cd, short what)
{
	struct h2conn *h = H2_CODEC(cd);

	/* frames that came with the FIN still count, then it ends (or it
	 * ended already: closed, nothing left to do) */
	if ((what & CONN_EV_EOF) && !(what & CONN_EV_ERROR) &&
	    evbuffer_get_length(h->cc->in) > 0 && h2_read(h) == -1)
		return 1;
	return 0;
}

static void
h2c_timeout(void *cd)
{
	(void)h2_timeout(H2_CODEC(cd));
}

static void
h2c_end(void *cd, enum exchange_term term)
{
	h2_end_streams(H2_CODEC(cd), term);
}

static void
h2c_drain(void *cd)
{
	(void)h2_shutdown(H2_CODEC(cd), 0);
}

static void
h2c_reloaded(void *cd)
{
	(void)h2_shutdown(H2_CODEC(cd), 1);
}

static void
h2c_close_disabled(void *cd)
{
	(void)h2_close_disabled(H2_CODEC(cd));
}

static void
h2c_close_reverted(void *cd, struct service *sv, int pool)
{
	(void)h2_close_reverted(H2_CODEC(cd), sv, pool);
}

static void
h2c_move_reverted(void *cd, struct service *sv, int pool)
{
	(void)h2_move_reverted(H2_CODEC(cd), sv, pool);
}

static void
h2c_move_from_down(void *cd)
{
	(void)h2_move_from_down(H2_CODEC(cd));
}

static void
h2c_free(void *cd)
{
	h2_free(H2_CODEC(cd));
}

const struct codec_ops h2_codec = {
	.name = "h2",
	.read = h2c_read,
	.write = h2c_write,
	.event = h2c_event,
	.timeout = h2c_timeout,
	.end = h2c_end,
	.drain = h2c_drain,
	.reloaded = h2c_reloaded,
	.close_disabled = h2c_close_disabled,
	.close_reverted = h2c_close_reverted,
	.move_reverted = h2c_move_reverted,
	.move_from_down = h2c_move_from_down,
	.free = h2c_free,
};
