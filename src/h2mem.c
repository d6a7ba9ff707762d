/*
 * h2mem.c - free lists per thread for the small blocks of HTTP/2 sessions
 * (see h2mem.h).  Each block carries a 16-byte header with its size class,
 * so that free and realloc need no size; blocks above H2MEM_MAX go to
 * malloc as they are.  A class keeps at most H2MEM_KEEP free blocks: the
 * memory held is bounded by the busiest moment's, never more.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h2mem.h"

#define H2MEM_STEP 16
#define H2MEM_MAX 1024                       /* the largest kept size */
#define H2MEM_CLASSES (H2MEM_MAX / H2MEM_STEP)
#define H2MEM_KEEP 256                       /* free blocks kept per class */
#define H2MEM_BIG 0xffffffffU

/* 16 bytes, so that what follows keeps malloc's alignment */
union h2mem_hdr {
	struct {
		uint32_t cls;
		uint32_t len;   /* H2MEM_BIG: the asked size, for realloc */
	} h;
	void *next;             /* on a free list */
	max_align_t align;
};

struct h2mem_lists {
	union h2mem_hdr *free[H2MEM_CLASSES];
	uint32_t n[H2MEM_CLASSES];
	size_t kept;
};

static _Thread_local struct h2mem_lists h2mem_tl;

static nghttp2_mem h2mem_ops = {
	NULL, h2mem_malloc, h2mem_free, h2mem_calloc, h2mem_realloc
};

nghttp2_mem *
h2mem(void)
{
	return &h2mem_ops;
}

void *
h2mem_malloc(size_t n, void *ud)
{
	struct h2mem_lists *l = &h2mem_tl;
	union h2mem_hdr *b;
	uint32_t c;

	(void)ud;
	if (n == 0)
		n = 1;
	if (n > H2MEM_MAX) {
		if (n > SIZE_MAX - sizeof(*b) || (b = malloc(sizeof(*b) + n)) == NULL)
			return NULL;
		b->h.cls = H2MEM_BIG;
		b->h.len = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
		return b + 1;
	}
	c = (uint32_t)((n - 1) / H2MEM_STEP);
	if ((b = l->free[c]) != NULL) {
		l->free[c] = b->next;
		l->n[c]--;
		l->kept--;
	} else if ((b = malloc(sizeof(*b) + (size_t)(c + 1) * H2MEM_STEP)) == NULL) {
		return NULL;
	}
	b->h.cls = c;
	b->h.len = (uint32_t)n;
	return b + 1;
}

void *
h2mem_calloc(size_t nmemb, size_t size, void *ud)
{
	void *p;

	if (size != 0 && nmemb > SIZE_MAX / size)
		return NULL;
	if ((p = h2mem_malloc(nmemb * size, ud)) != NULL)
		memset(p, 0, nmemb * size);
	return p;
}

void
h2mem_free(void *p, void *ud)
{
	struct h2mem_lists *l = &h2mem_tl;
	union h2mem_hdr *b;
	uint32_t c;

	(void)ud;
	if (p == NULL)
		return;
	b = (union h2mem_hdr *)p - 1;
	c = b->h.cls;
	if (c == H2MEM_BIG || l->n[c] >= H2MEM_KEEP) {
		free(b);
		return;
	}
	b->next = l->free[c];
	l->free[c] = b;
	l->n[c]++;
	l->kept++;
}

void *
h2mem_realloc(void *p, size_t n, void *ud)
{
	union h2mem_hdr *b;
	size_t have;
	void *q;

	if (p == NULL)
		return h2mem_malloc(n, ud);
	if (n == 0) {
		h2mem_free(p, ud);
		return NULL;
	}
	b = (union h2mem_hdr *)p - 1;
	have = b->h.cls == H2MEM_BIG ? b->h.len : (size_t)(b->h.cls + 1) * H2MEM_STEP;
	if (b->h.cls != H2MEM_BIG && n <= have) {
		b->h.len = (uint32_t)n;
		return p;
	}
	if ((q = h2mem_malloc(n, ud)) == NULL)
		return NULL;
	memcpy(q, p, have < n ? have : n);
	h2mem_free(p, ud);
	return q;
}

void
h2mem_thread_end(void)
{
	struct h2mem_lists *l = &h2mem_tl;
	union h2mem_hdr *b;
	int c;

	for (c = 0; c < H2MEM_CLASSES; c++) {
		while ((b = l->free[c]) != NULL) {
			l->free[c] = b->next;
			free(b);
		}
		l->n[c] = 0;
	}
	l->kept = 0;
}

size_t
h2mem_kept(void)
{
	return h2mem_tl.kept;
}
