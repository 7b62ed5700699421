/* The cairn_* entry points: routing by size and alignment to the small
 * classes (fastpath.h), the large TLSF arenas (large.c) or direct mappings
 * (huge.c), with glibc's rules for errors, zero sizes and overflow. */
#include "fastpath.h"
#include "cairn.h"
#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Requests larger than this can never succeed: glibc's limit. */
#define MAX_REQUEST ((size_t)PTRDIFF_MAX)

/* A large block from the arena of the calling thread's heap. */
void *large_alloc_here(size_t size, size_t align) {
    heap_t *h = heap_for_thread();
    size_t zero;
    return h ? large_alloc(h->arena, size, align, &zero) : NULL;
}

/* Clear the first `total` bytes of large block p, but for what the arena
 * knows is zero (`zero`, LB_KNOWN_ZERO flags): a block cut from memory
 * never handed out since it was mapped is zero but for the free-block
 * fields at its start; one whose pages the kernel purged since they were
 * last written is zero in every OS page wholly past those fields, so only
 * its first and last partial pages are cleared. Pages not written here
 * are not made resident: the program pays only for what it touches. */
static void clear_large(char *p, size_t total, size_t zero) {
    if (zero & LB_ZERO) { memset(p, 0, total > LB_ZERO_FROM ? LB_ZERO_FROM : total); return; }
    size_t pg = os_page_size();
    char *lo = (char *)align_up((uintptr_t)p + LB_ZERO_FROM, pg);
    char *hi = (char *)((uintptr_t)(p + total) & ~(uintptr_t)(pg - 1));
    if (!(zero & LB_ZPAGES) || hi <= lo) { memset(p, 0, total); return; }
    memset(p, 0, (size_t)(lo - p));
    memset(hi, 0, (size_t)(p + total - hi));
}

static void *large_calloc(size_t total) {
    heap_t *h = heap_for_thread();
    size_t zero = 0;
    char *p = h ? large_alloc(h->arena, total, MIN_ALIGN, &zero) : NULL;
    if (p) clear_large(p, total, zero);
    return p;
}

NOINLINE void *malloc_big(size_t size) {
    if (unlikely(size > MAX_REQUEST)) { errno = ENOMEM; return NULL; }
    if (size <= LARGE_MAX) return large_alloc_here(size, MIN_ALIGN);
    return huge_alloc(size, MIN_ALIGN, false);
}

NOINLINE void free_wrong_size(void *p) { cairn_fatal("wrong size passed to free_sized for", p); }
NOINLINE void free_invalid(void *p) { cairn_fatal("invalid free of", p); }
NOINLINE void free_double(void *p) { cairn_fatal("double free of", p); }
NOINLINE void free_misuse(void *p, int why) {
    if (why == FM_SIZE) free_wrong_size(p);
    if (why == FM_DOUBLE) free_double(p);
    free_invalid(p);
}

/* NULL; a large or huge block; or a pointer cairn does not own. errno is
 * kept: free must not change it. A size from free_sized must fit. */
NOINLINE void free_slow(void *p, size_t size) {
    if (!p) return;
    int saved = errno;
    void *hdr = segmap_header(p);
    if (!hdr) cairn_fatal(huge_recently_freed(p) ? "double free of" : "invalid free of", p);
    switch (*(const uint8_t *)hdr) {
    case SEG_LARGE:
        if (size && size > large_usable_checked(p, hdr, "double free of", "invalid free of"))
            free_wrong_size(p);
        large_free(p, hdr);
        break;
    case SEG_HUGE:
        if (size && size > huge_usable_checked(p, hdr, "invalid free of")) free_wrong_size(p);
        huge_free(p, hdr);
        break;
    default: cairn_fatal("invalid free of", p);
    }
    errno = saved;
}

/* free_aligned_sized: the block must have the alignment it claims. */
void free_aligned_sized_checked(void *p, size_t alignment, size_t size) {
    if (unlikely(p && (!is_pow2(alignment) || ((uintptr_t)p & (alignment - 1)))))
        cairn_fatal("wrong alignment passed to free_aligned_sized for", p);
    fast_free_sized(p, size);
}

API HOT_ENTRY void *cairn_malloc(size_t size) { return fast_malloc(size); }
API HOT_ENTRY void cairn_free(void *p) { fast_free(p); }
API void cairn_free_sized(void *p, size_t size) { fast_free_sized(p, size); }
API void cairn_free_aligned_sized(void *p, size_t alignment, size_t size) {
    free_aligned_sized_checked(p, alignment, size);
}

/* Pop a small block for calloc; memory known to be zero (PM_FREE_ZERO:
 * carved from a fresh or purged page and never handed out) skips the
 * memset. The flag is read before the pop, which does not change it. A
 * block from the refill is looked at only if this thread owns its page
 * (an exiting thread's refill draws from a shared heap). */
static inline void *small_calloc(size_t total) {
    heap_t *h = cairn_tl_heap;
    page_t *pg = size_page(h, total);
    block_t *b = pg->free;
    if (likely(!list_end(b))) {
        bool zero = pg->mem & PM_FREE_ZERO;
        page_pop(h, pg, b);
        if (!zero) memset(b, 0, total);
        return b;
    }
    void *p = small_refill(h, size_class(total));
    if (p) {
        pg = small_page_of((uintptr_t)p);
        if (pg->heap != cairn_tl_heap || !(pg->mem & PM_FREE_ZERO)) memset(p, 0, total);
    }
    return p;
}

API void *cairn_calloc(size_t n, size_t size) {
    size_t total;
    if (unlikely(__builtin_mul_overflow(n, size, &total))) { errno = ENOMEM; return NULL; }
    if (!SECURE && likely(total <= SMALL_MAX)) return small_calloc(total);
    if (total > LARGE_MAX && !SECURE) {     /* fresh mappings are zero already */
        if (total > MAX_REQUEST) { errno = ENOMEM; return NULL; }
        return huge_alloc(total, MIN_ALIGN, true);
    }
    if (!SECURE) return large_calloc(total);
    void *p = fast_malloc(total);
    if (likely(p != NULL)) memset(p, 0, total);
    return p;
}

/* align: a power of two. Small classes whose size is a multiple of the
 * alignment give aligned blocks for free (pages are 64 KiB aligned); the
 * large heap splits off an aligned block (its search must find size +
 * align, so alignments above LARGE_ALIGN_MAX (internal.h) would strand
 * too much);
 * otherwise a direct mapping, trimmed to the alignment exactly. */
void *alloc_aligned(size_t size, size_t align) {
    if (SECURE) return secure_aligned(size, align);
    if (align <= MIN_ALIGN) return fast_malloc(size);
    if (unlikely(size > MAX_REQUEST)) { errno = ENOMEM; return NULL; }
    int cls = size_class_aligned(size, align);
    if (cls >= 0) return small_alloc((unsigned)cls);
    if (align <= LARGE_ALIGN_MAX && size + align <= LARGE_MAX) return large_alloc_here(size, align);
    return huge_alloc(size, align, false);
}

/* glibc's memalign: alignments below 16 mean 16, others round up to a
 * power of two; absurd ones fail with EINVAL. */
API void *cairn_memalign(size_t alignment, size_t size) {
    if (alignment > MAX_REQUEST / 2 + 1) { errno = EINVAL; return NULL; }
    if (!is_pow2(alignment)) {
        size_t a = MIN_ALIGN;
        while (a < alignment) a <<= 1;
        alignment = a;
    }
    return alloc_aligned(size, alignment);
}

API void *cairn_aligned_alloc(size_t alignment, size_t size) {
    return cairn_memalign(alignment, size);
}

API int cairn_posix_memalign(void **out, size_t alignment, size_t size) {
    if (alignment % sizeof(void *) != 0 || !is_pow2(alignment)) return EINVAL;
    int saved = errno;
    void *p = alloc_aligned(size, alignment);
    errno = saved;
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

API void *cairn_valloc(size_t size) {
    return alloc_aligned(size, (size_t)sysconf(_SC_PAGESIZE));
}

API void *cairn_pvalloc(size_t size) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (size > MAX_REQUEST) { errno = ENOMEM; return NULL; }
    return alloc_aligned(align_up(size ? size : 1, page), page);
}

/* Usable size of a live block; 0 for NULL. Checked like free: a pointer
 * cairn did not hand out, or one freed already, is misuse. */
size_t usable_size(const void *p) {
    if (SECURE) return secure_usable(p);
    if (!p) return 0;
    void *hdr = segmap_header(p);
    if (!hdr) {
        bool freed = huge_recently_freed(p);
        cairn_fatal(freed ? "malloc_usable_size of freed pointer" : "malloc_usable_size of invalid pointer", p);
    }
    switch (*(const uint8_t *)hdr) {
    case SEG_SMALL: {
        uintptr_t a = (uintptr_t)p;
        const page_t *pg = small_page_of(a);
        if (!small_block_start(pg, a, LOAD_RELAXED(pg->start_lim))) cairn_fatal("malloc_usable_size of invalid pointer", p);
        if (((const block_t *)p)->cookie == pg->mark || (pg->holes && page_in_hole(pg, a)))
            cairn_fatal("malloc_usable_size of freed pointer", p);
        return pg->block_size;
    }
    case SEG_LARGE: return large_usable(p, hdr);
    case SEG_HUGE: return huge_usable(p, hdr);
    default: cairn_fatal("malloc_usable_size of invalid pointer", p);
    }
}

API size_t cairn_malloc_usable_size(void *p) { return usable_size(p); }

/* Give back everything that can go: empty pages and segments of this
 * thread's heap and of pooled heaps, free large blocks, cached segments
 * and mappings. Returns 1 when memory went back to the kernel, like glibc. */
API int cairn_malloc_trim(size_t pad) {
    (void)pad;
    os_totals_t before, after;
    os_counters(&before);
    if (SECURE) secure_quarantine_flush();
    heap_t *h = my_heap();
    if (h) {
        heap_collect_all(h, true);
        segments_release_empty(h);
    }
    purge_all(true);
    os_counters(&after);
    return (after.mapped < before.mapped || after.purged > before.purged) ? 1 : 0;
}
