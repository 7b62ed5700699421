/* larson: server simulation after Larson & Krishnan, "Memory allocation for
 * long-running server applications" (ISMM '98), as used in the Hoard paper
 * and mimalloc-bench.
 *
 * The main thread fills one array of `slots` blocks per chain. Each of the
 * `threads` chains then runs `rounds` generations: a generation is a thread
 * that replaces `ops` randomly chosen slots (verify + free the old block,
 * malloc a new one of random size in [min, max]) and then starts the next
 * generation's thread on the same array and exits. Every block is therefore
 * freed by a thread other than the one that allocated it, as in a server
 * whose connection handlers come and go.
 *
 * Parameters: threads=2 slots=2000 ops=20000 rounds=40 min=8 max=1000 seed=1
 * Result: allocations, bytes requested and a tag checksum (deterministic).
 * Metric: ops_per_sec (malloc+free pairs per second, all threads).
 */
#include "common.h"

typedef struct {
    void *p;
    uint32_t size;
    uint64_t tag;
} slot_t;

typedef struct chain {
    int id, gen;
    slot_t *slots;
    rng_t rng;
    uint64_t allocs, bytes, tag_sum, freed_sum;
} chain_t;

static long long g_slots, g_ops, g_rounds, g_min, g_max;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_live_chains;

static void *generation(void *arg)
{
    chain_t *c = arg;
    slot_t *s = c->slots;
    for (long long i = 0; i < g_ops; i++) {
        uint64_t k = rng_below(&c->rng, (uint64_t)g_slots);
        if (!stamp_ok(s[k].p, s[k].size, s[k].tag))
            die("larson: corrupt block (chain %d gen %d)", c->id, c->gen);
        c->freed_sum += s[k].tag;
        free(s[k].p);
        uint32_t size = (uint32_t)rng_range(&c->rng, (uint64_t)g_min, (uint64_t)g_max);
        uint64_t tag = rng_next(&c->rng);
        void *p = xmalloc(size);
        stamp(p, size, tag);
        s[k] = (slot_t){ p, size, tag };
        c->allocs++;
        c->bytes += size;
        c->tag_sum += tag;
    }
    if (++c->gen < g_rounds) {
        /* hand the array to a fresh thread */
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &a, generation, c))
            die("pthread_create failed");
        pthread_attr_destroy(&a);
    } else {
        pthread_mutex_lock(&g_mu);
        g_live_chains--;
        pthread_cond_signal(&g_cv);
        pthread_mutex_unlock(&g_mu);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    params_init(argc, argv);
    int threads = (int)param("threads", 2);
    g_slots = param("slots", 2000);
    g_ops = param("ops", 20000);
    g_rounds = param("rounds", 40);
    g_min = param("min", 8);
    g_max = param("max", 1000);
    uint64_t seed = (uint64_t)param("seed", 1);
    if (threads < 1 || g_slots < 1 || g_rounds < 1 || g_min < 1 || g_max < g_min)
        die("bad parameters");

    chain_t *chains = calloc((size_t)threads, sizeof(chain_t));
    for (int c = 0; c < threads; c++) {
        chains[c].id = c;
        rng_seed(&chains[c].rng, seed * 1000003u + (uint64_t)c);
        chains[c].slots = calloc((size_t)g_slots, sizeof(slot_t));
        for (long long i = 0; i < g_slots; i++) {
            uint32_t size = (uint32_t)rng_range(&chains[c].rng, (uint64_t)g_min, (uint64_t)g_max);
            uint64_t tag = rng_next(&chains[c].rng);
            void *p = xmalloc(size);
            stamp(p, size, tag);
            chains[c].slots[i] = (slot_t){ p, size, tag };
            chains[c].tag_sum += tag;
            chains[c].bytes += size;
            chains[c].allocs++;
        }
    }

    uint64_t t0 = now_ns();
    g_live_chains = threads;
    for (int c = 0; c < threads; c++) {
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &a, generation, &chains[c]))
            die("pthread_create failed");
        pthread_attr_destroy(&a);
    }
    pthread_mutex_lock(&g_mu);
    while (g_live_chains > 0)
        pthread_cond_wait(&g_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);
    uint64_t t1 = now_ns();

    uint64_t allocs = 0, bytes = 0, tags = 0;
    for (int c = 0; c < threads; c++) {
        for (long long i = 0; i < g_slots; i++) {
            slot_t *s = &chains[c].slots[i];
            if (!stamp_ok(s->p, s->size, s->tag))
                die("larson: corrupt block at exit");
            chains[c].freed_sum += s->tag;
            free(s->p);
        }
        if (chains[c].freed_sum != chains[c].tag_sum)
            die("larson: tag checksum mismatch in chain %d", c);
        allocs += chains[c].allocs;
        bytes += chains[c].bytes;
        tags += chains[c].tag_sum;
        free(chains[c].slots);
    }
    free(chains);
    double secs = (double)(t1 - t0) / 1e9;
    double ops = (double)threads * (double)g_rounds * (double)g_ops;
    print_result("larson", "allocs=%" PRIu64 " bytes=%" PRIu64 " tags=%016" PRIx64,
                 allocs, bytes, tags);
    printf("metric: ops_per_sec=%.0f seconds=%.3f\n", ops / secs, secs);
    return 0;
}
