/* realloc and reallocarray: in place when the block's class, large block
 * or mapping can take the new size, else allocate, copy, free. On failure
 * the old block is left intact. glibc frees and returns NULL on size 0. */
#include "fastpath.h"
#include "cairn.h"
#include <errno.h>
#include <string.h>

static void *move_block(void *p, size_t old_usable, size_t size) {
    void *q = fast_malloc(size);
    if (!q) return NULL;
    memcpy(q, p, old_usable < size ? old_usable : size);
    fast_free(p);
    return q;
}

/* A live small block stays when the new size still uses at least half of
 * its class; shrinking further moves it so the memory can be reused. */
static void *realloc_small(void *p, const small_seg_t *s, size_t size) {
    uintptr_t a = (uintptr_t)p;
    const page_t *pg = &s->pages[(a >> PAGE_SHIFT) & (PAGES_PER_SEG - 1)];
    uint32_t off = (uint32_t)(a & (PAGE_SIZE_ - 1));
    uint32_t idx = (uint32_t)(((uint64_t)off * pg->recip) >> 32);
    if (idx * pg->block_size != off || idx >= LOAD_RELAXED(pg->capacity))
        cairn_fatal("realloc of invalid pointer", p);
    if (((const block_t *)p)->cookie == (cairn_key ^ a)) cairn_fatal("realloc of freed pointer", p);
    size_t bs = pg->block_size;
    if (size <= bs && (size >= bs / 2 || bs <= 32)) return p;
    return move_block(p, bs, size);
}

static void *realloc_large(void *p, large_seg_t *s, size_t size) {
    if (size > SMALL_MAX && size <= LARGE_MAX && large_resize_inplace(p, s, size)) return p;
    return move_block(p, large_usable(p, s), size);
}

static void *realloc_huge(void *p, huge_hdr_t *h, size_t size) {
    if (size > LARGE_MAX) return huge_realloc(p, h, size);
    return move_block(p, huge_usable(p, h), size);
}

API void *cairn_realloc(void *p, size_t size) {
    if (!p) return fast_malloc(size);
    if (size == 0) { fast_free(p); return NULL; }
    if (size > (size_t)PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
    heap_t *me = cairn_tl_heap;
    if (me != &cairn_empty_heap) me->nrealloc++;
    void *hdr = segmap_header(p);
    if (!hdr) cairn_fatal("realloc of invalid pointer", p);
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
