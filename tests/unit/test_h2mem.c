/*
 * test_h2mem.c - the HTTP/2 sessions' allocator (h2mem.c): blocks come back
 * from the thread's lists, keep their contents through realloc, big ones
 * pass through, the lists are bounded and empty at the thread's end.
 */
#include <stdint.h>
#include <string.h>

#include "h2mem.h"
#include "test.h"

TEST(freed_block_is_given_again_for_the_same_class)
{
	void *a = h2mem_malloc(100, NULL), *b;

	CHECK(a != NULL);
	CHECK_EQ_INT((uintptr_t)a % 16, 0);
	h2mem_free(a, NULL);
	CHECK_EQ_INT(h2mem_kept(), 1);
	b = h2mem_malloc(97, NULL);           /* same 16-byte class as 100 */
	CHECK(b == a);
	CHECK_EQ_INT(h2mem_kept(), 0);
	h2mem_free(b, NULL);
	h2mem_thread_end();
	CHECK_EQ_INT(h2mem_kept(), 0);
}

TEST(calloc_zeroes_a_reused_block_and_refuses_overflow)
{
	unsigned char *a = h2mem_malloc(64, NULL), *b;
	int zero = 1;

	memset(a, 0xab, 64);
	h2mem_free(a, NULL);
	b = h2mem_calloc(8, 8, NULL);
	CHECK(b == a);
	for (int i = 0; i < 64; i++)
		zero &= b[i] == 0;
	CHECK(zero);
	h2mem_free(b, NULL);
	CHECK(h2mem_calloc(SIZE_MAX / 2, 4, NULL) == NULL);
	h2mem_thread_end();
}

TEST(realloc_keeps_contents_across_classes_and_big_blocks)
{
	char *p = h2mem_malloc(10, NULL), *q;

	memcpy(p, "0123456789", 10);
	q = h2mem_realloc(p, 16, NULL);       /* fits its class: the same block */
	CHECK(q == p);
	q = h2mem_realloc(q, 500, NULL);
	CHECK(memcmp(q, "0123456789", 10) == 0);
	q = h2mem_realloc(q, 100000, NULL);   /* above the kept sizes */
	CHECK(memcmp(q, "0123456789", 10) == 0);
	memset(q + 99990, 'z', 10);
	q = h2mem_realloc(q, 20, NULL);
	CHECK(memcmp(q, "0123456789", 10) == 0);
	h2mem_free(q, NULL);
	q = h2mem_realloc(NULL, 8, NULL);
	CHECK(q != NULL);
	h2mem_free(q, NULL);
	h2mem_thread_end();
	CHECK_EQ_INT(h2mem_kept(), 0);
}

TEST(big_blocks_are_not_kept_and_lists_are_bounded)
{
	void *big = h2mem_malloc(4096, NULL);
	void *v[1000];
	int i;

	h2mem_free(big, NULL);
	CHECK_EQ_INT(h2mem_kept(), 0);
	for (i = 0; i < 1000; i++)
		v[i] = h2mem_malloc(200, NULL);
	for (i = 0; i < 1000; i++)
		h2mem_free(v[i], NULL);
	CHECK(h2mem_kept() > 0 && h2mem_kept() < 1000);
	h2mem_free(NULL, NULL);
	h2mem_thread_end();
	CHECK_EQ_INT(h2mem_kept(), 0);
}

int
main(void)
{
	RUN(freed_block_is_given_again_for_the_same_class);
	RUN(calloc_zeroes_a_reused_block_and_refuses_overflow);
	RUN(realloc_keeps_contents_across_classes_and_big_blocks);
	RUN(big_blocks_are_not_kept_and_lists_are_bounded);
	return test_summary();
}
