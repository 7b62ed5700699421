/* large: malloc-large style churn of big blocks (64 KiB .. 32 MiB).
 *
 * A working set of `live` slots; each of `iters` steps picks a random slot,
 * verifies and frees its block and allocates a new one whose size is
 * log-uniform in [min, max]. One byte of every 4 KiB page of the new block
 * is written (as a program would initialise its buffer), so the cost of
 * fresh pages from the OS versus reused memory shows up in the time and in
 * peak RSS.
 *
 * Parameters: live=20 iters=600 min=64k max=32m seed=1
 * Result: allocations, bytes, tag checksum. Metric: allocs_per_sec.
 */
#include "common.h"

typedef struct {
    unsigned char *p;
    size_t size;
    uint64_t tag;
} slot_t;

static void fill(slot_t *s)
{
    for (size_t off = 4096; off < s->size; off += 4096)
        s->p[off] = (unsigned char)(off >> 12);
    stamp(s->p, s->size, s->tag);
}

static int ok(const slot_t *s)
{
    if (!stamp_ok(s->p, s->size, s->tag))
        return 0;
    for (size_t off = 4096; off + 1 < s->size; off += 4096 * 37)
        if (s->p[off] != (unsigned char)(off >> 12))
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    params_init(argc, argv);
    long long live = param("live", 20);
    long long iters = param("iters", 600);
    size_t lo = (size_t)param("min", 64 << 10);
    size_t hi = (size_t)param("max", 32 << 20);
    rng_t r;
    rng_seed(&r, (uint64_t)param("seed", 1));
    if (live < 1 || lo < 16 || hi < lo)
        die("bad parameters");
    slot_t *s = calloc((size_t)live, sizeof(slot_t));
    uint64_t allocs = 0, bytes = 0, tags = 0;
    uint64_t t0 = now_ns();
    for (long long i = 0; i < live + iters; i++) {
        slot_t *x = &s[i < live ? (uint64_t)i : rng_below(&r, (uint64_t)live)];
        if (x->p) {
            if (!ok(x))
                die("large: corrupt block of %zu bytes", x->size);
            free(x->p);
        }
        x->size = rng_log2_uniform(&r, lo, hi);
        x->tag = rng_next(&r);
        x->p = xmalloc(x->size);
        fill(x);
        allocs++;
        bytes += x->size;
        tags += x->tag;
    }
    for (long long i = 0; i < live; i++) {
        if (!ok(&s[i]))
            die("large: corrupt block at exit");
        free(s[i].p);
    }
    uint64_t t1 = now_ns();
    free(s);
    double secs = (double)(t1 - t0) / 1e9;
    print_result("large", "allocs=%" PRIu64 " bytes=%" PRIu64 " tags=%016" PRIx64,
                 allocs, bytes, tags);
    printf("metric: allocs_per_sec=%.0f seconds=%.3f\n", (double)allocs / secs, secs);
    return 0;
}
