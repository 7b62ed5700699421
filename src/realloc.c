/* realloc and reallocarray: in place when the block's class, large block
 * or mapping can take the new size, else allocate, copy, free. On failure
 * the old block is left intact. glibc frees and returns NULL on size 0. */
#include "fastpath.h"
#include "cairn.h"
#include <errno.h>
#include <string.h>

/* Blocks that grow by realloc tend to grow again. From this size on they
 * move to the large heap (TLSF), which can extend them in place and merges
 * what they leave behind, instead of a size class that would leave a hole
 * in every class the block passes through. */
#define GROWN_TO_LARGE 512

static void *move_to(void *p, void *q, size_t old_usable, size_t size) {
    if (!q) return NULL;
    memcpy(q, p, old_usable < size ? old_usable : size);
    fast_free(p);
    return q;
}

static void *move_block(void *p, size_t old_usable, size_t size) {
    return move_to(p, fast_malloc(size), old_usable, size);
}

/* Growth gets 25% headroom, so a block grown by small steps moves only
 * every so often (amortised, like a growing array's capacity). */
static size_t with_headroom(size_t size) {
    size_t g = size + size / 4;
    return g > LARGE_MAX ? LARGE_MAX : g;
}

static void *move_to_large(void *p, size_t old_usable, size_t size) {
    return move_to(p, large_alloc_here(with_headroom(size), MIN_ALIGN), old_usable, size);
}

/* A live small block stays when the new size still uses at least half of
 * its class; shrinking further moves it so the memory can be reused. */
static void *realloc_small(void *p, const small_seg_t *s, size_t size) {
    uintptr_t a = (uintptr_t)p;
    const page_t *pg = &s->pages[(a >> PAGE_SHIFT) & (PAGES_PER_SEG - 1)];
    if (!small_block_start(pg, a, LOAD_RELAXED(pg->start_lim))) cairn_fatal("realloc of invalid pointer", p);
    if (((const block_t *)p)->cookie == pg->mark || (pg->holes && page_in_hole(pg, a)))
        cairn_fatal("realloc of freed pointer", p);
    size_t bs = pg->block_size;
    if (size <= bs && (size >= bs / 2 || bs <= 32)) return p;
    if (size > bs && size >= GROWN_TO_LARGE && size <= LARGE_MAX) return move_to_large(p, bs, size);
    return move_block(p, bs, size);
}

/* A large block stays in the large heap while it fits there, in place if
 * its neighbour allows, else moved within the heap. A block that keeps
 * growing past REALLOC_TO_HUGE moves to a mapping of its own instead,
 * which later growth extends with mremap, without copying. */
static void *realloc_large(void *p, large_seg_t *s, size_t size) {
    size_t usable = large_usable_own(p, s, "realloc of freed pointer", "realloc of invalid pointer");
    if (size <= usable && size >= usable / 2) return p;        /* keep the slack */
    if (size <= LARGE_MAX && size > usable && large_resize_inplace(p, s, with_headroom(size))) return p;
    if (size <= LARGE_MAX && large_resize_inplace(p, s, size)) return p;
    if (size > usable && size > REALLOC_TO_HUGE)
        return move_to(p, huge_alloc(size, MIN_ALIGN, false), usable, size);
    return move_to_large(p, usable, size);
}

/* A mapping is resized by mremap while it stays above REALLOC_TO_HUGE. */
static void *realloc_huge(void *p, huge_hdr_t *h, size_t size) {
    if (size > REALLOC_TO_HUGE) return huge_realloc(p, h, size);
    return move_block(p, huge_usable_checked(p, h, "realloc of invalid pointer"), size);
}

API void *cairn_realloc(void *p, size_t size) {
    if (SECURE) return secure_realloc(p, size);
    if (!p) return fast_malloc(size);
    if (size == 0) { fast_free(p); return NULL; }
    if (size > (size_t)PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
    heap_t *me = my_heap();
    if (me) OWNER_ADD(me->nrealloc, 1);
    void *hdr = segmap_header(p);
    if (!hdr) cairn_fatal(huge_recently_freed(p) ? "realloc of freed pointer" : "realloc of invalid pointer", p);
    switch (*(const uint8_t *)hdr) {
    case SEG_SMALL: return realloc_small(p, hdr, size);
    case SEG_LARGE: return realloc_large(p, hdr, size);
    case SEG_HUGE: return realloc_huge(p, hdr, size);
    default: cairn_fatal("realloc of invalid pointer", p);
    }
}

API void *cairn_reallocarray(void *p, size_t n, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) { errno = ENOMEM; return NULL; }
    return cairn_realloc(p, total);
}
