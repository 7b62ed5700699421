/* Small segments: 4 MiB, aligned to 4 MiB, owned by one heap; page 0 holds
 * the header, pages 1..63 hold blocks. This file hands out free pages and
 * takes them back, under the heap's page lock (seg_lock), which the owner
 * takes here and the purger takes (without waiting) to return free pages
 * to the kernel. Free pages that may be resident sit on the heap's dirty
 * queue, oldest first; reuse takes the newest (warmest) one. */
#include "internal.h"
#include <string.h>

#define ALL_PAGES (~(uint64_t)1)          /* bits 1..63: page 0 is the header */
#define PURGE_RUNS 16                     /* runs of pages taken per lock hold */

static inline unsigned page_index(const small_seg_t *s, const page_t *pg) {
    return (unsigned)(pg - s->pages);
}

/* ---- the dirty queue (seg_lock held) ---------------------------------------- */
static void dirty_put(heap_t *h, small_seg_t *s, page_t *pg, uint32_t resident, uint64_t now) {
    pg->resident = resident;
    pg->freed_at = now;
    s->dirty_mask |= (uint64_t)1 << page_index(s, pg);
    page_queue_append(&h->dirty, pg);
    decay_add(&h->decay, resident);
}

static uint32_t dirty_take(heap_t *h, small_seg_t *s, page_t *pg) {
    s->dirty_mask &= ~((uint64_t)1 << page_index(s, pg));
    page_queue_remove(&h->dirty, pg);
    decay_sub(&h->decay, pg->resident);
    return pg->resident;
}

/* ---- segments (seg_lock held) --------------------------------------------------- */
/* Secure build: the pages of GUARD_MASK made inaccessible (on) or usable
 * again (off, before the segment is cached for any use). */
static bool guard_pages(small_seg_t *s, bool on) {
    for (uint64_t m = GUARD_MASK; m; m &= m - 1)
        if (!os_protect((char *)s + ((size_t)__builtin_ctzll(m) << PAGE_SHIFT), PAGE_SIZE_, on)) return false;
    return true;
}

/* A segment that could not be set up goes back where it came from. */
static void seg_unmap_or_cache(small_seg_t *s, uint64_t resident) {
    guard_pages(s, false);
    seg_cache_put(s, resident + align_up(sizeof *s, os_page_size()));
}

static small_seg_t *small_seg_new(heap_t *h, uint64_t now) {
    uint64_t resident = 0;
    small_seg_t *s = seg_cache_take(&resident);
    if (s) memset(s, 0, sizeof *s);       /* recycled: header must be clean */
    else if ((s = os_map_aligned(SEG_SIZE, SEG_SIZE, 0)) != NULL)
        for (unsigned i = 1; i < PAGES_PER_SEG; i++) s->pages[i].mem = PM_ZERO_TAIL;   /* fresh */
    else return NULL;
    if (!segmap_prepare((uintptr_t)s, SEG_SIZE) || (SECURE && !guard_pages(s, true))) {
        seg_unmap_or_cache(s, resident);
        return NULL;
    }
    s->kind = SEG_SMALL;
    s->heap = h;
    s->free_mask = ALL_PAGES & ~GUARD_MASK;
    s->prev = NULL;
    s->next = h->segs;
    if (h->segs) h->segs->prev = s;
    h->segs = s;
    /* A recycled segment's pages may be resident: they are dirty here, so
     * the purge policy sees them. */
    for (unsigned i = 1; resident && i < PAGES_PER_SEG; i++)
        if (!(GUARD_MASK >> i & 1)) dirty_put(h, s, &s->pages[i], (uint32_t)PAGE_SIZE_, now);
    segmap_set((uintptr_t)s, MAP_SMALL);
    return s;
}

/* Hand a segment with no page in use to the segment cache. Its dirty pages
 * leave the heap's pool for the cache's. */
static void small_seg_release(heap_t *h, small_seg_t *s) {
    uint64_t moved = 0;
    for (uint64_t m = s->dirty_mask; m; m &= m - 1)
        moved += dirty_take(h, s, &s->pages[__builtin_ctzll(m)]);
    decay_purged(&h->decay, moved);
    if (s->prev) s->prev->next = s->next;
    else h->segs = s->next;
    if (s->next) s->next->prev = s->prev;
    segmap_set((uintptr_t)s, MAP_NONE);
    if (SECURE) guard_pages(s, false);
    seg_cache_put(s, moved + align_up(sizeof *s, os_page_size()));
}

/* An empty segment goes, unless it is the heap's last (kept warm). */
static void maybe_release(heap_t *h, small_seg_t *s) {
    if (s->used_pages == 0 && !s->busy_mask && (s != h->segs || s->next)) small_seg_release(h, s);
}

/* ---- pages -------------------------------------------------------------------- */
static page_t *take_page(small_seg_t *s, unsigned i) {
    uint64_t bit = (uint64_t)1 << i;
    s->free_mask &= ~bit;
    s->used_pages++;
    return &s->pages[i];
}

/* A clean free page, mapping a new segment if none has one (a recycled
 * segment comes back all dirty, so it may give none). seg_lock held. */
static page_t *clean_page(heap_t *h) {
    small_seg_t *s = h->segs;
    while (s && !(s->free_mask & ~s->dirty_mask)) s = s->next;
    if (!s && !(s = small_seg_new(h, os_clock_ms()))) return NULL;
    uint64_t clean = s->free_mask & ~s->dirty_mask;
    return clean ? take_page(s, (unsigned)__builtin_ctzll(clean)) : NULL;
}

/* The most recently freed dirty page: its memory is resident and warm. */
static page_t *reuse_dirty(heap_t *h) {
    page_t *pg = h->dirty.last;
    small_seg_t *s = page_segment(pg);
    dirty_take(h, s, pg);
    decay_observe(&h->decay);
    return take_page(s, page_index(s, pg));
}

/* A free page for class cls: a dirty one first, else a clean one. */
page_t *page_alloc(heap_t *h, unsigned cls) {
    page_t *pg = NULL;
    lock_acquire(&h->seg_lock);
    if (!h->dirty.last) pg = clean_page(h);
    if (!pg && h->dirty.last) pg = reuse_dirty(h);
    lock_release(&h->seg_lock);
    if (pg) page_init(pg, h, cls);
    return pg;
}

/* Give an empty page back to its segment; a segment left empty goes to the
 * cache, unless it is the heap's only one. */
void page_release(heap_t *h, page_t *pg) {
    small_seg_t *s = page_segment(pg);
    cairn_assert(page_used(pg) == 0 && pg->cur_bias == 0 && pg->in_use);
    page_unkeep(h, pg);
    uint32_t resident = (uint32_t)page_touched(pg), pending = page_pending_local(pg);
    OWNER_ADD(h->local_frees, pending);           /* statistics: its last frees */
    STORE_RELAXED(pg->in_use, 0);
    STORE_RELAXED(pg->block_size, 0);
    STORE_RELAXED(pg->shared.block_size, 0);
    pg->recip = pg->shared.recip = 0;
    page_set_capacity(pg, 0);
    pg->free = pg->local_free = page_end_mark(pg);
    pg->local_counted = 0;
    pg->local_exact = NULL;
    pg->mem = pg->holes ? PM_REFAULT : 0;     /* its carved bytes were written */
    pg->holes = pg->hole_blocks = 0;
    page_slow_clear(pg, PF_FULL | PF_HOLES);
    uint64_t now = os_clock_ms();
    lock_acquire(&h->seg_lock);
    s->free_mask |= (uint64_t)1 << page_index(s, pg);
    if (resident) dirty_put(h, s, pg, resident, now);
    else pg->resident = 0;
    s->used_pages--;
    /* After this the segment (and pg) may be in the cache: touch neither. */
    maybe_release(h, s);
    lock_release(&h->seg_lock);
    purge_tick(h, now);
}

/* ---- purging ------------------------------------------------------------------ */
typedef struct run { small_seg_t *s; unsigned lo, n; bool zeroed; } run_t;

static uint64_t run_mask(unsigned lo, unsigned n) {
    return (n == 64 ? ~(uint64_t)0 : (((uint64_t)1 << n) - 1)) << lo;
}

static bool purgeable(const small_seg_t *s, unsigned i, uint64_t young) {
    return (s->dirty_mask >> i & 1) && s->pages[i].freed_at <= young;
}

/* The run of old-enough dirty pages around the oldest one, taken out of
 * the free and dirty masks into busy_mask (seg_lock held). */
static run_t claim_run(heap_t *h, page_t *oldest, uint64_t young, uint64_t *got) {
    small_seg_t *s = page_segment(oldest);
    unsigned i = page_index(s, oldest), lo = i, hi = i + 1;
    while (lo > 1 && purgeable(s, lo - 1, young)) lo--;
    while (hi < PAGES_PER_SEG && purgeable(s, hi, young)) hi++;
    for (unsigned j = lo; j < hi; j++) *got += dirty_take(h, s, &s->pages[j]);
    uint64_t m = run_mask(lo, hi - lo);
    s->free_mask &= ~m;
    s->busy_mask |= m;
    return (run_t){ s, lo, hi - lo, false };
}

/* Purged runs are free and clean again (seg_lock held). A run the kernel
 * refused to purge (locked memory) keeps its bytes and its state, so it is
 * not marked zero; it leaves the dirty queue all the same, as retrying
 * would only be refused again. */
static void restore_runs(heap_t *h, const run_t *r, unsigned n) {
    for (unsigned k = 0; k < n; k++) {
        uint64_t m = run_mask(r[k].lo, r[k].n);
        for (unsigned j = r[k].lo; r[k].zeroed && j < r[k].lo + r[k].n; j++) {
            r[k].s->pages[j].mem = PM_REFAULT | PM_ZERO_TAIL;
            r[k].s->pages[j].resident = 0;
        }
        r[k].s->busy_mask &= ~m;
        r[k].s->free_mask |= m;
        maybe_release(h, r[k].s);
    }
}

uint64_t segments_purge(heap_t *h, uint64_t target, uint64_t young, bool wait) {
    if (wait) lock_acquire(&h->seg_lock);
    else if (!lock_try(&h->seg_lock)) return 0;
    run_t runs[PURGE_RUNS];
    unsigned n = 0;
    uint64_t got = 0;
    page_t *pg;
    while (got < target && n < PURGE_RUNS && (pg = h->dirty.first) != NULL && pg->freed_at <= young)
        runs[n++] = claim_run(h, pg, young, &got);
    decay_purged(&h->decay, got);
    lock_release(&h->seg_lock);
    if (!n) return 0;
    for (unsigned k = 0; k < n; k++)
        runs[k].zeroed = os_purge((char *)runs[k].s + ((size_t)runs[k].lo << PAGE_SHIFT),
                                  (size_t)runs[k].n << PAGE_SHIFT);
    lock_acquire(&h->seg_lock);
    restore_runs(h, runs, n);
    lock_release(&h->seg_lock);
    return got;
}

void segments_release_empty(heap_t *h) {
    lock_acquire(&h->seg_lock);
    for (small_seg_t *s = h->segs, *next; s; s = next) {
        next = s->next;
        if (s->used_pages == 0 && !s->busy_mask) small_seg_release(h, s);
    }
    lock_release(&h->seg_lock);
}

/* ---- the walk ------------------------------------------------------------- */
static int walk_segment(heap_t *h, small_seg_t *s, bool owned, walk_fn fn, void *arg, unsigned flags) {
    walk_item_t it = { .kind = W_SMALL_SEG, .heap = h, .owned = owned, .sseg = s,
                       .addr = s, .size = SEG_SIZE };
    int total = 0, r = fn(&it, arg);
    if (r == WALK_STOP) return r;
    total += r;
    for (unsigned i = 1; i < PAGES_PER_SEG; i++) {
        page_t *pg = &s->pages[i];
        bool live = LOAD_RELAXED(pg->in_use);     /* an owner may be running */
        it.kind = live ? W_PAGE : W_FREE_PAGE;
        it.page = pg;
        it.addr = (char *)s + ((size_t)i << PAGE_SHIFT);
        it.size = PAGE_SIZE_;
        it.resident = live ? 0 : (s->dirty_mask >> i & 1) ? pg->resident : 0;
        if ((r = fn(&it, arg)) == WALK_STOP) return r;
        total += r;
        if (live && owned && (flags & WALK_BLOCKS)) {
            if ((r = page_walk_blocks(pg, fn, arg)) == WALK_STOP) return r;
            total += r;
        }
    }
    return total;
}

/* A heap's segments and pages, under its page lock; W_HEAP_END before the
 * lock is dropped, so a check of the heap's dirty queue sees what the walk
 * saw. */
int segments_walk(heap_t *h, bool owned, walk_fn fn, void *arg, unsigned flags) {
    int total = 0, r = 0;
    lock_acquire(&h->seg_lock);
    for (small_seg_t *s = h->segs; s && r != WALK_STOP; s = s->next) {
        if ((r = walk_segment(h, s, owned, fn, arg, flags)) != WALK_STOP) total += r;
    }
    if (r != WALK_STOP) {
        walk_item_t it = { .kind = W_HEAP_END, .heap = h, .owned = owned };
        if ((r = fn(&it, arg)) != WALK_STOP) total += r;
    }
    lock_release(&h->seg_lock);
    return r == WALK_STOP ? WALK_STOP : total;
}

