/* glibc-simple / glibc-thread: fixed-size malloc/free loops in the manner of
 * glibc's benchtests bench-malloc-simple (one thread) and bench-malloc-thread
 * (the same kind of loop on N threads at once).
 *
 * For every block size in {16, 32, 64, 128, 256, 512, 1024, 4096} and every
 * batch length in {25, 100, 400, 1600}, each thread `reps` times allocates a
 * batch of blocks of that size (touching each), then frees the batch in
 * allocation order. The amount of work per (size, batch) cell is normalised
 * so every cell performs about the same number of malloc+free pairs.
 * With threads=N the N threads run the whole matrix concurrently on
 * private blocks.
 *
 * With big=1 the sizes are {5000, 8192, 12000, 16384} instead: blocks
 * that fill a 64 KiB page or slab with 4 to 13 of them, so a batch
 * empties and refills many pages (the same loops, not a glibc benchtest).
 *
 * Parameters: threads=1 pairs=400000 (malloc+free pairs per cell and thread)
 *             big=0
 * Result: total pairs and a checksum of bytes read back.
 * Metric: ns_per_pair (averaged over cells, per thread), ops_per_sec.
 */
#include "common.h"

static const size_t small_sizes[] = { 16, 32, 64, 128, 256, 512, 1024, 4096 };
/* big=1: the largest sizes allocators serve from slabs or pages of blocks */
static const size_t big_sizes[] = { 5000, 8192, 12000, 16384 };
static const long long batches[] = { 25, 100, 400, 1600 };
#define NSIZES_MAX (sizeof(small_sizes) / sizeof(small_sizes[0]))
#define NBATCH (sizeof(batches) / sizeof(batches[0]))
static const size_t *sizes = small_sizes;
static size_t NSIZES = NSIZES_MAX;

static long long g_pairs;

typedef struct {
    int id;
    uint64_t pairs, sum;
    double ns[NSIZES_MAX][NBATCH];
} worker_t;

static void *worker(void *arg)
{
    worker_t *w = arg;
    void **blk = xmalloc(sizeof(void *) * 1600);
    for (size_t si = 0; si < NSIZES; si++) {
        for (size_t bi = 0; bi < NBATCH; bi++) {
            size_t sz = sizes[si];
            long long n = batches[bi];
            long long reps = g_pairs / n;
            if (reps < 1)
                reps = 1;
            uint64_t t0 = now_ns();
            for (long long r = 0; r < reps; r++) {
                for (long long i = 0; i < n; i++) {
                    unsigned char *p = xmalloc(sz);
                    p[0] = (unsigned char)i;
                    p[sz - 1] = (unsigned char)r;
                    blk[i] = p;
                }
                for (long long i = 0; i < n; i++) {
                    unsigned char *p = blk[i];
                    w->sum += p[0] + p[sz - 1];
                    free(p);
                }
            }
            uint64_t t1 = now_ns();
            w->pairs += (uint64_t)(reps * n);
            w->ns[si][bi] = (double)(t1 - t0) / (double)(reps * n);
        }
    }
    free(blk);
    return NULL;
}

int main(int argc, char **argv)
{
    params_init(argc, argv);
    int threads = (int)param("threads", 1);
    g_pairs = param("pairs", 400000);
    if (param("big", 0)) {
        sizes = big_sizes;
        NSIZES = sizeof(big_sizes) / sizeof(big_sizes[0]);
    }
    if (threads < 1 || g_pairs < 1)
        die("bad parameters");
    worker_t *w = calloc((size_t)threads, sizeof(worker_t));
    for (int i = 0; i < threads; i++)
        w[i].id = i;
    uint64_t t0 = now_ns();
    if (threads == 1)
        worker(&w[0]); /* the main thread, as bench-malloc-simple does */
    else
        run_threads(threads, worker, w, sizeof(worker_t));
    uint64_t t1 = now_ns();
    uint64_t pairs = 0, sum = 0;
    double ns = 0;
    for (int i = 0; i < threads; i++) {
        pairs += w[i].pairs;
        sum += w[i].sum;
        for (size_t si = 0; si < NSIZES; si++)
            for (size_t bi = 0; bi < NBATCH; bi++)
                ns += w[i].ns[si][bi];
    }
    ns /= (double)(threads * NSIZES * NBATCH);
    print_result(sizes == big_sizes ? "glibc-big" : threads == 1 ? "glibc-simple" : "glibc-thread",
                 "threads=%d pairs=%" PRIu64 " sum=%" PRIu64, threads, pairs, sum);
    printf("metric: ns_per_pair=%.2f ops_per_sec=%.0f\n", ns,
           (double)pairs / ((double)(t1 - t0) / 1e9));
    printf("metric:");
    for (size_t si = 0; si < NSIZES; si++) {
        double s = 0;
        for (int i = 0; i < threads; i++)
            for (size_t bi = 0; bi < NBATCH; bi++)
                s += w[i].ns[si][bi];
        printf(" ns_%zu=%.2f", sizes[si], s / (double)(threads * NBATCH));
    }
    printf("\n");
    free(w);
    return 0;
}
