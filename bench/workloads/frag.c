/* frag: fragmentation. Repeats `phases` times:
 *   1. allocate `phase_bytes` worth of blocks whose sizes are uniform in
 *      [base, 4*base], base = 16 << phase (phase 0: 16-64 B; phase 7:
 *      2-8 KiB), writing every byte;
 *   2. free a random `free_pct`% of all live blocks (old and new).
 * Each phase asks for larger blocks than the holes the previous phases left,
 * so an allocator that cannot coalesce or reuse memory across size classes
 * keeps growing. The runner reports peak RSS (kernel accounting) against the
 * peak of live requested bytes printed here.
 *
 * Parameters: phases=8 phase_bytes=32m free_pct=75 seed=1
 * Result: blocks, live-byte peak, tag checksum.
 * Metric: peak_live_kib, hwm_kib (VmHWM seen by the process itself).
 */
#include "common.h"

typedef struct {
    unsigned char *p;
    size_t size;
    uint64_t tag;
} blk_t;

static long long read_hwm_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long v = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lld", &v) == 1)
            break;
    fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    params_init(argc, argv);
    long long phases = param("phases", 8);
    long long phase_bytes = param("phase_bytes", 32ll << 20);
    long long free_pct = param("free_pct", 75);
    rng_t r;
    rng_seed(&r, (uint64_t)param("seed", 1));
    if (phases < 1 || phases > 20 || free_pct < 0 || free_pct > 100)
        die("bad parameters");

    size_t cap = 1 << 16, n = 0;
    blk_t *b = malloc(cap * sizeof(blk_t));
    uint64_t live = 0, peak = 0, allocs = 0, tags = 0, freed_tags = 0;
    uint64_t t0 = now_ns();
    for (long long ph = 0; ph < phases; ph++) {
        size_t base = (size_t)16 << ph;
        long long got = 0;
        while (got < phase_bytes) {
            size_t sz = (size_t)rng_range(&r, base, 4 * base);
            uint64_t tag = rng_next(&r);
            unsigned char *p = xmalloc(sz);
            memset(p, (int)(tag >> 56), sz);
            stamp(p, sz, tag);
            if (n == cap) {
                cap *= 2;
                b = realloc(b, cap * sizeof(blk_t));
                if (!b)
                    die("out of memory");
            }
            b[n++] = (blk_t){ p, sz, tag };
            got += (long long)sz;
            live += sz;
            allocs++;
            tags += tag;
        }
        if (live > peak)
            peak = live;
        size_t keep = 0;
        for (size_t i = 0; i < n; i++) {
            if ((long long)rng_below(&r, 100) < free_pct) {
                if (!stamp_ok(b[i].p, b[i].size, b[i].tag) ||
                    b[i].p[b[i].size / 2] != (unsigned char)(b[i].tag >> 56))
                    die("frag: corrupt block");
                freed_tags += b[i].tag;
                live -= b[i].size;
                free(b[i].p);
            } else {
                b[keep++] = b[i];
            }
        }
        n = keep;
    }
    long long hwm = read_hwm_kib();
    for (size_t i = 0; i < n; i++) {
        if (!stamp_ok(b[i].p, b[i].size, b[i].tag))
            die("frag: corrupt block at exit");
        freed_tags += b[i].tag;
        free(b[i].p);
    }
    free(b);
    uint64_t t1 = now_ns();
    if (freed_tags != tags)
        die("frag: tag checksum mismatch");
    print_result("frag", "allocs=%" PRIu64 " peak_live=%" PRIu64 " tags=%016" PRIx64,
                 allocs, peak, tags);
    printf("metric: peak_live_kib=%" PRIu64 " hwm_kib=%lld rss_over_live=%.3f seconds=%.3f\n",
           peak >> 10, hwm, (double)hwm * 1024.0 / (double)peak,
           (double)(t1 - t0) / 1e9);
    return 0;
}
