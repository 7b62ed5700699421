/* cairn cross-file functions and the few process-wide globals.
 * Everything here has hidden visibility (see the Makefile).
 *
 * Layers, lowest first; a file calls only into its own layer or below:
 *   os.c (kernel: memory, clock, page size), error.c, options.c
 *   segmap.c, sizeclass.c
 *   page.c (free lists of one page), fastpath.h (inline malloc/free)
 *   segment.c (small segments, their free pages), segcache.c
 *   large.c (TLSF arenas), huge.c (direct mappings)
 *   heap.c (thread heaps and their pool)
 *   purge.c (when to give memory back; the background purger)
 *   alloc.c, realloc.c, stats.c, check.c, init.c, fork.c, override.c
 * fastpath.h depends on types.h, segmap and the page layer only; purging
 * is called from the top (slow paths, the purger) with no allocator lock
 * held, and each pool's own lock is taken inside the pool's file. */
#ifndef CAIRN_INTERNAL_H
#define CAIRN_INTERNAL_H

#include "types.h"
#include <stdio.h>

/* The secure build (libcairn-secure.so): canaries, quarantine, guard
 * pages (secure.c). A constant, so the default build carries no trace. */
#ifdef CAIRN_SECURE
#define SECURE 1
#else
#define SECURE 0
#endif
/* Secure build: pages 8, 16, ..., 56 of every small segment are guard
 * pages (never handed out, PROT_NONE), so a run of pages ends in a fault. */
#define GUARD_MASK (SECURE ? 0x0101010101010100ull : 0)

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define API         __attribute__((visibility("default")))
/* The fast entry points start on a cache line of their own, so their
 * speed does not move with the size of unrelated code before them (a
 * fast path straddling a line boundary measured up to 10% slower). */
#define HOT_ENTRY   __attribute__((aligned(64)))
#define NOINLINE    __attribute__((noinline))

#ifdef CAIRN_DEBUG
#define cairn_assert(c) ((c) ? (void)0 : cairn_assert_fail(#c, __FILE__, __LINE__))
#else
#define cairn_assert(c) ((void)0)
#endif

/* Plain loads/stores of fields another thread may read concurrently
 * (same code as an ordinary access on x86; tells the compiler and TSan). */
#define LOAD_RELAXED(x)     __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE_RELAXED(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
/* A field only its owner writes and other threads read for statistics or a
 * walk: the owner's read needs no atomic, its store is a relaxed one. */
#define OWNER_ADD(x, n)     STORE_RELAXED(x, (x) + (n))

/* The same for the fast path's 32-bit page counter, where it costs most:
 * on x86-64 one add to memory (a single store, as the relaxed store would
 * be; only the owner writes), whose flags also give "is the result <= 0"
 * for free. Elsewhere, and under TSan (which must see the access), the
 * relaxed load and store above. */
#if defined(__SANITIZE_THREAD__)
#define CAIRN_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CAIRN_TSAN 1
#endif
#endif
#if defined(__x86_64__) && !defined(CAIRN_TSAN)
static inline void owner_inc32(uint32_t *x) { __asm__("addl $1, %0" : "+m"(*x)); }
static inline bool owner_dec32_le0(uint32_t *x) {
    bool le;
    __asm__("subl $1, %0" : "+m"(*x), "=@ccle"(le));
    return le;
}
#else
static inline void owner_inc32(uint32_t *x) { STORE_RELAXED(*x, *x + 1); }
static inline bool owner_dec32_le0(uint32_t *x) {
    uint32_t v = *x - 1;
    STORE_RELAXED(*x, v);
    return (int32_t)v <= 0;
}
#endif

static inline size_t align_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }
static inline bool is_pow2(size_t n) { return n && !(n & (n - 1)); }

/* ---- options.c: every CAIRN_* variable, parsed once ------------------ */
typedef struct options {
    int stats;                   /* CAIRN_STATS: 0 none, 1 text, 2 json at exit */
    long stats_interval_ms;      /* CAIRN_STATS_INTERVAL: timeline samples */
    const char *stats_file;      /* CAIRN_STATS_FILE: where they go      */
    bool verbose;                /* CAIRN_VERBOSE: print options at start */
    bool background;             /* CAIRN_BACKGROUND: purger thread allowed */
    long purge_delay_ms;         /* CAIRN_PURGE_DELAY                    */
    unsigned arenas;             /* CAIRN_ARENAS                         */
    bool thp;                    /* CAIRN_THP: advise mappings for huge pages */
} options_t;
extern options_t cairn_opt;
void options_init(void);
/* Parses "N", "Nms" or "Ns" (N a non-negative integer) into milliseconds;
 * false when s is none of these or exceeds max_ms. */
bool parse_duration_ms(const char *s, long max_ms, long *out);

/* ---- init.c ------------------------------------------------------------ */
extern uintptr_t cairn_key;          /* secret for free-block cookies     */
void cairn_init(void);               /* idempotent, thread-safe, no malloc */
bool cairn_main_running(void);       /* the library constructor has run   */

/* ---- error.c: misuse reports and internal assertion failures ---------- */
__attribute__((noreturn)) void cairn_fatal(const char *what, const void *p);
__attribute__((noreturn)) void cairn_assert_fail(const char *c, const char *f, int l);
void cairn_warn(const char *msg, const char *detail);
/* Write helpers that never allocate (usable in any state). */
size_t fmt_u64(char *buf, uint64_t v);
size_t fmt_hex(char *buf, uintptr_t v);

/* ---- os.c: the only file that talks to the kernel ---------------------- */
void  os_init(void);
void *os_map(size_t size);
void *os_map_aligned(size_t size, size_t align, size_t offset);
void  os_advise_huge(void *p, size_t size);
void  os_unmap(void *p, size_t size);
bool  os_purge(void *p, size_t size);   /* true: now reads zero */
bool  os_readonly(void *p, size_t size);
bool  os_writable(void *p, size_t size);
bool  os_remap_inplace(void *p, size_t old_size, size_t new_size);
void *os_remap_aligned(void *p, size_t old_size, size_t new_size, size_t align);
uint64_t os_clock_ms(void);          /* monotonic milliseconds            */
size_t os_page_size(void);           /* the kernel's page size            */
unsigned os_space_bits(void);        /* user address width seen at start  */
unsigned os_map_bits(void);          /* mappings end below 2^this         */
void  os_yield(void);
typedef struct os_totals {
    uint64_t mapped, peak, nmmap, nmunmap, npurge, purged;
} os_totals_t;
void  os_counters(os_totals_t *t);
uint64_t os_resident_bytes(void);
uint64_t os_resident_in(const void *p, size_t len);   /* mincore            */
uint64_t os_rss_rollup(void);                         /* smaps_rollup's Rss  */
bool  os_protect(void *p, size_t size, bool none);    /* PROT_NONE or back */

/* ---- spinlocks (lock_t in types.h) ------------------------------------- */
#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ volatile("yield")
#else
#define cpu_relax() ((void)0)
#endif
static inline bool lock_try(lock_t *l) {
    return !atomic_load_explicit(&l->held, memory_order_relaxed) &&
           !atomic_exchange_explicit(&l->held, 1, memory_order_acquire);
}
static inline void lock_acquire(lock_t *l) {
    for (unsigned spins = 0; !lock_try(l); spins++)
        if (spins > 64) os_yield();
        else cpu_relax();
}
static inline void lock_release(lock_t *l) {
    atomic_store_explicit(&l->held, 0, memory_order_release);
}

/* ---- segmap.c: which 4 MiB chunks hold a cairn header ----------------- */
extern _Atomic uint8_t cairn_segmap[(size_t)1 << (ADDR_BITS - SEG_SHIFT)];
/* The map byte of a's chunk, or NULL above the 48-bit space. */
static inline _Atomic uint8_t *segmap_slot(uintptr_t a) {
    uintptr_t i = a >> SEG_SHIFT;
    return likely(i < ((uintptr_t)1 << (ADDR_BITS - SEG_SHIFT))) ? &cairn_segmap[i] : NULL;
}
static inline unsigned segmap_get(uintptr_t a) {
    _Atomic uint8_t *m = segmap_slot(a);
    return m ? atomic_load_explicit(m, memory_order_relaxed) : MAP_NONE;
}
/* The same for a pointer the caller holds as live (free): its entry was
 * written before the pointer was handed out and does not change while it
 * is live, so the load need not be atomic, and folds into a compare. */
static inline unsigned segmap_get_live(uintptr_t a) {
    _Atomic uint8_t *m = segmap_slot(a);
    return m ? *(const uint8_t *)m : MAP_NONE;
}
void segmap_init(void);
/* Make the map writable where it records [a, a + size): false when out of
 * memory. Call it for new memory before segmap_set records it. */
bool segmap_prepare(uintptr_t a, size_t size);
void segmap_set(uintptr_t a, unsigned v);
/* The header governing p, or NULL when p is in no cairn chunk. */
void *segmap_header(const void *p);

/* ---- sizeclass.c / inline --------------------------------------------- */
extern const uint8_t cairn_class_of_tiny[65];
extern const uint32_t cairn_class_size_tab[NCLASSES];
static inline unsigned size_class(size_t size) {
    if (likely(size <= 1024)) return cairn_class_of_tiny[(size + 15) >> 4];
    unsigned b = 63u - (unsigned)__builtin_clzl(size - 1);  /* size-1 >= 1024: b >= 10 */
    return 8u + (b - 7u) * 4u + (unsigned)(((size - 1) >> (b - 2)) & 3u);
}
/* Smallest class whose size is a multiple of align and >= size, or -1. */
int size_class_aligned(size_t size, size_t align);
/* heap->direct[i] for cairn_direct_lo[c] <= i < cairn_direct_hi[c] serves
 * class c (sizeclass_init fills these from the class table). */
extern uint8_t cairn_direct_lo[NCLASSES], cairn_direct_hi[NCLASSES];
void sizeclass_init(void);

/* ---- page.c: free lists of one page ------------------------------------ */
static inline small_seg_t *page_segment(const page_t *pg) {
    return (small_seg_t *)((uintptr_t)pg & ~(uintptr_t)SEG_MASK);
}
static inline uintptr_t page_start(const page_t *pg) {
    small_seg_t *s = page_segment(pg);
    return (uintptr_t)s + ((size_t)(pg - s->pages) << PAGE_SHIFT);
}
/* Every list of every page ends with one end mark, a block that lives in
 * no page and is never written: its link reads 0, which decodes to the
 * page's key, and keys have bit 63 set (page_init). So following a list
 * past its last block, or past its end, gives an address outside the
 * page, and malloc's one link test (fastpath.h) stops at both, and at a
 * corrupt link; the slow path tells the three apart. Links are stored
 * encoded with the page key (see block_t). */
extern block_t cairn_list_end;
#define KEY_HIGH ((uintptr_t)1 << 63)
static inline bool list_end(const block_t *b) { return b == &cairn_list_end; }
static inline block_t *page_end_mark(const page_t *pg) { (void)pg; return &cairn_list_end; }
static inline block_t *link_get(const page_t *pg, const block_t *b) {
    return (block_t *)((uintptr_t)b->next ^ pg->key);
}
static inline void link_set(const page_t *pg, block_t *b, const block_t *next) {
    b->next = (block_t *)((uintptr_t)next ^ pg->key);
}
/* The head and the length of a thread_free word (see page_t). */
static inline block_t *tf_head(uintptr_t tf) {
    return (block_t *)(tf & ((((uintptr_t)1 << TF_COUNT_SHIFT) - 1) & ~TF_FULL));
}
static inline uint32_t tf_count(uintptr_t tf) { return (uint32_t)(tf >> TF_COUNT_SHIFT); }
/* Is next, a link decoded from block b, in b's 64 KiB page? */
static inline bool link_in_page(const block_t *b, const block_t *next) {
    return !(((uintptr_t)next ^ (uintptr_t)b) >> PAGE_SHIFT);
}
/* A link of pg's lists decoded to an address outside the page: aborts.
 * Declared to return, so the fast path can leave through a tail call. */
void *page_corrupt(const page_t *pg, const void *b);
/* The link of b, a block on one of pg's lists: a block of the same page or
 * the end mark. Anything else is a corrupt list (a use-after-free write):
 * aborts, so no walk follows it out of the page. */
static inline block_t *link_next(const page_t *pg, const block_t *b) {
    block_t *next = link_get(pg, b);
    if (unlikely(!link_in_page(b, next) && !list_end(next))) page_corrupt(pg, b);
    return next;
}
/* Blocks handed out (and not collected back) of a page in use. */
static inline uint32_t page_used(const page_t *pg) {
    return (LOAD_RELAXED(pg->used) & ~USED_SLOW) - LOAD_RELAXED(pg->cur_bias);
}
/* Bytes of the page's carved blocks: every one was handed out or written
 * as free, so resident unless purged (a kept page has no holes). */
static inline uint64_t page_carved(const page_t *pg) {
    return (uint64_t)pg->capacity * pg->block_size;
}
/* The limit of small_block_start (fastpath.h) for a page of block size bs
 * and reciprocal recip with `cap` blocks carved. A start k * bs gives the
 * product k * 2^32 + k * e, e = bs * recip - 2^32 (< bs; 0 for powers of
 * two), so swapped halves (k * e) << 32 | k, rising with k; every other
 * offset gives a low half of at least recip. The limit is the value of
 * block `cap`, or recip << 32 when block `cap` is beyond what the low half
 * can tell apart (t_internal checks every class, capacity and offset). */
static inline uint64_t block_start_limit(uint32_t bs, uint32_t recip, uint32_t cap) {
    if (!recip) return 0;
    uint64_t lo = ((uint64_t)bs * recip - ((uint64_t)1 << 32)) * cap;
    return lo < recip ? lo << 32 | cap : (uint64_t)recip << 32;
}
/* The index of the block holding a (an address in pg's page). */
static inline uint32_t page_block_index(const page_t *pg, uintptr_t a) {
    return (uint32_t)(((uint64_t)(a & (PAGE_SIZE_ - 1)) * pg->recip) >> 32);
}
/* Set the carved count; free's block test reads the limit from any thread. */
static inline void page_set_capacity(page_t *pg, uint32_t cap) {
    STORE_RELAXED(pg->capacity, cap);
    STORE_RELAXED(pg->start_lim, block_start_limit(pg->block_size, (uint32_t)pg->recip, cap));
    STORE_RELAXED(pg->shared.start_lim, pg->start_lim);
}
/* Raise or drop reasons (PF_*) for frees of pg to take the slow path. */
void     page_slow_set(page_t *pg, uint8_t why);
void     page_slow_clear(page_t *pg, uint8_t why);
void     page_init(page_t *pg, heap_t *h, unsigned cls);
bool     page_extend(page_t *pg);
void     page_collect(page_t *pg);
void     page_settle(page_t *pg);
void    *small_refill(heap_t *h, unsigned cls);
/* malloc's pop of pg (h's page for cls) past the fast path's one test. */
void    *page_pop_slow(heap_t *h, page_t *pg, unsigned cls);
void    *page_pop_slow_direct(heap_t *h, page_t *pg, size_t i);   /* class of direct[i] */
void     small_free_slow(block_t *b);          /* the page is found from b */
uint64_t page_punch(page_t *pg);             /* holes.c: purge free OS pages */
void     page_fill_holes(page_t *pg);
bool     page_in_hole(const page_t *pg, uintptr_t a);
void     small_free_remote(void *p, size_t size);   /* another heap's block */
void     page_unfull(heap_t *h, page_t *pg);
uint32_t page_pending_local(const page_t *pg);
bool     page_to_full(heap_t *h, page_t *pg);
void     page_queue_remove(page_queue_t *q, page_t *pg);
void     page_queue_append(page_queue_t *q, page_t *pg);
void     page_unkeep(heap_t *h, page_t *pg);    /* page.c: no longer a kept empty page */
uint32_t page_kept_shared(void);                /* page.c: kept pages lent by the pool */
void     page_retire(heap_t *h, page_t *pg);    /* page.c: an empty page off its queue, back to its segment */
size_t   page_touched(const page_t *pg);        /* page.c: its carved OS pages less holes */
void     heap_set_cur(heap_t *h, unsigned cls);
void     heap_rescan_full(heap_t *h);

/* ---- segment.c: small segments and their free pages ---------------------- */
page_t *page_alloc(heap_t *h, unsigned cls);
void    page_release(heap_t *h, page_t *pg);
/* Purge up to `target` dirty bytes of h's free pages, oldest first, but no
 * page freed after `young`; with `wait` false, gives up at once if the
 * owner holds the heap's page lock. Returns the bytes purged. */
uint64_t segments_purge(heap_t *h, uint64_t target, uint64_t young, bool wait);
/* Give back h's small segments that hold no page in use (trim). */
void    segments_release_empty(heap_t *h);

/* ---- segcache.c: free 4 MiB segments kept for reuse ---------------------- */
void   *seg_cache_take(uint64_t *resident);   /* 4 MiB aligned, or NULL   */
void    seg_cache_put(void *seg, uint64_t resident);
void    seg_cache_purge(uint64_t now, bool force);
void    seg_cache_lock(void);
void    seg_cache_unlock(void);
void    seg_cache_reinit_child(void);
void    seg_cache_stats(uint64_t *count, uint64_t *dirty);

/* ---- large.c: TLSF arenas ------------------------------------------------ */
typedef struct arena_totals {
    uint64_t nalloc, nfree, live, segs, seg_bytes, dirty;
} arena_totals_t;
void   arenas_init(void);
arena_t *arena_for(heap_t *h);
/* *zero: what is known zero of the block (LB_ZERO: its payload past the
 * first LB_ZERO_FROM bytes; LB_ZPAGES: the OS pages wholly past them). */
void  *large_alloc(arena_t *a, size_t size, size_t align, size_t *zero);
void   large_free(void *p, large_seg_t *s);
size_t large_usable(const void *p, large_seg_t *s);
size_t large_usable_checked(const void *p, large_seg_t *s, const char *freed, const char *invalid);
size_t large_usable_own(const void *p, large_seg_t *s, const char *freed, const char *invalid);
bool   large_resize_inplace(void *p, large_seg_t *s, size_t size);
void   arenas_purge(uint64_t now, bool force);
void   arenas_lock_all(void);
void   arenas_unlock_all(void);
void   arenas_reinit_child(void);
void   arenas_stats(arena_totals_t *t);
uint64_t arenas_dirty_hint(void);
unsigned arenas_count(void);

/* ---- huge.c: direct mappings ---------------------------------------------- */
typedef struct huge_totals {
    uint64_t nalloc, nfree, live, count, mapped, cached, cached_bytes;
} huge_totals_t;
void  *huge_alloc(size_t size, size_t align, bool zero);
void   huge_cache_purge(uint64_t now, bool force);
void   huge_free(void *p, huge_hdr_t *h);
size_t huge_usable(const void *p, const huge_hdr_t *h);
size_t huge_usable_checked(const void *p, const huge_hdr_t *h, const char *what);
void  *huge_realloc(void *p, huge_hdr_t *h, size_t size);
bool   huge_recently_freed(const void *p);   /* a second free's message */
void   huge_lock(void);
void   huge_unlock(void);
void   huge_reinit_child(void);
void   huge_stats(huge_totals_t *t);
uint64_t huge_cache_dirty_hint(void);

/* ---- heap.c: thread heaps ----------------------------------------------- */
extern heap_t cairn_empty_heap, cairn_exited_heap;
extern page_t cairn_empty_page;
extern __thread heap_t *cairn_tl_heap;
heap_t *heap_for_thread(void);                /* acquires one if needed   */
void   *heap_exit_alloc(unsigned cls);        /* for threads past their exit hook */
void    heaps_exit_lock(void);
void    heaps_exit_unlock(void);
/* The caller's heap, or NULL while it has none (placeholders). */
static inline heap_t *my_heap(void) { heap_t *h = cairn_tl_heap; return h->placeholder ? NULL : h; }
void    heap_thread_exit(heap_t *h);
void    heap_collect_all(heap_t *h, bool release_empty);
void    heap_park(heap_t *h);
/* Owner (or heap lock): punch holes in pages idle since the last sweep. */
void    heap_sweep(heap_t *h);
/* Purge h's free pages as its decay says (all when forced); with `wait`
 * false, skips a heap whose page lock is busy. */
void    heap_purge(heap_t *h, uint64_t now, bool force, bool wait);
void    heaps_lock(void);
void    heaps_unlock(void);
void    heaps_after_fork_child(void);
heap_t *heaps_first(void);                    /* list is append-only      */
void    heaps_reclaim_pooled(bool force);

/* ---- purge.c: the policy for giving memory back ------------------------ */
/* A pool's dirty figure changes under the pool's lock; hints read it
 * without, so it is written with relaxed atomic stores. */
static inline void decay_add(decay_t *d, uint64_t n) { STORE_RELAXED(d->dirty, d->dirty + n); }
static inline void decay_sub(decay_t *d, uint64_t n) { STORE_RELAXED(d->dirty, d->dirty - n); }
/* A pool's dirty bytes fell because memory was reused: track the low. */
static inline void decay_observe(decay_t *d) {
    if (d->dirty < d->low[d->cur]) d->low[d->cur] = d->dirty;
}
/* Bytes of d to purge now (all when forced); advances the epochs. */
uint64_t decay_target(decay_t *d, uint64_t now, bool force);
/* n bytes of d were just taken out to be purged. */
void     decay_purged(decay_t *d, uint64_t n);
uint64_t purge_epoch_ms(void);
/* On slow paths, no allocator lock held; h is the caller's heap or NULL. */
void     purge_tick(heap_t *h, uint64_t now);
/* Purge every pool now (malloc_trim). */
void     purge_all(bool force);
bool     purge_thread_running(void);
void     purge_fork_prepare(void);
void     purge_fork_parent(void);
void     purge_fork_child(void);

/* ---- walk.c: one walk over everything cairn holds ------------------------ */
/* Items come in this order: each heap (W_HEAP), its small segments with
 * their pages in use and free pages (and, with WALK_BLOCKS, the live blocks
 * of pages the caller may read), then W_HEAP_END while the heap's page lock
 * is still held; each arena (W_ARENA), its segments and their blocks in
 * address order, W_ARENA_END; every huge mapping, W_HUGE_END; cached
 * segments. The callback runs with the lock of what it is shown held, so
 * it must not call the allocator. It returns a count (problems, for the
 * checker) that walk_all sums, or WALK_STOP to end the walk. */
enum walk_kind {
    W_HEAP, W_SMALL_SEG, W_PAGE, W_FREE_PAGE, W_BLOCK, W_HEAP_END,
    W_ARENA, W_LARGE_SEG, W_LARGE_BLOCK, W_LARGE_SEG_END, W_ARENA_END,
    W_HUGE, W_CACHED_HUGE, W_HUGE_END, W_CACHED_SEG,
};
#define WALK_STOP (-1)
#define WALK_BLOCKS 1u
/* What a W_LARGE_BLOCK / W_LARGE_SEG_END says about the tags (large.c
 * checks them as it walks, since a broken tag ends a segment's walk). */
enum { LW_FREE = 1, LW_BUSY = 2, LW_DIRTY = 4, LW_LIVE_BIT = 8, LW_BAD_TAG = 16,
       LW_TWO_FREE = 32, LW_BAD_DIRTY = 64, LW_BAD_END = 128, LW_BAD_BITS = 256, LW_BAD_HEADER = 512,
       LW_BAD_ZERO = 1024 };
typedef struct walk_item {
    enum walk_kind kind;
    bool owned;                  /* heap: its pages' lists may be read    */
    heap_t *heap;
    small_seg_t *sseg;
    page_t *page;
    arena_t *arena;
    large_seg_t *lseg;
    huge_hdr_t *huge;
    const void *addr;            /* block, large block, huge, cached seg  */
    size_t size;                 /* its size (usable for blocks)          */
    uint64_t resident;           /* free or cached: may be resident       */
    unsigned flags;              /* LW_* for large items                  */
} walk_item_t;
typedef int (*walk_fn)(const walk_item_t *it, void *arg);
int walk_all(walk_fn fn, void *arg, unsigned flags);
int heaps_walk(walk_fn fn, void *arg, unsigned flags);          /* heap.c     */
int segments_walk(heap_t *h, bool owned, walk_fn fn, void *arg, unsigned flags); /* segment.c */
int page_walk_blocks(page_t *pg, walk_fn fn, void *arg);        /* page.c     */
int arenas_walk(walk_fn fn, void *arg);                         /* large.c    */
int huge_walk(walk_fn fn, void *arg);                           /* huge.c     */
int seg_cache_walk(walk_fn fn, void *arg);                      /* segcache.c */
/* What a walk of an arena counted, for the checks of its lists (large.c). */
typedef struct large_tally {
    uint64_t free, dirty_blocks, dirty_bytes, live_bytes, segs, seg_bytes;
} large_tally_t;
int arena_check_lists(arena_t *a, const large_tally_t *t, FILE *report);

/* ---- ledger.c ------------------------------------------------------------ */
void ledger_sample_due(uint64_t now);   /* a timeline sample if one is due */
void ledger_json_object(FILE *f);

/* ---- alloc.c: entry points shared by the API layer ---------------------- */
void  *alloc_aligned(size_t size, size_t align);
void  *large_alloc_here(size_t size, size_t align);
size_t usable_size(const void *p);
void   free_aligned_sized_checked(void *p, size_t alignment, size_t size);

/* Largest alignment the large heap serves (alloc.c); above, a mapping. */
#define LARGE_ALIGN_MAX ((size_t)256 << 10)

/* ---- secure.c (secure build only) ------------------------------------------ */
void  *secure_aligned(size_t size, size_t align);
void  *secure_realloc(void *p, size_t size);
size_t secure_usable(const void *p);
void   secure_quarantine_flush(void);

/* ---- stats.c / check.c ---------------------------------------------------- */
void stats_refault(uint64_t bytes);     /* purged memory handed out again */
void stats_at_exit(FILE *f);

/* ---- fork.c ---------------------------------------------------------------- */
void fork_handlers_install(void);

#endif
