/* Large blocks (above SMALL_MAX up to LARGE_MAX): variable-size blocks
 * with boundary tags inside large segments (one 4 MiB chunk, or several
 * for blocks that need more), indexed by TLSF (two-level segregated fit):
 * a first-level bitmap over powers of two and a second-level bitmap of 16
 * subranges each, so finding a free block that fits, splitting it and
 * merging freed neighbours are all O(1).
 * Several arenas, each behind its own mutex; a thread uses the arena of
 * its heap, a free goes to the arena that owns the segment.
 * Free blocks carry an estimate of how many of their bytes may be
 * resident (`dirty`); purging takes the oldest dirty blocks out of the
 * index, returns their pages with the lock dropped, and puts them back. */
#include "internal.h"
#include <errno.h>
#include <sched.h>
#include <string.h>

#define MAX_ARENAS 64
#define PURGE_BATCH 16           /* blocks taken out per lock hold */
static arena_t arenas[MAX_ARENAS];
static unsigned n_arenas = 1;

/* ---- boundary tags ----------------------------------------------------------- */
static inline size_t lb_size(const lblock_t *b) { return b->size_flags & LB_SIZE_MASK; }
static inline bool lb_free(const lblock_t *b) { return b->size_flags & LB_FREE; }
/* Free and in the index (not being purged): may be merged or allocated. */
static inline bool lb_mergeable(const lblock_t *b) {
    return (b->size_flags & (LB_FREE | LB_BUSY)) == LB_FREE;
}
static inline lblock_t *lb_next(lblock_t *b) { return (lblock_t *)((char *)b + lb_size(b)); }
static inline lblock_t *lb_prev(lblock_t *b) { return (lblock_t *)((char *)b - b->prev_size); }
static inline uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static void lb_set(lblock_t *b, size_t size, size_t flags) {
    b->size_flags = LB_MAGIC | size | flags;
    if (size) lb_next(b)->prev_size = size;
}

static bool tag_ok(const lblock_t *b) {
    return (b->size_flags & ~(LB_SIZE_MASK | LB_FLAGS)) == LB_MAGIC;
}

/* The segment holding p (any chunk of it). */
static inline large_seg_t *lseg_of(const void *p) { return segmap_header(p); }
/* Address of the segment's sentinel (a zero-size "used" header). */
static inline uintptr_t lseg_end(const large_seg_t *s) { return (uintptr_t)s + s->size - LB_HDR; }

/* ---- the live and end bitmaps (types.h, large_seg_t) ------------------------ */
/* The bitmaps are interleaved, so the two words about the same 64 slots
 * share a cache line: word 2k holds live bits, word 2k + 1 end bits. */
static inline uint64_t *live_word(const large_seg_t *s, unsigned slot) {
    return (uint64_t *)&s->bits[2 * (slot / 64)];
}
static inline uint64_t *end_word(const large_seg_t *s, unsigned slot) {
    return (uint64_t *)&s->bits[2 * (slot / 64) + 1];
}

/* Set or clear one bit of a bitmap word (arena lock held). */
static void bit_mark(uint64_t *word, unsigned slot, bool on) {
    uint64_t w = LOAD_RELAXED(*word), bit = (uint64_t)1 << (slot % 64);
    STORE_RELAXED(*word, on ? w | bit : w & ~bit);
}

static inline unsigned slot_of(const large_seg_t *s, uintptr_t a) {
    return (unsigned)((a - (uintptr_t)s) / LB_GRAIN);
}

/* Slot of the last 64 bytes of live block b's payload. */
static inline unsigned end_slot(const large_seg_t *s, const lblock_t *b) {
    return slot_of(s, (uintptr_t)b + LB_HDR) + (unsigned)(lb_size(b) / LB_GRAIN) - 1;
}

/* Mark or unmark b as live (arena lock held). */
static void live_mark(large_seg_t *s, lblock_t *b, bool on) {
    unsigned i = slot_of(s, (uintptr_t)b + LB_HDR);
    bit_mark(live_word(s, i), i, on);
}

/* Set or clear b's end bit, for b's current size (arena lock held). */
static void end_mark(large_seg_t *s, lblock_t *b, bool on) {
    unsigned i = end_slot(s, b);
    bit_mark(end_word(s, i), i, on);
}

/* Is p the payload of a live block of s? Needs no lock: one relaxed load. */
static bool live_test(const large_seg_t *s, const void *p) {
    uintptr_t a = (uintptr_t)p;
    if (a & (LB_GRAIN - 1)) return false;
    unsigned i = slot_of(s, a);
    return LOAD_RELAXED(*live_word(s, i)) >> (i % 64) & 1;
}

/* Does the end bitmap agree with b's own tag about where b ends? */
static bool end_test(const large_seg_t *s, const lblock_t *b) {
    unsigned i = end_slot(s, b);
    return LOAD_RELAXED(*end_word(s, i)) >> (i % 64) & 1;
}

/* Usable bytes of live payload p read from the end bitmap alone (no lock:
 * the bits of p's block change only when its owner resizes or frees it),
 * or 0 when its end lies END_SCAN words on or more: read the tag then. */
#define END_SCAN 4
static size_t end_usable(const large_seg_t *s, const void *p) {
    unsigned i = slot_of(s, (uintptr_t)p), n = (unsigned)(s->size / LB_GRAIN);
    unsigned stop = i / 64 * 64 + END_SCAN * 64 < n ? i / 64 * 64 + END_SCAN * 64 : n;
    uint64_t w = LOAD_RELAXED(*end_word(s, i)) >> (i % 64) << (i % 64);
    unsigned at = i / 64 * 64;
    while (!w && (at += 64) < stop) w = LOAD_RELAXED(*end_word(s, at));
    if (!w) return 0;
    unsigned last = at + (unsigned)__builtin_ctzll(w);
    return (size_t)(last - i + 1) * LB_GRAIN - LB_HDR;
}

/* Why p, which is not live, was passed in: a block freed before (its header,
 * or the stale header of a block merged into a neighbour, says free), or
 * something that was never a block. Reads only inside the segment. */
static const char *not_live_reason(const large_seg_t *s, const void *p, const char *dbl,
                                   const char *inv) {
    uintptr_t a = (uintptr_t)p;
    if ((a & 15) || a < (uintptr_t)s + s->first + LB_HDR) return inv;
    const lblock_t *h = (const lblock_t *)(a - LB_HDR);
    return tag_ok(h) && lb_free(h) ? dbl : inv;
}

/* The block of live payload p, with its own tag checked and, with
 * `next` set, the next block's tag that must agree with it; else fatal.
 * The arena lock (if held) is released first so an abort handler can
 * allocate. */
static lblock_t *live_block_tags(arena_t *a, const large_seg_t *s, void *p, const char *dbl,
                                 const char *inv, bool next) {
    if (unlikely(!live_test(s, p))) {
        if (a) pthread_mutex_unlock(&a->lock);
        cairn_fatal(not_live_reason(s, p, dbl, inv), p);
    }
    lblock_t *b = (lblock_t *)((uintptr_t)p - LB_HDR);
    size_t size = lb_size(b);
    if (unlikely(!tag_ok(b) || lb_free(b) || size < LB_MIN || (uintptr_t)b + size > lseg_end(s) ||
                 !end_test(s, b) || (next && lb_next(b)->prev_size != size))) {
        if (a) pthread_mutex_unlock(&a->lock);
        cairn_fatal("heap corruption: overwritten header of large block", p);
    }
    return b;
}

static lblock_t *live_block(arena_t *a, const large_seg_t *s, void *p, const char *dbl,
                            const char *inv) {
    return live_block_tags(a, s, p, dbl, inv, true);
}

/* ---- TLSF index ------------------------------------------------------------------ */
static void mapping(size_t size, unsigned *fl, unsigned *sl) {
    if (size < 256) { *fl = 0; *sl = (unsigned)(size >> 4); return; }
    unsigned b = 63u - (unsigned)__builtin_clzl(size);
    *fl = b - 7;
    *sl = (unsigned)(size >> (b - SL_LOG)) & (SL_COUNT - 1);
}

/* The size a search for `size` looks for: rounded up to the start of the
 * next second-level range, so every block of the list found fits. */
static size_t search_size(size_t size) {
    if (size < 256) return size;
    return size + ((size_t)1 << (63u - (unsigned)__builtin_clzl(size) - SL_LOG)) - 1;
}

/* Index of the first list whose every block is >= size. */
static void mapping_search(size_t size, unsigned *fl, unsigned *sl) {
    mapping(search_size(size), fl, sl);
}

static void dirty_remove(arena_t *a, lblock_t *b) {
    if (b->prev_dirty) b->prev_dirty->next_dirty = b->next_dirty;
    else a->dirty_head = b->next_dirty;
    if (b->next_dirty) b->next_dirty->prev_dirty = b->prev_dirty;
    else a->dirty_tail = b->prev_dirty;
}

static void dirty_append(arena_t *a, lblock_t *b) {
    b->next_dirty = NULL;
    b->prev_dirty = a->dirty_tail;
    if (a->dirty_tail) a->dirty_tail->next_dirty = b;
    else a->dirty_head = b;
    a->dirty_tail = b;
}

static void free_remove(arena_t *a, lblock_t *b) {
    unsigned fl, sl;
    mapping(lb_size(b), &fl, &sl);
    if (b->prev_free) b->prev_free->next_free = b->next_free;
    else a->heads[fl][sl] = b->next_free;
    if (b->next_free) b->next_free->prev_free = b->prev_free;
    if (!a->heads[fl][sl]) {
        a->sl_bitmap[fl] &= ~(1u << sl);
        if (!a->sl_bitmap[fl]) a->fl_bitmap &= ~(1u << fl);
    }
    if (b->size_flags & LB_DIRTY) dirty_remove(a, b);
    decay_sub(&a->decay, b->dirty);
}

/* Make b a free block of `size` in the index, `dirty` of its bytes perhaps
 * resident (freed at `when`); `keep`: LB_PURGED, LB_ZERO and LB_ZPAGES, as
 * they hold for it (a part of a block keeps the block's: a split writes
 * only the new part's fields, which no zero flag covers). */
static void free_insert(arena_t *a, lblock_t *b, size_t size, uint64_t dirty, uint64_t when,
                        size_t keep) {
    unsigned fl, sl;
    lb_set(b, size, LB_FREE | keep | (dirty ? LB_DIRTY : 0));
    mapping(size, &fl, &sl);
    b->prev_free = NULL;
    b->next_free = a->heads[fl][sl];
    if (b->next_free) b->next_free->prev_free = b;
    a->heads[fl][sl] = b;
    a->sl_bitmap[fl] |= 1u << sl;
    a->fl_bitmap |= 1u << fl;
    b->dirty = dirty;
    b->freed_at = when;
    decay_add(&a->decay, dirty);
    if (dirty) dirty_append(a, b);
}

#define EXACT_SCAN 8           /* blocks looked at in the request's own list */

/* The smallest of the first few blocks in size's own list that fit, or
 * NULL: a closer fit than the rounded-up search gives, so big blocks are
 * not cut from even bigger ones while one of the right size waits. */
static lblock_t *exact_fit(arena_t *a, size_t size) {
    unsigned fl, sl;
    mapping(size, &fl, &sl);
    if (fl >= FL_COUNT) return NULL;
    lblock_t *best = NULL;
    unsigned n = 0;
    for (lblock_t *b = a->heads[fl][sl]; b && n < EXACT_SCAN; b = b->next_free, n++)
        if (lb_size(b) >= size && (!best || b < best)) best = b;
    return best;
}

/* The lowest-addressed of the first few blocks of a list. */
static lblock_t *lowest_of(lblock_t *b) {
    lblock_t *best = b;
    for (unsigned n = 0; b && n < EXACT_SCAN; b = b->next_free, n++)
        if (b < best) best = b;
    return best;
}

static lblock_t *find_fit(arena_t *a, size_t size) {
    unsigned fl, sl;
    lblock_t *b = exact_fit(a, size);
    if (b) return b;
    mapping_search(size, &fl, &sl);
    if (fl >= FL_COUNT) return NULL;
    uint32_t slm = a->sl_bitmap[fl] & (~0u << sl);
    if (!slm) {
        uint32_t flm = fl + 1 < 32 ? a->fl_bitmap & (~0u << (fl + 1)) : 0;
        if (!flm) return NULL;
        fl = (unsigned)__builtin_ctz(flm);
        slm = a->sl_bitmap[fl];
    }
    return lowest_of(a->heads[fl][__builtin_ctz(slm)]);
}

/* ---- segments ----------------------------------------------------------------------- */
#define LSEG_MAX ((size_t)32 << 20)    /* largest segment grown for no single block */

/* Smallest segment (a multiple of SEG_SIZE) whose one free block holds
 * need, and at least a quarter of what the arena holds already (up to
 * LSEG_MAX): fewer, larger segments leave fewer segment ends where free
 * space cannot merge, and untouched parts of a segment cost no memory. */
static size_t seg_size_for(const arena_t *a, size_t need) {
    size_t size = align_up((size_t)(a->seg_bytes / 4), SEG_SIZE);
    if (size > LSEG_MAX) size = LSEG_MAX;
    if (size < SEG_SIZE) size = SEG_SIZE;
    while (size - lseg_first(size) - LB_HDR < need) size += SEG_SIZE;
    return size;
}

static void seg_map(large_seg_t *s, bool on) {
    for (unsigned k = 0; k < s->chunks; k++)
        segmap_set((uintptr_t)s + (size_t)k * SEG_SIZE,
                   !on ? MAP_NONE : k == 0 ? MAP_LARGE : MAP_BACK + k - 1);
}

/* A new segment with one free block of at least `need` bytes. A recycled
 * 4 MiB segment from the cache may be resident; a fresh mapping is not. */
static bool arena_grow(arena_t *a, size_t need) {
    size_t size = seg_size_for(a, need);
    uint64_t resident = 0;
    large_seg_t *s = size == SEG_SIZE ? seg_cache_take(&resident) : NULL;
    size_t fresh = s ? 0 : LB_ZERO;
    if (!s && !(s = os_map_aligned(size, SEG_SIZE, 0))) return false;  /* zeroed */
    if (!segmap_prepare((uintptr_t)s, size)) {
        if (fresh) os_unmap(s, size);
        else seg_cache_put(s, resident);
        return false;
    }
    if (!fresh) memset(s, 0, sizeof *s + 2 * (size / LB_GRAIN / 8));  /* header and bitmaps */
    s->kind = SEG_LARGE;
    s->chunks = (uint8_t)(size / SEG_SIZE);
    s->size = size;
    s->first = lseg_first(size);
    s->arena = a;
    s->next = a->segs;
    if (a->segs) a->segs->prev = s;
    a->segs = s;
    a->nsegs++;
    a->seg_bytes += size;
    lblock_t *b = (lblock_t *)((char *)s + s->first);
    size_t bsize = size - s->first - LB_HDR;
    b->prev_size = 0;
    ((lblock_t *)lseg_end(s))->size_flags = LB_MAGIC;       /* sentinel: size 0, in use */
    free_insert(a, b, bsize, min64(resident, bsize), os_clock_ms(), fresh);
    seg_map(s, true);
    return true;
}

static bool whole_segment(lblock_t *b) {
    return b->prev_size == 0 && lb_size(lb_next(b)) == 0;
}

/* Take the entirely free segment whose block is b out of the arena; the
 * caller unmaps it once the lock is dropped. */
static large_seg_t *seg_unlink(arena_t *a, lblock_t *b) {
    large_seg_t *s = lseg_of(b);
    free_remove(a, b);
    if (s->prev) s->prev->next = s->next;
    else a->segs = s->next;
    if (s->next) s->next->prev = s->prev;
    a->nsegs--;
    a->seg_bytes -= s->size;
    seg_map(s, false);
    return s;
}

/* ---- allocation -------------------------------------------------------------------- */
static size_t block_need(size_t size) {
    size_t need = align_up(size + LB_HDR, LB_GRAIN);
    return need < LB_MIN ? LB_MIN : need;
}

/* Hand out `need` bytes of free block b with the payload aligned to align:
 * a gap in front and the tail stay free. The block's dirty bytes go first
 * to the part handed out (reused memory), the rest to gap and tail. *zero
 * gets what is known zero of it (LB_KNOWN_ZERO flags). */
static lblock_t *carve(arena_t *a, lblock_t *b, size_t need, size_t align, size_t *zero) {
    uint64_t d = b->dirty, when = b->freed_at;
    size_t keep = b->size_flags & (LB_PURGED | LB_KNOWN_ZERO), purged = keep & LB_PURGED, size = lb_size(b);
    free_remove(a, b);
    *zero = keep & LB_KNOWN_ZERO;
    uint64_t mine = min64(d, need);
    d -= mine;
    if (purged) stats_refault(need - mine);
    uintptr_t p = (uintptr_t)b + LB_HDR, ap = align_up(p, align);
    while (ap != p && ap - p < LB_MIN) ap += align;
    if (ap != p) {
        size_t gap = ap - p;
        uint64_t dg = min64(d, gap);
        d -= dg;
        free_insert(a, b, gap, dg, when, keep);
        b = (lblock_t *)(ap - LB_HDR);
        size -= gap;
    }
    lb_set(b, size, 0);
    if (size - need >= LB_MIN) {
        lb_set(b, need, 0);
        free_insert(a, lb_next(b), size - need, min64(d, size - need), when, keep);
    }
    large_seg_t *s = lseg_of(b);
    live_mark(s, b, true);
    end_mark(s, b, true);
    return b;
}

/* Take `need` bytes (aligned) of free block b of a, whose lock the caller
 * holds, and drop the lock. */
static void *take(arena_t *a, lblock_t *b, size_t need, size_t align, size_t *zero) {
    b = carve(a, b, need, align, zero);
    a->nalloc++;
    a->live_bytes += lb_size(b) - LB_HDR;
    decay_observe(&a->decay);
    pthread_mutex_unlock(&a->lock);
    return (char *)b + LB_HDR;
}

/* Before arena a grows, a block that fits from another arena whose lock is
 * free: memory other threads freed serves this one rather than a new
 * segment (and its free goes back there, to its segment's arena). */
static void *borrow(const arena_t *a, size_t need, size_t want, size_t align, size_t *zero) {
    for (unsigned k = 1; k < n_arenas; k++) {
        arena_t *o = &arenas[(a->index + k) % n_arenas];
        if (pthread_mutex_trylock(&o->lock) != 0) continue;
        lblock_t *b = find_fit(o, want);
        if (b) return take(o, b, need, align, zero);
        pthread_mutex_unlock(&o->lock);
    }
    return NULL;
}

void *large_alloc(arena_t *a, size_t size, size_t align, size_t *zero) {
    size_t need = block_need(size);
    size_t want = align > LB_GRAIN ? need + align + LB_MIN : need;
    pthread_mutex_lock(&a->lock);
    lblock_t *b = find_fit(a, want);
    if (!b && n_arenas > 1) {
        pthread_mutex_unlock(&a->lock);
        void *p = borrow(a, need, want, align, zero);
        if (p) return p;
        pthread_mutex_lock(&a->lock);
        b = find_fit(a, want);
    }
    if (!b && arena_grow(a, search_size(want))) b = find_fit(a, want);
    if (!b) { pthread_mutex_unlock(&a->lock); errno = ENOMEM; return NULL; }
    return take(a, b, need, align, zero);
}

/* ---- free ------------------------------------------------------------------------------- */
/* Merge free b (`dirty` of its bytes perhaps resident) with its mergeable
 * neighbours and index the result. A merged block holds a stale header
 * inside, so it is not known zero. */
static void coalesce_insert(arena_t *a, lblock_t *b, uint64_t dirty, uint64_t now) {
    size_t size = lb_size(b), keep = b->size_flags & (LB_PURGED | LB_KNOWN_ZERO);
    if (b->prev_size && lb_mergeable(lb_prev(b))) {
        lblock_t *p = lb_prev(b);
        dirty += p->dirty;
        keep = (keep | p->size_flags) & LB_PURGED;
        free_remove(a, p);
        size += lb_size(p);
        b->size_flags |= LB_FREE;      /* its stale header now reads as freed */
        b = p;
    }
    lblock_t *n = (lblock_t *)((char *)b + size);
    if (lb_mergeable(n)) {
        dirty += n->dirty;
        keep = (keep | n->size_flags) & LB_PURGED;
        free_remove(a, n);
        size += lb_size(n);
    }
    free_insert(a, b, size, dirty, now, keep);
}

void large_free(void *p, large_seg_t *s) {
    arena_t *a = s->arena;
    pthread_mutex_lock(&a->lock);
    lblock_t *b = live_block(a, s, p, "double free of", "invalid free of");
    live_mark(s, b, false);
    end_mark(s, b, false);
    a->nfree++;
    a->live_bytes -= lb_size(b) - LB_HDR;
    uint64_t now = os_clock_ms();
    b->size_flags = (b->size_flags & ~LB_FLAGS) | LB_FREE;
    coalesce_insert(a, b, lb_size(b), now);
    pthread_mutex_unlock(&a->lock);
    purge_tick(my_heap(), now);
}

/* Usable bytes of the live block p, or an abort naming the misuse. */
size_t large_usable_checked(const void *p, large_seg_t *s, const char *freed, const char *invalid) {
    return lb_size(live_block(NULL, s, (void *)p, freed, invalid)) - LB_HDR;
}

/* The same without reading the tags: for a realloc that keeps the block as
 * it is. The size comes from the end bitmap (the tags sit beside user data,
 * each a cache miss of its own on a block not touched lately); only a
 * block that ends too far on for a short scan reads its own tag. A damaged
 * tag is still caught when the block is freed or resized. */
size_t large_usable_own(const void *p, large_seg_t *s, const char *freed, const char *invalid) {
    size_t u = live_test(s, p) ? end_usable(s, p) : 0;
    if (likely(u)) return u;
    return lb_size(live_block_tags(NULL, s, (void *)p, freed, invalid, false)) - LB_HDR;
}

size_t large_usable(const void *p, large_seg_t *s) {
    return large_usable_checked(p, s, "malloc_usable_size of freed pointer",
                                "malloc_usable_size of invalid pointer");
}

/* Grow live block b (size old) into its free successor n up to need. */
static void grow_into(arena_t *a, lblock_t *b, lblock_t *n, size_t old, size_t need) {
    uint64_t d = n->dirty, when = n->freed_at;
    size_t keep = n->size_flags & (LB_PURGED | LB_KNOWN_ZERO), total = old + lb_size(n);
    free_remove(a, n);
    uint64_t mine = min64(d, need - old);
    d -= mine;
    if (keep & LB_PURGED) stats_refault(need - old - mine);
    lb_set(b, total, 0);
    if (total - need >= LB_MIN) {
        lb_set(b, need, 0);
        free_insert(a, lb_next(b), total - need, min64(d, total - need), when, keep);
    }
    decay_observe(&a->decay);
}

/* Grow into a free successor or shrink by splitting, without moving. */
bool large_resize_inplace(void *p, large_seg_t *s, size_t size) {
    arena_t *a = s->arena;
    size_t need = block_need(size);
    pthread_mutex_lock(&a->lock);
    lblock_t *b = live_block(a, s, p, "realloc of freed pointer", "realloc of invalid pointer");
    size_t old = lb_size(b);
    if (need > old) {
        lblock_t *n = lb_next(b);
        if (!lb_mergeable(n) || old + lb_size(n) < need) {
            pthread_mutex_unlock(&a->lock);
            return false;
        }
        end_mark(s, b, false);
        grow_into(a, b, n, old, need);
    } else if (old - need >= LB_MIN) {
        end_mark(s, b, false);
        lb_set(b, need, 0);
        lblock_t *rest = lb_next(b);
        lb_set(rest, old - need, LB_FREE);
        coalesce_insert(a, rest, old - need, os_clock_ms());
    }
    end_mark(s, b, true);
    a->live_bytes = a->live_bytes + lb_size(b) - old;
    pthread_mutex_unlock(&a->lock);
    return true;
}

/* ---- purging ---------------------------------------------------------------------------- */
typedef struct claim {
    lblock_t *blk[PURGE_BATCH];
    large_seg_t *seg[PURGE_BATCH];
    bool zeroed[PURGE_BATCH];          /* the kernel purged blk[i]'s pages */
    unsigned nb, ns;
} claim_t;

/* Take up to `target` dirty bytes out of the index, oldest first, but
 * nothing freed after `young`: blocks become LB_BUSY, entirely free
 * segments (but the arena's last) leave the arena. Lock held. */
static uint64_t claim(arena_t *a, uint64_t target, uint64_t young, claim_t *c) {
    uint64_t got = 0;
    c->nb = c->ns = 0;
    while (got < target && c->nb < PURGE_BATCH && c->ns < PURGE_BATCH && a->dirty_head &&
           a->dirty_head->freed_at <= young) {
        lblock_t *b = a->dirty_head;
        got += b->dirty;
        if (whole_segment(b) && a->nsegs > 1) { c->seg[c->ns++] = seg_unlink(a, b); continue; }
        free_remove(a, b);
        b->size_flags |= LB_BUSY;
        c->blk[c->nb++] = b;
    }
    decay_purged(&a->decay, got);
    return got;
}

/* The OS pages wholly past free block b's fields, [*lo, *hi) (empty when
 * *hi <= *lo): what a purge returns and what LB_ZPAGES speaks of. */
static void whole_pages(const lblock_t *b, uintptr_t *lo, uintptr_t *hi) {
    size_t pg = os_page_size();
    *lo = align_up((uintptr_t)b + sizeof(lblock_t), pg);
    *hi = ((uintptr_t)b + lb_size(b)) & ~(uintptr_t)(pg - 1);
}

/* Return the claimed memory to the kernel (no lock held). */
static void release_claimed(claim_t *c) {
    for (unsigned i = 0; i < c->nb; i++) {
        uintptr_t lo, hi;
        whole_pages(c->blk[i], &lo, &hi);
        c->zeroed[i] = hi <= lo || os_purge((void *)lo, hi - lo);
    }
    for (unsigned i = 0; i < c->ns; i++) os_unmap(c->seg[i], c->seg[i]->size);
}

/* Put purged blocks back, clean (lock held). A purge writes nothing, so
 * what was known zero stays so; the kernel's purge makes the pages zero,
 * its refusal (locked memory) leaves their bytes. */
static void restore_claimed(arena_t *a, const claim_t *c, uint64_t now) {
    for (unsigned i = 0; i < c->nb; i++) {
        lblock_t *b = c->blk[i];
        size_t zero = (b->size_flags & LB_KNOWN_ZERO) | (c->zeroed[i] ? LB_ZPAGES : 0);
        b->size_flags = (b->size_flags & ~LB_FLAGS) | LB_FREE | LB_PURGED | zero;
        coalesce_insert(a, b, 0, now);
    }
}

/* Purge what the decay policy says is due in arena a (all when forced). */
static void arena_purge(arena_t *a, uint64_t now, bool force) {
    uint64_t young = force ? UINT64_MAX : now - purge_epoch_ms();
    pthread_mutex_lock(&a->lock);
    uint64_t target = decay_target(&a->decay, now, force);
    while (target) {
        claim_t c;
        uint64_t got = claim(a, target, young, &c);
        if (!c.nb && !c.ns) break;
        pthread_mutex_unlock(&a->lock);
        release_claimed(&c);
        pthread_mutex_lock(&a->lock);
        restore_claimed(a, &c, now);
        target = got >= target ? 0 : target - got;
    }
    pthread_mutex_unlock(&a->lock);
}

void arenas_purge(uint64_t now, bool force) {
    for (unsigned i = 0; i < n_arenas; i++) arena_purge(&arenas[i], now, force);
}

/* ---- arenas ------------------------------------------------------------------------------- */
void arenas_init(void) {
    cpu_set_t set;
    unsigned ncpu = 1;
    if (sched_getaffinity(0, sizeof set, &set) == 0) ncpu = (unsigned)CPU_COUNT(&set);
    unsigned n = cairn_opt.arenas ? cairn_opt.arenas : 2 * ncpu;
    n_arenas = n < 1 ? 1 : n > MAX_ARENAS ? MAX_ARENAS : n;
    for (unsigned i = 0; i < MAX_ARENAS; i++) {
        pthread_mutex_init(&arenas[i].lock, NULL);
        arenas[i].index = i;
    }
}

unsigned arenas_count(void) { return n_arenas; }
arena_t *arena_for(heap_t *h) { return &arenas[h->index % n_arenas]; }

void arenas_lock_all(void) {
    for (unsigned i = 0; i < n_arenas; i++) pthread_mutex_lock(&arenas[i].lock);
}
void arenas_unlock_all(void) {
    for (unsigned i = n_arenas; i-- > 0;) pthread_mutex_unlock(&arenas[i].lock);
}
void arenas_reinit_child(void) {
    for (unsigned i = 0; i < n_arenas; i++) pthread_mutex_init(&arenas[i].lock, NULL);
}

void arenas_stats(arena_totals_t *t) {
    *t = (arena_totals_t){ 0 };
    for (unsigned i = 0; i < n_arenas; i++) {
        arena_t *a = &arenas[i];
        pthread_mutex_lock(&a->lock);
        t->nalloc += a->nalloc;
        t->nfree += a->nfree;
        t->live += a->live_bytes;
        t->segs += a->nsegs;
        t->seg_bytes += a->seg_bytes;
        t->dirty += a->decay.dirty;
        pthread_mutex_unlock(&a->lock);
    }
}

/* Dirty bytes of all arenas, read without locks (a trigger, not a figure). */
uint64_t arenas_dirty_hint(void) {
    uint64_t d = 0;
    for (unsigned i = 0; i < n_arenas; i++) d += LOAD_RELAXED(arenas[i].decay.dirty);
    return d;
}

/* ---- the walk ------------------------------------------------------------------------ */
static bool header_ok(const arena_t *a, const large_seg_t *s) {
    if (s->kind != SEG_LARGE || s->arena != a || segmap_header(s) != s || s->size != s->chunks * SEG_SIZE ||
        s->first != lseg_first(s->size))
        return false;
    for (unsigned k = 1; k < s->chunks; k++)
        if (segmap_header((const char *)s + (size_t)k * SEG_SIZE) != s) return false;
    return true;
}

/* The walk's view of block b (after prev, whose mergeable state is given). */
/* Is a block marked LB_ZERO or LB_ZPAGES zero where it says? The first
 * 4 KiB and the last 64 bytes of what it says is zero are read (reading
 * untouched or purged pages maps no memory): a sample, not a proof. */
static bool zero_sampled(const lblock_t *b) {
    const uint8_t *p = (const uint8_t *)b + sizeof(lblock_t), *end = (const uint8_t *)b + lb_size(b);
    if (!(b->size_flags & LB_ZERO)) {                 /* LB_ZPAGES: whole OS pages */
        uintptr_t lo, hi;
        whole_pages(b, &lo, &hi);
        if (hi <= lo) return true;
        p = (const uint8_t *)lo;
        end = (const uint8_t *)hi;
    }
    const uint8_t *head = end - p > 4096 ? p + 4096 : end, *tail = end - p > 64 ? end - 64 : p;
    uint8_t any = 0;
    for (const uint8_t *q = p; q < head; q++) any |= *q;
    for (const uint8_t *q = tail; q < end; q++) any |= *q;
    return any == 0;
}

static unsigned block_flags(const large_seg_t *s, lblock_t *b, bool prev_free) {
    unsigned f = 0;
    size_t sz = lb_size(b);
    if (lb_free(b)) f |= LW_FREE;
    if (b->size_flags & LB_BUSY) f |= LW_BUSY;
    if (b->size_flags & LB_DIRTY) f |= LW_DIRTY;
    if (live_test(s, (char *)b + LB_HDR)) f |= LW_LIVE_BIT;
    if (lb_mergeable(b) && prev_free) f |= LW_TWO_FREE;
    if (lb_mergeable(b) && (!!b->dirty != !!(b->size_flags & LB_DIRTY) || b->dirty > sz)) f |= LW_BAD_DIRTY;
    if ((b->size_flags & LB_KNOWN_ZERO) && (!lb_free(b) || !zero_sampled(b))) f |= LW_BAD_ZERO;
    return f;
}

/* One segment by boundary tags, checking each tag before stepping over it:
 * a broken tag is shown (LW_BAD_TAG) and ends the segment's walk. */
static int walk_lseg(arena_t *a, large_seg_t *s, walk_fn fn, void *arg) {
    walk_item_t it = { .kind = W_LARGE_SEG, .arena = a, .lseg = s, .addr = s, .size = s->size,
                       .flags = header_ok(a, s) ? 0 : LW_BAD_HEADER };
    int total = 0, r = fn(&it, arg);
    if (r == WALK_STOP || (it.flags & LW_BAD_HEADER)) return r;
    total += r;
    lblock_t *b = (lblock_t *)((char *)s + s->first), *end = (lblock_t *)lseg_end(s);
    size_t prev = 0;
    uint64_t live = 0, bits = 0, ends = 0, end_bits = 0;
    bool prev_free = false;
    it.kind = W_LARGE_BLOCK;
    while (b < end) {
        size_t sz = lb_size(b);
        bool bad = !tag_ok(b) || sz < LB_MIN || (uintptr_t)b + sz > (uintptr_t)end || b->prev_size != prev;
        it.addr = (char *)b + LB_HDR;
        it.size = sz;
        it.flags = bad ? LW_BAD_TAG : block_flags(s, b, prev_free);
        it.resident = !bad && lb_free(b) ? b->dirty : 0;
        if ((r = fn(&it, arg)) == WALK_STOP) return r;
        total += r;
        if (bad) return total;
        live += !lb_free(b);
        ends += !lb_free(b) && end_test(s, b);
        prev_free = lb_mergeable(b);
        prev = sz;
        b = lb_next(b);
    }
    for (unsigned i = 0; i < s->size / LB_GRAIN; i += 64) {
        bits += (uint64_t)__builtin_popcountll(*live_word(s, i));
        end_bits += (uint64_t)__builtin_popcountll(*end_word(s, i));
    }
    it.kind = W_LARGE_SEG_END;
    it.addr = b;
    it.flags = (b != end || lb_size(b) != 0 || b->prev_size != prev ? LW_BAD_END : 0) |
               (bits != live || end_bits != live || ends != live ? LW_BAD_BITS : 0);
    r = fn(&it, arg);
    return r == WALK_STOP ? r : total + r;
}

int arenas_walk(walk_fn fn, void *arg) {
    int total = 0, r = 0;
    for (unsigned i = 0; i < n_arenas && r != WALK_STOP; i++) {
        arena_t *a = &arenas[i];
        pthread_mutex_lock(&a->lock);
        walk_item_t it = { .kind = W_ARENA, .arena = a };
        r = fn(&it, arg);
        for (large_seg_t *s = a->segs; s && r != WALK_STOP; s = s->next) {
            total += r;
            r = walk_lseg(a, s, fn, arg);
        }
        if (r != WALK_STOP) {
            total += r;
            it.kind = W_ARENA_END;
            r = fn(&it, arg);
            if (r != WALK_STOP) total += r;
        }
        pthread_mutex_unlock(&a->lock);
    }
    return r == WALK_STOP ? WALK_STOP : total;
}

/* ---- checks of an arena's index, given what a walk counted (lock held) ---- */
#define PROBLEM(...) do { bad++; if (report) fprintf(report, __VA_ARGS__); } while (0)

static int check_index(arena_t *a, uint64_t *listed, FILE *report) {
    int bad = 0;
    for (unsigned fl = 0; fl < FL_COUNT; fl++) {
        if (!!(a->fl_bitmap >> fl & 1) != !!a->sl_bitmap[fl]) PROBLEM("arena %u: fl bitmap\n", a->index);
        for (unsigned sl = 0; sl < SL_COUNT; sl++) {
            if (!!(a->sl_bitmap[fl] >> sl & 1) != !!a->heads[fl][sl]) PROBLEM("arena %u: sl bitmap\n", a->index);
            for (lblock_t *b = a->heads[fl][sl]; b; b = b->next_free, (*listed)++) {
                unsigned f, l;
                mapping(lb_size(b), &f, &l);
                if (!lb_mergeable(b) || f != fl || l != sl || (b->next_free && b->next_free->prev_free != b)) {
                    PROBLEM("arena %u: free list %u/%u broken at %p\n", a->index, fl, sl, (void *)b);
                    break;
                }
            }
        }
    }
    return bad;
}

int arena_check_lists(arena_t *a, const large_tally_t *t, FILE *report) {
    int bad = 0;
    uint64_t listed = 0, dirty = 0;
    bad += check_index(a, &listed, report);
    for (lblock_t *b = a->dirty_head; b; b = b->next_dirty, dirty++)
        if (!lb_mergeable(b) || !(b->size_flags & LB_DIRTY)) { PROBLEM("arena %u: dirty list\n", a->index); break; }
    if (listed != t->free || dirty != t->dirty_blocks || t->segs != a->nsegs || t->seg_bytes != a->seg_bytes ||
        t->live_bytes != a->live_bytes || t->dirty_bytes != a->decay.dirty)
        PROBLEM("arena %u: counts disagree (free %llu/%llu dirty %llu/%llu live %llu/%llu dirty bytes %llu/%llu)\n",
                a->index, (unsigned long long)listed, (unsigned long long)t->free, (unsigned long long)dirty,
                (unsigned long long)t->dirty_blocks, (unsigned long long)t->live_bytes,
                (unsigned long long)a->live_bytes, (unsigned long long)t->dirty_bytes,
                (unsigned long long)a->decay.dirty);
    return bad;
}
