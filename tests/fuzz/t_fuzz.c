/* t_fuzz.c: differential random driver for cairn.
 *
 * Seeded random sequences of every allocation call, on several threads,
 * checked against a shadow model (fuzz_common.h: contents, alignment,
 * usable size, no overlap, calloc zeros, realloc keeps the prefix, errno
 * kept by free, glibc's rules for zero sizes, overflow and bad alignments,
 * cairn_check_heap() == 0 at intervals).
 *
 * Threads: N worker slots. Each runs a thread for a random "life" of
 * operations on its own table of blocks; when the life ends the thread
 * exits (maybe after cairn_thread_done()), leaving its remaining blocks to
 * the next thread of the slot, which the main thread starts: heaps get
 * pooled and adopted. Blocks also move between threads through a shared,
 * mutex-protected exchange, so they are freed and realloc'ed by threads
 * that did not allocate them. Occasionally a worker forks: the child checks
 * blocks it inherited, works a little, frees some inherited blocks (also of
 * other threads, whose heaps are orphaned there), starts a thread, checks
 * the heap and _exit(0)s; the parent checks its status.
 *
 * One seed drives everything (each thread's seed derives from it). With one
 * worker the run is exactly reproducible; with more, the interleaving (and
 * so which thread gets which block from the exchange) depends on timing.
 *
 * usage: t_fuzz [-s seed] [-n ops] [-t threads] [-T seconds] [-f fork_every]
 *               [-H huge_ppm] [-M max_live_MiB] [-c check_every] [-l life]
 *               [-k slots] [-N cairn|std|mix] [-p progress_seconds] [-q] [-X 1..9]
 * -q: no progress lines (else one every -p seconds, default 30). -X: self-
 * test, breaks one thing on purpose (inject() below): the run must fail.
 * See tests/fuzz/README.md. Exit status 0: all checks passed; 1: a check
 * failed (the message says which, and how to run it again); 2: bad usage. */
#include "fuzz_common.h"
#include <getopt.h>
#include <sys/wait.h>

enum { NXCHG = 512, MAX_WORKERS = 64 };

/* ---- options ------------------------------------------------------------- */
static uint64_t opt_ops;            /* total operations, all threads        */
static int opt_threads = 4;
static double opt_seconds;          /* 0: no time limit                     */
static uint64_t opt_fork_every;     /* mean operations between forks, per thread; 0: never */
static uint64_t opt_huge_ppm = 40;  /* huge allocations per million         */
static long long opt_max_live = 320 * (long long)MiB;
static uint64_t opt_check_every = 20000;
static uint64_t opt_life = 30000;   /* mean operations per thread life      */
static size_t opt_slots = 1536;     /* blocks per worker table              */
static int opt_names;               /* 0 cairn_*, 1 standard, 2 both        */
static int opt_quiet;
static int opt_inject;              /* self-test: break something on purpose */
static double opt_progress = 30;    /* seconds between progress lines       */
enum { INJECT_MAX = 9 };
static atomic_int injected;         /* the self-test's breakage was done     */

/* ---- shared state ---------------------------------------------------------- */
static fz_set_t live_set;
static struct {
    pthread_mutex_t mu;
    fz_blk_t b[NXCHG];
} xchg = { PTHREAD_MUTEX_INITIALIZER, {{0}} };
static atomic_ullong claimed;        /* operations handed out                */
static atomic_int stop;
static atomic_llong live_bytes;      /* bytes asked for, all live blocks     */
static atomic_ullong n_lives, n_forks;   /* for the progress lines           */
static double t_start;
static size_t g_small_max, g_large_max, g_page;

typedef struct {
    uint64_t ops, allocs, frees, reallocs, edges, swaps, verifies, checks, trims, thread_dones, forks,
        huge, lives;
} counts_t;

typedef struct {
    int wid;
    unsigned gen;
    pthread_t th;
    bool running;
    bool done;              /* the thread finished its life (main joins it) */
    rng_t r;
    uint64_t tagctr;
    fz_blk_t *slot;
    fz_ctx_t ctx;
    fz_env_t env;
    counts_t n;             /* kept across generations                      */
} worker_t;

static worker_t *workers;
static unsigned long long total_ops(void) { return atomic_load(&claimed); }
static pthread_mutex_t sup_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sup_cv = PTHREAD_COND_INITIALIZER;

static const fz_api_t *pick_api(rng_t *r)
{
#ifdef FUZZ_STD_NAMES
    if (opt_names == 1) return &fz_api_std;
    if (opt_names == 2) return rng_below(r, 2) ? &fz_api_std : &fz_api_cairn;
#endif
    (void)r;
    return &fz_api_cairn;
}

/* ---- sizes and alignments --------------------------------------------------- */
static size_t log_uniform(rng_t *r, size_t lo, size_t hi)
{
    unsigned a = 63 - (unsigned)__builtin_clzll(lo | 1), b = 63 - (unsigned)__builtin_clzll(hi);
    unsigned k = (unsigned)rng_range(r, a, b);
    size_t from = (size_t)1 << k, to = (from << 1) - 1;
    if (from < lo) from = lo;
    if (to > hi) to = hi;
    return rng_range(r, from, to);
}

static size_t boundary_size(rng_t *r)
{
    /* class, page, segment and heap limits; the big ones less often, since
     * every page of a block is touched (and faulted in) */
    static const size_t pts[] = {0, 1, 8, 15, 16, 17, 24, 32, 48, 64, 96, 112, 128, 160, 256, 320, 448,
                                 512, 640, 1024, 1280, 2048, 2560, 4096, 5120, 8192, 10240, 12288, 16384,
                                 16384 + 64, 32768, 65536 - 64, 65536, 131072, 256 * KiB - 64, 256 * KiB};
    static const size_t big[] = {512 * KiB, MiB - 64, MiB, 2 * MiB - 4096, 2 * MiB - 64, 2 * MiB,
                                 2 * MiB + 4096, 4 * MiB - 128, 4 * MiB - 64, 4 * MiB, 4 * MiB + 64, 8 * MiB - 64};
    size_t s = rng_below(r, 8) ? pts[rng_below(r, sizeof pts / sizeof pts[0])]
                               : big[rng_below(r, sizeof big / sizeof big[0])];
    int64_t d = (int64_t)rng_below(r, 33) - 16;
    if (rng_below(r, 3) == 0) d = 0;
    if (d < 0 && (size_t)-d > s) return s;
    return (size_t)((int64_t)s + d);
}

/* tiny 0-64, small up to 16 KiB, boundaries, large up to 8 MiB, rarely
 * huge (just above cairn_large_max()). Under memory pressure: small only. */
static size_t pick_size(worker_t *w)
{
    rng_t *r = &w->r;
    bool tight = atomic_load_explicit(&live_bytes, memory_order_relaxed) > opt_max_live;
    if (!tight && rng_below(r, 1000000) < opt_huge_ppm) {
        w->n.huge++;
        if (rng_below(r, 4) == 0) return g_large_max - 64 + rng_below(r, 128);  /* the boundary */
        return g_large_max + 1 + rng_below(r, 3 * MiB);
    }
    uint64_t x = rng_below(r, 1000);
    if (x < 400) return rng_range(r, 0, 64);
    if (x < 810 || tight) return log_uniform(r, 65, g_small_max);
    if (x < 900) return boundary_size(r);
    if (x < 995) return log_uniform(r, g_small_max + 1, 256 * KiB);
    return log_uniform(r, 256 * KiB, 8 * MiB);
}

/* 1 .. 1 MiB, mostly small */
static size_t pick_align(rng_t *r)
{
    uint64_t x = rng_below(r, 100);
    unsigned k = x < 60 ? (unsigned)rng_range(r, 0, 8) : x < 90 ? (unsigned)rng_range(r, 9, 14)
                                                                : (unsigned)rng_range(r, 15, 20);
    return (size_t)1 << k;
}

static uint64_t new_tag(worker_t *w) { return tu_mix64(w->ctx.seed ^ (++w->tagctr * 0x9e3779b97f4a7c15ULL)); }

/* ---- operations ------------------------------------------------------------- */
static void op_alloc(worker_t *w, fz_blk_t *b)
{
    rng_t *r = &w->r;
    fz_env_t *e = &w->env;
    const fz_api_t *A = e->api;
    size_t size = pick_size(w), align = MIN_ALIGN_FZ;
    uint64_t tag = new_tag(w);
    bool fill_usable = rng_below(r, 4) == 0;
    uint64_t k = rng_below(r, 100);
    void *p;
    w->n.allocs++;
    fz_trace_t *t;
    if (k < 44) {
        t = fz_trace(&w->ctx, "malloc", NULL, size, 0, NULL);
        t->q = p = A->malloc(size);
        fz_accept(e, b, p, size, align, FK_MALLOC, tag, fill_usable, "malloc");
    } else if (k < 56) {
        size_t n = 1 + rng_below(r, 8), each = size / n;
        if (rng_below(r, 2)) { size_t tmp = n; n = each; each = tmp; }
        t = fz_trace(&w->ctx, "calloc", NULL, n, each, NULL);
        t->q = p = A->calloc(n, each);
        FZ_CHECK(p != NULL, "calloc(%zu, %zu) returned NULL", n, each);
        fz_check_zero(p, n * each, "calloc");
        fz_accept(e, b, p, n * each, align, FK_CALLOC, tag, fill_usable, "calloc");
    } else if (k < 61) {
        t = fz_trace(&w->ctx, "realloc(NULL)", NULL, size, 0, NULL);
        t->q = p = A->realloc(NULL, size);
        fz_accept(e, b, p, size, align, FK_MALLOC, tag, fill_usable, "realloc(NULL, n)");
    } else if (k < 64) {
        size_t n = 1 + rng_below(r, 16), each = size / n;
        t = fz_trace(&w->ctx, "reallocarray(NULL)", NULL, n, each, NULL);
        t->q = p = A->reallocarray(NULL, n, each);
        fz_accept(e, b, p, n * each, align, FK_MALLOC, tag, fill_usable, "reallocarray(NULL, n, m)");
    } else if (k < 73) {
        size_t al = pick_align(r);
        if (rng_below(r, 10) == 0) al += rng_range(r, 1, al > 1 ? al - 1 : 1);   /* not a power of two */
        t = fz_trace(&w->ctx, "memalign", NULL, al, size, NULL);
        t->q = p = A->memalign(al, size);
        fz_accept(e, b, p, size, fz_pow2_at_least(al), FK_MEMALIGN, tag, fill_usable, "memalign");
    } else if (k < 81) {
        size_t al = pick_align(r);
        t = fz_trace(&w->ctx, "aligned_alloc", NULL, al, size, NULL);
        t->q = p = A->aligned_alloc(al, size);
        fz_accept(e, b, p, size, fz_pow2_at_least(al), FK_ALIGNED, tag, fill_usable, "aligned_alloc");
        b->align = al;   /* what free_aligned_sized must be told */
    } else if (k < 91) {
        size_t al = pick_align(r);
        if (al < sizeof(void *)) al = sizeof(void *);
        p = (void *)0x1;
        t = fz_trace(&w->ctx, "posix_memalign", NULL, al, size, NULL);
        errno = 777;
        int rc = A->posix_memalign(&p, al, size);
        t->q = p;
        FZ_CHECK(rc == 0, "posix_memalign(align %zu, size %zu) = %d", al, size, rc);
        FZ_CHECK(errno == 777, "posix_memalign changed errno to %d", errno);
        fz_accept(e, b, p, size, fz_pow2_at_least(al), FK_MEMALIGN, tag, fill_usable, "posix_memalign");
    } else if (k < 96) {
        t = fz_trace(&w->ctx, "valloc", NULL, size, 0, NULL);
        t->q = p = A->valloc(size);
        fz_accept(e, b, p, size, g_page, FK_MEMALIGN, tag, fill_usable, "valloc");
    } else {
        /* pvalloc rounds the size up to whole pages, all of them usable */
        t = fz_trace(&w->ctx, "pvalloc", NULL, size, 0, NULL);
        t->q = p = A->pvalloc(size);
        size_t want = size ? (size + g_page - 1) / g_page * g_page : g_page;
        fz_accept(e, b, p, want, g_page, FK_MEMALIGN, tag, fill_usable, "pvalloc");
    }
}

static void op_free(worker_t *w, fz_blk_t *b)
{
    w->n.frees++;
    fz_trace(&w->ctx, "free", b->p, b->size, b->kind, NULL);
    fz_free(&w->env, b, (unsigned)rng_next(&w->r));
}

static void op_realloc(worker_t *w, fz_blk_t *b)
{
    rng_t *r = &w->r;
    fz_env_t *e = &w->env;
    size_t old = b->size, ns;
    bool tight = atomic_load_explicit(&live_bytes, memory_order_relaxed) > opt_max_live;
    uint64_t x = rng_below(r, 100);
    w->n.reallocs++;
    if (x >= 62 && x < 66) {
        /* realloc(p, 0) and reallocarray(p, 0, m): free p, return NULL */
        fz_verify(b, "realloc to 0");
        fz_release(e, b);
        void *q;
        unsigned how = (unsigned)rng_below(r, 3);
        fz_trace_t *t = fz_trace(&w->ctx, "realloc(p, 0)", b->p, how, 0, NULL);
        q = how == 0 ? e->api->realloc(b->p, 0)
          : how == 1 ? e->api->reallocarray(b->p, 0, rng_below(r, 100))
                     : e->api->reallocarray(b->p, rng_below(r, 100), 0);
        t->q = q;
        FZ_CHECK(q == NULL, "realloc(%p, 0) returned %p: glibc frees the block and returns NULL", (void *)b->p, q);
        b->p = NULL;
        return;
    }
    size_t n_elems = 0;
    if (x < 22 || tight) ns = tight && x >= 22 ? old / 2 + rng_below(r, 16) : old + 1 + rng_below(r, 64);
    else if (x < 32) ns = old <= MiB ? old * 2 + rng_below(r, 100) : old + rng_below(r, 4096);
    else if (x < 47) ns = old / 2 + rng_below(r, 16);
    else if (x < 57) ns = old - rng_below(r, (old < 64 ? old : 64) + 1);
    else if (x < 62) ns = old;
    else if (x < 70) {
        n_elems = 1 + rng_below(r, 16);
        ns = pick_size(w) / n_elems * n_elems;
    } else ns = pick_size(w);
    if (ns == 0) { ns = 1; n_elems = 0; }
    fz_trace_t *t = fz_trace(&w->ctx, n_elems ? "reallocarray" : "realloc", b->p, old, ns, NULL);
    fz_realloc(e, b, ns, n_elems, new_tag(w), false, rng_below(r, 4) == 0);
    t->q = b->p;
}

static void op_verify(worker_t *w, fz_blk_t *b)
{
    w->n.verifies++;
    fz_trace(&w->ctx, "verify", b->p, b->size, 0, NULL);
    fz_verify(b, "a random check");
    fz_verify_usable(&w->env, b);
}

/* Swap a table slot with an exchange slot (either may be empty); a block
 * received is checked at once. */
static void op_swap(worker_t *w, size_t i)
{
    size_t j = rng_below(&w->r, NXCHG);
    w->n.swaps++;
    fz_trace_t *tr = fz_trace(&w->ctx, "exchange", w->slot[i].p, i, j, NULL);
    pthread_mutex_lock(&xchg.mu);
    fz_blk_t t = xchg.b[j];
    xchg.b[j] = w->slot[i];
    w->slot[i] = t;
    pthread_mutex_unlock(&xchg.mu);
    tr->q = t.p;
    if (t.p) {
        fz_verify(&t, "use by another thread");
        fz_verify_usable(&w->env, &t);
    }
}

static void op_check_heap(worker_t *w)
{
    w->n.checks++;
    fz_trace(&w->ctx, "cairn_check_heap", NULL, 0, 0, NULL);
    int bad = cairn_check_heap(stderr);
    FZ_CHECK(bad == 0, "cairn_check_heap found %d problem(s) (described above)", bad);
}

static void verify_all(worker_t *w, const char *when)
{
    for (size_t i = 0; i < opt_slots; i++)
        if (w->slot[i].p) {
            fz_verify(&w->slot[i], when);
            fz_verify_usable(&w->env, &w->slot[i]);
        }
}

static void do_op(worker_t *w);
static void inject(worker_t *w);

/* ---- fork ---------------------------------------------------------------------- */
static void child_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "t_fuzz: fork child timed out (deadlock?)\n";
    if (write(2, msg, sizeof msg - 1) < 0) {}
    _exit(3);
}

#ifndef FZ_TSAN
static void *child_thread(void *arg)
{
    worker_t *w = arg;      /* a copy for this thread */
    fz_cur = &w->ctx;
    w->ctx.what = "child thread";
    /* blocks of the parent's threads, from the exchange */
    for (int k = 0; k < 16; k++) {
        size_t j = rng_below(&w->r, NXCHG);
        pthread_mutex_lock(&xchg.mu);
        fz_blk_t t = xchg.b[j];
        xchg.b[j].p = NULL;
        pthread_mutex_unlock(&xchg.mu);
        if (!t.p) continue;
        if (rng_below(&w->r, 2)) fz_realloc(&w->env, &t, t.size + 100, 0, new_tag(w), false, false);
        fz_free(&w->env, &t, (unsigned)k);
    }
    fz_blk_t mine[64] = {{0}};
    for (int round = 0; round < 4; round++) {
        for (int k = 0; k < 64; k++) {
            size_t n = rng_range(&w->r, 0, rng_below(&w->r, 8) ? 512 : 100000);
            fz_accept(&w->env, &mine[k], w->env.api->malloc(n), n, MIN_ALIGN_FZ, FK_MALLOC, new_tag(w),
                      false, "malloc in a fork child's thread");
        }
        for (int k = 0; k < 64; k++) fz_free(&w->env, &mine[k], (unsigned)k);
    }
    return NULL;
}
#endif

static void fork_child(worker_t *w) __attribute__((noreturn));
static void fork_child(worker_t *w)
{
    fz_in_child = 1;
    signal(SIGALRM, child_alarm);
    alarm(60);
    pthread_mutex_unlock(&live_set.mu);
    pthread_mutex_unlock(&xchg.mu);
    rng_t *r = &w->r;
    w->ctx.what = "fork child: inherited blocks";
    /* 1. blocks inherited from the parent: ours and the exchange's */
    for (int k = 0; k < 64; k++) {
        fz_blk_t *b = &w->slot[rng_below(r, opt_slots)];
        if (b->p) { fz_verify(b, "use in a fork child"); fz_verify_usable(&w->env, b); }
    }
    for (size_t j = 0; j < NXCHG; j++)
        if (xchg.b[j].p) { fz_verify(&xchg.b[j], "use in a fork child"); fz_verify_usable(&w->env, &xchg.b[j]); }
    if (opt_inject == 6 && !atomic_load(&injected)) inject(w);
    /* 2. a little work of our own */
    uint64_t n = rng_range(r, 200, 2000);
    for (uint64_t k = 0; k < n; k++) do_op(w);
    /* 3. free some inherited blocks, of other threads too (their heaps are
     * orphaned here) */
    w->ctx.what = "fork child: freeing inherited blocks";
    for (size_t j = 0; j < NXCHG; j++)
        if (xchg.b[j].p && rng_below(r, 2)) {
            if (rng_below(r, 3) == 0) fz_realloc(&w->env, &xchg.b[j], xchg.b[j].size / 2 + 1, 0, new_tag(w), false, false);
            fz_free(&w->env, &xchg.b[j], (unsigned)j);
        }
    for (size_t i = 0; i < opt_slots; i++)
        if (w->slot[i].p && rng_below(r, 4) == 0) fz_free(&w->env, &w->slot[i], (unsigned)i);
    /* 4. a thread of the child */
#ifndef FZ_TSAN
    static worker_t tw;
    tw = *w;
    tw.ctx.wid = -3;
    tw.env.who = -3;
    rng_seed(&tw.r, w->ctx.seed ^ 0xc41dULL);
    pthread_t th;
    FZ_CHECK(pthread_create(&th, NULL, child_thread, &tw) == 0, "pthread_create in a fork child failed");
    FZ_CHECK(pthread_join(th, NULL) == 0, "pthread_join in a fork child failed");
#endif
    /* 5. our blocks are intact and the heap is consistent */
    w->ctx.what = "fork child: final checks";
    verify_all(w, "the end of a fork child");
    int bad = cairn_check_heap(stderr);
    FZ_CHECK(bad == 0, "cairn_check_heap in a fork child found %d problem(s)", bad);
    _exit(0);
}

static void op_fork(worker_t *w)
{
    w->n.forks++;
    atomic_fetch_add_explicit(&n_forks, 1, memory_order_relaxed);
    fz_trace(&w->ctx, "fork", NULL, 0, 0, NULL);
    fflush(stdout);
    fflush(stderr);
    /* the exchange and the range set are consistent in the child */
    pthread_mutex_lock(&xchg.mu);
    pthread_mutex_lock(&live_set.mu);
    pid_t pid = fork();
    if (pid == 0) fork_child(w);
    pthread_mutex_unlock(&live_set.mu);
    pthread_mutex_unlock(&xchg.mu);
    FZ_CHECK(pid > 0, "fork failed: %s", strerror(errno));
    int st;
    pid_t got;
    while ((got = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {}
    FZ_CHECK(got == pid, "waitpid: %s", strerror(errno));
    FZ_CHECK(!WIFSIGNALED(st), "fork child killed by signal %d (its report is above)", WTERMSIG(st));
    FZ_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork child exited with status %d (%s)", WEXITSTATUS(st),
             WEXITSTATUS(st) == 3 ? "it timed out: a deadlock?" : "its report is above");
}

/* ---- self-test (-X): the checks must catch these ---------------------------------- *
 * Each mode breaks one thing on purpose, once, at operation 5000 of worker
 * 0 (mode 6: in the first fork child), and the run must then fail with the
 * message of the check that is meant to catch it (tests/run.sh,
 * fuzz-selftest-*). Modes 1, 2, 4 and 6 lie to or scribble behind the
 * shadow model; 3 and 5 misuse the allocator; 7 to 9 call it through a
 * broken wrapper, as if the allocator itself had the bug. */

static void *sab_malloc(size_t n)               /* 7: a misaligned result */
{
    uint8_t *p = cairn_malloc(n + 16);
    return p ? p + 8 : NULL;
}
static void *sab_calloc(size_t n, size_t m)     /* 8: calloc memory not zeroed */
{
    uint8_t *p = cairn_calloc(n, m);
    if (p && n * m != 0) p[n * m - 1] = 0x5a;
    return p;
}
static void *sab_realloc(void *old, size_t n)   /* 9: realloc loses a byte of the prefix */
{
    uint8_t *p = cairn_realloc(old, n);
    if (p && n) p[n / 3] ^= 0x10;
    return p;
}

static fz_blk_t *inject_victim(worker_t *w)
{
    for (size_t i = 0; i < opt_slots; i++)
        if (w->slot[i].p && w->slot[i].size >= 64 && w->slot[i].size <= 4096) return &w->slot[i];
    return NULL;
}

static void inject(worker_t *w)
{
    fz_env_t *e = &w->env;
    fz_blk_t *b = inject_victim(w);
    if (!b) return;     /* try again at the next operation */
    atomic_store(&injected, 1);
    fz_trace(&w->ctx, "self-test", b->p, (size_t)opt_inject, 0, NULL);
    fprintf(stderr, "t_fuzz: self-test %d at op %llu, block %p (size %zu)%s\n", opt_inject,
            (unsigned long long)w->ctx.op, (void *)b->p, b->size, fz_in_child ? " in a fork child" : "");
    static fz_api_t sab;   /* mode 9 leaves it in e->api for the rest of the operation */
    sab = *e->api;
    sab.name = "sabotaged";
    sab.malloc = sab_malloc;
    sab.calloc = sab_calloc;
    sab.realloc = sab_realloc;
    switch (opt_inject) {
    case 1: case 6:     /* contents: a byte of a live block changes */
        b->p[b->size / 2] ^= 0x40;
        break;
    case 2:             /* overlap: the model is told of a block across b's end */
        fz_set_add(e->set, b->p + b->usable - 8, 16, 16, 0, w->wid);
        break;
    case 3: {           /* double free: cairn must stop the program */
        void *p = e->api->malloc(64);
        e->api->free(p);
        e->api->free(p);
        break;
    }
    case 4:             /* usable size: the model remembers another one */
        b->usable += 16;
        break;
    case 5: {           /* heap metadata: a freed block's free-list link is overwritten */
        uint8_t *p = e->api->malloc(64);
        e->api->free(p);
        memset(p, 0xa5, 16);
        op_check_heap(w);
        break;
    }
    case 7: {
        fz_blk_t z = {0};
        fz_accept(e, &z, sab.malloc(100), 100, MIN_ALIGN_FZ, FK_MALLOC, new_tag(w), false, "malloc");
        break;
    }
    case 8: {
        fz_blk_t z = {0};
        void *p = sab.calloc(10, 10);
        FZ_CHECK(p != NULL, "calloc(10, 10) returned NULL");
        fz_check_zero(p, 100, "calloc");
        fz_accept(e, &z, p, 100, MIN_ALIGN_FZ, FK_CALLOC, new_tag(w), false, "calloc");
        break;
    }
    default:
        e->api = &sab;
        fz_realloc(e, b, b->size + 100, 0, new_tag(w), false, false);
        break;
    }
}

/* ---- one operation ------------------------------------------------------------------- */
static void do_op(worker_t *w)
{
    rng_t *r = &w->r;
    w->ctx.op++;
    w->n.ops++;
    w->env.api = pick_api(r);
    /* the slots in use breathe, so the heap grows and shrinks */
    size_t range = opt_slots / 8 + (size_t)((w->ctx.op / 20000) % 8) * (opt_slots / 8);
    if (range < 1) range = 1;
    if (opt_fork_every && !fz_in_child && rng_below(r, opt_fork_every) == 0) { op_fork(w); return; }
    if (opt_inject && opt_inject != 6 && w->wid == 0 && w->ctx.op >= 5000 && !atomic_load(&injected))
        inject(w);
    uint64_t x = rng_below(r, 1000000);
    if (x < 10) {
        w->n.trims++;
        fz_trace(&w->ctx, "malloc_trim", NULL, 0, 0, NULL);
        int rc = w->env.api->trim(0);
        FZ_CHECK(rc == 0 || rc == 1, "malloc_trim(0) = %d", rc);
    } else if (x < 150) {
        w->n.thread_dones++;
        fz_trace(&w->ctx, "cairn_thread_done", NULL, 0, 0, NULL);
        cairn_thread_done();
    } else if (x < 200) {
        op_check_heap(w);
    } else if (x < 6000) {
        w->n.edges++;
        fz_blk_t *b = &w->slot[rng_below(r, range)];
        unsigned which = (unsigned)rng_below(r, FZ_EDGE_CASES);
        fz_trace(&w->ctx, "edge case", b->p, which, 0, NULL);
        w->ctx.what = fz_edge_case(&w->env, which, (size_t)rng_next(r), b->p ? b : NULL);
    } else if (x < 60000) {
        op_swap(w, rng_below(r, range));
    } else {
        fz_blk_t *b = &w->slot[rng_below(r, range)];
        if (!b->p) { op_alloc(w, b); return; }
        uint64_t y = rng_below(r, 100);
        if (y < 55) op_free(w, b);
        else if (y < 85) op_realloc(w, b);
        else op_verify(w, b);
    }
    if (w->ctx.op % opt_check_every == 0) {
        w->ctx.what = "periodic check";
        verify_all(w, "a periodic check");
        op_check_heap(w);
        /* now and then free the upper half of the table */
        if (w->ctx.op % (opt_check_every * 4) == 0)
            for (size_t i = opt_slots / 2; i < opt_slots; i++)
                if (w->slot[i].p) op_free(w, &w->slot[i]);
    }
}

/* ---- threads ---------------------------------------------------------------------------- */
static bool out_of_budget(void)
{
    if (atomic_load_explicit(&stop, memory_order_relaxed)) return true;
    if (atomic_fetch_add_explicit(&claimed, 1, memory_order_relaxed) >= opt_ops) {
        atomic_store(&stop, 1);
        return true;
    }
    return false;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    fz_cur = &w->ctx;
    rng_t *r = &w->r;
    w->n.lives++;
    uint64_t life = rng_range(r, opt_life / 4 + 1, opt_life * 7 / 4 + 1);
    for (uint64_t k = 0; k < life; k++) {
        if ((k & 255) == 0 && opt_seconds > 0 && now_sec() - t_start >= opt_seconds) atomic_store(&stop, 1);
        if (out_of_budget()) break;
        do_op(w);
    }
    /* the end of a life: leave the table to the next thread of the slot,
     * maybe after freeing some of it; maybe say goodbye explicitly */
    w->ctx.what = "end of thread life";
    verify_all(w, "the end of a thread's life");
    uint64_t x = rng_below(r, 4);
    for (size_t i = 0; i < opt_slots; i++)
        if (w->slot[i].p) {
            if (x == 0 || (x == 1 && rng_below(r, 2))) op_free(w, &w->slot[i]);
            else if (x == 2 && rng_below(r, 8) == 0) op_swap(w, i);
        }
    if (rng_below(r, 2)) cairn_thread_done();
    fz_cur = NULL;
    pthread_mutex_lock(&sup_mu);
    w->done = true;
    pthread_cond_signal(&sup_cv);
    pthread_mutex_unlock(&sup_mu);
    return NULL;
}

static void start_worker(worker_t *w)
{
    w->gen++;
    uint64_t s = tu_mix64(fz_seed ^ tu_mix64(((uint64_t)w->wid + 1) * 0x100000001b3ULL ^ ((uint64_t)w->gen << 32)));
    rng_seed(&w->r, s);
    w->ctx.seed = s;
    w->ctx.wid = w->wid;
    w->ctx.gen = w->gen;
    w->ctx.op = 0;
    w->ctx.what = NULL;
    memset(w->ctx.ring, 0, sizeof w->ctx.ring);
    w->env.who = w->wid;
    w->done = false;
    w->running = true;
    atomic_fetch_add_explicit(&n_lives, 1, memory_order_relaxed);
    int rc = pthread_create(&w->th, NULL, worker_main, w);
    FZ_CHECK(rc == 0, "pthread_create: %s", strerror(rc));
}

/* ---- main -------------------------------------------------------------------------------- */
static void usage(void)
{
    fprintf(stderr,
            "usage: t_fuzz [-s seed] [-n ops] [-t threads] [-T seconds] [-f fork_every]\n"
            "              [-H huge_ppm] [-M max_live_MiB] [-c check_every] [-l life] [-k slots]\n"
            "              [-N cairn|std|mix] [-p progress_seconds] [-q] [-X 1..%d]\n", INJECT_MAX);
    exit(2);
}

int main(int argc, char **argv)
{
    fz_prog = "t_fuzz";
    bool quick = test_quick(), ops_given = false;
    fz_seed = 1;
    opt_ops = quick ? 200000 : 2000000;
    opt_fork_every = quick ? 100000 : 250000;
#ifdef FZ_TSAN
    opt_fork_every = 0;     /* TSan does not follow a multi-threaded fork */
#endif
    int c;
    while ((c = getopt(argc, argv, "s:n:t:T:f:H:M:c:l:k:N:X:p:qh")) != -1) {
        switch (c) {
        case 's': fz_seed = strtoull(optarg, NULL, 0); break;
        case 'n': opt_ops = strtoull(optarg, NULL, 0); ops_given = true; break;
        case 't': opt_threads = atoi(optarg); break;
        case 'T': opt_seconds = atof(optarg); break;
        case 'f': opt_fork_every = strtoull(optarg, NULL, 0); break;
        case 'H': opt_huge_ppm = strtoull(optarg, NULL, 0); break;
        case 'M': opt_max_live = atoll(optarg) * (long long)MiB; break;
        case 'c': opt_check_every = strtoull(optarg, NULL, 0); break;
        case 'l': opt_life = strtoull(optarg, NULL, 0); break;
        case 'k': opt_slots = strtoull(optarg, NULL, 0); break;
        case 'N':
            opt_names = !strcmp(optarg, "cairn") ? 0 : !strcmp(optarg, "std") ? 1 : !strcmp(optarg, "mix") ? 2 : -1;
            if (opt_names < 0) usage();
            break;
        case 'q': opt_quiet = 1; break;
        case 'X': opt_inject = atoi(optarg); if (opt_inject < 1 || opt_inject > INJECT_MAX) usage(); break;
        case 'p': opt_progress = atof(optarg); break;
        default: usage();
        }
    }
    if (optind != argc || opt_threads < 1 || opt_threads > MAX_WORKERS || opt_slots < 8 || opt_check_every < 1 ||
        opt_life < 1)
        usage();
#ifndef FUZZ_STD_NAMES
    if (opt_names != 0) {
        fprintf(stderr, "t_fuzz: -N %s needs a build against libcairn.so (the standard names here are not cairn's)\n",
                opt_names == 1 ? "std" : "mix");
        return 2;
    }
#endif
    if (opt_seconds > 0 && !ops_given) opt_ops = UINT64_MAX;
    {
        /* the command line that repeats this run */
        int n = snprintf(fz_cmdline, sizeof fz_cmdline, "%s -s %llu -n %llu -t %d -f %llu -H %llu -M %lld -c %llu -l %llu -k %zu -N %s",
                         argv[0], (unsigned long long)fz_seed, (unsigned long long)opt_ops, opt_threads,
                         (unsigned long long)opt_fork_every, (unsigned long long)opt_huge_ppm, opt_max_live / (long long)MiB,
                         (unsigned long long)opt_check_every, (unsigned long long)opt_life, opt_slots,
                         opt_names == 0 ? "cairn" : opt_names == 1 ? "std" : "mix");
        if (opt_seconds > 0 && n > 0 && (size_t)n < sizeof fz_cmdline)
            snprintf(fz_cmdline + n, sizeof fz_cmdline - (size_t)n, " -T %g", opt_seconds);
    }
    fz_install_handlers();
    fz_total_ops = total_ops;
    /* a hang must fail: well beyond what the run is allowed */
    watchdog(opt_seconds > 0 ? (unsigned)opt_seconds + 300 : 3600);
    g_small_max = cairn_small_max();
    g_large_max = cairn_large_max();
    g_page = (size_t)sysconf(_SC_PAGESIZE);
    printf("t_fuzz: seed %llu, %s%llu ops, %d threads, fork every %llu ops, names %s, pid %d\n",
           (unsigned long long)fz_seed, opt_ops == UINT64_MAX ? "unlimited " : "",
           (unsigned long long)(opt_ops == UINT64_MAX ? 0 : opt_ops), opt_threads,
           (unsigned long long)opt_fork_every, opt_names == 0 ? "cairn_*" : opt_names == 1 ? "standard" : "both",
           (int)getpid());
    fflush(stdout);

    fz_set_init(&live_set, (uint32_t)(opt_slots * (size_t)opt_threads + NXCHG + 64));
    workers = fz_meta_alloc(sizeof(worker_t) * (size_t)opt_threads);
    cairn_stats_t st0, st1;
    cairn_stats_get(&st0);
    static fz_ctx_t main_ctx = { .wid = -1 };
    main_ctx.seed = fz_seed;
    fz_cur = &main_ctx;
    t_start = now_sec();
    for (int i = 0; i < opt_threads; i++) {
        worker_t *w = &workers[i];
        w->wid = i;
        w->slot = fz_meta_alloc(sizeof(fz_blk_t) * opt_slots);
        w->env = (fz_env_t){ .api = &fz_api_cairn, .set = &live_set, .page = g_page, .small_max = g_small_max,
                             .large_max = g_large_max, .who = i, .live_bytes = &live_bytes };
        start_worker(w);
    }
    /* the supervisor: a worker whose life ended is joined and replaced */
    int running = opt_threads;
    double last_report = t_start;
    pthread_mutex_lock(&sup_mu);
    while (running > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&sup_cv, &sup_mu, &ts);
        for (int i = 0; i < opt_threads; i++) {
            worker_t *w = &workers[i];
            if (!w->running || !w->done) continue;
            pthread_mutex_unlock(&sup_mu);
            FZ_CHECK(pthread_join(w->th, NULL) == 0, "pthread_join failed");
            w->running = false;
            if (!atomic_load(&stop)) start_worker(w);
            else running--;
            pthread_mutex_lock(&sup_mu);
        }
        double now = now_sec();
        if (!opt_quiet && opt_progress > 0 && now - last_report >= opt_progress) {
            last_report = now;
            unsigned long long d = atomic_load(&claimed);
            printf("t_fuzz: %.0fs, %llu ops (%.0f ops/s), %llu thread lives, %llu forks, live %lld KiB\n",
                   now - t_start, d, d / (now - t_start), (unsigned long long)atomic_load(&n_lives),
                   (unsigned long long)atomic_load(&n_forks), (long long)atomic_load(&live_bytes) / 1024);
            fflush(stdout);
        }
    }
    pthread_mutex_unlock(&sup_mu);
    double t_ops = now_sec() - t_start;

    /* the end: the main thread frees what is left, most of it remotely,
     * into pooled heaps */
    counts_t tot = {0};
    fz_env_t me = { .api = &fz_api_cairn, .set = &live_set, .page = g_page, .small_max = g_small_max,
                    .large_max = g_large_max, .who = -1, .live_bytes = &live_bytes };
    main_ctx.what = "freeing what is left";
    size_t left = 0;
    for (int i = 0; i < opt_threads; i++) {
        worker_t *w = &workers[i];
        for (size_t k = 0; k < opt_slots; k++)
            if (w->slot[k].p) { fz_free(&me, &w->slot[k], (unsigned)k); left++; }
        counts_t *n = &w->n;
        tot.ops += n->ops; tot.allocs += n->allocs; tot.frees += n->frees; tot.reallocs += n->reallocs;
        tot.edges += n->edges; tot.swaps += n->swaps; tot.verifies += n->verifies; tot.checks += n->checks;
        tot.trims += n->trims; tot.thread_dones += n->thread_dones; tot.forks += n->forks; tot.huge += n->huge;
        tot.lives += n->lives;
    }
    for (size_t j = 0; j < NXCHG; j++)
        if (xchg.b[j].p) { fz_free(&me, &xchg.b[j], (unsigned)j); left++; }
    FZ_CHECK(live_set.count == 0, "internal: %u ranges still in the set", live_set.count);
    main_ctx.what = "final cairn_check_heap";
    int bad = cairn_check_heap(stderr);
    FZ_CHECK(bad == 0, "final cairn_check_heap found %d problem(s)", bad);
    cairn_malloc_trim(0);
    bad = cairn_check_heap(stderr);
    FZ_CHECK(bad == 0, "cairn_check_heap after malloc_trim found %d problem(s)", bad);
    cairn_stats_get(&st1);
#ifdef FUZZ_STD_NAMES
    uint64_t slack = 64;   /* libc's own blocks (stdio, thread bookkeeping) */
#else
    uint64_t slack = 0;    /* nothing but this program calls cairn_* */
#endif
    FZ_CHECK(st1.live_blocks <= st0.live_blocks + slack,
             "cairn_stats live_blocks is %llu after everything was freed, %llu at the start",
             (unsigned long long)st1.live_blocks, (unsigned long long)st0.live_blocks);
    double secs = now_sec() - t_start;
    printf("t_fuzz: seed %llu: %llu ops in %.2fs (%.0f ops/s) on %d worker slots, %llu thread lives, %llu forks\n",
           (unsigned long long)fz_seed, (unsigned long long)tot.ops, t_ops, tot.ops / (t_ops > 0 ? t_ops : 1),
           opt_threads, (unsigned long long)tot.lives, (unsigned long long)tot.forks);
    printf("t_fuzz: %llu allocs (%llu huge), %llu frees, %llu reallocs, %llu edge cases, %llu exchanges, "
           "%llu verifies, %llu heap checks, %llu trims, %llu thread_done; max %u live blocks; %zu freed at the end\n",
           (unsigned long long)tot.allocs, (unsigned long long)tot.huge, (unsigned long long)tot.frees,
           (unsigned long long)tot.reallocs, (unsigned long long)tot.edges, (unsigned long long)tot.swaps,
           (unsigned long long)tot.verifies, (unsigned long long)tot.checks, (unsigned long long)tot.trims,
           (unsigned long long)tot.thread_dones, live_set.max_count, left);
    printf("t_fuzz: peak mapped %llu MiB, %.2fs in all: ok\n", (unsigned long long)(st1.peak_mapped_bytes / MiB), secs);
    return 0;
}
