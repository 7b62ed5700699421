/* The standard names: a thin layer over the same inline fast paths as the
 * cairn_* functions, plus glibc's introspection calls. Leaving this file
 * out of a build gives a cairn that lives beside the system malloc. */
#include "fastpath.h"
#include "cairn.h"
#include <errno.h>
#include <malloc.h>
#include <string.h>

#ifdef CAIRN_TRACING
/* The recorder build, libcairn-trace.so (src/trace.c, docs/TRACE.md): the
 * entry points below are the same lines as in libcairn.so, but the names
 * they call are redefined here to wrappers that call the allocator and
 * record the call. An allocation is recorded after it succeeds, a free
 * before the memory is given back: a block's record is then always in the
 * trace before any other thread can find the block (the same address handed
 * out again) in the recorder's table. */
enum { TR_MALLOC = 1, TR_CALLOC = 2, TR_FREE = 4, TR_MEMALIGN = 5, TR_POSIX_MEMALIGN = 6,
       TR_VALLOC = 7, TR_PVALLOC = 8, TR_FREE_SIZED = 9, TR_FREE_ALIGNED_SIZED = 10 };
void  trace_alloc(unsigned op, const void *p, size_t size, size_t align);
void  trace_free(unsigned op, const void *p, size_t size, size_t align);
void *trace_realloc(void *p, size_t size);      /* cairn_realloc, recorded */

static inline void *traced_malloc(size_t size) {
    void *p = fast_malloc(size);
    trace_alloc(TR_MALLOC, p, size, 0);
    return p;
}
static inline void traced_free_sized(void *p, size_t size) {
    trace_free(size ? TR_FREE_SIZED : TR_FREE, p, size, 0);
    fast_free_sized(p, size);
}
static inline void traced_free(void *p) {
    trace_free(TR_FREE, p, 0, 0);
    fast_free(p);
}
static inline void traced_free_aligned_sized(void *p, size_t a, size_t size) {
    trace_free(TR_FREE_ALIGNED_SIZED, p, size, a);
    free_aligned_sized_checked(p, a, size);
}
/* calloc records the total; an overflowing product is recorded as failed. */
static inline void *traced_calloc(size_t n, size_t size) {
    void *p = cairn_calloc(n, size);
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) total = SIZE_MAX;
    trace_alloc(TR_CALLOC, p, total, 0);
    return p;
}
/* An overflowing reallocarray fails without touching the block: nothing
 * to record. */
static inline void *traced_reallocarray(void *p, size_t n, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) return cairn_reallocarray(p, n, size);
    return trace_realloc(p, total);
}
static inline void *traced_memalign(size_t a, size_t size) {
    void *p = cairn_memalign(a, size);
    trace_alloc(TR_MEMALIGN, p, size, a);
    return p;
}
static inline void *traced_aligned_alloc(size_t a, size_t size) {
    void *p = cairn_aligned_alloc(a, size);
    trace_alloc(TR_MEMALIGN, p, size, a);
    return p;
}
static inline int traced_posix_memalign(void **out, size_t a, size_t size) {
    int r = cairn_posix_memalign(out, a, size);
    trace_alloc(TR_POSIX_MEMALIGN, r ? NULL : *out, size, a);
    return r;
}
static inline void *traced_valloc(size_t size) {
    void *p = cairn_valloc(size);
    trace_alloc(TR_VALLOC, p, size, 0);
    return p;
}
static inline void *traced_pvalloc(size_t size) {
    void *p = cairn_pvalloc(size);
    trace_alloc(TR_PVALLOC, p, size, 0);
    return p;
}
#define fast_malloc(s)                       traced_malloc(s)
#define fast_free(p)                         traced_free(p)
#define fast_free_sized(p, s)                traced_free_sized(p, s)
#define free_aligned_sized_checked(p, a, s)  traced_free_aligned_sized(p, a, s)
#define cairn_calloc(n, s)                   traced_calloc(n, s)
#define cairn_realloc(p, s)                  trace_realloc(p, s)
#define cairn_reallocarray(p, n, s)          traced_reallocarray(p, n, s)
#define cairn_memalign(a, s)                 traced_memalign(a, s)
#define cairn_aligned_alloc(a, s)            traced_aligned_alloc(a, s)
#define cairn_posix_memalign(o, a, s)        traced_posix_memalign(o, a, s)
#define cairn_valloc(s)                      traced_valloc(s)
#define cairn_pvalloc(s)                     traced_pvalloc(s)
#endif

API HOT_ENTRY void *malloc(size_t size) { return fast_malloc(size); }
API HOT_ENTRY void free(void *p) { fast_free(p); }
API void cfree(void *p) { fast_free(p); }
API void *calloc(size_t n, size_t size) { return cairn_calloc(n, size); }
API void *realloc(void *p, size_t size) { return cairn_realloc(p, size); }
API void *reallocarray(void *p, size_t n, size_t size) { return cairn_reallocarray(p, n, size); }
API void *memalign(size_t a, size_t size) { return cairn_memalign(a, size); }
API void *aligned_alloc(size_t a, size_t size) { return cairn_aligned_alloc(a, size); }
API int posix_memalign(void **out, size_t a, size_t size) { return cairn_posix_memalign(out, a, size); }
API void *valloc(size_t size) { return cairn_valloc(size); }
API void *pvalloc(size_t size) { return cairn_pvalloc(size); }
API size_t malloc_usable_size(void *p) { return usable_size(p); }
API HOT_ENTRY void free_sized(void *p, size_t size) { fast_free_sized(p, size); }
API void free_aligned_sized(void *p, size_t a, size_t size) { free_aligned_sized_checked(p, a, size); }
API int malloc_trim(size_t pad) { return cairn_malloc_trim(pad); }

/* ---- glibc introspection ---------------------------------------------------- */
/* Fields mean what glibc documents, mapped onto cairn's structure:
 * arena = mapped bytes outside huge mappings, hblks/hblkhd = huge
 * mappings, uordblks = live bytes, fordblks = mapped but not live. */
API struct mallinfo2 mallinfo2(void) {
    cairn_stats_t s;
    cairn_stats_get(&s);
    struct mallinfo2 mi;
    memset(&mi, 0, sizeof mi);
    huge_totals_t ht;
    huge_stats(&ht);
    uint64_t huge_bytes = ht.live;
    mi.arena = s.mapped_bytes > huge_bytes ? s.mapped_bytes - huge_bytes : 0;
    mi.ordblks = s.segments;
    mi.hblks = s.huge_mappings;
    mi.hblkhd = huge_bytes;
    mi.usmblks = s.peak_mapped_bytes;
    mi.uordblks = s.live_bytes;
    mi.fordblks = s.mapped_bytes > s.live_bytes ? s.mapped_bytes - s.live_bytes : 0;
    return mi;
}

API struct mallinfo mallinfo(void) {
    struct mallinfo2 m2 = mallinfo2();
    struct mallinfo mi;
    mi.arena = (int)m2.arena; mi.ordblks = (int)m2.ordblks; mi.smblks = (int)m2.smblks;
    mi.hblks = (int)m2.hblks; mi.hblkhd = (int)m2.hblkhd; mi.usmblks = (int)m2.usmblks;
    mi.fsmblks = (int)m2.fsmblks; mi.uordblks = (int)m2.uordblks;
    mi.fordblks = (int)m2.fordblks; mi.keepcost = (int)m2.keepcost;
    return mi;
}

/* glibc prints totals to stderr; cairn prints its own report there. */
API void malloc_stats(void) { cairn_stats_print(stderr); }

API int malloc_info(int options, FILE *f) {
    if (options != 0) { errno = EINVAL; return -1; }
    cairn_stats_t s;
    cairn_stats_get(&s);
    fprintf(f, "<malloc version=\"cairn-1\">\n");
    fprintf(f, "<heaps count=\"%llu\" pooled=\"%llu\"/>\n",
            (unsigned long long)s.heaps, (unsigned long long)s.abandoned_heaps);
    fprintf(f, "<total type=\"live\" count=\"%llu\" size=\"%llu\"/>\n",
            (unsigned long long)s.live_blocks, (unsigned long long)s.live_bytes);
    fprintf(f, "<total type=\"mmap\" count=\"%llu\" size=\"%llu\"/>\n",
            (unsigned long long)s.huge_mappings, (unsigned long long)s.mapped_bytes);
    fprintf(f, "<system type=\"current\" size=\"%llu\"/>\n<system type=\"max\" size=\"%llu\"/>\n",
            (unsigned long long)s.mapped_bytes, (unsigned long long)s.peak_mapped_bytes);
    fprintf(f, "</malloc>\n");
    return 0;
}

/* Tuning knobs of ptmalloc have no meaning here; accept them, as glibc
 * does for parameters it ignores. */
API int mallopt(int param, int value) { (void)param; (void)value; return 1; }
