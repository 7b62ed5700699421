/* t_secure.c: what the secure build (libcairn-secure.so, preloaded) promises
 * beyond the default one, checked through the standard API: zero-size
 * blocks are distinct and inaccessible, freed blocks are not handed out
 * again at once, blocks of a page come in no fixed order, realloc always
 * moves, calloc zeroes recycled memory, every alignment is kept with its
 * canary intact, and a thread's quarantine goes back when it exits.
 * usage: t_secure (run with LD_PRELOAD=.../libcairn-secure.so) */
#include "testutil.h"
#include <pthread.h>

static void *volatile sink;

static void zero_size(void)
{
    void *a = A_malloc(0), *b = A_malloc(0);
    CHECK(a && b && a != b, "malloc(0) must give distinct pointers: %p %p", a, b);
    CHECK(A_usable(a) == 0, "usable size of malloc(0) is %zu", A_usable(a));
    A_free(a);
    A_free(b);
    void *c = A_realloc(NULL, 0);
    CHECK(c != NULL);
    char *d = A_realloc(c, 10);            /* from a zero-size slot to a real block */
    CHECK(d);
    memset(d, 1, 10);
    A_free(d);
}

/* A freed block stays out of use for a while: the next many mallocs of
 * its size do not return it. */
static void quarantine(void)
{
    for (size_t size = 24; size <= 200000; size *= 5) {
        void *p = A_malloc(size);
        CHECK(p);
        A_free(p);
        for (int i = 0; i < 40; i++) {
            void *q = A_malloc(size);
            CHECK(q && q != p, "size %zu: freed block %p handed out again after %d mallocs", size, p, i);
            A_free(q);
        }
    }
}

/* Consecutive mallocs of one class do not walk the page in order. */
static void random_order(void)
{
    enum { N = 64 };
    char *p[N];
    int ascending = 0;
    for (int i = 0; i < N; i++) CHECK(p[i] = A_malloc(48));
    for (int i = 1; i < N; i++) ascending += p[i] > p[i - 1];
    CHECK(ascending < N - 8, "%d of %d steps went up: no randomisation", ascending, N - 1);
    for (int i = 0; i < N; i++) A_free(p[i]);
}

static void realloc_moves(void)
{
    char *p = A_malloc(100);
    CHECK(p);
    pattern_fill(p, 100, 5);
    char *q = A_realloc(p, 90);             /* even shrinking moves the block */
    CHECK(q && q != p, "realloc kept the block in place");
    CHECK(pattern_check(q, 90, 5) == (size_t)-1, "realloc lost contents");
    char *r = A_realloc(q, 300000);
    CHECK(r && pattern_check(r, 90, 5) == (size_t)-1, "realloc to large lost contents");
    A_free(r);
}

static void calloc_zeroes(void)
{
    for (int round = 0; round < 200; round++) {
        size_t n = 16 + (size_t)round * 97;
        char *p = A_malloc(n);
        CHECK(p);
        memset(p, 0xee, n);
        A_free(p);
        char *z = A_calloc(1, n);
        CHECK(z);
        for (size_t i = 0; i < n; i++) CHECK(z[i] == 0, "calloc(%zu) byte %zu is %d", n, i, z[i]);
        A_free(z);
    }
}

/* Aligned blocks of every kind, written to the last requested byte; free
 * checks the canary right after it. */
static void alignments(void)
{
    size_t sizes[] = { 1, 40, 5000, 70000, 3 * MiB, cairn_large_max() + 12345 };
    for (size_t a = 16; a <= 4 * MiB; a *= 4)
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            char *p = A_memalign(a, sizes[k]);
            CHECK(p && ((uintptr_t)p & (a - 1)) == 0, "memalign(%zu, %zu) = %p", a, sizes[k], (void *)p);
            CHECK(A_usable(p) >= sizes[k]);
            memset(p, 0x77, sizes[k]);
            A_free(p);
            void *q;
            CHECK(A_posix_memalign(&q, a, sizes[k]) == 0 && ((uintptr_t)q & (a - 1)) == 0);
            A_free(q);
        }
}

static void *thread_body(void *arg)
{
    (void)arg;
    for (int i = 0; i < 500; i++) A_free(A_malloc(64 + (size_t)i));
    return NULL;
}

/* A thread's quarantined blocks are freed for real when it exits. */
static void thread_exit_flushes(void)
{
    A_malloc_trim(0);
    cairn_stats_t s0, s1;
    cairn_stats_get(&s0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, thread_body, NULL) == 0);
    pthread_join(t, NULL);
    A_malloc_trim(0);
    cairn_stats_get(&s1);
    CHECK(s1.live_blocks <= s0.live_blocks + 4, "live blocks %" PRIu64 " after the thread, %" PRIu64 " before",
          s1.live_blocks, s0.live_blocks);
}

int main(void)
{
    zero_size();
    quarantine();
    random_order();
    realloc_moves();
    calloc_zeroes();
    alignments();
    thread_exit_flushes();
    CHECK(cairn_check_heap(stderr) == 0, "heap check failed");
    printf("t_secure: ok\n");
    return 0;
}
