/* fuzz_ops.c: coverage-guided fuzz target for cairn (libFuzzer).
 *
 * The input is a program of allocator operations on a table of NSLOT
 * slots. Each operation is an opcode byte followed by the bytes it needs
 * (a slot, a size, an alignment, ...); reading past the end gives zeros.
 * Every result is checked against the shadow model of fuzz_common.h (the
 * same checks as t_fuzz: contents, alignment, usable size, no overlap,
 * calloc zeros, realloc keeps the prefix, errno kept by free, glibc's
 * rules for odd requests, cairn_check_heap() == 0). The program runs on
 * one thread; a helper thread, driven synchronously (so a run stays
 * deterministic), frees, reallocs and allocates blocks when the program
 * says so, which makes those frees remote. One opcode makes the next
 * allocation run with cairn_test_os_fail() on: it may then fail, but only
 * cleanly (NULL and ENOMEM, nothing else changed).
 *
 * After each input every block is freed, the heap is checked and the live
 * block count must be back where it was, so inputs do not depend on each
 * other through the fuzzer's table. The allocator's own state does carry
 * over from input to input (it cannot be reset): a crash found during a
 * long run may need the inputs before it to reproduce; running the crash
 * file alone usually does, since the checks fire on the operation at
 * fault.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined together with the
 * allocator's core sources (tests/tests.mk, `make fuzz`). libFuzzer rather
 * than AFL++: it comes with the installed clang (libclang_rt.fuzzer), runs
 * in process (fast for a library API like this, no fork server), and needs
 * nothing else installed; AFL++ is not available here. */
#include "fuzz_common.h"

enum { NSLOT = 64, MAX_OPS = 4096, MAX_HUGE = 2 };
static const long long MAX_LIVE = 256LL << 20;

static fz_set_t set;
static fz_blk_t slot[NSLOT];
static fz_env_t env;
static fz_ctx_t ctx = { .wid = 0 };
static atomic_llong live_bytes;
static size_t page_sz, small_max, large_max;
static uint64_t inputs, total_ops;
static bool no_totals;          /* fuzz_replay prints its own */

/* ---- reading the input ------------------------------------------------------ */
typedef struct { const uint8_t *p, *end; } cur_t;
static uint8_t rd8(cur_t *c) { return c->p < c->end ? *c->p++ : 0; }
static unsigned rd16(cur_t *c) { unsigned a = rd8(c); return a << 8 | rd8(c); }
static unsigned rd24(cur_t *c) { unsigned a = rd16(c); return a << 8 | rd8(c); }

static int live_huge(void)
{
    int n = 0;
    for (int i = 0; i < NSLOT; i++) n += slot[i].p && slot[i].size > large_max;
    return n;
}

/* A size: tiny (0-63), small (up to 16 KiB), large (16 KiB - 8 MiB, about
 * log-uniform) or one of the limits in the allocator (classes, pages,
 * segments, the large/huge boundary), plus or minus a little. */
static size_t rd_size(cur_t *c)
{
    uint8_t s0 = rd8(c);
    size_t s;
    switch (s0 >> 6) {
    case 0: return s0 & 63;
    case 1: return 64 + (((size_t)(s0 & 63) << 8 | rd8(c)) % (small_max - 63));
    case 2: {
        /* 16 KiB .. 8 MiB, the lower octaves more often (each page of a
         * block is touched) */
        unsigned k = s0 & 63, e = k < 32 ? 14 + k % 3 : k < 56 ? 17 + k % 3 : 20 + k % 3;
        s = ((size_t)1 << e) | (rd24(c) & (((size_t)1 << e) - 1));
        break;
    }
    default: {
        /* the limits; the 32 MiB ones (every page is touched) only for
         * s0 == 0xff with an odd next byte */
        const size_t pts[] = {0, 16, 32, 48, 64, 112, 128, 160, 256, 320, 512, 1024, 2048, 4096, 5120,
                              8192, 12288, 16384, 16400, 32768, 65536, 131072, 262144, 524288, MiB,
                              2 * MiB, 4 * MiB, 8 * MiB};
        const size_t huge[] = {large_max, large_max + 4096, large_max + MiB, large_max - 4096};
        if (s0 == 0xff && (rd8(c) & 1)) s = huge[rd8(c) % 4];
        else s = pts[(s0 & 63) % (sizeof pts / sizeof pts[0])];
        int d = (int8_t)rd8(c);
        s = d < 0 && (size_t)-d > s ? 0 : s + (size_t)(ptrdiff_t)d;
        break;
    }
    }
    if (s > large_max && live_huge() >= MAX_HUGE) s %= 8 * MiB;
    if (atomic_load(&live_bytes) + (long long)s > MAX_LIVE) s %= small_max;
    return s;
}

static size_t rd_align(cur_t *c) { return (size_t)1 << (rd8(c) % 21); }   /* 1 .. 1 MiB */
static fz_blk_t *rd_slot(cur_t *c) { return &slot[rd8(c) % NSLOT]; }
static uint64_t next_tag(void) { return tu_mix64(inputs << 32 ^ ++ctx.op); }

/* ---- the helper thread (remote frees, reallocs, allocations) ------------------- */
enum { H_NONE, H_FREE, H_REALLOC, H_MALLOC, H_THREAD_DONE, H_QUIT };
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int cmd;
    fz_blk_t *b;
    size_t size;
    unsigned how;
    uint64_t tag;
    bool busy;
} H = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, H_NONE, NULL, 0, 0, 0, false };
static fz_ctx_t helper_ctx = { .wid = 1 };

static void *helper_main(void *arg)
{
    (void)arg;
    fz_cur = &helper_ctx;
    fz_env_t he = env;
    he.who = 1;
    pthread_mutex_lock(&H.mu);
    for (;;) {
        while (!H.busy) pthread_cond_wait(&H.cv, &H.mu);
        helper_ctx.op = ctx.op;
        switch (H.cmd) {
        case H_FREE: fz_free(&he, H.b, H.how); break;
        case H_REALLOC: fz_realloc(&he, H.b, H.size, 0, H.tag, false, H.how & 1); break;
        case H_MALLOC:
            fz_accept(&he, H.b, cairn_malloc(H.size), H.size, MIN_ALIGN_FZ, FK_MALLOC, H.tag, H.how & 1,
                      "malloc on the helper thread");
            break;
        case H_THREAD_DONE: cairn_thread_done(); break;
        default: break;
        }
        H.busy = false;
        pthread_cond_broadcast(&H.cv);
    }
    return NULL;
}

static void helper_do(int cmd, fz_blk_t *b, size_t size, unsigned how)
{
    pthread_mutex_lock(&H.mu);
    H.cmd = cmd;
    H.b = b;
    H.size = size;
    H.how = how;
    H.tag = next_tag();
    helper_ctx.what = cmd == H_FREE ? "free on the helper" : cmd == H_REALLOC ? "realloc on the helper"
                    : cmd == H_MALLOC ? "malloc on the helper" : "cairn_thread_done on the helper";
    H.busy = true;
    pthread_cond_broadcast(&H.cv);
    while (H.busy) pthread_cond_wait(&H.cv, &H.mu);
    pthread_mutex_unlock(&H.mu);
}

/* ---- allocation, possibly allowed to fail (fault injection) -------------------- */
static bool may_fail;

static bool failed_ok(void *p, int err, const char *what, size_t size)
{
    if (p) return false;
    FZ_CHECK(may_fail, "%s(%zu) returned NULL", what, size);
    FZ_CHECK(err == ENOMEM, "%s(%zu) failed with errno %d, not ENOMEM", what, size, err);
    return true;
}

static void do_alloc(cur_t *c, unsigned kind)
{
    fz_blk_t *b = rd_slot(c);
    if (b->p) fz_free(&env, b, rd8(c));
    size_t size = rd_size(c), al = MIN_ALIGN_FZ;
    bool fill_usable = rd8(c) & 1;
    uint64_t tag = next_tag();
    void *p;
    fz_trace_t *t;
    errno = 0;
    switch (kind) {
    case 0: case 5: case 6: { /* one size argument: malloc, valloc, pvalloc */
        const char *name = kind == 0 ? "malloc" : kind == 5 ? "valloc" : "pvalloc";
        t = fz_trace(&ctx, name, NULL, size, 0, NULL);
        t->q = p = kind == 0 ? cairn_malloc(size) : kind == 5 ? cairn_valloc(size) : cairn_pvalloc(size);
        if (failed_ok(p, errno, name, size)) return;
        size_t want = kind != 6 ? size : size ? (size + page_sz - 1) / page_sz * page_sz : page_sz;
        fz_accept(&env, b, p, want, kind == 0 ? al : page_sz, kind == 0 ? FK_MALLOC : FK_MEMALIGN, tag,
                  fill_usable, name);
        break;
    }
    case 1: {
        size_t n = 1 + rd8(c) % 16, each = size / n;
        t = fz_trace(&ctx, "calloc", NULL, n, each, NULL);
        t->q = p = cairn_calloc(n, each);
        if (failed_ok(p, errno, "calloc", n * each)) return;
        fz_check_zero(p, n * each, "calloc");
        fz_accept(&env, b, p, n * each, al, FK_CALLOC, tag, fill_usable, "calloc");
        break;
    }
    case 2: case 3: { /* memalign (maybe with an alignment not a power of two), aligned_alloc */
        bool ma = kind == 2;
        const char *name = ma ? "memalign" : "aligned_alloc";
        size_t a = rd_align(c);
        if (ma) {
            uint8_t odd = rd8(c);
            if (odd & 0x80) a += odd & 0x7f;
        }
        t = fz_trace(&ctx, name, NULL, a, size, NULL);
        t->q = p = ma ? cairn_memalign(a, size) : cairn_aligned_alloc(a, size);
        if (failed_ok(p, errno, name, size)) return;
        fz_accept(&env, b, p, size, fz_pow2_at_least(a), ma ? FK_MEMALIGN : FK_ALIGNED, tag, fill_usable, name);
        if (!ma) b->align = a;
        break;
    }
    case 4: {
        size_t a = rd_align(c);
        if (a < sizeof(void *)) a = sizeof(void *);
        p = (void *)0x77;
        t = fz_trace(&ctx, "posix_memalign", NULL, a, size, NULL);
        int rc = cairn_posix_memalign(&p, a, size);
        t->q = p;
        if (rc != 0) {
            FZ_CHECK(p == (void *)0x77, "posix_memalign changed *out on failure");
            FZ_CHECK(failed_ok(NULL, rc, "posix_memalign", size), "unreachable");
            return;
        }
        fz_accept(&env, b, p, size, fz_pow2_at_least(a), FK_MEMALIGN, tag, fill_usable, "posix_memalign");
        break;
    }
    default: {
        size_t n = 1 + rd8(c) % 8;
        bool arr = kind == 8;
        t = fz_trace(&ctx, arr ? "reallocarray(NULL)" : "realloc(NULL)", NULL, size, n, NULL);
        t->q = p = arr ? cairn_reallocarray(NULL, n, size / n) : cairn_realloc(NULL, size);
        size_t got = arr ? size / n * n : size;
        if (failed_ok(p, errno, "realloc(NULL)", got)) return;
        fz_accept(&env, b, p, got, al, FK_MALLOC, tag, fill_usable, "realloc(NULL, n)");
        break;
    }
    }
}

/* realloc or reallocarray of a slot: to a new size, grown or shrunk a
 * little, or to 0 (frees, returns NULL) */
static void do_realloc(cur_t *c)
{
    fz_blk_t *b = rd_slot(c);
    uint8_t how = rd8(c);
    if (!b->p) return;
    size_t old = b->size, ns;
    switch (how & 7) {
    case 0: ns = old + 1 + rd8(c); break;
    case 1: ns = old / 2 + rd8(c) % 16; break;
    case 2: ns = old > 64 ? old - rd8(c) % 64 : old; break;
    case 3: ns = old < MiB ? 2 * old + 1 : old + rd16(c); break;
    case 4: { /* realloc(p, 0) */
        fz_verify(b, "realloc to 0");
        fz_release(&env, b);
        fz_trace_t *t = fz_trace(&ctx, "realloc(p, 0)", b->p, how, 0, NULL);
        void *q = (how & 8) ? cairn_reallocarray(b->p, 0, 9) : cairn_realloc(b->p, 0);
        t->q = q;
        FZ_CHECK(q == NULL, "realloc(%p, 0) returned %p, not NULL", (void *)b->p, q);
        b->p = NULL;
        return;
    }
    default: ns = rd_size(c); break;
    }
    if (ns == 0) ns = 1;
    if (ns > large_max && old <= large_max && live_huge() >= MAX_HUGE) ns %= 8 * MiB;
    if (ns == 0) ns = 1;
    size_t n = (how & 8) ? 1 + (how >> 4) : 0;
    if (n) ns = (ns + n - 1) / n * n;
    fz_trace_t *t = fz_trace(&ctx, n ? "reallocarray" : "realloc", b->p, old, ns, NULL);
    fz_realloc(&env, b, ns, n, next_tag(), may_fail, how & 0x80);
    t->q = b->p;
}

/* n blocks of one size into consecutive slots: fills pages of one class */
static void do_burst(cur_t *c)
{
    unsigned first = rd8(c) % NSLOT, n = 1 + rd8(c) % 32;
    size_t size = rd_size(c);
    if (size > small_max) size %= small_max;
    fz_trace(&ctx, "burst", NULL, size, n, NULL);
    for (unsigned k = 0; k < n; k++) {
        fz_blk_t *b = &slot[(first + k) % NSLOT];
        if (b->p) fz_free(&env, b, k);
        void *p = cairn_malloc(size);
        if (failed_ok(p, errno, "malloc", size)) return;
        fz_accept(&env, b, p, size, MIN_ALIGN_FZ, FK_MALLOC, next_tag(), false, "malloc (burst)");
    }
}

/* free a run of slots, every other one or all, here or on the helper */
static void do_free_run(cur_t *c)
{
    unsigned first = rd8(c) % NSLOT, n = 1 + rd8(c) % NSLOT;
    uint8_t how = rd8(c);
    fz_trace(&ctx, "free run", NULL, first, n, NULL);
    for (unsigned k = 0; k < n; k++) {
        fz_blk_t *b = &slot[(first + k) % NSLOT];
        if (!b->p || ((how & 1) && (k & 1))) continue;
        if (how & 2) helper_do(H_FREE, b, 0, k);
        else fz_free(&env, b, k + how);
    }
}

static void check_heap(const char *when)
{
    fz_trace(&ctx, "cairn_check_heap", NULL, 0, 0, NULL);
    int bad = cairn_check_heap(stderr);
    FZ_CHECK(bad == 0, "cairn_check_heap found %d problem(s) %s", bad, when);
}

static void run_op(cur_t *c)
{
    uint8_t op = rd8(c);
    ctx.op++;
    switch (op % 24) {
    case 0: case 1: case 2: do_alloc(c, 0); break;              /* malloc, more often */
    case 3: do_alloc(c, 1); break;
    case 4: do_alloc(c, 2); break;
    case 5: do_alloc(c, 3); break;
    case 6: do_alloc(c, 4); break;
    case 7: do_alloc(c, 5 + rd8(c) % 4); break;                 /* valloc pvalloc realloc(NULL) reallocarray(NULL) */
    case 8: case 9: case 10: {
        fz_blk_t *b = rd_slot(c);
        uint8_t how = rd8(c);
        if (!b->p) break;
        fz_trace(&ctx, "free", b->p, b->size, how, NULL);
        fz_free(&env, b, how);
        break;
    }
    case 11: case 12: do_realloc(c); break;
    case 13: {
        fz_blk_t *b = rd_slot(c);
        if (!b->p) break;
        fz_trace(&ctx, "verify", b->p, b->size, 0, NULL);
        fz_verify(b, "a check");
        fz_verify_usable(&env, b);
        break;
    }
    case 14: {
        fz_blk_t *b = rd_slot(c);
        unsigned which = rd8(c);
        size_t arg = rd16(c);
        fz_trace(&ctx, "edge case", b->p, which, arg, NULL);
        fz_edge_case(&env, which, arg, b->p ? b : NULL);
        break;
    }
    case 15: { /* remote free */
        fz_blk_t *b = rd_slot(c);
        uint8_t how = rd8(c);
        if (!b->p) break;
        fz_trace(&ctx, "free on the helper", b->p, b->size, how, NULL);
        helper_do(H_FREE, b, 0, how);
        break;
    }
    case 16: { /* remote realloc */
        fz_blk_t *b = rd_slot(c);
        size_t ns = rd_size(c);
        if (!b->p) break;
        if (ns == 0) ns = 1;
        if (ns > large_max && live_huge() >= MAX_HUGE) ns %= 8 * MiB;
        if (ns == 0) ns = 1;
        fz_trace(&ctx, "realloc on the helper", b->p, b->size, ns, NULL);
        helper_do(H_REALLOC, b, ns, rd8(c));
        break;
    }
    case 17: { /* the helper allocates; this thread frees it later */
        fz_blk_t *b = rd_slot(c);
        size_t ns = rd_size(c);
        if (b->p) fz_free(&env, b, 0);
        fz_trace(&ctx, "malloc on the helper", NULL, ns, 0, NULL);
        helper_do(H_MALLOC, b, ns, rd8(c));
        break;
    }
    case 18: check_heap("when asked"); break;
    case 19: {
        uint8_t k = rd8(c);
        fz_trace(&ctx, k & 1 ? "cairn_thread_done (helper)" : k & 2 ? "malloc_trim" : "cairn_thread_done",
                 NULL, k, 0, NULL);
        if (k & 1) helper_do(H_THREAD_DONE, NULL, 0, 0);
        else if (k & 2) FZ_CHECK(cairn_malloc_trim(0) <= 1, "malloc_trim returned > 1");
        else cairn_thread_done();
        break;
    }
    case 20: { /* the next operation runs with kernel memory requests failing */
        uint8_t k = rd8(c);
        fz_trace(&ctx, "os fail", NULL, k % 4, 0, NULL);
        cairn_test_os_fail(k % 4);
        may_fail = true;
        uint8_t what = rd8(c);
        if (what & 1) do_realloc(c);
        else if (what & 2) do_burst(c);
        else do_alloc(c, (what >> 2) % 9);
        may_fail = false;
        cairn_test_os_fail(-1);
        break;
    }
    case 21: do_burst(c); break;
    case 22: do_free_run(c); break;
    default: { /* swap two slots: changes which blocks later ops hit */
        fz_blk_t *a = rd_slot(c), *b = rd_slot(c), t = *a;
        *a = *b;
        *b = t;
        break;
    }
    }
}

static void die_abort(void) { abort(); }

/* printed when the process exits (libFuzzer exits at -max_total_time) */
static void print_totals(void)
{
    char buf[160];
    if (no_totals) return;
    int n = snprintf(buf, sizeof buf, "%s: %llu inputs, %llu operations\n", fz_prog, (unsigned long long)inputs,
                     (unsigned long long)total_ops);
    if (n > 0 && write(2, buf, (size_t)n) < 0) return;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_prog = "fuzz_ops";
    fz_die = die_abort;     /* libFuzzer saves the input on abort */
    snprintf(fz_cmdline, sizeof fz_cmdline, "fuzz_ops CRASH-FILE (see tests/fuzz/README.md)");
    page_sz = (size_t)sysconf(_SC_PAGESIZE);
    small_max = cairn_small_max();
    large_max = cairn_large_max();
    fz_set_init(&set, NSLOT + 64);
    env = (fz_env_t){ .api = &fz_api_cairn, .set = &set, .page = page_sz, .small_max = small_max,
                      .large_max = large_max, .who = 0, .live_bytes = &live_bytes };
    fz_cur = &ctx;
    pthread_t th;
    if (pthread_create(&th, NULL, helper_main, NULL) != 0) abort();
    atexit(print_totals);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_cur = &ctx;
    inputs++;
    fz_seed = inputs;           /* printed as "seed": the input's number in this run */
    ctx.op = 0;
    memset(ctx.ring, 0, sizeof ctx.ring);
    cairn_stats_t st0, st1;
    cairn_stats_get(&st0);
    cur_t c = { data, data + size };
    for (int n = 0; n < MAX_OPS && c.p < c.end; n++) run_op(&c);
    total_ops += ctx.op;
    /* leave nothing behind: free everything (some remotely), check */
    ctx.what = "freeing what is left";
    for (int i = 0; i < NSLOT; i++)
        if (slot[i].p) {
            if (i % 3 == 0) helper_do(H_FREE, &slot[i], 0, (unsigned)i);
            else fz_free(&env, &slot[i], (unsigned)i);
        }
    FZ_CHECK(set.count == 0, "internal: %u ranges left in the set", set.count);
    check_heap("after the input");
    cairn_stats_get(&st1);
    FZ_CHECK(st1.live_blocks == st0.live_blocks, "live_blocks %llu after the input freed everything, %llu before",
             (unsigned long long)st1.live_blocks, (unsigned long long)st0.live_blocks);
    return 0;
}

#ifdef FUZZ_REPLAY_MAIN
/* fuzz_replay: the same target without libFuzzer, for `make test` (any
 * compiler): runs each input file named (the regression inputs in
 * tests/fuzz/regress/NAME.ops, or a crash file), then -r N random inputs made
 * from seed -s (every byte string is a valid program), of 1 to -l bytes
 * (default 1024).
 *   fuzz_replay [-s seed] [-r count] [file...]                              */
#include <getopt.h>

static size_t read_file(const char *path, uint8_t **out)
{
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "fuzz_replay: cannot open %s: %s\n", path, strerror(errno)); _exit(2); }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = fz_meta_alloc(cap);   /* never freed: a few inputs per run */
    for (size_t got; (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) {
            uint8_t *nb = fz_meta_alloc(cap * 2);
            memcpy(nb, buf, n);
            munmap(buf, cap);
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    *out = buf;
    return n;
}

int main(int argc, char **argv)
{
    uint64_t seed = 1, count = 0, maxlen = 1024;
    int c;
    while ((c = getopt(argc, argv, "s:r:l:")) != -1) {
        switch (c) {
        case 's': seed = strtoull(optarg, NULL, 0); break;
        case 'r': count = strtoull(optarg, NULL, 0); break;
        case 'l': maxlen = strtoull(optarg, NULL, 0); break;
        default:
            fprintf(stderr, "usage: fuzz_replay [-s seed] [-r count] [-l max_len] [file...]\n");
            return 2;
        }
    }
    LLVMFuzzerInitialize(&argc, &argv);
    fz_prog = "fuzz_replay";
    no_totals = true;
    fz_die = NULL;                 /* a failure exits with status 1 */
    fz_install_handlers();
    watchdog(600);
    for (int i = optind; i < argc; i++) {
        uint8_t *data;
        size_t n = read_file(argv[i], &data);
        snprintf(fz_cmdline, sizeof fz_cmdline, "%s %s", argv[0], argv[i]);
        printf("fuzz_replay: %s (%zu bytes)\n", argv[i], n);
        fflush(stdout);
        LLVMFuzzerTestOneInput(data, n);
    }
    rng_t r;
    rng_seed(&r, seed);
    if (maxlen < 1) maxlen = 1;
    uint8_t *buf = fz_meta_alloc(maxlen);
    for (uint64_t k = 0; k < count; k++) {
        size_t n = (size_t)rng_range(&r, 1, maxlen);
        for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)rng_next(&r);
        snprintf(fz_cmdline, sizeof fz_cmdline, "%s -s %llu -r %llu -l %llu (random input %llu)", argv[0],
                 (unsigned long long)seed, (unsigned long long)count, (unsigned long long)maxlen,
                 (unsigned long long)k + 1);
        LLVMFuzzerTestOneInput(buf, n);
    }
    cairn_stats_t st;
    cairn_stats_get(&st);
    printf("fuzz_replay: %d files and %llu random inputs (seed %llu), %llu operations: ok\n", argc - optind,
           (unsigned long long)count, (unsigned long long)seed, (unsigned long long)total_ops);
    printf("fuzz_replay: cairn holds %llu MiB mapped (peak %llu MiB), %llu MiB dirty, process RSS %llu MiB\n",
           (unsigned long long)(st.mapped_bytes >> 20), (unsigned long long)(st.peak_mapped_bytes >> 20),
           (unsigned long long)(st.dirty_bytes >> 20), (unsigned long long)(st.resident_bytes >> 20));
    return 0;
}
#endif
