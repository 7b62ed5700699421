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

/* A thread that leaves when its pages hold all three kinds of free block
 * (never handed out, freed by itself, freed by another thread not yet
 * collected): its exit tidies the heap without merging every list, and
 * the counts must not notice. Size 48: on its current page the thread
 * frees nothing itself, so the other thread's frees meet an empty local
 * list; size 80: every third block freed by the thread itself. */
enum { X = 1500 };
static void *xs[2][X];
static pthread_barrier_t xbar;
static void *leaver(void *arg)
{
    (void)arg;
    for (int i = 0; i < X; i++) {
        CHECK((xs[0][i] = A_malloc(48)) != NULL);
        CHECK((xs[1][i] = A_malloc(80)) != NULL);
    }
    for (int i = 0; i < X; i += 3) {
        A_free(xs[1][i]);
        xs[1][i] = NULL;
        if (i < X / 2) {
            A_free(xs[0][i]);
            xs[0][i] = NULL;
        }
    }
    pthread_barrier_wait(&xbar);        /* main frees some of ours */
    pthread_barrier_wait(&xbar);
    cairn_thread_done();
    return NULL;
}

/* Frees the blocks of xs whose index is i % 4 == r (those not freed yet). */
static uint64_t free_quarter(int r)
{
    uint64_t n = 0;
    for (int k = 0; k < 2; k++)
        for (int i = r; i < X; i += 4)
            if (xs[k][i]) {
                A_free(xs[k][i]);
                xs[k][i] = NULL;
                n++;
            }
    return n;
}

/* Another thread adopts the pooled heap (its full pages are tidied too)
 * and allocates enough to use up the free lists the exit left, so the
 * local lists counted then are collected. */
static void *adopter(void *arg)
{
    (void)arg;
    static void *mine[2][X];
    for (int i = 0; i < X; i++) {
        CHECK((mine[0][i] = A_malloc(48)) != NULL);
        CHECK((mine[1][i] = A_malloc(80)) != NULL);
    }
    for (int i = 0; i < X; i++) {
        A_free(mine[0][i]);
        A_free(mine[1][i]);
    }
    return NULL;
}

static void exit_with_all_lists(void)
{
    cairn_stats_t s0, s1, s2;
    cairn_stats_get(&s0);
    pthread_t t;
    CHECK(pthread_barrier_init(&xbar, NULL, 2) == 0);
    CHECK(pthread_create(&t, NULL, leaver, NULL) == 0);
    pthread_barrier_wait(&xbar);
    uint64_t own = 0, mine = free_quarter(1) + free_quarter(2);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < X; i++) own += xs[k][i] == NULL;
    pthread_barrier_wait(&xbar);
    CHECK(pthread_join(t, NULL) == 0);
    cairn_stats_get(&s1);
    check_delta("malloc before an exit with all lists", s1.malloc_calls - s0.malloc_calls, 2 * X);
    check_delta("free before an exit with all lists", s1.free_calls - s0.free_calls, own);
    CHECK(heap_check_ok(), "heap after an exit with all lists");
    uint64_t rest = free_quarter(0);    /* a quarter stays live through the adoption */
    CHECK(pthread_create(&t, NULL, adopter, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    rest += free_quarter(3);
    cairn_stats_get(&s2);
    check_delta("malloc after the adoption", s2.malloc_calls - s0.malloc_calls, 4 * X);
    check_delta("free after the adoption", s2.free_calls - s0.free_calls, own + rest + 2 * X);
    CHECK(own + rest == 2 * X, "freed %" PRIu64 " of %d", own + rest, 2 * X);
    CHECK(mine > 0 && mine < own, "main freed %" PRIu64 " of the leaver's blocks", mine);
    CHECK(heap_check_ok(), "heap after the adoption");
    pthread_barrier_destroy(&xbar);
}

/* A refill finds both of a page's lists holding blocks: its own frees
 * become the free list and the other thread's local_free, neither walked
 * (page.c). Frees made after that onto local_free must still be counted. */
enum { Y = 400 };
static void *ys[Y], *zs[Y / 2];
static void *free_odd(void *arg)
{
    (void)arg;
    for (int i = 1; i < Y; i += 2) A_free(ys[i]);
    return NULL;
}

static void refill_with_both_lists(void)
{
    cairn_stats_t s0, s1;
    cairn_stats_get(&s0);
    for (int i = 0; i < Y; i++) CHECK((ys[i] = A_malloc(3000)) != NULL);
    for (int i = 0; i < Y; i += 2) A_free(ys[i]);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, free_odd, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    for (int i = 0; i < Y / 2; i++) CHECK((zs[i] = A_malloc(3000)) != NULL);
    for (int i = 0; i < Y / 2; i++) A_free(zs[i]);
    cairn_stats_get(&s1);
    check_delta("malloc around refills with both lists", s1.malloc_calls - s0.malloc_calls, Y + Y / 2);
    check_delta("free around refills with both lists", s1.free_calls - s0.free_calls, Y + Y / 2);
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
    exit_with_all_lists();
    refill_with_both_lists();
    printf("t_exact: level %" PRIu64 ": %" PRIu64 " mallocs and %" PRIu64 " frees counted for %d of each made; "
           "%d frees by a free-only thread counted\n",
           level, c.malloc_calls - a.malloc_calls, c.free_calls - a.free_calls, N + M, K);
    return 0;
}
