/* t_stress.c: single-threaded deterministic random stress with content
 * checks and periodic whole-heap checks.
 * usage: t_stress [ops] [seed]   (default ops: 3M, 600k with CAIRN_TEST_QUICK) */
#include "testutil.h"

enum { NSLOT = 4096, CHECK_EVERY = 25000 };
enum kind { K_MALLOC, K_CALLOC, K_REALLOC_NULL, K_MEMALIGN, K_POSIX, K_ALIGNED_ALLOC };

typedef struct {
    void *p;
    size_t size;     /* requested size (pattern covers [0,size)) */
    size_t align;    /* 0 unless allocated by an aligned function */
    uint64_t tag;
    int kind;
} slot_t;

static slot_t slots[NSLOT];
static size_t small_max, large_max;

/* sizes skewed small, log-uniform within a range */
static size_t pick_size(rng_t *r)
{
    uint64_t x = rng_below(r, 10000);
    if (x < 6500) return rng_range(r, 0, 128);
    if (x < 9000) return rng_range(r, 129, 2048);
    if (x < 9600) return rng_range(r, 2049, small_max);
    if (x < 9998) {
        /* large: log-uniform up to 8 MiB (multi-chunk segments above 4) */
        size_t lo = small_max + 1;
        unsigned bits = (unsigned)rng_range(r, 14, 23);
        size_t hi = (size_t)1 << bits;
        if (hi > large_max) hi = large_max;
        if (hi < lo) hi = lo;
        return rng_range(r, lo, hi);
    }
    return rng_range(r, large_max + 1, large_max + 6 * MiB); /* huge */
}

static uint64_t slot_tag(size_t i, uint64_t gen) { return ((uint64_t)i << 40) ^ gen; }

static void verify(size_t i, const char *when)
{
    slot_t *s = &slots[i];
    size_t bad = pattern_check(s->p, s->size, s->tag);
    CHECK(bad == (size_t)-1, "slot %zu (%p, size %zu, kind %d) corrupted at byte %zu before %s",
          i, s->p, s->size, s->kind, bad, when);
}

static void do_alloc(rng_t *r, size_t i, uint64_t gen)
{
    slot_t *s = &slots[i];
    size_t size = pick_size(r);
    int kind = (int)rng_below(r, 100);
    kind = kind < 60 ? K_MALLOC : kind < 75 ? K_CALLOC : kind < 80 ? K_REALLOC_NULL
         : kind < 90 ? K_MEMALIGN : kind < 95 ? K_POSIX : K_ALIGNED_ALLOC;
    size_t align = 0;
    void *p = NULL;
    switch (kind) {
    case K_MALLOC: p = A_malloc(size); break;
    case K_CALLOC: {
        size_t n = 1 + rng_below(r, 8);
        size = (size + n - 1) / n * n;
        p = A_calloc(n, size / n);
        if (p) {
            const unsigned char *c = p;
            size_t lim = size < 4096 ? size : 4096;
            for (size_t k = 0; k < lim; k++) CHECK(c[k] == 0, "calloc(%zu) byte %zu nonzero", size, k);
            for (size_t k = lim; k < size; k += 4093) CHECK(c[k] == 0, "calloc(%zu) byte %zu nonzero", size, k);
            if (size) CHECK(c[size - 1] == 0);
        }
        break;
    }
    case K_REALLOC_NULL: p = A_realloc(NULL, size); break;
    case K_MEMALIGN:
        align = (size_t)1 << rng_below(r, 17); /* 1 .. 64 KiB */
        p = A_memalign(align, size);
        break;
    case K_POSIX: {
        align = (size_t)8 << rng_below(r, 12); /* 8 .. 16 KiB */
        int rc = A_posix_memalign(&p, align, size);
        CHECK(rc == 0, "posix_memalign rc %d", rc);
        break;
    }
    default:
        align = (size_t)1 << rng_below(r, 14);
        p = A_aligned_alloc(align, size);
        break;
    }
    CHECK(p != NULL, "allocation kind %d size %zu align %zu failed", kind, size, align);
    CHECK(is_aligned(p, 16) && (!align || is_aligned(p, align)), "%p misaligned (align %zu)", p, align);
    CHECK(A_usable(p) >= size, "usable %zu < %zu", A_usable(p), size);
    s->p = p;
    s->size = size;
    s->align = align;
    s->kind = kind;
    s->tag = slot_tag(i, gen);
    pattern_fill(p, size, s->tag);
}

static void do_free(rng_t *r, size_t i)
{
    slot_t *s = &slots[i];
    verify(i, "free");
    uint64_t how = rng_below(r, 4);
    if (how == 0 && s->kind == K_MALLOC) A_free_sized(s->p, s->size);
    else if (how == 0 && s->kind == K_ALIGNED_ALLOC) A_free_aligned_sized(s->p, s->align, s->size);
    else A_free(s->p);
    s->p = NULL;
}

static void do_realloc(rng_t *r, size_t i, uint64_t gen)
{
    slot_t *s = &slots[i];
    verify(i, "realloc");
    size_t ns;
    uint64_t x = rng_below(r, 4);
    if (x == 0) ns = s->size + rng_below(r, 64);                 /* small growth */
    else if (x == 1) ns = s->size / 2 + rng_below(r, 16);        /* shrink */
    else ns = pick_size(r);                                      /* anywhere */
    if (ns == 0) ns = 1; /* realloc(p, 0) frees p (glibc semantics) */
    void *q = A_realloc(s->p, ns);
    CHECK(q != NULL, "realloc(%zu -> %zu) failed", s->size, ns);
    CHECK(is_aligned(q, 16));
    CHECK(A_usable(q) >= ns);
    size_t keep = ns < s->size ? ns : s->size;
    size_t bad = pattern_check2(q, keep, s->size, s->tag);
    CHECK(bad == (size_t)-1, "realloc %zu -> %zu (slot %zu) lost byte %zu", s->size, ns, i, bad);
    s->p = q;
    s->size = ns;
    s->align = 0;
    s->kind = K_MALLOC;
    s->tag = slot_tag(i, gen);
    pattern_fill(q, ns, s->tag);
}

int main(int argc, char **argv)
{
    long ops = argc > 1 ? atol(argv[1]) : (test_quick() ? 600000 : 4000000);
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 12345;
    watchdog(300);
    small_max = cairn_small_max();
    large_max = cairn_large_max();
    cairn_stats_t st0, st1;
    cairn_stats_get(&st0);
    rng_t r;
    rng_seed(&r, seed);
    size_t live = 0, maxlive = 0;
    double t0 = now_sec();
    for (long op = 1; op <= ops; op++) {
        /* the active slot range breathes so the heap grows and shrinks */
        size_t range = NSLOT / 8 + (size_t)((op / 100000) % 8) * (NSLOT / 8);
        size_t i = rng_below(&r, range);
        uint64_t gen = (uint64_t)op;
        if (!slots[i].p) {
            do_alloc(&r, i, gen);
            live++;
        } else {
            uint64_t x = rng_below(&r, 100);
            if (x < 55) { do_free(&r, i); live--; }
            else if (x < 85) do_realloc(&r, i, gen);
            else verify(i, "verify");
        }
        if (live > maxlive) maxlive = live;
        if (op % CHECK_EVERY == 0) {
            CHECK(heap_check_ok(), "after %ld ops", op);
            /* free the upper half occasionally to shrink */
            if (op % (CHECK_EVERY * 8) == 0)
                for (size_t k = NSLOT / 2; k < NSLOT; k++)
                    if (slots[k].p) { do_free(&r, k); live--; }
        }
        if (op % 1000000 == 0) A_malloc_trim(0);
    }
    for (size_t k = 0; k < NSLOT; k++)
        if (slots[k].p) do_free(&r, k);
    CHECK(heap_check_ok());
    A_malloc_trim(0);            /* the secure build's quarantine lets go here */
    cairn_stats_get(&st1);
    /* starting the purger thread makes libc allocate the thread's own
     * few blocks (its TLS vector) */
    uint64_t extra = st1.background_purger && !st0.background_purger ? 4 : 0;
    CHECK(st1.live_blocks >= st0.live_blocks && st1.live_blocks <= st0.live_blocks + extra,
          "live_blocks %" PRIu64 " at end, %" PRIu64 " at start", st1.live_blocks, st0.live_blocks);
    printf("t_stress: %ld ops, seed %" PRIu64 ", max live %zu, %.2fs: ok\n", ops, seed, maxlive,
           now_sec() - t0);
    return 0;
}
