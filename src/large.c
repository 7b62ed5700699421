/* Large blocks (above SMALL_MAX up to LARGE_MAX): variable-size blocks
 * with boundary tags inside 4 MiB segments, indexed by TLSF (two-level
 * segregated fit): a first-level bitmap over powers of two and a
 * second-level bitmap of 16 subranges each, so finding a free block that
 * fits, splitting it and merging freed neighbours are all O(1).
 * Several arenas, each behind its own mutex; a thread uses the arena of
 * its heap, a free goes to the arena that owns the segment. */
#include "internal.h"
#include <errno.h>
#include <sched.h>
#include <string.h>

#define MAX_ARENAS 64
static arena_t arenas[MAX_ARENAS];
static unsigned n_arenas = 1;

/* ---- boundary tags ----------------------------------------------------------- */
static inline size_t lb_size(const lblock_t *b) { return b->size_flags & LB_SIZE_MASK; }
static inline bool lb_free(const lblock_t *b) { return b->size_flags & LB_FREE; }
static inline lblock_t *lb_next(lblock_t *b) { return (lblock_t *)((char *)b + lb_size(b)); }
static inline lblock_t *lb_prev(lblock_t *b) { return (lblock_t *)((char *)b - b->prev_size); }

static void lb_set(lblock_t *b, size_t size, size_t flags) {
    b->size_flags = LB_MAGIC | size | flags;
    if (size) lb_next(b)->prev_size = size;
}

/* ---- the live bitmap: the authority on what may be freed -------------------- */
static inline large_seg_t *lb_segment(const void *p) {
    return (large_seg_t *)((uintptr_t)p & ~(uintptr_t)SEG_MASK);
}

/* Mark or unmark b as live (arena lock held). */
static void live_mark(lblock_t *b, bool on) {
    large_seg_t *s = lb_segment(b);
    unsigned i = (unsigned)(((uintptr_t)b + LB_HDR - (uintptr_t)s) / LB_GRAIN);
    uint64_t w = LOAD_RELAXED(s->live[i / 64]), bit = (uint64_t)1 << (i % 64);
    STORE_RELAXED(s->live[i / 64], on ? w | bit : w & ~bit);
}

/* Is p the payload of a live block of s? Needs no lock: one relaxed load. */
static bool live_test(const large_seg_t *s, const void *p) {
    uintptr_t a = (uintptr_t)p;
    if (a & (LB_GRAIN - 1)) return false;
    unsigned i = (unsigned)((a - (uintptr_t)s) / LB_GRAIN);
    return LOAD_RELAXED(s->live[i / 64]) >> (i % 64) & 1;
}

static bool tag_ok(const lblock_t *b) {
    return (b->size_flags & ~(LB_SIZE_MASK | LB_FLAGS)) == LB_MAGIC;
}

/* Why p, which is not live, was passed in: a block freed before (its header,
 * or the stale header of a block merged into a neighbour, says free), or
 * something that was never a block. Reads only inside the segment. */
static const char *not_live_reason(const large_seg_t *s, const void *p, const char *dbl,
                                   const char *inv) {
    uintptr_t a = (uintptr_t)p;
    if ((a & 15) || a < (uintptr_t)s + LSEG_FIRST + LB_HDR) return inv;
    const lblock_t *h = (const lblock_t *)(a - LB_HDR);
    return tag_ok(h) && lb_free(h) ? dbl : inv;
}

/* The block of live payload p, with its tags checked; else fatal. The
 * arena lock (if held) is released first so an abort handler can allocate. */
static lblock_t *live_block(arena_t *a, const large_seg_t *s, void *p, const char *dbl,
                            const char *inv) {
    if (unlikely(!live_test(s, p))) {
        if (a) pthread_mutex_unlock(&a->lock);
        cairn_fatal(not_live_reason(s, p, dbl, inv), p);
    }
    lblock_t *b = (lblock_t *)((uintptr_t)p - LB_HDR);
    size_t size = lb_size(b);
    if (unlikely(!tag_ok(b) || lb_free(b) || size < LB_MIN ||
                 (uintptr_t)b + size > (uintptr_t)s + SEG_SIZE - LB_HDR ||
                 lb_next(b)->prev_size != size)) {
        if (a) pthread_mutex_unlock(&a->lock);
        cairn_fatal("heap corruption: overwritten header of large block", p);
    }
    return b;
}

/* ---- TLSF index ------------------------------------------------------------------ */
static void mapping(size_t size, unsigned *fl, unsigned *sl) {
    if (size < 256) { *fl = 0; *sl = (unsigned)(size >> 4); return; }
    unsigned b = 63u - (unsigned)__builtin_clzl(size);
    *fl = b - 7;
    *sl = (unsigned)(size >> (b - SL_LOG)) & (SL_COUNT - 1);
}

/* Index of the first list whose every block is >= size. */
static void mapping_search(size_t size, unsigned *fl, unsigned *sl) {
    if (size >= 256) size += ((size_t)1 << (63u - (unsigned)__builtin_clzl(size) - SL_LOG)) - 1;
    mapping(size, fl, sl);
}

static void dirty_remove(arena_t *a, lblock_t *b) {
    if (b->prev_dirty) b->prev_dirty->next_dirty = b->next_dirty;
    else a->dirty_head = b->next_dirty;
    if (b->next_dirty) b->next_dirty->prev_dirty = b->prev_dirty;
    else a->dirty_tail = b->prev_dirty;
}

static void free_remove(arena_t *a, lblock_t *b) {
    unsigned fl, sl;
    mapping(lb_size(b), &fl, &sl);
    if (b->prev_free) b->prev_free->next_free = b->next_free;
    else a->heads[fl][sl] = b->next_free;
    if (b->next_free) b->next_free->prev_free = b->prev_free;
    if (!a->heads[fl][sl]) {
        a->sl_bitmap[fl] &= ~(1u << sl);
        if (!a->sl_bitmap[fl]) a->fl_bitmap &= ~(1u << fl);
    }
    if (b->size_flags & LB_DIRTY) dirty_remove(a, b);
}

/* Make b a free block of `size` in the index; dirty blocks join the tail
 * of the purge queue with their free time. */
static void free_insert(arena_t *a, lblock_t *b, size_t size, bool dirty, uint64_t when) {
    unsigned fl, sl;
    lb_set(b, size, LB_FREE | (dirty ? LB_DIRTY : 0));
    mapping(size, &fl, &sl);
    b->prev_free = NULL;
    b->next_free = a->heads[fl][sl];
    if (b->next_free) b->next_free->prev_free = b;
    a->heads[fl][sl] = b;
    a->sl_bitmap[fl] |= 1u << sl;
    a->fl_bitmap |= 1u << fl;
    if (!dirty) return;
    b->freed_at = when;
    b->next_dirty = NULL;
    b->prev_dirty = a->dirty_tail;
    if (a->dirty_tail) a->dirty_tail->next_dirty = b;
    else a->dirty_head = b;
    a->dirty_tail = b;
}

static lblock_t *find_fit(arena_t *a, size_t size) {
    unsigned fl, sl;
    mapping_search(size, &fl, &sl);
    if (fl >= FL_COUNT) return NULL;
    uint32_t slm = a->sl_bitmap[fl] & (~0u << sl);
    if (!slm) {
        uint32_t flm = fl + 1 < 32 ? a->fl_bitmap & (~0u << (fl + 1)) : 0;
        if (!flm) return NULL;
        fl = (unsigned)__builtin_ctz(flm);
        slm = a->sl_bitmap[fl];
    }
    return a->heads[fl][__builtin_ctz(slm)];
}

/* ---- segments ----------------------------------------------------------------------- */
static bool arena_grow(arena_t *a) {
    bool recycled = true;
    large_seg_t *s = seg_cache_take();
    if (!s) {
        recycled = false;
        if (!(s = os_map_aligned(SEG_SIZE, SEG_SIZE, 0))) return false;
    }
    memset(s, 0, sizeof *s);
    s->kind = SEG_LARGE;
    s->arena = a;
    s->next = a->segs;
    if (a->segs) a->segs->prev = s;
    a->segs = s;
    a->nsegs++;
    lblock_t *b = (lblock_t *)((char *)s + LSEG_FIRST);
    size_t size = SEG_SIZE - LSEG_FIRST - LB_HDR;
    b->prev_size = 0;
    lblock_t *sentinel = (lblock_t *)((char *)b + size);
    sentinel->size_flags = LB_MAGIC;               /* size 0, in use */
    free_insert(a, b, size, recycled, clock_ms());
    segmap_set((uintptr_t)s, MAP_LARGE);
    return true;
}

static bool whole_segment(lblock_t *b) {
    return b->prev_size == 0 && lb_size(lb_next(b)) == 0;
}

static void arena_release_segment(arena_t *a, lblock_t *b) {
    large_seg_t *s = (large_seg_t *)((uintptr_t)b & ~(uintptr_t)SEG_MASK);
    uint64_t freed_at = b->freed_at;
    free_remove(a, b);
    if (s->prev) s->prev->next = s->next;
    else a->segs = s->next;
    if (s->next) s->next->prev = s->prev;
    a->nsegs--;
    segmap_set((uintptr_t)s, MAP_NONE);
    seg_cache_put(s, freed_at);
}

/* Purge dirty free blocks older than the delay (all when forced): their
 * whole pages go back to the kernel; an entirely free segment goes back to
 * the segment cache, except the arena's last one. */
static void arena_purge(arena_t *a, uint64_t now, bool force) {
    a->last_purge = now;
    while (a->dirty_head &&
           (force || now - a->dirty_head->freed_at >= (uint64_t)cairn_opt.purge_delay_ms)) {
        lblock_t *b = a->dirty_head;
        if (whole_segment(b) && a->nsegs > 1) { arena_release_segment(a, b); continue; }
        dirty_remove(a, b);
        b->size_flags &= ~LB_DIRTY;
        uintptr_t lo = align_up((uintptr_t)b + sizeof(lblock_t), OS_PAGE);
        uintptr_t hi = ((uintptr_t)b + lb_size(b)) & ~(uintptr_t)(OS_PAGE - 1);
        if (hi > lo) os_purge((void *)lo, hi - lo);
    }
}

/* ---- allocation -------------------------------------------------------------------- */
static size_t block_need(size_t size) {
    size_t need = align_up(size + LB_HDR, LB_GRAIN);
    return need < LB_MIN ? LB_MIN : need;
}

/* Cut the tail beyond `need` off b (in use) as a free block, if worth it. */
static void split_tail(arena_t *a, lblock_t *b, size_t need, bool dirty, uint64_t when) {
    size_t size = lb_size(b);
    if (size - need < LB_MIN) return;
    lb_set(b, need, 0);
    free_insert(a, lb_next(b), size - need, dirty, when);
}

/* Move b forward so its payload is aligned; the gap stays free. */
static lblock_t *align_block(arena_t *a, lblock_t *b, size_t align, bool dirty, uint64_t when) {
    uintptr_t p = (uintptr_t)b + LB_HDR, ap = align_up(p, align);
    while (ap != p && ap - p < LB_MIN) ap += align;
    if (ap == p) return b;
    size_t gap = ap - p, size = lb_size(b);
    lblock_t *nb = (lblock_t *)(ap - LB_HDR);
    free_insert(a, b, gap, dirty, when);
    nb->prev_size = gap;
    lb_set(nb, size - gap, 0);
    return nb;
}

void *large_alloc(arena_t *a, size_t size, size_t align) {
    size_t need = block_need(size);
    size_t want = align > MIN_ALIGN ? need + align + LB_MIN : need;
    pthread_mutex_lock(&a->lock);
    lblock_t *b = find_fit(a, want);
    if (!b && arena_grow(a)) b = find_fit(a, want);
    if (!b) { pthread_mutex_unlock(&a->lock); errno = ENOMEM; return NULL; }
    bool dirty = b->size_flags & LB_DIRTY;
    uint64_t when = dirty ? b->freed_at : 0;
    free_remove(a, b);
    lb_set(b, lb_size(b), 0);
    if (align > MIN_ALIGN) b = align_block(a, b, align, dirty, when);
    split_tail(a, b, need, dirty, when);
    live_mark(b, true);
    a->nalloc++;
    a->live_bytes += lb_size(b) - LB_HDR;
    pthread_mutex_unlock(&a->lock);
    return (char *)b + LB_HDR;
}

/* ---- free ------------------------------------------------------------------------------- */
/* Merge free b with free neighbours and index the result. */
static lblock_t *coalesce_insert(arena_t *a, lblock_t *b, uint64_t now) {
    size_t size = lb_size(b);
    if (b->prev_size && lb_free(lb_prev(b))) {
        lblock_t *p = lb_prev(b);
        free_remove(a, p);
        size += lb_size(p);
        b->size_flags |= LB_FREE;      /* its stale header now reads as freed */
        b = p;
    }
    lblock_t *n = (lblock_t *)((char *)b + size);
    if (lb_free(n)) {
        free_remove(a, n);
        size += lb_size(n);
    }
    free_insert(a, b, size, true, now);
    return b;
}

void large_free(void *p, large_seg_t *s) {
    arena_t *a = s->arena;
    pthread_mutex_lock(&a->lock);
    lblock_t *b = live_block(a, s, p, "double free of", "invalid free of");
    live_mark(b, false);
    a->nfree++;
    a->live_bytes -= lb_size(b) - LB_HDR;
    uint64_t now = clock_ms();
    coalesce_insert(a, b, now);
    if (now - a->last_purge >= (uint64_t)cairn_opt.purge_delay_ms) arena_purge(a, now, false);
    pthread_mutex_unlock(&a->lock);
    heap_t *h = cairn_tl_heap;
    purge_tick(h == &cairn_empty_heap ? NULL : h, now);
}

size_t large_usable(const void *p, large_seg_t *s) {
    const lblock_t *b = live_block(NULL, s, (void *)p, "malloc_usable_size of freed pointer",
                                   "malloc_usable_size of invalid pointer");
    return lb_size(b) - LB_HDR;
}

/* Grow into a free successor or shrink by splitting, without moving. */
bool large_resize_inplace(void *p, large_seg_t *s, size_t size) {
    arena_t *a = s->arena;
    size_t need = block_need(size);
    pthread_mutex_lock(&a->lock);
    lblock_t *b = live_block(a, s, p, "realloc of freed pointer", "realloc of invalid pointer");
    size_t old = lb_size(b);
    if (need > old) {
        lblock_t *n = lb_next(b);
        if (!lb_free(n) || old + lb_size(n) < need) {
            pthread_mutex_unlock(&a->lock);
            return false;
        }
        bool dirty = n->size_flags & LB_DIRTY;
        uint64_t when = dirty ? n->freed_at : 0;
        free_remove(a, n);
        lb_set(b, old + lb_size(n), 0);
        split_tail(a, b, need, dirty, when);
    } else if (old - need >= LB_MIN) {
        lb_set(b, need, 0);
        lblock_t *rest = lb_next(b);
        lb_set(rest, old - need, 0);
        coalesce_insert(a, rest, clock_ms());
    }
    a->live_bytes = a->live_bytes + lb_size(b) - old;
    pthread_mutex_unlock(&a->lock);
    return true;
}

/* ---- arenas ------------------------------------------------------------------------------- */
void arenas_init(void) {
    cpu_set_t set;
    unsigned ncpu = 1;
    if (sched_getaffinity(0, sizeof set, &set) == 0) ncpu = (unsigned)CPU_COUNT(&set);
    unsigned n = cairn_opt.arenas ? cairn_opt.arenas : 2 * ncpu;
    n_arenas = n < 1 ? 1 : n > MAX_ARENAS ? MAX_ARENAS : n;
    for (unsigned i = 0; i < MAX_ARENAS; i++) {
        pthread_mutex_init(&arenas[i].lock, NULL);
        arenas[i].index = i;
    }
}

unsigned arenas_count(void) { return n_arenas; }
arena_t *arena_for(heap_t *h) { return &arenas[h->index % n_arenas]; }

void arenas_purge(bool force) {
    uint64_t now = clock_ms();
    for (unsigned i = 0; i < n_arenas; i++) {
        pthread_mutex_lock(&arenas[i].lock);
        arena_purge(&arenas[i], now, force);
        pthread_mutex_unlock(&arenas[i].lock);
    }
}

void arenas_lock_all(void) {
    for (unsigned i = 0; i < n_arenas; i++) pthread_mutex_lock(&arenas[i].lock);
}
void arenas_unlock_all(void) {
    for (unsigned i = n_arenas; i-- > 0;) pthread_mutex_unlock(&arenas[i].lock);
}
void arenas_reinit_child(void) {
    for (unsigned i = 0; i < n_arenas; i++) pthread_mutex_init(&arenas[i].lock, NULL);
}

void arenas_stats(uint64_t *nalloc, uint64_t *nfree, uint64_t *live, uint64_t *segs) {
    *nalloc = *nfree = *live = *segs = 0;
    for (unsigned i = 0; i < n_arenas; i++) {
        pthread_mutex_lock(&arenas[i].lock);
        *nalloc += arenas[i].nalloc;
        *nfree += arenas[i].nfree;
        *live += arenas[i].live_bytes;
        *segs += arenas[i].nsegs;
        pthread_mutex_unlock(&arenas[i].lock);
    }
}

/* ---- invariant checker ------------------------------------------------------------------- */
#define PROBLEM(...) do { bad++; if (report) fprintf(report, __VA_ARGS__); } while (0)

/* Walk one segment by boundary tags; counts its free, dirty and used bytes. */
static int check_lseg(arena_t *a, large_seg_t *s, uint64_t cnt[3], FILE *report) {
    int bad = 0;
    if (s->kind != SEG_LARGE || s->arena != a || segmap_header(s) != s)
        PROBLEM("large segment %p: header inconsistent\n", (void *)s);
    lblock_t *b = (lblock_t *)((char *)s + LSEG_FIRST), *end = (lblock_t *)((char *)s + SEG_SIZE - LB_HDR);
    size_t prev = 0;
    uint64_t live = 0, bits = 0;
    bool prev_free = false;
    for (unsigned w = 0; w < LSEG_SLOTS / 64; w++) bits += (uint64_t)__builtin_popcountll(s->live[w]);
    while (b < end) {
        size_t sz = lb_size(b);
        if ((b->size_flags & ~(LB_SIZE_MASK | LB_FLAGS)) != LB_MAGIC || sz < LB_MIN ||
            (char *)b + sz > (char *)end || b->prev_size != prev) {
            PROBLEM("large block %p: bad boundary tag\n", (void *)b);
            return bad;
        }
        if (lb_free(b) && prev_free) PROBLEM("large block %p: two free neighbours\n", (void *)b);
        if (live_test(s, (char *)b + LB_HDR) == lb_free(b))
            PROBLEM("large block %p: live bit disagrees with its tag\n", (void *)b);
        if (lb_free(b)) { cnt[0]++; if (b->size_flags & LB_DIRTY) cnt[1]++; }
        else { cnt[2] += sz - LB_HDR; live++; }
        prev_free = lb_free(b);
        prev = sz;
        b = lb_next(b);
    }
    if (b != end || lb_size(b) != 0 || b->prev_size != prev)
        PROBLEM("large segment %p: sentinel broken\n", (void *)s);
    if (bits != live) PROBLEM("large segment %p: %llu live bits, %llu live blocks\n", (void *)s,
                              (unsigned long long)bits, (unsigned long long)live);
    return bad;
}

static int check_index(arena_t *a, uint64_t *listed, FILE *report) {
    int bad = 0;
    for (unsigned fl = 0; fl < FL_COUNT; fl++) {
        if (!!(a->fl_bitmap >> fl & 1) != !!a->sl_bitmap[fl]) PROBLEM("arena %u: fl bitmap\n", a->index);
        for (unsigned sl = 0; sl < SL_COUNT; sl++) {
            if (!!(a->sl_bitmap[fl] >> sl & 1) != !!a->heads[fl][sl]) PROBLEM("arena %u: sl bitmap\n", a->index);
            for (lblock_t *b = a->heads[fl][sl]; b; b = b->next_free, (*listed)++) {
                unsigned f, l;
                mapping(lb_size(b), &f, &l);
                if (!lb_free(b) || f != fl || l != sl || (b->next_free && b->next_free->prev_free != b)) {
                    PROBLEM("arena %u: free list %u/%u broken at %p\n", a->index, fl, sl, (void *)b);
                    break;
                }
            }
        }
    }
    return bad;
}

int arenas_check(FILE *report) {
    int bad = 0;
    for (unsigned i = 0; i < n_arenas; i++) {
        arena_t *a = &arenas[i];
        pthread_mutex_lock(&a->lock);
        uint64_t cnt[3] = { 0, 0, 0 }, listed = 0, dirty = 0, nsegs = 0;
        for (large_seg_t *s = a->segs; s; s = s->next, nsegs++) bad += check_lseg(a, s, cnt, report);
        bad += check_index(a, &listed, report);
        for (lblock_t *b = a->dirty_head; b; b = b->next_dirty, dirty++)
            if (!lb_free(b) || !(b->size_flags & LB_DIRTY)) { PROBLEM("arena %u: dirty list\n", i); break; }
        if (listed != cnt[0] || dirty != cnt[1] || nsegs != a->nsegs || cnt[2] != a->live_bytes)
            PROBLEM("arena %u: counts disagree (free %llu/%llu dirty %llu/%llu live %llu/%llu)\n", i,
                    (unsigned long long)listed, (unsigned long long)cnt[0], (unsigned long long)dirty,
                    (unsigned long long)cnt[1], (unsigned long long)cnt[2], (unsigned long long)a->live_bytes);
        pthread_mutex_unlock(&a->lock);
    }
    return bad;
}
