/* The whole-heap invariant checker (expensive; for tests and debugging).
 * Small heaps are checked when the caller may read them safely: its own
 * heap and heaps no thread owns (pooled, orphaned), under the heap lock.
 * Arenas are checked under their locks, huge blocks under theirs. */
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
            b->cookie != (pg->key ^ a) || page_in_hole(pg, a) || ++n > (long)pg->capacity)
            return -1;
    }
    return n;
}

static int check_page(const heap_t *h, const page_t *pg, FILE *report) {
    int bad = 0;
    if (!pg->in_use || pg->heap != h || pg->block_size != cairn_class_size_tab[pg->cls] ||
        pg->reserved != PAGE_SIZE_ / pg->block_size || pg->capacity > pg->reserved) {
        PROBLEM("page %p: header inconsistent\n", (const void *)pg);
        return bad;
    }
    long nf = list_len(pg, pg->free), nl = list_len(pg, pg->local_free);
    uintptr_t tfw = atomic_load(&pg->thread_free);
    long nt = (tfw & ~TF_FULL) ? list_len(pg, (const block_t *)(tfw & ~TF_FULL)) : 0;
    if (nf < 0 || nl < 0 || nt < 0) PROBLEM("page %p: corrupt free list\n", (const void *)pg);
    else if ((uint64_t)nf + (uint64_t)nl + pg->hole_blocks + page_used(pg) != pg->capacity ||
             (uint64_t)nt > page_used(pg) || pg->cur_bias != (h->cur[pg->cls] == pg))
        PROBLEM("page %p: counts free %ld + local %ld + holes %u + used %u != capacity %u\n",
                (const void *)pg, nf, nl, pg->hole_blocks, page_used(pg), pg->capacity);
    if (!!pg->holes != !!(pg->free_slow & PF_HOLES) || (!pg->holes && pg->hole_blocks))
        PROBLEM("page %p: holes %#x with %u blocks, flag %u\n", (const void *)pg, pg->holes,
                pg->hole_blocks, pg->free_slow);
    if (!!(tfw & TF_FULL) != !!(pg->free_slow & PF_FULL)) PROBLEM("page %p: full flag mismatch\n", (const void *)pg);
    return bad;
}

static int check_segment(const heap_t *h, const small_seg_t *s, unsigned *in_use, unsigned *dirty,
                         FILE *report) {
    int bad = 0;
    if (s->kind != SEG_SMALL || s->heap != h || segmap_header(s) != s)
        PROBLEM("segment %p: header inconsistent\n", (const void *)s);
    if ((s->dirty_mask & ~s->free_mask) || ((s->free_mask | s->busy_mask) & 1) || (s->free_mask & s->busy_mask))
        PROBLEM("segment %p: masks inconsistent\n", (const void *)s);
    unsigned used = 0;
    for (unsigned i = 1; i < PAGES_PER_SEG; i++) {
        bool free_bit = (s->free_mask | s->busy_mask) >> i & 1;
        if (free_bit == (bool)s->pages[i].in_use) PROBLEM("segment %p: page %u mask\n", (const void *)s, i);
        if (s->pages[i].in_use) { used++; bad += check_page(h, &s->pages[i], report); }
    }
    *dirty += (unsigned)__builtin_popcountll(s->dirty_mask);
    if (used != s->used_pages) PROBLEM("segment %p: used_pages %u != %u\n", (const void *)s, s->used_pages, used);
    *in_use += used;
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

int check_small_heap(heap_t *h, FILE *report) {
    int bad = 0;
    unsigned in_use = 0, listed = 0, dirty = 0;
    lock_acquire(&h->seg_lock);
    for (const small_seg_t *s = h->segs; s; s = s->next) bad += check_segment(h, s, &in_use, &dirty, report);
    bad += check_dirty(h, dirty, report);
    lock_release(&h->seg_lock);
    for (unsigned c = 0; c < NCLASSES; c++) {
        if (h->cur[c] != (h->avail[c].first ? h->avail[c].first : &cairn_empty_page))
            PROBLEM("heap %p: class %u current page is not the list head\n", (void *)h, c);
        for (const page_t *pg = h->avail[c].first; pg; pg = pg->next, listed++)
            if (pg->cls != c || (pg->free_slow & PF_FULL) || (pg->next ? pg->next->prev != pg : h->avail[c].last != pg))
                PROBLEM("heap %p: avail list of class %u broken\n", (void *)h, c);
    }
    for (const page_t *pg = h->full.first; pg; pg = pg->next, listed++)
        if (!(pg->free_slow & PF_FULL) || (pg->next ? pg->next->prev != pg : h->full.last != pg))
            PROBLEM("heap %p: full list broken\n", (void *)h);
    if (listed != in_use) PROBLEM("heap %p: %u pages in use, %u listed\n", (void *)h, in_use, listed);
    return bad;
}

API int cairn_check_heap(FILE *report) {
    int bad = 0;
    heap_t *me = cairn_tl_heap;
    if (!me->placeholder) bad += check_small_heap(me, report);
    heaps_lock();
    for (heap_t *h = heaps_first(); h; h = h->next_all)
        if (h != me && (h->state == HEAP_POOLED || h->state == HEAP_ORPHAN))
            bad += check_small_heap(h, report);
    heaps_unlock();
    bad += arenas_check(report);
    bad += huge_check(report);
    return bad;
}
