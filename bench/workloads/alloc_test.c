/* alloc-test: random allocation and deallocation with Pareto-distributed
 * sizes up to 1 KiB, after ITHare's alloc-test (as in mimalloc-bench's
 * alloc-test1 / alloc-testN).
 *
 * Each thread owns a working set of `wset` slots, fills it, then performs
 * `ops` operations: pick a random slot, verify and free its block, allocate
 * a new block whose size follows a Pareto distribution (x_m = 8 bytes,
 * alpha = 1, truncated at `max`), write into it. Threads share nothing, so
 * this measures the thread-local paths under a realistic size mix.
 *
 * Parameters: threads=1 wset=50000 ops=3000000 max=1024 seed=1
 *   (ops and wset are per thread)
 * Result: allocations, bytes, tag checksum. Metric: ops_per_sec.
 */
#include "common.h"

static long long g_wset, g_ops, g_max;
static uint64_t g_seed;

typedef struct {
    int id;
    uint64_t allocs, bytes, tags;
} worker_t;

static inline size_t pareto(rng_t *r)
{
    for (;;) {
        double s = 8.0 / rng_unit(r); /* P(S > x) = 8 / x */
        if (s <= (double)g_max)
            return (size_t)s;
    }
}

typedef struct {
    void *p;
    uint32_t size;
    uint64_t tag;
} slot_t;

static void *worker(void *arg)
{
    worker_t *w = arg;
    rng_t r;
    rng_seed(&r, g_seed * 31337 + (uint64_t)w->id);
    slot_t *s = calloc((size_t)g_wset, sizeof(slot_t));
    if (!s)
        die("out of memory");
    for (long long i = 0; i < g_wset + g_ops; i++) {
        uint64_t k = i < g_wset ? (uint64_t)i : rng_below(&r, (uint64_t)g_wset);
        if (s[k].p) {
            if (!stamp_ok(s[k].p, s[k].size, s[k].tag))
                die("alloc-test: corrupt block");
            free(s[k].p);
        }
        size_t sz = pareto(&r);
        uint64_t tag = rng_next(&r);
        void *p = xmalloc(sz);
        stamp(p, sz, tag);
        s[k] = (slot_t){ p, (uint32_t)sz, tag };
        w->allocs++;
        w->bytes += sz;
        w->tags += tag;
    }
    for (long long k = 0; k < g_wset; k++) {
        if (!stamp_ok(s[k].p, s[k].size, s[k].tag))
            die("alloc-test: corrupt block at exit");
        free(s[k].p);
    }
    free(s);
    return NULL;
}

int main(int argc, char **argv)
{
    params_init(argc, argv);
    int threads = (int)param("threads", 1);
    g_wset = param("wset", 50000);
    g_ops = param("ops", 3000000);
    g_max = param("max", 1024);
    g_seed = (uint64_t)param("seed", 1);
    if (threads < 1 || g_wset < 1 || g_max < 8)
        die("bad parameters");
    worker_t *w = calloc((size_t)threads, sizeof(worker_t));
    for (int i = 0; i < threads; i++)
        w[i].id = i;
    uint64_t t0 = now_ns();
    run_threads(threads, worker, w, sizeof(worker_t));
    uint64_t t1 = now_ns();
    uint64_t allocs = 0, bytes = 0, tags = 0;
    for (int i = 0; i < threads; i++) {
        allocs += w[i].allocs;
        bytes += w[i].bytes;
        tags += w[i].tags;
    }
    double secs = (double)(t1 - t0) / 1e9;
    print_result("alloc-test", "threads=%d allocs=%" PRIu64 " bytes=%" PRIu64 " tags=%016" PRIx64,
                 threads, allocs, bytes, tags);
    printf("metric: ops_per_sec=%.0f seconds=%.3f\n", (double)allocs / secs, secs);
    free(w);
    return 0;
}
