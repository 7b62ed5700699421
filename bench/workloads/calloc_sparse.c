/* calloc-sparse: zeroed tables that are mostly left untouched, as a hash
 * table, a bitmap or numpy's zeros() are: calloc a block, then read and
 * write a few of its pages.
 *
 * A working set of `live` slots; each of `iters` steps picks a random slot,
 * verifies and frees its block and callocs a new one whose size is
 * log-uniform in [min, max]. Then `touch` percent of the block's 4 KiB
 * pages, chosen at random, are checked to read zero at a random offset and
 * written there. An allocator that knows memory fresh from the system is
 * zero need not write it; one that clears every calloc'd byte pays for the
 * whole block and makes every page resident. The first `live` steps get
 * memory the process never had; later ones reuse what earlier blocks
 * freed, where calloc must clear.
 *
 * Parameters: live=16 iters=400 min=256k max=8m touch=3 seed=1
 * Result: allocations, bytes, pages touched, tag checksum.
 * Metric: callocs_per_sec.
 */
#include "common.h"

typedef struct {
    unsigned char *p;
    size_t size;
    size_t *offs;      /* offsets written, so they can be checked */
    size_t n;
    uint64_t tag;
} slot_t;

static void release(slot_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->p[s->offs[i]] != (unsigned char)(s->tag + i + 1))
            die("calloc-sparse: block of %zu bytes lost a write at %zu", s->size, s->offs[i]);
    free(s->p);
    free(s->offs);
    s->p = NULL;
}

/* Touch pct percent of the pages at random: each must read zero first. */
static uint64_t touch(slot_t *s, rng_t *r, unsigned pct)
{
    size_t pages = s->size / 4096, want = pages * pct / 100 + 1;
    s->offs = xmalloc(want * sizeof *s->offs);
    s->n = 0;
    for (size_t i = 0; i < want; i++) {
        size_t off = (size_t)rng_below(r, pages) * 4096 + (size_t)rng_below(r, 4096);
        if (off >= s->size)
            off = s->size - 1;
        unsigned char v = (unsigned char)(s->tag + s->n + 1);
        if (s->p[off] != 0) {
            int mine = 0;      /* written by this block already */
            for (size_t k = 0; k < s->n; k++)
                mine |= s->offs[k] == off;
            if (!mine)
                die("calloc-sparse: calloc(%zu) byte %zu is 0x%02x, not 0", s->size, off, s->p[off]);
            continue;
        }
        s->p[off] = v;
        s->offs[s->n++] = off;
    }
    return s->n;
}

int main(int argc, char **argv)
{
    params_init(argc, argv);
    long long live = param("live", 16);
    long long iters = param("iters", 400);
    size_t lo = (size_t)param("min", 256 << 10);
    size_t hi = (size_t)param("max", 8 << 20);
    unsigned pct = (unsigned)param("touch", 3);
    rng_t r;
    rng_seed(&r, (uint64_t)param("seed", 1));
    if (live < 1 || lo < 4096 || hi < lo || pct > 100)
        die("bad parameters");
    slot_t *s = calloc((size_t)live, sizeof(slot_t));
    if (!s)
        die("calloc failed");
    uint64_t allocs = 0, bytes = 0, touched = 0, tags = 0;
    uint64_t t0 = now_ns();
    for (long long i = 0; i < live + iters; i++) {
        slot_t *x = &s[i < live ? (uint64_t)i : rng_below(&r, (uint64_t)live)];
        if (x->p)
            release(x);
        x->size = rng_log2_uniform(&r, lo, hi);
        x->tag = rng_next(&r);
        x->p = calloc(1, x->size);
        if (!x->p)
            die("calloc(%zu) failed", x->size);
        ESCAPE(x->p);
        touched += touch(x, &r, pct);
        allocs++;
        bytes += x->size;
        tags += x->tag;
    }
    for (long long i = 0; i < live; i++)
        release(&s[i]);
    uint64_t t1 = now_ns();
    free(s);
    double secs = (double)(t1 - t0) / 1e9;
    print_result("calloc-sparse", "allocs=%" PRIu64 " bytes=%" PRIu64 " touched=%" PRIu64
                 " tags=%016" PRIx64, allocs, bytes, touched, tags);
    printf("metric: callocs_per_sec=%.0f seconds=%.3f\n", (double)allocs / secs, secs);
    return 0;
}
