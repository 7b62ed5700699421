/* t_faults.c: fault injection. With cairn_test_os_fail(n) for a range of n,
 * every allocation either succeeds (and is usable) or returns NULL with errno
 * ENOMEM; a failed realloc leaves the block intact. Afterwards the heap is
 * consistent and allocation works again.  usage: t_faults [max-n] */
#include "testutil.h"
#include <pthread.h>

enum { MAXB = 4096 };
static void *blk[MAXB];
static size_t bsz[MAXB];
static int nb;
static long n_ok, n_fail;
static size_t small_max, large_max;

static void note(void *p, size_t size, int err, const char *what, int must_succeed)
{
    if (!p) {
        CHECK(!must_succeed, "%s(%zu) failed with fault injection off", what, size);
        CHECK(err == ENOMEM, "%s(%zu) returned NULL with errno %d", what, size, err);
        n_fail++;
        return;
    }
    n_ok++;
    CHECK(A_usable(p) >= size, "%s(%zu): usable %zu", what, size, A_usable(p));
    CHECK(nb < MAXB);
    pattern_fill(p, size, (uint64_t)nb * 7919);
    blk[nb] = p;
    bsz[nb] = size;
    nb++;
}

#define TRY(call, size, what)                       \
    do {                                            \
        errno = 0;                                  \
        void *p_ = (call);                          \
        note(p_, (size), errno, (what), must);      \
    } while (0)

static void battery(rng_t *r, int must)
{
    /* small blocks: enough to need several fresh segments */
    for (int i = 0; i < 1200; i++) {
        size_t s = (size_t)rng_range(r, 1, small_max);
        TRY(A_malloc(s), s, "malloc");
    }
    for (int i = 0; i < 40; i++) {       /* a few need segments of several chunks */
        size_t s = (size_t)rng_range(r, small_max + 1, i % 8 ? 2 * MiB : 6 * MiB);
        TRY(A_malloc(s), s, "malloc(large)");
    }
    for (int i = 0; i < 2; i++) {
        size_t s = large_max + 1 + (size_t)rng_below(r, 4 * MiB);
        TRY(A_malloc(s), s, "malloc(huge)");
    }
    for (int i = 0; i < 100; i++) {
        size_t s = (size_t)rng_range(r, 1, 100000);
        errno = 0;
        unsigned char *p = A_calloc(1, s);
        int e = errno;
        if (p)
            for (size_t k = 0; k < s; k += (k < 4096 ? 1 : 509))
                CHECK(p[k] == 0, "calloc(%zu) byte %zu not zero", s, k);
        note(p, s, e, "calloc", must);
    }
    for (int i = 0; i < 60; i++) {
        size_t al = (size_t)1 << rng_range(r, 4, 23);
        size_t s = (size_t)rng_range(r, 1, 300000);
        errno = 0;
        void *m = A_memalign(al, s);
        CHECK(!m || is_aligned(m, al), "memalign(%zu) = %p", al, m);
        note(m, s, errno, "memalign", must);
        void *out = NULL;
        errno = 0;
        int rc = A_posix_memalign(&out, al, s);
        CHECK(rc == 0 || rc == ENOMEM, "posix_memalign rc %d", rc);
        CHECK(rc == 0 || !must);
        CHECK(rc != 0 || is_aligned(out, al), "posix_memalign(%zu) = %p", al, out);
        if (rc == 0) note(out, s, 0, "posix_memalign", must);
        else n_fail++;
        errno = 0;
        m = A_aligned_alloc(al, s);
        CHECK(!m || is_aligned(m, al), "aligned_alloc(%zu) = %p", al, m);
        note(m, s, errno, "aligned_alloc", must);
    }
    /* realloc growth chains */
    for (int i = 0; i < 8; i++) {
        size_t s = 8;
        void *p = A_malloc(s);
        if (!p) { CHECK(!must && errno == ENOMEM); n_fail++; continue; }
        pattern_fill(p, s, 4242 + (uint64_t)i);
        while (s < 8 * MiB) {
            size_t ns = s * 3 + (size_t)rng_below(r, 100);
            errno = 0;
            void *q = A_realloc(p, ns);
            if (!q) {
                CHECK(!must, "realloc(%zu -> %zu) failed with injection off", s, ns);
                CHECK(errno == ENOMEM, "realloc NULL with errno %d", errno);
                n_fail++;
                CHECK(pattern_check(p, s, 4242 + (uint64_t)i) == (size_t)-1, "failed realloc damaged block");
                break;
            }
            n_ok++;
            CHECK(pattern_check(q, s, 4242 + (uint64_t)i) == (size_t)-1, "realloc lost data");
            p = q;
            s = ns;
            pattern_fill(p, s, 4242 + (uint64_t)i);
        }
        CHECK(nb < MAXB);
        blk[nb] = p;
        bsz[nb] = s;
        pattern_fill(p, s, (uint64_t)nb * 7919);
        nb++;
    }
}

static void free_all(void)
{
    for (int i = 0; i < nb; i++) {
        CHECK(pattern_check(blk[i], bsz[i], (uint64_t)i * 7919) == (size_t)-1, "block %d corrupted", i);
        A_free(blk[i]);
    }
    nb = 0;
}

static void *fresh_thread(void *arg)
{
    long after = (long)(intptr_t)arg;
    cairn_test_os_fail(after);
    void *p[8];
    size_t sz[8] = {24, 200, 3000, 16000, 40000, 600000, 3 * MiB, 100};
    for (int i = 0; i < 8; i++) {
        errno = 0;
        p[i] = A_malloc(sz[i]);
        CHECK(p[i] || errno == ENOMEM, "fresh thread malloc(%zu): NULL, errno %d", sz[i], errno);
        if (p[i]) memset(p[i], 0x5a, sz[i]);
    }
    cairn_test_os_fail(-1);
    for (int i = 0; i < 8; i++) A_free(p[i]);
    void *q = A_malloc(1000);
    CHECK(q, "fresh thread cannot allocate after fault injection is off");
    A_free(q);
    return NULL;
}

int main(int argc, char **argv)
{
    long maxn = argc > 1 ? atol(argv[1]) : (test_quick() ? 24 : 64);
    watchdog(300);
    small_max = cairn_small_max();
    large_max = cairn_large_max();
    long fails_seen = 0;
    for (long n = 0; n <= maxn; n++) {
        rng_t r;
        rng_seed(&r, 31337 + (uint64_t)n);
        A_malloc_trim(0); /* drop cached memory so requests reach the OS layer */
        long f0 = n_fail;
        cairn_test_os_fail(n);
        battery(&r, 0);
        cairn_test_os_fail(-1);
        if (n_fail > f0) fails_seen++;
        CHECK(heap_check_ok(), "after fault round %ld", n);
        free_all();
        CHECK(heap_check_ok(), "after freeing, fault round %ld", n);
        /* with failure off everything works again */
        battery(&r, 1);
        free_all();
    }
    CHECK(fails_seen > 0, "fault injection never made an allocation fail");
    /* OS failing while a brand-new thread sets up its heap */
    for (int i = 0; i < 4; i++) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, fresh_thread, (void *)(intptr_t)i) == 0);
        CHECK(pthread_join(t, NULL) == 0);
    }
    CHECK(heap_check_ok());
    printf("t_faults: n=0..%ld, %ld allocations ok, %ld failed cleanly, %ld rounds with failures: ok\n",
           maxn, n_ok, n_fail, fails_seen);
    return 0;
}
