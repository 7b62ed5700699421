/* cache-scratch and cache-thrash: false sharing between objects of
 * different threads, after the Hoard paper (Berger et al., ASPLOS 2000).
 *
 * mode=thrash (active false sharing): every thread repeatedly allocates a
 *   small object, writes each of its bytes `writes` times, and frees it.
 *   An allocator that carves the objects of different threads out of the
 *   same cache line makes the threads fight over that line.
 * mode=scratch (passive false sharing): the main thread allocates one small
 *   object per thread (adjacent, so likely on one cache line) and hands
 *   each thread its object; the thread frees it and then runs the same loop
 *   as in thrash. An allocator that reuses the freed object for the
 *   thread's next allocation inherits the shared line.
 *
 * Parameters: mode=thrash|scratch threads=2 iters=1000 objsize=8
 *             writes=20000
 * Result: sum of the byte values read back before each free.
 * Metric: seconds of the parallel phase.
 */
#include "common.h"

static long long g_iters, g_objsize, g_writes;
static char **g_handed;

typedef struct {
    int id;
    uint64_t sum;
} worker_t;

static void *worker(void *arg)
{
    worker_t *w = arg;
    if (g_handed) {
        unsigned char *mine = (unsigned char *)g_handed[w->id];
        w->sum += mine[0];
        free(mine);
    }
    for (long long i = 0; i < g_iters; i++) {
        volatile unsigned char *o = xmalloc((size_t)g_objsize);
        for (long long k = 0; k < g_objsize; k++)
            o[k] = (unsigned char)(w->id + k);
        for (long long r = 0; r < g_writes; r++)
            for (long long k = 0; k < g_objsize; k++)
                o[k]++;
        for (long long k = 0; k < g_objsize; k++)
            w->sum += o[k];
        free((void *)o);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    params_init(argc, argv);
    int threads = (int)param("threads", 2);
    g_iters = param("iters", 1000);
    g_objsize = param("objsize", 8);
    g_writes = param("writes", 20000);
    int scratch = 0;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "mode=scratch") == 0)
            scratch = 1;
    if (threads < 1 || g_objsize < 1)
        die("bad parameters");

    worker_t *w = calloc((size_t)threads, sizeof(worker_t));
    if (scratch) {
        g_handed = calloc((size_t)threads, sizeof(char *));
        for (int i = 0; i < threads; i++) {
            g_handed[i] = xmalloc((size_t)g_objsize);
            memset(g_handed[i], i, (size_t)g_objsize);
        }
    }
    for (int i = 0; i < threads; i++)
        w[i].id = i;
    uint64_t t0 = now_ns();
    run_threads(threads, worker, w, sizeof(worker_t));
    uint64_t t1 = now_ns();
    uint64_t sum = 0;
    for (int i = 0; i < threads; i++)
        sum += w[i].sum;
    print_result(scratch ? "cache-scratch" : "cache-thrash", "threads=%d sum=%" PRIu64,
                 threads, sum);
    printf("metric: seconds=%.3f\n", (double)(t1 - t0) / 1e9);
    free(w);
    free(g_handed);
    return 0;
}
