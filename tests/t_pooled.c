/* t_pooled.c: memory of an exited thread comes back without malloc_trim.
 * A worker allocates a large working set (small and large blocks) and
 * exits, leaving every block to the main thread, which frees them all
 * (remote frees into the pooled heap). Within a few seconds (polled) RSS
 * must be back near the baseline.
 * usage: t_pooled          no allocator call after the frees (the
 *                          background purger must do it)
 *        t_pooled activity ordinary allocator activity while waiting (run
 *                          with CAIRN_BACKGROUND=0: the slow-path ticks) */
#include "testutil.h"
#include <pthread.h>

#define NBLK 120000
static void *blk[NBLK];

static void *worker(void *arg)
{
    (void)arg;
    rng_t r;
    rng_seed(&r, 42);
    for (int i = 0; i < NBLK; i++) {
        size_t s = (i % 10 == 0) ? rng_range(&r, 20000, 60000) : rng_range(&r, 16, 1500);
        blk[i] = A_malloc(s);
        CHECK(blk[i], "malloc(%zu)", s);
        memset(blk[i], 0x5a, s);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int activity = argc > 1 && !strcmp(argv[1], "activity");
    watchdog(120);
    for (int i = 0; i < 100; i++) A_free(A_malloc(100));
    size_t base = rss_bytes();
    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    size_t high = rss_bytes();
    CHECK(high >= base + 100 * MiB, "working set not resident: %zu KiB", high / 1024);
    for (int i = 0; i < NBLK; i++) A_free(blk[i]);
    size_t after = rss_bytes();
    for (int tries = 0; tries < 80 && after > base + 16 * MiB; tries++) {
        usleep(100 * 1000);
        for (int k = 0; activity && k < 300; k++) {      /* ordinary activity, no trim */
            void *a = A_malloc((size_t)k % 900 + 1), *b = A_malloc(18000 + (size_t)k);
            CHECK(a && b);
            A_free(a);
            A_free(b);
        }
        after = rss_bytes();
    }
    fprintf(stderr, "pooled: base %zu KiB, high %zu KiB, after %zu KiB\n",
            base / 1024, high / 1024, after / 1024);
    CHECK(after <= base + 16 * MiB, "RSS after remote frees into an exited thread's heap: %zu KiB (base %zu KiB)",
          after / 1024, base / 1024);
    CHECK(heap_check_ok());
    printf("t_pooled: ok\n");
    return 0;
}
