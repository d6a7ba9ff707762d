/*
 * h2mem.h - the allocator of bgproxy's HTTP/2 sessions: per thread, free
 * lists of small blocks (nghttp2 allocates and frees several per stream;
 * under a burst of streams glibc's own per-thread cache overflows).
 */
#ifndef BGPROXY_H2MEM_H
#define BGPROXY_H2MEM_H

#include <stddef.h>

#include <nghttp2/nghttp2.h>

/* For nghttp2_session_*_new3: blocks are kept by the thread that frees them. */
nghttp2_mem *h2mem(void);
void *h2mem_malloc(size_t n, void *ud);
void *h2mem_calloc(size_t nmemb, size_t size, void *ud);
void *h2mem_realloc(void *p, size_t n, void *ud);
void h2mem_free(void *p, void *ud);
/* The calling thread's kept blocks go back to the system (a worker's end). */
void h2mem_thread_end(void);
/* Blocks the calling thread keeps (tests). */
size_t h2mem_kept(void);

#endif
