/* t_reuse.c: freed memory is reused. Large blocks coalesce (TLSF): after
 * freeing many medium blocks, bigger ones fit in the same address space;
 * repeating a mixed workload does not grow mapped memory (no leak); huge
 * mappings are returned on free. */
#include "testutil.h"
#include <pthread.h>

static size_t small_max, large_max;

static uint64_t mapped(void)
{
    cairn_stats_t st;
    cairn_stats_get(&st);
    return st.mapped_bytes;
}

static void coalescing(void)
{
    enum { N = 96 };
    void *p[N];
    size_t unit = 192 * KiB;
    for (int i = 0; i < N; i++) {
        p[i] = A_malloc(unit);
        CHECK(p[i]);
        pattern_fill(p[i], unit, (uint64_t)i);
    }
    uint64_t m1 = mapped();
    /* free every other block first, then the rest: neighbours must merge */
    for (int i = 0; i < N; i += 2) A_free(p[i]);
    CHECK(heap_check_ok());
    for (int i = 1; i < N; i += 2) {
        CHECK(pattern_check(p[i], unit, (uint64_t)i) == (size_t)-1, "large block %d damaged", i);
        A_free(p[i]);
    }
    CHECK(heap_check_ok());
    /* the same bytes again as blocks ten times bigger */
    size_t big = 2 * MiB - 64 * KiB;
    size_t nb = (size_t)N * unit / big;
    void *q[64];
    CHECK(nb > 0 && nb < 64);
    for (size_t i = 0; i < nb; i++) {
        q[i] = A_malloc(big);
        CHECK(q[i]);
        pattern_fill(q[i], big, 1000 + i);
    }
    uint64_t m2 = mapped();
    CHECK(m2 <= m1 + 12 * MiB, "after freeing %d x %zu KiB, %zu x %zu KiB blocks grew mapped from %" PRIu64
          " to %" PRIu64 " KiB (free large blocks not coalesced?)", N, unit / KiB, nb, big / KiB,
          m1 / KiB, m2 / KiB);
    for (size_t i = 0; i < nb; i++) {
        CHECK(pattern_check(q[i], big, 1000 + i) == (size_t)-1);
        A_free(q[i]);
    }
    CHECK(heap_check_ok());
}

static void steady_state(void)
{
    enum { N = 3000 };
    static void *p[N];
    static size_t sz[N];
    uint64_t after_warmup = 0, maxm = 0;
    for (int round = 0; round < 40; round++) {
        rng_t r;
        rng_seed(&r, 4711 + (uint64_t)round);
        for (int i = 0; i < N; i++) {
            uint64_t x = rng_below(&r, 1000);
            sz[i] = x < 800 ? rng_range(&r, 1, 1024) : x < 960 ? rng_range(&r, 1025, small_max)
                  : x < 999 ? rng_range(&r, small_max + 1, 2 * MiB) : large_max + rng_below(&r, 3 * MiB);
            p[i] = (i % 7 == 0) ? A_memalign((size_t)32 << (i % 10), sz[i]) : A_malloc(sz[i]);
            CHECK(p[i]);
            pattern_fill(p[i], sz[i], (uint64_t)i + (uint64_t)round * N);
        }
        /* free in an order that differs from the allocation order */
        for (int i = 0; i < N; i += 3) A_free(p[i]);
        for (int i = N - 1; i >= 0; i--)
            if (i % 3) {
                CHECK(pattern_check(p[i], sz[i], (uint64_t)i + (uint64_t)round * N) == (size_t)-1);
                A_free(p[i]);
            }
        uint64_t m = mapped();
        if (round == 3) after_warmup = m;
        if (m > maxm) maxm = m;
        if (round > 3)
            CHECK(m <= after_warmup + after_warmup / 2 + 16 * MiB,
                  "mapped %" PRIu64 " KiB in round %d, %" PRIu64 " KiB after warm-up: memory leak?",
                  m / KiB, round, after_warmup / KiB);
    }
    CHECK(heap_check_ok());
    A_malloc_trim(0);
    cairn_stats_t st;
    cairn_stats_get(&st);
    CHECK(st.huge_live_blocks == 0 && st.huge_mappings == 0,
          "%" PRIu64 " huge mappings remain with no huge block live", st.huge_mappings);
}

static void huge_unmap(void)
{
    cairn_stats_t a, b, c;
    cairn_stats_get(&a);
    void *p = A_malloc(64 * MiB);
    CHECK(p);
    memset(p, 1, 64 * MiB);
    cairn_stats_get(&b);
    CHECK(b.mapped_bytes >= a.mapped_bytes + 64 * MiB);
    size_t rss_in = rss_bytes();
    A_free(p);
    /* a freed huge mapping may be cached for a while; malloc_trim(0) must
     * give it back */
    A_malloc_trim(0);
    cairn_stats_get(&c);
    CHECK(c.mapped_bytes + 60 * MiB <= b.mapped_bytes, "64 MiB huge block still mapped after free + trim (mapped %"
          PRIu64 " -> %" PRIu64 ")", b.mapped_bytes, c.mapped_bytes);
    size_t rss_out = rss_bytes();
    CHECK(rss_out + 60 * MiB <= rss_in, "RSS did not drop after freeing a 64 MiB block (%zu -> %zu KiB)",
          rss_in / KiB, rss_out / KiB);
}

/* Large blocks another thread's arena freed serve this thread before its
 * own arena grows: the main thread (the first heap, arena 0) frees N
 * blocks, then a new thread (another heap, so another arena when there
 * are several; CAIRN_ARENAS=1 makes it the same one) takes N of the same
 * size, and they must come from the space the main thread freed rather
 * than from a new segment. Run first, before other threads exist. */
enum { XN = 24 };
static void *xa[XN];

static void *take_blocks(void *arg)
{
    for (int i = 0; i < XN; i++) CHECK((xa[i] = A_malloc(100 * KiB)) != NULL);
    return arg;
}

static void across_arenas(void)
{
    void *mine[XN];
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < XN; i++) {
        CHECK((mine[i] = A_malloc(100 * KiB)) != NULL);
        memset(mine[i], 0x42, 100 * KiB);
        lo = (uintptr_t)mine[i] < lo ? (uintptr_t)mine[i] : lo;
        hi = (uintptr_t)mine[i] + 100 * KiB > hi ? (uintptr_t)mine[i] + 100 * KiB : hi;
    }
    for (int i = 0; i < XN; i++) A_free(mine[i]);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, take_blocks, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    int inside = 0;
    for (int i = 0; i < XN; i++) inside += (uintptr_t)xa[i] >= lo && (uintptr_t)xa[i] < hi;
    CHECK(inside == XN, "a new thread's large blocks: %d of %d in the space the main thread freed", inside, XN);
    for (int i = 0; i < XN; i++) A_free(xa[i]);
}

int main(void)
{
    watchdog(120);
    small_max = cairn_small_max();
    large_max = cairn_large_max();
    across_arenas();
    coalescing();
    steady_state();
    huge_unmap();
    printf("t_reuse: ok\n");
    return 0;
}
