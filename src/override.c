/* The standard names: a thin layer over the same inline fast paths as the
 * cairn_* functions, plus glibc's introspection calls. Leaving this file
 * out of a build gives a cairn that lives beside the system malloc. */
#include "fastpath.h"
#include "cairn.h"
#include <errno.h>
#include <malloc.h>
#include <string.h>

API void *malloc(size_t size) { return fast_malloc(size); }
API void free(void *p) { fast_free(p); }
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
API void free_sized(void *p, size_t size) { (void)size; fast_free(p); }
API void free_aligned_sized(void *p, size_t a, size_t size) { (void)a; (void)size; fast_free(p); }
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
