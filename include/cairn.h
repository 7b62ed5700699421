/* cairn: a drop-in malloc replacement.
 *
 * Every standard allocation function is also available under a cairn_
 * prefix. The standard names (malloc, free, ...) are exported by libcairn.so
 * and libcairn.a; the prefixed names are always there, so a program (or a
 * sanitizer build) can call cairn directly while the system malloc stays in
 * place.
 */
#ifndef CAIRN_H
#define CAIRN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_VERSION_MAJOR 1
#define CAIRN_VERSION_MINOR 1
#define CAIRN_VERSION_PATCH 0

/* ---- the standard family, glibc semantics ---------------------------- */
void  *cairn_malloc(size_t size);
void   cairn_free(void *p);
void  *cairn_calloc(size_t n, size_t size);
void  *cairn_realloc(void *p, size_t size);
void  *cairn_reallocarray(void *p, size_t n, size_t size);
void  *cairn_memalign(size_t alignment, size_t size);
void  *cairn_aligned_alloc(size_t alignment, size_t size);
int    cairn_posix_memalign(void **out, size_t alignment, size_t size);
void  *cairn_valloc(size_t size);
void  *cairn_pvalloc(size_t size);
size_t cairn_malloc_usable_size(void *p);
void   cairn_free_sized(void *p, size_t size);
void   cairn_free_aligned_sized(void *p, size_t alignment, size_t size);
int    cairn_malloc_trim(size_t pad);

/* ---- statistics -------------------------------------------------------- */
/* The fields up to peak_rss_bytes are those of cairn 1.0, in its order.
 * Later fields are appended, never reordered: cairn_stats_get fills as many
 * bytes as the caller's struct has (its sizeof, passed by the macro below),
 * and `size` says how many it filled, so a program built against an older
 * header keeps working with a newer library and the other way round. */
typedef struct cairn_stats {
    uint64_t malloc_calls;     /* every successful allocation (any entry)  */
    uint64_t free_calls;       /* every free of a non-NULL pointer         */
    uint64_t realloc_calls;
    uint64_t live_blocks;      /* allocations not yet freed                */
    uint64_t live_bytes;       /* usable bytes of live small/large/huge    */
    uint64_t small_live_blocks, large_live_blocks, huge_live_blocks;
    uint64_t mapped_bytes;     /* address space held from the OS now       */
    uint64_t peak_mapped_bytes;    /* high-water mark of mapped_bytes      */
    uint64_t resident_bytes;   /* process RSS now (/proc/self/statm)       */
    uint64_t mmap_calls, munmap_calls, purge_calls;
    uint64_t purged_bytes;     /* total bytes returned with madvise        */
    uint64_t segments;         /* 4 MiB segments held (small + large)      */
    uint64_t huge_mappings;
    uint64_t heaps, abandoned_heaps;
    uint64_t peak_rss_bytes;   /* from getrusage(RUSAGE_SELF)              */
    /* ---- since 1.1 ---- */
    uint64_t size;             /* bytes of this struct that were filled    */
    /* Free memory not yet given back to the kernel (upper bounds: a free
     * page or block counts whole unless it is known to be purged). */
    uint64_t dirty_bytes;      /* the three parts below + dirty_kept_bytes */
    uint64_t dirty_small_bytes;    /* free small pages                     */
    uint64_t dirty_large_bytes;    /* free space in large arenas           */
    uint64_t dirty_cached_bytes;   /* cached segments and huge mappings    */
    /* Purged memory handed out again: each such byte costs a page fault
     * when first touched (an upper bound on refaults caused by purging). */
    uint64_t refault_bytes;
    uint64_t cached_segments;  /* free 4 MiB segments kept for reuse       */
    uint64_t cached_huge_mappings, cached_huge_bytes;
    uint64_t background_purger;    /* 1 while the purger thread runs       */
    /* 0: small-block call counts derived from page state (libcairn.so);
     * 1: every small malloc and free counted (libcairn-stats.so). */
    uint64_t stats_level;
    /* Empty small pages a heap keeps on its class queues, so a working set
     * that empties and refills needs no re-carving (at most 16 per heap;
     * the sweep gives back those a sweep interval did not reuse): the
     * bytes of their carved blocks. Part of dirty_bytes. */
    uint64_t dirty_kept_bytes;
} cairn_stats_t;

/* Fills the first `size` bytes of *out with a snapshot (size is normally
 * sizeof *out; use the cairn_stats_get macro). Counters of other threads
 * are read without stopping them, so a snapshot taken while threads run is
 * approximate. */
void cairn_stats_get_sized(cairn_stats_t *out, size_t size);
/* The 1.0 entry point: fills the 1.0 fields only. */
void cairn_stats_get(cairn_stats_t *out);
#define cairn_stats_get(out) cairn_stats_get_sized((out), sizeof *(out))
/* Human-readable report (what CAIRN_STATS=1 prints at exit). */
void cairn_stats_print(FILE *f);
/* The options in force, one per line (CAIRN_VERBOSE=1 prints them at start). */
void cairn_options_print(FILE *f);

/* ---- the ledger: where the memory is ----------------------------------- */
/* cairn's resident memory split into parts that add up to `total`, each
 * with a bound on its error (0 where it is exact): see docs/DESIGN.md
 * ("The ledger") and cairn_ledger_part_name() for the parts. `rss` is the
 * kernel's figure (/proc/self/smaps_rollup) and `other` = rss - total, the
 * program's own memory plus the estimates' error. */
#define CAIRN_LEDGER_PARTS 8
typedef struct cairn_ledger {
    uint64_t size;                          /* bytes of this struct filled */
    uint64_t part[CAIRN_LEDGER_PARTS];
    uint64_t error[CAIRN_LEDGER_PARTS];
    uint64_t total, rss;
    int64_t other;
    uint64_t mapped, not_resident;          /* cairn's address space, and the part of it not resident */
    uint64_t large_free_blocks, large_free_largest;
} cairn_ledger_t;
void cairn_ledger_get_sized(cairn_ledger_t *out, size_t size);
#define cairn_ledger_get(out) cairn_ledger_get_sized((out), sizeof *(out))
const char *cairn_ledger_part_name(int i);           /* NULL past the last */
int  cairn_ledger_sample(uint64_t *parts, int max);  /* the parts; returns how many */
void cairn_ledger_print(FILE *f);                    /* a table, with size classes and arenas */
void cairn_ledger_json(FILE *f);                     /* the same as one JSON object */
/* The statistics report and the ledger as one JSON object (what
 * CAIRN_STATS=json writes at exit). */
void cairn_stats_print_json(FILE *f);

/* ---- the walker ------------------------------------------------------- */
/* Everything cairn holds, one item at a time: each thread heap, its
 * segments, their pages in use and free pages, every large segment and
 * large block (live or free), every huge block and every cached segment or
 * mapping, in that order. With CAIRN_WALK_BLOCKS also every live small
 * block of the heaps the caller may read (its own, and heaps no thread
 * owns); other threads' pages are shown as they are at that moment. The
 * callback runs with cairn's locks held: it must not allocate or free.
 * It returns 0 to go on, nonzero to stop; cairn_walk returns 1 if it was
 * stopped. */
enum cairn_item_kind {
    CAIRN_ITEM_HEAP = 1,       /* a thread heap (owner: its index)            */
    CAIRN_ITEM_SEGMENT,        /* a 4 MiB segment of small pages              */
    CAIRN_ITEM_PAGE,           /* a 64 KiB page of one size class, in use     */
    CAIRN_ITEM_FREE_PAGE,      /* a free page of a small segment              */
    CAIRN_ITEM_BLOCK,          /* a live small block                          */
    CAIRN_ITEM_LARGE_SEGMENT,  /* a segment of a large-block arena            */
    CAIRN_ITEM_LARGE_BLOCK,    /* a large block, live or free                 */
    CAIRN_ITEM_HUGE,           /* a huge block: a mapping of its own          */
    CAIRN_ITEM_CACHED,         /* a free segment or mapping kept for reuse    */
};
typedef struct cairn_item {
    int kind;                  /* enum cairn_item_kind                        */
    int live;                  /* blocks: 1 handed out, 0 free                */
    const void *addr;          /* blocks: the pointer malloc gave; else start */
    size_t size;               /* blocks: usable bytes; else bytes spanned    */
    size_t block_size;         /* pages: the block size of their class        */
    unsigned blocks, used;     /* pages: blocks carved, blocks handed out     */
    int size_class;            /* pages and small blocks, else -1             */
    unsigned owner;            /* heap index, or arena index for large items  */
    uint64_t resident;         /* free and cached items: bytes perhaps resident */
} cairn_item_t;
typedef int (*cairn_walk_fn)(const cairn_item_t *item, void *arg);
#define CAIRN_WALK_BLOCKS 1u
int cairn_walk(cairn_walk_fn fn, void *arg, unsigned flags);

/* ---- testing and teaching hooks --------------------------------------- */
/* Size classes: cairn_size_class(size) is the class index serving `size`
 * (or -1 when size is above the largest class); cairn_class_size(i) is the
 * block size of class i; classes are numbered 0 .. cairn_class_count()-1. */
int    cairn_class_count(void);
size_t cairn_class_size(int cls);
int    cairn_size_class(size_t size);
size_t cairn_small_max(void);   /* largest size served by size classes   */
size_t cairn_large_max(void);   /* largest size served by the large heap */

/* Whole-heap invariant checker: walks every heap, page, segment and large
 * block it can reach and checks their invariants (counts, list links,
 * bitmaps, boundary tags, no overlap). Returns the number of problems found
 * (0 = consistent) and, when `report` is non-NULL, describes each there.
 * Safe to call while other threads run; it locks what it reads and treats
 * the lock-free parts conservatively. */
int cairn_check_heap(FILE *report);

/* Fault injection on the OS layer: after `after` more successful requests
 * for new memory from the kernel (mmap/mremap growth), every further request
 * fails as if the kernel said ENOMEM, until cairn_test_os_fail(-1) turns
 * failure off. cairn_test_os_fail(0) makes the very next request fail. */
void cairn_test_os_fail(long after);

/* Fault injection on purging: while `on` is non-zero, every request to give
 * free memory back to the kernel is refused, as the kernel refuses it for
 * locked memory (mlock), and the memory keeps its contents. */
void cairn_test_purge_fail(int on);

/* Return the calling thread's heap to the pool as if the thread had exited
 * (its live blocks stay valid and can be freed from anywhere). The next
 * allocation on this thread takes a heap from the pool again. */
void cairn_thread_done(void);

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_H */
