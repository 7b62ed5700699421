/* Statistics: counters kept where the work happens (per heap, per arena,
 * huge list, caches, OS layer), summed on demand. Other threads' counters
 * are read while they run, so a snapshot taken under load is approximate. */
#include "internal.h"
#include "cairn.h"
#include <string.h>
#include <sys/resource.h>

static _Atomic uint64_t refault_bytes;

void stats_refault(uint64_t bytes) {
    atomic_fetch_add_explicit(&refault_bytes, bytes, memory_order_relaxed);
}

/* Small-block figures of one heap from its pages: blocks out (`used`, which
 * still counts remote frees not yet collected), those remote frees (the
 * count in each page's thread_free word) and, with `lists` (the caller's
 * own heap, or a pooled one under the heap lock), local frees not
 * collected yet. Other threads' pages are read while they run (relaxed
 * loads): approximate, as documented. */
typedef struct small_sum {
    uint64_t used, used_bytes, pending, remote, remote_bytes;
} small_sum_t;

static void sum_pages(heap_t *h, bool lists, small_sum_t *t) {
    lock_acquire(&h->seg_lock);
    for (small_seg_t *s = h->segs; s; s = s->next)
        for (unsigned i = 1; i < PAGES_PER_SEG; i++) {
            const page_t *pg = &s->pages[i];
            if (!LOAD_RELAXED(pg->in_use)) continue;
            uint64_t u = page_used(pg);
            uint64_t bs = LOAD_RELAXED(pg->block_size);
            uint64_t r = tf_count(atomic_load_explicit(&pg->thread_free, memory_order_relaxed));
            t->used += u;
            t->used_bytes += u * bs;
            t->remote += r;
            t->remote_bytes += r * bs;
            if (lists) t->pending += page_pending_local(pg);
        }
    lock_release(&h->seg_lock);
}

#define R(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* Mallocs are what the pages hold plus every free ever collected; frees
 * are counted where they are collected (local ones, remote ones received)
 * or found waiting (local ones, and remote ones in thread_free); the
 * difference is what is live. */
static void sum_heaps(cairn_stats_t *st, uint64_t *small_bytes) {
    small_sum_t t = { 0 };
    uint64_t local = 0, in = 0, exact_m = 0, exact_f = 0;
    heap_t *me = cairn_tl_heap;
    heaps_lock();                       /* no heap is pooled or adopted meanwhile */
    for (heap_t *h = heaps_first(); h; h = h->next_all) {
        sum_pages(h, h == me || R(h->state) == HEAP_POOLED, &t);
        local += R(h->local_frees);
        in += R(h->remote_in);
        exact_m += R(h->nmalloc); exact_f += R(h->nfree);
        st->realloc_calls += R(h->nrealloc);
        st->dirty_small_bytes += R(h->decay.dirty);
        st->dirty_kept_bytes += R(h->kept_bytes);
        st->heaps++;
        if (R(h->state) == HEAP_POOLED) st->abandoned_heaps++;
    }
    heaps_unlock();
    uint64_t out = in + t.remote;         /* remote frees, collected or not */
    uint64_t mallocs = t.used + local + t.pending + in, frees = local + t.pending + out;
#ifdef CAIRN_EXACT_COUNTS
    mallocs = exact_m;                  /* every call was counted */
    frees = exact_f + out;
#else
    (void)exact_m; (void)exact_f;
#endif
    st->malloc_calls += mallocs;
    st->free_calls += frees;
    st->small_live_blocks = mallocs > frees ? mallocs - frees : 0;
    uint64_t in_pages = t.used_bytes, pending_remote_b = t.remote_bytes;
    *small_bytes = in_pages > pending_remote_b ? in_pages - pending_remote_b : 0;
}

static void stats_fill(cairn_stats_t *st) {
    *st = (cairn_stats_t){ .size = sizeof *st };
    uint64_t small_bytes, seg_dirty;
    arena_totals_t lt;
    huge_totals_t ht;
    os_totals_t ot;
    sum_heaps(st, &small_bytes);
    arenas_stats(&lt);
    huge_stats(&ht);
    seg_cache_stats(&st->cached_segments, &seg_dirty);
    os_counters(&ot);
    st->malloc_calls += lt.nalloc + ht.nalloc;
    st->free_calls += lt.nfree + ht.nfree;
    st->large_live_blocks = lt.nalloc - lt.nfree;
    st->huge_live_blocks = ht.nalloc - ht.nfree;
    st->live_blocks = st->small_live_blocks + st->large_live_blocks + st->huge_live_blocks;
    st->live_bytes = small_bytes + lt.live + ht.live;
    st->mapped_bytes = ot.mapped;
    st->peak_mapped_bytes = ot.peak;
    st->mmap_calls = ot.nmmap;
    st->munmap_calls = ot.nmunmap;
    st->purge_calls = ot.npurge;
    st->purged_bytes = ot.purged;
    st->huge_mappings = ht.count;
    st->segments = (ot.mapped - ht.mapped - ht.cached_bytes) / SEG_SIZE;
    st->dirty_large_bytes = lt.dirty;
    st->dirty_cached_bytes = seg_dirty + ht.cached_bytes;
    st->dirty_bytes = st->dirty_small_bytes + st->dirty_kept_bytes + st->dirty_large_bytes +
                      st->dirty_cached_bytes;
    st->refault_bytes = atomic_load(&refault_bytes);
    st->cached_huge_mappings = ht.cached;
    st->cached_huge_bytes = ht.cached_bytes;
    st->background_purger = purge_thread_running();
#ifdef CAIRN_EXACT_COUNTS
    st->stats_level = 1;
#endif
    st->resident_bytes = os_resident_bytes();
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) st->peak_rss_bytes = (uint64_t)ru.ru_maxrss * 1024u;
}

API void cairn_stats_get_sized(cairn_stats_t *out, size_t size) {
    cairn_stats_t st;
    stats_fill(&st);
    if (size > sizeof st) size = sizeof st;
    if (size >= offsetof(cairn_stats_t, size) + sizeof st.size) st.size = size;
    memcpy(out, &st, size);
}

API void (cairn_stats_get)(cairn_stats_t *out) {
    cairn_stats_get_sized(out, offsetof(cairn_stats_t, size));
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
    fprintf(f, "cairn: free, not returned %9.1f MiB   (small pages %.1f, kept empty pages %.1f, "
            "large blocks %.1f, caches %.1f)\n", mib(s.dirty_bytes), mib(s.dirty_small_bytes),
            mib(s.dirty_kept_bytes), mib(s.dirty_large_bytes), mib(s.dirty_cached_bytes));
    fprintf(f, "cairn: operations        malloc %llu, free %llu, realloc %llu (%s)\n",
            (unsigned long long)s.malloc_calls, (unsigned long long)s.free_calls,
            (unsigned long long)s.realloc_calls, s.stats_level ? "every call counted" : "small calls derived");
    fprintf(f, "cairn: os                mmap %llu, munmap %llu, purge %llu (%.1f MiB returned, "
            "at most %.1f MiB refaulted)\n",
            (unsigned long long)s.mmap_calls, (unsigned long long)s.munmap_calls,
            (unsigned long long)s.purge_calls, mib(s.purged_bytes), mib(s.refault_bytes));
    fprintf(f, "cairn: structure         %llu segments, %llu huge mappings, %llu heaps (%llu pooled)\n",
            (unsigned long long)s.segments, (unsigned long long)s.huge_mappings,
            (unsigned long long)s.heaps, (unsigned long long)s.abandoned_heaps);
    fprintf(f, "cairn: cached            %llu segments, %llu huge mappings (%.1f MiB); background purger %s\n",
            (unsigned long long)s.cached_segments, (unsigned long long)s.cached_huge_mappings,
            mib(s.cached_huge_bytes), s.background_purger ? "running" : "not running");
    if (s.peak_mapped_bytes)
        fprintf(f, "cairn: utilization       live/mapped now %.1f%%\n",
                s.mapped_bytes ? 100.0 * (double)s.live_bytes / (double)s.mapped_bytes : 0.0);
}

/* Every field of cairn_stats_t, then the ledger, as one JSON object. */
API void cairn_stats_print_json(FILE *f) {
    cairn_stats_t s;
    cairn_stats_get(&s);
#define F(name) fprintf(f, "\"%s\": %llu, ", #name, (unsigned long long)s.name)
    fprintf(f, "{\"cairn\": \"%d.%d.%d\", ", CAIRN_VERSION_MAJOR, CAIRN_VERSION_MINOR, CAIRN_VERSION_PATCH);
    F(malloc_calls); F(free_calls); F(realloc_calls); F(live_blocks); F(live_bytes);
    F(small_live_blocks); F(large_live_blocks); F(huge_live_blocks); F(mapped_bytes);
    F(peak_mapped_bytes); F(resident_bytes); F(mmap_calls); F(munmap_calls); F(purge_calls);
    F(purged_bytes); F(segments); F(huge_mappings); F(heaps); F(abandoned_heaps); F(peak_rss_bytes);
    F(dirty_bytes); F(dirty_small_bytes); F(dirty_large_bytes); F(dirty_cached_bytes); F(refault_bytes);
    F(cached_segments); F(cached_huge_mappings); F(cached_huge_bytes); F(background_purger); F(stats_level);
    F(dirty_kept_bytes);
#undef F
    fprintf(f, "\"ledger\": ");
    ledger_json_object(f);
    fprintf(f, "}\n");
}

/* CAIRN_STATS=1: the report and the ledger; CAIRN_STATS=json: JSON. */
void stats_at_exit(FILE *f) {
    if (cairn_opt.stats == 2) { cairn_stats_print_json(f); return; }
    cairn_stats_print(f);
    cairn_ledger_print(f);
}
