/* The whole-heap invariant checker (expensive; for tests and debugging),
 * built on the walker (walk.c): each item is checked as the walk shows it,
 * with the lock that guards it held. Small heaps are checked when the
 * caller may read them safely: its own heap and heaps no thread owns
 * (pooled, orphaned). Arenas are checked under their locks, huge blocks
 * under theirs. */
#include "internal.h"
#include "cairn.h"

#define PROBLEM(...) do { bad++; if (report) fprintf(report, __VA_ARGS__); } while (0)

/* Length of a free list (ended by the page's end mark) whose blocks must
 * all lie in pg, at block starts, and carry the free cookie; -1 when it
 * does not (or loops). */
static long list_len(const page_t *pg, const block_t *b) {
    uintptr_t start = page_start(pg);
    long n = 0;
    for (; b != page_end_mark(pg); b = link_get(pg, b)) {
        uintptr_t a = (uintptr_t)b;
        if (a < start || a >= start + PAGE_SIZE_ || (a - start) % pg->block_size ||
            (a - start) / pg->block_size >= pg->capacity ||
            b->cookie != pg->mark || page_in_hole(pg, a) || ++n > (long)pg->capacity)
            return -1;
    }
    return n;
}

/* Line 2's copies, which other threads' frees read, say what line 1 says. */
static bool shared_copies_match(const page_t *pg) {
    return pg->shared.key == pg->key && pg->shared.mark == pg->mark && pg->shared.recip == pg->recip &&
           pg->shared.start_lim == pg->start_lim && pg->shared.block_size == pg->block_size;
}

/* Page 0 of a segment holds the header in its page_t slot; what free and
 * realloc read from a page there must say "no blocks" (types.h). */
static bool page0_blank(const small_seg_t *s) {
    const page_t *p0 = &s->pages[0];
    return !p0->recip && !p0->start_lim && !p0->shared.recip && !p0->shared.start_lim &&
           !p0->in_use && !p0->holes;
}

static int check_page(const heap_t *h, const page_t *pg, FILE *report) {
    int bad = 0;
    if (!pg->in_use || pg->heap != h || pg->block_size != cairn_class_size_tab[pg->cls] ||
        pg->reserved != PAGE_SIZE_ / pg->block_size || pg->capacity > pg->reserved ||
        !shared_copies_match(pg)) {
        PROBLEM("page %p: header inconsistent\n", (const void *)pg);
        return bad;
    }
    long nf = list_len(pg, pg->free), nl = list_len(pg, pg->local_free);
    uintptr_t tfw = atomic_load(&pg->thread_free);
    long nt = tf_head(tfw) ? list_len(pg, tf_head(tfw)) : 0;
    if (nf < 0 || nl < 0 || nt < 0) PROBLEM("page %p: corrupt free list\n", (const void *)pg);
    else if (nt != (long)tf_count(tfw))
        PROBLEM("page %p: thread_free holds %ld blocks, its word says %u\n", (const void *)pg, nt,
                tf_count(tfw));
    else if ((uint64_t)nf + (uint64_t)nl + pg->hole_blocks + page_used(pg) != pg->capacity ||
             (uint64_t)nt > page_used(pg) || pg->cur_bias != (h->cur[pg->cls] == pg))
        PROBLEM("page %p: counts free %ld + local %ld + holes %u + used %u != capacity %u\n",
                (const void *)pg, nf, nl, pg->hole_blocks, page_used(pg), pg->capacity);
    if (nl >= 0 && (pg->local_counted > nl || (pg->local_free == pg->local_exact && pg->local_counted != nl)))
        PROBLEM("page %p: %u local frees counted, local list holds %ld\n", (const void *)pg,
                pg->local_counted, nl);
    if (!!pg->holes != !!(pg->free_slow & PF_HOLES) || (!pg->holes && pg->hole_blocks))
        PROBLEM("page %p: holes %#x with %u blocks, flag %u\n", (const void *)pg, pg->holes,
                pg->hole_blocks, pg->free_slow);
    if (!!(tfw & TF_FULL) != !!(pg->free_slow & PF_FULL)) PROBLEM("page %p: full flag mismatch\n", (const void *)pg);
    if ((pg->used & USED_SLOW) != (pg->free_slow ? USED_SLOW : 0))
        PROBLEM("page %p: used %#x disagrees with slow-free reasons %u\n", (const void *)pg, pg->used,
                pg->free_slow);
    return bad;
}

/* What the walk has seen of the current heap, arena and the huge list. */
typedef struct check_ctx {
    FILE *report;
    unsigned in_use, dirty;          /* pages of the current heap          */
    large_tally_t t;                 /* the current arena                  */
    uint64_t huge_n, huge_bytes;
    bool all_owned;                  /* every heap's lists could be read   */
    uint32_t kept_lent;              /* their kept pages on a loan         */
    uint32_t kept_pool;              /* the pool's count, read under the heap lock */
} check_ctx_t;

static int check_segment(const heap_t *h, const small_seg_t *s, check_ctx_t *c) {
    int bad = 0;
    FILE *report = c->report;
    if (s->kind != SEG_SMALL || s->heap != h || segmap_header(s) != s || !page0_blank(s))
        PROBLEM("segment %p: header inconsistent\n", (const void *)s);
    if ((s->dirty_mask & ~s->free_mask) || ((s->free_mask | s->busy_mask) & 1) || (s->free_mask & s->busy_mask) ||
        ((s->free_mask | s->busy_mask) & GUARD_MASK))
        PROBLEM("segment %p: masks inconsistent\n", (const void *)s);
    unsigned used = 0;
    for (unsigned i = 1; i < PAGES_PER_SEG; i++) {
        bool free_bit = (s->free_mask | s->busy_mask | GUARD_MASK) >> i & 1;
        bool live = LOAD_RELAXED(s->pages[i].in_use);
        if (free_bit == live) PROBLEM("segment %p: page %u mask\n", (const void *)s, i);
        used += live;
    }
    c->dirty += (unsigned)__builtin_popcountll(s->dirty_mask);
    if (used != s->used_pages) PROBLEM("segment %p: used_pages %u != %u\n", (const void *)s, s->used_pages, used);
    c->in_use += used;
    return bad;
}

/* The dirty queue holds exactly the dirty pages, and their bytes add up
 * to the heap's decay figure (page lock held). */
static int check_dirty(heap_t *h, unsigned dirty, FILE *report) {
    int bad = 0;
    unsigned n = 0;
    uint64_t bytes = 0;
    for (const page_t *pg = h->dirty.first; pg; pg = pg->next) {
        const small_seg_t *s = page_segment(pg);
        if (pg->in_use || !(s->dirty_mask >> (pg - s->pages) & 1) || s->heap != h ||
            (pg->next ? pg->next->prev != pg : h->dirty.last != pg) || ++n > dirty) {
            PROBLEM("heap %p: dirty queue broken at page %p\n", (void *)h, (const void *)pg);
            return bad;
        }
        bytes += pg->resident;
    }
    if (n != dirty || bytes != h->decay.dirty)
        PROBLEM("heap %p: %u dirty pages (%llu bytes) queued, %u marked (%llu bytes counted)\n",
                (void *)h, n, (unsigned long long)bytes, dirty, (unsigned long long)h->decay.dirty);
    return bad;
}

/* h's kept order links kept pages of h, each once (a page is on one
 * queue; the walk stops after kept_pages steps, so a cycle fails too);
 * with their number equal to the kept pages found on the queues, it names
 * exactly those. */
static bool kept_order_ok(const heap_t *h) {
    const page_t *prev = NULL, *pg = h->kept_first;
    for (uint32_t i = 0; i < h->kept_pages; i++, prev = pg, pg = pg->kept_next)
        if (!pg || !pg->kept || pg->heap != h || pg->kept_prev != prev) return false;
    return pg == NULL && h->kept_last == prev;
}

/* Loans: counted right, within the heap's share, and only to pages of
 * fewer than KEEP_LEND_BELOW blocks. */
static bool kept_loans_ok(const heap_t *h, unsigned lent) {
    return lent == h->kept_lent && lent <= KEEP_LENT_MAX && h->kept_pages - lent <= KEEP_OWN;
}

/* The heap's queues against what its segments hold (page lock held). */
static int check_lists(heap_t *h, check_ctx_t *c) {
    int bad = check_dirty(h, c->dirty, c->report);
    FILE *report = c->report;
    unsigned listed = 0, kept = 0, lent = 0;
    uint64_t kept_bytes = 0;
    for (unsigned k = 0; k < NCLASSES; k++) {
        if (h->cur[k] != (h->avail[k].first ? h->avail[k].first : &cairn_empty_page))
            PROBLEM("heap %p: class %u current page is not the list head\n", (void *)h, k);
        for (const page_t *pg = h->avail[k].first; pg; pg = pg->next, listed++) {
            if (pg->cls != k || (pg->free_slow & PF_FULL) || (pg->next ? pg->next->prev != pg : h->avail[k].last != pg))
                PROBLEM("heap %p: avail list of class %u broken\n", (void *)h, k);
            if (pg->kept && (h->cur[k] == pg || page_used(pg) != 0 || pg->holes))
                PROBLEM("heap %p: kept page %p is current, holds blocks or has holes\n", (void *)h, (const void *)pg);
            kept += pg->kept != KEEP_NO;
            lent += pg->kept_lent;
            if (pg->kept_lent && (!pg->kept || pg->reserved >= KEEP_LEND_BELOW))
                PROBLEM("heap %p: page %p holds a loan it may not have\n", (void *)h, (const void *)pg);
            if (pg->kept) kept_bytes += page_carved(pg);
        }
    }
    for (const page_t *pg = h->full.first; pg; pg = pg->next, listed++) {
        if (!(pg->free_slow & PF_FULL) || (pg->next ? pg->next->prev != pg : h->full.last != pg))
            PROBLEM("heap %p: full list broken\n", (void *)h);
        if (pg->kept) PROBLEM("heap %p: kept page %p on the full list\n", (void *)h, (const void *)pg);
    }
    if (kept != h->kept_pages || kept > KEEP_EMPTY_MAX)
        PROBLEM("heap %p: %u kept pages, %u counted\n", (void *)h, kept, h->kept_pages);
    else if (!kept_order_ok(h))
        PROBLEM("heap %p: the order of kept pages does not list exactly the kept pages\n", (void *)h);
    else if (!kept_loans_ok(h, lent))
        PROBLEM("heap %p: %u of %u kept pages on loan, %u counted\n", (void *)h, lent, kept, h->kept_lent);
    if (kept_bytes != h->kept_bytes)
        PROBLEM("heap %p: kept pages hold %llu bytes, %llu counted\n", (void *)h,
                (unsigned long long)kept_bytes, (unsigned long long)h->kept_bytes);
    if (listed != c->in_use) PROBLEM("heap %p: %u pages in use, %u listed\n", (void *)h, c->in_use, listed);
    return bad;
}

static int check_large_block(const walk_item_t *it, check_ctx_t *c) {
    int bad = 0;
    FILE *report = c->report;
    unsigned f = it->flags;
    const void *b = (const char *)it->addr - LB_HDR;
    if (f & LW_BAD_TAG) { PROBLEM("large block %p: bad boundary tag\n", b); return bad; }
    if (f & LW_TWO_FREE) PROBLEM("large block %p: two free neighbours\n", b);
    if (!!(f & LW_LIVE_BIT) == !!(f & LW_FREE)) PROBLEM("large block %p: live bit disagrees with its tag\n", b);
    if (f & LW_BAD_DIRTY) PROBLEM("large block %p: dirty estimate inconsistent\n", b);
    if (f & LW_BAD_ZERO) PROBLEM("large block %p: marked zero, holds data\n", b);
    if ((f & (LW_FREE | LW_BUSY)) == LW_FREE) {
        c->t.free++;
        c->t.dirty_bytes += it->resident;
        c->t.dirty_blocks += !!(f & LW_DIRTY);
    } else if (!(f & LW_FREE)) {
        c->t.live_bytes += it->size - LB_HDR;
    }
    return bad;
}

static int check_huge(const walk_item_t *it, check_ctx_t *c) {
    int bad = 0;
    FILE *report = c->report;
    const huge_hdr_t *h = it->huge;
    c->huge_n++;
    c->huge_bytes += h->size;
    if (h->kind != SEG_HUGE || segmap_header(it->addr) != h || h->map_size != h->off + h->size + (SECURE ? os_page_size() : 0) ||
        (h->next && h->next->prev != h))
        PROBLEM("huge block %p: header inconsistent\n", it->addr);
    return bad;
}

static int check_item(const walk_item_t *it, void *arg) {
    check_ctx_t *c = arg;
    FILE *report = c->report;
    int bad = 0;
    switch (it->kind) {
    case W_HEAP:
        c->in_use = c->dirty = 0;
        c->all_owned &= it->owned;
        c->kept_pool = page_kept_shared();
        if (it->owned) c->kept_lent += it->heap->kept_lent;
        return 0;
    case W_SMALL_SEG: return it->owned ? check_segment(it->heap, it->sseg, c) : 0;
    case W_PAGE: return it->owned ? check_page(it->heap, it->page, report) : 0;
    case W_HEAP_END: return it->owned ? check_lists(it->heap, c) : 0;
    case W_ARENA: c->t = (large_tally_t){ 0 }; return 0;
    case W_LARGE_SEG:
        c->t.segs++;
        c->t.seg_bytes += it->size;
        if (it->flags & LW_BAD_HEADER) PROBLEM("large segment %p: header inconsistent\n", it->addr);
        return bad;
    case W_LARGE_BLOCK: return check_large_block(it, c);
    case W_LARGE_SEG_END:
        if (it->flags & LW_BAD_END) PROBLEM("large segment of %p: sentinel broken\n", it->addr);
        if (it->flags & LW_BAD_BITS) PROBLEM("large segment of %p: live or end bits disagree with live blocks\n", it->addr);
        return bad;
    case W_ARENA_END: return arena_check_lists(it->arena, &c->t, report);
    case W_HUGE: return check_huge(it, c);
    case W_HUGE_END:
        if (c->huge_n != it->size || c->huge_bytes != it->resident)
            PROBLEM("huge list: count/bytes disagree with counters\n");
        return bad;
    default: return 0;
    }
}

/* The pool of kept pages lends exactly the heaps' loans (checked when no
 * other thread owns a heap, so none is changing them). */
API int cairn_check_heap(FILE *report) {
    check_ctx_t c = { .report = report, .all_owned = true };
    int bad = walk_all(check_item, &c, 0);
    if (bad >= 0 && c.all_owned && c.kept_lent != c.kept_pool) {
        if (report) fprintf(report, "kept pages: %u lent by the pool, %u held past the heaps' own\n",
                            c.kept_pool, c.kept_lent);
        bad++;
    }
    return bad;
}
