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

/* Freed mappings kept for reuse for CAIRN_PURGE_DELAY ms, so a program
 * that frees and reallocates big buffers does not pay mmap, munmap and a
 * page fault per page each time. Bounded in count and bytes. */
#define CACHE_SLOTS 8
#define CACHE_BYTES ((size_t)64 << 20)
static struct { huge_hdr_t *h; uint64_t freed_at; } cache[CACHE_SLOTS];
static unsigned cache_n;
static size_t cache_bytes;
static _Atomic unsigned cache_used;          /* cache_n, readable unlocked */

void huge_lock(void) { pthread_mutex_lock(&huge_mu); }
void huge_unlock(void) { pthread_mutex_unlock(&huge_mu); }
void huge_reinit_child(void) { pthread_mutex_init(&huge_mu, NULL); }

static void link_in(huge_hdr_t *h) {
    pthread_mutex_lock(&huge_mu);
    h->prev = NULL;
    h->next = huge_list;
    if (huge_list) huge_list->prev = h;
    huge_list = h;
    count++;
    live += h->size;
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

static unsigned map_kind(size_t off) { return off < SEG_SIZE ? MAP_HUGE : MAP_HEADER_BEFORE; }

/* Unmap cached mappings older than the delay (all when forced). Called
 * with huge_mu held; unmapping happens after the lock is dropped. */
static unsigned cache_expire(uint64_t now, bool force, huge_hdr_t **out) {
    unsigned keep = 0, n = 0;
    for (unsigned i = 0; i < cache_n; i++) {
        if (force || now - cache[i].freed_at >= (uint64_t)cairn_opt.purge_delay_ms) {
            cache_bytes -= cache[i].h->map_size;
            out[n++] = cache[i].h;
        } else {
            cache[keep++] = cache[i];
        }
    }
    cache_n = keep;
    atomic_store_explicit(&cache_used, keep, memory_order_relaxed);
    return n;
}

void huge_cache_flush(bool force) {
    huge_hdr_t *gone[CACHE_SLOTS];
    if (!atomic_load_explicit(&cache_used, memory_order_relaxed)) return;
    pthread_mutex_lock(&huge_mu);
    unsigned n = cache_expire(clock_ms(), force, gone);
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
 * reused; mremap trims or extends it, moving pages if it must), or NULL. */
static huge_hdr_t *cache_take(size_t map_size) {
    huge_hdr_t *h = NULL;
    pthread_mutex_lock(&huge_mu);
    int i = cache_pick(map_size);
    if (i >= 0) {
        h = cache[i].h;
        cache_bytes -= h->map_size;
        cache[i] = cache[--cache_n];
        atomic_store_explicit(&cache_used, cache_n, memory_order_relaxed);
    }
    pthread_mutex_unlock(&huge_mu);
    if (!h || h->map_size == map_size) return h;
    if (os_remap_inplace(h, h->map_size, map_size)) { h->map_size = map_size; return h; }
    huge_hdr_t *moved = os_remap_aligned(h, h->map_size, map_size, SEG_SIZE);
    if (moved) { moved->map_size = map_size; return moved; }
    os_unmap(h, h->map_size);
    return NULL;
}

/* Keep h for reuse if it fits in the cache; false if the caller unmaps. */
static bool cache_put(huge_hdr_t *h) {
    huge_hdr_t *gone[CACHE_SLOTS];
    bool kept = false;
    uint64_t now = clock_ms();
    pthread_mutex_lock(&huge_mu);
    unsigned n = cache_expire(now, false, gone);
    if (cairn_opt.purge_delay_ms > 0 && cache_n < CACHE_SLOTS &&
        cache_bytes + h->map_size <= CACHE_BYTES) {
        cache[cache_n].h = h;
        cache[cache_n++].freed_at = now;
        cache_bytes += h->map_size;
        atomic_store_explicit(&cache_used, cache_n, memory_order_relaxed);
        kept = true;
    }
    pthread_mutex_unlock(&huge_mu);
    for (unsigned i = 0; i < n; i++) os_unmap(gone[i], gone[i]->map_size);
    return kept;
}

/* The header sits at a 4 MiB boundary H, the block at H + off:
 * off = 4 KiB normally, off = align for alignments up to 2 MiB, and
 * off = 4 MiB for larger alignments (then H = block - 4 MiB). */
void *huge_alloc(size_t size, size_t align, bool zero) {
    cairn_init();                        /* options (purge delay) are read here */
    size_t off = align <= OS_PAGE ? OS_PAGE : align < SEG_SIZE ? align : SEG_SIZE;
    size_t psize = align_up(size, OS_PAGE);
    if (psize < size || psize + off < psize) { errno = ENOMEM; return NULL; }
    huge_hdr_t *h = off == OS_PAGE ? cache_take(psize + off) : NULL;
    if (h && zero) memset((char *)h + off, 0, h->map_size - off);   /* reused: dirty */
    if (!h) h = align > SEG_SIZE ? os_map_aligned(psize + off, align, off)
                                 : os_map_aligned(psize + off, SEG_SIZE, 0);
    if (!h) return NULL;
    h->kind = SEG_HUGE;
    if (h->map_size < psize + off) h->map_size = psize + off;
    h->off = off;
    h->size = h->map_size - off;
    link_in(h);
    __atomic_add_fetch(&n_alloc, 1, __ATOMIC_RELAXED);
    char *p = (char *)h + off;
    segmap_set((uintptr_t)p, map_kind(off));
    return p;
}

static void check_ptr(const void *p, const huge_hdr_t *h, const char *what) {
    if ((const char *)h + h->off != (const char *)p) cairn_fatal(what, p);
}

void huge_free(void *p, huge_hdr_t *h) {
    check_ptr(p, h, "invalid free of");
    unlink_out(h);
    __atomic_add_fetch(&n_free, 1, __ATOMIC_RELAXED);
    segmap_set((uintptr_t)p, MAP_FREED_HUGE);
    if (!cache_put(h)) os_unmap(h, h->map_size);
}

size_t huge_usable(const void *p, const huge_hdr_t *h) {
    (void)p;
    return h->size;
}

/* Resize to `size` (> LARGE_MAX). NULL with ENOMEM leaves p intact. */
void *huge_realloc(void *p, huge_hdr_t *h, size_t size) {
    check_ptr(p, h, "realloc of invalid pointer");
    size_t psize = align_up(size, OS_PAGE), off = h->off, old_map = h->map_size;
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
    segmap_set((uintptr_t)p, MAP_FREED_HUGE);
    nh->map_size = psize + off;
    nh->size = psize;
    link_in(nh);
    char *q = (char *)nh + off;
    segmap_set((uintptr_t)q, map_kind(off));
    return q;
}

void huge_stats(uint64_t *na, uint64_t *nf, uint64_t *lv, uint64_t *cnt) {
    pthread_mutex_lock(&huge_mu);
    *na = __atomic_load_n(&n_alloc, __ATOMIC_RELAXED);
    *nf = __atomic_load_n(&n_free, __ATOMIC_RELAXED);
    *lv = live; *cnt = count;
    pthread_mutex_unlock(&huge_mu);
}

int huge_check(FILE *report) {
    int bad = 0;
    pthread_mutex_lock(&huge_mu);
    uint64_t n = 0, bytes = 0;
    for (huge_hdr_t *h = huge_list; h; h = h->next, n++) {
        const char *p = (const char *)h + h->off;
        bytes += h->size;
        if (h->kind != SEG_HUGE || segmap_header(p) != h || h->map_size != h->off + h->size ||
            (h->next && h->next->prev != h)) {
            bad++;
            if (report) fprintf(report, "huge block %p: header inconsistent\n", (const void *)p);
        }
    }
    if (n != count || bytes != live) {
        bad++;
        if (report) fprintf(report, "huge list: count/bytes disagree with counters\n");
    }
    pthread_mutex_unlock(&huge_mu);
    return bad;
}
