/* Pages of small blocks: carving, collecting frees, and the refill that
 * the malloc fast path falls into when its current page is empty.
 *
 * A heap keeps, per class, a list `avail` of pages that may have room;
 * cur[cls] is its head. Pages found without room move to the `full` list
 * and come back when a free (local, or remote via full_dirty) gives them
 * room again. */
#include <string.h>
#include "fastpath.h"

#define EXTEND_BYTES 8192u   /* carve this much per step: RSS grows lazily */
#define EXTEND_MAX   (EXTEND_BYTES / 16)     /* blocks carved per step, at most */

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

/* The page class cls allocates from: the head of its queue, in cur[] and
 * in the direct[] entries of the sizes it serves. */
static void cur_bias(page_t *pg, uint8_t on) {
    if (pg == &cairn_empty_page || pg->cur_bias == on) return;
    STORE_RELAXED(pg->cur_bias, on);
    STORE_RELAXED(pg->used, on ? pg->used + 1 : pg->used - 1);
}

void heap_set_cur(heap_t *h, unsigned cls) {
    page_t *pg = h->avail[cls].first ? h->avail[cls].first : &cairn_empty_page;
    if (h->cur[cls] != pg) {
        cur_bias(h->cur[cls], 0);
        cur_bias(pg, 1);
        if (pg->kept_lent) h->kept_lend = KEEP_LEND_SWEEPS;   /* a loan put to use: still churning */
        page_unkeep(h, pg);
    }
    h->cur[cls] = pg;
    for (unsigned i = cairn_direct_lo[cls]; i < cairn_direct_hi[cls]; i++) h->direct[i] = pg;
}

/* An empty page of the avail queue goes back to its segment. If it was
 * the current page, the next one takes over, and its current-page bias
 * goes before page_release checks that none is left. */
void page_retire(heap_t *h, page_t *pg) {
    page_queue_remove(&h->avail[pg->cls], pg);
    heap_set_cur(h, pg->cls);
    page_release(h, pg);
}

/* ---- carving ------------------------------------------------------------ */
/* A fresh secret for a page taking up a new life (splitmix64 of the heap's
 * counter, mixed with the process key): a value leaked from one page says
 * nothing about another, or about this page's next life. */
static uintptr_t new_page_key(heap_t *h) {
    uint64_t z = (h->key_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (uintptr_t)(z ^ (z >> 31) ^ cairn_key);
}

/* Secure build: the order in which carved blocks are handed out, a random
 * permutation of 0 .. n-1 (Fisher-Yates), so neighbours are not predictable. */
static void shuffle(heap_t *h, uint16_t *order, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) order[i] = (uint16_t)i;
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = (uint32_t)(((uint64_t)(new_page_key(h) >> 32) * i) >> 32);
        uint16_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}

void page_init(page_t *pg, heap_t *h, unsigned cls) {
    uint32_t bs = cairn_class_size_tab[cls];
    pg->key = new_page_key(h) | KEY_HIGH;    /* see cairn_list_end */
    pg->mark = new_page_key(h);
    pg->free = pg->local_free = page_end_mark(pg);
    pg->local_counted = 0;
    pg->local_exact = NULL;
    atomic_store_explicit(&pg->thread_free, 0, memory_order_relaxed);
    STORE_RELAXED(pg->heap, h);
    STORE_RELAXED(pg->used, 0);
    STORE_RELAXED(pg->cur_bias, 0);
    page_set_capacity(pg, 0);
    pg->reserved = (uint32_t)(PAGE_SIZE_ / bs);
    STORE_RELAXED(pg->block_size, bs);
    pg->recip = (uint32_t)((((uint64_t)1 << 32) + bs - 1) / bs);
    pg->shared.key = pg->key;
    pg->shared.mark = pg->mark;
    pg->shared.recip = pg->recip;
    STORE_RELAXED(pg->shared.block_size, bs);
    pg->cls = (uint8_t)cls;
    STORE_RELAXED(pg->in_use, 1);
    pg->free_slow = 0;
    pg->mem &= (uint8_t)~PM_FREE_ZERO;   /* the free list is empty */
    pg->holes = pg->hole_blocks = 0;
    pg->sweep_sig = 0;
    pg->idle_sweeps = 0;
    pg->kept = KEEP_NO;
    pg->kept_lent = 0;
    pg->passed = 0;
    pg->next = pg->prev = NULL;
}

/* How many blocks to carve: EXTEND_BYTES' worth, so RSS grows lazily; but
 * all of what the page's last life left resident (pg->resident, a dirty
 * page reused), which costs no RSS and saves refills (a page of 4 KiB
 * blocks would refill every second malloc). At most EXTEND_MAX blocks. */
static uint32_t extend_count(const page_t *pg) {
    uint32_t bs = pg->block_size, done = pg->capacity * bs;
    uint32_t n = EXTEND_BYTES / bs;
    if (pg->resident > done && (pg->resident - done) / bs > n) n = (pg->resident - done) / bs;
    if (n == 0) n = 1;
    if (n > EXTEND_MAX) n = EXTEND_MAX;
    return n;
}

/* Carve more never-used blocks onto the (empty) free list. Carved blocks
 * carry the free cookie, so freeing one that was never handed out is
 * caught as a double free rather than corrupting the counts. */
bool page_extend(page_t *pg) {
    uint32_t room = pg->reserved - pg->capacity;
    if (!room) return false;
    uint32_t n = extend_count(pg);
    if (n > room) n = room;
    uintptr_t start = page_start(pg) + (uintptr_t)pg->capacity * pg->block_size;
    if (unlikely(pg->mem & PM_REFAULT)) stats_refault((uint64_t)n * pg->block_size);
    block_t *prev = page_end_mark(pg);
    uint16_t order[EXTEND_MAX];
    if (SECURE) shuffle(pg->heap, order, n);
    for (uint32_t i = n; i-- > 0;) {
        block_t *b = (block_t *)(start + (uintptr_t)(SECURE ? order[i] : i) * pg->block_size);
        link_set(pg, b, prev);
        b->cookie = pg->mark;
        prev = b;
    }
    pg->free = prev;
    if (pg->mem & PM_ZERO_TAIL) pg->mem |= PM_FREE_ZERO;
    page_set_capacity(pg, pg->capacity + n);
    return true;
}

/* The last block of a non-empty list of pg, and its length. */
static block_t *list_tail(const page_t *pg, block_t *b, uint32_t *n) {
    *n = 1;
    for (block_t *next; !list_end(next = link_next(pg, b)); b = next) ++*n;
    return b;
}

/* Put a list of blocks other threads freed in front of the free list: its
 * last block, found by a walk that checks every link, is linked to it.
 * A block in a hole was free already: a double free from another thread. */
static void thread_free_splice(page_t *pg, block_t *list) {
    block_t *b = list, *next;
    for (;; b = next) {
        if (unlikely(pg->holes && page_in_hole(pg, (uintptr_t)b))) cairn_fatal("double free of", b);
        if (list_end(next = link_next(pg, b))) break;
    }
    link_set(pg, b, pg->free);
}

/* The remote list of pg, whose word last read tf, taken whole (the TF_FULL
 * bit stays as it is); its *n blocks leave `used` and are counted. */
static block_t *remote_take(heap_t *h, page_t *pg, uintptr_t tf, uint32_t *n) {
    tf = atomic_exchange_explicit(&pg->thread_free, tf & TF_FULL, memory_order_acquire);
    *n = tf_count(tf);
    OWNER_ADD(pg->used, -*n);
    OWNER_ADD(h->remote_in, *n);
    return tf_head(tf);
}

/* Gather blocks freed by other threads. Keeps the TF_FULL bit as it was.
 * The word says how many there are, so when the free list is empty (as
 * at a refill) and the page has no holes, the list becomes the free list
 * unwalked; malloc checks each link as it pops the blocks. */
static void take_thread_free(heap_t *h, page_t *pg) {
    uintptr_t tf = atomic_load_explicit(&pg->thread_free, memory_order_relaxed);
    if ((tf & ~TF_FULL) == 0) return;
    uint32_t n;
    block_t *list = remote_take(h, pg, tf, &n);
    if (!list_end(pg->free) || pg->holes) thread_free_splice(pg, list);
    pg->free = list;
    pg->mem &= (uint8_t)~PM_FREE_ZERO;   /* reused blocks hold old data */
}

/* The free and local lists' lengths together: every carved block not
 * handed out and not in a hole is on one of them (the page invariant). So
 * with the free list empty, the length of local_free. */
static uint32_t local_by_count(const page_t *pg) {
    return pg->capacity - pg->hole_blocks - page_used(pg);
}

/* local_free, of n blocks, is now the head of the free list; the frees
 * not counted yet are counted. */
static void local_moved(heap_t *h, page_t *pg, uint32_t n) {
    pg->free = pg->local_free;
    pg->mem &= (uint8_t)~PM_FREE_ZERO;
    pg->local_free = page_end_mark(pg);
    OWNER_ADD(h->local_frees, n - pg->local_counted);
    pg->local_counted = 0;
    pg->local_exact = NULL;
}

/* The free list being empty, local_free becomes it whole: its length is
 * what the page invariant leaves, so nothing is walked. */
static void local_to_free(heap_t *h, page_t *pg) {
    if (!list_end(pg->local_free)) local_moved(h, pg, local_by_count(pg));
}

/* Move local frees and remote frees onto the free list; local frees are
 * counted here, off the fast path. With the free list empty (a refill)
 * every carved block not handed out and not in a hole is on local_free, so
 * the count needs no walk and the list moves over whole. */
void page_collect(page_t *pg) {
    heap_t *h = pg->heap;
    if (list_end(pg->free)) {
        local_to_free(h, pg);
    } else if (!list_end(pg->local_free)) {
        uint32_t n;
        block_t *tail = list_tail(pg, pg->local_free, &n);
        link_set(pg, tail, pg->free);
        local_moved(h, pg, n);
    }
    take_thread_free(h, pg);
}

/* The remote list (word tf) onto local_free, which is empty: whole,
 * unwalked, its blocks counted as remote frees already. */
static void remote_to_local(heap_t *h, page_t *pg, uintptr_t tf) {
    uint32_t n;
    pg->local_free = remote_take(h, pg, tf, &n);
    pg->local_counted = (uint16_t)n;
    pg->local_exact = pg->local_free;
}

/* A refill's collect (find_page), the free list being empty: local_free
 * becomes it whole and the remote list becomes local_free whole, so no
 * list is walked (merging them read every remote block to find the
 * list's tail: 5.5% of larson-4t's samples on one core). With holes,
 * each remote block must be checked, so page_collect does it all. */
static void page_refill_collect(page_t *pg) {
    heap_t *h = pg->heap;
    if (pg->holes || list_end(pg->local_free)) {
        page_collect(pg);
        return;
    }
    local_to_free(h, pg);
    uintptr_t tf = atomic_load_explicit(&pg->thread_free, memory_order_relaxed);
    if (tf & ~TF_FULL) remote_to_local(h, pg, tf);
}

/* page_collect for heap-wide tidying (thread exit, adoption, pooled
 * heaps): `used` made right and every free block reachable, walking as
 * little as possible. Such a pass visits every page of a heap, and most
 * blocks it would walk were last touched long ago or on another core:
 * merging the lists read each of them (11.5% of larson-4t's time, at
 * thread exit). Here a free list that holds blocks stays apart from
 * local_free, whose frees are counted when it is collected (until then a
 * snapshot counts them: the owner's, or under the heap lock a pooled
 * heap's; stats.c), and remote frees go onto an empty local_free whole,
 * counted at once. Afterwards the free list is empty only if the page has
 * no free block. */
void page_settle(page_t *pg) {
    heap_t *h = pg->heap;
    if (pg->holes) {                    /* each remote block is checked */
        page_collect(pg);
        return;
    }
    if (list_end(pg->free)) local_to_free(h, pg);
    uintptr_t tf = atomic_load_explicit(&pg->thread_free, memory_order_relaxed);
    if ((tf & ~TF_FULL) == 0) return;
    if (list_end(pg->free) || !list_end(pg->local_free)) {
        take_thread_free(h, pg);        /* whole onto an empty free list, else spliced */
        return;
    }
    remote_to_local(h, pg, tf);
}

/* Local frees not collected yet (statistics; owner or heap lock). With the
 * free list empty, as it is on most pages but the current one, they are
 * what the invariant leaves (as in page_collect): no walk over cold blocks.
 * Otherwise the free and local lists, whose lengths add up to what the
 * invariant leaves, are walked side by side until the shorter one ends. */
uint32_t page_pending_local(const page_t *pg) {
    if (list_end(pg->local_free) || pg->local_free == pg->local_exact) return 0;
    uint32_t both = local_by_count(pg), n = 0;
    const block_t *f = pg->free, *l = pg->local_free;
    for (; !list_end(f); n++) {
        if (list_end(l)) return n - pg->local_counted;
        f = link_next(pg, f);
        l = link_next(pg, l);
    }
    return both - n - pg->local_counted;
}

/* The end mark of every list: read (its link, 0), never written. */
block_t cairn_list_end;

/* malloc's pop when the head's link is not in its page: the list is empty
 * (refill), the head is its last block, or the link is corrupt. */
NOINLINE void *page_pop_slow(heap_t *h, page_t *pg, unsigned cls) {
    block_t *b = pg->free;
    if (list_end(b)) return small_refill(h, cls);
    return page_pop(h, pg, b);
}

NOINLINE void *page_pop_slow_direct(heap_t *h, page_t *pg, size_t i) {
    return page_pop_slow(h, pg, cairn_class_of_tiny[i]);
}

void *page_corrupt(const page_t *pg, const void *b) {
    (void)pg;
    cairn_fatal("heap corruption: free list link overwritten in block", b);
}

/* ---- slow-free reasons -------------------------------------------------- */
/* free_slow and the USED_SLOW bits of `used` change together. */
static void slow_store(page_t *pg, uint8_t bits) {
    pg->free_slow = bits;
    uint32_t count = LOAD_RELAXED(pg->used) & ~USED_SLOW;
    STORE_RELAXED(pg->used, count | (bits ? USED_SLOW : 0));
}
void page_slow_set(page_t *pg, uint8_t why) { slow_store(pg, (uint8_t)(pg->free_slow | why)); }
void page_slow_clear(page_t *pg, uint8_t why) { slow_store(pg, (uint8_t)(pg->free_slow & ~why)); }

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
    page_slow_set(pg, PF_FULL);
    pg->passed = 0;                      /* back in a queue, it gets its pass again */
    list_push(&h->full, pg);
    return true;
}

void page_unfull(heap_t *h, page_t *pg) {
    atomic_fetch_and_explicit(&pg->thread_free, ~TF_FULL, memory_order_relaxed);
    page_queue_remove(&h->full, pg);
    page_slow_clear(pg, PF_FULL);
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
/* Find room in the avail list. An exhausted page goes to the back of the
 * queue once, so the frees of a batch that just filled it find it there
 * without a slow path; found exhausted again, it is parked as full. */
static page_t *find_page(heap_t *h, unsigned cls) {
    page_t *pg;
    while ((pg = h->avail[cls].first) != NULL) {
        if (list_end(pg->free)) page_refill_collect(pg);
        if (list_end(pg->free)) page_extend(pg);
        if (list_end(pg->free) && pg->holes) page_fill_holes(pg);
        if (!list_end(pg->free)) { pg->passed = 0; return pg; }
        if (!pg->passed && pg->next) {
            pg->passed = 1;
            page_queue_remove(&h->avail[cls], pg);
            page_queue_append(&h->avail[cls], pg);
            continue;
        }
        page_to_full(h, pg);
    }
    return NULL;
}

NOINLINE void *small_refill(heap_t *h, unsigned cls) {
    if (h->placeholder) {
        if (h == &cairn_exited_heap) return heap_exit_alloc(cls);
        h = heap_for_thread();
        if (!h) return NULL;
    }
    if (atomic_load_explicit(&h->full_dirty, memory_order_relaxed)) heap_rescan_full(h);
    if (h->tick_countdown-- == 0) {         /* a clock read every 16 refills */
        h->tick_countdown = 15;
        uint64_t now = os_clock_ms();
        if (now >= h->sweep_at) {
            h->sweep_at = now + (purge_epoch_ms() > 10 ? purge_epoch_ms() : 10);
            heap_sweep(h);
        }
        purge_tick(h, now);
        if (cairn_opt.stats_interval_ms && !purge_thread_running()) ledger_sample_due(now);
    }
    page_t *pg = find_page(h, cls);
    if (!pg) {
        if (h->kept_pushed) h->kept_lend = KEEP_LEND_SWEEPS;   /* a page given back is wanted again */
        pg = page_alloc(h, cls);
        if (!pg) { heap_set_cur(h, cls); return NULL; }   /* errno is ENOMEM */
        page_extend(pg);
        list_push(&h->avail[cls], pg);
    }
    heap_set_cur(h, cls);
    return page_pop(h, pg, pg->free);
}

/* ---- slow frees --------------------------------------------------------- */
/* A local free emptied the page, or hit a parked page or one with holes
 * (b may be a block of a hole: freed already). An empty page goes back to
 * its segment unless it is the page the class allocates from. */
/* ---- kept empty pages --------------------------------------------------- */
/* A page that emptied and is not its class's current one. Giving it back
 * and taking it again a moment later costs a lock, the dirty-pool
 * bookkeeping and re-carving every block; a working set of a few pages
 * that empties and refills (a batch freed, then allocated again) paid
 * that each time. So such pages stay on their queue, blocks on
 * local_free, until a refill reaches them or a sweep finds them still
 * empty (heap_sweep). Pages with holes go back.
 * How many: KEEP_OWN per heap, and for pages of fewer than KEEP_LEND_BELOW
 * blocks up to KEEP_LENT_MAX more on loan from a process-wide pool of
 * KEEP_SHARED_MAX. Those large classes need the loan: a batch of a few
 * hundred of their blocks empties dozens of pages, and every page past
 * the budget was given back and re-carved on each round, a cost each of
 * their few blocks bears a large share of. Loans go only to a heap that
 * churns: one that, within the last KEEP_LEND_SWEEPS sweeps, pushed a
 * kept page out and then had to take a fresh page, or reused a page on
 * loan. A program that frees its peak once and goes quiet keeps no more
 * than before. The pool bounds what idle threads hold between them:
 * 1 MiB each, plus 32 MiB in all.
 * The budget goes to the pages that emptied last: with it spent, the one
 * kept longest goes back (the oldest of the heap's own, for a page that
 * cannot borrow). Otherwise pages of a class the program has moved away
 * from would hold the budget until the next sweep, and every page of the
 * class now in use would be given back and re-carved as it empties. */
static _Atomic uint32_t kept_shared;   /* sum over heaps of kept_lent */

uint32_t page_kept_shared(void) { return atomic_load_explicit(&kept_shared, memory_order_relaxed); }

static bool may_borrow(const page_t *pg) { return pg->reserved < KEEP_LEND_BELOW; }

/* A page of the pool for h, if h churns, may have one more, and the pool
 * has one. */
static bool pool_take(heap_t *h) {
    if (!h->kept_lend || h->kept_lent >= KEEP_LENT_MAX) return false;
    if (atomic_fetch_add_explicit(&kept_shared, 1, memory_order_relaxed) < KEEP_SHARED_MAX) return true;
    atomic_fetch_sub_explicit(&kept_shared, 1, memory_order_relaxed);
    return false;
}

/* The page to push out for pg: the oldest kept, or for a page that cannot
 * borrow, the oldest of the heap's own (there are KEEP_OWN of them). */
static page_t *keep_victim(const heap_t *h, const page_t *pg) {
    page_t *v = h->kept_first;
    if (!may_borrow(pg))
        while (v->kept_lent) v = v->kept_next;
    return v;
}

/* Keep pg: on a loan if it has one, else in one of the heap's own places,
 * pushing out the oldest if none is free. A victim on a loan passes it to
 * pg (taken again before the victim's page_unkeep gives it back). */
static void keep_place(heap_t *h, page_t *pg) {
    bool lent = false;
    if (h->kept_pages - h->kept_lent >= KEEP_OWN && !(may_borrow(pg) && (lent = pool_take(h)))) {
        page_t *v = keep_victim(h, pg);
        h->kept_pushed = 1;
        if ((lent = v->kept_lent) != 0) atomic_fetch_add_explicit(&kept_shared, 1, memory_order_relaxed);
        page_retire(h, v);               /* unkeeps it */
    }
    pg->kept_lent = lent;
    h->kept_lent += lent;
}

static void page_emptied(heap_t *h, page_t *pg) {
    if (pg->holes) {
        page_retire(h, pg);
        return;
    }
    keep_place(h, pg);
    pg->kept = KEEP_ONE_SWEEP;
    pg->kept_next = NULL;
    pg->kept_prev = h->kept_last;
    if (h->kept_last) h->kept_last->kept_next = pg;
    else h->kept_first = pg;
    h->kept_last = pg;
    h->kept_pages++;
    OWNER_ADD(h->kept_bytes, page_carved(pg));       /* statistics */
}

/* pg is taken into use again, or given back: no longer kept. It leaves
 * the kept order, which stays the order the pages emptied in, and gives
 * back its loan. */
void page_unkeep(heap_t *h, page_t *pg) {
    if (!pg->kept) return;
    pg->kept = KEEP_NO;
    if (pg->kept_prev) pg->kept_prev->kept_next = pg->kept_next;
    else h->kept_first = pg->kept_next;
    if (pg->kept_next) pg->kept_next->kept_prev = pg->kept_prev;
    else h->kept_last = pg->kept_prev;
    pg->sweep_sig = 0;                   /* the fields are the sweep's again */
    pg->freed_at = 0;
    h->kept_pages--;
    if (pg->kept_lent) {
        pg->kept_lent = 0;
        h->kept_lent--;
        atomic_fetch_sub_explicit(&kept_shared, 1, memory_order_relaxed);
    }
    OWNER_ADD(h->kept_bytes, -page_carved(pg));
}

/* The carved part of the page in whole OS pages, less its holes (purged):
 * what it can hold resident. Pages rarely have holes, and without -mpopcnt
 * the count is a libgcc call: only made when there are some. */
size_t page_touched(const page_t *pg) {
    size_t os_pg = os_page_size(), touched = align_up((size_t)pg->capacity * pg->block_size, os_pg);
    if (touched > PAGE_SIZE_) touched = PAGE_SIZE_;
    return pg->holes ? touched - (size_t)__builtin_popcount(pg->holes) * os_pg : touched;
}

void small_free_slow(block_t *b) {
    page_t *pg = small_page_of((uintptr_t)b);
    heap_t *h = pg->heap;
    if (unlikely(pg->holes && page_in_hole(pg, (uintptr_t)b))) cairn_fatal("double free of", b);
    if (pg->free_slow & PF_FULL) page_unfull(h, pg);
    if (page_used(pg) == 0 && h->cur[pg->cls] != pg) page_emptied(h, pg);
}

/* A free of another heap's block (or a stray pointer: its page's heap is
 * not ours either): the fast path's checks, with the capacity read
 * relaxed as its owner may be growing it, then a push on the page's
 * thread_free list. Everything read from the page is read before the push:
 * once b is in, the owner may recycle the page. It counts nothing else:
 * statistics find the remote frees not collected yet in the pages'
 * thread_free counts (stats.c), so a thread that only frees pays no
 * atomic add to a shared counter. */
NOINLINE void small_free_remote(void *p, size_t size) {
    page_t *pg = small_page_of((uintptr_t)p);
    int why = block_free_check((uintptr_t)p, size, pg->shared.recip, LOAD_RELAXED(pg->shared.start_lim),
                               LOAD_RELAXED(pg->shared.block_size), pg->shared.mark);
    if (why != FM_OK) free_misuse(p, why);
    block_t *b = p;
    heap_t *owner = page_segment(pg)->heap;
    uintptr_t key = pg->shared.key, end = (uintptr_t)page_end_mark(pg);
    uintptr_t old = atomic_load_explicit(&pg->thread_free, memory_order_relaxed), want;
    do {
        uintptr_t head = (uintptr_t)tf_head(old);
        b->next = (block_t *)((head ? head : end) ^ key);
        want = (uintptr_t)b | (old & TF_FULL) | (uintptr_t)(tf_count(old) + 1) << TF_COUNT_SHIFT;
    } while (!atomic_compare_exchange_weak_explicit(&pg->thread_free, &old, want,
                                                    memory_order_release, memory_order_relaxed));
    if (old & TF_FULL) atomic_store_explicit(&owner->full_dirty, 1, memory_order_release);
}

/* ---- the walk: live blocks of a page (owner, or heap lock) ------------------ */
static void mark_list(const page_t *pg, const block_t *b, uint64_t *bits) {
    uintptr_t start = page_start(pg);
    for (uint32_t n = 0; !list_end(b) && n <= pg->capacity; b = link_next(pg, b), n++) {
        uint32_t i = (uint32_t)(((uintptr_t)b - start) / pg->block_size);
        if (i < pg->capacity) bits[i / 64] |= (uint64_t)1 << (i % 64);
    }
}

/* Every carved block that is on no free list and in no hole: handed out.
 * (A block another thread freed and the owner has not collected yet is on
 * thread_free, so it counts as free here.) */
int page_walk_blocks(page_t *pg, walk_fn fn, void *arg) {
    uint64_t bits[PAGE_SIZE_ / 16 / 64] = { 0 };
    mark_list(pg, pg->free, bits);
    mark_list(pg, pg->local_free, bits);
    block_t *tf = tf_head(atomic_load_explicit(&pg->thread_free, memory_order_acquire));
    if (tf) mark_list(pg, tf, bits);
    uintptr_t start = page_start(pg);
    int total = 0;
    for (uint32_t i = 0; i < pg->capacity; i++) {
        uintptr_t a = start + (uintptr_t)i * pg->block_size;
        if ((bits[i / 64] >> (i % 64) & 1) || page_in_hole(pg, a)) continue;
        walk_item_t it = { .kind = W_BLOCK, .heap = pg->heap, .owned = true, .page = pg,
                           .addr = (const void *)a, .size = pg->block_size };
        int r = fn(&it, arg);
        if (r == WALK_STOP) return r;
        total += r;
    }
    return total;
}

