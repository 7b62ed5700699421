/* t_api.c: conformance of the malloc family (standard names, or cairn_*
 * names when built with -DCAIRN_PREFIXED). */
#include "testutil.h"
#include <stddef.h>
#include <sys/resource.h>

static size_t small_max, large_max, huge1;

static void *xmalloc(size_t n)
{
    void *p = A_malloc(n);
    CHECK(p != NULL, "malloc(%zu) failed", n);
    return p;
}

static void test_malloc_zero(void)
{
    void *p[64];
    for (int i = 0; i < 64; i++) {
        p[i] = A_malloc(hide_sz(0));
        CHECK(p[i] != NULL, "malloc(0) returned NULL");
        CHECK(is_aligned(p[i], 16), "malloc(0) = %p not 16-aligned", p[i]);
        for (int j = 0; j < i; j++) CHECK(p[i] != p[j], "malloc(0) not unique: %p", p[i]);
    }
    for (int i = 0; i < 64; i++) A_free(p[i]);
    void *z = A_calloc(hide_sz(0), 1);
    CHECK(z != NULL);
    A_free(z);
    z = A_calloc(hide_sz(5), 0);
    CHECK(z != NULL);
    A_free(z);
}

static const size_t *probe_sizes(size_t *count)
{
    static size_t sz[512];
    size_t n = 0;
    for (size_t s = 1; s <= 256; s++) sz[n++] = s;
    for (size_t s = 257; s <= small_max + 64; s = s * 9 / 8 + 1) sz[n++] = s;
    sz[n++] = small_max - 1; sz[n++] = small_max; sz[n++] = small_max + 1;
    for (size_t s = small_max + 2; s < large_max; s = s * 3 / 2 + 7) sz[n++] = s;
    sz[n++] = large_max - 1; sz[n++] = large_max; sz[n++] = large_max + 1;
    sz[n++] = large_max + 4097; sz[n++] = 5 * MiB + 3; sz[n++] = 33 * MiB;
    *count = n;
    return sz;
}

static void test_alignment_and_usable(void)
{
    size_t n;
    const size_t *sz = probe_sizes(&n);
    for (size_t i = 0; i < n; i++) {
        size_t s = sz[i];
        void *p = xmalloc(hide_sz(s));
        CHECK(is_aligned(p, 16), "malloc(%zu) = %p not 16-aligned", s, p);
        size_t u = A_usable(p);
        CHECK(u >= s, "usable_size(malloc(%zu)) = %zu", s, u);
        memset(p, 0x5c, u); /* whole usable size must be writable */
        A_free(p);
        p = A_calloc(1, hide_sz(s));
        CHECK(p != NULL && is_aligned(p, 16), "calloc(1,%zu) = %p", s, p);
        CHECK(A_usable(p) >= s);
        A_free(p);
    }
    CHECK(A_usable(NULL) == 0, "malloc_usable_size(NULL) != 0");
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i]) return 0;
    return 1;
}

static void test_calloc_dirty(void)
{
    static const size_t sizes[] = {1, 8, 16, 24, 48, 100, 128, 200, 1000, 4000, 10000,
                                   16384, 16385, 30000, 100000, 600000, 1500000};
    enum { NS = sizeof sizes / sizeof sizes[0], REP = 24 };
    void *blk[NS][REP];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < NS; i++)
            for (int r = 0; r < REP; r++) {
                blk[i][r] = xmalloc(sizes[i]);
                memset(blk[i][r], 0xAA, A_usable(blk[i][r]));
            }
        for (int i = 0; i < NS; i++)
            for (int r = 0; r < REP; r++) A_free(blk[i][r]);
        for (int i = 0; i < NS; i++)
            for (int r = 0; r < REP; r++) {
                /* mix of the two argument orders */
                void *p = (r & 1) ? A_calloc(sizes[i], 1) : A_calloc(1, sizes[i]);
                CHECK(p != NULL, "calloc %zu", sizes[i]);
                CHECK(all_zero(p, sizes[i]), "calloc(%zu) reused dirty memory (round %d)", sizes[i], round);
                blk[i][r] = p;
                memset(p, 0xAA, sizes[i]);
            }
        for (int i = 0; i < NS; i++)
            for (int r = 0; r < REP; r++) A_free(blk[i][r]);
    }
    /* huge calloc after dirty huge free */
    for (int k = 0; k < 3; k++) {
        size_t s = large_max + 12345 + (size_t)k * MiB;
        void *p = xmalloc(s);
        memset(p, 0xAA, s);
        A_free(p);
        p = A_calloc(s, 1);
        CHECK(p && all_zero(p, s), "huge calloc(%zu) not zeroed", s);
        memset(p, 0xAA, s);
        A_free(p);
    }
    /* calloc with n*size composed product */
    int *q = A_calloc(hide_sz(1000), sizeof(int));
    CHECK(q && all_zero(q, 1000 * sizeof(int)));
    A_free(q);
}

static void test_overflow(void)
{
    size_t big[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 4096, (size_t)PTRDIFF_MAX + 1,
                    (size_t)PTRDIFF_MAX, SIZE_MAX / 2 + 4096, (size_t)1 << 62};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        size_t s = hide_sz(big[i]);
        char what[96];
        snprintf(what, sizeof what, "malloc(%#zx)", s);
        CHECK_ENOMEM_NULL(A_malloc(s), what);
        snprintf(what, sizeof what, "calloc(1,%#zx)", s);
        CHECK_ENOMEM_NULL(A_calloc(1, s), what);
        snprintf(what, sizeof what, "calloc(%#zx,1)", s);
        CHECK_ENOMEM_NULL(A_calloc(s, 1), what);
        snprintf(what, sizeof what, "realloc(NULL,%#zx)", s);
        CHECK_ENOMEM_NULL(A_realloc(NULL, s), what);
        snprintf(what, sizeof what, "memalign(16,%#zx)", s);
        CHECK_ENOMEM_NULL(A_memalign(16, s), what);
        snprintf(what, sizeof what, "memalign(4096,%#zx)", s);
        CHECK_ENOMEM_NULL(A_memalign(4096, s), what);
        snprintf(what, sizeof what, "memalign(1MiB,%#zx)", s);
        CHECK_ENOMEM_NULL(A_memalign(MiB, s), what);
        snprintf(what, sizeof what, "aligned_alloc(64,%#zx)", s);
        CHECK_ENOMEM_NULL(A_aligned_alloc(64, s), what);
        snprintf(what, sizeof what, "valloc(%#zx)", s);
        CHECK_ENOMEM_NULL(A_valloc(s), what);
        snprintf(what, sizeof what, "pvalloc(%#zx)", s);
        CHECK_ENOMEM_NULL(A_pvalloc(s), what);
        snprintf(what, sizeof what, "reallocarray(NULL,1,%#zx)", s);
        CHECK_ENOMEM_NULL(A_reallocarray(NULL, 1, s), what);
        void *out = (void *)0x1234;
        int rc = A_posix_memalign(&out, 64, s);
        CHECK(rc == ENOMEM, "posix_memalign(64,%#zx) = %d", s, rc);
        CHECK(out == (void *)0x1234, "posix_memalign changed out-param on failure");

        /* failing realloc leaves the old block intact, for each size range */
        size_t olds[] = {40, 5000, small_max + 100, 300000, huge1};
        for (size_t k = 0; k < sizeof olds / sizeof olds[0]; k++) {
            void *p = xmalloc(olds[k]);
            pattern_fill(p, olds[k], 77 + k);
            snprintf(what, sizeof what, "realloc(%zu-byte block,%#zx)", olds[k], s);
            CHECK_ENOMEM_NULL(A_realloc(p, s), what);
            CHECK(pattern_check(p, olds[k], 77 + k) == (size_t)-1, "failed realloc damaged block");
            snprintf(what, sizeof what, "reallocarray(%zu-byte block,1,%#zx)", olds[k], s);
            CHECK_ENOMEM_NULL(A_reallocarray(p, 1, s), what);
            CHECK(pattern_check(p, olds[k], 77 + k) == (size_t)-1, "failed reallocarray damaged block");
            A_free(p);
        }
    }
    /* multiplication overflow */
    struct { size_t n, s; } ov[] = {
        {SIZE_MAX / 2 + 1, 2}, {2, SIZE_MAX / 2 + 1}, {(size_t)1 << 32, (size_t)1 << 32},
        {SIZE_MAX, SIZE_MAX}, {65537, (SIZE_MAX / 65536)}, {3, SIZE_MAX / 3 + 1},
    };
    for (size_t i = 0; i < sizeof ov / sizeof ov[0]; i++) {
        char what[96];
        size_t n = hide_sz(ov[i].n), s = hide_sz(ov[i].s);
        snprintf(what, sizeof what, "calloc(%#zx,%#zx)", n, s);
        CHECK_ENOMEM_NULL(A_calloc(n, s), what);
        snprintf(what, sizeof what, "reallocarray(NULL,%#zx,%#zx)", n, s);
        CHECK_ENOMEM_NULL(A_reallocarray(NULL, n, s), what);
        void *p = xmalloc(100);
        pattern_fill(p, 100, i);
        snprintf(what, sizeof what, "reallocarray(p,%#zx,%#zx)", n, s);
        CHECK_ENOMEM_NULL(A_reallocarray(p, n, s), what);
        CHECK(pattern_check(p, 100, i) == (size_t)-1, "failed reallocarray damaged block");
        A_free(p);
    }
}

static void test_realloc_ranges(void)
{
    const size_t steps[] = {1, 7, 16, 17, 100, 128, 129, 1000, 4096, 10000, small_max - 1,
                            small_max, small_max + 1, 20000, 65536, 200000, MiB, large_max - 16,
                            large_max, large_max + 1, 3 * MiB, 9 * MiB, 40 * MiB, 9 * MiB + 5,
                            large_max + 1, large_max, 700000, 30000, small_max + 1, small_max,
                            5000, 129, 33, 16, 3, 1, 250000, 20, 6 * MiB, 100, 40000, 2};
    size_t n = sizeof steps / sizeof steps[0];
    for (int pass = 0; pass < 2; pass++) {
        size_t cur = steps[0];
        uint64_t tag = 1000 + (uint64_t)pass;
        char *p = pass ? A_realloc(NULL, cur) : A_malloc(cur);
        CHECK(p != NULL);
        pattern_fill(p, cur, tag);
        for (size_t i = 1; i < n; i++) {
            size_t next = steps[i];
            char *q = A_realloc(p, next);
            CHECK(q != NULL, "realloc(%zu -> %zu) failed", cur, next);
            CHECK(is_aligned(q, 16), "realloc result %p not 16-aligned", q);
            CHECK(A_usable(q) >= next, "usable %zu < %zu after realloc", A_usable(q), next);
            size_t keep = cur < next ? cur : next;
            size_t bad = pattern_check2(q, keep, cur, tag);
            CHECK(bad == (size_t)-1, "realloc %zu -> %zu lost byte %zu", cur, next, bad);
            /* the remaining usable space is writable */
            memset(q + keep, 0x3c, A_usable(q) - keep);
            tag++;
            pattern_fill(q, next, tag);
            p = q;
            cur = next;
        }
        A_free(p);
    }
    /* realloc to the same size and to slightly smaller keeps data */
    char *p = xmalloc(5000);
    pattern_fill(p, 5000, 9);
    p = A_realloc(p, 5000);
    CHECK(p && pattern_check(p, 5000, 9) == (size_t)-1);
    p = A_realloc(p, 4990);
    CHECK(p && pattern_check2(p, 4990, 5000, 9) == (size_t)-1);
    A_free(p);
    /* realloc(p, 0): either frees and returns NULL, or returns a freeable block */
    p = xmalloc(100);
    void *r = A_realloc(p, hide_sz(0));
    if (r) A_free(r);
}

static void test_realloc_os_fail(void)
{
    /* a growth that needs fresh memory from the OS must fail cleanly */
    size_t olds[] = {64, 3000, small_max + 16, 500000, huge1};
    for (size_t k = 0; k < sizeof olds / sizeof olds[0]; k++) {
        char *p = xmalloc(olds[k]);
        pattern_fill(p, olds[k], 555 + k);
        cairn_test_os_fail(0);
        errno = 0;
        void *q = A_realloc(p, 64 * MiB + k * 4096);
        int e = errno;
        cairn_test_os_fail(-1);
        CHECK(q == NULL, "realloc(%zu -> 64MiB) succeeded with OS memory failing", olds[k]);
        CHECK(e == ENOMEM, "errno %d", e);
        CHECK(pattern_check(p, olds[k], 555 + k) == (size_t)-1, "failed realloc damaged the block");
        cairn_test_os_fail(0);
        errno = 0;
        q = A_malloc(80 * MiB);
        e = errno;
        cairn_test_os_fail(-1);
        CHECK(q == NULL && e == ENOMEM, "huge malloc with OS failing: %p errno %d", q, e);
        /* now it works */
        q = A_realloc(p, 64 * MiB + k * 4096);
        CHECK(q != NULL);
        CHECK(pattern_check(q, olds[k], 555 + k) == (size_t)-1, "realloc lost data");
        A_free(q);
    }
    CHECK(heap_check_ok());
}

static void test_posix_memalign_einval(void)
{
    size_t bad[] = {0, 1, 2, 3, 4, sizeof(void *) / 2, sizeof(void *) + 1, 12, 24, 48, 96,
                    4095, 4097, 3 * 4096, (size_t)1 << 63 | 8, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (bad[i] >= sizeof(void *) && (bad[i] & (bad[i] - 1)) == 0) continue;
        for (size_t s = 0; s < 3; s++) {
            void *out = (void *)0x4321;
            size_t sz = s == 0 ? 0 : s == 1 ? 100 : 100000;
            int rc = A_posix_memalign(&out, hide_sz(bad[i]), sz);
            CHECK(rc == EINVAL, "posix_memalign(align=%zu,%zu) = %d, want EINVAL", bad[i], sz, rc);
            CHECK(out == (void *)0x4321, "out-param modified on EINVAL");
        }
    }
    void *out = NULL;
    CHECK(A_posix_memalign(&out, sizeof(void *), 0) == 0 && out != NULL);
    A_free(out);
}

static void check_aligned_block(void *p, size_t align, size_t size, const char *fn)
{
    CHECK(p != NULL, "%s(align=%zu,size=%zu) failed", fn, align, size);
    CHECK(is_aligned(p, align), "%s(align=%zu,size=%zu) = %p misaligned", fn, align, size, p);
    CHECK(is_aligned(p, 16), "%s result %p not 16-aligned", fn, p);
    size_t u = A_usable(p);
    CHECK(u >= size, "%s(align=%zu,size=%zu): usable %zu", fn, align, size, u);
    if (u <= 4 * MiB) memset(p, 0xee, u); /* all of the usable size is writable */
    pattern_fill(p, size, align ^ size);
}

static void *realloc_check(void *p, size_t size, uint64_t tag)
{
    void *q = A_realloc(p, size * 2 + 3);
    CHECK(q != NULL, "realloc of aligned block failed");
    CHECK(pattern_check(q, size, tag) == (size_t)-1, "realloc of aligned block lost data");
    return q;
}

static void test_aligned(void)
{
    const size_t sizes[] = {1, 24, 1000, 40000, 300000};
    for (size_t align = 1; align <= 64 * MiB; align <<= 1) {
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0] + 1; si++) {
            size_t size = si < sizeof sizes / sizeof sizes[0] ? sizes[si] : align + 8;
            if (size > 9 * MiB) continue;
            uint64_t tag = align ^ size;
            void *p = A_memalign(align, size);
            check_aligned_block(p, align, size, "memalign");
            p = realloc_check(p, size, tag);
            A_free(p);

            p = A_aligned_alloc(align, size);
            check_aligned_block(p, align, size, "aligned_alloc");
            A_free_aligned_sized(p, align, size);
            p = A_aligned_alloc(align, size);
            check_aligned_block(p, align, size, "aligned_alloc");
            p = realloc_check(p, size, tag);
            A_free(p);

            void *out = (void *)0x1;
            int rc = A_posix_memalign(&out, align, size);
            if (align < sizeof(void *)) {
                CHECK(rc == EINVAL, "posix_memalign(%zu) = %d", align, rc);
                CHECK(out == (void *)0x1);
            } else {
                CHECK(rc == 0, "posix_memalign(%zu,%zu) = %d", align, size, rc);
                check_aligned_block(out, align, size, "posix_memalign");
                out = realloc_check(out, size, tag);
                A_free(out);
            }
        }
    }
    /* many live aligned blocks of mixed alignment don't overlap */
    enum { N = 300 };
    void *b[N];
    size_t bs[N];
    rng_t r;
    rng_seed(&r, 42);
    for (int i = 0; i < N; i++) {
        size_t al = (size_t)1 << rng_below(&r, 17);
        bs[i] = rng_range(&r, 1, 20000);
        b[i] = A_memalign(al, bs[i]);
        check_aligned_block(b[i], al, bs[i], "memalign");
        pattern_fill(b[i], bs[i], (uint64_t)i);
    }
    for (int i = 0; i < N; i++)
        CHECK(pattern_check(b[i], bs[i], (uint64_t)i) == (size_t)-1, "aligned blocks overlap");
    for (int i = 0; i < N; i++) A_free(b[i]);
}

static size_t peak_rss(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (size_t)ru.ru_maxrss * 1024;
}

static void test_big_alignment_waste(void)
{
    for (size_t align = MiB; align <= 64 * MiB; align <<= 1) {
        enum { K = 6 };
        void *p[K];
        cairn_stats_t a, b;
        size_t rss0 = rss_bytes(), peak0 = peak_rss();
        cairn_stats_get(&a);
        for (int i = 0; i < K; i++) {
            p[i] = A_memalign(align, 100);
            check_aligned_block(p[i], align, 100, "memalign");
        }
        cairn_stats_get(&b);
        size_t rss1 = rss_bytes(), peak1 = peak_rss();
        int64_t mapped = (int64_t)(b.mapped_bytes - a.mapped_bytes);
        CHECK(mapped <= (int64_t)(K * (100 + align) + 8 * MiB),
              "%d x memalign(%zu MiB, 100) grew mapped_bytes by %" PRId64 " bytes", K,
              align / MiB, mapped);
        CHECK(rss1 <= rss0 + 16 * MiB, "memalign(%zu MiB) x%d raised RSS by %zu KiB", align / MiB,
              K, (rss1 - rss0) / 1024);
        CHECK(peak1 <= peak0 + 16 * MiB || peak1 <= rss0 + 16 * MiB,
              "memalign(%zu MiB) x%d raised peak RSS to %zu KiB", align / MiB, K, peak1 / 1024);
        for (int i = 0; i < K; i++) A_free(p[i]);
    }
}

static void test_valloc_pvalloc(void)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size_t sizes[] = {0, 1, 100, pg - 1, pg, pg + 1, 3 * pg + 5, 100000, 3 * MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t s = hide_sz(sizes[i]);
        void *p = A_valloc(s);
        CHECK(p && is_aligned(p, pg), "valloc(%zu) = %p", s, p);
        CHECK(A_usable(p) >= s);
        memset(p, 1, s);
        A_free(p);
        p = A_pvalloc(s);
        size_t want = s == 0 ? pg : (s + pg - 1) / pg * pg;
        CHECK(p && is_aligned(p, pg), "pvalloc(%zu) = %p", s, p);
        CHECK(A_usable(p) >= want, "pvalloc(%zu): usable %zu < %zu", s, A_usable(p), want);
        memset(p, 2, want);
        A_free(p);
    }
}

static void test_free_misc(void)
{
    A_free(NULL);
    A_free_sized(NULL, 0);
    A_free_sized(NULL, 100);
    A_free_aligned_sized(NULL, 64, 100);
    size_t sizes[] = {0, 10, 1000, small_max, small_max + 1, 200000, large_max, huge1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = xmalloc(sizes[i]);
        errno = 1234;
        A_free(p);
        CHECK(errno == 1234, "free(%zu-byte block) changed errno to %d", sizes[i], errno);
        p = xmalloc(sizes[i]);
        errno = 1234;
        A_free_sized(p, sizes[i]);
        CHECK(errno == 1234, "free_sized changed errno to %d", errno);
        p = A_aligned_alloc(256, sizes[i]);
        CHECK(p);
        errno = 1234;
        A_free_aligned_sized(p, 256, sizes[i]);
        CHECK(errno == 1234, "free_aligned_sized changed errno to %d", errno);
        p = A_calloc(1, sizes[i]);
        errno = 1234;
        A_free(p);
        CHECK(errno == 1234);
    }
    errno = 1234;
    A_free(NULL);
    CHECK(errno == 1234);
}

static void test_stats_counts(void)
{
    enum { N = 100 };
    void *p[N];
    cairn_stats_t a, b, c;
    cairn_stats_get(&a);
    for (int i = 0; i < N; i++) p[i] = xmalloc(i < 60 ? 32 : i < 90 ? 100000 : huge1);
    cairn_stats_get(&b);
    CHECK(b.live_blocks - a.live_blocks == N, "live_blocks delta %" PRIu64, b.live_blocks - a.live_blocks);
    CHECK(b.small_live_blocks - a.small_live_blocks == 60);
    CHECK(b.large_live_blocks - a.large_live_blocks == 30);
    CHECK(b.huge_live_blocks - a.huge_live_blocks == 10);
    CHECK(b.malloc_calls - a.malloc_calls == N);
    CHECK(b.live_bytes - a.live_bytes >= 60 * 32 + 30 * 100000 + 10 * huge1);
    CHECK(b.mapped_bytes >= b.live_bytes, "mapped %" PRIu64 " < live %" PRIu64, b.mapped_bytes, b.live_bytes);
    CHECK(b.peak_mapped_bytes >= b.mapped_bytes);
    CHECK(b.segments >= 1 && b.heaps >= 1);
    CHECK(b.huge_mappings >= 10);
    for (int i = 0; i < N; i++) A_free(p[i]);
    cairn_stats_get(&c);
    CHECK(c.live_blocks == a.live_blocks, "live_blocks %" PRIu64 " after freeing, was %" PRIu64,
          c.live_blocks, a.live_blocks);
    CHECK(c.free_calls - b.free_calls == N);
}

static void test_reallocarray(void)
{
    int *a = A_reallocarray(NULL, 10, sizeof(int));
    CHECK(a);
    for (int i = 0; i < 10; i++) a[i] = i * 7;
    a = A_reallocarray(a, 100000, sizeof(int));
    CHECK(a);
    for (int i = 0; i < 10; i++) CHECK(a[i] == i * 7);
    for (int i = 0; i < 100000; i++) a[i] = i;
    a = A_reallocarray(a, 5, sizeof(int));
    CHECK(a);
    for (int i = 0; i < 5; i++) CHECK(a[i] == i);
    A_free(a);
}

#ifndef CAIRN_PREFIXED
static void test_glibc_introspection(void)
{
    /* README: glibc's malloc_stats, mallinfo2 and malloc_info are supported */
    struct mallinfo2 a = mallinfo2();
    enum { N = 64 };
    void *p[N];
    for (int i = 0; i < N; i++) p[i] = xmalloc(i % 2 ? 200 : 150000);
    p[0] = A_realloc(p[0], 8 * MiB);
    CHECK(p[0]);
    struct mallinfo2 b = mallinfo2();
    size_t used_a = a.uordblks + a.hblkhd, used_b = b.uordblks + b.hblkhd;
    CHECK(used_b >= used_a + 32 * 150000 + 8 * MiB,
          "mallinfo2 in-use bytes grew by %zd, expected >= %zu", (ssize_t)(used_b - used_a),
          32 * 150000 + 8 * MiB);
    CHECK(b.arena + b.hblkhd >= used_b - b.hblkhd, "mallinfo2 arena smaller than in-use");
    for (int i = 0; i < N; i++) A_free(p[i]);
    struct mallinfo2 c = mallinfo2();
    CHECK(c.uordblks + c.hblkhd < used_b - 8 * MiB, "mallinfo2 in-use did not drop after free");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f);
    CHECK(malloc_info(0, f) == 0, "malloc_info failed");
    fclose(f);
    CHECK(len > 0 && strstr(buf, "<malloc"), "malloc_info output: %.80s", buf ? buf : "(null)");
    A_free(buf);
    errno = 0;
    CHECK(malloc_info(1, stderr) != 0 && errno == EINVAL, "malloc_info(options=1) should fail with EINVAL");
}
#endif

int main(void)
{
    watchdog(120);
    small_max = cairn_small_max();
    large_max = cairn_large_max();
    huge1 = large_max + 100 * KiB;
    CHECK(small_max >= 16 && large_max > small_max, "small_max %zu large_max %zu", small_max, large_max);
    test_malloc_zero();
    test_alignment_and_usable();
    test_calloc_dirty();
    test_overflow();
    test_realloc_ranges();
    test_realloc_os_fail();
    test_posix_memalign_einval();
    test_aligned();
    test_big_alignment_waste();
    test_valloc_pvalloc();
    test_free_misc();
    test_stats_counts();
    test_reallocarray();
#ifndef CAIRN_PREFIXED
    test_glibc_introspection();
#endif
    CHECK(heap_check_ok());
    printf("t_api (%s names): ok\n", A_NAME);
    return 0;
}
