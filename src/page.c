/* Pages of small blocks: carving, collecting frees, and the refill that
 * the malloc fast path falls into when its current page is empty.
 *
 * A heap keeps, per class, a list `avail` of pages that may have room;
 * cur[cls] is its head. Pages found without room move to the `full` list
 * and come back when a free (local, or remote via full_dirty) gives them
 * room again. */
#include "internal.h"

#define EXTEND_BYTES 8192u   /* carve at most this much per step: RSS grows lazily */

/* ---- page queues ------------------------------------------------------- */
void page_queue_remove(page_queue_t *q, page_t *pg) {
    if (pg->prev) pg->prev->next = pg->next;
    else q->first = pg->next;
    if (pg->next) pg->next->prev = pg->prev;
    else q->last = pg->prev;
    pg->next = pg->prev = NULL;
}

static void list_push(page_queue_t *q, page_t *pg) {
    pg->prev = NULL;
    pg->next = q->first;
    if (q->first) q->first->prev = pg;
    else q->last = pg;
    q->first = pg;
}

/* End of the queue: a page that just regained a few blocks waits its
 * turn, gathering more frees, instead of making the next refills hop
 * between pages that each have one free block. */
void page_queue_append(page_queue_t *q, page_t *pg) {
    pg->next = NULL;
    pg->prev = q->last;
    if (q->last) q->last->next = pg;
    else q->first = pg;
    q->last = pg;
}

void heap_set_cur(heap_t *h, unsigned cls) {
    h->cur[cls] = h->avail[cls].first ? h->avail[cls].first : &cairn_empty_page;
}

/* ---- carving ------------------------------------------------------------ */
void page_init(page_t *pg, heap_t *h, unsigned cls) {
    uint32_t bs = cairn_class_size_tab[cls];
    pg->free = pg->local_free = NULL;
    atomic_store_explicit(&pg->thread_free, 0, memory_order_relaxed);
    pg->heap = h;
    pg->used = 0;
    pg->capacity = 0;
    pg->reserved = (uint32_t)(PAGE_SIZE_ / bs);
    pg->block_size = bs;
    pg->recip = (uint32_t)((((uint64_t)1 << 32) + bs - 1) / bs);
    pg->cls = (uint8_t)cls;
    pg->in_use = 1;
    pg->in_full = 0;
    pg->next = pg->prev = NULL;
}

/* Carve more never-used blocks onto the (empty) free list. Carved blocks
 * carry the free cookie, so freeing one that was never handed out is
 * caught as a double free rather than corrupting the counts. */
bool page_extend(page_t *pg) {
    uint32_t room = pg->reserved - pg->capacity;
    if (!room) return false;
    uint32_t n = EXTEND_BYTES / pg->block_size;
    if (n == 0) n = 1;
    if (n > room) n = room;
    uintptr_t start = page_start(pg) + (uintptr_t)pg->capacity * pg->block_size;
    if (unlikely(pg->refault)) stats_refault((uint64_t)n * pg->block_size);
    block_t *prev = NULL;
    for (uint32_t i = n; i-- > 0;) {
        block_t *b = (block_t *)(start + (uintptr_t)i * pg->block_size);
        b->next = prev;
        b->cookie = cairn_key ^ (uintptr_t)b;
        prev = b;
    }
    pg->free = prev;
    STORE_RELAXED(pg->capacity, pg->capacity + n);  /* remote frees read it */
    return true;
}

/* Gather blocks freed by other threads. Keeps the TF_FULL bit as it was. */
static void take_thread_free(page_t *pg) {
    uintptr_t tf = atomic_load_explicit(&pg->thread_free, memory_order_relaxed);
    if ((tf & ~TF_FULL) == 0) return;
    tf = atomic_exchange_explicit(&pg->thread_free, tf & TF_FULL, memory_order_acquire);
    block_t *list = (block_t *)(tf & ~TF_FULL), *tail = list;
    uint32_t n = 1;
    while (tail->next) { tail = tail->next; n++; }
    tail->next = pg->free;
    pg->free = list;
    pg->used -= n;
}

/* Move local frees and remote frees onto the free list. */
void page_collect(page_t *pg) {
    if (pg->local_free) {
        if (pg->free) {                 /* rare: only outside the refill */
            block_t *tail = pg->local_free;
            while (tail->next) tail = tail->next;
            tail->next = pg->free;
        }
        pg->free = pg->local_free;
        pg->local_free = NULL;
    }
    take_thread_free(pg);
}

/* ---- the full list ------------------------------------------------------ */
/* Park a page with no room. Setting TF_FULL and reading thread_free is one
 * atomic step, so a remote free either lands before (we see it and keep
 * the page) or after (it sees TF_FULL and raises full_dirty). */
bool page_to_full(heap_t *h, page_t *pg) {
    uintptr_t old = atomic_fetch_or_explicit(&pg->thread_free, TF_FULL, memory_order_acq_rel);
    if (old & ~TF_FULL) {
        atomic_fetch_and_explicit(&pg->thread_free, ~TF_FULL, memory_order_relaxed);
        return false;
    }
    page_queue_remove(&h->avail[pg->cls], pg);
    pg->in_full = 1;
    list_push(&h->full, pg);
    return true;
}

void page_unfull(heap_t *h, page_t *pg) {
    atomic_fetch_and_explicit(&pg->thread_free, ~TF_FULL, memory_order_relaxed);
    page_queue_remove(&h->full, pg);
    pg->in_full = 0;
    page_queue_append(&h->avail[pg->cls], pg);
    heap_set_cur(h, pg->cls);
}

/* Remote frees hit some full pages: bring back those that have room. */
void heap_rescan_full(heap_t *h) {
    atomic_store_explicit(&h->full_dirty, 0, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    for (page_t *pg = h->full.first, *next; pg; pg = next) {
        next = pg->next;
        if (atomic_load_explicit(&pg->thread_free, memory_order_relaxed) & ~TF_FULL)
            page_unfull(h, pg);
    }
}

/* ---- refill ------------------------------------------------------------- */
static void *pop_block(heap_t *h, page_t *pg) {
    block_t *b = pg->free;
    pg->free = b->next;
    pg->used++;
    b->cookie = 0;
    h->nmalloc++;
    h->bytes_alloc += pg->block_size;
    return b;
}

/* Find room in the avail list, parking exhausted pages as full. */
static page_t *find_page(heap_t *h, unsigned cls) {
    page_t *pg;
    while ((pg = h->avail[cls].first) != NULL) {
        if (!pg->free) page_collect(pg);
        if (!pg->free) page_extend(pg);
        if (pg->free) return pg;
        page_to_full(h, pg);
    }
    return NULL;
}

NOINLINE void *small_refill(heap_t *h, unsigned cls) {
    if (h == &cairn_empty_heap) {
        h = heap_for_thread();
        if (!h) return NULL;
    }
    if (atomic_load_explicit(&h->full_dirty, memory_order_relaxed)) heap_rescan_full(h);
    if (h->tick_countdown-- == 0) {         /* a clock read every 16 refills */
        h->tick_countdown = 15;
        purge_tick(h, os_clock_ms());
    }
    page_t *pg = find_page(h, cls);
    if (!pg) {
        pg = page_alloc(h, cls);
        if (!pg) { heap_set_cur(h, cls); return NULL; }   /* errno is ENOMEM */
        page_extend(pg);
        list_push(&h->avail[cls], pg);
    }
    h->cur[cls] = pg;
    return pop_block(h, pg);
}

/* ---- slow frees --------------------------------------------------------- */
/* A local free emptied the page or hit a parked one. An empty page goes
 * back to its segment unless it is the page the class allocates from. */
void small_free_slow(page_t *pg) {
    heap_t *h = pg->heap;
    if (pg->in_full) page_unfull(h, pg);
    if (pg->used == 0 && h->cur[pg->cls] != pg) {
        page_queue_remove(&h->avail[pg->cls], pg);
        heap_set_cur(h, pg->cls);
        page_release(h, pg);
    }
}

NOINLINE void small_free_remote(page_t *pg, block_t *b) {
    heap_t *owner = pg->heap;                    /* read before the push */
    heap_t *me = cairn_tl_heap;
    uint32_t bs = pg->block_size;
    uintptr_t old = atomic_load_explicit(&pg->thread_free, memory_order_relaxed);
    do {
        b->next = (block_t *)(old & ~TF_FULL);
    } while (!atomic_compare_exchange_weak_explicit(&pg->thread_free, &old,
                 (uintptr_t)b | (old & TF_FULL), memory_order_release, memory_order_relaxed));
    if (old & TF_FULL) atomic_store_explicit(&owner->full_dirty, 1, memory_order_release);
    if (me != &cairn_empty_heap) {
        me->nfree++;
        me->bytes_free += bs;
    } else {
        atomic_fetch_add_explicit(&cairn_orphan_frees, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&cairn_orphan_bytes, bs, memory_order_relaxed);
    }
}
