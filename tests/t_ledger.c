/* t_ledger.c: the ledger and the walker.
 *  - the ledger's parts add up to its total, and total + other == RSS;
 *  - each part moves the right way on a crafted pattern: many 17-byte
 *    blocks raise the rounding; freeing every other one raises the free
 *    space in partly used pages; a big free of large blocks raises the free
 *    space in the arenas, a big free of small ones the free pages not yet
 *    returned, until malloc_trim gives them back;
 *  - empty pages a heap keeps for a quick refill are shown as free memory
 *    not returned (dirty_kept_bytes in the snapshot, part 5 of the
 *    ledger), not as free space in used pages, and leave when reused;
 *  - the kept budget goes to the pages that emptied last; pages of large
 *    blocks may be kept past it on a loan from a pool, which bounds what
 *    threads keep between them;
 *  - the walker shows every live block exactly once, across small, large
 *    and huge blocks, after random allocation and freeing with blocks freed
 *    by another thread in between.
 * Built with the prefixed API (tests/tests.mk pfx/), so every block in
 * cairn is the test's own. Run with a long CAIRN_PURGE_DELAY (run.sh). */
#include "testutil.h"
#include <pthread.h>
#include <stdbool.h>

static cairn_ledger_t led(void)
{
    cairn_ledger_t l;
    cairn_ledger_get(&l);
    uint64_t sum = 0;
    for (int i = 0; i < CAIRN_LEDGER_PARTS; i++) sum += l.part[i];
    CHECK(l.size == sizeof l && sum == l.total, "parts sum %" PRIu64 " != total %" PRIu64, sum, l.total);
    CHECK(l.other == (int64_t)l.rss - (int64_t)l.total);
    return l;
}

#define DELTA(b, a, i) ((int64_t)(b).part[i] - (int64_t)(a).part[i])

static void moves(void)
{
    enum { N = 60000 };
    static void *p[N];
    cairn_ledger_t l0 = led();
    for (int i = 0; i < N; i++) { p[i] = A_malloc(17); CHECK(p[i]); memset(p[i], 1, 17); }
    cairn_ledger_t l1 = led();
    /* class 32: the estimate is half of the 16-byte step per block */
    CHECK(DELTA(l1, l0, 1) >= (int64_t)N * 8 * 9 / 10, "rounding rose by %" PRId64, DELTA(l1, l0, 1));
    CHECK(DELTA(l1, l0, 0) >= (int64_t)N * 20, "live requested rose by %" PRId64, DELTA(l1, l0, 0));
    for (int i = 0; i < N; i += 2) A_free(p[i]);
    cairn_ledger_t l2 = led();
    CHECK(DELTA(l2, l1, 3) >= (int64_t)N / 2 * 32 * 9 / 10, "free in used pages rose by %" PRId64,
          DELTA(l2, l1, 3));
    CHECK(DELTA(l2, l1, 1) < 0, "rounding did not fall with half the blocks freed");
    for (int i = 1; i < N; i += 2) A_free(p[i]);

    /* a big free of large blocks: free space in the arenas */
    enum { L = 600 };
    static void *q[L];
    for (int i = 0; i < L; i++) { q[i] = A_malloc(100 * KiB); CHECK(q[i]); memset(q[i], 2, 100 * KiB); }
    cairn_ledger_t l3 = led();
    for (int i = 0; i < L; i++) A_free(q[i]);
    cairn_ledger_t l4 = led();
    CHECK(DELTA(l4, l3, 4) >= (int64_t)(L * 100 * KiB * 8 / 10), "large free rose by %" PRId64, DELTA(l4, l3, 4));
    CHECK(DELTA(l4, l3, 0) <= -(int64_t)(L * 90 * KiB), "live fell by %" PRId64 " only", DELTA(l4, l3, 0));
    /* a big free of small blocks: free pages not yet returned */
    for (int i = 0; i < N; i++) { p[i] = A_malloc(500); CHECK(p[i]); memset(p[i], 3, 500); }
    for (int i = 0; i < N; i++) A_free(p[i]);
    cairn_ledger_t l5 = led();
    /* pages left empty are free pages; segments left empty go to the
     * segment cache: both are free memory not yet returned */
    int64_t freed = DELTA(l5, l4, 5) + DELTA(l5, l4, 6);
    CHECK(freed >= (int64_t)N * 500 / 2, "free pages and cache rose by %" PRId64, freed);
    A_malloc_trim(0);
    cairn_ledger_t l6 = led();
    CHECK(l6.part[4] + l6.part[5] + l6.part[6] <= 2 * MiB, "after trim %" PRIu64 " free bytes remain resident",
          l6.part[4] + l6.part[5] + l6.part[6]);
    fprintf(stderr, "ledger: rounding +%" PRId64 ", external +%" PRId64 ", large free +%" PRId64
            ", free pages and cache +%" PRId64 "\n", DELTA(l1, l0, 1), DELTA(l2, l1, 3), DELTA(l4, l3, 4), freed);
}

/* ---- every live block exactly once --------------------------------------- */
enum { NB = 20000 };
static void *live[NB];
static size_t nlive;
static unsigned char seen[NB];
static long extra, dups;

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
    return x < y ? -1 : x > y;
}

static int visit(const cairn_item_t *it, void *arg)
{
    (void)arg;
    bool block = it->kind == CAIRN_ITEM_BLOCK || it->kind == CAIRN_ITEM_HUGE ||
                 (it->kind == CAIRN_ITEM_LARGE_BLOCK && it->live);
    if (!block) return 0;
    void *key = (void *)it->addr, **hit = bsearch(&key, live, nlive, sizeof *live, cmp_ptr);
    if (!hit) { extra++; return 0; }
    if (seen[hit - live]++) dups++;
    return 0;
}

static void *remote_free(void *arg)
{
    void **v = arg;
    for (int i = 0; v[i]; i++) A_free(v[i]);
    return NULL;
}

static void walk_sees_all(void)
{
    rng_t r;
    rng_seed(&r, 2024);
    static void *gone[NB];
    size_t ngone = 0;
    for (size_t i = 0; i < NB; i++) {
        uint64_t x = rng_below(&r, 1000);
        size_t s = x < 900 ? rng_range(&r, 1, 4000) : x < 998 ? rng_range(&r, 16 * KiB, 2 * MiB)
                                                         : cairn_large_max() + 4096;
        void *p = A_malloc(s);
        CHECK(p);
        if (rng_below(&r, 3) == 0) { if (ngone < NB - 1) gone[ngone++] = p; else A_free(p); }
        else live[nlive++] = p;
    }
    gone[ngone] = NULL;
    pthread_t t;                                   /* frees by another thread */
    CHECK(pthread_create(&t, NULL, remote_free, gone) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    qsort(live, nlive, sizeof *live, cmp_ptr);
    CHECK(cairn_walk(visit, NULL, CAIRN_WALK_BLOCKS) == 0);
    size_t missing = 0;
    for (size_t i = 0; i < nlive; i++) missing += !seen[i];
    fprintf(stderr, "walk: %zu live blocks, %zu missing, %ld twice, %ld unknown\n", nlive, missing, dups, extra);
    CHECK(missing == 0 && dups == 0 && extra == 0);
    for (size_t i = 0; i < nlive; i++) A_free(live[i]);
}

static uint64_t dirty_parts(const cairn_stats_t *s)
{
    return s->dirty_small_bytes + s->dirty_kept_bytes + s->dirty_large_bytes + s->dirty_cached_bytes;
}

/* 2 KiB blocks: 32 to a 64 KiB page, so KP pages' worth empties KP - 1
 * pages that are not their class's current one: each is kept (a fresh
 * heap keeps up to 16). */
#define KP 6
static void kept_pages(void)
{
    enum { PER = 32, NK = KP * PER };
    static void *p[NK];
    cairn_stats_t s0, s1, s2;
    for (int i = 0; i < NK; i++) { p[i] = A_malloc(2048); CHECK(p[i]); memset(p[i], 4, 2048); }
    cairn_stats_get(&s0);
    cairn_ledger_t l0 = led();
    for (int i = 0; i < NK; i++) A_free(p[i]);
    cairn_stats_get(&s1);
    cairn_ledger_t l1 = led();
    CHECK(heap_check_ok());                 /* kept pages against their count */
    int64_t kept = (int64_t)s1.dirty_kept_bytes - (int64_t)s0.dirty_kept_bytes;
    CHECK(kept >= (KP - 2) * 64 * (int64_t)KiB && kept <= KP * 64 * (int64_t)KiB,
          "kept bytes rose by %" PRId64, kept);
    CHECK(s1.dirty_bytes == dirty_parts(&s1) && s1.dirty_bytes >= s1.dirty_kept_bytes);
    CHECK(DELTA(l1, l0, 5) >= kept * 9 / 10, "free pages not returned rose by %" PRId64 " only",
          DELTA(l1, l0, 5));
    /* the class's current page, emptied too, is in use: at most its 64 KiB */
    CHECK(DELTA(l1, l0, 3) <= 64 * (int64_t)KiB, "kept pages counted as free space in used pages (+%" PRId64 ")",
          DELTA(l1, l0, 3));
    for (int i = 0; i < NK; i++) { p[i] = A_malloc(2048); CHECK(p[i]); }
    cairn_stats_get(&s2);
    CHECK(s2.dirty_kept_bytes + (uint64_t)(KP - 2) * 64 * KiB <= s1.dirty_kept_bytes,
          "kept bytes %" PRIu64 " after reuse, %" PRIu64 " before", s2.dirty_kept_bytes, s1.dirty_kept_bytes);
    CHECK(heap_check_ok());
    for (int i = 0; i < NK; i++) A_free(p[i]);
}

/* The kept budget goes to the pages that emptied last. A heap keeps 16
 * pages of its own, and pages of fewer than 16 blocks (blocks above
 * 4 KiB) may be kept on a loan from a process-wide pool of 512, up to 48
 * per heap, while the heap churns (types.h, KEEP_*). In a fresh thread's
 * heap, AP pages of class A (10 blocks to a page) empty twice (AP - 1 are
 * not current: more than the 64), then BP pages of class B (1 KiB: no loans; BP - 1 not current):
 * the last 16 of those must be kept, pushing out A's own pages (the
 * oldest) and then B's oldest, while A's pages on loan stay. The classes carve
 * different byte counts per page, so the kept bytes say which are kept. */
enum { OWN = 16, BUDGET = 64, POOL = 512, AP = BUDGET + 2, BP = OWN + 4, PER_MAX = 64 };
/* B's kept pages (no loans) push out A's own ones, then the oldest of B's */
enum { B_KEPT = BP - 1 < OWN ? BP - 1 : OWN, A_KEPT = BUDGET - B_KEPT };
static void *kb_a[AP * PER_MAX], *kb_b[BP * PER_MAX];

static size_t a_size(void) { return cairn_class_size(cairn_size_class(6000)); }
static int64_t a_page(void) { return (int64_t)(64 * KiB / a_size() * a_size()); }

/* AP pages' worth of class A blocks, each written, then all freed. */
static void a_round(void **p)
{
    unsigned n = AP * (unsigned)(64 * KiB / a_size());
    for (unsigned i = 0; i < n; i++) { p[i] = A_malloc(a_size()); CHECK(p[i]); memset(p[i], 5, a_size()); }
    for (unsigned i = 0; i < n; i++) A_free(p[i]);
}

/* Loans go to a heap that churns: the first round pushes kept pages out
 * (16 kept, no loan: a peak freed once keeps no more than that; checked
 * when the caller's is the only heap at work, as the statistics are the
 * process's), the second takes fresh pages after that and keeps 64. */
static void empty_a_pages(void **p, bool alone)
{
    cairn_stats_t s0, s1;
    cairn_stats_get(&s0);
    a_round(p);
    cairn_stats_get(&s1);
    int64_t k = (int64_t)s1.dirty_kept_bytes - (int64_t)s0.dirty_kept_bytes;
    CHECK(!alone || k == OWN * a_page(), "kept %" PRId64 " bytes after one round, want %d pages", k, OWN);
    a_round(p);
}

static void *kept_budget_thread(void *arg)
{
    (void)arg;
    size_t b_size = 1024;
    unsigned b_per = (unsigned)(64 * KiB / b_size);
    int64_t b_page = (int64_t)(b_per * b_size);
    CHECK(a_page() != b_page && 64 * KiB / a_size() <= PER_MAX && b_per <= PER_MAX);
    cairn_stats_t s0, s1, s2, s3;
    cairn_stats_get(&s0);
    empty_a_pages(kb_a, true);
    cairn_stats_get(&s1);
    int64_t k1 = (int64_t)s1.dirty_kept_bytes - (int64_t)s0.dirty_kept_bytes;
    CHECK(k1 == BUDGET * a_page(), "kept %" PRId64 " bytes after class A, want %" PRId64, k1, BUDGET * a_page());
    CHECK(heap_check_ok());                 /* the pool lent the 48 past the heap's own */
    for (unsigned i = 0; i < BP * b_per; i++) { kb_b[i] = A_malloc(b_size); CHECK(kb_b[i]); memset(kb_b[i], 6, b_size); }
    for (unsigned i = 0; i < BP * b_per; i++) A_free(kb_b[i]);
    cairn_stats_get(&s2);
    int64_t k2 = (int64_t)s2.dirty_kept_bytes - (int64_t)s0.dirty_kept_bytes;
    int64_t want = A_KEPT * a_page() + B_KEPT * b_page;
    CHECK(k2 == want, "kept %" PRId64 " bytes after class B, want %" PRId64 " (B's pages kept, A's own out)",
          k2, want);
    CHECK(heap_check_ok());                 /* the kept order names exactly the kept pages */
    /* B's kept pages serve B again: the kept bytes fall by them */
    for (unsigned i = 0; i < BP * b_per; i++) { kb_b[i] = A_malloc(b_size); CHECK(kb_b[i]); }
    cairn_stats_get(&s3);
    int64_t k3 = (int64_t)s3.dirty_kept_bytes - (int64_t)s0.dirty_kept_bytes;
    CHECK(k3 == A_KEPT * a_page(), "kept %" PRId64 " bytes with class B in use again", k3);
    for (unsigned i = 0; i < BP * b_per; i++) A_free(kb_b[i]);
    CHECK(heap_check_ok());
    return NULL;
}

/* The pool bounds what threads keep between them: NT threads each empty
 * AP pages and wait; they keep 16 pages each and, together, the pool's
 * 512 more (NT x 48 would be more). Once they exit, their heaps give every
 * kept page back and the pool is whole again (the checker compares it with
 * the heaps' pages past their own). */
enum { NT = 12 };
static pthread_barrier_t pool_bar;
static void *pool_thread(void *arg)
{
    empty_a_pages(arg, false);
    pthread_barrier_wait(&pool_bar);        /* main reads the statistics */
    pthread_barrier_wait(&pool_bar);
    return NULL;
}

static void kept_pool(void)
{
    static void *blocks[NT][AP * PER_MAX];
    pthread_t t[NT];
    cairn_stats_t s0, s1;
    CHECK(NT * (BUDGET - OWN) > POOL);
    cairn_stats_get(&s0);
    CHECK(pthread_barrier_init(&pool_bar, NULL, NT + 1) == 0);
    for (int i = 0; i < NT; i++) CHECK(pthread_create(&t[i], NULL, pool_thread, blocks[i]) == 0);
    pthread_barrier_wait(&pool_bar);
    cairn_stats_get(&s1);
    int64_t kept = (int64_t)s1.dirty_kept_bytes - (int64_t)s0.dirty_kept_bytes;
    CHECK(kept == (NT * OWN + POOL) * a_page(), "%d threads keep %" PRId64 " pages, want %d", NT,
          kept / a_page(), NT * OWN + POOL);
    pthread_barrier_wait(&pool_bar);
    for (int i = 0; i < NT; i++) CHECK(pthread_join(t[i], NULL) == 0);
    pthread_barrier_destroy(&pool_bar);
    cairn_stats_get(&s1);
    CHECK(s1.dirty_kept_bytes == s0.dirty_kept_bytes, "kept bytes %" PRIu64 " after the threads exit, %" PRIu64
          " before", s1.dirty_kept_bytes, s0.dirty_kept_bytes);
    CHECK(heap_check_ok());                 /* every heap pooled: the pool lends nothing */
    A_malloc_trim(0);                       /* their free pages would blur the ledger's moves */
}

/* Pages of 16 blocks or more get no loan: 20 pages of 2 KiB blocks
 * empty, twice, and 16 stay. */
static void *no_loan_thread(void *arg)
{
    enum { PAGES = 20, PER = 32 };
    void **p = arg;
    cairn_stats_t s0, s1;
    cairn_stats_get(&s0);
    for (int round = 0; round < 2; round++) {       /* churning: loans would be given */
        for (int i = 0; i < PAGES * PER; i++) { p[i] = A_malloc(2048); CHECK(p[i]); memset(p[i], 7, 2048); }
        for (int i = 0; i < PAGES * PER; i++) A_free(p[i]);
    }
    cairn_stats_get(&s1);
    int64_t kept = (int64_t)s1.dirty_kept_bytes - (int64_t)s0.dirty_kept_bytes;
    CHECK(kept == OWN * 64 * (int64_t)KiB, "kept %" PRId64 " bytes of 2 KiB blocks, want %d pages", kept, OWN);
    CHECK(heap_check_ok());
    return NULL;
}

static void kept_budget(void)
{
    static void *blocks[20 * 32];
    pthread_t n;
    CHECK(pthread_create(&n, NULL, no_loan_thread, blocks) == 0);
    CHECK(pthread_join(n, NULL) == 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, kept_budget_thread, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
}

int main(void)
{
    watchdog(120);
    kept_budget();                          /* first: its thread's heap is a new one */
    kept_pool();                            /* fresh heaps too; main has none yet */
    kept_pages();
    moves();
    walk_sees_all();
    CHECK(heap_check_ok());
    printf("t_ledger: ok\n");
    return 0;
}
