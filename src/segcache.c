/* The segment cache: free 4 MiB segments kept for reuse, shared by small
 * heaps and large arenas, so a segment one of them gives up can serve the
 * other without an munmap and a fresh mmap (and page faults). A pool of
 * dirty memory like the others: cached segments not reused within the
 * purge window are unmapped, oldest first. */
#include "internal.h"

#define CACHE_MAX 16

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
/* Oldest first. resident: bytes of the segment that may be resident. */
static struct { void *seg; uint64_t resident, freed_at; } cache[CACHE_MAX];
static unsigned cache_n;
static decay_t cache_decay;             /* dirty = sum of resident */

void seg_cache_lock(void) { pthread_mutex_lock(&cache_lock); }
void seg_cache_unlock(void) { pthread_mutex_unlock(&cache_lock); }
void seg_cache_reinit_child(void) { pthread_mutex_init(&cache_lock, NULL); }

/* The most recently cached segment (the warmest), or NULL. */
void *seg_cache_take(uint64_t *resident) {
    void *s = NULL;
    pthread_mutex_lock(&cache_lock);
    if (cache_n) {
        cache_n--;
        s = cache[cache_n].seg;
        *resident = cache[cache_n].resident;
        decay_sub(&cache_decay, *resident);
        decay_observe(&cache_decay);
    }
    pthread_mutex_unlock(&cache_lock);
    return s;
}

/* Drop the n oldest entries into out (lock held). */
static unsigned take_oldest(unsigned n, void **out) {
    for (unsigned i = 0; i < n; i++) {
        out[i] = cache[i].seg;
        decay_sub(&cache_decay, cache[i].resident);
    }
    for (unsigned i = n; i < cache_n; i++) cache[i - n] = cache[i];
    cache_n -= n;
    return n;
}

/* Unmap what the decay policy says is due (everything when forced), but
 * no segment cached within the last epoch. */
void seg_cache_purge(uint64_t now, bool force) {
    void *gone[CACHE_MAX];
    uint64_t young = force ? UINT64_MAX : now - purge_epoch_ms();
    pthread_mutex_lock(&cache_lock);
    uint64_t target = decay_target(&cache_decay, now, force), got = 0;
    unsigned n = 0;
    while (n < cache_n && got < target && cache[n].freed_at <= young) got += cache[n++].resident;
    decay_purged(&cache_decay, got);
    take_oldest(n, gone);
    pthread_mutex_unlock(&cache_lock);
    for (unsigned i = 0; i < n; i++) os_unmap(gone[i], SEG_SIZE);
}

/* The caller has already cleared the segment's map entry. A full cache
 * gives up its oldest entry. */
void seg_cache_put(void *seg, uint64_t resident) {
    void *evict = NULL;
    pthread_mutex_lock(&cache_lock);
    if (cache_n == CACHE_MAX) take_oldest(1, &evict);
    cache[cache_n].seg = seg;
    cache[cache_n].resident = resident;
    cache[cache_n++].freed_at = os_clock_ms();
    decay_add(&cache_decay, resident);
    pthread_mutex_unlock(&cache_lock);
    if (evict) os_unmap(evict, SEG_SIZE);
}

void seg_cache_stats(uint64_t *count, uint64_t *dirty) {
    pthread_mutex_lock(&cache_lock);
    *count = cache_n;
    *dirty = cache_decay.dirty;
    pthread_mutex_unlock(&cache_lock);
}

int seg_cache_walk(walk_fn fn, void *arg) {
    int total = 0, r = 0;
    pthread_mutex_lock(&cache_lock);
    for (unsigned i = 0; i < cache_n && r != WALK_STOP; i++) {
        walk_item_t it = { .kind = W_CACHED_SEG, .addr = cache[i].seg, .size = SEG_SIZE,
                           .resident = cache[i].resident };
        if ((r = fn(&it, arg)) != WALK_STOP) total += r;
    }
    pthread_mutex_unlock(&cache_lock);
    return r == WALK_STOP ? WALK_STOP : total;
}

