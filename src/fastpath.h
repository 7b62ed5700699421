/* The malloc/free fast paths, inlined into both the cairn_* entry points
 * (alloc.c) and the standard names (override.c). Same-thread malloc and
 * free take no lock and no atomic read-modify-write; anything unusual
 * leaves through a non-inlined function. */
#ifndef CAIRN_FASTPATH_H
#define CAIRN_FASTPATH_H

#include "internal.h"

void *malloc_big(size_t size);          /* large and huge, alloc.c */
void  free_slow(void *p);               /* NULL, large, huge, misuse */

/* Pop a block of class `cls` from the thread's current page. A thread that
 * has no heap yet sees the static empty heap, whose pages are all empty,
 * so its first call falls into small_refill, which sets the heap up. */
static inline void *small_alloc(unsigned cls) {
    heap_t *h = cairn_tl_heap;
    page_t *pg = h->cur[cls];
    block_t *b = pg->free;
    if (likely(b != NULL)) {
        block_t *next = b->next;
        pg->free = next;
        __builtin_prefetch(next, 1);    /* the next malloc's block: warm it now */
        pg->used++;
        b->cookie = 0;                  /* so a later free is not a "double" */
        h->nmalloc++;
        h->bytes_alloc += pg->block_size;
        return b;
    }
    return small_refill(h, cls);
}

static inline void *fast_malloc(size_t size) {
    if (likely(size <= SMALL_MAX)) return small_alloc(size_class(size));
    return malloc_big(size);
}

/* Is a (an address inside pg's page) the start of a block carved there?
 * Exact division by multiplying with a 32-bit reciprocal. A page not in
 * use has block size and capacity 0, so nothing passes. */
static inline bool small_block_start(const page_t *pg, uintptr_t a) {
    uint32_t off = (uint32_t)(a & (PAGE_SIZE_ - 1));
    uint32_t idx = (uint32_t)(((uint64_t)off * pg->recip) >> 32);
    return idx * pg->block_size == off && idx < LOAD_RELAXED(pg->capacity);
}

/* Free: find the page by masking, check that p is a block start of a page
 * in use (exact division by multiplying with a reciprocal) and that the
 * block is not already free (cookie), then push it on the right list. */
static inline void fast_free(void *p) {
    uintptr_t a = (uintptr_t)p;
    small_seg_t *s = (small_seg_t *)(a & ~(uintptr_t)SEG_MASK);
    if (unlikely(segmap_get(a) != MAP_SMALL)) {
        free_slow(p);
        return;
    }
    page_t *pg = &s->pages[(a >> PAGE_SHIFT) & (PAGES_PER_SEG - 1)];
    if (unlikely(!small_block_start(pg, a))) cairn_fatal("invalid free of", p);
    block_t *b = (block_t *)p;
    if (unlikely(b->cookie == (cairn_key ^ a))) cairn_fatal("double free of", p);
    b->cookie = cairn_key ^ a;
    heap_t *h = cairn_tl_heap;
    if (likely(pg->heap == h)) {
        b->next = pg->local_free;
        pg->local_free = b;
        h->nfree++;
        h->bytes_free += pg->block_size;
        if (unlikely(--pg->used == 0 || pg->in_full)) small_free_slow(pg);
        return;
    }
    small_free_remote(pg, b);
}

#endif
