/* Huge blocks (above LARGE_MAX, or aligned beyond what the large heap can
 * give): one direct mapping each, with a one-page header in front. realloc
 * resizes them with mremap, in place when the kernel can, else by moving
 * the pages (never copying). A global list, under a mutex, serves
 * statistics and the heap checker; huge calls are rare and costly anyway. */
#include "internal.h"
#include <errno.h>
#include <string.h>

static pthread_mutex_t huge_mu = PTHREAD_MUTEX_INITIALIZER;
static huge_hdr_t *huge_list;
static uint64_t n_alloc, n_free, live, count;

/* Freed mappings kept for reuse, so a program that frees and reallocates
 * big buffers does not pay mmap, munmap and a page fault per page each
 * time. A pool of dirty memory under the decay policy (purge.c): mappings
 * not reused within the purge window are unmapped, oldest first. Bounded
 * by count and by bytes: the larger of 64 MiB and the peak of live huge
 * bytes (what the program has shown it needs), at most 1 GiB. */
#define CACHE_SLOTS 16
#define CACHE_MIN_BYTES ((uint64_t)64 << 20)
#define CACHE_MAX_BYTES ((uint64_t)1 << 30)
static struct { huge_hdr_t *h; uint64_t freed_at; } cache[CACHE_SLOTS];   /* oldest first */
static unsigned cache_n;
static decay_t cache_decay;                  /* dirty = bytes cached      */
static uint64_t live_peak;
static _Atomic uint64_t cache_bytes_hint;    /* readable without the lock */

void huge_lock(void) { pthread_mutex_lock(&huge_mu); }
void huge_unlock(void) { pthread_mutex_unlock(&huge_mu); }
void huge_reinit_child(void) { pthread_mutex_init(&huge_mu, NULL); }
uint64_t huge_cache_dirty_hint(void) { return atomic_load_explicit(&cache_bytes_hint, memory_order_relaxed); }

static void link_in(huge_hdr_t *h) {
    pthread_mutex_lock(&huge_mu);
    h->prev = NULL;
    h->next = huge_list;
    if (huge_list) huge_list->prev = h;
    huge_list = h;
    count++;
    live += h->size;
    if (live > live_peak) live_peak = live;
    pthread_mutex_unlock(&huge_mu);
}

static void unlink_out(huge_hdr_t *h) {
    pthread_mutex_lock(&huge_mu);
    if (h->prev) h->prev->next = h->next;
    else huge_list = h->next;
    if (h->next) h->next->prev = h->prev;
    count--;
    live -= h->size;
    pthread_mutex_unlock(&huge_mu);
}

static unsigned map_kind(size_t off) { return off < SEG_SIZE ? MAP_HUGE : MAP_BACK; }

/* Take cache entry i out (huge_mu held). */
static huge_hdr_t *cache_remove(unsigned i) {
    huge_hdr_t *h = cache[i].h;
    decay_sub(&cache_decay, h->map_size);
    for (unsigned j = i + 1; j < cache_n; j++) cache[j - 1] = cache[j];
    cache_n--;
    atomic_store_explicit(&cache_bytes_hint, cache_decay.dirty, memory_order_relaxed);
    return h;
}

/* Unmap what the decay policy says is due (all when forced), but nothing
 * cached within the last epoch. */
void huge_cache_purge(uint64_t now, bool force) {
    huge_hdr_t *gone[CACHE_SLOTS];
    unsigned n = 0;
    if (!force && !huge_cache_dirty_hint()) return;
    uint64_t young = force ? UINT64_MAX : now - purge_epoch_ms();
    pthread_mutex_lock(&huge_mu);
    uint64_t target = decay_target(&cache_decay, now, force), got = 0;
    while (cache_n && got < target && cache[0].freed_at <= young) {
        gone[n] = cache_remove(0);
        got += gone[n++]->map_size;
    }
    decay_purged(&cache_decay, got);
    pthread_mutex_unlock(&huge_mu);
    for (unsigned i = 0; i < n; i++) os_unmap(gone[i], gone[i]->map_size);
}

/* Best cached mapping for a request of map_size bytes: the smallest that
 * is large enough, else the largest. */
static int cache_pick(size_t map_size) {
    int best = -1;
    for (unsigned i = 0; i < cache_n; i++) {
        size_t have = cache[i].h->map_size;
        if (best < 0) { best = (int)i; continue; }
        size_t cur = cache[best].h->map_size;
        bool fits = have >= map_size, cur_fits = cur >= map_size;
        if ((fits && (!cur_fits || have < cur)) || (!fits && !cur_fits && have > cur)) best = (int)i;
    }
    return best;
}

/* A cached mapping resized to exactly map_size (its resident pages are
 * reused; mremap trims or extends it, moving pages if it must), or NULL.
 * *used: how many of its first bytes held an earlier block; an extension
 * past them is fresh and reads zero. */
static huge_hdr_t *cache_take(size_t map_size, size_t *used) {
    huge_hdr_t *h = NULL;
    pthread_mutex_lock(&huge_mu);
    int i = cache_pick(map_size);
    if (i >= 0) {
        h = cache_remove((unsigned)i);
        decay_observe(&cache_decay);
    }
    pthread_mutex_unlock(&huge_mu);
    if (h) *used = h->map_size < map_size ? h->map_size : map_size;
    if (!h || h->map_size == map_size) return h;
    if (os_remap_inplace(h, h->map_size, map_size)) { h->map_size = map_size; return h; }
    huge_hdr_t *moved = os_remap_aligned(h, h->map_size, map_size, SEG_SIZE);
    if (moved) { moved->map_size = map_size; return moved; }
    os_unmap(h, h->map_size);
    return NULL;
}

/* Keep h for reuse; returns what the caller must unmap (h itself if the
 * cache cannot take it, or the oldest entries it pushed out). */
static unsigned cache_put(huge_hdr_t *h, huge_hdr_t **out) {
    unsigned n = 0;
    pthread_mutex_lock(&huge_mu);
    uint64_t limit = live_peak < CACHE_MIN_BYTES ? CACHE_MIN_BYTES
                   : live_peak > CACHE_MAX_BYTES ? CACHE_MAX_BYTES : live_peak;
    if (cairn_opt.purge_delay_ms == 0 || h->map_size > limit) {
        out[n++] = h;
    } else {
        while (cache_n && (cache_n == CACHE_SLOTS || cache_decay.dirty + h->map_size > limit))
            out[n++] = cache_remove(0);
        cache[cache_n].h = h;
        cache[cache_n++].freed_at = os_clock_ms();
        decay_add(&cache_decay, h->map_size);
        atomic_store_explicit(&cache_bytes_hint, cache_decay.dirty, memory_order_relaxed);
    }
    pthread_mutex_unlock(&huge_mu);
    return n;
}

/* The header sits at a 4 MiB boundary H, the block at H + off:
 * off = 4 KiB normally, off = align for alignments up to 2 MiB, and
 * off = 4 MiB for larger alignments (then H = block - 4 MiB). The secure
 * build maps one more page after the block, PROT_NONE (its guard), and
 * keeps a cached mapping's block PROT_NONE until it is reused. */
void *huge_alloc(size_t size, size_t align, bool zero) {
    cairn_init();                        /* options (purge delay) are read here */
    size_t pg = os_page_size(), guard = SECURE ? pg : 0;
    size_t off = align <= pg ? pg : align < SEG_SIZE ? align : SEG_SIZE;
    size_t psize = align_up(size, pg) + guard;
    if (psize < size || psize + off < psize) { errno = ENOMEM; return NULL; }
    size_t used = 0;
    huge_hdr_t *h = off == pg ? cache_take(psize + off, &used) : NULL;
    if (SECURE && h) os_protect((char *)h + off, h->map_size - off, false);
    if (h && zero) memset((char *)h + off, 0, used - off);   /* reused: dirty up to `used` */
    if (!h) h = align > SEG_SIZE ? os_map_aligned(psize + off, align, off)
                                 : os_map_aligned(psize + off, SEG_SIZE, 0);
    if (!h) return NULL;
    if (h->map_size < psize + off) h->map_size = psize + off;
    if (!segmap_prepare((uintptr_t)h + off, 1)) { os_unmap(h, h->map_size); return NULL; }
    h->kind = SEG_HUGE;
    h->off = off;
    h->size = h->map_size - off - guard;
    char *p = (char *)h + off;
    if (SECURE) os_protect(p + h->size, guard, true);   /* refused: no guard */
    segmap_set((uintptr_t)p, map_kind(off));     /* before it is listed: the checker */
    link_in(h);
    __atomic_add_fetch(&n_alloc, 1, __ATOMIC_RELAXED);
    return p;
}

/* The last FREED_RING huge pointers freed (or moved by realloc). Their
 * chunks map to nothing once the mapping is gone, so a second free of one
 * would read as foreign: this ring lets it be named a double free. Only
 * exact pointers match and old ones drop out, so a foreign pointer that
 * comes later at the same place is (almost always) called invalid. */
#define FREED_RING 64
static _Atomic(uintptr_t) freed_ring[FREED_RING];
static _Atomic unsigned freed_next;

static void remember_freed(const void *p) {
    unsigned i = atomic_fetch_add_explicit(&freed_next, 1, memory_order_relaxed) % FREED_RING;
    atomic_store_explicit(&freed_ring[i], (uintptr_t)p, memory_order_relaxed);
}

bool huge_recently_freed(const void *p) {
    for (unsigned i = 0; i < FREED_RING; i++)
        if (atomic_load_explicit(&freed_ring[i], memory_order_relaxed) == (uintptr_t)p) return true;
    return false;
}

static void check_ptr(const void *p, const huge_hdr_t *h, const char *what) {
    if ((const char *)h + h->off != (const char *)p) cairn_fatal(what, p);
}

void huge_free(void *p, huge_hdr_t *h) {
    check_ptr(p, h, "invalid free of");
    unlink_out(h);
    __atomic_add_fetch(&n_free, 1, __ATOMIC_RELAXED);
    segmap_set((uintptr_t)p, MAP_NONE);
    remember_freed(p);
    if (SECURE) os_protect(p, h->size, true);     /* a use after free faults */
    huge_hdr_t *gone[CACHE_SLOTS + 1];
    unsigned n = cache_put(h, gone);
    for (unsigned i = 0; i < n; i++) os_unmap(gone[i], gone[i]->map_size);
    purge_tick(my_heap(), os_clock_ms());
}

/* Usable bytes of huge block p, or an abort naming the misuse `what`. */
size_t huge_usable_checked(const void *p, const huge_hdr_t *h, const char *what) {
    check_ptr(p, h, what);
    return h->size;
}

size_t huge_usable(const void *p, const huge_hdr_t *h) {
    return huge_usable_checked(p, h, "malloc_usable_size of invalid pointer");
}

/* Resize to `size` (> REALLOC_TO_HUGE). NULL with ENOMEM leaves p intact. */
void *huge_realloc(void *p, huge_hdr_t *h, size_t size) {
    cairn_assert(!SECURE);               /* secure realloc always moves */
    check_ptr(p, h, "realloc of invalid pointer");
    size_t psize = align_up(size, os_page_size()), off = h->off, old_map = h->map_size;
    if (psize < size || psize + off < psize) { errno = ENOMEM; return NULL; }
    if (psize == h->size) return p;
    unlink_out(h);
    if (os_remap_inplace(h, old_map, psize + off)) {
        h->map_size = psize + off;
        h->size = psize;
        link_in(h);
        return p;
    }
    huge_hdr_t *nh = os_remap_aligned(h, old_map, psize + off, SEG_SIZE);
    if (!nh) { link_in(h); return NULL; }
    segmap_set((uintptr_t)p, MAP_NONE);
    remember_freed(p);
    nh->map_size = psize + off;
    nh->size = psize;
    char *q = (char *)nh + off;
    segmap_set((uintptr_t)q, map_kind(off));
    link_in(nh);
    return q;
}

void huge_stats(huge_totals_t *t) {
    pthread_mutex_lock(&huge_mu);
    t->nalloc = __atomic_load_n(&n_alloc, __ATOMIC_RELAXED);
    t->nfree = __atomic_load_n(&n_free, __ATOMIC_RELAXED);
    t->live = live;
    t->count = count;
    t->mapped = 0;
    for (huge_hdr_t *h = huge_list; h; h = h->next) t->mapped += h->map_size;
    t->cached = cache_n;
    t->cached_bytes = cache_decay.dirty;
    pthread_mutex_unlock(&huge_mu);
}

/* Every live mapping, every cached one, then W_HUGE_END carrying the
 * counters (size: count, resident: live bytes) for the checker. */
int huge_walk(walk_fn fn, void *arg) {
    int total = 0, r = 0;
    pthread_mutex_lock(&huge_mu);
    for (huge_hdr_t *h = huge_list; h && r != WALK_STOP; h = h->next) {
        walk_item_t it = { .kind = W_HUGE, .huge = h, .addr = (char *)h + h->off, .size = h->size };
        if ((r = fn(&it, arg)) != WALK_STOP) total += r;
    }
    for (unsigned i = 0; i < cache_n && r != WALK_STOP; i++) {
        walk_item_t it = { .kind = W_CACHED_HUGE, .huge = cache[i].h, .addr = cache[i].h,
                           .size = cache[i].h->map_size, .resident = cache[i].h->map_size };
        if ((r = fn(&it, arg)) != WALK_STOP) total += r;
    }
    if (r != WALK_STOP) {
        walk_item_t it = { .kind = W_HUGE_END, .size = count, .resident = live };
        if ((r = fn(&it, arg)) != WALK_STOP) total += r;
    }
    pthread_mutex_unlock(&huge_mu);
    return r == WALK_STOP ? WALK_STOP : total;
}
