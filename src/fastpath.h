/* The malloc/free fast paths, inlined into both the cairn_* entry points
 * (alloc.c) and the standard names (override.c). Same-thread malloc and
 * free take no lock and no atomic read-modify-write, count nothing, and
 * still check what keeps the heap safe: a freed pointer must be a block
 * start of a page in use and not already free, and a link read from a free
 * block must stay inside its page. Anything unusual leaves through a
 * non-inlined function. */
#ifndef CAIRN_FASTPATH_H
#define CAIRN_FASTPATH_H

#include "internal.h"

#define FAST __attribute__((always_inline))

void *malloc_big(size_t size);          /* large and huge, alloc.c */
/* NULL, large, huge, misuse; `size` as given to free_sized (0: none). */
void  free_slow(void *p, size_t size);
/* Misuse found on the fast path: report and abort. Declared as returning
 * so the fast path leaves through a tail call and needs no stack frame. */
void  free_invalid(void *p);
void  free_double(void *p);
void  free_wrong_size(void *p);

#ifdef CAIRN_EXACT_COUNTS               /* a statistics build: count every call */
#define COUNT_CALL(h, field) OWNER_ADD((h)->field, 1)   /* read by stats.c */
#else
#define COUNT_CALL(h, field) ((void)0)
#endif

/* Take b, the head of pg's free list. Its link must decode to an address
 * in the same 64 KiB page (a block or the end mark): a use-after-free
 * write into a free block cannot send a later malloc elsewhere. */
static inline FAST void *page_pop(heap_t *h, page_t *pg, block_t *b) {
    block_t *next = (block_t *)((uintptr_t)b->next ^ pg->key);
    if (unlikely(((uintptr_t)next ^ (uintptr_t)b) >> PAGE_SHIFT)) return page_corrupt(pg, b);
    pg->free = next;
    OWNER_ADD(pg->used, 1);             /* statistics read it (stats.c)     */
    b->next = NULL;                     /* hand out no heap data ...        */
    b->cookie = 0;                      /* ... and no "free" mark           */
    COUNT_CALL(h, nmalloc);
    (void)h;
    return b;
}

/* A block of class `cls` from the thread's current page. A thread that
 * has no heap yet sees the static empty heap, whose pages are all empty,
 * so its first call falls into small_refill, which sets the heap up. */
static inline FAST void *small_alloc(unsigned cls) {
    heap_t *h = cairn_tl_heap;
    page_t *pg = h->cur[cls];
    block_t *b = pg->free;
    if (likely(!list_end(b))) return page_pop(h, pg, b);
    return small_refill(h, cls);
}

/* The page serving a small size: direct[] up to DIRECT_MAX, else the
 * current page of its class (calloc in alloc.c picks the same way). */
static inline FAST page_t *size_page(const heap_t *h, size_t size) {
    return size <= DIRECT_MAX ? h->direct[(size + 15) >> 4] : h->cur[size_class(size)];
}

static inline FAST void *raw_malloc(size_t size) {
    if (likely(size <= DIRECT_MAX)) {
        heap_t *h = cairn_tl_heap;
        page_t *pg = size_page(h, size);
        block_t *b = pg->free;
        if (likely(!list_end(b))) return page_pop(h, pg, b);
        return small_refill(h, size_class(size));
    }
    if (likely(size <= SMALL_MAX)) return small_alloc(size_class(size));
    return malloc_big(size);
}

/* Is a (an address inside pg's page) the start of a block carved there?
 * One multiplication by the 32-bit reciprocal gives the block index (high
 * half) and, in the low half, a remainder test that is exact for every
 * offset of a page (sizeclass tests prove it). A page not in use has
 * reciprocal and capacity 0, so nothing passes. */
static inline FAST bool small_block_start(const page_t *pg, uintptr_t a) {
    uint64_t prod = (uint64_t)(a & (PAGE_SIZE_ - 1)) * pg->recip;
    return (uint32_t)prod < pg->recip && prod < LOAD_RELAXED(pg->cap_hi);
}

static inline FAST page_t *small_page_of(uintptr_t a) {
    small_seg_t *s = (small_seg_t *)(a & ~(uintptr_t)SEG_MASK);
    return &s->pages[(a >> PAGE_SHIFT) & (PAGES_PER_SEG - 1)];
}

/* Free: the segment map says a small segment holds p; p must be a block
 * start of a page in use, no larger than `size` says (free_sized; 0 when
 * not given, and the check folds away), and must not carry the page's free
 * cookie. Then the block goes on its page's local list, or to its owner if
 * another thread's. */
static inline FAST void raw_free_sized(void *p, size_t size) {
    uintptr_t a = (uintptr_t)p;
    if (unlikely(segmap_get(a) != MAP_SMALL)) {
        free_slow(p, size);
        return;
    }
    page_t *pg = small_page_of(a);
    if (unlikely(!small_block_start(pg, a))) { free_invalid(p); return; }
    if (unlikely(size > pg->block_size)) { free_wrong_size(p); return; }
    block_t *b = (block_t *)p;
    uintptr_t cookie = pg->key ^ a;
    if (unlikely(b->cookie == cookie)) { free_double(p); return; }
    b->cookie = cookie;
    heap_t *h = cairn_tl_heap;
    if (likely(pg->heap == h)) {
        b->next = (block_t *)((uintptr_t)pg->local_free ^ pg->key);
        pg->local_free = b;
        COUNT_CALL(h, nfree);
        uint32_t used = pg->used - 1;
        STORE_RELAXED(pg->used, used);  /* statistics read it (stats.c)     */
        if (unlikely(used == 0 || pg->free_slow)) small_free_slow(pg, b);
        return;
    }
    small_free_remote(pg, b);
}

/* The entry points' malloc and free: the raw fast paths, or in the secure
 * build (libcairn-secure.so) the checked ones of secure.c, which use the
 * raw ones underneath. */
#ifdef CAIRN_SECURE
void *secure_malloc(size_t size);
void  secure_free(void *p, size_t size);
static inline void *fast_malloc(size_t size) { return secure_malloc(size); }
static inline void fast_free_sized(void *p, size_t size) { secure_free(p, size); }
#else
static inline FAST void *fast_malloc(size_t size) { return raw_malloc(size); }
static inline FAST void fast_free_sized(void *p, size_t size) { raw_free_sized(p, size); }
#endif
static inline FAST void fast_free(void *p) { fast_free_sized(p, 0); }

#endif
