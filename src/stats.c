/* Statistics: counters kept where the work happens (per heap, per arena,
 * huge list, OS layer), summed on demand. Other threads' counters are read
 * while they run, so a snapshot taken under load is approximate. */
#include "internal.h"
#include "cairn.h"
#include <sys/resource.h>

_Atomic uint64_t cairn_orphan_frees, cairn_orphan_bytes;

static void sum_heaps(cairn_stats_t *st, uint64_t *small_bytes) {
    uint64_t alloc_b = 0, free_b = 0, nm = 0, nf = 0;
    heaps_lock();
    for (heap_t *h = heaps_first(); h; h = h->next_all) {
        nm += __atomic_load_n(&h->nmalloc, __ATOMIC_RELAXED);
        nf += __atomic_load_n(&h->nfree, __ATOMIC_RELAXED);
        alloc_b += __atomic_load_n(&h->bytes_alloc, __ATOMIC_RELAXED);
        free_b += __atomic_load_n(&h->bytes_free, __ATOMIC_RELAXED);
        st->realloc_calls += __atomic_load_n(&h->nrealloc, __ATOMIC_RELAXED);
        st->heaps++;
        if (h->state == HEAP_POOLED) st->abandoned_heaps++;
    }
    heaps_unlock();
    nf += atomic_load(&cairn_orphan_frees);
    free_b += atomic_load(&cairn_orphan_bytes);
    st->malloc_calls += nm;
    st->free_calls += nf;
    st->small_live_blocks = nm > nf ? nm - nf : 0;
    *small_bytes = alloc_b > free_b ? alloc_b - free_b : 0;
}

API void cairn_stats_get(cairn_stats_t *st) {
    *st = (cairn_stats_t){ 0 };
    uint64_t small_bytes, la, lf, llive, lsegs, ha, hf, hlive, hcount;
    sum_heaps(st, &small_bytes);
    arenas_stats(&la, &lf, &llive, &lsegs);
    huge_stats(&ha, &hf, &hlive, &hcount);
    st->malloc_calls += la + ha;
    st->free_calls += lf + hf;
    st->large_live_blocks = la - lf;
    st->huge_live_blocks = ha - hf;
    st->live_blocks = st->small_live_blocks + st->large_live_blocks + st->huge_live_blocks;
    st->live_bytes = small_bytes + llive + hlive;
    os_counters(&st->mapped_bytes, &st->peak_mapped_bytes, &st->mmap_calls,
                &st->munmap_calls, &st->purge_calls, &st->purged_bytes);
    st->huge_mappings = hcount;
    st->segments = (st->mapped_bytes - hlive) / SEG_SIZE;
    st->resident_bytes = os_resident_bytes();
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) st->peak_rss_bytes = (uint64_t)ru.ru_maxrss * 1024u;
}

static double mib(uint64_t b) { return (double)b / (1024.0 * 1024.0); }

API void cairn_stats_print(FILE *f) {
    cairn_stats_t s;
    cairn_stats_get(&s);
    fprintf(f, "cairn: ---------------- memory report ----------------\n");
    fprintf(f, "cairn: peak RSS          %10.1f MiB   (kernel, whole process)\n", mib(s.peak_rss_bytes));
    fprintf(f, "cairn: RSS now           %10.1f MiB\n", mib(s.resident_bytes));
    fprintf(f, "cairn: mapped now / peak %10.1f / %.1f MiB\n", mib(s.mapped_bytes), mib(s.peak_mapped_bytes));
    fprintf(f, "cairn: live blocks       %10llu   (%.1f MiB: small %llu, large %llu, huge %llu)\n",
            (unsigned long long)s.live_blocks, mib(s.live_bytes),
            (unsigned long long)s.small_live_blocks, (unsigned long long)s.large_live_blocks,
            (unsigned long long)s.huge_live_blocks);
    fprintf(f, "cairn: operations        malloc %llu, free %llu, realloc %llu\n",
            (unsigned long long)s.malloc_calls, (unsigned long long)s.free_calls,
            (unsigned long long)s.realloc_calls);
    fprintf(f, "cairn: os                mmap %llu, munmap %llu, purge %llu (%.1f MiB returned)\n",
            (unsigned long long)s.mmap_calls, (unsigned long long)s.munmap_calls,
            (unsigned long long)s.purge_calls, mib(s.purged_bytes));
    fprintf(f, "cairn: structure         %llu segments, %llu huge mappings, %llu heaps (%llu pooled)\n",
            (unsigned long long)s.segments, (unsigned long long)s.huge_mappings,
            (unsigned long long)s.heaps, (unsigned long long)s.abandoned_heaps);
    if (s.peak_mapped_bytes)
        fprintf(f, "cairn: utilization       live/mapped now %.1f%%\n",
                s.mapped_bytes ? 100.0 * (double)s.live_bytes / (double)s.mapped_bytes : 0.0);
}

void stats_at_exit(FILE *f) { cairn_stats_print(f); }
