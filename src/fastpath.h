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
/* Misuse found on a free: report and abort. Declared as returning so a
 * fast path can leave through a tail call and needs no stack frame. */
void  free_invalid(void *p);
void  free_double(void *p);
void  free_wrong_size(void *p);

#ifdef CAIRN_EXACT_COUNTS               /* a statistics build: count every call */
#define COUNT_CALL(h, field) OWNER_ADD((h)->field, 1)   /* read by stats.c */
#else
#define COUNT_CALL(h, field) ((void)0)
#endif

/* Take b, the head of pg's free list, whose link decoded to next: a block
 * of the same 64 KiB page or the end mark, so a use-after-free write into
 * a free block cannot send a later malloc elsewhere. */
static inline FAST void *page_take(heap_t *h, page_t *pg, block_t *b, block_t *next) {
    pg->free = next;
    __builtin_prefetch(next, 1);        /* the next malloc's block: warm it now */
    owner_inc32(&pg->used);             /* statistics read it (stats.c)     */
    b->next = NULL;                     /* hand out no heap data ...        */
    b->cookie = 0;                      /* ... and no "free" mark           */
    COUNT_CALL(h, nmalloc);
    (void)h;
    return b;
}

/* Take b, the head of pg's free list (not its end), checking its link. */
static inline FAST void *page_pop(heap_t *h, page_t *pg, block_t *b) {
    return page_take(h, pg, b, link_next(pg, b));
}

/* malloc from pg, h's page for a class: `cls`, or with `direct` set,
 * the class of direct[] slot `cls` (looked up on the slow path only). One
 * test: the head's link decodes into the head's page. The link of an
 * empty list (the end mark's) and that of a list's last block (the end
 * mark) fail it too, so both go to the slow path with a corrupt link: a
 * list rarely ends. */
static inline FAST void *page_malloc(heap_t *h, page_t *pg, size_t cls, bool direct) {
    block_t *b = pg->free, *next = link_get(pg, b);
    if (likely(link_in_page(b, next))) return page_take(h, pg, b, next);
    return direct ? page_pop_slow_direct(h, pg, cls) : page_pop_slow(h, pg, (unsigned)cls);
}

/* A block of class `cls` from the thread's current page. A thread that
 * has no heap yet sees the static empty heap, whose pages are all empty,
 * so its first call falls into small_refill, which sets the heap up. */
static inline FAST void *small_alloc(unsigned cls) {
    heap_t *h = cairn_tl_heap;
    return page_malloc(h, h->cur[cls], cls, false);
}

/* The page serving a small size: direct[] up to DIRECT_MAX, else the
 * current page of its class (calloc in alloc.c; raw_malloc writes the
 * direct[] case out, so its slow path gets the slot, not the class). */
static inline FAST page_t *size_page(const heap_t *h, size_t size) {
    return size <= DIRECT_MAX ? h->direct[(size + 15) >> 4] : h->cur[size_class(size)];
}

static inline FAST void *raw_malloc(size_t size) {
    if (likely(size <= DIRECT_MAX)) {
        heap_t *h = cairn_tl_heap;
        size_t i = (size + 15) >> 4;
        return page_malloc(h, h->direct[i], i, true);
    }
    if (likely(size <= SMALL_MAX)) return small_alloc(size_class(size));
    return malloc_big(size);
}

/* Is a (an address inside pg's page) the start of one of its carved
 * blocks? One multiplication of the offset by the 32-bit reciprocal puts
 * the block index in the high half and, in the low half, a value below
 * the reciprocal exactly at block starts (sizeclass tests prove it). With
 * the halves swapped, the starts below the capacity are exactly the values
 * below one limit (page_set_capacity), so the test is one compare. A page
 * not in use has limit 0, so nothing passes. lim is pg->start_lim as the
 * caller may read it: plainly by the owner, relaxed by others. */
static inline FAST bool block_start(uintptr_t a, uint64_t recip, uint64_t lim) {
    uint64_t prod = (uint64_t)(a & (PAGE_SIZE_ - 1)) * recip;
    return (prod << 32 | prod >> 32) < lim;
}
static inline FAST bool small_block_start(const page_t *pg, uintptr_t a, uint64_t lim) {
    return block_start(a, pg->recip, lim);
}

/* The page of a, an address in a small segment: pages[] starts the
 * segment, so it is the base plus the page index times 256, one shift and
 * one mask of a. */
#define PAGE_T_SHIFT 8
_Static_assert(sizeof(page_t) == (size_t)1 << PAGE_T_SHIFT && offsetof(small_seg_t, pages) == 0,
               "small_page_of's arithmetic");
static inline FAST small_seg_t *small_seg_of(uintptr_t a) {
    return (small_seg_t *)(a & ~(uintptr_t)SEG_MASK);
}
static inline FAST page_t *small_page_of(uintptr_t a) {
    uintptr_t off = (a >> (PAGE_SHIFT - PAGE_T_SHIFT)) & ((uintptr_t)(PAGES_PER_SEG - 1) << PAGE_T_SHIFT);
    return (page_t *)((uintptr_t)small_seg_of(a) + off);
}

/* What is wrong with freeing a as a block of at least `size` bytes
 * (free_sized; 0 when not given, and the test folds away) of a page with
 * these reciprocal, limit, block size and mark: FM_OK, or why it is
 * misuse. The block is then marked free. The owner passes its page's line
 * 1 fields; another thread their copies in line 2 (small_free_remote). */
enum { FM_OK, FM_INVALID, FM_SIZE, FM_DOUBLE };
static inline FAST int block_free_check(uintptr_t a, size_t size, uint64_t recip, uint64_t lim,
                                        uint32_t block_size, uintptr_t mark) {
    if (unlikely(!block_start(a, recip, lim))) return FM_INVALID;
    if (unlikely(size > block_size)) return FM_SIZE;
    block_t *b = (block_t *)a;
    if (unlikely(b->cookie == mark)) return FM_DOUBLE;
    b->cookie = mark;
    return FM_OK;
}
void free_misuse(void *p, int why);     /* reports and aborts */

/* Free: the segment map says a small segment holds p. A block of this
 * thread's segment (its heap is read from the segment header, written only
 * when the segment is set up) is checked (block_free_check) and goes on the page's local list;
 * another thread's goes to small_free_remote, which checks it the same way
 * from the page's second line. The segment map entry of a live block was
 * written before the block was handed out and stays until it is freed: a
 * plain load. */
static inline FAST void raw_free_sized(void *p, size_t size) {
    uintptr_t a = (uintptr_t)p;
    if (unlikely(segmap_get_live(a) != MAP_SMALL)) {
        free_slow(p, size);
        return;
    }
    page_t *pg = small_page_of(a);
    heap_t *h = cairn_tl_heap;
    if (unlikely(small_seg_of(a)->heap != h)) {
        small_free_remote(p, size);
        return;
    }
    int why = block_free_check(a, size, pg->recip, pg->start_lim, pg->block_size, pg->mark);
    if (unlikely(why != FM_OK)) {
        free_misuse(p, why);
        return;
    }
    block_t *b = (block_t *)p;
    link_set(pg, b, pg->local_free);
    pg->local_free = b;
    COUNT_CALL(h, nfree);
    /* statistics read `used`; <= 0: the page emptied, or USED_SLOW */
    if (unlikely(owner_dec32_le0(&pg->used))) small_free_slow(b);
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
