/* Small segments: 4 MiB, aligned to 4 MiB, owned by one heap; page 0 holds
 * the header, pages 1..63 hold blocks. Also the process-wide cache of free
 * 4 MiB segments shared by small and large segments. Purging of freed
 * pages is in purge.c. */
#include "internal.h"
#include <string.h>

#define ALL_PAGES (~(uint64_t)1)          /* bits 1..63: page 0 is the header */
#define CACHE_MAX 16

/* ---- the segment cache ----------------------------------------------------- */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct { void *seg; uint64_t freed_at; } cache[CACHE_MAX];
static unsigned cache_n;

void seg_cache_lock(void) { pthread_mutex_lock(&cache_lock); }
void seg_cache_unlock(void) { pthread_mutex_unlock(&cache_lock); }
void seg_cache_reinit_child(void) { pthread_mutex_init(&cache_lock, NULL); }

void *seg_cache_take(void) {
    void *s = NULL;
    pthread_mutex_lock(&cache_lock);
    if (cache_n) s = cache[--cache_n].seg;
    pthread_mutex_unlock(&cache_lock);
    return s;
}

/* Unmap cached segments older than the purge delay (all when forced). */
void seg_cache_purge(bool force) {
    uint64_t now = clock_ms();
    pthread_mutex_lock(&cache_lock);
    unsigned keep = 0;
    for (unsigned i = 0; i < cache_n; i++) {
        if (force || now - cache[i].freed_at >= (uint64_t)cairn_opt.purge_delay_ms)
            os_unmap(cache[i].seg, SEG_SIZE);
        else
            cache[keep++] = cache[i];
    }
    cache_n = keep;
    pthread_mutex_unlock(&cache_lock);
}

/* The caller has already cleared the segment's map entry. freed_at is
 * when the segment's memory became free, so a segment that already aged
 * in an arena is not kept waiting a second time. */
void seg_cache_put(void *seg, uint64_t freed_at) {
    void *evict = NULL;
    pthread_mutex_lock(&cache_lock);
    if (cache_n == CACHE_MAX) evict = seg;
    else { cache[cache_n].seg = seg; cache[cache_n++].freed_at = freed_at; }
    pthread_mutex_unlock(&cache_lock);
    if (evict) os_unmap(evict, SEG_SIZE);
    seg_cache_purge(cairn_opt.purge_delay_ms == 0);
}

/* ---- small segments ---------------------------------------------------------- */
static small_seg_t *small_seg_new(heap_t *h) {
    small_seg_t *s = seg_cache_take();
    if (s) memset(s, 0, sizeof *s);       /* recycled: header must be clean */
    else if (!(s = os_map_aligned(SEG_SIZE, SEG_SIZE, 0))) return NULL;
    s->kind = SEG_SMALL;
    s->heap = h;
    s->free_mask = ALL_PAGES;
    s->dirty_mask = 0;
    s->used_pages = 0;
    s->prev = NULL;
    s->next = h->segs;
    if (h->segs) h->segs->prev = s;
    h->segs = s;
    segmap_set((uintptr_t)s, MAP_SMALL);
    return s;
}

void small_seg_release(heap_t *h, small_seg_t *s) {
    if (s->prev) s->prev->next = s->next;
    else h->segs = s->next;
    if (s->next) s->next->prev = s->prev;
    h->dirty_pages -= (uint32_t)__builtin_popcountll(s->dirty_mask);
    segmap_set((uintptr_t)s, MAP_NONE);
    seg_cache_put(s, clock_ms());
}

/* A free page for class cls: reuse a dirty page first (its memory is
 * already resident), then a clean one, then a new segment. */
page_t *page_alloc(heap_t *h, unsigned cls) {
    small_seg_t *s = h->segs;
    while (s && !s->free_mask) s = s->next;
    if (!s && !(s = small_seg_new(h))) return NULL;
    uint64_t pick = s->free_mask & s->dirty_mask;
    if (pick) h->dirty_pages--;
    else pick = s->free_mask;
    unsigned i = (unsigned)__builtin_ctzll(pick);
    uint64_t bit = (uint64_t)1 << i;
    s->free_mask &= ~bit;
    s->dirty_mask &= ~bit;
    s->used_pages++;
    page_init(&s->pages[i], h, cls);
    return &s->pages[i];
}

/* Give an empty page back to its segment; a segment left empty goes to the
 * cache, unless it is the heap's only one. */
void page_release(heap_t *h, page_t *pg) {
    small_seg_t *s = page_segment(pg);
    unsigned i = (unsigned)(pg - s->pages);
    uint64_t bit = (uint64_t)1 << i;
    cairn_assert(pg->used == 0 && pg->in_use && !(s->free_mask & bit));
    pg->in_use = 0;
    pg->block_size = 0;
    pg->recip = 0;
    pg->capacity = 0;
    pg->free = pg->local_free = NULL;
    uint64_t now = clock_ms();
    pg->freed_at = now;
    s->free_mask |= bit;
    s->dirty_mask |= bit;
    s->used_pages--;
    h->dirty_pages++;
    /* After this the segment (and pg) may be unmapped: touch neither. */
    if (s->used_pages == 0 && (s != h->segs || s->next)) small_seg_release(h, s);
    purge_tick(h, now);
}
