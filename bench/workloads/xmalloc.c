/* xmalloc: producer/consumer, in the style of Lever & Boreham's xmalloc-test
 * ("malloc() Performance in a Multithreaded Linux Environment", USENIX 2000)
 * as collected in mimalloc-bench.
 *
 * threads/2 producer threads only allocate: they fill batches of `batch`
 * blocks of random size (mostly small, some up to `max`) and push each batch
 * onto a bounded shared queue. The other threads only free: they pop
 * batches, verify every block and free it (and the batch array itself).
 * Every block is thus freed by a thread that never allocates.
 *
 * Parameters: threads=2 batches=4000 batch=256 max=2048 queue=64 seed=1
 *   (batches is per producer)
 * Result: blocks, bytes and tag checksum. Metric: ops_per_sec.
 */
#include "common.h"

typedef struct {
    long long n;
    void *blk[];
} batch_t;

static long long g_batches, g_batch, g_max, g_qcap;
static uint64_t g_seed;

static batch_t **g_q;
static long long g_head, g_tail; /* monotonically increasing */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_not_empty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t g_not_full = PTHREAD_COND_INITIALIZER;

static void push(batch_t *b)
{
    pthread_mutex_lock(&g_mu);
    while (g_tail - g_head >= g_qcap)
        pthread_cond_wait(&g_not_full, &g_mu);
    g_q[g_tail++ % g_qcap] = b;
    pthread_cond_signal(&g_not_empty);
    pthread_mutex_unlock(&g_mu);
}

static batch_t *pop(void)
{
    pthread_mutex_lock(&g_mu);
    while (g_tail == g_head)
        pthread_cond_wait(&g_not_empty, &g_mu);
    batch_t *b = g_q[g_head++ % g_qcap];
    pthread_cond_signal(&g_not_full);
    pthread_mutex_unlock(&g_mu);
    return b;
}

typedef struct {
    int id;
    uint64_t blocks, bytes, tags;
} worker_t;

static size_t pick_size(rng_t *r)
{
    uint64_t x = rng_below(r, 100);
    if (x < 80)
        return (size_t)rng_range(r, 16, 128);
    if (x < 95)
        return (size_t)rng_range(r, 129, 512);
    return (size_t)rng_range(r, 513, (uint64_t)g_max);
}

static void *producer(void *arg)
{
    worker_t *w = arg;
    rng_t r;
    rng_seed(&r, g_seed * 7919 + (uint64_t)w->id);
    for (long long b = 0; b < g_batches; b++) {
        batch_t *bt = xmalloc(sizeof(batch_t) + sizeof(void *) * (size_t)g_batch);
        bt->n = g_batch;
        for (long long i = 0; i < g_batch; i++) {
            size_t sz = pick_size(&r);
            uint64_t tag = rng_next(&r);
            void *p = xmalloc(sz);
            stamp_hdr(p, sz, tag);
            bt->blk[i] = p;
            w->blocks++;
            w->bytes += sz;
            w->tags += tag;
        }
        push(bt);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    worker_t *w = arg;
    for (;;) {
        batch_t *bt = pop();
        if (bt->n < 0) { /* poison pill */
            free(bt);
            return NULL;
        }
        for (long long i = 0; i < bt->n; i++) {
            w->tags += check_hdr(bt->blk[i], "xmalloc consumer");
            w->blocks++;
            free(bt->blk[i]);
        }
        free(bt);
    }
}

int main(int argc, char **argv)
{
    params_init(argc, argv);
    int threads = (int)param("threads", 2);
    g_batches = param("batches", 4000);
    g_batch = param("batch", 256);
    g_max = param("max", 2048);
    g_qcap = param("queue", 64);
    g_seed = (uint64_t)param("seed", 1);
    if (threads < 2)
        threads = 2;
    if (g_max < 513 || g_batch < 1 || g_qcap < 1)
        die("bad parameters");
    int np = threads / 2, nc = threads - np;
    g_q = calloc((size_t)g_qcap, sizeof(*g_q));
    worker_t *prod = calloc((size_t)np, sizeof(worker_t));
    worker_t *cons = calloc((size_t)nc, sizeof(worker_t));
    pthread_t *tp = calloc((size_t)np, sizeof(pthread_t));
    pthread_t *tc = calloc((size_t)nc, sizeof(pthread_t));

    uint64_t t0 = now_ns();
    for (int i = 0; i < nc; i++) {
        cons[i].id = i;
        if (pthread_create(&tc[i], NULL, consumer, &cons[i]))
            die("pthread_create failed");
    }
    for (int i = 0; i < np; i++) {
        prod[i].id = i;
        if (pthread_create(&tp[i], NULL, producer, &prod[i]))
            die("pthread_create failed");
    }
    for (int i = 0; i < np; i++)
        pthread_join(tp[i], NULL);
    for (int i = 0; i < nc; i++) {
        batch_t *pill = xmalloc(sizeof(batch_t));
        pill->n = -1;
        push(pill);
    }
    for (int i = 0; i < nc; i++)
        pthread_join(tc[i], NULL);
    uint64_t t1 = now_ns();

    uint64_t pb = 0, pbytes = 0, pt = 0, cb = 0, ct = 0;
    for (int i = 0; i < np; i++) {
        pb += prod[i].blocks;
        pbytes += prod[i].bytes;
        pt += prod[i].tags;
    }
    for (int i = 0; i < nc; i++) {
        cb += cons[i].blocks;
        ct += cons[i].tags;
    }
    if (pb != cb || pt != ct)
        die("xmalloc: freed %" PRIu64 " of %" PRIu64 " blocks / tag mismatch", cb, pb);
    double secs = (double)(t1 - t0) / 1e9;
    print_result("xmalloc", "producers=%d blocks=%" PRIu64 " bytes=%" PRIu64 " tags=%016" PRIx64,
                 np, pb, pbytes, pt);
    printf("metric: ops_per_sec=%.0f seconds=%.3f\n", (double)pb / secs, secs);
    free(g_q); free(prod); free(cons); free(tp); free(tc);
    return 0;
}
