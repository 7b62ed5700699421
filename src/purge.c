/* Returning memory to the kernel after a delay ("decay"). Memory freed
 * now is often reused soon, so purging at once would pay a page fault per
 * page for nothing; memory that has stayed free for CAIRN_PURGE_DELAY ms
 * goes back with madvise (or munmap for whole cached segments/mappings).
 * The checks ride on slow paths that already run: a heap's refill and page
 * release, large frees. malloc_trim(0) purges everything at once. */
#include "internal.h"

static _Atomic uint64_t next_global_purge;

/* Called on slow paths with the current time; h may be NULL. Purges the
 * caller's heap when due, and at most once per delay the process-wide
 * caches and arenas. No allocator lock may be held by the caller. */
void purge_tick(heap_t *h, uint64_t now) {
    uint64_t delay = (uint64_t)cairn_opt.purge_delay_ms;
    if (h && h->dirty_pages && now - h->last_purge >= delay) heap_purge(h, false);
    uint64_t due = atomic_load_explicit(&next_global_purge, memory_order_relaxed);
    if (now < due || !atomic_compare_exchange_strong(&next_global_purge, &due, now + delay))
        return;
    heaps_reclaim_pooled(false);
    seg_cache_purge(false);
    huge_cache_flush(false);
    arenas_purge(false);
}

/* madvise runs of dirty pages that have been free long enough. */
static void purge_segment(small_seg_t *s, uint64_t now, bool force, uint32_t *dirty) {
    uint64_t m = s->dirty_mask;
    while (m) {
        unsigned i = (unsigned)__builtin_ctzll(m), j = i;
        while (j < PAGES_PER_SEG && (m >> j & 1) &&
               (force || now - s->pages[j].freed_at >= (uint64_t)cairn_opt.purge_delay_ms))
            j++;
        if (j > i) {
            os_purge((char *)s + ((size_t)i << PAGE_SHIFT), (size_t)(j - i) << PAGE_SHIFT);
            uint64_t run = (j - i == 64) ? ~(uint64_t)0 : (((uint64_t)1 << (j - i)) - 1) << i;
            s->dirty_mask &= ~run;
            *dirty -= j - i;
            m &= ~run;
        } else {
            m &= ~((uint64_t)1 << i);
        }
    }
}

void heap_purge(heap_t *h, bool force) {
    uint64_t now = clock_ms();
    h->last_purge = now;
    for (small_seg_t *s = h->segs; s && h->dirty_pages; s = s->next)
        if (s->dirty_mask) purge_segment(s, now, force, &h->dirty_pages);
    if (force) {   /* also hand back segments that are entirely free */
        for (small_seg_t *s = h->segs, *next; s; s = next) {
            next = s->next;
            if (s->used_pages == 0) small_seg_release(h, s);
        }
    }
}
