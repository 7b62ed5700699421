/* t_exact.c: the call counts of cairn_stats_t. Run against libcairn.so
 * (statistics level 0: small counts derived from page state) and with
 * libcairn-stats.so preloaded (level 1: every call counted); CAIRN_LEVEL
 * in the environment says which is expected. Either way the counts of a
 * known mix of calls (local and remote frees, a thread that exits, all
 * three size kinds) must come out exact, give or take what libc itself
 * allocates for a thread. */
#include "testutil.h"
#include <pthread.h>

enum { N = 20000, M = 5000, SLACK = 16 };
static void *blocks[N];

static size_t size_of(int i)
{
    return i % 100 == 0 ? 100000 : i % 1000 == 1 ? 3 * MiB : (size_t)(1 + (i * 37) % 2000);
}

/* Frees the second half of the main thread's blocks, and makes M calls of
 * its own. */
static void *worker(void *arg)
{
    (void)arg;
    for (int i = N / 2; i < N; i++) A_free(blocks[i]);
    for (int i = 0; i < M; i++) {
        void *p = A_malloc(size_of(i));
        CHECK(p);
        A_free(p);
    }
    return NULL;
}

/* A consumer: frees what it is given and never allocates, so it has no
 * heap; its frees wait on the pages' thread_free lists until the owner
 * collects them, and the statistics must count them there. */
enum { K = 3000 };
static void *given[K];
static void *consumer(void *arg)
{
    (void)arg;
    for (int i = 0; i < K; i++) A_free(given[i]);
    return NULL;
}

static void check_delta(const char *what, uint64_t got, uint64_t want)
{
    CHECK(got >= want && got <= want + SLACK, "%s: %" PRIu64 " calls counted for %" PRIu64 " made", what, got, want);
}

int main(void)
{
    const char *lv = getenv("CAIRN_LEVEL");
    uint64_t level = lv ? strtoull(lv, NULL, 10) : 0;
    cairn_stats_t a, b, c;
    cairn_stats_get(&a);
    CHECK(a.stats_level == level, "statistics level %" PRIu64 ", expected %" PRIu64, a.stats_level, level);
    for (int i = 0; i < N; i++) CHECK((blocks[i] = A_malloc(size_of(i))) != NULL);
    for (int i = 0; i < N / 2; i++) A_free(blocks[i]);
    cairn_stats_get(&b);
    check_delta("malloc", b.malloc_calls - a.malloc_calls, N);
    check_delta("free", b.free_calls - a.free_calls, N / 2);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    cairn_stats_get(&c);
    check_delta("malloc with a thread", c.malloc_calls - a.malloc_calls, N + M);
    check_delta("free with a thread", c.free_calls - a.free_calls, N + M);
    CHECK(c.live_blocks <= a.live_blocks + SLACK, "live blocks %" PRIu64 " -> %" PRIu64, a.live_blocks, c.live_blocks);
    /* small blocks freed by a thread that only frees, not collected yet */
    uint64_t bytes = 0;
    for (int i = 0; i < K; i++) {
        CHECK((given[i] = A_malloc((size_t)(16 + i % 700))) != NULL);
        bytes += A_usable(given[i]);
    }
    cairn_stats_t d, e;
    cairn_stats_get(&d);
    CHECK(pthread_create(&t, NULL, consumer, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    cairn_stats_get(&e);
    check_delta("free by a thread that only frees", e.free_calls - d.free_calls, K);
    CHECK(d.small_live_blocks - e.small_live_blocks == K, "small live blocks fell by %" PRIu64 ", want %d",
          d.small_live_blocks - e.small_live_blocks, K);
    CHECK(d.live_bytes - e.live_bytes == bytes, "live bytes fell by %" PRIu64 ", want %" PRIu64,
          d.live_bytes - e.live_bytes, bytes);
    printf("t_exact: level %" PRIu64 ": %" PRIu64 " mallocs and %" PRIu64 " frees counted for %d of each made; "
           "%d frees by a free-only thread counted\n",
           level, c.malloc_calls - a.malloc_calls, c.free_calls - a.free_calls, N + M, K);
    return 0;
}
