/* t_trim.c: freed memory goes back to the OS (RSS drops).
 * usage: t_trim            malloc_trim(0) after freeing everything
 *        t_trim nodelay    run with CAIRN_PURGE_DELAY=0: back when free returns
 *        t_trim delay      default delay: with some allocator activity, the
 *                          memory is back within a few seconds (polled; the
 *                          background purger or, with CAIRN_BACKGROUND=0,
 *                          the ticks on slow paths return it) */
#include "testutil.h"

int main(int argc, char **argv)
{
    watchdog(120);
    const char *mode = argc > 1 ? argv[1] : "trim";
    int trim = !strcmp(mode, "trim");
    if (!strcmp(mode, "nodelay")) {
        const char *d = getenv("CAIRN_PURGE_DELAY");
        CHECK(d && !strcmp(d, "0"), "run the nodelay mode with CAIRN_PURGE_DELAY=0");
    }
    size_t total = test_quick() ? 100 * MiB : 200 * MiB;
    size_t cap = 200000;
    void **blk = A_calloc(cap, sizeof *blk);
    CHECK(blk);
    /* warm up so the baseline includes the allocator's fixed overhead */
    for (int i = 0; i < 1000; i++) blk[i] = A_malloc((size_t)i * 13 + 1);
    for (int i = 0; i < 1000; i++) A_free(blk[i]);
    if (trim) A_malloc_trim(0);
    else usleep(100 * 1000);
    size_t base = rss_bytes();

    for (int round = 0; round < 2; round++) {
        rng_t r;
        rng_seed(&r, 7 + (uint64_t)round);
        size_t n = 0, bytes = 0;
        while (bytes < total && n < cap) {
            size_t s;
            if (bytes < total / 2) s = rng_range(&r, 1, 4096);          /* small */
            else s = rng_range(&r, cairn_small_max() + 1, cairn_large_max()); /* large */
            blk[n] = A_malloc(s);
            CHECK(blk[n], "malloc(%zu)", s);
            memset(blk[n], 0x77, s);
            bytes += s;
            n++;
        }
        size_t high = rss_bytes();
        CHECK(high >= base + total * 3 / 4, "RSS %zu MiB did not grow with %zu MiB touched",
              high / MiB, total / MiB);
        /* free in a scrambled order */
        for (size_t i = n; i > 1; i--) {
            size_t j = rng_below(&r, i);
            void *t = blk[i - 1]; blk[i - 1] = blk[j]; blk[j] = t;
        }
        for (size_t i = 0; i < n; i++) A_free(blk[i]);
        int rc = 1;
        if (trim) {
            rc = A_malloc_trim(0);
        } else if (!strcmp(mode, "delay")) {
            for (int tries = 0; tries < 80 && rss_bytes() > base + 16 * MiB; tries++) {
                usleep(100 * 1000);
                for (int k = 0; k < 200; k++) {
                    void *a = A_malloc((size_t)k % 700 + 1), *b = A_malloc(20000 + (size_t)k * 50);
                    CHECK(a && b);
                    A_free(a);
                    A_free(b);
                }
            }
        }
        size_t after = rss_bytes();
        fprintf(stderr, "%s round %d: base %zu KiB, high %zu KiB, after trim %zu KiB (rc %d)\n",
                mode, round, base / 1024, high / 1024, after / 1024, rc);
        CHECK(after <= base + 16 * MiB, "RSS after freeing all (%s) is %zu KiB, baseline %zu KiB",
              mode, after / 1024, base / 1024);
        CHECK(rc == 1, "malloc_trim(0) returned %d although memory was released", rc);
        cairn_stats_t st;
        cairn_stats_get(&st);
        CHECK(st.purge_calls > 0 || st.munmap_calls > 0, "no purge or munmap recorded");
        CHECK(st.resident_bytes <= after + 4 * MiB, "stats resident_bytes %" PRIu64 " after trim",
              st.resident_bytes);
    }
    A_free(blk);
    CHECK(heap_check_ok());
    printf("t_trim: ok\n");
    return 0;
}
