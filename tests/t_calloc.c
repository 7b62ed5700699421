/* t_calloc.c: calloc returns zeroed memory on every path, and skips the
 * memset where it knows the memory is zero. Small blocks carved from a
 * fresh page are zero already (PM_FREE_ZERO); blocks freed and reused
 * (locally, by another thread, after a trim) are not, and must be cleared.
 * Large blocks cut from a fresh mapping are zero but for their first bytes
 * (LB_ZERO); once merged or reused they are cleared. The fresh cases are
 * checked from outside: the OS pages of a fresh 16 KiB or 1 MiB calloc
 * block past its first stay untouched (mincore, before anything reads
 * them: a read maps the zero page, which mincore counts). Memory whose
 * purge the kernel refused (locked pages) is not zero and is cleared. */
#include "testutil.h"
#include <pthread.h>
#include <stdbool.h>
#include <sys/mman.h>

enum { N = 300 };
static const size_t sizes[] = { 1, 8, 16, 24, 48, 100, 512, 1000, 1024, 1100, 4000, 8192, 12000, 16384 };
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void check_zero(const unsigned char *p, size_t n, const char *when)
{
    for (size_t i = 0; i < n; i++)
        CHECK(p[i] == 0, "%s: calloc(%zu) byte %zu is 0x%02x", when, n, i, p[i]);
}

/* Fill with a non-zero pattern and free: the blocks go back dirty. */
static void dirty_blocks(void **p, size_t n, size_t size)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = A_malloc(size);
        CHECK(p[i]);
        memset(p[i], 0xA5, A_usable(p[i]));
    }
}

static void calloc_all_zero(void **p, size_t n, size_t size, const char *when)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = A_calloc(1, size);
        CHECK(p[i], "calloc(1, %zu)", size);
        check_zero(p[i], size, when);
    }
}

static void free_all(void **p, size_t n)
{
    for (size_t i = 0; i < n; i++) A_free(p[i]);
}

static bool thp_always(void)
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char thp[128] = "";
    if (f) { if (!fgets(thp, sizeof thp, f)) thp[0] = 0; fclose(f); }
    return strstr(thp, "[always]") != NULL;
}

/* OS pages past the first of each of the b blocks of bs bytes at p that
 * are not resident (mincore), of *tail_pages in all. Call it before
 * anything reads them: a read maps the zero page, which mincore counts. */
static size_t untouched_pages(void **p, size_t b, size_t bs, size_t *tail_pages)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), untouched = 0;
    *tail_pages = 0;
    for (size_t i = 0; i < b; i++) {
        uintptr_t lo = ((uintptr_t)p[i] + pg) & ~(uintptr_t)(pg - 1), hi = ((uintptr_t)p[i] + bs) & ~(uintptr_t)(pg - 1);
        for (uintptr_t a = lo; a < hi; a += pg) {
            unsigned char v = 0;
            CHECK(mincore((void *)a, pg, &v) == 0);
            ++*tail_pages;
            untouched += !(v & 1);
        }
    }
    return untouched;
}

/* The first tests of the process: blocks from a fresh segment, b of bs
 * bytes (16 KiB: small blocks; 1 MiB: large ones, cut from the first
 * segment of the large heap). */
static void fresh_untouched(size_t b, size_t bs)
{
    enum { B = 64 };
    static void *p[B];
    CHECK(b <= B);
    size_t tail_pages;
    for (size_t i = 0; i < b; i++) CHECK((p[i] = A_calloc(1, bs)) != NULL);
    size_t untouched = untouched_pages(p, b, bs, &tail_pages);
    for (size_t i = 0; i < b; i++) check_zero(p[i], bs, "fresh");   /* after mincore: reads map pages */
    if (thp_always()) {
        printf("fresh: THP is always on here, residency not checked (%zu of %zu untouched)\n", untouched, tail_pages);
    } else {
        CHECK(tail_pages >= b, "%zu-byte blocks span %zu OS pages past their first", bs, tail_pages);
        CHECK(untouched * 4 >= tail_pages * 3, "fresh calloc touched its memory: %zu of %zu OS pages past "
              "each block's first are resident (memset not skipped?)", tail_pages - untouched, tail_pages);
        printf("fresh %zu-byte blocks: %zu of %zu OS pages past the first of each untouched\n", bs, untouched, tail_pages);
    }
    free_all(p, b);
}

/* Large blocks written, freed and purged by a trim, then taken again by
 * calloc. Pages the kernel purged read zero and are left alone (LB_ZPAGES):
 * only the first and last partial OS pages are cleared, so the rest stay
 * untouched. With the purges refused (the test hook) nothing is known
 * zero and every byte is cleared. A live block in front keeps the segment
 * in the arena. */
static void large_purged(bool refused)
{
    enum { L = 3 };
    static void *p[L];
    const size_t sz[L] = { 1 << 20, 300000, 70000 };
    void *keep = A_malloc(40000);
    CHECK(keep);
    for (int i = 0; i < L; i++) {
        CHECK((p[i] = A_malloc(sz[i])) != NULL);
        memset(p[i], 0x5A, A_usable(p[i]));
    }
    free_all(p, L);
    cairn_test_purge_fail(refused);
    A_malloc_trim(0);
    cairn_test_purge_fail(0);
    size_t untouched = 0, pages = 0, tail;
    for (int i = 0; i < L; i++) {
        CHECK((p[i] = A_calloc(1, sz[i])) != NULL);
        untouched += untouched_pages(&p[i], 1, sz[i], &tail);
        pages += tail;
    }
    for (int i = 0; i < L; i++) check_zero(p[i], sz[i], refused ? "large, purge refused" : "large, purged");
    if (refused)
        CHECK(untouched == 0, "large calloc after a refused purge: %zu of %zu pages not written", untouched, pages);
    else if (!thp_always())
        CHECK(untouched + 3 * L >= pages, "large calloc after a purge wrote its pages: %zu of %zu untouched",
              untouched, pages);
    printf("large, purge %s: %zu of %zu OS pages past the first of each untouched\n",
           refused ? "refused" : "done", untouched, pages);
    free_all(p, L);
    A_free(keep);
}

struct batch { void **p; size_t n; };

static void *free_batch(void *arg)
{
    struct batch *b = arg;
    free_all(b->p, b->n);
    return NULL;
}

/* Three ways for dirty blocks to go back before calloc asks again. */
static void by_owner(void **p, size_t n) { free_all(p, n); }

static void by_other_thread(void **p, size_t n)
{
    struct batch b = { p, n };
    pthread_t t;
    CHECK(pthread_create(&t, NULL, free_batch, &b) == 0);
    CHECK(pthread_join(t, NULL) == 0);
}

static void then_trim(void **p, size_t n)
{
    free_all(p, n);
    A_malloc_trim(0);
}

/* Every size: dirty blocks released one way, then calloc'd again. */
static void reuse(void (*release)(void **, size_t), const char *when)
{
    static void *p[N];
    for (size_t k = 0; k < NSIZES; k++) {
        dirty_blocks(p, N, sizes[k]);
        release(p, N);
        calloc_all_zero(p, N, sizes[k], when);
        free_all(p, N);
    }
}

/* Large blocks written, freed (merging with their free neighbours) and
 * taken again by calloc: no longer known zero, so cleared. */
static void large_reused(void)
{
    enum { L = 6 };
    static void *p[L];
    const size_t sz[L] = { 40000, 1 << 20, 300000, 70000, 2 << 20, 20000 };
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < L; i++) {
            CHECK((p[i] = A_malloc(sz[i])) != NULL);
            memset(p[i], 0x5A, A_usable(p[i]));
        }
        free_all(p, L);
        for (int i = L - 1; i >= 0; i--) {
            CHECK((p[i] = A_calloc(1, sz[i])) != NULL);
            check_zero(p[i], sz[i], "large, reused");
        }
        free_all(p, L);
    }
}

/* Dirty blocks of `size` freed, then a trim whose purges are refused, as
 * the kernel refuses them for locked memory: the pages keep their bytes,
 * so calloc must still clear what it hands out. `lock` asks the kernel
 * itself (mlock of each block's pages); without it the test hook refuses. */
static int lock_blocks(void **p, size_t n, size_t size, bool on)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    for (size_t i = 0; i < n; i++) {
        uintptr_t lo = (uintptr_t)p[i] & ~(uintptr_t)(pg - 1);
        uintptr_t hi = ((uintptr_t)p[i] + size + pg - 1) & ~(uintptr_t)(pg - 1);
        if ((on ? mlock((void *)lo, hi - lo) : munlock((void *)lo, hi - lo)) != 0) return errno;
    }
    return 0;
}

static bool refused_purge(size_t size, bool lock)
{
    static void *p[N];
    dirty_blocks(p, N, size);
    int err = lock ? lock_blocks(p, N, size, true) : 0;
    if (err) {
        printf("t_calloc: mlock refused (%s): the kernel's own refusal not tried\n", strerror(err));
        lock_blocks(p, N, size, false);
        free_all(p, N);
        return false;
    }
    static void *old[N];
    memcpy(old, p, sizeof p);
    free_all(p, N);
    if (!lock) cairn_test_purge_fail(1);
    A_malloc_trim(0);
    cairn_test_purge_fail(0);
    calloc_all_zero(p, N, size, lock ? "after a purge of locked pages" : "after a refused purge");
    free_all(p, N);
    if (lock) lock_blocks(old, N, size, false);
    return true;
}

static void refused_purges(void)
{
    void *keep = A_malloc(24);          /* the segment stays: its pages are purged */
    CHECK(keep);
    const size_t sz[] = { 48, 1000, 4000, 12000 };
    for (size_t k = 0; k < sizeof sz / sizeof sz[0]; k++) refused_purge(sz[k], false);
    for (size_t k = 0; k < sizeof sz / sizeof sz[0]; k++)
        if (!refused_purge(sz[k], true)) break;
    A_free(keep);
}

/* Huge blocks (above 32 MiB) freed into the cache of mappings and taken
 * again by calloc: the part that held the old block is cleared, and a
 * part the cache grew by (mremap: fresh pages) is left untouched. */
static void huge_reused(void)
{
    size_t mib = (size_t)1 << 20, pg = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char *p = A_malloc(40 * mib);
    CHECK(p);
    memset(p, 0x77, 40 * mib);
    A_free(p);                                   /* cached */
    unsigned char *q = A_calloc(1, 64 * mib);    /* the cached mapping, grown */
    CHECK(q);
    size_t fresh = 0, tail = 0;
    for (size_t off = 48 * mib; off < 64 * mib; off += pg, tail++) {
        unsigned char v = 0;
        CHECK(mincore(q + off, pg, &v) == 0);
        fresh += !(v & 1);
    }
    check_zero(q, 64 * mib, "huge, reused and grown");
    if (!thp_always())
        CHECK(fresh * 4 >= tail * 3, "huge calloc wrote the pages its mapping grew by: %zu of %zu untouched",
              fresh, tail);
    printf("huge, reused and grown: %zu of %zu OS pages past the old block untouched\n", fresh, tail);
    memset(q, 0x78, 64 * mib);
    A_free(q);
    q = A_calloc(1, 48 * mib);                   /* the same mapping, trimmed */
    CHECK(q);
    check_zero(q, 48 * mib, "huge, reused and trimmed");
    A_free(q);
}

/* Random calloc/malloc/free with patterns: calloc never sees old bytes,
 * malloc'd blocks keep theirs. */
static void random_mix(void)
{
    enum { SLOTS = 2000, OPS = 200000 };
    static unsigned char *p[SLOTS];
    static size_t sz[SLOTS];
    static uint64_t tag[SLOTS];
    rng_t r;
    rng_seed(&r, 42);
    for (int op = 0; op < OPS; op++) {
        size_t i = rng_below(&r, SLOTS);
        if (p[i]) {
            CHECK(pattern_check(p[i], sz[i], tag[i]) == (size_t)-1, "block %zu damaged", i);
            A_free(p[i]);
            p[i] = NULL;
            continue;
        }
        sz[i] = rng_below(&r, 8) ? rng_range(&r, 1, 1024) : rng_range(&r, 1, 20000);
        tag[i] = rng_next(&r);
        if (rng_below(&r, 2)) {
            p[i] = A_calloc(sz[i], 1);
            CHECK(p[i]);
            check_zero(p[i], sz[i], "random mix");
        } else {
            p[i] = A_malloc(sz[i]);
            CHECK(p[i]);
        }
        pattern_fill(p[i], sz[i], tag[i]);
    }
    for (size_t i = 0; i < SLOTS; i++) A_free(p[i]);
}

int main(void)
{
    fresh_untouched(3, (size_t)1 << 20);       /* large first: no cached segment yet */
    fresh_untouched(64, 16384);
    large_reused();
    large_purged(false);
    large_purged(true);
    huge_reused();
    reuse(by_owner, "after local frees");
    reuse(by_other_thread, "after remote frees");
    reuse(then_trim, "after a trim");
    refused_purges();
    random_mix();
    CHECK(heap_check_ok());
    printf("t_calloc: ok (%s API)\n", A_NAME);
    return 0;
}
