/* cairn internal types. Each field says who may touch it and what holds.
 *
 * Address space is carved into segments of SEG_SIZE bytes aligned to
 * SEG_SIZE, so any pointer finds its segment header by masking. The segment
 * map (segmap.c) says which 4 MiB chunks hold a cairn header, so a pointer
 * cairn never returned is recognised before its "header" is read.
 */
#ifndef CAIRN_TYPES_H
#define CAIRN_TYPES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- geometry ---------------------------------------------------------- */
#define SEG_SHIFT      22                      /* 4 MiB segments           */
#define SEG_SIZE       ((size_t)1 << SEG_SHIFT)
#define SEG_MASK       (SEG_SIZE - 1)
#define PAGE_SHIFT     16                      /* 64 KiB small pages       */
#define PAGE_SIZE_     ((size_t)1 << PAGE_SHIFT)
#define PAGES_PER_SEG  (SEG_SIZE / PAGE_SIZE_) /* 64; page 0 = header      */
#define OS_PAGE        4096u
#define ADDR_BITS      48                      /* what the segment map covers */

#define SMALL_MAX      16384u                  /* largest size class       */
#define NCLASSES       36                      /* 16..128 step 16, then 4/doubling */
#define LARGE_MAX      ((size_t)32 << 20)      /* above: direct mappings   */
#define REALLOC_TO_HUGE ((size_t)2 << 20)      /* realloc growth past this: a mapping */
#define MIN_ALIGN      16u
#define TF_FULL        ((uintptr_t)1)
#define TF_COUNT_SHIFT 48                      /* page_t.thread_free: count */
#define PF_FULL        1u                      /* page_t.free_slow bits    */
#define PF_HOLES       2u
/* Added to page_t.used while free_slow != 0. Two bits, so that used - 1 is
 * negative (as int32) even from a count of 0; counts stay below 2^30. */
#define USED_SLOW      0xC0000000u
/* Empty pages a heap keeps on its class queues (page_t.kept), the ones
 * that emptied last (heap_t.kept_first .. kept_last). KEEP_OWN of them
 * (1 MiB) are the heap's own. Pages holding fewer than KEEP_LEND_BELOW
 * blocks (blocks above 4 KiB) may also be kept on a loan from a
 * process-wide pool of KEEP_SHARED_MAX pages (32 MiB), up to KEEP_LENT_MAX
 * per heap (3 MiB), while the heap churns (heap_t.kept_lend; page.c,
 * page_emptied). A sweep (once an epoch, at
 * refills) gives back those that stayed empty since the sweep before. */
#define KEEP_OWN        16u
#define KEEP_LENT_MAX   48u
#define KEEP_EMPTY_MAX  (KEEP_OWN + KEEP_LENT_MAX)
#define KEEP_SHARED_MAX 512u
#define KEEP_LEND_BELOW 16u
#define KEEP_LEND_SWEEPS 2u
enum { KEEP_NO = 0, KEEP_ONE_SWEEP = 1, KEEP_SWEPT = 2 };
/* page_t.mem bits: what is known about a page's memory (owner, or seg_lock
 * while the page is free). */
#define PM_REFAULT     1u   /* purged before: handing it out refaults it     */
#define PM_ZERO_TAIL   2u   /* every byte past the carved blocks reads zero  */
#define PM_FREE_ZERO   4u   /* every block on `free` is zero past its link
                             * words (carved from a zero tail, not reused):
                             * calloc skips its memset (alloc.c)           */

/* Segment map values: what the 4 MiB chunk of an address holds. The kind
 * is here too, so free can tell a small block from the map byte alone. */
enum {
    MAP_NONE = 0,
    MAP_SMALL = 1,          /* small segment header at the masked address   */
    MAP_LARGE = 2,          /* large segment header at the masked address   */
    MAP_HUGE = 3,           /* huge header at the masked address            */
    MAP_ZERO = 4,           /* secure build: malloc(0) slots, PROT_NONE     */
    /* MAP_BACK + k - 1 (k = 1 .. MAP_BACK_MAX): the header governing this
     * chunk is k chunks below it (a large segment of several chunks, or a
     * huge block aligned to 4 MiB or more). */
    MAP_BACK = 8,
};
#define MAP_BACK_MAX (256u - MAP_BACK)

enum seg_kind { SEG_SMALL = 0x5A, SEG_LARGE = 0x1A, SEG_HUGE = 0x4B };

/* ---- locks and dirty-memory pools ------------------------------------- */
/* A spinlock for state that two parties touch briefly (a heap's free pages:
 * its owner thread and the purger). Never held across a system call. */
typedef struct lock { _Atomic int held; } lock_t;

/* A pool of dirty memory: free bytes that may still be resident, with the
 * lowest that figure has been in each of the last DECAY_EPOCHS epochs
 * (epoch = purge delay / DECAY_EPOCHS). Memory that stayed dirty through
 * the whole window was not reused, so the policy (purge.c) returns that
 * much, oldest first. Guarded by the lock of the structure it is in. */
#define DECAY_EPOCHS 4
typedef struct decay {
    uint64_t dirty;                  /* bytes (an upper bound)             */
    uint64_t low[DECAY_EPOCHS];      /* low-water mark of `dirty` per epoch */
    uint64_t epoch_end;              /* ms clock; 0 = no epoch yet         */
    unsigned cur;                    /* epoch whose low-water is running   */
} decay_t;

/* ---- small blocks ------------------------------------------------------ */
/* A free small block. Its link is stored encoded, `next ^ page->key`, and
 * every list of a page ends with the page's end mark (page start | 1: in
 * the page, never a block start), so a link read back must decode to an
 * address in the same 64 KiB page. `cookie` == page->mark (the page's
 * second secret) while the block is free; malloc clears both words, so a
 * second free of the same block sees the cookie, and a fresh block carries
 * no heap pointer. */
typedef struct block {
    struct block *next;
    uintptr_t cookie;
} block_t;

struct heap;

/* One 64 KiB page of a small segment, holding blocks of one class; 256
 * bytes: the first cache line holds all the owner's fast paths read, the
 * second all another thread's free reads and writes.
 * Invariant (owner's view, between calls), with page_used() = used - cur_bias:
 *   count(free) + count(local_free) + hole_blocks + page_used() == capacity <= reserved
 * where `used` still counts blocks sitting in thread_free until collected.
 * A page not in use has capacity == 0 and block_size == 0, so no pointer
 * into it passes the free-time block check. */
typedef struct page {
    /* ---- cache line 1: malloc and free -------------------------------- */
    block_t *free;                   /* owner: next blocks to hand out     */
    block_t *local_free;             /* owner: freed by owner, not yet reused */
    uintptr_t key;                   /* secret of this page's links        */
    struct heap *heap;               /* owner heap; fixed while in use     */
    uintptr_t mark;                  /* secret: the cookie of its free blocks */
    /* owner: blocks out (see invariant), plus USED_SLOW while free_slow is
     * nonzero, so one decrement and one signed test tell free both "the
     * page emptied" and "take the slow path" (fastpath.h). */
    uint32_t used;
    uint32_t block_size;             /* 0 when the page is not in use      */
    /* ceil(2^32 / block_size): exact division; 64 bits wide so the free
     * test multiplies by it straight from memory. */
    uint64_t recip;
    /* What the free-time block test compares against (fastpath.h); set
     * with the capacity by page_set_capacity. 0 when the page is not in use. */
    uint64_t start_lim;
    /* ---- cache line 2: other threads' frees --------------------------------- */
    /* Blocks freed by other threads: any thread pushes, the owner takes
     * all. Bit 0 (TF_FULL) is set by the owner while the page sits on the
     * full list; a remote free that sees it raises heap->full_dirty, so
     * the owner rescans its full pages. Keeping the flag in this word makes
     * "push" and "was it full?" one atomic step: the pusher never reads the
     * page again after its block went in (the page may be recycled then).
     * The word holds the head (0: empty) in bits 4..47 and, in bits 48..63
     * (TF_COUNT_SHIFT), how many blocks the list holds, so the owner takes
     * a list without walking it (each block was last written on another
     * core: a cache miss apiece). The links are encoded as above. */
    _Atomic(uintptr_t) thread_free __attribute__((aligned(64)));
    /* Copies of key, mark, recip, start_lim and block_size, written with
     * them, read by other threads' frees (small_free_remote) so that those
     * never read line 1, which the owner writes on every malloc and free:
     * a producer/consumer pair would otherwise move it between their cores
     * on every call (xmalloc). */
    struct {
        uintptr_t key, mark;
        uint64_t recip, start_lim;
        uint32_t block_size;
    } shared;
    /* ---- cache lines 3 and 4: the owner's slow paths --------------------- */
    /* In use: owner's avail[cls] or full queue. Free and dirty: the heap's
     * dirty queue (heap->seg_lock). */
    struct page *next __attribute__((aligned(64))), *prev;
    /* A kept page (kept != KEEP_NO) is in use and left out of the sweep's
     * fingerprinting, so two fields that only pages in use but not kept
     * (sweep_sig) or free pages (freed_at) need hold its links in the
     * heap's kept order (owner): kept_prev toward the page that emptied
     * first. */
    union {
        uintptr_t sweep_sig;         /* owner: list state at the last sweep */
        struct page *kept_prev;
    };
    union {
        uint64_t freed_at;           /* free pages (heap->seg_lock): ms clock when it became free */
        struct page *kept_next;
    };
    /* owner: local_free's head when it held exactly local_counted blocks
     * (remote ones put there whole); while local_free still has that
     * head no local free went onto it, so page_pending_local need not
     * walk. NULL when unknown. */
    block_t *local_exact;
    /* Bytes of it that may be resident. Kept through the page's next
     * page_init, so page_extend carves what is warm in one go. */
    uint32_t resident;
    /* owner: OS pages of this page purged while it is in use (bit j: the
     * j-th os_page_size() piece); every block overlapping a hole is free
     * and on no list, and hole_blocks counts them. */
    uint16_t holes;
    uint16_t hole_blocks;
    /* Blocks carved (owner writes, walks read relaxed) and blocks that fit:
     * at most 64 KiB / 16 B = 4096. */
    uint16_t capacity;
    uint16_t reserved;
    /* owner: blocks on local_free whose frees the statistics have counted
     * already (remote frees page_settle or a refill moved there), at most
     * its length; 0 once it is collected. */
    uint16_t local_counted;
    uint8_t idle_sweeps;             /* owner: sweeps that found it unchanged */
    /* owner: 1 while this is its class's current page; `used` then counts
     * one phantom block, so a free that empties the current page (the
     * common malloc/free pair) is no reason to leave the fast path. */
    uint8_t cur_bias;
    /* owner: nonzero when a free must take the slow path: PF_FULL (the
     * page is on the full list) | PF_HOLES (it has holes). Changed only
     * through page_slow_set/page_slow_clear, which keep USED_SLOW. */
    uint8_t free_slow;
    uint8_t cls;
    uint8_t in_use;
    uint8_t mem;                     /* owner: PM_* facts about its memory  */
    /* owner: an empty page kept on its class queue instead of going back
     * to its segment (KEEP_ONE_SWEEP since the last sweep, KEEP_SWEPT
     * after one), so a working set that empties and refills its pages
     * does not give them back and re-carve them each time (page.c). */
    uint8_t kept;
    uint8_t kept_lent;               /* owner: kept on a loan from the pool */
    uint8_t passed;                  /* owner: sent to the back of its queue exhausted */
} __attribute__((aligned(256))) page_t;
_Static_assert(sizeof(page_t) == 256, "page_t is four cache lines");

/* A segment of small pages, owned by one heap. Page 0 holds no blocks;
 * its page_t slot holds the header instead, so pages[] starts the segment
 * and the page of an address is the base plus a shifted offset
 * (small_page_of). The header's fields sit where page 0's page_t has
 * fields no code reads for a page not in use; page 0's recip, start_lim,
 * their copies, in_use and holes stay zero, so no pointer into page 0
 * passes free's block test. `kind` is the first byte, as in every segment
 * and huge header. `heap` is written when the segment is set up for a
 * heap (small_seg_new; a cached segment may go to another heap), so it is
 * fixed while any page of the segment is in use, and every page in use
 * has pg->heap == heap: free's owner test reads it from page 0's fourth
 * line, which no page_t field uses and nothing else writes.
 * (Reading pg->heap instead would make a remote free read line 1 of the
 * page, which its owner writes on every call.)
 * Masks, used_pages and the list links are guarded by heap->seg_lock.
 * Invariant: for i >= 1 exactly one of: pages[i].in_use, bit i of
 * free_mask (free, may be handed out), bit i of busy_mask (free, being
 * purged right now, not to be handed out). dirty_mask is a subset of
 * free_mask: free pages not purged since they were last used, and these
 * are exactly the pages on the heap's dirty queue. */
typedef struct small_seg {
    union {
        page_t pages[PAGES_PER_SEG];
        struct {
            /* page 0's line 1, written under seg_lock */
            uint8_t kind;                    /* SEG_SMALL                      */
            uint32_t used_pages;
            struct small_seg *next, *prev;   /* heap's segment list            */
            uint64_t free_mask;
            uint64_t dirty_mask;
            uint64_t busy_mask;
            char zero[0xc0 - 0x30];          /* page 0's recip, start_lim, ... */
            /* page 0's line 4: no page_t field is there, so free reads a
             * line written only when the segment is set up */
            struct heap *heap;               /* owner                          */
        };
    };
} small_seg_t;
_Static_assert(offsetof(small_seg_t, busy_mask) + 8 <= offsetof(page_t, recip) &&
               offsetof(small_seg_t, heap) >= offsetof(page_t, passed) + 1 &&
               offsetof(small_seg_t, heap) % 64 == 0,
               "the header overlaps only what page 0 never uses");

/* ---- large blocks (TLSF) ------------------------------------------------ */
#define FL_COUNT   26
#define SL_LOG     4
#define SL_COUNT   (1u << SL_LOG)
#define LB_GRAIN   64u                     /* block sizes and payloads: 64 B */
#define LB_MIN     64u                     /* smallest large block (bytes) */
#define LB_HDR     16u
#define LB_MAGIC   ((size_t)0xCA1Bu << 48)
#define LB_FREE    ((size_t)1)
#define LB_DIRTY   ((size_t)2)             /* free, dirty > 0, on the dirty list */
#define LB_BUSY    ((size_t)4)             /* free, taken out to be purged */
#define LB_PURGED  ((size_t)8)             /* holds pages purged before    */
/* free, and every payload byte past the free-block fields (the first
 * LB_ZERO_FROM) is zero: cut from a fresh mapping, never merged */
#define LB_ZERO    ((size_t)16)
#define LB_ZERO_FROM (sizeof(lblock_t) - LB_HDR)
/* free, and every OS page wholly past the free-block fields is zero: the
 * kernel purged them and nothing wrote there since (never merged) */
#define LB_ZPAGES  ((size_t)32)
#define LB_KNOWN_ZERO (LB_ZERO | LB_ZPAGES)
#define LB_FLAGS   ((size_t)0x3F)
#define LB_SIZE_MASK (((size_t)1 << 48) - 64)   /* sizes are multiples of LB_GRAIN */

/* Boundary-tag header of a large block: prev_size is the size of the block
 * just before (0 for the first of a segment), size_flags = LB_MAGIC | size |
 * flags, size counting the header and a multiple of LB_GRAIN, so every
 * payload is 64-byte aligned. Adjacent free blocks never exist: they are
 * merged at free time, and the header of a block merged into its
 * predecessor keeps LB_FREE (a stale header never looks live). The tags are
 * in-band, so they are never the authority on what is live: the segment's
 * `live` bitmap is. The free-only fields overlay the payload. */
typedef struct lblock {
    size_t prev_size;
    size_t size_flags;
    struct lblock *next_free, *prev_free;   /* TLSF list of its class      */
    struct lblock *next_dirty, *prev_dirty; /* arena dirty list (LB_DIRTY) */
    uint64_t freed_at;
    uint64_t dirty;                          /* bytes that may be resident  */
} lblock_t;

struct arena;

/* A large segment: one 4 MiB chunk, or several for blocks that do not fit
 * in one (up to LARGE_MAX), seen as slots of LB_GRAIN bytes. Two bitmaps
 * with a bit per slot, interleaved word by word in `bits` (large.c):
 * - live: bit i set <=> a live (handed out, not yet freed) block's payload
 *   starts at slot i. free, realloc and malloc_usable_size accept a
 *   pointer only when its bit is set, whatever the bytes in front of it say.
 * - end: bit j set <=> a live block's payload ends in slot j. So a live
 *   block's size is known without its tag (the first end bit at or after
 *   its live bit), and a tag whose size disagrees is caught.
 * Bits change under the arena lock; readers without it (usable size,
 * realloc) load words relaxed. The bitmaps (size / 256 bytes together) end
 * the header; the first block's payload is the next 64-byte boundary. */
typedef struct large_seg {
    uint8_t kind;                    /* SEG_LARGE                          */
    uint8_t chunks;                  /* size / SEG_SIZE                    */
    struct arena *arena;
    struct large_seg *next, *prev;   /* arena's segment list (arena lock)  */
    size_t size;                     /* bytes, a multiple of SEG_SIZE      */
    size_t first;                    /* offset of the first block header   */
    uint64_t pad[2];                 /* bitmap starts at byte 64           */
    uint64_t bits[];                 /* live and end bits, a word of each in turn */
} large_seg_t;
/* Offset of the first block header in a segment of `size` bytes. */
static inline size_t lseg_first(size_t size) {
    size_t hdr = sizeof(large_seg_t) + 2 * (size / LB_GRAIN / 8);
    return ((hdr + LB_HDR + LB_GRAIN - 1) & ~(size_t)(LB_GRAIN - 1)) - LB_HDR;
}

/* A large-block arena: TLSF index over its segments' free blocks.
 * Everything here is guarded by `lock`. decay.dirty is the sum of `dirty`
 * over the indexed free blocks, which are on the dirty list (oldest free
 * time first) exactly when that is non-zero. */
typedef struct arena {
    pthread_mutex_t lock;
    uint32_t fl_bitmap;
    uint32_t sl_bitmap[FL_COUNT];
    lblock_t *heads[FL_COUNT][SL_COUNT];
    large_seg_t *segs;
    lblock_t *dirty_head, *dirty_tail;     /* oldest first                */
    decay_t decay;
    uint64_t nalloc, nfree, live_bytes, nsegs, seg_bytes;
    unsigned index;
} arena_t;

/* ---- huge blocks ---------------------------------------------------------- */
/* Header at the start of a direct mapping; the user block is at
 * (char *)hdr + off. off < SEG_SIZE: map entry of the block's chunk says
 * MAP_HUGE; off == SEG_SIZE: MAP_BACK (alignment >= 4 MiB). */
typedef struct huge_hdr {
    uint8_t kind;                    /* SEG_HUGE                           */
    size_t map_size;                 /* whole mapping, header included     */
    size_t off;                      /* user pointer offset from header    */
    size_t size;                     /* usable bytes                       */
    struct huge_hdr *next, *prev;    /* global huge list (huge lock)       */
} huge_hdr_t;

/* ---- thread heaps ------------------------------------------------------- */
/* A doubly linked queue of pages (owner only): last == NULL iff first == NULL. */
typedef struct page_queue {
    page_t *first, *last;
} page_queue_t;

/* HEAP_EXIT: the heap shared by threads past their exit hook (heap.c). */
enum heap_state { HEAP_EMPTY = 0, HEAP_ACTIVE, HEAP_POOLED, HEAP_ORPHAN, HEAP_EXIT };

/* A thread's heap. Only its owner thread touches it, except full_dirty
 * (remote threads raise it), the state fields (heap lock), and its free
 * pages: segment list, masks, dirty queue and decay, guarded by seg_lock,
 * which the owner takes when it gets or gives back a page and the purger
 * takes (without waiting) to purge them.
 * cur[c] is never NULL: it points to a page with free blocks, or to the
 * static empty page, so the malloc fast path needs no NULL test. */
#define DIRECT_MAX 1024u                /* sizes served through heap->direct  */
#define DIRECT_N   (DIRECT_MAX / 16 + 1)

typedef struct heap {
    /* direct[(size + 15) / 16] == cur[class of size] for sizes up to
     * DIRECT_MAX, so malloc needs no class lookup for them. */
    page_t *direct[DIRECT_N];
    page_t *cur[NCLASSES];
    page_queue_t avail[NCLASSES];    /* pages of the class, may have room  */
    page_queue_t full;               /* pages with no room when last seen  */
    _Atomic int full_dirty;          /* a full page got a remote free      */
    small_seg_t *segs;               /* all small segments (seg_lock)      */
    lock_t seg_lock;
    page_queue_t dirty;              /* free dirty pages, oldest first     */
    decay_t decay;                   /* dirty bytes of those pages         */
    /* Counters for statistics, kept off the fast paths (owner writes, read
     * racily): frees counted when the owner collects them (local and
     * remote), and reallocs. Remote frees not collected yet are read from
     * the pages' thread_free counts, and malloc counts follow from these
     * and the pages' used counts (stats.c). With
     * CAIRN_EXACT_COUNTS the fast paths count every call in nmalloc/nfree. */
    uint64_t local_frees;                       /* collected local frees   */
    uint64_t remote_in;                         /* collected remote frees  */
    uint64_t nrealloc, nmalloc, nfree;
    uint64_t key_state;              /* owner: source of page keys         */
    uint32_t tick_countdown;         /* refills until the next purge check */
    uint32_t kept_pages;             /* owner: pages with page_t.kept set   */
    uint32_t kept_lent;              /* owner: those of them on a loan      */
    /* owner: the heap churns through pages (kept_pushed: the budget pushed
     * a kept page out since the last sweep; a fresh page taken after that,
     * or a page on loan reused, sets kept_lend to the sweeps, 2, during
     * which loans may be taken) */
    uint8_t kept_pushed, kept_lend;
    uint64_t kept_bytes;             /* owner: page_carved() of those pages */
    /* owner: those pages, linked in the order they emptied (kept_first the
     * first); exactly the pages with page_t.kept set (cairn_check_heap) */
    page_t *kept_first, *kept_last;
    uint64_t sweep_at;               /* owner: ms clock of the next sweep  */
    arena_t *arena;                  /* large blocks of this thread        */
    int state;                       /* heap lock                          */
    uint8_t placeholder;             /* the static empty and exited heaps  */
    unsigned index;                  /* creation order; picks the arena    */
    struct heap *next_all;           /* global heap list (append-only)     */
    struct heap *next_pool;          /* pool of heaps without a thread     */
} heap_t;

#endif
