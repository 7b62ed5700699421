/* Thread heaps. Each thread allocates from its own heap; a thread that
 * exits puts its heap (with all its pages and live blocks) in a pool, and
 * the next thread that needs a heap adopts it, so programs that run many
 * short threads reuse the same memory. Heap structures are never freed:
 * remote frees may touch a heap's full_dirty flag at any time. */
#include "fastpath.h"
#include "cairn.h"
#include <errno.h>

/* Never has a free block: its lists hold the end mark of page 0. */
page_t cairn_empty_page = { .free = &cairn_list_end, .local_free = &cairn_list_end };
#define PLACEHOLDER_HEAP { .cur = { [0 ... NCLASSES - 1] = &cairn_empty_page }, \
                           .direct = { [0 ... DIRECT_N - 1] = &cairn_empty_page }, .placeholder = 1 }
/* A thread's heap before its first allocation: every malloc misses. */
heap_t cairn_empty_heap = PLACEHOLDER_HEAP;
/* A thread's heap after cairn's thread-exit hook ran: every malloc misses
 * and goes to the shared exit heap (heap_exit_alloc). */
heap_t cairn_exited_heap = PLACEHOLDER_HEAP;
__thread heap_t *cairn_tl_heap = &cairn_empty_heap;

static pthread_mutex_t heap_lock = PTHREAD_MUTEX_INITIALIZER;
static heap_t *all_heaps;                      /* every heap ever made   */
static heap_t *pool;                           /* heaps without a thread */
static unsigned heap_count;
static pthread_key_t exit_key;
static bool key_made;
static char *meta_next, *meta_end;             /* bump region for heaps  */
static pthread_mutex_t exit_mu = PTHREAD_MUTEX_INITIALIZER;
static heap_t *exit_heap;                      /* under exit_mu          */

void heaps_lock(void) { pthread_mutex_lock(&heap_lock); }
void heaps_unlock(void) { pthread_mutex_unlock(&heap_lock); }
/* The list only grows, at its head, and a heap is complete before it is
 * published, so readers may walk it without the heap lock. */
heap_t *heaps_first(void) { return __atomic_load_n(&all_heaps, __ATOMIC_ACQUIRE); }

static void on_thread_exit(void *h) { heap_thread_exit(h); }

/* A zeroed heap from the metadata region (heap lock held). */
static heap_t *heap_new(void) {
    size_t sz = align_up(sizeof(heap_t), 64);
    if ((size_t)(meta_end - meta_next) < sz) {       /* both NULL at first */
        char *m = os_map(64 * 1024);
        if (!m) return NULL;
        meta_next = m;
        meta_end = m + 64 * 1024;
    }
    heap_t *h = (heap_t *)meta_next;
    meta_next += sz;
    for (unsigned c = 0; c < NCLASSES; c++) h->cur[c] = &cairn_empty_page;
    for (unsigned i = 0; i < DIRECT_N; i++) h->direct[i] = &cairn_empty_page;
    h->key_state = (uint64_t)(uintptr_t)h ^ cairn_key;
    h->index = heap_count++;
    h->arena = arena_for(h);
    h->next_all = all_heaps;
    __atomic_store_n(&all_heaps, h, __ATOMIC_RELEASE);
    return h;
}

/* The shared heap of exiting threads (made when first needed). */
static heap_t *exit_heap_get(void) {
    if (!exit_heap) {
        pthread_mutex_lock(&heap_lock);
        exit_heap = heap_new();
        if (exit_heap) STORE_RELAXED(exit_heap->state, HEAP_EXIT);
        pthread_mutex_unlock(&heap_lock);
    }
    return exit_heap;
}

/* A thread past its exit hook allocates (another library's thread-exit
 * destructor, say). Adopting a heap now could leave it with a thread that
 * never gives it back, so such threads share one heap under a mutex; their
 * frees take the remote path, like anybody's frees into a foreign page. */
void *heap_exit_alloc(unsigned cls) {
    pthread_mutex_lock(&exit_mu);
    heap_t *h = exit_heap_get();
    void *p = NULL;
    if (h) {
        page_t *pg = h->cur[cls];
        p = !list_end(pg->free) ? page_pop(h, pg, pg->free) : small_refill(h, cls);
    } else {
        errno = ENOMEM;
    }
    pthread_mutex_unlock(&exit_mu);
    return p;
}

/* The calling thread's heap, taking one from the pool or making one. A
 * thread past its exit hook gets the shared exit heap (for its arena). */
heap_t *heap_for_thread(void) {
    heap_t *h = cairn_tl_heap;
    if (!h->placeholder) return h;
    if (h == &cairn_exited_heap) {
        pthread_mutex_lock(&exit_mu);
        h = exit_heap_get();
        pthread_mutex_unlock(&exit_mu);
        if (!h) errno = ENOMEM;
        return h;
    }
    cairn_init();
    pthread_mutex_lock(&heap_lock);
    if (!key_made) key_made = pthread_key_create(&exit_key, on_thread_exit) == 0;
    if ((h = pool) != NULL) pool = h->next_pool;
    else h = heap_new();
    if (h) STORE_RELAXED(h->state, HEAP_ACTIVE);
    pthread_mutex_unlock(&heap_lock);
    if (!h) { errno = ENOMEM; return NULL; }
    cairn_tl_heap = h;
    if (key_made) pthread_setspecific(exit_key, h);
    /* An adopted heap had all its pages parked as full (heap_park): bring
     * back those with free blocks, or they would sit unused. */
    if (h->full.first) heap_collect_all(h, true);
    return h;
}

/* The thread is done with h: tidy it and put it in the pool. */
void heap_thread_exit(heap_t *h) {
    if (!h || h != cairn_tl_heap) return;
    if (SECURE) secure_quarantine_flush();      /* its blocks go back first */
    heap_collect_all(h, true);
    heap_park(h);
    h->kept_pushed = h->kept_lend = 0;          /* the next thread's churn is its own */
    cairn_tl_heap = &cairn_exited_heap;
    pthread_mutex_lock(&heap_lock);
    STORE_RELAXED(h->state, HEAP_POOLED);
    h->next_pool = pool;
    pool = h;
    pthread_mutex_unlock(&heap_lock);
}

/* The thread goes on: its next allocation adopts a heap again. */
API void cairn_thread_done(void) {
    heap_t *h = cairn_tl_heap;
    if (h->placeholder) return;
    heap_thread_exit(h);
    cairn_tl_heap = &cairn_empty_heap;
    if (key_made) pthread_setspecific(exit_key, NULL);
}

/* Tidy heaps that no thread owns: collect blocks other threads freed into
 * them and release pages that became empty (purging is the decay's job).
 * Forced (malloc_trim): every pooled heap, waiting for the lock, and their
 * empty segments go too. Otherwise (the purge tick): only heaps a remote
 * free flagged, and only if the heap lock is free at once, so a slow path
 * never waits here. */
void heaps_reclaim_pooled(bool force) {
    if (force) pthread_mutex_lock(&heap_lock);
    else if (pthread_mutex_trylock(&heap_lock) != 0) return;
    for (heap_t *h = pool; h; h = h->next_pool) {
        if (!force && !atomic_load_explicit(&h->full_dirty, memory_order_relaxed)) continue;
        heap_collect_all(h, true);
        heap_park(h);
        if (force) segments_release_empty(h);
    }
    for (heap_t *h = pool; h; h = h->next_pool) heap_sweep(h);
    pthread_mutex_unlock(&heap_lock);
}

/* ---- heap-wide page operations (owner, or heap lock for pooled heaps) ---- */
/* Collect every page of the heap; with release_empty, give empty pages
 * back to their segments (thread exit, trim). */
void heap_collect_all(heap_t *h, bool release_empty) {
    /* The loop below visits every full page, so the flag is simply reset;
     * a remote free after this store raises it again. */
    atomic_store(&h->full_dirty, 0);
    for (page_t *pg = h->full.first, *next; pg; pg = next) {
        next = pg->next;
        page_settle(pg);
        if (!list_end(pg->free)) page_unfull(h, pg);
    }
    for (unsigned c = 0; c < NCLASSES; c++) {
        for (page_t *pg = h->avail[c].first, *next; pg; pg = next) {
            next = pg->next;
            page_settle(pg);
            if (release_empty && page_used(pg) == 0) page_retire(h, pg);
        }
        heap_set_cur(h, c);
    }
}

/* Before a heap goes to the pool: every page that still holds live blocks
 * is parked on the full list, so a remote free into it raises full_dirty
 * and the pooled heap can be tidied without waiting for an adopter. */
void heap_park(heap_t *h) {
    for (unsigned c = 0; c < NCLASSES; c++) {
        page_t *pg;
        while ((pg = h->avail[c].first) != NULL) {
            page_settle(pg);
            if (page_used(pg) == 0) page_retire(h, pg);
            else page_to_full(h, pg);      /* retried if a remote free raced */
        }
        heap_set_cur(h, c);
    }
}

/* A fingerprint of a page's lists: the same at two sweeps means no block
 * of it was allocated or freed in between. */
static uintptr_t page_sig(const page_t *pg) {
    uintptr_t tf = atomic_load_explicit(&pg->thread_free, memory_order_relaxed);
    return (uintptr_t)pg->free ^ ((uintptr_t)pg->local_free << 1) ^ ((uintptr_t)pg->used << 48) ^ (tf << 2);
}

/* Sweeps run once an epoch. A page unchanged for DECAY_EPOCHS of them (a
 * whole purge window, as the decay asks of any memory) gets its holes
 * punched, once per idle spell. */
static void sweep_page(page_t *pg) {
    uintptr_t sig = page_sig(pg);
    if (sig != pg->sweep_sig) {
        pg->sweep_sig = sig;
        pg->idle_sweeps = 0;
        return;
    }
    if (pg->idle_sweeps > DECAY_EPOCHS || ++pg->idle_sweeps < DECAY_EPOCHS) return;
    page_punch(pg);
    pg->sweep_sig = page_sig(pg);
    pg->idle_sweeps = DECAY_EPOCHS + 1;                    /* punched */
}

/* A kept empty page (page.c) that a whole sweep interval did not reuse
 * goes back to its segment, where the decay purges it in time. It is
 * never its queue's head (the head is current, and current is not kept),
 * so the current page stays as it is. */
static void sweep_kept(heap_t *h, page_t *pg) {
    if (pg->kept == KEEP_ONE_SWEEP) {
        pg->kept = KEEP_SWEPT;
        return;
    }
    page_retire(h, pg);
}

/* Every page but the ones the classes allocate from; a heap without a
 * thread has its pages parked on the full list, so those too. */
void heap_sweep(heap_t *h) {
    bool pooled = h != cairn_tl_heap;
    if (h->kept_lend) h->kept_lend--;    /* churn seen lately lends for a while */
    h->kept_pushed = 0;
    for (unsigned c = 0; c < NCLASSES; c++) {
        for (page_t *pg = h->avail[c].first, *next; pg; pg = next) {
            next = pg->next;
            if (pg == h->cur[c] && !pooled) continue;
            if (pg->kept) sweep_kept(h, pg);
            else sweep_page(pg);
        }
    }
    if (pooled)
        for (page_t *pg = h->full.first; pg; pg = pg->next) sweep_page(pg);
}

/* Any thread: the heap's free pages are guarded by its page lock. */
void heap_purge(heap_t *h, uint64_t now, bool force, bool wait) {
    if (wait) lock_acquire(&h->seg_lock);
    else if (!lock_try(&h->seg_lock)) return;
    uint64_t target = decay_target(&h->decay, now, force);
    lock_release(&h->seg_lock);
    uint64_t young = force ? UINT64_MAX : now - purge_epoch_ms();
    while (target) {
        uint64_t got = segments_purge(h, target, young, wait);
        if (!got) break;
        target = got >= target ? 0 : target - got;
    }
}

/* In a fork child only the forking thread exists. Heaps of other threads
 * may have been caught mid-update, so they are never adopted: their blocks
 * can still be freed (remotely), their free memory is simply not reused. */
void heaps_exit_lock(void) { pthread_mutex_lock(&exit_mu); }
void heaps_exit_unlock(void) { pthread_mutex_unlock(&exit_mu); }

void heaps_after_fork_child(void) {
    pthread_mutex_init(&heap_lock, NULL);
    pthread_mutex_init(&exit_mu, NULL);
    for (heap_t *h = all_heaps; h; h = h->next_all)
        if (h->state == HEAP_ACTIVE && h != cairn_tl_heap) STORE_RELAXED(h->state, HEAP_ORPHAN);
}

/* ---- the walk ------------------------------------------------------------- */
/* Every heap, under the heap lock (so none is adopted or pooled meanwhile).
 * The caller may read the page lists of its own heap and of heaps no thread
 * owns; of other heaps only what the page lock guards. */
int heaps_walk(walk_fn fn, void *arg, unsigned flags) {
    int total = 0, r = 0;
    heap_t *me = cairn_tl_heap;
    pthread_mutex_lock(&heap_lock);
    for (heap_t *h = all_heaps; h && r != WALK_STOP; h = h->next_all) {
        bool owned = h == me || h->state == HEAP_POOLED || h->state == HEAP_ORPHAN;
        walk_item_t it = { .kind = W_HEAP, .heap = h, .owned = owned };
        if ((r = fn(&it, arg)) == WALK_STOP) break;
        total += r;
        if ((r = segments_walk(h, owned, fn, arg, flags)) == WALK_STOP) break;
        total += r;
    }
    pthread_mutex_unlock(&heap_lock);
    return r == WALK_STOP ? WALK_STOP : total;
}

