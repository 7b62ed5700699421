/* t_threads.c: thousands of short-lived threads, a few at a time. Each
 * allocates, frees most of it, and leaves some blocks for the main thread to
 * free. Heaps and mapped memory must stay bounded.
 * usage: t_threads [nthreads] */
#include "testutil.h"
#include <pthread.h>

enum { BATCH = 4, LEFT = 24 };

typedef struct {
    int id;
    void *left[LEFT];
    size_t left_size[LEFT];
} targ_t;

static size_t small_max, large_max;

static void *worker(void *arg)
{
    targ_t *t = arg;
    rng_t r;
    rng_seed(&r, (uint64_t)t->id);
    void *mine[128];
    size_t sz[128];
    for (int i = 0; i < 128; i++) {
        uint64_t x = rng_below(&r, 100);
        sz[i] = x < 80 ? rng_range(&r, 1, 512) : x < 97 ? rng_range(&r, 513, small_max)
              : x < 99 ? rng_range(&r, small_max + 1, 300 * KiB) : large_max + 4096;
        mine[i] = A_malloc(sz[i]);
        CHECK(mine[i]);
        pattern_fill(mine[i], sz[i], (uint64_t)t->id * 1000 + (uint64_t)i);
    }
    for (int i = 0; i < 128; i++) {
        CHECK(pattern_check(mine[i], sz[i], (uint64_t)t->id * 1000 + (uint64_t)i) == (size_t)-1,
              "thread %d block %d corrupted", t->id, i);
        if (i < LEFT) {
            t->left[i] = mine[i];
            t->left_size[i] = sz[i];
        } else {
            A_free(mine[i]);
        }
    }
    if (t->id % 3 == 0) cairn_thread_done();
    if (t->id % 3 == 0 && t->id % 2 == 0) {
        /* allocate again after thread_done: takes a heap from the pool */
        void *p = A_malloc(100);
        CHECK(p);
        A_free(p);
    }
    return NULL;
}

static void free_left(targ_t *args)
{
    for (int i = 0; i < BATCH; i++)
        for (int k = 0; k < LEFT; k++) {
            CHECK(pattern_check(args[i].left[k], args[i].left_size[k],
                                (uint64_t)args[i].id * 1000 + (uint64_t)k) == (size_t)-1,
                  "block left by thread %d corrupted", args[i].id);
            A_free(args[i].left[k]);
        }
}

int main(int argc, char **argv)
{
    int nthreads = argc > 1 ? atoi(argv[1]) : (test_quick() ? 1000 : 6000);
    watchdog(300);
    small_max = cairn_small_max();
    large_max = cairn_large_max();
    /* two generations of thread arguments: the leftovers of one batch are
     * freed by the main thread while the next batch runs, so remote frees
     * land in heaps that are being pooled and adopted */
    static targ_t argbuf[2][BATCH];
    targ_t *prev = NULL;
    pthread_t th[BATCH];
    uint64_t max_heaps = 0, warm_mapped = 0, max_mapped = 0;
    int max_purgers = 0;
    const char *bg = getenv("CAIRN_BACKGROUND");
    int want_purger = !(bg && bg[0] == '0');
    double t0 = now_sec();
    for (int base = 0; base < nthreads; base += BATCH) {
        targ_t *args = argbuf[(base / BATCH) & 1];
        for (int i = 0; i < BATCH; i++) {
            memset(&args[i], 0, sizeof args[i]);
            args[i].id = base + i;
            CHECK(pthread_create(&th[i], NULL, worker, &args[i]) == 0);
        }
        if (prev) free_left(prev);
        for (int i = 0; i < BATCH; i++) CHECK(pthread_join(th[i], NULL) == 0);
        prev = args;
        cairn_stats_t st;
        cairn_stats_get(&st);
        if (st.heaps > max_heaps) max_heaps = st.heaps;
        if (st.mapped_bytes > max_mapped) max_mapped = st.mapped_bytes;
        if (base == 200) warm_mapped = st.mapped_bytes;
        CHECK(st.heaps <= 64, "%" PRIu64 " heaps after %d threads (at most %d alive at once)",
              st.heaps, base + BATCH, BATCH + 1);
        if (warm_mapped)
            CHECK(st.mapped_bytes <= 2 * warm_mapped + 64 * MiB,
                  "mapped_bytes %" PRIu64 " after %d threads, %" PRIu64 " after 200",
                  st.mapped_bytes, base + BATCH, warm_mapped);
        if (base % 500 == 0) CHECK(heap_check_ok(), "after %d threads", base + BATCH);
        int purgers = threads_named("cairn-purge");
        CHECK(purgers <= 1, "%d purger threads after %d threads", purgers, base + BATCH);
        if (purgers > max_purgers) max_purgers = purgers;
    }
    if (prev) free_left(prev);
    CHECK(heap_check_ok());
    A_malloc_trim(0);
    cairn_stats_t st;
    cairn_stats_get(&st);
    /* the leftovers alone are tens of MiB: enough to start one purger,
     * unless CAIRN_BACKGROUND=0 */
    if (nthreads >= 500)
        CHECK(max_purgers == want_purger && (int)st.background_purger == want_purger,
              "%d purger threads seen (%d wanted)", max_purgers, want_purger);
    printf("t_threads: %d threads, max heaps %" PRIu64 ", max mapped %" PRIu64 " KiB, "
           "mapped at end %" PRIu64 " KiB, %.2fs: ok\n",
           nthreads, max_heaps, max_mapped / 1024, st.mapped_bytes / 1024, now_sec() - t0);
    return 0;
}
