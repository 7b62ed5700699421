/* t_remote.c: multi-threaded producer/consumer; most frees are remote.
 * Producers allocate and fill blocks and hand them to consumers through
 * queues; consumers verify, sometimes realloc, and either free the block or
 * pass it on to another consumer. A checker thread runs cairn_check_heap()
 * concurrently.  usage: t_remote [items-per-producer] */
#include "testutil.h"
#include <pthread.h>
#include <stdatomic.h>

enum { NPROD = 3, NCONS = 3, QCAP = 256 };

typedef struct { void *p; size_t size; uint64_t tag; int hops; } item_t;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    item_t buf[QCAP];
    size_t head, count;
} queue_t;

static queue_t queues[NCONS];
static long items_per_producer;
static atomic_long outstanding;   /* items produced but not yet freed */
static atomic_int producers_done;
static atomic_int stop_checker;
static atomic_long checks_run;
static size_t small_max, large_max;

static void q_init(queue_t *q)
{
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    q->head = q->count = 0;
}
/* returns 0 when the queue is full and `wait` is 0 */
static int q_push(queue_t *q, item_t it, int wait)
{
    pthread_mutex_lock(&q->mu);
    while (q->count == QCAP) {
        if (!wait) { pthread_mutex_unlock(&q->mu); return 0; }
        pthread_cond_wait(&q->not_full, &q->mu);
    }
    q->buf[(q->head + q->count) % QCAP] = it;
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
    return 1;
}
/* returns 0 on timeout-less "finished" condition */
static int q_pop(queue_t *q, item_t *out)
{
    pthread_mutex_lock(&q->mu);
    while (q->count == 0) {
        if (atomic_load(&producers_done) == NPROD && atomic_load(&outstanding) == 0) {
            pthread_mutex_unlock(&q->mu);
            return 0;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 2000000;
        if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
        pthread_cond_timedwait(&q->not_empty, &q->mu, &ts);
    }
    *out = q->buf[q->head];
    q->head = (q->head + 1) % QCAP;
    q->count--;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->mu);
    return 1;
}

static size_t pick_size(rng_t *r)
{
    uint64_t x = rng_below(r, 1000);
    if (x < 700) return rng_range(r, 1, 256);
    if (x < 950) return rng_range(r, 257, small_max);
    if (x < 998) return rng_range(r, small_max + 1, 256 * KiB);
    return rng_range(r, large_max + 1, large_max + 2 * MiB);
}

static void *producer(void *arg)
{
    long id = (long)arg;
    rng_t r;
    rng_seed(&r, 1000 + (uint64_t)id);
    void *local[64] = {0};
    for (long n = 0; n < items_per_producer; n++) {
        item_t it;
        it.size = pick_size(&r);
        it.hops = (int)rng_below(&r, 3);
        it.tag = ((uint64_t)id << 48) ^ (uint64_t)n;
        uint64_t how = rng_below(&r, 10);
        if (how < 7) it.p = A_malloc(it.size);
        else if (how < 9) it.p = A_calloc(1, it.size);
        else it.p = A_memalign((size_t)64 << rng_below(&r, 6), it.size);
        CHECK(it.p != NULL, "producer alloc %zu", it.size);
        pattern_fill(it.p, it.size, it.tag);
        atomic_fetch_add(&outstanding, 1);
        q_push(&queues[rng_below(&r, NCONS)], it, 1);
        /* some thread-local churn too */
        size_t k = rng_below(&r, 64);
        if (local[k]) {
            CHECK(pattern_check(local[k], 48, (uint64_t)k + 7) == (size_t)-1, "local block corrupted");
            A_free(local[k]);
            local[k] = NULL;
        } else {
            local[k] = A_malloc(48 + rng_below(&r, 100));
            CHECK(local[k]);
            pattern_fill(local[k], 48, (uint64_t)k + 7);
        }
    }
    for (int k = 0; k < 64; k++) A_free(local[k]);
    atomic_fetch_add(&producers_done, 1);
    if (id == 0) cairn_thread_done();
    return NULL;
}

static void *consumer(void *arg)
{
    long id = (long)arg;
    rng_t r;
    rng_seed(&r, 2000 + (uint64_t)id);
    item_t it;
    long handled = 0;
    while (q_pop(&queues[id], &it)) {
        size_t bad = pattern_check(it.p, it.size, it.tag);
        CHECK(bad == (size_t)-1, "consumer %ld: block %p size %zu corrupted at %zu", id, it.p, it.size, bad);
        if (rng_below(&r, 8) == 0) {
            /* remote realloc */
            size_t ns = rng_below(&r, 2) ? it.size / 2 + 1 : it.size + rng_range(&r, 1, 5000);
            void *q = A_realloc(it.p, ns);
            CHECK(q != NULL);
            size_t keep = ns < it.size ? ns : it.size;
            CHECK(pattern_check2(q, keep, it.size, it.tag) == (size_t)-1, "remote realloc lost data");
            it.p = q;
            it.size = ns;
            it.tag ^= 0x5555;
            pattern_fill(q, ns, it.tag);
        }
        if (it.hops > 0) {
            it.hops--;
            if (q_push(&queues[(id + 1) % NCONS], it, 0)) continue;
        }
        A_free(it.p);
        atomic_fetch_sub(&outstanding, 1);
        handled++;
    }
    (void)handled;
    return NULL;
}

static void *checker(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_checker)) {
        int n = cairn_check_heap(stderr);
        CHECK(n == 0, "concurrent cairn_check_heap found %d problems", n);
        atomic_fetch_add(&checks_run, 1);
        cairn_stats_t st;
        cairn_stats_get(&st);
        usleep(20000);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    items_per_producer = argc > 1 ? atol(argv[1]) : (test_quick() ? 60000 : 400000);
    watchdog(300);
    small_max = cairn_small_max();
    large_max = cairn_large_max();
    for (int i = 0; i < NCONS; i++) q_init(&queues[i]);
    pthread_t pt[NPROD], ct[NCONS], ck;
    double t0 = now_sec();
    CHECK(pthread_create(&ck, NULL, checker, NULL) == 0);
    for (long i = 0; i < NCONS; i++) CHECK(pthread_create(&ct[i], NULL, consumer, (void *)i) == 0);
    for (long i = 0; i < NPROD; i++) CHECK(pthread_create(&pt[i], NULL, producer, (void *)i) == 0);
    for (int i = 0; i < NPROD; i++) pthread_join(pt[i], NULL);
    for (int i = 0; i < NCONS; i++) pthread_join(ct[i], NULL);
    atomic_store(&stop_checker, 1);
    pthread_join(ck, NULL);
    CHECK(atomic_load(&outstanding) == 0, "%ld blocks never freed", atomic_load(&outstanding));
    CHECK(atomic_load(&checks_run) > 0, "checker never ran");
    CHECK(heap_check_ok());
    cairn_stats_t st;
    cairn_stats_get(&st);
    printf("t_remote: %d producers x %ld items, %ld concurrent heap checks, live_blocks %" PRIu64
           ", %.2fs: ok\n", NPROD, items_per_producer, atomic_load(&checks_run), st.live_blocks,
           now_sec() - t0);
    return 0;
}
