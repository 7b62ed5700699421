/* mstress: many threads with varying working sets and objects migrating
 * between threads, in the spirit of mimalloc-bench's mstress.
 *
 * The run has `rounds` rounds; each round starts `threads` fresh threads.
 * In round r, thread t keeps a working set of wset * (1 + (r + t) % 4)
 * slots (so working sets grow and shrink from round to round) and performs
 * `iters` operations, each chosen at random:
 *   - 75%: replace: verify and free the block in a random slot (if any) and
 *          allocate a new one (90% 16-128 B, 9% up to 4 KiB, 1% up to
 *          64 KiB);
 *   - 25%: migrate: atomically swap a random slot with a random entry of a
 *          global transfer array, so blocks move to other threads (of this
 *          round or later rounds) that eventually free them.
 * At the end of its round a thread frees everything left in its working
 * set; the main thread finally frees whatever is still in transit.
 * Blocks are self-describing (size and tag inside), so whichever thread
 * frees a block verifies it.
 *
 * Parameters: threads=2 rounds=20 iters=100000 wset=2000 transfer=1000 seed=1
 * Result: allocations, bytes, tag checksum (all decided by per-thread random
 * streams, so independent of scheduling). Metric: ops_per_sec.
 */
#include "common.h"

static long long g_rounds, g_iters, g_wset, g_ntransfer;
static uint64_t g_seed;
static _Atomic(void *) *g_transfer;

typedef struct {
    int id, round;
    uint64_t allocs, bytes, tags_alloc, tags_freed;
} worker_t;

static size_t pick_size(rng_t *r)
{
    uint64_t x = rng_below(r, 100);
    if (x < 90)
        return (size_t)rng_range(r, 16, 128);
    if (x < 99)
        return (size_t)rng_range(r, 129, 4096);
    return (size_t)rng_range(r, 4097, 65536);
}

static void *worker(void *arg)
{
    worker_t *w = arg;
    rng_t r;
    rng_seed(&r, g_seed * 104729 + (uint64_t)w->round * 1024 + (uint64_t)w->id);
    long long ws = g_wset * (1 + (w->round + w->id) % 4);
    void **set = calloc((size_t)ws, sizeof(void *));
    if (!set)
        die("out of memory");
    for (long long i = 0; i < g_iters; i++) {
        uint64_t k = rng_below(&r, (uint64_t)ws);
        if (rng_below(&r, 4) != 0) {
            if (set[k]) {
                w->tags_freed += check_hdr(set[k], "mstress replace");
                free(set[k]);
            }
            size_t sz = pick_size(&r);
            uint64_t tag = rng_next(&r);
            void *p = xmalloc(sz);
            stamp_hdr(p, sz, tag);
            set[k] = p;
            w->allocs++;
            w->bytes += sz;
            w->tags_alloc += tag;
        } else {
            uint64_t j = rng_below(&r, (uint64_t)g_ntransfer);
            set[k] = atomic_exchange(&g_transfer[j], set[k]);
        }
    }
    for (long long k = 0; k < ws; k++) {
        if (set[k]) {
            w->tags_freed += check_hdr(set[k], "mstress drain");
            free(set[k]);
        }
    }
    free(set);
    return NULL;
}

int main(int argc, char **argv)
{
    params_init(argc, argv);
    int threads = (int)param("threads", 2);
    g_rounds = param("rounds", 20);
    g_iters = param("iters", 100000);
    g_wset = param("wset", 2000);
    g_ntransfer = param("transfer", 1000);
    g_seed = (uint64_t)param("seed", 1);
    if (threads < 1 || g_wset < 1 || g_ntransfer < 1)
        die("bad parameters");
    g_transfer = calloc((size_t)g_ntransfer, sizeof(*g_transfer));
    worker_t *w = calloc((size_t)threads, sizeof(worker_t));
    uint64_t allocs = 0, bytes = 0, ta = 0, tf = 0;

    uint64_t t0 = now_ns();
    for (long long rd = 0; rd < g_rounds; rd++) {
        for (int i = 0; i < threads; i++)
            w[i] = (worker_t){ .id = i, .round = (int)rd };
        run_threads(threads, worker, w, sizeof(worker_t));
        for (int i = 0; i < threads; i++) {
            allocs += w[i].allocs;
            bytes += w[i].bytes;
            ta += w[i].tags_alloc;
            tf += w[i].tags_freed;
        }
    }
    for (long long j = 0; j < g_ntransfer; j++) {
        void *p = atomic_load(&g_transfer[j]);
        if (p) {
            tf += check_hdr(p, "mstress final");
            free(p);
        }
    }
    uint64_t t1 = now_ns();
    if (ta != tf)
        die("mstress: tag checksum mismatch (lost or duplicated blocks)");
    double secs = (double)(t1 - t0) / 1e9;
    print_result("mstress", "threads=%d allocs=%" PRIu64 " bytes=%" PRIu64 " tags=%016" PRIx64,
                 threads, allocs, bytes, ta);
    printf("metric: ops_per_sec=%.0f seconds=%.3f\n",
           (double)(g_rounds * g_iters * threads) / secs, secs);
    free(g_transfer);
    free(w);
    return 0;
}
